//! Packet bytes made harmless for people: what the text report, the UI, the Mermaid and HTML
//! exports, the pcapng comments and error messages show.
//!
//! A capture is written by whoever can send packets. A control character in a Host header, a
//! user name or a reason phrase would reach the reader's terminal (`ESC ] 0 ;` retitles the
//! window, `ESC [ 2 J` clears it), a newline would forge a line that looks like authscope's
//! own, and a bidirectional override (Unicode TR #9) would show text in another order than
//! it is. [`shown`] writes each such character as an escape (`\x1b`, `\u202e`), so a value is
//! read as it was sent and never spans lines. Machine formats (JSON, NDJSON) keep the exact
//! value, escaped by the format itself.
//!
//! [`csv_cell`] neutralises the cells a spreadsheet would run as a formula (OWASP, CSV
//! injection).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that are never written as they are: C0 (tab, CR and LF included), DEL, C1,
/// and the Unicode characters that reorder text (the bidirectional embeddings, overrides
/// and isolates, and the marks: Unicode TR #9 2.1 to 2.6) or hide it (zero-width
/// characters, the BOM).
fn escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` with every character that could act on a terminal, break a line or reorder text
/// written as an escape: `\x1b` below U+0100, `\u202e` above. Borrowed when there is none
/// (nearly always).
pub fn shown(s: &str) -> Cow<'_, str> {
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().saturating_add(8));
    for c in s.chars() {
        if !escaped(c) {
            out.push(c);
        } else if u32::from(c) < 0x100 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

/// `s` for a format with escapes of its own (HTML, Mermaid, Markdown): each character that
/// `special` answers for is written as it says, every other one as [`shown`] writes it.
pub fn shown_with(s: &str, special: impl Fn(char) -> Option<&'static str>) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match special(c) {
            Some(e) => o.push_str(e),
            None => o.push_str(&shown(c.encode_utf8(&mut [0; 4]))),
        }
    }
    o
}

/// Every string of a JSON tree (keys too) made [`shown`], for the trees that decoded tokens
/// are drawn from (`authscope decode`, the UI).
pub fn shown_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Cow::Owned(o) = shown(s) {
                *s = o;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(shown_json),
        Value::Object(m) => {
            if m.keys().any(|k| matches!(shown(k), Cow::Owned(_))) {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    shown_json(&mut x);
                    m.insert(shown(&k).into_owned(), x);
                }
            } else {
                m.values_mut().for_each(shown_json);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A CSV cell that a spreadsheet would take for a formula (it begins with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) gets a leading `'`, as OWASP recommends: the cell then reads
/// as text, and the value is still all there.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_and_reordering_character_is_escaped() {
        for b in (0u32..0x20).chain([0x7f]).chain(0x80..0xa0) {
            let c = char::from_u32(b).unwrap();
            let s = format!("a{c}b");
            let got = shown(&s);
            assert_eq!(got, format!("a\\x{b:02x}b"), "U+{b:04X}");
        }
        for c in [
            '\u{202e}', '\u{202a}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{061c}',
        ] {
            let s = format!("x{c}y");
            assert_eq!(shown(&s), format!("x\\u{:04x}y", u32::from(c)));
        }
        // A title sequence and a screen clear come out as text on one line.
        let got = shown("host\u{1b}]0;owned\u{7}\u{1b}[2J\r\nERROR x");
        assert_eq!(got, "host\\x1b]0;owned\\x07\\x1b[2J\\x0d\\x0aERROR x");
        assert!(!got.contains(['\n', '\r', '\u{1b}', '\u{7}']));
    }

    #[test]
    fn ordinary_text_is_borrowed_as_it_is() {
        for s in ["LAB\\alice", "intranet.lab.test:8080", "Grüße, 日本語", ""] {
            assert!(matches!(shown(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn csv_formula_cells_read_as_text() {
        for s in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(csv_cell(s), format!("'{s}"));
        }
        for s in ["alice", "1", "a=b", ""] {
            assert_eq!(csv_cell(s), s);
        }
    }
}
