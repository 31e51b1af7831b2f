//! Hostile input (issue 10): resource bounds under floods, and malformed capture files.
//!
//! The floods are built in memory (Ethernet, IPv4 and TCP bytes by hand) and pushed through
//! [`Analyzer`] (`flood_threads.rs` writes the same floods to pcap files for the binary).
//! Each runs in a child process of this test binary, so its peak RSS (VmHWM) is its own: once
//! at a quarter of the input and once whole, to check memory stays under 256 MB and time
//! grows linearly. That takes a while in a debug build, so it runs with
//! `AUTHSCOPE_FULL_TESTS=1` (as `.ci/run` does); plain `cargo test` runs each flood at 1/100
//! of its size in-process and checks only what the analysis counted.

use base64::Engine as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use authscope::capture::{Frame, LinkType, Timestamp};
use authscope::pipeline::{Analyzer, Config, Output, Stats};

use super::util::{bin, full, pcap, pcap_record};

/// Set in a child process: the size of the flood to run.
const CHILD_ENV: &str = "AUTHSCOPE_HARDENING_SIZE";
/// Marks the child's one line of figures on its standard output.
const MARK: &str = "HARDENING-FIGURES";
const MAX_RSS_KB: u64 = 256 * 1024;
/// Whole input time over quarter input time; linear is 4.
const MAX_TIME_RATIO: f64 = 6.0;
/// Runs shorter than this (CPU time of the whole input) are not judged for linearity.
const MIN_JUDGED_MS: f64 = 50.0;

// ---- frames -------------------------------------------------------------------------------

use super::util::tcp_frame;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const RST: u8 = 0x04;

/// Where a flood's frames go: an analyzer in this process, counting its outputs, or a pcap
/// file for `authscope report` to read (`flood_threads.rs`).
enum Sink {
    Analyzer(Box<Analyzer>, Outputs),
    Pcap(BufWriter<File>, Vec<u8>),
}

/// Makes a flood's frames, one at a time, and hands each to its [`Sink`].
pub(super) struct Feed {
    sink: Sink,
    buf: Vec<u8>,
    number: u64,
    /// Capture time: 1 µs per frame.
    ts: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Outputs {
    connections: u64,
    exchanges: u64,
    anomalies: u64,
    limits: u64,
    handshakes: u64,
}

impl Outputs {
    fn take(&mut self, o: Output) {
        match o {
            Output::Connection(_) => self.connections += 1,
            Output::Exchange(..) => self.exchanges += 1,
            Output::HttpAnomaly { .. } => self.anomalies += 1,
            Output::Limit { .. } => self.limits += 1,
            Output::Handshake(_) => self.handshakes += 1,
            // decided by the driver, which this feed goes around
            Output::Finding(_) | Output::ServerLogs(_) | Output::Wire(_) => {}
        }
    }
}

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 80);

impl Feed {
    fn new() -> Self {
        Feed::with(Sink::Analyzer(
            Box::new(Analyzer::new(Config::default())),
            Outputs::default(),
        ))
    }

    /// A feed that writes a pcap file (Ethernet, microseconds) at `path`.
    pub(super) fn pcap_file(path: &Path) -> Self {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
        w.write_all(&pcap(1, &[])).unwrap();
        Feed::with(Sink::Pcap(w, Vec::with_capacity(2048)))
    }

    fn with(sink: Sink) -> Self {
        Feed {
            sink,
            buf: Vec::with_capacity(2048),
            number: 0,
            ts: 1_700_000_000_000_000_000,
        }
    }

    fn send(
        &mut self,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        tcp_frame(&mut self.buf, src, dst, seq, ack, flags, payload);
        self.emit();
    }

    /// Hands on the frame in `buf`, 1 µs after the one before.
    fn emit(&mut self) {
        self.number += 1;
        self.ts += 1_000;
        match &mut self.sink {
            Sink::Analyzer(analyzer, outputs) => {
                let frame = Frame {
                    number: self.number,
                    input: 0,
                    ts: Timestamp(self.ts),
                    link: LinkType::ETHERNET,
                    data: &self.buf,
                    orig_len: u32::try_from(self.buf.len()).unwrap(),
                };
                analyzer.push(&frame, &mut |o| outputs.take(o));
            }
            Sink::Pcap(w, rec) => {
                rec.clear();
                let us = u64::try_from(self.ts / 1_000).unwrap();
                pcap_record(rec, us, &self.buf, u32::try_from(self.buf.len()).unwrap());
                w.write_all(rec).unwrap();
            }
        }
    }

    /// The analysis's counters and outputs (a feed into an analyzer).
    fn finish(self) -> (Stats, Outputs) {
        let Sink::Analyzer(mut analyzer, mut outputs) = self.sink else {
            panic!("not an analyzer's feed");
        };
        analyzer.finish(&mut |o| outputs.take(o));
        (analyzer.stats(), outputs)
    }

