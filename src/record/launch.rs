//! Starting the program: which interpreter, what to check before it runs, how to spawn it.
//!
//! The interpreter is the one the user would get: `--python`, else the active virtualenv's,
//! else `python3` (then `python`) on PATH. Scripts and modules are started through a small
//! runner (`bootstrap.py`) that reports the real interpreter and version and refuses a script
//! that does not compile before any of it runs, without a second interpreter start-up. The
//! runner and the probe talk with port-advisor through a folder private to the user.
//!
//! A launched program does not outlive port-advisor: if port-advisor is killed while recording,
//! the guard (see `pause`) ends it.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::{Context, Result};

use crate::error::UserError;
use crate::profile::ExitInfo;

/// What to launch.
#[derive(Debug, Clone)]
pub enum Launch {
    /// `python script.py args...`
    Script { path: PathBuf, args: Vec<OsString> },
    /// `python -m module args...`
    Module { name: String, args: Vec<OsString> },
    /// Any command line that ends up running Python.
    Command { argv: Vec<OsString> },
}

/// Which interpreter runs a script or module.
#[derive(Debug, Clone, Default)]
pub struct PythonChoice {
    /// `--python PATH`.
    pub explicit: Option<PathBuf>,
}

/// What the pre-flight learned about the interpreter.
#[derive(Debug, Clone)]
pub struct PythonInfo {
    pub executable: String,
    pub version: String,
    /// A problem with the script or module, as Python phrased it.
    pub problem: Option<String>,
    /// The process the runner is in: not the launched one when a launcher started Python as
    /// its child instead of becoming it.
    pub pid: Option<u32>,
    /// `sys.implementation.name`: `cpython`, `pypy`, ...
    pub implementation: Option<String>,
    /// `sys.abiflags`: `t` in a free-threaded build (3.13+ built with `Py_GIL_DISABLED`).
    pub abiflags: Option<String>,
    /// CPU seconds the interpreter took to start, before the runner's first line.
    pub startup_seconds: Option<f64>,
}

/// What port-advisor says of a free-threaded CPython (3.13t, 3.14t: built with
/// `Py_GIL_DISABLED`). Its objects and thread states are laid out differently from the
/// default build's, which is all py-spy 0.4's bindings know, so its stacks cannot be read;
/// nothing is sampled, and the default build of the same version is what to use.
pub(crate) fn free_threaded_refusal(executable: &str, version: &str) -> String {
    let minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
    format!(
        "{executable} is a free-threaded CPython {version} (built with Py_GIL_DISABLED), whose \
         stacks py-spy cannot read: port-advisor samples the default build of CPython only \
         (the one with the GIL); run the program with the default build of the same version \
         (python{minor}, not python{minor}t)"
    )
}

/// The CPython versions py-spy can read.
fn readable_version(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    match (parts.next(), parts.next()) {
        (Some(2), Some(minor)) => (3..=7).contains(&minor),
        (Some(3), Some(minor)) => (3..=15).contains(&minor),
        _ => false,
    }
}

impl PythonInfo {
    /// Why port-advisor cannot sample this interpreter, if it cannot.
    pub fn unsupported(&self) -> Option<String> {
        let implementation = self.implementation.as_deref().unwrap_or("cpython");
        if implementation != "cpython" {
            return Some(format!(
                "{} is {implementation} {}, and port-advisor reads CPython only; \
                 name a CPython interpreter with --python PATH",
                self.executable, self.version
            ));
        }
        if self.abiflags.as_deref().is_some_and(|f| f.contains('t')) {
            return Some(free_threaded_refusal(&self.executable, &self.version));
        }
        if !readable_version(&self.version) {
            return Some(format!(
                "{} is CPython {}, which port-advisor cannot read (it reads 2.3-2.7 and \
                 3.3-3.15); name another interpreter with --python PATH",
                self.executable, self.version
            ));
        }
        None
    }
}

