//! The TLS stage over real captures: the two public ones of "The Illustrated TLS 1.2/1.3
//! Connection" (read in place in the shared folder) and the fixtures that
//! scripts/make-tls-fixtures.sh made with OpenSSL. Each is read with the project's readers
//! (capture, net, tcp), the stream events driven into a `TlsConn` per connection, and the
//! plaintext compared with what the client and server sent; under `AUTHSCOPE_FULL_TESTS=1`
//! also with tshark's (`-qz follow,tls,raw`), byte for byte.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use authscope::capture::{FileSource, Timestamp};
use authscope::net::NetDecoder;
use authscope::tcp::{ConnId, Dir, StreamEvent, TcpConfig, TcpTable};
use authscope::tls::{Decryption, KeyLog, TlsConfig, TlsConn, TlsEvent, TlsInfo};

use super::util::{full, public_corpus, root};

/// One connection as the TLS stage read it.
struct Read {
    client: SocketAddr,
    info: TlsInfo,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    alerts: Vec<(Dir, u8, u8)>,
}

/// The stream events of a capture, in order: (connection, direction, bytes), gaps as `None`.
type Events = Vec<(ConnId, Dir, Option<Vec<u8>>)>;

fn stream_events(pcap: &Path) -> (BTreeMap<ConnId, SocketAddr>, Events) {
    let mut source = FileSource::open(pcap).unwrap();
    let mut net = NetDecoder::new();
    let mut tcp = TcpTable::new(TcpConfig::default());
    let mut clients = BTreeMap::new();
    let mut events = Vec::new();
    let mut last = Timestamp(0);
    let mut sink = |ev: StreamEvent<'_>| match ev {
        StreamEvent::Open { conn, client, .. } => {
            clients.insert(conn, client);
        }
        StreamEvent::Data {
            conn, dir, bytes, ..
        } => events.push((conn, dir, Some(bytes.to_vec()))),
        StreamEvent::Gap { conn, dir, .. } => events.push((conn, dir, None)),
        _ => {}
    };
    while let Some(frame) = source.next_frame() {
        last = frame.ts;
        if let Some(seg) = net.decode(&frame) {
            tcp.push(&seg, &mut sink);
        }
    }
    tcp.finish(last, &mut sink);
    (clients, events)
}

/// Drives the events into one `TlsConn` per connection, each direction's bytes cut into
/// pieces by `cut` (the index of the event, its length: the lengths of its pieces).
fn read_with(
    clients: &BTreeMap<ConnId, SocketAddr>,
    events: &Events,
    keys: &KeyLog,
    cut: &mut dyn FnMut(usize, usize) -> Vec<usize>,
) -> Vec<Read> {
    let mut conns: BTreeMap<ConnId, (TlsConn, Read)> = BTreeMap::new();
    for (i, (conn, dir, bytes)) in events.iter().enumerate() {
        let (tls, read) = conns.entry(*conn).or_insert_with(|| {
            let read = Read {
                client: clients[conn],
                info: TlsInfo::default(),
                to_server: Vec::new(),
                to_client: Vec::new(),
                alerts: Vec::new(),
            };
            (TlsConn::new(TlsConfig::default()), read)
        });
        let mut sink = |e: TlsEvent<'_>| match e {
            TlsEvent::Plaintext { dir, bytes, .. } => match dir {
                Dir::ToServer => read.to_server.extend_from_slice(bytes),
                Dir::ToClient => read.to_client.extend_from_slice(bytes),
            },
            TlsEvent::Alert {
                dir,
                level,
                description,
                ..
            } => read.alerts.push((dir, level, description)),
            _ => {}
        };
        match bytes {
            Some(bytes) => {
                let mut at = 0;
                for len in cut(i, bytes.len()) {
                    let piece = &bytes[at..at + len];
                    at += len;
                    tls.data(*dir, i as u64 + 1, Timestamp(0), piece, keys, &mut sink);
                }
                assert_eq!(at, bytes.len());
            }
            None => tls.gap(*dir, 1, &mut sink),
        }
    }
    conns
        .into_values()
        .map(|(tls, mut read)| {
            read.info = tls.into_info();
            read
        })
        .collect()
}

fn read(pcap: &Path, keylog: &Path) -> Vec<Read> {
    let keys = KeyLog::load(keylog).unwrap();
    let (clients, events) = stream_events(pcap);
    read_with(&clients, &events, &keys, &mut |_, len| vec![len])
}

