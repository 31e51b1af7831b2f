//! The README keeps its word: it stays short, every command in its `sh` blocks runs as
//! written on the bundled captures, and no Markdown file of the project links outside it (a
//! clone has nothing beside it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::ui::Session;
use super::util::{bin, full, root};

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

#[test]
fn the_readme_stays_short() {
    let n = readme().lines().count();
    assert!(
        n <= 250,
        "README.md has {n} lines: keep it to 250, the rest in docs/"
    );
}

/// The Markdown files of the project (not of its build output or installed packages).
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git" | "corpus") {
                markdown_files(&p, out);
            }
        } else if name.ends_with(".md") {
            out.push(p);
        }
    }
}

/// The targets of the inline links `[text](target)` of a Markdown text.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        let after = rest.get(i.saturating_add(2)..).unwrap_or("");
        let end = after.find(')').unwrap_or(after.len());
        out.push(after.get(..end).unwrap_or("").trim().to_owned());
        rest = after.get(end..).unwrap_or("");
    }
    out
}

#[test]
fn links_stay_inside_the_repository() {
    let root = root().canonicalize().expect("the repository");
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.len() >= 10, "{files:?}");
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for l in links(&text) {
            let path = l.split('#').next().unwrap_or("");
            if l.contains("://") || l.starts_with("mailto:") {
                bad.push(format!("{}: {l} leaves the repository", f.display()));
                continue;
            }
            if path.is_empty() {
                continue;
            }
            let base = f.parent().unwrap_or(&root);
            match base.join(path).canonicalize() {
                Ok(p) if p.starts_with(&root) => {}
                Ok(_) => bad.push(format!("{}: {l} is outside the repository", f.display())),
                Err(_) => bad.push(format!("{}: {l} does not exist", f.display())),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The commands of the README's `sh` blocks, a line each (continuations joined), with
/// comments cut.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let line = match line.find("   #") {
            Some(i) => line.get(..i).unwrap_or(line),
            None => line,
        }
        .trim();
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let cmd = std::mem::take(&mut pending);
        if !cmd.trim().is_empty() {
            out.push(cmd.trim().to_owned());
        }
    }
    out
}

#[test]
fn the_readme_commands_are_read() {
    let cmds = commands(&readme());
    assert!(cmds.len() >= 10, "{cmds:?}");
    assert!(cmds
        .iter()
        .any(|c| c.starts_with("cargo run --release -- report")));
    assert!(cmds.iter().any(|c| c == "cargo test"));
}

/// Each command of the README, as a reader runs it: `authscope` is the binary built, in a
/// folder of its own with the bundled captures beside it and a home of its own.
#[test]
fn every_readme_command_runs() {
    if !full() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let work = dir.path();
    std::os::unix::fs::symlink(root().join("captures"), work.join("captures"))
        .expect("captures linked");
    // A live capture started as root writes its file as the user it became (`nobody` where
    // no sudo user is known), as the reader's own folder would let it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(work, std::fs::Permissions::from_mode(0o777))
        .expect("the folder opened to the dropped user");
    let exe = bin().display().to_string();
    let mut ran = 0;
    for cmd in commands(&readme()) {
        // The set-up block: the binary under test is that build; the tests are this run.
        let cmd = match cmd.strip_prefix("cargo run --release -- ") {
            Some(rest) => format!("authscope {rest}"),
            None => cmd,
        };
        if cmd.starts_with("cargo ") {
            continue;
        }
        let cmd = cmd.strip_prefix("sudo ").unwrap_or(&cmd).to_owned();
        let line = match cmd.strip_prefix("authscope ") {
            Some(rest) => format!("{exe} {rest}"),
            None => cmd.clone(),
        };
        if cmd.starts_with("authscope live ") {
            ui(&line, work, "live lo");
        } else if cmd.starts_with("authscope open ") {
            ui(&line, work, "read in full");
        } else {
            let out = Command::new("sh")
                .arg("-c")
                .arg(&line)
                .current_dir(work)
                .env("HOME", work)
                .output()
                .expect("sh runs");
            assert!(
                out.status.success(),
                "README command failed: {cmd}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} commands ran");
    // What the commands said they would write.
    for f in ["report.json", "loop.html", "failed.pcapng", "login.pcapng"] {
        assert!(work.join(f).is_file(), "{f} was not written");
    }
    let man = work.join(".local/share/man/man1/authscope.1");
    assert!(man.is_file(), "no manual page");
}

/// A command of the terminal UI, in tmux at 80x24: it shows `ready`, and `q` ends it.
fn ui(line: &str, work: &Path, ready: &str) {
    let s = Session(format!("authscope-readme-{}", std::process::id()));
    s.start(80, 24, work, line);
    s.wait("the UI", |t| t.contains(ready));
    s.keys(&["q"]);
    let start = Instant::now();
    while s.alive() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!s.alive(), "q did not end the UI:\n{}", s.screen());
}
