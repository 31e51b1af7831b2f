//! Live capture from an interface through libpcap (feature `live`).
//!
//! libpcap is read on a thread of its own, which hands owned packets to the analysis through a
//! bounded queue: when the analysis falls behind, the queue fills and further packets are
//! counted as dropped ([`LiveStats::queue_dropped`]) instead of growing memory. The kernel's
//! and the interface's own drops come from `pcap_stats` and are read every second.
//!
//! The same thread writes the `--write` file (pcapng), so the file holds every packet that
//! libpcap delivered, even those the analysis had to drop. Without `--write`, the live UI asks
//! for a scratch file instead ([`LiveConfig::scratch`]), so that its exports can read the
//! capture again. A packet's frame number is its place in that file (packets the analysis
//! never saw still take their number), so what the analysis says of frame N is about the
//! file's packet N; [`Saved`] lets another thread read the file while the capture goes on.
//!
//! Opening follows tcpdump: open the interface, compile the filter (a filter that does not
//! compile is an error before anything starts), give up root and every capability (to the
//! `sudo` user, `nobody`, or `--user`; `confine`), then create the output file as that user.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pcapng_out as out;
use super::{Frame, LinkType, Timestamp};

/// The filter used when the user gives none: HTTP is carried over TCP.
pub const DEFAULT_FILTER: &str = "tcp";
/// Bytes kept of each packet (tcpdump's default).
pub const SNAPLEN: i32 = 262_144;
/// Packets waiting for the analysis, at most.
const QUEUE_PACKETS: usize = 16_384;
/// Bytes of packets waiting for the analysis, at most (so memory stays bounded with large
/// snap lengths too).
const QUEUE_BYTES: usize = 64 << 20;
/// How long the thread waits for a packet before it looks at its stop conditions again.
const POLL_MS: u16 = 100;
/// libpcap's own buffering timeout (immediate mode makes it moot where it is supported).
const READ_TIMEOUT_MS: i32 = 100;
/// The kernel buffer asked for (libpcap's default is 2 MiB).
const KERNEL_BUFFER: i32 = 8 << 20;
/// After a stop request, how long packets already in the kernel buffer are still read.
const DRAIN: Duration = Duration::from_millis(500);
/// How often `pcap_stats` is read and the output file flushed.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Why live capture could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    #[error("no capture interface named {interface:?} (`authscope interfaces` lists them)")]
    NoInterface { interface: String },
    #[error(
        "not permitted to capture on {interface} ({detail}); run as root, or give the binary \
         the capabilities once: sudo setcap cap_net_raw,cap_net_admin=eip {}",
        binary.display()
    )]
    NotPermitted {
        interface: String,
        detail: String,
        binary: PathBuf,
    },
    #[error("cannot capture on {interface}: {detail}")]
    Open { interface: String, detail: String },
    #[error("the capture filter {filter:?} does not compile: {detail}")]
    Filter { filter: String, detail: String },
    #[error("--user {user}: {detail}")]
    User { user: String, detail: String },
    #[error("{}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("listing capture interfaces: {detail}")]
    Devices { detail: String },
    #[error("starting the capture thread: {0}")]
    Thread(io::Error),
}

/// What to capture, and when to stop.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub interface: String,
    /// A BPF expression replacing [`DEFAULT_FILTER`].
    pub filter: Option<String>,
    /// Stop after this many packets.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Save every captured packet to this file (pcapng).
    pub write: Option<PathBuf>,
    /// When running as root: the user to become once the interface is open (by default the
    /// one who ran sudo, or nobody; `root` stays root). Capabilities go either way.
    pub user: Option<String>,
    pub promiscuous: bool,
    /// Without `write`: save the packets to a temporary file of at most this many bytes
    /// (removed when the last [`Saved`] handle goes), for exports to read again. Past the
    /// cap, packets are no longer saved, and counted ([`LiveStats::unsaved`]).
    pub scratch: Option<u64>,
}

impl LiveConfig {
    pub fn new(interface: &str) -> Self {
        LiveConfig {
            interface: interface.to_owned(),
            filter: None,
            count: None,
            duration: None,
            write: None,
            user: None,
            promiscuous: true,
            scratch: None,
        }
    }

    /// The filter in force.
    pub fn filter(&self) -> &str {
        self.filter.as_deref().unwrap_or(DEFAULT_FILTER)
    }
}

