//! Stage 4: HTTP/1.x framing over the reassembled streams (RFC 9112), HTTP/2 frames and
//! streams (RFC 9113, `h2`), and the pairing of requests with responses.
//!
//! Each connection is detected as HTTP from its first bytes, on any port. Heads are parsed with
//! httparse across segment boundaries; bodies are framed (Content-Length, chunked, until close)
//! and skipped, except the first bytes of 4xx responses, whose IIS error pages name the
//! substatus. After a gap the framer resynchronises on the next message head. An HTTP/2
//! connection (its preface, a server's SETTINGS first, or an upgrade to `h2c`) goes to `h2`,
//! whose streams come out as the same exchanges.

mod framer;
mod h2;
mod tracker;

pub use h2::{error_name as h2_error_name, frame_name as h2_frame_name, HTTP2};

use crate::capture::Timestamp;
use crate::tcp::{ConnId, Dir};

pub use tracker::HttpTracker;

/// Caps of the HTTP stage.
#[derive(Debug, Clone, Copy)]
pub struct HttpConfig {
    /// The largest message head (request or status line plus header fields) accepted.
    pub max_head_bytes: usize,
    /// Bytes of a 4xx response body kept.
    pub max_body_prefix: usize,
    /// Requests waiting for their response on one connection (pipelining).
    pub max_pending_requests: usize,
    /// Interim (1xx) responses kept before the final one; later ones are counted and dropped.
    pub max_interim_responses: usize,
    /// Bytes searched for a message head before a connection is judged not to be HTTP.
    pub detect_budget: usize,
    /// Bytes held over all connections: unfinished heads, requests waiting for their response,
    /// responses being read, kept body starts. Past it, the connection that grew lets go of
    /// what it holds (`Anomaly::OverBudget`), so the total never grows further.
    pub max_buffered_total: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_head_bytes: 64 << 10,
            max_body_prefix: 8 << 10,
            max_pending_requests: 64,
            max_interim_responses: 16,
            detect_budget: 16 << 10,
            // With the TCP table full (100 000 connections, about 2 KB each), this keeps the
            // whole analysis under 256 MB; real captures hold well under 1 MB here.
            max_buffered_total: 32 << 20,
        }
    }
}

/// One header field, owned. Values are kept as text (lossy UTF-8: field values are ASCII in
/// practice, RFC 9110 5.5).
// Deserialize: the UI spools raw heads to disk and reads them back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// The name as sent; the common names, sent in their usual case, are not copied.
    pub name: std::borrow::Cow<'static, str>,
    /// Kept inline up to 24 bytes (most values), else on the heap.
    pub value: compact_str::CompactString,
}

/// A request head and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Request {
    /// The frame Wireshark shows the request on: the one whose segment completes it (its
    /// head, or its body when it has one).
    pub frame: u64,
    /// The frame holding the first byte of the request line, when it is not `frame` (the
    /// request spans segments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    pub ts: Timestamp,
    pub method: compact_str::CompactString,
    pub uri: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1; [`HTTP2`] (2) for HTTP/2, whose
    /// header fields start with the pseudo-header fields (`:method`, `:path`, ...) as sent.
    pub version: u8,
    pub headers: Vec<Header>,
    /// Body length as framed (0 when none or unknown yet).
    pub body_len: u64,
}

/// A response head, and the start of its body when kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Response {
    /// As for [`Request::frame`]: the frame whose segment completes the response.
    pub frame: u64,
    /// The frame holding the first byte of the status line, when it is not `frame`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    pub ts: Timestamp,
    pub status: u16,
    pub reason: compact_str::CompactString,
    pub version: u8,
    pub headers: Vec<Header>,
    pub body_len: u64,
    /// First bytes of the body of a 4xx response (at most `max_body_prefix`); in JSON as text
    /// (lossy UTF-8: error pages are text).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "lossy_text")]
    pub body_prefix: Option<Vec<u8>>,
}

fn lossy_text<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        // `from_utf8` first: it checks valid text (nearly every page) much faster.
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_str(&String::from_utf8_lossy(b)),
        },
        None => s.serialize_none(),
    }
}

