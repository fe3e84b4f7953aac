"""Fleet-sized profiles: does the advice keep up with a merged production profile?

Generates synthetic collapsed stacks (py-spy `--format raw` style frames, a skewed distribution
of hot paths over 4,000 functions in 300 files, depths 8 to 32) at two sizes, by default
100,000 and 1,000,000 unique stacks carrying 1 and 10 million samples, and times, side by side
on the same files:

- `port-advisor report FILE --format json` (read, analyze, advise);
- `port-advisor merge` of the large file cut into 10 parts (the fleet path: many files folded
  into one, memory bounded by the unique stacks);
- `inferno-flamegraph FILE` (the peer: rendering the same folded input), installed into
  target/bench-tools with `cargo install inferno --locked` when missing.

It prints wall time and peak memory of each, the ratios, and checks the targets: the 1M-stack
analysis under 10 s and 2 GiB, and linear cost (10x the input, at most 11x the time).

    python3 benches/fleet_scale.py                  # defaults, about 3 minutes
    python3 benches/fleet_scale.py --stacks 200000 --rounds 1

Run it on a quiet machine: other work on the 2 cores shows up as time.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

DATA_DIR = os.path.join(benchlib.REPO_ROOT, "target", "bench-data")
TOOLS = os.path.join(benchlib.REPO_ROOT, "target", "bench-tools")


def generate(path, stacks, samples, seed=42):
    """Writes `stacks` unique collapsed stacks whose counts add up to about `samples`."""
    rng = random.Random(seed)
    files = ["/srv/app/pkg%d/mod%d.py" % (i % 40, i) for i in range(300)]
    functions = [(rng.choice(files), "fn_%d" % i, rng.randint(1, 900)) for i in range(4000)]
    weights = [1.0 / (i + 1) ** 1.1 for i in range(stacks)]
    total = sum(weights)
    seen = set()
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        written = 0
        while written < stacks:
            frames = ["<module> (/srv/app/main.py:1)", "main (/srv/app/main.py:10)"]
            for _ in range(rng.randint(6, 30)):
                index = int(rng.paretovariate(1.2)) * 7 + rng.randint(0, 50)
                file, name, line = functions[min(index, len(functions) - 1)]
                frames.append("%s (%s:%d)" % (name, file, line + rng.randint(0, 20)))
            key = ";".join(frames)
            if key in seen:
                continue
            seen.add(key)
            count = max(1, int(samples * weights[written] / total))
            out.write("%s %d\n" % (key, count))
            written += 1
    os.replace(tmp, path)


def dataset(stacks, samples):
    os.makedirs(DATA_DIR, exist_ok=True)
    path = os.path.join(DATA_DIR, "fleet-%d-%d.folded" % (stacks, samples))
    if not os.path.exists(path):
        print("generating %s ..." % os.path.relpath(path, benchlib.REPO_ROOT), file=sys.stderr)
        generate(path, stacks, samples)
    return path


def split(path, parts):
    """The file cut into `parts` files of interleaved lines: a fleet of hosts that each saw
    some of the stacks."""
    folder = path + ".parts%d" % parts
    if os.path.isdir(folder):
        return folder
    os.makedirs(folder + ".tmp", exist_ok=True)
    outs = [open(os.path.join(folder + ".tmp", "host%02d.txt" % i), "w") for i in range(parts)]
    with open(path) as f:
        for i, line in enumerate(f):
            outs[i % parts].write(line)
    for o in outs:
        o.close()
    os.replace(folder + ".tmp", folder)
    return folder


def inferno():
    exe = os.path.join(TOOLS, "bin", "inferno-flamegraph")
    if os.path.exists(exe):
        return exe
    print("installing inferno into target/bench-tools ...", file=sys.stderr)
    done = subprocess.run(
        ["cargo", "install", "inferno", "--locked", "--root", TOOLS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        print("cannot install inferno: %s" % done.stderr.strip().splitlines()[-1], file=sys.stderr)
        return None
    return exe


def measure(command, rounds):
    """Median wall seconds and the largest peak RSS (MiB) of `rounds` runs of `command`."""
    seconds, rss = [], []
    for _ in range(rounds):
        done = subprocess.run(
            [benchlib.GNU_TIME, "-f", "%e %M"] + command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if done.returncode != 0:
            benchlib.fail("%s failed:\n%s" % (" ".join(command), done.stderr[-2000:]))
        wall, kib = done.stderr.strip().splitlines()[-1].split()
        seconds.append(float(wall))
        rss.append(int(kib) / 1024.0)
    return statistics.median(seconds), max(rss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=1_000_000, help="unique stacks of the large profile")
    parser.add_argument("--samples-per-stack", type=int, default=10, help="samples per unique stack")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--binary", default=benchlib.DEFAULT_BIN)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=benchlib.REPO_ROOT, check=True)

    small_stacks = args.stacks // 10
    small = dataset(small_stacks, small_stacks * args.samples_per_stack)
    large = dataset(args.stacks, args.stacks * args.samples_per_stack)
    parts = split(large, 10)
    peer = inferno()
    merged = os.path.join(DATA_DIR, "merged.json")

    rows = []
    for label, path, stacks in (("small", small, small_stacks), ("large", large, args.stacks)):
        report = measure([args.binary, "report", path, "--format", "json", "--no-readiness"], args.rounds)
        flame = measure([peer, path], args.rounds) if peer else None
        rows.append((label, stacks, report, flame))
    merge = measure([args.binary, "merge", parts, "-o", merged, "--quiet"], args.rounds)

    print()
    print("%-7s %10s  %24s  %24s  %8s" % ("input", "stacks", "port-advisor report", "inferno-flamegraph", "ratio"))
    for label, stacks, (t, m), flame in rows:
        peer_cell = "%7.2f s %8.0f MiB" % flame if flame else "%24s" % "not installed"
        ratio = "%7.2fx" % (t / flame[0]) if flame else "-"
        print("%-7s %10d  %7.2f s %8.0f MiB  %24s  %8s" % (label, stacks, t, m, peer_cell, ratio))
    print("merge of the large input in 10 files: %.2f s, %.0f MiB" % merge)

    (_, _, (t_small, _), _), (_, _, (t_large, m_large), _) = rows
    growth = t_large / t_small if t_small > 0 else float("inf")
    checks = [
        ("analysis of %d stacks under 10 s" % args.stacks, t_large < 10.0, "%.2f s" % t_large),
        ("and under 2 GiB", m_large < 2048, "%.0f MiB" % m_large),
        ("10x the input, at most 11x the time", growth <= 11.0, "%.1fx" % growth),
    ]
    print()
    for what, ok, value in checks:
        print("target: %-40s %s (%s)" % (what, "PASS" if ok else "FAIL", value))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
