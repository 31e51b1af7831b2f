//! Per-connection HTTP state: detection, the two framers, and request/response pairing.

use std::collections::VecDeque;

use crate::map::Map as HashMap;

use super::framer::{find_head_start, looks_like_head, Body, BodyPlan, Framer, Head, Out, Role};
use super::h2::{server_starts_h2, Ctx, H2Conn, PREFACE};
use super::{Anomaly, Exchange, HttpConfig, HttpEvent, HttpStats, Request, Response};
use crate::capture::Timestamp;
use crate::tcp::{ConnId, Dir, OpenKind, StreamEvent};

#[derive(Debug)]
enum Phase {
    /// Not yet known to be HTTP; bytes looked at so far.
    Detecting {
        seen: usize,
    },
    Http,
    /// HTTP/2 (its state is `Conn::h2`).
    H2,
    /// Judged not HTTP: everything is ignored until the connection closes.
    Other,
}

#[derive(Debug)]
struct Conn {
    kind: OpenKind,
    phase: Phase,
    /// True when the TCP layer's client is in fact the server (mid-stream pick-up).
    swapped: bool,
    /// Framer of the requests, then of the responses.
    requests: Framer,
    responses: Framer,
    pending: VecDeque<Request>,
    /// The response whose body is being read (boxed: most connections hold none most of
    /// the time, and a connection's state is held for its life).
    current: Option<Box<Response>>,
    interim: Vec<Response>,
    /// Index in `pending` of the request whose body is being read, counted from the back.
    request_in_body: bool,
    /// Heap bytes held by the requests and responses in `pending`, `current` and `interim`
    /// (see [`weight_request`]); the slots of `pending` and `interim` are counted apart.
    owned: usize,
    /// The HTTP/2 connection, once the connection is one.
    h2: Option<Box<H2Conn>>,
    /// A request asked to upgrade to `h2c`: a `101` to it switches to HTTP/2.
    upgrade_h2c: bool,
    /// Bytes of the HTTP/2 client preface the connection started with, so far.
    preface: u8,
    /// The request that upgraded to `h2c` and its `101`, for HTTP/2's stream 1 (boxed, as
    /// what follows: connections are many, upgrades rare).
    upgraded: Option<Box<(Option<Request>, Response)>>,
    /// The connection switched to HTTP/2: the bytes that followed the `101` in its segment,
    /// and that segment's frame.
    switched: Option<Box<(Vec<u8>, u64)>>,
}

impl Conn {
    fn new(kind: OpenKind) -> Self {
        Conn {
            kind,
            phase: Phase::Detecting { seen: 0 },
            swapped: false,
            requests: Framer::new(Role::Requests),
            responses: Framer::new(Role::Responses),
            pending: VecDeque::new(),
            current: None,
            interim: Vec::new(),
            request_in_body: false,
            owned: 0,
            h2: None,
            upgrade_h2c: false,
            preface: 0,
            upgraded: None,
            switched: None,
        }
    }

    /// Bytes this connection holds, for the stage's budget: what its framers buffer, what
    /// its requests and responses hold, and the slots of its queues (kept when emptied).
    fn held(&self) -> usize {
        let slots = self
            .pending
            .capacity()
            .saturating_mul(std::mem::size_of::<Request>())
            .saturating_add(
                self.interim
                    .capacity()
                    .saturating_mul(std::mem::size_of::<Response>()),
            );
        self.requests
            .buffered()
            .saturating_add(self.responses.buffered())
            .saturating_add(self.owned)
            .saturating_add(slots)
            .saturating_add(self.h2.as_ref().map_or(0, |h| h.held()))
    }

    fn role_of(&self, dir: Dir) -> Role {
        match (dir, self.swapped) {
            (Dir::ToServer, false) | (Dir::ToClient, true) => Role::Requests,
            _ => Role::Responses,
        }
    }
}

/// Stage 4 over all connections: feed it [`StreamEvent`]s, get [`HttpEvent`]s.
#[derive(Debug, Default)]
pub struct HttpTracker {
    config: HttpConfig,
    /// Boxed: under a flood of connections the map's buckets stay small (see `TcpTable`).
    conns: HashMap<ConnId, Box<Conn>>,
    stats: HttpStats,
    /// Bytes held over all connections (the sum of `Conn::held`).
    held: usize,
}

