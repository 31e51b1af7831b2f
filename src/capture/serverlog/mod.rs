//! The server's own records, read beside the captures (`--server-log`, `--events`): IIS W3C
//! and HTTPERR logs ([`w3c`]), Windows events from EVTX files or as `wevtutil qe /f:xml`
//! prints them ([`events`]), and names for the codes they hold ([`codes`]). Read whole before
//! the first frame, as the key logs are, and bounded: past [`MAX_RECORDS`] lines or events
//! the rest are counted, not kept. The join to the handshakes is `handshake::server`.

pub mod codes;
pub mod events;
pub mod w3c;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub use events::{EventStats, SecurityEvent};
pub use w3c::{IisLine, LogKind, W3cReader, W3cStats};

use super::CaptureError;

/// The most IIS lines, and the most events, held for the join.
pub const MAX_RECORDS: usize = 1_000_000;
/// The largest EVTX file read (the crate reads a file whole).
pub const MAX_EVTX_BYTES: u64 = 512 << 20;

/// The server's record files given (`--server-log`, `--events`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerLogPaths {
    pub logs: Vec<PathBuf>,
    pub events: Vec<PathBuf>,
}

impl ServerLogPaths {
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty() && self.events.is_empty()
    }
}

/// What a server log file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    W3c,
    Httperr,
    Evtx,
    EventXml,
}

/// One server log file and what was read of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerLogFile {
    pub path: String,
    pub kind: FileKind,
    /// `#Software` of a W3C log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
    pub lines: u64,
    pub records: u64,
    pub malformed: u64,
    /// Why the file could not be read to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counters over all server logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerLogStats {
    pub iis_lines: u64,
    pub events: u64,
    pub malformed: u64,
    /// Lines and events past [`MAX_RECORDS`], not held for the join.
    pub dropped: u64,
}

/// Everything read of the server logs.
#[derive(Debug, Default, Clone)]
pub struct ServerLogs {
    pub files: Vec<ServerLogFile>,
    pub lines: Vec<IisLine>,
    pub events: Vec<SecurityEvent>,
    pub stats: ServerLogStats,
}

