//! The handshakes list: time, client -> server, host and resource, scheme, user, outcome and
//! the marks of its findings. Columns that do not fit are left out whole, the least useful
//! first, so the server's name stays at every width.

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
    let rows_h = usize::from(area.height.saturating_sub(super::TABLE_CHROME));
    let top = s
        .list_top
        .min(s.cursor)
        .max(s.cursor.saturating_add(1).saturating_sub(rows_h));
    let inner = super::framed(buf, area, title(s, top, rows_h), focused, t);
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
    let wide = inner.width >= 130;
    let dated = s.spans_days();
    // The selection mark takes the first column.
    let cols = columns(inner.width.saturating_sub(1), wide, dated);
    let head = Row::new(cols.iter().map(|(c, _)| Cell::from(c.title()))).style(t.bold());
    let widths: Vec<Constraint> = cols.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    let rows = s
        .view
        .iter()
        .skip(top)
        .take(rows_h)
        .filter_map(|&i| s.records.get(i))
        .map(|r| row(r, t, &cols, wide, dated));
    let table = Table::new(rows, widths)
        .header(head)
        .column_spacing(1)
        .row_highlight_style(t.selected(focused))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(s.cursor.saturating_sub(top)));
    StatefulWidget::render(table, inner, buf, &mut ts);
}

/// The count, and how many rows are out of sight above and below, so a sort that puts rows
/// above the view never hides them.
fn title(s: &State, top: usize, rows: usize) -> String {
    let mut title = format!(" Handshakes {}", s.view.len());
    if s.view.len() != s.records.len() {
        title.push_str(&format!(" of {}", s.records.len()));
    }
    let below = s.view.len().saturating_sub(top.saturating_add(rows));
    if top > 0 {
        title.push_str(&format!("  ▲ {top} above"));
    }
    if below > 0 {
        title.push_str(&format!("  ▼ {below} below"));
    }
    title.push(' ');
    title
}

/// A column of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Mark,
    Time,
    Client,
    Target,
    Scheme,
    User,
    Outcome,
    Findings,
}

impl Col {
    /// In the order shown.
    const ALL: [Col; 8] = [
        Col::Mark,
        Col::Time,
        Col::Client,
        Col::Target,
        Col::Scheme,
        Col::User,
        Col::Outcome,
        Col::Findings,
    ];

    /// Kept first when the width runs out: what failed and where, then when, how and who.
    fn priority(self) -> u8 {
        match self {
            Col::Mark => 0,
            Col::Target => 1,
            Col::Outcome => 2,
            Col::Time => 3,
            Col::Scheme => 4,
            Col::Findings => 5,
            Col::User => 6,
            Col::Client => 7,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Col::Mark => "",
            Col::Time => "time",
            Col::Client => "client",
            Col::Target => "host and resource",
            Col::Scheme => "scheme",
            Col::User => "user",
            Col::Outcome => "outcome",
            Col::Findings => "findings",
        }
    }

    /// The columns it needs, and its share of the room left over (0: it does not grow).
    fn size(self, wide: bool, dated: bool) -> (u16, u16) {
        match self {
            Col::Mark => (2, 0),
            Col::Time => match (wide, dated) {
                (true, true) => (18, 0),
                (true, false) => (12, 0),
                (false, true) => (14, 0),
                (false, false) => (8, 0),
            },
            Col::Client if wide => (36, 0),
            Col::Client => (15, 0),
            Col::Target => (14, 3),
            Col::Scheme if wide => (15, 0),
            Col::Scheme => (9, 0),
            Col::User if wide => (14, 0),
            Col::User => (10, 0),
            Col::Outcome => (12, 0),
            Col::Findings => (8, 2),
        }
    }
}