/// What tshark decrypts of each TCP stream: (client address, to server, to client).
fn tshark_follow(pcap: &Path, keylog: &Path, streams: usize) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    (0..streams)
        .map(|n| {
            let out = std::process::Command::new("tshark")
                .arg("-r")
                .arg(pcap)
                .arg("-o")
                .arg(format!("tls.keylog_file:{}", keylog.display()))
                .arg("-qz")
                .arg(format!("follow,tls,raw,{n}"))
                .output()
                .expect("tshark is needed by the full tests");
            assert!(out.status.success(), "tshark failed on {}", pcap.display());
            let text = String::from_utf8(out.stdout).unwrap();
            let mut node0 = String::new();
            let mut node1 = String::new();
            let (mut from0, mut from1) = (Vec::new(), Vec::new());
            for line in text.lines() {
                if let Some(a) = line.strip_prefix("Node 0: ") {
                    node0 = a.to_owned();
                } else if let Some(a) = line.strip_prefix("Node 1: ") {
                    node1 = a.to_owned();
                } else if let Some(h) = line.strip_prefix('\t') {
                    from1.extend(unhex(h));
                } else if !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit()) {
                    from0.extend(unhex(line));
                }
            }
            // Node 0 is the first to send data; with none, the lines say nothing.
            let _ = node1;
            (node0, from0, from1)
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Compares what was decrypted with tshark's, connection by connection.
fn agrees_with_tshark(pcap: &Path, keylog: &Path, reads: &[Read]) {
    for (read, (node0, from0, from1)) in reads.iter().zip(tshark_follow(pcap, keylog, reads.len()))
    {
        let (to_server, to_client) =
            if node0 == read.client.to_string() || from0.is_empty() && from1.is_empty() {
                (from0, from1)
            } else {
                (from1, from0)
            };
        assert_eq!(
            read.to_server,
            to_server,
            "{}: client's plaintext differs from tshark's",
            pcap.display()
        );
        assert_eq!(
            read.to_client,
            to_client,
            "{}: server's plaintext differs from tshark's",
            pcap.display()
        );
    }
}

fn illustrated(version: &str) -> (PathBuf, PathBuf) {
    let dir = public_corpus().join("tls");
    (
        dir.join(format!("illustrated-tls{version}.pcap")),
        dir.join(format!("illustrated-tls{version}.keylog")),
    )
}

#[test]
fn illustrated_tls12_decrypts_to_ping_pong() {
    let (pcap, keylog) = illustrated("12");
    if !pcap.exists() {
        assert!(!full(), "missing {}", pcap.display());
        return;
    }
    let reads = read(&pcap, &keylog);
    assert_eq!(reads.len(), 1);
    let r = &reads[0];
    assert_eq!(r.info.decryption, Decryption::Decrypted, "{:#?}", r.info);
    assert_eq!(
        (r.to_server.as_slice(), r.to_client.as_slice()),
        (&b"ping"[..], &b"pong"[..])
    );
    assert_eq!(r.info.version.as_deref(), Some("TLS 1.2"));
    assert_eq!(
        r.info.cipher_suite.as_deref(),
        Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
    );
    assert_eq!(r.info.cipher_suite_id, Some(0xc013));
    assert_eq!(
        r.info.client_random.as_deref(),
        Some("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    );
    let cert = r.info.certificate.as_ref().unwrap();
    assert!(cert.subject.contains("example.ulfheim.net"), "{cert:#?}");
    if full() {
        agrees_with_tshark(&pcap, &keylog, &reads);
    }
}

#[test]
fn illustrated_tls13_decrypts_to_ping_pong() {
    let (pcap, keylog) = illustrated("13");
    if !pcap.exists() {
        assert!(!full(), "missing {}", pcap.display());
        return;
    }
    let reads = read(&pcap, &keylog);
    assert_eq!(reads.len(), 1);
    let r = &reads[0];
    assert_eq!(r.info.decryption, Decryption::Decrypted, "{:#?}", r.info);
    assert_eq!(
        (r.to_server.as_slice(), r.to_client.as_slice()),
        (&b"ping"[..], &b"pong"[..])
    );
    assert_eq!(r.info.version.as_deref(), Some("TLS 1.3"));
    assert_eq!(
        r.info.cipher_suite.as_deref(),
        Some("TLS_AES_256_GCM_SHA384")
    );
    assert_eq!(r.info.session_tickets, 2);
    // The certificate is in the encrypted handshake.
    let cert = r.info.certificate.as_ref().unwrap();
    assert!(cert.subject.contains("example.ulfheim.net"), "{cert:#?}");
    assert_eq!(r.info.sni.as_deref(), Some("example.ulfheim.net"));
    if full() {
        agrees_with_tshark(&pcap, &keylog, &reads);
    }
}

fn fixtures() -> Vec<(String, PathBuf, PathBuf)> {
    let dir = root().join("tests").join("fixtures").join("tls");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "pcap").then(|| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                let keylog = p.with_extension("keylog");
                (name, p, keylog)
            })
        })
        .collect();
    v.sort();
    assert!(v.len() >= 16, "fixtures missing in {}", dir.display());
    v
}

