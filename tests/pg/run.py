#!/usr/bin/env python3
"""Runs rotator's PostgreSQL-only tests (tests/pg/test_*.py).

    python3 tests/pg/run.py

Each test class starts its own throwaway cluster with scripts/pg-cluster.sh
(run as root, the server runs as the `postgres` user). Prints one line per
test and ends with exactly one summary line `pg: N passed, N failed`; exits 1
when anything failed.
"""

import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent


class LineResult(unittest.TextTestResult):
    """Prints `name ... verdict` once per test."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self.stream.writeln(f"{test.id()} ... ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.stream.writeln(f"{test.id()} ... FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self.stream.writeln(f"{getattr(test, 'description', test.id())}"
                            f" ... ERROR")


def main():
    sys.path.insert(0, str(HERE))
    suite = unittest.defaultTestLoader.discover(
        str(HERE), pattern="test_*.py", top_level_dir=str(HERE))
    total = suite.countTestCases()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=0,
                                     resultclass=LineResult)
    result = runner.run(suite)
    # Tests that never ran because their class could not start count as
    # failed, and so does a failing tearDownClass.
    failed = max(total - result.passed - len(result.skipped),
                 len(result.failures) + len(result.errors))
    print(f"pg: {result.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
