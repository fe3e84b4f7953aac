# port-advisor's in-process probe: `Probe` on CPython 3.12+ (sys.monitoring), `WrapperProbe`
# on 3.8-3.11 (wrappers around the candidate function objects only; on 3.11, after a function's
# first calls, tally code: a copy of its code that counts its calls first, see _tally_code).
#
# It counts calls of the program's own functions from the first call, learns which of them
# port-advisor's sampler finds hot (the `candidates` file, rewritten while the program runs),
# stops watching everything else, and for the candidates observes argument and return types
# and sizes on a thinning schedule and keeps a few small pickled examples. Results are written
# to `results.json` (examples to `examples.json`) twice a second and at exit, so a program
# that calls os._exit or is killed still leaves what was measured.
#
# Cost control: a watched function costs one Python callback per call (about 0.5 us). A
# function called faster than HOT_RATE is switched to windowed counting: it is disabled, and
# every WINDOW_EVERY seconds a short window (512 calls, 0.2 ms at least) re-measures its call
# rate; its count becomes an estimate with an error bar. A window that finds the function idle
# ends the extrapolation from the one before. Everything else the probe does on the program's threads
# (describing arguments, pickling examples) and on its own thread is timed, and stops while it
# exceeds BUDGET_SHARE of the wall time so far.
#
# What a candidate executes (3.12+): a few times in the run, a short window of INSTRUCTION events
# on the candidate's own code object (no other code) counts OP_EVENTS executed bytecodes by
# offset; the results name them by opcode, which port-advisor prices by class. Each event costs
# a Python callback, measured once (`op_cost`) and charged to the budget.
#
# Doing no harm: the probe never runs the program's code. Arguments are described by their
# type and the length of builtin containers only (never by iterating or calling `len` on an
# object of the program's classes), and examples are kept only of plain data (builtins,
# containers of them, numpy arrays of numbers), pickled through a writer that gives up at the
# size cap. It takes a sys.monitoring tool id no other tool claims, leaves the identity of
# every function object alone (on 3.8-3.11 a wrapped function keeps its identity: its code is
# swapped, not the object), never scans the heap, and disarms itself in forked children.
import sys

_mon = getattr(sys, "monitoring", None)
_E = _mon.events if _mon else None
_DISABLE = _mon.DISABLE if _mon else None

# A counted call costs 0.3-0.5 us, charged to the function and so to its callers' shares:
# 40,000 counted calls a second cost at most 2% of the program, and so move no sampled share
# by more than 2 points (at 200,000 a second, shares moved by up to 7 points).
HOT_RATE = 40000.0  # calls per second above which a function's counting turns to windows
TOTAL_RATE = 40000.0  # counted calls per second the probe allows itself in all
TALLY_RATE = 500000.0  # the same for calls counted by tally code (CPython 3.11, see
# _tally_code), per function and in all: ~17 ns each, 500,000 a second cost 1%
TALLY_BURST = 4  # calls observed at each look of a function counted by tally code
TALLY_AFTER = 8  # calls counted by the wrapper (and observed) before tally code takes over
_TALLIES = sys.version_info[:2] == (3, 11)
RETURNS = 8  # return values observed per function between restarts of disabled events
HOT_CHECK = 1024  # calls between rate checks of a watched function
WINDOW_CALLS = 512  # calls measured per window, at least
WINDOW_SECONDS = 0.0002  # shortest window: 512 calls of a tiny function take 50 us, too short
# to time against the timer's own cost
WINDOW_COST = 0.01  # share of the program's time that counting in windows may cost, in all:
# a window lasts as long as that allows, up to WINDOW_LONGEST of the time between windows.
# The rate a window measures varies with what else the machine runs (on a busy machine,
# 2 ms windows read 0.7x-1.6x the rate of the gaps after them, on the thread's CPU clock):
# a longer window averages that out.
WINDOW_LONGEST = 0.25
COUNTED_SLOWDOWN = 0.03  # how much slower a counted call's own work runs than an uncounted
# one's, besides the callback: the callback displaces the caches and branch history the
# function's work had. The calibration (an empty function in a tight loop) cannot see it;
# kernel_calls.py's 3.5-5 us calls ran 2-6% slower counted, on 3.12-3.15, on the CPU clock.
PROMPT = 0.02  # a window whose first call comes later than this found the function idle
WINDOW_EVERY = 0.05  # seconds between windows: many short ones follow a program's changes of
# pace (one a second, a function busy for 0.7 s at a time was counted 25% to 4x off)
RESTART_EVERY = 1.0  # seconds between restarts of disabled events on 3.12+ (each re-instruments
# the running code; every 0.25 s, that alone moved sampled shares by 2 points)
LOOK_EVERY = 0.25  # seconds between the probe thread's looks: budget, candidates, results
EXAMPLES = 3  # examples kept per candidate
EXAMPLE_BYTES = 262144  # largest pickled example kept (a list of 10,000 floats is 90 KB)
OBSERVATIONS = 256  # argument observations per candidate
PLAIN_NODES = 20000  # values looked at to decide an example is plain data, at most
ATTACHED_LOOK = 0.1  # seconds between an injected probe's looks for the end of its recording
BUDGET_SHARE = 0.02  # the probe's own time (observing, its thread), as a share of wall time
BUDGET_GRACE = 0.05  # seconds it may spend before the share applies (its first looks and
# imports: a loaded machine took more than 10 ms, and the backed-off thread then missed the
# candidates of a 1.2 s run)
# sys.monitoring tool ids the probe may take: not DEBUGGER_ID (0), COVERAGE_ID (1),
# PROFILER_ID (2) or OPTIMIZER_ID (5), which debuggers, coverage.py, cProfile and JITs claim.
TOOL_IDS = (4, 3)
OP_EVENTS = 4096  # bytecodes counted per instruction window of a candidate (3.12+)
OP_EVERY = 1.0  # seconds between a candidate's instruction windows, at least
OP_WINDOWS = 8  # instruction windows per candidate, at most
# Bytecodes counted per second of the run, in all: a window costs more than its callbacks (the
# code runs unspecialised while it is open, and specialises again after), and 8 windows on
# each of 40 candidates ran pyparsing 1.29x slower instead of 1.06x. At this rate they cost a
# few ms a second; candidates take turns, the fewest windows first.
OP_RATE = 8192.0


# A watched function's state. Compared by identity on the hot path.
_COUNT = "count"  # every call counted
_HOT = "hot"  # too hot to count: disabled between windows
_WINDOW = "window"  # a window is measuring its call rate
_OFF = "off"  # not watched: its events are disabled


class _Stats(object):
    __slots__ = (
        "code", "calls", "state", "user", "candidate", "checked_at", "check_time",
        "window_start", "window_calls", "estimate", "est_var", "windows", "last_window",
        "observed", "args", "returns", "examples", "pending", "returns_seen", "since",
        "next_event", "last_total", "last_rate", "observing", "overhead", "overhead_at_check",
        "examples_closed", "returns_live", "window_opened", "est_sys", "last_rel",
        "thread", "cpu_clock", "last_cpu", "last_rate_cpu", "window_start_cpu",
        "window_opened_cpu", "check_cpu", "overhead_at_open", "window_length",
        "counter", "tallying", "tally_seen", "tally_time", "burst",
        "ops", "op_left", "op_windows", "op_opened", "op_names",
    )

    def __init__(self, code, user, now):
        self.code = code
        self.calls = 0
        self.state = _COUNT if user else _OFF
        self.user = user
        self.candidate = False
        self.checked_at = 0
        self.check_time = now
        self.window_start = 0.0  # 0 while an open window waits for its first call
        self.window_opened = 0.0  # when the window waiting for its first call opened
        self.last_rate = 0.0  # calls per second when last measured
        self.observing = 0  # calls to observe when a window opens, before its clock starts
        self.window_calls = 0
        self.estimate = 0.0  # calls estimated while windowed
        self.est_var = 0.0  # variance of the estimate from the changes of rate between windows
        self.est_sys = 0.0  # its error from the correction for counting's own cost, which
        # errs the same way in every window
        self.last_rel = 0.0  # that error, relative, in the last window
        self.windows = 0
        self.last_window = now
        self.observed = 0
        self.args = {}
        self.returns = {}
        self.examples = []
        self.pending = {}
        self.returns_seen = 0
        self.since = 0.0  # seconds after start when counting began
        self.next_event = 1  # call number at which the slow path runs next
        self.last_total = 0  # calls at the probe thread's last look
        self.overhead = 0.0  # seconds spent observing its calls (types, examples)
        self.overhead_at_check = 0.0
        self.examples_closed = None  # why no more examples are tried, once one failed
        self.returns_live = True  # return events reach it (3.12+: not disabled since restart)
        # The same instants on the CPU clock of the thread that calls it, when one thread
        # does (see _gap_calls): None where that clock was not read.
        self.thread = None  # that thread's ident
        self.cpu_clock = None  # its CPU clock, which the probe's thread can read too
        self.last_cpu = None  # at the end of the last window (or of counting)
        self.last_rate_cpu = None  # calls per second of that thread's CPU time then
        self.window_start_cpu = None
        self.window_opened_cpu = None
        self.check_cpu = None  # at the last rate check
        self.overhead_at_open = 0.0  # `overhead` when the last window opened
        self.window_length = WINDOW_SECONDS  # how long the open window counts, at least
        # Counting by tally code (CPython 3.11): its counter, whether its functions run that
        # code now, the counter's value and the time at the last look, and how many more
        # calls to observe through the wrapper before going back to it.
        self.counter = None
        self.tallying = False
        self.tally_seen = 0
        self.tally_time = 0.0
        self.burst = 0
        # Instruction windows (3.12+): executed bytecodes by offset, how many the open window
        # still counts, windows opened, when the last opened, and the opcode at each offset.
        self.ops = None
        self.op_left = 0
        self.op_windows = 0
        self.op_opened = 0.0
        self.op_names = None


