//! Rounds and connections: loops of rounds that ended without success and what cut them,
//! resets, logins repeated on every request, slow answers, stale Digest nonces.

use super::*;
use crate::tcp::ConnId;

/// How a round of a handshake ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
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

pub(super) struct RoundEnd {
    pub(super) cut: Cut,
    /// What the round's last step was (`the NTLM Type 3`, `the NTLM challenge`).
    pub(super) after: String,
    pub(super) ev: Evidence,
}

/// The first FIN or RST on `conn` after `frame`.
pub(super) fn close_after(
    hs: &Handshake,
    conn: u64,
    frame: u64,
) -> Option<&crate::handshake::ConnEvent> {
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
pub(super) fn failed_rounds(hs: &Handshake) -> Vec<RoundEnd> {
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
pub(super) fn step_name(l: &Leg) -> String {
    match l.answer {
        Answer::NtlmChallenge { .. } => "the NTLM challenge".to_owned(),
        _ => format!("the {}", cred_name(&l.credential)),
    }
}

/// The words for rounds that all ended the same way.
pub(super) fn cut_words(cut: Cut, after: &str, hs: &Handshake) -> String {
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

/// Findings that explain a loop, most direct first.
pub(super) const ROOT_CAUSES: &[&str] = &[
    "connection-reset",
    "ntlm-connection-closed",
    "ntlm-split-connections",
    "token-too-large",
    "kerberos-error",
    "logon-failed",
    "no-auth-method",
];

pub(super) fn auth_loop(hs: &Handshake, cfg: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
    let cause = ROOT_CAUSES.iter().find(|c| {
        out.iter()
            .any(|f| f.handshake == Some(hs.id) && f.code == **c)
    });
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

/// Whether a side had closed `conn` (a FIN) before `frame`: a reset after a close answers what
/// came after it (a TLS close_notify, a late segment) on a connection already ending, and cuts
/// nothing; a close that cut the handshake is a finding of its own.
fn closed_before(hs: &Handshake, conn: ConnId, frame: u64) -> bool {
    hs.tcp
        .iter()
        .any(|e| e.conn == conn && e.frame < frame && matches!(e.kind, ConnEventKind::Fin { .. }))
}

pub(super) fn connection_reset(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
            ConnEventKind::Rst { by }
                if (e.frame < end || hs.outcome != Outcome::Success)
                    && !closed_before(hs, e.conn, e.frame) =>
            {
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

pub(super) fn reauth_every_request(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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

pub(super) fn slow_auth(hs: &Handshake, cfg: &DiagnoseConfig, out: &mut Vec<Finding>) {
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

pub(super) fn digest_stale_loop(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
