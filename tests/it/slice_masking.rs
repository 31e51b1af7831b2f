//! The pcapng slice holds no secret, however the segments that carry it travel: cut at any
//! place, reordered, retransmitted. Generated conversations go through the real export.
//!
//! What is secret is what the slice masks: a Basic password, a JWT's signature, a cookie, a
//! Digest response, an NTLM Type 3's NTProofStr, session key and MIC; a Basic user name, a
//! JWT's header and claims and a Type 3's header and names stay for Wireshark.

use proptest::prelude::*;

use authscope::export::{Format, Options, Selection};

use super::util::{pcap, push_tcp, root};

const PSH_ACK: u8 = 0x18;

/// `alice:Summer2024!Summer2024!`: `alice:` is its first 8 characters.
const BASIC: &str = "YWxpY2U6U3VtbWVyMjAyNCFTdW1tZXIyMDI0IQ==";
/// A JWT sent with no scheme; its signature is the secret.
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVzLXNpZ25hdHVyZQ";
const COOKIE: &str = "session=0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const DIGEST_RESPONSE: &str = "6629fae49393a05397450978507c4ef1";

/// The NTLM Type 3 token of captures/ntlm-success.pcap.
fn type3() -> String {
    let bytes = std::fs::read(root().join("captures").join("ntlm-success.pcap")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let at = text.find("Authorization: NTLM TlRMTVNTUAAD").unwrap() + 20;
    let len = text[at..].find("\r\n").unwrap();
    text[at..at + len].to_owned()
}

/// The secret text of the requests: the Type 3's base64 characters that encode nothing but
/// secret bytes (MS-NLMP 2.2.1.3: the MIC at 72, the NTProofStr at the start of the
/// NtChallengeResponse, the EncryptedRandomSessionKey), and the other secrets above, each at
/// least 16 characters, so no 8 of them appear elsewhere by chance.
fn secrets() -> Vec<String> {
    use base64::Engine as _;
    let token = type3();
    let msg = base64::engine::general_purpose::STANDARD
        .decode(&token)
        .unwrap();
    let (u16_at, u32_at) = (u16_at(&msg), u32_at(&msg));
    let nt = u32_at(24);
    let mut out: Vec<String> = [
        (72, 88),
        (nt, nt + 16),
        (u32_at(56), u32_at(56) + u16_at(52)),
    ]
    .into_iter()
    .map(|(a, b)| encoding(&token, a, b).to_owned())
    .collect();
    assert!(out.iter().all(|s| s.len() >= 16), "{out:?}");
    out.extend(
        [
            &BASIC[8..],
            JWT.rsplit('.').next().unwrap(),
            COOKIE,
            DIGEST_RESPONSE,
        ]
        .map(str::to_owned),
    );
    out
}

fn u16_at(msg: &[u8]) -> impl Fn(usize) -> usize + '_ {
    |i| usize::from(u16::from_le_bytes([msg[i], msg[i + 1]]))
}

fn u32_at(msg: &[u8]) -> impl Fn(usize) -> usize + '_ {
    |i| u32::from_le_bytes(msg[i..i + 4].try_into().unwrap()) as usize
}

/// The characters of base64 `token` that encode nothing but bytes `a..b`.
fn encoding(token: &str, a: usize, b: usize) -> &str {
    &token[a.div_ceil(3) * 4..b / 3 * 4]
}

fn request() -> String {
    format!(
        "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic {BASIC}\r\n\r\n\
         GET /b HTTP/1.1\r\nHost: h\r\nAuthorization: {JWT}\r\nCookie: {COOKIE}\r\n\r\n\
         GET /c HTTP/1.1\r\nHost: h\r\nAuthorization: Digest username=\"bob\", realm=\"r\", \
         nonce=\"n0nce\", uri=\"/c\", response=\"{DIGEST_RESPONSE}\", qop=auth, \
         nc=00000001, cnonce=\"c\"\r\n\r\n\
         GET /d HTTP/1.1\r\nHost: h\r\nAuthorization: NTLM {}\r\n\r\n",
        type3()
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
        plan: Default::default(),
        key_logs: Vec::new(),
        server_logs: Default::default(),
    };
    let mut out = Vec::new();
    authscope::export::run(&[path], &opts, &mut out).unwrap();
    out
}

/// The first secret's 8-byte windows (any would give part of it away).
fn leaked(out: &[u8]) -> Option<String> {
    for secret in secrets() {
        for w in secret.as_bytes().windows(8) {
            if out.windows(8).any(|o| o == w) {
                return Some(String::from_utf8_lossy(w).into_owned());
            }
        }
    }
    None
}

