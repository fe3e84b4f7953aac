//! Live sampling with py-spy, used as a library. The only module that sees py-spy's types.
//!
//! The time sampler reads the target without stopping it (non-blocking) unless `--blocking`
//! is asked for: stopping the target at each sample over-counts code next to system calls.
//! `--native` adds a second, low-rate blocking sampler that unwinds native frames; its stacks
//! are kept apart so they never skew the time shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::signal::Signal;
use py_spy::config::LockingStrategy;
use py_spy::timer::Timer;
use py_spy::{PythonSpy, StackTrace};

use super::activity::ThreadActivity;
use super::launch::{self, PythonChoice};
use super::pause::{self, ListedProcess, Pause};
use super::{RecordOptions, Target};
use crate::error::UserError;
use crate::profile::{
    ExitInfo, Frame, FrameId, FrameKind, Meta, ProbeResults, ProbedFunction, Profile,
    ProfileBuilder, Sampling, SamplingMode, TargetKind,
};

/// Why recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The launched program exited by itself.
    Exited(ExitInfo),
    /// The attached process went away.
    TargetGone,
    /// `--duration` elapsed.
    Duration,
    /// port-advisor received this signal (SIGINT, SIGTERM, SIGHUP).
    Signal(i32),
}

/// A finished recording.
#[derive(Debug)]
pub struct Recording {
    pub profile: Profile,
    pub stop: StopReason,
}

/// Which of the samplers a sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// The time sampler of the target process.
    Time,
    /// The time sampler of a child process (`--subprocesses`).
    Child,
    /// The low-rate blocking sampler that unwinds native frames (`--native`).
    Native,
}

/// What one tick of a sampler read.
struct Tick {
    traces: Vec<StackTrace>,
    /// The last read error, when every attempt of the tick failed.
    error: Option<anyhow::Error>,
    /// The tick's non-blocking reads failed or came back cut short, and it paused the
    /// program to read it.
    locked: bool,
    /// How far behind schedule the tick was taken.
    late: Option<Duration>,
    /// How many sampling periods the tick stands for: more than one when reads fell behind
    /// and the sampler skipped the ticks it missed.
    weight: u64,
}

enum Event {
    Started(Pass, Option<String>),
    Sample(Pass, Tick),
    InitFailed(Pass, anyhow::Error),
    Ended(Pass),
}

/// How often the partial profile is checkpointed to disk.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);
/// How long a launched program may take before the interpreter can be read.
const ATTACH_PATIENCE: Duration = Duration::from_secs(10);

/// Records `target` until it exits, the duration elapses, or a signal arrives.
pub fn record(target: &Target, python: &PythonChoice, opts: &RecordOptions) -> Result<Recording> {
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
    }

    super::pause::start_guard();
    let started_at = chrono::Local::now().to_rfc3339();
    let mut started_program = None;
    let (pid, mut child, argv, mut meta) = match target {
        Target::Launch(launch) => {
            let mut started = launch::start(launch, python, opts.probe)?;
            let process = started
                .child
                .take()
                .expect("a launched program has a child");
            let mut watch = ChildWatch::new(process);
            // The process to sample: the launched one, or the Python a launcher started.
            let runner = await_runner(&started, &mut watch, &signal)?;
            if let Some(runner) = runner {
                // A launcher's child outlives the launcher: the guard must know it too.
                pause::end_if_abandoned(&ListedProcess::read(runner));
            }
            let pid = runner.unwrap_or(watch.pid());
            let argv = started.argv.clone();
            let meta = Meta {
                command: argv.clone(),
                target: TargetKind::Launched,
                pid,
                cwd: std::env::current_dir()
                    .ok()
                    .map(|p| p.display().to_string()),
                ..Meta::default()
            };
            started_program = Some(started);
            (pid, Some(watch), argv, meta)
        }
        Target::Attach(pid) => {
            check_attachable(*pid)?;
            let argv = proc_cmdline(*pid);
            let meta = Meta {
                command: argv.clone(),
                target: TargetKind::Attached,
                pid: *pid,
                cwd: std::fs::read_link(format!("/proc/{pid}/cwd"))
                    .ok()
                    .map(|p| p.display().to_string()),
                python_executable: std::fs::read_link(format!("/proc/{pid}/exe"))
                    .ok()
                    .map(|p| p.display().to_string()),
                ..Meta::default()
            };
            (*pid, None, argv, meta)
        }
    };
    meta.started_at = started_at;
    meta.sampling = Sampling {
        rate_hz: opts.rate_hz,
        mode: if opts.blocking {
            SamplingMode::Blocking
        } else {
            SamplingMode::Nonblocking
        },
        native_rate_hz: opts.native.then_some(opts.native_rate_hz),
        gil_only: opts.gil_only,
        subprocesses: opts.subprocesses,
    };

    let (tx, rx) = mpsc::channel();
    let launched = child.is_some();
    let target = ListedProcess::read(pid);
    spawn_sampler(target, time_config(opts), Pass::Time, tx.clone(), launched);
    if opts.native {
        spawn_sampler(
            target,
            native_config(opts),
            Pass::Native,
            tx.clone(),
            launched,
        );
    }
    if opts.subprocesses {
        follow_children(pid, time_config(opts), tx.clone());
    }
    drop(tx);

    let progress = Progress::new(opts.progress, pid, &argv);
    let mut session = Session {
        builder: ProfileBuilder::default(),
        runner_pid: started_program
            .as_ref()
            .filter(|l| l.has_runner())
            .map(|_| pid),
        probe: started_program
            .as_ref()
            .and_then(|l| l.probe_folder())
            .map(|dir| ProbeLink::new(dir.to_path_buf())),
        meta,
        started: Instant::now(),
        last_checkpoint: Instant::now(),
        time_running: true,
    };
    let release = || {
        if let Some(l) = &started_program {
            l.release();
        }
    };
    let stop = session.run(&rx, child.as_mut(), &signal, opts, &progress, &release)?;
    progress.finish();
    drop(rx);
    super::pause::stop_guard();

    if let Some(child) = child.as_mut() {
        if matches!(stop, StopReason::Duration) {
            if let Some(l) = &started_program {
                l.note_stopping();
            }
        }
        if !matches!(stop, StopReason::Exited(_)) {
            session.meta.exit = child.stop(stop);
        }
    }
    session.meta.interrupted = matches!(stop, StopReason::Signal(_));
    session.meta.wall_seconds = session.started.elapsed().as_secs_f64();
    if let StopReason::Exited(exit) = stop {
        session.meta.exit = Some(exit);
    }
    if let Some(launched) = &started_program {
        // A program the runner refused (syntax error, no such module) is an error, not a run.
        if let Some(info) = launched.python()? {
            session.meta.python_version = Some(info.version);
            session.meta.python_executable = Some(info.executable);
        }
    }
    let probe_results = match &session.probe {
        Some(link) => Some(link.results(session.meta.python_version.as_deref())),
        None => None,
    };
    let mut profile = session.builder.to_profile(session.meta);
    profile.probe = probe_results;
    Ok(Recording { profile, stop })
}