/// Counters of a live capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    /// Packets libpcap delivered to authscope.
    pub captured: u64,
    /// Packets handed to the analysis.
    pub analysed: u64,
    /// Packets the kernel received (that passed the filter), by `pcap_stats`. On Linux
    /// loopback each packet is counted twice (sent and received; libpcap keeps one copy).
    pub kernel_received: u64,
    /// Packets the kernel dropped: its buffer was full (`pcap_stats` `ps_drop`).
    pub kernel_dropped: u64,
    /// Packets the interface or its driver dropped (`ps_ifdrop`).
    pub interface_dropped: u64,
    /// Packets dropped because the analysis fell behind (the queue was full).
    pub queue_dropped: u64,
    /// Packets saved to the `--write` file (or the scratch file).
    pub written: u64,
    /// Packets captured but not saved: the scratch file reached its cap, or writing failed.
    pub unsaved: u64,
}

impl LiveStats {
    /// Every packet lost, wherever.
    pub fn dropped(&self) -> u64 {
        self.kernel_dropped
            .saturating_add(self.interface_dropped)
            .saturating_add(self.queue_dropped)
    }
}

/// What the live source has for the analysis right now.
#[derive(Debug)]
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// Nothing arrived within the wait: the clock moved on (now, wall time).
    Idle(Timestamp),
    /// The capture ended (stop condition, Ctrl-C, or an error: see [`LiveSource::errors`]) and
    /// every queued packet has been handed out.
    End,
}

/// A packet owned by the queue.
#[derive(Debug)]
struct Packet {
    /// Its place among the packets captured (and in the saved file), from 1.
    number: u64,
    ts: Timestamp,
    orig_len: u32,
    data: Vec<u8>,
}

