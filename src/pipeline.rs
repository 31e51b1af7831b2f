//! The one place that names every stage: frames in, connections and exchanges out.
//!
//! [`Analyzer`] is incremental: push frames one at a time (from a file or a live capture) and
//! receive [`Output`]s as they are decided; ask for [`Analyzer::stats`] at any moment.
//!
//! Inside, it is two halves joined by one ordered stream of [`ModelEvent`]s: the [`Front`]
//! (stages 2 to 5: link, IP, TCP, TLS, HTTP) and the [`Model`] (stages 6 and 7: handshakes,
//! diagnosis). Nothing flows back from the model to the front, so `report --threads` runs
//! the model on a thread of its own, fed by one front or by several, each reassembling a
//! share of the connections ([`shard`]), and gets the outputs of one, in the same order.

mod drive;
pub mod shard;
mod stream;

use stream::{on_late_keys, on_stream};

pub use drive::{run, Fronts, Placed, Plan, Progress, Ran, RunError, Sink, Source};

use crate::map::Map as HashMap;
use std::net::SocketAddr;

use crate::capture::{Frame, Timestamp};
use crate::diagnose::{diagnose, DiagnoseConfig, Finding};
use crate::handshake::kdc::KdcJoin;
use crate::handshake::server::{JoinConfig, ServerJoin, ServerSummary};
use crate::handshake::{
    leg_of_shared, ConnEvent, CorrelateConfig, CorrelateStats, Correlator, Handshake, Leg,
    SharedAuth, Side,
};
use crate::http::{Anomaly, Exchange, HttpConfig, HttpStats, HttpTracker};
use crate::kdc::{KdcConfig, KdcStage, KdcStats, WireMsg};
use crate::net::{NetDecoder, NetStats};
use crate::tcp::{ConnId, Dir, Limit, StreamEvent, TcpConfig, TcpStats, TcpTable};
use crate::tls::{KeyLogStats, TlsConfig, TlsInfo, TlsStats, TlsStreams};
use shard::{Gauges, Item, Key};

/// Options of the whole pipeline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    pub tcp: TcpConfig,
    pub tls: TlsConfig,
    pub http: HttpConfig,
    pub kdc: KdcConfig,
    pub correlate: CorrelateConfig,
    pub diagnose: DiagnoseConfig,
    /// The join of the server's records (`--server-log`, `--events`).
    pub server: JoinConfig,
    /// Drop the values of decoded secrets as each leg is made, keeping their lengths: for an
    /// output that will not reveal them (no `--reveal-secrets`), which then shows the same and
    /// holds no credentials for the join window.
    pub forget_secrets: bool,
}

impl Config {
    /// This configuration for an output that shows secrets only if `reveal_secrets`: one that
    /// does not can have their values dropped ([`Config::forget_secrets`]).
    pub fn revealing(self, reveal_secrets: bool) -> Config {
        Config {
            forget_secrets: !reveal_secrets,
            ..self
        }
    }
}

/// The caps `--limit NAME=N` sets: name, what it bounds, and where it goes.
pub const LIMITS: &[(&str, &str)] = &[
    ("connections", "open TCP connections (100000)"),
    (
        "reorder-bytes-per-conn",
        "out-of-order bytes buffered per direction of a connection (1048576)",
    ),
    (
        "reorder-bytes",
        "out-of-order bytes buffered in all (67108864)",
    ),
    (
        "idle-seconds",
        "a connection idle this long is closed (600)",
    ),
    (
        "closed-seconds",
        "a closed connection's 4-tuple is remembered this long after its last packet (10)",
    ),
    ("head-bytes", "the largest HTTP message head (65536)"),
    (
        "pending-requests",
        "pipelined requests waiting on one connection (64)",
    ),
    ("interim-responses", "1xx responses kept per exchange (16)"),
    (
        "http-bytes",
        "HTTP state held over all connections (33554432)",
    ),
    (
        "tls-bytes",
        "TLS records and handshake messages being gathered, over all connections (16777216)",
    ),
    (
        "join-seconds",
        "a handshake waits this long for its client on another connection (10)",
    ),
    (
        "clock-window-seconds",
        "how far a server log's clock may be from the capture's before an offset is estimated (900)",
    ),
    ("handshakes", "handshakes open at once (10000)"),
    (
        "handshakes-per-client",
        "handshakes open at once for one client (2000)",
    ),
    ("legs", "legs kept per handshake (64)"),
    (
        "handshake-bytes",
        "what open handshakes hold in all, about, in bytes (67108864)",
    ),
];

/// Why `--limit` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("--limit {0}: expected NAME=N")]
    Syntax(String),
    #[error("--limit {0}: unknown limit (known: {known})", known = limit_names())]
    Unknown(String),
    #[error("--limit {0}: the value must be a whole number from 1")]
    Value(String),
}

