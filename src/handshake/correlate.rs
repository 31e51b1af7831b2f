//! Joining legs into handshakes, on their connection and across connections.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use crate::map::Map as HashMap;
use std::net::{IpAddr, SocketAddr};

use super::leg::{Answer, Credential, Leg, SharedAuth};
use super::{
    ConnEvent, ConnEventKind, Failure, Handshake, Outcome, SchemeUsed, SharedChallenge, Side,
};
use crate::capture::Timestamp;
use crate::tcp::ConnId;

/// Options of the correlator.
#[derive(Debug, Clone, Copy)]
pub struct CorrelateConfig {
    /// A leg on another connection joins a handshake of the same client, server, Host and
    /// target if it comes within this time of the handshake's last leg.
    pub join_window_ns: i64,
    /// Legs kept per handshake; more are counted.
    pub max_legs: usize,
    /// TCP events kept per connection.
    pub max_conn_events: usize,
    /// Handshakes open at once; past it the oldest is finished early.
    pub max_open: usize,
    /// Handshakes open at once for one client address; past it that client's oldest is
    /// finished early, so one noisy client (a scanner, a flood) cannot push everyone else's
    /// handshakes out through `max_open`.
    pub max_open_per_client: usize,
    /// What open handshakes may hold in all, in bytes (about: [`Leg::approx_bytes`]); past it
    /// the oldest is finished early, so handshakes with many large legs cannot hold more than
    /// this however few they are.
    pub max_bytes: usize,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        CorrelateConfig {
            join_window_ns: 10_000_000_000,
            max_legs: 64,
            max_conn_events: 32,
            max_open: 10_000,
            max_open_per_client: 2_000,
            max_bytes: 64 << 20,
        }
    }
}

/// What the caps of the correlator did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CorrelateStats {
    /// Handshakes finished early because `max_open` were open.
    pub open_cap_hits: u64,
    /// Handshakes finished early because their client had `max_open_per_client` open.
    pub client_cap_hits: u64,
    /// Handshakes finished early because the open ones held `max_bytes`.
    pub bytes_cap_hits: u64,
    /// Legs past `max_legs` in a handshake, counted and not kept.
    pub legs_dropped: u64,
    /// TCP events past `max_conn_events` on a connection, counted and not kept.
    pub conn_events_dropped: u64,
    pub peak_open: u64,
}

/// Join keys indexed per handshake.
const MAX_KEYS: usize = 8;

#[derive(Debug)]
struct ConnInfo {
    client: SocketAddr,
    server: SocketAddr,
    events: Vec<ConnEvent>,
    dropped_events: u64,
    closed: bool,
    /// The handshake each kind of authentication (origin, proxy) is in on this connection.
    current: [Option<u64>; 2],
    /// Handshakes completed on this connection.
    completed: u32,
    /// Open handshakes with a leg on this connection.
    handshakes: Vec<u64>,
}

/// Where a handshake waits for a leg from another connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct JoinKey {
    client: IpAddr,
    server: SocketAddr,
    host: Option<String>,
    method: compact_str::CompactString,
    target: String,
    proxy: bool,
}

#[derive(Debug)]
struct Open {
    hs: Handshake,
    keys: Vec<JoinKey>,
    ntlm_ts: Vec<u64>,
    /// The NTLM server challenges it was given (8 bytes, MS-NLMP 2.2.1.2).
    challenges: Vec<u64>,
    last_activity: Timestamp,
    /// Its connections still open.
    open_conns: u32,
    /// What its legs hold, about ([`Leg::approx_bytes`]).
    bytes: usize,
}

/// Stage 6, incremental.
#[derive(Debug, Default)]
pub struct Correlator {
    cfg: CorrelateConfig,
    next_id: u64,
    /// Boxed, as in the TCP table: under a flood of connections the map's buckets stay small
    /// (churn at the connection cap leaves tombstones, and the map then doubles).
    conns: HashMap<ConnId, Box<ConnInfo>>,
    /// Boxed: a B-tree node holds eleven values, mostly part empty, and an open handshake is
    /// large.
    open: BTreeMap<u64, Box<Open>>,
    by_key: HashMap<JoinKey, u64>,
    by_ntlm_ts: HashMap<u64, u64>,
    /// Open handshakes by the NTLM server challenges they were given: the same challenge
    /// given to another client or by another server is a relay's mark.
    by_challenge: HashMap<u64, u64>,
    /// Handshakes whose connections have all closed, by the time after which nothing can
    /// join them (earliest first).
    closing: BinaryHeap<Reverse<(Timestamp, u64)>>,
    /// Handshakes finished and handed out.
    finished: u64,
    /// What the open handshakes hold, about (the sum of their `bytes`).
    held: usize,
    /// Open handshakes of each client, oldest first. Ids of handshakes finished since are
    /// dropped lazily (from the front, or by a compaction when a queue doubles its cap).
    by_client: HashMap<IpAddr, VecDeque<u64>>,
    stats: CorrelateStats,
}

