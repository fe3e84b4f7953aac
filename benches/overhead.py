#!/usr/bin/env python3
"""Measure how much port-advisor slows down the program it profiles, next to py-spy.

The script runs the same Python program several ways, side by side in one go:

  unprofiled                      python PROGRAM
  port-advisor 100 Hz             port-advisor profile --quiet -o DIR --rate 100 PROGRAM
  py-spy record 100 Hz            py-spy record -r 100 -o FILE.svg -- python PROGRAM
                                  (py-spy's default: pauses the program at each sample)
  py-spy record 100 Hz --nonblocking
  port-advisor 1000 Hz, and both py-spy variants at 1000 Hz

Every variant runs the same interpreter (its real path, with pyenv shims resolved),
so the only difference between rows is the profiler. The runs are interleaved: each
round runs every variant once, starting one variant later than the previous round,
so slow drifts of the machine (other jobs, thermal throttling) spread over all
variants instead of landing on one.

How to read the output:

  median s, min s, max s   wall time of the whole command, from start to exit,
                           over the rounds. The median is the figure to quote; a
                           wide min-max spread means a noisy machine, so rerun
                           with more --rounds.
  ratio                    median / the unprofiled median: 1.03x means the
                           program took 3% longer under that profiler.
  peak RSS MiB             the largest peak resident memory over the rounds (see
                           below), when /usr/bin/time is installed.

Then verdict lines compare port-advisor at 100 Hz (its default rate) against its
targets: at most 5% slower than unprofiled, and no slower than py-spy record at the
same rate, in either of py-spy's modes. PASS/FAIL is judged on the ratio as
printed (two decimals). The exit status is 0 whatever the verdicts, since this is
a measurement, not a test; it is 1 if a run exits non-zero (its stderr tail is
printed) and 2 if something needed is missing.

About the memory column: each command runs under GNU `/usr/bin/time -f %M`, which
reports the ru_maxrss that wait4() returns: the peak RSS of the single largest
process among the one it started and the descendants that were waited for. It is
a maximum, not a sum. For a profiler row that is max(profiler, profiled Python
program); the unprofiled row is the program's own peak, so a profiler row clearly
above it is the profiler's peak, and a row equal to it means the profiler stayed
below the program.

py-spy is the pip package, pinned to the version below (the one the Rust crate in
Cargo.toml matches); this script does not install it.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

from benchlib import (
    DEFAULT_BIN, DEFAULT_PROGRAM, GNU_TIME, UNPROFILED, RunFailed, Variant, by_name, fail,
    print_failure, print_table, run_rounds,
)

PY_SPY_VERSION = "0.4.3"
PY_SPY_INSTALL_HINT = "pip install py-spy==%s" % PY_SPY_VERSION


PORT_ADVISOR_100 = "port-advisor 100 Hz"
PY_SPY_100_BLOCKING = "py-spy record 100 Hz (blocking default)"
PY_SPY_100_NONBLOCKING = "py-spy record 100 Hz --nonblocking"


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Example: benches/overhead.py --rounds 3 -- 0.5  (runs the default program "
            "with the argument 0.5, i.e. half its default work). Build the binary first "
            "with `cargo build --release`; install py-spy with `%s`." % PY_SPY_INSTALL_HINT
        ),
    )
    parser.add_argument(
        "--rounds", type=int, default=5,
        help="how many times to run each variant; the runs are interleaved (default: 5)")
    parser.add_argument(
        "--program", default=DEFAULT_PROGRAM,
        help="the Python program to run (default: fixtures/programs/call_heavy.py)")
    parser.add_argument(
        "--bin", default=DEFAULT_BIN,
        help="the port-advisor binary (default: target/release/port-advisor in the repo)")
    parser.add_argument(
        "--python", default="python3",
        help="the interpreter every variant runs; pyenv shims and the like are resolved "
             "to the real executable once (default: python3 on PATH)")
    parser.add_argument(
        "program_args", nargs="*", metavar="ARG",
        help="arguments for the program; put them after `--` if they start with a dash")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def resolve_python(python):
    """The interpreter's real path: a pyenv shim is a shell script that picks the
    interpreter on each call and costs time of its own, so resolve it once and run
    that exact executable in every variant."""
    try:
        output = subprocess.check_output(
            [python, "-c", "import sys; print(sys.executable)"], universal_newlines=True)
    except (OSError, subprocess.CalledProcessError) as error:
        fail("cannot run %s: %s" % (python, error))
    return output.strip()


def find_py_spy(python):
    """py-spy next to the interpreter (where `pip install` puts it), else on PATH.

    The interpreter's own bin folder comes first because PATH may hold a pyenv shim,
    which would add the shim's start-up time to every py-spy run."""
    beside_python = os.path.join(os.path.dirname(python), "py-spy")
    if os.access(beside_python, os.X_OK):
        return beside_python
    return shutil.which("py-spy")