fn limit_names() -> String {
    LIMITS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Config {
    /// Applies one `NAME=N` of `--limit` (names in [`LIMITS`]).
    pub fn set_limit(&mut self, spec: &str) -> Result<(), LimitError> {
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| LimitError::Syntax(spec.to_owned()))?;
        let n: usize = value
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| LimitError::Value(spec.to_owned()))?;
        let nanos = |secs: usize| {
            i64::try_from(secs)
                .ok()
                .and_then(|s| s.checked_mul(1_000_000_000))
                .ok_or_else(|| LimitError::Value(spec.to_owned()))
        };
        match name.trim() {
            "connections" => self.tcp.max_connections = n,
            "reorder-bytes-per-conn" => self.tcp.max_buffered_per_conn = n,
            "reorder-bytes" => self.tcp.max_buffered_total = n,
            "idle-seconds" => self.tcp.idle_timeout_ns = nanos(n)?,
            "closed-seconds" => self.tcp.closed_window_ns = nanos(n)?,
            "join-seconds" => self.correlate.join_window_ns = nanos(n)?,
            "clock-window-seconds" => self.server.window_ns = nanos(n)?,
            "head-bytes" => self.http.max_head_bytes = n,
            "pending-requests" => self.http.max_pending_requests = n,
            "interim-responses" => self.http.max_interim_responses = n,
            "http-bytes" => self.http.max_buffered_total = n,
            "tls-bytes" => self.tls.max_buffered_total = n,
            "handshakes" => self.correlate.max_open = n,
            "handshakes-per-client" => self.correlate.max_open_per_client = n,
            "legs" => self.correlate.max_legs = n,
            "handshake-bytes" => self.correlate.max_bytes = n,
            _ => return Err(LimitError::Unknown(name.to_owned())),
        }
        Ok(())
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Fin,
    Rst,
    Timeout,
    Evicted,
    /// A new connection (a new SYN) took over its 4-tuple.
    Reused,
    /// Still open when the input ended.
    Open,
}

/// A TCP event worth a line on a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TcpMark {
    pub ts: Timestamp,
    pub frame: u64,
    pub by: Side,
}

/// One TCP connection as the report shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Connection {
    pub id: ConnId,
    /// The capture it is in ([`Frame::input`]).
    pub input: u32,
    #[serde(serialize_with = "crate::handshake::serial::socket_addr")]
    pub client: SocketAddr,
    #[serde(serialize_with = "crate::handshake::serial::socket_addr")]
    pub server: SocketAddr,
    /// False when picked up mid-stream (client and server guessed).
    pub handshake_seen: bool,
    pub first: Timestamp,
    pub last: Timestamp,
    pub ended: Ending,
    /// The first FIN of each side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fins: Vec<TcpMark>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rst: Option<TcpMark>,
    pub http: bool,
    /// Bytes that were never seen (TCP gaps).
    pub gap_bytes: u64,
    /// What TLS told, when the connection carried it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsInfo>>,
}

/// What the analyzer produces, in the order it is decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A connection ended (or the input did); sent once per connection.
    Connection(Box<Connection>),
    /// A request and its response, with the auth headers its handshake leg decoded.
    Exchange(Box<Exchange>, SharedAuth),
    /// A handshake that nothing more can join, judged.
    Handshake(Box<Analysed>),
    /// A finding about connections no handshake holds (what a server's TLS said), decided
    /// once the input ended.
    Finding(Box<Finding>),
    /// What the server's records (`--server-log`, `--events`) gave, once the input ended:
    /// the clock offsets, the failed logons they name, the records no handshake took.
    ServerLogs(Box<ServerSummary>),
    /// A KDC or DNS message read beside the HTTP (stage 5b), whether or not a handshake
    /// joins it.
    Wire(Box<WireMsg>),
    /// Something odd in an HTTP stream.
    HttpAnomaly {
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        anomaly: Anomaly,
    },
    /// A resource cap was hit.
    Limit {
        conn: Option<ConnId>,
        ts: Timestamp,
        limit: Limit,
    },
}

/// A handshake and its findings, most severe first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Analysed {
    #[serde(flatten)]
    pub handshake: Handshake,
    pub findings: Vec<Finding>,
}

/// Counters of every stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Frames whose timestamp is earlier than the one before.
    pub time_went_backwards: u64,
    /// The number of the first of them (in its capture)...
    pub first_time_went_backwards: Option<u64>,
    /// ...and its capture ([`Frame::input`]).
    pub first_time_went_backwards_input: Option<u32>,
    pub net: NetStats,
    pub tcp: TcpStats,
    pub http: HttpStats,
    /// The KDC and DNS messages read beside the HTTP (only when there were some).
    #[serde(skip_serializing_if = "KdcStats::is_empty")]
    pub kdc: KdcStats,
    /// TLS connections and their keys (only when there were some).
    #[serde(skip_serializing_if = "no_tls")]
    pub tls: TlsStats,
    #[serde(skip_serializing_if = "no_keys")]
    pub tls_keys: KeyLogStats,
    pub correlate: CorrelateStats,
    pub handshakes: u64,
}

