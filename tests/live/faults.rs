//! Faults of real programs and of the machine, each with its documented exit code: programs
//! that end at once, run forever, fork, exec, change folder or close stdout; signals to
//! port-advisor; targets that vanish; outputs that fill up or are shared; names no reader
//! expects; stacks deeper than py-spy reads; many threads; idle programs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use port_advisor::profile::Profile;

use crate::common::{self, bin, exclusive};

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z") && !s.contains(") X"))
        .unwrap_or(false)
}

fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// A program written into a fresh folder, to run with `python`.
struct Program {
    dir: tempfile::TempDir,
    script: PathBuf,
    python: PathBuf,
}

fn program(python: &Path, source: &str) -> Program {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("prog.py");
    std::fs::write(&script, source).unwrap();
    Program {
        dir,
        script,
        python: python.to_path_buf(),
    }
}

impl Program {
    fn out(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// `port-advisor profile --quiet --python PY FLAGS... -o DIR/run DIR/prog.py`.
    fn command(&self, flags: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("port-advisor"));
        cmd.current_dir(self.dir.path())
            .args(["profile", "--quiet", "--python"])
            .arg(&self.python)
            .args(flags)
            .arg("-o")
            .arg(self.out())
            .arg(&self.script)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, flags: &[&str]) -> Output {
        let _one = exclusive();
        let mut cmd = self.command(flags);
        output_within(&mut cmd, Duration::from_secs(120))
    }

