//! Rendering: one widget per file, each a function of `&State`. [`layout`] is shared with the
//! state (page sizes, mouse hits), so what is drawn and what is clicked agree.

mod canvas;
mod cause;
mod detail;
mod findings;
mod header;
mod help;
mod hints;
mod list;
mod timeline;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Direction, Layout as Split, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Widget};
use ratatui::Frame;

use super::app::{Mode, Pane, State};
use super::theme::Theme;

/// Where each pane goes; a pane not shown has an empty rectangle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    pub header: Rect,
    pub list: Rect,
    pub timeline: Rect,
    pub detail: Rect,
    pub findings: Rect,
    /// The selection's root cause and next step, under the list (compact layout).
    pub cause: Rect,
    pub hints: Rect,
    /// Every pane at once (a large terminal).
    pub wide: bool,
}

/// Rows a bordered table spends on its borders and column titles.
const TABLE_CHROME: u16 = 3;

impl Layout {
    /// Handshakes the list shows at once.
    pub fn list_rows(&self) -> u16 {
        self.list.height.saturating_sub(TABLE_CHROME)
    }

    /// Timeline lines shown at once.
    pub fn timeline_rows(&self) -> u16 {
        self.timeline.height.saturating_sub(TABLE_CHROME)
    }

    /// The list row (from the top of the visible rows) at screen line `y`.
    pub fn list_row_at(&self, y: u16) -> Option<u16> {
        row_at(self.list, y)
    }

    pub fn timeline_row_at(&self, y: u16) -> Option<u16> {
        row_at(self.timeline, y)
    }
}

fn row_at(r: Rect, y: u16) -> Option<u16> {
    let first = r.y.saturating_add(2);
    let rows = r.height.saturating_sub(TABLE_CHROME);
    (y >= first && y < first.saturating_add(rows)).then(|| y.saturating_sub(first))
}

/// The terminal is wide and tall enough to show every pane at once.
fn is_wide(area: Rect) -> bool {
    area.width >= 140 && area.height >= 36
}

pub fn layout(area: Rect, s: &State) -> Layout {
    let header_h = if area.height >= 12 { 2 } else { 1 }.min(area.height);
    let hint_h = u16::from(area.height >= 3);
    let [header, body, hints] = Split::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(header_h),
            Constraint::Fill(1),
            Constraint::Length(hint_h),
        ])
        .areas(area);
    let mut l = Layout {
        header,
        hints,
        wide: is_wide(area),
        ..Layout::default()
    };
    if l.wide {
        let [list, bottom] = Split::default()
            .direction(Direction::Vertical)
            .constraints([list_height(body, s, 38), Constraint::Fill(1)])
            .areas(body);
        let [timeline, right] = Split::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(55), Constraint::Fill(1)])
            .areas(bottom);
        let [detail, findings] = Split::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(60), Constraint::Fill(1)])
            .areas(right);
        l.list = list;
        l.timeline = timeline;
        l.detail = detail;
        l.findings = findings;
    } else {
        let cause_h = if cause::wanted(s) && s.lower != Pane::Findings && body.height >= 16 {
            cause::HEIGHT
        } else {
            0
        };
        let [list, cause, lower] = Split::default()
            .direction(Direction::Vertical)
            .constraints([
                list_height(body, s, 42),
                Constraint::Length(cause_h),
                Constraint::Fill(1),
            ])
            .areas(body);
        l.list = list;
        l.cause = cause;
        // With no handshake, the findings about connections and the read warnings are all
        // there is to show.
        let only_connections =
            s.records.is_empty() && !(s.connection_findings.is_empty() && s.warnings.is_empty());
        match s.lower {
            Pane::Detail => l.detail = lower,
            Pane::Findings => l.findings = lower,
            Pane::List | Pane::Timeline if only_connections => l.findings = lower,
            Pane::List | Pane::Timeline => l.timeline = lower,
        }
    }
    l
}