impl ServerLogs {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads `--server-log` files (W3C or HTTPERR, or events: the content decides) and
    /// `--events` files (EVTX, or wevtutil's XML). A file that cannot be opened is the
    /// error; what cannot be read inside one is counted on it.
    pub fn read(server_logs: &[PathBuf], events: &[PathBuf]) -> Result<ServerLogs, CaptureError> {
        let mut out = ServerLogs::default();
        for p in server_logs.iter().chain(events) {
            out.read_file(p)?;
        }
        Ok(out)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), CaptureError> {
        let open_err = |source| CaptureError::Open {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(open_err)?;
        let index = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let head = reader.fill_buf().map_err(open_err)?.to_vec();
        let name = path.display().to_string();
        if head.starts_with(b"ElfFile\0") {
            let mut bytes = Vec::new();
            let read = reader
                .by_ref()
                .take(MAX_EVTX_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|source| CaptureError::Read {
                    path: path.to_owned(),
                    source,
                });
            let mut f = ServerLogFile::new(name, FileKind::Evtx);
            let mut stats = EventStats::default();
            match read {
                Ok(_) => {
                    if let Err(e) =
                        events::evtx_events(bytes, index, &mut stats, &mut |e| self.keep_event(e))
                    {
                        f.error = Some(e.0);
                    }
                }
                Err(e) => f.error = Some(e.to_string()),
            }
            if f.error.is_none() && stats.records == 0 && stats.malformed == 0 {
                f.error = Some("no event could be read (no valid chunk)".to_owned());
            }
            f.records = stats.records;
            f.malformed = stats.malformed;
            self.stats.malformed = self.stats.malformed.saturating_add(stats.malformed);
            self.files.push(f);
        } else if looks_like_event_xml(&head) {
            let mut text = Vec::new();
            let mut f = ServerLogFile::new(name, FileKind::EventXml);
            if let Err(e) = reader.by_ref().take(MAX_EVTX_BYTES).read_to_end(&mut text) {
                f.error = Some(e.to_string());
            }
            let text = String::from_utf8_lossy(&text);
            let mut stats = EventStats::default();
            events::xml_events(&text, index, &mut stats, &mut |e| self.keep_event(e));
            f.records = stats.records;
            f.malformed = stats.malformed;
            self.stats.malformed = self.stats.malformed.saturating_add(stats.malformed);
            self.files.push(f);
        } else {
            let mut w3c = W3cReader::new(index);
            let error = for_each_line(&mut reader, &mut |line| {
                if let Some(l) = w3c.line(line) {
                    self.keep_line(l);
                }
            })
            .err()
            .map(|e| e.to_string());
            let kind = if self
                .lines
                .last()
                .is_some_and(|l| l.file == index && l.kind == Some(LogKind::Httperr))
                || w3c
                    .software
                    .as_deref()
                    .is_some_and(|s| s.starts_with("Microsoft HTTP API"))
            {
                FileKind::Httperr
            } else {
                FileKind::W3c
            };
            self.stats.malformed = self.stats.malformed.saturating_add(w3c.stats.malformed);
            self.files.push(ServerLogFile {
                path: name,
                kind,
                software: w3c.software.clone(),
                lines: w3c.stats.lines,
                records: w3c.stats.records,
                malformed: w3c.stats.malformed,
                error,
            });
        }
        Ok(())
    }

    fn keep_line(&mut self, l: IisLine) {
        keep(
            &mut self.lines,
            l,
            &mut self.stats.iis_lines,
            &mut self.stats.dropped,
        );
    }

    fn keep_event(&mut self, e: SecurityEvent) {
        keep(
            &mut self.events,
            e,
            &mut self.stats.events,
            &mut self.stats.dropped,
        );
    }
}

/// Counts a record, and holds it unless [`MAX_RECORDS`] are held (then counts it dropped).
fn keep<T>(held: &mut Vec<T>, record: T, counted: &mut u64, dropped: &mut u64) {
    *counted = counted.saturating_add(1);
    if held.len() < MAX_RECORDS {
        held.push(record);
    } else {
        *dropped = dropped.saturating_add(1);
    }
}

impl ServerLogFile {
    fn new(path: String, kind: FileKind) -> ServerLogFile {
        ServerLogFile {
            path,
            kind,
            software: None,
            lines: 0,
            records: 0,
            malformed: 0,
            error: None,
        }
    }
}

/// wevtutil's XML (or an `<Events>` document): the first thing after white space, a byte
/// order mark or an XML declaration is an element named `Event`.
fn looks_like_event_xml(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with("<?xml") {
        t = t.split_once("?>").map_or("", |(_, r)| r).trim_start();
    }
    t.starts_with("<Event")
}

/// Each line of `reader` without its `\n`, at most [`w3c::MAX_LINE`] + 1 bytes of it (the
/// reader counts a longer one malformed), never holding more.
fn for_each_line(reader: &mut dyn BufRead, each: &mut dyn FnMut(&[u8])) -> std::io::Result<()> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            if !line.is_empty() {
                each(&line);
            }
            return Ok(());
        }
        let (part, end) = match memchr::memchr(b'\n', buf) {
            Some(i) => (buf.get(..i).unwrap_or_default(), Some(i + 1)),
            None => (buf, None),
        };
        let room = (w3c::MAX_LINE + 1).saturating_sub(line.len());
        line.extend_from_slice(part.get(..part.len().min(room)).unwrap_or_default());
        let used = end.unwrap_or(buf.len());
        reader.consume(used);
        if end.is_some() {
            each(&line);
            line.clear();
        }
    }
}

/// Reads a W3C or HTTPERR log's bytes (the fuzz target's entry).
pub fn read_w3c_bytes(bytes: &[u8]) -> (Vec<IisLine>, W3cStats) {
    let mut r = W3cReader::new(0);
    let mut out = Vec::new();
    let mut cursor = bytes;
    let _ = for_each_line(&mut cursor, &mut |l| {
        if let Some(line) = r.line(l) {
            out.push(line);
        }
    });
    (out, r.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_counted_not_held() {
        let mut text = b"#Fields: date time c-ip\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 100_000));
        text.extend_from_slice(b"\n2026-12-06 10:00:00 1.2.3.4\n");
        let (lines, stats) = read_w3c_bytes(&text);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].line, 3);
        assert_eq!(stats.malformed, 1);
    }

    #[test]
    fn event_xml_is_told_from_a_w3c_log() {
        assert!(looks_like_event_xml(
            b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<Events><Event"
        ));
        assert!(looks_like_event_xml(b"<Event xmlns='x'>"));
        assert!(!looks_like_event_xml(
            b"#Software: Microsoft Internet Information Services 10.0"
        ));
    }
}
