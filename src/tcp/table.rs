//! The connection table: 4-tuple -> connection, connection numbering, client and server,
//! opening and closing, reuse of a 4-tuple, idle timeout and the open-connection cap.
//!
//! Connection numbering follows Wireshark's `tcp.stream`: every 4-tuple seen gets a
//! connection, even for a lone RST or ACK, and packets after a close stay with the closed
//! connection (they are absorbed, no event) unless a SYN starts a new one:
//!
//! - a SYN without ACK whose sender already has an initial sequence number in the connection
//!   and carries a different one opens a new connection (the old one, still open, closes with
//!   `Reused`); with the same number it is a retransmission of the same connection;
//! - on a closed 4-tuple, a SYN without ACK opens a new connection unless it repeats the
//!   sender's initial sequence number (a late retransmission). Wireshark keeps a SYN from a
//!   side that never sent anything in the old stream; we open a new connection there, as
//!   absorbing it would lose a whole connection's data.
//!
//! Closed 4-tuples are remembered only for that decision, at most `max_connections` of them and
//! no longer than the closed window (`TcpConfig::closed_window_ns`, 10 s) after their last
//! packet: a packet later than that opens a new, mid-stream connection, where Wireshark, which
//! forgets nothing, keeps it with the old one. Connections closed by timeout or eviction are
//! forgotten at once.

use std::collections::BTreeSet;
use std::hash::BuildHasher as _;

use crate::map::Map as HashMap;

use super::seq::SeqNumber;
use super::stream::{Ctx, Stream};
use super::{CloseReason, ConnId, Dir, Limit, OpenKind, StreamEvent, TcpConfig, TcpStats};
use crate::capture::Timestamp;
use crate::net::{FlowKey, Segment};

/// One open connection.
#[derive(Debug)]
struct Conn {
    id: ConnId,
    /// The client is `FlowKey::a` (else `b`).
    client_is_a: bool,
    to_server: Stream,
    to_client: Stream,
    /// Capture time of the last packet (ns).
    last_seen: i64,
    /// The time under which the connection sits in `TcpTable::idle` (at most `last_seen`).
    idle_at: i64,
}

impl Conn {
    /// Where `seg`'s payload starts in the stream of the direction it travels (RFC 9293 3.4:
    /// a SYN's data follows the sequence number the SYN itself takes).
    fn payload_offset(&mut self, src_is_a: bool, seg: &Segment<'_>) -> Option<u64> {
        let dir = self.dir_of(src_is_a);
        let (this, _) = self.streams(dir);
        let seq = if seg.flags.syn() {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        this.offset_of_seq(seq)
    }

    fn dir_of(&self, src_is_a: bool) -> Dir {
        if src_is_a == self.client_is_a {
            Dir::ToServer
        } else {
            Dir::ToClient
        }
    }

    /// The stream of `dir` and the one of the other direction.
    fn streams(&mut self, dir: Dir) -> (&mut Stream, &mut Stream) {
        match dir {
            Dir::ToServer => (&mut self.to_server, &mut self.to_client),
            Dir::ToClient => (&mut self.to_client, &mut self.to_server),
        }
    }

    /// Initial sequence numbers as `(side a, side b)`.
    fn isns(&self) -> (Option<SeqNumber>, Option<SeqNumber>) {
        if self.client_is_a {
            (self.to_server.isn(), self.to_client.isn())
        } else {
            (self.to_client.isn(), self.to_server.isn())
        }
    }
}

/// What is remembered of a connection closed by FIN, RST or end of input.
#[derive(Debug, Clone, Copy)]
struct ClosedConn {
    id: ConnId,
    isn_a: Option<SeqNumber>,
    isn_b: Option<SeqNumber>,
    last_seen: i64,
}

/// The connection table: feed it segments in capture order, get [`StreamEvent`]s.
#[derive(Debug)]
pub struct TcpTable {
    config: TcpConfig,
    stats: TcpStats,
    /// By the 4-tuple's hash ([`TcpTable::tuple_hasher`]), boxed: the map's buckets stay
    /// small (16 bytes, not 72), and churn under the connection cap (eviction leaves
    /// tombstones, and hashbrown then doubles the table) costs pointers, not states.
    open: HashMap<u64, Box<Conn>>,
    /// Open connections by id (for `ignore_data` and the idle index): their tuples' hashes.
    keys: HashMap<ConnId, u64>,
    /// Open connections by `(idle_at, id)`: the least recently active first. Updated lazily:
    /// a connection's entry moves only when it is looked at (expiry, eviction).
    idle: BTreeSet<(i64, ConnId)>,
    /// Closed 4-tuples, by their hash too: they are kept for the closed window, often more
    /// than the open ones.
    closed: HashMap<u64, ClosedConn>,
    /// Open and closed connections are found by a 64-bit hash of their 4-tuple rather than
    /// the tuple (64 bytes). The hash is seeded per process, so two tuples meet by chance
    /// only (about n/2^64), never by design.
    tuple_hasher: foldhash::fast::RandomState,
    next_id: ConnId,
    /// [`TcpTable::number_by_frame`].
    frame_ids: bool,
    /// The most closed 4-tuples remembered at once.
    peak_closed: usize,
    /// Out-of-order bytes held over all connections.
    held: usize,
    /// The connection the last pushed segment went to (for `authscope export --format pcapng`).
    last_conn: Option<ConnId>,
    /// Work out [`TcpTable::last_offset`] (the pcapng export's masking needs it; the analysis
    /// does not pay for it).
    track_offsets: bool,
    last_offset: Option<u64>,
}

impl TcpTable {
    /// An empty table with these caps and timeout.
    pub fn new(config: TcpConfig) -> Self {
        TcpTable {
            config,
            stats: TcpStats::default(),
            open: HashMap::default(),
            keys: HashMap::default(),
            idle: BTreeSet::new(),
            closed: HashMap::default(),
            tuple_hasher: foldhash::fast::RandomState::default(),
            next_id: 0,
            frame_ids: false,
            peak_closed: 0,
            held: 0,
            last_conn: None,
            track_offsets: false,
            last_offset: None,
        }
    }

    /// Processes one segment; events go to `sink` in the order they happen.
    pub fn push(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        self.stats.segments = self.stats.segments.saturating_add(1);
        let (flow, src_is_a) = FlowKey::of(seg.src, seg.dst);
        let key = self.tuple_hasher.hash_one(flow);
        // RFC 9293 3.5: a SYN without ACK is the first packet of a connection attempt.
        let pure_syn = seg.flags.syn() && !seg.flags.ack();
        let seq = SeqNumber(seg.seq);
        self.last_conn = None;
        self.last_offset = None;

        if let Some(conn) = self.open.get_mut(&key) {
            let (isn_a, isn_b) = conn.isns();
            let isn = if src_is_a { isn_a } else { isn_b };
            // A SYN with a new ISN from a side that already has one: the 4-tuple was
            // reused for a new connection (Wireshark: new stream, "ports reused").
            let reused = pure_syn && isn.is_some_and(|isn| isn != seq);
            if !reused {
                self.last_conn = Some(conn.id);
                let end = feed(
                    conn,
                    &self.config,
                    &mut self.stats,
                    &mut self.held,
                    src_is_a,
                    seg,
                    sink,
                );
                if self.track_offsets {
                    self.last_offset = conn.payload_offset(src_is_a, seg);
                }
                self.end(key, end, seg, sink);
                return;
            }
            if let Some(conn) = self.open.remove(&key) {
                self.close(key, conn, CloseReason::Reused, seg.ts, sink);
            }
        } else if let Some(closed) = self.closed.get_mut(&key) {
            let isn = if src_is_a { closed.isn_a } else { closed.isn_b };
            // A late copy of the closed connection's SYN stays with it; any other SYN
            // starts a new connection. Other packets after a close stay with it, unseen.
            if !pure_syn || isn == Some(seq) {
                closed.last_seen = closed.last_seen.max(seg.ts.0);
                self.last_conn = Some(closed.id);
                return;
            }
        }
        self.open_conn(flow, key, src_is_a, seg, sink);
        if let Some(conn) = self.open.get_mut(&key) {
            self.last_conn = Some(conn.id);
            let end = feed(
                conn,
                &self.config,
                &mut self.stats,
                &mut self.held,
                src_is_a,
                seg,
                sink,
            );
            if self.track_offsets {
                self.last_offset = conn.payload_offset(src_is_a, seg);
            }
            self.end(key, end, seg, sink);
        }
    }

