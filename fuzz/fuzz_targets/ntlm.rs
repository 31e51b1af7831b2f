//! NTLM messages (MS-NLMP 2.2): decode, and everything shown of a decoded message.
#![no_main]
use authscope::auth::{ntlm, RevealSecrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ntlm::partial(data);
    if let Ok(mut m) = ntlm::parse(data) {
        let _ = m.summary();
        let _ = serde_json::to_string(&m);
        m.reveal_secrets();
        let _ = serde_json::to_string(&m);
    }
});