/// Waits for the runner's report on the interpreter before anything is sampled, so that a
/// program Python refuses (syntax error, no such module), an interpreter port-advisor cannot
/// read, or a command that is not Python at all is an error before the program runs. Returns
/// the runner's process when it is not the launched one (a launcher that started Python as its
/// child rather than becoming it).
fn await_runner(
    launched: &launch::Launched,
    child: &mut ChildWatch,
    signal: &AtomicUsize,
) -> Result<Option<u32>> {
    if !launched.has_runner() {
        return Ok(None);
    }
    let deadline = Instant::now() + ATTACH_PATIENCE;
    let interpreter = launched
        .interpreter
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    loop {
        if let Some(info) = launched.report() {
            if info.problem.is_some() {
                // The runner exits on its own; its report is the error.
                child.wait_for(Duration::from_secs(5));
                launched.python()?;
            }
            if let Some(why) = info.unsupported() {
                child.kill_now();
                return Err(UserError::Unsupported(why).into());
            }
            return Ok(info.pid.filter(|&p| p != child.pid()));
        }
        if let Some(exit) = child.poll() {
            return Err(UserError::Unsupported(format!(
                "{interpreter} is not a Python interpreter: it ended ({}) before running \
                 port-advisor's runner; name a CPython interpreter with --python PATH",
                exit
            ))
            .into());
        }
        if signal.load(Ordering::SeqCst) != 0 || Instant::now() >= deadline {
            // A slow start (a heavy sitecustomize): sample it as it comes.
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// The state of one recording while samples arrive.
struct Session {
    builder: ProfileBuilder,
    /// The probe of a launched program, when it has one.
    probe: Option<ProbeLink>,
    /// The process whose outermost frames are port-advisor's runner, not the program.
    runner_pid: Option<u32>,
    meta: Meta,
    started: Instant,
    last_checkpoint: Instant,
    time_running: bool,
}

impl Session {
    fn run(
        &mut self,
        rx: &Receiver<Event>,
        mut child: Option<&mut ChildWatch>,
        signal: &AtomicUsize,
        opts: &RecordOptions,
        progress: &Progress,
        release: &dyn Fn(),
    ) -> Result<StopReason> {
        let mut time_started = false;
        loop {
            let sig = signal.load(Ordering::SeqCst);
            if sig != 0 {
                return Ok(StopReason::Signal(sig as i32));
            }
            if let Some(limit) = opts.duration {
                if time_started && self.started.elapsed() >= limit {
                    return Ok(StopReason::Duration);
                }
            }
            if let Some(exit) = child.as_deref_mut().and_then(|c| c.poll()) {
                // Samples already queued still count.
                while let Ok(Event::Sample(pass, sample)) = rx.try_recv() {
                    self.add(pass, sample);
                }
                return Ok(StopReason::Exited(exit));
            }
            if !self.time_running {
                return Ok(match child.as_deref_mut().map(|c| c.wait()) {
                    Some(exit) => StopReason::Exited(exit),
                    None => StopReason::TargetGone,
                });
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Event::Started(pass, version)) => {
                    if pass == Pass::Time {
                        time_started = true;
                        release();
                        self.started = Instant::now();
                        if self.meta.python_version.is_none() {
                            self.meta.python_version = version;
                        }
                    }
                }
                Ok(Event::Sample(pass, sample)) => {
                    self.add(pass, sample);
                    progress.update(&self.meta, self.started.elapsed());
                }
                Ok(Event::InitFailed(Pass::Child, _)) => {
                    // A child that is not Python (a shell, a resource tracker that exited).
                }
                Ok(Event::InitFailed(pass, err)) => {
                    release();
                    if let Some(c) = child.as_deref_mut() {
                        if !c.is_alive() {
                            // The program ended before it could be read: keep the empty
                            // profile; the summary says there are too few samples.
                            self.time_running = false;
                            continue;
                        }
                        c.kill_now();
                    }
                    if pass == Pass::Native {
                        return Err(err.context("the native (--native) sampler failed to start"));
                    }
                    return Err(classify_attach_error(self.meta.pid, err));
                }
                Ok(Event::Ended(pass)) => {
                    if pass == Pass::Time {
                        self.time_running = false;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.time_running = false,
            }
            if let Some(probe) = self.probe.as_mut() {
                probe.choose_candidates(&self.builder);
            }
            if let Some(path) = &opts.checkpoint {
                if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    self.last_checkpoint = Instant::now();
                    let mut meta = self.meta.clone();
                    meta.wall_seconds = self.started.elapsed().as_secs_f64();
                    meta.interrupted = true;
                    // A failed checkpoint is not fatal: the final write reports errors.
                    let _ = self.builder.to_profile(meta).save(path);
                }
            }
        }
    }

    fn add(&mut self, pass: Pass, sample: Tick) {
        let native_pass = pass == Pass::Native;
        if pass == Pass::Time {
            self.meta.ticks += 1;
            self.meta.locked_reads += u64::from(sample.locked);
            if sample.late.is_some() {
                self.meta.late_ticks += 1;
            }
        }
        if let Some(err) = sample.error {
            if pass == Pass::Time {
                self.meta.error_ticks += 1;
            }
            self.builder.add_error(error_message(&err));
        }
        // A tick in which the probe's thread ran: the program's threads that waited then
        // waited for the probe (for the GIL it held), time the program would not have spent
        // without port-advisor. Their waiting is left out; threads that ran are kept.
        let probe_ran = self.probe.as_ref().is_some_and(|probe| {
            sample
                .traces
                .iter()
                .any(|t| t.active && probe.is_probe_trace(&t.frames))
        });
        for trace in sample.traces {
            let thread = self.builder.intern_thread(
                trace.pid as u32,
                trace.thread_id,
                trace.thread_name.as_deref(),
            );
            // py-spy lists the innermost frame first.
            let mut kept: Vec<&py_spy::Frame> = trace.frames.iter().collect();
            if let Some(probe) = &self.probe {
                if probe.is_probe_trace(&trace.frames) {
                    if pass == Pass::Time && trace.active {
                        self.meta.probe_samples += 1;
                    }
                    continue;
                }
                if probe_ran && !trace.active {
                    continue;
                }
                // A wrapper between a caller and a candidate (Python before 3.12).
                kept.retain(|f| !probe.is_probe_file(&f.filename));
            }
            let mut outermost = kept.into_iter().rev().peekable();
            if self.runner_pid == Some(trace.pid as u32) {
                let mut innermost_runner = None;
                while let Some(f) = outermost.next_if(|f| f.filename == launch::RUNNER_FILE) {
                    innermost_runner = Some(f.name.as_str());
                }
                // Only the runner on the stack: waiting to start the program is left out; the
                // runner running the program with none of its frames readable (py-spy skips
                // frames whose names it cannot decode) keeps its time, as no Python frame.
                if innermost_runner.is_some_and(|n| !n.ends_with("_port_advisor_main"))
                    && outermost.peek().is_none()
                {
                    continue;
                }
            }
            let frames: Vec<FrameId> = outermost
                .map(|f| self.builder.intern_frame(convert_frame(f)))
                .collect();
            if let Some(link) = self.probe.as_mut().filter(|_| !native_pass && trace.active) {
                link.tally(&self.builder, &frames, sample.weight);
            }
            self.builder.add_sample(
                thread,
                frames,
                !trace.active,
                trace.owns_gil,
                native_pass,
                sample.weight,
            );
            if !native_pass {
                self.meta.samples += sample.weight;
            }
        }
    }
}

fn convert_frame(f: &py_spy::Frame) -> Frame {
    let native = f.module.is_some() || f.filename == "?";
    Frame {
        name: f.name.clone(),
        qualname: None,
        file: f.filename.clone(),
        first_line: None,
        line: (f.line > 0).then_some(f.line as u32),
        module: f.module.as_ref().map(|m| {
            std::path::Path::new(m)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| m.clone())
        }),
        kind: if native {
            FrameKind::Native
        } else {
            FrameKind::Python
        },
        code: None,
    }
}

fn base_config(opts: &RecordOptions) -> py_spy::Config {
    py_spy::Config {
        // Children get samplers of their own; see `follow_children`.
        subprocesses: false,
        gil_only: opts.gil_only,
        include_idle: true,
        hide_progress: true,
        ..py_spy::Config::default()
    }
}

fn time_config(opts: &RecordOptions) -> py_spy::Config {
    py_spy::Config {
        blocking: if opts.blocking {
            LockingStrategy::Lock
        } else {
            LockingStrategy::NonBlocking
        },
        sampling_rate: u64::from(opts.rate_hz),
        ..base_config(opts)
    }
}

fn native_config(opts: &RecordOptions) -> py_spy::Config {
    py_spy::Config {
        blocking: LockingStrategy::Lock,
        native: true,
        sampling_rate: u64::from(opts.native_rate_hz),
        ..base_config(opts)
    }
}

/// The function of the probe's wrappers (Python before 3.12), which sit between a caller
/// and a candidate function: removed from stacks, unlike the probe's other frames.
const PROBE_WRAPPER: &str = "port_advisor_call";

/// Starts a sampler on its own thread, forwarding its samples (tagged) into `tx`. For a
/// launched program it keeps trying to attach while the program is alive and starting up.
fn spawn_sampler(
    target: ListedProcess,
    config: py_spy::Config,
    pass: Pass,
    tx: Sender<Event>,
    launched: bool,
) {
    let pid = target.pid;
    quiet_sampler_panics();
    let tx_for_error = tx.clone();
    let spawned = thread::Builder::new()
        .name(SAMPLER_THREAD.into())
        .spawn(move || {
            let deadline = Instant::now() + ATTACH_PATIENCE;
            // py-spy's reader is not `Send` on Linux: it lives on this thread.
            let mut spy = loop {
                match PythonSpy::new(pid as py_spy::Pid, &config) {
                    Ok(s) => break s,
                    Err(e) => {
                        let still_starting = launched
                            && process_running(pid)
                            && Instant::now() < deadline
                            && !is_permission_error(&e);
                        if !still_starting {
                            let _ = tx.send(Event::InitFailed(pass, e));
                            return;
                        }
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            };
            if tx
                .send(Event::Started(pass, Some(spy.version.to_string())))
                .is_err()
            {
                return;
            }
            let mut activity = ThreadActivity::default();
            let mut roots = Roots::default();
            let mut failed_in_a_row = 0u32;
            let non_blocking = config.blocking == LockingStrategy::NonBlocking;
            // `--blocking` pauses with a job-control stop, which keeps a launched program's exit
            // status (see `pause`); the native pass needs py-spy's ptrace pause to unwind.
            let always_pause = !non_blocking && pass != Pass::Native;
            if always_pause {
                spy.config.blocking = LockingStrategy::NonBlocking;
            }
            let rate = config.sampling_rate as f64;
            let period = 1.0 / rate;
            let mut timer = Timer::new(rate);
            while let Some(sleep) = timer.next() {
                let mut weight = 1;
                if let Err(late) = sleep {
                    let missed = (late.as_secs_f64() / period) as u64;
                    if missed >= 1 {
                        // Catching up would take the missed reads in a burst, all at one later
                        // moment (a slow read of a deep stack, a loaded machine): skip them, and
                        // let this read stand for the time they would have covered.
                        weight += missed;
                        timer = Timer::new(rate);
                    }
                }
                let mut tick = Tick {
                    weight,
                    traces: Vec::new(),
                    error: None,
                    locked: false,
                    late: sleep.err(),
                };
                let mut paused_running: Option<HashMap<u32, bool>> = None;
                let mut read;
                if always_pause {
                    let pause = Pause::start(&target);
                    read = read_stacks(&mut spy);
                    paused_running = pause.as_ref().map(|p| p.running.clone());
                } else {
                    read = read_stacks(&mut spy);
                }
                if non_blocking {
                    // A non-blocking read races the program. When frames change under it, it can
                    // fail or come back cut short (an empty stack, or one without its outer frames).
                    // Reading again without pausing would keep only the moments with shallow stacks,
                    // so the tick pauses the program for one consistent read instead. (It can also
                    // mix frames of two moments, dropping the middle of deep, call-heavy stacks;
                    // pausing on every tick that looks unsettled would fix that but stop the program
                    // at system calls far more often than they run: see the README.)
                    // A stack too deep to read fails paused too: no pause for it.
                    let stable = match &read {
                        Ok(t) => roots.whole(t),
                        Err(e) => too_deep(e),
                    };
                    if !stable {
                        let pause = Pause::start(&target);
                        read = read_stacks(&mut spy);
                        // Every thread reads as stopped while paused: activity is from before.
                        paused_running = pause.as_ref().map(|p| p.running.clone());
                        drop(pause);
                        tick.locked = true;
                    }
                    if let Ok(traces) = &read {
                        roots.learn(traces);
                    }
                }
                match read {
                    Ok(traces) => {
                        failed_in_a_row = 0;
                        tick.traces = traces;
                    }
                    Err(e) => {
                        if spy.process.exe().is_err() {
                            // The process exited.
                            let _ = tx.send(Event::Ended(pass));
                            return;
                        }
                        // A stack too deep to read fails every read, and is not a new interpreter.
                        if !too_deep(&e) {
                            failed_in_a_row += 1;
                            if failed_in_a_row.is_multiple_of(REREAD_AFTER) {
                                // After `os.exec*` the process runs a new interpreter (or none):
                                // what py-spy learned about the old one no longer holds.
                                if let Ok(fresh) = PythonSpy::new(pid as py_spy::Pid, &spy.config) {
                                    spy = fresh;
                                    roots = Roots::default();
                                }
                            }
                        }
                        tick.error = Some(e);
                    }
                }
                for trace in tick.traces.iter_mut() {
                    let running = match &paused_running {
                        Some(before) => trace
                            .os_thread_id
                            .map(|tid| tid as u32)
                            .or_else(|| activity.tid(trace.pid as u32, trace.thread_id))
                            .and_then(|tid| before.get(&tid).copied()),
                        None if trace.os_thread_id.is_none() => {
                            activity.is_running(trace.pid as u32, trace.thread_id)
                        }
                        None => None,
                    };
                    if let Some(running) = running {
                        trace.active = running;
                    }
                }
                if tx.send(Event::Sample(pass, tick)).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        let _ = tx_for_error.send(Event::InitFailed(pass, e.into()));
    }
}

/// Whether a read failed because a stack is deeper than py-spy walks (4,096 frames).
fn too_deep(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.to_string().contains("recursion depth"))
}

/// A read error as the profile counts it: the whole chain of causes on one line, without
/// the thread number, so that one cause on many threads counts as one error.
fn error_message(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let text = text.lines().next().unwrap_or("");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("for thread ") {
        out.push_str(&rest[..at]);
        out.push_str("for a thread");
        rest = rest[at + "for thread ".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out.chars().take(300).collect()
}

/// After this many failed reads in a row, the interpreter is looked for again.
const REREAD_AFTER: u32 = 5;

/// The name of the threads that read the program.
const SAMPLER_THREAD: &str = "port-advisor sampler";

/// py-spy can panic on a read that races the program (a thread state whose frame is gone as
/// the program exits). Such a read is caught and counted as a failed sample; this keeps the
/// panic's message off the user's terminal. Panics anywhere else are printed as usual.
fn quiet_sampler_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name() != Some(SAMPLER_THREAD) {
                default(info);
            }
        }));
    });
}

/// One read of every thread's stack; a panic inside py-spy is an error like any other.
fn read_stacks(spy: &mut PythonSpy) -> Result<Vec<StackTrace>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spy.get_stack_traces())) {
        Ok(read) => read,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(anyhow::anyhow!("py-spy failed reading the stacks: {what}"))
        }
    }
}

