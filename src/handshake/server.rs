//! The join of the server's own records (`--server-log`, `--events`) to the legs they
//! explain: each IIS line, HTTPERR line or event goes to one leg at most, and says how it
//! was matched.
//!
//! IIS lines by the client's address (`c-ip`, or `X-Forwarded-For` when the site logs it),
//! the server port, the method, the URI stem and the status, at a time within the exchange
//! (IIS writes the line when the response has gone, to the second; `time-taken` before
//! that); HTTPERR lines by the client's address and port, which they carry. Events by
//! `IpAddress` and `IpPort` (4624 and 4625 carry the client's port), else by the address
//! and the user, else by user and workstation (4776 on a domain controller), within the
//! handshake's time.
//!
//! The server's clock is not the capture's. The offset between them is estimated, per file,
//! from the matches that had one candidate only: each bounds it (an IIS line written at
//! second `t` for a response captured at `r`: the offset is in `[t - r, t - r + 1 s)`; an
//! event between the request and its answer: in `[e - answer, e - request]`); the estimate
//! is the middle of the bounds' intersection, or the median of their middles when they
//! disagree. Until a file has one, its records are looked for within `window_ns` of the
//! capture's time.

use std::net::IpAddr;

use crate::capture::serverlog::codes::{self, Reason};
use crate::capture::serverlog::{IisLine, LogKind, SecurityEvent, ServerLogFile, ServerLogs};
use crate::capture::Timestamp;
use crate::map::Map as HashMap;

use super::{Credential, Handshake, Leg};

const SECOND: i64 = 1_000_000_000;
/// Slack around an exchange's times once the offset is known.
const SLACK_NS: i64 = 2 * SECOND;
/// The unmatched records listed (all are counted).
const LISTED: usize = 100;
/// Bounds kept per file for the estimate.
const MAX_SAMPLES: usize = 4096;

/// Options of the join.
#[derive(Debug, Clone, Copy)]
pub struct JoinConfig {
    /// How far apart the server's clock and the capture's may be, before an estimate.
    pub window_ns: i64,
}

impl Default for JoinConfig {
    fn default() -> Self {
        JoinConfig {
            window_ns: 900 * SECOND,
        }
    }
}

/// Which record a note is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Record {
    /// An IIS W3C or HTTPERR line.
    Iis(Box<IisLine>),
    /// A Windows event.
    Event(Box<SecurityEvent>),
}

/// A server record joined to a leg.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerNote {
    /// The file it came from, as given.
    pub file: String,
    /// How it was matched: the keys that were equal (`client`, `client_port`, `server_port`,
    /// `method`, `uri`, `status`, `user`, `workstation`), and whether it was the only
    /// candidate (`unique`) or the nearest in time of several (`nearest`).
    pub matched_by: Vec<&'static str>,
    pub how: &'static str,
    /// The record's time less the capture's moment it was matched to (the response's for an
    /// IIS line, the request's for an event), nanoseconds, before the offset.
    pub skew_ns: i64,
    /// The reason the record gives for refusing a logon (none on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The record in words: `IIS 401.1 1326 ERROR_LOGON_FAILURE`.
    pub text: String,
    pub record: Record,
}

impl ServerNote {
    /// `401 3 5` (or `401.3` and any win32 status) from an IIS line.
    pub fn iis(&self) -> Option<&IisLine> {
        match &self.record {
            Record::Iis(l) => Some(l),
            Record::Event(_) => None,
        }
    }

    pub fn event(&self) -> Option<&SecurityEvent> {
        match &self.record {
            Record::Event(e) => Some(e),
            Record::Iis(_) => None,
        }
    }

    /// A refusal the server wrote down (not the normal challenge).
    pub fn refusal(&self) -> Option<Reason> {
        self.reason.filter(|r| *r != Reason::Challenge)
    }
}

/// The offset estimate of one file.
#[derive(Debug, Clone, Default)]
struct Estimate {
    /// Bounds `(lo, hi)` on `server - capture`, nanoseconds.
    bounds: Vec<(i64, i64)>,
}

impl Estimate {
    fn add(&mut self, lo: i64, hi: i64) {
        if self.bounds.len() < MAX_SAMPLES {
            self.bounds.push((lo.min(hi), hi.max(lo)));
        }
    }

    /// The estimate and how many bounds it rests on.
    fn value(&self) -> Option<(i64, bool)> {
        if self.bounds.is_empty() {
            return None;
        }
        let lo = self.bounds.iter().map(|b| b.0).max()?;
        let hi = self.bounds.iter().map(|b| b.1).min()?;
        if lo <= hi {
            return Some((lo + (hi - lo) / 2, true));
        }
        let mut mids: Vec<i64> = self.bounds.iter().map(|(a, b)| a + (b - a) / 2).collect();
        mids.sort_unstable();
        mids.get(mids.len() / 2).map(|m| (*m, false))
    }
}

