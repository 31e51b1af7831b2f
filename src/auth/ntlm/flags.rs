//! MS-NLMP 2.2.2.5 NEGOTIATE flags, each by its spec name.

use serde::{Serialize, Serializer};
use std::fmt;

/// The 32-bit NegotiateFlags field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiateFlags(pub u32);

/// Bits in spec order, least significant first (MS-NLMP 2.2.2.5 lists them from W down to A).
/// Bits the spec reserves keep their letter names (r1 to r10) so an unexpected bit is visible.
const NAMES: [(u32, &str); 32] = [
    (0x0000_0001, "NTLMSSP_NEGOTIATE_UNICODE"),
    (0x0000_0002, "NTLM_NEGOTIATE_OEM"),
    (0x0000_0004, "NTLMSSP_REQUEST_TARGET"),
    (0x0000_0008, "r10"),
    (0x0000_0010, "NTLMSSP_NEGOTIATE_SIGN"),
    (0x0000_0020, "NTLMSSP_NEGOTIATE_SEAL"),
    (0x0000_0040, "NTLMSSP_NEGOTIATE_DATAGRAM"),
    (0x0000_0080, "NTLMSSP_NEGOTIATE_LM_KEY"),
    (0x0000_0100, "r9"),
    (0x0000_0200, "NTLMSSP_NEGOTIATE_NTLM"),
    (0x0000_0400, "r8"),
    (0x0000_0800, "NTLMSSP_ANONYMOUS"),
    (0x0000_1000, "NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED"),
    (0x0000_2000, "NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED"),
    (0x0000_4000, "r7"),
    (0x0000_8000, "NTLMSSP_NEGOTIATE_ALWAYS_SIGN"),
    (0x0001_0000, "NTLMSSP_TARGET_TYPE_DOMAIN"),
    (0x0002_0000, "NTLMSSP_TARGET_TYPE_SERVER"),
    (0x0004_0000, "r6"),
    (0x0008_0000, "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY"),
    (0x0010_0000, "NTLMSSP_NEGOTIATE_IDENTIFY"),
    (0x0020_0000, "r5"),
    (0x0040_0000, "NTLMSSP_REQUEST_NON_NT_SESSION_KEY"),
    (0x0080_0000, "NTLMSSP_NEGOTIATE_TARGET_INFO"),
    (0x0100_0000, "r4"),
    (0x0200_0000, "NTLMSSP_NEGOTIATE_VERSION"),
    (0x0400_0000, "r3"),
    (0x0800_0000, "r2"),
    (0x1000_0000, "r1"),
    (0x2000_0000, "NTLMSSP_NEGOTIATE_128"),
    (0x4000_0000, "NTLMSSP_NEGOTIATE_KEY_EXCH"),
    (0x8000_0000, "NTLMSSP_NEGOTIATE_56"),
];

impl NegotiateFlags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const OEM: u32 = 0x0000_0002;
    pub const OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
    pub const OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const ANONYMOUS: u32 = 0x0000_0800;

    /// True when every bit of `mask` is set.
    pub fn contains(self, mask: u32) -> bool {
        self.0 & mask == mask
    }

    /// Names of the set bits, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        NAMES
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

impl fmt::Display for NegotiateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

impl Serialize for NegotiateFlags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        // As `Display` writes it, without the formatting machinery: every NTLM message of the
        // report carries its flags.
        let value = ["0x", &crate::auth::secret::hex(&self.0.to_be_bytes())].concat();
        let mut names = [""; 32];
        let mut count = 0usize;
        let set = NAMES.iter().filter(|(bit, _)| self.0 & bit != 0);
        for ((_, name), slot) in set.zip(&mut names) {
            *slot = name;
            count = count.saturating_add(1);
        }
        let mut st = s.serialize_struct("NegotiateFlags", 2)?;
        st.serialize_field("value", &value)?;
        st.serialize_field("names", names.get(..count).unwrap_or_default())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_as_display_and_names_say() {
        for v in [0u32, 1, 0xa208_8207, u32::MAX, 0x8000_0000] {
            let f = NegotiateFlags(v);
            let json = serde_json::to_value(f).unwrap_or_default();
            assert_eq!(json["value"], f.to_string());
            assert_eq!(json["names"], serde_json::json!(f.names()));
        }
    }

    #[test]
    fn every_bit_named_once() {
        let all = NegotiateFlags(u32::MAX).names();
        assert_eq!(all.len(), 32);
        // Type 1 from http-negotiate-rawntlm-iis.pcap frame 8 (tshark: 0xa2088207).
        let f = NegotiateFlags(0xa208_8207);
        assert_eq!(
            f.names(),
            vec![
                "NTLMSSP_NEGOTIATE_UNICODE",
                "NTLM_NEGOTIATE_OEM",
                "NTLMSSP_REQUEST_TARGET",
                "NTLMSSP_NEGOTIATE_NTLM",
                "NTLMSSP_NEGOTIATE_ALWAYS_SIGN",
                "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY",
                "NTLMSSP_NEGOTIATE_VERSION",
                "NTLMSSP_NEGOTIATE_128",
                "NTLMSSP_NEGOTIATE_56",
            ]
        );
    }
}
