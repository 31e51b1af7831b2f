//! Digest challenges and responses (RFC 7616) from a header value.
#![no_main]
use authscope::auth::{digest, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = header::parse_challenges(data) {
        for item in &p.items {
            let _ = digest::parse_challenge(item).map(|c| c.summary());
        }
    }
    if let Ok(p) = header::parse_credentials(data) {
        for item in &p.items {
            let _ = digest::parse_response(item).map(|r| r.summary());
        }
    }
});