/// State shared by the capture thread and the analysis.
#[derive(Debug, Default)]
struct Shared {
    stop: Arc<AtomicBool>,
    captured: AtomicU64,
    kernel_received: AtomicU64,
    kernel_dropped: AtomicU64,
    interface_dropped: AtomicU64,
    queue_dropped: AtomicU64,
    written: AtomicU64,
    unsaved: AtomicU64,
    queued_bytes: AtomicUsize,
    /// Flushes of the saved file asked for ([`Saved::sync`]) and done, by the capture thread.
    flush_asked: AtomicU64,
    flush_done: AtomicU64,
    /// The capture thread has ended (the file is flushed and closed).
    ended: AtomicBool,
    /// Why the capture or the file stopped early.
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, message: String) {
        if let Ok(mut e) = self.errors.lock() {
            e.push(message);
        }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

/// An interface being captured, with its thread.
#[derive(Debug)]
pub struct LiveSource {
    config: LiveConfig,
    link: LinkType,
    link_name: String,
    rx: Receiver<Packet>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The packet last handed out (its frame borrows it).
    current: Option<Packet>,
    analysed: u64,
    /// Where the packets are saved, or why they are not (the scratch file could not be made).
    saved: Result<Option<Saved>, String>,
    /// TLS key logs followed as they grow (`--keylog`).
    key_logs: super::keylog::KeyLogFiles,
}

/// The file a live capture saves its packets to (`--write`, or the scratch file), for
/// reading again while the capture goes on. Cloned freely; a scratch file is removed when the
/// last clone goes.
#[derive(Debug, Clone)]
pub struct Saved {
    file: Arc<SavedFile>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
enum SavedFile {
    Named(PathBuf),
    Scratch(tempfile::TempPath),
}

impl Saved {
    pub fn path(&self) -> &Path {
        match &*self.file {
            SavedFile::Named(p) => p,
            SavedFile::Scratch(p) => p,
        }
    }

    /// True for the temporary file of [`LiveConfig::scratch`].
    pub fn is_scratch(&self) -> bool {
        matches!(&*self.file, SavedFile::Scratch(_))
    }

    /// Has the capture thread flush the file, and waits for it at most `wait`. True when the
    /// file then holds every packet handed to the analysis before the call (the thread saves
    /// a packet before it queues it).
    pub fn sync(&self, wait: Duration) -> bool {
        let s = &self.shared;
        let ticket = s
            .flush_asked
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        let deadline = Instant::now() + wait;
        loop {
            if s.flush_done.load(Ordering::SeqCst) >= ticket || s.ended.load(Ordering::SeqCst) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Packets captured but not saved so far.
    pub fn unsaved(&self) -> u64 {
        self.shared.unsaved.load(Ordering::Relaxed)
    }

    /// Why writing stopped early, if it did.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors()
    }
}

impl LiveSource {
    /// Opens the interface, compiles the filter, drops privileges (`user`), creates the output
    /// file and starts capturing. Every error comes before the first packet is read.
    pub fn open(config: LiveConfig) -> Result<LiveSource, LiveError> {
        let iface = config.interface.clone();
        let cap = pcap::Capture::from_device(iface.as_str())
            .map_err(|e| open_error(&iface, e))?
            .promisc(config.promiscuous)
            .snaplen(SNAPLEN)
            .buffer_size(KERNEL_BUFFER)
            .timeout(READ_TIMEOUT_MS)
            // Packets are handed over as they arrive, not when the kernel buffer fills: a
            // short handshake must not sit in a buffer until the capture ends.
            .immediate_mode(true);
        // Non-blocking, and the thread waits with poll(2): on Linux a blocking read in
        // immediate mode ignores the read timeout, so it would never see a stop request.
        let mut cap = cap
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(|e| open_error(&iface, e))?;
        let filter = config.filter().to_owned();
        cap.filter(&filter, true).map_err(|e| LiveError::Filter {
            filter: filter.clone(),
            detail: pcap_detail(&e),
        })?;
        let dl = cap.get_datalink();
        let link = LinkType(u16::try_from(dl.0).unwrap_or(u16::MAX));
        let link_name = match (dl.get_name(), dl.get_description()) {
            (Ok(n), Ok(d)) => format!("{n} ({d})"),
            (Ok(n), Err(_)) => n,
            _ => format!("{}", dl.0),
        };
        confine(config.user.as_deref())?;
        let shared = Arc::new(Shared::default());
        let (tee, saved) = match (&config.write, config.scratch) {
            (Some(path), _) => {
                let w = PcapngWriter::create(path, link, &iface, &filter)?;
                let file = Arc::new(SavedFile::Named(path.clone()));
                (Tee::On(w), Ok(Some(file)))
            }
            // A scratch file that cannot be made only takes the exports away: the capture
            // still runs, and the exports say why.
            (None, Some(cap)) => match PcapngWriter::scratch(link, &iface, &filter, cap) {
                Ok((w, path)) => (Tee::On(w), Ok(Some(Arc::new(SavedFile::Scratch(path))))),
                Err(e) => (Tee::Off, Err(format!("the temporary capture file: {e}"))),
            },
            (None, None) => (Tee::Off, Ok(None)),
        };
        let saved = saved.map(|f| {
            f.map(|file| Saved {
                file,
                shared: Arc::clone(&shared),
            })
        });
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_PACKETS);
        let thread = {
            let shared = Arc::clone(&shared);
            let limits = Limits {
                count: config.count,
                deadline: config.duration.map(|d| Instant::now() + d),
            };
            std::thread::Builder::new()
                .name("authscope-capture".into())
                .spawn(move || capture_loop(cap, tx, tee, &shared, limits))
                .map_err(LiveError::Thread)?
        };
        Ok(LiveSource {
            config,
            link,
            link_name,
            rx,
            shared,
            thread: Some(thread),
            current: None,
            analysed: 0,
            saved,
            key_logs: super::keylog::KeyLogFiles::default(),
        })
    }

    /// Follows these key logs (opened with `follow`, before the privileges went, so a key
    /// log only root can read is read) for the TLS stage ([`LiveSource::take_key_log`]).
    pub fn with_key_logs(mut self, key_logs: super::keylog::KeyLogFiles) -> LiveSource {
        self.key_logs = key_logs;
        self
    }

    /// Whole lines appended to the key logs since the last call; empty when none was.
    pub fn take_key_log(&mut self) -> Vec<u8> {
        self.key_logs.take()
    }

    /// Whether key logs are followed.
    pub fn has_key_logs(&self) -> bool {
        !self.key_logs.is_empty()
    }

    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The link type as libpcap names it (`EN10MB (Ethernet)`).
    pub fn link_name(&self) -> &str {
        &self.link_name
    }

    /// The file the packets are saved to; `None` without `--write` or a scratch file, and the
    /// reason when the scratch file could not be made.
    pub fn saved(&self) -> Result<Option<&Saved>, &str> {
        match &self.saved {
            Ok(s) => Ok(s.as_ref()),
            Err(e) => Err(e),
        }
    }

    /// A flag that ends the capture when set (for Ctrl-C: `signal_hook::flag::register`).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.stop)
    }

    /// Asks the capture to end; what is queued is still handed out.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// The next packet, waiting at most `wait` for one.
    pub fn next_frame(&mut self, wait: Duration) -> Next<'_> {
        self.current = None;
        match self.rx.recv_timeout(wait) {
            Ok(p) => {
                self.shared
                    .queued_bytes
                    .fetch_sub(p.data.len(), Ordering::Relaxed);
                self.analysed = self.analysed.saturating_add(1);
                let p = self.current.insert(p);
                Next::Frame(Frame {
                    number: p.number,
                    input: 0,
                    ts: p.ts,
                    link: self.link,
                    data: &p.data,
                    orig_len: p.orig_len,
                })
            }
            Err(RecvTimeoutError::Timeout) => Next::Idle(now()),
            Err(RecvTimeoutError::Disconnected) => {
                self.join();
                Next::End
            }
        }
    }

    fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                self.shared.error("the capture thread panicked".into());
            }
        }
    }

    /// The counters so far (final once [`Next::End`] was returned).
    pub fn stats(&self) -> LiveStats {
        let s = &self.shared;
        LiveStats {
            captured: s.captured.load(Ordering::Relaxed),
            analysed: self.analysed,
            kernel_received: s.kernel_received.load(Ordering::Relaxed),
            kernel_dropped: s.kernel_dropped.load(Ordering::Relaxed),
            interface_dropped: s.interface_dropped.load(Ordering::Relaxed),
            queue_dropped: s.queue_dropped.load(Ordering::Relaxed),
            written: s.written.load(Ordering::Relaxed),
            unsaved: s.unsaved.load(Ordering::Relaxed),
        }
    }

    /// Why the capture, or the writing of its file, ended early.
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors()
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop();
        // Unblock a capture thread waiting on a full queue, then wait for it.
        while self.rx.try_recv().is_ok() {}
        self.join();
    }
}