impl Correlator {
    pub fn new(cfg: CorrelateConfig) -> Self {
        Correlator {
            cfg,
            ..Correlator::default()
        }
    }

    /// Handshakes not yet handed out.
    pub fn open_handshakes(&self) -> usize {
        self.open.len()
    }

    /// Handshakes handed out so far.
    pub fn finished(&self) -> u64 {
        self.finished
    }

    pub fn stats(&self) -> CorrelateStats {
        self.stats
    }

    /// The handshakes still open, for a live view.
    pub fn open_iter(&self) -> impl Iterator<Item = &Handshake> {
        self.open.values().map(|o| &o.hs)
    }

    pub fn conn_open(
        &mut self,
        conn: ConnId,
        client: SocketAddr,
        server: SocketAddr,
        ev: ConnEvent,
    ) {
        self.conns.insert(
            conn,
            Box::new(ConnInfo {
                client,
                server,
                events: vec![ev],
                dropped_events: 0,
                closed: false,
                current: [None, None],
                completed: 0,
                handshakes: Vec::new(),
            }),
        );
    }

    /// A FIN, RST or gap on a connection.
    pub fn conn_event(&mut self, ev: ConnEvent) {
        let max = self.cfg.max_conn_events;
        if let Some(c) = self.conns.get_mut(&ev.conn) {
            if c.events.len() < max {
                c.events.push(ev);
            } else {
                c.dropped_events = c.dropped_events.saturating_add(1);
                self.stats.conn_events_dropped = self.stats.conn_events_dropped.saturating_add(1);
            }
            for id in c.current.iter().flatten() {
                if let Some(o) = self.open.get_mut(id) {
                    o.last_activity = o.last_activity.max(ev.ts);
                }
            }
        }
    }

