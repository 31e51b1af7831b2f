//! One direction of an HTTP/1.x connection: message heads and body framing (RFC 9112 6).

use std::sync::LazyLock;

use compact_str::CompactString;
use memchr::memmem;

use super::{Anomaly, Header, HttpConfig};
use crate::capture::Timestamp;

/// Which kind of message a direction carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Requests,
    Responses,
}

/// How the body of a message is delimited (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
    /// The connection stops being HTTP (CONNECT accepted, 101 Switching Protocols).
    Tunnel,
    /// The connection switches to HTTP/2 (`101` to `h2c`): what follows is handed on.
    Switch,
}

/// A parsed message head.
#[derive(Debug, Clone)]
pub(super) enum Head {
    Request {
        method: CompactString,
        uri: String,
        version: u8,
        headers: Vec<Header>,
    },
    Response {
        status: u16,
        reason: CompactString,
        version: u8,
        headers: Vec<Header>,
    },
}

/// What the framer reports.
#[derive(Debug)]
pub(super) enum Out {
    /// A head; the callback answers how its body is framed and whether to keep its start.
    /// `frame` holds its first byte, `end_frame` its last.
    Head {
        frame: u64,
        end_frame: u64,
        ts: Timestamp,
        head: Head,
    },
    /// The body of the last head ended, in `frame`.
    BodyDone {
        body_len: u64,
        prefix: Option<Vec<u8>>,
        frame: u64,
    },
    Anomaly(Anomaly),
    /// After a [`Body::Switch`]: the bytes that followed the head in this feed (the rest of
    /// the connection comes as it is fed), from `frame`.
    Switched {
        rest: Vec<u8>,
        frame: u64,
    },
}

/// The callback's answer to a head.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyPlan {
    pub body: Body,
    pub keep_prefix: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a head; `buf` holds what came so far.
    Head,
    Length {
        rem: u64,
    },
    /// Reading a chunk-size line into `buf`.
    ChunkSize,
    ChunkData {
        rem: u64,
    },
    /// The CRLF after chunk data: bytes still expected.
    ChunkEnd {
        rem: u8,
    },
    /// Trailer section after the last chunk, into `buf`.
    Trailers,
    UntilClose,
    /// Looking for the next message head (after a fault or a gap, or before detection).
    Sync,
    /// Not HTTP any more.
    Tunnel,
}

/// A head buffer up to this size is kept for the next head of the connection.
const REUSED_BUFFER: usize = 4096;

/// Chunk-size lines and trailer sections longer than this are judged malformed.
const MAX_CHUNK_LINE: usize = 4096;

#[derive(Debug)]
pub(super) struct Framer {
    pub(super) role: Role,
    state: State,
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for the end of the head.
    searched: usize,
    head_at: Option<(u64, Timestamp)>,
    /// The frame of the bytes fed last: where a head or a body that ends now ends.
    fed_frame: u64,
    body_len: u64,
    prefix: Option<Vec<u8>>,
    skipped: u64,
    /// A head answered [`Body::Switch`]: the rest of this feed goes out as `Out::Switched`.
    switching: bool,
}

impl Framer {
    /// A framer waiting for the first head at the very start of the stream.
    pub(super) fn new(role: Role) -> Self {
        Framer {
            role,
            state: State::Head,
            buf: Vec::new(),
            searched: 0,
            head_at: None,
            fed_frame: 0,
            body_len: 0,
            prefix: None,
            skipped: 0,
            switching: false,
        }
    }

    /// A framer that first looks for a message head anywhere (picked up mid-stream).
    pub(super) fn syncing(role: Role) -> Self {
        Framer {
            state: State::Sync,
            ..Framer::new(role)
        }
    }

    /// Bytes held: the buffer of an unfinished head or chunk line (its capacity: that is what
    /// memory holds), and the kept start of a body.
    pub(super) fn buffered(&self) -> usize {
        self.buf
            .capacity()
            .saturating_add(self.prefix.as_ref().map_or(0, Vec::capacity))
    }

