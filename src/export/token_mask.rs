//! Masking one authentication header line of the pcapng slice down to its secret bytes, so
//! that Wireshark still dissects every NTLM, SPNEGO and Kerberos message in the slice: the
//! line keeps its length, every byte that is no secret, and every tag, length and offset
//! around the secrets.
//!
//! | header | what is masked |
//! | --- | --- |
//! | `Authorization: Basic` | the password, as `*`, base64 encoded again (RFC 7617 2) |
//! | `Authorization: NTLM`, `Negotiate` with NTLMSSP | in a Type 3: LmChallengeResponse, the NTProofStr (NTLMv2) or the whole NtChallengeResponse (NTLMv1), EncryptedRandomSessionKey and MIC, as zero bytes (MS-NLMP 2.2.1.3); Type 1 and 2 hold none |
//! | `Negotiate`, `Kerberos` (both directions) | the `cipher` of every EncryptedData (ticket, authenticator, AP-REP) and the SPNEGO mechListMIC, as zero bytes |
//! | `Authorization: Digest` | the `response` hex digits, as `*` (RFC 7616 3.4) |
//! | `Authentication-Info` | the `rspauth` hex digits, as `*` (RFC 7616 3.5) |
//! | `Authorization: Bearer`, a bare JWT | a JWT's signature as `*` (RFC 7515 7.1); any other token whole |
//! | `Cookie`, `Set-Cookie` | the whole value |
//!
//! Binary tokens are base64-decoded, patched and encoded again: the same number of bytes
//! gives the same number of characters. Anything not understood (a malformed or unknown
//! token, an unknown scheme, a value cut short) gives `None`, and the caller masks the
//! whole value with `*` as it does for a line it never saw whole.

use std::ops::Range;

use asn1_rs::{Any, Class, FromBer as _, FromDer as _, Tag};
use base64::Engine as _;
use kerberos_parser::krb5;

use crate::auth::{
    challenge_token_scheme, is_registered_scheme, secret_field, SecretField, SECRET_HEADERS,
};

/// Whether a line that starts with `prefix` may be one [`mask_line`] masks more finely than
/// the whole value (the cookie headers it masks whole, so those are not worth keeping).
pub(crate) fn may_refine(prefix: &[u8]) -> bool {
    let (name, whole) = match prefix.iter().position(|&b| b == b':') {
        Some(colon) => (prefix.get(..colon).unwrap_or_default(), true),
        None => (prefix, false),
    };
    SECRET_HEADERS.iter().any(|(n, f)| {
        let n = n.as_bytes();
        *f != SecretField::Whole
            && if whole {
                n.eq_ignore_ascii_case(name)
            } else {
                n.get(..name.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(name))
            }
    })
}

/// `line` (`Name: value`, no CR or LF) with only its secret bytes replaced, the same length;
/// `None` when it is not a header masked here or its value is not understood.
pub fn mask_line(line: &[u8]) -> Option<Vec<u8>> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?;
    let field = secret_field(name)?;
    let start = ows(line, colon.saturating_add(1));
    let mut end = line.len();
    while end > start && matches!(line.get(end.saturating_sub(1)), Some(b' ' | b'\t')) {
        end = end.saturating_sub(1);
    }
    let mut out = line.to_vec();
    match field {
        SecretField::Credentials => credentials(&mut out, line, start, end)?,
        SecretField::Challenges => challenges(&mut out, line, start, end),
        SecretField::Info => star_params(&mut out, line, start, end, b"rspauth")?,
        SecretField::Whole => star(&mut out, start..line.len()),
    }
    Some(out)
}

/// RFC 9110 11.6.2: `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, in `line[start..end]`.
fn credentials(out: &mut [u8], line: &[u8], start: usize, end: usize) -> Option<()> {
    let scheme_end = take(line, start, end, is_tchar);
    let scheme = line.get(start..scheme_end)?;
    if scheme_end == end {
        // A credential without a scheme is all token: a JWT keeps its header and claims.
        if let Some(sig) = jwt_signature(scheme) {
            star(out, shift(sig, start));
            return Some(());
        }
        // A scheme alone carries nothing; anything else is a token not understood.
        return is_registered_scheme(scheme, false).then_some(());
    }
    if !matches!(line.get(scheme_end), Some(b' ' | b'\t')) {
        return None;
    }
    let at = ows(line, scheme_end);
    let rest = line.get(at..end)?;
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_slice() {
        b"basic" => basic(out, at, token68(rest)?),
        b"ntlm" => binary(out, at, token68(rest)?, |t, r| ntlm(t, t, r)),
        b"negotiate" | b"kerberos" => binary(out, at, token68(rest)?, negotiate),
        b"digest" => star_params(out, line, at, end, b"response"),
        b"bearer" => {
            let token = token68(rest)?;
            let secret = jwt_signature(token).unwrap_or(0..token.len());
            star(out, shift(secret, at));
            Some(())
        }
        _ => None,
    }
}

