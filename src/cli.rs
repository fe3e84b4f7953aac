//! The command line. The only module that knows clap; it turns arguments into the plain
//! option structs the stages take.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::advise::AdviseOptions;
use crate::error::UserError;
use crate::record::{Launch, ProbeOptions, PythonChoice, Reads, RecordOptions, Target};
use crate::report::folded::FoldOptions;
use crate::ui::{ColorWhen, Verbosity};

#[derive(Debug, Parser)]
#[command(
    name = "port-advisor",
    version,
    about = "Profiles a Python program and tells which functions are worth porting to Rust",
    long_about = "Profiles a Python program from outside (py-spy, no change to the program) \
                  and tells which of its functions would pay off if ported to Rust with PyO3: \
                  where to cut the boundary, and the whole-program speedup to expect, with \
                  every number's evidence. Each run writes a folder with the profile, the \
                  advice (report.json, report.md, and report.html to see it) and a flame graph.",
    after_help = "Examples:\n  port-advisor profile fixtures/programs/numeric_loop.py\n  \
                  port-advisor profile -m mypkg.cli --input data.csv\n  \
                  port-advisor profile --pid 4242 --duration 30\n  \
                  port-advisor report port-advisor-out/numeric_loop-20261124-120000 --format markdown\n  \
                  port-advisor flamegraph port-advisor-out/numeric_loop-20261124-120000\n  \
                  port-advisor view port-advisor-out/numeric_loop-20261124-120000\n  \
                  port-advisor diff port-advisor-out/app-before port-advisor-out/app-after"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after its name.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto,
          global = true)]
    pub color: ColorWhen,

    /// Say less: no progress line and no notes on stderr, only warnings and errors (stdout
    /// is the same).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more on stderr: what was read and written, and how long each step took.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl GlobalArgs {
    pub fn verbosity(&self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        }
    }
}

impl Cli {
    /// The command line, parsed with clap's own help and errors coloured as `--color` asks
    /// (read ahead of the parse, so that an error about another argument honours it too).
    pub fn try_parse_from_env() -> Result<Cli, clap::Error> {
        Cli::try_parse_args(std::env::args_os())
    }

    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let color = color_ahead(&args);
        let command = <Cli as clap::CommandFactory>::command().color(color.clap());
        let matches = command.try_get_matches_from(args)?;
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
    }
}

