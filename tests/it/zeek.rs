//! `--format zeek`: every record from the lab's captures and the public corpus has the
//! field names and types of the `Info` record of its log in Zeek's own scripts
//! (`base/protocols/ntlm/main.zeek`, `base/protocols/krb/main.zeek`, `files.zeek`), as
//! Zeek's JSON writer gives them; the records say what the JSON report says of the same
//! handshakes; secrets never appear.

use std::collections::BTreeMap;
use std::path::PathBuf;

use authscope::report::{run, Format, Options};
use serde_json::Value;

use super::ecs::documents as records;
use super::util::{captures_in, full, public_captures, root};

/// Zeek's type of each logged field, by log: the fields every `Info` record starts with, then
/// each log's own. `conn_id` is flattened to `id.*` by the JSON writer; fields without
/// `&optional` must be there.
const HEAD: &[(&str, &str, bool)] = &[
    ("ts", "time", true),
    ("uid", "string", true),
    ("id.orig_h", "addr", true),
    ("id.orig_p", "port", true),
    ("id.resp_h", "addr", true),
    ("id.resp_p", "port", true),
];

const NTLM: &[(&str, &str, bool)] = &[
    ("username", "string", false),
    ("hostname", "string", false),
    ("domainname", "string", false),
    ("server_nb_computer_name", "string", false),
    ("server_dns_computer_name", "string", false),
    ("server_tree_name", "string", false),
    ("success", "bool", false),
];

const KERBEROS: &[(&str, &str, bool)] = &[
    ("request_type", "string", false),
    ("client", "string", false),
    ("service", "string", false),
    ("success", "bool", false),
    ("error_msg", "string", false),
    ("from", "time", false),
    ("till", "time", false),
    ("cipher", "string", false),
    ("forwardable", "bool", false),
    ("renewable", "bool", false),
    ("client_cert_subject", "string", false),
    ("client_cert_fuid", "string", false),
    ("server_cert_subject", "string", false),
    ("server_cert_fuid", "string", false),
];

fn fits(ty: &str, v: &Value) -> bool {
    match ty {
        "time" => v.as_f64().is_some_and(|t| t > 0.0),
        "string" => v.as_str().is_some_and(|s| !s.is_empty()),
        "addr" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "port" => v.as_u64().is_some_and(|p| p <= 65535),
        "bool" => v.is_boolean(),
        _ => false,
    }
}

/// Checks one record against its log's table.
fn check(r: &Value, at: &str) {
    let o = r
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object"));
    let table = match o.get("_path").and_then(Value::as_str) {
        Some("ntlm") => NTLM,
        Some("kerberos") => KERBEROS,
        p => panic!("{at}: _path {p:?}"),
    };
    for (name, v) in o {
        if name == "_path" {
            continue;
        }
        let (_, ty, _) = HEAD
            .iter()
            .chain(table)
            .find(|(n, ..)| n == name)
            .unwrap_or_else(|| panic!("{at}: {name} is not a field of Zeek's log"));
        assert!(fits(ty, v), "{at}: {name} = {v} is no Zeek {ty}");
    }
    for (name, _, required) in HEAD.iter().chain(table) {
        assert!(!required || o.contains_key(*name), "{at}: no {name}");
    }
    let uid = o["uid"].as_str().unwrap();
    assert!(
        uid.len() == 18 && uid.starts_with('C') && uid.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{at}: uid {uid}"
    );
}

fn report(paths: &[PathBuf], format: Format, reveal: bool) -> Vec<u8> {
    let opts = Options {
        format,
        reveal_secrets: reveal,
        all_handshakes: true,
        plan: authscope::pipeline::Plan::threads(1),
        ..Options::default()
    };
    let mut out = Vec::new();
    run(paths, &opts, &mut out).unwrap();
    out
}

fn lab() -> Vec<PathBuf> {
    let c = captures_in(&root().join("captures"));
    assert!(c.len() > 20, "the lab captures are in the repository");
    c
}

