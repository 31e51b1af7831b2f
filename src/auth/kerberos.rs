//! Kerberos messages seen in HTTP Negotiate (RFC 4120 5.5.1 AP-REQ, 5.5.2 AP-REP,
//! 5.9.1 KRB-ERROR) and their GSS-API framing (RFC 4121 4.1: token id before the message).
//!
//! The DER work is rusticata's kerberos-parser; its borrowed structures are converted to
//! our own owned types so that no parser type leaks out of this module.

use crate::auth::error::{DecodeError, ErrorKind};
use crate::auth::secret::{RevealSecrets, Secret};
use crate::auth::util::open_enum;
use asn1_rs::FromDer as _;
use kerberos_parser::krb5;
use serde::Serialize;
use std::fmt;

open_enum! {
    /// Encryption types (RFC 3961 8, RFC 3962, RFC 4757, RFC 8009; IANA registry).
    pub enum EncType: i32 {
        DesCbcCrc = 1 => "des-cbc-crc",
        DesCbcMd4 = 2 => "des-cbc-md4",
        DesCbcMd5 = 3 => "des-cbc-md5",
        Des3CbcMd5 = 5 => "des3-cbc-md5",
        Des3CbcSha1 = 7 => "des3-cbc-sha1",
        Des3CbcSha1Kd = 16 => "des3-cbc-sha1-kd",
        Aes128CtsHmacSha196 = 17 => "aes128-cts-hmac-sha1-96",
        Aes256CtsHmacSha196 = 18 => "aes256-cts-hmac-sha1-96",
        Aes128CtsHmacSha256128 = 19 => "aes128-cts-hmac-sha256-128",
        Aes256CtsHmacSha384192 = 20 => "aes256-cts-hmac-sha384-192",
        Rc4Hmac = 23 => "rc4-hmac",
        Rc4HmacExp = 24 => "rc4-hmac-exp",
        Camellia128CtsCmac = 25 => "camellia128-cts-cmac",
        Camellia256CtsCmac = 26 => "camellia256-cts-cmac",
        Rc4Md4 = -128 => "rc4-md4",
        Rc4HmacOld = -133 => "rc4-hmac-old",
    }
}

