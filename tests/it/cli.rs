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
fn an_unusable_file_among_several_is_skipped_with_a_warning() {
    let good = root().join("captures/ntlm-success.pcap");
    let not_a_capture = root().join("Cargo.toml");
    let alone = Command::new(bin())
        .args(["report", good.to_str().unwrap()])
        .output()
        .unwrap();
    let out = Command::new(bin())
        .args([
            "report",
            not_a_capture.to_str().unwrap(),
            good.to_str().unwrap(),
            "/nonexistent/file.pcap",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Cargo.toml: not a pcap or pcapng file (unrecognised header) (skipped)"),
        "{text}"
    );
    assert!(
        text.contains("/nonexistent/file.pcap: cannot open"),
        "{text}"
    );
    // What could be read is analysed as if it had been given alone.
    let alone = String::from_utf8_lossy(&alone.stdout);
    let findings = |t: &str| {
        t.lines()
            .filter(|l| l.contains("handshake"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(findings(&text), findings(&alone));

    let out = Command::new(bin())
        .args([
            "report",
            "--format",
            "json",
            not_a_capture.to_str().unwrap(),
            good.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = v["summary"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("Cargo.toml")
                && w.as_str().unwrap().contains("skipped")),
        "{warnings:?}"
    );
}

#[test]
fn errors_name_their_cause_once() {
    let out = Command::new(bin())
        .args(["report", "/nonexistent/file.pcap"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[cfg(unix)]
#[test]
fn export_to_a_device_writes_to_it_and_leaves_it_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let capture = root().join("captures/ntlm-success.pcap");
    let out = Command::new(bin())
        .args(["export", "--format", "json", "-o", "/dev/null"])
        .arg(&capture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let kind = std::fs::metadata("/dev/null").unwrap().file_type();
    assert!(kind.is_char_device(), "/dev/null is still a device");
    if std::path::Path::new("/dev/full").exists() {
        let out = Command::new(bin())
            .args(["export", "--format", "csv", "-o", "/dev/full"])
            .arg(&capture)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No space left"), "{err}");
        let kind = std::fs::metadata("/dev/full").unwrap().file_type();
        assert!(kind.is_char_device(), "/dev/full is still a device");
    }
    // A symbolic link is written through, not replaced.
    let dir = tempfile::tempdir().unwrap();
    let (link, target) = (dir.path().join("link.csv"), dir.path().join("target.csv"));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = Command::new(bin())
        .args(["export", "--format", "csv", "-o"])
        .arg(&link)
        .arg(&capture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(std::fs::read_to_string(&target).unwrap().contains("alice"));
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

/// Without the `live` feature the live commands exist and say how to get them (exit 2).
#[cfg(not(feature = "live"))]
#[test]
fn live_commands_without_the_feature_say_how_to_build_it() {
    for args in [
        &["interfaces"][..],
        &["report", "-i", "lo"],
        &["live", "-i", "lo"],
    ] {
        let out = Command::new(bin()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--features live"), "{err}");
    }
}

#[test]
fn ndjson_for_files_is_one_object_a_line() {
    let cap = root().join("captures").join("ntlm-success.pcap");
    let out = Command::new(bin())
        .args(["report", "--format", "ndjson"])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["handshake", "summary"]);
    assert_eq!(objects[0]["user"], "alice");
    assert_eq!(objects[1]["summary"]["handshakes"], 1);
}