/// The clock offset of a file, as reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClockOffset {
    pub file: String,
    /// The server's clock less the capture's, nanoseconds.
    pub offset_ns: i64,
    /// The matches with one candidate it rests on.
    pub samples: u64,
    /// True when their bounds all agree (the estimate is within the narrowest), false when
    /// it is the median of bounds that disagree.
    pub consistent: bool,
}

/// A record no handshake took.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmatched {
    pub file: String,
    pub text: String,
    pub record: Record,
}

/// Failed logons the records name, grouped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedGroup {
    pub reason: Reason,
    /// The code as written (`401.1 1326 ERROR_LOGON_FAILURE`, `4625 0xc000006a
    /// STATUS_WRONG_PASSWORD`).
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub count: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// What to do about it.
    pub next_step: String,
}

/// What the join made of the server's records, at the end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerSummary {
    pub files: Vec<ServerLogFile>,
    pub stats: crate::capture::serverlog::ServerLogStats,
    pub joined_lines: u64,
    pub joined_events: u64,
    pub unmatched_lines: u64,
    pub unmatched_events: u64,
    pub offsets: Vec<ClockOffset>,
    /// The failed logons of every record, joined or not.
    pub failed_logons: Vec<FailedGroup>,
    /// Up to a hundred of the records no handshake took, in time order.
    pub unmatched: Vec<Unmatched>,
}

/// The records, and which are taken.
#[derive(Debug)]
pub struct ServerJoin {
    cfg: JoinConfig,
    logs: ServerLogs,
    line_taken: Vec<bool>,
    event_taken: Vec<bool>,
    /// IIS lines by client address (and by `X-Forwarded-For`), in time order.
    lines_by_client: HashMap<IpAddr, Vec<u32>>,
    events_by_ip: HashMap<IpAddr, Vec<u32>>,
    /// Events without an address, by user (lower case, without its domain).
    events_by_user: HashMap<String, Vec<u32>>,
    estimates: Vec<Estimate>,
    joined_lines: u64,
    joined_events: u64,
}

fn by_time(v: &mut [u32], time: impl Fn(u32) -> Timestamp) {
    v.sort_by_key(|i| (time(*i), *i));
}

