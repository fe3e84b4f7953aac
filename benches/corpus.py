#!/usr/bin/env python3
"""Run the real-program corpus under port-advisor and score its advice against known answers.

Each program of the corpus is a folder fixtures/corpus/<name>/ holding workload.py and
answer.toml: the answer an expert established before port-advisor was ever run on it (see
fixtures/corpus/README.md for the format and how an answer is established). This runner reads
and checks every answer.toml, makes one virtualenv per Python minor version the answers name
(target/corpus-venv-3.11, from pyenv's newest CPython 3.11.x, holding the union of the pinned
`packages` of the corpus's programs on that version; remade when that set changes), then runs
each program once, sequentially by default (--jobs N for more at once), from its own folder:

  port-advisor profile --quiet --python VENV_PYTHON -o RUN_DIR workload.py ARGS

A run still going after --timeout seconds (default 300) is stopped: SIGINT to its process
group, then SIGKILL. The runner reads RUN_DIR/report.json and judges its candidates against
the answer by the rules of fixtures/corpus/README.md ("The verdict the runner reads"):

  port         right when the first candidate is a `port` whose function is one of the
               answer's `boundaries`
  release_gil  the same, the first candidate being a `release_gil` (a verdict of its own, or a
               `port` whose reason is `release_gil`)
  use_library  right when a `use_library` candidate comes before any `port` candidate and its
               text (summary, analogues, evidence, notes) names one of `library`,
               case-insensitively
  leave_it     right when no candidate is a `port`, there is at least one candidate, the first
               is a `leave_it`, and its reason is the answer's `reason` (any when empty)

Whatever the verdict, a function in the answer's `never` proposed as a `port` (or
`release_gil`) candidate anywhere in the report makes it wrong. A function `module:qualname`
of an answer names a report's function when the qualname equals the report's `name` and the
report's `module` is the answer's module or ends with `.` + it (`c_lexer:CLexer.token` names
`pycparser.c_lexer`'s); the workload script is module `workload`.

How to read the output:

  program      the corpus folder's name
  kinds        what it covers (fixtures/corpus/README.md, Kinds), the main kind first
  expected     the answer: `port MODULE:QUALNAME` (the first accepted boundary, `+N` more),
               `use_library NAME`, `leave_it REASON` (`leave_it` alone: any reason)
  got          what the report's first candidate says: `port MODULE:QUALNAME`,
               `use_library NAME` (the library its text names), `leave_it REASON (FUNCTION)`,
               `(no candidates)`; or `FAILED: WHY` when the run failed or wrote no report,
               `TIMEOUT` when it was stopped
  right        `right`, or `WRONG` (a line under the table says why for each)
  speedup      the first candidate's whole-program speedup range, `-` when it has none

Then the score, `N of M right, P%`, over the programs run (a program that failed or timed out
counts as wrong), and the same per kind (a program counts under each of its kinds).

Exit status: 0 when every program ran (right or wrong); 1 when one failed or timed out, or,
with --require-right, when one is wrong; 2 on a usage or setup error (an invalid answer.toml,
conflicting pins, a missing interpreter or binary, no program selected).

--self-test judges synthetic reports against synthetic answers, running nothing, and exits 1
if any judgement is not the expected one.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import (
    DEFAULT_BIN,
    REPO_ROOT,
    STDERR_TAIL_LINES,
    ensure_binary,
    fail,
    progress,
    real_python,
    stop_group,
)

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

DEFAULT_CORPUS = os.path.join(REPO_ROOT, "fixtures", "corpus")
VENV_PREFIX = os.path.join(REPO_ROOT, "target", "corpus-venv-")
DEFAULT_TIMEOUT = 300.0

VERDICTS = ("port", "use_library", "leave_it", "release_gil")
REASONS = ("already_native", "waiting", "compiled", "too_small", "spread_thin",
           "conversion_cost")
KINDS = ("numeric", "object-engine", "parser", "text-render", "crypto", "graph",
         "dict-aggregation", "recursion", "already-native", "native-alias", "compiled-package",
         "installed-package", "callables", "threads", "async", "waiting", "short",
         "top-level-call")

# What answer.toml may hold: its keys and their types.
TOP_KEYS = {"summary": str, "kinds": list, "packages": list, "args": list, "python": str,
            "seconds": (int, float), "ci": bool, "answer": dict, "evidence": dict}
TOP_REQUIRED = ("summary", "kinds", "python", "seconds", "answer", "evidence")
ANSWER_KEYS = {"verdict": str, "boundaries": list, "never": list, "library": list,
               "reason": str, "why": str}
EVIDENCE_KEYS = {"cprofile": str, "sampler": str, "source": str, "measured": str,
                 "established": str}
EVIDENCE_REQUIRED = ("cprofile", "sampler", "source", "established")

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9._,\s-]*\])?\s*==\s*([^\s;,]+)$")
FUNCTION_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_<][\w.<>]*$")

# Run outcomes.
RAN = "ran"
FAILED = "FAILED"
TIMEOUT = "TIMEOUT"


class AnswerError(Exception):
    """An answer.toml that does not follow the format: `path: field: what is wrong`."""


class Program(object):
    """One corpus program: its folder, answer.toml as read, and the outcome of its run."""

    def __init__(self, folder, data):
        self.folder = folder
        self.name = os.path.basename(folder)
        self.data = data
        self.answer = data["answer"]
        self.kinds = data["kinds"]
        self.python = data["python"]
        self.packages = data.get("packages", [])
        self.args = data.get("args", [])
        self.ci = data.get("ci", False)
        self.row = None

    @property
    def workload(self):
        return os.path.join(self.folder, "workload.py")


def shown(path):
    """A path as messages show it: from the repo when inside it, else absolute."""
    path = os.path.abspath(path)
    inside = os.path.relpath(path, REPO_ROOT)
    return path if inside.startswith("..") else inside


# --- Reading and checking answer.toml.

def check_keys(path, where, table, allowed, required):
    for key in required:
        if key not in table:
            raise AnswerError("%s: %s%s is missing" % (path, where, key))
    for key, value in table.items():
        if key not in allowed:
            raise AnswerError("%s: %s%s is not a field of the format (fields: %s)" % (
                path, where, key, ", ".join(sorted(allowed))))
        kind = allowed[key]
        if isinstance(value, bool) and kind is not bool:
            ok = False
        else:
            ok = isinstance(value, kind)
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else "number"
            raise AnswerError("%s: %s%s must be a %s, not %r" % (
                path, where, key, {"str": "string", "list": "list", "dict": "table",
                                   "bool": "boolean"}.get(names, names), value))


def check_strings(path, field, values):
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise AnswerError("%s: %s must hold non-empty strings, not %r" % (
                path, field, value))


def check_answer(path, data):
    """Raise AnswerError for the first thing in `data` (answer.toml, read) that breaks the
    format of fixtures/corpus/README.md."""
    check_keys(path, "", data, TOP_KEYS, TOP_REQUIRED)
    if not data["summary"].strip():
        raise AnswerError("%s: summary is empty" % path)
    kinds = data["kinds"]
    if not kinds:
        raise AnswerError("%s: kinds is empty (name at least the main kind)" % path)
    check_strings(path, "kinds", kinds)
    for kind in kinds:
        if kind not in KINDS:
            raise AnswerError("%s: kinds: unknown kind %r (kinds: %s)" % (
                path, kind, ", ".join(KINDS)))
    packages = data.get("packages", [])
    check_strings(path, "packages", packages)
    for pin in packages:
        if not PIN.match(pin.strip()):
            raise AnswerError("%s: packages: %r is not pinned as NAME==VERSION" % (path, pin))
    for arg in data.get("args", []):
        if not isinstance(arg, str):
            raise AnswerError("%s: args must hold strings, not %r" % (path, arg))
    if not re.match(r"^3\.\d+$", data["python"]):
        raise AnswerError("%s: python must be a minor version such as \"3.11\", not %r" % (
            path, data["python"]))
    if data["seconds"] <= 0:
        raise AnswerError("%s: seconds must be positive, not %r" % (path, data["seconds"]))

    answer = data["answer"]
    check_keys(path, "answer.", answer, ANSWER_KEYS, ("verdict", "why"))
    verdict = answer["verdict"]
    if verdict not in VERDICTS:
        raise AnswerError("%s: answer.verdict must be one of %s, not %r" % (
            path, " | ".join(VERDICTS), verdict))
    for field in ("boundaries", "never", "library"):
        check_strings(path, "answer." + field, answer.get(field, []))
    for field in ("boundaries", "never"):
        for spec in answer.get(field, []):
            if not FUNCTION_SPEC.match(spec):
                raise AnswerError("%s: answer.%s: %r is not module:qualname "
                                  "(such as pycparser.c_lexer:CLexer.token)" % (
                                      path, field, spec))
    boundaries = answer.get("boundaries", [])
    if verdict in ("port", "release_gil"):
        if not boundaries:
            raise AnswerError("%s: answer.boundaries is empty: a %s answer names the accepted "
                              "boundaries" % (path, verdict))
    elif boundaries:
        raise AnswerError("%s: answer.boundaries is only for port and release_gil, not %s" % (
            path, verdict))
    overlap = sorted(set(boundaries) & set(answer.get("never", [])))
    if overlap:
        raise AnswerError("%s: answer.never repeats accepted boundaries: %s" % (
            path, ", ".join(overlap)))
    library = answer.get("library", [])
    if verdict == "use_library" and not library:
        raise AnswerError("%s: answer.library is empty: a use_library answer names the "
                          "library the advice must mention" % path)
    if verdict != "use_library" and library:
        raise AnswerError("%s: answer.library is only for use_library, not %s" % (
            path, verdict))
    reason = answer.get("reason", "")
    if verdict == "leave_it":
        if reason and reason not in REASONS:
            raise AnswerError("%s: answer.reason must be one of %s (or empty), not %r" % (
                path, " | ".join(REASONS), reason))
    elif reason:
        raise AnswerError("%s: answer.reason is only for leave_it, not %s" % (path, verdict))
    if not answer["why"].strip():
        raise AnswerError("%s: answer.why is empty" % path)

    check_keys(path, "evidence.", data["evidence"], EVIDENCE_KEYS, EVIDENCE_REQUIRED)
    for field in EVIDENCE_REQUIRED:
        if not data["evidence"][field].strip():
            raise AnswerError("%s: evidence.%s is empty" % (path, field))


def load_corpus(corpus):
    """The programs of `corpus`, sorted by name; every answer.toml checked (all errors
    reported at once, then exit 2)."""
    if tomllib is None:
        fail("benches/corpus.py needs Python 3.11 or later (tomllib); this is %s"
             % sys.version.split()[0])
    if not os.path.isdir(corpus):
        fail("%s is not a directory" % corpus)
    programs, errors = [], []
    for path in sorted(glob.glob(os.path.join(corpus, "*", "answer.toml"))):
        where = shown(path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, ValueError) as error:
            errors.append("%s: cannot be read as TOML: %s" % (where, error))
            continue
        try:
            check_answer(where, data)
            if not os.path.isfile(os.path.join(os.path.dirname(path), "workload.py")):
                raise AnswerError("%s: workload.py is missing beside it" % where)
        except AnswerError as error:
            errors.append(str(error))
            continue
        programs.append(Program(os.path.dirname(os.path.abspath(path)), data))
    if errors:
        for error in errors:
            print("error: %s" % error, file=sys.stderr)
        sys.exit(2)
    for minor in set(p.python for p in programs):
        union_of_pins([p for p in programs if p.python == minor])  # exits on a conflict
    return programs


# --- Judging a report against an answer (no process runs here: --self-test covers it).

def split_spec(spec):
    module, _, qualname = spec.partition(":")
    return module, qualname


def report_module(function):
    """The module a report names for a function; when it names none, the file's stem."""
    module = function.get("module")
    if module:
        return module
    name = os.path.basename(function.get("file") or "")
    return name[:-3] if name.endswith(".py") else name


