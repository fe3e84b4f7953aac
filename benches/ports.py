#!/usr/bin/env python3
"""The port corpus against the advice: real Rust ports, their measured whole-program speedups,
and the speedup range port-advisor estimated for the same boundary before the port existed.

The ports are listed in fixtures/ports/ports.toml; each is a PyO3 crate
fixtures/ports/<program>_port/ porting the candidate `function` of the corpus program
fixtures/corpus/<program>/ (or, with `fixture = PATH`, of one of the repository's own
fixture programs, such as the advice fixture spectral.py), and a use_port.py that runs the
unedited workload with that one function replaced (`--unported`: the same run with the Python
function; see fixtures/ports/portswap.py). In one run this bench:

  1. makes target/ports-venv-MINOR (CPython MINOR, 3.11 unless --python says otherwise, from
     pyenv, with the corpus's pins of the ported programs, as benches/corpus.py makes its
     own), builds every port with the pinned maturin (target/tools-venv, from .ci/setup) into
     target/ports/wheels-bench-MINOR and installs the wheels there;
  2. checks every port for parity: `use_port.py --check` and `--check --unported` must print
     the same (the workload's output and a checksum of what the function returned or left in
     its arguments); a port that differs is reported and makes the exit status 1;
  3. runs `port-advisor profile` (--bin) on the unported workload, as benches/corpus.py does,
     and reads report.json: the candidate whose function is the ported one (else the boundary
     option of that name among a candidate's alternatives) gives the estimated whole-program
     speedup range, and the report gives its sample count (--profiles N runs it N times:
     the first gives the estimate, and benches/calibrate/gains.py --average reads them all);
  4. times each program --rounds times unported and ported, interleaved (each round starts
     with the other variant), and takes the best of each: measured = best unported / best
     ported;
  5. times the function itself, unported and ported (`use_port.py --inside`, up to 3 runs
     each way): the factor the port achieved on the function, which calibration can read
     apart from the share of the run the function holds.

How to read the output (one row per port):

  port        the corpus program whose candidate is ported
  kind        what the ported code mostly does (ports.toml)
  function    the ported boundary, `module:qualname` as in the program's answer.toml
  python s    best whole-program wall time unported, in seconds
  port s      best whole-program wall time with the port
  measured    python s / port s: the whole-program speedup the port gave
  paired      the median over rounds of that round's python / port time: the two runs of a
              round are neighbours in time, so when the load changes during the bench this
              is steadier than the ratio of bests; far apart, the load got in the way
  estimate    the advice's range for that boundary, low-high; `-` when the report does not
              name the function (`where` then says so)
  hi/lo       the estimate's width, high / low
  inside      `yes` when the measured speedup lies in the estimate, `NO` when it does not
  samples     the report's run_samples (the width target is for runs of 500 or more)
  where       where in the report the estimate was found: `#N` the N-th candidate, `#N alt`
              a boundary option of the N-th candidate, `not proposed`

Then a line with how many measured speedups fall inside their estimate, and the load average
before and after (the speedups are ratios of runs interleaved on the same machine, so they
hold under load better than the seconds do; with a high load use more --rounds), and a line
with how many estimates of runs with at least 500 samples are at most 3x wide (high / low).

--json PATH writes {"load_before", "load_after", "rounds", "python", "ports": [{"name",
"kind", "function", "parity", "python_seconds", "port_seconds" (the best runs),
"python_runs", "port_runs" (every timed run, in seconds), "measured", "paired",
"inside_python_seconds", "inside_port_seconds" (the function's own wall time, best of up to
3 runs of `use_port.py --inside` each way), "samples" (the report's
run_samples), "estimate": [low, high] or null, "inside", "where", "report_verdict" (the verdict
of the candidate it was found in), "failure" (null, or why the port has no row)}]}: the
validation table that calibration checks leave-one-out estimates against.

Exit status: 0 when every port built, ran and matched the Python; 1 when one differs or a run
failed; 2 on a usage or setup error.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import DEFAULT_BIN, REPO_ROOT, ensure_binary, fail, progress, width_line
import corpus

PORTS_DIR = os.path.join(REPO_ROOT, "fixtures", "ports")
REGISTRY = os.path.join(PORTS_DIR, "ports.toml")
VENV_PREFIX = os.path.join(REPO_ROOT, "target", "ports-venv-")
CARGO_TARGET = os.path.join(REPO_ROOT, "target", "ports", "cargo")
WHEELS_PREFIX = os.path.join(REPO_ROOT, "target", "ports", "wheels-bench-")
MATURIN = os.path.join(REPO_ROOT, "target", "tools-venv", "bin", "maturin")
PORT_KEYS = {"program", "fixture", "function", "kind", "test"}


class Fixture(object):
    """A program of the repository's own fixtures (a `[[port]]` with `fixture = PATH`), run
    as the corpus runs its programs: from its folder, on the bench's Python, with no pinned
    packages."""

    def __init__(self, name, path):
        self.name = name
        self.workload = os.path.join(REPO_ROOT, path)
        self.folder = os.path.dirname(self.workload)
        self.packages = []
        self.python = None


class Port(object):
    def __init__(self, entry, program):
        self.name = entry["program"]
        self.function = entry["function"]
        self.kind = entry["kind"]
        self.program = program
        self.folder = os.path.join(PORTS_DIR, self.name + "_port")
        self.script = os.path.join(self.folder, "use_port.py")
        self.parity = None
        self.seconds = {"python": [], "port": []}
        self.inside = {"python": [], "port": []}
        self.report = None
        # Every profile's report.json, the first's (`report`) included (see --profiles).
        self.reports = []
        self.failure = None


def load_ports():
    with open(REGISTRY, "rb") as f:
        entries = corpus.tomllib.load(f).get("port", [])
    programs = {p.name: p for p in corpus.load_corpus(corpus.DEFAULT_CORPUS)}
    ports = []
    for entry in entries:
        unknown = set(entry) - PORT_KEYS
        if unknown or not {"program", "function", "kind"} <= set(entry):
            fail("%s: a [[port]] has program, function, kind (and fixture, test); got %s" % (
                REGISTRY, sorted(entry)))
        if "fixture" in entry:
            program = Fixture(entry["program"], entry["fixture"])
            if not os.path.isfile(program.workload):
                fail("%s: no fixture %s" % (REGISTRY, entry["fixture"]))
        elif entry["program"] in programs:
            program = programs[entry["program"]]
        else:
            fail("%s: no corpus program %s" % (REGISTRY, entry["program"]))
        port = Port(entry, program)
        if not os.path.isfile(port.script):
            fail("%s is missing" % port.script)
        ports.append(port)
    return ports


def run(command, what, **kwargs):
    completed = subprocess.run(command, **kwargs)
    if completed.returncode != 0:
        fail("%s failed (exit %d): %s" % (what, completed.returncode, " ".join(command)))
    return completed


def build(ports, python, wheels):
    """Every port's wheel, built with the pinned maturin into `wheels` and installed into the
    venv."""
    if not os.path.exists(MATURIN):
        fail("%s is missing: run `bash .ci/setup` first" % MATURIN)
    shutil.rmtree(wheels, ignore_errors=True)
    env = dict(os.environ, CARGO_TARGET_DIR=CARGO_TARGET)
    for port in ports:
        progress("building %s" % os.path.relpath(port.folder, REPO_ROOT))
        run([MATURIN, "build", "--release", "--quiet", "-m",
             os.path.join(port.folder, "Cargo.toml"), "-i", python, "-o", wheels],
            "maturin build", env=env)
    built = sorted(os.path.join(wheels, w) for w in os.listdir(wheels) if w.endswith(".whl"))
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--force-reinstall", "--no-deps"] + built, "pip install")


def check_parity(port, python):
    outputs = []
    for flags in (["--check"], ["--check", "--unported"]):
        completed = subprocess.run([python, port.script] + flags, cwd=port.program.folder,
                                   env=corpus.run_environment(), stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True)
        if completed.returncode != 0:
            port.failure = "use_port.py %s exited %d: %s" % (
                " ".join(flags), completed.returncode,
                (completed.stderr.strip().splitlines() or [""])[-1][:160])
            return False
        outputs.append(completed.stdout)
    port.parity = outputs[0] == outputs[1] and "checksum " in outputs[0]
    if not port.parity:
        port.failure = "ported and unported runs print different results"
    return port.parity


def profile(port, python, port_advisor, runs_dir, rate, times=1):
    """`times` runs of port-advisor profile on the unported program: the first into
    RUNS_DIR/<port> gives the estimate, the others into RUNS_DIR/<port>@N only add their
    report.json to `port.reports`."""
    for n in range(1, times + 1):
        folder = os.path.join(runs_dir, port.name if n == 1 else "%s@%d" % (port.name, n))
        report = profile_once(port, python, port_advisor, folder, rate)
        if report is None:
            return
        port.reports.append(os.path.join(folder, "report.json"))
        if n == 1:
            port.report = report


def profile_once(port, python, port_advisor, folder, rate):
    """One run into `folder`: its report, or None (and `port.failure` says why)."""
    shutil.rmtree(folder, ignore_errors=True)
    command = [port_advisor, "profile", "--quiet", "--python", python, "-o", folder]
    if rate:
        command += ["--rate", str(rate)]
    command.append(port.program.workload)
    completed = subprocess.run(command, cwd=port.program.folder, env=corpus.run_environment(),
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if completed.returncode != 0:
        port.failure = "port-advisor profile exited %d: %s" % (
            completed.returncode, (completed.stderr.strip().splitlines() or [""])[-1][:160])
        return None
    try:
        with open(os.path.join(folder, "report.json")) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        port.failure = "no report.json to read: %s" % error
    return None


def estimate(port):
    """(low, high) or None, where it was found, and the verdict of that candidate."""
    if port.report is None:
        return None, "no report", None
    candidates = port.report.get("candidates") or []
    for c in candidates:
        if corpus.names(port.function, c.get("function") or {}) and c.get("speedup"):
            return tuple(c["speedup"]), "#%d" % c.get("rank", 0), c.get("verdict")
    for c in candidates:
        for option in c.get("alternatives") or []:
            if corpus.names(port.function, option.get("function") or {}):
                return (tuple(option["speedup"]), "#%d alt" % c.get("rank", 0),
                        c.get("verdict"))
    return None, "not proposed", None


def run_variant(port, variant, python, *flags):
    """One run of use_port.py, unported (`python`) or ported (`port`), with `flags`: its
    seconds and stderr, or None (with `port.failure` said) when it failed."""
    command = [python, port.script] + list(flags) + (
        ["--unported"] if variant == "python" else [])
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=port.program.folder, env=corpus.run_environment(),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, universal_newlines=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        port.failure = "%s run%s exited %d" % (
            variant, "".join(" " + f for f in flags), completed.returncode)
        return None
    return elapsed, completed.stderr


def time_once(port, variant, python):
    ran = run_variant(port, variant, python)
    if ran is not None:
        port.seconds[variant].append(ran[0])
    return ran is not None


def measure(port, python, rounds):
    for r in range(rounds):
        order = ("python", "port") if r % 2 == 0 else ("port", "python")
        for variant in order:
            if not time_once(port, variant, python):
                return
        progress("  round %d/%d  python %.2f s  port %.2f s" % (
            r + 1, rounds, port.seconds["python"][-1], port.seconds["port"][-1]))


def time_inside(port, python, rounds):
    """The function's own wall time, unported and ported (`use_port.py --inside`), best of
    `rounds` pairs: the factor the port achieved on the function, apart from the share of the
    run it holds."""
    for r in range(rounds):
        for variant in ("python", "port") if r % 2 == 0 else ("port", "python"):
            ran = run_variant(port, variant, python, "--inside")
            if ran is None:
                return
            lines = [l for l in ran[1].splitlines() if l.startswith("inside ")]
            if not lines:
                port.failure = "%s run --inside printed no time" % variant
                return
            port.inside[variant].append(float(lines[-1].split()[1]))


def row(port):
    low_high, where, verdict = estimate(port)
    best = {v: min(s) if s else None for v, s in port.seconds.items()}
    measured = best["python"] / best["port"] if best["python"] and best["port"] else None
    # Each round's two runs are neighbours in time: their ratio sees the same machine load.
    pairs = [p / q for p, q in zip(port.seconds["python"], port.seconds["port"])]
    paired = statistics.median(pairs) if pairs else None
    inside = (low_high is not None and measured is not None
              and low_high[0] <= measured <= low_high[1])
    return {
        "name": port.name,
        "kind": port.kind,
        "function": port.function,
        "parity": port.parity,
        "python_seconds": best["python"],
        "port_seconds": best["port"],
        "python_runs": port.seconds["python"],
        "port_runs": port.seconds["port"],
        "measured": measured,
        "paired": paired,
        "samples": (port.report or {}).get("run_samples"),
        "estimate": list(low_high) if low_high else None,
        "inside": inside,
        "where": where,
        "report_verdict": verdict,
        "inside_python_seconds": min(port.inside["python"]) if port.inside["python"] else None,
        "inside_port_seconds": min(port.inside["port"]) if port.inside["port"] else None,
        "reports": port.reports,
        "failure": port.failure,
    }


def width(row):
    """An estimate's high / low, or None without one."""
    return row["estimate"][1] / row["estimate"][0] if row["estimate"] else None


