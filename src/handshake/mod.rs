//! Stage 6: legs -> handshakes -> timelines (the model).
//!
//! A handshake is one authentication attempt of one client against one server and resource
//! (proxy authentication against the proxy), from the first anonymous request or first
//! credential to success, failure or abandonment. Its legs are exchanges, joined on their
//! connection first, then across connections by what the protocol gives: an NTLMv2 Type 3
//! echoes the timestamp of the Type 2 it answers (MS-NLMP 3.1.5.2.1), and otherwise the same
//! client address, server, Host and request target within a time window.
//!
//! [`Correlator`] is incremental: feed it connection events and exchanges in capture order,
//! and it hands back each handshake once nothing more can join it.

mod correlate;
pub mod kdc;
mod leg;
pub mod serial;
pub mod server;

use std::net::{IpAddr, SocketAddr};

use crate::capture::Timestamp;
use crate::tcp::{ConnId, Dir};

pub use correlate::{CorrelateConfig, CorrelateStats, Correlator};
pub use leg::{
    credential_len, decode_named, iis_substatus, leg_of, leg_of_shared, Answer, Binding,
    Credential, HttpVersion, Leg, LegRequest, LegResponse, SharedAuth,
};

/// Which end of a connection.
// Deserialize: the UI spools timelines to disk and reads them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Client,
    Server,
}

impl From<Dir> for Side {
    /// The sender of a direction.
    fn from(d: Dir) -> Side {
        match d {
            Dir::ToServer => Side::Client,
            Dir::ToClient => Side::Server,
        }
    }
}

/// A TCP event of one of a handshake's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnEventKind {
    /// The connection was first seen (`handshake_seen`: its SYN was captured).
    Open {
        handshake_seen: bool,
    },
    Fin {
        by: Side,
    },
    Rst {
        by: Side,
    },
    /// Bytes from `by` that were never seen.
    Gap {
        by: Side,
        len: u64,
    },
    /// The TLS handshake chose its version and cipher suite (the ServerHello).
    Tls {
        version: u16,
        cipher_suite: u16,
    },
    /// A TLS alert from `by` (RFC 8446 6).
    TlsAlert {
        by: Side,
        level: u8,
        description: u8,
        /// Sent after the other side's FIN: the answer to a close without close_notify
        /// (RFC 8446 6.1), not to anything the other side sent.
        after_close: bool,
    },
    /// An HTTP/2 SETTINGS, GOAWAY or RST_STREAM frame from `by` (RFC 9113 6).
    H2 {
        by: Side,
        frame: crate::http::H2Frame,
    },
}

impl std::fmt::Display for ConnEventKind {
    /// The event in words, as timelines show it (`TCP RST from server`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |s: &Side| match s {
            Side::Client => "client",
            Side::Server => "server",
        };
        match self {
            ConnEventKind::Open {
                handshake_seen: true,
            } => f.write_str("TCP open"),
            ConnEventKind::Open {
                handshake_seen: false,
            } => f.write_str("TCP picked up mid-stream"),
            ConnEventKind::Fin { by } => write!(f, "TCP FIN from {}", side(by)),
            ConnEventKind::Rst { by } => write!(f, "TCP RST from {}", side(by)),
            ConnEventKind::Gap { by, len } => {
                write!(f, "TCP gap: {len} bytes from {} not captured", side(by))
            }
            ConnEventKind::Tls {
                version,
                cipher_suite,
            } => write!(
                f,
                "{} {}",
                crate::tls::version_name(*version),
                crate::tls::cipher_suite_name(*cipher_suite)
            ),
            ConnEventKind::TlsAlert {
                by,
                level,
                description,
                after_close,
            } => {
                write!(
                    f,
                    "TLS alert from {}: {} {}",
                    side(by),
                    crate::tls::alert_level_name(*level),
                    crate::tls::alert_name(*description)
                )?;
                // close_notify is how either side answers the other's close.
                if *after_close && *description != 0 {
                    let peer = match by {
                        Side::Client => Side::Server,
                        Side::Server => Side::Client,
                    };
                    write!(f, " after the {}'s FIN: no refusal", side(&peer))?;
                }
                Ok(())
            }
            ConnEventKind::H2 { by, frame } => write!(f, "HTTP/2 {frame} from {}", side(by)),
        }
    }
}

/// Serialised with `kind`'s members inline, as `#[serde(flatten)]` would write it (see
/// `ConnEventKind::serialize_members`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnEvent {
    pub conn: ConnId,
    pub ts: Timestamp,
    pub frame: u64,
    pub kind: ConnEventKind,
}