/// The columns that fit in `width`, each with its width: taken by priority, shown in order,
/// the room left shared by the columns that grow.
fn columns(width: u16, wide: bool, dated: bool) -> Vec<(Col, u16)> {
    let mut by_priority = Col::ALL;
    by_priority.sort_by_key(|c| c.priority());
    let mut used = 0u16;
    let mut keep = Vec::new();
    for c in by_priority {
        let (min, _) = c.size(wide, dated);
        let need = if keep.is_empty() {
            min
        } else {
            min.saturating_add(1)
        };
        if used.saturating_add(need) <= width {
            used = used.saturating_add(need);
            keep.push(c);
        }
    }
    let mut cols: Vec<(Col, u16)> = Col::ALL
        .iter()
        .filter(|c| keep.contains(c))
        .map(|&c| (c, c.size(wide, dated).0))
        .collect();
    let spare = width.saturating_sub(used);
    let shares: u16 = cols.iter().map(|(c, _)| c.size(wide, dated).1).sum();
    if shares > 0 {
        let mut given = 0u16;
        let last_grower = cols.iter().rposition(|(c, _)| c.size(wide, dated).1 > 0);
        for (i, (c, w)) in cols.iter_mut().enumerate() {
            let share = c.size(wide, dated).1;
            if share == 0 {
                continue;
            }
            let extra = if Some(i) == last_grower {
                spare.saturating_sub(given)
            } else {
                u16::try_from(u32::from(spare) * u32::from(share) / u32::from(shares)).unwrap_or(0)
            };
            given = given.saturating_add(extra);
            *w = w.saturating_add(extra);
        }
    }
    cols
}

fn user(h: &Record) -> String {
    crate::present::who(h.domain.as_deref(), h.user.as_deref()).unwrap_or_default()
}

fn target(h: &Record) -> String {
    crate::present::target_of(h.host.as_deref(), &h.resource)
}

fn row<'a>(r: &'a Record, t: &Theme, cols: &[(Col, u16)], wide: bool, dated: bool) -> Row<'a> {
    let cells = cols.iter().map(|&(c, _)| match c {
        Col::Mark => Cell::from(Span::styled(
            strings::severity_mark(r.worst),
            r.worst.map(|w| t.severity(w)).unwrap_or_default(),
        )),
        Col::Time => Cell::from(strings::list_time(r.first, wide, dated)),
        Col::Client if wide => Cell::from(format!("{} -> {}", r.client_socket, r.server)),
        Col::Client => Cell::from(r.client_socket.ip().to_string()),
        Col::Target => {
            let target = target(r);
            // A handshake with no Host: the server is what names it.
            Cell::from(if target.starts_with('/') || target.is_empty() {
                format!("{}{target}", r.server)
            } else {
                target
            })
        }
        Col::Scheme => {
            let short = strings::scheme_short(&r.scheme);
            Cell::from(if wide && r.proxy {
                format!("{short}+proxy")
            } else {
                short
            })
        }
        Col::User => Cell::from(user(r)),
        Col::Outcome => Cell::from(Span::styled(
            strings::outcome_short(&r.outcome),
            t.outcome(&r.outcome),
        )),
        Col::Findings => {
            let mut marks: Vec<Span> = Vec::new();
            for (code, severity) in r.findings.iter() {
                if !marks.is_empty() {
                    marks.push(Span::raw(" "));
                }
                marks.push(Span::styled(strings::mark(code), t.severity(*severity)));
            }
            Cell::from(Line::from(marks))
        }
    });
    Row::new(cells.collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_stays_and_the_client_goes_first() {
        let at = |w| {
            columns(w, false, false)
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
        };
        let c80 = at(78);
        assert!(c80.contains(&Col::Target) && !c80.contains(&Col::Client));
        assert!(at(110).contains(&Col::Client));
        let c40 = at(40);
        assert!(c40.contains(&Col::Target) && c40.contains(&Col::Outcome));
        assert!(!c40.contains(&Col::User));
        for w in [20, 40, 60, 78, 100, 128] {
            let total: u16 = columns(w, false, false).iter().map(|(_, w)| w + 1).sum();
            assert!(total.saturating_sub(1) <= w, "{w}: {total}");
        }
        assert_eq!(
            columns(78, false, false)
                .iter()
                .map(|(_, w)| w + 1)
                .sum::<u16>()
                - 1,
            78
        );
    }
}