    /// Writes out the rest of the file (a feed into a pcap file).
    pub(super) fn close(self) {
        let Sink::Pcap(mut w, _) = self.sink else {
            panic!("not a file's feed");
        };
        w.flush().unwrap();
    }
}

// ---- the floods ---------------------------------------------------------------------------

/// `n` SYNs, each from a new client address and port: `n` connections opened, none finished.
pub(super) fn syn_flood(f: &mut Feed, n: u64) {
    for i in 0..n {
        let host = u32::try_from(i / 50_000).unwrap();
        let port = 10_000 + u16::try_from(i % 50_000).unwrap();
        let ip = [10, 1, (host >> 8) as u8, host as u8];
        f.send((ip, port), SERVER, i as u32, 0, SYN, b"");
    }
}

/// One HTTP connection, then `n` segments that each leave a one-byte hole before them, so
/// every one arrives out of order and none is ever filled.
pub(super) fn out_of_order_flood(f: &mut Feed, n: u64) {
    let client = (CLIENT, 50_000);
    let (cisn, sisn) = (1_000u32, 9_000u32);
    f.send(client, SERVER, cisn, 0, SYN, b"");
    f.send(SERVER, client, sisn, cisn + 1, SYN | ACK, b"");
    let request = b"GET /out-of-order HTTP/1.1\r\nHost: h\r\nAuthorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n\r\n";
    let mut seq = cisn + 1;
    f.send(client, SERVER, seq, sisn + 1, PSH_ACK, request);
    seq = seq.wrapping_add(request.len() as u32);
    for _ in 0..n {
        seq = seq.wrapping_add(1);
        f.send(client, SERVER, seq, sisn + 1, PSH_ACK, request);
        seq = seq.wrapping_add(request.len() as u32);
    }
}

/// A request whose one header field is `n` bytes long, in 1460-byte segments, then a
/// request that must still be read after it.
pub(super) fn huge_header(f: &mut Feed, n: u64) {
    let client = (CLIENT, 50_001);
    let (cisn, sisn) = (1_000u32, 9_000u32);
    f.send(client, SERVER, cisn, 0, SYN, b"");
    f.send(SERVER, client, sisn, cisn + 1, SYN | ACK, b"");
    let mut seq = cisn + 1;
    let start = b"GET /huge HTTP/1.1\r\nHost: h\r\nX-Huge: ";
    f.send(client, SERVER, seq, sisn + 1, PSH_ACK, start);
    seq = seq.wrapping_add(start.len() as u32);
    let filler = [b'a'; 1460];
    let mut left = n;
    while left > 0 {
        let len = usize::try_from(left.min(1460)).unwrap();
        f.send(client, SERVER, seq, sisn + 1, PSH_ACK, &filler[..len]);
        seq = seq.wrapping_add(len as u32);
        left -= len as u64;
    }
    let end = b"\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n";
    f.send(client, SERVER, seq, sisn + 1, PSH_ACK, end);
    let reply = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n";
    let ack = seq.wrapping_add(end.len() as u32);
    f.send(SERVER, client, sisn + 1, ack, PSH_ACK, reply);
}

/// One frame per `n`: a response head `100 Continue` (25 bytes) and never a final response,
/// in 1460-byte segments.
pub(super) fn interim_flood(f: &mut Feed, n: u64) {
    let client = (CLIENT, 50_002);
    let (cisn, sisn) = (1_000u32, 9_000u32);
    f.send(client, SERVER, cisn, 0, SYN, b"");
    f.send(SERVER, client, sisn, cisn + 1, SYN | ACK, b"");
    let req = b"POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    f.send(client, SERVER, cisn + 1, sisn + 1, PSH_ACK, req);
    let ack = cisn + 1 + req.len() as u32;
    let one = b"HTTP/1.1 100 Continue\r\n\r\n";
    let segment: Vec<u8> = one.iter().copied().cycle().take(one.len() * 58).collect();
    let mut seq = sisn + 1;
    let mut left = n;
    while left > 0 {
        let k = left.min(58) as usize;
        let bytes = &segment[..k * one.len()];
        f.send(SERVER, client, seq, ack, PSH_ACK, bytes);
        seq = seq.wrapping_add(bytes.len() as u32);
        left -= k as u64;
    }
}

/// One IPv4 fragment of datagram `id` (protocol TCP) from the client to the server.
fn ipv4_fragment(out: &mut Vec<u8>, id: u16, offset8: u16, more: bool, payload: &[u8]) {
    out.clear();
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = u16::try_from(20 + payload.len()).unwrap();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    let flags = if more { 0x2000 } else { 0 } | offset8;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[64, 6, 0, 0]);
    out.extend_from_slice(&CLIENT);
    out.extend_from_slice(&SERVER.0);
    out.extend_from_slice(payload);
}

