#!/usr/bin/env python3
"""Measure what crossing the Python/Rust boundary costs on this machine; write rules/costs.toml.

port-advisor estimates what a call into a ported function costs beyond the work it does: a
fixed overhead per call, plus for each argument and for the return value a conversion cost
per call and per element, looked up by the type name its probe reports (`list[float]`,
`dict[str, int]`, ...). This script measures those costs instead of guessing them:

  1. It builds the PyO3 module beside it (benches/calibrate, `pa_calibrate`) with maturin,
     in release mode, for the interpreter to measure, and unpacks the wheel into a
     throwaway folder. Cargo builds in target/calibrate, apart from the main build.
  2. In that interpreter, it times functions of the module that each move one value across
     the boundary and do next to nothing else (see src/lib.rs).
  3. It fits a cost per call and per element for each type and direction, prints them,
     and writes them to rules/costs.toml (a temporary file, then renamed over it).

What is timed. Each function is called in a tight loop, `for _ in repeat(None, k): f(x)`,
with the garbage collector off and the same input object in every call. A batch of k calls
lasts about 10 ms (2 ms with --quick); a figure is the median time per call over 11 batches
(3), less the time of one iteration of an empty loop, so it is the cost of the call
statement alone: the whole call as Python sees it. Time is the CPU time of the measuring
thread (time.thread_time_ns), not the wall clock, so the time other programs take the CPU
away is left out and a busy machine changes the figures less (it still shares the caches).

  call overhead   `call_int(1)`: one int argument, an int result. This is
                  [call].overhead_ns. For comparison, `call_none()` (no argument, None) is
                  printed too.
  float chain     `float_chain(n)`: n iterations of `x = x * c + d` in Rust, two float
                  operations each waiting for the one before; the time at 4e7 iterations
                  less at 1e7, best of 5, per operation. Printed, not written: it is
                  rules/scoring.toml [operations].float_latency_ns, the floor of a loop
                  that carries a float recurrence.
  argument        `take_X(value)` extracts the value into its Rust type (list[float] into
                  Vec<f64>, ...) and returns its length. Timed at 1, 100, 1,000, 10,000
                  and 100,000 elements. The row's call overhead is measured again in batches
                  that alternate with its smallest size, and subtracted from the fit's
                  intercept, so the per-call figure is what the argument costs beyond a
                  call that passes one int.
  return          `give_X(n)` builds a Rust value of n elements and returns it, converted
                  to Python; `make_X(n)` builds the same value and drops it. The two
                  alternate batch by batch, and the fit is of the difference at each size:
                  the conversion alone, without building the value, which a ported
                  function does whatever it returns.
  int, float      one size only: their per-element cost is 0 by definition.

The inputs: ints from 1,000 on (past CPython's small-int cache, so each returned int is a
new object), floats, ASCII text ("x" * n), list[str] of words like "item123", dicts keyed by
words like "key123", list[list[float]] in rows of 10 floats, numpy arrays made by
numpy.arange, and for `*` (the fallback for any other type) a list of instances of a small
Python class, taken as Vec<Py<PyAny>> (each element only gets a new reference) and returned
as a list of references to one object (no object is created).

The fit. The per-element cost is the slope of a straight line through (elements, time), and
the per-call cost its intercept. The line goes through the smallest size exactly (1 element,
10 for list[list[float]]), so a call with a small value, which call-heavy functions pass, is
predicted as measured. Its slope is fitted to the larger sizes by least squares, each point
weighted by 1/time^2: the errors that count are relative ones, so 100 elements weigh as
much as 100,000. Costs per element that grow with the size (dicts and lists of str cost
about twice as much per element at 100,000 as at 10,000, when their objects no longer fit in
the CPU caches) are averaged that way, and the per-call cost may then come out below what
the smallest call measured, even below zero.

How to read the output: one row per type and direction.

  per call ns     beyond the call overhead, at 0 elements. Written at least 0. A small
                  negative figure is a conversion that costs no more than passing or
                  returning an int (noise around zero); a larger one, a cost per element
                  that grows with the size (see the fit).
  per element ns  the slope. Elements are the sizes the probe reports: the length of a
                  list, tuple, dict or set, characters of a str, bytes of a bytes, the size
                  of an array; and for list[list[float]], the floats in all inner lists.
  fit             the largest distance of a measured point from the line, as a share of
                  that point's whole time. A few percent is noise. More means the cost is
                  not linear in the size over 1..100,000: the per-element cost grows once
                  the data leaves the CPU caches, or, for values that cost next to nothing
                  (&str, &[u8], arrays), the call costs a few ns more for large values, a
                  large share of a call of 25 ns. Figures that change much from one run to
                  the next mean a busy machine: rerun.

Rows marked `*` were measured for comparison and are not written: the file has one entry
per type and direction, and for str and bytes that is the borrowed form (&str, &[u8]),
which a port would take.

Every value is used in the same state each call (warm caches, a str whose UTF-8 form is
ready), so the costs are those of a steady loop, the low end of what a program pays.

The exit status is 0 when the file is written, 1 if the build (the tail of its output is
printed) or the measurement (its traceback is) fails, and 2 if something needed is missing
(an interpreter, numpy for it, maturin).
"""
import argparse
import datetime
import gc
import glob
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
MANIFEST = os.path.join(HERE, "Cargo.toml")
LOCKFILE = os.path.join(HERE, "Cargo.lock")
TOOLS_VENV_BIN = os.path.join(REPO_ROOT, "target", "tools-venv", "bin")
TARGET_DIR = os.path.join(REPO_ROOT, "target", "calibrate")
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, "rules", "costs.toml")

