//! HTTP/2 over one connection (RFC 9113): the frames of each direction, HPACK (RFC 7541) with
//! one decoder per direction, and streams paired into exchanges.
//!
//! A connection becomes HTTP/2 when its client starts with the connection preface (prior
//! knowledge, or TLS whose ALPN chose `h2`), when its server starts with a SETTINGS frame
//! (the server of a TLS connection may speak first), or after `101 Switching Protocols` to
//! `h2c`. Each stream becomes one [`Exchange`]: its request (the client's header block, the
//! pseudo-header fields first as sent), its final response, its interim ones, and how the
//! stream ended when it was reset or refused by a GOAWAY. SETTINGS, GOAWAY and RST_STREAM
//! are handed on for the connection's timeline; every frame is checked against its type's
//! layout, and one that breaks it is reported as malformed with what was read.
//!
//! What is held is capped: one frame's payload (DATA is never held, only the start of a 4xx
//! body), one header block (CONTINUATION included), each direction's HPACK dynamic table, the
//! fields kept of a header list, and the streams open at once. Each cap hit is counted.

use super::framer::Role;
use super::{
    Anomaly, Exchange, H2End, H2Frame, Header, HttpConfig, HttpEvent, HttpStats, Request, Response,
};
use crate::capture::Timestamp;
use crate::map::Map as HashMap;
use crate::tcp::{ConnId, Dir};

/// The client connection preface (RFC 9113 3.4).
pub(super) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The version number [`Request::version`] and [`Response::version`] carry for HTTP/2.
pub const HTTP2: u8 = 2;

/// Frame types (RFC 9113 6).
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH_PROMISE: u8 = 5;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;

/// Flags (RFC 9113 6.1, 6.2).
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// RFC 9113 6.5.2: the initial SETTINGS_MAX_FRAME_SIZE and SETTINGS_HEADER_TABLE_SIZE.
const DEFAULT_MAX_FRAME: u32 = 1 << 14;
const DEFAULT_TABLE: usize = 4096;

/// The largest HPACK dynamic table kept for one direction, whatever the peer allowed.
pub(super) const MAX_DYNAMIC_TABLE: usize = 64 << 10;
/// Header fields kept of one header list (more are decoded, to keep HPACK in step, and
/// dropped).
pub(super) const MAX_HEADER_FIELDS: usize = 256;
/// Streams open at once on one connection; a stream past it is not followed.
pub(super) const MAX_OPEN_STREAMS: usize = 256;

/// The name of an HTTP/2 error code (RFC 9113 7).
pub fn error_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "unknown error code",
    }
}

/// The name of a frame type (RFC 9113 6).
pub fn frame_name(t: u8) -> &'static str {
    match t {
        DATA => "DATA",
        HEADERS => "HEADERS",
        PRIORITY => "PRIORITY",
        RST_STREAM => "RST_STREAM",
        SETTINGS => "SETTINGS",
        PUSH_PROMISE => "PUSH_PROMISE",
        PING => "PING",
        GOAWAY => "GOAWAY",
        WINDOW_UPDATE => "WINDOW_UPDATE",
        CONTINUATION => "CONTINUATION",
        _ => "unknown",
    }
}

/// Do these first bytes of a server start HTTP/2? A SETTINGS frame on stream 0 (RFC 9113 3.4:
/// the server's preface), which a server of a TLS connection may send before the client's
/// preface comes.
pub(super) fn server_starts_h2(bytes: &[u8]) -> bool {
    match bytes {
        [l0, l1, l2, kind, flags, 0, 0, 0, 0, ..] => {
            let len = u32::from_be_bytes([0, *l0, *l1, *l2]);
            *kind == SETTINGS && *flags & !ACK == 0 && len % 6 == 0 && len <= DEFAULT_MAX_FRAME
        }
        _ => false,
    }
}

/// What the connection hands to the tracker.
#[derive(Debug)]
pub(super) enum H2Out {
    Exchange(Box<Exchange>),
    /// A frame for the timeline, from `role`'s sender.
    Frame {
        role: Role,
        frame: u64,
        ts: Timestamp,
        what: H2Frame,
    },
    Anomaly {
        role: Role,
        ts: Timestamp,
        anomaly: Anomaly,
    },
}

