//! The samplers: threads that read the program's stacks with py-spy at a steady rate and send
//! each read, as a [`Tick`], to the recording. The only place that attaches py-spy's reader.
//!
//! A sampler attaches (giving a launched program time to start its interpreter), then on
//! every tick reads every thread's stack. The time sampler reads the target without stopping
//! it (non-blocking) unless `--blocking` is asked for: stopping the target at each sample
//! over-counts code next to system calls. A non-blocking read that looks cut short is taken
//! again with the program paused (see `pause`). `--native` adds a second, low-rate blocking
//! sampler that unwinds native frames; child processes (`--subprocesses`) get time samplers of
//! their own.
//!
//! Samplers only read: they never build the profile (the recording does, from their ticks),
//! and they end no process.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use py_spy::config::LockingStrategy;
use py_spy::timer::Timer;
use py_spy::{PythonSpy, StackTrace};

use super::activity::ThreadActivity;
use super::attach::{is_permission_error, process_running};
use super::children::descendants;
use super::late_symbols::LateSymbols;
use super::launch;
use super::pause::{ListedProcess, Pause};
use super::{Reads, RecordOptions};

/// Which of the samplers a sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// The time sampler of the target process.
    Time,
    /// The time sampler of a child process (`--subprocesses`).
    Child,
    /// The low-rate blocking sampler that unwinds native frames (`--native`).
    Native,
}

/// What one tick of a sampler read.
pub(super) struct Tick {
    /// Shared, so that the last read that found Python running can be kept for
    /// [`hand_back`] without copying every read's stacks.
    pub(super) traces: Arc<[StackTrace]>,
    /// The last read error, when every attempt of the tick failed.
    pub(super) error: Option<anyhow::Error>,
    /// The tick's non-blocking reads failed or came back cut short, and it paused the
    /// program to read it.
    pub(super) locked: bool,
    /// The tick paused the program to read it, by choice (`paused` and `blocking` reads).
    pub(super) paused: bool,
    /// The tick's pause stopped a thread at a system call's edge, and it read the program
    /// while it ran instead.
    pub(super) system_call: bool,
    /// How far behind schedule the tick was taken.
    pub(super) late: Option<Duration>,
    /// How many sampling periods the tick stands for: more than one when reads fell behind
    /// and the sampler skipped the ticks it missed.
    pub(super) weight: u64,
    /// A time read taken while the native pass held the program stopped: every thread reads
    /// as waiting, which the program was not.
    pub(super) overlapped: bool,
    /// Not a read: the time a later read stood for, handed back to the last read that found
    /// Python running (see `Sampler::run`). It counts as samples, not as a tick.
    pub(super) handed_back: bool,
}

/// The most of a program's time the native pass may hold it stopped.
const NATIVE_PAUSE_SHARE: f64 = 0.02;
/// Pauses the native pass may take before that share applies: its first reads load symbols.
const NATIVE_PAUSE_GRACE: Duration = Duration::from_millis(50);

/// The most of a program's time the time sampler may hold it stopped in `paused` reads
/// (beyond it, it reads the program while it runs). A paused read of a stack 10 frames deep
/// holds the program about 150 us, one 50 deep about 700 us: at 100 Hz, such programs are
/// read paused at every tick, or at about half of them (the other half is skipped).
const PAUSE_SHARE: f64 = 0.04;
/// Beyond its pause share, the time sampler skips ticks rather than read the program running,
/// but reads it running rather than go longer than this without a read: a stack deep enough
/// that a paused read of it takes tens of milliseconds is then read 20 times a second.
const FILL_IN_AFTER: Duration = Duration::from_millis(50);
/// Pauses the time sampler may take before that share applies.
const PAUSE_GRACE: Duration = Duration::from_millis(20);

/// Native-pass reads, counted up as each begins and as it ends: odd while the native pass
/// holds the program stopped. (One recording per port-advisor process.)
static NATIVE_READS: AtomicU64 = AtomicU64::new(0);

/// Held by the sampler holding the program stopped, so that the native pass's ptrace stop
/// and the time sampler's job-control stop never meet: a SIGSTOP sent to a thread py-spy
/// has just seized ends its ptrace pause in a group stop it does not expect, and the native
/// read fails (on log_report.py at 200 Hz, in four runs of five).
static HOLDING: Mutex<()> = Mutex::new(());

