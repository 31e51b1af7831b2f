//! HTTP/2 as authscope reads it against tshark's `http2.*` fields (decrypted with the key log
//! beside each capture), frame by frame, on the lab's HTTP/2 captures (`https.sh h2`): the
//! streams whose HEADERS a frame carries and their header fields (pseudo-header fields
//! included, names and values as HPACK decoded them), each RST_STREAM (stream and error
//! code), each GOAWAY (last stream and error code), and the number of settings the SETTINGS
//! frames of a frame carry. The fixture is tests/fixtures/h2/tshark-http2.tsv
//! (scripts/refresh-h2-fixtures.sh); under `AUTHSCOPE_FULL_TESTS=1` the script is run again
//! and its output must be the fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use authscope::handshake::ConnEventKind;
use authscope::http::{H2Frame, HTTP2};
use authscope::pipeline::Output;

use super::util::{full, outputs_with_keylog, root};

const FIXTURE: &str = "tests/fixtures/h2/tshark-http2.tsv";

/// What one frame holds: HEADERS streams, header fields (name, value) sorted, RST_STREAMs
/// (stream, code), GOAWAYs (last stream, code), and settings.
#[derive(Debug, Default, PartialEq, Eq)]
struct Facts {
    headers_streams: Vec<u32>,
    fields: Vec<(String, String)>,
    resets: Vec<(u32, u32)>,
    goaways: Vec<(u32, u32)>,
    settings: usize,
}

fn split(v: &str) -> Vec<&str> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split('|').collect()
    }
}

fn num(v: &str) -> u32 {
    v.parse().unwrap_or_else(|_| panic!("not a number: {v}"))
}

/// The fixture: file -> frame -> facts.
fn fixture(text: &str) -> BTreeMap<String, BTreeMap<u64, Facts>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let mut out: BTreeMap<String, BTreeMap<u64, Facts>> = BTreeMap::new();
    for l in lines {
        let cols: BTreeMap<&str, &str> = header.iter().copied().zip(l.split('\t')).collect();
        let col = |c: &str| cols.get(c).copied().unwrap_or_default();
        let streams: Vec<u32> = split(col("http2.streamid")).into_iter().map(num).collect();
        let types: Vec<u32> = split(col("http2.type")).into_iter().map(num).collect();
        let of = |t: u32| -> Vec<u32> {
            streams
                .iter()
                .zip(&types)
                .filter(|(_, ty)| **ty == t)
                .map(|(s, _)| *s)
                .collect()
        };
        let mut f = Facts {
            headers_streams: of(1),
            ..Facts::default()
        };
        let errors = split(col("http2.rst_stream.error"));
        f.resets = of(3).into_iter().zip(errors.into_iter().map(num)).collect();
        let last = split(col("http2.goaway.last_stream_id"));
        let codes = split(col("http2.goaway.error"));
        f.goaways = last
            .into_iter()
            .map(num)
            .zip(codes.into_iter().map(num))
            .collect();
        f.settings = split(col("http2.settings.id")).len();
        let names = split(col("http2.header.name"));
        let values = split(col("http2.header.value"));
        assert_eq!(names.len(), values.len(), "{l}");
        f.fields = names
            .into_iter()
            .zip(values)
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        f.fields.sort();
        f.headers_streams.sort_unstable();
        out.entry(col("file").to_owned())
            .or_default()
            .insert(col("frame").parse().unwrap(), f);
    }
    out
}