impl HttpTracker {
    pub fn new(config: HttpConfig) -> Self {
        HttpTracker {
            config,
            conns: HashMap::default(),
            stats: HttpStats::default(),
            held: 0,
        }
    }

    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Starts `peak_buffered_bytes` again from what is held now (for a flow shard, whose
    /// merge adds the shards' peaks up as one tracker would have counted them).
    pub fn restart_peak(&mut self) {
        self.stats.peak_buffered_bytes = self.stats.buffered_bytes;
    }

    /// Connections with HTTP state held right now.
    pub fn open(&self) -> usize {
        self.conns.len()
    }

    /// Processes one stream event.
    pub fn push(&mut self, ev: &StreamEvent<'_>, sink: &mut dyn FnMut(HttpEvent)) {
        // What the event's connection holds before and after it, for the budget.
        let id = ev.conn();
        let held = |conns: &HashMap<ConnId, Box<Conn>>| {
            id.and_then(|id| conns.get(&id)).map_or(0, |c| c.held())
        };
        let before = held(&self.conns);
        self.event(ev, sink);
        let after = held(&self.conns);
        self.held = self.held.saturating_sub(before).saturating_add(after);
        if after > before && self.held > self.config.max_buffered_total {
            // Over budget: the connection that grew lets go of everything it holds, so the
            // total never grows past the budget by more than one event.
            let (stats, cfg) = (&mut self.stats, &self.config);
            if let (Some(id), Some(dir)) = (id, event_dir(ev)) {
                if let Some(c) = self.conns.get_mut(&id) {
                    shed(stats, cfg, c, id, dir, event_ts(ev), sink);
                    if let Some(h) = c.h2.as_mut() {
                        let ts = event_ts(ev);
                        h.shed(ts, &mut h2_ctx(stats, cfg, id, c.swapped, sink));
                    }
                    self.held = self.held.saturating_sub(after).saturating_add(c.held());
                }
            }
        }
        self.stats.buffered_bytes = u64::try_from(self.held).unwrap_or(u64::MAX);
        self.stats.peak_buffered_bytes = self
            .stats
            .peak_buffered_bytes
            .max(self.stats.buffered_bytes);
    }

    fn event(&mut self, ev: &StreamEvent<'_>, sink: &mut dyn FnMut(HttpEvent)) {
        match *ev {
            StreamEvent::Open { conn, kind, .. } => {
                self.conns.insert(conn, Box::new(Conn::new(kind)));
            }
            StreamEvent::Data {
                conn,
                dir,
                ts,
                frame,
                offset,
                bytes,
            } => self.data(conn, dir, ts, frame, offset, bytes, sink),
            StreamEvent::Gap {
                conn, dir, ts, len, ..
            } => self.gap(conn, dir, ts, len, sink),
            StreamEvent::Fin { conn, dir, ts, .. } | StreamEvent::Rst { conn, dir, ts, .. } => {
                // A close-delimited body ends when its sender closes (RFC 9112 6.3).
                let cfg = self.config;
                if let Some(c) = self.conns.get_mut(&conn) {
                    if matches!(c.phase, Phase::Http) && c.role_of(dir) == Role::Responses {
                        let mut outs = Vec::new();
                        c.responses.close(&mut |o| {
                            outs.push(o);
                            no_body()
                        });
                        for o in outs {
                            handle(&mut self.stats, &cfg, c, conn, dir, ts, o, sink);
                        }
                    }
                }
            }
            StreamEvent::Closed { conn, ts, .. } => self.closed(conn, ts, sink),
            StreamEvent::LimitHit { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        frame: u64,
        offset: u64,
        bytes: &[u8],
        sink: &mut dyn FnMut(HttpEvent),
    ) {
        let cfg = self.config;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if matches!(c.phase, Phase::Detecting { .. }) && c.kind == OpenKind::Handshake {
            // HTTP/2: the client's preface (RFC 9113 3.4), gathered over segments, or the
            // server's SETTINGS first.
            let h2 = match dir {
                Dir::ToServer if offset == u64::from(c.preface) => {
                    let want = PREFACE.get(usize::from(c.preface)..).unwrap_or_default();
                    let n = bytes.len().min(want.len());
                    if n > 0 && bytes.get(..n) == want.get(..n) {
                        if n < want.len() {
                            // The preface is 24 bytes: `n` fits.
                            c.preface = c.preface.saturating_add(u8::try_from(n).unwrap_or(0));
                            return;
                        }
                        true
                    } else {
                        false
                    }
                }
                Dir::ToClient => offset == 0 && server_starts_h2(bytes),
                Dir::ToServer => false,
            };
            if h2 {
                c.phase = Phase::H2;
                c.h2 = Some(Box::new(H2Conn::new(conn, usize::from(c.preface))));
                self.stats.http_connections = self.stats.http_connections.saturating_add(1);
                self.stats.h2.connections = self.stats.h2.connections.saturating_add(1);
                sink(HttpEvent::Detected { conn, ts });
            }
        }
        let role = c.role_of(dir);
        if let (Phase::H2, Some(h)) = (&c.phase, c.h2.as_mut()) {
            h.feed(
                role,
                bytes,
                frame,
                ts,
                &mut h2_ctx(&mut self.stats, &cfg, conn, c.swapped, sink),
            );
            return;
        }
        if let Phase::Detecting { seen } = c.phase {
            match detect(c.kind, offset, bytes) {
                Detection::Http(role) => {
                    c.swapped = match dir {
                        Dir::ToServer => role == Role::Responses,
                        Dir::ToClient => role == Role::Requests,
                    };
                    c.phase = Phase::Http;
                    // A start found past offset 0 (mid-stream): both framers look for heads.
                    if offset != 0 || c.kind == OpenKind::MidStream {
                        c.requests = Framer::syncing(Role::Requests);
                        c.responses = Framer::syncing(Role::Responses);
                    }
                    self.stats.http_connections = self.stats.http_connections.saturating_add(1);
                    sink(HttpEvent::Detected { conn, ts });
                }
                Detection::Not => {
                    c.phase = Phase::Other;
                    self.stats.other_connections = self.stats.other_connections.saturating_add(1);
                    sink(HttpEvent::NotHttp { conn });
                    return;
                }
                Detection::Unsure => {
                    let seen = seen.saturating_add(bytes.len());
                    if seen > cfg.detect_budget {
                        c.phase = Phase::Other;
                        self.stats.other_connections =
                            self.stats.other_connections.saturating_add(1);
                        sink(HttpEvent::NotHttp { conn });
                    } else {
                        c.phase = Phase::Detecting { seen };
                    }
                    return;
                }
            }
        }
        if !matches!(c.phase, Phase::Http) {
            return;
        }
        let role = c.role_of(dir);
        let mut outs: Vec<Out> = Vec::new();
        {
            // Heads need an answer about their body before the framer reads on, so the plan is
            // decided here from the connection's pairing state.
            let Conn {
                requests,
                responses,
                pending,
                current,
                upgrade_h2c,
                ..
            } = &mut **c;
            let upgrade_h2c = *upgrade_h2c;
            let framer = match role {
                Role::Requests => requests,
                Role::Responses => responses,
            };
            let pending: &VecDeque<Request> = pending;
            // Final responses met so far in this call: each answers the next pending request.
            // A response already being read answers the oldest one.
            let mut answered = usize::from(current.is_some());
            framer.feed(bytes, frame, ts, &cfg, &mut |o| {
                let plan = match &o {
                    Out::Head { head, .. } => {
                        let method = pending.get(answered).map(|r| r.method.as_str());
                        let mut plan = head.body_plan(method);
                        if upgrade_h2c && switches_to_h2c(head) {
                            plan.body = Body::Switch;
                        }
                        if let Head::Response { status, .. } = head {
                            if !(100..200).contains(status) || *status == 101 {
                                answered = answered.saturating_add(1);
                            }
                        }
                        plan
                    }
                    _ => no_body(),
                };
                outs.push(o);
                plan
            });
        }
        for o in outs {
            handle(&mut self.stats, &cfg, c, conn, dir, ts, o, sink);
        }
        // A 101 to `h2c`: what followed it in this segment is the server's first frames.
        if let Some(sw) = c.switched.take() {
            let (rest, frame) = *sw;
            self.switch_to_h2(conn, ts, frame, &rest, sink);
        }
    }

    /// The connection switched to HTTP/2 after a `101` (RFC 7540 3.2): the upgraded request
    /// is stream 1, and `rest` the server's first bytes of HTTP/2 (from `frame`).
    fn switch_to_h2(
        &mut self,
        conn: ConnId,
        ts: Timestamp,
        frame: u64,
        rest: &[u8],
        sink: &mut dyn FnMut(HttpEvent),
    ) {
        let cfg = self.config;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // The 101 went out with the upgraded request as an exchange of its own; its request
        // is stream 1's.
        let (request, switching) = c.upgraded.take().map(|b| *b).unzip();
        c.phase = Phase::H2;
        let mut h = Box::new(H2Conn::upgraded(conn, request.flatten(), switching));
        self.stats.h2.connections = self.stats.h2.connections.saturating_add(1);
        self.stats.h2.upgrades = self.stats.h2.upgrades.saturating_add(1);
        if !rest.is_empty() {
            h.feed(
                Role::Responses,
                rest,
                frame,
                ts,
                &mut h2_ctx(&mut self.stats, &cfg, conn, c.swapped, sink),
            );
        }
        c.h2 = Some(h);
    }

    fn gap(
        &mut self,
        conn: ConnId,
        dir: Dir,
        ts: Timestamp,
        len: u64,
        sink: &mut dyn FnMut(HttpEvent),
    ) {
        let cfg = self.config;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let role = c.role_of(dir);
        if let (Phase::H2, Some(h)) = (&c.phase, c.h2.as_mut()) {
            self.stats.gaps = self.stats.gaps.saturating_add(1);
            h.gap(
                role,
                ts,
                &mut h2_ctx(&mut self.stats, &cfg, conn, c.swapped, sink),
            );
            return;
        }
        if !matches!(c.phase, Phase::Http) {
            return;
        }
        self.stats.gaps = self.stats.gaps.saturating_add(1);
        let role = c.role_of(dir);
        let mut outs = Vec::new();
        let framer = match role {
            Role::Requests => &mut c.requests,
            Role::Responses => &mut c.responses,
        };
        framer.gap(len, &mut |o| {
            outs.push(o);
            no_body()
        });
        for o in outs {
            handle(&mut self.stats, &cfg, c, conn, dir, ts, o, sink);
        }
    }

    fn closed(&mut self, conn: ConnId, ts: Timestamp, sink: &mut dyn FnMut(HttpEvent)) {
        let cfg = self.config;
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        if let (Phase::H2, Some(h)) = (&c.phase, c.h2.as_mut()) {
            h.close(
                ts,
                &mut h2_ctx(&mut self.stats, &cfg, conn, c.swapped, sink),
            );
            return;
        }
        if !matches!(c.phase, Phase::Http) {
            return;
        }
        let resp_dir = if c.swapped {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let mut outs = Vec::new();
        c.responses.close(&mut |o| {
            outs.push(o);
            no_body()
        });
        for o in outs {
            handle(&mut self.stats, &cfg, &mut c, conn, resp_dir, ts, o, sink);
        }
        // A response head whose body never ended still pairs with its request.
        if let Some(resp) = c.current.take() {
            emit(&mut self.stats, &mut c, conn, Some(*resp), sink);
        }
        // Requests never answered.
        while !c.pending.is_empty() {
            emit(&mut self.stats, &mut c, conn, None, sink);
        }
        if !c.interim.is_empty() {
            emit(&mut self.stats, &mut c, conn, None, sink);
        }
    }
}

/// The context an HTTP/2 connection reports into.
fn h2_ctx<'a>(
    stats: &'a mut HttpStats,
    cfg: &'a HttpConfig,
    conn: ConnId,
    swapped: bool,
    sink: &'a mut dyn FnMut(HttpEvent),
) -> Ctx<'a> {
    Ctx {
        cfg,
        stats,
        sink,
        conn,
        swapped,
    }
}

fn event_dir(ev: &StreamEvent<'_>) -> Option<Dir> {
    match *ev {
        StreamEvent::Data { dir, .. }
        | StreamEvent::Gap { dir, .. }
        | StreamEvent::Fin { dir, .. }
        | StreamEvent::Rst { dir, .. } => Some(dir),
        StreamEvent::Open { .. } | StreamEvent::Closed { .. } | StreamEvent::LimitHit { .. } => {
            None
        }
    }
}

fn event_ts(ev: &StreamEvent<'_>) -> Timestamp {
    match *ev {
        StreamEvent::Open { ts, .. }
        | StreamEvent::Data { ts, .. }
        | StreamEvent::Gap { ts, .. }
        | StreamEvent::Fin { ts, .. }
        | StreamEvent::Rst { ts, .. }
        | StreamEvent::Closed { ts, .. }
        | StreamEvent::LimitHit { ts, .. } => ts,
    }
}

/// The connection lets go of what it holds (the stage is over `max_buffered_total`): its
/// framers abandon unfinished heads and body starts, the response being read goes out with
/// the oldest request, and the other waiting requests go out unanswered.
fn shed(
    stats: &mut HttpStats,
    cfg: &HttpConfig,
    c: &mut Conn,
    conn: ConnId,
    dir: Dir,
    ts: Timestamp,
    sink: &mut dyn FnMut(HttpEvent),
) {
    stats.budget_hits = stats.budget_hits.saturating_add(1);
    sink(HttpEvent::Anomaly {
        conn,
        dir,
        ts,
        anomaly: Anomaly::OverBudget {
            limit: cfg.max_buffered_total,
        },
    });
    c.requests.shed();
    c.responses.shed();
    if let Some(resp) = c.current.take() {
        emit(stats, c, conn, Some(*resp), sink);
    }
    while !c.pending.is_empty() {
        emit(stats, c, conn, None, sink);
    }
    if !c.interim.is_empty() {
        emit(stats, c, conn, None, sink);
    }
    c.pending = VecDeque::new();
    c.interim = Vec::new();
}

/// Heap bytes a request holds, roughly: its strings and its header fields (the struct itself
/// sits in a queue slot or in the connection). Short strings are kept inline
/// (`CompactString`) and hold no heap, but their length is counted, as the capacity of the
/// exactly sized `String`s they were: the budget and its peak read as before.
pub(super) fn weight_request(r: &Request) -> usize {
    r.method
        .len()
        .saturating_add(r.uri.capacity())
        .saturating_add(weight_headers(&r.headers))
}

/// As [`weight_request`]; the body start is counted by the framer while it is held.
pub(super) fn weight_response(r: &Response) -> usize {
    r.reason.len().saturating_add(weight_headers(&r.headers))
}

fn weight_headers(h: &[super::Header]) -> usize {
    let slots = h.len().saturating_mul(std::mem::size_of::<super::Header>());
    h.iter().fold(slots, |n, h| {
        let name = match &h.name {
            std::borrow::Cow::Borrowed(_) => 0,
            std::borrow::Cow::Owned(n) => n.capacity(),
        };
        n.saturating_add(name).saturating_add(h.value.len())
    })
}

fn no_body() -> BodyPlan {
    BodyPlan {
        body: Body::None,
        keep_prefix: false,
    }
}

/// `h2c` among the protocols of an `Upgrade` field (RFC 9110 7.8).
fn names_h2c(v: &str) -> bool {
    v.split(',').any(|p| p.trim().eq_ignore_ascii_case("h2c"))
}

/// A `101` switching to `h2c`.
fn switches_to_h2c(head: &Head) -> bool {
    matches!(head, Head::Response { status: 101, headers, .. }
        if super::header(headers, "upgrade").is_some_and(names_h2c))
}

enum Detection {
    Http(Role),
    Not,
    Unsure,
}

/// Is this connection HTTP? From the first bytes when the stream start was seen (RFC 9112 2.1:
/// a message starts with its start line, possibly after empty lines), else from the first line
/// anywhere that looks like a start line.
fn detect(kind: OpenKind, offset: u64, bytes: &[u8]) -> Detection {
    let trimmed = {
        let mut b = bytes;
        while let Some((b'\r' | b'\n', rest)) = b.split_first() {
            b = rest;
        }
        b
    };
    if looks_like_head(trimmed, Role::Requests) {
        return Detection::Http(Role::Requests);
    }
    if looks_like_head(trimmed, Role::Responses) {
        return Detection::Http(Role::Responses);
    }
    if kind == OpenKind::Handshake && offset == 0 {
        // Too short to tell yet ("GE"): wait for more.
        if trimmed.len() < 8
            && trimmed
                .iter()
                .all(|c| c.is_ascii_uppercase() || *c == b' ' || *c == b'/')
        {
            return Detection::Unsure;
        }
        return Detection::Not;
    }
    if find_head_start(bytes, Role::Requests).is_some() {
        return Detection::Http(Role::Requests);
    }
    if find_head_start(bytes, Role::Responses).is_some() {
        return Detection::Http(Role::Responses);
    }
    Detection::Unsure
}

#[allow(clippy::too_many_arguments)]
fn handle(
    stats: &mut HttpStats,
    cfg: &HttpConfig,
    c: &mut Conn,
    conn: ConnId,
    dir: Dir,
    at: Timestamp,
    o: Out,
    sink: &mut dyn FnMut(HttpEvent),
) {
    let role = c.role_of(dir);
    match (role, o) {
        (
            _,
            Out::Head {
                frame,
                end_frame,
                ts,
                head,
            },
        ) => {
            let first_frame = (frame != end_frame).then_some(frame);
            match (role, head) {
                (
                    Role::Requests,
                    Head::Request {
                        method,
                        uri,
                        version,
                        headers,
                    },
                ) => {
                    let request = Request {
                        frame: end_frame,
                        first_frame,
                        ts,
                        method,
                        uri,
                        version,
                        headers,
                        body_len: 0,
                    };
                    on_request(stats, cfg, c, conn, dir, request, sink);
                }
                (
                    Role::Responses,
                    Head::Response {
                        status,
                        reason,
                        version,
                        headers,
                    },
                ) => {
                    let response = Response {
                        frame: end_frame,
                        first_frame,
                        ts,
                        status,
                        reason,
                        version,
                        headers,
                        body_len: 0,
                        body_prefix: None,
                    };
                    on_response(stats, cfg, c, conn, dir, response, sink);
                }
                // A head of the wrong kind cannot come out of a framer of the other role.
                (Role::Requests, Head::Response { .. })
                | (Role::Responses, Head::Request { .. }) => {}
            }
        }
        (
            Role::Requests,
            Out::BodyDone {
                body_len, frame, ..
            },
        ) => {
            stats.body_bytes = stats.body_bytes.saturating_add(body_len);
            if c.request_in_body {
                if let Some(r) = c.pending.back_mut() {
                    r.body_len = body_len;
                    body_ended_in(frame, body_len, &mut r.frame, &mut r.first_frame);
                }
            }
            c.request_in_body = false;
        }
        (
            Role::Responses,
            Out::BodyDone {
                body_len,
                prefix,
                frame,
            },
        ) => {
            stats.body_bytes = stats.body_bytes.saturating_add(body_len);
            if let Some(mut resp) = c.current.take() {
                resp.body_len = body_len;
                body_ended_in(frame, body_len, &mut resp.frame, &mut resp.first_frame);
                resp.body_prefix = prefix;
                emit(stats, c, conn, Some(*resp), sink);
            }
        }
        (_, Out::Switched { rest, frame }) => c.switched = Some(Box::new((rest, frame))),
        (_, Out::Anomaly(anomaly)) => {
            match anomaly {
                Anomaly::MalformedHead { .. } => {
                    stats.malformed_heads = stats.malformed_heads.saturating_add(1)
                }
                Anomaly::HeadTooLarge { .. } => {
                    stats.head_cap_hits = stats.head_cap_hits.saturating_add(1)
                }
                Anomaly::Resynchronised { .. } => stats.resyncs = stats.resyncs.saturating_add(1),
                _ => {}
            }
            sink(HttpEvent::Anomaly {
                conn,
                dir,
                ts: at,
                anomaly,
            });
        }
    }
}

/// A message is shown on the frame that completes it: a body that ends in a later frame than
/// the head moves it there.
fn body_ended_in(end: u64, body_len: u64, frame: &mut u64, first_frame: &mut Option<u64>) {
    if body_len > 0 && end != *frame {
        first_frame.get_or_insert(*frame);
        *frame = end;
    }
}

/// A request head came: it waits for its response.
fn on_request(
    stats: &mut HttpStats,
    cfg: &HttpConfig,
    c: &mut Conn,
    conn: ConnId,
    dir: Dir,
    request: Request,
    sink: &mut dyn FnMut(HttpEvent),
) {
    let ts = request.ts;
    stats.requests = stats.requests.saturating_add(1);
    // RFC 7540 3.2: `Upgrade: h2c` asks for HTTP/2 over this connection.
    if request.header("upgrade").is_some_and(names_h2c) {
        c.upgrade_h2c = true;
    }
    if c.pending.len() >= cfg.max_pending_requests {
        stats.pending_cap_hits = stats.pending_cap_hits.saturating_add(1);
        sink(HttpEvent::Anomaly {
            conn,
            dir,
            ts,
            anomaly: Anomaly::TooManyPending {
                limit: cfg.max_pending_requests,
            },
        });
        emit(stats, c, conn, None, sink);
    }
    c.owned = c.owned.saturating_add(weight_request(&request));
    if c.pending.capacity() == 0 {
        // One slot first: most connections wait on one request at a time, and a
        // connection's slots are kept for its life (four, were the queue to choose).
        c.pending.reserve_exact(1);
    }
    c.pending.push_back(request);
    c.request_in_body = true;
}

/// A response head came: an interim one is kept for the exchange, a final one waits for its
/// body.
fn on_response(
    stats: &mut HttpStats,
    cfg: &HttpConfig,
    c: &mut Conn,
    conn: ConnId,
    dir: Dir,
    response: Response,
    sink: &mut dyn FnMut(HttpEvent),
) {
    let (ts, status) = (response.ts, response.status);
    stats.responses = stats.responses.saturating_add(1);
    if status == 101 && c.upgrade_h2c && response.header("upgrade").is_some_and(names_h2c) {
        // Switching to HTTP/2: the request goes on as stream 1, the 101 as its interim
        // response (the framer hands the bytes after it on with `Out::Switched`).
        let request = c.pending.pop_front();
        c.owned = c
            .owned
            .saturating_sub(request.as_ref().map_or(0, weight_request));
        c.upgraded = Some(Box::new((request, response)));
        return;
    }
    let tunnel = status == 101
        || ((200..300).contains(&status)
            && c.pending
                .front()
                .is_some_and(|r| r.method.eq_ignore_ascii_case("CONNECT")));
    if (100..200).contains(&status) && status != 101 {
        if c.interim.len() < cfg.max_interim_responses {
            c.owned = c.owned.saturating_add(weight_response(&response));
            c.interim.push(response);
        } else {
            stats.interim_cap_hits = stats.interim_cap_hits.saturating_add(1);
            sink(HttpEvent::Anomaly {
                conn,
                dir,
                ts,
                anomaly: Anomaly::TooManyInterim {
                    limit: cfg.max_interim_responses,
                },
            });
        }
    } else {
        if let Some(prev) = c.current.take() {
            emit(stats, c, conn, Some(*prev), sink);
        }
        c.owned = c.owned.saturating_add(weight_response(&response));
        c.current = Some(Box::new(response));
    }
    if tunnel {
        stats.tunnels = stats.tunnels.saturating_add(1);
        sink(HttpEvent::Anomaly {
            conn,
            dir,
            ts,
            anomaly: Anomaly::Tunnel { status },
        });
    }
}

/// Pairs `response` (or none) with the oldest pending request and sends the exchange.
fn emit(
    stats: &mut HttpStats,
    c: &mut Conn,
    conn: ConnId,
    response: Option<Response>,
    sink: &mut dyn FnMut(HttpEvent),
) {
    let request = c.pending.pop_front();
    if c.pending.is_empty() {
        c.request_in_body = false;
    }
    // Everything sent out here was counted in `owned` when it came in (`response` was
    // `current`).
    let gone = request
        .iter()
        .map(weight_request)
        .chain(response.iter().chain(&c.interim).map(weight_response))
        .fold(0usize, usize::saturating_add);
    c.owned = c.owned.saturating_sub(gone);
    stats.exchanges = stats.exchanges.saturating_add(1);
    sink(HttpEvent::Exchange(Box::new(Exchange {
        input: 0,
        conn,
        request,
        response,
        interim: std::mem::take(&mut c.interim),
        tls: false,
        channel_binding: None,
        h2: None,
    })));
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A connection opened with its handshake seen.
    pub(in crate::http) fn open(conn: ConnId) -> StreamEvent<'static> {
        let addr = "10.0.0.1:80".parse().unwrap();
        StreamEvent::Open {
            conn,
            ts: Timestamp(0),
            frame: 1,
            client: addr,
            server: addr,
            kind: OpenKind::Handshake,
        }
    }

    fn data(conn: ConnId, dir: Dir, offset: u64, bytes: &[u8]) -> StreamEvent<'_> {
        StreamEvent::Data {
            conn,
            dir,
            ts: Timestamp(0),
            frame: 1,
            offset,
            bytes,
        }
    }