/// A program that has been started.
#[derive(Debug)]
pub struct Launched {
    /// Taken by whoever watches the program.
    pub child: Option<Child>,
    /// The command line as the user would write it (without the runner).
    pub argv: Vec<String>,
    /// The interpreter started, for messages.
    pub interpreter: Option<PathBuf>,
    /// Where the runner reports the interpreter (or why it refused to run the program) and
    /// waits for the sampler; removed with this value.
    handshake: Option<tempfile::TempDir>,
}

impl Launched {
    /// Whether the program's outermost frames are the runner's, to be left out of stacks.
    pub fn has_runner(&self) -> bool {
        self.handshake.is_some()
    }

    /// The folder the probe reads candidates from and writes results to, when it runs.
    pub fn probe_folder(&self) -> Option<&Path> {
        self.handshake
            .as_ref()
            .map(|d| d.path())
            .filter(|d| d.join(PROBE_FILE).exists())
    }

    /// Tells the runner that port-advisor is about to end the program (`--duration`), so
    /// that the interrupt ends it quietly.
    pub fn note_stopping(&self) {
        if let Some(dir) = &self.handshake {
            let _ = write_private(&dir.path().join(STOP_FILE), b"");
        }
    }

    /// Lets the runner start the program: the sampler is reading it.
    pub fn release(&self) {
        if let Some(dir) = &self.handshake {
            // If this fails the runner starts the program after its own timeout.
            let _ = write_private(&dir.path().join(GO_FILE), b"");
        }
    }

    /// What the runner reported, once it has; `Err` when it refused to run the program.
    pub fn python(&self) -> Result<Option<PythonInfo>> {
        let Some(info) = self.report() else {
            return Ok(None);
        };
        if let Some(problem) = &info.problem {
            return Err(UserError::Preflight(format!("{problem}; fix it and run again")).into());
        }
        Ok(Some(info))
    }

    /// The exit status the runner noted as the program ended (a status Python chose: a
    /// signal or `os._exit` leaves none).
    pub fn noted_exit(&self) -> Option<ExitInfo> {
        let dir = self.handshake.as_ref()?;
        let text = std::fs::read_to_string(dir.path().join(EXIT_FILE)).ok()?;
        Some(ExitInfo {
            code: Some(text.trim().parse().ok()?),
            signal: None,
        })
    }

    /// The runner's report, when it has written one.
    pub fn report(&self) -> Option<PythonInfo> {
        let dir = self.handshake.as_ref()?;
        let text = std::fs::read_to_string(dir.path().join(REPORT_FILE)).ok()?;
        let mut lines = text.lines();
        let (Some(executable), Some(version)) = (lines.next(), lines.next()) else {
            return None;
        };
        Some(PythonInfo {
            executable: executable.to_owned(),
            version: version.to_owned(),
            problem: lines.next().filter(|p| !p.is_empty()).map(str::to_owned),
            pid: lines.next().and_then(|p| p.parse().ok()),
            implementation: lines.next().map(str::to_owned),
            abiflags: lines.next().map(str::to_owned),
            startup_seconds: lines
                .next()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0),
        })
    }
}

/// The runner's source; its frames have this file name.
const BOOTSTRAP: &str = include_str!("bootstrap.py");
/// The probe's source, written beside the handshake for the runner to load.
const PROBE: &str = include_str!("probe.py");
/// The probe's file name in the handshake folder.
pub const PROBE_FILE: &str = "probe.py";

/// What the in-process probe does.
#[derive(Debug, Clone, Copy)]
pub struct ProbeOptions {
    /// Start the probe (CPython 3.12+).
    pub enabled: bool,
    /// Keep small pickled examples of real calls.
    pub examples: bool,
}
const REPORT_FILE: &str = "report";
const GO_FILE: &str = "go";
const STOP_FILE: &str = "stop";
const EXIT_FILE: &str = "exit";

/// The file name Python gives to `-c` code, which the runner's frames carry.
pub const RUNNER_FILE: &str = "<string>";

