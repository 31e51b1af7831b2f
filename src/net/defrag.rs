//! IPv4 fragment reassembly (RFC 791 3.2), capped.