/// The outermost frames a whole stack starts with. A stack read while the program changes it
/// can come back empty or without its outer frames; it is told apart by where it starts.
#[derive(Default)]
struct Roots {
    /// Outermost frames (file, function) seen in consistent (paused) reads.
    learned: std::collections::HashSet<(String, String)>,
    /// Frames seen below the outermost one of a whole stack: never a root of their own.
    inner: std::collections::HashSet<(String, String)>,
}

impl Roots {
    /// True when every running thread's stack starts where a whole stack starts: a module's
    /// top level (the program, a `-c` command, port-advisor's runner), a thread started by
    /// `threading`, or an outermost frame a paused read has shown before.
    fn whole(&self, traces: &[StackTrace]) -> bool {
        traces
            .iter()
            .filter(|t| t.active)
            .all(|t| match t.frames.last() {
                None => false,
                Some(f) => {
                    f.name == "<module>"
                        || f.filename == launch::RUNNER_FILE
                        || f.filename.ends_with("threading.py")
                        || self.learned.contains(&(f.filename.clone(), f.name.clone()))
                }
            })
    }

    /// Remembers the outermost frames of a paused read as roots, unless they were seen called
    /// by something (a generator resumed by its consumer can read as a root even paused).
    fn learn(&mut self, traces: &[StackTrace]) {
        for t in traces {
            if self.whole(std::slice::from_ref(t)) {
                for f in t.frames.iter().rev().skip(1) {
                    self.inner.insert((f.filename.clone(), f.name.clone()));
                }
            }
        }
        for f in traces.iter().filter_map(|t| t.frames.last()) {
            let key = (f.filename.clone(), f.name.clone());
            if !self.inner.contains(&key) {
                self.learned.insert(key);
            }
        }
    }
}

