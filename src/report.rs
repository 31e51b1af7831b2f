//! Stage 8 (first face): the report, as a text summary, NDJSON lines or the JSON document
//! ([`crate::document`]).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::capture::{CaptureError, MergedSource};
use crate::diagnose::{is_symptom, Finding, Severity};
use crate::document::{self, DocumentOptions, Inputs, JsonDocument, ReadError, Tally, Writer};
use crate::handshake::{Outcome, TimelineWhat};
use crate::pipeline::{Analysed, Config, Output, Plan, RunError, Source};
use crate::present::{clock, human_delta, rfc3339};
use crate::shown::shown;

pub use crate::document::{ExchangeFilter, Keep, Summary, SCHEMA};

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
    /// Elastic Common Schema documents, a line each: a handshake's as it completes and one
    /// for each of its findings ([`crate::document::ecs`]); the input's warnings last.
    Ecs,
    /// Zeek `ntlm.log` and `kerberos.log` records, a line each ([`crate::document::zeek`]).
    Zeek,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Format,
    /// Show passwords, hashes and tokens as captured.
    pub reveal_secrets: bool,
    pub config: Config,
    /// Text: colour the output (the caller decides: a terminal, and NO_COLOR unset).
    pub color: bool,
    /// Text: the columns lines wrap at (the terminal's width; 80 when `None`).
    pub width: Option<usize>,
    /// Text: a block for every handshake, not only those with findings or failures.
    pub all_handshakes: bool,
    /// JSON: which exchanges to list.
    pub exchanges: ExchangeFilter,
    /// Text: print each handshake's block as soon as it completes (live capture), and only
    /// the findings and counters at the end.
    pub stream_handshakes: bool,
    /// JSON: what chose the handshakes listed (written as `"selection"`), when not all are.
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
    /// TLS key logs read beside the files (`--keylog`).
    pub key_logs: Vec<PathBuf>,
    /// The server's records joined to the handshakes (`--server-log`, `--events`).
    pub server_logs: crate::capture::serverlog::ServerLogPaths,
}

/// The columns the text report wraps at: the terminal's, within reason.
fn text_width(width: Option<usize>) -> usize {
    width.unwrap_or(80).clamp(60, 400)
}

/// Text reports show every handshake up to this many; past it, only those with a problem,
/// and at most this many of those (unless `all_handshakes`), so the report's memory stays
/// bounded on any capture.
const TEXT_BLOCKS: usize = 100;
/// ...and at most this much of them, about: handshakes of many large legs are counted past
/// it, so the text report's memory is bounded whatever they hold.
const TEXT_BYTES: usize = 32 << 20;
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

impl From<ReadError> for ReportError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Run(e) => e.into(),
            ReadError::Write(e) => ReportError::Write(e),
        }
    }
}

impl From<io::Error> for ReportError {
    fn from(e: io::Error) -> Self {
        ReportError::Write(e)
    }
}

impl From<serde_json::Error> for ReportError {
    fn from(e: serde_json::Error) -> Self {
        ReportError::Json(e)
    }
}

/// The text report or the NDJSON lines being written.
struct Plain<'k> {
    /// Which handshakes (and their findings) are listed.
    keep: Keep<'k>,
    tally: Tally,
    reveal: bool,
    /// Text: the handshakes to show (healthy ones only while few).
    shown: Vec<Analysed>,
    /// Handshakes not kept for a block.
    hidden: u64,
    /// What the kept blocks hold, about ([`crate::handshake::Handshake::approx_bytes`]).
    shown_bytes: usize,
    all_handshakes: bool,
    /// Text: findings by code.
    groups: BTreeMap<&'static str, Group>,
    /// NDJSON: a line per handshake as it completes.
    ndjson: bool,
    /// ECS: documents per handshake and finding as it completes.
    ecs: Option<crate::document::ecs::Ecs>,
    /// Zeek: records per handshake as it completes and per KDC exchange.
    zeek: Option<crate::document::zeek::Zeek>,
    /// Flush each line (a live capture's report).
    flush_lines: bool,
    /// Text: print each block as its handshake completes, in this style.
    stream_text: Option<Style>,
    /// Text: colour the report.
    color: bool,
    width: usize,
}

