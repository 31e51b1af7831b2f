//! How the model writes two kinds of values, for any serde serializer.
//!
//! - Socket addresses as serde writes them (their `Display`), an IPv4 one digit by digit:
//!   through the formatting machinery it costs some 1 500 instructions, and every exchange,
//!   leg and connection has two.
//! - A value that several parts of the model hold by one `Arc` (a leg and its exchange share
//!   their decoded auth headers) is written as the value itself, inside a newtype struct named
//!   [`SHARED_NAME`]. Serde's serializers write a newtype struct as its content; one that
//!   writes the same value more than once may take the value's identity from [`offered`]
//!   there, and copy what it wrote the first time.

use std::any::Any;
use std::cell::RefCell;
use std::sync::{Arc, Weak};

use serde::ser::{Serialize, Serializer};

/// The name of the newtype struct a shared value is written in.
pub const SHARED_NAME: &str = "$authscope::Shared";

/// A shared value's identity: it lives while the value does, and its address is the value's.
pub type Identity = Weak<dyn Any + Send + Sync>;

thread_local! {
    /// The identity of the shared value whose newtype struct is being written.
    static OFFERED: RefCell<Option<Identity>> = const { RefCell::new(None) };
}

/// In a serializer's `serialize_newtype_struct` named [`SHARED_NAME`]: the value's identity,
/// taken (asked twice, the second answer is `None`).
pub fn offered() -> Option<Identity> {
    OFFERED.take()
}

/// `serialize_with` for an `Option<Arc<T>>` that other parts of the model may hold too.
///
/// The value must not change while shared (an `Arc` is changed only through
/// `Arc::make_mut`, which copies a shared one).
pub fn shared<T, S>(value: &Option<Arc<T>>, s: S) -> Result<S::Ok, S::Error>
where
    T: Serialize + Any + Send + Sync,
    S: Serializer,
{
    match value {
        Some(v) => s.serialize_some(&Shared(v)),
        None => s.serialize_none(),
    }
}

struct Shared<'a, T>(&'a Arc<T>);

impl<T: Serialize + Any + Send + Sync> Serialize for Shared<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let weak: Weak<T> = Arc::downgrade(self.0);
        OFFERED.set(Some(weak));
        s.serialize_newtype_struct(SHARED_NAME, &Content(self.0))
    }
}

/// The newtype's content: the value. A serializer that did not take the identity leaves it
/// here, where it is dropped.
struct Content<'a, T>(&'a Arc<T>);

impl<T: Serialize> Serialize for Content<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        OFFERED.set(None);
        self.0.serialize(s)
    }
}

/// `serialize_with` for a `SocketAddr`: what serde writes, an IPv4 one without `fmt`.
pub fn socket_addr<S: Serializer>(a: &std::net::SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    let std::net::SocketAddr::V4(v4) = a else {
        return a.serialize(s);
    };
    if !s.is_human_readable() {
        return a.serialize(s);
    }
    // "255.255.255.255:65535"
    let mut text = [0u8; 21];
    let mut len = 0usize;
    let mut put = |bytes: &[u8]| {
        let end = len.saturating_add(bytes.len());
        if let Some(slot) = text.get_mut(len..end) {
            slot.copy_from_slice(bytes);
            len = end;
        }
    };
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            put(b".");
        }
        put(itoa::Buffer::new().format(octet).as_bytes());
    }
    put(b":");
    put(itoa::Buffer::new().format(v4.port()).as_bytes());
    match text.get(..len).map(std::str::from_utf8) {
        Some(Ok(t)) => s.serialize_str(t),
        _ => a.serialize(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Two {
        #[serde(serialize_with = "shared")]
        a: Option<Arc<String>>,
        #[serde(serialize_with = "shared")]
        b: Option<Arc<String>>,
        #[serde(serialize_with = "socket_addr")]
        at: std::net::SocketAddr,
    }

    #[test]
    fn any_serializer_writes_the_values_themselves() {
        let v = Arc::new("x\"y".to_string());
        let two = Two {
            a: Some(Arc::clone(&v)),
            b: Some(v),
            at: "10.0.0.1:80".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&two).unwrap(),
            r#"{"a":"x\"y","b":"x\"y","at":"10.0.0.1:80"}"#
        );
        // The identity a serializer leaves is dropped with the value written.
        assert!(offered().is_none());
    }
}
