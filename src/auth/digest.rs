//! Digest (RFC 7616): every parameter of the challenge (3.3) and of the response (3.4).

use crate::auth::error::{DecodeError, ErrorKind};
use crate::auth::header::{AuthItem, AuthParam};
use crate::auth::secret::{RevealSecrets, Secret};
use crate::auth::util::Anomaly;
use serde::{Serialize, Serializer};
use std::fmt;

/// RFC 7616 3.3 `algorithm`, with the registered values of 6.1 and Unknown kept by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
    Sha512_256,
    Sha512_256Sess,
    Unknown(String),
}

impl Algorithm {
    pub fn from_name(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Self::Md5,
            "MD5-SESS" => Self::Md5Sess,
            "SHA-256" => Self::Sha256,
            "SHA-256-SESS" => Self::Sha256Sess,
            "SHA-512-256" => Self::Sha512_256,
            "SHA-512-256-SESS" => Self::Sha512_256Sess,
            _ => Self::Unknown(s.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// RFC 7616 3.3 `qop-options` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qop {
    Auth,
    AuthInt,
    Unknown(String),
}

impl Qop {
    pub fn from_name(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "auth" => Self::Auth,
            "auth-int" => Self::AuthInt,
            _ => Self::Unknown(s.to_string()),
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
            Self::Unknown(s) => s,
        }
    }
}

impl Serialize for Qop {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// RFC 7616 3.3 WWW-Authenticate Digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestChallenge {
    pub realm: Option<String>,
    /// Space-separated URIs of the protection space.
    pub domain: Vec<String>,
    pub nonce: Option<String>,
    pub opaque: Option<String>,
    /// `stale=true`: the nonce expired, the password was fine; retry with the new nonce.
    pub stale: bool,
    pub algorithm: Option<Algorithm>,
    pub qop: Vec<Qop>,
    pub charset: Option<String>,
    pub userhash: bool,
    /// Params the RFC does not define, kept as sent.
    pub other: Vec<AuthParam>,
    pub anomalies: Vec<Anomaly>,
}

/// RFC 7616 3.4 Authorization Digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestResponse {
    pub username: Option<String>,
    /// `username*` (RFC 8187 ext-value), kept as sent.
    pub username_ext: Option<String>,
    pub realm: Option<String>,
    pub uri: Option<String>,
    /// The request-digest: derived from the password, so a secret.
    pub response: Option<Secret<String>>,
    pub algorithm: Option<Algorithm>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<Qop>,
    /// nonce-count, parsed from its 8 hex digits.
    pub nc: Option<u32>,
    pub nonce: Option<String>,
    pub userhash: bool,
    pub other: Vec<AuthParam>,
    pub anomalies: Vec<Anomaly>,
}

impl RevealSecrets for DigestResponse {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        self.response.each_secret(f);
    }
}

fn boolean(v: &str) -> bool {
    v.eq_ignore_ascii_case("true")
}

fn require(item: &AuthItem, names: &[&str], code: &'static str, anomalies: &mut Vec<Anomaly>) {
    for n in names {
        if item.param(n).is_none() {
            anomalies.push(Anomaly::new(
                code,
                format!("required parameter {n} is missing"),
            ));
        }
    }
}

fn token68_is_error(item: &AuthItem) -> Result<(), DecodeError> {
    if item.token68.is_some() {
        return Err(DecodeError::new(
            ErrorKind::Syntax {
                detail: "Digest takes auth-params, not a token68".to_string(),
            },
            "auth-param",
            item.offset,
        ));
    }
    Ok(())
}