open_enum! {
    /// KRB-ERROR error-code (RFC 4120 7.5.9, RFC 6113 and RFC 4556 additions).
    pub enum KrbErrorCode: i32 {
        None = 0 => "KDC_ERR_NONE",
        NameExp = 1 => "KDC_ERR_NAME_EXP",
        ServiceExp = 2 => "KDC_ERR_SERVICE_EXP",
        BadPvno = 3 => "KDC_ERR_BAD_PVNO",
        COldMastKvno = 4 => "KDC_ERR_C_OLD_MAST_KVNO",
        SOldMastKvno = 5 => "KDC_ERR_S_OLD_MAST_KVNO",
        CPrincipalUnknown = 6 => "KDC_ERR_C_PRINCIPAL_UNKNOWN",
        SPrincipalUnknown = 7 => "KDC_ERR_S_PRINCIPAL_UNKNOWN",
        PrincipalNotUnique = 8 => "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
        NullKey = 9 => "KDC_ERR_NULL_KEY",
        CannotPostdate = 10 => "KDC_ERR_CANNOT_POSTDATE",
        NeverValid = 11 => "KDC_ERR_NEVER_VALID",
        Policy = 12 => "KDC_ERR_POLICY",
        BadOption = 13 => "KDC_ERR_BADOPTION",
        EtypeNosupp = 14 => "KDC_ERR_ETYPE_NOSUPP",
        SumtypeNosupp = 15 => "KDC_ERR_SUMTYPE_NOSUPP",
        PadataTypeNosupp = 16 => "KDC_ERR_PADATA_TYPE_NOSUPP",
        TrtypeNosupp = 17 => "KDC_ERR_TRTYPE_NOSUPP",
        ClientRevoked = 18 => "KDC_ERR_CLIENT_REVOKED",
        ServiceRevoked = 19 => "KDC_ERR_SERVICE_REVOKED",
        TgtRevoked = 20 => "KDC_ERR_TGT_REVOKED",
        ClientNotyet = 21 => "KDC_ERR_CLIENT_NOTYET",
        ServiceNotyet = 22 => "KDC_ERR_SERVICE_NOTYET",
        KeyExpired = 23 => "KDC_ERR_KEY_EXPIRED",
        PreauthFailed = 24 => "KDC_ERR_PREAUTH_FAILED",
        PreauthRequired = 25 => "KDC_ERR_PREAUTH_REQUIRED",
        ServerNomatch = 26 => "KDC_ERR_SERVER_NOMATCH",
        MustUseUser2user = 27 => "KDC_ERR_MUST_USE_USER2USER",
        PathNotAccepted = 28 => "KDC_ERR_PATH_NOT_ACCEPTED",
        SvcUnavailable = 29 => "KDC_ERR_SVC_UNAVAILABLE",
        BadIntegrity = 31 => "KRB_AP_ERR_BAD_INTEGRITY",
        TktExpired = 32 => "KRB_AP_ERR_TKT_EXPIRED",
        TktNyv = 33 => "KRB_AP_ERR_TKT_NYV",
        Repeat = 34 => "KRB_AP_ERR_REPEAT",
        NotUs = 35 => "KRB_AP_ERR_NOT_US",
        Badmatch = 36 => "KRB_AP_ERR_BADMATCH",
        Skew = 37 => "KRB_AP_ERR_SKEW",
        Badaddr = 38 => "KRB_AP_ERR_BADADDR",
        Badversion = 39 => "KRB_AP_ERR_BADVERSION",
        MsgType = 40 => "KRB_AP_ERR_MSG_TYPE",
        Modified = 41 => "KRB_AP_ERR_MODIFIED",
        Badorder = 42 => "KRB_AP_ERR_BADORDER",
        Badkeyver = 44 => "KRB_AP_ERR_BADKEYVER",
        Nokey = 45 => "KRB_AP_ERR_NOKEY",
        MutFail = 46 => "KRB_AP_ERR_MUT_FAIL",
        Baddirection = 47 => "KRB_AP_ERR_BADDIRECTION",
        Method = 48 => "KRB_AP_ERR_METHOD",
        Badseq = 49 => "KRB_AP_ERR_BADSEQ",
        InappCksum = 50 => "KRB_AP_ERR_INAPP_CKSUM",
        ApPathNotAccepted = 51 => "KRB_AP_PATH_NOT_ACCEPTED",
        ResponseTooBig = 52 => "KRB_ERR_RESPONSE_TOO_BIG",
        Generic = 60 => "KRB_ERR_GENERIC",
        FieldToolong = 61 => "KRB_ERR_FIELD_TOOLONG",
        ClientNotTrusted = 62 => "KDC_ERROR_CLIENT_NOT_TRUSTED",
        KdcNotTrusted = 63 => "KDC_ERROR_KDC_NOT_TRUSTED",
        InvalidSig = 64 => "KDC_ERROR_INVALID_SIG",
        KeyTooWeak = 65 => "KDC_ERR_KEY_TOO_WEAK",
        CertificateMismatch = 66 => "KDC_ERR_CERTIFICATE_MISMATCH",
        NoTgt = 67 => "KRB_AP_ERR_NO_TGT",
        WrongRealm = 68 => "KDC_ERR_WRONG_REALM",
        UserToUserRequired = 69 => "KRB_AP_ERR_USER_TO_USER_REQUIRED",
        CantVerifyCertificate = 70 => "KDC_ERR_CANT_VERIFY_CERTIFICATE",
        InvalidCertificate = 71 => "KDC_ERR_INVALID_CERTIFICATE",
        RevokedCertificate = 72 => "KDC_ERR_REVOKED_CERTIFICATE",
        RevocationStatusUnknown = 73 => "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
        RevocationStatusUnavailable = 74 => "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE",
        ClientNameMismatch = 75 => "KDC_ERR_CLIENT_NAME_MISMATCH",
        KdcNameMismatch = 76 => "KDC_ERR_KDC_NAME_MISMATCH",
        PreauthExpired = 90 => "KDC_ERR_PREAUTH_EXPIRED",
        MorePreauthDataRequired = 91 => "KDC_ERR_MORE_PREAUTH_DATA_REQUIRED",
        UnknownCriticalFastOptions = 93 => "KDC_ERR_UNKNOWN_CRITICAL_FAST_OPTIONS",
    }
}

