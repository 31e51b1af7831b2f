//! The header: source, counters, findings by severity, capture span; then the progress of the
//! reading (or the live counters), the sort and the filter.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::present::{clock, rfc3339};
use crate::ui::app::State;
use crate::ui::strings;
use crate::ui::theme::Theme;

/// The running indicator of a live capture.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub fn render(buf: &mut Buffer, area: Rect, s: &State, t: &Theme) {
    if area.is_empty() {
        return;
    }
    let width = usize::from(area.width);
    let mut lines = vec![fit(first_line(s, t), width)];
    if area.height > 1 {
        lines.push(fit(second_line(s, t, width), width));
    }
    Paragraph::new(lines).render(area, buf);
}

/// Pieces in order of importance; those that do not fit are left out whole.
fn fit(pieces: Vec<Vec<Span<'static>>>, width: usize) -> Line<'static> {
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for (i, p) in pieces.into_iter().enumerate() {
        let w: usize = p.iter().map(|s| s.content.chars().count()).sum();
        let sep = if i == 0 { 0 } else { 2 };
        if used.saturating_add(w).saturating_add(sep) > width && i > 0 {
            continue;
        }
        if i > 0 {
            out.push(Span::raw("  "));
        }
        used = used.saturating_add(w).saturating_add(sep);
        out.extend(p);
    }
    Line::from(out)
}

fn first_line(s: &State, t: &Theme) -> Vec<Vec<Span<'static>>> {
    let mut p = Vec::new();
    let base = |n: &String| {
        std::path::Path::new(n)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| n.clone())
    };
    let name = match s.source.names.as_slice() {
        [] => s
            .source
            .live
            .as_ref()
            .map(|l| format!("live {}", l.interface))
            .unwrap_or_default(),
        [one] => base(one),
        [one, rest @ ..] => format!("{} (+{})", base(one), rest.len()),
    };
    p.push(vec![
        Span::styled(strings::TITLE, t.key()),
        Span::raw(" "),
        Span::styled(name, t.bold()),
    ]);
    p.push(vec![Span::raw(format!("{} handshakes", s.records.len()))]);
    let [e, w, i] = s.by_severity;
    let sev = |n: u64, word: &str, st: Style| {
        Span::styled(format!("{n} {word}"), if n > 0 { st } else { t.dim() })
    };
    p.push(vec![
        Span::raw("findings: "),
        sev(e, "err", t.error()),
        Span::raw(" "),
        sev(w, "warn", t.warning()),
        Span::raw(" "),
        sev(i, "info", t.info()),
    ]);
    p
}

fn second_line(s: &State, t: &Theme, width: usize) -> Vec<Vec<Span<'static>>> {
    let mut p = Vec::new();
    if let Some(live) = &s.source.live {
        // The running indicator turns with each batch of the worker, so a frozen one means
        // a stuck capture.
        let state = if s.done {
            "capture ended".to_owned()
        } else {
            let spin = SPINNER
                .get(usize::try_from(live.ticks % SPINNER.len() as u64).unwrap_or(0))
                .copied()
                .unwrap_or(' ');
            format!("{spin} capturing")
        };
        p.push(vec![
            Span::styled("live", t.success()),
            Span::raw(format!(" {state}  {:.0} pkt/s  ", live.packets_per_second)),
            Span::styled(
                format!("dropped {}", live.dropped),
                if live.dropped > 0 {
                    t.warning()
                } else {
                    t.dim()
                },
            ),
        ]);
        if live.unsaved > 0 {
            p.push(vec![Span::styled(
                strings::unsaved(live.unsaved),
                t.warning(),
            )]);
        }
    } else if s.done {
        p.push(vec![Span::styled("read in full", t.success())]);
    } else {
        let total = s.source.total_bytes.max(1);
        let read = s.source.bytes_read().min(total);
        let pct = read.saturating_mul(100) / total;
        let bar_w = (width / 5).clamp(10, 30);
        let filled = usize::try_from(read.saturating_mul(bar_w as u64) / total).unwrap_or(0);
        p.push(vec![
            Span::styled("reading ", t.warning()),
            Span::styled("█".repeat(filled), t.info()),
            Span::styled("░".repeat(bar_w.saturating_sub(filled)), t.dim()),
            Span::raw(format!(
                " {pct:>3}% of {}",
                strings::bytes(s.source.total_bytes)
            )),
        ]);
    }
    if s.spool_error.is_some() {
        p.push(vec![Span::styled(strings::DETAILS_MISSING, t.warning())]);
    }
    if !s.filter_text.is_empty() {
        p.push(vec![
            Span::raw("filter: "),
            Span::styled(s.filter_text.clone(), t.key()),
        ]);
    }
    if s.findings_only {
        p.push(vec![Span::styled("with findings only", t.warning())]);
    }
    // Before the counters: at 80 columns what does not fit the line is left out.
    if !s.warnings.is_empty() {
        p.push(vec![Span::styled(
            match s.warnings.len() {
                1 => "1 read warning".to_owned(),
                n => format!("{n} read warnings"),
            },
            t.warning(),
        )]);
    }
    p.push(vec![Span::raw(format!("sort: {}", s.sort.label()))]);
    p.push(vec![Span::raw(format!("{} packets", s.stats.packets))]);
    p.push(vec![Span::raw(format!(
        "{} connections",
        s.connections.max(s.stats.tcp.connections)
    ))]);
    if let Some(logs) = &s.server_logs {
        p.push(vec![Span::styled(logs.clone(), t.dim())]);
    }
    if let (Some(a), Some(b)) = (s.stats.first, s.stats.last) {
        let span = if s.spans_days() {
            let day = |ts| {
                let full = rfc3339(ts);
                format!(
                    "{} {}",
                    full.get(..10).unwrap_or(""),
                    full.get(11..19).unwrap_or("")
                )
            };
            format!("{} .. {}", day(a), day(b))
        } else {
            format!("{} .. {}", clock(a), clock(b))
        };
        p.push(vec![Span::styled(
            format!("{span} ({})", strings::span(b.since(a))),
            t.dim(),
        )]);
    }
    p
}