/// The wall clock as a capture timestamp.
fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_parts(
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        i64::from(d.subsec_nanos()),
    )
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    count: Option<u64>,
    deadline: Option<Instant>,
}

/// The capture thread: read, save, queue; until a stop condition or an error.
fn capture_loop(
    mut cap: pcap::Capture<pcap::Active>,
    tx: SyncSender<Packet>,
    mut tee: Tee,
    shared: &Shared,
    limits: Limits,
) {
    let mut stats_at = Instant::now();
    // Once asked to stop, what the kernel already holds is still read (what was on the wire
    // before Ctrl-C belongs to the session), for at most DRAIN.
    let mut draining: Option<Instant> = None;
    loop {
        let asked = shared.flush_asked.load(Ordering::SeqCst);
        if asked != shared.flush_done.load(Ordering::SeqCst) {
            tee.flush(shared);
            shared.flush_done.store(asked, Ordering::SeqCst);
        }
        if limits
            .count
            .is_some_and(|n| shared.captured.load(Ordering::Relaxed) >= n)
        {
            break;
        }
        match draining {
            None => {
                if shared.stop.load(Ordering::SeqCst)
                    || limits.deadline.is_some_and(|d| Instant::now() >= d)
                {
                    draining = Some(Instant::now());
                }
            }
            Some(since) if since.elapsed() >= DRAIN => break,
            Some(_) => {}
        }
        match cap.next_packet() {
            Ok(p) => {
                let h = p.header;
                let ts = timestamp(h);
                let number = shared
                    .captured
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                tee.save(shared, ts, h.len, p.data);
                let packet = (number, ts, h.len, p.data);
                if offer(&tx, shared, QUEUE_BYTES, packet).is_err() {
                    // The analysis is gone: nothing more to do.
                    break;
                }
            }
            // Nothing to read now.
            Err(pcap::Error::TimeoutExpired) if draining.is_some() => break,
            Err(pcap::Error::TimeoutExpired) => wait_readable(&cap),
            Err(e) => {
                shared.error(format!("the capture stopped: {}", pcap_detail(&e)));
                break;
            }
        }
        if stats_at.elapsed() >= STATS_EVERY {
            stats_at = Instant::now();
            read_stats(&mut cap, shared);
            tee.flush(shared);
        }
    }
    read_stats(&mut cap, shared);
    tee.flush(shared);
    // Closed before the end is announced: a reader then sees the whole file.
    drop(tee);
    shared.ended.store(true, Ordering::SeqCst);
}

/// Where the capture thread saves packets.
enum Tee {
    /// No file was asked for.
    Off,
    On(PcapngWriter),
    /// Saving stopped (the scratch file's cap, or an error): later packets are counted.
    Stopped,
}