/// The `--color` value among `args`, read before clap parses them; auto when there is none
/// or it is not one of the three (clap then says so).
fn color_ahead(args: &[OsString]) -> ColorWhen {
    let mut found = ColorWhen::Auto;
    let mut iter = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--color") {
            Some("") => iter.next().map(|v| v.into_owned()),
            Some(rest) => rest.strip_prefix('=').map(str::to_owned),
            None => None,
        };
        if let Some(v) = value.and_then(|v| ColorWhen::from_str(&v, false).ok()) {
            found = v;
        }
    }
    found
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run (or attach to) a Python program, sample it, and write a run folder.
    Profile(ProfileArgs),
    /// Render a saved profile again: a flame graph painted by the advice, folded stacks, or
    /// speedscope's format.
    Flamegraph(FlamegraphArgs),
    /// Advise again on a saved profile (what to port, where to cut, what it gains), without
    /// running the program.
    Report(ReportArgs),
    /// Write a PyO3 crate for the functions worth porting: it builds with maturin, and its
    /// parity test and benchmark replay calls recorded from the real run.
    Stub(StubArgs),
    /// Open a run's HTML report (report.html) in a browser, or print its path.
    View(ViewArgs),
    /// Compare two runs (e.g. before and after a port): whole-program and per-function
    /// speedups, and a differential flame graph.
    Diff(DiffArgs),
    /// Merge many profiles (a fleet's, of any accepted format) into one.
    Merge(MergeArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor completions bash > ~/.local/share/bash-completion/completions/port-advisor\n  \
    port-advisor completions zsh > ~/.zfunc/_port-advisor\n  \
    port-advisor completions fish > ~/.config/fish/completions/port-advisor.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor profile script.py --its-own-flag value\n  \
    port-advisor profile -m package.module -- --its-own-flag\n  \
    port-advisor profile -- python -X importtime script.py\n  \
    port-advisor profile --pid 4242 --duration 30\n\n\
    The run folder holds profile.json (the profile, versioned JSON), report.json and\n\
    report.md (the advice), report.html (the advice to see: `port-advisor view`) and flame.svg.\n\
    A failing program's exit status becomes port-advisor's; Ctrl-C keeps the profile.\n\
    port-advisor's options go before the script: everything after it is the script's own.")]
pub struct ProfileArgs {
    /// The script to run and its arguments; or, after `--`, any command that starts Python
    /// (`python app.py`, an interpreter then a script, runs app.py under that interpreter, as
    /// --python does); or, with -m, the module's arguments.
    #[arg(
        value_name = "SCRIPT_OR_COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub script: Vec<OsString>,

    /// Run a module like `python -m MODULE`.
    #[arg(short = 'm', value_name = "MODULE", conflicts_with = "pid")]
    pub module: Option<String>,

    /// Attach to a running Python process instead of launching one; it keeps running.
    #[arg(short, long, value_name = "PID")]
    pub pid: Option<u32>,

    /// The run folder to write [default: ./port-advisor-out/<script>-<timestamp>]; or, as
    /// py-spy takes it, a file ending in .svg, .txt, .json or .speedscope.json: that file is
    /// written in its format (see --format) and the run folder beside it, as
    /// <name>.port-advisor/.
    #[arg(short, long, value_name = "DIR_OR_FILE")]
    pub output: Option<PathBuf>,

    /// The Python interpreter to run the script with [default: the active virtualenv's,
    /// else python3 on PATH].
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Samples per second.
    #[arg(short, long, default_value_t = 100, value_name = "HZ",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,

    /// Stop after this many seconds (a launched program is stopped too).
    #[arg(short, long, value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// Require the native pass: sampling native frames (C, C++, Rust extensions) in a
    /// low-rate blocking pass is on by default, and measures how much of each function's
    /// time is already native; with --native, a native pass that cannot start is an error
    /// instead of a note.
    #[arg(short, long, conflicts_with = "no_native")]
    pub native: bool,

    /// No native pass: native share is then judged from rules/native.toml and the sampled
    /// lines' text only, which misses native calls made through a local name.
    #[arg(long)]
    pub no_native: bool,

    /// Rate of the native pass.
    #[arg(long, default_value_t = 20, value_name = "HZ",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub native_rate: u32,

    /// Also sample child processes (multiprocessing pools, subprocess).
    #[arg(short, long)]
    pub subprocesses: bool,

    /// Count threads that are waiting (I/O, sleep, locks) in the summary and flame graph.
    #[arg(short, long)]
    pub idle: bool,

    /// Keep only the thread holding the GIL.
    #[arg(short, long)]
    pub gil: bool,

    /// Show each thread as its own root in the flame graph.
    #[arg(short, long)]
    pub threads: bool,

    /// Pause the program for every sample, whatever the pauses cost (py-spy's default). By
    /// default a launched program is paused for a sample only while the pauses stay within
    /// 4% of the run, and a process attached to (--pid) is read while it runs: a stop shows
    /// to the shell that runs it, as a stopped job. See docs/sampling.md.
    #[arg(long)]
    pub blocking: bool,

    /// Never pause the program for a sample by choice: read it while it runs (py-spy's
    /// --nonblocking). Costs the least, but the time of short calls (a few microseconds)
    /// then goes to their callers' lines; see docs/sampling.md.
    #[arg(long, conflicts_with = "blocking")]
    pub nonblocking: bool,

    /// Also write the profile in one of py-spy's formats: flamegraph (SVG), raw (collapsed
    /// stacks) or speedscope (JSON); to the -o FILE given, else into the run folder
    /// [default: chosen by -o's extension: .svg, .txt, .json, .speedscope.json].
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub format: Option<ProfileFormat>,

    /// Print only the run folder's path on stdout; the summary and the advice go to stderr.
    #[arg(long)]
    pub print_run_dir: bool,

    /// Do not start the in-process probe (call counts, argument types and sizes); the time
    /// shares never depend on it.
    #[arg(long)]
    pub no_probe: bool,

    /// Let the probe count and observe, but keep no pickled examples of real calls.
    #[arg(long)]
    pub no_examples: bool,

    #[command(flatten)]
    pub advice: AdviceArgs,
}

/// Options of the advice, shared by `profile` and `report`.
#[derive(Debug, Clone, Args)]
pub struct AdviceArgs {
    /// A folder of rule files (*.toml) adding to or overriding the built-in rules: a file
    /// named like a built-in one (native.toml, analogues.toml, scoring.toml, costs.toml)
    /// overrides it, others add entries. Unknown keys are errors.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,

    /// Report at most this many candidates.
    #[arg(long, default_value_t = AdviseOptions::default().top, value_name = "N")]
    pub top: usize,

    /// Leave out candidates below this percentage of the run [default: scoring.toml's
    /// min_share, 2%].
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub min_share: Option<f64>,

    /// Do not look for tests and git history of the candidates.
    #[arg(long)]
    pub no_readiness: bool,
}

impl AdviceArgs {
    /// What the advice may look at, as the stage takes it.
    pub fn options(&self) -> AdviseOptions {
        AdviseOptions {
            readiness: !self.no_readiness,
            top: self.top,
            min_share: self.min_share,
        }
    }
}

/// The completion script of `shell` for every command and option.
pub fn write_completions(shell: clap_complete::Shell, w: &mut dyn std::io::Write) {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "port-advisor", w);
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        _ => Err(format!(
            "`{s}` is not a percentage between 0 and 100 (e.g. 2 or 2%)"
        )),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A ranked table for the terminal.
    #[default]
    Table,
    /// The advice model, versioned JSON (what report.json holds).
    Json,
    /// The table and every candidate's evidence (what report.md holds).
    Markdown,
    /// One self-contained page (what report.html holds): the table with each candidate's
    /// evidence, a flame graph painted by verdict, and source views shaded by time.
    Html,
    /// Short Markdown for a CI job's summary (`>> $GITHUB_STEP_SUMMARY`).
    Github,
}

