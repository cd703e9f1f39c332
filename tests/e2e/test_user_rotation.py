"""POST /token-rotation/users/{id}: ending every session of one user."""

import uuid

from harness import ROTATION_KEYS_USER, RotatorTestCase


class UserRotationTest(RotatorTestCase):

    def test_self_rotation_response(self):
        """"Log out all devices" reports what it did, version by version."""
        user = self.new_user()
        self.login_ok(user.email, user.password)
        version = self.me(user.access).body["token_version"]
        reason = "Lost my phone on the train"

        resp = self.rotate_user(user.id, user.access, reason)
        self.assertStatus(resp, 200)
        self.assertFields(resp.body, ROTATION_KEYS_USER)
        self.assertEqual(resp.body["rotation_type"], "USER")
        self.assertEqual(resp.body["user_id"], user.id)
        self.assertEqual(resp.body["old_version"], version)
        self.assertEqual(resp.body["new_version"], version + 1)
        self.assertEqual(resp.body["tokens_revoked"], 2)
        self.assertEqual(resp.body["reason"], reason)
        self.assertTimestamp(resp.body["rotated_at"])

    def test_self_rotation_refuses_old_tokens_on_next_request(self):
        """No old access or refresh token survives the rotation, anywhere."""
        user = self.new_user()
        laptop = self.login_ok(user.email, user.password)
        self.assertStatus(self.rotate_user(user.id, user.access), 200)

        for name, tokens in [("caller", user.tokens), ("laptop", laptop)]:
            self.assertAccessRefused(tokens["access_token"], name)
            self.assertUnauthorized(self.refresh(tokens["refresh_token"]),
                                    name)

    def test_new_login_after_rotation_works(self):
        """The user signs in again normally, with the new version."""
        user = self.new_user()
        new_version = self.rotate_user(user.id,
                                       user.access).body["new_version"]
        fresh = self.login_ok(user.email, user.password)
        me = self.me(fresh["access_token"])
        self.assertStatus(me, 200)
        self.assertEqual(me.body["token_version"], new_version)
        self.assertStatus(self.refresh(fresh["refresh_token"]), 200)

    def test_admin_rotates_another_user(self):
        """Support can sign out a user who lost access to their account."""
        user = self.new_user()
        admin = self.admin_token()
        resp = self.rotate_user(user.id, admin)
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body["user_id"], user.id)
        self.assertAccessRefused(user.access)
        self.assertUnauthorized(self.refresh(user.refresh))
        self.assertAccessWorks(admin, "the admin's own token")

    def test_non_admin_cannot_rotate_another_user(self):
        """A user cannot sign other users (or the admin) out: 403."""
        attacker, victim = self.new_user(), self.new_user()
        admin = self.admin_token()
        admin_id = self.me(admin).body["id"]
        for target in (victim.id, admin_id):
            with self.subTest(target=target):
                self.assertStatus(self.rotate_user(target, attacker.access),
                                  403)
        self.assertAccessWorks(victim.access, "victim")
        self.assertAccessWorks(admin, "admin")

    def test_unknown_user_is_404(self):
        """Rotating a user that does not exist is 404."""
        self.assertStatus(self.rotate_user(uuid.uuid4(), self.admin_token()),
                          404)

    def test_non_uuid_user_id_is_400(self):
        """User ids are UUIDs; anything else is malformed."""
        admin = self.admin_token()
        for bad in ["42", "not-a-uuid", "me"]:
            with self.subTest(user_id=bad):
                self.assertStatus(self.rotate_user(bad, admin), 400)

    def test_reason_must_be_10_to_500_characters(self):
        """A rotation must say why, briefly: 10..500 characters."""
        user = self.new_user()
        admin = self.admin_token()
        for reason, status in [("r" * 9, 422), ("r" * 10, 200),
                               ("r" * 500, 200), ("r" * 501, 422),
                               ("", 422)]:
            with self.subTest(length=len(reason)):
                self.assertStatus(self.rotate_user(user.id, admin, reason),
                                  status)

    def test_reason_length_counts_characters_not_bytes(self):
        """Reasons in any language get the same length limits."""
        user = self.new_user()
        admin = self.admin_token()
        for reason, status in [("\u00e9" * 9, 422),     # 18 bytes
                               ("\u00e9" * 300, 200)]:  # 600 bytes
            with self.subTest(chars=len(reason)):
                self.assertStatus(self.rotate_user(user.id, admin, reason),
                                  status)

    def test_reason_of_wrong_type_is_400(self):
        """A non-string reason is malformed input."""
        user = self.new_user()
        resp = self.req("POST", f"/token-rotation/users/{user.id}",
                        {"reason": 1234567890123}, token=user.access)
        self.assertStatus(resp, 400)

    def test_tokens_revoked_counts_active_sessions_only(self):
        """tokens_revoked tells how many live sessions were cut off."""
        user = self.new_user()
        self.login_ok(user.email, user.password)
        ended = self.login_ok(user.email, user.password)
        self.assertStatus(self.req("POST", "/auth/logout",
                                   token=ended["access_token"]), 200)
        resp = self.rotate_user(user.id, self.admin_token())
        self.assertEqual(resp.body["tokens_revoked"], 2)
        again = self.rotate_user(user.id, self.admin_token())
        self.assertEqual(again.body["tokens_revoked"], 0)

    def test_rotation_needs_token(self):
        """Anonymous callers cannot rotate anybody."""
        user = self.new_user()
        self.assertUnauthorized(self.rotate_user(user.id, None))
        self.assertAccessWorks(user.access)
