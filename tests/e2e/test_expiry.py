"""Token lifetimes: access TTL (900 s) and refresh TTL (set to 3600 s)."""

from datetime import timedelta

from harness import ACCESS_TTL, RotatorTestCase, jwt_claims, parse_timestamp

REFRESH_TTL = 3600


class ExpiryTest(RotatorTestCase):
    server_env = {"ROTATOR_REFRESH_TTL": str(REFRESH_TTL)}

    def test_access_token_expires_but_refresh_still_works(self):
        """After 15 minutes the app silently refreshes; no re-login."""
        user = self.new_user()
        self.advance(ACCESS_TTL - 10)
        self.assertAccessWorks(user.access, "shortly before expiry")
        self.advance(11)
        self.assertAccessRefused(user.access, "after expiry")

        renewed = self.refresh(user.refresh)
        self.assertStatus(renewed, 200)
        self.assertAccessWorks(renewed.body["access_token"])

    def test_refresh_token_expires_after_refresh_ttl(self):
        """A session left alone longer than the refresh TTL is over."""
        user = self.new_user()
        idle = self.login_ok(user.email, user.password)
        self.advance(REFRESH_TTL - 100)
        self.assertStatus(self.refresh(user.refresh), 200,
                          "before the refresh TTL")
        self.advance(101)
        self.assertUnauthorized(self.refresh(idle["refresh_token"]),
                                "after the refresh TTL")

    def test_session_expiry_follows_refresh_ttl(self):
        """The device list shows when each session will end."""
        user = self.new_user()
        sessions = self.req("GET", "/auth/sessions",
                            token=user.access).body["sessions"]
        self.assertEqual(len(sessions), 1)
        created = parse_timestamp(sessions[0]["created_at"])
        expires = parse_timestamp(sessions[0]["expires_at"])
        self.assertEqual(expires - created, timedelta(seconds=REFRESH_TTL))
        self.assertEqual(jwt_claims(user.access)["sid"], sessions[0]["id"])

    def test_expired_sessions_are_not_active(self):
        """Expired sessions drop out of the live-session count."""
        self.new_user()
        self.advance(REFRESH_TTL + 1)  # every earlier session has expired
        admin = self.admin_token()
        resp = self.req("GET", "/sessions/active", token=admin)
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body["total_active"], 1, "the admin's login")