    #[test]
    fn interim_responses_are_capped() {
        // Found by tests/it/hardening.rs: every 1xx response was kept until the final one, so
        // a stream of `100 Continue` grew memory without bound (140 bytes per 25 sent).
        let cfg = HttpConfig::default();
        let mut http = HttpTracker::new(cfg);
        let mut events = Vec::new();
        http.push(&open(0), &mut |e| events.push(e));
        let req = b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        http.push(&data(0, Dir::ToServer, 0, req), &mut |e| events.push(e));
        let n = cfg.max_interim_responses + 5;
        let flood = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(n);
        http.push(&data(0, Dir::ToClient, 0, &flood), &mut |e| events.push(e));
        let last = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let off = flood.len() as u64;
        http.push(&data(0, Dir::ToClient, off, last), &mut |e| events.push(e));
        assert_eq!(http.stats().interim_cap_hits, 5);
        assert_eq!(http.stats().responses, n as u64 + 1);
        let exchange = events.iter().find_map(|e| match e {
            HttpEvent::Exchange(x) => Some(x),
            _ => None,
        });
        let x = exchange.expect("the exchange");
        assert_eq!(x.interim.len(), cfg.max_interim_responses);
        assert_eq!(x.response.as_ref().map(|r| r.status), Some(200));
        let capped = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    HttpEvent::Anomaly {
                        anomaly: Anomaly::TooManyInterim { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(capped, 5);
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn the_connection_that_grows_past_the_budget_lets_go() {
        // Found by tests/it/hardening.rs: each connection's state was capped, the sum was not,
        // so 8000 connections holding an unfinished 60 KiB head and three unanswered requests
        // took 591 MB.
        let cfg = HttpConfig {
            max_buffered_total: 10_000,
            ..HttpConfig::default()
        };
        let mut http = HttpTracker::new(cfg);
        let mut events = Vec::new();
        let addr = "10.0.0.1:80".parse().unwrap();
        let head = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 2500]].concat();
        for conn in 0..5u64 {
            http.push(
                &StreamEvent::Open {
                    conn,
                    ts: Timestamp(0),
                    frame: 1,
                    client: addr,
                    server: addr,
                    kind: OpenKind::Handshake,
                },
                &mut |e| events.push(e),
            );
            let done = b"GET /done HTTP/1.1\r\n\r\n";
            let ev = StreamEvent::Data {
                conn,
                dir: Dir::ToServer,
                ts: Timestamp(0),
                frame: 2,
                offset: 0,
                bytes: done,
            };
            http.push(&ev, &mut |e| events.push(e));
            let ev = StreamEvent::Data {
                conn,
                dir: Dir::ToServer,
                ts: Timestamp(0),
                frame: 3,
                offset: done.len() as u64,
                bytes: &head,
            };
            http.push(&ev, &mut |e| events.push(e));
            assert!(
                http.held <= cfg.max_buffered_total + 2 * head.len(),
                "{}",
                http.held
            );
        }
        // Three connections fit; the fourth and fifth let go as they grew past the budget.
        assert_eq!(http.stats().budget_hits, 2);
        let unanswered = events
            .iter()
            .filter(|e| matches!(e, HttpEvent::Exchange(x) if x.response.is_none()))
            .count();
        assert_eq!(unanswered, 2, "their waiting requests went out unanswered");
        // Closing every connection returns the count to zero.
        for conn in 0..5u64 {
            let ev = StreamEvent::Closed {
                conn,
                ts: Timestamp(0),
                reason: crate::tcp::CloseReason::Fin,
            };
            http.push(&ev, &mut |e| events.push(e));
        }
        assert_eq!(http.held, 0);
        assert_eq!(http.stats().buffered_bytes, 0);
    }
}
