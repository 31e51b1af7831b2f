//! Every output face (the report in each format and variant, the export in each format), on
//! every capture, is the same byte for byte as when `tests/outputs.sha256` was written: each
//! output's SHA-256 is compared with the file's line `<sha256>  <face>  <capture>`, with 1
//! and 2 threads alike. The lab's captures always; the public
//! corpus too under `AUTHSCOPE_FULL_TESTS=1` (its lines are kept, unchecked, otherwise).
//!
//! To accept a change on purpose: `AUTHSCOPE_BLESS=1 cargo test --test it outputs` rewrites
//! the lines of the captures it ran (add `AUTHSCOPE_FULL_TESTS=1` for the public ones too).
//!
//! Captures are given as paths relative to the repository root (`captures/x.pcap`,
//! `../shared/captures/public/y.pcap`), and the tests run there, so the paths that the JSON,
//! Markdown and HTML outputs name are the same in every clone. Nothing else in an output
//! depends on the run (checked by running twice and from another clone's path).
//!
//! The terminal UI has no output face of its own: its `e` export calls
//! [`authscope::export::to_path`], that is the export writers covered here (`src/ui/mod.rs`,
//! `Exporter::start`); its screens are covered by `tests/it/ui.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use authscope::export;
use authscope::pipeline::Plan;
use authscope::report::{self, ExchangeFilter};

use super::util::{bin, captures_in, full, public_captures, public_corpus, root, stdout_of};

/// The committed digests, relative to the repository root.
const DIGESTS: &str = "tests/outputs.sha256";

/// An output face: a name for the digest file, the thread counts it runs with (each must
/// give the same bytes), and how to make it from one capture with a number of threads.
struct Face {
    name: &'static str,
    threads: &'static [usize],
    run: fn(&Path, usize) -> Vec<u8>,
}

/// Every face runs with each of these thread counts.
const THREADS: &[usize] = &[1, 2];

/// Every face. To add one: a row here, then bless.
const FACES: &[Face] = &[
    // The report with its defaults: only the exchanges with authentication, only the
    // handshakes worth a block.
    Face {
        name: "report-text",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Text, Variant::Defaults, t),
    },
    Face {
        name: "report-json",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Json, Variant::Defaults, t),
    },
    Face {
        name: "report-ndjson",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Ndjson, Variant::Defaults, t),
    },
    Face {
        name: "report-ecs",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Ecs, Variant::Defaults, t),
    },
    Face {
        name: "report-zeek",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Zeek, Variant::Defaults, t),
    },
    // The most output: every exchange, every handshake.
    Face {
        name: "report-text-all",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Text, Variant::All, t),
    },
    Face {
        name: "report-json-all",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Json, Variant::All, t),
    },
    Face {
        name: "report-ndjson-all",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Ndjson, Variant::All, t),
    },
    // Colours, as on a terminal; secrets shown, as with `--reveal-secrets`.
    Face {
        name: "report-text-all-color",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Text, Variant::Color, t),
    },
    Face {
        name: "report-json-all-revealed",
        threads: THREADS,
        run: |p, t| report(p, report::Format::Json, Variant::Revealed, t),
    },
    // Every export format (`export::Format::ALL`, checked below), secrets redacted.
    Face {
        name: "export-json",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Json, false, t),
    },
    Face {
        name: "export-ndjson",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Ndjson, false, t),
    },
    Face {
        name: "export-csv",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Csv, false, t),
    },
    Face {
        name: "export-mermaid",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Mermaid, false, t),
    },
    Face {
        name: "export-html",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Html, false, t),
    },
    Face {
        name: "export-ecs",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Ecs, false, t),
    },
    Face {
        name: "export-zeek",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Zeek, false, t),
    },
    Face {
        name: "export-pcapng",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Pcapng, false, t),
    },
    // Secrets revealed: the pcapng slice unmasked, the JSON with the decoded secrets.
    Face {
        name: "export-json-revealed",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Json, true, t),
    },
    Face {
        name: "export-pcapng-revealed",
        threads: THREADS,
        run: |p, t| export(p, export::Format::Pcapng, true, t),
    },
    // The command line, as `src/main.rs` drives the faces (its options, its standard output,
    // a file renamed into place, which the UI's export writes too): the same bytes as the
    // library's rows of the same options.
    Face {
        name: "cli-report-text",
        threads: THREADS,
        run: |p, t| cli(p, &["report", "--threads", &t.to_string()]),
    },
    Face {
        name: "cli-report-json-all",
        threads: THREADS,
        run: |p, t| {
            let threads = t.to_string();
            let args = ["report", "--format", "json", "--exchanges", "all"];
            cli(
                p,
                &[&args[..], &["--all-handshakes", "--threads", &threads]].concat(),
            )
        },
    },
    Face {
        name: "cli-export-json-to-file",
        threads: THREADS,
        run: |p, t| cli_export_to_file(p, "json", t),
    },
    Face {
        name: "cli-export-html-to-file",
        threads: THREADS,
        run: |p, t| cli_export_to_file(p, "html", t),
    },
];

