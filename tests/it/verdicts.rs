//! Verdicts that hold on captures the rules were not written for: over every lab capture
//! and the public corpus, a login that succeeded is never called failed or misconfigured,
//! and no secret of any capture leaves in any output without `--reveal-secrets`.

use std::path::{Path, PathBuf};

use authscope::report::{run, Format, Options};

use super::util::{captures_in, full, public_captures, root, stdout_of};

/// Findings that say the login failed, or that the setup is wrong for it: none of them may
/// be raised on a handshake whose outcome is success.
const FAILURE_CODES: &[&str] = &[
    "auth-loop",
    "spn-host-mismatch",
    "kerberos-error",
    "no-auth-method",
    "challenge-unanswered",
    "access-denied-acl",
    "ntlm-connection-closed",
    "ntlm-split-connections",
    "ntlm-negotiate-refused",
    "token-too-large",
];

fn json_report(path: &Path, reveal: bool) -> serde_json::Value {
    let opts = Options {
        format: Format::Json,
        reveal_secrets: reveal,
        ..Options::default()
    };
    let mut out = Vec::new();
    run(&[path.to_path_buf()], &opts, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// The problems found in `captures`: a success with a failure finding, or a refusal said
/// of a success without saying the login worked in the end.
fn false_alarms(captures: &[PathBuf]) -> Vec<String> {
    let mut bad = Vec::new();
    for path in captures {
        let doc = json_report(path, false);
        for h in doc["handshakes"].as_array().unwrap() {
            if h["outcome"]["result"] != "success" {
                continue;
            }
            for f in h["findings"].as_array().unwrap() {
                let code = f["code"].as_str().unwrap();
                let summary = f["summary"].as_str().unwrap();
                let wrong = FAILURE_CODES.contains(&code)
                    || (code == "logon-failed" && !summary.contains("before a later"));
                if wrong {
                    bad.push(format!(
                        "{} handshake #{}: {code}: {summary}",
                        path.file_name().unwrap().to_string_lossy(),
                        h["id"]
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn a_successful_login_is_never_called_failed_in_the_lab_captures() {
    let bad = false_alarms(&captures_in(&root().join("captures")));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_successful_login_is_never_called_failed_in_the_public_corpus() {
    if !full() {
        return;
    }
    let captures = public_captures();
    let bad = false_alarms(&captures);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Where the redacted document says `<redacted N bytes>` and the revealed one has the value:
/// each such value, in every form it could leak as (as shown, and for hex-shown bytes their
/// base64 and base64url), with whether it is a whole token (a `token68`, a bearer `token`).
/// The pcapng slice keeps a whole token's parts that are no secret (an NTLM Type 3's header,
/// a JWT's header and claims) and masks the secrets inside, which are values of their own.
fn secrets_of(
    redacted: &serde_json::Value,
    revealed: &serde_json::Value,
    key: &str,
    out: &mut Vec<(String, bool)>,
) {
    use base64::Engine as _;
    use serde_json::Value;
    match (redacted, revealed) {
        (Value::String(r), Value::String(v)) if r.starts_with("<redacted") && r != v => {
            let whole = key == "token68" || key == "token";
            out.push((v.clone(), whole));
            let bytes = (v.len() % 2 == 0 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
                (0..v.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&v[i..i + 2], 16).unwrap())
                    .collect::<Vec<u8>>()
            });
            if let Some(b) = bytes {
                for engine in [
                    base64::engine::general_purpose::STANDARD_NO_PAD,
                    base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ] {
                    out.push((engine.encode(&b), whole));
                }
            }
        }
        (Value::Array(r), Value::Array(v)) => {
            for (r, v) in r.iter().zip(v) {
                secrets_of(r, v, key, out);
            }
        }
        (Value::Object(r), Value::Object(v)) => {
            // A header's value: an Authorization value is a whole token too.
            let credential = v.get("name").and_then(Value::as_str).is_some_and(|n| {
                n.eq_ignore_ascii_case("authorization")
                    || n.eq_ignore_ascii_case("proxy-authorization")
            });
            for (k, r) in r {
                if let Some(v) = v.get(k) {
                    let k = if credential && k == "value" {
                        "token"
                    } else {
                        k
                    };
                    secrets_of(r, v, k, out);
                }
            }
        }
        _ => {}
    }
}

/// Long enough to be the secret and not a chance match; base64 of short byte strings loses
/// its last characters to the bits around it, so a needle is its first 12 characters.
fn needles(secrets: Vec<(String, bool)>) -> Vec<(String, bool)> {
    let mut n: Vec<(String, bool)> = secrets
        .into_iter()
        .filter(|(s, _)| s.len() >= 8 && !s.bytes().all(|b| b == b'0'))
        // An NTLM Type 2 is kept redacted in the decoded tree, as every token68 is, but it
        // holds no secret (a challenge, names, a timestamp) and outputs show it.
        .filter(|(s, _)| !s.starts_with("TlRMTVNTUAAC"))
        .map(|(s, whole)| (s.chars().take(16).collect(), whole))
        .collect();
    n.sort();
    n.dedup();
    n
}

#[test]
fn no_secret_of_a_lab_capture_reaches_any_output_without_reveal() {
    let captures = captures_in(&root().join("captures"));
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for path in &captures {
        let p = path.to_str().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut secrets = Vec::new();
        let revealed = json_report(path, true);
        secrets_of(&json_report(path, false), &revealed, "", &mut secrets);
        // Digest's rspauth (RFC 7616 3.5), computed from the password, in a header value.
        let text = revealed.to_string();
        for (i, _) in text.match_indices("rspauth=\\\"") {
            let v: String = text[i + 10..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            secrets.push((v, false));
        }
        let needles = needles(secrets);
        let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
        for format in ["text", "json", "ndjson"] {
            outputs.push((
                format!("report {format}"),
                stdout_of(&[
                    "report",
                    "--format",
                    format,
                    "--all-handshakes",
                    "--exchanges",
                    "all",
                    p,
                ]),
            ));
        }
        for format in ["json", "ndjson", "csv", "mermaid", "html", "pcapng"] {
            let file = tmp.path().join(format!("{name}.{format}"));
            stdout_of(&[
                "export",
                "--format",
                format,
                "-o",
                file.to_str().unwrap(),
                p,
            ]);
            outputs.push((format!("export {format}"), std::fs::read(&file).unwrap()));
        }
        for (what, bytes) in &outputs {
            let text = String::from_utf8_lossy(bytes);
            for (n, whole) in &needles {
                if *whole && what == "export pcapng" {
                    continue;
                }
                assert!(
                    !text.contains(n.as_str()),
                    "{name}: {what} holds the secret {n}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "too few secrets found to check: {checked}");
}

fn lab(name: &str) -> serde_json::Value {
    json_report(&root().join("captures").join(name), false)
}

fn findings_of(h: &serde_json::Value) -> Vec<(String, String, String)> {
    h["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["summary"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn finding<'a>(fs: &'a [(String, String, String)], code: &str) -> &'a (String, String, String) {
    fs.iter()
        .find(|f| f.0 == code)
        .unwrap_or_else(|| panic!("no {code} in {fs:?}"))
}

fn next_step(h: &serde_json::Value, code: &str) -> String {
    h["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code}"))["next_step"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// WebDAV with NTLM per method: every Type 3 is accepted, each method is its own
/// handshake, and the methods' own failures are the application's.
#[test]
fn webdav_methods_are_handshakes_of_their_own_and_their_failures_the_applications() {
    let doc = lab("webdav-ntlm-per-method.pcap");
    let hs = doc["handshakes"].as_array().unwrap();
    let seen: Vec<(String, u64)> = hs
        .iter()
        .map(|h| {
            (
                h["method"].as_str().unwrap().to_owned(),
                h["status"].as_u64().unwrap(),
            )
        })
        .collect();
    for (method, status) in [("MKCOL", 405), ("PROPFIND", 403), ("MOVE", 400)] {
        assert!(
            seen.contains(&(method.to_owned(), status)),
            "{method} {status} not among {seen:?}"
        );
    }
    for m in ["MOVE", "COPY", "LOCK", "UNLOCK"] {
        assert!(
            seen.iter().any(|(s, _)| s == m),
            "no {m} handshake: {seen:?}"
        );
    }
    for h in hs {
        assert_eq!(h["outcome"]["result"], "success", "{}", h["method"]);
        let fs = findings_of(h);
        let status = h["status"].as_u64().unwrap();
        if status < 400 {
            assert!(fs.is_empty(), "{fs:?}");
            continue;
        }
        let (_, severity, summary) = finding(&fs, "request-failed-after-auth");
        assert_eq!(severity, "info");
        assert!(summary.starts_with("The login worked"), "{summary}");
        assert!(summary.contains(&format!("answered {status}")), "{summary}");
        if status == 403 {
            assert!(summary.contains("authorization failure"), "{summary}");
        }
        // The challenges are steps: never counted as refusals.
        assert_eq!(h["rounds"], 1, "{}", h["method"]);
    }
}

#[test]
fn kerberos_accepted_with_a_500_is_a_login_that_worked() {
    let doc = lab("kerberos-success-then-500.pcap");
    let h = &doc["handshakes"][0];
    assert_eq!(h["outcome"]["result"], "success");
    assert_eq!(h["status"], 500);
    let fs = findings_of(h);
    assert_eq!(fs.len(), 1, "{fs:?}");
    let (_, _, summary) = finding(&fs, "request-failed-after-auth");
    assert!(summary.contains("500 Internal Server Error"), "{summary}");
    let last = h["legs"].as_array().unwrap().last().unwrap();
    assert_eq!(last["answer"]["kind"], "request-failed");
    assert_eq!(last["answer"]["mutual"], true);
}

#[test]
fn a_client_side_close_points_at_the_client() {
    let doc = lab("ntlm-client-closes-after-challenge.pcap");
    let h = &doc["handshakes"][0];
    let fs = findings_of(h);
    let (_, _, summary) = finding(&fs, "ntlm-connection-closed");
    assert!(summary.starts_with("The client closed"), "{summary}");
    let next = next_step(h, "ntlm-connection-closed");
    assert!(next.contains("connection pool"), "{next}");
    assert!(!next.contains("keep-alives end to end"), "{next}");
    // The root cause comes before the loop it explains, which names it.
    let codes: Vec<&str> = fs.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(codes.last(), Some(&"auth-loop"), "{codes:?}");
    let (_, _, summary) = finding(&fs, "auth-loop");
    assert!(
        summary.contains("the client closed the connection"),
        "{summary}"
    );
}

#[test]
fn a_server_that_resets_every_type_3_is_the_error_not_its_loop() {
    let doc = lab("ntlm-reset-on-authenticate.pcap");
    let h = &doc["handshakes"][0];
    let fs = findings_of(h);
    assert_eq!(fs.first().map(|f| f.0.as_str()), Some("connection-reset"));
    let (_, severity, summary) = finding(&fs, "connection-reset");
    assert_eq!(severity, "error");
    assert!(summary.starts_with("The server reset"), "{summary}");
    let (_, _, summary) = finding(&fs, "auth-loop");
    assert!(!summary.contains("401 every time"), "{summary}");
    assert!(
        summary.contains("the server reset the connection after the NTLM Type 3"),
        "{summary}"
    );
    let next = next_step(h, "auth-loop");
    assert!(next.contains("connection-reset"), "{next}");
}

#[test]
fn tickets_the_server_accepted_raise_no_spn_warning() {
    for (name, host) in [
        ("kerberos-short-name-host.pcap", "intranet"),
        ("kerberos-by-ip.pcap", "127.0.0.15"),
    ] {
        let doc = lab(name);
        let h = &doc["handshakes"][0];
        assert_eq!(h["host"], host, "{name}");
        assert_eq!(h["spn"], "HTTP/intranet.lab.test", "{name}");
        assert_eq!(h["outcome"]["result"], "success", "{name}");
        assert!(findings_of(h).is_empty(), "{name}: {:?}", findings_of(h));
    }
}

#[test]
fn a_bare_jwt_is_a_secret_a_malformed_header_and_its_expiry_is_told() {
    let doc = lab("bearer-bare-jwt.pcap");
    let h = &doc["handshakes"][0];
    let fs = findings_of(h);
    let (_, severity, _) = finding(&fs, "malformed-header");
    assert_eq!(severity, "warning");
    let (_, severity, summary) = finding(&fs, "logon-failed");
    assert_eq!(severity, "warning");
    assert!(summary.contains("before a later"), "{summary}");
    let first = h["legs"][0]["summary"].as_str().unwrap();
    assert!(first.contains("no auth-scheme: JWT"), "{first}");
    assert!(first.contains("before the request"), "{first}");
    let text = String::from_utf8(stdout_of(&[
        "report",
        root()
            .join("captures")
            .join("bearer-bare-jwt.pcap")
            .to_str()
            .unwrap(),
    ]))
    .unwrap();
    assert!(!text.contains("eyJ"), "{text}");
}

#[test]
fn relayed_ntlm_logins_are_flagged_with_their_evidence() {
    let doc = lab("ntlm-relay-target-mismatch.pcap");
    let fs = findings_of(&doc["handshakes"][0]);
    let (_, severity, summary) = finding(&fs, "ntlm-relay-suspected");
    assert_eq!(severity, "warning");
    assert!(summary.contains("cifs/"), "{summary}");
    assert!(summary.contains("AD CS web enrollment"), "{summary}");

    let doc = lab("ntlm-relay-same-challenge.pcap");
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 2);
    let challenge = |h: &serde_json::Value| h["shared_challenges"][0]["challenge"].clone();
    assert_eq!(challenge(&hs[0]), challenge(&hs[1]));
    assert_eq!(hs[0]["shared_challenges"][0]["other"], hs[1]["id"]);
    for h in hs {
        let fs = findings_of(h);
        let (_, _, summary) = finding(&fs, "ntlm-relay-suspected");
        assert!(summary.contains("server challenge"), "{summary}");
    }
}

/// A relayed login that reached an HTTPS server without channel bindings says so: Extended
/// Protection would have refused it. The relay capture is plain HTTP, so its Type 3 is put
/// inside TLS here, once unbound and once with zero bindings.
#[test]
fn a_relay_to_https_without_bindings_adds_to_the_relay_finding() {
    use authscope::capture::MergedSource;
    use authscope::diagnose::{diagnose, DiagnoseConfig};
    use authscope::handshake::{Binding, Credential};
    use authscope::pipeline::{Config, Output, Plan, Source};

    let path = root()
        .join("captures")
        .join("ntlm-relay-target-mismatch.pcap");
    let src = MergedSource::open(&[path]).unwrap();
    let mut hs = Vec::new();
    authscope::pipeline::run(
        Source::Files(src),
        Config::default(),
        Plan::threads(1),
        &mut |o: Output| {
            if let Output::Handshake(a) = o {
                hs.push(a.handshake);
            }
        },
    )
    .unwrap();
    let relay = |h: &authscope::handshake::Handshake| {
        diagnose(h, &DiagnoseConfig::default())
            .into_iter()
            .find(|f| f.code == "ntlm-relay-suspected")
            .expect("the relay finding")
    };
    let plain = relay(&hs[0]);
    assert!(
        !plain.summary.contains("channel bindings"),
        "{}",
        plain.summary
    );
    for (binding, words) in [
        (Binding::NotBound, "with no channel"),
        (Binding::Zero, "all-zero"),
    ] {
        let mut h = hs[0].clone();
        let leg = h
            .legs
            .iter_mut()
            .find(|l| matches!(l.credential, Credential::NtlmAuthenticate { .. }))
            .unwrap();
        leg.tls = true;
        leg.binding = Some(binding);
        let f = relay(&h);
        assert!(f.summary.contains(words), "{}", f.summary);
        assert_eq!(f.evidence.len(), plain.evidence.len() + 1);
    }
}

/// Five methods on one connection, each with its own NTLM handshake: five handshakes, each
/// judged by its own login, none a loop.
#[test]
fn methods_on_one_connection_are_handshakes_of_their_own() {
    let doc = lab("webdav-ntlm-one-connection.pcap");
    let hs = doc["handshakes"].as_array().unwrap();
    let seen: Vec<(&str, u64)> = hs
        .iter()
        .map(|h| (h["method"].as_str().unwrap(), h["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("PROPFIND", 207),
            ("MKCOL", 405),
            ("MOVE", 400),
            ("LOCK", 200),
            ("UNLOCK", 204)
        ]
    );
    for (i, h) in hs.iter().enumerate() {
        assert_eq!(h["outcome"]["result"], "success");
        assert_eq!(h["connections"].as_array().unwrap().len(), 1);
        assert_eq!(h["earlier_on_connection"], i);
        assert_eq!(h["rounds"], 1);
    }
}

#[test]
fn a_token_over_the_header_limit_is_never_a_logon_failure() {
    let doc = lab("kerberos-token-too-large.pcap");
    let h = &doc["handshakes"][0];
    assert_eq!(h["outcome"]["how"], "token-too-large");
    let fs = findings_of(h);
    assert_eq!(fs.len(), 1, "{fs:?}");
    let (_, severity, summary) = finding(&fs, "token-too-large");
    assert_eq!(severity, "error");
    assert!(summary.contains("answered 400"), "{summary}");
}

#[test]
fn authorization_refusing_an_authenticated_user_is_named_so() {
    let doc = lab("kerberos-authz-denied.pcap");
    let h = &doc["handshakes"][0];
    assert_eq!(h["outcome"]["result"], "success");
    assert_eq!(h["status"], 401);
    let fs = findings_of(h);
    assert_eq!(fs.len(), 1, "{fs:?}");
    let (_, _, summary) = finding(&fs, "request-failed-after-auth");
    assert!(summary.contains("authorization failure"), "{summary}");
}

/// One connection: GET /a with Basic credentials, accepted; then an anonymous GET /b
/// challenged again, which the client leaves. The server keeps authentication for one
/// request: that is the accepted handshake's `rechallenged`, not an abandoned login of its
/// own (it was one on a synthetic capture of replayed traffic).
#[test]
fn an_anonymous_request_challenged_after_success_counts_on_that_login() {
    use super::util::{pcap, push_tcp};
    let exchanges = [
        (
            "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWxpY2U6cHc=\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "GET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    let (client, server) = (([10, 0, 0, 1], 50_000), ([10, 0, 0, 2], 80));
    let (mut c, mut s) = (1_000u32, 9_000u32);
    let mut recs = Vec::new();
    let mut push = |src, dst, seq, ack, flags, payload: &[u8]| {
        push_tcp(&mut recs, src, dst, seq, ack, flags, payload);
    };
    push(client, server, c, 0, 0x02, b"");
    push(server, client, s, c + 1, 0x12, b"");
    (c, s) = (c + 1, s + 1);
    for (req, resp) in exchanges {
        push(client, server, c, s, 0x18, req.as_bytes());
        c += req.len() as u32;
        push(server, client, s, c, 0x18, resp.as_bytes());
        s += resp.len() as u32;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rechallenge.pcap");
    std::fs::write(&path, pcap(1, &recs)).unwrap();
    let doc = json_report(&path, false);
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1, "{hs:?}");
    assert_eq!(hs[0]["outcome"]["result"], "success");
    assert_eq!(hs[0]["rechallenged"], 1);
    assert!(
        !findings_of(&hs[0])
            .iter()
            .any(|f| f.0 == "challenge-unanswered"),
        "{:?}",
        findings_of(&hs[0])
    );
}

/// Digest for /digest/, then a Basic challenge for /basic/ on the same connection: another
/// protection space, a login of its own, not a re-challenge of the first.
#[test]
fn a_challenge_for_another_scheme_is_another_login() {
    if !full() {
        return;
    }
    let path = super::util::public_corpus().join("http-digest-then-basic.pcapng");
    let doc = json_report(&path, false);
    let seen: Vec<(&str, &str, &str)> = doc["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["scheme"].as_str().unwrap(),
                h["user"].as_str().unwrap_or_default(),
                h["outcome"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("digest", "john", "success"), ("basic", "max", "success")]
    );
}

/// A GET challenged with Negotiate, then a FIN from the client (`Some(true)`) or the server
/// (`Some(false)`), and `gap_us` after that a packet of another connection: the report's one
/// handshake.
fn challenged_then(after: Option<bool>, gap_us: Option<u64>) -> serde_json::Value {
    use super::util::{pcap, push_tcp};
    let (client, server) = (([10, 0, 0, 1], 50_000), ([10, 0, 0, 2], 80));
    let req = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp =
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n";
    let (c, s) = (1_001u32, 9_001u32);
    let mut recs = Vec::new();
    push_tcp(&mut recs, client, server, c - 1, 0, 0x02, b"");
    push_tcp(&mut recs, server, client, s - 1, c, 0x12, b"");
    push_tcp(&mut recs, client, server, c, s, 0x18, req.as_bytes());
    let c = c + req.len() as u32;
    push_tcp(&mut recs, server, client, s, c, 0x18, resp.as_bytes());
    let s = s + resp.len() as u32;
    match after {
        Some(true) => push_tcp(&mut recs, client, server, c, s, 0x11, b""),
        Some(false) => push_tcp(&mut recs, server, client, s, c, 0x11, b""),
        None => {}
    }
    if let Some(gap) = gap_us {
        let other = ([10, 0, 0, 3], 50_001);
        push_tcp(&mut recs, other, server, 5, 0, 0x02, b"");
        let last = recs.len() - 1;
        recs[last].0 = recs[last - 1].0 + gap;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("challenged.pcap");
    std::fs::write(&path, pcap(1, &recs)).unwrap();
    let doc = json_report(&path, false);
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1, "{hs:?}");
    hs[0].clone()
}

/// A challenge is "unanswered" only where the capture says the client left it: a capture
/// that ends soon after it, the connection still open or closed by the server (the client
/// answers on a new one then), leaves the login in progress; a client that closed the
/// connection, or a capture that went on past the join window, says it was left.
#[test]
fn a_capture_that_ends_after_a_challenge_does_not_say_it_was_left() {
    let unanswered =
        |h: &serde_json::Value| findings_of(h).iter().any(|f| f.0 == "challenge-unanswered");
    for (after, gap, left) in [
        (None, None, false),
        (Some(false), None, false),
        (None, Some(2_000_000), false),
        (Some(true), None, true),
        (None, Some(11_000_000), true),
        (Some(false), Some(11_000_000), true),
    ] {
        let h = challenged_then(after, gap);
        let want = if left { "abandoned" } else { "in-progress" };
        assert_eq!(h["outcome"]["result"], want, "{after:?} {gap:?}: {h}");
        assert_eq!(
            unanswered(&h),
            left,
            "{after:?} {gap:?}: {:?}",
            findings_of(&h)
        );
    }
}