/// RFC 9110 11.6.1: `#challenge`. Only a `Negotiate` or `Kerberos` token can hold a secret
/// (an AP-REP, a mechListMIC); one not understood is masked whole, the rest stays.
fn challenges(out: &mut [u8], line: &[u8], start: usize, end: usize) {
    for item in elements(line, start, end) {
        let scheme_end = take(line, item.start, item.end, is_tchar);
        let scheme = line.get(item.start..scheme_end).unwrap_or_default();
        if !challenge_token_scheme(scheme) || !matches!(line.get(scheme_end), Some(b' ' | b'\t')) {
            continue;
        }
        let at = ows(line, scheme_end);
        let rest = line.get(at..item.end).unwrap_or_default();
        if token68(rest)
            .and_then(|t| binary(out, at, t, negotiate))
            .is_none()
        {
            star(out, at..item.end);
        }
    }
}

/// RFC 7617 2: `user-id ":" password`, base64; the password becomes `*`s.
fn basic(out: &mut [u8], at: usize, token: &[u8]) -> Option<()> {
    let (mut bytes, padded) = base64_decode(token)?;
    let colon = bytes.iter().position(|&b| b == b':')?;
    bytes.get_mut(colon.saturating_add(1)..)?.fill(b'*');
    put(out, at, &base64_encode(&bytes, padded))
}

/// A base64 binary token: `ranges` names its secret bytes, which become zero.
fn binary(
    out: &mut [u8],
    at: usize,
    token: &[u8],
    ranges: impl FnOnce(&[u8], &mut Vec<Range<usize>>) -> Option<()>,
) -> Option<()> {
    let (mut bytes, padded) = base64_decode(token)?;
    let mut secret = Vec::new();
    ranges(&bytes, &mut secret)?;
    for r in secret {
        bytes.get_mut(r)?.fill(0);
    }
    put(out, at, &base64_encode(&bytes, padded))
}

/// The standard alphabet, padded or not; `None` unless encoding the bytes again gives the
/// token back, so that the patched bytes encode to a token of the same length.
fn base64_decode(token: &[u8]) -> Option<(Vec<u8>, bool)> {
    let padded = token.last() == Some(&b'=');
    let bytes = engine(padded).decode(token).ok()?;
    (base64_encode(&bytes, padded).as_bytes() == token).then_some((bytes, padded))
}

fn base64_encode(bytes: &[u8], padded: bool) -> String {
    engine(padded).encode(bytes)
}

fn engine(padded: bool) -> base64::engine::GeneralPurpose {
    if padded {
        base64::engine::general_purpose::STANDARD
    } else {
        base64::engine::general_purpose::STANDARD_NO_PAD
    }
}

/// RFC 7519 3, RFC 7515 7.1: where the signature of a JWT starts and ends in `token`.
fn jwt_signature(token: &[u8]) -> Option<Range<usize>> {
    let text = std::str::from_utf8(token).ok()?;
    crate::auth::bearer::parse_jwt(text).ok()?;
    let mut dots = token.iter().enumerate().filter(|p| *p.1 == b'.');
    dots.next()?;
    let (second, _) = dots.next()?;
    Some(second.saturating_add(1)..token.len())
}

/// Stars the values of the `auth-param`s named `name` (RFC 9110 11.2) in `line[at..end]`,
/// quotes kept: a Digest `response` (RFC 7616 3.4) or `rspauth` (3.5).
fn star_params(out: &mut [u8], line: &[u8], at: usize, end: usize, name: &[u8]) -> Option<()> {
    for (n, v) in params(line, at, end)? {
        if line.get(n).is_some_and(|n| n.eq_ignore_ascii_case(name)) {
            let quoted = line.get(v.start) == Some(&b'"');
            let inner = if quoted {
                v.start.saturating_add(1)..v.end.saturating_sub(1)
            } else {
                v
            };
            star(out, inner);
        }
    }
    Some(())
}

/// No header has more parameters than this; bounds work on hostile input.
const MAX_PARAMS: usize = 64;

