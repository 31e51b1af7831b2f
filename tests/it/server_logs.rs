//! The server's side (`--server-log`, `--events`): the IIS logs and Security events made for
//! the lab's failing captures (captures/server-logs/, scripts/server_logs.py) joined to their
//! handshakes, the reason each finding shows and its next step; the clock offset estimate on
//! a log shifted by a known offset; the report from the logs alone; and the EVTX reader on
//! real Windows files (../shared/logs/evtx/, under `AUTHSCOPE_FULL_TESTS=1`) against the
//! `evtx` crate's own dump.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::util::{bin, full, root, stdout_of, validator};

/// (scenario, the finding that carries the server's reason, words of its summary, words of
/// its next step).
const SCENARIOS: &[(&str, &str, &str, &str)] = &[
    ("basic-wrong-password", "logon-failed", "The server says why: wrong password (event 4625 0xc000006d STATUS_LOGON_FAILURE / 0xc000006a STATUS_WRONG_PASSWORD", "the password and it is wrong"),
    ("https-basic-wrong-password", "logon-failed", "The server says why: logon type not granted (event 4625 0xc000015b STATUS_LOGON_TYPE_NOT_GRANTED", "Basic logonMethod"),
    ("digest-wrong-password", "logon-failed", "wrong password (event 4625", "the password and it is wrong"),
    ("https-digest-wrong-password", "logon-failed", "account disabled (event 4625 0xc000006e STATUS_ACCOUNT_RESTRICTION / 0xc0000072 STATUS_ACCOUNT_DISABLED", "The account is disabled"),
    ("ntlm-wrong-password", "logon-failed", "wrong password (event 4625 0xc000006d STATUS_LOGON_FAILURE / 0xc000006a STATUS_WRONG_PASSWORD (LAB\\alice, workstation WS01, NTLM, logon type 3", "the password and it is wrong"),
    ("https-ntlm-wrong-password", "logon-failed", "account locked out (event 4625 0xc0000234 STATUS_ACCOUNT_LOCKED_OUT", "unlock it"),
    ("ntlm-keepalive-broken", "logon-failed", "token not valid here (legs split across connections or servers) (IIS 401.1 2148074248 SEC_E_INVALID_TOKEN", "keep the handshake on one connection"),
    ("ntlm-client-closes-after-challenge", "logon-failed", "IIS 401.1 2148074248 SEC_E_INVALID_TOKEN", "keep the handshake on one connection"),
    ("ntlm-curl-interop-failure", "logon-failed", "IIS 401.1 2148074248 SEC_E_INVALID_TOKEN", "keep the handshake on one connection"),
    ("ntlm-reset-after-challenge", "server-rejected-request", "http.sys wrote down Connection_Abandoned_By_AppPool for GET /", "WAS events (5009, 5011)"),
    ("ntlm-reset-on-authenticate", "server-rejected-request", "Connection_Abandoned_By_AppPool", "crash of w3wp.exe"),
    ("kerberos-badkeyver", "logon-failed", "ticket for another service principal (IIS 401.1 2148074274 SEC_E_WRONG_PRINCIPAL", "setspn -S"),
    ("kerberos-wrong-key", "logon-failed", "SEC_E_WRONG_PRINCIPAL", "setspn -S"),
    ("kerberos-wrong-spn", "logon-failed", "SEC_E_WRONG_PRINCIPAL", "useAppPoolCredentials"),
    ("kerberos-authz-denied", "access-denied-acl", "the IIS log confirms it: IIS 401.3 5 ERROR_ACCESS_DENIED", "ACLs for this account"),
    ("kerberos-token-too-large", "token-too-large", "HTTPERR 400 FieldLength GET /secure/index.html", "MaxFieldLength"),
    ("https-kerberos-wrong-password", "logon-failed", "The server's records say the logon of alice@LAB.TEST failed. The server says why: wrong password (event 4771 result 0x18 KDC_ERR_PREAUTH_FAILED (alice", "the password and it is wrong"),
    ("kerberos-wrong-password", "logon-failed", "The server says why: wrong password (event 4771 result 0x18 KDC_ERR_PREAUTH_FAILED (alice, from 127.0.0.100:", "the password and it is wrong"),
    ("kerberos-clock-skew", "logon-failed", "clocks too far apart (event 4769 result 0x25 KRB_AP_ERR_SKEW (alice@LAB.TEST, from 127.0.0.100:", "fix time synchronisation"),
    ("kerberos-server-clock-skew", "logon-failed", "clocks too far apart (IIS 401.1 2148074276 SEC_E_TIME_SKEW GET /secure/index.html", "fix time synchronisation"),
    ("kerberos-etype-nosupp", "logon-failed", "no encryption type in common (event 4768 result 0xe KDC_ERR_ETYPE_NOSUPP (LAB.TEST\\alice", "msDS-SupportedEncryptionTypes"),
    ("https-ntlm-epa-no-bindings", "logon-failed", "channel bindings refused (Extended Protection) (IIS 401.1 2148074310 SEC_E_BAD_BINDINGS", "requires channel bindings"),
    ("https-ntlm-epa-proxy", "logon-failed", "SEC_E_BAD_BINDINGS", "TLS-terminating device"),
    ("no-auth-method", "no-auth-method", "offers no way to authenticate", "IIS returns 401.2"),
    ("no-auth-method-iis-body", "no-auth-method", "offers no way to authenticate", "IIS returns 401.2"),
];

