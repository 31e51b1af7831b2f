//! The one place that names every stage.
