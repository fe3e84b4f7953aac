# Runs first inside the launched interpreter (`python -c <this> script|module TARGET ARGS...`).
#
# It reports the real interpreter and its version through the handshake file named by
# PORT_ADVISOR_HANDSHAKE, compiles the script (or finds the module) so that a syntax error is
# reported before any of the program runs, then runs the program as `__main__` exactly as
# `python script.py` or `python -m module` would. Doing this in the launched process, rather
# than in a separate pre-flight interpreter, saves one interpreter start-up per run.
#
# It must run on every Python port-advisor samples (2.7 and 3.x) and leave no trace in the
# program: no names in `__main__`, the program's own sys.argv, sys.path and exit status.
import sys


def _port_advisor_main():
    # Local names: the program's run clears the module globals this runner started with.
    import os
    import sys

    # The interpreter's start-up, before this first line: part of the program's wall time that
    # the sampler, started below, never sees. CPU seconds of the process so far (start-up is
    # CPU-bound), the one clock that counts from the process's own start.
    import time

    clock = getattr(time, "process_time", None) or time.clock  # Python 2: clock() is CPU time
    startup = clock()
    kind, target = sys.argv[1], sys.argv[2]
    handshake = os.environ.pop("PORT_ADVISOR_HANDSHAKE", None)
    v = sys.version_info

    def report(problem):
        # Seven lines: executable, version, problem (empty when none), process id,
        # implementation, ABI flags (`t` in a free-threaded build's) and the start-up's
        # seconds. Plain text, so that the runner imports nothing the program would not;
        # written whole, then renamed into place, so it is never read half-written.
        if handshake:
            impl = getattr(getattr(sys, "implementation", None), "name", None)
            if impl is None:  # Python 2
                impl = "pypy" if "__pypy__" in sys.builtin_module_names else "cpython"
            tmp = handshake + ".tmp"
            # Private to this user, like everything in the handshake folder.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(
                    "%s\n%d.%d.%d\n%s\n%d\n%s\n%s\n%.6f\n"
                    % (sys.executable, v[0], v[1], v[2], problem or "", os.getpid(), impl,
                       getattr(sys, "abiflags", ""), startup)
                )
            os.rename(tmp, handshake)
        if problem:
            sys.exit(2)

    def start_probe():
        # The probe (CPython 3.8+) counts calls and observes arguments of the functions the
        # sampler finds hot; see probe.py.
        folder = os.environ.pop("PORT_ADVISOR_PROBE", None)
        examples = os.environ.pop("PORT_ADVISOR_NO_EXAMPLES", None) is None
        if not folder or sys.version_info < (3, 8):
            return
        path = os.path.join(folder, "probe.py")
        space = {"__name__": "port_advisor_probe"}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), space)
        roots = [os.getcwd()]
        if kind == "script":
            roots.append(os.path.dirname(os.path.abspath(target)))
        kind_of_probe = space["Probe"] if sys.version_info >= (3, 12) else space["WrapperProbe"]
        probe = kind_of_probe(folder, roots, path, examples)
        if probe.error is None:
            import atexit

            atexit.register(probe.write)

    stop_file = os.environ.pop("PORT_ADVISOR_STOP", None)
    exit_file = os.environ.pop("PORT_ADVISOR_EXIT", None)

    def note_exit(status):
        # The exit status Python is about to end with. port-advisor reads it when the kernel's
        # copy was taken first: a native-pass read that is waiting on the process (ptrace) as
        # it ends collects its status, and port-advisor is then left without one.
        if exit_file:
            tmp = exit_file + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("%d\n" % status)
            os.rename(tmp, exit_file)

    def stopped_by_port_advisor():
        # When port-advisor ends the recording (--duration), it says so in this file before
        # its SIGINT: the program then ends quietly, without a traceback through this runner.
        if stop_file and os.path.exists(stop_file):
            note_exit(130)
            sys.exit(130)

    def wait_for_sampler():
        # Hold the program until port-advisor samples it, so that its first moments are
        # measured too; never longer than a few seconds.
        go = os.environ.pop("PORT_ADVISOR_GO", None)
        if not go:
            return
        deadline = time.time() + 5.0
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.001)

    if kind == "module":
        sys.argv = [target] + sys.argv[3:]
        sys.path[0] = os.getcwd()
        try:
            import importlib.util

            found = importlib.util.find_spec(target) is not None
        except ImportError:
            found = sys.version_info[0] < 3  # Python 2 has no find_spec: let runpy decide
        except Exception:
            found = True  # the module will raise its own error when run
        if not found:
            report("no module named %r for %s" % (target, sys.executable))
        report(None)
        start_probe()
        wait_for_sampler()
        import runpy

        try:
            runpy._run_module_as_main(target, alter_argv=True)
        except KeyboardInterrupt:
            stopped_by_port_advisor()
            raise
        return

    argv0 = target
    if sys.version_info >= (3, 9):
        target = os.path.abspath(target)  # as Python 3.9+ does for the main script
    try:
        with open(target, "rb") as f:
            source = f.read()
        code = compile(source, target, "exec", dont_inherit=True)
    except SyntaxError as e:
        report("syntax error in %s line %s: %s" % (e.filename, e.lineno, e.msg))
    except (IOError, OSError) as e:
        report("cannot read script %s: %s" % (target, e))
    report(None)
    start_probe()
    wait_for_sampler()

    sys.argv = [argv0] + sys.argv[3:]
    sys.path[0] = os.path.dirname(os.path.abspath(target))
    main = sys.modules["__main__"]
    globs = main.__dict__
    builtins = globs["__builtins__"]
    globs.clear()
    globs.update(
        __name__="__main__",
        __file__=target,
        __doc__=None,
        __package__=None,
        __spec__=None,
        __loader__=None,
        __builtins__=builtins,
        __cached__=None,
    )
    try:
        exec(code, globs)
    except SystemExit as e:
        # As Python maps it: None is 0, an int is its low byte, anything else is printed and 1.
        code = e.code
        if code is None:
            note_exit(0)
        elif isinstance(code, int) and not isinstance(code, bool):
            note_exit(code & 0xFF)
        else:
            note_exit(1)
        raise
    except KeyboardInterrupt:
        stopped_by_port_advisor()
        raise  # Python ends by SIGINT: a signal, not a status to note
    except BaseException:
        # Report the program's error as Python would, without this runner's frame.
        t, e, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        if hasattr(e, "with_traceback"):
            e = e.with_traceback(tb)  # Python 3 prints the exception's own traceback
        sys.excepthook(t, e, tb)
        note_exit(1)
        sys.exit(1)
    note_exit(0)


_port_advisor_main()