/// The last fragment of a datagram, then `n` empty and overlapping fragments of it that
/// never complete it.
pub(super) fn fragment_flood(f: &mut Feed, n: u64) {
    let push = |f: &mut Feed, offset8: u16, more: bool, payload: &[u8]| {
        ipv4_fragment(&mut f.buf, 7, offset8, more, payload);
        f.emit();
    };
    push(f, 8, false, &[0; 8]);
    for i in 0..n {
        let payload: &[u8] = if i % 2 == 0 { &[] } else { &[0; 8] };
        push(f, 2, true, payload);
    }
}

/// `n` connections, each sending the start of a request head that never ends (60 KiB, under
/// the per-connection head cap) and then three complete requests that are never answered.
pub(super) fn unfinished_heads(f: &mut Feed, n: u64) {
    let sisn = 9_000u32;
    let filler = [b'a'; 1460];
    let request = [
        b"GET /pending HTTP/1.1\r\nHost: h\r\nX-Pad: ".as_slice(),
        &[b'p'; 900],
        b"\r\n\r\n",
    ]
    .concat();
    for i in 0..n {
        let host = u32::try_from(i / 50_000).unwrap();
        let port = 10_000 + u16::try_from(i % 50_000).unwrap();
        let client = ([10, 2, (host >> 8) as u8, host as u8], port);
        let server = ([10, 0, 0, 3], 80);
        let cisn = 1_000u32;
        f.send(client, server, cisn, 0, SYN, b"");
        f.send(server, client, sisn, cisn + 1, SYN | ACK, b"");
        let mut seq = cisn + 1;
        for _ in 0..3 {
            f.send(client, server, seq, sisn + 1, PSH_ACK, &request);
            seq = seq.wrapping_add(request.len() as u32);
        }
        let start = b"GET /never-ends HTTP/1.1\r\nX-Long: ";
        f.send(client, server, seq, sisn + 1, PSH_ACK, start);
        seq = seq.wrapping_add(start.len() as u32);
        for _ in 0..42 {
            f.send(client, server, seq, sisn + 1, PSH_ACK, &filler);
            seq = seq.wrapping_add(filler.len() as u32);
        }
    }
}

/// `n` connections from one client address, each with an NTLM negotiation that is refused
/// and abandoned: `n` handshakes a client could still come back to.
pub(super) fn handshake_flood(f: &mut Feed, n: u64) {
    let (cisn, sisn) = (1_000u32, 9_000u32);
    let resp = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n";
    for i in 0..n {
        // A resource of its own each, or they would all join one handshake (same client,
        // server, Host and target within the join window).
        let req = format!("GET /{i} HTTP/1.1\r\nHost: h\r\nAuthorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n\r\n");
        let req = req.as_bytes();
        let port = 10_000 + u16::try_from(i % 50_000).unwrap();
        let client = ([10, 3, 0, 1], port);
        let server = ([10, 0, 0, 4], 80 + u16::try_from(i / 50_000).unwrap());
        f.send(client, server, cisn, 0, SYN, b"");
        f.send(server, client, sisn, cisn + 1, SYN | ACK, b"");
        f.send(client, server, cisn + 1, sisn + 1, PSH_ACK, req);
        let ack = cisn + 1 + req.len() as u32;
        f.send(server, client, sisn + 1, ack, PSH_ACK, resp);
        // The client gives up on the connection; its handshake waits the join window for
        // the client to come back on another.
        f.send(client, server, ack, 0, RST, b"");
    }
}