impl Tee {
    /// Saves a packet. Once one is not saved, no later one is, so the file stays the start of
    /// the capture and its packet numbers stay those of the capture.
    fn save(&mut self, shared: &Shared, ts: Timestamp, orig_len: u32, data: &[u8]) {
        let w = match self {
            Tee::Off => return,
            Tee::Stopped => {
                shared.unsaved.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Tee::On(w) => w,
        };
        let written = shared.written.load(Ordering::Relaxed);
        match w.packet(ts, orig_len, data) {
            Ok(true) => {
                shared.written.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(false) => shared.error(format!(
                "the temporary capture file reached its cap ({} MiB) after {written} packets: \
                 later packets are not saved, and exports cover only those",
                w.cap.unwrap_or(0) >> 20
            )),
            Err(e) => shared.error(format!(
                "{}: writing stopped after {written} packets: {e}",
                w.path.display()
            )),
        }
        shared.unsaved.fetch_add(1, Ordering::Relaxed);
        // What was written so far stays readable.
        let _ = w.flush();
        *self = Tee::Stopped;
    }

    fn flush(&mut self, shared: &Shared) {
        if let Tee::On(w) = self {
            if let Err(e) = w.flush() {
                shared.error(format!("{}: {e}", w.path.display()));
                *self = Tee::Stopped;
            }
        }
    }
}

/// Queues a copy of the packet for the analysis, or counts it as dropped when the queue is
/// full (in packets or in `max_bytes`): the capture never waits for the analysis. An error
/// means the analysis is gone.
fn offer(
    tx: &SyncSender<Packet>,
    shared: &Shared,
    max_bytes: usize,
    (number, ts, orig_len, data): (u64, Timestamp, u32, &[u8]),
) -> Result<(), ()> {
    let len = data.len();
    let queued = shared.queued_bytes.load(Ordering::Relaxed);
    if queued.saturating_add(len) > max_bytes {
        shared.queue_dropped.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    shared.queued_bytes.fetch_add(len, Ordering::Relaxed);
    let packet = Packet {
        number,
        ts,
        orig_len,
        data: data.to_vec(),
    };
    match tx.try_send(packet) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => {
            shared.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            shared.queue_dropped.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(TrySendError::Disconnected(_)) => Err(()),
    }
}

/// The time of a packet (libpcap gives microseconds unless asked for more).
// time_t and suseconds_t are i64 on Linux but narrower elsewhere (tv_usec is i32 on macOS).
#[allow(clippy::useless_conversion)]
fn timestamp(h: &pcap::PacketHeader) -> Timestamp {
    Timestamp::from_parts(
        i64::from(h.ts.tv_sec),
        i64::from(h.ts.tv_usec).saturating_mul(1000),
    )
}

/// Waits until the capture has something to read, at most [`POLL_MS`].
fn wait_readable(cap: &pcap::Capture<pcap::Active>) {
    use nix::poll::{poll, PollFd, PollFlags};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(cap.as_fd(), PollFlags::POLLIN)];
    // An interruption (EINTR, a signal) or an error only means looking again sooner.
    let _ = poll(&mut fds, POLL_MS);
}

fn read_stats(cap: &mut pcap::Capture<pcap::Active>, shared: &Shared) {
    if let Ok(s) = cap.stats() {
        shared
            .kernel_received
            .store(u64::from(s.received), Ordering::Relaxed);
        shared
            .kernel_dropped
            .store(u64::from(s.dropped), Ordering::Relaxed);
        shared
            .interface_dropped
            .store(u64::from(s.if_dropped), Ordering::Relaxed);
    }
}

/// libpcap's own words, without the crate's "libpcap error: " prefix.
fn pcap_detail(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

fn open_error(interface: &str, e: pcap::Error) -> LiveError {
    let detail = pcap_detail(&e);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        return LiveError::NotPermitted {
            interface: interface.to_owned(),
            detail,
            binary: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("authscope")),
        };
    }
    let known = pcap::Device::list()
        .map(|l| l.iter().any(|d| d.name == interface))
        .unwrap_or(true);
    if !known || lower.contains("no such device") {
        return LiveError::NoInterface {
            interface: interface.to_owned(),
        };
    }
    LiveError::Open {
        interface: interface.to_owned(),
        detail,
    }
}

/// Once the interface is open, nothing the capture does needs privileges, and hostile packets
/// are parsed from here on: as root, become `user` (by default the user who ran `sudo`, or
/// `nobody`; `root` stays root), keep no capability at all, and forbid gaining any back
/// (`no_new_privs`, which also disarms set-user-id programs).
#[cfg(target_os = "linux")]
fn confine(user: Option<&str>) -> Result<(), LiveError> {
    let stay = |detail: String| LiveError::User {
        user: user.unwrap_or("root").to_owned(),
        detail,
    };
    let drop_all = |sets: &[caps::CapSet]| {
        sets.iter().try_for_each(|set| {
            caps::clear(None, *set).map_err(|e| stay(format!("dropping the capabilities: {e}")))
        })
    };
    if nix::unistd::geteuid().is_root() {
        let target = user
            .map(str::to_owned)
            .or_else(sudo_user)
            .unwrap_or_else(|| "nobody".to_owned());
        // The bounding set while root may still change it (CAP_SETPCAP): no program started
        // later could get a capability back.
        drop_all(&[caps::CapSet::Bounding])?;
        if target != "root" {
            drop_privileges(&target)?;
        }
    } else if let Some(u) = user {
        drop_privileges(u)?;
    }
    // Changing user cleared these; staying root, they go here.
    drop_all(&[
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
        caps::CapSet::Inheritable,
        caps::CapSet::Ambient,
    ])?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| stay(format!("setting no_new_privs: {e}")))
}

