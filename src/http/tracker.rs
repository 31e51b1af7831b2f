//! Per-connection HTTP state: detection, the two framers, and request/response pairing.

use std::collections::{HashMap, VecDeque};

use super::framer::{
    find_head_start, looks_like_head, request_body, response_body, Body, BodyPlan, Framer, Head,
    Out, Role,
};
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
    /// The response whose body is being read.
    current: Option<Response>,
    interim: Vec<Response>,
    /// Index in `pending` of the request whose body is being read, counted from the back.
    request_in_body: bool,
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
        }
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
}

impl HttpTracker {
    pub fn new(config: HttpConfig) -> Self {
        HttpTracker {
            config,
            conns: HashMap::new(),
            stats: HttpStats::default(),
        }
    }

    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Connections with HTTP state held right now.
    pub fn open(&self) -> usize {
        self.conns.len()
    }

    /// Processes one stream event.
    pub fn push(&mut self, ev: &StreamEvent<'_>, sink: &mut dyn FnMut(HttpEvent)) {
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
                ..
            } = &mut **c;
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
                    Out::Head {
                        head: Head::Request { headers, .. },
                        ..
                    } => BodyPlan {
                        body: request_body(headers),
                        keep_prefix: false,
                    },
                    Out::Head {
                        head:
                            Head::Response {
                                status, headers, ..
                            },
                        ..
                    } => {
                        let method = pending.get(answered).map(|r| r.method.as_str());
                        let plan = BodyPlan {
                            body: response_body(*status, method, headers),
                            keep_prefix: (400..500).contains(status),
                        };
                        if !(100..200).contains(status) || *status == 101 {
                            answered = answered.saturating_add(1);
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
            emit(&mut self.stats, &mut c, conn, Some(resp), sink);
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

fn no_body() -> BodyPlan {
    BodyPlan {
        body: Body::None,
        keep_prefix: false,
    }
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
            Role::Requests,
            Out::Head {
                frame,
                ts,
                head:
                    Head::Request {
                        method,
                        uri,
                        version,
                        headers,
                    },
            },
        ) => {
            stats.requests = stats.requests.saturating_add(1);
            let request = Request {
                frame,
                ts,
                method,
                uri,
                version,
                headers,
                body_len: 0,
            };
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
            sink(HttpEvent::RequestHead {
                conn,
                request: request.clone(),
            });
            c.pending.push_back(request);
            c.request_in_body = true;
        }
        (Role::Requests, Out::BodyDone { body_len, .. }) => {
            stats.body_bytes = stats.body_bytes.saturating_add(body_len);
            if c.request_in_body {
                if let Some(r) = c.pending.back_mut() {
                    r.body_len = body_len;
                }
            }
            c.request_in_body = false;
        }
        (
            Role::Responses,
            Out::Head {
                frame,
                ts,
                head:
                    Head::Response {
                        status,
                        reason,
                        version,
                        headers,
                    },
            },
        ) => {
            stats.responses = stats.responses.saturating_add(1);
            let response = Response {
                frame,
                ts,
                status,
                reason,
                version,
                headers,
                body_len: 0,
                body_prefix: None,
            };
            let tunnel = status == 101
                || ((200..300).contains(&status)
                    && c.pending
                        .front()
                        .is_some_and(|r| r.method.eq_ignore_ascii_case("CONNECT")));
            if (100..200).contains(&status) && status != 101 {
                if c.interim.len() < cfg.max_interim_responses {
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
                    emit(stats, c, conn, Some(prev), sink);
                }
                c.current = Some(response);
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
        (Role::Responses, Out::BodyDone { body_len, prefix }) => {
            stats.body_bytes = stats.body_bytes.saturating_add(body_len);
            if let Some(mut resp) = c.current.take() {
                resp.body_len = body_len;
                resp.body_prefix = prefix;
                emit(stats, c, conn, Some(resp), sink);
            }
        }
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
        // A head of the wrong kind cannot come out of a framer of the other role.
        (Role::Requests, Out::Head { .. }) | (Role::Responses, Out::Head { .. }) => {}
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
    stats.exchanges = stats.exchanges.saturating_add(1);
    sink(HttpEvent::Exchange(Box::new(Exchange {
        conn,
        request,
        response,
        interim: std::mem::take(&mut c.interim),
    })));
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let addr = "10.0.0.1:80".parse().unwrap();
        http.push(
            &StreamEvent::Open {
                conn: 0,
                ts: Timestamp(0),
                frame: 1,
                client: addr,
                server: addr,
                kind: OpenKind::Handshake,
            },
            &mut |e| events.push(e),
        );
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
