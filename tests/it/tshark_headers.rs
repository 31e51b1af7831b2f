//! The HTTP authentication headers authscope reads, frame by frame, against tshark's: on every
//! capture of tests/fixtures/auth/tshark-http-auth.tsv (scripts/refresh-auth-fixtures.sh), in
//! clear and over HTTPS (decrypted with the key log beside X.pcap, X.keylog, or with the
//! pcapng's own Decryption Secrets Block), every `WWW-Authenticate`, `Authorization`,
//! `Proxy-Authenticate` and `Proxy-Authorization` value authscope shows on a frame must be
//! tshark's on that frame, and the other way round; so must the method, URI and status of
//! those frames. Where the two rightly differ, [`KNOWN`] says so and why; a difference not
//! listed there fails, and so does a listed one that is gone.
//!
//! The lab's captures (captures/) are read on every run; those of the public corpus
//! (../shared/captures/public/, read in place) under `AUTHSCOPE_FULL_TESTS=1`, where a
//! missing one fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use authscope::pipeline::Output;

use super::util::{full, outputs_with_keylog, public_corpus, root};

/// tshark's fields compared, as the fixture names its columns, and the header each is.
const HEADERS: [(&str, &str); 4] = [
    ("http.www_authenticate", "www-authenticate"),
    ("http.authorization", "authorization"),
    ("http.proxy_authenticate", "proxy-authenticate"),
    ("http.proxy_authorization", "proxy-authorization"),
];
/// The message's first line, for the frames of the fixture.
const LINE: [&str; 3] = [
    "http.request.method",
    "http.request.uri",
    "http.response.code",
];

/// Differences that are right, each with why: (file, frame, field, why).
const KNOWN: &[(&str, u64, &str, &str)] = &[
    // A 401 without Content-Length, its body read to the close: tshark dissects it on the
    // FIN (frame 12, no payload), where it knows the body ended; authscope names the frame
    // whose segment completes the message's bytes (10), as for every other message.
    (
        "http-basic-401-challenge-only.pcap",
        10,
        "http.response.code",
        BODY_TO_CLOSE,
    ),
    (
        "http-basic-401-challenge-only.pcap",
        10,
        "http.www_authenticate",
        BODY_TO_CLOSE,
    ),
    (
        "http-basic-401-challenge-only.pcap",
        12,
        "http.response.code",
        BODY_TO_CLOSE,
    ),
    (
        "http-basic-401-challenge-only.pcap",
        12,
        "http.www_authenticate",
        BODY_TO_CLOSE,
    ),
];
const BODY_TO_CLOSE: &str = "a body read to the close: tshark shows the message on the FIN";

/// Values of a frame, by field; several messages (or headers) in one frame joined by `|` as
/// the fixture's tshark run joins them (`-E occurrence=a -E aggregator='|'`).
type Fields = BTreeMap<String, String>;

/// The fixture: file -> frame -> fields.
fn fixture() -> BTreeMap<String, BTreeMap<u64, Fields>> {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/auth/tshark-http-auth.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let mut out: BTreeMap<String, BTreeMap<u64, Fields>> = BTreeMap::new();
    for l in lines {
        let cols: BTreeMap<&str, &str> = header.iter().copied().zip(l.split('\t')).collect();
        let frame: u64 = cols["frame"].parse().unwrap();
        let fields: Fields = HEADERS
            .iter()
            .map(|(f, _)| *f)
            .chain(LINE)
            .filter_map(|f| {
                let v = cols.get(f).copied().unwrap_or_default();
                (!v.is_empty()).then(|| (f.to_owned(), v.to_owned()))
            })
            .collect();
        out.entry(cols["file"].to_owned())
            .or_default()
            .insert(frame, fields);
    }
    out
}

/// Where a capture of the fixture is: the lab's, or the public corpus's.
fn locate(name: &str) -> Option<PathBuf> {
    let lab = root().join("captures").join(name);
    if lab.exists() {
        return Some(lab);
    }
    let public = public_corpus().join(name);
    if full() {
        assert!(
            public.exists(),
            "{name}: not in captures/ nor in {}",
            public_corpus().display()
        );
        return Some(public);
    }
    None
}

