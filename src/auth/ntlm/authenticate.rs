//! MS-NLMP 2.2.1.3 AUTHENTICATE_MESSAGE (Type 3) and the responses inside it
//! (2.2.2.3 LM_RESPONSE, 2.2.2.4 LMv2_RESPONSE, 2.2.2.6 NTLM_RESPONSE, 2.2.2.8 NTLMv2_RESPONSE).

use super::av_pair::{parse_av_pairs, AvPairs, AvValue, MsvAvId};
use super::reader::Reader;
use super::security_buffer::{overlap_anomalies, payload_start, SecurityBuffer};
use super::{decode_name, NegotiateFlags, Version};
use crate::auth::error::DecodeError;
use crate::auth::secret::{hex, RevealSecrets, Secret};
use crate::auth::util::{filetime_to_rfc3339, Anomaly};
use serde::Serialize;

/// Which response scheme the client used, strongest last; the diagnosis flags all but NTLMv2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    /// Null session: empty user and NT response (MS-NLMP 3.2.5.1.2).
    Anonymous,
    /// LM response only (no NT response).
    Lm,
    /// NTLMv1 24-byte responses.
    NtlmV1,
    /// NTLMv1 with extended session security ("NTLM2 session response").
    NtlmV1Ess,
    /// NTLMv2.
    NtlmV2,
    /// A length no scheme produces.
    Unknown,
}

impl ResponseKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Lm => "LM",
            Self::NtlmV1 => "NTLMv1",
            Self::NtlmV1Ess => "NTLMv1-ESS",
            Self::NtlmV2 => "NTLMv2",
            Self::Unknown => "unknown response",
        }
    }
}

/// The LmChallengeResponse, by form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum LmResponse {
    Empty,
    /// Z(1): the single zero byte of an anonymous AUTHENTICATE.
    AnonymousZero,
    /// 2.2.2.3 LM_RESPONSE (or NTLMv1 copied into the LM slot).
    Lm {
        response: Secret<Vec<u8>>,
    },
    /// NTLMv1-ESS: ClientChallenge (8) then 16 zero bytes.
    Ess {
        client_challenge: String,
    },
    /// 2.2.2.4 LMv2_RESPONSE: Response (16), ChallengeFromClient (8).
    LmV2 {
        response: Secret<Vec<u8>>,
    },
    /// All zero: sent when the server gave MsvAvTimestamp (3.3.2).
    Zeros {
        len: usize,
    },
    Other {
        response: Secret<Vec<u8>>,
    },
}

/// The NtChallengeResponse, by form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum NtResponse {
    Empty,
    /// 2.2.2.6 NTLM_RESPONSE, 24 bytes.
    V1 {
        response: Secret<Vec<u8>>,
    },
    /// 2.2.2.8 NTLMv2_RESPONSE: NTProofStr (16) then the client challenge blob.
    V2 {
        nt_proof_str: Secret<Vec<u8>>,
        blob: Option<NtlmV2Blob>,
        len: usize,
    },
    Other {
        response: Secret<Vec<u8>>,
    },
}

/// MS-NLMP 2.2.2.7 NTLMv2_CLIENT_CHALLENGE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NtlmV2Blob {
    pub resp_type: u8,
    pub hi_resp_type: u8,
    pub timestamp: u64,
    pub timestamp_utc: Option<String>,
    pub client_challenge: String,
    pub av_pairs: AvPairs,
}

/// A decoded Type 3 message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Authenticate {
    pub flags: NegotiateFlags,
    pub kind: ResponseKind,
    pub user: String,
    pub domain: String,
    pub workstation: String,
    pub lm_response: LmResponse,
    pub nt_response: NtResponse,
    pub lm_response_len: usize,
    pub nt_response_len: usize,
    pub encrypted_session_key: Option<Secret<Vec<u8>>>,
    pub version: Option<Version>,
    /// The MIC field, hex, when the fixed header has room for it.
    pub mic: Option<String>,
    /// MsvAvFlags 0x2 in the client's AV pairs: the client says a MIC is present.
    pub mic_flagged: bool,
    pub anonymous: bool,
    pub anomalies: Vec<Anomaly>,
}

impl RevealSecrets for LmResponse {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        match self {
            Self::Lm { response } | Self::LmV2 { response } | Self::Other { response } => {
                response.each_secret(f)
            }
            Self::Empty | Self::AnonymousZero | Self::Ess { .. } | Self::Zeros { .. } => {}
        }
    }
}

impl RevealSecrets for NtResponse {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        match self {
            Self::V1 { response } | Self::Other { response } => response.each_secret(f),
            Self::V2 { nt_proof_str, .. } => nt_proof_str.each_secret(f),
            Self::Empty => {}
        }
    }
}

impl RevealSecrets for Authenticate {
    fn each_secret(&mut self, f: &mut crate::auth::secret::EachSecret<'_>) {
        self.lm_response.each_secret(f);
        self.nt_response.each_secret(f);
        self.encrypted_session_key.each_secret(f);
    }
}

