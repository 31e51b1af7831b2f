//! Key log files read beside a capture (`--keylog`), for the TLS stage: handed on as text in
//! whole lines, a bounded piece at a time, so a large key log is never held whole. A file
//! that is still being written (a browser's `SSLKEYLOGFILE` during a live capture) is
//! followed: what was appended since the last read comes with the next, and a followed file
//! that does not exist yet is opened when it appears (a browser creates it at its first
//! TLS connection).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::CaptureError;

/// The most text handed on by one [`KeyLogFiles::take`].
pub const KEY_LOG_PIECE: usize = 1 << 20;

struct One {
    path: PathBuf,
    /// `None` while a followed file does not exist yet.
    file: Option<File>,
    /// A line read in part: its end has not been written yet.
    partial: Vec<u8>,
    /// Read to its end (a file that does not grow).
    done: bool,
}

/// The key log files of an input. Secrets: never in a Debug output.
#[derive(Default)]
pub struct KeyLogFiles {
    files: Vec<One>,
    /// Follow the files as they grow (live capture), rather than read them once.
    follow: bool,
}

impl std::fmt::Debug for KeyLogFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&Path> = self.files.iter().map(|o| o.path.as_path()).collect();
        f.debug_struct("KeyLogFiles")
            .field("paths", &paths)
            .finish()
    }
}

impl KeyLogFiles {
    /// Opens every file; the first that cannot be opened is the error, but for a followed
    /// file that does not exist yet, which is waited for ([`KeyLogFiles::missing`]).
    pub fn open(paths: &[PathBuf], follow: bool) -> Result<KeyLogFiles, CaptureError> {
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let file = match File::open(p) {
                Ok(f) => Some(f),
                Err(e) if follow && e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(CaptureError::Open {
                        path: p.clone(),
                        source,
                    })
                }
            };
            files.push(One {
                path: p.clone(),
                file,
                partial: Vec::new(),
                done: false,
            });
        }
        Ok(KeyLogFiles { files, follow })
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|o| o.path.clone()).collect()
    }

    pub fn follows(&self) -> bool {
        self.follow
    }

    /// Whether there is any file to read.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The followed files that do not exist yet.
    pub fn missing(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|o| o.file.is_none())
            .map(|o| o.path.clone())
            .collect()
    }

    /// Whole lines not handed on yet, about [`KEY_LOG_PIECE`] bytes at most (a line longer
    /// than that comes whole); empty when there is nothing new.
    pub fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for one in &mut self.files {
            if one.done || out.len() >= KEY_LOG_PIECE {
                continue;
            }
            if one.file.is_none() {
                // Not created yet: looked for again at each take.
                one.file = File::open(&one.path).ok();
            }
            let Some(file) = one.file.as_mut() else {
                continue;
            };
            // Read straight after the unfinished line: no buffer to clear, nothing copied.
            let want = KEY_LOG_PIECE.saturating_sub(out.len()).max(4096);
            let before = one.partial.len();
            let n = match file.take(want as u64).read_to_end(&mut one.partial) {
                Ok(n) => n,
                // A file that cannot be read any more gives what it gave.
                Err(_) => {
                    one.done = true;
                    one.partial.len().saturating_sub(before)
                }
            };
            if n == 0 {
                if !self.follow {
                    // The end of a file that does not grow ends its last line.
                    one.done = true;
                    if !one.partial.is_empty() {
                        out.append(&mut one.partial);
                        out.push(b'\n');
                    }
                }
                continue;
            }
            if let Some(end) = one.partial.iter().rposition(|&b| b == b'\n') {
                let rest = one.partial.split_off(end.saturating_add(1));
                if out.is_empty() {
                    out = std::mem::replace(&mut one.partial, rest);
                } else {
                    out.append(&mut one.partial);
                    one.partial = rest;
                }
            } else if one.partial.len() > KEY_LOG_PIECE {
                // No key log line is this long: handed on as it is, for the key log to count
                // as a bad line, rather than held.
                out.append(&mut one.partial);
                out.push(b'\n');
            }
        }
        out
    }

    /// Every file read to its end (not followed).
    pub fn is_done(&self) -> bool {
        !self.follow && self.files.iter().all(|o| o.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_a_piece_at_a_time_and_what_a_growing_file_adds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.log");
        let line = "CLIENT_RANDOM 00 11\n";
        let big = line.repeat(KEY_LOG_PIECE / line.len() + 10);
        std::fs::write(&path, format!("{big}CLIENT_RANDOM 22")).unwrap();
        let mut k = KeyLogFiles::open(std::slice::from_ref(&path), false).unwrap();
        let mut all = Vec::new();
        while !k.is_done() {
            let piece = k.take();
            assert!(piece.is_empty() || piece.ends_with(b"\n"));
            assert!(piece.len() <= KEY_LOG_PIECE);
            all.extend(piece);
        }
        assert_eq!(all, format!("{big}CLIENT_RANDOM 22\n").into_bytes());

        // Followed: the partial line waits for its end.
        std::fs::write(&path, "A 1\nB 2").unwrap();
        let mut k = KeyLogFiles::open(std::slice::from_ref(&path), true).unwrap();
        assert_eq!(k.take(), b"A 1\n");
        assert_eq!(k.take(), b"");
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"2\nC 3\n").unwrap();
        assert_eq!(k.take(), b"B 22\nC 3\n");
        assert!(!format!("{k:?}").contains("B 2"));
    }

    #[test]
    fn a_missing_key_log_is_an_error_that_names_it() {
        let e = KeyLogFiles::open(&[PathBuf::from("/nonexistent/keys.log")], false).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/keys.log"), "{e}");
    }

    #[test]
    fn a_followed_key_log_is_read_once_it_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.log");
        let mut k = KeyLogFiles::open(std::slice::from_ref(&path), true).unwrap();
        assert_eq!(k.missing(), vec![path.clone()]);
        assert_eq!(k.take(), b"");
        std::fs::write(&path, "A 1\n").unwrap();
        assert_eq!(k.take(), b"A 1\n");
        assert!(k.missing().is_empty());
    }
}
