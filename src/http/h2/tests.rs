//! HTTP/2 frames, HPACK and streams through the whole HTTP stage, byte by byte where it matters.

use super::*;
use crate::http::HttpTracker;
use crate::tcp::StreamEvent;

/// An HTTP/2 frame (RFC 9113 4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut v = vec![len[1], len[2], len[3], kind, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn settings(values: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in values {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

/// A connection fed both directions, the events it made.
struct Run {
    http: HttpTracker,
    events: Vec<HttpEvent>,
    offsets: [u64; 2],
}

impl Run {
    fn new() -> Self {
        Run::with(HttpConfig::default())
    }

    fn with(cfg: HttpConfig) -> Self {
        let mut r = Run {
            http: HttpTracker::new(cfg),
            events: Vec::new(),
            offsets: [0, 0],
        };
        let ev = crate::http::tracker::tests::open(0);
        let events = &mut r.events;
        r.http.push(&ev, &mut |e| events.push(e));
        r
    }

    fn send(&mut self, dir: Dir, bytes: &[u8], frame: u64) {
        let i = usize::from(dir == Dir::ToClient);
        let ev = StreamEvent::Data {
            conn: 0,
            dir,
            ts: Timestamp(i64::try_from(frame).unwrap()),
            frame,
            offset: self.offsets[i],
            bytes,
        };
        self.offsets[i] += bytes.len() as u64;
        let events = &mut self.events;
        self.http.push(&ev, &mut |e| events.push(e));
    }

    fn close(&mut self) {
        let ev = StreamEvent::Closed {
            conn: 0,
            ts: Timestamp(99),
            reason: crate::tcp::CloseReason::Fin,
        };
        let events = &mut self.events;
        self.http.push(&ev, &mut |e| events.push(e));
    }

    fn exchanges(&self) -> Vec<&Exchange> {
        self.events
            .iter()
            .filter_map(|e| match e {
                HttpEvent::Exchange(x) => Some(&**x),
                _ => None,
            })
            .collect()
    }

    fn frames(&self) -> Vec<H2Frame> {
        self.events
            .iter()
            .filter_map(|e| match e {
                HttpEvent::H2Frame { what, .. } => Some(*what),
                _ => None,
            })
            .collect()
    }

    fn malformed(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                HttpEvent::Anomaly {
                    anomaly: Anomaly::Http2Malformed { error, .. },
                    ..
                } => Some(error.clone()),
                _ => None,
            })
            .collect()
    }
}

fn fields<'a>(list: &'a [(&'a str, &'a str)]) -> Vec<(&'a [u8], &'a [u8])> {
    list.iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect()
}

const REQUEST: &[(&str, &str)] = &[
    (":method", "GET"),
    (":path", "/app"),
    (":scheme", "https"),
    (":authority", "iis.lab.test"),
    (
        "authorization",
        "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==",
    ),
];

fn client_start(enc: &mut loona_hpack::Encoder<'_>) -> Vec<u8> {
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[(3, 100), (4, 65535)]));
    let block = enc.encode(fields(REQUEST));
    c.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
    c
}

#[test]
fn a_stream_is_an_exchange_and_settings_are_timeline_lines() {
    let (mut ce, mut se) = (loona_hpack::Encoder::new(), loona_hpack::Encoder::new());
    let mut r = Run::new();
    r.send(Dir::ToServer, &client_start(&mut ce), 5);
    let mut s = settings(&[(1, 4096), (3, 128), (5, 16384), (6, 65536)]);
    let block = se.encode(fields(&[(":status", "401"), ("www-authenticate", "NTLM")]));
    s.extend(frame(HEADERS, END_HEADERS, 1, &block));
    // RFC 9113 6.1: a padded DATA frame, pad length 3.
    let mut data = vec![3u8];
    data.extend_from_slice(b"denied");
    data.extend_from_slice(&[0, 0, 0]);
    s.extend(frame(DATA, PADDED | END_STREAM, 1, &data));
    r.send(Dir::ToClient, &s, 7);
    let xs = r.exchanges();
    assert_eq!(xs.len(), 1);
    let x = xs[0];
    let req = x.request.as_ref().unwrap();
    assert_eq!((req.method.as_str(), req.uri.as_str()), ("GET", "/app"));
    assert_eq!(req.version, HTTP2);
    assert_eq!(req.headers.len(), REQUEST.len());
    assert_eq!(req.headers[4].name, "authorization");
    let resp = x.response.as_ref().unwrap();
    assert_eq!((resp.status, resp.body_len), (401, 6));
    assert_eq!(resp.body_prefix.as_deref(), Some(&b"denied"[..]));
    assert_eq!(
        x.h2.as_deref(),
        Some(&crate::http::H2Stream {
            stream: 1,
            end: None
        })
    );
    let frames = r.frames();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1], H2Frame::Settings { values: 4 });
    assert!(r.malformed().is_empty(), "{:?}", r.malformed());
    assert_eq!(r.http.stats().h2.connections, 1);
    assert_eq!(r.http.stats().h2.streams, 1);
}