/// A header name as [`Header`] keeps it: the names nearly every message carries, in the case
/// they are nearly always sent in, are shared rather than copied (two allocations a field
/// were a tenth of the HTTP stage).
pub fn header_name(name: &str) -> std::borrow::Cow<'static, str> {
    const COMMON: [&str; 24] = [
        "Host",
        "User-Agent",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Connection",
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "Server",
        "Date",
        "X-Powered-By",
        "WWW-Authenticate",
        "Www-Authenticate",
        "Authorization",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "Cache-Control",
        "Keep-Alive",
        "Set-Cookie",
        "Cookie",
        "Location",
        "Persistent-Auth",
    ];
    match COMMON.iter().find(|c| **c == name) {
        Some(c) => std::borrow::Cow::Borrowed(c),
        None => std::borrow::Cow::Owned(name.to_owned()),
    }
}

/// Finds a header's value by name (case-insensitive, RFC 9110 5.1); the first of several.
pub fn header<'h>(headers: &'h [Header], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Every value of a header that may repeat, in order.
pub fn headers_named<'h>(headers: &'h [Header], name: &'h str) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2`, from a message's [`Request::version`].
pub fn version_text(version: u8) -> &'static str {
    match version {
        0 => "HTTP/1.0",
        HTTP2 => "HTTP/2",
        _ => "HTTP/1.1",
    }
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A request and its response, paired in order on one connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Exchange {
    pub conn: ConnId,
    /// The capture it is in ([`crate::capture::Frame::input`]).
    pub input: u32,
    /// `None` for a response whose request was not captured (picked up mid-stream, or lost).
    pub request: Option<Request>,
    /// `None` when the connection ended before a response.
    pub response: Option<Response>,
    /// Interim (1xx) responses before the final one, e.g. `100 Continue`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interim: Vec<Response>,
    /// Read from the plaintext of a TLS connection (the pipeline says so: HTTP cannot tell).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// On a TLS connection whose server certificate was read, the channel binding an NTLM
    /// Type 3 bound to it carries ([`crate::tls::channel_binding`]).
    #[serde(skip)]
    pub channel_binding: Option<[u8; 16]>,
    /// The HTTP/2 stream it was, and how the stream ended when it did not end well.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2: Option<Box<H2Stream>>,
}

impl Exchange {
    /// Heap bytes it holds, roughly, with itself ([`tracker::weight_request`]): what a
    /// hand-off between threads counts against its budget.
    pub fn weight(&self) -> usize {
        let request = self.request.as_ref().map_or(0, tracker::weight_request);
        let responses = self
            .response
            .iter()
            .chain(&self.interim)
            .fold(0usize, |n, r| n.saturating_add(tracker::weight_response(r)));
        std::mem::size_of::<Exchange>()
            .saturating_add(request)
            .saturating_add(responses)
    }
}

/// An exchange's HTTP/2 stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct H2Stream {
    pub stream: u32,
    /// A RST_STREAM, or a GOAWAY that left the stream unprocessed or ended it with an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<H2End>,
}

/// How an HTTP/2 stream was cut (RFC 9113 6.4, 6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct H2End {
    /// Sent by the server (else by the client).
    pub by_server: bool,
    /// The error code (RFC 9113 7); `HTTP_1_1_REQUIRED` is 0xd.
    pub code: u32,
    /// A GOAWAY rather than a RST_STREAM.
    pub goaway: bool,
    /// The frame that carried it.
    pub frame: u64,
}

impl H2End {
    /// `RST_STREAM HTTP_1_1_REQUIRED from server`, as timelines say it.
    pub fn describe(&self) -> String {
        format!(
            "{} {} from {}",
            if self.goaway { "GOAWAY" } else { "RST_STREAM" },
            h2::error_name(self.code),
            if self.by_server { "server" } else { "client" }
        )
    }
}

/// The frames of an HTTP/2 connection that go on its timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum H2Frame {
    /// SETTINGS (not an ACK), with the number of settings it carried (RFC 9113 6.5). Kept
    /// this small: timelines hold many of these.
    Settings {
        values: u8,
    },
    #[serde(rename = "goaway")]
    GoAway {
        last_stream: u32,
        code: u32,
    },
    RstStream {
        stream: u32,
        code: u32,
    },
}

