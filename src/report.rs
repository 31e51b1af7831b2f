//! Stage 8 (first face): the report, as a text summary or a JSON document.
//!
//! The JSON document is written as the analysis goes: exchanges are streamed out as they
//! complete, so memory does not grow with the capture; connections, handshakes and findings
//! are spooled to temporary files as they end and copied in at the end.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::{AuthHeader, HeaderKind, RevealSecrets};
use crate::capture::{CaptureError, MergedSource};
use crate::diagnose::{is_symptom, Severity};
use crate::handshake::{Outcome, SharedAuth, TimelineWhat};
use crate::http::{Exchange, Header};
use crate::json;
use crate::pipeline::{
    self, Analysed, Config, Ending, Output, Plan, RunError, Sink, Source, Stats,
};
use crate::present::redact::redact_exchange;
use crate::present::{clock, human_delta, rfc3339};
use crate::shown::shown;

pub use crate::json::SCHEMA;

#[cfg(feature = "live")]
pub mod live;
mod text;

use text::{target, Style, TextReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// One JSON object a line, flushed: each handshake when it completes
    /// (`"type":"handshake"`), then the summary (`"type":"summary"`).
    Ndjson,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Format,
    /// Show passwords, hashes and tokens as captured.
    pub reveal_secrets: bool,
    pub config: Config,
    /// Text: colour the output (the caller decides: a terminal, and NO_COLOR unset).
    pub color: bool,
    /// Text: a block for every handshake, not only those with findings or failures.
    pub all_handshakes: bool,
    /// JSON: which exchanges to list.
    pub exchanges: ExchangeFilter,
    /// Text: print each handshake's block as soon as it completes (live capture), and only
    /// the findings and counters at the end.
    pub stream_handshakes: bool,
    /// JSON: what chose the handshakes listed (written as `"selection"`), when not all are;
    /// see [`run_selected`].
    pub selection: Option<serde_json::Value>,
    /// The threads that analyse files (see [`Plan`]): the report is the same whatever they are.
    pub plan: Plan,
    /// The file the report's writer writes to, when it is one (a second handle on it): the
    /// JSON report's spooled arrays are then copied to it by the kernel (`copy_file_range`,
    /// `sendfile` or `splice`) rather than read back through a buffer. The writer is flushed
    /// first, so the two never interleave.
    pub direct: Option<std::sync::Arc<std::fs::File>>,
    /// Read several files as one capture in time order (`--merge`) rather than each on its own.
    pub merge: bool,
}

/// Which HTTP exchanges the JSON report lists (all of them are always counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExchangeFilter {
    /// Those with an authentication header or a 401/407 status.
    #[default]
    Auth,
    All,
    None,
}

impl ExchangeFilter {
    fn keeps(self, x: &Exchange) -> bool {
        match self {
            ExchangeFilter::All => true,
            ExchangeFilter::None => false,
            ExchangeFilter::Auth => {
                let auth_header = |h: &[Header], names: &[&str]| {
                    h.iter()
                        .any(|f| names.iter().any(|n| f.name.eq_ignore_ascii_case(n)))
                };
                x.request.as_ref().is_some_and(|r| {
                    auth_header(&r.headers, &["authorization", "proxy-authorization"])
                }) || x.response.as_ref().is_some_and(|r| {
                    matches!(r.status, 401 | 407)
                        || auth_header(&r.headers, &["www-authenticate", "proxy-authenticate"])
                })
            }
        }
    }
}

/// Text reports show every handshake up to this many; past it, only those with a problem,
/// and at most this many of those (unless `all_handshakes`), so the report's memory stays
/// bounded on any capture.
const TEXT_BLOCKS: usize = 100;
/// ...and at most this much of them, about: handshakes of many large legs are counted past
/// it, so the text report's memory is bounded whatever they hold.
const TEXT_BYTES: usize = 32 << 20;
/// Schemes counted by name in the summary; the others are counted together.
const MAX_SCHEMES: usize = 32;
/// Handshake ids named beside a grouped finding.
const EXAMPLES: usize = 6;

