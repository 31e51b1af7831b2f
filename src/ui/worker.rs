//! The worker: runs the [`Analyzer`] over the files on its own thread and sends the UI batches
//! of new handshakes with the counters, at most every [`BATCH_EVERY`]. The channel is bounded:
//! when the UI falls behind, the worker waits, never the UI.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::RevealSecrets;
use crate::capture::MergedSource;
use crate::http::{Exchange, Header};
use crate::pipeline::{Analysed, Analyzer, Config, Output};
use crate::report::present_exchange;
use crate::tcp::ConnId;

use super::app::{RawHeads, Record};
use super::event::{AppEvent, Batch};

/// How often the worker reports while reading.
pub const BATCH_EVERY: Duration = Duration::from_millis(100);
/// The clock is read once per this many frames.
const CHECK_EVERY: u32 = 256;
/// Raw heads of authentication exchanges kept until their handshake is decided; the oldest go
/// first past this (their legs then show no raw headers).
const MAX_PENDING_HEADS: usize = 65_536;

/// What the worker needs.
pub struct Job {
    pub source: MergedSource,
    pub config: Config,
    pub reveal: bool,
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

/// Raw heads of authentication exchanges, by connection and first frame, bounded.
#[derive(Default)]
struct Heads {
    map: HashMap<(ConnId, u64), RawHeads>,
    order: VecDeque<(ConnId, u64)>,
}

impl Heads {
    fn keep(&mut self, x: &Exchange, reveal: bool) {
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
            return;
        }
        let Some(frame) = x
            .request
            .as_ref()
            .map(|r| r.frame)
            .or(x.response.as_ref().map(|r| r.frame))
        else {
            return;
        };
        let shown = present_exchange(x, reveal);
        let heads = RawHeads {
            request: shown.request.map(|r| {
                let mut v = vec![Header {
                    name: String::new(),
                    value: format!("{} {} HTTP/1.{}", r.method, r.uri, r.version),
                }];
                v.extend(r.headers);
                v
            }),
            response: shown.response.map(|r| {
                let mut v = vec![Header {
                    name: String::new(),
                    value: format!("HTTP/1.{} {} {}", r.version, r.status, r.reason),
                }];
                v.extend(r.headers);
                v
            }),
        };
        let key = (x.conn, frame);
        if self.map.insert(key, heads).is_none() {
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
    }

    fn take_for(&mut self, a: &Analysed) -> Vec<Option<RawHeads>> {
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
}

impl Collect {
    fn take(&mut self, o: Output) {
        match o {
            Output::Connection(_) => self.connections = self.connections.saturating_add(1),
            Output::Exchange(x) => self.heads.keep(&x, self.reveal),
            Output::Handshake(mut a) => {
                if self.reveal {
                    for leg in &mut a.handshake.legs {
                        if let Some(c) = leg.request.as_mut().and_then(|r| r.credential.as_mut()) {
                            c.reveal_secrets();
                        }
                        if let Some(c) = leg.response.as_mut().and_then(|r| r.challenges.as_mut()) {
                            c.reveal_secrets();
                        }
                    }
                }
                let raw = self.heads.take_for(&a);
                self.pending.push(Record::new(*a, raw));
            }
            Output::HttpAnomaly { .. } | Output::Limit { .. } => {}
        }
    }
}

fn run(job: Job) {
    let Job {
        mut source,
        config,
        reveal,
        tx,
        stop,
    } = job;
    let mut analyzer = Analyzer::new(config);
    let mut c = Collect {
        pending: Vec::new(),
        heads: Heads::default(),
        connections: 0,
        reveal,
    };
    let mut last = Instant::now();
    let mut n: u32 = 0;
    while let Some(frame) = source.next_frame() {
        analyzer.push(&frame, &mut |o| c.take(o));
        n = n.wrapping_add(1);
        if n % CHECK_EVERY == 0 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if last.elapsed() >= BATCH_EVERY {
                last = Instant::now();
                let batch = Batch {
                    handshakes: std::mem::take(&mut c.pending),
                    stats: analyzer.stats(),
                    connections: c.connections,
                    done: false,
                    warnings: Vec::new(),
                };
                // The UI is gone: nothing left to do.
                if tx.send(AppEvent::Batch(Box::new(batch))).is_err() {
                    return;
                }
            }
        }
    }
    analyzer.finish(&mut |o| c.take(o));
    let warnings = source
        .files()
        .iter()
        .flat_map(|f| f.warnings())
        .map(|w| format!("{}: packet {}: {}", w.file, w.packet, w.message))
        .collect();
    let _ = tx.send(AppEvent::Batch(Box::new(Batch {
        handshakes: std::mem::take(&mut c.pending),
        stats: analyzer.stats(),
        connections: c.connections,
        done: true,
        warnings,
    })));
}

/// Reads everything on the calling thread and returns it as one batch (tests, and faces that
/// do not need to draw while reading).
pub fn read_all(mut source: MergedSource, config: Config, reveal: bool) -> Batch {
    let mut analyzer = Analyzer::new(config);
    let mut c = Collect {
        pending: Vec::new(),
        heads: Heads::default(),
        connections: 0,
        reveal,
    };
    while let Some(frame) = source.next_frame() {
        analyzer.push(&frame, &mut |o| c.take(o));
    }
    analyzer.finish(&mut |o| c.take(o));
    Batch {
        handshakes: c.pending,
        stats: analyzer.stats(),
        connections: c.connections,
        done: true,
        warnings: Vec::new(),
    }
}
