//! The HTTP authentication header grammar (RFC 9110 section 11).
//!
//! ```text
//! WWW-Authenticate    = #challenge            (11.6.1; also Proxy-Authenticate, 11.7.1)
//! Authorization       = credentials           (11.6.2; also Proxy-Authorization, 11.7.2)
//! challenge           = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! credentials         = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param          = token BWS "=" BWS ( token / quoted-string )
//! token68             = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! Commas separate both challenges and the params of one challenge, so after a comma a
//! token followed by `=` continues the current challenge and any other token starts a new
//! one. Real traffic bends the grammar (two spaces after the scheme, upper-case schemes,
//! unterminated quotes, empty list elements); each bend is accepted and noted as an anomaly.

use crate::auth::error::{DecodeError, ErrorKind};
use crate::auth::util::{latin1, Anomaly};
use serde::{Serialize, Serializer};
use std::fmt;

/// An authentication scheme; names compare case-insensitively (RFC 9110 11.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Basic,
    Digest,
    Ntlm,
    Negotiate,
    Bearer,
    Kerberos,
    /// Any other scheme, by the name as sent.
    Unknown(String),
}

/// The registered auth-scheme names (RFC 9110 16.4, the IANA registry), lower case.
pub const REGISTERED_SCHEMES: [&str; 8] = [
    "basic",
    "bearer",
    "digest",
    "negotiate",
    "ntlm",
    "kerberos",
    "hoba",
    "mutual",
];

/// Whether `word` is one of [`REGISTERED_SCHEMES`], ignoring case; with `cut_short`, or the
/// start of one (a name cut by a segment's end).
pub fn is_registered_scheme(word: &[u8], cut_short: bool) -> bool {
    !word.is_empty()
        && REGISTERED_SCHEMES.iter().any(|s| {
            let s = s.as_bytes();
            let s = if cut_short {
                s.get(..word.len())
            } else {
                Some(s)
            };
            s.is_some_and(|p| p.eq_ignore_ascii_case(word))
        })
}

impl Scheme {
    /// Maps a scheme name, ignoring case.
    pub fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "basic" => Self::Basic,
            "digest" => Self::Digest,
            "ntlm" => Self::Ntlm,
            "negotiate" => Self::Negotiate,
            "bearer" => Self::Bearer,
            "kerberos" => Self::Kerberos,
            _ => Self::Unknown(name.to_string()),
        }
    }

    /// Canonical name (as registered with IANA).
    pub fn name(&self) -> &str {
        match self {
            Self::Basic => "Basic",
            Self::Digest => "Digest",
            Self::Ntlm => "NTLM",
            Self::Negotiate => "Negotiate",
            Self::Bearer => "Bearer",
            Self::Kerberos => "Kerberos",
            Self::Unknown(n) => n,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Scheme {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One `name=value` auth-param; the value is unquoted and unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthParam {
    pub name: String,
    pub value: String,
    /// Whether the value was a quoted-string (Digest cares: RFC 7616 3.4 quotes some, not others).
    pub quoted: bool,
}

/// One challenge or one credentials: a scheme and either a token68 or params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthItem {
    pub scheme: Scheme,
    /// The scheme exactly as sent (case kept).
    pub scheme_raw: String,
    pub token68: Option<String>,
    pub params: Vec<AuthParam>,
    /// Offset of the scheme in the header value.
    pub offset: usize,
}

impl AuthItem {
    /// First param of that name, case-insensitively.
    pub fn param(&self, name: &str) -> Option<&AuthParam> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Value of the first param of that name.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.param(name).map(|p| p.value.as_str())
    }
}

/// The challenges of one `WWW-Authenticate`/`Proxy-Authenticate` value, or the one
/// credentials of an `Authorization`/`Proxy-Authorization` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedHeader {
    pub items: Vec<AuthItem>,
    pub anomalies: Vec<Anomaly>,
}

/// No real header holds more challenges than this; the cap bounds work on hostile input.
const MAX_ITEMS: usize = 64;
/// Nor more params in one challenge.
const MAX_PARAMS: usize = 64;

/// Parses a challenge list (RFC 9110 11.6.1). Errors only when no challenge can be read.
pub fn parse_challenges(value: &[u8]) -> Result<ParsedHeader, DecodeError> {
    let parsed = parse_list(value);
    if parsed.items.is_empty() {
        return Err(DecodeError::new(
            ErrorKind::Syntax {
                detail: "no auth-scheme".to_string(),
            },
            "auth-scheme",
            0,
        ));
    }
    Ok(parsed)
}