impl serde::Serialize for ConnEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("ConnEvent", 3 + self.kind.members())?;
        st.serialize_field("conn", &self.conn)?;
        st.serialize_field("ts", &self.ts)?;
        st.serialize_field("frame", &self.frame)?;
        self.kind.serialize_members(&mut st)?;
        st.end()
    }
}

impl ConnEventKind {
    /// A FIN or RST: within one frame, what its payload said (TLS, HTTP/2) comes before it,
    /// whenever it was read (keys that came late decrypt it after the FIN went by).
    fn closes(&self) -> bool {
        matches!(self, ConnEventKind::Fin { .. } | ConnEventKind::Rst { .. })
    }

    /// How many members [`ConnEventKind::serialize_members`] writes.
    fn members(&self) -> usize {
        match self {
            ConnEventKind::Open { .. } | ConnEventKind::Fin { .. } | ConnEventKind::Rst { .. } => 2,
            ConnEventKind::Gap { .. } | ConnEventKind::Tls { .. } => 3,
            ConnEventKind::TlsAlert { .. } => 5,
            ConnEventKind::H2 { .. } => 3,
        }
    }

    /// The members the derive writes (`kind` and the variant's fields), into an enclosing
    /// object. `#[serde(flatten)]` would do the same through a map, entry by entry, at about
    /// twice the cost, and timelines hold many of these.
    fn serialize_members<S: serde::ser::SerializeStruct>(
        &self,
        st: &mut S,
    ) -> Result<(), S::Error> {
        match self {
            ConnEventKind::Open { handshake_seen } => {
                st.serialize_field("kind", "open")?;
                st.serialize_field("handshake_seen", handshake_seen)
            }
            ConnEventKind::Fin { by } => {
                st.serialize_field("kind", "fin")?;
                st.serialize_field("by", by)
            }
            ConnEventKind::Rst { by } => {
                st.serialize_field("kind", "rst")?;
                st.serialize_field("by", by)
            }
            ConnEventKind::Gap { by, len } => {
                st.serialize_field("kind", "gap")?;
                st.serialize_field("by", by)?;
                st.serialize_field("len", len)
            }
            ConnEventKind::Tls {
                version,
                cipher_suite,
            } => {
                st.serialize_field("kind", "tls")?;
                st.serialize_field("version", version)?;
                st.serialize_field("cipher_suite", cipher_suite)
            }
            ConnEventKind::TlsAlert {
                by,
                level,
                description,
                after_close,
            } => {
                st.serialize_field("kind", "tls_alert")?;
                st.serialize_field("by", by)?;
                st.serialize_field("level", level)?;
                st.serialize_field("description", description)?;
                st.serialize_field("after_close", after_close)
            }
            ConnEventKind::H2 { by, frame } => {
                st.serialize_field("kind", "h2")?;
                st.serialize_field("by", by)?;
                st.serialize_field("h2", frame)
            }
        }
    }
}

/// The scheme a handshake actually used (serialized by its name: `negotiate-ntlm`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemeUsed {
    /// No credential was sent (only the anonymous probe).
    None,
    Ntlm,
    /// NTLM inside `Negotiate` (SPNEGO-wrapped or raw).
    NegotiateNtlm,
    Kerberos,
    Basic,
    Digest,
    Bearer,
    Other(String),
}

impl SchemeUsed {
    /// The scheme's name, as reports write it.
    pub fn as_str(&self) -> &str {
        match self {
            SchemeUsed::None => "none",
            SchemeUsed::Ntlm => "ntlm",
            SchemeUsed::NegotiateNtlm => "negotiate-ntlm",
            SchemeUsed::Kerberos => "kerberos",
            SchemeUsed::Basic => "basic",
            SchemeUsed::Digest => "digest",
            SchemeUsed::Bearer => "bearer",
            SchemeUsed::Other(s) => s,
        }
    }
}

