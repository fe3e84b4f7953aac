#!/usr/bin/env python3
"""Measure whether the HTML report stays usable on a very large profile, next to inferno.

The claim under test: on a profile of 100,000 unique stacks, report.html opens in under 3
seconds in headless Chromium. The script builds such a profile, then measures, side by side
in one run:

  generate  port-advisor report PROFILE --format html   the whole page
            port-advisor flamegraph PROFILE -o -        flame.svg: the advice, then the graph
                                                        drawn by the inferno library and
                                                        painted by the advice (not inferno's
                                                        plain output: colours, classes, a style)
            port-advisor flamegraph --format folded     reading the profile and folding only
            inferno-flamegraph --inverted FOLDED        inferno.svg: plain inferno, from the
                                                        same profile's folded stacks
  open      report.html: from navigation start until `document.body.dataset.flame` is
            "ready" (the page has built its document and the graph's frame has loaded and
            answered); the SVGs: until their load event. Also the load event, the first
            contentful paint, and when a search sent at that moment is answered: inferno's
            script finishes its start-up (unzoom, fitting every label) in a timer after the
            load event, and answers nothing before
  use       the page's search: a term typed into #flame-search (an `input` event; the page
            waits 150 ms for more keys) or entered (Enter, at once), until #flame-matched
            gets its data-frames; in the SVGs, inferno's own search(); sorting the candidates
            by time (a click on `#candidates th button[data-key='time']`), until the next
            frame is drawn

The profile is synthetic but shaped like a real one (see `synthetic_profile`): about 3,200
Python functions in 320 files, some of them methods, a call graph where popular helpers are
called from many places, a dozen hot loops in the program's own code, stacks 10 to 40 frames
deep on a main thread and three workers, weights falling off like Zipf's law from the hottest
paths to a long tail seen once (or all alike with --weights flat), some native frames, a few
idle stacks (not drawn), probe call counts for the hottest functions. Its source files do not
exist on this machine, as when a profile recorded elsewhere is reported here: the page shows
the sampled lines the profile carries instead. The script checks that `report --format json`
reads it and counts the folded stacks that reach the flame graph (what
`flamegraph --format folded -o - | wc -l` counts).

How the pages are timed: headless Chromium driven through chromedriver's WebDriver HTTP API
(benches/webdriver.py). Before each page loads, a small script (the DevTools Protocol's
`Page.addScriptToEvaluateOnNewDocument`) notes, with `performance.now()` counted from the
navigation start: `JSON.parse` of the page's data, the Blob of the graph's SVG, the frame's
blob: address, `data-ready` and `data-flame` (a MutationObserver), the frame's "ready"
message, and the answer to the first search. The page itself is not changed. Navigation
timing gives the file's read and the load event, paint timing the first contentful paint.
Each load starts from about:blank; every page is opened once untimed before the rounds, so
the browser's start-up is not counted; the pages take turns, a different one first each
round. The commands run interleaved the same way (benchlib), each writing to stdout, under
/usr/bin/time for their peak RSS.

Console errors: after each load the top page's browser log (`POST /se/log`) is read; a SEVERE
entry makes the exit status 1. What the graph's blob: frame logs (an out-of-process frame)
does not reach that log; tests/live/html.rs hears it over WebDriver BiDi.

Peers: inferno-flamegraph is looked for on PATH, in ~/.cargo/bin and in
target/bench-tools/bin; with --install-inferno it is installed there when missing
(`cargo install inferno@0.12.8 --locked --root target/bench-tools`, the version of
Cargo.lock; under a minute here). Without it the peer rows say "-" and the page is compared
with flame.svg only. py-spy draws flame graphs only of programs it records itself: it cannot
read a profile or folded stacks, so it is named and skipped, not compared.

Run it (under a minute at the defaults on a 2-core machine; --weights flat at 10,000 stacks
takes a few minutes, its pages take many seconds each):

  python3 benches/html_scale.py
  python3 benches/html_scale.py --stacks 10000 --rounds 3 --keep /tmp/html-scale
  python3 benches/html_scale.py --stacks 10000 --weights flat --rounds 1

Output: the profile's shape, then one table, each cell the median over the rounds with the
min-max range, the ratio port-advisor's median over the peer's; then where the page's time
goes, and the verdict line `target: page ready < 3 s: PASS/FAIL (median X s)`. The page's
cost follows the frames the graph draws (inferno leaves out frames under 0.01% of the
samples), not the stacks: the table counts them. Exit status: 0 whatever the verdict (a
measurement, not a test), 1 if a command fails or the page logs a console error, 2 if
something needed is missing.
"""
import argparse
import bisect
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import (
    DEFAULT_BIN, GNU_TIME, REPO_ROOT, RunFailed, Variant, fail, print_failure, run_rounds,
)
import webdriver

TARGET_READY_S = 3.0

def locked_version(crate, default):
    """The version of `crate` in Cargo.lock, so the inferno command line compared is the
    inferno port-advisor is built with."""
    try:
        with open(os.path.join(REPO_ROOT, "Cargo.lock")) as lock:
            packages = lock.read().split("[[package]]")
    except OSError:
        return default
    for package in packages:
        if 'name = "%s"\n' % crate in package:
            for line in package.splitlines():
                if line.startswith("version = "):
                    return line.split('"')[1]
    return default


INFERNO_VERSION = locked_version("inferno", "0.12.8")
BENCH_TOOLS = os.path.join(REPO_ROOT, "target", "bench-tools")
INSTALL_INFERNO = ("cargo install inferno@%s --locked --root target/bench-tools"
                   % INFERNO_VERSION)
INSTALL_TIMEOUT_S = 180
# A page that is not ready after this long is reported as failed, not waited for.
PAGE_TIMEOUT_S = 60
# The page waits this long after the last keystroke before it searches.
SEARCH_DEBOUNCE_MS = 150

# Where the synthetic program's files "were": nothing exists under it on this machine.
MISSING_ROOT = "/opt/port-advisor-bench-missing"


# ---- the synthetic profile -----------------------------------------------------------------

