"""Listing and revoking one's own sessions: /auth/sessions."""

import uuid

from harness import RotatorTestCase, jwt_claims

SESSION_KEYS = {"id", "created_at", "last_used_at", "expires_at",
                "user_agent", "ip", "current"}


def sid(access_token):
    return jwt_claims(access_token)["sid"]


class SessionsTest(RotatorTestCase):

    def list_sessions(self, access_token):
        resp = self.req("GET", "/auth/sessions", token=access_token)
        self.assertStatus(resp, 200)
        self.assertFields(resp.body, {"sessions"})
        return resp.body["sessions"]

    def delete_session(self, session_id, access_token):
        return self.req("DELETE", f"/auth/sessions/{session_id}",
                        token=access_token)

    def test_list_shows_the_callers_active_sessions(self):
        """A user sees each signed-in device, and which one is this one."""
        user = self.new_user()
        phone = self.login_ok(user.email, user.password,
                              headers={"User-Agent": "e2e-phone/1.0"})
        self.new_user()  # someone else's session must not show up

        sessions = self.list_sessions(phone["access_token"])
        self.assertEqual({s["id"] for s in sessions},
                         {sid(user.access), sid(phone["access_token"])})
        for session in sessions:
            self.assertFields(session, SESSION_KEYS)
            for name in ("created_at", "last_used_at", "expires_at"):
                self.assertTimestamp(session[name], name)
            self.assertIs(session["current"],
                          session["id"] == sid(phone["access_token"]))
        current = next(s for s in sessions if s["current"])
        self.assertEqual(current["user_agent"], "e2e-phone/1.0")
        self.assertEqual(current["ip"], "127.0.0.1")

    def test_logged_out_session_is_not_listed(self):
        """Ended sessions disappear from the device list."""
        user = self.new_user()
        other = self.login_ok(user.email, user.password)
        self.assertStatus(self.req("POST", "/auth/logout",
                                   token=user.access), 200)
        sessions = self.list_sessions(other["access_token"])
        self.assertEqual([s["id"] for s in sessions],
                         [sid(other["access_token"])])

    def test_delete_revokes_only_that_session(self):
        """Signing out a lost device keeps this device signed in."""
        user = self.new_user()
        here = self.login_ok(user.email, user.password)
        lost = sid(user.access)

        resp = self.delete_session(lost, here["access_token"])
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body, {"session_id": lost, "revoked": True})

        self.assertAccessRefused(user.access, "deleted session, access")
        self.assertUnauthorized(self.refresh(user.refresh),
                                "deleted session, refresh")
        self.assertAccessWorks(here["access_token"], "calling session")
        self.assertStatus(self.refresh(here["refresh_token"]), 200)

    def test_other_users_session_is_404(self):
        """Nobody can end (or probe for) another user's session."""
        me, victim = self.new_user(), self.new_user()
        resp = self.delete_session(sid(victim.access), me.access)
        self.assertStatus(resp, 404)
        self.assertAccessWorks(victim.access, "victim's session")

    def test_unknown_session_is_404(self):
        """Deleting a session that never existed is 404."""
        user = self.new_user()
        self.assertStatus(self.delete_session(uuid.uuid4(), user.access),
                          404)

    def test_non_uuid_session_id_is_400(self):
        """Session ids are UUIDs; anything else is malformed."""
        user = self.new_user()
        for bad in ["not-a-uuid", "123", "7c9e6679-7425-40de-944b"]:
            with self.subTest(session_id=bad):
                self.assertStatus(self.delete_session(bad, user.access), 400)

    def test_sessions_need_token(self):
        """Session routes refuse anonymous callers."""
        self.assertUnauthorized(self.req("GET", "/auth/sessions"))
        self.assertUnauthorized(self.delete_session(uuid.uuid4(), None))
