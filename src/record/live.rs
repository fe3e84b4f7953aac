//! One recording, from start to finish: start or find the program, start the samplers, turn
//! their ticks into the profile until the program exits, the duration elapses or a signal
//! arrives, then end what was launched and complete the profile.
//!
//! The steps live beside it: `launch` starts the program, `attach` checks the process and
//! explains a refusal, `sampler` reads stacks with py-spy, `children` watches and ends
//! processes, `probe_link` talks with the probe, `progress` draws the progress line. This
//! module only orders them and turns the samplers' ticks into the profile; it neither reads
//! the program's stacks nor signals a process itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::attach::{check_attachable, classify_attach_error, free_threaded, proc_cmdline};
use super::children::ChildWatch;
use super::inject::{inject, Injected};
use super::launch::{self, Launch, Launched, PythonChoice};
use super::pause::{self, ListedProcess};
use super::probe_link::ProbeLink;
use super::progress::Progress;
use super::sampler::{
    error_message, follow_children, native_config, spawn_sampler, time_config, Event, Pass, Tick,
    ATTACH_PATIENCE,
};
use super::{Reads, RecordOptions, Recording, StopReason, Target};
use crate::error::UserError;
use crate::profile::{
    Frame, FrameId, FrameKind, Meta, ProbeResults, ProfileBuilder, Sampling, SamplingMode,
    TargetKind,
};

/// How often the partial profile is checkpointed to disk.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Records `target` until it exits, the duration elapses, or a signal arrives.
pub fn record(target: &Target, python: &PythonChoice, opts: &RecordOptions) -> Result<Recording> {
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
    }

    pause::start_guard();
    let started_at = chrono::Local::now().to_rfc3339();
    let Program {
        pid,
        mut watch,
        launched,
        argv,
        mut meta,
    } = match target {
        Target::Launch(launch) => Program::launch(launch, python, opts, &signal)?,
        Target::Attach(pid) => Program::attach(*pid)?,
    };
    meta.started_at = started_at;
    meta.sampling = sampling(opts);
    // In an attached process the probe is sent first: its counts then cover the samples.
    let injected = match target {
        Target::Attach(pid) => Some(inject(*pid, opts.probe)),
        Target::Launch(_) => None,
    };

    let rx = start_samplers(pid, opts, watch.is_some());
    let progress = Progress::new(opts.progress, pid, &argv);
    let mut session = Session {
        builder: ProfileBuilder::default(),
        runner_pid: launched.as_ref().filter(|l| l.has_runner()).map(|_| pid),
        probe: launched
            .as_ref()
            .and_then(|l| l.probe_folder())
            .or_else(|| injected.as_ref()?.as_ref().ok().map(|i| i.folder()))
            .map(|dir| ProbeLink::new(dir.to_path_buf())),
        meta,
        started: Instant::now(),
        last_checkpoint: Instant::now(),
        time_running: true,
    };
    let release = || {
        if let Some(l) = &launched {
            l.release();
        }
    };
    let stop = session.run(&rx, watch.as_mut(), &signal, opts, &progress, &release)?;
    progress.finish();
    drop(rx);
    pause::stop_guard();

    finish(
        session,
        stop,
        watch.as_mut(),
        launched.as_ref(),
        injected.as_ref(),
    )
}

/// The process being recorded, as recording starts.
struct Program {
    /// The process sampled: the launched one, the Python a launcher started, or the one
    /// attached to.
    pid: u32,
    /// The launched program, watched for its exit; `None` when attached.
    watch: Option<ChildWatch>,
    /// How the program was launched; `None` when attached.
    launched: Option<Launched>,
    argv: Vec<String>,
    meta: Meta,
}

impl Program {
    /// Starts the program and waits until its interpreter can be read.
    fn launch(
        launch: &Launch,
        python: &PythonChoice,
        opts: &RecordOptions,
        signal: &AtomicUsize,
    ) -> Result<Program> {
        let mut started = launch::start(launch, python, opts.probe)?;
        let process = started
            .child
            .take()
            .expect("a launched program has a child");
        let mut watch = ChildWatch::new(process);
        // The process to sample: the launched one, or the Python a launcher started.
        let runner = await_runner(&started, &mut watch, signal)?;
        if let Some(runner) = runner {
            // A launcher's child outlives the launcher: the guard must know it too.
            pause::end_if_abandoned(&ListedProcess::read(runner));
        }
        let pid = runner.unwrap_or(watch.pid());
        let argv = started.argv.clone();
        let meta = Meta {
            command: argv.clone(),
            target: TargetKind::Launched,
            cpus: std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u32),
            pid,
            cwd: std::env::current_dir()
                .ok()
                .map(|p| p.display().to_string()),
            ..Meta::default()
        };
        Ok(Program {
            pid,
            watch: Some(watch),
            launched: Some(started),
            argv,
            meta,
        })
    }

    /// A running process, which is left running afterwards.
    fn attach(pid: u32) -> Result<Program> {
        check_attachable(pid)?;
        if let Some(why) = free_threaded(pid) {
            return Err(UserError::Unsupported(why).into());
        }
        let argv = proc_cmdline(pid);
        let meta = Meta {
            command: argv.clone(),
            target: TargetKind::Attached,
            cpus: std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u32),
            pid,
            cwd: std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .map(|p| p.display().to_string()),
            python_executable: std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .map(|p| p.display().to_string()),
            ..Meta::default()
        };
        Ok(Program {
            pid,
            watch: None,
            launched: None,
            argv,
            meta,
        })
    }
}

