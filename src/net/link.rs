//! Link layers down to the network layer, then IP and TCP through etherparse.
//!
//! The link headers are decoded by hand: each is a few fixed bytes, and etherparse covers only
//! Ethernet, VLAN and SLL. IP (with IPv6 extension headers) and TCP are etherparse's, in its
//! lax mode, so a packet cut by the snap length is used as far as it goes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use etherparse::{LaxIpSlice, TcpSlice};

use super::defrag::{Defragmenter, Fragment};
use super::{Datagram, Segment, TcpFlags, Unreachable, DNS_PORT, KERBEROS_PORT};
use crate::capture::{Frame, LinkType};

/// Ethertypes (IEEE 802 numbers) met on the way to IP.
mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88A8;
    pub const QINQ_OLD: u16 = 0x9100;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MC: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// Transparent Ethernet bridging, inside GRE (RFC 1701).
    pub const TEB: u16 = 0x6558;
    pub const ERSPAN_2: u16 = 0x88BE;
    pub const ERSPAN_3: u16 = 0x22EB;
}

/// Encapsulations are followed this deep (GRE in GRE in ...), no further.
const MAX_DEPTH: u8 = 4;

/// What the network decoder counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NetStats {
    pub frames: u64,
    pub tcp_segments: u64,
    /// Frames whose link type authscope does not decode.
    pub unknown_link: u64,
    /// The first of them.
    pub first_unknown_link: Option<UnknownLink>,
    /// Frames that carry something other than IP (ARP, LLDP, ...).
    pub not_ip: u64,
    /// IP packets that carry something other than TCP.
    pub not_tcp: u64,
    /// Of those, UDP datagrams to or from port 88 (Kerberos) or 53 (DNS), handed on.
    #[serde(skip_serializing_if = "is_zero")]
    pub kdc_dns_datagrams: u64,
    /// ICMP and ICMPv6 destination unreachable messages.
    #[serde(skip_serializing_if = "is_zero")]
    pub icmp_unreachable: u64,
    /// Of those, the ones quoting a packet to or from port 88 or 53, handed on.
    #[serde(skip_serializing_if = "is_zero")]
    pub icmp_kdc_dns: u64,
    /// Destination unreachable messages whose quoted packet does not decode.
    #[serde(skip_serializing_if = "is_zero")]
    pub icmp_malformed: u64,
    /// Frames too short or inconsistent to decode.
    pub malformed: u64,
    /// TCP segments whose payload was cut by the snap length.
    pub truncated_segments: u64,
    pub ipv4_fragments: u64,
    pub ipv4_reassembled: u64,
    pub ipv4_fragments_dropped: u64,
    /// IPv6 fragments (not reassembled).
    pub ipv6_fragments: u64,
    /// Packets inside GRE, ERSPAN, IP-in-IP or VXLAN.
    pub tunnelled: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A frame of a link type authscope does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct UnknownLink {
    pub frame: u64,
    /// Its capture ([`Frame::input`]).
    pub input: u32,
    pub link_type: u16,
}

/// Stage 2: frame in, TCP segment out.
#[derive(Debug, Default)]
pub struct NetDecoder {
    defrag: Defragmenter,
    stats: NetStats,
    /// The last reassembled datagram, borrowed by the segment returned from it.
    assembled: Vec<u8>,
    /// Where the last decoded frame sat in its datagram, if it was an IPv4 fragment.
    last_fragment: Option<FragmentSpan>,
    /// A UDP datagram for the KDC and DNS stage, from the last decoded frame.
    datagram: Option<Datagram>,
}

/// Where the network layer starts in a frame.
enum NetStart<'a> {
    Ip(&'a [u8]),
    Other,
    Malformed,
}

impl NetDecoder {
    pub fn new() -> Self {
        NetDecoder::default()
    }

    /// The capture ended: datagrams still in reassembly will never complete.
    pub fn forget_fragments(&mut self) {
        self.defrag.clear();
    }

    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Where the frame last decoded sits in its datagram; `None` unless it was an (outer)
    /// IPv4 fragment. The pcapng export masks and copies fragments by it.
    pub fn last_fragment(&self) -> Option<FragmentSpan> {
        self.last_fragment
    }