/// RFC 4120 5.2.2 PrincipalName.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalName {
    pub name_type: i32,
    pub components: Vec<String>,
}

impl fmt::Display for PrincipalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.components.join("/"))
    }
}

impl From<&krb5::PrincipalName> for PrincipalName {
    fn from(p: &krb5::PrincipalName) -> Self {
        Self {
            name_type: p.name_type.0,
            components: p.name_string.clone(),
        }
    }
}

/// RFC 4120 5.5.1 APOptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApOptions {
    /// The first 32 bits, bit 0 most significant as in the RFC.
    pub bits: u32,
    pub use_session_key: bool,
    /// Client asks for mutual authentication: expect an AP-REP in the final 200.
    pub mutual_required: bool,
}

/// RFC 4120 5.5.1 KRB_AP_REQ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApReq {
    pub pvno: u32,
    pub ap_options: ApOptions,
    /// Ticket tkt-vno (5).
    pub ticket_vno: u32,
    /// Ticket realm.
    pub realm: String,
    /// Ticket sname: the service the client believes runs the site.
    pub sname: PrincipalName,
    /// sname as `service/host` (e.g. `HTTP/www.example.com`).
    pub spn: String,
    pub ticket_etype: EncType,
    pub ticket_kvno: Option<u32>,
    pub ticket_cipher: Secret<Vec<u8>>,
    pub authenticator_etype: EncType,
    pub authenticator_kvno: Option<u32>,
    pub authenticator_cipher: Secret<Vec<u8>>,
}

/// RFC 4120 5.5.2 KRB_AP_REP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApRep {
    pub pvno: u32,
    pub etype: EncType,
    pub kvno: Option<u32>,
    pub cipher: Secret<Vec<u8>>,
}

/// RFC 4120 5.9.1 KRB_ERROR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KrbError {
    pub pvno: u32,
    pub error_code: KrbErrorCode,
    /// Server time (KRB_AP_ERR_SKEW is judged against it), `YYYYMMDDHHMMSSZ`.
    pub stime: String,
    pub susec: u32,
    pub ctime: Option<String>,
    pub cusec: Option<u32>,
    pub crealm: Option<String>,
    pub cname: Option<PrincipalName>,
    pub realm: String,
    pub sname: PrincipalName,
    pub etext: Option<String>,
    pub edata_len: Option<usize>,
}

/// A Kerberos message that can ride in an HTTP Negotiate header.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "message", rename_all = "snake_case")]
pub enum KerberosMessage {
    ApReq(ApReq),
    ApRep(ApRep),
    KrbError(KrbError),
}

/// A Kerberos mechanism token (RFC 4121 4.1), with or without the GSS-API wrapper.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KerberosToken {
    /// Inside the RFC 2743 3.1 initial-context wrapper (0x60, krb5 OID).
    pub gss_wrapped: bool,
    /// RFC 4121 4.1 TOK_ID: 0x0100 AP-REQ, 0x0200 AP-REP, 0x0300 KRB-ERROR.
    pub tok_id: Option<u16>,
    pub message: KerberosMessage,
}

impl RevealSecrets for KerberosMessage {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        match self {
            Self::ApReq(r) => {
                r.ticket_cipher.each_secret(f);
                r.authenticator_cipher.each_secret(f);
            }
            Self::ApRep(r) => r.cipher.each_secret(f),
            Self::KrbError(_) => {}
        }
    }
}

impl RevealSecrets for KerberosToken {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        self.message.each_secret(f);
    }
}

fn asn1_error<E: fmt::Debug>(field: &'static str, offset: usize) -> impl FnOnce(E) -> DecodeError {
    move |e| {
        DecodeError::new(
            ErrorKind::Asn1 {
                detail: format!("{e:?}"),
            },
            field,
            offset,
        )
    }
}

