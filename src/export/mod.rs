//! Stage 8 (third face): exports of the model for tickets, chats, SIEMs and scripts.
//!
//! `authscope export FILE... --format F -o OUT [--handshake ID]... [--where EXPR]`: every
//! format reads the same [`Analysed`] handshakes as the report and the UI, chosen by the UI's
//! filter language ([`crate::filter`]) and by id, and redacts secrets unless
//! `--reveal-secrets` (the model's [`crate::auth::Secret`]s redact themselves; revealing is
//! the one deliberate act, done here once per handshake).
//!
//! | format | file | what |
//! | --- | --- | --- |
//! | `json` | [`json`] | the report's JSON document (`"schema": "authscope/1"`), schema in `schema/` |
//! | `ndjson` | [`ndjson`] | one flat object a handshake, a line each |
//! | `csv` | [`csv`] | one row a handshake |
//! | `mermaid` | [`mermaid`] | Markdown with a sequence diagram a handshake |
//! | `html` | [`html`] | one self-contained page: findings, SVG timelines, decoded legs |
//! | `pcapng` | [`pcapng`] | the selected handshakes' connections, legs named in packet comments |
//!
//! Like the report, exports keep memory flat: handshakes are written (or spooled to a
//! temporary file) as the analyzer hands them out, in that order.

pub use crate::present::legs::{request_label, response_label};

pub mod csv;
pub mod ecs;
pub mod zeek;
pub mod html;
pub mod json;
pub mod mermaid;
pub mod ndjson;
pub mod pcapng;
mod slice_keys;
pub mod token_mask;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;

use crate::capture::{CaptureError, MergedSource};
use crate::diagnose::Finding;
use crate::document::ReadError;
use crate::filter::Filter;
use crate::handshake::{Handshake, Leg, TimelineEntry};
use crate::pipeline::{Analysed, Config, Output, Plan, RunError, Source};
use crate::present::{clock, human_delta};

/// The formats of `authscope export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
    Mermaid,
    Html,
    Pcapng,
    Ecs,
    Zeek,
}

impl Format {
    /// Every format with its name, as `--format` takes it.
    pub const ALL: [(Format, &'static str); 8] = [
        (Format::Json, "json"),
        (Format::Ndjson, "ndjson"),
        (Format::Csv, "csv"),
        (Format::Mermaid, "mermaid"),
        (Format::Html, "html"),
        (Format::Pcapng, "pcapng"),
        (Format::Ecs, "ecs"),
        (Format::Zeek, "zeek"),
    ];

    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("json", |(_, n)| n)
    }

    /// The format `--format` names `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(f, _)| *f)
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mermaid => "md",
            Format::Ecs => "ndjson",
            Format::Zeek => "log",
            other => other.name(),
        }
    }

    /// The format a file name asks for by its extension (`.md` and `.mmd` are Mermaid).
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "mmd" | "mermaid" => Some(Format::Mermaid),
            "htm" | "html" => Some(Format::Html),
            "jsonl" => Some(Format::Ndjson),
            e => Format::from_name(e),
        }
    }
}

/// Options of one export.
#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// Show passwords, hashes and tokens as captured.
    pub reveal_secrets: bool,
    pub config: Config,
    pub selection: Selection,
    /// Read several files as one capture in time order (`--merge`) rather than each on its own.
    pub merge: bool,
    /// The threads that analyse the files (the pcapng slice's passes over the frames run on
    /// one, whatever this says).
    pub plan: Plan,
    /// TLS key logs read beside the files (`--keylog`).
    pub key_logs: Vec<PathBuf>,
    /// The server's records joined to the handshakes (`--server-log`, `--events`).
    pub server_logs: crate::capture::serverlog::ServerLogPaths,
}

impl Options {
    /// The input, as these options read it.
    pub(crate) fn open(&self, paths: &[PathBuf]) -> Result<MergedSource, CaptureError> {
        MergedSource::open(paths)?
            .merged(self.merge)
            .with_key_logs(&self.key_logs)?
            .with_server_logs(&self.server_logs)
    }
}

