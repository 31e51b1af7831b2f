// A benchmark may panic on its own fixed inputs: that is a broken bench, not a crash.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

//! Hot paths of the pipeline, with criterion (`cargo bench`). Throughput is in bytes, so the
//! figures read as MB/s. The whole-pipeline bench uses `AUTHSCOPE_BENCH_CAPTURE` when set (the
//! standard capture, scripts/make-bench-capture.sh), else a lab capture.

use std::path::PathBuf;

use authscope::capture::{Frame, LinkType, MergedSource, Timestamp};
use authscope::http::HttpTracker;
use authscope::net::{NetDecoder, Segment, TcpFlags};
use authscope::pipeline::{Analyzer, Config};
use authscope::tcp::{StreamEvent, TcpConfig, TcpTable};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// An Ethernet/IPv4/TCP frame carrying `payload`.
fn frame_bytes(payload: &[u8], seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    let total = 20 + 20 + payload.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ];
    ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&ip);
    let mut tcp = vec![0xC3, 0x50, 0, 80];
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&1u32.to_be_bytes());
    tcp.extend_from_slice(&[0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
    f.extend_from_slice(&tcp);
    f.extend_from_slice(payload);
    f
}

fn net(c: &mut Criterion) {
    let bytes = frame_bytes(&[b'x'; 1448], 1);
    let mut g = c.benchmark_group("net");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode_ethernet_ipv4_tcp", |b| {
        let mut d = NetDecoder::new();
        b.iter(|| {
            let frame = Frame {
                number: 1,
                input: 0,
                ts: Timestamp(0),
                link: LinkType::ETHERNET,
                data: &bytes,
                orig_len: bytes.len() as u32,
            };
            std::hint::black_box(d.decode(&frame).map(|s| s.payload.len()))
        })
    });
    g.finish();
}

fn tcp(c: &mut Criterion) {
    let payload = vec![b'x'; 1448];
    let mut g = c.benchmark_group("tcp");
    g.throughput(Throughput::Bytes(payload.len() as u64 * 1000));
    g.bench_function("in_order_1000_segments", |b| {
        b.iter(|| {
            let mut t = TcpTable::new(TcpConfig::default());
            let mut n = 0usize;
            for i in 0..1000u32 {
                let seg = Segment {
                    frame: u64::from(i),
                    ts: Timestamp(i64::from(i)),
                    src: "10.0.0.1:50000".parse().unwrap(),
                    dst: "10.0.0.2:80".parse().unwrap(),
                    seq: 1 + i * 1448,
                    ack: 1,
                    flags: TcpFlags(TcpFlags::ACK),
                    window: 65535,
                    payload: &payload,
                    missing: 0,
                };
                t.push(&seg, &mut |ev| {
                    if let StreamEvent::Data { bytes, .. } = ev {
                        n += bytes.len();
                    }
                });
            }
            std::hint::black_box(n)
        })
    });
    g.finish();
}

fn http(c: &mut Criterion) {
    let req = b"GET /sites/portal/default.aspx?s=2048 HTTP/1.1\r\nHost: intranet.corp.example.com\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en-US,en;q=0.9\r\nAuthorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGNFAAAADw==\r\nConnection: keep-alive\r\n\r\n";
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Bytes(req.len() as u64));
    g.bench_function("request_head", |b| {
        let mut h = HttpTracker::default();
        let open = StreamEvent::Open {
            conn: 0,
            ts: Timestamp(0),
            frame: 1,
            client: "10.0.0.1:50000".parse().unwrap(),
            server: "10.0.0.2:80".parse().unwrap(),
            kind: authscope::tcp::OpenKind::Handshake,
        };
        h.push(&open, &mut |_| {});
        let mut offset = 0u64;
        b.iter(|| {
            let ev = StreamEvent::Data {
                conn: 0,
                dir: authscope::tcp::Dir::ToServer,
                ts: Timestamp(1),
                frame: 2,
                offset,
                bytes: req,
            };
            offset += req.len() as u64;
            let mut n = 0;
            h.push(&ev, &mut |_| n += 1);
            std::hint::black_box(n)
        })
    });
    g.finish();
}

fn ntlm(c: &mut Criterion) {
    // MS-NLMP 4.2.4.3 shape: a Type 2 with target info (from the lab's ntlm-success capture).
    let token = base64_decode(
        "TlRMTVNTUAACAAAADAAMADgAAAA1gonigsN1fIEDp6IAAAAAAAAAAFAAUABEAAAABgByFwAAAA9TAEUAUgBWAEUAUgACAAwARABPAE0AQQBJAE4AAQAMAFMARQBSAFYARQBSAAQAFABkAG8AbQBhAGkAbgAuAGMAbwBtAAMAIgBzAGUAcgB2AGUAcgAuAGQAbwBtAGEAaQBuAC4AYwBvAG0AAAAAAA==",
    );
    let mut g = c.benchmark_group("auth");
    g.throughput(Throughput::Bytes(token.len() as u64));
    g.bench_function("ntlm_challenge", |b| {
        b.iter(|| std::hint::black_box(authscope::auth::ntlm::parse(&token).is_ok()))
    });
    g.finish();
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn pipeline(c: &mut Criterion) {
    let path = std::env::var_os("AUTHSCOPE_BENCH_CAPTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/ntlm-keepalive-broken.pcap")
        });
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size));
    g.bench_with_input(
        BenchmarkId::new("analyze", path.display()),
        &path,
        |b, p| {
            b.iter(|| {
                let mut src = MergedSource::open(std::slice::from_ref(p)).unwrap();
                let mut a = Analyzer::new(Config::default());
                let mut n = 0u64;
                while let Some(f) = src.next_frame() {
                    a.push(&f, &mut |_| n += 1);
                }
                a.finish(&mut |_| n += 1);
                std::hint::black_box(n)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, net, tcp, http, ntlm, pipeline);
criterion_main!(benches);
