"""Restarts: the signing key and all revocations survive a new process."""

import stat
from datetime import timedelta

from harness import RotatorTestCase, parse_timestamp


class KeyFileTest(RotatorTestCase):

    def test_key_file_is_generated_with_mode_0600(self):
        """The signing key is written once, readable by its owner only."""
        if not self.server.db_url.startswith("sqlite:"):
            self.skipTest("the default key path needs a SQLite database")
        key = self.server.key_file
        self.assertTrue(key.is_file(), f"{key} missing")
        self.assertEqual(stat.S_IMODE(key.stat().st_mode), 0o600)
        self.assertGreater(key.stat().st_size, 0)

    def test_restart_keeps_tokens_valid(self):
        """Deploying a new server process does not sign everybody out."""
        user = self.new_user()
        key_before = self.server.key_file.read_bytes()

        self.server.restart()

        self.assertEqual(self.server.key_file.read_bytes(), key_before,
                         "the key was regenerated")
        self.assertAccessWorks(user.access, "access token after restart")
        self.assertStatus(self.refresh(user.refresh), 200,
                          "refresh token after restart")


class RestartRevocationTest(RotatorTestCase):

    def test_revocations_survive_restart(self):
        """A restart must not bring revoked tokens back to life."""
        logged_out, rotated, in_window = (self.new_user() for _ in range(3))
        self.assertStatus(self.req("POST", "/auth/logout",
                                   token=logged_out.access), 200)
        self.assertStatus(self.rotate_user(rotated.id, rotated.access), 200)
        rotation = self.rotate_global(self.admin_token(), 5).body
        window_end = parse_timestamp(rotation["rotated_at"]) + timedelta(
            minutes=5)

        self.server.restart()

        self.assertAccessRefused(logged_out.access, "logged out")
        self.assertUnauthorized(self.refresh(logged_out.refresh),
                                "logged out")
        self.assertAccessRefused(rotated.access, "user rotation")
        self.assertUnauthorized(self.refresh(rotated.refresh),
                                "user rotation")
        self.assertAccessWorks(in_window.access, "grace window still open")
        config = self.req("GET", "/token-rotation/security-config",
                          token=in_window.access).body
        self.assertEqual(config["global_min_token_version"],
                         rotation["new_version"])
        self.assertEqual(parse_timestamp(config["grace_period_ends_at"]),
                         window_end)

        self.advance_to(window_end + timedelta(seconds=1))
        self.assertAccessRefused(in_window.access, "grace window closed")
