//! `authscope export`: every format on the lab captures, checked by a reader of that format
//! (the JSON Schema, serde_json, the csv crate, mermaid's own parser, tshark, Chromium), and
//! redaction in every format.
//!
//! The tests that need node, tshark or chromium run under `AUTHSCOPE_FULL_TESTS=1` and then
//! fail, never skip, when the tool is missing (`.ci/run` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::util::{bin, captures_in, full, root, validator};

fn captures() -> Vec<PathBuf> {
    let v = captures_in(&root().join("captures"));
    assert!(!v.is_empty(), "no captures in captures/");
    v
}

fn capture(name: &str) -> PathBuf {
    root().join("captures").join(name)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs `authscope export` and returns the file written.
fn export(input: &Path, format: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let stem = input.file_stem().unwrap().to_string_lossy();
    let out = dir.join(format!("{stem}-{}.{format}", extra.len()));
    let o = Command::new(bin())
        .arg("export")
        .arg(input)
        .args(["--format", format, "-o"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "export {format} of {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn json_of(p: &Path) -> serde_json::Value {
    serde_json::from_str(&read(p)).unwrap()
}

/// The tool a full test needs: present, or the test fails.
fn need(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is needed by AUTHSCOPE_FULL_TESTS=1 (see .ci/run)"
    );
}

#[test]
fn json_validates_against_the_shipped_schema() {
    let v = validator();
    let dir = tmp();
    for c in captures() {
        for extra in [&[][..], &["--reveal-secrets"][..]] {
            let doc = json_of(&export(&c, "json", dir.path(), extra));
            assert_eq!(doc["schema"], "authscope/1");
            let errors: Vec<String> = v
                .iter_errors(&doc)
                .take(5)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", c.display());
        }
    }
}

#[test]
fn json_selection_by_id_and_filter() {
    let v = validator();
    let dir = tmp();
    let c = capture("ntlm-reset-after-challenge.pcap");
    let all = json_of(&export(&c, "json", dir.path(), &[]));
    let n = all["handshakes"].as_array().unwrap().len();
    assert!(n >= 1);
    let id = all["handshakes"][0]["id"].as_u64().unwrap();
    let one = json_of(&export(
        &c,
        "json",
        dir.path(),
        &["--handshake", &id.to_string()],
    ));
    assert!(v.is_valid(&one));
    assert_eq!(one["handshakes"].as_array().unwrap().len(), 1);
    assert_eq!(one["selection"]["handshakes"][0], id);
    assert!(one["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["handshake"] == id));
    let kept = json_of(&export(
        &c,
        "json",
        dir.path(),
        &[
            "--where",
            &format!(
                "client:{}",
                all["handshakes"][0]["client"].as_str().unwrap()
            ),
        ],
    ));
    assert!(v.is_valid(&kept));
    assert!(!kept["handshakes"].as_array().unwrap().is_empty());
    assert_eq!(kept["summary"]["handshakes"], all["summary"]["handshakes"]);
}

/// A selection that keeps nothing, or names a handshake that is not there, is an error that
/// lists what there is, and writes nothing.
#[test]
fn a_selection_of_nothing_is_an_error() {
    let dir = tmp();
    let c = capture("ntlm-success.pcap");
    for (args, says) in [
        (
            vec!["--where", "user:nobody"],
            "--where \"user:nobody\" keeps no handshake",
        ),
        (vec!["--handshake", "7"], "--handshake 7: no such handshake"),
        (
            vec!["--handshake", "0", "--handshake", "7"],
            "--handshake 7: no such handshake",
        ),
    ] {
        for format in ["json", "csv", "pcapng"] {
            let out = dir.path().join(format!("none.{format}"));
            let o = Command::new(bin())
                .args(["export", "-o"])
                .arg(&out)
                .arg(&c)
                .args(&args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?} {format}: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
            assert!(err.contains("the input has 1: #0 ntlm alice"), "{err}");
            assert!(!out.exists(), "{args:?} {format}: a file was written");
        }
    }
}

/// Handshakes in a capture, as the JSON export counts them.
fn handshake_count(c: &Path, dir: &Path) -> usize {
    json_of(&export(c, "json", dir, &[]))["handshakes"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn ndjson_is_one_parsable_line_a_handshake() {
    let dir = tmp();
    for c in captures() {
        let text = read(&export(&c, "ndjson", dir.path(), &[]));
        // A finding about connections (a server's TLS) is a line of its own, after the
        // handshakes.
        let (findings, lines): (Vec<&str>, Vec<&str>) = text
            .lines()
            .partition(|l| l.contains("\"kind\":\"finding\""));
        assert_eq!(
            lines.len(),
            handshake_count(&c, dir.path()),
            "{}",
            c.display()
        );
        if !findings.is_empty() {
            assert!(text.ends_with(&format!("{}\n", findings.join("\n"))));
        }
        for f in findings {
            let v: serde_json::Value = serde_json::from_str(f).unwrap();
            assert_eq!(v["schema"], "authscope/1");
            let code = v["code"].as_str().unwrap();
            assert!(code.starts_with("tls-") || code == "http2-downgrade", "{f}");
            assert!(
                v["subject"].is_string() && v["next_step"].is_string(),
                "{f}"
            );
        }
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["schema"], "authscope/1");
            let ts = v["@timestamp"].as_str().unwrap();
            assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
            assert!(v["finding_codes"].is_array());
            // Flat: no object nested in a line.
            assert!(v.as_object().unwrap().values().all(|x| !x.is_object()));
        }
    }
}

#[test]
fn csv_has_one_row_a_handshake() {
    let dir = tmp();
    for c in captures() {
        let p = export(&c, "csv", dir.path(), &[]);
        let mut r = csv::Reader::from_path(&p).unwrap();
        let headers = r.headers().unwrap().clone();
        for col in [
            "time",
            "client",
            "server",
            "host",
            "resource",
            "scheme",
            "user",
            "domain",
            "outcome",
            "findings",
            "duration_ms",
        ] {
            assert!(headers.iter().any(|h| h == col), "no column {col}");
        }
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(
            rows.len(),
            handshake_count(&c, dir.path()),
            "{}",
            c.display()
        );
        for row in rows {
            assert_eq!(row.len(), headers.len());
        }
    }
}

/// The ```mermaid blocks of a Markdown export.
fn mermaid_blocks(md: &str) -> Vec<String> {
    md.split("```mermaid\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn mermaid_is_a_sequence_diagram_a_handshake() {
    let dir = tmp();
    for c in captures() {
        let md = read(&export(&c, "mermaid", dir.path(), &[]));
        let blocks = mermaid_blocks(&md);
        assert_eq!(
            blocks.len(),
            handshake_count(&c, dir.path()),
            "{}",
            c.display()
        );
        for b in &blocks {
            let mut lines = b.lines();
            assert_eq!(lines.next(), Some("sequenceDiagram"));
            for l in lines {
                let l = l.trim();
                let ok = l.starts_with("participant ")
                    || l.starts_with("Note over ")
                    || (l.contains("->>") && l.contains(": "));
                assert!(ok, "unexpected statement {l:?}");
                // Text from the capture is escaped: no statement separator or comment.
                let text = l.split_once(": ").map_or("", |(_, t)| t);
                assert!(!text.contains(';') || text.contains("#59;"), "{l}");
                assert!(!text.contains("%%"), "{l}");
            }
        }
    }
}

#[test]
fn mermaid_parses_with_mermaid() {
    if !full() {
        return;
    }
    need("node");
    let checker = root().join("tests").join("mermaid");
    assert!(
        checker.join("node_modules").join("mermaid").is_dir(),
        "mermaid is not installed: npm ci --prefix tests/mermaid (see .ci/run)"
    );
    let dir = tmp();
    for c in captures() {
        let p = export(&c, "mermaid", dir.path(), &[]);
        let n = mermaid_blocks(&read(&p)).len();
        if n == 0 {
            continue;
        }
        let o = Command::new("node")
            .arg(checker.join("parse.mjs"))
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            c.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            format!("parsed {n}")
        );
    }
}

#[test]
fn pcapng_reads_back_with_the_selected_handshake() {
    // authscope reads its own slice: the same handshake, on the same number of connections.
    let dir = tmp();
    let c = capture("ntlm-reset-after-challenge.pcap");
    let all = json_of(&export(&c, "json", dir.path(), &[]));
    let h = &all["handshakes"][0];
    let id = h["id"].as_u64().unwrap().to_string();
    let slice = export(&c, "pcapng", dir.path(), &["--handshake", &id]);
    let back = json_of(&export(&slice, "json", dir.path(), &[]));
    let hs = back["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1);
    assert_eq!(
        hs[0]["legs"].as_array().unwrap().len(),
        h["legs"].as_array().unwrap().len()
    );
    assert_eq!(hs[0]["outcome"], h["outcome"]);
    assert_eq!(
        back["connections"].as_array().unwrap().len(),
        h["connections"].as_array().unwrap().len()
    );
}

/// `tshark -r FILE -T fields -e ...` lines, optionally with a display filter.
fn tshark(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(["-T", "fields"]);
    if let Some(f) = filter {
        cmd.args(["-Y", f]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn pcapng_opens_in_tshark_with_the_connections_and_comments() {
    if !full() {
        return;
    }
    need("tshark");
    let dir = tmp();
    for name in [
        "ntlm-reset-after-challenge.pcap",
        "ntlm-keepalive-broken.pcap",
        "kerberos-success.pcap",
        "proxy-ntlm-success.pcap",
    ] {
        let c = capture(name);
        let all = json_of(&export(&c, "json", dir.path(), &[]));
        let h = &all["handshakes"][0];
        let id = h["id"].as_u64().unwrap().to_string();
        let conns: Vec<String> = h["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        // The KDC and DNS messages joined to the handshake travel over UDP here.
        let frames: Vec<String> = h["kdc"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|m| format!("frame.number == {}", m["frame"]))
                    .collect()
            })
            .unwrap_or_default();
        let slice = export(&c, "pcapng", dir.path(), &["--handshake", &id]);
        // Exactly the packets of those connections (authscope numbers connections as
        // tshark's tcp.stream does) and of those messages, in order, byte counts and times
        // alike.
        let want = tshark(
            &c,
            Some(
                &conns
                    .iter()
                    .map(|c| format!("tcp.stream == {c}"))
                    .chain(frames)
                    .collect::<Vec<_>>()
                    .join(" || "),
            ),
            &["frame.time_epoch", "frame.len", "frame.cap_len"],
        );
        let got = tshark(
            &slice,
            None,
            &["frame.time_epoch", "frame.len", "frame.cap_len"],
        );
        assert!(!want.is_empty());
        assert_eq!(got, want, "{name}");
        // A comment on each leg's request and response.
        let comments = tshark(&slice, Some("frame.comment"), &["frame.comment"]).join("\n");
        for (i, leg) in h["legs"].as_array().unwrap().iter().enumerate() {
            // Legs are numbered from 1 for people.
            let i = i + 1;
            if !leg["request"].is_null() {
                let needle = format!("handshake #{id}, leg {i} request");
                assert!(
                    comments.contains(&needle),
                    "{name}: no {needle:?} in\n{comments}"
                );
            }
            if !leg["response"].is_null() {
                let needle = format!("handshake #{id}, leg {i} response");
                assert!(
                    comments.contains(&needle),
                    "{name}: no {needle:?} in\n{comments}"
                );
            }
        }
        if name.starts_with("ntlm") {
            assert!(
                comments.contains(r"NTLM Type 3 user=LAB\alice"),
                "{comments}"
            );
        }
    }
}

#[test]
fn html_is_self_contained() {
    let dir = tmp();
    for c in captures() {
        let html = read(&export(&c, "html", dir.path(), &[]));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains("default-src 'none'"));
        let n = handshake_count(&c, dir.path());
        assert_eq!(html.matches("<svg class=\"timeline\"").count(), n);
        assert_eq!(html.matches("<article ").count(), n);
        // Nothing to fetch: no source, no link out, no style import (URLs from the capture
        // appear as text only).
        // (`url(#...)` names a marker in the same SVG.)
        let stripped = html
            .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
            .replace("url(#", "");
        for bad in [
            "src=",
            "href=\"http",
            "href='http",
            "url(",
            "@import",
            "<script",
            "<link",
            "<iframe",
        ] {
            assert!(!stripped.contains(bad), "{}: {bad}", c.display());
        }
    }
}

/// Page-initiated requests in a Chromium net log: those whose isolation key is the page's
/// own (file://) origin. Chromium's own background requests are keyed otherwise.
fn page_requests(netlog: &Path) -> Vec<String> {
    let log = json_of(netlog);
    let types = log["constants"]["logEventTypes"].as_object().unwrap();
    let start = types["URL_REQUEST_START_JOB"].as_u64().unwrap();
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start))
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.contains("file://"))
        })
        .map(|e| e["params"]["url"].as_str().unwrap_or_default().to_owned())
        .filter(|u| !u.starts_with("file:") && !u.starts_with("data:"))
        .collect()
}

/// Opens a page in headless Chromium at phone size; returns the screenshot and the net log.
fn chromium(page: &Path, dir: &Path, height: u32) -> (PathBuf, PathBuf) {
    let shot = dir.join(format!(
        "{}.png",
        page.file_stem().unwrap().to_string_lossy()
    ));
    let netlog = dir.join(format!(
        "{}.netlog.json",
        page.file_stem().unwrap().to_string_lossy()
    ));
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("--window-size=390,{height}"))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (shot, netlog)
}