    /// The connection is gone: its events are copied into its handshakes.
    pub fn conn_closed(&mut self, conn: ConnId, now: Timestamp, sink: &mut dyn FnMut(Handshake)) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        for id in &c.handshakes {
            if let Some(o) = self.open.get_mut(id) {
                merge_events(&mut o.hs, &c.events);
                o.last_activity = o.last_activity.max(now);
                o.open_conns = o.open_conns.saturating_sub(1);
                if o.open_conns == 0 {
                    // A success waits for nothing; anything else waits the join window for
                    // the client to come back on another connection.
                    let deadline = if o.hs.outcome == Outcome::Success {
                        now
                    } else {
                        Timestamp(o.last_activity.0.saturating_add(self.cfg.join_window_ns))
                    };
                    self.closing.push(Reverse((deadline, *id)));
                }
            }
        }
        self.sweep(now, false, sink);
    }

    /// An HTTP exchange's leg, as [`leg_of`](super::leg_of) made it (an exchange that has
    /// anything to do with authentication). Returns the auth headers the leg decoded, for
    /// later stages to reuse.
    pub fn leg(&mut self, leg: Leg, sink: &mut dyn FnMut(Handshake)) -> SharedAuth {
        let shared = leg.shared_auth();
        self.add_leg(leg, sink);
        shared
    }

    fn add_leg(&mut self, leg: Leg, sink: &mut dyn FnMut(Handshake)) {
        let now = leg.ts();
        let Some(ci) = self.conns.get(&leg.conn) else {
            return;
        };
        let (client, server) = (ci.client, ci.server);
        let slot = usize::from(leg.proxy);
        let key = JoinKey {
            client: client.ip(),
            server,
            host: leg.request.as_ref().and_then(|r| r.host.clone()),
            method: leg
                .request
                .as_ref()
                .map(|r| r.method.clone())
                .unwrap_or_default(),
            target: leg
                .request
                .as_ref()
                .map(|r| r.uri.clone())
                .unwrap_or_default(),
            proxy: leg.proxy,
        };
        let id = self.choose(&leg, &key, now, slot);
        let id = match id {
            Some(id) => id,
            None => {
                if self.open.len() >= self.cfg.max_open {
                    if let Some((&oldest, _)) = self.open.iter().next() {
                        self.stats.open_cap_hits = self.stats.open_cap_hits.saturating_add(1);
                        self.finish_one(oldest, None, sink);
                    }
                }
                self.make_room_for(client.ip(), sink);
                let id = self.next_id;
                self.next_id = self.next_id.saturating_add(1);
                // The handshake this one replaces on the connection counts as completed.
                let earlier = self.conns.get(&leg.conn).map_or(0, |c| {
                    c.completed
                        .saturating_add(u32::from(c.get_current(slot).is_some()))
                });
                self.open
                    .insert(id, Box::new(Open::new(id, client, server, &leg, earlier)));
                self.by_client.entry(client.ip()).or_default().push_back(id);
                self.stats.peak_open = self.stats.peak_open.max(self.open.len() as u64);
                id
            }
        };
        let mut superseded = None;
        if let Some(ci) = self.conns.get_mut(&leg.conn) {
            if let Some(prev) = ci.current.get(slot).copied().flatten() {
                if prev != id {
                    ci.completed = ci.completed.saturating_add(1);
                    superseded = Some(prev);
                }
            }
            if let Some(cur) = ci.current.get_mut(slot) {
                *cur = Some(id);
            }
            if !ci.handshakes.contains(&id) {
                ci.handshakes.push(id);
                if let Some(o) = self.open.get_mut(&id) {
                    o.open_conns = o.open_conns.saturating_add(1);
                }
            }
        }
        // A handshake that another one replaced on its connection gets no more legs there.
        if let Some(prev) = superseded {
            self.release(prev, leg.conn);
        }
        let Some(o) = self.open.get_mut(&id) else {
            return;
        };
        if let Answer::NtlmChallenge {
            timestamp: Some(t), ..
        } = &leg.answer
        {
            self.by_ntlm_ts.insert(*t, id);
            push_one(&mut o.ntlm_ts, *t);
        }
        if let Answer::NtlmChallenge {
            server_challenge, ..
        } = &leg.answer
        {
            let key = u64::from_str_radix(server_challenge, 16).ok();
            if let Some(key) = key.filter(|_| o.challenges.len() < MAX_KEYS) {
                let frame = leg.response.as_ref().map_or(0, |r| r.frame);
                let here = (o.hs.client, o.hs.server, o.hs.legs.len(), frame);
                push_one(&mut o.challenges, key);
                let twin = self.by_challenge.insert(key, id);
                self.challenge_twins(id, twin, server_challenge, here, leg.conn);
            }
        }
        let Some(o) = self.open.get_mut(&id) else {
            return;
        };
        // Keys are kept (and indexed) up to a few per handshake, so the index cannot grow
        // with a long connection's requests.
        if !o.keys.contains(&key) && o.keys.len() < MAX_KEYS {
            push_one(&mut o.keys, key.clone());
            self.by_key.insert(key, id);
        } else if o.keys.contains(&key) {
            self.by_key.insert(key, id);
        }
        let dropped = o.hs.dropped_legs;
        let bytes = leg.approx_bytes();
        if !o.hs.client_ports.iter().any(|(c, _)| *c == leg.conn) {
            push_one(&mut o.hs.client_ports, (leg.conn, client.port()));
        }
        o.add(leg, self.cfg.max_legs);
        if o.hs.dropped_legs > dropped {
            self.stats.legs_dropped = self.stats.legs_dropped.saturating_add(1);
        } else {
            o.bytes = o.bytes.saturating_add(bytes);
            self.held = self.held.saturating_add(bytes);
        }
        o.last_activity = o.last_activity.max(now);
        self.keep_under_bytes(id, sink);
        self.sweep(now, false, sink);
    }

    /// Handshake `id` was just given `challenge`, which open handshake `twin` was given too:
    /// when the two are between other ends, each names the other (MS-NLMP 3.1.5.1.1: a
    /// server makes a fresh random challenge for every context, so only a relay passes one
    /// on).
    fn challenge_twins(
        &mut self,
        id: u64,
        twin: Option<u64>,
        challenge: &str,
        (client, server, leg, frame): (IpAddr, SocketAddr, usize, u64),
        conn: ConnId,
    ) {
        let Some(twin) = twin.filter(|t| *t != id) else {
            return;
        };
        let Some(other) = self.open.get_mut(&twin) else {
            return;
        };
        if other.hs.client == client && other.hs.server == server {
            return;
        }
        let (o_client, o_server) = (other.hs.client, other.hs.server);
        let o_at = other
            .hs
            .legs
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, l)| match &l.answer {
                Answer::NtlmChallenge {
                    server_challenge, ..
                } if server_challenge == challenge => {
                    Some((i, l.conn, l.response.as_ref().map_or(0, |r| r.frame)))
                }
                _ => None,
            });
        if let Some((o_leg, o_conn, o_frame)) = o_at {
            if other.hs.shared_challenges.len() < MAX_KEYS {
                other.hs.shared_challenges.push(SharedChallenge {
                    challenge: challenge.to_owned(),
                    leg: o_leg,
                    other: id,
                    other_client: client,
                    other_server: server,
                    other_conn: conn,
                    other_frame: frame,
                });
            }
            if let Some(me) = self.open.get_mut(&id) {
                if me.hs.shared_challenges.len() < MAX_KEYS {
                    me.hs.shared_challenges.push(SharedChallenge {
                        challenge: challenge.to_owned(),
                        leg,
                        other: twin,
                        other_client: o_client,
                        other_server: o_server,
                        other_conn: o_conn,
                        other_frame: o_frame,
                    });
                }
            }
        }
    }

    /// Keeps what the open handshakes hold under `max_bytes` by finishing the oldest, never
    /// `current` (the one just given a leg), which is left to its own legs' cap.
    fn keep_under_bytes(&mut self, current: u64, sink: &mut dyn FnMut(Handshake)) {
        while self.held > self.cfg.max_bytes {
            let oldest = self.open.keys().copied().find(|&id| id != current);
            let Some(oldest) = oldest else {
                return;
            };
            self.stats.bytes_cap_hits = self.stats.bytes_cap_hits.saturating_add(1);
            self.finish_one(oldest, None, sink);
        }
    }

    /// Keeps `client` under `max_open_per_client` open handshakes by finishing its oldest.
    fn make_room_for(&mut self, client: IpAddr, sink: &mut dyn FnMut(Handshake)) {
        let cap = self.cfg.max_open_per_client.max(1);
        let Some(q) = self.by_client.get_mut(&client) else {
            return;
        };
        let open = &self.open;
        while q.front().is_some_and(|id| !open.contains_key(id)) {
            q.pop_front();
        }
        if q.len() >= cap.saturating_mul(2) {
            q.retain(|id| open.contains_key(id));
        }
        if q.len() < cap {
            return;
        }
        if let Some(oldest) = q.pop_front() {
            self.stats.client_cap_hits = self.stats.client_cap_hits.saturating_add(1);
            self.finish_one(oldest, None, sink);
        }
    }

    /// Which open handshake a leg belongs to, if any.
    fn choose(&self, leg: &Leg, key: &JoinKey, now: Timestamp, slot: usize) -> Option<u64> {
        // 1. The handshake in progress on this connection.
        if let Some(id) = self.conns.get(&leg.conn).and_then(|c| c.get_current(slot)) {
            if let Some(o) = self.open.get(&id) {
                if o.continues(leg) {
                    return Some(id);
                }
            }
        }
        // 2. An NTLMv2 Type 3 names the Type 2 it answers by its timestamp (MS-NLMP 3.1.5.2.1).
        if let Credential::NtlmAuthenticate {
            echo_timestamp: Some(t),
            ..
        } = &leg.credential
        {
            if let Some(&id) = self.by_ntlm_ts.get(t) {
                if self.open.contains_key(&id) {
                    return Some(id);
                }
            }
        }
        // 3. The same client, server, Host and target again soon after an unfinished attempt
        // on another connection (the seed article: the client closes the connection, opens a
        // new one, and sends its credentials there).
        if let Some(&id) = self.by_key.get(key) {
            if let Some(o) = self.open.get(&id) {
                let recent = now.since(o.last_activity) <= self.cfg.join_window_ns;
                let elsewhere = !o.hs.connections.contains(&leg.conn);
                if recent && elsewhere && o.hs.outcome != Outcome::Success {
                    return Some(id);
                }
            }
        }
        None
    }

    /// `conn` moved on from handshake `id`: it counts as closed for it.
    fn release(&mut self, id: u64, conn: ConnId) {
        if let Some(ci) = self.conns.get_mut(&conn) {
            ci.handshakes.retain(|h| *h != id);
        }
        if let Some(o) = self.open.get_mut(&id) {
            o.open_conns = o.open_conns.saturating_sub(1);
            if o.open_conns == 0 {
                // Nothing will join it through this connection; after success, nothing will
                // join it at all.
                let deadline = if o.hs.outcome == Outcome::Success {
                    o.last_activity
                } else {
                    Timestamp(o.last_activity.0.saturating_add(self.cfg.join_window_ns))
                };
                self.closing.push(Reverse((deadline, id)));
            }
        }
    }

    /// Hands out handshakes that nothing can join any more: all their connections closed and
    /// quiet for the join window (or everything, at the end).
    pub fn sweep(&mut self, now: Timestamp, all: bool, sink: &mut dyn FnMut(Handshake)) {
        if all {
            let ids: Vec<u64> = self.open.keys().copied().collect();
            for id in ids {
                self.finish_one(id, Some(now), sink);
            }
            self.closing.clear();
            return;
        }
        while let Some(&Reverse((deadline, id))) = self.closing.peek() {
            if deadline > now {
                break;
            }
            self.closing.pop();
            let Some(o) = self.open.get(&id) else {
                continue;
            };
            if o.open_conns > 0 {
                // Joined again from another connection since; it will come back here.
                continue;
            }
            let ready = Timestamp(o.last_activity.0.saturating_add(self.cfg.join_window_ns));
            if ready > now && o.hs.outcome != Outcome::Success {
                self.closing.push(Reverse((ready, id)));
                continue;
            }
            self.finish_one(id, None, sink);
        }
    }

    /// End of input: everything still open is handed out.
    pub fn finish(&mut self, now: Timestamp, sink: &mut dyn FnMut(Handshake)) {
        self.sweep(now, true, sink);
    }

    /// The capture ended at `now`: every handshake is finished as at the end of input, and
    /// nothing of it is kept to join what comes next (the handshake numbers go on).
    pub fn end_input(&mut self, now: Timestamp, sink: &mut dyn FnMut(Handshake)) {
        self.finish(now, sink);
        *self = Correlator {
            cfg: self.cfg,
            next_id: self.next_id,
            finished: self.finished,
            stats: self.stats,
            ..Correlator::default()
        };
    }

    /// Hands out handshake `id`; `ended` is the end of the input when that is what finishes
    /// it.
    fn finish_one(&mut self, id: u64, ended: Option<Timestamp>, sink: &mut dyn FnMut(Handshake)) {
        let Some(mut o) = self.open.remove(&id) else {
            return;
        };
        self.held = self.held.saturating_sub(o.bytes);
        // Drops every finished id at the front, this one included: once a client's last
        // open handshake goes, its queue is empty and removed, so the map holds only clients
        // with handshakes open.
        if let Some(q) = self.by_client.get_mut(&o.hs.client) {
            let open = &self.open;
            while q.front().is_some_and(|f| !open.contains_key(f)) {
                q.pop_front();
            }
            if q.is_empty() {
                self.by_client.remove(&o.hs.client);
            }
        }
        for k in &o.keys {
            if self.by_key.get(k) == Some(&id) {
                self.by_key.remove(k);
            }
        }
        for t in &o.ntlm_ts {
            if self.by_ntlm_ts.get(t) == Some(&id) {
                self.by_ntlm_ts.remove(t);
            }
        }
        for c in &o.challenges {
            if self.by_challenge.get(c) == Some(&id) {
                self.by_challenge.remove(c);
            }
        }
        // Connections still open contribute what they have so far.
        for conn in o.hs.connections.clone() {
            if let Some(c) = self.conns.get(&conn) {
                let ev = c.events.clone();
                merge_events(&mut o.hs, &ev);
            }
        }
        let still_open =
            o.hs.connections
                .iter()
                .any(|c| self.conns.get(c).is_some_and(|ci| !ci.closed));
        // What the client did within the join window after the capture's end is not in it.
        let cut = ended.map(|end| (end, self.cfg.join_window_ns));
        settle(&mut o.hs, still_open, cut);
        o.hs.build_timeline();
        self.finished = self.finished.saturating_add(1);
        sink(o.hs);
    }
}