/// MS-NLMP 2.2.1.3: Signature, MessageType, LmChallengeResponseFields (8),
/// NtChallengeResponseFields (8), DomainNameFields (8), UserNameFields (8),
/// WorkstationFields (8), EncryptedRandomSessionKeyFields (8), NegotiateFlags (4),
/// Version (8), MIC (16), Payload. VERSION and MIC exist only when the payload starts
/// after them.
pub(crate) fn parse(msg: &[u8], mut r: Reader<'_>) -> Result<Authenticate, DecodeError> {
    let lm_buf = SecurityBuffer::parse(&mut r, "LmChallengeResponseFields")?;
    let nt_buf = SecurityBuffer::parse(&mut r, "NtChallengeResponseFields")?;
    let domain_buf = SecurityBuffer::parse(&mut r, "DomainNameFields")?;
    let user_buf = SecurityBuffer::parse(&mut r, "UserNameFields")?;
    let ws_buf = SecurityBuffer::parse(&mut r, "WorkstationFields")?;
    // Windows 9x-era clients stop before the session key fields.
    let key_buf = if r.remaining() >= 8 {
        Some(SecurityBuffer::parse(
            &mut r,
            "EncryptedRandomSessionKeyFields",
        )?)
    } else {
        None
    };
    let flags = NegotiateFlags(if r.remaining() >= 4 {
        r.u32("NegotiateFlags")?
    } else {
        0
    });
    let mut anomalies = Vec::new();
    let mut bufs = vec![lm_buf, nt_buf, domain_buf, user_buf, ws_buf];
    bufs.extend(key_buf);
    let header_end = payload_start(&bufs, msg.len());

    let version = if header_end >= 72 && r.remaining() >= 8 {
        let v = Version::parse(&mut r)?;
        if flags.contains(NegotiateFlags::VERSION) {
            Some(v)
        } else {
            None
        }
    } else {
        if flags.contains(NegotiateFlags::VERSION) {
            anomalies.push(Version::no_room());
        }
        None
    };
    let mic = if header_end >= 88 && r.remaining() >= 16 {
        Some(hex(r.bytes(16, "MIC")?))
    } else {
        None
    };

    let lm = lm_buf.slice(msg, "LmChallengeResponse")?;
    let nt = nt_buf.slice(msg, "NtChallengeResponse")?;
    let unicode = flags.contains(NegotiateFlags::UNICODE);
    let domain = decode_name(
        domain_buf.slice(msg, "DomainName")?,
        unicode,
        "DomainName",
        &mut anomalies,
    );
    let user = decode_name(
        user_buf.slice(msg, "UserName")?,
        unicode,
        "UserName",
        &mut anomalies,
    );
    let workstation = decode_name(
        ws_buf.slice(msg, "Workstation")?,
        unicode,
        "Workstation",
        &mut anomalies,
    );
    let encrypted_session_key = match key_buf {
        Some(b) => {
            let k = b.slice(msg, "EncryptedRandomSessionKey")?;
            (!k.is_empty()).then(|| Secret::new(k.to_vec()))
        }
        None => None,
    };
    if flags.contains(NegotiateFlags::KEY_EXCH) && encrypted_session_key.is_none() {
        anomalies.push(Anomaly::new(
            "ntlm.authenticate.key_exch_without_key",
            "NTLMSSP_NEGOTIATE_KEY_EXCH is set but EncryptedRandomSessionKey is empty",
        ));
    }

    let ess = flags.contains(NegotiateFlags::EXTENDED_SESSIONSECURITY);
    let anonymous = user.is_empty() && nt.is_empty() && (lm.is_empty() || lm == [0]);
    let kind = if anonymous {
        ResponseKind::Anonymous
    } else {
        match nt.len() {
            0 if !lm.is_empty() => ResponseKind::Lm,
            24 if ess && is_ess_lm(lm) => ResponseKind::NtlmV1Ess,
            24 => ResponseKind::NtlmV1,
            n if n > 24 => ResponseKind::NtlmV2,
            _ => ResponseKind::Unknown,
        }
    };
    let nt_response = decode_nt(nt, &mut anomalies);
    let lm_response = decode_lm(lm, kind);
    let mic_flagged = match &nt_response {
        NtResponse::V2 {
            blob: Some(blob), ..
        } => matches!(
            blob.av_pairs.get(MsvAvId::Flags),
            Some(AvValue::Flags {
                mic_present: true,
                ..
            })
        ),
        _ => false,
    };
    if mic_flagged && mic.is_none() {
        anomalies.push(Anomaly::new(
            "ntlm.authenticate.mic_flag_without_field",
            "MsvAvFlags says a MIC is present but the header has no MIC field",
        ));
    }
    let mut named = vec![
        ("LmChallengeResponse", lm_buf),
        ("NtChallengeResponse", nt_buf),
        ("DomainName", domain_buf),
        ("UserName", user_buf),
        ("Workstation", ws_buf),
    ];
    if let Some(k) = key_buf {
        named.push(("EncryptedRandomSessionKey", k));
    }
    anomalies.extend(overlap_anomalies(&named, 64));
    Ok(Authenticate {
        flags,
        kind,
        user,
        domain,
        workstation,
        lm_response_len: lm.len(),
        nt_response_len: nt.len(),
        lm_response,
        nt_response,
        encrypted_session_key,
        version,
        mic,
        mic_flagged,
        anonymous,
        anomalies,
    })
}