impl serde::Serialize for SchemeUsed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for SchemeUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// A complete credential was refused (401/407 after it).
    LogonFailed,
    /// A 401/407 with no challenge at all: no method enabled.
    NoAuthMethod,
    /// The connection closed (FIN) in the middle of the handshake.
    ConnectionClosed,
    /// The connection was reset in the middle of the handshake.
    ConnectionReset,
    /// Kerberos refused (a KRB-ERROR or a SPNEGO reject).
    KerberosRejected,
    /// The server refused to start: an NTLM Type 1 answered without a Type 2.
    NegotiateRefused,
    /// The credential never reached the check: its header was too large for the server
    /// (400, 413 or 431 to a large token; http.sys `MaxFieldLength`, Apache
    /// `LimitRequestFieldSize`).
    TokenTooLarge,
    /// An error status (4xx/5xx other than 401/407) to a step before the credential, such as
    /// an NTLM Type 1 answered 500: the mechanism failed on the server.
    Error,
}

/// How a handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "result", content = "how", rename_all = "kebab-case")]
pub enum Outcome {
    Success,
    Failed(Failure),
    /// The client stopped answering (a challenge left unanswered).
    Abandoned,
    /// Still going when the input ended.
    InProgress,
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Outcome::Success => "success".into(),
            Outcome::Failed(f) => format!(
                "failed ({})",
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            Outcome::Abandoned => "abandoned".into(),
            Outcome::InProgress => "in progress".into(),
        }
    }
}

/// One line of a timeline: a leg's request or response, or a TCP event, with its time and
/// the time since the line before.
///
/// Serialised with `what`'s members inline, as `#[serde(flatten)]` would write it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub ts: Timestamp,
    /// Nanoseconds since the previous entry (0 for the first).
    pub delta_ns: i64,
    pub conn: ConnId,
    pub frame: u64,
    pub what: TimelineWhat,
}

/// A connection as faces name it: `c3`, or `udp` for a KDC or DNS datagram ([`UDP`]).
pub fn conn_label(conn: ConnId) -> String {
    if conn == UDP {
        "udp".to_owned()
    } else {
        format!("c{conn}")
    }
}

impl TimelineEntry {
    pub fn conn_label(&self) -> String {
        conn_label(self.conn)
    }
}

impl serde::Serialize for TimelineEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let members = match &self.what {
            TimelineWhat::Request { .. } => 3,
            TimelineWhat::Response { .. } => 4,
            TimelineWhat::Tcp(kind) => 1 + kind.members(),
            TimelineWhat::IisStatus { .. } | TimelineWhat::SecurityEvent { .. } => 3,
            TimelineWhat::Kdc { .. } | TimelineWhat::Dns { .. } => 3,
        };
        let mut st = s.serialize_struct("TimelineEntry", 4 + members)?;
        st.serialize_field("ts", &self.ts)?;
        st.serialize_field("delta_ns", &self.delta_ns)?;
        // A message over UDP has no connection.
        st.serialize_field("conn", &(self.conn != UDP).then_some(self.conn))?;
        st.serialize_field("frame", &self.frame)?;
        match &self.what {
            TimelineWhat::Request { leg, text } => {
                st.serialize_field("event", "request")?;
                st.serialize_field("leg", leg)?;
                st.serialize_field("text", text)?;
            }
            TimelineWhat::Response { leg, status, text } => {
                st.serialize_field("event", "response")?;
                st.serialize_field("leg", leg)?;
                st.serialize_field("status", status)?;
                st.serialize_field("text", text)?;
            }
            TimelineWhat::Tcp(kind) => {
                st.serialize_field("event", "tcp")?;
                kind.serialize_members(&mut st)?;
            }
            TimelineWhat::IisStatus { leg, text } => {
                st.serialize_field("event", "iis_status")?;
                st.serialize_field("leg", leg)?;
                st.serialize_field("text", text)?;
            }
            TimelineWhat::SecurityEvent { leg, text } => {
                st.serialize_field("event", "security_event")?;
                st.serialize_field("leg", leg)?;
                st.serialize_field("text", text)?;
            }
            TimelineWhat::Kdc { by, text } => {
                st.serialize_field("event", "kdc")?;
                st.serialize_field("by", by)?;
                st.serialize_field("text", text)?;
            }
            TimelineWhat::Dns { by, text } => {
                st.serialize_field("event", "dns")?;
                st.serialize_field("by", by)?;
                st.serialize_field("text", text)?;
            }
        }
        st.end()
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TimelineWhat {
    Request {
        leg: usize,
        text: String,
    },
    Response {
        leg: usize,
        status: u16,
        text: String,
    },
    Tcp(ConnEventKind),
    /// What the server's IIS or HTTPERR log wrote of a leg (`--server-log`).
    IisStatus {
        leg: usize,
        text: String,
    },
    /// A Windows event joined to a leg (`--events`).
    SecurityEvent {
        leg: usize,
        text: String,
    },
    /// A message between the client and its KDC ([`Handshake::kdc`]), sent by `by`.
    Kdc {
        by: Side,
        text: String,
    },
    /// A DNS query or answer of the client ([`Handshake::kdc`]).
    Dns {
        by: Side,
        text: String,
    },
}