    /// Lets go of what is held, because the HTTP stage is over its memory budget: an
    /// unfinished head or chunk line is abandoned (the framer looks for the next message head)
    /// and the start of a body is no longer kept. True when a message was cut.
    pub(super) fn shed(&mut self) -> bool {
        self.prefix = None;
        let cut = !self.buf.is_empty();
        if cut {
            self.resync();
        }
        self.buf = Vec::new();
        cut
    }

    /// Feeds in-order bytes.
    pub(super) fn feed(
        &mut self,
        mut input: &[u8],
        frame: u64,
        ts: Timestamp,
        cfg: &HttpConfig,
        out: &mut dyn FnMut(Out) -> BodyPlan,
    ) {
        self.fed_frame = frame;
        while !input.is_empty() {
            input = match self.state {
                State::Head => self.head(input, frame, ts, cfg, out),
                State::Length { rem } => {
                    let n = take(input.len(), rem);
                    let (body, rest) = input.split_at(n);
                    self.body_bytes(body, cfg);
                    let rem = rem.saturating_sub(n as u64);
                    if rem == 0 {
                        self.finish_body(out);
                    } else {
                        self.state = State::Length { rem };
                    }
                    rest
                }
                State::ChunkSize => self.chunk_size(input, out),
                State::ChunkData { rem } => {
                    let n = take(input.len(), rem);
                    let (body, rest) = input.split_at(n);
                    self.body_bytes(body, cfg);
                    let rem = rem.saturating_sub(n as u64);
                    self.state = if rem == 0 {
                        State::ChunkEnd { rem: 2 }
                    } else {
                        State::ChunkData { rem }
                    };
                    rest
                }
                State::ChunkEnd { rem } => {
                    // RFC 9112 7.1: CRLF after chunk data; tolerate a bare LF.
                    let mut rest = input;
                    let mut rem = rem;
                    while rem > 0 {
                        match rest.split_first() {
                            Some((b'\r', r)) if rem == 2 => {
                                rest = r;
                                rem = 1;
                            }
                            Some((b'\n', r)) => {
                                rest = r;
                                rem = 0;
                            }
                            Some(_) => {
                                out(Out::Anomaly(Anomaly::MalformedChunk));
                                self.resync();
                                return self.feed_rest(rest, frame, ts, cfg, out);
                            }
                            None => break,
                        }
                    }
                    self.state = if rem == 0 {
                        State::ChunkSize
                    } else {
                        State::ChunkEnd { rem }
                    };
                    rest
                }
                State::Trailers => self.trailers(input, out),
                State::UntilClose => {
                    self.body_bytes(input, cfg);
                    &[]
                }
                State::Sync => self.sync(input, frame, ts, out),
                State::Tunnel => {
                    self.switched(input, out);
                    &[]
                }
            };
        }
        self.switched(&[], out);
    }

    fn switched(&mut self, rest: &[u8], out: &mut dyn FnMut(Out) -> BodyPlan) {
        if std::mem::take(&mut self.switching) {
            out(Out::Switched {
                rest: rest.to_vec(),
                frame: self.fed_frame,
            });
        }
    }

    fn feed_rest(
        &mut self,
        rest: &[u8],
        frame: u64,
        ts: Timestamp,
        cfg: &HttpConfig,
        out: &mut dyn FnMut(Out) -> BodyPlan,
    ) {
        self.feed(rest, frame, ts, cfg, out);
    }

