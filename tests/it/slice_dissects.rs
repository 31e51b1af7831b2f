//! The pcapng slice read by Wireshark: every NTLM, SPNEGO and Kerberos message of the lab
//! captures still dissects in it, with the same names, while each secret field reads as zero
//! (NTProofStr, session key, MIC, Kerberos cipher text, mechListMIC checksum) or as `*`
//! (Basic password, Digest response and rspauth, JWT signature); and no 8 bytes of any of
//! those secrets are left anywhere in the slice, decoded tokens included.
//!
//! Runs under `AUTHSCOPE_FULL_TESTS=1`, and then fails, never skips, without tshark.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::util::{bin, full, root};

fn capture(name: &str) -> PathBuf {
    root().join("captures").join(name)
}

pub(super) fn need_tshark() {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tshark is needed by AUTHSCOPE_FULL_TESTS=1 (see .ci/run)"
    );
}

/// `authscope export CAPTURE --format pcapng -o DIR/NAME.pcapng`: every handshake.
pub(super) fn slice_of(c: &Path, dir: &Path) -> PathBuf {
    let out = dir.join(c.file_name().unwrap()).with_extension("pcapng");
    let o = Command::new(bin())
        .arg("export")
        .arg(c)
        .args(["--format", "pcapng", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

pub(super) fn tshark(args: &[&str], file: &Path) -> String {
    let o = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// tshark's arguments for `fields` of the frames `filter` shows, a frame a line, every
/// occurrence of a field joined by `|`.
pub fn field_args<'a>(filter: &'a str, fields: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    args
}

/// The values of `fields` in the HTTP frames, each field's in frame order.
fn columns(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let args = field_args("http", fields);
    let mut out = vec![Vec::new(); fields.len()];
    for line in tshark(&args, file).lines() {
        for (column, cell) in out.iter_mut().zip(line.split('\t')) {
            column.extend(cell.split('|').filter(|v| !v.is_empty()).map(str::to_owned));
        }
    }
    out
}

/// Every value of `field` in the HTTP frames, in frame order.
fn values(file: &Path, field: &str) -> Vec<String> {
    columns(file, &[field]).remove(0)
}

/// The bytes of every data source tshark shows (`-x`): the frames and the tokens it decoded
/// from base64.
fn dumps(file: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in tshark(&["-x"], file).lines() {
        let digits = line.chars().take_while(char::is_ascii_hexdigit).count();
        if digits < 4 || !line[digits..].starts_with("  ") {
            out.push(Vec::new());
            continue;
        }
        let hex = line
            .get(digits + 2..(digits + 2 + 48).min(line.len()))
            .unwrap();
        let bytes = hex
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap());
        if out.is_empty() {
            out.push(Vec::new());
        }
        out.last_mut().unwrap().extend(bytes);
    }
    out.retain(|d| !d.is_empty());
    out
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The part of a mechListMIC that is its checksum: an NTLM signature keeps its version.
fn signature_from(mic: &str) -> usize {
    if mic.len() == 32 && mic.starts_with("01000000") {
        8
    } else if mic.starts_with("0404") && mic.len() > 32 {
        32
    } else {
        0
    }
}

/// Fields that must read the same in the slice as in the capture: every message type, name
/// and framing field of NTLMSSP, SPNEGO and Kerberos.
const SAME: [&str; 15] = [
    "ntlmssp.messagetype",
    "ntlmssp.negotiateflags",
    "ntlmssp.auth.username",
    "ntlmssp.auth.domain",
    "ntlmssp.auth.hostname",
    "ntlmssp.ntlmserverchallenge",
    "ntlmssp.ntlmv2_response.target_name",
    "ntlmssp.ntlmv2_response.timestamp",
    "spnego.negResult",
    "spnego.supportedMech",
    "kerberos.msg_type",
    "kerberos.realm",
    "kerberos.SNameString",
    "kerberos.etype",
    "kerberos.error_code",
];

/// Binary secret fields: each reads as zero bytes in the slice (past the header kept).
const ZEROED: [&str; 7] = [
    "ntlmssp.auth.lmresponse",
    "ntlmssp.ntlmv2_response.ntproofstr",
    "ntlmssp.auth.sesskey",
    "ntlmssp.authenticate.mic",
    "ntlmssp.auth.ntresponse",
    "kerberos.cipher",
    "spnego.mechListMIC",
];

/// Dissects the capture and its slice and compares; returns the original's secret bytes.
fn binary_secrets(name: &str, c: &Path, slice: &Path) -> Vec<Vec<u8>> {
    let fields: Vec<&str> = SAME.iter().chain(&ZEROED).copied().collect();
    let (before, after) = (columns(c, &fields), columns(slice, &fields));
    for (i, field) in SAME.iter().enumerate() {
        assert_eq!(after[i], before[i], "{name}: {field}");
    }
    // As many frames carry SPNEGO, and none is an unknown NTLMSSP message or malformed.
    assert_eq!(
        tshark(&["-Y", "spnego"], slice).lines().count(),
        tshark(&["-Y", "spnego"], c).lines().count(),
        "{name}: SPNEGO frames"
    );
    // No warning or error Wireshark did not have with the capture (a malformed token, an
    // unknown NTLMSSP message); the slice's own packet comments aside.
    let warnings = |file: &Path| {
        let mut v: Vec<String> = tshark(
            &[
                "-Y",
                "_ws.expert.severity >= 0x00600000",
                "-T",
                "fields",
                "-E",
                "aggregator=|",
                "-e",
                "_ws.expert.message",
            ],
            file,
        )
        .lines()
        .flat_map(|l| l.split('|'))
        .filter(|m| !m.is_empty() && !m.contains("handshake #"))
        .map(str::to_owned)
        .collect();
        v.sort();
        v
    };
    assert_eq!(warnings(slice), warnings(c), "{name}: warnings");
    let mut secrets = Vec::new();
    for (i, field) in ZEROED.iter().copied().enumerate() {
        let (o, s) = (&before[SAME.len() + i], &after[SAME.len() + i]);
        assert_eq!(o.len(), s.len(), "{name}: {field}");
        for (o, s) in o.iter().zip(s) {
            if field == "ntlmssp.auth.lmresponse" && o.len() != 48 {
                // No LM response: Wireshark shows its empty security buffer's fields.
                assert_eq!(o, s, "{name}: {field}");
                continue;
            }
            let keep = if field == "spnego.mechListMIC" {
                signature_from(o)
            } else if field == "ntlmssp.auth.ntresponse" && o.len() > 48 {
                // An NTLMv2 response: its NTProofStr is checked above, the blob stays.
                assert!(s[..32].bytes().all(|b| b == b'0'), "{name}: {s}");
                assert_eq!(o[32..], s[32..], "{name}: the NTLMv2 blob");
                continue;
            } else {
                0
            };
            assert_eq!(o[..keep], s[..keep], "{name}: {field}");
            assert!(
                s[keep..].bytes().all(|b| b == b'0'),
                "{name}: {field} {s} is not zeroed"
            );
            // An LMv2 response (MS-NLMP 2.2.2.4) ends with the client challenge, which the
            // NTLMv2 blob carries too: the slice masks it here, but it is no secret.
            let secret = if field == "ntlmssp.auth.lmresponse" {
                unhex(&o[..32])
            } else {
                unhex(&o[keep..])
            };
            if secret.iter().any(|&b| b != 0) {
                secrets.push(secret);
            }
        }
    }
    secrets
}

/// No 8 bytes of any secret are left in any data source tshark shows of the slice.
fn none_survives(name: &str, slice: &Path, secrets: &[Vec<u8>]) {
    let mut sources = dumps(slice);
    sources.push(std::fs::read(slice).unwrap());
    for s in secrets {
        for w in s.windows(8.min(s.len())) {
            assert!(
                !sources.iter().any(|d| d.windows(w.len()).any(|x| x == w)),
                "{name}: {} of a secret is in the slice",
                String::from_utf8_lossy(w)
            );
        }
    }
}

#[test]
fn wireshark_dissects_every_ntlm_spnego_and_kerberos_message_of_the_slice() {
    if !full() {
        return;
    }
    need_tshark();
    let dir = tempfile::tempdir().unwrap();
    for (name, must) in [
        ("ntlm-success.pcap", "ntlmssp.messagetype"),
        ("ntlm-wrong-password.pcap", "ntlmssp.messagetype"),
        ("ntlm-success-curl.pcap", "ntlmssp.messagetype"),
        ("proxy-ntlm-success.pcap", "ntlmssp.messagetype"),
        ("negotiate-ntlm-success.pcap", "ntlmssp.messagetype"),
        (
            "kerberos-unknown-spn-ntlm-fallback.pcap",
            "ntlmssp.messagetype",
        ),
        ("kerberos-success.pcap", "kerberos.msg_type"),
        ("kerberos-wrong-key.pcap", "kerberos.msg_type"),
        ("kerberos-authz-denied.pcap", "kerberos.msg_type"),
        ("kerberos-badkeyver.pcap", "kerberos.msg_type"),
    ] {
        let c = capture(name);
        let slice = slice_of(&c, dir.path());
        let messages = values(&slice, must);
        let secrets = binary_secrets(name, &c, &slice);
        // Each capture has a message with a secret: a Type 3 or an AP-REQ.
        let (with_secret, kind) = if must.starts_with("ntlmssp") {
            ("0x00000003", "NTLM Type 3")
        } else {
            ("14", "AP-REQ")
        };
        assert!(
            messages.iter().any(|m| m == with_secret),
            "{name}: no {kind}"
        );
        assert!(!secrets.is_empty(), "{name}: no secret to look for");
        none_survives(name, &slice, &secrets);
        // The user's name is readable.
        if must.starts_with("ntlmssp") {
            let users = values(&slice, "ntlmssp.auth.username");
            assert!(
                !users.is_empty() && users.iter().all(|u| u == "alice" || u == "carol"),
                "{name}: {users:?}"
            );
        } else {
            assert!(values(&slice, "kerberos.SNameString").contains(&"HTTP".to_owned()));
        }
    }
}

#[test]
fn wireshark_reads_starred_passwords_responses_and_signatures_in_the_slice() {
    if !full() {
        return;
    }
    need_tshark();
    let dir = tempfile::tempdir().unwrap();
    let stars = |s: &str| "*".repeat(s.len());
    // Basic (RFC 7617): the user stays, the password is starred.
    for (name, password) in [
        ("basic-success.pcap", "Summer2024!"),
        ("basic-wrong-password.pcap", "Winter2023"),
    ] {
        let c = capture(name);
        let slice = slice_of(&c, dir.path());
        assert_eq!(values(&c, "http.authbasic"), [format!("alice:{password}")]);
        assert_eq!(
            values(&slice, "http.authbasic"),
            [format!("alice:{}", stars(password))]
        );
        none_survives(name, &slice, &[password.as_bytes().to_vec()]);
    }
    // Digest (RFC 7616 3.4, 3.5): the response and rspauth hashes are starred, the rest stays.
    let c = capture("digest-success.pcap");
    let slice = slice_of(&c, dir.path());
    let (o, s) = (
        values(&c, "http.authorization"),
        values(&slice, "http.authorization"),
    );
    let o = o.join(",");
    let response = o
        .split("response=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(response.len(), 32);
    assert_eq!(s.join(","), o.replace(response, &stars(response)));
    let raw = String::from_utf8_lossy(&std::fs::read(&c).unwrap()).into_owned();
    let rspauth = raw
        .split("rspauth=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let sliced = String::from_utf8_lossy(&std::fs::read(&slice).unwrap()).into_owned();
    assert!(sliced.contains(&format!(
        "Authentication-Info: rspauth=\"{}\"",
        stars(rspauth)
    )));
    none_survives(
        "digest-success.pcap",
        &slice,
        &[response.as_bytes().to_vec(), rspauth.as_bytes().to_vec()],
    );
    // Bearer (RFC 6750) and a JWT with no scheme: header and claims stay, the signature is
    // starred.
    let c = capture("bearer-bare-jwt.pcap");
    let slice = slice_of(&c, dir.path());
    let (o, s) = (
        values(&c, "http.authorization"),
        values(&slice, "http.authorization"),
    );
    assert_eq!(o.len(), 2);
    assert_eq!(o.len(), s.len());
    let mut signatures = Vec::new();
    for (o, s) in o.iter().zip(&s) {
        let (head, sig) = o.rsplit_once('.').unwrap();
        assert_eq!(*s, format!("{head}.{}", stars(sig)));
        signatures.push(sig.as_bytes().to_vec());
    }
    none_survives("bearer-bare-jwt.pcap", &slice, &signatures);
}
