//! The frames of a (byte-mutated) capture file, owned, for the targets that read them more
//! than once, and the configuration they read them with.
use std::io::Cursor;
use std::path::Path;

use authscope::capture::{FileSource, LinkType, Timestamp};
use authscope::pipeline::Config;

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

/// The default configuration, with small caps now and then, so that the threads cross their
/// shares of them.
pub fn config(data: &[u8]) -> Config {
    let mut config = Config::default();
    if data.len() % 3 == 0 {
        config.tcp.max_connections = 3;
        config.tcp.max_buffered_total = 2048;
        config.http.max_buffered_total = 4096;
    }
    config
}
