//! The pcapng slice holds no secret, however the segments that carry it travel: cut at any
//! place, reordered, retransmitted. Generated conversations go through the real export.

use proptest::prelude::*;

use authscope::export::{Format, Options, Selection};

use super::util::{pcap, push_tcp};

const PSH_ACK: u8 = 0x18;

/// The secrets of the request below: a Basic credential, a bearer token with no scheme, a
/// cookie, each long enough that no 8 bytes of one appear by chance elsewhere.
const SECRETS: [&str; 3] = [
    "YWxpY2U6U3VtbWVyMjAyNCFTdW1tZXIyMDI0IQ==",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVzLXNpZ25hdHVyZQ",
    "session=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
];

fn request() -> String {
    format!(
        "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic {}\r\n\r\n\
         GET /b HTTP/1.1\r\nHost: h\r\nAuthorization: {}\r\nCookie: {}\r\n\r\n",
        SECRETS[0], SECRETS[1], SECRETS[2]
    )
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\n\r\n";

/// The request cut at `cuts`, its pieces sent in `order` (an index may repeat: a
/// retransmission), after the handshake; the two responses after them.
fn capture(cuts: &[usize], order: &[usize]) -> Vec<u8> {
    let req = request();
    let req = req.as_bytes();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % req.len()).collect();
    points.extend([0, req.len()]);
    points.sort_unstable();
    points.dedup();
    let pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
    let (client, server) = (([10, 0, 0, 1], 50_000), ([10, 0, 0, 2], 80));
    let (c, s) = (1_000u32, 9_000u32);
    let mut recs = Vec::new();
    let mut push = |src, dst, seq, ack, flags, payload: &[u8]| {
        push_tcp(&mut recs, src, dst, seq, ack, flags, payload);
    };
    push(client, server, c, 0, 0x02, b"");
    push(server, client, s, c + 1, 0x12, b"");
    let mut sent = vec![false; pieces.len()];
    for &i in order {
        let i = i % pieces.len();
        let (a, b) = pieces[i];
        push(client, server, c + 1 + a as u32, s + 1, PSH_ACK, &req[a..b]);
        sent[i] = true;
    }
    // Whatever the order left out comes last, in order.
    for (i, &(a, b)) in pieces.iter().enumerate() {
        if !sent[i] {
            push(client, server, c + 1 + a as u32, s + 1, PSH_ACK, &req[a..b]);
        }
    }
    let end = c + 1 + req.len() as u32;
    push(server, client, s + 1, end, PSH_ACK, RESPONSE);
    push(
        server,
        client,
        s + 1 + RESPONSE.len() as u32,
        end,
        PSH_ACK,
        RESPONSE,
    );
    pcap(1, &recs)
}

fn slice(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.pcap");
    std::fs::write(&path, bytes).unwrap();
    let opts = Options {
        format: Format::Pcapng,
        reveal_secrets: false,
        config: authscope::pipeline::Config::default(),
        selection: Selection::new(Vec::new(), None),
        merge: false,
    };
    let mut out = Vec::new();
    authscope::export::run(&[path], &opts, &mut out).unwrap();
    out
}

/// The first secret's 8-byte windows (any would give part of it away).
fn leaked(out: &[u8]) -> Option<String> {
    for secret in SECRETS {
        let value = secret.split_once('=').map_or(secret, |(_, v)| v);
        for w in value.as_bytes().windows(8) {
            if out.windows(8).any(|o| o == w) {
                return Some(String::from_utf8_lossy(w).into_owned());
            }
        }
    }
    None
}

#[test]
fn in_order_and_whole_nothing_leaks() {
    let out = slice(&capture(&[], &[0]));
    assert_eq!(leaked(&out), None);
    // The conversation was taken: the slice is more than its headers.
    assert!(out.len() > 400, "{}", out.len());
}

/// The end of a secret value arrives before its start.
#[test]
fn a_value_whose_end_comes_first_is_masked() {
    let req = request();
    let at = req.find("eyJ").unwrap() + 20;
    let out = slice(&capture(&[at], &[1, 0]));
    assert_eq!(leaked(&out), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn no_cut_order_or_retransmission_leaks_a_secret(
        cuts in proptest::collection::vec(0usize..400, 0..8),
        order in proptest::collection::vec(0usize..9, 1..14),
    ) {
        let out = slice(&capture(&cuts, &order));
        prop_assert_eq!(leaked(&out), None);
    }
}
