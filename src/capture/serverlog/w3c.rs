//! IIS W3C extended logs (`u_ex*.log`) and http.sys error logs (`httperr*.log`).
//!
//! The format is the W3C Extended Log File Format (W3C WD-logfile-960323) as IIS writes it
//! ("W3C Logging", IIS 7 and later): `#Software`, `#Version`, `#Date` and `#Fields`
//! directives, then one line per request, fields separated by one space, `-` for an empty
//! field, and `+` where a value had a space. A `#Fields` directive may come again within a
//! file (IIS writes the header again when the site restarts or its fields change); the lines
//! after it are read with it. Times are UTC.

use std::net::IpAddr;

use crate::capture::Timestamp;

/// The longest line kept; a longer one is malformed (and counted).
pub const MAX_LINE: usize = 16 << 10;
/// The most fields a `#Fields` directive may name.
const MAX_FIELDS: usize = 64;
/// The longest value kept of a text field (a URI, a user agent); longer ones are cut.
const MAX_VALUE: usize = 2048;

/// Which log wrote the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A site's W3C log: one line for every request IIS answered.
    W3c,
    /// http.sys's error log: requests the kernel refused before any site saw them, and
    /// connections it dropped.
    Httperr,
}

/// One request line of a W3C or HTTPERR log, its fields by meaning.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct IisLine {
    /// The file's index among the server logs given.
    pub file: u32,
    /// 1-based line number in its file.
    pub line: u64,
    pub kind: Option<LogKind>,
    /// `date time`: when IIS wrote the line (the response was sent), to the second, UTC.
    pub time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<IpAddr>,
    /// `c-port` (HTTPERR only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_port: Option<u16>,
    /// The first address of `X-Forwarded-For`, when the site logs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_for: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `cs-uri-stem` (the path), or the path of HTTPERR's `cs-uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_stem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substatus: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub win32_status: Option<u32>,
    /// `time-taken`, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_taken_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// HTTPERR's `s-reason` (`FieldLength`, `Timer_ConnectionIdle`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl IisLine {
    /// `401.1` or `401`: the status as IIS's pages and logs name it.
    pub fn status_text(&self) -> String {
        match (self.status, self.substatus) {
            (Some(s), Some(sub)) if sub != 0 => format!("{s}.{sub}"),
            (Some(s), _) => s.to_string(),
            (None, _) => "-".to_owned(),
        }
    }
}

/// Counters of a log file's reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct W3cStats {
    pub lines: u64,
    pub records: u64,
    pub directives: u64,
    /// Lines that could not be read: too long, before any `#Fields`, a field count other
    /// than the directive's, no date or time, bytes that are not text.
    pub malformed: u64,
    /// `#Fields` directives refused (too many fields, none).
    pub bad_fields: u64,
}

/// What a field of `#Fields` is, for the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Date,
    Time,
    ClientIp,
    ClientPort,
    ServerIp,
    ServerPort,
    Method,
    UriStem,
    UriQuery,
    /// HTTPERR's `cs-uri`: the path and the query.
    Uri,
    User,
    Status,
    Substatus,
    Win32,
    TimeTaken,
    Host,
    UserAgent,
    ForwardedFor,
    Reason,
    Other,
}

fn field_of(name: &str) -> Field {
    match name.to_ascii_lowercase().as_str() {
        "date" => Field::Date,
        "time" => Field::Time,
        "c-ip" => Field::ClientIp,
        "c-port" => Field::ClientPort,
        "s-ip" => Field::ServerIp,
        "s-port" => Field::ServerPort,
        "cs-method" => Field::Method,
        "cs-uri-stem" => Field::UriStem,
        "cs-uri-query" => Field::UriQuery,
        "cs-uri" => Field::Uri,
        "cs-username" => Field::User,
        "sc-status" => Field::Status,
        "sc-substatus" => Field::Substatus,
        "sc-win32-status" => Field::Win32,
        "time-taken" => Field::TimeTaken,
        "cs-host" | "cs(host)" => Field::Host,
        "cs(user-agent)" => Field::UserAgent,
        // IIS 8.5+ custom fields are written under the name given; a request header as
        // `cs(X-Forwarded-For)` in the W3C form.
        "x-forwarded-for" | "cs(x-forwarded-for)" => Field::ForwardedFor,
        "s-reason" => Field::Reason,
        _ => Field::Other,
    }
}

/// A W3C log read a line at a time: keeps the `#Fields` in force.
#[derive(Debug, Default)]
pub struct W3cReader {
    fields: Vec<Field>,
    /// `#Fields` named `s-reason`, or `#Software` named the HTTP API: an HTTPERR log.
    httperr: bool,
    /// `#Software`, as the file names its writer.
    pub software: Option<String>,
    pub stats: W3cStats,
    file: u32,
}

