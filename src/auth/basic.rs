//! Basic (RFC 7617): a realm in the challenge, `base64(user-id ":" password)` in the
//! credentials. The password is a [`Secret`].

use crate::auth::error::{DecodeError, ErrorKind};
use crate::auth::header::AuthItem;
use crate::auth::secret::{RevealSecrets, Secret};
use crate::auth::util::{latin1, Anomaly};
use serde::Serialize;

/// RFC 7617 2: `Basic realm="..." [, charset="UTF-8"]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicChallenge {
    pub realm: Option<String>,
    pub charset: Option<String>,
    pub anomalies: Vec<Anomaly>,
}

/// RFC 7617 2: the decoded user-pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicCredentials {
    pub user: String,
    pub password: Secret<String>,
    pub anomalies: Vec<Anomaly>,
}

impl RevealSecrets for BasicCredentials {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        self.password.each_secret(f);
    }
}

/// RFC 7617 2: challenge params (realm is REQUIRED, charset optional and only "UTF-8").
pub fn parse_challenge(item: &AuthItem) -> BasicChallenge {
    let mut anomalies = Vec::new();
    let realm = item.value("realm").map(str::to_string);
    if realm.is_none() {
        anomalies.push(Anomaly::new(
            "basic.challenge.no_realm",
            "Basic challenge without the required realm",
        ));
    }
    let charset = item.value("charset").map(str::to_string);
    if charset
        .as_deref()
        .is_some_and(|c| !c.eq_ignore_ascii_case("UTF-8"))
    {
        anomalies.push(Anomaly::new(
            "basic.challenge.bad_charset",
            "charset other than UTF-8 (RFC 7617 2.1 allows only UTF-8)",
        ));
    }
    BasicChallenge {
        realm,
        charset,
        anomalies,
    }
}

/// RFC 7617 2: `token68 = base64(user-id ":" password)`; the first colon splits.
pub fn parse_credentials(token68: &str) -> Result<BasicCredentials, DecodeError> {
    let bytes = crate::auth::decode_base64(token68, "token68")?;
    let mut anomalies = Vec::new();
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            anomalies.push(Anomaly::new(
                "basic.not_utf8",
                "user-pass is not UTF-8; shown as Latin-1",
            ));
            latin1(e.as_bytes())
        }
    };
    let Some((user, password)) = text.split_once(':') else {
        return Err(DecodeError::new(
            ErrorKind::Invalid {
                detail: "user-pass has no colon".to_string(),
            },
            "user-pass",
            0,
        ));
    };
    if user.is_empty() {
        anomalies.push(Anomaly::new("basic.empty_user", "empty user-id"));
    }
    Ok(BasicCredentials {
        user: user.to_string(),
        password: Secret::new(password.to_string()),
        anomalies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_captures() {
        // http-digest-then-basic.pcapng frame 20: max:openwall2.
        let c = parse_credentials("bWF4Om9wZW53YWxsMg==").ok();
        assert_eq!(c.as_ref().map(|c| c.user.as_str()), Some("max"));
        assert_eq!(
            c.as_ref().map(|c| c.password.to_string()),
            Some("<redacted 9 bytes>".to_string())
        );
        assert_eq!(
            c.and_then(|c| c.password.reveal().cloned()),
            Some("openwall2".to_string())
        );
        // http-basic-double-space.pcap: test:1234.
        assert_eq!(
            parse_credentials("dGVzdDoxMjM0").ok().map(|c| c.user),
            Some("test".to_string())
        );
        // The password may itself hold colons (RFC 7617 2).
        let c = parse_credentials("YTpiOmM=").ok();
        assert_eq!(
            c.and_then(|c| c.password.reveal().cloned()),
            Some("b:c".to_string())
        );
    }

    #[test]
    fn bad_credentials() {
        assert!(matches!(
            parse_credentials("bm9jb2xvbg==").err().map(|e| e.kind),
            Some(ErrorKind::Invalid { .. })
        ));
        assert_eq!(
            parse_credentials("!!!").err().map(|e| e.kind),
            Some(ErrorKind::Base64)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,100}") {
            let _ = parse_credentials(&s);
        }
    }
}
