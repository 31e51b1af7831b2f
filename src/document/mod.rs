//! The JSON document (`"schema": "authscope/1"`) that `report --format json` and `export
//! --format json` write, and the summary that every report ends with.
//!
//! The document is written as the analysis goes: exchanges are streamed out as they complete,
//! so memory does not grow with the capture; connections, handshakes and findings are spooled
//! to temporary files as they end and copied in at the end. Its JSON Schema is
//! `schema/authscope-1.schema.json`.

pub mod ecs;
mod inputs;
mod spool;
pub mod zeek;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

use crate::auth::{AuthHeader, HeaderKind, RevealSecrets};
use crate::diagnose::{Finding, Severity};
use crate::handshake::{Outcome, SharedAuth};
use crate::http::{Exchange, Header};
use crate::json;
use crate::pipeline::{
    self, Analysed, Config, Connection, Ending, Output, Plan, RunError, Sink, Source, Stats,
};
use crate::present::redact::redact_exchange;
use crate::tls::{Decryption, TlsInfo};

pub use crate::json::SCHEMA;
pub use inputs::{inputs_of, Inputs, Problem};
use spool::Spool;

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
    pub fn keeps(self, x: &Exchange) -> bool {
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
) -> io::Result<()> {
    buf.clear();
    append_object_with(buf, object, key, extra)?;
    out.write_all(buf)
}

/// [`write_object_with`], appended to `buf`.
fn append_object_with<T: serde::Serialize, E: serde::Serialize>(
    buf: &mut Vec<u8>,
    object: &T,
    key: &str,
    extra: Option<&E>,
) -> io::Result<()> {
    let start = buf.len();
    json::extend(buf, object).map_err(io::Error::other)?;
    if let Some(extra) = extra {
        if buf.last() == Some(&b'}') {
            buf.pop();
            if buf.len() > start.saturating_add(1) {
                buf.push(b',');
            }
            json::extend(buf, key).map_err(io::Error::other)?;
            buf.push(b':');
            json::extend(buf, extra).map_err(io::Error::other)?;
            buf.push(b'}');
        }
    }
    Ok(())
}

/// What the analysis saw, for the summary and the exit status.
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
    /// TLS connections whose encrypted records were not decrypted, by server (its SNI, else
    /// its address): authentication inside them cannot be seen.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tls_undecrypted: BTreeMap<String, Undecrypted>,
    /// What the server's records gave (`--server-log`, `--events`): their files, the clock
    /// offsets, the failed logons they name, the records no handshake took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_logs: Option<Box<crate::handshake::server::ServerSummary>>,
}

/// TLS connections to one server that were not decrypted.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Undecrypted {
    pub connections: u64,
    /// Why, for the first of them.
    pub why: String,
}

/// Servers named in [`Summary::tls_undecrypted`]; the others are counted together.
const MAX_TLS_SERVERS: usize = 32;

/// Why a TLS connection was not decrypted, in words; `None` when it was (or had nothing
/// encrypted).
fn undecrypted(d: &Decryption) -> Option<String> {
    Some(match d {
        Decryption::NothingEncrypted | Decryption::Decrypted => return None,
        Decryption::NoKeys => "no key log given".to_owned(),
        Decryption::NoHello => "its TLS handshake was not captured".to_owned(),
        Decryption::NoKeyForClientRandom => "the key log has no key for it".to_owned(),
        Decryption::MissingSecret { label } => format!("the key log lacks its {label}"),
        Decryption::Unsupported { reason } => reason.clone(),
        Decryption::Failed { reason, .. } => {
            format!("a record did not decrypt ({reason}): a wrong key log?")
        }
    })
}

impl Summary {
    /// Counts one output.
    pub fn count(&mut self, o: &Output) {
        match o {
            Output::Connection(c) => {
                self.connections = self.connections.saturating_add(1);
                if c.http {
                    self.http_connections = self.http_connections.saturating_add(1);
                }
                let n = self.ended.entry(ending_name(c.ended)).or_default();
                *n = n.saturating_add(1);
                if let Some(t) = &c.tls {
                    self.tls(c, t);
                }
            }
            Output::Exchange(x, _) => {
                self.exchanges = self.exchanges.saturating_add(1);
                for r in x.interim.iter().chain(x.response.as_ref()) {
                    let n = self.statuses.entry(r.status).or_default();
                    *n = n.saturating_add(1);
                }
            }
            Output::HttpAnomaly { .. } => self.anomalies = self.anomalies.saturating_add(1),
            Output::Limit { .. } => self.limits = self.limits.saturating_add(1),
            Output::Handshake(a) => {
                self.handshakes = self.handshakes.saturating_add(1);
                // A scheme's name is the client's to choose: past a few dozen, the rest are
                // counted together.
                let mut scheme = a.handshake.scheme.to_string();
                if self.handshakes_by_scheme.len() >= MAX_SCHEMES
                    && !self.handshakes_by_scheme.contains_key(&scheme)
                {
                    scheme = "(other schemes)".to_owned();
                }
                let n = self
                    .handshakes_by_scheme
                    .entry(scheme)
                    .or_default()
                    .entry(outcome_key(&a.handshake.outcome))
                    .or_default();
                *n = n.saturating_add(1);
                for f in &a.findings {
                    self.finding(f);
                }
            }
            Output::Finding(f) => self.finding(f),
            Output::ServerLogs(s) => self.server_logs = Some(s.clone()),
            Output::Wire(_) => {}
        }
    }