/// Starts a sampler for every descendant process of `root` as it appears, until `tx` closes.
/// py-spy's own subprocess mode never retries a child that was not ready when first seen, and
/// so misses pool workers forked while the program starts; this retries like the root does.
fn follow_children(root: u32, config: py_spy::Config, tx: Sender<Event>) {
    thread::spawn(move || {
        let mut seen = std::collections::HashSet::new();
        while process_running(root) {
            for child in descendants(root) {
                if seen.insert(child) {
                    spawn_sampler(child, config.clone(), Pass::Child, tx.clone(), true);
                }
            }
            thread::sleep(Duration::from_millis(50));
            // The receiver is gone once recording stops.
            if tx.send(Event::Started(Pass::Child, None)).is_err() {
                return;
            }
        }
    });
}

/// Every process whose chain of parents leads to `root`, read from `/proc`, each with its
/// start time as it is read: it may be signalled seconds later.
fn descendants(root: u32) -> Vec<ListedProcess> {
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

fn is_permission_error(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("Permission denied") || text.contains("Operation not permitted")
}

fn check_attachable(pid: u32) -> Result<()> {
    if pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(UserError::Attach(format!(
            "no process with pid {pid}: check the number with `ps` or `pgrep python`"
        ))
        .into());
    }
    Ok(())
}