/// An NTLM CHALLENGE message (MS-NLMP 2.2.1.2) as a server sends it: the domain as target
/// name, a server challenge of its own (`n`), and the target information a domain member
/// gives (NetBIOS and DNS names, a timestamp).
pub(super) fn ntlm_challenge(n: u64) -> Vec<u8> {
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let target = utf16("CORP");
    let mut info = Vec::new();
    let mut pair = |id: u16, value: &[u8]| {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
        info.extend_from_slice(value);
    };
    pair(2, &utf16("CORP"));
    pair(1, &utf16("WEB01"));
    pair(4, &utf16("corp.example"));
    pair(3, &utf16("web01.corp.example"));
    pair(7, &(133_500_000_000_000_000u64 + n).to_le_bytes());
    pair(0, &[]);
    // Unicode, request target, NTLM, always sign, target type domain, extended session
    // security, target info, version, 128-bit, key exchange, 56-bit.
    let flags: u32 = 0xE289_8205;
    let fields = |len: usize, offset: usize| -> Vec<u8> {
        let len = u16::try_from(len).unwrap().to_le_bytes();
        [
            &len[..],
            &len[..],
            &u32::try_from(offset).unwrap().to_le_bytes(),
        ]
        .concat()
    };
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend_from_slice(&2u32.to_le_bytes());
    m.extend(fields(target.len(), 56));
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(&n.to_le_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend(fields(info.len(), 56 + target.len()));
    // Windows 10.0, build 19041, NTLM revision 15.
    m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
    m.extend(target);
    m.extend(info);
    m
}

/// `n` clients, each from an address of its own, each on one connection sending a request
/// with an NTLM NEGOTIATE, getting a 401 with a CHALLENGE, and never answering it (nor
/// closing): `n` handshakes waiting, none for a client with another.
pub(super) fn ntlm_clients_flood(f: &mut Feed, n: u64) {
    let (cisn, sisn) = (1_000u32, 9_000u32);
    let server = ([10, 0, 0, 5], 80);
    let req = b"GET /intranet/ HTTP/1.1\r\nHost: web01.corp.example\r\nAuthorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n\r\n";
    let ack = cisn + 1 + req.len() as u32;
    for i in 0..n {
        let a = u32::try_from(i).unwrap();
        let client = (
            [10, 4 + (a >> 16) as u8, (a >> 8) as u8, a as u8],
            50_000 + (a % 10_000) as u16,
        );
        let challenge = base64::engine::general_purpose::STANDARD.encode(ntlm_challenge(i));
        let resp = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM {challenge}\r\nContent-Length: 0\r\n\r\n"
        );
        f.send(client, server, cisn, 0, SYN, b"");
        f.send(server, client, sisn, cisn + 1, SYN | ACK, b"");
        f.send(client, server, cisn + 1, sisn + 1, PSH_ACK, req);
        f.send(server, client, sisn + 1, ack, PSH_ACK, resp.as_bytes());
    }
}

/// `n` connections, each sending 64 pipelined requests in one segment and never answered.
pub(super) fn pipelined_flood(f: &mut Feed, n: u64) {
    let sisn = 9_000u32;
    let requests = b"GET / HTTP/1.1\r\n\r\n".repeat(64);
    for i in 0..n {
        let host = u32::try_from(i / 50_000).unwrap();
        let port = 10_000 + u16::try_from(i % 50_000).unwrap();
        let client = ([10, 3, (host >> 8) as u8, host as u8], port);
        let cisn = 1_000u32;
        f.send(client, SERVER, cisn, 0, SYN, b"");
        f.send(SERVER, client, sisn, cisn + 1, SYN | ACK, b"");
        f.send(client, SERVER, cisn + 1, sisn + 1, PSH_ACK, &requests);
    }
}

/// `n` clients, each on a connection of its own sending 64 requests with Basic credentials
/// whose user name is 12 KB long, each refused: `n` handshakes of 64 legs, every one holding
/// what its legs decoded until the connection ends (it never does).
pub(super) fn big_legs_flood(f: &mut Feed, n: u64) {
    let server = ([10, 0, 0, 6], 80);
    let user = "u".repeat(12 * 1024);
    let cred = base64::engine::general_purpose::STANDARD.encode(format!("{user}:password"));
    let req = format!(
        "GET /app/ HTTP/1.1\r\nHost: app.corp.example\r\nAuthorization: Basic {cred}\r\n\r\n"
    );
    let resp = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"app\"\r\nContent-Length: 0\r\n\r\n";
    for i in 0..n {
        let a = u32::try_from(i).unwrap();
        let client = ([10, 7 + (a >> 16) as u8, (a >> 8) as u8, a as u8], 40_000);
        let (mut c, mut s) = (1_000u32, 9_000u32);
        f.send(client, server, c, 0, SYN, b"");
        f.send(server, client, s, c + 1, SYN | ACK, b"");
        c += 1;
        s += 1;
        for _ in 0..64 {
            f.send(client, server, c, s, PSH_ACK, req.as_bytes());
            c += req.len() as u32;
            f.send(server, client, s, c, PSH_ACK, resp);
            s += resp.len() as u32;
        }
    }
}

// ---- measuring in a child process ---------------------------------------------------------

/// CPU time of the calling thread, in ms: steadier than wall time on a shared machine.
fn thread_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    let ns: f64 = stat.split_whitespace().next().unwrap().parse().unwrap();
    ns / 1e6
}

/// Peak resident set of this process, in KiB.
fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[derive(Debug, Clone, Copy)]
struct Figures {
    size: u64,
    rss_kb: u64,
    /// CPU time of the flood (what the ratio compares), and its wall time.
    cpu_ms: f64,
    wall_ms: f64,
}