    fn finding(&mut self, f: &Finding) {
        let n = self.findings.entry(f.code).or_default();
        *n = n.saturating_add(1);
        let n = self
            .findings_by_severity
            .entry(f.severity.label())
            .or_default();
        *n = n.saturating_add(1);
        self.worst = self.worst.max(Some(f.severity));
    }

    fn tls(&mut self, c: &Connection, t: &TlsInfo) {
        let Some(why) = undecrypted(&t.decryption) else {
            return;
        };
        let mut server = t.sni.clone().unwrap_or_else(|| c.server.to_string());
        if self.tls_undecrypted.len() >= MAX_TLS_SERVERS
            && !self.tls_undecrypted.contains_key(&server)
        {
            server = "(other servers)".to_owned();
        }
        let u = self.tls_undecrypted.entry(server).or_default();
        u.connections = u.connections.saturating_add(1);
        if u.why.is_empty() {
            u.why = why;
        }
    }

    /// The input ended: the counters of every stage, and the warnings of the threads, the
    /// inputs and the analysis.
    pub fn end(&mut self, stats: Stats, warnings: Vec<String>, inputs: &dyn Inputs) {
        self.stats = stats;
        self.warnings.extend(warnings);
        self.warnings.extend(inputs.warnings());
        self.warnings.extend(analysis_warnings(&self.stats, inputs));
    }
}

/// Schemes counted by name in the summary; the others are counted together.
const MAX_SCHEMES: usize = 32;
/// HTTP anomalies listed in the document; past this they are only counted.
const MAX_LISTED_ANOMALIES: usize = 10_000;

fn outcome_key(o: &Outcome) -> String {
    o.label()
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

/// Which handshakes a document or a report lists (every one is counted).
pub type Keep<'k> = Box<dyn Fn(&Analysed) -> bool + 'k>;

/// What every [`Writer`] keeps: the summary, and the first write that failed.
#[derive(Debug, Default)]
pub struct Tally {
    pub summary: Summary,
    pub write_err: Option<io::Error>,
}

impl Tally {
    /// Keeps the first write error.
    pub fn check(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.write_err.get_or_insert(e);
        }
    }
}

/// A face that writes as the analysis goes and ends with its inputs and the summary.
pub trait Writer {
    /// One output of the analysis; what can be written now goes to `out`.
    fn take(&mut self, o: Output, out: &mut dyn Write);
    fn tally(&mut self) -> &mut Tally;
    /// The input ended ([`Tally::summary`] is complete): writes the rest.
    fn finish(self, inputs: &dyn Inputs, out: &mut dyn Write) -> io::Result<Summary>;
}

/// Why a document or a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}")]
    Write(#[from] io::Error),
}

/// Reads `source` through the driver into `writer`, and has it write the rest.
pub fn read<W: Writer>(
    mut writer: W,
    source: Source,
    config: Config,
    plan: Plan,
    out: &mut dyn Write,
) -> Result<Summary, ReadError> {
    struct Writing<'a, W> {
        writer: &'a mut W,
        out: &'a mut dyn Write,
    }
    impl<W: Writer> Sink for Writing<'_, W> {
        fn output(&mut self, o: Output) {
            self.writer.take(o, self.out);
        }
        fn stopped(&mut self) -> bool {
            self.writer.tally().write_err.is_some()
        }
    }
    let ran = pipeline::run(
        source,
        config,
        plan,
        &mut Writing {
            writer: &mut writer,
            out: &mut *out,
        },
    )?;
    let tally = writer.tally();
    if let Some(e) = tally.write_err.take() {
        return Err(e.into());
    }
    let inputs = inputs_of(&ran.source);
    tally.summary.end(ran.stats, ran.warnings, inputs);
    Ok(writer.finish(inputs, out)?)
}

/// What a document lists, besides its handshakes.
#[derive(Debug, Clone, Default)]
pub struct DocumentOptions {
    /// Show passwords, hashes and tokens as captured.
    pub reveal_secrets: bool,
    /// Which exchanges to list.
    pub exchanges: ExchangeFilter,
    /// What chose the handshakes listed (written as `"selection"`), when not all are.
    pub selection: Option<serde_json::Value>,
    /// The file the document's writer writes to, when it is one (a second handle on it): the
    /// spooled arrays are then copied to it by the kernel (`copy_file_range`, `sendfile` or
    /// `splice`) rather than read back through a buffer. The writer is flushed first, so the
    /// two never interleave.
    pub direct: Option<Arc<std::fs::File>>,
}