/// Which handshakes an export takes: those named by id or by where they start (all when none
/// is named), that the filter also matches.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub ids: BTreeSet<u64>,
    pub starts: BTreeSet<Start>,
    /// The filter as typed (the UI's language), and parsed.
    pub filter_text: String,
    pub filter: Filter,
}

/// A handshake named by where it starts: its client address and the frame of its first leg.
///
/// An id depends on when the analysis decided the handshake; a live capture decides some
/// earlier than a reading of its file does (its clock moves on with the wall clock on a quiet
/// link, so a handshake can end before a late leg that the file's reading joins to it). Frame
/// numbers are the same in both, so a start still names the handshake in the file: the one
/// that has a leg in that frame, from that client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Start {
    pub client: IpAddr,
    pub frame: u64,
}

impl Start {
    /// Where `h` starts; `None` for a handshake without a leg with a frame.
    pub fn of(h: &Handshake) -> Option<Start> {
        let frame = leg_frames(h).next()?;
        Some(Start {
            client: h.client,
            frame,
        })
    }
}

/// The frames of a handshake's requests and responses, in leg order.
fn leg_frames(h: &Handshake) -> impl Iterator<Item = u64> + '_ {
    h.legs
        .iter()
        .flat_map(|l| {
            [
                l.request.as_ref().map(|r| r.frame),
                l.response.as_ref().map(|r| r.frame),
            ]
        })
        .flatten()
        .filter(|&f| f != 0)
}

impl Selection {
    /// From `--handshake` ids and a `--where` expression.
    pub fn new(ids: impl IntoIterator<Item = u64>, filter: Option<&str>) -> Selection {
        let filter_text = filter.unwrap_or_default().trim().to_owned();
        Selection {
            ids: ids.into_iter().collect(),
            starts: BTreeSet::new(),
            filter: Filter::parse(&filter_text),
            filter_text,
        }
    }

    /// The handshakes that start at `starts` (a live capture's, read again from its file).
    pub fn starting_at(starts: impl IntoIterator<Item = Start>) -> Selection {
        Selection {
            starts: starts.into_iter().collect(),
            ..Selection::default()
        }
    }

    pub fn is_all(&self) -> bool {
        self.ids.is_empty() && self.starts.is_empty() && self.filter.is_empty()
    }

    pub fn keeps(&self, a: &Analysed) -> bool {
        let named = (self.ids.is_empty() && self.starts.is_empty())
            || self.ids.contains(&a.handshake.id)
            || self.starts_of(a).next().is_some();
        named && self.filter.matches(a)
    }

    /// The starts of the selection that name `a`.
    fn starts_of<'a>(&'a self, a: &'a Analysed) -> impl Iterator<Item = Start> + 'a {
        let client = a.handshake.client;
        leg_frames(&a.handshake)
            .map(move |frame| Start { client, frame })
            .filter(|s| self.starts.contains(s))
    }

    /// The selection as the JSON document records it, when it is not everything.
    pub fn describe(&self) -> Option<serde_json::Value> {
        if self.is_all() {
            return None;
        }
        let mut m = serde_json::Map::new();
        if !self.ids.is_empty() {
            m.insert("handshakes".into(), serde_json::json!(self.ids));
        }
        if !self.starts.is_empty() {
            let starts: Vec<serde_json::Value> = self
                .starts
                .iter()
                .map(|s| serde_json::json!({"client": s.client.to_string(), "frame": s.frame}))
                .collect();
            m.insert("starts".into(), serde_json::Value::Array(starts));
        }
        if !self.filter.is_empty() {
            m.insert("filter".into(), serde_json::json!(self.filter_text));
        }
        Some(serde_json::Value::Object(m))
    }
}

/// What of a selection's ids and starts the input had, for the notes on those it had not,
/// and the first handshakes of the input, for an error that says what there is to select.
#[derive(Debug, Default)]
pub(crate) struct Found {
    ids: BTreeSet<u64>,
    starts: BTreeSet<Start>,
    seen: Vec<String>,
}

