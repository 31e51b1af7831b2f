//! `--threads` (issue 9): the report is the same byte for byte whatever the number of threads,
//! on every capture: the lab's, the public corpus (under `AUTHSCOPE_FULL_TESTS=1`) and the
//! benchmark capture when `AUTHSCOPE_BENCH_CAPTURE` names one.

use std::path::PathBuf;

use authscope::report::{run, ExchangeFilter, Format, Options};

use super::util::{captures_in, full, public_corpus, root};

fn report(path: &PathBuf, format: Format, threads: usize) -> Vec<u8> {
    let opts = Options {
        format,
        // Every exchange listed: the most output to compare.
        exchanges: ExchangeFilter::All,
        all_handshakes: true,
        threads,
        ..Options::default()
    };
    let mut out = Vec::new();
    run(std::slice::from_ref(path), &opts, &mut out).unwrap();
    out
}

fn same_with_one_and_two_threads(captures: &[PathBuf]) {
    assert!(!captures.is_empty());
    for path in captures {
        for format in [Format::Json, Format::Text, Format::Ndjson] {
            let one = report(path, format, 1);
            let two = report(path, format, 2);
            assert!(!one.is_empty());
            assert!(
                one == two,
                "{}: {format:?} differs between 1 and 2 threads",
                path.display()
            );
        }
    }
}

#[test]
fn lab_captures_give_the_same_report_with_one_and_two_threads() {
    same_with_one_and_two_threads(&captures_in(&root().join("captures")));
}

#[test]
fn public_captures_give_the_same_report_with_one_and_two_threads() {
    if !full() {
        return;
    }
    let captures = captures_in(&public_corpus());
    assert!(
        captures.len() >= 40,
        "the public corpus is missing: {}",
        public_corpus().display()
    );
    same_with_one_and_two_threads(&captures);
}

#[test]
fn the_benchmark_capture_gives_the_same_report_with_one_and_two_threads() {
    let Some(path) = std::env::var_os("AUTHSCOPE_BENCH_CAPTURE").map(PathBuf::from) else {
        assert!(
            !full(),
            "AUTHSCOPE_BENCH_CAPTURE is not set (.ci/run makes the capture)"
        );
        return;
    };
    same_with_one_and_two_threads(&[path]);
}
