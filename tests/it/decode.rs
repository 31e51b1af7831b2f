//! `authscope decode` on header values copied from the captures: it must print the user,
//! domain, workstation and flags that tshark shows for the same packet (the tshark fields
//! are in tests/fixtures/auth/tshark-http-auth.tsv, refreshed by
//! scripts/refresh-auth-fixtures.sh).

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use super::util::{bin, root};

struct Row {
    at: String,
    /// `Header-Name: value`, as a person copies it from developer tools.
    pasted: String,
    cols: std::collections::HashMap<String, String>,
}

impl Row {
    fn col(&self, c: &str) -> &str {
        self.cols.get(c).map_or("", String::as_str)
    }
}

/// Frames with one NTLM or Negotiate token that tshark decoded.
fn token_rows() -> Vec<Row> {
    let tsv =
        std::fs::read_to_string(root().join("tests/fixtures/auth/tshark-http-auth.tsv")).unwrap();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let mut out = Vec::new();
    for l in lines {
        let cols: std::collections::HashMap<String, String> = header
            .iter()
            .zip(l.split('\t'))
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        let at = format!("{} frame {}", cols["file"], cols["frame"]);
        let pasted = [
            ("http.www_authenticate", "WWW-Authenticate"),
            ("http.authorization", "Authorization"),
            ("http.proxy_authenticate", "Proxy-Authenticate"),
            ("http.proxy_authorization", "Proxy-Authorization"),
        ]
        .iter()
        .flat_map(|(c, name)| cols[*c].split('|').map(move |v| (name, v)))
        .find(|(_, v)| v.starts_with("NTLM ") || v.starts_with("Negotiate "))
        .map(|(name, v)| format!("{name}: {v}"));
        let decoded = !cols["ntlmssp.messagetype"].is_empty()
            || !cols["kerberos.msg_type"].is_empty()
            || !cols["spnego.negResult"].is_empty();
        if let (Some(pasted), true) = (pasted, decoded) {
            out.push(Row { at, pasted, cols });
        }
    }
    out
}

fn decode(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin())
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// tshark shows an empty NTLM string as `NULL`; the tree shows it as `""`.
fn shown(tshark: &str) -> &str {
    if tshark.is_empty() || tshark == "NULL" {
        "\"\""
    } else {
        tshark
    }
}

