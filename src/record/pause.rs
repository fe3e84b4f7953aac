//! Signals to the processes port-advisor reads: pausing the target for one consistent read
//! (SIGSTOP and SIGCONT), and the guard that resumes and ends them if port-advisor dies.
//!
//! A non-blocking read of a running program can mix frames of two moments; a paused one
//! cannot. py-spy's own pause attaches with ptrace, and a ptrace tracer collects the exit status
//! of a traced process that ends during the read: the launched program's status would be lost.
//! A job-control stop keeps the status for its parent, and costs a few microseconds more.
//!
//! Every signal goes to a [`ListedProcess`]: a pid with the start time its process had when
//! port-advisor listed it. Signals follow the listing by seconds, and by then the process may
//! have ended and its pid gone to another; the start time is compared right before each
//! signal, so that a stranger is never stopped, resumed or ended. (A pidfd would also close the
//! microseconds between the comparison and the signal, but takes unsafe code, which this crate
//! forbids, or another dependency; the kernel hands out pids in turn, so none comes back that
//! fast.)
//!
//! If port-advisor is killed (SIGKILL, the OOM killer, a crash), a stop in the middle of a
//! read would leave the program, or an attached process, stopped for good, and the program it
//! launched would run on unwatched. A guard process (a shell reading a pipe from port-advisor,
//! in a process group of its own) undoes both when the pipe closes without a goodbye: it
//! resumes every process port-advisor paused and ends the program it launched (SIGTERM, then
//! SIGKILL after 2 s), each only while it is still the process that was listed. An attached
//! process is only ever resumed. (The kernel's parent-death signal would end the program
//! without a guard, but it has to be set in the child between fork and exec, which takes unsafe
//! code.) The program's own children (multiprocessing workers, subprocesses) are left to it,
//! as when any parent dies: the program shares port-advisor's process group, so that the
//! terminal's Ctrl-C and its reads from the terminal work as they would without port-advisor,
//! and so it has no group of its own to end at once; listing its descendants from a shell would
//! race the ones it is starting.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The pauses in progress, and whether recording has ended (no pause may start then): the
/// guard leaves, and port-advisor exits, only once every paused process is resumed. A sampler
/// thread still inside a read when the recording stops would otherwise leave an attached
/// process stopped for good (seen once, after a SIGTERM to port-advisor).
static PAUSES: Mutex<Pauses> = Mutex::new(Pauses {
    live: 0,
    closed: false,
});
static PAUSE_ENDED: Condvar = Condvar::new();

struct Pauses {
    live: usize,
    closed: bool,
}

/// How long the end of a recording waits for a pause in progress to end.
const PAUSE_END_PATIENCE: Duration = Duration::from_secs(2);

/// How long a pause looks again at once for the threads to stop, before it sleeps between
/// looks.
const STOP_SPIN: Duration = Duration::from_micros(500);

/// How long a pause waits for every thread to stop before reading anyway.
const STOP_PATIENCE: Duration = Duration::from_millis(20);