    /// The UDP datagram to or from port 88 or 53 that the last frame carried, if it did
    /// ([`NetDecoder::decode`] then returned `None`).
    pub fn take_datagram(&mut self) -> Option<Datagram> {
        self.datagram.take()
    }

    /// Decodes one frame; `None` when it is not a (decodable) TCP segment, which is counted.
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Option<Segment<'a>> {
        self.stats.frames = self.stats.frames.saturating_add(1);
        self.last_fragment = None;
        let start = match link_payload(frame.link, frame.data) {
            Some(s) => s,
            None => {
                self.stats.unknown_link = self.stats.unknown_link.saturating_add(1);
                if self.stats.first_unknown_link.is_none() {
                    self.stats.first_unknown_link = Some(UnknownLink {
                        frame: frame.number,
                        input: frame.input,
                        link_type: frame.link.0,
                    });
                }
                return None;
            }
        };
        let ip = match start {
            NetStart::Ip(ip) => ip,
            NetStart::Other => {
                self.stats.not_ip = self.stats.not_ip.saturating_add(1);
                return None;
            }
            NetStart::Malformed => {
                self.stats.malformed = self.stats.malformed.saturating_add(1);
                return None;
            }
        };
        self.ip(frame, ip)
    }

    /// The outer IP layer: the only one whose fragments are reassembled (tunnels are
    /// fragmented outside, as in GRE over a 1500-byte path; fragments inside a tunnel are
    /// counted and dropped).
    fn ip<'a>(&'a mut self, frame: &Frame<'a>, bytes: &'a [u8]) -> Option<Segment<'a>> {
        let Ok((ip, _ext_err)) = LaxIpSlice::from_slice(bytes) else {
            self.stats.malformed = self.stats.malformed.saturating_add(1);
            return None;
        };
        let payload = ip.payload();
        if !payload.fragmented {
            let missing = missing_bytes(&ip);
            return carry(
                (&mut self.stats, &mut self.datagram),
                frame,
                (ip.source_addr(), ip.destination_addr()),
                payload.ip_number.0,
                payload.payload,
                missing,
                0,
            );
        }
        let LaxIpSlice::Ipv4(v4) = &ip else {
            self.stats.ipv6_fragments = self.stats.ipv6_fragments.saturating_add(1);
            return None;
        };
        self.stats.ipv4_fragments = self.stats.ipv4_fragments.saturating_add(1);
        let h = v4.header();
        let frag = Fragment {
            src: h.source_addr(),
            dst: h.destination_addr(),
            id: h.identification(),
            protocol: payload.ip_number.0,
            offset: usize::from(h.fragments_offset().value()).saturating_mul(8),
            more: h.more_fragments(),
            data: payload.payload,
        };
        self.last_fragment = Some(FragmentSpan {
            datagram: (frag.src, frag.dst, frag.id, frag.protocol),
            in_frame: (frag.data.as_ptr() as usize).wrapping_sub(frame.data.as_ptr() as usize),
            offset: frag.offset,
            len: frag.data.len(),
        });
        let before = self.defrag.dropped();
        let done = self.defrag.add(frame.ts, &frag, &mut self.assembled);
        self.stats.ipv4_fragments_dropped = self
            .stats
            .ipv4_fragments_dropped
            .saturating_add(self.defrag.dropped().saturating_sub(before));
        if !done {
            return None;
        }
        self.stats.ipv4_reassembled = self.stats.ipv4_reassembled.saturating_add(1);
        let data: &'a [u8] = &self.assembled;
        carry(
            (&mut self.stats, &mut self.datagram),
            frame,
            (IpAddr::V4(frag.src), IpAddr::V4(frag.dst)),
            frag.protocol,
            data,
            0,
            0,
        )
    }
}

/// Where a frame's IPv4 fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentSpan {
    /// The datagram (RFC 791 3.2: source, destination, identification, protocol).
    pub datagram: (Ipv4Addr, Ipv4Addr, u16, u8),
    /// Where the fragment's payload starts in the frame's bytes.
    pub in_frame: usize,
    /// Where it starts in the datagram's payload (fragment offset, RFC 791 3.1).
    pub offset: usize,
    pub len: usize,
}

