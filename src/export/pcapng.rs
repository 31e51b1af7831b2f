//! `--format pcapng`: only the packets of the selected handshakes' TCP connections, in
//! capture order, each leg's request and response frame carrying a packet comment that
//! names it (`NTLM Type 3 user=LAB\alice NTLMv2 (handshake #0, leg 3 request)`), so the
//! slice can be opened in Wireshark and sent on without the rest of the capture.
//!
//! Two passes over the input: the first analyses it to learn the selected handshakes'
//! connections and the frames of their legs; the second reads the files again through a
//! fresh [`Analyzer`] with the same configuration (connection numbering is deterministic) and
//! copies every frame whose TCP segment went to one of those connections
//! ([`Analyzer::last_conn`]). Memory holds the selection, not the capture.
//!
//! The file is written by hand, little-endian, after the pcapng specification
//! (draft-ietf-opsawg-pcapng): one Section Header Block (4.1), an Interface Description Block
//! (4.2) per link type met, with `if_tsresol` = 9 (nanoseconds), and an Enhanced Packet
//! Block (4.3) per packet, comments as `opt_comment` options (3.5, 4.3); every block is
//! type, total length, body padded to 32 bits, total length again (3.1).
//!
//! Secrets are in the packets themselves, so unless `--reveal-secrets` the copied frames are
//! masked in place (lengths, sequence numbers and framing unchanged; TCP checksums no longer
//! match, which Wireshark does not check by default). A header line seen whole loses only its
//! secret bytes ([`token_mask`]: passwords, NTLM responses, session keys and MICs, Kerberos
//! cipher text, mechListMICs, Digest responses, JWT signatures), so Wireshark still dissects
//! every NTLM, SPNEGO and Kerberos message of the slice. Anything else is starred with `*`
//! byte for byte: the values of `Authorization`, `Proxy-Authorization` (after the scheme),
//! `Cookie`, `Set-Cookie`, `Authentication-Info`, and `Negotiate` or `Kerberos` tokens in
//! `WWW-Authenticate`/`Proxy-Authenticate` (AP-REP, session keys); NTLM Type 2 challenges and
//! the other challenges stay readable. Segments are starred in capture order, each with what
//! the previous one of its direction left ([`Carry`]): a value that runs on into the next
//! segment is masked there up to its line end, a header whose name or scheme is cut by the
//! boundary is recognised there, and folded continuation lines of a secret value are masked
//! too.
//!
//! TLS connections are copied as captured (ciphertext). With `--reveal-secrets` the slice
//! also carries their keys, so that Wireshark decrypts it alone: the key log lines (NSS
//! format) of the slice's client randoms, every label, from the `--keylog` files and the
//! input's own Decryption Secrets Blocks, in one Decryption Secrets Block (4.7) before the
//! first packet, as `editcap --inject-secrets` puts it. Without it no key is written, and a
//! note says that the decrypted connections of the slice will not decrypt.
//!
//! Fragmented IPv4 datagrams are reassembled here as in the analysis and masked whole; the
//! masked bytes go back into each fragment's frame at its fragment offset. The fragments
//! before the one that completes a datagram are held (8 MiB at most) and copied just before
//! it, so they can come slightly out of capture order.
//!
//! Masking happens twice over, and what either finds is starred: a pass before the copy puts
//! each chosen connection's streams back in order and finds the secret values there, by
//! stream offset, so a value whose end arrives before its start (reordered on the wire) or
//! in a retransmission is masked wherever its bytes travel; and each copied segment is also
//! masked in capture order, which covers what the stream never completed. The first pass also
//! keeps each header line it saw whole masked down to its secret bytes ([`Precise`]); where a
//! copied segment carries such a line's bytes as the stream had them, they replace whatever
//! both passes starred there.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use super::slice_keys::{slice_key_log, TlsConns};
use super::token_mask;
use super::{for_each_selected, request_label, response_label, tcp_label, ExportError, Options};
use crate::auth::{
    challenge_token_scheme, is_registered_scheme, secret_field, SecretField, SECRET_HEADERS,
};
use crate::capture::{pcapng_out, Frame, LinkType};
use crate::handshake::ConnEventKind;
use crate::net::{FragmentSpan, NetDecoder};
use crate::pipeline::{Analysed, Placed, Sink, Source};
use crate::tcp::ConnId;

mod held;
mod wire;
use held::Held;
use wire::mask_kdc_segment;

/// What the first pass learns: the connections to copy and the comments by capture and
/// frame number.
#[derive(Debug, Default)]
pub struct Plan {
    pub conns: BTreeSet<ConnId>,
    pub comments: BTreeMap<(u32, u64), Vec<String>>,
    /// The KDC and DNS datagrams joined to the handshakes, by capture and frame number.
    pub datagrams: BTreeSet<(u32, u64)>,
    /// The TCP connections to the KDC among `conns`: their tickets are masked.
    pub kdc_conns: BTreeSet<ConnId>,
}

impl Plan {
    /// Adds a handshake: its connections, a comment on each leg's request and response
    /// frame, and one on each FIN and RST.
    pub fn add(&mut self, a: &Analysed) {
        let h = &a.handshake;
        self.conns.extend(h.connections.iter().copied());
        for (i, leg) in h.legs.iter().enumerate() {
            // Legs are numbered from 1 for people, as in the report and the UI.
            let i = i.saturating_add(1);
            self.conns.insert(leg.conn);
            if let Some(r) = &leg.request {
                self.note(
                    (h.input, r.frame),
                    format!(
                        "{} ({} {}; handshake #{}, leg {i} request)",
                        request_label(leg),
                        r.method,
                        r.uri,
                        h.id
                    ),
                );
            }
            if let Some(r) = &leg.response {
                self.note(
                    (h.input, r.frame),
                    format!(
                        "{} (handshake #{}, leg {i} response)",
                        response_label(leg),
                        h.id
                    ),
                );
            }
        }
        self.add_wire(h);
        for e in &h.tcp {
            if matches!(
                e.kind,
                ConnEventKind::Fin { .. } | ConnEventKind::Rst { .. }
            ) {
                self.note(
                    (h.input, e.frame),
                    format!("{} (handshake #{})", tcp_label(&e.kind), h.id),
                );
            }
        }
    }

