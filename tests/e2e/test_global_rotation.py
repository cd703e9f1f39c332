"""POST /token-rotation/global: validation and the grace window.

Every test logs in afresh, because each global rotation (eventually) ends
every session that existed before it, those of earlier tests included.
"""

from datetime import timedelta

from harness import (ADMIN_EMAIL, ROTATION_KEYS_GLOBAL, RotatorTestCase,
                     jwt_claims, parse_timestamp)

REASON = "Signing key leaked in a public paste, INC-4711"


def window_end(rotation):
    """When a rotation's grace window closes."""
    return parse_timestamp(rotation["rotated_at"]) + timedelta(
        minutes=rotation["grace_period_minutes"])


class GlobalRotationRulesTest(RotatorTestCase):

    def global_min_version(self):
        resp = self.req("GET", "/token-rotation/security-config",
                        token=self.admin_token())
        return resp.body["global_min_token_version"]

    def test_response_fields(self):
        """The incident responder gets the documented report back."""
        before = self.global_min_version()
        resp = self.rotate_global(self.admin_token(), 0, REASON)
        self.assertStatus(resp, 200)
        body = resp.body
        self.assertFields(body, ROTATION_KEYS_GLOBAL)
        self.assertEqual(body["rotation_type"], "GLOBAL")
        self.assertEqual(body["old_version"], before)
        self.assertEqual(body["new_version"], before + 1)
        self.assertEqual(body["reason"], REASON)
        self.assertEqual(body["initiated_by"], f"USER:{ADMIN_EMAIL}")
        self.assertEqual(body["grace_period_minutes"], 0)
        self.assertTimestamp(body["rotated_at"])
        for name in ("tokens_revoked", "users_affected", "old_version",
                     "new_version", "grace_period_minutes"):
            self.assertInt(body[name], name)
        # At least the admin's own session is cut off.
        self.assertGreaterEqual(body["tokens_revoked"], 1)
        self.assertGreaterEqual(body["users_affected"], 1)
        self.assertEqual(self.global_min_version(), before + 1)

    def test_non_admin_is_403(self):
        """Ordinary users cannot log everybody out."""
        user = self.new_user()
        before = self.global_min_version()
        self.assertStatus(self.rotate_global(user.access, 0), 403)
        self.assertEqual(self.global_min_version(), before)
        self.assertAccessWorks(user.access)

    def test_needs_token(self):
        """Anonymous callers cannot rotate."""
        self.assertUnauthorized(self.rotate_global(None, 0))

    def test_reason_must_be_20_to_1000_characters(self):
        """A global rotation must be justified: 20..1000 characters."""
        for reason, status in [("r" * 19, 422), ("r" * 20, 200),
                               ("r" * 1000, 200), ("r" * 1001, 422)]:
            with self.subTest(length=len(reason)):
                resp = self.rotate_global(self.admin_token(), 0, reason)
                self.assertStatus(resp, status)

    def test_grace_must_be_integer_0_to_60(self):
        """Grace is whole minutes from 0 to 60: out of range is 422, not a JSON integer 400."""
        for grace, status in [(-1, 422), (61, 422), (1.5, 400), ("15", 400),
                              (True, 400), (60, 200), (0, 200)]:
            with self.subTest(grace=grace):
                resp = self.rotate_global(self.admin_token(), grace)
                self.assertStatus(resp, status)
                if status == 200:
                    self.assertEqual(resp.body["grace_period_minutes"],
                                     grace)

    def test_grace_defaults_to_15_minutes(self):
        """Without grace_period_minutes users get the standard 15 minutes."""
        admin = self.admin_token()
        resp = self.rotate_global(admin, grace=None)
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body["grace_period_minutes"], 15)
        config = self.req("GET", "/token-rotation/security-config",
                          token=admin).body
        self.assertEqual(parse_timestamp(config["grace_period_ends_at"]),
                         window_end(resp.body))


