//! SPNEGO tests on real tokens from http-negotiate-kerberos-iis-with-kdc.pcap and
//! http-negotiate-rawntlm-iis.pcap, with tshark's fields as the expected values.

use super::*;
use crate::auth::kerberos::{EncType, KerberosMessage};

fn b64(s: &str) -> Vec<u8> {
    crate::auth::decode_base64(s, "test").unwrap_or_default()
}

fn ap_req_token() -> Vec<u8> {
    b64(include_str!("../../../tests/fixtures/auth/negotiate-kerberos-iis-ap-req.b64").trim())
}

// Frame 66: the final 200 with NegTokenResp accept-completed and the AP-REP.
const AP_REP: &str = "oYGfMIGcoAMKAQChCwYJKoZIgvcSAQICooGHBIGEYIGBBgkqhkiG9xIBAgICAG9yMHCgAwIBBaEDAgEPomQwYqADAgEXolsEWcpThUSfeEf1yw5tiT2h4WEXdiCm81NFr/Hm90dlmPDZpQETVBmch3MEIiHnhhhB6gV5vpSAKir4YLoD7UnTntwWoDLItRyNnKAfmeKiS06UOmaQw+0b219F";

#[test]
fn init_with_kerberos_ap_req_matches_tshark() {
    let tok = parse(&ap_req_token());
    let Ok(NegotiateToken::Spnego {
        gss_wrapped: true,
        token: NegotiationToken::Init(init),
    }) = &tok
    else {
        panic!("not a wrapped NegTokenInit: {tok:?}")
    };
    let oids: Vec<&str> = init.mech_types.iter().map(|m| m.oid.as_str()).collect();
    assert_eq!(
        oids,
        [
            "1.2.840.48018.1.2.2",
            "1.2.840.113554.1.2.2",
            "1.3.6.1.4.1.311.2.2.10"
        ]
    );
    let Some(InnerToken::Kerberos { token }) = &init.mech_token else {
        panic!("no Kerberos mech token: {:?}", init.mech_token)
    };
    assert_eq!(token.tok_id, Some(0x0100));
    let KerberosMessage::ApReq(r) = &token.message else {
        panic!("not an AP-REQ")
    };
    // tshark: kerberos.msg_type 14, realm DENYDC.COM, SNameString HTTP,upwin2003.denyDC.com
    assert_eq!(r.realm, "DENYDC.COM");
    assert_eq!(r.spn, "HTTP/upwin2003.denyDC.com");
    assert_eq!(r.ticket_etype, EncType::Rc4Hmac);
    assert!(r.ap_options.mutual_required);
    let s = tok
        .as_ref()
        .map(NegotiateToken::summary)
        .unwrap_or_default();
    assert!(
        s.starts_with("SPNEGO NegTokenInit [MS Kerberos 5, Kerberos 5, NTLMSSP] > Kerberos AP-REQ HTTP/upwin2003.denyDC.com@DENYDC.COM, ticket rc4-hmac"),
        "{s}"
    );
    let json = serde_json::to_string(&tok.ok()).unwrap_or_default();
    assert!(json.contains("\"ticket_cipher\":\"<redacted"), "{json}");
}

#[test]
fn resp_with_ap_rep_matches_tshark() {
    let tok = parse(&b64(AP_REP));
    let Ok(NegotiateToken::Spnego {
        gss_wrapped: false,
        token: NegotiationToken::Resp(resp),
    }) = &tok
    else {
        panic!("not a NegTokenResp: {tok:?}")
    };
    // tshark: spnego.negResult 0, spnego.supportedMech 1.2.840.48018.1.2.2, kerberos.msg_type 15
    assert_eq!(resp.neg_state, Some(NegState::AcceptCompleted));
    assert_eq!(
        resp.supported_mech.as_ref().map(|m| m.oid.as_str()),
        Some("1.2.840.48018.1.2.2")
    );
    let Some(InnerToken::Kerberos { token }) = &resp.response_token else {
        panic!("no AP-REP")
    };
    assert!(matches!(&token.message, KerberosMessage::ApRep(r) if r.etype == EncType::Rc4Hmac));
    assert_eq!(
        tok.as_ref().map(NegotiateToken::summary).ok().as_deref(),
        Some("SPNEGO NegTokenResp accept-completed (MS Kerberos 5) > Kerberos AP-REP (rc4-hmac)")
    );
}

#[test]
fn raw_ntlm_under_negotiate() {
    let tok = parse(&b64(
        "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==",
    ));
    assert!(matches!(tok, Ok(NegotiateToken::RawNtlm { .. })));
}

#[test]
fn spnego_wrapped_ntlm_built_from_real_type1() {
    // RFC 4178 4.2.1 NegTokenInit around the Type 1 of http-negotiate-rawntlm-iis.pcap.
    let ntlm = b64("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==");
    let mech = [
        0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
    ];
    let mut octets = vec![0x04, ntlm.len() as u8];
    octets.extend_from_slice(&ntlm);
    let mut tok2 = vec![0xa2, octets.len() as u8];
    tok2.extend_from_slice(&octets);
    let mut types = vec![0x30, mech.len() as u8];
    types.extend_from_slice(&mech);
    let mut tok0 = vec![0xa0, types.len() as u8];
    tok0.extend_from_slice(&types);
    let mut seq_body = tok0;
    seq_body.extend_from_slice(&tok2);
    let mut seq = vec![0x30, seq_body.len() as u8];
    seq.extend_from_slice(&seq_body);
    let mut choice = vec![0xa0, seq.len() as u8];
    choice.extend_from_slice(&seq);
    let spnego_oid = [0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
    let mut body = spnego_oid.to_vec();
    body.extend_from_slice(&choice);
    let mut gss = vec![0x60, body.len() as u8];
    gss.extend_from_slice(&body);

    let tok = parse(&gss);
    assert_eq!(
        tok.as_ref().map(NegotiateToken::summary).ok().as_deref(),
        Some("SPNEGO NegTokenInit [NTLMSSP] > NTLM Type 1 negotiate, flags 0xa2088207, version 5.1.2600")
    );
    assert!(tok.as_ref().ok().and_then(NegotiateToken::ntlm).is_some());
    // A broken inner token is kept as data, the SPNEGO layer still decodes.
    let at = gss.len() - ntlm.len() + 8;
    gss[at] = 9;
    let Ok(NegotiateToken::Spnego {
        token: NegotiationToken::Init(init),
        ..
    }) = parse(&gss)
    else {
        panic!("SPNEGO layer lost")
    };
    assert!(matches!(
        init.mech_token,
        Some(InnerToken::Malformed { len: 40, error }) if error.field == "MessageType"
    ));
    // A cut outer layer is an error.
    gss.truncate(30);
    assert!(parse(&gss).is_err());
}

#[test]
fn truncated_real_tokens_never_panic() {
    for t in [ap_req_token(), b64(AP_REP)] {
        for n in 0..t.len() {
            let _ = parse(&t[..n]);
        }
    }
}

proptest::proptest! {
    #[test]
    fn never_panics(first in proptest::sample::select(vec![0x60u8, 0xa0, 0xa1, 0x6e, 0x4e]),
                    bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let mut v = vec![first];
        v.extend_from_slice(&bytes);
        let _ = parse(&v);
    }

    #[test]
    fn mutated_real_tokens_never_panic(pos in 0usize..1300, byte in proptest::num::u8::ANY) {
        for mut t in [ap_req_token(), b64(AP_REP)] {
            let len = t.len();
            if let Some(b) = t.get_mut(pos.checked_rem(len).unwrap_or(0)) { *b = byte; }
            let _ = parse(&t);
        }
    }
}
