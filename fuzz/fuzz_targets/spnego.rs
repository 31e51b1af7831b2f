//! Negotiate tokens (RFC 4559, RFC 4178 SPNEGO, raw NTLMSSP, bare Kerberos).
#![no_main]
use authscope::auth::{spnego, RevealSecrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut t) = spnego::parse(data) {
        let _ = t.summary();
        let _ = (t.ntlm().is_some(), t.kerberos().is_some());
        let _ = serde_json::to_string(&t);
        t.reveal_secrets();
        let _ = serde_json::to_string(&t);
    }
});
