//! The `?` overlay: every key, and the filter language.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use crate::ui::keys;
use crate::ui::strings;
use crate::ui::theme::Theme;

pub fn render(buf: &mut Buffer, area: Rect, t: &Theme) {
    let want_w: u16 = 76;
    let want_h = u16::try_from(keys::HELP.len() + strings::FILTER_SYNTAX.len() + 4).unwrap_or(24);
    let w = want_w.min(area.width);
    let h = want_h.min(area.height);
    let popup = Rect::new(
        area.x.saturating_add(area.width.saturating_sub(w) / 2),
        area.y.saturating_add(area.height.saturating_sub(h) / 2),
        w,
        h,
    );
    if popup.is_empty() {
        return;
    }
    Clear.render(popup, buf);
    let mut lines: Vec<Line> = keys::HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:<16}"), t.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.extend(strings::FILTER_SYNTAX.iter().map(|l| Line::raw(*l)));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border(true))
                .title(" Keys (any key closes) "),
        )
        .render(popup, buf);
}