impl ServerJoin {
    pub fn new(logs: ServerLogs, cfg: JoinConfig) -> ServerJoin {
        let mut lines_by_client: HashMap<IpAddr, Vec<u32>> = HashMap::default();
        for (i, l) in logs.lines.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            if let Some(c) = l.client {
                lines_by_client.entry(c).or_default().push(i);
            }
            if let Some(f) = l.forwarded_for.filter(|f| Some(*f) != l.client) {
                lines_by_client.entry(f).or_default().push(i);
            }
        }
        for v in lines_by_client.values_mut() {
            by_time(v, |i| {
                logs.lines
                    .get(i as usize)
                    .map(|l| l.time)
                    .unwrap_or_default()
            });
        }
        let mut events_by_ip: HashMap<IpAddr, Vec<u32>> = HashMap::default();
        let mut events_by_user: HashMap<String, Vec<u32>> = HashMap::default();
        for (i, e) in logs.events.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match (e.ip, &e.user) {
                (Some(ip), _) if !ip.is_unspecified() => {
                    events_by_ip.entry(ip).or_default().push(i)
                }
                (_, Some(u)) => events_by_user.entry(user_key(u)).or_default().push(i),
                _ => {}
            }
        }
        for v in events_by_ip.values_mut().chain(events_by_user.values_mut()) {
            by_time(v, |i| {
                logs.events
                    .get(i as usize)
                    .map(|e| e.time)
                    .unwrap_or_default()
            });
        }
        ServerJoin {
            cfg,
            line_taken: vec![false; logs.lines.len()],
            event_taken: vec![false; logs.events.len()],
            estimates: vec![Estimate::default(); logs.files.len()],
            logs,
            lines_by_client,
            events_by_ip,
            events_by_user,
            joined_lines: 0,
            joined_events: 0,
        }
    }

    /// The offset of a file, else of all files together, and how sure: `(offset, margin)`.
    fn offset(&self, file: u32) -> (i64, i64) {
        if let Some((o, _)) = self.estimates.get(file as usize).and_then(Estimate::value) {
            return (o, SLACK_NS);
        }
        let mut all = Estimate::default();
        for e in &self.estimates {
            all.bounds.extend_from_slice(&e.bounds);
        }
        match all.value() {
            Some((o, _)) => (o, SLACK_NS),
            None => (0, self.cfg.window_ns),
        }
    }

    fn file_name(&self, file: u32) -> String {
        self.logs
            .files
            .get(file as usize)
            .map(|f| f.path.clone())
            .unwrap_or_default()
    }

    /// Joins what the records say to the legs of `hs`, and puts a line for each on its
    /// timeline.
    pub fn join(&mut self, hs: &mut Handshake) {
        let mut any = false;
        for i in 0..hs.legs.len() {
            any |= self.join_line(hs, i);
        }
        any |= self.join_events(hs);
        if any {
            hs.build_timeline();
        }
    }

    fn client_port(hs: &Handshake, leg: &Leg) -> Option<u16> {
        hs.client_ports
            .iter()
            .find(|(c, _)| *c == leg.conn)
            .map(|(_, p)| *p)
    }

    fn join_line(&mut self, hs: &mut Handshake, i: usize) -> bool {
        let Some(leg) = hs.legs.get(i) else {
            return false;
        };
        let Some(req) = leg.request.as_ref() else {
            return false;
        };
        let port = Self::client_port(hs, leg);
        let req_ts = req.ts;
        let resp_ts = leg.response.as_ref().map_or(req_ts, |r| r.ts);
        let status = leg.status();
        let stem = uri_path(&req.uri);
        let Some(cands) = self.lines_by_client.get(&hs.client) else {
            return false;
        };
        // (index, keys matched, distance from the expected time, of this leg's very step)
        let mut found: Vec<(u32, Vec<&'static str>, i64, bool)> = Vec::new();
        for &li in cands {
            let Some(l) = self.logs.lines.get(li as usize) else {
                continue;
            };
            if self.line_taken.get(li as usize).copied().unwrap_or(true) {
                continue;
            }
            let (off, margin) = self.offset(l.file);
            let at = l.time.0.saturating_sub(off);
            if at < req_ts.0.saturating_sub(margin)
                || at > resp_ts.0.saturating_add(margin + SECOND)
            {
                continue;
            }
            let mut keys = vec!["client"];
            if let Some(sp) = l.server_port {
                if sp != hs.server.port() {
                    continue;
                }
                keys.push("server_port");
            }
            if let (Some(cp), Some(p)) = (l.client_port, port) {
                if cp != p {
                    continue;
                }
                keys.push("client_port");
            }
            let httperr = l.kind == Some(LogKind::Httperr);
            match (&l.method, &l.uri_stem) {
                (Some(m), Some(u)) => {
                    if !m.eq_ignore_ascii_case(&req.method) || !same_path(u, &stem) {
                        continue;
                    }
                    keys.push("method");
                    keys.push("uri");
                }
                // HTTPERR's connection lines name no request: the connection's last leg.
                _ if httperr && l.client_port.is_some() => {
                    let last_on_conn = hs.legs.iter().rposition(|x| x.conn == leg.conn);
                    if last_on_conn != Some(i) {
                        continue;
                    }
                }
                _ => continue,
            }
            match (l.status, status) {
                (Some(a), Some(b)) if a == b => keys.push("status"),
                (Some(_), Some(_)) => continue,
                // A request http.sys dropped (no status) got no answer.
                (None, Some(_)) if l.method.is_some() => continue,
                _ => {}
            }
            // The step IIS logged: the anonymous challenge (401.2) answers no credential, the
            // NTLM challenge round (401.1 SEC_E_NO_CREDENTIALS) a Type 1 with a Type 2, a
            // refusal a credential (or, less often, a Type 1 refused, or an anonymous request
            // IIS could not log its anonymous account on for).
            let type1 = matches!(leg.credential, Credential::NtlmNegotiate { .. });
            let type2 = matches!(leg.answer, super::Answer::NtlmChallenge { .. });
            let exact = match codes::iis_reason(l.status, l.substatus, l.win32_status) {
                Some(Reason::Challenge) if l.substatus == Some(2) => {
                    if leg.credential.is_complete() {
                        continue;
                    }
                    !type1
                }
                Some(Reason::Challenge) => {
                    if !type1 {
                        continue;
                    }
                    type2
                }
                Some(_) if l.status == Some(401) => {
                    if type1 && type2 {
                        continue;
                    }
                    leg.credential.is_complete()
                }
                _ => true,
            };
            if exact {
                keys.push("step");
            }
            // IIS writes the line when the response has gone, to the second, truncated: the
            // distance from the response to that second.
            let distance = if resp_ts.0 < at {
                at - resp_ts.0
            } else {
                resp_ts
                    .0
                    .saturating_sub(at.saturating_add(SECOND - 1))
                    .max(0)
            };
            found.push((li, keys, distance, exact));
        }
        // Lines of the very step this leg is first; of those, one alone is unambiguous.
        if found.iter().any(|f| f.3) {
            found.retain(|f| f.3);
        }
        let unique = found.len() == 1;
        let Some((li, keys, ..)) = found.into_iter().min_by_key(|f| (f.2, f.0)) else {
            return false;
        };
        let Some(l) = self.logs.lines.get(li as usize).cloned() else {
            return false;
        };
        if let Some(t) = self.line_taken.get_mut(li as usize) {
            *t = true;
        }
        self.joined_lines = self.joined_lines.saturating_add(1);
        if unique && l.kind == Some(LogKind::W3c) && leg.response.is_some() {
            // Written at second t = floor(r + offset) for a response at r: the offset is in
            // [t - r, t - r + 1 s).
            let d = l.time.0.saturating_sub(resp_ts.0);
            if let Some(e) = self.estimates.get_mut(l.file as usize) {
                e.add(d, d.saturating_add(SECOND));
            }
        }
        let anonymous = matches!(leg.credential, Credential::None);
        let note = ServerNote {
            file: self.file_name(l.file),
            matched_by: keys,
            how: if unique { "unique" } else { "nearest" },
            skew_ns: l.time.0.saturating_sub(resp_ts.0),
            reason: codes::iis_reason(l.status, l.substatus, l.win32_status)
                .filter(|r| !(anonymous && *r == Reason::AccessDenied && l.substatus != Some(3))),
            text: iis_text(&l),
            record: Record::Iis(Box::new(l)),
        };
        if let Some(leg) = hs.legs.get_mut(i) {
            leg.server.push(note);
        }
        true
    }

    fn join_events(&mut self, hs: &mut Handshake) -> bool {
        let Some(first) = hs
            .legs
            .iter()
            .filter_map(|l| l.request.as_ref().map(|r| r.ts))
            .min()
        else {
            return false;
        };
        let last = hs
            .legs
            .iter()
            .filter_map(|l| {
                l.response
                    .as_ref()
                    .map(|r| r.ts)
                    .or(l.request.as_ref().map(|r| r.ts))
            })
            .max()
            .unwrap_or(first);
        let mut cands: Vec<u32> = Vec::new();
        if let Some(v) = self.events_by_ip.get(&hs.client) {
            cands.extend_from_slice(v);
        }
        if let Some(u) = &hs.user {
            if let Some(v) = self.events_by_user.get(&user_key(u)) {
                cands.extend_from_slice(v);
            }
        }
        let mut any = false;
        for ei in cands {
            if self.event_taken.get(ei as usize).copied().unwrap_or(true) {
                continue;
            }
            let Some(e) = self.logs.events.get(ei as usize) else {
                continue;
            };
            let (off, margin) = self.offset(e.file);
            let at = e.time.0.saturating_sub(off);
            if at < first.0.saturating_sub(margin) || at > last.0.saturating_add(margin) {
                continue;
            }
            let Some((leg, keys, unique)) = event_leg(hs, e, Timestamp(at)) else {
                continue;
            };
            let Some(l) = hs.legs.get(leg) else {
                continue;
            };
            let e = e.clone();
            if let Some(t) = self.event_taken.get_mut(ei as usize) {
                *t = true;
            }
            self.joined_events = self.joined_events.saturating_add(1);
            let req_ts = l.request.as_ref().map_or(first, |r| r.ts);
            let resp_ts = l.response.as_ref().map_or(req_ts, |r| r.ts);
            if unique && keys.contains(&"client_port") {
                // Checked between the credential's arrival and the answer.
                if let Some(est) = self.estimates.get_mut(e.file as usize) {
                    est.add(
                        e.time.0.saturating_sub(resp_ts.0),
                        e.time.0.saturating_sub(req_ts.0),
                    );
                }
            }
            let note = ServerNote {
                file: self.file_name(e.file),
                matched_by: keys,
                how: if unique { "unique" } else { "nearest" },
                skew_ns: e.time.0.saturating_sub(req_ts.0),
                reason: if e.failed() {
                    codes::event_reason(e.kerberos(), e.status, e.substatus)
                } else {
                    None
                },
                text: event_text(&e),
                record: Record::Event(Box::new(e)),
            };
            if let Some(l) = hs.legs.get_mut(leg) {
                l.server.push(note);
            }
            any = true;
        }
        any
    }

    /// What is left at the end: the offsets, the failed logons, the records no handshake
    /// took.
    pub fn finish(&self) -> ServerSummary {
        let mut unmatched: Vec<(Timestamp, Unmatched)> = Vec::new();
        let mut unmatched_lines = 0u64;
        let mut unmatched_events = 0u64;
        for (i, l) in self.logs.lines.iter().enumerate() {
            if self.line_taken.get(i).copied().unwrap_or(true) || is_challenge_line(l) {
                continue;
            }
            unmatched_lines += 1;
            if unmatched.len() < LISTED {
                unmatched.push((
                    l.time,
                    Unmatched {
                        file: self.file_name(l.file),
                        text: iis_text(l),
                        record: Record::Iis(Box::new(l.clone())),
                    },
                ));
            }
        }
        for (i, e) in self.logs.events.iter().enumerate() {
            if self.event_taken.get(i).copied().unwrap_or(true) || !joinable(e) {
                continue;
            }
            unmatched_events += 1;
            if unmatched.len() < LISTED * 2 {
                unmatched.push((
                    e.time,
                    Unmatched {
                        file: self.file_name(e.file),
                        text: event_text(e),
                        record: Record::Event(Box::new(e.clone())),
                    },
                ));
            }
        }
        unmatched.sort_by_key(|u| u.0);
        unmatched.truncate(LISTED);
        let offsets = self
            .estimates
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let (o, consistent) = e.value()?;
                Some(ClockOffset {
                    file: self.file_name(u32::try_from(i).unwrap_or(u32::MAX)),
                    offset_ns: o,
                    samples: e.bounds.len() as u64,
                    consistent,
                })
            })
            .collect();
        ServerSummary {
            files: self.logs.files.clone(),
            stats: self.logs.stats,
            joined_lines: self.joined_lines,
            joined_events: self.joined_events,
            unmatched_lines,
            unmatched_events,
            offsets,
            failed_logons: failed_logons(&self.logs),
            unmatched: unmatched.into_iter().map(|(_, u)| u).collect(),
        }
    }
}