    /// Bytes that will not come (a TCP gap).
    pub(super) fn gap(&mut self, len: u64, out: &mut dyn FnMut(Out) -> BodyPlan) {
        match self.state {
            State::Length { rem } if len < rem => {
                self.body_len = self.body_len.saturating_add(len);
                self.state = State::Length {
                    rem: rem.saturating_sub(len),
                };
            }
            State::Length { rem } if len == rem => {
                self.body_len = self.body_len.saturating_add(len);
                self.finish_body(out);
            }
            State::ChunkData { rem } if len < rem => {
                self.body_len = self.body_len.saturating_add(len);
                self.state = State::ChunkData {
                    rem: rem.saturating_sub(len),
                };
            }
            State::UntilClose => {
                self.body_len = self.body_len.saturating_add(len);
            }
            State::Tunnel => {}
            State::Sync => {
                self.skipped = self.skipped.saturating_add(len);
            }
            State::Head if self.buf.is_empty() => {
                // Between messages: the lost bytes held at least the start of the next one.
                out(Out::Anomaly(Anomaly::Gap { len }));
                self.resync();
            }
            State::Head => {
                // A head cut by the gap (often the snap length): keep what was read of it.
                out(Out::Anomaly(Anomaly::Gap { len }));
                self.salvage_head(out);
                self.resync();
            }
            _ => {
                out(Out::Anomaly(Anomaly::Gap { len }));
                // A message cut by the gap ends here, as far as it was read.
                if self.head_at.is_none() && !matches!(self.state, State::Head) {
                    self.finish_body(out);
                }
                self.resync();
            }
        }
    }

    /// The sender closed its side: a close-delimited body ends here (RFC 9112 6.3 item 8).
    pub(super) fn close(&mut self, out: &mut dyn FnMut(Out) -> BodyPlan) {
        match self.state {
            State::UntilClose => self.finish_body(out),
            // Framing errors: a message cut short by the close still counts as ended.
            State::Length { .. }
            | State::ChunkSize
            | State::ChunkData { .. }
            | State::ChunkEnd { .. }
            | State::Trailers => self.finish_body(out),
            State::Head if !self.buf.is_empty() => self.salvage_head(out),
            State::Head | State::Sync | State::Tunnel => {}
        }
        self.buf = Vec::new();
    }

    /// Parses the complete lines of an unfinished head as if it ended there, reports it as
    /// truncated, and ends the message (its body cannot be framed).
    fn salvage_head(&mut self, out: &mut dyn FnMut(Out) -> BodyPlan) {
        let (frame, ts) = self.head_at.take().unwrap_or((0, Timestamp(0)));
        let parsed = match memchr::memrchr(b'\n', &self.buf) {
            Some(last_nl) => {
                let mut head = self.buf.get(..=last_nl).unwrap_or_default().to_vec();
                head.extend_from_slice(b"\r\n");
                match self.role {
                    Role::Requests => parse_request(&head),
                    Role::Responses => parse_response(&head),
                }
            }
            // Not even the start line is whole: keep what it names.
            None => partial_start_line(&self.buf, self.role).ok_or_else(String::new),
        };
        if let Ok(head) = parsed {
            out(Out::Anomaly(Anomaly::TruncatedHead));
            out(Out::Head {
                frame,
                end_frame: self.fed_frame,
                ts,
                head,
            });
            self.finish_body(out);
        }
    }

    fn resync(&mut self) {
        self.state = State::Sync;
        self.buf.clear();
        if self.buf.capacity() > REUSED_BUFFER {
            self.buf = Vec::new();
        }
        self.searched = 0;
        self.head_at = None;
    }

    fn body_bytes(&mut self, body: &[u8], cfg: &HttpConfig) {
        self.body_len = self.body_len.saturating_add(body.len() as u64);
        if let Some(p) = self.prefix.as_mut() {
            let room = cfg.max_body_prefix.saturating_sub(p.len());
            p.extend_from_slice(body.get(..room.min(body.len())).unwrap_or_default());
        }
    }

    fn finish_body(&mut self, out: &mut dyn FnMut(Out) -> BodyPlan) {
        let body_len = std::mem::take(&mut self.body_len);
        let prefix = self.prefix.take();
        self.state = State::Head;
        self.buf.clear();
        self.searched = 0;
        out(Out::BodyDone {
            body_len,
            prefix,
            frame: self.fed_frame,
        });
    }

