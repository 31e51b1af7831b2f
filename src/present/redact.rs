//! Header values as the report, the exports and the UI show them: a secret's value (a
//! credential after its scheme, a challenge's token, Digest's rspauth, a cookie) replaced by
//! its size, unless the user asked to see it. Which fields hold secrets is the list the
//! pcapng slice's masking reads too ([`SECRET_HEADERS`]).

use crate::auth::{challenge_token_scheme, secret_field, SecretField, SECRET_HEADERS};
use crate::http::{Exchange, Header};

/// The lengths of the names [`redacted`] looks at, as bits.
const REDACTED_LENGTHS: u64 = length_bits(&SECRET_HEADERS);

const fn length_bits(mut names: &[(&str, SecretField)]) -> u64 {
    let mut bits = 0u64;
    while let Some(((n, _), rest)) = names.split_first() {
        bits |= 1 << (n.len() % 64);
        names = rest;
    }
    bits
}

/// A header value with its secret part replaced, keeping what a reader needs: the scheme of a
/// credential (RFC 9110 11.4) and the size of what was hidden.
pub fn redact_value(name: &str, value: &str) -> String {
    redacted(name, value).unwrap_or_else(|| value.to_owned())
}

/// [`redact_value`], or `None` when the value shows as it is (most headers: no copy made).
pub fn redacted(name: &str, value: &str) -> Option<String> {
    // Most fields leave here, on their length alone.
    if name.len() >= 64 || REDACTED_LENGTHS >> name.len() & 1 == 0 {
        return None;
    }
    let shown = match secret_field(name.as_bytes())? {
        SecretField::Challenges => challenge_tokens_hidden(value)?,
        SecretField::Info => param_hidden(value, "rspauth")?,
        SecretField::Whole => hidden("", value.len()),
        SecretField::Credentials => {
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            let rest = rest.trim();
            if rest.is_empty()
                && matches!(
                    crate::auth::Scheme::from_name(scheme.trim()),
                    crate::auth::Scheme::Unknown(_)
                )
            {
                // No scheme in front (a bare JWT): the whole value is the token.
                hidden("", value.len())
            } else if rest.is_empty() {
                scheme.to_owned()
            } else {
                hidden(scheme, rest.len())
            }
        }
    };
    (shown != value).then_some(shown)
}

/// A challenge list with each `Negotiate` or `Kerberos` token hidden (it can carry an AP-REP
/// or a mechListMIC); `None` when it holds none. Commas inside a quoted parameter are not told
/// apart: such a piece starts with no token scheme and is kept as it is.
fn challenge_tokens_hidden(value: &str) -> Option<String> {
    // Every 401 has a challenge: most hold no token, and leave without a copy.
    if !value.split(',').any(|p| token_of(p).is_some()) {
        return None;
    }
    let pieces: Vec<String> = value
        .split(',')
        .map(|piece| match token_of(piece) {
            Some((scheme, len)) => {
                let lead = piece.len().saturating_sub(piece.trim_start().len());
                format!("{}{}", " ".repeat(lead), hidden(scheme, len))
            }
            None => piece.to_owned(),
        })
        .collect();
    Some(pieces.join(","))
}

/// A challenge's scheme and its token's length, when it is a token scheme's with a token.
fn token_of(piece: &str) -> Option<(&str, usize)> {
    let (scheme, rest) = piece.trim().split_once(' ')?;
    let rest = rest.trim();
    // A token68 is one word (RFC 9110 11.2), padding and all.
    (challenge_token_scheme(scheme.as_bytes()) && !rest.is_empty() && !rest.contains(' '))
        .then_some((scheme, rest.len()))
}

