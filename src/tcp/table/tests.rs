//! The connection table's tests: reassembly, closes, caps and numbering, by property and
//! by case.

use super::*;
use crate::net::TcpFlags;
use std::net::SocketAddr;

/// An owned copy of a [`StreamEvent`], for comparing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    Open {
        conn: ConnId,
        client: SocketAddr,
        server: SocketAddr,
        kind: OpenKind,
    },
    Data {
        conn: ConnId,
        dir: Dir,
        offset: u64,
        bytes: Vec<u8>,
    },
    Gap {
        conn: ConnId,
        dir: Dir,
        offset: u64,
        len: u64,
    },
    Fin {
        conn: ConnId,
        dir: Dir,
    },
    Rst {
        conn: ConnId,
        dir: Dir,
    },
    Closed {
        conn: ConnId,
        reason: CloseReason,
    },
    Limit {
        conn: Option<ConnId>,
        limit: Limit,
    },
}

impl Ev {
    fn of(e: StreamEvent<'_>) -> Ev {
        match e {
            StreamEvent::Open {
                conn,
                client,
                server,
                kind,
                ..
            } => Ev::Open {
                conn,
                client,
                server,
                kind,
            },
            StreamEvent::Data {
                conn,
                dir,
                offset,
                bytes,
                ..
            } => Ev::Data {
                conn,
                dir,
                offset,
                bytes: bytes.to_vec(),
            },
            StreamEvent::Gap {
                conn,
                dir,
                offset,
                len,
                ..
            } => Ev::Gap {
                conn,
                dir,
                offset,
                len,
            },
            StreamEvent::Fin { conn, dir, .. } => Ev::Fin { conn, dir },
            StreamEvent::Rst { conn, dir, .. } => Ev::Rst { conn, dir },
            StreamEvent::Closed { conn, reason, .. } => Ev::Closed { conn, reason },
            StreamEvent::LimitHit { conn, limit, .. } => Ev::Limit { conn, limit },
        }
    }
}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Flags from tcpdump-like letters: S, A, F, R, P.
fn flags(s: &str) -> TcpFlags {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'A' => TcpFlags::ACK,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            _ => panic!("flag {c}"),
        };
    }
    TcpFlags(f)
}

/// A trace: packets in, owned events out; time advances 1 ms per packet.
pub(crate) struct Trace {
    pub table: TcpTable,
    pub events: Vec<Ev>,
    frame: u64,
    pub ts: i64,
}

impl Trace {
    pub fn new() -> Self {
        Self::with(TcpConfig::default())
    }

    pub fn with(config: TcpConfig) -> Self {
        Trace {
            table: TcpTable::new(config),
            events: Vec::new(),
            frame: 0,
            ts: 1_000_000_000,
        }
    }

    /// A trace whose table keeps at most `n` connections (open, and closed apart).
    pub fn capped(n: usize) -> Self {
        Trace::with(TcpConfig {
            max_connections: n,
            ..TcpConfig::default()
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn send_missing(
        &mut self,
        from: &str,
        to: &str,
        fl: &str,
        seq: u32,
        ack: u32,
        payload: &[u8],
        missing: u32,
    ) {
        self.frame += 1;
        self.ts += 1_000_000;
        let seg = Segment {
            frame: self.frame,
            ts: Timestamp(self.ts),
            src: addr(from),
            dst: addr(to),
            seq,
            ack,
            flags: flags(fl),
            window: 1000,
            payload,
            missing,
        };
        let events = &mut self.events;
        self.table.push(&seg, &mut |e| events.push(Ev::of(e)));
    }

    pub fn send(&mut self, from: &str, to: &str, fl: &str, seq: u32, ack: u32, payload: &[u8]) {
        self.send_missing(from, to, fl, seq, ack, payload, 0);
    }

    pub fn finish(&mut self) {
        let events = &mut self.events;
        self.table
            .finish(Timestamp(self.ts), &mut |e| events.push(Ev::of(e)));
    }

    pub fn expire_at(&mut self, ts: i64) {
        let events = &mut self.events;
        self.table
            .expire(Timestamp(ts), &mut |e| events.push(Ev::of(e)));
    }

    /// Every event of `conn` but its data, in order.
    pub fn control(&self, conn: ConnId) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|e| ev_conn(e) == Some(conn) && !matches!(e, Ev::Data { .. }))
            .cloned()
            .collect()
    }

    /// Bytes delivered for `conn` in `dir`, checking offsets are contiguous (gaps count).
    pub fn bytes(&self, conn: ConnId, dir: Dir) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0u64;
        for e in &self.events {
            match e {
                Ev::Data {
                    conn: c,
                    dir: d,
                    offset,
                    bytes,
                } if *c == conn && *d == dir => {
                    assert_eq!(*offset, at, "data offset");
                    at += bytes.len() as u64;
                    out.extend_from_slice(bytes);
                }
                Ev::Gap {
                    conn: c,
                    dir: d,
                    offset,
                    len,
                } if *c == conn && *d == dir => {
                    assert_eq!(*offset, at, "gap offset");
                    at += len;
                }
                _ => {}
            }
        }
        out
    }

