//! Secrets (passwords, challenge responses, session keys, cipher text, signatures) that
//! must not reach a screen or a file unless the user asked for it.
//!
//! A [`Secret`] prints and serializes as `<redacted N bytes>`. Revealing is a deliberate
//! act on the decoded value ([`RevealSecrets::reveal_secrets`]), so a decoder never needs
//! to know the user's choice and no output path can forget to redact. An analysis that will
//! not reveal drops the values once decoded ([`RevealSecrets::forget_secrets`]): the length
//! is all it shows, and open handshakes then hold no credentials.

use serde::{Serialize, Serializer};
use std::fmt;

/// What a header field's value hides: the one list that the report's redaction and the
/// pcapng slice's masking both read, so the two cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretField {
    /// `credentials` (RFC 9110 11.6.2): everything after the scheme (the whole value when
    /// no scheme is in front, a bare JWT).
    Credentials,
    /// `#challenge` (RFC 9110 11.6.1): a `Negotiate` or `Kerberos` token, which can carry a
    /// Kerberos AP-REP (cipher text, a session subkey) or a mechListMIC.
    Challenges,
    /// `#auth-param` (RFC 7616 3.5): Digest's `rspauth`, computed from the password.
    Info,
    /// The whole value: session cookies (RFC 6265 4).
    Whole,
}

/// Header fields (lowercase) whose values hold secrets, and what of them.
pub const SECRET_HEADERS: [(&str, SecretField); 8] = [
    ("authorization", SecretField::Credentials),
    ("proxy-authorization", SecretField::Credentials),
    ("www-authenticate", SecretField::Challenges),
    ("proxy-authenticate", SecretField::Challenges),
    ("authentication-info", SecretField::Info),
    ("proxy-authentication-info", SecretField::Info),
    ("cookie", SecretField::Whole),
    ("set-cookie", SecretField::Whole),
];

/// The schemes whose challenge carries a token that can hold a secret: a Kerberos AP-REP
/// (cipher text, a session subkey) or a SPNEGO mechListMIC.
pub fn challenge_token_scheme(scheme: &[u8]) -> bool {
    scheme.eq_ignore_ascii_case(b"negotiate") || scheme.eq_ignore_ascii_case(b"kerberos")
}

/// What the header field `name` hides, if it is one of [`SECRET_HEADERS`].
pub fn secret_field(name: &[u8]) -> Option<SecretField> {
    SECRET_HEADERS
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|(_, f)| *f)
}

/// Bytes or text that are redacted when displayed or serialized, unless revealed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T: SecretValue> {
    held: Held<T>,
    revealed: bool,
}

#[derive(Clone, PartialEq, Eq)]
enum Held<T> {
    Value(T),
    /// Dropped by [`RevealSecrets::forget_secrets`]: only its length is left.
    Forgotten(usize),
}

/// What a [`Secret`] may hold: something with a length and a revealed form.
pub trait SecretValue: Clone + PartialEq {
    /// Length in bytes, the only thing shown while redacted.
    fn secret_len(&self) -> usize;
    /// The revealed form used by `Display` and `Serialize` (hex for bytes).
    fn revealed_text(&self) -> String;
}

impl SecretValue for Vec<u8> {
    fn secret_len(&self) -> usize {
        self.len()
    }
    fn revealed_text(&self) -> String {
        hex(self)
    }
}

impl SecretValue for String {
    fn secret_len(&self) -> usize {
        self.len()
    }
    fn revealed_text(&self) -> String {
        self.clone()
    }
}

impl<T: SecretValue> Secret<T> {
    /// Wraps a value; it starts redacted.
    pub fn new(value: T) -> Self {
        Self {
            held: Held::Value(value),
            revealed: false,
        }
    }

    /// The value itself (`None` once forgotten). Callers use this to compute (lengths,
    /// kinds), never to print.
    pub fn reveal(&self) -> Option<&T> {
        match &self.held {
            Held::Value(v) => Some(v),
            Held::Forgotten(_) => None,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match &self.held {
            Held::Value(v) => v.secret_len(),
            Held::Forgotten(n) => *n,
        }
    }

    /// True when the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `Display`/`Serialize` show the value.
    pub fn is_revealed(&self) -> bool {
        self.revealed
    }

    /// Lets `Display`/`Serialize` show the value (`--reveal-secrets`).
    pub fn set_revealed(&mut self, revealed: bool) {
        self.revealed = revealed;
    }

    /// Drops the value, keeping its length.
    pub fn forget(&mut self) {
        self.held = Held::Forgotten(self.len());
    }
}

impl<T: SecretValue> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.held, self.revealed) {
            (Held::Value(v), true) => f.write_str(&v.revealed_text()),
            // A forgotten value cannot be shown, revealed or not.
            _ => write!(f, "<redacted {} bytes>", self.len()),
        }
    }
}

