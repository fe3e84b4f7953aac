"""What the benchmark scripts share: variants, interleaved timed rounds, the result table.

A variant is one way of running the program; each round runs every variant once, starting
one variant later than the round before, so slow drifts of the machine spread over all
variants instead of landing on one.

Also what the benches that run real programs share: the release binary (built when missing,
waited for while another cargo builds it), an interpreter's real path and version, and
stopping a run's process group when it overruns its time.
"""
import errno
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PROGRAM = os.path.join(REPO_ROOT, "fixtures", "programs", "call_heavy.py")
DEFAULT_BIN = os.path.join(REPO_ROOT, "target", "release", "port-advisor")
GNU_TIME = "/usr/bin/time"
CARGO_LOCK = os.path.join(REPO_ROOT, "target", "release", ".cargo-lock")

# After SIGINT, how long a stopped run may take to write what it has before SIGKILL.
INTERRUPT_GRACE = 10.0

# Speedup ranges at most this wide (high / low), for runs with at least WIDTH_SAMPLES samples:
# what an estimate must meet to tell a user which of two decisions to take.
WIDTH_TARGET = 3.0
WIDTH_SAMPLES = 500

UNPROFILED = "unprofiled"

# How many lines of a failed run's stderr to show.
STDERR_TAIL_LINES = 20


class Variant(object):
    """One way of running the program, and the measurements of its runs."""

    def __init__(self, name, build_command, keeps_profile=False):
        self.name = name
        # Called with a fresh, not yet existing output path for each run, so
        # profilers never find the previous run's files in their way.
        self.build_command = build_command
        # port-advisor variants: read profile.json after each run, so every
        # round's profile is at hand once the run folder is gone.
        self.keeps_profile = keeps_profile
        self.profiles = []
        self.last_profile = None
        self.seconds = []
        self.peak_rss_kib = []


class RunFailed(Exception):
    def __init__(self, variant, command, returncode, stderr):
        Exception.__init__(self, variant)
        self.variant = variant
        self.command = command
        self.returncode = returncode
        self.stderr = stderr


def fail(message):
    print("error: %s" % message, file=sys.stderr)
    sys.exit(2)


def progress(message):
    print(message, file=sys.stderr, flush=True)


# --- The binary, interpreters, runs stopped in time.

