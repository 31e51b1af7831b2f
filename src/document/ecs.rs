//! `--format ecs`: Elastic Common Schema documents, one line each, for Elasticsearch,
//! OpenSearch (Filebeat, Logstash) and ClickHouse: one document a handshake
//! (`event.dataset: authscope.handshake`) and one a finding (`authscope.finding`), in ECS
//! field names where ECS has one (the reference is ECS's `ecs_flat.yml`), and what is
//! authscope's own under `authscope.*`, whose mapping ships as `docs/ecs/`'s index template.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use serde_json::{json, Map, Value};

use super::Problem;
use crate::capture::Timestamp;
use crate::diagnose::{Finding, Severity};
use crate::handshake::{Credential, Failure, Handshake, HttpVersion, Outcome};
use crate::pipeline::Analysed;
use crate::present::legs::{request_label, response_label};
use crate::present::{rfc3339, target};

/// The ECS release whose field reference the documents follow.
pub const ECS_VERSION: &str = "9.5.0-dev";

/// `event.severity`: a number, larger for worse (ECS leaves the scale to the source).
pub fn severity_number(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Error => 3,
    }
}

/// The Community ID of a TCP connection (Community ID spec v1, seed 0): the same string
/// Zeek, Suricata and Elastic's agents compute for it, to join the documents to theirs.
pub fn community_id(client: SocketAddr, server: SocketAddr) -> Option<String> {
    community_id::calculate_community_id(
        0,
        client.ip(),
        server.ip(),
        Some(client.port()),
        Some(server.port()),
        6,
        false,
    )
    .ok()
}

/// `event.outcome`: whether the logon succeeded, failed, or neither is known.
fn outcome(o: &Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failed(_) => "failure",
        Outcome::Abandoned | Outcome::InProgress => "unknown",
    }
}

fn failure_name(f: &Failure) -> Option<String> {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

fn http_version(v: HttpVersion) -> &'static str {
    match v {
        HttpVersion::Http10 => "1.0",
        HttpVersion::Http11 => "1.1",
        HttpVersion::Http2 => "2",
    }
}

/// Puts `v` at the dotted `path` of `doc`, making the objects on the way; `Null` is left out.
fn put(doc: &mut Map<String, Value>, path: &str, v: impl Into<Value>) {
    let v = v.into();
    if v.is_null() {
        return;
    }
    let mut parts = path.split('.').peekable();
    let mut at = doc;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            at.insert(p.to_owned(), v);
            return;
        }
        let next = at
            .entry(p.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(m) = next else { return };
        at = m;
    }
}

/// The ECS writer, for the report and the export.
#[derive(Debug)]
pub struct Ecs {
    /// The files read, by capture ([`crate::capture::Frame::input`]) when there are several
    /// captures; else all the files of the one capture.
    pub files: Vec<String>,
    /// The files are separate captures (not `--merge`).
    pub separate: bool,
    /// When this run opened its inputs (ECS's `event.created`): the time of a document about
    /// a file that gave no packet to date it by.
    pub read_at: Timestamp,
}

impl Default for Ecs {
    fn default() -> Ecs {
        Ecs {
            files: Vec::new(),
            separate: false,
            read_at: now(),
        }
    }
}

impl Ecs {
    /// The writer for the files of `source`.
    pub fn of(source: &crate::capture::MergedSource) -> Ecs {
        Ecs {
            files: source
                .files()
                .iter()
                .map(|f| f.path().display().to_string())
                .collect(),
            separate: source.captures() > 1,
            read_at: now(),
        }
    }

    /// A document for a problem in the input (a cut or damaged file, a file skipped): ECS's
    /// `pipeline_error`, with the message. Its time is that of the last good packet before
    /// the damage; a file that gave none is dated when the run read it (`event.created`).
    pub fn write_input_error(
        &self,
        problem: &Problem,
        out: &mut dyn Write,
    ) -> Result<(), std::io::Error> {
        let message = problem.message.as_str();
        let mut d = Map::new();
        self.timestamp(&mut d, problem.after);
        put(&mut d, "ecs.version", ECS_VERSION);
        put(&mut d, "event.kind", "pipeline_error");
        put(&mut d, "event.module", "authscope");
        put(&mut d, "event.dataset", "authscope.input");
        put(&mut d, "error.type", "capture");
        put(&mut d, "error.message", message);
        put(&mut d, "message", message);
        observer(&mut d);
        put(&mut d, "log.file.path", problem.file.as_deref());
        put(&mut d, "authscope.capture.files", self.files.clone());
        write_doc(out, &Value::Object(d))
    }

