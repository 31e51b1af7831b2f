//! Record protection, one direction: the keys from the key block (TLS 1.0 to 1.2, RFC 5246
//! 6.3) or from a traffic secret (TLS 1.3, RFC 8446 7.3), the sequence number, and the
//! opening of one record.

use aes::{Aes128, Aes256};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use cbc::cipher::inout::InOutBuf;
use cbc::cipher::{consts::U16, BlockModeDecrypt, InnerIvInit, KeyInit};
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use super::kdf;
use super::suite::{Bulk, Hash, Suite};

/// Why a record did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Shorter than its nonce, IV, tag or MAC.
    TooShort,
    /// The AEAD tag or the HMAC does not match: a wrong key, or damaged bytes.
    Auth,
    /// CBC padding that is not TLS padding (RFC 5246 6.2.3.2).
    Padding,
    /// A TLS 1.3 record whose plaintext is all zeros: no content type (RFC 8446 5.2).
    NoContentType,
}

impl Failure {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Failure::TooShort => "a record shorter than its nonce, tag or MAC",
            Failure::Auth => "a record did not authenticate (wrong key log, or damaged bytes)",
            Failure::Padding => "a record's CBC padding is wrong (wrong key log, or damaged bytes)",
            Failure::NoContentType => "a decrypted TLS 1.3 record has no content type",
        }
    }
}

/// An AEAD with its key. AWS-LC frees the key schedule wiped (`OPENSSL_free` cleanses).
struct Aead(LessSafeKey);

const TAG: usize = 16;

impl Aead {
    fn new(bulk: Bulk, key: &[u8]) -> Option<Aead> {
        let algorithm = match bulk {
            Bulk::Aes128Gcm => &aws_lc_rs::aead::AES_128_GCM,
            Bulk::Aes256Gcm => &aws_lc_rs::aead::AES_256_GCM,
            Bulk::ChaCha20Poly1305 => &aws_lc_rs::aead::CHACHA20_POLY1305,
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => return None,
        };
        Some(Aead(LessSafeKey::new(
            UnboundKey::new(algorithm, key).ok()?,
        )))
    }

    /// Decrypts `sealed` (ciphertext, then the 16-byte tag) in place: the plaintext's length
    /// (from the start of `sealed`).
    fn open(&self, nonce: &[u8; 12], aad: &[u8], sealed: &mut [u8]) -> Result<usize, Failure> {
        if sealed.len() < TAG {
            return Err(Failure::TooShort);
        }
        let nonce = Nonce::assume_unique_for_key(*nonce);
        let plain = self.0.open_in_place(nonce, Aad::from(aad), sealed);
        Ok(plain.map_err(|_| Failure::Auth)?.len())
    }
}

/// AES with its key schedule, for CBC.
#[derive(Clone)]
enum Block {
    Aes128(Box<Aes128>),
    Aes256(Box<Aes256>),
}

const BLOCK: usize = 16;