    fn head<'i>(
        &mut self,
        input: &'i [u8],
        frame: u64,
        ts: Timestamp,
        cfg: &HttpConfig,
        out: &mut dyn FnMut(Out) -> BodyPlan,
    ) -> &'i [u8] {
        let mut input = input;
        if self.buf.is_empty() {
            // RFC 9112 2.2: empty lines before a request line are ignored.
            while let Some((b'\r' | b'\n', rest)) = input.split_first() {
                input = rest;
            }
            if input.is_empty() {
                return input;
            }
            if self.head_at.is_none() {
                self.head_at = Some((frame, ts));
            }
            if let Some(end) = head_end(input, 0) {
                let (head, rest) = input.split_at(end);
                self.parse_head(head, cfg, out);
                return rest;
            }
        } else if self.head_at.is_none() {
            self.head_at = Some((frame, ts));
        }
        // The head continues in a later segment: gather it, within the cap.
        let room = cfg.max_head_bytes.saturating_sub(self.buf.len());
        let n = room.min(input.len());
        let (now, _) = input.split_at(n);
        let before = self.buf.len();
        // Grow by doubling, but never past the cap: the buffer's capacity is what is held.
        let needed = before.saturating_add(n);
        if self.buf.capacity() < needed {
            let want = self
                .buf
                .capacity()
                .saturating_mul(2)
                .clamp(needed, cfg.max_head_bytes.max(needed));
            self.buf.reserve_exact(want.saturating_sub(before));
        }
        self.buf.extend_from_slice(now);
        let from = self.searched.saturating_sub(3);
        if let Some(end) = head_end(&self.buf, from) {
            let head = std::mem::take(&mut self.buf);
            let used = end.saturating_sub(before);
            self.parse_head(head.get(..end).unwrap_or_default(), cfg, out);
            let mut reuse = head;
            reuse.clear();
            // Keep a small buffer for the next head; a large one goes back to the allocator.
            if self.buf.is_empty() && reuse.capacity() <= REUSED_BUFFER {
                self.buf = reuse;
            }
            return input.get(used..).unwrap_or_default();
        }
        self.searched = self.buf.len();
        if self.buf.len() >= cfg.max_head_bytes {
            out(Out::Anomaly(Anomaly::HeadTooLarge {
                limit: cfg.max_head_bytes,
            }));
            self.resync();
            return input.get(n..).unwrap_or_default();
        }
        &[]
    }

    fn parse_head(&mut self, raw: &[u8], cfg: &HttpConfig, out: &mut dyn FnMut(Out) -> BodyPlan) {
        let (frame, ts) = self.head_at.take().unwrap_or((0, Timestamp(0)));
        self.buf.clear();
        self.searched = 0;
        let parsed = match self.role {
            Role::Requests => parse_request(raw),
            Role::Responses => parse_response(raw),
        };
        let head = match parsed {
            Ok(h) => h,
            Err(error) => {
                out(Out::Anomaly(Anomaly::MalformedHead { error }));
                // Keep what a lenient reading gets out of it (a bit-flipped header should not
                // hide the request); give up only when not even the start line reads.
                match parse_lenient(raw, self.role) {
                    Some(h) => h,
                    None => {
                        self.resync();
                        return;
                    }
                }
            }
        };
        let plan = out(Out::Head {
            frame,
            end_frame: self.fed_frame,
            ts,
            head,
        });
        self.body_len = 0;
        self.prefix = plan.keep_prefix.then(Vec::new);
        match plan.body {
            Body::None | Body::Length(0) => self.finish_body(out),
            Body::Length(n) => self.state = State::Length { rem: n },
            Body::Chunked => self.state = State::ChunkSize,
            Body::UntilClose => self.state = State::UntilClose,
            Body::Tunnel => {
                self.finish_body(out);
                self.state = State::Tunnel;
            }
            Body::Switch => {
                self.finish_body(out);
                self.state = State::Tunnel;
                self.switching = true;
            }
        }
        let _ = cfg;
    }

    fn chunk_size<'i>(
        &mut self,
        input: &'i [u8],
        out: &mut dyn FnMut(Out) -> BodyPlan,
    ) -> &'i [u8] {
        let Some(nl) = memchr::memchr(b'\n', input) else {
            if self.buf.len().saturating_add(input.len()) > MAX_CHUNK_LINE {
                out(Out::Anomaly(Anomaly::MalformedChunk));
                self.resync();
            } else {
                self.buf.extend_from_slice(input);
            }
            return &[];
        };
        let (line, rest) = input.split_at(nl.saturating_add(1));
        self.buf.extend_from_slice(line);
        let size = match httparse::parse_chunk_size(&self.buf) {
            Ok(httparse::Status::Complete((_, size))) => Some(size),
            _ => None,
        };
        self.buf.clear();
        match size {
            Some(0) => self.state = State::Trailers,
            Some(n) => self.state = State::ChunkData { rem: n },
            None => {
                out(Out::Anomaly(Anomaly::MalformedChunk));
                self.resync();
            }
        }
        rest
    }

    fn trailers<'i>(&mut self, input: &'i [u8], out: &mut dyn FnMut(Out) -> BodyPlan) -> &'i [u8] {
        // RFC 9112 7.1.2: trailer fields end with an empty line; the common case is that empty
        // line alone.
        let mut rest = input;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(nl.saturating_add(1));
            self.buf.extend_from_slice(line);
            let empty = matches!(self.buf.as_slice(), b"\r\n" | b"\n");
            self.buf.clear();
            rest = after;
            if empty {
                self.finish_body(out);
                return rest;
            }
        }
        if self.buf.len().saturating_add(rest.len()) > MAX_CHUNK_LINE {
            out(Out::Anomaly(Anomaly::MalformedChunk));
            self.resync();
        } else {
            self.buf.extend_from_slice(rest);
        }
        &[]
    }

    fn sync<'i>(
        &mut self,
        input: &'i [u8],
        frame: u64,
        ts: Timestamp,
        out: &mut dyn FnMut(Out) -> BodyPlan,
    ) -> &'i [u8] {
        match find_head_start(input, self.role) {
            Some(at) => {
                let skipped = self.skipped.saturating_add(at as u64);
                self.skipped = 0;
                if skipped > 0 {
                    out(Out::Anomaly(Anomaly::Resynchronised { skipped }));
                }
                self.state = State::Head;
                self.head_at = Some((frame, ts));
                input.get(at..).unwrap_or_default()
            }
            None => {
                self.skipped = self.skipped.saturating_add(input.len() as u64);
                &[]
            }
        }
    }
}

