//! Bearer (RFC 6750): the challenge's error codes (3, 3.1) and the token; when the token is
//! a JWT (RFC 7519), its header and claims are decoded for display. Nothing is verified,
//! and the signature is never shown.

use crate::auth::error::{DecodeError, ErrorKind};
use crate::auth::header::{AuthItem, AuthParam};
use crate::auth::secret::{RevealSecrets, Secret};
use crate::auth::util::{unix_to_rfc3339, Anomaly};
use base64::Engine as _;
use serde::{Serialize, Serializer};

/// RFC 6750 3.1 error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
    Unknown(String),
}

impl BearerError {
    pub fn from_name(s: &str) -> Self {
        match s {
            "invalid_request" => Self::InvalidRequest,
            "invalid_token" => Self::InvalidToken,
            "insufficient_scope" => Self::InsufficientScope,
            _ => Self::Unknown(s.to_string()),
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::Unknown(s) => s,
        }
    }
}

impl Serialize for BearerError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// RFC 6750 3: `Bearer realm=..., scope=..., error=..., error_description=..., error_uri=...`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BearerChallenge {
    pub realm: Option<String>,
    pub scope: Option<String>,
    pub error: Option<BearerError>,
    pub error_description: Option<String>,
    pub error_uri: Option<String>,
    pub other: Vec<AuthParam>,
}

/// The decoded parts of a JWS compact serialization (RFC 7515 7.1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jwt {
    /// The JOSE header as sent.
    pub header: serde_json::Value,
    /// The claims as sent.
    pub claims: serde_json::Value,
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub exp: Option<i64>,
    pub exp_utc: Option<String>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub iat_utc: Option<String>,
    pub scope: Option<String>,
    pub signature: Secret<Vec<u8>>,
}

/// RFC 6750 2.1 credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BearerToken {
    /// The token itself: anyone holding it is the user, so it is a secret.
    pub token: Secret<String>,
    pub jwt: Option<Jwt>,
    pub anomalies: Vec<Anomaly>,
}

impl RevealSecrets for BearerToken {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        self.token.each_secret(f);
        if let Some(j) = &mut self.jwt {
            j.signature.each_secret(f);
        }
    }
}

/// RFC 6750 3: challenge params.
pub fn parse_challenge(item: &AuthItem) -> BearerChallenge {
    let mut c = BearerChallenge {
        realm: None,
        scope: None,
        error: None,
        error_description: None,
        error_uri: None,
        other: Vec::new(),
    };
    for p in &item.params {
        let v = p.value.clone();
        match p.name.to_ascii_lowercase().as_str() {
            "realm" => c.realm = Some(v),
            "scope" => c.scope = Some(v),
            "error" => c.error = Some(BearerError::from_name(&v)),
            "error_description" => c.error_description = Some(v),
            "error_uri" => c.error_uri = Some(v),
            _ => c.other.push(p.clone()),
        }
    }
    c
}

/// RFC 6750 2.1: `b64token`; a JWT (RFC 7519 3) is decoded when the token is one.
pub fn parse_token(token: &str) -> BearerToken {
    let mut anomalies = Vec::new();
    let jwt = if token.split('.').count() == 3 {
        match parse_jwt(token) {
            Ok(j) => Some(j),
            Err(e) => {
                anomalies.push(Anomaly::new(
                    "bearer.jwt_unreadable",
                    format!("looks like a JWT but does not decode: {e}"),
                ));
                None
            }
        }
    } else {
        None
    };
    BearerToken {
        token: Secret::new(token.to_string()),
        jwt,
        anomalies,
    }
}

fn b64url(part: &str, field: &'static str) -> Result<Vec<u8>, DecodeError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(part)
        .map_err(|_| DecodeError::new(ErrorKind::Base64, field, 0))
}

fn json(bytes: &[u8], field: &'static str) -> Result<serde_json::Value, DecodeError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        DecodeError::new(
            ErrorKind::Invalid {
                detail: format!("not JSON: {e}"),
            },
            field,
            0,
        )
    })?;
    if !v.is_object() {
        return Err(DecodeError::new(
            ErrorKind::Invalid {
                detail: "not a JSON object".to_string(),
            },
            field,
            0,
        ));
    }
    Ok(v)
}

