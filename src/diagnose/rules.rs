//! The rules, one function per finding code, in the order of DIAGNOSIS.md.

use super::{DiagnoseConfig, Evidence, Finding, Severity};
use crate::handshake::{
    Answer, ConnEventKind, Credential, Failure, Handshake, Leg, Outcome, SchemeUsed, Side,
};

/// Every code a rule can give, with its severity (for `--help` and the docs).
pub const CODES: &[(&str, Severity)] = &[
    ("no-auth-method", Severity::Error),
    ("logon-failed", Severity::Error),
    ("access-denied-acl", Severity::Error),
    ("iis-substatus", Severity::Info),
    ("ntlm-connection-closed", Severity::Error),
    ("ntlm-split-connections", Severity::Error),
    ("ntlm-negotiate-refused", Severity::Error),
    ("auth-loop", Severity::Error),
    ("connection-reset", Severity::Warning),
    ("kerberos-fallback-ntlm", Severity::Warning),
    ("kerberos-error", Severity::Error),
    ("spn-host-mismatch", Severity::Warning),
    ("challenge-unanswered", Severity::Warning),
    ("reauth-every-request", Severity::Info),
    ("basic-cleartext", Severity::Warning),
    ("ntlm-weak", Severity::Warning),
    ("slow-auth", Severity::Warning),
    ("digest-stale-loop", Severity::Warning),
    ("malformed-token", Severity::Warning),
    ("malformed-header", Severity::Warning),
    ("request-failed-after-auth", Severity::Info),
    ("token-too-large", Severity::Error),
    ("ntlm-relay-suspected", Severity::Warning),
];

/// Codes that name a symptom of another finding (a loop is what a reset or a refusal looks
/// like from the browser): they are listed after the findings of the same severity.
pub fn is_symptom(code: &str) -> bool {
    code == "auth-loop"
}

type Rule = fn(&Handshake, &DiagnoseConfig, &mut Vec<Finding>);

const RULES: &[Rule] = &[
    no_auth_method,
    logon_failed,
    access_denied_acl,
    iis_substatus,
    ntlm_connection_closed,
    ntlm_split_connections,
    ntlm_negotiate_refused,
    connection_reset,
    kerberos_fallback_ntlm,
    kerberos_error,
    spn_host_mismatch,
    challenge_unanswered,
    reauth_every_request,
    basic_cleartext,
    ntlm_weak,
    slow_auth,
    digest_stale_loop,
    malformed_token,
    malformed_header,
    request_failed_after_auth,
    token_too_large,
    ntlm_relay_suspected,
    // Last: it names the root cause the rules above found.
    auth_loop,
];

pub(super) fn run(hs: &Handshake, cfg: &DiagnoseConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in RULES {
        rule(hs, cfg, &mut out);
    }
    out
}

fn severity_of(code: &str) -> Severity {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(Severity::Warning, |(_, s)| *s)
}

fn finding(
    hs: &Handshake,
    code: &'static str,
    summary: String,
    evidence: Vec<Evidence>,
    next_step: &str,
) -> Finding {
    let summary = if hs.proxy {
        format!("Proxy authentication: {summary}")
    } else {
        summary
    };
    Finding {
        code,
        severity: severity_of(code),
        handshake: hs.id,
        proxy: hs.proxy,
        summary,
        evidence,
        next_step: next_step.to_owned(),
    }
}

fn leg_evidence(i: usize, leg: &Leg, note: impl Into<String>) -> Evidence {
    Evidence {
        leg: Some(i),
        conn: leg.conn,
        frame: leg
            .response
            .as_ref()
            .map(|r| r.frame)
            .or(leg.request.as_ref().map(|r| r.frame))
            .unwrap_or(0),
        note: note.into(),
    }
}

fn who(hs: &Handshake) -> String {
    match (&hs.user, &hs.domain, &hs.workstation) {
        (Some(u), Some(d), Some(w)) if !d.is_empty() && !w.is_empty() => format!("{d}\\{u} on {w}"),
        (Some(u), Some(d), _) if !d.is_empty() => format!("{d}\\{u}"),
        (Some(u), _, Some(w)) if !w.is_empty() => format!("{u} on {w}"),
        (Some(u), _, _) if !u.is_empty() => u.clone(),
        _ => "the client".to_owned(),
    }
}

/// `the client` -> `The client`, at the start of a sentence.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn status_word(hs: &Handshake) -> &'static str {
    if hs.proxy {
        "407"
    } else {
        "401"
    }
}

/// IIS 401.2 with AuthFlags=0: a 401/407 that offers nothing.
fn no_auth_method(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let legs: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.answer == Answer::NoChallenge && !l.credential.is_complete())
        .map(|(i, l)| {
            leg_evidence(
                i,
                l,
                format!("{} without any challenge header", status_word(hs)),
            )
        })
        .collect();
    if legs.is_empty() {
        return;
    }
    let header = if hs.proxy {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    out.push(finding(
        hs,
        "no-auth-method",
        format!(
            "The server answered {} {} with no {header} header: it offers no way to authenticate.",
            hs.resource,
            status_word(hs)
        ),
        legs,
        "Enable an authentication method for this URL (IIS returns 401.2 when no method is \
         enabled, AuthFlags=0).",
    ));
}