def names(spec, function):
    """Whether the answer's `module:qualname` is the report's function."""
    module, qualname = split_spec(spec)
    if function.get("name") != qualname:
        return False
    got = report_module(function)
    return got == module or got.endswith("." + module)


def spec_of(function):
    return "%s:%s" % (report_module(function), function.get("name"))


def is_release_gil(candidate):
    return candidate.get("verdict") == "release_gil" or (
        candidate.get("verdict") == "port" and candidate.get("reason") == "release_gil")


def is_port(candidate):
    """A candidate proposing a port: `port`, or `release_gil` (a port that releases the
    GIL)."""
    return candidate.get("verdict") in ("port", "release_gil")


def candidate_text(candidate):
    """What a candidate says in words: summary, reason, analogues, evidence, notes (not the
    functions it names, which would name packages rather than advise them)."""
    parts = [candidate.get("summary") or "", candidate.get("reason") or ""]
    parts.extend(candidate.get("analogues") or [])
    parts.extend(candidate.get("evidence") or [])
    for note in candidate.get("readiness") or []:
        parts.append(note.get("note") or "")
    return "\n".join(str(part) for part in parts)


def named_library(candidate, libraries):
    """The first of `libraries` the candidate's text names, case-insensitively, or None."""
    text = candidate_text(candidate).lower()
    for library in libraries:
        if library.lower() in text:
            return library
    return None


