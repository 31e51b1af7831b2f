//! Stage 3: TCP reassembly.
//!
//! A connection table keyed by the 4-tuple turns [`Segment`](crate::net::Segment)s into per-direction, in-order
//! byte streams and connection events ([`StreamEvent`]). Written for this job; see
//! docs/architecture.md ("Why our own TCP reassembly") for why no crate fitted.
//!
//! Hostile bytes are read here: no indexing that can panic, no unchecked arithmetic.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod seq;
mod stream;
mod table;

use std::net::SocketAddr;

use crate::capture::Timestamp;

pub use table::TcpTable;

/// Identifies one TCP connection for the whole analysis: 0, 1, 2 ... in order of first packet,
/// the same numbering as Wireshark's `tcp.stream` (but for packets later than the closed window
/// after a close, [`CLOSED_WINDOW_NS`]).
pub type ConnId = u64;

/// Direction of travel within a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// From the client (the side that sent the SYN, or the one judged to be it) to the server.
    ToServer,
    ToClient,
}

impl Dir {
    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }
}

/// How a connection was first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenKind {
    /// A SYN was seen (with or without the SYN-ACK): client and server are known.
    Handshake,
    /// Picked up mid-stream (no SYN seen): client and server are guessed.
    MidStream,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Both directions sent FIN.
    Fin,
    /// A RST was seen.
    Rst,
    /// No packet for longer than the idle timeout.
    Timeout,
    /// Evicted to make room under the open-connection cap.
    Evicted,
    /// The input ended with the connection still open.
    EndOfInput,
    /// A SYN with a new initial sequence number started a new connection on the same
    /// 4-tuple while this one was still open (no FIN or RST seen).
    Reused,
}

/// Which resource cap was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Too many open connections: the oldest idle one was evicted.
    OpenConnections,
    /// Out-of-order bytes buffered for one connection exceeded the per-connection cap.
    ConnectionBuffer,
    /// Out-of-order bytes buffered over all connections exceeded the total cap.
    TotalBuffer,
}

/// The hand-off from `tcp` to `http`. Data is borrowed: from the segment when in order, from the
/// reassembly buffer when released out of order.
#[derive(Debug, Clone, Copy)]
pub enum StreamEvent<'a> {
    /// A new connection. Always the first event of a `conn`.
    Open {
        conn: ConnId,
        ts: Timestamp,
        frame: u64,
        client: SocketAddr,
        server: SocketAddr,
        kind: OpenKind,
    },
    /// In-order payload bytes; `offset` counts bytes of this direction from its start (0 at the
    /// first byte after the SYN, or at the first byte seen when picked up mid-stream).
    Data {
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
        offset: u64,
        bytes: &'a [u8],
    },
    /// Bytes that will never be delivered (lost, not captured, or dropped at a cap), at `offset`.
    /// The consumer must resynchronise after it.
    Gap {
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        offset: u64,
        len: u64,
    },
    /// A FIN from the sender of `dir`, after all its data was delivered.
    Fin {
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
    },
    /// A RST from the sender of `dir`.
    Rst {
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
    },
    /// The connection is gone; no event for `conn` follows. Always the last event of a `conn`.
    Closed {
        conn: ConnId,
        ts: Timestamp,
        reason: CloseReason,
    },
    /// A resource cap was hit (counted in [`TcpStats`] too).
    LimitHit {
        conn: Option<ConnId>,
        ts: Timestamp,
        limit: Limit,
    },
}

impl StreamEvent<'_> {
    /// The connection the event is about (`None` for a cap hit not tied to one).
    pub fn conn(&self) -> Option<ConnId> {
        match *self {
            StreamEvent::Open { conn, .. }
            | StreamEvent::Data { conn, .. }
            | StreamEvent::Gap { conn, .. }
            | StreamEvent::Fin { conn, .. }
            | StreamEvent::Rst { conn, .. }
            | StreamEvent::Closed { conn, .. } => Some(conn),
            StreamEvent::LimitHit { conn, .. } => conn,
        }
    }
}

/// How long a closed 4-tuple is remembered after its last packet. Late packets after a close
/// are retransmissions (a FIN whose ACK was lost, a SYN answered by a RST), each within a
/// backed-off retransmission timeout of the one before, and each restarts the window: 10 s
/// covers gaps that double from an initial timeout of 1 s (RFC 6298 2.1 and 5.5: 1, 2, 4,
/// 8 s) or of RFC 1122's older 3 s (3, 6 s). Zeek flushes a closed connection after 5 s
/// (`tcp_close_delay`). Kept for the idle timeout instead, every closed tuple of a busy
/// capture stayed, up to the connection cap: memory that grew with the file rather than with
/// what is open.
pub const CLOSED_WINDOW_NS: i64 = 10 * 1_000_000_000;

/// Resource caps and timeouts of the reassembler.
#[derive(Debug, Clone, Copy)]
pub struct TcpConfig {
    /// Open connections kept at once; past it the least recently active is evicted.
    pub max_connections: usize,
    /// Out-of-order bytes buffered per direction of a connection.
    pub max_buffered_per_conn: usize,
    /// Out-of-order bytes buffered over all connections.
    pub max_buffered_total: usize,
    /// A connection idle for longer than this (capture time) is closed with `Timeout`.
    pub idle_timeout_ns: i64,
    /// A closed connection's 4-tuple is remembered this long after its last packet (capture
    /// time), so that late packets stay with it.
    pub closed_window_ns: i64,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_connections: 100_000,
            max_buffered_per_conn: 1 << 20,
            max_buffered_total: 64 << 20,
            idle_timeout_ns: 600 * 1_000_000_000,
            closed_window_ns: CLOSED_WINDOW_NS,
        }
    }
}

/// Counters kept by the reassembler, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TcpStats {
    pub segments: u64,
    pub connections: u64,
    pub bytes_delivered: u64,
    pub retransmitted_bytes: u64,
    pub out_of_order_segments: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub timeouts: u64,
    pub evicted_connections: u64,
    /// Closed 4-tuples forgotten before the closed window, because as many as the connection
    /// cap were remembered: a late packet on one is taken as a new connection.
    pub forgotten_closed: u64,
    pub buffer_limit_hits: u64,
    pub peak_open_connections: u64,
    pub peak_buffered_bytes: u64,
}
