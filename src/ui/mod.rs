//! Stage 8 (second face): the terminal UI.
//!
//! One event enum ([`event::AppEvent`]) flows into the UI thread from two producers: a thread
//! that reads the terminal, and the [`worker`] that runs the analyzer and sends batches of new
//! handshakes. Both go through one bounded channel; the UI drains it, applies each event to
//! [`app::State`], and draws from `&State` ([`view::render`]). Nothing on the UI thread reads
//! the capture, so the first frame is drawn before a byte of it is analysed.
//!
//! Exports (`e`, `E`) run on threads of their own over a file: the capture files as opened,
//! or, on a live capture, the file the capture thread saves every packet to (`--write`, or a
//! temporary file of at most [`SCRATCH_CAP`]), flushed first. There the handshakes are chosen
//! by where they start ([`crate::export::Start`]), not by id.
//!
//! SIGTERM, SIGHUP and SIGINT end the UI as `q` does: the terminal is put back, a live
//! capture is stopped and its file flushed and closed, and the process exits with 128 plus
//! the signal's number (143, 129, 130), as a shell reports a process a signal ended, so a
//! script sees that it did not end by itself. A second signal exits at once.

pub mod app;
pub mod event;
pub mod input;
pub mod keys;
pub mod spool;
pub mod strings;
pub mod theme;
pub mod view;
pub mod worker;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::layout::Rect;
use ratatui::Terminal;

use crate::capture::{CaptureError, MergedSource};
use crate::pipeline::Config;

use app::{Source, State};
use event::AppEvent;
use theme::Theme;

/// Options of `authscope open`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub reveal_secrets: bool,
    pub config: Config,
    /// Read several files as one capture in time order (`--merge`) rather than each on its own.
    pub merge: bool,
    /// The threads that analyse files (and the exports made from the UI).
    pub plan: crate::pipeline::Plan,
    /// TLS key logs read beside the files (`--keylog`).
    pub key_logs: Vec<std::path::PathBuf>,
    /// The server's records joined to the handshakes (`--server-log`, `--events`).
    pub server_logs: crate::capture::serverlog::ServerLogPaths,
}

/// Why the UI could not run.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("terminal: {0}")]
    Terminal(#[from] io::Error),
    #[error("reading the terminal: {0}")]
    Input(String),
    #[cfg(feature = "live")]
    #[error(transparent)]
    Live(#[from] crate::capture::live::LiveError),
}

/// Events waiting for the UI at most; the worker waits when it is full.
const CHANNEL: usize = 64;
/// Redraw interval while reading (the progress gauge moves without events).
const TICK_LOADING: Duration = Duration::from_millis(100);
const TICK_IDLE: Duration = Duration::from_secs(1);
/// The most a live capture's temporary file takes, for exports (2 GiB: hours of
/// authentication traffic, minutes of a busy link). Past it, packets are not saved and the
/// header says that exports cover only the start.
pub const SCRATCH_CAP: u64 = 2 << 30;
/// How long an export waits for the capture thread to flush the saved file (it looks every
/// 100 ms at most).
#[cfg(feature = "live")]
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// How the UI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `q`, or the terminal's input ended.
    Quit,
    /// A signal (its number) ended it.
    Signal(i32),
}

impl Ended {
    /// The exit status: 0, or 128 plus the signal's number.
    pub fn status(self) -> u8 {
        match self {
            Ended::Quit => 0,
            Ended::Signal(n) => u8::try_from(n.saturating_add(128)).unwrap_or(u8::MAX),
        }
    }
}

/// Puts the terminal back however the UI ends.
struct TermGuard;

impl TermGuard {
    fn enter() -> io::Result<TermGuard> {
        enable_raw_mode()?;
        let g = TermGuard;
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        Ok(g)
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        let _ = execute!(
            io::stdout(),
            DisableMouseCapture,
            LeaveAlternateScreen,
            Show
        );
        let _ = disable_raw_mode();
    }
}