def library_said(candidate):
    """The library a use_library candidate advises, as short as the report allows."""
    analogues = candidate.get("analogues") or []
    if analogues:
        return analogues[0].split(":")[0].strip()
    summary = candidate.get("summary") or ""
    match = re.match(r"use (\S+?)[:,]? ", summary)
    return match.group(1) if match else summary[:40]


def describe_candidate(candidate):
    """`got`, short: `port workload:f`, `use_library cryptography`, `leave_it
    already_native (json.dumps)`."""
    function = candidate.get("function") or {}
    verdict = candidate.get("verdict")
    if is_release_gil(candidate):
        return "release_gil %s" % spec_of(function)
    if verdict == "port":
        return "port %s" % spec_of(function)
    if verdict == "use_library":
        return "use_library %s" % library_said(candidate)
    dotted = "%s.%s" % (report_module(function), function.get("name"))
    return "%s %s (%s)" % (verdict, candidate.get("reason"), dotted.lstrip("."))


def describe_answer(answer):
    verdict = answer["verdict"]
    if verdict in ("port", "release_gil"):
        boundaries = answer["boundaries"]
        more = " +%d" % (len(boundaries) - 1) if len(boundaries) > 1 else ""
        return "%s %s%s" % (verdict, boundaries[0], more)
    if verdict == "use_library":
        return "use_library %s" % " | ".join(answer["library"])
    reason = answer.get("reason", "")
    return "leave_it %s" % reason if reason else "leave_it"


