//! Kerberos messages between a client and its KDC (RFC 4120 5.4.1 KDC-REQ, 5.4.2 KDC-REP,
//! 5.9.1 KRB-ERROR), decoded with kerberos-parser into owned values.

use crate::auth::kerberos::{EncType, KrbErrorCode, PrincipalName};
use crate::auth::secret::{EachSecret, RevealSecrets, Secret};
use asn1_rs::FromDer as _;
use kerberos_parser::krb5;
use serde::Serialize;

/// The message types a KDC exchange carries (RFC 4120 5.10 APPLICATION tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KdcKind {
    AsReq,
    AsRep,
    TgsReq,
    TgsRep,
    KrbError,
}

impl KdcKind {
    pub fn name(self) -> &'static str {
        match self {
            KdcKind::AsReq => "AS-REQ",
            KdcKind::AsRep => "AS-REP",
            KdcKind::TgsReq => "TGS-REQ",
            KdcKind::TgsRep => "TGS-REP",
            KdcKind::KrbError => "KRB-ERROR",
        }
    }

    /// Sent by the client (a request), not the KDC.
    pub fn is_request(self) -> bool {
        matches!(self, KdcKind::AsReq | KdcKind::TgsReq)
    }
}

/// One KDC message, as much of it as travels in clear.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KdcMessage {
    pub kind: KdcKind,
    /// The client's realm: the request body's realm for an AS-REQ, crealm for a reply or an
    /// error that names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crealm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cname: Option<PrincipalName>,
    /// The realm of the service: the request body's, the ticket's, the error's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// The service asked for (request), the ticket's (reply) or the error's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sname: Option<PrincipalName>,
    /// Encryption types the client offered, in its order of preference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub etypes: Vec<EncType>,
    /// KDCOptions' first 32 bits, bit 0 most significant (RFC 4120 5.4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kdc_options: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kdc_option_names: Vec<&'static str>,
    /// PA-DATA types, in order (IANA Kerberos pre-authentication registry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub padata: Vec<i32>,
    /// Tickets the request carries besides its TGT (S4U2proxy's evidence ticket, user to user).
    #[serde(skip_serializing_if = "is_zero")]
    pub additional_tickets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u32>,
    /// The ticket a reply carries: its encryption type and key version, and its cipher text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_etype: Option<EncType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_kvno: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_cipher: Option<Secret<Vec<u8>>>,
    /// A reply's enc-part (the session key is inside): its encryption type is the key the
    /// client's reply is sealed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enc_part_etype: Option<EncType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enc_part_kvno: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enc_part_cipher: Option<Secret<Vec<u8>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<KrbErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etext: Option<String>,
    /// The KDC's time in a KRB-ERROR (`YYYYMMDDHHMMSSZ`), and its microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub susec: Option<u32>,
    /// `stime` in nanoseconds since 1970 (Kerberos times are UTC, RFC 4120 5.2.3), to compare
    /// with the capture's clock.
    #[serde(skip)]
    pub stime_ns: Option<i64>,
    /// The client's time, when the error echoes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctime: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RevealSecrets for KdcMessage {
    fn each_secret(&mut self, f: &mut EachSecret<'_>) {
        if let Some(s) = self.ticket_cipher.as_mut() {
            s.each_secret(f);
        }
        if let Some(s) = self.enc_part_cipher.as_mut() {
            s.each_secret(f);
        }
    }
}

/// KDCOptions flag names (RFC 4120 5.4.1; bit 14 is MS-SFU's cname-in-addl-tkt, 15
/// RFC 6806's canonicalize).
const KDC_OPTIONS: [(u32, &str); 14] = [
    (1, "forwardable"),
    (2, "forwarded"),
    (3, "proxiable"),
    (4, "proxy"),
    (5, "allow-postdate"),
    (6, "postdated"),
    (8, "renewable"),
    (14, "cname-in-addl-tkt"),
    (15, "canonicalize"),
    (16, "request-anonymous"),
    (26, "disable-transited-check"),
    (27, "renewable-ok"),
    (28, "enc-tkt-in-skey"),
    (30, "renew"),
];