impl PythonChoice {
    /// The interpreter command as the user would get it, before pre-flight.
    fn candidate(&self) -> Result<PathBuf> {
        if let Some(p) = &self.explicit {
            return Ok(p.clone());
        }
        if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
            let p = Path::new(&venv).join("bin").join("python");
            if p.exists() {
                return Ok(p);
            }
        }
        for name in ["python3", "python"] {
            if let Some(p) = find_on_path(name) {
                return Ok(p);
            }
        }
        Err(UserError::Preflight(
            "no python3 or python on PATH: install Python or name one with --python PATH".into(),
        )
        .into())
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Checks what can be checked before launching, then starts the program.
pub fn start(launch: &Launch, python: &PythonChoice, probe: ProbeOptions) -> Result<Launched> {
    match launch {
        Launch::Script { path, args } => {
            check_script(path)?;
            let shown: Vec<OsString> = std::iter::once(path.into())
                .chain(args.iter().cloned())
                .collect();
            spawn_with_runner(python, "script", path.as_os_str(), &shown, probe)
        }
        Launch::Module { name, args } => {
            let shown: Vec<OsString> = ["-m".into(), name.into()]
                .into_iter()
                .chain(args.iter().cloned())
                .collect();
            spawn_with_runner(python, "module", name.as_ref(), &shown, probe)
        }
        Launch::Command { argv } => {
            if argv.is_empty() {
                return Err(UserError::Usage(
                    "nothing to run after `--`: give a command that starts Python".into(),
                )
                .into());
            }
            let child = spawn(argv)?;
            Ok(Launched {
                child: Some(child),
                argv: lossy(argv),
                interpreter: None,
                handshake: None,
            })
        }
    }
}

/// `python -c RUNNER kind target args...`; `shown` is what the user's command line would be
/// after the interpreter.
fn spawn_with_runner(
    python: &PythonChoice,
    kind: &str,
    target: &std::ffi::OsStr,
    shown: &[OsString],
    probe: ProbeOptions,
) -> Result<Launched> {
    let interpreter = resolve_launcher(&python.candidate()?)?;
    let handshake = handshake_folder(probe.enabled)?;
    let mut argv: Vec<OsString> = vec![
        interpreter.clone().into(),
        "-c".into(),
        BOOTSTRAP.into(),
        kind.into(),
        target.into(),
    ];
    argv.extend(
        shown
            .iter()
            .skip(if kind == "module" { 2 } else { 1 })
            .cloned(),
    );
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env("PORT_ADVISOR_HANDSHAKE", handshake.path().join(REPORT_FILE))
        .env("PORT_ADVISOR_GO", handshake.path().join(GO_FILE))
        .env("PORT_ADVISOR_STOP", handshake.path().join(STOP_FILE))
        .env("PORT_ADVISOR_EXIT", handshake.path().join(EXIT_FILE));
    if probe.enabled {
        command.env("PORT_ADVISOR_PROBE", handshake.path());
        if !probe.examples {
            command.env("PORT_ADVISOR_NO_EXAMPLES", "1");
        }
    }
    let child = command.spawn().map_err(|e| {
        UserError::Unsupported(format!(
            "cannot run {}: {e}; name a Python interpreter with --python PATH",
            interpreter.display()
        ))
    })?;
    let mut user_argv = vec![interpreter.display().to_string()];
    user_argv.extend(lossy(shown));
    Ok(Launched {
        child: Some(child),
        argv: user_argv,
        interpreter: Some(interpreter),
        handshake: Some(handshake),
    })
}

/// The folder the runner and the probe share with port-advisor, with the probe in it when it
/// runs. Only this user may enter it (0700), and the files port-advisor writes there are only
/// this user's (0600): the probe keeps pickled arguments of the program's live calls there.
pub(super) fn handshake_folder(probe: bool) -> Result<tempfile::TempDir> {
    let handshake = tempfile::Builder::new()
        .prefix("port-advisor-handshake-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("cannot create a temporary folder")?;
    if probe {
        write_private(&handshake.path().join(PROBE_FILE), PROBE.as_bytes())
            .context("cannot write the probe to a temporary folder")?;
    }
    Ok(handshake)
}

/// Writes a file that only this user can read or write.
pub(super) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(contents)
}

/// The interpreter a launcher script (a pyenv shim, a wrapper) starts. Sampling the script's
/// process would read a shell, so the script is asked once which Python it runs, and that
/// Python is started instead. Anything that is not a `#!` script is returned as it is.
fn resolve_launcher(candidate: &Path) -> Result<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 2];
    let is_script = std::fs::File::open(candidate)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"#!";
    if !is_script {
        return Ok(candidate.to_path_buf());
    }
    let shown = candidate.display();
    let out = Command::new(candidate)
        .args(["-c", "import sys; sys.stdout.write(sys.executable)"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| UserError::Unsupported(format!("cannot run {shown}: {e}")))?;
    let found = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && found.is_absolute() && is_executable(&found) {
        return Ok(found);
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let status = match out.status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    Err(UserError::Unsupported(format!(
        "{shown} is a launcher script, and it did not start a Python interpreter ({status}{}); \
         name the interpreter itself with --python PATH",
        if said.is_empty() {
            String::new()
        } else {
            format!(": {}", said.trim())
        }
    ))
    .into())
}

fn lossy(args: &[OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn check_script(path: &Path) -> Result<()> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        let cwd = std::env::current_dir().unwrap_or_default();
        match e.kind() {
            std::io::ErrorKind::NotFound => UserError::Preflight(format!(
                "script not found: {shown} (looked in {}); check the path",
                cwd.join(path).display()
            )),
            _ => UserError::Preflight(format!("cannot read script {shown}: {e}")),
        }
    })?;
    if meta.is_dir() {
        let hint = if path.join("__main__.py").exists() {
            ", or run the package with `-m`".to_string()
        } else {
            String::new()
        };
        return Err(UserError::Preflight(format!(
            "{shown} is a directory, not a script: name a .py file{hint}"
        ))
        .into());
    }
    std::fs::File::open(path)
        .map_err(|e| UserError::Preflight(format!("cannot read script {shown}: {e}")))?;
    let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if full.to_str().is_none() {
        // Python keeps such a name with lone surrogates, which py-spy cannot decode: it skips
        // every frame of the file, and their time lands on "(no Python frame)".
        eprintln!(
            "port-advisor: warning: the script's path {} is not UTF-8, and py-spy cannot read \
             the names of code in it: its functions will be missing from the profile; move it \
             to a UTF-8 path",
            full.display()
        );
    }
    Ok(())
}