    pub fn gaps(&self) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|e| matches!(e, Ev::Gap { .. }))
            .cloned()
            .collect()
    }

    /// Open first, Closed last, nothing after Closed, for every connection.
    pub fn check_invariants(&self) {
        use std::collections::HashMap as Map;
        let mut state: Map<ConnId, u8> = Map::new(); // 1 open, 2 closed
        for e in &self.events {
            let Some(c) = ev_conn(e) else { continue };
            let s = state.get(&c).copied().unwrap_or(0);
            match e {
                Ev::Open { .. } => {
                    assert_eq!(s, 0, "second Open for {c}");
                    state.insert(c, 1);
                }
                Ev::Closed { .. } => {
                    assert_eq!(s, 1, "Closed without Open or twice for {c}");
                    state.insert(c, 2);
                }
                _ => assert_eq!(s, 1, "{e:?} outside Open..Closed"),
            }
        }
    }
}

fn ev_conn(e: &Ev) -> Option<ConnId> {
    match *e {
        Ev::Open { conn, .. }
        | Ev::Data { conn, .. }
        | Ev::Gap { conn, .. }
        | Ev::Fin { conn, .. }
        | Ev::Rst { conn, .. }
        | Ev::Closed { conn, .. } => Some(conn),
        Ev::Limit { conn, .. } => conn,
    }
}

const C: &str = "10.0.0.1:50000";
const S: &str = "10.0.0.2:80";
const CISN: u32 = 1000;
const SISN: u32 = 5000;

/// SYN, SYN-ACK, ACK between C and S.
fn handshake(t: &mut Trace) {
    t.send(C, S, "S", CISN, 0, b"");
    t.send(S, C, "SA", SISN, CISN + 1, b"");
    t.send(C, S, "A", CISN + 1, SISN + 1, b"");
}

fn data(conn: ConnId, dir: Dir, offset: u64, bytes: &[u8]) -> Ev {
    Ev::Data {
        conn,
        dir,
        offset,
        bytes: bytes.to_vec(),
    }
}

#[test]
fn handshake_data_fins_close() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"GET / HTTP/1.1\r\n\r\n");
    t.send(S, C, "PA", SISN + 1, CISN + 19, b"HTTP/1.1 200 OK\r\n\r\n");
    t.send(C, S, "FA", CISN + 19, SISN + 20, b"");
    t.send(S, C, "FA", SISN + 20, CISN + 20, b"");
    t.send(C, S, "A", CISN + 20, SISN + 21, b"");
    t.check_invariants();
    assert_eq!(
        t.events,
        vec![
            Ev::Open {
                conn: 0,
                client: addr(C),
                server: addr(S),
                kind: OpenKind::Handshake
            },
            data(0, Dir::ToServer, 0, b"GET / HTTP/1.1\r\n\r\n"),
            data(0, Dir::ToClient, 0, b"HTTP/1.1 200 OK\r\n\r\n"),
            Ev::Fin {
                conn: 0,
                dir: Dir::ToServer
            },
            Ev::Fin {
                conn: 0,
                dir: Dir::ToClient
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::Fin
            },
        ]
    );
    // The last ACK belongs to the closed connection: no new one.
    assert_eq!(t.table.stats().connections, 1);
    assert_eq!(t.table.open_connections(), 0);
    assert_eq!(t.table.stats().bytes_delivered, 37);
    assert_eq!(t.table.stats().segments, 8);
}

#[test]
fn syn_ack_sender_is_the_server() {
    let mut t = Trace::new();
    t.send(S, C, "SA", SISN, CISN + 1, b"");
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"hi");
    t.check_invariants();
    assert_eq!(
        t.events[0],
        Ev::Open {
            conn: 0,
            client: addr(C),
            server: addr(S),
            kind: OpenKind::Handshake
        }
    );
    assert_eq!(t.events[1], data(0, Dir::ToServer, 0, b"hi"));
}

#[test]
fn syn_with_high_port_is_still_the_client() {
    let mut t = Trace::new();
    // The SYN's sender is the client whatever the ports.
    t.send(S, C, "S", 7, 0, b"");
    assert_eq!(
        t.events[0],
        Ev::Open {
            conn: 0,
            client: addr(S),
            server: addr(C),
            kind: OpenKind::Handshake
        }
    );
}

#[test]
fn sequence_wraps_around() {
    let mut t = Trace::new();
    let isn = u32::MAX - 2;
    t.send(C, S, "S", isn, 0, b"");
    t.send(S, C, "SA", SISN, isn.wrapping_add(1), b"");
    // Data from MAX-1: 4 bytes cross the wrap; the next segment comes first.
    t.send(C, S, "PA", isn.wrapping_add(5), SISN + 1, b"efgh");
    t.send(C, S, "PA", isn.wrapping_add(1), SISN + 1, b"abcd");
    t.send(C, S, "PA", isn.wrapping_add(9), SISN + 1, b"ij");
    t.send(C, S, "FA", isn.wrapping_add(11), SISN + 1, b"");
    t.finish();
    t.check_invariants();
    assert_eq!(t.bytes(0, Dir::ToServer), b"abcdefghij");
    assert!(t.gaps().is_empty());
    assert!(t.control(0).contains(&Ev::Fin {
        conn: 0,
        dir: Dir::ToServer
    }));
    assert_eq!(t.table.stats().out_of_order_segments, 1);
}