fn no_tls(s: &TlsStats) -> bool {
    s.connections == 0
}

fn no_keys(s: &KeyLogStats) -> bool {
    s.lines == 0
}

/// Stages 2 to 7 over a stream of frames.
#[derive(Debug)]
pub struct Analyzer {
    config: Config,
    front: Front,
    model: Model,
}

/// Stages 2 to 5: frames in, [`ModelEvent`]s out.
#[derive(Debug)]
pub struct Front {
    net: NetDecoder,
    tcp: TcpTable,
    tls: TlsStreams,
    http: HttpTracker,
    kdc: KdcStage,
    /// The frame being processed (gaps are dated by the segment that revealed them).
    frame: u64,
    /// Make each exchange's leg here rather than in the model.
    pub prepare_legs: bool,
    /// [`Config::forget_secrets`].
    forget_secrets: bool,
    /// Boxed, as in the TCP table: small buckets, and the box goes out as the output.
    open: HashMap<ConnId, Box<Connection>>,
    stats: Stats,
    /// Capture time of the last idle sweep.
    swept: Timestamp,
    /// Frames since the last idle sweep.
    since_sweep: u32,
    /// The last sweep was skipped because time leapt forward (a bogus timestamp, or a real
    /// leap that the next sweep will confirm).
    leap_pending: bool,
    /// Connections found not to be HTTP during the last push.
    drop_data: Vec<ConnId>,
    /// The last pushed frame carried a TCP segment.
    last_was_tcp: bool,
    /// This front is one of several, each with its share of the connections.
    shard: Option<Box<shard::Shard>>,
    /// The capture being read ([`Frame::input`]): when it changes, everything of the one
    /// before ends, as at the end of input.
    input: u32,
    /// Frames pushed over all captures: the order of units among shards.
    seq: u64,
    /// The latest time in the capture being read.
    clock: Option<Timestamp>,
}

/// Idle connections are looked for every this many frames, and no more often than every second
/// of capture time. Sweeping by frames as well as time keeps one bogus timestamp (captures have
/// them: a year-2061 SYN-ACK in the public corpus) from timing out every open connection, and
/// costs nothing on small captures, where nothing is swept.
const SWEEP_FRAMES: u32 = 8192;
const SWEEP_NS: i64 = 1_000_000_000;
/// A leap forward larger than this must be seen by two sweeps in a row before it counts.
const LEAP_NS: i64 = 86_400 * 1_000_000_000;

impl Analyzer {
    pub fn new(config: Config) -> Self {
        Analyzer {
            config,
            front: Front {
                net: NetDecoder::new(),
                tcp: TcpTable::new(config.tcp),
                tls: TlsStreams::new(config.tls),
                http: HttpTracker::new(config.http),
                kdc: KdcStage::new(KdcConfig {
                    forget_secrets: config.forget_secrets,
                    ..config.kdc
                }),
                frame: 0,
                prepare_legs: false,
                forget_secrets: config.forget_secrets,
                open: HashMap::default(),
                stats: Stats::default(),
                swept: Timestamp(i64::MIN),
                since_sweep: 0,
                leap_pending: false,
                drop_data: Vec::new(),
                last_was_tcp: false,
                shard: None,
                input: 0,
                seq: 0,
                clock: None,
            },
            model: Model {
                correlator: Correlator::new(config.correlate),
                diagnose: config.diagnose,
                forget_secrets: config.forget_secrets,
                input: 0,
                server: None,
                server_config: config.server,
                kdc: KdcJoin::default(),
            },
        }
    }

    /// `n` fronts, each the shard of its share of the connections (see [`shard`]), and the
    /// model they all feed, to run on threads of their own: the model must be given every
    /// event in the order one front makes them. With `n` = 1, the front and the model apart.
    /// For an analyzer that has been given nothing yet.
    ///
    /// The caps on what the fronts hold over all their connections (open connections and
    /// closed 4-tuples, out-of-order bytes, HTTP bytes, TLS bytes) are divided among the
    /// shards, so that together they hold at most what one front would.
    pub fn into_shards(self, n: usize) -> (Vec<Front>, Model, shard::Caps) {
        self.into_fronts(n, |front, i, n| front.into_shard(i, n))
    }

    /// `n` fronts, each a file worker reading whole captures (see [`shard`]), and the model
    /// they all feed, as [`Analyzer::into_shards`] makes them (the caps divided alike).
    pub fn into_file_workers(self, n: usize) -> (Vec<Front>, Model, shard::Caps) {
        self.into_fronts(n, |front, _, _| front.into_file_worker())
    }

