//! `--format html`: one self-contained page (inline CSS and SVG, no script, no fetch; a
//! Content-Security-Policy of `default-src 'none'` makes sure of it) with the findings first,
//! most severe first, then each handshake: its facts, its timeline drawn as an SVG sequence
//! diagram (client and server lanes, an arrow a request or response, a band a TCP event),
//! and its legs folded in `<details>` with the decoded tokens as trees. The page is narrow
//! by default and widens on a desk, so it reads on a phone.
//!
//! Memory stays flat: handshake sections and findings are spooled to temporary files as the
//! analyzer hands them out, and copied into the page at the end.

use crate::shown::{shown, shown_with};
use std::fmt::Write as _;
use std::io::{self, Seek, Write};
use std::path::PathBuf;

use super::{
    line_when, request_label, request_line, response_label, tcp_label, ExportError,
    HandshakeWriter, Options,
};
use crate::diagnose::{Finding, Severity};
use crate::handshake::{Leg, TimelineWhat};
use crate::pipeline::Analysed;
use crate::present::{clip, clock, rfc3339, target, who};

/// Timeline lines drawn per handshake at most.
pub const MAX_LINES: usize = 300;

/// Text as HTML character data or attribute value.
pub fn esc(s: &str) -> String {
    escape(s, false)
}

/// [`esc`] for a `<pre>` block whose line breaks are ours: they stay.
fn esc_pre(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, keep_lines: bool) -> String {
    shown_with(s, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        '\n' if keep_lines => Some("\n"),
        _ => None,
    })
}

struct Spool {
    file: io::BufWriter<std::fs::File>,
}

impl Spool {
    fn new() -> io::Result<Spool> {
        Ok(Spool {
            file: io::BufWriter::new(tempfile::tempfile()?),
        })
    }

    fn copy_into(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.file.flush()?;
        let f = self.file.get_mut();
        f.seek(io::SeekFrom::Start(0))?;
        io::copy(f, out)?;
        Ok(())
    }
}

/// One finding row, kept in the findings spool with its severity for the ordering.
pub struct Html {
    inputs: Vec<String>,
    /// The files' names when each is a capture of its own (empty for one capture): a frame
    /// is then named with its file.
    captures: Vec<String>,
    reveal: bool,
    filter: String,
    sections: Spool,
    /// One spool per severity (error, warning, info), so the page lists the worst first.
    findings: [Spool; 3],
    counts: [u64; 3],
    handshakes: u64,
}

impl Html {
    pub fn new(paths: &[PathBuf], opts: &Options) -> io::Result<Html> {
        Ok(Html {
            inputs: paths.iter().map(|p| p.display().to_string()).collect(),
            captures: Vec::new(),
            reveal: opts.reveal_secrets,
            filter: opts.selection.filter_text.clone(),
            sections: Spool::new()?,
            findings: [Spool::new()?, Spool::new()?, Spool::new()?],
            counts: [0; 3],
            handshakes: 0,
        })
    }
}

/// `frame 14`, or `file 2 frame 14` among several captures.
fn frame_at(file: Option<u32>, frame: u64) -> String {
    match file {
        Some(n) => format!("file {n} frame {frame}"),
        None => format!("frame {frame}"),
    }
}

