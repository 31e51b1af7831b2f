//! The worker: runs the [`Analyzer`] over the input (files, or a live capture) on its own
//! thread and sends the UI batches of new handshakes with the counters, at most every
//! [`BATCH_EVERY`]. Each handshake goes to the spool in full and to the UI as a compact
//! [`Record`]. The channel is bounded: when the UI falls behind, the worker waits, never the
//! UI.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::MergedSource;
use crate::http::{Exchange, Header};
use crate::pipeline::{Analysed, Analyzer, Config, Output};
use crate::present::redact::present_exchange;
use crate::tcp::ConnId;

use super::app::{Interner, RawHeads, Record};
use super::event::{AppEvent, Batch};
use super::spool::{Detail, Slot, SpoolWriter};

/// How often the worker reports while reading.
pub const BATCH_EVERY: Duration = Duration::from_millis(100);
/// The clock is read once per this many frames.
const CHECK_EVERY: u32 = 256;
/// Raw heads of authentication exchanges kept until their handshake is decided; the oldest go
/// first past this (their legs then show no raw headers).
const MAX_PENDING_HEADS: usize = 65_536;
/// Handshakes listed at most (a record is a few hundred bytes); past this, new handshakes are
/// still counted and spooled but not listed, and the UI says so.
pub const MAX_RECORDS: u64 = 1_000_000;

/// Where the frames come from.
pub enum Input {
    Files(MergedSource),
    #[cfg(feature = "live")]
    Live(Box<crate::capture::live::LiveSource>),
}

/// What the worker needs.
pub struct Job {
    pub input: Input,
    pub config: Config,
    pub reveal: bool,
    pub spool: SpoolWriter,
    pub tx: SyncSender<AppEvent>,
    /// Set by the UI when it quits.
    pub stop: Arc<AtomicBool>,
}

/// Starts the worker thread.
pub fn spawn(job: Job) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("authscope-worker".into())
        .spawn(move || run(job))
}

/// Raw heads of authentication exchanges, by connection and first frame, bounded. The heads
/// themselves go to the spool at once; only where they are is kept here (requests that reuse
/// an accepted credential are never claimed by a handshake, and would otherwise hold their
/// heads in memory until pushed out).
#[derive(Default)]
struct Heads {
    map: HashMap<(ConnId, u64), Slot>,
    order: VecDeque<(ConnId, u64)>,
}

impl Heads {
    fn keep(&mut self, x: &Exchange, reveal: bool, spool: &mut SpoolWriter) -> Result<(), String> {
        let auth_req = x.request.as_ref().is_some_and(|r| {
            r.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("authorization")
                    || h.name.eq_ignore_ascii_case("proxy-authorization")
            })
        });
        let auth_resp = x.response.as_ref().is_some_and(|r| {
            matches!(r.status, 401 | 407)
                || r.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("www-authenticate")
                        || h.name.eq_ignore_ascii_case("proxy-authenticate")
                })
        });
        if !auth_req && !auth_resp {
            return Ok(());
        }
        let Some(frame) = x
            .request
            .as_ref()
            .map(|r| r.frame)
            .or(x.response.as_ref().map(|r| r.frame))
        else {
            return Ok(());
        };
        let shown = present_exchange(x, reveal);
        // Packet bytes on a person's screen: made harmless (crate::shown).
        let harmless = |headers: Vec<Header>| -> Vec<Header> {
            headers
                .into_iter()
                .map(|h| Header {
                    name: crate::shown::shown(&h.name).into_owned().into(),
                    value: crate::shown::shown(&h.value).as_ref().into(),
                })
                .collect()
        };
        let heads = RawHeads {
            request: shown.request.map(|r| {
                let mut v = vec![Header {
                    name: "".into(),
                    value: format!("{} {} HTTP/1.{}", r.method, r.uri, r.version).into(),
                }];
                v.extend(r.headers);
                harmless(v)
            }),
            response: shown.response.map(|r| {
                let mut v = vec![Header {
                    name: "".into(),
                    value: format!("HTTP/1.{} {} {}", r.version, r.status, r.reason).into(),
                }];
                v.extend(r.headers);
                harmless(v)
            }),
        };
        let Some(slot) = spool.put(&heads, "raw headers")? else {
            return Ok(());
        };
        let key = (x.conn, frame);
        if self.map.insert(key, slot).is_none() {
            self.order.push_back(key);
        }
        while self.map.len() > MAX_PENDING_HEADS {
            match self.order.pop_front() {
                Some(k) => {
                    self.map.remove(&k);
                }
                None => break,
            }
        }
        Ok(())
    }

    fn take_for(&mut self, a: &Analysed) -> Vec<Option<Slot>> {
        a.handshake
            .legs
            .iter()
            .map(|l| {
                let frame = l
                    .request
                    .as_ref()
                    .map(|r| r.frame)
                    .or(l.response.as_ref().map(|r| r.frame))?;
                self.map.remove(&(l.conn, frame))
            })
            .collect()
    }
}

