//! The KDC and DNS stage over the lab's Kerberos captures: the client's KDC exchanges are
//! joined to the handshake they served, the findings they explain are raised, and healthy
//! logins stay quiet.

use super::util::{outputs_with_keylog, root};
use authscope::pipeline::{Analysed, Output};

fn handshakes(name: &str) -> Vec<Analysed> {
    let mut v = Vec::new();
    outputs_with_keylog(&root().join("captures").join(name), &mut |o| {
        if let Output::Handshake(a) = o {
            v.push(*a);
        }
    });
    v
}

fn codes(a: &Analysed) -> Vec<&'static str> {
    a.findings.iter().map(|f| f.code).collect()
}

const KDC_CODES: &[&str] = &[
    "kdc-spn-unknown",
    "kdc-error",
    "clock-skew",
    "spn-from-cname",
    "kdc-unreachable",
    "krb-ticket-for-other-account",
    "weak-etype",
];

#[test]
fn an_unknown_spn_at_the_kdc_is_named_with_its_frames() {
    let hs = handshakes("kerberos-unknown-spn-ntlm-fallback.pcap");
    let a = &hs[0];
    let kinds: Vec<String> = a
        .handshake
        .kdc
        .iter()
        .filter_map(|m| m.kerberos().map(|k| k.kind.name().to_owned()))
        .collect();
    assert_eq!(
        kinds,
        [
            "AS-REQ",
            "KRB-ERROR",
            "AS-REQ",
            "AS-REP",
            "TGS-REQ",
            "KRB-ERROR",
            "TGS-REQ",
            "KRB-ERROR"
        ]
    );
    let c = codes(a);
    assert!(c.contains(&"kdc-spn-unknown"), "{c:?}");
    let f = a
        .findings
        .iter()
        .find(|f| f.code == "kdc-spn-unknown")
        .unwrap();
    assert!(
        f.summary.contains("HTTP/intranet-alias.lab.test"),
        "{}",
        f.summary
    );
    assert_eq!(
        f.evidence.iter().map(|e| e.frame).collect::<Vec<_>>(),
        [13, 15]
    );
    let fb = a
        .findings
        .iter()
        .find(|f| f.code == "kerberos-fallback-ntlm")
        .unwrap();
    assert!(
        fb.summary.contains("KDC_ERR_S_PRINCIPAL_UNKNOWN"),
        "{}",
        fb.summary
    );
    // The pre-authentication the KDC asked for is a step, not a refusal.
    assert!(!c.contains(&"kdc-error"), "{c:?}");
}

#[test]
fn healthy_kerberos_logins_stay_quiet_and_name_their_client() {
    for name in [
        "kerberos-success.pcap",
        "kerberos-success-then-500.pcap",
        "kerberos-short-name-host.pcap",
    ] {
        for a in handshakes(name) {
            assert!(!a.handshake.kdc.is_empty(), "{name}: nothing joined");
            let c = codes(&a);
            assert!(!c.iter().any(|c| KDC_CODES.contains(c)), "{name}: {c:?}");
            if a.handshake.scheme == authscope::handshake::SchemeUsed::Kerberos {
                assert_eq!(
                    a.handshake.user.as_deref(),
                    Some("alice@LAB.TEST"),
                    "{name}"
                );
            }
        }
    }
}