/// How the samples are taken, as the profile records it.
fn sampling(opts: &RecordOptions) -> Sampling {
    Sampling {
        rate_hz: opts.rate_hz,
        mode: match opts.reads {
            Reads::Paused => SamplingMode::Paused,
            Reads::Blocking => SamplingMode::Blocking,
            Reads::Nonblocking => SamplingMode::Nonblocking,
        },
        native_rate_hz: opts.native.then_some(opts.native_rate_hz),
        gil_only: opts.gil_only,
        subprocesses: opts.subprocesses,
    }
}

/// Starts the time sampler of `pid`, and the native pass and the children's samplers when
/// asked for; every tick of theirs arrives on the channel returned.
fn start_samplers(pid: u32, opts: &RecordOptions, launched: bool) -> Receiver<Event> {
    let (tx, rx) = mpsc::channel();
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
    rx
}

/// Ends a launched program that recording stopped before it ended, and completes the
/// profile: how the run ended, how long it took, the interpreter, the probe's results.
fn finish(
    mut session: Session,
    mut stop: StopReason,
    watch: Option<&mut ChildWatch>,
    launched: Option<&Launched>,
    injected: Option<&Result<Injected, String>>,
) -> Result<Recording> {
    if let Some(child) = watch {
        if matches!(stop, StopReason::Duration) {
            if let Some(l) = launched {
                l.note_stopping();
            }
        }
        if !matches!(stop, StopReason::Exited(_)) {
            session.meta.exit = child.stop(stop);
        }
    }
    if let StopReason::Exited(exit) = &mut stop {
        // A native-pass read waiting on the program (ptrace) as it ended collects its status
        // before port-advisor can: the runner noted it, or, for a signal that ended it, that
        // read's `waitpid` named it in the error it returned.
        if exit.code.is_none() && exit.signal.is_none() {
            if let Some(noted) = launched.and_then(Launched::noted_exit) {
                *exit = noted;
            } else {
                exit.signal = signal_collected_by_a_pause(session.builder.error_messages());
            }
        }
    }
    session.meta.interrupted = matches!(stop, StopReason::Signal(_));
    session.meta.wall_seconds = session.started.elapsed().as_secs_f64();
    if let StopReason::Exited(exit) = stop {
        session.meta.exit = Some(exit);
    }
    if let Some(launched) = launched {
        // A program the runner refused (syntax error, no such module) is an error, not a run.
        if let Some(info) = launched.python()? {
            session.meta.python_version = Some(info.version);
            session.meta.python_executable = Some(info.executable);
            session.meta.startup_seconds = info.startup_seconds;
        }
    }
    if let Some(Ok(probe)) = injected {
        // Its last results, and the process left as it was.
        probe.stop();
    }
    let probe_results = match (&session.probe, injected) {
        (Some(link), _) => Some(link.results(session.meta.python_version.as_deref())),
        (None, Some(Err(why))) => Some(ProbeResults {
            method: "none".into(),
            unavailable: Some(why.clone()),
            ..ProbeResults::default()
        }),
        (None, _) => None,
    };
    let mut profile = session.builder.to_profile(session.meta);
    profile.probe = probe_results;
    Ok(Recording { profile, stop })
}

/// The signal a paused read's `waitpid` saw end the program, from the error it returned
/// (`unexpected waitpid result Signaled(Pid(4242), SIGKILL, false) to 4242`).
fn signal_collected_by_a_pause<'a>(mut errors: impl Iterator<Item = &'a str>) -> Option<i32> {
    const SEEN: &str = "unexpected waitpid result Signaled(Pid(";
    errors.find_map(|message| {
        let at = message.find(SEEN)? + SEEN.len();
        let (_, rest) = message[at..].split_once("), ")?;
        let name = rest.split(',').next()?.trim();
        name.parse::<nix::sys::signal::Signal>()
            .ok()
            .map(|s| s as i32)
    })
}

