#!/usr/bin/env python3
"""How close the probe's call counts come to the truth, on every Python it supports.

Runs fixtures/programs/count_truth.py (which counts its own calls and prints them) under
`port-advisor profile` on each interpreter, --reps times, and compares the counts in
report.json (or, for a function the advice does not list, profile.json) with the truth:

  steady   a function called 15,000-35,000 times a second: counted every call on 3.12+
           (exact), from when it became a candidate before 3.12 (the rest extrapolated from
           its samples); the target is within 10% on every Python
  hot      millions of calls a second: counted in short windows, an estimate; the figure to
           watch is whether its error bar covers the truth
  phased   a function that changes pace twice: also windowed

Usage:
  cargo build --release && python3 benches/count_accuracy.py [--reps N] [--python 3.8 ...]

Each row: Python, run, then per function `count/truth (error%) [±bar, covers|misses]`.
The summary gives, per function and Python, the largest error and how many bars covered
the truth.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import DEFAULT_BIN, REPO_ROOT, fail  # noqa: E402

PROGRAM = os.path.join(REPO_ROOT, "fixtures", "programs", "count_truth.py")
DEFAULT_PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def interpreter(version):
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    versions = os.path.join(root or os.path.expanduser("~/.pyenv"), "versions")
    for name in sorted(os.listdir(versions)) if os.path.isdir(versions) else []:
        if name == version or name.startswith(version + "."):
            return os.path.join(versions, name, "bin", "python")
    return None


def counts(report, profile):
    """Every function's calls: from report.json where the advice lists the function (a
    candidate or one of its alternatives, with the count the advice used), else from the
    probe's results in profile.json, scaled to the whole run as the advice scales them when
    counting began late (before 3.12, counting starts when a function becomes a candidate)."""
    out = {}

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("function"), dict) and isinstance(x.get("calls"), dict):
                out.setdefault(x["function"]["name"], x["calls"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(report)
    for f in (profile.get("probe") or {}).get("functions", []):
        if f["name"] in out:
            continue
        calls, error, exact = f["calls"], f.get("calls_error", 0), f["calls_exact"]
        before, sampled = f.get("sampled_before"), f.get("sampled")
        if before and sampled and sampled > before:
            scale = sampled / (sampled - before)
            calls, error, exact = round(calls * scale), round(error * scale), False
        out[f["name"]] = {"count": calls, "error": error, "exact": exact}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--python", nargs="*", default=DEFAULT_PYTHONS)
    parser.add_argument("--bin", default=DEFAULT_BIN)
    args = parser.parse_args()
    if not os.path.exists(args.bin):
        fail("no %s: run `cargo build --release` first" % args.bin)
    worst = {}
    work = tempfile.mkdtemp(prefix="count-accuracy-")
    try:
        for version in args.python:
            py = interpreter(version)
            if py is None:
                print("%s: not installed, skipped" % version)
                continue
            for rep in range(args.reps):
                out = os.path.join(work, "%s-%d" % (version, rep))
                run = subprocess.run(
                    [args.bin, "profile", "--quiet", "--python", py, "-o", out, PROGRAM],
                    capture_output=True,
                    text=True,
                )
                truth = {k: int(n) for k, n in re.findall(r"(\w+)=(\d+)", run.stdout)}
                if run.returncode != 0 or not truth:
                    fail("%s run %d failed: %s" % (version, rep, run.stderr[-2000:]))
                with open(os.path.join(out, "report.json")) as f:
                    report = json.load(f)
                with open(os.path.join(out, "profile.json")) as f:
                    got = counts(report, json.load(f))
                cells = []
                for name, true in sorted(truth.items()):
                    c = got.get(name)
                    if c is None:
                        cells.append("%s -/%d (no count)" % (name, true))
                        continue
                    error = 100.0 * (c["count"] - true) / true
                    covers = abs(c["count"] - true) <= max(c["error"], 0)
                    kind = "exact" if c["exact"] else "±%d %s" % (
                        c["error"], "covers" if covers else "misses")
                    cells.append("%s %d/%d (%+.1f%%) [%s]" % (name, c["count"], true, error, kind))
                    w = worst.setdefault((name, version), [0.0, 0, 0])
                    w[0] = max(w[0], abs(error))
                    w[1] += 1 if (covers or c["exact"] and error == 0) else 0
                    w[2] += 1
                print("%-5s %d  %s" % (version, rep, " | ".join(cells)), flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("%-8s %-6s %10s %10s" % ("function", "python", "max error", "bar covers"))
    for (name, version), (err, covered, n) in sorted(worst.items()):
        print("%-8s %-6s %9.1f%% %6d of %d" % (name, version, err, covered, n))
    steady = [w[0] for (name, _), w in worst.items() if name == "steady"]
    if steady:
        print()
        print("steady: largest error %.1f%% (target <= 10%%)" % max(steady))


if __name__ == "__main__":
    main()
