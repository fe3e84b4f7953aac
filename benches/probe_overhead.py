#!/usr/bin/env python3
"""Measure what port-advisor's in-process probe costs, next to cProfile and pyinstrument.

On CPython 3.12+, `port-advisor profile` does three things at once: it samples the
program from outside (like py-spy), it runs a probe inside the program that counts
calls and observes argument types (sys.monitoring), and it writes a report. This
script runs the same call-heavy program several ways, side by side in one go:

  unprofiled                                 python PROGRAM
  port-advisor (sampling + probe + report)   port-advisor profile --quiet --python python
                                               --rate 100 -o DIR PROGRAM (the default rate)
  port-advisor --no-probe                    the same with --no-probe: sampling and
                                               report only, so the gap between these
                                               two rows is the probe's own cost
  port-advisor at --share-rate [--no-probe]  both again at --share-rate (default 500 Hz),
                                               for the share-shift check
  cProfile                                   python -m cProfile -o FILE PROGRAM
  pyinstrument                               python -m pyinstrument --renderer text
                                               -o FILE PROGRAM

cProfile (hooks every call) and pyinstrument (in-process sampling) are there for
context: they are what one would otherwise use to get call counts or a profile from
inside the program.

Every variant runs the same interpreter (its real path, with pyenv shims resolved),
which must be CPython 3.12+ since the probe needs sys.monitoring. The runs are
interleaved: each round runs every variant once, starting one variant later than
the previous round, so slow drifts of the machine (other jobs, thermal throttling)
spread over all variants instead of landing on one.

The overhead is judged at port-advisor's default rate, 100 Hz. The share-shift check
needs many samples, so it reads the profiles of two more rows at --share-rate; their
wall times are printed too (a higher rate costs more: on deep stacks a good part of
the rounds pause the program for one consistent read).

How to read the output:

  median s, min s, max s   wall time of the whole command, from start to exit,
                           over the rounds. The median is the figure to quote; a
                           wide min-max spread means a noisy machine, so rerun
                           with more --rounds.
  ratio                    median / the unprofiled median: 1.10x means the
                           program took 10% longer under that profiler.

Then two verdict lines, judged on the figures as printed:

  port-advisor (sampling + probe + report) / unprofiled = X.XXx (target <= 1.15x)
      The cost of a full port-advisor run, probe included.

  largest share shift with the probe: X.X points (FUNC) (target <= 2.0)
      The probe runs inside the program, so it slows down the functions it watches.
      If it slowed some functions more than others, the time shares the sampler
      reports would be distorted. Pooling the samples of every round's two --share-rate
      runs, this takes each Python function's inclusive share of the non-idle samples (the
      share of samples with the function anywhere on the stack, as the report's
      "total" column counts it) with and without the probe, and prints the largest
      difference, in percentage points, among functions that have at least 1% in
      either run. A table of those shares comes first. Part of any difference is
      sampling noise: with about 1,000 samples per run (2 s at 500 Hz) and 5 rounds,
      one share is uncertain by about 0.5 point, up to 0.7 point for a share near 50%,
      from counting alone. Runs of the same command also differ by more than that (on
      call_heavy.py, 2-3 points between batches of runs): the line after the verdict
      computes the same statistic between the odd and the even rounds without the
      probe, and a shift no larger than that floor cannot be told from the machine's
      run-to-run variation. The table's heading also gives the pooled runs' failed
      sampling rounds (rounds that could not read the program's stack).

Last, for context, the probe's call counts for the five most-called functions it
chose to observe (its candidates), from the same probe run. A count marked `~` was
partly estimated while the function was too hot to count every call; `+-` is one
standard error of the estimate.

The exit status is 0 whatever the verdicts, since this is a measurement, not a test;
it is 1 if a run exits non-zero (its stderr tail is printed) and 2 if something
needed is missing (the binary, the program, a Python 3.12+).

pyinstrument is the pip package, pinned to the version below and in
benches/requirements.txt; it must be installed for the interpreter measured
(`python -m pip install pyinstrument==VERSION`). This script does not install it;
without it, the pyinstrument row is skipped.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys

from benchlib import (
    DEFAULT_BIN, DEFAULT_PROGRAM, UNPROFILED, RunFailed, Variant, by_name, fail,
    print_failure, print_table, run_rounds,
)

PYINSTRUMENT_VERSION = "5.1.3"
# port-advisor's default --rate: the overhead verdict is about what a default run costs.
DEFAULT_RATE = 100

# Where pyenv keeps its interpreters; the newest 3.12+ one is the default.
PYENV_PYTHONS = os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3.1[2-9]")

# sys.monitoring, which the probe uses, appeared in CPython 3.12.
MIN_PYTHON = (3, 12)

WITH_PROBE = "port-advisor (sampling + probe + report)"
WITHOUT_PROBE = "port-advisor --no-probe"
SHARES_WITH_PROBE = "port-advisor at --share-rate"
SHARES_WITHOUT_PROBE = "port-advisor at --share-rate --no-probe"
CPROFILE = "cProfile"
PYINSTRUMENT = "pyinstrument"

OVERHEAD_TARGET = 1.15
SHIFT_TARGET_POINTS = 2.0
# Functions below this share in both runs are left out of the share-shift check:
# their shares are a handful of samples, all noise.
MIN_SHARE = 0.01
TOP_CANDIDATES = 5


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Example: benches/probe_overhead.py --rounds 3. Build the binary first with "
            "`cargo build --release`; install pyinstrument with "
            "`PYTHON -m pip install pyinstrument==%s`." % PYINSTRUMENT_VERSION
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
        "--python", default=None,
        help="the CPython 3.12+ interpreter every variant runs; shims are resolved to the "
             "real executable once (default: the newest ~/.pyenv/versions/3.12+, else "
             "python3 on PATH if it is 3.12+)")
    parser.add_argument(
        "--share-rate", type=int, default=500,
        help="samples per second (port-advisor's --rate) of both port-advisor variants, "
             "whose profiles the share-shift check compares (default: 500)")
    parser.add_argument(
        "program_args", nargs="*", metavar="ARG",
        help="arguments for the program; put them after `--` if they start with a dash")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.share_rate < 1:
        parser.error("--share-rate must be at least 1")
    return args


def describe_python(python):
    """(real executable, (major, minor)) of an interpreter, or None if it cannot run.

    The real path matters: a pyenv shim is a shell script that picks the interpreter
    on each call and costs time of its own, so resolve it once and run that exact
    executable in every variant."""
    script = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"
    try:
        output = subprocess.check_output([python, "-c", script], universal_newlines=True,
                                         stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return None
    executable, version = output.split()
    return executable, tuple(int(part) for part in version.split("."))


def version_key(path):
    """Sort key for a pyenv interpreter: the numbers of its version folder, so 3.13.0
    sorts after 3.12.10 (which a plain string sort would not do)."""
    folder = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return tuple(int(number) for number in re.findall(r"\d+", folder))


def pick_python(requested):
    """The real executable of the interpreter to measure; exits 2 unless it is 3.12+."""
    if requested is not None:
        candidates = [requested]
    else:
        candidates = sorted(glob.glob(PYENV_PYTHONS), key=version_key, reverse=True)
        candidates.append("python3")
    for candidate in candidates:
        described = describe_python(candidate)
        if described is not None and described[1] >= MIN_PYTHON:
            return described[0]
    if requested is not None:
        found = "cannot be run" if described is None else "is Python %d.%d" % described[1]
        fail("%s %s; the probe needs Python %d.%d+ (sys.monitoring)"
             % ((requested, found) + MIN_PYTHON))
    fail("no Python %d.%d+ found in ~/.pyenv/versions or as python3; pass --python"
         % MIN_PYTHON)


def pyinstrument_version(python):
    """The pyinstrument version installed for this interpreter, or None."""
    script = "import pyinstrument; print(pyinstrument.__version__)"
    try:
        output = subprocess.check_output([python, "-c", script], universal_newlines=True,
                                         stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return None
    return output.strip()


def build_variants(python, program_command, port_advisor, share_rate, with_pyinstrument):
    """The variants in the order each round runs them (before the per-round rotation)."""
    def unprofiled(output_path):
        return [python] + program_command

    def port_advisor_run(rate, extra):
        def command(output_path):
            # --python pins the interpreter; otherwise port-advisor would pick the
            # active virtualenv's or PATH's, which may not be the one measured here.
            return ([port_advisor, "profile", "--quiet", "--python", python,
                     "--rate", str(rate), "-o", output_path] + extra +
                    program_command)
        return command

    def cprofile(output_path):
        return [python, "-m", "cProfile", "-o", output_path] + program_command

    def pyinstrument(output_path):
        return ([python, "-m", "pyinstrument", "--renderer", "text", "-o", output_path] +
                program_command)

    variants = [
        Variant(UNPROFILED, unprofiled),
        Variant(WITH_PROBE, port_advisor_run(DEFAULT_RATE, [])),
        Variant(WITHOUT_PROBE, port_advisor_run(DEFAULT_RATE, ["--no-probe"])),
        Variant(SHARES_WITH_PROBE, port_advisor_run(share_rate, []), keeps_profile=True),
        Variant(SHARES_WITHOUT_PROBE, port_advisor_run(share_rate, ["--no-probe"]),
                keeps_profile=True),
        Variant(CPROFILE, cprofile),
    ]
    if with_pyinstrument:
        variants.append(Variant(PYINSTRUMENT, pyinstrument))
    return variants


def print_overhead_verdict(variants):
    ratio = (statistics.median(by_name(variants, WITH_PROBE).seconds) /
             statistics.median(by_name(variants, UNPROFILED).seconds))
    # Judge the figure as printed, so "1.15x (target <= 1.15x)" never reads FAIL.
    verdict = "PASS" if round(ratio, 2) <= OVERHEAD_TARGET else "FAIL"
    print("%s / %s = %.2fx (target <= %.2fx): %s" % (
        WITH_PROBE, UNPROFILED, ratio, OVERHEAD_TARGET, verdict))


def inclusive_shares(profiles):
    """{(file, name): share} of each Python function over the non-idle samples of all
    `profiles` together.

    A function is its file and qualified name (the plain name when the qualified one
    is unknown), so that its many sampled lines add up, as in the report. It counts
    once per stack, so recursion does not count a sample twice. The denominator is
    every non-idle sample, stacks without Python frames included, which is how the
    report's shares are computed too."""
    total = 0
    weights = {}
    for profile in profiles:
        functions = []
        for frame in profile["frames"]:
            if frame["kind"] == "python":
                functions.append((frame["file"], frame.get("qualname") or frame["name"]))
            else:
                functions.append(None)
        for stack in profile["stacks"]:
            if stack.get("idle"):
                continue
            total += stack["weight"]
            on_stack = set(functions[frame_id] for frame_id in stack["frames"])
            on_stack.discard(None)
            for function in on_stack:
                weights[function] = weights.get(function, 0) + stack["weight"]
    if total == 0:
        return {}
    return dict((function, weight / float(total)) for function, weight in weights.items())


