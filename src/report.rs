//! Stage 8 (first face): the report, as a text summary or a JSON document.
//!
//! The JSON document is written as the analysis goes: exchanges are streamed out as they
//! complete, so memory does not grow with the capture; connections (small) are kept and written
//! at the end, sorted by id.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::capture::{CaptureError, MergedSource};
use crate::http::{Exchange, Header};
use crate::pipeline::{Analyzer, Config, Connection, Ending, Output, Stats};

/// Version of the JSON document; changes when a field changes meaning or goes away.
pub const SCHEMA: &str = "authscope/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Format,
    /// Show passwords, hashes and tokens as captured.
    pub reveal_secrets: bool,
    pub config: Config,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("writing the report: {0}")]
    Write(#[from] io::Error),
    #[error("writing the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Header fields whose values carry credentials or session secrets.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// A header value with its secret part replaced, keeping what a reader needs: the scheme of a
/// credential (RFC 9110 11.4) and the size of what was hidden.
pub fn redact_value(name: &str, value: &str) -> String {
    if !SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
        return value.to_owned();
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("authorization") {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if rest.is_empty() {
            return scheme.to_owned();
        }
        return format!("{scheme} <redacted {} chars>", rest.len());
    }
    format!("<redacted {} chars>", value.len())
}

fn redacted(headers: &[Header], reveal: bool) -> Vec<Header> {
    headers
        .iter()
        .map(|h| Header {
            name: h.name.clone(),
            value: if reveal {
                h.value.clone()
            } else {
                redact_value(&h.name, &h.value)
            },
        })
        .collect()
}

/// The exchange as the report shows it (secrets redacted unless revealed).
pub fn present_exchange(x: &Exchange, reveal: bool) -> Exchange {
    let mut x = x.clone();
    if let Some(r) = x.request.as_mut() {
        r.headers = redacted(&r.headers, reveal);
    }
    if let Some(r) = x.response.as_mut() {
        r.headers = redacted(&r.headers, reveal);
    }
    for r in &mut x.interim {
        r.headers = redacted(&r.headers, reveal);
    }
    x
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
    pub warnings: Vec<String>,
}

/// Takes the analyzer's outputs: counts them, and streams the JSON exchanges.
struct Collector {
    summary: Summary,
    connections: Vec<Connection>,
    anomalies: Vec<serde_json::Value>,
    first_exchange: bool,
    write_err: Option<ReportError>,
    json: bool,
    reveal: bool,
}

/// HTTP anomalies listed in the JSON document; past this they are only counted.
const MAX_LISTED_ANOMALIES: usize = 10_000;

impl Collector {
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
                if self.json {
                    self.connections.push(*c);
                }
            }
            Output::Exchange(x) => {
                summary.exchanges = summary.exchanges.saturating_add(1);
                for r in x.interim.iter().chain(x.response.as_ref()) {
                    let n = summary.statuses.entry(r.status).or_default();
                    *n = n.saturating_add(1);
                }
                if self.json && self.write_err.is_none() {
                    let shown = present_exchange(&x, self.reveal);
                    let sep = if self.first_exchange { "" } else { "," };
                    self.first_exchange = false;
                    let r = out
                        .write_all(sep.as_bytes())
                        .map_err(ReportError::from)
                        .and_then(|_| {
                            serde_json::to_writer(&mut *out, &shown).map_err(ReportError::from)
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
        }
    }
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

/// Reads the files, analyses them, and writes the report to `out`.
pub fn run(paths: &[PathBuf], opts: &Options, out: &mut dyn Write) -> Result<Summary, ReportError> {
    let mut source = MergedSource::open(paths)?;
    let mut analyzer = Analyzer::new(opts.config);
    let json = opts.format == Format::Json;
    let mut c = Collector {
        summary: Summary::default(),
        connections: Vec::new(),
        anomalies: Vec::new(),
        first_exchange: true,
        write_err: None,
        json,
        reveal: opts.reveal_secrets,
    };
    if json {
        write!(out, "{{\"schema\":\"{SCHEMA}\",\"exchanges\":[")?;
    }
    while let Some(frame) = source.next_frame() {
        analyzer.push(&frame, &mut |o| c.take(o, out));
        if let Some(e) = c.write_err.take() {
            return Err(e);
        }
    }
    analyzer.finish(&mut |o| c.take(o, out));
    if let Some(e) = c.write_err.take() {
        return Err(e);
    }
    let Collector {
        mut summary,
        mut connections,
        anomalies,
        ..
    } = c;
    summary.stats = analyzer.stats();
    for f in source.files() {
        for w in f.warnings() {
            summary
                .warnings
                .push(format!("{}: packet {}: {}", w.file, w.packet, w.message));
        }
    }
    summary.warnings.extend(analysis_warnings(&summary.stats));
    if json {
        connections.sort_by_key(|c| c.id);
        write!(out, "],\"connections\":")?;
        serde_json::to_writer(&mut *out, &connections)?;
        write!(out, ",\"anomalies\":")?;
        serde_json::to_writer(&mut *out, &anomalies)?;
        let inputs: Vec<_> = source.files().iter().map(|f| f.stats()).collect();
        write!(out, ",\"inputs\":")?;
        serde_json::to_writer(&mut *out, &inputs)?;
        write!(out, ",\"summary\":")?;
        serde_json::to_writer(&mut *out, &summary)?;
        writeln!(out, "}}")?;
    } else {
        write_text(&summary, &source, out)?;
    }
    out.flush()?;
    Ok(summary)
}

/// What the analysis could not use, by the first packet concerned (numbered over all inputs,
/// as Wireshark numbers a merged file).
fn analysis_warnings(st: &Stats) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(u) = st.net.first_unknown_link {
        out.push(format!(
            "packet {}: link type {} is not supported ({} frames skipped)",
            u.frame, u.link_type, st.net.unknown_link
        ));
    }
    if let Some(n) = st.first_time_went_backwards {
        out.push(format!(
            "packet {n}: earlier than the packet before it ({} such packets in all)",
            st.time_went_backwards
        ));
    }
    out
}

fn write_text(s: &Summary, source: &MergedSource, out: &mut dyn Write) -> io::Result<()> {
    let st = &s.stats;
    for f in source.files() {
        let fs = f.stats();
        writeln!(
            out,
            "{}: {} packets, {} bytes ({})",
            fs.path, fs.packets, fs.bytes_captured, fs.format
        )?;
    }
    if let (Some(a), Some(b)) = (st.first, st.last) {
        writeln!(
            out,
            "span:        {a} .. {b} ({:.3} s)",
            b.since(a) as f64 / 1e9
        )?;
    }
    writeln!(
        out,
        "packets:     {} ({} TCP segments)",
        st.packets, st.net.tcp_segments
    )?;
    let ended: Vec<String> = s.ended.iter().map(|(k, v)| format!("{v} {k}")).collect();
    writeln!(
        out,
        "connections: {} ({} HTTP; ended: {})",
        s.connections,
        s.http_connections,
        if ended.is_empty() {
            "-".into()
        } else {
            ended.join(", ")
        }
    )?;
    writeln!(
        out,
        "http:        {} requests, {} responses, {} exchanges",
        st.http.requests, st.http.responses, s.exchanges
    )?;
    if !s.statuses.is_empty() {
        let codes: Vec<String> = s
            .statuses
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        writeln!(out, "statuses:    {}", codes.join(", "))?;
    }
    let mut notes = Vec::new();
    if st.net.truncated_segments > 0 {
        notes.push(format!(
            "{} segments cut by the snap length",
            st.net.truncated_segments
        ));
    }
    if st.tcp.gaps > 0 {
        notes.push(format!(
            "{} gaps ({} bytes never seen)",
            st.tcp.gaps, st.tcp.gap_bytes
        ));
    }
    if st.net.malformed > 0 {
        notes.push(format!("{} malformed frames", st.net.malformed));
    }
    if st.http.malformed_heads > 0 {
        notes.push(format!("{} malformed HTTP heads", st.http.malformed_heads));
    }
    // Every cap is counted: say which were hit (the JSON summary has each counter).
    let limits: Vec<String> = [
        (st.tcp.evicted_connections, "connections evicted"),
        (st.tcp.buffer_limit_hits, "out-of-order buffers full"),
        (st.http.head_cap_hits, "HTTP heads too large"),
        (st.http.pending_cap_hits, "pipelined requests unpaired"),
        (st.http.interim_cap_hits, "interim responses dropped"),
        (st.net.ipv4_fragments_dropped, "IPv4 fragments dropped"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !limits.is_empty() {
        notes.push(format!("limits hit: {}", limits.join(", ")));
    }
    for n in notes {
        writeln!(out, "note:        {n}")?;
    }
    for w in &s.warnings {
        writeln!(out, "warning:     {w}")?;
    }
    Ok(())
}
