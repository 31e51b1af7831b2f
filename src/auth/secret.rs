//! Secrets (passwords, challenge responses, session keys, cipher text, signatures) that
//! must not reach a screen or a file unless the user asked for it.
//!
//! A [`Secret`] prints and serializes as `<redacted N bytes>`. Revealing is a deliberate
//! act on the decoded value ([`RevealSecrets::reveal_secrets`]), so a decoder never needs
//! to know the user's choice and no output path can forget to redact.

use serde::{Serialize, Serializer};
use std::fmt;

/// Bytes or text that are redacted when displayed or serialized, unless revealed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T: SecretValue> {
    value: T,
    revealed: bool,
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
            value,
            revealed: false,
        }
    }

    /// The value itself. Callers use this to compute (lengths, kinds), never to print.
    pub fn reveal(&self) -> &T {
        &self.value
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.value.secret_len()
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
}

impl<T: SecretValue> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revealed {
            f.write_str(&self.value.revealed_text())
        } else {
            write!(f, "<redacted {} bytes>", self.len())
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

/// Implemented by every decoded type that holds a [`Secret`], directly or inside.
pub trait RevealSecrets {
    /// Marks every secret inside as revealed.
    fn reveal_secrets(&mut self);
}

impl<T: SecretValue> RevealSecrets for Secret<T> {
    fn reveal_secrets(&mut self) {
        self.revealed = true;
    }
}

impl<T: RevealSecrets> RevealSecrets for Option<T> {
    fn reveal_secrets(&mut self) {
        if let Some(v) = self {
            v.reveal_secrets();
        }
    }
}

impl<T: RevealSecrets> RevealSecrets for Vec<T> {
    fn reveal_secrets(&mut self) {
        for v in self {
            v.reveal_secrets();
        }
    }
}

impl<T: RevealSecrets> RevealSecrets for Box<T> {
    fn reveal_secrets(&mut self) {
        (**self).reveal_secrets();
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

    proptest::proptest! {
        #[test]
        fn hex_is_lower_case_two_digits_a_byte(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(super::hex(&bytes), want);
        }
    }
}