def _gap_calls(st, until, rate, until_cpu=None, rate_cpu=None):
    """The calls of a windowed function between its last window and `until` (the first call of
    the next window, or now), and their variance: at the mean of the last window's rate and
    `rate` (the next window's). A window that waited for its first call found the function
    idle when it opened: no call came between the opening and `until`, and the calls at the
    last rate stopped somewhere before it, half way at a guess.

    The clock is the CPU time of the thread that calls the function, when both ends were read
    on it (`until_cpu`, `rate_cpu`): calls come only while that thread runs. On the wall
    clock, a program that shares its cores ran 1.5x too many calls into its gaps: a window
    opens when the program's thread runs (its first call starts it) and lasts a few
    milliseconds, so it sees the thread running, while the gap also holds the time the
    system ran other programs, or the thread waited for the GIL."""
    opened = st.window_opened or until
    last_rate = st.last_rate
    gap = max(min(opened, until) - st.last_window, 0.0)
    waited = until - opened
    if until_cpu is not None and rate_cpu is not None and st.last_cpu is not None \
            and st.last_rate_cpu is not None:
        opened_cpu = st.window_opened_cpu if st.window_opened else until_cpu
        if opened_cpu is not None:
            gap = max(min(opened_cpu, until_cpu) - st.last_cpu, 0.0)
            last_rate, rate = st.last_rate_cpu, rate_cpu
            # Idle is a thread that ran without calling it, not one the system kept waiting,
            # nor the probe observing the calls before the window's clock starts (the first
            # example imports pickle: 17 ms on a busy machine).
            waited = until_cpu - opened_cpu - (st.overhead - st.overhead_at_open)
    if waited <= PROMPT:
        calls = 0.5 * (last_rate + rate) * gap
        # Each window's rate varies with what the program does; count that as the error.
        return calls, (0.25 * calls) ** 2
    calls = 0.5 * last_rate * gap
    return calls, (0.6 * calls) ** 2


def _cpu_rate(counted, elapsed, call_cost):
    """Calls per second of `elapsed` (CPU) seconds with their counting taken out: the
    callback's calibrated cost, and the slowdown it leaves in the function's own work."""
    if elapsed <= 0.0:
        return None
    uncounted = max(elapsed - counted * call_cost, 0.1 * elapsed, 1e-9)
    return counted * (1.0 + COUNTED_SLOWDOWN) / uncounted


def _observations_per_window(st):
    """How many calls a window observes before timing: a few for a candidate still short of
    its observations, so a function too hot to watch every call is still described."""
    if not st.candidate:
        return 0
    return max(0, min(8, OBSERVATIONS - st.observed))


def _calibrate():
    """A function that does nothing, to time what counting a call costs."""


def _op_calibration(n):
    s = 0
    for i in range(n):
        s += i * 3 % 7
    return s


def _key(code):
    """A function as the sampler names it: the qualified name on 3.11+, else the name."""
    return code.co_filename, getattr(code, "co_qualname", code.co_name)


_CONTAINERS = (list, tuple, set, frozenset, dict)


def _numpy_array(value, t):
    """Whether `value` is a numpy array or scalar of numbers (not of objects)."""
    if t.__module__ != "numpy":
        return False
    dtype = getattr(value, "dtype", None)
    return dtype is not None and not getattr(dtype, "hasobject", True)


def _describe(value, depth=0):
    """A short type description with a size and, for a builtin container, what it holds:
    ("list[float]", 10000, contents). Only builtin containers are looked into (their length,
    their first items): an object of the program's own classes is named by its type and never
    iterated, nor asked its length, since either runs the program's code and may change it (a
    lazy sequence over a generator loses an item)."""
    t = type(value)
    name = t.__name__
    mod = t.__module__
    if mod == "numpy" and name == "ndarray" and _numpy_array(value, t):
        return "numpy.ndarray[%s]" % value.dtype, int(value.size), None
    if t in (str, bytes, bytearray):
        return name, len(value), None
    if t in _CONTAINERS:
        n = len(value)
        if depth == 0 and n:
            if t is dict:
                k, v = next(iter(value.items()))
                inner = "%s, %s" % (_describe(k, 1)[0], _describe(v, 1)[0])
            else:
                inner = _describe(next(iter(value)), 1)[0]
            contents = [0.0] * len(CONTENTS)
            _count_contents(value, contents, CONTENT_DEPTH)
            return "%s[%s]" % (name, inner), n, contents
        return name, n, None
    if mod != "builtins":
        name = mod + "." + name
    if t is int:
        return name, value.bit_length(), None
    return name, None, None


# What a container holds, counted over everything inside it (its own items, theirs, and so
# on): what converting it to Rust values costs, element by element (`[contents]` in
# rules/costs.toml). `entry` and `member` count the items of dicts and of sets, which a port
# hashes into a HashMap or a HashSet.
CONTENTS = ("int", "float", "str", "container", "entry", "member", "object")
_CONTENT = dict((k, i) for i, k in enumerate(CONTENTS))
# Items looked at per container, the rest counted as these are; and how deep.
CONTENT_ITEMS = 8
CONTENT_DEPTH = 3


def _count_contents(value, counts, depth, scale=1.0):
    """Adds to `counts` the items inside the builtin container `value`, times `scale`: its
    first CONTENT_ITEMS items are looked at (keys and values of a dict) and stand for all of
    them; containers below `depth` levels count as containers of what their first item is."""
    t = type(value)
    n = len(value)
    if n == 0:
        return
    if t is dict:
        counts[_CONTENT["entry"]] += scale * n
        items = []
        for k, v in value.items():
            items.append(k)
            items.append(v)
            if len(items) >= 2 * CONTENT_ITEMS:
                break
        per = scale * 2 * n / len(items)
    else:
        if t in (set, frozenset):
            counts[_CONTENT["member"]] += scale * n
        items = []
        for item in value:
            items.append(item)
            if len(items) >= CONTENT_ITEMS:
                break
        per = scale * n / len(items)
    for item in items:
        it = type(item)
        if it is float:
            counts[_CONTENT["float"]] += per
        elif it in (int, bool, type(None)):
            counts[_CONTENT["int"]] += per
        elif it in (str, bytes, bytearray):
            counts[_CONTENT["str"]] += per
        elif it in _CONTAINERS:
            counts[_CONTENT["container"]] += per
            if depth > 1:
                _count_contents(item, counts, depth - 1, per)
        else:
            counts[_CONTENT["object"]] += per


_SCALARS = (type(None), bool, int, float, complex)
_SIZED = (str, bytes, bytearray)
_SIZED_SET = frozenset(_SIZED)
_FLAT = frozenset(_SCALARS + _SIZED)


def _plain_data(value, limit):
    """Whether `value` is plain data (builtin scalars and strings, builtin containers of them,
    numpy arrays of numbers) of an estimated size within `limit` bytes. Runs none of the
    program's code (exact types only), looks into at most PLAIN_NODES nested values (a flat
    list of numbers or strings is checked at C speed, by the set of its item types), and so
    decides in bounded time what pickling would otherwise find out by serialising everything."""
    todo = [value]
    pushed = 1
    size = 0
    while todo:
        v = todo.pop()
        t = type(v)
        if t in _SCALARS:
            size += 9
        elif t in _SIZED:
            size += len(v) + 5
        elif t in _CONTAINERS:
            n = len(v)
            if 2 * n > limit:
                return False
            items = v.items() if t is dict else v
            if t is dict:
                kinds = set(map(type, v)) | set(map(type, v.values()))
            else:
                kinds = set(map(type, v))
            if kinds <= _FLAT:
                size += 2 + (18 if t is dict else 9) * n
                if kinds & _SIZED_SET:
                    size += sum(len(x) for x in (v.values() if t is dict else v)
                                if type(x) in _SIZED)
                    if t is dict:
                        size += sum(len(k) for k in v if type(k) in _SIZED)
            else:
                pushed += (2 * n) if t is dict else n
                if pushed > PLAIN_NODES:
                    return False
                if t is dict:
                    for k, item in items:
                        todo.append(k)
                        todo.append(item)
                else:
                    todo.extend(v)
        elif _numpy_array(v, t):
            size += int(getattr(v, "nbytes", 0)) + 100
        else:
            return False
        if size > limit:
            return False
    return True


class _TooLarge(Exception):
    pass