    /// The connection the last segment given to [`TcpTable::push`] belongs to: the one it
    /// opened, fed, or (after a close) was absorbed by.
    pub fn last_conn(&self) -> Option<ConnId> {
        self.last_conn
    }

    /// Asks [`TcpTable::last_offset`] to be worked out for every segment from now on.
    pub fn track_offsets(&mut self) {
        self.track_offsets = true;
    }

    /// Where the last pushed segment's payload starts in its direction's stream (tracked
    /// only after [`TcpTable::track_offsets`]); `None` for a segment that went to no open
    /// connection.
    pub fn last_offset(&self) -> Option<u64> {
        self.last_offset
    }

    /// Stops delivering data for `conn` (the layer above found it is not HTTP): its buffers are
    /// freed and later payload is neither buffered nor delivered; FIN, RST and close still are.
    pub fn ignore_data(&mut self, conn: super::ConnId) {
        let Some(key) = self.keys.get(&conn) else {
            return;
        };
        let Some(c) = self.open.get_mut(key) else {
            return;
        };
        c.to_server.ignore_data(&mut self.held);
        c.to_client.ignore_data(&mut self.held);
    }

    /// Closes connections idle since before `now - idle_timeout`.
    pub fn expire(&mut self, now: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        for (_, id) in self.idle_before(now) {
            self.time_out(id, now, sink);
        }
        self.forget_closed(now);
    }

    /// The connections [`TcpTable::expire`] would close at `now`, in the order it closes
    /// them: by `(index time, id)`. Those active since they were indexed are indexed again
    /// under their last packet, as `expire` does.
    pub fn idle_before(&mut self, now: Timestamp) -> Vec<(i64, ConnId)> {
        let cutoff = now.0.saturating_sub(self.config.idle_timeout_ns);
        let mut due = Vec::new();
        while let Some((at, id)) = self.idle.pop_first() {
            if at >= cutoff {
                self.idle.insert((at, id));
                break;
            }
            let Some(&key) = self.keys.get(&id) else {
                continue;
            };
            let Some(conn) = self.open.get_mut(&key) else {
                continue;
            };
            if conn.last_seen >= cutoff {
                // Active since it was indexed: index it again under its last packet.
                conn.idle_at = conn.last_seen;
                self.idle.insert((conn.idle_at, id));
                continue;
            }
            // Still indexed, so that `close` finds the entry to remove.
            due.push((at, id));
        }
        self.idle.extend(due.iter().copied());
        due
    }

    /// Closes `id` for being idle (one of [`TcpTable::idle_before`]'s).
    pub fn time_out(&mut self, id: ConnId, now: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        let Some(&key) = self.keys.get(&id) else {
            return;
        };
        if let Some(conn) = self.open.remove(&key) {
            self.stats.timeouts = self.stats.timeouts.saturating_add(1);
            self.close(key, conn, CloseReason::Timeout, now, sink);
        }
    }

    /// Forgets the closed 4-tuples a late packet can no longer belong to (the closed window
    /// after their last packet). Each is judged by its own last packet, not by when it
    /// closed among the others: a flow shard holds only some of the tuples, and must forget
    /// the same ones as one table does (`pipeline::shard`).
    pub fn forget_closed(&mut self, now: Timestamp) {
        let cutoff = now.0.saturating_sub(self.config.closed_window_ns);
        self.closed.retain(|_, c| c.last_seen >= cutoff);
    }

    /// End of input: releases what is buffered (with gaps for the holes) and closes every open
    /// connection with `EndOfInput`, in ConnId order.
    pub fn finish(&mut self, now: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        for id in self.open_ids() {
            self.end_input(id, now, sink);
        }
    }

    /// The open connections, in ConnId order.
    pub fn open_ids(&self) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = self.keys.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Closes `id` because the input ended (one of [`TcpTable::open_ids`]).
    pub fn end_input(&mut self, id: ConnId, now: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        let Some(&key) = self.keys.get(&id) else {
            return;
        };
        if let Some(conn) = self.open.remove(&key) {
            self.close(key, conn, CloseReason::EndOfInput, now, sink);
        }
    }

    /// Numbers each new connection by the frame that opened it instead of counting: a flow
    /// shard, which sees only some connections, can then name them so that the merge can
    /// number them as one table would (`pipeline::shard`). One frame opens one connection
    /// at most.
    pub fn number_by_frame(&mut self) {
        self.frame_ids = true;
    }

    /// What the shards' merge needs to add up what one table would have held: open
    /// connections, out-of-order bytes and closed 4-tuples, each now and at most since
    /// [`TcpTable::restart_peaks`].
    pub fn gauges(&self) -> [(u64, u64); 3] {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        [
            (n(self.open.len()), self.stats.peak_open_connections),
            (n(self.held), self.stats.peak_buffered_bytes),
            (n(self.closed.len()), n(self.peak_closed)),
        ]
    }

    /// Starts the peaks of [`TcpTable::gauges`] again from what is held now.
    pub fn restart_peaks(&mut self) {
        self.stats.peak_open_connections = u64::try_from(self.open.len()).unwrap_or(u64::MAX);
        self.stats.peak_buffered_bytes = u64::try_from(self.held).unwrap_or(u64::MAX);
        self.peak_closed = self.closed.len();
    }

    /// The counters so far.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.open.len()
    }

    /// Starts a connection for `seg`'s 4-tuple, evicting the least recently active one if
    /// the table is full, and emits `Open`.
    fn open_conn(
        &mut self,
        flow: FlowKey,
        key: u64,
        src_is_a: bool,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if self.open.len() >= self.config.max_connections.max(1) {
            self.evict_one(seg.ts, sink);
        }
        let id = if self.frame_ids {
            seg.frame
        } else {
            self.next_id
        };
        self.next_id = self.next_id.saturating_add(1);
        self.stats.connections = self.stats.connections.saturating_add(1);

        let (client_is_a, kind) = match (seg.flags.syn(), seg.flags.ack()) {
            // RFC 9293 3.5: the SYN's sender opens the connection.
            (true, false) => (src_is_a, OpenKind::Handshake),
            // The SYN-ACK answers it: its sender is the server.
            (true, true) => (!src_is_a, OpenKind::Handshake),
            // Mid-stream: servers listen on the lower (well-known or registered) port; with
            // equal ports, the first packet is taken to go to the server.
            _ => {
                let (sp, dp) = (seg.src.port(), seg.dst.port());
                let server_is_src = if sp != dp { sp < dp } else { false };
                let server_is_a = server_is_src == src_is_a;
                (!server_is_a, OpenKind::MidStream)
            }
        };
        let (client, server) = if client_is_a {
            (flow.a, flow.b)
        } else {
            (flow.b, flow.a)
        };
        sink(StreamEvent::Open {
            conn: id,
            ts: seg.ts,
            frame: seg.frame,
            client,
            server,
            kind,
        });

        let now = seg.ts.0;
        let conn = Conn {
            id,
            client_is_a,
            to_server: Stream::default(),
            to_client: Stream::default(),
            last_seen: now,
            idle_at: now,
        };
        self.closed.remove(&key);
        self.open.insert(key, Box::new(conn));
        self.keys.insert(id, key);
        self.idle.insert((now, id));
        let open = u64::try_from(self.open.len()).unwrap_or(u64::MAX);
        self.stats.peak_open_connections = self.stats.peak_open_connections.max(open);
    }

