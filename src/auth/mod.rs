//! Stage 5: the authentication header grammar and the scheme decoders.
//!
//! Pure functions over byte slices: no I/O, no clock, no other stage imported.
