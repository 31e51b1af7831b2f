//! `--format mermaid`: Markdown with one Mermaid sequence diagram a handshake, pasteable into
//! a GitHub issue or a wiki as it is: a heading, the findings, and a fenced `mermaid` block
//! whose participants are the client, the proxy (for 407s) and the server. Every leg is a
//! request arrow and a response arrow, each with its status and token summary; TCP opens,
//! FINs, RSTs and gaps are notes.
//!
//! Text from the capture is escaped with Mermaid's entity codes (`#59;` for `;`, `#35;` for
//! `#`, `#lt;`/`#gt;`), so a header value cannot end a statement or open a directive.

use std::io::Write;
use std::path::PathBuf;

use super::{
    line_when, request_label, request_line, response_label, tcp_label, ExportError, HandshakeWriter,
};
use crate::handshake::TimelineWhat;
use crate::pipeline::Analysed;
use crate::present::{target, who};
use crate::shown::shown_with;

/// Timeline lines drawn per diagram at most; past it a note says how many were left out.
pub const MAX_LINES: usize = 200;

pub struct Mermaid {
    inputs: Vec<String>,
    written: u64,
}

impl Mermaid {
    pub fn new(paths: &[PathBuf]) -> Mermaid {
        Mermaid {
            inputs: paths.iter().map(|p| p.display().to_string()).collect(),
            written: 0,
        }
    }
}

/// Text made safe inside a Mermaid statement.
pub fn escape(s: &str) -> String {
    shown_with(s, |c| match c {
        '#' => Some("#35;"),
        ';' => Some("#59;"),
        '%' => Some("#37;"),
        '<' => Some("#lt;"),
        '>' => Some("#gt;"),
        _ => None,
    })
}

/// Text made safe in Markdown prose (no HTML, no emphasis by accident).
fn md(s: &str) -> String {
    shown_with(s, |c| match c {
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '&' => Some("&amp;"),
        '*' => Some("\\*"),
        '_' => Some("\\_"),
        '`' => Some("\\`"),
        '[' => Some("\\["),
        ']' => Some("\\]"),
        '|' => Some("\\|"),
        _ => None,
    })
}

/// The sequence diagram of one handshake (without the fence).
pub fn diagram(a: &Analysed) -> String {
    let h = &a.handshake;
    let mut s = String::from("sequenceDiagram\n");
    let server = h.host.clone().unwrap_or_else(|| h.server.to_string());
    s.push_str(&format!(
        "    participant C as client {}\n",
        escape(&h.client.to_string())
    ));
    // Requests go to the proxy for a 407 handshake, to the server otherwise.
    let to = if h.proxy {
        s.push_str(&format!(
            "    participant P as proxy {}\n",
            escape(&h.server.to_string())
        ));
        s.push_str(&format!(
            "    participant S as server {}\n",
            escape(&server)
        ));
        "P"
    } else {
        s.push_str(&format!(
            "    participant S as server {} {}\n",
            escape(&server),
            escape(&h.server.to_string())
        ));
        "S"
    };
    // The third lane: the client's KDC and DNS server, when messages to them joined.
    let peer = |dns: bool| {
        h.kdc
            .iter()
            .find(|m| matches!(m.body, crate::kdc::WireBody::Dns(_)) == dns)
            .map(|m| m.server.to_string())
    };
    if let Some(kdc) = peer(false) {
        s.push_str(&format!("    participant K as KDC {}\n", escape(&kdc)));
    }
    if let Some(dns) = peer(true) {
        s.push_str(&format!("    participant D as DNS {}\n", escape(&dns)));
    }
    for (n, e) in h.timeline.iter().enumerate() {
        if n >= MAX_LINES {
            s.push_str(&format!(
                "    Note over C,{to}: {} more lines not drawn\n",
                h.timeline.len().saturating_sub(MAX_LINES)
            ));
            break;
        }
        let when = line_when(n, e);
        let leg = |i: usize| h.legs.get(i);
        match &e.what {
            TimelineWhat::Request { leg: i, .. } => {
                let (line, label) = leg(*i)
                    .map(|l| (request_line(l), request_label(l)))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "    C->>{to}: {}\n",
                    escape(&format!("c{} {when} {line} [{label}]", e.conn))
                ));
            }
            TimelineWhat::Response { leg: i, status, .. } => {
                let label = leg(*i)
                    .map(response_label)
                    .unwrap_or_else(|| status.to_string());
                s.push_str(&format!(
                    "    {to}-->>C: {}\n",
                    escape(&format!("c{} {when} {label}", e.conn))
                ));
            }
            TimelineWhat::Tcp(k) => {
                s.push_str(&format!(
                    "    Note over C,{to}: {}\n",
                    escape(&format!("c{} {when} {}", e.conn, tcp_label(k)))
                ));
            }
            TimelineWhat::IisStatus { text, .. } | TimelineWhat::SecurityEvent { text, .. } => {
                s.push_str(&format!(
                    "    Note over {to}: {}\n",
                    escape(&format!("c{} {text}", e.conn))
                ));
            }
            TimelineWhat::Kdc { by, text } | TimelineWhat::Dns { by, text } => {
                let peer = if matches!(e.what, TimelineWhat::Kdc { .. }) {
                    "K"
                } else {
                    "D"
                };
                let arrow = match by {
                    crate::handshake::Side::Client => format!("C->>{peer}"),
                    crate::handshake::Side::Server => format!("{peer}-->>C"),
                };
                s.push_str(&format!(
                    "    {arrow}: {}\n",
                    escape(&format!("{} {when} {text}", e.conn_label()))
                ));
            }
        }
    }
    s
}

impl HandshakeWriter for Mermaid {
    fn handshake(&mut self, a: &Analysed, out: &mut dyn Write) -> Result<(), ExportError> {
        let h = &a.handshake;
        if self.written == 0 {
            writeln!(
                out,
                "# authscope: handshakes from {}\n",
                md(&self.inputs.join(", "))
            )?;
        }
        self.written = self.written.saturating_add(1);
        let user = who(h.domain.as_deref(), h.user.as_deref())
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        writeln!(
            out,
            "## Handshake #{}: {}{}{}, {}\n",
            h.id,
            md(&h.scheme.to_string()),
            if h.proxy { " (proxy)" } else { "" },
            md(&user),
            md(&h.outcome.label())
        )?;
        writeln!(
            out,
            "{} -> {} {}\n",
            h.client_socket,
            h.server,
            md(&target(h))
        )?;
        for f in &a.findings {
            writeln!(
                out,
                "- **{}** `{}`: {} Next step: {}",
                f.severity.label(),
                f.code,
                md(&f.summary),
                md(&f.next_step)
            )?;
        }
        if !a.findings.is_empty() {
            writeln!(out)?;
        }
        writeln!(out, "```mermaid\n{}```\n", diagram(a))?;
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError> {
        if self.written == 0 {
            writeln!(out, "# authscope: no handshake selected")?;
        }
        Ok(())
    }
}