/// The normal anonymous challenge and NTLM challenge round, which every healthy login
/// logs: not worth listing when no handshake took them.
fn is_challenge_line(l: &IisLine) -> bool {
    codes::iis_reason(l.status, l.substatus, l.win32_status) == Some(Reason::Challenge)
}

/// The events the join looks at (the others are only counted): those from the network, or
/// a domain controller's 4776; a local logon (a loopback address without a port) is not.
fn joinable(e: &SecurityEvent) -> bool {
    let remote = e.ip.is_some_and(|ip| {
        !(ip.is_unspecified() || ip.is_loopback() && e.port.is_none_or(|p| p == 0))
    });
    matches!(
        e.id,
        4624 | 4625 | 4648 | 4768 | 4769 | 4771 | 4776 | 8001..=8004 | 3 | 4
    ) && (remote || e.id == 4776)
}

/// The leg an event is about, the keys that matched, and whether it was the only one.
fn event_leg(
    hs: &Handshake,
    e: &SecurityEvent,
    at: Timestamp,
) -> Option<(usize, Vec<&'static str>, bool)> {
    let mut keys: Vec<&'static str> = Vec::new();
    let user_ok = match (&e.user, &hs.user) {
        (Some(a), Some(b)) => {
            if user_key(a) != user_key(b) {
                return None;
            }
            keys.push("user");
            true
        }
        _ => false,
    };
    // The Kerberos events' port is the client's connection to the KDC, not to the site.
    let port = e.port.filter(|p| *p != 0 && !e.kerberos());
    let conn = match (e.ip, port) {
        (Some(ip), Some(port)) if ip == hs.client => {
            keys.insert(0, "client");
            keys.insert(1, "client_port");
            let c = hs.client_ports.iter().find(|(_, p)| *p == port)?.0;
            Some(c)
        }
        (Some(ip), None) if ip == hs.client => {
            keys.insert(0, "client");
            None
        }
        (Some(_), _) => return None,
        (None, _) => {
            if !user_ok {
                return None;
            }
            match (&e.workstation, &hs.workstation) {
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => keys.push("workstation"),
                (Some(_), Some(_)) => return None,
                _ => {}
            }
            None
        }
    };
    // Without a port, an address alone is too weak for a handshake that named a user.
    if conn.is_none() && !user_ok && hs.user.is_some() {
        return None;
    }
    let failed = e.failed();
    let legs: Vec<usize> = hs
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| conn.is_none_or(|c| l.conn == c))
        .map(|(i, _)| i)
        .collect();
    // A failure goes to a refused credential, a success to an accepted one; else the
    // credential nearest in time; else the nearest leg.
    let fits = |l: &Leg| {
        l.credential.is_complete()
            && if failed {
                !l.answer.accepts()
            } else {
                l.answer.accepts()
            }
    };
    let pick = |filter: &dyn Fn(&Leg) -> bool| {
        legs.iter()
            .copied()
            .filter_map(|i| hs.legs.get(i).filter(|l| filter(l)).map(|l| (i, l)))
            .min_by_key(|(_, l)| (l.ts().0.saturating_sub(at.0)).abs())
            .map(|(i, _)| i)
    };
    let chosen = pick(&fits)
        .or_else(|| pick(&|l: &Leg| l.credential.is_complete()))
        .or_else(|| pick(&|_: &Leg| true))?;
    Some((chosen, keys, conn.is_some()))
}

