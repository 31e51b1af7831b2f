//! A JSON array written as it grows to a temporary file and copied into the document at the
//! end, so that a document's memory does not grow with the capture.

use std::io::{self, Write};

use super::append_object_with;
use crate::json;
use crate::pipeline::Analysed;

/// Buffer of a spool's writes and of its copy into the document.
const SPOOL_BUFFER: usize = 1 << 18;

pub(super) struct Spool {
    file: std::fs::File,
    /// Items are serialised straight into it, and it goes to the file when full: a second
    /// buffer would copy every byte once more.
    pending: Vec<u8>,
    count: u64,
}

impl Spool {
    pub(super) fn new() -> io::Result<Spool> {
        Ok(Spool {
            file: tempfile::tempfile()?,
            pending: Vec::with_capacity(SPOOL_BUFFER),
            count: 0,
        })
    }

    fn next(&mut self) {
        if self.count > 0 {
            self.pending.push(b',');
        }
        self.count = self.count.saturating_add(1);
    }

    /// Large writes: a spool holds up to hundreds of MB, and each write is a syscall. It goes
    /// out a quarter short of full, so the item that crosses the line (rarely over 64 KiB)
    /// still fits: were the buffer to grow instead, each spool would keep twice its size for
    /// the rest of the run.
    fn spill(&mut self) -> io::Result<()> {
        if self.pending.len() >= SPOOL_BUFFER - SPOOL_BUFFER / 4 {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    pub(super) fn push<T: serde::Serialize>(&mut self, item: &T) -> io::Result<()> {
        self.next();
        json::extend(&mut self.pending, item).map_err(io::Error::other)?;
        self.spill()
    }

    /// Pushes a handshake as [`Analysed`] serialises it.
    pub(super) fn push_analysed(&mut self, a: &Analysed) -> io::Result<()> {
        self.next();
        append_object_with(
            &mut self.pending,
            &a.handshake,
            "findings",
            Some(&a.findings),
        )?;
        self.spill()
    }

    pub(super) fn copy_into(
        self,
        out: &mut dyn Write,
        direct: Option<&std::fs::File>,
    ) -> io::Result<()> {
        use std::io::{Read, Seek};
        let mut f = self.file;
        f.write_all(&self.pending)?;
        f.seek(io::SeekFrom::Start(0))?;
        if let Some(mut to) = direct {
            // io::copy between two files stays in the kernel: on the 1 GB capture the 130 MB
            // of spooled handshakes were read and written again, 0.03 to 0.05 s.
            out.flush()?;
            io::copy(&mut f, &mut to)?;
            return Ok(());
        }
        // Not io::copy: through `dyn Write` it moves 8 KiB a call.
        let mut buf = vec![0u8; SPOOL_BUFFER];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => out.write_all(buf.get(..n).unwrap_or_default())?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_keeps_its_buffer_at_its_size() {
        let mut spool = Spool::new().unwrap();
        // Items of up to a quarter of the buffer, so that some cross the line each time.
        let item: String = "x".repeat(SPOOL_BUFFER / 4 - 16);
        let mut expected = Vec::new();
        for n in 0..40 {
            let s = format!("{n}{item}");
            spool.push(&s).unwrap();
            assert!(spool.pending.capacity() <= SPOOL_BUFFER, "grew at item {n}");
            expected.push(s);
        }
        let mut out = Vec::new();
        spool.copy_into(&mut out, None).unwrap();
        let back: Vec<String> = serde_json::from_slice(&[b"[", &out[..], b"]"].concat()).unwrap();
        assert_eq!(back, expected);
    }
}