/// `authscope open FILE...`: the UI over capture files.
pub fn run(paths: &[PathBuf], opts: &Options) -> Result<Ended, UiError> {
    // Opening reads only the file headers; an unusable file is an error before the screen
    // changes.
    let source = MergedSource::open(paths)?
        .merged(opts.merge)
        .with_key_logs(&opts.key_logs)?
        .with_server_logs(&opts.server_logs)?;
    let src = Source {
        names: paths.iter().map(|p| p.display().to_string()).collect(),
        total_bytes: source.total_size(),
        progress: source.files().iter().map(|f| f.progress()).collect(),
        live: None,
    };
    let exports = Exports::Files(paths.to_vec());
    run_ui(crate::pipeline::Source::Files(source), src, opts, exports)
}

/// `authscope live -i IFACE`: the UI over a live capture. The interface is open (and the
/// filter compiled, privileges dropped) before the screen changes. Without `--write`, the
/// packets are saved to a temporary file for the exports.
#[cfg(feature = "live")]
pub fn run_live(
    mut config: crate::capture::live::LiveConfig,
    opts: &Options,
) -> Result<Ended, UiError> {
    config.scratch.get_or_insert(SCRATCH_CAP);
    // Before the interface, as root if started so: privileges go once it is open. A key log
    // not created yet is read once it is.
    let keys = crate::capture::keylog::KeyLogFiles::open(&opts.key_logs, true)?;
    let source = crate::capture::live::LiveSource::open(config)?.with_key_logs(keys);
    let exports = match source.saved() {
        Ok(Some(saved)) => Exports::Live(saved.clone()),
        Ok(None) => Exports::Unavailable("the capture is not saved".into()),
        Err(why) => Exports::Unavailable(why.to_owned()),
    };
    let src = Source {
        live: Some(app::Live {
            interface: source.config().interface.clone(),
            ..app::Live::default()
        }),
        ..Source::default()
    };
    run_ui(
        crate::pipeline::Source::Live(Box::new(source)),
        src,
        opts,
        exports,
    )
}

fn run_ui(
    input: crate::pipeline::Source,
    src: Source,
    opts: &Options,
    exports: Exports,
) -> Result<Ended, UiError> {
    let (tx, rx) = sync_channel::<AppEvent>(CHANNEL);
    // Before the screen changes, so that no signal finds the terminal changed and nobody
    // to put it back.
    let watch = signals::Watch::start(tx.clone())?;
    let guard = TermGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let size = terminal.size()?;
    let mut state = State::new(src);
    state.size = Rect::new(0, 0, size.width, size.height);
    let theme = Theme::from_env();
    // The first frame, before anything is read.
    terminal.draw(|f| view::render(f, &state, &theme))?;

    let (spool, reader) = match spool::create() {
        Ok((w, r)) => (Some(w), Some(r)),
        Err(e) => {
            state.spool_error = Some(format!(
                "details spool (temporary file): {e}: handshakes are listed without details"
            ));
            (None, None)
        }
    };
    state.spool = reader;
    let stop = Arc::new(AtomicBool::new(false));
    spawn_input(tx.clone())?;
    let tx_export = tx.clone();
    let worker = worker::spawn(worker::Job {
        input,
        config: opts.config,
        plan: opts.plan,
        reveal: opts.reveal_secrets,
        spool: spool.unwrap_or_else(spool::SpoolWriter::disabled),
        tx,
        stop: stop.clone(),
    })?;
    let exporter = Exporter {
        exports,
        opts: opts.clone(),
        tx: tx_export,
    };
    let r = event_loop(&mut terminal, &mut state, &theme, &rx, &exporter);
    stop.store(true, Ordering::Relaxed);
    // A worker waiting to send must not wait for ever; then wait for it, so a live capture
    // stops cleanly (its `--write` file flushed and closed) before the process ends.
    drop(rx);
    let _ = worker.join();
    drop(guard);
    // A hangup also breaks the terminal (reading it fails): the signal is the reason.
    match watch.received() {
        Some(sig) => Ok(Ended::Signal(sig)),
        None => r.map(|()| Ended::Quit),
    }
}