/// Waits for the runner's report on the interpreter before anything is sampled, so that a
/// program Python refuses (syntax error, no such module), an interpreter port-advisor cannot
/// read, or a command that is not Python at all is an error before the program runs. Returns
/// the runner's process when it is not the launched one (a launcher that started Python as its
/// child rather than becoming it).
fn await_runner(
    launched: &Launched,
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
                Ok(Event::InitFailed(Pass::Native, err)) if !opts.native_required => {
                    // The native pass is on by default; without it the native share comes
                    // from the rules and the sampled lines, and the profile says so.
                    self.meta.sampling.native_rate_hz = None;
                    self.builder.add_error(format!(
                        "the native pass did not start ({}): native share judged from \
                         rules/native.toml and the sampled lines only; run with --native to \
                         make this an error",
                        error_message(&err)
                    ));
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
        if sample.overlapped {
            // Read while the native pass held the program stopped: every thread would
            // count as waiting. The time it stands for is left out of the run's samples.
            self.meta.overlapped_ticks += 1;
            return;
        }
        if pass == Pass::Time && !sample.handed_back {
            self.meta.ticks += 1;
            self.meta.locked_reads += u64::from(sample.locked);
            self.meta.paused_reads += u64::from(sample.paused);
            self.meta.system_call_rereads += u64::from(sample.system_call);
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
        // Each trace judged once: the probe's, or the program's.
        let probes: Vec<bool> = match &self.probe {
            Some(probe) => sample
                .traces
                .iter()
                .map(|t| is_probe_trace(probe, &t.frames))
                .collect(),
            None => vec![false; sample.traces.len()],
        };
        let handed_back = sample.handed_back;
        let probe_ran = sample
            .traces
            .iter()
            .zip(&probes)
            .any(|(t, &probe)| t.active && probe);
        for (trace, is_probe) in sample.traces.iter().zip(probes) {
            let thread = self.builder.intern_thread(
                trace.pid as u32,
                trace.thread_id,
                trace.thread_name.as_deref(),
            );
            // py-spy lists the innermost frame first.
            let mut kept: Vec<&py_spy::Frame> = trace.frames.iter().collect();
            if is_probe {
                if pass == Pass::Time && trace.active && !handed_back {
                    self.meta.probe_samples += 1;
                }
                continue;
            }
            if probe_ran && !trace.active {
                continue;
            }
            if self.probe.is_some() {
                // A wrapper between a caller and a candidate (Python before 3.12).
                kept.retain(|f| !ProbeLink::is_wrapper_file(&f.filename));
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

/// A stack in the probe's own code, as opposed to the program's.
/// A stack running the probe: its own code anywhere on it, or a wrapper (Python before 3.12)
/// as the innermost Python frame, counting a call or passing it on. Kept, a wrapper's time
/// would land on the caller's line (its frame is left out) and price that line as a call.
fn is_probe_trace(probe: &ProbeLink, frames: &[py_spy::Frame]) -> bool {
    frames.iter().any(|f| probe.is_probe_frame(&f.filename))
        || frames
            .iter()
            .find(|f| !is_native(f))
            .is_some_and(|f| ProbeLink::is_wrapper_file(&f.filename))
}

/// Native as [`convert_frame`] judges it: py-spy names its library or knows no file for it.
fn is_native(f: &py_spy::Frame) -> bool {
    f.module.is_some() || f.filename == "?"
}

/// A frame as py-spy read it, in the model's terms: native when py-spy names its library or
/// knows no file for it.
fn convert_frame(f: &py_spy::Frame) -> Frame {
    let native = is_native(f);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::probe_link::PROBE_WRAPPER_FILE;

    #[test]
    fn a_signal_a_paused_read_collected_is_the_programs_exit() {
        let killed = [
            "Failed to suspend process: ESRCH: No such process",
            "Failed to suspend process: unexpected waitpid result \
             Signaled(Pid(4242), SIGKILL, false) to 4242",
        ];
        assert_eq!(signal_collected_by_a_pause(killed.into_iter()), Some(9));
        let stopped = "Failed to suspend process: unexpected waitpid result \
                       PtraceEvent(Pid(4242), SIGSTOP, 128) to 4242";
        assert_eq!(signal_collected_by_a_pause(std::iter::once(stopped)), None);
        assert_eq!(signal_collected_by_a_pause(std::iter::empty()), None);
    }

    fn frame(name: &str, file: &str, library: Option<&str>) -> py_spy::Frame {
        py_spy::Frame {
            name: name.into(),
            filename: file.into(),
            module: library.map(Into::into),
            short_filename: None,
            line: 3,
            locals: None,
            is_entry: true,
            is_shim_entry: true,
        }
    }

    #[test]
    fn a_wrapper_running_its_own_code_is_the_probes_time() {
        let probe = ProbeLink::new("/tmp/handshake".into());
        let wrapper = || frame("valid", PROBE_WRAPPER_FILE, None);
        let caller = frame("backtrack", "app.py", None);
        let twin = frame("valid", "app.py", None);
        let c = frame("memcpy", "?", Some("libc.so.6"));
        // Innermost first, as py-spy lists them.
        assert!(is_probe_trace(&probe, &[wrapper(), caller.clone()]));
        assert!(is_probe_trace(
            &probe,
            &[c.clone(), wrapper(), caller.clone()]
        ));
        // The wrapped function running under it is the program's.
        assert!(!is_probe_trace(&probe, &[twin, wrapper(), caller.clone()]));
        assert!(!is_probe_trace(&probe, &[c, caller]));
        let own = frame("tick", "/tmp/handshake/probe.py", None);
        assert!(is_probe_trace(&probe, &[own]));
    }
}
