//! `--format csv`: one row a handshake, for a spreadsheet (RFC 4180, with a header row).
//! Finding codes are joined with spaces in one cell. A cell from the packets that a
//! spreadsheet would run as a formula is neutralised ([`crate::shown::csv_cell`]).

use std::borrow::Cow;
use std::io::Write;

use serde::Serialize;

use super::{ExportError, HandshakeWriter};
use crate::pipeline::Analysed;
use crate::present::{rfc3339, target};
use crate::shown::csv_cell;

/// One row.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    pub id: u64,
    pub time: String,
    pub client: String,
    pub server: String,
    pub host: Cow<'a, str>,
    pub resource: String,
    pub proxy: bool,
    pub scheme: String,
    pub user: Cow<'a, str>,
    pub domain: Cow<'a, str>,
    pub outcome: String,
    pub findings: String,
    pub duration_ms: f64,
    pub legs: usize,
    pub rounds: u32,
}

impl<'a> Row<'a> {
    pub fn of(a: &'a Analysed) -> Row<'a> {
        let h = &a.handshake;
        Row {
            id: h.id,
            time: rfc3339(h.first),
            client: h.client_socket.to_string(),
            server: h.server.to_string(),
            host: csv_cell(h.host.as_deref().unwrap_or_default()),
            resource: csv_cell(&if h.resource.contains("://") {
                target(h)
            } else {
                h.resource.clone()
            })
            .into_owned(),
            proxy: h.proxy,
            scheme: csv_cell(h.scheme.as_str()).into_owned(),
            user: csv_cell(h.user.as_deref().unwrap_or_default()),
            domain: csv_cell(h.domain.as_deref().unwrap_or_default()),
            outcome: h.outcome.label(),
            findings: a
                .findings
                .iter()
                .map(|f| f.code)
                .collect::<Vec<_>>()
                .join(" "),
            duration_ms: h.last.since(h.first) as f64 / 1e6,
            legs: h.legs.len(),
            rounds: h.rounds,
        }
    }
}

/// The CSV writer: rows are serialized into a buffer and passed on, one at a time.
pub struct Csv {
    header_written: bool,
}

impl Csv {
    pub fn new() -> Csv {
        Csv {
            header_written: false,
        }
    }
}

impl Default for Csv {
    fn default() -> Self {
        Csv::new()
    }
}

impl HandshakeWriter for Csv {
    fn handshake(&mut self, a: &Analysed, out: &mut dyn Write) -> Result<(), ExportError> {
        let mut w = ::csv::WriterBuilder::new()
            .has_headers(!self.header_written)
            .from_writer(&mut *out);
        w.serialize(Row::of(a))?;
        w.flush()?;
        self.header_written = true;
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError> {
        if !self.header_written {
            // No handshake: still a valid CSV with its header.
            let mut w = ::csv::Writer::from_writer(&mut *out);
            w.write_record([
                "id",
                "time",
                "client",
                "server",
                "host",
                "resource",
                "proxy",
                "scheme",
                "user",
                "domain",
                "outcome",
                "findings",
                "duration_ms",
                "legs",
                "rounds",
            ])?;
            w.flush()?;
        }
        Ok(())
    }
}