    fn note(&mut self, (input, frame): (u32, u64), text: String) {
        if frame == 0 {
            return;
        }
        // Wireshark shows comments to people: packet text made harmless (crate::shown).
        let text = crate::shown::shown(&text).into_owned();
        let v = self.comments.entry((input, frame)).or_default();
        if !v.contains(&text) {
            v.push(text);
        }
    }
}

pub(crate) fn write(
    paths: &[PathBuf],
    opts: &Options,
    out: &mut dyn Write,
) -> Result<super::Summary, ExportError> {
    let mut plan = Plan::default();
    let mut tls = TlsConns::default();
    let mut summary = for_each_selected(
        paths,
        opts,
        &mut |a| {
            plan.add(a);
            Ok(())
        },
        &mut |c| tls.add(c),
    )?;
    let (randoms, decrypted) = tls.of(&plan.conns);
    let key_log = if opts.reveal_secrets && !randoms.is_empty() {
        let (text, without) = slice_key_log(paths, opts, &randoms)?;
        if without > 0 {
            summary.notes.push(format!(
                "{without} of the slice's {} TLS connections have no key in the key logs: \
                 Wireshark will not decrypt them either",
                randoms.len()
            ));
        }
        text
    } else {
        if decrypted > 0 {
            summary.notes.push(format!(
                "{decrypted} decrypted TLS connection{} of the slice {} not decryptable \
                 without --reveal-secrets: the keys are left out",
                if decrypted == 1 { "" } else { "s" },
                if decrypted == 1 { "is" } else { "are" }
            ));
        }
        Vec::new()
    };
    let secrets = if opts.reveal_secrets || plan.conns.is_empty() {
        SecretRanges::default()
    } else {
        secret_ranges(paths, opts, &plan)?
    };
    let mut w = PcapngWriter::new(out)?;
    if !key_log.is_empty() {
        w.secrets(&key_log)?;
    }
    drop(key_log);
    let mut slicer = Slicer {
        w,
        plan: &plan,
        secrets: &secrets,
        net: NetDecoder::new(),
        carry: BTreeMap::new(),
        held: Held::default(),
        input: 0,
        reveal: opts.reveal_secrets,
        err: None,
    };
    let source = opts.open(paths)?;
    let config = opts.config.revealing(opts.reveal_secrets);
    crate::pipeline::run(Source::Files(source), config, opts.plan, &mut slicer)?;
    if let Some(e) = slicer.err {
        return Err(e);
    }
    summary.packets = slicer.w.packets;
    Ok(summary)
}

/// The second pass: every frame of the chosen connections copied, its secrets masked.
struct Slicer<'a> {
    w: PcapngWriter<'a>,
    plan: &'a Plan,
    secrets: &'a SecretRanges,
    net: NetDecoder,
    /// What each (connection, sender)'s last segment left for masking its next one.
    carry: BTreeMap<(ConnId, std::net::SocketAddr), Carry>,
    held: Held,
    /// The capture being read ([`Frame::input`]).
    input: u32,
    reveal: bool,
    err: Option<ExportError>,
}

impl Sink for Slicer<'_> {
    fn output(&mut self, _o: crate::pipeline::Output) {}

    fn stopped(&mut self) -> bool {
        self.err.is_some()
    }

    fn wants_frames(&self) -> bool {
        true
    }

    fn frame(&mut self, frame: &Frame<'_>, at: Placed) {
        if self.err.is_none() {
            if let Err(e) = self.copy(*frame, at) {
                self.err = Some(e);
            }
        }
    }
}

impl Slicer<'_> {
    fn copy(&mut self, frame: Frame<'_>, placed: Placed) -> Result<(), ExportError> {
        if self.plan.conns.is_empty() && self.plan.datagrams.is_empty() {
            return Ok(());
        }
        if frame.input != self.input {
            // Each file is its own capture: no datagram is put together across two.
            self.input = frame.input;
            self.net.forget_fragments();
            self.held = Held::default();
        }
        // Every frame, not only the chosen ones, so fragments are reassembled here too.
        let seg = self
            .net
            .decode(&frame)
            .filter(|s| !self.reveal && !s.payload.is_empty())
            .map(|s| {
                // Where the payload sits in the frame; `None` when it was reassembled.
                let at = (s.payload.as_ptr() as usize).wrapping_sub(frame.data.as_ptr() as usize);
                (
                    s.src,
                    (at < frame.data.len()).then_some(at),
                    s.payload.to_vec(),
                )
            });
        let frag = self.net.last_fragment();
        let datagram = self.net.take_datagram();
        let Some(conn) = placed.conn else {
            if let Some(f) = frag {
                self.held.keep(f, &frame);
            }
            if let Some(d) = datagram {
                if self.plan.datagrams.contains(&(frame.input, frame.number)) {
                    return self.copy_datagram(&frame, &d);
                }
            }
            return Ok(());
        };
        // The fragments before the one that completed this datagram.
        let mut earlier = frag.map(|f| self.held.take(f.datagram)).unwrap_or_default();
        if !self.plan.conns.contains(&conn) {
            return Ok(());
        }
        let mut data = frame.data.to_vec();
        if let Some((src, at, mut masked)) = seg {
            if self.plan.kdc_conns.contains(&conn) {
                mask_kdc_segment(&mut masked);
            }
            let key = (conn, src);
            let off = placed.offset;
            let captured = off
                .filter(|&off| self.secrets.refines(key, off, masked.len()))
                .map(|_| masked.clone());
            // The secrets found in stream order, wherever this segment falls in it...
            if let Some(off) = off {
                self.secrets.mask(key, off, &mut masked);
            }
            // ...and those this segment shows in capture order (a value the stream never
            // completed, a connection past the reassembly's caps)...
            let left = mask_secrets(&mut masked, self.carry.remove(&key).unwrap_or_default());
            if left != Carry::Clear {
                self.carry.insert(key, left);
            }
            // ...but a header line the stream showed whole loses only its secret bytes.
            if let (Some(off), Some(captured)) = (off, &captured) {
                self.secrets.refine(key, off, captured, &mut masked);
            }
            match (at, frag) {
                (Some(at), _) => {
                    let end = at.saturating_add(masked.len());
                    put_back(data.get_mut(at..end).unwrap_or_default(), 0, 0, &masked);
                }
                (None, Some(f)) => {
                    // Reassembled: the TCP header opens the datagram, the payload ends it.
                    let datagram = earlier
                        .iter()
                        .map(|h| h.span)
                        .chain([f])
                        .map(|s| s.offset.saturating_add(s.len))
                        .max()
                        .unwrap_or_default();
                    let header = datagram.saturating_sub(masked.len());
                    put_back_fragment(&mut data, f, header, &masked);
                    for h in &mut earlier {
                        put_back_fragment(&mut h.data, h.span, header, &masked);
                    }
                }
                (None, None) => {}
            }
        }
        for h in &earlier {
            let comments = self
                .plan
                .comments
                .get(&(h.input, h.number))
                .map(Vec::as_slice);
            self.w.packet(
                &Frame {
                    number: h.number,
                    input: h.input,
                    ts: h.ts,
                    link: h.link,
                    data: &h.data,
                    orig_len: h.orig_len,
                },
                comments.unwrap_or_default(),
            )?;
        }
        self.write(&frame, &data)
    }

    /// Writes `frame` with `data` for its bytes, and the comments the plan has for it.
    fn write(&mut self, frame: &Frame<'_>, data: &[u8]) -> Result<(), ExportError> {
        let comments = self
            .plan
            .comments
            .get(&(frame.input, frame.number))
            .map(Vec::as_slice)
            .unwrap_or_default();
        self.w.packet(&Frame { data, ..*frame }, comments)?;
        Ok(())
    }
}

