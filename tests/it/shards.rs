//! Flow sharding (issue 9): fronts that each reassemble a share of the connections, merged,
//! make what one front makes, output for output and counter for counter. Generated traffic
//! reaches what the captures do not: idle timeouts at the sweeps, a 4-tuple reused, bytes out
//! of order, many connections open at once, and caps hit.

use authscope::capture::{Frame, LinkType, Timestamp};
use authscope::pipeline::shard::run_in_turn;
use authscope::pipeline::{Analyzer, Config, Output, Stats};
use proptest::prelude::*;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const RST: u8 = 0x04;

const NTLM_1: &str = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==";

/// What the generated traffic does next.
#[derive(Debug, Clone)]
enum Step {
    /// A SYN (handshake or, on an open connection with a new ISN, a reused 4-tuple), or
    /// nothing and the connection starts mid-stream.
    Open {
        conn: u8,
        syn: bool,
    },
    /// A request, NTLM or plain; split in two and sent second half first if `swap`.
    Request {
        conn: u8,
        ntlm: bool,
        swap: bool,
    },
    /// A response: 401 with an NTLM challenge, or 200.
    Response {
        conn: u8,
        refuse: bool,
    },
    Fin {
        conn: u8,
    },
    Rst {
        conn: u8,
    },
    /// Time passes (tenths of a second).
    Idle {
        tenths: u16,
    },
    /// Frames that are not TCP, to bring the idle sweeps (every 8192 frames) on.
    Filler {
        frames: u16,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let conn = 0u8..24;
    prop_oneof![
        (conn.clone(), any::<bool>()).prop_map(|(conn, syn)| Step::Open { conn, syn }),
        (conn.clone(), any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(conn, ntlm, swap)| Step::Request { conn, ntlm, swap }),
        (conn.clone(), any::<bool>()).prop_map(|(conn, refuse)| Step::Response { conn, refuse }),
        conn.clone().prop_map(|conn| Step::Fin { conn }),
        conn.prop_map(|conn| Step::Rst { conn }),
        (0u16..40).prop_map(|tenths| Step::Idle { tenths }),
        (0u16..3000).prop_map(|frames| Step::Filler { frames }),
    ]
}

/// An ARP request: a frame the network layer passes over.
fn filler_frame() -> Vec<u8> {
    let mut out = vec![0xff; 6];
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
    out.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&[10, 0, 0, 2]);
    out
}

#[derive(Debug, Clone, Copy, Default)]
struct Conn {
    client_seq: u32,
    server_seq: u32,
    isn: u32,
}