impl Writer for Plain<'_> {
    fn take(&mut self, o: Output, out: &mut dyn Write) {
        self.tally.summary.count(&o);
        let mut a = match o {
            Output::Handshake(a) => a,
            Output::Finding(f) => return self.connection_finding(&f, out),
            Output::Wire(m) => {
                if let Some(zeek) = &mut self.zeek {
                    let r = zeek.wire(&m, out).and_then(|()| self.flush_line(out));
                    self.tally.check(r);
                }
                return;
            }
            _ => return,
        };
        if !(self.keep)(&a) {
            return;
        }
        if self.reveal {
            a.handshake.reveal_secrets();
        }
        if let Some(zeek) = &mut self.zeek {
            let r = zeek.write_handshake(&a, out);
            let r = r.and_then(|()| self.flush_line(out));
            self.tally.check(r);
        } else if let Some(ecs) = &self.ecs {
            let r = ecs.write_handshake(&a, out);
            let r = r.and_then(|()| self.flush_line(out));
            self.tally.check(r);
        } else if self.ndjson {
            self.tally.check(write_line(out, "handshake", &*a));
        } else if let Some(style) = self.stream_text {
            self.group(&a);
            let r = style.handshake(out, &a, None).and_then(|_| out.flush());
            self.tally.check(r);
        } else {
            self.keep_for_text(*a);
        }
    }

    fn tally(&mut self) -> &mut Tally {
        &mut self.tally
    }

    fn finish(mut self, inputs: &dyn Inputs, out: &mut dyn Write) -> io::Result<Summary> {
        if let Some(zeek) = &mut self.zeek {
            zeek.finish(out)?;
            out.flush()?;
            return Ok(self.tally.summary);
        }
        if let Some(ecs) = &self.ecs {
            for p in inputs.problems() {
                ecs.write_input_error(&p, out)?;
            }
            out.flush()?;
            return Ok(self.tally.summary);
        }
        if self.ndjson {
            write!(out, "{{\"type\":\"summary\",\"inputs\":")?;
            inputs.write_json(out)?;
            write!(out, ",\"merged\":{}", inputs.merged())?;
            document::write_summary(out, &self.tally.summary)?;
            return Ok(self.tally.summary);
        }
        self.shown.sort_by_key(|a| a.handshake.id);
        let text = TextReport {
            summary: &self.tally.summary,
            inputs,
            shown: &self.shown,
            hidden: self.hidden,
            groups: &self.groups,
            style: Style {
                color: self.color,
                width: self.width,
            },
            streamed: self.stream_text.is_some(),
        };
        text.write(out)?;
        out.flush()?;
        Ok(self.tally.summary)
    }
}

impl Plain<'_> {
    /// Flushes what was written when each line must go out as it is decided (a live capture).
    fn flush_line(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.flush_lines {
            out.flush()
        } else {
            Ok(())
        }
    }

    /// A finding about connections: a line of its own in NDJSON, in the findings of the
    /// text.
    fn connection_finding(&mut self, f: &Finding, out: &mut dyn Write) {
        if let Some(ecs) = &self.ecs {
            let r = ecs.write_connection_finding(f, out);
            self.tally.check(r);
        } else if self.ndjson {
            self.tally.check(write_line(out, "finding", f));
        } else if self.zeek.is_some() {
            // Zeek's logs have no findings.
        } else {
            let subject = f.subject.clone().unwrap_or_default();
            self.group_one(f, None, || subject);
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
            self.group_one(f, Some(a.handshake.id), || target(&a.handshake));
        }
    }

    /// Text: counts one finding, of handshake `id` or about connections.
    fn group_one(&mut self, f: &Finding, id: Option<u64>, target: impl FnOnce() -> String) {
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
            if let Some(id) = id.filter(|_| v.examples.len() < EXAMPLES) {
                v.examples.push(id);
            }
            return;
        }
        if g.variants.len() < EXAMPLES {
            g.variants.push(Variant {
                summary: f.summary.clone(),
                next_step: f.next_step.clone(),
                target: target(),
                count: 1,
                examples: id.into_iter().collect(),
            });
        } else {
            g.more = g.more.saturating_add(1);
        }
    }
}

