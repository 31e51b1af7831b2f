//! Capture files: pcap (both byte orders, micro- and nanosecond) and pcapng (several
//! interfaces, Enhanced and Simple Packet Blocks), read as a stream with pcap-parser.
//!
//! The reader keeps one circular buffer per file (pcap-parser's), so memory does not grow
//! with the file. Several files are merged in time order by [`MergedSource`].

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::keylog::KeyLogFiles;
use pcap_parser::pcapng::Block;
use pcap_parser::pcapng::SecretsType;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::compressed::{Compression, Cut};
use deal::OpenFiles;

mod deal;
mod rotated;
use super::{Frame, LinkType, Timestamp};

/// A capture's reader, its compression, and where its compressed stream was cut.
type Opened = (Box<dyn PcapReaderIterator + Send>, Option<Compression>, Cut);

/// The reader of the capture in `reader`'s bytes, decompressed if they are compressed; what
/// is read is counted (before decompression, as the file's size is) in `bytes_read`.
fn make_reader<R: Read + Send + 'static>(
    path: &Path,
    reader: R,
    bytes_read: &std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Opened, CaptureError> {
    let counting = CountingRead {
        inner: reader,
        count: bytes_read.clone(),
    };
    let (bytes, compression, cut) =
        super::compressed::open(counting).map_err(|source| CaptureError::Read {
            path: path.to_owned(),
            source,
        })?;
    let reader = match pcap_parser::create_reader(BUFFER, bytes) {
        Ok(r) => r,
        Err(PcapError::Eof | PcapError::UnexpectedEof | PcapError::Incomplete(_))
            if cut.get().is_some() =>
        {
            return Err(CaptureError::Read {
                path: path.to_owned(),
                source: std::io::Error::other(format!(
                    "{} before a whole capture header (truncated)",
                    cut.get().unwrap_or_default()
                )),
            })
        }
        Err(PcapError::Eof) => {
            return Err(CaptureError::Empty {
                path: path.to_owned(),
            })
        }
        Err(PcapError::ReadError) => {
            return Err(CaptureError::Read {
                path: path.to_owned(),
                source: std::io::Error::other("read failed"),
            })
        }
        Err(_) => {
            return Err(match compression {
                Some(c) => CaptureError::NotACaptureInside {
                    path: path.to_owned(),
                    compression: c.name(),
                },
                None => CaptureError::NotACapture {
                    path: path.to_owned(),
                },
            })
        }
    };
    Ok((reader, compression, cut))
}

/// The path that names standard input.
pub const STDIN: &str = "-";

/// Initial read buffer; grows for larger records up to [`MAX_RECORD`].
const BUFFER: usize = 1 << 20;
/// The largest record accepted (pcapng blocks carry options, so a little above 256 KiB
/// snap lengths); beyond it the file is judged corrupt.
const MAX_RECORD: usize = 16 << 20;

/// Why a capture file could not be read (or stopped being readable).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error("{path}: a directory, not a capture file")]
    Directory { path: PathBuf },
    #[error("{path}: a directory with no files in it")]
    EmptyDirectory { path: PathBuf },
    #[error("{path}: not a pcap or pcapng file (unrecognised header)")]
    NotACapture { path: PathBuf },
    #[error("{path}: {compression}-compressed, but not a pcap or pcapng file inside (unrecognised header)")]
    NotACaptureInside {
        path: PathBuf,
        compression: &'static str,
    },
    #[error("{path}: read error: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CaptureError {
    /// The file (or directory) it is about.
    pub fn path(&self) -> &Path {
        match self {
            CaptureError::Open { path, .. }
            | CaptureError::Empty { path }
            | CaptureError::Directory { path }
            | CaptureError::EmptyDirectory { path }
            | CaptureError::NotACapture { path }
            | CaptureError::NotACaptureInside { path, .. }
            | CaptureError::Read { path, .. } => path,
        }
    }
}

/// A problem inside a file that did not stop the analysis of what came before it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaptureWarning {
    pub file: String,
    /// The number (1-based, in this file) of the packet after the last good one.
    pub packet: u64,
    pub message: String,
    /// The time of the last good packet before it, when there was one.
    #[serde(skip)]
    pub after: Option<Timestamp>,
}

/// Per-file counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileStats {
    pub path: String,
    pub format: &'static str,
    /// How the file is compressed (`gzip`, `zstd`, `xz`), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    pub packets: u64,
    pub bytes_captured: u64,
    pub truncated_packets: u64,
    pub interfaces: u64,
    pub skipped_blocks: u64,
    /// Packet blocks of an interface that no Interface Description Block declared (pcapng
    /// 4.2): skipped, as nothing says how to read them (the first one is also a warning).
    pub undeclared_interface_packets: u64,
    /// Records with no bytes captured (the first one is also a warning).
    pub empty_records: u64,
    /// Decryption Secrets Blocks holding a TLS key log (pcapng 4.7), and the bytes of them
    /// past [`MAX_KEY_LOG_BYTES`], dropped.
    #[serde(skip_serializing_if = "is_zero")]
    pub tls_key_log_blocks: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tls_key_log_dropped_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The TLS key log text a file's Decryption Secrets Blocks may hold, at most (a key log line is
/// about 180 bytes: some 370 000 connections' keys).
pub const MAX_KEY_LOG_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Units per second of this interface's timestamps.
    resolution: u64,
    offset_secs: i64,
}

