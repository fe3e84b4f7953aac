//! Pausing the target for one consistent read, with SIGSTOP and SIGCONT.
//!
//! A non-blocking read of a running program can mix frames of two moments; a paused one
//! cannot. py-spy's own pause attaches with ptrace, and a ptrace tracer collects the exit status
//! of a traced process that ends during the read: the launched program's status would be lost.
//! A job-control stop keeps the status for its parent, and costs a few microseconds more.
//!
//! A stop outlives port-advisor if port-advisor is killed (SIGKILL, a crash) in the middle of
//! a read, and would leave the program, or an attached process, stopped for good. A guard
//! process (a shell reading a pipe from port-advisor) resumes every process port-advisor
//! paused when that pipe closes without a goodbye.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a pause waits for every thread to stop before reading anyway.
const STOP_PATIENCE: Duration = Duration::from_millis(20);

/// A stopped process; dropping it lets the process run on.
#[derive(Debug)]
pub struct Pause {
    pid: u32,
    /// Which threads were running (state `R`) just before the stop, by kernel thread id.
    pub running: HashMap<u32, bool>,
}

impl Pause {
    /// Stops `pid` and waits until all its threads are stopped. `None` when it cannot be
    /// stopped, or when it was already stopped by someone else (it must not be continued then;
    /// a stopped process reads consistently as it is).
    pub fn start(pid: u32) -> Option<Pause> {
        let before = task_states(pid);
        if before.is_empty() || before.values().any(|&s| s == 'T' || s == 't') {
            return None;
        }
        guard_watch(pid);
        kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).ok()?;
        let pause = Pause {
            pid,
            running: before.iter().map(|(&tid, &s)| (tid, s == 'R')).collect(),
        };
        let deadline = Instant::now() + STOP_PATIENCE;
        loop {
            let states = task_states(pid);
            let all_stopped = states.values().all(|&s| matches!(s, 'T' | 't' | 'Z' | 'X'));
            if all_stopped || Instant::now() >= deadline {
                return Some(pause);
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGCONT);
    }
}

/// The guard: resumes the processes port-advisor paused if port-advisor dies.
struct Guard {
    /// The guard's pipe (one pid per line; `X` says goodbye), and the pids already sent.
    pipe: Mutex<(Option<ChildStdin>, HashSet<u32>)>,
    child: Mutex<Child>,
}

static GUARD: OnceLock<Option<Guard>> = OnceLock::new();

/// What the guard runs: it collects pids until port-advisor says goodbye (`X`), or until the
/// pipe closes without one, when it resumes them all.
const GUARD_SCRIPT: &str = r#"pids=""
while read -r line; do
  [ "$line" = X ] && exit 0
  pids="$pids $line"
done
[ -n "$pids" ] && kill -CONT $pids 2>/dev/null
exit 0"#;

/// Starts the guard, once per port-advisor process. Without one (no `sh`), pauses still work;
/// only the protection against being killed mid-read is lost.
pub fn start_guard() {
    GUARD.get_or_init(|| {
        let mut child = Command::new("sh")
            .args(["-c", GUARD_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the terminal's Ctrl-C is for port-advisor, not for it.
            .process_group(0)
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        Some(Guard {
            pipe: Mutex::new((stdin, HashSet::new())),
            child: Mutex::new(child),
        })
    });
}

/// Ends the guard after the recording: every pause has been undone.
pub fn stop_guard() {
    let Some(Some(guard)) = GUARD.get() else {
        return;
    };
    let mut pipe = guard.pipe.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mut stdin) = pipe.0.take() {
        let _ = stdin.write_all(b"X\n");
    }
    drop(pipe);
    let _ = guard.child.lock().unwrap_or_else(|e| e.into_inner()).wait();
}

/// Tells the guard about `pid` before its first pause.
fn guard_watch(pid: u32) {
    let Some(Some(guard)) = GUARD.get() else {
        return;
    };
    let mut pipe = guard.pipe.lock().unwrap_or_else(|e| e.into_inner());
    let (stdin, sent) = &mut *pipe;
    if let Some(stdin) = stdin {
        if sent.insert(pid) {
            let _ = writeln!(stdin, "{pid}");
        }
    }
}

/// The scheduler state letter (`R`, `S`, `D`, `T`, ...) of every thread of `pid`.
pub fn task_states(pid: u32) -> HashMap<u32, char> {
    let mut states = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return states;
    };
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(state) = std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(state_letter)
        {
            states.insert(tid, state);
        }
    }
    states
}

/// The state field of a `/proc/.../stat` line: the first letter after the command name, which
/// is in parentheses and may itself contain spaces and parentheses.
fn state_letter(stat: &str) -> Option<char> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_letter_skips_odd_command_names() {
        assert_eq!(state_letter("12 (py (x) y) R 1 12"), Some('R'));
        assert_eq!(state_letter("12 (python3) S 1 12"), Some('S'));
        assert_eq!(state_letter("garbage"), None);
    }

    #[test]
    fn this_process_has_a_running_thread() {
        let states = task_states(std::process::id());
        assert!(states.contains_key(&std::process::id()));
        assert!(states.values().any(|&s| s == 'R'));
    }
}