def judge(answer, report):
    """(right, got, why_wrong) for a report.json (parsed) against an [answer] table."""
    candidates = report.get("candidates") or []
    got = describe_candidate(candidates[0]) if candidates else "(no candidates)"
    verdict = answer["verdict"]
    never = answer.get("never", [])
    for candidate in candidates:
        function = candidate.get("function") or {}
        if is_port(candidate) and any(names(spec, function) for spec in never):
            return False, got, "%s is proposed as a port (rank %s), and the answer says never" % (
                spec_of(function), candidate.get("rank"))
    if not candidates:
        return False, got, "the report has no candidate"
    first = candidates[0]
    function = first.get("function") or {}

    if verdict in ("port", "release_gil"):
        if verdict == "port" and first.get("verdict") != "port":
            return False, got, "the first candidate is not a port"
        if verdict == "release_gil" and not is_release_gil(first):
            return False, got, "the first candidate is not a release_gil"
        if not any(names(spec, function) for spec in answer["boundaries"]):
            return False, got, "%s is not an accepted boundary (%s)" % (
                spec_of(function), ", ".join(answer["boundaries"]))
        return True, got, ""

    if verdict == "use_library":
        for candidate in candidates:
            if is_port(candidate):
                break
            if candidate.get("verdict") == "use_library":
                library = named_library(candidate, answer["library"])
                if library is not None:
                    return True, "use_library %s" % library if candidate is first else got, ""
        return False, got, "no use_library candidate before any port names %s" % (
            " or ".join(answer["library"]))

    # leave_it
    ports = [c for c in candidates if is_port(c)]
    if ports:
        return False, got, "%s is proposed as a port" % spec_of(ports[0].get("function") or {})
    if first.get("verdict") != "leave_it":
        return False, got, "the first candidate is not a leave_it"
    reason = answer.get("reason", "")
    if reason and first.get("reason") != reason:
        return False, got, "the reason is %s, not %s" % (first.get("reason"), reason)
    return True, got, ""


def speedup_text(report):
    candidates = (report or {}).get("candidates") or []
    span = candidates[0].get("speedup") if candidates else None
    if not span:
        return "-"
    return "%.1fx-%.1fx" % (span[0], span[1])


# --- The virtualenvs.

