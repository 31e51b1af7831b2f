//! Windows events: EVTX files (read with the `evtx` crate, which renders each record as the
//! event's XML) and the same XML as `wevtutil qe <log> /f:xml` prints it. Both go through
//! [`event_of_xml`]: one reader of the event schema
//! (`http://schemas.microsoft.com/win/2004/08/events/event`), whatever wrote it.

use std::net::IpAddr;

use crate::capture::Timestamp;

/// The most named fields kept of one event.
const MAX_FIELDS: usize = 64;
/// The longest field value kept (longer ones are cut).
const MAX_VALUE: usize = 1024;
/// The longest `<Event>` element read from an XML file; a longer one is malformed.
pub const MAX_EVENT_XML: usize = 256 << 10;

/// One Windows event, with its named fields and the ones the join reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SecurityEvent {
    /// The file's index among the server logs given.
    pub file: u32,
    /// `EventRecordID`.
    pub record: u64,
    pub id: u32,
    /// `TimeCreated/@SystemTime` (UTC).
    pub time: Timestamp,
    pub provider: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub computer: String,
    /// `IpAddress` (4624, 4625, 4648, 4768, 4769, 4771), `::ffff:` mapped addresses unmapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// `IpPort`: the client's source port (0 for a local logon).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `TargetUserName` (or the user the event is about).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `WorkstationName` (4624, 4625, 4776: `Workstation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workstation: Option<String>,
    /// `Status` of 4625/4776/4768/4769/4771 (an NTSTATUS, or a Kerberos result code for the
    /// Kerberos events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substatus: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logon_type: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// `ServiceName` of 4769 (the SPN's account), `TargetServerName` of 4648.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Every `<Data Name=...>` of `EventData` (or the elements of `UserData`), in order.
    pub fields: Vec<(String, String)>,
}

impl SecurityEvent {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A Kerberos event (4768, 4769, 4771) whose `Status` is a Kerberos result code.
    pub fn kerberos(&self) -> bool {
        matches!(self.id, 4768 | 4769 | 4771)
    }

    /// A logon that failed: 4625, a 4776 or Kerberos event with a non-zero status, or an
    /// operational event reporting an error.
    pub fn failed(&self) -> bool {
        match self.id {
            4625 => true,
            4776 | 4768 | 4769 | 4771 => self.status.is_some_and(|s| s != 0),
            _ => false,
        }
    }

    /// The account as Windows writes it, `DOMAIN\user`, or the user alone.
    pub fn account(&self) -> Option<String> {
        let u = self.user.as_ref()?;
        // 4769 writes the user as a principal (`alice@LAB.TEST`), its realm beside it.
        Some(match &self.domain {
            Some(d) if !u.contains(['@', '\\']) => format!("{d}\\{u}"),
            _ => u.clone(),
        })
    }
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError(pub String);

/// Reads one `<Event>` element (as the evtx crate renders a record, or as wevtutil prints it).
pub fn event_of_xml(xml: &str, file: u32) -> Result<SecurityEvent, EventError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| EventError(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Event" {
        return Err(EventError(format!(
            "<{}> is not an <Event>",
            crate::shown::shown(root.tag_name().name())
        )));
    }
    let mut ev = SecurityEvent {
        file,
        ..SecurityEvent::default()
    };
    let mut have_id = false;
    let mut have_time = false;
    for part in root.children().filter(roxmltree::Node::is_element) {
        match part.tag_name().name() {
            "System" => {
                for s in part.children().filter(roxmltree::Node::is_element) {
                    match s.tag_name().name() {
                        "Provider" => ev.provider = cut(s.attribute("Name").unwrap_or("")),
                        "EventID" => {
                            if let Some(id) = s.text().and_then(|t| t.trim().parse().ok()) {
                                ev.id = id;
                                have_id = true;
                            }
                        }
                        "TimeCreated" => {
                            ev.time = s
                                .attribute("SystemTime")
                                .and_then(system_time)
                                .ok_or_else(|| EventError("no TimeCreated SystemTime".into()))?;
                            have_time = true;
                        }
                        "EventRecordID" => {
                            ev.record = s.text().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
                        }
                        "Channel" => ev.channel = cut(s.text().unwrap_or("")),
                        "Computer" => ev.computer = cut(s.text().unwrap_or("")),
                        _ => {}
                    }
                }
            }
            "EventData" => {
                for d in part.children().filter(roxmltree::Node::is_element) {
                    if ev.fields.len() >= MAX_FIELDS {
                        break;
                    }
                    let name = d.attribute("Name").unwrap_or(d.tag_name().name());
                    ev.fields.push((cut(name), cut(d.text().unwrap_or(""))));
                }
            }
            "UserData" => {
                // Operational events put their fields in one element of their own schema.
                for d in part
                    .children()
                    .filter(roxmltree::Node::is_element)
                    .flat_map(|n| n.children().filter(roxmltree::Node::is_element))
                {
                    if ev.fields.len() >= MAX_FIELDS {
                        break;
                    }
                    ev.fields
                        .push((cut(d.tag_name().name()), cut(d.text().unwrap_or(""))));
                }
            }
            _ => {}
        }
    }
    if !have_id || !have_time {
        return Err(EventError("no EventID or no TimeCreated".into()));
    }
    named(&mut ev);
    Ok(ev)
}

