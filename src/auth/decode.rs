//! The entry point: one header value in, every challenge or credential out, each with its
//! token decoded. Nothing here fails: a token that does not decode becomes
//! [`Token::Malformed`] with what was read before the fault.

use crate::auth::basic::{self, BasicChallenge, BasicCredentials};
use crate::auth::bearer::{self, BearerChallenge, BearerToken};
use crate::auth::decode_base64;
use crate::auth::digest::{self, DigestChallenge, DigestResponse};
use crate::auth::error::DecodeError;
use crate::auth::header::{self, AuthItem, Scheme};
use crate::auth::kerberos::{self, KerberosToken};
use crate::auth::ntlm::{self, NtlmMessage};
use crate::auth::secret::{RevealSecrets, Secret};
use crate::auth::spnego::{self, NegotiateToken};
use crate::auth::util::Anomaly;
use serde::Serialize;

/// Which header the value came from (RFC 9110 11.6.1, 11.6.2, 11.7.1, 11.7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderKind {
    WwwAuthenticate,
    ProxyAuthenticate,
    Authorization,
    ProxyAuthorization,
}

impl HeaderKind {
    /// From a header field name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "www-authenticate" => Some(Self::WwwAuthenticate),
            "proxy-authenticate" => Some(Self::ProxyAuthenticate),
            "authorization" => Some(Self::Authorization),
            "proxy-authorization" => Some(Self::ProxyAuthorization),
            _ => None,
        }
    }

    /// True for the server-to-client headers that carry challenges.
    pub fn is_challenge(self) -> bool {
        matches!(self, Self::WwwAuthenticate | Self::ProxyAuthenticate)
    }

    /// The header name as usually written.
    pub fn name(self) -> &'static str {
        match self {
            Self::WwwAuthenticate => "WWW-Authenticate",
            Self::ProxyAuthenticate => "Proxy-Authenticate",
            Self::Authorization => "Authorization",
            Self::ProxyAuthorization => "Proxy-Authorization",
        }
    }
}

/// A token that did not decode: what was read before the fault, and the fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Malformed {
    pub what_was_read: Vec<String>,
    pub error: DecodeError,
}

/// The decoded content of one challenge or credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Token {
    /// A scheme with nothing after it (`Negotiate`, `NTLM` offers in a 401).
    Bare,
    BasicChallenge(BasicChallenge),
    Basic(BasicCredentials),
    // Boxed, as the NTLM and Negotiate tokens are: every decoded item is as large as the
    // largest variant, and open handshakes hold several.
    DigestChallenge(Box<DigestChallenge>),
    DigestResponse(Box<DigestResponse>),
    BearerChallenge(Box<BearerChallenge>),
    Bearer(Box<BearerToken>),
    /// `NTLM <token68>`, either direction.
    Ntlm(Box<NtlmMessage>),
    /// `Negotiate <token68>` (or `Kerberos <token68>`), either direction.
    Negotiate(Box<NegotiateToken>),
    /// A scheme authscope does not decode; the raw item has its token68 or params.
    Unknown,
    Malformed(Malformed),
}

impl RevealSecrets for Token {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        match self {
            Self::Basic(b) => b.each_secret(f),
            Self::DigestResponse(d) => d.each_secret(f),
            Self::Bearer(b) => b.each_secret(f),
            Self::Ntlm(m) => m.each_secret(f),
            Self::Negotiate(n) => n.each_secret(f),
            Self::Bare
            | Self::BasicChallenge(_)
            | Self::DigestChallenge(_)
            | Self::BearerChallenge(_)
            | Self::Unknown
            | Self::Malformed(_) => {}
        }
    }
}

/// A param value as sent; secret-bearing ones (a Digest `response`, any param of an unknown
/// scheme's credentials) are redacted like every other secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Plain(String),
    Secret(Secret<String>),
}

/// One auth-param as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawParam {
    pub name: String,
    pub value: ParamValue,
    pub quoted: bool,
}

