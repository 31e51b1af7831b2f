//! Link layers.
#[derive(Debug, Default)]
pub struct NetDecoder;
#[derive(Debug, Default, Clone, Copy)]
pub struct NetStats;