    /// Closes the least recently active connection to make room (the open-connection cap).
    fn evict_one(&mut self, ts: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        while let Some((at, id)) = self.idle.pop_first() {
            let Some(&key) = self.keys.get(&id) else {
                continue;
            };
            let Some(conn) = self.open.get_mut(&key) else {
                continue;
            };
            if conn.last_seen > at {
                // Active since it was indexed: index it again; the true least recent one
                // is the first whose index time is its last packet.
                conn.idle_at = conn.last_seen;
                self.idle.insert((conn.idle_at, id));
                continue;
            }
            if let Some(conn) = self.open.remove(&key) {
                self.stats.evicted_connections = self.stats.evicted_connections.saturating_add(1);
                sink(StreamEvent::LimitHit {
                    conn: Some(id),
                    ts,
                    limit: Limit::OpenConnections,
                });
                self.close(key, conn, CloseReason::Evicted, ts, sink);
            }
            return;
        }
    }

    /// Closes the connection of `key` if the segment just fed ended it.
    fn end(
        &mut self,
        key: u64,
        end: Ending,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        match end {
            Ending::No => {}
            // RFC 9293 3.10.7: a RST ends the connection. What was held is delivered first
            // (it was sent before), then who reset it.
            Ending::Rst(dir) => {
                if let Some(conn) = self.open.remove(&key) {
                    self.close_with_rst(key, conn, dir, seg, sink);
                }
            }
            // RFC 9293 3.6: both sides sent FIN and all data before each was delivered.
            Ending::Fin => {
                if let Some(conn) = self.open.remove(&key) {
                    self.close(key, conn, CloseReason::Fin, seg.ts, sink);
                }
            }
        }
    }

    fn close_with_rst(
        &mut self,
        key: u64,
        mut conn: Box<Conn>,
        dir: Dir,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        self.flush(&mut conn, seg.ts, sink);
        sink(StreamEvent::Rst {
            conn: conn.id,
            dir,
            ts: seg.ts,
            frame: seg.frame,
        });
        self.close(key, conn, CloseReason::Rst, seg.ts, sink);
    }

    /// Delivers what both directions hold (gaps for the holes) and their FINs.
    fn flush(&mut self, conn: &mut Conn, ts: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        let TcpTable {
            config,
            stats,
            held,
            ..
        } = self;
        let mut cx = Ctx {
            conn: conn.id,
            dir: Dir::ToServer,
            config,
            stats,
            total_held: held,
        };
        conn.to_server.flush(&mut cx, ts, sink);
        let mut cx = Ctx {
            conn: conn.id,
            dir: Dir::ToClient,
            config,
            stats,
            total_held: held,
        };
        conn.to_client.flush(&mut cx, ts, sink);
    }

    /// Ends a connection already removed from `open`: flushes it, emits `Closed`, and
    /// remembers the 4-tuple when late packets may still come for it.
    fn close(
        &mut self,
        key: u64,
        mut conn: Box<Conn>,
        reason: CloseReason,
        ts: Timestamp,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        self.flush(&mut conn, ts, sink);
        sink(StreamEvent::Closed {
            conn: conn.id,
            ts,
            reason,
        });
        self.keys.remove(&conn.id);
        self.idle.remove(&(conn.idle_at, conn.id));
        match reason {
            // Late ACKs, retransmissions and SYN copies may follow: remember the tuple.
            CloseReason::Fin | CloseReason::Rst | CloseReason::EndOfInput => {
                let (isn_a, isn_b) = conn.isns();
                self.remember(
                    key,
                    ClosedConn {
                        id: conn.id,
                        isn_a,
                        isn_b,
                        last_seen: conn.last_seen,
                    },
                );
            }
            // Forgotten: a later packet is taken as a new (mid-stream) connection; `Reused`
            // is replaced by the new connection at once.
            CloseReason::Timeout | CloseReason::Evicted | CloseReason::Reused => {}
        }
    }

    /// Remembers a closed 4-tuple; at `max_connections` of them, forgets the oldest first.
    fn remember(&mut self, key: u64, closed: ClosedConn) {
        let cap = self.config.max_connections.max(1);
        if self.closed.len() >= cap {
            self.forget_oldest_closed(cap);
        }
        self.closed.insert(key, closed);
        self.peak_closed = self.peak_closed.max(self.closed.len());
    }

    /// Forgets the eighth of the closed 4-tuples (at least one) that were seen longest ago,
    /// judged like the closed window by each one's last packet, its id breaking ties so that
    /// every run forgets the same ones. An eighth at a time costs one pass over the table per
    /// `cap / 8` closes; a queue of the closes beside the table, to forget one at a time,
    /// cost 16 to 32 bytes a tuple (100 000 of them under the default cap).
    fn forget_oldest_closed(&mut self, cap: usize) {
        let keep = cap.saturating_sub(cap.div_ceil(8));
        let mut ages: Vec<(i64, ConnId)> =
            self.closed.values().map(|c| (c.last_seen, c.id)).collect();
        let Some(forget) = ages.len().checked_sub(keep).filter(|n| *n > 0) else {
            return;
        };
        let (_, &mut newest_forgotten, _) = ages.select_nth_unstable(forget.saturating_sub(1));
        let before = self.closed.len();
        self.closed
            .retain(|_, c| (c.last_seen, c.id) > newest_forgotten);
        let gone = before.saturating_sub(self.closed.len());
        self.stats.forgotten_closed = self
            .stats
            .forgotten_closed
            .saturating_add(u64::try_from(gone).unwrap_or(u64::MAX));
    }
}

/// Whether a segment ended its connection.
enum Ending {
    No,
    /// A RST, sent in this direction.
    Rst(Dir),
    /// Both FINs are delivered.
    Fin,
}

