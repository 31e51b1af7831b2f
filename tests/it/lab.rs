//! The lab's scenario captures (captures/, made by scripts/lab/): each names the expected
//! handshakes with the right user, SPN, outcome and exactly the expected finding codes.

use std::path::Path;

use authscope::report::{run, Format, Options};

use super::util::{captures_in, full, lab_python, pcapng_blocks, root, succeeded, PCAPNG_DSB};

/// (scheme, user, spn, outcome, sorted finding codes) of one handshake, as compared.
type Seen = (String, Option<String>, Option<String>, String, Vec<String>);

/// (scheme, user, spn, outcome, finding codes) of one expected handshake.
type Expected = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    &'static [&'static str],
);

const CASES: &[(&str, &[Expected])] = &[
    (
        "basic-success.pcap",
        &[(
            "basic",
            Some("alice"),
            None,
            "success",
            &["basic-cleartext"],
        )],
    ),
    (
        "basic-wrong-password.pcap",
        &[(
            "basic",
            Some("alice"),
            None,
            "failed/logon-failed",
            &["logon-failed", "basic-cleartext"],
        )],
    ),
    // One stale nonce is the protocol working (RFC 7616 3.3): a second round, no finding.
    (
        "digest-stale-nonce.pcap",
        &[("digest", Some("bob"), None, "success", &[])],
    ),
    (
        "digest-success.pcap",
        &[("digest", Some("bob"), None, "success", &[])],
    ),
    (
        "digest-wrong-password.pcap",
        &[(
            "digest",
            Some("bob"),
            None,
            "failed/logon-failed",
            &["logon-failed"],
        )],
    ),
    // A token sent with no scheme is refused, then sent as `Bearer` and accepted.
    (
        "bearer-bare-jwt.pcap",
        &[(
            "bearer",
            None,
            None,
            "success",
            &["logon-failed", "malformed-header"],
        )],
    ),
    (
        "kerberos-badkeyver.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "failed/kerberos-rejected",
            &["kerberos-error"],
        )],
    ),
    // The URL names the server by its address; the client named the service itself.
    (
        "kerberos-by-ip.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "success",
            &[],
        )],
    ),
    // Host: intranet, ticket for intranet.lab.test: the client canonicalised the name.
    // The KDC refused the client's clock; no ticket, and gss-ntlmssp's NTLM is refused.
    (
        "kerberos-clock-skew.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice@LAB.TEST"),
            None,
            "failed/negotiate-refused",
            &["clock-skew", "kerberos-fallback-ntlm"],
        )],
    ),
    // The client asked for the canonical name's SPN, registered for the alias only.
    (
        "kerberos-cname-spn-on-alias.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice"),
            None,
            "success",
            &[
                "kdc-spn-unknown",
                "kerberos-fallback-ntlm",
                "spn-from-cname",
            ],
        )],
    ),
    // The client asked for the alias's SPN, registered for the canonical name only.
    (
        "kerberos-cname-spn-on-canonical.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice"),
            None,
            "success",
            &[
                "kdc-spn-unknown",
                "kerberos-fallback-ntlm",
                "spn-from-cname",
            ],
        )],
    ),
    // No encryption type in common at the KDC: no TGT.
    (
        "kerberos-etype-nosupp.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice@LAB.TEST"),
            None,
            "failed/negotiate-refused",
            &["kdc-error", "kerberos-fallback-ntlm"],
        )],
    ),
    // The KDC stopped: ICMP port unreachable, then an RST; NTLM instead.
    (
        "kerberos-kdc-unreachable.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice"),
            None,
            "success",
            &["kdc-unreachable", "kerberos-fallback-ntlm"],
        )],
    ),
    // The web server's clock is 10 minutes ahead: KRB_AP_ERR_SKEW, and its Date says so.
    (
        "kerberos-server-clock-skew.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "failed/kerberos-rejected",
            &["clock-skew", "kerberos-error"],
        )],
    ),
    // The web server's clock is 10 minutes ahead and the client has no ticket: SPNEGO picks
    // NTLM, the login works, and the Type 2's MsvAvTimestamp (and the Date) show the clock.
    (
        "kerberos-ntlm-server-clock-skew.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice"),
            None,
            "success",
            &["clock-skew", "kerberos-fallback-ntlm"],
        )],
    ),
    (
        "kerberos-short-name-host.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "success",
            &[],
        )],
    ),
    // The AP-REP comes with a 500: the login worked, the application failed.
    (
        "kerberos-success-then-500.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "success",
            &["request-failed-after-auth"],
        )],
    ),
    // GSSAPI accepted the ticket (the AP-REP comes back) and authorization refused alice.
    (
        "kerberos-authz-denied.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "success",
            &["request-failed-after-auth"],
        )],
    ),
    (
        "kerberos-success.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "success",
            &[],
        )],
    ),
    // The header is over the server's field limit: 400 before any check.
    (
        "kerberos-token-too-large.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "failed/token-too-large",
            &["token-too-large"],
        )],
    ),
    (
        "kerberos-unknown-spn-ntlm-fallback.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice"),
            None,
            "success",
            &["kdc-spn-unknown", "kerberos-fallback-ntlm"],
        )],
    ),
    // MIT's KRB_AP_ERR_BAD_INTEGRITY: the keytab's key is another account's.
    (
        "kerberos-wrong-key.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "failed/kerberos-rejected",
            &["kerberos-error", "krb-ticket-for-other-account"],
        )],
    ),
    // A wrong password at the KDC: no TGT.
    (
        "kerberos-wrong-password.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice@LAB.TEST"),
            None,
            "failed/negotiate-refused",
            &["kdc-error", "kerberos-fallback-ntlm"],
        )],
    ),
    (
        "kerberos-wrong-spn.pcap",
        &[(
            "kerberos",
            Some("alice@LAB.TEST"),
            Some("HTTP/intranet.lab.test"),
            "failed/kerberos-rejected",
            &["kerberos-error"],
        )],
    ),
    (
        "negotiate-ntlm-success.pcap",
        &[(
            "negotiate-ntlm",
            Some("alice"),
            None,
            "success",
            &["kerberos-fallback-ntlm"],
        )],
    ),
    (
        "no-auth-method-iis-body.pcap",
        &[(
            "none",
            None,
            None,
            "failed/no-auth-method",
            &["no-auth-method", "iis-substatus"],
        )],
    ),
    (
        "no-auth-method.pcap",
        &[(
            "none",
            None,
            None,
            "failed/no-auth-method",
            &["no-auth-method"],
        )],
    ),
    (
        "ntlm-client-closes-after-challenge.pcap",
        &[(
            "ntlm",
            Some("alice"),
            None,
            "failed/connection-closed",
            &[
                "auth-loop",
                "ntlm-connection-closed",
                "ntlm-split-connections",
            ],
        )],
    ),
    (
        "ntlm-curl-interop-failure.pcap",
        &[(
            "ntlm",
            None,
            None,
            "failed/negotiate-refused",
            &["ntlm-negotiate-refused"],
        )],
    ),
    (
        "ntlm-keepalive-broken.pcap",
        &[(
            "ntlm",
            Some("alice"),
            None,
            "failed/connection-closed",
            &[
                "auth-loop",
                "ntlm-connection-closed",
                "ntlm-split-connections",
            ],
        )],
    ),
    // The victim's login to the relay, and the relay's to AD CS with the same challenge.
    (
        "ntlm-relay-same-challenge.pcap",
        &[
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["ntlm-relay-suspected"],
            ),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["ntlm-relay-suspected"],
            ),
        ],
    ),
    (
        "ntlm-relay-target-mismatch.pcap",
        &[(
            "ntlm",
            Some("WS01$"),
            None,
            "success",
            &["ntlm-relay-suspected"],
        )],
    ),
    (
        "ntlm-reset-after-challenge.pcap",
        &[(
            "ntlm",
            Some("alice"),
            None,
            "failed/connection-reset",
            &["auth-loop", "ntlm-connection-closed", "connection-reset"],
        )],
    ),
    (
        "ntlm-reset-on-authenticate.pcap",
        &[(
            "ntlm",
            Some("alice"),
            None,
            "failed/connection-reset",
            &["auth-loop", "connection-reset"],
        )],
    ),
    (
        "ntlm-success-curl.pcap",
        &[("ntlm", Some("alice"), None, "success", &[])],
    ),
    (
        "ntlm-success.pcap",
        &[("ntlm", Some("alice"), None, "success", &[])],
    ),
    (
        "ntlm-wrong-password.pcap",
        &[(
            "ntlm",
            Some("alice"),
            None,
            "failed/logon-failed",
            &["logon-failed"],
        )],
    ),
    // No authentication, no handshakes, no false alarms.
    ("plain-chunked.pcap", &[]),
    ("plain-pipelining.pcap", &[]),
    (
        "proxy-407-no-credentials.pcap",
        &[("none", None, None, "abandoned", &["challenge-unanswered"])],
    ),
    // squid's fake helper sends a Type 2 whose TargetName points outside the message.
    (
        "proxy-ntlm-success.pcap",
        &[("ntlm", Some("carol"), None, "success", &["malformed-token"])],
    ),
    // One connection, a full NTLM handshake per method (PROPFIND, MKCOL, MOVE, LOCK, UNLOCK).
    (
        "webdav-ntlm-one-connection.pcap",
        &[
            ("ntlm", Some("alice"), None, "success", &[]),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["request-failed-after-auth", "reauth-every-request"],
            ),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["request-failed-after-auth", "reauth-every-request"],
            ),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["reauth-every-request"],
            ),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["reauth-every-request"],
            ),
        ],
    ),
    // NTLM per method, each accepted; the methods then succeed or fail on their own.
    (
        "webdav-ntlm-per-method.pcap",
        &[
            ("ntlm", Some("alice"), None, "success", &[]),
            ("ntlm", Some("alice"), None, "success", &[]),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["request-failed-after-auth"],
            ),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["request-failed-after-auth"],
            ),
            ("ntlm", Some("alice"), None, "success", &[]),
            (
                "ntlm",
                Some("alice"),
                None,
                "success",
                &["request-failed-after-auth"],
            ),
            ("ntlm", Some("alice"), None, "success", &[]),
            ("ntlm", Some("alice"), None, "success", &[]),
            ("ntlm", Some("alice"), None, "success", &[]),
        ],
    ),
];

