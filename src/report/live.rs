//! The report of a live capture (feature `live`): the same [`Report`] as for files, read by the
//! driver from a [`LiveSource`] until `--duration`, `--count`, Ctrl-C or SIGTERM ends it.

use std::io::{self, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{Options, Report, ReportError, Summary};
use crate::capture::live::{LiveConfig, LiveSource};
use crate::pipeline::{Plan, Source};

/// Captures on the interface and writes the report to `out` as it goes (NDJSON lines and
/// text blocks as handshakes complete; the JSON document at the end); one line saying what
/// is being captured goes to `notes` (standard error) once capture has started.
///
/// SIGINT and SIGTERM end the capture cleanly: the packets already queued are analysed and
/// the summary is written. A second SIGINT exits at once (status 130).
pub fn run(
    config: LiveConfig,
    opts: &Options,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<Summary, ReportError> {
    // Before the interface, as root if started so: privileges go once it is open.
    let keys = crate::capture::keylog::KeyLogFiles::open(&opts.key_logs, true)?;
    let missing = keys.missing();
    let source = LiveSource::open(config)?.with_key_logs(keys);
    let signals = stop_on_signals(&source.stop_flag())?;
    let c = source.config();
    writeln!(
        notes,
        "authscope: listening on {}, link-type {}, filter {:?}{} (Ctrl-C to stop)",
        c.interface,
        source.link_name(),
        c.filter(),
        c.write
            .as_ref()
            .map(|p| format!(", saving to {}", p.display()))
            .unwrap_or_default(),
    )?;
    for p in missing {
        writeln!(
            notes,
            "authscope: {}: no such file yet; read from when it is created",
            p.display()
        )?;
    }
    notes.flush()?;
    let result = Report::start(opts, out).and_then(|r| {
        // One thread: a live capture has one reader.
        r.read(Source::Live(Box::new(source)), Plan::threads(1), out)
    });
    for id in signals {
        signal_hook::low_level::unregister(id);
    }
    result
}

/// SIGINT and SIGTERM set `flag`; a second one, once it is set, exits the process.
fn stop_on_signals(flag: &Arc<AtomicBool>) -> io::Result<Vec<signal_hook::SigId>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag::{register, register_conditional_shutdown};
    let mut ids = Vec::new();
    for (sig, status) in [(SIGINT, 130), (SIGTERM, 143)] {
        // Registered first, so it sees the flag as it was before this signal.
        ids.push(register_conditional_shutdown(
            sig,
            status,
            Arc::clone(flag),
        )?);
        ids.push(register(sig, Arc::clone(flag))?);
    }
    Ok(ids)
}
