//! Stage 5: the authentication header grammar and the scheme decoders.
//!
//! Pure functions over byte slices: no I/O, no clock, no other stage imported.
//!
//! Entry points:
//! - [`decode_header`] / [`decode_headers`]: one header value (or all values of one header
//!   field) to an [`AuthHeader`] whose items carry a decoded [`Token`]; never fails.
//! - [`decode_pasted`]: a value pasted by a person, with or without the header name.
//! - Per-format parsers for fuzzing: [`ntlm::parse`], [`spnego::parse`],
//!   [`kerberos::parse`], [`header::parse_challenges`], [`header::parse_credentials`],
//!   [`digest::parse_challenge`], [`digest::parse_response`], [`basic::parse_credentials`],
//!   [`bearer::parse_token`].
//!
//! Secrets are [`Secret`]s: redacted in `Display`, `Debug` and `Serialize` until
//! [`RevealSecrets::reveal_secrets`] is called on the decoded value (`--reveal-secrets`).

// Hostile bytes arrive here: a panic is a crash on a malformed packet.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
// Tests build fixtures with arithmetic on known sizes; the non-test build still checks all
// of the decoders (clippy --all-targets lints both).
#![cfg_attr(test, allow(clippy::arithmetic_side_effects))]

pub mod basic;
pub mod bearer;
pub mod digest;
pub mod error;
pub mod header;
pub mod kerberos;
pub mod ntlm;
pub mod secret;
pub mod spnego;
pub mod util;

mod decode;
#[cfg(test)]
mod spec_examples;
#[cfg(test)]
mod robustness;

pub use decode::{
    decode_header, decode_headers, decode_kerberos_token, decode_pasted, AuthHeader, Decoded,
    HeaderKind, Malformed, ParamValue, RawParam, Token, NO_SCHEME_ANOMALY,
};
pub use error::{DecodeError, ErrorKind};
pub use header::{is_registered_scheme, AuthItem, AuthParam, Scheme, REGISTERED_SCHEMES};
pub use secret::{
    challenge_token_scheme, secret_field, RevealSecrets, Secret, SecretField, SECRET_HEADERS,
};
pub use util::Anomaly;

use base64::Engine as _;

/// Base64 as clients send it: standard alphabet, padding optional.
pub(crate) fn decode_base64(s: &str, field: &'static str) -> Result<Vec<u8>, DecodeError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(s.trim()).map_err(|e| {
        let offset = match e {
            base64::DecodeError::InvalidByte(o, _)
            | base64::DecodeError::InvalidLastSymbol(o, _) => o,
            _ => 0,
        };
        DecodeError::new(ErrorKind::Base64, field, offset)
    })
}
