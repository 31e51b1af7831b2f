//! Unit tests of the TLS stage: published vectors (RFC 8448, the TLS 1.2 PRF, RFC 8439),
//! the key log, the framing, and synthetic connections.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::Aes128Gcm;

use super::cipher::{xor_nonce, RecordCipher};
use super::keylog::Label;
use super::suite::{self, Hash};
use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn key_iv(hash: Hash, secret: &str, key_len: usize) -> (String, String) {
    let secret = unhex(secret);
    let mut key = vec![0u8; key_len];
    let mut iv = [0u8; 12];
    kdf::expand_label(hash, &secret, b"key", b"", &mut key).unwrap();
    kdf::expand_label(hash, &secret, b"iv", b"", &mut iv).unwrap();
    (hex(&key), hex(&iv))
}

// RFC 8448 3 (Simple 1-RTT Handshake): the traffic secrets, and the keys and IVs derived from
// them (TLS_AES_128_GCM_SHA256).
const RFC8448_CHTS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
const RFC8448_SHTS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
const RFC8448_CATS: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
const RFC8448_SATS: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

#[test]
fn rfc8448_traffic_keys() {
    let k = |s| key_iv(Hash::Sha256, s, 16);
    assert_eq!(
        k(RFC8448_SHTS),
        (
            "3fce516009c21727d0f2e4e86ee403bc".into(),
            "5d313eb2671276ee13000b30".into()
        )
    );
    assert_eq!(
        k(RFC8448_CHTS),
        (
            "dbfaa693d1762c5b666af5d950258d01".into(),
            "5bd3c71b836e0b76bb73265f".into()
        )
    );
    assert_eq!(
        k(RFC8448_SATS),
        (
            "9f02283b6c9c07efc26bb9f2ac92e356".into(),
            "cf782b88dd83549aadf1e984".into()
        )
    );
    assert_eq!(
        k(RFC8448_CATS),
        (
            "17422dda596ed5d9acd890e3c63f5051".into(),
            "5b78923dee08579033e523d9".into()
        )
    );
}

#[test]
fn rfc8448_client_finished_record_decrypts() {
    // RFC 8448 3, "{client} send handshake record": the client's Finished under its
    // handshake traffic secret, sequence number 0.
    let record = unhex(
        "17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c
         7a 4b fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46",
    );
    let finished = unhex(
        "14 00 00 20 a8 ec 43 6d 67 76 34 ae 52 5a c1 fc eb e1 1a 03 9e c1 76 94 fa c6 e9 85 27
         b6 42 f2 ed d5 ce 61",
    );
    let suite = suite::suite(0x1301).unwrap();
    let mut cipher = RecordCipher::tls13(&suite, &unhex(RFC8448_CHTS)).unwrap();
    let mut body = record[5..].to_vec();
    let opened = cipher.open(0x17, 0x0303, &mut body).unwrap();
    assert_eq!(opened.ctype, 22);
    assert_eq!(opened.plaintext(&body), &finished[..]);
    // The same record again: sequence number 1 now, so it does not authenticate.
    let mut body = record[5..].to_vec();
    assert!(cipher.open(0x17, 0x0303, &mut body).is_err());
}

#[test]
fn tls12_prf_vectors() {
    // The TLS 1.2 PRF test vectors posted to the IETF TLS list (P_SHA256 and P_SHA384,
    // label "test label"), also computed with Python's hmac module.
    let mut out = [0u8; 100];
    let seed = unhex("a0ba9f936cda311827a6f796ffd5198c");
    kdf::prf_tls12(
        Hash::Sha256,
        &unhex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        &[&seed],
        &mut out,
    );
    assert_eq!(
        hex(&out),
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e\
         14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5\
         a72e5a5110fff70187347b66"
    );
    let mut out = [0u8; 148];
    let seed = unhex("cd665cf6a8447dd6ff8b27555edb7465");
    kdf::prf_tls12(
        Hash::Sha384,
        &unhex("b80b733d6ceefcdc71566ea48e5567df"),
        b"test label",
        &[&seed],
        &mut out,
    );
    assert_eq!(
        hex(&out),
        "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b123\
         3c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd\
         4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a2\
         6854308d5eaa3be85e0990703d73e56f"
    );
}

