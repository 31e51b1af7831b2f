//! IPv4 fragment reassembly (RFC 791 3.2), bounded.
//!
//! Fragments are kept per (source, destination, identification, protocol) until the datagram
//! is whole. Overlaps keep the bytes that came first (as most stacks do since RFC 5722 made
//! overlaps suspect). Datagrams in progress, bytes held and the age of an unfinished datagram
//! are capped; what is dropped is counted.

use crate::map::Map as HashMap;
use std::net::Ipv4Addr;

use crate::capture::Timestamp;

/// Datagrams being reassembled at once.
const MAX_DATAGRAMS: usize = 1024;
/// Bytes held over all datagrams in progress.
const MAX_BYTES: usize = 16 << 20;
/// The largest IPv4 payload (RFC 791: total length is 16 bits).
const MAX_PAYLOAD: usize = 65_535;
/// Fragments kept per datagram (a 64 KiB datagram over a 576-byte path takes 115): each costs
/// a copy and a sort when the datagram is checked, so empty or repeated fragments must hit a
/// cap too, not only bytes.
const MAX_PIECES: usize = 256;
/// An unfinished datagram older than this is dropped (Linux's ipfrag_time is 30 s).
const TIMEOUT_NS: i64 = 30_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    protocol: u8,
}

/// One fragment as read from its IPv4 header.
#[derive(Debug)]
pub struct Fragment<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub id: u16,
    pub protocol: u8,
    /// Offset of `data` in the datagram, in bytes.
    pub offset: usize,
    pub more: bool,
    pub data: &'a [u8],
}

#[derive(Debug)]
struct Partial {
    first_seen: Timestamp,
    /// (offset, bytes) in arrival order.
    pieces: Vec<(usize, Vec<u8>)>,
    /// Known once the last fragment (MF clear) arrived.
    total: Option<usize>,
    held: usize,
}

/// The reassembly table.
#[derive(Debug, Default)]
pub struct Defragmenter {
    partial: HashMap<Key, Partial>,
    held: usize,
    dropped: u64,
}

impl Defragmenter {
    /// Lets go of every datagram in reassembly (its capture ended: nothing of another joins
    /// it). Not counted as dropped: the capture held no more of them.
    pub fn clear(&mut self) {
        self.partial.clear();
        self.held = 0;
    }