/// Where a direction's reader is.
#[derive(Debug)]
enum Read {
    /// Client preface bytes still expected.
    Preface { left: usize },
    /// Gathering a frame header (`got` bytes of it in `head`).
    Head { got: usize },
    /// Gathering a frame's payload into `payload`.
    Payload { rem: u32 },
    /// A DATA frame: the pad length byte first when PADDED, then data, then padding.
    Data {
        pad_len_next: bool,
        data: u32,
        pad: u32,
    },
    /// Bytes of a frame not kept (too large).
    Skip { rem: u32 },
    /// Frames cannot be found any more (a gap, a broken preface).
    Stopped,
}

/// A header block being gathered over HEADERS/PUSH_PROMISE and CONTINUATION frames.
#[derive(Debug)]
struct Block {
    stream: u32,
    /// For PUSH_PROMISE: the stream promised (its request is this block).
    promised: Option<u32>,
    end_stream: bool,
    frame: u64,
    ts: Timestamp,
    buf: Vec<u8>,
    /// The block outgrew `max_head_bytes`: HPACK cannot follow it.
    too_large: bool,
}

/// One direction of the connection.
#[derive(Debug)]
struct Half {
    read: Read,
    head: [u8; 9],
    /// The frame being read: length, type, flags, stream, and where its header began.
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
    at: (u64, Timestamp),
    payload: Vec<u8>,
    block: Option<Block>,
    decoder: HpackDecoder,
    /// SETTINGS_MAX_FRAME_SIZE this direction's receiver announced.
    max_frame: u32,
}

impl Half {
    fn new(read: Read) -> Self {
        Half {
            read,
            head: [0; 9],
            len: 0,
            kind: 0,
            flags: 0,
            stream: 0,
            at: (0, Timestamp(0)),
            payload: Vec::new(),
            block: None,
            decoder: HpackDecoder::new(),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    fn held(&self) -> usize {
        self.payload
            .capacity()
            .saturating_add(self.block.as_ref().map_or(0, |b| b.buf.capacity()))
            .saturating_add(self.decoder.allowed)
    }
}

/// One stream's request and response as far as they came.
#[derive(Debug, Default)]
struct Stream {
    request: Option<Request>,
    response: Option<Response>,
    interim: Vec<Response>,
    request_ended: bool,
    response_ended: bool,
    end: Option<H2End>,
}

impl Stream {
    fn weight(&self) -> usize {
        let req = self
            .request
            .as_ref()
            .map_or(0, super::tracker::weight_request);
        let resp = self
            .response
            .iter()
            .chain(&self.interim)
            .map(|r| {
                super::tracker::weight_response(r)
                    .saturating_add(r.body_prefix.as_ref().map_or(0, Vec::capacity))
            })
            .fold(0usize, usize::saturating_add);
        std::mem::size_of::<Stream>()
            .saturating_add(req)
            .saturating_add(resp)
    }
}

/// An HTTP/2 connection.
#[derive(Debug)]
pub(super) struct H2Conn {
    conn: ConnId,
    /// The client's half, then the server's.
    halves: [Half; 2],
    streams: HashMap<u32, Stream>,
    /// The highest stream opened of each parity (even: the server's pushes; odd: the
    /// client's), to tell a closed stream's late frames from a new stream.
    last_stream: [u32; 2],
}

fn other(role: Role) -> Role {
    match role {
        Role::Requests => Role::Responses,
        Role::Responses => Role::Requests,
    }
}

/// The context of one feed: the stage's caps and counters, and where the output goes.
pub(super) struct Ctx<'a> {
    pub cfg: &'a HttpConfig,
    pub stats: &'a mut HttpStats,
    pub sink: &'a mut dyn FnMut(HttpEvent),
    pub conn: ConnId,
    /// The TCP layer's client is the server (see the tracker's `Conn::swapped`).
    pub swapped: bool,
}

impl Ctx<'_> {
    fn dir(&self, role: Role) -> Dir {
        match (role, self.swapped) {
            (Role::Requests, false) | (Role::Responses, true) => Dir::ToServer,
            _ => Dir::ToClient,
        }
    }