fn take(have: usize, want: u64) -> usize {
    usize::try_from(want).map_or(have, |w| w.min(have))
}

/// End of a message head (just past the empty line), searching from `from`.
fn head_end(b: &[u8], from: usize) -> Option<usize> {
    // Built once: `memmem::find` builds a searcher on every call.
    static CRLF2: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\r\n\r\n"));
    static LF2: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\n\n"));
    let hay = b.get(from..)?;
    if let Some(i) = CRLF2.find(hay) {
        return from.checked_add(i)?.checked_add(4);
    }
    // Lenient: bare LF line endings (RFC 9112 2.2 allows a recipient to accept them).
    LF2.find(hay)
        .and_then(|i| from.checked_add(i)?.checked_add(2))
}

/// Does `b` begin like a message of `role`? (`HTTP/1.` for a status line; an upper-case method
/// token, a space and a request target for a request line.)
pub(super) fn looks_like_head(b: &[u8], role: Role) -> bool {
    match role {
        Role::Responses => b.starts_with(b"HTTP/1."),
        Role::Requests => {
            let method_len = b
                .iter()
                .take(21)
                .take_while(|c| c.is_ascii_uppercase() || **c == b'-' || **c == b'_')
                .count();
            let start = (3..=20).contains(&method_len)
                && b.get(method_len) == Some(&b' ')
                && b.get(method_len.saturating_add(1))
                    .is_some_and(|c| *c == b'/' || *c == b'*' || c.is_ascii_alphanumeric());
            if !start {
                return false;
            }
            // When the whole request line is here, it must end in an HTTP/1.x version (RFC 9112
            // 3): this keeps out SIP, RTSP and other look-alikes.
            let window = b.get(..b.len().min(8192)).unwrap_or(b);
            match memchr::memchr(b'\n', window) {
                Some(nl) => {
                    let line = window.get(..nl).unwrap_or_default();
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    line.len() >= 8
                        && line
                            .get(line.len().saturating_sub(8)..)
                            .is_some_and(|v| v.starts_with(b"HTTP/1."))
                }
                None => true,
            }
        }
    }
}

