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

/// The public capture corpus beside the repository (never copied into it).
pub fn public_corpus() -> PathBuf {
    root()
        .join("..")
        .join("shared")
        .join("captures")
        .join("public")
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

/// The compiled `authscope` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_authscope"))
}