/// The name of a PA-DATA type (IANA registry; 129 and 130 are MS-SFU's S4U2self).
pub fn padata_name(t: i32) -> &'static str {
    match t {
        1 => "PA-TGS-REQ",
        2 => "PA-ENC-TIMESTAMP",
        3 => "PA-PW-SALT",
        11 => "PA-ETYPE-INFO",
        16 => "PA-PK-AS-REQ",
        17 => "PA-PK-AS-REP",
        19 => "PA-ETYPE-INFO2",
        128 => "PA-PAC-REQUEST",
        129 => "PA-FOR-USER",
        130 => "PA-FOR-X509-USER",
        133 => "PA-FX-COOKIE",
        136 => "PA-FX-FAST",
        137 => "PA-FX-ERROR",
        138 => "PA-ENCRYPTED-CHALLENGE",
        149 => "PA-REQ-ENC-PA-REP",
        150 => "PA-AS-FRESHNESS",
        165 => "PA-SUPPORTED-ENCTYPES",
        167 => "PA-PAC-OPTIONS",
        _ => "PA-unknown",
    }
}

fn option_names(bits: u32) -> Vec<&'static str> {
    KDC_OPTIONS
        .iter()
        .filter(|(bit, _)| bits & (0x8000_0000 >> bit) != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn flags(data: &[u8]) -> u32 {
    data.iter()
        .take(4)
        .enumerate()
        .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (24 - 8 * i))
}

fn time(t: &asn1_rs::GeneralizedTime) -> String {
    t.0.to_string()
}

/// Days since 1970-01-01 of a civil date (the proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn unix_ns(t: &asn1_rs::ASN1DateTime, usec: u32) -> Option<i64> {
    if !(1..=12).contains(&t.month) || !(1..=31).contains(&t.day) || t.year > 9999 {
        return None;
    }
    let days = days_from_civil(i64::from(t.year), i64::from(t.month), i64::from(t.day));
    let secs =
        days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    secs.checked_mul(1_000_000_000)?
        .checked_add(i64::from(usec.min(999_999)) * 1000)
}

fn empty(kind: KdcKind) -> KdcMessage {
    KdcMessage {
        kind,
        crealm: None,
        cname: None,
        realm: None,
        sname: None,
        etypes: Vec::new(),
        kdc_options: None,
        kdc_option_names: Vec::new(),
        padata: Vec::new(),
        additional_tickets: 0,
        nonce: None,
        ticket_etype: None,
        ticket_kvno: None,
        ticket_cipher: None,
        enc_part_etype: None,
        enc_part_kvno: None,
        enc_part_cipher: None,
        error_code: None,
        etext: None,
        stime: None,
        susec: None,
        stime_ns: None,
        ctime: None,
    }
}

/// The PA-DATA a list may hold at most (a longer list is cut, as a longer etype list).
const MAX_LIST: usize = 64;

fn request(kind: KdcKind, r: &krb5::KdcReq<'_>) -> KdcMessage {
    let b = &r.req_body;
    let bits = flags(&b.kdc_options.data);
    let mut m = empty(kind);
    m.cname = b.cname.as_ref().map(PrincipalName::from);
    if kind == KdcKind::AsReq {
        m.crealm = Some(b.realm.0.clone());
    }
    m.realm = Some(b.realm.0.clone());
    m.sname = b.sname.as_ref().map(PrincipalName::from);
    m.etypes = b
        .etype
        .iter()
        .take(MAX_LIST)
        .map(|e| EncType::from(e.0))
        .collect();
    m.kdc_options = Some(bits);
    m.kdc_option_names = option_names(bits);
    m.padata = r
        .padata
        .iter()
        .take(MAX_LIST)
        .map(|p| p.padata_type.0)
        .collect();
    m.additional_tickets = b.additional_tickets.len();
    m.nonce = Some(b.nonce);
    m
}