class _CappedFile(object):
    """A file that keeps what is written up to `limit` bytes and then gives up, so that an
    example larger than the cap costs no more than the cap to find out."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0

    def write(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge()
        self.parts.append(bytes(data))
        return len(data)


def _capped_pickle(value, limit):
    """The pickled bytes of plain data `value`, or None when they would pass `limit`."""
    import pickle

    out = _CappedFile(limit)
    try:
        pickle.Pickler(out, protocol=4).dump(value)
    except _TooLarge:
        return None
    except Exception:
        return None
    return b"".join(out.parts)


def _note(table, key, desc):
    type_name, size, contents = desc
    entry = table.get((key, type_name))
    if entry is None:
        # count, total size, max size, total contents (None until a container is seen)
        entry = table[(key, type_name)] = [0, 0, 0, None]
    entry[0] += 1
    if size is not None:
        entry[1] += size
        if size > entry[2]:
            entry[2] = size
    if contents is not None:
        if entry[3] is None:
            entry[3] = [0.0] * len(CONTENTS)
        for i, c in enumerate(contents):
            entry[3][i] += c


class Probe(object):
    # Seconds between windows on hot functions (see WINDOW_EVERY).
    window_every = WINDOW_EVERY

    method = "sys.monitoring"
    # Whether it opens instruction windows on the candidates (sys.monitoring only).
    instruction_windows = True

    def __init__(self, folder, user_roots, own_file, examples=True, owner=None):
        self._setup(folder, user_roots, own_file, examples)
        # Injected into a running process (`profile --pid`, CPython 3.14+): the process of
        # port-advisor that recorded it. The probe removes itself when the recording ends
        # (the `stop` file), when its folder is gone, or when that process is.
        self.owner = owner
        self.tool = None
        for tool in TOOL_IDS:
            if _mon.get_tool(tool) is None:
                self.tool = tool
                break
        if self.tool is None:
            self.error = "no free sys.monitoring tool id"
            return
        self.error = None
        _mon.use_tool_id(self.tool, "port-advisor")
        _mon.register_callback(self.tool, _E.PY_START, self._on_start)
        _mon.register_callback(self.tool, _E.PY_RETURN, self._on_return)
        _mon.register_callback(self.tool, _E.INSTRUCTION, self._on_instruction)
        # A second tool id, when free, times the windows of hot functions with local events,
        # which turn on and off per function without re-instrumenting the rest of the program.
        # Without it, windows need restart_events and open once a RESTART_EVERY.
        self.window_tool = None
        for tool in TOOL_IDS:
            if tool != self.tool and _mon.get_tool(tool) is None:
                self.window_tool = tool
                _mon.use_tool_id(tool, "port-advisor windows")
                _mon.register_callback(tool, _E.PY_START, self._on_window_start)
                break
        self.call_cost = self._calibrate()
        _mon.set_events(self.tool, _E.PY_START)
        self._start_thread()

    def _disarm(self):
        """In a forked child: the probe belongs to the parent, which writes its results. The
        child runs on untouched: no events, no callbacks, its tool id free again. (Also how an
        injected probe removes itself.)"""
        self.armed = False
        tool = self.tool
        clear = getattr(_mon, "clear_tool_id", None)
        if clear is not None:
            # 3.14+: every event, local ones included, and every callback of the tool.
            for one in (tool, self.window_tool):
                try:
                    if one is not None:
                        clear(one)
                        _mon.free_tool_id(one)
                except Exception:
                    pass
            return
        try:
            _mon.set_events(tool, 0)
            for st in list(self.stats.values()):
                if st.candidate:
                    _mon.set_local_events(tool, st.code, 0)
            _mon.register_callback(tool, _E.PY_START, None)
            _mon.register_callback(tool, _E.PY_RETURN, None)
            _mon.register_callback(tool, _E.INSTRUCTION, None)
            _mon.free_tool_id(tool)
            windows = self.window_tool
            if windows is not None:
                for st in list(self.stats.values()):
                    if st.state is _WINDOW:
                        _mon.set_local_events(windows, st.code, 0)
                _mon.register_callback(windows, _E.PY_START, None)
                _mon.free_tool_id(windows)
        except Exception:
            pass

    def _calibrate(self):
        """Seconds one counted call adds (the callback and its dispatch). A window measures the
        call rate with every call counted, so without this correction a function whose own
        work is as short as the callback would read at half its real rate. Measured as a window
        counts: a function called with the window tool's event on, against off."""
        code = _calibrate.__code__
        st = _Stats(code, True, 0.0)
        st.next_event = 1 << 62
        st.state = _WINDOW
        self.stats[id(code)] = st
        timer = self._time.perf_counter
        windows = self.window_tool

        def per_call():
            best = None
            for _ in range(5):
                t0 = timer()
                for _ in range(200):
                    _calibrate()
                t = (timer() - t0) / 200
                best = t if best is None else min(best, t)
            return best

        try:
            if windows is None:
                # Windows are counted by the main callback: time it called directly, and add
                # the interpreter's own dispatch of the event, measured on 3.12.
                on_start = self._on_start
                st.state = _COUNT
                best = None
                for _ in range(5):
                    t0 = timer()
                    for _ in range(200):
                        on_start(code, 0)
                    t = (timer() - t0) / 200
                    best = t if best is None else min(best, t)
                return best + 60e-9
            plain = per_call()
            _mon.set_local_events(windows, code, _E.PY_START)
            counted = per_call()
            _mon.set_local_events(windows, code, 0)
            return max(counted - plain, 0.0)
        finally:
            del self.stats[id(code)]

    def _start_thread(self):
        import threading

        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._wake,), name="port-advisor-probe", daemon=True
        )
        self._thread.start()

    def _before_fork(self):
        """Ends the probe's thread for the moment of a fork: a program that forks while its
        only thread runs must see one thread (3.12+ warns about forking a multi-threaded
        process, and a thread holding a lock at the fork would hold it in the child)."""
        thread = getattr(self, "_thread", None)
        if thread is None or not self.armed:
            return
        tasks = self._threads()
        self._wake.set()
        thread.join(1.0)
        self._thread = None
        # join() returns as the thread ends in Python; the system thread ends moments later.
        deadline = self._time.monotonic() + 0.1
        while tasks is not None and self._threads() >= tasks and self._time.monotonic() < deadline:
            self._time.sleep(0.0005)

    def _after_fork_in_parent(self):
        if not self.armed or getattr(self, "_thread", 1) is not None:
            return
        if _mon is None:
            self._start_thread()
        else:
            # 3.13 counts the process's threads after the parent's fork handlers have run, and
            # would warn about this one: it starts again on the next slow path of a watched
            # call instead (the exit handler writes the results even if none comes).
            self.restart_pending = True

    def _restart_after_fork(self):
        self.restart_pending = False
        if self.armed and getattr(self, "_thread", 1) is None:
            self._start_thread()

    def _threads(self):
        try:
            return len(self._os.listdir("/proc/self/task"))
        except OSError:
            return None

    def _setup(self, folder, user_roots, own_file, examples):
        import os
        import time

        self._os = os
        self._time = time
        self.owner = None  # see Probe.__init__
        import threading

        self._get_ident = threading.get_ident
        # The calling thread's CPU time: windows of hot functions are timed on it too.
        self._thread_time = getattr(time, "thread_time", time.perf_counter)
        self.pid = os.getpid()
        self.armed = True
        self.folder = folder
        self.user_roots = tuple(r.rstrip("/") + "/" for r in user_roots)
        self.own_file = own_file
        self.keep_examples = examples
        # Every function's stats, by the id of its code object (which its stats keep alive):
        # a code object hashes its whole bytecode on every lookup, which made each counted
        # call of a long function cost up to 1 us more than the calibration measured.
        self.stats = {}
        self._get = self.stats.get
        self.hot = {}  # id(code) -> stats of the functions counted in windows
        self.restart_pending = False  # the thread, ended for a fork, starts again soon
        self.candidates = set()
        self.candidates_mtime = None
        self.started = time.perf_counter()
        # The same instant on the system's monotonic clock, which the sampler reads too: it
        # places each `counted_since` among its own samples.
        self.started_monotonic = time.monotonic()
        self.last_look = self.started
        import threading

        self._write_lock = threading.Lock()
        # The results are written as JSON: imported here, before the program runs. Imported
        # at the first look, each of the import's file reads waited for the GIL of the busy
        # program, and the first report came 0.1-0.4 s late (a program that ended by then
        # kept no counts at all).
        import json  # noqa: F401
        # What the probe spent, in seconds, and what it left out to keep within its budget.
        self.spent_observing = 0.0  # on the program's threads: describing, pickling
        self.spent_thread = 0.0  # CPU time of the probe's own thread
        self.skipped = {"over_budget": 0, "not_plain_data": 0, "too_large": 0}
        # Instruction windows (3.12+): seconds an INSTRUCTION event costs, measured at the
        # first window, and the bytecodes the windows opened so far may count.
        self.op_cost = None
        self.op_opened_events = 0
        # Examples go to a file of their own, written only when one is added or gets its
        # result: rewritten with the counts twice a second, 3 examples of two 10,000-float
        # lists (700 KB of base64) took 4 ms a write, and the probe's whole budget.
        self.examples_changed = 0
        self.examples_written = -1
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=self._before_fork,
                after_in_parent=self._after_fork_in_parent,
                after_in_child=self._disarm,
            )

    def _over_budget(self, now):
        """Whether the probe has spent its share of the wall time so far."""
        spent = self.spent_observing + self.spent_thread
        return spent > BUDGET_SHARE * (now - self.started) + BUDGET_GRACE

    # -- callbacks: keep them short, they run on every watched call --

    def _on_start(self, code, offset):
        # The fast path: one dict lookup, one increment, one comparison.
        st = self._get(id(code))
        if st is None:
            st = self._new(code)
        if st.state is not _COUNT:
            if st.state is _OFF or self.window_tool is not None:
                # Not watched, or hot: its windows are counted by the window tool.
                return _DISABLE
        st.calls += 1
        if st.calls >= st.next_event:
            return self._slow(st)

    def _on_window_start(self, code, offset):
        # A call of a hot function in an open window (the window tool's local event).
        st = self._get(id(code))
        try:
            if st is None or st.state is not _WINDOW:
                _mon.set_local_events(self.window_tool, code, 0)
                return None
            st.calls += 1
            if st.calls >= st.next_event and self._slow(st) is _DISABLE:
                # The window closed. DISABLE would stick until the next restart: turn the
                # local event off instead, so that the next window can turn it on again.
                _mon.set_local_events(self.window_tool, code, 0)
        except ValueError:
            # An injected probe gave its tool id back while this call ran: nothing to undo.
            pass
        return None

    def _on_instruction(self, code, offset):
        # A bytecode of a candidate in an open instruction window.
        st = self._get(id(code))
        if st is None or st.op_left <= 0:
            self._close_ops(code, st)
            return None
        ops = st.ops
        ops[offset] = ops.get(offset, 0) + 1
        st.op_left -= 1
        if st.op_left == 0:
            self._close_ops(code, st)
            self.spent_observing += OP_EVENTS * (self.op_cost or 0.0)
        return None

    def _close_ops(self, code, st):
        try:
            _mon.set_local_events(
                self.tool, code, _E.PY_RETURN if st is not None and st.candidate else 0
            )
        except ValueError:
            pass  # an injected probe gave its tool id back while this call ran

    def _slow(self, st):
        if self.restart_pending:
            self._restart_after_fork()
        if st.state is _WINDOW:
            if st.observing:
                # A hot candidate's arguments are observed as a window opens, before its
                # clock starts, so that observing does not slow the calls it times.
                st.observing -= 1
                self._observe(st, sys._getframe(2))
                st.next_event = st.calls + 1
                return None
            if self._window_call(st):
                return None
            return _DISABLE
        if st.calls - st.checked_at >= HOT_CHECK:
            self._check_rate(st)
            if st.state is _HOT:
                return _DISABLE
        if st.candidate and st.observed < OBSERVATIONS:
            self._observe(st, sys._getframe(2))
        self._schedule(st)

    def _schedule(self, st):
        """Sets the next call at which the slow path must run."""
        nxt = st.checked_at + HOT_CHECK
        if st.candidate and st.observed < OBSERVATIONS:
            # Every one of the first 8 calls, then every 64th.
            nxt = min(nxt, st.calls + (1 if st.observed < 8 else 64))
        st.next_event = nxt

    def _on_return(self, code, offset, value):
        # Returns are observed a few at a time: a function returns as often as it is called,
        # so this event is disabled again at once and re-enabled with the next windows.
        st = self._get(id(code))
        if st is None or not st.candidate:
            return _DISABLE
        t0 = self._time.perf_counter()
        try:
            # The returning call's frame, which its observed arguments were filed under.
            return self._observe_return(st, value, id(sys._getframe(1)))
        finally:
            spent = self._time.perf_counter() - t0
            st.overhead += spent
            self.spent_observing += spent

    def _observe_return(self, st, value, frame_id):
        st.returns_seen += 1
        if st.pending:
            i = st.pending.pop(frame_id, None)
            if i is not None:
                st.examples[i][1] = self._example_result(value)
                self.examples_changed += 1
        if st.returns_seen % RETURNS == 0 and not st.pending:
            _note(st.returns, "return", _describe(value))
            st.returns_live = False
            return _DISABLE
        _note(st.returns, "return", _describe(value))

    def _new(self, code):
        # Runs once per code object, on its first call.
        filename = code.co_filename
        user = (
            filename.startswith(self.user_roots)
            and "site-packages" not in filename
            and filename != self.own_file
        )
        st = _Stats(code, user, self._time.perf_counter())
        st.candidate = _key(code) in self.candidates
        if st.candidate:
            st.state = _COUNT
        if st.state is _COUNT:
            # Its rate is checked on the CPU clock too, from this first call.
            st.thread, st.check_cpu = self._thread_cpu()
        if not user:
            st.since = st.check_time - self.started
        self.stats[id(code)] = st
        return st

    def _check_rate(self, st):
        now = self._time.perf_counter()
        counted = st.calls - st.checked_at
        # The calls ran slower by their counting and by the observing of some of them: both
        # are taken out, as in a window.
        spent = st.overhead - st.overhead_at_check
        elapsed = now - st.check_time - spent
        rate = counted / max(elapsed - counted * self.call_cost, 0.1 * elapsed, 1e-9)
        # The same on the calling thread's CPU clock, when the last check ran on it too.
        thread, cpu = self._thread_cpu()
        rate_cpu = None
        if st.check_cpu is not None and st.thread == thread:
            rate_cpu = _cpu_rate(counted, cpu - st.check_cpu - spent, self.call_cost)
        st.thread = thread
        st.check_cpu = cpu
        st.checked_at = st.calls
        st.check_time = now
        st.overhead_at_check = st.overhead
        if rate > self._hot_rate(st):
            self._make_hot(st, now, rate)
            if rate_cpu is not None:
                st.last_cpu = cpu
                st.last_rate_cpu = rate_cpu
                st.cpu_clock = self._cpu_clock(thread)

    def _hot_rate(self, st):
        """Calls per second above which `st` turns to windows."""
        return HOT_RATE

    def _thread_cpu(self):
        """The calling thread and its CPU time."""
        return self._get_ident(), self._thread_time()

    def _cpu_clock(self, thread):
        """The CPU clock of `thread`, which any thread can read; None where there is none."""
        try:
            return self._time.pthread_getcpuclockid(thread)
        except (AttributeError, OSError, OverflowError):
            return None

    def _read_cpu(self, st):
        """The CPU time of the thread that calls `st` now, read from any thread; None when it
        is not known (or the thread has ended)."""
        if st.cpu_clock is None or st.last_cpu is None:
            return None
        try:
            return self._time.clock_gettime(st.cpu_clock)
        except (OSError, OverflowError):
            st.cpu_clock = None
            return None

    def _window_length(self, st, period, hot):
        """How long a window on `st` counts its calls: as long as counting them may cost,
        shared among the `hot` functions windowed together, every `period` seconds."""
        cost = self.call_cost * st.last_rate  # share of its time counting costs while on
        if cost <= 0.0:
            return WINDOW_SECONDS
        length = WINDOW_COST * period / (cost * max(hot, 1))
        return min(max(length, WINDOW_SECONDS), WINDOW_LONGEST * period)

    def _make_hot(self, st, now, rate):
        self.hot[id(st.code)] = st
        st.state = _HOT
        st.last_window = now
        st.last_rate = rate
        st.last_cpu = None  # set by the caller when it read the CPU clock
        st.last_rate_cpu = None
        st.next_event = 1 << 62

    def _window_call(self, st):
        """A call in an open window: the first one starts the clock (the window opened on the
        probe's thread, and the program's thread may only get the GIL milliseconds later);
        the last one closes it. Returns whether the window stays open."""
        now = self._time.perf_counter()
        if st.window_start == 0.0:
            st.window_start = now
            st.window_calls = st.calls
            st.next_event = st.calls + WINDOW_CALLS
            thread, st.window_start_cpu = self._thread_cpu()
            if thread != st.thread:
                # Another thread than the one the last window ended on: its CPU clock does
                # not measure the gap.
                st.thread = thread
                st.last_cpu = None
            return True
        if now - st.window_start < st.window_length:
            st.next_event = st.calls + WINDOW_CALLS
            return True
        self._close_window(st, now)
        return False

    def _close_window(self, st, now):
        counted = st.calls - st.window_calls
        elapsed = now - st.window_start
        # The window's calls ran slower by the counting itself: take that out.
        uncounted = max(elapsed - counted * self.call_cost, 0.1 * elapsed)
        rate = counted / max(uncounted, 1e-9)
        thread, cpu = self._thread_cpu()
        rate_cpu = None
        if thread == st.thread and st.window_start_cpu is not None:
            rate_cpu = _cpu_rate(counted, cpu - st.window_start_cpu, self.call_cost)
        # The correction is as good as the calibration, which was seen up to half off inside
        # real loops: a tiny function's rate, mostly correction, is uncertain by as much.
        share = min(1.0 - uncounted / max(elapsed, 1e-9), 0.9)
        rel = min(0.5 * share / (1.0 - share), 1.0)
        est, var = _gap_calls(st, st.window_start, rate, st.window_start_cpu, rate_cpu)
        st.estimate += est
        st.est_var += var
        st.est_sys += est * max(rel, st.last_rel)
        st.last_rel = rel
        st.last_rate = rate
        st.windows += 1
        st.last_window = now
        st.window_opened = 0.0
        st.window_opened_cpu = None
        st.window_start_cpu = None
        if rate_cpu is not None:
            if st.thread != thread or st.cpu_clock is None:
                st.cpu_clock = self._cpu_clock(thread)
            st.thread = thread
            st.last_cpu = cpu
            st.last_rate_cpu = rate_cpu
        else:
            st.last_cpu = None
            st.last_rate_cpu = None
        st.state = _HOT
        st.next_event = 1 << 62

    def _observe(self, st, frame):
        t0 = self._time.perf_counter()
        if self._over_budget(t0):
            self.skipped["over_budget"] += 1
            return
        self._observe_frame(st, frame)
        spent = self._time.perf_counter() - t0
        st.overhead += spent
        self.spent_observing += spent

    def _observe_frame(self, st, frame):
        code = st.code
        st.observed += 1
        n = code.co_argcount + code.co_kwonlyargcount
        names = code.co_varnames[:n]
        f_locals = frame.f_locals
        for name in names:
            if name in f_locals:
                _note(st.args, name, _describe(f_locals[name]))
        if self._wants_example(st):
            args = dict((k, f_locals[k]) for k in names if k in f_locals)
            if self._keep_example(st, args):
                st.pending[id(frame)] = len(st.examples) - 1

    def _wants_example(self, st):
        # Only while its return is seen: an example is kept with its result.
        return (self.keep_examples and st.returns_live and st.examples_closed is None
                and len(st.examples) < EXAMPLES)

    def _keep_example(self, st, args):
        """Keeps one call's arguments as an example when they are plain data within the cap.
        The first call whose arguments are not closes the function's examples: a method whose
        `self` holds a large object graph would otherwise cost that graph on every try."""
        if not _plain_data(args, EXAMPLE_BYTES):
            st.examples_closed = "not_plain_data"
        else:
            blob = _capped_pickle(args, EXAMPLE_BYTES)
            if blob is not None:
                st.examples.append([_b64(blob), None])
                self.examples_changed += 1
                return True
            st.examples_closed = "too_large"
        self.skipped[st.examples_closed] += 1
        return False

    def _example_result(self, value):
        """A recorded call's result, pickled when it is plain data within the cap."""
        if not _plain_data(value, EXAMPLE_BYTES):
            return None
        return _b64(_capped_pickle(value, EXAMPLE_BYTES))

    # -- the probe's own thread --

    def _run(self, wake):
        timer = self._time.perf_counter
        last_restart = last_windows = timer()
        next_look = last_restart + 0.05  # the first look comes early: until then every call counts
        cpu = getattr(self._time, "thread_time", None)
        while self.armed:
            # Between looks, the thread wakes only to open windows, while a function is hot.
            hot = any(st.state is _HOT for st in list(self.hot.values()))
            # In the first second, the candidates are looked for every WINDOW_EVERY too: before
            # 3.12 a function is counted only from then, and the rest is extrapolated.
            early = timer() - self.started < 1.0
            pause = next_look - timer()
            if early:
                pause = min(WINDOW_EVERY, pause)
            if hot:
                pause = min(last_windows + self.window_every - timer(), pause)
            if self.owner is not None:
                pause = min(pause, ATTACHED_LOOK)
            if wake.wait(max(pause, 0.001)):
                return
            if self.owner is not None and self._recording_over():
                self._remove()
                return
            t0 = cpu() if cpu else 0.0
            try:
                now = timer()
                look = now >= next_look
                if look:
                    # Rates are of the calls counted since the last look, which a thread
                    # started again after a fork did not see.
                    self._keep_budget(now - self.last_look)
                    self.last_look = now
                if look or early:
                    self._read_candidates()
                if look:
                    self._open_op_windows(now)
                restart = now - last_restart >= RESTART_EVERY
                if restart:
                    last_restart = now
                # Windows come every window_every, not at every look.
                if restart or now - last_windows >= self.window_every:
                    last_windows = now
                    self._open_windows(restart)
                if look:
                    self.write()
            except Exception:
                pass
            if cpu:
                self.spent_thread += cpu() - t0
            if look:
                # Its own thread holds the GIL while it works: over budget, it looks less often.
                over = self._over_budget(timer())
                next_look = timer() + (2 * LOOK_EVERY if over else LOOK_EVERY)

    def _recording_over(self):
        """Whether the recording of an injected probe has ended: port-advisor says so (the
        `stop` file), or its folder or its process is gone (killed)."""
        os = self._os
        if os.path.exists(os.path.join(self.folder, "stop")):
            return True
        return not os.path.isdir(self.folder) or not os.path.exists("/proc/%d" % self.owner)

    def _remove(self):
        """Ends an injected probe: its last results, then its events, callbacks and tool ids
        given back, its exit handler unregistered; its thread ends after this. The program
        runs on as before it, with its sys.monitoring tool ids free."""
        try:
            self.write()
        except Exception:
            pass
        self._disarm()
        try:
            import atexit

            atexit.unregister(self.write)
        except Exception:
            pass
        self._thread = None
        try:
            self._write_file("stopped", "")
        except Exception:
            pass

    def _keep_budget(self, elapsed):
        """Turns the busiest counted functions to windows while all counting together costs
        more than TOTAL_RATE callbacks per second."""
        counting = []
        total = 0.0
        for st in list(self.stats.values()):
            if st.state is _COUNT and not st.tallying:
                rate = (st.calls - st.last_total) / max(elapsed, 1e-9)
                counting.append((rate, id(st), st))
                total += rate
            st.last_total = st.calls
        counting.sort(reverse=True)
        now = self._time.perf_counter()
        for rate, _, st in counting:
            if total <= TOTAL_RATE:
                break
            self._make_hot(st, now, rate)
            total -= rate

    def _open_windows(self, restart):
        """Opens a window on each hot function; `restart` says whether this look may also
        re-enable the events the program's code returned DISABLE for."""
        now = self._time.perf_counter()
        windows = self.window_tool
        if windows is None and not restart:
            return
        hot = [st for st in list(self.hot.values()) if st.state is _HOT]
        period = self.window_every if windows is not None else RESTART_EVERY
        for st in hot:
            st.window_length = self._window_length(st, period, len(hot))
            st.window_opened_cpu = self._read_cpu(st)
            st.overhead_at_open = st.overhead
            st.state = _WINDOW
            st.window_start = 0.0
            st.window_opened = now
            st.observing = _observations_per_window(st)
            st.next_event = st.calls + 1
            if windows is not None:
                _mon.set_local_events(windows, st.code, _E.PY_START)
        if restart and (
            (hot and windows is None)
            or any(st.candidate and not st.returns_live for st in list(self.stats.values()))
        ):
            _mon.restart_events()
            for st in list(self.stats.values()):
                st.returns_live = True

    def _open_op_windows(self, now):
        """Opens an instruction window on each candidate due one: OP_EVERY seconds since its
        last, OP_WINDOWS at most, none while over budget."""
        if not self.instruction_windows or self._over_budget(now):
            return
        due = [
            (st.op_windows, st.op_opened, id(st), st)
            for st in list(self.stats.values())
            if st.candidate
            and st.op_left <= 0
            and st.op_windows < OP_WINDOWS
            and (not st.op_windows or now - st.op_opened >= OP_EVERY)
        ]
        due.sort()
        for _, _, _, st in due:
            if self.op_opened_events + OP_EVENTS > OP_RATE * (now - self.started) + OP_EVENTS:
                return
            self.op_opened_events += OP_EVENTS
            if self.op_cost is None:
                self.op_cost = self._calibrate_ops()
            if st.ops is None:
                st.ops = {}
            st.op_left = OP_EVENTS
            st.op_windows += 1
            st.op_opened = now
            _mon.set_local_events(self.tool, st.code, _E.PY_RETURN | _E.INSTRUCTION)

    def _calibrate_ops(self):
        """Seconds one INSTRUCTION event adds: a loop run with its events on, against off."""
        code = _op_calibration.__code__
        timer = self._time.perf_counter

        def best_of(n):
            best = None
            for _ in range(n):
                t0 = timer()
                _op_calibration(100)
                t = timer() - t0
                best = t if best is None else min(best, t)
            return best

        st = _Stats(code, False, 0.0)
        self.stats[id(code)] = st
        try:
            plain = best_of(5)
            st.ops = {}
            st.op_left = 1 << 62
            _mon.set_local_events(self.tool, code, _E.INSTRUCTION)
            try:
                counted = best_of(5)
            finally:
                _mon.set_local_events(self.tool, code, 0)
            events = sum(st.ops.values()) / 5.0
            return max(counted - plain, 0.0) / max(events, 1.0)
        finally:
            del self.stats[id(code)]

    def _op_counts(self, st):
        """Executed bytecodes of `st`'s windows, by opcode name."""
        if st.op_names is None:
            import dis

            # 3.14+ subscripts with BINARY_OP: named as before, so that they stay indexing.
            st.op_names = dict(
                (i.offset, "BINARY_SUBSCR" if i.opname == "BINARY_OP" and i.argrepr == "[]"
                 else i.opname)
                for i in dis.get_instructions(st.code)
            )
        out = {}
        names = st.op_names
        for offset, n in list(st.ops.items()):
            name = names.get(offset, "OTHER")
            out[name] = out.get(name, 0) + n
        return out

    def _load_candidate_file(self):
        """The candidate set when the file changed since the last look, else None."""
        path = self._os.path.join(self.folder, "candidates")
        try:
            mtime = self._os.stat(path).st_mtime
        except OSError:
            return None
        if mtime == self.candidates_mtime:
            return None
        self.candidates_mtime = mtime
        wanted = set()
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 2:
                    wanted.add((parts[0], parts[1]))
        return wanted

    def _read_candidates(self):
        wanted = self._load_candidate_file()
        if wanted is None:
            return
        self.candidates = wanted
        newly = False
        for st in list(self.stats.values()):
            key = _key(st.code)
            was = st.candidate
            st.candidate = key in wanted
            if st.candidate and not was:
                _mon.set_local_events(self.tool, st.code, _E.PY_RETURN)
                self._schedule(st)
                if st.state is _OFF:
                    st.state = _COUNT
                    st.since = self._time.perf_counter() - self.started
                    newly = True
        if newly:
            _mon.restart_events()
            for st in list(self.stats.values()):
                st.returns_live = True

    def write(self):
        # Called by the probe's thread and at exit: one at a time, or the two would interleave
        # in the temporary file. A forked child inherits the exit handler: only the process
        # that started the probe writes.
        if not self.armed or self._os.getpid() != self.pid:
            return
        with self._write_lock:
            self._write()

    def _write(self):
        import json

        out = []
        now = self._time.perf_counter()
        for st in list(self.stats.values()):
            if not st.candidate and not (st.user and st.calls):
                continue
            windowed = st.windows > 0 or st.state in (_HOT, _WINDOW)
            # Calls since the last window, at the last measured rate; in a window still open,
            # those before its first call.
            if st.state is _HOT:
                tail, tail_var = _gap_calls(st, now, st.last_rate, self._read_cpu(st),
                                            st.last_rate_cpu)
            elif st.state is _WINDOW:
                if st.window_start:
                    until, until_cpu = st.window_start, st.window_start_cpu
                else:
                    until, until_cpu = now, self._read_cpu(st)
                tail, tail_var = _gap_calls(st, until, st.last_rate, until_cpu,
                                            st.last_rate_cpu)
            else:
                tail, tail_var = 0.0, 0.0
            code = st.code
            entry = {
                "file": code.co_filename,
                "name": code.co_name,
                "qualname": getattr(code, "co_qualname", code.co_name),
                "first_line": code.co_firstlineno,
                "calls": int(st.calls + st.estimate + tail),
                "calls_exact": not windowed and st.user and st.since == 0,
                "calls_error": int(
                    (st.est_var + tail_var) ** 0.5 + st.est_sys + tail * st.last_rel
                )
                if windowed
                else 0,
                "candidate": st.candidate,
                "counted_since": st.since,
            }
            if st.candidate:
                entry["args"] = _table(st.args)
                entry["returns"] = _table(st.returns)
                entry["observed_calls"] = st.observed
                if st.examples_closed is not None:
                    entry["examples_skipped"] = st.examples_closed
                if st.ops:
                    entry["instructions"] = self._op_counts(st)
                    entry["instruction_windows"] = st.op_windows
            out.append(entry)
        doc = {
            "method": self.method,
            "seconds": self._time.perf_counter() - self.started,
            "started_monotonic": self.started_monotonic,
            "functions": out,
            "cost": {
                "observing_seconds": self.spent_observing,
                "thread_seconds": self.spent_thread,
                "budget_share": BUDGET_SHARE,
                "instruction_event_seconds": self.op_cost or 0.0,
                "skipped": dict(self.skipped),
            },
            "unwatched": [
                {"file": f, "qualname": q, "why": why}
                for (f, q), why in sorted(getattr(self, "not_wrapped", {}).items())
            ],
        }
        changed = self.examples_changed
        if changed != self.examples_written:
            # Before the results, so that results are never newer than their examples.
            self._write_file("examples.json", json.dumps([
                {
                    "file": st.code.co_filename,
                    "qualname": getattr(st.code, "co_qualname", st.code.co_name),
                    "first_line": st.code.co_firstlineno,
                    "examples": [
                        {"args": a, "result": r} for a, r in st.examples if a is not None
                    ],
                }
                for st in list(self.stats.values())
                if st.examples
            ]))
            self.examples_written = changed
        self._write_file("results.json", json.dumps(doc))

    def _write_file(self, name, text):
        os = self._os
        path = os.path.join(self.folder, name)
        # Private to this user (live arguments), and named per process.
        tmp = "%s.%d.tmp" % (path, os.getpid())
        try:
            os.unlink(tmp)  # left by a write that was cut short
        except OSError:
            pass
        # A new file, never one found in its place (a link would send the write elsewhere).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)  # one C-encoded string: json.dump writes piece by piece
        os.replace(tmp, path)



