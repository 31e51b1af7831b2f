//! The worker: reads the input (files, or a live capture) through the driver on its own
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
use crate::pipeline::{Analysed, Config, Output, Plan, Progress, Sink, Source, Stats};
use crate::present::redact::present_exchange;
use crate::tcp::ConnId;

use super::app::{Interner, RawHeads, Record};
#[cfg(feature = "live")]
use super::event::LiveCounters;
use super::event::{AppEvent, Batch};
use super::spool::{Detail, FindingDetail, Slot, SpoolWriter};

/// How often the worker reports while reading.
pub const BATCH_EVERY: Duration = Duration::from_millis(100);
/// Raw heads of authentication exchanges kept until their handshake is decided; the oldest go
/// first past this (their legs then show no raw headers).
const MAX_PENDING_HEADS: usize = 65_536;
/// Handshakes listed at most (a record is a few hundred bytes); past this, new handshakes are
/// still counted and spooled but not listed, and the UI says so.
pub const MAX_RECORDS: u64 = 1_000_000;

/// What the worker needs.
pub struct Job {
    pub input: Source,
    pub config: Config,
    pub plan: Plan,
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
        // Packet bytes on a person's screen: made harmless (crate::shown). The start line
        // leads, as a header without a name.
        let head = |start: String, headers: Vec<Header>| -> Vec<Header> {
            let start = Header {
                name: "".into(),
                value: start.into(),
            };
            std::iter::once(start)
                .chain(headers)
                .map(|h| Header {
                    name: crate::shown::shown(&h.name).into_owned().into(),
                    value: crate::shown::shown(&h.value).as_ref().into(),
                })
                .collect()
        };
        let heads = RawHeads {
            request: shown.request.map(|r| {
                let start = format!(
                    "{} {} {}",
                    r.method,
                    r.uri,
                    crate::http::version_text(r.version)
                );
                head(start, r.headers)
            }),
            response: shown.response.map(|r| {
                let start = format!(
                    "{} {} {}",
                    crate::http::version_text(r.version),
                    r.status,
                    r.reason
                );
                head(start, r.headers)
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
    connection_findings: Vec<FindingDetail>,
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
    /// What the server's records gave, in a few words, for the header.
    server_logs: Option<String>,
}

impl Collect {
    fn new(reveal: bool, spool: SpoolWriter) -> Collect {
        Collect {
            pending: Vec::new(),
            connection_findings: Vec::new(),
            heads: Heads::default(),
            connections: 0,
            reveal,
            spool,
            strings: Interner::default(),
            listed: 0,
            spool_error: None,
            files: Vec::new(),
            server_logs: None,
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
            Output::Finding(f) => self.connection_findings.push(FindingDetail::of(&f)),
            Output::ServerLogs(s) => {
                let joined = s.joined_lines.saturating_add(s.joined_events);
                let all = joined
                    .saturating_add(s.unmatched_lines)
                    .saturating_add(s.unmatched_events);
                self.server_logs = Some(format!("logs {joined}/{all} joined"));
            }
            Output::HttpAnomaly { .. } | Output::Limit { .. } | Output::Wire(_) => {}
        }
    }

    fn note(&mut self, e: String) {
        self.spool_error.get_or_insert(e);
    }

    /// What was learnt since the last batch. The spool is flushed first: the records name
    /// their place in it.
    fn batch(&mut self, stats: Stats, done: bool) -> Batch {
        if let Err(e) = self.spool.flush() {
            self.note(e);
        }
        Batch {
            handshakes: std::mem::take(&mut self.pending),
            connection_findings: std::mem::take(&mut self.connection_findings),
            stats,
            connections: self.connections,
            done,
            warnings: Vec::new(),
            server_logs: self.server_logs.take(),
            spool_error: self.spool_error.take(),
            live: None,
        }
    }
}

/// The worker as the driver's sink: what the analysis decides is collected, and sent to the
/// UI in batches as time passes.
struct Feed<'a> {
    c: &'a mut Collect,
    tx: Option<&'a SyncSender<AppEvent>>,
    stop: Option<&'a AtomicBool>,
    /// When the last batch went.
    sent: Instant,
    /// (when, packets captured) about a second ago, for a live capture's rate.
    #[cfg(feature = "live")]
    rate_from: (Instant, u64),
    #[cfg(feature = "live")]
    rate: f64,
    /// The UI is gone.
    gone: bool,
}

/// A live capture's batches go at least this often (its counters move without handshakes).
#[cfg(feature = "live")]
const LIVE_EVERY: Duration = Duration::from_millis(250);

impl Feed<'_> {
    fn new<'a>(
        c: &'a mut Collect,
        tx: Option<&'a SyncSender<AppEvent>>,
        stop: Option<&'a AtomicBool>,
    ) -> Feed<'a> {
        Feed {
            c,
            tx,
            stop,
            sent: Instant::now(),
            #[cfg(feature = "live")]
            rate_from: (Instant::now(), 0),
            #[cfg(feature = "live")]
            rate: 0.0,
            gone: false,
        }
    }

    fn send(&mut self, batch: Batch) {
        self.sent = Instant::now();
        // The UI is gone: nothing left to do.
        if let Some(tx) = self.tx {
            if tx.send(AppEvent::Batch(Box::new(batch))).is_err() {
                self.gone = true;
            }
        }
    }

    #[cfg(feature = "live")]
    fn live_counters(&mut self, stats: crate::capture::live::LiveStats) -> LiveCounters {
        let since = self.rate_from.0.elapsed();
        if since >= Duration::from_secs(1) {
            let n = stats.captured.saturating_sub(self.rate_from.1);
            self.rate = n as f64 / since.as_secs_f64();
            self.rate_from = (Instant::now(), stats.captured);
        }
        LiveCounters {
            captured: stats.captured,
            packets_per_second: self.rate,
            kernel_dropped: stats.kernel_dropped,
            interface_dropped: stats.interface_dropped,
            queue_dropped: stats.queue_dropped,
            unsaved: stats.unsaved,
        }
    }
}