/// NTLMv1-ESS puts the client challenge in the first 8 LM bytes and zero-fills the rest.
fn is_ess_lm(lm: &[u8]) -> bool {
    lm.len() == 24 && lm.get(8..).is_some_and(|z| z.iter().all(|&b| b == 0))
}

fn decode_lm(lm: &[u8], kind: ResponseKind) -> LmResponse {
    if lm.is_empty() {
        return LmResponse::Empty;
    }
    if lm == [0] {
        return LmResponse::AnonymousZero;
    }
    if lm.iter().all(|&b| b == 0) {
        return LmResponse::Zeros { len: lm.len() };
    }
    let secret = || Secret::new(lm.to_vec());
    match (kind, lm.len()) {
        (ResponseKind::NtlmV1Ess, _) => LmResponse::Ess {
            client_challenge: hex(lm.get(..8).unwrap_or_default()),
        },
        (ResponseKind::NtlmV2, 24) => LmResponse::LmV2 { response: secret() },
        (ResponseKind::NtlmV1 | ResponseKind::Lm, 24) => LmResponse::Lm { response: secret() },
        _ => LmResponse::Other { response: secret() },
    }
}

fn decode_nt(nt: &[u8], anomalies: &mut Vec<Anomaly>) -> NtResponse {
    match nt.len() {
        0 => NtResponse::Empty,
        24 => NtResponse::V1 {
            response: Secret::new(nt.to_vec()),
        },
        n if n > 24 => {
            let Some((proof, blob)) = nt.split_at_checked(16) else {
                return NtResponse::Other {
                    response: Secret::new(nt.to_vec()),
                };
            };
            let blob = match parse_blob(blob) {
                Ok(b) => {
                    anomalies.extend(b.av_pairs.anomalies.iter().cloned());
                    Some(b)
                }
                Err(e) => {
                    anomalies.push(Anomaly::new(
                        "ntlm.authenticate.bad_ntlmv2_blob",
                        format!("NTLMv2 client challenge unreadable: {e}"),
                    ));
                    None
                }
            };
            NtResponse::V2 {
                nt_proof_str: Secret::new(proof.to_vec()),
                blob,
                len: n,
            }
        }
        _ => NtResponse::Other {
            response: Secret::new(nt.to_vec()),
        },
    }
}

/// MS-NLMP 2.2.2.7: RespType (1), HiRespType (1), Reserved1 (2), Reserved2 (4),
/// TimeStamp (8), ChallengeFromClient (8), Reserved3 (4), AvPairs.
fn parse_blob(blob: &[u8]) -> Result<NtlmV2Blob, DecodeError> {
    let mut r = Reader::new(blob);
    let resp_type = r.u8("RespType")?;
    let hi_resp_type = r.u8("HiRespType")?;
    let _reserved1 = r.u16("Reserved1")?;
    let _reserved2 = r.u32("Reserved2")?;
    let timestamp = r.u64("TimeStamp")?;
    let client = r.bytes(8, "ChallengeFromClient")?;
    let _reserved3 = r.u32("Reserved3")?;
    let mut av_pairs = parse_av_pairs(r.rest());
    if resp_type != 1 || hi_resp_type != 1 {
        av_pairs.anomalies.push(Anomaly::new(
            "ntlm.authenticate.blob_resp_type",
            format!("RespType {resp_type} / HiRespType {hi_resp_type}, the spec requires 1 / 1"),
        ));
    }
    Ok(NtlmV2Blob {
        resp_type,
        hi_resp_type,
        timestamp,
        timestamp_utc: filetime_to_rfc3339(timestamp),
        client_challenge: hex(client),
        av_pairs,
    })
}

impl Authenticate {
    /// e.g. `NTLM Type 3 NTLMv2 sp\administrator from STEVE-PC`.
    pub fn summary(&self) -> String {
        if self.anonymous {
            return "NTLM Type 3 anonymous".to_string();
        }
        let mut s = format!("NTLM Type 3 {} ", self.kind.label());
        if !self.domain.is_empty() {
            s.push_str(&self.domain);
            s.push('\\');
        }
        s.push_str(&self.user);
        if !self.workstation.is_empty() {
            s.push_str(&format!(" from {}", self.workstation));
        }
        if self.mic.is_some() {
            s.push_str(", MIC");
        }
        s
    }
}
