//! Stages 3 to 5 over one stream event of the TCP stage: the connection's record (its FINs,
//! RST, gaps and TLS facts), the TLS stage, then the HTTP stage, and what the model is told.

use super::{Connection, Ending, LegPrep, ModelEvent, Output, TcpMark};
use crate::capture::Timestamp;
use crate::handshake::{leg_of_shared, ConnEvent, ConnEventKind, Side};
use crate::http::{HttpEvent, HttpTracker};
use crate::kdc::KdcStage;
use crate::map::Map as HashMap;
use crate::tcp::{CloseReason, ConnId, OpenKind, StreamEvent};
use crate::tls::{Passed, TlsInfo, TlsStreams};

pub(super) fn on_stream(
    (tls, http, kdc): (&mut TlsStreams, &mut HttpTracker, &mut KdcStage),
    open: &mut HashMap<ConnId, Box<Connection>>,
    drop_data: &mut Vec<ConnId>,
    (model_frame, prepare_legs, forget_secrets, input): (u64, bool, bool, u32),
    ev: &StreamEvent<'_>,
    sink: &mut dyn FnMut(ModelEvent),
) {
    match *ev {
        StreamEvent::Open {
            conn,
            ts,
            client,
            server,
            kind,
            ..
        } => {
            kdc.open(conn, client, server);
            sink(ModelEvent::ConnOpen {
                client,
                server,
                event: ConnEvent {
                    conn,
                    ts,
                    frame: ev_frame(ev),
                    kind: ConnEventKind::Open {
                        handshake_seen: kind == OpenKind::Handshake,
                    },
                },
            });
            open.insert(
                conn,
                Box::new(Connection {
                    id: conn,
                    input,
                    client,
                    server,
                    handshake_seen: kind == OpenKind::Handshake,
                    first: ts,
                    last: ts,
                    ended: Ending::Open,
                    fins: Vec::new(),
                    rst: None,
                    http: false,
                    gap_bytes: 0,
                    tls: None,
                }),
            );
        }
        StreamEvent::Data {
            conn,
            ts,
            dir,
            frame,
            bytes,
            ..
        } => {
            touch(open, conn, ts);
            // A connection to port 88 or 53 is the KDC and DNS stage's, not TLS's or HTTP's.
            if kdc.has_streams() && kdc.follows(conn) {
                kdc.data(conn, dir, ts, frame, bytes, &mut |m| {
                    sink(ModelEvent::Wire(Box::new(m)))
                });
                return;
            }
        }
        StreamEvent::Gap {
            conn, ts, len, dir, ..
        } => {
            sink(ModelEvent::Conn(ConnEvent {
                conn,
                ts,
                frame: model_frame,
                kind: ConnEventKind::Gap {
                    by: Side::from(dir),
                    len,
                },
            }));
            if let Some(c) = open.get_mut(&conn) {
                c.gap_bytes = c.gap_bytes.saturating_add(len);
                c.last = c.last.max(ts);
            }
            if kdc.has_streams() && kdc.follows(conn) {
                kdc.gap(conn, dir);
                return;
            }
        }
        StreamEvent::Fin {
            conn,
            dir,
            ts,
            frame,
        }
        | StreamEvent::Rst {
            conn,
            dir,
            ts,
            frame,
        } => {
            let by = Side::from(dir);
            let rst = matches!(ev, StreamEvent::Rst { .. });
            if rst && kdc.has_streams() {
                kdc.reset(conn);
            }
            let kind = if rst {
                ConnEventKind::Rst { by }
            } else {
                ConnEventKind::Fin { by }
            };
            sink(ModelEvent::Conn(ConnEvent {
                conn,
                ts,
                frame,
                kind,
            }));
            if let Some(c) = open.get_mut(&conn) {
                let mark = TcpMark { ts, frame, by };
                // A connection ends with a FIN from each side or with one RST: the first of
                // each is the one that counts.
                if rst {
                    if c.rst.is_none() {
                        c.rst = Some(mark);
                    }
                } else if !c.fins.iter().any(|f| f.by == by) {
                    c.fins.push(mark);
                }
                c.last = c.last.max(ts);
            }
        }
        StreamEvent::Closed { .. } | StreamEvent::LimitHit { .. } => {}
    }
    let at = (prepare_legs, forget_secrets, input);
    tls.push(ev, &mut |p| passed(p, http, open, drop_data, at, sink));
    match *ev {
        StreamEvent::Closed { conn, ts, reason } => {
            if kdc.has_streams() {
                if let Some(m) = kdc.closed(conn, ts, model_frame, reason) {
                    sink(ModelEvent::Wire(Box::new(m)));
                }
            }
            if let Some(mut c) = open.remove(&conn) {
                c.ended = match reason {
                    CloseReason::Fin => Ending::Fin,
                    CloseReason::Rst => Ending::Rst,
                    CloseReason::Timeout => Ending::Timeout,
                    CloseReason::Evicted => Ending::Evicted,
                    CloseReason::Reused => Ending::Reused,
                    CloseReason::EndOfInput => Ending::Open,
                };
                if reason != CloseReason::EndOfInput {
                    c.last = c.last.max(ts);
                }
                sink(ModelEvent::Output(Output::Connection(c)));
            }
            sink(ModelEvent::ConnClosed { conn, ts });
        }
        StreamEvent::LimitHit { conn, ts, limit } => {
            sink(ModelEvent::Output(Output::Limit { conn, ts, limit }))
        }
        _ => {}
    }
}

