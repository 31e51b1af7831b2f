//! MS-NLMP 2.2.1.2 CHALLENGE_MESSAGE (Type 2).

use super::av_pair::{parse_av_pairs, AvPairs, MsvAvId};
use super::reader::Reader;
use super::security_buffer::{overlap_anomalies, payload_start, SecurityBuffer};
use super::{decode_name, NegotiateFlags, Version};
use crate::auth::error::DecodeError;
use crate::auth::secret::hex;
use crate::auth::util::Anomaly;
use serde::Serialize;

/// A decoded Type 2 message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Challenge {
    pub flags: NegotiateFlags,
    /// TargetName, Unicode or OEM as flagged.
    pub target_name: Option<String>,
    /// The 8-byte ServerChallenge, hex (tshark's `ntlmssp.ntlmserverchallenge`).
    pub server_challenge: String,
    /// TargetInfo AV pairs; absent in old (pre-NTLMv2) servers' messages.
    pub target_info: Option<AvPairs>,
    pub version: Option<Version>,
    pub anomalies: Vec<Anomaly>,
}

/// MS-NLMP 2.2.1.2: Signature, MessageType, TargetNameFields (8), NegotiateFlags (4),
/// ServerChallenge (8), Reserved (8), TargetInfoFields (8), Version (8), Payload.
/// Servers that predate TargetInfo end the fixed part after Reserved (32 bytes + 8).
pub(crate) fn parse(msg: &[u8], mut r: Reader<'_>) -> Result<Challenge, DecodeError> {
    let target_buf = SecurityBuffer::parse(&mut r, "TargetNameFields")?;
    let flags = NegotiateFlags(r.u32("NegotiateFlags")?);
    let challenge = r.array8("ServerChallenge")?;
    let mut anomalies = Vec::new();
    // Reserved may be cut short by very old servers that end the message here.
    let reserved = if r.remaining() >= 8 {
        Some(r.bytes(8, "Reserved")?)
    } else {
        None
    };
    if reserved.is_some_and(|b| b.iter().any(|&x| x != 0)) {
        anomalies.push(Anomaly::new(
            "ntlm.challenge.reserved_not_zero",
            "Reserved (the old Context field) is not zero",
        ));
    }
    let target_room = payload_start(&[target_buf], msg.len());
    let info_buf = if r.remaining() >= 8 && target_room >= 48 {
        Some(SecurityBuffer::parse(&mut r, "TargetInfoFields")?)
    } else {
        None
    };
    let mut bufs = vec![target_buf];
    bufs.extend(info_buf);
    let header_end = payload_start(&bufs, msg.len());
    let version = Version::parse_flagged(&mut r, flags, header_end, 56, &mut anomalies)?;
    let target_bytes = target_buf.slice(msg, "TargetName")?;
    let unicode = flags.contains(NegotiateFlags::UNICODE);
    let target_name = (!target_bytes.is_empty())
        .then(|| decode_name(target_bytes, unicode, "TargetName", &mut anomalies));
    let target_info = match info_buf {
        Some(b) => {
            let bytes = b.slice(msg, "TargetInfo")?;
            if flags.contains(NegotiateFlags::TARGET_INFO) || !bytes.is_empty() {
                let pairs = parse_av_pairs(bytes);
                anomalies.extend(pairs.anomalies.iter().cloned());
                Some(pairs)
            } else {
                None
            }
        }
        None => None,
    };
    if flags.contains(NegotiateFlags::TARGET_INFO) && target_info.is_none() {
        anomalies.push(Anomaly::new(
            "ntlm.challenge.target_info_missing",
            "NTLMSSP_NEGOTIATE_TARGET_INFO is set but there is no TargetInfo",
        ));
    }
    let mut named = vec![("TargetName", target_buf)];
    if let Some(b) = info_buf {
        named.push(("TargetInfo", b));
    }
    anomalies.extend(overlap_anomalies(&named, 48));
    Ok(Challenge {
        flags,
        target_name,
        server_challenge: hex(&challenge),
        target_info,
        version,
        anomalies,
    })
}

impl Challenge {
    /// e.g. `NTLM Type 2 challenge 2a2a78a5c7f676fc, target INS`.
    pub fn summary(&self) -> String {
        let mut s = format!("NTLM Type 2 challenge {}", self.server_challenge);
        if let Some(t) = &self.target_name {
            s.push_str(&format!(", target {t}"));
        }
        if let Some(host) = self
            .target_info
            .as_ref()
            .and_then(|i| i.text(MsvAvId::DnsComputerName))
        {
            s.push_str(&format!(", server {host}"));
        }
        s
    }
}