#[test]
fn mid_stream_pickup_guesses_server_by_port() {
    let mut t = Trace::new();
    t.send(S, C, "PA", 777_000, 1, b"tail of a response");
    t.send(C, S, "PA", 1, 777_018, b"GET /next");
    t.check_invariants();
    assert_eq!(
        t.events[0],
        Ev::Open {
            conn: 0,
            client: addr(C),
            server: addr(S),
            kind: OpenKind::MidStream
        }
    );
    assert_eq!(t.bytes(0, Dir::ToClient), b"tail of a response");
    assert_eq!(t.bytes(0, Dir::ToServer), b"GET /next");
}

#[test]
fn mid_stream_equal_ports_destination_is_server() {
    let mut t = Trace::new();
    t.send("10.0.0.9:445", "10.0.0.1:445", "A", 5, 5, b"x");
    assert_eq!(
        t.events[0],
        Ev::Open {
            conn: 0,
            client: addr("10.0.0.9:445"),
            server: addr("10.0.0.1:445"),
            kind: OpenKind::MidStream
        }
    );
}

#[test]
fn tuple_reused_after_fin_is_a_new_connection() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "FA", CISN + 1, SISN + 1, b"");
    t.send(S, C, "FA", SISN + 1, CISN + 2, b"");
    t.send(C, S, "A", CISN + 2, SISN + 2, b"");
    // A late copy of the old SYN stays with the closed connection.
    t.send(C, S, "S", CISN, 0, b"");
    assert_eq!(t.table.stats().connections, 1);
    // A SYN with a new ISN: new connection.
    t.send(C, S, "S", 90_000, 0, b"");
    t.send(S, C, "SA", 12, 90_001, b"");
    t.send(C, S, "PA", 90_001, 13, b"again");
    t.finish();
    t.check_invariants();
    assert_eq!(t.table.stats().connections, 2);
    assert_eq!(
        t.control(0).last(),
        Some(&Ev::Closed {
            conn: 0,
            reason: CloseReason::Fin
        })
    );
    assert_eq!(t.bytes(1, Dir::ToServer), b"again");
    assert_eq!(
        t.control(1).last(),
        Some(&Ev::Closed {
            conn: 1,
            reason: CloseReason::EndOfInput
        })
    );
}

#[test]
fn tuple_reused_after_rst_is_a_new_connection() {
    let mut t = Trace::new();
    t.send(C, S, "S", CISN, 0, b"");
    t.send(S, C, "RA", 0, CISN + 1, b"");
    // The client retries with the same ISN: same connection (Wireshark: retransmission).
    t.send(C, S, "S", CISN, 0, b"");
    t.send(S, C, "RA", 0, CISN + 1, b"");
    assert_eq!(t.table.stats().connections, 1);
    t.send(C, S, "S", CISN + 777, 0, b"");
    t.check_invariants();
    assert_eq!(t.table.stats().connections, 2);
    assert_eq!(
        t.control(0),
        vec![
            Ev::Open {
                conn: 0,
                client: addr(C),
                server: addr(S),
                kind: OpenKind::Handshake
            },
            Ev::Rst {
                conn: 0,
                dir: Dir::ToClient
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::Rst
            },
        ]
    );
}

#[test]
fn new_isn_on_open_tuple_replaces_the_connection() {
    let mut t = Trace::new();
    t.send(C, S, "S", CISN, 0, b"");
    t.send(C, S, "S", CISN, 0, b""); // retransmitted SYN: same connection
    assert_eq!(t.table.stats().connections, 1);
    t.send(C, S, "S", CISN + 50_000, 0, b"");
    t.check_invariants();
    assert_eq!(t.table.stats().connections, 2);
    assert_eq!(
        t.control(0).last(),
        Some(&Ev::Closed {
            conn: 0,
            reason: CloseReason::Reused
        })
    );
    assert_eq!(t.table.open_connections(), 1);
}

#[test]
fn lone_rst_and_lone_ack_are_connections() {
    let mut t = Trace::new();
    t.send(S, C, "R", 9, 0, b"");
    t.send(S, C, "A", 9, 0, b""); // after the RST: same (closed) connection
    t.send("10.0.0.3:1234", S, "A", 1, 1, b"");
    t.finish();
    t.check_invariants();
    assert_eq!(t.table.stats().connections, 2);
    assert_eq!(
        t.control(0),
        vec![
            Ev::Open {
                conn: 0,
                client: addr(C),
                server: addr(S),
                kind: OpenKind::MidStream
            },
            Ev::Rst {
                conn: 0,
                dir: Dir::ToClient
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::Rst
            },
        ]
    );
    assert_eq!(
        t.control(1).last(),
        Some(&Ev::Closed {
            conn: 1,
            reason: CloseReason::EndOfInput
        })
    );
}

