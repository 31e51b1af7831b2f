//! Stage 3b: TLS over the reassembled bytes of a TCP connection.
//!
//! One [`TlsConn`] per connection reads the records of each direction (RFC 8446 5.1,
//! RFC 5246 6.2), reassembles the handshake messages across records (RFC 8446 4, RFC 5246
//! 7.4), keeps the handshake's facts in a [`TlsInfo`] (hellos, the server's certificate,
//! alerts) and, when a [`KeyLog`] holds the connection's secrets, decrypts the records and
//! hands the plaintext on as [`TlsEvent::Plaintext`], in order, per direction: the same
//! stream of bytes `tcp` hands on for a connection in clear.
//!
//! Files: `record.rs` frames length-prefixed units (records, handshake messages);
//! `hello.rs` reads the handshake messages (tls-parser, and by hand where it cannot);
//! `cert.rs` the leaf certificate (x509-parser); `keylog.rs` the NSS key log; `suite.rs`,
//! `kdf.rs` and `cipher.rs` the keys and the record protection; `conn.rs` the state of one
//! connection. Key material never leaves this module: not in [`TlsInfo`], not in any
//! `Debug` output.
//!
//! Hostile bytes are read here: no indexing that can panic, no unchecked arithmetic.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
// Tests build records with arithmetic on known sizes; the non-test build still checks all of
// the stage (clippy --all-targets lints both).
#![cfg_attr(test, allow(clippy::arithmetic_side_effects))]

mod cert;
mod cipher;
mod conn;
mod hello;
mod kdf;
mod keylog;
mod late;
mod record;
mod streams;
mod suite;
#[cfg(test)]
mod tests;

use crate::capture::Timestamp;
use crate::tcp::Dir;

pub use cert::{certificate_binding, channel_binding};
pub use conn::TlsConn;
pub use keylog::{KeyLog, KeyLogStats, DEFAULT_MAX_CLIENT_RANDOMS};
pub use late::{MAX_HELD, MAX_HELD_PER_CONN, WAIT as KEY_WAIT};
pub use streams::{Passed, TlsStats, TlsStreams};

/// The largest record body (TLSCiphertext.length) allowed: 2^14 + 2048 (RFC 5246 6.2.3;
/// RFC 8446 5.2 allows 2^14 + 256). A longer one is malformed.
pub const MAX_RECORD_BODY: usize = (1 << 14) + 2048;

/// Caps of one connection's TLS state.
#[derive(Debug, Clone, Copy)]
pub struct TlsConfig {
    /// A handshake message longer than this (with its 4-byte header) is skipped, not
    /// buffered, and counted (`TlsInfo::limits.handshake_cap_hits`): a certificate chain is
    /// the longest message in practice, a few KB.
    pub max_handshake_bytes: usize,
    /// The longest record (with its 5-byte header) buffered while it arrives; a longer record
    /// stops the direction and is counted (`TlsInfo::limits.record_cap_hits`). At most
    /// 5 + [`MAX_RECORD_BODY`] is useful: a longer record is malformed anyway.
    pub max_record_bytes: usize,
    /// Alerts kept in [`TlsInfo::alerts`]; more are counted (`limits.alerts_dropped`).
    pub max_alerts: usize,
    /// What the stage's buffers (records and handshake messages being gathered) take over
    /// all its connections. The connection whose buffers grow the total past it stops
    /// reading that direction, says why in [`TlsInfo::lost`], and is counted
    /// ([`TlsStats::budget_hits`]): the total never passes it by more than one segment's
    /// growth. Without it, each connection's caps alone would let memory grow with the
    /// number of connections holding a partial record.
    pub max_buffered_total: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            max_handshake_bytes: 64 << 10,
            max_record_bytes: 5 + MAX_RECORD_BODY,
            max_alerts: 16,
            max_buffered_total: 16 << 20,
        }
    }
}

/// What a [`TlsConn`] hands on, in the order it reads it.
#[derive(Debug, Clone, Copy)]
pub enum TlsEvent<'a> {
    /// Decrypted application data of one direction, in order; `frame` is the frame that
    /// completed the record.
    Plaintext {
        dir: Dir,
        frame: u64,
        ts: Timestamp,
        bytes: &'a [u8],
    },
    /// The plaintext of `dir` lost bytes (how many is not known: ciphertext lengths do not
    /// give it) where the records of that direction were lost (a TCP gap); nothing more of
    /// that direction is decrypted.
    PlaintextGap { dir: Dir, ts: Timestamp },
    /// An alert, as soon as it is read (in clear or decrypted).
    Alert {
        dir: Dir,
        frame: u64,
        ts: Timestamp,
        level: u8,
        description: u8,
    },
    /// The handshake's facts changed (a hello, the certificate, the encrypted extensions, or
    /// the state of decryption): the consumer may read [`TlsConn::info`] again.
    Handshake { frame: u64, ts: Timestamp },
}

/// A value per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PerDir<T> {
    /// Sent by the client.
    pub to_server: T,
    /// Sent by the server.
    pub to_client: T,
}

