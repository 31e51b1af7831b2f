//! Stage 8 (second face): the terminal UI.
//!
//! One event enum ([`event::AppEvent`]) flows into the UI thread from two producers: a thread
//! that reads the terminal, and the [`worker`] that runs the analyzer and sends batches of new
//! handshakes. Both go through one bounded channel; the UI drains it, applies each event to
//! [`app::State`], and draws from `&State` ([`view::render`]). Nothing on the UI thread reads
//! the capture, so the first frame is drawn before a byte of it is analysed.

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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

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
        let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen);
        let _ = disable_raw_mode();
    }
}

/// `authscope open FILE...`: the UI over capture files.
pub fn run(paths: &[PathBuf], opts: &Options) -> Result<(), UiError> {
    // Opening reads only the file headers; an unusable file is an error before the screen
    // changes.
    let source = MergedSource::open(paths)?;
    let src = Source {
        names: paths.iter().map(|p| p.display().to_string()).collect(),
        total_bytes: source.total_size(),
        progress: source.files().iter().map(|f| f.progress()).collect(),
        live: None,
    };
    let exports = Exports::Files(paths.to_vec());
    run_ui(worker::Input::Files(source), src, opts, exports)
}

/// `authscope live -i IFACE`: the UI over a live capture. The interface is open (and the
/// filter compiled, privileges dropped) before the screen changes.
#[cfg(feature = "live")]
pub fn run_live(config: crate::capture::live::LiveConfig, opts: &Options) -> Result<(), UiError> {
    let source = crate::capture::live::LiveSource::open(config)?;
    let src = Source {
        live: Some(app::Live {
            interface: source.config().interface.clone(),
            ..app::Live::default()
        }),
        ..Source::default()
    };
    run_ui(
        worker::Input::Live(Box::new(source)),
        src,
        opts,
        Exports::Unavailable,
    )
}

fn run_ui(
    input: worker::Input,
    src: Source,
    opts: &Options,
    exports: Exports,
) -> Result<(), UiError> {
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
    let (tx, rx) = sync_channel::<AppEvent>(CHANNEL);
    let stop = Arc::new(AtomicBool::new(false));
    spawn_input(tx.clone())?;
    let tx_export = tx.clone();
    let worker = worker::spawn(worker::Job {
        input,
        config: opts.config,
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
    r
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
    }
    Ok(())
}

/// Where exports asked for in the UI read the handshakes from.
enum Exports {
    /// The capture files, read again: the same input and options reproduce the ids.
    Files(Vec<PathBuf>),
    /// Not possible (a live capture has no file to read again).
    #[cfg_attr(not(feature = "live"), allow(dead_code))]
    Unavailable,
}

/// Runs the exports asked for with `e` on their own thread: the files are read again and the
/// chosen handshakes (by id) written out.
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
        let paths = match &self.exports {
            Exports::Files(p) => p.clone(),
            Exports::Unavailable => {
                let _ = self
                    .tx
                    .try_send(AppEvent::Exported(strings::EXPORT_LIVE.into()));
                return;
            }
        };
        let opts = crate::export::Options {
            format,
            reveal_secrets: self.opts.reveal_secrets,
            config: self.opts.config,
            selection: crate::export::Selection::new(req.ids, None),
        };
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("authscope-export".into())
            .spawn(move || {
                let msg = match crate::export::to_path(&paths, &opts, &path) {
                    Ok(s) => format!(
                        "exported {} handshakes to {} ({})",
                        s.selected,
                        path.display(),
                        format.name()
                    ),
                    Err(e) => format!("export failed: {e}"),
                };
                let _ = tx.send(AppEvent::Exported(msg));
            });
        if spawned.is_err() {
            let _ = self
                .tx
                .try_send(AppEvent::Exported("export failed: no thread".into()));
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
