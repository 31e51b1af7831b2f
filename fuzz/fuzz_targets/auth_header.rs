//! One authentication header value through the grammar and every scheme decoder; the first
//! byte picks the header (challenge or credentials).
#![no_main]
use authscope::auth::{decode_header, decode_pasted, header, HeaderKind, RevealSecrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    let kind = match pick % 4 {
        0 => HeaderKind::WwwAuthenticate,
        1 => HeaderKind::ProxyAuthenticate,
        2 => HeaderKind::Authorization,
        _ => HeaderKind::ProxyAuthorization,
    };
    let _ = header::parse_challenges(value);
    let _ = header::parse_credentials(value);
    let mut h = decode_header(kind, value);
    for item in &h.items {
        let _ = item.token.summary();
    }
    let _ = serde_json::to_string(&h);
    h.reveal_secrets();
    let _ = serde_json::to_string(&h);
    if let Ok(text) = std::str::from_utf8(value) {
        let _ = serde_json::to_string(&decode_pasted(text));
    }
});