struct Collect {
    pending: Vec<Record>,
    heads: Heads,
    connections: u64,
    reveal: bool,
    spool: SpoolWriter,
    strings: Interner,
    /// Handshakes sent to the UI so far.
    listed: u64,
    /// The first spool error not yet sent.
    spool_error: Option<String>,
    /// The files' names when each is its own capture (empty for one capture).
    files: Vec<String>,
}

impl Collect {
    fn new(reveal: bool, spool: SpoolWriter) -> Collect {
        Collect {
            pending: Vec::new(),
            heads: Heads::default(),
            connections: 0,
            reveal,
            spool,
            strings: Interner::default(),
            listed: 0,
            spool_error: None,
            files: Vec::new(),
        }
    }

    /// The handshakes come from these captures, each numbering its own frames.
    fn captures_of(&mut self, source: &MergedSource) {
        self.files = source
            .capture_names()
            .iter()
            .map(|n| crate::shown::shown(n).into_owned())
            .collect();
    }

    fn take(&mut self, o: Output) {
        match o {
            Output::Connection(_) => self.connections = self.connections.saturating_add(1),
            Output::Exchange(x, _) => {
                if let Err(e) = self.heads.keep(&x, self.reveal, &mut self.spool) {
                    self.note(e);
                }
            }
            Output::Handshake(mut a) => {
                if self.reveal {
                    a.handshake.reveal_secrets();
                }
                let raw = self.heads.take_for(&a);
                if self.listed >= MAX_RECORDS {
                    if self.listed == MAX_RECORDS {
                        self.listed = self.listed.saturating_add(1);
                        self.note(format!(
                            "{MAX_RECORDS} handshakes listed: later ones are counted, not listed"
                        ));
                    }
                    return;
                }
                let what = format!("handshake #{}", a.handshake.id);
                let mut detail = Detail::of(&a, raw);
                let input = a.handshake.input;
                detail.file = usize::try_from(input)
                    .ok()
                    .and_then(|i| self.files.get(i))
                    .map(|name| (input.saturating_add(1), name.clone()));
                let slot = match self.spool.put(&detail, &what) {
                    Ok(slot) => slot,
                    Err(e) => {
                        self.note(e);
                        None
                    }
                };
                self.listed = self.listed.saturating_add(1);
                self.pending.push(Record::of(&a, slot, &mut self.strings));
            }
            Output::HttpAnomaly { .. } | Output::Limit { .. } => {}
        }
    }

    fn note(&mut self, e: String) {
        self.spool_error.get_or_insert(e);
    }

    /// What was learnt since the last batch. The spool is flushed first: the records name
    /// their place in it.
    fn batch(&mut self, analyzer: &Analyzer, done: bool) -> Batch {
        if let Err(e) = self.spool.flush() {
            self.note(e);
        }
        Batch {
            handshakes: std::mem::take(&mut self.pending),
            stats: analyzer.stats(),
            connections: self.connections,
            done,
            warnings: Vec::new(),
            spool_error: self.spool_error.take(),
            live: None,
        }
    }
}

fn run(job: Job) {
    let Job {
        input,
        config,
        reveal,
        spool,
        tx,
        stop,
    } = job;
    let mut analyzer = Analyzer::new(config.revealing(reveal));
    let mut c = Collect::new(reveal, spool);
    match input {
        Input::Files(source) => run_files(source, &mut analyzer, &mut c, &tx, &stop),
        #[cfg(feature = "live")]
        Input::Live(source) => live::run(*source, &mut analyzer, &mut c, &tx, &stop),
    }
}

