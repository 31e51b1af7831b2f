//! The integration tests, one binary (as ripgrep does): pipeline cases over real captures,
//! the command line, and the architecture rule.

// Tests may panic: that is how they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod architecture;
mod bench;
mod cases;
mod cli;
mod decode;
mod differential;
mod ecs;
mod export;
mod flood_threads;
mod lab;
mod late_keys;
mod ui;
mod ui_screens;
mod live;
mod hardening;
mod hostile_text;
mod inputs;
mod kdc;
mod outputs;
mod readme;
mod server_logs;
mod shards;
mod slice_dissects;
mod slice_keys;
mod slice_masking;
mod threads;
mod tshark_h2;
mod tshark_kdc;
mod tshark_headers;
mod tls;
mod util;
mod verdicts;
mod zeek;
