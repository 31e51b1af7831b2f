//! Masking real header lines: those of the lab captures in captures/, read from the files.

use super::*;
use crate::auth::kerberos::KerberosMessage;
use crate::auth::ntlm::{self, LmResponse, NtResponse, NtlmMessage};
use crate::auth::spnego;

/// The `Name: value` lines of header `name` in a lab capture, as sent (each lies whole in
/// one packet: the lab records loopback traffic).
fn lines(capture: &str, name: &str) -> Vec<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(capture);
    let bytes = std::fs::read(&path).unwrap();
    let needle = format!("\r\n{name}: ");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = bytes[at..]
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
    {
        let start = at + i + 2;
        let len = bytes[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap();
        out.push(bytes[start..start + len].to_vec());
        at = start + len;
    }
    assert!(!out.is_empty(), "no {name} in {capture}");
    out
}

/// The token after the scheme, decoded.
fn token(line: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(line).unwrap();
    let t = text.rsplit(' ').next().unwrap();
    base64::engine::general_purpose::STANDARD.decode(t).unwrap()
}

fn masked(line: &[u8]) -> Vec<u8> {
    let m = mask_line(line).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(line)));
    assert_eq!(m.len(), line.len());
    m
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

fn zero(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&x| x == 0)
}

fn type3(m: NtlmMessage) -> Box<ntlm::Authenticate> {
    match m {
        NtlmMessage::Authenticate(a) => a,
        other => panic!("not a Type 3: {other:?}"),
    }
}

/// The secret fields of a Type 3: LM response, NT response (NTProofStr for v2), blob,
/// session key, MIC.
type Fields = (
    Vec<u8>,
    Vec<u8>,
    Option<ntlm::NtlmV2Blob>,
    Option<Vec<u8>>,
    Option<String>,
);

fn secret_fields(a: &ntlm::Authenticate) -> Fields {
    let lm = match &a.lm_response {
        LmResponse::Lm { response }
        | LmResponse::LmV2 { response }
        | LmResponse::Other { response } => response.reveal().unwrap().clone(),
        LmResponse::Zeros { len } => vec![0; *len],
        LmResponse::Empty => Vec::new(),
        other => panic!("{other:?}"),
    };
    let (nt, blob) = match &a.nt_response {
        NtResponse::V2 {
            nt_proof_str, blob, ..
        } => (nt_proof_str.reveal().unwrap().clone(), blob.clone()),
        NtResponse::V1 { response } => (response.reveal().unwrap().clone(), None),
        other => panic!("{other:?}"),
    };
    let key = a
        .encrypted_session_key
        .as_ref()
        .map(|k| k.reveal().unwrap().clone());
    (lm, nt, blob, key, a.mic.clone())
}

/// A masked Type 3 is still one, with the same names and blob, and its secrets zero.
fn check_type3(original: &[u8], masked: &[u8]) {
    let (a, b) = (
        type3(ntlm::parse(original).unwrap()),
        type3(ntlm::parse(masked).unwrap()),
    );
    assert_eq!(
        (&a.user, &a.domain, &a.workstation),
        (&b.user, &b.domain, &b.workstation)
    );
    assert!(a.user == "alice" || a.user == "carol", "{}", a.user);
    assert_eq!(a.kind, b.kind);
    assert_eq!(a.flags, b.flags);
    let (lm0, nt0, blob0, key0, mic0) = secret_fields(&a);
    let (lm1, nt1, blob1, key1, mic1) = secret_fields(&b);
    assert!(!zero(&nt0), "the original NT response is no zeros");
    assert!(zero(&nt1), "{nt1:?}");
    assert_eq!(lm1.len(), lm0.len());
    assert!(lm1.iter().all(|&x| x == 0));
    assert_eq!(blob0, blob1, "the NTLMv2 blob stays");
    assert_eq!(key0.as_ref().map(Vec::len), key1.as_ref().map(Vec::len));
    if let Some(k) = key1 {
        assert!(zero(&k) && !zero(key0.as_ref().unwrap()));
    }
    assert_eq!(mic0.is_some(), mic1.is_some());
    if let Some(m) = mic1 {
        assert!(m.chars().all(|c| c == '0'), "{m}");
    }
    // Nothing else moved.
    let changed = original.iter().zip(masked).filter(|(x, y)| x != y).count();
    let most = lm0.len() + nt0.len() + key0.map_or(0, |k| k.len()) + mic0.map_or(0, |_| 16);
    assert!(changed <= most, "{changed} bytes changed");
}

