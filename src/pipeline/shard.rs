//! Flow sharding of stages 2 to 5 (`report --threads`): each of N fronts reads every frame,
//! but reassembles and frames only the TCP connections whose 4-tuple hashes to it, so a
//! connection stays on one worker. A merge puts their events back in the order one front
//! would have made them, numbers the connections as one table would, and hands them to the
//! one [`Model`](super::Model): the outputs are the same byte for byte.
//!
//! The order is a [`Key`] on every event. A frame is one unit of work, and only the shard
//! owning its connection has events for it. The idle sweep every shard makes before the same
//! frame (they all see every frame's time) and the end of input close connections one unit
//! each, keyed as one table orders them: by `(index time, id)` and by id. Connections are
//! named by the frame that opened them ([`TcpTable::number_by_frame`](crate::tcp::TcpTable)),
//! which orders them as the count of one table does; the merge renumbers them.
//!
//! The counters add up, but the peaks (open connections, out-of-order bytes, HTTP bytes
//! held) are the most held at once over all shards. Each shard therefore restarts its peaks
//! at every unit and reports its gauges when they moved; the merge adds them up in order,
//! which gives the peak of the sum exactly.
//!
//! File workers ([`Merger::files`]) read several captures, each whole on one worker: every
//! key begins with its capture, a worker keys the end of a capture after everything of it,
//! and the merge tells the model where one capture ends and the next begins as one front
//! would.
//!
//! The caps on what a front holds over all its connections (open connections and closed
//! 4-tuples, out-of-order bytes, HTTP bytes) are divided among the shards ([`Caps`]), so that
//! the shards together hold at most what one front would: memory is bounded for the process,
//! not per thread. A shard that stays under its shares makes what one front would (the
//! shares add up to at most the cap, so one front would not have reached it either). Where a
//! shard hit its share, or the sum went over a cap (a share rounded up to 1), the merge says
//! so in a warning, as the outputs may then differ from one thread's: the same caps are hit,
//! on other connections.

use std::hash::BuildHasher as _;

use super::{Analyzer, Config, ConnId, Front, ModelEvent, Output, Stats};
use crate::capture::{Frame, Timestamp};
use crate::http::Anomaly;
use crate::map::Map as HashMap;
use crate::net::{FlowKey, Segment};
use crate::tcp::Limit;

/// Where an event goes among every front's: units in capture order, then by the order one
/// connection table closes connections in a sweep and at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The capture ([`Frame::input`]): flow shards read the captures in turn, so theirs only
    /// grows; file workers each read some captures whole, and the merge puts them in order.
    input: u32,
    /// The frame (counted over all the front's captures) before which (a capture's end, a
    /// sweep) or in which (segment) the unit happens; past every frame, a capture a file
    /// worker read to its end ending.
    frame: u64,
    /// A capture's end, sweep, segment, end of input, and the model's `Finish`.
    phase: u8,
    /// The closed connection's index time (sweep).
    at: i64,
    /// The closed connection (sweep, end of input).
    conn: ConnId,
}

impl Key {
    /// The `Finish` after everything: every shard sends one, the merge passes one on.
    pub const END: Key = Key {
        input: u32::MAX,
        frame: u64::MAX,
        phase: 4,
        at: 0,
        conn: 0,
    };

    /// The capture before the frame ends: its connections closed by id, then the model told.
    pub(super) fn boundary(input: u32, frame: u64, conn: ConnId) -> Key {
        Key {
            input,
            frame,
            phase: 0,
            at: 0,
            conn,
        }
    }

    /// A file worker read capture `input` to its end: its connections closed by id, then
    /// the model told, after everything else of the capture.
    pub(super) fn file_end(input: u32, conn: ConnId) -> Key {
        Key::boundary(input, u64::MAX, conn)
    }

    /// Below everything of capture `input`: what a file worker can still make once it
    /// starts that capture.
    pub fn file_start(input: u32) -> Key {
        Key::boundary(input, 0, 0)
    }

    pub(super) fn sweep(input: u32, frame: u64, at: i64, conn: ConnId) -> Key {
        Key {
            input,
            frame,
            phase: 1,
            at,
            conn,
        }
    }

    pub(super) fn packet(input: u32, frame: u64) -> Key {
        Key {
            input,
            frame,
            phase: 2,
            at: 0,
            conn: 0,
        }
    }

    pub(super) fn finish(conn: ConnId) -> Key {
        Key {
            input: u32::MAX,
            frame: u64::MAX,
            phase: 3,
            at: 0,
            conn,
        }
    }

    /// Below every key of the frames after the `seq`th, the front being in capture `input`:
    /// what a front can still make once given that frame.
    pub fn after(input: u32, seq: u64) -> Key {
        Key::boundary(input, seq.saturating_add(1), 0)
    }

    /// The capture the unit is in; `None` for the end of input.
    fn capture(&self) -> Option<u32> {
        (self.input != u32::MAX).then_some(self.input)
    }
}

/// What a shard hands on.
#[derive(Debug)]
pub enum Item {
    Event(ModelEvent),
    Gauges(Gauges),
}

/// A shard's open connections, out-of-order bytes, HTTP bytes held and closed 4-tuples, each
/// as (at the end of the unit, at most during it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges(pub(super) [(u64, u64); 4]);