/// RFC 7616 3.3: the challenge parameters.
pub fn parse_challenge(item: &AuthItem) -> Result<DigestChallenge, DecodeError> {
    token68_is_error(item)?;
    let mut c = DigestChallenge {
        realm: None,
        domain: Vec::new(),
        nonce: None,
        opaque: None,
        stale: false,
        algorithm: None,
        qop: Vec::new(),
        charset: None,
        userhash: false,
        other: Vec::new(),
        anomalies: Vec::new(),
    };
    require(
        item,
        &["realm", "nonce"],
        "digest.challenge.missing",
        &mut c.anomalies,
    );
    for p in &item.params {
        let v = p.value.clone();
        match p.name.to_ascii_lowercase().as_str() {
            "realm" => c.realm = Some(v),
            "domain" => c.domain = v.split_whitespace().map(str::to_string).collect(),
            "nonce" => c.nonce = Some(v),
            "opaque" => c.opaque = Some(v),
            "stale" => c.stale = boolean(&v),
            "algorithm" => c.algorithm = Some(Algorithm::from_name(&v)),
            "qop" => {
                c.qop = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Qop::from_name)
                    .collect();
            }
            "charset" => c.charset = Some(v),
            "userhash" => c.userhash = boolean(&v),
            _ => c.other.push(p.clone()),
        }
    }
    if c.qop.is_empty() {
        // RFC 7616 3.3 makes qop REQUIRED; RFC 2069 servers omit it.
        c.anomalies.push(Anomaly::new(
            "digest.challenge.no_qop",
            "no qop: RFC 2069 compatibility mode, weaker than RFC 7616",
        ));
    }
    Ok(c)
}

/// RFC 7616 3.4: the response parameters.
pub fn parse_response(item: &AuthItem) -> Result<DigestResponse, DecodeError> {
    token68_is_error(item)?;
    let mut r = DigestResponse {
        username: None,
        username_ext: None,
        realm: None,
        uri: None,
        response: None,
        algorithm: None,
        cnonce: None,
        opaque: None,
        qop: None,
        nc: None,
        nonce: None,
        userhash: false,
        other: Vec::new(),
        anomalies: Vec::new(),
    };
    require(
        item,
        &["realm", "nonce", "uri", "response"],
        "digest.response.missing",
        &mut r.anomalies,
    );
    if item.param("username").is_none() && item.param("username*").is_none() {
        r.anomalies.push(Anomaly::new(
            "digest.response.missing",
            "required parameter username is missing",
        ));
    }
    for p in &item.params {
        let v = p.value.clone();
        let name = p.name.to_ascii_lowercase();
        // RFC 7616 3.4: these are tokens, never quoted; some clients quote them anyway.
        if p.quoted && matches!(name.as_str(), "algorithm" | "qop" | "nc") {
            r.anomalies.push(Anomaly::new(
                "digest.response.quoted_token",
                format!("{} is quoted; RFC 7616 sends it as a token", p.name),
            ));
        }
        match name.as_str() {
            "username" => r.username = Some(v),
            "username*" => r.username_ext = Some(v),
            "realm" => r.realm = Some(v),
            "uri" => r.uri = Some(v),
            "response" => r.response = Some(Secret::new(v)),
            "algorithm" => r.algorithm = Some(Algorithm::from_name(&v)),
            "cnonce" => r.cnonce = Some(v),
            "opaque" => r.opaque = Some(v),
            "qop" => r.qop = Some(Qop::from_name(&v)),
            "nc" => {
                r.nc = u32::from_str_radix(&v, 16).ok();
                if v.len() != 8 || r.nc.is_none() {
                    r.anomalies.push(Anomaly::new(
                        "digest.response.bad_nc",
                        format!("nc {v:?} is not 8 hex digits"),
                    ));
                }
            }
            "nonce" => r.nonce = Some(v),
            "userhash" => r.userhash = boolean(&v),
            _ => r.other.push(p.clone()),
        }
    }
    if r.qop.is_some() && (r.cnonce.is_none() || r.nc.is_none()) {
        r.anomalies.push(Anomaly::new(
            "digest.response.qop_without_cnonce",
            "qop is set but cnonce or nc is missing",
        ));
    }
    Ok(r)
}

