//! The pipeline's one rule (DESIGN.md): a stage never imports a later one.

use super::util::root;

/// Stages in pipeline order, then the faces; a module may use only those before it (and
/// itself). `map` (the tables' hash map) and `shown` (text made harmless) serve every stage;
/// `json` (the JSON writer of the report, NDJSON and the UI's spool) serves the faces.
const ORDER: &[&str] = &[
    "map",
    "shown",
    "capture",
    "net",
    "tcp",
    "tls",
    "http",
    "auth",
    "kdc",
    "handshake",
    "diagnose",
    "pipeline",
    "json",
    "present",
    "document",
    "report",
    "filter",
    "export",
    "ui",
];

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
}

#[test]
fn no_stage_imports_a_later_one() {
    let src = root().join("src");
    let mut bad = Vec::new();
    for (i, stage) in ORDER.iter().enumerate() {
        let mut fs = Vec::new();
        let dir = src.join(stage);
        if dir.is_dir() {
            files(&dir, &mut fs);
        }
        let single = src.join(format!("{stage}.rs"));
        if single.is_file() {
            fs.push(single);
        }
        for f in fs {
            let text = std::fs::read_to_string(&f).unwrap();
            for later in &ORDER[i + 1..] {
                let needle = format!("crate::{later}");
                if text.contains(&needle) {
                    bad.push(format!("{} uses {needle}", f.display()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "stage imports a later stage:\n{}",
        bad.join("\n")
    );
}

/// Every module of the library has its place in [`ORDER`] (the binary's `main` and `cli`
/// stand on top of all of them).
#[test]
fn every_module_has_its_place() {
    let src = root().join("src");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let p = e.path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if ["lib", "main", "cli"].contains(&name.as_str()) {
            continue;
        }
        if (p.is_dir() || p.extension().is_some_and(|x| x == "rs"))
            && !ORDER.contains(&name.as_str())
        {
            missing.push(name);
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "not in ORDER: {missing:?}");
}

/// The report is a face of its own: the other faces share what they need with it through the
/// modules below it (`present`, `document`), and only the command line (`main`, `cli`) calls it.
#[test]
fn only_the_command_line_imports_the_report() {
    let src = root().join("src");
    let mut fs = Vec::new();
    files(&src, &mut fs);
    let mut bad = Vec::new();
    for f in fs {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel == "main.rs" || rel == "cli.rs" || rel == "report.rs" || rel.starts_with("report/") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        if text.contains("crate::report") || text.contains("authscope::report") {
            bad.push(rel);
        }
    }
    assert!(bad.is_empty(), "these import the report: {bad:?}");
}

#[test]
fn auth_is_pure() {
    // Stage 5 imports no other stage at all: its parsers stand alone (fuzz targets, `decode`).
    let mut fs = Vec::new();
    files(&root().join("src").join("auth"), &mut fs);
    for f in fs {
        let text = std::fs::read_to_string(&f).unwrap();
        for other in ORDER.iter().filter(|s| **s != "auth") {
            assert!(
                !text.contains(&format!("crate::{other}")),
                "{} imports crate::{other}",
                f.display()
            );
        }
    }
}

/// Lines of code in a source file: not blank, not a comment, not in a top-level
/// `#[cfg(test)] mod` (which ends at the first `}` in column 0).
fn code_lines(text: &str) -> usize {
    let mut n = 0;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.starts_with("mod ")) {
            for l in lines.by_ref() {
                if l == "}" {
                    break;
                }
            }
            continue;
        }
        if !t.is_empty() && !t.starts_with("//") {
            n += 1;
        }
    }
    n
}

/// A file is read whole by whoever changes it: past this many lines of code it does more
/// than one job. Tests apart (`tests.rs` files and test modules).
#[test]
fn no_source_file_is_over_900_lines_of_code() {
    let mut fs = Vec::new();
    files(&root().join("src"), &mut fs);
    let mut big: Vec<String> = fs
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .filter_map(|f| {
            let n = code_lines(&std::fs::read_to_string(f).unwrap());
            (n > 900).then(|| format!("{}: {n}", f.display()))
        })
        .collect();
    big.sort();
    assert!(big.is_empty(), "over 900 lines of code: {big:?}");
    assert_eq!(
        code_lines("fn a() {}\n\n// b\n#[cfg(test)]\nmod tests {\n x\n}\nc\n"),
        2
    );
}
