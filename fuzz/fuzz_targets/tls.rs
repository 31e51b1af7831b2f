//! The TLS stage: an arbitrary key log and arbitrary bytes in both directions of one
//! connection, with TCP gaps, into `TlsConn`. Checks the contract of `TlsEvent` on the way:
//! plaintext is never empty, and none follows a direction's `PlaintextGap`.
//!
//! Input: a config byte (0: default caps, else small caps that are easy to hit), a key log
//! (`[length: u16 LE][text]`, added in two pieces at the config byte's split), then records
//! of `[op][length: u16 LE][bytes]`: op bit 0 the direction (1: to the client), bit 1 a gap
//! of `length` bytes instead of data. `fuzz/seed.sh` writes the fixtures' connections in
//! this form.
#![no_main]
use authscope::capture::Timestamp;
use authscope::tcp::Dir;
use authscope::tls::{looks_like_tls, KeyLog, TlsConfig, TlsConn, TlsEvent};
use libfuzzer_sys::fuzz_target;

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (a, b) = data.split_at_checked(n)?;
    *data = b;
    Some(a)
}

fn u16_le(data: &mut &[u8]) -> Option<usize> {
    let b = take(data, 2)?;
    Some(usize::from(u16::from_le_bytes([b[0], b[1]])))
}

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_tls(data);
    let mut rest = data;
    let Some(&[cfg]) = take(&mut rest, 1) else {
        return;
    };
    let config = if cfg == 0 {
        TlsConfig::default()
    } else {
        TlsConfig {
            max_handshake_bytes: usize::from(cfg) * 16,
            max_record_bytes: usize::from(cfg) * 64,
            max_alerts: 2,
            ..TlsConfig::default()
        }
    };
    let Some(klen) = u16_le(&mut rest) else {
        return;
    };
    let klen = klen.min(rest.len());
    let text = take(&mut rest, klen).unwrap_or(&[]);
    let mut keys = KeyLog::with_max_client_randoms(usize::from(cfg % 8) + 1);
    let (a, b) = text.split_at(usize::from(cfg).min(text.len()));
    keys.add_chunk(a);
    keys.add_chunk(b);
    keys.finish_chunks();
    keys.add_text(text);
    let _ = keys.stats();

    let mut conn = TlsConn::new(config);
    let mut gapped = [false; 2];
    let mut sink = |e: TlsEvent<'_>| match e {
        TlsEvent::Plaintext { dir, bytes, .. } => {
            assert!(!bytes.is_empty(), "empty plaintext");
            assert!(!gapped[dir as usize], "plaintext after a gap");
        }
        TlsEvent::PlaintextGap { dir, .. } => {
            assert!(!gapped[dir as usize], "a second gap");
            gapped[dir as usize] = true;
        }
        _ => {}
    };
    let mut frame = 0u64;
    while let Some(&[op]) = take(&mut rest, 1) {
        let Some(len) = u16_le(&mut rest) else {
            break;
        };
        let dir = if op & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        frame += 1;
        if op & 2 != 0 {
            conn.gap(dir, len as u64, &mut sink);
            continue;
        }
        let n = len.min(rest.len());
        let bytes = take(&mut rest, n).unwrap_or(&[]);
        conn.data(dir, frame, Timestamp(frame as i64), bytes, &keys, &mut sink);
    }
    let info = conn.into_info();
    let _ = serde_json::to_string(&info).unwrap();
});