impl Sink for Feed<'_> {
    fn output(&mut self, o: Output) {
        self.c.take(o);
    }

    fn stopped(&mut self) -> bool {
        self.gone || self.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }

    fn progress(&mut self, p: &Progress<'_>) {
        if self.tx.is_none() {
            return;
        }
        let since = self.sent.elapsed();
        #[cfg(feature = "live")]
        if let Some(live) = p.live {
            let due = since >= LIVE_EVERY || (since >= BATCH_EVERY && !self.c.pending.is_empty());
            if due {
                let mut batch = self.c.batch(p.stats(), false);
                batch.live = Some(self.live_counters(live));
                self.send(batch);
            }
            return;
        }
        if since >= BATCH_EVERY {
            let batch = self.c.batch(p.stats(), false);
            self.send(batch);
        }
    }
}

fn run(job: Job) {
    let Job {
        input,
        config,
        plan,
        reveal,
        spool,
        tx,
        stop,
    } = job;
    let mut c = Collect::new(reveal, spool);
    if let Some(files) = input.files() {
        c.captures_of(files);
    }
    let mut feed = Feed::new(&mut c, Some(&tx), Some(&stop));
    let Ok(ran) = crate::pipeline::run(input, config.revealing(reveal), plan, &mut feed) else {
        return;
    };
    if ran.stopped {
        return;
    }
    let mut batch = feed.c.batch(ran.stats, true);
    match &ran.source {
        Source::Files(source) => {
            batch.warnings.extend(
                source
                    .files()
                    .iter()
                    .flat_map(|f| f.warnings())
                    .map(|w| format!("{}: packet {}: {}", w.file, w.packet, w.message))
                    .chain(source.rotated().map(|(message, _)| message)),
            );
        }
        #[cfg(feature = "live")]
        Source::Live(source) => {
            batch.live = Some(feed.live_counters(source.stats()));
            batch.warnings = source.errors();
        }
    }
    feed.send(batch);
}

/// Reads everything on the calling thread and returns it as one batch (tests, and faces that
/// do not need to draw while reading); the details go to `spool`.
pub fn read_all(source: MergedSource, config: Config, reveal: bool, spool: SpoolWriter) -> Batch {
    let mut c = Collect::new(reveal, spool);
    c.captures_of(&source);
    let mut feed = Feed::new(&mut c, None, None);
    let config = config.revealing(reveal);
    let stats = crate::pipeline::run(Source::Files(source), config, Plan::threads(1), &mut feed)
        .map(|ran| ran.stats)
        .unwrap_or_default();
    c.batch(stats, true)
}
