//! The spool: every handshake in full (legs, decoded tokens, findings with their text, raw
//! heads), written to an anonymous temporary file as the worker decides it, and read back for
//! the selected handshake only. The UI keeps in memory a compact [`Record`] a handshake and a
//! few recently read [`Detail`]s, so its memory does not grow with the size of the capture.
//!
//! The worker appends ([`SpoolWriter`]) and flushes before it sends the batch that names the
//! new records; the UI reads with positional reads ([`SpoolReader`]), which do not move the
//! file offset the writer appends at. Records are JSON (serde_json, already a dependency):
//! the decoded tokens are kept as the JSON tree the detail pane is drawn from anyway.
//!
//! [`Record`]: super::app::Record

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::auth::AuthHeader;
use crate::diagnose::{Evidence, Finding, Severity};
use crate::handshake::{Leg, TimelineWhat};
use crate::http::Header;
use crate::pipeline::Analysed;

/// Bytes the spool may take on disk; past this, handshakes are listed without their details
/// (and the UI says so).
pub const SPOOL_CAP: u64 = 4 << 30;
/// Details kept in memory, most recently shown first.
pub const CACHE: usize = 32;

/// The raw heads of one leg (secrets redacted unless revealed), request line or status line
/// first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawHeads {
    pub request: Option<Vec<Header>>,
    pub response: Option<Vec<Header>>,
}

/// A decoded authentication header: its kind (`WWW-Authenticate`) and its JSON tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub kind: String,
    pub tree: serde_json::Value,
}

impl Token {
    fn of(h: &AuthHeader) -> Token {
        let mut tree = serde_json::to_value(h).unwrap_or(serde_json::Value::Null);
        crate::shown::shown_json(&mut tree);
        Token {
            kind: h.kind.name().to_owned(),
            tree,
        }
    }
}

/// Packet text as the UI shows it (see [`crate::shown`]).
fn text(s: &str) -> String {
    crate::shown::shown(s).into_owned()
}

fn opt_text(s: &Option<String>) -> Option<String> {
    s.as_deref().map(text)
}

