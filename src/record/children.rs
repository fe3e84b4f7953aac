//! The launched program and the processes it starts, as processes: listing a program's
//! descendants, noticing when the program exits, and ending it and what it left running when
//! recording stops first.
//!
//! Every signal goes through a [`ListedProcess`] (see `pause`), so that a pid another process
//! has taken since is left alone. Nothing here reads a stack: py-spy's types stay out of it.

use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::pause::{self, ListedProcess};
use super::StopReason;
use crate::profile::ExitInfo;

/// Every process whose chain of parents leads to `root`, read from `/proc`, each with its
/// start time as it is read: it may be signalled seconds later.
pub(super) fn descendants(root: u32) -> Vec<ListedProcess> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(ListedProcess, u32)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 1..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((ListedProcess::from_stat(pid, &stat), ppid))
        })
        .collect();
    let mut found = Vec::new();
    let mut parent = root;
    let mut i = 0;
    loop {
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        let Some(next) = found.get(i) else {
            return found;
        };
        parent = next.pid;
        i += 1;
    }
}

/// A launched program. Its exit is detected by reading `/proc`, never by a blocking
/// `waitpid`: the blocking samplers ptrace the program from this same process, and a
/// `waitpid` on another thread would swallow their ptrace stops and freeze the program.
///
/// Its signals go through its [`ListedProcess`] all the same: a blocking sampler's ptrace can
/// collect its exit status before this does, and free its pid for another process.
pub(super) struct ChildWatch {
    child: std::process::Child,
    process: ListedProcess,
    exited: Option<ExitInfo>,
}

impl ChildWatch {
    /// Watches a program just launched, and has the guard end it if port-advisor dies first.
    pub(super) fn new(child: std::process::Child) -> ChildWatch {
        let process = ListedProcess::read(child.id());
        pause::end_if_abandoned(&process);
        ChildWatch {
            child,
            process,
            exited: None,
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn is_alive(&mut self) -> bool {
        self.poll().is_none()
    }

    /// The exit, once the program has ended (reaping it then).
    pub(super) fn poll(&mut self) -> Option<ExitInfo> {
        if self.exited.is_none() && !self.process.is_running() {
            use std::os::unix::process::ExitStatusExt;
            self.exited = Some(match self.child.wait() {
                Ok(s) => ExitInfo {
                    code: s.code(),
                    signal: s.signal(),
                },
                Err(_) => ExitInfo {
                    code: None,
                    signal: None,
                },
            });
        }
        self.exited
    }

    pub(super) fn wait_for(&mut self, timeout: Duration) -> Option<ExitInfo> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.poll() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub(super) fn wait(&mut self) -> ExitInfo {
        self.wait_for(Duration::from_secs(3600))
            .unwrap_or(ExitInfo {
                code: None,
                signal: None,
            })
    }

    fn send(&mut self, sig: Signal) {
        if self.is_alive() {
            self.process.signal(sig);
        }
    }

    pub(super) fn kill_now(&mut self) {
        self.send(Signal::SIGKILL);
        self.wait_for(Duration::from_secs(5));
    }

    /// Ends the program after recording stopped early: a polite signal, a grace period,
    /// then SIGKILL. After Ctrl-C the terminal already sent SIGINT to the program, so it gets
    /// a moment to finish on its own first.
    ///
    /// Processes the program started (workers, subprocesses) are ended with it: once their
    /// parent is gone nothing else would, so they are listed first and any left after the
    /// program ended get SIGTERM, then SIGKILL.
    pub(super) fn stop(&mut self, why: StopReason) -> Option<ExitInfo> {
        let family = descendants(self.pid());
        let exit = self.stop_program(why);
        end_processes(&family);
        exit
    }

    fn stop_program(&mut self, why: StopReason) -> Option<ExitInfo> {
        let polite = match why {
            StopReason::Signal(s) if s == libc::SIGINT => {
                if let Some(e) = self.wait_for(Duration::from_secs(1)) {
                    return Some(e);
                }
                Signal::SIGTERM
            }
            StopReason::Signal(s) => Signal::try_from(s).unwrap_or(Signal::SIGTERM),
            _ => Signal::SIGINT,
        };
        self.send(polite);
        if let Some(e) = self.wait_for(Duration::from_secs(2)) {
            return Some(e);
        }
        self.send(Signal::SIGKILL);
        self.wait_for(Duration::from_secs(5))
    }
}

/// Ends the processes in `listed` that are still running: SIGTERM, a grace period, SIGKILL.
/// A pid that another process has taken since it was listed is left alone.
fn end_processes(listed: &[ListedProcess]) {
    let alive = |listed: &[ListedProcess]| -> Vec<ListedProcess> {
        listed.iter().copied().filter(|p| p.is_running()).collect()
    };
    let mut left = alive(listed);
    if left.is_empty() {
        return;
    }
    for p in &left {
        p.signal(Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while !left.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        left = alive(&left);
    }
    for p in &left {
        p.signal(Signal::SIGKILL);
    }
}
