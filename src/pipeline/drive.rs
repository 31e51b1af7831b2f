//! The one driver: every face (the report, the exports, the UI, live capture) reads its
//! input through [`run`], with a [`Plan`] of threads, and takes what the analysis decides
//! through a [`Sink`].
//!
//! With one thread, frames go through an [`Analyzer`] on the calling thread. With two or more
//! (files only), fronts on threads of their own read, reassemble and frame, and the calling
//! thread merges their events, joins, judges and hands out the outputs in the order one
//! thread would (see [`super::shard`]): the outputs are the same, unless a front hits its
//! share of a cap. One capture (or several `--merge`d into one) is read by flow shards, each
//! reading every file and taking its share of the connections (a connection stays on one
//! shard); several captures each read on its own (a directory, several files) by file
//! workers, each reading whole files (file `i` by worker `i mod n`), one at a time, so that
//! no more files are open at once than there are workers.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
#[cfg(feature = "live")]
use std::time::{Duration, Instant};

use super::shard::{Batch, Key, Merger, Next};
use super::{Analyzer, Config, Front, Output, Stats};
use crate::capture::serverlog::ServerLogs;
use crate::capture::{CaptureError, Frame, MergedSource};
use crate::diagnose::Connections;
use crate::tcp::ConnId;
use crate::tls::KeyLogStats;

/// Where the frames come from.
pub enum Source {
    Files(MergedSource),
    #[cfg(feature = "live")]
    Live(Box<crate::capture::live::LiveSource>),
}

impl Source {
    /// The capture files, when the input is files.
    pub fn files(&self) -> Option<&MergedSource> {
        match self {
            Source::Files(f) => Some(f),
            #[cfg(feature = "live")]
            Source::Live(_) => None,
        }
    }

    /// The server's records read beside the files, once.
    fn take_server_logs(&mut self) -> Option<ServerLogs> {
        match self {
            Source::Files(f) => f.take_server_logs(),
            #[cfg(feature = "live")]
            Source::Live(_) => None,
        }
    }
}

/// How many threads analyse the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub threads: usize,
}

impl Default for Plan {
    /// One thread reading, reassembling and framing, and one joining, judging and writing,
    /// where the machine has two cores: measured best on two cores (docs/performance.md). Flow
    /// shards (`--threads 3` and more) are asked for, not given by default.
    fn default() -> Plan {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Plan {
            threads: cores.min(2),
        }
    }
}

impl Plan {
    pub fn threads(threads: usize) -> Plan {
        Plan {
            threads: threads.max(1),
        }
    }

    /// The fronts this plan runs on `source`: none (everything on the calling thread) with
    /// one thread; one for each thread but the merge's, as file workers for several captures
    /// each read on its own (two or more workers, at most one a file) and as flow shards for
    /// one capture; or one if some input is not a regular file (a pipe or a device has one
    /// reader).
    pub fn fronts(&self, source: &MergedSource) -> Fronts {
        if self.threads < 2 {
            return Fronts::Caller;
        }
        let files = source
            .files()
            .iter()
            .all(|f| std::fs::metadata(f.path()).is_ok_and(|m| m.is_file()));
        let n = self.threads - 1;
        if !files {
            Fronts::Flow(1)
        } else if n >= 2 && source.captures() >= 2 {
            Fronts::Files(n.min(source.captures()))
        } else {
            Fronts::Flow(n)
        }
    }
}

/// Who reads, reassembles and frames ([`Plan::fronts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fronts {
    /// The calling thread, which also joins, judges and writes.
    Caller,
    /// Flow shards: each reads every file, and takes the connections whose 4-tuple hashes
    /// to it.
    Flow(usize),
    /// File workers: each reads whole files, and takes every connection in them.
    Files(usize),
}

/// Where the analysis put a frame: the TCP connection its segment went to and where its
/// payload starts in that direction's stream (`None` when it carried no TCP segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub conn: Option<ConnId>,
    pub offset: Option<u64>,
}

/// The counters while reading, for a face that shows them.
pub struct Progress<'a> {
    stats: &'a dyn Fn() -> Stats,
    /// A live capture's counters.
    #[cfg(feature = "live")]
    pub live: Option<crate::capture::live::LiveStats>,
}

impl Progress<'_> {
    /// Everything counted so far (worked out when asked).
    pub fn stats(&self) -> Stats {
        (self.stats)()
    }
}