/// Bytes of the IP payload that the capture cut off (snap length).
fn missing_bytes(ip: &LaxIpSlice<'_>) -> usize {
    let payload = ip.payload();
    if !payload.incomplete {
        return 0;
    }
    let declared = match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            usize::from(h.total_len()).saturating_sub(usize::from(h.ihl()).saturating_mul(4))
        }
        LaxIpSlice::Ipv6(v6) => {
            usize::from(v6.header().payload_length()).saturating_sub(v6.extensions().slice().len())
        }
    };
    declared.saturating_sub(payload.payload.len())
}

/// An IP packet inside a tunnel.
fn inner_ip<'a>(
    (stats, udp): (&mut NetStats, &mut Option<Datagram>),
    frame: &Frame<'a>,
    bytes: &'a [u8],
    depth: u8,
) -> Option<Segment<'a>> {
    stats.tunnelled = stats.tunnelled.saturating_add(1);
    let Ok((ip, _ext_err)) = LaxIpSlice::from_slice(bytes) else {
        stats.malformed = stats.malformed.saturating_add(1);
        return None;
    };
    let payload = ip.payload();
    if payload.fragmented {
        stats.ipv4_fragments_dropped = stats.ipv4_fragments_dropped.saturating_add(1);
        return None;
    }
    carry(
        (stats, udp),
        frame,
        (ip.source_addr(), ip.destination_addr()),
        payload.ip_number.0,
        payload.payload,
        missing_bytes(&ip),
        depth,
    )
}

/// What an IP packet carries: TCP, or a tunnel to follow to the TCP inside.
fn carry<'a>(
    (stats, udp): (&mut NetStats, &mut Option<Datagram>),
    frame: &Frame<'a>,
    (src, dst): (IpAddr, IpAddr),
    proto: u8,
    data: &'a [u8],
    missing: usize,
    depth: u8,
) -> Option<Segment<'a>> {
    let deeper = depth.saturating_add(1);
    let inner = match proto {
        6 => return tcp(stats, frame, src, dst, data, missing),
        17 if kdc_or_dns(data) => {
            stats.not_tcp = stats.not_tcp.saturating_add(1);
            stats.kdc_dns_datagrams = stats.kdc_dns_datagrams.saturating_add(1);
            *udp = datagram(frame, src, dst, data);
            return None;
        }
        1 | 58 => {
            stats.not_tcp = stats.not_tcp.saturating_add(1);
            *udp = icmp(stats, frame, src, data);
            return None;
        }
        _ if depth >= MAX_DEPTH => None,
        // IP in IP (RFC 2003) and IPv6 in IP (RFC 4213).
        4 | 41 => Some(NetStart::Ip(data)),
        // GRE (RFC 2784, RFC 2890), carrying IP, Ethernet or ERSPAN.
        47 => gre_payload(data),
        17 => udp_tunnel(data),
        _ => None,
    };
    match inner {
        Some(NetStart::Ip(inner)) => inner_ip((stats, udp), frame, inner, deeper),
        _ => {
            stats.not_tcp = stats.not_tcp.saturating_add(1);
            None
        }
    }
}

/// A UDP header (RFC 768) with port 88 or 53 on either side.
fn kdc_or_dns(data: &[u8]) -> bool {
    let port = |p: Option<u16>| p.is_some_and(|p| p == KERBEROS_PORT || p == DNS_PORT);
    port(be16(data, 0)) || port(be16(data, 2))
}

