//! HTTP framing and pairing: an arbitrary sequence of stream events (four connections, both
//! directions, gaps, FIN, RST, close) into `HttpTracker`.
//!
//! Input: a config byte (0: default caps, else small caps that are easy to hit), then
//! records of `[op][connection][direction or flag][length: u16 LE][bytes, for data]`.
#![no_main]
use std::net::SocketAddr;

use authscope::capture::Timestamp;
use authscope::http::{HttpConfig, HttpEvent, HttpTracker};
use authscope::tcp::{CloseReason, Dir, OpenKind, StreamEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let config = if cfg == 0 {
        HttpConfig::default()
    } else {
        HttpConfig {
            max_head_bytes: usize::from(cfg) * 4,
            max_body_prefix: 16,
            max_pending_requests: 2,
            max_interim_responses: 2,
            detect_budget: 64,
            max_buffered_total: usize::from(cfg) * 64,
        }
    };
    let mut http = HttpTracker::new(config);
    let mut offsets = [[0u64; 2]; 4];
    let client: SocketAddr = "10.0.0.1:50000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let mut exchanges = 0u64;
    let mut sink = |e: HttpEvent| {
        if let HttpEvent::Exchange(x) = e {
            exchanges += 1;
            let _ = (x.request.is_some(), x.response.is_some());
        }
    };
    let mut frame = 0u64;
    while let [op, conn, arg, l0, l1, tail @ ..] = rest {
        frame += 1;
        let ts = Timestamp(i64::try_from(frame).unwrap_or(0) * 1_000_000);
        let c = usize::from(*conn % 4);
        let id = c as u64;
        let dir = if arg & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let d = usize::from(arg & 1);
        let len = usize::from(u16::from_le_bytes([*l0, *l1]));
        rest = tail;
        let ev = match op % 8 {
            0 => {
                offsets[c] = [0, 0];
                StreamEvent::Open {
                    conn: id,
                    ts,
                    frame,
                    client,
                    server,
                    kind: if arg & 2 == 0 {
                        OpenKind::Handshake
                    } else {
                        OpenKind::MidStream
                    },
                }
            }
            1..=3 => {
                let n = len.min(rest.len());
                let (bytes, next) = rest.split_at(n);
                rest = next;
                let offset = offsets[c][d];
                offsets[c][d] += n as u64;
                if bytes.is_empty() {
                    continue;
                }
                http.push(
                    &StreamEvent::Data {
                        conn: id,
                        dir,
                        ts,
                        frame,
                        offset,
                        bytes,
                    },
                    &mut sink,
                );
                continue;
            }
            4 => {
                let len = len.max(1) as u64;
                let offset = offsets[c][d];
                offsets[c][d] += len;
                StreamEvent::Gap {
                    conn: id,
                    dir,
                    ts,
                    offset,
                    len,
                }
            }
            5 => StreamEvent::Fin {
                conn: id,
                dir,
                ts,
                frame,
            },
            6 => StreamEvent::Rst {
                conn: id,
                dir,
                ts,
                frame,
            },
            _ => StreamEvent::Closed {
                conn: id,
                ts,
                reason: CloseReason::Fin,
            },
        };
        http.push(&ev, &mut sink);
    }
    for id in 0..4u64 {
        http.push(
            &StreamEvent::Closed {
                conn: id,
                ts: Timestamp(0),
                reason: CloseReason::EndOfInput,
            },
            &mut sink,
        );
    }
    assert_eq!(http.open(), 0);
    let _ = http.stats();
});