#[test]
fn retransmission_is_delivered_once() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"hello");
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"hello");
    t.send(C, S, "PA", CISN + 6, SISN + 1, b" world");
    t.finish();
    t.check_invariants();
    assert_eq!(t.bytes(0, Dir::ToServer), b"hello world");
    assert_eq!(t.table.stats().retransmitted_bytes, 5);
}

#[test]
fn overlap_first_bytes_seen_win() {
    let mut t = Trace::new();
    handshake(&mut t);
    // In order, then an overlapping copy with different bytes.
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"0123456789");
    t.send(C, S, "PA", CISN + 6, SISN + 1, b"XXXXXabcde");
    // Out of order: held [20, 30), then a copy covering [15, 35) with different bytes.
    t.send(C, S, "PA", CISN + 21, SISN + 1, b"KLMNOPQRST");
    t.send(C, S, "PA", CISN + 16, SISN + 1, b"fghijyyyyyyyyyyuvwxy");
    t.finish();
    t.check_invariants();
    assert_eq!(
        t.bytes(0, Dir::ToServer),
        b"0123456789abcdefghijKLMNOPQRSTuvwxy"
    );
    assert_eq!(t.table.stats().retransmitted_bytes, 5 + 10);
    assert!(t.gaps().is_empty());
}

#[test]
fn hole_filled_later() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
    t.send(C, S, "PA", CISN + 16, SISN + 1, b"ddddd");
    let before = t.events.len();
    t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
    t.check_invariants();
    assert_eq!(
        t.events[before..],
        [
            data(0, Dir::ToServer, 5, b"bbbbb"),
            data(0, Dir::ToServer, 10, b"ccccc"),
            data(0, Dir::ToServer, 15, b"ddddd")
        ]
    );
    assert_eq!(t.table.stats().out_of_order_segments, 2);
    assert_eq!(t.table.stats().peak_buffered_bytes, 10);
}

#[test]
fn hole_never_filled_is_a_gap_at_finish() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
    t.finish();
    t.check_invariants();
    assert_eq!(
        t.control(0)[1..],
        [
            Ev::Gap {
                conn: 0,
                dir: Dir::ToServer,
                offset: 5,
                len: 5
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::EndOfInput
            }
        ]
    );
    assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaaccccc");
    assert_eq!(t.table.stats().gaps, 1);
    assert_eq!(t.table.stats().gap_bytes, 5);
}

#[test]
fn ack_beyond_hole_is_a_gap_at_once() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
    // The server acknowledges up to the hole only: nothing yet.
    t.send(S, C, "A", SISN + 1, CISN + 6, b"");
    assert!(t.gaps().is_empty());
    // Past the hole: the capture lost it.
    t.send(S, C, "A", SISN + 1, CISN + 16, b"");
    t.check_invariants();
    assert_eq!(
        t.gaps(),
        vec![Ev::Gap {
            conn: 0,
            dir: Dir::ToServer,
            offset: 5,
            len: 5
        }]
    );
    assert_eq!(t.events.last(), Some(&data(0, Dir::ToServer, 10, b"ccccc")));
    // Retransmission of the lost bytes after the gap: dropped.
    t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
    assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaaccccc");
}

#[test]
fn fin_waits_for_the_hole() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "FPA", CISN + 11, SISN + 1, b"ccccc");
    assert!(!t.events.contains(&Ev::Fin {
        conn: 0,
        dir: Dir::ToServer
    }));
    t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
    assert_eq!(
        t.events.last(),
        Some(&Ev::Fin {
            conn: 0,
            dir: Dir::ToServer
        })
    );
    assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaabbbbbccccc");
}

#[test]
fn fin_behind_a_hole_released_by_the_ack_of_the_fin() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "FA", CISN + 11, SISN + 1, b"");
    t.send(S, C, "FA", SISN + 1, CISN + 12, b"");
    t.check_invariants();
    assert_eq!(
        t.control(0)[1..],
        [
            Ev::Gap {
                conn: 0,
                dir: Dir::ToServer,
                offset: 5,
                len: 5
            },
            Ev::Fin {
                conn: 0,
                dir: Dir::ToServer
            },
            Ev::Fin {
                conn: 0,
                dir: Dir::ToClient
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::Fin
            },
        ]
    );
}

#[test]
fn rst_delivers_what_is_held_then_records_the_sender() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
    t.send(S, C, "R", SISN + 1, 0, b"");
    t.check_invariants();
    assert_eq!(
        t.events[1..],
        [
            data(0, Dir::ToServer, 0, b"aaaaa"),
            Ev::Gap {
                conn: 0,
                dir: Dir::ToServer,
                offset: 5,
                len: 5
            },
            data(0, Dir::ToServer, 10, b"ccccc"),
            Ev::Rst {
                conn: 0,
                dir: Dir::ToClient
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::Rst
            },
        ]
    );
    // Packets after the RST stay with the closed connection.
    t.send(C, S, "PA", CISN + 16, SISN + 1, b"more");
    assert_eq!(t.table.stats().connections, 1);
    t.check_invariants();
}

