//! Flow shards against one front on a (byte-mutated) capture file: 2 or 3 shards, merged,
//! make every output and counter one front makes, unless the merge warns that a cap was
//! crossed (`pipeline::shard`).
#![no_main]
use authscope::capture::Frame;
use authscope::pipeline::shard::run_in_turn;
use authscope::pipeline::{Analyzer, Output};
use libfuzzer_sys::fuzz_target;

#[path = "common/frames.rs"]
mod frames;
use frames::{owned_frames, Owned};

/// Frame `i`; from `split` on, of a second capture (as a second file), numbered from 1 again.
fn frame(i: usize, split: usize, f: &Owned) -> Frame<'_> {
    let (input, first) = if i >= split { (1, split) } else { (0, 0) };
    Frame {
        number: (i - first) as u64 + 1,
        input,
        ts: f.0,
        link: f.1,
        data: &f.2,
        orig_len: f.3,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(frames) = owned_frames(data, usize::MAX) else {
        return;
    };
    let config = frames::config(data);
    // Now and then two captures, so that the shards end the first one together.
    let split = if data.len() % 5 < 2 {
        frames.len() / 2
    } else {
        usize::MAX
    };
    let mut one = Analyzer::new(config);
    let mut want: Vec<Output> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        one.push(&frame(i, split, f), &mut |o| want.push(o));
    }
    one.finish(&mut |o| want.push(o));

    let n = 2 + data.len() % 2;
    let shards = run_in_turn(config, n, usize::MAX, &|push| {
        for (i, f) in frames.iter().enumerate() {
            push(&frame(i, split, f));
        }
    });
    if shards.warnings.is_empty() {
        // The TLS stage's peak is the largest of one shard's (TlsStats::peak_buffered_bytes),
        // not the peak of their sum: the one counter that may differ.
        let (mut got, mut want_stats) = (shards.stats, one.stats());
        got.tls.peak_buffered_bytes = 0;
        want_stats.tls.peak_buffered_bytes = 0;
        assert_eq!(got, want_stats);
        assert!(
            shards.outputs == want,
            "the shards' outputs differ from one front's"
        );
    }
});