/// The secret byte ranges of each (connection, sender)'s stream, by stream offset, and the
/// header lines there masked down to their secret bytes.
#[derive(Debug, Default)]
struct SecretRanges {
    ranges: BTreeMap<(ConnId, std::net::SocketAddr), Vec<(u64, u64)>>,
    precise: BTreeMap<(ConnId, std::net::SocketAddr), Vec<Precise>>,
}

/// A header line seen whole in stream order that [`token_mask::mask_line`] masked more
/// finely than the whole value.
#[derive(Debug)]
struct Precise {
    /// Stream offset of its first byte.
    start: u64,
    /// The line as masked.
    line: Vec<u8>,
    /// The runs of `line` that differ from the line as sent, from its start.
    changed: Vec<(usize, usize)>,
}

impl Precise {
    fn end(&self) -> u64 {
        self.start.saturating_add(self.line.len() as u64)
    }

    fn changed(&self, k: usize) -> bool {
        let i = self.changed.partition_point(|&(_, b)| b <= k);
        self.changed.get(i).is_some_and(|&(a, _)| a <= k)
    }
}

impl SecretRanges {
    /// Masks the part of `payload`, which starts at stream offset `off`, that lies in a
    /// secret range.
    fn mask(&self, key: (ConnId, std::net::SocketAddr), off: u64, payload: &mut [u8]) {
        let Some(ranges) = self.ranges.get(&key) else {
            return;
        };
        let end = off.saturating_add(payload.len() as u64);
        for &(a, b) in ranges {
            if b <= off || a >= end {
                continue;
            }
            let from = usize::try_from(a.saturating_sub(off)).unwrap_or(usize::MAX);
            let to = usize::try_from(b.min(end).saturating_sub(off)).unwrap_or(usize::MAX);
            star(payload, from, to);
        }
    }

    /// Whether `len` bytes at stream offset `off` hold part of a line masked precisely.
    fn refines(&self, key: (ConnId, std::net::SocketAddr), off: u64, len: usize) -> bool {
        self.precise.get(&key).is_some_and(|lines| {
            let first = lines.partition_point(|p| p.end() <= off);
            lines
                .get(first)
                .is_some_and(|p| p.start < off.saturating_add(len as u64))
        })
    }

    /// Puts the precisely masked lines over `out`, the masked `captured` payload at stream
    /// offset `off`: the part of such a line the payload holds becomes the line as masked,
    /// whatever the two passes starred there. A payload whose bytes differ from the line's
    /// (a retransmission with other contents) keeps its stars.
    fn refine(
        &self,
        key: (ConnId, std::net::SocketAddr),
        off: u64,
        captured: &[u8],
        out: &mut [u8],
    ) {
        let Some(lines) = self.precise.get(&key) else {
            return;
        };
        let end = off.saturating_add(captured.len() as u64);
        let first = lines.partition_point(|p| p.end() <= off);
        for p in lines.iter().skip(first).take_while(|p| p.start < end) {
            let (from, to) = (p.start.max(off), p.end().min(end));
            let at = |s: u64| {
                (
                    usize::try_from(s.saturating_sub(p.start)).unwrap_or(usize::MAX),
                    usize::try_from(s.saturating_sub(off)).unwrap_or(usize::MAX),
                )
            };
            let same = (from..to).all(|s| {
                let (k, i) = at(s);
                p.changed(k) || p.line.get(k) == captured.get(i)
            });
            if same {
                for s in from..to {
                    let (k, i) = at(s);
                    if let (Some(o), Some(&m)) = (out.get_mut(i), p.line.get(k)) {
                        *o = m;
                    }
                }
            }
        }
    }
}

/// One direction's stream put back in order, scanned for secrets as it comes together.
#[derive(Debug, Default)]
struct Assembly {
    /// Stream offset of the next byte to scan.
    next: u64,
    /// Segments that came before their turn, by offset.
    early: BTreeMap<u64, Vec<u8>>,
    early_bytes: usize,
    carry: Carry,
    ranges: Vec<(u64, u64)>,
    lines: Lines,
}