/// The list's height: `percent` of the body, or less when fewer handshakes need less, so the
/// panes below get the rows the list would leave empty.
fn list_height(body: Rect, s: &State, percent: u16) -> Constraint {
    let share = u16::try_from(u32::from(body.height) * u32::from(percent) / 100).unwrap_or(0);
    // An empty list says why, and lists the findings about connections.
    let rows = if s.view.is_empty() {
        s.connection_findings.len().saturating_add(1)
    } else {
        s.view.len()
    };
    let need = u16::try_from(rows.max(2))
        .unwrap_or(u16::MAX)
        .saturating_add(TABLE_CHROME);
    Constraint::Length(share.min(need))
}

/// Draws the whole screen.
pub fn render(f: &mut Frame, s: &State, theme: &Theme) {
    let area = f.area();
    let l = layout(area, s);
    let buf = f.buffer_mut();
    header::render(buf, l.header, s, theme);
    list::render(buf, l.list, s, theme);
    timeline::render(buf, l.timeline, s, theme, l.wide);
    detail::render(buf, l.detail, s, theme, l.wide);
    findings::render(buf, l.findings, s, theme, l.wide);
    cause::render(buf, l.cause, s, theme);
    hints::render(buf, l.hints, s, theme);
    if s.mode == Mode::Help {
        help::render(buf, area, theme);
    }
}

/// The timeline entry drawn on row `row` of the timeline pane (an entry can take rows).
pub fn timeline_entry_at(s: &State, row: u16) -> Option<usize> {
    timeline::entry_at(s, layout(s.size, s).timeline, usize::from(row))
}

/// The first timeline entry on screen: the scroll once wrapped labels are counted.
pub fn timeline_top(s: &State) -> usize {
    timeline::top_in(s, layout(s.size, s).timeline)
}

/// Lines of content of a scrolling pane (the detail, the findings), for clamping its scroll.
pub fn content_lines(s: &State, pane: Pane) -> usize {
    let l = layout(s.size, s);
    match pane {
        Pane::Detail => detail::line_count(s),
        Pane::Findings => findings::line_count(s, l.findings.width.saturating_sub(2)),
        Pane::List => s.view.len(),
        Pane::Timeline => s.detail().map_or(0, |d| d.timeline.len()),
    }
}

/// A pane's border with its title; the focused pane's stands out.
fn pane_block(title: String, focused: bool, t: &Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Span::styled(title, t.bold()))
}

/// Draws a pane's border and title over `area`; the room left inside it.
fn framed(buf: &mut Buffer, area: Rect, title: String, focused: bool, t: &Theme) -> Rect {
    let block = pane_block(title, focused, t);
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// What a pane says when the selected handshake's details are not at hand.
fn no_detail(s: &State, t: &Theme) -> Vec<ratatui::text::Line<'static>> {
    let mut v = vec![ratatui::text::Line::styled(
        super::strings::NO_DETAIL,
        t.dim(),
    )];
    if let Some(e) = &s.spool_error {
        v.push(ratatui::text::Line::styled(e.clone(), t.warning()));
    }
    v
}

/// The title of a lower pane in the compact layout: every pane named, the shown one marked,
/// so Tab's destinations are visible.
fn pane_tabs(s: &State, shown: Pane, own: &str, wide: bool) -> String {
    if wide {
        return format!(" {own} ");
    }
    let name = |p: Pane, n: &str| {
        if p == shown {
            format!("[{own}]")
        } else {
            n.to_owned()
        }
    };
    let findings = s
        .current()
        .map(|r| format!("Findings {}", r.findings.len()))
        .unwrap_or_else(|| "Findings".into());
    format!(
        " {} | {} | {} ",
        name(Pane::Timeline, "Timeline"),
        name(Pane::Detail, "Leg"),
        name(Pane::Findings, &findings)
    )
}

#[cfg(test)]
mod tests;