    /// `@timestamp`: `at`, else when the run read its inputs, which `event.created` then
    /// says too.
    fn timestamp(&self, d: &mut Map<String, Value>, at: Option<Timestamp>) {
        put(d, "@timestamp", rfc3339(at.unwrap_or(self.read_at)));
        if at.is_none() {
            put(d, "event.created", rfc3339(self.read_at));
        }
    }

    /// The capture files a handshake of capture `input` comes from.
    fn files_of(&self, input: u32) -> Vec<String> {
        if self.separate && self.files.len() > 1 {
            self.files
                .get(usize::try_from(input).unwrap_or(usize::MAX))
                .cloned()
                .into_iter()
                .collect()
        } else {
            self.files.clone()
        }
    }

    /// What a handshake's and its findings' documents share: time, ends, URL, user, TLS.
    fn common(&self, h: &Handshake) -> Map<String, Value> {
        let mut d = Map::new();
        // The login starts with the first KDC or DNS message that joined it, when one came
        // before its first HTTP request.
        let first = h.kdc.iter().map(|m| m.ts).fold(h.first, std::cmp::min);
        put(&mut d, "@timestamp", rfc3339(first));
        put(&mut d, "ecs.version", ECS_VERSION);
        put(
            &mut d,
            "event.category",
            json!(["authentication", "network", "web"]),
        );
        put(&mut d, "event.module", "authscope");
        put(&mut d, "event.start", rfc3339(first));
        put(&mut d, "event.end", rfc3339(h.last));
        put(&mut d, "event.duration", h.last.since(first).max(0));
        put(&mut d, "event.outcome", outcome(&h.outcome));
        let (client, server) = (h.client_socket, h.server);
        for (side, s) in [("source", client), ("destination", server)] {
            put(&mut d, &format!("{side}.ip"), s.ip().to_string());
            put(&mut d, &format!("{side}.port"), s.port());
            put(&mut d, &format!("{side}.address"), s.ip().to_string());
        }
        put(&mut d, "network.transport", "tcp");
        put(
            &mut d,
            "network.type",
            match server.ip() {
                IpAddr::V4(_) => "ipv4",
                IpAddr::V6(_) => "ipv6",
            },
        );
        put(&mut d, "network.protocol", "http");
        put(&mut d, "network.community_id", community_id(client, server));
        let tls = h.legs.iter().any(|l| l.tls);
        let scheme = if tls { "https" } else { "http" };
        // The request target as sent; the whole URL when the host is known.
        put(&mut d, "url.original", h.resource.as_str());
        if h.resource.contains("://") {
            put(&mut d, "url.full", h.resource.as_str());
        } else if let (Some(host), true) = (h.host.as_deref(), h.resource.starts_with('/')) {
            put(
                &mut d,
                "url.full",
                format!("{scheme}://{host}{}", h.resource),
            );
        }
        put(&mut d, "url.scheme", scheme);
        if let Some(host) = h.host.as_deref() {
            let name = host_name(host);
            put(&mut d, "url.domain", name);
            put(&mut d, "destination.domain", name);
        }
        if h.resource.starts_with('/') {
            let (path, query) = match h.resource.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (h.resource.as_str(), None),
            };
            put(&mut d, "url.path", path);
            put(&mut d, "url.query", query);
        }
        if !h.method.is_empty() {
            put(&mut d, "http.request.method", h.method.as_str());
        }
        put(&mut d, "http.response.status_code", h.status);
        if let Some(l) = h.legs.first() {
            put(&mut d, "http.version", http_version(l.http));
        }
        put(
            &mut d,
            "user.name",
            h.user.as_deref().filter(|u| !u.is_empty()),
        );
        put(
            &mut d,
            "user.domain",
            h.domain.as_deref().filter(|u| !u.is_empty()),
        );
        put(
            &mut d,
            "host.name",
            h.workstation.as_deref().filter(|u| !u.is_empty()),
        );
        if tls {
            put(&mut d, "tls.established", true);
        }
        observer(&mut d);
        let files = self.files_of(h.input);
        if let [one] = files.as_slice() {
            put(&mut d, "log.file.path", one.as_str());
        }
        put(&mut d, "authscope.handshake.id", h.id);
        put(&mut d, "authscope.capture.input", h.input);
        put(&mut d, "authscope.capture.files", files);
        put(&mut d, "authscope.scheme", h.scheme.to_string());
        d
    }

    /// The document of a handshake.
    pub fn handshake_doc(&self, a: &Analysed) -> Value {
        let h = &a.handshake;
        let mut d = self.common(h);
        let attempted = matches!(h.outcome, Outcome::Success | Outcome::Failed(_));
        let mut types = vec![if attempted { "start" } else { "info" }];
        match h.outcome {
            Outcome::Success => types.push("allowed"),
            Outcome::Failed(_) => types.push("denied"),
            _ => {}
        }
        put(&mut d, "event.kind", "event");
        put(&mut d, "event.type", json!(types));
        put(&mut d, "event.dataset", "authscope.handshake");
        put(
            &mut d,
            "event.action",
            format!("{}-logon", h.scheme.as_str().to_ascii_lowercase()),
        );
        if let Outcome::Failed(f) = &h.outcome {
            put(&mut d, "event.reason", failure_name(f));
        }
        let worst = a.findings.iter().max_by_key(|f| f.severity);
        if let Some(f) = worst {
            put(&mut d, "event.code", f.code);
            put(&mut d, "event.severity", severity_number(f.severity));
        }
        put(&mut d, "message", summary_line(h));
        let malformed: Vec<String> = h
            .legs
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.credential {
                Credential::Malformed { scheme } => Some(format!(
                    "leg {}: a {scheme} token that does not decode ({})",
                    i.saturating_add(1),
                    request_label(l)
                )),
                _ => None,
            })
            .collect();
        if !malformed.is_empty() {
            put(&mut d, "error.type", "malformed-token");
            put(&mut d, "error.message", malformed.join("; "));
        }
        put(&mut d, "authscope.handshake.outcome", h.outcome.label());
        if let Outcome::Failed(f) = &h.outcome {
            put(&mut d, "authscope.handshake.failure", failure_name(f));
        }
        put(&mut d, "authscope.handshake.proxy", h.proxy);
        put(&mut d, "authscope.handshake.offered", json!(h.offered));
        put(&mut d, "authscope.handshake.spn", h.spn.as_deref());
        put(&mut d, "authscope.handshake.realm", h.realm.as_deref());
        put(&mut d, "authscope.handshake.rounds", h.rounds);
        put(
            &mut d,
            "authscope.handshake.connections",
            json!(h.connections),
        );
        let legs: Vec<String> = h
            .legs
            .iter()
            .map(|l| format!("{} -> {}", request_label(l), response_label(l)))
            .collect();
        put(&mut d, "authscope.handshake.legs", legs);
        let codes: Vec<&str> = a.findings.iter().map(|f| f.code).collect();
        put(&mut d, "authscope.findings", codes);
        put(&mut d, "authscope.evidence.frames", frames(&h.legs));
        Value::Object(d)
    }

    /// The document of one finding about a handshake.
    pub fn finding_doc(&self, a: &Analysed, f: &Finding) -> Value {
        let mut d = self.common(&a.handshake);
        put(
            &mut d,
            "@timestamp",
            rfc3339(f.at.unwrap_or(a.handshake.first)),
        );
        finding_fields(&mut d, f);
        Value::Object(d)
    }

    /// The document of a finding about connections no handshake holds (a server's TLS).
    pub fn connection_finding_doc(&self, f: &Finding) -> Value {
        let mut d = Map::new();
        self.timestamp(&mut d, f.at);
        put(&mut d, "ecs.version", ECS_VERSION);
        put(&mut d, "event.category", json!(["network"]));
        put(&mut d, "event.module", "authscope");
        put(&mut d, "network.transport", "tcp");
        if let Some(subject) = f.subject.as_deref() {
            match subject.parse::<SocketAddr>() {
                Ok(s) => {
                    put(&mut d, "destination.ip", s.ip().to_string());
                    put(&mut d, "destination.port", s.port());
                    put(&mut d, "destination.address", s.ip().to_string());
                }
                Err(_) => match subject.parse::<IpAddr>() {
                    Ok(ip) => {
                        put(&mut d, "destination.ip", ip.to_string());
                        put(&mut d, "destination.address", ip.to_string());
                    }
                    Err(_) => {
                        put(&mut d, "destination.domain", host_name(subject));
                        put(&mut d, "destination.address", subject);
                    }
                },
            }
        }
        observer(&mut d);
        put(&mut d, "authscope.capture.files", self.files.clone());
        finding_fields(&mut d, f);
        put(&mut d, "authscope.finding.subject", f.subject.as_deref());
        Value::Object(d)
    }
}