/// One challenge or credentials: the raw form (redacted where it holds secrets) and the
/// decoded token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decoded {
    pub scheme: Scheme,
    /// The scheme as written (case kept).
    pub scheme_raw: String,
    /// Offset of the scheme in the header value.
    pub offset: usize,
    /// The token68 as sent. Redacted: it encodes the same secrets as `token` (a Basic
    /// password, an NTLM response, a bearer token).
    pub token68: Option<Secret<String>>,
    pub params: Vec<RawParam>,
    pub token: Token,
}

impl RevealSecrets for ParamValue {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        if let Self::Secret(s) = self {
            s.each_secret(f);
        }
    }
}

impl RevealSecrets for Decoded {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        self.token.each_secret(f);
        self.token68.each_secret(f);
        for p in &mut self.params {
            p.value.each_secret(f);
        }
    }
}

impl Decoded {
    fn new(item: AuthItem, challenge: bool) -> Self {
        let token = decode_item(&item, challenge);
        let unknown = matches!(item.scheme, Scheme::Unknown(_));
        let params = item
            .params
            .into_iter()
            .map(|p| {
                let secret = !challenge && (unknown || p.name.eq_ignore_ascii_case("response"));
                RawParam {
                    value: if secret {
                        ParamValue::Secret(Secret::new(p.value))
                    } else {
                        ParamValue::Plain(p.value)
                    },
                    name: p.name,
                    quoted: p.quoted,
                }
            })
            .collect();
        Self {
            scheme: item.scheme,
            scheme_raw: item.scheme_raw,
            offset: item.offset,
            token68: item.token68.map(Secret::new),
            params,
            token,
        }
    }
}

/// The decoded value of one authentication header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthHeader {
    pub kind: HeaderKind,
    pub items: Vec<Decoded>,
    /// Grammar oddities (see [`header`]).
    pub anomalies: Vec<Anomaly>,
    /// The header grammar itself failed (empty value, no scheme).
    pub error: Option<DecodeError>,
}

impl RevealSecrets for AuthHeader {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        self.items.each_secret(f);
    }
}

impl AuthHeader {
    /// About how many bytes it holds: an estimate from what was read (a decoded token holds
    /// at most a few times its encoded size), for the caps on what an analysis keeps.
    pub fn approx_bytes(&self) -> usize {
        let items: usize = self
            .items
            .iter()
            .map(|d| {
                let params: usize = d
                    .params
                    .iter()
                    .map(|p| {
                        let value = match &p.value {
                            ParamValue::Plain(v) => v.len(),
                            ParamValue::Secret(v) => v.len(),
                        };
                        p.name.len().saturating_add(value).saturating_add(32)
                    })
                    .sum();
                let token = d.token68.as_ref().map_or(0, Secret::len);
                std::mem::size_of::<Decoded>()
                    .saturating_add(d.scheme_raw.len())
                    .saturating_add(token.saturating_mul(3))
                    .saturating_add(params)
            })
            .sum();
        std::mem::size_of::<AuthHeader>()
            .saturating_add(items)
            .saturating_add(self.anomalies.len().saturating_mul(64))
    }
}

/// The anomaly of a credential header that has no auth-scheme in front of its token.
pub const NO_SCHEME_ANOMALY: &str = "header.credentials.no_scheme";

