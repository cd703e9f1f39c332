"""rotator on PostgreSQL rides out a restart of the database.

While the database is down, every request that needs it gets 503 with a
clear detail, quickly, and the server stays up; once the database is back,
requests succeed again within about a second, without restarting rotator.

The class runs its own throwaway cluster (scripts/pg-cluster.sh), since it
stops and starts it; the server comes from the end-to-end harness.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import API, RotatorTestCase, http_request  # noqa: E402

PG_CLUSTER = REPO / "scripts" / "pg-cluster.sh"
PG_DATABASE = REPO / "scripts" / "pg-test-database.sh"

RECOVERY_LIMIT = 2.0  # seconds from the database's return to a 200
OUTAGE_ANSWER_LIMIT = 5.0  # seconds for a 503 during the outage
DB_DOWN_DETAIL = "database unavailable"


def cluster(command, directory):
    """Runs pg-cluster.sh COMMAND DIR, failing loudly with its output."""
    result = subprocess.run([str(PG_CLUSTER), command, directory],
                            capture_output=True, text=True, timeout=90)
    if result.returncode != 0:
        raise RuntimeError(f"pg-cluster.sh {command} failed: "
                           f"{result.stdout}{result.stderr}")


class DatabaseRestartTest(RotatorTestCase):
    @classmethod
    def setUpClass(cls):
        # A short path: the socket's must fit in 107 bytes.
        cls.pg_dir = tempfile.mkdtemp(prefix="rotator-pgrs-", dir="/tmp")
        try:
            cluster("start", cls.pg_dir)
            os.environ["ROTATOR_PG_CLUSTER"] = cls.pg_dir
            os.environ["ROTATOR_E2E_DATABASE_FACTORY"] = \
                f'"{PG_DATABASE}" "$1"'
            super().setUpClass()
        except Exception:
            cls._remove_cluster()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._remove_cluster()

    @classmethod
    def _remove_cluster(cls):
        try:
            cluster("stop", cls.pg_dir)
        finally:
            shutil.rmtree(cls.pg_dir, ignore_errors=True)

    def setUp(self):
        self.assertTrue(self.server.db_url.startswith("postgresql:"),
                        self.server.db_url)

    def tearDown(self):
        # The next test needs the database up, whatever happened here.
        cluster("start", self.pg_dir)

    # -- helpers -----------------------------------------------------------

    def assertServerAlive(self):
        self.assertIsNone(self.server.proc.poll(),
                          f"rotator exited:\n{self.server.log_tail()}")

    def timed(self, call):
        """(response, seconds) of one request."""
        started = time.monotonic()
        resp = call()
        return resp, time.monotonic() - started

    def assertDatabaseDown(self, resp, seconds, what):
        self.assertStatus(resp, 503, what)
        self.assertIn(DB_DOWN_DETAIL, resp.body["detail"], what)
        self.assertLess(seconds, OUTAGE_ANSWER_LIMIT, f"{what} took too long")

    def wait_until_healthy(self):
        """Seconds until /health answers 200; fails after RECOVERY_LIMIT."""
        started = time.monotonic()
        while True:
            resp = http_request(self.server.base_url, "GET", API + "/health")
            waited = time.monotonic() - started
            if resp.status == 200:
                return waited
            self.assertLess(waited, RECOVERY_LIMIT,
                            f"still {resp.status} {resp.body!r}; log:\n"
                            f"{self.server.log_tail()}")
            time.sleep(0.05)

    def count_log_lines(self, text):
        return self.server.log_tail(10000).count(text)

    # -- tests -------------------------------------------------------------

    def test_outage_answers_503_then_service_resumes(self):
        user = self.new_user()
        self.assertStatus(self.req("GET", "/health"), 200)
        outages_logged = self.count_log_lines("cannot connect to the database")

        cluster("stop", self.pg_dir)

        resp, took = self.timed(lambda: self.req("GET", "/health"))
        self.assertDatabaseDown(resp, took, "health")
        self.assertEqual(resp.body["status"], "unhealthy")
        resp, took = self.timed(lambda: self.login(user.email, user.password))
        self.assertDatabaseDown(resp, took, "login")
        resp, took = self.timed(lambda: self.refresh(user.refresh))
        self.assertDatabaseDown(resp, took, "refresh")
        resp, took = self.timed(
            lambda: self.register("late@example.com", "a-long-password"))
        self.assertDatabaseDown(resp, took, "register")
        # Many requests in a row: still 503s, and one log line for the
        # outage, not one per request.
        for _ in range(20):
            self.assertStatus(self.req("GET", "/health"), 503)
        self.assertServerAlive()
        self.assertEqual(
            self.count_log_lines("cannot connect to the database"),
            outages_logged + 1, self.server.log_tail())

        cluster("start", self.pg_dir)
        self.wait_until_healthy()

        # Everything works again, with the state from before the outage.
        self.assertAccessWorks(user.access, "access token from before")
        resp = self.refresh(user.refresh)
        self.assertStatus(resp, 200, "refresh token from before")
        self.login_ok(user.email, user.password)
        self.assertStatus(self.rotate_user(user.id, resp.body["access_token"]),
                          200)
        self.assertServerAlive()
        self.assertIn("connected to the database again",
                      self.server.log_tail(10000))

    def test_restart_between_requests_costs_no_request(self):
        """Pooled connections the restart killed are noticed and replaced
        before use, so not even the first request afterwards fails."""
        user = self.new_user()
        for _ in range(4):  # open connections on both server threads
            self.assertStatus(self.req("GET", "/health"), 200)

        cluster("stop", self.pg_dir)
        cluster("start", self.pg_dir)

        for i in range(10):
            self.assertStatus(self.req("GET", "/health"), 200,
                              f"request {i} after the restart")
        self.login_ok(user.email, user.password)
        self.assertServerAlive()

    def test_requests_during_outage_do_not_pile_up(self):
        """Parallel requests during an outage all get a prompt 503."""
        from concurrent.futures import ThreadPoolExecutor

        cluster("stop", self.pg_dir)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(
                lambda _: self.req("GET", "/health").status, range(64)))
        took = time.monotonic() - started
        self.assertEqual(set(statuses), {503})
        self.assertLess(took, OUTAGE_ANSWER_LIMIT)
        self.assertServerAlive()

        cluster("start", self.pg_dir)
        self.wait_until_healthy()