#[test]
fn a_closed_tuple_is_remembered_for_the_closed_window_after_its_last_packet() {
    let mut t = Trace::new();
    let window = TcpConfig::default().closed_window_ns;
    assert_eq!(window, 10_000_000_000);
    handshake(&mut t);
    t.send(C, S, "R", CISN + 1, 0, b"");
    // Late copies, each within the window of the one before, stay with the closed
    // connection however long the whole takes (retransmissions back off).
    for _ in 0..3 {
        t.ts += window - 1_000_000_000;
        t.expire_at(t.ts);
        t.send(S, C, "PA", SISN + 1, CISN + 1, b"late");
        assert_eq!(t.table.stats().connections, 1);
    }
    // Past the window it is forgotten: the next packet starts a mid-stream connection,
    // the idle timeout (600 s) notwithstanding.
    t.ts += window + 1;
    t.expire_at(t.ts);
    t.send(S, C, "PA", SISN + 5, CISN + 1, b"later");
    assert_eq!(t.table.stats().connections, 2);
    assert_eq!(t.table.stats().forgotten_closed, 0);
    t.check_invariants();
}

#[test]
fn bytes_cut_by_snaplen_are_a_gap_after_the_payload() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send_missing(C, S, "PA", CISN + 1, SISN + 1, b"abc", 7);
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"next");
    t.check_invariants();
    assert_eq!(
        t.events[1..],
        [
            data(0, Dir::ToServer, 0, b"abc"),
            Ev::Gap {
                conn: 0,
                dir: Dir::ToServer,
                offset: 3,
                len: 7
            },
            data(0, Dir::ToServer, 10, b"next"),
        ]
    );
}

#[test]
fn connection_buffer_cap_gives_up_on_the_hole() {
    let config = TcpConfig {
        max_buffered_per_conn: 10,
        ..TcpConfig::default()
    };
    let mut t = Trace::with(config);
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"cccccccccc"); // [10, 20): at the cap
    let before = t.events.len();
    t.send(C, S, "PA", CISN + 31, SISN + 1, b"eeeee"); // [30, 35): over it
    t.check_invariants();
    assert_eq!(
        t.events[before..],
        [
            Ev::Limit {
                conn: Some(0),
                limit: Limit::ConnectionBuffer
            },
            Ev::Gap {
                conn: 0,
                dir: Dir::ToServer,
                offset: 5,
                len: 5
            },
            data(0, Dir::ToServer, 10, b"cccccccccc"),
            Ev::Gap {
                conn: 0,
                dir: Dir::ToServer,
                offset: 20,
                len: 10
            },
            data(0, Dir::ToServer, 30, b"eeeee"),
        ]
    );
    assert_eq!(t.table.stats().buffer_limit_hits, 1);
    assert_eq!(t.table.stats().peak_buffered_bytes, 10);
    // A late copy of the hole is a retransmission now.
    t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
    assert_eq!(t.table.stats().retransmitted_bytes, 5);
}

#[test]
fn total_buffer_cap_is_shared() {
    let config = TcpConfig {
        max_buffered_total: 8,
        ..TcpConfig::default()
    };
    let mut t = Trace::with(config);
    let d = "10.0.0.3:50001";
    t.send(C, S, "S", CISN, 0, b"");
    t.send(d, S, "S", 1, 0, b"");
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"xxxxx"); // held: 5
    t.send(d, S, "PA", 12, SISN + 1, b"yyyyy"); // 10 > 8: refused
    t.check_invariants();
    assert!(t.events.contains(&Ev::Limit {
        conn: Some(1),
        limit: Limit::TotalBuffer
    }));
    assert_eq!(t.bytes(1, Dir::ToServer), b"yyyyy");
    assert_eq!(
        t.gaps(),
        vec![Ev::Gap {
            conn: 1,
            dir: Dir::ToServer,
            offset: 0,
            len: 10
        }]
    );
}

#[test]
fn open_connection_cap_evicts_least_recently_active() {
    let mut t = Trace::capped(2);
    t.send("10.0.0.1:1000", S, "S", 1, 0, b"");
    t.send("10.0.0.1:1001", S, "S", 1, 0, b"");
    t.send("10.0.0.1:1000", S, "A", 2, 1, b""); // conn 0 active again
    t.send("10.0.0.1:1002", S, "S", 1, 0, b"");
    t.check_invariants();
    assert_eq!(t.table.open_connections(), 2);
    assert_eq!(
        t.control(1)[1..],
        [
            Ev::Limit {
                conn: Some(1),
                limit: Limit::OpenConnections
            },
            Ev::Closed {
                conn: 1,
                reason: CloseReason::Evicted
            }
        ]
    );
    assert_eq!(t.table.stats().evicted_connections, 1);
    assert_eq!(t.table.stats().peak_open_connections, 2);
}

#[test]
fn closed_tuples_past_the_cap_are_forgotten_and_counted() {
    let mut t = Trace::capped(2);
    for port in ["10.0.0.1:1000", "10.0.0.1:1001", "10.0.0.1:1002"] {
        t.send(port, S, "S", 1, 0, b"");
        t.send(port, S, "R", 2, 0, b"");
    }
    t.check_invariants();
    assert_eq!(t.table.stats().forgotten_closed, 1);
    assert_eq!(t.table.stats().evicted_connections, 0);
    // The first was forgotten: a late packet on it opens a new connection; the second is
    // still known.
    t.send("10.0.0.1:1001", S, "A", 2, 0, b"");
    assert_eq!(t.table.stats().connections, 3);
    t.send("10.0.0.1:1000", S, "A", 2, 0, b"");
    assert_eq!(t.table.stats().connections, 4);
}