/// `LAB\alice`, `alice@LAB.TEST` and `alice` are the same user here.
fn user_key(u: &str) -> String {
    let u = u.rsplit('\\').next().unwrap_or(u);
    let u = u.split('@').next().unwrap_or(u);
    u.to_ascii_lowercase()
}

/// The path of a request target: origin form, or the path of an absolute URI (a proxy's).
fn uri_path(uri: &str) -> String {
    let rest = match uri.find("://") {
        Some(i) => {
            let after = uri.get(i + 3..).unwrap_or_default();
            after.find('/').and_then(|j| after.get(j..)).unwrap_or("/")
        }
        None => uri,
    };
    rest.split(['?', '#']).next().unwrap_or(rest).to_owned()
}

/// IIS logs the stem decoded, with `+` for spaces; the request has it encoded.
fn same_path(logged: &str, requested: &str) -> bool {
    let a = percent_decoded(&logged.replace('+', " "));
    let b = percent_decoded(requested);
    a.eq_ignore_ascii_case(&b)
}

/// `%XX` decoded (RFC 3986 2.1); a `%` not followed by two hex digits stays.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = (c == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `IIS 401.1 1326 ERROR_LOGON_FAILURE (LAB\alice)`, `HTTPERR 400 FieldLength`.
pub fn iis_text(l: &IisLine) -> String {
    let mut t = match l.kind {
        Some(LogKind::Httperr) => format!("HTTPERR {}", l.status_text()),
        _ => format!("IIS {}", l.status_text()),
    };
    if let Some(w) = l.win32_status.filter(|w| *w != 0) {
        t.push(' ');
        t.push_str(&codes::win32_text(w));
    }
    if codes::iis_reason(l.status, l.substatus, l.win32_status) == Some(Reason::Challenge) {
        t.push_str(" (the challenge)");
    }
    if let Some(r) = &l.reason {
        t.push(' ');
        t.push_str(r);
    }
    if let (Some(m), Some(u)) = (&l.method, &l.uri_stem) {
        t.push_str(&format!(" {m} {u}"));
    }
    if let Some(u) = &l.user {
        t.push_str(&format!(" user {u}"));
    }
    if let Some(c) = l.forwarded_for.or(l.client) {
        t.push_str(&format!(" from {c}"));
    }
    t
}