fn contains(out: &[u8], text: &str) -> bool {
    out.windows(text.len()).any(|w| w == text.as_bytes())
}

#[test]
fn in_order_and_whole_nothing_leaks() {
    let out = slice(&capture(&[], &[0]));
    assert_eq!(leaked(&out), None);
    // The conversation was taken: the slice is more than its headers.
    assert!(out.len() > 400, "{}", out.len());
    // What is no secret stays for Wireshark.
    let (jwt_head, _) = JWT.rsplit_once('.').unwrap();
    let token = type3();
    for kept in [
        "Authorization: Basic YWxpY2U6",
        &format!("Authorization: {jwt_head}.***"),
        "Digest username=\"bob\", realm=\"r\", nonce=\"n0nce\", uri=\"/c\", response=\"***",
        "\", qop=auth, nc=00000001, cnonce=\"c\"\r\n",
        &format!("Authorization: NTLM {}", &token[..96]),
        "Cookie: *******",
    ] {
        assert!(contains(&out, kept), "{kept} is not in the slice");
    }
}

/// The end of a secret value arrives before its start.
#[test]
fn a_value_whose_end_comes_first_is_masked() {
    let req = request();
    let at = req.find("eyJ").unwrap() + 20;
    let out = slice(&capture(&[at], &[1, 0]));
    assert_eq!(leaked(&out), None);
}

/// A Type 3 cut in three, the pieces reordered and one sent twice: it is masked as finely
/// as when whole, for the stream put back in order shows it whole.
#[test]
fn a_type3_cut_and_reordered_is_masked_down_to_its_secrets() {
    let req = request();
    let at = req.find("NTLM TlRM").unwrap();
    let out = slice(&capture(&[at + 100, at + 300], &[2, 0, 2, 1]));
    assert_eq!(leaked(&out), None);
    let token = type3();
    // The first piece ends 95 characters into the token.
    assert!(contains(
        &out,
        &format!("Authorization: NTLM {}", &token[..95])
    ));
    // The names near its end stay: DomainName (at the offset in bytes 32..36) to the end of
    // Workstation (offset at 48, length at 44).
    use base64::Engine as _;
    let msg = base64::engine::general_purpose::STANDARD
        .decode(&token)
        .unwrap();
    let (u16_at, u32_at) = (u16_at(&msg), u32_at(&msg));
    let names = encoding(&token, u32_at(32), u32_at(48) + u16_at(44));
    assert!(names.len() >= 16 && contains(&out, names), "{names}");
}

/// A retransmission that carries other bytes than the stream kept is no copy of the line
/// masked in stream order: its whole value stays starred.
#[test]
fn a_retransmission_with_other_bytes_keeps_its_stars() {
    let req = request();
    let token = type3();
    let at = req.find(&token).unwrap();
    let other: String = token
        .chars()
        .map(|c| match c {
            'A' => 'B',
            'B' => 'A',
            c => c,
        })
        .collect();
    let changed = req.replace(&token, &other);
    let (client, server) = (([10, 0, 0, 1], 50_000), ([10, 0, 0, 2], 80));
    let (c, s) = (1_000u32, 9_000u32);
    let mut recs = Vec::new();
    push_tcp(&mut recs, client, server, c, 0, 0x02, b"");
    push_tcp(&mut recs, server, client, s, c + 1, 0x12, b"");
    push_tcp(
        &mut recs,
        client,
        server,
        c + 1,
        s + 1,
        PSH_ACK,
        req.as_bytes(),
    );
    push_tcp(
        &mut recs,
        client,
        server,
        c + 1,
        s + 1,
        PSH_ACK,
        changed.as_bytes(),
    );
    let end = c + 1 + req.len() as u32;
    push_tcp(&mut recs, server, client, s + 1, end, PSH_ACK, RESPONSE);
    let out = slice(&pcap(1, &recs));
    assert_eq!(leaked(&out), None);
    // Nothing of the other token's value is left but its first characters, cut by stars.
    let starred = format!("Authorization: NTLM {}\r\n", "*".repeat(token.len()));
    assert!(contains(&out, &starred));
    assert!(!contains(&out, &other[at % 8..at % 8 + 16]));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn no_cut_order_or_retransmission_leaks_a_secret(
        cuts in proptest::collection::vec(0usize..1200, 0..10),
        order in proptest::collection::vec(0usize..9, 1..14),
    ) {
        let out = slice(&capture(&cuts, &order));
        prop_assert_eq!(leaked(&out), None);
    }
}
