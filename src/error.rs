//! How a run ends: [`ExitStatus`], the one table of exit codes, and [`UserError`], the errors
//! a user can fix, each naming its status. Everything else is an `anyhow` chain, and exits 2.
//! Depends on nothing else of ours.

use std::fmt::Display;
use std::path::Path;

use thiserror::Error;

/// How a port-advisor run ends, as its process exit status.
///
/// | status          | code  | when |
/// |-----------------|-------|------|
/// | `Success`       | 0     | done (also when the reader of stdout closed it early) |
/// | `ProgramFailed` | 1-255 | the launched program failed: its own status, 128+N for signal N |
/// | `Usage`         | 2     | bad arguments, missing script, syntax error; any other error |
/// | `Unsupported`   | 3     | the target is not a Python port-advisor can read |
/// | `Attach`        | 4     | attaching failed (no such process, no permission) |
/// | `Output`        | 5     | output could not be written |
/// | `Interrupted`   | 128+N | port-advisor got signal N: SIGINT 130, SIGTERM 143, SIGHUP 129 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// How the launched program ended: its exit code, or the signal that ended it.
    ProgramFailed {
        code: Option<i32>,
        signal: Option<i32>,
    },
    Usage,
    Unsupported,
    Attach,
    Output,
    /// The signal port-advisor received; the profile of what ran is kept.
    Interrupted(i32),
}

impl ExitStatus {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        let signalled = |sig: i32| (128 + sig).clamp(1, 255) as u8;
        match self {
            ExitStatus::Success => 0,
            ExitStatus::ProgramFailed { code, signal } => match (code, signal) {
                (Some(code), _) => code.clamp(1, 255) as u8,
                (None, Some(sig)) => signalled(sig),
                (None, None) => 1,
            },
            ExitStatus::Usage => 2,
            ExitStatus::Unsupported => 3,
            ExitStatus::Attach => 4,
            ExitStatus::Output => 5,
            ExitStatus::Interrupted(sig) => signalled(sig),
        }
    }

    /// The status of a failed run: the first [`UserError`] in the chain decides, else
    /// [`ExitStatus::Usage`].
    pub fn of_error(err: &anyhow::Error) -> ExitStatus {
        err.chain()
            .find_map(|e| e.downcast_ref::<UserError>())
            .map_or(ExitStatus::Usage, UserError::exit_status)
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

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

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            UserError::Usage(_) | UserError::Preflight(_) => ExitStatus::Usage,
            UserError::Unsupported(_) => ExitStatus::Unsupported,
            UserError::Attach(_) => ExitStatus::Attach,
            UserError::Output(_) => ExitStatus::Output,
        }
    }
}

/// Whether the error is a closed stdout (`| head`): the reader had enough, not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        let kind = e
            .downcast_ref::<std::io::Error>()
            .map(|io| io.kind())
            .or_else(|| {
                e.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_stay_what_scripts_rely_on() {
        let exit = |code, signal| ExitStatus::ProgramFailed { code, signal };
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(exit(Some(3), None).code(), 3);
        assert_eq!(exit(Some(300), None).code(), 255);
        assert_eq!(exit(Some(-1), None).code(), 1);
        assert_eq!(exit(None, Some(9)).code(), 137);
        assert_eq!(exit(None, None).code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::Unsupported.code(), 3);
        assert_eq!(ExitStatus::Attach.code(), 4);
        assert_eq!(ExitStatus::Output.code(), 5);
        assert_eq!(ExitStatus::Interrupted(2).code(), 130);
        assert_eq!(ExitStatus::Interrupted(15).code(), 143);
        assert_eq!(ExitStatus::Interrupted(1).code(), 129);
    }

    #[test]
    fn a_user_error_under_context_decides() {
        let err = anyhow::Error::from(UserError::Attach("no such process".into()))
            .context("attaching to 4242");
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Attach);
        let plain = anyhow::anyhow!("something else");
        assert_eq!(ExitStatus::of_error(&plain), ExitStatus::Usage);
    }

    #[test]
    fn a_closed_stdout_is_a_broken_pipe() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(
            &anyhow::Error::from(pipe).context("writing")
        ));
        assert!(!is_broken_pipe(&anyhow::anyhow!("disk full")));
    }
}
