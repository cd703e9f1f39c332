"""GET /token-rotation/events (the audit log) and GET /sessions/active."""

import json
import subprocess
import uuid

from harness import (ADMIN_EMAIL, EVENT_KEYS, RotatorTestCase, parse_timestamp,
                     rotator_bin)


def unique_reason(label):
    return f"{label}: audit trail check {uuid.uuid4().hex[:8]}"


class EventsTest(RotatorTestCase):

    def events(self, query="", token=None):
        resp = self.req("GET", "/token-rotation/events" + query,
                        token=token or self.admin_token())
        self.assertStatus(resp, 200, query)
        return resp.body

    def test_events_are_admin_only(self):
        """Users cannot read who was rotated and why."""
        user = self.new_user()
        self.assertStatus(self.req("GET", "/token-rotation/events",
                                   token=user.access), 403)
        self.assertUnauthorized(self.req("GET", "/token-rotation/events"))

    def test_events_newest_first_with_all_fields(self):
        """The audit log shows each rotation, latest on top, in full."""
        user = self.new_user()
        self_reason = unique_reason("self")
        admin_reason = unique_reason("by admin")
        global_reason = unique_reason("global rotation")
        self.assertStatus(self.rotate_user(user.id, user.access,
                                           self_reason), 200)
        self.assertStatus(self.rotate_user(user.id, self.admin_token(),
                                           admin_reason), 200)
        rotation = self.rotate_global(self.admin_token(), 0,
                                      global_reason).body

        page = self.events("?limit=3")
        self.assertFields(page, {"events", "total", "limit", "offset"})
        self.assertEqual((page["limit"], page["offset"]), (3, 0))
        newest = page["events"]
        self.assertEqual([e["reason"] for e in newest],
                         [global_reason, admin_reason, self_reason])
        for event in newest:
            self.assertFields(event, EVENT_KEYS)
            self.assertTimestamp(event["rotated_at"])
        times = [parse_timestamp(e["rotated_at"]) for e in newest]
        self.assertEqual(times, sorted(times, reverse=True))

        glob, by_admin, by_self = newest
        self.assertEqual(glob["rotation_type"], "GLOBAL")
        self.assertIsNone(glob["user_id"])
        self.assertEqual(glob["initiated_by"], f"USER:{ADMIN_EMAIL}")
        self.assertEqual(glob["grace_period_minutes"], 0)
        self.assertEqual((glob["old_version"], glob["new_version"]),
                         (rotation["old_version"], rotation["new_version"]))
        self.assertEqual(glob["tokens_revoked"], rotation["tokens_revoked"])
        self.assertEqual(glob["users_affected"], rotation["users_affected"])
        for event in (by_admin, by_self):
            self.assertEqual(event["rotation_type"], "USER")
            self.assertEqual(event["user_id"], user.id)
            self.assertIsInstance(event["initiated_by"], str)
        self.assertEqual(by_admin["old_version"], by_self["new_version"])

    def test_event_ids_are_a_gapless_sequence(self):
        """Event ids are the audit trail's sequence numbers: integers, one per rotation, with
        no gaps, so an auditor can see that nothing was removed; rotation responses carry the
        id of the event they wrote."""
        user = self.new_user()
        ids = []
        for _ in range(3):
            resp = self.rotate_user(user.id, user.access)
            self.assertStatus(resp, 200)
            ids.append(resp.body["event_id"])
            user = user._replace(tokens=self.login_ok(user.email, user.password))
        self.assertEqual(ids, list(range(ids[0], ids[0] + 3)))
        listed = [e["id"] for e in self.events("?limit=3")["events"]]
        self.assertEqual(listed, ids[::-1])

    def test_pagination(self):
        """Long audit logs are read page by page without gaps."""
        user = self.new_user()
        admin = self.admin_token()
        for _ in range(3):
            self.assertStatus(self.rotate_user(user.id, admin), 200)

        everything = self.events("?limit=100", admin)
        total = everything["total"]
        self.assertGreaterEqual(total, 3)
        self.assertEqual(len(everything["events"]), min(total, 100))
        ids = [e["id"] for e in everything["events"]]
        for offset in range(3):
            page = self.events(f"?limit=1&offset={offset}", admin)
            self.assertEqual((page["limit"], page["offset"]), (1, offset))
            self.assertEqual(page["total"], total)
            self.assertEqual([e["id"] for e in page["events"]],
                             [ids[offset]])
        self.assertEqual(self.events(f"?offset={total}", admin)["events"],
                         [])

    def test_default_limit_is_50(self):
        """Without parameters the first 50 events are returned."""
        page = self.events()
        self.assertEqual((page["limit"], page["offset"]), (50, 0))

    def test_limit_and_offset_out_of_range_are_422(self):
        """limit is 1..100 and offset >= 0."""
        admin = self.admin_token()
        for query in ["?limit=0", "?limit=101", "?limit=-1", "?offset=-1"]:
            with self.subTest(query=query):
                resp = self.req("GET", "/token-rotation/events" + query,
                                token=admin)
                self.assertStatus(resp, 422)
        for query in ["?limit=1", "?limit=100", "?offset=0"]:
            with self.subTest(query=query):
                self.events(query, admin)

    def test_non_numeric_limit_and_offset_are_400(self):
        """Paging parameters must be numbers."""
        admin = self.admin_token()
        for query in ["?limit=abc", "?offset=xyz", "?limit=10x"]:
            with self.subTest(query=query):
                resp = self.req("GET", "/token-rotation/events" + query,
                                token=admin)
                self.assertStatus(resp, 400)


