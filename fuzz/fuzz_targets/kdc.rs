//! The KDC and DNS stage (stage 5b): the first byte picks a Kerberos message (0), a DNS
//! message (1), or a TCP stream to port 88 and one to port 53 cut into segments where the
//! bytes say, then the bytes as a datagram and as an ICMP unreachable's quote (2); every
//! message read is then put in words and in JSON, as the faces do.
#![no_main]
use authscope::capture::Timestamp;
use authscope::kdc::{dns, krb, KdcConfig, KdcStage, WireMsg};
use authscope::tcp::{CloseReason, Dir};
use libfuzzer_sys::fuzz_target;

fn show(m: &WireMsg) {
    let _ = m.text();
    let _ = serde_json::to_string(m);
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let client = "10.0.0.1:50000".parse().unwrap_or_else(|_| unreachable!());
    let kdc = "10.0.0.2:88".parse().unwrap_or_else(|_| unreachable!());
    let dns_server = "10.0.0.3:53".parse().unwrap_or_else(|_| unreachable!());
    match kind % 3 {
        0 => {
            if let Ok(k) = krb::decode(rest) {
                let _ = serde_json::to_string(&k);
            }
        }
        1 => {
            if let Ok(d) = dns::decode(rest) {
                let _ = serde_json::to_string(&d);
            }
        }
        _ => {
            let mut stage = KdcStage::new(KdcConfig {
                max_message_bytes: 4096,
                ..KdcConfig::default()
            });
            stage.open(1, client, kdc);
            stage.open(2, client, dns_server);
            let mut out = |m: WireMsg| show(&m);
            for (i, chunk) in rest.chunks(97).enumerate() {
                let dir = if chunk.first().is_some_and(|b| b & 1 == 1) {
                    Dir::ToClient
                } else {
                    Dir::ToServer
                };
                let conn = 1 + (i as u64 % 2);
                if chunk.first() == Some(&0xff) {
                    stage.gap(conn, dir);
                }
                stage.data(conn, dir, Timestamp(i as i64), i as u64, chunk, &mut out);
            }
            if let Some(m) = stage.datagram(Timestamp(0), 0, (client, kdc), rest) {
                show(&m);
            }
            // The same bytes as the quote of an ICMP port unreachable about a datagram to the KDC.
            let icmp = authscope::net::Unreachable {
                from: kdc.ip(),
                v6: false,
                code: 3,
                tcp: false,
            };
            if let Some(m) = stage.unreachable(Timestamp(0), 0, (client, kdc), icmp, rest) {
                show(&m);
            }
            for conn in [1, 2] {
                if let Some(m) = stage.closed(conn, Timestamp(0), 0, CloseReason::Rst) {
                    show(&m);
                }
            }
        }
    }
});