/// The fields the join and the findings read, by the names Windows gives them.
fn named(ev: &mut SecurityEvent) {
    let get = |ev: &SecurityEvent, names: &[&str]| {
        names
            .iter()
            .find_map(|n| ev.field(n))
            .map(str::trim)
            .filter(|v| !v.is_empty() && *v != "-")
            .map(str::to_owned)
    };
    ev.ip = get(ev, &["IpAddress", "ClientAddress"]).and_then(|v| address(&v));
    ev.port = get(ev, &["IpPort"]).and_then(|v| v.parse().ok());
    ev.user = get(
        ev,
        &["TargetUserName", "UserName", "ClientName", "AccountName"],
    );
    ev.domain = get(ev, &["TargetDomainName", "DomainName", "ClientRealm"]);
    ev.workstation = get(ev, &["WorkstationName", "Workstation"]);
    let status_names: &[&str] = if ev.kerberos() {
        &["Status"]
    } else {
        &["Status", "ErrorCode"]
    };
    ev.status = get(ev, status_names).and_then(|v| number(&v));
    ev.substatus = get(ev, &["SubStatus"]).and_then(|v| number(&v));
    ev.logon_type = get(ev, &["LogonType"]).and_then(|v| number(&v));
    ev.package = get(ev, &["AuthenticationPackageName", "PackageName"]);
    ev.service = get(
        ev,
        &[
            "ServiceName",
            "TargetServerName",
            "ServerName",
            "TargetName",
        ],
    );
}

/// `0xc000006d`, `0x18` or `3221225581`.
fn number(v: &str) -> Option<u32> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => v.parse::<u32>().ok().or_else(|| {
            // Some writers print an NTSTATUS as a signed 32-bit number.
            v.parse::<i32>().ok().map(|n| n as u32)
        }),
    }
}

/// An address as events write it: `::ffff:10.0.0.5` for an IPv4 client of a dual-stack
/// socket, `-` or `::1` for a local one.
fn address(v: &str) -> Option<IpAddr> {
    let ip: IpAddr = v.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// `2015-08-24T06:54:30.765625Z` (up to 7 decimals from wevtutil, 6 from the evtx crate).
fn system_time(v: &str) -> Option<Timestamp> {
    let t = humantime::parse_rfc3339_weak(v.trim()).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(Timestamp(i64::try_from(d.as_nanos()).ok()?))
}

fn cut(v: &str) -> String {
    if v.len() <= MAX_VALUE {
        return v.to_owned();
    }
    let mut end = MAX_VALUE;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_owned()
}

/// Counters of the events read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EventStats {
    pub records: u64,
    /// Records or `<Event>` elements that could not be read.
    pub malformed: u64,
}

/// The `<Event>...</Event>` elements of an XML text (wevtutil's output: one element after
/// another, with no root around them; or an `<Events>` document), each handed to `each`.
pub fn xml_events(
    text: &str,
    file: u32,
    stats: &mut EventStats,
    each: &mut dyn FnMut(SecurityEvent),
) {
    let mut rest = text;
    while let Some(start) = find_event_start(rest) {
        let after = &rest[start..];
        let Some(end) = after.find("</Event>") else {
            stats.malformed = stats.malformed.saturating_add(1);
            return;
        };
        let end = end + "</Event>".len();
        let element = &after[..end];
        rest = &after[end..];
        if element.len() > MAX_EVENT_XML {
            stats.malformed = stats.malformed.saturating_add(1);
            continue;
        }
        match event_of_xml(element, file) {
            Ok(ev) => {
                stats.records = stats.records.saturating_add(1);
                each(ev);
            }
            Err(_) => stats.malformed = stats.malformed.saturating_add(1),
        }
    }
}