class ActiveSessionsTest(RotatorTestCase):

    def total_active(self, token):
        resp = self.req("GET", "/sessions/active", token=token)
        self.assertStatus(resp, 200)
        self.assertFields(resp.body, {"total_active"})
        self.assertInt(resp.body["total_active"])
        return resp.body["total_active"]

    def test_admin_only(self):
        """Only admins see how many sessions are live."""
        user = self.new_user()
        self.assertStatus(self.req("GET", "/sessions/active",
                                   token=user.access), 403)
        self.assertUnauthorized(self.req("GET", "/sessions/active"))

    def test_count_follows_logins_logouts_and_rotations(self):
        """The count responders watch during an incident is accurate."""
        admin = self.admin_token()
        base = self.total_active(admin)
        user = self.new_user()
        self.assertEqual(self.total_active(admin), base + 1)
        second = self.login_ok(user.email, user.password)
        self.login_ok(user.email, user.password)
        self.assertEqual(self.total_active(admin), base + 3)
        self.assertStatus(self.req("POST", "/auth/logout",
                                   token=second["access_token"]), 200)
        self.assertEqual(self.total_active(admin), base + 2)
        self.assertStatus(self.rotate_user(user.id, admin), 200)
        self.assertEqual(self.total_active(admin), base)


class ExportStateTest(RotatorTestCase):
    """`rotator export-state` writes the security state for an incident record."""

    def test_export_has_config_rotated_users_and_events(self):
        """The export holds the global version, every rotated user's version and the audit
        trail, as the API reports them, and can be taken while the server runs."""
        user = self.new_user()
        self.assertStatus(self.req("POST", f"/token-rotation/users/{user.id}",
                                   {"reason": "export test rotation"}, token=user.access), 200)
        admin = self.admin_token()
        self.assertStatus(self.req("POST", "/token-rotation/global",
                                   {"reason": "export test global rotation, INC-1",
                                    "grace_period_minutes": 5}, token=admin), 200)

        out = subprocess.run([str(rotator_bin()), "export-state"], env=self.server.env(),
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        doc = json.loads(out.stdout)
        self.assertEqual(doc["security_config"]["global_min_token_version"], 2)
        self.assertIsNotNone(doc["security_config"]["grace_period_ends_at"])
        self.assertIn({"user_id": user.id, "token_version": 2}, doc["rotated_users"])
        self.assertEqual(doc["events_total"], 2)
        self.assertEqual([e["rotation_type"] for e in doc["events"]], ["GLOBAL", "USER"])
