//! What a document or a report says about its inputs.

use std::io::{self, Write};

use super::write_value;
use crate::capture::{MergedSource, Timestamp};
use crate::pipeline::Source;
use crate::shown::shown;

/// What the report says about its inputs: a line each at the top of the text report, the
/// `inputs` array of the JSON document, and the problems listed among the warnings.
pub trait Inputs {
    fn text_header(&self, out: &mut dyn Write) -> io::Result<()>;
    fn write_json(&self, out: &mut dyn Write) -> io::Result<()>;
    fn warnings(&self) -> Vec<String>;
    /// The problems of [`Inputs::warnings`], each with its file and the time of the last
    /// good packet before it where those are known.
    fn problems(&self) -> Vec<Problem> {
        self.warnings()
            .into_iter()
            .map(|message| Problem {
                message,
                file: None,
                after: None,
            })
            .collect()
    }
    /// The files were read as one capture (`--merge`).
    fn merged(&self) -> bool {
        false
    }
    /// The captures the frames come from: their frames are numbered each on its own, so with
    /// more than one every frame is named with its capture's (`2:f14`).
    fn captures(&self) -> usize {
        1
    }
    /// The name of capture `input` ([`crate::capture::Frame::input`]).
    fn capture_name(&self, _input: u32) -> Option<String> {
        None
    }
    /// No capture was given: the report is of the server's records alone.
    fn no_capture(&self) -> bool {
        false
    }
}

/// A problem in the input, as [`Inputs::problems`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// As [`Inputs::warnings`] words it.
    pub message: String,
    /// The file it is in.
    pub file: Option<String>,
    /// The time of the last good packet before it; `None` for a file not read at all.
    pub after: Option<Timestamp>,
}

impl Inputs for MergedSource {
    fn text_header(&self, out: &mut dyn Write) -> io::Result<()> {
        let several = self.captures() > 1;
        for (i, f) in self.files().iter().enumerate() {
            let fs = f.stats();
            let n = if several {
                format!("{}: ", i.saturating_add(1))
            } else {
                String::new()
            };
            let compression = fs
                .compression
                .map(|c| format!(", {c}-compressed"))
                .unwrap_or_default();
            writeln!(
                out,
                "{n}{}: {} packets ({}{compression})",
                shown(&fs.path),
                fs.packets,
                fs.format
            )?;
        }
        for e in self.skipped() {
            writeln!(out, "{} (skipped)", shown(&e.to_string()))?;
        }
        if several {
            writeln!(
                out,
                "files are separate captures: 2:f14 is frame 14 of file 2; --merge joins them"
            )?;
        } else if self.files().len() > 1 {
            writeln!(
                out,
                "read as one capture in time order (--merge): frames are numbered over all files"
            )?;
        }
        Ok(())
    }

    fn merged(&self) -> bool {
        self.is_merged()
    }

    fn captures(&self) -> usize {
        MergedSource::captures(self)
    }

    fn capture_name(&self, input: u32) -> Option<String> {
        let f = self.files().get(usize::try_from(input).ok()?)?;
        Some(f.path().display().to_string())
    }

    fn no_capture(&self) -> bool {
        self.files().is_empty()
    }

    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        let inputs: Vec<_> = self.files().iter().map(|f| f.stats()).collect();
        write_value(out, &inputs)
    }

    fn warnings(&self) -> Vec<String> {
        self.files()
            .iter()
            .flat_map(|f| f.warnings())
            .map(|w| format!("{}: packet {}: {}", w.file, w.packet, w.message))
            .chain(self.skipped().iter().map(|e| format!("{e} (skipped)")))
            .chain(self.rotated().map(|(message, _)| message))
            .collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let warnings = self
            .files()
            .iter()
            .flat_map(|f| f.warnings())
            .map(|w| Problem {
                message: format!("{}: packet {}: {}", w.file, w.packet, w.message),
                file: Some(w.file.clone()),
                after: w.after,
            });
        let skipped = self.skipped().iter().map(|e| Problem {
            message: format!("{e} (skipped)"),
            file: Some(e.path().display().to_string()),
            after: None,
        });
        let rotated = self.rotated().map(|(message, edge)| Problem {
            message,
            file: None,
            after: Some(edge),
        });
        warnings.chain(skipped).chain(rotated).collect()
    }
}

/// The live input as the `inputs` array of the JSON report shows it.
#[cfg(feature = "live")]
#[derive(Debug, serde::Serialize)]
struct LiveInput<'a> {
    interface: &'a str,
    format: &'static str,
    link: &'a str,
    filter: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    write: Option<String>,
    #[serde(flatten)]
    stats: crate::capture::live::LiveStats,
    dropped: u64,
}

#[cfg(feature = "live")]
impl Inputs for crate::capture::live::LiveSource {
    fn text_header(&self, out: &mut dyn Write) -> io::Result<()> {
        let c = self.config();
        let s = self.stats();
        writeln!(
            out,
            "{}: {} packets (live, {}, filter {:?})",
            c.interface,
            s.captured,
            self.link_name(),
            c.filter()
        )?;
        writeln!(
            out,
            "{}: {} dropped ({} by the kernel, {} by the interface, {} because the analysis \
             fell behind)",
            c.interface,
            s.dropped(),
            s.kernel_dropped,
            s.interface_dropped,
            s.queue_dropped
        )?;
        if let Some(p) = &c.write {
            writeln!(out, "{}: {} packets saved", p.display(), s.written)?;
            if s.unsaved > 0 {
                writeln!(
                    out,
                    "{}: {} packets not saved (writing stopped)",
                    p.display(),
                    s.unsaved
                )?;
            }
        }
        Ok(())
    }

    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        let c = self.config();
        let stats = self.stats();
        let input = LiveInput {
            interface: &c.interface,
            format: "live",
            link: self.link_name(),
            filter: c.filter(),
            write: c.write.as_ref().map(|p| p.display().to_string()),
            stats,
            dropped: stats.dropped(),
        };
        Ok(serde_json::to_writer(out, &[input])?)
    }

    fn warnings(&self) -> Vec<String> {
        let s = self.stats();
        let mut w = Vec::new();
        if s.dropped() > 0 {
            w.push(format!(
                "{}: {} packets dropped ({} by the kernel, {} by the interface, {} because \
                 the analysis fell behind): handshakes may be missing or incomplete",
                self.config().interface,
                s.dropped(),
                s.kernel_dropped,
                s.interface_dropped,
                s.queue_dropped
            ));
        }
        w.extend(self.errors());
        w
    }
}

/// The inputs of what the driver read.
pub fn inputs_of(source: &Source) -> &dyn Inputs {
    match source {
        Source::Files(f) => f,
        #[cfg(feature = "live")]
        Source::Live(l) => &**l,
    }
}
