//! The key bindings, in one place: what `input` maps, and what the help overlay and the hint
//! bar show.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A binding as the help overlay lists it: keys, then what they do.
pub const HELP: &[(&str, &str)] = &[
    ("j k  Down Up", "move in the focused pane"),
    ("g G  Home End", "first / last"),
    ("PgUp PgDn", "a page up / down"),
    ("Tab  Shift-Tab", "next / previous pane"),
    ("Enter", "drill in: handshake -> timeline -> leg"),
    ("Esc", "back out (in the list: clear the filter)"),
    ("/", "filter (Enter keeps it, Esc restores)"),
    ("f", "only handshakes with findings"),
    ("s", "change the sort (time, severity, duration, client)"),
    ("r", "raw headers in the leg detail"),
    ("e  E", "export the handshake / the list shown"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
    ("mouse", "click to select, wheel to scroll"),
];

/// The hint bar, most useful first (cut on the right when narrow).
pub const HINTS: &[(&str, &str)] = &[
    ("q", "quit"),
    ("?", "help"),
    ("/", "filter"),
    ("f", "findings"),
    ("s", "sort"),
    ("e", "export"),
    ("Tab", "pane"),
    ("Enter", "open"),
    ("r", "raw"),
    ("Esc", "back"),
];

/// The hint bar while typing an export file name.
pub const EXPORT_HINTS: &[(&str, &str)] =
    &[("Enter", "write"), ("Esc", "cancel"), ("Ctrl-U", "clear")];

/// The hint bar while typing a filter.
pub const FILTER_HINTS: &[(&str, &str)] =
    &[("Enter", "keep"), ("Esc", "cancel"), ("Ctrl-U", "clear")];

pub fn is_quit(k: &KeyEvent) -> bool {
    k.code == KeyCode::Char('q') || is_ctrl(k, 'c')
}

pub fn is_ctrl(k: &KeyEvent, c: char) -> bool {
    k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char(c)
}

pub const UP: [KeyCode; 2] = [KeyCode::Char('k'), KeyCode::Up];
pub const DOWN: [KeyCode; 2] = [KeyCode::Char('j'), KeyCode::Down];
pub const TOP: [KeyCode; 2] = [KeyCode::Char('g'), KeyCode::Home];
pub const BOTTOM: [KeyCode; 2] = [KeyCode::Char('G'), KeyCode::End];
pub const PAGE_UP: KeyCode = KeyCode::PageUp;
pub const PAGE_DOWN: KeyCode = KeyCode::PageDown;
pub const NEXT_PANE: KeyCode = KeyCode::Tab;
pub const PREV_PANE: KeyCode = KeyCode::BackTab;
pub const ENTER: KeyCode = KeyCode::Enter;
pub const BACK: KeyCode = KeyCode::Esc;
pub const FILTER: KeyCode = KeyCode::Char('/');
pub const FINDINGS_ONLY: KeyCode = KeyCode::Char('f');
pub const SORT: KeyCode = KeyCode::Char('s');
pub const RAW: KeyCode = KeyCode::Char('r');
pub const EXPORT: KeyCode = KeyCode::Char('e');
pub const EXPORT_LIST: KeyCode = KeyCode::Char('E');
pub const HELP_KEY: KeyCode = KeyCode::Char('?');
