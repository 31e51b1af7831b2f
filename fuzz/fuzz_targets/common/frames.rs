//! The frames of a (byte-mutated) capture file, owned, for the targets that read them more
//! than once.
use std::io::Cursor;
use std::path::Path;

use authscope::capture::{FileSource, LinkType, Timestamp};

/// A frame's time, link type, bytes and length on the wire.
pub type Owned = (Timestamp, LinkType, Vec<u8>, u32);

/// Up to `most` frames of `data` read as a capture file; `None` when it is none.
pub fn owned_frames(data: &[u8], most: usize) -> Option<Vec<Owned>> {
    let mut source =
        FileSource::from_reader(Path::new("fuzz.pcap"), Cursor::new(data.to_vec()), 0).ok()?;
    let mut frames = Vec::new();
    while let Some(f) = source.next_frame() {
        if frames.len() >= most {
            break;
        }
        frames.push((f.ts, f.link, f.data.to_vec(), f.orig_len));
    }
    Some(frames)
}