    /// Fragments dropped so far (caps, timeouts, impossible offsets).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Adds a fragment; when it completes its datagram, writes the whole payload into `out` and
    /// returns true.
    pub fn add(&mut self, now: Timestamp, frag: &Fragment<'_>, out: &mut Vec<u8>) -> bool {
        self.expire(now);
        let end = frag.offset.saturating_add(frag.data.len());
        if end > MAX_PAYLOAD {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        let key = Key {
            src: frag.src,
            dst: frag.dst,
            id: frag.id,
            protocol: frag.protocol,
        };
        if !self.partial.contains_key(&key)
            && (self.partial.len() >= MAX_DATAGRAMS || self.held >= MAX_BYTES)
        {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        if self.held.saturating_add(frag.data.len()) > MAX_BYTES {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        if self
            .partial
            .get(&key)
            .is_some_and(|p| p.pieces.len() >= MAX_PIECES)
        {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        let p = self.partial.entry(key).or_insert_with(|| Partial {
            first_seen: now,
            pieces: Vec::new(),
            total: None,
            held: 0,
        });
        if !frag.more {
            p.total = Some(end);
        }
        p.pieces.push((frag.offset, frag.data.to_vec()));
        p.held = p.held.saturating_add(frag.data.len());
        self.held = self.held.saturating_add(frag.data.len());
        let Some(total) = p.total else {
            return false;
        };
        // Whole when the pieces, sorted by offset, cover 0..total without a hole.
        let mut order: Vec<usize> = (0..p.pieces.len()).collect();
        order.sort_by_key(|&i| p.pieces.get(i).map_or(0, |x| x.0));
        let mut covered = 0usize;
        for &i in &order {
            if let Some((off, bytes)) = p.pieces.get(i) {
                if *off > covered {
                    return false;
                }
                covered = covered.max(off.saturating_add(bytes.len()));
            }
        }
        if covered < total {
            return false;
        }
        out.clear();
        out.resize(total, 0);
        // Later pieces first, so that for overlapping bytes the earliest arrival is written last
        // and wins.
        for (off, bytes) in p.pieces.iter().rev() {
            let end = off.saturating_add(bytes.len()).min(total);
            if let (Some(dst), Some(src)) = (
                out.get_mut(*off..end),
                bytes.get(..end.saturating_sub(*off)),
            ) {
                dst.copy_from_slice(src);
            }
        }
        if let Some(done) = self.partial.remove(&key) {
            self.held = self.held.saturating_sub(done.held);
        }
        true
    }

    fn expire(&mut self, now: Timestamp) {
        if self.partial.is_empty() {
            return;
        }
        let mut freed = 0usize;
        let mut dropped = 0u64;
        self.partial.retain(|_, p| {
            let keep = now.since(p.first_seen) <= TIMEOUT_NS;
            if !keep {
                freed = freed.saturating_add(p.held);
                dropped = dropped.saturating_add(p.pieces.len() as u64);
            }
            keep
        });
        self.held = self.held.saturating_sub(freed);
        self.dropped = self.dropped.saturating_add(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            id: 7,
            protocol: 6,
            offset,
            more,
            data,
        }
    }

    #[test]
    fn reassembles_out_of_order_with_overlap_first_wins() {
        let mut d = Defragmenter::default();
        let mut out = Vec::new();
        assert!(!d.add(Timestamp(0), &frag(8, false, b"IJKLMNOP"), &mut out));
        assert!(!d.add(Timestamp(1), &frag(0, true, b"ABCDEFGH"), &mut out) || out.len() == 16);
        assert_eq!(out, b"ABCDEFGHIJKLMNOP");
        assert_eq!(d.held, 0);
        // A repeated fragment of a finished datagram starts a new one; it expires later.
        let mut d = Defragmenter::default();
        assert!(!d.add(Timestamp(0), &frag(0, true, b"ABCDEFGH"), &mut out));
        assert!(!d.add(Timestamp(0), &frag(0, true, b"XXXXXXXX"), &mut out));
        assert!(d.add(Timestamp(0), &frag(8, false, b"12345678"), &mut out));
        assert_eq!(out, b"ABCDEFGH12345678");
    }

    #[test]
    fn unfinished_datagrams_time_out_and_caps_hold() {
        let mut d = Defragmenter::default();
        let mut out = Vec::new();
        assert!(!d.add(Timestamp(0), &frag(0, true, b"ABCDEFGH"), &mut out));
        assert!(!d.add(Timestamp(TIMEOUT_NS + 1), &frag(64, true, b"x"), &mut out));
        assert_eq!(d.dropped(), 1);
        assert!(!d.add(Timestamp(0), &frag(65_530, false, b"too long"), &mut out));
        assert_eq!(d.dropped(), 2);
    }

    #[test]
    fn empty_and_repeated_fragments_hit_the_piece_cap() {
        // Found by tests/it/hardening.rs: empty fragments held no bytes, so nothing bounded
        // their number, and each one sorted all the others: a million took hours.
        let mut d = Defragmenter::default();
        let mut out = Vec::new();
        assert!(!d.add(Timestamp(0), &frag(64, false, b"tail"), &mut out));
        for _ in 0..MAX_PIECES + 100 {
            assert!(!d.add(Timestamp(0), &frag(8, true, b""), &mut out));
        }
        assert_eq!(d.dropped(), 101);
        assert_eq!(
            d.partial.values().map(|p| p.pieces.len()).sum::<usize>(),
            MAX_PIECES
        );
    }
}
