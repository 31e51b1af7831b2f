//! The entry point on every HTTP authentication header of the public captures, compared
//! field by field with tshark's decoding of the same frame (tests/fixtures/auth/
//! tshark-http-auth.tsv, made by scripts/refresh-auth-fixtures.sh).

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

/// Where authscope and tshark rightly differ: (file, frame, what, reason). Each is printed.
const TSHARK_DIFFERENCES: &[(&str, &str, &str, &str)] = &[(
    "proxy-ntlm-success.pcap",
    "6",
    "NTLM CHALLENGE malformed",
    "TargetNameFields offset 0xaaaaaaae lies outside the 49-byte message: authscope reports \
     the field, tshark shows the message type only (MS-NLMP 2.2.1.2)",
)];

#[derive(Default)]
struct Tally {
    fields: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, at: &str, what: &str, ours: String, theirs: String) {
        self.fields += 1;
        if ours != theirs {
            self.failures.push(format!(
                "{at}: {what}: authscope {ours:?}, tshark {theirs:?}"
            ));
        }
    }
}

/// An empty tshark field is an absent value; tshark shows an empty NTLM string as `NULL`.
fn opt(s: &str) -> Option<&str> {
    (!s.is_empty() && s != "NULL").then_some(s)
}

#[test]
fn every_capture_header_matches_tshark() {
    let rows = rows();
    assert!(rows.len() >= 150, "fixture has {} rows", rows.len());
    let mut tokens = 0usize;
    let mut t = Tally::default();
    let mut known = Vec::new();
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
            t.check(&at, "header error", format!("{:?}", h.error), "None".into());
            t.check(
                &at,
                "items",
                h.items.len().to_string(),
                values.len().to_string(),
            );
            for d in &h.items {
                assert!(!d.summary().is_empty());
                if let Token::Malformed(_) = d.token {
                    match TSHARK_DIFFERENCES
                        .iter()
                        .find(|(f, n, _, _)| *f == row.file && *n == row.frame)
                    {
                        Some((_, _, what, why)) => {
                            known.push(format!("{at}: {what}: {} ({why})", d.summary()))
                        }
                        None => t.failures.push(format!("{at}: malformed: {}", d.summary())),
                    }
                }
            }
            decoded.extend(h.items);
        }

        // NTLM: message type, flags, user, domain, host, server challenge, Type 1 names.
        let ntlm: Vec<&NtlmMessage> = decoded.iter().filter_map(|d| ntlm_of(&d.token)).collect();
        let col = |c: &str| row.cols.get(c).copied().unwrap_or_default();
        let t_type = col("ntlmssp.messagetype");
        match ntlm.as_slice() {
            [] if t_type.is_empty() || known.iter().any(|k| k.starts_with(&at)) => {}
            [m] => {
                tokens += 1;
                t.check(
                    &at,
                    "NTLM type",
                    format!("{:?}", Some(u64::from(m.message_type()))),
                    format!("{:?}", num(t_type)),
                );
                t.check(
                    &at,
                    "NTLM flags",
                    format!("{:?}", Some(u64::from(m.flags().0))),
                    format!("{:?}", num(col("ntlmssp.negotiateflags"))),
                );
                match m {
                    NtlmMessage::Authenticate(a) => {
                        t.check(
                            &at,
                            "user",
                            a.user.clone(),
                            opt(col("ntlmssp.auth.username")).unwrap_or_default().into(),
                        );
                        t.check(
                            &at,
                            "domain",
                            a.domain.clone(),
                            opt(col("ntlmssp.auth.domain")).unwrap_or_default().into(),
                        );
                        t.check(
                            &at,
                            "host",
                            a.workstation.clone(),
                            opt(col("ntlmssp.auth.hostname")).unwrap_or_default().into(),
                        );
                    }
                    NtlmMessage::Challenge(c) => {
                        t.check(
                            &at,
                            "server challenge",
                            c.server_challenge.clone(),
                            col("ntlmssp.ntlmserverchallenge").into(),
                        );
                    }
                    NtlmMessage::Negotiate(n) => {
                        t.check(
                            &at,
                            "Type 1 domain",
                            format!("{:?}", n.domain.as_deref()),
                            format!("{:?}", opt(col("ntlmssp.negotiate.domain"))),
                        );
                        t.check(
                            &at,
                            "Type 1 workstation",
                            format!("{:?}", n.workstation.as_deref()),
                            format!("{:?}", opt(col("ntlmssp.negotiate.callingworkstation"))),
                        );
                    }
                }
            }
            other => t.failures.push(format!(
                "{at}: {} NTLM messages, tshark type {t_type:?}",
                other.len()
            )),
        }

        // SPNEGO and Kerberos: negState, supported mech, message type, realm, SPN, etypes,
        // error code.
        let nego: Vec<&NegotiateToken> = decoded
            .iter()
            .filter_map(|d| match &d.token {
                Token::Negotiate(n) if !matches!(**n, NegotiateToken::RawNtlm { .. }) => Some(&**n),
                _ => None,
            })
            .collect();
        let neg_result = col("spnego.negResult");
        let krb_type = col("kerberos.msg_type");
        if neg_result.is_empty() && krb_type.is_empty() {
            if nego.iter().any(|n| n.kerberos().is_some()) {
                t.failures
                    .push(format!("{at}: a Kerberos token tshark did not decode"));
            }
            continue;
        }
        let [n] = nego.as_slice() else {
            t.failures
                .push(format!("{at}: {} Negotiate tokens", nego.len()));
            continue;
        };
        tokens += 1;
        if let NegotiateToken::Spnego {
            token: NegotiationToken::Resp(r),
            ..
        } = n
        {
            t.check(
                &at,
                "negState",
                format!("{:?}", r.neg_state.map(|s| u64::from(s.value()))),
                format!("{:?}", num(neg_result)),
            );
            t.check(
                &at,
                "supportedMech",
                format!("{:?}", r.supported_mech.as_ref().map(|m| m.oid.as_str())),
                format!("{:?}", opt(col("spnego.supportedMech"))),
            );
        }
        if krb_type.is_empty() {
            if n.kerberos().is_some() {
                t.failures
                    .push(format!("{at}: a Kerberos token tshark did not decode"));
            }
            continue;
        }
        let etypes = col("kerberos.etype");
        match n.kerberos().map(|k| &k.message) {
            Some(KerberosMessage::ApReq(r)) => {
                t.check(&at, "Kerberos type", "14".into(), krb_type.into());
                t.check(&at, "realm", r.realm.clone(), col("kerberos.realm").into());
                t.check(
                    &at,
                    "SPN",
                    r.sname.components.join("|"),
                    col("kerberos.SNameString").into(),
                );
                t.check(
                    &at,
                    "etypes",
                    format!(
                        "{}|{}",
                        r.ticket_etype.value(),
                        r.authenticator_etype.value()
                    ),
                    etypes.into(),
                );
            }
            Some(KerberosMessage::ApRep(r)) => {
                t.check(&at, "Kerberos type", "15".into(), krb_type.into());
                t.check(&at, "etype", r.etype.value().to_string(), etypes.into());
            }
            Some(KerberosMessage::KrbError(e)) => {
                t.check(&at, "Kerberos type", "30".into(), krb_type.into());
                t.check(
                    &at,
                    "error code",
                    format!("{:?}", u64::try_from(e.error_code.value()).ok()),
                    format!("{:?}", num(col("kerberos.error_code"))),
                );
                t.check(&at, "realm", e.realm.clone(), col("kerberos.realm").into());
                t.check(
                    &at,
                    "SPN",
                    e.sname.components.join("|"),
                    col("kerberos.SNameString").into(),
                );
            }
            None => t
                .failures
                .push(format!("{at}: tshark saw Kerberos, authscope did not")),
        }
    }
    println!(
        "tshark: {tokens} tokens compared, {} fields, {} frames",
        t.fields,
        rows.len()
    );
    for k in &known {
        println!("  known difference: {k}");
    }
    assert_eq!(known.len(), TSHARK_DIFFERENCES.len(), "{known:?}");
    assert!(
        t.failures.is_empty(),
        "{} differences with tshark:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    assert!(tokens >= 100, "only {tokens} tokens compared");
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
    // A bare value that is not base64 is unreadable, not a `Negotiate` offer.
    let h = decode_pasted("garbage!!");
    assert!(
        matches!(&h.error, Some(e) if e.kind == crate::auth::ErrorKind::Base64),
        "{h:?}"
    );
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

/// A credential with no auth-scheme (RFC 9110 11.6.2 requires one) stays a credential: its
/// token is a secret, a JWT is decoded, and the header says what is wrong.
#[test]
fn credentials_without_a_scheme_are_secret_tokens() {
    // RFC 7519 3.1's example, sent bare.
    let jwt = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    for value in [
        jwt.to_owned(),
        format!("  {jwt} "),
        // base64 of `alice:Summer2024!`, as a broken client sends Basic.
        "YWxpY2U6U3VtbWVyMjAyNCE=".to_owned(),
        "YWxpY2U6U3VtbWVyMjAyNCE".to_owned(),
        // An opaque API key.
        "0123456789abcdef0123456789abcdef".to_owned(),
    ] {
        let h = decode_header(HeaderKind::Authorization, value.as_bytes());
        assert_eq!(h.items.len(), 1, "{value}");
        let d = &h.items[0];
        assert_eq!(d.scheme_raw, "", "{value}");
        assert!(matches!(d.token, Token::Bearer(_)), "{value}");
        assert!(
            h.anomalies.iter().any(|a| a.code == NO_SCHEME_ANOMALY),
            "{value}"
        );
        let json = serde_json::to_string(&h).unwrap();
        let summary = h.summary();
        for shown in [&json, &summary] {
            assert!(!shown.contains(value.trim()), "{value} leaked: {shown}");
            assert!(!shown.contains("dBjftJeZ4CVP"), "signature leaked: {shown}");
        }
        assert!(summary.starts_with("no auth-scheme: "), "{summary}");
    }
    let h = decode_header(HeaderKind::Authorization, jwt.as_bytes());
    let Token::Bearer(b) = &h.items[0].token else {
        panic!("not a bearer token");
    };
    assert_eq!(b.jwt.as_ref().and_then(|j| j.iss.as_deref()), Some("joe"));
    assert_eq!(
        h.summary(),
        "no auth-scheme: JWT alg HS256, iss joe, exp 2011-03-22T18:43:00Z"
    );
    // Schemes stay schemes, alone or with their token.
    for value in [
        "Negotiate",
        "NTLM",
        "Bearer",
        "PrivateToken",
        "Basic YWxpY2U6cHc=",
    ] {
        let h = decode_header(HeaderKind::Authorization, value.as_bytes());
        assert!(
            !h.anomalies.iter().any(|a| a.code == NO_SCHEME_ANOMALY),
            "{value}"
        );
    }
    // A pasted bare JWT decodes the same.
    let h = decode_pasted(jwt);
    assert!(matches!(h.items[0].token, Token::Bearer(_)));
}
