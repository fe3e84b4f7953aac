"""Fleet-sized profiles: is the advice the cheap step, on every shape of stacks?

Generates collapsed stacks (py-spy `--format raw` frames, `name (file:line)`, counts 1 to 19
drawn evenly) in several shapes, at 100,000, 1,000,000 and 3,000,000 unique stacks, and times
on the same files, in the same run, one after the other:

- `port-advisor report FILE --format json --no-readiness` (read, analyze, advise);
- `port-advisor merge DIR -o merged.json --quiet`: the same stacks as a fleet of hosts, one
  file of 10,000 stacks per host (10, 100 and 300 files), folded into one profile;
- `inferno-flamegraph FILE` (the peer: drawing the same file), the version Cargo.lock pins,
  installed into target/bench-tools by `cargo install` when missing.

The shapes (`--shapes` picks some; each is deterministic, seeded):

| shape | frames per stack | distinct functions | what it is |
|---|---|---|---|
| wide | 3 to 7 | 50,000 under 2,000 handlers | wide and flat: a web service, many short paths |
| deep | 33 to 81 | about 400 | deep and narrow: long shared trunks, recursion near the leaf |
| many | 8 to 24 | 100,000 in 5,000 modules | many distinct functions: a monorepo fleet |
| few | 8 to 24 | 40 in 4 modules | few functions, stacks told apart by lines and order |
| modules | 8 to 24 | 20,000 in 1,000 modules | a user's fleet file, where report once took 2x inferno |

Each shape's files are prefixes of one another (the first 10 hosts are the 100k file, the first
100 the 1M one): growing a fleet adds hosts. They are kept in target/bench-data/fleet (about
14 GB for all five shapes at the three sizes, and as much as the largest file again while
merge's hosts are cut from it: `--sizes 100000,1000000` for less; `--clean` removes them).

How to read it: one row per shape and size, with wall seconds (median of `--rounds`), CPU
seconds (user and system, in brackets) and peak resident memory (MiB, the largest of the
rounds, from /usr/bin/time) of each command; `ratio` is report's wall time over inferno's and
`cpu` its CPU time over inferno's (on a busy machine wall time also counts the waits for a
core, which CPU time leaves out; report uses a second core for part of its analysis, so its
CPU time may exceed its wall time). Then per shape the growth of report's time and memory
from 100k to 1M and from 1M to 3M (10x and 3x the stacks: linear cost is 10x and 3x). The
targets checked at the end: at 1M stacks, report at most 0.6x inferno's time and
at most 500 MiB; from 1M to 3M, report's time and memory grow at most 3.3x. The exit code is
1 when one fails. Times are of a shared 2-core machine: the ratios, taken in the same run, are
what to compare; the load average at the start and end is printed.

    python3 benches/fleet_scale.py                         # all, about an hour the first time
    python3 benches/fleet_scale.py --shapes deep --sizes 100000,1000000 --rounds 3
    python3 benches/fleet_scale.py --self-check            # seconds: tiny files, no inferno
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

DATA_DIR = os.path.join(benchlib.REPO_ROOT, "target", "bench-data", "fleet")
TOOLS = os.path.join(benchlib.REPO_ROOT, "target", "bench-tools")
HOST_STACKS = 10_000
SIZES = (100_000, 1_000_000, 3_000_000)
TIME_RATIO = 0.6
MEMORY_MIB = 500
GROWTH = 3.3


def functions(rng, count, modules, root="/app"):
    """`count` functions as (name, file, first line) spread over `modules` files."""
    files = ["%s/p%d/m%d.py" % (root, i % 97, i) for i in range(modules)]
    return [(("fn_%d" % i), files[i % modules], rng.randint(1, 2000)) for i in range(count)]


def label(fn, offset):
    name, file, line = fn
    return "%s (%s:%d)" % (name, file, line + offset)


class Shape(object):
    def __init__(self, name, describe, make):
        self.name = name
        self.describe = describe
        self.make = make


def wide(rng):
    handlers = functions(rng, 2000, 400, "/app/views")
    leaves = functions(rng, 50_000, 2500)
    root = "<module> (/app/main.py:1);serve (/app/main.py:40)"

    def stack():
        parts = [root, label(rng.choice(handlers), rng.randint(0, 5))]
        for _ in range(rng.randint(1, 5)):
            parts.append(label(rng.choice(leaves), rng.randint(0, 3)))
        return ";".join(parts)

    return stack


def deep(rng):
    trunk_fns = functions(rng, 300, 60, "/app/core")
    # A few dozen long trunks (framework, middleware, dispatch), each a fixed path.
    trunks = []
    for _ in range(40):
        depth = rng.randint(24, 48)
        trunks.append(";".join(label(rng.choice(trunk_fns), rng.randint(0, 5)) for _ in range(depth)))
    recursive = functions(rng, 12, 3, "/app/parse")
    leaves = functions(rng, 100, 20, "/app/eval")

    def stack():
        parts = [rng.choice(trunks)]
        for _ in range(rng.randint(8, 32)):
            parts.append(label(rng.choice(recursive), rng.randint(0, 9)))
        parts.append(label(rng.choice(leaves), rng.randint(0, 20)))
        return ";".join(parts)

    return stack


def independent(count, modules, lines):
    def make(rng):
        fns = functions(rng, count, modules)
        root = "<module> (/app/main.py:1);main (/app/main.py:10)"

        def stack():
            parts = [root]
            for _ in range(rng.randint(6, 22)):
                parts.append(label(rng.choice(fns), rng.randint(0, lines)))
            return ";".join(parts)

        return stack

    return make


SHAPES = [
    Shape("wide", "3-7 frames, 50,000 functions under 2,000 handlers", wide),
    Shape("deep", "33-81 frames, ~400 functions, long shared trunks", deep),
    Shape("many", "8-24 frames, 100,000 functions in 5,000 modules", independent(100_000, 5_000, 3)),
    Shape("few", "8-24 frames, 40 functions in 4 modules", independent(40, 4, 300)),
    Shape("modules", "8-24 frames, 20,000 functions in 1,000 modules", independent(20_000, 1000, 20)),
]


def generate(shape, stacks, path):
    """Writes `stacks` unique stacks of `shape` to `path`. The file depends only on the shape's
    seed, so a smaller one is a prefix of a larger one: copied from it when it exists."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    larger = sorted(
        int(n.split(".")[0]) for n in os.listdir(folder) if n.endswith(".folded") and n.split(".")[0].isdigit()
    )
    larger = [n for n in larger if n > stacks]
    with open(path + ".tmp", "w") as out:
        if larger:
            with open(os.path.join(folder, "%d.folded" % larger[0])) as source:
                for _, line in zip(range(stacks), source):
                    out.write(line)
        else:
            benchlib.progress("generating %s stacks of shape %s ..." % ("{:,}".format(stacks), shape.name))
            rng = random.Random("fleet-" + shape.name)
            stack = shape.make(rng)
            seen = set()
            written = 0
            while written < stacks:
                key = stack()
                h = hash(key)
                if h in seen:
                    continue
                seen.add(h)
                out.write("%s %d\n" % (key, rng.randint(1, 19)))
                written += 1
    os.replace(path + ".tmp", path)