#[test]
fn the_closed_tuples_forgotten_are_those_seen_longest_ago() {
    let mut t = Trace::capped(16);
    let port = |i: usize| format!("10.0.0.1:{}", 1000 + i);
    for i in 0..16 {
        t.send(&port(i), S, "S", 1, 0, b"");
        t.send(&port(i), S, "R", 2, 0, b"");
    }
    // A late packet on the first: now seen after all the others.
    t.send(&port(0), S, "A", 2, 0, b"");
    assert_eq!(t.table.stats().connections, 16);
    // The cap is reached: an eighth (two) go, the oldest by their last packet.
    t.send(&port(16), S, "S", 1, 0, b"");
    t.send(&port(16), S, "R", 2, 0, b"");
    assert_eq!(t.table.stats().forgotten_closed, 2);
    assert_eq!(t.table.closed.len(), 15);
    t.check_invariants();
    for i in [0, 3, 15] {
        t.send(&port(i), S, "A", 2, 0, b"");
    }
    assert_eq!(
        t.table.stats().connections,
        17,
        "0, 3 and 15 are still known"
    );
    t.send(&port(1), S, "A", 2, 0, b"");
    t.send(&port(2), S, "A", 2, 0, b"");
    assert_eq!(t.table.stats().connections, 19, "1 and 2 were forgotten");
}

#[test]
fn ignore_data_frees_buffers_and_keeps_control_events() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "PA", CISN + 11, SISN + 1, b"ccccc");
    t.table.ignore_data(0);
    t.send(C, S, "PA", CISN + 6, SISN + 1, b"bbbbb");
    t.send(S, C, "PA", SISN + 1, CISN + 16, b"response");
    t.send(C, S, "FA", CISN + 16, SISN + 9, b"");
    t.send(S, C, "FA", SISN + 9, CISN + 17, b"");
    t.check_invariants();
    assert_eq!(t.bytes(0, Dir::ToServer), b"aaaaa");
    assert_eq!(t.bytes(0, Dir::ToClient), b"");
    assert_eq!(
        t.control(0)[1..],
        [
            Ev::Fin {
                conn: 0,
                dir: Dir::ToServer
            },
            Ev::Fin {
                conn: 0,
                dir: Dir::ToClient
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::Fin
            }
        ]
    );
    assert_eq!(t.table.held, 0);
}

#[test]
fn ignore_data_releases_a_fin_waiting_behind_a_hole() {
    let mut t = Trace::new();
    handshake(&mut t);
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"aaaaa");
    t.send(C, S, "FPA", CISN + 11, SISN + 1, b"ccccc");
    t.table.ignore_data(0);
    assert_eq!(t.table.held, 0);
    t.send(S, C, "FA", SISN + 1, CISN + 6, b"");
    t.check_invariants();
    assert_eq!(
        t.control(0)[1..],
        [
            Ev::Fin {
                conn: 0,
                dir: Dir::ToServer
            },
            Ev::Fin {
                conn: 0,
                dir: Dir::ToClient
            },
            Ev::Closed {
                conn: 0,
                reason: CloseReason::Fin
            }
        ]
    );
}

#[test]
fn idle_connection_times_out() {
    let config = TcpConfig {
        idle_timeout_ns: 10_000_000_000,
        ..TcpConfig::default()
    };
    let mut t = Trace::with(config);
    handshake(&mut t);
    t.send("10.0.0.3:1", S, "S", 1, 0, b"");
    let last = t.ts;
    t.expire_at(last + 5_000_000_000);
    assert_eq!(t.table.open_connections(), 2);
    // Keep conn 1 alive; conn 0 goes idle.
    t.ts = last + 8_000_000_000;
    t.send("10.0.0.3:1", S, "A", 2, 1, b"");
    t.expire_at(last + 12_000_000_000);
    t.check_invariants();
    assert_eq!(
        t.control(0).last(),
        Some(&Ev::Closed {
            conn: 0,
            reason: CloseReason::Timeout
        })
    );
    assert_eq!(t.table.open_connections(), 1);
    assert_eq!(t.table.stats().timeouts, 1);
    // A packet on the timed-out tuple: a new, mid-stream connection.
    t.send(C, S, "PA", CISN + 1, SISN + 1, b"late");
    t.finish();
    t.check_invariants();
    assert_eq!(
        t.events
            .iter()
            .filter(|e| matches!(
                e,
                Ev::Open {
                    kind: OpenKind::MidStream,
                    ..
                }
            ))
            .count(),
        1
    );
    assert_eq!(t.table.stats().connections, 3);
}

