//! Compressed captures (gzip, Zstandard, xz), known by their magic bytes rather than their
//! name: `tcpdump -w - | gzip`, rotated files compressed by logrotate or `tcpdump -z`, and
//! archives kept as `.zst` or `.xz`. The stream is decompressed as it is read, so memory does
//! not grow with the file.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

/// How a capture file's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }

    /// The compression whose magic bytes `head` starts with.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        // RFC 1952 2.3.1 (ID1 ID2); RFC 8878 3.1.1 (Magic_Number); xz file format 2.1.1.1.
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }
}

/// Why a compressed stream stopped before its end (cut, or damaged), once it did.
#[derive(Debug, Clone, Default)]
pub struct Cut(Arc<Mutex<Option<String>>>);

impl Cut {
    /// What went wrong, if the stream stopped early.
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    fn set(&self, why: String) {
        if let Ok(mut g) = self.0.lock() {
            g.get_or_insert(why);
        }
    }
}

/// A decompressed stream that ends where the decompressor fails, as a cut file ends: the
/// capture reader then sees a truncated file and keeps what came before, and [`Cut`] says why.
struct Cutoff<R> {
    inner: R,
    kind: Compression,
    cut: Cut,
    ended: bool,
}

impl<R: Read> Read for Cutoff<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.ended = true;
                    let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        format!("the {} stream ends early", self.kind.name())
                    } else {
                        format!("the {} stream is damaged ({e})", self.kind.name())
                    };
                    self.cut.set(why);
                    return Ok(0);
                }
            }
        }
    }
}

/// `reader` as capture bytes: decompressed when its first bytes are a compressed stream's
/// magic, else as it is. Also says which compression, and where the stream was cut.
pub fn open<R: Read + Send + 'static>(
    reader: R,
) -> std::io::Result<(Box<dyn Read + Send>, Option<Compression>, Cut)> {
    let mut buffered = BufReader::with_capacity(1 << 16, reader);
    let kind = loop {
        match buffered.fill_buf() {
            Ok(head) => break Compression::sniff(head),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    let cut = Cut::default();
    let Some(kind) = kind else {
        return Ok((Box::new(buffered), None, cut));
    };
    let inner: Box<dyn Read + Send> = match kind {
        // Several members, as `cat a.gz b.gz` or pigz make them (RFC 1952 2.2), read as one
        // stream, as gunzip does.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        // Concatenated streams too, as xz -d reads them.
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(buffered)),
    };
    let reader = Cutoff {
        inner,
        kind,
        cut: cut.clone(),
        ended: false,
    };
    Ok((Box::new(reader), Some(kind), cut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn compress(kind: Compression, data: &[u8]) -> Vec<u8> {
        match kind {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::stream::encode_all(data, 1).unwrap(),
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
        }
    }

    fn read_all(bytes: Vec<u8>) -> (Vec<u8>, Option<Compression>, Option<String>) {
        let (mut r, kind, cut) = open(std::io::Cursor::new(bytes)).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (out, kind, cut.get())
    }

    #[test]
    fn each_compression_is_known_by_its_magic_and_read_whole() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for kind in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
            let (out, got, cut) = read_all(compress(kind, &data));
            assert_eq!(got, Some(kind));
            assert_eq!(out, data, "{kind:?}");
            assert_eq!(cut, None);
        }
        let (out, got, _) = read_all(data.clone());
        assert_eq!((out, got), (data, None), "plain bytes pass as they are");
    }

    #[test]
    fn a_cut_stream_gives_what_came_before_and_says_so() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
        for kind in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
            let mut z = compress(kind, &data);
            z.truncate(z.len() / 2);
            let (out, _, cut) = read_all(z);
            assert!(out.len() < data.len(), "{kind:?}");
            assert_eq!(out, data[..out.len()], "{kind:?}: a prefix");
            let cut = cut.unwrap_or_else(|| panic!("{kind:?}: the cut is said"));
            assert!(cut.contains(kind.name()), "{cut}");
        }
    }

    #[test]
    fn concatenated_members_read_as_one_stream() {
        for kind in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
            let mut z = compress(kind, b"first ");
            z.extend(compress(kind, b"second"));
            let (out, _, cut) = read_all(z);
            assert_eq!(out, b"first second", "{kind:?}");
            assert_eq!(cut, None);
        }
    }

    #[test]
    fn damaged_data_ends_the_stream_with_a_reason() {
        let data = vec![b'x'; 100_000];
        for kind in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
            let mut z = compress(kind, &data);
            let mid = z.len() / 2;
            for b in z.iter_mut().skip(mid).take(16) {
                *b ^= 0x5a;
            }
            let (_, _, cut) = read_all(z);
            assert!(cut.is_some(), "{kind:?}");
        }
    }
}