/// The files made for a scenario, as arguments.
fn log_args(scenario: &str) -> Vec<String> {
    let dir = root().join("captures/server-logs").join(scenario);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut args = Vec::new();
    for f in files {
        let flag = if f.extension().is_some_and(|x| x == "xml") {
            "--events"
        } else {
            "--server-log"
        };
        args.push(flag.to_owned());
        args.push(f.display().to_string());
    }
    args
}

fn report_json(scenario: &str, logs: &[String]) -> Value {
    let cap = root().join("captures").join(format!("{scenario}.pcap"));
    let mut args = vec![
        "report".to_owned(),
        cap.display().to_string(),
        "--format".to_owned(),
        "json".to_owned(),
    ];
    let keylog = cap.with_extension("keylog");
    if keylog.is_file() {
        args.push("--keylog".to_owned());
        args.push(keylog.display().to_string());
    }
    args.extend_from_slice(logs);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    serde_json::from_slice(&stdout_of(&refs)).unwrap()
}

#[test]
fn each_failing_scenario_shows_the_servers_reason_and_its_next_step() {
    let made: Vec<String> = std::fs::read_dir(root().join("captures/server-logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made.len(), SCENARIOS.len(), "every scenario made is tested");
    for (scenario, code, summary, next) in SCENARIOS {
        let doc = report_json(scenario, &log_args(scenario));
        let findings: Vec<&Value> = doc["handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h["findings"].as_array().unwrap())
            .filter(|f| f["code"] == *code)
            .collect();
        assert!(
            findings.iter().any(|f| {
                f["summary"].as_str().unwrap().contains(summary)
                    && f["next_step"].as_str().unwrap().contains(next)
            }),
            "{scenario}: no {code} saying {summary:?} / {next:?} in {findings:#?}"
        );
        let logs = &doc["summary"]["server_logs"];
        assert_eq!(logs["unmatched_lines"], 0, "{scenario}: every line joined");
        assert_eq!(
            logs["unmatched_events"], 0,
            "{scenario}: every event joined"
        );
        // Each joined record says how, and has its line on the timeline.
        for h in doc["handshakes"].as_array().unwrap() {
            let notes: Vec<&Value> = h["legs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|l| l["server"].as_array().into_iter().flatten())
                .collect();
            let lines = h["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["event"] == "iis_status" || e["event"] == "security_event")
                .count();
            assert_eq!(
                notes.len(),
                lines,
                "{scenario}: a timeline line per joined record"
            );
            for n in notes {
                assert!(["unique", "nearest"].contains(&n["how"].as_str().unwrap()));
                assert!(!n["matched_by"].as_array().unwrap().is_empty());
            }
        }
        let errors: Vec<String> = validator()
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{scenario}: {errors:#?}");
        // The fixtures are written on the capture's own clock.
        for o in logs["offsets"].as_array().unwrap() {
            let off = o["offset_ns"].as_i64().unwrap();
            assert!(off.abs() < 1_000_000_000, "{scenario}: offset {off}");
        }
    }
}

/// The W3C lines IIS would write for `scenario`'s responses, on a clock `shift_ns` ahead.
fn shifted_log(scenario: &str, shift_ns: i64) -> String {
    let doc = report_json(scenario, &[]);
    let mut out = String::from(
        "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip \
         cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n",
    );
    for h in doc["handshakes"].as_array().unwrap() {
        let server: std::net::SocketAddr = h["server"].as_str().unwrap().parse().unwrap();
        for l in h["legs"].as_array().unwrap() {
            let (Some(req), Some(resp)) = (l["request"].as_object(), l["response"].as_object())
            else {
                continue;
            };
            let ts = (resp["ts"].as_f64().unwrap() * 1e9) as i64 + shift_ns;
            let secs = ts.div_euclid(1_000_000_000);
            let (date, time) = civil(secs);
            let (sub, win32) = match l["credential"]["kind"].as_str().unwrap() {
                "none" => (2, 5u64),
                "ntlm-negotiate" => (1, 2148074254),
                _ => (1, 2148074252),
            };
            out.push_str(&format!(
                "{date} {time} {} {} {} - {} - {} - - {} {sub} {win32} 1\r\n",
                server.ip(),
                req["method"].as_str().unwrap(),
                req["uri"].as_str().unwrap(),
                server.port(),
                h["client"].as_str().unwrap(),
                resp["status"],
            ));
        }
    }
    out
}

/// `YYYY-MM-DD` and `HH:MM:SS` of Unix seconds (UTC).
fn civil(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[test]
fn a_clock_offset_is_recovered_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    for (scenario, shift_ns) in [
        ("ntlm-wrong-password", 37_600_000_000i64),
        ("ntlm-keepalive-broken", -412_250_000_000),
        ("basic-wrong-password", 3_300_000_000),
    ] {
        let path = dir.path().join(format!("{scenario}.log"));
        std::fs::write(&path, shifted_log(scenario, shift_ns)).unwrap();
        let doc = report_json(
            scenario,
            &["--server-log".to_owned(), path.display().to_string()],
        );
        let logs = &doc["summary"]["server_logs"];
        let offsets = logs["offsets"].as_array().unwrap();
        assert_eq!(offsets.len(), 1, "{scenario}: {logs:#}");
        let got = offsets[0]["offset_ns"].as_i64().unwrap();
        assert!(
            (got - shift_ns).abs() < 1_000_000_000,
            "{scenario}: offset {got} for {shift_ns}"
        );
        assert_eq!(logs["unmatched_lines"], 0, "{scenario}: {logs:#}");
        assert!(logs["joined_lines"].as_u64().unwrap() >= 2);
    }
}

#[test]
fn a_log_beyond_the_clock_window_joins_nothing_and_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.log");
    std::fs::write(&path, shifted_log("ntlm-wrong-password", 3_600_000_000_000)).unwrap();
    let doc = report_json(
        "ntlm-wrong-password",
        &["--server-log".to_owned(), path.display().to_string()],
    );
    let logs = &doc["summary"]["server_logs"];
    assert_eq!(logs["joined_lines"], 0);
    // The two challenge lines are normal and not listed; the refusal is.
    assert_eq!(logs["unmatched_lines"], 1, "{logs:#}");
    assert_eq!(logs["unmatched"].as_array().unwrap().len(), 1);
}

#[test]
fn report_alone_lists_the_failed_logons_by_reason_user_and_client() {
    let mut args = vec!["report".to_owned()];
    for s in [
        "ntlm-wrong-password",
        "https-ntlm-wrong-password",
        "https-basic-wrong-password",
    ] {
        args.extend(log_args(s));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = String::from_utf8(stdout_of(&refs)).unwrap();
    for want in [
        "failed logons the server recorded (by reason, user and client):",
        // Each refusal once, though IIS and the Security log both wrote it.
        "1x wrong password: 401.1 2148074252 SEC_E_LOGON_DENIED + 4625 0xc000006a STATUS_WRONG_PASSWORD user LAB\\alice from 127.0.0.100",
        "1x account locked out: 401.1 1909 ERROR_ACCOUNT_LOCKED_OUT + 4625 0xc0000234 STATUS_ACCOUNT_LOCKED_OUT user LAB\\alice from 127.0.0.100",
        "1x logon type not granted: 401.1 1385 ERROR_LOGON_TYPE_NOT_GRANTED + 4625 0xc000015b STATUS_LOGON_TYPE_NOT_GRANTED user LAB\\alice",
        "next: The account is locked out: unlock it",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    // With no capture, nothing was to be joined: no capture sections, no unmatched list.
    for unwanted in [
        "FINDINGS",
        "HANDSHAKES",
        "packets:",
        "not matched to any captured exchange",
    ] {
        assert!(!text.contains(unwanted), "{unwanted:?} in:\n{text}");
    }
    assert_eq!(text.matches("x account locked out").count(), 1, "{text}");
    // The same as JSON, grouped.
    args.extend(["--format".to_owned(), "json".to_owned()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let doc: Value = serde_json::from_slice(&stdout_of(&refs)).unwrap();
    let groups = doc["summary"]["server_logs"]["failed_logons"]
        .as_array()
        .unwrap();
    assert!(groups.iter().any(|g| g["reason"] == "account-locked"
        && g["user"] == "LAB\\alice"
        && g["client"] == "127.0.0.100"
        && g["count"] == 1));
}

#[test]
fn hostile_server_logs_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let evtx = dir.path().join("bad.evtx");
    let mut bytes = b"ElfFile\0".to_vec();
    bytes.extend((0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&evtx, &bytes).unwrap();
    let xml = dir.path().join("bad.xml");
    std::fs::write(
        &xml,
        "<Event><System><EventID>4625</EventID></System><Event x",
    )
    .unwrap();
    let w3c = dir.path().join("bad.log");
    std::fs::write(
        &w3c,
        b"#Fields: date time c-ip\n\xff\xfe\n2026-99-01 00:00:00 x\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["report", "--format", "json", "--events"])
        .arg(&evtx)
        .arg("--events")
        .arg(&xml)
        .arg("--server-log")
        .arg(&w3c)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The logs come first, then the events.
    let files = doc["summary"]["server_logs"]["files"].as_array().unwrap();
    assert_eq!(files[0]["malformed"], 2);
    assert!(files[1]["error"].is_string() || files[1]["malformed"].as_u64() > Some(0));
    assert_eq!(files[2]["malformed"], 1);
}

/// The real EVTX files (../shared/logs/evtx/, see its MANIFEST.md), read in place.
fn evtx_files() -> Vec<PathBuf> {
    let dir = root().join("../shared/logs/evtx");
    ["Security_with_size_t.evtx", "Security_short_selected.evtx"]
        .iter()
        .map(|f| dir.join(f))
        .collect()
}

/// An event as dumped: record id, SystemTime, EventData by name.
type Dumped = (u64, String, Vec<(String, String)>);

/// What `evtx_dump -o jsonl` (the evtx crate's own binary) shows of every event `id`:
/// (record id, SystemTime, EventData as name -> text).
fn dumped(path: &Path, id: u64) -> Vec<Dumped> {
    let out = Command::new("evtx_dump")
        .args(["-t", "1", "-o", "json"])
        .arg(path)
        .output()
        .expect("evtx_dump (cargo install evtx) is needed for the full tests");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = Vec::new();
    // `Record N` on a line of its own, then the record's JSON on one line, for each.
    for json in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(json).unwrap();
        let ev = &v["Event"];
        let record = ev["System"]["EventRecordID"].as_u64().unwrap();
        if ev["System"]["EventID"].as_u64() != Some(id) {
            continue;
        }
        let time = ev["System"]["TimeCreated"]["#attributes"]["SystemTime"]
            .as_str()
            .unwrap()
            .to_owned();
        let data = ev["EventData"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect();
        seen.push((record, time, data));
    }
    seen
}

/// A field as the XML has it and as the JSON dump has it: the same text, or the same number
/// (the JSON writes integers as numbers, the XML hexadecimal ones as `0x...`).
fn same_value(xml: &str, json: &str) -> bool {
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse::<u64>().ok(),
    };
    xml == json || (number(xml).is_some() && number(xml) == number(json))
}

#[test]
fn the_evtx_reader_reads_real_windows_files_as_the_evtx_crate_dumps_them() {
    if !full() {
        return;
    }
    let mut counts = Vec::new();
    for path in evtx_files() {
        assert!(path.is_file(), "{} is missing", path.display());
        let logs =
            authscope::capture::serverlog::ServerLogs::read(&[], std::slice::from_ref(&path))
                .unwrap();
        assert_eq!(logs.files[0].malformed, 0);
        for id in [4625u64, 4776] {
            let want = dumped(&path, id);
            let ours: Vec<_> = logs
                .events
                .iter()
                .filter(|e| u64::from(e.id) == id)
                .collect();
            assert_eq!(ours.len(), want.len(), "{} {id}", path.display());
            for (e, (record, time, data)) in ours.iter().zip(&want) {
                assert_eq!(e.record, *record);
                let t = humantime::parse_rfc3339_weak(time).unwrap();
                let ns = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                assert_eq!(e.time.0 as u128, ns, "record {record}");
                assert_eq!(e.fields.len(), data.len(), "record {record}");
                for ((name, value), (dname, dvalue)) in e.fields.iter().zip(data) {
                    assert_eq!(name, dname, "record {record}");
                    assert!(
                        same_value(value, dvalue),
                        "record {record} {name}: {value:?} here, {dvalue:?} dumped"
                    );
                }
            }
            counts.push(ours.len());
        }
    }
    assert_eq!(
        counts,
        [15, 21, 1, 1],
        "4625 and 4776 in each file (MANIFEST.md)"
    );
    // The MANIFEST's first 4625, by the fields the join reads.
    let logs = authscope::capture::serverlog::ServerLogs::read(&[], &evtx_files()[..1]).unwrap();
    let e = logs.events.iter().find(|e| e.id == 4625).unwrap();
    assert_eq!(e.record, 59);
    assert_eq!(
        authscope::present::rfc3339(e.time),
        "2015-08-24T06:54:30.765625Z"
    );
    assert_eq!(e.user.as_deref(), Some("Administrator"));
    assert_eq!(e.domain.as_deref(), Some("WIN-L0ZZQ76PMUF"));
    assert_eq!((e.status, e.substatus), (Some(0xC000_0224), Some(0)));
    assert_eq!(e.logon_type, Some(2));
    assert_eq!(e.package.as_deref(), Some("Negotiate"));
    assert_eq!(e.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(e.port, Some(0));
    // The report of the file alone groups its failed logons, with their reason.
    let path = evtx_files()[0].display().to_string();
    let text = String::from_utf8(stdout_of(&["report", "--events", &path])).unwrap();
    assert!(
        text.contains("password must be changed: 4625 0xc0000224 STATUS_PASSWORD_MUST_CHANGE user WIN-L0ZZQ76PMUF\\Administrator from 127.0.0.1"),
        "{text}"
    );
}

#[test]
fn the_fixtures_are_what_the_script_makes_from_the_captures() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(root().join("scripts/server_logs.py"))
        .arg("--out")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let committed = root().join("captures/server-logs");
    for s in std::fs::read_dir(&committed).unwrap() {
        let s = s.unwrap().path();
        let name = s.file_name().unwrap().to_owned();
        for f in std::fs::read_dir(&s).unwrap() {
            let f = f.unwrap().path();
            let made = dir.path().join(&name).join(f.file_name().unwrap());
            assert_eq!(
                std::fs::read(&f).unwrap(),
                std::fs::read(&made).unwrap_or_default(),
                "{} differs from what scripts/server_logs.py makes",
                f.display()
            );
        }
    }
}