/// All findings of one code, for the text report: how many, and each distinct wording
/// (up to [`EXAMPLES`]) with a few handshakes that have it.
#[derive(Debug)]
struct Group {
    severity: Severity,
    code: &'static str,
    count: u64,
    variants: Vec<Variant>,
    /// Findings whose wording was not kept (past [`EXAMPLES`] variants).
    more: u64,
}

/// One wording of a finding code: its summary and next step, where it was found.
#[derive(Debug)]
struct Variant {
    summary: String,
    next_step: String,
    target: String,
    count: u64,
    examples: Vec<u64>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    // Not a `source`: the message says it all, and `{:#}` would repeat it.
    #[error("writing the report: {0}")]
    Write(io::Error),
    #[error("writing the report: {0}")]
    Json(serde_json::Error),
    #[error("{0}")]
    Threads(io::Error),
    #[cfg(feature = "live")]
    #[error(transparent)]
    Live(#[from] crate::capture::live::LiveError),
}

impl From<RunError> for ReportError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Capture(e) => ReportError::Capture(e),
            RunError::Threads(e) => ReportError::Threads(e),
        }
    }
}

impl From<io::Error> for ReportError {
    fn from(e: io::Error) -> Self {
        ReportError::Write(e)
    }
}

impl From<json::Error> for ReportError {
    fn from(e: json::Error) -> Self {
        ReportError::Json(e.into())
    }
}

impl From<serde_json::Error> for ReportError {
    fn from(e: serde_json::Error) -> Self {
        ReportError::Json(e)
    }
}

/// A JSON array written as it grows to a temporary file, and copied into the document at the
/// end, so a report's memory does not grow with the capture.
/// Buffer of a spool's writes and of its copy into the document.
const SPOOL_BUFFER: usize = 1 << 18;

struct Spool {
    file: std::fs::File,
    /// Items are serialised straight into it, and it goes to the file when full: a second
    /// buffer would copy every byte once more.
    pending: Vec<u8>,
    count: u64,
}

impl Spool {
    fn new() -> io::Result<Spool> {
        Ok(Spool {
            file: tempfile::tempfile()?,
            pending: Vec::with_capacity(SPOOL_BUFFER),
            count: 0,
        })
    }

    fn next(&mut self) {
        if self.count > 0 {
            self.pending.push(b',');
        }
        self.count = self.count.saturating_add(1);
    }

    /// Large writes: a spool holds up to hundreds of MB, and each write is a syscall. It goes
    /// out a quarter short of full, so the item that crosses the line (rarely over 64 KiB)
    /// still fits: were the buffer to grow instead, each spool would keep twice its size for
    /// the rest of the run.
    fn spill(&mut self) -> io::Result<()> {
        if self.pending.len() >= SPOOL_BUFFER - SPOOL_BUFFER / 4 {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    fn push<T: serde::Serialize>(&mut self, item: &T) -> Result<(), ReportError> {
        self.next();
        json::extend(&mut self.pending, item)?;
        Ok(self.spill()?)
    }

    /// Pushes a handshake as [`Analysed`] serialises it.
    fn push_analysed(&mut self, a: &Analysed) -> Result<(), ReportError> {
        self.next();
        append_object_with(
            &mut self.pending,
            &a.handshake,
            "findings",
            Some(&a.findings),
        )?;
        Ok(self.spill()?)
    }

    fn copy_into(self, out: &mut dyn Write, direct: Option<&std::fs::File>) -> io::Result<()> {
        use std::io::{Read, Seek};
        let mut f = self.file;
        f.write_all(&self.pending)?;
        f.seek(io::SeekFrom::Start(0))?;
        if let Some(mut to) = direct {
            // io::copy between two files stays in the kernel: on the 1 GB capture the 130 MB
            // of spooled handshakes were read and written again, 0.03 to 0.05 s.
            out.flush()?;
            io::copy(&mut f, &mut to)?;
            return Ok(());
        }
        // Not io::copy: through `dyn Write` it moves 8 KiB a call.
        let mut buf = vec![0u8; SPOOL_BUFFER];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => out.write_all(buf.get(..n).unwrap_or_default())?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The authentication headers of one exchange, decoded.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExchangeAuth {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::handshake::serial::shared"
    )]
    pub authorization: Option<Arc<AuthHeader>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::handshake::serial::shared"
    )]
    pub proxy_authorization: Option<Arc<AuthHeader>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::handshake::serial::shared"
    )]
    pub www_authenticate: Option<Arc<AuthHeader>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::handshake::serial::shared"
    )]
    pub proxy_authenticate: Option<Arc<AuthHeader>>,
}