fn classify_attach_error(pid: u32, err: anyhow::Error) -> anyhow::Error {
    let text = format!("{err:#}");
    if is_permission_error(&err) {
        return UserError::Attach(permission_advice(pid, &PtraceFacts::read(pid))).into();
    }
    if !process_running(pid) {
        return UserError::Attach(format!("process {pid} exited before it could be sampled"))
            .into();
    }
    UserError::Unsupported(format!(
        "process {pid} is not a Python program port-advisor can read ({text}); \
         give the pid of a CPython 2.7 or 3.x process"
    ))
    .into()
}

/// What decides whether this process may read another: the Linux rules for ptrace access.
#[derive(Debug, Clone, Default)]
struct PtraceFacts {
    our_uid: u32,
    /// The target's real user id, from `/proc/PID/status`.
    target_uid: Option<u32>,
    target_user: Option<String>,
    /// CAP_SYS_PTRACE is in this process's effective set.
    has_cap: bool,
    /// `/proc/sys/kernel/yama/ptrace_scope`, when the Yama module is there.
    yama_scope: Option<u8>,
}

/// CAP_SYS_PTRACE's bit in the capability sets.
const CAP_SYS_PTRACE: u32 = 19;

impl PtraceFacts {
    fn read(pid: u32) -> PtraceFacts {
        let status_field = |path: &str, field: &str| -> Option<String> {
            std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
                l.strip_prefix(field)
                    .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
            })
        };
        let target_uid = status_field(&format!("/proc/{pid}/status"), "Uid:")
            .and_then(|u| u.parse::<u32>().ok());
        let has_cap = status_field("/proc/self/status", "CapEff:")
            .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
            .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0);
        PtraceFacts {
            our_uid: nix::unistd::geteuid().as_raw(),
            target_uid,
            target_user: target_uid.and_then(|u| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(u))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            }),
            has_cap,
            yama_scope: std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
        }
    }
}