/// Runs the test `name` of this binary in a child process at `size`.
fn child(name: &str, size: u64) -> Figures {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, size.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} at {size}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once(MARK).map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| panic!("{name}: no figures in\n{stdout}"));
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Figures {
        size,
        rss_kb: v[0] as u64,
        cpu_ms: v[1],
        wall_ms: v[2],
    }
}

/// The flood in this process when it is the child; else, under `AUTHSCOPE_FULL_TESTS=1`, the
/// measured runs in two children; else a small run here. `check` judges what was counted.
fn flood(name: &str, size: u64, build: fn(&mut Feed, u64), check: fn(u64, &Stats, &Outputs)) {
    let run = |n| {
        let mut f = Feed::new();
        build(&mut f, n);
        f.finish()
    };
    if let Ok(n) = std::env::var(CHILD_ENV) {
        let n: u64 = n.parse().unwrap();
        let (t, cpu) = (Instant::now(), thread_cpu_ms());
        let (stats, outputs) = run(n);
        let cpu = thread_cpu_ms() - cpu;
        let wall = t.elapsed().as_secs_f64() * 1e3;
        check(n, &stats, &outputs);
        let mut o = std::io::stdout().lock();
        writeln!(o, "{MARK} {} {cpu:.1} {wall:.1}", vm_hwm_kb()).unwrap();
        return;
    }
    if !full() {
        let n = size / 100;
        let (stats, outputs) = run(n);
        check(n, &stats, &outputs);
        return;
    }
    let quarter = child(name, size / 4);
    let whole = child(name, size);
    let ratio = whole.cpu_ms / quarter.cpu_ms.max(1.0);
    println!(
        "{name}: {} units: peak RSS {} MiB, CPU {:.0} ms (wall {:.0}); {} units: peak RSS {} \
         MiB, CPU {:.0} ms (wall {:.0}); CPU time ratio {ratio:.2}",
        quarter.size,
        quarter.rss_kb / 1024,
        quarter.cpu_ms,
        quarter.wall_ms,
        whole.size,
        whole.rss_kb / 1024,
        whole.cpu_ms,
        whole.wall_ms,
    );
    assert!(
        whole.rss_kb < MAX_RSS_KB,
        "{name}: peak RSS {} KiB",
        whole.rss_kb
    );
    // Under a few tens of milliseconds (a release build reading a header) the clock's
    // granularity is the ratio: nothing to judge.
    assert!(
        whole.cpu_ms < MIN_JUDGED_MS || ratio < MAX_TIME_RATIO,
        "{name}: 4x the input took {ratio:.2}x the time ({quarter:?} vs {whole:?})"
    );
}

#[test]
fn syn_flood_of_a_million_connections() {
    flood(
        "hardening::syn_flood_of_a_million_connections",
        1_000_000,
        syn_flood,
        |n, s, o| {
            let cap = Config::default().tcp.max_connections as u64;
            assert_eq!(s.tcp.connections, n);
            assert_eq!(o.connections, n, "every connection is reported once");
            assert!(s.tcp.peak_open_connections <= cap);
            assert_eq!(s.tcp.evicted_connections, n.saturating_sub(cap));
            assert_eq!(o.limits, n.saturating_sub(cap));
        },
    );
}

#[test]
fn a_million_out_of_order_segments() {
    flood(
        "hardening::a_million_out_of_order_segments",
        1_000_000,
        out_of_order_flood,
        |n, s, o| {
            let tcp = Config::default().tcp;
            assert!(s.tcp.out_of_order_segments >= n);
            assert!(s.tcp.peak_buffered_bytes <= tcp.max_buffered_per_conn as u64);
            assert!(s.tcp.buffer_limit_hits > 0, "{s:?}");
            assert_eq!(s.tcp.gaps, n, "one gap per hole");
            assert!(o.exchanges > 0);
        },
    );
}

#[test]
fn a_100_mb_header() {
    flood(
        "hardening::a_100_mb_header",
        100 << 20,
        huge_header,
        |n, s, o| {
            assert_eq!(s.http.head_cap_hits, 1, "{s:?}");
            assert!(s.tcp.bytes_delivered > n);
            // The request after the huge one is read, and answered.
            assert_eq!(s.http.requests, 1, "{s:?}");
            assert_eq!(s.http.responses, 1, "{s:?}");
            assert!(o.exchanges >= 1);
        },
    );
}

#[test]
fn a_million_interim_responses() {
    flood(
        "hardening::a_million_interim_responses",
        1_000_000,
        interim_flood,
        |n, s, o| {
            let cap = Config::default().http.max_interim_responses as u64;
            assert_eq!(s.http.responses, n, "{s:?}");
            assert_eq!(s.http.interim_cap_hits, n.saturating_sub(cap), "{s:?}");
            assert!(o.exchanges >= 1);
        },
    );
}

