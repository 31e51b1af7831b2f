//! One TLS connection: the records of both directions, the handshake's facts, and the
//! record protection of each direction as the handshake switches it on.
//!
//! The switches (each direction on its own):
//! - TLS 1.0 to 1.2: a direction's records are protected from the record after its
//!   ChangeCipherSpec (RFC 5246 7.1), with keys from the master secret; the sequence number
//!   starts at 0 there.
//! - TLS 1.3: after the ServerHello, every application_data record is protected (RFC 8446
//!   5): with the handshake traffic secret of its sender, then from the record after the
//!   sender's Finished with its application traffic secret, and after each KeyUpdate with
//!   the next one (7.2). ChangeCipherSpec records are only for middleboxes (D.4).

use crate::capture::Timestamp;
use crate::tcp::Dir;

use super::cipher::{KeyBlock, RecordCipher};
use super::hello::{self, msg};
use super::keylog::{KeyLog, Label};
use super::record::{self, Framer, Step};
use super::{
    alert_level_name, alert_name, cert, cipher_suite_name, hex, version_name, AlertInfo,
    Decryption, PerDir, TlsConfig, TlsEvent, TlsInfo,
};

/// Content types (RFC 8446 5.1, RFC 6520).
mod content {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
}

/// A record's body: borrowed from the input, or gathered in the framer's buffer (and then
/// decrypted where it is).
enum Body<'a> {
    Shared(&'a [u8]),
    Own(&'a mut [u8]),
}

impl Body<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Shared(b) => b,
            Body::Own(b) => b,
        }
    }

    /// The record header and the body after it.
    fn split_header(self) -> Option<([u8; record::RECORD_HEADER], Self)> {
        match self {
            Body::Shared(b) => {
                let (h, rest) = b.split_at_checked(record::RECORD_HEADER)?;
                Some((h.try_into().ok()?, Body::Shared(rest)))
            }
            Body::Own(b) => {
                let (h, rest) = b.split_at_mut_checked(record::RECORD_HEADER)?;
                Some(((&*h).try_into().ok()?, Body::Own(rest)))
            }
        }
    }
}

/// What a message of the record being read asks for once the record is done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum After {
    #[default]
    Nothing,
    /// TLS 1.3 Finished: the sender's application traffic secret from the next record.
    Application,
    /// TLS 1.3 KeyUpdate: the sender's next traffic secret from the next record.
    KeyUpdate,
}

/// One direction.
#[derive(Debug, Default)]
struct Side {
    records: Framer,
    handshake: Framer,
    /// TLS 1.0 to 1.2: the sender's ChangeCipherSpec was read.
    encrypted: bool,
    cipher: Option<RecordCipher>,
    /// A record did not open: nothing more of this direction is tried.
    failed: bool,
    after: After,
    /// The record stream is lost: nothing more is read.
    stopped: bool,
    /// Plaintext was handed on (a later loss is a `PlaintextGap`).
    plaintext: bool,
    /// A record was opened (before that, a TLS 1.3 client's failures may be early data).
    opened: bool,
    ts: Timestamp,
}

/// What the handshake settled that the keys need.
#[derive(Debug, Default)]
struct Session {
    client_random: Option<[u8; 32]>,
    server_random: Option<[u8; 32]>,
    client_session_id: Vec<u8>,
    version: Option<u16>,
    suite: Option<u16>,
    etm: bool,
    early_data: bool,
    /// A ServerHello (not a HelloRetryRequest) was read.
    server_hello: bool,
    /// The server sent a Certificate, ServerKeyExchange or ServerHelloDone after its hello:
    /// a full handshake, not a resumed one (RFC 5246 7.3).
    full_handshake: bool,
    /// TLS 1.0 to 1.2: the key block, made at the first ChangeCipherSpec for both
    /// directions; a new ServerHello (renegotiation) drops it.
    key_block: Option<KeyBlock>,
}

impl Session {
    fn tls13(&self) -> bool {
        self.server_hello && self.version == Some(0x0304)
    }
}

/// One TLS connection (one per TCP connection).
pub struct TlsConn {
    config: TlsConfig,
    info: TlsInfo,
    sides: PerDir<Side>,
    session: Session,
    /// The plaintext of the record being read.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Where the events of one call go, with the frame and time they are of.
struct Out<'o> {
    frame: u64,
    ts: Timestamp,
    sink: &'o mut dyn FnMut(TlsEvent<'_>),
}