/// `value` with the auth-param `name`'s value hidden; `None` when it has no such parameter.
fn param_hidden(value: &str, name: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let mut from = 0;
    while let Some(p) = lower.get(from..)?.find(name) {
        let at = from.saturating_add(p);
        let before = lower.get(..at)?.trim_end();
        let after = lower.get(at.saturating_add(name.len())..)?.trim_start();
        if (before.is_empty() || before.ends_with(',')) && after.starts_with('=') {
            let eq = value.len().saturating_sub(after.len());
            let rest = value.get(eq.saturating_add(1)..)?;
            let start = eq
                .saturating_add(1)
                .saturating_add(rest.len().saturating_sub(rest.trim_start().len()));
            let v = value.get(start..)?;
            let len = if let Some(q) = v.strip_prefix('"') {
                q.find('"').map_or(v.len(), |e| e.saturating_add(2))
            } else {
                v.find(',').unwrap_or(v.len()).min(v.trim_end().len())
            };
            let end = start.saturating_add(len);
            return Some(format!(
                "{}{}{}",
                value.get(..start)?,
                hidden("", len),
                value.get(end..)?
            ));
        }
        from = at.saturating_add(name.len());
    }
    None
}

/// `<scheme> <redacted N chars>` (or without the scheme), built without the formatting
/// machinery: a report redacts a cookie or a credential in most exchanges.
fn hidden(scheme: &str, chars: usize) -> String {
    let mut n = itoa::Buffer::new();
    let n = n.format(chars);
    let mut s = String::with_capacity(scheme.len().saturating_add(n.len()).saturating_add(18));
    if !scheme.is_empty() {
        s.push_str(scheme);
        s.push(' ');
    }
    s.push_str("<redacted ");
    s.push_str(n);
    s.push_str(" chars>");
    s
}

/// Redacts secrets in place, replacing only the values that change.
fn redact_headers(headers: &mut [Header]) {
    for h in headers {
        if let Some(shown) = redacted(&h.name, &h.value) {
            h.value = shown.into();
        }
    }
}

/// The exchange as the report shows it (secrets redacted unless revealed).
pub fn present_exchange(x: &Exchange, reveal: bool) -> Exchange {
    let mut x = x.clone();
    if !reveal {
        redact_exchange(&mut x);
    }
    x
}

pub fn redact_exchange(x: &mut Exchange) {
    if let Some(r) = x.request.as_mut() {
        redact_headers(&mut r.headers);
    }
    if let Some(r) = x.response.as_mut() {
        redact_headers(&mut r.headers);
    }
    for r in &mut x.interim {
        redact_headers(&mut r.headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_redacted_name_passes_the_length_filter_in_any_case() {
        for (name, field) in SECRET_HEADERS {
            let upper = name.to_ascii_uppercase();
            let value = match field {
                SecretField::Info => "rspauth=\"6629fae49393a05397450978507c4ef1\"",
                _ => "Negotiate YIIGhgYGKwYBBQUC",
            };
            let shown = redacted(&upper, value);
            assert!(shown.is_some(), "{name} is not redacted");
        }
        assert_eq!(redacted("Accept", "secret"), None);
        assert_eq!(
            redacted("Authorization", "NTLM TlRMTVNTUAAB").as_deref(),
            Some("NTLM <redacted 12 chars>")
        );
        assert_eq!(
            redacted("Cookie", "a=b").as_deref(),
            Some("<redacted 3 chars>")
        );
        assert_eq!(redacted("X-Cookie", "secret"), None);
    }

    #[test]
    fn tokens_and_rspauth_are_hidden_among_other_parameters() {
        assert_eq!(
            redacted("WWW-Authenticate", "Negotiate oYGJMIGGoAMKAQ==, NTLM").as_deref(),
            Some("Negotiate <redacted 16 chars>, NTLM")
        );
        assert_eq!(
            redacted("WWW-Authenticate", "NTLM, Kerberos YIIB").as_deref(),
            Some("NTLM, Kerberos <redacted 4 chars>")
        );
        assert_eq!(redacted("WWW-Authenticate", "Negotiate, NTLM"), None);
        assert_eq!(redacted("WWW-Authenticate", "Basic realm=\"a, b\""), None);
        assert_eq!(
            redacted(
                "Authentication-Info",
                "qop=auth, rspauth=\"6629fae4\", cnonce=\"0a4f\", nc=00000001"
            )
            .as_deref(),
            Some("qop=auth, rspauth=<redacted 10 chars>, cnonce=\"0a4f\", nc=00000001")
        );
        assert_eq!(
            redacted("Authentication-Info", "RspAuth=abc").as_deref(),
            Some("RspAuth=<redacted 3 chars>")
        );
        assert_eq!(redacted("Authentication-Info", "nextnonce=\"x\""), None);
    }
}
