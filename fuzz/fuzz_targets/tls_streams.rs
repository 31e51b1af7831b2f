//! The TLS stage as the pipeline drives it: `TlsStreams` over the stream events of up to four
//! connections, with key log text given before, between and after their bytes (a followed
//! key log, whose keys may come late). Checks what the HTTP stage relies on: per connection
//! and direction, data offsets only grow and nothing follows `Closed`; every connection is
//! let go once closed.
//!
//! Input: a config byte (bit 0: keys may come late, as in a live capture with `--keylog`;
//! bits 1-7: small caps when not zero), then operations `[op][length: u16 LE][bytes]`: op
//! bits 0-2 what (0 open, 1 data to the server, 2 data to the client, 3 a gap of `length`
//! bytes, 4 FIN, 5 RST, 6 close, 7 key log text), bits 3-4 the connection, bit 5 for key log
//! text: given as the input's (before the bytes) rather than as a late key.
#![no_main]
use std::collections::HashMap;
use std::net::SocketAddr;

use authscope::capture::Timestamp;
use authscope::tcp::{CloseReason, ConnId, Dir, OpenKind, StreamEvent};
use authscope::tls::{Passed, TlsConfig, TlsStreams};
use libfuzzer_sys::fuzz_target;

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (a, b) = data.split_at_checked(n)?;
    *data = b;
    Some(a)
}

#[derive(Default)]
struct Seen {
    /// Next offset each direction may deliver from.
    next: [u64; 2],
    closed: bool,
}

/// What the HTTP stage receives, checked.
fn check(seen: &mut HashMap<ConnId, Seen>, p: Passed<'_>) {
    let Passed::Stream(e) = p else {
        return;
    };
    let Some(conn) = e.conn() else {
        return;
    };
    let s = seen.entry(conn).or_default();
    assert!(!s.closed, "an event after Closed");
    match e {
        StreamEvent::Data {
            dir, offset, bytes, ..
        } => {
            let n = &mut s.next[dir as usize];
            assert!(offset >= *n, "data going back");
            *n = offset + bytes.len() as u64;
        }
        StreamEvent::Gap {
            dir, offset, len, ..
        } => {
            let n = &mut s.next[dir as usize];
            assert!(offset >= *n, "a gap going back");
            *n = offset + len;
        }
        StreamEvent::Closed { .. } => s.closed = true,
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let Some(&[cfg]) = take(&mut rest, 1) else {
        return;
    };
    let small = cfg >> 1;
    let config = if small == 0 {
        TlsConfig::default()
    } else {
        TlsConfig {
            max_handshake_bytes: usize::from(small) * 16,
            max_record_bytes: usize::from(small) * 64,
            max_alerts: 2,
            ..TlsConfig::default()
        }
    };
    let mut streams = TlsStreams::new(config);
    if cfg & 1 == 1 {
        streams.wait_for_keys();
    }
    let client: SocketAddr = ([10, 0, 0, 1], 50000).into();
    let server: SocketAddr = ([10, 0, 0, 2], 443).into();
    // Per connection: open, and the offsets the TCP stage would give each direction.
    let mut open: HashMap<ConnId, [u64; 2]> = HashMap::new();
    let mut seen: HashMap<ConnId, Seen> = HashMap::new();
    let mut frame = 0u64;
    while let Some(&[op]) = take(&mut rest, 1) {
        let Some(len) = take(&mut rest, 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        else {
            break;
        };
        let n = len.min(rest.len());
        let bytes = take(&mut rest, n).unwrap_or(&[]);
        frame += 1;
        let ts = Timestamp::from_parts(0, frame as i64 * 1000);
        let conn = ConnId::from((op >> 3) & 3);
        let ev = match op & 7 {
            0 if !open.contains_key(&conn) => {
                // A connection id is used once, as the TCP stage numbers them.
                if seen.contains_key(&conn) {
                    continue;
                }
                open.insert(conn, [0; 2]);
                StreamEvent::Open {
                    conn,
                    ts,
                    frame,
                    client,
                    server,
                    kind: OpenKind::Handshake,
                }
            }
            d @ (1 | 2) if open.contains_key(&conn) && !bytes.is_empty() => {
                let dir = if d == 1 { Dir::ToServer } else { Dir::ToClient };
                let off = &mut open.get_mut(&conn).unwrap()[dir as usize];
                let offset = *off;
                *off += bytes.len() as u64;
                StreamEvent::Data {
                    conn,
                    dir,
                    ts,
                    frame,
                    offset,
                    bytes,
                }
            }
            3 if open.contains_key(&conn) && len > 0 => {
                let dir = if op & 0x20 == 0 {
                    Dir::ToServer
                } else {
                    Dir::ToClient
                };
                let off = &mut open.get_mut(&conn).unwrap()[dir as usize];
                let offset = *off;
                *off += len as u64;
                StreamEvent::Gap {
                    conn,
                    dir,
                    ts,
                    offset,
                    len: len as u64,
                }
            }
            4 if open.contains_key(&conn) => StreamEvent::Fin {
                conn,
                dir: Dir::ToServer,
                ts,
                frame,
            },
            5 if open.contains_key(&conn) => StreamEvent::Rst {
                conn,
                dir: Dir::ToClient,
                ts,
                frame,
            },
            6 if open.contains_key(&conn) => {
                open.remove(&conn);
                StreamEvent::Closed {
                    conn,
                    ts,
                    reason: CloseReason::Fin,
                }
            }
            7 => {
                if op & 0x20 == 0 {
                    streams.add_late_key_text(bytes, &mut |p| check(&mut seen, p));
                } else {
                    streams.add_key_text(bytes);
                }
                continue;
            }
            _ => continue,
        };
        streams.push(&ev, &mut |p| check(&mut seen, p));
    }
    let ts = Timestamp::from_parts(i64::from(u32::MAX), 0);
    let mut conns: Vec<ConnId> = open.keys().copied().collect();
    conns.sort_unstable();
    for conn in conns {
        let ev = StreamEvent::Closed {
            conn,
            ts,
            reason: CloseReason::Timeout,
        };
        streams.push(&ev, &mut |p| check(&mut seen, p));
    }
    assert_eq!(streams.open(), 0, "a closed connection kept");
    let _ = (streams.stats(), streams.key_stats());
});