/// The report's option sets.
#[derive(Clone, Copy)]
enum Variant {
    /// `Options::default()`: what `authscope report FILE` gives (off a terminal).
    Defaults,
    /// `--exchanges all --all-handshakes`.
    All,
    /// [`Variant::All`], coloured.
    Color,
    /// [`Variant::All`] with `--reveal-secrets`.
    Revealed,
}

fn report(path: &Path, format: report::Format, variant: Variant, threads: usize) -> Vec<u8> {
    let defaults = report::Options {
        format,
        plan: Plan::threads(threads),
        key_logs: Vec::new(),
        ..report::Options::default()
    };
    let all = report::Options {
        exchanges: ExchangeFilter::All,
        all_handshakes: true,
        ..defaults.clone()
    };
    let opts = match variant {
        Variant::Defaults => defaults,
        Variant::All => all,
        Variant::Color => report::Options { color: true, ..all },
        Variant::Revealed => report::Options {
            reveal_secrets: true,
            ..all
        },
    };
    let mut out = Vec::new();
    report::run(&[path.to_owned()], &opts, &mut out)
        .unwrap_or_else(|e| panic!("report of {}: {e}", path.display()));
    out
}

fn export(path: &Path, format: export::Format, reveal_secrets: bool, threads: usize) -> Vec<u8> {
    let opts = export::Options {
        format,
        reveal_secrets,
        config: Default::default(),
        selection: export::Selection::default(),
        merge: false,
        plan: Plan::threads(threads),
        key_logs: Vec::new(),
        server_logs: Default::default(),
    };
    let mut out = Vec::new();
    export::run(&[path.to_owned()], &opts, &mut out)
        .unwrap_or_else(|e| panic!("export {} of {}: {e}", format.name(), path.display()));
    out
}

/// `authscope ARGS CAPTURE`'s standard output (a pipe).
fn cli(path: &Path, args: &[&str]) -> Vec<u8> {
    let path = path.to_str().unwrap();
    stdout_of(&[args, &[path]].concat())
}

