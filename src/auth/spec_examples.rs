//! The worked examples of the specifications, decoded: MS-NLMP 4.2.2.3 (NTLMv1), 4.2.3.3
//! (NTLMv1 with extended session security), 4.2.4.3 (NTLMv2), RFC 7616 3.9.1 (Digest),
//! RFC 6750 2.1 and 3 (Bearer), RFC 7617 2 and 2.1 (Basic). The common values of MS-NLMP
//! 4.2.1: user `User`, domain `Domain`, workstation `COMPUTER`, server `Server`,
//! ServerChallenge 0123456789abcdef, ClientChallenge aaaaaaaaaaaaaaaa, Time 0.

use crate::auth::basic::BasicCredentials;
use crate::auth::bearer::BearerError;
use crate::auth::digest::{Algorithm, Qop};
use crate::auth::ntlm::{
    self, Authenticate, LmResponse, MsvAvId, NegotiateFlags, NtResponse, NtlmMessage, ResponseKind,
    Version,
};
use crate::auth::{decode_header, HeaderKind, RevealSecrets as _, Token};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).unwrap())
        .collect()
}

/// MS-NLMP 4.2.1 VERSION: 6.0.6000, NTLM revision 15.
const SPEC_VERSION: Version = Version {
    major: 6,
    minor: 0,
    build: 6000,
    ntlm_revision: 15,
};

/// 4.2.2.3 and 4.2.3.3 CHALLENGE_MESSAGE: TargetName `Server`, no TargetInfo.
fn v1_challenge(flags: &str) -> Vec<u8> {
    unhex(&format!(
        "4e 54 4c 4d 53 53 50 00 02 00 00 00 0c 00 0c 00
         38 00 00 00 {flags} 01 23 45 67 89 ab cd ef
         00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
         06 00 70 17 00 00 00 0f 53 00 65 00 72 00 76 00
         65 00 72 00"
    ))
}

fn challenge(bytes: &[u8]) -> ntlm::Challenge {
    match ntlm::parse(bytes) {
        Ok(NtlmMessage::Challenge(c)) => c,
        other => panic!("not a CHALLENGE: {other:?}"),
    }
}

fn authenticate(bytes: &[u8]) -> Authenticate {
    match ntlm::parse(bytes) {
        Ok(NtlmMessage::Authenticate(a)) => *a,
        other => panic!("not an AUTHENTICATE: {other:?}"),
    }
}

/// The RFCs print header values folded over lines for reading; on the wire they are one
/// line (RFC 9112 5.2 obs-fold is replaced by SP before the value is interpreted).
fn unfold(v: &str) -> Vec<u8> {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .into_bytes()
}

fn names(a: &Authenticate) -> (&str, &str, &str) {
    (&a.domain, &a.user, &a.workstation)
}