def sampling_summary(profiles):
    """`N runs, S samples, F% of rounds failed`: how much the pooled shares rest on."""
    kept = sum(stack["weight"] for profile in profiles for stack in profile["stacks"]
               if not stack.get("idle"))
    ticks = sum(profile["meta"]["ticks"] for profile in profiles)
    errors = sum(profile["meta"]["error_ticks"] for profile in profiles)
    failed = 100.0 * errors / ticks if ticks else 0.0
    return "%d runs, %d samples, %.0f%% of rounds failed" % (len(profiles), kept, failed)


def share_shifts(with_probe, without_probe):
    """[(shift in points, share without, share with, function)], largest shift first,
    for the functions with at least MIN_SHARE in either run."""
    shifts = []
    for function in set(with_probe) | set(without_probe):
        share_with = with_probe.get(function, 0.0)
        share_without = without_probe.get(function, 0.0)
        if max(share_with, share_without) < MIN_SHARE:
            continue
        shifts.append((abs(share_with - share_without) * 100.0, share_without, share_with,
                       function))
    shifts.sort(key=lambda shift: (-shift[0], shift[3]))
    return shifts


def print_share_shift(variants, share_rate):
    with_probe = by_name(variants, SHARES_WITH_PROBE).profiles
    without_probe = by_name(variants, SHARES_WITHOUT_PROBE).profiles
    print("inclusive shares of non-idle samples, all rounds pooled, %d Hz" % share_rate)
    print("  no probe: %s" % sampling_summary(without_probe))
    print("  probe:    %s" % sampling_summary(with_probe))
    shifts = share_shifts(inclusive_shares(with_probe), inclusive_shares(without_probe))
    header = "  %-40s %8s %8s %8s" % ("function", "no probe", "probe", "shift")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for points, share_without, share_with, (_, name) in shifts:
        print("  %-40s %7.1f%% %7.1f%% %8.1f" % (
            name, share_without * 100.0, share_with * 100.0, points))
    print()
    if not shifts:
        print("largest share shift with the probe: skipped (no Python function has %d%% "
              "of the samples)" % (MIN_SHARE * 100))
        return
    points, _, _, (_, name) = shifts[0]
    verdict = "PASS" if round(points, 1) <= SHIFT_TARGET_POINTS else "FAIL"
    print("largest share shift with the probe: %.1f points (%s) (target <= %.1f): %s" % (
        points, name, SHIFT_TARGET_POINTS, verdict))
    if len(without_probe) >= 2:
        floor = share_shifts(inclusive_shares(without_probe[0::2]),
                             inclusive_shares(without_probe[1::2]))
        if floor:
            points, _, _, (_, name) = floor[0]
            print("noise floor, the same between odd and even rounds without the probe: "
                  "%.1f points (%s)" % (points, name))


