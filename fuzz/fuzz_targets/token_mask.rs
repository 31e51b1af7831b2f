//! One header line through the pcapng slice's masking (export::token_mask): the first byte
//! picks the header, as in `auth_header` (and two more the masking reads). Whatever it makes
//! is the line's length, and a line it does not understand is left to the caller.
#![no_main]
use authscope::export::token_mask::mask_line;
use libfuzzer_sys::fuzz_target;

const NAMES: [&[u8]; 6] = [
    b"WWW-Authenticate",
    b"Proxy-Authenticate",
    b"Authorization",
    b"Proxy-Authorization",
    b"Authentication-Info",
    b"Cookie",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let mut line = name.to_vec();
    line.extend_from_slice(b": ");
    line.extend(
        value
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'\r' | b'\n')),
    );
    if let Some(masked) = mask_line(&line) {
        assert_eq!(masked.len(), line.len(), "the masked line keeps its length");
        assert_eq!(&masked[..name.len()], name, "the header name is kept");
    }
});