def print_table(rows):
    header = "%-20s %-16s %-30s %8s %7s %8s %7s %13s %5s %6s %7s  %s" % (
        "port", "kind", "function", "python s", "port s", "measured", "paired", "estimate",
        "hi/lo", "inside", "samples", "where")
    print(header)
    print("-" * len(header))

    def num(value, form):
        return form % value if value is not None else "-"

    for r in rows:
        est = "%.1fx-%.1fx" % tuple(r["estimate"]) if r["estimate"] else "-"
        print("%-20s %-16s %-30s %8s %7s %8s %7s %13s %5s %6s %7s  %s" % (
            r["name"], r["kind"], r["function"], num(r["python_seconds"], "%.2f"),
            num(r["port_seconds"], "%.2f"), num(r["measured"], "%.1fx"),
            num(r["paired"], "%.1fx"), est, num(width(r), "%.2f"),
            ("yes" if r["inside"] else "NO") if r["estimate"] else "-",
            num(r["samples"], "%d"), r["where"]))
        if r["failure"]:
            print("  ! %s" % r["failure"])


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples: benches/ports.py; benches/ports.py --rounds 7 --json /tmp/ports.json; "
               "benches/ports.py --only pyperf_nbody,sudoku_backtrack --rounds 3.")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed runs of each variant, interleaved; the best counts "
                             "(default: 5)")
    parser.add_argument("--only", default=None,
                        help="comma-separated programs to run (default: every port)")
    parser.add_argument("--bin", default=DEFAULT_BIN,
                        help="the port-advisor binary (default: target/release/port-advisor, "
                             "built if missing)")
    parser.add_argument("--build", action="store_true",
                        help="run `cargo build --release --locked` first")
    parser.add_argument("--python", default="3.11", metavar="MINOR",
                        help="the CPython to run the programs with, pyenv's newest MINOR.x "
                             "(default: 3.11; 3.12 and later count executed bytecodes)")
    parser.add_argument("--profiles", type=int, default=1, metavar="N",
                        help="port-advisor runs of each unported program (default: 1): the "
                             "first gives the estimate; with --runs-dir each keeps its folder "
                             "(<port>@N after the first) and benches/calibrate/gains.py "
                             "--average averages them into one observation, since a profile's "
                             "share of the run and mix move from run to run")
    parser.add_argument("--rate", type=int, default=None,
                        help="sampling rate for port-advisor profile (default: its own)")
    parser.add_argument("--runs-dir", default=None,
                        help="keep the port-advisor run folders here (default: a temporary "
                             "directory)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the table as JSON to PATH")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.profiles < 1:
        parser.error("--profiles must be at least 1")
    return args