# Element counts each sized type is measured at.
SIZES = (1, 100, 1000, 10000, 100000)

# Floats per inner list of list[list[float]] values; the module's ROW_LENGTH, which builds
# the returned ones, must agree.
ROW_LENGTH = 10

# (batches, milliseconds per batch) of a full run and of --quick.
FULL = (11, 10.0)
QUICK = (3, 2.0)

# How many lines of a failed build's output to show.
OUTPUT_TAIL_LINES = 30


class Argument(object):
    """A type passed from Python to Rust: `take_<name>(value)` for values of each size."""

    direction = "argument"

    def __init__(self, type_name, rust, name, make_value, sized=True, written=True):
        self.type_name = type_name
        self.rust = rust
        self.function = "take_" + name
        self.make_value = make_value
        self.sized = sized
        self.written = written


class Return(object):
    """A type returned from Rust to Python: `give_<name>(*arguments)` against
    `make_<name>(*arguments)`, which builds the same value and drops it."""

    direction = "return"
    written = True

    def __init__(self, type_name, rust, name, make_arguments, python_type, sized=True):
        self.type_name = type_name
        self.rust = rust
        self.function = "give_" + name
        self.twin = "make_" + name
        self.make_arguments = make_arguments
        self.python_type = python_type
        self.sized = sized