/// Waits to hold the program (the native pass, whose reads need the program stopped).
fn hold() -> MutexGuard<'static, ()> {
    HOLDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Holds the program unless the other pass does: `None` while the native pass has it
/// stopped, when the time sampler reads it as it stands instead of stopping it again.
fn try_hold() -> Option<MutexGuard<'static, ()>> {
    match HOLDING.try_lock() {
        Ok(held) => Some(held),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// What a sampler tells the recording.
pub(super) enum Event {
    Started(Pass, Option<String>),
    Sample(Pass, Tick),
    InitFailed(Pass, anyhow::Error),
    Ended(Pass),
}

/// How long a launched program may take before the interpreter can be read.
pub(super) const ATTACH_PATIENCE: Duration = Duration::from_secs(10);

/// After this many failed reads in a row, the interpreter is looked for again.
const REREAD_AFTER: u32 = 5;

/// The name of the threads that read the program.
const SAMPLER_THREAD: &str = "port-advisor sampler";

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

/// The time sampler, at `--rate`: py-spy reads without pausing, and the sampler pauses the
/// program itself as `reads` says, with a job-control stop, which keeps a launched program's
/// exit status (see `pause`); the native pass needs py-spy's ptrace pause to unwind.
pub(super) fn time_config(opts: &RecordOptions) -> SamplerConfig {
    SamplerConfig {
        spy: py_spy::Config {
            blocking: LockingStrategy::NonBlocking,
            sampling_rate: u64::from(opts.rate_hz),
            ..base_config(opts)
        },
        reads: opts.reads,
    }
}

/// The native pass: paused with ptrace for each read, which it needs to unwind native
/// frames, at `--native-rate`.
pub(super) fn native_config(opts: &RecordOptions) -> SamplerConfig {
    SamplerConfig {
        spy: py_spy::Config {
            blocking: LockingStrategy::Lock,
            native: true,
            sampling_rate: u64::from(opts.native_rate_hz),
            ..base_config(opts)
        },
        reads: Reads::Blocking,
    }
}

/// A sampler's settings: py-spy's reader's, and how a time sampler reads the program.
#[derive(Clone)]
pub(super) struct SamplerConfig {
    spy: py_spy::Config,
    reads: Reads,
}

/// Starts a sampler on its own thread, forwarding its samples (tagged) into `tx`. For a
/// launched program it keeps trying to attach while the program is alive and starting up.
pub(super) fn spawn_sampler(
    target: ListedProcess,
    config: SamplerConfig,
    pass: Pass,
    tx: Sender<Event>,
    launched: bool,
) {
    quiet_sampler_panics();
    let tx_for_error = tx.clone();
    let spawned = thread::Builder::new()
        .name(SAMPLER_THREAD.into())
        .spawn(move || {
            // py-spy's reader is not `Send` on Linux: it lives on this thread.
            let spy = match attach(target.pid, &config.spy, launched) {
                Ok(spy) => spy,
                Err(e) => {
                    let _ = tx.send(Event::InitFailed(pass, e));
                    return;
                }
            };
            if tx
                .send(Event::Started(pass, Some(spy.version.to_string())))
                .is_err()
            {
                return;
            }
            Sampler::new(spy, target, pass, config.reads).run(&tx);
        });
    if let Err(e) = spawned {
        let _ = tx_for_error.send(Event::InitFailed(pass, e.into()));
    }
}

/// Opens py-spy's reader on `pid`. A launched program may not have started its interpreter
/// yet: it is tried again while the program runs, for up to [`ATTACH_PATIENCE`], unless the
/// system refused to let it be read.
fn attach(pid: u32, config: &py_spy::Config, launched: bool) -> Result<PythonSpy> {
    let deadline = Instant::now() + ATTACH_PATIENCE;
    loop {
        match PythonSpy::new(pid as py_spy::Pid, config) {
            Ok(spy) => return Ok(spy),
            Err(e) => {
                let still_starting = launched
                    && process_running(pid)
                    && Instant::now() < deadline
                    && !is_permission_error(&e);
                if !still_starting {
                    return Err(e);
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The whole periods in `behind` (a count of periods, from a late timer) and the part of a
/// period left over. The part is carried to the next skip: dropped, it undercounted whatever
/// ran while the sampler waited for a CPU, by half a period a skip on average.
fn whole_periods(behind: f64) -> (u64, f64) {
    let whole = behind.floor();
    (whole as u64, behind - whole)
}

/// One attached sampler and what it keeps from tick to tick.
struct Sampler {
    spy: PythonSpy,
    target: ListedProcess,
    pass: Pass,
    rate: f64,
    /// How a time sampler reads the program (the native pass pauses it through py-spy).
    reads: Reads,
    /// How long its pauses have held the program, against how long it has sampled.
    held: PauseBudget,
    activity: ThreadActivity,
    roots: Roots,
    failed_in_a_row: u32,
    /// The part of a period a skip left over, carried to the next skip.
    behind: f64,
    /// The native pass's second look at frames in libraries loaded since py-spy's last read.
    late_symbols: LateSymbols,
    /// How long the last tick spent placing such frames, after the program was let go.
    placing: Duration,
}

/// One read of every thread's stack.
struct Read {
    stacks: Result<Vec<StackTrace>>,
    /// When the program was paused for the read: which of its threads were running just
    /// before, by thread id.
    paused_running: Option<HashMap<u32, bool>>,
    /// A non-blocking read failed or came back cut short, and was taken again paused.
    locked: bool,
    /// Paused by choice.
    paused: bool,
    /// A pause by choice stopped a thread at a system call's edge; read running instead.
    system_call: bool,
}

impl Read {
    fn of(stacks: Result<Vec<StackTrace>>, paused_running: Option<HashMap<u32, bool>>) -> Read {
        Read {
            stacks,
            paused_running,
            locked: false,
            paused: false,
            system_call: false,
        }
    }
}

/// The time a sampler's pauses held the program, and since when it samples.
struct PauseBudget {
    since: Instant,
    held: Duration,
}

impl PauseBudget {
    fn new() -> PauseBudget {
        PauseBudget {
            since: Instant::now(),
            held: Duration::ZERO,
        }
    }

    /// Whether a pause now keeps the pauses within [`PAUSE_SHARE`] of the time sampled.
    fn allows(&self) -> bool {
        self.held.saturating_sub(PAUSE_GRACE) <= self.since.elapsed().mul_f64(PAUSE_SHARE)
    }
}

/// The time a read stood for beyond its own tick, handed back to the last read that found
/// Python running when this one found no Python frame at all: the interpreter starting or
/// shutting down. Such a read comes after ticks skipped for the pauses' share, or missed on a
/// loaded machine, and those were spent running the program, not finalizing it; standing for
/// them, the read at a one-second program's exit made a tenth of its profile "(no Python
/// frame)". Keeps `last_python` up to date with the reads that found Python running.
fn hand_back(tick: &mut Tick, last_python: &mut Option<Arc<[StackTrace]>>) -> Option<Tick> {
    if tick.error.is_some() || tick.overlapped {
        return None;
    }
    if tick.traces.iter().any(|t| !t.frames.is_empty()) {
        *last_python = Some(Arc::clone(&tick.traces));
        return None;
    }
    let traces = Arc::clone(last_python.as_ref().filter(|_| tick.weight > 1)?);
    let weight = tick.weight - 1;
    tick.weight = 1;
    Some(Tick {
        traces,
        error: None,
        locked: false,
        paused: false,
        system_call: false,
        late: None,
        weight,
        overlapped: false,
        handed_back: true,
    })
}

impl Sampler {
    fn new(spy: PythonSpy, target: ListedProcess, pass: Pass, reads: Reads) -> Sampler {
        // A child of the program is the program's to wait for, not port-advisor's: its stops
        // would show to the program (as SIGCHLD, and to a wait for stopped children).
        let reads = match (pass, reads) {
            (Pass::Child, Reads::Paused) => Reads::Nonblocking,
            _ => reads,
        };
        let spy_pid = spy.pid;
        Sampler {
            rate: spy.config.sampling_rate as f64,
            spy,
            target,
            pass,
            reads,
            held: PauseBudget::new(),
            activity: ThreadActivity::default(),
            roots: Roots::default(),
            failed_in_a_row: 0,
            behind: 0.0,
            late_symbols: LateSymbols::new(spy_pid),
            placing: Duration::ZERO,
        }
    }

    /// Reads the program once a period and sends each tick, until the program exits or
    /// nobody listens any more.
    fn run(mut self, tx: &Sender<Event>) {
        let mut timer = Timer::new(self.rate);
        let started = Instant::now();
        let mut paused = Duration::ZERO;
        let mut carried = 0;
        let mut last_read = started;
        let mut last_python = None;
        while let Some(sleep) = timer.next() {
            let weight = self.skip_missed(sleep, &mut timer) + carried;
            let share_spent =
                self.reads == Reads::Paused && self.pass != Pass::Native && !self.held.allows();
            if share_spent && last_read.elapsed() < FILL_IN_AFTER {
                // The pauses have had their share: the tick is skipped, and the next read
                // (paused again, once the share allows) stands for its time. Reading the
                // program running instead would bring back the bias the pauses avoid.
                carried = weight;
                continue;
            }
            // A read the pauses' share leaves to be taken running (at least one every
            // FILL_IN_AFTER) stands for its own tick only, and the next read for the rest: on
            // 3.11+ a running read gives short calls' time to their callers, and standing for
            // the ticks skipped before it, such reads made a third of the weight of a deep
            // recursion's profile.
            let (weight, later) = if share_spent {
                (weight.min(1), weight.saturating_sub(1))
            } else {
                (weight, 0)
            };
            carried = later;
            last_read = Instant::now();
            let began = last_read;
            let Some(mut tick) = self.tick(weight, sleep.err()) else {
                let _ = tx.send(Event::Ended(self.pass));
                return;
            };
            if let Some(back) = hand_back(&mut tick, &mut last_python) {
                if tx.send(Event::Sample(self.pass, back)).is_err() {
                    return;
                }
            }
            if tx.send(Event::Sample(self.pass, tick)).is_err() {
                return;
            }
            if self.pass == Pass::Native {
                // The native pass holds the program stopped while it unwinds: a deep stack
                // or a hundred threads take far longer than usual, and the pass then waits
                // so that its pauses stay within NATIVE_PAUSE_SHARE of the run (after a
                // grace for its first, slower reads).
                paused += began.elapsed().saturating_sub(self.placing);
                let allowed = paused.saturating_sub(NATIVE_PAUSE_GRACE);
                let due = allowed.div_f64(NATIVE_PAUSE_SHARE);
                let elapsed = started.elapsed();
                if due > elapsed {
                    thread::sleep(due - elapsed);
                    timer = Timer::new(self.rate);
                }
            }
        }
    }

    /// How many periods the coming read stands for: one, or more when the timer fell behind
    /// by whole periods, which are then skipped.
    fn skip_missed(&mut self, sleep: Result<Duration, Duration>, timer: &mut Timer) -> u64 {
        let Err(late) = sleep else {
            return 1;
        };
        let (missed, left) = whole_periods(self.behind + late.as_secs_f64() * self.rate);
        if missed >= 1 {
            // Catching up would take the missed reads in a burst, all at one later moment
            // (a slow read of a deep stack, a loaded machine): skip them, and let this read
            // stand for the time they would have covered.
            self.behind = left;
            *timer = Timer::new(self.rate);
        }
        1 + missed
    }

    /// One tick: a read of every thread, with whether each was running. `None` once the
    /// process has exited.
    fn tick(&mut self, weight: u64, late: Option<Duration>) -> Option<Tick> {
        let native = self.pass == Pass::Native;
        self.placing = Duration::ZERO;
        let before = if native {
            NATIVE_READS.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            NATIVE_READS.load(Ordering::SeqCst)
        };
        let read = self.read();
        let after = if native {
            NATIVE_READS.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            NATIVE_READS.load(Ordering::SeqCst)
        };
        let mut traces = Vec::new();
        let mut tick = Tick {
            weight,
            traces: Arc::from([]),
            error: None,
            locked: read.locked,
            paused: read.paused,
            system_call: read.system_call,
            late,
            overlapped: !native && (before % 2 == 1 || before != after),
            handed_back: false,
        };
        match read.stacks {
            Ok(read_traces) => {
                self.failed_in_a_row = 0;
                traces = read_traces;
                for trace in &mut traces {
                    trace.frames.retain(|f| !is_init_shim(f));
                }
                if native {
                    traces.iter_mut().for_each(unmerged_native_frames);
                    let placing = Instant::now();
                    self.late_symbols.place(&mut traces);
                    self.placing = placing.elapsed();
                }
            }
            Err(e) => {
                if self.spy.process.exe().is_err() {
                    // The process exited.
                    return None;
                }
                self.count_failure(&e);
                tick.error = Some(e);
            }
        }
        self.mark_running(&mut traces, read.paused_running.as_ref());
        tick.traces = traces.into();
        Some(tick)
    }

    /// One read of every thread. A time sampler pauses the program for it when its reads
    /// say so (always with `blocking`, within [`PAUSE_SHARE`] of the run with `paused`),
    /// unless the pause stopped a thread at a system call's edge; otherwise it reads the
    /// program while it runs, and reads again paused a read that looks cut short.
    fn read(&mut self) -> Read {
        if self.pass == Pass::Native {
            // py-spy pauses the program for the native pass's reads.
            let _held = hold();
            return Read::of(read_stacks(&mut self.spy), None);
        }
        let mut system_call = false;
        let pause_now = match self.reads {
            Reads::Blocking => true,
            Reads::Paused => self.held.allows(),
            Reads::Nonblocking => false,
        };
        // Read while the program runs, before any pause: at a moment the program chose
        // nothing about.
        let stacks = read_stacks(&mut self.spy);
        if pause_now {
            // A read of a running program races it, and on 3.11+ the time of short calls goes
            // to their callers, in reads that come back whole (a solver's 1-microsecond helper
            // measured 5% read running, 27% paused; see docs/sampling.md).
            // A stop, though, lands at a system call's edge far more often than the program
            // spends time there (a loop making 2% of its time in getpid was stopped there
            // 56% of the time): such a stop is let go, and the read taken before it kept.
            match self.read_paused(true) {
                Some(read) => {
                    if let Ok(traces) = &read.stacks {
                        self.roots.learn(traces, true);
                    }
                    return read;
                }
                None => system_call = true,
            }
        }
        // A read racing the program can also fail or come back cut short (an empty stack,
        // or one without its outer frames). Reading again without pausing would keep only
        // the moments with shallow stacks, so the tick pauses the program for one
        // consistent read instead, wherever the stop lands. A stack too deep to read fails
        // paused too: no pause for it.
        let stable = match &stacks {
            Ok(t) => self.roots.whole(t),
            Err(e) => too_deep(e),
        };
        let retaken = if stable {
            None
        } else {
            self.read_paused(false)
        };
        let mut read = match retaken {
            Some(paused) => Read {
                locked: true,
                paused: false,
                ..paused
            },
            None => Read::of(stacks, None),
        };
        read.system_call = system_call;
        if let Ok(traces) = &read.stacks {
            self.roots.learn(traces, read.locked);
        }
        read
    }

    /// A read with the program paused, and which threads were running just before the
    /// pause. `None` when `unless_system_call` and the stop found a running thread at a
    /// system call's edge: the program then runs on unread.
    fn read_paused(&mut self, unless_system_call: bool) -> Option<Read> {
        let Some(_held) = try_hold() else {
            // The native pass holds the program stopped: a read now is as consistent as a
            // paused one (and is marked overlapped: every thread reads as waiting).
            return Some(Read::of(read_stacks(&mut self.spy), None));
        };
        let began = Instant::now();
        let pause = Pause::start(&self.target);
        let landed = unless_system_call && pause.as_ref().is_some_and(Pause::at_system_call);
        let read = if landed {
            None
        } else {
            let stacks = read_stacks(&mut self.spy);
            // Every thread reads as stopped while paused: activity is from before.
            Some(Read {
                paused: true,
                ..Read::of(stacks, pause.as_ref().map(|p| p.running.clone()))
            })
        };
        drop(pause);
        self.held.held += began.elapsed();
        read
    }

    /// Counts a failed read; after [`REREAD_AFTER`] in a row, looks for the interpreter again.
    fn count_failure(&mut self, e: &anyhow::Error) {
        // A stack too deep to read fails every read, and is not a new interpreter.
        if too_deep(e) {
            return;
        }
        self.failed_in_a_row += 1;
        if self.failed_in_a_row.is_multiple_of(REREAD_AFTER) {
            // After `os.exec*` the process runs a new interpreter (or none):
            // what py-spy learned about the old one no longer holds.
            if let Ok(fresh) = PythonSpy::new(self.target.pid as py_spy::Pid, &self.spy.config) {
                self.spy = fresh;
                self.roots = Roots::default();
            }
        }
    }

    /// Sets whether each thread was running where the system can tell better than py-spy:
    /// from before the pause when the program was paused for the read, else from the
    /// thread's state in `/proc` when py-spy does not know its OS thread (see `activity`).
    fn mark_running(
        &mut self,
        traces: &mut [StackTrace],
        paused_running: Option<&HashMap<u32, bool>>,
    ) {
        for trace in traces.iter_mut() {
            let running = match paused_running {
                Some(before) => trace
                    .os_thread_id
                    .map(|tid| tid as u32)
                    .or_else(|| self.activity.tid(trace.pid as u32, trace.thread_id))
                    .and_then(|tid| before.get(&tid).copied()),
                None if trace.os_thread_id.is_none() => {
                    self.activity.is_running(trace.pid as u32, trace.thread_id)
                }
                None => None,
            };
            if let Some(running) = running {
                trace.active = running;
            }
        }
    }
}

/// Starts a sampler for every descendant process of `root` as it appears, until `tx` closes.
/// py-spy's own subprocess mode never retries a child that was not ready when first seen, and
/// so misses pool workers forked while the program starts; this retries like the root does.
pub(super) fn follow_children(root: u32, config: SamplerConfig, tx: Sender<Event>) {
    thread::spawn(move || {
        let mut seen = HashSet::new();
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

/// Whether a read failed because a stack is deeper than py-spy walks (4,096 frames).
fn too_deep(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.to_string().contains("recursion depth"))
}

/// A read error as the profile counts it: the whole chain of causes on one line, without
/// the thread number, so that one cause on many threads counts as one error.
pub(super) fn error_message(e: &anyhow::Error) -> String {
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

/// The frame CPython 3.13+ runs between a class's call and its Python `__init__` when the
/// call is specialized (`_Py_InitCleanup`, which checks that `__init__` returned None): its
/// file and function are both `__init__` and it has no line, no source. Left in, it read as a
/// program function `__init__` in module `__init__` between every caller and the `__init__` it
/// calls (an object-heavy ray tracer gave it a verdict); without it, the caller calls the
/// class's `__init__` as on 3.12 and before.
fn is_init_shim(f: &py_spy::Frame) -> bool {
    f.filename == "__init__" && f.name == "__init__" && f.line <= 0 && f.module.is_none()
}

/// Whether py-spy's frame is a native one: it names its library, or knows no file for it.
fn is_native(f: &py_spy::Frame) -> bool {
    f.module.is_some() || f.filename == "?"
}

/// Names libc gives the frames that start a thread, when its symbols name them at all.
const THREAD_START: [&str; 5] = [
    "__libc_start_call_main",
    "start_thread",
    "clone3",
    "__clone3",
    "__clone",
];

/// A native-pass stack py-spy could not merge, set right. py-spy places native frames among
/// the Python ones by the interpreter's eval-loop symbol; in a stripped interpreter whose
/// eval loop runs outside the exported `_PyEval_EvalFrameDefault` (Debian's CPython 3.14 and
/// 3.15) it finds none, and then puts every Python frame outside every native one. The frames
/// that started the thread (libc's, otherwise outermost) then read as code the innermost
/// Python function called, and a pure-Python loop as 80% native. Such a stack is told by its
/// outermost frame, which is Python: a merged stack's is the thread's start, in libc. Those
/// start frames are dropped (one on the main thread, two on others); the native frames left
/// are the code the innermost Python frame called, where py-spy put them.
fn unmerged_native_frames(trace: &mut StackTrace) {
    let Some(first_python) = trace.frames.iter().position(|f| !is_native(f)) else {
        return;
    };
    if first_python == 0 || trace.frames.last().is_none_or(is_native) {
        return;
    }
    let main = match trace.os_thread_id {
        Some(tid) => tid == trace.pid as u64,
        None => !trace
            .frames
            .last()
            .is_some_and(|f| f.filename.ends_with("threading.py")),
    };
    let starts = if main { 1 } else { 2 };
    let mut end = first_python;
    while first_python - end < starts && end > 0 {
        let f = &trace.frames[end - 1];
        let library = f
            .module
            .as_deref()
            .and_then(|m| std::path::Path::new(m).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let libc = library.starts_with("libc.so") || library.starts_with("libpthread");
        if !(libc && (f.name.starts_with("0x") || THREAD_START.contains(&f.name.as_str()))) {
            break;
        }
        end -= 1;
    }
    trace.frames.drain(end..first_python);
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
    learned: HashSet<(String, String)>,
    /// Frames seen below the outermost one of a whole stack: never a root of their own.
    inner: HashSet<(String, String)>,
    /// Threads a paused read showed running with no Python frame (the interpreter finalizing,
    /// or starting a thread): while they read empty, reading again paused shows nothing more,
    /// and pausing on every tick of a long teardown would lengthen it.
    empty: HashSet<u64>,
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
                None => self.empty.contains(&t.thread_id),
                Some(f) => {
                    f.name == "<module>"
                        || f.filename == launch::RUNNER_FILE
                        || f.filename.ends_with("threading.py")
                        || self.learned.contains(&(f.filename.clone(), f.name.clone()))
                }
            })
    }

    /// Remembers the outermost frames read as roots, unless they were seen called by something
    /// (a generator resumed by its consumer can read as a root even paused), and the threads a
    /// paused read showed running with no frame, until a read shows a frame on them.
    fn learn(&mut self, traces: &[StackTrace], paused: bool) {
        for t in traces {
            if t.frames.is_empty() {
                // Paused, every thread reads as waiting: whether it ran is from before.
                if paused {
                    self.empty.insert(t.thread_id);
                }
            } else {
                self.empty.remove(&t.thread_id);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_taken_while_they_hold_the_program_within_their_share() {
        let after_a_second = |held_ms: u64| PauseBudget {
            since: Instant::now() - Duration::from_secs(1),
            held: Duration::from_millis(held_ms),
        };
        // 4% of a second, 40 ms, after a grace of 20 ms.
        assert!(after_a_second(0).allows());
        assert!(after_a_second(59).allows());
        assert!(!after_a_second(61).allows());
        assert!(
            PauseBudget::new().allows(),
            "the first pauses are in the grace"
        );
    }

    #[test]
    fn the_part_of_a_period_a_skip_leaves_is_carried_to_the_next() {
        // Four skips, each 1.5 periods late: 6 periods in all, none lost to rounding.
        let mut carried = 0.0;
        let mut skipped = 0;
        for _ in 0..4 {
            let (whole, left) = whole_periods(carried + 1.5);
            skipped += whole;
            carried = left;
        }
        assert_eq!((skipped, carried), (6, 0.0));
        assert_eq!(whole_periods(0.4), (0, 0.4));
    }

    #[test]
    fn a_read_that_finds_no_python_hands_its_skipped_time_back() {
        let tick = |frames: Vec<py_spy::Frame>, weight| Tick {
            traces: vec![trace(frames, 7)].into(),
            error: None,
            locked: false,
            paused: true,
            system_call: false,
            late: None,
            weight,
            overlapped: false,
            handed_back: false,
        };
        let mut last = None;
        // Nothing read with Python running yet (the interpreter starting): the read keeps it.
        let mut starting = tick(vec![], 3);
        assert!(hand_back(&mut starting, &mut last).is_none());
        assert_eq!(starting.weight, 3);
        let mut running = tick(vec![frame("spin", None)], 2);
        assert!(hand_back(&mut running, &mut last).is_none());
        assert_eq!(
            running.weight, 2,
            "a read of Python keeps what it stands for"
        );
        // The interpreter shutting down, after ticks skipped while the program ran.
        let mut exiting = tick(vec![], 10);
        let back = hand_back(&mut exiting, &mut last).expect("time handed back");
        assert_eq!((exiting.weight, back.weight), (1, 9));
        assert!(back.handed_back && !back.paused);
        assert_eq!(names(&back.traces[0]), ["spin"]);
        let mut once_more = tick(vec![], 1);
        assert!(
            hand_back(&mut once_more, &mut last).is_none(),
            "its own tick only"
        );
        let mut failed = tick(vec![], 4);
        failed.error = Some(anyhow::anyhow!("read failed"));
        assert!(hand_back(&mut failed, &mut last).is_none());
        assert_eq!(failed.weight, 4);
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

    fn frame(name: &str, library: Option<&str>) -> py_spy::Frame {
        py_spy::Frame {
            name: name.into(),
            filename: library.unwrap_or("app.py").into(),
            module: library.map(Into::into),
            short_filename: None,
            line: if library.is_some() { 0 } else { 3 },
            locals: None,
            is_entry: true,
            is_shim_entry: true,
        }
    }

    fn trace(frames: Vec<py_spy::Frame>, tid: u64) -> StackTrace {
        StackTrace {
            pid: 100,
            thread_id: 1,
            thread_name: None,
            os_thread_id: Some(tid),
            active: true,
            owns_gil: true,
            frames,
            process_info: None,
        }
    }

    fn names(t: &StackTrace) -> Vec<&str> {
        t.frames.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn the_init_shim_is_not_a_frame() {
        let mut shim = frame("__init__", None);
        shim.filename = "__init__".into();
        shim.line = 0;
        assert!(is_init_shim(&shim));
        let mut method = frame("Ray.__init__", None);
        assert!(!is_init_shim(&method));
        // A function `__init__` of a real file, even one named `__init__`, has a line.
        method.name = "__init__".into();
        method.filename = "__init__".into();
        assert!(!is_init_shim(&method));
    }

    /// What py-spy reads from Debian's CPython 3.14, innermost first: the thread's start in
    /// libc above the innermost Python frame, where it is dropped; libz's frames stay.
    #[test]
    fn stacks_py_spy_could_not_merge_lose_their_thread_start() {
        let libc = Some("/x/usr/lib/x86_64-linux-gnu/libc.so.6");
        let libz = Some("/x/usr/lib/x86_64-linux-gnu/libz.so.1.3.2");
        let mut main = trace(
            vec![
                frame("deflate", libz),
                frame("0x7f3774a6cfba", libc),
                frame("spin", None),
                frame("<module>", None),
            ],
            100,
        );
        unmerged_native_frames(&mut main);
        assert_eq!(names(&main), ["deflate", "spin", "<module>"]);
        let mut pure = trace(
            vec![
                frame("0x7f3774a6cfba", libc),
                frame("checksum", None),
                frame("<module>", None),
            ],
            100,
        );
        unmerged_native_frames(&mut pure);
        assert_eq!(names(&pure), ["checksum", "<module>"]);
        let mut sleeper = trace(
            vec![
                frame("0x7f3774adfefe", libc),
                frame("clock_nanosleep", libc),
                frame("0x7f3774ad7db8", libc),
                frame("0x7f3774b55f98", libc),
                frame("sleeper", None),
                frame("Thread._bootstrap", None),
            ],
            101,
        );
        unmerged_native_frames(&mut sleeper);
        assert_eq!(
            names(&sleeper),
            [
                "0x7f3774adfefe",
                "clock_nanosleep",
                "sleeper",
                "Thread._bootstrap"
            ]
        );
        // A merged stack starts in libc, outermost: left as it is.
        let merged = vec![
            frame("deflate", libz),
            frame("spin", None),
            frame("<module>", None),
            frame("0x7f60fde4524a", libc),
        ];
        let mut good = trace(merged.clone(), 100);
        unmerged_native_frames(&mut good);
        assert_eq!(good.frames, merged);
    }

    /// An interpreter tearing down reads with an empty stack on its main thread at every tick.
    /// The first such read is taken again paused; once the paused read shows no frame either,
    /// the next empty reads are whole, until a frame shows on the thread again.
    #[test]
    fn a_thread_read_empty_while_paused_is_not_paused_for_again() {
        let mut roots = Roots::default();
        let empty = trace(Vec::new(), 100);
        let running = trace(vec![frame("spin", None), frame("<module>", None)], 100);
        assert!(roots.whole(std::slice::from_ref(&running)));
        assert!(!roots.whole(std::slice::from_ref(&empty)));
        // Racing the program, an empty read proves nothing.
        roots.learn(std::slice::from_ref(&empty), false);
        assert!(!roots.whole(std::slice::from_ref(&empty)));
        let mut paused = empty.clone();
        paused.active = false;
        roots.learn(std::slice::from_ref(&paused), true);
        assert!(roots.whole(std::slice::from_ref(&empty)));
        roots.learn(std::slice::from_ref(&running), false);
        assert!(!roots.whole(std::slice::from_ref(&empty)));
    }
}
