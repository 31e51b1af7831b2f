//! The entry point on every HTTP authentication header of the public captures, compared
//! field by field with tshark's decoding of the same frame (tests/fixtures/auth/
//! tshark-http-auth.tsv, made by refresh-tshark.sh).

use super::*;
use crate::auth::kerberos::KerberosMessage;
use crate::auth::spnego::NegotiationToken;

const TSV: &str = include_str!("../../../tests/fixtures/auth/tshark-http-auth.tsv");

struct Row<'a> {
    file: &'a str,
    frame: &'a str,
    cols: std::collections::HashMap<&'a str, &'a str>,
}

fn rows() -> Vec<Row<'static>> {
    let mut lines = TSV.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0],
                frame: f[1],
                cols: header.iter().copied().zip(f.iter().copied()).collect(),
            }
        })
        .collect()
}

/// tshark prints numbers as `0x00000003` or `3`.
fn num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn ntlm_of(t: &Token) -> Option<&NtlmMessage> {
    match t {
        Token::Ntlm(m) => Some(m),
        Token::Negotiate(n) => n.ntlm(),
        _ => None,
    }
}

#[test]
fn every_capture_header_matches_tshark() {
    let mut compared = 0;
    let rows = rows();
    assert!(rows.len() >= 50, "fixture has {} rows", rows.len());
    for row in &rows {
        let at = format!("{} frame {}", row.file, row.frame);
        let mut decoded = Vec::new();
        for (col, kind) in [
            ("http.www_authenticate", HeaderKind::WwwAuthenticate),
            ("http.authorization", HeaderKind::Authorization),
            ("http.proxy_authenticate", HeaderKind::ProxyAuthenticate),
            ("http.proxy_authorization", HeaderKind::ProxyAuthorization),
        ] {
            let v = row.cols.get(col).copied().unwrap_or_default();
            if v.is_empty() {
                continue;
            }
            let values: Vec<&[u8]> = v.split('|').map(str::as_bytes).collect();
            let h = decode_headers(kind, &values);
            assert_eq!(h.error, None, "{at}");
            assert_eq!(h.items.len(), values.len(), "{at}: {v}");
            for d in &h.items {
                assert!(
                    !matches!(d.token, Token::Malformed(_)),
                    "{at}: {}",
                    d.summary()
                );
                assert!(!d.summary().is_empty());
            }
            decoded.extend(h.items);
        }

        // NTLM: message type, flags, user, domain, host, server challenge.
        let ntlm: Vec<&NtlmMessage> = decoded.iter().filter_map(|d| ntlm_of(&d.token)).collect();
        let t_type = row.cols["ntlmssp.messagetype"];
        if t_type.is_empty() {
            assert!(ntlm.is_empty(), "{at}: NTLM that tshark did not see");
        } else {
            let [m] = ntlm.as_slice() else {
                panic!("{at}: expected one NTLM message, got {}", ntlm.len())
            };
            assert_eq!(Some(u64::from(m.message_type())), num(t_type), "{at}");
            assert_eq!(
                Some(u64::from(m.flags().0)),
                num(row.cols["ntlmssp.negotiateflags"]),
                "{at}"
            );
            match m {
                NtlmMessage::Authenticate(a) => {
                    assert_eq!(a.user, row.cols["ntlmssp.auth.username"], "{at}");
                    assert_eq!(a.domain, row.cols["ntlmssp.auth.domain"], "{at}");
                    assert_eq!(a.workstation, row.cols["ntlmssp.auth.hostname"], "{at}");
                }
                NtlmMessage::Challenge(c) => {
                    assert_eq!(
                        c.server_challenge, row.cols["ntlmssp.ntlmserverchallenge"],
                        "{at}"
                    );
                }
                NtlmMessage::Negotiate(_) => {}
            }
            compared += 1;
        }

        // SPNEGO and Kerberos: negState, supported mech, message type, realm, sname.
        let nego: Vec<&NegotiateToken> = decoded
            .iter()
            .filter_map(|d| match &d.token {
                Token::Negotiate(n) if n.ntlm().is_none() => Some(&**n),
                _ => None,
            })
            .collect();
        let neg_result = row.cols["spnego.negResult"];
        let krb_type = row.cols["kerberos.msg_type"];
        if neg_result.is_empty() && krb_type.is_empty() {
            continue;
        }
        let [n] = nego.as_slice() else {
            panic!("{at}: expected one Negotiate token, got {}", nego.len())
        };
        if let NegotiateToken::Spnego {
            token: NegotiationToken::Resp(r),
            ..
        } = n
        {
            assert_eq!(
                r.neg_state.map(|s| u64::from(s.value())),
                num(neg_result),
                "{at}"
            );
            assert_eq!(
                r.supported_mech.as_ref().map(|m| m.oid.as_str()),
                Some(row.cols["spnego.supportedMech"]),
                "{at}"
            );
        }
        let k = n.kerberos().map(|k| &k.message);
        match k {
            Some(KerberosMessage::ApReq(r)) => {
                assert_eq!(krb_type, "14", "{at}");
                assert_eq!(r.realm, row.cols["kerberos.realm"], "{at}");
                assert_eq!(
                    r.sname.components.join("|"),
                    row.cols["kerberos.SNameString"],
                    "{at}"
                );
            }
            Some(KerberosMessage::ApRep(_)) => assert_eq!(krb_type, "15", "{at}"),
            Some(KerberosMessage::KrbError(e)) => {
                assert_eq!(krb_type, "30", "{at}");
                assert_eq!(
                    Some(u64::try_from(e.error_code.value()).unwrap_or(u64::MAX)),
                    num(row.cols["kerberos.error_code"]),
                    "{at}"
                );
            }
            None => panic!("{at}: tshark saw Kerberos, we did not"),
        }
        compared += 1;
    }
    // NTLM legs and SPNEGO/Kerberos legs checked against tshark.
    assert!(compared >= 30, "only {compared} tokens compared");
}

