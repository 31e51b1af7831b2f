//! Stage 5b: the traffic around the HTTP that a login depends on: the client's exchanges with
//! its KDC on port 88 (RFC 4120 7.2.1 over UDP, 7.2.2 over TCP with record marking) and its
//! DNS on port 53 (RFC 1035 4.2.1 over UDP, 4.2.2 over TCP with a length prefix).
//!
//! Beside the HTTP stage, not inside it: the network stage hands on UDP datagrams to or from
//! these ports, and the pipeline hands the stream events of TCP connections to them here
//! instead of to TLS and HTTP. Each message goes on as a [`WireMsg`], which the model joins
//! to the handshakes of the same client.

pub mod dns;
pub mod krb;

use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::map::Map as HashMap;
use crate::tcp::{CloseReason, ConnId, Dir};

pub use crate::net::{DNS_PORT, KERBEROS_PORT};

/// Whether a datagram or connection between these ports is for this stage, and which.
pub fn protocol_of(src_port: u16, dst_port: u16) -> Option<(Protocol, bool)> {
    // The server's port decides; the bool says the destination is the server.
    match (src_port, dst_port) {
        (_, KERBEROS_PORT) => Some((Protocol::Kerberos, true)),
        (_, DNS_PORT) => Some((Protocol::Dns, true)),
        (KERBEROS_PORT, _) => Some((Protocol::Kerberos, false)),
        (DNS_PORT, _) => Some((Protocol::Dns, false)),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Kerberos,
    Dns,
}

/// The caps of the stage.
#[derive(Debug, Clone, Copy)]
pub struct KdcConfig {
    /// The largest message gathered from a TCP stream; a longer one ends that direction.
    pub max_message_bytes: usize,
    /// TCP connections to port 88 or 53 followed at once.
    pub max_streams: usize,
    /// Drop ticket and reply cipher texts as messages are decoded (for an output that will
    /// not show them), keeping their lengths.
    pub forget_secrets: bool,
}

impl Default for KdcConfig {
    fn default() -> Self {
        KdcConfig {
            max_message_bytes: 65_536,
            max_streams: 1024,
            forget_secrets: false,
        }
    }
}

/// What the stage counted (in the summary when it saw anything).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KdcStats {
    pub kerberos_messages: u64,
    pub dns_messages: u64,
    /// Messages that did not decode (shown as malformed, with the reason).
    pub malformed: u64,
    pub tcp_streams: u64,
    /// TCP connections to 88 or 53 not followed: [`KdcConfig::max_streams`] were open.
    pub stream_cap_hits: u64,
    /// TCP messages longer than [`KdcConfig::max_message_bytes`]: that direction stopped.
    pub message_cap_hits: u64,
    /// TCP directions stopped by bytes not captured (record boundaries are lost).
    pub tcp_gaps: u64,
    /// DNS questions and answers past the per-message cap ([`dns::MAX_RECORDS`]).
    pub dns_records_dropped: u64,
    /// Messages the model could not hold for the join (too many clients, or too many
    /// messages of one client within the join window).
    pub held_cap_hits: u64,
    /// ICMP destination unreachable messages quoting a packet to or from port 88 or 53.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreachable: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl KdcStats {
    /// Two fronts' counters as one's.
    pub fn plus(&self, o: &KdcStats) -> KdcStats {
        let s = |x: u64, y: u64| x.saturating_add(y);
        KdcStats {
            kerberos_messages: s(self.kerberos_messages, o.kerberos_messages),
            dns_messages: s(self.dns_messages, o.dns_messages),
            malformed: s(self.malformed, o.malformed),
            tcp_streams: s(self.tcp_streams, o.tcp_streams),
            stream_cap_hits: s(self.stream_cap_hits, o.stream_cap_hits),
            message_cap_hits: s(self.message_cap_hits, o.message_cap_hits),
            tcp_gaps: s(self.tcp_gaps, o.tcp_gaps),
            dns_records_dropped: s(self.dns_records_dropped, o.dns_records_dropped),
            held_cap_hits: s(self.held_cap_hits, o.held_cap_hits),
            unreachable: s(self.unreachable, o.unreachable),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == KdcStats::default()
    }
}

/// A message of this stage, with where and when it travelled.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WireMsg {
    pub ts: Timestamp,
    /// The frame that completed it.
    pub frame: u64,
    /// The client (the side that is not the KDC or DNS server).
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Sent by the client (else by the server).
    pub from_client: bool,
    /// The TCP connection it came on; `None` over UDP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnId>,
    #[serde(flatten)]
    pub body: WireBody,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum WireBody {
    Kerberos(Box<krb::KdcMessage>),
    Dns(dns::DnsMessage),
    /// A message that does not decode: what it was meant to be, its length, and why.
    Malformed {
        of: Protocol,
        len: usize,
        error: String,
    },
    /// A TCP connection to the KDC that ended with no answer (refused with an RST, or closed).
    NoAnswer {
        reset: bool,
    },
    /// An ICMP destination unreachable about a packet of the client's to the KDC or its DNS
    /// server (or of theirs to the client): `client` and `server` are the quoted packet's.
    Unreachable {
        of: Protocol,
        icmp: crate::net::Unreachable,
        /// The Kerberos message the quote holds whole, if it does.
        #[serde(skip_serializing_if = "Option::is_none")]
        quoted: Option<Box<krb::KdcMessage>>,
    },
}

impl WireMsg {
    pub fn kerberos(&self) -> Option<&krb::KdcMessage> {
        match &self.body {
            WireBody::Kerberos(k) => Some(k),
            _ => None,
        }
    }

    /// The Kerberos message an ICMP unreachable quotes whole.
    pub fn quoted(&self) -> Option<&krb::KdcMessage> {
        match &self.body {
            WireBody::Unreachable { quoted, .. } => quoted.as_deref(),
            _ => None,
        }
    }

    pub fn dns(&self) -> Option<&dns::DnsMessage> {
        match &self.body {
            WireBody::Dns(d) => Some(d),
            _ => None,
        }
    }

    /// The message in a line, as timelines show it (secrets never in it). The transport is
    /// the line's connection column (`udp`, or the TCP connection's id), not the text's.
    pub fn text(&self) -> String {
        match &self.body {
            WireBody::Kerberos(k) => {
                let mut t = format!("KDC {}", k.kind.name());
                if let (Some(c), Some(r)) = (&k.cname, &k.crealm) {
                    t.push_str(&format!(" {c}@{r}"));
                } else if let Some(c) = &k.cname {
                    t.push_str(&format!(" {c}"));
                }
                if let Some(s) = &k.sname {
                    t.push_str(&format!(" sname={s}"));
                }
                if let Some(e) = k.error_code {
                    t.push_str(&format!(" {e}"));
                }
                if let Some(e) = &k.etext {
                    if !e.is_empty() {
                        t.push_str(&format!(" ({})", crate::shown::shown(e)));
                    }
                }
                if !k.etypes.is_empty() {
                    // The client's first choices; the rest counted.
                    let names: Vec<String> =
                        k.etypes.iter().take(2).map(|e| e.to_string()).collect();
                    t.push_str(&format!(" etypes={}", names.join(",")));
                    if k.etypes.len() > 2 {
                        t.push_str(&format!(",+{}", k.etypes.len() - 2));
                    }
                }
                if let Some(e) = k.ticket_etype {
                    t.push_str(&format!(" ticket={e}"));
                    if let Some(v) = k.ticket_kvno {
                        t.push_str(&format!(" kvno={v}"));
                    }
                }
                if let Some(e) = k.enc_part_etype {
                    t.push_str(&format!(" reply-key={e}"));
                }
                let s4u: Vec<&str> = k
                    .padata
                    .iter()
                    .filter(|p| matches!(p, 129 | 130))
                    .map(|p| krb::padata_name(*p))
                    .collect();
                if !s4u.is_empty() {
                    t.push_str(&format!(" {}", s4u.join(",")));
                }
                if k.kdc_option_names.contains(&"cname-in-addl-tkt") {
                    t.push_str(" S4U2proxy");
                }
                t
            }
            WireBody::Dns(d) => {
                let q = d
                    .questions
                    .first()
                    .map(|q| format!("{} {}", dns::type_name(q.qtype), q.name))
                    .unwrap_or_default();
                if !d.response {
                    return format!("DNS query {q}");
                }
                let mut t = format!("DNS answer {q}: {}", dns::rcode_name(d.rcode));
                for a in &d.answers {
                    if !a.data.is_empty() {
                        t.push_str(&format!(" {}={}", dns::type_name(a.rtype), a.data));
                    }
                }
                t
            }
            WireBody::Malformed { of, len, error } => {
                let of = match of {
                    Protocol::Kerberos => "KDC",
                    Protocol::Dns => "DNS",
                };
                format!("{of} malformed, {len} bytes: {error}")
            }
            WireBody::NoAnswer { reset: true } => {
                "KDC connection refused or reset with no answer".to_owned()
            }
            WireBody::NoAnswer { reset: false } => {
                "KDC connection closed with no answer".to_owned()
            }
            WireBody::Unreachable { of, icmp, quoted } => {
                let what = match (of, quoted) {
                    (_, Some(k)) => {
                        let mut t = format!("the {}", k.kind.name());
                        if let Some(s) = &k.sname {
                            t.push_str(&format!(" sname={s}"));
                        }
                        t
                    }
                    (Protocol::Kerberos, None) if icmp.tcp => "a TCP segment".to_owned(),
                    (Protocol::Kerberos, None) => "a datagram".to_owned(),
                    (Protocol::Dns, None) => "a DNS datagram".to_owned(),
                };
                let over = if icmp.tcp { "TCP" } else { "UDP" };
                format!(
                    "{} {} from {} for {what} to {} [{over}]",
                    if icmp.v6 { "ICMPv6" } else { "ICMP" },
                    icmp.reason(),
                    icmp.from,
                    self.server
                )
            }
        }
    }
}

impl crate::auth::RevealSecrets for WireMsg {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        match &mut self.body {
            WireBody::Kerberos(k) => k.each_secret(f),
            WireBody::Unreachable {
                quoted: Some(k), ..
            } => k.each_secret(f),
            _ => {}
        }
    }
}