    fn profile(&self) -> Profile {
        Profile::load(&self.out().join("profile.json")).expect("the profile is kept")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
            if !alive(pid) {
                return;
            }
        }
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn no_panic(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// Shares (0-100) of samples whose stack holds a frame named `name`.
fn share_of(p: &Profile, name: &str) -> f64 {
    let total: u64 = p.stacks.iter().map(|s| s.weight).sum();
    let with: u64 = p
        .stacks
        .iter()
        .filter(|s| {
            s.frames
                .iter()
                .any(|&f| p.frames[f as usize].name.ends_with(name))
        })
        .map(|s| s.weight)
        .sum();
    100.0 * with as f64 / total.max(1) as f64
}

#[test]
fn a_program_that_ends_at_once_says_too_few_samples() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    // A 10 ms program, several times: the race between its exit and the first read must
    // never crash the sampler or print more than the summary.
    let p = program(&py, "import sys\nsys.stdout.write('done\\n')\n");
    for round in 0..6 {
        let out = p.run(&[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            text(&out.stderr)
        );
        no_panic(&out);
        assert!(
            text(&out.stdout).contains("Too few samples"),
            "round {round}: {}",
            text(&out.stdout)
        );
        p.profile();
    }
}

#[test]
fn duration_ends_a_program_that_runs_forever_quietly() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let p = program(
        &py,
        "def spin():\n    while True:\n        pass\n\nspin()\n",
    );
    let started = Instant::now();
    let out = p.run(&["--duration", "1.5"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped on time"
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        !err.contains("Traceback") && !err.contains("KeyboardInterrupt"),
        "the program is ended quietly: {err}"
    );
    let profile = p.profile();
    assert!(
        profile.meta.samples >= 80,
        "{} samples",
        profile.meta.samples
    );
    assert!(share_of(&profile, "spin") > 90.0);
    assert!(!alive(profile.meta.pid), "the program was stopped");
}

#[test]
fn forks_chdir_and_a_closed_stdout_keep_the_run() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let p = program(
        &py,
        r#"
import os, sys, tempfile, time

def busy(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        n += 1
    return n

def in_child():
    busy(0.3)
    os._exit(0)

def main():
    os.chdir(tempfile.gettempdir())
    sys.stdout.flush()
    os.close(1)
    pid = os.fork()
    if pid == 0:
        in_child()
    busy(1.0)
    os.waitpid(pid, 0)

main()
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    no_panic(&out);
    let profile = p.profile();
    assert!(share_of(&profile, "busy") > 60.0, "busy was sampled");
    // The run folder is where it was asked for, not in the program's new working folder.
    assert!(p.out().join("report.html").exists());
}

#[test]
fn a_program_that_execs_python_is_followed_into_the_new_interpreter() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let p = program(
        &py,
        r#"
import os, sys, time

def busy(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass

def before_exec():
    busy(0.7)

if len(sys.argv) > 1:
    def after_exec():
        busy(1.2)
    after_exec()
else:
    before_exec()
    os.execv(sys.executable, [sys.executable, __file__, "again"])
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    no_panic(&out);
    let profile = p.profile();
    let before = share_of(&profile, "before_exec");
    let after = share_of(&profile, "after_exec");
    assert!(
        before > 10.0 && after > 30.0,
        "before {before:.1}%, after {after:.1}%"
    );
}

#[test]
fn multiprocessing_with_spawn_and_fork_is_sampled() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    for method in ["spawn", "fork"] {
        let p = program(
            &py,
            &format!(
                r#"
import multiprocessing as mp, time

def crunch(n):
    end = time.time() + 0.25
    total = 0
    while time.time() < end:
        total += n
    return total

if __name__ == "__main__":
    ctx = mp.get_context("{method}")
    with ctx.Pool(2) as pool:
        pool.map(crunch, range(8))
"#
            ),
        );
        let out = p.run(&["--subprocesses"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{method}: {}",
            text(&out.stderr)
        );
        no_panic(&out);
        let profile = p.profile();
        let main_pid = profile.meta.pid;
        let in_workers: u64 = profile
            .stacks
            .iter()
            .filter(|s| profile.threads[s.thread as usize].pid != main_pid)
            .filter(|s| {
                s.frames
                    .iter()
                    .any(|&f| profile.frames[f as usize].name == "crunch")
            })
            .map(|s| s.weight)
            .sum();
        assert!(in_workers >= 20, "{method}: {in_workers} worker samples");
    }
}

/// A program that starts a grandchild (`sleep`) and spins; its pid is written to `kid`.
fn family_program(python: &Path) -> Program {
    program(
        python,
        r#"
import subprocess, time

def spin():
    while True:
        pass

kid = subprocess.Popen(["sleep", "300"])
open("kid", "w").write(str(kid.pid))
spin()
"#,
    )
}

fn wait_for_file(path: &Path) -> String {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if let Ok(t) = std::fs::read_to_string(path) {
            if !t.is_empty() {
                return t;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

#[test]
fn every_stopping_signal_keeps_the_profile_and_leaves_no_process_behind() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    for (signal, code) in [
        (Signal::SIGINT, 130),
        (Signal::SIGTERM, 143),
        (Signal::SIGHUP, 129),
    ] {
        let p = family_program(&py);
        let _one = exclusive();
        let mut cmd = p.command(&[]);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let kid: u32 = wait_for_file(&p.file("kid")).trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let started = Instant::now();
        let out = child.wait_with_output().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{signal}: stopped promptly"
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "{signal}: {}",
            text(&out.stderr)
        );
        let profile = p.profile();
        assert!(profile.meta.interrupted, "{signal}");
        assert!(
            profile.meta.samples >= 50,
            "{signal}: {} samples",
            profile.meta.samples
        );
        assert!(
            !alive(profile.meta.pid),
            "{signal}: the program was stopped"
        );
        assert!(
            !alive(kid),
            "{signal}: the program's own child was stopped too"
        );
        assert!(
            text(&out.stderr).contains("interrupted"),
            "{signal}: {}",
            text(&out.stderr)
        );
    }
}

/// A Python process spinning forever, started outside port-advisor (to attach to).
fn spinning_target(python: &Path) -> (Program, std::process::Child) {
    let spin = program(
        python,
        "def spin():\n    while True:\n        pass\n\nspin()\n",
    );
    let target = Command::new(python)
        .arg(&spin.script)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    (spin, target)
}

#[test]
fn an_attached_process_is_left_running_when_port_advisor_is_stopped() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    // The spinning target holds a core: no other live run may share the machine with it.
    let _one = exclusive();
    let (_spin, mut target) = spinning_target(&py);
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let out_dir = tempfile::tempdir().unwrap();
        let child = Command::new(assert_cmd::cargo::cargo_bin("port-advisor"))
            .args(["profile", "--quiet", "--blocking", "-o"])
            .arg(out_dir.path())
            .arg("--pid")
            .arg(target.id().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(128 + signal as i32),
            "{}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("left running"));
        let p = Profile::load(&out_dir.path().join("profile.json")).unwrap();
        assert!(p.meta.samples >= 50, "{signal}: {} samples", p.meta.samples);
        // Running, and not left stopped by a pause.
        std::thread::sleep(Duration::from_millis(100));
        assert!(alive(target.id()), "{signal}: the target is running");
        assert!(
            matches!(state(target.id()), Some('R') | Some('S')),
            "{signal}: target state {:?}",
            state(target.id())
        );
    }
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn an_attached_process_that_exits_during_sampling_keeps_what_was_measured() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let p = program(
        &py,
        "import time\ndef work():\n    end = time.time() + 1.2\n    while time.time() < end:\n        pass\nwork()\n",
    );
    let _one = exclusive();
    let mut target = Command::new(&py).arg(&p.script).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out_dir = tempfile::tempdir().unwrap();
    let out = {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("port-advisor"));
        cmd.args(["profile", "--quiet", "-o"])
            .arg(out_dir.path())
            .arg("--pid")
            .arg(target.id().to_string());
        output_within(&mut cmd, Duration::from_secs(30))
    };
    target.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let profile = Profile::load(&out_dir.path().join("profile.json")).unwrap();
    assert!(
        profile.meta.samples >= 40,
        "{} samples",
        profile.meta.samples
    );
    assert!(share_of(&profile, "work") > 80.0);
}

#[test]
fn two_runs_never_share_a_folder() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let p = program(&py, "import time\ndef wait():\n    time.sleep(2)\nwait()\n");
    let _one = exclusive();
    // Both ask for the same folder: the second is refused before its program runs.
    let mut first = p.command(&[]);
    let first = first
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = p.out().join(".port-advisor.lock");
    let end = Instant::now() + Duration::from_secs(10);
    while !lock.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = p.command(&[]).output().unwrap();
    assert_eq!(
        second.status.code(),
        Some(common::OUTPUT),
        "{}",
        text(&second.stderr)
    );
    let err = text(&second.stderr);
    assert!(
        err.contains("is being written by another port-advisor run")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    p.profile();

    // Default folders started in the same second are told apart.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            Command::new(assert_cmd::cargo::cargo_bin("port-advisor"))
                .current_dir(p.dir.path())
                .args(["profile", "--quiet", "--python"])
                .arg(&py)
                .arg(&p.script)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let folders = std::fs::read_dir(p.dir.path().join("port-advisor-out"))
        .unwrap()
        .count();
    assert_eq!(folders, 2, "one folder per run");
}

/// A small tmpfs, mounted for one test (root only; elsewhere the test says it is skipped).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        if !nix::unistd::geteuid().is_root() {
            common::skip("mounting a tmpfs for the disk-full case needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .ok()?;
        if !status.success() {
            common::skip("mount -t tmpfs failed, for the disk-full case");
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_saves_the_profile_elsewhere_and_names_it() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let Some(disk) = SmallDisk::mount("48k") else {
        return;
    };
    let p = program(
        &py,
        "import time\ndef work():\n    end = time.time() + 1\n    while time.time() < end:\n        pass\nwork()\n",
    );
    let out_dir = disk.dir.path().join("run");
    let out = {
        let _one = exclusive();
        Command::new(assert_cmd::cargo::cargo_bin("port-advisor"))
            .args(["profile", "--quiet", "--python"])
            .arg(&py)
            .arg("-o")
            .arg(&out_dir)
            .arg(&p.script)
            .output()
            .unwrap()
    };
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(common::OUTPUT), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(last.starts_with("port-advisor: error: "), "{err}");
    // Either the profile itself did not fit (then it is saved elsewhere, and named), or a
    // later page did not (then the profile is in its place).
    let kept = match last.split("the profile was saved to ").nth(1) {
        Some(rest) => PathBuf::from(rest.split(" instead").next().unwrap()),
        None => out_dir.join("profile.json"),
    };
    let profile = Profile::load(&kept).unwrap_or_else(|e| panic!("{e:#}: {err}"));
    assert!(profile.meta.samples >= 50);
    // Nothing half-written is left: every file there is whole.
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(&path).unwrap();
        match name.as_str() {
            "profile.json" | "report.json" => {
                serde_json::from_slice::<serde_json::Value>(&body)
                    .unwrap_or_else(|e| panic!("{name} is half-written: {e}"));
            }
            "report.html" => assert!(body.ends_with(b"</html>\n"), "{name} is whole"),
            "flame.svg" => assert!(body.ends_with(b"</svg>") || body.ends_with(b"</svg>\n")),
            _ => {}
        }
    }
    let _ = std::fs::remove_file(&kept);
}

#[test]
fn names_with_separators_and_trailing_numbers_are_kept() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    // Function and file names no folded-stack reader expects: `;`, spaces, a newline, and a
    // trailing " 123" (what a folded line's count looks like).
    let odd = "odd name;with sep\nand line 123";
    let p = program(
        &py,
        &format!(
            r#"
import time

def hot():
    end = time.time() + 1.2
    while time.time() < end:
        pass

code = hot.__code__.replace(co_name={odd:?})
if hasattr(code, "co_qualname"):
    code = code.replace(co_qualname={odd:?})
hot.__code__ = code
hot()
"#
        ),
    );
    let out = p.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let profile = p.profile();
    assert!(share_of(&profile, odd) > 80.0, "kept whole in the profile");

    // Folded output keeps the line structure: `;` and newlines inside a name are replaced.
    let folded = bin()
        .arg("flamegraph")
        .arg(p.out())
        .args(["--format", "folded", "-o", "-"])
        .output()
        .unwrap();
    assert!(folded.status.success());
    let folded = text(&folded.stdout);
    let line = folded
        .lines()
        .find(|l| l.contains("odd name:with sep and line 123"))
        .unwrap_or_else(|| panic!("the name is in the folded output:\n{folded}"));
    assert!(line.rsplit_once(' ').unwrap().1.parse::<u64>().is_ok());

    // And reading it back gives the same samples, under the same name.
    let folded_file = p.file("stacks.folded");
    std::fs::write(&folded_file, &folded).unwrap();
    let back = bin()
        .arg("flamegraph")
        .arg(&folded_file)
        .args(["--format", "folded", "-o", "-"])
        .output()
        .unwrap();
    assert!(back.status.success(), "{}", text(&back.stderr));
    let count = |t: &str| -> u64 {
        t.lines()
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
            .sum()
    };
    let back = text(&back.stdout);
    assert_eq!(count(&back), count(&folded), "{back}");
    assert!(back.contains("odd name:with sep and line 123"), "{back}");
}

fn deep_program(python: &Path, depth: u32) -> Program {
    program(
        python,
        &format!(
            r#"
import sys, time
sys.setrecursionlimit(30000)

def down(n, end):
    if n:
        return down(n - 1, end)
    while time.time() < end:
        pass

down({depth}, time.time() + 1.5)
"#
        ),
    )
}

#[test]
fn deep_recursion_within_what_py_spy_reads_keeps_its_share() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    // Reading 3,000 frames takes longer than a sampling period: the reads that fell behind
    // must not come in a burst at the end (when the stack is gone), which would bury the
    // recursion under "(no Python frame)".
    let p = deep_program(&py, 3000);
    let out = p.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let profile = p.profile();
    let share = share_of(&profile, "down");
    assert!(share > 80.0, "down {share:.1}%");
}

#[test]
fn recursion_beyond_what_py_spy_reads_is_said_plainly() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    for depth in [5000, 10000] {
        let p = deep_program(&py, depth);
        let out = p.run(&[]);
        assert_eq!(out.status.code(), Some(0), "{depth}: {}", text(&out.stderr));
        no_panic(&out);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("deeper than the 4,096 frames py-spy reads"),
            "{depth}: {stdout}"
        );
        assert!(
            stdout.contains("The shares below cover only the"),
            "{depth}: {stdout}"
        );
        let advice = std::fs::read_to_string(p.out().join("report.json")).unwrap();
        common::assert_valid_report(&advice, "report.json");
        assert!(
            advice.contains("of sampling rounds could not be read"),
            "{depth}: the advice states the error rate"
        );
        let profile = p.profile();
        assert!(profile.meta.error_ticks >= 5, "{depth}: counted as errors");
        assert!(
            profile.errors[0]
                .message
                .contains("Max frame recursion depth"),
            "{depth}: {:?}",
            profile.errors
        );
    }
}