    fn emit(&mut self, o: H2Out) {
        let conn = self.conn;
        let ev = match o {
            H2Out::Exchange(x) => HttpEvent::Exchange(x),
            H2Out::Frame {
                role,
                frame,
                ts,
                what,
            } => HttpEvent::H2Frame {
                conn,
                dir: self.dir(role),
                ts,
                frame,
                what,
            },
            H2Out::Anomaly { role, ts, anomaly } => HttpEvent::Anomaly {
                conn,
                dir: self.dir(role),
                ts,
                anomaly,
            },
        };
        (self.sink)(ev);
    }
}

impl H2Conn {
    /// A connection whose client starts with the preface, of which `seen` bytes went by
    /// before it was known to be one.
    pub(super) fn new(conn: ConnId, seen: usize) -> Self {
        H2Conn {
            conn,
            halves: [
                Half::new(Read::Preface {
                    left: PREFACE.len().saturating_sub(seen),
                }),
                Half::new(Read::Head { got: 0 }),
            ],
            streams: HashMap::default(),
            last_stream: [0, 0],
        }
    }

    /// A connection upgraded from HTTP/1.1 (RFC 9113 3.2 of RFC 7540, kept by 9113 3.1):
    /// the request that asked for it is stream 1, whose request side has ended.
    pub(super) fn upgraded(
        conn: ConnId,
        request: Option<Request>,
        switching: Option<Response>,
    ) -> Self {
        let mut c = H2Conn::new(conn, 0);
        c.streams.insert(
            1,
            Stream {
                request,
                interim: switching.into_iter().collect(),
                request_ended: true,
                ..Stream::default()
            },
        );
        c.last_stream = [0, 1];
        c
    }

    /// The half `role`'s sender writes.
    fn half(&mut self, role: Role) -> &mut Half {
        let [client, server] = &mut self.halves;
        match role {
            Role::Requests => client,
            Role::Responses => server,
        }
    }

    /// Bytes held: frame and header block buffers, the dynamic tables (at their allowed
    /// size), and the streams.
    pub(super) fn held(&self) -> usize {
        let streams = self
            .streams
            .values()
            .map(Stream::weight)
            .fold(0usize, usize::saturating_add);
        let [client, server] = &self.halves;
        client
            .held()
            .saturating_add(server.held())
            .saturating_add(streams)
    }

    /// In-order bytes of `role`'s direction.
    pub(super) fn feed(
        &mut self,
        role: Role,
        mut input: &[u8],
        frame: u64,
        ts: Timestamp,
        cx: &mut Ctx<'_>,
    ) {
        while !input.is_empty() {
            let h = self.half(role);
            input = match h.read {
                Read::Stopped => return,
                Read::Preface { left } => {
                    let at = PREFACE.len().saturating_sub(left);
                    let n = left.min(input.len());
                    let (want, rest) = input.split_at(n);
                    if PREFACE.get(at..at.saturating_add(n)) != Some(want) {
                        h.read = Read::Stopped;
                        cx.stats.h2.malformed_frames =
                            cx.stats.h2.malformed_frames.saturating_add(1);
                        cx.emit(H2Out::Anomaly {
                            role,
                            ts,
                            anomaly: Anomaly::Http2Malformed {
                                stream: 0,
                                frame_type: None,
                                error: format!(
                                    "the client connection preface is wrong: {:?}",
                                    String::from_utf8_lossy(want)
                                ),
                            },
                        });
                        return;
                    }
                    h.read = match left - n {
                        0 => Read::Head { got: 0 },
                        left => Read::Preface { left },
                    };
                    rest
                }
                Read::Head { got } => {
                    if got == 0 {
                        h.at = (frame, ts);
                    }
                    let n = (9 - got).min(input.len());
                    let (part, rest) = input.split_at(n);
                    if let Some(dst) = h.head.get_mut(got..got + n) {
                        dst.copy_from_slice(part);
                    }
                    if got + n < 9 {
                        h.read = Read::Head { got: got + n };
                    } else {
                        self.frame_head(role, cx);
                        if matches!(self.half(role).read, Read::Payload { rem: 0 }) {
                            self.frame_done(role, frame, cx);
                        }
                    }
                    rest
                }
                Read::Payload { rem } => {
                    let n = input.len().min(rem as usize);
                    let (part, rest) = input.split_at(n);
                    h.payload.extend_from_slice(part);
                    let rem = rem.saturating_sub(n as u32);
                    h.read = Read::Payload { rem };
                    if rem == 0 {
                        self.frame_done(role, frame, cx);
                    }
                    rest
                }
                Read::Skip { rem } => {
                    let n = input.len().min(rem as usize);
                    let rem = rem.saturating_sub(n as u32);
                    h.read = if rem == 0 {
                        Read::Head { got: 0 }
                    } else {
                        Read::Skip { rem }
                    };
                    input.get(n..).unwrap_or_default()
                }
                Read::Data {
                    pad_len_next,
                    data,
                    pad,
                } => self.data_bytes(role, input, pad_len_next, data, pad, frame, ts, cx),
            };
        }
    }