/// What authscope reads of the same capture, by frame.
fn authscope(pcap: &Path) -> BTreeMap<u64, Facts> {
    let mut out: BTreeMap<u64, Facts> = BTreeMap::new();
    let mut events: BTreeSet<(u64, u64, String)> = BTreeSet::new();
    let mut frames: Vec<(u64, H2Frame)> = Vec::new();
    let mut take = |o: Output| match o {
        Output::Exchange(x, _) => {
            let Some(h2) = x.h2.as_deref() else {
                return;
            };
            let reqs = x
                .request
                .iter()
                .map(|r| (r.version, r.first_frame.unwrap_or(r.frame), &r.headers));
            let resps = x
                .interim
                .iter()
                .chain(&x.response)
                .map(|r| (r.version, r.first_frame.unwrap_or(r.frame), &r.headers));
            for (version, frame, headers) in reqs.chain(resps) {
                // The request of an upgrade to h2c, and its 101, are HTTP/1.1.
                if version != HTTP2 {
                    continue;
                }
                let f = out.entry(frame).or_default();
                f.headers_streams.push(h2.stream);
                f.fields.extend(
                    headers
                        .iter()
                        .map(|h| (h.name.to_string(), h.value.to_string())),
                );
            }
        }
        Output::Handshake(a) => {
            for e in &a.handshake.tcp {
                if let ConnEventKind::H2 { frame, .. } = e.kind {
                    // A connection's events are in each handshake it is part of.
                    if events.insert((e.conn, e.frame, format!("{frame:?}"))) {
                        frames.push((e.frame, frame));
                    }
                }
            }
        }
        _ => {}
    };
    outputs_with_keylog(pcap, &mut take);
    for (at, frame) in frames {
        let f = out.entry(at).or_default();
        match frame {
            H2Frame::Settings { values } => f.settings += usize::from(values),
            H2Frame::GoAway { last_stream, code } => f.goaways.push((last_stream, code)),
            H2Frame::RstStream { stream, code } => f.resets.push((stream, code)),
        }
    }
    for f in out.values_mut() {
        f.fields.sort();
        f.headers_streams.sort_unstable();
    }
    out
}

#[test]
fn http2_frames_and_headers_are_tsharks() {
    let text = std::fs::read_to_string(root().join(FIXTURE)).unwrap();
    if full() {
        let fresh = std::env::temp_dir().join(format!("authscope-h2-{}.tsv", std::process::id()));
        let ok = std::process::Command::new(root().join("scripts/refresh-h2-fixtures.sh"))
            .arg(&fresh)
            .status()
            .expect("scripts/refresh-h2-fixtures.sh (tshark) must run");
        assert!(ok.success(), "scripts/refresh-h2-fixtures.sh failed");
        let again = std::fs::read_to_string(&fresh).unwrap();
        let _ = std::fs::remove_file(&fresh);
        assert_eq!(
            again, text,
            "{FIXTURE} is not what tshark reads now: refresh it"
        );
    }
    let want = fixture(&text);
    assert!(want.len() >= 4, "{want:?}");
    let mut bad = Vec::new();
    for (name, frames) in &want {
        let pcap: PathBuf = root().join("captures").join(name);
        let got = authscope(&pcap);
        let at: BTreeSet<u64> = frames.keys().chain(got.keys()).copied().collect();
        let none = Facts::default();
        for frame in at {
            let (w, g) = (
                frames.get(&frame).unwrap_or(&none),
                got.get(&frame).unwrap_or(&none),
            );
            if w != g {
                bad.push(format!(
                    "{name} frame {frame}:\n  tshark    {w:?}\n  authscope {g:?}"
                ));
            }
        }
        // Something of each kind is compared.
        let refusals = |f: &Facts| {
            let resets = f.resets.iter().filter(|(_, code)| *code == 0xd).count();
            resets + f.goaways.iter().filter(|(_, code)| *code == 0xd).count()
        };
        let refused: usize = frames.values().map(refusals).sum();
        let fields: usize = frames.values().map(|f| f.fields.len()).sum();
        assert!(fields > 0, "{name}: no header fields compared");
        if name.contains("ntlm") {
            assert_eq!(
                refused, 1,
                "{name}: the RST_STREAM or GOAWAY HTTP_1_1_REQUIRED"
            );
        }
    }
    assert!(
        bad.is_empty(),
        "differences from tshark:\n{}",
        bad.join("\n")
    );
}
