//! How every face writes the same facts for people: times, durations, the request's target,
//! a user, a value cut to fit. The text report, the UI and the exports import these from
//! here, so that one fact reads the same everywhere.

pub mod legs;
pub mod redact;
pub mod tree;

use crate::capture::Timestamp;
use crate::handshake::Handshake;

/// RFC 3339 with microseconds, UTC.
pub fn rfc3339(ts: Timestamp) -> String {
    let secs = u64::try_from(ts.secs()).unwrap_or(0);
    let nanos = u32::try_from(ts.subsec_nanos()).unwrap_or(0);
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
    humantime::format_rfc3339_micros(t).to_string()
}

/// `HH:MM:SS.ffffff` of a timestamp (UTC), for timelines.
pub fn clock(ts: Timestamp) -> String {
    let full = rfc3339(ts);
    full.get(11..26).unwrap_or(&full).to_owned()
}

/// `text` broken into lines of at most `width` characters at spaces; a word longer than a
/// line is cut across lines, after a separator (`,` `;` `=` `/`) where one fits.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0usize;
    for word in text.split_whitespace() {
        let mut chars: Vec<char> = word.chars().collect();
        loop {
            let sep = usize::from(len > 0);
            if len.saturating_add(sep).saturating_add(chars.len()) <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(chars.iter());
                len = len.saturating_add(sep).saturating_add(chars.len());
                break;
            }
            // A word that is cut anyway is cut after a separator inside it where one fits: a
            // list's item may start where the line has room; else the word starts a line of
            // its own, cut after a list's item, a key=value's key or a path's part.
            let room = width.saturating_sub(len.saturating_add(sep));
            let cuts: &[char] = if len > 0 {
                &[',', ';']
            } else {
                &[',', ';', '=', '/']
            };
            let at_sep = chars
                .get(..room.min(chars.len()))
                .and_then(|fit| fit.iter().rposition(|c| cuts.contains(c)))
                .map(|i| i.saturating_add(1));
            if len > 0 && (chars.len() <= width || at_sep.is_none()) {
                lines.push(std::mem::take(&mut line));
                len = 0;
                continue;
            }
            if len > 0 {
                line.push(' ');
            }
            let cut = at_sep.unwrap_or(room);
            let rest = chars.split_off(cut.min(chars.len()));
            line.extend(chars.iter());
            lines.push(std::mem::take(&mut line));
            len = 0;
            chars = rest;
            if chars.is_empty() {
                break;
            }
        }
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A signed duration in the unit that reads best (`306us`, `1.3ms`, `2.50s`).
pub fn human_delta(ns: i64) -> String {
    let a = ns.unsigned_abs();
    let sign = if ns < 0 { "-" } else { "" };
    if a < 1_000_000 {
        format!("{sign}{}us", a / 1000)
    } else if a < 1_000_000_000 {
        format!("{sign}{:.1}ms", a as f64 / 1e6)
    } else {
        format!("{sign}{:.2}s", a as f64 / 1e9)
    }
}

/// `host/resource`; a request to a proxy carries the absolute URI already. As captured: a
/// face that shows it to a person makes it harmless (`crate::shown`).
pub fn target_of(host: Option<&str>, resource: &str) -> String {
    if resource.contains("://") {
        return resource.to_owned();
    }
    format!("{}{resource}", host.unwrap_or(""))
}

/// [`target_of`] a handshake's first request.
pub fn target(h: &Handshake) -> String {
    target_of(h.host.as_deref(), &h.resource)
}

/// `DOMAIN\user`, `user`, or nothing.
pub fn who(domain: Option<&str>, user: Option<&str>) -> Option<String> {
    let u = user.filter(|u| !u.is_empty())?;
    Some(match domain.filter(|d| !d.is_empty()) {
        Some(d) => format!("{d}\\{u}"),
        None => u.to_owned(),
    })
}

/// `text` cut to `max` characters, ending with `mark` when cut (`…` on a screen or a page,
/// `...` in the plain-ASCII text report).
pub fn clip_with(text: &str, max: usize, mark: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(mark.chars().count());
    let mut s: String = text.chars().take(room).collect();
    if max > 0 {
        s.push_str(mark);
    }
    s
}

/// `text` cut to `max` characters, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    clip_with(text, max, "…")
}