impl<T> PerDir<T> {
    pub fn get(&self, dir: Dir) -> &T {
        match dir {
            Dir::ToServer => &self.to_server,
            Dir::ToClient => &self.to_client,
        }
    }
    pub fn get_mut(&mut self, dir: Dir) -> &mut T {
        match dir {
            Dir::ToServer => &mut self.to_server,
            Dir::ToClient => &mut self.to_client,
        }
    }
}

/// What is known of a TLS connection. No key material: the client random is sent in clear
/// and names the connection's lines in a key log.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TlsInfo {
    /// The version in use: "TLS 1.2", "TLS 1.3" (ServerHello, with supported_versions).
    pub version: Option<String>,
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    /// The protocol the server chose (ServerHello up to TLS 1.2, EncryptedExtensions in 1.3,
    /// so only once decrypted there).
    pub alpn: Option<String>,
    /// IANA name, e.g. "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".
    pub cipher_suite: Option<String>,
    pub cipher_suite_id: Option<u16>,
    /// An abbreviated handshake: the session id echoed (RFC 5246 7.4.1.3, RFC 5077 3.4) or,
    /// in TLS 1.3, a pre-shared key accepted (RFC 8446 4.2.11).
    pub resumed: bool,
    /// Negotiated: offered by the client and echoed by the server (RFC 7627).
    pub extended_master_secret: bool,
    /// Negotiated: offered and echoed (RFC 7366).
    pub encrypt_then_mac: bool,
    /// The server answered with a HelloRetryRequest (RFC 8446 4.1.4).
    pub hello_retry: bool,
    /// The client random, hex (the key log's key for this connection).
    pub client_random: Option<String>,
    /// The frame that completed the (first) ClientHello.
    pub hello_frame: Option<u64>,
    /// That frame's time (for the time of a finding that names it).
    #[serde(skip)]
    pub hello_ts: Option<Timestamp>,
    /// What the client offered.
    pub client_hello: Option<ClientHelloInfo>,
    /// The server's leaf certificate.
    pub certificate: Option<CertInfo>,
    pub alerts: Vec<AlertInfo>,
    /// NewSessionTicket messages read (RFC 5077, RFC 8446 4.6.1).
    pub session_tickets: u32,
    /// KeyUpdate messages read (TLS 1.3, RFC 8446 4.6.3).
    pub key_updates: PerDir<u32>,
    pub decryption: Decryption,
    /// What was malformed, where reading stopped or skipped (the first such thing).
    pub malformed: Option<String>,
    /// Why the record stream of a direction was lost (a TCP gap, a malformed or over-long
    /// record): nothing more of it is read.
    pub lost: PerDir<Option<String>>,
    /// Records read.
    pub records: PerDir<u64>,
    /// Encrypted records that were not decrypted (no key, a failed one, early data).
    pub undecrypted_records: PerDir<u64>,
    /// Application data decrypted.
    pub plaintext_bytes: PerDir<u64>,
    pub limits: TlsLimits,
}

/// Caps hit on one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsLimits {
    /// Handshake messages skipped for being longer than `max_handshake_bytes`.
    pub handshake_cap_hits: u32,
    /// Records longer than `max_record_bytes` (the direction stopped there).
    pub record_cap_hits: u32,
    /// Alerts not kept past `max_alerts`.
    pub alerts_dropped: u32,
}

/// The ClientHello's offer (the last one: after a HelloRetryRequest, the second).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ClientHelloInfo {
    /// legacy_version: "TLS 1.2" in every TLS 1.3 ClientHello (RFC 8446 4.1.2).
    pub version: String,
    /// supported_versions (RFC 8446 4.2.1), GREASE left out.
    pub supported_versions: Vec<String>,
    /// Cipher suite ids in the client's order (at most [`MAX_LIST`]).
    pub cipher_suites: Vec<u16>,
    /// Groups of the key_share entries (RFC 8446 4.2.8), by name where known.
    pub key_share_groups: Vec<String>,
    pub session_id_len: u8,
    pub session_ticket: bool,
    pub pre_shared_key: bool,
    pub early_data: bool,
    pub extended_master_secret: bool,
    pub encrypt_then_mac: bool,
}

/// How many items of a list offered in a hello are kept.
pub const MAX_LIST: usize = 128;

/// Facts of the server's leaf certificate (x509-parser).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CertInfo {
    /// Distinguished names as RFC 4514 strings (x509-parser's form).
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    /// RFC 3339, UTC (`2026-07-30T01:23:59Z`).
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// The signature algorithm's name (`sha256WithRSAEncryption`) or OID.
    pub signature_algorithm: String,
    /// The hash of the signature algorithm ("SHA-256"), when it has one.
    pub signature_hash: Option<String>,
    /// The hash of tls-server-end-point channel bindings (RFC 5929 4.1): SHA-256 when the
    /// signature's hash is MD5 or SHA-1 (or there is none, as with Ed25519), else that hash.
    pub end_point_hash_algorithm: String,
    /// That hash of the DER: the channel binding data, hex in JSON.
    #[serde(serialize_with = "hex_bytes")]
    pub end_point_hash: Vec<u8>,
    /// Certificates in the server's chain.
    pub chain_length: u32,
}