fn time(t: &asn1_rs::GeneralizedTime) -> String {
    t.0.to_string()
}

/// Decodes a bare Kerberos message by its APPLICATION tag (RFC 4120 5.10): 14 AP-REQ,
/// 15 AP-REP, 30 KRB-ERROR. This is the entry point for fuzzing.
pub fn parse(bytes: &[u8]) -> Result<KerberosMessage, DecodeError> {
    match bytes.first() {
        // [APPLICATION 14] constructed
        Some(0x6e) => {
            let (_, r) = krb5::ApReq::from_der(bytes).map_err(asn1_error("AP-REQ", 0))?;
            let bits = r
                .ap_options
                .data
                .iter()
                .take(4)
                .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
            let sname = PrincipalName::from(&r.ticket.sname);
            Ok(KerberosMessage::ApReq(ApReq {
                pvno: r.pvno,
                ap_options: ApOptions {
                    bits,
                    use_session_key: bits & 0x4000_0000 != 0,
                    mutual_required: bits & 0x2000_0000 != 0,
                },
                ticket_vno: r.ticket.tkt_vno,
                realm: r.ticket.realm.0.clone(),
                spn: sname.to_string(),
                sname,
                ticket_etype: EncType::from(r.ticket.enc_part.etype.0),
                ticket_kvno: r.ticket.enc_part.kvno,
                ticket_cipher: Secret::new(r.ticket.enc_part.cipher.to_vec()),
                authenticator_etype: EncType::from(r.authenticator.etype.0),
                authenticator_kvno: r.authenticator.kvno,
                authenticator_cipher: Secret::new(r.authenticator.cipher.to_vec()),
            }))
        }
        // [APPLICATION 15]
        Some(0x6f) => {
            let (_, r) = krb5::ApRep::from_der(bytes).map_err(asn1_error("AP-REP", 0))?;
            Ok(KerberosMessage::ApRep(ApRep {
                pvno: r.pvno,
                etype: EncType::from(r.enc_part.etype.0),
                kvno: r.enc_part.kvno,
                cipher: Secret::new(r.enc_part.cipher.to_vec()),
            }))
        }
        // [APPLICATION 30]
        Some(0x7e) => {
            let (_, e) = krb5::KrbError::from_der(bytes).map_err(asn1_error("KRB-ERROR", 0))?;
            Ok(KerberosMessage::KrbError(KrbError {
                pvno: e.pvno,
                error_code: KrbErrorCode::from(e.error_code.0),
                stime: time(&e.stime),
                susec: e.susec,
                ctime: e.ctime.as_ref().map(time),
                cusec: e.cusec,
                crealm: e.crealm.as_ref().map(|r| r.0.clone()),
                cname: e.cname.as_ref().map(PrincipalName::from),
                realm: e.realm.0.clone(),
                sname: PrincipalName::from(&e.sname),
                etext: e.etext.clone(),
                edata_len: e.edata.map(<[u8]>::len),
            }))
        }
        Some(&b) => Err(DecodeError::new(
            ErrorKind::UnexpectedTag {
                expected: "AP-REQ (0x6e), AP-REP (0x6f) or KRB-ERROR (0x7e)",
                found: format!("0x{b:02x}"),
            },
            "Kerberos message",
            0,
        )),
        None => Err(DecodeError::truncated("Kerberos message", 0)),
    }
}

/// RFC 4121 4.1: the krb5 mechanism token inside the GSS-API framing: TOK_ID (2 bytes,
/// big-endian) then the message. `inner` is what follows the mechanism OID.
pub fn parse_mech_inner(inner: &[u8], gss_wrapped: bool) -> Result<KerberosToken, DecodeError> {
    // Some clients put the bare message without TOK_ID; accept it.
    if matches!(inner.first(), Some(0x6e | 0x6f | 0x7e)) {
        return Ok(KerberosToken {
            gss_wrapped,
            tok_id: None,
            message: parse(inner)?,
        });
    }
    let (Some(id), Some(msg)) = (inner.get(..2), inner.get(2..)) else {
        return Err(DecodeError::truncated("TOK_ID", 0));
    };
    let tok_id = id.iter().fold(0u16, |acc, &b| (acc << 8) | u16::from(b));
    let message = parse(msg).map_err(|mut e| {
        e.offset = e.offset.saturating_add(2);
        e
    })?;
    Ok(KerberosToken {
        gss_wrapped,
        tok_id: Some(tok_id),
        message,
    })
}