/// The HTTPS captures (`scripts/lab/https.sh`): their HTTP is inside TLS, readable only with
/// the TLS secrets the lab kept, the key log beside each (`captures/<name>.keylog`) or, in a
/// pcapng, a Decryption Secrets Block. Without them each reads as its TLS connections and
/// one `tls-undecrypted` about its server (no exchange, no handshake: TLS records never taken
/// for HTTP); with them, as the plain capture of the same login it names, when there is one.
const NEEDS_TLS_SECRETS: &[(&str, Option<&str>)] = &[
    ("https-basic-success.pcap", Some("basic-success.pcap")),
    (
        "https-basic-wrong-password.pcap",
        Some("basic-wrong-password.pcap"),
    ),
    ("https-digest-success.pcap", Some("digest-success.pcap")),
    (
        "https-digest-wrong-password.pcap",
        Some("digest-wrong-password.pcap"),
    ),
    ("https-kerberos-success.pcap", Some("kerberos-success.pcap")),
    // kinit fails at the KDC: no plain capture has this exchange
    ("https-kerberos-wrong-password.pcap", None),
    (
        "https-negotiate-ntlm-success.pcap",
        Some("negotiate-ntlm-success.pcap"),
    ),
    ("https-ntlm-success-dsb.pcapng", Some("ntlm-success.pcap")),
    (
        "https-ntlm-success-tls12-aes128-cbc.pcap",
        Some("ntlm-success.pcap"),
    ),
    (
        "https-ntlm-success-tls12-aes128-gcm.pcap",
        Some("ntlm-success.pcap"),
    ),
    (
        "https-ntlm-success-tls12-aes256-cbc-sha256-mte.pcap",
        Some("ntlm-success.pcap"),
    ),
    (
        "https-ntlm-success-tls12-aes256-gcm.pcap",
        Some("ntlm-success.pcap"),
    ),
    (
        "https-ntlm-success-tls12-chacha20.pcap",
        Some("ntlm-success.pcap"),
    ),
    (
        "https-ntlm-success-tls13-aes128-gcm.pcap",
        Some("ntlm-success.pcap"),
    ),
    (
        "https-ntlm-success-tls13-chacha20.pcap",
        Some("ntlm-success.pcap"),
    ),
    ("https-ntlm-success.pcap", Some("ntlm-success.pcap")),
    // pyspnego requiring channel bindings (`https.sh epa`): see channel_bindings_are_judged
    ("https-ntlm-epa-bound.pcap", None),
    ("https-ntlm-epa-no-bindings.pcap", None),
    ("https-ntlm-epa-proxy.pcap", None),
    // HTTP/2 imitating http.sys (`https.sh h2`): see http2_refusals_are_judged
    ("https-h2-basic-success.pcap", None),
    ("https-h2-ntlm-downgrade.pcap", None),
    ("https-h2-ntlm-goaway.pcap", None),
    ("https-h2-ntlm-no-retry.pcap", None),
    (
        "https-ntlm-wrong-password.pcap",
        Some("ntlm-wrong-password.pcap"),
    ),
];