/// Why reading `pid` was refused, and what fixes it: another user's process, Yama's
/// ptrace_scope, or a missing CAP_SYS_PTRACE (a container), told apart.
fn permission_advice(pid: u32, f: &PtraceFacts) -> String {
    if let Some(uid) = f.target_uid.filter(|&u| u != f.our_uid && !f.has_cap) {
        let who = match &f.target_user {
            Some(name) => format!("user {name} (uid {uid})"),
            None => format!("uid {uid}"),
        };
        return format!(
            "process {pid} belongs to {who}, and reading another user's process needs root \
             or CAP_SYS_PTRACE: run port-advisor with sudo (in a container, \
             --cap-add SYS_PTRACE)"
        );
    }
    match f.yama_scope {
        Some(scope) if scope >= 1 && !f.has_cap => {
            let rule = match scope {
                1 => "only a process's own children can be read",
                2 => "only root with CAP_SYS_PTRACE can read a process",
                _ => "no process can be read",
            };
            let fix = if scope >= 3 {
                "launch the program through port-advisor instead of --pid (scope 3 stays until \
                 reboot)"
            } else {
                "run port-advisor with sudo, launch the program through port-advisor instead of \
                 --pid, or allow it with `sudo sysctl kernel.yama.ptrace_scope=0`"
            };
            format!(
                "reading process {pid} was refused by Yama: kernel.yama.ptrace_scope is \
                 {scope}, so {rule}; {fix}"
            )
        }
        _ if !f.has_cap && f.our_uid == 0 => format!(
            "reading process {pid} was refused: port-advisor runs as root but without \
             CAP_SYS_PTRACE (a container drops it): give the container --cap-add SYS_PTRACE"
        ),
        _ => format!(
            "permission denied reading process {pid}: run port-advisor with sudo (in a \
             container, --cap-add SYS_PTRACE)"
        ),
    }
}

fn proc_cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// How the recorder talks to the probe: it tells it which functions are candidates (the
/// hottest Python functions by inclusive time, and their callers) and reads its results.
struct ProbeLink {
    folder: std::path::PathBuf,
    probe_file: String,
    started: Instant,
    last_choice: Instant,
    written: Vec<(String, String)>,
    /// Every function ever written as a candidate, with its samples.
    tallies: Vec<Tally>,
    /// For each frame id: the tally of its function, once looked up.
    tally_of_frame: Vec<Option<Option<usize>>>,
}

/// The samples of one function the probe was told to count, so that where its count began
/// can be placed among them: the probe counts calls only from then on (Python before 3.12).
struct Tally {
    file: String,
    name: String,
    /// Busy samples whose stack holds it, from the start of the run.
    total: u64,
    /// When it was first written as a candidate (monotonic clock, seconds), and its total then.
    written_at: f64,
    total_at_write: u64,
    /// `(time, total)` after each of its samples during the `TALLY_WINDOW` after that.
    timeline: Vec<(f64, u64)>,
}

/// How long after a function is written as a candidate its counting can begin: the probe
/// looks for candidates every 0.25 s, later when the program holds the GIL for long.
const TALLY_WINDOW: f64 = 5.0;

