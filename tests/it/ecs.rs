//! `--format ecs`: every field of every document, from the lab's captures and the public
//! corpus, checked against ECS's own field reference (`../shared/ecs/ecs_flat.yml`) and the
//! index template the project ships; the Community ID against the Python reference
//! implementation; and the documents loaded into ClickHouse (chdb, in process), whose SQL
//! answers equal the JSON report's counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use authscope::report::{run, ExchangeFilter, Format, Options};
use serde_json::{Map, Value};

use super::util::{captures_in, full, lab_python, public_captures, root};

/// The lab captures and their key logs.
fn lab() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let dir = root().join("captures");
    let captures = captures_in(&dir);
    assert!(
        captures.len() > 20,
        "the lab captures are in the repository"
    );
    let keys = captures
        .iter()
        .map(|c| c.with_extension("keylog"))
        .filter(|k| k.exists())
        .collect();
    (captures, keys)
}

/// The report of `paths` (each its own capture) in `format`.
fn report(paths: &[PathBuf], keys: &[PathBuf], format: Format) -> Vec<u8> {
    let opts = Options {
        format,
        exchanges: ExchangeFilter::Auth,
        all_handshakes: true,
        plan: authscope::pipeline::Plan::threads(1),
        key_logs: keys.to_vec(),
        ..Options::default()
    };
    let mut out = Vec::new();
    run(paths, &opts, &mut out).unwrap();
    out
}

/// The JSON objects of NDJSON lines.
pub(super) fn documents(bytes: &[u8]) -> Vec<Value> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// Each leaf of `v` by its dotted name; an array of scalars is one leaf (ECS's `array`
/// normalization), an array of objects gives its objects' leaves under its name.
fn leaves<'a>(prefix: &str, v: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&name, x, out);
            }
        }
        Value::Array(a) if a.iter().any(Value::is_object) => {
            for x in a {
                leaves(prefix, x, out);
            }
        }
        _ => out.push((prefix.to_owned(), v)),
    }
}

/// Whether `v` is a value of the Elasticsearch field type `ty`.
fn fits(ty: &str, v: &Value) -> bool {
    match ty {
        "keyword" | "constant_keyword" | "wildcard" | "text" | "match_only_text" => v.is_string(),
        "long" => v.is_i64() || v.is_u64(),
        "integer" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "short" => v.as_i64().is_some_and(|n| i16::try_from(n).is_ok()),
        "unsigned_long" => v.is_u64(),
        "float" | "double" | "scaled_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "ip" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "date" => v
            .as_str()
            .is_some_and(|s| humantime::parse_rfc3339(s).is_ok()),
        _ => false,
    }
}

/// ECS's reference: each field's type, whether it may be an array, and the allowed values of
/// the fields that have them (for `event.type`, each category's expected types).
struct Reference {
    types: BTreeMap<String, (String, bool)>,
    allowed: BTreeMap<String, BTreeSet<String>>,
    expected_types: BTreeMap<String, BTreeSet<String>>,
}

fn reference() -> Reference {
    let path = root()
        .join("..")
        .join("shared")
        .join("ecs")
        .join("ecs_flat.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: the ECS reference is needed: {e}", path.display()));
    let fields: BTreeMap<String, serde_norway::Value> = serde_norway::from_str(&text).unwrap();
    let mut r = Reference {
        types: BTreeMap::new(),
        allowed: BTreeMap::new(),
        expected_types: BTreeMap::new(),
    };
    for (name, f) in &fields {
        let ty = f["type"].as_str().unwrap_or_default().to_owned();
        let array = f["normalize"]
            .as_sequence()
            .is_some_and(|n| n.iter().any(|x| x.as_str() == Some("array")));
        r.types.insert(name.clone(), (ty, array));
        if let Some(values) = f["allowed_values"].as_sequence() {
            let mut names = BTreeSet::new();
            for v in values {
                let n = v["name"].as_str().unwrap().to_owned();
                if let Some(types) = v["expected_event_types"].as_sequence() {
                    let types = types.iter().map(|t| t.as_str().unwrap().to_owned());
                    r.expected_types.insert(n.clone(), types.collect());
                }
                names.insert(n);
            }
            r.allowed.insert(name.clone(), names);
        }
    }
    assert!(
        r.types.len() > 1000,
        "{}: too few fields read",
        path.display()
    );
    r
}