/// Key log text that came while reading (a followed key log): what the TLS connections that
/// waited for it decrypt goes on as their stream events would have.
pub(super) fn on_late_keys(
    tls: &mut TlsStreams,
    http: &mut HttpTracker,
    open: &mut HashMap<ConnId, Box<Connection>>,
    drop_data: &mut Vec<ConnId>,
    at: (bool, bool, u32),
    text: &[u8],
    sink: &mut dyn FnMut(ModelEvent),
) {
    tls.add_late_key_text(text, &mut |p| passed(p, http, open, drop_data, at, sink));
}

/// What the TLS stage handed on: stream events to the HTTP stage, the TLS facts and alerts to
/// the connection's record and the model.
fn passed(
    p: Passed<'_>,
    http: &mut HttpTracker,
    open: &mut HashMap<ConnId, Box<Connection>>,
    drop_data: &mut Vec<ConnId>,
    (prepare_legs, forget_secrets, input): (bool, bool, u32),
    sink: &mut dyn FnMut(ModelEvent),
) {
    match p {
        Passed::Stream(e) => to_http(
            http,
            open,
            drop_data,
            (prepare_legs, forget_secrets, input),
            &e,
            sink,
        ),
        Passed::Facts {
            conn,
            frame,
            ts,
            info,
        } => {
            let Some(c) = open.get_mut(&conn) else {
                return;
            };
            fn chosen(i: &TlsInfo) -> Option<(u16, &str)> {
                i.cipher_suite_id.zip(i.version.as_deref())
            }
            // Once, when the ServerHello chose: a line on the timelines of the connection.
            if let (None, Some((cipher_suite, version))) =
                (c.tls.as_deref().and_then(chosen), chosen(info))
            {
                sink(ModelEvent::Conn(ConnEvent {
                    conn,
                    ts,
                    frame,
                    kind: ConnEventKind::Tls {
                        version: version_number(version),
                        cipher_suite,
                    },
                }));
            }
            c.tls = Some(Box::new(info.clone()));
        }
        Passed::Alert {
            conn,
            dir,
            frame,
            ts,
            level,
            description,
        } => {
            let by = Side::from(dir);
            let after_close = open
                .get(&conn)
                .is_some_and(|c| c.fins.iter().any(|f| f.by != by && f.frame < frame));
            sink(ModelEvent::Conn(ConnEvent {
                conn,
                ts,
                frame,
                kind: ConnEventKind::TlsAlert {
                    by,
                    level,
                    description,
                    after_close,
                },
            }))
        }
        Passed::Ended { conn, info } => {
            if let Some(c) = open.get_mut(&conn) {
                c.tls = Some(info);
            }
        }
    }
}

/// Stage 4 over one stream event (of the TCP stage, or a TLS connection's plaintext).
fn to_http(
    http: &mut HttpTracker,
    open: &mut HashMap<ConnId, Box<Connection>>,
    drop_data: &mut Vec<ConnId>,
    (prepare_legs, forget_secrets, input): (bool, bool, u32),
    ev: &StreamEvent<'_>,
    sink: &mut dyn FnMut(ModelEvent),
) {
    http.push(ev, &mut |hev| match hev {
        HttpEvent::Detected { conn, .. } => {
            if let Some(c) = open.get_mut(&conn) {
                c.http = true;
            }
        }
        HttpEvent::NotHttp { conn } => drop_data.push(conn),
        HttpEvent::Exchange(mut x) => {
            x.input = input;
            let tls = open.get(&x.conn).and_then(|c| c.tls.as_deref());
            x.tls = tls.is_some();
            x.channel_binding = tls
                .and_then(|t| t.certificate.as_ref())
                .map(|c| crate::tls::channel_binding(&c.end_point_hash));
            let prep = if prepare_legs {
                LegPrep::Made(leg_of_shared(&x, forget_secrets).map(Box::new))
            } else {
                LegPrep::Later
            };
            sink(ModelEvent::Exchange(x, prep));
        }
        HttpEvent::H2Frame {
            conn,
            dir,
            ts,
            frame,
            what,
        } => sink(ModelEvent::Conn(ConnEvent {
            conn,
            ts,
            frame,
            kind: ConnEventKind::H2 {
                by: Side::from(dir),
                frame: what,
            },
        })),
        HttpEvent::Anomaly {
            conn,
            dir,
            ts,
            anomaly,
        } => sink(ModelEvent::Output(Output::HttpAnomaly {
            conn,
            dir,
            ts,
            anomaly,
        })),
    });
}

/// The wire value of a TLS version by its name (RFC 8446 4.2.1).
fn version_number(name: &str) -> u16 {
    match name {
        "SSL 3.0" => 0x0300,
        "TLS 1.0" => 0x0301,
        "TLS 1.1" => 0x0302,
        "TLS 1.2" => 0x0303,
        "TLS 1.3" => 0x0304,
        _ => 0,
    }
}

fn ev_frame(ev: &StreamEvent<'_>) -> u64 {
    match *ev {
        StreamEvent::Open { frame, .. }
        | StreamEvent::Data { frame, .. }
        | StreamEvent::Fin { frame, .. }
        | StreamEvent::Rst { frame, .. } => frame,
        _ => 0,
    }
}

fn touch(open: &mut HashMap<ConnId, Box<Connection>>, conn: ConnId, ts: Timestamp) {
    if let Some(c) = open.get_mut(&conn) {
        c.last = c.last.max(ts);
    }
}