/// An ICMP destination unreachable quoting a packet to or from port 88 or 53, as the quoted
/// packet with what the quote holds of its payload. The quote is the IP header and at least
/// eight bytes of what followed (RFC 792), as much as fits in 1280 bytes in ICMPv6 (RFC 4443
/// 3.1); it is read in lax mode, since it is cut short by design.
fn icmp(stats: &mut NetStats, frame: &Frame<'_>, from: IpAddr, data: &[u8]) -> Option<Datagram> {
    let v6 = from.is_ipv6();
    let (kind, code) = (*data.first()?, *data.get(1)?);
    // RFC 792: type 3; RFC 4443 3.1: type 1; both quote from byte 8.
    if kind != if v6 { 1 } else { 3 } {
        return None;
    }
    stats.icmp_unreachable = stats.icmp_unreachable.saturating_add(1);
    let quoted = data.get(8..).and_then(|q| LaxIpSlice::from_slice(q).ok());
    let Some((ip, _)) = quoted else {
        stats.icmp_malformed = stats.icmp_malformed.saturating_add(1);
        return None;
    };
    let payload = ip.payload();
    let tcp = match payload.ip_number.0 {
        6 => true,
        17 => false,
        _ => return None,
    };
    let t = payload.payload;
    if payload.fragmented || !kdc_or_dns(t) {
        return None;
    }
    let (src, dst) = (ip.source_addr(), ip.destination_addr());
    // A quote that ends inside the UDP header still names the flow by its ports.
    let quoted = if tcp {
        Vec::new()
    } else {
        datagram(frame, src, dst, t)
            .map(|d| d.payload)
            .unwrap_or_default()
    };
    let d = Datagram {
        frame: frame.number,
        ts: frame.ts,
        src: SocketAddr::new(src, be16(t, 0)?),
        dst: SocketAddr::new(dst, be16(t, 2)?),
        payload: quoted,
        unreachable: Some(Unreachable {
            from,
            v6,
            code,
            tcp,
        }),
    };
    stats.icmp_kdc_dns = stats.icmp_kdc_dns.saturating_add(1);
    Some(d)
}

/// The datagram's payload, as far as its length field and the capture go (RFC 768).
fn datagram(frame: &Frame<'_>, src: IpAddr, dst: IpAddr, data: &[u8]) -> Option<Datagram> {
    let sport = be16(data, 0)?;
    let dport = be16(data, 2)?;
    let len = usize::from(be16(data, 4)?);
    let body = data.get(8..)?;
    let body = body.get(..len.saturating_sub(8).min(body.len()))?;
    Some(Datagram {
        frame: frame.number,
        ts: frame.ts,
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        payload: body.to_vec(),
        unreachable: None,
    })
}

/// Tunnels over UDP, by their registered port: VXLAN (RFC 7348, 4789) carries Ethernet,
/// GTP-U (3GPP TS 29.281, 2152) carries IP.
fn udp_tunnel(data: &[u8]) -> Option<NetStart<'_>> {
    let dport = be16(data, 2)?;
    let sport = be16(data, 0)?;
    let body = data.get(8..)?;
    if dport == 4789 || sport == 4789 {
        return Some(ethernet(body.get(8..)?, 1));
    }
    if dport == 2152 || sport == 2152 {
        let flags = *body.first()?;
        // Version 1, protocol type GTP, message type 255 (G-PDU).
        if flags >> 5 != 1 || body.get(1) != Some(&0xFF) {
            return None;
        }
        let mut at = 8usize;
        if flags & 0x07 != 0 {
            // Sequence number, N-PDU number and next-extension type follow.
            let mut next = *body.get(11)?;
            at = 12;
            while next != 0 {
                let units = usize::from(*body.get(at)?);
                if units == 0 {
                    return None;
                }
                at = at.checked_add(units.checked_mul(4)?)?;
                next = *body.get(at.checked_sub(1)?)?;
            }
        }
        let inner = body.get(at..)?;
        return match inner.first().map(|b| b >> 4) {
            Some(4 | 6) => Some(NetStart::Ip(inner)),
            _ => None,
        };
    }
    None
}

fn tcp<'a>(
    stats: &mut NetStats,
    frame: &Frame<'a>,
    src: IpAddr,
    dst: IpAddr,
    data: &'a [u8],
    missing: usize,
) -> Option<Segment<'a>> {
    let Ok(tcp) = TcpSlice::from_slice(data) else {
        stats.malformed = stats.malformed.saturating_add(1);
        return None;
    };
    if missing > 0 {
        stats.truncated_segments = stats.truncated_segments.saturating_add(1);
    }
    stats.tcp_segments = stats.tcp_segments.saturating_add(1);
    let flags = data.get(13).copied().unwrap_or(0) & 0x3F;
    Some(Segment {
        frame: frame.number,
        ts: frame.ts,
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
        window: tcp.window_size(),
        payload: tcp.payload(),
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
    })
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    be16(b, at).map(u16::swap_bytes)
}