/// What `report --fail-on` fails on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// A `port` candidate (whose speedup reaches --fail-threshold, when given).
    Port,
}

fn parse_speedup(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches(['x', 'X']).parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 1.0 => Ok(x),
        _ => Err(format!(
            "`{s}` is not a whole-program speedup of 1 or more (e.g. 1.5 or 1.5x)"
        )),
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor report port-advisor-out/app-20261124-120000\n  \
    port-advisor report run/profile.json --format json > advice.json\n  \
    port-advisor report run --rules my-rules/ --top 5 --min-share 5\n  \
    port-advisor report py-spy.txt austin.folded pyroscope.pb.gz\n  \
    port-advisor report fleet/ --input-rate 19\n  \
    port-advisor report run --format github --fail-on port --fail-threshold 1.5 >> \"$GITHUB_STEP_SUMMARY\"\n\n\
    Reads profiles only: the program is not run again. With rules changed (for example\n\
    costs.toml measured on the machine that will run the port), the advice changes with them.\n\
    Other tools' profiles are read by their content: collapsed stacks (py-spy --format raw,\n\
    Austin, python -m profiling.sampling --collapsed, inferno), speedscope JSON and pprof\n\
    (gzipped or not). Several inputs, or a folder of them, are merged, each weighted by its\n\
    sampling period. They hold no call counts or argument data: the advice says which of\n\
    its numbers that leaves unknown.")]
pub struct ReportArgs {
    /// Profiles: run folders, profile.json files, other tools' files, or folders of them.
    #[arg(value_name = "PROFILE", required = true)]
    pub profiles: Vec<PathBuf>,

    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,

