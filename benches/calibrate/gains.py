#!/usr/bin/env python3
"""The gains of rules/scoring.toml's [operations], fitted to the port corpus and checked with
each port left out in turn.

port-advisor prices a boundary's interpreted time by the operations its lines execute: each
class c (arithmetic, indexing, calls, ...) takes a share m_c of the time, runs g_c times faster
in the port, and the boundary's factor F is 1 / sum(m_c / g_c). A real port measures its
whole-program speedup S; with the share P of the run that the boundary interprets and the
share X its crossings cost (both from the report made before the port existed), Amdahl's law
gives the factor the port achieved:

    1/S = 1 - P + P/F + X    so    1/F = (1/S - 1 + P - X) / P

This script reads `benches/ports.py --json` and the report.json of each port's run folder
(kept with --runs-dir) and fits x_c = 1/g_c so that sum(m_c x_c) matches each port's 1/F, in log terms,
pulled toward the gains rules/scoring.toml has now (a prior: the ports are fewer than the
classes, and a class no port exercises keeps its prior). The range of every gain is the fit
times and divided by k, the largest leave-one-out error of the factor among the ports, so a
range is k^2 wide.

Validation, not fitting: for each port in turn it fits without that port (gains and k), prices
the port's operations with those gains, and prints the whole-program range so estimated next
to the speedup the port measured, `inside` when it contains it. The last lines give the fitted
gains as TOML for [operations] (cpython_ns stays as benches/calibrate/operations.py measured).

Usage:
  python3 benches/ports.py --json /tmp/ports.json --runs-dir /tmp/ports-runs
  python3 benches/calibrate/gains.py /tmp/ports.json --runs-dir /tmp/ports-runs [--prior-weight 0.3]
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

try:
    import tomllib
except ImportError:  # Python before 3.11
    tomllib = None

# The largest factor a port is taken to have reached: a measured speedup at or beyond what the
# boundary's share of the run allows (sampling noise, or time outside it the port also removed)
# says only that the factor is large.
MAX_FACTOR = 300

CLASSES = [
    "arithmetic", "compare", "index", "attribute", "call", "builtin_call", "build", "lookup",
    "text", "iterate", "store",
]


def prior_gains():
    """The geometric middle of each class's gain in rules/scoring.toml, and gain_moved's."""
    if tomllib is None:
        sys.exit("gains.py: needs Python 3.11 or later (tomllib)")
    with open(os.path.join(REPO, "rules", "scoring.toml"), "rb") as f:
        ops = tomllib.load(f)["operations"]
    mid = lambda span: math.sqrt(span[0] * span[1])
    plain = {c: mid(ops[c]["gain"]) for c in CLASSES}
    moved = {c: mid(ops[c].get("gain_moved", ops[c]["gain"])) for c in CLASSES}
    return plain, moved


def find_option(report, function):
    """The boundary option of report.json named by `module:qualname` (the candidate itself or
    one of its alternatives), with the candidate it belongs to."""
    qualname = function.split(":", 1)[-1]
    module = function.split(":", 1)[0] if ":" in function else None
    for c in report.get("candidates", []):
        for o in c.get("alternatives", []):
            f = o["function"]
            if f["name"] == qualname and (module is None or (f.get("module") or "").endswith(
                    module.split(".")[-1])):
                return o
    return None


def observations(ports_json, runs_dir):
    out = []
    for p in ports_json["ports"]:
        report_path = p.get("report") or os.path.join(runs_dir, p["name"], "report.json")
        if not report_path or not os.path.exists(report_path) or not p.get("measured"):
            print("  %-28s skipped: no report.json or no measured speedup" % p["name"])
            continue
        with open(report_path) as f:
            report = json.load(f)
        o = find_option(report, p["function"])
        if o is None or not o.get("operations"):
            print("  %-28s skipped: the report has no priced option for %s" % (
                p["name"], p["function"]))
            continue
        share = o.get("portable_share") or o["time_share"] * (1 - o["native_share"])
        crossing = o.get("crossing_share") or 0.0
        # The median of the rounds' paired ratios holds under load better than best against
        # best (a loaded machine slows the long unported runs more).
        s = p.get("paired") or p["measured"]
        inv_f = (1.0 / s - 1.0 + share - crossing) / max(share, 1e-9)
        # A port that releases the GIL runs its threads at once: the advice multiplies the
        # factor by the threads that can run in parallel, and so does this.
        inv_f *= ((o.get("gil") or {}).get("parallel") or 1)
        if inv_f <= 1.0 / MAX_FACTOR:
            print("  %-28s measured %.1fx is beyond what its share of the run allows (%.0f%%): "
                  "its factor is taken as %dx" % (p["name"], s, 100 * share, MAX_FACTOR))
        mix = {c: 0.0 for c in CLASSES}
        for entry in o["operations"]:
            mix[entry["op"]] = entry["share"]
        out.append({
            "name": p["name"], "measured": s, "P": share, "X": crossing,
            "inv_f": max(inv_f, 1.0 / MAX_FACTOR), "mix": mix,
            "moved": o.get("code_kind") == "object engine",
            "samples": p.get("samples"), "estimate": p.get("estimate"), "measured_best": p["measured"],
        })
    return out


def predict_inv_f(obs, x):
    xs = x["moved"] if obs["moved"] else x["plain"]
    return sum(obs["mix"][c] * xs[c] for c in CLASSES)


def fit(data, prior, prior_weight, steps=4000, rate=0.05):
    """Log-space least squares of the ports' 1/F, with a pull toward the prior gains."""
    logs = {kind: {c: -math.log(prior[kind][c]) for c in CLASSES} for kind in ("plain", "moved")}
    priors = {kind: dict(logs[kind]) for kind in logs}
    for _ in range(steps):
        grad = {kind: {c: 0.0 for c in CLASSES} for kind in logs}
        x = {kind: {c: math.exp(v) for c, v in logs[kind].items()} for kind in logs}
        for d in data:
            kind = "moved" if d["moved"] else "plain"
            pred = predict_inv_f(d, x)
            err = math.log(pred) - math.log(d["inv_f"])
            for c in CLASSES:
                grad[kind][c] += 2 * err * d["mix"][c] * x[kind][c] / pred
        for kind in logs:
            for c in CLASSES:
                grad[kind][c] += 2 * prior_weight * (logs[kind][c] - priors[kind][c])
                logs[kind][c] -= rate * grad[kind][c]
        # A class the moved fit never sees stays tied to the plain one's.
    return {kind: {c: math.exp(v) for c, v in logs[kind].items()} for kind in logs}


