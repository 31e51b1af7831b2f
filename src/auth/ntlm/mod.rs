//! NTLM (MS-NLMP 2.2): NEGOTIATE, CHALLENGE and AUTHENTICATE messages.
//!
//! Two levels, as in smoltcp: [`SecurityBuffer`] checks each (offset, length) once against
//! the message; the message structs are decoded values with no impossible states.
//! Lengths pointing outside the message are errors naming the field; everything merely odd
//! (overlaps, missing MsvAvEOL, flags that contradict the fields) is an [`Anomaly`].

mod authenticate;
mod av_pair;
mod challenge;
mod flags;
mod negotiate;
pub(crate) mod reader;
mod security_buffer;

pub use authenticate::{Authenticate, LmResponse, NtResponse, NtlmV2Blob, ResponseKind};
pub use av_pair::{parse_av_pairs, AvPair, AvPairs, AvValue, MsvAvId};
pub use challenge::Challenge;
pub use flags::NegotiateFlags;
pub use negotiate::Negotiate;
pub use security_buffer::SecurityBuffer;

use crate::auth::error::{DecodeError, ErrorKind};
use crate::auth::secret::RevealSecrets;
use crate::auth::util::Anomaly;
use reader::Reader;
use serde::Serialize;
use std::fmt;

/// MS-NLMP 2.2.1: every message starts with this.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// True when the bytes start like an NTLM message (used to spot raw NTLMSSP under Negotiate).
pub fn is_ntlmssp(bytes: &[u8]) -> bool {
    bytes.starts_with(SIGNATURE)
}

/// One decoded NTLM message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "message", rename_all = "snake_case")]
pub enum NtlmMessage {
    Negotiate(Negotiate),
    Challenge(Challenge),
    Authenticate(Box<Authenticate>),
}

impl NtlmMessage {
    /// The MessageType value (1, 2 or 3).
    pub fn message_type(&self) -> u32 {
        match self {
            Self::Negotiate(_) => 1,
            Self::Challenge(_) => 2,
            Self::Authenticate(_) => 3,
        }
    }

    /// The NegotiateFlags of any message.
    pub fn flags(&self) -> NegotiateFlags {
        match self {
            Self::Negotiate(m) => m.flags,
            Self::Challenge(m) => m.flags,
            Self::Authenticate(m) => m.flags,
        }
    }

    /// One line for the UI and exports.
    pub fn summary(&self) -> String {
        match self {
            Self::Negotiate(m) => m.summary(),
            Self::Challenge(m) => m.summary(),
            Self::Authenticate(m) => m.summary(),
        }
    }

    /// Everything odd found while decoding.
    pub fn anomalies(&self) -> &[Anomaly] {
        match self {
            Self::Negotiate(m) => &m.anomalies,
            Self::Challenge(m) => &m.anomalies,
            Self::Authenticate(m) => &m.anomalies,
        }
    }
}

impl RevealSecrets for NtlmMessage {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        if let Self::Authenticate(m) = self {
            m.each_secret(f);
        }
    }
}

/// MS-NLMP 2.2.2.10 VERSION: ProductMajorVersion (1), ProductMinorVersion (1),
/// ProductBuild (2), Reserved (3), NTLMRevisionCurrent (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub build: u16,
    pub ntlm_revision: u8,
}

impl Version {
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let major = r.u8("ProductMajorVersion")?;
        let minor = r.u8("ProductMinorVersion")?;
        let build = r.u16("ProductBuild")?;
        let _reserved = r.bytes(3, "Reserved")?;
        let ntlm_revision = r.u8("NTLMRevisionCurrent")?;
        Ok(Self {
            major,
            minor,
            build,
            ntlm_revision,
        })
    }

    /// VERSION in a NEGOTIATE or CHALLENGE message: there only when the flag asks for it, and
    /// then only when the fields before the payload leave room for it, up to `end`.
    pub(crate) fn parse_flagged(
        r: &mut Reader<'_>,
        flags: NegotiateFlags,
        header_end: u64,
        end: u64,
        anomalies: &mut Vec<Anomaly>,
    ) -> Result<Option<Self>, DecodeError> {
        if !flags.contains(NegotiateFlags::VERSION) {
            return Ok(None);
        }
        if header_end >= end && r.remaining() >= 8 {
            return Ok(Some(Self::parse(r)?));
        }
        anomalies.push(Self::no_room());
        Ok(None)
    }

    /// The flag asks for VERSION where the header has no room for it.
    pub(crate) fn no_room() -> Anomaly {
        Anomaly::new(
            "ntlm.version.flag_without_field",
            "NTLMSSP_NEGOTIATE_VERSION is set but the header has no room for VERSION",
        )
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{} (NTLM revision {})",
            self.major, self.minor, self.build, self.ntlm_revision
        )
    }
}

/// Decodes one NTLM message (MS-NLMP 2.2.1): Signature (8), MessageType (4), then the
/// type's own fields. This is the entry point for fuzzing.
pub fn parse(bytes: &[u8]) -> Result<NtlmMessage, DecodeError> {
    let mut r = Reader::new(bytes);
    let sig = r.bytes(8, "Signature")?;
    if sig != SIGNATURE {
        return Err(DecodeError::new(ErrorKind::BadSignature, "Signature", 0));
    }
    let at = r.offset();
    match r.u32("MessageType")? {
        1 => negotiate::parse(bytes, r).map(NtlmMessage::Negotiate),
        2 => challenge::parse(bytes, r).map(NtlmMessage::Challenge),
        3 => authenticate::parse(bytes, r).map(|m| NtlmMessage::Authenticate(Box::new(m))),
        value => Err(DecodeError::new(
            ErrorKind::UnknownMessageType { value },
            "MessageType",
            at,
        )),
    }
}

/// What could be read before a fault: type and flags, for the `Malformed` display.
pub fn partial(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut r = Reader::new(bytes);
    if r.bytes(8, "Signature").ok() != Some(SIGNATURE.as_slice()) {
        return out;
    }
    out.push("NTLMSSP signature".to_string());
    let Ok(t) = r.u32("MessageType") else {
        return out;
    };
    out.push(format!("MessageType {t}"));
    // NegotiateFlags sit at 12 (Type 1), 20 (Type 2) or 60 (Type 3).
    let at = match t {
        1 => 12usize,
        2 => 20,
        3 => 60,
        _ => return out,
    };
    if let Some(b) = bytes.get(at..at.saturating_add(4)) {
        if let Ok(a) = <[u8; 4]>::try_from(b) {
            out.push(format!(
                "NegotiateFlags {}",
                NegotiateFlags(u32::from_le_bytes(a))
            ));
        }
    }
    out
}

/// Decodes a name as the flags say: UTF-16LE under NTLMSSP_NEGOTIATE_UNICODE, else OEM.
pub(crate) fn decode_name(
    bytes: &[u8],
    unicode: bool,
    field: &'static str,
    anomalies: &mut Vec<Anomaly>,
) -> String {
    if unicode {
        let (s, clean) = crate::auth::util::utf16le(bytes);
        if !clean {
            anomalies.push(Anomaly::new(
                "ntlm.name.bad_utf16",
                format!("{field} is not valid UTF-16LE ({} bytes)", bytes.len()),
            ));
        }
        s
    } else {
        crate::auth::util::latin1(bytes)
    }
}

#[cfg(test)]
mod tests;