/// Out-of-order bytes held per direction while the hole before them fills; past it, the hole
/// is given up and what follows is scanned as if inside a secret value (masked to its line
/// end: the safe side).
const MAX_EARLY: usize = 4 << 20;

impl Assembly {
    fn add(&mut self, off: u64, bytes: &[u8]) {
        let end = off.saturating_add(bytes.len() as u64);
        if end <= self.next {
            return;
        }
        if off > self.next {
            let full = |a: &Self| a.early_bytes.saturating_add(bytes.len()) > MAX_EARLY;
            if full(self) {
                self.skip_hole();
            }
            if off > self.next {
                if full(self) {
                    // Still no room: this segment's own hole is given up too.
                    self.next = off;
                    self.carry = Carry::InSecret;
                    self.lines.state = LineState::Skip;
                } else {
                    let slot = self.early.entry(off).or_default();
                    if slot.len() < bytes.len() {
                        self.early_bytes = self
                            .early_bytes
                            .saturating_sub(slot.len())
                            .saturating_add(bytes.len());
                        *slot = bytes.to_vec();
                    }
                    return;
                }
            }
        }
        let skip = usize::try_from(self.next.saturating_sub(off)).unwrap_or(usize::MAX);
        self.scan(bytes.get(skip..).unwrap_or_default());
        self.drain();
    }

    /// Scans the held segments that are now in turn.
    fn drain(&mut self) {
        while let Some(entry) = self.early.first_entry() {
            if *entry.key() > self.next {
                return;
            }
            let (off, bytes) = entry.remove_entry();
            self.early_bytes = self.early_bytes.saturating_sub(bytes.len());
            let end = off.saturating_add(bytes.len() as u64);
            if end > self.next {
                let skip = usize::try_from(self.next.saturating_sub(off)).unwrap_or(usize::MAX);
                self.scan(bytes.get(skip..).unwrap_or_default());
            }
        }
    }

    /// Gives up the first hole: scanning goes on after it, inside a secret for safety.
    fn skip_hole(&mut self) {
        if let Some(&first) = self.early.keys().next() {
            self.next = first;
            self.carry = Carry::InSecret;
            self.lines.state = LineState::Skip;
            self.drain();
        }
    }

    fn scan(&mut self, bytes: &[u8]) {
        self.lines.feed(self.next, bytes);
        let mut copy = bytes.to_vec();
        self.carry = mask_secrets(&mut copy, std::mem::take(&mut self.carry));
        let mut run: Option<u64> = None;
        for (i, (a, b)) in bytes.iter().zip(&copy).enumerate() {
            let at = self.next.saturating_add(i as u64);
            match (a != b, run) {
                (true, None) => run = Some(at),
                (false, Some(start)) => {
                    self.push_range(start, at);
                    run = None;
                }
                _ => {}
            }
        }
        self.next = self.next.saturating_add(bytes.len() as u64);
        if let Some(start) = run {
            self.push_range(start, self.next);
        }
    }

    fn push_range(&mut self, a: u64, b: u64) {
        match self.ranges.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => self.ranges.push((a, b)),
        }
    }
}

/// Where a direction's stream stands for [`Lines`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// The next byte starts a line.
    #[default]
    AtStart,
    /// In a line that may be a header [`token_mask`] masks finely, which started at this
    /// stream offset.
    Keep(u64),
    /// In a line that is not, or whose start was lost: up to its end.
    Skip,
}

/// A line longer than this is not kept whole (Kerberos tokens with large PACs stay below,
/// and servers refuse such long header lines anyway): its value is starred.
const MAX_LINE: usize = 128 << 10;

/// The longest header name [`token_mask::may_refine`] knows, with its colon: a line whose
/// start has no colon by then is none of them.
const MAX_NAME: usize = 32;

/// The header lines of one direction's stream, gathered as the stream comes together, each
/// masked by [`token_mask::mask_line`] once its end arrives.
#[derive(Debug, Default)]
struct Lines {
    state: LineState,
    line: Vec<u8>,
    found: Vec<Precise>,
}

impl Lines {
    /// Takes the next `bytes` of the stream, the first at stream offset `at`.
    fn feed(&mut self, at: u64, bytes: &[u8]) {
        let mut i = 0usize;
        while i < bytes.len() {
            let end = line_end(bytes, i);
            if end > i {
                if self.state == LineState::AtStart {
                    self.state = LineState::Keep(at.saturating_add(i as u64));
                    self.line.clear();
                }
                if matches!(self.state, LineState::Keep(_)) {
                    self.keep(bytes.get(i..end).unwrap_or_default());
                }
            }
            if end >= bytes.len() {
                return;
            }
            if let LineState::Keep(start) = self.state {
                self.finish(start);
            }
            self.state = LineState::AtStart;
            i = end.saturating_add(1);
        }
    }

    fn keep(&mut self, part: &[u8]) {
        let before = self.line.len();
        if self.line.len().saturating_add(part.len()) > MAX_LINE {
            self.state = LineState::Skip;
            self.line = Vec::new();
            return;
        }
        self.line.extend_from_slice(part);
        if before < MAX_NAME {
            let name = self
                .line
                .get(..self.line.len().min(MAX_NAME))
                .unwrap_or_default();
            if !token_mask::may_refine(name) {
                self.state = LineState::Skip;
                self.line.clear();
            }
        }
    }

    /// The line starting at stream offset `start` is whole: kept if masked more finely
    /// than the whole value.
    fn finish(&mut self, start: u64) {
        let line = std::mem::take(&mut self.line);
        let Some(masked) = token_mask::mask_line(&line) else {
            return;
        };
        let mut whole = line.clone();
        mask_secrets(&mut whole, Carry::Clear);
        if masked == whole {
            return;
        }
        let mut changed: Vec<(usize, usize)> = Vec::new();
        for (k, (a, b)) in line.iter().zip(&masked).enumerate() {
            if a != b {
                match changed.last_mut() {
                    Some(last) if last.1 == k => last.1 = k.saturating_add(1),
                    _ => changed.push((k, k.saturating_add(1))),
                }
            }
        }
        self.found.push(Precise {
            start,
            line: masked,
            changed,
        });
    }
}

