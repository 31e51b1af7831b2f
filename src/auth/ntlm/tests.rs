//! NTLM decoder tests on real tokens, with tshark's fields as the expected values.

use super::*;
use base64::Engine as _;

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

// http-negotiate-rawntlm-iis.pcap, frames 8, 10, 12 (Negotiate carrying raw NTLMSSP).
const RAW_T1: &str = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==";
const RAW_T2: &str = "TlRMTVNTUAACAAAABgAGADgAAAAFgomiKip4pcf2dvwAAAAAAAAAAFoAWgA+AAAABQLODgAAAA9JAE4AUwACAAYASQBOAFMAAQAIAEIASQBMAEwABAAOAGkAbgBzAC4AYwBvAG0AAwAYAEIASQBMAEwALgBpAG4AcwAuAGMAbwBtAAUADgBpAG4AcwAuAGMAbwBtAAAAAAA=";
const RAW_T3: &str = "TlRMTVNTUAADAAAAGAAYAHgAAAAYABgAkAAAABQAFABIAAAACgAKAFwAAAASABIAZgAAAAAAAACoAAAABYKIogUBKAoAAAAPMQAwAC4AMAAuADEALgAxADAAMQBTAHUAcwBhAG4AWABQAC0AQwBMAEkARQBOAFQA/b4gddkhShUAAAAAAAAAAAAAAAAAAAAA9CknGD9s3ORUM/9oZt0au2twPslrjk6M";

// http-ntlm-sharepoint-type2-missing.pcap frame 5 (24-byte responses).
const V1_T3: &str = "TlRMTVNTUAADAAAAGAAYAIgAAAAYABgAoAAAAA4ADgBIAAAAGgAaAFYAAAAYABgAcAAAAAAAAAC4AAAABYKIogUBKAoAAAAPZQB4AGEAbQBwAGwAZQBhAGQAbQBpAG4AaQBzAHQAcgBhAHQAbwByAFcAQQBOAEcAXwBXAEUATgBDAEgAQQBPAGWqe25n+EqjAAAAAAAAAAAAAAAAAAAAAKpY3VubZVwgf6w9J+aFyZ16FjpUtLb4zA==";

// http-ntlm-sharepoint-in-erspan.pcap frame 101 and 102.
const SP_T2: &str = "TlRMTVNTUAACAAAABAAEADgAAAAFgomi7mG9THVaDtMAAAAAAAAAAG4AbgA8AAAABgGxHQAAAA9TAFAAAgAEAFMAUAABAAoAVABGAEQAUwBQAAQAEABzAHAALgBsAG8AYwBhAGwAAwAcAFQARgBEAFMAUAAuAHMAcAAuAGwAbwBjAGEAbAAFABAAcwBwAC4AbABvAGMAYQBsAAcACACXm7aj9u/QAQAAAAA=";

fn sp_t3() -> Vec<u8> {
    b64(include_str!("../../../tests/fixtures/auth/ntlm-sharepoint-erspan-type3.b64").trim())
}

// http-ntlm-negotiate-synthetic-multiproto-ipv6.pcap frame 44: Type 1 with OEM domain/workstation.
const SYN_T1: &str = "TlRMTVNTUAABAAAABwIAAgcABwAoAAAACAAIAC8AAAAKAGFKAAAAD0hUVFBET01IVFRQSE9TVA==";

#[test]
fn negotiate_matches_tshark() {
    let Ok(NtlmMessage::Negotiate(m)) = parse(&b64(RAW_T1)) else {
        panic!("not a Type 1")
    };
    // tshark: ntlmssp.negotiateflags 0xa2088207
    assert_eq!(m.flags, NegotiateFlags(0xa208_8207));
    assert_eq!(
        m.version,
        Some(Version {
            major: 5,
            minor: 1,
            build: 2600,
            ntlm_revision: 15
        })
    );
    assert_eq!(m.domain, None);
    assert!(m.anomalies.is_empty(), "{:?}", m.anomalies);
    assert_eq!(
        m.summary(),
        "NTLM Type 1 negotiate, flags 0xa2088207, version 5.1.2600"
    );
}

#[test]
fn negotiate_with_oem_names() {
    let Ok(NtlmMessage::Negotiate(m)) = parse(&b64(SYN_T1)) else {
        panic!("not a Type 1")
    };
    assert_eq!(m.flags, NegotiateFlags(0x0200_0207));
    assert_eq!(m.domain.as_deref(), Some("HTTPDOM"));
    assert_eq!(m.workstation.as_deref(), Some("HTTPHOST"));
    // The synthetic client sets neither OEM_*_SUPPLIED flag: worth a note, not a failure.
    assert_eq!(m.anomalies.len(), 2);
}