/// Elsewhere only `--user` changes anything.
#[cfg(not(target_os = "linux"))]
fn confine(user: Option<&str>) -> Result<(), LiveError> {
    match user {
        Some(u) => drop_privileges(u),
        None => Ok(()),
    }
}

/// The user who ran `sudo`, when that is how authscope was started (and not as root).
#[cfg(target_os = "linux")]
fn sudo_user() -> Option<String> {
    std::env::var("SUDO_USER")
        .ok()
        .filter(|u| !u.is_empty() && u != "root")
        .filter(|u| nix::unistd::User::from_name(u).ok().flatten().is_some())
}

/// Becomes `name` (its uid, gid and groups) for good, as tcpdump's `-Z` does.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
fn drop_privileges(name: &str) -> Result<(), LiveError> {
    use nix::unistd::{geteuid, initgroups, setgid, setuid, Uid, User};
    let fail = |detail: String| LiveError::User {
        user: name.to_owned(),
        detail,
    };
    if !geteuid().is_root() {
        return Err(fail(
            "only root can change user (authscope is not running as root)".into(),
        ));
    }
    let user = User::from_name(name)
        .map_err(|e| fail(format!("looking the user up: {e}")))?
        .ok_or_else(|| fail("no such user".into()))?;
    let cname = std::ffi::CString::new(name).map_err(|_| fail("not a user name".into()))?;
    initgroups(&cname, user.gid).map_err(|e| fail(format!("setting its groups: {e}")))?;
    setgid(user.gid).map_err(|e| fail(format!("setting its group: {e}")))?;
    setuid(user.uid).map_err(|e| fail(format!("becoming it: {e}")))?;
    if !user.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(fail("root could be regained after the change".into()));
    }
    Ok(())
}

/// nix has no way to reset supplementary groups there: refuse rather than keep root's.
#[cfg(any(target_os = "macos", target_os = "ios"))]
fn drop_privileges(name: &str) -> Result<(), LiveError> {
    Err(LiveError::User {
        user: name.to_owned(),
        detail: "not supported on this platform".into(),
    })
}

/// A capture interface as `authscope interfaces` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    pub name: String,
    pub description: Option<String>,
    /// `up`, `running`, `loopback`, `wireless`, and the connection status when known.
    pub flags: Vec<&'static str>,
    /// Addresses with their prefix length (`192.0.2.7/24`).
    pub addresses: Vec<String>,
}

/// The capture devices libpcap knows of.
pub fn interfaces() -> Result<Vec<Interface>, LiveError> {
    let list = pcap::Device::list().map_err(|e| LiveError::Devices {
        detail: pcap_detail(&e),
    })?;
    Ok(list
        .into_iter()
        .map(|d| {
            let mut flags = Vec::new();
            let f = &d.flags;
            if f.is_up() {
                flags.push("up");
            }
            if f.is_running() {
                flags.push("running");
            }
            if f.is_loopback() {
                flags.push("loopback");
            }
            if f.is_wireless() {
                flags.push("wireless");
            }
            match f.connection_status {
                pcap::ConnectionStatus::Connected => flags.push("connected"),
                pcap::ConnectionStatus::Disconnected => flags.push("disconnected"),
                pcap::ConnectionStatus::Unknown | pcap::ConnectionStatus::NotApplicable => {}
            }
            let addresses = d
                .addresses
                .iter()
                .map(|a| match a.netmask.and_then(prefix_len) {
                    Some(p) => format!("{}/{p}", a.addr),
                    None => a.addr.to_string(),
                })
                .collect();
            Interface {
                name: d.name,
                description: d.desc,
                flags,
                addresses,
            }
        })
        .collect())
}

/// The prefix length of a contiguous netmask.
fn prefix_len(mask: std::net::IpAddr) -> Option<u32> {
    let (ones, bits, zeros) = match mask {
        std::net::IpAddr::V4(m) => {
            let v = u32::from(m);
            (v.count_ones(), 32, v.trailing_zeros())
        }
        std::net::IpAddr::V6(m) => {
            let v = u128::from(m);
            (v.count_ones(), 128, v.trailing_zeros())
        }
    };
    (ones.saturating_add(zeros) == bits || ones == 0).then_some(ones)
}

/// A pcapng file written as packets arrive: one section, one interface, microsecond
/// timestamps (pcapng, draft-ietf-opsawg-pcapng: 4.1 SHB, 4.2 IDB, 4.3 EPB).
struct PcapngWriter {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    /// Bytes written so far, and the most the file may take.
    bytes: u64,
    cap: Option<u64>,
    /// The block being written, reused.
    block: Vec<u8>,
}