/// A pass over the input that puts each chosen connection's streams back in order and finds
/// their secret values there: a value whose end arrives before its start (reordered on the
/// wire) or in a retransmission is found all the same.
fn secret_ranges(
    paths: &[PathBuf],
    opts: &Options,
    plan: &Plan,
) -> Result<SecretRanges, ExportError> {
    /// Each chosen connection's streams, put back in order.
    struct Streams<'p> {
        plan: &'p Plan,
        net: NetDecoder,
        streams: BTreeMap<(ConnId, std::net::SocketAddr), Assembly>,
        input: u32,
    }
    impl Sink for Streams<'_> {
        fn output(&mut self, _o: crate::pipeline::Output) {}

        fn wants_frames(&self) -> bool {
            true
        }

        fn frame(&mut self, frame: &Frame<'_>, at: Placed) {
            if frame.input != self.input {
                self.input = frame.input;
                self.net.forget_fragments();
            }
            let Some(seg) = self.net.decode(frame).filter(|s| !s.payload.is_empty()) else {
                return;
            };
            let (Some(conn), Some(off)) = (at.conn, at.offset) else {
                return;
            };
            if self.plan.conns.contains(&conn) {
                self.streams
                    .entry((conn, seg.src))
                    .or_default()
                    .add(off, seg.payload);
            }
        }
    }
    let mut pass = Streams {
        plan,
        net: NetDecoder::new(),
        streams: BTreeMap::new(),
        input: 0,
    };
    let source = opts.open(paths)?;
    let config = opts.config.revealing(opts.reveal_secrets);
    crate::pipeline::run(Source::Files(source), config, opts.plan, &mut pass)?;
    let streams = pass.streams;
    let mut out = SecretRanges::default();
    for (key, mut a) in streams {
        // What never came in turn: scanned after its hole, as inside a secret.
        while !a.early.is_empty() {
            a.skip_hole();
        }
        if !a.ranges.is_empty() {
            out.ranges.insert(key, a.ranges);
        }
        if !a.lines.found.is_empty() {
            out.precise.insert(key, a.lines.found);
        }
    }
    Ok(out)
}

/// Copies masked payload bytes over the frame's: `dst[skip..]` gets `masked[from..]`.
fn put_back(dst: &mut [u8], skip: usize, from: usize, masked: &[u8]) {
    for (d, m) in dst.iter_mut().skip(skip).zip(masked.iter().skip(from)) {
        *d = *m;
    }
}

/// The part of a reassembled segment's masked payload that one fragment carries, back into
/// that fragment's frame: datagram byte `offset + k` is payload byte `offset + k - header`.
fn put_back_fragment(data: &mut [u8], span: FragmentSpan, header: usize, masked: &[u8]) {
    let end = span.in_frame.saturating_add(span.len);
    if let Some(dst) = data.get_mut(span.in_frame..end) {
        let (skip, from) = (
            header.saturating_sub(span.offset),
            span.offset.saturating_sub(header),
        );
        put_back(dst, skip, from, masked);
    }
}