#[test]
fn ntlm_type3_keeps_all_but_the_responses_key_and_mic() {
    for (capture, header) in [
        ("ntlm-success.pcap", "Authorization"),
        ("ntlm-success-curl.pcap", "Authorization"),
        ("ntlm-reset-after-challenge.pcap", "Authorization"),
        ("proxy-ntlm-success.pcap", "Proxy-Authorization"),
    ] {
        let mut type3s = 0;
        for line in lines(capture, header) {
            let m = masked(&line);
            let (t0, t1) = (token(&line), token(&m));
            match ntlm::parse(&t0).unwrap() {
                NtlmMessage::Authenticate(_) => {
                    type3s += 1;
                    check_type3(&t0, &t1);
                    assert!(text(&m).starts_with(&format!("{header}: NTLM TlRMTVNTUAADAAAA")));
                }
                _ => assert_eq!(m, line, "a Type 1 holds no secret"),
            }
        }
        assert!(type3s > 0, "{capture}");
    }
    // A Type 2 challenge, whole.
    for line in lines("ntlm-success.pcap", "WWW-Authenticate") {
        assert_eq!(masked(&line), line);
    }
}

#[test]
fn ntlmv1_responses_are_zeroed_whole() {
    // From src/auth/ntlm/tests.rs (http-ntlm-sharepoint-type2-missing.pcap frame 5).
    const V1_T3: &str = "TlRMTVNTUAADAAAAGAAYAIgAAAAYABgAoAAAAA4ADgBIAAAAGgAaAFYAAAAYABgAcAAAAAAAAAC4AAAABYKIogUBKAoAAAAPZQB4AGEAbQBwAGwAZQBhAGQAbQBpAG4AaQBzAHQAcgBhAHQAbwByAFcAQQBOAEcAXwBXAEUATgBDAEgAQQBPAGWqe25n+EqjAAAAAAAAAAAAAAAAAAAAAKpY3VubZVwgf6w9J+aFyZ16FjpUtLb4zA==";
    let line = format!("Authorization: NTLM {V1_T3}");
    let m = masked(line.as_bytes());
    let (a, b) = (
        type3(ntlm::parse(&token(line.as_bytes())).unwrap()),
        type3(ntlm::parse(&token(&m)).unwrap()),
    );
    assert_eq!(a.kind, crate::auth::ntlm::ResponseKind::NtlmV1Ess);
    assert_eq!(a.user, b.user);
    let NtResponse::V1 { response } = &b.nt_response else {
        panic!("{:?}", b.nt_response)
    };
    assert_eq!(response.reveal().unwrap(), &vec![0u8; 24]);
}

/// The SPNEGO tokens of `line`, decoded.
fn spnego_of(line: &[u8]) -> spnego::NegotiateToken {
    spnego::parse(&token(line)).unwrap()
}