/// The first offset where a line starts that looks like a head of `role`.
pub(super) fn find_head_start(b: &[u8], role: Role) -> Option<usize> {
    if looks_like_head(b, role) {
        return Some(0);
    }
    let mut at = 0usize;
    while let Some(nl) = b.get(at..).and_then(|r| memchr::memchr(b'\n', r)) {
        at = at.checked_add(nl)?.checked_add(1)?;
        if looks_like_head(b.get(at..)?, role) {
            return Some(at);
        }
    }
    None
}

/// The fields httparse found in `raw`. The head is checked for UTF-8 once, as a whole, and
/// each value then taken from it by its place: checking each value on its own cost a call
/// per field, a tenth of the HTTP stage.
fn owned_headers(h: &[httparse::Header<'_>], raw: &[u8]) -> Vec<Header> {
    let whole = std::str::from_utf8(raw).ok();
    let value = |v: &[u8]| -> CompactString {
        let within = whole.and_then(|w| {
            let at = (v.as_ptr() as usize).checked_sub(raw.as_ptr() as usize)?;
            w.get(at..at.checked_add(v.len())?)
        });
        match within {
            Some(t) => CompactString::from(t.trim()),
            None => CompactString::from(text(v).trim()),
        }
    };
    h.iter()
        .filter(|h| !h.name.is_empty())
        .map(|h| Header {
            name: super::header_name(h.name),
            value: value(h.value),
        })
        .collect()
}

/// Bytes as text, invalid UTF-8 replaced. `str::from_utf8` first: it is several times faster
/// than `from_utf8_lossy` on the valid text nearly every header is.
fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

fn config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    c
}

/// Header slots tried first; a head with more fields is parsed again with room for them.
const HEADERS_SMALL: usize = 64;
const HEADERS_MAX: usize = 1024;

fn parse_request(raw: &[u8]) -> Result<Head, String> {
    parse_head("request", |headers| {
        let mut req = httparse::Request::new(headers);
        Ok(match config().parse_request(&mut req, raw)? {
            httparse::Status::Complete(_) => Some(request_head(&req, raw)),
            httparse::Status::Partial => None,
        })
    })
}