# The wrapper takes the parameters of the function it wraps, under their names, and passes them
# on the same way: a plain call, which CPython 3.11 specialises and runs in the same evaluation
# loop. A wrapper taking (*args, **kwargs) cost a tuple, a dict and a nested evaluation loop on
# every call, which ran pycparser 1.2x slower with its parser methods counted. The wrapper
# names no builtin: a parameter may shadow it (dataclasses' `_create_fn` takes `locals`), so
# `locals` comes in as a constant like the rest.
_WRAPPER_TEMPLATE = """
def _port_advisor_outer():
%(free)s
    def port_advisor_call(%(params)s):
%(refs)s
        _port_advisor_st = "__PA_STATS__"
        _port_advisor_st.calls += 1
        _port_advisor_call = "__PA_ORIGINAL__"
        if _port_advisor_st.calls >= _port_advisor_st.next_event:
            _port_advisor_slow = "__PA_SLOW__"
            _port_advisor_locals = "__PA_LOCALS__"
            if _port_advisor_slow(_port_advisor_st, _port_advisor_locals()):
                _port_advisor_result = _port_advisor_call(%(args)s)
                _port_advisor_note = "__PA_RETURN__"
                _port_advisor_note(_port_advisor_st, _port_advisor_result)
                return _port_advisor_result
        return _port_advisor_call(%(args)s)
    return port_advisor_call
"""