    /// Bytes of this direction were lost: frame boundaries and the HPACK table with them.
    pub(super) fn gap(&mut self, role: Role, ts: Timestamp, cx: &mut Ctx<'_>) {
        let h = self.half(role);
        if matches!(h.read, Read::Stopped) {
            return;
        }
        h.read = Read::Stopped;
        h.payload = Vec::new();
        h.block = None;
        cx.emit(H2Out::Anomaly {
            role,
            ts,
            anomaly: Anomaly::Http2Stopped {
                reason: "bytes lost: HTTP/2 frames and HPACK cannot be followed after a gap",
            },
        });
    }

    /// The stage is over its budget: what is being gathered is let go, and the streams go
    /// out as they are.
    pub(super) fn shed(&mut self, ts: Timestamp, cx: &mut Ctx<'_>) {
        for role in [Role::Requests, Role::Responses] {
            let h = self.half(role);
            if h.block.take().is_some() {
                // The block's fields never reach the table: HPACK is lost for this side.
                h.decoder.broken = true;
            }
            if let Read::Payload { rem } = h.read {
                h.read = Read::Skip { rem };
                if h.kind == HEADERS || h.kind == CONTINUATION || h.kind == PUSH_PROMISE {
                    h.decoder.broken = true;
                }
            }
            h.payload = Vec::new();
        }
        self.close(ts, cx);
    }