/// IIS 401.1: a complete credential refused.
fn logon_failed(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let refused: Vec<Evidence> = hs
        .credential_legs()
        .filter(|(i, l)| {
            !matches!(l.credential, Credential::KerberosApReq { .. })
                && !split_type3(hs, *i)
                && !l.answer.accepts()
                && matches!(l.status(), Some(401 | 407))
                && l.answer != Answer::DigestStale
                && l.response
                    .as_ref()
                    .is_none_or(|r| r.iis_substatus.as_deref() != Some("401.3"))
        })
        .map(|(i, l)| {
            leg_evidence(
                i,
                l,
                format!("{} answered {}", cred_name(&l.credential), status_word(hs)),
            )
        })
        .collect();
    if refused.is_empty() {
        return;
    }
    let n = refused.len();
    let times = if n > 1 {
        format!(" {n} times")
    } else {
        String::new()
    };
    if hs.outcome == Outcome::Success {
        let next = if matches!(hs.scheme, SchemeUsed::Bearer) {
            "The login worked in the end: the refused token was expired, malformed or for \
             another audience (the timeline shows its claims); fix the client that sent it."
        } else {
            "The login worked in the end: the refused attempts carried another password or \
             account (a stale saved credential is typical); clear saved credentials if it \
             repeats, as each refusal counts toward the lockout threshold."
        };
        let mut f = finding(
            hs,
            "logon-failed",
            format!(
                "{} was refused{times} before a later {} credential was accepted.",
                capitalised(&who(hs)),
                hs.scheme
            ),
            refused,
            next,
        );
        // The login worked: what stays true is a warning, not an error.
        f.severity = Severity::Warning;
        out.push(f);
        return;
    }
    out.push(finding(
        hs,
        "logon-failed",
        format!(
            "{} was refused{times}: the {} credentials were not accepted.",
            capitalised(&who(hs)),
            hs.scheme
        ),
        refused,
        "Check the user name and password, that the account is not expired, disabled or locked \
         out, and that it holds the \"Access this computer from the network\" right (IIS 401.1).",
    ));
}

/// Leg `i` is an NTLM Type 3 sent on another connection than the Type 2 before it.
fn split_type3(hs: &Handshake, i: usize) -> bool {
    let Some(leg) = hs.legs.get(i) else {
        return false;
    };
    if !matches!(leg.credential, Credential::NtlmAuthenticate { .. }) {
        return false;
    }
    hs.legs
        .get(..i)
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|l| matches!(l.answer, Answer::NtlmChallenge { .. }))
        .is_some_and(|c| c.conn != leg.conn)
}

/// The server answered an NTLM Type 1 with a refusal instead of a Type 2.
fn ntlm_negotiate_refused(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let ev: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            matches!(l.credential, Credential::NtlmNegotiate { .. })
                && matches!(l.answer, Answer::Offer { .. } | Answer::Refused)
        })
        .map(|(i, l)| {
            leg_evidence(
                i,
                l,
                format!("Type 1 answered {} without a Type 2", status_word(hs)),
            )
        })
        .collect();
    if ev.is_empty() {
        return;
    }
    out.push(finding(
        hs,
        "ntlm-negotiate-refused",
        format!(
            "The server refused the client's NTLM Type 1{}: it answered without a challenge, so \
             the handshake could not start.",
            if ev.len() > 1 {
                format!(" ({} times)", ev.len())
            } else {
                String::new()
            }
        ),
        ev,
        "The client and server do not agree on NTLM: compare the Type 1's flags and version \
         with what the server accepts (some servers refuse a Type 1 without the version \
         field), try another client, or check the server's NTLM policy.",
    ));
}

fn cred_name(c: &Credential) -> &'static str {
    match c {
        Credential::Basic { .. } => "Basic credentials",
        Credential::Digest { .. } => "Digest response",
        Credential::Bearer => "Bearer token",
        Credential::NtlmAuthenticate { .. } => "NTLM Type 3",
        Credential::KerberosApReq { .. } => "Kerberos AP-REQ",
        Credential::NtlmNegotiate { .. } => "NTLM Type 1",
        Credential::None => "anonymous request",
        _ => "credential",
    }
}

/// IIS 401.3, only when the error page names it.
fn access_denied_acl(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let ev: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.response.as_ref().and_then(|r| r.iis_substatus.as_deref()) == Some("401.3")
        })
        .map(|(i, l)| leg_evidence(i, l, "IIS error page names 401.3"))
        .collect();
    if ev.is_empty() {
        return;
    }
    out.push(finding(
        hs,
        "access-denied-acl",
        format!(
            "{} authenticated, but access to {} was denied by an ACL (IIS 401.3).",
            capitalised(&who(hs)),
            hs.resource
        ),
        ev,
        "Check the file and directory ACLs for this account; when the URL is a directory, check \
         the default documents (a missing first default document can make the next one fail).",
    ));
}

/// Meanings of the IIS 401 substatus codes (KB 943891, the seed article).
fn substatus_meaning(code: &str) -> &'static str {
    match code {
        "401.1" => "logon failed: invalid credentials",
        "401.2" => {
            "logon failed due to server configuration (no method enabled, or the mechanism failed)"
        }
        "401.3" => "unauthorized due to an ACL on the resource",
        "401.4" => "authorization failed by a filter",
        "401.5" => "authorization failed by an ISAPI/CGI application",
        "401.7" => "access denied by URL authorization policy",
        _ => "see the IIS documentation for this substatus",
    }
}

fn iis_substatus(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut seen: Vec<String> = Vec::new();
    let last = hs.legs.len().saturating_sub(1);
    for (i, l) in hs.legs.iter().enumerate() {
        let Some(code) = l.response.as_ref().and_then(|r| r.iis_substatus.clone()) else {
            continue;
        };
        // The anonymous probe (401.2) and the NTLM challenge (401.1) carry substatus pages in
        // every healthy handshake (IIS logs them as "401 2 5" and "401 1 2148074254"): only a
        // refusal, or the step the handshake ended on, says something.
        let refusal = l.credential.is_complete()
            && !l.answer.accepts()
            && matches!(l.status(), Some(401 | 407));
        let ended_here = i == last && hs.outcome != Outcome::Success;
        if !(refusal || ended_here || code == "401.3") {
            continue;
        }
        if seen.contains(&code) {
            continue;
        }
        seen.push(code.clone());
        out.push(finding(
            hs,
            "iis-substatus",
            format!(
                "The IIS error page names HTTP {code}: {}.",
                substatus_meaning(&code)
            ),
            vec![leg_evidence(i, l, format!("body names {code}"))],
            "Read it with the other findings: the substatus says which step IIS refused.",
        ));
    }
}