def format_calls(function):
    """`1,234` when every call was counted, `~1,234 +-56` when part was estimated."""
    if function.get("calls_exact", True):
        return "{:,}".format(function["calls"])
    return "~{:,} +-{:,}".format(function["calls"], function.get("calls_error", 0))


def print_probe_calls(variants):
    probe = by_name(variants, SHARES_WITH_PROBE).last_profile.get("probe")
    if not probe or not probe.get("functions"):
        reason = (probe or {}).get("unavailable") or "no functions recorded"
        print("probe call counts: none (%s)" % reason)
        return
    candidates = [function for function in probe["functions"] if function.get("candidate")]
    candidates.sort(key=lambda function: -function["calls"])
    print("probe call counts, top %d candidate functions (last round, %s):" % (
        TOP_CANDIDATES, probe.get("method", "unknown method")))
    for function in candidates[:TOP_CANDIDATES]:
        print("  %22s  %s" % (format_calls(function), function["qualname"]))
    if not candidates:
        print("  (no candidates)")


def main():
    args = parse_args()
    if not os.path.isfile(args.bin):
        fail("%s not found: run `cargo build --release` first" % args.bin)
    if not os.path.isfile(args.program):
        fail("program %s not found" % args.program)

    python = pick_python(args.python)
    port_advisor = os.path.abspath(args.bin)
    program_command = [os.path.abspath(args.program)] + args.program_args

    install_hint = "%s -m pip install pyinstrument==%s" % (python, PYINSTRUMENT_VERSION)
    pyinstrument = pyinstrument_version(python)
    if pyinstrument is None:
        print("error: pyinstrument not installed for %s (`%s`); skipping its variant"
              % (python, install_hint), file=sys.stderr)
    elif pyinstrument != PYINSTRUMENT_VERSION:
        print("note: pyinstrument is version %s, not the pinned %s (`%s`)" % (
            pyinstrument, PYINSTRUMENT_VERSION, install_hint), file=sys.stderr)

    variants = build_variants(python, program_command, port_advisor, args.share_rate,
                              pyinstrument is not None)
    print("python:       %s" % python)
    print("program:      %s" % " ".join(program_command))
    print("port-advisor: %s (--rate %d, its default, for the overhead; --rate %d for the "
          "share-shift check)" % (port_advisor, DEFAULT_RATE, args.share_rate))
    print("pyinstrument: %s" % (pyinstrument or "not installed"))
    print("rounds:       %d, interleaved" % args.rounds)
    sys.stdout.flush()

    try:
        run_rounds(variants, args.rounds)
    except RunFailed as failure:
        print_failure(failure)
        return 1

    print()
    print_table(variants)
    print()
    print_overhead_verdict(variants)
    print()
    print_share_shift(variants, args.share_rate)
    print()
    print_probe_calls(variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
