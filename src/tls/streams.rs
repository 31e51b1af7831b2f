//! The TLS stage over the TCP stage's stream events: a connection whose client opens with a
//! TLS ClientHello is read by a [`TlsConn`], and its plaintext, when a key decrypts it, goes on
//! as the stream events `tcp` would have made of it in clear (data at its own offsets, a gap
//! where records were lost), so that `http` cannot tell the difference. Every other event
//! passes through unchanged.

use super::late::{client_random_of, client_randoms, Late};
use super::{
    looks_like_tls, Decryption, KeyLog, KeyLogStats, TlsConfig, TlsConn, TlsEvent, TlsInfo,
};
use crate::capture::Timestamp;
use crate::map::Map as HashMap;
use crate::tcp::{ConnId, Dir, StreamEvent};

/// What the stage hands on.
#[derive(Debug)]
pub enum Passed<'a> {
    /// A stream event for the HTTP stage: the TCP stage's own, or a TLS connection's
    /// plaintext.
    Stream(StreamEvent<'a>),
    /// The facts of a TLS connection changed (a hello, the certificate, the state of
    /// decryption).
    Facts {
        conn: ConnId,
        frame: u64,
        ts: Timestamp,
        info: &'a TlsInfo,
    },
    /// An alert, as soon as it is read.
    Alert {
        conn: ConnId,
        dir: Dir,
        frame: u64,
        ts: Timestamp,
        level: u8,
        description: u8,
    },
    /// A TLS connection ends (just before its `Closed` event): what was known of it.
    Ended { conn: ConnId, info: Box<TlsInfo> },
}

/// Counters of the stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsStats {
    /// Connections read as TLS.
    pub connections: u64,
    /// ...of which some application data was decrypted.
    pub decrypted: u64,
    /// Bytes of plaintext handed on.
    pub plaintext_bytes: u64,
    /// Connections decrypted with keys that came after they started (a key log followed
    /// during a live capture; see [`super::late`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub late_decrypted: u64,
    /// Connections let go while waiting for keys: they passed a bound of the wait (bytes
    /// held, or time).
    #[serde(skip_serializing_if = "is_zero")]
    pub key_wait_cap_hits: u64,
    /// Times a connection stopped reading a direction because the stage's buffers were over
    /// `TlsConfig::max_buffered_total`.
    pub budget_hits: u64,
    /// The most the stage's buffers took at once (with flow shards, the largest of one
    /// shard's).
    pub peak_buffered_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TlsStats {
    /// Two shards' counters as one's.
    pub fn plus(self, o: &TlsStats) -> TlsStats {
        TlsStats {
            connections: self.connections.saturating_add(o.connections),
            decrypted: self.decrypted.saturating_add(o.decrypted),
            plaintext_bytes: self.plaintext_bytes.saturating_add(o.plaintext_bytes),
            late_decrypted: self.late_decrypted.saturating_add(o.late_decrypted),
            key_wait_cap_hits: self.key_wait_cap_hits.saturating_add(o.key_wait_cap_hits),
            budget_hits: self.budget_hits.saturating_add(o.budget_hits),
            peak_buffered_bytes: self.peak_buffered_bytes.max(o.peak_buffered_bytes),
        }
    }
}

struct Tls {
    conn: TlsConn,
    /// The plaintext handed on so far, per direction: the offsets of its stream events.
    plain: [u64; 2],
}