#[test]
fn a_hundred_threads_are_all_seen() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let p = program(
        &py,
        r#"
import threading, time

# Every thread is alive at once: a thread that ended could hand its identifier (its stack
# address) to one started later, and the two would read as one thread.
ready = threading.Barrier(100)

def worker():
    ready.wait()
    end = time.time() + 1.5
    n = 0
    while time.time() < end:
        n += 1
        if n % 1000 == 0:
            time.sleep(0.001)

threads = [threading.Thread(target=worker) for _ in range(100)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"#,
    );
    let out = p.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let profile = p.profile();
    let with_worker = profile
        .threads
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            profile.stacks.iter().any(|s| {
                s.thread as usize == *i
                    && s.frames
                        .iter()
                        .any(|&f| profile.frames[f as usize].name == "worker")
            })
        })
        .count();
    assert_eq!(with_worker, 100, "every worker thread is seen");
    // Reading 100 stacks can take longer than a period; the skipped periods are weighed in,
    // so each worker still counts for its 1.5 s at 100 Hz.
    let mut per_thread = std::collections::HashMap::new();
    for s in &profile.stacks {
        let worker = s
            .frames
            .iter()
            .any(|&f| profile.frames[f as usize].name == "worker");
        if worker {
            *per_thread.entry(s.thread).or_insert(0u64) += s.weight;
        }
    }
    let least = per_thread.values().min().copied().unwrap_or(0);
    assert!(
        (100..=200).contains(&least),
        "the least-sampled worker has {least} samples for 1.5 s at 100 Hz ({} rounds)",
        profile.meta.ticks
    );
}

