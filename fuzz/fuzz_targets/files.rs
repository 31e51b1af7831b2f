//! File workers against one front on a (byte-mutated) capture: its frames cut into two to
//! four files of a folder (one maybe without frames), each its own capture, read with one
//! thread and with two or three file workers on threads of their own (`pipeline::drive`),
//! make every output and counter one thread makes, unless the merge warns that a cap was
//! crossed.
#![no_main]
use std::io::Write;
use std::path::{Path, PathBuf};

use authscope::capture::{LinkType, MergedSource};
use authscope::pipeline::{run, Config, Output, Plan, Source, Stats};
use libfuzzer_sys::fuzz_target;

#[path = "common/frames.rs"]
mod frames;
use frames::{owned_frames, Owned};

/// Frames beyond these are left out: the target is about the merge, not the volume.
const MOST_FRAMES: usize = 4096;

/// This process's folder, emptied for each input.
fn folder() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("authscope-fuzz-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// A pcap file of nanosecond times with the link type of its first frame; frames of another
/// link type are left out (a pcap file has one).
fn write_pcap(path: &Path, frames: &[Owned]) {
    let link = frames.first().map_or(LinkType::ETHERNET, |f| f.1);
    let mut out = Vec::new();
    // pcap file header, nanosecond magic (libpcap's savefile format).
    out.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&u32::from(link.0).to_le_bytes());
    for (ts, _, data, orig) in frames.iter().filter(|f| f.1 == link) {
        let secs = ts.0.div_euclid(1_000_000_000) as u32;
        let nanos = ts.0.rem_euclid(1_000_000_000) as u32;
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&nanos.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(*orig).max(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    let mut f = std::fs::File::create(path).expect("a capture file");
    f.write_all(&out).expect("written");
}

fn read(dir: &Path, config: Config, threads: usize) -> (Vec<Output>, Stats, Vec<String>) {
    let source = MergedSource::open(&[dir.to_owned()]).expect("the folder opens");
    let mut outputs = Vec::new();
    let mut sink = |o: Output| outputs.push(o);
    let ran = run(
        Source::Files(source),
        config,
        Plan::threads(threads),
        &mut sink,
    )
    .expect("the folder reads");
    (outputs, ran.stats, ran.warnings)
}

fuzz_target!(|data: &[u8]| {
    let Some(frames) = owned_frames(data, MOST_FRAMES) else {
        return;
    };
    if frames.is_empty() {
        return;
    }
    let config = frames::config(data);
    // Two to four files; with three or four, one now and then without frames.
    let files = 2 + data.len() % 3;
    let dir = folder();
    let per = frames.len().div_ceil(files);
    for k in 0..files {
        let from = (k * per).min(frames.len());
        let to = ((k + 1) * per).min(frames.len());
        let part = if files > 2 && k == 1 && data.len() % 2 == 0 {
            &frames[from..from]
        } else {
            &frames[from..to]
        };
        write_pcap(&dir.join(format!("part-{k}.pcap")), part);
    }
    let (want, mut want_stats, _) = read(&dir, config, 1);
    let threads = 3 + data.len() % 2;
    let (got, mut got_stats, warnings) = read(&dir, config, threads);
    let _ = std::fs::remove_dir_all(&dir);
    if warnings.is_empty() {
        // The TLS stage's peak is the largest of one worker's, not the peak of their sum.
        got_stats.tls.peak_buffered_bytes = 0;
        want_stats.tls.peak_buffered_bytes = 0;
        assert_eq!(got_stats, want_stats);
        assert!(
            got == want,
            "the file workers' outputs differ from one thread's"
        );
    }
});