    /// Exit with 245 (after writing the report) when the advice has a `port` candidate: for a
    /// CI job that watches a program's hot spots.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<FailOn>,

    /// With --fail-on port: only a candidate whose whole-program speedup reaches this, at the
    /// low end of its range, fails [default: any port candidate].
    #[arg(long, value_name = "SPEEDUP", requires = "fail_on", value_parser = parse_speedup)]
    pub fail_threshold: Option<f64>,

    /// Count threads that were waiting, as in the recording's summary.
    #[arg(short, long)]
    pub idle: bool,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub advice: AdviceArgs,
}

/// How to read profiles that other tools wrote.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Read every input as this format instead of judging by content.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    /// The sampling rate of inputs that do not record theirs (collapsed stacks), in Hz:
    /// py-spy's default is 100, Pyroscope's 100, profiling.sampling's 10000.
    #[arg(long, default_value_t = 100, value_name = "HZ",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub input_rate: u32,
    /// Act on a profile recorded elsewhere as on one recorded here: read the source files it
    /// names (regular files under its working folder), run git there, and let `stub` copy
    /// its examples. A profile `port-advisor profile` recorded on this machine, as this user,
    /// is sealed and needs no flag; any other is read as data only.
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// port-advisor's profile.json.
    PortAdvisor,
    /// Collapsed stacks: `frame;frame;frame COUNT` lines.
    Folded,
    /// speedscope's JSON.
    Speedscope,
    /// pprof's profile.proto, gzipped or not.
    Pprof,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor merge fleet/ -o fleet.json\n  \
    port-advisor merge host-*.pb.gz --input-format pprof -o fleet.json\n  \
    port-advisor report fleet.json\n\n\
    Inputs are read one at a time and folded into the result, so memory grows with the\n\
    unique stacks, not the number of files or samples. Each input is weighted by its own\n\
    sampling period; the result counts samples at the highest rate among them.")]
pub struct MergeArgs {
    /// Profiles of any accepted format, or folders of them.
    #[arg(value_name = "PROFILE", required = true)]
    pub profiles: Vec<PathBuf>,

    /// The merged profile to write (port-advisor's profile.json format).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor view port-advisor-out/app-20261124-120000\n  \
    port-advisor view run --print-path\n\n\
    Opens the page with $BROWSER, else the desktop's default browser. Without a display it\n\
    prints the path: copy the file anywhere, it needs no network and no other file.\n\
    A run recorded before report.html existed gets one, written from its profile.")]
pub struct ViewArgs {
    /// A run folder, or a profile.json in one.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,

    /// Only print the page's path.
    #[arg(long)]
    pub print_path: bool,
    /// Act on a profile recorded elsewhere as on one recorded here: read the source files it
    /// names (regular files under its working folder), run git there, and let `stub` copy
    /// its examples. A profile `port-advisor profile` recorded on this machine, as this user,
    /// is sealed and needs no flag; any other is read as data only.
    #[arg(long)]
    pub trust: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// A table for the terminal.
    #[default]
    Table,
    /// The comparison model, versioned JSON.
    Json,
    /// A Markdown table.
    Markdown,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor diff port-advisor-out/app-before port-advisor-out/app-after\n  \
    port-advisor diff before/profile.json after/profile.json -o port.svg --format markdown\n\n\
    Functions are matched by module and qualified name. Times are each function's share of\n\
    its run times the run's wall time. In the differential flame graph, widths are the first\n\
    run's, blue frames took less of the run after, red frames more.")]
pub struct DiffArgs {
    /// The first run (a run folder or a profile.json).
    #[arg(value_name = "BEFORE")]
    pub before: PathBuf,

    /// The second run.
    #[arg(value_name = "AFTER")]
    pub after: PathBuf,

    /// Where to write the differential flame graph [default: diff.svg in AFTER's folder].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[arg(short, long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,

    /// List at most this many functions.
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub top: usize,

    /// Count threads that were waiting.
    #[arg(short, long)]
    pub idle: bool,