impl TimelineWhat {
    /// The line's words, where it has any (a TCP event is put in words when shown).
    pub fn text_mut(&mut self) -> Option<&mut String> {
        match self {
            TimelineWhat::Request { text, .. }
            | TimelineWhat::Response { text, .. }
            | TimelineWhat::IisStatus { text, .. }
            | TimelineWhat::SecurityEvent { text, .. }
            | TimelineWhat::Kdc { text, .. }
            | TimelineWhat::Dns { text, .. } => Some(text),
            TimelineWhat::Tcp(_) => None,
        }
    }
}

/// The connection of a timeline line that travelled over UDP (a KDC or DNS message): no
/// TCP connection has this id. Written `null` in the JSON.
pub const UDP: ConnId = ConnId::MAX;

/// An NTLM server challenge that two handshakes between different ends were both given:
/// a server draws a fresh one for each context, so the second copy was passed on by a relay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SharedChallenge {
    /// The server challenge, hex.
    pub challenge: String,
    /// This handshake's leg that carried it.
    pub leg: usize,
    /// The other handshake, its ends, and where it got the challenge.
    pub other: u64,
    pub other_client: IpAddr,
    #[serde(serialize_with = "crate::handshake::serial::socket_addr")]
    pub other_server: SocketAddr,
    pub other_conn: ConnId,
    pub other_frame: u64,
}

/// One authentication attempt, with everything the rules and the faces need.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Handshake {
    pub id: u64,
    /// The capture it is in ([`crate::capture::Frame::input`]).
    pub input: u32,
    /// The client address (its port changes from connection to connection).
    pub client: IpAddr,
    /// The client socket of the first connection.
    #[serde(serialize_with = "crate::handshake::serial::socket_addr")]
    pub client_socket: SocketAddr,
    #[serde(serialize_with = "crate::handshake::serial::socket_addr")]
    pub server: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The request method and target of the first leg: a handshake is one method and one
    /// resource.
    pub method: String,
    pub resource: String,
    /// The status the server gave the request in the end (the last response), which the
    /// outcome does not judge: a login can succeed and its request still fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Authentication to a proxy (407) rather than to the site.
    pub proxy: bool,
    pub scheme: SchemeUsed,
    /// Schemes the server offered, in the order of its first challenge.
    pub offered: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workstation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    pub outcome: Outcome,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Connections the legs travelled on, in order of first use.
    pub connections: Vec<ConnId>,
    pub legs: Vec<Leg>,
    /// Times the client started over (a new anonymous probe, Type 1 or credential after a
    /// refusal); 1 for a single attempt.
    pub rounds: u32,
    /// Later requests on the same connection that reused the accepted credential (counted,
    /// not kept as legs).
    pub reused_requests: u64,
    /// Anonymous requests challenged again after this handshake had succeeded on the
    /// connection (authentication kept for one request only).
    pub rechallenged: u64,
    /// Legs not kept because the handshake reached its leg cap.
    pub dropped_legs: u64,
    /// Handshakes that completed on the same connection before this one.
    pub earlier_on_connection: u32,
    /// NTLM server challenges of this handshake that another one, between other ends, was
    /// given too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_challenges: Vec<SharedChallenge>,
    /// TCP events of the connections, for the timeline and the rules.
    pub tcp: Vec<ConnEvent>,
    /// The client's KDC exchanges and DNS answers that served this login ([`kdc`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kdc: Vec<crate::kdc::WireMsg>,
    /// The client's port on each connection (the server's records name it).
    #[serde(skip)]
    pub client_ports: Vec<(ConnId, u16)>,
    pub timeline: Vec<TimelineEntry>,
}

impl Handshake {
    /// About how many bytes it holds: its legs' ([`Leg::approx_bytes`]) and its own.
    pub fn approx_bytes(&self) -> usize {
        self.legs
            .iter()
            .map(Leg::approx_bytes)
            .sum::<usize>()
            .saturating_add(std::mem::size_of::<Handshake>())
            .saturating_add(self.timeline.len().saturating_mul(96))
    }

