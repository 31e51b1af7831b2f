//! The pcap/pcapng reader over arbitrary bytes (decompressed first when they start with a
//! gzip, zstd or xz magic): as one file, and split in two files, read each as its own capture
//! and merged in time order.
#![no_main]
use std::io::Cursor;
use std::path::Path;

use authscope::capture::{FileSource, MergedSource};
use libfuzzer_sys::fuzz_target;

fn open(name: &str, bytes: &[u8]) -> Option<FileSource> {
    FileSource::from_reader(
        Path::new(name),
        Cursor::new(bytes.to_vec()),
        bytes.len() as u64,
    )
    .ok()
}

fuzz_target!(|data: &[u8]| {
    if let Some(mut f) = open("fuzz.pcap", data) {
        let mut n = 0u64;
        while let Some(frame) = f.next_frame() {
            n += 1;
            assert_eq!(frame.number, n);
            assert!(frame.data.len() <= 16 << 20);
        }
        assert_eq!(f.stats().packets, n);
        let _ = f.warnings();
    }
    // Two files: the first byte says where to cut. Each is its own capture, numbered in
    // itself; merged, they are one, numbered over all.
    if let Some((&cut, rest)) = data.split_first() {
        let at = rest.len() * usize::from(cut) / 256;
        let (a, b) = rest.split_at(at);
        let two = || -> Vec<FileSource> {
            [open("a.pcap", a), open("b.pcap", b)]
                .into_iter()
                .flatten()
                .collect()
        };
        let mut m = MergedSource::new(two());
        let mut last: Option<(u32, u64)> = None;
        while let Some(frame) = m.next_frame() {
            match last {
                Some((input, n)) if input == frame.input => assert_eq!(frame.number, n + 1),
                Some((input, _)) => {
                    assert!(frame.input > input);
                    assert_eq!(frame.number, 1);
                }
                None => assert_eq!(frame.number, 1),
            }
            last = Some((frame.input, frame.number));
        }
        let mut m = MergedSource::new(two()).merged(true);
        let mut n = 0u64;
        while let Some(frame) = m.next_frame() {
            n += 1;
            assert_eq!(frame.number, n);
            assert_eq!(frame.input, 0);
        }
    }
});
