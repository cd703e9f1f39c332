"""Rotations and refreshes racing each other.

Each test releases all its requests at once with a barrier, so that they
really overlap on the server.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from harness import RotatorTestCase

BARRIER_TIMEOUT = 10  # seconds for all threads to be ready


def race(count, request):
    """Runs request(i) for i in range(count) at the same moment."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT)

    def run(i):
        barrier.wait()
        return request(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


class ConcurrencyTest(RotatorTestCase):

    def global_min_version(self):
        return self.req("GET", "/token-rotation/security-config",
                        token=self.admin_token()).body[
                            "global_min_token_version"]

    def events_total(self):
        return self.req("GET", "/token-rotation/events?limit=1",
                        token=self.admin_token()).body["total"]

    def test_parallel_user_rotations_are_serialised(self):
        """20 simultaneous rotations of one user: none lost, none merged."""
        user = self.new_user()
        start = self.me(user.access).body["token_version"]
        admin = self.admin_token()

        results = race(20, lambda _: self.rotate_user(user.id, admin))

        self.assertEqual([r.status for r in results], [200] * 20,
                         [r.body for r in results if r.status != 200])
        old_versions = sorted(r.body["old_version"] for r in results)
        self.assertEqual(old_versions, list(range(start, start + 20)))
        for r in results:
            self.assertEqual(r.body["new_version"], r.body["old_version"] + 1)
        fresh = self.login_ok(user.email, user.password)["access_token"]
        self.assertEqual(self.me(fresh).body["token_version"], start + 20)

    def test_parallel_global_rotations_are_serialised(self):
        """Simultaneous global rotations each get their own version step.

        A rotation closes the previous one's grace window, so an admin
        token of the starting generation may be refused (401) by requests
        that are authenticated after the second rotation. Whatever got 200
        must form an unbroken chain of versions, with nothing lost.
        """
        start = self.global_min_version()
        events_before = self.events_total()
        tokens = [self.admin_token() for _ in range(10)]

        results = race(10, lambda i: self.rotate_global(tokens[i], 15))

        statuses = [r.status for r in results]
        self.assertTrue(set(statuses) <= {200, 401}, statuses)
        done = [r.body for r in results if r.status == 200]
        self.assertGreaterEqual(len(done), 1)
        self.assertEqual(sorted(b["old_version"] for b in done),
                         list(range(start, start + len(done))))
        for body in done:
            self.assertEqual(body["new_version"], body["old_version"] + 1)
        self.assertEqual(self.global_min_version(), start + len(done))
        self.assertEqual(self.events_total(), events_before + len(done))

    def test_parallel_refresh_of_one_token_has_one_winner(self):
        """A refresh token raced by a thief is honoured exactly once."""
        for round_ in range(5):
            user = self.new_user()
            results = race(2, lambda _: self.refresh(user.refresh))
            with self.subTest(round=round_):
                self.assertEqual(sorted(r.status for r in results),
                                 [200, 401])