impl Block {
    fn new(bulk: Bulk, key: &[u8]) -> Option<Block> {
        Some(match bulk {
            Bulk::Aes128Cbc => Block::Aes128(Box::new(Aes128::new_from_slice(key).ok()?)),
            Bulk::Aes256Cbc => Block::Aes256(Box::new(Aes256::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }

    /// CBC-decrypts `ct` (whole blocks) in place.
    fn decrypt(&self, iv: &[u8; 16], ct: &mut [u8]) -> Result<(), Failure> {
        let buf = InOutBuf::from(ct);
        let (blocks, tail) = buf.into_chunks::<U16>();
        if !tail.is_empty() {
            return Err(Failure::Padding);
        }
        let iv = (*iv).into();
        match self {
            Block::Aes128(k) => cbc::Decryptor::<Aes128>::inner_iv_init((**k).clone(), &iv)
                .decrypt_blocks_inout(blocks),
            Block::Aes256(k) => cbc::Decryptor::<Aes256>::inner_iv_init((**k).clone(), &iv)
                .decrypt_blocks_inout(blocks),
        }
        Ok(())
    }
}

/// A record MAC keyed once per direction (RFC 2104): each record starts from a copy of the
/// state that has hashed the key's inner and outer pads, rather than hashing them again.
#[derive(Clone)]
enum RecordMac {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
}

impl RecordMac {
    fn new(hash: Hash, key: &[u8]) -> Option<RecordMac> {
        Some(match hash {
            Hash::Sha1 => RecordMac::Sha1(KeyInit::new_from_slice(key).ok()?),
            Hash::Sha256 => RecordMac::Sha256(KeyInit::new_from_slice(key).ok()?),
            Hash::Sha384 => RecordMac::Sha384(KeyInit::new_from_slice(key).ok()?),
        })
    }

    /// The MAC of the parts, into `out` (which must be the hash's length).
    fn sign(&self, parts: &[&[u8]], out: &mut [u8]) {
        fn run<M: Mac + Clone>(keyed: &M, parts: &[&[u8]], out: &mut [u8]) {
            let mut m = keyed.clone();
            for p in parts {
                m.update(p);
            }
            for (o, b) in out.iter_mut().zip(m.finalize().into_bytes().iter()) {
                *o = *b;
            }
        }
        match self {
            RecordMac::Sha1(m) => run(m, parts, out),
            RecordMac::Sha256(m) => run(m, parts, out),
            RecordMac::Sha384(m) => run(m, parts, out),
        }
    }
}

/// The nonce `iv xor seq`, the sequence number big-endian in the last 8 bytes (RFC 8446 5.3,
/// RFC 7905 2).
pub(super) fn xor_nonce(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut nonce = *iv;
    for (n, s) in nonce.iter_mut().skip(4).zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

enum Kind {
    /// TLS 1.2 AEAD: AES-GCM with a 4-byte salt and an 8-byte explicit nonce in each record
    /// (RFC 5288 3), or ChaCha20-Poly1305 with the nonce `iv xor seq` (RFC 7905 2).
    Aead12 {
        aead: Aead,
        iv: [u8; 12],
        explicit: bool,
    },
    /// AES-CBC and HMAC (RFC 5246 6.2.3.2), MAC-then-encrypt or encrypt-then-MAC (RFC
    /// 7366). `chained` is TLS 1.0's IV: the last ciphertext block of the record before
    /// (RFC 2246 6.2.3.2); TLS 1.1 and later send an explicit IV first in each record.
    Cbc {
        block: Block,
        mac: Hash,
        keyed: Box<RecordMac>,
        etm: bool,
        chained: Option<[u8; 16]>,
    },
    /// TLS 1.3: key and IV from the traffic secret (RFC 8446 7.3), kept for KeyUpdate.
    Tls13 {
        aead: Aead,
        iv: [u8; 12],
        bulk: Bulk,
        hash: Hash,
        secret: Zeroizing<Vec<u8>>,
    },
}

/// A TLS 1.0 to 1.2 key block: secret, never in a `Debug` output.
pub(super) struct KeyBlock(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for KeyBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBlock(..)")
    }
}

/// The lengths of a suite's MAC key, key and IV in the key block (RFC 5246 6.3; the AEADs'
/// implicit nonce part, RFC 5288 3 and RFC 7905 2).
fn key_block_parts(suite: &Suite) -> (usize, usize, usize) {
    let iv_len = match suite.bulk {
        Bulk::Aes128Gcm | Bulk::Aes256Gcm => 4,
        Bulk::ChaCha20Poly1305 => 12,
        Bulk::Aes128Cbc | Bulk::Aes256Cbc => BLOCK,
    };
    (suite.mac.map_or(0, Hash::len), suite.bulk.key_len(), iv_len)
}

/// One direction's record protection and sequence number.
pub(super) struct RecordCipher {
    kind: Kind,
    seq: u64,
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCipher")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// The plaintext of one record: its content type and where it is in the record's body
/// (decrypted in place).
pub(super) struct Opened {
    pub ctype: u8,
    pub start: usize,
    pub len: usize,
}

impl Opened {
    /// The plaintext within the body it was opened in.
    pub(super) fn plaintext<'b>(&self, body: &'b [u8]) -> &'b [u8] {
        body.get(self.start..self.start.saturating_add(self.len))
            .unwrap_or(&[])
    }
}

impl RecordCipher {
    /// The key block of TLS 1.0 to 1.2: PRF(master_secret, "key expansion", server_random +
    /// client_random), as long as the suite's MAC keys, keys and IVs (RFC 5246 6.3). Made
    /// once for both directions.
    pub(super) fn key_block(
        suite: &Suite,
        version: u16,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Option<KeyBlock> {
        let (mac_len, key_len, iv_len) = key_block_parts(suite);
        let total = mac_len
            .checked_add(key_len)?
            .checked_add(iv_len)?
            .checked_mul(2)?;
        let mut block = Zeroizing::new(vec![0u8; total]);
        let seed: [&[u8]; 2] = [server_random, client_random];
        if version >= 0x0303 {
            kdf::prf_tls12(suite.prf, master, b"key expansion", &seed, &mut block);
        } else {
            kdf::prf_tls10(master, b"key expansion", &seed, &mut block);
        }
        Some(KeyBlock(block))
    }

    /// The cipher of one direction of TLS 1.0 to 1.2: the key block cut into the client's
    /// and the server's MAC keys, then keys, then IVs (RFC 5246 6.3).
    pub(super) fn tls12(
        suite: &Suite,
        version: u16,
        block: &KeyBlock,
        server_writes: bool,
        etm: bool,
    ) -> Option<RecordCipher> {
        let (mac_len, key_len, iv_len) = key_block_parts(suite);
        let mut rest: &[u8] = &block.0;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (a, b) = rest.split_at_checked(n)?;
            rest = b;
            Some(a)
        };
        let (client_mac, server_mac) = (take(mac_len)?, take(mac_len)?);
        let (client_key, server_key) = (take(key_len)?, take(key_len)?);
        let (client_iv, server_iv) = (take(iv_len)?, take(iv_len)?);
        let (mac_key, key, iv) = if server_writes {
            (server_mac, server_key, server_iv)
        } else {
            (client_mac, client_key, client_iv)
        };
        let kind = match suite.mac {
            None => {
                let mut full = [0u8; 12];
                for (f, i) in full.iter_mut().zip(iv) {
                    *f = *i;
                }
                Kind::Aead12 {
                    aead: Aead::new(suite.bulk, key)?,
                    iv: full,
                    explicit: suite.bulk != Bulk::ChaCha20Poly1305,
                }
            }
            Some(mac) => Kind::Cbc {
                block: Block::new(suite.bulk, key)?,
                mac,
                keyed: Box::new(RecordMac::new(mac, mac_key)?),
                etm,
                chained: (version < 0x0302)
                    .then(|| <[u8; 16]>::try_from(iv).ok())
                    .flatten(),
            },
        };
        Some(RecordCipher { kind, seq: 0 })
    }

    /// The cipher of one direction of TLS 1.3 from a traffic secret (RFC 8446 7.3).
    pub(super) fn tls13(suite: &Suite, secret: &[u8]) -> Option<RecordCipher> {
        let (aead, iv) = traffic_keys(suite.bulk, suite.prf, secret)?;
        Some(RecordCipher {
            kind: Kind::Tls13 {
                aead,
                iv,
                bulk: suite.bulk,
                hash: suite.prf,
                secret: Zeroizing::new(secret.to_vec()),
            },
            seq: 0,
        })
    }

    /// KeyUpdate (RFC 8446 7.2): the next secret is HKDF-Expand-Label(secret, "traffic upd",
    /// "", Hash.length), its keys replace these and the sequence number starts again.
    pub(super) fn key_update(&mut self) -> bool {
        let Kind::Tls13 {
            aead,
            iv,
            bulk,
            hash,
            secret,
        } = &mut self.kind
        else {
            return false;
        };
        let mut next = Zeroizing::new(vec![0u8; hash.len()]);
        if kdf::expand_label(*hash, secret, b"traffic upd", b"", &mut next).is_none() {
            return false;
        }
        let Some((new_aead, new_iv)) = traffic_keys(*bulk, *hash, &next) else {
            return false;
        };
        *aead = new_aead;
        *iv = new_iv;
        *secret = next;
        self.seq = 0;
        true
    }

    /// Opens one record of content type `ctype` and legacy version `version`, whose body is
    /// `body`, in place: the plaintext is [`Opened::plaintext`] of `body`.
    pub(super) fn open(
        &mut self,
        ctype: u8,
        version: u16,
        body: &mut [u8],
    ) -> Result<Opened, Failure> {
        let seq = self.seq;
        let opened = match &mut self.kind {
            Kind::Aead12 { aead, iv, explicit } => {
                // RFC 5246 6.2.3.3: additional_data = seq_num + type + version + length.
                let (nonce, start) = if *explicit {
                    let explicit = body.get(..8).ok_or(Failure::TooShort)?;
                    let mut nonce = *iv;
                    for (n, e) in nonce.iter_mut().skip(4).zip(explicit) {
                        *n = *e;
                    }
                    (nonce, 8)
                } else {
                    (xor_nonce(iv, seq), 0)
                };
                let sealed = body.get_mut(start..).ok_or(Failure::TooShort)?;
                let len = sealed.len().checked_sub(TAG).ok_or(Failure::TooShort)?;
                let aad = aad12(seq, ctype, version, len)?;
                let len = aead.open(&nonce, &aad, sealed)?;
                Opened { ctype, start, len }
            }
            Kind::Cbc {
                block,
                mac,
                keyed,
                etm,
                chained,
            } => {
                let (start, len) =
                    open_cbc(block, *mac, keyed, *etm, chained, seq, ctype, version, body)?;
                Opened { ctype, start, len }
            }
            Kind::Tls13 { aead, iv, .. } => {
                // RFC 8446 5.2: additional_data is the record header as sent.
                let len = u16::try_from(body.len()).map_err(|_| Failure::TooShort)?;
                let [hi, lo] = len.to_be_bytes();
                let [vhi, vlo] = version.to_be_bytes();
                let aad = [ctype, vhi, vlo, hi, lo];
                let len = aead.open(&xor_nonce(iv, seq), &aad, body)?;
                // RFC 8446 5.2: content, then the type, then zeros.
                let plain = body.get(..len).unwrap_or(&[]);
                let end = plain
                    .iter()
                    .rposition(|&b| b != 0)
                    .ok_or(Failure::NoContentType)?;
                let inner = plain.get(end).copied().ok_or(Failure::NoContentType)?;
                Opened {
                    ctype: inner,
                    start: 0,
                    len: end,
                }
            }
        };
        self.seq = self.seq.wrapping_add(1);
        Ok(opened)
    }
}

/// TLS 1.3 write key and IV of a traffic secret (RFC 8446 7.3).
fn traffic_keys(bulk: Bulk, hash: Hash, secret: &[u8]) -> Option<(Aead, [u8; 12])> {
    let mut key = Zeroizing::new(vec![0u8; bulk.key_len()]);
    let mut iv = [0u8; 12];
    let expander = kdf::Expander::new(hash, secret)?;
    expander.label(b"key", b"", &mut key)?;
    expander.label(b"iv", b"", &mut iv)?;
    Some((Aead::new(bulk, &key)?, iv))
}

fn aad12(seq: u64, ctype: u8, version: u16, len: usize) -> Result<[u8; 13], Failure> {
    let mut aad = [0u8; 13];
    let len = u16::try_from(len).map_err(|_| Failure::TooShort)?;
    let parts = seq
        .to_be_bytes()
        .into_iter()
        .chain([ctype])
        .chain(version.to_be_bytes())
        .chain(len.to_be_bytes());
    for (a, p) in aad.iter_mut().zip(parts) {
        *a = p;
    }
    Ok(aad)
}

/// Opens a CBC record in place (RFC 5246 6.2.3.2; RFC 7366 3 for encrypt-then-MAC): where
/// the plaintext starts in `body` (after the explicit IV) and its length.
#[allow(clippy::too_many_arguments)]
fn open_cbc(
    block: &Block,
    mac: Hash,
    keyed: &RecordMac,
    etm: bool,
    chained: &mut Option<[u8; 16]>,
    seq: u64,
    ctype: u8,
    version: u16,
    body: &mut [u8],
) -> Result<(usize, usize), Failure> {
    let mac_len = mac.len();
    let mut expected = [0u8; 48];
    let expected = expected.get_mut(..mac_len).ok_or(Failure::TooShort)?;
    // Encrypt-then-MAC: the MAC is over the IV and ciphertext, checked before decrypting.
    let body = if etm {
        let at = body.len().checked_sub(mac_len).ok_or(Failure::TooShort)?;
        let (sealed, tag) = body.split_at_mut(at);
        let header = aad12(seq, ctype, version, sealed.len())?;
        keyed.sign(&[&header, sealed], expected);
        if expected != tag {
            return Err(Failure::Auth);
        }
        sealed
    } else {
        body
    };
    let (iv, start) = match chained {
        Some(iv) => (*iv, 0),
        None => {
            let iv = body.get(..BLOCK).ok_or(Failure::TooShort)?;
            (
                <[u8; 16]>::try_from(iv).map_err(|_| Failure::TooShort)?,
                BLOCK,
            )
        }
    };
    let ct = body.get_mut(start..).ok_or(Failure::TooShort)?;
    if ct.is_empty() || ct.len() % BLOCK != 0 {
        return Err(Failure::TooShort);
    }
    if let Some(next) = chained {
        // The next record's IV is this one's last ciphertext block, taken before it is
        // decrypted over.
        let last = ct
            .get(ct.len().saturating_sub(BLOCK)..)
            .ok_or(Failure::TooShort)?;
        *next = <[u8; 16]>::try_from(last).map_err(|_| Failure::TooShort)?;
    }
    block.decrypt(&iv, ct)?;
    let out = &*ct;
    // Padding: padding_length + 1 bytes, each of value padding_length.
    let pad = usize::from(*out.last().ok_or(Failure::TooShort)?);
    let unpadded = out
        .len()
        .checked_sub(pad)
        .and_then(|n| n.checked_sub(1))
        .ok_or(Failure::Padding)?;
    let padding_ok = out
        .get(unpadded..)
        .is_some_and(|p| p.iter().all(|&b| usize::from(b) == pad));
    if etm {
        return if padding_ok {
            Ok((start, unpadded))
        } else {
            Err(Failure::Padding)
        };
    }
    // MAC-then-encrypt: the MAC over seq + type + version + length + content follows it.
    let len = unpadded.checked_sub(mac_len).ok_or(Failure::Auth)?;
    if !padding_ok {
        return Err(Failure::Auth);
    }
    let (content, tag) = out.get(..unpadded).ok_or(Failure::TooShort)?.split_at(len);
    let header = aad12(seq, ctype, version, len)?;
    keyed.sign(&[&header, content], expected);
    if expected != tag {
        return Err(Failure::Auth);
    }
    Ok((start, len))
}