/// NTLM is connection-bound: the Type 3 must follow the Type 2 on the same connection.
fn ntlm_connection_closed(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut ev = Vec::new();
    let mut sides: Vec<Side> = Vec::new();
    for (i, l) in hs.legs.iter().enumerate() {
        if !matches!(l.answer, Answer::NtlmChallenge { .. }) {
            continue;
        }
        let answered_here = hs
            .legs
            .get(i.saturating_add(1)..)
            .unwrap_or_default()
            .iter()
            .any(|n| {
                n.conn == l.conn && matches!(n.credential, Credential::NtlmAuthenticate { .. })
            });
        if l.closes() {
            ev.push(leg_evidence(
                i,
                l,
                "the Type 2 response says Connection: close",
            ));
            sides.push(Side::Server);
            continue;
        }
        if answered_here {
            continue;
        }
        let after = l.response.as_ref().map_or(0, |r| r.frame);
        if let Some(e) = close_after(hs, l.conn, after) {
            let (what, by) = match e.kind {
                ConnEventKind::Fin { by } => ("closed (FIN)", by),
                ConnEventKind::Rst { by } => ("reset (RST)", by),
                _ => ("closed", Side::Server),
            };
            sides.push(by);
            ev.push(Evidence {
                leg: Some(i),
                conn: e.conn,
                frame: e.frame,
                note: format!(
                    "connection {what} by the {} after the Type 2",
                    side_name(by)
                ),
            });
        }
    }
    if ev.is_empty() {
        return;
    }
    let (closer, next) = by_side(
        &sides,
        [
            "The client closed the connection",
            "The server closed the connection",
            "The connection was closed (by the client and by the server)",
        ],
        "The client does not keep the connection for its answer: fix the client or its \
         connection pool (the NTLM Type 3 must go on the connection that brought the Type 2), \
         or a client-side proxy that does not keep connections.",
        "Enable HTTP keep-alives end to end (server, proxies, load balancers): NTLM needs the \
         three legs on one connection, and IIS keeps answering 401.2 until the client gives up.",
    );
    out.push(finding(
        hs,
        "ntlm-connection-closed",
        format!(
            "{closer} between the NTLM challenge and the answer{}, so the handshake could not \
             complete.",
            if ev.len() > 1 {
                format!(" ({} times)", ev.len())
            } else {
                String::new()
            }
        ),
        ev,
        &next,
    ));
}

/// The words and the next step for what the `sides` did: the client's side alone, the
/// server's (or a middlebox's: the wire cannot tell them apart), or both.
fn by_side(
    sides: &[Side],
    [client, server, both]: [&'static str; 3],
    client_step: &str,
    server_step: &str,
) -> (&'static str, String) {
    match (sides.contains(&Side::Client), sides.contains(&Side::Server)) {
        (true, false) => (client, client_step.to_owned()),
        (false, _) => (server, server_step.to_owned()),
        (true, true) => (both, format!("{client_step} {server_step}")),
    }
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Client => "client",
        Side::Server => "server",
    }
}

/// The Type 3 travelled on another connection than the Type 2 it answers.
fn ntlm_split_connections(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut ev = Vec::new();
    let mut last_challenge: Option<(usize, &Leg)> = None;
    for (i, l) in hs.legs.iter().enumerate() {
        if matches!(l.answer, Answer::NtlmChallenge { .. }) {
            last_challenge = Some((i, l));
        }
        if matches!(l.credential, Credential::NtlmAuthenticate { .. }) {
            if let Some((ci, c)) = last_challenge {
                if c.conn != l.conn && ci < i {
                    ev.push(leg_evidence(
                        i,
                        l,
                        format!(
                            "Type 3 on connection {} answers the Type 2 of connection {}",
                            l.conn, c.conn
                        ),
                    ));
                }
            }
        }
    }
    if ev.is_empty() {
        return;
    }
    out.push(finding(
        hs,
        "ntlm-split-connections",
        "The NTLM Type 3 was sent on another TCP connection than the challenge it answers."
            .to_owned(),
        ev,
        "A proxy, load balancer or connection pool is between client and server: NTLM needs a \
         point-to-point connection; use Kerberos, or make the path keep one connection per \
         client.",
    ));
}

/// How a round of a handshake ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// A complete credential refused (401/407, a KRB-ERROR, a SPNEGO reject).
    Refused,
    /// The Type 3 went on another connection than its Type 2, after the one that brought
    /// the Type 2 was closed (by whom, when seen).
    Split(Option<Side>),
    /// A connection of the round was reset or closed before the round could end.
    Reset(Side),
    Closed(Side),
    /// A 401/407 without any challenge.
    NoMethod,
}

struct RoundEnd {
    cut: Cut,
    /// What the round's last step was (`the NTLM Type 3`, `the NTLM challenge`).
    after: String,
    ev: Evidence,
}

/// The first FIN or RST on `conn` after `frame`.
fn close_after(hs: &Handshake, conn: u64, frame: u64) -> Option<&crate::handshake::ConnEvent> {
    hs.tcp.iter().find(|e| {
        e.conn == conn
            && e.frame > frame
            && matches!(
                e.kind,
                ConnEventKind::Fin { .. } | ConnEventKind::Rst { .. }
            )
    })
}

