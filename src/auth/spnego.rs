//! HTTP Negotiate tokens (RFC 4559): SPNEGO (RFC 4178) inside the GSS-API initial-context
//! wrapper (RFC 2743 3.1), a bare krb5 GSS token, or raw NTLMSSP (which Windows sends under
//! `Negotiate` when it skips SPNEGO). The mechanism token inside is decoded as NTLM or
//! Kerberos; a broken inner token is kept as data next to the SPNEGO fields read.

use crate::auth::error::{DecodeError, ErrorKind};
use crate::auth::kerberos::{self, KerberosToken};
use crate::auth::ntlm::{self, NtlmMessage};
use crate::auth::secret::RevealSecrets;
use crate::auth::util::{offset_in, open_enum};
use asn1_rs::{Any, Class, FromBer as _};
use serde::Serialize;

/// Mechanism OIDs by name (RFC 4178, RFC 4121, MS-SPNG 3.1.5.2, MS-NLMP 1.9).
const MECHS: &[(&str, &str)] = &[
    ("1.2.840.113554.1.2.2", "Kerberos 5"),
    ("1.2.840.48018.1.2.2", "MS Kerberos 5"),
    ("1.2.840.113554.1.2.2.3", "Kerberos 5 user-to-user"),
    ("1.3.6.1.4.1.311.2.2.10", "NTLMSSP"),
    ("1.3.6.1.4.1.311.2.2.30", "NEGOEX"),
    ("1.3.6.1.5.5.2", "SPNEGO"),
    ("1.3.6.1.5.2.5", "IAKERB"),
];

/// A GSS-API mechanism: dotted OID and its name when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mech {
    pub oid: String,
    pub name: Option<&'static str>,
}

impl Mech {
    fn from_oid(oid: String) -> Self {
        let name = MECHS.iter().find(|(o, _)| *o == oid).map(|(_, n)| *n);
        Self { oid, name }
    }

    /// The name, or the OID when unknown.
    pub fn label(&self) -> &str {
        self.name.unwrap_or(&self.oid)
    }

    fn is_kerberos(&self) -> bool {
        matches!(
            self.oid.as_str(),
            "1.2.840.113554.1.2.2" | "1.2.840.48018.1.2.2"
        )
    }
}

open_enum! {
    /// RFC 4178 4.2.2 negState.
    pub enum NegState: u32 {
        AcceptCompleted = 0 => "accept-completed",
        AcceptIncomplete = 1 => "accept-incomplete",
        Reject = 2 => "reject",
        RequestMic = 3 => "request-mic",
    }
}

/// The mechanism token carried by SPNEGO, decoded by its own leading bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InnerToken {
    Ntlm {
        message: NtlmMessage,
    },
    Kerberos {
        token: KerberosToken,
    },
    /// A mechanism this version does not decode (NEGOEX, ...).
    Unknown {
        len: usize,
    },
    /// Could not be decoded; the SPNEGO fields around it still were.
    Malformed {
        len: usize,
        error: DecodeError,
    },
}

/// RFC 4178 4.2.1 NegTokenInit (with MS-SPNG NegTokenInit2 negHints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NegTokenInit {
    pub mech_types: Vec<Mech>,
    pub req_flags: Option<u8>,
    pub mech_token: Option<InnerToken>,
    /// MS-SPNG 2.2.1 negHints hintName (e.g. `not_defined_in_RFC4178@please_ignore`).
    pub neg_hints: Option<String>,
    pub mech_list_mic: bool,
}

/// RFC 4178 4.2.2 NegTokenResp.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NegTokenResp {
    pub neg_state: Option<NegState>,
    pub supported_mech: Option<Mech>,
    pub response_token: Option<InnerToken>,
    pub mech_list_mic: bool,
}

/// RFC 4178 4.2 NegotiationToken.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum NegotiationToken {
    Init(NegTokenInit),
    Resp(NegTokenResp),
}

/// What a `Negotiate` header token turned out to be.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "framing", rename_all = "snake_case")]
pub enum NegotiateToken {
    /// SPNEGO; `gss_wrapped` for the first token (RFC 2743 3.1 wrapper with the SPNEGO OID).
    Spnego {
        gss_wrapped: bool,
        token: NegotiationToken,
    },
    /// A krb5 GSS token sent without SPNEGO (requests-kerberos, some Java clients).
    Kerberos { token: KerberosToken },
    /// NTLMSSP with no SPNEGO around it (IE/Windows when Kerberos is not attempted).
    RawNtlm { message: NtlmMessage },
}

