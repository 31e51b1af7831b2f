//! The pcap/pcapng reader over arbitrary bytes: as one file, and split in two files merged
//! in time order.
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
    // Two files: the first byte says where to cut.
    if let Some((&cut, rest)) = data.split_first() {
        let at = rest.len() * usize::from(cut) / 256;
        let (a, b) = rest.split_at(at);
        let files: Vec<FileSource> = [open("a.pcap", a), open("b.pcap", b)]
            .into_iter()
            .flatten()
            .collect();
        let mut m = MergedSource::new(files);
        let mut n = 0u64;
        while let Some(frame) = m.next_frame() {
            n += 1;
            assert_eq!(frame.number, n);
        }
    }
});