impl ConnInfo {
    fn get_current(&self, slot: usize) -> Option<u64> {
        self.current.get(slot).copied().flatten()
    }
}

fn merge_events(hs: &mut Handshake, events: &[ConnEvent]) {
    for e in events {
        if !hs.tcp.contains(e) {
            hs.tcp.push(*e);
        }
    }
    hs.tcp.sort_by_key(|e| (e.frame, e.ts));
}

impl Open {
    fn new(id: u64, client: SocketAddr, server: SocketAddr, leg: &Leg, earlier: u32) -> Open {
        let ts = leg.ts();
        Open {
            hs: Handshake {
                input: 0,
                id,
                client: client.ip(),
                client_socket: client,
                server,
                host: leg.request.as_ref().and_then(|r| r.host.clone()),
                method: leg
                    .request
                    .as_ref()
                    .map(|r| r.method.to_string())
                    .unwrap_or_default(),
                resource: leg
                    .request
                    .as_ref()
                    .map(|r| r.uri.clone())
                    .unwrap_or_default(),
                status: None,
                proxy: leg.proxy,
                scheme: SchemeUsed::None,
                offered: Vec::new(),
                user: None,
                domain: None,
                workstation: None,
                spn: None,
                realm: None,
                outcome: Outcome::InProgress,
                first: ts,
                last: ts,
                connections: Vec::new(),
                legs: Vec::new(),
                rounds: 0,
                reused_requests: 0,
                rechallenged: 0,
                dropped_legs: 0,
                earlier_on_connection: earlier,
                shared_challenges: Vec::new(),
                kdc: Vec::new(),
                tcp: Vec::new(),
                client_ports: Vec::new(),
                timeline: Vec::new(),
            },
            keys: Vec::new(),
            ntlm_ts: Vec::new(),
            challenges: Vec::new(),
            last_activity: ts,
            open_conns: 0,
            bytes: 0,
        }
    }