/// Runs `parse` (`None`: the head is incomplete) with [`HEADERS_SMALL`] header slots, and
/// again with [`HEADERS_MAX`] when they were too few.
fn parse_head<'b>(
    what: &str,
    parse: impl Fn(&mut [httparse::Header<'b>]) -> Result<Option<Head>, httparse::Error>,
) -> Result<Head, String> {
    let mut small = [httparse::EMPTY_HEADER; HEADERS_SMALL];
    let parsed = match parse(&mut small) {
        Err(httparse::Error::TooManyHeaders) => {
            parse(&mut vec![httparse::EMPTY_HEADER; HEADERS_MAX])
        }
        other => other,
    };
    match parsed {
        Ok(Some(head)) => Ok(head),
        Ok(None) => Err(format!("incomplete {what} head")),
        Err(e) => Err(format!("{what} head: {e}")),
    }
}

fn request_head(req: &httparse::Request<'_, '_>, raw: &[u8]) -> Head {
    Head::Request {
        method: CompactString::from(req.method.unwrap_or_default()),
        uri: req.path.unwrap_or_default().to_owned(),
        version: req.version.unwrap_or(1),
        headers: owned_headers(req.headers, raw),
    }
}

fn parse_response(raw: &[u8]) -> Result<Head, String> {
    parse_head("response", |headers| {
        let mut resp = httparse::Response::new(headers);
        Ok(match config().parse_response(&mut resp, raw)? {
            httparse::Status::Complete(_) => Some(response_head(&resp, raw)),
            httparse::Status::Partial => None,
        })
    })
}

fn response_head(resp: &httparse::Response<'_, '_>, raw: &[u8]) -> Head {
    Head::Response {
        status: resp.code.unwrap_or(0),
        reason: CompactString::from(resp.reason.unwrap_or_default()),
        version: resp.version.unwrap_or(1),
        headers: owned_headers(resp.headers, raw),
    }
}

/// A head that httparse refused, read line by line: the start line as `partial_start_line`
/// reads it, and every later line with a colon as a field.
fn parse_lenient(raw: &[u8], role: Role) -> Option<Head> {
    let mut lines = raw
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    let head = partial_start_line(first, role)?;
    let fields: Vec<Header> = lines
        .filter_map(|l| {
            let colon = memchr::memchr(b':', l)?;
            let (name, value) = l.split_at(colon);
            let name = text(name);
            let name = name.trim();
            if name.is_empty() || name.contains(' ') {
                return None;
            }
            Some(Header {
                name: super::header_name(name),
                value: CompactString::from(text(value.get(1..).unwrap_or_default()).trim()),
            })
        })
        .collect();
    Some(match head {
        Head::Request {
            method,
            uri,
            version,
            ..
        } => Head::Request {
            method,
            uri,
            version,
            headers: fields,
        },
        Head::Response {
            status,
            reason,
            version,
            ..
        } => Head::Response {
            status,
            reason,
            version,
            headers: fields,
        },
    })
}

/// The start line of a head cut before its end: a request's method and as much of its target
/// as was read, or a response's status code.
fn partial_start_line(b: &[u8], role: Role) -> Option<Head> {
    if !looks_like_head(b, role) {
        return None;
    }
    let line = String::from_utf8_lossy(b);
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    match role {
        Role::Requests => Some(Head::Request {
            method: CompactString::from(words.next()?),
            uri: words.next().unwrap_or_default().trim_end().to_owned(),
            version: u8::from(!words.next().is_some_and(|v| v.starts_with("HTTP/1.0"))),
            headers: Vec::new(),
        }),
        Role::Responses => {
            let version = if words.next()?.starts_with("HTTP/1.0") {
                0
            } else {
                1
            };
            let status = words.next()?.get(..3)?.parse().ok()?;
            Some(Head::Response {
                status,
                reason: CompactString::from(words.collect::<Vec<_>>().join(" ").trim_end()),
                version,
                headers: Vec::new(),
            })
        }
    }
}

impl Head {
    /// How the body after this head is framed; `method` is the one of the request a response
    /// answers. The start of a 4xx body is kept: servers explain a refusal there.
    pub(super) fn body_plan(&self, method: Option<&str>) -> BodyPlan {
        match self {
            Head::Request { headers, .. } => BodyPlan {
                body: request_body(headers),
                keep_prefix: false,
            },
            Head::Response {
                status, headers, ..
            } => BodyPlan {
                body: response_body(*status, method, headers),
                keep_prefix: (400..500).contains(status),
            },
        }
    }
}

/// RFC 9112 6.3: how a request's body is delimited.
fn request_body(headers: &[Header]) -> Body {
    if is_chunked(headers) {
        return Body::Chunked;
    }
    match content_length(headers) {
        Some(n) => Body::Length(n),
        None => Body::None,
    }
}

/// RFC 9112 6.3: how a response's body is delimited, given the request's method.
fn response_body(status: u16, method: Option<&str>, headers: &[Header]) -> Body {
    if status == 101 {
        return Body::Tunnel;
    }
    if method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT")) && (200..300).contains(&status) {
        return Body::Tunnel;
    }
    if (100..200).contains(&status)
        || status == 204
        || status == 304
        || method.is_some_and(|m| m.eq_ignore_ascii_case("HEAD"))
    {
        return Body::None;
    }
    if is_chunked(headers) {
        return Body::Chunked;
    }
    match content_length(headers) {
        Some(n) => Body::Length(n),
        None => Body::UntilClose,
    }
}

