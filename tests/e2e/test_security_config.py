"""GET /token-rotation/security-config: the global revocation state."""

from datetime import timedelta

from harness import SECURITY_CONFIG_KEYS, RotatorTestCase, parse_timestamp

REASON = "Quarterly drill of the global rotation, CHG-2025-117"


class SecurityConfigTest(RotatorTestCase):

    def config(self, token):
        resp = self.req("GET", "/token-rotation/security-config", token=token)
        self.assertStatus(resp, 200)
        self.assertFields(resp.body, SECURITY_CONFIG_KEYS)
        self.assertInt(resp.body["global_min_token_version"])
        self.assertTimestamp(resp.body["last_updated_at"])
        return resp.body

    def test_fields_through_a_rotation_window(self):
        """Responders can read the global state before, during, after."""
        user = self.new_user()  # any signed-in user may read it
        before = self.config(user.access)
        self.assertIsNone(before["last_updated_by"])
        self.assertIsNone(before["last_rotation_reason"])
        self.assertIsNone(before["grace_period_ends_at"])

        rotation = self.rotate_global(self.admin_token(), 2, REASON).body
        ends_at = parse_timestamp(rotation["rotated_at"]) + timedelta(
            minutes=2)

        during = self.config(user.access)
        self.assertEqual(during["global_min_token_version"],
                         rotation["new_version"])
        self.assertEqual(during["last_rotation_reason"], REASON)
        self.assertIsInstance(during["last_updated_by"], str)
        self.assertTrue(during["last_updated_by"])
        self.assertTimestamp(during["grace_period_ends_at"])
        self.assertEqual(parse_timestamp(during["grace_period_ends_at"]),
                         ends_at)

        self.advance_to(ends_at + timedelta(seconds=1))
        after = self.config(self.admin_token())
        self.assertIsNone(after["grace_period_ends_at"])
        self.assertEqual(after["global_min_token_version"],
                         rotation["new_version"])
        self.assertEqual(after["last_rotation_reason"], REASON)

    def test_needs_token(self):
        """The security state is not public."""
        self.assertUnauthorized(self.req("GET",
                                         "/token-rotation/security-config"))