/// The system's monotonic clock, which Python's `time.monotonic()` reads too.
fn monotonic_seconds() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9)
        .unwrap_or(0.0)
}

/// How many of the hottest functions become candidates, and the least share that qualifies.
const CANDIDATES: usize = 12;
const CANDIDATE_MIN_SHARE: f64 = 0.02;
/// How often the candidate set is reconsidered, and the samples needed first. Before 3.12 a
/// function is counted only from when it is chosen, and its earlier calls are extrapolated
/// from its samples: the first seconds choose often, so that little is extrapolated.
const CHOOSE_EVERY: Duration = Duration::from_millis(250);
const CHOOSE_EVERY_EARLY: Duration = Duration::from_millis(100);
const EARLY: Duration = Duration::from_secs(2);
const CHOOSE_AFTER_SAMPLES: u64 = 10;

impl ProbeLink {
    fn new(folder: std::path::PathBuf) -> ProbeLink {
        let probe_file = folder.join(launch::PROBE_FILE).display().to_string();
        ProbeLink {
            folder,
            probe_file,
            started: Instant::now(),
            last_choice: Instant::now(),
            written: Vec::new(),
            tallies: Vec::new(),
            tally_of_frame: Vec::new(),
        }
    }

    /// Counts one busy sample of `frames` for the functions it holds that are tallied.
    fn tally(&mut self, builder: &ProfileBuilder, frames: &[FrameId], weight: u64) {
        if self.tallies.is_empty() {
            return;
        }
        let mut now = None;
        let mut seen: Vec<usize> = Vec::new();
        for &id in frames {
            let slot = id as usize;
            if slot >= self.tally_of_frame.len() {
                self.tally_of_frame.resize(slot + 1, None);
            }
            let t = match self.tally_of_frame[slot] {
                Some(t) => t,
                None => {
                    let f = builder.frame(id);
                    let t = self
                        .tallies
                        .iter()
                        .position(|t| t.file == f.file && t.name == f.name);
                    self.tally_of_frame[slot] = Some(t);
                    t
                }
            };
            if let Some(t) = t.filter(|t| !seen.contains(t)) {
                seen.push(t);
                let tally = &mut self.tallies[t];
                tally.total += weight;
                let now = *now.get_or_insert_with(monotonic_seconds);
                if now - tally.written_at <= TALLY_WINDOW {
                    tally.timeline.push((now, tally.total));
                }
            }
        }
    }

    /// For a function counted from late in the run: its samples before counting began and in
    /// the whole run, when the start of counting can be placed.
    fn sampled(&self, p: &ProbedFunction, probe_started: f64) -> Option<(u64, u64)> {
        let tally = self
            .tallies
            .iter()
            .find(|t| t.file == p.file && (t.name == p.qualname || t.name == p.name))?;
        let began = probe_started + p.counted_since;
        if began > tally.written_at + TALLY_WINDOW {
            return None;
        }
        let before = tally
            .timeline
            .iter()
            .take_while(|(t, _)| *t <= began)
            .last()
            .map_or(tally.total_at_write, |&(_, total)| total);
        Some((before, tally.total))
    }

    fn is_probe_file(&self, file: &str) -> bool {
        file == self.probe_file
    }

    /// A stack in the probe's own code: its thread (imports it makes included), or a callback
    /// on top of a call; a wrapper between a caller and a candidate is the program's.
    fn is_probe_trace(&self, frames: &[py_spy::Frame]) -> bool {
        frames
            .iter()
            .any(|f| self.is_probe_file(&f.filename) && !f.name.ends_with(PROBE_WRAPPER))
    }

    fn choose_candidates(&mut self, builder: &ProfileBuilder) {
        let every = if self.started.elapsed() < EARLY {
            CHOOSE_EVERY_EARLY
        } else {
            CHOOSE_EVERY
        };
        if self.last_choice.elapsed() < every {
            return;
        }
        self.last_choice = Instant::now();
        let hot =
            builder.hot_python_functions(CANDIDATES, CANDIDATE_MIN_SHARE, CHOOSE_AFTER_SAMPLES);
        if hot.is_empty() || hot == self.written {
            return;
        }
        let text: String = hot
            .iter()
            .map(|(file, name)| format!("{file}\t{name}\n"))
            .collect();
        let path = self.folder.join("candidates");
        if crate::profile::write_atomic(&path, |w| Ok(w.write_all(text.as_bytes())?)).is_ok() {
            let now = monotonic_seconds();
            for (file, name) in &hot {
                if !self
                    .tallies
                    .iter()
                    .any(|t| &t.file == file && &t.name == name)
                {
                    let total = builder.inclusive_busy_weight(file, name);
                    self.tallies.push(Tally {
                        file: file.clone(),
                        name: name.clone(),
                        total,
                        written_at: now,
                        total_at_write: total,
                        timeline: Vec::new(),
                    });
                }
            }
            // Frames looked up before may belong to a function tallied now.
            self.tally_of_frame.clear();
            self.written = hot;
        }
    }