/// `#auth-param`: each `name BWS "=" BWS ( token / quoted-string )`, as (name, value)
/// ranges, a quoted value with its quotes; `None` if the list does not follow the grammar.
fn params(line: &[u8], mut at: usize, end: usize) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    let s = line.get(..end)?;
    let mut out = Vec::new();
    loop {
        while matches!(s.get(at), Some(b' ' | b'\t' | b',')) {
            at = at.saturating_add(1);
        }
        if at >= end {
            return Some(out);
        }
        if out.len() >= MAX_PARAMS {
            return None;
        }
        let name_end = take(s, at, end, is_tchar);
        if name_end == at {
            return None;
        }
        let eq = ows(s, name_end);
        if s.get(eq) != Some(&b'=') {
            return None;
        }
        let v = ows(s, eq.saturating_add(1));
        let value_end = if s.get(v) == Some(&b'"') {
            // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 5.6.4)
            let mut q = v.saturating_add(1);
            loop {
                match s.get(q)? {
                    b'"' => break q.saturating_add(1),
                    b'\\' => q = q.saturating_add(2),
                    _ => q = q.saturating_add(1),
                }
            }
        } else {
            take(s, v, end, is_tchar)
        };
        if value_end == v {
            return None;
        }
        out.push((at..name_end, v..value_end));
        at = ows(s, value_end);
        if at < end && s.get(at) != Some(&b',') {
            return None;
        }
    }
}

/// The elements of a comma-separated list in `line[start..end]`, commas inside quoted
/// strings kept, each without its surrounding whitespace.
fn elements(line: &[u8], start: usize, end: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = start;
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in line.iter().enumerate().take(end).skip(start) {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push(from..i);
                from = i.saturating_add(1);
            }
            _ => {}
        }
    }
    out.push(from..end);
    out.into_iter()
        .filter_map(|r| {
            let a = ows(line, r.start).min(r.end);
            let mut b = r.end;
            while b > a && matches!(line.get(b.saturating_sub(1)), Some(b' ' | b'\t')) {
                b = b.saturating_sub(1);
            }
            (a < b).then_some(a..b)
        })
        .collect()
}

/// MS-NLMP 2.2.1.3 AUTHENTICATE_MESSAGE: the secret bytes of `msg`, which lies in `base`.
/// NEGOTIATE (2.2.1.1) and CHALLENGE (2.2.1.2) hold none.
fn ntlm(base: &[u8], msg: &[u8], out: &mut Vec<Range<usize>>) -> Option<()> {
    let origin = span(base, msg)?.start;
    if !msg.starts_with(crate::auth::ntlm::SIGNATURE) {
        return None;
    }
    match u32_le(msg, 8)? {
        1 | 2 => return Some(()),
        3 => {}
        _ => return None,
    }
    // 2.2.1.3: LmChallengeResponseFields at 12, NtChallengeResponseFields 20,
    // DomainNameFields 28, UserNameFields 36, WorkstationFields 44,
    // EncryptedRandomSessionKeyFields 52 (absent from Windows 9x-era messages).
    let mut fields = vec![12usize, 20, 28, 36, 44];
    if msg.len() >= 60 {
        fields.push(52);
    }
    let mut buffers = Vec::with_capacity(fields.len());
    for at in fields {
        // 2.2.1.3 security buffer: Len (2), MaxLen (2), BufferOffset (4).
        let len = usize::from(u16::from_le_bytes(
            msg.get(at..at.saturating_add(2))?.try_into().ok()?,
        ));
        let off = usize::try_from(u32_le(msg, at.saturating_add(4))?).ok()?;
        let end = off.checked_add(len)?;
        if end > msg.len() {
            return None;
        }
        buffers.push(off..end);
    }
    let mut push = |r: Range<usize>| out.push(shift(r, origin));
    let (lm, nt) = (buffers.first()?.clone(), buffers.get(1)?.clone());
    push(lm);
    // 2.2.2.8 NTLMv2_RESPONSE: NTProofStr (16) then the client's blob (timestamp, AV pairs),
    // which stays; a 24-byte 2.2.2.6 NTLM_RESPONSE (NTLMv1) is secret whole.
    if nt.len() > 24 {
        push(nt.start..nt.start.saturating_add(16));
    } else {
        push(nt);
    }
    if let Some(key) = buffers.get(5) {
        push(key.clone());
    }
    // VERSION (8) and MIC (16) follow the fields only when the payload starts after them:
    // how src/auth/ntlm tells, and Windows itself. A MIC-sized gap is zeroed whether or not
    // MsvAvFlags announces a MIC.
    let payload = buffers
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.start)
        .min()
        .unwrap_or(msg.len());
    if payload >= 88 && msg.len() >= 88 {
        push(72..88);
    }
    Some(())
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// DER of the object identifiers met here: SPNEGO 1.3.6.1.5.5.2 (RFC 4178), Kerberos 5
/// 1.2.840.113554.1.2.2 (RFC 4121) and Microsoft's 1.2.840.48018.1.2.2 (MS-SPNG).
const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
const OID_MS_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];

