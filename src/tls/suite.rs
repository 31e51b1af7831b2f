//! Cipher suites: names from tls-parser's table (built from IANA's registry), and what
//! decryption needs of the ones decrypted here.

use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherMac, TlsCipherSuite, TlsPRF};

/// The IANA name of a suite.
pub(super) fn name(id: u16) -> Option<&'static str> {
    TlsCipherSuite::from_id(id).map(|s| s.name)
}

/// The record protection of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bulk {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
    Aes128Cbc,
    Aes256Cbc,
}

impl Bulk {
    pub(super) fn key_len(self) -> usize {
        match self {
            Bulk::Aes128Gcm | Bulk::Aes128Cbc => 16,
            Bulk::Aes256Gcm | Bulk::Aes256Cbc | Bulk::ChaCha20Poly1305 => 32,
        }
    }
    pub(super) fn is_cbc(self) -> bool {
        matches!(self, Bulk::Aes128Cbc | Bulk::Aes256Cbc)
    }
}

/// A hash function: of the PRF or HKDF, of a CBC suite's HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hash {
    Sha1,
    Sha256,
    Sha384,
}

impl Hash {
    pub(super) fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// What decrypting a suite's records needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Suite {
    pub bulk: Bulk,
    /// The HMAC of a CBC suite.
    pub mac: Option<Hash>,
    /// The TLS 1.2 PRF's hash (RFC 5246 5: SHA-256 unless the suite says otherwise), or
    /// TLS 1.3's HKDF hash.
    pub prf: Hash,
    pub tls13: bool,
}

/// The suite, if its records are decrypted here: AES-GCM (RFC 5288, 5289; RFC 8446 B.4),
/// ChaCha20-Poly1305 (RFC 7905), AES-CBC with HMAC-SHA1, -SHA256 or -SHA384 (RFC 5246,
/// 5289). Not: AES-CCM, 3DES, RC4, Camellia, ARIA, NULL.
pub(super) fn suite(id: u16) -> Result<Suite, String> {
    let Some(s) = TlsCipherSuite::from_id(id) else {
        return Err(format!("cipher suite 0x{id:04x} is not known"));
    };
    let unsupported = || format!("{} is not decrypted here", s.name);
    let bulk = match (s.enc, s.enc_mode, s.enc_size) {
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 128) => Bulk::Aes128Gcm,
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 256) => Bulk::Aes256Gcm,
        (TlsCipherEnc::Aes, TlsCipherEncMode::Cbc, 128) => Bulk::Aes128Cbc,
        (TlsCipherEnc::Aes, TlsCipherEncMode::Cbc, 256) => Bulk::Aes256Cbc,
        // tls-parser gives ChaCha20's size as 128 (its key is 256 bits).
        (TlsCipherEnc::Chacha20_Poly1305, _, _) => Bulk::ChaCha20Poly1305,
        _ => return Err(unsupported()),
    };
    let mac = match s.mac {
        TlsCipherMac::Aead => None,
        TlsCipherMac::HmacSha1 => Some(Hash::Sha1),
        TlsCipherMac::HmacSha256 => Some(Hash::Sha256),
        TlsCipherMac::HmacSha384 => Some(Hash::Sha384),
        _ => return Err(unsupported()),
    };
    if bulk.is_cbc() != mac.is_some() {
        return Err(unsupported());
    }
    let prf = match s.prf {
        TlsPRF::Default | TlsPRF::Sha256 => Hash::Sha256,
        TlsPRF::Sha384 => Hash::Sha384,
        _ => return Err(unsupported()),
    };
    // TLS 1.3 suites are 0x13xx (RFC 8446 B.4).
    let tls13 = id >> 8 == 0x13;
    Ok(Suite {
        bulk,
        mac,
        prf,
        tls13,
    })
}