def _signature(code):
    """The parameter list of `code` as a `def` writes it, and the arguments that pass each
    parameter on as it came: positionally, by keyword after `*`, and `*args`, `**kwargs`."""
    names = code.co_varnames
    n_pos = code.co_argcount
    n_posonly = getattr(code, "co_posonlyargcount", 0)
    n_kw = code.co_kwonlyargcount
    params, args = [], []
    for i, name in enumerate(names[:n_pos]):
        params.append(name)
        args.append(name)
        if i + 1 == n_posonly:
            params.append("/")
    at = n_pos + n_kw
    if code.co_flags & 0x04:  # CO_VARARGS
        params.append("*" + names[at])
        args.append("*" + names[at])
        at += 1
    elif n_kw:
        params.append("*")
    for name in names[n_pos:n_pos + n_kw]:
        params.append(name)
        args.append("%s=%s" % (name, name))
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        params.append("**" + names[at])
        args.append("**" + names[at])
    return ", ".join(params), ", ".join(args)

# The file of the wrappers' code: the recorder removes their frames from the stacks by it (they
# are named as the function they wrap, so that errors read as without them).
WRAPPER_FILE = "<port-advisor wrapper>"

# co_flags of code that makes generators or coroutines: a wrapper would hide what it is from
# `inspect` and asyncio, so such functions are not wrapped.
_CO_LAZY = 0x20 | 0x80 | 0x100 | 0x200