    /// Shows the secrets of the decoded tokens (`--reveal-secrets`). A token shared with an
    /// exchange's output is copied first, so only this handshake's copy changes.
    pub fn reveal_secrets(&mut self) {
        for leg in &mut self.legs {
            if let Some(c) = leg.request.as_mut().and_then(|r| r.credential.as_mut()) {
                crate::auth::RevealSecrets::reveal_secrets(std::sync::Arc::make_mut(c));
            }
            if let Some(c) = leg.response.as_mut().and_then(|r| r.challenges.as_mut()) {
                crate::auth::RevealSecrets::reveal_secrets(std::sync::Arc::make_mut(c));
            }
        }
        for m in &mut self.kdc {
            crate::auth::RevealSecrets::reveal_secrets(m);
        }
    }

    /// The legs that carried a complete credential.
    pub fn credential_legs(&self) -> impl Iterator<Item = (usize, &Leg)> {
        self.legs
            .iter()
            .enumerate()
            .filter(|(_, l)| l.credential.is_complete())
    }

    /// Builds the timeline from the legs and the TCP events.
    ///
    /// The request's and response's lines reuse the auth summaries the leg's summary holds.
    pub fn build_timeline(&mut self) {
        self.tcp.sort_by_key(|e| (e.frame, e.ts, e.kind.closes()));
        let mut entries: Vec<TimelineEntry> = Vec::new();
        for (i, leg) in self.legs.iter().enumerate() {
            if let Some(r) = &leg.request {
                entries.push(TimelineEntry {
                    ts: r.ts,
                    delta_ns: 0,
                    conn: leg.conn,
                    frame: r.frame,
                    what: TimelineWhat::Request {
                        leg: i,
                        text: request_text(leg, r),
                    },
                });
            }
            if let Some(r) = &leg.response {
                entries.push(TimelineEntry {
                    ts: r.ts,
                    delta_ns: 0,
                    conn: leg.conn,
                    frame: r.frame,
                    what: TimelineWhat::Response {
                        leg: i,
                        status: r.status,
                        text: response_text(leg, r),
                    },
                });
            }
        }
        for (i, leg) in self.legs.iter().enumerate() {
            // Right after the line it explains: the record's own time is the server's clock.
            let (ts, frame) = match (&leg.response, &leg.request) {
                (Some(r), _) => (r.ts, r.frame),
                (None, Some(r)) => (r.ts, r.frame),
                (None, None) => continue,
            };
            for n in &leg.server {
                let text = n.text.clone();
                entries.push(TimelineEntry {
                    ts,
                    delta_ns: 0,
                    conn: leg.conn,
                    frame,
                    what: match n.record {
                        server::Record::Iis(_) => TimelineWhat::IisStatus { leg: i, text },
                        server::Record::Event(_) => TimelineWhat::SecurityEvent { leg: i, text },
                    },
                });
            }
        }
        for m in &self.kdc {
            let text = m.text();
            let by = if m.from_client {
                Side::Client
            } else {
                Side::Server
            };
            entries.push(TimelineEntry {
                ts: m.ts,
                delta_ns: 0,
                conn: m.conn.unwrap_or(UDP),
                frame: m.frame,
                what: match m.body {
                    crate::kdc::WireBody::Dns(_) => TimelineWhat::Dns { by, text },
                    crate::kdc::WireBody::Malformed {
                        of: crate::kdc::Protocol::Dns,
                        ..
                    } => TimelineWhat::Dns { by, text },
                    _ => TimelineWhat::Kdc { by, text },
                },
            });
        }
        for e in &self.tcp {
            entries.push(TimelineEntry {
                ts: e.ts,
                delta_ns: 0,
                conn: e.conn,
                frame: e.frame,
                what: TimelineWhat::Tcp(e.kind),
            });
        }
        // Frame order is capture order; timestamps can go backwards in a capture. A server's
        // record comes after the line of its frame.
        entries.sort_by_key(|e| {
            let server = matches!(
                e.what,
                TimelineWhat::IisStatus { .. } | TimelineWhat::SecurityEvent { .. }
            );
            (e.frame, e.ts, server)
        });
        let mut prev: Option<Timestamp> = None;
        for e in &mut entries {
            e.delta_ns = prev.map_or(0, |p| e.ts.since(p));
            prev = Some(e.ts);
        }
        self.timeline = entries;
    }
}

