//! The integration tests, one binary (as ripgrep does): pipeline cases over real captures,
//! the command line, and the architecture rule.

mod architecture;
mod cases;
mod cli;
mod util;