impl Gauges {
    pub(super) fn moved_since(&self, last: &Gauges) -> bool {
        self.0
            .iter()
            .zip(&last.0)
            .any(|(&(now, peak), &(then, _))| now != then || peak > now)
    }
}

/// A front's share of the connections.
#[derive(Debug)]
pub(super) struct Shard {
    index: u64,
    count: u64,
    /// Fixed, so that every shard sends a connection to the same one.
    hasher: foldhash::fast::FixedState,
    /// The gauges last handed on.
    pub(super) gauges: Gauges,
}

impl Shard {
    /// Whether this shard reassembles `seg`'s connection. Both directions share a key.
    pub(super) fn owns(&self, seg: &Segment<'_>) -> bool {
        self.owns_flow(seg.src, seg.dst)
    }

    /// Whether this shard takes the packets between these two sockets (UDP too).
    pub(super) fn owns_flow(&self, src: std::net::SocketAddr, dst: std::net::SocketAddr) -> bool {
        if self.count == 1 {
            return true;
        }
        let (key, _) = FlowKey::of(src, dst);
        self.hasher.hash_one(key) % self.count == self.index
    }
}

impl Front {
    /// Makes this front shard `index` of `count` (`index < count`).
    pub fn into_shard(mut self, index: usize, count: usize) -> Front {
        let as_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        self.tcp.number_by_frame();
        self.shard = Some(Box::new(Shard {
            index: as_u64(index),
            count: as_u64(count.max(1)),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_f10e),
            gauges: Gauges::default(),
        }));
        self
    }

    /// Makes this front a file worker: it reads whole captures, every connection in them
    /// its own, and hands on its events keyed by capture for the merge to put the captures
    /// in order ([`Merger::files`]).
    pub fn into_file_worker(self) -> Front {
        self.into_shard(0, 1)
    }

    /// A file worker starts reading capture `input`.
    pub fn begin_file(&mut self, input: u32) {
        self.input = input;
    }

    /// A file worker read its capture to the end: everything of it ends, keyed after all of
    /// it. Returns the key log's counters as they stood with the capture's own
    /// keys (one front counts the last capture's keys: it does not end that capture).
    /// `items` are those made before, not yet sent; batches of about `size` go to `send` as
    /// they fill.
    pub fn end_file(
        &mut self,
        items: &mut Vec<(Key, Item)>,
        size: usize,
        send: &mut dyn FnMut(Batch),
    ) -> crate::tls::KeyLogStats {
        let keys = self.tls.key_stats();
        let input = self.input;
        self.end_capture(
            &|conn| Key::file_end(input, conn),
            input.saturating_add(1),
            &mut super::Out::Batched {
                items,
                size: size.max(1),
                send,
            },
        );
        keys
    }

    /// The lowest key this front can make after what it made.
    pub fn through(&self) -> Key {
        Key::after(self.input, self.seq)
    }

    /// Feeds one frame to a shard; what it makes goes to `out`, keyed.
    pub fn push_sharded(&mut self, frame: &Frame<'_>, out: &mut Vec<(Key, Item)>) {
        self.push_keyed(frame, &mut super::Out::Keyed(out));
    }

    /// The input ended (a shard): what it makes goes to `send`, in batches of about `size`
    /// items (each connection still open closes in one unit of work), the last one through
    /// [`Key::END`]. `items` are those made before, not yet sent.
    pub fn finish_sharded(
        &mut self,
        mut items: Vec<(Key, Item)>,
        size: usize,
        send: &mut dyn FnMut(Batch),
    ) {
        self.finish_keyed(&mut super::Out::Batched {
            items: &mut items,
            size: size.max(1),
            send,
        });
        send(Batch {
            items,
            through: Key::END,
        });
    }
}

/// A shard's items, in key order, and the lowest key it can make after them.
#[derive(Debug)]
pub struct Batch {
    pub items: Vec<(Key, Item)>,
    pub through: Key,
}

impl Batch {
    /// Bytes it holds, roughly: its slots, and the exchanges' and legs' heap (the rest are
    /// small and fixed).
    pub fn weight(&self) -> usize {
        let slots = self
            .items
            .capacity()
            .saturating_mul(std::mem::size_of::<(Key, Item)>());
        self.items.iter().fold(slots, |n, (_, item)| {
            let heap = match item {
                Item::Event(ModelEvent::Exchange(x, prep)) => {
                    let leg = match prep {
                        super::LegPrep::Made(Some(_)) => {
                            std::mem::size_of::<crate::handshake::Leg>()
                        }
                        _ => 0,
                    };
                    x.weight().saturating_add(leg)
                }
                Item::Event(ModelEvent::Wire(_)) => std::mem::size_of::<crate::kdc::WireMsg>(),
                _ => 0,
            };
            n.saturating_add(heap)
        })
    }
}

/// The caps on what the fronts hold over all their connections, whole, and the shards they
/// are divided among.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub connections: u64,
    pub reorder_bytes: u64,
    pub http_bytes: u64,
    pub tls_bytes: u64,
    /// 1: one front has the caps whole.
    pub shards: u64,
}