/// The server's clock as its NTLM challenge states it (MsvAvTimestamp, MS-NLMP 2.2.2.1):
/// ten minutes ahead in `kerberos-ntlm-server-clock-skew.pcap`, where SPNEGO picked NTLM and
/// the login worked (a warning: Kerberos would fail, this login did not). The Type 2 is the
/// first evidence; the Negotiate logins over NTLM to servers with the right clock stay quiet.
#[test]
fn a_server_clock_ahead_is_read_from_its_ntlm_challenge() {
    use authscope::handshake::Answer;
    let hs = handshakes("kerberos-ntlm-server-clock-skew.pcap");
    assert_eq!(hs.len(), 1);
    let a = &hs[0];
    assert!(a.handshake.kdc.is_empty(), "no ticket: no KDC request");
    let (i, type2) = a
        .handshake
        .legs
        .iter()
        .enumerate()
        .find(|(_, l)| {
            matches!(
                l.answer,
                Answer::NtlmChallenge {
                    timestamp: Some(_),
                    ..
                }
            )
        })
        .expect("a Type 2 with MsvAvTimestamp");
    let f = a
        .findings
        .iter()
        .find(|f| f.code == "clock-skew")
        .unwrap_or_else(|| panic!("no clock-skew in {:?}", codes(a)));
    assert_eq!(f.severity.label(), "warning");
    let ev = &f.evidence[0];
    assert_eq!(ev.leg, Some(i));
    assert_eq!(ev.frame, type2.response.as_ref().unwrap().frame);
    assert_eq!(ev.note, "NTLM Type 2 MsvAvTimestamp");
    assert!(
        // faketime set the server ten minutes ahead.
        f.summary
            .contains("(MsvAvTimestamp) is 10m00s ahead of the capture's clock"),
        "{}",
        f.summary
    );
    assert!(f.next_step.contains("Synchronise the clocks"));
    for name in [
        "negotiate-ntlm-success.pcap",
        "https-negotiate-ntlm-success.pcap",
        "kerberos-unknown-spn-ntlm-fallback.pcap",
        "kerberos-kdc-unreachable.pcap",
    ] {
        for a in handshakes(name) {
            let ntlm_stamp = a.handshake.legs.iter().any(|l| {
                matches!(
                    l.answer,
                    Answer::NtlmChallenge {
                        timestamp: Some(_),
                        ..
                    }
                )
            });
            assert!(ntlm_stamp, "{name}: no Type 2 timestamp to read");
            assert!(
                !codes(&a).contains(&"clock-skew"),
                "{name}: {:?}",
                codes(&a)
            );
        }
    }
}

#[test]
fn ticket_ciphers_are_redacted_unless_revealed() {
    let a = &handshakes("kerberos-success.pcap")[0];
    let text = |h: &authscope::handshake::Handshake| serde_json::to_string(&h.kdc).unwrap();
    let hidden = text(&a.handshake);
    assert!(hidden.contains("\"ticket_cipher\":\"<redacted"), "{hidden}");
    let mut h = a.handshake.clone();
    h.reveal_secrets();
    assert!(!text(&h).contains("<redacted"));
}

#[test]
fn the_slice_keeps_the_kdc_packets_with_their_cipher_texts_zeroed() {
    use super::slice_dissects::{field_args, need_tshark, slice_of, tshark};
    if !super::util::full() {
        return;
    }
    need_tshark();
    let dir = tempfile::tempdir().unwrap();
    let capture = root()
        .join("captures")
        .join("kerberos-unknown-spn-ntlm-fallback.pcap");
    let slice = slice_of(&capture, dir.path());
    let fields = field_args(
        "kerberos && udp.port == 88",
        &[
            "kerberos.msg_type",
            "kerberos.SNameString",
            "kerberos.cipher",
        ],
    );
    let (before, after) = (tshark(&fields, &capture), tshark(&fields, &slice));
    let rows = |t: &str| -> Vec<Vec<String>> {
        t.lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    };
    let (before, after) = (rows(&before), rows(&after));
    assert_eq!(after.len(), 8, "the KDC packets of the slice: {after:?}");
    assert_eq!(after.len(), before.len());
    let mut zeroed = 0;
    for (b, a) in before.iter().zip(&after) {
        // The same messages for the same services...
        assert_eq!(a[..2], b[..2]);
        // ...with every cipher text of the same length, and zero.
        let (bc, ac) = (b[2].split('|'), a[2].split('|'));
        for (b, a) in bc.zip(ac) {
            assert_eq!(a.len(), b.len());
            assert!(a.bytes().all(|c| c == b'0'), "a cipher text is left: {a}");
            zeroed += usize::from(!a.is_empty());
        }
    }
    assert!(zeroed >= 4, "only {zeroed} cipher texts");
}

/// One finding the lab's KDC scenarios (`scripts/lab/kerberos_kdc.sh`) must raise: the
/// capture, the code, its severity, its evidence frames, words of its summary and of its
/// next step.
type KdcCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static [u64],
    &'static str,
    &'static str,
);

