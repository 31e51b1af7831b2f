//! pcapng blocks as authscope writes them (draft-ietf-opsawg-pcapng): the packets a live
//! capture saves and the slice an export writes. Little-endian, one section, the section
//! length left unknown.

use std::io::{self, Write};

use super::{LinkType, Timestamp};

/// 4.1, 4.2, 4.3: block types.
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
/// 4.7: the Decryption Secrets Block, and its secrets type for a TLS key log ("TLSK").
const DSB: u32 = 0x0000_000A;
const SECRETS_TLS_KEY_LOG: u32 = 0x544C_534B;
/// 4.1: written in the writer's byte order; readers detect ours from it.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// 3.5 option codes.
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const IF_FILTER: u16 = 11;
/// An option's value is at most this long (its length is a u16, the value padded to 32 bits).
const MAX_OPTION: usize = 0xFFFC;

/// The Section Header Block (4.1): version 1.0, section length unknown, `shb_userappl`.
pub fn section_header(application: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    option(&mut body, SHB_USERAPPL, application.as_bytes());
    option(&mut body, OPT_ENDOFOPT, &[]);
    block(SHB, &body)
}

/// An interface (4.2).
#[derive(Debug, Clone, Copy)]
pub struct Interface<'a> {
    pub link: LinkType,
    /// 0: no limit.
    pub snaplen: u32,
    /// The timestamps' units: 10^-`tsresol` s (6, the default, or 9).
    pub tsresol: u8,
    pub name: Option<&'a str>,
    /// A libpcap filter string (`if_filter`).
    pub filter: Option<&'a str>,
}

/// The Interface Description Block (4.2) of `i`.
pub fn interface_description(i: &Interface<'_>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&i.link.0.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&i.snaplen.to_le_bytes());
    if let Some(name) = i.name {
        option(&mut body, IF_NAME, name.as_bytes());
    }
    if let Some(filter) = i.filter {
        // 4.2 if_filter: a first byte 0 says the rest is a libpcap filter string.
        let mut f = vec![0u8];
        f.extend_from_slice(filter.as_bytes());
        option(&mut body, IF_FILTER, &f);
    }
    option(&mut body, IF_TSRESOL, &[i.tsresol]);
    option(&mut body, OPT_ENDOFOPT, &[]);
    block(IDB, &body)
}

/// The Decryption Secrets Block (4.7) of TLS key log lines (NSS format, `\n` after each):
/// readers decrypt the packets after it with them. Its body is secrets type, length and the
/// text padded to 32 bits, no options.
pub fn decryption_secrets(key_log: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(key_log.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "key log too large for pcapng"))?;
    let mut body = Vec::with_capacity(pad4(key_log.len()).saturating_add(8));
    body.extend_from_slice(&SECRETS_TLS_KEY_LOG.to_le_bytes());
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(key_log);
    body.resize(pad4(body.len()), 0);
    Ok(block(DSB, &body))
}

/// A packet for [`enhanced_packet`].
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub interface: u32,
    pub ts: Timestamp,
    /// The interface's `tsresol`: the timestamp is written in 10^-`tsresol` s.
    pub tsresol: u8,
    pub data: &'a [u8],
    pub orig_len: u32,
}

/// The length of the Enhanced Packet Block of `data_len` bytes without comments.
pub fn enhanced_packet_len(data_len: usize) -> usize {
    pad4(data_len).saturating_add(32)
}

/// Appends the Enhanced Packet Block (4.3) of `p` to `out`, with one `opt_comment` per
/// comment (each cut to what an option holds, on a character boundary).
pub fn enhanced_packet(out: &mut Vec<u8>, p: &Packet<'_>, comments: &[String]) -> io::Result<()> {
    let per_unit = match p.tsresol {
        9 => 1,
        _ => 1000,
    };
    let ts = u64::try_from(p.ts.0 / per_unit).unwrap_or(0);
    let caplen = u32::try_from(p.data.len()).unwrap_or(u32::MAX);
    let mut body = Vec::with_capacity(p.data.len().saturating_add(64));
    body.extend_from_slice(&p.interface.to_le_bytes());
    body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts as u32).to_le_bytes());
    body.extend_from_slice(&caplen.to_le_bytes());
    body.extend_from_slice(&p.orig_len.max(caplen).to_le_bytes());
    body.extend_from_slice(p.data);
    body.resize(pad4(body.len()), 0);
    if !comments.is_empty() {
        for c in comments {
            option(
                &mut body,
                OPT_COMMENT,
                utf8_prefix(c, MAX_OPTION).as_bytes(),
            );
        }
        option(&mut body, OPT_ENDOFOPT, &[]);
    }
    let total = u32::try_from(body.len().saturating_add(12))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet too large for pcapng"))?;
    out.extend_from_slice(&EPB.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&total.to_le_bytes());
    Ok(())
}

/// Writes the Enhanced Packet Block of `p` to `w` in one write.
pub fn write_packet(w: &mut dyn Write, p: &Packet<'_>, comments: &[String]) -> io::Result<()> {
    let mut v = Vec::with_capacity(enhanced_packet_len(p.data.len()));
    enhanced_packet(&mut v, p, comments)?;
    w.write_all(&v)
}

fn pad4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// 3.5: code, length, value padded to 32 bits.
fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(value.get(..usize::from(len)).unwrap_or(value));
    body.resize(pad4(body.len()), 0);
}

/// 3.1: type, total length, body, total length.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len().saturating_add(12)).unwrap_or(u32::MAX);
    let mut v = Vec::with_capacity(body.len().saturating_add(12));
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(body);
    v.extend_from_slice(&len.to_le_bytes());
    v
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn utf8_prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_comments_are_cut_on_a_char_boundary() {
        let s = "é".repeat(40_000);
        let p = utf8_prefix(&s, MAX_OPTION);
        assert!(p.len() <= MAX_OPTION && p.len() % 2 == 0);
    }
}