    #[command(flatten)]
    pub input: InputArgs,
}

/// The formats `profile --format` writes, named as py-spy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileFormat {
    /// An interactive SVG flame graph, painted by the advice (what flame.svg holds).
    Flamegraph,
    /// Collapsed stacks, one `a;b;c count` line per stack (py-spy's raw, inferno's input).
    Raw,
    /// Speedscope's JSON (https://www.speedscope.app).
    Speedscope,
}

impl ProfileFormat {
    /// The format a file name asks for by its ending, if any.
    pub fn of_file(path: &std::path::Path) -> Option<ProfileFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".svg") {
            Some(ProfileFormat::Flamegraph)
        } else if name.ends_with(".txt") {
            Some(ProfileFormat::Raw)
        } else if name.ends_with(".json") {
            // .speedscope.json and .json alike: py-spy writes speedscope to either.
            Some(ProfileFormat::Speedscope)
        } else {
            None
        }
    }

    /// The file a run folder gets for it when -o names no file.
    pub fn file_in_run_folder(self) -> &'static str {
        match self {
            ProfileFormat::Flamegraph => "flame.svg",
            ProfileFormat::Raw => "flame.txt",
            ProfileFormat::Speedscope => "flame.speedscope.json",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            ProfileFormat::Flamegraph => "flame graph, SVG",
            ProfileFormat::Raw => "collapsed stacks",
            ProfileFormat::Speedscope => "speedscope JSON",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum FlameFormat {
    /// An interactive SVG flame graph.
    #[default]
    #[value(alias = "flamegraph")]
    Svg,
    /// Collapsed stacks, one `a;b;c count` line per stack.
    #[value(alias = "raw")]
    Folded,
    /// Speedscope's JSON (https://www.speedscope.app): drop the file on the page, or
    /// `npx speedscope FILE`; one profile per thread with --threads.
    Speedscope,
    /// pprof's profile.proto, gzipped: for Grafana Pyroscope, Parca and `go tool pprof`.
    Pprof,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor flamegraph port-advisor-out/app-20261124-120000\n  \
    port-advisor flamegraph run/profile.json -o app.svg --threads\n  \
    port-advisor flamegraph run/profile.json --format folded -o - | grep json\n  \
    port-advisor flamegraph run --format speedscope --threads\n  \
    port-advisor flamegraph run --format pprof -o app.pb.gz")]
pub struct FlamegraphArgs {
    /// A profile.json, a run folder holding one, or another tool's profile.
    #[arg(value_name = "PROFILE")]
    pub profile: PathBuf,

    /// Where to write; `-` for stdout [default: flame.svg, flame.folded,
    /// flame.speedscope.json or profile.pb.gz beside the profile].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[arg(short, long, value_enum, default_value_t = FlameFormat::Svg)]
    pub format: FlameFormat,

    /// Count threads that were waiting.
    #[arg(short, long)]
    pub idle: bool,

    /// Show each thread as its own root.
    #[arg(short, long)]
    pub threads: bool,

    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    port-advisor stub port-advisor-out/spectral-20261124-120000\n  \
    port-advisor stub run --function spectral:times_ata_u -o spectral_rs --name spectral_rs\n  \
    port-advisor stub run --top 3 --force\n\n\
    Then, in the crate: maturin develop --release && pytest tests && python bench.py.\n\
    The crate builds before a line of Rust is written: each function raises\n\
    NotImplementedError, and the parity test reports it as not ported yet.")]
pub struct StubArgs {
    /// A profile.json, or a run folder holding one (its program's sources must be readable).
    #[arg(value_name = "RUN_OR_PROFILE")]
    pub profile: PathBuf,

    /// A function to port, as module:qualname (e.g. spectral:times_ata_u or
    /// shapes:Circle.area); repeat for several [default: the advice's top `port` candidates].
    #[arg(long = "function", value_name = "MODULE:QUALNAME")]
    pub functions: Vec<String>,

    /// How many of the advice's `port` candidates, without --function.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        conflicts_with = "functions"
    )]
    pub top: usize,

    /// The crate folder to write [default: ./<name>].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// The crate and Python module name [default: <program>_rs].
    #[arg(long, value_name = "CRATE")]
    pub name: Option<String>,

    /// Overwrite the generated files in an existing, non-empty folder.
    #[arg(long)]
    pub force: bool,

    /// Act on a profile recorded elsewhere as on one recorded here: read the source files it
    /// names (regular files under its working folder), run git there, and let `stub` copy
    /// its examples. A profile `port-advisor profile` recorded on this machine, as this user,
    /// is sealed and needs no flag; any other is read as data only.
    #[arg(long)]
    pub trust: bool,

    /// A folder of rule files, as for `report`.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
}

/// Everything `profile` needs, in plain structs.
#[derive(Debug, Clone)]
pub struct ProfilePlan {
    pub target: Target,
    pub python: PythonChoice,
    pub record: RecordOptions,
    pub fold: FoldOptions,
    /// The run folder, when -o names it (or the file it goes beside).
    pub output: Option<PathBuf>,
    /// A file to write in one of py-spy's formats besides the run folder's files.
    pub export: Option<Export>,
    /// Only the run folder's path on stdout.
    pub print_run_dir: bool,
    /// Names the default run folder.
    pub stem: String,
    pub advice: AdviceArgs,
}

/// `profile -o FILE` or `--format`: one more file, in one of py-spy's formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub format: ProfileFormat,
    /// Where; `None`: into the run folder, under [`ProfileFormat::file_in_run_folder`].
    pub path: Option<PathBuf>,
}