impl TlsConn {
    pub fn new(config: TlsConfig) -> TlsConn {
        TlsConn {
            config,
            info: TlsInfo::default(),
            sides: PerDir::default(),
            session: Session::default(),
            scratch: Vec::new(),
        }
    }

    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    pub fn into_info(self) -> TlsInfo {
        self.info
    }

    /// In-order bytes of one direction (ciphertext and all), with the frame and time of the
    /// segment they came in.
    pub fn data(
        &mut self,
        dir: Dir,
        frame: u64,
        ts: Timestamp,
        bytes: &[u8],
        keys: &KeyLog,
        out: &mut dyn FnMut(TlsEvent<'_>),
    ) {
        let side = self.sides.get_mut(dir);
        side.ts = ts;
        if side.stopped {
            return;
        }
        let mut framer = std::mem::take(&mut side.records);
        let cap = self.config.max_record_bytes;
        let mut pos = 0usize;
        loop {
            let rest = bytes.get(pos..).unwrap_or(&[]);
            let (used, step) = framer.next(rest, record::RECORD_HEADER, record::record_len, cap);
            pos = pos.saturating_add(used);
            let unit = match step {
                Step::Whole => Body::Shared(rest.get(..used).unwrap_or(&[])),
                Step::Buffered => Body::Own(framer.unit_mut()),
                Step::NeedMore => break,
                Step::Bad(why) => {
                    self.note_malformed(dir, &why);
                    self.lose(dir, format!("malformed record: {why}"), &mut *out);
                    return;
                }
                Step::TooBig { total, .. } => {
                    let l = &mut self.info.limits.record_cap_hits;
                    *l = l.saturating_add(1);
                    let why = format!("a record of {total} bytes, past the cap of {cap}");
                    self.lose(dir, why, &mut *out);
                    return;
                }
            };
            let Some(([ctype, major, minor, _, _], body)) = unit.split_header() else {
                break;
            };
            let version = u16::from_be_bytes([major, minor]);
            let mut o = Out {
                frame,
                ts,
                sink: &mut *out,
            };
            self.record(dir, ctype, version, body, keys, &mut o);
            if self.sides.get(dir).stopped {
                return;
            }
        }
        framer.settle();
        self.sides.get_mut(dir).records = framer;
    }

    /// The bytes this connection's buffers take (records and handshake messages being
    /// gathered, and the plaintext buffer), for the stage's budget.
    pub fn held(&self) -> usize {
        let side = |s: &Side| s.records.held().saturating_add(s.handshake.held());
        side(&self.sides.to_server)
            .saturating_add(side(&self.sides.to_client))
            .saturating_add(self.scratch.capacity())
    }

    /// Stops reading `dir` because the stage holds more than its budget: what it buffers is
    /// let go.
    pub fn over_budget(
        &mut self,
        dir: Dir,
        budget: usize,
        ts: Timestamp,
        out: &mut dyn FnMut(TlsEvent<'_>),
    ) {
        if self.sides.get(dir).stopped {
            return;
        }
        self.sides.get_mut(dir).ts = ts;
        let why = format!("the TLS stage's buffers over their budget of {budget} bytes");
        self.lose(dir, why, out);
        self.scratch = Vec::new();
    }

    /// Swaps in a plaintext buffer: the stage lends one to each connection in turn, so that
    /// they do not each keep their own.
    pub fn swap_scratch(&mut self, scratch: &mut Vec<u8>) {
        std::mem::swap(&mut self.scratch, scratch);
    }

    /// Bytes of `dir` that will never come (a TCP gap): its record stream is lost.
    pub fn gap(&mut self, dir: Dir, len: u64, out: &mut dyn FnMut(TlsEvent<'_>)) {
        let ts = self.sides.get(dir).ts;
        self.gap_at(dir, ts, len, out);
    }

    /// [`TlsConn::gap`] at the time of the gap event.
    pub fn gap_at(&mut self, dir: Dir, ts: Timestamp, len: u64, out: &mut dyn FnMut(TlsEvent<'_>)) {
        if len == 0 || self.sides.get(dir).stopped {
            return;
        }
        self.sides.get_mut(dir).ts = ts;
        self.lose(dir, format!("a TCP gap of {len} bytes"), out);
    }

    /// Whether the record stream of `dir` is lost.
    pub fn is_lost(&self, dir: Dir) -> bool {
        self.sides.get(dir).stopped
    }

    /// Stops reading `dir` for `why`; plaintext consumers get a gap.
    fn lose(&mut self, dir: Dir, why: String, out: &mut dyn FnMut(TlsEvent<'_>)) {
        let side = self.sides.get_mut(dir);
        side.stopped = true;
        side.records = Framer::default();
        side.handshake = Framer::default();
        side.cipher = None;
        let ts = side.ts;
        let plaintext = side.plaintext;
        let lost = self.info.lost.get_mut(dir);
        if lost.is_none() {
            *lost = Some(why);
        }
        if plaintext {
            out(TlsEvent::PlaintextGap { dir, ts });
        }
    }

    fn note_malformed(&mut self, dir: Dir, why: &str) {
        if self.info.malformed.is_none() {
            let by = match dir {
                Dir::ToServer => "client",
                Dir::ToClient => "server",
            };
            self.info.malformed = Some(format!("{by}: {why}"));
        }
    }

    fn changed(&mut self, o: &mut Out<'_>) {
        (o.sink)(TlsEvent::Handshake {
            frame: o.frame,
            ts: o.ts,
        });
    }

    /// Keeps the worse state of decryption (a failure over a missing key over success) and
    /// says so when it changed.
    fn decryption(&mut self, state: Decryption, o: &mut Out<'_>) {
        if state.rank() > self.info.decryption.rank() {
            self.info.decryption = state;
            self.changed(o);
        }
    }

    /// One record.
    fn record(
        &mut self,
        dir: Dir,
        ctype: u8,
        version: u16,
        body: Body<'_>,
        keys: &KeyLog,
        o: &mut Out<'_>,
    ) {
        let r = self.info.records.get_mut(dir);
        *r = r.saturating_add(1);
        // Application data is never in clear; in TLS 1.3 only it is protected.
        let protected = if self.session.tls13() {
            ctype == content::APPLICATION_DATA
        } else {
            self.sides.get(dir).encrypted || ctype == content::APPLICATION_DATA
        };
        if !protected {
            self.content(dir, ctype, body.bytes(), false, keys, o);
            return;
        }
        self.protected(dir, ctype, version, body, keys, o);
    }

    /// A protected record: opened with the direction's cipher, when there is one; in place
    /// when the record was gathered, else in the plaintext buffer.
    fn protected(
        &mut self,
        dir: Dir,
        ctype: u8,
        version: u16,
        body: Body<'_>,
        keys: &KeyLog,
        o: &mut Out<'_>,
    ) {
        let early = dir == Dir::ToServer
            && self.session.early_data
            && !self.sides.get(dir).opened
            && (!self.session.server_hello || self.session.tls13());
        let side = self.sides.get_mut(dir);
        let Some(cipher) = side.cipher.as_mut().filter(|_| !side.failed) else {
            let u = self.info.undecrypted_records.get_mut(dir);
            *u = u.saturating_add(1);
            // Before the ServerHello (early data, or the capture's order), the hellos decide.
            let unexplained = self.info.decryption == Decryption::NothingEncrypted
                && (self.session.server_hello || self.session.client_random.is_none());
            if !side.failed && !early && unexplained {
                // Nothing said yet why this is not decrypted: picked up mid-stream.
                let why = if keys.is_empty() {
                    Decryption::NoKeys
                } else {
                    Decryption::NoHello
                };
                self.decryption(why, o);
            }
            return;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let body: &mut [u8] = match body {
            Body::Own(b) => b,
            Body::Shared(b) => {
                scratch.clear();
                scratch.extend_from_slice(b);
                &mut scratch
            }
        };
        match cipher.open(ctype, version, body) {
            Ok(opened) => {
                side.opened = true;
                self.decryption(Decryption::Decrypted, o);
                let plain = opened.plaintext(body);
                self.content(dir, opened.ctype, plain, true, keys, o);
                self.after_record(dir, keys, o);
            }
            Err(_) if early => {
                // TLS 1.3 early data (RFC 8446 4.2.10), under the early traffic secret, which
                // is not used here: passed over until the client's first handshake record.
                let u = self.info.undecrypted_records.get_mut(dir);
                *u = u.saturating_add(1);
            }
            Err(failure) => {
                side.failed = true;
                side.cipher = None;
                let u = self.info.undecrypted_records.get_mut(dir);
                *u = u.saturating_add(1);
                let reason = failure.reason().to_owned();
                self.decryption(Decryption::Failed { dir, reason }, o);
            }
        }
        scratch.clear();
        self.scratch = scratch;
    }

    /// What a message of the record just read asked for (TLS 1.3).
    fn after_record(&mut self, dir: Dir, keys: &KeyLog, o: &mut Out<'_>) {
        let side = self.sides.get_mut(dir);
        match std::mem::take(&mut side.after) {
            After::Nothing => {}
            After::Application => {
                let label = match dir {
                    Dir::ToServer => Label::ClientTraffic0,
                    Dir::ToClient => Label::ServerTraffic0,
                };
                let cipher = self.tls13_cipher(dir, label, keys, o);
                self.sides.get_mut(dir).cipher = cipher;
            }
            After::KeyUpdate => {
                if let Some(c) = side.cipher.as_mut() {
                    if !c.key_update() {
                        side.cipher = None;
                        side.failed = true;
                        let reason = "KeyUpdate: the next secret could not be derived".to_owned();
                        self.decryption(Decryption::Failed { dir, reason }, o);
                    }
                }
            }
        }
    }

    /// The content of a record, in clear or decrypted.
    fn content(
        &mut self,
        dir: Dir,
        ctype: u8,
        bytes: &[u8],
        decrypted: bool,
        keys: &KeyLog,
        o: &mut Out<'_>,
    ) {
        match ctype {
            content::CHANGE_CIPHER_SPEC => self.change_cipher_spec(dir, keys, o),
            content::ALERT => self.alerts(dir, bytes, decrypted, o),
            content::HANDSHAKE => self.handshake_bytes(dir, bytes, keys, o),
            content::APPLICATION_DATA if decrypted => {
                if bytes.is_empty() {
                    return;
                }
                let p = self.info.plaintext_bytes.get_mut(dir);
                *p = p.saturating_add(bytes.len() as u64);
                self.sides.get_mut(dir).plaintext = true;
                (o.sink)(TlsEvent::Plaintext {
                    dir,
                    frame: o.frame,
                    ts: o.ts,
                    bytes,
                });
            }
            // Heartbeat (RFC 6520), and application data in clear, which TLS never sends.
            _ => {}
        }
    }

    /// ChangeCipherSpec: up to TLS 1.2, the sender's records are protected from the next one
    /// on (RFC 5246 7.1). In TLS 1.3, or before the ServerHello, it changes nothing.
    fn change_cipher_spec(&mut self, dir: Dir, keys: &KeyLog, o: &mut Out<'_>) {
        if !self.session.server_hello || self.session.tls13() {
            return;
        }
        if dir == Dir::ToClient && !self.session.full_handshake {
            // The server's ChangeCipherSpec right after its hello: an abbreviated handshake.
            self.info.resumed = true;
        }
        let cipher = self.tls12_cipher(dir, keys, o);
        let side = self.sides.get_mut(dir);
        side.encrypted = true;
        side.failed = false;
        side.cipher = cipher;
    }

    /// The cipher of `dir` from the key log's master secret (TLS 1.0 to 1.2).
    fn tls12_cipher(&mut self, dir: Dir, keys: &KeyLog, o: &mut Out<'_>) -> Option<RecordCipher> {
        let s = &self.session;
        let (Some(cr), Some(sr), Some(id), Some(version)) =
            (s.client_random, s.server_random, s.suite, s.version)
        else {
            self.decryption(Decryption::NoHello, o);
            return None;
        };
        let etm = s.etm;
        let suite = match super::suite::suite(id) {
            Ok(suite) if !suite.tls13 && version >= 0x0301 => suite,
            Ok(_) => {
                let reason = format!("{} with {}", cipher_suite_name(id), version_name(version));
                self.decryption(Decryption::Unsupported { reason }, o);
                return None;
            }
            Err(reason) => {
                self.decryption(Decryption::Unsupported { reason }, o);
                return None;
            }
        };
        let Some(master) = keys.master_secret(&cr) else {
            let why = if keys.is_empty() {
                Decryption::NoKeys
            } else if keys.has(&cr) {
                Decryption::MissingSecret {
                    label: "CLIENT_RANDOM".into(),
                }
            } else {
                Decryption::NoKeyForClientRandom
            };
            self.decryption(why, o);
            return None;
        };
        if self.session.key_block.is_none() {
            self.session.key_block = RecordCipher::key_block(&suite, version, master, &cr, &sr);
        }
        let server_writes = dir == Dir::ToClient;
        let cipher = self
            .session
            .key_block
            .as_ref()
            .and_then(|block| RecordCipher::tls12(&suite, version, block, server_writes, etm));
        if cipher.is_none() {
            let reason = "the key block could not be cut into keys".to_owned();
            self.decryption(Decryption::Unsupported { reason }, o);
        }
        cipher
    }

    /// The cipher of `dir` from a TLS 1.3 traffic secret of the key log.
    fn tls13_cipher(
        &mut self,
        dir: Dir,
        label: Label,
        keys: &KeyLog,
        o: &mut Out<'_>,
    ) -> Option<RecordCipher> {
        let (Some(cr), Some(id)) = (self.session.client_random, self.session.suite) else {
            self.decryption(Decryption::NoHello, o);
            return None;
        };
        let suite = match super::suite::suite(id) {
            Ok(suite) if suite.tls13 => suite,
            Ok(_) => {
                let reason = format!("{} with TLS 1.3", cipher_suite_name(id));
                self.decryption(Decryption::Unsupported { reason }, o);
                return None;
            }
            Err(reason) => {
                self.decryption(Decryption::Unsupported { reason }, o);
                return None;
            }
        };
        let Some(secret) = keys.tls13_secret(&cr, label) else {
            let why = if keys.is_empty() {
                Decryption::NoKeys
            } else if keys.has(&cr) {
                Decryption::MissingSecret {
                    label: label.name().into(),
                }
            } else {
                Decryption::NoKeyForClientRandom
            };
            self.decryption(why, o);
            return None;
        };
        let cipher = RecordCipher::tls13(&suite, secret);
        if cipher.is_none() {
            let reason = format!(
                "the key log's {} is not of the suite's hash length",
                label.name()
            );
            self.decryption(Decryption::Failed { dir, reason }, o);
        }
        cipher
    }

    /// Alert messages: a level and a description each (RFC 8446 6).
    fn alerts(&mut self, dir: Dir, bytes: &[u8], decrypted: bool, o: &mut Out<'_>) {
        let mut pairs = bytes.chunks_exact(2);
        for pair in pairs.by_ref() {
            let [level, description] = *pair else {
                continue;
            };
            (o.sink)(TlsEvent::Alert {
                dir,
                frame: o.frame,
                ts: o.ts,
                level,
                description,
            });
            if self.info.alerts.len() < self.config.max_alerts {
                self.info.alerts.push(AlertInfo {
                    by: dir.into(),
                    level: alert_level_name(level),
                    description: alert_name(description),
                    level_code: level,
                    description_code: description,
                    encrypted: decrypted,
                    frame: o.frame,
                    ts: o.ts,
                });
            } else {
                let d = &mut self.info.limits.alerts_dropped;
                *d = d.saturating_add(1);
            }
        }
        if !pairs.remainder().is_empty() {
            self.note_malformed(dir, "an alert record of an odd length");
        }
    }

    /// Handshake bytes of one record: whole messages are read, a message's start is kept for
    /// the next record (RFC 8446 5.1: messages may span records).
    fn handshake_bytes(&mut self, dir: Dir, bytes: &[u8], keys: &KeyLog, o: &mut Out<'_>) {
        let mut framer = std::mem::take(&mut self.sides.get_mut(dir).handshake);
        let cap = self.config.max_handshake_bytes;
        let mut pos = 0usize;
        loop {
            let skipped = framer.pass_skipped(bytes.get(pos..).unwrap_or(&[]));
            pos = pos.saturating_add(skipped);
            let rest = bytes.get(pos..).unwrap_or(&[]);
            let (used, step) =
                framer.next(rest, record::HANDSHAKE_HEADER, record::handshake_len, cap);
            pos = pos.saturating_add(used);
            let unit = match step {
                Step::Whole => rest.get(..used).unwrap_or(&[]),
                Step::Buffered => framer.unit(),
                Step::NeedMore | Step::Bad(_) => break,
                Step::TooBig { total, have } => {
                    let l = &mut self.info.limits.handshake_cap_hits;
                    *l = l.saturating_add(1);
                    let kind = rest.first().copied().unwrap_or(0);
                    let why = format!("a handshake message (type {kind}) of {total} bytes, past the cap of {cap}: skipped");
                    self.note_malformed(dir, &why);
                    framer.skip_unit(total, have);
                    continue;
                }
            };
            if let ([typ, _, _, _], body) = unit.split_at(record::HANDSHAKE_HEADER.min(unit.len()))
            {
                self.message(dir, *typ, body, keys, o);
            }
        }
        framer.settle();
        self.sides.get_mut(dir).handshake = framer;
    }

    /// One handshake message.
    fn message(&mut self, dir: Dir, typ: u8, body: &[u8], keys: &KeyLog, o: &mut Out<'_>) {
        let tls13 = self.session.tls13();
        match (typ, dir) {
            (msg::CLIENT_HELLO, Dir::ToServer) => match hello::client_hello(body) {
                Ok(ch) => self.client_hello(ch, o),
                Err(why) => self.note_malformed(dir, &why),
            },
            (msg::SERVER_HELLO, Dir::ToClient) => match hello::server_hello(body) {
                Ok(sh) => self.server_hello(sh, keys, o),
                Err(why) => self.note_malformed(dir, &why),
            },
            (msg::ENCRYPTED_EXTENSIONS, Dir::ToClient) => match hello::encrypted_extensions(body) {
                Ok(alpn) => {
                    if alpn.is_some() {
                        self.info.alpn = alpn;
                        self.changed(o);
                    }
                }
                Err(why) => self.note_malformed(dir, &why),
            },
            (msg::CERTIFICATE, Dir::ToClient) => {
                self.session.full_handshake = true;
                let leaf = hello::certificates(body, tls13).and_then(|chain| match chain.first() {
                    Some(leaf) => cert::cert_info(leaf, chain.len()).map(Some),
                    None => Ok(None),
                });
                match leaf {
                    Ok(Some(info)) => {
                        self.info.certificate = Some(info);
                        self.changed(o);
                    }
                    Ok(None) => {}
                    Err(why) => self.note_malformed(dir, &why),
                }
            }
            // ServerKeyExchange, ServerHelloDone: a full handshake.
            (12 | 14, Dir::ToClient) => self.session.full_handshake = true,
            (msg::NEW_SESSION_TICKET, Dir::ToClient) => {
                self.info.session_tickets = self.info.session_tickets.saturating_add(1);
            }
            (msg::FINISHED, _) if tls13 => self.sides.get_mut(dir).after = After::Application,
            (msg::KEY_UPDATE, _) if tls13 => {
                let k = self.info.key_updates.get_mut(dir);
                *k = k.saturating_add(1);
                self.sides.get_mut(dir).after = After::KeyUpdate;
            }
            _ => {}
        }
    }

    fn client_hello(&mut self, ch: hello::ClientHello, o: &mut Out<'_>) {
        self.session.client_random = Some(ch.random);
        self.session.client_session_id = ch.session_id;
        self.session.early_data = ch.info.early_data;
        self.info.client_random = Some(hex(&ch.random));
        if self.info.hello_frame.is_none() {
            self.info.hello_frame = Some(o.frame);
            self.info.hello_ts = Some(o.ts);
        }
        if ch.sni.is_some() {
            self.info.sni = ch.sni;
        }
        self.info.alpn_offered = ch.alpn;
        self.info.client_hello = Some(ch.info);
        self.changed(o);
    }

    fn server_hello(&mut self, sh: hello::ServerHello, keys: &KeyLog, o: &mut Out<'_>) {
        self.info.cipher_suite_id = Some(sh.cipher_suite);
        self.info.cipher_suite = Some(cipher_suite_name(sh.cipher_suite));
        self.info.version = Some(version_name(sh.version));
        if sh.hello_retry {
            // RFC 8446 4.1.4: a second ClientHello follows, then the ServerHello.
            self.info.hello_retry = true;
            self.changed(o);
            return;
        }
        let offered = self.info.client_hello.clone().unwrap_or_default();
        self.session.server_random = Some(sh.random);
        self.session.key_block = None;
        self.session.version = Some(sh.version);
        self.session.suite = Some(sh.cipher_suite);
        self.session.server_hello = true;
        self.session.full_handshake = false;
        if sh.alpn.is_some() {
            self.info.alpn = sh.alpn;
        }
        self.info.extended_master_secret =
            sh.extended_master_secret && offered.extended_master_secret;
        self.info.encrypt_then_mac = sh.encrypt_then_mac && offered.encrypt_then_mac;
        self.session.etm = self.info.encrypt_then_mac;
        self.info.resumed = if self.session.tls13() {
            sh.pre_shared_key
        } else {
            !sh.session_id.is_empty() && sh.session_id == self.session.client_session_id
        };
        self.changed(o);
        if self.session.tls13() {
            let client = self.tls13_cipher(Dir::ToServer, Label::ClientHandshake, keys, o);
            self.sides.get_mut(Dir::ToServer).cipher = client;
            let server = self.tls13_cipher(Dir::ToClient, Label::ServerHandshake, keys, o);
            self.sides.get_mut(Dir::ToClient).cipher = server;
        }
    }
}
