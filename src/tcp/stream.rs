//! One direction of a connection.