/// What a face does with the analysis.
pub trait Sink {
    /// One output, in the order the analysis decides them.
    fn output(&mut self, o: Output);
    /// The face wants no more (a write failed, the window was closed): the reading stops
    /// without finishing the analysis.
    fn stopped(&mut self) -> bool {
        false
    }
    /// Every so often while reading, and when a live capture is quiet.
    fn progress(&mut self, _p: &Progress<'_>) {}
    /// Every frame, with where the analysis put it ([`Sink::frame`]). The analysis then runs
    /// on one thread, whatever the plan.
    fn wants_frames(&self) -> bool {
        false
    }
    /// A frame, after the analysis took it.
    fn frame(&mut self, _frame: &Frame<'_>, _at: Placed) {}
}

impl<F: FnMut(Output)> Sink for F {
    fn output(&mut self, o: Output) {
        self(o)
    }
}

/// Why the input could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("starting the analysis threads: {0}")]
    Threads(io::Error),
}

/// What reading the input left.
pub struct Ran {
    pub stats: Stats,
    /// What the threads' shares of the caps changed (see [`Merger::warnings`]).
    pub warnings: Vec<String>,
    /// The input, read (its counters and warnings are the faces' to show).
    pub source: Source,
    /// The sink stopped the reading before the end.
    pub stopped: bool,
}

/// Reads `source` to its end and hands `sink` everything the analysis decides; then, unless
/// the sink stopped, the findings about connections no handshake holds.
pub fn run(
    mut source: Source,
    config: Config,
    plan: Plan,
    sink: &mut dyn Sink,
) -> Result<Ran, RunError> {
    let mut judged = Judged {
        sink,
        connections: Connections::default(),
    };
    let logs = source.take_server_logs();
    let ran = read(source, config, plan, logs, &mut judged)?;
    if !ran.stopped {
        for f in judged.connections.finish() {
            judged.sink.output(Output::Finding(Box::new(f)));
        }
    }
    Ok(ran)
}

/// A sink that also keeps what the connections said for [`Connections`].
struct Judged<'s> {
    sink: &'s mut dyn Sink,
    connections: Connections,
}

impl Sink for Judged<'_> {
    fn output(&mut self, o: Output) {
        if let Output::Connection(c) = &o {
            if let Some(t) = &c.tls {
                let facts = crate::diagnose::ConnFacts {
                    conn: c.id,
                    client: c.client,
                    server: c.server,
                    first: c.first,
                    last: c.last,
                    fins: [
                        crate::handshake::Side::Client,
                        crate::handshake::Side::Server,
                    ]
                    .map(|side| c.fins.iter().find(|f| f.by == side).map(|f| f.frame)),
                };
                self.connections.tls(facts, t);
                self.connections.fallback(facts, t);
            }
        }
        self.sink.output(o);
    }
    fn stopped(&mut self) -> bool {
        self.sink.stopped()
    }
    fn progress(&mut self, p: &Progress<'_>) {
        self.sink.progress(p);
    }
    fn wants_frames(&self) -> bool {
        self.sink.wants_frames()
    }
    fn frame(&mut self, frame: &Frame<'_>, at: Placed) {
        self.sink.frame(frame, at);
    }
}

fn read(
    source: Source,
    config: Config,
    plan: Plan,
    logs: Option<ServerLogs>,
    sink: &mut dyn Sink,
) -> Result<Ran, RunError> {
    match source {
        Source::Files(files) => {
            let fronts = if sink.wants_frames() {
                Fronts::Caller
            } else {
                plan.fronts(&files)
            };
            match fronts {
                Fronts::Caller => Ok(one_thread(files, config, logs, sink)),
                _ => sharded(files, config, fronts, logs, sink),
            }
        }
        #[cfg(feature = "live")]
        Source::Live(live) => Ok(live::run(live, config, sink)),
    }
}

/// The sink is asked whether it stopped, and shown progress, every this many frames.
const CHECK_EVERY: u32 = 256;

fn one_thread(
    mut source: MergedSource,
    config: Config,
    logs: Option<ServerLogs>,
    sink: &mut dyn Sink,
) -> Ran {
    let mut analyzer = Analyzer::new(config);
    if let Some(logs) = logs {
        analyzer.set_server_logs(logs);
    }
    let frames = sink.wants_frames();
    if frames {
        analyzer.track_offsets();
    }
    let mut n = 0u32;
    let mut stopped = false;
    keys_before(&mut source, &mut |text| analyzer.add_key_text(text));
    while let Some(frame) = source.next_frame() {
        analyzer.push(&frame, &mut |o| sink.output(o));
        if frames {
            let at = Placed {
                conn: analyzer.last_conn(),
                offset: analyzer.last_offset(),
            };
            sink.frame(&frame, at);
        }
        keys_between(&mut source, &mut |text| analyzer.add_capture_key_text(text));
        n = n.wrapping_add(1);
        if n % CHECK_EVERY == 0 {
            if sink.stopped() {
                stopped = true;
                break;
            }
            sink.progress(&Progress {
                stats: &|| analyzer.stats(),
                #[cfg(feature = "live")]
                live: None,
            });
        }
    }
    end(analyzer, Source::Files(source), stopped, sink)
}