/// The frames (time, bytes) the steps make.
fn frames(steps: &[Step]) -> Vec<(i64, Vec<u8>)> {
    let tcp_frame = |src, dst, seq, ack, flags, payload: &[u8]| {
        let mut frame = Vec::new();
        super::util::tcp_frame(&mut frame, src, dst, seq, ack, flags, payload);
        frame
    };
    let mut out = Vec::new();
    let mut ts: i64 = 1_700_000_000_000_000_000;
    let mut conns = [Conn::default(); 24];
    let mut isn = 1000u32;
    for s in steps {
        ts += 1_000_000;
        let ends = |c: u8| {
            // Four client addresses, so that connections of one client can be joined.
            let client = ([10, 0, 0, 10 + c % 4], 40_000 + u16::from(c));
            let server = ([10, 0, 1, 1 + c % 3], 80);
            (client, server)
        };
        match *s {
            Step::Open { conn, syn } => {
                let (client, server) = ends(conn);
                isn = isn.wrapping_add(100_000);
                let c = &mut conns[usize::from(conn)];
                *c = Conn {
                    client_seq: isn.wrapping_add(1),
                    server_seq: isn.wrapping_add(50_001),
                    isn,
                };
                if syn {
                    out.push((ts, tcp_frame(client, server, c.isn, 0, SYN, b"")));
                    out.push((
                        ts + 10,
                        tcp_frame(
                            server,
                            client,
                            c.isn.wrapping_add(50_000),
                            c.client_seq,
                            SYN | ACK,
                            b"",
                        ),
                    ));
                    out.push((
                        ts + 20,
                        tcp_frame(client, server, c.client_seq, c.server_seq, ACK, b""),
                    ));
                    ts += 20;
                }
            }
            Step::Request { conn, ntlm, swap } => {
                let (client, server) = ends(conn);
                let c = &mut conns[usize::from(conn)];
                let auth = if ntlm {
                    format!("Authorization: NTLM {NTLM_1}\r\n")
                } else {
                    String::new()
                };
                let req = format!("GET /app/{conn} HTTP/1.1\r\nHost: web\r\n{auth}\r\n");
                let req = req.as_bytes();
                let half = req.len() / 2;
                let (a, b) = req.split_at(half);
                let first = c.client_seq;
                let second = c.client_seq.wrapping_add(u32::try_from(half).unwrap());
                if swap {
                    out.push((
                        ts,
                        tcp_frame(client, server, second, c.server_seq, PSH_ACK, b),
                    ));
                    out.push((
                        ts + 5,
                        tcp_frame(client, server, first, c.server_seq, PSH_ACK, a),
                    ));
                } else {
                    out.push((
                        ts,
                        tcp_frame(client, server, first, c.server_seq, PSH_ACK, req),
                    ));
                }
                c.client_seq = c.client_seq.wrapping_add(u32::try_from(req.len()).unwrap());
            }
            Step::Response { conn, refuse } => {
                let (client, server) = ends(conn);
                let c = &mut conns[usize::from(conn)];
                let resp: &[u8] = if refuse {
                    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM TlRMTVNTUAACAAAAAAAAADgAAAAFgomiESIzRFVmd4gAAAAAAAAAAAAAAAAAAAAABgGxHQAAAA8=\r\nContent-Length: 0\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                };
                out.push((
                    ts,
                    tcp_frame(server, client, c.server_seq, c.client_seq, PSH_ACK, resp),
                ));
                c.server_seq = c
                    .server_seq
                    .wrapping_add(u32::try_from(resp.len()).unwrap());
            }
            Step::Fin { conn } => {
                let (client, server) = ends(conn);
                let c = &mut conns[usize::from(conn)];
                out.push((
                    ts,
                    tcp_frame(client, server, c.client_seq, c.server_seq, FIN_ACK, b""),
                ));
                out.push((
                    ts + 10,
                    tcp_frame(
                        server,
                        client,
                        c.server_seq,
                        c.client_seq.wrapping_add(1),
                        FIN_ACK,
                        b"",
                    ),
                ));
            }
            Step::Rst { conn } => {
                let (client, server) = ends(conn);
                let c = &conns[usize::from(conn)];
                out.push((ts, tcp_frame(server, client, c.server_seq, 0, RST, b"")));
            }
            Step::Idle { tenths } => ts += i64::from(tenths) * 100_000_000,
            Step::Filler { frames } => {
                for _ in 0..frames {
                    ts += 1_000;
                    out.push((ts, filler_frame()));
                }
            }
        }
    }
    out
}

fn frame(number: usize, (ts, data): &(i64, Vec<u8>)) -> Frame<'_> {
    Frame {
        number: u64::try_from(number + 1).unwrap(),
        input: 0,
        ts: Timestamp(*ts),
        link: LinkType::ETHERNET,
        data,
        orig_len: u32::try_from(data.len()).unwrap(),
    }
}

/// One analyzer's outputs and counters.
fn one(config: Config, frames: &[(i64, Vec<u8>)]) -> (Vec<Output>, Stats) {
    let mut a = Analyzer::new(config);
    let mut outs = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        a.push(&frame(i, f), &mut |o| outs.push(o));
    }
    a.finish(&mut |o| outs.push(o));
    (outs, a.stats())
}

/// `n` shards' outputs and counters, merged from batches of `batch` items (so the merge
/// waits on one shard and then another), and the merge's warnings.
fn sharded(
    config: Config,
    n: usize,
    frames: &[(i64, Vec<u8>)],
    batch: usize,
) -> (Vec<Output>, Stats, Vec<String>) {
    let r = run_in_turn(config, n, batch, &|push| {
        for (i, f) in frames.iter().enumerate() {
            push(&frame(i, f));
        }
    });
    (r.outputs, r.stats, r.warnings)
}

fn config(idle_seconds: i64) -> Config {
    let mut c = Config::default();
    c.tcp.idle_timeout_ns = idle_seconds * 1_000_000_000;
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Under the caps, any number of shards makes what one front makes.
    #[test]
    fn shards_make_what_one_front_makes(
        steps in prop::collection::vec(step(), 1..120),
        n in 2usize..5,
        batch in 1usize..40,
    ) {
        let frames = frames(&steps);
        let cfg = config(1);
        let (outs, stats) = one(cfg, &frames);
        let (sh_outs, sh_stats, warnings) = sharded(cfg, n, &frames, batch);
        prop_assert_eq!(warnings, Vec::<String>::new());
        prop_assert_eq!(sh_stats, stats);
        prop_assert_eq!(sh_outs.len(), outs.len());
        for (a, b) in sh_outs.iter().zip(&outs) {
            prop_assert_eq!(a, b);
        }
    }

    /// Over small caps, the shards make what one front makes unless the merge warns.
    #[test]
    fn over_the_caps_the_merge_warns_or_matches(
        steps in prop::collection::vec(step(), 1..120),
        n in 2usize..4,
        connections in 1usize..6,
        http_bytes in 16usize..400,
    ) {
        let frames = frames(&steps);
        let mut cfg = config(1);
        cfg.tcp.max_connections = connections;
        cfg.http.max_buffered_total = http_bytes;
        let (outs, stats) = one(cfg, &frames);
        let (sh_outs, sh_stats, warnings) = sharded(cfg, n, &frames, 16);
        if warnings.is_empty() {
            prop_assert_eq!(sh_stats, stats);
            prop_assert_eq!(sh_outs, outs);
        }
    }
}