def pyenv_python(minor):
    """pyenv's newest CPython `minor`.x, or None."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for folder in glob.glob(os.path.join(root, "versions", minor + ".*")):
        patch = os.path.basename(folder)[len(minor) + 1:]
        python = os.path.join(folder, "bin", "python" + minor)
        if patch.isdigit() and os.path.exists(python):
            found.append((int(patch), python))
    return max(found)[1] if found else None


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def union_of_pins(programs):
    """The pins of `programs` as one sorted list of requirements; exits 2 when two programs
    pin the same package at different versions."""
    pins = {}  # normalized name -> (version, extras, name as written, the program's file)
    for program in programs:
        for pin in program.packages:
            name, extras, version = PIN.match(pin.strip()).groups()
            key = normalized(name)
            extras = set(e.strip() for e in (extras or "[]")[1:-1].split(",") if e.strip())
            where = shown(os.path.join(program.folder, "answer.toml"))
            if key in pins:
                other_version, other_extras, other_name, other_where = pins[key]
                if other_version != version:
                    fail("conflicting pins for Python %s: %s==%s in %s, %s==%s in %s" % (
                        program.python, other_name, other_version, other_where, name, version,
                        where))
                extras |= other_extras
                name, where = other_name, other_where
            pins[key] = (version, extras, name, where)
    requirements = []
    for key in sorted(pins):
        version, extras, name, _ = pins[key]
        extra = "[%s]" % ",".join(sorted(extras)) if extras else ""
        requirements.append("%s%s==%s" % (name, extra, version))
    return requirements


def ensure_venv(minor, programs, venv=None):
    """target/corpus-venv-MINOR with the union of the corpus's pins for that Python, made or
    remade when the pins or the interpreter changed; returns its interpreter."""
    venv = venv or VENV_PREFIX + minor
    base = pyenv_python(minor)
    if base is None:
        fail("no CPython %s under pyenv (%s/versions/%s.*), which answers name" % (
            minor, os.environ.get("PYENV_ROOT") or "~/.pyenv", minor))
    base, version = real_python(base)
    requirements = union_of_pins(programs)
    wanted = "# made with %s (%s)\n%s" % (base, version, "".join(r + "\n" for r in requirements))
    stamp = os.path.join(venv, ".corpus-requirements")
    venv_python = os.path.join(venv, "bin", "python")
    try:
        with open(stamp) as f:
            if f.read() == wanted and os.path.exists(venv_python):
                return venv_python
    except OSError:
        pass
    progress("making %s with Python %s and %d pinned packages" % (
        os.path.relpath(venv, REPO_ROOT), version, len(requirements)))
    commands = [[base, "-m", "venv", "--clear", venv]]
    if requirements:
        commands.append([venv_python, "-m", "pip", "install", "-q",
                         "--disable-pip-version-check"] + requirements)
    for command in commands:
        if subprocess.run(command).returncode != 0:
            fail("`%s` failed" % " ".join(command))
    with open(stamp, "w") as f:
        f.write(wanted)
    return venv_python


# --- Running.

def run_environment():
    env = dict(os.environ)
    # No .pyc written into the corpus's folders; the same hash seed every run.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    env.pop("VIRTUAL_ENV", None)
    return env


def run_program(program, port_advisor, venv_python, runs_dir, timeout):
    """Run one program under port-advisor and judge its report; returns the row."""
    folder = os.path.join(runs_dir, program.name)
    shutil.rmtree(folder, ignore_errors=True)
    command = [port_advisor, "profile", "--quiet", "--python", venv_python, "-o", folder,
               program.workload] + [str(a) for a in program.args]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=program.folder, env=run_environment(),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
        status = RAN
    except subprocess.TimeoutExpired:
        _, stderr = stop_group(process)
        status = TIMEOUT
    elapsed = time.perf_counter() - start
    stderr = stderr.decode("utf-8", "replace")
    report, failure = None, None
    if status == RAN:
        if process.returncode != 0:
            failure = "exit status %d" % process.returncode
            last = [line for line in stderr.splitlines() if line.strip()]
            if last:
                failure += ": " + last[-1].strip()[:120]
        else:
            try:
                with open(os.path.join(folder, "report.json")) as f:
                    report = json.load(f)
            except OSError:
                failure = "no report.json"
            except ValueError as error:
                failure = "report.json does not parse: %s" % error
    if status == TIMEOUT:
        right, got, why = False, TIMEOUT, "stopped after %.0f s" % timeout
    elif failure:
        status = FAILED
        right, got, why = False, "FAILED: %s" % failure, failure
    else:
        right, got, why = judge(program.answer, report)
    return {
        "program": program.name,
        "kinds": program.kinds,
        "python": program.python,
        "ci": program.ci,
        "expected": describe_answer(program.answer),
        "got": got,
        "right": right,
        "why_wrong": why,
        "status": status,
        "speedup": speedup_text(report),
        "command_seconds": round(elapsed, 2),
        "answer_seconds": program.data["seconds"],
        "candidates": [
            {"rank": c.get("rank"), "verdict": c.get("verdict"), "reason": c.get("reason"),
             "function": spec_of(c.get("function") or {}), "speedup": c.get("speedup")}
            for c in ((report or {}).get("candidates") or [])],
        "stderr_tail": stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:] if status != RAN
        else [],
    }


# --- Output.

COLUMNS = ("program", "kinds", "expected", "got", "right", "speedup")


def cells(row):
    return [row["program"], ", ".join(row["kinds"]), row["expected"], row["got"],
            "right" if row["right"] else "WRONG", row["speedup"]]


def print_table(rows, markdown=False):
    table = [cells(row) for row in rows]
    if markdown:
        print("| %s |" % " | ".join(COLUMNS))
        print("|%s|" % "|".join("---" for _ in COLUMNS))
        for line in table:
            # expected and got as code, where `<module>` needs no escaping.
            line = [("`%s`" % cell) if i in (2, 3) else cell.replace("<", "&lt;")
                    for i, cell in enumerate(line)]
            print("| %s |" % " | ".join(cell.replace("|", "\\|") for cell in line))
    else:
        widths = [max([len(c)] + [len(line[i]) for line in table])
                  for i, c in enumerate(COLUMNS)]
        header = "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()
        print(header)
        print("-" * len(header))
        for line in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    wrong = [row for row in rows if not row["right"]]
    if wrong:
        print()
        for row in wrong:
            print("%s%s: %s" % ("- " if markdown else "", row["program"], row["why_wrong"]))


def score_line(rows):
    right = sum(1 for row in rows if row["right"])
    total = len(rows)
    return right, total, "%d of %d right, %.0f%%" % (right, total,
                                                     100.0 * right / total if total else 0.0)


def kind_scores(rows):
    """[(kind, right, total)] in the order of KINDS, only the kinds run."""
    scores = []
    for kind in KINDS:
        of_kind = [row for row in rows if kind in row["kinds"]]
        if of_kind:
            scores.append((kind, sum(1 for row in of_kind if row["right"]), len(of_kind)))
    return scores


def print_scores(rows, markdown=False):
    print()
    print("%s%s" % ("**Score:** " if markdown else "score: ", score_line(rows)[2]))
    parts = ["%s %d/%d" % (kind, right, total) for kind, right, total in kind_scores(rows)]
    if markdown:
        print()
    print("%s%s" % ("**By kind:** " if markdown else "by kind: ", ", ".join(parts)))


def git_commit():
    try:
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                                         stderr=subprocess.DEVNULL, universal_newlines=True)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=REPO_ROOT,
                               stderr=subprocess.DEVNULL).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.strip() + (" (with uncommitted changes)" if dirty else "")


# --- The self-test: judging only, on synthetic reports.

def fn(module, name, file=None):
    return {"name": name, "module": module,
            "file": file or "/x/%s.py" % (module or "x").replace(".", "/"), "first_line": 1}


def cand(verdict, reason, function, rank=1, summary="", analogues=(), speedup=(1.5, 2.0)):
    return {"rank": rank, "verdict": verdict, "reason": reason, "summary": summary,
            "function": function, "analogues": list(analogues), "evidence": [],
            "readiness": [], "speedup": list(speedup) if speedup else None}


def report(*candidates):
    ranked = []
    for rank, candidate in enumerate(candidates, 1):
        candidate = dict(candidate)
        candidate["rank"] = rank
        ranked.append(candidate)
    return {"schema": 1, "candidates": ranked}


def self_test_cases():
    """(what, answer, report, right, got or None)."""
    port = {"verdict": "port", "boundaries": ["pycparser.c_lexer:CLexer.token",
                                             "workload:parse_all"],
            "never": ["workload:step"], "why": "."}
    lib = {"verdict": "use_library", "library": ["cryptography", "CSafeLoader"], "why": "."}
    leave = {"verdict": "leave_it", "reason": "already_native", "why": "."}
    leave_any = {"verdict": "leave_it", "reason": "", "why": "."}
    gil = {"verdict": "release_gil", "boundaries": ["workload:worker"], "why": "."}
    lex = fn("pycparser.c_lexer", "CLexer.token")
    return [
        ("port: the first candidate, a boundary", port,
         report(cand("port", "pays", lex)), True, "port pycparser.c_lexer:CLexer.token"),
        ("port: the script's own function", port,
         report(cand("port", "pays", fn("workload", "parse_all"))), True,
         "port workload:parse_all"),
        ("port: module matched as a dotted suffix", port,
         report(cand("port", "pays", fn("site.pycparser.c_lexer", "CLexer.token"))), True, None),
        ("port: a suffix must start at a dot", port,
         report(cand("port", "pays", fn("xpycparser.c_lexer", "CLexer.token"))), False, None),
        ("port: the qualname must be equal", port,
         report(cand("port", "pays", fn("pycparser.c_lexer", "token"))), False, None),
        ("port: no module in the report, the file's stem", port,
         report(cand("port", "pays", {"name": "parse_all", "module": None,
                                      "file": "/c/workload.py"})), True, "port workload:parse_all"),
        ("port: another function first", port,
         report(cand("port", "pays", fn("workload", "main")), cand("port", "pays", lex)),
         False, "port workload:main"),
        ("port: a never function proposed after the right one", port,
         report(cand("port", "pays", lex), cand("port", "pays", fn("workload", "step"))),
         False, None),
        ("port: a never function left alone is fine", port,
         report(cand("port", "pays", lex), cand("leave_it", "too_small", fn("workload", "step"))),
         True, None),
        ("port: the first candidate leaves it", port,
         report(cand("leave_it", "spread_thin", lex)), False, None),
        ("port: the first candidate a use_library", port,
         report(cand("use_library", "native_library", lex, analogues=["x: y"])), False,
         "use_library x"),
        ("port: an empty report", port, report(), False, "(no candidates)"),
        ("port: a release_gil port is not a port", port,
         report(cand("release_gil", "release_gil", lex)), False, None),
        ("use_library: named in the analogues", lib,
         report(cand("use_library", "native_library", fn("pyaes.aes", "AES.encrypt"),
                     summary="use it", analogues=["cryptography: OpenSSL"])),
         True, "use_library cryptography"),
        ("use_library: named in the summary, another case", lib,
         report(cand("use_library", "native_library", fn("yaml.scanner", "Scanner.scan"),
                     summary="use yaml.csafeloader: ...")), True, None),
        ("use_library: names another library", lib,
         report(cand("use_library", "native_library", fn("pyaes.aes", "AES.encrypt"),
                     analogues=["pycryptodome: C"])), False, "use_library pycryptodome"),
        ("use_library: the library named only in the function's module is not advice",
         {"verdict": "use_library", "library": ["pyaes"], "why": "."},
         report(cand("use_library", "native_library", fn("pyaes.aes", "AES.encrypt"),
                     summary="use something")), False, None),
        ("use_library: a port comes first", lib,
         report(cand("port", "pays", fn("workload", "main")),
                cand("use_library", "native_library", fn("pyaes.aes", "AES.encrypt"),
                     analogues=["cryptography: OpenSSL"])), False, "port workload:main"),
        ("use_library: after a leave_it, before any port", lib,
         report(cand("leave_it", "already_native", fn("json", "dumps")),
                cand("use_library", "native_library", fn("pyaes.aes", "AES.encrypt"),
                     analogues=["cryptography: OpenSSL"])), True, None),
        ("use_library: only a leave_it", lib,
         report(cand("leave_it", "already_native", fn("json", "dumps"),
                     summary="cryptography is not it")), False, None),
        ("use_library: an empty report", lib, report(), False, "(no candidates)"),
        ("leave_it: the reason", leave,
         report(cand("leave_it", "already_native", fn("json", "dumps"))), True,
         "leave_it already_native (json.dumps)"),
        ("leave_it: another reason", leave,
         report(cand("leave_it", "too_small", fn("json", "dumps"))), False, None),
        ("leave_it: a port anywhere", leave,
         report(cand("leave_it", "already_native", fn("json", "dumps")),
                cand("port", "pays", fn("workload", "f"))), False, None),
        ("leave_it: a port first", leave_any,
         report(cand("port", "pays", fn("workload", "f"))), False, "port workload:f"),
        ("leave_it: any reason", leave_any,
         report(cand("leave_it", "spread_thin", fn("workload", "main"))), True, None),
        ("leave_it: any reason, but a leave_it", leave_any,
         report(cand("use_library", "native_library", fn("pyaes.aes", "AES.encrypt"),
                     analogues=["cryptography: x"])), False, None),
        ("leave_it: waiting, a reason the tool has yet to learn",
         {"verdict": "leave_it", "reason": "waiting", "why": "."},
         report(cand("leave_it", "waiting", fn("time", "sleep"))), True, None),
        ("leave_it: compiled, wrong when the tool says too_small",
         {"verdict": "leave_it", "reason": "compiled", "why": "."},
         report(cand("leave_it", "too_small", fn("workload", "main"))), False, None),
        ("leave_it: an empty report", leave, report(), False, "(no candidates)"),
        ("leave_it: a never function proposed as a port",
         {"verdict": "leave_it", "reason": "", "never": ["workload:step"], "why": "."},
         report(cand("port", "pays", fn("workload", "step"))), False, None),
        ("release_gil: its own verdict", gil,
         report(cand("release_gil", "release_gil", fn("workload", "worker"))), True,
         "release_gil workload:worker"),
        ("release_gil: a port with reason release_gil", gil,
         report(cand("port", "release_gil", fn("workload", "worker"))), True,
         "release_gil workload:worker"),
        ("release_gil: a plain port is not it", gil,
         report(cand("port", "pays", fn("workload", "worker"))), False, "port workload:worker"),
        ("release_gil: another function", gil,
         report(cand("release_gil", "release_gil", fn("workload", "main"))), False, None),
        ("release_gil: an empty report", gil, report(), False, "(no candidates)"),
    ]


def self_test_answers():
    """(what, answer.toml text, the field its error must name or None when valid)."""
    valid = """