    /// The connection ended: every stream still open goes out as far as it came.
    pub(super) fn close(&mut self, _ts: Timestamp, cx: &mut Ctx<'_>) {
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.emit(id, cx);
        }
    }

    fn frame_head(&mut self, role: Role, cx: &mut Ctx<'_>) {
        let h = self.half(role);
        let b = h.head;
        h.len = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        h.kind = b[3];
        h.flags = b[4];
        // RFC 9113 4.1: the reserved bit is ignored.
        h.stream = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff;
        cx.stats.h2.frames = cx.stats.h2.frames.saturating_add(1);
        let (len, kind, flags) = (h.len, h.kind, h.flags);
        if len > h.max_frame {
            // RFC 9113 4.2: FRAME_SIZE_ERROR; the length still frames the next one.
            let max = h.max_frame;
            self.malformed(
                role,
                kind,
                format!("{len} bytes, over the {max} the peer allowed (FRAME_SIZE_ERROR)"),
                cx,
            );
        }
        let h = self.half(role);
        if kind == DATA {
            h.read = Read::Data {
                pad_len_next: flags & PADDED != 0,
                data: len,
                pad: 0,
            };
            if len == 0 {
                let at = self.half(role).at;
                self.data_end(role, at, cx);
            }
            return;
        }
        let keep = match kind {
            HEADERS | CONTINUATION | PUSH_PROMISE => cx.cfg.max_head_bytes,
            // Frames whose payload is read whole (GOAWAY's debug data is not kept past this).
            _ => 1 << 14,
        };
        h.payload.clear();
        if len as usize > keep {
            if matches!(kind, HEADERS | CONTINUATION | PUSH_PROMISE) {
                // The block's fields never reach the table: HPACK is lost for this side.
                cx.stats.head_cap_hits = cx.stats.head_cap_hits.saturating_add(1);
                h.decoder.broken = true;
                h.block = None;
                let ts = h.at.1;
                cx.emit(H2Out::Anomaly {
                    role,
                    ts,
                    anomaly: Anomaly::HeadTooLarge { limit: keep },
                });
            }
            h.read = Read::Skip { rem: len };
            return;
        }
        h.read = Read::Payload { rem: len };
    }

    #[allow(clippy::too_many_arguments)]
    fn data_bytes<'i>(
        &mut self,
        role: Role,
        input: &'i [u8],
        pad_len_next: bool,
        data: u32,
        pad: u32,
        frame: u64,
        ts: Timestamp,
        cx: &mut Ctx<'_>,
    ) -> &'i [u8] {
        let h = self.half(role);
        if pad_len_next {
            // RFC 9113 6.1: the pad length counts in the frame's length.
            let p = u32::from(input.first().copied().unwrap_or(0));
            let left = data.saturating_sub(1);
            if p > left {
                h.read = Read::Skip { rem: left };
                let kind = h.kind;
                self.malformed(
                    role,
                    kind,
                    format!("padding of {p} bytes in a payload of {data} (PROTOCOL_ERROR)"),
                    cx,
                );
                return input.get(1..).unwrap_or_default();
            }
            h.read = Read::Data {
                pad_len_next: false,
                data: left - p,
                pad: p,
            };
            if left == 0 {
                self.data_end(role, (frame, ts), cx);
            }
            return input.get(1..).unwrap_or_default();
        }
        let n = input.len().min(data as usize);
        let (body, rest) = input.split_at(n);
        let stream = h.stream;
        let data = data - n as u32;
        if data > 0 || pad > 0 {
            h.read = Read::Data {
                pad_len_next: false,
                data,
                pad,
            };
        }
        self.body(role, stream, body, cx);
        if data > 0 {
            return rest;
        }
        let m = rest.len().min(pad as usize);
        let pad = pad - m as u32;
        let h = self.half(role);
        if pad > 0 {
            h.read = Read::Data {
                pad_len_next: false,
                data: 0,
                pad,
            };
            return rest.get(m..).unwrap_or_default();
        }
        self.data_end(role, (frame, ts), cx);
        rest.get(m..).unwrap_or_default()
    }

    /// DATA bytes of a stream: counted, and the start of a 4xx body kept.
    fn body(&mut self, role: Role, stream: u32, body: &[u8], cx: &mut Ctx<'_>) {
        if body.is_empty() {
            return;
        }
        cx.stats.body_bytes = cx.stats.body_bytes.saturating_add(body.len() as u64);
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        let msg_len = match role {
            Role::Requests => s.request.as_mut().map(|r| &mut r.body_len),
            Role::Responses => s.response.as_mut().map(|r| &mut r.body_len),
        };
        if let Some(l) = msg_len {
            *l = l.saturating_add(body.len() as u64);
        }
        if let (Role::Responses, Some(r)) = (role, s.response.as_mut()) {
            if let Some(p) = r.body_prefix.as_mut() {
                let room = cx.cfg.max_body_prefix.saturating_sub(p.len());
                p.extend_from_slice(body.get(..room).unwrap_or(body));
            }
        }
    }

    /// A DATA frame ended.
    fn data_end(&mut self, role: Role, at: (u64, Timestamp), cx: &mut Ctx<'_>) {
        let h = self.half(role);
        h.read = Read::Head { got: 0 };
        let (stream, flags) = (h.stream, h.flags);
        if stream == 0 {
            self.malformed(role, DATA, "DATA on stream 0 (PROTOCOL_ERROR)".into(), cx);
            return;
        }
        if flags & END_STREAM != 0 {
            self.end_side(role, stream, at.0, cx);
        }
    }

    /// The frame whose payload was gathered.
    fn frame_done(&mut self, role: Role, frame: u64, cx: &mut Ctx<'_>) {
        let h = self.half(role);
        h.read = Read::Head { got: 0 };
        let payload = std::mem::take(&mut h.payload);
        let (kind, flags, stream) = (h.kind, h.flags, h.stream);
        // RFC 9113 6.10: nothing but CONTINUATION of the same stream while a block is open.
        if let Some(b) = &h.block {
            if kind != CONTINUATION || stream != b.stream {
                let open = b.stream;
                h.block = None;
                h.decoder.broken = true;
                self.malformed(
                    role,
                    kind,
                    format!(
                        "a {} frame inside the header block of stream {open} (PROTOCOL_ERROR)",
                        frame_name(kind)
                    ),
                    cx,
                );
            }
        }
        match kind {
            HEADERS | PUSH_PROMISE => self.headers(role, kind, flags, stream, &payload, frame, cx),
            CONTINUATION => {
                let h = self.half(role);
                match h.block.as_mut() {
                    Some(b) => {
                        if b.buf.len().saturating_add(payload.len()) > cx.cfg.max_head_bytes {
                            b.too_large = true;
                            b.buf = Vec::new();
                        } else if !b.too_large {
                            b.buf.extend_from_slice(&payload);
                        }
                        if flags & END_HEADERS != 0 {
                            self.block_done(role, frame, cx);
                        }
                    }
                    None => self.malformed(
                        role,
                        kind,
                        "CONTINUATION without a header block before it (PROTOCOL_ERROR)".into(),
                        cx,
                    ),
                }
            }
            PRIORITY if stream == 0 || payload.len() != 5 => self.malformed(
                role,
                kind,
                format!(
                    "stream {stream}, {} bytes (RFC 9113 6.3: a stream, 5 bytes)",
                    payload.len()
                ),
                cx,
            ),
            RST_STREAM => {
                if stream == 0 || payload.len() != 4 {
                    self.malformed(
                        role,
                        kind,
                        format!(
                            "stream {stream}, {} bytes (RFC 9113 6.4: a stream, 4 bytes)",
                            payload.len()
                        ),
                        cx,
                    );
                    return;
                }
                let code = be32(&payload);
                cx.stats.h2.resets = cx.stats.h2.resets.saturating_add(1);
                let at = self.half(role).at;
                cx.emit(H2Out::Frame {
                    role,
                    frame: at.0,
                    ts: at.1,
                    what: H2Frame::RstStream { stream, code },
                });
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.end.get_or_insert(H2End {
                        by_server: role == Role::Responses,
                        code,
                        goaway: false,
                        frame: at.0,
                    });
                    self.emit(stream, cx);
                }
            }
            SETTINGS => self.settings(role, flags, stream, &payload, cx),
            PING if stream != 0 || payload.len() != 8 => self.malformed(
                role,
                kind,
                format!(
                    "stream {stream}, {} bytes (RFC 9113 6.7: stream 0, 8 bytes)",
                    payload.len()
                ),
                cx,
            ),
            GOAWAY => self.goaway(role, stream, &payload, cx),
            WINDOW_UPDATE => {
                if payload.len() != 4 {
                    self.malformed(
                        role,
                        kind,
                        format!("{} bytes (RFC 9113 6.9: 4 bytes)", payload.len()),
                        cx,
                    );
                } else if be32(&payload) & 0x7fff_ffff == 0 {
                    self.malformed(
                        role,
                        kind,
                        format!(
                            "an increment of 0 on stream {stream} (RFC 9113 6.9: PROTOCOL_ERROR)"
                        ),
                        cx,
                    );
                }
            }
            // PRIORITY and PING as they should be need nothing more; RFC 9113 5.5: frames of
            // unknown types are ignored.
            _ => {}
        }
    }

    /// `role`'s side of a stream ended (END_STREAM): the exchange goes out when both did.
    fn end_side(&mut self, role: Role, id: u32, frame: u64, cx: &mut Ctx<'_>) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let msg = match role {
            Role::Requests => {
                s.request_ended = true;
                s.request
                    .as_mut()
                    .map(|r| (&mut r.frame, &mut r.first_frame))
            }
            Role::Responses => {
                s.response_ended = s.response.is_some();
                s.response
                    .as_mut()
                    .map(|r| (&mut r.frame, &mut r.first_frame))
            }
        };
        // A message is shown on the frame that completes it.
        if let Some((f, first)) = msg {
            if *f != frame {
                first.get_or_insert(*f);
                *f = frame;
            }
        }
        if s.request_ended && s.response_ended {
            self.emit(id, cx);
        }
    }

    fn settings(&mut self, role: Role, flags: u8, stream: u32, payload: &[u8], cx: &mut Ctx<'_>) {
        if stream != 0 || payload.len() % 6 != 0 || (flags & ACK != 0 && !payload.is_empty()) {
            self.malformed(role, SETTINGS, format!("stream {stream}, {} bytes{} (RFC 9113 6.5: stream 0, 6 bytes a setting, empty when ACK)", payload.len(), if flags & ACK != 0 { ", ACK" } else { "" }), cx);
            return;
        }
        if flags & ACK != 0 {
            return;
        }
        let mut values = 0u8;
        for e in payload.chunks_exact(6) {
            let [i0, i1, v0, v1, v2, v3] = *e else {
                continue;
            };
            let id = u16::from_be_bytes([i0, i1]);
            let v = u32::from_be_bytes([v0, v1, v2, v3]);
            values = values.saturating_add(1);
            match id {
                1 => {
                    // The sender's table limit binds the peer's encoder: the other side's
                    // decoder (RFC 7541 4.2).
                    let d = &mut self.half(other(role)).decoder;
                    let want = v as usize;
                    if want > MAX_DYNAMIC_TABLE {
                        cx.stats.h2.hpack_table_cap_hits =
                            cx.stats.h2.hpack_table_cap_hits.saturating_add(1);
                    }
                    d.allowed = want.min(MAX_DYNAMIC_TABLE);
                    d.decoder.set_max_allowed_table_size(d.allowed);
                }
                5 => {
                    if (DEFAULT_MAX_FRAME..=0x00ff_ffff).contains(&v) {
                        self.half(other(role)).max_frame = v;
                    } else {
                        self.malformed(
                            role,
                            SETTINGS,
                            format!(
                                "SETTINGS_MAX_FRAME_SIZE {v} (RFC 9113 6.5.2: 16384 to 16777215)"
                            ),
                            cx,
                        );
                    }
                }
                _ => {}
            }
        }
        let at = self.half(role).at;
        cx.emit(H2Out::Frame {
            role,
            frame: at.0,
            ts: at.1,
            what: H2Frame::Settings { values },
        });
    }

    fn goaway(&mut self, role: Role, stream: u32, payload: &[u8], cx: &mut Ctx<'_>) {
        if stream != 0 || payload.len() < 8 {
            self.malformed(
                role,
                GOAWAY,
                format!(
                    "stream {stream}, {} bytes (RFC 9113 6.8: stream 0, 8 bytes or more)",
                    payload.len()
                ),
                cx,
            );
            return;
        }
        let last = be32(payload) & 0x7fff_ffff;
        let code = be32(payload.get(4..).unwrap_or_default());
        cx.stats.h2.goaways = cx.stats.h2.goaways.saturating_add(1);
        let at = self.half(role).at;
        cx.emit(H2Out::Frame {
            role,
            frame: at.0,
            ts: at.1,
            what: H2Frame::GoAway {
                last_stream: last,
                code,
            },
        });
        // Streams the sender never processed (above `last`, opened by the other side), and
        // with an error every stream still waiting: they end here.
        let opened_by_peer = |id: u32| (id % 2 == 1) == (role == Role::Responses);
        let mut ids: Vec<u32> = self
            .streams
            .iter()
            .filter(|(id, s)| {
                (opened_by_peer(**id) && **id > last) || (code != 0 && !s.response_ended)
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(s) = self.streams.get_mut(&id) {
                s.end.get_or_insert(H2End {
                    by_server: role == Role::Responses,
                    code,
                    goaway: true,
                    frame: at.0,
                });
            }
            self.emit(id, cx);
        }
    }

    fn malformed(&mut self, role: Role, kind: u8, error: String, cx: &mut Ctx<'_>) {
        cx.stats.h2.malformed_frames = cx.stats.h2.malformed_frames.saturating_add(1);
        let h = self.half(role);
        cx.emit(H2Out::Anomaly {
            role,
            ts: h.at.1,
            anomaly: Anomaly::Http2Malformed {
                stream: h.stream,
                frame_type: Some(frame_name(kind)),
                error,
            },
        });
    }

    /// The stream goes out as an exchange.
    fn emit(&mut self, id: u32, cx: &mut Ctx<'_>) {
        let Some(s) = self.streams.remove(&id) else {
            return;
        };
        cx.stats.exchanges = cx.stats.exchanges.saturating_add(1);
        cx.emit(H2Out::Exchange(Box::new(Exchange {
            conn: self.conn,
            input: 0,
            request: s.request,
            response: s.response,
            interim: s.interim,
            tls: false,
            channel_binding: None,
            h2: Some(Box::new(super::H2Stream {
                stream: id,
                end: s.end,
            })),
        })));
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

mod block;

use block::HpackDecoder;

#[cfg(test)]
mod tests;
