//! Windows authentication refused over HTTP/2 (RFC 9113 7 `HTTP_1_1_REQUIRED`).

use super::*;
use crate::handshake::HttpVersion;

/// What to change, on IIS and on proxies, so that Windows logins are not sent over HTTP/2.
pub(in crate::diagnose) const H2_FIX: &str =
    "On IIS (http.sys), NTLM and Kerberos need HTTP/1.1: the client \
     must retry on a new connection without HTTP/2, and one that does not fails. Disable HTTP/2 \
     for the site: tick \"Disable HTTP/2\" in the site's HTTPS binding (Windows Server 2022 and \
     later, the binding's http2 flags), or for the whole server set the DWORD values \
     EnableHttp2Tls and EnableHttp2Cleartext to 0 under \
     HKLM\\System\\CurrentControlSet\\Services\\HTTP\\Parameters and restart. A reverse proxy or \
     load balancer that speaks HTTP/2 to clients and HTTP/1.1 behind must pass the refusal on \
     (or offer only http/1.1 in ALPN for this site), and an inspecting proxy must not turn the \
     client's HTTP/1.1 into HTTP/2.";

fn windows_credential(c: &Credential) -> bool {
    matches!(
        c,
        Credential::NtlmNegotiate { .. }
            | Credential::NtlmAuthenticate { .. }
            | Credential::KerberosApReq { .. }
            | Credential::NegotiateOther
    )
}

/// `http2-downgrade`: a request carrying NTLM, Negotiate or Kerberos on an HTTP/2 stream was
/// refused with `HTTP_1_1_REQUIRED` (RST_STREAM or GOAWAY). A warning when the client then
/// logged on over HTTP/1.1 on another connection; an error when it did not retry, or the
/// retry did not work.
pub(super) fn http2_downgrade(hs: &Handshake, _: &DiagnoseConfig, out: &mut Vec<Finding>) {
    let Some((i, refused, end)) = hs.legs.iter().enumerate().find_map(|(i, l)| {
        let end = l.h2.as_ref()?.end?;
        (end.code == 0xd && windows_credential(&l.credential)).then_some((i, l, end))
    }) else {
        return;
    };
    let retry = hs
        .legs
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|(_, l)| l.http != HttpVersion::Http2 && l.conn != refused.conn);
    let how = if end.goaway { "a GOAWAY" } else { "RST_STREAM" };
    let what = cred_name(&refused.credential);
    let mut evidence = vec![Evidence {
        leg: Some(i),
        conn: refused.conn,
        frame: end.frame,
        note: format!("{what} over HTTP/2 answered {}", end.describe()),
    }];
    let (summary, severity) = match retry {
        Some((j, l)) => {
            evidence.push(leg_evidence(
                j,
                l,
                format!(
                    "the retry over{} on connection {}",
                    match l.http {
                        HttpVersion::Http10 => " HTTP/1.0",
                        _ => " HTTP/1.1",
                    },
                    l.conn
                ),
            ));
            if matches!(hs.outcome, Outcome::Success) {
                (
                    format!(
                        "The server refused the {what} of {} over HTTP/2 with {how} \
                         HTTP_1_1_REQUIRED (Windows authentication needs HTTP/1.1), and the \
                         client retried over HTTP/1.1 on a new connection, where the login \
                         worked: every such login costs a failed HTTP/2 attempt and a second \
                         connection, and clients that do not retry fail.",
                        who(hs)
                    ),
                    Severity::Warning,
                )
            } else {
                (
                    format!(
                        "The server refused the {what} of {} over HTTP/2 with {how} \
                         HTTP_1_1_REQUIRED (Windows authentication needs HTTP/1.1); the client \
                         retried over HTTP/1.1 on a new connection, but the login did not work \
                         there either ({}).",
                        who(hs),
                        hs.outcome.label()
                    ),
                    Severity::Error,
                )
            }
        }
        None => (
            format!(
                "The server refused the {what} of {} over HTTP/2 with {how} HTTP_1_1_REQUIRED \
                 (Windows authentication needs HTTP/1.1), and the client never retried over \
                 HTTP/1.1: the login failed (\"it fails in one browser only\").",
                who(hs)
            ),
            Severity::Error,
        ),
    };
    let mut f = finding(hs, "http2-downgrade", summary, evidence, H2_FIX);
    f.severity = severity;
    out.push(f);
}
