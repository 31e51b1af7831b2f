//! Keys that come after their connection (a key log followed during a live capture): every
//! lab HTTPS capture, its key log given after each of its frames in turn while its TLS
//! connection is still open, must be reported as when the keys were there from the start.

use std::path::{Path, PathBuf};

use authscope::capture::MergedSource;
use authscope::pipeline::{Analyzer, Config, Output};

use super::util::{captures_in, root};

/// The lab HTTPS captures with a key log beside them.
fn https_captures() -> Vec<(PathBuf, Vec<u8>)> {
    let v: Vec<_> = captures_in(&root().join("captures"))
        .into_iter()
        .filter_map(|c| {
            let keys = std::fs::read(c.with_extension("keylog")).ok()?;
            Some((c, keys))
        })
        .collect();
    assert!(v.len() >= 10, "the lab's HTTPS captures and key logs");
    v
}

/// What a reading reports: every handshake as JSON.
fn handshakes(out: &[Output]) -> Vec<serde_json::Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Handshake(a) => Some(serde_json::to_value(a).unwrap()),
            _ => None,
        })
        .collect()
}

/// Reads `pcap`; the key log text comes before the first frame (`at` 0), after frame `at`,
/// or never; keys coming late are waited for.
fn read(pcap: &Path, keys: &[u8], at: Option<usize>) -> (Vec<Output>, bool) {
    let mut src = MergedSource::open(&[pcap.to_path_buf()]).unwrap();
    let mut a = Analyzer::new(Config::default());
    let mut out = Vec::new();
    a.wait_for_keys();
    if at == Some(0) {
        a.add_key_text(keys);
    }
    let mut n = 0usize;
    // Whether a TLS connection had ended before the keys came: they cannot help it then.
    let mut ended_before = false;
    while let Some(f) = src.next_frame() {
        a.push(&f, &mut |o| out.push(o));
        n += 1;
        if at == Some(n) {
            ended_before = out
                .iter()
                .any(|o| matches!(o, Output::Connection(c) if c.tls.is_some()));
            a.add_late_key_text(keys, &mut |o| out.push(o));
        }
    }
    a.finish(&mut |o| out.push(o));
    (out, ended_before)
}

/// Whether a reading has more than one TLS connection: those whose keys come late are read
/// in the order their keys come, so their handshakes may be numbered otherwise than with
/// every key there from the start (what they find is compared by the lab tests).
fn several_tls_connections(out: &[Output]) -> bool {
    out.iter()
        .filter(|o| matches!(o, Output::Connection(c) if c.tls.is_some()))
        .count()
        > 1
}

#[test]
fn keys_that_come_while_the_connection_is_open_decrypt_it_from_its_start() {
    for (pcap, keys) in https_captures() {
        let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
        let (first, _) = read(&pcap, &keys, Some(0));
        let want = handshakes(&first);
        assert!(
            !want.is_empty(),
            "{name}: handshakes with the keys from the start"
        );
        if several_tls_connections(&first) {
            continue;
        }
        let (none, _) = read(&pcap, &keys, None);
        assert_ne!(handshakes(&none), want, "{name}: the same without keys");
        let mut src = MergedSource::open(std::slice::from_ref(&pcap)).unwrap();
        let mut frames = 0usize;
        while src.next_frame().is_some() {
            frames += 1;
        }
        let mut tried = 0;
        for at in 1..frames {
            let (out, ended_before) = read(&pcap, &keys, Some(at));
            if ended_before {
                break;
            }
            assert_eq!(
                handshakes(&out),
                want,
                "{name}: the keys given after frame {at}"
            );
            tried += 1;
        }
        assert!(
            tried >= 3,
            "{name}: keys given late after {tried} frames only"
        );
    }
}

/// A TLS 1.3 client writes its handshake secrets when the ServerHello comes and its traffic
/// secrets once its handshake is done: the capture may read the handshake, decrypted, before
/// the traffic secrets are in the key log. Given after each frame in turn, while the
/// connection is open, they must still decrypt it.
#[test]
fn traffic_secrets_that_come_after_the_handshake_secrets_still_decrypt() {
    let mut tried = 0;
    for (pcap, keys) in https_captures() {
        let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
        let text = String::from_utf8(keys.clone()).unwrap();
        let (handshake, traffic): (Vec<&str>, Vec<&str>) = text
            .lines()
            .partition(|l| l.contains("HANDSHAKE_TRAFFIC_SECRET"));
        if handshake.is_empty() {
            continue; // TLS 1.2: one line a connection
        }
        let handshake = format!("{}\n", handshake.join("\n"));
        let traffic = format!("{}\n", traffic.join("\n"));
        let (first, _) = read(&pcap, &keys, Some(0));
        if several_tls_connections(&first) {
            continue;
        }
        let want = handshakes(&first);
        let mut src = MergedSource::open(std::slice::from_ref(&pcap)).unwrap();
        let mut frames = 0usize;
        while src.next_frame().is_some() {
            frames += 1;
        }
        for at in 1..frames {
            let mut src = MergedSource::open(std::slice::from_ref(&pcap)).unwrap();
            let mut a = Analyzer::new(Config::default());
            let mut out = Vec::new();
            a.wait_for_keys();
            a.add_key_text(handshake.as_bytes());
            let mut n = 0usize;
            let mut ended_before = false;
            while let Some(f) = src.next_frame() {
                a.push(&f, &mut |o| out.push(o));
                n += 1;
                if n == at {
                    ended_before = out
                        .iter()
                        .any(|o| matches!(o, Output::Connection(c) if c.tls.is_some()));
                    a.add_late_key_text(traffic.as_bytes(), &mut |o| out.push(o));
                }
            }
            a.finish(&mut |o| out.push(o));
            if ended_before {
                break;
            }
            assert_eq!(
                handshakes(&out),
                want,
                "{name}: the traffic secrets given after frame {at}"
            );
            tried += 1;
        }
    }
    assert!(tried >= 20, "split key logs tried: {tried}");
}

#[test]
fn keys_that_never_come_leave_the_connection_as_without_waiting() {
    for (pcap, keys) in https_captures().into_iter().take(3) {
        let (waited, _) = read(&pcap, &keys, None);
        let mut src = MergedSource::open(std::slice::from_ref(&pcap)).unwrap();
        let mut a = Analyzer::new(Config::default());
        let mut out = Vec::new();
        while let Some(f) = src.next_frame() {
            a.push(&f, &mut |o| out.push(o));
        }
        a.finish(&mut |o| out.push(o));
        assert_eq!(handshakes(&waited), handshakes(&out), "{}", pcap.display());
    }
}
