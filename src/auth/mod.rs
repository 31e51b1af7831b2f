//! Stage 5: the authentication header grammar and the scheme decoders.
//!
//! Pure functions over byte slices: no I/O, no clock, no other stage imported.

// Hostile bytes arrive here: a panic is a crash on a malformed packet.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod error;
pub mod ntlm;
pub mod secret;
pub mod util;

pub use error::{DecodeError, ErrorKind};
pub use secret::{RevealSecrets, Secret};
pub use util::Anomaly;
