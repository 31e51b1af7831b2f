//! The pcapng slice of HTTPS handshakes: with `--reveal-secrets` it carries the key log lines
//! of exactly its TLS connections in a Decryption Secrets Block (pcapng 4.7), so that tshark
//! decrypts it alone; without, no key leaves authscope, and stderr says why the slice does
//! not decrypt.
//!
//! The tshark checks run under `AUTHSCOPE_FULL_TESTS=1` and then fail, never skip, when tshark
//! is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::util::{bin, full, pcapng_blocks, root, PCAPNG_DSB};

fn capture(name: &str) -> PathBuf {
    root().join("captures").join(name)
}

/// `authscope export --format pcapng`: the slice's bytes and stderr.
fn slice(input: &Path, out: &Path, extra: &[&str]) -> (Vec<u8>, String) {
    let o = Command::new(bin())
        .arg("export")
        .arg(input)
        .args(["--format", "pcapng", "-o"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "export of {}: {stderr}",
        input.display()
    );
    (std::fs::read(out).unwrap(), stderr)
}

/// The text of every TLS key log Decryption Secrets Block of a pcapng file.
fn dsb_texts(bytes: &[u8]) -> Vec<String> {
    pcapng_blocks(bytes)
        .expect("the slice is pcapng")
        .into_iter()
        .filter(|(kind, _)| *kind == PCAPNG_DSB)
        .map(|(_, block)| {
            let kind = u32::from_le_bytes(block[8..12].try_into().unwrap());
            assert_eq!(kind, 0x544c_534b, "secrets type TLSK");
            let len = u32::from_le_bytes(block[12..16].try_into().unwrap()) as usize;
            String::from_utf8(block[16..16 + len].to_vec()).unwrap()
        })
        .collect()
}

/// The secret lines of a key log (comments and blank lines apart).
fn key_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// Whether any secret of these key log lines is in `bytes`, as hex text or as bytes.
fn holds_a_secret(bytes: &[u8], lines: &[String]) -> bool {
    lines.iter().any(|l| {
        let secret = l.split_whitespace().nth(2).unwrap();
        let text = secret.as_bytes();
        let raw = unhex(secret);
        let has = |needle: &[u8]| {
            bytes
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        };
        has(text) || has(&raw)
    })
}

/// The DSB lines of a pcapng capture of the lab (what `editcap --inject-secrets` put there).
fn input_dsb_lines(pcapng: &Path) -> Vec<String> {
    dsb_texts(&std::fs::read(pcapng).unwrap())
        .iter()
        .flat_map(|t| key_lines(t))
        .collect()
}

#[test]
fn the_slice_carries_its_connections_keys_only_when_revealed() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture("https-ntlm-success.pcap");
    let own = key_lines(&std::fs::read_to_string(capture("https-ntlm-success.keylog")).unwrap());
    // Another capture's keys in the same log: not the slice's, so not in it.
    let other = key_lines(&std::fs::read_to_string(capture("https-basic-success.keylog")).unwrap());
    let both = dir.path().join("both.keylog");
    std::fs::write(&both, format!("{}\n{}\n", other.join("\n"), own.join("\n"))).unwrap();
    let both = both.to_str().unwrap();

    let (bytes, stderr) = slice(
        &pcap,
        &dir.path().join("revealed.pcapng"),
        &["--keylog", both, "--reveal-secrets"],
    );
    let texts = dsb_texts(&bytes);
    assert_eq!(texts.len(), 1, "one Decryption Secrets Block");
    let mut got = key_lines(&texts[0]);
    let mut want = own.clone();
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "every line of the slice's client random, and no other"
    );
    assert!(
        !holds_a_secret(&bytes, &other),
        "another connection's key in the slice"
    );
    // Before every packet, so a one-pass reader has the keys when it needs them.
    let blocks = pcapng_blocks(&bytes).unwrap();
    let dsb = blocks.iter().position(|(k, _)| *k == PCAPNG_DSB).unwrap();
    let first_packet = blocks.iter().position(|(k, _)| *k == 6).unwrap();
    assert!(dsb < first_packet);
    assert!(!stderr.contains("--reveal-secrets"), "{stderr}");

    let (bytes, stderr) = slice(
        &pcap,
        &dir.path().join("masked.pcapng"),
        &["--keylog", both],
    );
    assert!(
        dsb_texts(&bytes).is_empty(),
        "no key without --reveal-secrets"
    );
    assert!(
        !holds_a_secret(&bytes, &own),
        "a key in the slice without --reveal-secrets"
    );
    assert_eq!(
        stderr
            .matches("not decryptable without --reveal-secrets")
            .count(),
        1,
        "said once: {stderr}"
    );

    // Without any key, nothing was decrypted and nothing is left out: no note.
    let (bytes, stderr) = slice(
        &pcap,
        &dir.path().join("nokeys.pcapng"),
        &["--reveal-secrets"],
    );
    assert!(dsb_texts(&bytes).is_empty());
    assert!(!stderr.contains("decryptable"), "{stderr}");
}

#[test]
fn the_slice_of_a_capture_with_secrets_carries_them_on() {
    let dir = tempfile::tempdir().unwrap();
    let pcapng = capture("https-ntlm-success-dsb.pcapng");
    let own = input_dsb_lines(&pcapng);
    assert!(!own.is_empty(), "the lab capture has its secrets");
    let (bytes, _) = slice(
        &pcapng,
        &dir.path().join("revealed.pcapng"),
        &["--reveal-secrets"],
    );
    let texts = dsb_texts(&bytes);
    assert_eq!(texts.len(), 1);
    let mut got = key_lines(&texts[0]);
    let mut want = own.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    let (bytes, stderr) = slice(&pcapng, &dir.path().join("masked.pcapng"), &[]);
    assert!(dsb_texts(&bytes).is_empty());
    assert!(!holds_a_secret(&bytes, &own));
    assert!(
        stderr.contains("not decryptable without --reveal-secrets"),
        "{stderr}"
    );
}

/// tshark's `http.authorization` values of a file, read alone or with a key log.
fn tshark_authorizations(file: &Path, keylog: Option<&Path>) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file);
    if let Some(k) = keylog {
        cmd.arg("-o")
            .arg(format!("tls.keylog_file:{}", k.display()));
    }
    cmd.args([
        "-Y",
        "http.authorization",
        "-T",
        "fields",
        "-e",
        "http.authorization",
    ]);
    let o = cmd
        .output()
        .expect("tshark is needed by AUTHSCOPE_FULL_TESTS=1 (see .ci/run)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn tshark_decrypts_the_revealed_slice_by_itself() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture("https-ntlm-success.pcap");
    let keylog = capture("https-ntlm-success.keylog");
    let want = tshark_authorizations(&pcap, Some(&keylog));
    assert!(
        !want.is_empty(),
        "tshark decrypts the lab capture with its key log"
    );
    let cases = [
        (pcap.clone(), vec!["--keylog", keylog.to_str().unwrap()]),
        (capture("https-ntlm-success-dsb.pcapng"), vec![]),
    ];
    for (input, keys) in cases {
        let revealed = dir.path().join("revealed.pcapng");
        let mut args = keys.clone();
        args.push("--reveal-secrets");
        slice(&input, &revealed, &args);
        assert_eq!(
            tshark_authorizations(&revealed, None),
            want,
            "{}: the revealed slice decrypts alone",
            input.display()
        );
        let masked = dir.path().join("masked.pcapng");
        slice(&input, &masked, &keys);
        assert!(
            tshark_authorizations(&masked, None).is_empty(),
            "{}: the slice without --reveal-secrets decrypts",
            input.display()
        );
    }
}
