//! Colours and their meaning. Every meaning also has a form without colour (a word, a mark,
//! bold or reverse video), so the screen reads the same with `NO_COLOR` set.

use ratatui::style::{Color, Modifier, Style};

use crate::diagnose::Severity;
use crate::handshake::Outcome;

/// The styles of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value (no-color.org).
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    pub fn plain() -> Theme {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn info(&self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn success(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected row: reverse video reads without colour too.
    pub fn selected(&self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else if self.color {
            Style::new().bg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        }
    }

    /// The border of a pane; the focused one stands out.
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            self.dim()
        }
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Error => self.error(),
            Severity::Warning => self.warning(),
            Severity::Info => self.info(),
        }
    }

    pub fn outcome(&self, o: &Outcome) -> Style {
        match o {
            Outcome::Success => self.success(),
            Outcome::Failed(_) => self.error(),
            Outcome::Abandoned => self.warning(),
            Outcome::InProgress => Style::new(),
        }
    }

    /// An HTTP status: accepted, challenged, refused.
    pub fn status(&self, status: u16) -> Style {
        match status {
            200..=399 => self.success(),
            401 | 407 => self.warning(),
            _ => self.error(),
        }
    }

    /// One colour per connection, so a handshake split across connections shows.
    pub fn conn(&self, id: u64) -> Style {
        const PALETTE: [Color; 6] = [
            Color::Cyan,
            Color::Magenta,
            Color::Blue,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightRed,
        ];
        let i = usize::try_from(id % 6).unwrap_or(0);
        self.fg(PALETTE.get(i).copied().unwrap_or(Color::Cyan))
    }
}