#[test]
fn finish_closes_in_id_order() {
    let mut t = Trace::new();
    for port in [3000, 1000, 2000, 4000] {
        t.send(&format!("10.0.0.1:{port}"), S, "S", 1, 0, b"");
    }
    t.finish();
    t.check_invariants();
    let closed: Vec<ConnId> = t
        .events
        .iter()
        .filter_map(|e| {
            if let Ev::Closed { conn, .. } = e {
                Some(*conn)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(closed, vec![0, 1, 2, 3]);
    assert_eq!(t.table.open_connections(), 0);
}

#[test]
fn closed_tuple_memory_is_bounded() {
    let mut t = Trace::capped(3);
    for i in 0..50u32 {
        t.send(C, S, "S", i * 1000, 0, b"");
        t.send(S, C, "RA", 0, i * 1000 + 1, b"");
    }
    t.check_invariants();
    assert_eq!(t.table.stats().connections, 50);
    assert!(t.table.closed.len() <= 3);
}

/// Rough speed of the in-order path: `cargo test --release --lib throughput -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn throughput_in_order() {
    let mut table = TcpTable::new(TcpConfig::default());
    let payload = vec![b'x'; 1448];
    let conns: Vec<(SocketAddr, SocketAddr)> = (0..64u16)
        .map(|i| {
            (
                addr(&format!("10.0.{}.{}:{}", i / 200, i % 200, 40000 + i)),
                addr(S),
            )
        })
        .collect();
    let mut seqs = vec![1000u32; conns.len()];
    let mut delivered = 0u64;
    let mut sink = |e: StreamEvent<'_>| {
        if let StreamEvent::Data { bytes, .. } = e {
            delivered += bytes.len() as u64;
        }
    };
    let n = 2_000_000u64;
    let start = std::time::Instant::now();
    for i in 0..n {
        let c = (i % conns.len() as u64) as usize;
        let (src, dst) = conns[c];
        let seg = Segment {
            frame: i,
            ts: Timestamp(i as i64 * 1000),
            src,
            dst,
            seq: seqs[c],
            ack: 1,
            flags: TcpFlags(TcpFlags::ACK | TcpFlags::PSH),
            window: 1000,
            payload: &payload,
            missing: 0,
        };
        seqs[c] = seqs[c].wrapping_add(1448);
        table.push(&seg, &mut sink);
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = n * 1448;
    eprintln!(
        "{n} segments, {:.0} ns/segment, {:.2} GB/s, delivered {delivered}",
        secs * 1e9 / n as f64,
        bytes as f64 / secs / 1e9
    );
    assert_eq!(delivered, bytes);
}

/// Property tests: segmentation, reordering and duplication do not change what is
/// delivered; a lost segment is exactly one gap.
mod props {
    use super::*;
    use proptest::prelude::*;

    /// A tiny deterministic generator driven by a proptest seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            if n == 0 {
                0
            } else {
                self.next() % n
            }
        }
        fn one_in(&mut self, n: u64) -> bool {
            self.below(n) == 0
        }
    }

    #[derive(Debug, Clone)]
    struct Pkt {
        from_client: bool,
        flags: &'static str,
        seq: u32,
        ack: u32,
        payload: Vec<u8>,
        /// (direction is client, index in the primary segmentation) for data segments.
        id: Option<(bool, usize)>,
    }

    /// Cuts `bytes` into segments by `sizes` (cyclically): (offset, bytes).
    fn segment(bytes: &[u8], sizes: &[usize]) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < bytes.len() {
            let n = sizes[i % sizes.len()].max(1).min(bytes.len() - at);
            out.push((at, bytes[at..at + n].to_vec()));
            at += n;
            i += 1;
        }
        out
    }

    #[derive(Debug)]
    struct Case {
        client: Vec<u8>,
        server: Vec<u8>,
        cisn: u32,
        sisn: u32,
        cuts_c: Vec<(usize, Vec<u8>)>,
        cuts_s: Vec<(usize, Vec<u8>)>,
    }

    impl Case {
        fn data_pkt(&self, from_client: bool, i: usize, off: usize, bytes: &[u8]) -> Pkt {
            let (isn, peer) = if from_client {
                (self.cisn, self.sisn)
            } else {
                (self.sisn, self.cisn)
            };
            Pkt {
                from_client,
                flags: "PA",
                seq: isn.wrapping_add(1).wrapping_add(off as u32),
                // Acknowledges nothing: no gap may come from an ACK here.
                ack: peer.wrapping_add(1),
                payload: bytes.to_vec(),
                id: Some((from_client, i)),
            }
        }

        /// Handshake first, then data, FINs, copies and re-cut copies in a shuffled order.
        fn packets(&self, rng: &mut Rng, recut: bool) -> Vec<Pkt> {
            let mut body = Vec::new();
            for (from_client, cuts) in [(true, &self.cuts_c), (false, &self.cuts_s)] {
                for (i, (off, bytes)) in cuts.iter().enumerate() {
                    body.push(self.data_pkt(from_client, i, *off, bytes));
                }
                let (isn, peer, len) = if from_client {
                    (self.cisn, self.sisn, self.client.len())
                } else {
                    (self.sisn, self.cisn, self.server.len())
                };
                body.push(Pkt {
                    from_client,
                    flags: "FA",
                    seq: isn.wrapping_add(1).wrapping_add(len as u32),
                    ack: peer.wrapping_add(1),
                    payload: Vec::new(),
                    id: None,
                });
                if recut {
                    // Retransmissions cut differently, overlapping the first cut.
                    let src = if from_client {
                        &self.client
                    } else {
                        &self.server
                    };
                    let sizes: Vec<usize> = (0..8).map(|_| 1 + rng.below(90) as usize).collect();
                    for (off, bytes) in segment(src, &sizes) {
                        if rng.one_in(3) {
                            let mut p = self.data_pkt(from_client, 0, off, &bytes);
                            p.id = None;
                            body.push(p);
                        }
                    }
                }
            }
            // Copies (retransmissions of whole segments), and a retransmitted SYN.
            let n = body.len();
            for i in 0..n {
                if rng.one_in(4) {
                    body.push(body[i].clone());
                }
            }
            if rng.one_in(2) {
                body.push(Pkt {
                    from_client: true,
                    flags: "S",
                    seq: self.cisn,
                    ack: 0,
                    payload: Vec::new(),
                    id: None,
                });
            }
            // Fisher-Yates.
            for i in (1..body.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                body.swap(i, j);
            }
            let mut all = vec![
                Pkt {
                    from_client: true,
                    flags: "S",
                    seq: self.cisn,
                    ack: 0,
                    payload: Vec::new(),
                    id: None,
                },
                Pkt {
                    from_client: false,
                    flags: "SA",
                    seq: self.sisn,
                    ack: self.cisn.wrapping_add(1),
                    payload: Vec::new(),
                    id: None,
                },
            ];
            all.extend(body);
            all
        }
    }

    fn run(pkts: &[Pkt]) -> Trace {
        let mut t = Trace::new();
        for p in pkts {
            let (from, to) = if p.from_client { (C, S) } else { (S, C) };
            t.send(from, to, p.flags, p.seq, p.ack, &p.payload);
        }
        t.finish();
        t.check_invariants();
        t
    }

    fn isn() -> impl Strategy<Value = u32> {
        prop_oneof![any::<u32>(), (u32::MAX - 1500)..=u32::MAX]
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            proptest::collection::vec(any::<u8>(), 0..700),
            proptest::collection::vec(any::<u8>(), 0..700),
            isn(),
            isn(),
            proptest::collection::vec(1usize..120, 1..12),
            proptest::collection::vec(1usize..120, 1..12),
        )
            .prop_map(|(client, server, cisn, sisn, sc, ss)| Case {
                cuts_c: segment(&client, &sc),
                cuts_s: segment(&server, &ss),
                client,
                server,
                cisn,
                sisn,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn any_cut_order_and_copies_deliver_the_same_bytes(case in case(), seed in 1u64..) {
            let mut rng = Rng(seed);
            let pkts = case.packets(&mut rng, true);
            let t = run(&pkts);
            prop_assert_eq!(t.table.stats().connections, 1);
            prop_assert_eq!(t.bytes(0, Dir::ToServer), case.client.clone());
            prop_assert_eq!(t.bytes(0, Dir::ToClient), case.server.clone());
            prop_assert!(t.gaps().is_empty());
            prop_assert_eq!(
                t.control(0)[1..].to_vec(),
                if t.control(0)[1] == (Ev::Fin { conn: 0, dir: Dir::ToServer }) {
                    vec![
                        Ev::Fin { conn: 0, dir: Dir::ToServer },
                        Ev::Fin { conn: 0, dir: Dir::ToClient },
                        Ev::Closed { conn: 0, reason: CloseReason::Fin },
                    ]
                } else {
                    vec![
                        Ev::Fin { conn: 0, dir: Dir::ToClient },
                        Ev::Fin { conn: 0, dir: Dir::ToServer },
                        Ev::Closed { conn: 0, reason: CloseReason::Fin },
                    ]
                }
            );
            prop_assert_eq!(t.table.held, 0);
        }

        #[test]
        fn a_lost_segment_is_exactly_one_gap(case in case(), seed in 1u64.., client_side: bool, pick: usize) {
            let (cuts, src, dir) = if client_side {
                (&case.cuts_c, &case.client, Dir::ToServer)
            } else {
                (&case.cuts_s, &case.server, Dir::ToClient)
            };
            prop_assume!(!cuts.is_empty());
            let lost = pick % cuts.len();
            let (off, bytes) = &cuts[lost];
            let mut rng = Rng(seed);
            let pkts: Vec<Pkt> = case
                .packets(&mut rng, false)
                .into_iter()
                .filter(|p| p.id != Some((client_side, lost)))
                .collect();
            let t = run(&pkts);
            prop_assert_eq!(
                t.gaps(),
                vec![Ev::Gap { conn: 0, dir, offset: *off as u64, len: bytes.len() as u64 }]
            );
            let mut expected = src[..*off].to_vec();
            expected.extend_from_slice(&src[off + bytes.len()..]);
            prop_assert_eq!(t.bytes(0, dir), expected);
            let other = if client_side { &case.server } else { &case.client };
            prop_assert_eq!(&t.bytes(0, dir.reverse()), other);
            prop_assert_eq!(t.table.held, 0);
        }
    }
}
