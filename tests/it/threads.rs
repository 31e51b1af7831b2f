//! `--threads` (issue 9): the report is the same byte for byte whatever the number of threads
//! (2: one front and the merge; 3 and 4: two and three flow shards), on every capture: the lab's, the public corpus (under `AUTHSCOPE_FULL_TESTS=1`) and the
//! benchmark capture when `AUTHSCOPE_BENCH_CAPTURE` names one.

use std::path::PathBuf;

use authscope::report::{run, ExchangeFilter, Format, Options};

use super::util::{captures_in, full, public_captures, root};

fn report(path: &PathBuf, format: Format, threads: usize) -> Vec<u8> {
    let opts = Options {
        format,
        // Every exchange listed: the most output to compare.
        exchanges: ExchangeFilter::All,
        all_handshakes: true,
        plan: authscope::pipeline::Plan::threads(threads),
        ..Options::default()
    };
    let mut out = Vec::new();
    run(std::slice::from_ref(path), &opts, &mut out).unwrap();
    out
}

fn same_whatever_the_threads(captures: &[PathBuf]) {
    assert!(!captures.is_empty());
    for path in captures {
        for format in [Format::Json, Format::Text, Format::Ndjson] {
            let one = report(path, format, 1);
            assert!(!one.is_empty());
            for threads in [2, 3, 4] {
                let more = report(path, format, threads);
                assert!(
                    one == more,
                    "{}: {format:?} differs between 1 and {threads} threads",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn lab_captures_give_the_same_report_with_one_to_four_threads() {
    same_whatever_the_threads(&captures_in(&root().join("captures")));
}

#[test]
fn public_captures_give_the_same_report_with_one_to_four_threads() {
    if !full() {
        return;
    }
    let captures = public_captures();
    same_whatever_the_threads(&captures);
}

#[test]
fn the_benchmark_capture_gives_the_same_report_with_one_to_four_threads() {
    let Some(path) = std::env::var_os("AUTHSCOPE_BENCH_CAPTURE").map(PathBuf::from) else {
        assert!(
            !full(),
            "AUTHSCOPE_BENCH_CAPTURE is not set (.ci/run makes the capture)"
        );
        return;
    };
    same_whatever_the_threads(&[path]);
}

/// The front and the model apart give the outputs of the whole analyzer, whichever side
/// makes the legs: `report --threads` lets the less busy thread make them, so both must
/// agree on every capture, leg for leg and output for output.
#[test]
fn the_model_gives_the_same_outputs_whichever_side_makes_the_legs() {
    use authscope::capture::MergedSource;
    use authscope::pipeline::{Analyzer, Config, Output};

    let whole = |path: &PathBuf| {
        let mut source = MergedSource::open(std::slice::from_ref(path)).unwrap();
        let mut a = Analyzer::new(Config::default());
        let mut got: Vec<Output> = Vec::new();
        while let Some(f) = source.next_frame() {
            a.push(&f, &mut |o| got.push(o));
        }
        a.finish(&mut |o| got.push(o));
        (got, a.stats())
    };
    // `prepare(n)`: whether the front makes the legs at the n-th frame.
    let parts = |path: &PathBuf, prepare: &dyn Fn(u64) -> bool| {
        let mut source = MergedSource::open(std::slice::from_ref(path)).unwrap();
        let (mut fronts, mut model, _) = Analyzer::new(Config::default()).into_shards(1);
        let mut front = fronts.remove(0);
        let mut events = Vec::new();
        let mut n = 0;
        while let Some(f) = source.next_frame() {
            front.prepare_legs = prepare(n);
            n += 1;
            front.push(&f, &mut |e| events.push(e));
        }
        front.finish(&mut |e| events.push(e));
        let mut got: Vec<Output> = Vec::new();
        for e in events {
            model.apply(e, &mut |o| got.push(o));
        }
        (got, model.stats(front.stats()))
    };
    let mut captures = captures_in(&root().join("captures"));
    assert!(!captures.is_empty());
    captures.extend(std::env::var_os("AUTHSCOPE_BENCH_CAPTURE").map(PathBuf::from));
    let mut handshakes = 0;
    for path in &captures {
        let (want, want_stats) = whole(path);
        handshakes += want
            .iter()
            .filter(|o| matches!(o, Output::Handshake(_)))
            .count();
        let ways: [(&str, &dyn Fn(u64) -> bool); 3] = [
            ("front", &|_| true),
            ("model", &|_| false),
            ("alternating", &|n| n % 2 == 0),
        ];
        for (way, prepare) in ways {
            let (got, stats) = parts(path, prepare);
            assert!(got == want, "{}: legs made by {way}", path.display());
            assert_eq!(stats, want_stats, "{}: legs made by {way}", path.display());
        }
    }
    assert!(
        handshakes >= 20,
        "{handshakes} handshakes: too few to compare"
    );
}

/// The JSON report copies its spooled arrays to the output file in the kernel when it has the
/// file (`Options::direct`, which the CLI sets for standard output): after what a file held
/// already, to a file as standard output, through a pipe and into a buffer, the document is
/// the same.
#[test]
fn the_json_report_reads_the_same_whether_its_spools_are_copied_by_the_kernel_or_not() {
    use std::io::{Read as _, Seek as _, Write as _};
    use std::process::{Command, Stdio};
    let captures = captures_in(&root().join("captures"));
    assert!(!captures.is_empty());
    for path in captures.iter().take(6) {
        for threads in [1, 2] {
            let buffered = report(path, Format::Json, threads);
            // The library, given the file it writes to.
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(b"before ").unwrap();
            let direct = std::sync::Arc::new(file.try_clone().unwrap());
            let opts = Options {
                format: Format::Json,
                exchanges: ExchangeFilter::All,
                all_handshakes: true,
                plan: authscope::pipeline::Plan::threads(threads),
                direct: Some(direct),
                ..Options::default()
            };
            let mut out = std::io::BufWriter::new(file.try_clone().unwrap());
            run(std::slice::from_ref(path), &opts, &mut out).unwrap();
            out.flush().unwrap();
            drop(out);
            let mut got = Vec::new();
            file.rewind().unwrap();
            file.read_to_end(&mut got).unwrap();
            assert_eq!(
                got.strip_prefix(b"before ".as_slice()),
                Some(buffered.as_slice())
            );
            // The command, its standard output a file, then a pipe.
            let args = |c: &mut Command| {
                c.args(["report", "--format", "json", "--exchanges", "all"])
                    .args(["--all-handshakes", "--threads", &threads.to_string()])
                    .arg(path);
            };
            let mut to_file = tempfile::tempfile().unwrap();
            let mut c = Command::new(super::util::bin());
            args(&mut c);
            let status = c
                .stdout(Stdio::from(to_file.try_clone().unwrap()))
                .status()
                .unwrap();
            assert!(status.code().is_some_and(|c| c <= 1), "{}", path.display());
            let mut got = Vec::new();
            to_file.rewind().unwrap();
            to_file.read_to_end(&mut got).unwrap();
            let mut c = Command::new(super::util::bin());
            args(&mut c);
            let piped = c.output().unwrap().stdout;
            assert!(got == piped, "{}: file and pipe differ", path.display());
            assert!(
                got == buffered,
                "{}: the command and the library differ",
                path.display()
            );
        }
    }
}

/// A folder of the lab's captures, each its own capture, with what such folders also hold:
/// the key logs (no captures: skipped), a file that is no capture, one cut short, ones with
/// no frame (first, between and last), and a file with Decryption Secrets Blocks read last.
/// Returns the folder's key logs, to read beside it.
fn lab_folder(dir: &std::path::Path) -> Vec<PathBuf> {
    let captures = root().join("captures");
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(&captures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("pcap" | "pcapng") => {
                std::fs::copy(&path, dir.join(&name)).unwrap();
            }
            Some("keylog") => {
                std::fs::copy(&path, dir.join(&name)).unwrap();
                keys.push(dir.join(&name));
            }
            _ => {}
        }
    }
    keys.sort();
    let whole = std::fs::read(captures.join("ntlm-success.pcap")).unwrap();
    let header = whole.get(..24).unwrap();
    std::fs::write(dir.join("0-no-frame.pcap"), header).unwrap();
    std::fs::write(dir.join("m-no-frame.pcap"), header).unwrap();
    std::fs::write(dir.join("zz-no-frame.pcap"), header).unwrap();
    std::fs::write(dir.join("n-cut-short.pcap"), &whole[..whole.len() * 2 / 3]).unwrap();
    std::fs::write(dir.join("o-no-capture.pcap"), b"not a capture\n").unwrap();
    std::fs::copy(
        captures.join("https-ntlm-success-dsb.pcapng"),
        dir.join("zzz-secrets.pcapng"),
    )
    .unwrap();
    keys
}

/// Every report format and every export of `folder` with `threads`.
fn every_output(folder: &[PathBuf], keys: &[PathBuf], threads: usize) -> Vec<(String, Vec<u8>)> {
    let plan = authscope::pipeline::Plan::threads(threads);
    let mut all = Vec::new();
    for format in [
        Format::Json,
        Format::Text,
        Format::Ndjson,
        Format::Ecs,
        Format::Zeek,
    ] {
        let opts = Options {
            format,
            exchanges: ExchangeFilter::All,
            all_handshakes: true,
            plan,
            key_logs: keys.to_vec(),
            ..Options::default()
        };
        let mut out = Vec::new();
        run(folder, &opts, &mut out).unwrap();
        all.push((format!("report {format:?}"), out));
    }
    for (format, name) in authscope::export::Format::ALL {
        let opts = authscope::export::Options {
            format,
            reveal_secrets: false,
            config: Default::default(),
            selection: Default::default(),
            merge: false,
            plan,
            key_logs: keys.to_vec(),
            server_logs: Default::default(),
        };
        let mut out = Vec::new();
        authscope::export::run(folder, &opts, &mut out).unwrap();
        all.push((format!("export {name}"), undated(out)));
    }
    all.into_iter()
        .map(|(what, out)| (what, undated(out)))
        .collect()
}

/// `out` with the ECS documents about files not read (dated when written: they have no
/// capture time) undated.
fn undated(out: Vec<u8>) -> Vec<u8> {
    if !out.windows(10).any(|w| w == b"\"created\":") {
        return out;
    }
    let mut undated = Vec::with_capacity(out.len());
    for line in out.split_inclusive(|b| *b == b'\n') {
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(mut doc) if doc["event"]["created"].is_string() => {
                let doc = doc.as_object_mut().unwrap();
                doc.remove("@timestamp");
                doc["event"].as_object_mut().unwrap().remove("created");
                serde_json::to_writer(&mut undated, doc).unwrap();
                undated.push(b'\n');
            }
            _ => undated.extend_from_slice(line),
        }
    }
    undated
}

/// A folder of captures, each its own, read by file workers (whole files each, `--threads`
/// 3 and 4) or by one front, gives every report and export of one thread byte for byte, its
/// counters too.
#[test]
fn a_folder_gives_every_output_of_one_thread_with_one_to_four_threads() {
    let dir = tempfile::tempdir().unwrap();
    let keys = lab_folder(dir.path());
    let folder = [dir.path().to_owned()];
    let one = every_output(&folder, &keys, 1);
    let doc: serde_json::Value = serde_json::from_slice(&one[0].1).unwrap();
    let stats = &doc["summary"]["stats"];
    assert!(stats["tls_keys"]["secrets"].as_u64() > Some(0), "{stats}");
    assert!(stats["packets"].as_u64() > Some(1000), "{stats}");
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(
        warnings.contains("n-cut-short.pcap") && warnings.contains("o-no-capture.pcap"),
        "{warnings}"
    );
    for threads in [2, 3, 4] {
        let more = every_output(&folder, &keys, threads);
        for ((what, a), (_, b)) in one.iter().zip(&more) {
            if what == "report Json" {
                let doc: serde_json::Value = serde_json::from_slice(b).unwrap();
                assert_eq!(
                    &doc["summary"]["stats"], stats,
                    "the counters differ with {threads} threads"
                );
            }
            assert!(a == b, "{what} differs between 1 and {threads} threads");
        }
    }
    // Named one by one (the captures the folder holds, in its order), the files are read
    // alike.
    let files: Vec<PathBuf> = authscope::capture::MergedSource::open(&folder)
        .unwrap()
        .files()
        .iter()
        .map(|f| f.path().to_owned())
        .collect();
    let named = every_output(&files, &keys, 1);
    for threads in [3, 4] {
        let got = every_output(&files, &keys, threads);
        assert!(named == got, "the files named, {threads} threads");
    }
}

/// File workers hold at most one file open each; one front one file.
#[test]
fn file_workers_hold_one_file_open_each() {
    use authscope::capture::MergedSource;
    use authscope::pipeline::{Config, Output, Plan, Source};
    let dir = tempfile::tempdir().unwrap();
    lab_folder(dir.path());
    for threads in [1, 2, 3, 4] {
        let source = MergedSource::open(&[dir.path().to_owned()]).unwrap();
        let files = source.files().len();
        assert!(files > 20);
        let mut outputs = 0usize;
        let mut sink = |_: Output| outputs += 1;
        let ran = authscope::pipeline::run(
            Source::Files(source),
            Config::default(),
            Plan::threads(threads),
            &mut sink,
        )
        .unwrap();
        let source = ran.source.files().unwrap();
        let workers = threads.saturating_sub(1).max(1);
        let most = source.most_open_files();
        assert!(
            (1..=workers).contains(&most),
            "{most} files open at once with {threads} threads"
        );
        // Every file was read, by the worker it was dealt to, and is back in its place.
        assert_eq!(source.files().len(), files);
        assert!(source.files().iter().all(|f| f.stats().packets > 0
            || f.path().to_string_lossy().contains("no-frame")
            || f.path().to_string_lossy().contains("no-capture")));
        assert!(outputs > 100);
    }
}

/// A sink that wants no more stops every file worker: the reading ends, told as stopped,
/// without reading the folder to its end.
#[test]
fn a_stopped_sink_stops_the_file_workers() {
    use authscope::capture::MergedSource;
    use authscope::pipeline::{Config, Output, Plan, Sink, Source};
    struct Stop(usize);
    impl Sink for Stop {
        fn output(&mut self, _: Output) {
            self.0 += 1;
        }
        fn stopped(&mut self) -> bool {
            self.0 > 0
        }
    }
    let dir = tempfile::tempdir().unwrap();
    lab_folder(dir.path());
    // Enough captures that the workers cannot read them all ahead of the merge.
    let captures = captures_in(dir.path());
    for round in 0..12 {
        for c in &captures {
            let name = format!("r{round:02}-{}", c.file_name().unwrap().to_string_lossy());
            std::fs::copy(c, dir.path().join(name)).unwrap();
        }
    }
    let source = MergedSource::open(&[dir.path().to_owned()]).unwrap();
    let ran = authscope::pipeline::run(
        Source::Files(source),
        Config::default(),
        Plan::threads(3),
        &mut Stop(0),
    )
    .unwrap();
    assert!(ran.stopped);
    let files = ran.source.files().unwrap().files();
    let unread = files.iter().filter(|f| f.stats().packets == 0).count();
    assert!(
        unread > files.len() / 2,
        "{unread} of {} unread",
        files.len()
    );
}

/// The benchmark capture cut into files (`editcap -c`) gives the same reports with one to
/// four threads: file workers over many large files.
#[test]
fn the_benchmark_capture_cut_into_files_gives_the_same_reports_with_one_to_four_threads() {
    if !full() {
        return;
    }
    let path = std::env::var_os("AUTHSCOPE_BENCH_CAPTURE")
        .map(PathBuf::from)
        .expect("AUTHSCOPE_BENCH_CAPTURE is not set (.ci/run makes the capture)");
    // Into eight files or so, whatever the capture's size.
    let mut source = authscope::capture::MergedSource::open(std::slice::from_ref(&path)).unwrap();
    let mut frames = 0u64;
    while source.next_frame().is_some() {
        frames += 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("editcap")
        .args(["-c", &(frames / 8).max(1).to_string()])
        .arg(&path)
        .arg(dir.path().join("part.pcap"))
        .status()
        .expect("editcap (Wireshark's) is needed for the full tests");
    assert!(status.success());
    assert!(captures_in(dir.path()).len() >= 8);
    let folder = dir.path().to_owned();
    for format in [Format::Json, Format::Ecs] {
        let one = report(&folder, format, 1);
        assert!(one.len() > 10_000, "{format:?}");
        for threads in [2, 3, 4] {
            assert!(
                one == report(&folder, format, threads),
                "{format:?}: {threads} threads differ"
            );
        }
    }
}