const KDC_CASES: &[KdcCase] = &[
    (
        "kerberos-wrong-password.pcap",
        "kdc-error",
        "error",
        &[4],
        "KDC_ERR_PREAUTH_FAILED",
        "type the password again or reset it",
    ),
    (
        "kerberos-wrong-password.pcap",
        "kerberos-fallback-ntlm",
        "warning",
        &[13],
        "no ticket-granting ticket: the KDC answered KDC_ERR_PREAUTH_FAILED",
        "reset it",
    ),
    (
        "kerberos-clock-skew.pcap",
        "clock-skew",
        "error",
        &[13],
        "KRB_AP_ERR_SKEW",
        "w32tm /resync",
    ),
    (
        "kerberos-clock-skew.pcap",
        "kerberos-fallback-ntlm",
        "warning",
        &[17],
        "KRB_AP_ERR_SKEW for HTTP/intranet.lab.test",
        "Synchronise the clocks",
    ),
    (
        "kerberos-server-clock-skew.pcap",
        "clock-skew",
        "error",
        &[15],
        "KRB_AP_ERR_SKEW): the server's Date header is 10m00s ahead",
        "w32tm /resync",
    ),
    (
        "kerberos-ntlm-server-clock-skew.pcap",
        "clock-skew",
        "warning",
        &[9, 11],
        "The server's clock in its NTLM challenge (MsvAvTimestamp) is 10m00s ahead",
        "w32tm /resync",
    ),
    (
        "kerberos-etype-nosupp.pcap",
        "kdc-error",
        "error",
        &[2],
        "KDC_ERR_ETYPE_NOSUPP",
        "msDS-SupportedEncryptionTypes",
    ),
    (
        "kerberos-cname-spn-on-canonical.pcap",
        "spn-from-cname",
        "warning",
        &[17],
        "the SPN of the alias apps.lab.test, which DNS resolves through a CNAME to web01.lab.test",
        "setspn -S HTTP/apps.lab.test",
    ),
    (
        "kerberos-cname-spn-on-canonical.pcap",
        "kdc-spn-unknown",
        "error",
        &[17, 19],
        "HTTP/apps.lab.test",
        "setspn -S HTTP/apps.lab.test",
    ),
    (
        "kerberos-cname-spn-on-alias.pcap",
        "spn-from-cname",
        "warning",
        &[21],
        "DNS resolved apps.lab.test through a CNAME to web01.lab.test, and the client asked for the SPN of the canonical name",
        "setspn -S HTTP/web01.lab.test",
    ),
    (
        "kerberos-kdc-unreachable.pcap",
        "kdc-unreachable",
        "error",
        &[12, 13, 15],
        "an ICMP port unreachable from 127.0.0.16 over UDP, a TCP connection refused or reset",
        "listens on port 88",
    ),
    (
        "kerberos-kdc-unreachable.pcap",
        "kerberos-fallback-ntlm",
        "warning",
        &[17],
        "the KDC 127.0.0.16:88 did not answer",
        "listens on port 88",
    ),
    (
        "kerberos-wrong-key.pcap",
        "krb-ticket-for-other-account",
        "error",
        &[15],
        "KRB_AP_ERR_BAD_INTEGRITY",
        "setspn -Q HTTP/intranet.lab.test",
    ),
];

#[test]
fn the_lab_kdc_scenarios_name_their_cause_and_fix() {
    for (name, code, severity, frames, summary, next) in KDC_CASES {
        let hs = handshakes(name);
        assert_eq!(hs.len(), 1, "{name}");
        let Some(f) = hs[0].findings.iter().find(|f| f.code == *code) else {
            panic!("{name}: no {code} in {:?}", codes(&hs[0]));
        };
        assert_eq!(f.severity.label(), *severity, "{name} {code}");
        let ev: Vec<u64> = f.evidence.iter().map(|e| e.frame).collect();
        assert_eq!(ev, *frames, "{name} {code}");
        assert!(f.summary.contains(summary), "{name} {code}: {}", f.summary);
        assert!(f.next_step.contains(next), "{name} {code}: {}", f.next_step);
    }
}

/// The ICMP port unreachable about the TGS-REQ is a message of the KDC lane, joined, with
/// the flow it quotes; a connection refused by an RST too.
#[test]
fn an_unreachable_kdc_shows_the_icmp_and_the_rst() {
    let a = &handshakes("kerberos-kdc-unreachable.pcap")[0];
    let icmp = a
        .handshake
        .kdc
        .iter()
        .find(|m| matches!(m.body, authscope::kdc::WireBody::Unreachable { .. }))
        .expect("the ICMP unreachable is joined");
    assert_eq!(icmp.frame, 13);
    assert_eq!(icmp.server.to_string(), "127.0.0.16:88");
    assert_eq!(icmp.client.ip().to_string(), "127.0.0.100");
    assert!(
        icmp.text()
            .starts_with("ICMP port unreachable from 127.0.0.16 for a datagram"),
        "{}",
        icmp.text()
    );
    assert!(a
        .handshake
        .kdc
        .iter()
        .any(|m| matches!(m.body, authscope::kdc::WireBody::NoAnswer { reset: true })));
}