fn run_files(
    mut source: MergedSource,
    analyzer: &mut Analyzer,
    c: &mut Collect,
    tx: &SyncSender<AppEvent>,
    stop: &AtomicBool,
) {
    let mut last = Instant::now();
    let mut n: u32 = 0;
    c.captures_of(&source);
    while let Some(frame) = source.next_frame() {
        analyzer.push(&frame, &mut |o| c.take(o));
        n = n.wrapping_add(1);
        if n % CHECK_EVERY == 0 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if last.elapsed() >= BATCH_EVERY {
                last = Instant::now();
                let batch = c.batch(analyzer, false);
                // The UI is gone: nothing left to do.
                if tx.send(AppEvent::Batch(Box::new(batch))).is_err() {
                    return;
                }
            }
        }
    }
    analyzer.finish(&mut |o| c.take(o));
    let mut batch = c.batch(analyzer, true);
    batch.warnings = source
        .files()
        .iter()
        .flat_map(|f| f.warnings())
        .map(|w| format!("{}: packet {}: {}", w.file, w.packet, w.message))
        .collect();
    let _ = tx.send(AppEvent::Batch(Box::new(batch)));
}

/// A live capture: frames as they come, the analyzer's clock moved on when none does (so a
/// handshake waiting only for time to pass appears on a quiet link), and the capture's
/// counters in every batch.
#[cfg(feature = "live")]
mod live {
    use super::*;
    use crate::capture::live::{LiveSource, Next};
    use crate::ui::event::LiveCounters;

    /// How long the worker waits for a frame before it moves the clock on.
    const TICK: Duration = Duration::from_millis(100);
    /// The clock is moved on at least this often, however busy the link.
    const ADVANCE_EVERY: Duration = Duration::from_secs(1);
    /// Batches are sent at least this often (the counters move without handshakes).
    const REPORT_EVERY: Duration = Duration::from_millis(250);

    pub(super) fn run(
        mut source: LiveSource,
        analyzer: &mut Analyzer,
        c: &mut Collect,
        tx: &SyncSender<AppEvent>,
        stop: &AtomicBool,
    ) {
        let mut sent = Instant::now();
        let mut advanced = Instant::now();
        // (when, packets captured) about a second ago, for the rate.
        let mut rate_from = (Instant::now(), 0u64);
        let mut rate = 0.0f64;
        loop {
            // Quitting drops the source, which stops the capture and waits for its thread
            // (so a `--write` file is flushed and closed before the process ends).
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let ended = match source.next_frame(TICK) {
                Next::Frame(f) => {
                    analyzer.push(&f, &mut |o| c.take(o));
                    false
                }
                Next::Idle(now) => {
                    advanced = Instant::now();
                    analyzer.advance(now, &mut |o| c.take(o));
                    false
                }
                Next::End => true,
            };
            if !ended && advanced.elapsed() >= ADVANCE_EVERY {
                advanced = Instant::now();
                analyzer.advance(wall_clock(), &mut |o| c.take(o));
            }
            if ended {
                analyzer.finish(&mut |o| c.take(o));
            }
            let due = sent.elapsed() >= REPORT_EVERY
                || (sent.elapsed() >= BATCH_EVERY && !c.pending.is_empty());
            if !due && !ended {
                continue;
            }
            sent = Instant::now();
            let stats = source.stats();
            let since = rate_from.0.elapsed();
            if since >= Duration::from_secs(1) {
                let n = stats.captured.saturating_sub(rate_from.1);
                rate = n as f64 / since.as_secs_f64();
                rate_from = (Instant::now(), stats.captured);
            }
            let mut batch = c.batch(analyzer, ended);
            batch.live = Some(LiveCounters {
                captured: stats.captured,
                packets_per_second: rate,
                kernel_dropped: stats.kernel_dropped,
                interface_dropped: stats.interface_dropped,
                queue_dropped: stats.queue_dropped,
                unsaved: stats.unsaved,
            });
            if ended {
                batch.warnings = source.errors();
            }
            if tx.send(AppEvent::Batch(Box::new(batch))).is_err() || ended {
                return;
            }
        }
    }

    fn wall_clock() -> crate::capture::Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        crate::capture::Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Reads everything on the calling thread and returns it as one batch (tests, and faces that
/// do not need to draw while reading); the details go to `spool`.
pub fn read_all(
    mut source: MergedSource,
    config: Config,
    reveal: bool,
    spool: SpoolWriter,
) -> Batch {
    let mut analyzer = Analyzer::new(config.revealing(reveal));
    let mut c = Collect::new(reveal, spool);
    c.captures_of(&source);
    while let Some(frame) = source.next_frame() {
        analyzer.push(&frame, &mut |o| c.take(o));
    }
    analyzer.finish(&mut |o| c.take(o));
    c.batch(&analyzer, true)
}