/// Where `profile -o` and `--format` send the run folder and the extra file: (run folder,
/// extra file). `-o` naming a file by its ending (and not an existing folder) puts the run
/// folder beside it, as `<name>.port-advisor/`.
pub fn profile_outputs(
    output: Option<PathBuf>,
    format: Option<ProfileFormat>,
) -> (Option<PathBuf>, Option<Export>) {
    let file_format = output
        .as_deref()
        .filter(|p| !p.is_dir())
        .and_then(ProfileFormat::of_file);
    match (output, file_format) {
        (Some(file), Some(by_name)) => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let lower = name.to_ascii_lowercase();
            let stem_len = [".speedscope.json", ".json", ".svg", ".txt"]
                .iter()
                .find(|ext| lower.ends_with(*ext))
                .map_or(name.len(), |ext| name.len() - ext.len());
            let stem = if stem_len == 0 {
                "profile"
            } else {
                &name[..stem_len]
            };
            let folder = file.with_file_name(format!("{stem}.port-advisor"));
            let export = Export {
                format: format.unwrap_or(by_name),
                path: Some(file),
            };
            (Some(folder), Some(export))
        }
        (folder, _) => (folder, format.map(|format| Export { format, path: None })),
    }
}

impl ProfileArgs {
    pub fn into_plan(self) -> Result<ProfilePlan, UserError> {
        let (output, export) = profile_outputs(self.output.clone(), self.format);
        let duration = match self.duration {
            Some(d) if d.is_finite() && d > 0.0 => Some(Duration::from_secs_f64(d)),
            Some(d) => {
                return Err(UserError::Usage(format!(
                    "--duration must be a positive number of seconds, not {d}"
                )))
            }
            None => None,
        };
        let mut python = self.python.clone();
        let (target, stem) = match (self.pid, self.module) {
            (Some(pid), None) if self.script.is_empty() => {
                (Target::Attach(pid), format!("pid{pid}"))
            }
            (Some(_), _) => {
                return Err(UserError::Usage(
                    "--pid attaches to a running process: give no script or command with it".into(),
                ))
            }
            (None, Some(name)) => {
                let stem = name.clone();
                let launch = Launch::Module {
                    name,
                    args: self.script,
                };
                (Target::Launch(launch), stem)
            }
            (None, None) if self.script.is_empty() => {
                return Err(UserError::Usage(
                    "nothing to profile: give a script (`profile app.py`), a module (`-m pkg`), \
                     a command after `--`, or --pid PID"
                        .into(),
                ))
            }
            (None, None) if names_script(&self.script[0]) => script_target(self.script),
            // `python app.py ...`, `.venv/bin/python app.py ...`: the script under that
            // interpreter, as with --python, so that the probe runs and the interpreter's
            // packages can be read. Interpreter options (`python -X importtime app.py`) keep
            // it a command.
            (None, None) if python.is_none() && runs_script(&self.script) => {
                let mut argv = self.script;
                python = Some(PathBuf::from(argv.remove(0)));
                script_target(argv)
            }
            (None, None) => {
                let stem = command_stem(&self.script);
                (Target::Launch(Launch::Command { argv: self.script }), stem)
            }
        };
        // A job-control stop of a process port-advisor did not start shows to its parent: the
        // shell that runs it in the foreground reports it stopped, and takes the terminal
        // back. A process attached to is read running, unless --blocking is asked for.
        let reads = if self.blocking {
            Reads::Blocking
        } else if self.nonblocking || matches!(target, Target::Attach(_)) {
            Reads::Nonblocking
        } else {
            Reads::Paused
        };
        Ok(ProfilePlan {
            target,
            python: PythonChoice { explicit: python },
            record: RecordOptions {
                rate_hz: self.rate,
                duration,
                reads,
                native: !self.no_native,
                native_required: self.native,
                native_rate_hz: self.native_rate,
                subprocesses: self.subprocesses,
                gil_only: self.gil,
                progress: !crate::ui::quiet(),
                probe: ProbeOptions {
                    enabled: !self.no_probe,
                    examples: !self.no_examples,
                },
                checkpoint: None,
            },
            fold: FoldOptions {
                include_idle: self.idle,
                threads: self.threads,
            },
            output,
            export,
            print_run_dir: self.print_run_dir,
            stem,
            advice: self.advice,
        })
    }
}