impl RevealSecrets for InnerToken {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        match self {
            Self::Ntlm { message } => message.each_secret(f),
            Self::Kerberos { token } => token.each_secret(f),
            Self::Unknown { .. } | Self::Malformed { .. } => {}
        }
    }
}

impl RevealSecrets for NegotiateToken {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        match self {
            Self::Spnego { token, .. } => match token {
                NegotiationToken::Init(i) => i.mech_token.each_secret(f),
                NegotiationToken::Resp(r) => r.response_token.each_secret(f),
            },
            Self::Kerberos { token } => token.each_secret(f),
            Self::RawNtlm { message } => message.each_secret(f),
        }
    }
}

const SPNEGO_OID: &str = "1.3.6.1.5.5.2";
/// No SPNEGO structure has more elements; bounds work on hostile input.
const MAX_CHILDREN: usize = 16;

struct Der<'b> {
    base: &'b [u8],
}

impl<'b> Der<'b> {
    fn err(&self, at: &[u8], field: &'static str, detail: String) -> DecodeError {
        DecodeError::new(ErrorKind::Asn1 { detail }, field, offset_in(self.base, at))
    }

    /// One BER TLV; BER rather than DER because some stacks send non-minimal lengths.
    fn tlv<'a>(
        &self,
        i: &'a [u8],
        field: &'static str,
    ) -> Result<(Any<'a>, &'a [u8]), DecodeError> {
        match Any::from_ber(i) {
            Ok((rest, any)) => Ok((any, rest)),
            Err(asn1_rs::Err::Incomplete(_)) => {
                Err(DecodeError::truncated(field, offset_in(self.base, i)))
            }
            Err(e) => Err(self.err(i, field, e.to_string())),
        }
    }

    /// The elements of a constructed value.
    fn children<'a>(
        &self,
        data: &'a [u8],
        field: &'static str,
    ) -> Result<Vec<Any<'a>>, DecodeError> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            if out.len() >= MAX_CHILDREN {
                return Err(DecodeError::new(
                    ErrorKind::TooDeep,
                    field,
                    offset_in(self.base, rest),
                ));
            }
            let (any, r) = self.tlv(rest, field)?;
            out.push(any);
            rest = r;
        }
        Ok(out)
    }

    /// The value inside an explicit context tag `[n]`.
    fn explicit<'a>(&self, any: &Any<'a>, field: &'static str) -> Result<Any<'a>, DecodeError> {
        Ok(self.tlv(any.data, field)?.0)
    }

    fn oid(&self, any: Any<'_>, field: &'static str) -> Result<Mech, DecodeError> {
        let at = any.data;
        let oid = any.oid().map_err(|e| self.err(at, field, e.to_string()))?;
        Ok(Mech::from_oid(oid.to_id_string()))
    }

    fn octets<'a>(&self, any: Any<'a>, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if any.header.tag() != asn1_rs::Tag::OctetString {
            return Err(DecodeError::new(
                ErrorKind::UnexpectedTag {
                    expected: "OCTET STRING",
                    found: format!("{:?}", any.header.tag()),
                },
                field,
                offset_in(self.base, any.data),
            ));
        }
        Ok(any.data)
    }
}

fn context_tag(any: &Any<'_>) -> Option<u32> {
    (any.header.class() == Class::ContextSpecific).then_some(any.header.tag().0)
}

/// Decodes a Negotiate token (RFC 4559 4). This is the entry point for fuzzing.
pub fn parse(bytes: &[u8]) -> Result<NegotiateToken, DecodeError> {
    let der = Der { base: bytes };
    match bytes.first() {
        _ if ntlm::is_ntlmssp(bytes) => Ok(NegotiateToken::RawNtlm {
            message: ntlm::parse(bytes)?,
        }),
        // RFC 2743 3.1: [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, innerContextToken ANY }
        Some(0x60) => {
            let (outer, _) = der.tlv(bytes, "InitialContextToken")?;
            let (oid_any, inner) = der.tlv(outer.data, "thisMech")?;
            let mech = der.oid(oid_any, "thisMech")?;
            if mech.oid == SPNEGO_OID {
                Ok(NegotiateToken::Spnego {
                    gss_wrapped: true,
                    token: negotiation_token(&der, inner)?,
                })
            } else if mech.is_kerberos() {
                let token = kerberos::parse_mech_inner(inner, true).map_err(|mut e| {
                    e.offset = e.offset.saturating_add(offset_in(bytes, inner));
                    e
                })?;
                Ok(NegotiateToken::Kerberos { token })
            } else {
                Err(DecodeError::new(
                    ErrorKind::Invalid {
                        detail: format!("GSS-API mechanism {} is not SPNEGO or Kerberos", mech.oid),
                    },
                    "thisMech",
                    offset_in(bytes, outer.data),
                ))
            }
        }
        // Subsequent tokens carry a bare NegotiationToken.
        Some(0xa0 | 0xa1) => Ok(NegotiateToken::Spnego {
            gss_wrapped: false,
            token: negotiation_token(&der, bytes)?,
        }),
        Some(0x6e | 0x6f | 0x7e) => Ok(NegotiateToken::Kerberos {
            token: kerberos::parse_mech_inner(bytes, false)?,
        }),
        Some(&b) => Err(DecodeError::new(
            ErrorKind::UnexpectedTag {
                expected: "NTLMSSP, GSS-API 0x60, or NegotiationToken 0xa0/0xa1",
                found: format!("0x{b:02x}"),
            },
            "NegotiationToken",
            0,
        )),
        None => Err(DecodeError::truncated("NegotiationToken", 0)),
    }
}