/// Reads the terminal on its own thread, so the UI thread waits on one channel only.
fn spawn_input(tx: SyncSender<AppEvent>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("authscope-input".into())
        .spawn(move || loop {
            let ev = match crossterm::event::read() {
                Ok(ev) => AppEvent::Term(ev),
                Err(e) => AppEvent::InputError(e.to_string()),
            };
            let stop = matches!(ev, AppEvent::InputError(_));
            if tx.send(ev).is_err() || stop {
                return;
            }
        })?;
    Ok(())
}

/// Applies one event; returns an error that ends the UI.
pub fn handle(state: &mut State, ev: AppEvent) -> Result<(), UiError> {
    match ev {
        AppEvent::Term(t) => {
            let a = input::action(&t, &state.mode);
            state.apply(a);
        }
        AppEvent::Batch(b) => state.take_batch(*b),
        AppEvent::InputError(e) => return Err(UiError::Input(e)),
        AppEvent::Exported(m) => state.message = Some(m),
        AppEvent::Signal(_) => state.quit = true,
    }
    Ok(())
}

/// Where exports asked for in the UI read the handshakes from.
enum Exports {
    /// The capture files, read again: the same input and options reproduce the ids.
    Files(Vec<PathBuf>),
    /// The file a live capture saves its packets to, flushed first; handshakes are found by
    /// where they start, since the live analysis may have decided them differently.
    #[cfg(feature = "live")]
    Live(crate::capture::live::Saved),
    /// Not possible, and why.
    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    Unavailable(String),
}

/// Runs the exports asked for with `e` on their own thread: the file is read again and the
/// chosen handshakes written out.
struct Exporter {
    exports: Exports,
    opts: Options,
    tx: SyncSender<AppEvent>,
}

impl Exporter {
    fn start(&self, req: app::ExportRequest) {
        let path = PathBuf::from(&req.path);
        let Some(format) = crate::export::Format::from_path(&path) else {
            return;
        };
        let (inputs, selection) = match &self.exports {
            Exports::Files(p) => (p.clone(), crate::export::Selection::new(req.ids, None)),
            #[cfg(feature = "live")]
            Exports::Live(saved) => {
                // No start would select everything: say so rather than export it all.
                if req.starts.is_empty() {
                    self.tell(strings::EXPORT_NOTHING.into());
                    return;
                }
                let sel = crate::export::Selection::starting_at(req.starts);
                (vec![saved.path().to_owned()], sel)
            }
            Exports::Unavailable(why) => {
                self.tell(format!("export: not available: {why}"));
                return;
            }
        };
        #[cfg(feature = "live")]
        let saved = match &self.exports {
            Exports::Live(s) => Some(s.clone()),
            _ => None,
        };
        let opts = crate::export::Options {
            format,
            reveal_secrets: self.opts.reveal_secrets,
            config: self.opts.config,
            selection,
            merge: self.opts.merge,
            plan: self.opts.plan,
            key_logs: self.opts.key_logs.clone(),
            server_logs: self.opts.server_logs.clone(),
        };
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("authscope-export".into())
            .spawn(move || {
                let mut notes = Vec::new();
                #[cfg(feature = "live")]
                if let Some(saved) = &saved {
                    if !saved.sync(SYNC_WAIT) {
                        notes.push("the capture file was not flushed in time: the last packets may be missing".to_owned());
                    }
                }
                let msg = match crate::export::to_path(&inputs, &opts, &path) {
                    Ok(s) => {
                        notes.extend(s.notes);
                        #[cfg(feature = "live")]
                        if let Some(n) = saved.as_ref().map(|s| s.unsaved()).filter(|&n| n > 0) {
                            notes.push(strings::unsaved(n));
                        }
                        let mut m = format!(
                            "exported {} handshakes to {} ({})",
                            s.selected,
                            path.display(),
                            format.name()
                        );
                        for n in notes {
                            m.push_str("; ");
                            m.push_str(&n);
                        }
                        m
                    }
                    Err(e) => format!("export failed: {e}"),
                };
                let _ = tx.send(AppEvent::Exported(msg));
            });
        if spawned.is_err() {
            self.tell("export failed: no thread".into());
        }
    }