class WrapperProbe(Probe):
    instruction_windows = False
    # A window swaps each hot function's code for the wrapper and back, which throws away the
    # specialised calls to it on 3.11 (they are made again only after a back-off): every
    # 50 ms, that alone ran a call-heavy parser 1.4x slower, every 0.25 s 1.15x-1.3x:
    # windows come once a second.
    window_every = RESTART_EVERY

    """For CPython 3.8-3.11, which have no sys.monitoring: a global profile hook would cost
    every call of the program (3.7x measured on 3.11), so only the candidate functions are
    wrapped, found by name in their modules when the sampler names them. Counting therefore
    starts when a function becomes a candidate (`counted_since`); its count before is not known.

    A wrapped function keeps its identity: its `__code__` is swapped for a wrapper's code that
    counts and calls a twin of the original (same code, globals, defaults and closure). No
    reference the program holds is replaced, so pickling a function by reference, `is`, and
    multiprocessing see the same object. Functions that call themselves by name are not
    wrapped (the wrapper's frame would halve their recursion limit), nor generators and
    coroutines (their kind would change); their counts stay unknown.

    On 3.11 the wrapper's frame costs more than its work (see _tally_code): after its first
    TALLY_AFTER calls a counted function runs its tally code, whose calls the probe's looks add
    up and check against TALLY_RATE; the wrapper comes back for TALLY_BURST calls at a look to
    observe them, and for windows once the function is hot."""

    method = "function wrappers"

    def __init__(self, folder, user_roots, own_file, examples=True):
        self._setup(folder, user_roots, own_file, examples)
        self.error = None
        self.wrapped = {}  # code -> [(function, wrapper code)]
        self.templates = {}  # number of free variables -> wrapper code template
        self.tallies = {}  # code -> its tally code (None where there is none)
        self.originals = {}  # tally code -> the code it copies
        self.tallying = {}  # id(code) -> stats, while its functions run its tally code
        self.not_wrapped = {}  # (file, name) -> why
        self.call_cost = self._calibrate()
        self._start_thread()

    def _disarm(self):
        self.armed = False
        self.tallying.clear()
        for code in list(self.wrapped):
            self._swap(code, wrapped=False)

    def _calibrate(self):
        """Seconds a wrapper adds to a call (see Probe._calibrate)."""
        st = _Stats(_calibrate.__code__, True, 0.0)
        st.next_event = 1 << 62

        def target():
            pass

        original = target.__code__
        wrapped = self._wrapper_code(st, target)
        timer = self._time.perf_counter

        def per_call():
            best = None
            for _ in range(5):
                t0 = timer()
                for _ in range(200):
                    target()
                t = (timer() - t0) / 200
                best = t if best is None else min(best, t)
            return best

        plain = per_call()
        target.__code__ = wrapped
        cost = per_call()
        target.__code__ = original
        return max(cost - plain, 0.0)

    def _template(self, original):
        """The wrapper's code for functions with the signature and the number of closure cells
        of code `original`: a function's code may only be swapped for code with as many free
        variables, which the wrapper never reads."""
        free = len(original.co_freevars)
        params, args = _signature(original)
        key = (free, params)
        code = self.templates.get(key)
        if code is None:
            names = ["_port_advisor_free%d" % i for i in range(free)]
            source = _WRAPPER_TEMPLATE % {
                "free": "    %s = None" % " = ".join(names) if names else "",
                "refs": "        if 0:\n            (%s,)" % ", ".join(names) if names else "",
                "params": params,
                "args": args,
            }
            space = {}
            exec(compile(source, WRAPPER_FILE, "exec"), space)
            outer = space["_port_advisor_outer"].__code__
            code = [c for c in outer.co_consts if type(c) is type(outer)][0]
            self.templates[key] = code
        return code

    def _wrapper_code(self, st, func):
        import types

        code = func.__code__
        original = types.FunctionType(
            code, func.__globals__, func.__name__, func.__defaults__, func.__closure__
        )
        original.__kwdefaults__ = func.__kwdefaults__
        original.__qualname__ = func.__qualname__
        fill = {
            "__PA_STATS__": st,
            "__PA_SLOW__": self._slow_call,
            "__PA_ORIGINAL__": original,
            "__PA_RETURN__": self._note_return,
            "__PA_LOCALS__": locals,
        }
        template = self._template(code)
        consts = tuple(
            fill.get(c, c) if type(c) is str else c for c in template.co_consts
        )
        # Named as the function, so that an error binding its arguments reads as it would
        # without the wrapper (3.8 and 3.9 name the code, not the function).
        names = {"co_consts": consts, "co_name": code.co_name}
        if hasattr(code, "co_qualname"):
            names["co_qualname"] = code.co_qualname
        return template.replace(**names)

    def _read_candidates(self):
        wanted = self._load_candidate_file()
        if wanted is None:
            return
        new = wanted - self.candidates
        self.candidates = self.candidates | wanted  # once wrapped, a function stays watched
        if new:
            self._wrap_new(new)

    def _wrap_new(self, wanted):
        now = self._time.perf_counter()
        for code, funcs in self._find_functions(wanted).items():
            if code in self.wrapped:
                continue
            why = _not_wrappable(code)
            if why is not None:
                self.not_wrapped[_key(code)] = why
                continue
            st = self.stats.get(id(code))
            if st is None:
                st = self.stats[id(code)] = _Stats(code, False, now)
                st.since = now - self.started
                st.state = _COUNT
            st.candidate = True
            st.user = True  # counted, but only since `since`
            if st.state is _COUNT:
                st.check_time = 0.0  # set by the first call
            self._schedule(st)
            self.wrapped[code] = [(f, self._wrapper_code(st, f)) for f in funcs]
            self._swap(code, wrapped=True)

    def _find_functions(self, wanted):
        """The function objects of the wanted (file, name) pairs, looked up by name in the
        modules loaded from those files: module functions, methods, static and class methods
        and properties of their classes (nested classes too), through decorators that keep
        `__wrapped__`. Reads only dictionaries: no attribute lookup that could run the
        program's code, and no scan of the heap (which stalls a large program)."""
        import types

        files = set(f for f, _ in wanted)
        found = {}
        for module in list(sys.modules.values()):
            if type(module) is not types.ModuleType:
                continue
            space = module.__dict__
            if space.get("__file__") not in files:
                continue
            name = space.get("__name__")
            todo = [(v, 0) for v in list(space.values())]
            seen = set()
            while todo:
                value, depth = todo.pop()
                if id(value) in seen or depth > 4:
                    continue
                seen.add(id(value))
                t = type(value)
                if t is types.FunctionType:
                    code = self.originals.get(value.__code__, value.__code__)
                    if code.co_filename in files and _key(code) in wanted:
                        found.setdefault(code, []).append(value)
                    # Not `value.__dict__`, which would give every function it looks at a
                    # dict of its own: thousands of new objects, which brought pycparser's
                    # next full garbage collection (0.15 s) forward into its run.
                    inner = getattr(value, "__wrapped__", None)
                    if inner is not None:
                        todo.append((inner, depth + 1))
                elif t in (staticmethod, classmethod):
                    todo.append((value.__func__, depth + 1))
                elif t is property:
                    todo.extend((f, depth + 1) for f in (value.fget, value.fset, value.fdel) if f)
                elif isinstance(value, type) and value.__dict__.get("__module__") == name:
                    todo.extend((v, depth + 1) for v in list(value.__dict__.values()))
        return found

    def _swap(self, code, wrapped):
        for func, wrapper in self.wrapped.get(code, ()):
            func.__code__ = wrapper if wrapped else code

    def _swap_to_tally(self, st):
        """Counts `st`'s calls by its tally code from now on; False where there is none."""
        code = st.code
        if code not in self.tallies:
            counter = _counter()
            tally = _tally_code(code, counter)
            self.tallies[code] = tally
            if tally is not None:
                self.originals[tally] = code
                st.counter = counter
        tally = self.tallies[code]
        if tally is None or not self.armed:
            return False
        if not st.tallying:
            st.tally_seen = _tally(st.counter)
            st.tally_time = self._time.perf_counter()
            st.tallying = True
            self.tallying[id(code)] = st
        for func, _ in self.wrapped.get(code, ()):
            func.__code__ = tally
        return True

    def _fold(self, st):
        """Adds the calls its tally code counted since the last fold to `calls`."""
        seen = _tally(st.counter)
        st.calls += seen - st.tally_seen
        st.tally_seen = seen

    def _hot_rate(self, st):
        # A call counted by tally code costs ~17 ns, not a wrapper's ~50-130 ns.
        if _TALLIES and self.tallies.get(st.code, 0) is not None:
            return TALLY_RATE
        return HOT_RATE

    def _keep_budget(self, elapsed):
        """Also, for the functions counted by tally code: adds up their calls, turns those
        called faster than TALLY_RATE (and the busiest while all together are) to windows,
        and observes a few calls of each candidate through the wrapper."""
        now = self._time.perf_counter()
        busy = []
        total = 0.0
        for st in list(self.tallying.values()):
            before = st.calls
            self._fold(st)
            rate = (st.calls - before) / max(now - st.tally_time, 1e-9)
            st.tally_time = now
            busy.append((rate, id(st), st))
            total += rate
        busy.sort(reverse=True)
        for rate, _, st in busy:
            if rate <= TALLY_RATE and total <= TALLY_RATE:
                if st.candidate and st.observed < OBSERVATIONS and not st.burst:
                    st.burst = TALLY_BURST
                    st.next_event = st.calls + 1
                    self._swap(st.code, wrapped=True)
                continue
            self._make_hot(st, now, rate)
            total -= rate
        Probe._keep_budget(self, elapsed)

    def _write(self):
        for st in list(self.tallying.values()):
            self._fold(st)
        Probe._write(self)

    def _slow_call(self, st, params):
        """Runs on the calls the schedule picks, with the wrapper's `locals()` (its parameters,
        the wrapped function's); returns whether to observe the result."""
        if st.check_time == 0.0:
            # The first call since wrapping starts the rate's clock: the wrapping happened on
            # the probe's thread, and the program's may get the GIL milliseconds later.
            st.check_time = self._time.perf_counter()
            st.checked_at = st.calls - 1
            st.thread, st.check_cpu = self._thread_cpu()
        if st.state is _WINDOW:
            if st.observing:
                st.observing -= 1
                st.next_event = st.calls + 1
                return self._observe_args(st, params)
            if not self._window_call(st):
                self._swap(st.code, wrapped=False)
            return False
        if st.burst:
            # A few calls of a function counted by tally code, observed at a look.
            st.burst -= 1
            st.next_event = st.calls + 1
            if not st.burst:
                self._swap_to_tally(st)
            return self._observe_args(st, params)
        if st.calls - st.checked_at >= HOT_CHECK:
            self._check_rate(st)
            if st.state is _HOT:
                return False
        observed = self._observe_args(st, params)
        self._schedule(st)
        if _TALLIES and st.calls >= TALLY_AFTER:
            # Its first calls observed, tally code counts the rest, and the probe's looks
            # check its rate (see _keep_budget).
            self._swap_to_tally(st)
        return observed

    def _observe_args(self, st, params):
        """Observes one call's arguments; returns whether to observe its result."""
        t0 = self._time.perf_counter()
        if st.observed >= OBSERVATIONS:
            return False
        if self._over_budget(t0):
            self.skipped["over_budget"] += 1
            return False
        try:
            return self._observe_values(st, params)
        finally:
            spent = self._time.perf_counter() - t0
            st.overhead += spent
            self.spent_observing += spent

    def _observe_values(self, st, params):
        code = st.code
        n = code.co_argcount + code.co_kwonlyargcount
        values = dict((k, params[k]) for k in code.co_varnames[:n] if k in params)
        if code.co_flags & 0x08:  # **kwargs: its entries, as keyword arguments
            extra = params.get(code.co_varnames[n + bool(code.co_flags & 0x04)])
            if type(extra) is dict:
                values.update(extra)
        st.observed += 1
        for name, value in values.items():
            _note(st.args, name, _describe(value))
        if self._wants_example(st) and self._keep_example(st, values):
            st.pending[0] = len(st.examples) - 1
        return True

    def _note_return(self, st, value):
        t0 = self._time.perf_counter()
        _note(st.returns, "return", _describe(value))
        i = st.pending.pop(0, None)
        if i is not None:
            st.examples[i][1] = self._example_result(value)
            self.examples_changed += 1
        spent = self._time.perf_counter() - t0
        st.overhead += spent
        self.spent_observing += spent

    def _open_windows(self, restart):
        now = self._time.perf_counter()
        hot = [st for st in list(self.hot.values()) if st.state is _HOT]
        for st in hot:
            if st.state is _HOT:
                st.window_length = self._window_length(st, self.window_every, len(hot))
                st.window_opened_cpu = self._read_cpu(st)
                st.overhead_at_open = st.overhead
                st.state = _WINDOW
                st.window_start = 0.0
                st.window_opened = now
                st.observing = _observations_per_window(st)
                st.next_event = st.calls + 1
                self._swap(st.code, wrapped=True)

    def _make_hot(self, st, now, rate):
        if st.tallying:
            self._fold(st)
            st.tallying = False
            st.burst = 0
            self.tallying.pop(id(st.code), None)
        Probe._make_hot(self, st, now, rate)
        self._swap(st.code, wrapped=False)