#[test]
fn chacha20_poly1305_nonce_is_iv_xor_sequence_number() {
    // RFC 7905 2: the 64-bit sequence number, left-padded to 12 bytes, xor the IV. With IV
    // 07000000 00000000 00000000 and sequence number 0x4041424344454647 that is RFC 8439
    // 2.8.2's nonce, and its AEAD vector opens.
    let iv: [u8; 12] = unhex("070000000000000000000000").try_into().unwrap();
    let nonce = xor_nonce(&iv, 0x4041_4243_4445_4647);
    assert_eq!(hex(&nonce), "070000004041424344454647");
    let key: Vec<u8> = (0x80..=0x9f).collect();
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");
    let sealed = unhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da
         92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad6759455
         85808b4831d7bc3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691",
    );
    let cipher = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key).unwrap();
    let (ct, tag) = sealed.split_at(sealed.len() - 16);
    let mut out = vec![0u8; ct.len()];
    let buf = aes_gcm::aead::inout::InOutBuf::new(ct, &mut out).unwrap();
    cipher
        .decrypt_inout_detached(
            &nonce.into(),
            &aad,
            buf,
            &chacha20poly1305::Tag::try_from(tag).unwrap(),
        )
        .unwrap();
    assert!(out.starts_with(b"Ladies and Gentlemen of the class of '99"));
}

#[test]
fn looks_like_tls_takes_client_hellos_only() {
    let ch = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    assert!(looks_like_tls(&ch));
    assert!(looks_like_tls(&ch[..6]));
    assert!(!looks_like_tls(&ch[..5]));
    for http in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"POST /x",
        b"\x16\x03\x01\x02\x00\x02",
        b"PRI * HTTP/2.0",
    ] {
        assert!(!looks_like_tls(http), "{http:?}");
    }
    // A record too long, a version 3.5, a handshake of length 0.
    assert!(!looks_like_tls(&[0x16, 0x03, 0x01, 0x50, 0x00, 0x01]));
    assert!(!looks_like_tls(&[0x16, 0x03, 0x05, 0x02, 0x00, 0x01]));
    assert!(!looks_like_tls(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0, 0, 0, 3, 3
    ]));
}

const CR: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn key_log_lines_are_counted() {
    let secret48 = "ab".repeat(48);
    let text = format!(
        "# comment\n\n\
         CLIENT_RANDOM {CR} {secret48}\r\n\
         CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {}\n\
         EXPORTER_SECRET {CR} {}\n\
         CLIENT_RANDOM {CR} {secret48}\n\
         CLIENT_RANDOM nothex {secret48}\n\
         CLIENT_RANDOM {CR} abcd\n\
         CLIENT_RANDOM {CR}\n\
         SERVER_TRAFFIC_SECRET_0 {CR} {}",
        "cd".repeat(32),
        "ef".repeat(32),
        "01".repeat(48),
    );
    let mut log = KeyLog::default();
    assert!(log.is_empty());
    log.add_text(text.as_bytes());
    let s = log.stats();
    assert_eq!(
        (s.lines, s.secrets, s.unknown, s.bad, s.duplicates),
        (8, 3, 1, 3, 1)
    );
    assert_eq!(s.client_randoms, 1);
    let cr: [u8; 32] = unhex(CR).try_into().unwrap();
    assert_eq!(log.master_secret(&cr), Some(&[0xab; 48][..]));
    assert_eq!(
        log.tls13_secret(&cr, Label::ClientHandshake),
        Some(&[0xcd; 32][..])
    );
    assert_eq!(
        log.tls13_secret(&cr, Label::ServerTraffic0),
        Some(&[0x01; 48][..])
    );
    assert_eq!(log.tls13_secret(&cr, Label::ServerHandshake), None);
    // No secret in Debug.
    let debug = format!("{log:?}");
    assert!(!debug.contains("ab") && !debug.contains("171"), "{debug}");
}