impl PcapngWriter {
    fn create(
        path: &Path,
        link: LinkType,
        interface: &str,
        filter: &str,
    ) -> Result<PcapngWriter, LiveError> {
        let err = |source| LiveError::Write {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::create(path).map_err(err)?;
        PcapngWriter::start(file, path.to_owned(), None, link, interface, filter).map_err(err)
    }

    /// A temporary file (readable by its owner only, as `tempfile` makes them) of at most
    /// `cap` bytes; it is removed when the returned path is dropped.
    fn scratch(
        link: LinkType,
        interface: &str,
        filter: &str,
        cap: u64,
    ) -> io::Result<(PcapngWriter, tempfile::TempPath)> {
        let (file, path) = tempfile::Builder::new()
            .prefix("authscope-live-")
            .suffix(".pcapng")
            .tempfile()?
            .into_parts();
        let w = PcapngWriter::start(file, path.to_path_buf(), Some(cap), link, interface, filter)?;
        Ok((w, path))
    }

    fn start(
        file: std::fs::File,
        path: PathBuf,
        cap: Option<u64>,
        link: LinkType,
        interface: &str,
        filter: &str,
    ) -> io::Result<PcapngWriter> {
        let head = header_blocks(link, interface, filter);
        let mut w = PcapngWriter {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            bytes: head.len() as u64,
            cap,
            block: Vec::new(),
        };
        w.out.write_all(&head)?;
        w.out.flush()?;
        Ok(w)
    }

    /// Writes a packet; false (and nothing written) when it would take the file past its cap.
    fn packet(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) -> io::Result<bool> {
        let len = out::enhanced_packet_len(data.len()) as u64;
        let after = self.bytes.saturating_add(len);
        if self.cap.is_some_and(|cap| after > cap) {
            return Ok(false);
        }
        // One write a block: whenever the buffer goes to the file, the file ends on a whole
        // block, so an export reading it during the capture does not meet half a packet.
        self.block.clear();
        let p = out::Packet {
            interface: 0,
            ts,
            tsresol: 6,
            data,
            orig_len,
        };
        out::enhanced_packet(&mut self.block, &p, &[])?;
        self.out.write_all(&self.block)?;
        self.bytes = after;
        Ok(true)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The Section Header Block and the Interface Description Block.
fn header_blocks(link: LinkType, interface: &str, filter: &str) -> Vec<u8> {
    let mut v = out::section_header(&format!("authscope {}", env!("CARGO_PKG_VERSION")));
    v.extend(out::interface_description(&out::Interface {
        link,
        snaplen: u32::try_from(SNAPLEN).unwrap_or(0),
        // 10^-6 s, the default, written out for readers that ask.
        tsresol: 6,
        name: Some(interface),
        filter: Some(filter),
    }));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FileSource;

    #[test]
    fn written_pcapng_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcapng");
        let mut w = PcapngWriter::create(&path, LinkType::ETHERNET, "lo", "tcp port 80").unwrap();
        let packets: [(Timestamp, u32, &[u8]); 3] = [
            (
                Timestamp::from_parts(1_700_000_000, 123_456_000),
                5,
                b"hello",
            ),
            (Timestamp::from_parts(1_700_000_001, 7_000), 60, b"cut"),
            (Timestamp::from_parts(1_700_000_002, 0), 8, b"12345678"),
        ];
        for (ts, orig, data) in packets {
            assert!(w.packet(ts, orig, data).unwrap());
        }
        w.flush().unwrap();
        let mut f = FileSource::open(&path).unwrap();
        let mut got = Vec::new();
        while let Some(fr) = f.next_frame() {
            got.push((fr.ts, fr.orig_len, fr.data.to_vec(), fr.link));
        }
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        assert_eq!(f.stats().format, "pcapng");
        let want: Vec<_> = packets
            .iter()
            .map(|(t, o, d)| (*t, *o, d.to_vec(), LinkType::ETHERNET))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_full_queue_counts_drops_and_keeps_nothing_more() {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let shared = Shared::default();
        let ts = Timestamp(0);
        // Two fit in packets; the third is dropped.
        for n in 1..=3 {
            offer(&tx, &shared, 1000, (n, ts, 10, &[0; 10])).unwrap();
        }
        assert_eq!(shared.queue_dropped.load(Ordering::Relaxed), 1);
        assert_eq!(shared.queued_bytes.load(Ordering::Relaxed), 20);
        // Room again in packets, but not in bytes.
        let _ = rx.recv().unwrap();
        shared.queued_bytes.fetch_sub(10, Ordering::Relaxed);
        offer(&tx, &shared, 15, (4, ts, 10, &[0; 10])).unwrap();
        assert_eq!(shared.queue_dropped.load(Ordering::Relaxed), 2);
        assert_eq!(shared.queued_bytes.load(Ordering::Relaxed), 10);
        drop(rx);
        assert!(offer(&tx, &shared, 1000, (5, ts, 10, &[0; 10])).is_err());
    }

    /// Past its cap the scratch file takes no more packets (not even smaller ones, so it stays
    /// the start of the capture), counts them, says why, and reads back whole; it is removed
    /// with its path.
    #[test]
    fn the_scratch_file_stops_at_its_cap_and_reads_back() {
        let head = header_blocks(LinkType::ETHERNET, "lo", "tcp").len();
        let cap = (head + 2 * out::enhanced_packet_len(10) + 8) as u64;
        let (w, path) = PcapngWriter::scratch(LinkType::ETHERNET, "lo", "tcp", cap).unwrap();
        let shared = Shared::default();
        let mut tee = Tee::On(w);
        let ts = Timestamp::from_parts(1_700_000_000, 0);
        for (i, len) in [10usize, 10, 10, 1].into_iter().enumerate() {
            tee.save(&shared, ts, 60, &vec![i as u8; len]);
        }
        tee.flush(&shared);
        assert!(matches!(tee, Tee::Stopped));
        assert_eq!(shared.written.load(Ordering::Relaxed), 2);
        assert_eq!(shared.unsaved.load(Ordering::Relaxed), 2);
        assert!(
            shared.errors()[0].contains("reached its cap"),
            "{:?}",
            shared.errors()
        );
        let mut f = FileSource::open(&path).unwrap();
        let mut n = 0;
        while let Some(fr) = f.next_frame() {
            n += 1;
            assert_eq!(fr.number, n);
        }
        assert_eq!(n, 2);
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        let p = path.to_path_buf();
        drop(path);
        assert!(!p.exists());
    }

    /// An export asks the capture thread to flush the file and waits for its answer, or for
    /// its end; nobody answering is a timeout, not a hang.
    #[test]
    fn sync_waits_for_the_capture_thread() {
        let shared = Arc::new(Shared::default());
        let saved = Saved {
            file: Arc::new(SavedFile::Named("unused.pcapng".into())),
            shared: Arc::clone(&shared),
        };
        assert!(!saved.sync(Duration::from_millis(30)));
        // A capture thread answering as `capture_loop` does, at the top of its loop.
        let s = Arc::clone(&shared);
        let t = std::thread::spawn(move || loop {
            let asked = s.flush_asked.load(Ordering::SeqCst);
            if asked >= 2 {
                s.flush_done.store(asked, Ordering::SeqCst);
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        });
        assert!(saved.sync(Duration::from_secs(10)));
        t.join().unwrap();
        shared.ended.store(true, Ordering::SeqCst);
        assert!(saved.sync(Duration::ZERO));
    }

    /// A packet the analysis never saw (the queue was full) keeps its number, so frame numbers
    /// stay those of the saved file.
    #[test]
    fn a_packet_dropped_before_the_analysis_keeps_its_number() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let shared = Arc::new(Shared::default());
        let ts = Timestamp(0);
        offer(&tx, &shared, 1000, (1, ts, 3, b"one")).unwrap();
        offer(&tx, &shared, 1000, (2, ts, 3, b"two")).unwrap();
        assert_eq!(shared.queue_dropped.load(Ordering::Relaxed), 1);
        let mut source = LiveSource {
            config: LiveConfig::new("lo"),
            link: LinkType::ETHERNET,
            link_name: String::new(),
            rx,
            shared: Arc::clone(&shared),
            thread: None,
            current: None,
            analysed: 0,
            saved: Ok(None),
            key_logs: crate::capture::keylog::KeyLogFiles::default(),
        };
        let next = |source: &mut LiveSource| match source.next_frame(Duration::ZERO) {
            Next::Frame(f) => (f.number, f.data.to_vec()),
            other => panic!("{other:?}"),
        };
        assert_eq!(next(&mut source), (1, b"one".to_vec()));
        offer(&tx, &shared, 1000, (3, ts, 5, b"three")).unwrap();
        assert_eq!(next(&mut source), (3, b"three".to_vec()));
    }

    #[test]
    fn netmask_prefix() {
        let p = |s: &str| prefix_len(s.parse().unwrap());
        assert_eq!(p("255.255.255.0"), Some(24));
        assert_eq!(p("255.0.0.0"), Some(8));
        assert_eq!(p("0.0.0.0"), Some(0));
        assert_eq!(p("255.0.255.0"), None);
        assert_eq!(p("ffff:ffff:ffff:ffff::"), Some(64));
    }
}
