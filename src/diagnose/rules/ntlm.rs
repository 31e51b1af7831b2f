//! NTLM's own rules: its connection binding (closed, split), a refused Type 1, weak
//! responses, and the signs of a relayed login.

use super::*;

/// Leg `i` is an NTLM Type 3 sent on another connection than the Type 2 before it.
pub(super) fn split_type3(hs: &Handshake, i: usize) -> bool {
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
pub(super) fn ntlm_negotiate_refused(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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

/// NTLM is connection-bound: the Type 3 must follow the Type 2 on the same connection.
pub(super) fn ntlm_connection_closed(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
pub(super) fn by_side(
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

pub(super) fn side_name(s: Side) -> &'static str {
    match s {
        Side::Client => "client",
        Side::Server => "server",
    }
}

/// The Type 3 travelled on another connection than the Type 2 it answers.
pub(super) fn ntlm_split_connections(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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

pub(super) fn ntlm_weak(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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

/// Extended Protection for Authentication (MS-NLMP 3.1.5.1.2, 3.2.5.1.2): an NTLM Type 3
/// sent inside TLS without its channel bindings, with zero ones, or bound to another
/// certificate than the one the server presented on its connection.
pub(super) fn channel_bindings(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    for (i, l) in hs.legs.iter().enumerate() {
        let (Some(b), Credential::NtlmAuthenticate { user, domain, .. }) =
            (&l.binding, &l.credential)
        else {
            continue;
        };
        // A 401 to a complete credential, offering schemes again or not.
        let refused = matches!(l.answer, Answer::Refused | Answer::Offer { .. });
        let who = match (domain.is_empty(), user.is_empty()) {
            (_, true) => "an anonymous user".to_owned(),
            (true, false) => user.clone(),
            (false, false) => format!("{domain}\\{user}"),
        };
        let epa = "IIS: the site's Windows Authentication, Advanced Settings, Extended \
                   Protection (Off, Accept or Required)";
        let (code, summary, next, note) = match b {
            Binding::NotBound | Binding::Zero if refused => {
                let (code, what) = if matches!(b, Binding::NotBound) {
                    ("cbt-missing", "carries no channel bindings")
                } else {
                    ("cbt-zero", "carries all-zero channel bindings")
                };
                (
                    code,
                    format!(
                        "The NTLM Type 3 of {who}, sent over TLS, {what} and was refused: a \
                         server that requires Extended Protection for Authentication refuses \
                         every such logon, whatever the password."
                    ),
                    format!(
                        "Use a client that binds NTLM to the TLS channel (Windows' own clients, \
                         browsers, requests-ntlm do; curl does not), or, if such clients must be \
                         served, lower the server's Extended Protection to Accept ({epa})."
                    ),
                    b.label(),
                )
            }
            Binding::Mismatch { sent, expected } => (
                "cbt-mismatch",
                format!(
                    "The NTLM Type 3 of {who} is bound to another TLS certificate than the one \
                     the server presented on this connection (it sent bindings {sent}; this \
                     connection's certificate gives {expected}): TLS is ended and begun again \
                     in between (a load balancer, a reverse proxy, an inspecting firewall), or \
                     someone is in the middle.{}",
                    if refused {
                        " A server that checks bindings refuses it."
                    } else {
                        " The server accepted it: it does not check bindings."
                    }
                ),
                format!(
                    "Compare the certificate the client saw with the one on this connection \
                     (the connection's tls.certificate in the JSON); have the device in between \
                     pass TLS through, or have the server check bindings against the device's \
                     certificate (IIS: extendedProtection's spn list and flags, {epa})."
                ),
                b.label(),
            ),
            _ => continue,
        };
        let mut f = finding(hs, code, summary, vec![leg_evidence(i, l, note)], &next);
        if code == "cbt-mismatch" && !refused {
            f.severity = Severity::Warning;
        }
        out.push(f);
        return;
    }
}

/// The service and the host of an SPN-like name (`HTTP/host:port@REALM` -> `http`,
/// `host`), lower case.
pub(super) fn service_and_host(name: &str) -> Option<(String, String)> {
    let (service, _) = name.split_once('/')?;
    Some((service.to_ascii_lowercase(), spn_host(name)?))
}

/// Signs that an NTLM login was relayed: the client meant another service, its server
/// challenge was given to another client too, or a machine account logged on to AD CS web
/// enrollment (the target of ESC8 relays).
pub(super) fn ntlm_relay_suspected(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
    // A relay to an HTTPS server gets through only when the Type 3 is not bound to the
    // server's TLS channel (MS-NLMP 3.2.5.1.2): absent or zero bindings add to the case.
    if let Some((i, l, b)) = hs
        .legs
        .iter()
        .enumerate()
        .find_map(|(i, l)| match &l.binding {
            Some(b @ (Binding::NotBound | Binding::Zero)) => Some((i, l, b)),
            _ => None,
        })
    {
        ev.push(leg_evidence(
            i,
            l,
            format!("Type 3 over TLS, {}", b.label()),
        ));
        why.push(format!(
            "it reached this HTTPS server with {} channel bindings, so nothing tied it to the              TLS connection it came on (a server requiring Extended Protection would have              refused it)",
            if matches!(b, Binding::Zero) {
                "all-zero"
            } else {
                "no"
            }
        ));
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