/// `0x18 KDC_ERR_PREAUTH_FAILED`, or the number alone.
fn kerberos_text(v: u32) -> String {
    let name = i32::try_from(v)
        .ok()
        .and_then(|c| crate::auth::kerberos::KrbErrorCode::from(c).name());
    match name {
        Some(n) => format!("{v:#x} {n}"),
        None => format!("{v:#x}"),
    }
}

/// `event 4625 0xc000006d STATUS_LOGON_FAILURE / 0xc000006a STATUS_WRONG_PASSWORD (LAB\alice, NTLM, logon type 3)`.
pub fn event_text(e: &SecurityEvent) -> String {
    let mut t = format!("event {}", e.id);
    match (e.status, e.substatus) {
        (Some(s), _) if e.kerberos() => {
            t.push_str(&format!(" result {}", kerberos_text(s)));
        }
        (Some(s), Some(sub)) if sub != 0 => t.push_str(&format!(
            " {} / {}",
            codes::ntstatus_text(s),
            codes::ntstatus_text(sub)
        )),
        (Some(s), _) => {
            t.push(' ');
            t.push_str(&codes::ntstatus_text(s));
        }
        _ => {}
    }
    let mut parts = vec![];
    if let Some(who) = e.account() {
        parts.push(who);
    }
    if let Some(w) = &e.workstation {
        parts.push(format!("workstation {w}"));
    }
    if let Some(p) = &e.package {
        parts.push(p.clone());
    }
    if let Some(lt) = e.logon_type {
        parts.push(format!("logon type {lt}"));
    }
    if let (Some(ip), Some(port)) = (e.ip, e.port) {
        parts.push(format!("from {ip}:{port}"));
    } else if let Some(ip) = e.ip {
        parts.push(format!("from {ip}"));
    }
    if !parts.is_empty() {
        t.push_str(&format!(" ({})", parts.join(", ")));
    }
    t
}

/// One client's events in time order, each taken at most once: the nearest untaken one to a
/// time is found without walking over those taken (each side's next untaken is kept as in
/// a disjoint-set forest, paths halved), so pairing stays near-linear however many events
/// a second holds.
#[derive(Default)]
struct Untaken {
    /// (time, the event's index), sorted.
    times: Vec<(i64, usize)>,
    /// `after[k]`: `k` when the `k`th is untaken, else a later candidate; `len` past the end.
    after: Vec<usize>,
    /// `before[k + 1]`: `k + 1` when the `k`th is untaken, else an earlier candidate; 0
    /// before the start.
    before: Vec<usize>,
}

impl Untaken {
    fn ready(&mut self) {
        self.times.sort_unstable();
        let n = self.times.len();
        self.after = (0..=n).collect();
        self.before = (0..=n).collect();
    }

    fn root(links: &mut [usize], mut k: usize) -> usize {
        while let Some(&next) = links.get(k) {
            if next == k {
                break;
            }
            let skip = links.get(next).copied().unwrap_or(next);
            if let Some(l) = links.get_mut(k) {
                *l = skip;
            }
            k = skip;
        }
        k
    }

    /// Takes the untaken event nearest `mid` whose time is in `window`; its index.
    fn take_nearest(&mut self, mid: i64, window: std::ops::RangeInclusive<i64>) -> Option<usize> {
        let at = self.times.partition_point(|(t, _)| *t < mid);
        let right = Self::root(&mut self.after, at);
        let left = Self::root(&mut self.before, at).checked_sub(1);
        let time = |k: Option<usize>| k.and_then(|k| self.times.get(k)).map(|(t, _)| *t);
        let pick = [left, Some(right)]
            .into_iter()
            .filter(|k| time(*k).is_some_and(|t| window.contains(&t)))
            .min_by_key(|k| time(*k).map(|t| t.abs_diff(mid)))??;
        if let Some(l) = self.after.get_mut(pick) {
            *l = pick.saturating_add(1);
        }
        if let Some(l) = self.before.get_mut(pick.saturating_add(1)) {
            *l = pick;
        }
        self.times.get(pick).map(|(_, i)| *i)
    }
}