// Debug is redacted too: a stray `{:?}` in a log must not leak a password.
impl<T: SecretValue> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T: SecretValue> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One [`Secret`], whatever it holds, as [`RevealSecrets::each_secret`] hands it out.
pub trait SecretSlot {
    fn set_revealed(&mut self, revealed: bool);
    /// Drops the value, keeping its length.
    fn forget(&mut self);
}

impl<T: SecretValue> SecretSlot for Secret<T> {
    fn set_revealed(&mut self, revealed: bool) {
        Secret::set_revealed(self, revealed);
    }
    fn forget(&mut self) {
        Secret::forget(self);
    }
}

/// What [`RevealSecrets::each_secret`] calls on every secret.
pub type EachSecret<'a> = dyn FnMut(&mut dyn SecretSlot) + 'a;

/// Implemented by every decoded type that holds a [`Secret`], directly or inside.
pub trait RevealSecrets {
    /// Hands every secret inside to `f`.
    fn each_secret(&mut self, f: &mut EachSecret<'_>);

    /// Marks every secret inside as revealed.
    fn reveal_secrets(&mut self) {
        self.each_secret(&mut |s| s.set_revealed(true));
    }

    /// Drops every secret's value, keeping its length: what an analysis that will not reveal
    /// them does once they are decoded, so they are neither held nor copied for nothing.
    fn forget_secrets(&mut self) {
        self.each_secret(&mut |s| s.forget());
    }
}

impl<T: SecretValue> RevealSecrets for Secret<T> {
    fn each_secret(&mut self, f: &mut EachSecret<'_>) {
        f(self);
    }
}

impl<T: RevealSecrets> RevealSecrets for Option<T> {
    fn each_secret(&mut self, f: &mut EachSecret<'_>) {
        if let Some(v) = self {
            v.each_secret(f);
        }
    }
}

impl<T: RevealSecrets> RevealSecrets for Vec<T> {
    fn each_secret(&mut self, f: &mut EachSecret<'_>) {
        for v in self {
            v.each_secret(f);
        }
    }
}

impl<T: RevealSecrets> RevealSecrets for Box<T> {
    fn each_secret(&mut self, f: &mut EachSecret<'_>) {
        (**self).each_secret(f);
    }
}

/// Lower-case hex, the form tshark and pyspnego print.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |n: u8| char::from(DIGITS.get(usize::from(n)).copied().unwrap_or(b'0'));
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0xf));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_unless_revealed() {
        let mut s = Secret::new(b"hunter2".to_vec());
        assert_eq!(s.to_string(), "<redacted 7 bytes>");
        assert_eq!(format!("{s:?}"), "<redacted 7 bytes>");
        assert_eq!(
            serde_json::to_string(&s).ok().as_deref(),
            Some("\"<redacted 7 bytes>\"")
        );
        s.reveal_secrets();
        assert_eq!(s.to_string(), "68756e74657232");
        let mut p = Secret::new("pw".to_string());
        p.reveal_secrets();
        assert_eq!(serde_json::to_string(&p).ok().as_deref(), Some("\"pw\""));
    }

    #[test]
    fn a_forgotten_secret_keeps_its_length_and_cannot_be_revealed() {
        let mut s = Secret::new(b"hunter2".to_vec());
        s.forget_secrets();
        assert_eq!(s.len(), 7);
        assert_eq!(s.reveal(), None);
        assert_eq!(s.to_string(), "<redacted 7 bytes>");
        s.reveal_secrets();
        assert!(s.is_revealed());
        assert_eq!(s.to_string(), "<redacted 7 bytes>");
    }

    proptest::proptest! {
        #[test]
        fn hex_is_lower_case_two_digits_a_byte(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(super::hex(&bytes), want);
        }
    }
}