#[test]
fn negotiate_ntlm_keeps_the_spnego_framing() {
    let mut type3s = 0;
    for line in lines("negotiate-ntlm-success.pcap", "Authorization") {
        let m = masked(&line);
        let (a, b) = (spnego_of(&line), spnego_of(&m));
        assert_eq!(a.summary(), b.summary());
        if a.ntlm().unwrap().message_type() == 3 {
            type3s += 1;
            // The NTLMSSP bytes inside the NegTokenResp.
            let (t0, t1) = (token(&line), token(&m));
            let at = t0.windows(8).position(|w| w == b"NTLMSSP\0").unwrap();
            // responseToken OCTET STRING, a two-byte length: 04 82 LL LL.
            assert_eq!(t0[at - 4..at - 2], [0x04, 0x82]);
            let end = at + usize::from(u16::from_be_bytes([t0[at - 2], t0[at - 1]]));
            check_type3(&t0[at..end], &t1[at..end]);
            // After it, the mechListMIC [3]: an NTLM signature whose version stays.
            assert_eq!(t0[t0.len() - 16..t0.len() - 12], [1, 0, 0, 0]);
            assert!(zero(&t1[t1.len() - 12..]) && !zero(&t0[t0.len() - 12..]));
            assert_eq!(t0[end..t0.len() - 12], t1[end..t1.len() - 12]);
        } else {
            assert_eq!(m, line);
        }
        assert_eq!(
            a.ntlm().unwrap().message_type(),
            b.ntlm().unwrap().message_type()
        );
    }
    assert_eq!(type3s, 1);
    // The Type 2 stays; the last token's mechListMIC (an NTLM signature) is zeroed.
    let challenges = lines("negotiate-ntlm-success.pcap", "WWW-Authenticate");
    let type2 = challenges
        .iter()
        .find(|l| token(l).windows(8).any(|w| w == b"NTLMSSP\0"))
        .unwrap();
    assert_eq!(&masked(type2), type2);
    let last = challenges.last().unwrap();
    let (t0, t1) = (token(last), token(&masked(last)));
    assert_eq!(t0.len(), t1.len());
    // NegTokenResp { negState accept-completed, mechListMIC OCTET STRING (16) }: the
    // signature's version (1) stays, its checksum and sequence number are zeroed.
    assert_eq!(t0[..t0.len() - 12], t1[..t1.len() - 12]);
    assert_eq!(t1[t1.len() - 16..t1.len() - 12], [1, 0, 0, 0]);
    assert!(!zero(&t0[t0.len() - 12..]));
    assert!(zero(&t1[t1.len() - 12..]));
    assert!(spnego_of(&masked(last))
        .summary()
        .contains("accept-completed"));
}

fn kerberos_of(line: &[u8]) -> KerberosMessage {
    spnego_of(line).kerberos().unwrap().message.clone()
}

#[test]
fn kerberos_keeps_all_but_the_cipher_text() {
    let mut ap_reqs = 0;
    for capture in [
        "kerberos-success.pcap",
        "kerberos-success-then-500.pcap",
        "kerberos-wrong-key.pcap",
        "kerberos-authz-denied.pcap",
    ] {
        for line in lines(capture, "Authorization") {
            let m = masked(&line);
            let (KerberosMessage::ApReq(a), KerberosMessage::ApReq(b)) =
                (kerberos_of(&line), kerberos_of(&m))
            else {
                panic!("not an AP-REQ")
            };
            ap_reqs += 1;
            assert_eq!(
                (&a.realm, &a.spn, a.ticket_etype),
                (&b.realm, &b.spn, b.ticket_etype)
            );
            assert_eq!(a.ap_options, b.ap_options);
            let cipher = |s: &crate::auth::Secret<Vec<u8>>| s.reveal().unwrap().clone();
            assert!(!zero(&cipher(&a.ticket_cipher)));
            assert!(zero(&cipher(&b.ticket_cipher)));
            assert!(!zero(&cipher(&a.authenticator_cipher)));
            assert!(zero(&cipher(&b.authenticator_cipher)));
            // The rest of the token (tags, lengths, names) is as it was.
            let (t0, t1) = (token(&line), token(&m));
            let changed = t0.iter().zip(&t1).filter(|(x, y)| x != y).count();
            let ciphers = a.ticket_cipher.len() + a.authenticator_cipher.len();
            assert!(changed <= ciphers && changed + ciphers / 32 >= ciphers);
        }
        for line in lines(capture, "WWW-Authenticate") {
            let m = masked(&line);
            if !line.contains(&b' ') || line.ends_with(b"Negotiate") || line.ends_with(b"NTLM") {
                assert_eq!(m, line);
                continue;
            }
            match kerberos_of(&line) {
                KerberosMessage::ApRep(a) => {
                    let KerberosMessage::ApRep(b) = kerberos_of(&m) else {
                        panic!()
                    };
                    assert!(!zero(a.cipher.reveal().unwrap()));
                    assert!(zero(b.cipher.reveal().unwrap()));
                    assert_eq!(a.etype, b.etype);
                }
                // KRB-ERROR: nothing secret, the line whole.
                KerberosMessage::KrbError(_) => assert_eq!(m, line),
                KerberosMessage::ApReq(_) => panic!("an AP-REQ in a challenge"),
            }
        }
    }
    assert_eq!(ap_reqs, 4);
}