#[test]
fn ms_nlmp_4_2_2_3_ntlmv1() {
    let c = challenge(&v1_challenge("33 82 02 e2"));
    assert_eq!(c.flags, NegotiateFlags(0xe202_8233));
    assert_eq!(c.server_challenge, "0123456789abcdef");
    assert_eq!(c.target_name.as_deref(), Some("Server"));
    assert_eq!(c.target_info, None);
    assert_eq!(c.version, Some(SPEC_VERSION));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);

    let mut a = authenticate(&unhex(
        "4e 54 4c 4d 53 53 50 00 03 00 00 00 18 00 18 00
         6c 00 00 00 18 00 18 00 84 00 00 00 0c 00 0c 00
         48 00 00 00 08 00 08 00 54 00 00 00 10 00 10 00
         5c 00 00 00 10 00 10 00 9c 00 00 00 35 82 80 e2
         05 01 28 0a 00 00 00 0f 44 00 6f 00 6d 00 61 00
         69 00 6e 00 55 00 73 00 65 00 72 00 43 00 4f 00
         4d 00 50 00 55 00 54 00 45 00 52 00 98 de f7 b8
         7f 88 aa 5d af e2 df 77 96 88 a1 72 de f1 1c 7d
         5c cd ef 13 67 c4 30 11 f3 02 98 a2 ad 35 ec e6
         4f 16 33 1c 44 bd be d9 27 84 1f 94 51 88 22 b1
         b3 f3 50 c8 95 86 82 ec bb 3e 3c b7",
    ));
    assert_eq!(a.flags, NegotiateFlags(0xe280_8235));
    assert_eq!(names(&a), ("Domain", "User", "COMPUTER"));
    assert_eq!(a.kind, ResponseKind::NtlmV1);
    // VERSION 5.1.2600 in the message (the spec's client), no MIC (payload starts at 72).
    assert_eq!(a.version.map(|v| v.build), Some(2600));
    assert_eq!(a.mic, None);
    a.reveal_secrets();
    // 4.2.2.2.1 NTLMv1 Response and 4.2.2.2.2 LMv1 Response.
    let NtResponse::V1 { response } = &a.nt_response else {
        panic!("{:?}", a.nt_response)
    };
    assert_eq!(
        response.to_string(),
        "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"
    );
    let LmResponse::Lm { response } = &a.lm_response else {
        panic!("{:?}", a.lm_response)
    };
    assert_eq!(
        response.to_string(),
        "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13"
    );
    // 4.2.2.2.3 Encrypted Session Key.
    assert_eq!(
        a.encrypted_session_key.map(|k| k.to_string()).as_deref(),
        Some("518822b1b3f350c8958682ecbb3e3cb7")
    );
}

#[test]
fn ms_nlmp_4_2_3_3_ntlmv1_with_client_challenge() {
    let c = challenge(&v1_challenge("33 82 0a 82"));
    assert_eq!(c.flags, NegotiateFlags(0x820a_8233));
    assert!(c.flags.contains(NegotiateFlags::EXTENDED_SESSIONSECURITY));
    assert_eq!(c.version, Some(SPEC_VERSION));

    let a = authenticate(&unhex(
        "4e 54 4c 4d 53 53 50 00 03 00 00 00 18 00 18 00
         6c 00 00 00 18 00 18 00 84 00 00 00 0c 00 0c 00
         48 00 00 00 08 00 08 00 54 00 00 00 10 00 10 00
         5c 00 00 00 00 00 00 00 9c 00 00 00 35 82 08 82
         05 01 28 0a 00 00 00 0f 44 00 6f 00 6d 00 61 00
         69 00 6e 00 55 00 73 00 65 00 72 00 43 00 4f 00
         4d 00 50 00 55 00 54 00 45 00 52 00 aa aa aa aa
         aa aa aa aa 00 00 00 00 00 00 00 00 00 00 00 00
         00 00 00 00 75 37 f8 03 ae 36 71 28 ca 45 82 04
         bd e7 ca f8 1e 97 ed 26 83 26 72 32",
    ));
    assert_eq!(a.flags, NegotiateFlags(0x8208_8235));
    assert_eq!(names(&a), ("Domain", "User", "COMPUTER"));
    // 4.2.3.2.2: the LM slot carries the client challenge padded with zeros.
    assert_eq!(a.kind, ResponseKind::NtlmV1Ess);
    assert_eq!(
        a.lm_response,
        LmResponse::Ess {
            client_challenge: "aaaaaaaaaaaaaaaa".to_string()
        }
    );
    assert_eq!(a.version.map(|v| v.build), Some(2600));
    assert_eq!(a.encrypted_session_key, None);
}

