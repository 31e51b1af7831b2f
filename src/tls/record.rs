//! Framing of length-prefixed units over a byte stream that arrives in pieces: TLS records
//! (RFC 8446 5.1, RFC 5246 6.2: type, version, 16-bit length) and handshake messages (RFC
//! 8446 4: type, 24-bit length), which may be split across the pieces or share one.
//!
//! A unit wholly inside the input is handed on borrowed from it; a unit split across pieces
//! is gathered in the framer's buffer, which holds at most one unit (capped by the caller).

use super::MAX_RECORD_BODY;

/// One step of [`Framer::next`], with the number of input bytes it took.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// A whole unit, header included, is the bytes taken from the input.
    Whole,
    /// A whole unit, header included, is [`Framer::unit`] (gathered from several inputs).
    Buffered,
    /// The input is used up (what there was of a unit is buffered).
    NeedMore,
    /// The header is not one of this framing.
    Bad(String),
    /// The unit is `total` bytes long, past the cap; `have` of them were taken already (from
    /// this input or earlier ones).
    TooBig { total: usize, have: usize },
}

/// Reads a unit's header: its body's length, or why it is not a header.
pub(super) type BodyLen = fn(&[u8]) -> Result<usize, String>;

#[derive(Debug, Default)]
pub(super) struct Framer {
    buf: Vec<u8>,
    /// The buffer holds a whole unit handed on: cleared at the next step.
    complete: bool,
    /// Bytes of a refused unit still to pass over.
    skip: usize,
}

/// A buffer grown past this is given back when it empties at the end of an input
/// ([`Framer::settle`]), so that an idle connection holds no more than a small one, while a
/// connection in the middle of a transfer, whose records end mid-segment, keeps one buffer
/// for all its records.
const KEEP_CAPACITY: usize = 4096;

impl Framer {
    /// Passes over the rest of a refused unit ([`Step::TooBig`]): from now, the first
    /// `total - have` bytes are skipped ([`Framer::pass_skipped`]).
    pub(super) fn skip_unit(&mut self, total: usize, have: usize) {
        self.buf = Vec::new();
        self.complete = false;
        self.skip = total.saturating_sub(have);
    }

    /// How many bytes at the start of `input` belong to a refused unit (and are passed over).
    pub(super) fn pass_skipped(&mut self, input: &[u8]) -> usize {
        let n = self.skip.min(input.len());
        self.skip = self.skip.saturating_sub(n);
        n
    }

    /// The unit of the last [`Step::Buffered`].
    pub(super) fn unit(&self) -> &[u8] {
        &self.buf
    }

    /// The unit of the last [`Step::Buffered`], to be decrypted in place.
    pub(super) fn unit_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The bytes the buffer takes.
    pub(super) fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// At the end of an input: gives a large buffer back when nothing is in it.
    pub(super) fn settle(&mut self) {
        if (self.complete || self.buf.is_empty()) && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
            self.complete = false;
        } else if self.complete {
            self.buf.clear();
            self.complete = false;
        }
    }

    /// The next unit at the start of `input`, with `head` header bytes, whose body length
    /// `body_len` reads, refusing units longer than `cap`. Call [`Framer::pass_skipped`]
    /// first.
    pub(super) fn next(
        &mut self,
        input: &[u8],
        head: usize,
        body_len: BodyLen,
        cap: usize,
    ) -> (usize, Step) {
        if self.complete {
            self.complete = false;
            self.buf.clear();
        }
        if self.buf.is_empty() {
            // The fast path: a whole unit in the input, borrowed.
            if let Some(header) = input.get(..head) {
                let total = match body_len(header) {
                    Ok(n) => n.saturating_add(head),
                    Err(why) => return (0, Step::Bad(why)),
                };
                if total > cap {
                    return (0, Step::TooBig { total, have: 0 });
                }
                if total <= input.len() {
                    return (total, Step::Whole);
                }
            }
        }
        let mut used = 0usize;
        loop {
            let need = match self.buf.get(..head) {
                None => head.saturating_sub(self.buf.len()),
                Some(header) => {
                    let total = match body_len(header) {
                        Ok(n) => n.saturating_add(head),
                        Err(why) => return (used, Step::Bad(why)),
                    };
                    if total > cap {
                        let have = self.buf.len();
                        return (used, Step::TooBig { total, have });
                    }
                    if self.buf.capacity() < total {
                        self.buf.reserve_exact(total.saturating_sub(self.buf.len()));
                    }
                    total.saturating_sub(self.buf.len())
                }
            };
            if need == 0 {
                self.complete = true;
                return (used, Step::Buffered);
            }
            let rest = input.get(used..).unwrap_or(&[]);
            if rest.is_empty() {
                return (used, Step::NeedMore);
            }
            let taken = rest.get(..need.min(rest.len())).unwrap_or(&[]);
            self.buf.extend_from_slice(taken);
            used = used.saturating_add(taken.len());
        }
    }
}

/// The record header (RFC 8446 5.1): content type, legacy_record_version, length.
pub(super) const RECORD_HEADER: usize = 5;

/// The body length of a record header, if it is one: a content type TLS defines (20
/// change_cipher_spec, 21 alert, 22 handshake, 23 application_data, 24 heartbeat), version
/// 3.x, and a length up to 2^14 + 2048.
pub(super) fn record_len(h: &[u8]) -> Result<usize, String> {
    let [ctype, major, minor, hi, lo] = *h else {
        return Err("short record header".into());
    };
    if !(20..=24).contains(&ctype) {
        return Err(format!("record content type {ctype}"));
    }
    if major != 3 {
        return Err(format!("record version {major}.{minor}"));
    }
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > MAX_RECORD_BODY {
        return Err(format!(
            "record of {len} bytes, past 2^14 + 2048 (RFC 5246 6.2.3)"
        ));
    }
    Ok(len)
}

/// The handshake message header (RFC 8446 4): msg_type, 24-bit length.
pub(super) const HANDSHAKE_HEADER: usize = 4;

pub(super) fn handshake_len(h: &[u8]) -> Result<usize, String> {
    let [_, a, b, c] = *h else {
        return Err("short handshake header".into());
    };
    Ok(u32::from_be_bytes([0, a, b, c]) as usize)
}