/// Handshakes an error lists when a selection keeps none.
const LISTED: usize = 20;

impl Found {
    /// Records a handshake the selection kept.
    pub(crate) fn add(&mut self, sel: &Selection, a: &Analysed) {
        self.ids.insert(a.handshake.id);
        self.starts.extend(sel.starts_of(a));
    }

    /// Records a handshake of the input, kept or not.
    pub(crate) fn saw(&mut self, a: &Analysed) {
        if self.seen.len() < LISTED {
            let h = &a.handshake;
            self.seen.push(format!(
                "#{} {} {} {} -> {} {}",
                h.id,
                h.scheme,
                h.user.as_deref().unwrap_or("-"),
                h.client_socket,
                h.host.as_deref().unwrap_or("-"),
                h.outcome.label()
            ));
        }
    }

    /// Each id that named no handshake.
    pub(crate) fn missing(&self, sel: &Selection) -> Vec<String> {
        sel.ids
            .difference(&self.ids)
            .map(|id| format!("--handshake {id}: no such handshake"))
            .collect()
    }

    /// A note for each start that named no handshake: the live UI's selection, of a capture
    /// that may have been cut since, is not refused for it.
    pub(crate) fn notes(&self, sel: &Selection) -> Vec<String> {
        sel.starts
            .difference(&self.starts)
            .map(|s| {
                format!(
                    "the handshake of {} at frame {}: not in the input (or not matched by the filter)",
                    s.client, s.frame
                )
            })
            .collect()
    }

    /// The summary's part of what was found.
    pub(crate) fn into_summary(self, sel: &Selection, summary: &mut Summary) {
        summary.missing = self.missing(sel);
        summary.notes.extend(self.notes(sel));
        summary.existing = self.seen;
    }
}

/// What an export wrote, for the command line to tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Handshakes in the input.
    pub handshakes: u64,
    /// Handshakes written.
    pub selected: u64,
    /// Packets written (pcapng).
    pub packets: u64,
    /// Things worth telling: a note about the filter.
    pub notes: Vec<String>,
    /// The ids and starts of the selection that named no handshake.
    pub missing: Vec<String>,
    /// The first handshakes of the input, one line each, for an error when the selection
    /// kept none or named one that is not there.
    pub existing: Vec<String>,
    /// Findings about connections no handshake holds, when every handshake is exported.
    pub connection_findings: Vec<Finding>,
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("writing the export: {0}")]
    Write(#[from] io::Error),
    #[error("writing the export: {0}")]
    Json(#[from] serde_json::Error),
    #[error("writing the export: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("{0}")]
    Threads(io::Error),
    /// The selection named a handshake that is not there, or kept none: nothing is written.
    #[error("{}", selection_error(.0))]
    Selection(Box<Summary>),
}

fn selection_error(s: &Summary) -> String {
    let mut text = s.missing.join("; ");
    match s.handshakes {
        0 => text.push_str("; the input has no handshake"),
        n => {
            text.push_str(&format!("; the input has {n}: "));
            text.push_str(&s.existing.join(", "));
            if n > s.existing.len() as u64 {
                text.push_str(", ...");
            }
        }
    }
    text
}

impl From<RunError> for ExportError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Capture(e) => ExportError::Capture(e),
            RunError::Threads(e) => ExportError::Threads(e),
        }
    }
}

impl From<ReadError> for ExportError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Run(e) => e.into(),
            ReadError::Write(e) => ExportError::Write(e),
        }
    }
}

