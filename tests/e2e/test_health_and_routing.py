"""Health check, routing errors, request limits and the test clock."""

import json

from harness import RotatorTestCase, http_request

MAX_BODY = 16 * 1024


class HealthAndRoutingTest(RotatorTestCase):

    def test_health_reports_healthy_database(self):
        """Monitors poll /health without a token and expect the DB state."""
        resp = self.req("GET", "/health")
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body["status"], "healthy")
        self.assertEqual(resp.body["database"], "ok")

    def test_unknown_route_is_404_with_json_detail(self):
        """Clients get a JSON 404 for paths the API does not have."""
        for method, path in [("GET", "/nothing-here"),
                             ("POST", "/auth/nothing"),
                             ("GET", "/token-rotation/users")]:
            with self.subTest(method=method, path=path):
                resp = self.req(method, path)
                self.assertStatus(resp, 404)
                self.assertIsInstance(resp.body.get("detail"), str)
        resp = http_request(self.server.base_url, "GET", "/no-api-prefix")
        self.assertStatus(resp, 404)

    def test_wrong_method_on_known_route_is_405(self):
        """A client using the wrong verb learns the route exists (405) and, from the Allow
        header, which verb it takes."""
        for method, path, allow in [("GET", "/auth/login", "POST"),
                                    ("GET", "/auth/refresh", "POST"),
                                    ("DELETE", "/health", "GET"),
                                    ("POST", "/auth/me", "GET"),
                                    ("PUT", "/token-rotation/global", "POST"),
                                    ("POST", "/token-rotation/security-config", "GET"),
                                    ("POST", "/sessions/active", "GET"),
                                    ("GET", "/auth/sessions/"
                                            "7c9e6679-7425-40de-944b-e07fc1f90ae7", "DELETE")]:
            with self.subTest(method=method, path=path):
                resp = self.req(method, path)
                self.assertStatus(resp, 405)
                self.assertEqual(resp.headers.get("Allow"), allow)

    def test_bad_json_is_400(self):
        """Malformed JSON is a client error, not a server crash."""
        for raw in [b'{"email": ', b"not json", b"[1, 2", b"\xff\xfe"]:
            with self.subTest(raw=raw):
                resp = self.req("POST", "/auth/login", raw_body=raw)
                self.assertStatus(resp, 400)
                self.assertIsInstance(resp.body.get("detail"), str)

    def test_wrong_json_type_is_400(self):
        """A field of the wrong JSON type, or a non-object body, is 400."""
        for body in [{"email": 5, "password": "password1"},
                     {"email": "a@example.com", "password": ["x"]},
                     ["email", "password"], "just a string"]:
            with self.subTest(body=body):
                self.assertStatus(self.req("POST", "/auth/login", body), 400)

    def test_body_over_16_kib_is_413(self):
        """Oversized bodies are refused before any work is done on them."""
        for size in [MAX_BODY + 1, 20000]:
            padding = "x" * (size - len('{"email":"","password":"a@b.c"}'))
            raw = json.dumps({"email": padding, "password": "a@b.c"},
                             separators=(",", ":")).encode()
            self.assertEqual(len(raw), size)
            with self.subTest(size=size):
                self.assertStatus(
                    self.req("POST", "/auth/login", raw_body=raw), 413)

    def test_missing_and_invalid_tokens_are_401_with_challenge(self):
        """Every protected route answers 401 + WWW-Authenticate: Bearer."""
        protected = [("GET", "/auth/me"), ("POST", "/auth/logout"),
                     ("GET", "/auth/sessions"),
                     ("GET", "/token-rotation/security-config"),
                     ("GET", "/token-rotation/events"),
                     ("GET", "/sessions/active")]
        for method, path in protected:
            for token in [None, "not-a-jwt"]:
                with self.subTest(method=method, path=path, token=token):
                    self.assertUnauthorized(self.req(method, path,
                                                     token=token))

    def test_clock_advances_server_time(self):
        """Tests move the server clock instead of sleeping."""
        before = self.advance(0)
        after = self.advance(3600)
        self.assertIn((after - before).total_seconds(), (3600, 3601))

    def test_clock_refuses_bad_values(self):
        """The test clock only moves forward, by a whole number of seconds."""
        for value, status in [(-1, 422), ("ten", 400)]:
            with self.subTest(value=value):
                resp = self.req("POST", "/_test/clock",
                                {"advance_seconds": value})
                self.assertStatus(resp, status)


class TestClockDisabledTest(RotatorTestCase):
    test_clock = False

    def test_clock_route_is_404_without_flag(self):
        """In production the clock cannot be moved: the route is absent."""
        resp = self.req("POST", "/_test/clock", {"advance_seconds": 3600})
        self.assertStatus(resp, 404)
        self.assertStatus(self.req("GET", "/health"), 200)

    def test_api_lives_under_prefix_only(self):
        """The API lives under /api/v1 only."""
        self.assertStatus(http_request(self.server.base_url, "GET",
                                       "/health"), 404)
