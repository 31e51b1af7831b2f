//! Files read as separate captures that are the pieces of one rotated capture.

use super::{FileSource, MergedSource};
use crate::capture::Timestamp;

/// Files whose packets begin at most this long after (or before: the clock of a busy capture
/// steps back a little) the packets of the file before end read as pieces of one capture.
pub const ROTATED_GAP: i64 = 1_000_000_000;

impl MergedSource {
    /// Read as separate captures, files that follow one another in time as the pieces of one
    /// rotated capture do (`tcpdump -C`, `editcap -c`): each with packets begins within
    /// [`ROTATED_GAP`] of where the one before ends. A login cut at a file's edge is then
    /// judged in two pieces (a challenge unanswered, an answer without its challenge), which
    /// `--merge` would join. Captures from several sensors overlap in time instead, and
    /// captures taken one after the other leave longer gaps. The warning, and the time of the
    /// first edge (the last packet of the first file).
    pub fn rotated(&self) -> Option<(String, Timestamp)> {
        if self.merge {
            return None;
        }
        let spans: Vec<_> = self.files.iter().filter_map(FileSource::span).collect();
        let [(_, first_edge), ..] = spans.as_slice() else {
            return None;
        };
        let follow = spans.len() >= 2
            && spans.windows(2).all(
                |w| matches!(w, [(_, end), (start, _)] if start.since(*end).abs() <= ROTATED_GAP),
            );
        follow.then(|| {
            let message = format!(
                "the {} files follow one another in time, as the pieces of one rotated capture \
                 do: each is read as a capture of its own, so a login cut at a file's edge is \
                 judged in two pieces; --merge reads them as one capture",
                spans.len()
            );
            (message, *first_edge)
        })
    }
}