impl DigestChallenge {
    /// e.g. `Digest challenge realm testrealm@example.org, MD5, qop auth`.
    pub fn summary(&self) -> String {
        let mut s = "Digest challenge".to_string();
        if let Some(r) = &self.realm {
            s.push_str(&format!(" realm {r}"));
        }
        if let Some(a) = &self.algorithm {
            s.push_str(&format!(", {a}"));
        }
        if !self.qop.is_empty() {
            let q: Vec<&str> = self.qop.iter().map(Qop::name).collect();
            s.push_str(&format!(", qop {}", q.join(",")));
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }
}

impl DigestResponse {
    /// e.g. `Digest response user john, realm testrealm@example.org, uri /digest/, nc 1`.
    pub fn summary(&self) -> String {
        let mut s = "Digest response".to_string();
        if let Some(u) = self.username.as_ref().or(self.username_ext.as_ref()) {
            s.push_str(&format!(" user {u}"));
        }
        if let Some(r) = &self.realm {
            s.push_str(&format!(", realm {r}"));
        }
        if let Some(u) = &self.uri {
            s.push_str(&format!(", uri {u}"));
        }
        if let Some(nc) = self.nc {
            s.push_str(&format!(", nc {nc}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::header::parse_challenges;

    fn item(v: &str) -> AuthItem {
        parse_challenges(v.as_bytes())
            .ok()
            .and_then(|p| p.items.into_iter().next())
            .unwrap_or_else(|| panic!("no item in {v}"))
    }

    #[test]
    fn challenge_from_capture() {
        // http-digest-then-basic.pcapng frame 9.
        let c = parse_challenge(&item(r#"Digest realm="testrealm@example.org", nonce="IeESkaUcBgA=180db953ae3b29eb87bccf3a9b44d2de861708cb", algorithm=MD5, domain="/digest/ http://192.168.122.8/digest/", qop="auth""#)).ok();
        let c = c.unwrap_or_else(|| panic!("challenge"));
        assert_eq!(c.realm.as_deref(), Some("testrealm@example.org"));
        assert_eq!(c.algorithm, Some(Algorithm::Md5));
        assert_eq!(c.qop, vec![Qop::Auth]);
        assert_eq!(c.domain, ["/digest/", "http://192.168.122.8/digest/"]);
        assert!(!c.stale);
        assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
        assert_eq!(
            c.summary(),
            "Digest challenge realm testrealm@example.org, MD5, qop auth"
        );
    }

    #[test]
    fn response_from_capture() {
        // http-digest-then-basic.pcapng frame 11.
        let r = parse_response(&item(r#"Digest username="john", realm="testrealm@example.org", nonce="IeESkaUcBgA=180db953ae3b29eb87bccf3a9b44d2de861708cb", uri="/digest/", algorithm=MD5, response="d74e6753c14e2cf2598b6940861e1a82", qop=auth, nc=00000001, cnonce="351c42b56eae21f0""#)).ok();
        let r = r.unwrap_or_else(|| panic!("response"));
        assert_eq!(r.username.as_deref(), Some("john"));
        assert_eq!(r.nc, Some(1));
        assert_eq!(r.qop, Some(Qop::Auth));
        assert_eq!(r.cnonce.as_deref(), Some("351c42b56eae21f0"));
        assert_eq!(r.response.as_ref().map(Secret::len), Some(32));
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
        // http-digest-anonymized.pcap frame 4 quotes algorithm and qop.
        let r = parse_response(&item(r#"Digest username="user12345678@domain.xxxx",realm="xxxxxxx",nonce="xxxxxxxxxxxxxxxx",uri="/xxxxxxxxxxxxxxxxxxxxxxxxxxx/xxxx/xxxxxxxxxxxxxxxxxxxxxxxx",algorithm="MD5",cnonce="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",nc=00000003,qop="auth",response="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",opaque="""#)).ok();
        let r = r.unwrap_or_else(|| panic!("response"));
        assert_eq!(r.nc, Some(3));
        assert_eq!(r.opaque.as_deref(), Some(""));
        let codes: Vec<_> = r.anomalies.iter().map(|a| a.code).collect();
        assert_eq!(
            codes,
            [
                "digest.response.quoted_token",
                "digest.response.quoted_token"
            ]
        );
    }

    #[test]
    fn stale_challenge() {
        let c = parse_challenge(&item(r#"Digest realm="r", nonce="n2", stale=TRUE, qop="auth,auth-int", algorithm=SHA-256, userhash=true"#)).ok();
        let c = c.unwrap_or_else(|| panic!("challenge"));
        assert!(c.stale);
        assert!(c.userhash);
        assert_eq!(c.qop, vec![Qop::Auth, Qop::AuthInt]);
        assert_eq!(c.algorithm, Some(Algorithm::Sha256));
    }
}
