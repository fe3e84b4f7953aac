//! How a run ends: [`ExitStatus`], the one table of exit codes, and [`UserError`], the errors
//! a user can fix, each naming its status. Everything else is an `anyhow` chain, and exits
//! [`codes::INTERNAL`]. Depends on nothing else of ours.

use std::fmt::Display;
use std::path::Path;

use thiserror::Error;

/// port-advisor's own exit codes. A failing program's status is passed on unchanged, so
/// port-advisor's own failures keep out of the codes programs use: Python's 1 (an uncaught
/// exception) and 2 (its own and argparse's usage errors), `os.EX_*` (64-78), the shell's
/// 126-127 and 128+N for signal N. They take 240-249, which no such convention uses.
pub mod codes {
    /// An error port-advisor did not classify: a bug, or a system failure it does not name.
    pub const INTERNAL: u8 = 240;
    /// Bad arguments, a missing script, a syntax error, a rules file with an unknown key.
    pub const USAGE: u8 = 241;
    /// The target is not a Python port-advisor can read.
    pub const UNSUPPORTED: u8 = 242;
    /// Attaching failed: no such process, no permission.
    pub const ATTACH: u8 = 243;
    /// Output could not be written.
    pub const OUTPUT: u8 = 244;
    /// `report --fail-on`: the advice has what it names.
    pub const FAIL_ON: u8 = 245;
    /// The codes above, as a range: a program's own status in it is called out on stderr.
    pub const OWN: std::ops::RangeInclusive<u8> = 240..=249;
}

/// How a port-advisor run ends, as its process exit status.
///
/// | status          | code  | when |
/// |-----------------|-------|------|
/// | `Success`       | 0     | done (also when the reader of stdout closed it early) |
/// | `ProgramFailed` | 1-255 | the launched program failed: its own status, 128+N for signal N |
/// | `Interrupted`   | 128+N | port-advisor got signal N: SIGINT 130, SIGTERM 143, SIGHUP 129 |
/// | `Internal`      | 240   | an error port-advisor did not classify |
/// | `Usage`         | 241   | bad arguments, missing script, syntax error, bad rules |
/// | `Unsupported`   | 242   | the target is not a Python port-advisor can read |
/// | `Attach`        | 243   | attaching failed (no such process, no permission) |
/// | `Output`        | 244   | output could not be written |
/// | `FailOn`        | 245   | `report --fail-on`: the advice has what it names |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// How the launched program ended: its exit code, or the signal that ended it.
    ProgramFailed {
        code: Option<i32>,
        signal: Option<i32>,
    },
    Internal,
    Usage,
    Unsupported,
    Attach,
    Output,
    FailOn,
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
            ExitStatus::Internal => codes::INTERNAL,
            ExitStatus::Usage => codes::USAGE,
            ExitStatus::Unsupported => codes::UNSUPPORTED,
            ExitStatus::Attach => codes::ATTACH,
            ExitStatus::Output => codes::OUTPUT,
            ExitStatus::FailOn => codes::FAIL_ON,
            ExitStatus::Interrupted(sig) => signalled(sig),
        }
    }

    /// The status of a failed run: the first [`UserError`] in the chain decides, else
    /// [`ExitStatus::Internal`].
    pub fn of_error(err: &anyhow::Error) -> ExitStatus {
        err.chain()
            .find_map(|e| e.downcast_ref::<UserError>())
            .map_or(ExitStatus::Internal, UserError::exit_status)
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
        assert_eq!(ExitStatus::Internal.code(), 240);
        assert_eq!(ExitStatus::Usage.code(), 241);
        assert_eq!(ExitStatus::Unsupported.code(), 242);
        assert_eq!(ExitStatus::Attach.code(), 243);
        assert_eq!(ExitStatus::Output.code(), 244);
        assert_eq!(ExitStatus::FailOn.code(), 245);
        assert_eq!(ExitStatus::Interrupted(2).code(), 130);
        assert_eq!(ExitStatus::Interrupted(15).code(), 143);
        assert_eq!(ExitStatus::Interrupted(1).code(), 129);
    }

    #[test]
    fn own_codes_stay_clear_of_the_codes_programs_use() {
        let own = [
            ExitStatus::Internal,
            ExitStatus::Usage,
            ExitStatus::Unsupported,
            ExitStatus::Attach,
            ExitStatus::Output,
            ExitStatus::FailOn,
        ];
        for status in own {
            let code = status.code();
            assert!(codes::OWN.contains(&code), "{status:?}: {code}");
            // Python (1, 2), os.EX_* (64-78), the shell (126, 127), signals (128+N, N <= 64).
            assert!(code > 2 && !(64..=78).contains(&code) && !(126..=192).contains(&code));
        }
        let mut seen: Vec<u8> = own.iter().map(|s| s.code()).collect();
        seen.dedup();
        assert_eq!(seen.len(), own.len(), "one code per meaning");
    }

    #[test]
    fn a_user_error_under_context_decides() {
        let err = anyhow::Error::from(UserError::Attach("no such process".into()))
            .context("attaching to 4242");
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Attach);
        let plain = anyhow::anyhow!("something else");
        assert_eq!(ExitStatus::of_error(&plain), ExitStatus::Internal);
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