    fn into_fronts(
        self,
        n: usize,
        make: impl Fn(Front, usize, usize) -> Front,
    ) -> (Vec<Front>, Model, shard::Caps) {
        let n = n.max(1);
        let c = self.config;
        let caps = shard::Caps::of(&c, n);
        if n == 1 {
            // All connections on one front: numbered, capped and counted as one thread does.
            return (vec![self.front], self.model, caps);
        }
        let mut share = c;
        share.tcp.max_connections = caps.share(caps.connections);
        share.tcp.max_buffered_total = caps.share(caps.reorder_bytes);
        share.http.max_buffered_total = caps.share(caps.http_bytes);
        share.tls.max_buffered_total = caps.share(caps.tls_bytes);
        let fronts = (0..n)
            .map(|i| make(Analyzer::new(share).front, i, n))
            .collect();
        (fronts, self.model, caps)
    }

    /// Everything counted so far.
    pub fn stats(&self) -> Stats {
        self.model.stats(self.front.stats())
    }

    /// The server's records to join to the handshakes ([`Model::set_server_logs`]).
    pub fn set_server_logs(&mut self, logs: crate::capture::serverlog::ServerLogs) {
        self.model.set_server_logs(logs);
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.front.open.len()
    }

    /// The TCP connection the last pushed frame's segment went to; `None` when that frame
    /// carried no TCP segment. `authscope export --format pcapng` uses it to copy the frames
    /// of chosen connections.
    pub fn last_conn(&self) -> Option<ConnId> {
        if self.front.last_was_tcp {
            self.front.tcp.last_conn()
        } else {
            None
        }
    }

    /// Work out [`Analyzer::last_offset`] from now on.
    pub fn track_offsets(&mut self) {
        self.front.tcp.track_offsets();
    }

    /// Where the last pushed frame's TCP payload starts in its direction's stream, after
    /// [`Analyzer::track_offsets`]; `None` when that frame carried no TCP segment.
    pub fn last_offset(&self) -> Option<u64> {
        if self.front.last_was_tcp {
            self.front.tcp.last_offset()
        } else {
            None
        }
    }

    /// Key log text of the input, in whole lines (key log files): for every capture.
    pub fn add_key_text(&mut self, text: &[u8]) {
        self.front.add_key_text(text);
    }

    /// Key log text of the capture being read (pcapng Decryption Secrets Blocks).
    pub fn add_capture_key_text(&mut self, text: &[u8]) {
        self.front.add_capture_key_text(text);
    }

    /// Keys may come after the connections they are for (a key log followed during a live
    /// capture): TLS connections without keys wait for them, within bounds
    /// ([`crate::tls::KEY_WAIT`]), and are read again when [`Analyzer::add_late_key_text`]
    /// brings them.
    pub fn wait_for_keys(&mut self) {
        self.front.tls.wait_for_keys();
    }

    /// Key log text that came while reading: for the connections still to come, and for
    /// those waiting for it, whose decrypted exchanges go to `sink` now.
    pub fn add_late_key_text(&mut self, text: &[u8], sink: &mut dyn FnMut(Output)) {
        let model = &mut self.model;
        self.front
            .add_late_key_text(text, &mut |e| model.apply(e, sink));
    }

    /// Feeds one frame.
    pub fn push(&mut self, frame: &Frame<'_>, sink: &mut dyn FnMut(Output)) {
        let model = &mut self.model;
        self.front.push(frame, &mut |e| model.apply(e, sink));
    }

    /// No frame came and the clock is at `now` (a quiet live capture): what was waiting only
    /// for time to pass is handed out as a frame at `now` would have it (handshakes past
    /// their join window, idle connections). A `now` before the last frame changes nothing.
    pub fn advance(&mut self, now: Timestamp, sink: &mut dyn FnMut(Output)) {
        if self.front.clock.is_none_or(|l| now < l) {
            return;
        }
        let model = &mut self.model;
        let seq = self.front.seq;
        self.front
            .sweep(seq, now, &mut Out::Direct(&mut |e| model.apply(e, sink)));
        model.apply(ModelEvent::Sweep(now), sink);
    }

    /// The input ended: flushes every stage.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Output)) {
        let model = &mut self.model;
        self.front.finish(&mut |e| model.apply(e, sink));
    }
}

impl Front {
    /// What stages 2 to 5 counted (the model's counters are zero).
    pub fn stats(&self) -> Stats {
        Stats {
            net: *self.net.stats(),
            tcp: *self.tcp.stats(),
            http: *self.http.stats(),
            kdc: self.kdc.stats(),
            tls: self.tls.stats(),
            tls_keys: self.tls.key_stats(),
            ..self.stats
        }
    }

    /// Key log text of the input, in whole lines, read beside the frames (key log files).
    pub fn add_key_text(&mut self, text: &[u8]) {
        self.tls.add_key_text(text);
    }

