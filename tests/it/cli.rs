//! The command line as a user meets it.

use std::process::Command;

use super::util::{bin, public_corpus, root};

#[test]
fn unusable_input_is_one_line_and_exit_2() {
    let out = Command::new(bin())
        .args(["report", "/nonexistent/file.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/file.pcap"), "{err}");

    let not_a_capture = root().join("Cargo.toml");
    let out = Command::new(bin())
        .args(["report", not_a_capture.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a pcap or pcapng"), "{err}");
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(bin()).args(["report"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(bin())
        .args(["report", "--format", "yaml", "x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn empty_file_is_an_error() {
    let dir = std::env::temp_dir().join(format!("authscope-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("empty.pcap");
    std::fs::write(&f, b"").unwrap();
    let out = Command::new(bin()).arg("report").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn truncated_file_still_reports_what_it_could_read() {
    let src = root().join("captures");
    let Some(cap) = super::util::captures_in(&src)
        .into_iter()
        .next()
        .or_else(|| {
            super::util::captures_in(&public_corpus())
                .into_iter()
                .find(|p| p.ends_with("http-plain-get.pcap"))
        })
    else {
        return;
    };
    let bytes = std::fs::read(&cap).unwrap();
    let dir = std::env::temp_dir().join(format!("authscope-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(format!(
        "cut.{}",
        cap.extension().unwrap().to_string_lossy()
    ));
    std::fs::write(&f, &bytes[..bytes.len() - 7]).unwrap();
    let out = Command::new(bin()).arg("report").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("truncated"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}