impl ExchangeAuth {
    /// Decodes the four authentication headers of an exchange (the request's credentials, the
    /// final response's challenges), reusing those its handshake leg decoded already.
    pub fn of(x: &Exchange, shared: &SharedAuth, reveal: bool) -> Option<ExchangeAuth> {
        let decode = |headers: &[Header], kind: HeaderKind| {
            let mut h = match shared.get(kind) {
                Some(h) => h.clone(),
                None => Arc::new(crate::handshake::decode_named(headers, kind)?),
            };
            if reveal {
                // A copy: the handshake's leg shares the decoded header.
                Arc::make_mut(&mut h).reveal_secrets();
            }
            Some(h)
        };
        let req = x
            .request
            .as_ref()
            .map(|r| r.headers.as_slice())
            .unwrap_or_default();
        let resp = x
            .response
            .as_ref()
            .map(|r| r.headers.as_slice())
            .unwrap_or_default();
        let a = ExchangeAuth {
            authorization: decode(req, HeaderKind::Authorization),
            proxy_authorization: decode(req, HeaderKind::ProxyAuthorization),
            www_authenticate: decode(resp, HeaderKind::WwwAuthenticate),
            proxy_authenticate: decode(resp, HeaderKind::ProxyAuthenticate),
        };
        let any = a.authorization.is_some()
            || a.proxy_authorization.is_some()
            || a.www_authenticate.is_some()
            || a.proxy_authenticate.is_some();
        any.then_some(a)
    }
}

/// Writes `object`'s JSON with one more member, `"key":extra`, when `extra` is some: what
/// `#[serde(flatten)]` gives, without its cost (it serialises through a map, field by field).
fn write_object_with<T: serde::Serialize, E: serde::Serialize>(
    buf: &mut Vec<u8>,
    out: &mut dyn Write,
    object: &T,
    key: &str,
    extra: Option<&E>,
) -> Result<(), ReportError> {
    buf.clear();
    append_object_with(buf, object, key, extra)?;
    out.write_all(buf)?;
    Ok(())
}

/// [`write_object_with`], appended to `buf`.
fn append_object_with<T: serde::Serialize, E: serde::Serialize>(
    buf: &mut Vec<u8>,
    object: &T,
    key: &str,
    extra: Option<&E>,
) -> Result<(), ReportError> {
    let start = buf.len();
    json::extend(buf, object)?;
    if let Some(extra) = extra {
        if buf.last() == Some(&b'}') {
            buf.pop();
            if buf.len() > start.saturating_add(1) {
                buf.push(b',');
            }
            json::extend(buf, key)?;
            buf.push(b':');
            json::extend(buf, extra)?;
            buf.push(b'}');
        }
    }
    Ok(())
}

/// What the report saw, for the summary and the exit status.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub stats: Stats,
    pub connections: u64,
    pub http_connections: u64,
    pub ended: BTreeMap<&'static str, u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub exchanges: u64,
    pub anomalies: u64,
    pub limits: u64,
    pub handshakes: u64,
    /// Handshakes by scheme, then by outcome.
    pub handshakes_by_scheme: BTreeMap<String, BTreeMap<String, u64>>,
    pub findings: BTreeMap<&'static str, u64>,
    pub findings_by_severity: BTreeMap<&'static str, u64>,
    /// The most severe finding, for `--fail-on`.
    pub worst: Option<Severity>,
    pub warnings: Vec<String>,
}