/// A process as port-advisor listed it: its pid, and its start time, which tells it apart from
/// a later process given the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListedProcess {
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat` (clock ticks since boot); `None` when the process was gone
    /// already when listed, and is then never signalled.
    start: Option<u64>,
}

impl ListedProcess {
    /// The process that has `pid` now.
    pub fn read(pid: u32) -> ListedProcess {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        ListedProcess {
            pid,
            start: stat.as_deref().and_then(start_time),
        }
    }

    /// The process of `pid` whose `/proc/PID/stat` line was just read as `stat`.
    pub fn from_stat(pid: u32, stat: &str) -> ListedProcess {
        ListedProcess {
            pid,
            start: start_time(stat),
        }
    }

    /// Its state letter (`R`, `S`, `T`, `Z`, ...), or `None` when `pid` is no longer this
    /// process: it ended, and the pid may be another's.
    fn state(&self) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        if self.start.is_none() || start_time(&stat) != self.start {
            return None;
        }
        state_letter(&stat)
    }

    /// Whether it has not ended: still this process, neither zombie nor dead.
    pub fn is_running(&self) -> bool {
        self.state().is_some_and(|s| !matches!(s, 'Z' | 'X'))
    }

    /// Sends `signal` if `pid` is still this process; whether it was sent.
    pub fn signal(&self, signal: Signal) -> bool {
        self.state().is_some() && kill(Pid::from_raw(self.pid as i32), signal).is_ok()
    }
}

/// The start time in a `/proc/.../stat` line: field 22, the 20th after the command name.
fn start_time(stat: &str) -> Option<u64> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// A stopped process; dropping it lets the process run on.
#[derive(Debug)]
pub struct Pause {
    process: ListedProcess,
    /// Which threads were running (state `R`) just before the stop, by kernel thread id.
    pub running: HashMap<u32, bool>,
}

impl Pause {
    /// Stops `process` and waits until all its threads are stopped. `None` when it cannot be
    /// stopped (it ended, or its pid is another process's now), or when it was already stopped
    /// by someone else (it must not be continued then; a stopped process reads consistently as
    /// it is).
    pub fn start(process: &ListedProcess) -> Option<Pause> {
        let pid = process.pid;
        let before = task_states(pid);
        if before.is_empty() || before.values().any(|&s| s == 'T' || s == 't') {
            return None;
        }
        {
            let mut pauses = PAUSES.lock().unwrap_or_else(|e| e.into_inner());
            if pauses.closed {
                return None;
            }
            pauses.live += 1;
        }
        tell_guard(Undo::Resume, process);
        if !process.signal(Signal::SIGSTOP) {
            end_pause();
            return None;
        }
        let pause = Pause {
            process: *process,
            running: before.iter().map(|(&tid, &s)| (tid, s == 'R')).collect(),
        };
        let sent = Instant::now();
        let deadline = sent + STOP_PATIENCE;
        loop {
            let states = task_states(pid);
            let all_stopped = states.values().all(|&s| matches!(s, 'T' | 't' | 'Z' | 'X'));
            if all_stopped || Instant::now() >= deadline {
                return Some(pause);
            }
            // A running thread stops within microseconds: the program is held for every
            // moment this waits, so it looks again at once, and only sleeps between looks
            // when a thread is slow to stop (in the kernel, or waiting for a CPU).
            if sent.elapsed() < STOP_SPIN {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Whether a thread that was running when the stop was sent stopped at a system call's
    /// edge rather than where the stop found it. The kernel stops a thread on its way back
    /// to its own code: from an interrupt (the stop's own, wherever the thread was) or from
    /// a system call it made meanwhile. `/proc/PID/task/TID/syscall` names the call in the
    /// second case and says `-1` in the first.
    pub fn at_system_call(&self) -> bool {
        let pid = self.process.pid;
        self.running
            .iter()
            .filter(|(_, &running)| running)
            .any(|(tid, _)| {
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall"))
                    .is_ok_and(|s| names_a_system_call(&s))
            })
    }
}

/// Whether a stopped thread's `/proc/.../syscall` line names a system call: its first field
/// is the call's number, `-1` when the thread is in none, `running` when it is not stopped.
fn names_a_system_call(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|n| n >= 0)
}

impl Drop for Pause {
    fn drop(&mut self) {
        self.process.signal(Signal::SIGCONT);
        end_pause();
    }
}

fn end_pause() {
    let mut pauses = PAUSES.lock().unwrap_or_else(|e| e.into_inner());
    pauses.live -= 1;
    PAUSE_ENDED.notify_all();
}

/// Lets no new pause start, and waits (a little) for those in progress to end.
fn close_pauses() {
    let mut pauses = PAUSES.lock().unwrap_or_else(|e| e.into_inner());
    pauses.closed = true;
    let deadline = Instant::now() + PAUSE_END_PATIENCE;
    while pauses.live > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        pauses = PAUSE_ENDED
            .wait_timeout(pauses, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// What the guard does to a process if port-advisor dies without saying goodbye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Undo {
    /// Continue it (SIGCONT): port-advisor may have died inside a pause.
    Resume,
    /// End it (SIGTERM, then SIGKILL): a program port-advisor launched.
    End,
}

/// The guard: resumes the processes port-advisor paused, and ends the program it launched,
/// if port-advisor dies.
struct Guard {
    pipe: Mutex<GuardPipe>,
    child: Mutex<Child>,
}

/// port-advisor's end of the guard's pipe (`None` once it said goodbye), and what was
/// already sent on it.
struct GuardPipe {
    stdin: Option<ChildStdin>,
    sent: HashSet<(Undo, ListedProcess)>,
}

static GUARD: OnceLock<Option<Guard>> = OnceLock::new();

/// What the guard runs. It reads one line per process, `C PID START` (resume it) or
/// `E PID START` (end it), until port-advisor says goodbye (`X`) and it exits. When the pipe
/// closes without one, it signals each process whose start time (field 22 of /proc/PID/stat,
/// the 20th after the command name, which may hold spaces and parentheses) is still START.
const GUARD_SCRIPT: &str = r#"set -f
resume=""
end=""
while read -r what pid start; do
  case $what in
    X) exit 0 ;;
    C) resume="$resume $pid:$start" ;;
    E) end="$end $pid:$start" ;;
  esac
done
same() {
  read -r stat < "/proc/$1/stat" || return 1
  want=$2
  set -- ${stat##*)}
  [ $# -ge 20 ] || return 1
  shift 19
  [ "$1" = "$want" ]
}
send() {
  sig=$1
  shift
  for p in "$@"; do
    same "${p%%:*}" "${p#*:}" && kill -"$sig" "${p%%:*}"
  done
}
send TERM $end
send CONT $resume
if [ -n "$end" ]; then
  sleep 2
  send KILL $end
fi
exit 0"#;

impl Guard {
    /// Without `sh`, `None`: pauses and launches still work; only the protection against
    /// port-advisor being killed is lost.
    fn start() -> Option<Guard> {
        let mut child = Command::new("sh")
            .args(["-c", GUARD_SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the terminal's Ctrl-C is for port-advisor, not for it, and
            // it survives a kill of port-advisor's group.
            .process_group(0)
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        Some(Guard {
            pipe: Mutex::new(GuardPipe {
                stdin,
                sent: HashSet::new(),
            }),
            child: Mutex::new(child),
        })
    }

    /// Asks the guard to `undo` `process` if port-advisor dies first.
    fn tell(&self, undo: Undo, process: &ListedProcess) {
        let Some(start) = process.start else {
            return;
        };
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        let GuardPipe { stdin, sent } = &mut *pipe;
        if let Some(stdin) = stdin {
            if sent.insert((undo, *process)) {
                let what = match undo {
                    Undo::Resume => 'C',
                    Undo::End => 'E',
                };
                let _ = writeln!(stdin, "{what} {} {start}", process.pid);
            }
        }
    }

    /// Tells the guard that nothing is left to undo, and waits for it to exit.
    fn goodbye(&self) {
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut stdin) = pipe.stdin.take() {
            let _ = stdin.write_all(b"X\n");
        }
        drop(pipe);
        let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).wait();
    }
}

/// Starts the guard, once per port-advisor process.
pub fn start_guard() {
    GUARD.get_or_init(Guard::start);
}

/// Ends the guard after the recording, once every pause has been undone (none starts after
/// this): the program is port-advisor's to stop.
pub fn stop_guard() {
    close_pauses();
    if let Some(Some(guard)) = GUARD.get() {
        guard.goodbye();
    }
}

/// Asks the guard to end `process`, a program port-advisor launched, if port-advisor dies
/// while recording it.
pub fn end_if_abandoned(process: &ListedProcess) {
    tell_guard(Undo::End, process);
}

fn tell_guard(undo: Undo, process: &ListedProcess) {
    if let Some(Some(guard)) = GUARD.get() {
        guard.tell(undo, process);
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
    fn a_stop_at_a_system_call_is_told_from_one_in_the_programs_own_code() {
        // getpid (39 on x86-64), then its arguments, stack pointer and program counter.
        assert!(names_a_system_call(
            "39 0x0 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n"
        ));
        assert!(names_a_system_call(
            "0 0x3 0x55d 0x10 0x0 0x0 0x0 0x7ffd 0x7f12"
        ));
        // Stopped by an interrupt in its own code; not stopped at all; unreadable.
        assert!(!names_a_system_call("-1 0x7ffd9b2c 0x7f1234\n"));
        assert!(!names_a_system_call("running\n"));
        assert!(!names_a_system_call(""));
    }

    /// A real stop: a thread looping on getpid is often stopped at the call's edge, one
    /// looping on arithmetic never is.
    #[test]
    fn stops_of_a_system_call_loop_land_at_the_call_and_of_a_pure_loop_never() {
        let landed = |code: &str| {
            let mut child = Command::new("python3")
                .args(["-c", code])
                .spawn()
                .expect("python3 runs");
            std::thread::sleep(Duration::from_millis(300));
            let process = ListedProcess::read(child.id());
            let mut landed = 0;
            for _ in 0..60 {
                let pause = Pause::start(&process).expect("stops");
                landed += usize::from(pause.at_system_call());
                drop(pause);
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = child.kill();
            let _ = child.wait();
            landed
        };
        let syscalls = landed("import os\nwhile True:\n os.getpid()");
        let pure = landed("x = 0\nwhile True:\n x = (x + 1) % 7");
        assert!(syscalls >= 10, "{syscalls} of 60 stops at getpid");
        assert_eq!(
            pure, 0,
            "{pure} of 60 stops of pure arithmetic at a system call"
        );
    }

    #[test]
    fn state_letter_skips_odd_command_names() {
        assert_eq!(state_letter("12 (py (x) y) R 1 12"), Some('R'));
        assert_eq!(state_letter("12 (python3) S 1 12"), Some('S'));
        assert_eq!(state_letter("garbage"), None);
    }

    #[test]
    fn start_time_skips_odd_command_names() {
        // Field n holds n, from the state (field 3) on.
        let fields: String = (3..=52).map(|n| format!(" {n}")).collect();
        assert_eq!(start_time(&format!("12 (py (x) y){fields}")), Some(22));
        assert_eq!(start_time("12 (python3) S 1 12"), None);
        assert_eq!(start_time("garbage"), None);
    }

    #[test]
    fn this_process_has_a_running_thread() {
        let states = task_states(std::process::id());
        assert!(states.contains_key(&std::process::id()));
        assert!(states.values().any(|&s| s == 'R'));
    }

    fn sleeper() -> Child {
        Command::new("sleep").arg("30").spawn().expect("sleep runs")
    }

    /// `process`'s pid with a start time it never had: how the pid looks once another process
    /// has it.
    fn reused(process: &ListedProcess) -> ListedProcess {
        ListedProcess {
            pid: process.pid,
            start: process.start.map(|s| s + 1),
        }
    }

    fn state_of(pid: u32) -> Option<char> {
        ListedProcess::read(pid).state()
    }

    fn stop(child: &Child) {
        kill(Pid::from_raw(child.id() as i32), Signal::SIGSTOP).unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        while state_of(child.id()) != Some('T') && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn end_all(mut children: Vec<Child>) {
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    #[test]
    fn a_pid_that_is_another_process_now_is_never_signalled() {
        let mut child = sleeper();
        let listed = ListedProcess::read(child.id());
        assert!(listed.start.is_some() && listed.is_running());

        let other = reused(&listed);
        assert!(!other.is_running());
        assert!(!other.signal(Signal::SIGKILL));
        assert!(Pause::start(&other).is_none());
        std::thread::sleep(Duration::from_millis(50));
        assert!(child.try_wait().unwrap().is_none(), "it was not signalled");
        assert_ne!(state_of(child.id()), Some('T'), "it was not stopped");

        assert!(listed.signal(Signal::SIGKILL));
        child.wait().unwrap();
        // Reaped, its pid is free for another process: nothing goes to it any more.
        assert!(!listed.is_running());
        assert!(!listed.signal(Signal::SIGKILL));
    }

    #[test]
    fn a_pause_stops_and_resumes_the_listed_process() {
        let child = sleeper();
        let listed = ListedProcess::read(child.id());
        let pause = Pause::start(&listed).expect("it can be paused");
        assert_eq!(state_of(child.id()), Some('T'));
        drop(pause);
        let end = Instant::now() + Duration::from_secs(5);
        while state_of(child.id()) == Some('T') && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(ListedProcess::read(child.id()).is_running());
        assert_ne!(state_of(child.id()), Some('T'), "it was resumed");
        end_all(vec![child]);
    }

    #[test]
    fn an_abandoned_guard_ends_and_resumes_only_the_processes_listed() {
        let guard = Guard::start().expect("sh runs");
        let mut launched = sleeper();
        let mut launched_gone = sleeper();
        let paused = sleeper();
        let paused_gone = sleeper();
        stop(&paused);
        stop(&paused_gone);
        let listed = |c: &Child| ListedProcess::read(c.id());
        guard.tell(Undo::End, &listed(&launched));
        guard.tell(Undo::End, &reused(&listed(&launched_gone)));
        guard.tell(Undo::Resume, &listed(&paused));
        guard.tell(Undo::Resume, &reused(&listed(&paused_gone)));

        // port-advisor dies: the pipe closes without a goodbye. The guard exits after the
        // grace it gives the programs it ended (2 s).
        drop(guard.pipe.lock().unwrap().stdin.take());
        guard.child.lock().unwrap().wait().unwrap();

        assert!(
            launched.try_wait().unwrap().is_some(),
            "the program was ended"
        );
        assert!(
            launched_gone.try_wait().unwrap().is_none(),
            "a stranger was ended"
        );
        assert!(ListedProcess::read(paused.id()).is_running());
        assert_ne!(
            state_of(paused.id()),
            Some('T'),
            "the paused one was resumed"
        );
        assert_eq!(
            state_of(paused_gone.id()),
            Some('T'),
            "a stranger was resumed"
        );
        end_all(vec![launched_gone, paused, paused_gone]);
    }

    #[test]
    fn a_guard_told_goodbye_leaves_every_process_alone() {
        let guard = Guard::start().expect("sh runs");
        let mut launched = sleeper();
        let paused = sleeper();
        stop(&paused);
        guard.tell(Undo::End, &ListedProcess::read(launched.id()));
        guard.tell(Undo::Resume, &ListedProcess::read(paused.id()));
        guard.goodbye();
        assert!(launched.try_wait().unwrap().is_none());
        assert_eq!(state_of(paused.id()), Some('T'));
        end_all(vec![launched, paused]);
    }
}