impl Caps {
    /// The caps of `config`, divided among `shards`.
    pub fn of(config: &Config, shards: usize) -> Caps {
        let as_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Caps {
            connections: as_u64(config.tcp.max_connections.max(1)),
            reorder_bytes: as_u64(config.tcp.max_buffered_total),
            http_bytes: as_u64(config.http.max_buffered_total),
            tls_bytes: as_u64(config.tls.max_buffered_total),
            shards: as_u64(shards.max(1)),
        }
    }

    /// A shard's share of `cap`: an equal part, rounded down, and at least 1.
    pub fn share(&self, cap: u64) -> usize {
        usize::try_from(cap / self.shards.max(1))
            .unwrap_or(usize::MAX)
            .max(1)
    }
}

/// The caps whose share a shard hit, in the order of [`Merger::warnings`].
const CONNECTIONS: usize = 0;
const REORDER_BYTES: usize = 1;
const HTTP_BYTES: usize = 2;

/// What [`Merger::next_event`] has.
#[derive(Debug)]
pub enum Next {
    Event(ModelEvent),
    /// Nothing can go on before shard `n`'s next batch.
    Need(usize),
    /// Every shard ended.
    Done,
}

#[derive(Debug, Default)]
struct Queue {
    /// The batch being taken (the next one is asked for once it is empty).
    items: std::vec::IntoIter<(Key, Item)>,
    through: Option<Key>,
    /// The shard ended (its last batch came, or it is gone).
    done: bool,
    gauges: Gauges,
}

/// Merges the shards' batches into the one order, numbering connections as one table does.
#[derive(Debug)]
pub struct Merger {
    queues: Vec<Queue>,
    /// Shard names (the opening frame) to numbers, for the connections open.
    ids: HashMap<ConnId, ConnId>,
    next_id: ConnId,
    /// Over all shards: now, and at most.
    sum: [u64; 4],
    peak: [u64; 4],
    finish: Option<ModelEvent>,
    /// The key of the last capture's end passed on.
    ended: Option<Key>,
    caps: Caps,
    /// A shard hit its share of connections, reorder-bytes, http-bytes.
    share_hit: [bool; 3],
    /// The fronts are file workers ([`Merger::files`]).
    files: Option<Files>,
}

/// Where the model is among the captures file workers read.
#[derive(Debug, Default)]
struct Files {
    /// The capture the model is in.
    current: u32,
    /// The end of `current` a worker sent, held until what follows it is known: the next
    /// capture, or the end of input.
    ended: Option<Timestamp>,
    /// The worker that read the last capture ended.
    last_worker: Option<usize>,
}

impl Merger {
    pub fn new(shards: usize, caps: Caps) -> Merger {
        Merger {
            queues: (0..shards.max(1)).map(|_| Queue::default()).collect(),
            ids: HashMap::default(),
            next_id: 0,
            sum: [0; 4],
            peak: [0; 4],
            finish: None,
            ended: None,
            caps,
            share_hit: [false; 3],
            files: None,
        }
    }

    /// A merge of file workers: each reads some captures whole (not every capture, as a
    /// flow shard does) and keys what it makes by capture ([`Front::end_file`]). The merge
    /// tells the model the captures' ends as one front would: a capture ends where the next
    /// one that has frames begins, and the last one at the end of input.
    pub fn files(workers: usize, caps: Caps) -> Merger {
        Merger {
            files: Some(Files::default()),
            ..Merger::new(workers, caps)
        }
    }

    /// Shard `n`'s next batch.
    pub fn add(&mut self, n: usize, batch: Batch) {
        if let Some(q) = self.queues.get_mut(n) {
            if q.items.len() == 0 {
                q.items = batch.items.into_iter();
            } else {
                let mut items: Vec<_> = std::mem::take(&mut q.items).collect();
                items.extend(batch.items);
                q.items = items.into_iter();
            }
            q.through = Some(batch.through);
        }
    }

    /// Shard `n` will send nothing more.
    pub fn end(&mut self, n: usize) {
        if let Some(q) = self.queues.get_mut(n) {
            q.done = true;
        }
    }

    /// The next event in the order of one front, if every shard has said enough to know it.
    pub fn next_event(&mut self) -> Next {
        loop {
            let mut first: Option<(usize, Key)> = None;
            for (i, q) in self.queues.iter().enumerate() {
                if let Some(&(k, _)) = q.items.as_slice().first() {
                    if first.is_none_or(|(_, f)| k < f) {
                        first = Some((i, k));
                    }
                }
            }
            // A shard with nothing queued may still make something before `first`.
            for (i, q) in self.queues.iter().enumerate() {
                if q.items.len() == 0
                    && !q.done
                    && first.is_none_or(|(_, f)| q.through.is_none_or(|t| t <= f))
                {
                    return Next::Need(i);
                }
            }
            let Some((i, first)) = first else {
                let ended = self.files.as_mut().and_then(|f| f.ended.take());
                return match self.finish.take() {
                    Some(ModelEvent::Finish(now)) => {
                        Next::Event(ModelEvent::Finish(ended.unwrap_or(now)))
                    }
                    Some(e) => Next::Event(e),
                    None => Next::Done,
                };
            };
            // A file worker's first word of a capture: the one before ends here.
            if let (Some(f), Some(c)) = (self.files.as_mut(), first.capture()) {
                if c != f.current {
                    f.current = c;
                    let now = f.ended.take().unwrap_or_default();
                    return Next::Event(ModelEvent::EndInput { now, next: c });
                }
            }
            let Some((key, item)) = self.queues.get_mut(i).and_then(|q| q.items.next()) else {
                continue;
            };
            match item {
                Item::Gauges(g) => self.gauges(i, g),
                Item::Event(ModelEvent::Finish(now)) => {
                    self.finish.get_or_insert(ModelEvent::Finish(now));
                }
                Item::Event(ModelEvent::EndInput { now, .. }) if self.files.is_some() => {
                    if let Some(f) = self.files.as_mut() {
                        f.ended = Some(now);
                        f.last_worker = Some(i);
                    }
                }
                // Every shard ends each capture; the model is told once.
                Item::Event(ModelEvent::EndInput { .. }) if self.ended == Some(key) => {}
                Item::Event(e @ ModelEvent::EndInput { .. }) => {
                    self.ended = Some(key);
                    return Next::Event(e);
                }
                Item::Event(mut e) => {
                    self.renumber(&mut e);
                    return Next::Event(e);
                }
            }
        }
    }