/// The TLS stage of one front.
pub struct TlsStreams {
    config: TlsConfig,
    keys: KeyLog,
    /// The keys before the capture being read added its own (its pcapng Decryption Secrets
    /// Blocks): what the next capture starts with.
    before_capture: Option<KeyLog>,
    conns: HashMap<ConnId, Box<Tls>>,
    stats: TlsStats,
    /// Connections waiting for keys that may still come ([`TlsStreams::wait_for_keys`]).
    late: Option<Box<Late>>,
    /// What the connections' buffers take in all ([`TlsConn::held`]).
    held: usize,
    /// The plaintext buffer lent to each connection in turn.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for TlsStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStreams")
            .field("connections", &self.conns.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn index(dir: Dir) -> usize {
    match dir {
        Dir::ToServer => 0,
        Dir::ToClient => 1,
    }
}

impl TlsStreams {
    pub fn new(config: TlsConfig) -> TlsStreams {
        TlsStreams {
            config,
            keys: KeyLog::default(),
            before_capture: None,
            conns: HashMap::default(),
            stats: TlsStats::default(),
            late: None,
            held: 0,
            scratch: Vec::new(),
        }
    }

    /// What the connections' buffers take in all.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Keys may come after the connections they are for (a key log followed during a live
    /// capture): a connection without keys waits for them, its bytes held (see
    /// [`super::late`]), and [`TlsStreams::add_late_key_text`] reads it again when they come.
    pub fn wait_for_keys(&mut self) {
        self.late.get_or_insert_with(Box::default);
    }

    /// Key log text that came while reading (a followed key log): the connections that wait
    /// for a client random of it are read again from their first byte, and what they decrypt
    /// goes to `out` as it would have when read.
    pub fn add_late_key_text(&mut self, text: &[u8], out: &mut dyn FnMut(Passed<'_>)) {
        self.keys.add_text(text);
        let Some(late) = self.late.as_mut() else {
            return;
        };
        let randoms = client_randoms(text);
        if randoms.is_empty() {
            return;
        }
        for conn in late.conns() {
            let Some(t) = self.conns.get_mut(&conn) else {
                late.forget(conn);
                continue;
            };
            let info = t.conn.info();
            let named = info
                .client_random
                .as_deref()
                .and_then(client_random_of)
                .is_some_and(|cr| randoms.contains(&cr));
            if !named || settled(&info.decryption) || t.plain != [0; 2] {
                continue;
            }
            let Some(held) = late.take(conn) else {
                continue;
            };
            let before = t.conn.held();
            replay(
                t,
                &held,
                self.config,
                &self.keys,
                &mut self.stats,
                conn,
                out,
            );
            self.held = self
                .held
                .saturating_sub(before)
                .saturating_add(t.conn.held());
            if t.plain != [0; 2] {
                self.stats.late_decrypted = self.stats.late_decrypted.saturating_add(1);
            } else if !settled(&t.conn.info().decryption) {
                late.put_back(conn, held);
            }
        }
    }

    /// Key log text of the input (key log files), in whole lines: for every capture.
    pub fn add_key_text(&mut self, text: &[u8]) {
        self.keys.add_text(text);
    }

    /// Key log text of the capture being read (its pcapng Decryption Secrets Blocks): its
    /// own, forgotten when it ends ([`TlsStreams::end_capture`]), as everything else of it.
    pub fn add_capture_key_text(&mut self, text: &[u8]) {
        if self.before_capture.is_none() {
            self.before_capture = Some(self.keys.clone());
        }
        self.keys.add_text(text);
    }

    /// The capture being read ended: its own keys go.
    pub fn end_capture(&mut self) {
        if let Some(keys) = self.before_capture.take() {
            self.keys = keys;
        }
    }

    pub fn key_stats(&self) -> KeyLogStats {
        self.keys.stats()
    }

    pub fn stats(&self) -> TlsStats {
        TlsStats {
            key_wait_cap_hits: self.late.as_ref().map_or(0, |l| l.cap_hits),
            ..self.stats
        }
    }

    /// TLS connections open.
    pub fn open(&self) -> usize {
        self.conns.len()
    }

    pub fn push(&mut self, ev: &StreamEvent<'_>, out: &mut dyn FnMut(Passed<'_>)) {
        // No TLS connection open: every event passes (the common case stays a compare).
        let none = self.conns.is_empty();
        match *ev {
            StreamEvent::Data {
                conn,
                dir,
                ts,
                frame,
                offset,
                bytes,
            } if !none || (dir == Dir::ToServer && offset == 0) => {
                // Only the first bytes a client sends say whether it speaks TLS: nothing else
                // is looked at on a connection in clear.
                if dir == Dir::ToServer && offset == 0 && looks_like_tls(bytes) {
                    self.stats.connections = self.stats.connections.saturating_add(1);
                    let old = self.conns.insert(
                        conn,
                        Box::new(Tls {
                            conn: TlsConn::new(self.config),
                            plain: [0; 2],
                        }),
                    );
                    if let Some(old) = old {
                        self.held = self.held.saturating_sub(old.conn.held());
                    }
                    if let Some(late) = self.late.as_mut() {
                        late.start(conn, ts);
                    }
                }
                if let Some(t) = self.conns.get_mut(&conn) {
                    let before = t.conn.held();
                    t.conn.swap_scratch(&mut self.scratch);
                    data(
                        t,
                        &self.keys,
                        &mut self.stats,
                        conn,
                        (dir, frame, ts),
                        bytes,
                        out,
                    );
                    t.conn.swap_scratch(&mut self.scratch);
                    self.held = self
                        .held
                        .saturating_sub(before)
                        .saturating_add(t.conn.held());
                    if self.held > self.config.max_buffered_total {
                        // The connection that grew lets go of what it holds, so that a flood
                        // of connections each with a partial record cannot grow memory.
                        let held = t.conn.held();
                        let plain = &mut t.plain;
                        let budget = self.config.max_buffered_total;
                        t.conn.over_budget(dir, budget, ts, &mut |e| {
                            tls_event(conn, plain, e, out);
                        });
                        self.held = self.held.saturating_sub(held).saturating_add(t.conn.held());
                        self.stats.budget_hits = self.stats.budget_hits.saturating_add(1);
                    }
                    let held = u64::try_from(self.held).unwrap_or(u64::MAX);
                    self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(held);
                    if let Some(late) = self.late.as_mut().filter(|l| l.holds(conn)) {
                        if t.plain == [0; 2] && !settled(&t.conn.info().decryption) {
                            late.keep(conn, dir, frame, ts, bytes);
                        } else {
                            late.forget(conn);
                        }
                    }
                    return;
                }
            }
            StreamEvent::Gap {
                conn, dir, ts, len, ..
            } if !none => {
                if let Some(t) = self.conns.get_mut(&conn) {
                    if let Some(late) = self.late.as_mut() {
                        late.forget(conn);
                    }
                    let before = t.conn.held();
                    let plain = &mut t.plain;
                    t.conn.gap_at(dir, ts, len, &mut |e| {
                        tls_event(conn, plain, e, out);
                    });
                    self.held = self
                        .held
                        .saturating_sub(before)
                        .saturating_add(t.conn.held());
                    return;
                }
            }
            StreamEvent::Closed { conn, .. } if !none => {
                if let Some(late) = self.late.as_mut() {
                    late.forget(conn);
                }
                if let Some(t) = self.conns.remove(&conn) {
                    self.held = self.held.saturating_sub(t.conn.held());
                    if t.plain.iter().any(|&n| n > 0) {
                        self.stats.decrypted = self.stats.decrypted.saturating_add(1);
                    }
                    out(Passed::Ended {
                        conn,
                        info: Box::new(t.conn.into_info()),
                    });
                }
            }
            _ => {}
        }
        out(Passed::Stream(*ev));
    }
}

/// Ciphertext of a TLS connection: records read, plaintext handed on, and the facts when
/// they changed.
fn data(
    t: &mut Tls,
    keys: &KeyLog,
    stats: &mut TlsStats,
    conn: ConnId,
    (dir, frame, ts): (Dir, u64, Timestamp),
    bytes: &[u8],
    out: &mut dyn FnMut(Passed<'_>),
) {
    let mut changed = None;
    let plain = &mut t.plain;
    let before = plain.iter().sum::<u64>();
    t.conn.data(dir, frame, ts, bytes, keys, &mut |e| {
        if let TlsEvent::Handshake { frame, ts } = e {
            changed = Some((frame, ts));
        }
        tls_event(conn, plain, e, out);
    });
    let after = t.plain.iter().sum::<u64>();
    stats.plaintext_bytes = stats
        .plaintext_bytes
        .saturating_add(after.saturating_sub(before));
    if let Some((frame, ts)) = changed {
        out(Passed::Facts {
            conn,
            frame,
            ts,
            info: t.conn.info(),
        });
    }
}

/// A state of decryption that keys coming later may change: none were found yet.
fn waits(d: &Decryption) -> bool {
    matches!(
        d,
        Decryption::NoKeys | Decryption::NoKeyForClientRandom | Decryption::MissingSecret { .. }
    )
}

/// A state of decryption that no key coming later changes: failed, or not possible. A
/// connection whose handshake decrypted still waits until its application data does: a TLS
/// 1.3 client writes its traffic secrets after its handshake secrets, and the capture may read
/// the records in between.
fn settled(d: &Decryption) -> bool {
    !waits(d) && !matches!(d, Decryption::NothingEncrypted | Decryption::Decrypted)
}

/// Reads a waiting connection again from its first byte with the keys now known: the
/// plaintext, and the alerts that only decryption shows (those read in clear were handed
/// on already), go to `out`, each segment's after the facts its handshake messages changed
/// (the HTTP exchanges read next are judged with the certificate a TLS 1.3 handshake
/// decrypted).
fn replay(
    t: &mut Tls,
    held: &super::late::Held,
    config: TlsConfig,
    keys: &KeyLog,
    stats: &mut TlsStats,
    conn: ConnId,
    out: &mut dyn FnMut(Passed<'_>),
) {
    let seen = |dir: Dir| {
        let by = super::Sender::from(dir);
        t.conn.info().alerts.iter().filter(|a| a.by == by).count()
    };
    let mut skip = [seen(Dir::ToServer), seen(Dir::ToClient)];
    let mut fresh = TlsConn::new(config);
    let plain = &mut t.plain;
    let before = plain.iter().sum::<u64>();
    // What a segment gives after its handshake messages changed the facts waits for them.
    let mut after_facts: Vec<Owned> = Vec::new();
    for (seg, bytes) in held.segments() {
        let mut changed = false;
        fresh.data(seg.dir, seg.frame, seg.ts, bytes, keys, &mut |e| match e {
            TlsEvent::Handshake { .. } => changed = true,
            TlsEvent::Alert { dir, .. } if skip.get(index(dir)).is_some_and(|&n| n > 0) => {
                if let Some(n) = skip.get_mut(index(dir)) {
                    *n = n.saturating_sub(1);
                }
            }
            e if changed => after_facts.push(Owned::of(e)),
            e => tls_event(conn, plain, e, out),
        });
        if changed {
            out(Passed::Facts {
                conn,
                frame: seg.frame,
                ts: seg.ts,
                info: fresh.info(),
            });
        }
        for e in after_facts.drain(..) {
            tls_event(conn, plain, e.as_event(), out);
        }
    }
    t.conn = fresh;
    let after = t.plain.iter().sum::<u64>();
    stats.plaintext_bytes = stats
        .plaintext_bytes
        .saturating_add(after.saturating_sub(before));
}

/// A [`TlsEvent`] kept past the call that gave it.
enum Owned {
    Plaintext {
        dir: Dir,
        frame: u64,
        ts: Timestamp,
        bytes: Vec<u8>,
    },
    Other(TlsEvent<'static>),
}

impl Owned {
    fn of(e: TlsEvent<'_>) -> Owned {
        match e {
            TlsEvent::Plaintext {
                dir,
                frame,
                ts,
                bytes,
            } => Owned::Plaintext {
                dir,
                frame,
                ts,
                bytes: bytes.to_vec(),
            },
            TlsEvent::PlaintextGap { dir, ts } => Owned::Other(TlsEvent::PlaintextGap { dir, ts }),
            TlsEvent::Alert {
                dir,
                frame,
                ts,
                level,
                description,
            } => Owned::Other(TlsEvent::Alert {
                dir,
                frame,
                ts,
                level,
                description,
            }),
            TlsEvent::Handshake { frame, ts } => Owned::Other(TlsEvent::Handshake { frame, ts }),
        }
    }

    fn as_event(&self) -> TlsEvent<'_> {
        match self {
            Owned::Plaintext {
                dir,
                frame,
                ts,
                bytes,
            } => TlsEvent::Plaintext {
                dir: *dir,
                frame: *frame,
                ts: *ts,
                bytes,
            },
            Owned::Other(e) => *e,
        }
    }
}

fn tls_event(conn: ConnId, plain: &mut [u64; 2], e: TlsEvent<'_>, out: &mut dyn FnMut(Passed<'_>)) {
    match e {
        TlsEvent::Plaintext {
            dir,
            frame,
            ts,
            bytes,
        } => {
            let Some(at) = plain.get_mut(index(dir)) else {
                return;
            };
            let offset = *at;
            *at = at.saturating_add(bytes.len() as u64);
            out(Passed::Stream(StreamEvent::Data {
                conn,
                dir,
                ts,
                frame,
                offset,
                bytes,
            }));
        }
        TlsEvent::PlaintextGap { dir, ts } => {
            let offset = plain.get(index(dir)).copied().unwrap_or_default();
            // How much plaintext was lost is not known: the HTTP stage resynchronises on the
            // next message head whatever the length.
            out(Passed::Stream(StreamEvent::Gap {
                conn,
                dir,
                ts,
                offset,
                len: 1,
            }));
        }
        TlsEvent::Alert {
            dir,
            frame,
            ts,
            level,
            description,
        } => out(Passed::Alert {
            conn,
            dir,
            frame,
            ts,
            level,
            description,
        }),
        TlsEvent::Handshake { .. } => {}
    }
}
