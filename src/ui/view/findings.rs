//! The selected handshake in brief, then its findings: severity, code, summary, next step and
//! the evidence.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::ui::app::{Pane, State};
use crate::ui::spool::{Detail, FindingDetail};
use crate::ui::strings;
use crate::ui::theme::Theme;

pub fn render(buf: &mut Buffer, area: Rect, s: &State, t: &Theme, wide: bool) {
    if area.is_empty() {
        return;
    }
    let focused = s.focus == Pane::Findings;
    let title = super::pane_tabs(s, Pane::Findings, "Findings", wide);
    Paragraph::new(all_lines(s, t))
        .block(super::pane_block(title, focused, t))
        .wrap(Wrap { trim: false })
        .scroll((s.findings_scroll.min(u16::MAX / 2), 0))
        .render(area, buf);
}

fn all_lines(s: &State, t: &Theme) -> Vec<Line<'static>> {
    let mut out = match (s.current(), s.detail()) {
        (Some(_), Some(d)) => lines(d, t),
        (Some(_), None) => super::no_detail(s, t),
        (None, _) if !s.connection_findings.is_empty() || !s.warnings.is_empty() => Vec::new(),
        (None, _) => vec![Line::styled(strings::NO_SELECTION, t.dim())],
    };
    if !s.connection_findings.is_empty() {
        if !out.is_empty() {
            out.push(Line::raw(""));
        }
        out.push(Line::styled(strings::CONNECTION_FINDINGS, t.bold()));
        for f in &s.connection_findings {
            finding(&mut out, f, t, &|frame| format!("frame {frame}"));
        }
    }
    // What the header counts, in full: a report read to damage is a report of part.
    if !s.warnings.is_empty() {
        if !out.is_empty() {
            out.push(Line::raw(""));
        }
        out.push(Line::styled(strings::READ_WARNINGS, t.bold()));
        for w in &s.warnings {
            out.push(Line::styled(
                crate::shown::shown(w).into_owned(),
                t.warning(),
            ));
        }
    }
    out
}

/// A line for each finding about connections, as the list shows them when it has no
/// handshake (the findings pane has the rest).
pub fn connection_lines(s: &State, t: &Theme) -> Vec<Line<'static>> {
    s.connection_findings
        .iter()
        .map(|f| {
            Line::from(vec![
                Span::styled(strings::severity(f.severity), t.severity(f.severity)),
                Span::raw(" "),
                Span::styled(f.code.clone(), t.bold()),
                Span::raw(format!(" server {}", f.subject.as_deref().unwrap_or(""))),
            ])
        })
        .collect()
}

/// A finding: severity and code, summary, next step, evidence.
fn finding(
    out: &mut Vec<Line<'static>>,
    f: &FindingDetail,
    t: &Theme,
    frame_words: &dyn Fn(u64) -> String,
) {
    out.push(Line::raw(""));
    let whom = match (&f.subject, f.proxy) {
        (Some(server), _) => format!(" server {server}"),
        (None, true) => " (proxy)".to_owned(),
        (None, false) => String::new(),
    };
    out.push(Line::from(vec![
        Span::styled(strings::severity(f.severity), t.severity(f.severity)),
        Span::raw(" "),
        Span::styled(f.code.clone(), t.bold()),
        Span::raw(whom),
    ]));
    out.push(Line::raw(f.summary.clone()));
    out.push(Line::from(vec![
        Span::styled("next: ", t.key()),
        Span::raw(f.next_step.clone()),
    ]));
    for e in &f.evidence {
        let leg = e
            .leg
            .map(|l| format!("leg {} ", l.saturating_add(1)))
            .unwrap_or_default();
        out.push(Line::styled(
            format!(
                "  {leg}{} {}: {}",
                e.conn_label(),
                frame_words(e.frame),
                e.note
            ),
            t.dim(),
        ));
    }
}

/// Lines of the pane once wrapped at `width` (an estimate: wrapping is by word).
pub fn line_count(s: &State, width: u16) -> usize {
    let w = usize::from(width).max(1);
    all_lines(s, &Theme::plain())
        .iter()
        .map(|l| l.width().div_ceil(w).max(1))
        .sum()
}

fn lines(h: &Detail, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let target = if h.resource.contains("://") {
        h.resource.clone()
    } else {
        format!("{}{}", h.host.as_deref().unwrap_or(""), h.resource)
    };
    out.push(Line::from(vec![
        Span::styled(format!("#{} ", h.id), t.bold()),
        Span::raw(format!("{} -> {}  {target}", h.client_socket, h.server)),
    ]));
    if let Some((n, name)) = &h.file {
        out.push(Line::styled(format!("file {n}: {name}"), t.dim()));
    }
    let mut facts = vec![format!("outcome: {}", h.outcome)];
    if !h.offered.is_empty() {
        facts.push(format!("offered: {}", h.offered.join(", ")));
    }
    if let Some(u) = h.user.as_deref().filter(|u| !u.is_empty()) {
        let who = match h.domain.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => format!("{d}\\{u}"),
            None => u.to_owned(),
        };
        facts.push(format!("user: {who}"));
    }
    if let Some(w) = h.workstation.as_deref().filter(|w| !w.is_empty()) {
        facts.push(format!("workstation: {w}"));
    }
    if let Some(spn) = &h.spn {
        facts.push(format!("spn: {spn}"));
    }
    if h.rounds > 1 {
        facts.push(format!("rounds: {}", h.rounds));
    }
    if h.connections > 1 {
        facts.push(format!("connections: {}", h.connections));
    }
    if h.reused_requests > 0 {
        facts.push(format!("+{} requests reusing it", h.reused_requests));
    }
    out.push(Line::styled(facts.join("  "), t.dim()));
    if h.findings.is_empty() {
        out.push(Line::styled(strings::NO_FINDINGS, t.success()));
        return out;
    }
    for f in &h.findings {
        finding(&mut out, f, t, &|frame| h.frame_words(frame));
    }
    out
}