PACKAGES = [
    # (package path under the root, how many modules)
    ("app/api", 24), ("app/api/v2", 18), ("app/services", 30), ("app/models", 26),
    ("app/workers", 14), ("app/reports", 16), ("app/pricing", 12), ("app/search", 14),
    ("app/auth", 8), ("app/util", 20), ("app/io", 12), ("app/geo", 8),
    ("venv/lib/python3.12/site-packages/orm", 28),
    ("venv/lib/python3.12/site-packages/orm/dialects", 10),
    ("venv/lib/python3.12/site-packages/templating", 14),
    ("venv/lib/python3.12/site-packages/validation", 12),
    ("venv/lib/python3.12/site-packages/httpclient", 10),
    ("venv/lib/python3.12/site-packages/serializer", 8),
    ("venv/lib/python3.12/site-packages/cache", 6),
    ("venv/lib/python3.12/site-packages/tasks", 8),
    ("python/lib/python3.12/json", 4), ("python/lib/python3.12/re", 4),
    ("python/lib/python3.12", 14),
]
MODULE_WORDS = [
    "base", "core", "handlers", "views", "models", "schema", "query", "session", "engine",
    "compiler", "loader", "parser", "render", "filters", "fields", "types", "utils", "helpers",
    "cache", "pool", "client", "adapters", "encoder", "decoder", "scanner", "tokens", "tree",
    "nodes", "visitors", "rules", "pricing", "tax", "discounts", "orders", "invoices",
    "accounts", "users", "events", "signals", "context", "runtime", "registry", "plugins",
    "storage", "backends", "indexer", "ranking", "geometry", "tiles", "exports", "imports",
    "batches", "retry", "streams", "buffers", "codecs", "__init__",
]
VERBS = [
    "get", "load", "parse", "build", "render", "compute", "validate", "resolve", "apply",
    "collect", "merge", "encode", "decode", "fetch", "iter", "visit", "emit", "transform",
    "normalize", "score", "rank", "filter", "format", "serialize", "compile", "execute",
    "dispatch", "handle", "process", "update", "check", "lookup", "convert", "split", "scan",
]
NOUNS = [
    "rows", "row", "items", "item", "node", "tree", "token", "tokens", "field", "fields",
    "value", "values", "record", "records", "query", "result", "results", "price", "prices",
    "order", "user", "event", "batch", "chunk", "page", "template", "context", "schema",
    "key", "keys", "index", "match", "matches", "path", "geometry", "tile", "line", "lines",
    "payload", "headers", "response", "request", "session", "column", "columns", "filter",
]
CLASS_WORDS = [
    "Query", "Session", "Compiler", "Renderer", "Validator", "Encoder", "Decoder", "Visitor",
    "Parser", "Scanner", "Loader", "Registry", "Pool", "Client", "Handler", "Model", "Field",
    "Serializer", "Index", "Ranker", "Pricer", "Invoice", "Tile", "Batch", "Stream", "Cache",
]
LEAF_CODE = [
    "total += row[key] * weight",
    "for item in items:",
    "if value is None:",
    "out.append(transform(value))",
    "return {k: v for k, v in pairs}",
    "key = (node.kind, node.name)",
    "while pos < len(text):",
    "result = pattern.match(text, pos)",
    "parts = line.split(sep)",
    "score = sum(w * f for w, f in zip(weights, features))",
    "self._cache[key] = value",
    "buf.write(chunk)",
    "return hash((self.a, self.b))",
    "x, y = point",
    "yield from self._iter_children(node)",
]
# (name, library): frames below Python where the sampler unwound into machine code.
NATIVE_FRAMES = [
    ("PyUnicode_Join", "libpython3.12.so.1.0"),
    ("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0"),
    ("scanstring_unicode", "_json.cpython-312-x86_64-linux-gnu.so"),
    ("sre_search", "_sre.cpython-312-x86_64-linux-gnu.so"),
    ("DOUBLE_add", "_multiarray_umath.cpython-312-x86_64-linux-gnu.so"),
    ("__memmove_avx_unaligned_erms", "libc.so.6"),
]
THREADS = ["MainThread", "ThreadPoolExecutor-0_0", "ThreadPoolExecutor-0_1",
           "ThreadPoolExecutor-0_2"]
# Functions per file, on average; with the packages above, about 3,300 functions.
FUNCTIONS_PER_FILE = 11
MIN_DEPTH, MODE_DEPTH, MAX_DEPTH = 10, 18, 40
NATIVE_LEAF_SHARE = 0.06
# Share of the stacks that end in one of the KERNELS hot spots, and the hottest one's
# weight multiplier.
KERNEL_SHARE = 0.15
KERNELS = 12
KERNEL_HEAT = 6
IDLE_STACKS_PER_100 = 2


def zipf_cumulative(n, exponent):
    """Cumulative weights of ranks 1..n under Zipf's law, for bisect-based choices."""
    total = 0.0
    cumulative = []
    for rank in range(1, n + 1):
        total += 1.0 / rank ** exponent
        cumulative.append(total)
    return cumulative


def pick(rng, cumulative):
    """An index drawn with the weights `cumulative` sums up."""
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


class Function(object):
    def __init__(self, index, name, qualname, file, module, first_line, length):
        self.index = index
        self.name = name
        self.qualname = qualname
        self.file = file
        self.module = module
        self.first_line = first_line
        self.length = length
        self.callees = []
        self.callee_cumulative = []
        self.call_lines = {}
        self.leaf_lines = []


def make_functions(rng):
    """The program's functions, in files spread over packages; labels are unique, as the
    flame graph merges frames by label (name, file name and first line)."""
    functions = []
    labels = set()
    for package, modules in PACKAGES:
        words = rng.sample(MODULE_WORDS, min(modules, len(MODULE_WORDS)))
        for word in words:
            file = "%s/%s/%s.py" % (MISSING_ROOT, package, word)
            dotted = package.split("site-packages")[-1].split("python3.12")[-1]
            module = ".".join(p for p in (dotted.strip("/").replace("/", "."), word)
                              if p and p != "__init__")
            line = rng.randint(1, 40)
            count = max(2, int(rng.expovariate(1.0 / FUNCTIONS_PER_FILE)))
            class_name = None
            names = set()
            for _ in range(count):
                if rng.random() < 0.15:
                    class_name = rng.choice(CLASS_WORDS) + rng.choice(["", "Base", "Impl", "V2"])
                    line += 3
                elif class_name and rng.random() < 0.2:
                    class_name = None
                name = "%s_%s" % (rng.choice(VERBS), rng.choice(NOUNS))
                if class_name and rng.random() < 0.3:
                    name = "_" + name
                qualname = "%s.%s" % (class_name, name) if class_name else name
                length = rng.randint(3, 60)
                label = (qualname, os.path.basename(file), line)
                if qualname not in names and label not in labels:
                    names.add(qualname)
                    labels.add(label)
                    functions.append(Function(len(functions), name, qualname, file, module,
                                              line, length))
                line += length + rng.randint(1, 4)
    return functions


