//! speedscope's JSON file format.

use super::{ImportError, ImportOptions, Position};
use crate::profile::Profile;

pub fn parse(_bytes: &[u8], name: &str, _opts: &ImportOptions) -> Result<Profile, ImportError> {
    Err(ImportError::new(
        name,
        Position::Whole,
        "speedscope input is not supported yet",
    ))
}