impl W3cReader {
    pub fn new(file: u32) -> W3cReader {
        W3cReader {
            file,
            ..W3cReader::default()
        }
    }

    /// Reads one line (without its line end); a request line gives an [`IisLine`].
    pub fn line(&mut self, raw: &[u8]) -> Option<IisLine> {
        self.stats.lines = self.stats.lines.saturating_add(1);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            return None;
        }
        if raw.len() > MAX_LINE {
            self.stats.malformed = self.stats.malformed.saturating_add(1);
            return None;
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            self.stats.malformed = self.stats.malformed.saturating_add(1);
            return None;
        };
        if let Some(directive) = text.strip_prefix('#') {
            self.directive(directive);
            return None;
        }
        let line = self.record(text);
        match &line {
            Some(_) => self.stats.records = self.stats.records.saturating_add(1),
            None => self.stats.malformed = self.stats.malformed.saturating_add(1),
        }
        line
    }

    fn directive(&mut self, d: &str) {
        self.stats.directives = self.stats.directives.saturating_add(1);
        let (name, value) = d.split_once(':').unwrap_or((d, ""));
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "fields" => {
                let names: Vec<&str> = value.split_ascii_whitespace().collect();
                if names.is_empty() || names.len() > MAX_FIELDS {
                    self.stats.bad_fields = self.stats.bad_fields.saturating_add(1);
                    self.fields.clear();
                    return;
                }
                self.httperr |= names.iter().any(|n| n.eq_ignore_ascii_case("s-reason"));
                self.fields = names.into_iter().map(field_of).collect();
            }
            "software" => {
                self.httperr |= value.starts_with("Microsoft HTTP API");
                self.software = Some(cut(value).to_owned());
            }
            _ => {}
        }
    }

    fn record(&self, text: &str) -> Option<IisLine> {
        if self.fields.is_empty() {
            return None;
        }
        let values: Vec<&str> = text.split(' ').collect();
        if values.len() != self.fields.len() {
            return None;
        }
        let mut out = IisLine {
            file: self.file,
            line: self.stats.lines,
            kind: Some(if self.httperr {
                LogKind::Httperr
            } else {
                LogKind::W3c
            }),
            ..IisLine::default()
        };
        let (mut date, mut time) = (None, None);
        for (f, v) in self.fields.iter().zip(values) {
            if v == "-" || v.is_empty() {
                continue;
            }
            match f {
                Field::Date => date = Some(v),
                Field::Time => time = Some(v),
                Field::ClientIp => out.client = v.parse().ok(),
                Field::ClientPort => out.client_port = v.parse().ok(),
                Field::ServerIp => out.server = v.parse().ok(),
                Field::ServerPort => out.server_port = v.parse().ok(),
                Field::Method => out.method = Some(cut(v).to_owned()),
                Field::UriStem => out.uri_stem = Some(cut(v).to_owned()),
                Field::UriQuery => out.uri_query = Some(cut(v).to_owned()),
                Field::Uri => {
                    let (stem, query) = v.split_once('?').unwrap_or((v, ""));
                    out.uri_stem = Some(cut(stem).to_owned());
                    if !query.is_empty() {
                        out.uri_query = Some(cut(query).to_owned());
                    }
                }
                Field::User => out.user = Some(spaces(v)),
                Field::Status => out.status = v.parse().ok(),
                Field::Substatus => out.substatus = v.parse().ok(),
                Field::Win32 => out.win32_status = v.parse().ok(),
                Field::TimeTaken => out.time_taken_ms = v.parse().ok(),
                Field::Host => out.host = Some(cut(v).to_owned()),
                Field::UserAgent => out.user_agent = Some(spaces(v)),
                Field::ForwardedFor => {
                    // `client, proxy1, proxy2` (with `+` for the spaces): the client first.
                    let first = v.split(',').next().unwrap_or(v).trim_matches('+');
                    out.forwarded_for = first.parse().ok();
                }
                Field::Reason => out.reason = Some(cut(v).to_owned()),
                Field::Other => {}
            }
        }
        out.time = timestamp(date?, time?)?;
        Some(out)
    }
}