#[test]
fn ms_nlmp_4_2_4_3_ntlmv2() {
    let c = challenge(&unhex(
        "4e 54 4c 4d 53 53 50 00 02 00 00 00 0c 00 0c 00
         38 00 00 00 33 82 8a e2 01 23 45 67 89 ab cd ef
         00 00 00 00 00 00 00 00 24 00 24 00 44 00 00 00
         06 00 70 17 00 00 00 0f 53 00 65 00 72 00 76 00
         65 00 72 00 02 00 0c 00 44 00 6f 00 6d 00 61 00
         69 00 6e 00 01 00 0c 00 53 00 65 00 72 00 76 00
         65 00 72 00 00 00 00 00",
    ));
    assert_eq!(c.flags, NegotiateFlags(0xe28a_8233));
    assert_eq!(c.target_name.as_deref(), Some("Server"));
    let info = c.target_info.as_ref().unwrap();
    assert_eq!(info.text(MsvAvId::NbDomainName), Some("Domain"));
    assert_eq!(info.text(MsvAvId::NbComputerName), Some("Server"));
    assert!(info.terminated);
    assert_eq!(c.version, Some(SPEC_VERSION));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);

    let mut a = authenticate(&unhex(
        "4e 54 4c 4d 53 53 50 00 03 00 00 00 18 00 18 00
         6c 00 00 00 54 00 54 00 84 00 00 00 0c 00 0c 00
         48 00 00 00 08 00 08 00 54 00 00 00 10 00 10 00
         5c 00 00 00 10 00 10 00 d8 00 00 00 35 82 88 e2
         05 01 28 0a 00 00 00 0f 44 00 6f 00 6d 00 61 00
         69 00 6e 00 55 00 73 00 65 00 72 00 43 00 4f 00
         4d 00 50 00 55 00 54 00 45 00 52 00 86 c3 50 97
         ac 9c ec 10 25 54 76 4a 57 cc cc 19 aa aa aa aa
         aa aa aa aa 68 cd 0a b8 51 e5 1c 96 aa bc 92 7b
         eb ef 6a 1c 01 01 00 00 00 00 00 00 00 00 00 00
         00 00 00 00 aa aa aa aa aa aa aa aa 00 00 00 00
         02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00
         01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00
         00 00 00 00 00 00 00 00 c5 da d2 54 4f c9 79 90
         94 ce 1c e9 0b c9 d0 3e",
    ));
    assert_eq!(a.flags, NegotiateFlags(0xe288_8235));
    assert_eq!(names(&a), ("Domain", "User", "COMPUTER"));
    assert_eq!(a.kind, ResponseKind::NtlmV2);
    assert_eq!(a.nt_response_len, 84);
    a.reveal_secrets();
    // 4.2.4.2.2 LMv2 Response: HMAC (16) then the client challenge.
    let LmResponse::LmV2 { response } = &a.lm_response else {
        panic!("{:?}", a.lm_response)
    };
    assert_eq!(
        response.to_string(),
        "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"
    );
    // 4.2.4.2.1 NTLMv2 Response: NTProofStr, then the blob with Time 0 and the server's pairs.
    let NtResponse::V2 {
        nt_proof_str, blob, ..
    } = &a.nt_response
    else {
        panic!("{:?}", a.nt_response)
    };
    assert_eq!(nt_proof_str.to_string(), "68cd0ab851e51c96aabc927bebef6a1c");
    let blob = blob.as_ref().unwrap();
    assert_eq!((blob.resp_type, blob.hi_resp_type), (1, 1));
    assert_eq!(blob.timestamp, 0);
    assert_eq!(blob.timestamp_utc, None);
    assert_eq!(blob.client_challenge, "aaaaaaaaaaaaaaaa");
    assert_eq!(blob.av_pairs.text(MsvAvId::NbDomainName), Some("Domain"));
    assert_eq!(blob.av_pairs.text(MsvAvId::NbComputerName), Some("Server"));
    assert!(!a.mic_flagged);
    assert_eq!(
        a.encrypted_session_key.map(|k| k.to_string()).as_deref(),
        Some("c5dad2544fc9799094ce1ce90bc9d03e")
    );
}