/// The network layer of a frame, by link type. `None`: a link type we do not decode.
fn link_payload(link: LinkType, data: &[u8]) -> Option<NetStart<'_>> {
    Some(match link {
        LinkType::ETHERNET => ethernet(data, 0),
        // BSD loopback: a 4-byte address family in the writer's byte order (NULL) or in
        // network order (LOOP); 2 is IPv4, and 24, 28 and 30 are IPv6 on the BSDs.
        LinkType::NULL | LinkType::LOOP => {
            let Some(rest) = data.get(4..) else {
                return Some(NetStart::Malformed);
            };
            let af = data
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| {
                    let le = u32::from_le_bytes(b);
                    if le > 0xFFFF {
                        le.swap_bytes()
                    } else {
                        le
                    }
                });
            match af {
                Some(2 | 24 | 28 | 30 | 10) => NetStart::Ip(rest),
                _ => NetStart::Other,
            }
        }
        LinkType::RAW | LinkType::RAW_LEGACY | LinkType::IPV4 | LinkType::IPV6 | LinkType(14) => {
            NetStart::Ip(data)
        }
        // Linux cooked capture v1: 16 bytes, protocol at 14 (an ethertype).
        LinkType::LINUX_SLL => match (be16(data, 14), data.get(16..)) {
            (Some(p), Some(rest)) => by_ethertype(p, rest, 0),
            _ => NetStart::Malformed,
        },
        // Linux cooked capture v2: 20 bytes, protocol first.
        LinkType::LINUX_SLL2 => match (be16(data, 0), data.get(20..)) {
            (Some(p), Some(rest)) => by_ethertype(p, rest, 0),
            _ => NetStart::Malformed,
        },
        // Cisco HDLC: address, control, then an ethertype.
        LinkType::C_HDLC => match (be16(data, 2), data.get(4..)) {
            (Some(p), Some(rest)) => by_ethertype(p, rest, 0),
            _ => NetStart::Malformed,
        },
        LinkType::IEEE802_11 => ieee802_11(data),
        LinkType::IEEE802_11_RADIOTAP => {
            match le16(data, 2).and_then(|l| data.get(usize::from(l)..)) {
                Some(rest) => ieee802_11(rest),
                None => NetStart::Malformed,
            }
        }
        LinkType::ARCNET_BSD => arcnet(data, 2),
        LinkType::ARCNET_LINUX => arcnet(data, 4),
        LinkType::NFLOG => nflog(data),
        _ => return None,
    })
}

fn ethernet(data: &[u8], depth: u8) -> NetStart<'_> {
    match (be16(data, 12), data.get(14..)) {
        (Some(t), Some(rest)) => by_ethertype(t, rest, depth),
        _ => NetStart::Malformed,
    }
}

fn by_ethertype(t: u16, rest: &[u8], depth: u8) -> NetStart<'_> {
    if depth > 8 {
        return NetStart::Malformed;
    }
    let next = depth.saturating_add(1);
    match t {
        ethertype::IPV4 | ethertype::IPV6 => NetStart::Ip(rest),
        // 802.1Q and 802.1ad tags: 2 bytes of tag control, then the next ethertype.
        ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => {
            match (be16(rest, 2), rest.get(4..)) {
                (Some(t), Some(r)) => by_ethertype(t, r, next),
                _ => NetStart::Malformed,
            }
        }
        // MPLS (RFC 3032): 4-byte labels up to the bottom-of-stack bit, then IP by version.
        ethertype::MPLS | ethertype::MPLS_MC => {
            let mut at = 0usize;
            loop {
                let Some(label) = rest.get(at..at.saturating_add(4)) else {
                    return NetStart::Malformed;
                };
                at = at.saturating_add(4);
                if label.get(2).is_some_and(|b| b & 1 == 1) {
                    break;
                }
            }
            match rest.get(at..) {
                Some(r) if r.first().is_some_and(|b| matches!(b >> 4, 4 | 6)) => NetStart::Ip(r),
                _ => NetStart::Other,
            }
        }
        // PPPoE session (RFC 2516): 6-byte header, then a PPP protocol number.
        ethertype::PPPOE_SESSION => match (be16(rest, 6), rest.get(8..)) {
            (Some(0x0021 | 0x0057), Some(r)) => NetStart::Ip(r),
            (Some(_), Some(_)) => NetStart::Other,
            _ => NetStart::Malformed,
        },
        ethertype::TEB => ethernet(rest, next),
        _ => NetStart::Other,
    }
}

