//! One direction of a connection: the next byte expected, the out-of-order segments held until
//! the hole before them is filled, and the FIN.
//!
//! Positions are kept twice: as a sequence number (what segments carry, RFC 9293 3.4) and as a
//! 64-bit offset from the start of the direction (what the layer above sees, never wraps).
//! The two move together at `next`: every incoming sequence number is placed by its signed
//! distance from `next_seq`.
//!
//! Rule for retransmissions and overlaps: the first bytes seen win. Bytes already delivered,
//! or already held out of order, are never replaced by a later copy; the later copy's bytes
//! are counted in `TcpStats::retransmitted_bytes` and dropped.

use std::collections::BTreeMap;

use super::seq::SeqNumber;
use super::{ConnId, Dir, Limit, StreamEvent, TcpConfig, TcpStats};
use crate::capture::Timestamp;
use crate::net::Segment;

/// Out-of-order segments held per direction at most: each costs a map node besides its bytes,
/// so a flood of one-byte segments must hit a cap too.
const MAX_HELD_SEGMENTS: usize = 4096;

/// What a stream borrows from the table while it works: which connection and direction it is,
/// the counters, and the budget shared by all connections.
pub(super) struct Ctx<'t> {
    pub conn: ConnId,
    pub dir: Dir,
    pub config: &'t TcpConfig,
    pub stats: &'t mut TcpStats,
    /// Out-of-order bytes held over all connections.
    pub total_held: &'t mut usize,
}

/// Where delivery stands: the sequence number and the offset of the next byte to deliver.
#[derive(Debug, Clone, Copy)]
struct Sync {
    /// The initial sequence number: the SYN's, or one before the first sequence number seen
    /// when the connection was picked up mid-stream. Kept to tell a retransmitted SYN from a
    /// new connection on the same 4-tuple.
    isn: SeqNumber,
    /// RCV.NXT of RFC 9293 3.3.1, as seen from the wire.
    next_seq: SeqNumber,
    /// Offset of `next_seq` from the start of the direction.
    next_off: u64,
}

/// A segment held out of order (its bytes copied: the packet is gone when it is released).
#[derive(Debug)]
struct Held {
    data: Vec<u8>,
    ts: Timestamp,
    frame: u64,
}

/// A FIN seen, at the offset it occupies (RFC 9293 3.4: the FIN takes one sequence number,
/// after the segment's data).
#[derive(Debug, Clone, Copy)]
struct FinMark {
    off: u64,
    ts: Timestamp,
    frame: u64,
}

/// What became of an out-of-order segment.
enum HoldOutcome {
    /// Held (or nothing new in it).
    Held,
    /// A cap refused it and nothing was added: the caller gives up on the holes before it.
    Refused(Limit),
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub(super) struct Stream {
    /// `None` until the first segment of this direction.
    sync: Option<Sync>,
    /// Out-of-order segments by start offset; they never overlap each other and all start
    /// after `next_off`.
    held: BTreeMap<u64, Held>,
    /// Bytes in `held`.
    held_bytes: usize,
    fin: Option<FinMark>,
    fin_sent: bool,
    /// The layer above asked for no more data: nothing is held or delivered.
    ignore: bool,
}

impl Stream {
    /// The initial sequence number of this direction, once a segment was seen.
    pub fn isn(&self) -> Option<SeqNumber> {
        self.sync.map(|s| s.isn)
    }

    /// The stream offset of sequence number `seq` in this direction, once it is synchronised.
    pub fn offset_of_seq(&self, seq: u32) -> Option<u64> {
        offset_of(self.sync?, SeqNumber(seq))
    }

    /// `Fin` was emitted for this direction.
    pub fn fin_sent(&self) -> bool {
        self.fin_sent
    }

    /// Starts tracking from `seg` if this is the first segment of the direction.
    fn sync_from(&mut self, seg: &Segment<'_>) -> Sync {
        if let Some(sync) = self.sync {
            return sync;
        }
        let seq = SeqNumber(seg.seq);
        let sync = if seg.flags.syn() {
            // RFC 9293 3.4: the SYN occupies the ISN; the first data byte is ISN + 1.
            Sync {
                isn: seq,
                next_seq: seq.add(1),
                next_off: 0,
            }
        } else {
            // Picked up mid-stream: deliver from the first segment seen, as if its
            // predecessor had been the SYN.
            Sync {
                isn: seq.sub(1),
                next_seq: seq,
                next_off: 0,
            }
        };
        self.sync = Some(sync);
        sync
    }

