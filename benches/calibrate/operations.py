#!/usr/bin/env python3
"""What one operation of each class costs CPython on this machine: the `cpython_ns` of
rules/scoring.toml's [operations].

port-advisor weighs a candidate's lines by the time the sampler measured on each, and splits a
line's time among the operations the line performs (src/python/ops.rs counts them from its
syntax tree) in proportion to what each costs CPython. Only the ratios between classes matter
there; this script measures them instead of guessing.

Each class is timed as a statement inside a function, in a loop of `range(n)` with n = 20,000,
the statement repeated 10 times per iteration (so that the loop's own step is a small part),
minus the same loop with the statement replaced by `pass`. The operands are locals bound
before the loop, the types the class is most often seen with in the real-program corpus
(floats for arithmetic, lists for indexing, attributes of a plain object). A figure is the
median over 7 runs of the per-statement time, on the CPU clock of the measuring thread
(time.thread_time_ns), so that other programs on the machine change it less.

Usage:
  python3 benches/calibrate/operations.py [--python PYTHON] [--runs 7]

It prints one `class = ns` line per class, and the TOML to paste into [operations]. Run it
with the interpreter whose costs you want (pyenv's 3.11 for the shipped figures).
"""
import argparse
import json
import subprocess
import sys

# Each class: (setup lines, the statement). The statement is what one operation of the class
# looks like on a sampled line, plus the store of its result, which `store` prices alone.
CLASSES = {
    "arithmetic": ("a = 1.5; b = 2.25", "c = a * b"),
    "compare": ("a = 1.5; b = 2.25", "c = a < b"),
    "index": ("xs = [1.0] * 64; i = 7", "c = xs[i]"),
    "attribute": (
        "class P:\n        def __init__(s): s.x = 1.0\n    p = P()",
        "c = p.x",
    ),
    "call": ("def g(v):\n        return v\n    a = 1.0", "c = g(a)"),
    "builtin_call": ("xs = [1.0] * 8", "c = len(xs)"),
    "build": ("a = 1.0; b = 2.0", "c = [a, b]"),
    "slice": ("xs = [1.0] * 16", "c = xs[2:10]"),
    "lookup": ("d = {'k%d' % j: j for j in range(64)}; k = 'k7'", "c = k in d"),
    "text": ("w = 'word'; m = 3", "c = f'{w}-{m}'"),
    "iterate": ("xs = [1.0] * 10", "for c in xs: pass"),
    "store": ("a = 1.0", "c = a"),
}

TEMPLATE = """
import time
def bench(loops):
    {setup}
    t0 = time.thread_time_ns()
    for _ in range(loops):
{body}
    return time.thread_time_ns() - t0
"""

PROGRAM = r"""
import json, statistics, sys
classes = json.loads(sys.argv[1])
runs = int(sys.argv[2])
template = sys.argv[3]
n = 20000
out = {}
for name, (setup, stmt) in classes.items():
    times = []
    for body_stmt in (stmt, "pass"):
        # `for c in xs: pass` is one statement per line; ten of them make ten loops.
        body = "\n".join("        " + body_stmt for _ in range(10))
        space = {}
        exec(template.format(setup=setup, body=body), space)
        bench = space["bench"]
        bench(n // 10)  # warm up: CPython 3.11+ specialises the loop's instructions
        times.append(statistics.median(bench(n) for _ in range(runs)))
    per = (times[0] - times[1]) / (n * 10)
    if name == "iterate":
        per /= 10  # ten steps of a ten-element list per statement
    out[name] = round(max(per, 0.1), 2)
print(json.dumps(out))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    done = subprocess.run(
        [args.python, "-c", PROGRAM, json.dumps(CLASSES), str(args.runs), TEMPLATE],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit("operations.py: %s failed: %s" % (args.python, done.stderr.strip()[-500:]))
    costs = json.loads(done.stdout)
    version = subprocess.run(
        [args.python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print("CPython %s, ns per operation (store included in each but `store`):" % version)
    for name, ns in costs.items():
        print("  %-13s %6.2f" % (name, ns))
    print()
    print("# cpython_ns for [operations.*] in rules/scoring.toml:")
    for name, ns in costs.items():
        print("%s.cpython_ns = %.1f" % (name, ns))


if __name__ == "__main__":
    main()