/// A credential value that is a bare token rather than `scheme [token]`: a JWT (RFC 7519
/// 3.1, its header always begins `eyJ`), anything a scheme name cannot hold (base64's `/` and
/// `=` are not tchars, RFC 9110 5.6.2), a token longer than any scheme's name, or the base64
/// of `user:password`. Registered scheme names alone (`Negotiate`) stay schemes.
fn schemeless(value: &[u8]) -> Option<&str> {
    let v = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    if v.is_empty() || v.contains([' ', '\t', ',']) {
        return None;
    }
    if !matches!(Scheme::from_name(v), Scheme::Unknown(_)) {
        return None;
    }
    const LONGEST_SCHEME: usize = 24;
    let jwt = v.starts_with("eyJ") && v.split('.').count() == 3;
    let not_a_name = v
        .bytes()
        .any(|b| matches!(b, b'/' | b'=') || !b.is_ascii_graphic());
    let user_pass = || {
        decode_base64(v, "token68").is_ok_and(|b| {
            std::str::from_utf8(&b)
                .is_ok_and(|t| t.contains(':') && !t.chars().any(char::is_control))
        })
    };
    (jwt || not_a_name || v.len() > LONGEST_SCHEME || user_pass()).then_some(v)
}

/// Decodes one header value. Never fails; see [`AuthHeader::error`] and [`Token::Malformed`].
pub fn decode_header(kind: HeaderKind, value: &[u8]) -> AuthHeader {
    if !kind.is_challenge() {
        if let Some(token) = schemeless(value) {
            // Still a credential: kept as a secret token, decoded as a bearer token would
            // be (a JWT shows its header and claims).
            return AuthHeader {
                kind,
                items: vec![Decoded {
                    scheme: Scheme::Unknown(String::new()),
                    scheme_raw: String::new(),
                    offset: 0,
                    token68: Some(Secret::new(token.to_owned())),
                    params: Vec::new(),
                    token: Token::Bearer(Box::new(bearer::parse_token(token))),
                }],
                anomalies: vec![Anomaly::new(
                    NO_SCHEME_ANOMALY,
                    "no auth-scheme before the token (RFC 9110 11.6.2); the server probably \
                     expects `Bearer`",
                )],
                error: None,
            };
        }
    }
    let parsed = if kind.is_challenge() {
        header::parse_challenges(value)
    } else {
        header::parse_credentials(value)
    };
    match parsed {
        Ok(p) => AuthHeader {
            kind,
            items: p
                .items
                .into_iter()
                .map(|item| Decoded::new(item, kind.is_challenge()))
                .collect(),
            anomalies: p.anomalies,
            error: None,
        },
        Err(e) => AuthHeader {
            kind,
            items: Vec::new(),
            anomalies: Vec::new(),
            error: Some(e),
        },
    }
}

/// Decodes every value of a header that appeared several times (a 401 often carries
/// `WWW-Authenticate: Negotiate` and `WWW-Authenticate: NTLM` as two fields), in order.
pub fn decode_headers(kind: HeaderKind, values: &[&[u8]]) -> AuthHeader {
    // Most headers appear once: their decoding is the answer, sized as it came. Open
    // handshakes hold these, so spare capacity would be paid per leg.
    if let [v] = values {
        return decode_header(kind, v);
    }
    let mut out = AuthHeader {
        kind,
        items: Vec::new(),
        anomalies: Vec::new(),
        error: None,
    };
    for v in values {
        let h = decode_header(kind, v);
        out.items.extend(h.items);
        out.anomalies.extend(h.anomalies);
        if out.error.is_none() {
            out.error = h.error;
        }
    }
    out.items.shrink_to_fit();
    out.anomalies.shrink_to_fit();
    out
}

