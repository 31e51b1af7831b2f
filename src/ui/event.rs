//! The one event enum into the UI thread: keys and mouse from the terminal, batches from the
//! worker.

use crate::pipeline::Stats;

use super::app::Record;
use super::spool::FindingDetail;

/// Everything the UI thread reacts to.
#[derive(Debug)]
pub enum AppEvent {
    /// A key, a mouse action or a resize, from the terminal.
    Term(crossterm::event::Event),
    /// New handshakes and the counters as they stand.
    Batch(Box<Batch>),
    /// The terminal input could not be read.
    InputError(String),
    /// An export started with `e` ended: what to tell the user.
    Exported(String),
    /// SIGTERM, SIGHUP or SIGINT (its number) arrived: the UI ends as with `q`.
    Signal(i32),
}

/// What the worker learnt since its last batch.
#[derive(Debug, Default)]
pub struct Batch {
    pub handshakes: Vec<Record>,
    /// Findings about connections no handshake holds (a server's TLS), decided at the end.
    pub connection_findings: Vec<FindingDetail>,
    pub stats: Stats,
    /// Connections that ended so far (the whole count, not the increment).
    pub connections: u64,
    /// The input is exhausted and every stage flushed.
    pub done: bool,
    /// Warnings of the capture readers (damaged files), sent with the last batch.
    pub warnings: Vec<String>,
    /// How many of the server's records (`--server-log`, `--events`) were joined, once the
    /// input ended.
    pub server_logs: Option<String>,
    /// Why details of handshakes are no longer kept (sent once).
    pub spool_error: Option<String>,
    /// The counters of a live capture, as they stand.
    pub live: Option<LiveCounters>,
}

/// What the header shows of a live capture.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LiveCounters {
    pub captured: u64,
    /// Over about the last second.
    pub packets_per_second: f64,
    pub kernel_dropped: u64,
    pub interface_dropped: u64,
    pub queue_dropped: u64,
    /// Packets not saved to the file exports read (its cap, or an error).
    pub unsaved: u64,
}
