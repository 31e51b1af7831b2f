//! The connection table. (Interface fixed; implementation in progress.)

use super::{StreamEvent, TcpConfig, TcpStats};
use crate::capture::Timestamp;
use crate::net::Segment;

/// The connection table: feed it segments in capture order, get [`StreamEvent`]s.
#[derive(Debug)]
pub struct TcpTable {
    config: TcpConfig,
    stats: TcpStats,
}

impl TcpTable {
    pub fn new(config: TcpConfig) -> Self {
        TcpTable {
            config,
            stats: TcpStats::default(),
        }
    }

    /// Processes one segment; events go to `sink` in the order they happen.
    pub fn push(&mut self, seg: &Segment<'_>, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        let _ = (seg, sink, &self.config);
        self.stats.segments += 1;
    }

    /// Stops delivering data for `conn` (the layer above found it is not HTTP): its buffers are
    /// freed and later payload is neither buffered nor delivered; FIN, RST and close still are.
    pub fn ignore_data(&mut self, conn: super::ConnId) {
        let _ = conn;
    }

    /// Closes connections idle since before `now - idle_timeout`.
    pub fn expire(&mut self, now: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        let _ = (now, sink);
    }

    /// End of input: releases what is buffered (with gaps for the holes) and closes every open
    /// connection with `EndOfInput`, in ConnId order.
    pub fn finish(&mut self, now: Timestamp, sink: &mut dyn FnMut(StreamEvent<'_>)) {
        let _ = (now, sink);
    }

    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        0
    }
}