/// How a header field that holds secrets ([`SECRET_HEADERS`]) is starred when its line is
/// not masked down to its secret bytes: its whole value (after the scheme, for credentials;
/// only a `Negotiate` or `Kerberos` token, among challenges).
fn mask_of(field: SecretField) -> Mask {
    match field {
        SecretField::Credentials => Mask::AfterScheme,
        SecretField::Challenges => Mask::Negotiate,
        SecretField::Info | SecretField::Whole => Mask::All,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mask {
    All,
    AfterScheme,
    /// Only a `Negotiate` or `Kerberos` token (it may carry an AP-REP or a session key).
    Negotiate,
}

/// What a segment leaves to the next one of its direction: masking runs a segment at a time,
/// in capture order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Carry {
    /// It ended at a line boundary, outside any secret.
    #[default]
    Clear,
    /// It ended inside a line that is no secret header: the next one starts in that line.
    InLine,
    /// It ended inside a secret value: the next one is masked up to its first line end.
    InSecret,
    /// It ended after a secret header's line and `breaks` line feeds (0 or 1: two end the
    /// head): a folded continuation line at the start of the next one (obs-fold, RFC 9112
    /// 5.2) is still that value.
    AfterSecret { breaks: usize },
    /// It ended inside a line that may still turn out to be a secret header, its name or its
    /// scheme cut by the boundary: the bytes of that line so far.
    Partial(Vec<u8>),
}

/// A line cut by a segment boundary is remembered up to this length; a longer one cannot be
/// the start of a header named in [`SECRET_HEADERS`].
const MAX_PARTIAL: usize = 256;

/// Masks secret header values in one TCP payload with `*`, in place, given what the previous
/// segment of this direction left; returns what this one leaves to the next.
pub fn mask_secrets(payload: &mut [u8], carry: Carry) -> Carry {
    let mut i = 0usize;
    // The last line was a secret header's (its folded continuation lines are secret too).
    let mut after_secret = false;
    // Line feeds since the last line, counted across the boundary.
    let mut breaks = 0;
    let mut head: &[u8] = &[];
    let partial;
    match carry {
        Carry::Clear => {}
        Carry::InLine => {
            i = line_end(payload, 0);
            if i >= payload.len() {
                return Carry::InLine;
            }
        }
        Carry::InSecret => {
            let end = line_end(payload, 0);
            star(payload, 0, end);
            if end >= payload.len() {
                return Carry::InSecret;
            }
            i = end;
            after_secret = true;
        }
        Carry::AfterSecret { breaks: b } => {
            after_secret = true;
            breaks = b;
        }
        Carry::Partial(bytes) => {
            partial = bytes;
            head = &partial;
        }
    }
    loop {
        if !head.is_empty() && matches!(payload.get(i), Some(b'\r' | b'\n') | None) {
            // The cut line ended at the boundary, with no secret byte after it.
            after_secret = secret_from(head).is_some();
            if payload.is_empty() {
                return Carry::Partial(head.to_vec());
            }
            head = &[];
        }
        // Past the line break; a blank line ends the head, and with it any folded value.
        while let Some(&b) = payload.get(i).filter(|b| matches!(b, b'\r' | b'\n')) {
            breaks = breaks.saturating_add(usize::from(b == b'\n'));
            i = i.saturating_add(1);
        }
        if breaks > 1 {
            after_secret = false;
        }
        if i >= payload.len() {
            break;
        }
        breaks = 0;
        let end = line_end(payload, i);
        let line = payload.get(i..end).unwrap_or_default();
        let folded = head.is_empty() && after_secret && matches!(line.first(), Some(b' ' | b'\t'));
        let from = if folded {
            Some(0)
        } else if head.is_empty() {
            secret_from(line)
        } else {
            // The line began in the previous segment, which held no secret byte of it.
            let whole = [head, line].concat();
            secret_from(&whole).map(|f| f.saturating_sub(head.len()))
        };
        let at_end = end >= payload.len();
        match from {
            Some(from) => {
                if at_end && i.saturating_add(from) >= end {
                    // Cut before its value (or its scheme) began: decided with the rest.
                    let whole = [head, payload.get(i..end).unwrap_or_default()].concat();
                    if whole.len() <= MAX_PARTIAL {
                        return Carry::Partial(whole);
                    }
                }
                star(payload, i.saturating_add(from), end);
                if at_end {
                    return Carry::InSecret;
                }
                after_secret = true;
            }
            None => {
                if at_end {
                    let whole = [head, payload.get(i..end).unwrap_or_default()].concat();
                    return match may_become_secret(&whole) {
                        Some(true) => Carry::Partial(whole),
                        // Too long to keep: masking the rest of the line is the safe side.
                        Some(false) => Carry::InSecret,
                        None => Carry::InLine,
                    };
                }
                after_secret = false;
            }
        }
        head = &[];
        i = end;
    }
    if after_secret {
        Carry::AfterSecret { breaks }
    } else {
        Carry::Clear
    }
}

/// Whether a line cut short could still be a header named in [`SECRET_HEADERS`]: the start of such
/// a name, or such a name whose value (its scheme, for `Negotiate`) is not known yet. `None`
/// if not; `Some(false)` if it could but is longer than [`MAX_PARTIAL`].
fn may_become_secret(line: &[u8]) -> Option<bool> {
    let may = match line.iter().position(|&b| b == b':') {
        None => SECRET_HEADERS.iter().any(|(name, _)| {
            name.as_bytes()
                .get(..line.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(line))
        }),
        Some(colon) => {
            let name = line.get(..colon).unwrap_or_default();
            secret_field(name).is_some()
        }
    };
    may.then_some(line.len() <= MAX_PARTIAL)
}

/// Where the secret part of a header line starts, if the line is a secret header.
fn secret_from(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?;
    let mask = &mask_of(secret_field(name)?);
    let mut at = colon.saturating_add(1);
    let skip_space = |mut at: usize| {
        while matches!(line.get(at), Some(b' ' | b'\t')) {
            at = at.saturating_add(1);
        }
        at
    };
    at = skip_space(at);
    match mask {
        Mask::All => Some(at),
        Mask::AfterScheme | Mask::Negotiate => {
            let scheme_end = line
                .get(at..)?
                .iter()
                .position(|&b| b == b' ' || b == b'\t')
                .map_or(line.len(), |p| at.saturating_add(p));
            let scheme = line.get(at..scheme_end)?;
            if *mask == Mask::Negotiate && !challenge_token_scheme(scheme) {
                // A later challenge of the line may be one (`NTLM, Negotiate <token>`);
                // commas in quoted strings are not told apart: the safe side.
                let mut from = at;
                while let Some(p) = line.get(from..)?.iter().position(|&b| b == b',') {
                    from = skip_space(from.saturating_add(p).saturating_add(1));
                    let end = line
                        .get(from..)?
                        .iter()
                        .position(|&b| matches!(b, b' ' | b'\t' | b','))
                        .map_or(line.len(), |p| from.saturating_add(p));
                    if end < line.len()
                        && line.get(end) != Some(&b',')
                        && challenge_token_scheme(line.get(from..end)?)
                    {
                        return Some(skip_space(end));
                    }
                }
                return None;
            }
            // A credential with no scheme in front (a bare JWT) is all token: masked whole.
            // A registered scheme alone, perhaps cut by the segment's end, waits for the rest.
            if *mask == Mask::AfterScheme
                && scheme_end == line.len()
                && !is_registered_scheme(scheme, true)
            {
                return Some(at);
            }
            Some(skip_space(scheme_end))
        }
    }
}

fn line_end(b: &[u8], from: usize) -> usize {
    b.get(from..)
        .and_then(|r| r.iter().position(|&c| c == b'\r' || c == b'\n'))
        .map_or(b.len(), |p| from.saturating_add(p))
}

fn star(b: &mut [u8], from: usize, to: usize) {
    if let Some(s) = b.get_mut(from..to) {
        s.fill(b'*');
    }
}

/// A pcapng stream: the Section Header Block at creation, an Interface Description Block per
/// link type when first met (snap length 0, timestamps in nanoseconds), an Enhanced Packet
/// Block per packet with its comments.
pub struct PcapngWriter<'a> {
    out: &'a mut dyn Write,
    interfaces: Vec<LinkType>,
    pub packets: u64,
}

