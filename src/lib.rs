//! authscope: shows why HTTP authentication fails, from the packets.
//!
//! One pipeline, data flowing one way (see docs/architecture.md):
//!
//! ```text
//!  1 capture   frames: (timestamp, link type, bytes)          pcap/pcapng file | live (libpcap)
//!  2 net       link -> IPv4/IPv6 (+ fragments) -> TCP segment  etherparse
//!  3 tcp       connection table; per-direction in-order bytes, gaps, FIN, RST, timeouts
//! 3b tls       records, handshake facts, decryption with a key log      tls-parser, RustCrypto
//!  4 http      HTTP/1.x message framing per connection; request/response pairing  httparse
//!  5 auth      header grammar (RFC 9110 11) and the scheme decoders
//! 5b kdc       KDC exchanges (port 88) and DNS (port 53) beside the HTTP   kerberos-parser, simple-dns
//!  6 handshake legs -> handshakes -> timelines (the model)
//!  7 diagnose  rules over the model -> findings
//!  8 present   report (text, JSON) | ui | export
//! ```
//!
//! A lower stage never imports a higher one (`tests/it/architecture.rs` checks it).

pub mod auth;
pub mod handshake;
pub mod diagnose;
pub mod export;
pub mod filter;
pub mod json;
pub mod kdc;
pub mod map;
pub mod capture;
pub mod http;
pub mod net;
pub mod pipeline;
pub mod document;
pub mod present;
pub mod report;
pub mod shown;
pub mod tcp;
pub mod tls;
pub mod ui;