#[test]
fn decode_prints_what_tshark_shows_for_every_captured_token() {
    // The lab proxy's CHALLENGE with an out-of-range TargetName offset is checked below.
    let rows: Vec<Row> = token_rows()
        .into_iter()
        .filter(|r| r.at != "proxy-ntlm-success.pcap frame 6")
        .collect();
    assert!(rows.len() >= 100, "{} rows", rows.len());
    let stdin: String = rows.iter().map(|r| format!("{}\n", r.pasted)).collect();
    let out = decode(&["-"], &stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let blocks: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(blocks.len(), rows.len());
    let mut checked = 0;
    for (r, b) in rows.iter().zip(&blocks) {
        let has = |line: String| {
            assert!(
                b.lines().any(|l| l.trim_start() == line),
                "{}: no line {line:?} in\n{b}",
                r.at
            )
        };
        match r.col("ntlmssp.messagetype") {
            "" => {}
            t => {
                let flags = u32::from_str_radix(
                    r.col("ntlmssp.negotiateflags").trim_start_matches("0x"),
                    16,
                )
                .unwrap();
                has(format!("flags: 0x{flags:08x}"));
                // Every set flag by name, one per line under the value.
                let names = b
                    .lines()
                    .skip_while(|l| !l.trim_start().starts_with("flags: 0x"))
                    .skip(1)
                    .take_while(|l| {
                        let n = l.trim_start();
                        n.starts_with("NTLMSSP_") || n.starts_with("NTLM_") || n.starts_with('r')
                    })
                    .count();
                assert_eq!(names, flags.count_ones() as usize, "{}:\n{b}", r.at);
                match t {
                    "0x00000003" => {
                        has(format!("user: {}", shown(r.col("ntlmssp.auth.username"))));
                        has(format!("domain: {}", shown(r.col("ntlmssp.auth.domain"))));
                        has(format!(
                            "workstation: {}",
                            shown(r.col("ntlmssp.auth.hostname"))
                        ));
                    }
                    "0x00000002" => has(format!(
                        "server_challenge: {}",
                        r.col("ntlmssp.ntlmserverchallenge")
                    )),
                    _ => {
                        for (c, name) in [
                            ("ntlmssp.negotiate.domain", "domain"),
                            ("ntlmssp.negotiate.callingworkstation", "workstation"),
                        ] {
                            if !matches!(r.col(c), "" | "NULL") {
                                has(format!("{name}: {}", r.col(c)));
                            }
                        }
                    }
                }
                checked += 1;
            }
        }
        match r.col("kerberos.msg_type") {
            "14" => {
                has(format!("realm: {}", r.col("kerberos.realm")));
                has(format!(
                    "spn: {}",
                    r.col("kerberos.SNameString").replace('|', "/")
                ));
                checked += 1;
            }
            "30" => {
                let code = r.col("kerberos.error_code");
                assert!(
                    b.lines().any(|l| l.trim_start().starts_with("error_code: ")
                        && l.ends_with(&format!("({code})"))),
                    "{}: no error code {code} in\n{b}",
                    r.at
                );
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked >= 90, "only {checked} tokens checked");
}

#[test]
fn every_pasted_form_and_json() {
    let t3 = "TlRMTVNTUAADAAAAGAAYAHgAAAAYABgAkAAAABQAFABIAAAACgAKAFwAAAASABIAZgAAAAAAAACoAAAABYKIogUBKAoAAAAPMQAwAC4AMAAuADEALgAxADAAMQBTAHUAcwBhAG4AWABQAC0AQwBMAEkARQBOAFQA/b4gddkhShUAAAAAAAAAAAAAAAAAAAAA9CknGD9s3ORUM/9oZt0au2twPslrjk6M";
    // http-negotiate-rawntlm-iis.pcap frame 12 (tshark: Susan, 10.0.1.101, XP-CLIENT).
    for pasted in [
        format!("NTLM {t3}"),
        format!("Negotiate {t3}"),
        format!("Authorization: NTLM {t3}"),
        t3.to_string(),
    ] {
        let out = decode(&[&pasted], "");
        assert_eq!(out.status.code(), Some(0), "{pasted}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("NTLM Type 3 NTLMv1-ESS 10.0.1.101\\Susan from XP-CLIENT"),
            "{text}"
        );
        assert!(text.contains("response: <redacted 24 bytes>"), "{text}");
    }
    let out = decode(&["--format", "json", &format!("NTLM {t3}")], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"][0]["token"]["user"], "Susan");
    assert_eq!(v["items"][0]["token"]["flags"]["value"], "0xa2888205");
    let out = decode(&["--reveal-secrets", &format!("NTLM {t3}")], "");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("response: f429271"), "{text}");
    // Several challenges in one header, several lines on stdin.
    let out = decode(
        &["-"],
        "WWW-Authenticate: Negotiate, NTLM, Basic realm=\"x\"\nAuthorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\n",
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("WWW-Authenticate: 3 challenges"), "{text}");
    assert!(text.contains("user: Aladdin"), "{text}");
    assert!(!text.contains("open sesame"), "{text}");
}

#[test]
fn unreadable_values_exit_1_and_no_value_exits_2() {
    // The lab proxy's CHALLENGE whose TargetName offset lies outside the message.
    let row = token_rows()
        .into_iter()
        .find(|r| r.at == "proxy-ntlm-success.pcap frame 6")
        .unwrap();
    let out = decode(&[&row.pasted], "");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("malformed:") && text.contains("TargetName"),
        "{text}"
    );
    let out = decode(&["-"], "\n \n");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim(), "authscope: no value to decode");
}