#[test]
fn challenge_matches_tshark() {
    let Ok(NtlmMessage::Challenge(m)) = parse(&b64(RAW_T2)) else {
        panic!("not a Type 2")
    };
    // tshark: ntlmssp.ntlmserverchallenge 2a2a78a5c7f676fc, flags 0xa2898205
    assert_eq!(m.server_challenge, "2a2a78a5c7f676fc");
    assert_eq!(m.flags, NegotiateFlags(0xa289_8205));
    assert_eq!(m.target_name.as_deref(), Some("INS"));
    let info = m.target_info.as_ref().map(|i| {
        (
            i.text(MsvAvId::NbDomainName),
            i.text(MsvAvId::NbComputerName),
            i.text(MsvAvId::DnsDomainName),
            i.text(MsvAvId::DnsComputerName),
            i.text(MsvAvId::DnsTreeName),
            i.terminated,
        )
    });
    assert_eq!(
        info,
        Some((
            Some("INS"),
            Some("BILL"),
            Some("ins.com"),
            Some("BILL.ins.com"),
            Some("ins.com"),
            true
        ))
    );
    assert_eq!(m.version.map(|v| v.build), Some(3790));
    assert!(m.anomalies.is_empty(), "{:?}", m.anomalies);
    assert_eq!(
        m.summary(),
        "NTLM Type 2 challenge 2a2a78a5c7f676fc, target INS, server BILL.ins.com"
    );
}

#[test]
fn challenge_with_timestamp() {
    let Ok(NtlmMessage::Challenge(m)) = parse(&b64(SP_T2)) else {
        panic!("not a Type 2")
    };
    assert_eq!(m.server_challenge, "ee61bd4c755a0ed3");
    assert_eq!(m.flags, NegotiateFlags(0xa289_8205));
    assert_eq!(m.target_name.as_deref(), Some("SP"));
    let ts = m.target_info.as_ref().and_then(AvPairs::timestamp);
    assert_eq!(ts, Some(0x01d0_eff6_a3b6_9b97));
}

#[test]
fn authenticate_ntlmv1_ess_matches_tshark() {
    let Ok(NtlmMessage::Authenticate(m)) = parse(&b64(V1_T3)) else {
        panic!("not a Type 3")
    };
    // tshark: administrator / example / WANG_WENCHAO, flags 0xa2888205
    assert_eq!(m.user, "administrator");
    assert_eq!(m.domain, "example");
    assert_eq!(m.workstation, "WANG_WENCHAO");
    assert_eq!(m.flags, NegotiateFlags(0xa288_8205));
    assert_eq!(m.kind, ResponseKind::NtlmV1Ess);
    assert_eq!((m.lm_response_len, m.nt_response_len), (24, 24));
    assert_eq!(
        m.lm_response,
        LmResponse::Ess {
            client_challenge: "65aa7b6e67f84aa3".to_string()
        }
    );
    assert_eq!(m.mic, None);
    assert_eq!(
        m.summary(),
        "NTLM Type 3 NTLMv1-ESS example\\administrator from WANG_WENCHAO"
    );
}

#[test]
fn authenticate_raw_under_negotiate_matches_tshark() {
    let Ok(NtlmMessage::Authenticate(m)) = parse(&b64(RAW_T3)) else {
        panic!("not a Type 3")
    };
    // tshark: Susan / 10.0.1.101 / XP-CLIENT, flags 0xa2888205
    assert_eq!(
        (m.user.as_str(), m.domain.as_str(), m.workstation.as_str()),
        ("Susan", "10.0.1.101", "XP-CLIENT")
    );
    assert_eq!(m.flags, NegotiateFlags(0xa288_8205));
    assert_eq!(m.kind, ResponseKind::NtlmV1Ess);
    assert_eq!(m.version.map(|v| v.build), Some(2600));
}

