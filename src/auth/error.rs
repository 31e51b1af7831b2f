//! Typed decode errors: every fault names the field being read and the byte offset.

use serde::Serialize;

/// Why a decoder stopped. Offsets are into the decoded token (after base64), or into the
/// header value for the header grammar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind} (field {field}, offset {offset})")]
pub struct DecodeError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The spec name of the field being read when the fault was found.
    pub field: &'static str,
    /// Byte offset of that field from the start of the token.
    pub offset: usize,
}

impl DecodeError {
    pub(crate) fn new(kind: ErrorKind, field: &'static str, offset: usize) -> Self {
        Self {
            kind,
            field,
            offset,
        }
    }

    pub(crate) fn truncated(field: &'static str, offset: usize) -> Self {
        Self::new(ErrorKind::Truncated, field, offset)
    }
}

/// The kinds of decode fault; new kinds may be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input ends before the field does.
    #[error("truncated")]
    Truncated,
    /// The token does not start with the signature its scheme requires.
    #[error("bad signature")]
    BadSignature,
    /// A message type this decoder does not know.
    #[error("unknown message type {value}")]
    UnknownMessageType { value: u32 },
    /// An (offset, length) pair points outside the message.
    #[error("buffer at offset {buffer_offset} with length {len} lies outside the {message_len}-byte message")]
    OutOfBounds {
        buffer_offset: u32,
        len: u16,
        message_len: usize,
    },
    /// The token is not valid base64.
    #[error("not valid base64")]
    Base64,
    /// The ASN.1 DER/BER structure is broken.
    #[error("bad ASN.1: {detail}")]
    Asn1 { detail: String },
    /// A tag other than the one the spec requires here.
    #[error("unexpected tag: expected {expected}, found {found}")]
    UnexpectedTag {
        expected: &'static str,
        found: String,
    },
    /// The header grammar could not be followed.
    #[error("bad syntax: {detail}")]
    Syntax { detail: String },
    /// Nesting deeper than the decoder allows.
    #[error("nesting too deep")]
    TooDeep,
    /// The value does not have the form the spec requires.
    #[error("invalid value: {detail}")]
    Invalid { detail: String },
}