/// A bounded reader that counts what it has consumed, for progress gauges.
struct CountingRead<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// One capture file, read block by block.
pub struct FileSource {
    path: PathBuf,
    /// `None` before a deferred file's first read, and after the end.
    reader: Option<Box<dyn PcapReaderIterator + Send>>,
    /// Where a compressed stream stopped early, and why.
    cut: Cut,
    /// Bytes of the block returned last time, consumed on the next call.
    pending: usize,
    /// The packet at the head of the buffer, once `step` has read it.
    head: Option<PacketInfo>,
    legacy: Option<Interface>,
    /// Byte order of the current pcapng section, once its header was read.
    ng_big_endian: Option<bool>,
    interfaces: Vec<Interface>,
    done: bool,
    stats: FileStats,
    warnings: Vec<CaptureWarning>,
    /// The time of the first packet handed out.
    first_ts: Option<Timestamp>,
    /// The time of the last packet handed out.
    last_ts: Option<Timestamp>,
    /// The warning about packets of undeclared interfaces, kept up to date with their count,
    /// and the interface and byte offset of the first.
    undeclared_warning: Option<usize>,
    undeclared_first: Option<(u32, u64)>,
    /// Bytes of the file consumed before the block at the head, for messages.
    offset: u64,
    bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    size: u64,
    /// The TLS key log text of Decryption Secrets Blocks read and not yet taken: secrets,
    /// never in a Debug output.
    key_log: Vec<u8>,
    /// The files of its input held open, counted while this one is.
    open_files: Option<(std::sync::Arc<OpenFiles>, bool)>,
}

impl Drop for FileSource {
    fn drop(&mut self) {
        self.let_go();
    }
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish()
    }
}

/// A frame with owned-free metadata, as seen before the merge assigns its number.
enum Next<'a> {
    Frame(Frame<'a>),
    Skip,
    End,
}

impl FileSource {
    /// The capture file at `path`, or standard input for `-`; compressed or not.
    pub fn open(path: &Path) -> Result<FileSource, CaptureError> {
        if path == Path::new(STDIN) {
            return FileSource::from_reader(path, std::io::stdin(), 0);
        }
        let file = File::open(path).map_err(|source| CaptureError::Open {
            path: path.to_owned(),
            source,
        })?;
        let meta = file.metadata();
        if meta.as_ref().is_ok_and(|m| m.is_dir()) {
            return Err(CaptureError::Directory {
                path: path.to_owned(),
            });
        }
        let size = meta.map(|m| m.len()).unwrap_or(0);
        FileSource::from_reader(path, file.take(size), size)
    }

    /// The capture file at `path`, checked now and opened again when its first packet is
    /// asked for, and closed at its end: of many files read one after the other, one at a
    /// time holds a descriptor and a read buffer.
    pub fn deferred(path: &Path) -> Result<FileSource, CaptureError> {
        let mut f = FileSource::open(path)?;
        if path != Path::new(STDIN) {
            f.reader = None;
            f.bytes_read.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(f)
    }

    /// A capture read from any byte stream (a pipe, or memory in tests and fuzzing); `path`
    /// names it in messages and `size` (0 if unknown) is for progress gauges.
    pub fn from_reader<R: Read + Send + 'static>(
        path: &Path,
        reader: R,
        size: u64,
    ) -> Result<FileSource, CaptureError> {
        let bytes_read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (reader, compression, cut) = make_reader(path, reader, &bytes_read)?;
        let mut f = FileSource::unopened(path, size, bytes_read);
        f.reader = Some(reader);
        f.cut = cut;
        f.stats.compression = compression.map(Compression::name);
        Ok(f)
    }