#[test]
fn summaries_for_the_ui() {
    let h = decode_header(
        HeaderKind::WwwAuthenticate,
        b"NTLM TlRMTVNTUAACAAAABgAGADgAAAAFgomiKip4pcf2dvwAAAAAAAAAAFoAWgA+AAAABQLODgAAAA9JAE4AUwACAAYASQBOAFMAAQAIAEIASQBMAEwABAAOAGkAbgBzAC4AYwBvAG0AAwAYAEIASQBMAEwALgBpAG4AcwAuAGMAbwBtAAUADgBpAG4AcwAuAGMAbwBtAAAAAAA=",
    );
    assert_eq!(
        h.summary(),
        "NTLM Type 2 challenge 2a2a78a5c7f676fc, target INS, server BILL.ins.com"
    );
    let h = decode_headers(HeaderKind::WwwAuthenticate, &[b"Negotiate", b"NTLM"]);
    assert_eq!(h.summary(), "Negotiate offered; NTLM offered");
    let h = decode_header(HeaderKind::Authorization, b"Turbo customAuthDataHere");
    assert_eq!(h.summary(), "Turbo (unknown scheme), token68 of 18 bytes");
    let h = decode_header(HeaderKind::Authorization, b"Basic bWF4Om9wZW53YWxsMg==");
    assert_eq!(h.summary(), "Basic user max");
}

#[test]
fn malformed_token_keeps_what_was_read() {
    // The Type 3 of http-negotiate-rawntlm-iis.pcap cut after its fixed header.
    let h = decode_header(
        HeaderKind::Authorization,
        b"NTLM TlRMTVNTUAADAAAAGAAYAHgAAAAYABgAkAAAABQAFABIAAAACgAKAFz/AAASABIAZgAAAAAAAACoAAAABYKIogUBKAoAAAAP",
    );
    let Token::Malformed(m) = &h.items[0].token else {
        panic!("{:?}", h.items[0].token)
    };
    assert_eq!(m.error.field, "LmChallengeResponse");
    assert_eq!(
        m.what_was_read,
        [
            "NTLMSSP signature",
            "MessageType 3",
            "NegotiateFlags 0xa2888205"
        ]
    );
    assert_eq!(
        h.summary(),
        "malformed: buffer at offset 120 with length 24 lies outside the 72-byte message \
         (field LmChallengeResponse, offset 120) (read: NTLMSSP signature, MessageType 3, \
         NegotiateFlags 0xa2888205)"
    );
    let h = decode_header(
        HeaderKind::Authorization,
        b"Negotiate YIIE/gYGKwYBBQUCoIIE8jCCBO6gJDAi",
    );
    let Token::Malformed(m) = &h.items[0].token else {
        panic!("{:?}", h.items[0].token)
    };
    assert_eq!(
        m.what_was_read,
        ["GSS-API initial context token (RFC 2743 3.1), 24 bytes"]
    );
    let h = decode_header(HeaderKind::Authorization, b"");
    assert!(h.error.is_some());
}

