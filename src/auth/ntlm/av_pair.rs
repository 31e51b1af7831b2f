//! MS-NLMP 2.2.2.1 AV_PAIR lists: the server's TargetInfo and the client's NTLMv2 blob.

use super::reader::Reader;
use crate::auth::secret::hex;
use crate::auth::util::{filetime_to_rfc3339, open_enum, utf16le, Anomaly};
use serde::Serialize;

open_enum! {
    /// MS-NLMP 2.2.2.1 AvId.
    pub enum MsvAvId: u16 {
        Eol = 0 => "MsvAvEOL",
        NbComputerName = 1 => "MsvAvNbComputerName",
        NbDomainName = 2 => "MsvAvNbDomainName",
        DnsComputerName = 3 => "MsvAvDnsComputerName",
        DnsDomainName = 4 => "MsvAvDnsDomainName",
        DnsTreeName = 5 => "MsvAvDnsTreeName",
        Flags = 6 => "MsvAvFlags",
        Timestamp = 7 => "MsvAvTimestamp",
        SingleHost = 8 => "MsvAvSingleHost",
        TargetName = 9 => "MsvAvTargetName",
        ChannelBindings = 10 => "MsvAvChannelBindings",
    }
}

/// One decoded AV_PAIR value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AvValue {
    /// End of list.
    Eol,
    /// Names (ids 1 to 5 and 9), always UTF-16LE.
    Text { text: String },
    /// MsvAvFlags (2.2.2.1): 0x1 constrained, 0x2 MIC present, 0x4 SPN from untrusted source.
    Flags {
        value: u32,
        constrained: bool,
        mic_present: bool,
        untrusted_spn: bool,
    },
    /// MsvAvTimestamp, a FILETIME; the client copies the server's into its blob (3.1.5.2.1).
    Timestamp { filetime: u64, utc: Option<String> },
    /// MsvAvSingleHost (2.2.2.2 Single_Host_Data).
    SingleHost {
        size: u32,
        custom_data: String,
        machine_id: String,
    },
    /// MsvAvChannelBindings: MD5 of gss_channel_bindings_struct; all zero means none sent.
    ChannelBindings { hash: String, all_zero: bool },
    /// Unknown id or a value whose length does not fit its id.
    Raw { hex: String },
}

/// One AV_PAIR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvPair {
    pub id: MsvAvId,
    pub len: u16,
    pub value: AvValue,
}

/// An AV_PAIR list with its anomalies (no MsvAvEOL, truncation, odd lengths).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvPairs {
    pub pairs: Vec<AvPair>,
    pub terminated: bool,
    pub anomalies: Vec<Anomaly>,
}

impl AvPairs {
    /// First pair with this id.
    pub fn get(&self, id: MsvAvId) -> Option<&AvValue> {
        self.pairs.iter().find(|p| p.id == id).map(|p| &p.value)
    }

    /// Text of a name pair.
    pub fn text(&self, id: MsvAvId) -> Option<&str> {
        match self.get(id) {
            Some(AvValue::Text { text }) => Some(text),
            _ => None,
        }
    }

    /// The MsvAvTimestamp FILETIME, used to match a Type 3 to its Type 2.
    pub fn timestamp(&self) -> Option<u64> {
        match self.get(MsvAvId::Timestamp) {
            Some(AvValue::Timestamp { filetime, .. }) => Some(*filetime),
            _ => None,
        }
    }
}

/// Caps the list: a 64 KiB message cannot hold more than 16 Ki pairs, but no real one has 64.
const MAX_PAIRS: usize = 256;