    /// Adds shard `i`'s gauges to the sum: its peak in the unit stood over the others' held.
    fn gauges(&mut self, i: usize, g: Gauges) {
        let Some(q) = self.queues.get_mut(i) else {
            return;
        };
        for (j, (&(now, peak), &(before, _))) in g.0.iter().zip(&q.gauges.0).enumerate() {
            if let (Some(sum), Some(max)) = (self.sum.get_mut(j), self.peak.get_mut(j)) {
                let others = sum.saturating_sub(before);
                *max = (*max).max(others.saturating_add(peak));
                *sum = others.saturating_add(now);
            }
        }
        q.gauges = g;
        // The closed 4-tuples a shard remembers are capped by its share of connections: at
        // the share, it forgets some early (nothing else says so).
        let [_, _, _, (_, closed)] = g.0;
        let share = u64::try_from(self.caps.share(self.caps.connections)).unwrap_or(u64::MAX);
        if self.queues.len() > 1 && closed >= share {
            self.share_hit[CONNECTIONS] = true;
        }
    }

    /// Renames the event's connection from the shard's name to one table's number (one
    /// front numbers them itself).
    fn renumber(&mut self, e: &mut ModelEvent) {
        if self.queues.len() < 2 {
            return;
        }
        self.note_share_hit(e);
        if let ModelEvent::ConnOpen { event, .. } = e {
            self.ids.insert(event.conn, self.next_id);
            self.next_id = self.next_id.saturating_add(1);
        }
        let ids = &mut self.ids;
        let map = |c: &mut ConnId| {
            if let Some(&n) = ids.get(c) {
                *c = n;
            }
        };
        match e {
            ModelEvent::ConnOpen { event, .. } | ModelEvent::Conn(event) => map(&mut event.conn),
            ModelEvent::Exchange(x, prep) => {
                map(&mut x.conn);
                if let super::LegPrep::Made(Some(leg)) = prep {
                    map(&mut leg.conn);
                }
            }
            ModelEvent::ConnClosed { conn, .. } => {
                if let Some(n) = ids.remove(conn) {
                    *conn = n;
                }
            }
            ModelEvent::Wire(m) => {
                if let Some(c) = m.conn.as_mut() {
                    map(c);
                }
            }
            ModelEvent::Output(o) => match o {
                Output::Connection(c) => map(&mut c.id),
                Output::HttpAnomaly { conn, .. } => map(conn),
                Output::Limit { conn, .. } => {
                    if let Some(c) = conn {
                        map(c)
                    }
                }
                Output::Exchange(..)
                | Output::Handshake(..)
                | Output::Finding(..)
                | Output::ServerLogs(..)
                | Output::Wire(..) => {}
            },
            ModelEvent::Sweep(_) | ModelEvent::Finish(_) | ModelEvent::EndInput { .. } => {}
        }
    }

    /// Notes a cap that a shard hit its share of (eviction, a full out-of-order budget, a
    /// full HTTP budget): the outputs may differ from one front's from there on.
    fn note_share_hit(&mut self, e: &ModelEvent) {
        let hit = match e {
            ModelEvent::Output(Output::Limit { limit, .. }) => match limit {
                Limit::OpenConnections => Some(CONNECTIONS),
                Limit::TotalBuffer => Some(REORDER_BYTES),
                Limit::ConnectionBuffer => None,
            },
            ModelEvent::Output(Output::HttpAnomaly {
                anomaly: Anomaly::OverBudget { .. },
                ..
            }) => Some(HTTP_BYTES),
            _ => None,
        };
        if let Some(flag) = hit.and_then(|i| self.share_hit.get_mut(i)) {
            *flag = true;
        }
    }

