"""Exact tokens_revoked / users_affected and /sessions/active counts."""

from harness import RotatorTestCase

REFRESH_TTL = 3600


class RotationCountsTest(RotatorTestCase):
    server_env = {"ROTATOR_REFRESH_TTL": str(REFRESH_TTL)}

    def active_sessions(self, admin):
        resp = self.req("GET", "/sessions/active", token=admin)
        self.assertStatus(resp, 200)
        return resp.body["total_active"]

    def sign_in(self, sessions):
        """A new user with this many sessions."""
        user = self.new_user()
        for _ in range(sessions - 1):
            self.login_ok(user.email, user.password)
        return user

    def test_global_rotation_counts_only_live_sessions(self):
        """The incident report counts the sessions really cut off.

        Users with 1, 2 and 3 sessions plus the admin's own session make
        7 sessions of 4 users. An expired session, a logged-out session and
        sessions ended by a user rotation must not be counted.
        """
        expired = self.sign_in(1)
        self.advance(REFRESH_TTL + 1)

        logged_out = self.sign_in(1)
        self.assertStatus(self.req("POST", "/auth/logout",
                                   token=logged_out.access), 200)
        admin = self.admin_token()
        rotated = self.sign_in(2)
        resp = self.rotate_user(rotated.id, admin)
        self.assertEqual(resp.body["tokens_revoked"], 2)

        for sessions in (1, 2, 3):
            self.sign_in(sessions)
        self.assertEqual(self.active_sessions(admin), 7)

        resp = self.rotate_global(admin, 0)
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body["tokens_revoked"], 7)
        self.assertEqual(resp.body["users_affected"], 4)

        self.assertEqual(self.active_sessions(self.admin_token()), 1,
                         "only the admin's new login is left")
        self.assertUnauthorized(self.refresh(expired.refresh))