/// MS-NLMP 2.2.2.1: AvId (2), AvLen (2), Value (AvLen); the list ends with MsvAvEOL.
/// A cut or unterminated list is an anomaly, not an error: the pairs before it still count.
pub fn parse_av_pairs(bytes: &[u8]) -> AvPairs {
    let mut r = Reader::new(bytes);
    let mut pairs = Vec::new();
    let mut anomalies = Vec::new();
    let mut terminated = false;
    while r.remaining() > 0 {
        if pairs.len() >= MAX_PAIRS {
            anomalies.push(Anomaly::new(
                "ntlm.av_pairs.too_many",
                format!("more than {MAX_PAIRS} AV pairs; the rest is ignored"),
            ));
            break;
        }
        let at = r.offset();
        let (Ok(id), Ok(len)) = (r.u16("AvId"), r.u16("AvLen")) else {
            anomalies.push(Anomaly::new(
                "ntlm.av_pairs.truncated",
                format!("AV_PAIR header cut at offset {at}"),
            ));
            break;
        };
        let Ok(value) = r.bytes(usize::from(len), "Value") else {
            anomalies.push(Anomaly::new(
                "ntlm.av_pairs.truncated",
                format!(
                    "AV_PAIR id {id} at offset {at} claims {len} bytes, {} remain",
                    r.remaining()
                ),
            ));
            break;
        };
        let id = MsvAvId::from(id);
        pairs.push(AvPair {
            id,
            len,
            value: decode_value(id, value, &mut anomalies),
        });
        if id == MsvAvId::Eol {
            terminated = true;
            break;
        }
    }
    if !terminated {
        anomalies.push(Anomaly::new(
            "ntlm.av_pairs.no_eol",
            "AV_PAIR list does not end with MsvAvEOL",
        ));
    }
    AvPairs {
        pairs,
        terminated,
        anomalies,
    }
}

fn decode_value(id: MsvAvId, v: &[u8], anomalies: &mut Vec<Anomaly>) -> AvValue {
    let raw = || AvValue::Raw { hex: hex(v) };
    match id {
        MsvAvId::Eol => {
            if !v.is_empty() {
                anomalies.push(Anomaly::new(
                    "ntlm.av_pairs.eol_not_empty",
                    format!("MsvAvEOL carries {} bytes", v.len()),
                ));
            }
            AvValue::Eol
        }
        MsvAvId::NbComputerName
        | MsvAvId::NbDomainName
        | MsvAvId::DnsComputerName
        | MsvAvId::DnsDomainName
        | MsvAvId::DnsTreeName
        | MsvAvId::TargetName => {
            let (text, clean) = utf16le(v);
            if !clean {
                anomalies.push(Anomaly::new(
                    "ntlm.av_pairs.bad_utf16",
                    format!("{id} is not valid UTF-16LE"),
                ));
            }
            AvValue::Text { text }
        }
        MsvAvId::Flags => match <[u8; 4]>::try_from(v) {
            Ok(b) => {
                let value = u32::from_le_bytes(b);
                AvValue::Flags {
                    value,
                    constrained: value & 0x1 != 0,
                    mic_present: value & 0x2 != 0,
                    untrusted_spn: value & 0x4 != 0,
                }
            }
            Err(_) => {
                anomalies.push(bad_len(id, v.len()));
                raw()
            }
        },
        MsvAvId::Timestamp => match <[u8; 8]>::try_from(v) {
            Ok(b) => {
                let filetime = u64::from_le_bytes(b);
                AvValue::Timestamp {
                    filetime,
                    utc: filetime_to_rfc3339(filetime),
                }
            }
            Err(_) => {
                anomalies.push(bad_len(id, v.len()));
                raw()
            }
        },
        MsvAvId::SingleHost => {
            // 2.2.2.2: Size (4), Z4 (4), CustomData (8), MachineID (32).
            let mut r = Reader::new(v);
            let parsed = (|| {
                let size = r.u32("Size")?;
                let _z4 = r.u32("Z4")?;
                let custom = r.bytes(8, "CustomData")?;
                let machine = r.bytes(32, "MachineID")?;
                Ok::<_, crate::auth::error::DecodeError>(AvValue::SingleHost {
                    size,
                    custom_data: hex(custom),
                    machine_id: hex(machine),
                })
            })();
            parsed.unwrap_or_else(|_| {
                anomalies.push(bad_len(id, v.len()));
                raw()
            })
        }
        MsvAvId::ChannelBindings => {
            if v.len() != 16 {
                anomalies.push(bad_len(id, v.len()));
            }
            AvValue::ChannelBindings {
                hash: hex(v),
                all_zero: v.iter().all(|&b| b == 0),
            }
        }
        MsvAvId::Unknown(_) => raw(),
    }
}

fn bad_len(id: MsvAvId, len: usize) -> Anomaly {
    Anomaly::new(
        "ntlm.av_pairs.bad_length",
        format!("{id} has {len} bytes, not the size the spec gives"),
    )
}