fn is_chunked(headers: &[Header]) -> bool {
    // RFC 9112 6.1: chunked must be the final transfer coding.
    super::headers_named(headers, "transfer-encoding")
        .last()
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

fn content_length(headers: &[Header]) -> Option<u64> {
    // RFC 9110 8.6: a list of identical values is the same as one.
    let v = super::header(headers, "content-length")?;
    v.split(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(role: Role, chunks: &[&[u8]]) -> Vec<String> {
        let mut f = Framer::new(role);
        let cfg = HttpConfig::default();
        let mut log = Vec::new();
        for c in chunks {
            f.feed(c, 1, Timestamp(0), &cfg, &mut |o| {
                let plan = match &o {
                    Out::Head { head, .. } => head.body_plan(Some("GET")),
                    _ => BodyPlan {
                        body: Body::None,
                        keep_prefix: false,
                    },
                };
                log.push(match o {
                    Out::Head {
                        head: Head::Request { method, uri, .. },
                        ..
                    } => {
                        format!("req {method} {uri}")
                    }
                    Out::Head {
                        head: Head::Response { status, .. },
                        ..
                    } => format!("resp {status}"),
                    Out::BodyDone {
                        body_len, prefix, ..
                    } => format!(
                        "body {body_len} {}",
                        prefix
                            .map(|p| String::from_utf8_lossy(&p).into_owned())
                            .unwrap_or_default()
                    ),
                    Out::Anomaly(a) => format!("anomaly {a:?}"),
                    Out::Switched { rest, .. } => format!("switched {}", rest.len()),
                });
                plan
            });
        }
        log
    }

    #[test]
    fn pipelined_requests_across_segments() {
        let log = run(
            Role::Requests,
            &[
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nCont",
                b"ent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\n\r\n",
            ],
        );
        assert_eq!(
            log,
            [
                "req GET /a",
                "body 0 ",
                "req POST /b",
                "body 3 ",
                "req GET /c",
                "body 0 "
            ]
        );
    }

    #[test]
    fn chunked_response_with_trailer_and_prefix() {
        let log = run(
            Role::Responses,
            &[b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", b"lo\r\n3;x=y\r\n 40\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
        );
        assert_eq!(log, ["resp 401", "body 8 hello 40", "resp 200", "body 0 "]);
    }

    #[test]
    fn garbage_head_resyncs_on_next_message() {
        let log = run(
            Role::Responses,
            &[b"HTTP/1.1 abc\r\n\r\nxxxx\r\nHTTP/1.1 204 No Content\r\n\r\n"],
        );
        assert_eq!(log.len(), 4, "{log:?}");
        assert!(log[0].starts_with("anomaly MalformedHead"));
        assert!(log[1].starts_with("anomaly Resynchronised"));
        assert_eq!(log[2], "resp 204");
    }

    #[test]
    fn head_cap_is_reported_and_bounded() {
        let mut f = Framer::new(Role::Requests);
        let cfg = HttpConfig {
            max_head_bytes: 100,
            ..HttpConfig::default()
        };
        let mut anomalies = 0;
        for i in 0..1000 {
            let chunk: &[u8] = if i == 0 {
                b"GET / HTTP/1.1\r\n"
            } else {
                b"X: aaaaaaaaaaaaaaaaaaaa\r\n"
            };
            f.feed(chunk, 1, Timestamp(0), &cfg, &mut |o| {
                if matches!(o, Out::Anomaly(Anomaly::HeadTooLarge { .. })) {
                    anomalies += 1;
                }
                BodyPlan {
                    body: Body::None,
                    keep_prefix: false,
                }
            });
            assert!(f.buffered() <= 100);
        }
        assert_eq!(anomalies, 1);
    }

    #[test]
    fn detection() {
        assert!(looks_like_head(b"GET / HTTP/1.1", Role::Requests));
        assert!(looks_like_head(b"OPTIONS * HTTP/1.1", Role::Requests));
        assert!(looks_like_head(
            b"CONNECT host:443 HTTP/1.1",
            Role::Requests
        ));
        assert!(!looks_like_head(b"\x16\x03\x01", Role::Requests));
        assert!(!looks_like_head(b"HTTP/1.1 200", Role::Requests));
        assert!(!looks_like_head(
            b"REGISTER sip:a@b SIP/2.0\r\n",
            Role::Requests
        ));
        assert!(looks_like_head(
            b"GET /x HTTP/1.0\r\nHost: a\r\n",
            Role::Requests
        ));
        assert_eq!(
            find_head_start(b"tail of body\r\nHTTP/1.1 200 OK", Role::Responses),
            Some(14)
        );
    }
}
