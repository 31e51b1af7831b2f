//! The NSS key log format (firefox-source-docs, "NSS Key Log Format"): one secret a line,
//! `<label> <client random, 64 hex> <secret, hex>`, `#` comments and blank lines. Written by
//! browsers and curl (SSLKEYLOGFILE), OpenSSL's `-keylogfile`, Python's
//! `keylog_filename`, and carried in pcapng Decryption Secrets Blocks (type 0x544c534b, the
//! same text).
//!
//! Used here: `CLIENT_RANDOM` (the TLS 1.0 to 1.2 master secret, 48 bytes) and TLS 1.3's
//! `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0` and `SERVER_TRAFFIC_SECRET_0` (32 or 48 bytes, the suite's hash
//! length). Other labels (`EXPORTER_SECRET`, the early secrets, `RSA`, ...) are counted as
//! unknown; lines that do not parse as bad. Neither stops the reading.

use std::io::Read;

use zeroize::Zeroize;

use crate::map::Map;

/// The default cap on client randoms held: 36 MB at most (see [`KeyLog`]).
pub const DEFAULT_MAX_CLIENT_RANDOMS: usize = 100_000;

/// A key log line longer than this is bad (the longest good one is about 200 bytes).
const MAX_LINE: usize = 1024;

/// The TLS 1.3 secrets used, in [`Entry::tls13`]'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    ClientHandshake = 0,
    ServerHandshake = 1,
    ClientTraffic0 = 2,
    ServerTraffic0 = 3,
}

impl Label {
    pub(super) fn name(self) -> &'static str {
        match self {
            Label::ClientHandshake => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Label::ServerHandshake => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            Label::ClientTraffic0 => "CLIENT_TRAFFIC_SECRET_0",
            Label::ServerTraffic0 => "SERVER_TRAFFIC_SECRET_0",
        }
    }
}

/// One secret of up to 48 bytes (SHA-384's length), wiped when dropped.
#[derive(Clone)]
pub(super) struct Secret {
    len: u8,
    bytes: [u8; 48],
}

impl Secret {
    fn from_hex(hex: &[u8]) -> Option<Secret> {
        let mut bytes = [0u8; 48];
        let len = decode_hex(hex, &mut bytes)?;
        Some(Secret {
            len: u8::try_from(len).ok()?,
            bytes,
        })
    }
    pub(super) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// The secrets of one client random.
#[derive(Clone, Default)]
struct Entry {
    master: Option<Secret>,
    /// Boxed: most key logs are of one kind, and a TLS 1.2 entry is then 96 bytes, not 296.
    tls13: Option<Box<[Option<Secret>; 4]>>,
}

/// Counters of what a key log held and what it dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyLogStats {
    /// Lines read, blank lines and comments apart.
    pub lines: u64,
    /// Secrets taken.
    pub secrets: u64,
    /// Client randoms held (each with one or more secrets).
    pub client_randoms: u64,
    /// Lines with a label not used here (EXPORTER_SECRET, CLIENT_EARLY_TRAFFIC_SECRET, RSA...).
    pub unknown: u64,
    /// Lines that do not parse: a missing field, bad hex, a secret of the wrong length, a line
    /// over 1 KiB.
    pub bad: u64,
    /// Secrets given again for a client random that had them (the first is kept).
    pub duplicates: u64,
    /// Secrets dropped because as many client randoms as the cap were held.
    pub dropped: u64,
    /// The cap on client randoms.
    pub max_client_randoms: u64,
}