/// The rounds that ended without success, and how: challenges are steps, never refusals, so
/// a round counts only when a complete credential was refused, or a connection was cut in
/// the middle of it.
fn failed_rounds(hs: &Handshake) -> Vec<RoundEnd> {
    let mut out = Vec::new();
    for round in 1..=hs.rounds {
        let Some((i, l)) = hs
            .legs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| l.round == round)
        else {
            continue;
        };
        let refused = l.credential.is_complete()
            && !l.answer.accepts()
            && (matches!(l.status(), Some(401 | 407))
                || matches!(
                    l.answer,
                    Answer::KerberosError { .. } | Answer::NegotiateReject
                ));
        let cut = if refused {
            if split_type3(hs, i) {
                let by = hs
                    .legs
                    .get(..i)
                    .unwrap_or_default()
                    .iter()
                    .rev()
                    .find_map(|c| {
                        let Answer::NtlmChallenge { .. } = c.answer else {
                            return None;
                        };
                        if c.closes() {
                            return Some(Some(Side::Server));
                        }
                        let frame = c.response.as_ref().map_or(0, |r| r.frame);
                        Some(close_after(hs, c.conn, frame).and_then(|e| match e.kind {
                            ConnEventKind::Fin { by } | ConnEventKind::Rst { by } => Some(by),
                            _ => None,
                        }))
                    });
                Some((
                    Cut::Split(by.flatten()),
                    leg_evidence(i, l, l.summary.clone()),
                ))
            } else {
                Some((Cut::Refused, leg_evidence(i, l, l.summary.clone())))
            }
        } else if matches!(l.answer, Answer::NoChallenge) {
            Some((Cut::NoMethod, leg_evidence(i, l, l.summary.clone())))
        } else if matches!(l.answer, Answer::Missing | Answer::NtlmChallenge { .. }) {
            let frame = l
                .response
                .as_ref()
                .map(|r| r.frame)
                .or(l.request.as_ref().map(|r| r.frame))
                .unwrap_or(0);
            match close_after(hs, l.conn, frame) {
                Some(e) => {
                    let (cut, what) = match e.kind {
                        ConnEventKind::Rst { by } => (Cut::Reset(by), "reset"),
                        ConnEventKind::Fin { by } => (Cut::Closed(by), "closed"),
                        _ => continue,
                    };
                    let by = match cut {
                        Cut::Reset(s) | Cut::Closed(s) => side_name(s),
                        _ => "",
                    };
                    Some((
                        cut,
                        Evidence {
                            leg: Some(i),
                            conn: e.conn,
                            frame: e.frame,
                            note: format!("connection {what} by the {by} after {}", step_name(l)),
                        },
                    ))
                }
                None if l.closes() && matches!(l.answer, Answer::NtlmChallenge { .. }) => Some((
                    Cut::Closed(Side::Server),
                    leg_evidence(i, l, "the Type 2 response says Connection: close"),
                )),
                None => None,
            }
        } else {
            None
        };
        if let Some((cut, ev)) = cut {
            out.push(RoundEnd {
                cut,
                after: step_name(l),
                ev,
            });
        }
    }
    out
}

/// The last step of a leg, in words: what the client sent, or the challenge it got.
fn step_name(l: &Leg) -> String {
    match l.answer {
        Answer::NtlmChallenge { .. } => "the NTLM challenge".to_owned(),
        _ => format!("the {}", cred_name(&l.credential)),
    }
}

/// The words for rounds that all ended the same way.
fn cut_words(cut: Cut, after: &str, hs: &Handshake) -> String {
    match cut {
        Cut::Refused if hs.scheme == SchemeUsed::Kerberos => {
            "the Kerberos ticket was refused each time".to_owned()
        }
        Cut::Refused => format!("the {} credentials were refused each time", hs.scheme),
        Cut::Split(Some(by)) => format!(
            "each time the {} closed the connection after the NTLM challenge, and the Type 3 \
             sent on a new connection could not succeed there",
            side_name(by)
        ),
        Cut::Split(None) => "each time the NTLM Type 3 went on another connection than its \
             challenge, where it cannot succeed"
            .to_owned(),
        Cut::Reset(by) => format!(
            "each time the {} reset the connection after {after}",
            side_name(by)
        ),
        Cut::Closed(by) => format!(
            "each time the {} closed the connection after {after}",
            side_name(by)
        ),
        Cut::NoMethod => "no authentication method is offered".to_owned(),
    }
}

fn times(n: usize) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

/// Findings that explain a loop, most direct first.
const ROOT_CAUSES: &[&str] = &[
    "connection-reset",
    "ntlm-connection-closed",
    "ntlm-split-connections",
    "token-too-large",
    "kerberos-error",
    "logon-failed",
    "no-auth-method",
];

fn auth_loop(hs: &Handshake, cfg: &DiagnoseConfig, out: &mut Vec<Finding>) {
    if hs.outcome == Outcome::Success {
        return;
    }
    let rounds = failed_rounds(hs);
    let n = u32::try_from(rounds.len()).unwrap_or(u32::MAX);
    if n < cfg.loop_rounds.max(1) {
        return;
    }
    let first = rounds.first().map(|r| (r.cut, r.after.as_str()));
    let why = match first {
        Some((cut, after)) if rounds.iter().all(|r| r.cut == cut && r.after == after) => {
            cut_words(cut, after, hs)
        }
        Some((cut @ (Cut::Reset(by) | Cut::Closed(by)), _))
            if rounds.iter().all(|r| r.cut == cut) =>
        {
            let mut afters: Vec<(&str, usize)> = Vec::new();
            for r in &rounds {
                match afters.iter_mut().find(|(a, _)| *a == r.after) {
                    Some((_, c)) => *c = c.saturating_add(1),
                    None => afters.push((&r.after, 1)),
                }
            }
            let parts: Vec<String> = afters
                .iter()
                .map(|(a, c)| format!("after {a} {}", times(*c)))
                .collect();
            format!(
                "each time the {} {} the connection ({})",
                side_name(by),
                if matches!(cut, Cut::Reset(_)) {
                    "reset"
                } else {
                    "closed"
                },
                parts.join(", ")
            )
        }
        _ => {
            let mut kinds: Vec<(String, usize)> = Vec::new();
            for r in &rounds {
                let w = match r.cut {
                    Cut::Refused => "refused".to_owned(),
                    Cut::Split(_) => "split across connections".to_owned(),
                    Cut::Reset(by) => format!("reset by the {}", side_name(by)),
                    Cut::Closed(by) => format!("closed by the {}", side_name(by)),
                    Cut::NoMethod => "without a challenge".to_owned(),
                };
                match kinds.iter_mut().find(|(k, _)| *k == w) {
                    Some((_, c)) => *c = c.saturating_add(1),
                    None => kinds.push((w, 1)),
                }
            }
            let parts: Vec<String> = kinds.iter().map(|(k, c)| format!("{c} {k}")).collect();
            format!("the rounds ended: {}", parts.join(", "))
        }
    };
    let cause = ROOT_CAUSES
        .iter()
        .find(|c| out.iter().any(|f| f.handshake == hs.id && f.code == **c));
    let next = match cause {
        Some(c) => format!(
            "The loop is the symptom: fix what {c} above names. Browsers give up after three \
             attempts (IE) or keep prompting."
        ),
        None => "Each round fails the same way: read the timeline below for the step that \
             fails. Browsers give up after three attempts (IE) or keep prompting."
            .to_owned(),
    };
    out.push(finding(
        hs,
        "auth-loop",
        format!(
            "{} tried {} {} {n} times without success: {why}.",
            capitalised(&who(hs)),
            hs.method,
            hs.resource,
        ),
        rounds.into_iter().map(|r| r.ev).collect(),
        &next,
    ));
}