def wire_call_graph(rng, functions):
    """Each function calls a few others; popular helpers are called from many places, and
    each function calls its first callees far more often than its last."""
    popularity = list(range(len(functions)))
    rng.shuffle(popularity)
    popular_cumulative = zipf_cumulative(len(functions), 1.05)
    for function in functions:
        count = rng.randint(2, 8)
        callees = []
        while len(callees) < count:
            callee = functions[popularity[pick(rng, popular_cumulative)]]
            if callee is not function and callee not in callees:
                callees.append(callee)
        if rng.random() < 0.05:
            callees.insert(rng.randint(0, len(callees)), function)  # some recursion
        function.callees = callees
        function.callee_cumulative = zipf_cumulative(len(callees), 1.3)
        body = list(range(function.first_line + 1, function.first_line + function.length + 1))
        for callee in callees:
            function.call_lines[callee.index] = rng.choice(body)
        function.leaf_lines = rng.sample(body, min(len(body), rng.randint(1, 5)))
    return popularity


def root_functions(functions):
    """The fixed outer frames of each thread: the script's module and main, and the
    threading machinery of the workers."""
    def fn(path, name, qualname, first_line, length, module):
        f = Function(len(functions), name, qualname, "%s/%s" % (MISSING_ROOT, path), module,
                     first_line, length)
        f.leaf_lines = [first_line + 1]
        functions.append(f)
        return f
    main = [fn("app/main.py", "<module>", "<module>", 1, 80, "main"),
            fn("app/main.py", "main", "main", 40, 30, "main"),
            fn("app/cli.py", "run", "run", 112, 40, "app.cli")]
    lib = "python/lib/python3.12/"
    worker = [fn(lib + "threading.py", "_bootstrap", "Thread._bootstrap", 1012, 20,
                 "threading"),
              fn(lib + "threading.py", "_bootstrap_inner", "Thread._bootstrap_inner", 1052, 40,
                 "threading"),
              fn(lib + "threading.py", "run", "Thread.run", 992, 15, "threading"),
              fn(lib + "concurrent/futures/thread.py", "_worker", "_worker", 69, 30,
                 "concurrent.futures.thread"),
              fn(lib + "concurrent/futures/thread.py", "run", "_WorkItem.run", 53, 12,
                 "concurrent.futures.thread")]
    for chain in (main, worker):
        for caller, callee in zip(chain, chain[1:]):
            caller.call_lines[callee.index] = caller.first_line + 2
    # An idle worker: _worker waits in the queue for its next item.
    wait = [worker[0], worker[1], worker[2], worker[3],
            fn(lib + "queue.py", "get", "Queue.get", 154, 40, "queue"),
            fn(lib + "threading.py", "wait", "Condition.wait", 320, 40, "threading")]
    wait[3].call_lines[wait[4].index] = 90
    wait[4].call_lines[wait[5].index] = 171
    return main, worker, wait