/// The key logs read beside the files, before the first frame: the keys are there when the
/// connections they open come.
fn keys_before(source: &mut MergedSource, add: &mut dyn FnMut(&[u8])) {
    loop {
        let text = source.take_key_log();
        if text.is_empty() {
            return;
        }
        add(&text);
    }
}

/// The keys a frame's file held in a Decryption Secrets Block before it (pcapng 4.7).
fn keys_between(source: &mut MergedSource, add: &mut dyn FnMut(&[u8])) {
    let text = source.take_key_log();
    if !text.is_empty() {
        add(&text);
    }
}

/// The end of a reading on one thread: the analysis finished unless the sink stopped it.
fn end(mut analyzer: Analyzer, source: Source, stopped: bool, sink: &mut dyn Sink) -> Ran {
    let stopped = stopped || {
        analyzer.finish(&mut |o| sink.output(o));
        sink.stopped()
    };
    Ran {
        stats: analyzer.stats(),
        warnings: Vec::new(),
        source,
        stopped,
    }
}

/// Flow shards or file workers on threads of their own, the merge on this one.
fn sharded(
    mut first: MergedSource,
    config: Config,
    plan: Fronts,
    logs: Option<ServerLogs>,
    sink: &mut dyn Sink,
) -> Result<Ran, RunError> {
    let analyzer = Analyzer::new(config);
    let (files, (fronts, mut model, caps)) = match plan {
        Fronts::Files(n) => (true, analyzer.into_file_workers(n)),
        Fronts::Flow(n) => (false, analyzer.into_shards(n)),
        Fronts::Caller => (false, analyzer.into_shards(1)),
    };
    if let Some(logs) = logs {
        model.set_server_logs(logs);
    }
    let mut merger = if files {
        Merger::files(fronts.len(), caps)
    } else {
        Merger::new(fronts.len(), caps)
    };
    let budget = handoff_budget(files, fronts.len());
    // Bytes sent and not yet taken, over all fronts: while the merge is behind (their
    // budgets half full), the fronts decode the legs' tokens too.
    let in_flight = &AtomicUsize::new(0);
    let behind = fronts.len().saturating_mul(budget) / 2;
    let budgets: &[Budget] = &fronts
        .iter()
        .map(|_| Budget::new(budget))
        .collect::<Vec<_>>();
    // Each shard's counters as of its last batch, for progress.
    let counted: &[Mutex<Stats>] = &fronts
        .iter()
        .map(|_| Mutex::new(Stats::default()))
        .collect::<Vec<_>>();
    let sources = if files {
        first.deal(fronts.len())?
    } else if fronts.len() == 1 {
        vec![std::mem::replace(&mut first, MergedSource::new(Vec::new()))]
    } else {
        let mut sources = Vec::with_capacity(fronts.len());
        for _ in 0..fronts.len() {
            sources.push(first.reopen()?);
        }
        // What could not be opened is reported once, by the first shard's.
        if let Some(s) = sources.first_mut() {
            s.take_skipped(&mut first);
        }
        sources
    };
    let mut stopped = false;
    let ended = std::thread::scope(|scope| {
        let mut rxs = Vec::new();
        let mut workers = Vec::new();
        for (i, (front, source)) in fronts.into_iter().zip(sources).enumerate() {
            let (tx, rx) = std::sync::mpsc::channel::<(usize, Batch)>();
            rxs.push(rx);
            let handoff = Handoff {
                tx,
                budget: budgets.get(i),
                in_flight,
                behind,
                counted: counted.get(i),
            };
            workers.push(
                std::thread::Builder::new()
                    .name(format!("authscope-shard-{i}"))
                    .spawn_scoped(scope, move || {
                        if files {
                            file_loop(front, source, &handoff)
                        } else {
                            shard_loop(front, source, &handoff)
                        }
                    })
                    .map_err(RunError::Threads)?,
            );
        }
        let mut n = 0u32;
        loop {
            match merger.next_event() {
                Next::Event(e) => {
                    model.apply(e, &mut |o| sink.output(o));
                    n = n.wrapping_add(1);
                    if n % CHECK_EVERY == 0 {
                        if sink.stopped() {
                            stopped = true;
                            break;
                        }
                        let now = || {
                            let each: Vec<Stats> = counted
                                .iter()
                                .map(|m| m.lock().map(|s| *s).unwrap_or_default())
                                .collect();
                            model.stats(merger.stats(&each))
                        };
                        sink.progress(&Progress {
                            stats: &now,
                            #[cfg(feature = "live")]
                            live: None,
                        });
                    }
                }
                Next::Need(i) => match rxs.get(i).map(|rx| rx.recv()) {
                    Some(Ok((weight, batch))) => {
                        in_flight.fetch_sub(weight, Ordering::Relaxed);
                        if let Some(b) = budgets.get(i) {
                            b.release(weight);
                        }
                        merger.add(i, batch)
                    }
                    _ => merger.end(i),
                },
                Next::Done => break,
            }
        }
        // The shards stop at their next batch once these ends are gone.
        drop(rxs);
        for b in budgets {
            b.close();
        }
        workers
            .into_iter()
            .map(|w| w.join())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| RunError::Threads(io::Error::other("a shard thread failed")))
    })?;
    let stopped = stopped || sink.stopped();
    let (stats, sources): (Vec<Stats>, Vec<MergedSource>) = ended.into_iter().unzip();
    let source = if files {
        first.gather(sources);
        first
    } else {
        let Some(source) = sources.into_iter().next() else {
            return Err(RunError::Threads(io::Error::other("no shard")));
        };
        source
    };
    Ok(Ran {
        stats: model.stats(merger.stats(&stats)),
        warnings: merger.warnings(),
        source: Source::Files(source),
        stopped,
    })
}

