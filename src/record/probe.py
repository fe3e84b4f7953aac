# port-advisor's in-process probe: `Probe` on CPython 3.12+ (sys.monitoring), `WrapperProbe`
# on 3.8-3.11 (wrappers around the candidate function objects only).
#
# It counts calls of the program's own functions from the first call, learns which of them
# port-advisor's sampler finds hot (the `candidates` file, rewritten while the program runs),
# stops watching everything else, and for the candidates observes argument and return types
# and sizes on a thinning schedule and keeps a few small pickled examples. Results are written
# to `results.json` twice a second and at exit, so a program that calls os._exit or is killed
# still leaves what was measured.
#
# Cost control: a watched function costs one Python callback per call (about 0.5 us). A
# function called faster than HOT_RATE is switched to windowed counting: it is disabled, and
# every WINDOW_EVERY seconds a short window re-measures its call rate; its count becomes an
# estimate with an error bar.
import sys

_mon = getattr(sys, "monitoring", None)
_E = _mon.events if _mon else None
_DISABLE = _mon.DISABLE if _mon else None

# A counted call costs 0.3-0.5 us, charged to the function and so to its callers' shares:
# 40,000 counted calls a second cost at most 2% of the program, and so move no sampled share
# by more than 2 points (at 200,000 a second, shares moved by up to 7 points).
HOT_RATE = 40000.0  # calls per second above which a function's counting turns to windows
TOTAL_RATE = 40000.0  # counted calls per second the probe allows itself in all
RETURNS = 8  # return values observed per function between restarts of disabled events
HOT_CHECK = 1024  # calls between rate checks of a watched function
WINDOW_CALLS = 512  # calls measured per window
WINDOW_EVERY = 1.0  # seconds between windows (each one re-instruments the running code on 3.12+;
# every 0.25 s, that alone moved sampled shares by 2 points)
LOOK_EVERY = 0.25  # seconds between the probe thread's looks: budget, candidates, results
EXAMPLES = 3  # examples kept per candidate
EXAMPLE_BYTES = 262144  # largest pickled example kept (a list of 10,000 floats is 90 KB)
OBSERVATIONS = 256  # argument observations per candidate


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
        self.last_rate = 0.0  # calls per second when last measured
        self.observing = 0  # calls to observe when a window opens, before its clock starts
        self.window_calls = 0
        self.estimate = 0.0  # calls estimated while windowed
        self.est_var = 0.0
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


def _observations_per_window(st):
    """How many calls a window observes before timing: a few for a candidate still short of
    its observations, so a function too hot to watch every call is still described."""
    if not st.candidate:
        return 0
    return max(0, min(8, OBSERVATIONS - st.observed))


def _calibrate():
    """A function that does nothing, to time what counting a call costs."""


def _key(code):
    """A function as the sampler names it: the qualified name on 3.11+, else the name."""
    return code.co_filename, getattr(code, "co_qualname", code.co_name)


def _describe(value, depth=0):
    """A short type description with a size: ("list[float]", 10000)."""
    t = type(value)
    name = t.__name__
    mod = t.__module__
    if mod == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape"):
        return "numpy.ndarray[%s]" % value.dtype, int(getattr(value, "size", 0))
    if t in (str, bytes, bytearray):
        return name, len(value)
    if t in (list, tuple, set, frozenset, dict) or hasattr(t, "__len__") and hasattr(t, "__iter__"):
        try:
            n = len(value)
        except Exception:
            return name, None
        if depth == 0 and n:
            try:
                if t is dict:
                    k, v = next(iter(value.items()))
                    inner = "%s, %s" % (_describe(k, 1)[0], _describe(v, 1)[0])
                else:
                    inner = _describe(next(iter(value)), 1)[0]
                return "%s[%s]" % (name if mod == "builtins" else mod + "." + name, inner), n
            except Exception:
                pass
        return name if mod == "builtins" else mod + "." + name, n
    if mod != "builtins":
        name = mod + "." + name
    if t is int:
        return name, value.bit_length()
    return name, None


def _note(table, key, desc):
    type_name, size = desc
    entry = table.get((key, type_name))
    if entry is None:
        entry = table[(key, type_name)] = [0, 0, 0]  # count, total size, max size
    entry[0] += 1
    if size is not None:
        entry[1] += size
        if size > entry[2]:
            entry[2] = size


