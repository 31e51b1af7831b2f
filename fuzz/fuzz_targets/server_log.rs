//! The server's records (`--server-log`, `--events`): IIS W3C and HTTPERR lines, wevtutil's
//! event XML and EVTX files, then the join's indexes and its summary over what was read.
#![no_main]
use authscope::capture::serverlog::{events, read_w3c_bytes, EventStats, ServerLogs};
use authscope::handshake::server::{JoinConfig, ServerJoin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let mut logs = ServerLogs::default();
    let mut stats = EventStats::default();
    match kind % 3 {
        0 => logs.lines = read_w3c_bytes(rest).0,
        1 => events::xml_events(&String::from_utf8_lossy(rest), 0, &mut stats, &mut |e| {
            logs.events.push(e)
        }),
        _ => {
            let _ = events::evtx_events(rest.to_vec(), 0, &mut stats, &mut |e| logs.events.push(e));
        }
    }
    let summary = ServerJoin::new(logs, JoinConfig::default()).finish();
    for alone in [false, true] {
        let _ = authscope::present::server_log_lines(&summary, alone);
    }
});
