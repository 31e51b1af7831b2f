//! What is wrong on the wire whatever the outcome: cleartext passwords, malformed tokens
//! and headers.

use super::*;

pub(super) fn basic_cleartext(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let Some((i, l)) = hs
        .legs
        .iter()
        .enumerate()
        .find(|(_, l)| !l.tls && matches!(l.credential, Credential::Basic { .. }))
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

/// A token that does not follow its specification: shown as malformed with what was read.
pub(super) fn malformed_token(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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
pub(super) fn malformed_header(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
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

pub(super) const NO_SCHEME: &str = crate::auth::NO_SCHEME_ANOMALY;
