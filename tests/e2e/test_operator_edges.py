"""Edges an operator meets on the worst day: ids pasted in upper case, ids with junk, broken
JSON, blank reasons, and what a gateway is told during a grace window."""

import subprocess

from harness import RotatorTestCase, free_port, parse_timestamp, rotator_bin


class OperatorEdgesTest(RotatorTestCase):

    def test_user_id_in_upper_case_is_the_same_user(self):
        """An id pasted in upper case rotates that user, not 404."""
        user = self.new_user()
        resp = self.rotate_user(user.id.upper(), self.admin_token())
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body["user_id"], user.id)
        self.assertUnauthorized(self.me(user.access))

    def test_session_id_in_upper_case(self):
        """DELETE /auth/sessions/{ID} takes the id in either case."""
        user = self.new_user()
        sessions = self.req("GET", "/auth/sessions", token=user.access).body["sessions"]
        resp = self.req("DELETE", f"/auth/sessions/{sessions[0]['id'].upper()}",
                        token=user.access)
        self.assertStatus(resp, 200)
        self.assertUnauthorized(self.me(user.access))

    def test_encoded_nul_does_not_cut_an_id(self):
        """A %00 after a valid id is not read as that id."""
        user = self.new_user()
        resp = self.req("POST", f"/token-rotation/users/{user.id}%00junk",
                        {"reason": "nul byte in the path"}, token=self.admin_token())
        self.assertIn(resp.status, (400, 404))
        self.assertStatus(self.me(user.access), 200)

    def test_invalid_json_says_where(self):
        """A parse error names its place, so a script author can fix the body."""
        resp = self.req("POST", "/auth/login", raw_body=b'{"email": "a@b", "password": }')
        self.assertStatus(resp, 400)
        self.assertIn("invalid JSON at line 1", resp.body["detail"])

    def test_blank_reason_is_refused(self):
        """The audit trail needs a reason, not ten spaces."""
        user = self.new_user()
        resp = self.rotate_user(user.id, user.access, reason=" " * 12)
        self.assertStatus(resp, 422)

    def test_verify_tells_gateways_when_the_grace_window_ends(self):
        """During a grace window, /auth/verify and a refresh report the window's end as the
        token's end, so that a gateway caching the answer does not outlive the window."""
        user = self.new_user()
        resp = self.rotate_global(self.admin_token(), grace=5)
        self.assertStatus(resp, 200)
        window_end = parse_timestamp(resp.body["grace_period_ends_at"])

        verify = self.req("GET", "/auth/verify", token=user.access)
        self.assertStatus(verify, 200)
        self.assertEqual(parse_timestamp(verify.body["expires_at"]), window_end)

        refreshed = self.refresh(user.refresh)
        self.assertStatus(refreshed, 200)
        self.assertLessEqual(refreshed.body["expires_in"], 5 * 60)

    def test_test_clock_refuses_absurd_jumps(self):
        """The test clock cannot be pushed past timestamps that still make sense."""
        resp = self.req("POST", "/_test/clock", {"advance_seconds": 2**62})
        self.assertStatus(resp, 422)


class SingleServerTest(RotatorTestCase):

    def test_second_server_on_the_same_database_is_refused(self):
        """Each process keeps revocations in memory, so a second one on the same database
        (even on another port) must not start."""
        env = dict(self.server.env(), ROTATOR_LISTEN=f"127.0.0.1:{free_port()}")
        out = subprocess.run([str(rotator_bin()), "serve"], env=env, capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("already serving this database", out.stderr)

    def test_second_server_on_the_same_address_is_refused(self):
        """Two processes never share one port."""
        env = dict(self.server.env(), ROTATOR_DATABASE=f"sqlite:{self.server.tmpdir}/other.db")
        env.pop("ROTATOR_JWT_KEY_FILE", None)
        out = subprocess.run([str(rotator_bin()), "serve"], env=env, capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Address already in use", out.stderr)

    def test_second_server_through_a_symlink_is_refused(self):
        """Another name for the same SQLite file is the same database."""
        if not self.server.db_url.startswith("sqlite:"):
            self.skipTest("symbolic links name SQLite files only")
        link = self.server.tmpdir / "another-name.db"
        link.symlink_to(self.server.db_url[len("sqlite:"):])
        env = dict(self.server.env(), ROTATOR_LISTEN=f"127.0.0.1:{free_port()}",
                   ROTATOR_DATABASE=f"sqlite:{link}")
        out = subprocess.run([str(rotator_bin()), "serve"], env=env, capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("already serving this database", out.stderr)
