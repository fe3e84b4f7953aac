//! The probe in a process port-advisor attached to (`profile --pid`), on CPython 3.14+: sent
//! with PEP 768's `sys.remote_exec`, called by the process's own interpreter with the pid and
//! the path of a small script. The process's main thread runs the script at its next chance
//! (between two bytecodes, as it handles signals); the script starts the probe, which then
//! works as in a launched program, through the same folder. When the recording ends, the
//! probe writes its last results and removes itself: its sys.monitoring events, callbacks and
//! tool ids given back, its thread ended, its exit handler unregistered.
//!
//! Where it cannot be sent (an older Python, remote debugging turned off, a process the
//! system does not let port-advisor write to, another user's), the reason is what the
//! profile says of call counts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::launch::{self, ProbeOptions};

/// How long the probe may take to start once sent: the main thread runs the script only when
/// it runs Python code, which a thread blocked in a call (a server waiting for a request) does
/// not.
const START_PATIENCE: Duration = Duration::from_secs(2);
/// How long the probe may take to write its last results and remove itself.
const STOP_PATIENCE: Duration = Duration::from_secs(3);

/// What the process runs to start the probe. Everything in a function, which the process
/// runs in a namespace of its own; nothing escapes into the program, errors included.
const ATTACH_SCRIPT: &str = r#"# port-advisor's probe, sent into this process with sys.remote_exec (PEP 768).
def _port_advisor_attach(folder, examples, owner):
    import os
    import sys

    def say(name, text):
        tmp = os.path.join(folder, name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(folder, name))

    try:
        if os.path.exists(os.path.join(folder, "stop")):
            return  # port-advisor stopped waiting for it
        path = os.path.join(folder, "probe.py")
        space = {"__name__": "port_advisor_probe"}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), space)
        roots = [os.getcwd()]
        script = getattr(sys.modules.get("__main__"), "__file__", None)
        if script:
            roots.append(os.path.dirname(os.path.abspath(script)))
        probe = space["Probe"](folder, roots, path, examples, owner)
        if probe.error is not None:
            say("failed", probe.error)
            return
        import atexit

        atexit.register(probe.write)
        say("ready", "")
    except BaseException as e:
        try:
            say("failed", "%s: %s" % (type(e).__name__, e))
        except BaseException:
            pass


_port_advisor_attach(FOLDER, EXAMPLES, OWNER)
"#;

/// Calls `sys.remote_exec` in the target's own interpreter, and says why not when it cannot.
const SEND: &str = r#"import sys
if sys.version_info < (3, 14):
    print("old %d.%d.%d" % sys.version_info[:3])
    raise SystemExit(3)
try:
    sys.remote_exec(int(sys.argv[1]), sys.argv[2])
except PermissionError as e:
    print("permission %s" % e)
    raise SystemExit(4)
except RuntimeError as e:
    print("disabled %s" % e)
    raise SystemExit(5)
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
    raise SystemExit(6)
"#;

/// A probe running in an attached process.
pub(super) struct Injected {
    folder: tempfile::TempDir,
    pid: u32,
}

impl Injected {
    /// The folder the probe and the recorder share.
    pub(super) fn folder(&self) -> &Path {
        self.folder.path()
    }

