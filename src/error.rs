//! Errors a user can fix, each with its exit code. Everything else is an `anyhow` chain.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1-255 | a launched program's own failing exit status is passed on (128+N for signal N) |
//! | 2    | usage or pre-flight error (bad arguments, missing script, syntax error) |
//! | 3    | the target is not a Python port-advisor can read |
//! | 4    | attaching failed (no such process, no permission) |
//! | 5    | output could not be written |
//! | 130, 143, 129 | port-advisor was interrupted (SIGINT, SIGTERM, SIGHUP); profile kept |

use std::fmt::Display;
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum UserError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Preflight(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Attach(String),
    #[error("{0}")]
    Output(String),
}

impl UserError {
    /// `cannot write PATH: CAUSE`: the one wording of a file that could not be written.
    pub fn cannot_write(path: &Path, cause: impl Display) -> UserError {
        UserError::Output(format!("cannot write {}: {cause:#}", path.display()))
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            UserError::Usage(_) | UserError::Preflight(_) => 2,
            UserError::Unsupported(_) => 3,
            UserError::Attach(_) => 4,
            UserError::Output(_) => 5,
        }
    }
}

/// The exit code for an error chain: the first [`UserError`] in it decides, else 2.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<UserError>())
        .map_or(2, UserError::exit_code)
}