/// Takes the analyzer's outputs: counts them, and streams the JSON exchanges.
/// Which handshakes a report lists (every one is counted).
pub type Keep<'k> = Box<dyn Fn(&Analysed) -> bool + 'k>;

struct Collector<'k> {
    /// Which handshakes (and their findings) are listed.
    keep: Keep<'k>,
    summary: Summary,
    /// JSON: connections as they end.
    connections: Option<Spool>,
    anomalies: Vec<serde_json::Value>,
    first_exchange: bool,
    write_err: Option<ReportError>,
    json: bool,
    reveal: bool,
    /// JSON: handshakes and findings as they come.
    spools: Option<(Spool, Spool)>,
    /// Text: the handshakes to show (healthy ones only while few).
    shown: Vec<Analysed>,
    /// Handshakes not kept for a block.
    hidden: u64,
    /// What the kept blocks hold, about ([`crate::handshake::Handshake::approx_bytes`]).
    shown_bytes: usize,
    all_handshakes: bool,
    exchanges: ExchangeFilter,
    /// Text: findings by code.
    groups: BTreeMap<&'static str, Group>,
    /// NDJSON: a line per handshake as it completes.
    ndjson: bool,
    /// Text: print each block as its handshake completes, in this style.
    stream_text: Option<Style>,
    /// JSON: reused for each exchange written.
    buf: Vec<u8>,
    /// [`Options::direct`].
    direct: Option<std::sync::Arc<std::fs::File>>,
}

/// HTTP anomalies listed in the JSON document; past this they are only counted.
const MAX_LISTED_ANOMALIES: usize = 10_000;