/// One TCP connection to 88 or 53.
#[derive(Debug)]
struct Stream {
    client: SocketAddr,
    server: SocketAddr,
    protocol: Protocol,
    /// What each direction gathered of its next message; `None` once it stopped.
    buf: [Option<Vec<u8>>; 2],
    /// The server sent something.
    answered: bool,
    reset: bool,
}

/// Stage 5b.
#[derive(Debug, Default)]
pub struct KdcStage {
    config: KdcConfig,
    streams: HashMap<ConnId, Stream>,
    stats: KdcStats,
}

impl KdcStage {
    pub fn new(config: KdcConfig) -> Self {
        KdcStage {
            config,
            streams: HashMap::default(),
            stats: KdcStats::default(),
        }
    }

    pub fn stats(&self) -> KdcStats {
        self.stats
    }

    /// Whether any TCP connection is followed: with none, a stream event costs one compare.
    #[inline]
    pub fn has_streams(&self) -> bool {
        !self.streams.is_empty()
    }

    pub fn follows(&self, conn: ConnId) -> bool {
        self.streams.contains_key(&conn)
    }

    /// A UDP datagram between `src` and `dst`, one of them on port 88 or 53.
    pub fn datagram(
        &mut self,
        ts: Timestamp,
        frame: u64,
        (src, dst): (SocketAddr, SocketAddr),
        payload: &[u8],
    ) -> Option<WireMsg> {
        let (protocol, to_server) = protocol_of(src.port(), dst.port())?;
        let (client, server) = if to_server { (src, dst) } else { (dst, src) };
        Some(self.message(
            ts,
            frame,
            (client, server),
            to_server,
            None,
            protocol,
            payload,
        ))
    }