    /// Records the direction's first sequence number without taking data (a RST).
    pub fn observe(&mut self, seg: &Segment<'_>) {
        self.sync_from(seg);
    }

    /// Takes one segment of this direction: payload, bytes the capture cut off, FIN.
    // Once per segment: kept inlined into the table's `feed` (callgrind: about 1 % of the
    // report's instructions when it was not).
    #[inline]
    pub fn segment(
        &mut self,
        cx: &mut Ctx<'_>,
        seg: &Segment<'_>,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        let sync = self.sync_from(seg);
        let seq = SeqNumber(seg.seq);
        // RFC 9293 3.4: a SYN takes one sequence number before the data.
        let data_seq = if seg.flags.syn() { seq.add(1) } else { seq };
        let len = u64::try_from(seg.payload.len()).unwrap_or(u64::MAX);
        let span = len.saturating_add(u64::from(seg.missing));

        if seg.flags.fin() && self.fin.is_none() {
            // The FIN follows the data and the bytes cut off (RFC 9293 3.4). A FIN placed
            // before bytes already delivered is taken as "now".
            let fin_seq = data_seq.add_u64(span);
            let off = if fin_seq.before(sync.next_seq) {
                sync.next_off
            } else {
                offset_of(sync, fin_seq).unwrap_or(sync.next_off)
            };
            self.fin = Some(FinMark {
                off,
                ts: seg.ts,
                frame: seg.frame,
            });
        }

        if self.ignore {
            self.try_fin(cx, sink);
            return;
        }
        if self.fin_sent {
            // Everything up to the FIN was delivered; later bytes are copies or nonsense.
            cx.stats.retransmitted_bytes = cx.stats.retransmitted_bytes.saturating_add(len);
            return;
        }

        let diff = data_seq.diff(sync.next_seq);
        let mut bytes = seg.payload;
        let mut missing = u64::from(seg.missing);
        let start = if diff < 0 {
            // RFC 9293 3.10.7.4: bytes before RCV.NXT were already received; the first copy
            // won, this one is a retransmission.
            let behind = diff.unsigned_abs();
            let from_payload = behind.min(len);
            cx.stats.retransmitted_bytes =
                cx.stats.retransmitted_bytes.saturating_add(from_payload);
            bytes = tail(bytes, from_payload);
            missing = missing.saturating_sub(behind.saturating_sub(from_payload));
            sync.next_off
        } else {
            sync.next_off.saturating_add(diff.unsigned_abs())
        };
        self.take(cx, start, bytes, missing, seg.ts, seg.frame, sink);
        self.try_fin(cx, sink);
    }

    /// The peer acknowledged up to `ack` (RFC 9293 3.4): holes it acknowledged will never be
    /// retransmitted, they were lost by the capture. Delivered as gaps, then what follows.
    #[inline]
    pub fn peer_ack(
        &mut self,
        cx: &mut Ctx<'_>,
        ack: u32,
        ts: Timestamp,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if self.ignore {
            // No data to wait for: a FIN seen before the data was ignored goes out now.
            self.try_fin(cx, sink);
            return;
        }
        let Some(sync) = self.sync else { return };
        if self.fin_sent {
            return;
        }
        if !SeqNumber(ack).after(sync.next_seq) {
            // Nothing acknowledged beyond what was delivered.
            return;
        }
        let Some(ack_off) = offset_of(sync, SeqNumber(ack)) else {
            return;
        };
        loop {
            let next = self.next_off();
            match self.first_held() {
                Some(start) if start > next && ack_off >= start => {
                    self.gap(cx, start.saturating_sub(next), ts, sink);
                    self.release(cx, sink);
                }
                _ => break,
            }
        }
        if let Some(fin) = self.fin {
            let next = self.next_off();
            if self.held.is_empty() && fin.off > next && ack_off >= fin.off {
                self.gap(cx, fin.off.saturating_sub(next), ts, sink);
            }
        }
        self.try_fin(cx, sink);
    }