fn hex_bytes<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(v))
}

/// Lower-case hex of bytes.
pub fn hex(v: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(v.len().saturating_mul(2));
    for b in v {
        for nibble in [b >> 4, b & 15] {
            s.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    s
}

/// Who sent something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Client,
    Server,
}

impl From<Dir> for Sender {
    fn from(dir: Dir) -> Sender {
        match dir {
            Dir::ToServer => Sender::Client,
            Dir::ToClient => Sender::Server,
        }
    }
}

/// One alert (RFC 8446 6, RFC 5246 7.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertInfo {
    pub by: Sender,
    /// "warning", "fatal", or the number.
    pub level: String,
    /// The RFC's name ("handshake_failure"), or the number.
    pub description: String,
    pub level_code: u8,
    pub description_code: u8,
    /// Read from a decrypted record.
    pub encrypted: bool,
    pub frame: u64,
    /// That frame's time (for the time of a finding that names it).
    #[serde(skip)]
    pub ts: Timestamp,
}

/// Whether the connection's records could be decrypted, and if not why.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decryption {
    /// No encrypted record has been read.
    #[default]
    NothingEncrypted,
    /// Encrypted records, and no key log given.
    NoKeys,
    /// The hellos were not seen (picked up mid-stream): the client random and the cipher
    /// suite are not known.
    NoHello,
    /// The key log has nothing for this connection's client random.
    NoKeyForClientRandom,
    /// The key log lacks one secret this connection needs (TLS 1.3, e.g.
    /// "SERVER_TRAFFIC_SECRET_0").
    MissingSecret { label: String },
    /// The cipher suite or version is not one decrypted here.
    Unsupported { reason: String },
    /// Every encrypted record read so far was decrypted.
    Decrypted,
    /// A record did not authenticate (a wrong key log, or damaged bytes): that direction is
    /// not decrypted from there on.
    Failed { dir: Dir, reason: String },
}

impl Decryption {
    /// Which of two states the info keeps: a failure over a missing key over success.
    fn rank(&self) -> u8 {
        match self {
            Decryption::NothingEncrypted => 0,
            Decryption::Decrypted => 1,
            Decryption::NoKeys
            | Decryption::NoHello
            | Decryption::NoKeyForClientRandom
            | Decryption::MissingSecret { .. }
            | Decryption::Unsupported { .. } => 2,
            Decryption::Failed { .. } => 3,
        }
    }
}

/// The version's name ("TLS 1.2"), or its number.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

/// The alert level's name (RFC 5246 7.2).
pub fn alert_level_name(level: u8) -> String {
    match level {
        1 => "warning".into(),
        2 => "fatal".into(),
        _ => level.to_string(),
    }
}

/// The alert description's name (RFC 8446 6, RFC 5246 7.2, RFC 7301 3.2), or its number.
pub fn alert_name(description: u8) -> String {
    let name = match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return description.to_string(),
    };
    name.into()
}

/// The name of a named group (RFC 8446 4.2.7, RFC 7919), or its number in hex.
pub fn group_name(group: u16) -> String {
    let name = match group {
        0x0017 => "secp256r1",
        0x0018 => "secp384r1",
        0x0019 => "secp521r1",
        0x001d => "x25519",
        0x001e => "x448",
        0x0100 => "ffdhe2048",
        0x0101 => "ffdhe3072",
        0x0102 => "ffdhe4096",
        0x0103 => "ffdhe6144",
        0x0104 => "ffdhe8192",
        0x11ec => "X25519MLKEM768",
        0x11eb => "SecP256r1MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        _ => return format!("0x{group:04x}"),
    };
    name.into()
}

/// The IANA name of a cipher suite (tls-parser's table), or its number in hex.
pub fn cipher_suite_name(id: u16) -> String {
    suite::name(id).map_or_else(|| format!("0x{id:04x}"), str::to_owned)
}

/// Whether the first bytes a client sent on a connection are a TLS handshake record holding
/// a ClientHello: content type 22, version 3.0 to 3.4 (SSL 3.0 to TLS 1.3's legacy value),
/// a length a record may have, then handshake type 1 (RFC 8446 5.1, 4). Six bytes are
/// needed; HTTP (a method token) never matches.
pub fn looks_like_tls(first_bytes: &[u8]) -> bool {
    let [0x16, 0x03, minor, len_hi, len_lo, 0x01, rest @ ..] = first_bytes else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
    if *minor > 4 || !(4..=MAX_RECORD_BODY).contains(&len) {
        return false;
    }
    // With the ClientHello's header: its length is not 0, and its legacy_version is 3.x.
    match rest {
        [a, b, c, major, ..] => u32::from_be_bytes([0, *a, *b, *c]) >= 38 && *major == 3,
        _ => true,
    }
}