/// Whether the first value names a Python script (run with the chosen interpreter) rather
/// than a program to execute: a `.py` file, or an existing file that is not an executable
/// binary.
fn names_script(first: &OsString) -> bool {
    let path = std::path::Path::new(first);
    if path.extension().is_some_and(|e| e == "py" || e == "pyw") {
        return true;
    }
    if path.is_dir() {
        return true;
    }
    if !path.is_file() {
        return false;
    }
    let mut magic = [0u8; 4];
    let binary = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|()| &magic == b"\x7fELF")
        .unwrap_or(false);
    !binary
}

/// A script and its arguments (`argv`, not empty) launched, and its run folder's stem.
fn script_target(argv: Vec<OsString>) -> (Target, String) {
    let mut it = argv.into_iter();
    let path = PathBuf::from(it.next().expect("non-empty"));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "script".into());
    let launch = Launch::Script {
        path,
        args: it.collect(),
    };
    (Target::Launch(launch), stem)
}

/// Whether `argv` is a CPython interpreter (`python`, `python3`, `python3.12`, `python3.13t`,
/// by any path) followed straight by a script.
fn runs_script(argv: &[OsString]) -> bool {
    let [interpreter, script, ..] = argv else {
        return false;
    };
    let name = std::path::Path::new(interpreter)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let version = name.strip_prefix("python").unwrap_or("-");
    let version = version.strip_suffix('t').unwrap_or(version);
    let is_python = version.chars().all(|c| c.is_ascii_digit() || c == '.');
    let script = std::path::Path::new(script);
    is_python && script.extension().is_some_and(|e| e == "py" || e == "pyw")
}

/// A run-folder name for an arbitrary command: its script if it names one, else argv[0].
fn command_stem(argv: &[OsString]) -> String {
    let named = argv
        .iter()
        .map(PathBuf::from)
        .find(|p| p.extension().is_some_and(|e| e == "py"))
        .unwrap_or_else(|| PathBuf::from(&argv[0]));
    named
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "command".into())
}