/// A shard's end of the hand-off to the merge.
struct Handoff<'a> {
    /// Batches with their weight ([`Batch::weight`]).
    tx: std::sync::mpsc::Sender<(usize, Batch)>,
    /// What this shard has handed on and the merge not yet taken.
    budget: Option<&'a Budget>,
    /// Bytes sent and not yet taken, over all shards.
    in_flight: &'a AtomicUsize,
    /// The merge is behind from this many bytes in flight.
    behind: usize,
    /// This shard's counters, as of its last batch.
    counted: Option<&'a Mutex<Stats>>,
}

impl Handoff<'_> {
    /// Sends a batch, and `front`'s counters for progress when given.
    fn send(&self, batch: Batch, front: Option<&Front>) -> bool {
        if let (Some(Ok(mut c)), Some(front)) = (self.counted.map(Mutex::lock), front) {
            *c = front.stats();
        }
        let weight = batch.weight();
        if let Some(b) = self.budget {
            if !b.reserve(weight) {
                return false;
            }
        }
        self.in_flight.fetch_add(weight, Ordering::Relaxed);
        self.tx.send((weight, batch)).is_ok()
    }
}

/// The bytes a front has handed to the merge and the merge not yet taken, and the most it
/// may: a front runs ahead of the merge that far and then waits. A budget in bytes rather
/// than in batches lets a front that makes few events (large bodies, quiet connections) read
/// far ahead, and still bounds one that makes many.
struct Budget {
    state: Mutex<Held>,
    taken: std::sync::Condvar,
    cap: usize,
}

#[derive(Default)]
struct Held {
    bytes: usize,
    /// The front waits for room (the merge wakes it only then: a wake is a system call).
    waiting: bool,
    /// The merge is gone.
    closed: bool,
}

impl Budget {
    fn new(cap: usize) -> Budget {
        Budget {
            state: Mutex::new(Held::default()),
            taken: std::sync::Condvar::new(),
            cap,
        }
    }

    /// Counts `weight` bytes in, once there is room (a batch alone may exceed the cap); false
    /// when the merge is gone.
    fn reserve(&self, weight: usize) -> bool {
        let Ok(mut held) = self.state.lock() else {
            return false;
        };
        while !held.closed && held.bytes > 0 && held.bytes.saturating_add(weight) > self.cap {
            held.waiting = true;
            held = match self.taken.wait(held) {
                Ok(h) => h,
                Err(_) => return false,
            };
        }
        held.waiting = false;
        if held.closed {
            return false;
        }
        held.bytes = held.bytes.saturating_add(weight);
        true
    }

