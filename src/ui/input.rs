//! Terminal events -> [`Action`]s, by mode. The bindings themselves are in `keys`.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use super::app::Mode;
use super::keys;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    Enter,
    Back,
    Help,
    CloseHelp,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    FilterClear,
    FilterApply,
    FilterCancel,
    FindingsOnly,
    Sort,
    ToggleRaw,
    /// Export the selected handshake (`false`) or the list shown (`true`).
    Export(bool),
    ExportChar(char),
    ExportBackspace,
    ExportClear,
    ExportApply,
    ExportCancel,
    Resize(u16, u16),
    Click(u16, u16),
    /// Wheel at (x, y); `true` is down.
    Scroll(u16, u16, bool),
}

/// The action of a terminal event in a mode.
pub fn action(ev: &Event, mode: &Mode) -> Action {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => key(k, mode),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::Down(_) => Action::Click(m.column, m.row),
            MouseEventKind::ScrollDown => Action::Scroll(m.column, m.row, true),
            MouseEventKind::ScrollUp => Action::Scroll(m.column, m.row, false),
            _ => Action::None,
        },
        Event::Resize(w, h) => Action::Resize(*w, *h),
        _ => Action::None,
    }
}

fn key(k: &KeyEvent, mode: &Mode) -> Action {
    match mode {
        Mode::Filter { .. } => filter_key(k),
        Mode::Export { .. } => export_key(k),
        Mode::Help => {
            if keys::is_ctrl(k, 'c') {
                Action::Quit
            } else {
                // Any key closes the help; it is not passed on.
                Action::CloseHelp
            }
        }
        Mode::Normal => normal_key(k),
    }
}

fn filter_key(k: &KeyEvent) -> Action {
    if keys::is_ctrl(k, 'c') {
        return Action::Quit;
    }
    if keys::is_ctrl(k, 'u') {
        return Action::FilterClear;
    }
    if k.modifiers.contains(KeyModifiers::CONTROL) || k.modifiers.contains(KeyModifiers::ALT) {
        return Action::None;
    }
    match k.code {
        KeyCode::Enter => Action::FilterApply,
        KeyCode::Esc => Action::FilterCancel,
        KeyCode::Backspace => Action::FilterBackspace,
        KeyCode::Char(c) => Action::FilterChar(c),
        _ => Action::None,
    }
}

fn export_key(k: &KeyEvent) -> Action {
    if keys::is_ctrl(k, 'c') {
        return Action::Quit;
    }
    // As in a shell's line editor: the suggested name is cleared at once to type a path.
    if keys::is_ctrl(k, 'u') {
        return Action::ExportClear;
    }
    if k.modifiers.contains(KeyModifiers::CONTROL) || k.modifiers.contains(KeyModifiers::ALT) {
        return Action::None;
    }
    match k.code {
        KeyCode::Enter => Action::ExportApply,
        KeyCode::Esc => Action::ExportCancel,
        KeyCode::Backspace => Action::ExportBackspace,
        KeyCode::Char(c) => Action::ExportChar(c),
        _ => Action::None,
    }
}

fn normal_key(k: &KeyEvent) -> Action {
    if keys::is_quit(k) {
        return Action::Quit;
    }
    let c = k.code;
    if keys::UP.contains(&c) {
        Action::Up
    } else if keys::DOWN.contains(&c) {
        Action::Down
    } else if keys::TOP.contains(&c) {
        Action::Top
    } else if keys::BOTTOM.contains(&c) {
        Action::Bottom
    } else if c == keys::PAGE_UP {
        Action::PageUp
    } else if c == keys::PAGE_DOWN {
        Action::PageDown
    } else if c == keys::NEXT_PANE {
        Action::NextPane
    } else if c == keys::PREV_PANE {
        Action::PrevPane
    } else if c == keys::ENTER {
        Action::Enter
    } else if c == keys::BACK {
        Action::Back
    } else if c == keys::FILTER {
        Action::StartFilter
    } else if c == keys::FINDINGS_ONLY {
        Action::FindingsOnly
    } else if c == keys::SORT {
        Action::Sort
    } else if c == keys::RAW {
        Action::ToggleRaw
    } else if c == keys::EXPORT {
        Action::Export(false)
    } else if c == keys::EXPORT_LIST {
        Action::Export(true)
    } else if c == keys::HELP_KEY {
        Action::Help
    } else {
        Action::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn normal_keys() {
        let n = Mode::Normal;
        assert_eq!(action(&k(KeyCode::Char('j')), &n), Action::Down);
        assert_eq!(action(&k(KeyCode::Up), &n), Action::Up);
        assert_eq!(action(&k(KeyCode::Char('G')), &n), Action::Bottom);
        assert_eq!(action(&k(KeyCode::Char('q')), &n), Action::Quit);
        assert_eq!(action(&k(KeyCode::Char('/')), &n), Action::StartFilter);
        assert_eq!(action(&k(KeyCode::Char('x')), &n), Action::None);
    }

    #[test]
    fn filter_mode_takes_letters() {
        let f = Mode::Filter {
            before: String::new(),
        };
        assert_eq!(action(&k(KeyCode::Char('q')), &f), Action::FilterChar('q'));
        assert_eq!(action(&k(KeyCode::Esc), &f), Action::FilterCancel);
        let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(action(&ctrl_c, &f), Action::Quit);
    }

    #[test]
    fn export_mode_takes_letters_and_ctrl_u_clears() {
        let e = Mode::Export {
            path: "authscope-handshake-1.html".into(),
            ids: Vec::new(),
            starts: Vec::new(),
        };
        assert_eq!(action(&k(KeyCode::Char('q')), &e), Action::ExportChar('q'));
        let ctrl = |c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
        assert_eq!(action(&ctrl('u'), &e), Action::ExportClear);
        assert_eq!(
            action(&ctrl('w'), &e),
            Action::None,
            "never typed as a letter"
        );
        assert_eq!(action(&ctrl('c'), &e), Action::Quit);
        let f = Mode::Filter {
            before: String::new(),
        };
        assert_eq!(action(&ctrl('w'), &f), Action::None);
    }

    #[test]
    fn help_closes_on_any_key() {
        assert_eq!(
            action(&k(KeyCode::Char('j')), &Mode::Help),
            Action::CloseHelp
        );
    }
}