/// The request every fixture's client sends (scripts/make-tls-fixtures.sh).
const REQUEST: &[u8] =
    b"GET /fixture HTTP/1.1\r\nHost: tls-fixture.test\r\nUser-Agent: authscope-fixture\r\n\r\n";

/// What `openssl s_server -rev` answers: each line reversed, without its CR.
fn reversed_lines(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend(line.iter().rev());
        out.push(b'\n');
    }
    out
}

#[test]
fn fixtures_decrypt_to_what_was_sent() {
    for (name, pcap, keylog) in fixtures() {
        let reads = read(&pcap, &keylog);
        let (version, suite) = match name.as_str() {
            "tls10-ecdhe-rsa-aes256-sha" => ("TLS 1.0", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
            "tls11-ecdhe-rsa-aes128-sha" => ("TLS 1.1", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            "tls12-ecdhe-rsa-aes128-gcm-sha256" | "tls12-resumed" | "tls12-untrusted" => {
                ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
            }
            "tls12-rsa-aes256-gcm-sha384" => ("TLS 1.2", "TLS_RSA_WITH_AES_256_GCM_SHA384"),
            "tls12-ecdhe-rsa-chacha20-poly1305" => {
                ("TLS 1.2", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
            }
            "tls12-ecdhe-rsa-aes128-sha-etm" | "tls12-ecdhe-rsa-aes128-sha-mte" => {
                ("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
            }
            "tls12-rsa-aes256-sha256" => ("TLS 1.2", "TLS_RSA_WITH_AES_256_CBC_SHA256"),
            "tls13-aes128-gcm-sha256" => ("TLS 1.3", "TLS_AES_128_GCM_SHA256"),
            "tls13-chacha20-poly1305-sha256" => ("TLS 1.3", "TLS_CHACHA20_POLY1305_SHA256"),
            "tls13-aes256-gcm-sha384"
            | "tls13-key-update"
            | "tls13-hello-retry"
            | "tls13-untrusted" => ("TLS 1.3", "TLS_AES_256_GCM_SHA384"),
            other => panic!("a fixture this test does not know: {other}"),
        };
        let expect_conns = if name == "tls12-resumed" { 2 } else { 1 };
        assert_eq!(reads.len(), expect_conns, "{name}");
        for (i, r) in reads.iter().enumerate() {
            let info = &r.info;
            assert_eq!(info.version.as_deref(), Some(version), "{name}");
            assert_eq!(info.cipher_suite.as_deref(), Some(suite), "{name}");
            assert_eq!(info.sni.as_deref(), Some("tls-fixture.test"), "{name}");
            assert_eq!(info.alpn_offered, ["http/1.1"], "{name}");
            assert!(info.malformed.is_none(), "{name}: {info:#?}");
            assert_eq!(info.lost.to_server, None, "{name}");
            if name.ends_with("untrusted") {
                // The client refused the certificate: a fatal unknown_ca (48) in clear (TLS
                // 1.2: before its ChangeCipherSpec; OpenSSL's TLS 1.3 client: before it
                // switched to its handshake keys), and no application data.
                assert_eq!(r.alerts, [(Dir::ToServer, 2, 48)], "{name}");
                assert_eq!(info.alerts[0].description, "unknown_ca");
                assert_eq!(info.alerts[0].level, "fatal");
                assert!(r.to_server.is_empty() && r.to_client.is_empty(), "{name}");
                continue;
            }
            assert_eq!(info.decryption, Decryption::Decrypted, "{name}: {info:#?}");
            assert_eq!(info.alpn.as_deref(), Some("http/1.1"), "{name}");
            let mut sent = REQUEST.to_vec();
            if name == "tls13-key-update" {
                sent.extend_from_slice(b"after the key update\n");
                assert_eq!(
                    (info.key_updates.to_server, info.key_updates.to_client),
                    (1, 1)
                );
            }
            assert_eq!(
                String::from_utf8_lossy(&r.to_server),
                String::from_utf8_lossy(&sent),
                "{name}"
            );
            assert_eq!(r.to_client, reversed_lines(&sent), "{name}");
            assert_eq!(
                info.resumed,
                name == "tls12-resumed" && i == 1,
                "{name} #{i}"
            );
            assert_eq!(info.hello_retry, name == "tls13-hello-retry", "{name}");
            if version == "TLS 1.2" {
                // OpenSSL offers and accepts both; encrypt-then-MAC only with a CBC suite.
                assert!(info.extended_master_secret, "{name}");
                assert_eq!(info.encrypt_then_mac, name.ends_with("-etm"), "{name}");
            }
            if !info.resumed {
                let cert = info
                    .certificate
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: no certificate"));
                assert_eq!(cert.subject, "CN=tls-fixture.test", "{name}");
                assert_eq!(cert.issuer, "CN=tls-fixture.test", "{name}");
                assert_eq!(cert.san_dns, ["tls-fixture.test"], "{name}");
                assert_eq!(cert.san_ip, ["127.0.0.1"], "{name}");
                assert_eq!(
                    cert.signature_algorithm, "sha256WithRSAEncryption",
                    "{name}"
                );
                assert_eq!(cert.signature_hash.as_deref(), Some("SHA-256"), "{name}");
                assert_eq!(cert.end_point_hash_algorithm, "SHA-256", "{name}");
                assert_eq!(
                    authscope::tls::hex(&cert.end_point_hash),
                    cert.sha256,
                    "{name}"
                );
                assert_eq!(cert.chain_length, 1, "{name}");
                assert!(
                    cert.not_before < cert.not_after && cert.not_after.ends_with('Z'),
                    "{cert:#?}"
                );
            }
        }
        if full() {
            agrees_with_tshark(&pcap, &keylog, &reads);
        }
    }
}

/// A tiny deterministic generator for the splits.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn any_segmentation_gives_the_same_plaintext_and_facts() {
    for (name, pcap, keylog) in fixtures().into_iter().chain(
        [illustrated("12"), illustrated("13")]
            .into_iter()
            .filter(|(p, _)| p.exists())
            .map(|(p, k)| (p.display().to_string(), p, k)),
    ) {
        let keys = KeyLog::load(&keylog).unwrap();
        let (clients, events) = stream_events(&pcap);
        let whole = read_with(&clients, &events, &keys, &mut |_, len| vec![len]);
        for seed in 1..=40u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut cut = |_: usize, len: usize| {
                let mut pieces = Vec::new();
                let mut left = len;
                while left > 0 {
                    // Mostly small pieces (headers split), now and then large ones.
                    let max = if rng.next() % 4 == 0 { 2000 } else { 7 };
                    let n = (1 + (rng.next() % max) as usize).min(left);
                    pieces.push(n);
                    left -= n;
                }
                pieces
            };
            let split = read_with(&clients, &events, &keys, &mut cut);
            for (a, b) in whole.iter().zip(&split) {
                assert_eq!(a.to_server, b.to_server, "{name} seed {seed}");
                assert_eq!(a.to_client, b.to_client, "{name} seed {seed}");
                assert_eq!(a.alerts, b.alerts, "{name} seed {seed}");
                assert_eq!(a.info, b.info, "{name} seed {seed}");
            }
        }
    }
}

#[test]
fn without_keys_the_facts_are_read_and_nothing_decrypted() {
    for (name, pcap, _) in fixtures() {
        let (clients, events) = stream_events(&pcap);
        let reads = read_with(&clients, &events, &KeyLog::default(), &mut |_, len| {
            vec![len]
        });
        for r in reads {
            assert!(r.to_server.is_empty() && r.to_client.is_empty(), "{name}");
            assert!(r.info.cipher_suite.is_some(), "{name}");
            if !name.ends_with("untrusted") {
                assert_eq!(r.info.decryption, Decryption::NoKeys, "{name}");
            }
            if name.starts_with("tls12") && !r.info.resumed {
                assert!(
                    r.info.certificate.is_some(),
                    "{name}: the TLS 1.2 certificate is in clear"
                );
            }
            if name.starts_with("tls13") {
                assert!(
                    r.info.certificate.is_none(),
                    "{name}: the TLS 1.3 certificate is encrypted"
                );
            }
        }
    }
}

#[test]
fn another_connections_key_log_is_no_key_for_this_client_random() {
    let dir = root().join("tests").join("fixtures").join("tls");
    let keys = KeyLog::load(&dir.join("tls13-aes128-gcm-sha256.keylog")).unwrap();
    let reads = read(
        &dir.join("tls12-ecdhe-rsa-aes128-gcm-sha256.pcap"),
        &dir.join("tls13-aes128-gcm-sha256.keylog"),
    );
    assert!(!keys.is_empty());
    assert_eq!(reads[0].info.decryption, Decryption::NoKeyForClientRandom);
    // The right client random with a wrong master secret: the first record fails to open.
    let text =
        std::fs::read_to_string(dir.join("tls12-ecdhe-rsa-aes128-gcm-sha256.keylog")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("CLIENT_RANDOM"))
        .unwrap();
    let wrong = format!(
        "{}{}",
        &line[..line.len() - 2],
        if line.ends_with("00") { "01" } else { "00" }
    );
    let mut keys = KeyLog::default();
    keys.add_text(wrong.as_bytes());
    let (clients, events) = stream_events(&dir.join("tls12-ecdhe-rsa-aes128-gcm-sha256.pcap"));
    let reads = read_with(&clients, &events, &keys, &mut |_, len| vec![len]);
    assert!(
        matches!(reads[0].info.decryption, Decryption::Failed { .. }),
        "{:#?}",
        reads[0].info
    );
    assert!(reads[0].to_server.is_empty());
}