#[test]
fn an_idle_program_reports_its_active_and_idle_fractions() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let p = program(
        &py,
        r#"
import time

def burst():
    end = time.time() + 0.001
    while time.time() < end:
        pass

def main():
    end = time.time() + 2.0
    while time.time() < end:
        burst()
        time.sleep(0.019)

main()
"#,
    );
    let out = p.run(&["--rate", "200"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let idle: f64 = stdout
        .split("and idle in ")
        .nth(1)
        .and_then(|r| r.split('%').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("idle fraction reported:\n{stdout}"));
    assert!((85.0..=99.0).contains(&idle), "idle {idle}%");
    assert!(
        stdout.contains("Threads were active in "),
        "active fraction reported:\n{stdout}"
    );
}

#[test]
fn a_killed_port_advisor_never_leaves_its_target_stopped() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    // --blocking pauses the target (SIGSTOP) for every read. port-advisor is killed the moment
    // the target is seen stopped, inside a pause that only the guard can undo.
    // The spinning target holds a core: no other live run may share the machine with it.
    let _one = exclusive();
    let (_spin, mut target) = spinning_target(&py);
    for round in 0..5 {
        let out_dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("port-advisor"))
            .args(["profile", "--quiet", "--blocking", "--rate", "1000", "-o"])
            .arg(out_dir.path())
            .arg("--pid")
            .arg(target.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let end = Instant::now() + Duration::from_secs(5);
        while state(target.id()) != Some('T') && Instant::now() < end {}
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_ne!(
            state(target.id()),
            Some('T'),
            "round {round}: the target was left stopped"
        );
        // Only a launched program is ended with port-advisor.
        assert!(alive(target.id()), "round {round}: the target was ended");
    }
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn a_script_at_a_path_that_is_not_utf8_is_warned_about_and_its_time_kept() {
    use std::os::unix::ffi::OsStrExt;
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let folder = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9-latin1"));
    std::fs::create_dir(&folder).unwrap();
    let script = folder.join("work.py");
    std::fs::write(
        &script,
        "import time\ndef work():\n    end = time.time() + 1\n    while time.time() < end:\n        pass\nwork()\n",
    )
    .unwrap();
    let out = {
        let _one = exclusive();
        Command::new(assert_cmd::cargo::cargo_bin("port-advisor"))
            .args(["profile", "--quiet", "--python"])
            .arg(&py)
            .arg("-o")
            .arg(dir.path().join("run"))
            .arg(&script)
            .output()
            .unwrap()
    };
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("is not UTF-8, and py-spy cannot read the names of code in it"),
        "{err}"
    );
    // The frames are unreadable, but the time is not dropped.
    let profile = Profile::load(&dir.path().join("run/profile.json")).unwrap();
    assert!(
        profile.meta.samples >= 50,
        "{} samples",
        profile.meta.samples
    );
}

