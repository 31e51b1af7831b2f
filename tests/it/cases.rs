//! Every capture against tshark's reading of it (stored in tests/truth/ by
//! scripts/tshark_truth.py, so these tests need no tshark).

use std::path::{Path, PathBuf};

use authscope::report::{run, ExchangeFilter, Format, Options, Summary};

use super::util::{captures_in, full, public_corpus, root};

#[derive(Debug, Clone, serde::Deserialize)]
struct Counts {
    streams: u64,
    requests: u64,
    responses: u64,
    /// The frame tshark shows each HTTP message on.
    request_frames: Vec<u64>,
    response_frames: Vec<u64>,
}

#[derive(Debug, serde::Deserialize)]
struct Truth {
    /// tshark's reading without TLS secrets.
    #[serde(flatten)]
    plain: Counts,
    /// ...and with them, for a capture that comes with some.
    tls: Option<TlsTruth>,
}

#[derive(Debug, serde::Deserialize)]
struct TlsTruth {
    decrypted: Counts,
}

/// Each reading of a capture to compare with tshark's: (name, key log to give, tshark's
/// counts). A capture with its TLS secrets beside it (X.keylog) is read with and without
/// them; one with them inside (a pcapng Decryption Secrets Block) is always decrypted, as
/// tshark decrypts it.
fn readings(capture: &Path) -> Vec<(String, Option<PathBuf>, Counts)> {
    let name = capture.file_name().unwrap().to_string_lossy().into_owned();
    let t = truth_for(capture);
    let keylog = capture.with_extension("keylog");
    match t.tls {
        Some(tls) if keylog.exists() => vec![
            (name.clone(), None, t.plain),
            (format!("{name} --keylog"), Some(keylog), tls.decrypted),
        ],
        Some(tls) => vec![(name, None, tls.decrypted)],
        None => vec![(name, None, t.plain)],
    }
}

/// The JSON report of a capture, with a key log.
fn json_report(
    capture: &Path,
    keylog: Option<&Path>,
    exchanges: ExchangeFilter,
) -> (Summary, serde_json::Value) {
    let opts = Options {
        format: Format::Json,
        exchanges,
        key_logs: keylog.map(Path::to_path_buf).into_iter().collect(),
        ..Options::default()
    };
    let mut out = Vec::new();
    let summary = run(&[capture.to_path_buf()], &opts, &mut out)
        .unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let doc: serde_json::Value = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{}: report is not JSON: {e}", capture.display()));
    assert_eq!(doc["schema"], "authscope/1");
    (summary, doc)
}

/// Where authscope and tshark rightly differ, and why. (file, what, ours, tshark's, why)
const KNOWN_DIFFERENCES: &[(&str, &str, u64, u64, &str)] = &[
    (
        "http-basic-post-fuzzed-2006.pcap",
        "connections",
        36,
        38,
        "two bit-flipped TCP headers (data offset below 5) that etherparse rejects as \
         malformed still open a stream in tshark",
    ),
    (
        "http-basic-post-fuzzed-2006.pcap",
        "requests",
        3,
        4,
        "one POST sits in a stream whose first segment is one of the rejected headers",
    ),
    (
        "http-basic-post-fuzzed-2006.pcap",
        "responses",
        7,
        6,
        "a bit-flipped response head that httparse refuses is read leniently by authscope \
         (reported as malformed_head) and not shown by tshark",
    ),
    (
        "http-ntlm-sharepoint-in-erspan.pcap",
        "responses",
        17,
        14,
        "three responses whose bodies span segments missing from the capture: tshark's body \
         reassembly fails and drops them; authscope reports them with the gap",
    ),
    (
        "http-rst-vlan.pcap",
        "requests",
        1,
        0,
        "the request head is cut by a lost segment; tshark shows no request, authscope keeps \
         the request line read before the gap (reported as truncated_head)",
    ),
];

