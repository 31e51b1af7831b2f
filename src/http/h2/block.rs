//! Header blocks (RFC 9113 4.3): HEADERS and PUSH_PROMISE with their CONTINUATIONs, HPACK
//! (RFC 7541) with one decoder per direction, and what a block makes of its stream.

use loona_hpack::decoder::DecoderError;
use loona_hpack::Decoder;

use super::*;

/// The HPACK decoder of one direction, and whether it still follows the sender's table.
pub(super) struct HpackDecoder {
    pub(super) decoder: Decoder<'static>,
    /// The table size the receiver allowed (SETTINGS_HEADER_TABLE_SIZE), capped.
    pub(super) allowed: usize,
    pub(super) broken: bool,
}

impl std::fmt::Debug for HpackDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HpackDecoder")
            .field("allowed", &self.allowed)
            .field("broken", &self.broken)
            .finish()
    }
}

impl HpackDecoder {
    pub(super) fn new() -> Self {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(DEFAULT_TABLE);
        HpackDecoder {
            decoder,
            allowed: DEFAULT_TABLE,
            broken: false,
        }
    }
}

impl H2Conn {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn headers(
        &mut self,
        role: Role,
        kind: u8,
        flags: u8,
        stream: u32,
        payload: &[u8],
        frame: u64,
        cx: &mut Ctx<'_>,
    ) {
        if stream == 0 {
            self.malformed(
                role,
                kind,
                "a header block on stream 0 (PROTOCOL_ERROR)".into(),
                cx,
            );
            return;
        }
        // RFC 9113 6.2, 6.6: pad length, then for HEADERS the priority fields, for
        // PUSH_PROMISE the promised stream; then the fragment, then the padding.
        let mut p = payload;
        let mut pad = 0usize;
        if flags & PADDED != 0 {
            let Some((&n, rest)) = p.split_first() else {
                self.malformed(
                    role,
                    kind,
                    "PADDED without a pad length (FRAME_SIZE_ERROR)".into(),
                    cx,
                );
                return;
            };
            pad = usize::from(n);
            p = rest;
        }
        let mut promised = None;
        if kind == HEADERS && flags & PRIORITY_FLAG != 0 {
            let Some(rest) = p.get(5..) else {
                self.malformed(
                    role,
                    kind,
                    "PRIORITY flag without its 5 bytes (FRAME_SIZE_ERROR)".into(),
                    cx,
                );
                return;
            };
            p = rest;
        }
        if kind == PUSH_PROMISE {
            let Some(id) = p.get(..4) else {
                self.malformed(
                    role,
                    kind,
                    "no promised stream (FRAME_SIZE_ERROR)".into(),
                    cx,
                );
                return;
            };
            promised = Some(be32(id) & 0x7fff_ffff);
            p = p.get(4..).unwrap_or_default();
        }
        if pad > p.len() {
            self.malformed(
                role,
                kind,
                format!(
                    "padding of {pad} bytes in a payload of {} (PROTOCOL_ERROR)",
                    payload.len()
                ),
                cx,
            );
            // The block is lost: the table can no longer be followed.
            self.half(role).decoder.broken = true;
            return;
        }
        let fragment = p.get(..p.len() - pad).unwrap_or_default();
        let (at_frame, at_ts) = self.half(role).at;
        self.half(role).block = Some(Block {
            stream,
            promised,
            end_stream: kind == HEADERS && flags & END_STREAM != 0,
            frame: at_frame,
            ts: at_ts,
            buf: fragment.to_vec(),
            too_large: false,
        });
        if flags & END_HEADERS != 0 {
            self.block_done(role, frame, cx);
        }
    }

