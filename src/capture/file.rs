//! Capture files.
#[derive(Debug)]
pub struct CaptureError;
pub struct FileSource;
pub struct MergedSource;
