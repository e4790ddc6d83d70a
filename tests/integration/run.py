#!/usr/bin/env python3
"""Run relay's integration tests (every test_*.py here).

  python3 tests/integration/run.py [--relay PATH] [-k PATTERN ...] [-j N] [-v]

-k keeps tests whose id (module.Class.test_name) contains PATTERN, which may
use glob wildcards (* ?); repeatable (a test matching any pattern is kept).
-j N runs N test modules at once (default $RELAY_IT_JOBS or 1): the suite
mostly waits on timers and sockets, so a few workers share two cores well.
Each worker picks its ports from its own range, below the kernel's
ephemeral ports, so no two workers ever pick the same one. A module's lines
are printed together when it ends.
Prints one line per test and finally `integration: N passed, N failed[, N skipped]`.
Exit code 0 only if nothing failed. RELAY_IT_KEEP=1 keeps the temp dirs.
"""
import argparse
import faulthandler
import fnmatch
import io
import multiprocessing
import os
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE_TIMEOUT = 600  # seconds: dump stacks and exit rather than hang forever
# Modules that take longest start first, so no worker is left with a long
# one at the end (the rest follow in name order).
SLOW_FIRST = ["test_faults", "test_coalescing_redis", "test_rfc9111_stale", "test_lifetimes",
              "test_rfc9111_freshness", "test_rfc9111_rules", "test_limits", "test_contrib"]


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def matches(test_id, patterns):
    return any(fnmatch.fnmatchcase(test_id, "*%s*" % p) for p in patterns)


class Result(unittest.TestResult):
    def __init__(self, stream, verbose):
        super().__init__()
        self.stream, self.verbose = stream, verbose
        self.passed, self.started = 0, {}

    def _line(self, test, word, extra=""):
        took = time.monotonic() - self.started.pop(test.id(), time.monotonic())
        self.stream.write("%-5s %s (%.2fs)%s\n" % (word, test.id(), took, extra))
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self.started[test.id()] = time.monotonic()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "PASS")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, "ERROR")  # also setUpClass/tearDownClass errors

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, "SKIP", ": " + reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line(test, "XFAIL")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(test, "UPASS")


def main():
    ap = argparse.ArgumentParser(description="relay integration tests")
    ap.add_argument("--relay", help="relay binary (default: $RELAY_BIN or build/relay)")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("RELAY_IT_JOBS", "1")), metavar="N")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.relay:
        os.environ["RELAY_BIN"] = os.path.abspath(args.relay)
    faulthandler.dump_traceback_later(SUITE_TIMEOUT, exit=True)

    sys.path.insert(0, str(HERE))
    loader = unittest.TestLoader()
    suite = loader.discover(str(HERE), pattern="test_*.py", top_level_dir=str(HERE))
    if args.k:
        suite = unittest.TestSuite(t for t in iter_tests(suite) if matches(t.id(), args.k))

    import harness  # noqa: E402
    binary = harness.relay_bin()
    missing = "" if os.access(binary, os.X_OK) else "  (MISSING: tests that start relay will error)"
    print("relay binary: %s%s" % (binary, missing), flush=True)
    tests = list(iter_tests(suite))
    start = time.monotonic()
    if args.jobs > 1:
        summary = run_parallel(tests, args.jobs, args.verbose)
    else:
        result = Result(sys.stdout, args.verbose)
        unittest.TestSuite(tests).run(result)
        summary = Summary.of(result)
    took = time.monotonic() - start

    for kind, test_id, tb in summary.problems:
        print("=" * 70)
        print("%s: %s" % (kind, test_id))
        print("-" * 70)
        print(tb)
    print("(%.1fs)" % took)
    line = "integration: %d passed, %d failed" % (summary.passed, len(summary.problems))
    if summary.skipped:
        line += ", %d skipped" % summary.skipped
    print(line, flush=True)
    # Nothing run at all is a failure (a wrong -k, a broken loader), unless the
    # tests said why they skipped.
    return 1 if summary.problems or (summary.passed == 0 and not summary.skipped) else 0


class Summary:
    """What a run (or one module's run) adds to the final report: picklable."""

    def __init__(self, passed=0, skipped=0, problems=None):
        self.passed, self.skipped, self.problems = passed, skipped, problems or []

    @classmethod
    def of(cls, result):
        problems = []
        for kind, items in (("FAIL", result.failures), ("ERROR", result.errors),
                            ("UNEXPECTED SUCCESS", [(t, "") for t in result.unexpectedSuccesses])):
            problems += [(kind, test.id() if hasattr(test, "id") else str(test), tb) for test, tb in items]
        return cls(result.passed, len(result.skipped), problems)

    def add(self, other):
        self.passed += other.passed
        self.skipped += other.skipped
        self.problems += other.problems


def module_of(test):
    return test.id().split(".", 1)[0]


def run_parallel(tests, jobs, verbose):
    """Runs each module's tests in one of `jobs` worker processes, longest
    modules first, printing a module's lines once it has ended."""
    by_module = {}
    for t in tests:
        by_module.setdefault(module_of(t), []).append(t)
    order = sorted(by_module, key=lambda m: (SLOW_FIRST.index(m) if m in SLOW_FIRST else len(SLOW_FIRST), m))
    next_worker = multiprocessing.get_context("fork").Value("i", 0)
    total = Summary()
    # Workers are forked with every test already loaded: each task names its
    # module and the worker finds its tests again by id.
    global _TESTS_BY_MODULE
    _TESTS_BY_MODULE = by_module
    # The watchdog's thread holds its lock while it waits: a child forked
    # then could never arm its own. Stopped for the fork, armed again after.
    faulthandler.cancel_dump_traceback_later()
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_start_worker,
                                                  initargs=(next_worker, jobs, verbose)) as pool:
        faulthandler.dump_traceback_later(SUITE_TIMEOUT, exit=True)
        for output, summary in pool.imap_unordered(_run_module, order):
            sys.stdout.write(output)
            sys.stdout.flush()
            total.add(summary)
    return total


_TESTS_BY_MODULE = {}
_VERBOSE = False


def _start_worker(next_worker, jobs, verbose):
    global _VERBOSE
    with next_worker.get_lock():
        index = next_worker.value
        next_worker.value += 1
    os.environ["RELAY_IT_WORKER"] = "%d/%d" % (index, jobs)  # harness.free_port reads it
    _VERBOSE = verbose
    faulthandler.dump_traceback_later(SUITE_TIMEOUT, exit=True)


def _run_module(module):
    out = io.StringIO()
    result = Result(out, _VERBOSE)
    unittest.TestSuite(_TESTS_BY_MODULE[module]).run(result)
    return out.getvalue(), Summary.of(result)


if __name__ == "__main__":
    sys.exit(main())