/// `authscope export CAPTURE --format FORMAT -o FILE`'s file.
fn cli_export_to_file(path: &Path, format: &str, threads: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("out.{format}"));
    let o = std::process::Command::new(bin())
        .arg("export")
        .arg(path)
        .args(["--threads", &threads.to_string(), "--format", format, "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "export {format} of {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(&file).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `path` relative to the repository root, as the outputs will name it.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(root())
        .unwrap_or_else(|_| panic!("{} is not under {}", path.display(), root().display()))
        .to_owned()
}

/// The digest file's lines: (face, capture) -> digest.
type Digests = BTreeMap<(String, String), String>;

fn parse(text: &str) -> Digests {
    let mut digests = Digests::new();
    for (n, line) in text.lines().enumerate() {
        let mut parts = line.splitn(3, "  ");
        let (Some(digest), Some(face), Some(capture)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("{DIGESTS}:{}: not `<sha256>  <face>  <capture>`", n + 1);
        };
        let old = digests.insert((face.to_owned(), capture.to_owned()), digest.to_owned());
        assert!(old.is_none(), "{DIGESTS}:{}: a second line", n + 1);
    }
    digests
}

/// One line per output, sorted by face then capture (so a changed digest stays in its place).
fn format(digests: &Digests) -> String {
    digests
        .iter()
        .map(|((face, capture), digest)| format!("{digest}  {face}  {capture}\n"))
        .collect()
}

/// Every face on `captures` (relative paths), on as many threads as the machine has: the
/// digests, each with the thread count that gave it.
fn digests_of(captures: &[PathBuf]) -> Vec<(&'static str, String, usize, String)> {
    let jobs: Vec<(&Face, &PathBuf)> = captures
        .iter()
        .flat_map(|c| FACES.iter().map(move |f| (f, c)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut got: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut got = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((face, capture)) = jobs.get(i) else {
                            return got;
                        };
                        let name = capture.display().to_string();
                        for &threads in face.threads {
                            let digest = sha256(&(face.run)(capture, threads));
                            got.push((face.name, name.clone(), threads, digest));
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    got.sort();
    got
}

#[test]
fn every_export_format_has_a_face() {
    let names: BTreeSet<&str> = FACES.iter().map(|f| f.name).collect();
    assert_eq!(names.len(), FACES.len(), "two faces of one name");
    for (_, format) in export::Format::ALL {
        let face = format!("export-{format}");
        assert!(names.contains(face.as_str()), "no face {face}");
    }
}

#[test]
fn every_output_matches_its_committed_digest() {
    // The outputs name the captures by the paths given, relative to the root: run from there
    // (as `cargo test` does).
    assert_eq!(
        std::env::current_dir().unwrap().canonicalize().unwrap(),
        root().canonicalize().unwrap(),
        "run from the repository root"
    );
    let bless = std::env::var("AUTHSCOPE_BLESS").is_ok_and(|v| v == "1");
    // The folders run, each as its captures' relative paths start.
    let mut dirs = vec![relative(&root().join("captures"))];
    let mut captures = captures_in(&root().join("captures"));
    assert!(!captures.is_empty(), "no captures in captures/");
    if full() {
        dirs.push(relative(&public_corpus()));
        captures.extend(public_captures());
    }
    let captures: Vec<PathBuf> = captures.iter().map(|c| relative(c)).collect();
    let ran = |capture: &str| dirs.iter().any(|d| Path::new(capture).parent() == Some(d));

    let file = root().join(DIGESTS);
    let committed = parse(&std::fs::read_to_string(&file).unwrap_or_default());
    let got = digests_of(&captures);

    let mut wrong = Vec::new();
    // The digest of each output, from its first thread count; a second must agree.
    let mut fresh = Digests::new();
    for (face, capture, threads, digest) in &got {
        let key = ((*face).to_owned(), capture.clone());
        match fresh.get(&key) {
            Some(first) if first != digest => wrong.push(format!(
                "{face}  {capture}  threads {threads}: {digest}, not the {first} of fewer threads"
            )),
            Some(_) => {}
            None => {
                fresh.insert(key.clone(), digest.clone());
            }
        }
        if bless {
            continue;
        }
        match committed.get(&key) {
            None => wrong.push(format!("{face}  {capture}  threads {threads}: no line")),
            Some(want) if want != digest => wrong.push(format!(
                "{face}  {capture}  threads {threads}: {digest}, not {want}"
            )),
            Some(_) => {}
        }
    }
    if bless {
        let mut lines: Digests = committed
            .into_iter()
            .filter(|((_, capture), _)| !ran(capture))
            .collect();
        lines.extend(fresh);
        std::fs::write(&file, format(&lines)).unwrap();
    } else {
        // Lines of a folder that ran, for a face or a capture that is no more.
        wrong.extend(
            committed
                .keys()
                .filter(|(face, capture)| {
                    ran(capture) && !fresh.contains_key(&(face.clone(), capture.clone()))
                })
                .map(|(face, capture)| format!("{face}  {capture}: a line for no output")),
        );
    }
    // Blessing takes the digests of the fewest threads, but does not make more threads agree.
    let why = if bless {
        "more threads give other bytes than fewer: a bug, which blessing does not hide"
    } else {
        "AUTHSCOPE_BLESS=1 rewrites the file if the change is meant"
    };
    assert!(
        wrong.is_empty(),
        "{} mismatches over {} outputs and {DIGESTS} ({why}):\n{}",
        wrong.len(),
        got.len(),
        wrong.join("\n")
    );
}