fn connection_reset(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    // A reset counts when it cuts the handshake: before its last leg's answer, or when the
    // handshake did not succeed.
    let end = hs
        .legs
        .last()
        .and_then(|l| l.response.as_ref().map(|r| r.frame))
        .unwrap_or(u64::MAX);
    let mut sides: Vec<Side> = Vec::new();
    let ev: Vec<Evidence> = hs
        .tcp
        .iter()
        .filter_map(|e| match e.kind {
            ConnEventKind::Rst { by } if e.frame < end || hs.outcome != Outcome::Success => {
                let leg = hs.legs.iter().rposition(|l| {
                    l.conn == e.conn && l.request.as_ref().is_some_and(|r| r.frame < e.frame)
                });
                sides.push(by);
                Some(Evidence {
                    leg,
                    conn: e.conn,
                    frame: e.frame,
                    note: format!(
                        "RST from the {}{}",
                        side_name(by),
                        leg.and_then(|i| hs.legs.get(i))
                            .map(|l| format!(" after {}", step_name(l)))
                            .unwrap_or_default()
                    ),
                })
            }
            _ => None,
        })
        .collect();
    if ev.is_empty() || hs.legs.is_empty() {
        return;
    }
    let first = ev.first().map(|e| e.note.clone()).unwrap_or_default();
    let (who, next) = by_side(
        &sides,
        ["The client reset", "The server reset", "Both sides reset"],
        "The client resets: it gave up (a timeout, a cancelled request) or a client-side proxy \
         did; check the client's timeouts and logs.",
        "The server, or a device in front of it (load balancer, firewall, WAF), resets: read \
         the server's HTTP error log (HTTPERR on IIS) and the devices' logs for a request-size, \
         token or idle limit; a reset right after the NTLM Type 3 or the Kerberos AP-REQ often \
         means a token the server or a middlebox cannot handle.",
    );
    let times = if ev.len() > 1 {
        format!(" {} times", ev.len())
    } else {
        String::new()
    };
    let mut f = finding(
        hs,
        "connection-reset",
        format!("{who} a connection of the handshake{times} ({first})."),
        ev,
        &next,
    );
    // The reset is the cause when it ended the handshake or its rounds.
    let fatal = hs.outcome == Outcome::Failed(Failure::ConnectionReset)
        || (hs.outcome != Outcome::Success
            && failed_rounds(hs)
                .iter()
                .any(|r| matches!(r.cut, Cut::Reset(_))));
    if fatal {
        f.severity = Severity::Error;
    }
    out.push(f);
}

fn offered(hs: &Handshake, scheme: &str) -> bool {
    hs.offered.iter().any(|o| o.eq_ignore_ascii_case(scheme))
}

fn kerberos_fallback_ntlm(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    if hs.scheme != SchemeUsed::NegotiateNtlm {
        return;
    }
    let Some((i, l)) = hs.legs.iter().enumerate().find(|(_, l)| {
        matches!(
            l.credential,
            Credential::NtlmNegotiate { negotiate: true }
                | Credential::NtlmAuthenticate {
                    negotiate: true,
                    ..
                }
        )
    }) else {
        return;
    };
    out.push(finding(
        hs,
        "kerberos-fallback-ntlm",
        format!(
            "Negotiate{} was answered with NTLM, not Kerberos: the client could not get a ticket \
             for {}.",
            if offered(hs, "Negotiate") {
                " was offered and"
            } else {
                ""
            },
            hs.host.as_deref().unwrap_or("this host")
        ),
        vec![leg_evidence(i, l, "NTLMSSP inside the Negotiate token")],
        "Check the SPN: setspn -Q HTTP/<host name the clients use> must name the account that \
         runs the site; also check that the site is reached by that name (not an IP or alias), \
         that it is in the client's intranet zone, and that the KDC is reachable.",
    ));
}

/// Next step by Kerberos error (RFC 4120 7.5.9; WINDOWS-AUTH-FACTS.md).
fn kerberos_next_step(code: &str) -> &'static str {
    match code {
        "KRB_AP_ERR_MODIFIED" => "The service cannot decrypt the ticket: the SPN is registered on another account than the one running the site (or twice). Find it with setspn -Q and keep it on the site's account only.",
        "KRB_AP_ERR_SKEW" => "Client and server clocks differ by more than five minutes: fix time synchronisation.",
        "KRB_AP_ERR_TKT_EXPIRED" => "The ticket has expired: purge tickets (klist purge) and check clocks.",
        "KRB_AP_ERR_BADKEYVER" | "KRB_AP_ERR_NOKEY" => "The key version in the ticket is not in the service's keytab: the service account's password changed; refresh the keytab or the kvno.",
        "KRB_AP_ERR_NOT_US" => "The ticket is for another service than this one: the client used the wrong SPN; register the SPN for the name clients use.",
        _ => "Look up the error code (RFC 4120 7.5.9), and check the SPN, the service keytab and clocks.",
    }
}