impl Collector<'_> {
    fn take(&mut self, o: Output, out: &mut dyn Write) {
        let summary = &mut self.summary;
        match o {
            Output::Connection(c) => {
                summary.connections = summary.connections.saturating_add(1);
                if c.http {
                    summary.http_connections = summary.http_connections.saturating_add(1);
                }
                let n = summary.ended.entry(ending_name(c.ended)).or_default();
                *n = n.saturating_add(1);
                if let Some(sp) = self.connections.as_mut() {
                    if let Err(e) = sp.push(&*c) {
                        self.write_err.get_or_insert(e);
                    }
                }
            }
            Output::Exchange(x, shared) => {
                summary.exchanges = summary.exchanges.saturating_add(1);
                for r in x.interim.iter().chain(x.response.as_ref()) {
                    let n = summary.statuses.entry(r.status).or_default();
                    *n = n.saturating_add(1);
                }
                if self.json && self.write_err.is_none() && self.exchanges.keeps(&x) {
                    // Decoded before redaction: the decoder redacts what it shows itself.
                    let auth = ExchangeAuth::of(&x, &shared, self.reveal);
                    let mut x = x;
                    if !self.reveal {
                        redact_exchange(&mut x);
                    }
                    let sep = if self.first_exchange { "" } else { "," };
                    self.first_exchange = false;
                    let r = out
                        .write_all(sep.as_bytes())
                        .map_err(ReportError::from)
                        .and_then(|_| {
                            write_object_with(&mut self.buf, out, &*x, "auth", auth.as_ref())
                        });
                    if let Err(e) = r {
                        self.write_err = Some(e);
                    }
                }
            }
            Output::HttpAnomaly {
                conn,
                dir,
                ts,
                anomaly,
            } => {
                summary.anomalies = summary.anomalies.saturating_add(1);
                if self.json && self.anomalies.len() < MAX_LISTED_ANOMALIES {
                    self.anomalies.push(serde_json::json!({
                        "conn": conn, "dir": dir, "ts": ts, "anomaly": anomaly
                    }));
                }
            }
            Output::Limit { .. } => summary.limits = summary.limits.saturating_add(1),
            Output::Handshake(mut a) => {
                summary.handshakes = summary.handshakes.saturating_add(1);
                // A scheme's name is the client's to choose: past a few dozen, the rest are
                // counted together.
                let mut scheme = a.handshake.scheme.to_string();
                if summary.handshakes_by_scheme.len() >= MAX_SCHEMES
                    && !summary.handshakes_by_scheme.contains_key(&scheme)
                {
                    scheme = "(other schemes)".to_owned();
                }
                let n = summary
                    .handshakes_by_scheme
                    .entry(scheme)
                    .or_default()
                    .entry(outcome_key(&a.handshake.outcome))
                    .or_default();
                *n = n.saturating_add(1);
                for f in &a.findings {
                    let n = summary.findings.entry(f.code).or_default();
                    *n = n.saturating_add(1);
                    let n = summary
                        .findings_by_severity
                        .entry(f.severity.label())
                        .or_default();
                    *n = n.saturating_add(1);
                    summary.worst = summary.worst.max(Some(f.severity));
                }
                if !(self.keep)(&a) {
                    return;
                }
                if self.reveal {
                    a.handshake.reveal_secrets();
                }
                if self.ndjson {
                    if let Err(e) = write_line(out, "handshake", &*a) {
                        self.write_err.get_or_insert(e);
                    }
                } else if let Some(style) = self.stream_text {
                    self.group(&a);
                    let r = style.handshake(out, &a, None).and_then(|_| out.flush());
                    if let Err(e) = r {
                        self.write_err.get_or_insert(e.into());
                    }
                } else if let Some((hs, fs)) = self.spools.as_mut() {
                    let r = hs
                        .push_analysed(&a)
                        .and_then(|_| a.findings.iter().try_for_each(|f| fs.push(f)));
                    if let Err(e) = r {
                        self.write_err.get_or_insert(e);
                    }
                } else {
                    self.keep_for_text(*a);
                }
            }
        }
    }

    fn keep_for_text(&mut self, a: Analysed) {
        self.group(&a);
        let bytes = a.handshake.approx_bytes();
        let room = self.shown_bytes.saturating_add(bytes) <= TEXT_BYTES;
        if self.all_handshakes || (self.shown.len() < TEXT_BLOCKS && room) {
            self.shown_bytes = self.shown_bytes.saturating_add(bytes);
            self.shown.push(a);
            return;
        }
        // Full: make room for a problem by dropping a healthy block; else count it.
        if has_problem(&a) {
            if let Some(i) = self.shown.iter().position(|h| !has_problem(h)) {
                let gone = self.shown.remove(i).handshake.approx_bytes();
                let after = self.shown_bytes.saturating_sub(gone).saturating_add(bytes);
                if after <= TEXT_BYTES {
                    self.shown_bytes = after;
                    self.shown.push(a);
                } else {
                    self.shown_bytes = self.shown_bytes.saturating_sub(gone);
                    self.hidden = self.hidden.saturating_add(1);
                }
                self.hidden = self.hidden.saturating_add(1);
                return;
            }
        }
        self.hidden = self.hidden.saturating_add(1);
    }

    /// Text: counts the handshake's findings by code.
    fn group(&mut self, a: &Analysed) {
        for f in &a.findings {
            let g = self.groups.entry(f.code).or_insert_with(|| Group {
                severity: f.severity,
                code: f.code,
                count: 0,
                variants: Vec::new(),
                more: 0,
            });
            g.count = g.count.saturating_add(1);
            // A code's severity can rise with the case (a reset that ends the handshake).
            g.severity = g.severity.max(f.severity);
            let same = g
                .variants
                .iter()
                .position(|v| v.summary == f.summary && v.next_step == f.next_step);
            if let Some(v) = same.and_then(|i| g.variants.get_mut(i)) {
                v.count = v.count.saturating_add(1);
                if v.examples.len() < EXAMPLES {
                    v.examples.push(a.handshake.id);
                }
                continue;
            }
            if g.variants.len() < EXAMPLES {
                g.variants.push(Variant {
                    summary: f.summary.clone(),
                    next_step: f.next_step.clone(),
                    target: target(&a.handshake),
                    count: 1,
                    examples: vec![a.handshake.id],
                });
            } else {
                g.more = g.more.saturating_add(1);
            }
        }
    }
}