/// Live processes whose command line holds `marker`, other than zombies.
fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
                && alive(pid)
        })
        .collect()
}

#[test]
fn a_killed_port_advisor_never_leaves_its_program_running() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    // A CI timeout or the OOM killer SIGKILLs port-advisor: the program it launched must end
    // too, whether it was running or stopped by a pause (--blocking at a high rate is killed
    // the moment the program is seen stopped).
    let p = program(
        &py,
        r#"
import sys, time

def wait():
    end = time.time() + 20
    while time.time() < end:
        time.sleep(0.01)

open("started", "w").write("1")
wait()
"#,
    );
    let _one = exclusive();
    for (round, flags) in [&[][..], &["--blocking", "--rate", "1000"][..]]
        .into_iter()
        .enumerate()
    {
        // A unique argument, to find the program's processes by their command line.
        let marker = format!(
            "orphan-check-{}-{round}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let _ = std::fs::remove_file(p.file("started"));
        let mut child = p
            .command(flags)
            .arg(&marker)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The runner starts the program once the sampler reads it.
        wait_for_file(&p.file("started"));
        std::thread::sleep(Duration::from_millis(300));
        if !flags.is_empty() {
            let program = processes_with(&marker)
                .into_iter()
                .find(|&pid| pid != child.id());
            let end = Instant::now() + Duration::from_secs(5);
            while program.is_some_and(|pid| state(pid) != Some('T')) && Instant::now() < end {}
        }
        child.kill().unwrap();
        child.wait().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        let left = processes_with(&marker);
        for &pid in &left {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        assert!(
            left.is_empty(),
            "round {round} ({flags:?}): the program outlived port-advisor: pids {left:?}"
        );
    }
}
