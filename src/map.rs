//! The hash map used for the pipeline's tables: std's map with foldhash, which is several times
//! faster than SipHash on small keys and still seeded per process, so crafted 4-tuples cannot
//! aim at one bucket.

/// A `HashMap` with a fast, randomly seeded hasher.
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