    /// An ICMP destination unreachable quoting a packet between `src` and `dst`, one of them
    /// on port 88 or 53, with what the quote holds of its payload.
    pub fn unreachable(
        &mut self,
        ts: Timestamp,
        frame: u64,
        (src, dst): (SocketAddr, SocketAddr),
        icmp: crate::net::Unreachable,
        payload: &[u8],
    ) -> Option<WireMsg> {
        let (of, to_server) = protocol_of(src.port(), dst.port())?;
        let (client, server) = if to_server { (src, dst) } else { (dst, src) };
        self.stats.unreachable = self.stats.unreachable.saturating_add(1);
        // A quote cut short does not decode; it is no malformed message of the client's.
        let quoted = (of == Protocol::Kerberos && !icmp.tcp)
            .then(|| krb::decode(payload).ok())
            .flatten()
            .map(|mut k| {
                if self.config.forget_secrets {
                    crate::auth::RevealSecrets::each_secret(&mut k, &mut |x| x.forget());
                }
                Box::new(k)
            });
        Some(WireMsg {
            ts,
            frame,
            client,
            server,
            from_client: false,
            conn: None,
            body: WireBody::Unreachable { of, icmp, quoted },
        })
    }

    /// A TCP connection opened: followed when its server is on 88 or 53.
    pub fn open(&mut self, conn: ConnId, client: SocketAddr, server: SocketAddr) {
        let Some((protocol, _)) = protocol_of(client.port(), server.port()) else {
            return;
        };
        if self.streams.len() >= self.config.max_streams {
            self.stats.stream_cap_hits = self.stats.stream_cap_hits.saturating_add(1);
            return;
        }
        self.stats.tcp_streams = self.stats.tcp_streams.saturating_add(1);
        self.streams.insert(
            conn,
            Stream {
                client,
                server,
                protocol,
                buf: [Some(Vec::new()), Some(Vec::new())],
                answered: false,
                reset: false,
            },
        );
    }