/// One refusal the records name, before grouping.
struct Refusal {
    reason: Reason,
    code: String,
    user: Option<String>,
    client: Option<String>,
    ip: Option<IpAddr>,
    time: Timestamp,
    /// An IIS line: when its request could have started (its time less `time-taken`).
    began: Timestamp,
}

/// Every failed logon of the records, grouped by reason, code, user and client, most
/// frequent first. A refusal the web server wrote twice, as an IIS line and as its own 4625
/// event, counts once, with both codes, the event's user and its reason (the SubStatus says
/// more than `sc-win32-status`).
pub fn failed_logons(logs: &ServerLogs) -> Vec<FailedGroup> {
    let mut lines: Vec<Refusal> = Vec::new();
    for l in &logs.lines {
        let Some(reason) = codes::iis_reason(l.status, l.substatus, l.win32_status) else {
            continue;
        };
        if reason == Reason::Challenge || !matches!(l.status, Some(401 | 403)) {
            continue;
        }
        let code = format!(
            "{} {}",
            l.status_text(),
            l.win32_status.map(codes::win32_text).unwrap_or_default()
        );
        let ip = l.forwarded_for.or(l.client);
        let taken = i64::from(l.time_taken_ms.unwrap_or(0)).saturating_mul(1_000_000);
        // IIS writes no user on a refusal: whose logon it was is the events' to say.
        lines.push(Refusal {
            reason,
            code: code.trim().to_owned(),
            user: l.user.clone(),
            client: ip.map(|c| c.to_string()),
            ip,
            time: l.time,
            began: Timestamp(l.time.0.saturating_sub(taken)),
        });
    }
    let mut events: Vec<(Refusal, bool)> = Vec::new();
    for e in &logs.events {
        if !e.failed() {
            continue;
        }
        let Some(reason) = codes::event_reason(e.kerberos(), e.status, e.substatus) else {
            continue;
        };
        let code = match (e.status, e.substatus) {
            (Some(s), _) if e.kerberos() => {
                format!("{} {}", e.id, kerberos_text(s))
            }
            (Some(_), Some(sub)) if sub != 0 => format!("{} {}", e.id, codes::ntstatus_text(sub)),
            (Some(s), _) => format!("{} {}", e.id, codes::ntstatus_text(s)),
            _ => e.id.to_string(),
        };
        let user = e.account();
        let client =
            e.ip.map(|ip| ip.to_string())
                .or_else(|| e.workstation.clone());
        // Only the web server's own 4625 is the same refusal as its IIS line; the domain
        // controller's 4776/4771 are another machine's view of it.
        let pairable = e.id == 4625 && e.ip.is_some();
        events.push((
            Refusal {
                reason,
                code: code.trim().to_owned(),
                user,
                client,
                ip: e.ip,
                time: e.time,
                began: e.time,
            },
            pairable,
        ));
    }
    // The 4625s that may pair, by client, in time order; a paired one is skipped.
    let mut by_ip: HashMap<IpAddr, Untaken> = HashMap::default();
    for (i, (e, pairable)) in events.iter().enumerate() {
        if let (true, Some(ip)) = (*pairable, e.ip) {
            by_ip.entry(ip).or_default().times.push((e.time.0, i));
        }
    }
    for u in by_ip.values_mut() {
        u.ready();
    }
    let mut events: Vec<Option<Refusal>> = events.into_iter().map(|(e, _)| Some(e)).collect();
    let mut rows: Vec<Refusal> = Vec::with_capacity(lines.len() + events.len());
    for line in lines {
        // The event is written while the request is handled: between its start and the
        // line's time, which IIS cuts to the second.
        let (from, to) = (
            line.began.0.saturating_sub(SECOND),
            line.time.0.saturating_add(2 * SECOND),
        );
        let mid = line.time.0.saturating_add(SECOND / 2);
        let twin = line
            .ip
            .and_then(|ip| by_ip.get_mut(&ip))
            .and_then(|u| u.take_nearest(mid, from..=to))
            .and_then(|i| events.get_mut(i).and_then(Option::take));
        match twin {
            Some(e) => {
                rows.push(Refusal {
                    reason: if e.reason == Reason::Other {
                        line.reason
                    } else {
                        e.reason
                    },
                    code: format!("{} + {}", line.code, e.code),
                    user: e.user.or(line.user),
                    client: line.client.or(e.client),
                    ..line
                });
            }
            None => rows.push(line),
        }
    }
    rows.extend(events.into_iter().flatten());
    type Key = (Reason, String, Option<String>, Option<String>);
    let mut groups: std::collections::BTreeMap<Key, FailedGroup> =
        std::collections::BTreeMap::new();
    for r in rows {
        let key = (r.reason, r.code.clone(), r.user.clone(), r.client.clone());
        let g = groups.entry(key).or_insert_with(|| FailedGroup {
            reason: r.reason,
            code: r.code,
            user: r.user,
            client: r.client,
            count: 0,
            first: r.time,
            last: r.time,
            next_step: r.reason.next_step(false, false).to_owned(),
        });
        g.count += 1;
        g.first = g.first.min(r.time);
        g.last = g.last.max(r.time);
    }
    let mut out: Vec<FailedGroup> = groups.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.first.cmp(&b.first)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_the_middle_of_agreeing_bounds() {
        // Lines written at whole seconds for responses 0.3 s and 0.7 s into a second, the
        // server 36.5 s ahead: t = floor(r + 36.5).
        let mut e = Estimate::default();
        for (r, t) in [(10_300_000_000i64, 46), (20_700_000_000, 57)] {
            let d = t * SECOND - r;
            e.add(d, d + SECOND);
        }
        assert_eq!(e.value(), Some((36_500_000_000, true)));
        e.add(100 * SECOND, 101 * SECOND);
        let (v, ok) = e.value().unwrap();
        assert!(!ok, "disagreeing bounds");
        assert!((v - 36_500_000_000).abs() < SECOND);
    }

    #[test]
    fn one_refusal_in_the_iis_log_and_the_security_log_counts_once() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let line = |secs: i64| IisLine {
            time: Timestamp(secs * SECOND),
            client: Some(ip),
            status: Some(401),
            substatus: Some(1),
            win32_status: Some(1326),
            time_taken_ms: Some(1500),
            ..IisLine::default()
        };
        let event = |ns: i64, id: u32| SecurityEvent {
            id,
            time: Timestamp(ns),
            ip: Some(ip),
            user: Some("alice".into()),
            domain: Some("LAB".into()),
            status: Some(0xc000_006d),
            substatus: Some(0xc000_006a),
            ..SecurityEvent::default()
        };
        let logs = |lines, events| ServerLogs {
            files: Vec::new(),
            lines,
            events,
            stats: Default::default(),
        };
        // The event is written while the request runs: a second and a half before IIS's line,
        // or within the second IIS cut off.
        for at in [998 * SECOND + SECOND / 2, 1000 * SECOND + 700_000_000] {
            let g = failed_logons(&logs(vec![line(1000)], vec![event(at, 4625)]));
            assert_eq!(g.len(), 1, "{g:#?}");
            assert_eq!(g[0].count, 1);
            assert_eq!(g[0].reason, Reason::BadPassword);
            assert_eq!(g[0].user.as_deref(), Some("LAB\\alice"));
            assert_eq!(
                g[0].code,
                "401.1 1326 ERROR_LOGON_FAILURE + 4625 0xc000006a STATUS_WRONG_PASSWORD"
            );
        }
        // Too far apart, another client, or the domain controller's view: two rows.
        let mut other = event(1000 * SECOND, 4625);
        other.ip = Some("10.0.0.8".parse().unwrap());
        for e in [
            event(1010 * SECOND, 4625),
            other,
            event(1000 * SECOND, 4776),
        ] {
            let g = failed_logons(&logs(vec![line(1000)], vec![e]));
            assert_eq!(g.iter().map(|g| g.count).sum::<u64>(), 2, "{g:#?}");
        }
        // Two refusals, two events: each line takes the nearer.
        let g = failed_logons(&logs(
            vec![line(1000), line(1005)],
            vec![event(1005 * SECOND, 4625), event(1000 * SECOND, 4625)],
        ));
        assert_eq!(g.len(), 1, "{g:#?}");
        assert_eq!(g[0].count, 2);
    }

    #[test]
    fn a_burst_of_refusals_in_one_second_pairs_each() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let n: u32 = 20_000;
        let lines = (0..n)
            .map(|_| IisLine {
                time: Timestamp(1000 * SECOND),
                client: Some(ip),
                status: Some(401),
                substatus: Some(1),
                win32_status: Some(1326),
                ..IisLine::default()
            })
            .collect();
        let events = (0..n)
            .map(|i| SecurityEvent {
                id: 4625,
                time: Timestamp(1000 * SECOND + i64::from(i) * 10_000),
                ip: Some(ip),
                status: Some(0xc000_006d),
                substatus: Some(0xc000_006a),
                ..SecurityEvent::default()
            })
            .collect();
        let g = failed_logons(&ServerLogs {
            files: Vec::new(),
            lines,
            events,
            stats: Default::default(),
        });
        assert_eq!(
            g.len(),
            1,
            "{:?}",
            g.iter().map(|g| &g.code).collect::<Vec<_>>()
        );
        assert_eq!(g[0].count, u64::from(n));
    }

    #[test]
    fn paths_compare_as_iis_logs_them() {
        assert!(same_path("/a+b/C.aspx", "/a%20b/c.aspx"));
        assert_eq!(uri_path("http://web.lab.test/x?y=1"), "/x");
        assert_eq!(uri_path("/x?y"), "/x");
        assert_eq!(user_key("LAB\\Alice"), "alice");
        assert_eq!(user_key("alice@LAB.TEST"), "alice");
    }
}
