//! Kerberos: errors from the server, a fallback to NTLM, and the SPN against the host.

use super::*;

pub(super) fn kerberos_fallback_ntlm(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
    let (why, next) = match super::kdc::fallback_reason(hs) {
        Some((why, next)) => (format!(" ({why})"), next),
        None => (String::new(), None),
    };
    out.push(finding(
        hs,
        "kerberos-fallback-ntlm",
        format!(
            "Negotiate{} was answered with NTLM, not Kerberos: the client could not get a ticket \
             for {}{why}.",
            if offered(hs, "Negotiate") {
                " was offered and"
            } else {
                ""
            },
            hs.host.as_deref().unwrap_or("this host")
        ),
        vec![leg_evidence(i, l, "NTLMSSP inside the Negotiate token")],
        next.as_deref().unwrap_or(
            "Check the SPN: setspn -Q HTTP/<host name the clients use> must name the account \
             that runs the site; also check that the site is reached by that name (not an IP or \
             alias), that it is in the client's intranet zone, and that the KDC is reachable.",
        ),
    ));
}

/// Next step by Kerberos error (RFC 4120 7.5.9; WINDOWS-AUTH-FACTS.md).
pub(super) fn kerberos_next_step(code: &str) -> &'static str {
    match code {
        "KRB_AP_ERR_MODIFIED" => "The service cannot decrypt the ticket: the SPN is registered on another account than the one running the site (or twice). Find it with setspn -Q and keep it on the site's account only.",
        "KRB_AP_ERR_SKEW" => "Client and server clocks differ by more than five minutes: fix time synchronisation.",
        "KRB_AP_ERR_TKT_EXPIRED" => "The ticket has expired: purge tickets (klist purge) and check clocks.",
        "KRB_AP_ERR_BADKEYVER" | "KRB_AP_ERR_NOKEY" => "The key version in the ticket is not in the service's keytab: the service account's password changed; refresh the keytab or the kvno.",
        "KRB_AP_ERR_NOT_US" => "The ticket is for another service than this one: the client used the wrong SPN; register the SPN for the name clients use.",
        _ => "Look up the error code (RFC 4120 7.5.9), and check the SPN, the service keytab and clocks.",
    }
}

pub(super) fn kerberos_error(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let mut ev = Vec::new();
    let mut code: Option<String> = None;
    let sent_ticket = hs
        .legs
        .iter()
        .any(|l| matches!(l.credential, Credential::KerberosApReq { .. }));
    for (i, l) in hs.legs.iter().enumerate() {
        match &l.answer {
            Answer::KerberosError { code: c } => {
                ev.push(leg_evidence(i, l, format!("KRB-ERROR {c}")));
                code.get_or_insert_with(|| c.clone());
            }
            // A reject of another mechanism (gss-ntlmssp's NTLM) is no ticket refused.
            Answer::NegotiateReject if sent_ticket => ev.push(leg_evidence(i, l, "SPNEGO reject")),
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
pub(super) fn spn_host(spn: &str) -> Option<String> {
    let (_, rest) = spn.split_once('/')?;
    let rest = rest.split('@').next().unwrap_or(rest);
    Some(strip_port(rest).to_ascii_lowercase())
}

pub(super) fn strip_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.split(']').next().map_or(h, |s| s.trim_start_matches('['));
    }
    match h.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => h,
    }
}

pub(super) fn spn_host_mismatch(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