    /// Gives up on every hole: delivers what is held with gaps between, then the FIN if one
    /// was seen. Used when the connection ends.
    pub fn flush(
        &mut self,
        cx: &mut Ctx<'_>,
        ts: Timestamp,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if !self.ignore && !self.fin_sent {
            while let Some(start) = self.first_held() {
                let next = self.next_off();
                if start > next {
                    self.gap(cx, start.saturating_sub(next), ts, sink);
                }
                self.release(cx, sink);
            }
            if let Some(fin) = self.fin {
                let next = self.next_off();
                if fin.off > next {
                    self.gap(cx, fin.off.saturating_sub(next), ts, sink);
                }
            }
        }
        self.try_fin(cx, sink);
        self.drop_held(cx);
    }

    /// Stops holding and delivering data; frees what is held.
    pub fn ignore_data(&mut self, total_held: &mut usize) {
        self.ignore = true;
        *total_held = total_held.saturating_sub(self.held_bytes);
        self.held.clear();
        self.held_bytes = 0;
    }

    /// Frees what is held (the connection is closing).
    fn drop_held(&mut self, cx: &mut Ctx<'_>) {
        *cx.total_held = cx.total_held.saturating_sub(self.held_bytes);
        self.held.clear();
        self.held_bytes = 0;
    }

    fn next_off(&self) -> u64 {
        self.sync.map_or(0, |s| s.next_off)
    }

    fn first_held(&self) -> Option<u64> {
        self.held.first_key_value().map(|(&k, _)| k)
    }