fn has_problem(a: &Analysed) -> bool {
    a.handshake.outcome != Outcome::Success
        || a.findings.iter().any(|f| f.severity >= Severity::Warning)
}

/// One NDJSON line: `{"type":KIND, ...item}`, flushed.
fn write_line<T: serde::Serialize>(
    out: &mut dyn Write,
    kind: &'static str,
    item: &T,
) -> io::Result<()> {
    #[derive(serde::Serialize)]
    struct Line<'a, T> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        item: &'a T,
    }
    document::write_value(out, &Line { kind, item })?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// A report being made: started (the JSON document's opening is written then), then read
/// by the driver from any source ([`Report::read`]).
pub struct Report<'k> {
    kind: Kind<'k>,
    config: Config,
}

enum Kind<'k> {
    Json(Box<JsonDocument<'k>>),
    Plain(Box<Plain<'k>>),
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Json(_) => "Report (JSON)",
            Kind::Plain(_) => "Report",
        })
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
        let config = opts.config.revealing(opts.reveal_secrets);
        if opts.format == Format::Json {
            let doc = DocumentOptions {
                reveal_secrets: opts.reveal_secrets,
                exchanges: opts.exchanges,
                selection: opts.selection.clone(),
                direct: opts.direct.clone(),
            };
            let doc = JsonDocument::start(&doc, keep, out)?;
            return Ok(Report {
                kind: Kind::Json(Box::new(doc)),
                config,
            });
        }
        let plain = Plain {
            keep,
            tally: Tally::default(),
            reveal: opts.reveal_secrets,
            shown: Vec::new(),
            hidden: 0,
            shown_bytes: 0,
            all_handshakes: opts.all_handshakes,
            groups: BTreeMap::new(),
            ndjson: opts.format == Format::Ndjson,
            ecs: (opts.format == Format::Ecs).then(crate::document::ecs::Ecs::default),
            zeek: (opts.format == Format::Zeek).then(crate::document::zeek::Zeek::default),
            flush_lines: opts.stream_handshakes,
            stream_text: (opts.format == Format::Text && opts.stream_handshakes).then_some(Style {
                color: opts.color,
                width: text_width(opts.width),
            }),
            color: opts.color,
            width: text_width(opts.width),
        };
        Ok(Report {
            kind: Kind::Plain(Box::new(plain)),
            config,
        })
    }

    /// Names the files read in what the report says of each handshake (ECS documents).
    pub fn with_inputs(mut self, source: &MergedSource) -> Self {
        if let Kind::Plain(plain) = &mut self.kind {
            if let Some(ecs) = &mut plain.ecs {
                *ecs = crate::document::ecs::Ecs::of(source);
            }
        }
        self
    }

    /// Reads `source` to its end through the driver and writes the rest of the report.
    pub fn read(
        self,
        source: Source,
        plan: Plan,
        out: &mut dyn Write,
    ) -> Result<Summary, ReportError> {
        let config = self.config;
        Ok(match self.kind {
            Kind::Json(doc) => document::read(*doc, source, config, plan, out)?,
            Kind::Plain(plain) => document::read(*plain, source, config, plan, out)?,
        })
    }
}

/// Reads the files, analyses them, and writes the report to `out`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> Result<Summary, ReportError> {
    let source = MergedSource::open(paths)?
        .merged(opts.merge)
        .with_key_logs(&opts.key_logs)?
        .with_server_logs(&opts.server_logs)?;
    let report = Report::start(opts, out)?.with_inputs(&source);
    report.read(Source::Files(source), opts.plan, out)
}