    /// Does this leg, on the handshake's own connection, belong to it? A handshake is one
    /// method and one resource: a step the server asked for (the answer to its challenge),
    /// the accepted credential sent again with a later request, and a later anonymous
    /// request challenged again join it whatever their request; anything else joins only a
    /// handshake of the same request.
    fn continues(&self, leg: &Leg) -> bool {
        if leg.credential != Credential::None && self.awaits_credential() {
            return true;
        }
        // Authenticated, then an anonymous request on the connection challenged again for
        // the scheme it used: the server keeps authentication for one request only; counted
        // on this handshake. A challenge for another scheme is another protection space (a
        // Basic realm after a Digest one), a login of its own.
        if self.hs.outcome == Outcome::Success
            && leg.credential == Credential::None
            && self.offers_own_scheme(&leg.answer)
        {
            return true;
        }
        if self.reuses_accepted(leg) {
            return true;
        }
        let same = leg.request.as_ref().is_none_or(|r| {
            r.method.as_str() == self.hs.method.as_str() && r.uri == self.hs.resource
        });
        same && !self.starts_anew(leg)
    }

    /// `answer` offers the scheme this handshake authenticated with.
    fn offers_own_scheme(&self, answer: &Answer) -> bool {
        let Answer::Offer { schemes } = answer else {
            return false;
        };
        let own: &[&str] = match &self.hs.scheme {
            SchemeUsed::Kerberos | SchemeUsed::NegotiateNtlm => &["negotiate", "kerberos"],
            SchemeUsed::Ntlm => &["ntlm", "negotiate"],
            SchemeUsed::Basic => &["basic"],
            SchemeUsed::Digest => &["digest"],
            SchemeUsed::Bearer => &["bearer"],
            SchemeUsed::None | SchemeUsed::Other(_) => return false,
        };
        schemes
            .iter()
            .any(|s| own.iter().any(|o| s.eq_ignore_ascii_case(o)))
    }