    /// Takes bytes starting at offset `start` (not before `next`), followed by `missing`
    /// bytes the capture cut off.
    #[inline]
    #[allow(clippy::too_many_arguments)] // one segment, taken apart: cheaper than a struct
    fn take(
        &mut self,
        cx: &mut Ctx<'_>,
        start: u64,
        bytes: &[u8],
        missing: u64,
        ts: Timestamp,
        frame: u64,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        // Nothing after the FIN belongs to the stream (RFC 9293 3.10.7.4, "FIN bit").
        let limit = self.fin.map_or(u64::MAX, |f| f.off);
        let end = start.saturating_add(len).min(limit);
        let missing_end = start.saturating_add(len).saturating_add(missing).min(limit);
        let mut bytes = head(bytes, end.saturating_sub(start));
        let mut start = start;

        if start > self.next_off() && !bytes.is_empty() {
            match self.hold(cx, start, bytes, ts, frame) {
                HoldOutcome::Held => return,
                HoldOutcome::Refused(limit) => {
                    // A cap: give up on the holes before this segment, which then comes in
                    // order and needs no buffer.
                    cx.stats.buffer_limit_hits = cx.stats.buffer_limit_hits.saturating_add(1);
                    sink(StreamEvent::LimitHit {
                        conn: Some(cx.conn),
                        ts,
                        limit,
                    });
                    self.skip_to(cx, start, ts, sink);
                    // Held bytes released by the skip may cover the start of this segment.
                    let next = self.next_off();
                    if next > start {
                        let covered = next.saturating_sub(start);
                        let dropped = covered.min(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                        cx.stats.retransmitted_bytes =
                            cx.stats.retransmitted_bytes.saturating_add(dropped);
                        bytes = tail(bytes, covered);
                        start = next;
                    }
                }
            }
        }
        if start > self.next_off() {
            // Only bytes cut off by the capture, out of order: a hole until something fills it.
            return;
        }

        // In order: deliver straight from the segment, stopping where held bytes take over.
        let mut rest = bytes;
        while !rest.is_empty() {
            let next = self.next_off();
            let room = self
                .first_held()
                .map_or(u64::MAX, |h| h.saturating_sub(next));
            let (now, later) = split(rest, room);
            if !now.is_empty() {
                self.deliver(cx, now, ts, frame, sink);
            }
            let before = self.next_off();
            self.release(cx, sink);
            // Held bytes just delivered win over this segment's copy of them.
            let covered = self.next_off().saturating_sub(before);
            let dropped = covered.min(u64::try_from(later.len()).unwrap_or(u64::MAX));
            cx.stats.retransmitted_bytes = cx.stats.retransmitted_bytes.saturating_add(dropped);
            rest = tail(later, covered);
            if now.is_empty() && covered == 0 {
                // No progress is impossible (a held segment starts at `next` only until
                // released); stop rather than spin.
                break;
            }
        }

        // Bytes the capture cut off right after this payload: a gap, up to held bytes.
        let next = self.next_off();
        if missing_end > next {
            let upto = self
                .first_held()
                .map_or(missing_end, |h| h.min(missing_end));
            if upto > next {
                self.gap(cx, upto.saturating_sub(next), ts, sink);
                self.release(cx, sink);
            }
        }
    }

    /// Holds an out-of-order segment, keeping only bytes no held segment has (first seen
    /// wins). A segment over a cap is refused whole and changes nothing.
    fn hold(
        &mut self,
        cx: &mut Ctx<'_>,
        start: u64,
        bytes: &[u8],
        ts: Timestamp,
        frame: u64,
    ) -> HoldOutcome {
        cx.stats.out_of_order_segments = cx.stats.out_of_order_segments.saturating_add(1);
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let end = start.saturating_add(len);
        let pieces = self.uncovered(start, end);
        let new_bytes: u64 = pieces.iter().map(|&(s, e)| e.saturating_sub(s)).sum();
        cx.stats.retransmitted_bytes = cx
            .stats
            .retransmitted_bytes
            .saturating_add(len.saturating_sub(new_bytes));
        if new_bytes == 0 {
            return HoldOutcome::Held;
        }
        let new = usize::try_from(new_bytes).unwrap_or(usize::MAX);
        let conn_after = self.held_bytes.saturating_add(new);
        let total_after = cx.total_held.saturating_add(new);
        if conn_after > cx.config.max_buffered_per_conn
            || self.held.len().saturating_add(pieces.len()) > MAX_HELD_SEGMENTS
        {
            return HoldOutcome::Refused(Limit::ConnectionBuffer);
        }
        if total_after > cx.config.max_buffered_total {
            return HoldOutcome::Refused(Limit::TotalBuffer);
        }
        for (s, e) in pieces {
            let from = s.saturating_sub(start);
            let piece = head(tail(bytes, from), e.saturating_sub(s));
            self.held.insert(
                s,
                Held {
                    data: piece.to_vec(),
                    ts,
                    frame,
                },
            );
        }
        self.held_bytes = conn_after;
        *cx.total_held = total_after;
        let peak = u64::try_from(total_after).unwrap_or(u64::MAX);
        cx.stats.peak_buffered_bytes = cx.stats.peak_buffered_bytes.max(peak);
        HoldOutcome::Held
    }

    /// The parts of `start..end` that no held segment covers, in order.
    fn uncovered(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut pieces = Vec::new();
        let mut cursor = start;
        // The held segment starting at or before `start` may reach into the range.
        let before = self.held.range(..=start).next_back();
        let inside = self.held.range(start.saturating_add(1)..end);
        for (&s, h) in before.into_iter().chain(inside) {
            let e = s.saturating_add(u64::try_from(h.data.len()).unwrap_or(u64::MAX));
            if s > cursor {
                pieces.push((cursor, s.min(end)));
            }
            cursor = cursor.max(e);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        pieces
    }

    /// Delivers held segments, in order, while they start at `next`.
    fn release(&mut self, cx: &mut Ctx<'_>, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        loop {
            let next = self.next_off();
            let Some(entry) = self.held.first_entry() else {
                break;
            };
            let start = *entry.key();
            if start > next {
                break;
            }
            let held = entry.remove();
            self.held_bytes = self.held_bytes.saturating_sub(held.data.len());
            *cx.total_held = cx.total_held.saturating_sub(held.data.len());
            let covered = next.saturating_sub(start);
            let len = u64::try_from(held.data.len()).unwrap_or(u64::MAX);
            cx.stats.retransmitted_bytes = cx
                .stats
                .retransmitted_bytes
                .saturating_add(covered.min(len));
            let bytes = tail(&held.data, covered);
            if !bytes.is_empty() {
                self.deliver(cx, bytes, held.ts, held.frame, sink);
            }
        }
    }

    /// Gives up on the holes before offset `off`: delivers held segments starting before it,
    /// with gaps between, then a gap up to `off`.
    fn skip_to(
        &mut self,
        cx: &mut Ctx<'_>,
        off: u64,
        ts: Timestamp,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        while let Some(start) = self.first_held() {
            if start >= off {
                break;
            }
            let next = self.next_off();
            if start > next {
                self.gap(cx, start.saturating_sub(next), ts, sink);
            }
            self.release(cx, sink);
        }
        let next = self.next_off();
        if off > next {
            self.gap(cx, off.saturating_sub(next), ts, sink);
        }
        self.release(cx, sink);
    }

    fn deliver(
        &mut self,
        cx: &mut Ctx<'_>,
        bytes: &[u8],
        ts: Timestamp,
        frame: u64,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        let Some(sync) = self.sync.as_mut() else {
            return;
        };
        let n = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        sink(StreamEvent::Data {
            conn: cx.conn,
            dir: cx.dir,
            ts,
            frame,
            offset: sync.next_off,
            bytes,
        });
        sync.next_off = sync.next_off.saturating_add(n);
        sync.next_seq = sync.next_seq.add_u64(n);
        cx.stats.bytes_delivered = cx.stats.bytes_delivered.saturating_add(n);
    }

    fn gap(
        &mut self,
        cx: &mut Ctx<'_>,
        len: u64,
        ts: Timestamp,
        sink: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        let Some(sync) = self.sync.as_mut() else {
            return;
        };
        if len == 0 {
            return;
        }
        sink(StreamEvent::Gap {
            conn: cx.conn,
            dir: cx.dir,
            ts,
            offset: sync.next_off,
            len,
        });
        sync.next_off = sync.next_off.saturating_add(len);
        sync.next_seq = sync.next_seq.add_u64(len);
        cx.stats.gaps = cx.stats.gaps.saturating_add(1);
        cx.stats.gap_bytes = cx.stats.gap_bytes.saturating_add(len);
    }

    /// Emits the FIN once everything before it was delivered (or at once when data is
    /// ignored).
    fn try_fin(&mut self, cx: &mut Ctx<'_>, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        let Some(fin) = self.fin else { return };
        if self.fin_sent || (!self.ignore && self.next_off() < fin.off) {
            return;
        }
        self.fin_sent = true;
        sink(StreamEvent::Fin {
            conn: cx.conn,
            dir: cx.dir,
            ts: fin.ts,
            frame: fin.frame,
        });
        // Nothing after the FIN is part of the stream.
        self.drop_held(cx);
    }
}

/// Offset of `seq` in a direction synchronised as `sync`; `None` before the start.
fn offset_of(sync: Sync, seq: SeqNumber) -> Option<u64> {
    let diff = seq.diff(sync.next_seq);
    if diff >= 0 {
        Some(sync.next_off.saturating_add(diff.unsigned_abs()))
    } else {
        sync.next_off.checked_sub(diff.unsigned_abs())
    }
}

/// `bytes` without its first `n` bytes (empty when shorter).
fn tail(bytes: &[u8], n: u64) -> &[u8] {
    usize::try_from(n)
        .ok()
        .and_then(|n| bytes.get(n..))
        .unwrap_or(&[])
}

/// The first `n` bytes of `bytes` (all of them when shorter).
fn head(bytes: &[u8], n: u64) -> &[u8] {
    match usize::try_from(n) {
        Ok(n) if n < bytes.len() => bytes.get(..n).unwrap_or(bytes),
        _ => bytes,
    }
}

/// `bytes` split after `n` bytes (all in the first part when shorter).
fn split(bytes: &[u8], n: u64) -> (&[u8], &[u8]) {
    match usize::try_from(n) {
        Ok(n) if n < bytes.len() => bytes.split_at_checked(n).unwrap_or((bytes, &[])),
        _ => (bytes, &[]),
    }
}