fn kerberos_error(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut ev = Vec::new();
    let mut code: Option<String> = None;
    for (i, l) in hs.legs.iter().enumerate() {
        match &l.answer {
            Answer::KerberosError { code: c } => {
                ev.push(leg_evidence(i, l, format!("KRB-ERROR {c}")));
                code.get_or_insert_with(|| c.clone());
            }
            Answer::NegotiateReject => ev.push(leg_evidence(i, l, "SPNEGO reject")),
            _ if matches!(l.credential, Credential::KerberosApReq { .. })
                && !l.answer.accepts()
                && matches!(l.status(), Some(401 | 407)) =>
            {
                ev.push(leg_evidence(
                    i,
                    l,
                    format!("{} after the AP-REQ", status_word(hs)),
                ));
            }
            _ => {}
        }
    }
    if ev.is_empty() {
        return;
    }
    let detail = match (&code, &hs.spn) {
        (Some(c), Some(spn)) => format!(" ({c}) for {spn}"),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(spn)) => format!(" for {spn}"),
        (None, None) => String::new(),
    };
    out.push(finding(
        hs,
        "kerberos-error",
        format!("The server rejected the Kerberos ticket{detail}."),
        ev,
        kerberos_next_step(code.as_deref().unwrap_or_default()),
    ));
}

/// The host part of `HTTP/host[:port][@REALM]`, and of a Host header, for comparison.
fn spn_host(spn: &str) -> Option<String> {
    let (_, rest) = spn.split_once('/')?;
    let rest = rest.split('@').next().unwrap_or(rest);
    Some(strip_port(rest).to_ascii_lowercase())
}

fn strip_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.split(']').next().map_or(h, |s| s.trim_start_matches('['));
    }
    match h.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => h,
    }
}

fn spn_host_mismatch(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    // A ticket the server accepted had the right SPN, whatever the client typed.
    if hs.outcome == Outcome::Success && hs.scheme == SchemeUsed::Kerberos {
        return;
    }
    let (Some(spn), Some(host)) = (&hs.spn, &hs.host) else {
        return;
    };
    let Some(spn_h) = spn_host(spn) else {
        return;
    };
    let host_h = strip_port(host).to_ascii_lowercase();
    if spn_h == host_h {
        return;
    }
    // A client cannot build an SPN from an address: it was told the service's name (or
    // looked it up), so an address in Host says nothing about the SPN.
    if host_h
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return;
    }
    // A short name the client canonicalised to its DNS name (`intranet` ->
    // `intranet.corp.example`) is what Windows clients do.
    if !host_h.contains('.') && spn_h.split('.').next() == Some(host_h.as_str()) {
        return;
    }
    let Some((i, l)) = hs
        .credential_legs()
        .find(|(_, l)| matches!(l.credential, Credential::KerberosApReq { .. }))
    else {
        return;
    };
    out.push(finding(
        hs,
        "spn-host-mismatch",
        format!("The ticket is for {spn}, but the request is for host {host_h}."),
        vec![leg_evidence(i, l, format!("SPN {spn}, Host {host_h}"))],
        "Register the SPN for the name the clients use (setspn -S HTTP/<that name> <service \
         account>), or make clients use the name the SPN is registered for.",
    ));
}

fn challenge_unanswered(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    if hs.outcome != Outcome::Abandoned {
        return;
    }
    let Some((i, l)) = hs.legs.iter().enumerate().next_back() else {
        return;
    };
    let schemes = if hs.offered.is_empty() {
        "its challenge".to_owned()
    } else {
        hs.offered.join(", ")
    };
    out.push(finding(
        hs,
        "challenge-unanswered",
        format!("The client never answered the server's challenge ({schemes})."),
        vec![leg_evidence(i, l, "last challenge, no credential after it")],
        "The client does not support or will not use the offered schemes: check the scheme \
         order, the browser's zone settings (automatic logon only in the intranet zone), or the \
         client's configuration.",
    ));
}

fn reauth_every_request(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let strong = matches!(
        hs.scheme,
        SchemeUsed::Ntlm | SchemeUsed::NegotiateNtlm | SchemeUsed::Kerberos
    );
    if !strong || (hs.earlier_on_connection == 0 && hs.rechallenged == 0) {
        return;
    }
    let Some((i, l)) = hs.legs.iter().enumerate().next() else {
        return;
    };
    let summary = if hs.earlier_on_connection > 0 {
        format!(
            "A full {} handshake again on a connection that had already authenticated ({} \
             before).",
            hs.scheme, hs.earlier_on_connection
        )
    } else {
        format!(
            "After {} succeeded, the server challenged {} later request(s) on the same \
             connection again: authentication lasts one request.",
            hs.scheme, hs.rechallenged
        )
    };
    out.push(finding(
        hs,
        "reauth-every-request",
        summary,
        vec![leg_evidence(
            i,
            l,
            "authentication repeated on an authenticated connection",
        )],
        "Not an error, but it costs round trips: check AuthPersistSingleRequest / \
         authPersistNonNTLM, and proxies that force per-request authentication.",
    ));
}

fn basic_cleartext(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let Some((i, l)) = hs
        .legs
        .iter()
        .enumerate()
        .find(|(_, l)| matches!(l.credential, Credential::Basic { .. }))
    else {
        return;
    };
    out.push(finding(
        hs,
        "basic-cleartext",
        format!(
            "Basic credentials for {} were sent over plain HTTP: the password is readable on the \
             wire.",
            hs.user.as_deref().unwrap_or("a user")
        ),
        vec![leg_evidence(i, l, "Authorization: Basic without TLS")],
        "Serve this site over HTTPS, or use an authentication scheme that does not send the \
         password.",
    ));
}