/// The time now, as a capture's times are kept.
fn now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
}

/// authscope as the sensor that made the document.
fn observer(d: &mut Map<String, Value>) {
    put(d, "observer.type", "sensor");
    put(d, "observer.product", "authscope");
    put(d, "observer.vendor", "authscope");
    put(d, "observer.version", env!("CARGO_PKG_VERSION"));
}

/// The fields of a finding's document.
fn finding_fields(d: &mut Map<String, Value>, f: &Finding) {
    put(d, "event.kind", "alert");
    put(d, "event.type", json!(["info"]));
    put(d, "event.dataset", "authscope.finding");
    put(d, "event.action", "finding");
    put(d, "event.code", f.code);
    put(d, "event.reason", f.summary.as_str());
    put(d, "event.severity", severity_number(f.severity));
    put(d, "message", f.summary.as_str());
    put(d, "rule.id", f.code);
    put(d, "rule.name", f.code);
    put(d, "authscope.finding.code", f.code);
    put(d, "authscope.finding.severity", f.severity.label());
    put(d, "authscope.finding.summary", f.summary.as_str());
    put(d, "authscope.finding.next_step", f.next_step.as_str());
    put(d, "authscope.finding.proxy", f.proxy);
    let evidence: Vec<Value> = f
        .evidence
        .iter()
        .map(|e| {
            let mut m = Map::new();
            put(&mut m, "frame", e.frame);
            put(&mut m, "conn", e.conn);
            put(&mut m, "leg", e.leg);
            put(&mut m, "note", e.note.as_str());
            Value::Object(m)
        })
        .collect();
    put(d, "authscope.finding.evidence", evidence);
    let frames: Vec<u64> = f.evidence.iter().map(|e| e.frame).collect();
    put(d, "authscope.evidence.frames", frames);
}

