//! The hint bar: the keys that matter now, or a message, or the filter being typed.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::ui::app::{Mode, State};
use crate::ui::keys;
use crate::ui::theme::Theme;

pub fn render(buf: &mut Buffer, area: Rect, s: &State, t: &Theme) {
    if area.is_empty() {
        return;
    }
    let line = match &s.mode {
        Mode::Filter { .. } => {
            let mut spans = vec![
                Span::styled("/", t.key()),
                Span::raw(s.filter_text.clone()),
                Span::styled("█", t.dim()),
                Span::raw(format!("  {} match  ", s.view.len())),
            ];
            if let Some(n) = s.filter.notes.first() {
                spans.push(Span::styled(format!("{n}  "), t.warning()));
            }
            spans.extend(pairs(keys::FILTER_HINTS, t));
            Line::from(spans)
        }
        Mode::Export { path, ids, .. } => {
            let what = match ids.as_slice() {
                [one] => format!("export #{one} to: "),
                many => format!("export {} handshakes to: ", many.len()),
            };
            let mut spans = vec![
                Span::styled(what, t.key()),
                Span::raw(path.clone()),
                Span::styled("█", t.dim()),
                Span::raw("  "),
            ];
            spans.extend(pairs(keys::EXPORT_HINTS, t));
            Line::from(spans)
        }
        _ => match &s.message {
            Some(m) => Line::from(Span::styled(m.clone(), t.warning())),
            None => Line::from(fitting(keys::HINTS, usize::from(area.width), t)),
        },
    };
    Paragraph::new(line).render(area, buf);
}

/// The hints, most useful first, as many as fit whole in `width`.
fn fitting(list: &[(&'static str, &'static str)], width: usize, t: &Theme) -> Vec<Span<'static>> {
    let mut used = 0usize;
    let fit: Vec<(&'static str, &'static str)> = list
        .iter()
        .copied()
        .take_while(|(k, what)| {
            used = used.saturating_add(k.len() + what.len() + 3);
            used.saturating_sub(2) <= width
        })
        .collect();
    pairs(&fit, t)
}

fn pairs(list: &[(&'static str, &'static str)], t: &Theme) -> Vec<Span<'static>> {
    let mut v = Vec::new();
    for (k, what) in list {
        v.push(Span::styled(*k, t.key()));
        v.push(Span::raw(format!(" {what}  ")));
    }
    v
}