    /// The last leg was a challenge or a step that the client has yet to answer.
    fn awaits_credential(&self) -> bool {
        self.hs.legs.last().is_some_and(|l| {
            !l.credential.is_complete()
                && matches!(
                    l.answer,
                    Answer::Offer { .. } | Answer::NtlmChallenge { .. } | Answer::DigestStale
                )
        })
    }

    /// After success, the accepted credential sent again (Basic, Bearer and Digest go with
    /// every request) and taken again.
    fn reuses_accepted(&self, leg: &Leg) -> bool {
        self.hs.outcome == Outcome::Success
            && leg.answer.accepts()
            && leg.credential.is_complete()
            && self
                .hs
                .legs
                .iter()
                .rev()
                .find(|l| l.credential.is_complete() && l.answer.accepts())
                .is_some_and(|l| l.credential == leg.credential)
    }

    /// Does this leg, on the handshake's own connection, begin a new handshake instead?
    fn starts_anew(&self, leg: &Leg) -> bool {
        if self.hs.outcome != Outcome::Success {
            return false;
        }
        // After success, a new NTLM Type 1 or Kerberos AP-REQ is a new authentication
        // (per-request re-authentication); a refusal, or the accepted credential sent again,
        // belongs to this one.
        matches!(
            leg.credential,
            Credential::NtlmNegotiate { .. } | Credential::KerberosApReq { .. }
        ) || (matches!(
            leg.credential,
            Credential::Basic { .. } | Credential::Digest { .. }
        ) && self.identity_changed(leg))
    }

    fn identity_changed(&self, leg: &Leg) -> bool {
        let user = match &leg.credential {
            Credential::Basic { user } | Credential::Digest { user } => user,
            _ => return false,
        };
        self.hs.user.as_deref().is_some_and(|u| u != user)
    }

