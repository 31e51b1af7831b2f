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
    // Warnings are on standard error, each on its own line.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().any(|l| l.starts_with("authscope: warning: ")
            && l.contains("Cargo.toml: not a pcap or pcapng file (unrecognised header) (skipped)")),
        "{err}"
    );
    assert!(err.contains("/nonexistent/file.pcap: cannot open"), "{err}");
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("handshakes:"), "{text}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("authscope: warning: ") && l.contains("truncated")),
        "{err}"
    );
    assert!(!text.contains("truncated"), "{text}");
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

/// A directory with no file in it gives nothing to read: one line that says so, exit 2.
#[test]
fn an_empty_directory_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("report")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("a directory with no files in it"), "{err}");
}

/// `decode` refuses what it cannot read with one line and exit 1, and reads each error and
/// each claim once.
#[test]
fn decode_refuses_what_it_cannot_read_and_says_each_thing_once() {
    let decode = |args: &[&str]| {
        Command::new(bin())
            .arg("decode")
            .args(args)
            .output()
            .unwrap()
    };
    for (value, says) in [
        ("", "an empty value"),
        ("   ", "an empty value"),
        ("Basic %%%", "neither token68 nor auth-param"),
    ] {
        let out = decode(&[value]);
        assert_eq!(out.status.code(), Some(1), "{value:?}");
        assert!(out.stdout.is_empty(), "{value:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("authscope: decode: value 1: ") && err.contains(says),
            "{err}"
        );
    }
    // A malformed token is still shown with what was read; its error reads once.
    let out = decode(&["NTLM TlRMTVNTUAADAAAA"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error: truncated (field LmChallengeResponseFields, offset 12)"),
        "{text}"
    );
    assert!(!text.contains("kind:"), "{text}");
    // A JWT's claims once, under `claims`.
    let jwt = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0.c2ln";
    let out = decode(&[jwt]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("sub: alice").count(), 1, "{text}");
    assert_eq!(text.matches("alg: HS256").count(), 1, "{text}");
}

/// One meaning per option name: `--bpf` (`-f`) is the capture filter, `--where` the
/// handshake language; `--filter` is neither.
#[test]
fn the_two_filters_have_their_own_names() {
    let capture = root().join("captures/ntlm-success.pcap");
    let out = Command::new(bin())
        .args([
            "export",
            "-o",
            "-",
            "--where",
            "user:alice",
            "--format",
            "csv",
        ])
        .arg(&capture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice"));
    for args in [
        vec!["export", "-o", "-", "--filter", "user:alice"],
        vec!["report", "--filter", "tcp"],
        vec!["report", "--bpf", "tcp"],
    ] {
        let out = Command::new(bin())
            .args(&args)
            .arg(&capture)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Completion scripts that their shell reads, and a manual page per command.
#[test]
fn completions_and_manual_pages() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("export") && script.contains("keylog"),
            "{shell}"
        );
    }
    let bash = Command::new(bin())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let check = Command::new("bash")
        .args(["-n", "-c", &String::from_utf8_lossy(&bash.stdout)])
        .status()
        .unwrap();
    assert!(check.success());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("man")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for page in [
        "authscope",
        "authscope-report",
        "authscope-export",
        "authscope-decode",
    ] {
        let roff = std::fs::read_to_string(dir.path().join(format!("{page}.1"))).unwrap();
        assert!(roff.contains(".TH"), "{page}");
    }
    let export = std::fs::read_to_string(dir.path().join("authscope-export.1")).unwrap();
    assert!(export.contains("where"), "{export}");
}