def py_spy_version(py_spy):
    try:
        output = subprocess.check_output([py_spy, "--version"], universal_newlines=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return output.strip().split()[-1]


def build_variants(python, program_command, port_advisor, py_spy):
    """The variants in the order each round runs them (before the per-round rotation)."""
    def unprofiled(output_path):
        return [python] + program_command

    def port_advisor_at(rate):
        def command(output_path):
            # --python pins the interpreter; otherwise port-advisor would pick the
            # active virtualenv's or PATH's, which may not be the one measured here.
            return [port_advisor, "profile", "--quiet", "-o", output_path,
                    "--rate", str(rate), "--python", python] + program_command
        return command

    def py_spy_at(rate, nonblocking):
        def command(output_path):
            mode = ["--nonblocking"] if nonblocking else []
            return ([py_spy, "record"] + mode +
                    ["-r", str(rate), "-o", output_path + ".svg", "--", python] +
                    program_command)
        return command

    variants = [Variant(UNPROFILED, unprofiled)]
    for rate in (100, 1000):
        variants.append(Variant("port-advisor %d Hz" % rate, port_advisor_at(rate)))
        if py_spy is not None:
            variants.append(Variant("py-spy record %d Hz (blocking default)" % rate,
                                    py_spy_at(rate, nonblocking=False)))
            variants.append(Variant("py-spy record %d Hz --nonblocking" % rate,
                                    py_spy_at(rate, nonblocking=True)))
    return variants


def print_verdict(label, numerator, denominator, target):
    """Print `LABEL X.XXx (target <= T.TTx): PASS/FAIL`; LABEL ends with its own ':' or '='."""
    if numerator is None or denominator is None:
        print("%s skipped (py-spy not found)" % label)
        return
    ratio = statistics.median(numerator.seconds) / statistics.median(denominator.seconds)
    # Judge the figure as printed, so "1.05x (target <= 1.05x)" never reads FAIL.
    verdict = "PASS" if round(ratio, 2) <= target else "FAIL"
    print("%s %.2fx (target <= %.2fx): %s" % (label, ratio, target, verdict))


def print_verdicts(variants):
    port_advisor = by_name(variants, PORT_ADVISOR_100)
    print_verdict("port-advisor 100 Hz / unprofiled =", port_advisor,
                  by_name(variants, UNPROFILED), 1.05)
    print_verdict("port-advisor 100 Hz vs py-spy record 100 Hz (blocking default):",
                  port_advisor, by_name(variants, PY_SPY_100_BLOCKING), 1.00)
    print_verdict("port-advisor 100 Hz vs py-spy record 100 Hz (--nonblocking):",
                  port_advisor, by_name(variants, PY_SPY_100_NONBLOCKING), 1.00)


def main():
    args = parse_args()
    if not os.path.isfile(args.bin):
        fail("%s not found: run `cargo build --release` first" % args.bin)
    if not os.path.isfile(args.program):
        fail("program %s not found" % args.program)

    python = resolve_python(args.python)
    port_advisor = os.path.abspath(args.bin)
    program_command = [os.path.abspath(args.program)] + args.program_args

    py_spy = find_py_spy(python)
    if py_spy is None:
        print("error: py-spy not found (`%s`); skipping its variants, running the others"
              % PY_SPY_INSTALL_HINT, file=sys.stderr)
    else:
        version = py_spy_version(py_spy)
        if version != PY_SPY_VERSION:
            print("note: %s is version %s, not the pinned %s (`%s`)" % (
                py_spy, version, PY_SPY_VERSION, PY_SPY_INSTALL_HINT), file=sys.stderr)

    measure_memory = os.access(GNU_TIME, os.X_OK)
    if not measure_memory:
        print("note: %s not found (Debian package `time`); skipping peak memory" % GNU_TIME,
              file=sys.stderr)

    variants = build_variants(python, program_command, port_advisor, py_spy)
    print("python:       %s" % python)
    print("program:      %s" % " ".join(program_command))
    print("port-advisor: %s" % port_advisor)
    print("py-spy:       %s" % (py_spy or "not found"))
    print("rounds:       %d, interleaved" % args.rounds)
    sys.stdout.flush()

    try:
        run_rounds(variants, args.rounds, measure_memory)
    except RunFailed as failure:
        print_failure(failure)
        return 1

    print()
    print_table(variants, measure_memory)
    print()
    print_verdicts(variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