/// The frames of the legs' requests and responses, in order.
fn frames(legs: &[crate::handshake::Leg]) -> Vec<u64> {
    let mut v: Vec<u64> = legs
        .iter()
        .flat_map(|l| {
            [
                l.request.as_ref().map(|r| r.frame),
                l.response.as_ref().map(|r| r.frame),
            ]
        })
        .flatten()
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// `host` without its port (`intranet:8080`, `[::1]:443`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// `NTLM logon of LAB\alice to intranet/app: failed (logon-failed)`.
fn summary_line(h: &Handshake) -> String {
    let who = crate::present::who(h.domain.as_deref(), h.user.as_deref())
        .map(|w| format!(" of {w}"))
        .unwrap_or_default();
    format!(
        "{} logon{who} to {}: {}",
        h.scheme,
        target(h),
        h.outcome.label()
    )
}

/// Writes a document, a line.
fn write_doc(out: &mut dyn Write, doc: &Value) -> Result<(), std::io::Error> {
    super::write_line(out, doc)
}

impl Ecs {
    /// A handshake's document, then one for each of its findings.
    pub fn write_handshake(&self, a: &Analysed, out: &mut dyn Write) -> Result<(), std::io::Error> {
        write_doc(out, &self.handshake_doc(a))?;
        for f in &a.findings {
            write_doc(out, &self.finding_doc(a, f))?;
        }
        Ok(())
    }

    pub fn write_connection_finding(
        &self,
        f: &Finding,
        out: &mut dyn Write,
    ) -> Result<(), std::io::Error> {
        write_doc(out, &self.connection_finding_doc(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_id_of_the_spec_example() {
        // The Community ID spec's baseline: TCP 128.232.110.120:34855 -> 66.35.250.204:80.
        let a: SocketAddr = "128.232.110.120:34855".parse().unwrap();
        let b: SocketAddr = "66.35.250.204:80".parse().unwrap();
        let id = community_id(a, b).unwrap();
        assert_eq!(id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(community_id(b, a).unwrap(), id, "either direction");
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("intranet:8080"), "intranet");
        assert_eq!(host_name("[::1]:443"), "::1");
        assert_eq!(host_name("intranet"), "intranet");
        assert_eq!(host_name("::1"), "::1");
    }

    #[test]
    fn put_makes_the_objects_on_the_way_and_leaves_null_out() {
        let mut d = Map::new();
        put(&mut d, "a.b.c", 1);
        put(&mut d, "a.b.d", "x");
        put(&mut d, "a.e", Value::Null);
        assert_eq!(Value::Object(d), json!({"a": {"b": {"c": 1, "d": "x"}}}));
    }
}
