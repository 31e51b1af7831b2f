//! MS-NLMP 2.2.1.1 NEGOTIATE_MESSAGE (Type 1).

use super::reader::Reader;
use super::security_buffer::{overlap_anomalies, payload_start, SecurityBuffer};
use super::{decode_name, NegotiateFlags, Version};
use crate::auth::error::DecodeError;
use crate::auth::util::Anomaly;
use serde::Serialize;

/// A decoded Type 1 message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Negotiate {
    pub flags: NegotiateFlags,
    /// DomainName, OEM (the client does not know the charset yet).
    pub domain: Option<String>,
    /// Workstation, OEM.
    pub workstation: Option<String>,
    pub version: Option<Version>,
    pub anomalies: Vec<Anomaly>,
}

/// MS-NLMP 2.2.1.1: Signature, MessageType, NegotiateFlags (4), DomainNameFields (8),
/// WorkstationFields (8), Version (8, when NTLMSSP_NEGOTIATE_VERSION), Payload.
/// Old clients send a 16-byte message without the two field blocks.
pub(crate) fn parse(msg: &[u8], mut r: Reader<'_>) -> Result<Negotiate, DecodeError> {
    let flags = NegotiateFlags(r.u32("NegotiateFlags")?);
    let mut anomalies = Vec::new();
    if r.remaining() == 0 {
        anomalies.push(Anomaly::new(
            "ntlm.negotiate.short",
            "16-byte NEGOTIATE without DomainNameFields and WorkstationFields",
        ));
        return Ok(Negotiate {
            flags,
            domain: None,
            workstation: None,
            version: None,
            anomalies,
        });
    }
    let domain_buf = SecurityBuffer::parse(&mut r, "DomainNameFields")?;
    let ws_buf = SecurityBuffer::parse(&mut r, "WorkstationFields")?;
    let header_end = payload_start(&[domain_buf, ws_buf], msg.len());
    let version = Version::parse_flagged(&mut r, flags, header_end, 40, &mut anomalies)?;
    let domain_bytes = domain_buf.slice(msg, "DomainName")?;
    let ws_bytes = ws_buf.slice(msg, "Workstation")?;
    let domain = (!domain_bytes.is_empty())
        .then(|| decode_name(domain_bytes, false, "DomainName", &mut anomalies));
    let workstation =
        (!ws_bytes.is_empty()).then(|| decode_name(ws_bytes, false, "Workstation", &mut anomalies));
    if domain.is_some() && !flags.contains(NegotiateFlags::OEM_DOMAIN_SUPPLIED) {
        anomalies.push(Anomaly::new(
            "ntlm.negotiate.domain_without_flag",
            "DomainName sent without NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED",
        ));
    }
    if workstation.is_some() && !flags.contains(NegotiateFlags::OEM_WORKSTATION_SUPPLIED) {
        anomalies.push(Anomaly::new(
            "ntlm.negotiate.workstation_without_flag",
            "Workstation sent without NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED",
        ));
    }
    anomalies.extend(overlap_anomalies(
        &[("DomainName", domain_buf), ("Workstation", ws_buf)],
        32,
    ));
    Ok(Negotiate {
        flags,
        domain,
        workstation,
        version,
        anomalies,
    })
}

impl Negotiate {
    /// e.g. `NTLM Type 1 negotiate, flags 0xa2088207, Windows 5.1.2600`.
    pub fn summary(&self) -> String {
        let mut s = format!("NTLM Type 1 negotiate, flags {}", self.flags);
        if let Some(d) = &self.domain {
            s.push_str(&format!(", domain {d}"));
        }
        if let Some(w) = &self.workstation {
            s.push_str(&format!(", workstation {w}"));
        }
        if let Some(v) = &self.version {
            s.push_str(&format!(", version {}.{}.{}", v.major, v.minor, v.build));
        }
        s
    }
}
