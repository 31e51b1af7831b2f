//! The words of the screen, in one place.

use crate::diagnose::Severity;
use crate::handshake::{Failure, Outcome, SchemeUsed};

pub const TITLE: &str = "authscope";
pub const EXPORT_NOTHING: &str = "export: no handshake to export";
pub const EXPORT_NO_FORMAT: &str =
    "export: name a file ending in .html .json .ndjson .csv .md or .pcapng";

/// The header's word on packets a live capture did not save: exports read the saved file.
pub fn unsaved(n: u64) -> String {
    format!("{n} packets not saved: exports cover the capture's start")
}
pub const DETAILS_MISSING: &str = "details not kept (see a handshake)";
pub const NO_DETAIL: &str = "details of this handshake were not kept";
pub const NO_HANDSHAKES_YET: &str = "no handshakes yet: reading...";
pub const NO_HANDSHAKES_LIVE: &str = "no handshakes yet: capturing...";
pub const NO_HANDSHAKES_LIVE_ENDED: &str = "no authentication handshakes were captured";
pub const NO_HANDSHAKES: &str = "no authentication handshakes in this capture";
pub const NO_MATCH: &str = "no handshake matches the filter (Esc clears it)";
pub const NO_SELECTION: &str = "select a handshake";
pub const CONNECTION_FINDINGS: &str = "about connections, not one handshake:";
pub const READ_WARNINGS: &str = "read warnings:";
pub const NO_FINDINGS: &str = "no findings: nothing looks wrong in this handshake";
pub const NO_LEG: &str = "no leg at the cursor";
pub const RAW_HIDDEN: &str = "raw headers: press r to show";
pub const RAW_MISSING: &str = "raw headers: not kept for this leg";

pub const FILTER_SYNTAX: &[&str] = &[
    "Filter: words and key:value terms, all must match (case-insensitive)",
    "  keys: user: host: scheme: code: client: server: outcome:",
    "  -term excludes, \"quoted text\" keeps spaces",
    "  e.g.  user:alice code:loop -scheme:basic",
];

/// A handshake's start in the list: to the second, or the millisecond on a wide screen,
/// with the month and day when the capture spans more than one date.
pub fn list_time(ts: crate::capture::Timestamp, wide: bool, dated: bool) -> String {
    let full = crate::present::rfc3339(ts);
    // `YYYY-MM-DDTHH:MM:SS.ffffffZ`
    let date = full.get(5..10).unwrap_or("");
    let time = full.get(11..if wide { 23 } else { 19 }).unwrap_or(&full);
    if dated {
        format!("{date} {time}")
    } else {
        time.to_owned()
    }
}

/// How long a capture runs: in days and hours, hours and minutes, or minutes and seconds
/// once it is past a minute, where seconds alone are hard to read.
pub fn span(ns: i64) -> String {
    let secs = ns.unsigned_abs() / 1_000_000_000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match secs {
        0..=59 => crate::present::human_delta(ns),
        60..=3599 => format!("{m}m {s:02}s"),
        3600..=86_399 => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h:02}h"),
    }
}

/// A severity in a word, the same length each, for columns.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "ERROR",
        Severity::Warning => "WARN ",
        Severity::Info => "INFO ",
    }
}

/// The mark in the list's first column: readable without colour.
pub fn severity_mark(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Error) => "!!",
        Some(Severity::Warning) => "! ",
        Some(Severity::Info) => "i ",
        None => "  ",
    }
}

/// The outcome in at most 12 letters, for the list.
pub fn outcome_short(o: &Outcome) -> &'static str {
    match o {
        Outcome::Success => "ok",
        Outcome::Failed(f) => match f {
            Failure::LogonFailed => "logon-failed",
            Failure::NoAuthMethod => "no-method",
            Failure::ConnectionClosed => "closed",
            Failure::ConnectionReset => "reset",
            Failure::KerberosRejected => "krb-rejected",
            Failure::NegotiateRefused => "refused",
            Failure::TokenTooLarge => "too-large",
            Failure::Error => "error",
        },
        Outcome::Abandoned => "abandoned",
        Outcome::InProgress => "in progress",
    }
}

/// The short mark of a finding code in the list (`auth-loop` -> `loop`).
pub fn mark(code: &str) -> &str {
    match code {
        "no-auth-method" => "no-method",
        "logon-failed" => "logon",
        "access-denied-acl" => "acl",
        "iis-substatus" => "iis",
        "ntlm-connection-closed" => "closed",
        "ntlm-split-connections" => "split",
        "ntlm-negotiate-refused" => "refused",
        "auth-loop" => "loop",
        "connection-reset" => "reset",
        "kerberos-fallback-ntlm" => "fallback",
        "kerberos-error" => "krb-error",
        "spn-host-mismatch" => "spn",
        "challenge-unanswered" => "unanswered",
        "reauth-every-request" => "reauth",
        "basic-cleartext" => "cleartext",
        "ntlm-weak" => "weak",
        "slow-auth" => "slow",
        "digest-stale-loop" => "stale",
        other => other,
    }
}

/// Bytes in the unit that reads best.
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", f / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.1} MiB", f / 1048576.0)
    } else {
        format!("{:.2} GiB", f / 1073741824.0)
    }
}

/// The scheme in at most 9 letters, for the list.
pub fn scheme_short(s: &SchemeUsed) -> String {
    match s {
        SchemeUsed::NegotiateNtlm => "nego-ntlm".into(),
        other => {
            let t = other.to_string();
            t.chars().take(9).collect()
        }
    }
}