    /// Key log text of the capture being read (pcapng Decryption Secrets Blocks).
    pub fn add_capture_key_text(&mut self, text: &[u8]) {
        self.tls.add_capture_key_text(text);
    }

    /// Feeds one frame.
    pub fn push(&mut self, frame: &Frame<'_>, sink: &mut dyn FnMut(ModelEvent)) {
        self.push_keyed(frame, &mut Out::Direct(sink));
    }

    /// [`Analyzer::add_late_key_text`] (one front only: a live capture is not sharded).
    fn add_late_key_text(&mut self, text: &[u8], sink: &mut dyn FnMut(ModelEvent)) {
        let (_, prepare_legs, forget_secrets, input) = self.stream_at();
        on_late_keys(
            &mut self.tls,
            &mut self.http,
            &mut self.open,
            &mut self.drop_data,
            (prepare_legs, forget_secrets, input),
            text,
            sink,
        );
        for conn in self.drop_data.drain(..) {
            self.tcp.ignore_data(conn);
        }
    }

    /// [`Front::push`], each event with the place it would take among every shard's
    /// (see [`shard`]).
    fn push_keyed(&mut self, frame: &Frame<'_>, out: &mut Out<'_>) {
        self.seq = self.seq.saturating_add(1);
        if frame.input != self.input {
            self.end_input(frame.input, out);
        }
        let s = &mut self.stats;
        s.packets = s.packets.saturating_add(1);
        s.bytes = s.bytes.saturating_add(frame.data.len() as u64);
        if s.first.is_none_or(|f| frame.ts < f) && self.clock.is_none() {
            s.first = Some(frame.ts);
        }
        if self.clock.is_some_and(|l| frame.ts < l) {
            s.time_went_backwards = s.time_went_backwards.saturating_add(1);
            if s.first_time_went_backwards.is_none() {
                s.first_time_went_backwards = Some(frame.number);
                s.first_time_went_backwards_input = Some(frame.input);
            }
        } else {
            self.clock = Some(frame.ts);
            if s.last.is_none_or(|l| frame.ts > l) {
                s.last = Some(frame.ts);
            }
        }
        self.since_sweep = self.since_sweep.saturating_add(1);
        if self.since_sweep >= SWEEP_FRAMES {
            self.sweep(self.seq, frame.ts, out);
        }
        self.frame = frame.number;
        self.last_was_tcp = false;
        // Taken before the segment, which holds the decoder borrowed.
        let at = self.stream_at();
        let Some(seg) = self.net.decode(frame) else {
            if let Some(d) = self.net.take_datagram() {
                self.datagram(&d, out);
            }
            return;
        };
        self.last_was_tcp = true;
        if self.shard.as_ref().is_some_and(|sh| !sh.owns(&seg)) {
            return;
        }
        let key = Key::packet(self.input, self.seq);
        unit_start(&self.shard, &mut self.tcp, &mut self.http);
        let (tls, http, kdc, open, drop_data) = (
            &mut self.tls,
            &mut self.http,
            &mut self.kdc,
            &mut self.open,
            &mut self.drop_data,
        );
        self.tcp.push(&seg, &mut |ev| {
            out.with(key, |sink| {
                on_stream((tls, http, kdc), open, drop_data, at, &ev, sink)
            })
        });
        for conn in self.drop_data.drain(..) {
            self.tcp.ignore_data(conn);
        }
        unit_end(&mut self.shard, &self.tcp, &self.http, key, out);
    }

    /// A UDP datagram to or from port 88 or 53: the KDC and DNS stage, one unit of work.
    fn datagram(&mut self, d: &crate::net::Datagram, out: &mut Out<'_>) {
        if self
            .shard
            .as_ref()
            .is_some_and(|sh| !sh.owns_flow(d.src, d.dst))
        {
            return;
        }
        let key = Key::packet(self.input, self.seq);
        self.unit_start();
        let m = match d.unreachable {
            Some(icmp) => self
                .kdc
                .unreachable(d.ts, d.frame, (d.src, d.dst), icmp, &d.payload),
            None => self.kdc.datagram(d.ts, d.frame, (d.src, d.dst), &d.payload),
        };
        if let Some(m) = m {
            out.with(key, |sink| sink(ModelEvent::Wire(Box::new(m))));
        }
        self.unit_end(key, out);
    }

    /// Closes the connections idle at `now` (the sweep made before the `seq`th frame), one
    /// unit of work each.
    fn sweep(&mut self, seq: u64, now: Timestamp, out: &mut Out<'_>) {
        self.since_sweep = 0;
        let step = now.since(self.swept);
        if self.swept != Timestamp(i64::MIN) && step > LEAP_NS && !self.leap_pending {
            self.leap_pending = true;
            return;
        }
        self.leap_pending = false;
        if step < SWEEP_NS {
            return;
        }
        self.swept = now;
        for (idle_at, id) in self.tcp.idle_before(now) {
            self.close_unit(
                Key::sweep(self.input, seq, idle_at, id),
                out,
                |tcp, sink| tcp.time_out(id, now, sink),
            );
        }
        self.unit_start();
        self.tcp.forget_closed(now);
        self.unit_end(Key::sweep(self.input, seq, i64::MAX, ConnId::MAX), out);
    }