/// What authscope reads on each frame with an authentication header: the fields of
/// [`HEADERS`] and [`LINE`], for the frames that have one of [`HEADERS`].
fn authscope(pcap: &std::path::Path) -> BTreeMap<u64, Fields> {
    let mut messages: Vec<(u64, Vec<(String, String)>)> = Vec::new();
    let mut take = |o: Output| {
        let Output::Exchange(x, _) = o else {
            return;
        };
        // HTTP/2 is tshark's http2.* fields, not http.*: tests/it/tshark_h2.rs.
        if x.h2.is_some() {
            return;
        }
        if let Some(r) = &x.request {
            let mut v = vec![
                ("http.request.method".to_owned(), r.method.to_string()),
                ("http.request.uri".to_owned(), r.uri.clone()),
            ];
            v.extend(
                r.headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.to_string())),
            );
            messages.push((r.frame, v));
        }
        for r in x.interim.iter().chain(&x.response) {
            let mut v = vec![("http.response.code".to_owned(), r.status.to_string())];
            v.extend(
                r.headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.to_string())),
            );
            messages.push((r.frame, v));
        }
    };
    outputs_with_keylog(pcap, &mut take);
    // Several messages of a frame in the order of the stream (their frames are equal: the
    // exchanges' order, requests before responses of a pipelined connection).
    let mut by_frame: BTreeMap<u64, Vec<Vec<(String, String)>>> = BTreeMap::new();
    for (frame, v) in messages {
        by_frame.entry(frame).or_default().push(v);
    }
    let mut out = BTreeMap::new();
    for (frame, msgs) in by_frame {
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in &msgs {
            for (name, value) in m {
                let field = HEADERS
                    .iter()
                    .find(|(_, h)| name.eq_ignore_ascii_case(h))
                    .map(|(f, _)| (*f).to_owned())
                    .or_else(|| LINE.contains(&name.as_str()).then(|| name.clone()));
                if let Some(f) = field {
                    fields.entry(f).or_default().push(value.clone());
                }
            }
        }
        if HEADERS.iter().any(|(f, _)| fields.contains_key(*f)) {
            out.insert(
                frame,
                fields.into_iter().map(|(k, v)| (k, v.join("|"))).collect(),
            );
        }
    }
    out
}

#[test]
fn every_auth_header_is_tsharks_on_its_frame() {
    // Each difference, and what it is.
    let mut found: BTreeMap<(String, u64, String), String> = BTreeMap::new();
    let mut files = 0;
    for (name, want) in fixture() {
        let Some(pcap) = locate(&name) else {
            continue;
        };
        files += 1;
        let got = authscope(&pcap);
        let frames: BTreeSet<u64> = want.keys().chain(got.keys()).copied().collect();
        for frame in frames {
            let none = Fields::new();
            let (w, g) = (
                want.get(&frame).unwrap_or(&none),
                got.get(&frame).unwrap_or(&none),
            );
            let fields: BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            for f in fields {
                let (tv, av) = (w.get(f), g.get(f));
                if tv != av {
                    found.insert(
                        (name.clone(), frame, f.clone()),
                        format!("{name} frame {frame} {f}: tshark {tv:?}, authscope {av:?}"),
                    );
                }
            }
        }
    }
    assert!(files >= 30, "only {files} captures of the fixture read");
    let known: BTreeSet<(String, u64, String)> = KNOWN
        .iter()
        .filter(|(file, ..)| full() || root().join("captures").join(file).exists())
        .map(|(file, frame, field, _)| ((*file).to_owned(), *frame, (*field).to_owned()))
        .collect();
    let new: Vec<&String> = found
        .iter()
        .filter(|(k, _)| !known.contains(*k))
        .map(|(_, r)| r)
        .collect();
    let gone: Vec<_> = known.iter().filter(|k| !found.contains_key(*k)).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "differences from tshark not listed in KNOWN:\n{}\nlisted in KNOWN and no longer found: {gone:?}",
        new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}