const STYLE: &str = "
:root{color-scheme:light;--err:#b3261e;--warn:#8a5a00;--info:#1f5f8b;--ok:#1b6e20;--mute:#5f6368}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;padding:12px;max-width:960px;color:#1f1f1f;background:#fff}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .4em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin:.2em 0;overflow-wrap:anywhere}
.meta,.facts{color:var(--mute);font-size:.9em;overflow-wrap:anywhere}
.finding{border-left:4px solid var(--mute);padding:4px 8px;margin:8px 0;background:#fafafa}
.finding.error{border-color:var(--err)}.finding.warning{border-color:var(--warn)}.finding.info{border-color:var(--info)}
.sev{font-weight:700;font-size:.8em;text-transform:uppercase;margin-right:.4em}
.error .sev,.sev.error{color:var(--err)}.warning .sev,.sev.warning{color:var(--warn)}.info .sev,.sev.info{color:var(--info)}
code{font:13px ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.next{margin:.2em 0 0}
article{border:1px solid #ddd;border-radius:6px;padding:8px;margin:12px 0}
.outcome-success{color:var(--ok)}.outcome-fail{color:var(--err)}
svg.timeline{width:100%;max-width:720px;height:auto;display:block;margin:8px 0}
details{margin:4px 0;border-top:1px solid #eee;padding-top:4px}
summary{cursor:pointer;overflow-wrap:anywhere;font-size:.92em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;background:#f6f8fa;padding:6px;margin:4px 0}
ul.evidence{margin:.2em 0;padding-left:1.2em;font-size:.9em}
";

fn severity_slot(s: Severity) -> usize {
    match s {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

fn finding_html(f: &Finding, target: &str, file: Option<u32>) -> String {
    let sev = f.severity.label();
    let whom = match f.handshake {
        Some(id) => format!("<a href=\"#h{id}\">handshake #{id}</a>"),
        None => "server".to_owned(),
    };
    let mut s = format!(
        "<div class=\"finding {sev}\"><span class=\"sev\">{sev}</span><code>{}</code> \
         {whom} <span class=\"meta\">{}</span><p>{}</p>",
        esc(f.code),
        esc(target),
        esc(&f.summary)
    );
    if !f.next_step.is_empty() {
        let _ = write!(
            s,
            "<p class=\"next\"><b>Next:</b> {}</p>",
            esc(&f.next_step)
        );
    }
    if !f.evidence.is_empty() {
        let _ = write!(
            s,
            "<details><summary>evidence ({})</summary><ul class=\"evidence\">",
            f.evidence.len()
        );
        for e in &f.evidence {
            let leg = e
                .leg
                .map(|l| format!("leg {}, ", l.saturating_add(1)))
                .unwrap_or_default();
            let _ = write!(
                s,
                "<li>{leg}{} {}: {}</li>",
                e.conn_label(),
                frame_at(file, e.frame),
                esc(&e.note)
            );
        }
        s.push_str("</ul></details>");
    }
    s.push_str("</div>\n");
    s
}

/// The colours of arrows and bands: request, success, refusal, error, TCP event.
const COLOURS: [&str; 5] = ["#1f5f8b", "#1b6e20", "#8a5a00", "#b3261e", "#5f6368"];

/// An arrow head per colour (markers cannot take the line's colour in SVG 1.1).
fn markers(id: u64) -> String {
    let mut s = String::new();
    for c in COLOURS {
        let _ = write!(
            s,
            "<marker id=\"m{id}-{}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" \
             fill=\"{c}\"/></marker>",
            c.trim_start_matches('#')
        );
    }
    s
}

/// The timeline of a handshake as an SVG sequence diagram.
pub fn timeline_svg(a: &Analysed) -> String {
    const W: i64 = 360;
    const LEFT: i64 = 14;
    const RIGHT: i64 = W - 14;
    const TOP: i64 = 34;
    const ROW: i64 = 30;
    let h = &a.handshake;
    let id = h.id;
    let lines: Vec<_> = h.timeline.iter().take(MAX_LINES).collect();
    let rows = i64::try_from(lines.len()).unwrap_or(0).max(1);
    let height = TOP + rows * ROW + 8;
    let server = if h.proxy {
        format!("proxy {}", h.server)
    } else {
        h.host.clone().unwrap_or_else(|| h.server.to_string())
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" \
         role=\"img\" aria-label=\"timeline of handshake #{id}\" font-family=\"system-ui,sans-serif\">\
         <defs>{}</defs>\
         <rect width=\"{W}\" height=\"{height}\" fill=\"#fff\"/>\
         <text x=\"{LEFT}\" y=\"14\" font-size=\"11\" font-weight=\"700\">client {}</text>\
         <text x=\"{RIGHT}\" y=\"14\" font-size=\"11\" font-weight=\"700\" text-anchor=\"end\">{}</text>\
         <line x1=\"{LEFT}\" y1=\"20\" x2=\"{LEFT}\" y2=\"{height}\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>\
         <line x1=\"{RIGHT}\" y1=\"20\" x2=\"{RIGHT}\" y2=\"{height}\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>",
        markers(id),
        esc(&h.client.to_string()),
        esc(&clip(&server, 34)),
    );
    for (n, e) in lines.iter().enumerate() {
        let y = TOP + i64::try_from(n).unwrap_or(0) * ROW;
        let when = line_when(n, e);
        let leg = |i: usize| h.legs.get(i);
        let (text, colour, kind) = match &e.what {
            TimelineWhat::Request { leg: i, .. } => {
                let t = leg(*i)
                    .map(|l| format!("{} [{}]", request_line(l), request_label(l)))
                    .unwrap_or_default();
                (t, "#1f5f8b", 0)
            }
            TimelineWhat::Response { leg: i, status, .. } => {
                let t = leg(*i)
                    .map(response_label)
                    .unwrap_or_else(|| status.to_string());
                let c = match status {
                    200..=399 => "#1b6e20",
                    401 | 407 => "#8a5a00",
                    _ => "#b3261e",
                };
                (t, c, 1)
            }
            TimelineWhat::Tcp(k) => {
                let c = match k {
                    crate::handshake::ConnEventKind::Rst { .. } => "#b3261e",
                    crate::handshake::ConnEventKind::Gap { .. } => "#8a5a00",
                    _ => "#5f6368",
                };
                (tcp_label(k), c, 2)
            }
            TimelineWhat::IisStatus { text, .. } | TimelineWhat::SecurityEvent { text, .. } => {
                (text.clone(), "#6a3d9a", 2)
            }
            // The third lane: the client's KDC and DNS, drawn as notes in their own colour.
            TimelineWhat::Kdc { text, .. } | TimelineWhat::Dns { text, .. } => {
                (text.clone(), "#00695c", 2)
            }
        };
        let full = format!("{} {when} {text}", e.conn_label());
        let shown = esc(&clip(&full, 56));
        let title = esc(&full);
        let ty = y + 10;
        let ly = y + 17;
        match kind {
            0 | 1 => {
                let (x1, x2) = if kind == 0 {
                    (LEFT, RIGHT)
                } else {
                    (RIGHT, LEFT)
                };
                let _ = write!(
                    s,
                    "<g><title>{title}</title><text x=\"{}\" y=\"{ty}\" font-size=\"10.5\" fill=\"{colour}\">{shown}</text>\
                     <line x1=\"{x1}\" y1=\"{ly}\" x2=\"{x2}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"1.6\" \
                     marker-end=\"url(#m{id}-{})\"{}/></g>",
                    LEFT + 4,
                    colour.trim_start_matches('#'),
                    if kind == 1 { " stroke-dasharray=\"5 3\"" } else { "" },
                );
            }
            _ => {
                let _ = write!(
                    s,
                    "<g><title>{title}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"16\" rx=\"3\" \
                     fill=\"{colour}\" fill-opacity=\"0.12\" stroke=\"{colour}\" stroke-width=\"0.8\"/>\
                     <text x=\"{}\" y=\"{}\" font-size=\"10.5\" fill=\"{colour}\" text-anchor=\"middle\">{shown}</text></g>",
                    LEFT + 2,
                    y + 3,
                    RIGHT - LEFT - 4,
                    W / 2,
                    y + 14,
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

fn leg_details(i: usize, leg: &Leg, file: Option<u32>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<details><summary>leg {} (c{}): {} → {}</summary>",
        i.saturating_add(1),
        leg.conn,
        esc(&request_label(leg)),
        esc(&response_label(leg))
    );
    if let Some(r) = &leg.request {
        let mut head = format!("{} {}", shown(&r.method), shown(&r.uri));
        if let Some(hst) = &r.host {
            let _ = write!(head, "\nHost: {}", shown(hst));
        }
        if let Some(c) = &r.connection {
            let _ = write!(head, "\nConnection: {}", shown(c));
        }
        let _ = write!(
            s,
            "<p class=\"meta\">request, {} at {}</p><pre>{}</pre>",
            frame_at(file, r.frame),
            esc(&rfc3339(r.ts)),
            esc_pre(&head)
        );
        if let Some(c) = &r.credential {
            let _ = write!(
                s,
                "<pre>{}</pre>",
                esc_pre(&crate::present::tree::render(c))
            );
        }
    }
    if let Some(r) = &leg.response {
        let mut head = format!("{} {}", r.status, shown(&r.reason));
        if let Some(c) = &r.connection {
            let _ = write!(head, "\nConnection: {}", shown(c));
        }
        if let Some(sub) = &r.iis_substatus {
            let _ = write!(head, "\n(IIS substatus {sub} named in the error page)");
        }
        let _ = write!(
            s,
            "<p class=\"meta\">response, {} at {}, body {} bytes</p><pre>{}</pre>",
            frame_at(file, r.frame),
            esc(&rfc3339(r.ts)),
            r.body_len,
            esc_pre(&head)
        );
        if let Some(c) = &r.challenges {
            let _ = write!(
                s,
                "<pre>{}</pre>",
                esc_pre(&crate::present::tree::render(c))
            );
        }
    }
    s.push_str("</details>");
    s
}

/// `file`: the handshake's file's number and name, among several captures.
fn section(a: &Analysed, file: Option<(u32, &str)>) -> String {
    let h = &a.handshake;
    let outcome_class = match h.outcome {
        crate::handshake::Outcome::Success => "outcome-success",
        crate::handshake::Outcome::InProgress => "",
        _ => "outcome-fail",
    };
    let user = who(h.domain.as_deref(), h.user.as_deref())
        .map(|u| {
            let ws = h
                .workstation
                .as_deref()
                .filter(|w| !w.is_empty())
                .map(|w| format!(" on {w}"))
                .unwrap_or_default();
            format!(" {u}{ws}")
        })
        .unwrap_or_default();
    let mut s = format!(
        "<article id=\"h{}\"><h3>#{} {}{}{} · <span class=\"{outcome_class}\">{}</span></h3>\
         <p class=\"meta\">{} → {} · {} · {} .. {}</p>",
        h.id,
        h.id,
        esc(&h.scheme.to_string()),
        if h.proxy { " (proxy)" } else { "" },
        esc(&user),
        esc(&h.outcome.label()),
        esc(&h.client_socket.to_string()),
        esc(&h.server.to_string()),
        esc(&target(h)),
        esc(&rfc3339(h.first)),
        esc(&clock(h.last)),
    );
    if let Some((n, name)) = file {
        let _ = write!(s, "<p class=\"meta\">file {n}: {}</p>", esc(name));
    }
    let mut facts = Vec::new();
    if !h.offered.is_empty() {
        facts.push(format!("offered: {}", h.offered.join(", ")));
    }
    if let Some(spn) = &h.spn {
        facts.push(format!("spn: {spn}"));
    }
    if h.rounds > 1 {
        facts.push(format!("rounds: {}", h.rounds));
    }
    facts.push(format!(
        "connections: {}",
        h.connections
            .iter()
            .map(|c| format!("c{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    if !a.findings.is_empty() {
        facts.push(format!(
            "findings: {}",
            a.findings
                .iter()
                .map(|f| f.code)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let _ = write!(s, "<p class=\"facts\">{}</p>", esc(&facts.join(" · ")));
    s.push_str(&timeline_svg(a));
    if h.timeline.len() > MAX_LINES {
        let _ = write!(
            s,
            "<p class=\"meta\">{} more timeline lines not drawn</p>",
            h.timeline.len().saturating_sub(MAX_LINES)
        );
    }
    for (i, leg) in h.legs.iter().enumerate() {
        s.push_str(&leg_details(i, leg, file.map(|(n, _)| n)));
    }
    s.push_str("</article>\n");
    s
}

impl HandshakeWriter for Html {
    fn captures(&mut self, names: Vec<String>) {
        self.captures = names;
    }

    fn handshake(&mut self, a: &Analysed, _out: &mut dyn Write) -> Result<(), ExportError> {
        self.handshakes = self.handshakes.saturating_add(1);
        let t = target(&a.handshake);
        let input = a.handshake.input;
        let file = usize::try_from(input)
            .ok()
            .and_then(|i| self.captures.get(i))
            .map(|name| (input.saturating_add(1), name.as_str()));
        for f in &a.findings {
            let slot = severity_slot(f.severity);
            if let (Some(sp), Some(n)) = (self.findings.get_mut(slot), self.counts.get_mut(slot)) {
                sp.file
                    .write_all(finding_html(f, &t, file.map(|(n, _)| n)).as_bytes())?;
                *n = n.saturating_add(1);
            }
        }
        self.sections.file.write_all(section(a, file).as_bytes())?;
        Ok(())
    }

    fn connection_finding(&mut self, f: &Finding, _out: &mut dyn Write) -> Result<(), ExportError> {
        let slot = severity_slot(f.severity);
        if let (Some(sp), Some(n)) = (self.findings.get_mut(slot), self.counts.get_mut(slot)) {
            let subject = f.subject.as_deref().unwrap_or("");
            // Evidence frames are named without a file: with several captures, a
            // connection's frame numbers are those of its own capture.
            sp.file
                .write_all(finding_html(f, subject, None).as_bytes())?;
            *n = n.saturating_add(1);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError> {
        let title = format!("authscope: {}", self.inputs.join(", "));
        write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; img-src data:\">\
             <meta name=\"generator\" content=\"authscope {}\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n",
            env!("CARGO_PKG_VERSION"),
            esc(&title)
        )?;
        let mut meta = vec![format!("{} handshakes", self.handshakes)];
        if !self.filter.is_empty() {
            meta.push(format!("filter: {}", self.filter));
        }
        meta.push(if self.reveal {
            "secrets REVEALED".to_owned()
        } else {
            "secrets redacted".to_owned()
        });
        writeln!(
            out,
            "<header><h1>authscope</h1><p class=\"meta\">{}</p><p class=\"meta\">{}</p></header>",
            esc(&self.inputs.join(", ")),
            esc(&meta.join(" · "))
        )?;
        let total: u64 = self.counts.iter().sum();
        let by: Vec<String> = ["error", "warning", "info"]
            .iter()
            .zip(self.counts.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        if total == 0 {
            write!(out, "<section id=\"findings\"><h2>Findings: none</h2>")?;
        } else {
            writeln!(
                out,
                "<section id=\"findings\"><h2>Findings ({})</h2>",
                by.join(", ")
            )?;
        }
        for sp in &mut self.findings {
            sp.copy_into(out)?;
        }
        write!(
            out,
            "</section>\n<section id=\"handshakes\"><h2>Handshakes ({})</h2>\n",
            self.handshakes
        )?;
        self.sections.copy_into(out)?;
        writeln!(out, "</section></body></html>")?;
        Ok(())
    }
}