// The DER is walked with asn1-rs's `Any` (SPNEGO) and kerberos-parser (Kerberos), as the
// decoders in src/auth do; both borrow every value from the token, so a value's place in
// the token is where its slice points ([`span`]). Only contents are zeroed: every tag and
// length stays, and the DER stays valid.

/// An HTTP Negotiate token (RFC 4559 4): raw NTLMSSP, SPNEGO in the RFC 2743 3.1
/// InitialContextToken wrapper or bare (a later token), or a Kerberos token.
fn negotiate(tok: &[u8], out: &mut Vec<Range<usize>>) -> Option<()> {
    if tok.starts_with(crate::auth::ntlm::SIGNATURE) {
        return ntlm(tok, tok, out);
    }
    match tok.first()? {
        0x60 => {
            let (oid, inner) = gss_wrapper(tok)?;
            if oid == OID_SPNEGO {
                negotiation_token(tok, inner, out)
            } else if oid == OID_KRB5 || oid == OID_MS_KRB5 {
                krb5_token(tok, inner, out)
            } else {
                None
            }
        }
        0xa0 | 0xa1 => negotiation_token(tok, tok, out),
        _ => krb5_token(tok, tok, out),
    }
}

/// RFC 2743 3.1: `[APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, innerContextToken }`:
/// the OID's contents and the inner token.
fn gss_wrapper(tok: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, outer) = Any::from_ber(tok).ok()?;
    if outer.header.class() != Class::Application || outer.header.tag().0 != 0 {
        return None;
    }
    let (inner, oid) = Any::from_ber(outer.data).ok()?;
    (oid.header.tag() == Tag::Oid).then_some((oid.data, inner))
}

/// No SPNEGO sequence has more fields; bounds work on hostile input.
const MAX_FIELDS: usize = 16;

/// RFC 4178 4.2 `NegotiationToken ::= CHOICE { negTokenInit [0], negTokenResp [1] }`:
/// 4.2.1 NegTokenInit (`mechToken [2]`, `mechListMIC [3]`, or `[4]` after MS-SPNG 2.2.1
/// negHints at `[3]`) and 4.2.2 NegTokenResp (`responseToken [2]`, `mechListMIC [3]`).
fn negotiation_token(base: &[u8], i: &[u8], out: &mut Vec<Range<usize>>) -> Option<()> {
    let (_, choice) = Any::from_ber(i).ok()?;
    let init = match (choice.header.class(), choice.header.tag().0) {
        (Class::ContextSpecific, 0) => true,
        (Class::ContextSpecific, 1) => false,
        _ => return None,
    };
    let (_, seq) = Any::from_ber(choice.data).ok()?;
    if seq.header.tag() != Tag::Sequence {
        return None;
    }
    let mut rest = seq.data;
    let mut n = 0usize;
    while !rest.is_empty() {
        n = n.saturating_add(1);
        if n > MAX_FIELDS {
            return None;
        }
        let (r, field) = Any::from_ber(rest).ok()?;
        rest = r;
        if field.header.class() != Class::ContextSpecific {
            return None;
        }
        let (_, inner) = Any::from_ber(field.data).ok()?;
        let octets = inner.header.tag() == Tag::OctetString && inner.header.is_primitive();
        match (field.header.tag().0, init) {
            // mechTypes, reqFlags; negState, supportedMech: no secret.
            (0 | 1, _) => {}
            (2, _) if octets => mech_token(base, inner.data, out)?,
            // NegTokenInit2's negHints (a SEQUENCE): no secret.
            (3, true) if !octets => {}
            (3, _) | (4, true) if octets => {
                out.push(signature(span(base, inner.data)?, inner.data))
            }
            _ => return None,
        }
    }
    Some(())
}