fn outcome_key(o: &Outcome) -> String {
    o.label()
}

fn has_problem(a: &Analysed) -> bool {
    a.handshake.outcome != Outcome::Success
        || a.findings.iter().any(|f| f.severity >= Severity::Warning)
}

fn ending_name(e: Ending) -> &'static str {
    match e {
        Ending::Fin => "fin",
        Ending::Rst => "rst",
        Ending::Timeout => "timeout",
        Ending::Evicted => "evicted",
        Ending::Reused => "reused",
        Ending::Open => "open",
    }
}

/// What the report says about its inputs: a line each at the top of the text report, the
/// `inputs` array of the JSON document, and the problems listed among the warnings.
pub trait Inputs {
    fn text_header(&self, out: &mut dyn Write) -> io::Result<()>;
    fn write_json(&self, out: &mut dyn Write) -> Result<(), ReportError>;
    fn warnings(&self) -> Vec<String>;
    /// The files were read as one capture (`--merge`).
    fn merged(&self) -> bool {
        false
    }
    /// The captures the frames come from: their frames are numbered each on its own, so with
    /// more than one every frame is named with its capture's (`2:f14`).
    fn captures(&self) -> usize {
        1
    }
    /// The name of capture `input` ([`crate::capture::Frame::input`]).
    fn capture_name(&self, _input: u32) -> Option<String> {
        None
    }
}

impl Inputs for MergedSource {
    fn text_header(&self, out: &mut dyn Write) -> io::Result<()> {
        let several = self.captures() > 1;
        for (i, f) in self.files().iter().enumerate() {
            let fs = f.stats();
            let n = if several {
                format!("{}: ", i.saturating_add(1))
            } else {
                String::new()
            };
            writeln!(
                out,
                "{n}{}: {} packets ({})",
                shown(&fs.path),
                fs.packets,
                fs.format
            )?;
        }
        for e in self.skipped() {
            writeln!(out, "{} (skipped)", shown(&e.to_string()))?;
        }
        if several {
            writeln!(
                out,
                "files are separate captures: 2:f14 is frame 14 of file 2; --merge joins them"
            )?;
        } else if self.files().len() > 1 {
            writeln!(
                out,
                "read as one capture in time order (--merge): frames are numbered over all files"
            )?;
        }
        Ok(())
    }

    fn merged(&self) -> bool {
        self.is_merged()
    }

    fn captures(&self) -> usize {
        MergedSource::captures(self)
    }

    fn capture_name(&self, input: u32) -> Option<String> {
        let f = self.files().get(usize::try_from(input).ok()?)?;
        Some(f.path().display().to_string())
    }

    fn write_json(&self, out: &mut dyn Write) -> Result<(), ReportError> {
        let inputs: Vec<_> = self.files().iter().map(|f| f.stats()).collect();
        write_value(out, &inputs)?;
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        self.files()
            .iter()
            .flat_map(|f| f.warnings())
            .map(|w| format!("{}: packet {}: {}", w.file, w.packet, w.message))
            .chain(self.skipped().iter().map(|e| format!("{e} (skipped)")))
            .collect()
    }
}

/// `value`'s JSON, in one write.
fn write_value<T: serde::Serialize + ?Sized>(
    out: &mut dyn Write,
    value: &T,
) -> Result<(), ReportError> {
    out.write_all(&json::to_vec(value)?)?;
    Ok(())
}

/// One NDJSON line: `{"type":KIND, ...item}`, flushed.
fn write_line<T: serde::Serialize>(
    out: &mut dyn Write,
    kind: &'static str,
    item: &T,
) -> Result<(), ReportError> {
    #[derive(serde::Serialize)]
    struct Line<'a, T> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        item: &'a T,
    }
    write_value(out, &Line { kind, item })?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// A report being made: started (the JSON document's opening is written then), fed by