#[test]
fn basic_masks_the_password_and_keeps_the_user() {
    let line = &lines("basic-success.pcap", "Authorization")[0];
    let m = masked(line);
    assert_eq!(token(&m), b"alice:***********");
    assert_eq!(text(&m), "Authorization: Basic YWxpY2U6KioqKioqKioqKio=");
    // A password with a colon in it, no padding, and a missing colon.
    let m = masked(b"Proxy-Authorization: basic YTpiOmM");
    assert_eq!(text(&m), "Proxy-Authorization: basic YToqKio");
    assert_eq!(mask_line(b"Authorization: Basic bm9jb2xvbg=="), None);
    assert_eq!(mask_line(b"Authorization: Basic !!!!"), None);
    // Empty password: nothing to mask.
    let m = masked(b"Authorization: Basic YTo=");
    assert_eq!(text(&m), "Authorization: Basic YTo=");
}

#[test]
fn digest_masks_the_response_and_rspauth() {
    let line = &lines("digest-success.pcap", "Authorization")[0];
    let m = masked(line);
    let t = text(&m);
    assert!(
        t.contains(&format!("response=\"{}\",", "*".repeat(32))),
        "{t}"
    );
    assert!(
        t.contains("username=\"bob\", realm=\"Docs\", nonce=\"rx5W"),
        "{t}"
    );
    assert!(t.ends_with(
        "nc=00000001, qop=auth, response=\"********************************\", algorithm=MD5"
    ));
    let line = &lines("digest-success.pcap", "Authentication-Info")[0];
    let m = masked(line);
    assert!(text(&m).starts_with(&format!(
        "Authentication-Info: rspauth=\"{}\", cnonce=",
        "*".repeat(32)
    )));
    // The challenge holds no secret.
    let line = &lines("digest-success.pcap", "WWW-Authenticate")[0];
    assert_eq!(&masked(line), line);
    // Unquoted, upper case, and a broken list.
    let m = masked(b"Proxy-Authentication-Info: RSPAUTH=abc123, qop=auth");
    assert_eq!(
        text(&m),
        "Proxy-Authentication-Info: RSPAUTH=******, qop=auth"
    );
    assert_eq!(
        mask_line(b"Authorization: Digest username=\"bob, response=\"ab\""),
        None
    );
}

#[test]
fn a_jwt_keeps_its_header_and_claims() {
    let all = lines("bearer-bare-jwt.pcap", "Authorization");
    for (line, sig) in all.iter().zip([
        "XiQjCW6OGhpM1opTt0AvKQrlM5UZwM2SrU5910gdcyY",
        "5Kxa2umh1BmCwRWU4YCH-6HYOPZ1-SVphUHpaG9etdw",
    ]) {
        let m = masked(line);
        let (t0, t1) = (text(line), text(&m));
        assert!(t0.ends_with(sig));
        assert_eq!(t1, t0.replace(sig, &"*".repeat(sig.len())));
    }
    // An opaque bearer token is the secret: starred whole.
    let m = masked(b"Authorization: Bearer mF_9.B5f-4.1JqM");
    assert_eq!(text(&m), "Authorization: Bearer ***************");
    // A credential with no scheme that is no JWT is not understood.
    assert_eq!(mask_line(b"Authorization: abcdef"), None);
    // A scheme alone has nothing to mask.
    assert_eq!(
        masked(b"Authorization: Negotiate"),
        b"Authorization: Negotiate"
    );
}

#[test]
fn cookies_are_masked_whole() {
    assert_eq!(text(&masked(b"Cookie: a=b; c=d")), "Cookie: ********");
    assert_eq!(
        text(&masked(b"set-cookie:  s=1; Path=/")),
        "set-cookie:  ***********"
    );
}