def spread(data, prior, prior_weight):
    """k: the largest factor error of each port predicted by a fit without it."""
    worst = 1.0
    for i, d in enumerate(data):
        rest = data[:i] + data[i + 1:]
        x = fit(rest, prior, prior_weight) if rest else prior_as_x(prior)
        err = abs(math.log(predict_inv_f(d, x)) - math.log(d["inv_f"]))
        worst = max(worst, math.exp(err))
    return worst


def prior_as_x(prior):
    return {kind: {c: 1.0 / prior[kind][c] for c in CLASSES} for kind in prior}


def speedup(d, inv_f):
    return 1.0 / max(1.0 - d["P"] + d["P"] * inv_f + d["X"], 1e-9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ports_json", help="the output of benches/ports.py --json")
    parser.add_argument("--runs-dir", required=True,
                        help="the --runs-dir benches/ports.py kept its run folders in")
    parser.add_argument("--prior-weight", type=float, default=0.3,
                        help="how strongly gains are pulled toward rules/scoring.toml's "
                             "(default 0.3)")
    args = parser.parse_args()
    with open(args.ports_json) as f:
        ports = json.load(f)
    plain, moved = prior_gains()
    prior = {"plain": plain, "moved": moved}
    data = observations(ports, args.runs_dir)
    if len(data) < 3:
        sys.exit("gains.py: %d usable ports; at least 3 are needed" % len(data))

    print("Leave-one-out: each port's range from gains fitted without it")
    print("%-28s %8s %7s %9s %17s %6s %8s" % (
        "port", "samples", "P", "measured", "estimate", "inside", "hi/lo"))
    inside = 0
    for i, d in enumerate(data):
        rest = data[:i] + data[i + 1:]
        x = fit(rest, prior, args.prior_weight)
        k = spread(rest, prior, args.prior_weight)
        inv_f = predict_inv_f(d, x)
        lo, hi = speedup(d, inv_f * k), speedup(d, inv_f / k)
        ok = lo <= d["measured"] <= hi
        inside += ok
        print("%-28s %8s %6.0f%% %8.1fx %7.1fx-%7.1fx %6s %7.2f" % (
            d["name"], d["samples"] or "-", 100 * d["P"], d["measured"], lo, hi,
            "yes" if ok else "NO", hi / lo))
    print("%d of %d measured speedups inside their left-out range" % (inside, len(data)))

    x = fit(data, prior, args.prior_weight)
    k = spread(data, prior, args.prior_weight)
    print()
    print("All ports: factor error k = %.2f (a gain's range is k^2 = %.2f wide)" % (k, k * k))
    print("# gains for [operations] in rules/scoring.toml")
    for c in CLASSES:
        g = 1.0 / x["plain"][c]
        gm = 1.0 / x["moved"][c]
        line = "%s: gain = [%.1f, %.1f]" % (c, g / k, g * k)
        if c in ("attribute", "call"):
            line += ", gain_moved = [%.1f, %.1f]" % (gm / k, gm * k)
        print(line)


if __name__ == "__main__":
    main()
