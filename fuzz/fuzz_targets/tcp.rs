//! The TCP reassembler fed an arbitrary sequence of segments (three endpoints, so several
//! connections and 4-tuple reuse), idle sweeps and "not HTTP" verdicts, under small caps so
//! that every cap is hit. Checks the contract of `StreamEvent` on the way: `Open` first and
//! `Closed` last per connection, data and gaps at contiguous offsets, nothing after a `Fin`.
#![no_main]
use std::collections::HashMap;
use std::net::SocketAddr;

use arbitrary::Arbitrary;
use authscope::capture::Timestamp;
use authscope::net::{Segment, TcpFlags};
use authscope::tcp::{ConnId, Dir, StreamEvent, TcpConfig, TcpTable};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Seg {
    /// Which pair of endpoints (0..3), and which way.
    pair: u8,
    forward: bool,
    flags: u8,
    /// Sequence number relative to the sender's base, or raw when `raw_seq`.
    seq: u16,
    raw_seq: Option<u32>,
    ack: u16,
    len: u8,
    missing: u16,
    /// Capture time step in milliseconds (negative: time went backwards).
    dt: i16,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Seg(Seg),
    Expire,
    Ignore(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    max_connections: u8,
    per_conn: u16,
    total: u16,
    idle_ms: u16,
    closed_ms: u16,
    ops: Vec<Op>,
}

#[derive(Default)]
struct Check {
    open: HashMap<ConnId, ()>,
    closed: HashMap<ConnId, ()>,
    /// Connections in order of opening.
    opened: Vec<ConnId>,
    /// Next offset expected and whether a FIN was seen, per (connection, direction).
    streams: HashMap<(ConnId, Dir), (u64, bool)>,
}

impl Check {
    fn event(&mut self, ev: &StreamEvent<'_>) {
        let Some(conn) = ev.conn() else { return };
        if matches!(ev, StreamEvent::LimitHit { .. }) {
            return;
        }
        if let StreamEvent::Open { .. } = ev {
            assert!(
                self.open.insert(conn, ()).is_none(),
                "second Open of {conn}"
            );
            self.opened.push(conn);
            assert!(
                !self.closed.contains_key(&conn),
                "Open after Closed of {conn}"
            );
            return;
        }
        assert!(self.open.contains_key(&conn), "{ev:?} before Open");
        assert!(!self.closed.contains_key(&conn), "{ev:?} after Closed");
        match *ev {
            StreamEvent::Data {
                dir, offset, bytes, ..
            } => {
                let s = self.streams.entry((conn, dir)).or_default();
                assert!(!s.1, "data after FIN: {ev:?}");
                assert_eq!(s.0, offset, "data offset");
                assert!(!bytes.is_empty(), "empty data event");
                s.0 += bytes.len() as u64;
            }
            StreamEvent::Gap {
                dir, offset, len, ..
            } => {
                let s = self.streams.entry((conn, dir)).or_default();
                assert!(!s.1, "gap after FIN: {ev:?}");
                assert_eq!(s.0, offset, "gap offset");
                assert!(len > 0, "empty gap");
                s.0 += len;
            }
            StreamEvent::Fin { dir, .. } => {
                let s = self.streams.entry((conn, dir)).or_default();
                assert!(!s.1, "second FIN: {ev:?}");
                s.1 = true;
            }
            StreamEvent::Closed { .. } => {
                self.closed.insert(conn, ());
            }
            _ => {}
        }
    }
}

const HOSTS: [&str; 3] = ["10.0.0.1:50000", "10.0.0.2:80", "10.0.0.3:80"];

fuzz_target!(|input: Input| {
    let config = TcpConfig {
        max_connections: usize::from(input.max_connections % 8),
        max_buffered_per_conn: usize::from(input.per_conn),
        max_buffered_total: usize::from(input.total),
        idle_timeout_ns: i64::from(input.idle_ms) * 1_000_000,
        closed_window_ns: i64::from(input.closed_ms) * 1_000_000,
    };
    let mut table = TcpTable::new(config);
    let mut check = Check::default();
    let payload = [b'x'; 256];
    let mut ts = 1_000_000_000_000i64;
    let bases: [u32; 3] = [1_000, 0xFFFF_F000, 0x7FFF_0000];
    for (frame, op) in input.ops.iter().enumerate() {
        match op {
            Op::Seg(s) => {
                let pair = usize::from(s.pair % 3);
                let (a, b) = (pair, (pair + 1) % 3);
                let (src, dst) = if s.forward { (a, b) } else { (b, a) };
                ts = ts.saturating_add(i64::from(s.dt) * 1_000_000);
                let seg = Segment {
                    frame: frame as u64 + 1,
                    ts: Timestamp(ts),
                    src: HOSTS[src].parse::<SocketAddr>().unwrap(),
                    dst: HOSTS[dst].parse::<SocketAddr>().unwrap(),
                    seq: s
                        .raw_seq
                        .unwrap_or(bases[src].wrapping_add(u32::from(s.seq))),
                    ack: bases[dst].wrapping_add(u32::from(s.ack)),
                    flags: TcpFlags(s.flags & 0x3F),
                    window: 1000,
                    payload: &payload[..usize::from(s.len)],
                    missing: u32::from(s.missing),
                };
                table.push(&seg, &mut |ev| check.event(&ev));
            }
            Op::Expire => table.expire(Timestamp(ts), &mut |ev| check.event(&ev)),
            Op::Ignore(i) => {
                let opened = &check.opened;
                if let Some(&conn) = opened.get(usize::from(*i) % opened.len().max(1)) {
                    table.ignore_data(conn);
                }
            }
        }
    }
    table.finish(Timestamp(ts), &mut |ev| check.event(&ev));
    assert_eq!(table.open_connections(), 0);
    for conn in check.open.keys() {
        assert!(check.closed.contains_key(conn), "{conn} never closed");
    }
});