/// The secret part of a mechListMIC at `at` (RFC 4178 5): the mechanism's signature of the
/// mechanism list, whose header stays so that Wireshark still reads it.
fn signature(at: Range<usize>, mic: &[u8]) -> Range<usize> {
    let header = match mic {
        // MS-NLMP 2.2.2.9 NTLMSSP_MESSAGE_SIGNATURE: Version (1), then the checksum (and
        // random pad) and the sequence number.
        [1, 0, 0, 0, ..] if mic.len() == 16 => 4,
        // RFC 4121 4.2.6.1 MIC token: TOK_ID 04 04, Flags, Filler, SND_SEQ, then SGN_CKSUM.
        [4, 4, ..] if mic.len() > 16 => 16,
        // RFC 1964 1.2.1: TOK_ID 01 01, SGN_ALG, Filler, then the encrypted SND_SEQ and
        // SGN_CKSUM.
        [1, 1, ..] if mic.len() > 8 => 8,
        _ => 0,
    };
    at.start.saturating_add(header).min(at.end)..at.end
}

/// A mechanism token inside SPNEGO, told by its first bytes: NTLMSSP or Kerberos. Any
/// other (NEGOEX, ...) is not understood.
fn mech_token(base: &[u8], tok: &[u8], out: &mut Vec<Range<usize>>) -> Option<()> {
    if tok.starts_with(crate::auth::ntlm::SIGNATURE) {
        return ntlm(base, tok, out);
    }
    if tok.first() == Some(&0x60) {
        let (oid, inner) = gss_wrapper(tok)?;
        return (oid == OID_KRB5 || oid == OID_MS_KRB5)
            .then(|| krb5_token(base, inner, out))
            .flatten();
    }
    krb5_token(base, tok, out)
}

/// RFC 4121 4.1: TOK_ID (2 bytes: 01 00 AP-REQ, 02 00 AP-REP, 03 00 KRB-ERROR) then the
/// message; some clients send the message alone.
fn krb5_token(base: &[u8], inner: &[u8], out: &mut Vec<Range<usize>>) -> Option<()> {
    let msg = match inner.first()? {
        0x6e | 0x6f | 0x7e => inner,
        _ => inner.get(2..)?,
    };
    match msg.first()? {
        // RFC 4120 5.5.1 AP-REQ: the ticket's enc-part (5.3) and the authenticator.
        0x6e => {
            let (_, r) = krb5::ApReq::from_der(msg).ok()?;
            out.push(span(base, r.ticket.enc_part.cipher)?);
            out.push(span(base, r.authenticator.cipher)?);
        }
        // 5.5.2 AP-REP: enc-part.
        0x6f => {
            let (_, r) = krb5::ApRep::from_der(msg).ok()?;
            out.push(span(base, r.enc_part.cipher)?);
        }
        // 5.9.1 KRB-ERROR: nothing encrypted.
        0x7e => {
            krb5::KrbError::from_der(msg).ok()?;
        }
        _ => return None,
    }
    Some(())
}

/// Where `part`, which a parser borrowed from `base`, lies in it.
fn span(base: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= base.len()).then_some(start..end)
}

/// RFC 9110 11.2: `token68`, the whole of `s`.
fn token68(s: &[u8]) -> Option<&[u8]> {
    let body = s.iter().position(|&b| !is_token68(b)).unwrap_or(s.len());
    let pad = s.get(body..)?;
    (body > 0 && pad.iter().all(|&b| b == b'=')).then_some(s)
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// RFC 9110 5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The end of the run of bytes from `at` (before `end`) that `f` accepts.
fn take(line: &[u8], at: usize, end: usize, f: fn(u8) -> bool) -> usize {
    let mut i = at;
    while i < end && line.get(i).is_some_and(|&b| f(b)) {
        i = i.saturating_add(1);
    }
    i
}

/// Past the spaces and tabs from `at`.
fn ows(line: &[u8], at: usize) -> usize {
    take(line, at, line.len(), |b| b == b' ' || b == b'\t')
}

fn shift(r: Range<usize>, by: usize) -> Range<usize> {
    r.start.saturating_add(by)..r.end.saturating_add(by)
}

fn star(out: &mut [u8], r: Range<usize>) {
    if let Some(s) = out.get_mut(r) {
        s.fill(b'*');
    }
}

/// Writes `text` over `out` from `at`, if it fits exactly where it was.
fn put(out: &mut [u8], at: usize, text: &str) -> Option<()> {
    out.get_mut(at..at.checked_add(text.len())?)?
        .copy_from_slice(text.as_bytes());
    Some(())
}

#[cfg(test)]
mod tests;