/// [`Report::read`] from any source, and ended with the rest of the report.
pub struct Report<'k> {
    c: Collector<'k>,
    config: Config,
    format: Format,
    color: bool,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("format", &self.format)
            .field("summary", &self.c.summary)
            .finish()
    }
}

/// The report as the driver's sink: what can be written as the analysis goes (JSON
/// exchanges, NDJSON lines, streamed text blocks) is written to `out`.
struct Writing<'a, 'k> {
    c: &'a mut Collector<'k>,
    out: &'a mut dyn Write,
}

impl Sink for Writing<'_, '_> {
    fn output(&mut self, o: Output) {
        self.c.take(o, self.out);
    }

    fn stopped(&mut self) -> bool {
        self.c.write_err.is_some()
    }
}

impl<'k> Report<'k> {
    /// Starts a report (the JSON document's opening is written now).
    pub fn start(opts: &Options, out: &mut dyn Write) -> Result<Report<'k>, ReportError> {
        Report::start_selected(opts, Box::new(|_| true), out)
    }

    /// [`Report::start`], listing only the handshakes (and their findings) that `keep`
    /// accepts; the summary still counts every one.
    pub fn start_selected(
        opts: &Options,
        keep: Keep<'k>,
        out: &mut dyn Write,
    ) -> Result<Report<'k>, ReportError> {
        let json = opts.format == Format::Json;
        let c = Collector {
            keep,
            summary: Summary::default(),
            connections: if json { Some(Spool::new()?) } else { None },
            anomalies: Vec::new(),
            first_exchange: true,
            write_err: None,
            json,
            reveal: opts.reveal_secrets,
            spools: if json {
                Some((Spool::new()?, Spool::new()?))
            } else {
                None
            },
            shown: Vec::new(),
            hidden: 0,
            shown_bytes: 0,
            all_handshakes: opts.all_handshakes,
            exchanges: opts.exchanges,
            groups: BTreeMap::new(),
            ndjson: opts.format == Format::Ndjson,
            stream_text: (opts.format == Format::Text && opts.stream_handshakes)
                .then_some(Style { color: opts.color }),
            buf: Vec::new(),
            direct: opts.direct.clone(),
        };
        if json {
            write!(out, "{{\"schema\":\"{SCHEMA}\",")?;
            if let Some(sel) = &opts.selection {
                write!(out, "\"selection\":")?;
                write_value(out, sel)?;
                write!(out, ",")?;
            }
            write!(out, "\"exchanges\":[")?;
        }
        Ok(Report {
            c,
            config: opts.config.revealing(opts.reveal_secrets),
            format: opts.format,
            color: opts.color,
        })
    }

    /// Reads `source` to its end through the driver and writes the rest of the report.
    pub fn read(
        mut self,
        source: Source,
        plan: Plan,
        out: &mut dyn Write,
    ) -> Result<Summary, ReportError> {
        let ran = pipeline::run(
            source,
            self.config,
            plan,
            &mut Writing {
                c: &mut self.c,
                out: &mut *out,
            },
        )?;
        if let Some(e) = self.c.write_err.take() {
            return Err(e);
        }
        self.c.summary.warnings.extend(ran.warnings);
        let inputs: &dyn Inputs = match &ran.source {
            Source::Files(f) => f,
            #[cfg(feature = "live")]
            Source::Live(l) => &**l,
        };
        write_end(self.c, ran.stats, self.format, self.color, inputs, out)
    }
}