    /// A complete header block: decoded, then the stream's request, response, interim
    /// response or trailers.
    pub(super) fn block_done(&mut self, role: Role, frame: u64, cx: &mut Ctx<'_>) {
        let h = self.half(role);
        let Some(block) = h.block.take() else {
            return;
        };
        if block.too_large {
            cx.stats.head_cap_hits = cx.stats.head_cap_hits.saturating_add(1);
            h.decoder.broken = true;
            cx.emit(H2Out::Anomaly {
                role,
                ts: block.ts,
                anomaly: Anomaly::HeadTooLarge {
                    limit: cx.cfg.max_head_bytes,
                },
            });
        }
        let fields = if h.decoder.broken {
            None
        } else {
            let (fields, err) = decode_block(&mut h.decoder, &block.buf, cx);
            if let Some(e) = err {
                h.decoder.broken = true;
                cx.stats.h2.hpack_errors = cx.stats.h2.hpack_errors.saturating_add(1);
                cx.emit(H2Out::Anomaly {
                    role,
                    ts: block.ts,
                    anomaly: Anomaly::Http2Malformed {
                        stream: block.stream,
                        frame_type: Some(frame_name(HEADERS)),
                        error: format!(
                            "HPACK: {e} after {} fields (COMPRESSION_ERROR; later header blocks from this side cannot be read)",
                            fields.len()
                        ),
                    },
                });
                None
            } else {
                Some(fields)
            }
        };
        let fields = fields.unwrap_or_default();
        let first_frame = (block.frame != frame).then_some(block.frame);
        let (id, is_request) = match (block.promised, role) {
            (Some(p), _) => (p, true),
            (None, Role::Requests) => (block.stream, true),
            (None, Role::Responses) => (block.stream, false),
        };
        if !self.streams.contains_key(&id) {
            // RFC 9113 5.1.1: stream ids only grow, each side its own parity. A lower one not
            // open any more was closed (went out already): its late frames are not a stream.
            let [even, odd] = &mut self.last_stream;
            let last = if id % 2 == 1 { odd } else { even };
            if id <= *last {
                return;
            }
            if self.streams.len() >= MAX_OPEN_STREAMS {
                cx.stats.h2.stream_cap_hits = cx.stats.h2.stream_cap_hits.saturating_add(1);
                cx.emit(H2Out::Anomaly {
                    role,
                    ts: block.ts,
                    anomaly: Anomaly::Http2Malformed {
                        stream: id,
                        frame_type: None,
                        error: format!(
                            "more than {MAX_OPEN_STREAMS} streams open at once: not followed"
                        ),
                    },
                });
                return;
            }
            *last = id;
            cx.stats.h2.streams = cx.stats.h2.streams.saturating_add(1);
            self.streams.insert(id, Stream::default());
        }
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if is_request {
            if s.request.is_some() {
                // Trailers (RFC 9113 8.1): read to keep HPACK in step, not kept.
            } else {
                cx.stats.requests = cx.stats.requests.saturating_add(1);
                s.request = Some(request_of(fields, block.frame, first_frame, block.ts));
            }
        } else {
            let status = pseudo(&fields, ":status").and_then(|v| v.parse::<u16>().ok());
            match (status, s.response.is_some()) {
                (_, true) => {}
                (Some(st), false) if (100..200).contains(&st) => {
                    cx.stats.responses = cx.stats.responses.saturating_add(1);
                    if s.interim.len() < cx.cfg.max_interim_responses {
                        s.interim.push(response_of(
                            st,
                            fields,
                            block.frame,
                            first_frame,
                            block.ts,
                            cx.cfg,
                        ));
                    } else {
                        cx.stats.interim_cap_hits = cx.stats.interim_cap_hits.saturating_add(1);
                    }
                }
                (st, false) => {
                    cx.stats.responses = cx.stats.responses.saturating_add(1);
                    if st.is_none() && !fields.is_empty() {
                        self.malformed(
                            role,
                            HEADERS,
                            format!("a response on stream {id} without :status (RFC 9113 8.3.2)"),
                            cx,
                        );
                    }
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.response = Some(response_of(
                            st.unwrap_or(0),
                            fields,
                            block.frame,
                            first_frame,
                            block.ts,
                            cx.cfg,
                        ));
                    }
                }
            }
        }
        if block.end_stream {
            self.end_side(role, id, frame, cx);
        }
    }
}

/// Decodes one header block; the fields kept (at most [`MAX_HEADER_FIELDS`] and
/// `max_head_bytes` of names and values), and the error that stopped it.
pub(super) fn decode_block(
    d: &mut HpackDecoder,
    block: &[u8],
    cx: &mut Ctx<'_>,
) -> (Vec<Header>, Option<DecoderError>) {
    let mut fields = Vec::new();
    let mut bytes = 0usize;
    let mut dropped = false;
    let limit = cx.cfg.max_head_bytes;
    let r = d.decoder.decode_with_cb(block, |n, v| {
        bytes = bytes.saturating_add(n.len()).saturating_add(v.len());
        if fields.len() >= MAX_HEADER_FIELDS || bytes > limit {
            dropped = true;
            return;
        }
        let name = String::from_utf8_lossy(&n);
        fields.push(Header {
            name: crate::http::header_name(&name),
            value: compact_str::CompactString::from(String::from_utf8_lossy(&v)),
        });
    });
    if dropped {
        cx.stats.h2.header_list_cap_hits = cx.stats.h2.header_list_cap_hits.saturating_add(1);
    }
    if matches!(r, Err(DecoderError::InvalidMaxDynamicSize)) && d.allowed >= MAX_DYNAMIC_TABLE {
        cx.stats.h2.hpack_table_cap_hits = cx.stats.h2.hpack_table_cap_hits.saturating_add(1);
    }
    (fields, r.err())
}

fn pseudo<'h>(fields: &'h [Header], name: &str) -> Option<&'h str> {
    fields
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.value.as_str())
}

/// RFC 9113 8.3.1: the request's pseudo-header fields make its method and target; CONNECT
/// names the authority instead of a path.
fn request_of(fields: Vec<Header>, frame: u64, first_frame: Option<u64>, ts: Timestamp) -> Request {
    let method = pseudo(&fields, ":method").unwrap_or("");
    let uri = pseudo(&fields, ":path")
        .or_else(|| pseudo(&fields, ":authority"))
        .unwrap_or("")
        .to_owned();
    Request {
        frame,
        first_frame,
        ts,
        method: method.into(),
        uri,
        version: HTTP2,
        headers: fields,
        body_len: 0,
    }
}

fn response_of(
    status: u16,
    fields: Vec<Header>,
    frame: u64,
    first_frame: Option<u64>,
    ts: Timestamp,
    cfg: &HttpConfig,
) -> Response {
    Response {
        frame,
        first_frame,
        ts,
        status,
        reason: compact_str::CompactString::default(),
        version: HTTP2,
        headers: fields,
        body_len: 0,
        body_prefix: ((400..500).contains(&status) && cfg.max_body_prefix > 0).then(Vec::new),
    }
}