#[test]
fn secrets_redacted_everywhere_unless_revealed() {
    let mut h = decode_header(HeaderKind::Authorization, b"Basic bWF4Om9wZW53YWxsMg==");
    let json = serde_json::to_string(&h).unwrap_or_default();
    assert!(!json.contains("openwall2"), "{json}");
    assert!(
        !json.contains("bWF4Om9wZW53YWxsMg"),
        "raw token68 leaked: {json}"
    );
    h.reveal_secrets();
    let json = serde_json::to_string(&h).unwrap_or_default();
    assert!(json.contains("openwall2"), "{json}");

    let h = decode_header(
        HeaderKind::Authorization,
        br#"Digest username="john", realm="r", nonce="n", uri="/", response="d74e6753c14e2cf2598b6940861e1a82""#,
    );
    let json = serde_json::to_string(&h).unwrap_or_default();
    assert!(!json.contains("d74e6753"), "{json}");
    let h = decode_header(HeaderKind::Authorization, b"Turbo secret=abc");
    let json = serde_json::to_string(&h).unwrap_or_default();
    assert!(!json.contains("abc"), "{json}");
}

#[test]
fn pasted_values() {
    let t1 = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==";
    for text in [
        format!("Authorization: NTLM {t1}"),
        format!("NTLM {t1}"),
        format!("  negotiate {t1}\n"),
        t1.to_string(),
    ] {
        let h = decode_pasted(&text);
        assert_eq!(h.kind, HeaderKind::Authorization, "{text}");
        assert!(
            h.summary()
                .contains("NTLM Type 1 negotiate, flags 0xa2088207"),
            "{text}: {}",
            h.summary()
        );
    }
    let h = decode_pasted("Negotiate oYGfMIGcoAMKAQChCwYJKoZIgvcSAQICooGHBIGEYIGBBgkqhkiG9xIBAgICAG9yMHCgAwIBBaEDAgEPomQwYqADAgEXolsEWcpThUSfeEf1yw5tiT2h4WEXdiCm81NFr/Hm90dlmPDZpQETVBmch3MEIiHnhhhB6gV5vpSAKir4YLoD7UnTntwWoDLItRyNnKAfmeKiS06UOmaQw+0b219F");
    assert_eq!(h.kind, HeaderKind::WwwAuthenticate);
    let h = decode_pasted(r#"WWW-Authenticate: Digest realm="r", nonce="n", qop="auth""#);
    assert!(matches!(h.items[0].token, Token::DigestChallenge(_)));
}

proptest::proptest! {
    #[test]
    fn never_panics_on_strings(s in "\\PC{0,300}") {
        for kind in [HeaderKind::WwwAuthenticate, HeaderKind::Authorization] {
            let h = decode_header(kind, s.as_bytes());
            let _ = h.summary();
        }
        let _ = decode_pasted(&s);
    }

    #[test]
    fn never_panics_on_scheme_and_base64(scheme in proptest::sample::select(vec!["NTLM", "Negotiate", "Basic", "Bearer", "Kerberos"]),
                                         bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        use base64::Engine as _;
        let v = format!("{scheme} {}", base64::engine::general_purpose::STANDARD.encode(&bytes));
        let h = decode_header(HeaderKind::Authorization, v.as_bytes());
        let _ = h.summary();
        let _ = serde_json::to_string(&h);
    }
}