/// RFC 4178 4.2: `NegotiationToken ::= CHOICE { negTokenInit [0], negTokenResp [1] }`.
fn negotiation_token(der: &Der<'_>, i: &[u8]) -> Result<NegotiationToken, DecodeError> {
    let (choice, _) = der.tlv(i, "NegotiationToken")?;
    let seq = der.explicit(&choice, "NegotiationToken")?;
    match context_tag(&choice) {
        Some(0) => neg_token_init(der, seq).map(NegotiationToken::Init),
        Some(1) => neg_token_resp(der, seq).map(NegotiationToken::Resp),
        _ => Err(DecodeError::new(
            ErrorKind::UnexpectedTag {
                expected: "[0] negTokenInit or [1] negTokenResp",
                found: format!("{:?} {:?}", choice.header.class(), choice.header.tag()),
            },
            "NegotiationToken",
            offset_in(der.base, i),
        )),
    }
}

/// RFC 4178 4.2.1 NegTokenInit ::= SEQUENCE { mechTypes [0], reqFlags [1] OPTIONAL,
/// mechToken [2] OPTIONAL, mechListMIC [3] OPTIONAL }; MS-SPNG 2.2.1 NegTokenInit2 puts
/// negHints at [3] and mechListMIC at [4].
fn neg_token_init(der: &Der<'_>, seq: Any<'_>) -> Result<NegTokenInit, DecodeError> {
    let mut init = NegTokenInit {
        mech_types: Vec::new(),
        req_flags: None,
        mech_token: None,
        neg_hints: None,
        mech_list_mic: false,
    };
    for field in der.children(seq.data, "NegTokenInit")? {
        let inner = der.explicit(&field, "NegTokenInit")?;
        match context_tag(&field) {
            Some(0) => {
                for m in der.children(inner.data, "mechTypes")? {
                    init.mech_types.push(der.oid(m, "mechTypes")?);
                }
            }
            Some(1) => init.req_flags = inner.data.get(1).copied(),
            Some(2) => {
                let tok = der.octets(inner, "mechToken")?;
                init.mech_token = Some(inner_token(tok, init.mech_types.first()));
            }
            Some(3) if inner.header.is_constructed() => {
                // negHints ::= SEQUENCE { hintName [0] GeneralString OPTIONAL, ... }
                for h in der.children(inner.data, "negHints")? {
                    if context_tag(&h) == Some(0) {
                        let s = der.explicit(&h, "hintName")?;
                        init.neg_hints = Some(String::from_utf8_lossy(s.data).into_owned());
                    }
                }
            }
            Some(3 | 4) => init.mech_list_mic = true,
            _ => {}
        }
    }
    Ok(init)
}

/// RFC 4178 4.2.2 NegTokenResp ::= SEQUENCE { negState [0] ENUMERATED OPTIONAL,
/// supportedMech [1] OPTIONAL, responseToken [2] OPTIONAL, mechListMIC [3] OPTIONAL }.
fn neg_token_resp(der: &Der<'_>, seq: Any<'_>) -> Result<NegTokenResp, DecodeError> {
    let mut resp = NegTokenResp {
        neg_state: None,
        supported_mech: None,
        response_token: None,
        mech_list_mic: false,
    };
    for field in der.children(seq.data, "NegTokenResp")? {
        let inner = der.explicit(&field, "NegTokenResp")?;
        match context_tag(&field) {
            Some(0) => {
                let at = inner.data;
                let e = inner
                    .enumerated()
                    .map_err(|e| der.err(at, "negState", e.to_string()))?;
                resp.neg_state = Some(NegState::from(e.0));
            }
            Some(1) => resp.supported_mech = Some(der.oid(inner, "supportedMech")?),
            Some(2) => {
                let tok = der.octets(inner, "responseToken")?;
                resp.response_token = Some(inner_token(tok, resp.supported_mech.as_ref()));
            }
            Some(3) => resp.mech_list_mic = true,
            _ => {}
        }
    }
    Ok(resp)
}