/// A format that takes handshakes one at a time, as the analyzer decides them.
pub(crate) trait HandshakeWriter {
    fn handshake(&mut self, a: &Analysed, out: &mut dyn Write) -> Result<(), ExportError>;
    /// Before the first: the names of the captures by `input`, when there are several.
    fn captures(&mut self, _names: Vec<String>) {}
    /// The input about to be read: by default, the names of its captures when there are
    /// several ([`HandshakeWriter::captures`]).
    fn inputs(&mut self, source: &MergedSource) {
        self.captures(source.capture_names());
    }
    /// After the last handshake, each finding about connections no handshake holds, when
    /// every handshake is exported.
    fn connection_finding(
        &mut self,
        _f: &Finding,
        _out: &mut dyn Write,
    ) -> Result<(), ExportError> {
        Ok(())
    }
    /// After the last handshake.
    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError>;
}

/// Reads the files, analyses them, and writes the export to `out`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> Result<Summary, ExportError> {
    run_into(paths, opts, out, None)
}

/// [`run`], with the file `out` writes to when there is one: the JSON export then has its
/// spooled arrays copied to it by the kernel (`document::DocumentOptions::direct`).
fn run_into(
    paths: &[PathBuf],
    opts: &Options,
    out: &mut dyn Write,
    direct: Option<std::sync::Arc<std::fs::File>>,
) -> Result<Summary, ExportError> {
    let sel = &opts.selection;
    let mut summary = match opts.format {
        Format::Json => json::write(paths, opts, out, direct)?,
        Format::Pcapng => pcapng::write(paths, opts, out)?,
        Format::Ndjson => stream(paths, opts, &mut ndjson::Ndjson, out)?,
        Format::Ecs => stream(paths, opts, &mut crate::document::ecs::Ecs::default(), out)?,
        Format::Zeek => stream(
            paths,
            opts,
            &mut crate::document::zeek::Zeek::default(),
            out,
        )?,
        Format::Csv => stream(paths, opts, &mut csv::Csv::new(), out)?,
        Format::Mermaid => stream(paths, opts, &mut mermaid::Mermaid::new(paths), out)?,
        Format::Html => stream(paths, opts, &mut html::Html::new(paths, opts)?, out)?,
    };
    summary.notes.extend(sel.filter.notes.iter().cloned());
    out.flush()?;
    let by_cli = !sel.ids.is_empty() || !sel.filter.is_empty();
    if !summary.missing.is_empty() || (by_cli && summary.selected == 0) {
        if summary.missing.is_empty() {
            let what = match sel.filter_text.as_str() {
                "" => "the selection".to_owned(),
                text => format!("--where {text:?}"),
            };
            summary.missing.push(format!("{what} keeps no handshake"));
        }
        return Err(ExportError::Selection(Box::new(summary)));
    }
    Ok(summary)
}

/// [`run`] into a file (`-` is standard output). The file is written beside its final name
/// and renamed into place, so a failed export leaves no half file behind.
pub fn to_path(
    paths: &[PathBuf],
    opts: &Options,
    output: &std::path::Path,
) -> Result<Summary, ExportError> {
    if output.as_os_str() == "-" {
        let stdout = io::stdout();
        let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
        return run(paths, opts, &mut out);
    }
    let named = |e: io::Error| {
        // tempfile's errors end with the name of its own file; the user named `output`.
        let text = e.to_string();
        let text = text.split(" at path \"").next().unwrap_or_default();
        ExportError::Write(io::Error::new(
            e.kind(),
            format!("{}: {text}", output.display()),
        ))
    };
    // A device, a pipe or a symbolic link (`/dev/stdout`) is written through: renaming a file
    // over it would replace it.
    if std::fs::symlink_metadata(output).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(output)
            .map_err(named)?;
        let direct = file.try_clone().ok().map(std::sync::Arc::new);
        let mut out = io::BufWriter::with_capacity(1 << 16, file);
        let summary = run_into(paths, opts, &mut out, direct)?;
        out.flush().map_err(named)?;
        return Ok(summary);
    }
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(named)?;
    let direct = tmp.as_file().try_clone().ok().map(std::sync::Arc::new);
    let mut out = io::BufWriter::with_capacity(1 << 16, tmp);
    let summary = run_into(paths, opts, &mut out, direct)?;
    let tmp = out.into_inner().map_err(|e| named(e.into_error()))?;
    tmp.persist(output).map_err(|e| named(e.error))?;
    Ok(summary)
}