fn reply(kind: KdcKind, r: &krb5::KdcRep<'_>) -> KdcMessage {
    let mut m = empty(kind);
    m.crealm = Some(r.crealm.0.clone());
    m.cname = Some(PrincipalName::from(&r.cname));
    m.realm = Some(r.ticket.realm.0.clone());
    m.sname = Some(PrincipalName::from(&r.ticket.sname));
    m.padata = r
        .padata
        .iter()
        .take(MAX_LIST)
        .map(|p| p.padata_type.0)
        .collect();
    m.ticket_etype = Some(EncType::from(r.ticket.enc_part.etype.0));
    m.ticket_kvno = r.ticket.enc_part.kvno;
    m.ticket_cipher = Some(Secret::new(r.ticket.enc_part.cipher.to_vec()));
    m.enc_part_etype = Some(EncType::from(r.enc_part.etype.0));
    m.enc_part_kvno = r.enc_part.kvno;
    m.enc_part_cipher = Some(Secret::new(r.enc_part.cipher.to_vec()));
    m
}

fn error(e: &krb5::KrbError<'_>) -> KdcMessage {
    let mut m = empty(KdcKind::KrbError);
    m.crealm = e.crealm.as_ref().map(|r| r.0.clone());
    m.cname = e.cname.as_ref().map(PrincipalName::from);
    m.realm = Some(e.realm.0.clone());
    m.sname = Some(PrincipalName::from(&e.sname));
    m.error_code = Some(KrbErrorCode::from(e.error_code.0));
    m.etext = e.etext.clone();
    m.stime = Some(time(&e.stime));
    m.susec = Some(e.susec);
    m.stime_ns = unix_ns(&e.stime.0, e.susec);
    m.ctime = e.ctime.as_ref().map(time);
    m
}

/// Decodes one KDC message by its APPLICATION tag (RFC 4120 5.10: 10 AS-REQ, 11 AS-REP,
/// 12 TGS-REQ, 13 TGS-REP, 30 KRB-ERROR). The error says what was read and where it broke.
/// The entry point for fuzzing.
pub fn decode(bytes: &[u8]) -> Result<KdcMessage, String> {
    match bytes.first() {
        Some(0x6a) => kerberos_parser::krb5_parser::parse_as_req(bytes)
            .map(|(_, r)| request(KdcKind::AsReq, &r))
            .map_err(broke("AS-REQ")),
        Some(0x6b) => kerberos_parser::krb5_parser::parse_as_rep(bytes)
            .map(|(_, r)| reply(KdcKind::AsRep, &r))
            .map_err(broke("AS-REP")),
        Some(0x6c) => kerberos_parser::krb5_parser::parse_tgs_req(bytes)
            .map(|(_, r)| request(KdcKind::TgsReq, &r))
            .map_err(broke("TGS-REQ")),
        Some(0x6d) => kerberos_parser::krb5_parser::parse_tgs_rep(bytes)
            .map(|(_, r)| reply(KdcKind::TgsRep, &r))
            .map_err(broke("TGS-REP")),
        Some(0x7e) => krb5::KrbError::from_der(bytes)
            .map(|(_, e)| error(&e))
            .map_err(broke("KRB-ERROR")),
        Some(b) => Err(format!(
            "first byte 0x{b:02x} is no KDC message tag (AS-REQ 0x6a to TGS-REP 0x6d, KRB-ERROR 0x7e)"
        )),
        None => Err("empty message".to_owned()),
    }
}

fn broke<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what} does not decode: {e:?}")
}

/// Where the secrets of a KDC message lie in `bytes`: the cipher text of every EncryptedData
/// (RFC 4120 5.2.9) in it, at any depth: tickets, reply parts, authenticators, encrypted
/// timestamps, authorization data, and those inside PA-DATA (the AP-REQ of PA-TGS-REQ, the
/// armor and encrypted request of PA-FX-FAST, RFC 6113 5.4.2), so that a slice of the capture
/// can zero them and keep every tag, length, name and etype. `None` when the message does
/// not decode: mask it whole.
pub fn secret_ranges(bytes: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    decode(bytes).ok()?;
    let mut out = Vec::new();
    let mut budget = 4096u32;
    encrypted_data(bytes, 0, 0, &mut budget, &mut out);
    Some(out)
}