    /// The merge took `weight` bytes.
    fn release(&self, weight: usize) {
        let Ok(mut held) = self.state.lock() else {
            return;
        };
        held.bytes = held.bytes.saturating_sub(weight);
        if held.waiting {
            self.taken.notify_one();
        }
    }

    /// The merge is gone: a front that waits gives up.
    fn close(&self) {
        if let Ok(mut held) = self.state.lock() {
            held.closed = true;
        }
        self.taken.notify_all();
    }
}

/// Each front's hand-off budget. Flow shards, and the one reading thread of two, read in step
/// with the merge: [`HANDOFF_BYTES`]. A file worker reads a file of its own ahead of the merge
/// while the merge takes an earlier file from another worker: [`FILE_HANDOFF_BYTES`], less
/// where many workers would together hold more than [`FILE_HANDOFF_BYTES_ALL`].
fn handoff_budget(files: bool, fronts: usize) -> usize {
    if files {
        FILE_HANDOFF_BYTES.min(FILE_HANDOFF_BYTES_ALL / fronts.max(1))
    } else {
        HANDOFF_BYTES
    }
}

/// A shard's thread: every frame to its front, batches of what it makes to the merge.
fn shard_loop(
    mut front: Front,
    mut source: MergedSource,
    out: &Handoff<'_>,
) -> (Stats, MergedSource) {
    let mut items = Vec::with_capacity(HANDOFF_BATCH);
    let mut frames = 0u32;
    let mut sent = true;
    keys_before(&mut source, &mut |text| front.add_key_text(text));
    while let Some(frame) = source.next_frame() {
        if !push(&mut front, &frame, &mut items, &mut frames, out) {
            sent = false;
            break;
        }
        keys_between(&mut source, &mut |text| front.add_capture_key_text(text));
    }
    if sent {
        // A closed merge is not an error here: it has its own.
        front.finish_sharded(items, HANDOFF_BATCH, &mut |batch| {
            out.send(batch, None);
        });
    }
    (front.stats(), source)
}

/// Gives `front` a frame, and the merge what it made when a batch is full or every
/// [`WATERMARK_FRAMES`]; false when the merge is gone.
fn push(
    front: &mut Front,
    frame: &Frame<'_>,
    items: &mut Vec<(Key, super::shard::Item)>,
    frames: &mut u32,
    out: &Handoff<'_>,
) -> bool {
    // Decoding tokens costs about as much as reassembly and framing: whichever side has
    // time does it. Where it is done does not change the leg (a pure function).
    front.prepare_legs = out.in_flight.load(Ordering::Relaxed) >= out.behind;
    front.push_sharded(frame, items);
    *frames = frames.saturating_add(1);
    // Empty batches too, now and then: the merge waits for every front's word that it has
    // nothing before the next event.
    if items.len() >= HANDOFF_BATCH || *frames >= WATERMARK_FRAMES {
        *frames = 0;
        return hand_on(items, front.through(), front, out);
    }
    true
}

/// Sends the merge `items`, and that nothing comes from `front` below `through` after them;
/// false when the merge is gone.
fn hand_on(
    items: &mut Vec<(Key, super::shard::Item)>,
    through: Key,
    front: &Front,
    out: &Handoff<'_>,
) -> bool {
    let batch = Batch {
        items: std::mem::replace(items, Vec::with_capacity(HANDOFF_BATCH)),
        through,
    };
    out.send(batch, Some(front))
}

/// A file worker's thread: each of its files in turn, every frame to its front, batches of
/// what it makes to the merge. The end of a file is keyed after all of it and sent when the
/// worker reaches it; its watermark then jumps to its next file, so that the merge does not
/// wait on it for the files between, which other workers read.
fn file_loop(
    mut front: Front,
    mut source: MergedSource,
    out: &Handoff<'_>,
) -> (Stats, MergedSource) {
    let mut items = Vec::with_capacity(HANDOFF_BATCH);
    let mut frames = 0u32;
    let mut sent = true;
    // The key log's counters as of the last file ended, with that file's own keys.
    let mut keys: Option<KeyLogStats> = None;
    keys_before(&mut source, &mut |text| front.add_key_text(text));
    let count = source.files().len();
    'files: for k in 0..count {
        front.begin_file(source.input_of(k));
        let mut any = false;
        while let Some(frame) = source.next_frame_of(k) {
            any = true;
            if !push(&mut front, &frame, &mut items, &mut frames, out) {
                sent = false;
                break 'files;
            }
            keys_between(&mut source, &mut |text| front.add_capture_key_text(text));
        }
        // A file without frames is no capture to one front either: nothing of it is told.
        if any {
            keys = Some(front.end_file(&mut items, HANDOFF_BATCH, &mut |batch| {
                out.send(batch, None);
            }));
        }
        if k.saturating_add(1) < count {
            frames = 0;
            let next = Key::file_start(source.input_of(k.saturating_add(1)));
            if !hand_on(&mut items, next, &front, out) {
                sent = false;
                break;
            }
        }
    }
    if sent {
        front.finish_sharded(items, HANDOFF_BATCH, &mut |batch| {
            out.send(batch, None);
        });
    }
    let mut stats = front.stats();
    if let Some(keys) = keys {
        stats.tls_keys = keys;
    }
    (stats, source)
}