class Item(object):
    """A small object of a type no conversion knows: what `*` is measured with."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


ITEM = Item(0)


def numpy_module():
    import numpy
    return numpy


def rows_of_floats(n):
    return [[0.5 * j for j in range(ROW_LENGTH)] for _ in range(n // ROW_LENGTH)]


def rows():
    """Every measured type and direction, in the order of the table."""
    def words(prefix, n):
        return ["%s%d" % (prefix, i) for i in range(n)]

    return [
        Argument("int", "i64", "int", lambda n: 1000000, sized=False),
        Argument("float", "f64", "float", lambda n: 1.5, sized=False),
        Argument("str", "&str", "str_borrowed", lambda n: "x" * n),
        Argument("str", "String", "str", lambda n: "x" * n, written=False),
        Argument("bytes", "&[u8]", "bytes_borrowed", lambda n: b"x" * n),
        Argument("bytes", "Vec<u8>", "bytes", lambda n: b"x" * n, written=False),
        Argument("list[float]", "Vec<f64>", "list_float", lambda n: [0.5 * i for i in range(n)]),
        Argument("list[int]", "Vec<i64>", "list_int", lambda n: list(range(1000, 1000 + n))),
        Argument("list[str]", "Vec<String>", "list_str", lambda n: words("item", n)),
        Argument("tuple[float]", "Vec<f64>", "tuple_float",
                 lambda n: tuple(0.5 * i for i in range(n))),
        Argument("dict[str, int]", "HashMap<String, i64>", "dict_str_int",
                 lambda n: dict((key, 1000 + i) for i, key in enumerate(words("key", n)))),
        Argument("dict[str, float]", "HashMap<String, f64>", "dict_str_float",
                 lambda n: dict((key, 0.5 * i) for i, key in enumerate(words("key", n)))),
        Argument("set[int]", "HashSet<i64>", "set_int", lambda n: set(range(1000, 1000 + n))),
        Argument("list[list[float]]", "Vec<Vec<f64>>", "list_list_float",
                 rows_of_floats),
        Argument("numpy.ndarray[float64]", "PyReadonlyArray1<f64>", "array_float64",
                 lambda n: numpy_module().arange(n, dtype=numpy_module().float64)),
        Argument("numpy.ndarray[int64]", "PyReadonlyArray1<i64>", "array_int64",
                 lambda n: numpy_module().arange(n, dtype=numpy_module().int64)),
        Argument("*", "Vec<Py<PyAny>>", "objects", lambda n: [Item(i) for i in range(n)]),

        Return("int", "i64", "int", lambda n: (1000000,), int, sized=False),
        Return("float", "f64", "float", lambda n: (1.5,), float, sized=False),
        Return("str", "String", "str", lambda n: (n,), str),
        Return("bytes", "Vec<u8>", "bytes", lambda n: (n,), bytes),
        Return("list[float]", "Vec<f64>", "list_float", lambda n: (n,), list),
        Return("list[int]", "Vec<i64>", "list_int", lambda n: (n,), list),
        Return("list[str]", "Vec<String>", "list_str", lambda n: (n,), list),
        Return("tuple[float]", "PyTuple::new(Vec<f64>)", "tuple_float", lambda n: (n,),
               tuple),
        Return("dict[str, int]", "HashMap<String, i64>", "dict_str_int", lambda n: (n,), dict),
        Return("dict[str, float]", "HashMap<String, f64>", "dict_str_float", lambda n: (n,),
               dict),
        Return("set[int]", "HashSet<i64>", "set_int", lambda n: (n,), set),
        Return("list[list[float]]", "Vec<Vec<f64>>", "list_list_float", lambda n: (n,), list),
        Return("numpy.ndarray[float64]", "PyArray1::from_vec(Vec<f64>)", "array_float64",
               lambda n: (n,), "numpy.ndarray"),
        Return("numpy.ndarray[int64]", "PyArray1::from_vec(Vec<i64>)", "array_int64",
               lambda n: (n,), "numpy.ndarray"),
        Return("*", "Vec<Py<PyAny>>", "objects", lambda n: (ITEM, n), list),
    ]


def sizes_of(row):
    """Element counts to measure `row` at: the nested lists hold whole rows."""
    if not row.sized:
        return [1]
    if row.type_name == "list[list[float]]":
        return sorted(set(max(ROW_LENGTH, size) for size in SIZES))
    return list(SIZES)


# ---------------------------------------------------------------------------------------
# Measuring: runs in the interpreter being measured, with the built module on its path.


def time_calls(function, arguments, calls):
    """Nanoseconds that `calls` calls of function(*arguments) take, loop included.

    One loop per argument count, so that every call is a plain call, as in a program."""
    loop = itertools.repeat(None, calls)
    clock = time.thread_time_ns
    if len(arguments) == 0:
        start = clock()
        for _ in loop:
            function()
        return clock() - start
    if len(arguments) == 1:
        first, = arguments
        start = clock()
        for _ in loop:
            function(first)
        return clock() - start
    first, second = arguments
    start = clock()
    for _ in loop:
        function(first, second)
    return clock() - start


def time_empty_loop(calls):
    loop = itertools.repeat(None, calls)
    clock = time.thread_time_ns
    start = clock()
    for _ in loop:
        pass
    return clock() - start


def calls_per_batch(timer, batch_ns):
    """How many calls make a batch of about `batch_ns`; `timer(calls)` times that many.

    The trial runs also warm up the function and its input."""
    calls = 1
    while True:
        elapsed = timer(calls)
        if elapsed * 20 >= batch_ns:
            return max(1, int(round(calls * batch_ns / max(elapsed, 1))))
        calls *= 8


class Timer(object):
    def __init__(self, batches, batch_ms):
        self.batches = batches
        self.batch_ns = batch_ms * 1e6
        self.loop_ns = 0.0
        self.loop_ns = self.median_ns([time_empty_loop])[0]

    def median_ns(self, timers):
        """The median time per call of each `timer(calls)`, in batches that take turns, so
        that a slow spell of the machine lands on all of them alike; less the empty loop."""
        counts = [calls_per_batch(timer, self.batch_ns) for timer in timers]
        per_call = [[] for _ in timers]
        for _ in range(self.batches):
            for timer, calls, times in zip(timers, counts, per_call):
                times.append(timer(calls) / float(calls))
        return [statistics.median(times) - self.loop_ns for times in per_call]

    def calls(self, *calls):
        """median_ns of (function, arguments) pairs."""
        return self.median_ns([
            (lambda count, function=function, arguments=arguments:
             time_calls(function, arguments, count))
            for function, arguments in calls])


def check_argument(row, function, value, size):
    got = function(value)
    expected = bool(value) if not row.sized else size
    if got != expected:
        raise RuntimeError("%s(%s of %d elements) returned %r, expected %r"
                           % (row.function, row.type_name, size, got, expected))


def check_return(row, function, arguments):
    got = function(*arguments)
    expected = row.python_type
    name = type(got).__module__ + "." + type(got).__name__
    if not (got.__class__ is expected or name == expected):
        raise RuntimeError("%s returned a %s, expected %s" % (row.function, name, expected))


def measure(module, batches, batch_ms, progress):
    """Times every row; returns what the parent process fits and prints, as JSON data."""
    timer = Timer(batches, batch_ms)
    call_int = module.call_int
    call_none_ns, call_int_ns = timer.calls((module.call_none, ()), (call_int, (1,)))
    result = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "loop_ns": timer.loop_ns,
        "call_none_ns": call_none_ns,
        "call_int_ns": [call_int_ns],
        "rows": [],
    }
    result["float_latency_ns"] = float_latency_ns(module.float_chain)
    if module.ROW_LENGTH != ROW_LENGTH:
        raise RuntimeError("pa_calibrate builds rows of %d floats, run.py of %d"
                           % (module.ROW_LENGTH, ROW_LENGTH))
    all_rows = rows()
    for number, row in enumerate(all_rows, 1):
        progress("[%2d/%d] %s %s" % (number, len(all_rows), row.direction, row.type_name))
        points = []
        sizes = sizes_of(row)
        if row.direction == "argument":
            function = getattr(module, row.function)
            baseline = None
            for size in sizes:
                value = row.make_value(size)
                check_argument(row, function, value, size)
                if baseline is None:
                    took, baseline = timer.calls((function, (value,)), (call_int, (1,)))
                else:
                    took, = timer.calls((function, (value,)))
                points.append([size, took])
                del value
                gc.collect()
            result["call_int_ns"].append(baseline)
            result["rows"].append({"points": points, "baseline_ns": baseline})
        else:
            give = getattr(module, row.function)
            make = getattr(module, row.twin)
            for size in sizes:
                arguments = row.make_arguments(size)
                check_return(row, give, arguments)
                given, made = timer.calls((give, arguments), (make, arguments))
                points.append([size, given, made])
                gc.collect()
            result["rows"].append({"points": points})
    return result


def float_latency_ns(float_chain):
    """What one float operation waiting for the one before costs the port: the time of
    `float_chain` (2 dependent operations an iteration) at 4e7 iterations less at 1e7, over
    the operations between, best of 5 (the thread's CPU time)."""
    def best(n):
        times = []
        for _ in range(5):
            start = time.thread_time_ns()
            float_chain(n)
            times.append(time.thread_time_ns() - start)
        return min(times)
    low, high = 10_000_000, 40_000_000
    return (best(high) - best(low)) / (2.0 * (high - low))


def measure_main(output_path, batches, batch_ms):
    """The child process: measure, then write the figures as JSON to `output_path`."""
    import pa_calibrate

    if sys.stderr.isatty():
        def progress(message):
            sys.stderr.write("\r\033[Kmeasuring %s" % message)
            sys.stderr.flush()
    else:
        def progress(message):
            pass

    gc.collect()
    gc.disable()
    try:
        result = measure(pa_calibrate, batches, batch_ms, progress)
    finally:
        gc.enable()
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
    with open(output_path, "w") as output:
        json.dump(result, output)
    return 0


# ---------------------------------------------------------------------------------------
# Fitting and writing: runs in the interpreter that started this script.


def fit_line(points):
    """(intercept, slope, largest relative deviation) of the line through the first of
    [(x, y, scale)] that fits the others best, by least squares weighted by 1/scale^2: each
    point counts by its error relative to `scale`, the whole time it measures."""
    first_x, first_y, _ = points[0]
    rest = points[1:]
    weights = [1.0 / (scale * scale) for _, _, scale in rest]
    slope = (sum(w * (x - first_x) * (y - first_y) for w, (x, y, _) in zip(weights, rest)) /
             sum(w * (x - first_x) ** 2 for w, (x, _, _) in zip(weights, rest)))
    intercept = first_y - slope * first_x
    deviation = max(abs(y - intercept - slope * x) / scale for x, y, scale in points)
    return intercept, slope, deviation


class Cost(object):
    """The fitted cost of one row: per_call_ns is beyond the call overhead."""

    def __init__(self, row, per_call_ns, per_element_ns, deviation, sizes):
        self.row = row
        self.per_call_ns = per_call_ns
        self.per_element_ns = per_element_ns
        self.deviation = deviation
        self.sizes = sizes


def fit_costs(all_rows, measured):
    costs = []
    for row, data in zip(all_rows, measured["rows"]):
        if row.direction == "argument":
            # Beyond this row's own measurement of call_int(1).
            points = [(size, took, took) for size, took in data["points"]]
            offset = data["baseline_ns"]
        else:
            points = [(size, given - made, given) for size, given, made in data["points"]]
            offset = 0.0
        sizes = [point[0] for point in points]
        if len(points) == 1:
            costs.append(Cost(row, points[0][1] - offset, 0.0, None, sizes))
            continue
        intercept, slope, deviation = fit_line(points)
        costs.append(Cost(row, intercept - offset, slope, deviation, sizes))
    return costs


def format_sizes(sizes):
    if len(sizes) == 1:
        return "-"
    return "{:,}..{:,}".format(sizes[0], sizes[-1])


def print_report(measured, overhead_ns, costs, python, pyo3):
    print("interpreter: %s (%s %s)" % (python, measured["implementation"], measured["python"]))
    print("pyo3:        %s" % pyo3)
    print()
    print("  %-38s %8.1f ns  (subtracted from every time)" % (
        "empty loop iteration", measured["loop_ns"]))
    print("  %-38s %8.1f ns" % ("call_none()", measured["call_none_ns"]))
    print("  %-38s %8.2f ns  rules/scoring.toml [operations].float_latency_ns (not written)" % (
        "dependent float operation, in Rust", measured["float_latency_ns"]))
    print("  %-38s %8.1f ns  [call].overhead_ns, median of %d measurements" % (
        "call_int(1)", overhead_ns, len(measured["call_int_ns"])))
    print()
    header = "  %-9s %-22s %-29s %11s %14s %13s %5s" % (
        "direction", "type", "rust", "per call ns", "per element ns", "elements", "fit")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for cost in costs:
        row = cost.row
        per_element = "%.3f" % cost.per_element_ns if row.sized else "-"
        fit = "%.0f%%" % (cost.deviation * 100) if cost.deviation is not None else "-"
        mark = "" if row.written else " *"
        print("  %-9s %-22s %-29s %11.1f %14s %13s %5s%s" % (
            row.direction, row.type_name, row.rust, cost.per_call_ns, per_element,
            format_sizes(cost.sizes), fit, mark))
    print()
    print("  * measured for comparison, not written: the file holds the borrowed form.")
    print("  Negative figures are written as 0; --help tells what they mean.")


def toml_string(text):
    # A JSON string of printable ASCII is a valid TOML basic string.
    return json.dumps(text)


def render_costs(measured, overhead_ns, costs, machine, pyo3, command):
    lines = [
        "# Conversion costs across the Python/Rust boundary, measured by benches/calibrate/run.py.",
        "# Regenerate on your machine with: python3 benches/calibrate/run.py",
        "[measured]",
        "machine = %s" % toml_string(machine),
        "date = %s" % toml_string(datetime.date.today().isoformat()),
        "python = %s" % toml_string(measured["python"]),
        "pyo3 = %s" % toml_string(pyo3),
        "command = %s" % toml_string(command),
        "",
        "[call]",
        "overhead_ns = %.1f       # calling a #[pyfunction] with one int argument returning an int"
        % overhead_ns,
        "",
        "# One entry per type name the probe reports and direction; `*` is for any other type.",
        "# per_call_ns: beyond [call].overhead_ns. per_element_ns: per list/tuple/dict/set",
        "# element, str character, bytes byte or array element; per float in all inner lists",
        "# of a list[list[float]]; 0 for int and float.",
    ]
    for cost in costs:
        row = cost.row
        if not row.written:
            continue
        lines.append("")
        if cost.deviation is not None:
            lines.append("# %s elements, largest deviation from the fit %.0f%%" % (
                format_sizes(cost.sizes), cost.deviation * 100))
        lines.extend([
            "[[conversion]]",
            "type = %s" % toml_string(row.type_name),
            "direction = %s" % toml_string(row.direction),
            "rust = %s" % toml_string(row.rust),
            "per_call_ns = %.1f" % max(0.0, cost.per_call_ns),
            "per_element_ns = %.3f" % max(0.0, cost.per_element_ns),
        ])
    lines.extend(render_contents(costs))
    return "\n".join(lines) + "\n"


# What one item inside a container costs, by kind, derived from the rows above (`type`:
# per-element cost of that row, less the per-element costs of the rows after it): an inner
# container is what a list[list[float]] costs per row beyond its floats, a dict entry what a
# dict[str, int] costs per entry beyond its str and int, a set member what a set[int] costs
# per element beyond its int.
CONTENTS = (
    ("int", "list[int]", ()),
    ("float", "list[float]", ()),
    ("str", "list[str]", ()),
    ("container", "list[list[float]]", ("list[float]",) * ROW_LENGTH),
    ("entry", "dict[str, int]", ("list[str]", "list[int]")),
    ("member", "set[int]", ("list[int]",)),
    ("object", "*", ()),
)


def render_contents(costs):
    """The [contents] tables of rules/costs.toml: per item of each kind inside a container,
    by which port-advisor prices the contents its probe counted (what `list[tuple]` or
    `dict[tuple, list]` hold, which have no entry of their own)."""
    lines = [
        "",
        "# A container whose contents the probe counted (through nested containers) is priced",
        "# by them: its entry's per_call_ns (else the `*` entry's), then per item inside, by",
        "# kind. For a flat list or dict that is its entry's own cost; for list[tuple] or",
        "# dict[tuple, list], which have no entry, the only one. Derived from the entries: `int`,",
        "# `float`, `str` and `object` are list[int], list[float], list[str] and `*` per element;",
        "# `container` is list[list[float]] per inner list beyond its %d floats; `entry`," % ROW_LENGTH,
        "# dict[str, int] per entry beyond a str and an int; `member`, set[int] per element",
        "# beyond an int.",
    ]
    for direction in ("argument", "return"):
        per = {}
        for cost in costs:
            if cost.row.direction == direction and cost.row.written:
                per[cost.row.type_name] = max(0.0, cost.per_element_ns)
        lines.append("[contents.%s]" % direction)
        for kind, row, less in CONTENTS:
            scale = ROW_LENGTH if kind == "container" else 1
            value = scale * per.get(row, 0.0) - sum(per.get(r, 0.0) for r in less)
            lines.append("%s = %.3f" % (kind, max(0.0, value)))
    return lines


def write_atomically(path, text):
    """Write `text` to `path` through a temporary file in the same folder, renamed over it,
    so that the file is never half-written."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".costs-", suffix=".toml", dir=folder)
    try:
        with os.fdopen(handle, "w") as output:
            output.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def machine_description():
    """`CPU model, N cores` from /proc/cpuinfo, or what the platform module knows."""
    model = None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    return "%s, %d cores" % (model, os.cpu_count() or 1)


def locked_version(package):
    """The version of `package` in the crate's Cargo.lock."""
    with open(LOCKFILE) as lock:
        text = lock.read()
    for block in text.split("[[package]]"):
        fields = dict(
            line.split(" = ", 1) for line in block.strip().splitlines() if " = " in line)
        if fields.get("name") == '"%s"' % package:
            return fields["version"].strip('"')
    return "unknown"


def fail(message):
    print("error: %s" % message, file=sys.stderr)
    sys.exit(2)


def print_tail(title, output):
    print("error: %s; last lines of its output:" % title, file=sys.stderr)
    for line in output.splitlines()[-OUTPUT_TAIL_LINES:]:
        print("  " + line, file=sys.stderr)


def describe_python(python):
    """(version, numpy version or None) of an interpreter; exits 2 if it cannot run."""
    script = ("import platform\n"
              "try:\n"
              "    import numpy\n"
              "    found = numpy.__version__\n"
              "except ImportError:\n"
              "    found = ''\n"
              "print(platform.python_version(), found)\n")
    try:
        output = subprocess.check_output([python, "-c", script], universal_newlines=True)
    except (OSError, subprocess.CalledProcessError) as error:
        fail("cannot run the interpreter %s (%s); pass --python" % (python, error))
    parts = output.split()
    return parts[0], (parts[1] if len(parts) > 1 else None)


def find_maturin(python):
    """maturin next to the interpreter, else in the tools virtualenv, else on PATH."""
    folders = []
    if os.path.dirname(python):
        folders.append(os.path.dirname(python))
    folders.append(TOOLS_VENV_BIN)
    folders.extend(os.environ.get("PATH", "").split(os.pathsep))
    for folder in folders:
        candidate = os.path.join(folder, "maturin")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    fail("maturin not found next to %s, in %s or on PATH: run .ci/setup, or "
         "`python3 -m pip install maturin`" % (python, TOOLS_VENV_BIN))


def build_module(python, maturin, folder):
    """Build the wheel for `python` and unpack it into folder/site; returns that path."""
    wheels = os.path.join(folder, "wheels")
    site = os.path.join(folder, "site")
    command = [maturin, "build", "--release", "--locked", "--interpreter", python,
               "--manifest-path", MANIFEST, "--out", wheels]
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET_DIR)
    build = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    if build.returncode != 0:
        print_tail("building pa_calibrate failed (%s)" % " ".join(command), build.stdout)
        return None
    built = glob.glob(os.path.join(wheels, "*.whl"))
    if len(built) != 1:
        print_tail("maturin built %d wheels, expected 1" % len(built), build.stdout)
        return None
    with zipfile.ZipFile(built[0]) as wheel:
        wheel.extractall(site)
    return site