/// The template's fields and their types, by dotted name.
fn template_fields() -> BTreeMap<String, String> {
    fn walk(prefix: &str, props: &Map<String, Value>, out: &mut BTreeMap<String, String>) {
        for (k, m) in props {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if let Some(inner) = m["properties"].as_object() {
                walk(&name, inner, out);
            } else {
                out.insert(name, m["type"].as_str().unwrap().to_owned());
            }
        }
    }
    let path = root().join("docs/ecs/authscope-index-template.json");
    let t: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    walk(
        "",
        t["template"]["mappings"]["properties"].as_object().unwrap(),
        &mut out,
    );
    out
}

/// Every field of `doc` is mapped by the shipped template with a type its value fits.
fn check_template(doc: &Value, template: &BTreeMap<String, String>, at: &str) {
    let mut all = Vec::new();
    leaves("", doc, &mut all);
    for (name, v) in all {
        let ty = template
            .get(&name)
            .unwrap_or_else(|| panic!("{at}: {name} is not in the index template"));
        let values: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        for x in values {
            assert!(
                fits(ty, x),
                "{at}: {name} = {x} is no {ty} (index template)"
            );
        }
    }
}

/// Every field of `doc` outside `authscope.*` is ECS's, with a value of its type (an array
/// only where ECS allows one), and the event fields take allowed values.
fn check_ecs(doc: &Value, r: &Reference, at: &str) {
    let mut all = Vec::new();
    leaves("", doc, &mut all);
    for (name, v) in &all {
        if name.starts_with("authscope.") {
            continue;
        }
        let (ty, array) = r
            .types
            .get(name)
            .unwrap_or_else(|| panic!("{at}: {name} is not an ECS field"));
        let values: Vec<&Value> = match v {
            Value::Array(a) => {
                assert!(*array, "{at}: {name} is an array, which ECS does not allow");
                a.iter().collect()
            }
            one => vec![*one],
        };
        for x in &values {
            assert!(fits(ty, x), "{at}: {name} = {x} is no {ty}");
            if let Some(allowed) = r.allowed.get(name) {
                let s = x.as_str().unwrap_or_default();
                assert!(allowed.contains(s), "{at}: {name} = {s} is not allowed");
            }
        }
    }
    // Required of every event: the time of what it describes.
    assert!(
        fits("date", &doc["@timestamp"]),
        "{at}: no valid @timestamp ({})",
        doc["@timestamp"]
    );
    let categories: Vec<&str> = doc["event"]["category"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for t in doc["event"]["type"].as_array().into_iter().flatten() {
        let t = t.as_str().unwrap();
        assert!(
            categories.iter().any(|c| r
                .expected_types
                .get(*c)
                .is_some_and(|types| types.contains(t))),
            "{at}: event.type {t} is expected by none of the categories {categories:?}"
        );
    }
}

/// The times of the frames of `path`, by number.
fn frame_times(path: &std::path::Path) -> BTreeMap<u64, String> {
    let mut source = authscope::capture::MergedSource::open(&[path.to_owned()]).unwrap();
    let mut times = BTreeMap::new();
    while let Some(f) = source.next_frame() {
        times.insert(f.number, authscope::present::rfc3339(f.ts));
    }
    times
}

/// Every document has an `@timestamp`, the time of what it describes: a finding's is the
/// time of its first evidence frame, also for a finding about a server's TLS that no
/// handshake holds; a damaged file's is the time of its last good packet; a file not read
/// at all is dated when the run read it, which `event.created` says.
#[test]
fn every_document_is_dated_by_what_it_describes() {
    let (captures, _) = lab();
    let mut tls_only = 0;
    for c in &captures {
        let times = frame_times(c);
        for d in documents(&report(std::slice::from_ref(c), &[], Format::Ecs)) {
            let at = format!("{}: {d}", c.display());
            let ts = d["@timestamp"].as_str().unwrap_or_else(|| panic!("{at}"));
            assert!(fits("date", &d["@timestamp"]), "{at}");
            assert!(
                d["event"]["created"].is_null(),
                "{at}: every packet is dated"
            );
            if d["event"]["dataset"] == "authscope.handshake" {
                assert_eq!(Some(ts), d["event"]["start"].as_str(), "{at}");
                continue;
            }
            let evidence: Vec<&String> = d["authscope"]["finding"]["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| times.get(&e["frame"].as_u64().unwrap()))
                .collect();
            let first = *evidence
                .iter()
                .min()
                .unwrap_or_else(|| panic!("{at}: no evidence frame in the capture"));
            if d["authscope"]["handshake"]["id"].is_null() {
                // A ClientHello's or an alert's frame.
                assert_eq!(ts, first, "{at}: not its first evidence frame's time");
                tls_only += 1;
            } else {
                // A message of the handshake's, dated by its first packet, which the frame
                // that completes it (the evidence) may follow; evidence from another
                // handshake (a relayed challenge) does not date it.
                let (start, end) = (
                    d["event"]["start"].as_str().unwrap(),
                    d["event"]["end"].as_str().unwrap(),
                );
                assert!(
                    start <= ts
                        && ts <= end
                        && evidence.iter().any(|e| ts <= e.as_str())
                        && times.values().any(|t| t == ts),
                    "{at}: not the time of its first evidence"
                );
            }
        }
    }
    assert!(tls_only >= 3, "{tls_only} findings about connections alone");

    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(root().join("captures/ntlm-success.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &whole[..2500]).unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"not a capture\n").unwrap();
    let before = std::time::SystemTime::now();
    let docs = documents(&report(&[cut.clone(), junk.clone()], &[], Format::Ecs));
    let after = std::time::SystemTime::now();
    let inputs: Vec<&Value> = docs
        .iter()
        .filter(|d| d["event"]["dataset"] == "authscope.input")
        .collect();
    assert_eq!(inputs.len(), 2, "{docs:?}");
    let times = frame_times(&cut);
    let last = times.values().last().unwrap();
    assert_eq!(inputs[0]["log"]["file"]["path"], cut.display().to_string());
    assert_eq!(inputs[0]["@timestamp"].as_str(), Some(last.as_str()));
    assert!(inputs[0]["event"]["created"].is_null());
    assert_eq!(inputs[1]["log"]["file"]["path"], junk.display().to_string());
    let created = inputs[1]["event"]["created"].as_str().unwrap();
    assert_eq!(inputs[1]["@timestamp"].as_str(), Some(created));
    let created = humantime::parse_rfc3339(created).unwrap();
    let micros = std::time::Duration::from_micros(1);
    assert!(
        before <= created + micros && created <= after,
        "{created:?}"
    );
}

/// Each document the shipped index template maps, with values of its types (no other files
/// needed: the lab captures are in the repository).
#[test]
fn every_field_of_the_lab_documents_is_in_the_index_template() {
    let (captures, keys) = lab();
    let template = template_fields();
    let docs = documents(&report(&captures, &keys, Format::Ecs));
    assert!(docs.len() > 60, "{} documents", docs.len());
    for (i, d) in docs.iter().enumerate() {
        check_template(d, &template, &format!("document {i}"));
    }
    // Every kind of document is there: handshakes, their findings, and with TLS.
    let datasets: BTreeSet<&str> = docs
        .iter()
        .filter_map(|d| d["event"]["dataset"].as_str())
        .collect();
    assert!(datasets.contains("authscope.handshake") && datasets.contains("authscope.finding"));
    assert!(docs.iter().any(|d| d["tls"]["established"] == true));
}

/// Every field of every document from the lab and the public captures against ECS's field
/// reference.
#[test]
fn every_field_of_every_document_is_ecs() {
    if !full() {
        return;
    }
    let r = reference();
    let template = template_fields();
    let (captures, keys) = lab();
    let mut sets = vec![(captures, keys)];
    sets.extend(public_captures().into_iter().map(|p| (vec![p], Vec::new())));
    let mut seen = 0usize;
    for (paths, keys) in sets {
        for (i, d) in documents(&report(&paths, &keys, Format::Ecs))
            .iter()
            .enumerate()
        {
            let at = format!("{}: document {i}", paths[0].display());
            check_ecs(d, &r, &at);
            check_template(d, &template, &at);
            seen += 1;
        }
    }
    assert!(seen > 150, "{seen} documents");
    // The template's own ECS fields have ECS's types.
    for (name, ty) in &template {
        if !name.starts_with("authscope.") {
            assert_eq!(
                Some(ty),
                r.types.get(name).map(|t| &t.0),
                "template: {name}"
            );
        }
    }
}

/// Runs `script` in the lab's Python with `input` on standard input: its standard output.
fn python(script: &str, input: &[u8]) -> String {
    use std::io::Write as _;
    let py = lab_python();
    let mut child = Command::new(&py)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: the lab's Python venv is needed: {e}", py.display()));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        py.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `network.community_id` of every handshake of the lab equals the Python `communityid`
/// package's (the Community ID spec's reference implementation).
#[test]
fn community_ids_equal_the_reference_implementation() {
    if !full() {
        return;
    }
    let (captures, keys) = lab();
    let docs = documents(&report(&captures, &keys, Format::Ecs));
    let mut flows = BTreeMap::new();
    for d in &docs {
        let Some(id) = d["network"]["community_id"].as_str() else {
            continue;
        };
        let tuple = format!(
            "{} {} {} {}",
            d["source"]["ip"].as_str().unwrap(),
            d["destination"]["ip"].as_str().unwrap(),
            d["source"]["port"],
            d["destination"]["port"]
        );
        flows.insert(tuple, id.to_owned());
    }
    assert!(flows.len() > 20, "{} flows", flows.len());
    let input: String = flows.keys().map(|t| format!("{t}\n")).collect();
    let script = "import sys, communityid\n\
                  c = communityid.CommunityID()\n\
                  for line in sys.stdin:\n\
                  \x20   s, d, sp, dp = line.split()\n\
                  \x20   t = communityid.FlowTuple.make_tcp(s, d, int(sp), int(dp))\n\
                  \x20   print(line.strip(), c.calc(t))\n";
    let got = python(script, input.as_bytes());
    let mut n = 0;
    for line in got.lines() {
        let (tuple, id) = line.rsplit_once(' ').unwrap();
        assert_eq!(flows.get(tuple).map(String::as_str), Some(id), "{tuple}");
        n += 1;
    }
    assert_eq!(n, flows.len());
}

/// Loads the ECS documents of every lab capture into ClickHouse (chdb, in process) through
/// the table `docs/ecs/clickhouse.sql` ships, and asks it with SQL for failed logons by user
/// and reason and handshakes by finding code: the answers equal the JSON report's counts.
#[test]
fn clickhouse_answers_what_the_json_report_counts() {
    if !full() {
        return;
    }
    let (captures, keys) = lab();
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("authscope.ndjson");
    std::fs::write(&ndjson, report(&captures, &keys, Format::Ecs)).unwrap();
    let doc: Value = serde_json::from_slice(&report(&captures, &keys, Format::Json)).unwrap();
    // The JSON report's counts.
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    for h in doc["handshakes"].as_array().unwrap() {
        if h["outcome"]["result"] == "failed" {
            let key = format!(
                "{}\t{}",
                h["user"].as_str().unwrap_or_default(),
                h["outcome"]["how"].as_str().unwrap()
            );
            *failed.entry(key).or_default() += 1;
        }
    }
    let mut by_code: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for f in doc["findings"].as_array().unwrap() {
        if let Some(h) = f["handshake"].as_u64() {
            by_code
                .entry(f["code"].as_str().unwrap().to_owned())
                .or_default()
                .insert(h);
        }
    }
    assert!(!failed.is_empty() && by_code.len() > 5);
    let ddl = std::fs::read_to_string(root().join("docs/ecs/clickhouse.sql")).unwrap();
    let script = r#"
import sys, chdb.session
ddl, path = sys.stdin.read().split("\0")
s = chdb.session.Session()
s.query("CREATE DATABASE IF NOT EXISTS t")
s.query("USE t")
s.query("\n".join(l for l in ddl.splitlines() if not l.startswith("--")))
settings = "SETTINGS input_format_import_nested_json=1, input_format_skip_unknown_fields=1, date_time_input_format='best_effort'"
s.query(f"INSERT INTO authscope SELECT * FROM file('{path}', JSONEachRow) {settings}")
print("failed")
print(s.query("SELECT `user.name`, `event.reason`, count() FROM authscope "
              "WHERE `event.dataset` = 'authscope.handshake' AND `event.outcome` = 'failure' "
              "GROUP BY 1, 2 ORDER BY 1, 2", "TSV"), end="")
print("codes")
print(s.query("SELECT `event.code`, uniqExact(`authscope.handshake.id`) FROM authscope "
              "WHERE `event.dataset` = 'authscope.finding' AND `authscope.handshake.id` IS NOT NULL "
              "GROUP BY 1 ORDER BY 1", "TSV"), end="")
"#;
    let input = format!("{ddl}\0{}", ndjson.display());
    let got = python(script, input.as_bytes());
    let (failed_sql, codes_sql) = got
        .strip_prefix("failed\n")
        .and_then(|g| g.split_once("codes\n"))
        .unwrap_or_else(|| panic!("chdb said: {got}"));
    let want_failed: String = failed.iter().map(|(k, n)| format!("{k}\t{n}\n")).collect();
    assert_eq!(failed_sql, want_failed, "failed logons by user and reason");
    let want_codes: String = by_code
        .iter()
        .map(|(c, hs)| format!("{c}\t{}\n", hs.len()))
        .collect();
    assert_eq!(codes_sql, want_codes, "handshakes by finding code");
}
