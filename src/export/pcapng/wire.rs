//! The KDC and DNS packets of a slice (`Handshake::kdc`): copied with the handshakes that
//! they served, Kerberos cipher texts zeroed unless revealing.

use super::{ExportError, Plan, Slicer};
use crate::capture::Frame;
use crate::handshake::Handshake;

impl Plan {
    /// The KDC and DNS messages joined to `h`: their connections or datagrams, and a comment
    /// on each.
    pub(super) fn add_wire(&mut self, h: &Handshake) {
        for m in &h.kdc {
            match m.conn {
                Some(c) => {
                    self.conns.insert(c);
                    if m.server.port() == crate::net::KERBEROS_PORT {
                        self.kdc_conns.insert(c);
                    }
                }
                None => {
                    self.datagrams.insert((h.input, m.frame));
                }
            }
            self.note(
                (h.input, m.frame),
                format!("{} (handshake #{})", m.text(), h.id),
            );
        }
    }
}

impl Slicer<'_> {
    /// A KDC or DNS datagram joined to a chosen handshake, its tickets masked unless
    /// revealing. One whose payload is not whole in its frame (reassembled from fragments)
    /// is left out rather than copied with its secrets.
    pub(super) fn copy_datagram(
        &mut self,
        frame: &Frame<'_>,
        d: &crate::net::Datagram,
    ) -> Result<(), ExportError> {
        let mut data = frame.data.to_vec();
        if !self.reveal
            && d.src.port() != crate::net::DNS_PORT
            && d.dst.port() != crate::net::DNS_PORT
        {
            let Some(at) = find_tail(&data, &d.payload) else {
                return Ok(());
            };
            let body = data
                .get_mut(at..at.saturating_add(d.payload.len()))
                .unwrap_or_default();
            mask_kerberos(body);
        }
        self.write(frame, &data)
    }
}

/// Where `needle` lies in `hay`, the last place (a datagram's payload ends its frame, but
/// for a link trailer).
fn find_tail(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Zeroes the secrets of one Kerberos message (`kdc::krb::secret_ranges`); the whole
/// message when it does not decode.
fn mask_kerberos(msg: &mut [u8]) {
    match crate::kdc::krb::secret_ranges(msg) {
        Some(ranges) => {
            for r in ranges {
                if let Some(b) = msg.get_mut(r) {
                    b.fill(0);
                }
            }
        }
        None => msg.fill(0),
    }
}

/// A segment of a TCP connection to the KDC: each whole record (RFC 4120 7.2.2) in it has
/// its secrets zeroed; a segment that does not hold whole records is zeroed whole.
pub(super) fn mask_kdc_segment(payload: &mut [u8]) {
    let mut at = 0usize;
    while at < payload.len() {
        let len = payload
            .get(at..at.saturating_add(4))
            .and_then(|h| <[u8; 4]>::try_from(h).ok())
            .map(|h| (u32::from_be_bytes(h) & 0x7FFF_FFFF) as usize);
        let end = len.and_then(|l| at.checked_add(4)?.checked_add(l));
        match end.filter(|e| *e <= payload.len()) {
            Some(end) => {
                mask_kerberos(
                    payload
                        .get_mut(at.saturating_add(4)..end)
                        .unwrap_or_default(),
                );
                at = end;
            }
            None => {
                payload.fill(0);
                return;
            }
        }
    }
}