/// A shard sends a batch at least every this many frames, so that the merge, which waits
/// for every shard, is never held up long by one that owns few connections.
const WATERMARK_FRAMES: u32 = 4096;

/// Events handed from a shard's thread to the merge, a batch at a time (a channel send per
/// event would cost more than most events' handling).
const HANDOFF_BATCH: usize = 128;
/// What a flow shard may have handed on and the merge not yet taken, in bytes.
const HANDOFF_BYTES: usize = 2 << 20;
/// ... a file worker.
const FILE_HANDOFF_BYTES: usize = 16 << 20;
/// ... all file workers together.
const FILE_HANDOFF_BYTES_ALL: usize = 64 << 20;

/// A live capture: frames as they come, the analysis's clock moved on when none does (so a
/// handshake that waits only for time to pass is decided on a quiet link too).
#[cfg(feature = "live")]
mod live {
    use super::*;
    use crate::capture::live::{LiveSource, Next};

    /// How long to wait for a frame before the clock moves on.
    const TICK: Duration = Duration::from_millis(100);
    /// The clock is moved on at least this often, however busy the link.
    const ADVANCE_EVERY: Duration = Duration::from_secs(1);

    pub(super) fn run(mut source: Box<LiveSource>, config: Config, sink: &mut dyn Sink) -> Ran {
        let mut analyzer = Analyzer::new(config);
        let keys = source.has_key_logs();
        if keys {
            analyzer.wait_for_keys();
            loop {
                let text = source.take_key_log();
                if text.is_empty() {
                    break;
                }
                analyzer.add_key_text(&text);
            }
        }
        let mut advanced = Instant::now();
        let mut stopped = false;
        loop {
            // The key logs grow as clients connect: what they gained is read before every
            // frame, so a client's keys, written before it sends on, are there for it.
            if keys {
                let text = source.take_key_log();
                if !text.is_empty() {
                    analyzer.add_late_key_text(&text, &mut |o| sink.output(o));
                }
            }
            match source.next_frame(TICK) {
                Next::Frame(f) => analyzer.push(&f, &mut |o| sink.output(o)),
                Next::Idle(now) => {
                    advanced = Instant::now();
                    analyzer.advance(now, &mut |o| sink.output(o));
                }
                Next::End => break,
            }
            if advanced.elapsed() >= ADVANCE_EVERY {
                advanced = Instant::now();
                analyzer.advance(wall_clock(), &mut |o| sink.output(o));
            }
            // After every frame: a live link is slow next to a file, and shown as it goes.
            if sink.stopped() {
                stopped = true;
                break;
            }
            sink.progress(&Progress {
                stats: &|| analyzer.stats(),
                live: Some(source.stats()),
            });
        }
        end(analyzer, Source::Live(source), stopped, sink)
    }

    fn wall_clock() -> crate::capture::Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        crate::capture::Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    /// A front past its budget waits until the merge takes, and gives up once the merge is
    /// gone; a batch larger than the whole budget still passes alone.
    #[test]
    fn a_budget_holds_a_front_to_its_bytes() {
        let budget = Budget::new(100);
        assert!(budget.reserve(60));
        assert!(budget.reserve(40));
        std::thread::scope(|s| {
            let waiting = s.spawn(|| budget.reserve(10));
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!waiting.is_finished(), "reserved past the budget");
            budget.release(60);
            assert!(waiting.join().unwrap());
        });
        budget.release(50);
        assert!(budget.reserve(1000), "a batch alone may exceed the budget");
        std::thread::scope(|s| {
            let waiting = s.spawn(|| budget.reserve(1));
            std::thread::sleep(std::time::Duration::from_millis(50));
            budget.close();
            assert!(!waiting.join().unwrap(), "a closed budget gives up");
        });
        assert!(!budget.reserve(1));
    }
}
