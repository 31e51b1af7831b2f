//! What the server's own records say (`--server-log`, `--events`), joined to the legs:
//! the reason for a refused logon, an ACL's 401.3, and the requests http.sys refused.

use super::*;
use crate::capture::serverlog::codes::Reason;
use crate::handshake::server::ServerNote;

/// The refusal the server recorded on a leg: an event's (its SubStatus is the most precise
/// cause) before an IIS line's. ACL denials are `access-denied-acl`'s.
pub(super) fn recorded_refusal(leg: &Leg) -> Option<(&ServerNote, Reason)> {
    fn of(n: &ServerNote) -> Option<(&ServerNote, Reason)> {
        n.refusal()
            .filter(|r| *r != Reason::AccessDenied)
            .map(|r| (n, r))
    }
    leg.server
        .iter()
        .filter(|n| n.event().is_some())
        .find_map(of)
        .or_else(|| leg.server.iter().find_map(of))
}

/// The first refusal the server recorded on any leg of the handshake.
pub(super) fn first_refusal(hs: &Handshake) -> Option<(usize, &ServerNote, Reason)> {
    hs.legs
        .iter()
        .enumerate()
        .find_map(|(i, l)| recorded_refusal(l).map(|(n, r)| (i, n, r)))
}

/// An IIS line saying `401 3` (an ACL refused the authenticated user).
pub(super) fn logged_acl_denial(leg: &Leg) -> Option<&ServerNote> {
    leg.server.iter().find(|n| {
        n.iis()
            .is_some_and(|l| l.status == Some(401) && l.substatus == Some(3))
    })
}

/// The summary's clause and the next step for a reason the server gave.
pub(super) fn reason_clause(
    hs: &Handshake,
    leg: &Leg,
    note: &ServerNote,
    reason: Reason,
) -> (String, &'static str) {
    // IIS's own logon of its anonymous account, when it logged a refusal of a request
    // that carried no credential; an event names its user.
    let anonymous = matches!(leg.credential, Credential::None) && note.iis().is_some();
    let basic = matches!(hs.scheme, SchemeUsed::Basic);
    let whose = if anonymous {
        "IIS's anonymous account: "
    } else {
        ""
    };
    (
        format!(
            " The server says why: {whose}{} ({}, {}).",
            reason.words(),
            note.text,
            note.file
        ),
        reason.next_step(anonymous, basic),
    )
}

/// A refusal the server recorded where the wire shows none (an anonymous request IIS could
/// not log its anonymous account on for, a Kerberos pre-authentication the domain
/// controller refused before any ticket reached the site), on a handshake that failed.
pub(super) fn logon_failed_recorded(hs: &Handshake, out: &mut Vec<Finding>) {
    if hs.outcome == Outcome::Success {
        return;
    }
    let Some((i, note, reason)) = first_refusal(hs) else {
        return;
    };
    let Some(leg) = hs.legs.get(i) else {
        return;
    };
    let (clause, next) = reason_clause(hs, leg, note, reason);
    out.push(finding(
        hs,
        "logon-failed",
        format!(
            "The server's records say the logon of {} failed.{clause}",
            who(hs)
        ),
        vec![leg_evidence(i, leg, note.text.clone())],
        next,
    ));
}

/// What an http.sys rejection means and what to do (KB 820729, "Error logging in HTTP API").
fn httperr_meaning(reason: &str) -> Option<(&'static str, &'static str)> {
    Some(match reason {
        "FieldLength" | "RequestLength" => (
            "a header or the request is longer than http.sys allows",
            "Raise http.sys MaxFieldLength and MaxRequestBytes (HKLM\\System\\CurrentControlSet\\Services\\HTTP\\Parameters), or shorten what the client sends.",
        ),
        "Verb" | "URL" | "Hostname" | "Header" | "BadRequest" | "Number" | "N/I" => (
            "the request is not well-formed HTTP for http.sys",
            "Look at the request the client sends (the timeline shows it); a proxy or the client library writes it.",
        ),
        "Connection_Abandoned_By_AppPool" | "Connection_Abandoned_By_ReqQueue" => (
            "the worker process quit or dropped the request: the application pool failed",
            "Look at the System log for WAS events (5009, 5011) and the Application log for the crash of w3wp.exe, then at what the authentication module does with this request.",
        ),
        "Connection_Dropped" | "Connection_Dropped_List_Full" | "Client_Reset" => (
            "the connection ended before the response went out",
            "Look at who reset the connection (the timeline's TCP lines) and at the server's load.",
        ),
        "AppOffline" | "AppPoolTimer" | "Disabled" | "Disabled_By_AppPool" | "QueueFull" => (
            "the application pool was not available",
            "Start the application pool and look at why it stopped (rapid-fail protection in the System log).",
        ),
        "ConnLimit" | "Forbidden" => (
            "http.sys refused the request by its own limits or rules",
            "Look at the site's connection limit and http.sys URL reservations.",
        ),
        "Timer_EntityBody" | "Timer_HeaderWait" | "Timer_MinBytesPerSecond" | "Timer_ReqQueue"
        | "Timer_AppPool" | "Timer_Response" => (
            "a timer of http.sys ran out on this request",
            "Look at what delayed the client or the application pool; the timeline shows the gaps.",
        ),
        _ => return None,
    })
}

/// http.sys refused or dropped a request (an HTTPERR line): before any site saw it (a
/// malformed request, a limit), or because the application pool failed it; a credential
/// too long is `token-too-large`'s.
pub(super) fn server_rejected_request(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    for (i, l) in hs.legs.iter().enumerate() {
        if l.token_too_large() {
            continue;
        }
        for n in &l.server {
            let Some(line) = n.iis() else { continue };
            let Some((meaning, next)) = line.reason.as_deref().and_then(httperr_meaning) else {
                continue;
            };
            let request = l
                .request
                .as_ref()
                .map(|r| format!("{} {}", r.method, r.uri))
                .unwrap_or_else(|| "the request".to_owned());
            out.push(finding(
                hs,
                "server-rejected-request",
                format!(
                    "http.sys wrote down {} for {request}: {meaning} ({}).",
                    line.reason.as_deref().unwrap_or_default(),
                    n.file
                ),
                vec![leg_evidence(i, l, n.text.clone())],
                next,
            ));
            return;
        }
    }
}