/// RFC 7519 3 / RFC 7515 7.1: `BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)`.
pub fn parse_jwt(token: &str) -> Result<Jwt, DecodeError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DecodeError::new(
            ErrorKind::Invalid {
                detail: "a JWS has three dot-separated parts".to_string(),
            },
            "JWS",
            0,
        ));
    };
    let header = json(&b64url(h, "JOSE header")?, "JOSE header")?;
    let claims = json(&b64url(p, "JWT claims")?, "JWT claims")?;
    let signature = b64url(s, "JWS signature")?;
    let str_of =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let int_of = |k: &str| claims.get(k).and_then(serde_json::Value::as_i64);
    // RFC 7519 4.1.3: aud is a string or an array of strings.
    let aud = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => vec![a.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let exp = int_of("exp");
    let iat = int_of("iat");
    Ok(Jwt {
        alg: str_of(&header, "alg"),
        kid: str_of(&header, "kid"),
        typ: str_of(&header, "typ"),
        iss: str_of(&claims, "iss"),
        sub: str_of(&claims, "sub"),
        scope: str_of(&claims, "scope").or_else(|| str_of(&claims, "scp")),
        aud,
        exp,
        exp_utc: exp.and_then(unix_to_rfc3339),
        nbf: int_of("nbf"),
        iat,
        iat_utc: iat.and_then(unix_to_rfc3339),
        header,
        claims,
        signature: Secret::new(signature),
    })
}

impl BearerChallenge {
    /// e.g. `Bearer challenge realm example, error invalid_token (The access token expired)`.
    pub fn summary(&self) -> String {
        let mut s = "Bearer challenge".to_string();
        if let Some(r) = &self.realm {
            s.push_str(&format!(" realm {r}"));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(", error {}", e.name()));
        }
        if let Some(d) = &self.error_description {
            s.push_str(&format!(" ({d})"));
        }
        s
    }
}

impl BearerToken {
    /// e.g. `Bearer JWT alg HS256, iss joe, exp 2011-03-22T18:43:00Z` or `Bearer token (16 bytes)`.
    pub fn summary(&self) -> String {
        match &self.jwt {
            Some(j) => {
                let mut s = format!("Bearer JWT alg {}", j.alg.as_deref().unwrap_or("?"));
                if let Some(i) = &j.iss {
                    s.push_str(&format!(", iss {i}"));
                }
                if let Some(u) = &j.sub {
                    s.push_str(&format!(", sub {u}"));
                }
                if let Some(e) = &j.exp_utc {
                    s.push_str(&format!(", exp {e}"));
                }
                s
            }
            None => format!("Bearer opaque token ({} bytes)", self.token.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::header::parse_challenges;

    // RFC 7519 3.1 example JWT.
    const RFC7519_JWT: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn rfc7519_example() {
        let t = parse_token(RFC7519_JWT);
        let j = t
            .jwt
            .as_ref()
            .unwrap_or_else(|| panic!("{:?}", t.anomalies));
        assert_eq!(j.alg.as_deref(), Some("HS256"));
        assert_eq!(j.typ.as_deref(), Some("JWT"));
        assert_eq!(j.iss.as_deref(), Some("joe"));
        assert_eq!(j.exp, Some(1_300_819_380));
        assert_eq!(j.exp_utc.as_deref(), Some("2011-03-22T18:43:00Z"));
        assert_eq!(j.signature.len(), 32);
        assert_eq!(
            t.summary(),
            "Bearer JWT alg HS256, iss joe, exp 2011-03-22T18:43:00Z"
        );
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert!(!json.contains("dBjftJeZ4CVP"), "signature leaked: {json}");
    }

    #[test]
    fn opaque_tokens_from_captures() {
        // http-bearer-null-loopback.pcap frame 5 (the RFC 6750 example token).
        let t = parse_token("mF_9.B5f-4.1JqM");
        assert_eq!(t.jwt, None);
        assert_eq!(
            t.anomalies.first().map(|a| a.code),
            Some("bearer.jwt_unreadable")
        );
        let t = parse_token("1gsho83nt3bkmykh5aynw6kzgy");
        assert_eq!(t.summary(), "Bearer opaque token (26 bytes)");
        assert!(t.anomalies.is_empty());
    }

    #[test]
    fn rfc6750_challenge() {
        // RFC 6750 3 example.
        let item = parse_challenges(br#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#)
            .ok()
            .and_then(|p| p.items.into_iter().next())
            .unwrap_or_else(|| panic!("no challenge"));
        let c = parse_challenge(&item);
        assert_eq!(c.error, Some(BearerError::InvalidToken));
        assert_eq!(
            c.summary(),
            "Bearer challenge realm example, error invalid_token (The access token expired)"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[A-Za-z0-9_.-]{0,120}") {
            let _ = parse_token(&s);
        }
    }
}