impl std::fmt::Display for H2Frame {
    /// `RST_STREAM stream 3 HTTP_1_1_REQUIRED`, `SETTINGS (3 values)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H2Frame::Settings { values } => write!(f, "SETTINGS ({values} values)"),
            H2Frame::GoAway { last_stream, code } => write!(
                f,
                "GOAWAY {} (last stream {last_stream})",
                h2::error_name(*code)
            ),
            H2Frame::RstStream { stream, code } => {
                write!(f, "RST_STREAM stream {stream} {}", h2::error_name(*code))
            }
        }
    }
}

/// Something wrong or notable in the HTTP stream, kept as data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// A message head that did not parse; the framer skips to the next message head.
    MalformedHead { error: String },
    /// A head cut short (by a gap, often the snap length, or by the close): the fields read
    /// before the cut are kept.
    TruncatedHead,
    /// A head longer than `max_head_bytes`.
    HeadTooLarge { limit: usize },
    /// A chunked body whose chunk-size line did not parse.
    MalformedChunk,
    /// Bytes lost inside the stream (a TCP gap); parsing resumes at the next message head.
    Gap { len: u64 },
    /// Bytes skipped while looking for the next message head after a fault.
    Resynchronised { skipped: u64 },
    /// More pipelined requests waiting than `max_pending_requests`: the oldest lost its pairing.
    TooManyPending { limit: usize },
    /// More interim (1xx) responses before a final one than `max_interim_responses`: this one
    /// was dropped.
    TooManyInterim { limit: usize },
    /// The HTTP stage held more than `max_buffered_total` bytes: this connection's unfinished
    /// head was abandoned and its waiting requests were sent out unanswered.
    OverBudget { limit: usize },
    /// CONNECT or a protocol upgrade: the rest of the connection is not HTTP/1.x.
    Tunnel { status: u16 },
    /// An HTTP/2 frame that breaks its type's layout or the protocol (RFC 9113), with what
    /// was read; reading goes on at the next frame.
    Http2Malformed {
        stream: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        frame_type: Option<&'static str>,
        error: String,
    },
    /// This direction's HTTP/2 frames cannot be read further.
    Http2Stopped { reason: &'static str },
}

/// The hand-off from `http` to the layers above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpEvent {
    /// The connection carries HTTP (sent once, when first detected).
    Detected { conn: ConnId, ts: Timestamp },
    /// The connection does not carry HTTP/1.x; nothing more comes for it.
    NotHttp { conn: ConnId },
    /// A complete exchange (or a half one, when the connection ended).
    Exchange(Box<Exchange>),
    Anomaly {
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        anomaly: Anomaly,
    },
    /// An HTTP/2 frame for the connection's timeline, sent in `dir`.
    H2Frame {
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
        what: H2Frame,
    },
}

/// Counters of the HTTP stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpStats {
    pub http_connections: u64,
    pub other_connections: u64,
    pub requests: u64,
    /// Responses, interim (1xx) ones included.
    pub responses: u64,
    pub exchanges: u64,
    pub malformed_heads: u64,
    pub head_cap_hits: u64,
    pub pending_cap_hits: u64,
    pub interim_cap_hits: u64,
    /// Times a connection let go of what it held to keep the total under `max_buffered_total`.
    pub budget_hits: u64,
    /// Bytes held right now, and at most, over all connections.
    pub buffered_bytes: u64,
    pub peak_buffered_bytes: u64,
    pub gaps: u64,
    pub resyncs: u64,
    pub tunnels: u64,
    pub body_bytes: u64,
    /// HTTP/2 (only when there was some).
    #[serde(skip_serializing_if = "H2Stats::is_empty")]
    pub h2: H2Stats,
}

/// Counters of HTTP/2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct H2Stats {
    pub connections: u64,
    /// Connections switched to HTTP/2 by `101 Switching Protocols` (`h2c`).
    pub upgrades: u64,
    pub frames: u64,
    pub streams: u64,
    pub resets: u64,
    pub goaways: u64,
    pub malformed_frames: u64,
    /// Header blocks HPACK could not decode (and the side's table lost with them).
    pub hpack_errors: u64,
    /// A peer allowed (or an encoder asked for) a dynamic table larger than kept.
    pub hpack_table_cap_hits: u64,
    /// Header lists with more fields or bytes than kept.
    pub header_list_cap_hits: u64,
    /// Streams not followed: more open at once than kept.
    pub stream_cap_hits: u64,
}

impl H2Stats {
    pub fn is_empty(&self) -> bool {
        *self == H2Stats::default()
    }
}
