//! The files of one input for several fronts (`report --threads`): opened again for each
//! flow shard, or dealt among file workers; and how many are open at once.

use super::{CaptureError, FileSource, Frame, MergedSource};

/// How many files of an input are open at once, and the most that were.
#[derive(Debug, Default)]
pub struct OpenFiles {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl OpenFiles {
    pub(super) fn opened(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.now.fetch_add(1, Relaxed).saturating_add(1);
        self.most.fetch_max(now, Relaxed);
    }

    pub(super) fn closed(&self) {
        self.now.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl MergedSource {
    /// The same files opened again, each read only as far as its size when first opened: a
    /// file still being written then reads the same in every copy (`report --threads`, whose
    /// flow shards read the inputs once each).
    pub fn reopen(&self) -> Result<MergedSource, CaptureError> {
        let mut files = Vec::with_capacity(self.files.len());
        for f in &self.files {
            files.push(f.closed_copy());
        }
        let mut copy = MergedSource::new(files)
            .merged(self.merge)
            .with_key_logs(&self.key_logs.paths())?;
        copy.open_files = self.open_files.clone();
        Ok(copy)
    }

    /// Takes over `other`'s list of files that could not be opened.
    pub fn take_skipped(&mut self, other: &mut MergedSource) {
        self.skipped.append(&mut other.skipped);
    }

    /// The most capture files that were open at once (standard input and captures read from
    /// memory apart).
    pub fn most_open_files(&self) -> usize {
        self.open_files
            .most
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The files dealt among `n` workers, whole, file `i` to worker `i mod n`, each worker's
    /// with the key logs opened again (every worker needs them for its files): the files
    /// of one input, each its own capture, read on several threads ([`MergedSource::gather`]
    /// puts them back). The worker's frames keep their capture ([`Frame::input`]).
    pub fn deal(&mut self, n: usize) -> Result<Vec<MergedSource>, CaptureError> {
        let n = n.max(1);
        let keys = self.key_logs.paths();
        let mut parts = Vec::with_capacity(n);
        for _ in 0..n {
            let mut part = MergedSource::new(Vec::new()).with_key_logs(&keys)?;
            part.open_files = self.open_files.clone();
            parts.push(part);
        }
        for (i, f) in std::mem::take(&mut self.files).into_iter().enumerate() {
            if let Some(part) = parts.get_mut(i % n) {
                part.files.push(f);
                part.heads.push(None);
                part.inputs.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        self.heads.clear();
        self.current = 0;
        Ok(parts)
    }

    /// Takes back the files [`MergedSource::deal`] dealt, as read, in their order.
    pub fn gather(&mut self, parts: Vec<MergedSource>) {
        let mut all: Vec<(u32, FileSource)> = Vec::new();
        for mut part in parts {
            let inputs = std::mem::take(&mut part.inputs);
            all.extend(inputs.into_iter().zip(std::mem::take(&mut part.files)));
        }
        all.sort_by_key(|(i, _)| *i);
        self.files = all.into_iter().map(|(_, f)| f).collect();
        self.heads = vec![None; self.files.len()];
    }

    /// The capture of the `k`th file here ([`Frame::input`]).
    pub fn input_of(&self, k: usize) -> u32 {
        self.inputs
            .get(k)
            .copied()
            .unwrap_or_else(|| u32::try_from(k).unwrap_or(u32::MAX))
    }

    /// The next frame of the `k`th file here, as its own capture; `None` at its end, where
    /// what its Decryption Secrets Blocks held after its last frame is dropped (its keys are
    /// for it alone, and nothing of it follows).
    pub fn next_frame_of(&mut self, k: usize) -> Option<Frame<'_>> {
        let input = self.input_of(k);
        let f = self.files.get_mut(k)?;
        if !f.peek_more() {
            f.key_log.clear();
            return None;
        }
        let f = f.current_frame()?;
        Some(Frame { input, ..f })
    }
}