/// GRE (RFC 2784 with the RFC 2890 key and sequence fields), to what it carries.
fn gre_payload(data: &[u8]) -> Option<NetStart<'_>> {
    let flags = be16(data, 0)?;
    let proto = be16(data, 2)?;
    let mut at = 4usize;
    for bit in [0x8000u16, 0x2000, 0x1000] {
        if flags & bit != 0 {
            at = at.saturating_add(4);
        }
    }
    let rest = data.get(at..)?;
    Some(match proto {
        // ERSPAN type II: an 8-byte header before the mirrored Ethernet frame.
        ethertype::ERSPAN_2 => ethernet(rest.get(8..)?, 1),
        // ERSPAN type III: 12 bytes, plus an 8-byte platform subheader when O is set.
        ethertype::ERSPAN_3 => {
            let o = rest.get(11).is_some_and(|b| b & 1 == 1);
            ethernet(rest.get(if o { 20 } else { 12 }..)?, 1)
        }
        // GRE with no protocol and a zero-length payload is a keepalive.
        p => by_ethertype(p, rest, 1),
    })
}

/// IEEE 802.11 data frames: the MAC header, then LLC/SNAP with an ethertype.
fn ieee802_11(data: &[u8]) -> NetStart<'_> {
    let Some(&fc0) = data.first() else {
        return NetStart::Malformed;
    };
    let Some(&fc1) = data.get(1) else {
        return NetStart::Malformed;
    };
    let kind = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    // Only data frames carry IP; protected (encrypted) ones cannot be read.
    if kind != 2 || fc1 & 0x40 != 0 || subtype & 0x4 != 0 {
        return NetStart::Other;
    }
    let mut len = 24usize;
    if fc1 & 0x03 == 0x03 {
        len = len.saturating_add(6);
    }
    if subtype & 0x8 != 0 {
        len = len.saturating_add(2);
        if fc1 & 0x80 != 0 {
            len = len.saturating_add(4);
        }
    }
    llc_snap(data.get(len..).unwrap_or_default())
}

/// IEEE 802.2 LLC with a SNAP header (AA AA 03, OUI, ethertype).
fn llc_snap(data: &[u8]) -> NetStart<'_> {
    match (data.get(..3), be16(data, 6), data.get(8..)) {
        (Some([0xAA, 0xAA, 0x03]), Some(t), Some(rest)) => by_ethertype(t, rest, 0),
        (Some(_), _, _) => NetStart::Other,
        _ => NetStart::Malformed,
    }
}

/// ARCNET (RFC 1201 and RFC 1051): addresses, then a protocol id; RFC 1201's IP (0xD4) has a
/// split flag and a sequence number before the datagram, RFC 1051's (0xF0) does not.
fn arcnet(data: &[u8], proto_at: usize) -> NetStart<'_> {
    let Some(&proto) = data.get(proto_at) else {
        return NetStart::Malformed;
    };
    let after = proto_at.saturating_add(1);
    let start = match proto {
        0xD4 | 0xC4 => after.saturating_add(3),
        0xF0 => after,
        _ => return NetStart::Other,
    };
    match data.get(start..) {
        Some(r) => NetStart::Ip(r),
        None => NetStart::Malformed,
    }
}

/// Linux NFLOG: a 4-byte header, then TLVs (length and type in host order, padded to 4);
/// NFULA_PAYLOAD (9) holds the IP packet.
fn nflog(data: &[u8]) -> NetStart<'_> {
    let mut at = 4usize;
    while let (Some(len), Some(kind)) = (le16(data, at), le16(data, at.saturating_add(2))) {
        let len = usize::from(len);
        if len < 4 {
            return NetStart::Malformed;
        }
        if kind & 0x7FFF == 9 {
            return match data.get(at.saturating_add(4)..at.saturating_add(len)) {
                Some(p) => NetStart::Ip(p),
                None => match data.get(at.saturating_add(4)..) {
                    Some(p) => NetStart::Ip(p),
                    None => NetStart::Malformed,
                },
            };
        }
        at = at.saturating_add(len.saturating_add(3) & !3);
    }
    NetStart::Other
}