#[test]
fn several_challenges_on_a_line_only_lose_the_negotiate_token() {
    let ap_rep = lines("kerberos-success.pcap", "WWW-Authenticate")
        .into_iter()
        .find(|l| l.len() > 100)
        .unwrap();
    let tok = &text(&ap_rep)["WWW-Authenticate: Negotiate ".len()..];
    let line = format!("WWW-Authenticate: Basic realm=\"a, Negotiate b\", Negotiate {tok} , NTLM");
    let m = masked(line.as_bytes());
    let t = text(&m);
    assert!(
        t.starts_with("WWW-Authenticate: Basic realm=\"a, Negotiate b\", Negotiate oYG3"),
        "{t}"
    );
    assert!(t.ends_with(" , NTLM"), "{t}");
    assert_ne!(t, line);
    let masked_tok = &t[t.rfind(", Negotiate ").unwrap() + 12..t.len() - 7];
    assert_eq!(masked_tok, text(&masked(&ap_rep))[28..].to_string());
    // A Negotiate token not understood is starred; the rest stays.
    let m = masked(b"Proxy-Authenticate: NTLM, Negotiate AAAA, Basic realm=\"x\"");
    assert_eq!(
        text(&m),
        "Proxy-Authenticate: NTLM, Negotiate ****, Basic realm=\"x\""
    );
    let m = masked(b"WWW-Authenticate: Kerberos");
    assert_eq!(text(&m), "WWW-Authenticate: Kerberos");
}

#[test]
fn what_is_not_understood_is_left_to_the_caller() {
    for line in [
        &b"Authorization: NTLM TlRMTVNTUAADAAAAGAAYAEAAAABqAGoAWAAA"[..],
        b"Authorization: NTLM TlRM",
        b"Authorization: Negotiate YIIC7QYGKwYBBQUCoIIC4TCCAt2gGTAX",
        b"Authorization: Negotiate !!",
        b"Authorization: Foo bar",
        b"Authorization: Basic YWxp",
        b"Host: example",
        b"no colon",
    ] {
        assert_eq!(mask_line(line), None, "{}", text(line));
    }
}

#[test]
fn may_refine_names_the_lines_worth_keeping() {
    assert!(may_refine(b""));
    assert!(may_refine(b"Auth"));
    assert!(may_refine(b"proxy-authentication-"));
    assert!(may_refine(b"WWW-Authenticate: Negotiate oY"));
    assert!(!may_refine(b"Cookie"));
    assert!(!may_refine(b"Cookie: a"));
    assert!(!may_refine(b"Host"));
    assert!(!may_refine(b"Authorization-X: a"));
}

proptest::proptest! {
    /// Any line: no panic, and the same length.
    #[test]
    fn any_line_keeps_its_length(
        name in proptest::sample::select(vec![
            "Authorization", "WWW-Authenticate", "Authentication-Info", "Cookie", "X",
        ]),
        scheme in proptest::sample::select(vec![
            "", "Basic ", "NTLM ", "Negotiate ", "Digest ", "Bearer ", "Kerberos ",
        ]),
        value in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
    ) {
        let mut line = format!("{name}: {scheme}").into_bytes();
        line.extend(value.iter().filter(|&&b| b != b'\r' && b != b'\n'));
        if let Some(m) = mask_line(&line) {
            proptest::prop_assert_eq!(m.len(), line.len());
        }
    }

    /// Real tokens with bytes flipped: no panic, the same length.
    #[test]
    fn damaged_tokens_keep_their_length(at in 0usize..4000, to in proptest::num::u8::ANY) {
        for (capture, header) in [
            ("kerberos-success.pcap", "Authorization"),
            ("negotiate-ntlm-success.pcap", "Authorization"),
            ("ntlm-success.pcap", "Authorization"),
        ] {
            for line in lines(capture, header) {
                let mut tok = token(&line);
                if tok.is_empty() {
                    continue;
                }
                let i = at % tok.len();
                tok[i] = to;
                let scheme = text(&line).split(' ').nth(1).unwrap().to_owned();
                let l = format!(
                    "{header}: {scheme} {}",
                    base64::engine::general_purpose::STANDARD.encode(&tok)
                );
                if let Some(m) = mask_line(l.as_bytes()) {
                    proptest::prop_assert_eq!(m.len(), l.len());
                }
            }
        }
    }
}
