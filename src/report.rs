//! Text and JSON reports.