/// Writes what comes after the streamed part: the spooled arrays and the summary (JSON,
/// NDJSON) or the whole text report.
fn write_end(
    c: Collector<'_>,
    stats: Stats,
    format: Format,
    color: bool,
    inputs: &dyn Inputs,
    out: &mut dyn Write,
) -> Result<Summary, ReportError> {
    let Collector {
        mut summary,
        connections,
        anomalies,
        spools,
        mut shown,
        hidden,
        groups,
        stream_text,
        direct,
        ..
    } = c;
    let direct = direct.as_deref();
    summary.stats = stats;
    summary.warnings.extend(inputs.warnings());
    summary
        .warnings
        .extend(analysis_warnings(&summary.stats, inputs));
    match format {
        Format::Json => {
            if let Some((hs, fs)) = spools {
                write!(out, "],\"handshakes\":[")?;
                hs.copy_into(out, direct)?;
                write!(out, "],\"findings\":[")?;
                fs.copy_into(out, direct)?;
            }
            write!(out, "],\"connections\":[")?;
            if let Some(sp) = connections {
                sp.copy_into(out, direct)?;
            }
            write!(out, "]")?;
            write!(out, ",\"anomalies\":")?;
            write_value(out, &anomalies)?;
            write!(out, ",\"inputs\":")?;
            inputs.write_json(out)?;
            write!(out, ",\"merged\":{}", inputs.merged())?;
            write!(out, ",\"summary\":")?;
            write_value(out, &summary)?;
            writeln!(out, "}}")?;
        }
        Format::Ndjson => {
            write!(out, "{{\"type\":\"summary\",\"inputs\":")?;
            inputs.write_json(out)?;
            write!(out, ",\"merged\":{}", inputs.merged())?;
            write!(out, ",\"summary\":")?;
            write_value(out, &summary)?;
            writeln!(out, "}}")?;
        }
        Format::Text => {
            shown.sort_by_key(|a| a.handshake.id);
            let text = TextReport {
                summary: &summary,
                inputs,
                shown: &shown,
                hidden,
                groups: &groups,
                style: Style { color },
                streamed: stream_text.is_some(),
            };
            text.write(out)?;
        }
    }
    out.flush()?;
    Ok(summary)
}

/// Reads the files, analyses them, and writes the report to `out`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> Result<Summary, ReportError> {
    run_selected(paths, opts, &|_| true, out)
}

/// [`run`], listing only the handshakes (and their findings) that `keep` accepts; the summary
/// still counts every one. `authscope export --format json` with `--handshake` or `--filter`.
pub fn run_selected(
    paths: &[PathBuf],
    opts: &Options,
    keep: &dyn Fn(&Analysed) -> bool,
    out: &mut dyn Write,
) -> Result<Summary, ReportError> {
    let source = MergedSource::open(paths)?.merged(opts.merge);
    let report = Report::start_selected(opts, Box::new(keep), out)?;
    report.read(Source::Files(source), opts.plan, out)
}

/// What the analysis could not use, by the first packet concerned (numbered in its capture,
/// named with its file when there are several).
fn analysis_warnings(st: &Stats, inputs: &dyn Inputs) -> Vec<String> {
    let file = |input: u32| {
        if inputs.captures() > 1 {
            inputs
                .capture_name(input)
                .map(|n| format!("{n}: "))
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut out = Vec::new();
    if let Some(u) = st.net.first_unknown_link {
        out.push(format!(
            "{}packet {}: link type {} is not supported ({} frames skipped)",
            file(u.input),
            u.frame,
            u.link_type,
            st.net.unknown_link
        ));
    }
    if let Some(n) = st.first_time_went_backwards {
        out.push(format!(
            "{}packet {n}: earlier than the packet before it ({} such packets in all)",
            file(st.first_time_went_backwards_input.unwrap_or_default()),
            st.time_went_backwards
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_keeps_its_buffer_at_its_size() {
        let mut spool = Spool::new().unwrap();
        // Items of up to a quarter of the buffer, so that some cross the line each time.
        let item: String = "x".repeat(SPOOL_BUFFER / 4 - 16);
        let mut expected = Vec::new();
        for n in 0..40 {
            let s = format!("{n}{item}");
            spool.push(&s).unwrap();
            assert!(spool.pending.capacity() <= SPOOL_BUFFER, "grew at item {n}");
            expected.push(s);
        }
        let mut out = Vec::new();
        spool.copy_into(&mut out, None).unwrap();
        let back: Vec<String> = serde_json::from_slice(&[b"[", &out[..], b"]"].concat()).unwrap();
        assert_eq!(back, expected);
    }
}