/// What the server's records gave, as lines of text (the text report's summary, the UI's
/// notes): the files, what was joined, the clock offsets, the failed logons grouped by
/// reason, user and client, and the records no captured exchange matched. `alone`: there was
/// no capture, so nothing was to be joined.
pub fn server_log_lines(s: &crate::handshake::server::ServerSummary, alone: bool) -> Vec<String> {
    use crate::capture::serverlog::FileKind;
    let mut out = Vec::new();
    for f in &s.files {
        let kind = match f.kind {
            FileKind::W3c => "IIS W3C log",
            FileKind::Httperr => "HTTPERR log",
            FileKind::Evtx => "EVTX",
            FileKind::EventXml => "event XML",
        };
        let software = f
            .software
            .as_deref()
            .map(|s| format!(", {s}"))
            .unwrap_or_default();
        let what = match f.kind {
            FileKind::W3c | FileKind::Httperr => "lines",
            FileKind::Evtx | FileKind::EventXml => "events",
        };
        let mut line = format!("{} ({kind}{software}): {} {what}", f.path, f.records);
        if f.malformed > 0 {
            line.push_str(&format!(", {} malformed", f.malformed));
        }
        if let Some(e) = &f.error {
            line.push_str(&format!(" (stopped: {e})"));
        }
        out.push(line);
    }
    if s.stats.dropped > 0 {
        out.push(format!(
            "{} lines and events past the cap of {} were counted, not joined",
            s.stats.dropped,
            crate::capture::serverlog::MAX_RECORDS
        ));
    }
    if !alone {
        out.push(format!(
            "joined to legs: {} log lines, {} events; not matched to any captured exchange: {} lines, {} events",
            s.joined_lines, s.joined_events, s.unmatched_lines, s.unmatched_events
        ));
    }
    for o in &s.offsets {
        let sign = if o.offset_ns < 0 { "-" } else { "+" };
        out.push(format!(
            "clock offset of {} (server less capture): {sign}{:.3}s from {} unambiguous matches{}",
            o.file,
            o.offset_ns.unsigned_abs() as f64 / 1e9,
            o.samples,
            if o.consistent {
                ""
            } else {
                " (they disagree: the median)"
            }
        ));
    }
    if !s.failed_logons.is_empty() {
        out.push("failed logons the server recorded (by reason, user and client):".to_owned());
        for g in &s.failed_logons {
            let user = g.user.as_deref().unwrap_or("-");
            let client = g.client.as_deref().unwrap_or("?");
            let when = if g.first == g.last {
                rfc3339(g.first)
            } else {
                format!("{} to {}", rfc3339(g.first), rfc3339(g.last))
            };
            out.push(format!(
                "  {}x {}: {} user {user} from {client}, {when}",
                g.count,
                g.reason.words(),
                g.code,
            ));
            out.push(format!("     next: {}", g.next_step));
        }
    }
    if !s.unmatched.is_empty() && !alone {
        out.push(format!(
            "not matched to any captured exchange (the capture may have missed traffic){}:",
            if (s.unmatched.len() as u64) < s.unmatched_lines + s.unmatched_events {
                ", the first"
            } else {
                ""
            }
        ));
        for u in &s.unmatched {
            let (at, t) = match &u.record {
                crate::handshake::server::Record::Iis(l) => (format!("line {}", l.line), l.time),
                crate::handshake::server::Record::Event(e) => {
                    (format!("record {}", e.record), e.time)
                }
            };
            out.push(format!("  {} {at}: {} {}", u.file, rfc3339(t), u.text));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_characters_and_its_mark() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip_with("abcdef", 5, "..."), "ab...");
        assert_eq!(clip("éééé", 3), "éé…");
        assert_eq!(clip("abc", 0), "");
    }

    #[test]
    fn targets_and_users() {
        assert_eq!(target_of(Some("intranet"), "/a"), "intranet/a");
        assert_eq!(target_of(Some("proxy"), "http://x/a"), "http://x/a");
        assert_eq!(
            who(Some("LAB"), Some("alice")).as_deref(),
            Some("LAB\\alice")
        );
        assert_eq!(who(Some(""), Some("alice")).as_deref(), Some("alice"));
        assert_eq!(who(Some("LAB"), Some("")), None);
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(human_delta(306_000), "306us");
        assert_eq!(human_delta(1_300_000), "1.3ms");
        assert_eq!(human_delta(-2_500_000_000), "-2.50s");
    }

    #[test]
    fn words_wrap_and_long_words_are_cut() {
        assert_eq!(wrap_words("a bc def", 4), ["a bc", "def"]);
        assert_eq!(wrap_words("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap_words("", 4), [""]);
        assert_eq!(wrap_words("x  stale=true", 6), ["x", "stale=", "true"]);
        assert_eq!(
            wrap_words("GET http://a.b/c", 8),
            ["GET", "http://", "a.b/c"]
        );
        assert_eq!(wrap_words("GET abcdefghij", 8), ["GET", "abcdefgh", "ij"]);
        assert_eq!(
            wrap_words("sname=krbtgt/X etypes=aes256-cts,aes128-cts,+6", 20),
            ["sname=krbtgt/X", "etypes=aes256-cts,", "aes128-cts,+6"]
        );
        assert_eq!(
            wrap_words("a b,cdefghijklmnopqrstuvwxyz", 12),
            ["a b,", "cdefghijklmn", "opqrstuvwxyz"]
        );
    }
}