/// One segment for an open connection: the ACK for the other direction, then the data and FIN
/// of its own. A free function so the table's fields can be borrowed apart.
fn feed(
    conn: &mut Conn,
    config: &TcpConfig,
    stats: &mut TcpStats,
    held: &mut usize,
    src_is_a: bool,
    seg: &Segment<'_>,
    sink: &mut dyn FnMut(StreamEvent<'_>),
) -> Ending {
    conn.last_seen = conn.last_seen.max(seg.ts.0);
    let dir = conn.dir_of(src_is_a);
    let id = conn.id;
    let (this, peer) = conn.streams(dir);
    if seg.flags.ack() {
        // RFC 9293 3.4: the ACK field is meaningful only with the ACK flag. It tells what the
        // sender had received when it sent this segment, so it is taken first.
        let mut cx = Ctx {
            conn: id,
            dir: dir.reverse(),
            config,
            stats,
            total_held: held,
        };
        peer.peer_ack(&mut cx, seg.ack, seg.ts, sink);
    }
    if seg.flags.rst() {
        // A RST's payload is diagnostic text, not stream data (RFC 9293 3.5.3).
        this.observe(seg);
        return Ending::Rst(dir);
    }
    let mut cx = Ctx {
        conn: id,
        dir,
        config,
        stats,
        total_held: held,
    };
    this.segment(&mut cx, seg, sink);
    if this.fin_sent() && peer.fin_sent() {
        Ending::Fin
    } else {
        Ending::No
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::net::TcpFlags;
    use std::net::SocketAddr;

    /// An owned copy of a [`StreamEvent`], for comparing.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Ev {
        Open {
            conn: ConnId,
            client: SocketAddr,
            server: SocketAddr,
            kind: OpenKind,
        },
        Data {
            conn: ConnId,
            dir: Dir,
            offset: u64,
            bytes: Vec<u8>,
        },
        Gap {
            conn: ConnId,
            dir: Dir,
            offset: u64,
            len: u64,
        },
        Fin {
            conn: ConnId,
            dir: Dir,
        },
        Rst {
            conn: ConnId,
            dir: Dir,
        },
        Closed {
            conn: ConnId,
            reason: CloseReason,
        },
        Limit {
            conn: Option<ConnId>,
            limit: Limit,
        },
    }

    impl Ev {
        fn of(e: StreamEvent<'_>) -> Ev {
            match e {
                StreamEvent::Open {
                    conn,
                    client,
                    server,
                    kind,
                    ..
                } => Ev::Open {
                    conn,
                    client,
                    server,
                    kind,
                },
                StreamEvent::Data {
                    conn,
                    dir,
                    offset,
                    bytes,
                    ..
                } => Ev::Data {
                    conn,
                    dir,
                    offset,
                    bytes: bytes.to_vec(),
                },
                StreamEvent::Gap {
                    conn,
                    dir,
                    offset,
                    len,
                    ..
                } => Ev::Gap {
                    conn,
                    dir,
                    offset,
                    len,
                },
                StreamEvent::Fin { conn, dir, .. } => Ev::Fin { conn, dir },
                StreamEvent::Rst { conn, dir, .. } => Ev::Rst { conn, dir },
                StreamEvent::Closed { conn, reason, .. } => Ev::Closed { conn, reason },
                StreamEvent::LimitHit { conn, limit, .. } => Ev::Limit { conn, limit },
            }
        }
    }

    pub(crate) fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Flags from tcpdump-like letters: S, A, F, R, P.
    fn flags(s: &str) -> TcpFlags {
        let mut f = 0;
        for c in s.chars() {
            f |= match c {
                'S' => TcpFlags::SYN,
                'A' => TcpFlags::ACK,
                'F' => TcpFlags::FIN,
                'R' => TcpFlags::RST,
                'P' => TcpFlags::PSH,
                _ => panic!("flag {c}"),
            };
        }
        TcpFlags(f)
    }

    /// A trace: packets in, owned events out; time advances 1 ms per packet.
    pub(crate) struct Trace {
        pub table: TcpTable,
        pub events: Vec<Ev>,
        frame: u64,
        pub ts: i64,
    }

    impl Trace {
        pub fn new() -> Self {
            Self::with(TcpConfig::default())
        }

        pub fn with(config: TcpConfig) -> Self {
            Trace {
                table: TcpTable::new(config),
                events: Vec::new(),
                frame: 0,
                ts: 1_000_000_000,
            }
        }

        /// A trace whose table keeps at most `n` connections (open, and closed apart).
        pub fn capped(n: usize) -> Self {
            Trace::with(TcpConfig {
                max_connections: n,
                ..TcpConfig::default()
            })
        }

        #[allow(clippy::too_many_arguments)]
        pub fn send_missing(
            &mut self,
            from: &str,
            to: &str,
            fl: &str,
            seq: u32,
            ack: u32,
            payload: &[u8],
            missing: u32,
        ) {
            self.frame += 1;
            self.ts += 1_000_000;
            let seg = Segment {
                frame: self.frame,
                ts: Timestamp(self.ts),
                src: addr(from),
                dst: addr(to),
                seq,
                ack,
                flags: flags(fl),
                window: 1000,
                payload,
                missing,
            };
            let events = &mut self.events;
            self.table.push(&seg, &mut |e| events.push(Ev::of(e)));
        }

        pub fn send(&mut self, from: &str, to: &str, fl: &str, seq: u32, ack: u32, payload: &[u8]) {
            self.send_missing(from, to, fl, seq, ack, payload, 0);
        }

        pub fn finish(&mut self) {
            let events = &mut self.events;
            self.table
                .finish(Timestamp(self.ts), &mut |e| events.push(Ev::of(e)));
        }

        pub fn expire_at(&mut self, ts: i64) {
            let events = &mut self.events;
            self.table
                .expire(Timestamp(ts), &mut |e| events.push(Ev::of(e)));
        }

        /// Every event of `conn` but its data, in order.
        pub fn control(&self, conn: ConnId) -> Vec<Ev> {
            self.events
                .iter()
                .filter(|e| ev_conn(e) == Some(conn) && !matches!(e, Ev::Data { .. }))
                .cloned()
                .collect()
        }

        /// Bytes delivered for `conn` in `dir`, checking offsets are contiguous (gaps count).
        pub fn bytes(&self, conn: ConnId, dir: Dir) -> Vec<u8> {
            let mut out = Vec::new();
            let mut at = 0u64;
            for e in &self.events {
                match e {
                    Ev::Data {
                        conn: c,
                        dir: d,
                        offset,
                        bytes,
                    } if *c == conn && *d == dir => {
                        assert_eq!(*offset, at, "data offset");
                        at += bytes.len() as u64;
                        out.extend_from_slice(bytes);
                    }
                    Ev::Gap {
                        conn: c,
                        dir: d,
                        offset,
                        len,
                    } if *c == conn && *d == dir => {
                        assert_eq!(*offset, at, "gap offset");
                        at += len;
                    }
                    _ => {}
                }
            }
            out
        }

        pub fn gaps(&self) -> Vec<Ev> {
            self.events
                .iter()
                .filter(|e| matches!(e, Ev::Gap { .. }))
                .cloned()
                .collect()
        }

        /// Open first, Closed last, nothing after Closed, for every connection.
        pub fn check_invariants(&self) {
            use std::collections::HashMap as Map;
            let mut state: Map<ConnId, u8> = Map::new(); // 1 open, 2 closed
            for e in &self.events {
                let Some(c) = ev_conn(e) else { continue };
                let s = state.get(&c).copied().unwrap_or(0);
                match e {
                    Ev::Open { .. } => {
                        assert_eq!(s, 0, "second Open for {c}");
                        state.insert(c, 1);
                    }
                    Ev::Closed { .. } => {
                        assert_eq!(s, 1, "Closed without Open or twice for {c}");
                        state.insert(c, 2);
                    }
                    _ => assert_eq!(s, 1, "{e:?} outside Open..Closed"),
                }
            }
        }
    }

    fn ev_conn(e: &Ev) -> Option<ConnId> {
        match *e {
            Ev::Open { conn, .. }
            | Ev::Data { conn, .. }
            | Ev::Gap { conn, .. }
            | Ev::Fin { conn, .. }
            | Ev::Rst { conn, .. }
            | Ev::Closed { conn, .. } => Some(conn),
            Ev::Limit { conn, .. } => conn,
        }
    }

    const C: &str = "10.0.0.1:50000";
    const S: &str = "10.0.0.2:80";
    const CISN: u32 = 1000;
    const SISN: u32 = 5000;

    /// SYN, SYN-ACK, ACK between C and S.
    fn handshake(t: &mut Trace) {
        t.send(C, S, "S", CISN, 0, b"");
        t.send(S, C, "SA", SISN, CISN + 1, b"");
        t.send(C, S, "A", CISN + 1, SISN + 1, b"");
    }

    fn data(conn: ConnId, dir: Dir, offset: u64, bytes: &[u8]) -> Ev {
        Ev::Data {
            conn,
            dir,
            offset,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn handshake_data_fins_close() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"GET / HTTP/1.1\r\n\r\n");
        t.send(S, C, "PA", SISN + 1, CISN + 19, b"HTTP/1.1 200 OK\r\n\r\n");
        t.send(C, S, "FA", CISN + 19, SISN + 20, b"");
        t.send(S, C, "FA", SISN + 20, CISN + 20, b"");
        t.send(C, S, "A", CISN + 20, SISN + 21, b"");
        t.check_invariants();
        assert_eq!(
            t.events,
            vec![
                Ev::Open {
                    conn: 0,
                    client: addr(C),
                    server: addr(S),
                    kind: OpenKind::Handshake
                },
                data(0, Dir::ToServer, 0, b"GET / HTTP/1.1\r\n\r\n"),
                data(0, Dir::ToClient, 0, b"HTTP/1.1 200 OK\r\n\r\n"),
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToServer
                },
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToClient
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::Fin
                },
            ]
        );
        // The last ACK belongs to the closed connection: no new one.
        assert_eq!(t.table.stats().connections, 1);
        assert_eq!(t.table.open_connections(), 0);
        assert_eq!(t.table.stats().bytes_delivered, 37);
        assert_eq!(t.table.stats().segments, 8);
    }

    #[test]
    fn syn_ack_sender_is_the_server() {
        let mut t = Trace::new();
        t.send(S, C, "SA", SISN, CISN + 1, b"");
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"hi");
        t.check_invariants();
        assert_eq!(
            t.events[0],
            Ev::Open {
                conn: 0,
                client: addr(C),
                server: addr(S),
                kind: OpenKind::Handshake
            }
        );
        assert_eq!(t.events[1], data(0, Dir::ToServer, 0, b"hi"));
    }

    #[test]
    fn syn_with_high_port_is_still_the_client() {
        let mut t = Trace::new();
        // The SYN's sender is the client whatever the ports.
        t.send(S, C, "S", 7, 0, b"");
        assert_eq!(
            t.events[0],
            Ev::Open {
                conn: 0,
                client: addr(S),
                server: addr(C),
                kind: OpenKind::Handshake
            }
        );
    }

    #[test]
    fn sequence_wraps_around() {
        let mut t = Trace::new();
        let isn = u32::MAX - 2;
        t.send(C, S, "S", isn, 0, b"");
        t.send(S, C, "SA", SISN, isn.wrapping_add(1), b"");
        // Data from MAX-1: 4 bytes cross the wrap; the next segment comes first.
        t.send(C, S, "PA", isn.wrapping_add(5), SISN + 1, b"efgh");
        t.send(C, S, "PA", isn.wrapping_add(1), SISN + 1, b"abcd");
        t.send(C, S, "PA", isn.wrapping_add(9), SISN + 1, b"ij");
        t.send(C, S, "FA", isn.wrapping_add(11), SISN + 1, b"");
        t.finish();
        t.check_invariants();
        assert_eq!(t.bytes(0, Dir::ToServer), b"abcdefghij");
        assert!(t.gaps().is_empty());
        assert!(t.control(0).contains(&Ev::Fin {
            conn: 0,
            dir: Dir::ToServer
        }));
        assert_eq!(t.table.stats().out_of_order_segments, 1);
    }

    #[test]
    fn mid_stream_pickup_guesses_server_by_port() {
        let mut t = Trace::new();
        t.send(S, C, "PA", 777_000, 1, b"tail of a response");
        t.send(C, S, "PA", 1, 777_018, b"GET /next");
        t.check_invariants();
        assert_eq!(
            t.events[0],
            Ev::Open {
                conn: 0,
                client: addr(C),
                server: addr(S),
                kind: OpenKind::MidStream
            }
        );
        assert_eq!(t.bytes(0, Dir::ToClient), b"tail of a response");
        assert_eq!(t.bytes(0, Dir::ToServer), b"GET /next");
    }

    #[test]
    fn mid_stream_equal_ports_destination_is_server() {
        let mut t = Trace::new();
        t.send("10.0.0.9:445", "10.0.0.1:445", "A", 5, 5, b"x");
        assert_eq!(
            t.events[0],
            Ev::Open {
                conn: 0,
                client: addr("10.0.0.9:445"),
                server: addr("10.0.0.1:445"),
                kind: OpenKind::MidStream
            }
        );
    }

    #[test]
    fn tuple_reused_after_fin_is_a_new_connection() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "FA", CISN + 1, SISN + 1, b"");
        t.send(S, C, "FA", SISN + 1, CISN + 2, b"");
        t.send(C, S, "A", CISN + 2, SISN + 2, b"");
        // A late copy of the old SYN stays with the closed connection.
        t.send(C, S, "S", CISN, 0, b"");
        assert_eq!(t.table.stats().connections, 1);
        // A SYN with a new ISN: new connection.
        t.send(C, S, "S", 90_000, 0, b"");
        t.send(S, C, "SA", 12, 90_001, b"");
        t.send(C, S, "PA", 90_001, 13, b"again");
        t.finish();
        t.check_invariants();
        assert_eq!(t.table.stats().connections, 2);
        assert_eq!(
            t.control(0).last(),
            Some(&Ev::Closed {
                conn: 0,
                reason: CloseReason::Fin
            })
        );
        assert_eq!(t.bytes(1, Dir::ToServer), b"again");
        assert_eq!(
            t.control(1).last(),
            Some(&Ev::Closed {
                conn: 1,
                reason: CloseReason::EndOfInput
            })
        );
    }

    #[test]
    fn tuple_reused_after_rst_is_a_new_connection() {
        let mut t = Trace::new();
        t.send(C, S, "S", CISN, 0, b"");
        t.send(S, C, "RA", 0, CISN + 1, b"");
        // The client retries with the same ISN: same connection (Wireshark: retransmission).
        t.send(C, S, "S", CISN, 0, b"");
        t.send(S, C, "RA", 0, CISN + 1, b"");
        assert_eq!(t.table.stats().connections, 1);
        t.send(C, S, "S", CISN + 777, 0, b"");
        t.check_invariants();
        assert_eq!(t.table.stats().connections, 2);
        assert_eq!(
            t.control(0),
            vec![
                Ev::Open {
                    conn: 0,
                    client: addr(C),
                    server: addr(S),
                    kind: OpenKind::Handshake
                },
                Ev::Rst {
                    conn: 0,
                    dir: Dir::ToClient
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::Rst
                },
            ]
        );
    }

    #[test]
    fn new_isn_on_open_tuple_replaces_the_connection() {
        let mut t = Trace::new();
        t.send(C, S, "S", CISN, 0, b"");
        t.send(C, S, "S", CISN, 0, b""); // retransmitted SYN: same connection
        assert_eq!(t.table.stats().connections, 1);
        t.send(C, S, "S", CISN + 50_000, 0, b"");
        t.check_invariants();
        assert_eq!(t.table.stats().connections, 2);
        assert_eq!(
            t.control(0).last(),
            Some(&Ev::Closed {
                conn: 0,
                reason: CloseReason::Reused
            })
        );
        assert_eq!(t.table.open_connections(), 1);
    }

    #[test]
    fn lone_rst_and_lone_ack_are_connections() {
        let mut t = Trace::new();
        t.send(S, C, "R", 9, 0, b"");
        t.send(S, C, "A", 9, 0, b""); // after the RST: same (closed) connection
        t.send("10.0.0.3:1234", S, "A", 1, 1, b"");
        t.finish();
        t.check_invariants();
        assert_eq!(t.table.stats().connections, 2);
        assert_eq!(
            t.control(0),
            vec![
                Ev::Open {
                    conn: 0,
                    client: addr(C),
                    server: addr(S),
                    kind: OpenKind::MidStream
                },
                Ev::Rst {
                    conn: 0,
                    dir: Dir::ToClient
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::Rst
                },
            ]
        );
        assert_eq!(
            t.control(1).last(),
            Some(&Ev::Closed {
                conn: 1,
                reason: CloseReason::EndOfInput
            })
        );
    }

    #[test]
    fn retransmission_is_delivered_once() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"hello");
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"hello");
        t.send(C, S, "PA", CISN + 6, SISN + 1, b" world");
        t.finish();
        t.check_invariants();
        assert_eq!(t.bytes(0, Dir::ToServer), b"hello world");
        assert_eq!(t.table.stats().retransmitted_bytes, 5);
    }

    #[test]
    fn overlap_first_bytes_seen_win() {
        let mut t = Trace::new();
        handshake(&mut t);
        // In order, then an overlapping copy with different bytes.
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"0123456789");
        t.send(C, S, "PA", CISN + 6, SISN + 1, b"XXXXXabcde");
        // Out of order: held [20, 30), then a copy covering [15, 35) with different bytes.
        t.send(C, S, "PA", CISN + 21, SISN + 1, b"KLMNOPQRST");
        t.send(C, S, "PA", CISN + 16, SISN + 1, b"fghijyyyyyyyyyyuvwxy");
        t.finish();
        t.check_invariants();
        assert_eq!(
            t.bytes(0, Dir::ToServer),
            b"0123456789abcdefghijKLMNOPQRSTuvwxy"
        );
        assert_eq!(t.table.stats().retransmitted_bytes, 5 + 10);
        assert!(t.gaps().is_empty());
    }

    #[test]
    fn hole_filled_later() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
        t.send(C, S, "PA", CISN + 16, SISN + 1, b"ddddd");
        let before = t.events.len();
        t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
        t.check_invariants();
        assert_eq!(
            t.events[before..],
            [
                data(0, Dir::ToServer, 5, b"bbbbb"),
                data(0, Dir::ToServer, 10, b"ccccc"),
                data(0, Dir::ToServer, 15, b"ddddd")
            ]
        );
        assert_eq!(t.table.stats().out_of_order_segments, 2);
        assert_eq!(t.table.stats().peak_buffered_bytes, 10);
    }

    #[test]
    fn hole_never_filled_is_a_gap_at_finish() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
        t.finish();
        t.check_invariants();
        assert_eq!(
            t.control(0)[1..],
            [
                Ev::Gap {
                    conn: 0,
                    dir: Dir::ToServer,
                    offset: 5,
                    len: 5
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::EndOfInput
                }
            ]
        );
        assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaaccccc");
        assert_eq!(t.table.stats().gaps, 1);
        assert_eq!(t.table.stats().gap_bytes, 5);
    }

    #[test]
    fn ack_beyond_hole_is_a_gap_at_once() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
        // The server acknowledges up to the hole only: nothing yet.
        t.send(S, C, "A", SISN + 1, CISN + 6, b"");
        assert!(t.gaps().is_empty());
        // Past the hole: the capture lost it.
        t.send(S, C, "A", SISN + 1, CISN + 16, b"");
        t.check_invariants();
        assert_eq!(
            t.gaps(),
            vec![Ev::Gap {
                conn: 0,
                dir: Dir::ToServer,
                offset: 5,
                len: 5
            }]
        );
        assert_eq!(t.events.last(), Some(&data(0, Dir::ToServer, 10, b"ccccc")));
        // Retransmission of the lost bytes after the gap: dropped.
        t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
        assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaaccccc");
    }

    #[test]
    fn fin_waits_for_the_hole() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "FPA", CISN + 11, SISN + 1, b"ccccc");
        assert!(!t.events.contains(&Ev::Fin {
            conn: 0,
            dir: Dir::ToServer
        }));
        t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
        assert_eq!(
            t.events.last(),
            Some(&Ev::Fin {
                conn: 0,
                dir: Dir::ToServer
            })
        );
        assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaabbbbbccccc");
    }

    #[test]
    fn fin_behind_a_hole_released_by_the_ack_of_the_fin() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "FA", CISN + 11, SISN + 1, b"");
        t.send(S, C, "FA", SISN + 1, CISN + 12, b"");
        t.check_invariants();
        assert_eq!(
            t.control(0)[1..],
            [
                Ev::Gap {
                    conn: 0,
                    dir: Dir::ToServer,
                    offset: 5,
                    len: 5
                },
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToServer
                },
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToClient
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::Fin
                },
            ]
        );
    }

    #[test]
    fn rst_delivers_what_is_held_then_records_the_sender() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
        t.send(S, C, "R", SISN + 1, 0, b"");
        t.check_invariants();
        assert_eq!(
            t.events[1..],
            [
                data(0, Dir::ToServer, 0, b"aaaaa"),
                Ev::Gap {
                    conn: 0,
                    dir: Dir::ToServer,
                    offset: 5,
                    len: 5
                },
                data(0, Dir::ToServer, 10, b"ccccc"),
                Ev::Rst {
                    conn: 0,
                    dir: Dir::ToClient
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::Rst
                },
            ]
        );
        // Packets after the RST stay with the closed connection.
        t.send(C, S, "PA", CISN + 16, SISN + 1, b"more");
        assert_eq!(t.table.stats().connections, 1);
        t.check_invariants();
    }

    #[test]
    fn a_closed_tuple_is_remembered_for_the_closed_window_after_its_last_packet() {
        let mut t = Trace::new();
        let window = TcpConfig::default().closed_window_ns;
        assert_eq!(window, 10_000_000_000);
        handshake(&mut t);
        t.send(C, S, "R", CISN + 1, 0, b"");
        // Late copies, each within the window of the one before, stay with the closed
        // connection however long the whole takes (retransmissions back off).
        for _ in 0..3 {
            t.ts += window - 1_000_000_000;
            t.expire_at(t.ts);
            t.send(S, C, "PA", SISN + 1, CISN + 1, b"late");
            assert_eq!(t.table.stats().connections, 1);
        }
        // Past the window it is forgotten: the next packet starts a mid-stream connection,
        // the idle timeout (600 s) notwithstanding.
        t.ts += window + 1;
        t.expire_at(t.ts);
        t.send(S, C, "PA", SISN + 5, CISN + 1, b"later");
        assert_eq!(t.table.stats().connections, 2);
        assert_eq!(t.table.stats().forgotten_closed, 0);
        t.check_invariants();
    }

    #[test]
    fn bytes_cut_by_snaplen_are_a_gap_after_the_payload() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send_missing(C, S, "PA", CISN + 1, SISN + 1, b"abc", 7);
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"next");
        t.check_invariants();
        assert_eq!(
            t.events[1..],
            [
                data(0, Dir::ToServer, 0, b"abc"),
                Ev::Gap {
                    conn: 0,
                    dir: Dir::ToServer,
                    offset: 3,
                    len: 7
                },
                data(0, Dir::ToServer, 10, b"next"),
            ]
        );
    }

    #[test]
    fn connection_buffer_cap_gives_up_on_the_hole() {
        let config = TcpConfig {
            max_buffered_per_conn: 10,
            ..TcpConfig::default()
        };
        let mut t = Trace::with(config);
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"cccccccccc"); // [10, 20): at the cap
        let before = t.events.len();
        t.send(C, S, "PA", CISN + 31, SISN + 1, b"eeeee"); // [30, 35): over it
        t.check_invariants();
        assert_eq!(
            t.events[before..],
            [
                Ev::Limit {
                    conn: Some(0),
                    limit: Limit::ConnectionBuffer
                },
                Ev::Gap {
                    conn: 0,
                    dir: Dir::ToServer,
                    offset: 5,
                    len: 5
                },
                data(0, Dir::ToServer, 10, b"cccccccccc"),
                Ev::Gap {
                    conn: 0,
                    dir: Dir::ToServer,
                    offset: 20,
                    len: 10
                },
                data(0, Dir::ToServer, 30, b"eeeee"),
            ]
        );
        assert_eq!(t.table.stats().buffer_limit_hits, 1);
        assert_eq!(t.table.stats().peak_buffered_bytes, 10);
        // A late copy of the hole is a retransmission now.
        t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
        assert_eq!(t.table.stats().retransmitted_bytes, 5);
    }

    #[test]
    fn total_buffer_cap_is_shared() {
        let config = TcpConfig {
            max_buffered_total: 8,
            ..TcpConfig::default()
        };
        let mut t = Trace::with(config);
        let d = "10.0.0.3:50001";
        t.send(C, S, "S", CISN, 0, b"");
        t.send(d, S, "S", 1, 0, b"");
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"xxxxx"); // held: 5
        t.send(d, S, "PA", 12, SISN + 1, b"yyyyy"); // 10 > 8: refused
        t.check_invariants();
        assert!(t.events.contains(&Ev::Limit {
            conn: Some(1),
            limit: Limit::TotalBuffer
        }));
        assert_eq!(t.bytes(1, Dir::ToServer), b"yyyyy");
        assert_eq!(
            t.gaps(),
            vec![Ev::Gap {
                conn: 1,
                dir: Dir::ToServer,
                offset: 0,
                len: 10
            }]
        );
    }

    #[test]
    fn open_connection_cap_evicts_least_recently_active() {
        let mut t = Trace::capped(2);
        t.send("10.0.0.1:1000", S, "S", 1, 0, b"");
        t.send("10.0.0.1:1001", S, "S", 1, 0, b"");
        t.send("10.0.0.1:1000", S, "A", 2, 1, b""); // conn 0 active again
        t.send("10.0.0.1:1002", S, "S", 1, 0, b"");
        t.check_invariants();
        assert_eq!(t.table.open_connections(), 2);
        assert_eq!(
            t.control(1)[1..],
            [
                Ev::Limit {
                    conn: Some(1),
                    limit: Limit::OpenConnections
                },
                Ev::Closed {
                    conn: 1,
                    reason: CloseReason::Evicted
                }
            ]
        );
        assert_eq!(t.table.stats().evicted_connections, 1);
        assert_eq!(t.table.stats().peak_open_connections, 2);
    }

    #[test]
    fn closed_tuples_past_the_cap_are_forgotten_and_counted() {
        let mut t = Trace::capped(2);
        for port in ["10.0.0.1:1000", "10.0.0.1:1001", "10.0.0.1:1002"] {
            t.send(port, S, "S", 1, 0, b"");
            t.send(port, S, "R", 2, 0, b"");
        }
        t.check_invariants();
        assert_eq!(t.table.stats().forgotten_closed, 1);
        assert_eq!(t.table.stats().evicted_connections, 0);
        // The first was forgotten: a late packet on it opens a new connection; the second is
        // still known.
        t.send("10.0.0.1:1001", S, "A", 2, 0, b"");
        assert_eq!(t.table.stats().connections, 3);
        t.send("10.0.0.1:1000", S, "A", 2, 0, b"");
        assert_eq!(t.table.stats().connections, 4);
    }

    #[test]
    fn the_closed_tuples_forgotten_are_those_seen_longest_ago() {
        let mut t = Trace::capped(16);
        let port = |i: usize| format!("10.0.0.1:{}", 1000 + i);
        for i in 0..16 {
            t.send(&port(i), S, "S", 1, 0, b"");
            t.send(&port(i), S, "R", 2, 0, b"");
        }
        // A late packet on the first: now seen after all the others.
        t.send(&port(0), S, "A", 2, 0, b"");
        assert_eq!(t.table.stats().connections, 16);
        // The cap is reached: an eighth (two) go, the oldest by their last packet.
        t.send(&port(16), S, "S", 1, 0, b"");
        t.send(&port(16), S, "R", 2, 0, b"");
        assert_eq!(t.table.stats().forgotten_closed, 2);
        assert_eq!(t.table.closed.len(), 15);
        t.check_invariants();
        for i in [0, 3, 15] {
            t.send(&port(i), S, "A", 2, 0, b"");
        }
        assert_eq!(
            t.table.stats().connections,
            17,
            "0, 3 and 15 are still known"
        );
        t.send(&port(1), S, "A", 2, 0, b"");
        t.send(&port(2), S, "A", 2, 0, b"");
        assert_eq!(t.table.stats().connections, 19, "1 and 2 were forgotten");
    }

    #[test]
    fn ignore_data_frees_buffers_and_keeps_control_events() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
        t.table.ignore_data(0);
        t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
        t.send(S, C, "PA", SISN + 1, CISN + 16, b"response");
        t.send(C, S, "FA", CISN + 16, SISN + 9, b"");
        t.send(S, C, "FA", SISN + 9, CISN + 17, b"");
        t.check_invariants();
        assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaa");
        assert_eq!(t.bytes(0, Dir::ToClient), b"");
        assert_eq!(
            t.control(0)[1..],
            [
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToServer
                },
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToClient
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::Fin
                }
            ]
        );
        assert_eq!(t.table.held, 0);
    }

    #[test]
    fn ignore_data_releases_a_fin_waiting_behind_a_hole() {
        let mut t = Trace::new();
        handshake(&mut t);
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
        t.send(C, S, "FPA", CISN + 11, SISN + 1, b"ccccc");
        t.table.ignore_data(0);
        assert_eq!(t.table.held, 0);
        t.send(S, C, "FA", SISN + 1, CISN + 6, b"");
        t.check_invariants();
        assert_eq!(
            t.control(0)[1..],
            [
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToServer
                },
                Ev::Fin {
                    conn: 0,
                    dir: Dir::ToClient
                },
                Ev::Closed {
                    conn: 0,
                    reason: CloseReason::Fin
                }
            ]
        );
    }

    #[test]
    fn idle_connection_times_out() {
        let config = TcpConfig {
            idle_timeout_ns: 10_000_000_000,
            ..TcpConfig::default()
        };
        let mut t = Trace::with(config);
        handshake(&mut t);
        t.send("10.0.0.3:1", S, "S", 1, 0, b"");
        let last = t.ts;
        t.expire_at(last + 5_000_000_000);
        assert_eq!(t.table.open_connections(), 2);
        // Keep conn 1 alive; conn 0 goes idle.
        t.ts = last + 8_000_000_000;
        t.send("10.0.0.3:1", S, "A", 2, 1, b"");
        t.expire_at(last + 12_000_000_000);
        t.check_invariants();
        assert_eq!(
            t.control(0).last(),
            Some(&Ev::Closed {
                conn: 0,
                reason: CloseReason::Timeout
            })
        );
        assert_eq!(t.table.open_connections(), 1);
        assert_eq!(t.table.stats().timeouts, 1);
        // A packet on the timed-out tuple: a new, mid-stream connection.
        t.send(C, S, "PA", CISN + 1, SISN + 1, b"late");
        t.finish();
        t.check_invariants();
        assert_eq!(
            t.events
                .iter()
                .filter(|e| matches!(
                    e,
                    Ev::Open {
                        kind: OpenKind::MidStream,
                        ..
                    }
                ))
                .count(),
            1
        );
        assert_eq!(t.table.stats().connections, 3);
    }

    #[test]
    fn finish_closes_in_id_order() {
        let mut t = Trace::new();
        for port in [3000, 1000, 2000, 4000] {
            t.send(&format!("10.0.0.1:{port}"), S, "S", 1, 0, b"");
        }
        t.finish();
        t.check_invariants();
        let closed: Vec<ConnId> = t
            .events
            .iter()
            .filter_map(|e| {
                if let Ev::Closed { conn, .. } = e {
                    Some(*conn)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(closed, vec![0, 1, 2, 3]);
        assert_eq!(t.table.open_connections(), 0);
    }

    #[test]
    fn closed_tuple_memory_is_bounded() {
        let mut t = Trace::capped(3);
        for i in 0..50u32 {
            t.send(C, S, "S", i * 1000, 0, b"");
            t.send(S, C, "RA", 0, i * 1000 + 1, b"");
        }
        t.check_invariants();
        assert_eq!(t.table.stats().connections, 50);
        assert!(t.table.closed.len() <= 3);
    }

    /// Rough speed of the in-order path: `cargo test --release --lib throughput -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn throughput_in_order() {
        let mut table = TcpTable::new(TcpConfig::default());
        let payload = vec![b'x'; 1448];
        let conns: Vec<(SocketAddr, SocketAddr)> = (0..64u16)
            .map(|i| {
                (
                    addr(&format!("10.0.{}.{}:{}", i / 200, i % 200, 40000 + i)),
                    addr(S),
                )
            })
            .collect();
        let mut seqs = vec![1000u32; conns.len()];
        let mut delivered = 0u64;
        let mut sink = |e: StreamEvent<'_>| {
            if let StreamEvent::Data { bytes, .. } = e {
                delivered += bytes.len() as u64;
            }
        };
        let n = 2_000_000u64;
        let start = std::time::Instant::now();
        for i in 0..n {
            let c = (i % conns.len() as u64) as usize;
            let (src, dst) = conns[c];
            let seg = Segment {
                frame: i,
                ts: Timestamp(i as i64 * 1000),
                src,
                dst,
                seq: seqs[c],
                ack: 1,
                flags: TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
                window: 1000,
                payload: &payload,
                missing: 0,
            };
            seqs[c] = seqs[c].wrapping_add(1448);
            table.push(&seg, &mut sink);
        }
        let secs = start.elapsed().as_secs_f64();
        let bytes = n * 1448;
        eprintln!(
            "{n} segments, {:.0} ns/segment, {:.2} GB/s, delivered {delivered}",
            secs * 1e9 / n as f64,
            bytes as f64 / secs / 1e9
        );
        assert_eq!(delivered, bytes);
    }

    /// Property tests: segmentation, reordering and duplication do not change what is
    /// delivered; a lost segment is exactly one gap.
    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A tiny deterministic generator driven by a proptest seed.
        struct Rng(u64);

        impl Rng {
            fn next(&mut self) -> u64 {
                // xorshift64*
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
            }
            fn below(&mut self, n: u64) -> u64 {
                if n == 0 {
                    0
                } else {
                    self.next() % n
                }
            }
            fn one_in(&mut self, n: u64) -> bool {
                self.below(n) == 0
            }
        }

        #[derive(Debug, Clone)]
        struct Pkt {
            from_client: bool,
            flags: &'static str,
            seq: u32,
            ack: u32,
            payload: Vec<u8>,
            /// (direction is client, index in the primary segmentation) for data segments.
            id: Option<(bool, usize)>,
        }

        /// Cuts `bytes` into segments by `sizes` (cyclically): (offset, bytes).
        fn segment(bytes: &[u8], sizes: &[usize]) -> Vec<(usize, Vec<u8>)> {
            let mut out = Vec::new();
            let mut at = 0;
            let mut i = 0;
            while at < bytes.len() {
                let n = sizes[i % sizes.len()].max(1).min(bytes.len() - at);
                out.push((at, bytes[at..at + n].to_vec()));
                at += n;
                i += 1;
            }
            out
        }

        #[derive(Debug)]
        struct Case {
            client: Vec<u8>,
            server: Vec<u8>,
            cisn: u32,
            sisn: u32,
            cuts_c: Vec<(usize, Vec<u8>)>,
            cuts_s: Vec<(usize, Vec<u8>)>,
        }

        impl Case {
            fn data_pkt(&self, from_client: bool, i: usize, off: usize, bytes: &[u8]) -> Pkt {
                let (isn, peer) = if from_client {
                    (self.cisn, self.sisn)
                } else {
                    (self.sisn, self.cisn)
                };
                Pkt {
                    from_client,
                    flags: "PA",
                    seq: isn.wrapping_add(1).wrapping_add(off as u32),
                    // Acknowledges nothing: no gap may come from an ACK here.
                    ack: peer.wrapping_add(1),
                    payload: bytes.to_vec(),
                    id: Some((from_client, i)),
                }
            }

            /// Handshake first, then data, FINs, copies and re-cut copies in a shuffled order.
            fn packets(&self, rng: &mut Rng, recut: bool) -> Vec<Pkt> {
                let mut body = Vec::new();
                for (from_client, cuts) in [(true, &self.cuts_c), (false, &self.cuts_s)] {
                    for (i, (off, bytes)) in cuts.iter().enumerate() {
                        body.push(self.data_pkt(from_client, i, *off, bytes));
                    }
                    let (isn, peer, len) = if from_client {
                        (self.cisn, self.sisn, self.client.len())
                    } else {
                        (self.sisn, self.cisn, self.server.len())
                    };
                    body.push(Pkt {
                        from_client,
                        flags: "FA",
                        seq: isn.wrapping_add(1).wrapping_add(len as u32),
                        ack: peer.wrapping_add(1),
                        payload: Vec::new(),
                        id: None,
                    });
                    if recut {
                        // Retransmissions cut differently, overlapping the first cut.
                        let src = if from_client {
                            &self.client
                        } else {
                            &self.server
                        };
                        let sizes: Vec<usize> =
                            (0..8).map(|_| 1 + rng.below(90) as usize).collect();
                        for (off, bytes) in segment(src, &sizes) {
                            if rng.one_in(3) {
                                let mut p = self.data_pkt(from_client, 0, off, &bytes);
                                p.id = None;
                                body.push(p);
                            }
                        }
                    }
                }
                // Copies (retransmissions of whole segments), and a retransmitted SYN.
                let n = body.len();
                for i in 0..n {
                    if rng.one_in(4) {
                        body.push(body[i].clone());
                    }
                }
                if rng.one_in(2) {
                    body.push(Pkt {
                        from_client: true,
                        flags: "S",
                        seq: self.cisn,
                        ack: 0,
                        payload: Vec::new(),
                        id: None,
                    });
                }
                // Fisher-Yates.
                for i in (1..body.len()).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    body.swap(i, j);
                }
                let mut all = vec![
                    Pkt {
                        from_client: true,
                        flags: "S",
                        seq: self.cisn,
                        ack: 0,
                        payload: Vec::new(),
                        id: None,
                    },
                    Pkt {
                        from_client: false,
                        flags: "SA",
                        seq: self.sisn,
                        ack: self.cisn.wrapping_add(1),
                        payload: Vec::new(),
                        id: None,
                    },
                ];
                all.extend(body);
                all
            }
        }

        fn run(pkts: &[Pkt]) -> Trace {
            let mut t = Trace::new();
            for p in pkts {
                let (from, to) = if p.from_client { (C, S) } else { (S, C) };
                t.send(from, to, p.flags, p.seq, p.ack, &p.payload);
            }
            t.finish();
            t.check_invariants();
            t
        }

        fn isn() -> impl Strategy<Value = u32> {
            prop_oneof![any::<u32>(), (u32::MAX - 1500)..=u32::MAX]
        }

        fn case() -> impl Strategy<Value = Case> {
            (
                proptest::collection::vec(any::<u8>(), 0..700),
                proptest::collection::vec(any::<u8>(), 0..700),
                isn(),
                isn(),
                proptest::collection::vec(1usize..120, 1..12),
                proptest::collection::vec(1usize..120, 1..12),
            )
                .prop_map(|(client, server, cisn, sisn, sc, ss)| Case {
                    cuts_c: segment(&client, &sc),
                    cuts_s: segment(&server, &ss),
                    client,
                    server,
                    cisn,
                    sisn,
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            #[test]
            fn any_cut_order_and_copies_deliver_the_same_bytes(case in case(), seed in 1u64..) {
                let mut rng = Rng(seed);
                let pkts = case.packets(&mut rng, true);
                let t = run(&pkts);
                prop_assert_eq!(t.table.stats().connections, 1);
                prop_assert_eq!(t.bytes(0, Dir::ToServer), case.client.clone());
                prop_assert_eq!(t.bytes(0, Dir::ToClient), case.server.clone());
                prop_assert!(t.gaps().is_empty());
                prop_assert_eq!(
                    t.control(0)[1..].to_vec(),
                    if t.control(0)[1] == (Ev::Fin { conn: 0, dir: Dir::ToServer }) {
                        vec![
                            Ev::Fin { conn: 0, dir: Dir::ToServer },
                            Ev::Fin { conn: 0, dir: Dir::ToClient },
                            Ev::Closed { conn: 0, reason: CloseReason::Fin },
                        ]
                    } else {
                        vec![
                            Ev::Fin { conn: 0, dir: Dir::ToClient },
                            Ev::Fin { conn: 0, dir: Dir::ToServer },
                            Ev::Closed { conn: 0, reason: CloseReason::Fin },
                        ]
                    }
                );
                prop_assert_eq!(t.table.held, 0);
            }

            #[test]
            fn a_lost_segment_is_exactly_one_gap(case in case(), seed in 1u64.., client_side: bool, pick: usize) {
                let (cuts, src, dir) = if client_side {
                    (&case.cuts_c, &case.client, Dir::ToServer)
                } else {
                    (&case.cuts_s, &case.server, Dir::ToClient)
                };
                prop_assume!(!cuts.is_empty());
                let lost = pick % cuts.len();
                let (off, bytes) = &cuts[lost];
                let mut rng = Rng(seed);
                let pkts: Vec<Pkt> = case
                    .packets(&mut rng, false)
                    .into_iter()
                    .filter(|p| p.id != Some((client_side, lost)))
                    .collect();
                let t = run(&pkts);
                prop_assert_eq!(
                    t.gaps(),
                    vec![Ev::Gap { conn: 0, dir, offset: *off as u64, len: bytes.len() as u64 }]
                );
                let mut expected = src[..*off].to_vec();
                expected.extend_from_slice(&src[off + bytes.len()..]);
                prop_assert_eq!(t.bytes(0, dir), expected);
                let other = if client_side { &case.server } else { &case.client };
                prop_assert_eq!(&t.bytes(0, dir.reverse()), other);
                prop_assert_eq!(t.table.held, 0);
            }
        }
    }
}
