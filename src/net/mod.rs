//! Stage 2: link layer -> IPv4/IPv6 (with IPv4 fragment reassembly) -> TCP segment.

pub mod defrag;
pub mod link;

use std::net::SocketAddr;

use crate::capture::Timestamp;

pub use link::{FragmentSpan, NetDecoder, NetStats, UnknownLink};

/// TCP header flags (RFC 9293 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

/// One TCP segment, the hand-off from `net` to `tcp`.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Frame number the segment came from (the last fragment's, for a reassembled datagram).
    pub frame: u64,
    pub ts: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload bytes the segment carried on the wire but the capture cut off (snap length);
    /// they follow `payload` in sequence space and are delivered as a gap.
    pub missing: u32,
}

/// The ports of the traffic a login depends on beside the HTTP: the KDC (RFC 4120 7.2.3) and
/// DNS (RFC 1035 4.2).
pub const KERBEROS_PORT: u16 = 88;
pub const DNS_PORT: u16 = 53;

/// A UDP datagram to or from port 88 or 53 (RFC 768), the hand-off from `net` to `kdc`:
/// owned, since it waits beside the segment the decoder returns. Or an ICMP destination
/// unreachable quoting a UDP datagram or TCP segment to or from those ports: then `src`,
/// `dst` and `payload` are the quoted packet's (as much of its payload as the quote holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub frame: u64,
    pub ts: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
    pub unreachable: Option<Unreachable>,
}

/// An ICMPv4 destination unreachable (RFC 792, type 3) or ICMPv6 one (RFC 4443 3.1, type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Unreachable {
    /// Who sent it: the host or router that could not deliver the quoted packet.
    pub from: std::net::IpAddr,
    pub v6: bool,
    pub code: u8,
    /// The quoted packet was a TCP segment (else a UDP datagram).
    pub tcp: bool,
}

impl Unreachable {
    /// The code's name (RFC 792, RFC 1812 5.2.7.1; RFC 4443 3.1).
    pub fn reason(&self) -> &'static str {
        match (self.v6, self.code) {
            (false, 0) => "network unreachable",
            (false, 1) | (true, 3) => "host unreachable",
            (false, 2) => "protocol unreachable",
            (false, 3) | (true, 4) => "port unreachable",
            (false, 4) => "fragmentation needed",
            (false, 5) => "source route failed",
            (false, 6) => "destination network unknown",
            (false, 7) => "destination host unknown",
            (false, 9 | 10 | 13) | (true, 1) => "administratively prohibited",
            (true, 0) => "no route to destination",
            (true, 2) => "beyond scope of source address",
            (true, 5) => "source address failed policy",
            (true, 6) => "reject route",
            _ => "destination unreachable",
        }
    }
}

/// Flow key: the 4-tuple in a canonical order, so both directions map to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub a: SocketAddr,
    pub b: SocketAddr,
}

/// Every packet looks its connection up by this key: an IPv4 pair is hashed as two words
/// (the derived hash fed the hasher field by field, discriminants included). Equal keys hash
/// the same: IPv6 flow labels and scopes, which `Eq` also compares, are left out.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        fn word(a: &SocketAddr) -> u128 {
            match a {
                SocketAddr::V4(v4) => u128::from(v4.ip().to_bits()) << 16 | u128::from(v4.port()),
                SocketAddr::V6(v6) => v6.ip().to_bits() ^ u128::from(v6.port()) << 112 ^ 1,
            }
        }
        match (self.a, self.b) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) => {
                state.write_u128(word(&self.a) << 64 | word(&self.b));
            }
            _ => {
                state.write_u128(word(&self.a));
                state.write_u128(word(&self.b));
            }
        }
    }
}

impl FlowKey {
    /// The key for a segment; `true` when `src` is `a`.
    pub fn of(src: SocketAddr, dst: SocketAddr) -> (FlowKey, bool) {
        if src <= dst {
            (FlowKey { a: src, b: dst }, true)
        } else {
            (FlowKey { a: dst, b: src }, false)
        }
    }
}