    fn add(&mut self, mut leg: Leg, max_legs: usize) {
        // A new round: the client starts over after a refusal or an unanswered challenge.
        let starts_round = matches!(
            leg.credential,
            Credential::None | Credential::NtlmNegotiate { .. }
        ) || (leg.credential.is_complete()
            && !self.in_round_awaiting_credential());
        let rechallenge = self.hs.outcome == Outcome::Success
            && leg.credential == Credential::None
            && matches!(leg.answer, Answer::Offer { .. });
        let new_round =
            self.hs.rounds == 0 || (starts_round && !rechallenge && self.previous_refused());
        let hs = &mut self.hs;
        let ts = leg.ts();
        hs.last = hs.last.max(leg.response.as_ref().map_or(ts, |r| r.ts));
        if !hs.connections.contains(&leg.conn) {
            push_one(&mut hs.connections, leg.conn);
        }
        // Identity and scheme, from what the client sent.
        match &leg.credential {
            Credential::NtlmNegotiate { negotiate } => {
                hs.scheme = ntlm_scheme(*negotiate);
            }
            Credential::NtlmAuthenticate {
                negotiate,
                user,
                domain,
                workstation,
                ..
            } => {
                hs.scheme = ntlm_scheme(*negotiate);
                hs.user = Some(user.clone());
                hs.domain = Some(domain.clone());
                hs.workstation = Some(workstation.clone());
            }
            Credential::KerberosApReq { spn, realm } => {
                hs.scheme = SchemeUsed::Kerberos;
                hs.spn = Some(spn.clone());
                hs.realm = Some(realm.clone());
            }
            Credential::Basic { user } => {
                hs.scheme = SchemeUsed::Basic;
                hs.user = Some(user.clone());
            }
            Credential::Digest { user } => {
                hs.scheme = SchemeUsed::Digest;
                hs.user = Some(user.clone());
            }
            Credential::Bearer => hs.scheme = SchemeUsed::Bearer,
            Credential::Other { scheme } | Credential::Malformed { scheme } => {
                if hs.scheme == SchemeUsed::None {
                    hs.scheme = SchemeUsed::Other(scheme.to_ascii_lowercase());
                }
            }
            Credential::NegotiateOther => {
                if hs.scheme == SchemeUsed::None {
                    hs.scheme = SchemeUsed::Other("negotiate".into());
                }
            }
            Credential::None => {}
        }
        if let Answer::Offer { schemes } = &leg.answer {
            for s in schemes {
                if !hs.offered.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                    hs.offered.push(s.clone());
                }
            }
        }
        if new_round {
            hs.rounds = hs.rounds.saturating_add(1);
        }
        leg.round = hs.rounds;
        // The accepted credential sent again on the same connection: counted, not kept.
        let repeat = hs.outcome == Outcome::Success
            && leg.answer.accepts()
            && hs
                .legs
                .last()
                .is_some_and(|l| l.credential == leg.credential);
        if !repeat && !rechallenge {
            if let Some(status) = leg.status() {
                hs.status = Some(status);
            }
        }
        if rechallenge {
            // Authenticated, then challenged again on the next request: the server keeps
            // authentication for one request only (AuthPersistSingleRequest, Kerberos without
            // authPersistNonNTLM); the handshake itself succeeded.
            hs.rechallenged = hs.rechallenged.saturating_add(1);
        } else {
            hs.outcome = next_outcome(hs.outcome, &leg, hs.legs.last());
        }
        if repeat {
            hs.reused_requests = hs.reused_requests.saturating_add(1);
        } else if hs.legs.len() < max_legs {
            // One slot at a time: most handshakes have one to four legs, and an open one is
            // held for the join window, so doubling's spare slots would be paid per handshake.
            hs.legs.reserve_exact(1);
            hs.legs.push(leg);
        } else {
            hs.dropped_legs = hs.dropped_legs.saturating_add(1);
        }
    }

    /// The last leg was a challenge the client has yet to answer with a credential.
    fn in_round_awaiting_credential(&self) -> bool {
        self.hs.legs.last().is_some_and(|l| {
            matches!(
                l.answer,
                Answer::Offer { .. } | Answer::NtlmChallenge { .. } | Answer::DigestStale
            ) && !l.credential.is_complete()
        })
    }

    /// The last leg ended its round without success.
    fn previous_refused(&self) -> bool {
        self.hs.legs.last().is_some_and(|l| {
            l.credential.is_complete() && !matches!(l.answer, Answer::Accepted { .. })
                || matches!(
                    l.answer,
                    Answer::NtlmChallenge { .. } | Answer::Offer { .. }
                ) && !l.credential.is_complete()
                    && l.credential != Credential::None
                || matches!(l.answer, Answer::NoChallenge | Answer::Missing)
        })
    }
}

/// Pushes with room for one more only: an open handshake's lists hold one item or a few, and
/// it is held for the join window, so doubling's spare slots would be paid per handshake.
fn push_one<T>(v: &mut Vec<T>, item: T) {
    v.reserve_exact(1);
    v.push(item);
}

fn ntlm_scheme(negotiate: bool) -> SchemeUsed {
    if negotiate {
        SchemeUsed::NegotiateNtlm
    } else {
        SchemeUsed::Ntlm
    }
}