def main():
    args = parse_args()
    if corpus.tomllib is None:
        fail("benches/ports.py needs Python 3.11 or later (tomllib)")
    ports = load_ports()
    # The pins of every port, not only of those --only picks: the venv is not remade (and
    # emptied of the others' packages) each time another subset runs.
    programs = [p.program for p in ports]
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {p.name for p in ports}
        if unknown:
            fail("no port for %s (ports: %s)" % (", ".join(sorted(unknown)),
                                                 ", ".join(p.name for p in ports)))
        ports = [p for p in ports if p.name in wanted]
    port_advisor = ensure_binary(args.bin, args.build)
    python = corpus.ensure_venv(args.python, programs, venv=VENV_PREFIX + args.python)
    build(ports, python, WHEELS_PREFIX + args.python)
    load_before = os.getloadavg()
    # Absolute: port-advisor runs from each program's folder.
    runs_dir = os.path.abspath(args.runs_dir or tempfile.mkdtemp(prefix="port-advisor-ports-"))
    try:
        for index, port in enumerate(ports, 1):
            progress("[%d/%d] %s: parity" % (index, len(ports), port.name))
            if not check_parity(port, python):
                continue
            progress("[%d/%d] %s: port-advisor profile%s" % (
                index, len(ports), port.name,
                " x%d" % args.profiles if args.profiles > 1 else ""))
            profile(port, python, port_advisor, runs_dir, args.rate, args.profiles)
            progress("[%d/%d] %s: %d timed rounds" % (index, len(ports), port.name,
                                                        args.rounds))
            measure(port, python, args.rounds)
            time_inside(port, python, min(args.rounds, 3))
    finally:
        if not args.runs_dir:
            shutil.rmtree(runs_dir, ignore_errors=True)
    load_after = os.getloadavg()
    rows = [row(p) for p in ports]
    print_table(rows)
    judged = [r for r in rows if r["estimate"] and r["measured"]]
    print("%d of %d measured speedups inside their estimate; load average %.1f before, "
          "%.1f after (1 min), %d cores" % (
              sum(r["inside"] for r in judged), len(rows), load_before[0], load_after[0],
              os.cpu_count() or 0))
    print(width_line([(r["samples"], width(r)) for r in rows if r["estimate"]], "estimates"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_before": load_before[0], "load_after": load_after[0],
                       "rounds": args.rounds, "profiles": args.profiles, "python": python, "ports": rows}, f, indent=2)
            f.write("\n")
    return 1 if any(r["failure"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