    /// A frame of capture `next` came: everything of the capture before ends as at the end
    /// of input (each file is its own capture: nothing joins across files), one unit of work
    /// each, before that frame's.
    fn end_input(&mut self, next: u32, out: &mut Out<'_>) {
        let (input, seq) = (self.input, self.seq);
        self.end_capture(&|conn| Key::boundary(input, seq, conn), next, out);
    }

    /// Everything of the capture being read ends as at the end of input, one unit of work
    /// each, keyed by `key` (a connection, or `ConnId::MAX` for the rest); capture `next`
    /// follows.
    fn end_capture(&mut self, key: &dyn Fn(ConnId) -> Key, next: u32, out: &mut Out<'_>) {
        let now = self.clock.unwrap_or_default();
        for id in self.tcp.open_ids() {
            self.close_unit(key(id), out, |tcp, sink| tcp.end_input(id, now, sink));
        }
        self.unit_start();
        self.tcp.forget_all_closed();
        self.net.forget_fragments();
        self.tls.end_capture();
        self.kdc.end_capture();
        self.drop_data.clear();
        self.unit_end(key(ConnId::MAX), out);
        out.with(key(ConnId::MAX), |sink| {
            sink(ModelEvent::EndInput { now, next })
        });
        self.input = next;
        self.clock = None;
        self.swept = Timestamp(i64::MIN);
        self.since_sweep = 0;
        self.leap_pending = false;
    }

    /// The input ended: flushes stages 2 to 5, then tells the model.
    pub fn finish(&mut self, sink: &mut dyn FnMut(ModelEvent)) {
        self.finish_keyed(&mut Out::Direct(sink));
    }

    fn finish_keyed(&mut self, out: &mut Out<'_>) {
        let now = self.clock.unwrap_or_default();
        for id in self.tcp.open_ids() {
            self.close_unit(Key::finish(id), out, |tcp, sink| {
                tcp.end_input(id, now, sink)
            });
        }
        self.drop_data.clear();
        out.with(Key::END, |sink| sink(ModelEvent::Finish(now)));
    }

