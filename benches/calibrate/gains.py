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
(kept with --runs-dir) and fits x_c = 1/g_c so that each port's predicted speedup
1 / (1 - P + P sum(m_c x_c) + X) matches its measured one, in log terms, pulled toward the gains
of benches/calibrate/prior.toml (a prior, fixed: the ports are fewer than the classes, and a
class no port exercises keeps its prior). A port's P is itself measured, with two standard errors E
(`portable_error`: the sampling noise of the run and of the native pass's ratios); a port whose
speedup depends steeply on P, near the limit its share allows, weighs less in the fit, as its
factor is known less well: without that, one such port (n-body, at 11.6x against the 11.1x
its 91% allows) was taken for a 300x factor and threw every gain off.

The range of every gain is the fit times and divided by k, the smallest factor error with which
every port's leave-one-out range contains its measured speedup, the range being the one
port-advisor computes: the factor's ends, P +- E (an object engine's top also takes the
interpreter's teardown T, which collects the objects its port never makes) and the crossing
cost between X and `conversion_uncertainty` X, each at its own bound, added in quadrature. A gain's range is k^2
wide. There are two k: one for the plain gains, found on the ports whose objects stay Python
objects, and one for `gain_moved`, found on the object engines (their classes move into the
port whole, and every class of theirs is priced by its moved gain), so that the two engines'
disagreement does not widen every other range. A port outside its range even at k = 1000 is
outside at any k: its share of the run is off, not its factor, and it is named as such and
left out of k.

With --fit factor the gains are fitted instead to the factor each port achieved on its
function, timed inside the function by benches/ports.py (`inside_python_seconds`,
`inside_port_seconds`): no share of the run stands between that and the gains, so a port near
its Amdahl limit informs them as well as any other. The ports are still validated, and k still
found, on their whole-program speedups. Either way each row also prints the factor the fit
without the port predicts (`F left`) beside the one timed inside (`F inside`): how far the
priced mix itself is off, apart from the share.

Validation, not fitting: for each port in turn it fits without that port (gains and k), prices
the port's operations with those gains, and prints the whole-program range so estimated next
to the speedup the port measured, `inside` when it contains it. The last lines give the fitted
gains as TOML for [operations] (cpython_ns stays as benches/calibrate/operations.py measured).

Usage:
  python3 benches/ports.py --json /tmp/ports.json --runs-dir /tmp/ports-runs
  python3 benches/ports.py --rate 250 --json /tmp/ports-250.json --runs-dir /tmp/ports-runs-250
  python3 benches/calibrate/gains.py /tmp/ports.json:/tmp/ports-runs \\
      /tmp/ports-250.json:/tmp/ports-runs-250 [--prior-weight 0.3] [--average]

With --average each port's runs are averaged into one observation first (see averaged()):
the run-to-run noise of the bench's timings then no longer sets k. One bench run can give
several profiles of each port (`benches/ports.py --profiles 3`), each its own observation
before --average:

  python3 benches/ports.py --profiles 3 --json /tmp/ports.json --runs-dir /tmp/ports-runs
  python3 benches/calibrate/gains.py --average /tmp/ports.json:/tmp/ports-runs
"""
import argparse
import functools
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

from benchlib import width_line  # noqa: E402

try:
    import tomllib
except ImportError:  # Python before 3.11
    tomllib = None

CLASSES = [
    "arithmetic", "compare", "index", "attribute", "call", "inlined_call", "builtin_call",
    "build", "slice", "lookup", "text", "iterate", "store",
]


def prior_gains():
    """The geometric middle of each class's gain in prior.toml, and gain_moved's."""
    if tomllib is None:
        sys.exit("gains.py: needs Python 3.11 or later (tomllib)")
    with open(os.path.join(HERE, "prior.toml"), "rb") as f:
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


# The timing noise of a measured speedup in log terms (interleaved rounds: the best and the
# paired median of the corpus's runs differ by up to 10%).
MEASURE_SIGMA = 0.05


@functools.lru_cache(maxsize=None)
def threshold(name):
    """A value of rules/scoring.toml's [thresholds], read once."""
    with open(os.path.join(REPO, "rules", "scoring.toml"), "rb") as f:
        return tomllib.load(f)["thresholds"][name]


def conversion_uncertainty():
    return threshold("conversion_uncertainty")


def observations(ports_json, runs_dir, mix_field="operations"):
    """One observation per report.json of each port: a bench run with --profiles N gives N,
    named `port@pK` after the first (its runs leave together, and --average makes them one)."""
    out = []
    for p in ports_json["ports"]:
        for k, report_path in enumerate(report_paths(p, runs_dir), 1):
            o = observation(p, report_path, mix_field)
            if o is not None:
                if k > 1:
                    o["name"] = "%s@p%d" % (p["name"], k)
                out.append(o)
    return out


def report_paths(p, runs_dir):
    """The port's report.json files, in the run folders kept in `runs_dir`: a bench run names
    them all (`reports`; a folder moved since is looked for by its name in `runs_dir`)."""
    names = [os.path.basename(os.path.dirname(r)) for r in p.get("reports") or []]
    return [os.path.join(runs_dir, name, "report.json") for name in names or [p["name"]]]


def observation(p, report_path, mix_field):
    """What one profile of a port says, beside the port's measured speedup; None (said) when
    the profile or the speedup is missing."""
    if not os.path.exists(report_path) or not p.get("measured"):
        print("  %-28s skipped: no %s or no measured speedup" % (p["name"], report_path))
        return None
    with open(report_path) as f:
        report = json.load(f)
    o = find_option(report, p["function"])
    if o is None or not o.get(mix_field):
        print("  %-28s skipped: the report has no %s mix for %s" % (
            p["name"], mix_field, p["function"]))
        return None
    share = o.get("portable_share") or o["time_share"] * (1 - o["native_share"])
    crossing = o.get("crossing_share") or 0.0
    # The median of the rounds' paired ratios holds under load better than best against
    # best (a loaded machine slows the long unported runs more).
    s = p.get("paired") or p["measured"]
    mix = {c: 0.0 for c in CLASSES}
    for entry in o[mix_field]:
        mix[entry["op"]] = entry["share"]
    # The factor the port achieved on the function itself (`use_port.py --inside`), as
    # the model's factor: of the boundary's interpreted time, its native share and its
    # crossings apart (1/F_inside = (1 - n)/F + n + crossings per unit of its time).
    direct = None
    inside_py, inside_port = p.get("inside_python_seconds"), p.get("inside_port_seconds")
    if inside_py and inside_port and o["time_share"] > 0:
        n = o.get("native_share") or 0.0
        per_time = crossing / o["time_share"]
        inv = (inside_port / inside_py - n - per_time) / max(1.0 - n, 1e-9)
        direct = 1.0 / inv if inv > 0 else None
    return {
        "name": p["name"], "measured": s, "P": share, "X": crossing, "direct": direct,
        "E": o.get("portable_error") or 0.0, "mix": mix,
        # An engine's top also holds the interpreter's teardown, which collects the
        # objects a port never makes.
        "T": o.get("teardown_share") or 0.0,
        # The C library's math under it, native, but faster called from the port: the top
        # saves up to all but `native_math_in_port` of it.
        "M": o.get("native_math_share") or 0.0,
        # A port that releases the GIL runs its threads at once: the advice multiplies
        # the factor by the threads that can run in parallel, and so does this.
        "parallel": ((o.get("gil") or {}).get("parallel") or 1),
        "moved": o.get("code_kind") == "object engine",
        # Its loops' float recurrences: the least time after the port per unit before.
        "floor": o.get("chain_floor") or 0.0,
        "samples": report.get("run_samples") or p.get("samples"), "estimate": p.get("estimate"),
        "measured_best": p["measured"],
    }


def kind_of(obs):
    """Which gains price every class of this port: `moved` (`gain_moved`) when the program's
    classes move into the port whole, else `plain` (`gain`). Fitted apart: pricing the
    engines' other classes with the plain gains put the plain k at 4."""
    return "moved" if obs["moved"] else "plain"


def priced_inv(obs, x):
    """The time after the port per unit before that the gains price, before any floor."""
    xs = x[kind_of(obs)]
    return sum(obs["mix"][c] * xs[c] for c in CLASSES)


def predict_inv_f(obs, x):
    """As port-advisor prices it: the gains' time, but never under the floor that the float
    recurrences of the boundary's loops set (`chain_floor`), over the threads run at once."""
    return max(priced_inv(obs, x), obs["floor"]) / obs["parallel"]


def remaining(d, inv_f, share=None, crossing=None):
    """The run left after the port, as a share of the run before: 1/speedup."""
    p = d["P"] if share is None else share
    x = d["X"] if crossing is None else crossing
    return max(1.0 - p + p * inv_f + x, 1e-9)


def sigma(d, inv_f):
    """The error of a port's log speedup: its timing's and its share's (E is two SE)."""
    slope = (1.0 - inv_f) / remaining(d, inv_f)
    return math.hypot(MEASURE_SIGMA, d["E"] / 2 * slope)


def fit(data, prior, prior_weight, steps=4000, rate=0.05, target="speedup"):
    """Log-space least squares of the ports' speedups, each weighed by how well its share of
    the run pins its factor down, with a pull toward the prior gains; with target="factor",
    of the factors the ports achieved on their functions (timed inside), each weighed alike."""
    logs = {kind: {c: -math.log(prior[kind][c]) for c in CLASSES} for kind in ("plain", "moved")}
    priors = {kind: dict(logs[kind]) for kind in logs}
    for _ in range(steps):
        grad = {kind: {c: 0.0 for c in CLASSES} for kind in logs}
        x = {kind: {c: math.exp(v) for c, v in logs[kind].items()} for kind in logs}
        for d in data:
            kind = kind_of(d)
            inv_f = predict_inv_f(d, x)
            if priced_inv(d, x) < d["floor"]:
                # The floor binds: no gain moves this port's prediction.
                continue
            if target == "factor":
                if not d.get("direct"):
                    continue
                err = math.log(inv_f) + math.log(d["direct"])
                for c in CLASSES:
                    # d(ln inv_f)/d(ln x_c) = m_c x_c / (parallel inv_f)
                    dlog = d["mix"][c] * x[kind][c] / d["parallel"] / inv_f
                    grad[kind][c] += 2 * err * dlog
                continue
            r = remaining(d, inv_f)
            err = -math.log(r) - math.log(d["measured"])
            weight = (MEASURE_SIGMA / sigma(d, inv_f)) ** 2
            for c in CLASSES:
                # d(-ln r)/d(ln x_c) = -P m_c x_c / (parallel r)
                dlog = -d["P"] * d["mix"][c] * x[kind][c] / d["parallel"] / r
                grad[kind][c] += 2 * weight * err * dlog
        for kind in logs:
            for c in CLASSES:
                grad[kind][c] += 2 * prior_weight * (logs[kind][c] - priors[kind][c])
                logs[kind][c] -= rate * grad[kind][c]
    return {kind: {c: math.exp(v) for c, v in logs[kind].items()} for kind in logs}


def speedup_range(d, inv_f, k, uncertainty):
    """The whole-program range port-advisor gives: the saving's middle widened by the factor
    (times and divided by k), the share (P - E to P + E, and an engine's teardown T on top)
    and the crossing cost (X to uncertainty X), each at its own bound, in quadrature."""
    def saved(inv, p, x):
        return p - p * inv - x
    mid_x = d["X"] * (1 + uncertainty) / 2
    mid = saved(inv_f, d["P"], mid_x)
    ends = [
        (saved(inv_f * k, d["P"], mid_x), saved(inv_f / k, d["P"], mid_x)),
        (saved(inv_f, max(d["P"] - d["E"], 0.0), mid_x),
         saved(inv_f, min(d["P"] + d["E"] + d["T"], 1.0), mid_x)),
        (saved(inv_f, d["P"], d["X"] * uncertainty), saved(inv_f, d["P"], d["X"])),
        (mid, mid + d["M"] * (1 - threshold("native_math_in_port"))),
    ]
    below = math.sqrt(sum(min(min(a, b) - mid, 0.0) ** 2 for a, b in ends))
    above = math.sqrt(sum(max(max(a, b) - mid, 0.0) ** 2 for a, b in ends))
    amdahl = lambda s: 1.0 / max(1.0 - s, 1e-9)
    return amdahl(mid - below), amdahl(mid + above)


# A factor error past which a port's range is taken to hold nothing more: a port outside its
# range at this k is outside at any, and its share of the run, not its factor, is what is off.
K_MAX = 1000.0


def needed_k(d, inv_f, uncertainty):
    """The smallest factor error whose range holds the port's measured speedup; None when
    none does."""
    def holds(k):
        return inside(d, speedup_range(d, inv_f, k, uncertainty))
    lo, hi = 1.0, K_MAX
    if holds(lo):
        return 1.0
    if not holds(hi):
        return None
    for _ in range(60):
        k = math.sqrt(lo * hi)
        if holds(k):
            hi = k
        else:
            lo = k
    return hi


def inside(d, span):
    return span[0] <= d["measured"] <= span[1]


def spread(data, prior, prior_weight, uncertainty, target="speedup"):
    """ks: for each kind of gain, the factor error that puts each port priced by it,
    predicted by a fit without it, inside its range: first `plain`, from the ports whose
    classes stay Python objects, and `moved`, from those whose classes move into the port (a
    kind no port has takes the other's). A port outside at any k is left out of k (see
    K_MAX); the table shows it outside."""
    ks = {"plain": 1.0, "moved": 1.0}
    for d in data:
        rest = without(data, d)
        x = fit(rest, prior, prior_weight, target=target) if rest else prior_as_x(prior)
        k = needed_k(d, predict_inv_f(d, x), uncertainty)
        if k is not None:
            ks[kind_of(d)] = max(ks[kind_of(d)], k)
    for kind, other in (("plain", "moved"), ("moved", "plain")):
        if not any(kind_of(d) == kind for d in data):
            ks[kind] = ks[other]
    return ks


def averaged(data):
    """One observation per port from its runs (several ports.json files, names suffixed
    `@run`): the geometric mean of the measured speedups and of the factors timed inside, the
    mean of the shares, crossings, teardown, floor and mix, and the error of a mean of the
    runs' shares. The same port's speedup moves by up to 1.5x from run to run (its factor
    timed inside by 2x), more than a factor error that keeps a range 3x wide allows; averaged,
    that noise no longer sets k."""
    by_port = {}
    for d in data:
        by_port.setdefault(port_of(d), []).append(d)
    out = []
    for name, runs in by_port.items():
        n = len(runs)
        geo = lambda values: math.exp(sum(math.log(v) for v in values) / len(values))
        a = dict(runs[0])
        a["name"] = "%s(%d)" % (name, n) if n > 1 else name
        a["measured"] = geo([d["measured"] for d in runs])
        for key in ("P", "X", "T", "M", "floor"):
            a[key] = sum(d[key] for d in runs) / n
        a["E"] = math.sqrt(sum(d["E"] ** 2 for d in runs)) / n
        direct = [d["direct"] for d in runs if d.get("direct")]
        a["direct"] = geo(direct) if direct else None
        a["mix"] = {c: sum(d["mix"][c] for d in runs) / n for c in CLASSES}
        a["samples"] = sum(d.get("samples") or 0 for d in runs)
        out.append(a)
    return out


def without(data, left_out):
    """The observations of every other port: runs of the same port (several ports.json files,
    their names suffixed `@run`) leave together, or their twin would vouch for them."""
    return [d for d in data if port_of(d) != port_of(left_out)]


def port_of(d):
    return d["name"].split("@")[0]


def prior_as_x(prior):
    return {kind: {c: 1.0 / prior[kind][c] for c in CLASSES} for kind in prior}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="PORTS_JSON:RUNS_DIR",
                        help="the --json output of a benches/ports.py run and the --runs-dir it "
                             "kept its run folders in; several runs (at other sampling rates, "
                             "say) are fitted together, each port's runs left out together")
    parser.add_argument("--mix", choices=("operations", "executed"), default="operations",
                        help="the mix each port is priced by: `operations`, read from its "
                             "lines, or `executed`, counted by the probe's instruction windows "
                             "(runs on CPython 3.12 and later; every call is `call`)")
    parser.add_argument("--fit", choices=("speedup", "factor"), default="speedup",
                        help="what the gains are fitted to: `speedup`, each port's measured "
                             "whole-program speedup through its measured share of the run, or "
                             "`factor`, the factor its port achieved on the function itself "
                             "(timed inside by benches/ports.py); ports are validated on their "
                             "whole-program speedups either way")
    parser.add_argument("--average", action="store_true",
                        help="average each port's runs into one observation before fitting "
                             "and validating (see averaged()); its samples are the runs' sum")
    parser.add_argument("--prior-weight", type=float, default=0.3,
                        help="how strongly gains are pulled toward prior.toml's "
                             "(default 0.3)")
    args = parser.parse_args()
    plain, moved = prior_gains()
    prior = {"plain": plain, "moved": moved}
    data = []
    for n, run in enumerate(args.runs, 1):
        ports_json, sep, runs_dir = run.rpartition(":")
        if not sep or not ports_json:
            sys.exit("gains.py: %s: give PORTS_JSON:RUNS_DIR" % run)
        with open(ports_json) as f:
            ports = json.load(f)
        for d in observations(ports, runs_dir, args.mix):
            if len(args.runs) > 1:
                d["name"] += "@%d" % n
            data.append(d)
    if args.average:
        data = averaged(data)
    uncertainty = conversion_uncertainty()
    if len(data) < 3:
        sys.exit("gains.py: %d usable ports; at least 3 are needed" % len(data))

    print("Leave-one-out: each port's range from gains fitted without it (F: the factor on "
          "the function, left out against timed inside; k: the factor error of the port's "
          "kind of gains, plain or moved)")
    print("%-28s %8s %7s %9s %17s %6s %8s %6s %8s %8s" % (
        "port", "samples", "P", "measured", "estimate", "inside", "hi/lo", "k", "F left",
        "F inside"))
    inside_count = 0
    hopeless = []
    widths = []  # (samples, high / low) of each left-out range
    for d in data:
        rest = without(data, d)
        x = fit(rest, prior, args.prior_weight, target=args.fit)
        ks = spread(rest, prior, args.prior_weight, uncertainty, target=args.fit)
        inv_f = predict_inv_f(d, x)
        lo, hi = speedup_range(d, inv_f, ks[kind_of(d)], uncertainty)
        ok = lo <= d["measured"] <= hi
        inside_count += ok
        widths.append((d["samples"], hi / lo))
        if not ok and needed_k(d, inv_f, uncertainty) is None:
            hopeless.append(d["name"])
        print("%-28s %8s %6.0f%% %8.1fx %7.1fx-%7.1fx %6s %7.2f %6.2f %7.1fx %8s" % (
            d["name"], d["samples"] or "-", 100 * d["P"], d["measured"], lo, hi,
            "yes" if ok else "NO", hi / lo, ks[kind_of(d)], d["parallel"] / inv_f,
            "%.1fx" % d["direct"] if d.get("direct") else "-"))
    print("%d of %d measured speedups inside their left-out range" % (inside_count, len(data)))
    print(width_line(widths, "left-out ranges"))
    if hopeless:
        print("outside at any factor error (the share of the run is off, not the factor): %s"
              % ", ".join(hopeless))

    x = fit(data, prior, args.prior_weight, target=args.fit)
    ks = spread(data, prior, args.prior_weight, uncertainty, target=args.fit)
    print()
    print("All ports: factor error k = %.2f for the plain gains, %.2f for the moved ones (a "
          "gain's range is k^2 wide)" % (ks["plain"], ks["moved"]))
    print("# gains for [operations] in rules/scoring.toml")
    for c in CLASSES:
        g = 1.0 / x["plain"][c]
        gm = 1.0 / x["moved"][c]
        kp, km = ks["plain"], ks["moved"]
        line = "%s: gain = [%.1f, %.1f]" % (c, g / kp, g * kp)
        line += ", gain_moved = [%.1f, %.1f]" % (gm / km, gm * km)
        print(line)


if __name__ == "__main__":
    main()
