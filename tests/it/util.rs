//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when `.ci/run` asked for the tests that need more than Rust (tshark, tmux, the public
/// corpus, ...). Those tests then fail, never skip, when what they need is missing.
pub fn full() -> bool {
    std::env::var("AUTHSCOPE_FULL_TESTS").is_ok_and(|v| v == "1")
}

/// The Python of the lab's venv (pyspnego, requests-ntlm, communityid, chdb), or of
/// `AUTHSCOPE_LAB_VENV`.
pub fn lab_python() -> PathBuf {
    let venv = std::env::var_os("AUTHSCOPE_LAB_VENV")
        .map_or_else(|| PathBuf::from("/opt/authscope-lab/venv"), PathBuf::from);
    venv.join("bin").join("python3")
}

/// Runs `cmd` and returns its standard output; fails the test, with the command's standard
/// error, when it does not start or ends with an error. `what` names it.
pub fn succeeded(cmd: &mut std::process::Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The public capture corpus beside the repository (never copied into it).
pub fn public_corpus() -> PathBuf {
    root()
        .join("..")
        .join("shared")
        .join("captures")
        .join("public")
}

/// The public corpus's captures; fails when the corpus is missing (for tests that run when
/// `.ci/run` asks for the full tests).
pub fn public_captures() -> Vec<PathBuf> {
    let captures = captures_in(&public_corpus());
    assert!(
        captures.len() >= 40,
        "the public corpus is missing: {}",
        public_corpus().display()
    );
    captures
}

/// Capture files in a folder, sorted.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e == "pcap" || e == "pcapng")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// pcapng's Decryption Secrets Block type (pcapng 4.7).
pub const PCAPNG_DSB: u32 = 10;

/// A pcapng file's blocks in order, as (block type, the whole block), each read in the byte
/// order of its section; `None` when `bytes` is no pcapng or a block length is wrong.
pub fn pcapng_blocks(bytes: &[u8]) -> Option<Vec<(u32, &[u8])>> {
    let mut blocks = Vec::new();
    let mut le = true;
    let mut at = 0;
    while at < bytes.len() {
        let head = bytes.get(at..at + 12)?;
        // The Section Header Block's type reads the same in both orders; its magic tells.
        if head[0..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
            le = head[8..12] == [0x4D, 0x3C, 0x2B, 0x1A];
        } else if blocks.is_empty() {
            return None;
        }
        let word = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().unwrap();
            if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let len = word(&head[4..8]) as usize;
        if len < 12 || len % 4 != 0 {
            return None;
        }
        blocks.push((word(&head[0..4]), bytes.get(at..at + len)?));
        at += len;
    }
    Some(blocks)
}

/// The compiled `authscope` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_authscope"))
}

/// One Ethernet + IPv4 + TCP frame (checksums left zero: nothing on the way checks them).
pub fn tcp_frame(
    out: &mut Vec<u8>,
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) {
    out.clear();
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = u16::try_from(40 + payload.len()).unwrap();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    out.extend_from_slice(&src.0);
    out.extend_from_slice(&dst.0);
    out.extend_from_slice(&src.1.to_be_bytes());
    out.extend_from_slice(&dst.1.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ack.to_be_bytes());
    out.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

/// A pcap file (little-endian, microseconds) with `link`.
pub fn pcap(link: u32, recs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65_535u32.to_le_bytes());
    v.extend_from_slice(&link.to_le_bytes());
    for (ts, data) in recs {
        pcap_record(&mut v, *ts, data, data.len() as u32);
    }
    v
}

pub fn pcap_record(v: &mut Vec<u8>, ts: u64, data: &[u8], caplen: u32) {
    v.extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
    v.extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
    v.extend_from_slice(&caplen.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
}

/// `authscope ARGS`'s standard output; fails unless it exits 0 or 1.
pub fn stdout_of(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(bin())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "authscope {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Appends one Ethernet + IPv4 + TCP frame to `recs`, 1 ms after the one before.
pub fn push_tcp(
    recs: &mut Vec<(u64, Vec<u8>)>,
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) {
    let mut f = Vec::new();
    tcp_frame(&mut f, src, dst, seq, ack, flags, payload);
    recs.push((1_700_000_000_000_000 + recs.len() as u64 * 1000, f));
}

/// Every output of the analysis of `pcap`, read with the key log beside it (`X.keylog` for
/// `X.pcap`) when there is one, secrets revealed, on one thread.
pub fn outputs_with_keylog(pcap: &Path, take: &mut dyn FnMut(authscope::pipeline::Output)) {
    use authscope::pipeline::{Config, Plan, Source};
    let keylog = pcap.with_extension("keylog");
    let keys: Vec<PathBuf> = keylog.exists().then_some(keylog).into_iter().collect();
    let src = authscope::capture::MergedSource::open(&[pcap.to_path_buf()])
        .unwrap()
        .with_key_logs(&keys)
        .unwrap();
    authscope::pipeline::run(
        Source::Files(src),
        Config::default().revealing(true),
        Plan::threads(1),
        &mut |o| take(o),
    )
    .unwrap();
}

/// The JSON schema the documents are checked against (schema/authscope-1.schema.json).
pub fn validator() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(root().join("schema").join("authscope-1.schema.json")).unwrap();
    jsonschema::draft202012::new(&serde_json::from_str(&text).unwrap()).unwrap()
}