fn ntlm_weak(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    for (i, l) in hs.legs.iter().enumerate() {
        if let Credential::NtlmAuthenticate { response, user, .. } = &l.credential {
            let weak = matches!(
                response.as_str(),
                "LM" | "NTLMv1" | "NTLMv1-ESS" | "anonymous"
            );
            if !weak {
                continue;
            }
            let what = if response == "anonymous" || user.is_empty() {
                "an anonymous NTLM Type 3 (null session)".to_owned()
            } else {
                format!("an {response} response")
            };
            out.push(finding(
                hs,
                "ntlm-weak",
                format!("The client authenticated with {what}."),
                vec![leg_evidence(i, l, format!("Type 3 response: {response}"))],
                "Require NTLMv2 (LmCompatibilityLevel 5 on clients and domain controllers), and \
                 prefer Kerberos.",
            ));
            return;
        }
    }
}

fn slow_auth(hs: &Handshake, cfg: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let limit = i64::try_from(cfg.slow_ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    let slow: Vec<Evidence> = hs
        .credential_legs()
        .filter_map(|(i, l)| {
            let ns = l.latency_ns()?;
            (ns > limit)
                .then(|| leg_evidence(i, l, format!("answered after {} ms", ns / 1_000_000)))
        })
        .collect();
    let Some(first) = slow.first() else {
        return;
    };
    let note = first.note.clone();
    out.push(finding(
        hs,
        "slow-auth",
        format!("The server took long to check the credentials ({note})."),
        slow,
        "The server is probably waiting on a domain controller: check its reachability and \
         load (Netlogon, MaxConcurrentApi) from the web server.",
    ));
}

fn digest_stale_loop(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let stale: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.answer == Answer::DigestStale)
        .map(|(i, l)| leg_evidence(i, l, "stale=true"))
        .collect();
    if stale.len() < 2 {
        return;
    }
    out.push(finding(
        hs,
        "digest-stale-loop",
        format!(
            "The server said the Digest nonce was stale {} times in a row.",
            stale.len()
        ),
        stale,
        "Not a bad password: check the server's nonce lifetime and the clocks of client and \
         server.",
    ));
}

/// A token that does not follow its specification: shown as malformed with what was read.
fn malformed_token(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    use crate::auth::Token;
    let mut ev = Vec::new();
    let mut first = String::new();
    for (i, l) in hs.legs.iter().enumerate() {
        let headers = l
            .request
            .as_ref()
            .and_then(|r| r.credential.as_ref())
            .into_iter()
            .chain(l.response.as_ref().and_then(|r| r.challenges.as_ref()));
        for h in headers {
            for item in &h.items {
                if let Token::Malformed(m) = &item.token {
                    let note = format!("{} {} token: {}", h.kind.name(), item.scheme_raw, m.error);
                    if first.is_empty() {
                        first = note.clone();
                    }
                    ev.push(leg_evidence(i, l, note));
                }
            }
        }
    }
    if ev.is_empty() {
        return;
    }
    out.push(finding(
        hs,
        "malformed-token",
        format!("A token does not follow its specification ({first})."),
        ev,
        "A broken client, server or middlebox built this token; the leg shows what could be \
         read before the fault. Compare with another client or server, and look for a device \
         that rewrites the header.",
    ));
}

/// A credential header with no auth-scheme in front (RFC 9110 11.6.2 requires one): most
/// often a bare JWT where the server expects `Bearer <token>`.
fn malformed_header(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut ev = Vec::new();
    for (i, l) in hs.legs.iter().enumerate() {
        let Some(h) = l.request.as_ref().and_then(|r| r.credential.as_ref()) else {
            continue;
        };
        if h.anomalies.iter().any(|a| a.code == NO_SCHEME) {
            ev.push(leg_evidence(
                i,
                l,
                format!("{} without an auth-scheme", h.kind.name()),
            ));
        }
    }
    if ev.is_empty() {
        return;
    }
    let jwt = matches!(hs.scheme, SchemeUsed::Bearer);
    out.push(finding(
        hs,
        "malformed-header",
        format!(
            "The client sent {} with no auth-scheme in front{}: the server probably expects \
             `Bearer`.",
            if jwt { "a token" } else { "a credential" },
            if ev.len() > 1 {
                format!(" ({} times)", ev.len())
            } else {
                String::new()
            }
        ),
        ev,
        "Send the token as `Authorization: Bearer <token>` (RFC 6750 2.1); fix the client or \
         the gateway that builds the header. The value is still a secret: treat it as leaked \
         to whatever logged it.",
    ));
}

const NO_SCHEME: &str = crate::auth::NO_SCHEME_ANOMALY;

/// The login worked; the application then refused or failed the request.
fn request_failed_after_auth(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    if hs.outcome != Outcome::Success {
        return;
    }
    let failed: Vec<(usize, &Leg, u16)> = hs
        .legs
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l.answer {
            Answer::RequestFailed { status, .. }
                if l.credential.is_complete() || l.credential == Credential::None =>
            {
                Some((i, l, status))
            }
            _ => None,
        })
        .collect();
    let Some(&(_, last, status)) = failed.last() else {
        return;
    };
    let reason = last
        .response
        .as_ref()
        .map(|r| r.reason.to_string())
        .filter(|r| !r.is_empty())
        .map_or(String::new(), |r| format!(" {r}"));
    let request = last.request.as_ref().map_or_else(
        || "the request".to_owned(),
        |r| format!("{} {}", r.method, r.uri),
    );
    let (what, next) = match status {
        401 | 407 | 403 => (
            "an authorization failure: the user is known, and not allowed this",
            "Authentication is fine: grant this account access (IIS authorization rules, \
             NTFS or share permissions, Apache `Require` lines, the application's roles), or \
             use an account that has it.",
        ),
        405 | 501 => (
            "the method is not allowed on this resource",
            "Authentication is fine: enable the method for this resource (WebDAV module or \
             authoring rules, IIS request filtering verbs and handler mappings), or have the \
             client use another one.",
        ),
        404 | 410 => (
            "the resource is not there",
            "Authentication is fine: check the URL and the site's content or routes.",
        ),
        400..=499 => (
            "the application refused the request",
            "Authentication is fine: the request itself is refused (a missing or bad header \
             such as WebDAV's Destination, a bad body); read the response body and the \
             server's log for this request.",
        ),
        _ => (
            "the application failed",
            "Authentication is fine: the application failed on this request; read the \
             server's application and error logs at this time.",
        ),
    };
    let who = who(hs);
    let who = if who == "the client" {
        String::new()
    } else {
        format!(" ({who})")
    };
    out.push(finding(
        hs,
        "request-failed-after-auth",
        format!(
            "The login worked{who}; the server then answered {status}{reason} to {request}: \
             {what}."
        ),
        failed
            .iter()
            .map(|(i, l, s)| leg_evidence(*i, l, format!("{s} after the accepted credential")))
            .collect(),
        next,
    ));
}

