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
    """Prints `name ... ok|FAIL|ERROR|skipped` with the time each test took."""

    def __init__(self, *args, **kwargs):
        global _result
        super().__init__(*args, **kwargs)
        _result = self

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _line(self, test, verdict):
        took = time.monotonic() - getattr(self, "_started", time.monotonic())
        self.stream.writeln(f"{test.id()} ... {verdict} ({took:.2f} s)")
        self.stream.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._line(test, "ok")

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self._line(test, "FAIL")

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self._line(test, "ERROR")

    def addSkip(self, test, reason):
        unittest.TestResult.addSkip(self, test, reason)
        self._line(test, f"skipped: {reason}")

    def addExpectedFailure(self, test, err):
        unittest.TestResult.addExpectedFailure(self, test, err)
        self._line(test, "expected failure")

    def addUnexpectedSuccess(self, test):
        unittest.TestResult.addUnexpectedSuccess(self, test)
        self._line(test, "unexpected success")


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
        from harness import stop_all_servers
        stop_all_servers()
        passed = failed = 0
        if _result is not None:
            passed, failed = tally(_result, _result.testsRun)
        print(f"e2e: {passed} passed, {failed + 1} failed", flush=True)
        os._exit(1)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def tally(result, total):
    """(passed, failed), where a failed setUpClass fails each of its tests.

    unittest reports a failing setUpClass/tearDownClass as one error of a
    placeholder that is not a test, and does not run that class's tests.
    """
    placeholders = [t for t, _ in result.errors
                    if isinstance(t, unittest.suite._ErrorHolder)]
    in_setup = [t for t in placeholders
                if t.description.startswith(("setUpClass", "setUpModule"))]
    test_errors = len(result.errors) - len(placeholders)
    unrun = total - result.testsRun
    passed = (result.testsRun - len(result.failures) - test_errors
              - len(result.skipped) - len(result.unexpectedSuccesses))
    failed = (len(result.failures) + test_errors
              + len(result.unexpectedSuccesses)
              + len(placeholders) - len(in_setup) + unrun)
    return passed, failed


if __name__ == "__main__":
    sys.exit(main())