#[test]
fn html_renders_in_chromium_without_fetching() {
    if !full() {
        return;
    }
    need("chromium");
    let dir = tmp();
    // The detector works: a page with a remote image is caught (loopback, nothing listens).
    let probe = dir.path().join("probe.html");
    std::fs::write(
        &probe,
        "<html><body><img src=\"http://127.0.0.1:9/x.png\">probe</body></html>",
    )
    .unwrap();
    let (_, netlog) = chromium(&probe, dir.path(), 400);
    assert_eq!(page_requests(&netlog), vec!["http://127.0.0.1:9/x.png"]);

    let page = export(
        &capture("ntlm-keepalive-broken.pcap"),
        "html",
        dir.path(),
        &[],
    );
    let (shot, netlog) = chromium(&page, dir.path(), 2400);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: the width and height asked for, and enough bytes for a drawn page (a blank one
    // compresses to a few hundred bytes).
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), (390, 2400));
    assert!(png.len() > 40_000, "screenshot of {} bytes", png.len());
    assert!(
        page_requests(&netlog).is_empty(),
        "{:?}",
        page_requests(&netlog)
    );
    if let Ok(keep) = std::env::var("AUTHSCOPE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// Secrets of the lab captures, read from a revealed export, each with whether the pcapng
/// slice must hide it too: a credential's token68 is secret in the other formats, and in the
/// slice only when its token holds a secret (not an NTLM Type 1, which the slice keeps).
fn secrets_of(c: &Path, dir: &Path) -> Vec<(String, bool)> {
    // `cred`: inside a credential (a challenge's token68 is no secret).
    fn walk(v: &serde_json::Value, key: &str, cred: bool, out: &mut Vec<(String, bool)>) {
        match v {
            serde_json::Value::Object(m) => {
                // A token carrying cipher text (a Kerberos AP-REQ or AP-REP) is secret whole,
                // in a challenge too; a credential's token with any secret field, or one not
                // decoded, too.
                if let Some(t) = m.get("token68").and_then(|t| t.as_str()) {
                    let token = m.get("token").map(|t| t.to_string()).unwrap_or_default();
                    let secret = |f: &str| token.contains(&format!("\"{f}\""));
                    let held = [
                        "cipher",
                        "ticket_cipher",
                        "authenticator_cipher",
                        "nt_proof_str",
                        "response",
                        "password",
                        "signature",
                    ]
                    .iter()
                    .any(|f| secret(f))
                        || token.contains("\"encrypted_session_key\":\"")
                        || token.contains("\"mech_list_mic\":true")
                        || token.is_empty()
                        || token == "null";
                    if secret("cipher") || cred {
                        out.push((t.to_owned(), secret("cipher") || held));
                    }
                }
                for (k, x) in m {
                    walk(x, k, cred || k == "credential", out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, cred, out)),
            serde_json::Value::String(s)
                if s.len() >= 8
                    && ([
                        "password",
                        "nt_proof_str",
                        "ticket_cipher",
                        "authenticator_cipher",
                        "encrypted_session_key",
                        "cipher",
                    ]
                    .contains(&key)
                        // A Digest response hash.
                        || (cred
                            && key == "response"
                            && s.len() >= 16
                            && s.chars().all(|c| c.is_ascii_hexdigit()))) =>
            {
                out.push((s.clone(), true))
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let doc = json_of(&export(c, "json", dir, &["--reveal-secrets"]));
    walk(&doc["handshakes"], "", false, &mut out);
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_secret_in_any_format_unless_revealed() {
    let dir = tmp();
    for (name, must) in [
        ("basic-success.pcap", "Summer2024!"),
        ("ntlm-success.pcap", ""),
        ("kerberos-success.pcap", ""),
        ("digest-success.pcap", ""),
    ] {
        let c = capture(name);
        let secrets = secrets_of(&c, dir.path());
        assert!(!secrets.is_empty(), "{name}: no secret found to look for");
        if !must.is_empty() {
            assert!(
                secrets.iter().any(|(s, _)| s == must),
                "{name}: {secrets:?}"
            );
        }
        for format in ["json", "ndjson", "csv", "mermaid", "html", "pcapng"] {
            let bytes = std::fs::read(export(&c, format, dir.path(), &[])).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for (s, in_slice) in &secrets {
                if format == "pcapng" && !in_slice {
                    continue;
                }
                assert!(!text.contains(s.as_str()), "{name} {format}: {s} leaked");
            }
        }
        // Revealed, the JSON shows them.
        let revealed = read(&export(&c, "json", dir.path(), &["--reveal-secrets"]));
        assert!(secrets.iter().all(|(s, _)| revealed.contains(s.as_str())));
    }
}

#[test]
fn no_format_and_no_extension_is_exit_2() {
    let o = Command::new(bin())
        .arg("export")
        .arg(capture("basic-success.pcap"))
        .args(["-o", "/tmp/authscope-no-extension"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// The live UI names handshakes by where they start (client address, frame of the first leg),
/// since its ids can differ from those of its file read again. Any leg's frame finds the
/// handshake: a live handshake decided early (its later legs then start another) still finds
/// the one the file's reading joined them into. A start that names nothing is a note, and the
/// document records the starts (validated by the schema).
#[test]
fn a_start_selects_the_handshake_with_a_leg_in_that_frame() {
    use authscope::export::{to_path, Format, Options, Selection, Start};
    let c = capture("ntlm-keepalive-broken.pcap");
    let dir = tmp();
    let all = json_of(&export(&c, "json", dir.path(), &[]));
    let h = &all["handshakes"][0];
    let client: std::net::IpAddr = h["client"].as_str().unwrap().parse().unwrap();
    let last = h["legs"].as_array().unwrap().last().unwrap()["request"]["frame"]
        .as_u64()
        .unwrap();
    let other: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let starts = [
        Start {
            client,
            frame: last,
        },
        // The right frame from another client names nothing.
        Start {
            client: other,
            frame: last,
        },
    ];
    for (format, ext) in [(Format::Json, "json"), (Format::Csv, "csv")] {
        let out = dir.path().join(format!("by-start.{ext}"));
        let opts = Options {
            format,
            reveal_secrets: false,
            config: Default::default(),
            selection: Selection::starting_at(starts),
            merge: false,
            plan: Default::default(),
            key_logs: Vec::new(),
            server_logs: Default::default(),
        };
        let s = to_path(std::slice::from_ref(&c), &opts, &out).unwrap();
        assert_eq!(s.selected, 1, "{ext}");
        assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
        assert!(
            s.notes[0].contains(&format!("192.0.2.1 at frame {last}")),
            "{:?}",
            s.notes
        );
        if format == Format::Json {
            let doc = json_of(&out);
            assert_eq!(doc["handshakes"].as_array().unwrap().len(), 1);
            assert_eq!(doc["handshakes"][0]["id"], h["id"]);
            assert_eq!(
                doc["selection"]["starts"][0],
                serde_json::json!({"client": client.to_string(), "frame": last})
            );
            let v = validator();
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}");
        } else {
            let mut r = csv::Reader::from_path(&out).unwrap();
            assert_eq!(r.records().count(), 1);
        }
    }
    // No start, no id: everything (the UI refuses an empty live selection itself).
    assert!(Selection::starting_at([]).is_all());
}

/// `captures/ntlm-success.pcap` with the IPv4 packet of its NTLM Type 3 request cut into three
/// fragments (RFC 791 3.2; header checksum recomputed), written to `dir`; and that Type 3's
/// token.
fn fragmented_type3(dir: &Path) -> (PathBuf, String) {
    let bytes = std::fs::read(capture("ntlm-success.pcap")).unwrap();
    assert_eq!(
        &bytes[..4],
        &0xa1b2_c3d4u32.to_le_bytes(),
        "a little-endian pcap"
    );
    assert_eq!(
        u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut out = bytes[..24].to_vec();
    let mut token = None;
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let (rec, data) = (&bytes[at..at + 16], &bytes[at + 16..at + 16 + incl]);
        at += 16 + incl;
        let text = String::from_utf8_lossy(data);
        let Some(i) = text.find("Authorization: NTLM TlRMTVNTUAAD") else {
            out.extend_from_slice(rec);
            out.extend_from_slice(data);
            continue;
        };
        let value = &text[i + "Authorization: NTLM ".len()..];
        token = Some(value[..value.find("\r\n").unwrap()].to_owned());
        let ip = &data[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let payload = &ip[ihl..total];
        let mid = (payload.len() / 2) & !7;
        for (k, (from, to)) in [(0, 24), (24, mid), (mid, payload.len())]
            .into_iter()
            .enumerate()
        {
            let mut h = ip[..ihl].to_vec();
            h[2..4].copy_from_slice(&((ihl + to - from) as u16).to_be_bytes());
            let more = if to < payload.len() { 0x2000 } else { 0 };
            h[6..8].copy_from_slice(&(more | (from / 8) as u16).to_be_bytes());
            h[10..12].copy_from_slice(&[0, 0]);
            let sum: u32 = h
                .chunks(2)
                .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                .sum();
            let folded = (sum & 0xffff) + (sum >> 16);
            let folded = (folded & 0xffff) + (folded >> 16);
            h[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
            let mut frame = data[..14].to_vec();
            frame.extend_from_slice(&h);
            frame.extend_from_slice(&payload[from..to]);
            let mut r = rec.to_vec();
            let usec = u32::from_le_bytes(r[4..8].try_into().unwrap()) + k as u32;
            r[4..8].copy_from_slice(&usec.to_le_bytes());
            r[8..12].copy_from_slice(&(frame.len() as u32).to_le_bytes());
            r[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&r);
            out.extend_from_slice(&frame);
        }
    }
    let path = dir.join("ntlm-type3-fragmented.pcap");
    std::fs::write(&path, out).unwrap();
    (path, token.expect("a Type 3 in ntlm-success.pcap"))
}

/// The string values of every `key` in a JSON document.
fn values_of(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match x {
                    serde_json::Value::String(s) if k == key => out.push(s.clone()),
                    _ => values_of(x, key, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| values_of(x, key, out)),
        _ => {}
    }
}

/// A Type 3 sent in IPv4 fragments: the handshake is still found, and the pcapng slice holds
/// every fragment, with the token's secret bytes masked in each.
#[test]
fn pcapng_masks_a_token_sent_in_fragments() {
    let dir = tmp();
    let (cap, token) = fragmented_type3(dir.path());
    let o = Command::new(bin())
        .args(["report", "--format", "json"])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(o.status.success());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["summary"]["stats"]["net"]["ipv4_reassembled"], 1,
        "{}",
        r["summary"]
    );
    assert_eq!(r["handshakes"][0]["outcome"]["result"], "success");
    assert_eq!(
        r["handshakes"][0]["user"], "alice",
        "{}",
        r["handshakes"][0]
    );

    let revealed =
        std::fs::read(export(&cap, "pcapng", dir.path(), &["--reveal-secrets"])).unwrap();
    let head = b"Authorization: NTLM TlRMTVNTUAAD";
    let head_at = revealed
        .windows(head.len())
        .position(|w| w == head)
        .expect("the fragment with the start of the Authorization line is in the slice");
    let masked_slice = export(&cap, "pcapng", dir.path(), &[]);
    let masked = std::fs::read(&masked_slice).unwrap();
    assert_eq!(masked.len(), revealed.len(), "masking moves no byte");
    assert_eq!(
        &masked[head_at..head_at + head.len()],
        head,
        "the start of the token, in an earlier fragment, stays"
    );
    // Only base64 characters of the token change (the Type 1 before it holds no secret).
    let mut changed = 0;
    for (m, r) in masked.iter().zip(&revealed) {
        if m != r {
            assert!(m.is_ascii_alphanumeric() || b"+/".contains(m));
            changed += 1;
        }
    }
    assert!(
        changed > 0 && changed < token.len(),
        "{changed} bytes changed"
    );
    // authscope reads the slice back, fragments and all: the same user, the secrets zero.
    let fields = |file: &Path, key: &str| {
        let mut out = Vec::new();
        values_of(
            &json_of(&export(file, "json", dir.path(), &["--reveal-secrets"])),
            key,
            &mut out,
        );
        out
    };
    let zeros = |v: &[String]| !v.is_empty() && v.iter().all(|s| s.chars().all(|c| c == '0'));
    for key in ["nt_proof_str", "encrypted_session_key", "mic"] {
        assert!(!zeros(&fields(&cap, key)), "{key} of the capture");
        assert!(zeros(&fields(&masked_slice, key)), "{key} of the slice");
    }
    assert_eq!(fields(&masked_slice, "user"), fields(&cap, "user"));
}

/// A JSON export to a named file has its spooled arrays copied by the kernel; to standard
/// output (`-o -`) it goes through the writer: the bytes are the same.
#[test]
fn json_export_to_a_file_reads_as_the_one_to_standard_output() {
    let dir = tmp();
    for name in [
        "ntlm-keepalive-broken.pcap",
        "kerberos-unknown-spn-ntlm-fallback.pcap",
    ] {
        let c = capture(name);
        let file = read(&export(&c, "json", dir.path(), &[]));
        let o = Command::new(bin())
            .arg("export")
            .arg(&c)
            .args(["--format", "json", "-o", "-"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}");
        assert!(file.as_bytes() == o.stdout.as_slice(), "{name}");
        assert!(file.contains("\"handshakes\":[{"), "{name}");
    }
}