/// A value cut to [`MAX_VALUE`] bytes, at a character boundary.
fn cut(v: &str) -> &str {
    if v.len() <= MAX_VALUE {
        return v;
    }
    let mut end = MAX_VALUE;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

/// IIS writes a space in a value as `+`.
fn spaces(v: &str) -> String {
    cut(v).replace('+', " ")
}

/// `2026-12-06` and `17:04:05` (UTC) as a timestamp.
fn timestamp(date: &str, time: &str) -> Option<Timestamp> {
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':');
    let h: i64 = t.next()?.parse().ok()?;
    let min: i64 = t.next()?.parse().ok()?;
    let sec = t.next()?;
    // IIS writes whole seconds; a fraction is read if a writer adds one.
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let s: i64 = whole.parse().ok()?;
    let valid = (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&min)
        && (0..=60).contains(&s)
        && (1600..=9999).contains(&y);
    if !valid {
        return None;
    }
    let mut nanos = 0i64;
    let mut scale = 100_000_000i64;
    for c in frac.bytes().take(9) {
        if !c.is_ascii_digit() {
            return None;
        }
        nanos += i64::from(c - b'0') * scale;
        scale /= 10;
    }
    let days = days_from_civil(y, m, day);
    Some(Timestamp::from_parts(
        days * 86_400 + h * 3600 + min * 60 + s,
        nanos,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const IIS10: &str = "#Software: Microsoft Internet Information Services 10.0\r
#Version: 1.0\r
#Date: 2026-12-06 10:00:00\r
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r
2026-12-06 10:00:01 127.0.0.13 GET / - 80 - 127.0.0.100 python-requests/2.28.1 - 401 2 5 3\r
2026-12-06 10:00:01 127.0.0.13 GET / - 80 LAB\\alice 127.0.0.100 Mozilla/5.0+(Windows+NT+10.0) - 401 1 1326 15\r
#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For\r
2026-12-06 10:00:02 10.0.0.1 POST /app 200 0 0 7 192.0.2.9,+10.0.0.1\r
not a line\r
";

    fn read(text: &str) -> (Vec<IisLine>, W3cReader) {
        let mut r = W3cReader::new(0);
        let lines = text
            .split('\n')
            .filter_map(|l| r.line(l.as_bytes()))
            .collect();
        (lines, r)
    }

    #[test]
    fn reads_iis_lines_across_a_change_of_fields() {
        let (lines, r) = read(IIS10);
        assert_eq!(lines.len(), 3);
        let l = &lines[1];
        assert_eq!(l.line, 6);
        assert_eq!(l.kind, Some(LogKind::W3c));
        assert_eq!(l.client, Some("127.0.0.100".parse().unwrap()));
        assert_eq!(l.server_port, Some(80));
        assert_eq!(l.user.as_deref(), Some("LAB\\alice"));
        assert_eq!(
            l.user_agent.as_deref(),
            Some("Mozilla/5.0 (Windows NT 10.0)")
        );
        assert_eq!(
            (l.status, l.substatus, l.win32_status),
            (Some(401), Some(1), Some(1326))
        );
        assert_eq!(l.time_taken_ms, Some(15));
        // 2026-12-06 is day 20 793 of the Unix epoch.
        assert_eq!(l.time.secs(), 20_793 * 86_400 + 10 * 3600 + 1);
        assert_eq!(lines[0].user, None, "`-` is empty");
        assert_eq!(lines[2].forwarded_for, Some("192.0.2.9".parse().unwrap()));
        assert_eq!(lines[2].server_port, None);
        assert_eq!(r.stats.malformed, 1);
        assert_eq!(r.stats.directives, 5);
        assert_eq!(
            r.software.as_deref(),
            Some("Microsoft Internet Information Services 10.0")
        );
    }

    #[test]
    fn reads_httperr_lines() {
        let text = "#Software: Microsoft HTTP API 2.0
#Version: 1.0
#Date: 2026-12-06 10:00:00
#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid sc-status s-siteid s-reason s-queuename
2026-12-06 10:00:03 127.0.0.100 50123 127.0.0.15 80 HTTP/1.1 GET /big?x=1 - 400 - FieldLength -
2026-12-06 10:02:00 127.0.0.100 50124 127.0.0.15 80 - - - - - - Timer_ConnectionIdle -
";
        let (lines, _) = read(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].kind, Some(LogKind::Httperr));
        assert_eq!(lines[0].client_port, Some(50123));
        assert_eq!(lines[0].uri_stem.as_deref(), Some("/big"));
        assert_eq!(lines[0].uri_query.as_deref(), Some("x=1"));
        assert_eq!(lines[0].reason.as_deref(), Some("FieldLength"));
        assert_eq!(lines[1].status, None);
        assert_eq!(lines[1].reason.as_deref(), Some("Timer_ConnectionIdle"));
    }

    #[test]
    fn a_line_before_any_fields_or_with_a_bad_date_is_malformed() {
        let (lines, r) = read("2026-12-06 10:00:01 x\n#Fields: date time c-ip\n2026-13-06 10:00:01 1.2.3.4\n2026-12-06 25:00:01 1.2.3.4\n");
        assert!(lines.is_empty());
        assert_eq!(r.stats.malformed, 3);
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 6), 20_793);
    }
}