    /// One connection closed by `close` (idle, or the input ended) as a unit of work.
    fn close_unit(
        &mut self,
        key: Key,
        out: &mut Out<'_>,
        close: impl FnOnce(&mut TcpTable, &mut dyn FnMut(StreamEvent<'_>)),
    ) {
        self.unit_start();
        let at = self.stream_at();
        let (tls, http, kdc, open, drop_data) = (
            &mut self.tls,
            &mut self.http,
            &mut self.kdc,
            &mut self.open,
            &mut self.drop_data,
        );
        close(&mut self.tcp, &mut |ev| {
            out.with(key, |sink| {
                on_stream((tls, http, kdc), open, drop_data, at, &ev, sink)
            })
        });
        self.unit_end(key, out);
    }

    /// What [`on_stream`] needs to know of the frame being processed.
    fn stream_at(&self) -> (u64, bool, bool, u32) {
        (
            self.frame,
            self.prepare_legs,
            self.forget_secrets,
            self.input,
        )
    }

    fn unit_start(&mut self) {
        unit_start(&self.shard, &mut self.tcp, &mut self.http);
    }

    fn unit_end(&mut self, key: Key, out: &mut Out<'_>) {
        unit_end(&mut self.shard, &self.tcp, &self.http, key, out);
    }
}

/// Where a front's events go: straight on (one front), or keyed into a shard's batch, which
/// may be handed on whenever a unit of work ends with `size` items or more in it (the end of
/// input closes every open connection: up to the connection cap's worth of events).
enum Out<'a> {
    Direct(&'a mut dyn FnMut(ModelEvent)),
    Keyed(&'a mut Vec<(Key, Item)>),
    Batched {
        items: &'a mut Vec<(Key, Item)>,
        size: usize,
        send: &'a mut dyn FnMut(shard::Batch),
    },
}

impl Out<'_> {
    /// Runs `f` with a sink for the events of the unit `key`.
    #[inline]
    fn with<R>(&mut self, key: Key, f: impl FnOnce(&mut dyn FnMut(ModelEvent)) -> R) -> R {
        match self {
            Out::Direct(sink) => f(*sink),
            Out::Keyed(items) | Out::Batched { items, .. } => {
                f(&mut |e| items.push((key, Item::Event(e))))
            }
        }
    }

    fn gauges(&mut self, key: Key, g: Gauges) {
        if let Out::Keyed(items) | Out::Batched { items, .. } = self {
            items.push((key, Item::Gauges(g)));
        }
    }

    /// The unit of work `key` ended: a full batch is handed on. What follows has higher
    /// keys, so `key` is a bound below it.
    fn unit_done(&mut self, key: Key) {
        if let Out::Batched { items, size, send } = self {
            if items.len() >= *size {
                let items = std::mem::replace(*items, Vec::with_capacity(*size));
                send(shard::Batch {
                    items,
                    through: key,
                });
            }
        }
    }
}

/// A unit of work (a frame's segment, or one connection's close) begins: a shard's peaks
/// start again from what it holds, so that the merge can add them up exactly.
#[inline]
fn unit_start(shard: &Option<Box<shard::Shard>>, tcp: &mut TcpTable, http: &mut HttpTracker) {
    if shard.is_some() {
        tcp.restart_peaks();
        http.restart_peak();
    }
}

/// A unit of work ended: a shard hands on what its gauges did in it, if anything, and a full
/// batch goes.
#[inline]
fn unit_end(
    shard: &mut Option<Box<shard::Shard>>,
    tcp: &TcpTable,
    http: &HttpTracker,
    key: Key,
    out: &mut Out<'_>,
) {
    if let Some(sh) = shard.as_mut() {
        let [open, reorder, closed] = tcp.gauges();
        let h = http.stats();
        let g = Gauges([
            open,
            reorder,
            (h.buffered_bytes, h.peak_buffered_bytes),
            closed,
        ]);
        if g.moved_since(&sh.gauges) {
            sh.gauges = g;
            out.gauges(key, g);
        }
    }
    out.unit_done(key);
}

/// What stages 2 to 5 hand to stages 6 and 7, in order. One thread applies each at once;
/// `report --threads` applies them on a thread of its own in the same order (merged from the
/// shards', [`shard::Merger`]), so the outputs are the same either way.
#[derive(Debug)]
pub enum ModelEvent {
    ConnOpen {
        client: SocketAddr,
        server: SocketAddr,
        event: ConnEvent,
    },
    Conn(ConnEvent),
    /// An exchange, and maybe its leg already made.
    Exchange(Box<Exchange>, LegPrep),
    ConnClosed {
        conn: ConnId,
        ts: Timestamp,
    },
    /// A KDC or DNS message (stage 5b), for the handshakes of its client.
    Wire(Box<WireMsg>),
    /// An output of stages 2 to 5, passed on in its place.
    Output(Output),
    /// The clock moved to here with no frame (live capture).
    Sweep(Timestamp),
    /// The capture ended at `now` and capture `next` begins: nothing of the one joins the
    /// other.
    EndInput {
        now: Timestamp,
        next: u32,
    },
    /// The input ended at this time.
    Finish(Timestamp),
}

/// An exchange's leg (its tokens decoded), made by the front when told to
/// ([`Front::prepare_legs`]) or else by the model. [`leg_of_shared`] is a pure function (its
/// cache only saves work), so which thread makes it does not change the outputs;
/// `report --threads` has it made by the less busy one.
#[derive(Debug)]
pub enum LegPrep {
    Later,
    Made(Option<Box<Leg>>),
}

/// Stages 6 and 7: handshakes joined and judged.
#[derive(Debug)]
pub struct Model {
    correlator: Correlator,
    diagnose: DiagnoseConfig,
    forget_secrets: bool,
    /// The capture the handshakes being made are in.
    input: u32,
    /// The server's records, when given: each handshake is joined to them before it is
    /// judged.
    server: Option<Box<ServerJoin>>,
    server_config: JoinConfig,
    /// The KDC and DNS messages each handshake is joined to.
    kdc: KdcJoin,
}

impl Model {
    /// The server's records to join to the handshakes; what they gave comes as
    /// [`Output::ServerLogs`] when the input ends.
    pub fn set_server_logs(&mut self, logs: crate::capture::serverlog::ServerLogs) {
        if !logs.is_empty() {
            self.server = Some(Box::new(ServerJoin::new(logs, self.server_config)));
        }
    }

    pub fn apply(&mut self, e: ModelEvent, sink: &mut dyn FnMut(Output)) {
        let mut diag = (
            self.diagnose,
            self.input,
            self.server.as_deref_mut(),
            &mut self.kdc,
        );
        let diag = &mut diag;
        let corr = &mut self.correlator;
        match e {
            ModelEvent::ConnOpen {
                client,
                server,
                event,
            } => corr.conn_open(event.conn, client, server, event),
            ModelEvent::Conn(event) => corr.conn_event(event),
            ModelEvent::Exchange(x, prep) => {
                let leg = match prep {
                    LegPrep::Later => leg_of_shared(&x, self.forget_secrets),
                    LegPrep::Made(leg) => leg.map(|l| *l),
                };
                let auth = leg
                    .map(|l| corr.leg(l, &mut |h| emit_handshake(h, diag, sink)))
                    .unwrap_or_default();
                sink(Output::Exchange(x, auth));
            }
            ModelEvent::ConnClosed { conn, ts } => {
                corr.conn_closed(conn, ts, &mut |h| emit_handshake(h, diag, sink))
            }
            ModelEvent::Wire(m) => {
                diag.3.push((*m).clone());
                sink(Output::Wire(m));
            }
            ModelEvent::Output(o) => sink(o),
            ModelEvent::Sweep(now) => {
                corr.sweep(now, false, &mut |h| emit_handshake(h, diag, sink))
            }
            ModelEvent::EndInput { now, next } => {
                corr.end_input(now, &mut |h| emit_handshake(h, diag, sink));
                diag.3.clear();
                self.input = next;
            }
            ModelEvent::Finish(now) => {
                corr.finish(now, &mut |h| emit_handshake(h, diag, sink));
                if let Some(join) = self.server.take() {
                    sink(Output::ServerLogs(Box::new(join.finish())));
                }
            }
        }
    }

    /// `front`'s counters with the model's.
    pub fn stats(&self, front: Stats) -> Stats {
        Stats {
            correlate: self.correlator.stats(),
            handshakes: self.correlator.finished(),
            kdc: KdcStats {
                held_cap_hits: self.kdc.cap_hits(),
                ..front.kdc
            },
            ..front
        }
    }
}

type Diag<'a> = (
    DiagnoseConfig,
    u32,
    Option<&'a mut ServerJoin>,
    &'a mut KdcJoin,
);

fn emit_handshake(
    mut h: Handshake,
    (cfg, input, server, kdc): &mut Diag<'_>,
    sink: &mut dyn FnMut(Output),
) {
    h.input = *input;
    kdc.join(&mut h);
    if let Some(join) = server {
        join.join(&mut h);
    }
    let findings = diagnose(&h, cfg);
    sink(Output::Handshake(Box::new(Analysed {
        handshake: h,
        findings,
    })));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_named_in_the_table_can_be_set() {
        for (name, _) in LIMITS {
            let mut c = Config::default();
            assert_eq!(c.set_limit(&format!("{name}=7")), Ok(()), "{name}");
        }
        let mut c = Config::default();
        c.set_limit("handshakes-per-client=3").unwrap();
        assert_eq!(c.correlate.max_open_per_client, 3);
        c.set_limit("idle-seconds=2").unwrap();
        assert_eq!(c.tcp.idle_timeout_ns, 2_000_000_000);
        c.set_limit("join-seconds=30").unwrap();
        assert_eq!(c.correlate.join_window_ns, 30_000_000_000);
        assert!(matches!(c.set_limit("legs"), Err(LimitError::Syntax(_))));
        assert!(matches!(c.set_limit("legs=0"), Err(LimitError::Value(_))));
        assert!(matches!(c.set_limit("legs=-1"), Err(LimitError::Value(_))));
        assert!(matches!(c.set_limit("nope=1"), Err(LimitError::Unknown(_))));
        assert!(matches!(
            c.set_limit(&format!("idle-seconds={}", usize::MAX)),
            Err(LimitError::Value(_))
        ));
    }

    #[test]
    fn the_defaults_the_table_states_are_the_defaults() {
        let c = Config::default();
        for (name, what) in LIMITS {
            let stated: u64 = what
                .rsplit_once('(')
                .and_then(|(_, n)| n.strip_suffix(')'))
                .unwrap()
                .parse()
                .unwrap();
            let actual = match *name {
                "connections" => c.tcp.max_connections as u64,
                "reorder-bytes-per-conn" => c.tcp.max_buffered_per_conn as u64,
                "reorder-bytes" => c.tcp.max_buffered_total as u64,
                "idle-seconds" => (c.tcp.idle_timeout_ns / 1_000_000_000) as u64,
                "closed-seconds" => (c.tcp.closed_window_ns / 1_000_000_000) as u64,
                "join-seconds" => (c.correlate.join_window_ns / 1_000_000_000) as u64,
                "clock-window-seconds" => (c.server.window_ns / 1_000_000_000) as u64,
                "head-bytes" => c.http.max_head_bytes as u64,
                "pending-requests" => c.http.max_pending_requests as u64,
                "interim-responses" => c.http.max_interim_responses as u64,
                "http-bytes" => c.http.max_buffered_total as u64,
                "tls-bytes" => c.tls.max_buffered_total as u64,
                "handshakes" => c.correlate.max_open as u64,
                "handshakes-per-client" => c.correlate.max_open_per_client as u64,
                "legs" => c.correlate.max_legs as u64,
                "handshake-bytes" => c.correlate.max_bytes as u64,
                other => panic!("{other} is not checked here"),
            };
            assert_eq!(stated, actual, "{name}");
        }
    }
}