/// Secrets from NSS key logs, by client random. Shared read-only across threads (`Send`,
/// `Sync`); `Debug` shows counts only.
///
/// Memory is capped by the number of client randoms held ([`DEFAULT_MAX_CLIENT_RANDOMS`],
/// [`KeyLog::with_max_client_randoms`]): an entry takes 96 bytes in the table (plus the
/// table's spare room, up to twice that), and 208 more when it has TLS 1.3 secrets, so the
/// default cap of 100 000 holds at most about 36 MB (measured resident, all with the four
/// TLS 1.3 secrets: `tls::tests::key_log_memory_at_the_cap`). Secrets for a client random not held
/// once the cap is reached are dropped and counted: the first ones are kept (a key log is
/// written in the order of the connections it is for).
///
/// Secrets are wiped from memory when the log is dropped (those that a growing table moved
/// are not: the allocator got them back unwiped).
#[derive(Clone)]
pub struct KeyLog {
    map: Map<[u8; 32], Entry>,
    max_client_randoms: usize,
    stats: KeyLogStats,
    /// The unfinished last line of [`KeyLog::add_chunk`].
    carry: Vec<u8>,
    /// The unfinished line is over [`MAX_LINE`]: passed over up to its end.
    skipping: bool,
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog::with_max_client_randoms(DEFAULT_MAX_CLIENT_RANDOMS)
    }
}

