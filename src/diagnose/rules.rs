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
];

type Rule = fn(&Handshake, &DiagnoseConfig, &mut Vec<Finding>);

const RULES: &[Rule] = &[
    no_auth_method,
    logon_failed,
    access_denied_acl,
    iis_substatus,
    ntlm_connection_closed,
    ntlm_split_connections,
    ntlm_negotiate_refused,
    auth_loop,
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
    out.push(finding(
        hs,
        "logon-failed",
        format!(
            "{} was refused{}: the {} credentials were not accepted.",
            who(hs),
            if n > 1 {
                format!(" {n} times")
            } else {
                String::new()
            },
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
            who(hs),
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
        let refusal = l.credential.is_complete() && matches!(l.status(), Some(401 | 407));
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
            continue;
        }
        if answered_here {
            continue;
        }
        let after = l.response.as_ref().map_or(0, |r| r.frame);
        if let Some(e) = hs.tcp.iter().find(|e| {
            e.conn == l.conn
                && e.frame > after
                && matches!(
                    e.kind,
                    ConnEventKind::Fin { .. } | ConnEventKind::Rst { .. }
                )
        }) {
            let (what, by) = match e.kind {
                ConnEventKind::Fin { by } => ("closed (FIN)", by),
                ConnEventKind::Rst { by } => ("reset (RST)", by),
                _ => ("closed", Side::Server),
            };
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
    out.push(finding(
        hs,
        "ntlm-connection-closed",
        format!(
            "The connection was closed between the NTLM challenge and the answer{}, so the \
             handshake could not complete.",
            if ev.len() > 1 {
                format!(" ({} times)", ev.len())
            } else {
                String::new()
            }
        ),
        ev,
        "Enable HTTP keep-alives end to end (server, proxies, load balancers): NTLM needs the \
         three legs on one connection, and IIS keeps answering 401.2 until the client gives up.",
    ));
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

fn auth_loop(hs: &Handshake, cfg: &DiagnoseConfig, out: &mut Vec<Finding>) {
    if hs.rounds < cfg.loop_rounds || hs.outcome == Outcome::Success {
        return;
    }
    let refusals: Vec<Evidence> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.status(), Some(401 | 407)))
        .map(|(i, l)| leg_evidence(i, l, l.summary.clone()))
        .collect();
    let why = match hs.outcome {
        Outcome::Failed(Failure::ConnectionClosed) => {
            "the connection is closed after the challenge each time"
        }
        Outcome::Failed(Failure::LogonFailed) => "the credentials are refused each time",
        Outcome::Failed(Failure::KerberosRejected) => "the Kerberos ticket is refused each time",
        Outcome::Failed(Failure::NoAuthMethod) => "no authentication method is offered",
        _ => "no round succeeds",
    };
    out.push(finding(
        hs,
        "auth-loop",
        format!(
            "{} asked for {} {} times and got {} every time: {why}.",
            who(hs),
            hs.resource,
            hs.rounds,
            status_word(hs)
        ),
        refusals,
        "Fix the cause the other findings name; browsers give up after three attempts (IE) or \
         keep prompting.",
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
    let ev: Vec<Evidence> = hs
        .tcp
        .iter()
        .filter_map(|e| match e.kind {
            ConnEventKind::Rst { by } if e.frame < end || hs.outcome != Outcome::Success => {
                let leg = hs.legs.iter().rposition(|l| {
                    l.conn == e.conn && l.request.as_ref().is_some_and(|r| r.frame < e.frame)
                });
                Some(Evidence {
                    leg,
                    conn: e.conn,
                    frame: e.frame,
                    note: format!(
                        "RST from the {}{}",
                        side_name(by),
                        leg.map(|i| format!(" after leg {}", i.saturating_add(1)))
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
    out.push(finding(
        hs,
        "connection-reset",
        format!("A connection of the handshake was reset ({first})."),
        ev,
        "Find who resets (the side named): a proxy or firewall timing out, a server-side crash \
         or request-size limit, or a client giving up; the leg it follows says where.",
    ));
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
    // A short name the client canonicalised to its FQDN (`upwin2003` -> `upwin2003.corp.com`)
    // is the normal Windows behaviour; it matters only when the ticket was refused.
    let first_label = |h: &str| h.split('.').next().unwrap_or(h).to_owned();
    if first_label(&spn_h) == first_label(&host_h) && hs.outcome == Outcome::Success {
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
        format!("The ticket is for {spn}, but the request is for host {host}."),
        vec![leg_evidence(i, l, format!("SPN {spn}, Host {host}"))],
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