/// Parses credentials (RFC 9110 11.6.2): exactly one item; more is an anomaly.
pub fn parse_credentials(value: &[u8]) -> Result<ParsedHeader, DecodeError> {
    let mut parsed = parse_challenges(value)?;
    if parsed.items.len() > 1 {
        parsed.anomalies.push(Anomaly::new(
            "header.credentials.more_than_one",
            format!(
                "{} credentials in one header; only the first counts",
                parsed.items.len()
            ),
        ));
        parsed.items.truncate(1);
    }
    Ok(parsed)
}

// RFC 9110 5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

// RFC 9110 11.2.
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn peek_at(&self, n: usize) -> Option<u8> {
        self.s.get(self.pos.saturating_add(n)).copied()
    }
    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1).min(self.s.len());
    }
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    /// Skips OWS (SP / HTAB); returns how many.
    fn ows(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
        self.pos.saturating_sub(start)
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &[u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        self.s.get(start..self.pos).unwrap_or_default()
    }
    fn skip_to_comma(&mut self) {
        let mut in_quote = false;
        while let Some(b) = self.peek() {
            match b {
                b'"' => in_quote = !in_quote,
                b'\\' if in_quote => self.bump(),
                b',' if !in_quote => return,
                _ => {}
            }
            self.bump();
        }
    }
}

fn parse_list(value: &[u8]) -> ParsedHeader {
    let mut c = Cursor { s: value, pos: 0 };
    let mut items: Vec<AuthItem> = Vec::new();
    let mut anomalies = Vec::new();
    loop {
        // RFC 9110 5.6.1: recipients accept empty list elements.
        loop {
            c.ows();
            if c.peek() == Some(b',') {
                c.bump();
            } else {
                break;
            }
        }
        if c.at_end() {
            break;
        }
        let start = c.pos;
        let name = latin1(c.take_while(is_tchar));
        if name.is_empty() {
            anomalies.push(Anomaly::new(
                "header.bad_char",
                format!("unexpected character at offset {start}; skipped to the next comma"),
            ));
            c.skip_to_comma();
            continue;
        }
        // A token followed by "=" is another param of the current challenge.
        let save = c.pos;
        c.ows();
        if c.peek() == Some(b'=') {
            if let Some(item) = items.last_mut() {
                c.bump();
                c.ows();
                let param = parse_param_value(&mut c, name, &mut anomalies);
                push_param(item, param, &mut anomalies);
                continue;
            }
            // A param before any scheme: keep it under an unnamed scheme so nothing is lost.
            anomalies.push(Anomaly::new(
                "header.param_without_scheme",
                format!("auth-param {name} at offset {start} comes before any scheme"),
            ));
            c.skip_to_comma();
            continue;
        }
        c.pos = save;
        if items.len() >= MAX_ITEMS {
            anomalies.push(Anomaly::new(
                "header.too_many_items",
                format!("more than {MAX_ITEMS} challenges; the rest is ignored"),
            ));
            break;
        }
        let scheme = Scheme::from_name(&name);
        if !matches!(scheme, Scheme::Unknown(_)) && name != scheme.name() {
            anomalies.push(Anomaly::new(
                "header.scheme_case",
                format!("scheme written {name}, usually {scheme}"),
            ));
        }
        let mut item = AuthItem {
            scheme,
            scheme_raw: name,
            token68: None,
            params: Vec::new(),
            offset: start,
        };
        let spaces = c.ows();
        if c.at_end() || c.peek() == Some(b',') {
            items.push(item);
            continue;
        }
        if spaces == 0 {
            anomalies.push(Anomaly::new(
                "header.no_space_after_scheme",
                format!(
                    "no space after scheme {} at offset {start}",
                    item.scheme_raw
                ),
            ));
        } else if spaces > 1 {
            anomalies.push(Anomaly::new(
                "header.extra_space",
                format!(
                    "{spaces} spaces after scheme {} (RFC 9110 allows 1*SP; some parsers fail)",
                    item.scheme_raw
                ),
            ));
        }
        if let Some(t) = try_token68(&mut c) {
            item.token68 = Some(t);
            let trailing = c.ows();
            if !c.at_end() && c.peek() != Some(b',') {
                let at = c.pos;
                c.skip_to_comma();
                anomalies.push(Anomaly::new(
                    "header.token68_trailing",
                    format!("text after token68 at offset {at} (after {trailing} spaces) ignored"),
                ));
            }
        } else {
            let pstart = c.pos;
            let pname = latin1(c.take_while(is_tchar));
            c.ows();
            if pname.is_empty() || c.peek() != Some(b'=') {
                anomalies.push(Anomaly::new(
                    "header.bad_params",
                    format!("neither token68 nor auth-param at offset {pstart}"),
                ));
                c.skip_to_comma();
            } else {
                c.bump();
                c.ows();
                let param = parse_param_value(&mut c, pname, &mut anomalies);
                push_param(&mut item, param, &mut anomalies);
            }
        }
        items.push(item);
    }
    ParsedHeader { items, anomalies }
}