/// For `authscope decode`: a value pasted from developer tools or a log, with or without
/// its header name (`Authorization: NTLM TlRM...`, `NTLM TlRM...`, or a bare token).
/// Without a name, the direction is guessed from the token; a bare token is tried as
/// Negotiate (which also takes raw NTLMSSP).
pub fn decode_pasted(text: &str) -> AuthHeader {
    let text = text.trim();
    if let Some((name, value)) = text.split_once(':') {
        if let Some(kind) = HeaderKind::from_name(name) {
            return decode_header(kind, value.trim().as_bytes());
        }
    }
    if !text.contains(char::is_whitespace) && text.starts_with("eyJ") {
        // A bare JWT, as copied from a browser's storage or a log.
        return decode_header(HeaderKind::Authorization, text.as_bytes());
    }
    let first_word = text.split_whitespace().next().unwrap_or_default();
    let looks_like_scheme = text.contains(char::is_whitespace)
        || matches!(
            Scheme::from_name(first_word),
            Scheme::Negotiate | Scheme::Ntlm | Scheme::Basic | Scheme::Digest | Scheme::Bearer
        );
    if !looks_like_scheme {
        // A bare token that is not base64 is nothing authscope can decode: say why rather
        // than let the header grammar read it as a bare `Negotiate` offer.
        if let Err(e) = decode_base64(text, "token68") {
            return AuthHeader {
                kind: HeaderKind::Authorization,
                items: Vec::new(),
                anomalies: Vec::new(),
                error: Some(e),
            };
        }
        // A bare token: decode it as Negotiate, which recognises NTLM, SPNEGO and Kerberos.
        let value = format!("Negotiate {text}");
        let mut h = decode_header(HeaderKind::Authorization, value.as_bytes());
        h.anomalies.push(Anomaly::new(
            "decode.bare_token",
            "no scheme given; decoded as a Negotiate token",
        ));
        return h;
    }
    let kind = guess_direction(text);
    decode_header(kind, text.as_bytes())
}

/// Challenges carry realm/nonce or a server token (NTLM Type 2, NegTokenResp); anything
/// else pasted is taken as credentials.
fn guess_direction(text: &str) -> HeaderKind {
    let as_credentials = decode_header(HeaderKind::Authorization, text.as_bytes());
    let server_side = as_credentials.items.iter().any(|d| match &d.token {
        Token::Ntlm(m) => matches!(**m, NtlmMessage::Challenge(_)),
        Token::Negotiate(n) => {
            matches!(
                **n,
                NegotiateToken::Spnego {
                    token: spnego::NegotiationToken::Resp(_),
                    ..
                }
            ) || n
                .ntlm()
                .is_some_and(|m| matches!(m, NtlmMessage::Challenge(_)))
        }
        Token::DigestResponse(d) => d.response.is_none() && d.username.is_none(),
        Token::Basic(_) | Token::Bearer(_) => false,
        _ => d.token68.is_none() && !d.params.is_empty(),
    });
    if server_side {
        HeaderKind::WwwAuthenticate
    } else {
        HeaderKind::Authorization
    }
}

fn malformed(what_was_read: Vec<String>, error: DecodeError) -> Token {
    Token::Malformed(Malformed {
        what_was_read,
        error,
    })
}

/// Decodes one item by scheme and direction.
fn decode_item(item: &AuthItem, challenge: bool) -> Token {
    let token68 = item.token68.as_deref();
    match (&item.scheme, challenge) {
        (Scheme::Basic, true) => Token::BasicChallenge(basic::parse_challenge(item)),
        (Scheme::Basic, false) => match token68 {
            Some(t) => basic::parse_credentials(t)
                .map(Token::Basic)
                .unwrap_or_else(|e| malformed(vec!["Basic token68".to_string()], e)),
            None => Token::Bare,
        },
        (Scheme::Digest, true) => digest::parse_challenge(item)
            .map(|c| Token::DigestChallenge(Box::new(c)))
            .unwrap_or_else(|e| malformed(Vec::new(), e)),
        (Scheme::Digest, false) => digest::parse_response(item)
            .map(|r| Token::DigestResponse(Box::new(r)))
            .unwrap_or_else(|e| malformed(Vec::new(), e)),
        (Scheme::Bearer, true) => Token::BearerChallenge(Box::new(bearer::parse_challenge(item))),
        (Scheme::Bearer, false) => match token68 {
            Some(t) => Token::Bearer(Box::new(bearer::parse_token(t))),
            None => Token::Bare,
        },
        (Scheme::Ntlm, _) => match token68 {
            Some(t) => match decode_base64(t, "token68") {
                Ok(bytes) => ntlm::parse(&bytes)
                    .map(|m| Token::Ntlm(Box::new(m)))
                    .unwrap_or_else(|e| malformed(ntlm::partial(&bytes), e)),
                Err(e) => malformed(Vec::new(), e),
            },
            None => Token::Bare,
        },
        (Scheme::Negotiate | Scheme::Kerberos, _) => match token68 {
            Some(t) => match decode_base64(t, "token68") {
                Ok(bytes) => spnego::parse(&bytes)
                    .map(|n| Token::Negotiate(Box::new(n)))
                    .unwrap_or_else(|e| malformed(negotiate_partial(&bytes), e)),
                Err(e) => malformed(Vec::new(), e),
            },
            None => Token::Bare,
        },
        (Scheme::Unknown(_), _) => Token::Unknown,
    }
}