/// A timeline's request line: `GET /app [NTLM Type 1 ...]`.
fn request_text(leg: &Leg, r: &leg::LegRequest) -> String {
    let mut text =
        String::with_capacity(r.method.len().saturating_add(r.uri.len()).saturating_add(1));
    text.push_str(&r.method);
    text.push(' ');
    text.push_str(&r.uri);
    text.push_str(leg::version_note(leg.http));
    if r.credential.is_some() {
        bracket(&mut text, leg.credential_summary());
    }
    if let Some(b) = &leg.binding {
        text.push_str(&b.note());
    }
    text
}

/// A timeline's response line: `401 Unauthorized (IIS 401.1) [NTLM Type 2 ...]`.
fn response_text(leg: &Leg, r: &leg::LegResponse) -> String {
    let mut text = String::new();
    text.push_str(itoa::Buffer::new().format(r.status));
    // HTTP/2 has no reason phrase (RFC 9113 8.3.2).
    if !r.reason.is_empty() {
        text.push(' ');
        text.push_str(&r.reason);
    }
    if let Some(sub) = &r.iis_substatus {
        text.push_str(" (IIS ");
        text.push_str(sub);
        text.push(')');
    }
    if r.challenges.as_ref().is_some_and(|c| !c.items.is_empty()) {
        bracket(&mut text, leg.challenges_summary());
    }
    text
}

fn bracket(text: &mut String, inner: Option<&str>) {
    text.push_str(" [");
    text.push_str(inner.unwrap_or_default());
    text.push(']');
}

#[cfg(test)]
mod serialize_tests {
    use super::*;

    /// What the derive with `#[serde(flatten)]` wrote before the hand-written impls.
    #[derive(serde::Serialize)]
    struct FlatConnEvent {
        conn: ConnId,
        ts: Timestamp,
        frame: u64,
        #[serde(flatten)]
        kind: ConnEventKind,
    }

    #[derive(serde::Serialize)]
    struct FlatTimelineEntry {
        ts: Timestamp,
        delta_ns: i64,
        conn: ConnId,
        frame: u64,
        #[serde(flatten)]
        what: TimelineWhat,
    }

    fn kinds() -> Vec<ConnEventKind> {
        vec![
            ConnEventKind::Open {
                handshake_seen: true,
            },
            ConnEventKind::Open {
                handshake_seen: false,
            },
            ConnEventKind::Fin { by: Side::Client },
            ConnEventKind::Rst { by: Side::Server },
            ConnEventKind::Gap {
                by: Side::Server,
                len: 1460,
            },
        ]
    }

    #[test]
    fn conn_events_and_timeline_lines_serialise_as_the_flattened_derive() {
        let ts = Timestamp(1_795_655_832_610_608_800);
        let mut whats: Vec<TimelineWhat> = kinds().into_iter().map(TimelineWhat::Tcp).collect();
        whats.push(TimelineWhat::Request {
            leg: 0,
            text: "GET / [NTLM \"negotiate\"]".into(),
        });
        whats.push(TimelineWhat::Response {
            leg: 3,
            status: 401,
            text: "401 Unauthorized".into(),
        });
        for kind in kinds() {
            let ours = ConnEvent {
                conn: 7,
                ts,
                frame: 310,
                kind,
            };
            let flat = FlatConnEvent {
                conn: 7,
                ts,
                frame: 310,
                kind,
            };
            let want = serde_json::to_string(&flat).unwrap();
            assert_eq!(serde_json::to_string(&ours).unwrap(), want);
            assert_eq!(serde_json::to_vec(&ours).unwrap(), want.as_bytes());
        }
        for what in whats {
            let ours = TimelineEntry {
                ts,
                delta_ns: 8_271_000,
                conn: 103,
                frame: 824,
                what: what.clone(),
            };
            let flat = FlatTimelineEntry {
                ts,
                delta_ns: 8_271_000,
                conn: 103,
                frame: 824,
                what,
            };
            let want = serde_json::to_string(&flat).unwrap();
            assert_eq!(serde_json::to_string(&ours).unwrap(), want);
            assert_eq!(serde_json::to_vec(&ours).unwrap(), want.as_bytes());
        }
    }

    #[test]
    fn scheme_names_serialise_as_they_display() {
        for s in [
            SchemeUsed::None,
            SchemeUsed::Ntlm,
            SchemeUsed::NegotiateNtlm,
            SchemeUsed::Kerberos,
            SchemeUsed::Basic,
            SchemeUsed::Digest,
            SchemeUsed::Bearer,
            SchemeUsed::Other("Hoba".into()),
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }
}
