"""PATCH /auth/me/password: a password change is a user rotation."""

from harness import ROTATION_KEYS_USER, RotatorTestCase

NEW_PASSWORD = "a-brand-new-password"


class PasswordChangeTest(RotatorTestCase):

    def change(self, token, current, new):
        return self.req("PATCH", "/auth/me/password",
                        {"current_password": current, "new_password": new},
                        token=token)

    def test_change_kills_every_existing_token(self):
        """After a password change, stolen tokens stop working at once."""
        user = self.new_user()
        laptop = self.login_ok(user.email, user.password)
        version = self.me(user.access).body["token_version"]

        resp = self.change(user.access, user.password, NEW_PASSWORD)
        self.assertStatus(resp, 200)
        self.assertFields(resp.body, {"detail", "rotation"})
        self.assertIsInstance(resp.body["detail"], str)
        rotation = resp.body["rotation"]
        self.assertFields(rotation, ROTATION_KEYS_USER)
        self.assertEqual(rotation["rotation_type"], "USER")
        self.assertEqual(rotation["user_id"], user.id)
        self.assertEqual(rotation["old_version"], version)
        self.assertEqual(rotation["new_version"], version + 1)
        self.assertEqual(rotation["tokens_revoked"], 2)
        self.assertTimestamp(rotation["rotated_at"])

        for name, tokens in [("first", user.tokens), ("laptop", laptop)]:
            self.assertAccessRefused(tokens["access_token"], name)
            self.assertUnauthorized(self.refresh(tokens["refresh_token"]),
                                    name)

    def test_only_new_password_logs_in(self):
        """The old password stops working, the new one works."""
        user = self.new_user()
        self.assertStatus(self.change(user.access, user.password,
                                      NEW_PASSWORD), 200)
        self.assertStatus(self.login(user.email, user.password), 401)
        fresh = self.login_ok(user.email, NEW_PASSWORD)
        self.assertAccessWorks(fresh["access_token"])

    def test_change_is_audited_with_reason(self):
        """Security staff can see password-change rotations in the log."""
        user = self.new_user()
        rotation = self.change(user.access, user.password,
                               NEW_PASSWORD).body["rotation"]
        events = self.req("GET", "/token-rotation/events?limit=5",
                          token=self.admin_token()).body["events"]
        mine = [e for e in events if e["user_id"] == user.id]
        self.assertEqual(len(mine), 1, events)
        self.assertEqual(mine[0]["rotation_type"], "USER")
        self.assertEqual(mine[0]["new_version"], rotation["new_version"])
        self.assertIsInstance(mine[0]["reason"], str)
        self.assertTrue(mine[0]["reason"].strip())
        self.assertEqual(mine[0]["reason"], rotation["reason"])

    def test_wrong_current_password_is_403(self):
        """A stolen access token alone cannot change the password."""
        user = self.new_user()
        resp = self.change(user.access, "not-the-password", NEW_PASSWORD)
        self.assertStatus(resp, 403)
        self.assertAccessWorks(user.access)
        self.login_ok(user.email, user.password)

    def test_new_password_length_is_422(self):
        """The new password obeys the same 8..128 byte limits."""
        user = self.new_user()
        for new in ["short77", "p" * 129]:
            with self.subTest(length=len(new)):
                self.assertStatus(self.change(user.access, user.password,
                                              new), 422)
        self.assertAccessWorks(user.access)
        self.login_ok(user.email, user.password)

    def test_change_needs_token(self):
        """Anonymous callers cannot change passwords."""
        self.assertUnauthorized(self.change(None, "whatever1", NEW_PASSWORD))