    /// The file at `path`, of `size` bytes, before anything is read.
    fn unopened(
        path: &Path,
        size: u64,
        bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> FileSource {
        FileSource {
            path: path.to_owned(),
            reader: None,
            cut: Cut::default(),
            pending: 0,
            head: None,
            legacy: None,
            ng_big_endian: None,
            interfaces: Vec::new(),
            done: false,
            stats: FileStats {
                path: path.display().to_string(),
                ..FileStats::default()
            },
            warnings: Vec::new(),
            first_ts: None,
            last_ts: None,
            undeclared_warning: None,
            undeclared_first: None,
            offset: 0,
            bytes_read,
            size,
            key_log: Vec::new(),
            open_files: None,
        }
    }

    /// The file's descriptor and read buffer go (it is no longer counted open).
    fn let_go(&mut self) {
        self.reader = None;
        if let Some((files, open)) = self.open_files.as_mut() {
            if std::mem::take(open) {
                files.closed();
            }
        }
    }

    /// The same file not yet opened, to be read from its start as far as its size when
    /// first opened.
    fn closed_copy(&self) -> FileSource {
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut copy = FileSource::unopened(&self.path, self.size, counter);
        copy.open_files = self.open_files.as_ref().map(|(f, _)| (f.clone(), false));
        copy
    }

    /// At the end of the file: its descriptor and read buffer are let go.
    fn finish(&mut self) {
        self.done = true;
        self.let_go();
        self.head = None;
        self.pending = 0;
    }

    /// Opens a deferred file for its first read; false (with a warning) when it cannot be.
    fn ensure_open(&mut self) -> bool {
        if self.reader.is_some() {
            return true;
        }
        let opened = File::open(&self.path)
            .map_err(|source| CaptureError::Open {
                path: self.path.clone(),
                source,
            })
            .and_then(|file| make_reader(&self.path, file.take(self.size), &self.bytes_read));
        match opened {
            Ok((reader, compression, cut)) => {
                self.reader = Some(reader);
                self.stats.compression = compression.map(Compression::name);
                self.cut = cut;
                if let Some((files, open)) = self.open_files.as_mut() {
                    files.opened();
                    *open = true;
                }
                true
            }
            Err(e) => {
                self.warn(format!("{e}: the file changed since it was checked"));
                self.done = true;
                false
            }
        }
    }

    /// The TLS key log text of the Decryption Secrets Blocks read since the last call (NSS
    /// key log lines), for the TLS stage.
    pub fn take_key_log(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.key_log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes (0 if unknown).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A shared counter of the bytes read from the file so far.
    pub fn progress(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.bytes_read.clone()
    }

    pub fn stats(&self) -> &FileStats {
        &self.stats
    }

    pub fn warnings(&self) -> &[CaptureWarning] {
        &self.warnings
    }

    /// The times of the first and the last packet read, once one was.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        self.first_ts.zip(self.last_ts)
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(CaptureWarning {
            file: self.path.display().to_string(),
            packet: self.stats.packets.saturating_add(1),
            message,
            after: self.last_ts,
        });
    }

    /// The next packet of the file (its `number` is the position in this file), or `None` at
    /// the end. A damaged file ends early with a warning; the packets before it stand.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            if self.done || !self.ensure_open() {
                return None;
            }
            if self.pending > 0 {
                // Not `consume`: past half the buffer it moves the unread half to the front,
                // copying the whole file once more. `refill` moves only the partial record
                // left when the buffer runs out.
                if let Some(r) = self.reader.as_mut() {
                    r.consume_noshift(self.pending);
                }
                self.offset = self.offset.saturating_add(self.pending as u64);
                self.pending = 0;
                self.head = None;
            }
            // Two-phase: decide with a short borrow, then re-borrow for the frame, so the
            // refill path never overlaps a borrowed block.
            match self.step() {
                Step::Again => continue,
                Step::Stop => return None,
                Step::Frame => {}
            }
            return match self.frame_at_head() {
                Next::Frame(f) => Some(f),
                Next::Skip | Next::End => None,
            };
        }
    }

    /// Parses the head block; consumes and records metadata blocks; says whether the head is a
    /// packet ready to be returned.
    fn step(&mut self) -> Step {
        let Some(reader) = self.reader.as_mut() else {
            return Step::Stop;
        };
        // pcapng 3.1: a block is at least 12 bytes long, in multiples of 4. pcap-parser trusts
        // a shorter length for some block types and subtracts 12 from it (an overflow), so the
        // length is checked here first.
        if let Some(len) = self
            .ng_big_endian
            .and_then(|big| ng_block_length(reader.data(), big))
        {
            if len < 12 || len % 4 != 0 {
                self.warn(format!(
                    "corrupt block length {len} (pcapng blocks are at least 12 bytes, in \
                     multiples of 4)"
                ));
                self.finish();
                return Step::Stop;
            }
        }
        let legacy = self.legacy;
        let interfaces = &self.interfaces;
        // For a message if the block turns out corrupt.
        let head_type = reader
            .data()
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok());
        let (ng_big_endian, offset) = (self.ng_big_endian, self.offset);
        let outcome = match reader.next() {
            Ok((len, block)) => match block {
                PcapBlockOwned::LegacyHeader(h) => {
                    self.stats.format = "pcap";
                    self.stats.interfaces = 1;
                    self.legacy = Some(Interface {
                        link: LinkType(h.network.0 as u16),
                        resolution: if h.is_nanosecond_precision() {
                            1_000_000_000
                        } else {
                            1_000_000
                        },
                        offset_secs: i64::from(h.thiszone),
                    });
                    Outcome::Meta(len)
                }
                PcapBlockOwned::Legacy(b) if legacy.is_some() => {
                    let iface = legacy.unwrap_or(DEFAULT_IFACE);
                    let frac = i64::from(b.ts_usec);
                    let nanos = if iface.resolution == 1_000_000_000 {
                        frac
                    } else {
                        frac.saturating_mul(1000)
                    };
                    let secs = i64::from(b.ts_sec).saturating_add(iface.offset_secs);
                    Outcome::Packet(
                        len,
                        PacketInfo {
                            ts: Timestamp::from_parts(secs, nanos),
                            link: iface.link,
                            data: b.data.as_ptr() as usize,
                            caplen: b
                                .caplen
                                .min(u32::try_from(b.data.len()).unwrap_or(u32::MAX)),
                            orig_len: b.origlen,
                        },
                    )
                }
                PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                    self.stats.format = "pcapng";
                    self.ng_big_endian = Some(shb.big_endian());
                    // Interface ids are per section (pcapng 4.1).
                    self.interfaces.clear();
                    Outcome::Meta(len)
                }
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    let resolution = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                    self.interfaces.push(Interface {
                        link: LinkType(idb.linktype.0 as u16),
                        resolution,
                        offset_secs: idb.ts_offset(),
                    });
                    self.stats.interfaces = self.stats.interfaces.saturating_add(1);
                    Outcome::Meta(len)
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(b))
                    if (b.if_id as usize) < interfaces.len() =>
                {
                    let iface = interfaces
                        .get(b.if_id as usize)
                        .copied()
                        .unwrap_or(DEFAULT_IFACE);
                    // pcapng 4.3: a 64-bit count of if_tsresol units since 1970 (plus if_tsoffset).
                    let raw = (u64::from(b.ts_high) << 32) | u64::from(b.ts_low);
                    let secs = i64::try_from(raw / iface.resolution)
                        .unwrap_or(i64::MAX)
                        .saturating_add(iface.offset_secs);
                    let frac = u128::from(raw % iface.resolution) * 1_000_000_000
                        / u128::from(iface.resolution);
                    Outcome::Packet(
                        len,
                        PacketInfo {
                            ts: Timestamp::from_parts(secs, i64::try_from(frac).unwrap_or(0)),
                            link: iface.link,
                            data: b.data.as_ptr() as usize,
                            caplen: b
                                .caplen
                                .min(u32::try_from(b.data.len()).unwrap_or(u32::MAX)),
                            orig_len: b.origlen,
                        },
                    )
                }
                // An SPB has no timestamp and belongs to interface 0 (pcapng 4.4).
                PcapBlockOwned::NG(Block::SimplePacket(b)) if !interfaces.is_empty() => {
                    let iface = interfaces.first().copied().unwrap_or(DEFAULT_IFACE);
                    Outcome::Packet(
                        len,
                        PacketInfo {
                            ts: Timestamp(0),
                            link: iface.link,
                            data: b.data.as_ptr() as usize,
                            caplen: b
                                .origlen
                                .min(u32::try_from(b.data.len()).unwrap_or(u32::MAX)),
                            orig_len: b.origlen,
                        },
                    )
                }
                // pcapng 4.7: the secrets that decrypt the packets after it, here a TLS key log.
                PcapBlockOwned::NG(Block::DecryptionSecrets(dsb))
                    if dsb.secrets_type == SecretsType::TlsKeyLog =>
                {
                    self.stats.tls_key_log_blocks = self.stats.tls_key_log_blocks.saturating_add(1);
                    // The block's data is padded to 32 bits: the secrets are its first
                    // `secrets_len` bytes.
                    let secrets = usize::try_from(dsb.secrets_len).unwrap_or(usize::MAX);
                    let data = dsb.data.get(..secrets).unwrap_or(dsb.data);
                    let room = MAX_KEY_LOG_BYTES.saturating_sub(self.key_log.len());
                    let take = data.len().min(room);
                    self.key_log
                        .extend_from_slice(data.get(..take).unwrap_or_default());
                    self.key_log.push(b'\n');
                    let dropped =
                        u64::try_from(data.len().saturating_sub(take)).unwrap_or(u64::MAX);
                    self.stats.tls_key_log_dropped_bytes =
                        self.stats.tls_key_log_dropped_bytes.saturating_add(dropped);
                    Outcome::Meta(len)
                }
                // Packets of an interface never described: nothing says how to read them
                // (tshark calls the file corrupt); skipped, and said.
                PcapBlockOwned::NG(Block::EnhancedPacket(b)) => Outcome::Undeclared(len, b.if_id),
                PcapBlockOwned::NG(Block::SimplePacket(_)) => Outcome::Undeclared(len, 0),
                // Blocks we have no use for (name resolution, statistics, custom ...).
                PcapBlockOwned::Legacy(_) | PcapBlockOwned::NG(_) => {
                    self.stats.skipped_blocks = self.stats.skipped_blocks.saturating_add(1);
                    Outcome::Meta(len)
                }
            },
            Err(PcapError::Eof) => Outcome::End,
            Err(PcapError::Incomplete(_)) => Outcome::Refill,
            Err(PcapError::UnexpectedEof) => Outcome::Fault(TRUNCATED.into()),
            Err(PcapError::BufferTooSmall) => Outcome::Grow,
            Err(PcapError::ReadError) => Outcome::Fault("read error".into()),
            Err(e) => Outcome::Fault(corrupt(head_type, ng_big_endian, offset, &e)),
        };
        match outcome {
            Outcome::Meta(len) => {
                self.pending = len;
                Step::Again
            }
            Outcome::Undeclared(len, if_id) => {
                self.pending = len;
                self.stats.undeclared_interface_packets =
                    self.stats.undeclared_interface_packets.saturating_add(1);
                let n = self.stats.undeclared_interface_packets;
                let (first_id, at) = *self.undeclared_first.get_or_insert((if_id, self.offset));
                let message = format!(
                    "{n} packet block{} of an interface that no Interface Description Block \
                     declared, skipped: nothing says how to read {} (pcapng 4.2; the first \
                     names interface {first_id}, at byte {at})",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" },
                );
                // One warning, at the first, that counts them all.
                match self
                    .undeclared_warning
                    .and_then(|i| self.warnings.get_mut(i))
                {
                    Some(w) => w.message = message,
                    None => {
                        self.undeclared_warning = Some(self.warnings.len());
                        self.warn(message);
                    }
                }
                Step::Again
            }
            Outcome::Packet(len, info) => {
                let (caplen, orig_len) = (info.caplen, info.orig_len);
                if caplen == 0 {
                    if self.stats.empty_records == 0 {
                        self.warn(
                            "empty record (no bytes captured; later ones are only counted)".into(),
                        );
                    }
                    self.stats.empty_records = self.stats.empty_records.saturating_add(1);
                }
                // Where the packet bytes start in the reader's buffer, to slice them again
                // without parsing the block twice.
                let base = self
                    .reader
                    .as_ref()
                    .map_or(0, |r| r.data().as_ptr() as usize);
                self.head = Some(PacketInfo {
                    data: info.data.saturating_sub(base),
                    ..info
                });
                self.pending = len;
                self.stats.packets = self.stats.packets.saturating_add(1);
                self.stats.bytes_captured =
                    self.stats.bytes_captured.saturating_add(u64::from(caplen));
                if caplen < orig_len {
                    self.stats.truncated_packets = self.stats.truncated_packets.saturating_add(1);
                }
                Step::Frame
            }
            Outcome::End => {
                if let Some(why) = self.cut.get() {
                    // A compressed stream cut between two records.
                    self.warn(format!("{why} (truncated)"));
                }
                self.finish();
                Step::Stop
            }
            Outcome::Refill => {
                if self.reader.as_mut().is_none_or(|r| r.refill().is_err()) {
                    self.warn("read error".into());
                    self.finish();
                    return Step::Stop;
                }
                Step::Again
            }
            Outcome::Grow => {
                let grown = self.reader.as_mut().is_some_and(|r| {
                    let cap = r.data().len().saturating_mul(2).max(BUFFER * 2);
                    cap <= MAX_RECORD && r.grow(cap)
                });
                if !grown {
                    self.warn(format!(
                        "a record larger than {} MiB: the file is corrupt or not a capture",
                        MAX_RECORD >> 20
                    ));
                    self.finish();
                    return Step::Stop;
                }
                Step::Again
            }
            Outcome::Fault(msg) => {
                let msg = match self.cut.get() {
                    Some(why) => format!("{msg}; {why}"),
                    None => msg,
                };
                self.warn(msg);
                self.finish();
                Step::Stop
            }
        }
    }

    /// The frame for the packet block at the head of the buffer, as `step` described it.
    fn frame_at_head(&mut self) -> Next<'_> {
        let Some(info) = self.head else {
            return Next::End;
        };
        let start = info.data;
        let end = start.saturating_add(usize::try_from(info.caplen).unwrap_or(usize::MAX));
        let Some(data) = self.reader.as_ref().and_then(|r| r.data().get(start..end)) else {
            return Next::Skip;
        };
        self.first_ts = self.first_ts.or(Some(info.ts));
        self.last_ts = Some(info.ts);
        Next::Frame(Frame {
            number: self.stats.packets,
            input: 0,
            ts: info.ts,
            link: info.link,
            data,
            orig_len: info.orig_len,
        })
    }
}