class Probe(object):
    method = "sys.monitoring"

    def __init__(self, folder, user_roots, own_file, examples=True):
        self._setup(folder, user_roots, own_file, examples)
        self.tool = None
        for tool in (_mon.PROFILER_ID, 3, 4, 5):
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
        self.call_cost = self._calibrate()
        _mon.set_events(self.tool, _E.PY_START)
        self._start_thread()

    def _calibrate(self):
        """Seconds one counted call adds (the callback and its dispatch). A window measures the
        call rate with every call counted, so without this correction a function whose own
        work is as short as the callback would read at half its real rate."""
        code = _calibrate.__code__
        st = _Stats(code, True, 0.0)
        st.next_event = 1 << 62
        self.stats[code] = st
        on_start = self._on_start
        timer = self._time.perf_counter
        best = None
        for _ in range(5):
            t0 = timer()
            for _ in range(200):
                on_start(code, 0)
            t = (timer() - t0) / 200
            best = t if best is None else min(best, t)
        del self.stats[code]
        # The interpreter's own dispatch of the event to the callback, measured on 3.12.
        return best + 60e-9

    def _start_thread(self):
        import threading

        t = threading.Thread(target=self._run, name="port-advisor-probe", daemon=True)
        t.start()

    def _setup(self, folder, user_roots, own_file, examples):
        import os
        import time

        self._os = os
        self._time = time
        self.folder = folder
        self.user_roots = tuple(r.rstrip("/") + "/" for r in user_roots)
        self.own_file = own_file
        self.keep_examples = examples
        self.stats = {}
        self._get = self.stats.get
        self.candidates = set()
        self.candidates_mtime = None
        self.started = time.perf_counter()
        # The same instant on the system's monotonic clock, which the sampler reads too: it
        # places each `counted_since` among its own samples.
        self.started_monotonic = time.monotonic()
        import threading

        self._write_lock = threading.Lock()

    # -- callbacks: keep them short, they run on every watched call --

    def _on_start(self, code, offset):
        # The fast path: one dict lookup, one increment, one comparison.
        st = self._get(code)
        if st is None:
            st = self._new(code)
        if st.state is _OFF:
            return _DISABLE
        st.calls += 1
        if st.calls >= st.next_event:
            return self._slow(st)

    def _slow(self, st):
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
        st = self._get(code)
        if st is None or not st.candidate:
            return _DISABLE
        t0 = self._time.perf_counter()
        try:
            # The returning call's frame, which its observed arguments were filed under.
            return self._observe_return(st, value, id(sys._getframe(1)))
        finally:
            st.overhead += self._time.perf_counter() - t0

    def _observe_return(self, st, value, frame_id):
        st.returns_seen += 1
        if st.pending:
            i = st.pending.pop(frame_id, None)
            if i is not None:
                st.examples[i][1] = self._pickle(value)
        if st.returns_seen % RETURNS == 0 and not st.pending:
            _note(st.returns, "return", _describe(value))
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
        if not user:
            st.since = st.check_time - self.started
        self.stats[code] = st
        return st

    def _check_rate(self, st):
        now = self._time.perf_counter()
        counted = st.calls - st.checked_at
        # The calls ran slower by their counting and by the observing of some of them: both
        # are taken out, as in a window.
        elapsed = now - st.check_time - (st.overhead - st.overhead_at_check)
        rate = counted / max(elapsed - counted * self.call_cost, 0.1 * elapsed, 1e-9)
        st.checked_at = st.calls
        st.check_time = now
        st.overhead_at_check = st.overhead
        if rate > HOT_RATE:
            self._make_hot(st, now, rate)

    def _make_hot(self, st, now, rate):
        st.state = _HOT
        st.last_window = now
        st.last_rate = rate
        st.next_event = 1 << 62

    def _window_call(self, st):
        """A call in an open window: the first one starts the clock (the window opened on the
        probe's thread, and the program's thread may only get the GIL milliseconds later);
        the last one closes it. Returns whether the window stays open."""
        if st.window_start == 0.0:
            st.window_start = self._time.perf_counter()
            st.window_calls = st.calls
            st.next_event = st.calls + WINDOW_CALLS
            return True
        self._close_window(st)
        return False

    def _close_window(self, st):
        now = self._time.perf_counter()
        counted = st.calls - st.window_calls
        elapsed = now - st.window_start
        # The window's calls ran slower by the counting itself: take that out.
        uncounted = max(elapsed - counted * self.call_cost, 0.1 * elapsed)
        rate = counted / max(uncounted, 1e-9)
        st.last_rate = rate
        gap = max(st.window_start - st.last_window, 0.0)
        st.estimate += rate * gap
        # Each window's rate varies with what the program does; count that as the error.
        st.est_var += (0.25 * rate * gap) ** 2
        st.windows += 1
        st.last_window = now
        st.state = _HOT
        st.next_event = 1 << 62

    def _observe(self, st, frame):
        t0 = self._time.perf_counter()
        self._observe_frame(st, frame)
        st.overhead += self._time.perf_counter() - t0

    def _observe_frame(self, st, frame):
        code = st.code
        st.observed += 1
        n = code.co_argcount + code.co_kwonlyargcount
        names = code.co_varnames[:n]
        f_locals = frame.f_locals
        for name in names:
            if name in f_locals:
                _note(st.args, name, _describe(f_locals[name]))
        if self.keep_examples and len(st.examples) < EXAMPLES:
            args = dict((k, f_locals[k]) for k in names if k in f_locals)
            blob = self._pickle(args)
            if blob is not None:
                st.examples.append([blob, None])
                st.pending[id(frame)] = len(st.examples) - 1

    def _pickle(self, value):
        try:
            import pickle

            blob = pickle.dumps(value, protocol=4)
        except Exception:
            return None
        return blob if len(blob) <= EXAMPLE_BYTES else None

    # -- the probe's own thread --

    def _run(self):
        last = self._time.perf_counter()
        last_windows = last
        pause = 0.05  # the first look comes early: until then every call of the program counts
        while True:
            self._time.sleep(pause)
            pause = LOOK_EVERY
            try:
                now = self._time.perf_counter()
                self._keep_budget(now - last)
                last = now
                self._read_candidates()
                if now - last_windows >= WINDOW_EVERY:
                    last_windows = now
                    self._open_windows()
                self.write()
            except Exception:
                pass

    def _keep_budget(self, elapsed):
        """Turns the busiest counted functions to windows while all counting together costs
        more than TOTAL_RATE callbacks per second."""
        counting = []
        total = 0.0
        for st in list(self.stats.values()):
            if st.state is _COUNT:
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

    def _open_windows(self):
        now = self._time.perf_counter()
        hot = [st for st in list(self.stats.values()) if st.state is _HOT]
        for st in hot:
            st.state = _WINDOW
            st.window_start = 0.0
            st.observing = _observations_per_window(st)
            st.next_event = st.calls + 1
        if hot:
            _mon.restart_events()

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

    def write(self):
        # Called by the probe's thread and at exit: one at a time, or the two would interleave
        # in the temporary file.
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
                tail = st.last_rate * max(now - st.last_window, 0.0)
            elif st.state is _WINDOW:
                tail = st.last_rate * max((st.window_start or now) - st.last_window, 0.0)
            else:
                tail = 0.0
            code = st.code
            entry = {
                "file": code.co_filename,
                "name": code.co_name,
                "qualname": getattr(code, "co_qualname", code.co_name),
                "first_line": code.co_firstlineno,
                "calls": int(st.calls + st.estimate + tail),
                "calls_exact": not windowed and st.user and st.since == 0,
                "calls_error": int((st.est_var + (0.25 * tail) ** 2) ** 0.5) if windowed else 0,
                "candidate": st.candidate,
                "counted_since": st.since,
            }
            if st.candidate:
                entry["args"] = _table(st.args)
                entry["returns"] = _table(st.returns)
                entry["observed_calls"] = st.observed
                entry["examples"] = [
                    {"args": _b64(a), "result": _b64(r)} for a, r in st.examples if a is not None
                ]
            out.append(entry)
        doc = {
            "method": self.method,
            "seconds": self._time.perf_counter() - self.started,
            "started_monotonic": self.started_monotonic,
            "functions": out,
        }
        path = self._os.path.join(self.folder, "results.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        self._os.replace(tmp, path)



class WrapperProbe(Probe):
    """For CPython 3.8-3.11, which have no sys.monitoring: a global profile hook would cost
    every call of the program (3.7x measured on 3.11), so only the candidate function objects
    are wrapped, found through gc when the sampler names them. Counting therefore starts when
    a function becomes a candidate (`counted_since`); its count before is not known."""

    method = "function wrappers"

    def __init__(self, folder, user_roots, own_file, examples=True):
        self._setup(folder, user_roots, own_file, examples)
        self.error = None
        self.replaced = {}  # code -> [(holder, key, original, wrapper)]
        self.call_cost = self._calibrate()
        self._start_thread()

    def _calibrate(self):
        """Seconds a wrapper adds to a call (see Probe._calibrate)."""
        st = _Stats(_calibrate.__code__, True, 0.0)
        st.next_event = 1 << 62
        wrapped = self._wrapper(st, _calibrate)
        timer = self._time.perf_counter

        def per_call(fn):
            best = None
            for _ in range(5):
                t0 = timer()
                for _ in range(200):
                    fn()
                t = (timer() - t0) / 200
                best = t if best is None else min(best, t)
            return best

        return max(per_call(wrapped) - per_call(_calibrate), 0.0)

    def _read_candidates(self):
        wanted = self._load_candidate_file()
        if wanted is None:
            return
        new = wanted - self.candidates
        self.candidates = self.candidates | wanted  # once wrapped, a function stays watched
        if new:
            self._wrap_new(new)

    def _wrap_new(self, wanted):
        import gc
        import types

        now = self._time.perf_counter()
        found = {}
        for obj in gc.get_objects():
            if type(obj) is types.FunctionType:
                code = obj.__code__
                if _key(code) in wanted and code.co_filename != self.own_file:
                    found.setdefault(code, []).append(obj)
        for code, funcs in found.items():
            st = self.stats.get(code)
            if st is None:
                st = self.stats[code] = _Stats(code, False, now)
                st.since = now - self.started
                st.state = _COUNT
            st.candidate = True
            st.user = True  # counted, but only since `since`
            if st.state is _COUNT:
                st.check_time = 0.0  # set by the first call
            self._schedule(st)
            for func in funcs:
                self._wrap(st, func)

    def _wrapper(self, st, func):
        import functools

        probe = self

        def port_advisor_call(*args, **kwargs):
            st.calls += 1
            observe = st.calls >= st.next_event and probe._slow_call(st, args, kwargs)
            result = func(*args, **kwargs)
            if observe:
                probe._note_return(st, result)
            return result

        functools.update_wrapper(port_advisor_call, func)
        return port_advisor_call

    def _wrap(self, st, func):
        import gc

        port_advisor_call = self._wrapper(st, func)
        holders = []
        for holder in gc.get_referrers(func):
            if type(holder) is not dict:
                continue
            for key, value in list(holder.items()):
                if value is not func:
                    continue
                owner = [t for t in gc.get_referrers(holder)
                         if isinstance(t, type) and t.__dict__.get(key) is func]
                holders.append((owner[0] if owner else holder, key, func, port_advisor_call))
        self.replaced.setdefault(st.code, []).extend(holders)
        self._swap(st.code, wrapped=True)

    def _swap(self, code, wrapped):
        for holder, key, original, wrapper in self.replaced.get(code, ()):
            value = wrapper if wrapped else original
            if isinstance(holder, type):
                setattr(holder, key, value)
            else:
                holder[key] = value

    def _slow_call(self, st, args, kwargs):
        """Runs on the calls the schedule picks; returns whether to observe the result."""
        if st.check_time == 0.0:
            # The first call since wrapping starts the rate's clock: the wrapping happened on
            # the probe's thread, and the program's may get the GIL milliseconds later.
            st.check_time = self._time.perf_counter()
            st.checked_at = st.calls - 1
        if st.state is _WINDOW:
            if st.observing:
                st.observing -= 1
                st.next_event = st.calls + 1
                return self._observe_args(st, args, kwargs)
            if not self._window_call(st):
                self._swap(st.code, wrapped=False)
            return False
        if st.calls - st.checked_at >= HOT_CHECK:
            self._check_rate(st)
            if st.state is _HOT:
                return False
        observed = self._observe_args(st, args, kwargs)
        self._schedule(st)
        return observed

    def _observe_args(self, st, args, kwargs):
        """Observes one call's arguments; returns whether to observe its result."""
        t0 = self._time.perf_counter()
        try:
            return self._observe_values(st, args, kwargs)
        finally:
            st.overhead += self._time.perf_counter() - t0

    def _observe_values(self, st, args, kwargs):
        observed = False
        if st.observed < OBSERVATIONS:
            code = st.code
            names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            values = dict(zip(names, args))
            values.update(kwargs)
            st.observed += 1
            for name, value in values.items():
                _note(st.args, name, _describe(value))
            if self.keep_examples and len(st.examples) < EXAMPLES:
                blob = self._pickle(values)
                if blob is not None:
                    st.examples.append([blob, None])
                    st.pending[0] = len(st.examples) - 1
            observed = True
        return observed

    def _note_return(self, st, value):
        t0 = self._time.perf_counter()
        _note(st.returns, "return", _describe(value))
        i = st.pending.pop(0, None)
        if i is not None:
            st.examples[i][1] = self._pickle(value)
        st.overhead += self._time.perf_counter() - t0

    def _open_windows(self):
        now = self._time.perf_counter()
        for st in list(self.stats.values()):
            if st.state is _HOT:
                st.state = _WINDOW
                st.window_start = 0.0
                st.observing = _observations_per_window(st)
                st.next_event = st.calls + 1
                self._swap(st.code, wrapped=True)

    def _make_hot(self, st, now, rate):
        Probe._make_hot(self, st, now, rate)
        self._swap(st.code, wrapped=False)


def _table(table):
    rows = []
    for (key, type_name), (count, total, largest) in sorted(table.items()):
        rows.append({"name": key, "type": type_name, "count": count,
                     "mean_size": (total / count) if count else 0, "max_size": largest})
    return rows


def _b64(blob):
    if blob is None:
        return None
    import base64

    return base64.b64encode(blob).decode("ascii")