#[test]
fn key_log_chunks_join_lines_split_anywhere() {
    let text = format!(
        "CLIENT_RANDOM {CR} {}\nCLIENT_RANDOM {} {}\n",
        "ab".repeat(48),
        "11".repeat(32),
        "ab".repeat(48)
    );
    for at in 0..text.len() {
        let mut log = KeyLog::default();
        log.add_chunk(&text.as_bytes()[..at]);
        log.add_chunk(&text.as_bytes()[at..]);
        log.finish_chunks();
        assert_eq!(log.stats().secrets, 2, "split at {at}");
        assert_eq!(log.stats().bad, 0, "split at {at}");
    }
    // A line past 1 KiB is bad, however it is cut, and the next line is read.
    let long = format!(
        "{}\nCLIENT_RANDOM {CR} {}\n",
        "x".repeat(5000),
        "ab".repeat(48)
    );
    let mut log = KeyLog::default();
    for piece in long.as_bytes().chunks(700) {
        log.add_chunk(piece);
    }
    log.finish_chunks();
    assert_eq!((log.stats().bad, log.stats().secrets), (1, 1));
}

#[test]
fn a_million_key_log_lines_stay_within_the_cap() {
    // 1 000 000 CLIENT_RANDOM lines of distinct client randoms, read as a growing file
    // would be: the default cap (100 000) is held, the rest dropped and counted.
    let mut log = KeyLog::default();
    let secret = "ab".repeat(48);
    let mut chunk = String::new();
    for i in 0u32..1_000_000 {
        chunk.push_str(&format!("CLIENT_RANDOM {:056x}{i:08x} {secret}\n", 0));
        if chunk.len() > 60_000 {
            log.add_chunk(chunk.as_bytes());
            chunk.clear();
        }
    }
    log.add_chunk(chunk.as_bytes());
    log.finish_chunks();
    let s = log.stats();
    assert_eq!(s.lines, 1_000_000);
    assert_eq!(s.client_randoms, DEFAULT_MAX_CLIENT_RANDOMS as u64);
    assert_eq!(s.secrets, DEFAULT_MAX_CLIENT_RANDOMS as u64);
    assert_eq!(s.dropped, 1_000_000 - DEFAULT_MAX_CLIENT_RANDOMS as u64);
    // A client random held still takes its other secrets at the cap.
    let first = format!("{:064x}", 0);
    log.add_text(format!("CLIENT_TRAFFIC_SECRET_0 {first} {}", "cd".repeat(32)).as_bytes());
    assert_eq!(log.stats().secrets, DEFAULT_MAX_CLIENT_RANDOMS as u64 + 1);
}

#[test]
fn key_log_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<KeyLog>();
    shared::<std::sync::Arc<KeyLog>>();
}

// --- Synthetic TLS 1.3 connections (TLS_AES_128_GCM_SHA256) -------------------------------

fn handshake_message(typ: u8, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    [&[typ, len[1], len[2], len[3]][..], body].concat()
}

fn record(ctype: u8, body: &[u8]) -> Vec<u8> {
    [&[ctype, 3, 3][..], &(body.len() as u16).to_be_bytes(), body].concat()
}

fn client_hello(random: &[u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(random);
    b.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    // supported_versions: TLS 1.3; server_name: "synthetic.test".
    let sni = b"synthetic.test";
    let mut ext = vec![0, 0x2b, 0, 3, 2, 3, 4];
    let n = sni.len() as u16;
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&(n + 5).to_be_bytes());
    ext.extend_from_slice(&(n + 3).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&n.to_be_bytes());
    ext.extend_from_slice(sni);
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    record(22, &handshake_message(1, &b))
}