/// What a file cut in the middle of a record is told with (and a compressed stream cut anywhere).
const TRUNCATED: &str = "the file ends in the middle of a record (truncated)";

/// The total length of the pcapng block at the start of `data`, in the section's byte order;
/// `None` for a section header (its own byte order) or when too little is buffered.
/// A parser fault in words: which block (by its type, pcapng 3.1 and 4), where, what is
/// wrong with it.
fn corrupt(
    head_type: Option<[u8; 4]>,
    ng_big_endian: Option<bool>,
    offset: u64,
    e: &PcapError<&[u8]>,
) -> String {
    let block = match (ng_big_endian, head_type) {
        (Some(big), Some(t)) => {
            let kind = if big {
                u32::from_be_bytes(t)
            } else {
                u32::from_le_bytes(t)
            };
            match kind {
                0x0A0D_0D0A => "Section Header Block".to_owned(),
                1 => "Interface Description Block".to_owned(),
                3 => "Simple Packet Block".to_owned(),
                4 => "Name Resolution Block".to_owned(),
                5 => "Interface Statistics Block".to_owned(),
                6 => "Enhanced Packet Block".to_owned(),
                k => format!("block of type 0x{k:08x}"),
            }
        }
        (Some(_), None) => "block".to_owned(),
        (None, _) => "packet record".to_owned(),
    };
    let what = match e {
        PcapError::HeaderNotRecognized => "its header is neither pcap's nor pcapng's",
        PcapError::NomError(..) | PcapError::OwnedNomError(..) => {
            "its fields do not fit its length (a damaged or cut block)"
        }
        _ => "it cannot be read",
    };
    format!("corrupt {block} at byte {offset}: {what}; the packets before it stand")
}