    /// The shards' counters as one front's: what every shard counted alike (frames, the
    /// network layer) from the first, the connections' counters added up, the peaks of the
    /// sum. File workers read each frame once: what they counted of the frames adds up too.
    pub fn stats(&self, shards: &[Stats]) -> Stats {
        let Some(first) = shards.first() else {
            return Stats::default();
        };
        if shards.len() == 1 {
            return *first;
        }
        let mut st = match &self.files {
            Some(f) => read_by_files(shards, f.last_worker),
            None => *first,
        };
        let (mut tcp, mut http) = (crate::tcp::TcpStats::default(), super::HttpStats::default());
        let mut tls = crate::tls::TlsStats::default();
        let mut kdc = crate::kdc::KdcStats::default();
        for s in shards {
            kdc = kdc.plus(&s.kdc);
            tcp = add_tcp(tcp, &s.tcp);
            http = add_http(http, &s.http);
            tls = tls.plus(&s.tls);
        }
        let [open, reorder, held, _] = self.peak;
        tcp.peak_open_connections = open;
        tcp.peak_buffered_bytes = reorder;
        http.peak_buffered_bytes = held;
        http.buffered_bytes = self.sum[2];
        st.tcp = tcp;
        st.http = http;
        // Every shard reads the same key logs: the first's key counters are everyone's (file
        // workers: see `read_by_files`).
        st.tls = tls;
        st.kdc = kdc;
        st
    }

    /// Where a shard hit its share of a cap, or the sum went over the cap: one front would
    /// have kept or dropped other connections' state there, so the outputs may differ from
    /// one thread's (with the same caps hit).
    pub fn warnings(&self) -> Vec<String> {
        if self.queues.len() < 2 {
            return Vec::new();
        }
        let [open, reorder, held, closed] = self.peak;
        let c = self.caps;
        let over = [
            ("connections", open.max(closed), c.connections),
            ("reorder-bytes", reorder, c.reorder_bytes),
            ("http-bytes", held, c.http_bytes),
        ];
        over.iter()
            .zip(self.share_hit)
            .filter_map(|(&(name, peak, cap), share_hit)| {
                if share_hit {
                    Some(format!(
                        "a thread hit its share of the cap {name}={cap} ({} for each of {} \
                         threads reading connections); the report may differ from \
                         --threads 1's, with the same caps hit",
                        c.share(cap),
                        c.shards
                    ))
                } else if peak > cap {
                    Some(format!(
                        "the threads held {peak} against the cap {name}={cap} that one thread \
                         keeps to; the report may differ from --threads 1's"
                    ))
                } else {
                    None
                }
            })
            .collect()
    }
}

/// Hands every frame of an input to its argument, in order, each time it is called.
pub type Frames<'a> = dyn Fn(&mut dyn FnMut(&Frame<'_>)) + 'a;

/// What [`run_in_turn`] made.
#[derive(Debug)]
pub struct InTurn {
    pub outputs: Vec<Output>,
    pub stats: Stats,
    pub warnings: Vec<String>,
}

/// `n` shards over the same frames, one after another on this thread, merged from batches of
/// `batch` items (so that the merge waits on one shard, then another): what the threads of
/// `report --threads` make, without threads, for tests and fuzzing.
pub fn run_in_turn(config: Config, n: usize, batch: usize, frames: &Frames<'_>) -> InTurn {
    let (fronts, mut model, caps) = Analyzer::new(config).into_shards(n);
    let mut batches = Vec::new();
    let mut stats = Vec::new();
    for mut front in fronts {
        let mut items = Vec::new();
        frames(&mut |f| front.push_sharded(f, &mut items));
        let mut ended = Vec::new();
        front.finish_sharded(items, batch, &mut |b| ended.extend(b.items));
        let items = ended;
        stats.push(front.stats());
        // Each batch says that the next key is at least the first of the next batch.
        let mut cut = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<_> = items.by_ref().take(batch.max(1)).collect();
            let through = items.peek().map_or(Key::END, |(k, _)| *k);
            cut.push(Batch {
                items: chunk,
                through,
            });
        }
        batches.push(cut.into_iter());
    }
    let mut merger = Merger::new(batches.len(), caps);
    let mut outputs = Vec::new();
    loop {
        match merger.next_event() {
            Next::Event(e) => model.apply(e, &mut |o| outputs.push(o)),
            Next::Need(i) => match batches.get_mut(i).and_then(Iterator::next) {
                Some(b) => merger.add(i, b),
                None => merger.end(i),
            },
            Next::Done => break,
        }
    }
    InTurn {
        outputs,
        stats: model.stats(merger.stats(&stats)),
        warnings: merger.warnings(),
    }
}

