//! A row of cells with styles, for drawings that are not text (the sequence diagram).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// One line of single-width cells.
#[derive(Debug, Clone)]
pub struct Row {
    cells: Vec<(char, Style)>,
}

impl Row {
    pub fn new(width: usize) -> Row {
        Row {
            cells: vec![(' ', Style::new()); width],
        }
    }

    /// Sets one cell; outside the row, nothing happens.
    pub fn put(&mut self, x: usize, c: char, style: Style) {
        if let Some(cell) = self.cells.get_mut(x) {
            *cell = (c, style);
        }
    }

    /// Fills `from..to` with `c`.
    pub fn fill(&mut self, from: usize, to: usize, c: char, style: Style) {
        for x in from..to {
            self.put(x, c, style);
        }
    }

    /// Writes `text` from `x`, at most `max` cells; returns the cells written.
    pub fn text(&mut self, x: usize, text: &str, style: Style, max: usize) -> usize {
        let mut n = 0;
        for c in text.chars().take(max) {
            self.put(x.saturating_add(n), c, style);
            n = n.saturating_add(1);
        }
        n
    }

    /// The row as spans, one per run of a style.
    pub fn into_line(self) -> Line<'static> {
        let mut spans: Vec<Span<'static>> = Vec::new();
        let mut cur = String::new();
        let mut cur_style: Option<Style> = None;
        for (c, st) in self.cells {
            if cur_style.is_some_and(|s| s != st) {
                spans.push(Span::styled(
                    std::mem::take(&mut cur),
                    cur_style.unwrap_or_default(),
                ));
            }
            cur_style = Some(st);
            cur.push(c);
        }
        if !cur.is_empty() {
            spans.push(Span::styled(cur, cur_style.unwrap_or_default()));
        }
        Line::from(spans)
    }
}