#[test]
fn continuation_padding_and_priority_make_one_header_block() {
    let mut ce = loona_hpack::Encoder::new();
    let block = ce.encode(fields(REQUEST));
    let (a, b) = block.split_at(block.len() / 2);
    let (b, c) = b.split_at(b.len() / 2);
    // HEADERS with PADDED and PRIORITY (RFC 9113 6.2), then two CONTINUATIONs.
    let mut p = vec![2u8, 0x80, 0, 0, 0, 15];
    p.extend_from_slice(a);
    p.extend_from_slice(&[0, 0]);
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[]));
    bytes.extend(frame(HEADERS, PADDED | PRIORITY_FLAG | END_STREAM, 3, &p));
    bytes.extend(frame(CONTINUATION, 0, 3, b));
    bytes.extend(frame(CONTINUATION, END_HEADERS, 3, c));
    bytes.extend(frame(PRIORITY, 0, 5, &[0, 0, 0, 3, 7]));
    bytes.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]));
    bytes.extend(frame(PING, 0, 0, &[1; 8]));
    // Byte by byte: frames cut anywhere read the same.
    let mut r = Run::new();
    for (i, b) in bytes.iter().enumerate() {
        r.send(Dir::ToServer, std::slice::from_ref(b), 10 + i as u64);
    }
    let mut se = loona_hpack::Encoder::new();
    let block = se.encode(fields(&[(":status", "200")]));
    r.send(
        Dir::ToClient,
        &frame(HEADERS, END_HEADERS | END_STREAM, 3, &block),
        900,
    );
    assert!(r.malformed().is_empty(), "{:?}", r.malformed());
    let xs = r.exchanges();
    assert_eq!(xs.len(), 1);
    let req = xs[0].request.as_ref().unwrap();
    assert_eq!(req.uri, "/app");
    assert_eq!(req.headers.len(), REQUEST.len());
    assert_eq!(xs[0].response.as_ref().unwrap().status, 200);
    assert_eq!(xs[0].h2.as_ref().unwrap().stream, 3);
}

#[test]
fn http_1_1_required_cuts_the_stream() {
    let mut ce = loona_hpack::Encoder::new();
    let mut r = Run::new();
    r.send(Dir::ToServer, &client_start(&mut ce), 5);
    let mut s = settings(&[]);
    s.extend(frame(RST_STREAM, 0, 1, &0xdu32.to_be_bytes()));
    r.send(Dir::ToClient, &s, 8);
    let xs = r.exchanges();
    assert_eq!(xs.len(), 1);
    assert!(xs[0].response.is_none());
    let end = xs[0].h2.as_ref().unwrap().end.unwrap();
    assert_eq!(
        (end.code, end.by_server, end.goaway, end.frame),
        (0xd, true, false, 8)
    );
    assert_eq!(end.describe(), "RST_STREAM HTTP_1_1_REQUIRED from server");
    // A late answer on the closed stream makes no second exchange.
    let mut se = loona_hpack::Encoder::new();
    let block = se.encode(fields(&[(":status", "200")]));
    r.send(
        Dir::ToClient,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &block),
        9,
    );
    r.close();
    let xs = r.exchanges();
    assert_eq!(xs.len(), 1);
    assert!(r.frames().contains(&H2Frame::RstStream {
        stream: 1,
        code: 0xd
    }));
    assert_eq!(error_name(0xd), "HTTP_1_1_REQUIRED");
}

#[test]
fn a_goaway_with_an_error_ends_the_streams_still_open() {
    let mut ce = loona_hpack::Encoder::new();
    let mut r = Run::new();
    r.send(Dir::ToServer, &client_start(&mut ce), 5);
    let mut p = 1u32.to_be_bytes().to_vec();
    p.extend_from_slice(&0xdu32.to_be_bytes());
    p.extend_from_slice(b"debug");
    r.send(Dir::ToClient, &frame(GOAWAY, 0, 0, &p), 6);
    let xs = r.exchanges();
    assert_eq!(xs.len(), 1);
    let end = xs[0].h2.as_ref().unwrap().end.unwrap();
    assert!(end.goaway && end.code == 0xd);
    assert_eq!(
        r.frames(),
        [
            H2Frame::Settings { values: 2 },
            H2Frame::GoAway {
                last_stream: 1,
                code: 0xd
            }
        ]
    );
}

