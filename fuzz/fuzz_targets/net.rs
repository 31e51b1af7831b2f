//! Link, IP (with IPv4 fragment reassembly and tunnels) and TCP decoding, over a sequence of
//! frames of every supported link type (and a few unsupported ones); the UDP datagrams and
//! ICMP destination unreachables for port 88 and 53 go on to the KDC stage, as in the
//! pipeline, and what it reads is put in words and in JSON.
//!
//! Input: records of `[link selector][time step][length: u16 LE][bytes]`; the decoder lives
//! across records so fragments can meet.
#![no_main]
use authscope::capture::{Frame, LinkType, Timestamp};
use authscope::kdc::{KdcConfig, KdcStage};
use authscope::net::NetDecoder;
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 18] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::RAW_LEGACY,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType(14),
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::C_HDLC,
    LinkType::IEEE802_11,
    LinkType::IEEE802_11_RADIOTAP,
    LinkType::ARCNET_BSD,
    LinkType::ARCNET_LINUX,
    LinkType::NFLOG,
    LinkType(147),
    LinkType(65535),
];

fuzz_target!(|data: &[u8]| {
    let mut dec = NetDecoder::new();
    let mut kdc = KdcStage::new(KdcConfig::default());
    let mut rest = data;
    let mut ts = 1_700_000_000_000_000_000i64;
    let mut number = 0u64;
    while let [sel, step, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        number += 1;
        ts = ts.saturating_add(i64::from(*step) * 100_000_000);
        let link = LINKS[usize::from(*sel) % LINKS.len()];
        let frame = Frame {
            number,
            input: 0,
            ts: Timestamp(ts),
            link,
            data: bytes,
            orig_len: u32::try_from(len)
                .unwrap_or(0)
                .saturating_add(u32::from(sel >> 4)),
        };
        if let Some(seg) = dec.decode(&frame) {
            let _ = (seg.payload.len(), seg.missing, seg.flags.syn());
        }
        if let Some(d) = dec.take_datagram() {
            let m = match d.unreachable {
                Some(icmp) => kdc.unreachable(d.ts, d.frame, (d.src, d.dst), icmp, &d.payload),
                None => kdc.datagram(d.ts, d.frame, (d.src, d.dst), &d.payload),
            };
            if let Some(m) = m {
                let _ = (m.text(), serde_json::to_string(&m));
            }
        }
    }
    let _ = dec.stats();
});