/// The server turned a credential away for its size before checking it (http.sys
/// `MaxFieldLength`/`MaxRequestBytes`, Apache `LimitRequestFieldSize`).
fn token_too_large(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let ev: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.token_too_large())
        .map(|(i, l)| {
            let len = l
                .request
                .as_ref()
                .and_then(|r| r.credential.as_deref())
                .map_or(0, crate::handshake::credential_len);
            leg_evidence(
                i,
                l,
                format!(
                    "{}-byte token answered {}",
                    len,
                    l.status().unwrap_or_default()
                ),
            )
        })
        .collect();
    let Some(first) = ev.first() else {
        return;
    };
    let note = first.note.clone();
    out.push(finding(
        hs,
        "token-too-large",
        format!(
            "The server refused the request for the size of its authentication header ({note}): \
             the credential was never checked."
        ),
        ev,
        "Kerberos tickets grow with the user's group memberships: raise the server's header \
         limits (http.sys MaxFieldLength and MaxRequestBytes, Apache LimitRequestFieldSize, \
         the proxies' limits), or reduce the groups in the token.",
    ));
}

/// The service and the host of an SPN-like name (`HTTP/host:port@REALM` -> `http`,
/// `host`), lower case.
fn service_and_host(name: &str) -> Option<(String, String)> {
    let (service, _) = name.split_once('/')?;
    Some((service.to_ascii_lowercase(), spn_host(name)?))
}

/// Signs that an NTLM login was relayed: the client meant another service, its server
/// challenge was given to another client too, or a machine account logged on to AD CS web
/// enrollment (the target of ESC8 relays).
fn ntlm_relay_suspected(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut ev = Vec::new();
    let mut why: Vec<String> = Vec::new();
    // A sign that stands on its own (the other target name for HTTP/ needs company).
    let mut strong = false;
    let ntlm = matches!(hs.scheme, SchemeUsed::Ntlm | SchemeUsed::NegotiateNtlm);
    if !ntlm {
        return;
    }
    for (i, l) in hs.legs.iter().enumerate() {
        let Credential::NtlmAuthenticate {
            target: Some(target),
            ..
        } = &l.credential
        else {
            continue;
        };
        let Some((service, t_host)) = service_and_host(target) else {
            continue;
        };
        let host = hs
            .host
            .as_deref()
            .map(|h| strip_port(h).to_ascii_lowercase());
        let server_ip = hs.server.ip().to_string();
        let other_service = service != "http" && service != "host";
        // HTTP/ for another name alone is no proof: a site reached by an alias (a CNAME)
        // gets the target name of the canonical host. It counts with another sign below.
        let same_host = |h: &str| {
            h == t_host
                || (!h.contains('.') && t_host.split('.').next() == Some(h))
                || (!t_host.contains('.') && h.split('.').next() == Some(t_host.as_str()))
        };
        let this_host = hs.proxy || host.as_deref().is_some_and(same_host) || t_host == server_ip;
        if other_service || !this_host {
            ev.push(leg_evidence(
                i,
                l,
                format!("Type 3 MsvAvTargetName {target}"),
            ));
            why.push(format!(
                "the NTLM Type 3 was made for {target}, not for HTTP/{}",
                host.as_deref().unwrap_or(&server_ip)
            ));
            strong |= other_service;
            break;
        }
    }
    for c in &hs.shared_challenges {
        let Some(l) = hs.legs.get(c.leg) else {
            continue;
        };
        ev.push(leg_evidence(
            c.leg,
            l,
            format!(
                "server challenge {} also given in handshake #{}",
                c.challenge, c.other
            ),
        ));
        ev.push(Evidence {
            leg: None,
            conn: c.other_conn,
            frame: c.other_frame,
            note: format!(
                "the same challenge from {} to {}",
                c.other_server, c.other_client
            ),
        });
        why.push(format!(
            "its server challenge {} was also given by {} to {} (handshake #{}), and servers \
             draw a new one for every login",
            c.challenge, c.other_server, c.other_client, c.other
        ));
        strong = true;
        break;
    }
    let machine = hs.user.as_deref().is_some_and(|u| u.ends_with('$'));
    if machine && hs.resource.to_ascii_lowercase().contains("/certsrv") {
        if let Some((i, l)) = hs
            .legs
            .iter()
            .enumerate()
            .find(|(_, l)| matches!(l.credential, Credential::NtlmAuthenticate { .. }))
        {
            ev.push(leg_evidence(
                i,
                l,
                format!("machine account {} to {}", who(hs), hs.resource),
            ));
            why.push(format!(
                "the machine account {} logged on with NTLM to AD CS web enrollment",
                who(hs)
            ));
            strong = true;
        }
    }
    if !strong {
        return;
    }
    out.push(finding(
        hs,
        "ntlm-relay-suspected",
        format!("This NTLM login looks relayed: {}.", why.join("; and ")),
        ev,
        "Treat it as an attack until explained: find the host that really sent it (the \
         client address here may be the relay), require Extended Protection (EPA) and HTTPS \
         on the target, disable NTLM on AD CS web enrollment, and enable SMB and LDAP \
         signing.",
    ));
}