/// What the first bytes of a Negotiate token said, for the `Malformed` display.
fn negotiate_partial(bytes: &[u8]) -> Vec<String> {
    if ntlm::is_ntlmssp(bytes) {
        return ntlm::partial(bytes);
    }
    let framing = match bytes.first() {
        Some(0x60) => "GSS-API initial context token (RFC 2743 3.1)",
        Some(0xa0) => "SPNEGO NegTokenInit",
        Some(0xa1) => "SPNEGO NegTokenResp",
        Some(0x6e) => "Kerberos AP-REQ",
        Some(0x6f) => "Kerberos AP-REP",
        Some(0x7e) => "Kerberos KRB-ERROR",
        _ => return Vec::new(),
    };
    vec![format!("{framing}, {} bytes", bytes.len())]
}

/// Decodes a bare Kerberos token as found in a `Negotiate` header without SPNEGO;
/// exposed for fuzz targets next to [`kerberos::parse`].
pub fn decode_kerberos_token(bytes: &[u8]) -> Result<KerberosToken, DecodeError> {
    kerberos::parse_mech_inner(bytes, false)
}

impl Token {
    /// One line for the UI and exports.
    pub fn summary(&self) -> String {
        match self {
            Self::Bare => "offer (no token)".to_string(),
            Self::BasicChallenge(c) => match &c.realm {
                Some(r) => format!("Basic challenge realm {r}"),
                None => "Basic challenge".to_string(),
            },
            Self::Basic(b) => format!("Basic user {}", b.user),
            Self::DigestChallenge(c) => c.summary(),
            Self::DigestResponse(r) => r.summary(),
            Self::BearerChallenge(c) => c.summary(),
            Self::Bearer(b) => b.summary(),
            Self::Ntlm(m) => m.summary(),
            Self::Negotiate(n) => n.summary(),
            Self::Unknown => "unknown scheme".to_string(),
            Self::Malformed(m) => {
                let mut s = format!("malformed: {}", m.error);
                if !m.what_was_read.is_empty() {
                    s.push_str(&format!(" (read: {})", m.what_was_read.join(", ")));
                }
                s
            }
        }
    }
}

impl Decoded {
    /// `Scheme: token summary`, e.g. `NTLM: NTLM Type 2 challenge ..., target CORP`.
    pub fn summary(&self) -> String {
        match &self.token {
            Token::Bearer(b) if self.scheme_raw.is_empty() => {
                let s = b.summary();
                format!(
                    "no auth-scheme: {}",
                    s.strip_prefix("Bearer ").unwrap_or(&s)
                )
            }
            Token::Bare => format!("{} offered", self.scheme),
            Token::Unknown => {
                let detail = match &self.token68 {
                    Some(t) => format!("token68 of {} bytes", t.len()),
                    None => format!("{} params", self.params.len()),
                };
                format!("{} (unknown scheme), {detail}", self.scheme_raw)
            }
            t => t.summary(),
        }
    }
}

impl AuthHeader {
    /// All items' summaries joined with `; `.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: unreadable: {e}", self.kind.name());
        }
        let parts: Vec<String> = self.items.iter().map(Decoded::summary).collect();
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests;
