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
    use super::slice_dissects::{need_tshark, slice_of, tshark};
    if !super::util::full() {
        return;
    }
    need_tshark();
    let dir = tempfile::tempdir().unwrap();
    let capture = root()
        .join("captures")
        .join("kerberos-unknown-spn-ntlm-fallback.pcap");
    let slice = slice_of(&capture, dir.path());
    let fields = [
        "-Y",
        "kerberos && udp.port == 88",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
        "-e",
        "kerberos.msg_type",
        "-e",
        "kerberos.SNameString",
        "-e",
        "kerberos.cipher",
    ];
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
