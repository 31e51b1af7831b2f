//! Kerberos messages (RFC 4120 AP-REQ, AP-REP, KRB-ERROR) and the RFC 4121 mechanism token.
#![no_main]
use authscope::auth::{decode_kerberos_token, kerberos};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = kerberos::parse(data) {
        let _ = m.summary();
        let _ = serde_json::to_string(&m);
    }
    let _ = kerberos::parse_mech_inner(data, true).map(|t| t.message.summary());
    let _ = decode_kerberos_token(data).map(|t| serde_json::to_string(&t));
});