    /// What the probe wrote last; a probe that could not run says why.
    fn results(&self, python_version: Option<&str>) -> ProbeResults {
        let too_old = python_version.is_some_and(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (3, 8)
        });
        if too_old {
            return ProbeResults {
                method: "none".into(),
                unavailable: Some(format!(
                    "the probe needs CPython 3.8+; this program ran on {}",
                    python_version.unwrap_or("an unknown version")
                )),
                ..ProbeResults::default()
            };
        }
        let path = self.folder.join("results.json");
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<ProbeResults>(&b).ok())
        {
            Some(mut results) => {
                if let Some(started) = results.started_monotonic {
                    for p in results
                        .functions
                        .iter_mut()
                        .filter(|p| p.counted_since > 0.0)
                    {
                        if let Some((before, total)) = self.sampled(p, started) {
                            p.sampled_before = Some(before);
                            p.sampled = Some(total);
                        }
                    }
                }
                results
            }
            None => ProbeResults {
                method: "none".into(),
                unavailable: Some(
                    "the probe wrote no results (the program ended before its first report)".into(),
                ),
                ..ProbeResults::default()
            },
        }
    }
}

/// Whether a process exists and has not exited: `/proc/PID/stat` is readable and its state
/// is not zombie (`Z`) or dead (`X`).
fn process_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

/// A launched program. Its exit is detected by reading `/proc`, never by a blocking
/// `waitpid`: the blocking samplers ptrace the program from this same process, and a
/// `waitpid` on another thread would swallow their ptrace stops and freeze the program.
///
/// Its signals go through its [`ListedProcess`] all the same: a blocking sampler's ptrace can
/// collect its exit status before this does, and free its pid for another process.
struct ChildWatch {
    child: std::process::Child,
    process: ListedProcess,
    exited: Option<ExitInfo>,
}

impl ChildWatch {
    /// Watches a program just launched, and has the guard end it if port-advisor dies first.
    fn new(child: std::process::Child) -> ChildWatch {
        let process = ListedProcess::read(child.id());
        pause::end_if_abandoned(&process);
        ChildWatch {
            child,
            process,
            exited: None,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn is_alive(&mut self) -> bool {
        self.poll().is_none()
    }

    /// The exit, once the program has ended (reaping it then).
    fn poll(&mut self) -> Option<ExitInfo> {
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

    fn wait_for(&mut self, timeout: Duration) -> Option<ExitInfo> {
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

    fn wait(&mut self) -> ExitInfo {
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

    fn kill_now(&mut self) {
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
    fn stop(&mut self, why: StopReason) -> Option<ExitInfo> {
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

/// The progress line on stderr (hidden when stderr is not a terminal).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: std::cell::Cell<Option<Instant>>,
}

impl Progress {
    fn new(enabled: bool, pid: u32, argv: &[String]) -> Progress {
        use std::io::IsTerminal;
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            let name = argv
                .iter()
                .find(|a| a.ends_with(".py"))
                .or(argv.first())
                .cloned()
                .unwrap_or_default();
            bar.set_prefix(format!("recording {name} (pid {pid})"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            last: std::cell::Cell::new(None),
        }
    }

    fn update(&self, meta: &Meta, elapsed: Duration) {
        let Some(bar) = &self.bar else { return };
        if self
            .last
            .get()
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last.set(Some(Instant::now()));
        bar.set_message(format!(
            "{:.1} s, {} samples, {} errors  (Ctrl-C stops and keeps the profile)",
            elapsed.as_secs_f64(),
            meta.samples,
            meta.error_ticks
        ));
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(our_uid: u32, target_uid: u32, has_cap: bool, yama: Option<u8>) -> PtraceFacts {
        PtraceFacts {
            our_uid,
            target_uid: Some(target_uid),
            target_user: (target_uid == 0).then(|| "root".to_string()),
            has_cap,
            yama_scope: yama,
        }
    }

    #[test]
    fn permission_errors_are_told_apart() {
        let other = permission_advice(7, &facts(1000, 0, false, None));
        assert!(other.contains("belongs to user root (uid 0)"), "{other}");
        assert!(other.contains("sudo"), "{other}");

        let yama = permission_advice(7, &facts(1000, 1000, false, Some(1)));
        assert!(yama.contains("ptrace_scope is 1"), "{yama}");
        assert!(yama.contains("own children"), "{yama}");
        assert!(yama.contains("instead of --pid"), "{yama}");
        let locked = permission_advice(7, &facts(1000, 1000, false, Some(3)));
        assert!(locked.contains("no process can be read"), "{locked}");
        assert!(!locked.contains("sysctl"), "{locked}");

        let container = permission_advice(7, &facts(0, 0, false, None));
        assert!(
            container.contains("without CAP_SYS_PTRACE") && container.contains("--cap-add"),
            "{container}"
        );

        // Yama does not bind a process that has the capability.
        let generic = permission_advice(7, &facts(0, 0, true, Some(1)));
        assert!(generic.starts_with("permission denied"), "{generic}");
    }

    #[test]
    fn read_errors_count_once_per_cause() {
        let e = anyhow::anyhow!("Max frame recursion depth reached")
            .context("Failed to call get_stack_trace for thread 140652669422464");
        assert_eq!(
            error_message(&e),
            "Failed to call get_stack_trace for a thread: Max frame recursion depth reached"
        );
        assert!(too_deep(&e));
    }
}