def dataset(shape, stacks, data_dir):
    """The file of `stacks` stacks of `shape`, generated when missing."""
    path = os.path.join(data_dir, shape.name, "%d.folded" % stacks)
    if not os.path.exists(path):
        generate(shape, stacks, path)
    return path


def fleet_of(path):
    """`path` cut into hosts of 10,000 consecutive stacks each, in a new folder: what `merge`
    reads. Made for the measurement and removed after it (see `fleet_done`)."""
    folder = path + ".hosts"
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    out = None
    with open(path) as source:
        for i, line in enumerate(source):
            if i % HOST_STACKS == 0:
                if out:
                    out.close()
                out = open(os.path.join(folder, "host%04d.txt" % (i // HOST_STACKS)), "w")
            out.write(line)
    if out:
        out.close()
    return folder


def fleet_done(folder):
    shutil.rmtree(folder, ignore_errors=True)


def inferno_version():
    with open(os.path.join(benchlib.REPO_ROOT, "Cargo.lock")) as f:
        lock = f.read()
    for block in lock.split("[[package]]"):
        if 'name = "inferno"' in block:
            for line in block.splitlines():
                if line.startswith("version = "):
                    return line.split('"')[1]
    return None


def inferno():
    version = inferno_version()
    exe = os.path.join(TOOLS, "bin", "inferno-flamegraph")
    stamp = os.path.join(TOOLS, "inferno-version")
    if os.path.exists(exe) and os.path.exists(stamp) and open(stamp).read().strip() == version:
        return exe, version
    benchlib.progress("installing inferno %s into target/bench-tools ..." % version)
    done = subprocess.run(
        ["cargo", "install", "inferno", "--version", version, "--locked", "--force", "--root", TOOLS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        benchlib.progress("cannot install inferno: %s" % done.stderr.strip().splitlines()[-1])
        return None, version
    with open(stamp, "w") as f:
        f.write(version + "\n")
    return exe, version


def run_timed(command):
    """Wall seconds, peak RSS (MiB) and CPU seconds (user and system) of one run of `command`."""
    done = subprocess.run(
        [benchlib.GNU_TIME, "-f", "%e %M %U %S"] + command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        benchlib.fail("%s failed:\n%s" % (" ".join(command), done.stderr[-2000:]))
    wall, kib, user, system = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024.0, float(user) + float(system)


def warm(path):
    """Reads `path` once, so that the first command timed finds it in the page cache like the
    others: a 3M-stack file read after the 5 GB deep one and inferno's 8 GB came from disk, and
    report, timed first, took 2.46 s where it takes 1.6 s."""
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass


def measure(commands, rounds):
    """Each command `rounds` times, interleaved (round r runs them starting from the r-th), so
    a drift of the machine spreads over all. Median seconds and largest peak MiB of each."""
    runs = {name: [] for name in commands}
    names = list(commands)
    for r in range(rounds):
        for i in range(len(names)):
            name = names[(i + r) % len(names)]
            runs[name].append(run_timed(commands[name]))
    return {
        name: (statistics.median(r[0] for r in rs), max(r[1] for r in rs), statistics.median(r[2] for r in rs))
        for name, rs in runs.items()
    }


def loadavg():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "?"


def cell(value):
    """Wall seconds, CPU seconds in brackets, peak MiB."""
    return "%6.2f s (%6.2f) %5.0f MiB" % (value[0], value[2], value[1]) if value else "%26s" % "-"


def self_check(binary):
    """Tiny files of every shape through report and merge: the bench still runs."""
    global HOST_STACKS
    HOST_STACKS = 200
    folder = tempfile.mkdtemp(prefix="fleet-self-check-")
    try:
        for shape in SHAPES:
            small = dataset(shape, 300, folder)
            whole = dataset(shape, 600, folder)
            with open(whole) as f, open(small) as g:
                lines = f.readlines()
                assert len(lines) == 600 and g.readlines() == lines[:300], shape.name
            fleet = fleet_of(whole)
            assert len(os.listdir(fleet)) == 3, shape.name
            run_timed([binary, "report", whole, "--format", "json", "--no-readiness"])
            run_timed([binary, "merge", fleet, "-o", os.path.join(folder, "m.json"), "--quiet"])
        print("fleet_scale self-check: %d shapes, report and merge ran" % len(SHAPES))
    finally:
        shutil.rmtree(folder)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(s.name for s in SHAPES))
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--rounds", type=int, default=1, help="runs of each command (median)")
    parser.add_argument("--no-merge", action="store_true", help="time report and inferno only")
    parser.add_argument("--binary", default=benchlib.DEFAULT_BIN)
    parser.add_argument("--self-check", action="store_true", help="tiny files, no inferno")
    parser.add_argument("--clean", action="store_true", help="remove the generated files")
    args = parser.parse_args()
    if args.clean:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
        return 0
    benchlib.ensure_binary(args.binary, build=not args.self_check)
    if args.self_check:
        return self_check(args.binary)
    shapes = [s for s in SHAPES if s.name in args.shapes.split(",")]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    peer, version = inferno()
    merged = os.path.join(DATA_DIR, "merged.json")
    start_load = loadavg()

    results = {}
    for shape in shapes:
        for stacks in sorted(sizes, reverse=True):
            dataset(shape, stacks, DATA_DIR)
        for stacks in sizes:
            whole = dataset(shape, stacks, DATA_DIR)
            fleet = None if args.no_merge else fleet_of(whole)
            commands = {"report": [args.binary, "report", whole, "--format", "json", "--no-readiness"]}
            if peer:
                commands["inferno"] = [peer, whole]
            if not args.no_merge:
                commands["merge"] = [args.binary, "merge", fleet, "-o", merged, "--quiet"]
            benchlib.progress("timing %s at %d stacks ..." % (shape.name, stacks))
            warm(whole)
            got = measure(commands, args.rounds)
            if fleet:
                fleet_done(fleet)
            got["mb"] = os.path.getsize(whole) / 1e6
            results[(shape.name, stacks)] = got
            r = got["report"]
            i = got.get("inferno")
            benchlib.progress(
                "  report %s, inferno %s, merge %s" % (cell(r), cell(i), cell(got.get("merge")))
            )

    print()
    print("load average at start: %s, at end: %s; inferno-flamegraph %s" % (start_load, loadavg(), version))
    print()
    print(
        "%-6s %10s %6s  %-26s %-26s %-26s %6s %6s"
        % ("shape", "stacks", "MB", "report", "inferno-flamegraph", "merge (hosts)", "ratio", "cpu")
    )
    for shape in shapes:
        for stacks in sizes:
            got = results[(shape.name, stacks)]
            r, i, m = got["report"], got.get("inferno"), got.get("merge")
            ratio = "%5.2fx" % (r[0] / i[0]) if i else "-"
            cpu = "%5.2fx" % (r[2] / i[2]) if i and i[2] > 0 else "-"
            print(
                "%-6s %10s %6.0f  %s %s %s %6s %6s"
                % (shape.name, "{:,}".format(stacks), got["mb"], cell(r), cell(i), cell(m), ratio, cpu)
            )
    print()
    print("report's growth, time and memory:")
    checks = []
    for shape in shapes:
        steps = []
        for a, b in zip(sizes, sizes[1:]):
            (ta, ma, _), (tb, mb, _) = results[(shape.name, a)]["report"], results[(shape.name, b)]["report"]
            gt, gm = tb / max(ta, 1e-3), mb / ma
            steps.append("%s->%s: %.2fx, %.2fx" % (short(a), short(b), gt, gm))
            if (a, b) == (1_000_000, 3_000_000):
                checks.append(("%s: 1M->3M time at most %.1fx" % (shape.name, GROWTH), gt <= GROWTH, "%.2fx" % gt))
                checks.append(("%s: 1M->3M memory at most %.1fx" % (shape.name, GROWTH), gm <= GROWTH, "%.2fx" % gm))
        print("  %-6s %s" % (shape.name, "; ".join(steps)))
        at_1m = results.get((shape.name, 1_000_000))
        if at_1m:
            t, m, _ = at_1m["report"]
            if at_1m.get("inferno"):
                ratio = t / at_1m["inferno"][0]
                checks.append(("%s: 1M report at most %.1fx inferno" % (shape.name, TIME_RATIO), ratio <= TIME_RATIO, "%.2fx" % ratio))
            checks.append(("%s: 1M report at most %d MiB" % (shape.name, MEMORY_MIB), m <= MEMORY_MIB, "%.0f MiB" % m))
    print()
    for what, ok, value in checks:
        print("target: %-42s %s (%s)" % (what, "PASS" if ok else "FAIL", value))
    return 0 if all(ok for _, ok, _ in checks) else 1


def short(n):
    return "%dM" % (n // 1_000_000) if n >= 1_000_000 else "%dk" % (n // 1000)


if __name__ == "__main__":
    sys.exit(main())