fn server_hello(random: &[u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(random);
    b.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
    record(22, &handshake_message(2, &b))
}

/// A sender of TLS 1.3 records under one traffic secret.
struct Sealer {
    cipher: Aes128Gcm,
    iv: [u8; 12],
    seq: u64,
    secret: Vec<u8>,
}

impl Sealer {
    fn new(secret: &[u8]) -> Sealer {
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        kdf::expand_label(Hash::Sha256, secret, b"key", b"", &mut key).unwrap();
        kdf::expand_label(Hash::Sha256, secret, b"iv", b"", &mut iv).unwrap();
        Sealer {
            cipher: Aes128Gcm::new_from_slice(&key).unwrap(),
            iv,
            seq: 0,
            secret: secret.to_vec(),
        }
    }
    fn update(&mut self) {
        let mut next = vec![0u8; 32];
        kdf::expand_label(Hash::Sha256, &self.secret, b"traffic upd", b"", &mut next).unwrap();
        *self = Sealer::new(&next);
    }
    fn seal(&mut self, ctype: u8, content: &[u8]) -> Vec<u8> {
        let mut inner = [content, &[ctype]].concat();
        let len = (inner.len() + 16) as u16;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        let nonce = xor_nonce(&self.iv, self.seq);
        self.seq += 1;
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce.into(), &header, inner.as_mut_slice().into())
            .unwrap();
        [&header[..], &inner, &tag].concat()
    }
}

struct Synthetic {
    keys: KeyLog,
    client: Vec<u8>,
    server: Vec<u8>,
}

/// A TLS 1.3 connection: the hellos, the server's Finished, then `records` application
/// records of `size` bytes from the server, with a KeyUpdate after `update_at` of them.
fn synthetic(records: usize, size: usize, update_at: Option<usize>) -> Synthetic {
    let random = [7u8; 32];
    let secrets = [[1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]];
    let mut text = String::new();
    for (label, s) in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ]
    .iter()
    .zip(&secrets)
    {
        text.push_str(&format!("{label} {} {}\n", hex(&random), hex(s)));
    }
    let mut keys = KeyLog::default();
    keys.add_text(text.as_bytes());
    let mut client = client_hello(&random);
    let mut server = server_hello(&[9u8; 32]);
    let mut shs = Sealer::new(&secrets[1]);
    server.extend(shs.seal(22, &handshake_message(20, &[0u8; 32])));
    let mut chs = Sealer::new(&secrets[0]);
    client.extend(chs.seal(22, &handshake_message(20, &[0u8; 32])));
    client.extend(Sealer::new(&secrets[2]).seal(23, b"GET / HTTP/1.1\r\n\r\n"));
    let mut sap = Sealer::new(&secrets[3]);
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    for i in 0..records {
        if update_at == Some(i) {
            server.extend(sap.seal(22, &handshake_message(24, &[0])));
            sap.update();
        }
        server.extend(sap.seal(23, &payload));
    }
    Synthetic {
        keys,
        client,
        server,
    }
}

/// Feeds the client's then the server's bytes in pieces of `piece` bytes; the plaintext of
/// each direction.
fn run(s: &Synthetic, piece: usize) -> (TlsInfo, Vec<u8>, Vec<u8>) {
    let mut conn = TlsConn::new(TlsConfig::default());
    let mut plain = (Vec::new(), Vec::new());
    let mut sink = |e: TlsEvent<'_>| {
        if let TlsEvent::Plaintext { dir, bytes, .. } = e {
            match dir {
                Dir::ToServer => plain.0.extend_from_slice(bytes),
                Dir::ToClient => plain.1.extend_from_slice(bytes),
            }
        }
    };
    // The ClientHello, the server's flight, then the client's Finished and request.
    let ch_len = 5 + u16::from_be_bytes([s.client[3], s.client[4]]) as usize;
    let (ch, rest) = s.client.split_at(ch_len);
    for (dir, bytes) in [
        (Dir::ToServer, ch),
        (Dir::ToClient, &s.server[..]),
        (Dir::ToServer, rest),
    ] {
        for p in bytes.chunks(piece) {
            conn.data(dir, 1, Timestamp(0), p, &s.keys, &mut sink);
        }
    }
    (conn.into_info(), plain.0, plain.1)
}