/// Every handshake of the input, analysed, in the order the analyzer decides them; `each`
/// gets those the selection keeps (secrets revealed if asked), `conns` every connection as
/// it ends. Returns the handshakes seen and kept, and a note for each id that named none.
pub(crate) fn for_each_selected(
    paths: &[PathBuf],
    opts: &Options,
    each: &mut dyn FnMut(&Analysed) -> Result<(), ExportError>,
    conns: &mut dyn FnMut(&crate::pipeline::Connection),
) -> Result<Summary, ExportError> {
    for_each_in(opts.open(paths)?, opts, each, conns)
}

/// [`for_each_selected`] over a source already open; `conns` gets every connection of the
/// input as it ends.
fn for_each_in(
    source: MergedSource,
    opts: &Options,
    each: &mut dyn FnMut(&Analysed) -> Result<(), ExportError>,
    conns: &mut dyn FnMut(&crate::pipeline::Connection),
) -> Result<Summary, ExportError> {
    let mut summary = Summary::default();
    let mut found = Found::default();
    let mut err: Option<ExportError> = None;
    let all = opts.selection.is_all();
    let mut connection_findings = Vec::new();
    let mut take = |o: Output| {
        let mut a = match o {
            Output::Handshake(a) => a,
            Output::Finding(f) if all => return connection_findings.push(*f),
            Output::Connection(c) => return conns(&c),
            _ => return,
        };
        summary.handshakes = summary.handshakes.saturating_add(1);
        found.saw(&a);
        if err.is_some() || !opts.selection.keeps(&a) {
            return;
        }
        found.add(&opts.selection, &a);
        summary.selected = summary.selected.saturating_add(1);
        if opts.reveal_secrets {
            a.handshake.reveal_secrets();
        }
        if let Err(e) = each(&a) {
            err = Some(e);
        }
    };
    let config = opts.config.revealing(opts.reveal_secrets);
    crate::pipeline::run(Source::Files(source), config, opts.plan, &mut take)?;
    if let Some(e) = err {
        return Err(e);
    }
    found.into_summary(&opts.selection, &mut summary);
    summary.connection_findings = connection_findings;
    Ok(summary)
}

fn stream(
    paths: &[PathBuf],
    opts: &Options,
    w: &mut dyn HandshakeWriter,
    out: &mut dyn Write,
) -> Result<Summary, ExportError> {
    let source = opts.open(paths)?;
    w.inputs(&source);
    let summary = for_each_in(source, opts, &mut |a| w.handshake(a, out), &mut |_| {})?;
    for f in &summary.connection_findings {
        w.connection_finding(f, out)?;
    }
    w.finish(out)?;
    Ok(summary)
}

/// When the `n`th line of a drawn timeline happened: the first at its time of day, each
/// other after the one before it (`+1.2 ms`).
pub fn line_when(n: usize, e: &TimelineEntry) -> String {
    if n == 0 {
        clock(e.ts)
    } else {
        format!("+{}", human_delta(e.delta_ns))
    }
}

/// A leg's request line without the version (`GET /path`); empty when it has no request.
pub fn request_line(leg: &Leg) -> String {
    leg.request
        .as_ref()
        .map(|r| format!("{} {}{}", r.method, r.uri, leg.request_notes()))
        .unwrap_or_default()
}

/// The TCP event of a timeline line, in words.
pub fn tcp_label(k: &crate::handshake::ConnEventKind) -> String {
    k.to_string()
}

/// A default file name for an export of `ids` (or of a list when empty).
pub fn default_path(format: Format, ids: &[u64]) -> PathBuf {
    let stem = match ids {
        [one] => format!("authscope-handshake-{one}"),
        _ => "authscope-export".to_owned(),
    };
    PathBuf::from(format!("{stem}.{}", format.extension()))
}