/// The inner token says what it is by its first bytes; the mech only breaks ties.
fn inner_token(tok: &[u8], _mech: Option<&Mech>) -> InnerToken {
    let len = tok.len();
    if ntlm::is_ntlmssp(tok) {
        return match ntlm::parse(tok) {
            Ok(message) => InnerToken::Ntlm { message },
            Err(error) => InnerToken::Malformed { len, error },
        };
    }
    let kerberos = match tok.first() {
        Some(0x60) => {
            let der = Der { base: tok };
            der.tlv(tok, "InitialContextToken")
                .and_then(|(outer, _)| der.tlv(outer.data, "thisMech"))
                .and_then(|(oid, inner)| {
                    let mech = der.oid(oid, "thisMech")?;
                    if mech.is_kerberos() {
                        kerberos::parse_mech_inner(inner, true).map(Some)
                    } else {
                        Ok(None)
                    }
                })
        }
        Some(0x6e | 0x6f | 0x7e) => kerberos::parse_mech_inner(tok, false).map(Some),
        _ => Ok(None),
    };
    match kerberos {
        Ok(Some(token)) => InnerToken::Kerberos { token },
        Ok(None) => InnerToken::Unknown { len },
        Err(error) => InnerToken::Malformed { len, error },
    }
}

impl InnerToken {
    fn summary(&self) -> String {
        match self {
            Self::Ntlm { message } => message.summary(),
            Self::Kerberos { token } => token.message.summary(),
            Self::Unknown { len } => format!("unknown mechanism token ({len} bytes)"),
            Self::Malformed { len, error } => {
                format!("malformed mechanism token ({len} bytes): {error}")
            }
        }
    }
}

impl NegotiateToken {
    /// e.g. `SPNEGO NegTokenInit [MS Kerberos 5, Kerberos 5, NTLMSSP] > Kerberos AP-REQ ...`.
    pub fn summary(&self) -> String {
        match self {
            Self::RawNtlm { message } => format!("raw {}", message.summary()),
            Self::Kerberos { token } => token.message.summary(),
            Self::Spnego { token, .. } => match token {
                NegotiationToken::Init(i) => {
                    let mechs: Vec<&str> = i.mech_types.iter().map(Mech::label).collect();
                    let mut s = format!("SPNEGO NegTokenInit [{}]", mechs.join(", "));
                    if let Some(t) = &i.mech_token {
                        s.push_str(" > ");
                        s.push_str(&t.summary());
                    }
                    s
                }
                NegotiationToken::Resp(r) => {
                    let mut s = "SPNEGO NegTokenResp".to_string();
                    if let Some(n) = r.neg_state {
                        s.push_str(&format!(" {n}"));
                    }
                    if let Some(m) = &r.supported_mech {
                        s.push_str(&format!(" ({})", m.label()));
                    }
                    if let Some(t) = &r.response_token {
                        s.push_str(" > ");
                        s.push_str(&t.summary());
                    }
                    s
                }
            },
        }
    }

    /// The NTLM message inside, if any (raw or SPNEGO-wrapped).
    pub fn ntlm(&self) -> Option<&NtlmMessage> {
        match self {
            Self::RawNtlm { message } => Some(message),
            Self::Spnego { token, .. } => match token {
                NegotiationToken::Init(NegTokenInit {
                    mech_token: Some(InnerToken::Ntlm { message }),
                    ..
                })
                | NegotiationToken::Resp(NegTokenResp {
                    response_token: Some(InnerToken::Ntlm { message }),
                    ..
                }) => Some(message),
                _ => None,
            },
            Self::Kerberos { .. } => None,
        }
    }

    /// The Kerberos token inside, if any.
    pub fn kerberos(&self) -> Option<&KerberosToken> {
        match self {
            Self::Kerberos { token } => Some(token),
            Self::Spnego { token, .. } => match token {
                NegotiationToken::Init(NegTokenInit {
                    mech_token: Some(InnerToken::Kerberos { token }),
                    ..
                })
                | NegotiationToken::Resp(NegTokenResp {
                    response_token: Some(InnerToken::Kerberos { token }),
                    ..
                }) => Some(token),
                _ => None,
            },
            Self::RawNtlm { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