#[test]
fn malformed_frames_are_shown_and_reading_goes_on() {
    let mut ce = loona_hpack::Encoder::new();
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1]));
    bytes.extend(frame(PING, 0, 0, &[0; 7]));
    bytes.extend(frame(SETTINGS, 0, 0, &[0; 5]));
    bytes.extend(frame(RST_STREAM, 0, 0, &[0; 4]));
    bytes.extend(frame(WINDOW_UPDATE, 0, 1, &[0, 0, 0, 0]));
    bytes.extend(frame(HEADERS, END_HEADERS, 0, &[0x82]));
    // A header block interrupted by another frame (RFC 9113 6.10).
    let block = ce.encode(fields(REQUEST));
    bytes.extend(frame(HEADERS, END_STREAM, 1, &block[..4]));
    bytes.extend(frame(PING, 0, 0, &[0; 8]));
    let mut r = Run::new();
    r.send(Dir::ToServer, &bytes, 3);
    let m = r.malformed();
    assert_eq!(m.len(), 7, "{m:?}");
    assert!(
        m[6].contains("inside the header block of stream 1"),
        "{m:?}"
    );
    assert_eq!(r.http.stats().h2.malformed_frames, 7);
    // HPACK lost with the interrupted block: a later block from this side is not read.
    let later = frame(HEADERS, END_HEADERS | END_STREAM, 3, &[0x82, 0x84, 0x87]);
    r.send(Dir::ToServer, &later, 4);
    r.close();
    let xs = r.exchanges();
    let s3 = xs
        .iter()
        .find(|x| x.h2.as_ref().unwrap().stream == 3)
        .unwrap();
    assert!(s3.request.as_ref().unwrap().headers.is_empty());
}

#[test]
fn a_broken_hpack_block_is_a_compression_error() {
    let mut bytes = PREFACE.to_vec();
    // Index 70: past the static table, with an empty dynamic table.
    bytes.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x82, 0xc6]));
    let mut r = Run::new();
    r.send(Dir::ToServer, &bytes, 3);
    let m = r.malformed();
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].contains("HPACK") && m[0].contains("after 1 fields"),
        "{m:?}"
    );
    assert_eq!(r.http.stats().h2.hpack_errors, 1);
    // After an upgrade to h2c the client owes the preface: anything else is malformed.
    let mut r = Run::new();
    r.send(Dir::ToServer, b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", 1);
    r.send(Dir::ToClient, b"HTTP/1.1 101 OK\r\nUpgrade: h2c\r\n\r\n", 2);
    r.send(Dir::ToServer, b"PRI * HTTP/2.0\r\n\r\nXXXXXXXXXXXXXX", 3);
    assert_eq!(r.malformed().len(), 1, "a wrong preface");
    // Starting like the preface and going on otherwise is not HTTP/2.
    let mut r = Run::new();
    r.send(Dir::ToServer, &PREFACE[..10], 1);
    r.send(Dir::ToServer, b"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 2);
    assert_eq!(r.http.stats().h2.connections, 0);
}

#[test]
fn hpack_tables_and_header_lists_are_capped() {
    // The server allows a table far over the cap: kept at the cap, counted.
    let mut r = Run::new();
    r.send(Dir::ToServer, PREFACE, 1);
    r.send(Dir::ToClient, &settings(&[(1, 1 << 30)]), 2);
    assert_eq!(r.http.stats().h2.hpack_table_cap_hits, 1);
    // An encoder asking for more than the cap (a size update, RFC 7541 6.3).
    let mut update = vec![0x3f];
    let mut n = (1usize << 20) - 31;
    while n >= 128 {
        update.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    update.push(n as u8);
    update.push(0x82);
    r.send(
        Dir::ToServer,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &update),
        3,
    );
    assert_eq!(r.http.stats().h2.hpack_table_cap_hits, 2);
    assert_eq!(r.http.stats().h2.hpack_errors, 1);

    // More fields than kept: the first ones stay, the rest are decoded and dropped.
    let mut ce = loona_hpack::Encoder::new();
    let many: Vec<(String, String)> = (0..MAX_HEADER_FIELDS + 40)
        .map(|i| (format!("x-field-{i}"), "v".to_owned()))
        .collect();
    let block = ce.encode(many.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &block));
    let mut r = Run::new();
    r.send(Dir::ToServer, &bytes, 1);
    r.close();
    assert_eq!(r.http.stats().h2.header_list_cap_hits, 1);
    let xs = r.exchanges();
    assert_eq!(
        xs[0].request.as_ref().unwrap().headers.len(),
        MAX_HEADER_FIELDS
    );

    // A header block over max_head_bytes is not gathered.
    let cfg = HttpConfig {
        max_head_bytes: 64,
        ..HttpConfig::default()
    };
    let mut r = Run::with(cfg);
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(HEADERS, 0, 1, &[0x82; 40]));
    bytes.extend(frame(CONTINUATION, END_HEADERS, 1, &[0x82; 40]));
    r.send(Dir::ToServer, &bytes, 1);
    assert_eq!(r.http.stats().head_cap_hits, 1);
}

