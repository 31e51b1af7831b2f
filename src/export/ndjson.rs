//! `--format ndjson`: one handshake a line, flat enough for Elasticsearch, Splunk or `jq`:
//! scalar fields at the top, RFC 3339 times, findings as arrays of codes (and severities),
//! legs as an array of one-line summaries. Every line carries `"schema": "authscope/1"`.

use std::io::Write;

use serde::Serialize;

use super::{request_label, response_label, ExportError, HandshakeWriter};
use crate::diagnose::Finding;
use crate::handshake::Outcome;
use crate::json::SCHEMA;
use crate::pipeline::Analysed;
use crate::present::{rfc3339, target};

/// One line.
#[derive(Debug, Serialize)]
pub struct Line<'a> {
    pub schema: &'static str,
    pub id: u64,
    /// First packet of the handshake (RFC 3339, UTC).
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    pub end: String,
    pub duration_ms: f64,
    pub client: String,
    pub client_port: u16,
    pub server: String,
    pub server_port: u16,
    pub host: Option<&'a str>,
    pub resource: &'a str,
    /// `host` + `resource` (or the absolute URI of a proxy request).
    pub url: String,
    pub proxy: bool,
    pub scheme: String,
    pub offered: &'a [String],
    pub user: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub workstation: Option<&'a str>,
    pub spn: Option<&'a str>,
    pub realm: Option<&'a str>,
    /// `success`, `failed`, `abandoned`, `in-progress`.
    pub outcome: &'static str,
    /// How it failed (`logon-failed`, `connection-closed`, ...), when it did.
    pub failure: Option<String>,
    pub rounds: u32,
    pub legs: usize,
    pub connections: &'a [u64],
    /// The status of each leg's response (0: none seen).
    pub statuses: Vec<u16>,
    /// One line a leg: `NTLM Type 3 user=LAB\alice NTLMv2 -> 401 refused`.
    pub leg_summaries: Vec<String>,
    pub finding_codes: Vec<&'static str>,
    pub finding_severities: Vec<&'static str>,
    /// The most severe finding's severity.
    pub severity: Option<&'static str>,
}

impl<'a> Line<'a> {
    pub fn of(a: &'a Analysed) -> Line<'a> {
        let h = &a.handshake;
        let (outcome, failure) = match &h.outcome {
            Outcome::Success => ("success", None),
            Outcome::Failed(f) => (
                "failed",
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
            ),
            Outcome::Abandoned => ("abandoned", None),
            Outcome::InProgress => ("in-progress", None),
        };
        Line {
            schema: SCHEMA,
            id: h.id,
            timestamp: rfc3339(h.first),
            end: rfc3339(h.last),
            duration_ms: h.last.since(h.first) as f64 / 1e6,
            client: h.client_socket.ip().to_string(),
            client_port: h.client_socket.port(),
            server: h.server.ip().to_string(),
            server_port: h.server.port(),
            host: h.host.as_deref(),
            resource: &h.resource,
            url: target(h),
            proxy: h.proxy,
            scheme: h.scheme.to_string(),
            offered: &h.offered,
            user: h.user.as_deref(),
            domain: h.domain.as_deref(),
            workstation: h.workstation.as_deref(),
            spn: h.spn.as_deref(),
            realm: h.realm.as_deref(),
            outcome,
            failure,
            rounds: h.rounds,
            legs: h.legs.len(),
            connections: &h.connections,
            statuses: h.legs.iter().map(|l| l.status().unwrap_or(0)).collect(),
            leg_summaries: h
                .legs
                .iter()
                .map(|l| format!("{} -> {}", request_label(l), response_label(l)))
                .collect(),
            finding_codes: a.findings.iter().map(|f| f.code).collect(),
            finding_severities: a.findings.iter().map(|f| f.severity.label()).collect(),
            severity: a
                .findings
                .iter()
                .map(|f| f.severity)
                .max()
                .map(|s| s.label()),
        }
    }
}

/// A line for a finding about connections no handshake holds (a server's TLS), told from a
/// handshake's line by `"kind": "finding"`.
#[derive(Debug, Serialize)]
pub struct FindingLine<'a> {
    pub schema: &'static str,
    pub kind: &'static str,
    pub code: &'static str,
    pub severity: &'static str,
    /// The server it is about.
    pub subject: Option<&'a str>,
    pub summary: &'a str,
    pub next_step: &'a str,
    /// Evidence frames.
    pub frames: Vec<u64>,
}

/// The NDJSON writer.
pub struct Ndjson;

impl HandshakeWriter for Ndjson {
    fn handshake(&mut self, a: &Analysed, out: &mut dyn Write) -> Result<(), ExportError> {
        let mut line = crate::json::to_vec(&Line::of(a)).map_err(serde_json::Error::from)?;
        line.push(b'\n');
        out.write_all(&line)?;
        Ok(())
    }

    fn connection_finding(&mut self, f: &Finding, out: &mut dyn Write) -> Result<(), ExportError> {
        let line = FindingLine {
            schema: SCHEMA,
            kind: "finding",
            code: f.code,
            severity: f.severity.label(),
            subject: f.subject.as_deref(),
            summary: &f.summary,
            next_step: &f.next_step,
            frames: f.evidence.iter().map(|e| e.frame).collect(),
        };
        let mut line = crate::json::to_vec(&line).map_err(serde_json::Error::from)?;
        line.push(b'\n');
        out.write_all(&line)?;
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Write) -> Result<(), ExportError> {
        Ok(())
    }
}