/// The outcome after one more leg (RFC 9110 11.6: a 401/407 to a credential refuses it).
fn next_outcome(current: Outcome, leg: &Leg, prev: Option<&Leg>) -> Outcome {
    // A Type 3 refused on another connection than its Type 2: the context was lost with the
    // connection (IIS answers 401.2, "connection broken during authentication"), the password
    // was never checked.
    if let Credential::NtlmAuthenticate { .. } = leg.credential {
        if matches!(leg.status(), Some(401 | 407))
            && prev.is_some_and(|p| {
                matches!(p.answer, Answer::NtlmChallenge { .. }) && p.conn != leg.conn
            })
        {
            return Outcome::Failed(Failure::ConnectionClosed);
        }
    }
    if let Credential::NtlmNegotiate { .. } = leg.credential {
        // A SPNEGO reject of a wrapped Type 1 refuses NTLM, not a ticket (RFC 4178 4.2.2):
        // no Kerberos reached the server.
        if matches!(
            leg.answer,
            Answer::Offer { .. } | Answer::Refused | Answer::NegotiateReject
        ) {
            return Outcome::Failed(Failure::NegotiateRefused);
        }
    }
    if leg.token_too_large() {
        return Outcome::Failed(Failure::TokenTooLarge);
    }
    match &leg.answer {
        Answer::Accepted { .. } | Answer::RequestFailed { mutual: true, .. } => {
            if leg.credential != Credential::None || current == Outcome::Success {
                Outcome::Success
            } else {
                current
            }
        }
        // Any final answer but a 401/407 takes the credential (RFC 9110 11.6.1); what the
        // application then did with the request is the request's status, not the login's.
        Answer::RequestFailed { .. } if leg.credential.is_complete() => Outcome::Success,
        // A step before the credential (an NTLM Type 1, a token that did not decode)
        // answered with an error: the mechanism failed on the server.
        Answer::RequestFailed { .. } if leg.credential != Credential::None => {
            Outcome::Failed(Failure::Error)
        }
        Answer::NoChallenge => {
            if leg.credential.is_complete() {
                Outcome::Failed(Failure::LogonFailed)
            } else {
                Outcome::Failed(Failure::NoAuthMethod)
            }
        }
        Answer::KerberosError { .. } | Answer::NegotiateReject => {
            Outcome::Failed(Failure::KerberosRejected)
        }
        Answer::Offer { .. } | Answer::Refused if leg.credential.is_complete() => {
            if matches!(leg.credential, Credential::KerberosApReq { .. }) {
                Outcome::Failed(Failure::KerberosRejected)
            } else {
                Outcome::Failed(Failure::LogonFailed)
            }
        }
        Answer::Offer { .. }
        | Answer::Refused
        | Answer::NtlmChallenge { .. }
        | Answer::DigestStale => Outcome::InProgress,
        Answer::RequestFailed { .. } | Answer::Missing => current,
    }
}

/// The final outcome of a handshake that nothing more can join. `cut`: the input ended then,
/// and a client's next leg may come this long after the last.
fn settle(hs: &mut Handshake, still_open: bool, cut: Option<(Timestamp, i64)>) {
    if hs.outcome != Outcome::InProgress {
        return;
    }
    let Some(last) = hs.legs.last() else {
        return;
    };
    let conn = last.conn;
    let after = last.response.as_ref().map_or(last.ts(), |r| r.ts);
    let rst = hs
        .tcp
        .iter()
        .any(|e| e.conn == conn && matches!(e.kind, ConnEventKind::Rst { .. }) && e.ts >= after);
    let fin = hs
        .tcp
        .iter()
        .any(|e| e.conn == conn && matches!(e.kind, ConnEventKind::Fin { .. }));
    // The capture ended within the join window after the last answer, and the client had not
    // closed the connection (the server may have: the client then answers on a new one): its
    // next leg may be past the capture's end, so a challenge is not "unanswered". A client
    // that closed the connection first gave up on it, and stays judged so.
    let client_closed = hs
        .tcp
        .iter()
        .filter(|e| e.conn == conn && e.ts >= after)
        .find_map(|e| match e.kind {
            ConnEventKind::Fin { by } | ConnEventKind::Rst { by } => Some(by == Side::Client),
            _ => None,
        })
        .unwrap_or(false);
    let cut_short = !client_closed && cut.is_some_and(|(end, window)| end.since(after) < window);
    hs.outcome = match &last.answer {
        // Mid-handshake: the client owes the next leg.
        Answer::NtlmChallenge { .. } if rst => Outcome::Failed(Failure::ConnectionReset),
        Answer::NtlmChallenge { .. } if fin || last.closes() => {
            Outcome::Failed(Failure::ConnectionClosed)
        }
        Answer::Missing if rst => Outcome::Failed(Failure::ConnectionReset),
        Answer::Missing if fin => Outcome::Failed(Failure::ConnectionClosed),
        _ if still_open || cut_short => Outcome::InProgress,
        Answer::Offer { .. }
        | Answer::NtlmChallenge { .. }
        | Answer::DigestStale
        | Answer::Refused => Outcome::Abandoned,
        _ => Outcome::InProgress,
    };
}
