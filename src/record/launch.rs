//! Starting the program: which interpreter, what to check before it runs, how to spawn it.
//!
//! The interpreter is the one the user would get: `--python`, else the active virtualenv's,
//! else `python3` (then `python`) on PATH. A pre-flight run of that interpreter reports its
//! real executable (resolving pyenv shims and similar launchers), its version, and whether
//! the script compiles, so that a bad script fails in one line before anything is recorded.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Result;
use serde::Deserialize;

use crate::error::UserError;

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
#[derive(Debug, Clone, Deserialize)]
pub struct PythonInfo {
    pub executable: String,
    pub version: String,
    /// A problem with the script or module, as Python phrased it.
    pub problem: Option<String>,
}

/// A program that has been started.
#[derive(Debug)]
pub struct Launched {
    pub child: Child,
    pub argv: Vec<String>,
    pub python: Option<PythonInfo>,
}

/// Runs in the target interpreter before the program; it must work on Python 2.7 too.
const PREFLIGHT: &str = r#"
import sys, json
def main():
    kind, target = sys.argv[1], sys.argv[2]
    problem = None
    try:
        if kind == "script":
            f = open(target, "rb")
            try:
                src = f.read()
            finally:
                f.close()
            compile(src, target, "exec")
        elif kind == "module":
            import importlib.util
            try:
                spec = importlib.util.find_spec(target)
            except Exception as e:
                spec = None
            if spec is None:
                problem = "no module named %r for %s" % (target, sys.executable)
    except SyntaxError as e:
        problem = "syntax error in %s line %s: %s" % (e.filename, e.lineno, e.msg)
    except Exception as e:
        problem = "%s: %s" % (type(e).__name__, e)
    v = sys.version_info
    print(json.dumps({"executable": sys.executable,
                      "version": "%d.%d.%d" % (v[0], v[1], v[2]),
                      "problem": problem}))
main()
"#;

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
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Checks what can be checked before launching, then starts the program.
pub fn start(launch: &Launch, python: &PythonChoice) -> Result<Launched> {
    match launch {
        Launch::Script { path, args } => {
            check_script(path)?;
            let info = preflight(python, "script", path.as_os_str())?;
            let mut argv: Vec<OsString> = vec![info.executable.clone().into(), path.into()];
            argv.extend(args.iter().cloned());
            spawn(argv, Some(info))
        }
        Launch::Module { name, args } => {
            let info = preflight(python, "module", name.as_ref())?;
            let mut argv: Vec<OsString> =
                vec![info.executable.clone().into(), "-m".into(), name.into()];
            argv.extend(args.iter().cloned());
            spawn(argv, Some(info))
        }
        Launch::Command { argv } => {
            if argv.is_empty() {
                return Err(UserError::Usage(
                    "nothing to run after `--`: give a command that starts Python".into(),
                )
                .into());
            }
            spawn(argv.clone(), None)
        }
    }
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
    Ok(())
}

fn preflight(python: &PythonChoice, kind: &str, target: &std::ffi::OsStr) -> Result<PythonInfo> {
    let interpreter = python.candidate()?;
    let out = Command::new(&interpreter)
        .arg("-c")
        .arg(PREFLIGHT)
        .arg(kind)
        .arg(target)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            UserError::Unsupported(format!(
                "cannot run {}: {e}; name a Python interpreter with --python PATH",
                interpreter.display()
            ))
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let info: PythonInfo = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = stderr
                .lines()
                .last()
                .unwrap_or("no output")
                .trim()
                .to_owned();
            UserError::Unsupported(format!(
                "{} does not behave like a Python interpreter ({why}); name one with --python PATH",
                interpreter.display()
            ))
        })?;
    if let Some(problem) = &info.problem {
        return Err(UserError::Preflight(format!("{problem}; fix it and run again")).into());
    }
    Ok(info)
}

fn spawn(argv: Vec<OsString>, python: Option<PythonInfo>) -> Result<Launched> {
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .spawn()
        .map_err(|e| {
            UserError::Preflight(format!(
                "cannot start {}: {e}; give a .py script, or after `--` a command that starts Python",
                Path::new(&argv[0]).display()
            ))
        })?;
    Ok(Launched {
        child,
        argv: argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        python,
    })
}
