//! Earlier IPv4 fragments of a datagram, held until the one that completes it shows whether
//! it belongs to a chosen connection.

use crate::capture::{Frame, LinkType};
use crate::net::FragmentSpan;

/// An earlier fragment of an IPv4 datagram, copied until the datagram is complete.
#[derive(Debug, Clone)]
pub(super) struct HeldFrame {
    pub(super) number: u64,
    pub(super) input: u32,
    pub(super) ts: crate::capture::Timestamp,
    pub(super) link: LinkType,
    pub(super) data: Vec<u8>,
    pub(super) orig_len: u32,
    pub(super) span: FragmentSpan,
}

type Datagram = (std::net::Ipv4Addr, std::net::Ipv4Addr, u16, u8);

/// Fragments of datagrams not complete yet, in case one turns out to belong to a chosen
/// connection: copied into the slice just before the fragment that completes it. Bounded:
/// past [`MAX_HELD`] bytes the oldest datagrams' fragments are let go (the reassembly in the
/// analysis has caps of its own).
#[derive(Debug, Default)]
pub(super) struct Held {
    pub(super) by_datagram: crate::map::Map<Datagram, Vec<HeldFrame>>,
    /// Datagrams in the order first held (some since taken).
    pub(super) order: std::collections::VecDeque<Datagram>,
    pub(super) bytes: usize,
}

const MAX_HELD: usize = 8 << 20;

impl Held {
    pub(super) fn keep(&mut self, span: FragmentSpan, frame: &Frame<'_>) {
        let len = frame.data.len();
        if len > MAX_HELD {
            return;
        }
        while self.bytes.saturating_add(len) > MAX_HELD {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.take(old);
        }
        let list = self.by_datagram.entry(span.datagram).or_default();
        if list.is_empty() {
            self.order.push_back(span.datagram);
        }
        list.push(HeldFrame {
            number: frame.number,
            input: frame.input,
            ts: frame.ts,
            link: frame.link,
            data: frame.data.to_vec(),
            orig_len: frame.orig_len,
            span,
        });
        self.bytes = self.bytes.saturating_add(len);
        // Taken datagrams leave their key in `order`: dropped now and then, so it stays
        // within twice the datagrams held.
        if self.order.len() > self.by_datagram.len().saturating_mul(2).saturating_add(64) {
            let held = &self.by_datagram;
            self.order.retain(|d| held.contains_key(d));
        }
    }

    /// The fragments held of this datagram, let go.
    pub(super) fn take(&mut self, d: Datagram) -> Vec<HeldFrame> {
        let list = self.by_datagram.remove(&d).unwrap_or_default();
        let freed: usize = list.iter().map(|h| h.data.len()).sum();
        self.bytes = self.bytes.saturating_sub(freed);
        list
    }
}