/// A timeline line's text made harmless.
fn harmless(w: &TimelineWhat) -> TimelineWhat {
    let mut w = w.clone();
    if let Some(t) = w.text_mut() {
        *t = text(t);
    }
    w
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestDetail {
    pub frame: u64,
    /// Nanoseconds since the epoch.
    pub ts: i64,
    pub method: String,
    pub uri: String,
    pub connection: Option<String>,
    pub credential: Option<Token>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseDetail {
    pub frame: u64,
    pub ts: i64,
    pub status: u16,
    pub reason: String,
    pub iis_substatus: Option<String>,
    pub connection: Option<String>,
    pub challenges: Option<Token>,
}

/// One leg as the detail pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegDetail {
    pub conn: u64,
    pub proxy: bool,
    pub latency_ns: Option<i64>,
    pub request: Option<RequestDetail>,
    pub response: Option<ResponseDetail>,
    /// What follows the request target: ` HTTP/2`, ` (CBT bound)` ([`Leg::request_notes`]).
    #[serde(default)]
    pub notes: String,
    /// How an HTTP/2 stream without a response was cut (`RST_STREAM HTTP_1_1_REQUIRED from
    /// server`).
    #[serde(default)]
    pub cut: Option<String>,
    /// Where the raw heads are in the spool, when they were still known when the handshake
    /// was decided.
    pub raw_at: Option<Slot>,
    /// The raw heads, read from `raw_at` with the detail.
    #[serde(skip)]
    pub raw: Option<RawHeads>,
}

impl LegDetail {
    fn of(l: &Leg, raw_at: Option<Slot>) -> LegDetail {
        LegDetail {
            conn: l.conn,
            proxy: l.proxy,
            latency_ns: l.latency_ns(),
            notes: text(&l.request_notes()),
            cut: l.h2.as_ref().and_then(|h| h.end).map(|e| e.describe()),
            request: l.request.as_ref().map(|r| RequestDetail {
                frame: r.frame,
                ts: r.ts.0,
                method: text(&r.method),
                uri: text(&r.uri),
                connection: opt_text(&r.connection),
                credential: r.credential.as_deref().map(Token::of),
            }),
            response: l.response.as_ref().map(|r| ResponseDetail {
                frame: r.frame,
                ts: r.ts.0,
                status: r.status,
                reason: text(&r.reason),
                iis_substatus: opt_text(&r.iis_substatus),
                connection: opt_text(&r.connection),
                challenges: r.challenges.as_deref().map(Token::of),
            }),
            raw_at,
            raw: None,
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub delta_ns: i64,
    pub conn: u64,
    /// The frame Wireshark shows it on.
    pub frame: u64,
    pub what: TimelineWhat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingDetail {
    pub code: String,
    pub severity: Severity,
    pub proxy: bool,
    /// The server a finding about connections is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub summary: String,
    pub next_step: String,
    pub evidence: Vec<Evidence>,
}

impl FindingDetail {
    /// A finding, its text made harmless.
    pub fn of(f: &Finding) -> FindingDetail {
        FindingDetail {
            code: f.code.to_owned(),
            severity: f.severity,
            proxy: f.proxy,
            subject: f.subject.as_deref().map(text),
            summary: text(&f.summary),
            next_step: text(&f.next_step),
            evidence: f
                .evidence
                .iter()
                .map(|e| Evidence {
                    note: text(&e.note),
                    ..e.clone()
                })
                .collect(),
        }
    }
}

/// A handshake in full, as the timeline, detail and findings panes draw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    pub id: u64,
    pub client_socket: SocketAddr,
    pub server: SocketAddr,
    pub host: Option<String>,
    pub resource: String,
    pub proxy: bool,
    pub scheme: String,
    pub outcome: String,
    pub offered: Vec<String>,
    pub user: Option<String>,
    pub domain: Option<String>,
    pub workstation: Option<String>,
    pub spn: Option<String>,
    pub rounds: u32,
    pub connections: usize,
    pub reused_requests: u64,
    pub timeline: Vec<Step>,
    pub legs: Vec<LegDetail>,
    pub findings: Vec<FindingDetail>,
    /// Its file's number (from 1) and name, when the files are several captures: its frames
    /// are that file's.
    #[serde(default)]
    pub file: Option<(u32, String)>,
    /// The client's KDC and DNS server, when messages to them joined the handshake: the
    /// third lane.
    #[serde(default)]
    pub kdc: Option<SocketAddr>,
    #[serde(default)]
    pub dns: Option<SocketAddr>,
}

impl Detail {
    /// A timeline line's frame as the user types it into Wireshark: `f12`, or `2:f12` in the
    /// second of several files.
    pub fn frame_label(&self, frame: u64) -> String {
        match &self.file {
            Some((n, _)) => format!("{n}:f{frame}"),
            None => format!("f{frame}"),
        }
    }

    /// The same in words, for a line of prose: `frame 12`, or `file 2 frame 12`.
    pub fn frame_words(&self, frame: u64) -> String {
        match &self.file {
            Some((n, _)) => format!("file {n} frame {frame}"),
            None => format!("frame {frame}"),
        }
    }

    /// `raw` holds where the raw heads are, by leg (shorter when some were not kept).
    pub fn of(a: &Analysed, raw: Vec<Option<Slot>>) -> Detail {
        let h = &a.handshake;
        let mut raw = raw.into_iter();
        let peer = |dns: bool| {
            h.kdc
                .iter()
                .find(|m| matches!(m.body, crate::kdc::WireBody::Dns(_)) == dns)
                .map(|m| m.server)
        };
        Detail {
            id: h.id,
            client_socket: h.client_socket,
            server: h.server,
            host: opt_text(&h.host),
            resource: text(&h.resource),
            proxy: h.proxy,
            scheme: text(h.scheme.as_str()),
            outcome: h.outcome.label(),
            offered: h.offered.iter().map(|o| text(o)).collect(),
            user: opt_text(&h.user),
            domain: opt_text(&h.domain),
            workstation: opt_text(&h.workstation),
            spn: opt_text(&h.spn),
            rounds: h.rounds,
            connections: h.connections.len(),
            reused_requests: h.reused_requests,
            timeline: h
                .timeline
                .iter()
                .map(|e| Step {
                    delta_ns: e.delta_ns,
                    conn: e.conn,
                    frame: e.frame,
                    what: harmless(&e.what),
                })
                .collect(),
            legs: h
                .legs
                .iter()
                .map(|l| LegDetail::of(l, raw.next().flatten()))
                .collect(),
            findings: a.findings.iter().map(FindingDetail::of).collect(),
            file: None,
            kdc: peer(false),
            dns: peer(true),
        }
    }
}

/// Where a record is in the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    offset: u64,
    len: u32,
}

/// Creates the spool: an anonymous temporary file (gone when both ends are dropped, however
/// the process ends), one handle to append, one to read.
pub fn create() -> io::Result<(SpoolWriter, SpoolReader)> {
    let file = tempfile::tempfile()?;
    let reader = SpoolReader {
        file: file.try_clone()?,
    };
    Ok((
        SpoolWriter {
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            at: 0,
            cap: SPOOL_CAP,
            buf: Vec::new(),
            failed: false,
            full: false,
        },
        reader,
    ))
}

/// The worker's end.
#[derive(Debug)]
pub struct SpoolWriter {
    /// `None` when there is no spool.
    out: Option<BufWriter<File>>,
    /// Bytes written so far (the offset of the next record).
    at: u64,
    cap: u64,
    buf: Vec<u8>,
    /// A write failed: nothing more is written (or flushed).
    failed: bool,
    /// The cap was reached: nothing more is written, what was is still flushed.
    full: bool,
}

impl SpoolWriter {
    /// A spool that keeps nothing (the temporary file could not be created; the UI says so).
    pub fn disabled() -> SpoolWriter {
        SpoolWriter {
            out: None,
            at: 0,
            cap: 0,
            buf: Vec::new(),
            failed: true,
            full: false,
        }
    }

    /// Appends a record (`what` names it in messages). An error (for a full or failed spool,
    /// the first one only; later calls return `Ok(None)`) says why details are not kept.
    pub fn put<T: Serialize>(&mut self, d: &T, what: &str) -> Result<Option<Slot>, String> {
        if self.failed || self.full {
            return Ok(None);
        }
        self.buf.clear();
        if let Err(e) = crate::json::extend(&mut self.buf, d) {
            // One record that does not serialize costs only itself.
            return Err(format!("{what}: details not kept: {e}"));
        }
        let len = self.buf.len() as u64;
        let end = self.at.saturating_add(len);
        let Ok(len32) = u32::try_from(len) else {
            return Err(format!("{what}: details too large to keep"));
        };
        if end > self.cap {
            self.full = true;
            return Err(format!(
                "details spool full ({}): later handshakes are listed without details",
                super::strings::bytes(self.cap)
            ));
        }
        let Some(out) = self.out.as_mut() else {
            self.failed = true;
            return Ok(None);
        };
        if let Err(e) = out.write_all(&self.buf) {
            self.failed = true;
            return Err(format!(
                "details spool (temporary file): {e}: handshakes are listed without details"
            ));
        }
        let slot = Slot {
            offset: self.at,
            len: len32,
        };
        self.at = end;
        Ok(Some(slot))
    }

    /// Makes what was put readable; call before the records go to the UI.
    pub fn flush(&mut self) -> Result<(), String> {
        let Some(out) = self.out.as_mut().filter(|_| !self.failed) else {
            return Ok(());
        };
        out.flush().map_err(|e| {
            self.failed = true;
            format!("details spool (temporary file): {e}: handshakes are listed without details")
        })
    }

    #[cfg(test)]
    fn with_cap(mut self, cap: u64) -> SpoolWriter {
        self.cap = cap;
        self
    }
}

/// The UI's end.
#[derive(Debug)]
pub struct SpoolReader {
    file: File,
}

impl SpoolReader {
    pub fn get<T: serde::de::DeserializeOwned>(&self, slot: Slot) -> io::Result<T> {
        let len = usize::try_from(slot.len).map_err(io::Error::other)?;
        let mut buf = vec![0u8; len];
        read_at(&self.file, &mut buf, slot.offset)?;
        serde_json::from_slice(&buf).map_err(io::Error::other)
    }

    /// A handshake's details with the raw heads of its legs (those that can be read).
    pub fn detail(&self, slot: Slot) -> io::Result<Detail> {
        let mut d: Detail = self.get(slot)?;
        for leg in &mut d.legs {
            leg.raw = leg.raw_at.and_then(|at| self.get(at).ok());
        }
        Ok(d)
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = buf.get_mut(n..).unwrap_or_default();
                offset = offset.saturating_add(n as u64);
            }
        }
    }
    Ok(())
}