fn ng_block_length(data: &[u8], big_endian: bool) -> Option<u32> {
    let kind = data.get(..4)?;
    if kind == [0x0A, 0x0D, 0x0D, 0x0A] {
        return None;
    }
    let len = <[u8; 4]>::try_from(data.get(4..8)?).ok()?;
    Some(if big_endian {
        u32::from_be_bytes(len)
    } else {
        u32::from_le_bytes(len)
    })
}

/// A packet block as `step` read it; `data` is first an address, then an offset in the buffer.
#[derive(Debug, Clone, Copy)]
struct PacketInfo {
    ts: Timestamp,
    link: LinkType,
    data: usize,
    caplen: u32,
    orig_len: u32,
}

const DEFAULT_IFACE: Interface = Interface {
    link: LinkType::ETHERNET,
    resolution: 1_000_000,
    offset_secs: 0,
};

enum Outcome {
    Meta(usize),
    /// Block length, and the interface a packet block names that was never declared.
    Undeclared(usize, u32),
    /// Block length and the packet.
    Packet(usize, PacketInfo),
    End,
    Refill,
    Grow,
    Fault(String),
}

enum Step {
    Again,
    Stop,
    Frame,
}

/// The files to analyse: each its own capture, one after the other (frames numbered in their
/// file, [`Frame::input`] its index), or with [`MergedSource::merged`] one capture in time
/// order (ties: the file named first), numbered 1, 2, 3 ... over all, as `mergecap` joins
/// rotated files.
#[derive(Debug)]
pub struct MergedSource {
    files: Vec<FileSource>,
    /// Timestamp of each file's head packet, once peeked; `None` when the file is exhausted.
    heads: Vec<Option<Option<Timestamp>>>,
    number: u64,
    /// Files named but not usable at all (the others are still read).
    skipped: Vec<CaptureError>,
    merge: bool,
    /// The file being read, when each is its own capture.
    current: usize,
    /// Key logs read beside the files (`--keylog`).
    key_logs: KeyLogFiles,
    /// The server's records read beside the files (`--server-log`, `--events`), until the
    /// driver takes them.
    server_logs: Option<Box<super::serverlog::ServerLogs>>,
    /// Each file's capture ([`Frame::input`]) when these are some of an input's files
    /// ([`MergedSource::deal`]); else its place here.
    inputs: Vec<u32>,
    /// The files held open at once.
    open_files: std::sync::Arc<OpenFiles>,
}

impl MergedSource {
    /// Opens every file that can be opened. One unusable file among several is skipped and
    /// listed in [`MergedSource::skipped`] (a directory of captures with a stray text file in
    /// it is still worth analysing); when none can be opened, the first error.
    ///
    /// A directory stands for the files in it, in the order of their names (digits compared
    /// as numbers: `cap2` before `cap10`, as `tcpdump -C` numbers them); `-` for standard
    /// input. Files are checked now and opened when read ([`FileSource::deferred`]).
    pub fn open(paths: &[PathBuf]) -> Result<MergedSource, CaptureError> {
        let mut files = Vec::with_capacity(paths.len());
        let mut skipped = Vec::new();
        let open_files = std::sync::Arc::new(OpenFiles::default());
        for p in super::dir::expand(paths, &mut skipped) {
            match FileSource::deferred(&p) {
                Ok(mut f) => {
                    if f.reader.is_none() {
                        f.open_files = Some((open_files.clone(), false));
                    }
                    files.push(f)
                }
                Err(e) => skipped.push(e),
            }
        }
        if files.is_empty() {
            if let Some(first) = skipped.into_iter().next() {
                return Err(first);
            }
            return Ok(MergedSource::new(files));
        }
        let mut m = MergedSource::new(files);
        m.skipped = skipped;
        m.open_files = open_files;
        Ok(m)
    }

    pub fn new(files: Vec<FileSource>) -> MergedSource {
        let heads = vec![None; files.len()];
        MergedSource {
            files,
            heads,
            number: 0,
            skipped: Vec::new(),
            merge: false,
            current: 0,
            key_logs: KeyLogFiles::default(),
            server_logs: None,
            inputs: Vec::new(),
            open_files: std::sync::Arc::default(),
        }
    }

    /// Reads the server's records beside the files: IIS W3C and HTTPERR logs, and Windows
    /// events (EVTX, or wevtutil's XML), for the join to the handshakes.
    pub fn with_server_logs(
        mut self,
        paths: &super::serverlog::ServerLogPaths,
    ) -> Result<MergedSource, CaptureError> {
        if !paths.is_empty() {
            self.server_logs = Some(Box::new(super::serverlog::ServerLogs::read(
                &paths.logs,
                &paths.events,
            )?));
        }
        Ok(self)
    }

