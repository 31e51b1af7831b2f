//! HTTP/2 framing and HPACK: one connection that is HTTP/2 from its first bytes (the client
//! preface, or an upgrade to `h2c`), then arbitrary frames both ways, through `HttpTracker`.
//!
//! Input: a config byte (0: default caps, else small caps that are easy to hit), a mode byte
//! (bit 0: start with an HTTP/1.1 `Upgrade: h2c` and its `101`; bit 1: the server speaks
//! first), then records of `[op][length: u16 LE][bytes]`: op 0 client bytes, 1 server bytes,
//! 2 client bytes one at a time, 3 a gap (bit 4 of op: from the server), 4 FIN and close.
#![no_main]
use std::net::SocketAddr;

use authscope::capture::Timestamp;
use authscope::http::{HttpConfig, HttpEvent, HttpTracker};
use authscope::tcp::{CloseReason, Dir, OpenKind, StreamEvent};
use libfuzzer_sys::fuzz_target;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let [cfg, mode, tail @ ..] = data else {
        return;
    };
    let mut rest: &[u8] = tail;
    let config = if *cfg == 0 {
        HttpConfig::default()
    } else {
        HttpConfig {
            max_head_bytes: usize::from(*cfg) * 4,
            max_body_prefix: 16,
            max_pending_requests: 2,
            max_interim_responses: 2,
            detect_budget: 64,
            max_buffered_total: usize::from(*cfg) * 64,
        }
    };
    let mut http = HttpTracker::new(config);
    let client: SocketAddr = "10.0.0.1:50000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:443".parse().unwrap();
    let mut offsets = [0u64; 2];
    let mut frame = 0u64;
    let feed =
        |http: &mut HttpTracker, offsets: &mut [u64; 2], dir: Dir, bytes: &[u8], frame: u64| {
            let d = usize::from(dir == Dir::ToClient);
            let offset = offsets[d];
            offsets[d] += bytes.len() as u64;
            if bytes.is_empty() {
                return;
            }
            http.push(
                &StreamEvent::Data {
                    conn: 0,
                    dir,
                    ts: Timestamp(i64::try_from(frame).unwrap_or(0)),
                    frame,
                    offset,
                    bytes,
                },
                &mut |e| {
                    if let HttpEvent::Exchange(x) = e {
                        let _ = (x.request.is_some(), x.response.is_some(), x.h2.is_some());
                    }
                },
            );
        };
    http.push(
        &StreamEvent::Open {
            conn: 0,
            ts: Timestamp(0),
            frame: 0,
            client,
            server,
            kind: OpenKind::Handshake,
        },
        &mut |_| {},
    );
    if mode & 1 == 1 {
        feed(
            &mut http,
            &mut offsets,
            Dir::ToServer,
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n",
            1,
        );
        feed(
            &mut http,
            &mut offsets,
            Dir::ToClient,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            2,
        );
        feed(&mut http, &mut offsets, Dir::ToServer, PREFACE, 3);
    } else if mode & 2 == 2 {
        feed(
            &mut http,
            &mut offsets,
            Dir::ToClient,
            b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
            1,
        );
        feed(&mut http, &mut offsets, Dir::ToServer, PREFACE, 2);
    } else {
        feed(&mut http, &mut offsets, Dir::ToServer, PREFACE, 1);
    }
    while let [op, l0, l1, tail @ ..] = rest {
        frame += 1;
        let len = usize::from(u16::from_le_bytes([*l0, *l1]));
        let n = len.min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        match op % 5 {
            0 => feed(&mut http, &mut offsets, Dir::ToServer, bytes, frame),
            1 => feed(&mut http, &mut offsets, Dir::ToClient, bytes, frame),
            2 => {
                for b in bytes {
                    feed(
                        &mut http,
                        &mut offsets,
                        Dir::ToServer,
                        std::slice::from_ref(b),
                        frame,
                    );
                }
            }
            3 => {
                let dir = if op & 0x10 == 0 {
                    Dir::ToServer
                } else {
                    Dir::ToClient
                };
                let d = usize::from(dir == Dir::ToClient);
                let gap = len.max(1) as u64;
                let offset = offsets[d];
                offsets[d] += gap;
                rest = tail;
                http.push(
                    &StreamEvent::Gap {
                        conn: 0,
                        dir,
                        ts: Timestamp(0),
                        offset,
                        len: gap,
                    },
                    &mut |_| {},
                );
            }
            _ => break,
        }
    }
    http.push(
        &StreamEvent::Closed {
            conn: 0,
            ts: Timestamp(0),
            reason: CloseReason::Fin,
        },
        &mut |_| {},
    );
    assert_eq!(http.open(), 0);
    let _ = http.stats();
});
