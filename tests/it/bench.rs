//! The standard benchmark capture (scripts/make-bench-capture.sh): the handshakes found, by
//! kind, equal what its generator says it did (the `.stats.json` beside the capture), and every
//! handshake it broke or failed on purpose is flagged.
//!
//! `.ci/run` makes a small capture and points `AUTHSCOPE_BENCH_CAPTURE` at it; under
//! `AUTHSCOPE_FULL_TESTS=1` the test fails when the variable is missing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use authscope::report::{run, ExchangeFilter, Format, Options};

use super::util::full;

#[test]
fn benchmark_capture_matches_its_generator() {
    let Some(path) = std::env::var_os("AUTHSCOPE_BENCH_CAPTURE").map(PathBuf::from) else {
        assert!(
            !full(),
            "AUTHSCOPE_BENCH_CAPTURE is not set (.ci/run makes the capture)"
        );
        return;
    };
    let stats_path = PathBuf::from(format!("{}.stats.json", path.display()));
    let stats: BTreeMap<String, u64> =
        serde_json::from_str(&std::fs::read_to_string(&stats_path).unwrap()).unwrap();
    let opts = Options {
        format: Format::Json,
        exchanges: ExchangeFilter::None,
        ..Options::default()
    };
    let mut out = Vec::new();
    let summary = run(&[path], &opts, &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();

    let mut by: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut flagged: BTreeMap<(String, String), u64> = BTreeMap::new();
    for h in doc["handshakes"].as_array().unwrap() {
        let scheme = h["scheme"].as_str().unwrap().to_owned();
        let o = &h["outcome"];
        let outcome = match o.get("how") {
            Some(how) => format!(
                "{}/{}",
                o["result"].as_str().unwrap(),
                how.as_str().unwrap()
            ),
            None => o["result"].as_str().unwrap().to_owned(),
        };
        *by.entry((scheme.clone(), outcome.clone())).or_default() += 1;
        for f in h["findings"].as_array().unwrap() {
            *flagged
                .entry((outcome.clone(), f["code"].as_str().unwrap().to_owned()))
                .or_default() += 1;
        }
    }
    let count = |scheme: &str, outcome: &str| {
        by.get(&(scheme.to_owned(), outcome.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let want = |k: &str| stats.get(k).copied().unwrap_or(0);
    // hs_ntlm counts the three-leg handshakes, failed ones included.
    assert_eq!(
        count("ntlm", "success") + count("ntlm", "failed/logon-failed"),
        want("hs_ntlm"),
        "{by:?}"
    );
    assert_eq!(
        count("ntlm", "failed/logon-failed"),
        want("hs_ntlm_fail"),
        "{by:?}"
    );
    assert_eq!(
        count("ntlm", "failed/connection-closed"),
        want("hs_ntlm_broken_close"),
        "{by:?}"
    );
    assert_eq!(
        count("negotiate-ntlm", "success"),
        want("hs_negotiate_ntlm"),
        "{by:?}"
    );
    assert_eq!(count("kerberos", "success"), want("hs_kerberos"), "{by:?}");
    assert_eq!(count("basic", "success"), want("hs_basic"), "{by:?}");
    assert_eq!(count("digest", "success"), want("hs_digest"), "{by:?}");
    assert_eq!(by.values().sum::<u64>(), summary.handshakes);
    // Every broken-by-close and failed-after-Type-3 handshake is flagged.
    let f = |outcome: &str, code: &str| {
        flagged
            .get(&(outcome.to_owned(), code.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        f("failed/connection-closed", "ntlm-connection-closed"),
        want("hs_ntlm_broken_close")
    );
    assert_eq!(
        f("failed/logon-failed", "logon-failed"),
        want("hs_ntlm_fail")
    );
    assert_eq!(summary.stats.http.requests, want("requests"));
    assert_eq!(summary.connections, want("connections"));
}