    /// Ends the recording for the probe and waits until it has written its last results and
    /// removed itself; false when it did not say so in time (it then removes itself when its
    /// folder is gone, or when port-advisor's process is).
    pub(super) fn stop(&self) -> bool {
        let _ = launch::write_private(&self.folder.path().join("stop"), b"");
        let deadline = Instant::now() + STOP_PATIENCE;
        while Instant::now() < deadline {
            if self.folder.path().join("stopped").exists() {
                return true;
            }
            if !super::attach::process_running(self.pid) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// Sends the probe into process `pid` and waits until it runs; `Err` says, in the words the
/// profile keeps, why there are no call counts.
pub(super) fn inject(pid: u32, options: ProbeOptions) -> Result<Injected, String> {
    if !options.enabled {
        return Err("attached with --pid, and --no-probe turned the probe off".into());
    }
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|e| {
        format!("attached with --pid: the interpreter of process {pid} cannot be read ({e})")
    })?;
    if !exe
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("python"))
    {
        return Err(format!(
            "attached with --pid: the probe is sent with the process's own interpreter, and \
             process {pid} runs {}, not a python executable (Python embedded in a program)",
            exe.display()
        ));
    }
    if let Some(why) = other_user(pid) {
        return Err(why);
    }
    let folder = launch::handshake_folder(true)
        .map_err(|e| format!("attached with --pid: no folder for the probe ({e:#})"))?;
    let script = folder.path().join("attach.py");
    let text = ATTACH_SCRIPT
        .replace("FOLDER", &python_str(folder.path()))
        .replace("EXAMPLES", if options.examples { "True" } else { "False" })
        .replace("OWNER", &std::process::id().to_string());
    launch::write_private(&script, text.as_bytes())
        .map_err(|e| format!("attached with --pid: cannot write the probe's script ({e})"))?;
    send(&exe, pid, &script)?;
    let injected = Injected { folder, pid };
    let deadline = Instant::now() + START_PATIENCE;
    loop {
        let dir = injected.folder();
        if dir.join("ready").exists() {
            return Ok(injected);
        }
        if let Ok(why) = std::fs::read_to_string(dir.join("failed")) {
            return Err(format!(
                "attached with --pid: the probe did not start in process {pid}: {}",
                why.trim()
            ));
        }
        if Instant::now() >= deadline || !super::attach::process_running(pid) {
            // Too late from now on: a probe that starts after this ends at once.
            let _ = launch::write_private(&dir.join("stop"), b"");
            return Err(format!(
                "attached with --pid: the probe was sent to process {pid} but did not start \
                 within {} s; its main thread starts it between two Python bytecodes, and ran \
                 none (blocked in a call, as a server waiting for a request is)",
                START_PATIENCE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `sys.remote_exec(pid, script)` in the target's own interpreter (same version, as PEP
/// 768 requires), with remote debugging left on for the caller.
fn send(exe: &PathBuf, pid: u32, script: &Path) -> Result<(), String> {
    let out = Command::new(exe)
        .args(["-I", "-c", SEND])
        .arg(pid.to_string())
        .arg(script)
        .env_remove("PYTHON_DISABLE_REMOTE_DEBUG")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "attached with --pid: cannot run {} to send the probe ({e})",
                exe.display()
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (kind, detail) = said.split_once(' ').unwrap_or((said.as_str(), ""));
    Err(match kind {
        "old" => format!(
            "attached with --pid: the probe is sent into CPython 3.14+ only (PEP 768's \
             sys.remote_exec), and process {pid} runs {detail}; launch the program through \
             port-advisor for call counts"
        ),
        "disabled" => format!(
            "attached with --pid: process {pid} has remote debugging turned off \
             (PYTHON_DISABLE_REMOTE_DEBUG, or -X disable-remote-debug), so the probe could not \
             be sent ({detail})"
        ),
        "permission" => format!(
            "attached with --pid: the system refused to let port-advisor write into process \
             {pid} ({detail}), which sending the probe needs"
        ),
        "error" => format!("attached with --pid: the probe could not be sent ({detail})"),
        _ => format!(
            "attached with --pid: {} could not send the probe ({})",
            exe.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("no message")
        ),
    })
}

/// Why a process of another user cannot run the probe: it could not read or write
/// port-advisor's private folder.
fn other_user(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    (uid != nix::unistd::geteuid().as_raw()).then(|| {
        format!(
            "attached with --pid: process {pid} runs as another user (uid {uid}), and the probe \
             would run inside it, without access to port-advisor's private folder; run \
             port-advisor as that user for call counts"
        )
    })
}

/// A path as a Python string literal.
fn python_str(path: &Path) -> String {
    // JSON's escapes are Python's too.
    serde_json::to_string(&path.to_string_lossy()).unwrap_or_else(|_| "''".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attach_script_is_python_with_the_folder_in_it() {
        let text = ATTACH_SCRIPT
            .replace("FOLDER", &python_str(Path::new("/tmp/a \"b\"/é")))
            .replace("EXAMPLES", "True")
            .replace("OWNER", "42");
        assert!(text.contains(r#"_port_advisor_attach("/tmp/a \"b\"/é", True, 42)"#));
        assert!(!text.contains("FOLDER") && !text.contains("OWNER"));
    }
}
