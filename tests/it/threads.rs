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
