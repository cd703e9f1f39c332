"""The JWT signing key: generated once, private, kept across restarts."""

import stat

from harness import RotatorTestCase


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
