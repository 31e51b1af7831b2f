//! Stage 7: rules over a handshake -> findings, each with a stable code, a severity, the
//! evidence, a one-sentence summary and a next step (DIAGNOSIS.md; the reasons behind each are
//! in the IIS article on 401.1, 401.2 and 401.3 and WINDOWS-AUTH-FACTS.md).

mod connections;
mod rules;

use crate::capture::Timestamp;
use crate::handshake::Handshake;
use crate::tcp::ConnId;

pub use connections::{ConnFacts, Connections};
use rules::severity_of;
pub use rules::{is_symptom, CODES};

/// How bad a finding is.
// Deserialize: the UI spools findings to disk and reads them back.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a finding rests on: a leg, or a TCP event, of its handshake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leg: Option<usize>,
    /// The connection; a KDC or DNS datagram's is [`crate::handshake::UDP`], written `null`.
    #[serde(
        serialize_with = "evidence_conn",
        deserialize_with = "evidence_conn_back"
    )]
    pub conn: ConnId,
    pub frame: u64,
    pub note: String,
}

/// `null` read back as [`crate::handshake::UDP`] (the UI's spool reads what it wrote).
fn evidence_conn_back<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ConnId, D::Error> {
    let c: Option<ConnId> = serde::Deserialize::deserialize(d)?;
    Ok(c.unwrap_or(crate::handshake::UDP))
}

fn evidence_conn<S: serde::Serializer>(c: &ConnId, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&(*c != crate::handshake::UDP).then_some(*c), s)
}

impl Evidence {
    /// The connection as faces name it: `c3`, or `udp`.
    pub fn conn_label(&self) -> String {
        crate::handshake::conn_label(self.conn)
    }
}

/// One finding about one handshake, or about connections no handshake holds (a server's
/// TLS, see [`Connections`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable kebab-case code (`ntlm-connection-closed`).
    pub code: &'static str,
    pub severity: Severity,
    /// The handshake it is about; none for a finding about connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake: Option<u64>,
    /// What a finding about connections is about: the server, by name or address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// True when it is about proxy authentication (407).
    pub proxy: bool,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    pub next_step: String,
    /// The time of its first evidence frame (else of the first packet of what it is about):
    /// the time of the event a face reports it as.
    #[serde(skip)]
    pub at: Option<Timestamp>,
}

/// Thresholds of the rules.
#[derive(Debug, Clone, Copy)]
pub struct DiagnoseConfig {
    /// Rounds ending without success (a complete credential refused, or the round cut by a
    /// reset or a close) that make a loop.
    pub loop_rounds: u32,
    /// A credential leg whose answer takes longer than this is slow (milliseconds).
    pub slow_ms: u64,
}

impl Default for DiagnoseConfig {
    fn default() -> Self {
        DiagnoseConfig {
            loop_rounds: 3,
            slow_ms: 2000,
        }
    }
}

/// Every finding about `hs`, most severe first, a root cause before the symptom it explains.
pub fn diagnose(hs: &Handshake, cfg: &DiagnoseConfig) -> Vec<Finding> {
    let mut out = rules::run(hs, cfg);
    for f in &mut out {
        f.at = Some(evidence_time(hs, &f.evidence));
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(is_symptom(a.code).cmp(&is_symptom(b.code)))
            .then(a.code.cmp(b.code))
    });
    out
}

/// The time of the earliest of `evidence`'s frames that `hs`'s timeline shows; the time of
/// its first packet when none is.
fn evidence_time(hs: &Handshake, evidence: &[Evidence]) -> Timestamp {
    evidence
        .iter()
        .filter_map(|e| {
            hs.timeline
                .iter()
                .find(|t| t.frame == e.frame)
                .map(|t| t.ts)
        })
        .min()
        .unwrap_or(hs.first)
}

#[cfg(test)]
mod evidence_tests {
    use super::Evidence;

    #[test]
    fn a_datagrams_evidence_reads_back() {
        let e = Evidence {
            leg: None,
            conn: crate::handshake::UDP,
            frame: 13,
            note: "KRB-ERROR".into(),
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"conn\":null"), "{text}");
        assert_eq!(serde_json::from_str::<Evidence>(&text).unwrap(), e);
    }
}