def make_kernels(rng, functions, popularity):
    """The program's hot spots: a few functions of the program's own code (not a library's)
    that do the heavy work in loops, each called from one or two functions of its own, and
    hot: each of their samples stands for many (Zipf again, over the kernels)."""
    own = [functions[i] for i in popularity if "/app/" in functions[i].file]
    # Functions few others call, so their time is their own; they call nothing.
    quiet = own[len(own) // 2:]
    kernels = []
    for rank in range(KERNELS):
        kernel = quiet[3 * rank]
        kernel.callees = []
        kernel.callee_cumulative = []
        drivers = [quiet[3 * rank + 1], quiet[3 * rank + 2]][:rng.randint(1, 2)]
        for driver in drivers:
            driver.call_lines[kernel.index] = driver.first_line + 1 + rank % driver.length
            if kernel not in driver.callees:
                driver.callees.append(kernel)
                driver.callee_cumulative = zipf_cumulative(len(driver.callees), 1.3)
        kernels.append((kernel, drivers, max(2, int(KERNEL_HEAT / (rank + 1)))))
    return kernels


def synthetic_profile(stacks, seed, flat=False):
    """A profile.json value with `stacks` unique non-idle stacks, and facts about it. With
    `flat`, every one of them has weight 1: the worst case for a flame graph, since inferno
    leaves out only frames under 0.01% of the samples, and at 10,000 stacks none is."""
    rng = random.Random(seed)
    functions = make_functions(rng)
    program_functions = len(functions)
    popularity = wire_call_graph(rng, functions)
    main_chain, worker_chain, idle_chain = root_functions(functions)
    # Entry points: the handlers main dispatches to and the tasks the workers run.
    main_entries = [functions[i] for i in popularity[:40]]
    worker_entries = [functions[i] for i in popularity[40:60]]
    kernels = make_kernels(rng, functions[:program_functions], popularity)
    kernel_cumulative = zipf_cumulative(len(kernels), 0.8)
    entry_cumulative = zipf_cumulative(40, 1.1)
    task_cumulative = zipf_cumulative(20, 1.1)
    native_cumulative = zipf_cumulative(len(NATIVE_FRAMES), 1.0)

    frames = []
    frame_ids = {}

    def frame_id(function, line, native=None):
        key = (function.index, line) if native is None else ("native", native)
        found = frame_ids.get(key)
        if found is None:
            found = frame_ids[key] = len(frames)
            if native is not None:
                name, library = NATIVE_FRAMES[native]
                frames.append({
                    "name": name, "qualname": None,
                    "file": "%s/lib/%s" % (MISSING_ROOT, library), "first_line": None,
                    "line": None, "module": library, "kind": "native"})
            else:
                callee_name = next((f.name for f in function.callees
                                    if function.call_lines.get(f.index) == line), None)
                if callee_name is not None:
                    code = "result = %s(%s)" % (
                        ("self." if "." in function.qualname else "") + callee_name,
                        rng.choice(["item", "rows", "node, context", "value", "*args"]))
                else:
                    code = LEAF_CODE[(function.index + line) % len(LEAF_CODE)]
                frames.append({
                    "name": function.name, "qualname": function.qualname,
                    "file": function.file, "first_line": function.first_line, "line": line,
                    "module": function.module, "kind": "python", "code": code})
        return found

    def line_of_call(caller, callee):
        return caller.call_lines.get(callee.index, caller.first_line + 1)

    seen = set()
    drawn = []  # (log probability, frame ids, thread, weight multiplier)
    attempts = 0
    while len(drawn) < stacks:
        attempts += 1
        if attempts > stacks * 50:
            raise RuntimeError("cannot draw %d unique stacks from this call graph" % stacks)
        on_main = rng.random() < 0.7
        if on_main:
            chain = main_chain
            entry = main_entries[pick(rng, entry_cumulative)]
            thread = 0
            log_p = math.log(0.7)
        else:
            chain = worker_chain
            entry = worker_entries[pick(rng, task_cumulative)]
            thread = rng.randint(1, len(THREADS) - 1)
            log_p = math.log(0.3)
        native = None
        if rng.random() < NATIVE_LEAF_SHARE:
            native = pick(rng, native_cumulative)
            log_p += math.log(NATIVE_LEAF_SHARE)
        heat = 1
        tail = []
        if native is None and rng.random() < KERNEL_SHARE:
            k = pick(rng, kernel_cumulative)
            kernel, drivers, heat = kernels[k]
            tail = [rng.choice(drivers), kernel]
            log_p += math.log(KERNEL_SHARE)
        depth = int(round(rng.triangular(MIN_DEPTH, MAX_DEPTH, MODE_DEPTH)))
        depth -= len(tail) + (native is not None)
        path = list(chain) + [entry]
        while len(path) < depth and path[-1].callees:
            current = path[-1]
            index = pick(rng, current.callee_cumulative)
            cumulative = current.callee_cumulative
            log_p += math.log((cumulative[index] - (cumulative[index - 1] if index else 0))
                              / cumulative[-1])
            path.append(current.callees[index])
        if len(path) < depth:
            continue  # ended in a function that calls nothing: too shallow
        path.extend(tail)
        key = (tuple(f.index for f in path), native)
        if key in seen:
            continue
        seen.add(key)
        ids = [frame_id(caller, line_of_call(caller, callee))
               for caller, callee in zip(path, path[1:])]
        leaf = path[-1]
        ids.append(frame_id(leaf, leaf.leaf_lines[pick(rng, zipf_cumulative(
            len(leaf.leaf_lines), 1.0))]))
        if native is not None:
            ids.append(frame_id(None, None, native))
        drawn.append((log_p, ids, thread, heat))

    # Weights: Zipf's law over the stacks ranked by how likely their path is, with some
    # noise; the long tail was seen once, as in any long recording.
    drawn.sort(key=lambda d: -d[0])
    top_weight = max(50, stacks // 5)
    profile_stacks = []
    per_thread = [0] * len(THREADS)
    for rank, (_, ids, thread, heat) in enumerate(drawn, 1):
        weight = max(1, int(top_weight / rank * rng.lognormvariate(0, 0.3))) * heat
        if flat:
            weight = 1
        per_thread[thread] += weight
        stack = {"frames": ids, "thread": thread, "weight": weight}
        if thread == 0 or rng.random() < 0.9:
            stack["gil"] = True
        profile_stacks.append(stack)
    rng.shuffle(profile_stacks)
    # Workers waiting for work: idle, not drawn unless --idle, each one a distinct stack.
    waiting = len(THREADS) - 1
    wait = idle_chain[-1]
    idle = max(1, min(stacks * IDLE_STACKS_PER_100 // 100, waiting * (wait.length - 2)))
    for n in range(idle):
        thread = 1 + n % waiting
        ids = [frame_id(caller, line_of_call(caller, callee))
               for caller, callee in zip(idle_chain, idle_chain[1:])]
        ids.append(frame_id(wait, wait.first_line + 2 + n // waiting))
        weight = rng.randint(1, 400)
        per_thread[thread] += weight
        profile_stacks.append({"frames": ids, "thread": thread, "weight": weight,
                               "idle": True})

    samples = sum(per_thread)
    rate = 1000
    ticks = max(per_thread)
    # The probe watched the hot loops and their callers most closely, then the busiest.
    hottest = [f for kernel, drivers, _ in kernels for f in [kernel] + drivers]
    hottest += [functions[i] for i in popularity[:150] if functions[i] not in hottest]
    profile = {
        "schema": 1,
        "meta": {
            "command": ["/usr/bin/python3", MISSING_ROOT + "/app/main.py", "--config",
                        "prod.toml", "reindex"],
            "target": "launched",
            "pid": 41000,
            "python_version": "3.12.4",
            "python_executable": "/usr/bin/python3.12",
            "cwd": MISSING_ROOT + "/app",
            "sampling": {"rate_hz": rate, "mode": "nonblocking", "native_rate_hz": None,
                         "gil_only": False, "subprocesses": False},
            "started_at": "2026-11-24T09:00:00.000000000+00:00",
            "wall_seconds": ticks / float(rate),
            "ticks": ticks,
            "samples": samples,
            "late_ticks": ticks // 200,
            "error_ticks": 3,
            "locked_reads": ticks // 50,
            "interrupted": False,
            "exit": {"code": 0, "signal": None},
        },
        "frames": frames,
        "threads": [{"pid": 41000, "tid": 140000000000000 + 4096 * i, "name": name}
                    for i, name in enumerate(THREADS)],
        "stacks": profile_stacks,
        "errors": [{"message": "failed to read the thread state: process_vm_readv", "count": 3}],
        "probe": {
            "method": "sys.monitoring",
            "seconds": ticks / float(rate),
            "functions": [probed(rng, f, rank) for rank, f in enumerate(hottest)],
        },
    }
    depths = sorted(len(s["frames"]) for s in profile_stacks if not s.get("idle"))
    facts = {
        "functions": program_functions,
        "files": len({f.file for f in functions[:program_functions]}),
        "frames": len(frames),
        "stacks": stacks,
        "idle_stacks": idle,
        "samples": samples,
        "depth": (depths[0], depths[len(depths) // 2], depths[-1]),
        "native_stacks": sum(1 for s in profile_stacks
                             if frames[s["frames"][-1]]["kind"] == "native"),
    }
    return profile, facts


def probed(rng, function, rank):
    """What the probe would have counted of a hot function: calls, and types for the top."""
    calls = int(2000000 / (rank + 1) * rng.uniform(0.5, 2))
    entry = {
        "file": function.file, "name": function.name, "qualname": function.qualname,
        "first_line": function.first_line, "calls": calls, "calls_exact": rank >= 20,
        "calls_error": 0 if rank >= 20 else calls // 50, "counted_since": 0.0,
        "candidate": rank < 20,
    }
    if rank < 20:
        entry["args"] = [{"name": "rows", "type": "list[dict[str, float]]", "count": 40,
                          "mean_size": rng.uniform(10, 500), "max_size": 1000}]
        entry["returns"] = [{"name": "return", "type": "float", "count": 40,
                             "mean_size": 0.0, "max_size": 0}]
        entry["observed_calls"] = 40
    return entry


def write_profile(profile, path):
    with open(path, "w") as out:
        json.dump(profile, out, separators=(",", ":"))
        out.write("\n")


# ---- the commands ----------------------------------------------------------------------

def run_checked(command, what, stdout=subprocess.PIPE):
    completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=stdout,
                               stderr=subprocess.PIPE)
    if completed.returncode != 0:
        raise RunFailed(what, command, completed.returncode,
                        completed.stderr.decode("utf-8", "replace"))
    return completed.stdout


def ensure_binary(path):
    if os.path.isfile(path):
        return path
    if os.path.abspath(path) != os.path.abspath(DEFAULT_BIN):
        fail("%s not found" % path)
    print("note: %s not found, building it (cargo build --release --locked)" % path,
          file=sys.stderr, flush=True)
    completed = subprocess.run(["cargo", "build", "--release", "--locked"], cwd=REPO_ROOT)
    if completed.returncode != 0 or not os.path.isfile(path):
        fail("cargo build --release --locked failed")
    return path


def find_inferno(install):
    """inferno-flamegraph, and why not when it is missing."""
    candidates = [shutil.which("inferno-flamegraph"),
                  os.path.join(os.path.expanduser("~"), ".cargo", "bin", "inferno-flamegraph"),
                  os.path.join(BENCH_TOOLS, "bin", "inferno-flamegraph")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate, None
    if not install:
        return None, "inferno-flamegraph not found (install it with `%s`, or pass " \
                     "--install-inferno)" % INSTALL_INFERNO
    print("installing inferno-flamegraph: %s" % INSTALL_INFERNO, file=sys.stderr, flush=True)
    command = ["cargo", "install", "inferno@%s" % INFERNO_VERSION, "--locked", "--root",
               BENCH_TOOLS, "--target-dir", os.path.join(BENCH_TOOLS, "build")]
    try:
        completed = subprocess.run(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "installing inferno took over %d s; skipped" % INSTALL_TIMEOUT_S
    installed = os.path.join(BENCH_TOOLS, "bin", "inferno-flamegraph")
    if completed.returncode != 0 or not os.access(installed, os.X_OK):
        tail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        return None, "`%s` failed: %s" % (INSTALL_INFERNO, " ".join(tail))
    return installed, None


def find_py_spy():
    for candidate in (os.path.join(REPO_ROOT, "target", "tools-venv", "bin", "py-spy"),
                      shutil.which("py-spy")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def flame_title(profile):
    return ("port-advisor: %s" % " ".join(profile["meta"]["command"]))[:134]


# The timed commands.
HTML = "port-advisor report --format html"
SVG = "port-advisor flamegraph -o - (SVG)"
FOLDED = "port-advisor flamegraph --format folded"
INFERNO = "inferno-flamegraph FOLDED"


def command_variants(binary, profile_path, folded_path, inferno, title):
    """What each timed command runs; every one writes its output to stdout (discarded), so
    none of them pays for a file system that the others do not."""
    def command(arguments):
        return lambda output_path: arguments

    variants = [
        Variant(HTML, command([binary, "report", profile_path, "--format", "html"])),
        Variant(SVG, command([binary, "flamegraph", profile_path, "-o", "-"])),
        Variant(FOLDED, command([binary, "flamegraph", profile_path, "--format", "folded",
                                 "-o", "-"])),
    ]
    if inferno is not None:
        variants.append(Variant(INFERNO, command(
            [inferno, "--inverted", "--hash", "--countname", "samples", "--title", title,
             folded_path])))
    return variants


# ---- the browser -----------------------------------------------------------------------

# Runs before any script of each new top-level document; times are performance.now(), whose
# zero is the navigation start. The page itself is not changed.
INSTRUMENT = r"""
(function () {
    if (window !== window.top) return;
    var t = window.__paBench = {};
    function now() { return performance.now(); }
    var parse = JSON.parse;
    JSON.parse = function (text) {
        if (t.parseStart === undefined && typeof text === "string" &&
                text.slice(0, 10) === '{"schema":') {
            t.parseStart = now();
            t.parseChars = text.length;
            var value = parse.apply(this, arguments);
            t.parseEnd = now();
            return value;
        }
        return parse.apply(this, arguments);
    };
    var OriginalBlob = window.Blob;
    var TimedBlob = function (parts, options) {
        var start = now();
        var blob = new OriginalBlob(parts, options);
        if (t.blobStart === undefined) { t.blobStart = start; t.blobEnd = now(); }
        return blob;
    };
    TimedBlob.prototype = OriginalBlob.prototype;
    window.Blob = TimedBlob;
    var objectUrl = URL.createObjectURL;
    URL.createObjectURL = function () {
        var url = objectUrl.apply(this, arguments);
        if (t.frameSrc === undefined) t.frameSrc = now();
        return url;
    };
    window.addEventListener("message", function (e) {
        var m = e.data;
        if (m && m.type === "ready" && t.flameMessage === undefined) t.flameMessage = now();
    }, true);
    // The first search, issued the moment the graph is ready: when it is answered, the
    // graph's own start-up work (inferno's init runs part of it in a timer after the load
    // event) is done.
    function firstSearch() {
        var box = document.getElementById("flame-search");
        var matched = document.getElementById("flame-matched");
        if (!box || !matched) return;
        var observer = new MutationObserver(function () {
            observer.disconnect();
            t.firstSearch = now();
        });
        observer.observe(matched, { attributes: true, attributeFilter: ["data-frames"] });
        box.value = FIRST_SEARCH;
        box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    }
    new MutationObserver(function () {
        var b = document.body;
        if (!b) return;
        if (b.dataset.ready && t.ready === undefined) t.ready = now();
        if (b.dataset.flame && t.flame === undefined) {
            t.flame = now();
            firstSearch();
        }
    }).observe(document, { attributes: true, subtree: true,
                           attributeFilter: ["data-ready", "data-flame"] });
    // The plain SVG: the same search, queued behind what inferno's init left for later.
    window.addEventListener("load", function (e) {
        if (e.target !== document || !(document.documentElement instanceof SVGElement)) return;
        setTimeout(function () {
            setTimeout(function () {
                if (typeof search !== "function") return;
                search(FIRST_SEARCH);
                t.firstSearch = now();
            }, 0);
        }, 0);
    });
})();
"""

READ_TIMINGS = r"""
var nav = performance.getEntriesByType("navigation")[0] || {};
var fcp = performance.getEntriesByType("paint").filter(function (p) {
    return p.name === "first-contentful-paint";
})[0];
var t = window.__paBench || {};
var out = {};
Object.keys(t).forEach(function (k) { out[k] = t[k]; });
out.responseEnd = nav.responseEnd;
out.domContentLoaded = nav.domContentLoadedEventEnd;
out.loadEventEnd = nav.loadEventEnd;
out.fcp = fcp ? fcp.startTime : null;
return out;
"""

# The page's search, typed (an `input` event: the page waits SEARCH_DEBOUNCE_MS for more
# keys) or entered (Enter: at once), until #flame-matched gets its data-frames.
PAGE_SEARCH = r"""
var term = arguments[0], how = arguments[1];
return new Promise(function (resolve) {
    var box = document.getElementById("flame-search");
    var matched = document.getElementById("flame-matched");
    var start = performance.now();
    var observer = new MutationObserver(function () {
        observer.disconnect();
        resolve({ ms: performance.now() - start,
                  frames: Number(matched.getAttribute("data-frames")),
                  text: matched.textContent });
    });
    observer.observe(matched, { attributes: true, attributeFilter: ["data-frames"] });
    box.value = term;
    if (how === "enter") {
        box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    } else {
        box.dispatchEvent(new Event("input", { bubbles: true }));
    }
});
"""

# inferno's own search in the plain SVG, after clearing the last one as the page's bridge
# does; counts the highlighted frames the same way.
SVG_SEARCH = r"""
var term = arguments[0];
var start = performance.now();
if (searching) { reset_search(); searching = 0; }
search(term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
var frames = 0;
var rects = document.querySelectorAll("#frames rect");
for (var i = 0; i < rects.length; i++) {
    if (rects[i].getAttribute("fill") === searchcolor) frames++;
}
return { ms: performance.now() - start, frames: frames };
"""

# Sorting the candidates by time, until the next frame has been drawn.
PAGE_SORT = r"""
return new Promise(function (resolve) {
    var button = document.querySelector("#candidates th button[data-key='time']");
    var start = performance.now();
    button.click();
    var sorted = performance.now() - start;
    requestAnimationFrame(function () {
        requestAnimationFrame(function () {
            resolve({ ms: sorted, frame_ms: performance.now() - start,
                      rows: document.querySelectorAll("#candidates tbody.candidate").length,
                      order: button.parentNode.getAttribute("aria-sort") });
        });
    });
});
"""


class PageRuns(object):
    """One page's measurements over the rounds."""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.url = "file://" + os.path.abspath(path)
        # What was measured -> its values, in milliseconds (sizes in characters).
        self.samples = {}
        # SEVERE entries of the top page's console log.
        self.errors = []
        # Frames highlighted by the two searches, and candidates sorted (the last round).
        self.found = None
        # Frames the graph draws.
        self.frames = 0

    def add(self, key, value):
        if value is not None:
            self.samples.setdefault(key, []).append(value)


def open_page(browser, page, ready_condition):
    """Load the page once; returns the in-page timings, or None if it never got ready."""
    browser.navigate("about:blank")
    browser.browser_log()  # drop what earlier pages logged
    start = time.perf_counter()
    browser.navigate(page.url)
    waited = browser.wait_for(ready_condition, PAGE_TIMEOUT_S, interval_s=0.005)
    outside = time.perf_counter() - start
    if waited is None or browser.wait_for(FIRST_SEARCH_DONE, PAGE_TIMEOUT_S) is None:
        return None
    timings = browser.run(READ_TIMINGS)
    timings["outside"] = outside * 1000.0
    for entry in browser.browser_log():
        if entry.get("level") == "SEVERE":
            page.errors.append(entry.get("message", ""))
    return timings


REPORT_READY = "document.body && document.body.dataset.flame === 'ready'"
SVG_READY = "document.readyState === 'complete'"
FIRST_SEARCH_DONE = "window.__paBench.firstSearch !== undefined"


def measure_report(browser, page, terms):
    timings = open_page(browser, page, REPORT_READY)
    if timings is None:
        return False
    page.add("ready", timings.get("flame"))
    page.add("first search", timings.get("firstSearch"))
    page.add("load", timings.get("loadEventEnd"))
    page.add("outside", timings.get("outside"))
    page.add("fcp", timings.get("fcp"))
    page.add("file read", timings.get("responseEnd"))
    if "parseStart" in timings:
        page.add("html parse to script", timings["parseStart"] - timings["responseEnd"])
        page.add("JSON.parse", timings["parseEnd"] - timings["parseStart"])
        page.add("parse chars", timings["parseChars"])
        page.add("build DOM", timings["ready"] - timings["parseEnd"]
                 - (timings["blobEnd"] - timings["blobStart"]))
        page.add("Blob of the SVG", timings["blobEnd"] - timings["blobStart"])
        page.add("frame: src to ready message", timings["flameMessage"] - timings["frameSrc"])
        page.add("ready message to data-flame", timings["flame"] - timings["flameMessage"])
    narrow, broad = terms
    typed = browser.run(PAGE_SEARCH, narrow, "input")
    entered = browser.run(PAGE_SEARCH, broad, "enter")
    sort = browser.run(PAGE_SORT)
    page.add("search typed", typed["ms"])
    page.add("search entered", entered["ms"])
    page.add("sort", sort["ms"])
    page.add("sort to next frame", sort["frame_ms"])
    page.found = (typed["frames"], entered["frames"], sort["rows"])
    return True


def measure_svg(browser, page, terms):
    timings = open_page(browser, page, SVG_READY)
    if timings is None:
        return False
    page.add("ready", timings.get("loadEventEnd"))
    page.add("first search", timings.get("firstSearch"))
    page.add("load", timings.get("loadEventEnd"))
    page.add("outside", timings.get("outside"))
    page.add("fcp", timings.get("fcp"))
    page.add("file read", timings.get("responseEnd"))
    narrow, broad = terms
    first = browser.run(SVG_SEARCH, narrow)
    second = browser.run(SVG_SEARCH, broad)
    page.add("search typed", first["ms"])
    page.add("search entered", second["ms"])
    page.found = (first["frames"], second["frames"], None)
    return True


def frames_drawn(browser, report, svgs):
    """How many frames each graph draws, read in the browser; the report's from inside its
    frame, to check that it shows the same graph as the SVGs."""
    for svg in svgs:
        browser.navigate(svg.url)
        svg.frames = browser.run("return document.querySelectorAll('#frames > g').length")
    browser.navigate(report.url)
    browser.wait_for(REPORT_READY, PAGE_TIMEOUT_S)
    frame = browser.run("return document.getElementById('flame-frame')")
    browser.switch_to_frame(frame)
    try:
        report.frames = browser.run("return document.querySelectorAll('#frames > g').length")
    finally:
        browser.switch_to_top()


def browser_rounds(report, svgs, terms, rounds):
    """Open every page once untimed, then `rounds` times each, interleaved; returns the
    browser's version."""
    with webdriver.Browser() as browser:
        browser.cdp("Page.addScriptToEvaluateOnNewDocument", {
            "source": INSTRUMENT.replace("FIRST_SEARCH", json.dumps(terms[1]))})
        order = [(report, measure_report)] + [(svg, measure_svg) for svg in svgs]
        for page, measure in order:
            warm = PageRuns(page.name, page.path)
            if not measure(browser, warm, terms):
                raise webdriver.WebDriverError("%s was not ready after %d s"
                                               % (page.name, PAGE_TIMEOUT_S))
        width = max(len(page.name) for page, _ in order)
        for round_index in range(rounds):
            shift = round_index % len(order)
            for page, measure in order[shift:] + order[:shift]:
                if not measure(browser, page, terms):
                    raise webdriver.WebDriverError("%s was not ready after %d s"
                                                   % (page.name, PAGE_TIMEOUT_S))
                print("round %d/%d  %-*s ready %6.3f s" % (
                    round_index + 1, rounds, width, page.name,
                    page.samples["ready"][-1] / 1000.0), file=sys.stderr, flush=True)
        frames_drawn(browser, report, svgs)
        return browser.version


# ---- the output --------------------------------------------------------------------------

def spread(values, scale=1.0, unit="s", digits=3):
    if not values:
        return "-"
    values = [v * scale for v in values]
    return "%.*f %s (%.*f-%.*f)" % (digits, statistics.median(values), unit, digits,
                                    min(values), digits, max(values))


def ratio(ours, theirs):
    if not ours or not theirs:
        return "-"
    return "%.2fx" % (statistics.median(ours) / statistics.median(theirs))


def print_rows(rows):
    header = ("metric", "port-advisor", "peer", "ratio")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    line = "  ".join("%-*s" % (widths[i], header[i]) for i in range(4))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join("%-*s" % (widths[i], row[i]) for i in range(4)).rstrip())


def mib(values):
    return "%.0f MiB" % (max(values) / 1024.0) if values else "-"


# ---- main ------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", type=int, default=100000,
                        help="unique (non-idle) stacks in the profile (default: 100000)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed rounds of every command and page (default: 5)")
    parser.add_argument("--keep", metavar="DIR",
                        help="write the profile, the pages and the folded stacks into DIR "
                             "and keep them (default: a temporary folder, removed)")
    parser.add_argument("--binary", default=DEFAULT_BIN,
                        help="the port-advisor binary (default: target/release/port-advisor, "
                             "built with `cargo build --release --locked` when missing)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the synthetic profile (default: 1)")
    parser.add_argument("--weights", choices=("zipf", "flat"), default="zipf",
                        help="zipf: a few hot paths and a long tail seen once, as in a real "
                             "recording (default); flat: every stack seen once, the worst case "
                             "for the flame graph (try it with --stacks 10000)")
    parser.add_argument("--install-inferno", action="store_true",
                        help="when inferno-flamegraph is missing, install it into "
                             "target/bench-tools (`%s`)" % INSTALL_INFERNO)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.stacks < 100:
        parser.error("--stacks must be at least 100")
    return args


def main():
    args = parse_args()
    binary = os.path.abspath(ensure_binary(args.binary))
    for path in (webdriver.CHROMIUM, webdriver.CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            fail("%s not found (`%s`)" % (path, webdriver.INSTALL_HINT))
    if os.path.exists(MISSING_ROOT):
        fail("%s exists: the profile's files must not" % MISSING_ROOT)
    inferno, inferno_missing = find_inferno(args.install_inferno)
    measure_memory = os.access(GNU_TIME, os.X_OK)

    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        folder = os.path.abspath(args.keep)
        scratch = None
    else:
        scratch = tempfile.TemporaryDirectory(prefix="port-advisor-html-scale-")
        folder = scratch.name
    try:
        return run(args, binary, inferno, inferno_missing, measure_memory, folder)
    except RunFailed as failure:
        print_failure(failure)
        return 1
    except webdriver.WebDriverError as error:
        print("error: browser: %s" % error, file=sys.stderr)
        return 1
    finally:
        if scratch is not None:
            scratch.cleanup()


def run(args, binary, inferno, inferno_missing, measure_memory, folder):
    profile_path = os.path.join(folder, "profile.json")
    report_path = os.path.join(folder, "report.html")
    svg_path = os.path.join(folder, "flame.svg")
    inferno_svg_path = os.path.join(folder, "inferno.svg")
    folded_path = os.path.join(folder, "flame.folded")

    started = time.perf_counter()
    profile, facts = synthetic_profile(args.stacks, args.seed, args.weights == "flat")
    write_profile(profile, profile_path)
    generated = time.perf_counter() - started
    title = flame_title(profile)
    del profile

    # The profile is read as it is meant to be, and really has that many stacks to draw.
    advice = json.loads(run_checked([binary, "report", profile_path, "--format", "json"],
                                    "report --format json").decode("utf-8"))
    run_checked([binary, "flamegraph", profile_path, "--format", "folded", "-o", folded_path],
                "flamegraph --format folded")
    with open(folded_path, "rb") as folded:
        folded_lines = sum(1 for _ in folded)
    with open(report_path, "wb") as page:
        run_checked([binary, "report", profile_path, "--format", "html"],
                    "report --format html", stdout=page)
    run_checked([binary, "flamegraph", profile_path, "-o", svg_path], "flamegraph -o")
    variants = command_variants(binary, profile_path, folded_path, inferno, title)
    by = dict((v.name, v) for v in variants)
    if inferno is not None:
        with open(inferno_svg_path, "wb") as svg:
            run_checked(by[INFERNO].build_command(None), "inferno-flamegraph", stdout=svg)

    candidates = advice["candidates"]
    # The two searches: the top candidate, as "Show in the flame graph" searches it, and a
    # word found in many frames.
    narrow = candidates[0]["function"]["name"] if candidates else "main"
    broad = "get_"
    low, middle, high = facts["depth"]
    print("port-advisor: %s" % binary)
    print("chromium:     %s, chromedriver %s" % (webdriver.CHROMIUM, webdriver.CHROMEDRIVER))
    print("inferno:      %s" % (inferno or "skipped: " + inferno_missing))
    py_spy = find_py_spy()
    print("py-spy:       skipped: %s; it draws flame graphs only of the programs it records "
          "itself (py-spy record), with no way to read a profile or folded stacks" %
          ("found at " + py_spy if py_spy else "not found"))
    print("profile:      %s (%.1f MB, written in %.1f s)" % (
        profile_path if args.keep else "profile.json", os.path.getsize(profile_path) / 1e6,
        generated))
    print("              %d unique stacks (+%d idle, not drawn), %s samples, %s weights, "
          "depth %d-%d (median %d), %d end in native frames" % (
              facts["stacks"], facts["idle_stacks"], format(facts["samples"], ","),
              args.weights, low, high, middle, facts["native_stacks"]))
    print("              %d functions in %d files that do not exist here, %d frames" % (
        facts["functions"], facts["files"], facts["frames"]))
    verified = "as generated" if folded_lines == facts["stacks"] else \
        "NOT the %d generated" % facts["stacks"]
    print("folded:       %d unique stacks (flamegraph --format folded -o - | wc -l): %s" % (
        folded_lines, verified))
    print("report json:  reads it: %d candidates (%s)" % (
        len(candidates), ", ".join("%s %s" % (c["verdict"], c["function"]["name"])
                                   for c in candidates[:4])))
    print("pages:        report.html: the page, its graph an icicle drawn by the inferno "
          "library,\n              painted by the advice, in a sandboxed blob: frame")
    print("              flame.svg: port-advisor flamegraph -o (inferno library, painted by "
          "the advice, roots at the bottom)")
    if inferno is not None:
        print("              inferno.svg: inferno-flamegraph --inverted --hash on the folded "
              "stacks (plain inferno, an icicle like the page's)")
    print("rounds:       %d, interleaved; searches for %r (typed) and %r (Enter)" % (
        args.rounds, narrow, broad))
    print("machine:      %d cores, load average %.2f at the start (other work running on "
          "them widens the ranges)" % (os.cpu_count(), os.getloadavg()[0]))
    sys.stdout.flush()

    run_rounds(variants, args.rounds, measure_memory)

    report = PageRuns("report.html", report_path)
    svgs = [PageRuns("flame.svg", svg_path)]
    if inferno is not None:
        svgs.insert(0, PageRuns("inferno.svg", inferno_svg_path))
    version = browser_rounds(report, svgs, (narrow, broad), args.rounds)

    print()
    print("Chromium %s, headless, window %dx%d; load average %.2f at the end" % (
        version, webdriver.WINDOW[0], webdriver.WINDOW[1], os.getloadavg()[0]))
    print("metric: what port-advisor does | its peer; each cell: median (min-max) over %d "
          "rounds; ratio: port-advisor / peer" % args.rounds)
    print()
    print_rows(command_rows(by, inferno, measure_memory) +
               page_rows(report, svgs[0], narrow, broad, full=True) +
               (page_rows(report, svgs[1], narrow, broad, full=False) if len(svgs) > 1
                else []) +
               [("sort candidates by time (click)",
                 spread(report.samples["sort"], 1, "ms", 1), "", ""),
                ("sort candidates by time, to the next frame",
                 spread(report.samples["sort to next frame"], 1, "ms", 1), "", "")])
    print()
    print("the same frames drawn and found: searches highlighted %d and %d frames in "
          "report.html, %s; sorted %d candidates" % (
              report.found[0], report.found[1],
              ", ".join("%d and %d in %s" % (svg.found[0], svg.found[1], svg.name)
                        for svg in svgs), report.found[2]))

    print()
    print("where report.html's time goes (medians, ms):")
    for key, what in (
            ("file read", "file read (from navigation start)"),
            ("html parse to script", "HTML parsed until the page's script runs"),
            ("JSON.parse", "JSON.parse of the page's data (%.2f MB)" % (
                statistics.median(report.samples.get("parse chars", [0])) / 1e6)),
            ("build DOM", "summary, table, evidence, source views built"),
            ("Blob of the SVG", "the graph's SVG copied into a Blob"),
            ("frame: src to ready message",
             "graph frame: blob: loaded, SVG parsed and laid out, inferno's init, "
             "'ready' posted"),
            ("ready message to data-flame", "'ready' message to data-flame set"),
            ("ready", "= data-flame set, from navigation start"),
            ("first search", "a search sent at that moment answered (inferno's deferred "
                             "init done)")):
        values = report.samples.get(key)
        if values:
            print("  %8.1f  %s" % (statistics.median(values), what))

    print()
    if report.errors:
        print("console errors in report.html (top page only; the graph's blob: frame logs "
              "where /se/log cannot see):")
        for message in sorted(set(report.errors)):
            print("  " + message)
    else:
        print("console errors in report.html: none SEVERE in the top page (the graph's "
              "blob: frame logs where /se/log cannot see)")
    median_ready = statistics.median(report.samples["ready"]) / 1000.0
    verdict = "PASS" if median_ready < TARGET_READY_S else "FAIL"
    print("target: page ready < %g s: %s (median %.3f s, max %.3f s, %d unique stacks)" % (
        TARGET_READY_S, verdict, median_ready, max(report.samples["ready"]) / 1000.0,
        folded_lines))
    return 1 if report.errors else 0


def command_rows(by, inferno, measure_memory):
    peer = "inferno-flamegraph" if inferno else "inferno-flamegraph (skipped)"
    theirs = by[INFERNO].seconds if INFERNO in by else []
    rows = [
        ("generate report.html | %s" % peer,
         spread(by[HTML].seconds), spread(theirs), ratio(by[HTML].seconds, theirs)),
        ("generate flame.svg (advice, inferno library) | %s" % peer,
         spread(by[SVG].seconds), spread(theirs), ratio(by[SVG].seconds, theirs)),
        ("generate folded stacks only", spread(by[FOLDED].seconds), "", ""),
    ]
    if measure_memory:
        their_rss = by[INFERNO].peak_rss_kib if INFERNO in by else []
        their_peak = [max(their_rss)] if their_rss else []
        for name, what in ((HTML, "report.html"), (SVG, "flame.svg")):
            rows.append(("peak RSS, %s | %s" % (what, peer), mib(by[name].peak_rss_kib),
                         mib(their_rss), ratio([max(by[name].peak_rss_kib)], their_peak)))
    return rows


def page_rows(report, svg, narrow, broad, full):
    """The page against one SVG opened alone; `full` adds the less telling rows."""
    def row(label, key, scale=1e-3, unit="s", digits=3):
        ours, theirs = report.samples.get(key), svg.samples.get(key)
        return ("%s | %s" % (label, svg.name) if "|" not in label else label % svg.name,
                spread(ours, scale, unit, digits), spread(theirs, scale, unit, digits),
                ratio(ours, theirs))

    size, their_size = os.path.getsize(report.path), os.path.getsize(svg.path)
    rows = [
        ("file size, report.html | %s" % svg.name, "%.2f MB" % (size / 1e6),
         "%.2f MB" % (their_size / 1e6), "%.2fx" % (size / float(their_size))),
        ("frames drawn, report.html's graph | %s" % svg.name, str(report.frames),
         str(svg.frames), "%.2fx" % (report.frames / float(svg.frames) if svg.frames else 0)),
        row("READY: data-flame set | %s load event", "ready"),
        row("first search answered, sent at ready", "first search"),
    ]
    if full:
        rows[3:3] = [row("load event", "load"), row("first contentful paint", "fcp")]
        rows += [
            row("ready as polled over WebDriver", "outside"),
            row("search %r typed (+%d ms debounce) | %%s search()" % (
                narrow, SEARCH_DEBOUNCE_MS), "search typed", 1, "ms", 1),
            row("search %r, Enter | %%s search()" % broad, "search entered", 1, "ms", 1),
        ]
    return rows


if __name__ == "__main__":
    sys.exit(main())