/// Where the next `<Event` element starts (not `<Events>`, not `<EventData>`...).
fn find_event_start(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find("<Event") {
        let at = from + i;
        match text.as_bytes().get(at + "<Event".len()) {
            Some(b' ' | b'>' | b'\t' | b'\r' | b'\n' | b'/') => return Some(at),
            _ => from = at + 1,
        }
    }
    None
}

/// Reads an EVTX file's records with the `evtx` crate, each rendered as XML and read by
/// [`event_of_xml`].
pub fn evtx_events(
    bytes: Vec<u8>,
    file: u32,
    stats: &mut EventStats,
    each: &mut dyn FnMut(SecurityEvent),
) -> Result<(), EventError> {
    // The crate's own parser on hostile bytes: a panic there is one malformed file, not the
    // end of the analysis.
    let mut read = Vec::new();
    let mut local = EventStats::default();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let settings = evtx::ParserSettings::new().num_threads(1);
        let mut parser = evtx::EvtxParser::from_buffer(bytes)
            .map_err(|e| EventError(e.to_string()))?
            .with_configuration(settings);
        for r in parser.records() {
            match r {
                Ok(rec) => match event_of_xml(&rec.data, file) {
                    Ok(ev) => {
                        local.records = local.records.saturating_add(1);
                        read.push(ev);
                    }
                    Err(_) => local.malformed = local.malformed.saturating_add(1),
                },
                Err(_) => local.malformed = local.malformed.saturating_add(1),
            }
        }
        Ok::<(), EventError>(())
    }));
    stats.records = stats.records.saturating_add(local.records);
    stats.malformed = stats.malformed.saturating_add(local.malformed);
    for ev in read {
        each(ev);
    }
    match result {
        Ok(r) => r,
        Err(_) => Err(EventError("the EVTX reader failed on this file".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEVTUTIL: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4625</EventID><Version>0</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8010000000000000</Keywords><TimeCreated SystemTime='2026-12-06T10:00:01.1234567Z'/><EventRecordID>812</EventRecordID><Correlation/><Execution ProcessID='704' ThreadID='2280'/><Channel>Security</Channel><Computer>WEB01.lab.test</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-0-0</Data><Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>LAB</Data><Data Name='Status'>0xc000006d</Data><Data Name='FailureReason'>%%2313</Data><Data Name='SubStatus'>0xc000006a</Data><Data Name='LogonType'>3</Data><Data Name='AuthenticationPackageName'>NTLM</Data><Data Name='WorkstationName'>WS01</Data><Data Name='IpAddress'>::ffff:127.0.0.100</Data><Data Name='IpPort'>50412</Data></EventData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4776</EventID><TimeCreated SystemTime='2026-12-06T10:00:01Z'/></System><EventData><Data Name='TargetUserName'>alice</Data><Data Name='Workstation'>WS01</Data><Data Name='Status'>0xc000006a</Data></EventData></Event>
<Event><System><EventID>4625</EventID></System></Event>
";

    #[test]
    fn reads_wevtutil_xml() {
        let mut stats = EventStats::default();
        let mut evs = Vec::new();
        xml_events(WEVTUTIL, 3, &mut stats, &mut |e| evs.push(e));
        assert_eq!(
            (stats.records, stats.malformed),
            (2, 1),
            "the last has no time"
        );
        let e = &evs[0];
        assert_eq!((e.file, e.record, e.id), (3, 812, 4625));
        assert_eq!(e.ip, Some("127.0.0.100".parse().unwrap()));
        assert_eq!(e.port, Some(50412));
        assert_eq!(e.user.as_deref(), Some("alice"));
        assert_eq!(e.status, Some(0xC000_006D));
        assert_eq!(e.substatus, Some(0xC000_006A));
        assert_eq!(e.logon_type, Some(3));
        assert_eq!(e.package.as_deref(), Some("NTLM"));
        assert_eq!(e.workstation.as_deref(), Some("WS01"));
        assert_eq!(e.time.subsec_nanos(), 123_456_700);
        assert_eq!(evs[1].workstation.as_deref(), Some("WS01"));
        assert!(evs[1].failed());
    }

    #[test]
    fn numbers_in_every_spelling() {
        assert_eq!(number("0xC0000234"), Some(0xC000_0234));
        assert_eq!(number("24"), Some(24));
        assert_eq!(number("-1073741715"), Some(0xC000_006D));
        assert_eq!(number("x"), None);
    }

    #[test]
    fn not_an_event_is_an_error() {
        assert!(event_of_xml("<Events/>", 0).is_err());
        assert!(event_of_xml("<Event", 0).is_err());
    }
}
