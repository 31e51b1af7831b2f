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

        // The open connection the segment goes to: the one of its 4-tuple, else a new one.
        let conn = 'found: {
            if let Some(conn) = self.open.get_mut(&key) {
                let (isn_a, isn_b) = conn.isns();
                let isn = if src_is_a { isn_a } else { isn_b };
                // A SYN with a new ISN from a side that already has one: the 4-tuple was
                // reused for a new connection (Wireshark: new stream, "ports reused").
                let reused = pure_syn && isn.is_some_and(|isn| isn != seq);
                if !reused {
                    break 'found conn;
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
            match self.open.get_mut(&key) {
                Some(conn) => conn,
                None => return,
            }
        };
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

    /// Forgets every closed 4-tuple (its capture ended: no late packet of it can come).
    pub fn forget_all_closed(&mut self) {
        self.closed.clear();
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
mod tests;