/// The details read last, by handshake id, so moving back and forth reads nothing again.
#[derive(Debug, Default)]
pub struct Cache {
    items: VecDeque<(u64, Arc<Detail>)>,
}

impl Cache {
    pub fn get(&mut self, id: u64) -> Option<Arc<Detail>> {
        let at = self.items.iter().position(|(i, _)| *i == id)?;
        let item = self.items.remove(at)?;
        let d = Arc::clone(&item.1);
        self.items.push_front(item);
        Some(d)
    }

    pub fn put(&mut self, id: u64, d: Arc<Detail>) {
        self.items.retain(|(i, _)| *i != id);
        self.items.push_front((id, d));
        self.items.truncate(CACHE);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl SpoolWriter {
        fn put_d(&mut self, d: &Detail) -> Result<Option<Slot>, String> {
            self.put(d, "test")
        }
    }

    #[test]
    fn raw_heads_are_read_with_their_detail() {
        let (mut w, r) = create().unwrap();
        let heads = RawHeads {
            request: Some(vec![Header {
                name: "".into(),
                value: "GET / HTTP/1.1".into(),
            }]),
            response: None,
        };
        let at = w.put(&heads, "raw").unwrap();
        let mut d = detail(1);
        d.legs.push(LegDetail {
            conn: 0,
            proxy: false,
            latency_ns: None,
            request: None,
            response: None,
            notes: String::new(),
            cut: None,
            raw_at: at,
            raw: None,
        });
        let slot = w.put_d(&d).unwrap().unwrap();
        w.flush().unwrap();
        let back = r.detail(slot).unwrap();
        assert_eq!(back.legs[0].raw.as_ref(), Some(&heads));
    }

    fn detail(id: u64) -> Detail {
        Detail {
            id,
            file: None,
            kdc: None,
            dns: None,
            client_socket: "10.0.0.5:50123".parse().unwrap(),
            server: "10.0.0.80:80".parse().unwrap(),
            host: Some("intranet".into()),
            resource: "/".into(),
            proxy: false,
            scheme: "ntlm".into(),
            outcome: "success".into(),
            offered: vec!["NTLM".into()],
            user: None,
            domain: None,
            workstation: None,
            spn: None,
            rounds: 1,
            connections: 1,
            reused_requests: 0,
            timeline: vec![Step {
                delta_ns: 0,
                conn: 0,
                frame: 1,
                what: TimelineWhat::Tcp(crate::handshake::ConnEventKind::Fin {
                    by: crate::handshake::Side::Server,
                }),
            }],
            legs: vec![],
            findings: vec![FindingDetail {
                code: "auth-loop".into(),
                severity: Severity::Error,
                proxy: false,
                subject: None,
                summary: "s".into(),
                next_step: "n".into(),
                evidence: vec![],
            }],
        }
    }

    #[test]
    fn details_read_back_as_written_while_more_are_appended() {
        let (mut w, r) = create().unwrap();
        let a = w.put_d(&detail(1)).unwrap().unwrap();
        w.flush().unwrap();
        assert_eq!(r.detail(a).unwrap(), detail(1));
        let b = w.put_d(&detail(2)).unwrap().unwrap();
        w.flush().unwrap();
        assert_eq!(r.detail(b).unwrap(), detail(2));
        assert_eq!(r.detail(a).unwrap(), detail(1));
    }

    #[test]
    fn a_full_spool_says_so_once_and_keeps_what_it_has() {
        let (w, r) = create().unwrap();
        let one = serde_json::to_vec(&detail(1)).unwrap().len() as u64;
        let mut w = w.with_cap(one.saturating_mul(2));
        let a = w.put_d(&detail(1)).unwrap().unwrap();
        w.put_d(&detail(2)).unwrap().unwrap();
        let err = w.put_d(&detail(3)).unwrap_err();
        assert!(err.contains("spool full"), "{err}");
        assert_eq!(w.put_d(&detail(4)), Ok(None));
        w.flush().unwrap();
        assert_eq!(r.detail(a).unwrap(), detail(1));
    }

    #[test]
    fn cache_keeps_the_most_recent() {
        let mut c = Cache::default();
        for id in 0..(CACHE as u64 + 5) {
            c.put(id, Arc::new(detail(id)));
        }
        assert_eq!(c.len(), CACHE);
        assert!(c.get(0).is_none());
        assert!(c.get(5).is_some());
        // 5 is now the most recent: adding one more evicts 6, not 5.
        c.put(1000, Arc::new(detail(1000)));
        assert!(c.get(5).is_some());
        assert!(c.get(6).is_none());
    }
}