/// The JSON document being written.
pub struct JsonDocument<'k> {
    tally: Tally,
    /// Which handshakes (and their findings) are listed.
    keep: Keep<'k>,
    reveal: bool,
    exchanges: ExchangeFilter,
    first_exchange: bool,
    /// Reused for each exchange written.
    buf: Vec<u8>,
    /// Connections, handshakes and findings as they come.
    connections: Spool,
    handshakes: Spool,
    findings: Spool,
    /// Findings about connections are listed (not when handshakes were selected).
    connection_findings: bool,
    anomalies: Vec<serde_json::Value>,
    direct: Option<Arc<std::fs::File>>,
}

impl<'k> JsonDocument<'k> {
    /// Starts a document: its opening is written now.
    pub fn start(
        opts: &DocumentOptions,
        keep: Keep<'k>,
        out: &mut dyn Write,
    ) -> io::Result<JsonDocument<'k>> {
        let doc = JsonDocument {
            tally: Tally::default(),
            keep,
            reveal: opts.reveal_secrets,
            exchanges: opts.exchanges,
            first_exchange: true,
            buf: Vec::new(),
            connections: Spool::new()?,
            handshakes: Spool::new()?,
            findings: Spool::new()?,
            connection_findings: opts.selection.is_none(),
            anomalies: Vec::new(),
            direct: opts.direct.clone(),
        };
        write!(out, "{{\"schema\":\"{SCHEMA}\",")?;
        if let Some(sel) = &opts.selection {
            write!(out, "\"selection\":")?;
            write_value(out, sel)?;
            write!(out, ",")?;
        }
        write!(out, "\"exchanges\":[")?;
        Ok(doc)
    }

    fn exchange(&mut self, x: Box<Exchange>, shared: &SharedAuth, out: &mut dyn Write) {
        if self.tally.write_err.is_some() || !self.exchanges.keeps(&x) {
            return;
        }
        // Decoded before redaction: the decoder redacts what it shows itself.
        let auth = ExchangeAuth::of(&x, shared, self.reveal);
        let mut x = x;
        if !self.reveal {
            redact_exchange(&mut x);
        }
        let sep = if self.first_exchange { "" } else { "," };
        self.first_exchange = false;
        let r = out
            .write_all(sep.as_bytes())
            .and_then(|_| write_object_with(&mut self.buf, out, &*x, "auth", auth.as_ref()));
        self.tally.check(r);
    }
}

impl Writer for JsonDocument<'_> {
    fn take(&mut self, o: Output, out: &mut dyn Write) {
        self.tally.summary.count(&o);
        let r = match o {
            Output::Connection(c) => self.connections.push(&*c),
            Output::Exchange(x, shared) => {
                self.exchange(x, &shared, out);
                Ok(())
            }
            Output::HttpAnomaly {
                conn,
                dir,
                ts,
                anomaly,
            } => {
                if self.anomalies.len() < MAX_LISTED_ANOMALIES {
                    self.anomalies.push(serde_json::json!({
                        "conn": conn, "dir": dir, "ts": ts, "anomaly": anomaly
                    }));
                }
                Ok(())
            }
            Output::Limit { .. } | Output::ServerLogs(_) | Output::Wire(_) => Ok(()),
            Output::Finding(f) if self.connection_findings => self.findings.push(&*f),
            Output::Finding(_) => Ok(()),
            Output::Handshake(mut a) => {
                if !(self.keep)(&a) {
                    return;
                }
                if self.reveal {
                    a.handshake.reveal_secrets();
                }
                let findings = &mut self.findings;
                self.handshakes
                    .push_analysed(&a)
                    .and_then(|_| a.findings.iter().try_for_each(|f| findings.push(f)))
            }
        };
        self.tally.check(r);
    }

    fn tally(&mut self) -> &mut Tally {
        &mut self.tally
    }

    fn finish(self, inputs: &dyn Inputs, out: &mut dyn Write) -> io::Result<Summary> {
        let direct = self.direct.as_deref();
        write!(out, "],\"handshakes\":[")?;
        self.handshakes.copy_into(out, direct)?;
        write!(out, "],\"findings\":[")?;
        self.findings.copy_into(out, direct)?;
        write!(out, "],\"connections\":[")?;
        self.connections.copy_into(out, direct)?;
        write!(out, "]")?;
        write!(out, ",\"anomalies\":")?;
        write_value(out, &self.anomalies)?;
        write!(out, ",\"inputs\":")?;
        inputs.write_json(out)?;
        write!(out, ",\"merged\":{}", inputs.merged())?;
        write_summary(out, &self.tally.summary)?;
        Ok(self.tally.summary)
    }
}

/// The end of a document or an NDJSON stream: `,"summary":{...}}`, flushed.
pub fn write_summary(out: &mut dyn Write, summary: &Summary) -> io::Result<()> {
    write!(out, ",\"summary\":")?;
    write_value(out, summary)?;
    writeln!(out, "}}")?;
    out.flush()
}

/// `value`'s JSON and a line end, in one write.
pub fn write_line<T: serde::Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut line = json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// `value`'s JSON, in one write.
pub fn write_value<T: serde::Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    out.write_all(&json::to_vec(value).map_err(io::Error::other)?)
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
