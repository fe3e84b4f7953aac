"""What every real-application workload shares: its input, its clock and its two result lines.

A workload script reads its input (the path given as its first argument, or the input made
in memory by inputs.py when none is given), then calls `run(work, *args)`, which times
`work(*args)` alone and prints two lines that benches/real_apps.py reads:

    WORKLOAD_CHECKSUM 3f2a9c0d41b7e655   a digest of what work() returned: the program's
                                         result, which the probe must not change
    WORKLOAD_SECONDS 2.345               the wall time of work() alone, so that neither the
                                         interpreter's start-up and imports nor port-advisor's
                                         start-up and analysis are counted
"""
import hashlib
import sys
import time

import inputs

CHECKSUM_LINE = "WORKLOAD_CHECKSUM"
SECONDS_LINE = "WORKLOAD_SECONDS"


def read_input(name, binary=False):
    """The input of this run: the file named by the first argument, else inputs.make(name)."""
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as f:
            data = f.read()
    else:
        data = inputs.make(name)
    return data if binary else data.decode("utf-8")


def checksum(result):
    if isinstance(result, str):
        result = result.encode("utf-8")
    elif not isinstance(result, bytes):
        result = repr(result).encode("utf-8")
    return hashlib.sha256(result).hexdigest()[:16]


def run(work, *args):
    start = time.perf_counter()
    result = work(*args)
    seconds = time.perf_counter() - start
    print("%s %s" % (CHECKSUM_LINE, checksum(result)))
    print("%s %.3f" % (SECONDS_LINE, seconds))
    sys.stdout.flush()