    /// The server's records, once.
    pub fn take_server_logs(&mut self) -> Option<super::serverlog::ServerLogs> {
        self.server_logs.take().map(|b| *b)
    }

    /// Reads these key logs beside the files, for the TLS stage ([`MergedSource::take_key_log`]).
    pub fn with_key_logs(mut self, paths: &[PathBuf]) -> Result<MergedSource, CaptureError> {
        self.key_logs = KeyLogFiles::open(paths, false)?;
        Ok(self)
    }

    /// Reads the files as one capture in time order (`--merge`) rather than each on its own.
    pub fn merged(mut self, merge: bool) -> MergedSource {
        self.merge = merge;
        self
    }

    /// Whether the files are read as one capture.
    pub fn is_merged(&self) -> bool {
        self.merge
    }

    /// How many captures the frames come from: one when merged, else one per file.
    pub fn captures(&self) -> usize {
        if self.merge {
            1
        } else {
            self.files.len()
        }
    }

    /// The names of the captures, by [`Frame::input`], when there are several (empty for
    /// one: its frames need no name).
    pub fn capture_names(&self) -> Vec<String> {
        if self.captures() < 2 {
            return Vec::new();
        }
        self.files
            .iter()
            .map(|f| f.path().display().to_string())
            .collect()
    }

    /// Files that could not be opened, and why.
    pub fn skipped(&self) -> &[CaptureError] {
        &self.skipped
    }

    pub fn files(&self) -> &[FileSource] {
        &self.files
    }

    /// TLS key log text not handed on yet, in whole lines: the next piece of the key log
    /// files, and what the files' Decryption Secrets Blocks held ([`FileSource::take_key_log`]).
    /// Empty when there is nothing new.
    pub fn take_key_log(&mut self) -> Vec<u8> {
        let mut all = self.key_logs.take();
        for f in &mut self.files {
            all.append(&mut f.key_log);
        }
        all
    }

    /// Total size of the inputs in bytes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(FileSource::size).sum()
    }

    /// The next frame: of the file being read, then of the next one; or, merged, the next
    /// over all files in time order.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        if !self.merge || self.files.len() == 1 {
            return self.next_in_turn();
        }
        self.number = self.number.saturating_add(1);
        let number = self.number;
        // Peek each file whose head is unknown. Peeking reads the head frame; it is returned
        // later without re-reading because FileSource keeps it pending until the next call.
        let mut best: Option<(usize, Timestamp)> = None;
        for (i, head) in self.heads.iter_mut().enumerate() {
            if head.is_none() {
                let ts = self
                    .files
                    .get_mut(i)
                    .and_then(|f| f.next_frame().map(|fr| fr.ts));
                *head = Some(ts);
            }
            if let Some(Some(ts)) = head {
                if best.is_none_or(|(_, b)| *ts < b) {
                    best = Some((i, *ts));
                }
            }
        }
        let (i, _) = best?;
        if let Some(h) = self.heads.get_mut(i) {
            *h = None;
        }
        let file = self.files.get_mut(i)?;
        let f = file.current_frame()?;
        Some(Frame {
            number,
            input: 0,
            ..f
        })
    }

    /// Each file whole, in the order named: its frames keep their own numbers.
    fn next_in_turn(&mut self) -> Option<Frame<'_>> {
        if self.files.len() == 1 {
            return self.files.first_mut()?.next_frame();
        }
        while self.current < self.files.len() {
            let i = self.current;
            let Some(f) = self.files.get_mut(i) else {
                break;
            };
            if f.peek_more() {
                break;
            }
            // Its keys are for it alone, and nothing of it follows.
            f.key_log.clear();
            self.current = self.current.saturating_add(1);
        }
        let i = self.current;
        let input = if self.merge {
            0
        } else {
            u32::try_from(i).unwrap_or(u32::MAX)
        };
        let f = self.files.get_mut(i)?.current_frame()?;
        Some(Frame { input, ..f })
    }
}

impl FileSource {
    /// Reads on to the next frame and keeps it pending for [`FileSource::current_frame`];
    /// false at the end.
    fn peek_more(&mut self) -> bool {
        self.next_frame().is_some()
    }