/// The generated traffic reaches the idle sweeps, reuse and reordering at all.
#[test]
fn the_generated_traffic_times_connections_out_and_reorders() {
    let steps = [
        Step::Open { conn: 1, syn: true },
        Step::Request {
            conn: 1,
            ntlm: true,
            swap: true,
        },
        Step::Response {
            conn: 1,
            refuse: true,
        },
        Step::Open {
            conn: 2,
            syn: false,
        },
        Step::Request {
            conn: 2,
            ntlm: false,
            swap: false,
        },
        Step::Idle { tenths: 30 },
        Step::Filler { frames: 9000 },
        Step::Open { conn: 3, syn: true },
        Step::Open { conn: 3, syn: true },
        Step::Request {
            conn: 3,
            ntlm: true,
            swap: false,
        },
        Step::Fin { conn: 3 },
    ];
    let frames = frames(&steps);
    let (outs, stats) = one(config(1), &frames);
    assert!(stats.tcp.timeouts >= 2, "{:?}", stats.tcp);
    assert!(stats.tcp.out_of_order_segments >= 1, "{:?}", stats.tcp);
    assert!(stats.tcp.peak_buffered_bytes > 0, "{:?}", stats.tcp);
    assert_eq!(stats.tcp.connections, 4, "{:?}", stats.tcp);
    assert!(outs.iter().any(|o| matches!(o, Output::Handshake(_))));
    let (sh_outs, sh_stats, warnings) = sharded(config(1), 3, &frames, 3);
    assert!(warnings.is_empty());
    assert_eq!(sh_stats, stats);
    assert_eq!(sh_outs, outs);
}

/// One front over the connection cap evicts; so do the shards, each over its share of it (the
/// shards together hold no more than one front), and the merge says the report may differ.
#[test]
fn the_merge_warns_where_a_shard_hit_its_share_of_a_cap() {
    let steps: Vec<Step> = (0..8)
        .flat_map(|conn| {
            [
                Step::Open { conn, syn: true },
                Step::Request {
                    conn,
                    ntlm: true,
                    swap: false,
                },
            ]
        })
        .collect();
    let frames = frames(&steps);
    let mut cfg = config(30);
    cfg.tcp.max_connections = 6;
    let (_, stats) = one(cfg, &frames);
    assert_eq!(stats.tcp.evicted_connections, 2);
    let (_, sh_stats, warnings) = sharded(cfg, 2, &frames, 8);
    assert!(sh_stats.tcp.evicted_connections > 0, "{:?}", sh_stats.tcp);
    assert!(
        sh_stats.tcp.peak_open_connections <= 6,
        "{:?}",
        sh_stats.tcp
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("share of the cap connections=6 (3 for each of 2"),
        "{warnings:?}"
    );
}

/// Under the caps, the shards hold no more than one front: each has a share of them.
#[test]
fn shards_hold_a_share_of_the_caps() {
    let steps: Vec<Step> = (0..8)
        .flat_map(|conn| {
            [
                Step::Open { conn, syn: true },
                Step::Request {
                    conn,
                    ntlm: true,
                    swap: false,
                },
            ]
        })
        .collect();
    let frames = frames(&steps);
    let mut cfg = config(30);
    cfg.tcp.max_connections = 8;
    let (outs, stats) = one(cfg, &frames);
    assert_eq!(stats.tcp.evicted_connections, 0);
    for n in 2..=4 {
        let (sh_outs, sh_stats, warnings) = sharded(cfg, n, &frames, 8);
        assert!(
            sh_stats.tcp.peak_open_connections <= 8,
            "{:?}",
            sh_stats.tcp
        );
        // A shard over its share warns; one that is not makes what one front makes.
        if warnings.is_empty() {
            assert_eq!(sh_outs, outs, "{n} shards");
        } else {
            assert!(sh_stats.tcp.evicted_connections > 0, "{:?}", sh_stats.tcp);
        }
    }
}