/// What file workers counted of the frames they read, as one front reading every file in
/// turn would have: the frames add up, the times span them all, and the first frame whose
/// time went backwards is the earliest capture's. The key log files are read by every
/// worker; one front counts with them the keys of the last capture's Decryption Secrets
/// Blocks, which the worker that read `last` reports.
fn read_by_files(workers: &[Stats], last: Option<usize>) -> Stats {
    let mut st = Stats {
        tls_keys: workers
            .get(last.unwrap_or(0))
            .map(|w| w.tls_keys)
            .unwrap_or_default(),
        ..Stats::default()
    };
    let mut backwards: Option<(u32, u64)> = None;
    for w in workers {
        st.packets = st.packets.saturating_add(w.packets);
        st.bytes = st.bytes.saturating_add(w.bytes);
        st.first = match (st.first, w.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        st.last = st.last.max(w.last);
        st.time_went_backwards = st.time_went_backwards.saturating_add(w.time_went_backwards);
        if let (Some(input), Some(frame)) = (
            w.first_time_went_backwards_input,
            w.first_time_went_backwards,
        ) {
            if backwards.is_none_or(|(i, _)| input < i) {
                backwards = Some((input, frame));
            }
        }
        st.net = add_net(st.net, &w.net);
    }
    st.first_time_went_backwards_input = backwards.map(|(i, _)| i);
    st.first_time_went_backwards = backwards.map(|(_, f)| f);
    st
}

fn add_net(a: crate::net::NetStats, b: &crate::net::NetStats) -> crate::net::NetStats {
    let s = |x: u64, y: u64| x.saturating_add(y);
    crate::net::NetStats {
        frames: s(a.frames, b.frames),
        tcp_segments: s(a.tcp_segments, b.tcp_segments),
        unknown_link: s(a.unknown_link, b.unknown_link),
        first_unknown_link: match (a.first_unknown_link, b.first_unknown_link) {
            (Some(x), Some(y)) => Some(if y.input < x.input { y } else { x }),
            (x, y) => x.or(y),
        },
        not_ip: s(a.not_ip, b.not_ip),
        not_tcp: s(a.not_tcp, b.not_tcp),
        kdc_dns_datagrams: s(a.kdc_dns_datagrams, b.kdc_dns_datagrams),
        icmp_unreachable: s(a.icmp_unreachable, b.icmp_unreachable),
        icmp_kdc_dns: s(a.icmp_kdc_dns, b.icmp_kdc_dns),
        icmp_malformed: s(a.icmp_malformed, b.icmp_malformed),
        malformed: s(a.malformed, b.malformed),
        truncated_segments: s(a.truncated_segments, b.truncated_segments),
        ipv4_fragments: s(a.ipv4_fragments, b.ipv4_fragments),
        ipv4_reassembled: s(a.ipv4_reassembled, b.ipv4_reassembled),
        ipv4_fragments_dropped: s(a.ipv4_fragments_dropped, b.ipv4_fragments_dropped),
        ipv6_fragments: s(a.ipv6_fragments, b.ipv6_fragments),
        tunnelled: s(a.tunnelled, b.tunnelled),
    }
}

fn add_tcp(a: crate::tcp::TcpStats, b: &crate::tcp::TcpStats) -> crate::tcp::TcpStats {
    let s = |x: u64, y: u64| x.saturating_add(y);
    crate::tcp::TcpStats {
        segments: s(a.segments, b.segments),
        connections: s(a.connections, b.connections),
        bytes_delivered: s(a.bytes_delivered, b.bytes_delivered),
        retransmitted_bytes: s(a.retransmitted_bytes, b.retransmitted_bytes),
        out_of_order_segments: s(a.out_of_order_segments, b.out_of_order_segments),
        gaps: s(a.gaps, b.gaps),
        gap_bytes: s(a.gap_bytes, b.gap_bytes),
        timeouts: s(a.timeouts, b.timeouts),
        evicted_connections: s(a.evicted_connections, b.evicted_connections),
        forgotten_closed: s(a.forgotten_closed, b.forgotten_closed),
        buffer_limit_hits: s(a.buffer_limit_hits, b.buffer_limit_hits),
        peak_open_connections: 0,
        peak_buffered_bytes: 0,
    }
}

fn add_http(a: super::HttpStats, b: &super::HttpStats) -> super::HttpStats {
    let s = |x: u64, y: u64| x.saturating_add(y);
    super::HttpStats {
        http_connections: s(a.http_connections, b.http_connections),
        other_connections: s(a.other_connections, b.other_connections),
        requests: s(a.requests, b.requests),
        responses: s(a.responses, b.responses),
        exchanges: s(a.exchanges, b.exchanges),
        malformed_heads: s(a.malformed_heads, b.malformed_heads),
        head_cap_hits: s(a.head_cap_hits, b.head_cap_hits),
        pending_cap_hits: s(a.pending_cap_hits, b.pending_cap_hits),
        interim_cap_hits: s(a.interim_cap_hits, b.interim_cap_hits),
        budget_hits: s(a.budget_hits, b.budget_hits),
        buffered_bytes: 0,
        peak_buffered_bytes: 0,
        gaps: s(a.gaps, b.gaps),
        resyncs: s(a.resyncs, b.resyncs),
        tunnels: s(a.tunnels, b.tunnels),
        body_bytes: s(a.body_bytes, b.body_bytes),
        h2: add_h2(a.h2, &b.h2),
    }
}

fn add_h2(a: crate::http::H2Stats, b: &crate::http::H2Stats) -> crate::http::H2Stats {
    let s = |x: u64, y: u64| x.saturating_add(y);
    crate::http::H2Stats {
        connections: s(a.connections, b.connections),
        upgrades: s(a.upgrades, b.upgrades),
        frames: s(a.frames, b.frames),
        streams: s(a.streams, b.streams),
        resets: s(a.resets, b.resets),
        goaways: s(a.goaways, b.goaways),
        malformed_frames: s(a.malformed_frames, b.malformed_frames),
        hpack_errors: s(a.hpack_errors, b.hpack_errors),
        hpack_table_cap_hits: s(a.hpack_table_cap_hits, b.hpack_table_cap_hits),
        header_list_cap_hits: s(a.header_list_cap_hits, b.header_list_cap_hits),
        stream_cap_hits: s(a.stream_cap_hits, b.stream_cap_hits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::handshake::{ConnEvent, ConnEventKind};

    const CAPS: Caps = Caps {
        connections: 100,
        reorder_bytes: 100,
        http_bytes: 100,
        tls_bytes: 100,
        shards: 2,
    };

    fn open(conn: ConnId) -> Item {
        let addr = std::net::SocketAddr::from(([10, 0, 0, 1], 80));
        Item::Event(ModelEvent::ConnOpen {
            client: addr,
            server: addr,
            event: ConnEvent {
                conn,
                ts: Timestamp(0),
                frame: conn,
                kind: ConnEventKind::Open {
                    handshake_seen: true,
                },
            },
        })
    }

    fn closed(conn: ConnId) -> Item {
        Item::Event(ModelEvent::ConnClosed {
            conn,
            ts: Timestamp(0),
        })
    }

    fn gauges(open: (u64, u64)) -> Item {
        Item::Gauges(Gauges([open, (0, 0), (0, 0), (0, 0)]))
    }

    /// The connections that opened (else closed), in order.
    fn conns(got: &[ModelEvent], opened: bool) -> Vec<ConnId> {
        got.iter()
            .filter_map(|e| match e {
                ModelEvent::ConnOpen { event, .. } if opened => Some(event.conn),
                ModelEvent::ConnClosed { conn, .. } if !opened => Some(*conn),
                _ => None,
            })
            .collect()
    }

    fn drain(m: &mut Merger) -> Vec<ModelEvent> {
        let mut got = Vec::new();
        loop {
            match m.next_event() {
                Next::Event(e) => got.push(e),
                Next::Need(i) => m.end(i),
                Next::Done => return got,
            }
        }
    }

    #[test]
    fn events_come_in_key_order_and_connections_are_numbered_as_they_open() {
        let mut m = Merger::new(2, CAPS);
        m.add(
            0,
            Batch {
                items: vec![
                    (Key::packet(0, 9), open(9)),
                    (Key::packet(0, 12), closed(9)),
                ],
                through: Key::END,
            },
        );
        // Shard 1 has not spoken: nothing can go before it has.
        assert!(matches!(m.next_event(), Next::Need(1)));
        m.add(
            1,
            Batch {
                items: vec![(Key::packet(0, 7), open(7))],
                through: Key::after(0, 10),
            },
        );
        let first = m.next_event();
        assert!(
            matches!(&first, Next::Event(ModelEvent::ConnOpen { event, .. }) if event.conn == 0 && event.frame == 7),
            "{first:?}"
        );
        let second = m.next_event();
        assert!(
            matches!(&second, Next::Event(ModelEvent::ConnOpen { event, .. }) if event.conn == 1 && event.frame == 9),
            "{second:?}"
        );
        // Shard 1 said nothing below frame 11: frame 12 waits for its word.
        assert!(matches!(m.next_event(), Next::Need(1)));
        m.add(
            1,
            Batch {
                items: vec![(Key::finish(7), closed(7))],
                through: Key::END,
            },
        );
        let got = drain(&mut m);
        assert_eq!(conns(&got, false), vec![1, 0]);
    }

    #[test]
    fn the_peak_is_of_the_sum_not_the_sum_of_the_peaks() {
        let mut m = Merger::new(2, CAPS);
        m.add(
            0,
            Batch {
                items: vec![
                    (Key::packet(0, 1), gauges((3, 3))),
                    (Key::packet(0, 4), gauges((0, 3))),
                ],
                through: Key::END,
            },
        );
        m.add(
            1,
            Batch {
                items: vec![
                    (Key::packet(0, 2), gauges((2, 2))),
                    (Key::packet(0, 5), gauges((1, 4))),
                ],
                through: Key::END,
            },
        );
        assert!(drain(&mut m).is_empty());
        let st = m.stats(&[Stats::default(), Stats::default()]);
        // 3 + 2 after frame 2; then 0 + 4 at most during frame 5. The shards' peaks add to 7.
        assert_eq!(st.tcp.peak_open_connections, 5);
        assert!(m.warnings().is_empty());
    }

    #[test]
    fn a_sum_over_a_cap_is_a_warning() {
        let mut m = Merger::new(
            2,
            Caps {
                connections: 4,
                ..CAPS
            },
        );
        for (i, frame) in [(0, 1), (1, 2)] {
            m.add(
                i,
                Batch {
                    items: vec![(Key::packet(0, frame), gauges((3, 3)))],
                    through: Key::END,
                },
            );
        }
        drain(&mut m);
        let w = m.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("held 6") && w[0].contains("connections=4"),
            "{w:?}"
        );
    }

    #[test]
    fn a_shard_over_its_share_is_a_warning() {
        let mut m = Merger::new(2, CAPS);
        let evicted = Item::Event(ModelEvent::Output(Output::Limit {
            conn: Some(3),
            ts: Timestamp(0),
            limit: Limit::OpenConnections,
        }));
        m.add(
            0,
            Batch {
                items: vec![(Key::packet(0, 3), evicted)],
                through: Key::END,
            },
        );
        m.end(1);
        assert_eq!(drain(&mut m).len(), 1);
        let w = m.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("share of the cap connections=100 (50 for each of 2"),
            "{w:?}"
        );
        // Closed 4-tuples at a shard's share: it forgets some early.
        let mut m = Merger::new(2, CAPS);
        m.add(
            1,
            Batch {
                items: vec![(
                    Key::packet(0, 1),
                    Item::Gauges(Gauges([(0, 0), (0, 0), (0, 0), (50, 50)])),
                )],
                through: Key::END,
            },
        );
        m.end(0);
        drain(&mut m);
        assert_eq!(m.warnings().len(), 1);
        assert_eq!(Caps::of(&Config::default(), 3).share(100_000), 33_333);
    }

    fn end(now: i64) -> Item {
        Item::Event(ModelEvent::EndInput {
            now: Timestamp(now),
            next: 0,
        })
    }

    fn finish() -> Item {
        Item::Event(ModelEvent::Finish(Timestamp(0)))
    }

    /// What the model is told of the captures' ends, as (now, next) and the finish's now.
    fn ends(got: &[ModelEvent]) -> Vec<(i64, u32)> {
        got.iter()
            .filter_map(|e| match e {
                ModelEvent::EndInput { now, next } => Some((now.0, *next)),
                ModelEvent::Finish(now) => Some((now.0, u32::MAX)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn file_workers_captures_end_where_the_next_with_frames_begins() {
        // Worker 0 read captures 0 (no frame), 2 and 4 (no frame); worker 1 captures 1 and
        // 3. One front would end capture 1 at capture 2's first frame, 2 at 3's, and 3 at
        // the end of input; capture 0 before capture 1's first frame, at no time.
        let mut m = Merger::files(2, CAPS);
        m.add(
            0,
            Batch {
                items: vec![],
                through: Key::file_start(2),
            },
        );
        m.add(
            1,
            Batch {
                items: vec![
                    (Key::packet(1, 1), open(1)),
                    (Key::file_end(1, 1), closed(1)),
                    (Key::file_end(1, ConnId::MAX), end(10)),
                ],
                through: Key::file_start(3),
            },
        );
        let mut got = Vec::new();
        // Worker 0 has not said whether capture 2 holds anything: capture 1's end waits.
        loop {
            match m.next_event() {
                Next::Event(e) => got.push(e),
                Next::Need(i) => {
                    assert_eq!(i, 0);
                    break;
                }
                Next::Done => panic!("done early"),
            }
        }
        assert_eq!(ends(&got), vec![(0, 1)]);
        m.add(
            0,
            Batch {
                items: vec![
                    (Key::packet(2, 5), open(5)),
                    (Key::file_end(2, ConnId::MAX), end(20)),
                    (Key::END, finish()),
                ],
                through: Key::END,
            },
        );
        m.add(
            1,
            Batch {
                items: vec![
                    (Key::file_end(3, ConnId::MAX), end(30)),
                    (Key::END, finish()),
                ],
                through: Key::END,
            },
        );
        got.extend(drain(&mut m));
        assert_eq!(ends(&got), vec![(0, 1), (10, 2), (20, 3), (30, u32::MAX)]);
        // Connections are numbered over the captures as they open.
        assert_eq!(conns(&got, true), vec![0, 1]);
    }

    #[test]
    fn file_workers_counters_add_up() {
        let mut m = Merger::files(2, CAPS);
        m.add(
            1,
            Batch {
                items: vec![(Key::file_end(1, ConnId::MAX), end(10))],
                through: Key::END,
            },
        );
        m.end(0);
        drain(&mut m);
        let worker = |packets, first, last, backwards: Option<(u32, u64)>, secrets| Stats {
            packets,
            first: Some(Timestamp(first)),
            last: Some(Timestamp(last)),
            time_went_backwards: u64::from(backwards.is_some()),
            first_time_went_backwards_input: backwards.map(|b| b.0),
            first_time_went_backwards: backwards.map(|b| b.1),
            tls_keys: crate::tls::KeyLogStats {
                secrets,
                ..Default::default()
            },
            ..Stats::default()
        };
        let st = m.stats(&[
            worker(3, 5, 9, Some((2, 7)), 1),
            worker(4, 2, 8, Some((1, 3)), 2),
        ]);
        assert_eq!(st.packets, 7);
        assert_eq!(
            (st.first, st.last),
            (Some(Timestamp(2)), Some(Timestamp(9)))
        );
        assert_eq!(st.time_went_backwards, 2);
        assert_eq!(
            (
                st.first_time_went_backwards_input,
                st.first_time_went_backwards
            ),
            (Some(1), Some(3))
        );
        // The last capture ended was worker 1's: its keys are the ones one front holds.
        assert_eq!(st.tls_keys.secrets, 2);
    }

    #[test]
    fn the_model_is_told_the_input_ended_once() {
        let mut m = Merger::new(3, CAPS);
        for i in 0..3 {
            m.add(
                i,
                Batch {
                    items: vec![(Key::END, Item::Event(ModelEvent::Finish(Timestamp(5))))],
                    through: Key::END,
                },
            );
        }
        let got = drain(&mut m);
        assert_eq!(got.len(), 1);
        assert!(matches!(got[0], ModelEvent::Finish(Timestamp(5))));
    }
}
