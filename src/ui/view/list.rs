//! The handshakes list: time, client -> server, host and resource, scheme, user, outcome and
//! the marks of its findings.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Cell, HighlightSpacing, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};

use crate::ui::app::{Pane, Record, State};
use crate::ui::strings;
use crate::ui::theme::Theme;

pub fn render(buf: &mut Buffer, area: Rect, s: &State, t: &Theme) {
    if area.is_empty() {
        return;
    }
    let focused = s.focus == Pane::List;
    let mut title = format!(" Handshakes {}", s.view.len());
    if s.view.len() != s.records.len() {
        title.push_str(&format!(" of {}", s.records.len()));
    }
    title.push(' ');
    let inner = super::framed(buf, area, title, focused, t);
    if inner.is_empty() {
        return;
    }
    if s.view.is_empty() {
        let live = s.source.live.is_some();
        let msg = if !s.records.is_empty() {
            strings::NO_MATCH
        } else if live && s.done {
            strings::NO_HANDSHAKES_LIVE_ENDED
        } else if live {
            strings::NO_HANDSHAKES_LIVE
        } else if s.done {
            strings::NO_HANDSHAKES
        } else {
            strings::NO_HANDSHAKES_YET
        };
        let mut lines = vec![Line::styled(msg, t.dim())];
        if s.records.is_empty() {
            lines.extend(super::findings::connection_lines(s, t));
        }
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .render(inner, buf);
        return;
    }
    let tier = match inner.width {
        0..=99 => Tier::Narrow,
        100..=129 => Tier::Medium,
        _ => Tier::Wide,
    };
    let (widths, titles): (Vec<Constraint>, &[&str]) = match tier {
        Tier::Wide => (
            vec![
                Constraint::Length(2),
                Constraint::Length(12),
                Constraint::Length(36),
                Constraint::Fill(3),
                Constraint::Length(15),
                Constraint::Length(14),
                Constraint::Length(12),
                Constraint::Fill(2),
            ],
            &[
                "",
                "time",
                "client -> server",
                "host and resource",
                "scheme",
                "user",
                "outcome",
                "findings",
            ],
        ),
        Tier::Medium => (
            vec![
                Constraint::Length(2),
                Constraint::Length(8),
                Constraint::Length(15),
                Constraint::Fill(1),
                Constraint::Length(9),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Fill(1),
            ],
            &[
                "",
                "time",
                "client",
                "host and resource",
                "scheme",
                "user",
                "outcome",
                "findings",
            ],
        ),
        Tier::Narrow => (
            vec![
                Constraint::Length(2),
                Constraint::Length(8),
                Constraint::Length(15),
                Constraint::Length(9),
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Fill(1),
            ],
            &[
                "", "time", "client", "scheme", "user", "outcome", "findings",
            ],
        ),
    };
    let head = Row::new(titles.iter().map(|h| Cell::from(*h))).style(t.bold());
    let rows_h = usize::from(inner.height.saturating_sub(1));
    let top = s
        .list_top
        .min(s.cursor)
        .max(s.cursor.saturating_add(1).saturating_sub(rows_h));
    let rows = s
        .view
        .iter()
        .skip(top)
        .take(rows_h)
        .filter_map(|&i| s.records.get(i))
        .map(|r| row(r, t, tier));
    let table = Table::new(rows, widths)
        .header(head)
        .column_spacing(1)
        .row_highlight_style(t.selected(focused))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(s.cursor.saturating_sub(top)));
    StatefulWidget::render(table, inner, buf, &mut ts);
}

fn user(h: &Record) -> String {
    crate::present::who(h.domain.as_deref(), h.user.as_deref()).unwrap_or_default()
}

fn target(h: &Record) -> String {
    crate::present::target_of(h.host.as_deref(), &h.resource)
}

/// How many columns the list has room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Narrow,
    Medium,
    Wide,
}

fn row<'a>(r: &'a Record, t: &Theme, tier: Tier) -> Row<'a> {
    let h = r;
    let mark = Cell::from(Span::styled(
        strings::severity_mark(r.worst),
        r.worst.map(|w| t.severity(w)).unwrap_or_default(),
    ));
    let time = crate::present::clock(h.first);
    let short = strings::scheme_short(&h.scheme);
    let scheme = match tier {
        Tier::Wide if h.proxy => format!("{short}+proxy"),
        _ => short,
    };
    let outcome = Cell::from(Span::styled(
        strings::outcome_short(&h.outcome),
        t.outcome(&h.outcome),
    ));
    let mut marks: Vec<Span> = Vec::new();
    for (code, severity) in r.findings.iter() {
        if !marks.is_empty() {
            marks.push(Span::raw(" "));
        }
        marks.push(Span::styled(strings::mark(code), t.severity(*severity)));
    }
    let marks = Cell::from(Line::from(marks));
    let short_time = || Cell::from(time.get(..8).unwrap_or(&time).to_owned());
    match tier {
        Tier::Wide => Row::new(vec![
            mark,
            Cell::from(time.get(..12).unwrap_or(&time).to_owned()),
            Cell::from(format!("{} -> {}", h.client_socket, h.server)),
            Cell::from(target(h)),
            Cell::from(scheme),
            Cell::from(user(h)),
            outcome,
            marks,
        ]),
        Tier::Medium => Row::new(vec![
            mark,
            short_time(),
            Cell::from(h.client_socket.ip().to_string()),
            Cell::from(target(h)),
            Cell::from(scheme),
            Cell::from(user(h)),
            outcome,
            marks,
        ]),
        Tier::Narrow => Row::new(vec![
            mark,
            short_time(),
            Cell::from(h.client_socket.ip().to_string()),
            Cell::from(scheme),
            Cell::from(user(h)),
            outcome,
            marks,
        ]),
    }
}