fn truth_for(capture: &Path) -> Truth {
    let name = capture.file_name().unwrap().to_string_lossy().into_owned();
    let path = root()
        .join("tests")
        .join("truth")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: no stored tshark reading ({e}); run scripts/tshark_truth.py",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn compare(captures: &[PathBuf]) {
    assert!(!captures.is_empty(), "no captures to compare");
    let mut failures = Vec::new();
    for c in captures {
        for (name, keylog, t) in readings(c) {
            let (s, _) = json_report(c, keylog.as_deref(), ExchangeFilter::Auth);
            let ours = [
                ("connections", s.connections, t.streams),
                ("requests", s.stats.http.requests, t.requests),
                ("responses", s.stats.http.responses, t.responses),
            ];
            for (what, got, want) in ours {
                if got == want {
                    continue;
                }
                let known = KNOWN_DIFFERENCES
                    .iter()
                    .any(|(f, w, o, th, _)| *f == name && *w == what && *o == got && *th == want);
                if !known {
                    failures.push(format!("{name}: {what}: authscope {got}, tshark {want}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "differences from tshark:\n{}",
        failures.join("\n")
    );
}

#[test]
fn lab_captures_match_tshark() {
    let caps = captures_in(&root().join("captures"));
    if caps.is_empty() && !full() {
        return;
    }
    compare(&caps);
}

#[test]
fn public_corpus_matches_tshark() {
    if !full() {
        return;
    }
    let dir = public_corpus();
    assert!(
        dir.is_dir(),
        "{} is missing (AUTHSCOPE_FULL_TESTS=1)",
        dir.display()
    );
    compare(&captures_in(&dir));
}

/// The frame of each HTTP message, and of every leg and every finding's evidence, is the
/// frame Wireshark shows the message on: the one whose segment completes it.
#[test]
fn message_frames_are_the_frames_wireshark_shows() {
    let mut failures = Vec::new();
    for c in captures_in(&root().join("captures")) {
        for (name, keylog, t) in readings(&c) {
            let (_, doc) = json_report(&c, keylog.as_deref(), ExchangeFilter::All);
            let frames_of = |half: &str| {
                let mut v: Vec<u64> = doc["exchanges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|x| x[half]["frame"].as_u64())
                    .collect();
                v.sort_unstable();
                v
            };
            let (mut want_req, mut want_resp) =
                (t.request_frames.clone(), t.response_frames.clone());
            want_req.sort_unstable();
            want_resp.sort_unstable();
            // Interim (1xx) responses are not exchanges of their own.
            let interim = t
                .responses
                .saturating_sub(frames_of("response").len() as u64);
            if frames_of("request") != want_req {
                failures.push(format!(
                    "{name}: requests on {:?}, tshark {want_req:?}",
                    frames_of("request")
                ));
            }
            let resp = frames_of("response");
            if interim == 0 && resp != want_resp
                || interim > 0 && !resp.iter().all(|f| want_resp.contains(f))
            {
                failures.push(format!(
                    "{name}: responses on {resp:?}, tshark {want_resp:?}"
                ));
            }
            for h in doc["handshakes"].as_array().unwrap() {
                for leg in h["legs"].as_array().unwrap() {
                    for (half, want) in [("request", &want_req), ("response", &want_resp)] {
                        if let Some(f) = leg[half]["frame"].as_u64() {
                            if !want.contains(&f) {
                                failures.push(format!("{name}: a leg's {half} on frame {f}"));
                            }
                        }
                    }
                }
                for f in h["findings"].as_array().unwrap() {
                    for e in f["evidence"].as_array().unwrap() {
                        let Some(i) = e["leg"].as_u64() else {
                            continue;
                        };
                        let leg = &h["legs"][i as usize];
                        let frame = e["frame"].as_u64().unwrap();
                        let halves = [
                            leg["request"]["frame"].as_u64(),
                            leg["response"]["frame"].as_u64(),
                        ];
                        let on_tcp_event = h["tcp"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|t| t["frame"].as_u64() == Some(frame));
                        if !halves.contains(&Some(frame)) && !on_tcp_event {
                            failures.push(format!(
                                "{name}: {} evidence on frame {frame}, its leg on {halves:?}",
                                f["code"]
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