fn push_param(item: &mut AuthItem, param: AuthParam, anomalies: &mut Vec<Anomaly>) {
    if item.params.len() >= MAX_PARAMS {
        anomalies.push(Anomaly::new(
            "header.too_many_params",
            format!("more than {MAX_PARAMS} params for {}", item.scheme),
        ));
        return;
    }
    if item.param(&param.name).is_some() {
        // RFC 9110 11.2: each parameter name MUST only occur once per challenge.
        anomalies.push(Anomaly::new(
            "header.duplicate_param",
            format!("{} repeats param {}", item.scheme, param.name),
        ));
    }
    item.params.push(param);
}

/// token68 only if, after it and optional OWS, the element ends.
fn try_token68(c: &mut Cursor<'_>) -> Option<String> {
    let start = c.pos;
    let body = c.take_while(is_token68_char).len();
    if body == 0 {
        c.pos = start;
        return None;
    }
    while c.peek() == Some(b'=') {
        c.bump();
    }
    let end = c.pos;
    c.ows();
    if c.at_end() || c.peek() == Some(b',') {
        c.pos = end;
        Some(latin1(c.s.get(start..end).unwrap_or_default()))
    } else {
        c.pos = start;
        None
    }
}

/// `token / quoted-string`; an unterminated quote runs to the end of the value.
fn parse_param_value(c: &mut Cursor<'_>, name: String, anomalies: &mut Vec<Anomaly>) -> AuthParam {
    if c.peek() == Some(b'"') {
        let start = c.pos;
        c.bump();
        let mut v = Vec::new();
        let mut closed = false;
        while let Some(b) = c.peek() {
            c.bump();
            match b {
                b'"' => {
                    closed = true;
                    break;
                }
                // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                b'\\' => {
                    if let Some(n) = c.peek() {
                        v.push(n);
                        c.bump();
                    }
                }
                _ => v.push(b),
            }
        }
        if !closed {
            anomalies.push(Anomaly::new(
                "header.unterminated_quote",
                format!("quoted value of {name} at offset {start} has no closing quote"),
            ));
        }
        let after = c.ows();
        if !c.at_end() && c.peek() != Some(b',') {
            let at = c.pos;
            c.skip_to_comma();
            anomalies.push(Anomaly::new(
                "header.junk_after_value",
                format!(
                    "text after the value of {name} at offset {at} (after {after} spaces) ignored"
                ),
            ));
        }
        AuthParam {
            name,
            value: latin1(&v),
            quoted: true,
        }
    } else {
        let start = c.pos;
        // Tokens per the grammar; real servers also send "/" and "=" unquoted (base64 nonces).
        let v = c.take_while(|b| is_tchar(b) || b == b'/' || b == b'=' || b == b':');
        let value = latin1(v);
        c.ows();
        if !c.at_end() && c.peek() != Some(b',') {
            let at = c.pos;
            c.skip_to_comma();
            let raw = latin1(c.s.get(start..c.pos).unwrap_or_default());
            anomalies.push(Anomaly::new(
                "header.bad_token_value",
                format!("value of {name} at offset {at} is not a token; kept as sent"),
            ));
            return AuthParam {
                name,
                value: raw.trim_end().to_string(),
                quoted: false,
            };
        }
        if c.peek_at(0).is_none() && value.is_empty() {
            anomalies.push(Anomaly::new(
                "header.empty_value",
                format!("{name}= has no value"),
            ));
        }
        AuthParam {
            name,
            value,
            quoted: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_and_token68_bytes_are_those_rfc_9110_lists() {
        for b in 0..=u8::MAX {
            let alnum = b.is_ascii_alphanumeric();
            assert_eq!(
                is_tchar(b),
                alnum || b"!#$%&'*+-.^_`|~".contains(&b),
                "{b:#x}"
            );
            assert_eq!(
                is_token68_char(b),
                alnum || b"-._~+/".contains(&b),
                "{b:#x}"
            );
        }
    }

    fn items(v: &str) -> Vec<AuthItem> {
        parse_challenges(v.as_bytes())
            .map(|p| p.items)
            .unwrap_or_default()
    }

    #[test]
    fn digest_challenge_from_capture() {
        // http-digest-then-basic.pcapng frame 9.
        let v = r#"Digest realm="testrealm@example.org", nonce="IeESkaUcBgA=180db953ae3b29eb87bccf3a9b44d2de861708cb", algorithm=MD5, domain="/digest/ http://192.168.122.8/digest/", qop="auth""#;
        let it = items(v);
        assert_eq!(it.len(), 1);
        let d = &it[0];
        assert_eq!(d.scheme, Scheme::Digest);
        assert_eq!(d.value("realm"), Some("testrealm@example.org"));
        assert_eq!(d.value("ALGORITHM"), Some("MD5"));
        assert_eq!(d.param("algorithm").map(|p| p.quoted), Some(false));
        assert_eq!(
            d.value("domain"),
            Some("/digest/ http://192.168.122.8/digest/")
        );
        assert_eq!(d.value("qop"), Some("auth"));
        assert_eq!(d.params.len(), 5);
    }

    #[test]
    fn several_challenges_in_one_value() {
        let v = r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Negotiate, NTLM"#;
        let it = items(v);
        let schemes: Vec<_> = it.iter().map(|i| i.scheme.name().to_string()).collect();
        assert_eq!(schemes, ["Newauth", "Basic", "Negotiate", "NTLM"]);
        assert_eq!(it[0].value("title"), Some(r#"Login to "apps""#));
        assert_eq!(it[0].params.len(), 3);
        assert_eq!(it[1].value("realm"), Some("simple"));
    }

    #[test]
    fn comma_inside_quotes() {
        let it = items(r#"Digest realm="a, b", qop="auth,auth-int", nonce="x""#);
        assert_eq!(it.len(), 1);
        assert_eq!(it[0].value("qop"), Some("auth,auth-int"));
    }

    #[test]
    fn token68_and_double_space() {
        // http-basic-double-space.pcap frame 26.
        let p = parse_credentials(b"Basic  dGVzdDoxMjM0");
        let p = p.ok();
        assert_eq!(
            p.as_ref()
                .and_then(|p| p.items.first())
                .and_then(|i| i.token68.clone()),
            Some("dGVzdDoxMjM0".to_string())
        );
        assert_eq!(
            p.map(|p| p.anomalies.iter().map(|a| a.code).collect::<Vec<_>>()),
            Some(vec!["header.extra_space"])
        );
        let it = items("NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==");
        assert_eq!(
            it[0].token68.as_deref(),
            Some("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==")
        );
    }

    #[test]
    fn upper_case_and_unknown_scheme() {
        // http-bearer-uppercase-upload-null-loopback.pcap frame 13.
        let p = parse_credentials(b"BEARER 1gsho83nt3bkmykh5aynw6kzgy").ok();
        let i = p.as_ref().and_then(|p| p.items.first());
        assert_eq!(i.map(|i| &i.scheme), Some(&Scheme::Bearer));
        assert_eq!(i.map(|i| i.scheme_raw.as_str()), Some("BEARER"));
        // http-unknown-scheme-null-loopback.pcap frame 5.
        let it = items("Turbo customAuthDataHere");
        assert_eq!(it[0].scheme, Scheme::Unknown("Turbo".to_string()));
        assert_eq!(it[0].token68.as_deref(), Some("customAuthDataHere"));
    }

    #[test]
    fn oddities_are_anomalies_not_failures() {
        let p = parse_challenges(br#"Basic realm="unterminated"#).ok();
        assert_eq!(
            p.as_ref().map(|p| p.items[0].value("realm")),
            Some(Some("unterminated"))
        );
        assert_eq!(
            p.map(|p| p.anomalies[0].code),
            Some("header.unterminated_quote")
        );
        assert!(parse_challenges(b"").is_err());
        assert!(parse_challenges(b" , ,").is_err());
        let it = items(",, Basic realm=x ,, Digest realm=y, nonce=n,");
        assert_eq!(it.len(), 2);
        assert_eq!(it[1].value("nonce"), Some("n"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse_challenges(s.as_bytes());
            let _ = parse_credentials(s.as_bytes());
        }

        #[test]
        fn never_panics_on_bytes(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_challenges(&b);
        }
    }
}