def default_python():
    venv_python = os.path.join(TOOLS_VENV_BIN, "python")
    return venv_python if os.path.isfile(venv_python) else "python3"


def command_line(argv):
    """How this run was started, for the file's `command`, with the script's path relative
    to the repository when it is inside it."""
    script = os.path.abspath(__file__)
    relative = os.path.relpath(script, REPO_ROOT)
    shown = script if relative.startswith("..") else relative
    return " ".join(["python3", shown] + [shlex.quote(arg) for arg in argv])


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python3 benches/calibrate/run.py --quick --output /tmp/costs.toml",
    )
    parser.add_argument(
        "--python", default=None,
        help="the interpreter to build the module for and to measure with (default: "
             "target/tools-venv/bin/python if it exists, else python3); it needs numpy")
    parser.add_argument(
        "--output", default=DEFAULT_OUTPUT,
        help="where to write the costs (default: rules/costs.toml in the repository)")
    parser.add_argument(
        "--quick", action="store_true",
        help="%d batches of %g ms per figure instead of %d of %g ms: a smoke test, "
             "noisier" % (QUICK + FULL))
    # The measuring child process: `--measure-into FILE` with the module on its path.
    parser.add_argument("--measure-into", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    batches, batch_ms = QUICK if args.quick else FULL
    if args.measure_into:
        return measure_main(args.measure_into, batches, batch_ms)

    started = time.time()
    python = args.python or default_python()
    version, numpy_version = describe_python(python)
    if numpy_version is None:
        fail("numpy is not installed for %s: `%s -m pip install numpy`, or run .ci/setup "
             "for target/tools-venv" % (python, python))
    maturin = find_maturin(python)
    output_folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(output_folder):
        fail("the folder of --output, %s, does not exist" % output_folder)

    with tempfile.TemporaryDirectory(prefix="pa-calibrate-") as folder:
        print("building pa_calibrate for Python %s with %s (cargo target: %s) ..."
              % (version, maturin, TARGET_DIR), file=sys.stderr)
        site = build_module(python, maturin, folder)
        if site is None:
            return 1
        built = time.time()
        print("built in %.0f s; measuring (%d batches of %g ms per figure) ..."
              % (built - started, batches, batch_ms), file=sys.stderr)
        sys.stderr.flush()

        figures = os.path.join(folder, "measured.json")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [site] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        command = [python, os.path.abspath(__file__), "--measure-into", figures]
        if args.quick:
            command.append("--quick")
        # The child's stderr is ours: its progress line, or the traceback if it fails.
        measuring = subprocess.run(command, env=env)
        if measuring.returncode != 0:
            print("error: measuring failed (exit status %d): %s"
                  % (measuring.returncode, " ".join(command)), file=sys.stderr)
            return 1
        with open(figures) as source:
            measured = json.load(source)

    overhead_ns = statistics.median(measured["call_int_ns"])
    costs = fit_costs(rows(), measured)
    pyo3 = locked_version("pyo3")
    print_report(measured, overhead_ns, costs, python, pyo3)
    text = render_costs(measured, overhead_ns, costs, machine_description(), pyo3,
                        command_line(sys.argv[1:]))
    write_atomically(args.output, text)
    print()
    print("wrote %s in %.0f s (build %.0f s, measuring %.0f s)" % (
        args.output, time.time() - started, built - started, time.time() - built))
    return 0


if __name__ == "__main__":
    sys.exit(main())
