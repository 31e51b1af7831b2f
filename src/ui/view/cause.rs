//! The selected handshake's root cause in the compact layout: its first finding (findings
//! come root cause first) and the next step, under the list, so the answer is on screen
//! without a key. The findings pane has the rest.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::ui::app::State;
use crate::ui::theme::Theme;

/// Rows the strip takes: the finding, then its next step.
pub const HEIGHT: u16 = 3;

/// Whether the strip has something to say for the selection.
pub fn wanted(s: &State) -> bool {
    s.current().is_some_and(|r| !r.findings.is_empty())
}

pub fn render(buf: &mut Buffer, area: Rect, s: &State, t: &Theme) {
    if area.is_empty() {
        return;
    }
    let width = usize::from(area.width);
    let lines = match (s.detail(), s.current()) {
        (Some(d), _) if !d.findings.is_empty() => {
            let more = d.findings.len().saturating_sub(1);
            d.findings.first().map(|f| {
                let mut head = vec![
                    Span::styled(
                        crate::ui::strings::severity(f.severity),
                        t.severity(f.severity),
                    ),
                    Span::raw(" "),
                    Span::styled(f.code.clone(), t.bold()),
                ];
                if more > 0 {
                    head.push(Span::styled(format!(" (+{more} more)"), t.dim()));
                }
                head.push(Span::raw(format!("  {}", f.summary)));
                let mut lines = vec![clip_line(head, width)];
                let rows = usize::from(area.height.saturating_sub(1));
                lines.extend(wrapped(&format!("next: {}", f.next_step), width, rows, t));
                lines
            })
        }
        (_, Some(r)) => r.findings.iter().next().map(|(code, sev)| {
            vec![Line::from(vec![
                Span::styled(crate::ui::strings::severity(*sev), t.severity(*sev)),
                Span::raw(" "),
                Span::styled((*code).to_owned(), t.bold()),
            ])]
        }),
        _ => None,
    };
    Paragraph::new(lines.unwrap_or_default()).render(area, buf);
}

/// A line cut to `width` cells, with an ellipsis where it was cut.
fn clip_line(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    let mut out = Vec::new();
    let mut room = width;
    for sp in spans {
        let n = sp.content.chars().count();
        if n <= room {
            room = room.saturating_sub(n);
            out.push(sp);
            continue;
        }
        let cut: String = sp
            .content
            .chars()
            .take(room.saturating_sub(1))
            .chain(std::iter::once('…'))
            .collect();
        out.push(Span::styled(cut, sp.style));
        break;
    }
    Line::from(out)
}

/// `text` wrapped at word boundaries into at most `rows` lines of `width`; the last line
/// ends with an ellipsis when some is left.
fn wrapped(text: &str, width: usize, rows: usize, t: &Theme) -> Vec<Line<'static>> {
    let lines = crate::present::wrap_words(text, width.max(8));
    let cut = lines.len() > rows;
    lines
        .into_iter()
        .take(rows)
        .enumerate()
        .map(|(i, l)| {
            let last = i.saturating_add(1) == rows;
            let l = if cut && last {
                let keep: String = l.chars().take(width.saturating_sub(1)).collect();
                format!("{keep}…")
            } else {
                l
            };
            match l.strip_prefix("next:") {
                Some(rest) if i == 0 => Line::from(vec![
                    Span::styled("next:", t.key()),
                    Span::raw(rest.to_owned()),
                ]),
                _ => Line::raw(l),
            }
        })
        .collect()
}