impl<'a> PcapngWriter<'a> {
    pub fn new(out: &'a mut dyn Write) -> std::io::Result<PcapngWriter<'a>> {
        let app = format!("authscope {} export", env!("CARGO_PKG_VERSION"));
        out.write_all(&pcapng_out::section_header(&app))?;
        Ok(PcapngWriter {
            out,
            interfaces: Vec::new(),
            packets: 0,
        })
    }

    /// The interface id of a link type, writing its description the first time.
    fn interface(&mut self, link: LinkType) -> std::io::Result<u32> {
        if let Some(i) = self.interfaces.iter().position(|l| *l == link) {
            return Ok(u32::try_from(i).unwrap_or(u32::MAX));
        }
        let idb = pcapng_out::interface_description(&pcapng_out::Interface {
            link,
            snaplen: 0,
            tsresol: 9,
            name: None,
            filter: None,
        });
        self.out.write_all(&idb)?;
        self.interfaces.push(link);
        Ok(u32::try_from(self.interfaces.len().saturating_sub(1)).unwrap_or(u32::MAX))
    }

    /// TLS key log lines for the packets that follow (a Decryption Secrets Block).
    pub fn secrets(&mut self, key_log: &[u8]) -> std::io::Result<()> {
        self.out
            .write_all(&pcapng_out::decryption_secrets(key_log)?)
    }

    /// One packet, with a comment each for `comments`.
    pub fn packet(&mut self, frame: &Frame<'_>, comments: &[String]) -> std::io::Result<()> {
        let interface = self.interface(frame.link)?;
        let p = pcapng_out::Packet {
            interface,
            ts: frame.ts,
            tsresol: 9,
            data: frame.data,
            orig_len: frame.orig_len,
        };
        pcapng_out::write_packet(self.out, &p, comments)?;
        self.packets = self.packets.saturating_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    #[test]
    fn blocks_are_padded_and_framed() {
        let mut out = Vec::new();
        {
            let mut w = PcapngWriter::new(&mut out).unwrap();
            let f = Frame {
                number: 1,
                input: 0,
                ts: Timestamp(1_700_000_000_123_456_789),
                link: LinkType::ETHERNET,
                data: &[1, 2, 3, 4, 5],
                orig_len: 5,
            };
            w.packet(&f, &["hi".to_owned()]).unwrap();
        }
        // Walk the blocks: each total length is a multiple of 4 and repeated at its end.
        let mut at = 0usize;
        let mut kinds = Vec::new();
        while at < out.len() {
            let kind = u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
            let len = u32::from_le_bytes(out[at + 4..at + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            let trailer = u32::from_le_bytes(out[at + len - 4..at + len].try_into().unwrap());
            assert_eq!(trailer as usize, len);
            kinds.push(kind);
            at += len;
        }
        // Section header, interface description, enhanced packet (pcapng 4.1 to 4.3).
        assert_eq!(kinds, vec![0x0A0D_0D0A, 1, 6]);
        assert_eq!(at, out.len());
    }

    #[test]
    fn secrets_are_masked_in_place() {
        let mut p = b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6cHc=\r\n\
              Cookie: a=b\r\n\r\n"
            .to_vec();
        let n = p.len();
        assert_eq!(mask_secrets(&mut p, Carry::Clear), Carry::Clear);
        assert_eq!(p.len(), n);
        let t = String::from_utf8(p).unwrap();
        assert!(t.contains("Authorization: Basic ************\r\n"), "{t}");
        assert!(t.contains("Cookie: ***\r\n"), "{t}");
        assert!(t.contains("Host: x\r\n"));

        let mut p = b"HTTP/1.1 401 x\r\nWWW-Authenticate: NTLM TlRMTVNT\r\n\
              WWW-Authenticate: Negotiate oYG3\r\n\r\n"
            .to_vec();
        mask_secrets(&mut p, Carry::Clear);
        let t = String::from_utf8(p).unwrap();
        assert!(t.contains("NTLM TlRMTVNT"), "a Type 2 is no secret: {t}");
        assert!(t.contains("Negotiate ****\r\n"), "{t}");

        // A token after another challenge, a Kerberos one, and Digest's rspauth.
        let t = mask_all(&[
            b"HTTP/1.1 200 OK\r\nWWW-Authenticate: NTLM, Negotiate oYG3\r\n\
              WWW-Authenticate: Kerberos oYG3\r\nWWW-Authenticate: NTLM, Basic realm=x\r\n\
              Authentication-Info: rspauth=\"ab\", qop=auth\r\n\r\n",
        ]);
        assert!(
            t.contains("WWW-Authenticate: NTLM, Negotiate ****\r\n"),
            "{t}"
        );
        assert!(t.contains("WWW-Authenticate: Kerberos ****\r\n"), "{t}");
        assert!(
            t.contains("WWW-Authenticate: NTLM, Basic realm=x\r\n"),
            "{t}"
        );
        assert!(
            t.contains("Authentication-Info: **********************\r\n"),
            "{t}"
        );

        // A value cut by the segment boundary is masked on in the next segment.
        let mut a = b"GET / HTTP/1.1\r\nAuthorization: NTLM TlRM".to_vec();
        assert_eq!(mask_secrets(&mut a, Carry::Clear), Carry::InSecret);
        assert!(a.ends_with(b"NTLM ****"));
        let mut b = b"TVNTUAAB\r\nHost: y\r\n\r\n".to_vec();
        assert_eq!(mask_secrets(&mut b, Carry::InSecret), Carry::Clear);
        assert_eq!(&b[..], b"********\r\nHost: y\r\n\r\n");
    }

    #[test]
    fn a_credential_without_a_scheme_is_masked_whole() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";
        let req = format!("GET / HTTP/1.1\r\nAuthorization: {jwt}\r\nHost: x\r\n\r\n");
        let t = mask_all(&[req.as_bytes()]);
        assert!(!t.contains("eyJ"), "{t}");
        assert!(t.contains(&format!("Authorization: {}\r\n", "*".repeat(jwt.len()))));
        // Cut anywhere, in the scheme-less token or before it, nothing of it is left.
        for cut in 1..req.len() {
            let (a, b) = req.as_bytes().split_at(cut);
            let t = mask_all(&[a, b]);
            assert!(!t.contains("c2lnbmF0dXJl"), "cut at {cut}: {t}");
            assert!(!t.contains("eyJzdWIi"), "cut at {cut}: {t}");
        }
        // A registered scheme alone is left for the dissector.
        let t = mask_all(&[b"GET / HTTP/1.1\r\nAuthorization: Negotiate\r\n\r\n"]);
        assert!(t.contains("Authorization: Negotiate\r\n"), "{t}");
    }

    /// Masks `segments` one after the other as the export does, and returns them joined.
    fn mask_all(segments: &[&[u8]]) -> String {
        let mut carry = Carry::Clear;
        let mut out = Vec::new();
        for seg in segments {
            let mut s = seg.to_vec();
            carry = mask_secrets(&mut s, carry);
            out.extend_from_slice(&s);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_header_cut_by_a_segment_boundary_is_still_masked() {
        // The name cut, once and in three pieces.
        let t = mask_all(&[b"GET / HTTP/1.1\r\nAuthor", b"ization: Basic YWxp\r\n\r\n"]);
        assert_eq!(t, "GET / HTTP/1.1\r\nAuthorization: Basic ****\r\n\r\n");
        let t = mask_all(&[b"GET / HTTP/1.1\r\nAu", b"thoriz", b"ation: NTLM TlRM\r\n"]);
        assert_eq!(t, "GET / HTTP/1.1\r\nAuthorization: NTLM ****\r\n");
        let t = mask_all(&[b"HTTP/1.1 200 OK\r\nSet-Coo", b"kie: sid=1; Path=/\r\n\r\n"]);
        assert_eq!(t, "HTTP/1.1 200 OK\r\nSet-Cookie: *************\r\n\r\n");
        // The Negotiate scheme cut: the AP-REP after it is masked; an NTLM Type 2 is not.
        let t = mask_all(&[
            b"HTTP/1.1 401 x\r\nWWW-Authenticate: Nego",
            b"tiate oYG3\r\n\r\n",
        ]);
        assert_eq!(
            t,
            "HTTP/1.1 401 x\r\nWWW-Authenticate: Negotiate ****\r\n\r\n"
        );
        let t = mask_all(&[
            b"HTTP/1.1 401 x\r\nWWW-Authenticate: NT",
            b"LM TlRMTVNT\r\n\r\n",
        ]);
        assert_eq!(
            t,
            "HTTP/1.1 401 x\r\nWWW-Authenticate: NTLM TlRMTVNT\r\n\r\n"
        );
        // A cut line that cannot become a secret header leaves nothing behind.
        let mut body = b"\r\n\r\n<html>Authori".to_vec();
        assert_eq!(mask_secrets(&mut body, Carry::Clear), Carry::InLine);
        let mut body = b"HTTP/1.1 200 OK\r\nX-Long: aaaa".to_vec();
        assert_eq!(mask_secrets(&mut body, Carry::Clear), Carry::InLine);
        // ... and the rest of that line is no header.
        let t = mask_all(&[b"HTTP/1.1 200 OK\r\nX-", b"Cookie: a\r\n\r\n"]);
        assert_eq!(t, "HTTP/1.1 200 OK\r\nX-Cookie: a\r\n\r\n");
    }

    #[test]
    fn a_folded_secret_value_is_masked_to_its_end() {
        let t = mask_all(&[
            b"GET / HTTP/1.1\r\nAuthorization: Basic\r\n YWxp\r\n\tY2U=\r\nHost: x\r\n\r\n",
        ]);
        assert_eq!(
            t,
            "GET / HTTP/1.1\r\nAuthorization: Basic\r\n*****\r\n*****\r\nHost: x\r\n\r\n"
        );
        // Folded across a segment boundary.
        let t = mask_all(&[
            b"GET / HTTP/1.1\r\nCookie: a=b\r\n",
            b" c=d\r\nHost: x\r\n\r\n",
        ]);
        assert_eq!(
            t,
            "GET / HTTP/1.1\r\nCookie: ***\r\n****\r\nHost: x\r\n\r\n"
        );
        // A blank line ends the head: a body line starting with a space is not a fold.
        let t = mask_all(&[b"GET / HTTP/1.1\r\nCookie: a=b\r\n\r\n", b" body"]);
        assert_eq!(t, "GET / HTTP/1.1\r\nCookie: ***\r\n\r\n body");
    }

    proptest::proptest! {
        /// Where the segments are cut changes nothing: a head masked in two or three pieces
        /// (empty ones too) is masked as it is whole.
        #[test]
        fn masking_does_not_depend_on_where_segments_are_cut(
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "GET / HTTP/1.1", "HTTP/1.1 401 x", "Host: x", "Authorization: Basic YWxp",
                    "authorization: NTLM TlRMTVNT", "Proxy-Authorization: Negotiate YII",
                    "WWW-Authenticate: Negotiate oYG3", "WWW-Authenticate: NTLM TlRM",
                    "Proxy-Authenticate: Negotiate", "Cookie: a=b", "Set-Cookie: s=1",
                    "WWW-Authenticate: NTLM, Negotiate oYG3", "WWW-Authenticate: Kerberos oY",
                    "Authentication-Info: rspauth=\"ab\"",
                    " folded", "\tfolded", "", "X-Authorization: no", "Cookie:",
                ]),
                0..12,
            ),
            cut in 0usize..400,
            cut2 in 0usize..400,
            crlf in proptest::bool::ANY,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let text = lines.join(eol);
            let whole = mask_all(&[text.as_bytes()]);
            let (lo, hi) = (cut.min(cut2).min(text.len()), cut.max(cut2).min(text.len()));
            let (a, rest) = text.as_bytes().split_at(lo);
            let (b, c) = rest.split_at(hi - lo);
            proptest::prop_assert_eq!(&mask_all(&[a, rest]), &whole);
            proptest::prop_assert_eq!(&mask_all(&[a, b, c]), &whole);
        }

        /// Any bytes, cut anywhere: masking only ever writes `*` over bytes, never moves one.
        #[test]
        fn masking_any_bytes_keeps_every_length_and_position(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            cut in 0usize..600,
        ) {
            let (a, b) = data.split_at(cut.min(data.len()));
            let mut carry = Carry::Clear;
            for seg in [a, b] {
                let mut m = seg.to_vec();
                carry = mask_secrets(&mut m, carry);
                proptest::prop_assert_eq!(m.len(), seg.len());
                for (x, y) in m.iter().zip(seg) {
                    proptest::prop_assert!(x == y || *x == b'*');
                }
            }
        }
    }
}