#[test]
fn a_million_ipv4_fragments() {
    flood(
        "hardening::a_million_ipv4_fragments",
        1_000_000,
        fragment_flood,
        |n, s, _| {
            assert_eq!(s.net.ipv4_fragments, n + 1, "{s:?}");
            assert_eq!(s.net.ipv4_reassembled, 0, "{s:?}");
            assert!(
                s.net.ipv4_fragments_dropped >= n.saturating_sub(256),
                "{s:?}"
            );
        },
    );
}

#[test]
fn many_connections_holding_unfinished_heads() {
    flood(
        "hardening::many_connections_holding_unfinished_heads",
        8_000,
        unfinished_heads,
        |n, s, _| {
            let budget = Config::default().http.max_buffered_total as u64;
            assert_eq!(s.http.requests, 3 * n, "{s:?}");
            assert_eq!(s.tcp.connections, n, "{s:?}");
            // Past the budget by one segment and one request at most.
            assert!(s.http.peak_buffered_bytes <= budget + 8192, "{s:?}");
            if n * 60_000 > budget {
                assert!(s.http.budget_hits > 0, "{s:?}");
            }
        },
    );
}

#[test]
fn many_connections_with_pipelined_requests() {
    flood(
        "hardening::many_connections_with_pipelined_requests",
        100_000,
        pipelined_flood,
        |n, s, o| {
            assert_eq!(s.http.requests, 64 * n, "{s:?}");
            assert_eq!(o.exchanges, 64 * n, "every request is reported once");
        },
    );
}

#[test]
fn one_client_opening_many_handshakes() {
    flood(
        "hardening::one_client_opening_many_handshakes",
        200_000,
        handshake_flood,
        |n, s, o| {
            let cap = Config::default().correlate.max_open_per_client as u64;
            assert_eq!(o.handshakes, n, "every handshake is reported once");
            assert!(s.correlate.peak_open <= cap, "{:?}", s.correlate);
            assert_eq!(
                s.correlate.client_cap_hits,
                n.saturating_sub(cap),
                "{:?}",
                s.correlate
            );
            assert_eq!(s.correlate.open_cap_hits, 0, "{:?}", s.correlate);
        },
    );
}

#[test]
fn many_clients_abandoning_ntlm_handshakes() {
    flood(
        "hardening::many_clients_abandoning_ntlm_handshakes",
        200_000,
        ntlm_clients_flood,
        |n, s, o| {
            let c = Config::default();
            assert_eq!(o.handshakes, n, "every handshake is reported once");
            assert_eq!(s.http.exchanges, n, "{:?}", s.http);
            assert!(s.correlate.peak_open <= c.correlate.max_open as u64);
            assert_eq!(s.correlate.client_cap_hits, 0, "{:?}", s.correlate);
            assert!(s.tcp.peak_open_connections <= c.tcp.max_connections as u64);
        },
    );
}

#[test]
fn many_handshakes_holding_big_legs() {
    flood(
        "hardening::many_handshakes_holding_big_legs",
        400,
        big_legs_flood,
        |n, s, o| {
            assert_eq!(o.handshakes, n, "every handshake is reported once");
            assert_eq!(s.http.exchanges, n * 64, "{:?}", s.http);
            // 64 legs of about 40 KB each (a 12 KB user decoded, its 16 KB token estimated
            // at three times) make about 2.6 MB a handshake: past 25 of them the byte cap
            // finishes the oldest.
            if n >= 100 {
                assert!(s.correlate.bytes_cap_hits > 0, "{:?}", s.correlate);
            }
        },
    );
}

// ---- malformed capture files --------------------------------------------------------------

/// A capture record: time (µs since the epoch) and bytes.
type Rec = (u64, Vec<u8>);

/// SYN, SYN-ACK, a request with NTLM credentials and its 401: one exchange.
fn conversation() -> Vec<Rec> {
    let client = (CLIENT, 50_000);
    let (cisn, sisn) = (1_000u32, 9_000u32);
    let req = b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n\r\n";
    let resp = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n";
    let mut v = Vec::new();
    let mut push = |src, dst, seq, ack, flags, payload: &[u8]| {
        let mut b = Vec::new();
        tcp_frame(&mut b, src, dst, seq, ack, flags, payload);
        v.push((1_700_000_000_000_000 + v.len() as u64 * 1000, b));
    };
    push(client, SERVER, cisn, 0, SYN, b"");
    push(SERVER, client, sisn, cisn + 1, SYN | ACK, b"");
    push(client, SERVER, cisn + 1, sisn + 1, PSH_ACK, req);
    let ack = cisn + 1 + req.len() as u32;
    push(SERVER, client, sisn + 1, ack, PSH_ACK, resp);
    v
}