impl std::fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLog")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl KeyLog {
    /// An empty key log that holds at most `max` client randoms.
    pub fn with_max_client_randoms(max: usize) -> KeyLog {
        KeyLog {
            map: Map::default(),
            max_client_randoms: max,
            stats: KeyLogStats {
                max_client_randoms: max as u64,
                ..KeyLogStats::default()
            },
            carry: Vec::new(),
            skipping: false,
        }
    }

    /// Reads a key log file, chunk by chunk (memory does not grow with the file).
    pub fn load(path: &std::path::Path) -> std::io::Result<KeyLog> {
        let mut log = KeyLog::default();
        log.add_file(path)?;
        Ok(log)
    }

    /// Adds the lines of a key log file (the caps of this log apply).
    pub fn add_file(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.add_chunk(chunk.get(..n).unwrap_or(&[]));
        }
        self.finish_chunks();
        Ok(())
    }

    /// Adds key log text: whole lines (a last line without a newline is a line too), as a
    /// pcapng Decryption Secrets Block carries them. Appends to what is held.
    pub fn add_text(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            self.line(line);
        }
    }

    /// Adds a piece of a key log read as it grows (a file being written during a live
    /// capture): its unfinished last line is kept (up to 1 KiB) for the next piece, or for
    /// [`KeyLog::finish_chunks`].
    pub fn add_chunk(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(at) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(at);
            rest = after.get(1..).unwrap_or(&[]);
            if self.skipping {
                self.skipping = false;
                self.stats.lines = self.stats.lines.saturating_add(1);
                self.stats.bad = self.stats.bad.saturating_add(1);
            } else if self.carry.is_empty() {
                self.line(line);
            } else {
                let mut carry = std::mem::take(&mut self.carry);
                carry.extend_from_slice(line);
                self.line(&carry);
                carry.clear();
                self.carry = carry;
            }
        }
        if self.skipping {
            return;
        }
        if self.carry.len().saturating_add(rest.len()) > MAX_LINE {
            self.carry.clear();
            self.skipping = true;
        } else {
            self.carry.extend_from_slice(rest);
        }
    }

    /// Ends a reading by chunks: the unfinished last line is taken as a line.
    pub fn finish_chunks(&mut self) {
        if self.skipping {
            self.skipping = false;
            self.stats.lines = self.stats.lines.saturating_add(1);
            self.stats.bad = self.stats.bad.saturating_add(1);
        }
        let carry = std::mem::take(&mut self.carry);
        self.line(&carry);
    }

    pub fn stats(&self) -> KeyLogStats {
        self.stats
    }

    /// Whether no secret is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The TLS 1.0 to 1.2 master secret of a client random.
    pub(super) fn master_secret(&self, client_random: &[u8; 32]) -> Option<&[u8]> {
        self.map
            .get(client_random)?
            .master
            .as_ref()
            .map(Secret::as_slice)
    }

    /// A TLS 1.3 secret of a client random.
    pub(super) fn tls13_secret(&self, client_random: &[u8; 32], label: Label) -> Option<&[u8]> {
        let all = self.map.get(client_random)?.tls13.as_ref()?;
        all.get(label as usize)?.as_ref().map(Secret::as_slice)
    }

    /// Whether any secret is held for a client random.
    pub(super) fn has(&self, client_random: &[u8; 32]) -> bool {
        self.map.contains_key(client_random)
    }

    /// One line of text.
    fn line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() || line.first() == Some(&b'#') {
            return;
        }
        self.stats.lines = self.stats.lines.saturating_add(1);
        if line.len() > MAX_LINE {
            self.stats.bad = self.stats.bad.saturating_add(1);
            return;
        }
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            self.stats.bad = self.stats.bad.saturating_add(1);
            return;
        };
        let slot = match label {
            b"CLIENT_RANDOM" => None,
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Some(Label::ClientHandshake),
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Some(Label::ServerHandshake),
            b"CLIENT_TRAFFIC_SECRET_0" => Some(Label::ClientTraffic0),
            b"SERVER_TRAFFIC_SECRET_0" => Some(Label::ServerTraffic0),
            _ => {
                self.stats.unknown = self.stats.unknown.saturating_add(1);
                return;
            }
        };
        let mut cr = [0u8; 32];
        let good_random = decode_hex(random, &mut cr) == Some(32);
        let secret = Secret::from_hex(secret);
        let (true, Some(secret)) = (good_random, secret) else {
            self.stats.bad = self.stats.bad.saturating_add(1);
            return;
        };
        // The master secret is 48 bytes (RFC 5246 8.1); TLS 1.3 secrets are the hash's
        // length, SHA-256 or SHA-384 (RFC 8446 7.1).
        let good_len = match slot {
            None => secret.len == 48,
            Some(_) => secret.len == 32 || secret.len == 48,
        };
        if !good_len {
            self.stats.bad = self.stats.bad.saturating_add(1);
            return;
        }
        self.insert(cr, slot, secret);
    }

    fn insert(&mut self, cr: [u8; 32], slot: Option<Label>, secret: Secret) {
        let at_cap = self.map.len() >= self.max_client_randoms;
        let entry = match self.map.get_mut(&cr) {
            Some(entry) => entry,
            None if at_cap => {
                self.stats.dropped = self.stats.dropped.saturating_add(1);
                return;
            }
            None => {
                self.stats.client_randoms = self.stats.client_randoms.saturating_add(1);
                self.map.entry(cr).or_default()
            }
        };
        let place = match slot {
            None => &mut entry.master,
            Some(label) => {
                let all = entry.tls13.get_or_insert_with(Default::default);
                match all.get_mut(label as usize) {
                    Some(place) => place,
                    None => return,
                }
            }
        };
        if place.is_some() {
            self.stats.duplicates = self.stats.duplicates.saturating_add(1);
        } else {
            *place = Some(secret);
            self.stats.secrets = self.stats.secrets.saturating_add(1);
        }
    }
}

/// Decodes hex into `out`; the number of bytes, or `None` if it is not hex of at most
/// `out.len()` bytes.
pub(super) fn decode_hex(hex: &[u8], out: &mut [u8]) -> Option<usize> {
    if hex.len() % 2 != 0 || hex.len() / 2 > out.len() {
        return None;
    }
    let nibble = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c.wrapping_sub(b'0')),
            b'a'..=b'f' => Some(c.wrapping_sub(b'a').wrapping_add(10)),
            b'A'..=b'F' => Some(c.wrapping_sub(b'A').wrapping_add(10)),
            _ => None,
        }
    };
    for (pair, o) in hex.chunks_exact(2).zip(out.iter_mut()) {
        let [hi, lo] = *pair else { return None };
        *o = (nibble(hi)? << 4) | nibble(lo)?;
    }
    Some(hex.len() / 2)
}