    fn tell(&self, message: String) {
        let _ = self.tx.try_send(AppEvent::Exported(message));
    }
}

/// SIGTERM, SIGHUP and SIGINT, watched while the UI runs: each becomes an
/// [`AppEvent::Signal`], and its number is kept for the exit status (a second one exits).
#[cfg(unix)]
mod signals {
    use super::*;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::{Handle, Signals};
    use signal_hook::SigId;

    const WATCHED: [i32; 3] = [SIGTERM, SIGHUP, SIGINT];

    pub(super) struct Watch {
        /// The number of the last signal received, 0 before any.
        received: Arc<AtomicUsize>,
        ids: Vec<SigId>,
        handle: Handle,
    }

    impl Watch {
        pub(super) fn start(tx: SyncSender<AppEvent>) -> io::Result<Watch> {
            use signal_hook::flag::{register_conditional_shutdown, register_usize};
            let received = Arc::new(AtomicUsize::new(0));
            let again = Arc::new(AtomicBool::new(false));
            let mut ids = Vec::new();
            for sig in WATCHED {
                let status = sig.saturating_add(128);
                // Registered before the flag is set, so it sees a first signal as the first:
                // a second one exits at once, in case the clean stop hangs.
                ids.push(register_conditional_shutdown(
                    sig,
                    status,
                    Arc::clone(&again),
                )?);
                ids.push(signal_hook::flag::register(sig, Arc::clone(&again))?);
                let n = usize::try_from(sig).unwrap_or(0);
                ids.push(register_usize(sig, Arc::clone(&received), n)?);
            }
            // The flags are set in the handler itself; this thread only wakes the UI.
            let mut signals = Signals::new(WATCHED)?;
            let handle = signals.handle();
            std::thread::Builder::new()
                .name("authscope-signals".into())
                .spawn(move || {
                    for sig in signals.forever() {
                        if tx.send(AppEvent::Signal(sig)).is_err() {
                            return;
                        }
                    }
                })?;
            Ok(Watch {
                received,
                ids,
                handle,
            })
        }

        /// The signal that ended the UI, if one did.
        pub(super) fn received(&self) -> Option<i32> {
            let n = self.received.load(Ordering::SeqCst);
            (n != 0).then(|| i32::try_from(n).unwrap_or(SIGTERM))
        }
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            self.handle.close();
            for id in self.ids.drain(..) {
                signal_hook::low_level::unregister(id);
            }
        }
    }
}

/// Elsewhere the terminal's own Ctrl-C is the only way to stop, and it is a key.
#[cfg(not(unix))]
mod signals {
    use super::*;

    pub(super) struct Watch;

    impl Watch {
        pub(super) fn start(_tx: SyncSender<AppEvent>) -> io::Result<Watch> {
            Ok(Watch)
        }

        pub(super) fn received(&self) -> Option<i32> {
            None
        }
    }
}

fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    state: &mut State,
    theme: &Theme,
    rx: &Receiver<AppEvent>,
    exporter: &Exporter,
) -> Result<(), UiError> {
    loop {
        let tick = if state.done { TICK_IDLE } else { TICK_LOADING };
        match rx.recv_timeout(tick) {
            Ok(ev) => {
                handle(state, ev)?;
                // Take whatever else is waiting before drawing once.
                while let Ok(ev) = rx.try_recv() {
                    handle(state, ev)?;
                    if state.quit {
                        break;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if state.quit {
            return Ok(());
        }
        if let Some(req) = state.export.take() {
            exporter.start(req);
        }
        terminal.draw(|f| view::render(f, state, theme))?;
    }
}