# CPython 3.11 keeps frames on a stack of 16 KiB chunks, mapped when a call needs a new one and
# unmapped when it returns: a wrapper's extra frame on every call of a recursive-descent parser
# moved its stack across a chunk's edge ~24,000 times a second (mmap, munmap and a page fault
# each, ~4 us), which ran esprima and pycparser 1.1x-1.3x slower. There a counted function
# runs instead a copy of its own code that first calls `next(counter)`: no frame, ~20 ns.
def _tally_code(code, counter):
    """A copy of `code` (CPython 3.11) that calls next(counter) before its first line, with
    its locations and exception handlers moved past that call; None when it cannot be made
    exactly (the copy is checked against the original before it is used)."""
    if not _TALLIES:
        return None
    try:
        import dis
        import opcode

        op = opcode.opmap
        raw = code.co_code
        at = None
        for i in range(0, len(raw), 2):
            if raw[i] == op["RESUME"]:
                at = i + 2
                break
            if raw[i] not in (op["MAKE_CELL"], op["COPY_FREE_VARS"], op["NOP"]):
                return None
        k = len(code.co_consts)
        if at is None or k + 1 > 255:
            return None
        pro = bytearray()
        for name, arg in (("PUSH_NULL", 0), ("LOAD_CONST", k), ("LOAD_CONST", k + 1),
                          ("PRECALL", 1), ("CALL", 1), ("POP_TOP", 0)):
            pro += bytes((op[name], arg)) + b"\0\0" * opcode._inline_cache_entries[op[name]]
        n = len(pro) // 2
        cut = at // 2
        positions = list(code.co_positions())
        positions = positions[:cut] + [(None, None, None, None)] * n + positions[cut:]
        handlers = []
        for e in dis._parse_exception_table(code):
            if e.start < at or e.target < at:
                return None
            handlers.append((e.start // 2 + n, (e.end - e.start) // 2, e.target // 2 + n,
                             e.depth, e.lasti))
        table = _location_table(positions, code.co_firstlineno)
        if table is None:
            return None
        new = code.replace(
            co_code=raw[:at] + bytes(pro) + raw[at:],
            co_consts=code.co_consts + (next, counter),
            co_linetable=table,
            co_exceptiontable=_exception_table(handlers),
            co_stacksize=max(code.co_stacksize, 3),
        )
        moved = [(e.start // 2, (e.end - e.start) // 2, e.target // 2, e.depth, e.lasti)
                 for e in dis._parse_exception_table(new)]
        if list(new.co_positions()) != positions or moved != handlers:
            return None
        return new
    except Exception:
        return None


def _varint(out, value):
    """The location table's unsigned varint: 6 bits a byte, least significant first."""
    while value >= 64:
        out.append(64 | (value & 63))
        value >>= 6
    out.append(value)


def _location_table(positions, first_line):
    """CPython 3.11's co_linetable for one (line, end_line, column, end_column) per code unit:
    the long form for every located run, the no-location form for the rest."""
    out = bytearray()
    line = first_line
    i = 0
    while i < len(positions):
        p = positions[i]
        j = i + 1
        while j < len(positions) and j - i < 8 and positions[j] == p:
            j += 1
        start, end, col, end_col = p
        if start is None:
            out.append(0x80 | (15 << 3) | (j - i - 1))
        else:
            if end is None or end < start:
                return None
            out.append(0x80 | (14 << 3) | (j - i - 1))
            delta = start - line
            _varint(out, (-delta << 1) | 1 if delta < 0 else delta << 1)
            _varint(out, end - start)
            _varint(out, 0 if col is None else col + 1)
            _varint(out, 0 if end_col is None else end_col + 1)
            line = start
        i = j
    return bytes(out)


def _exception_table(handlers):
    """CPython 3.11's co_exceptiontable for (start, size, target, depth, lasti) in code units:
    6 bits a byte, most significant first, the first byte of each entry marked."""
    out = bytearray()
    for start, size, target, depth, lasti in handlers:
        for i, value in enumerate((start, size, target, (depth << 1) | int(lasti))):
            chunks = [value & 63]
            value >>= 6
            while value:
                chunks.append(value & 63)
                value >>= 6
            chunks.reverse()
            for j, chunk in enumerate(chunks):
                byte = chunk | (64 if j < len(chunks) - 1 else 0)
                out.append(byte | (128 if i == 0 and j == 0 else 0))
    return bytes(out)


def _counter():
    """What tally code calls next() on: an iterator that returns None, so that a call
    allocates nothing (itertools.count made an int each time, and ran 2-3x slower in a parser
    than in a tight loop)."""
    import itertools

    return itertools.repeat(None, sys.maxsize)


def _tally(counter):
    """How many times `counter` (from _counter) was advanced, without advancing it."""
    return sys.maxsize - counter.__length_hint__()


def _not_wrappable(code):
    """Why a function's code is not wrapped, or None when it may be."""
    if code.co_flags & _CO_LAZY:
        return "generator or coroutine"
    name = code.co_name
    if name in code.co_names and not (name.startswith("__") and name.endswith("__")):
        # Recursion (or a method of the same name on another object, which cannot be told
        # apart without decoding the bytecode). A dunder of the same name is
        # `super().__init__()` and the like, not recursion.
        return "calls itself by name"
    return None


def _table(table):
    rows = []
    for (key, type_name), (count, total, largest, contents) in sorted(table.items()):
        row = {"name": key, "type": type_name, "count": count,
               "mean_size": (total / count) if count else 0, "max_size": largest}
        if contents is not None and count:
            row["contents"] = dict((k, round(c / count, 1)) for k, c in zip(CONTENTS, contents)
                                   if c > 0)
        rows.append(row)
    return rows


def _b64(blob):
    if blob is None:
        return None
    import base64

    return base64.b64encode(blob).decode("ascii")