#[test]
fn synthetic_tls13_decrypts_through_a_key_update_in_any_pieces() {
    let s = synthetic(5, 3000, Some(2));
    let (info, up, down) = run(&s, 100_000);
    assert_eq!(info.decryption, Decryption::Decrypted, "{info:#?}");
    assert_eq!(info.version.as_deref(), Some("TLS 1.3"));
    assert_eq!(info.sni.as_deref(), Some("synthetic.test"));
    assert_eq!(info.cipher_suite.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(info.key_updates.to_client, 1);
    assert_eq!(up, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(down.len(), 5 * 3000);
    for piece in [1, 2, 3, 4, 5, 6, 7, 13, 1000, 1460, 16 * 1024 + 21] {
        let (again, up2, down2) = run(&s, piece);
        assert_eq!(
            (&again, &up2, &down2),
            (&info, &up, &down),
            "pieces of {piece}"
        );
    }
}

#[test]
fn a_wrong_key_stops_the_direction_and_says_so() {
    let mut s = synthetic(3, 100, None);
    let mut text = format!(
        "SERVER_TRAFFIC_SECRET_0 {} {}\n",
        hex(&[7u8; 32]),
        hex(&[5u8; 32])
    );
    for (label, v) in [
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 1u8),
        ("SERVER_HANDSHAKE_TRAFFIC_SECRET", 2),
        ("CLIENT_TRAFFIC_SECRET_0", 3),
    ] {
        text.push_str(&format!("{label} {} {}\n", hex(&[7u8; 32]), hex(&[v; 32])));
    }
    s.keys = KeyLog::default();
    s.keys.add_text(text.as_bytes());
    let (info, up, down) = run(&s, 512);
    assert!(
        matches!(
            info.decryption,
            Decryption::Failed {
                dir: Dir::ToClient,
                ..
            }
        ),
        "{info:#?}"
    );
    assert_eq!(up, b"GET / HTTP/1.1\r\n\r\n");
    assert!(down.is_empty());
    assert_eq!(info.undecrypted_records.to_client, 3);
}

#[test]
fn no_key_for_the_client_random_is_said_once() {
    let mut s = synthetic(2, 100, None);
    s.keys = KeyLog::default();
    s.keys
        .add_text(format!("CLIENT_RANDOM {CR} {}\n", "ab".repeat(48)).as_bytes());
    let mut conn = TlsConn::new(TlsConfig::default());
    let mut changes = 0;
    let ch_len = 5 + u16::from_be_bytes([s.client[3], s.client[4]]) as usize;
    let (ch, rest) = s.client.split_at(ch_len);
    for (dir, bytes) in [
        (Dir::ToServer, ch),
        (Dir::ToClient, &s.server[..]),
        (Dir::ToServer, rest),
    ] {
        conn.data(dir, 1, Timestamp(0), bytes, &s.keys, &mut |e| {
            if let TlsEvent::Handshake { .. } = e {
                changes += 1;
            }
        });
    }
    assert_eq!(conn.info().decryption, Decryption::NoKeyForClientRandom);
    // The ClientHello, the ServerHello, then the missing key: once.
    assert_eq!(changes, 3);
    // Without a key log at all.
    let (info, ..) = run(
        &Synthetic {
            keys: KeyLog::default(),
            ..s
        },
        1000,
    );
    assert_eq!(info.decryption, Decryption::NoKeys);
    assert_eq!(info.undecrypted_records.to_client, 3);
}

#[test]
fn malformed_and_oversized_records_stop_the_direction() {
    let keys = KeyLog::default();
    let mut conn = TlsConn::new(TlsConfig::default());
    let mut gaps = 0;
    let mut sink = |e: TlsEvent<'_>| gaps += matches!(e, TlsEvent::PlaintextGap { .. }) as u32;
    conn.data(
        Dir::ToServer,
        1,
        Timestamp(0),
        &[0x16, 3, 1, 0xff, 0xff, 1],
        &keys,
        &mut sink,
    );
    assert!(conn
        .info()
        .lost
        .to_server
        .as_deref()
        .unwrap()
        .contains("past 2^14 + 2048"));
    assert!(conn.info().malformed.is_some());
    conn.data(
        Dir::ToClient,
        1,
        Timestamp(0),
        b"HTTP/1.1 200 OK\r\n",
        &keys,
        &mut sink,
    );
    assert!(conn.info().lost.to_client.is_some());
    // A record over the configured cap.
    let mut conn = TlsConn::new(TlsConfig {
        max_record_bytes: 100,
        ..TlsConfig::default()
    });
    conn.data(
        Dir::ToServer,
        1,
        Timestamp(0),
        &record(23, &[0; 200]),
        &keys,
        &mut sink,
    );
    assert_eq!(conn.info().limits.record_cap_hits, 1);
    // A handshake message over its cap is skipped, the next one read.
    let mut conn = TlsConn::new(TlsConfig {
        max_handshake_bytes: 128,
        ..TlsConfig::default()
    });
    let mut bytes = record(22, &handshake_message(11, &[0; 300]));
    bytes.extend(client_hello(&[1; 32]));
    conn.data(Dir::ToServer, 1, Timestamp(0), &bytes, &keys, &mut sink);
    assert_eq!(conn.info().limits.handshake_cap_hits, 1);
    assert_eq!(conn.info().sni.as_deref(), Some("synthetic.test"));
    assert_eq!(gaps, 0);
}

#[test]
fn a_gap_loses_the_direction_and_tells_plaintext_consumers() {
    let s = synthetic(2, 100, None);
    let mut conn = TlsConn::new(TlsConfig::default());
    let mut events = Vec::new();
    let ch_len = 5 + u16::from_be_bytes([s.client[3], s.client[4]]) as usize;
    let mut sink =
        |e: TlsEvent<'_>| events.push(format!("{e:?}").split(' ').next().unwrap().to_owned());
    conn.data(
        Dir::ToServer,
        1,
        Timestamp(0),
        &s.client[..ch_len],
        &s.keys,
        &mut sink,
    );
    conn.data(
        Dir::ToClient,
        2,
        Timestamp(0),
        &s.server,
        &s.keys,
        &mut sink,
    );
    conn.gap(Dir::ToClient, 10, &mut sink);
    conn.data(
        Dir::ToClient,
        3,
        Timestamp(0),
        &s.server,
        &s.keys,
        &mut sink,
    );
    conn.gap(Dir::ToServer, 10, &mut sink);
    assert_eq!(
        events.iter().filter(|e| *e == "PlaintextGap").count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        conn.info().lost.to_client.as_deref(),
        Some("a TCP gap of 10 bytes")
    );
    assert_eq!(conn.info().plaintext_bytes.to_client, 200);
}

/// AES-128-GCM decryption speed over a synthetic stream (run in release:
/// `cargo test --release --lib tls::tests::speed -- --ignored --nocapture`).
#[test]
#[ignore]
fn speed() {
    let records = 8192;
    let s = synthetic(records, 16 * 1024, None);
    let t = std::time::Instant::now();
    let (info, _, down) = run(&s, 1460);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(down.len(), records * 16 * 1024);
    assert_eq!(info.decryption, Decryption::Decrypted);
    let mb = s.server.len() as f64 / 1e6;
    println!(
        "{mb:.0} MB in 1460-byte segments: {secs:.3} s, {:.0} MB/s",
        mb / secs
    );
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// The resident memory a full key log takes: the cap's worth of client randoms with the four
/// TLS 1.3 secrets each (run alone: `cargo test --release --lib
/// tls::tests::key_log_memory_at_the_cap -- --ignored --nocapture`).
#[test]
#[ignore]
fn key_log_memory_at_the_cap() {
    let before = rss_kb();
    let mut log = KeyLog::default();
    let labels = [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ];
    let secret = "ab".repeat(48);
    let mut chunk = String::new();
    for i in 0..DEFAULT_MAX_CLIENT_RANDOMS * 2 {
        for label in labels {
            chunk.push_str(&format!("{label} {:056x}{i:08x} {secret}\n", 0));
        }
        if chunk.len() > 60_000 {
            log.add_chunk(chunk.as_bytes());
            chunk.clear();
        }
    }
    log.add_chunk(chunk.as_bytes());
    log.finish_chunks();
    let after = rss_kb();
    assert_eq!(
        log.stats().client_randoms,
        DEFAULT_MAX_CLIENT_RANDOMS as u64
    );
    println!(
        "{} client randoms with 4 secrets each: {} MB resident; TlsConn is {} bytes",
        log.stats().client_randoms,
        after.saturating_sub(before) / 1024,
        std::mem::size_of::<TlsConn>()
    );
}

#[test]
fn a_flood_of_partial_records_stays_within_the_budget() {
    use crate::tcp::{CloseReason, StreamEvent};
    // Each connection opens with a ClientHello, then its server starts a 16 KB record and
    // stops: one front's buffers would grow with the connections without the budget.
    let budget = 1 << 20;
    let mut tls = TlsStreams::new(TlsConfig {
        max_buffered_total: budget,
        ..TlsConfig::default()
    });
    let hello = client_hello(&[5u8; 32]);
    let partial = [&[23u8, 3, 3, 0x40, 0x00][..], &[0u8; 1000]].concat();
    let conns = 2000u64;
    let mut lost = Vec::new();
    let mut sink = |p: Passed<'_>| {
        if let Passed::Ended { info, .. } = p {
            lost.push(info.lost.to_client.clone());
        }
    };
    for conn in 0..conns {
        for (dir, bytes) in [(Dir::ToServer, &hello[..]), (Dir::ToClient, &partial[..])] {
            let ev = StreamEvent::Data {
                conn,
                dir,
                ts: Timestamp(0),
                frame: 1,
                offset: 0,
                bytes,
            };
            tls.push(&ev, &mut sink);
            assert!(
                tls.held() <= budget,
                "{} held after connection {conn}",
                tls.held()
            );
        }
    }
    let stats = tls.stats();
    assert_eq!(stats.connections, conns);
    // What fits stays; every connection past it let its record go.
    let fit = budget / (16 * 1024);
    assert!(stats.budget_hits >= conns - fit as u64, "{stats:?}");
    assert!(stats.peak_buffered_bytes <= budget as u64, "{stats:?}");
    for conn in 0..conns {
        let ev = StreamEvent::Closed {
            conn,
            ts: Timestamp(0),
            reason: CloseReason::Fin,
        };
        tls.push(&ev, &mut sink);
    }
    assert_eq!(tls.held(), 0);
    let over = lost
        .iter()
        .filter(|l| {
            l.as_deref()
                .is_some_and(|w| w.contains("over their budget"))
        })
        .count();
    assert_eq!(over as u64, stats.budget_hits);
}

/// MsvAvChannelBindings for a SHA-256 and a SHA-384 end-point hash, as pyspnego's
/// `GssChannelBindings(application_data=b"tls-server-end-point:" + hash).pack()` hashed with
/// MD5 gives them (the full tests compare whole certificates with pyspnego and requests-ntlm).
#[test]
fn channel_bindings_are_pyspnegos() {
    let sha256: Vec<u8> = (0..32).collect();
    let sha384: Vec<u8> = (0..48).collect();
    assert_eq!(
        hex(&channel_binding(&sha256)),
        "8f1214c9c9cab8dc3bf866da9aba57a7"
    );
    assert_eq!(
        hex(&channel_binding(&sha384)),
        "97987e635e8710fe8eb4e56a60a0b621"
    );
}