/// Every record of every lab capture has Zeek's names and types, and tells the JSON report's
/// NTLM and Kerberos handshakes: one `ntlm.log` record for each NTLM one, with its user,
/// domain, workstation and outcome; one `kerberos.log` AP record for each Kerberos one; and
/// the KDC exchanges beside them.
#[test]
fn lab_records_are_zeeks_and_say_what_the_report_says() {
    let (mut ntlm, mut ap, mut kdc) = (0, 0, 0);
    for c in lab() {
        let at = c.display().to_string();
        let recs = records(&report(std::slice::from_ref(&c), Format::Zeek, false));
        for r in &recs {
            check(r, &at);
        }
        let doc: Value =
            serde_json::from_slice(&report(std::slice::from_ref(&c), Format::Json, false)).unwrap();
        let mut want_ntlm = Vec::new();
        let mut want_ap = 0;
        for h in doc["handshakes"].as_array().unwrap() {
            let success = match h["outcome"]["result"].as_str() {
                Some("success") => Some(true),
                Some("failed") => Some(false),
                _ => None,
            };
            // ntlm.log's user is the last Type 3's; a handshake without one may be named by
            // its KDC exchanges instead, which ntlm.log does not say.
            let type3 = h["legs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["credential"]["kind"] == "ntlm-authenticate");
            match h["scheme"].as_str() {
                Some("ntlm" | "negotiate-ntlm") => want_ntlm.push((
                    h["user"]
                        .as_str()
                        .filter(|s| !s.is_empty() && type3)
                        .map(str::to_owned),
                    h["domain"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    h["workstation"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    success,
                )),
                Some("kerberos") => want_ap += 1,
                _ => {}
            }
        }
        let got_ntlm: Vec<_> = recs
            .iter()
            .filter(|r| r["_path"] == "ntlm")
            .map(|r| {
                let s = |k: &str| r[k].as_str().map(str::to_owned);
                (
                    s("username"),
                    s("domainname"),
                    s("hostname"),
                    r["success"].as_bool(),
                )
            })
            .collect();
        assert_eq!(got_ntlm, want_ntlm, "{at}: ntlm.log");
        let got_ap = recs.iter().filter(|r| r["request_type"] == "AP").count();
        assert_eq!(got_ap, want_ap, "{at}: AP exchanges in kerberos.log");
        ntlm += got_ntlm.len();
        ap += got_ap;
        kdc += recs
            .iter()
            .filter(|r| matches!(r["request_type"].as_str(), Some("AS" | "TGS")))
            .count();
        // Names of the server from the NTLM challenge, where the lab's servers give them.
        if at.ends_with("/ntlm-success.pcap") {
            let r = recs.iter().find(|r| r["_path"] == "ntlm").unwrap();
            assert!(r["server_dns_computer_name"].is_string(), "{at}: {r}");
        }
        // Secrets never appear: revealing them changes nothing.
        assert_eq!(
            report(std::slice::from_ref(&c), Format::Zeek, true),
            report(std::slice::from_ref(&c), Format::Zeek, false),
            "{at}"
        );
    }
    assert!(ntlm > 15 && ap > 3, "{ntlm} NTLM, {ap} AP records");
    let _ = kdc;
}

/// Every record of every public capture has Zeek's names and types.
#[test]
fn public_records_are_zeeks() {
    if !full() {
        return;
    }
    let mut n: BTreeMap<String, usize> = BTreeMap::new();
    for c in public_captures() {
        for r in records(&report(std::slice::from_ref(&c), Format::Zeek, false)) {
            check(&r, &c.display().to_string());
            *n.entry(r["_path"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert!(n.get("ntlm").is_some_and(|n| *n > 5), "{n:?}");
}

/// A directory of the lab's captures (each its own capture) gives the same ECS documents and
/// Zeek records byte for byte whatever the threads.
#[test]
fn a_directory_gives_the_same_records_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    for c in lab() {
        std::fs::copy(&c, dir.path().join(c.file_name().unwrap())).unwrap();
    }
    let folder = [dir.path().to_owned()];
    for format in [Format::Ecs, Format::Zeek] {
        let of = |threads: usize| {
            let opts = Options {
                format,
                plan: authscope::pipeline::Plan::threads(threads),
                ..Options::default()
            };
            let mut out = Vec::new();
            run(&folder, &opts, &mut out).unwrap();
            out
        };
        let one = of(1);
        assert!(one.len() > 1000, "{format:?}");
        for threads in [2, 3] {
            assert!(one == of(threads), "{format:?}: {threads} threads differ");
        }
    }
}