fn json_report(name: &str) -> serde_json::Value {
    let path = root().join("captures").join(name);
    let opts = Options {
        format: Format::Json,
        ..Options::default()
    };
    let mut out = Vec::new();
    run(&[path], &opts, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn outcome(o: &serde_json::Value) -> String {
    match o.get("how").and_then(|h| h.as_str()) {
        Some(how) => format!("{}/{how}", o["result"].as_str().unwrap()),
        None => o["result"].as_str().unwrap().to_owned(),
    }
}

#[test]
fn every_lab_capture_has_a_case() {
    let names: Vec<String> = captures_in(&root().join("captures"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for n in &names {
        let case = CASES.iter().any(|(c, _)| c == n);
        let tls = NEEDS_TLS_SECRETS.iter().any(|(c, _)| c == n)
            || TLS_REFUSED.iter().any(|(c, ..)| c == n);
        assert!(
            case || tls,
            "{n} has no expected handshakes in tests/it/lab.rs"
        );
        assert!(!(case && tls), "{n} is in both CASES and NEEDS_TLS_SECRETS");
    }
}

/// The refused TLS handshakes (`scripts/lab/https.sh alerts`): (capture, who sent the alert,
/// its name and number). No HTTP, no key log: each reads as one `tls-alert` about its server.
const TLS_REFUSED: &[(&str, &str, &str, u8)] = &[
    (
        "https-tls-alert-unknown-ca.pcap",
        "client",
        "unknown_ca",
        48,
    ),
    (
        "https-tls-alert-handshake-failure.pcap",
        "server",
        "handshake_failure",
        40,
    ),
    (
        "https-tls-alert-protocol-version.pcap",
        "server",
        "protocol_version",
        70,
    ),
];

#[test]
fn refused_tls_handshakes_are_one_tls_alert_each() {
    let dir = root().join("captures");
    for (name, by, alert, code) in TLS_REFUSED {
        let path = dir.join(name);
        assert!(!path.with_extension("keylog").exists(), "{name}");
        let doc = json_doc(&path, None);
        for what in ["exchanges", "handshakes", "anomalies"] {
            assert_eq!(doc[what], serde_json::json!([]), "{name}: {what}");
        }
        let conns = doc["connections"].as_array().unwrap();
        assert_eq!(conns.len(), 1, "{name}");
        let alerts = conns[0]["tls"]["alerts"].as_array().unwrap();
        let frame = &alerts[0]["frame"];
        let findings = doc["findings"].as_array().unwrap();
        let codes: Vec<&str> = findings
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["tls-alert"], "{name}");
        let f = &findings[0];
        assert_eq!(f["severity"], "warning", "{name}");
        assert_eq!(f["subject"], "portal.lab.test", "{name}");
        assert_eq!(f["evidence"][0]["frame"], *frame, "{name}");
        let summary = f["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!("the {by}'s fatal alert {alert} ({code})")),
            "{name}: {summary}"
        );
        assert!(!f["next_step"].as_str().unwrap().is_empty(), "{name}");
    }
}

/// A fatal alert that answers the other side's close is no failure: requests closes without
/// close_notify and the lab's OpenSSL server answers that "unexpected EOF" with decode_error
/// after the login succeeded. The alert is on the timeline, marked as after the close, and no
/// `tls-alert` finding blames the TLS of the server.
#[test]
fn an_alert_answering_a_close_is_no_failure() {
    let path = root().join("captures/https-ntlm-epa-bound.pcap");
    let doc = json_doc(&path, Some(&path.with_extension("keylog")));
    let conn = &doc["connections"][0];
    let alert = &conn["tls"]["alerts"][0];
    assert_eq!(
        (&alert["by"], &alert["description_code"]),
        (&serde_json::json!("server"), &serde_json::json!(50)),
        "the capture holds the server's decode_error: {conn}"
    );
    let fin = conn["fins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["by"] == "client")
        .expect("the client's FIN");
    assert!(fin["frame"].as_u64() < alert["frame"].as_u64(), "{conn}");
    let h = &doc["handshakes"][0];
    assert_eq!(h["outcome"]["result"], "success");
    let on_timeline: Vec<_> = h["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "tls_alert")
        .collect();
    assert_eq!(on_timeline.len(), 1, "{}", h["timeline"]);
    assert_eq!(on_timeline[0]["after_close"], true);
    assert_eq!(doc["findings"], serde_json::json!([]));
    // The same alert before any FIN is the server refusing: the refused handshakes keep theirs.
    for (name, ..) in TLS_REFUSED {
        let doc = json_doc(&root().join("captures").join(name), None);
        assert_eq!(doc["findings"][0]["code"], "tls-alert", "{name}");
    }
}

/// The binding authscope expects of a certificate equals what requests-ntlm and pyspnego
/// send for it (the lab's client: requests-ntlm's RFC 5929 hash, pyspnego's
/// gss_channel_bindings_struct, MD5), for every signature hash RFC 5929 4.1 tells apart:
/// SHA-1 and SHA-256 signatures bind with SHA-256, SHA-384 and SHA-512 with their own, and
/// Ed25519 (no hash) with SHA-256. Certificates made by openssl for the test.
#[test]
fn expected_channel_bindings_equal_pyspnegos() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kinds: &[(&str, &[&str])] = &[
        ("rsa-sha1", &["-newkey", "rsa:2048", "-sha1"]),
        ("rsa-sha256", &["-newkey", "rsa:2048", "-sha256"]),
        ("rsa-sha384", &["-newkey", "rsa:2048", "-sha384"]),
        ("rsa-sha512", &["-newkey", "rsa:2048", "-sha512"]),
        (
            "ec-sha384",
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-sha384",
            ],
        ),
        ("ed25519", &["-newkey", "ed25519"]),
    ];
    let mut certs = Vec::new();
    for (name, args) in kinds {
        let der = dir.path().join(format!("{name}.der"));
        let key = dir.path().join(format!("{name}.key"));
        succeeded(
            std::process::Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=web.lab.test",
                ])
                .args(*args)
                .arg("-keyout")
                .arg(&key)
                .args(["-outform", "DER", "-out"])
                .arg(&der),
            &format!("openssl making {name}"),
        );
        certs.push(der);
    }
    let script = "import sys, hashlib\n\
        from requests_ntlm.requests_ntlm import _get_certificate_hash\n\
        from spnego.channel_bindings import GssChannelBindings\n\
        for p in sys.argv[1:]:\n    \
            h = _get_certificate_hash(open(p, 'rb').read())\n    \
            b = GssChannelBindings(application_data=b'tls-server-end-point:' + h).pack()\n    \
            print(hashlib.md5(b).hexdigest())\n";
    let out = succeeded(
        std::process::Command::new(lab_python())
            .arg("-c")
            .arg(script)
            .args(&certs),
        "the lab's Python",
    );
    let theirs: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(theirs.len(), certs.len());
    for ((cert, want), (name, _)) in certs.iter().zip(&theirs).zip(kinds) {
        let der = std::fs::read(cert).unwrap();
        let ours = authscope::tls::certificate_binding(&der).unwrap();
        assert_eq!(&authscope::tls::hex(&ours), want, "{name}");
    }
}

/// Extended Protection (`https.sh epa`): each NTLM Type 3 sent inside TLS is judged against
/// the certificate its connection presented, as pyspnego's acceptor judged it.
#[test]
fn channel_bindings_are_judged() {
    let dir = root().join("captures");
    let read = |name: &str| {
        let path = dir.join(name);
        json_doc(&path, Some(&path.with_extension("keylog")))
    };
    let codes = |h: &serde_json::Value| -> Vec<String> {
        let mut c: Vec<String> = h["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_owned())
            .collect();
        c.sort();
        c
    };
    let binding = |h: &serde_json::Value| -> Vec<String> {
        h["legs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["binding"]["verdict"].as_str().map(str::to_owned))
            .collect()
    };
    // Bound to the server's own certificate: accepted, nothing to say.
    let doc = read("https-ntlm-epa-bound.pcap");
    let h = &doc["handshakes"][0];
    assert_eq!(h["outcome"]["result"], "success");
    assert_eq!(binding(h), ["bound"]);
    assert!(codes(h).is_empty(), "{:?}", codes(h));
    // curl sends no bindings: refused, and said to be why it may be.
    let doc = read("https-ntlm-epa-no-bindings.pcap");
    let h = &doc["handshakes"][0];
    assert_eq!(binding(h), ["not_bound"]);
    assert_eq!(codes(h), ["cbt-missing", "logon-failed"]);
    let logon = h["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "logon-failed")
        .unwrap();
    assert!(logon["summary"]
        .as_str()
        .unwrap()
        .contains("not bound to this TLS connection"));
    // Through the proxy: bound to the proxy's certificate on the client's connection, so a
    // mismatch on the server's.
    let doc = read("https-ntlm-epa-proxy.pcap");
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 2);
    let to = |addr: &str| {
        hs.iter()
            .find(|h| h["server"].as_str().unwrap().starts_with(addr))
            .unwrap()
    };
    let server = to("127.0.0.14:");
    assert_eq!(binding(server), ["mismatch"]);
    assert!(codes(server).contains(&"cbt-mismatch".to_owned()));
    let f = server["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "cbt-mismatch")
        .unwrap();
    assert_eq!(f["severity"], "error");
    let proxy = to("127.0.0.26:");
    assert_eq!(binding(proxy), ["bound"]);
    assert!(!codes(proxy).iter().any(|c| c.starts_with("cbt-")));
    // Over plain HTTP a Type 3 is never judged for bindings.
    for plain in ["ntlm-success.pcap", "negotiate-ntlm-success.pcap"] {
        let doc = json_doc(&dir.join(plain), None);
        for h in doc["handshakes"].as_array().unwrap() {
            assert!(binding(h).is_empty(), "{plain}");
        }
    }
}

/// HTTP/2 to a server imitating http.sys (`https.sh h2 h2goaway`): a Windows credential
/// answered RST_STREAM or GOAWAY HTTP_1_1_REQUIRED is `http2-downgrade`, a warning when curl's retry over
/// HTTP/1.1 logged on, an error when the client never retried (after RST_STREAM, or after
/// the GOAWAY form, which curl does not retry); without keys, the fallback is inferred from
/// the two ClientHellos; a Basic login over HTTP/2 is quiet.
#[test]
fn http2_refusals_are_judged() {
    let dir = root().join("captures");
    let read = |name: &str, keys: bool| {
        let path = dir.join(name);
        let keylog = path.with_extension("keylog");
        json_doc(&path, keys.then_some(keylog.as_path()))
    };
    let codes = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_owned(),
                    f["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let versions = |h: &serde_json::Value| -> Vec<String> {
        h["legs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["http"].as_str().unwrap().to_owned())
            .collect()
    };
    let pair = |c: &str, s: &str| (c.to_owned(), s.to_owned());
    // The HTTP/2 frames that matter on a handshake's timeline.
    let h2_events = |h: &serde_json::Value| -> Vec<serde_json::Value> {
        h["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "h2")
            .cloned()
            .collect()
    };
    let text_report = |name: &str| {
        let path = dir.join(name);
        let keylog = path.with_extension("keylog");
        let out = super::util::stdout_of(&[
            "report",
            "--keylog",
            keylog.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        String::from_utf8(out).unwrap()
    };

    // curl: the Type 1 over HTTP/2 is reset, the retry over HTTP/1.1 logs on.
    let doc = read("https-h2-ntlm-downgrade.pcap", true);
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1, "the retry joins the refused attempt");
    let h = &hs[0];
    assert_eq!(h["outcome"]["result"], "success");
    assert_eq!(h["user"], "alice");
    assert_eq!(versions(h), ["2", "1.1", "1.1"]);
    let refused = &h["legs"][0];
    assert_eq!(refused["h2"]["stream"], 1);
    assert_eq!(refused["h2"]["end"]["code"], 13);
    assert_eq!(refused["h2"]["end"]["by_server"], true);
    assert!(refused["response"].is_null());
    assert!(
        refused["summary"]
            .as_str()
            .unwrap()
            .ends_with("-> RST_STREAM HTTP_1_1_REQUIRED from server"),
        "{}",
        refused["summary"]
    );
    assert_eq!(codes(&h["findings"]), [pair("http2-downgrade", "warning")]);
    let f = &h["findings"][0];
    assert!(f["next_step"].as_str().unwrap().contains("EnableHttp2Tls"));
    assert_eq!(f["evidence"].as_array().unwrap().len(), 2);
    // The connection's timeline has the frames that matter.
    let kinds: Vec<serde_json::Value> = h2_events(h)
        .iter()
        .map(|e| e["h2"]["type"].clone())
        .collect();
    assert_eq!(kinds, ["settings", "settings", "rst_stream"]);
    let text = text_report("https-h2-ntlm-downgrade.pcap");
    assert!(text.contains("-> GET / HTTP/2 [NTLM Type 1"), "{text}");
    assert!(text.contains("HTTP/2 RST_STREAM stream 1"), "{text}");
    assert!(text.contains("http/2:"), "{text}");
    // Without keys: the fallback, inferred from the ClientHellos, as an inference.
    let doc = read("https-h2-ntlm-downgrade.pcap", false);
    let inferred: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "http2-downgrade")
        .collect();
    assert_eq!(inferred.len(), 1, "{}", doc["findings"]);
    assert_eq!(inferred[0]["severity"], "info");
    assert_eq!(inferred[0]["subject"], "iis.lab.test");
    assert!(inferred[0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Inferred from TLS handshakes alone"));
    assert_eq!(inferred[0]["evidence"].as_array().unwrap().len(), 2);

    // An HTTP/2-only client: reset, never retried.
    let doc = read("https-h2-ntlm-no-retry.pcap", true);
    let h = &doc["handshakes"][0];
    assert_ne!(h["outcome"]["result"], "success");
    assert_eq!(versions(h), ["2"]);
    assert_eq!(codes(&h["findings"]), [pair("http2-downgrade", "error")]);
    assert!(h["findings"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("never retried"));
    let doc = read("https-h2-ntlm-no-retry.pcap", false);
    assert!(!codes(&doc["findings"])
        .iter()
        .any(|(c, _)| c == "http2-downgrade"));

    // The GOAWAY form of the refusal (last stream 0: the request was not processed); curl
    // does not retry after it, so the login failed and nothing came over HTTP/1.1.
    let name = "https-h2-ntlm-goaway.pcap";
    let doc = read(name, true);
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1, "{}", doc["handshakes"]);
    let h = &hs[0];
    assert_eq!(h["outcome"]["result"], "failed");
    assert_eq!(versions(h), ["2"]);
    let refused = &h["legs"][0];
    assert_eq!(refused["h2"]["stream"], 1);
    assert_eq!(refused["h2"]["end"]["goaway"], true);
    assert_eq!(refused["h2"]["end"]["code"], 13);
    assert_eq!(refused["h2"]["end"]["by_server"], true);
    assert!(refused["response"].is_null());
    let goaway = refused["h2"]["end"]["frame"].clone();
    let timeline = h2_events(h);
    let kinds: Vec<serde_json::Value> = timeline.iter().map(|e| e["h2"]["type"].clone()).collect();
    assert_eq!(kinds, ["settings", "settings", "goaway"]);
    let g = &timeline[2];
    assert_eq!(g["frame"], goaway);
    assert_eq!(g["by"], "server");
    assert_eq!(g["h2"]["code"], 13);
    assert_eq!(g["h2"]["last_stream"], 0);
    assert_eq!(codes(&h["findings"]), [pair("http2-downgrade", "error")]);
    let f = &h["findings"][0];
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains("with a GOAWAY HTTP_1_1_REQUIRED"),
        "{summary}"
    );
    assert!(summary.contains("never retried"), "{summary}");
    assert!(f["next_step"].as_str().unwrap().contains("EnableHttp2Tls"));
    let evidence = f["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert_eq!(evidence[0]["frame"], goaway);
    assert_eq!(evidence[0]["leg"], 0);
    assert!(evidence[0]["note"]
        .as_str()
        .unwrap()
        .contains("answered GOAWAY HTTP_1_1_REQUIRED from server"));
    let text = text_report(name);
    assert!(
        text.contains("HTTP/2 GOAWAY HTTP_1_1_REQUIRED (last"),
        "{text}"
    );
    assert!(text.contains("ERROR   http2-downgrade"), "{text}");
    // Without keys nothing is inferred, rightly: the inference needs the client's second
    // connection offering only http/1.1, and curl opened none.
    let doc = read(name, false);
    assert!(doc["handshakes"].as_array().unwrap().is_empty());
    assert!(!codes(&doc["findings"])
        .iter()
        .any(|(c, _)| c == "http2-downgrade"));

    // Basic over HTTP/2: two streams, one handshake, nothing to say.
    let doc = read("https-h2-basic-success.pcap", true);
    let hs = doc["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 1);
    let h = &hs[0];
    assert_eq!(h["outcome"]["result"], "success");
    assert_eq!(h["host"], "iis.lab.test");
    assert_eq!(versions(h), ["2", "2"]);
    assert!(codes(&h["findings"]).is_empty(), "{}", h["findings"]);
    let streams: Vec<u64> = doc["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["h2"]["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(streams, [1, 3]);
    assert_eq!(doc["summary"]["stats"]["http"]["h2"]["connections"], 1);
}

/// The JSON report of a capture (every exchange listed), with a key log.
fn json_doc(path: &Path, keylog: Option<&Path>) -> serde_json::Value {
    let opts = Options {
        format: Format::Json,
        exchanges: authscope::report::ExchangeFilter::All,
        all_handshakes: true,
        key_logs: keylog.map(Path::to_path_buf).into_iter().collect(),
        ..Options::default()
    };
    let mut out = Vec::new();
    run(&[path.to_path_buf()], &opts, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// What a report concludes: each handshake's scheme, user, domain and outcome, and the
/// findings' codes and severities.
fn verdicts(doc: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let hs = doc["handshakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {} {} {}",
                h["scheme"], h["user"], h["domain"], h["outcome"]
            )
        })
        .collect();
    let mut fs: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["code"], f["severity"]))
        .collect();
    fs.sort();
    (hs, fs)
}

/// Whether a pcapng file holds a Decryption Secrets Block with TLS key log lines (pcapng
/// 4.7: secrets type 0x544c534b).
fn has_tls_secrets_block(bytes: &[u8]) -> bool {
    let tlsk = 0x544C_534Bu32;
    pcapng_blocks(bytes).is_some_and(|blocks| {
        blocks.iter().any(|(t, b)| {
            *t == PCAPNG_DSB && (b[8..12] == tlsk.to_le_bytes() || b[8..12] == tlsk.to_be_bytes())
        })
    })
}

#[test]
fn https_captures_with_their_secrets_report_what_plain_http_reports() {
    let dir = root().join("captures");
    for (name, plain) in NEEDS_TLS_SECRETS {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let keylog = path.with_extension("keylog");
        if name.ends_with(".pcapng") {
            assert!(
                has_tls_secrets_block(&bytes),
                "{name}: no TLS Decryption Secrets Block"
            );
            assert!(!keylog.exists(), "{name}: its secrets are inside it");
        } else {
            // An NSS key log: comments, and `LABEL <hex> <hex>` lines.
            let text = std::fs::read_to_string(&keylog)
                .unwrap_or_else(|e| panic!("{name}: no key log {}: {e}", keylog.display()));
            let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
            assert!(!lines.is_empty(), "{name}: empty key log");
            for l in lines {
                let parts: Vec<&str> = l.split(' ').collect();
                assert!(
                    parts.len() == 3
                        && parts[1..]
                            .iter()
                            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit())),
                    "{name}: not a key log line: {l}"
                );
            }
        }
        if let Some(plain) = plain {
            assert!(
                CASES.iter().any(|(c, _)| c == plain),
                "{name}: {plain} is no lab capture"
            );
        }
        let dsb = name.ends_with(".pcapng");
        if !dsb {
            // Without its secrets: TLS connections, nothing of HTTP, and one finding that
            // says which server was not decrypted and why.
            let doc = json_doc(&path, None);
            for what in ["exchanges", "handshakes", "anomalies"] {
                assert_eq!(doc[what], serde_json::json!([]), "{name}: {what}");
            }
            // One finding a server, naming it (the proxy capture's client also opened a TCP
            // connection to the proxy that carried nothing: the lab's wait for its port).
            let conns: Vec<&serde_json::Value> = doc["connections"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["tls"].is_object())
                .collect();
            assert!(!conns.is_empty(), "{name}");
            let mut servers: Vec<&str> = conns
                .iter()
                .map(|c| c["tls"]["sni"].as_str().unwrap())
                .collect();
            servers.sort();
            servers.dedup();
            // (A client falling back from HTTP/2 is inferred beside: http2_refusals_are_judged.)
            let findings: Vec<&serde_json::Value> = doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["code"] != "http2-downgrade")
                .collect();
            assert_eq!(findings.len(), servers.len(), "{name}: {findings:?}");
            for (f, sni) in findings.iter().zip(&servers) {
                assert_eq!(
                    (&f["code"], &f["severity"], &f["subject"]),
                    (
                        &serde_json::json!("tls-undecrypted"),
                        &serde_json::json!("info"),
                        &serde_json::json!(sni)
                    ),
                    "{name}"
                );
                let n = conns.iter().filter(|c| c["tls"]["sni"] == *sni).count();
                let summary = f["summary"].as_str().unwrap();
                assert!(
                    summary.contains(&format!(
                        "{n} HTTPS connection{} to {sni} ",
                        if n == 1 { "" } else { "s" }
                    )) && summary.contains("(no key log was given)"),
                    "{name}: {summary}"
                );
                assert!(f.get("handshake").is_none(), "{name}");
            }
            assert_eq!(
                doc["summary"]["findings"]["tls-undecrypted"],
                servers.len(),
                "{name}"
            );
        }
        // With them: what the same scenario over plain HTTP reports.
        let secrets = (!dsb).then_some(keylog.as_path());
        let doc = json_doc(&path, secrets);
        assert!(!doc["exchanges"].as_array().unwrap().is_empty(), "{name}");
        assert!(
            doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f.get("handshake").is_some()),
            "{name}: a finding about its connections once decrypted: {}",
            doc["findings"]
        );
        if let Some(plain) = plain {
            // The same, but for Basic over plain HTTP, which TLS answers.
            let (hs, mut fs) = verdicts(&json_doc(&dir.join(plain), None));
            fs.retain(|f| !f.starts_with("\"basic-cleartext\""));
            assert_eq!(verdicts(&doc), (hs, fs), "{name} against {plain}");
            let legs = doc["handshakes"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|h| h["legs"].as_array().unwrap());
            for l in legs {
                assert_eq!(l["tls"], true, "{name}: a leg not said to be inside TLS");
            }
        }
    }
    // Every key log in captures/ is that of an HTTPS capture listed here.
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "keylog") {
            let pcap = p.with_extension("pcap");
            let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                NEEDS_TLS_SECRETS.iter().any(|(c, _)| *c == name),
                "{}: a key log of no HTTPS capture",
                p.display()
            );
        }
    }
}

#[test]
fn lab_handshakes_and_findings() {
    let mut failures = Vec::new();
    for (name, expected) in CASES {
        let doc = json_report(name);
        let got: Vec<Seen> = doc["handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let mut codes: Vec<String> = h["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["code"].as_str().unwrap().to_owned())
                    .collect();
                codes.sort();
                (
                    h["scheme"].as_str().unwrap().to_owned(),
                    h["user"].as_str().map(str::to_owned),
                    h["spn"].as_str().map(str::to_owned),
                    outcome(&h["outcome"]),
                    codes,
                )
            })
            .collect();
        let want: Vec<Seen> = expected
            .iter()
            .map(|(s, u, spn, o, codes)| {
                let mut c: Vec<String> = codes.iter().map(|c| (*c).to_owned()).collect();
                c.sort();
                (
                    (*s).to_owned(),
                    u.map(str::to_owned),
                    spn.map(str::to_owned),
                    (*o).to_owned(),
                    c,
                )
            })
            .collect();
        // Handshakes come out as they end, which a new recording may change: compare as sets.
        let (mut got, mut want) = (got, want);
        got.sort();
        want.sort();
        if got != want {
            failures.push(format!("{name}:\n  got  {got:?}\n  want {want:?}"));
        }
        // Every finding is listed at the top level too, tied to its handshake.
        let n_top = doc["findings"].as_array().unwrap().len();
        let n_in: usize = doc["handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["findings"].as_array().unwrap().len())
            .sum();
        assert_eq!(n_top, n_in, "{name}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secrets_are_redacted_unless_revealed() {
    let path = root().join("captures").join("basic-success.pcap");
    let mut out = Vec::new();
    run(
        std::slice::from_ref(&path),
        &Options {
            format: Format::Json,
            ..Options::default()
        },
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    // The lab password (README of captures/) must not appear, in clear or in base64.
    assert!(!text.contains("Summer2024!"));
    assert!(!text.contains("YWxpY2U6U3VtbWVyMjAyNCE"));
    let mut out = Vec::new();
    let opts = Options {
        format: Format::Json,
        reveal_secrets: true,
        ..Options::default()
    };
    run(&[path], &opts, &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("Summer2024!"));
}

/// Without `--reveal-secrets` the analysis drops secret values once a leg is decoded: the
/// handshakes read the same (a redacted secret shows only its length) and hold no credential.
#[test]
fn forgotten_secrets_read_the_same_and_are_gone() {
    use authscope::auth::RevealSecrets as _;
    use authscope::capture::MergedSource;
    use authscope::pipeline::{Analyzer, Config, Output};

    let handshakes = |path: &std::path::PathBuf, forget_secrets: bool| {
        let mut source = MergedSource::open(std::slice::from_ref(path)).unwrap();
        let mut a = Analyzer::new(Config {
            forget_secrets,
            ..Config::default()
        });
        let mut got = Vec::new();
        let mut keep = |o: Output| {
            if let Output::Handshake(h) = o {
                got.push(h);
            }
        };
        while let Some(f) = source.next_frame() {
            a.push(&f, &mut keep);
        }
        a.finish(&mut keep);
        got
    };
    let mut secrets = 0;
    for path in captures_in(&root().join("captures")) {
        let kept = handshakes(&path, false);
        let mut forgotten = handshakes(&path, true);
        assert_eq!(
            serde_json::to_string(&kept).unwrap(),
            serde_json::to_string(&forgotten).unwrap(),
            "{}",
            path.display()
        );
        // Revealing what was forgotten shows nothing more: the values are gone.
        for h in &mut forgotten {
            for leg in &mut h.handshake.legs {
                let headers = [
                    leg.request.as_mut().and_then(|r| r.credential.as_mut()),
                    leg.response.as_mut().and_then(|r| r.challenges.as_mut()),
                ];
                for header in headers.into_iter().flatten() {
                    let header = std::sync::Arc::make_mut(header);
                    header.each_secret(&mut |_| secrets += 1);
                    let before = serde_json::to_string(&*header).unwrap();
                    header.reveal_secrets();
                    assert_eq!(serde_json::to_string(&*header).unwrap(), before);
                }
            }
        }
    }
    assert!(secrets > 20, "only {secrets} secrets seen");
}

#[test]
fn legs_from_the_decode_cache_are_the_legs_decoded_afresh() {
    use authscope::capture::MergedSource;
    use authscope::handshake::{leg_of, leg_of_shared};
    use authscope::pipeline::{Analyzer, Config, Output};

    // Values seen again, and of those how many were the same decoded header (the cache is
    // direct-mapped: two values can take turns in one slot, by a seed that changes per run,
    // and an earlier threshold of 80 % failed 1 run in 60).
    let (mut repeated, mut shared) = (0, 0);
    for path in captures_in(&root().join("captures")) {
        let mut source = MergedSource::open(std::slice::from_ref(&path)).unwrap();
        let mut a = Analyzer::new(Config::default());
        let mut exchanges = Vec::new();
        let mut keep = |o: Output| {
            if let Output::Exchange(x, _) = o {
                exchanges.push(x);
            }
        };
        while let Some(f) = source.next_frame() {
            a.push(&f, &mut keep);
        }
        a.finish(&mut keep);
        // By the header values: those seen before are mostly the same decoded header.
        type Seen = (Vec<String>, std::sync::Arc<authscope::auth::AuthHeader>);
        let mut seen: Vec<Seen> = Vec::new();
        for x in &exchanges {
            let fresh = leg_of(x);
            // Twice: the second comes from the cache.
            for _ in 0..2 {
                assert_eq!(leg_of_shared(x, false), fresh, "{}", path.display());
            }
            let Some(leg) = leg_of_shared(x, false) else {
                continue;
            };
            let values = |name: &str, heads: Option<&Vec<authscope::http::Header>>| {
                authscope::http::headers_named(heads.map(Vec::as_slice).unwrap_or_default(), name)
                    .map(|v| format!("{name}: {v}"))
                    .collect::<Vec<_>>()
            };
            let request = x.request.as_ref().map(|r| &r.headers);
            let response = x.response.as_ref().map(|r| &r.headers);
            let headers = [
                (
                    [
                        values("authorization", request),
                        values("proxy-authorization", request),
                    ]
                    .concat(),
                    leg.request.and_then(|r| r.credential),
                ),
                (
                    [
                        values("www-authenticate", response),
                        values("proxy-authenticate", response),
                    ]
                    .concat(),
                    leg.response.and_then(|r| r.challenges),
                ),
            ];
            for (values, h) in headers {
                let Some(h) = h else { continue };
                match seen.iter().find(|(v, _)| *v == values) {
                    Some((_, s)) => {
                        repeated += 1;
                        if std::sync::Arc::ptr_eq(s, &h) {
                            shared += 1;
                        }
                    }
                    None => seen.push((values, h)),
                }
            }
        }
    }
    // How often is for the benchmarks (150 runs here: 21 of 21 in 124, never fewer than 13);
    // what is tested is that repeats do share, and above, that a cached leg is the leg.
    assert!(
        repeated >= 20 && shared >= 5,
        "{shared} of {repeated} repeated values shared"
    );
}

fn text_report(name: &str) -> String {
    let path = root().join("captures").join(name);
    let mut out = Vec::new();
    run(&[path], &Options::default(), &mut out).unwrap();
    let prefix = format!("{}/", root().display());
    String::from_utf8(out).unwrap().replace(&prefix, "")
}

#[test]
fn text_report_snapshots() {
    for name in [
        "ntlm-keepalive-broken.pcap",
        "kerberos-badkeyver.pcap",
        "kerberos-success.pcap",
        "proxy-ntlm-success.pcap",
        "plain-pipelining.pcap",
    ] {
        insta::assert_snapshot!(name, text_report(name));
    }
}