/// A pcapng block: type, total length, body (padded to 4), total length again.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    let mut v = kind.to_le_bytes().to_vec();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&body);
    v.extend_from_slice(&len.to_le_bytes());
    v
}

/// A pcapng file: one section, an interface per link type, each record on interface `i`.
fn pcapng(links: &[u16], recs: &[(u32, Rec)]) -> Vec<u8> {
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut v = block(0x0A0D_0D0A, &shb);
    for link in links {
        let mut idb = link.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        v.extend(block(1, &idb));
    }
    for (iface, (ts, data)) in recs {
        v.extend(epb(*iface, *ts, data));
    }
    v
}

fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
    let mut b = iface.to_le_bytes().to_vec();
    b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(ts as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    block(6, &b)
}

/// What `authscope report --format json` said about a file made of `bytes`.
struct Report {
    code: Option<i32>,
    stderr: String,
    json: serde_json::Value,
    text: String,
    /// The text report's standard error: its warnings.
    text_err: String,
}

fn report(name: &str, bytes: &[u8]) -> Report {
    let dir = std::env::temp_dir().join(format!("authscope-hardening-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let run = |format: &str| {
        Command::new(bin())
            .args(["report", "--format", format])
            .arg(&path)
            .output()
            .unwrap()
    };
    let json = run("json");
    let text = run("text");
    std::fs::remove_file(&path).ok();
    Report {
        code: json.status.code(),
        stderr: String::from_utf8_lossy(&json.stderr).into_owned(),
        json: serde_json::from_slice(&json.stdout).unwrap_or(serde_json::Value::Null),
        text: String::from_utf8_lossy(&text.stdout).into_owned(),
        text_err: String::from_utf8_lossy(&text.stderr).into_owned(),
    }
}

impl Report {
    /// Exit 0, and the one exchange of [`conversation`] was read.
    fn analysed_the_conversation(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
        let http = &self.json["summary"]["stats"]["http"];
        assert_eq!(http["requests"], 1, "{}", self.text);
        assert_eq!(http["responses"], 1, "{}", self.text);
        self
    }

    /// A warning (JSON and text) naming `packet` and containing `what`.
    fn warns(&self, packet: u64, what: &str) -> &Self {
        let warnings = self.json["summary"]["warnings"].as_array().unwrap();
        let needle = format!("packet {packet}");
        assert!(
            warnings.iter().any(|w| {
                let w = w.as_str().unwrap();
                w.contains(&needle) && w.contains(what)
            }),
            "no warning naming {needle} and {what:?}: {warnings:?}"
        );
        assert!(
            self.text_err
                .lines()
                .any(|l| l.starts_with("authscope: warning:")
                    && l.contains(&needle)
                    && l.contains(what)),
            "{}",
            self.text_err
        );
        self
    }
}

#[test]
fn truncated_pcap_and_pcapng() {
    let recs = conversation();
    let mut bytes = pcap(1, &recs);
    pcap_record(&mut bytes, 1_700_000_001_000_000, &recs[0].1, 60);
    bytes.truncate(bytes.len() - 20);
    report("truncated.pcap", &bytes)
        .analysed_the_conversation()
        .warns(5, "truncated");

    let mut with_extra: Vec<(u32, Rec)> = recs.iter().cloned().map(|r| (0, r)).collect();
    with_extra.push((0, recs[0].clone()));
    let mut bytes = pcapng(&[1], &with_extra);
    bytes.truncate(bytes.len() - 30);
    report("truncated.pcapng", &bytes)
        .analysed_the_conversation()
        .warns(5, "truncated");
}

#[test]
fn corrupt_block_lengths() {
    let recs = conversation();
    let good: Vec<(u32, Rec)> = recs.iter().cloned().map(|r| (0, r)).collect();
    // The total length at the end of the block disagrees with the one at its start.
    let mut bytes = pcapng(&[1], &good);
    let mut bad = epb(0, recs[0].0, &recs[0].1);
    let n = bad.len();
    bad[n - 4..].copy_from_slice(&7u32.to_le_bytes());
    bytes.extend(bad);
    bytes.extend(epb(0, recs[0].0, &recs[0].1));
    let r = report("trailer.pcapng", &bytes);
    r.analysed_the_conversation()
        .warns(5, "corrupt Enhanced Packet Block at byte");
    // In words a person reads: which block and what is wrong, not the parser's internals.
    assert!(
        !r.text_err.contains("Internal parser error"),
        "{}",
        r.text_err
    );
    assert!(
        r.text_err.contains("do not fit its length"),
        "{}",
        r.text_err
    );
    // A block length that is not a multiple of 4, and one below the 12-byte minimum.
    for len in [101u32, 8] {
        let mut bytes = pcapng(&[1], &good);
        let mut bad = epb(0, recs[0].0, &recs[0].1);
        bad[4..8].copy_from_slice(&len.to_le_bytes());
        bytes.extend(bad);
        for r in &recs {
            bytes.extend(epb(0, r.0, &r.1));
        }
        report("length.pcapng", &bytes)
            .analysed_the_conversation()
            .warns(5, "corrupt");
    }
}

/// Packet blocks naming an interface that was never declared, and one before any: skipped,
/// and said in one warning that names the first and counts them all.
#[test]
fn packets_of_undeclared_interfaces_are_a_warning() {
    let recs = conversation();
    let mut good: Vec<(u32, Rec)> = recs.iter().cloned().map(|r| (0, r)).collect();
    for i in 0..3 {
        good.push((7 + i, recs[0].clone()));
    }
    let r = report("undeclared.pcapng", &pcapng(&[1], &good));
    r.analysed_the_conversation().warns(
        5,
        "3 packet blocks of an interface that no Interface Description Block",
    );
    assert!(r.text_err.contains("interface 7"), "{}", r.text_err);
    let inputs = &r.json["inputs"][0];
    assert_eq!(inputs["undeclared_interface_packets"], 3, "{inputs}");

    // A packet before any interface at all, then the conversation.
    let mut bytes = pcapng(&[], &[]);
    bytes.extend(epb(0, recs[0].0, &recs[0].1));
    bytes.extend(block(1, &[1, 0, 0, 0, 0, 0, 0, 0]));
    for r in &recs {
        bytes.extend(epb(0, r.0, &r.1));
    }
    let r = report("before-any.pcapng", &bytes);
    r.analysed_the_conversation();
    r.warns(
        1,
        "1 packet block of an interface that no Interface Description Block",
    );
}

#[test]
fn oversize_records() {
    let recs = conversation();
    // A pcap record claiming 1 GiB.
    let mut bytes = pcap(1, &recs);
    pcap_record(&mut bytes, 1_700_000_001_000_000, &[0; 64], 1 << 30);
    report("oversize.pcap", &bytes)
        .analysed_the_conversation()
        .warns(5, "larger than");
    // A pcapng block claiming 4 GiB.
    let good: Vec<(u32, Rec)> = recs.iter().cloned().map(|r| (0, r)).collect();
    let mut bytes = pcapng(&[1], &good);
    let mut bad = epb(0, recs[0].0, &recs[0].1);
    bad[4..8].copy_from_slice(&0xFFFF_FFFCu32.to_le_bytes());
    bytes.extend(bad);
    report("oversize.pcapng", &bytes)
        .analysed_the_conversation()
        .warns(5, "larger than");
}

#[test]
fn zero_length_records() {
    let mut recs = conversation();
    recs.insert(2, (recs[1].0, Vec::new()));
    let r = report("empty-record.pcap", &pcap(1, &recs));
    r.analysed_the_conversation().warns(3, "empty");
    let recs: Vec<(u32, Rec)> = recs.into_iter().map(|r| (0, r)).collect();
    report("empty-record.pcapng", &pcapng(&[1], &recs))
        .analysed_the_conversation()
        .warns(3, "empty");
}

#[test]
fn unknown_link_type() {
    let recs = conversation();
    let r = report("link147.pcap", &pcap(147, &recs));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    r.warns(1, "link type 147");
    // Two interfaces: the unknown one is named, the Ethernet one is analysed.
    let mut mixed: Vec<(u32, Rec)> = vec![(1, recs[0].clone())];
    mixed.extend(recs.iter().cloned().map(|r| (0, r)));
    report("mixed.pcapng", &pcapng(&[1, 147], &mixed))
        .analysed_the_conversation()
        .warns(1, "link type 147");
}

#[test]
fn timestamps_going_backwards() {
    let mut recs = conversation();
    recs[2].0 -= 3_600_000_000;
    report("backwards.pcap", &pcap(1, &recs))
        .analysed_the_conversation()
        .warns(3, "earlier");
}

#[test]
fn unusable_files_are_one_line_and_exit_2() {
    let good = pcap(1, &conversation());
    let mut bad_shb = pcapng(&[1], &[]);
    bad_shb[4..8].copy_from_slice(&5u32.to_le_bytes());
    let cases: [(&str, Vec<u8>); 3] = [
        (
            "magic.pcap",
            b"\x00\x01\x02\x03not a capture at all, just text".to_vec(),
        ),
        ("header.pcap", good[..12].to_vec()),
        ("shb.pcapng", bad_shb),
    ];
    for (name, bytes) in cases {
        let r = report(name, &bytes);
        assert_eq!(r.code, Some(2), "{name}: {}", r.text);
        assert_eq!(r.stderr.lines().count(), 1, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(name), "{name}: {}", r.stderr);
    }
}
