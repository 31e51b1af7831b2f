//! The whole pipeline on a (byte-mutated) capture file: reader, decoders, reassembly, HTTP,
//! and the authentication headers of every exchange through the scheme decoders; each
//! handshake, finding and KDC message through the ECS and Zeek writers.
#![no_main]
use std::io::Cursor;
use std::path::Path;

use authscope::auth::{decode_header, HeaderKind};
use authscope::capture::FileSource;
use authscope::pipeline::{Analyzer, Config, Output};
use libfuzzer_sys::fuzz_target;

/// The ECS and Zeek writers, as the report runs them.
#[derive(Default)]
struct Faces {
    ecs: authscope::document::ecs::Ecs,
    zeek: authscope::document::zeek::Zeek,
}

fn take(faces: &mut Faces, o: Output) {
    let mut sink = std::io::sink();
    match &o {
        Output::Handshake(a) => {
            assert!(faces.ecs.write_handshake(a, &mut sink).is_ok());
            assert!(faces.zeek.write_handshake(a, &mut sink).is_ok());
        }
        Output::Finding(f) => assert!(faces.ecs.write_connection_finding(f, &mut sink).is_ok()),
        Output::Wire(m) => assert!(faces.zeek.wire(m, &mut sink).is_ok()),
        _ => {}
    }
    let x = match o {
        Output::Exchange(x, _) => x,
        // Serialised as the report does, with its secrets kept or forgotten: the report's
        // writer (twice, so that shared auth headers are copied the second time) writes what
        // serde_json writes.
        Output::Handshake(h) => {
            let theirs = serde_json::to_vec(&h).ok();
            assert_eq!(authscope::json::to_vec(&h).ok(), theirs);
            assert_eq!(authscope::json::to_vec(&h).ok(), theirs);
            return;
        }
        _ => return,
    };
    let heads = x
        .request
        .iter()
        .flat_map(|r| r.headers.iter())
        .chain(x.response.iter().flat_map(|r| r.headers.iter()))
        .chain(x.interim.iter().flat_map(|r| r.headers.iter()));
    for h in heads {
        if let Some(kind) = HeaderKind::from_name(&h.name) {
            let d = decode_header(kind, h.value.as_bytes());
            for item in &d.items {
                let _ = item.token.summary();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut source) =
        FileSource::from_reader(Path::new("fuzz.pcap"), Cursor::new(data.to_vec()), 0)
    else {
        return;
    };
    // Odd-sized inputs run as a report without `--reveal-secrets` does: secret values dropped
    // as legs are made.
    let mut analyzer = Analyzer::new(Config {
        forget_secrets: data.len() % 2 == 1,
        ..Config::default()
    });
    let mut faces = Faces::default();
    let mut take = |o| take(&mut faces, o);
    while let Some(frame) = source.next_frame() {
        analyzer.push(&frame, &mut take);
    }
    analyzer.finish(&mut take);
    assert!(faces.zeek.finish(&mut std::io::sink()).is_ok());
    let stats = analyzer.stats();
    assert_eq!(analyzer.open_connections(), 0);
    let _ = serde_json::to_string(&stats);
});
