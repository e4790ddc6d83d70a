#!/usr/bin/env python3
"""Run relay's integration tests (every test_*.py here).

  python3 tests/integration/run.py [--relay PATH] [-k PATTERN ...] [-v]

-k keeps tests whose id (module.Class.test_name) contains PATTERN, which may
use glob wildcards (* ?); repeatable (a test matching any pattern is kept).
Prints one line per test and finally `integration: N passed, N failed[, N skipped]`.
Exit code 0 only if nothing failed. RELAY_IT_KEEP=1 keeps the temp dirs.
"""
import argparse
import faulthandler
import fnmatch
import os
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE_TIMEOUT = 600  # seconds: dump stacks and exit rather than hang forever


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
    result = Result(sys.stdout, args.verbose)
    start = time.monotonic()
    suite.run(result)
    took = time.monotonic() - start

    for kind, items in (("FAIL", result.failures), ("ERROR", result.errors),
                        ("UNEXPECTED SUCCESS", [(t, "") for t in result.unexpectedSuccesses])):
        for test, tb in items:
            print("=" * 70)
            print("%s: %s" % (kind, test.id() if hasattr(test, "id") else test))
            print("-" * 70)
            print(tb)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print("(%.1fs)" % took)
    line = "integration: %d passed, %d failed" % (result.passed, failed)
    if result.skipped:
        line += ", %d skipped" % len(result.skipped)
    print(line, flush=True)
    return 1 if failed or result.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
