//! Keys that come after the connection they are for. A live capture follows a key log that
//! the client writes as it connects (SSLKEYLOGFILE): the client writes a connection's lines
//! during its handshake, and the capture may read the ClientHello, the whole handshake, even
//! the first records, before it reads those lines. So while a connection waits for its keys,
//! the bytes it sent so far are held here, within bounds; when lines for its client random
//! arrive, the connection is read again from its first byte with them ([`super::TlsStreams`]).
//!
//! Bounds: [`MAX_HELD_PER_CONN`] bytes a connection and [`MAX_HELD`] over all, for at most
//! [`WAIT`] of capture time after the connection's first byte. Past any of them the
//! connection is let go: it stays undecrypted, with the reason its state gives (no key for
//! its client random), as without waiting.

use super::keylog::decode_hex;
use crate::capture::Timestamp;
use crate::map::Map;
use crate::tcp::{ConnId, Dir};

/// The most bytes held for one connection: its handshake (a few KB, with the certificate
/// chain) and the first requests and responses of a browser.
pub const MAX_HELD_PER_CONN: usize = 256 << 10;
/// The most bytes held over all connections waiting.
pub const MAX_HELD: usize = 16 << 20;
/// How long a connection waits for its keys, from its first byte (capture time).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One segment of a connection, as the TLS stage was given it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub dir: Dir,
    pub frame: u64,
    pub ts: Timestamp,
    start: usize,
    end: usize,
}

/// What a connection sent while it waits: every segment from its first byte.
#[derive(Debug, Default)]
pub(super) struct Held {
    since: Timestamp,
    segments: Vec<Segment>,
    bytes: Vec<u8>,
}

impl Held {
    /// The segments in the order they came, with their bytes.
    pub fn segments(&self) -> impl Iterator<Item = (Segment, &[u8])> + '_ {
        self.segments
            .iter()
            .map(|s| (*s, self.bytes.get(s.start..s.end).unwrap_or(&[])))
    }
}

/// The connections waiting for keys.
#[derive(Debug, Default)]
pub(super) struct Late {
    held: Map<ConnId, Held>,
    /// Bytes held over all.
    total: usize,
    /// The latest capture time seen.
    clock: Timestamp,
    /// Connections let go for passing a bound.
    pub cap_hits: u64,
}

impl Late {
    /// A TLS connection starts at `ts`: it waits until it is let go.
    pub fn start(&mut self, conn: ConnId, ts: Timestamp) {
        self.held.insert(
            conn,
            Held {
                since: ts,
                ..Held::default()
            },
        );
    }

    pub fn holds(&self, conn: ConnId) -> bool {
        self.held.contains_key(&conn)
    }

    /// A segment of a waiting connection; past a bound, the connection is let go.
    pub fn keep(&mut self, conn: ConnId, dir: Dir, frame: u64, ts: Timestamp, bytes: &[u8]) {
        self.clock = self.clock.max(ts);
        let Some(h) = self.held.get_mut(&conn) else {
            return;
        };
        let len = h.bytes.len().saturating_add(bytes.len());
        let waited = ts.0.saturating_sub(h.since.0);
        let over = len > MAX_HELD_PER_CONN
            || self.total.saturating_add(bytes.len()) > MAX_HELD
            || waited > wait_ns();
        if over {
            self.cap_hits = self.cap_hits.saturating_add(1);
            self.forget(conn);
            return;
        }
        let start = h.bytes.len();
        h.bytes.extend_from_slice(bytes);
        h.segments.push(Segment {
            dir,
            frame,
            ts,
            start,
            end: len,
        });
        self.total = self.total.saturating_add(bytes.len());
    }

    /// The connection waits no more.
    pub fn forget(&mut self, conn: ConnId) {
        if let Some(h) = self.held.remove(&conn) {
            self.total = self.total.saturating_sub(h.bytes.len());
        }
    }

    /// Takes what a connection holds (to read it again), if it still waits; connections
    /// past their wait are let go first.
    pub fn take(&mut self, conn: ConnId) -> Option<Held> {
        let limit = wait_ns();
        let clock = self.clock;
        let before = self.held.len();
        self.held
            .retain(|_, h| clock.0.saturating_sub(h.since.0) <= limit);
        let expired = before.saturating_sub(self.held.len());
        self.cap_hits = self.cap_hits.saturating_add(expired as u64);
        self.total = self.held.values().map(|h| h.bytes.len()).sum();
        let h = self.held.remove(&conn)?;
        self.total = self.total.saturating_sub(h.bytes.len());
        Some(h)
    }

    /// Gives back what [`Late::take`] took: the connection still waits.
    pub fn put_back(&mut self, conn: ConnId, h: Held) {
        self.total = self.total.saturating_add(h.bytes.len());
        self.held.insert(conn, h);
    }

    /// The waiting connections, in id order.
    pub fn conns(&self) -> Vec<ConnId> {
        let mut v: Vec<ConnId> = self.held.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

fn wait_ns() -> i64 {
    i64::try_from(WAIT.as_nanos()).unwrap_or(i64::MAX)
}

/// The client randoms that lines of key log text name.
pub(super) fn client_randoms(text: &[u8]) -> Vec<[u8; 32]> {
    let mut v = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        if let (Some(_), Some(random)) = (fields.next(), fields.next()) {
            let mut cr = [0u8; 32];
            if decode_hex(random, &mut cr) == Some(32) && !v.contains(&cr) {
                v.push(cr);
            }
        }
    }
    v
}

/// A client random as [`super::TlsInfo::client_random`] writes it.
pub(super) fn client_random_of(hex: &str) -> Option<[u8; 32]> {
    let mut cr = [0u8; 32];
    (decode_hex(hex.as_bytes(), &mut cr) == Some(32)).then_some(cr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_let_go_past_its_bounds() {
        let mut l = Late::default();
        let s = |n: i64| Timestamp(n * 1_000_000_000);
        l.start(1, s(0));
        l.keep(1, Dir::ToServer, 1, s(0), b"hello");
        l.keep(1, Dir::ToClient, 2, s(1), b"world");
        let h = l.take(1).unwrap();
        let got: Vec<_> = h.segments().map(|(s, b)| (s.frame, b.to_vec())).collect();
        assert_eq!(got, vec![(1, b"hello".to_vec()), (2, b"world".to_vec())]);
        l.put_back(1, h);
        assert_eq!(l.total, 10);
        // Too big.
        l.keep(1, Dir::ToServer, 3, s(2), &vec![0; MAX_HELD_PER_CONN]);
        assert!(!l.holds(1));
        assert_eq!(l.total, 0);
        assert_eq!(l.cap_hits, 1);
        // Too late.
        l.start(2, s(0));
        l.keep(2, Dir::ToServer, 4, s(11), b"x");
        assert!(!l.holds(2));
        l.start(3, s(20));
        l.keep(3, Dir::ToServer, 5, s(20), b"x");
        l.keep(4, Dir::ToServer, 6, s(31), b"not held");
        assert!(l.take(3).is_none(), "the clock moved past its wait");
        assert_eq!(l.cap_hits, 3);
    }

    #[test]
    fn client_randoms_of_key_log_lines() {
        let cr = "ab".repeat(32);
        let text =
            format!("# c\nCLIENT_RANDOM {cr} 00\nSERVER_TRAFFIC_SECRET_0 {cr} 11\nRSA 0011 22\n");
        assert_eq!(client_randoms(text.as_bytes()), vec![[0xab; 32]]);
        assert_eq!(client_random_of(&cr), Some([0xab; 32]));
    }
}
