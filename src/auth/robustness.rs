//! Random and truncated input returns a value or an error, never a panic, for the decoders
//! whose own tests do not already cover it that way: Digest (both directions), AV_PAIR
//! lists, JWTs, and real NTLM / SPNEGO / Kerberos tokens cut at every length. (NTLM,
//! SPNEGO, Kerberos, Basic, Bearer, the header grammar and the tree renderer each have a
//! random-bytes proptest next to them.)

use crate::auth::{bearer, decode_header, ntlm, spnego, HeaderKind};
use base64::Engine as _;
use proptest::prelude::*;

/// Real tokens: http-negotiate-kerberos-iis-with-kdc.pcap (SPNEGO + Kerberos AP-REQ, and the
/// NegTokenResp with the AP-REP), http-ntlm-sharepoint-in-erspan.pcap (NTLMv2 Type 3 with
/// a MIC and a Type 2 with a timestamp).
fn real_tokens() -> Vec<Vec<u8>> {
    let b64 = |s: &str| crate::auth::decode_base64(s.trim(), "test").unwrap_or_default();
    vec![
        b64(include_str!("../../tests/fixtures/auth/negotiate-kerberos-iis-ap-req.b64")),
        b64("oYGfMIGcoAMKAQChCwYJKoZIgvcSAQICooGHBIGEYIGBBgkqhkiG9xIBAgICAG9yMHCgAwIBBaEDAgEPomQwYqADAgEXolsEWcpThUSfeEf1yw5tiT2h4WEXdiCm81NFr/Hm90dlmPDZpQETVBmch3MEIiHnhhhB6gV5vpSAKir4YLoD7UnTntwWoDLItRyNnKAfmeKiS06UOmaQw+0b219F"),
        b64(include_str!("../../tests/fixtures/auth/ntlm-sharepoint-erspan-type3.b64")),
        b64("TlRMTVNTUAACAAAABAAEADgAAAAFgomi7mG9THVaDtMAAAAAAAAAAG4AbgA8AAAABgGxHQAAAA9TAFAAAgAEAFMAUAABAAoAVABGAEQAUwBQAAQAEABzAHAALgBsAG8AYwBhAGwAAwAcAFQARgBEAFMAUAAuAHMAcAAuAGwAbwBjAGEAbAAFABAAcwBwAC4AbABvAGMAYQBsAAcACACXm7aj9u/QAQAAAAA="),
    ]
}

#[test]
fn real_tokens_cut_at_every_length() {
    for tok in real_tokens() {
        assert!(tok.len() > 100);
        for n in 0..tok.len() {
            let cut = &tok[..n];
            let _ = ntlm::parse(cut);
            let _ = spnego::parse(cut);
            let _ = crate::auth::kerberos::parse(cut);
            let v = format!(
                "Negotiate {}",
                base64::engine::general_purpose::STANDARD.encode(cut)
            );
            let _ = decode_header(HeaderKind::Authorization, v.as_bytes());
        }
        // The whole token decodes.
        assert!(spnego::parse(&tok).is_ok());
    }
}

fn digest_param() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "realm",
        "nonce",
        "qop",
        "algorithm",
        "stale",
        "nc",
        "cnonce",
        "response",
        "uri",
        "username",
        "username*",
        "userhash",
        "opaque",
        "domain",
        "charset",
        "x",
    ]);
    (names, "[ -~]{0,24}", any::<bool>()).prop_map(|(n, v, quoted)| {
        if quoted {
            format!("{n}=\"{}\"", v.replace(['"', '\\'], ""))
        } else {
            format!("{n}={}", v.replace([' ', ',', '"'], ""))
        }
    })
}

proptest! {
    #[test]
    fn digest_never_panics(params in prop::collection::vec(digest_param(), 0..12)) {
        let v = format!("Digest {}", params.join(", "));
        for kind in [HeaderKind::WwwAuthenticate, HeaderKind::Authorization] {
            let _ = decode_header(kind, v.as_bytes());
        }
    }

    #[test]
    fn av_pairs_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300),
                            pairs in prop::collection::vec((0u16..12, prop::collection::vec(any::<u8>(), 0..40)), 0..8)) {
        let _ = ntlm::parse_av_pairs(&bytes);
        // Well-formed headers with values of any length for every known id.
        let mut list = Vec::new();
        for (id, v) in &pairs {
            list.extend_from_slice(&id.to_le_bytes());
            list.extend_from_slice(&(v.len() as u16).to_le_bytes());
            list.extend_from_slice(v);
        }
        let parsed = ntlm::parse_av_pairs(&list);
        prop_assert!(parsed.pairs.len() <= pairs.len());
    }

    #[test]
    fn jwt_never_panics(a in prop::collection::vec(any::<u8>(), 0..80),
                        b in prop::collection::vec(any::<u8>(), 0..80),
                        json in "\\{(\"[a-z]{1,4}\":(-?[0-9]{1,20}|\"[ -~]{0,8}\"|\\[\\]|null|true),?){0,5}\\}") {
        let e = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
        let _ = bearer::parse_jwt(&format!("{}.{}.{}", e(&a), e(&b), e(&a)));
        let _ = bearer::parse_jwt(&format!("{}.{}.sig", e(json.as_bytes()), e(json.as_bytes())));
        let _ = bearer::parse_token(&format!("{}.{}.", e(json.as_bytes()), e(&b)));
    }
}
