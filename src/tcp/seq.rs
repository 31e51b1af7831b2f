//! Sequence numbers (RFC 9293 3.4).