summary = "s"
kinds = ["parser"]
packages = ["pycparser==2.22"]
python = "3.11"
seconds = 3.4
[answer]
verdict = "port"
boundaries = ["pycparser.c_lexer:CLexer.token"]
never = []
why = "w"
[evidence]
cprofile = "c"
sampler = "s"
source = "f"
established = "e"
"""
    return [
        ("a valid answer", valid, None),
        ("an unknown verdict", valid.replace('"port"', '"rewrite"'), "answer.verdict"),
        ("a port without boundaries", valid.replace(
            'boundaries = ["pycparser.c_lexer:CLexer.token"]', "boundaries = []"),
         "answer.boundaries"),
        ("a boundary without a module", valid.replace(
            "pycparser.c_lexer:CLexer.token", "CLexer.token"), "answer.boundaries"),
        ("an unpinned package", valid.replace("pycparser==2.22", "pycparser"), "packages"),
        ("an unknown kind", valid.replace('["parser"]', '["parsing"]'), "kinds"),
        ("a misspelt field", valid.replace("never = []", "nevers = []"), "answer.nevers"),
        ("python as a number", valid.replace('python = "3.11"', "python = 3.11"), "python"),
        ("evidence missing", valid.split("[evidence]")[0], "evidence"),
        ("a leave_it reason unknown", valid.replace(
            'verdict = "port"\nboundaries = ["pycparser.c_lexer:CLexer.token"]',
            'verdict = "leave_it"\nreason = "slow"'), "answer.reason"),
        ("a use_library without library", valid.replace(
            'verdict = "port"\nboundaries = ["pycparser.c_lexer:CLexer.token"]',
            'verdict = "use_library"'), "answer.library"),
        ("ci not a boolean", "ci = 1\n" + valid, "ci"),
    ]


def self_test():
    failures = 0
    cases = self_test_cases()
    for what, answer, synthetic, want_right, want_got in cases:
        right, got, why = judge(answer, synthetic)
        problems = []
        if right != want_right:
            problems.append("judged %s, expected %s (%s)" % (
                "right" if right else "WRONG", "right" if want_right else "WRONG",
                why or "no reason"))
        if want_got is not None and got != want_got:
            problems.append("got %r, expected %r" % (got, want_got))
        if not right and not why:
            problems.append("wrong without saying why")
        if problems:
            failures += 1
            print("FAIL judge: %s: %s" % (what, "; ".join(problems)))
    answers = self_test_answers()
    for what, text, field in answers:
        try:
            check_answer("answer.toml", tomllib.loads(text))
            error = None
        except AnswerError as e:
            error = str(e)
        if field is None and error is not None:
            failures += 1
            print("FAIL answer.toml: %s: refused: %s" % (what, error))
        elif field is not None and (error is None or
                                    not error.startswith("answer.toml: %s" % field)):
            failures += 1
            print("FAIL answer.toml: %s: expected an error naming %s, got %s" % (
                what, field, error or "none"))
    # The union of pins: equal pins merge, extras join.
    a = Program("/c/a", {"answer": {}, "kinds": [], "python": "3.11",
                         "packages": ["Foo_Bar==1.0", "x==2"]})
    b = Program("/c/b", {"answer": {}, "kinds": [], "python": "3.11",
                         "packages": ["foo-bar[fast]==1.0"]})
    union = union_of_pins([a, b])
    if union != ["Foo_Bar[fast]==1.0", "x==2"]:
        failures += 1
        print("FAIL pins: union %r" % union)
    total = len(cases) + len(answers) + 1
    print("self-test: %d of %d checks passed" % (total - failures, total))
    return 1 if failures else 0


# --- Main.

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples: benches/corpus.py; benches/corpus.py --list; "
               "benches/corpus.py --only pycparser-lex,json-dump --runs-dir /tmp/runs; "
               "benches/corpus.py --kind parser --markdown; "
               "benches/corpus.py --ci --require-right; benches/corpus.py --self-test.")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS,
                        help="the corpus folder (default: fixtures/corpus)")
    parser.add_argument("--list", action="store_true",
                        help="list the programs and their answers, and exit")
    parser.add_argument("--only", default=None,
                        help="comma-separated program names to run (default: all)")
    parser.add_argument("--kind", default=None, help="run only the programs of this kind")
    parser.add_argument("--ci", action="store_true",
                        help="run only the programs whose answer.toml says ci = true")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds after which a run is stopped (default: %.0f)"
                        % DEFAULT_TIMEOUT)
    parser.add_argument("--jobs", type=int, default=1,
                        help="programs run at once (default: 1; the shares a run measures "
                             "suffer when programs compete for the cores)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write every row as JSON to PATH")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table and scores as Markdown (for the README)")
    parser.add_argument("--runs-dir", default=None,
                        help="keep the run folders here (one per program) instead of a "
                             "temporary directory")
    parser.add_argument("--bin", default=DEFAULT_BIN,
                        help="the port-advisor binary (default: target/release/port-advisor, "
                             "built if missing)")
    parser.add_argument("--build", action="store_true",
                        help="run `cargo build --release --locked` first")
    parser.add_argument("--require-right", action="store_true",
                        help="exit 1 when any program's advice is wrong")
    parser.add_argument("--self-test", action="store_true",
                        help="check the judging on synthetic reports, run nothing, and exit")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.kind is not None and args.kind not in KINDS:
        parser.error("unknown kind %s (kinds: %s)" % (args.kind, ", ".join(KINDS)))
    return args


def select(programs, args):
    corpus = shown(args.corpus)
    if not programs:
        fail("no programs in %s (no */answer.toml)" % corpus)
    chosen = programs
    if args.only is not None:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        known = [p.name for p in programs]
        unknown = [name for name in wanted if name not in known]
        if unknown:
            fail("unknown program %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
        chosen = [p for p in chosen if p.name in wanted]
    if args.kind is not None:
        chosen = [p for p in chosen if args.kind in p.kinds]
        if not chosen:
            fail("no program of kind %s in %s" % (args.kind, corpus))
    if args.ci:
        chosen = [p for p in chosen if p.ci]
        if not chosen:
            fail("no program in %s has `ci = true` in its answer.toml%s" % (
                corpus, " (among those selected)" if args.only or args.kind else ""))
    if not chosen:
        fail("no program selected")
    return chosen


def main(argv=None):
    args = parse_args(argv)
    if args.self_test:
        return self_test()
    args.corpus = os.path.abspath(args.corpus)
    programs = load_corpus(args.corpus)
    if args.list:
        if not programs:
            print("no programs in %s" % shown(args.corpus))
        for p in programs:
            print("%-24s %-5s %-3s %-40s %s" % (p.name, p.python, "ci" if p.ci else "",
                                                ",".join(p.kinds), describe_answer(p.answer)))
        return 0
    chosen = select(programs, args)
    began = time.perf_counter()
    port_advisor = ensure_binary(args.bin, args.build)
    # One virtualenv per minor version, with the pins of the whole corpus on that version, so
    # that running a few programs does not remake it for the next full run.
    venvs = {}
    for minor in sorted(set(p.python for p in chosen)):
        venvs[minor] = ensure_venv(minor, [p for p in programs if p.python == minor])

    runs_dir = args.runs_dir and os.path.abspath(args.runs_dir)
    scratch = None
    if runs_dir is None:
        scratch = tempfile.mkdtemp(prefix="port-advisor-corpus-")
        runs_dir = scratch
    os.makedirs(runs_dir, exist_ok=True)
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(port_advisor)))
    print("port-advisor: %s (built %s; repo at %s)" % (port_advisor, built, git_commit()))
    print("corpus:       %s, %d of %d programs; timeout %.0f s a run" % (
        shown(args.corpus), len(chosen), len(programs), args.timeout))
    for minor, venv_python in sorted(venvs.items()):
        print("python %-6s %s (Python %s)" % (minor + ":", venv_python,
                                              real_python(venv_python)[1]))
    print()
    sys.stdout.flush()

    def one(index_program):
        index, program = index_program
        row = run_program(program, port_advisor, venvs[program.python], runs_dir, args.timeout)
        progress("[%d/%d] %-24s %6.1f s  %-5s %s" % (
            index, len(chosen), program.name, row["command_seconds"],
            "right" if row["right"] else "WRONG", row["got"]))
        for line in row["stderr_tail"]:
            progress("  | " + line)
        return row

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(one, enumerate(chosen, 1)))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    print_table(rows, markdown=args.markdown)
    print_scores(rows, markdown=args.markdown)
    took = time.perf_counter() - began
    print("took %.0f s" % took)
    if args.json:
        right, total, line = score_line(rows)
        document = {
            "schema": 1,
            "port_advisor": port_advisor,
            "commit": git_commit(),
            "corpus": args.corpus,
            "timeout_seconds": args.timeout,
            "score": {"right": right, "total": total, "line": line},
            "kinds": [{"kind": k, "right": r, "total": t} for k, r, t in kind_scores(rows)],
            "rows": rows,
            "seconds": round(took, 1),
        }
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
    if any(row["status"] != RAN for row in rows):
        return 1
    if args.require_right and not all(row["right"] for row in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