impl KerberosMessage {
    /// e.g. `Kerberos AP-REQ HTTP/www.example.com@EXAMPLE.COM, ticket rc4-hmac kvno 2, mutual`.
    pub fn summary(&self) -> String {
        match self {
            Self::ApReq(r) => {
                let mut s = format!(
                    "Kerberos AP-REQ {}@{}, ticket {}",
                    r.spn, r.realm, r.ticket_etype
                );
                if let Some(k) = r.ticket_kvno {
                    s.push_str(&format!(" kvno {k}"));
                }
                if r.ap_options.mutual_required {
                    s.push_str(", mutual");
                }
                s
            }
            Self::ApRep(r) => format!("Kerberos AP-REP ({})", r.etype),
            Self::KrbError(e) => {
                let mut s = format!(
                    "Kerberos KRB-ERROR {} ({}) for {}@{}",
                    e.error_code,
                    e.error_code.value(),
                    e.sname,
                    e.realm
                );
                if let Some(t) = &e.etext {
                    s.push_str(&format!(": {t}"));
                }
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn krb_error_from_kdc_capture() {
        // http-negotiate-kerberos-iis-with-kdc.pcap frame 30 (TCP 88, record mark removed):
        // tshark: kerberos.msg_type 30, error_code 13, realm DENYDC.COM, sname host/upwin2003.denydc.com.
        let hex = include_str!("../../tests/fixtures/auth/krb-error-badoption.hex");
        let bytes = unhex(hex);
        let Ok(KerberosMessage::KrbError(e)) = parse(&bytes) else {
            panic!("not a KRB-ERROR: {:?}", parse(&bytes))
        };
        assert_eq!(e.error_code, KrbErrorCode::BadOption);
        assert_eq!(e.realm, "DENYDC.COM");
        assert_eq!(e.sname.to_string(), "host/upwin2003.denydc.com");
        assert_eq!(
            KerberosMessage::KrbError(e).summary(),
            "Kerberos KRB-ERROR KDC_ERR_BADOPTION (13) for host/upwin2003.denydc.com@DENYDC.COM"
        );
    }

    #[test]
    fn krb_error_response_too_big() {
        // kerberos-krb-error-response-too-big.pcap frame 2 (UDP): tshark error_code 52.
        let bytes = unhex(include_str!(
            "../../tests/fixtures/auth/krb-error-response-too-big.hex"
        ));
        let Ok(KerberosMessage::KrbError(e)) = parse(&bytes) else {
            panic!("not a KRB-ERROR")
        };
        assert_eq!(e.error_code, KrbErrorCode::ResponseTooBig);
        assert_eq!(e.realm, "LINUX.SHELL.COM");
        assert_eq!(e.sname.to_string(), "krbtgt/LINUX.SHELL.COM");
        assert_eq!(e.stime, "20220222074604Z");
    }

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
        (0..s.len() / 2)
            .filter_map(|i| u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok())
            .collect()
    }

    #[test]
    fn wrong_tag_and_truncation() {
        assert!(matches!(
            parse(&[0x30, 0]).err().map(|e| e.kind),
            Some(ErrorKind::UnexpectedTag { .. })
        ));
        assert_eq!(parse(&[]).err().map(|e| e.kind), Some(ErrorKind::Truncated));
        assert!(parse(&[0x6e, 0x82, 0xff]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(tag in proptest::sample::select(vec![0x6eu8, 0x6f, 0x7e, 0x60]),
                        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut v = vec![tag];
            v.extend_from_slice(&bytes);
            let _ = parse(&v);
            let _ = parse_mech_inner(&v, false);
        }
    }
}