#[test]
fn streams_open_at_once_are_capped() {
    let mut bytes = PREFACE.to_vec();
    for i in 0..MAX_OPEN_STREAMS as u32 + 10 {
        bytes.extend(frame(HEADERS, END_HEADERS, 2 * i + 1, &[0x82, 0x84, 0x87]));
    }
    let mut r = Run::new();
    r.send(Dir::ToServer, &bytes, 1);
    assert_eq!(r.http.stats().h2.stream_cap_hits, 10);
    r.close();
    assert_eq!(r.exchanges().len(), MAX_OPEN_STREAMS);
}

#[test]
fn a_server_speaking_first_is_heard() {
    let mut se = loona_hpack::Encoder::new();
    let mut ce = loona_hpack::Encoder::new();
    let mut r = Run::new();
    r.send(Dir::ToClient, &settings(&[(3, 100)]), 1);
    r.send(Dir::ToServer, &client_start(&mut ce), 2);
    let block = se.encode(fields(&[(":status", "200")]));
    r.send(
        Dir::ToClient,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &block),
        3,
    );
    assert_eq!(r.exchanges().len(), 1);
    assert!(r.malformed().is_empty(), "{:?}", r.malformed());
}

#[test]
fn an_upgrade_to_h2c_makes_the_request_stream_one() {
    let mut r = Run::new();
    let req = b"GET /app HTTP/1.1\r\nHost: iis\r\nConnection: Upgrade, HTTP2-Settings\r\n\
                Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
    r.send(Dir::ToServer, req, 1);
    let mut se = loona_hpack::Encoder::new();
    let mut s =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    s.extend(settings(&[(3, 100)]));
    r.send(Dir::ToClient, &s, 2);
    let mut c = PREFACE.to_vec();
    c.extend(settings(&[]));
    r.send(Dir::ToServer, &c, 3);
    let block = se.encode(fields(&[(":status", "200")]));
    let mut s = frame(HEADERS, END_HEADERS, 1, &block);
    s.extend(frame(DATA, END_STREAM, 1, b"hello"));
    r.send(Dir::ToClient, &s, 4);
    let xs = r.exchanges();
    assert_eq!(xs.len(), 1, "{:?}", r.events);
    let x = xs[0];
    assert_eq!(x.request.as_ref().unwrap().version, 1);
    assert_eq!(x.interim.len(), 1);
    assert_eq!(x.interim[0].status, 101);
    let resp = x.response.as_ref().unwrap();
    assert_eq!((resp.status, resp.version, resp.body_len), (200, HTTP2, 5));
    assert_eq!(r.frames().len(), 2);
    assert_eq!(r.http.stats().h2.upgrades, 1);
    assert!(r.malformed().is_empty(), "{:?}", r.malformed());
}

#[test]
fn a_gap_stops_the_direction() {
    let mut ce = loona_hpack::Encoder::new();
    let mut r = Run::new();
    r.send(Dir::ToServer, &client_start(&mut ce), 1);
    let ev = StreamEvent::Gap {
        conn: 0,
        dir: Dir::ToClient,
        ts: Timestamp(2),
        offset: 0,
        len: 100,
    };
    let events = &mut r.events;
    r.http.push(&ev, &mut |e| events.push(e));
    r.send(Dir::ToClient, &settings(&[]), 3);
    assert!(r.events.iter().any(|e| matches!(
        e,
        HttpEvent::Anomaly {
            anomaly: Anomaly::Http2Stopped { .. },
            ..
        }
    )));
    assert!(r.frames().len() == 1, "nothing read after the gap");
    r.close();
    assert_eq!(r.exchanges().len(), 1);
}