fn spawn(argv: &[OsString]) -> Result<Child> {
    Command::new(&argv[0])
        .args(&argv[1..])
        .spawn()
        .map_err(|e| {
            UserError::Preflight(format!(
            "cannot start {}: {e}; give a .py script, or after `--` a command that starts Python",
            Path::new(&argv[0]).display()
        ))
            .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        meta.permissions().mode() & 0o777
    }

    fn info(version: &str, abiflags: Option<&str>) -> PythonInfo {
        PythonInfo {
            executable: "/usr/bin/python3.14t".into(),
            version: version.into(),
            problem: None,
            pid: Some(7),
            implementation: Some("cpython".into()),
            abiflags: abiflags.map(Into::into),
            startup_seconds: None,
        }
    }

    #[test]
    fn free_threaded_builds_are_refused_in_plain_words() {
        let why = info("3.14.10", Some("t")).unsupported().unwrap();
        assert!(why.contains("free-threaded CPython 3.14.10"), "{why}");
        assert!(why.contains("python3.14, not python3.14t"), "{why}");
        assert!(info("3.14.10", Some("")).unsupported().is_none());
        // A runner of an older port-advisor wrote no ABI flags.
        assert!(info("3.13.0", None).unsupported().is_none());
        assert!(info("3.16.0", Some("")).unsupported().is_some());
    }

    #[test]
    fn the_handshake_folder_and_the_files_written_there_are_private() {
        let launched = Launched {
            child: None,
            argv: Vec::new(),
            interpreter: None,
            handshake: Some(handshake_folder(true).unwrap()),
        };
        launched.release();
        launched.note_stopping();
        let folder = launched.handshake.as_ref().unwrap().path();
        assert_eq!(format!("{:o}", mode(folder)), "700", "{}", folder.display());
        for name in [PROBE_FILE, GO_FILE, STOP_FILE] {
            assert_eq!(format!("{:o}", mode(&folder.join(name))), "600", "{name}");
        }
    }
}
