//! Key derivation: the TLS 1.0 to 1.2 PRF (RFC 2246 5, RFC 5246 5) and TLS 1.3's
//! HKDF-Expand-Label (RFC 8446 7.1).

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::suite::Hash;

/// P_hash(secret, label + seed) (RFC 5246 5): A(0) = label + seed, A(i) = HMAC(secret,
/// A(i-1)), output HMAC(secret, A(i) + label + seed) for i = 1, 2, ...
fn p_hash<M: Mac + KeyInit + Clone>(secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let Ok(base) = <M as KeyInit>::new_from_slice(secret) else {
        return;
    };
    let mut a = {
        let mut m = base.clone();
        m.update(label);
        for s in seed {
            m.update(s);
        }
        m.finalize().into_bytes()
    };
    let step = a.len().max(1);
    for chunk in out.chunks_mut(step) {
        let mut m = base.clone();
        m.update(&a);
        m.update(label);
        for s in seed {
            m.update(s);
        }
        let block = m.finalize().into_bytes();
        for (o, b) in chunk.iter_mut().zip(block.iter()) {
            *o = *b;
        }
        let mut m = base.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
}

/// The TLS 1.2 PRF with the suite's hash (RFC 5246 5): P_<hash>(secret, label + seed).
pub(super) fn prf_tls12(hash: Hash, secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    match hash {
        Hash::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, out),
        Hash::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, out),
        Hash::Sha1 => p_hash::<Hmac<Sha1>>(secret, label, seed, out),
    }
}

/// The TLS 1.0 and 1.1 PRF (RFC 2246 5): P_MD5 over the secret's first half xor P_SHA-1
/// over its second half (the halves share a byte when the length is odd).
pub(super) fn prf_tls10(secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let half = secret.len().div_ceil(2);
    let s1 = secret.get(..half).unwrap_or(&[]);
    let s2 = secret
        .get(secret.len().saturating_sub(half)..)
        .unwrap_or(&[]);
    p_hash::<Hmac<Md5>>(s1, label, seed, out);
    let mut other = vec![0u8; out.len()];
    p_hash::<Hmac<Sha1>>(s2, label, seed, &mut other);
    for (o, x) in out.iter_mut().zip(other.iter()) {
        *o ^= *x;
    }
    zeroize::Zeroize::zeroize(&mut other);
}

/// HKDF-Expand-Label(secret, label, context, out.len()) (RFC 8446 7.1). `None` when the
/// secret is shorter than the hash or the lengths do not fit.
pub(super) fn expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Option<()> {
    Expander::new(hash, secret)?.label(label, context, out)
}

/// A secret keyed once for several HKDF-Expand-Labels (a key and an IV from one traffic
/// secret): HMAC's pads are hashed once, not once per label.
pub(super) enum Expander {
    Sha256(hkdf::Hkdf<Sha256>),
    Sha384(hkdf::Hkdf<Sha384>),
}

impl Expander {
    pub(super) fn new(hash: Hash, secret: &[u8]) -> Option<Expander> {
        Some(match hash {
            Hash::Sha256 => Expander::Sha256(hkdf::Hkdf::from_prk(secret).ok()?),
            Hash::Sha384 => Expander::Sha384(hkdf::Hkdf::from_prk(secret).ok()?),
            Hash::Sha1 => return None,
        })
    }

    /// HKDF-Expand with the info `length (u16) || "tls13 " + label (u8-prefixed) || context
    /// (u8-prefixed)` (RFC 8446 7.1).
    pub(super) fn label(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Option<()> {
        let length = u16::try_from(out.len()).ok()?.to_be_bytes();
        let label_len = [u8::try_from(label.len().checked_add(6)?).ok()?];
        let context_len = [u8::try_from(context.len()).ok()?];
        let info: [&[u8]; 6] = [&length, &label_len, b"tls13 ", label, &context_len, context];
        match self {
            Expander::Sha256(h) => h.expand_multi_info(&info, out).ok(),
            Expander::Sha384(h) => h.expand_multi_info(&info, out).ok(),
        }
    }
}