def wait_for_cargo():
    """Wait while another cargo holds the release build directory, so that no run starts a
    binary being rewritten; cargo takes an exclusive flock on this file while it builds."""
    if not os.path.exists(CARGO_LOCK):
        return
    import fcntl

    with open(CARGO_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            progress("waiting for another cargo build of target/release to finish...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_binary(path, build):
    default = os.path.abspath(path) == os.path.abspath(DEFAULT_BIN)
    if build or (default and not os.path.isfile(path)):
        progress("building: cargo build --release --locked")
        # cargo waits by itself for another build holding the lock.
        completed = subprocess.run(["cargo", "build", "--release", "--locked"], cwd=REPO_ROOT)
        if completed.returncode != 0:
            fail("`cargo build --release --locked` failed (exit %d)" % completed.returncode)
    else:
        wait_for_cargo()
    if not os.path.isfile(path):
        fail("%s not found: build it with `cargo build --release --locked`" % path)
    return os.path.abspath(path)


def real_python(python):
    """The interpreter's real path and version, so that the stamp names what was used."""
    script = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
    try:
        output = subprocess.check_output([python, "-c", script], universal_newlines=True)
    except (OSError, subprocess.CalledProcessError) as error:
        fail("cannot run %s: %s" % (python, error))
    executable, version = output.split()
    return os.path.realpath(executable), version


def stop_group(process):
    """SIGINT to the run's process group (port-advisor then keeps what it measured and the
    program gets KeyboardInterrupt), SIGKILL to what is left after INTERRUPT_GRACE."""
    for sig, grace in ((signal.SIGINT, INTERRUPT_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return process.communicate()


def run_once(variant, output_path, memory_path=None):
    """Run one variant to completion; record its wall time, its peak RSS when
    `memory_path` is given, and its profile when it keeps one."""
    command = variant.build_command(output_path)
    if memory_path is not None:
        # -o keeps GNU time's report out of the command's own stderr, which is
        # what gets shown if the run fails.
        command = [GNU_TIME, "-f", "%M", "-o", memory_path] + command
    start = time.perf_counter()
    completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    stderr = completed.stderr.decode("utf-8", "replace")
    if completed.returncode != 0:
        raise RunFailed(variant.name, command, completed.returncode, stderr)
    variant.seconds.append(elapsed)
    if memory_path is not None:
        variant.peak_rss_kib.append(read_peak_rss_kib(memory_path))
    if variant.keeps_profile:
        profile_path = os.path.join(output_path, "profile.json")
        if not os.path.isfile(profile_path):
            raise RunFailed(variant.name, command, 0,
                            stderr + "\n%s was not written" % profile_path)
        with open(profile_path) as profile_file:
            variant.last_profile = json.load(profile_file)
        variant.profiles.append(variant.last_profile)


def read_peak_rss_kib(memory_path):
    # The last line is the %M figure; GNU time puts notes such as
    # "Command exited with non-zero status" on the lines before it.
    with open(memory_path) as report:
        lines = [line.strip() for line in report if line.strip()]
    return int(lines[-1])


def remove_outputs(output_path):
    """Delete a run's output (port-advisor's folder, a profiler's file, py-spy's SVG)."""
    if os.path.isdir(output_path):
        shutil.rmtree(output_path)
    elif os.path.exists(output_path):
        os.remove(output_path)
    if os.path.exists(output_path + ".svg"):
        os.remove(output_path + ".svg")


def run_rounds(variants, rounds, measure_memory=False):
    with tempfile.TemporaryDirectory(prefix="port-advisor-bench-") as scratch:
        output_path = os.path.join(scratch, "out")
        memory_path = os.path.join(scratch, "rss") if measure_memory else None
        width = max(len(v.name) for v in variants)
        for round_index in range(rounds):
            # Start each round one variant later, so no variant always runs first
            # (on a cold cache) or always right after the slowest one.
            shift = round_index % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                run_once(variant, output_path, memory_path)
                remove_outputs(output_path)
                print("round %d/%d  %-*s %6.2f s" % (
                    round_index + 1, rounds, width, variant.name, variant.seconds[-1]),
                    file=sys.stderr, flush=True)


def by_name(variants, name):
    for variant in variants:
        if variant.name == name:
            return variant
    return None


def print_table(variants, measure_memory=False):
    """Median, min and max wall time of each variant, and its ratio to the unprofiled run."""
    baseline = statistics.median(by_name(variants, UNPROFILED).seconds)
    width = max(len(v.name) for v in variants)
    header = "%-*s %9s %7s %7s %7s" % (width, "variant", "median s", "min s", "max s", "ratio")
    if measure_memory:
        header += " %13s" % "peak RSS MiB"
    print(header)
    print("-" * len(header))
    for variant in variants:
        median = statistics.median(variant.seconds)
        row = "%-*s %9.3f %7.3f %7.3f %6.2fx" % (
            width, variant.name, median, min(variant.seconds), max(variant.seconds),
            median / baseline)
        if measure_memory:
            row += " %13.1f" % (max(variant.peak_rss_kib) / 1024.0)
        print(row)


def print_failure(failure):
    print("error: %s exited with status %d: %s" % (
        failure.variant, failure.returncode, " ".join(failure.command)), file=sys.stderr)
    tail = failure.stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:]
    for line in tail:
        print("  | " + line, file=sys.stderr)


def width_line(ranges, what):
    """How many of `ranges` ((samples, high / low) pairs) of runs with at least WIDTH_SAMPLES
    samples are at most WIDTH_TARGET wide, as a line naming them `what`."""
    judged = [w for samples, w in ranges if (samples or 0) >= WIDTH_SAMPLES]
    return "%d of %d %s of runs with %d samples or more are at most %gx wide" % (
        sum(w <= WIDTH_TARGET for w in judged), len(judged), what, WIDTH_SAMPLES, WIDTH_TARGET)