    /// The frame returned by the last `next_frame`, again (its block is still pending).
    fn current_frame(&mut self) -> Option<Frame<'_>> {
        if self.pending == 0 || self.done {
            return None;
        }
        match self.frame_at_head() {
            Next::Frame(f) => Some(f),
            Next::Skip | Next::End => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(
        big_endian: bool,
        nanos: bool,
        link: u32,
        packets: &[(u32, u32, &[u8], u32)],
    ) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut v = Vec::new();
        let put32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let put16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        put32(&mut v, magic);
        put16(&mut v, 2);
        put16(&mut v, 4);
        put32(&mut v, 0);
        put32(&mut v, 0);
        put32(&mut v, 65535);
        put32(&mut v, link);
        for (sec, frac, data, orig) in packets {
            put32(&mut v, *sec);
            put32(&mut v, *frac);
            put32(&mut v, data.len() as u32);
            put32(&mut v, *orig);
            v.extend_from_slice(data);
        }
        v
    }

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&body);
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    fn pcapng() -> Vec<u8> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let mut v = block(0x0A0D_0D0A, &shb);
        // Interface 0: Ethernet, microseconds. Interface 1: raw IP, nanoseconds (if_tsresol 9).
        let mut idb0 = Vec::new();
        idb0.extend_from_slice(&1u16.to_le_bytes());
        idb0.extend_from_slice(&0u16.to_le_bytes());
        idb0.extend_from_slice(&0u32.to_le_bytes());
        v.extend(block(1, &idb0));
        let mut idb1 = Vec::new();
        idb1.extend_from_slice(&101u16.to_le_bytes());
        idb1.extend_from_slice(&0u16.to_le_bytes());
        idb1.extend_from_slice(&0u32.to_le_bytes());
        idb1.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        v.extend(block(1, &idb1));
        let epb = |if_id: u32, ts: u64, data: &[u8]| {
            let mut b = Vec::new();
            b.extend_from_slice(&if_id.to_le_bytes());
            b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            b.extend_from_slice(&(ts as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&(data.len() as u32 + 10).to_le_bytes());
            b.extend_from_slice(data);
            block(6, &b)
        };
        v.extend(epb(0, 1_700_000_000_123_456, b"ether"));
        v.extend(epb(1, 1_700_000_000_987_654_321, b"rawip"));
        let mut spb = Vec::new();
        spb.extend_from_slice(&3u32.to_le_bytes());
        spb.extend_from_slice(b"abc");
        v.extend(block(3, &spb));
        v
    }

    /// pcapng 4.7: a Decryption Secrets Block (type 0x0000000A): secrets type, length, data.
    fn dsb(kind: u32, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        block(0x0A, &b)
    }

    #[test]
    fn tls_key_logs_of_decryption_secrets_blocks_are_kept_for_the_tls_stage() {
        let line = b"CLIENT_RANDOM 00 11";
        let mut bytes = pcapng();
        // After the interfaces, before more packets: where editcap --inject-secrets puts them.
        let at = bytes.len();
        bytes.extend(dsb(0x544c_534b, line));
        // A WireGuard key log is not the TLS stage's: skipped.
        bytes.extend(dsb(0x5747_4b4c, b"LOCAL_STATIC_PRIVATE_KEY = x"));
        let (got, mut f) = read_all(&bytes);
        assert_eq!(got.len(), 3, "the packets are all read: {at}");
        assert_eq!(f.stats().tls_key_log_blocks, 1);
        assert_eq!(f.stats().skipped_blocks, 1);
        assert_eq!(f.take_key_log(), b"CLIENT_RANDOM 00 11\n");
        assert!(f.take_key_log().is_empty(), "taken once");
        assert!(
            !format!("{f:?}").contains("CLIENT_RANDOM"),
            "never in a Debug output"
        );
    }

    /// (number, time, link, bytes, length on the wire) of each frame read.
    type Read = (u64, Timestamp, LinkType, Vec<u8>, u32);

    fn read_all(bytes: &[u8]) -> (Vec<Read>, FileSource) {
        let dir = std::env::temp_dir().join(format!(
            "authscope-capture-{}-{}",
            std::process::id(),
            bytes.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.cap");
        std::fs::write(&path, bytes).unwrap();
        let mut f = FileSource::open(&path).unwrap();
        let mut got = Vec::new();
        while let Some(fr) = f.next_frame() {
            got.push((fr.number, fr.ts, fr.link, fr.data.to_vec(), fr.orig_len));
        }
        std::fs::remove_dir_all(&dir).ok();
        (got, f)
    }

    #[test]
    fn names_in_a_directory_are_ordered_with_their_numbers_as_numbers() {
        let mut names = vec![
            "cap10",
            "cap2",
            "cap",
            "cap1",
            "cap02",
            "a_00010.pcap",
            "a_00009.pcap",
            "b",
        ];
        names.sort_by(|a, b| super::super::dir::natural_order(a, b));
        assert_eq!(
            names,
            [
                "a_00009.pcap",
                "a_00010.pcap",
                "b",
                "cap",
                "cap1",
                "cap2",
                "cap02",
                "cap10"
            ]
        );
    }

    #[test]
    fn a_directory_stands_for_its_files_and_an_empty_one_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let one = legacy(false, false, 1, &[(1, 0, b"a", 1)]);
        std::fs::write(dir.path().join("part10.pcap"), &one).unwrap();
        std::fs::write(dir.path().join("part9.pcap"), &one).unwrap();
        std::fs::write(dir.path().join(".hidden.pcap"), &one).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let m = MergedSource::open(&[dir.path().to_owned(), dir.path().join("sub")]).unwrap();
        let names: Vec<_> = m
            .files()
            .iter()
            .map(|f| f.path().file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["part9.pcap", "part10.pcap"]);
        assert!(matches!(m.skipped(), [CaptureError::EmptyDirectory { .. }]));
    }

    #[test]
    fn files_are_opened_when_read_and_closed_at_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let one = legacy(false, false, 1, &[(1, 0, b"a", 1), (2, 0, b"b", 1)]);
        let paths: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("p{i}"))).collect();
        for p in &paths {
            std::fs::write(p, &one).unwrap();
        }
        let mut m = MergedSource::open(&paths).unwrap();
        let open = |m: &MergedSource| m.files().iter().filter(|f| f.reader.is_some()).count();
        assert_eq!(open(&m), 0, "checked, then closed");
        let mut seen = 0;
        while m.next_frame().is_some() {
            seen += 1;
            assert!(open(&m) <= 1, "one file at a time");
        }
        assert_eq!((seen, open(&m)), (6, 0));
    }

    #[test]
    fn pcap_both_byte_orders_and_precisions() {
        for be in [false, true] {
            for nanos in [false, true] {
                let bytes = legacy(be, nanos, 1, &[(100, 5, b"abcd", 4), (101, 7, b"xy", 60)]);
                let (got, f) = read_all(&bytes);
                let scale = if nanos { 1 } else { 1000 };
                assert_eq!(got.len(), 2, "be={be} nanos={nanos}");
                assert_eq!(got[0].1, Timestamp::from_parts(100, 5 * scale));
                assert_eq!(got[1].1, Timestamp::from_parts(101, 7 * scale));
                assert_eq!(got[0].3, b"abcd");
                assert_eq!(got[1].4, 60);
                assert_eq!(f.stats().truncated_packets, 1);
                assert_eq!(got[1].0, 2);
            }
        }
    }

    #[test]
    fn pcapng_interfaces_with_their_own_link_and_resolution() {
        let (got, f) = read_all(&pcapng());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].2, LinkType::ETHERNET);
        assert_eq!(got[0].1, Timestamp::from_parts(1_700_000_000, 123_456_000));
        assert_eq!(got[1].2, LinkType::RAW);
        assert_eq!(got[1].1, Timestamp::from_parts(1_700_000_000, 987_654_321));
        assert_eq!(got[2].3, b"abc");
        assert_eq!(f.stats().interfaces, 2);
        assert_eq!(f.stats().format, "pcapng");
    }

    #[test]
    fn truncated_file_keeps_what_came_before_and_warns() {
        let mut bytes = legacy(
            false,
            false,
            1,
            &[(1, 0, b"0123456789", 10), (2, 0, b"0123456789", 10)],
        );
        bytes.truncate(bytes.len() - 3);
        let (got, f) = read_all(&bytes);
        assert_eq!(got.len(), 1);
        assert_eq!(f.warnings().len(), 1);
        assert!(
            f.warnings()[0].message.contains("truncated"),
            "{:?}",
            f.warnings()
        );
        assert_eq!(f.warnings()[0].packet, 2);
    }

    #[test]
    fn oversize_record_is_a_warning_not_a_hang() {
        let mut bytes = legacy(false, false, 1, &[(1, 0, b"ok", 2)]);
        // A record header claiming 1 GiB.
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
        bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
        bytes.extend_from_slice(&[0; 64]);
        let (got, f) = read_all(&bytes);
        assert_eq!(got.len(), 1);
        assert_eq!(f.warnings().len(), 1, "{:?}", f.warnings());
    }

    #[test]
    fn pcapng_block_shorter_than_its_header_is_corrupt() {
        // found by fuzzing: pcap_reader, a Process Information Block of length 6 made
        // pcap-parser 0.17 compute 6 - 12 (pcapng/block.rs:162), a panic where overflow is
        // checked and a 4 GiB read elsewhere.
        let bytes = [
            0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00, 0x00, 0x00, 0x4d, 0x3c, 0x2b, 0x1a, 0x00, 0x00,
            0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x73, 0x74, 0x00,
            0x01, 0x00, 0x00, 0x80, 0x06, 0x00, 0x00, 0x00,
        ];
        let (got, f) = read_all(&bytes);
        assert!(got.is_empty());
        assert_eq!(f.warnings().len(), 1, "{:?}", f.warnings());
        assert!(f.warnings()[0].message.contains("corrupt block length 6"));
        assert_eq!(f.warnings()[0].packet, 1);
        // The same in a big-endian section, after a packet that is read.
        let mut shb = 0x1A2B_3C4Du32.to_be_bytes().to_vec();
        shb.extend_from_slice(&[0, 1, 0, 0]);
        shb.extend_from_slice(&(-1i64).to_be_bytes());
        let be_block = |kind: u32, body: &[u8]| {
            let len = (body.len() + 12) as u32;
            let mut v = kind.to_be_bytes().to_vec();
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(body);
            v.extend_from_slice(&len.to_be_bytes());
            v
        };
        let mut bytes = be_block(0x0A0D_0D0A, &shb);
        bytes.extend(be_block(1, &[0, 1, 0, 0, 0, 0, 0, 0]));
        bytes.extend(be_block(3, &[0, 0, 0, 4, b'a', b'b', b'c', b'd']));
        bytes.extend_from_slice(&0x8000_0001u32.to_be_bytes());
        bytes.extend_from_slice(&9u32.to_be_bytes());
        bytes.extend_from_slice(&[0; 12]);
        let (got, f) = read_all(&bytes);
        assert_eq!(got.len(), 1);
        assert!(
            f.warnings()[0].message.contains("corrupt block length 9"),
            "{:?}",
            f.warnings()
        );
        assert_eq!(f.warnings()[0].packet, 2);
    }

    #[test]
    fn files_are_captures_of_their_own_unless_merged() {
        let a = legacy(false, false, 1, &[(1, 0, b"a1", 2), (3, 0, b"a3", 2)]);
        let b = legacy(true, true, 1, &[(2, 0, b"b2", 2), (4, 0, b"b4", 2)]);
        let dir = std::env::temp_dir().join(format!("authscope-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.pcap"), a).unwrap();
        std::fs::write(dir.join("b.pcap"), b).unwrap();
        let paths = [dir.join("a.pcap"), dir.join("b.pcap")];
        let read = |merge: bool| {
            let mut m = MergedSource::open(&paths).unwrap().merged(merge);
            let mut got = Vec::new();
            while let Some(f) = m.next_frame() {
                got.push((f.input, f.number, f.data.to_vec()));
            }
            (got, m.captures())
        };
        let (apart, captures) = read(false);
        assert_eq!(captures, 2);
        assert_eq!(
            apart,
            vec![
                (0, 1, b"a1".to_vec()),
                (0, 2, b"a3".to_vec()),
                (1, 1, b"b2".to_vec()),
                (1, 2, b"b4".to_vec())
            ]
        );
        let (merged, captures) = read(true);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(captures, 1);
        assert_eq!(
            merged,
            vec![
                (0, 1, b"a1".to_vec()),
                (0, 2, b"b2".to_vec()),
                (0, 3, b"a3".to_vec()),
                (0, 4, b"b4".to_vec())
            ]
        );
    }

    #[test]
    fn a_reopened_source_reads_what_the_file_held_when_first_opened() {
        use std::io::Write as _;
        let packets: Vec<(u32, u32, &[u8], u32)> = vec![(1, 0, b"one", 3), (2, 0, b"two", 3)];
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&legacy(false, false, 1, &packets)).unwrap();
        file.flush().unwrap();
        let first = MergedSource::open(&[file.path().to_owned()]).unwrap();
        // The capture grows (tcpdump still writing) before the copy is opened.
        file.write_all(&legacy(false, false, 1, &packets)[24..])
            .unwrap();
        file.flush().unwrap();
        let mut again = first.reopen().unwrap();
        let mut got = Vec::new();
        while let Some(f) = again.next_frame() {
            got.push((f.number, f.data.to_vec()));
        }
        assert_eq!(got, vec![(1, b"one".to_vec()), (2, b"two".to_vec())]);
        assert_eq!(again.total_size(), first.total_size());
    }
}