/// One DER TLV at the start of `b`: (tag byte, header length, content length).
fn tlv(b: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *b.first()?;
    // Multi-byte tag numbers do not occur in Kerberos (RFC 4120 5.10).
    if tag & 0x1F == 0x1F {
        return None;
    }
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return None;
    }
    let len = b
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &x| acc << 8 | usize::from(x));
    Some((tag, 2 + n, len))
}

/// The TLVs one after another in `b`: (tag, start of content, content) relative to `b`.
fn children(b: &[u8]) -> Option<Vec<(u8, usize, &[u8])>> {
    let mut v = Vec::new();
    let mut at = 0usize;
    while at < b.len() {
        let (tag, head, len) = tlv(b.get(at..)?)?;
        let start = at.checked_add(head)?;
        let end = start.checked_add(len)?;
        v.push((tag, start, b.get(start..end)?));
        at = end;
        if v.len() > 256 {
            return None;
        }
    }
    Some(v)
}

/// Finds the EncryptedData SEQUENCEs (`[0] etype, [1] kvno OPTIONAL, [2] cipher OCTET
/// STRING`) in `b`, which starts at `base` in the message, and descends into every
/// constructed value and every OCTET STRING that holds DER (PA-DATA values).
fn encrypted_data(
    b: &[u8],
    base: usize,
    depth: u8,
    budget: &mut u32,
    out: &mut Vec<std::ops::Range<usize>>,
) {
    if depth > 24 || *budget == 0 {
        return;
    }
    *budget -= 1;
    let Some(items) = children(b) else {
        return;
    };
    for (tag, start, content) in items {
        let at = base.saturating_add(start);
        if tag == 0x30 {
            if let Some(r) = cipher_of(content, at) {
                out.push(r);
                continue;
            }
        }
        if tag & 0x20 != 0 || (tag == 0x04 && content.first().is_some_and(|t| t & 0x20 != 0)) {
            encrypted_data(content, at, depth + 1, budget, out);
        }
    }
}

/// The cipher text of an EncryptedData SEQUENCE's content, if it is one.
fn cipher_of(content: &[u8], base: usize) -> Option<std::ops::Range<usize>> {
    let items = children(content)?;
    let tags: Vec<u8> = items.iter().map(|(t, _, _)| *t).collect();
    let inner = |i: usize| {
        items
            .get(i)
            .and_then(|(_, _, c)| tlv(c).map(|(t, h, _)| (t, h)))
    };
    let int = |i: usize| inner(i).is_some_and(|(t, _)| t == 0x02);
    let cipher = match tags.as_slice() {
        [0xA0, 0xA2] if int(0) => 1,
        [0xA0, 0xA1, 0xA2] if int(0) && int(1) => 2,
        _ => return None,
    };
    let (_, start, c) = items.get(cipher)?;
    let (t, head) = inner(cipher)?;
    if t != 0x04 {
        return None;
    }
    let from = base.checked_add(*start)?.checked_add(head)?;
    let to = base.checked_add(*start)?.checked_add(c.len())?;
    Some(from..to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_from_the_most_significant_bit() {
        // forwardable (1), renewable (8), canonicalize (15), renewable-ok (27)
        let bits = flags(&[0x40, 0x81, 0x00, 0x10]);
        assert_eq!(
            option_names(bits),
            ["forwardable", "renewable", "canonicalize", "renewable-ok"]
        );
    }

    #[test]
    fn kerberos_times_count_from_1970() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[0x6a],
            &[0x6c, 0x82, 0xff],
            &[0x7e, 0x03, 0x30, 0x01, 0x00],
            &[0x01],
        ] {
            assert!(decode(bytes).is_err());
        }
    }
}