#[test]
fn authenticate_ntlmv2_matches_tshark() {
    let Ok(NtlmMessage::Authenticate(m)) = parse(&sp_t3()) else {
        panic!("not a Type 3")
    };
    // tshark: administrator / sp / STEVE-PC, flags 0xa2888205
    assert_eq!(
        (m.user.as_str(), m.domain.as_str(), m.workstation.as_str()),
        ("administrator", "sp", "STEVE-PC")
    );
    assert_eq!(m.flags, NegotiateFlags(0xa288_8205));
    assert_eq!(m.kind, ResponseKind::NtlmV2);
    let NtResponse::V2 {
        nt_proof_str,
        blob: Some(blob),
        ..
    } = &m.nt_response
    else {
        panic!("not NTLMv2: {:?}", m.nt_response)
    };
    assert_eq!(nt_proof_str.len(), 16);
    // The client copies the server's MsvAvTimestamp (3.1.5.2.1): same value as the Type 2.
    assert_eq!(blob.timestamp, 0x01d0_eff6_a3b6_9b97);
    assert_eq!(blob.av_pairs.timestamp(), Some(0x01d0_eff6_a3b6_9b97));
    assert_eq!(blob.av_pairs.text(MsvAvId::NbDomainName), Some("SP"));
    // No NTLMSSP_NEGOTIATE_KEY_EXCH here, so no session key.
    assert_eq!(m.encrypted_session_key, None);
    // The payload starts at 88, so the header holds a MIC, and MsvAvFlags says so.
    assert!(m.mic.is_some());
    assert!(m.mic_flagged);
    // Secrets never reach JSON unless revealed.
    let json = serde_json::to_string(&m).unwrap_or_default();
    assert!(
        json.contains("\"nt_proof_str\":\"<redacted 16 bytes>\""),
        "{json}"
    );
    let mut shown = m.clone();
    shown.reveal_secrets();
    let json = serde_json::to_string(&shown).unwrap_or_default();
    assert!(!json.contains("redacted"), "{json}");
    assert_eq!(
        m.summary(),
        "NTLM Type 3 NTLMv2 sp\\administrator from STEVE-PC, MIC"
    );
}

#[test]
fn buffer_outside_message_names_the_field() {
    let mut t3 = b64(RAW_T3);
    // UserNameFields.BufferOffset lives at 40..44; point it far beyond the end.
    if let Some(b) = t3.get_mut(40..44) {
        b.copy_from_slice(&0x0000_ff00u32.to_le_bytes());
    }
    let err = parse(&t3).err();
    assert_eq!(err.as_ref().map(|e| e.field), Some("UserName"));
    assert!(matches!(
        err.map(|e| e.kind),
        Some(ErrorKind::OutOfBounds {
            buffer_offset: 0xff00,
            len: 10,
            ..
        })
    ));
}

#[test]
fn truncation_is_an_error_never_a_panic() {
    for bytes in [b64(RAW_T1), b64(RAW_T2), b64(RAW_T3), sp_t3()] {
        for n in 0..bytes.len() {
            let _ = parse(bytes.get(..n).unwrap_or_default());
        }
    }
    assert_eq!(
        parse(b"NTLMSSP\0\x09\0\0\0").err().map(|e| e.kind),
        Some(ErrorKind::UnknownMessageType { value: 9 })
    );
    assert_eq!(
        parse(b"NTLMSSQ\0").err().map(|e| e.kind),
        Some(ErrorKind::BadSignature)
    );
}

#[test]
fn unterminated_av_list_is_an_anomaly() {
    // MsvAvNbDomainName "SP" and no MsvAvEOL (as in dcerpc-ntlm-unterminated-av-sequence.pcap).
    let pairs = parse_av_pairs(&[2, 0, 4, 0, b'S', 0, b'P', 0]);
    assert!(!pairs.terminated);
    assert_eq!(pairs.text(MsvAvId::NbDomainName), Some("SP"));
    assert_eq!(
        pairs.anomalies.first().map(|a| a.code),
        Some("ntlm.av_pairs.no_eol")
    );
    let unknown = parse_av_pairs(&[0x42, 0, 1, 0, 7, 0, 0, 0, 0]);
    assert_eq!(
        unknown.pairs.first().map(|p| p.id),
        Some(MsvAvId::Unknown(0x42))
    );
    assert!(unknown.terminated);
}

proptest::proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = parse(&bytes);
        let mut with_sig = SIGNATURE.to_vec();
        with_sig.extend_from_slice(&bytes);
        let _ = parse(&with_sig);
        let _ = parse_av_pairs(&bytes);
    }

    #[test]
    fn mutated_real_tokens_never_panic(pos in 0usize..400, byte in proptest::num::u8::ANY) {
        for mut t in [b64(RAW_T2), b64(RAW_T3), sp_t3()] {
            let len = t.len();
            if let Some(b) = t.get_mut(pos.checked_rem(len).unwrap_or(0)) { *b = byte; }
            let _ = parse(&t);
        }
    }
}