#[test]
fn rfc_7616_3_9_1_digest() {
    let h = decode_header(
        HeaderKind::WwwAuthenticate,
        &unfold(
            r#"Digest
    realm="http-auth@example.org",
    qop="auth, auth-int",
    algorithm=SHA-256,
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        ),
    );
    let Token::DigestChallenge(c) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!(c.realm.as_deref(), Some("http-auth@example.org"));
    assert_eq!(c.qop, [Qop::Auth, Qop::AuthInt]);
    assert_eq!(c.algorithm, Some(Algorithm::Sha256));
    assert_eq!(
        c.nonce.as_deref(),
        Some("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v")
    );
    assert_eq!(
        c.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
    assert!(!c.stale && !c.userhash);
    for (alg, algorithm, response) in [
        ("MD5", Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
        (
            "SHA-256",
            Algorithm::Sha256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        let mut h = decode_header(
            HeaderKind::Authorization,
            &unfold(&format!(
                r#"Digest username="Mufasa",
    realm="http-auth@example.org",
    uri="/dir/index.html",
    algorithm={alg},
    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    nc=00000001,
    cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    qop=auth,
    response="{response}",
    opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
            )),
        );
        h.reveal_secrets();
        let Token::DigestResponse(r) = &h.items[0].token else {
            panic!("{h:?}")
        };
        assert_eq!(r.username.as_deref(), Some("Mufasa"));
        assert_eq!(r.uri.as_deref(), Some("/dir/index.html"));
        assert_eq!(r.algorithm, Some(algorithm));
        assert_eq!(r.nc, Some(1));
        assert_eq!(r.qop, Some(Qop::Auth));
        assert_eq!(
            r.cnonce.as_deref(),
            Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
        );
        assert_eq!(
            r.response
                .as_ref()
                .and_then(|s| s.reveal().map(String::as_str)),
            Some(response)
        );
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    }
}

#[test]
fn rfc_6750_bearer() {
    // 2.1 Authorization Request Header Field.
    let h = decode_header(HeaderKind::Authorization, b"Bearer mF_9.B5f-4.1JqM");
    let Token::Bearer(b) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!(
        b.token.reveal().map(String::as_str),
        Some("mF_9.B5f-4.1JqM")
    );
    assert_eq!(b.token.to_string(), "<redacted 15 bytes>");
    // 3 The WWW-Authenticate Response Header Field: both examples.
    let h = decode_header(HeaderKind::WwwAuthenticate, br#"Bearer realm="example""#);
    let Token::BearerChallenge(c) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!((c.realm.as_deref(), &c.error), (Some("example"), &None));
    let h = decode_header(
        HeaderKind::WwwAuthenticate,
        &unfold(
            r#"Bearer realm="example",
                       error="invalid_token",
                       error_description="The access token expired""#,
        ),
    );
    let Token::BearerChallenge(c) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!(c.error, Some(BearerError::InvalidToken));
    assert_eq!(
        c.error_description.as_deref(),
        Some("The access token expired")
    );
}

#[test]
fn rfc_7617_basic() {
    // 2: the challenge and `Aladdin` / `open sesame`.
    let h = decode_header(HeaderKind::WwwAuthenticate, br#"Basic realm="WallyWorld""#);
    let Token::BasicChallenge(c) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!(c.realm.as_deref(), Some("WallyWorld"));
    let mut h = decode_header(
        HeaderKind::Authorization,
        b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    );
    let Token::Basic(BasicCredentials { user, password, .. }) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!(user, "Aladdin");
    assert_eq!(password.to_string(), "<redacted 11 bytes>");
    h.reveal_secrets();
    let Token::Basic(b) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!(b.password.to_string(), "open sesame");
    // 2.1: the charset parameter.
    let h = decode_header(
        HeaderKind::WwwAuthenticate,
        br#"Basic realm="foo", charset="UTF-8""#,
    );
    let Token::BasicChallenge(c) = &h.items[0].token else {
        panic!("{h:?}")
    };
    assert_eq!(
        (c.realm.as_deref(), c.charset.as_deref()),
        (Some("foo"), Some("UTF-8"))
    );
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
}