    /// In-order bytes of a followed connection: each whole message goes to `out`.
    pub fn data(
        &mut self,
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
        bytes: &[u8],
        out: &mut dyn FnMut(WireMsg),
    ) {
        let max = self.config.max_message_bytes;
        let Some(s) = self.streams.get_mut(&conn) else {
            return;
        };
        let to_server = dir == Dir::ToServer;
        if !to_server && !bytes.is_empty() {
            s.answered = true;
        }
        let (client, server, protocol) = (s.client, s.server, s.protocol);
        let [up, down] = &mut s.buf;
        let slot = if to_server { up } else { down };
        let Some(buf) = slot.as_mut() else {
            return;
        };
        buf.extend_from_slice(bytes);
        let mut messages = Vec::new();
        loop {
            // RFC 4120 7.2.2: four bytes of length, the high bit reserved; RFC 1035 4.2.2: two.
            let (head, len): (usize, usize) = match protocol {
                Protocol::Kerberos => {
                    match buf.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) {
                        Some(h) => (4, (u32::from_be_bytes(h) & 0x7FFF_FFFF) as usize),
                        None => break,
                    }
                }
                Protocol::Dns => match buf.get(..2).and_then(|h| <[u8; 2]>::try_from(h).ok()) {
                    Some(h) => (2, usize::from(u16::from_be_bytes(h))),
                    None => break,
                },
            };
            if len > max {
                self.stats.message_cap_hits = self.stats.message_cap_hits.saturating_add(1);
                *slot = None;
                break;
            }
            let Some(end) = head.checked_add(len).filter(|e| *e <= buf.len()) else {
                break;
            };
            messages.push(buf.get(head..end).unwrap_or_default().to_vec());
            buf.drain(..end);
        }
        for m in messages {
            out(self.message(
                ts,
                frame,
                (client, server),
                to_server,
                Some(conn),
                protocol,
                &m,
            ));
        }
    }

    /// Bytes not captured: that direction's message boundaries are lost.
    pub fn gap(&mut self, conn: ConnId, dir: Dir) {
        if let Some(s) = self.streams.get_mut(&conn) {
            let [up, down] = &mut s.buf;
            let slot = if dir == Dir::ToServer { up } else { down };
            if slot.take().is_some() {
                self.stats.tcp_gaps = self.stats.tcp_gaps.saturating_add(1);
            }
        }
    }

    /// An RST on a followed connection.
    pub fn reset(&mut self, conn: ConnId) {
        if let Some(s) = self.streams.get_mut(&conn) {
            s.reset = true;
        }
    }

    /// A followed connection ended: a KDC that never answered says so. One taken over by a
    /// new SYN (a retransmitted SYN) or evicted by a cap is not a KDC's silence.
    pub fn closed(
        &mut self,
        conn: ConnId,
        ts: Timestamp,
        frame: u64,
        reason: CloseReason,
    ) -> Option<WireMsg> {
        let s = self.streams.remove(&conn)?;
        if s.answered
            || s.protocol != Protocol::Kerberos
            || matches!(reason, CloseReason::Reused | CloseReason::Evicted)
        {
            return None;
        }
        Some(WireMsg {
            ts,
            frame,
            client: s.client,
            server: s.server,
            from_client: false,
            conn: Some(conn),
            body: WireBody::NoAnswer { reset: s.reset },
        })
    }

    /// The capture ended: nothing of it is followed any more.
    pub fn end_capture(&mut self) {
        self.streams.clear();
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        ts: Timestamp,
        frame: u64,
        (client, server): (SocketAddr, SocketAddr),
        from_client: bool,
        conn: Option<ConnId>,
        protocol: Protocol,
        bytes: &[u8],
    ) -> WireMsg {
        let s = &mut self.stats;
        let body = match protocol {
            Protocol::Kerberos => match krb::decode(bytes) {
                Ok(mut k) => {
                    s.kerberos_messages = s.kerberos_messages.saturating_add(1);
                    if self.config.forget_secrets {
                        crate::auth::RevealSecrets::each_secret(&mut k, &mut |x| x.forget());
                    }
                    WireBody::Kerberos(Box::new(k))
                }
                Err(error) => malformed(s, protocol, bytes.len(), error),
            },
            Protocol::Dns => match dns::decode(bytes) {
                Ok(d) => {
                    s.dns_messages = s.dns_messages.saturating_add(1);
                    s.dns_records_dropped = s
                        .dns_records_dropped
                        .saturating_add(d.records_dropped as u64);
                    WireBody::Dns(d)
                }
                Err(error) => malformed(s, protocol, bytes.len(), error),
            },
        };
        WireMsg {
            ts,
            frame,
            client,
            server,
            from_client,
            conn,
            body,
        }
    }
}

fn malformed(s: &mut KdcStats, of: Protocol, len: usize, error: String) -> WireBody {
    s.malformed = s.malformed.saturating_add(1);
    WireBody::Malformed { of, len, error }
}