class GlobalGraceWindowTest(RotatorTestCase):

    def test_grace_zero_refuses_old_tokens_at_once(self):
        """An extreme breach: grace 0 signs everybody out immediately."""
        user = self.new_user()
        admin = self.admin_token()
        self.assertStatus(self.rotate_global(admin, 0), 200)
        self.assertAccessRefused(user.access)
        self.assertUnauthorized(self.refresh(user.refresh))
        self.assertAccessRefused(admin, "the admin's own old token")

    def test_access_tokens_live_until_window_end(self):
        """Users keep working for the grace period, and not a second more."""
        user = self.new_user()
        rotation = self.rotate_global(self.admin_token(), 2).body
        end = window_end(rotation)

        self.assertAccessWorks(user.access, "right after the rotation")
        self.advance_to(end - timedelta(seconds=1))
        self.assertAccessWorks(user.access, "1 s before the window ends")
        self.advance_to(end + timedelta(seconds=1))
        self.assertAccessRefused(user.access, "1 s after the window ended")

    def test_refresh_tokens_live_until_window_end(self):
        """Refresh tokens obey the same window as access tokens."""
        user = self.new_user()
        tablet = self.login_ok(user.email, user.password)
        rotation = self.rotate_global(self.admin_token(), 2).body
        end = window_end(rotation)

        self.advance_to(end - timedelta(seconds=1))
        self.assertStatus(self.refresh(user.refresh), 200,
                          "1 s before the window ends")
        self.advance_to(end + timedelta(seconds=1))
        self.assertUnauthorized(self.refresh(tablet["refresh_token"]),
                                "1 s after the window ended")

    def test_refresh_during_grace_stays_in_old_generation(self):
        """Refreshing in the window cannot escape the rotation."""
        user = self.new_user()
        old_gver = jwt_claims(user.access)["gver"]
        rotation = self.rotate_global(self.admin_token(), 2).body
        end = window_end(rotation)

        self.advance(30)
        renewed = self.refresh(user.refresh)
        self.assertStatus(renewed, 200)
        renewed = renewed.body
        self.assertEqual(jwt_claims(renewed["access_token"])["gver"],
                         old_gver)
        self.assertAccessWorks(renewed["access_token"], "within the window")

        self.advance_to(end + timedelta(seconds=1))
        self.assertAccessRefused(renewed["access_token"], "after the window")
        self.assertUnauthorized(self.refresh(renewed["refresh_token"]),
                                "after the window")

    def test_logins_after_rotation_are_unaffected(self):
        """People who sign in after the rotation are not thrown out."""
        user = self.new_user()
        rotation = self.rotate_global(self.admin_token(), 1).body
        fresh = self.login_ok(user.email, user.password)
        self.assertEqual(jwt_claims(fresh["access_token"])["gver"],
                         rotation["new_version"])

        self.advance_to(window_end(rotation) + timedelta(seconds=1))
        self.assertAccessWorks(fresh["access_token"])
        self.assertAccessRefused(user.access, "the pre-rotation session")
        self.assertStatus(self.refresh(fresh["refresh_token"]), 200)

    def test_second_rotation_closes_the_open_window(self):
        """A second breach cuts the oldest generation off without waiting."""
        early = self.new_user()
        first = self.rotate_global(self.admin_token(), 15).body
        self.assertAccessWorks(early.access, "generation G in window 1")

        # Window 2 is shorter than the access TTL, so that only the
        # rotation can end late's token.
        late = self.new_user()  # generation G+1
        second = self.rotate_global(self.admin_token(), 5)
        self.assertStatus(second, 200)
        second = second.body
        self.assertEqual(second["old_version"], first["new_version"])

        self.assertAccessRefused(early.access, "G after the 2nd rotation")
        self.assertUnauthorized(self.refresh(early.refresh),
                                "G refresh after the 2nd rotation")
        self.assertAccessWorks(late.access, "G+1 in window 2")

        config = self.req("GET", "/token-rotation/security-config",
                          token=late.access).body
        self.assertEqual(parse_timestamp(config["grace_period_ends_at"]),
                         window_end(second))

        self.advance_to(window_end(second) - timedelta(seconds=1))
        self.assertAccessWorks(late.access, "G+1, 1 s before window 2 ends")
        self.advance_to(window_end(second) + timedelta(seconds=1))
        self.assertAccessRefused(late.access, "G+1 after window 2")
