//! pprof's `profile.proto`, gzipped or not: what Grafana Pyroscope and Parca export.

use super::{ImportError, ImportOptions, Position};
use crate::profile::Profile;

/// Whether `bytes` start like a protobuf message of pprof's `Profile` (field 1, sample_type, a
/// length-delimited message).
pub fn looks_like_protobuf(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x0a)
}

pub fn parse(_bytes: &[u8], name: &str, _opts: &ImportOptions) -> Result<Profile, ImportError> {
    Err(ImportError::new(
        name,
        Position::Whole,
        "pprof input is not supported yet",
    ))
}
