#!/usr/bin/env python3
"""Runs rotator's end-to-end suite.

    python3 tests/e2e/run.py [-k SUBSTRING]

Prints one line per test, then exactly one summary line
`e2e: N passed, N failed`; exits 1 when anything failed. Skipped tests are
counted in neither number and listed before the summary.
"""

import argparse
import faulthandler
import os
import sys
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHOLE_RUN_LIMIT = 600  # seconds; a hung run dumps its stacks and exits

_result = None  # the running LineResult, for the watchdog


class LineResult(unittest.TextTestResult):
    """Prints `name ... verdict (time)` once per test, subtests included."""

    def __init__(self, *args, **kwargs):
        global _result
        super().__init__(*args, **kwargs)
        self.verdicts = {}  # test id -> "ok" | "FAIL" | "ERROR" | "skipped"
        self.class_errors = []  # failing setUpClass / tearDownClass
        _result = self

    def startTest(self, test):
        super().startTest(test)
        self._started = time.monotonic()
        self._verdict = "ok"

    def stopTest(self, test):
        super().stopTest(test)
        took = time.monotonic() - self._started
        self.verdicts[test.id()] = self._verdict.split()[0].rstrip(":")
        self.stream.writeln(f"{test.id()} ... {self._verdict} ({took:.2f} s)")
        self.stream.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._verdict = "FAIL"

    def addError(self, test, err):
        super().addError(test, err)
        if isinstance(test, unittest.suite._ErrorHolder):
            self.class_errors.append(test.description)
            self.stream.writeln(f"{test.description} ... ERROR")
        else:
            self._verdict = "ERROR"

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None and self._verdict != "ERROR":
            failed = issubclass(err[0], test.failureException)
            self._verdict = "FAIL" if failed else "ERROR"

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._verdict = f"skipped: {reason}"

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._verdict = "FAIL (unexpected success)"


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def select(suite, substring):
    if not substring:
        return suite
    return unittest.TestSuite(t for t in iter_tests(suite)
                              if substring in t.id())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", metavar="SUBSTRING",
                        help="run only tests whose id contains SUBSTRING")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    start_watchdog(WHOLE_RUN_LIMIT)

    suite = select(unittest.defaultTestLoader.discover(
        str(HERE), pattern="test_*.py", top_level_dir=str(HERE)), args.k)
    total = suite.countTestCases()

    from harness import rotator_bin  # after sys.path is set
    if not rotator_bin().is_file():
        print(f"rotator binary not found at {rotator_bin()} "
              f"(build it, or set ROTATOR_BIN)")
        print(f"e2e: 0 passed, {total} failed")
        return 1

    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=0,
                                     resultclass=LineResult)
    started = time.monotonic()
    result = runner.run(suite)
    passed, failed = tally(result, total)

    if result.skipped:
        print(f"skipped: {len(result.skipped)}")
    print(f"run time: {time.monotonic() - started:.1f} s")
    print(f"e2e: {passed} passed, {failed} failed")
    return 1 if failed else 0


def start_watchdog(seconds):
    """Ends a hung run: stacks, summary line, our servers stopped, exit 1."""
    def fire():
        print(f"watchdog: the run exceeded {seconds} s; stacks follow",
              flush=True)
        faulthandler.dump_traceback(file=sys.stdout, all_threads=True)
        from harness import cleanup_all_servers
        cleanup_all_servers()
        passed = failed = 0
        if _result is not None:
            passed, failed = tally(_result, len(_result.verdicts))
        print(f"e2e: {passed} passed, {failed + 1} failed", flush=True)
        os._exit(1)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def tally(result, total):
    """(passed, failed) over `total` tests.

    Tests that never ran because their class's setUpClass failed count as
    failed, and so does a failing tearDownClass.
    """
    verdicts = list(result.verdicts.values())
    passed = verdicts.count("ok")
    unrun = total - len(verdicts)
    in_teardown = [d for d in result.class_errors
                   if not d.startswith(("setUpClass", "setUpModule"))]
    failed = (verdicts.count("FAIL") + verdicts.count("ERROR") + unrun
              + len(in_teardown))
    return passed, failed


if __name__ == "__main__":
    sys.exit(main())
