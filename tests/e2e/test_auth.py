"""Registration, login, refresh, logout and /auth/me."""

import uuid

from harness import (ACCESS_TTL, ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD,
                     RotatorTestCase, jwt_claims, jwt_header)

TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
LOGIN_FAILURE = {"detail": "Incorrect email or password"}


def fresh_email():
    return f"reg-{uuid.uuid4().hex[:12]}@example.com"


class RegisterTest(RotatorTestCase):

    def test_register_returns_created_user(self):
        """A sign-up answers 201 with the new account, never its secrets."""
        email = fresh_email()
        resp = self.register(email, USER_PASSWORD)
        self.assertStatus(resp, 201)
        self.assertFields(resp.body, {"id", "email", "role", "created_at"})
        self.assertNoSecrets(resp.body, USER_PASSWORD)
        self.assertUUID(resp.body["id"])
        self.assertEqual(resp.body["email"], email)
        self.assertEqual(resp.body["role"], "user")
        self.assertTimestamp(resp.body["created_at"])

    def test_registered_user_can_log_in(self):
        """The password given at sign-up is the one that logs in."""
        email = fresh_email()
        self.assertStatus(self.register(email, USER_PASSWORD), 201)
        self.login_ok(email, USER_PASSWORD)

    def test_email_taken_is_409(self):
        """An address can hold one account only, the admin's included."""
        email = fresh_email()
        self.assertStatus(self.register(email, USER_PASSWORD), 201)
        self.assertStatus(self.register(email, "another-password"), 409)
        self.assertStatus(self.register(ADMIN_EMAIL, USER_PASSWORD), 409)

    def test_bad_email_is_422(self):
        """Addresses that cannot be an email are refused."""
        for email in ["not-an-email", "", "@example.com", "user@"]:
            with self.subTest(email=email):
                self.assertStatus(self.register(email, USER_PASSWORD), 422)

    def test_password_length_is_8_to_128_bytes(self):
        """Password limits hold at both edges and count UTF-8 bytes."""
        cases = [("p" * 7, 422), ("p" * 8, 201), ("p" * 128, 201),
                 ("p" * 129, 422),
                 ("\u20ac" * 42, 201),  # 42 characters, 126 bytes
                 ("\u20ac" * 43, 422)]  # 43 characters, 129 bytes
        for password, status in cases:
            with self.subTest(chars=len(password),
                              bytes=len(password.encode())):
                self.assertStatus(self.register(fresh_email(), password),
                                  status)

    def test_wrong_field_type_is_400(self):
        """A number where a string belongs is malformed input."""
        resp = self.req("POST", "/auth/register",
                        {"email": 42, "password": USER_PASSWORD})
        self.assertStatus(resp, 400)

    def test_bad_json_is_400(self):
        """Broken JSON on sign-up is malformed input."""
        resp = self.req("POST", "/auth/register", raw_body=b'{"email": "a@')
        self.assertStatus(resp, 400)


class LoginTest(RotatorTestCase):

    def test_login_returns_bearer_token_pair(self):
        """Login answers the token pair in the documented shape."""
        user = self.new_user()
        body = self.login_ok(user.email, user.password)
        self.assertFields(body, TOKEN_KEYS)
        self.assertEqual(body["token_type"], "bearer")
        self.assertEqual(body["expires_in"], ACCESS_TTL)
        self.assertInt(body["expires_in"])
        self.assertIsInstance(body["refresh_token"], str)
        self.assertNotEqual(body["refresh_token"], body["access_token"])

    def test_access_token_claims(self):
        """Access tokens are HS256 JWTs with the documented claims."""
        user = self.new_user()
        self.assertEqual(jwt_header(user.access)["alg"], "HS256")
        claims = jwt_claims(user.access)
        self.assertEqual(claims["iss"], "rotator")
        self.assertEqual(claims["sub"], user.id)
        self.assertUUID(claims["sid"])
        self.assertEqual(claims["role"], "user")
        for name in ("ver", "gver", "iat", "exp"):
            self.assertInt(claims[name], name)
        self.assertEqual(claims["exp"] - claims["iat"], ACCESS_TTL)
        self.assertIsInstance(claims["jti"], str)
        other = self.login_ok(user.email, user.password)["access_token"]
        self.assertNotEqual(jwt_claims(other)["sid"], claims["sid"])
        self.assertNotEqual(jwt_claims(other)["jti"], claims["jti"])

    def test_unknown_email_and_wrong_password_look_identical(self):
        """Login failures do not reveal which addresses have accounts."""
        user = self.new_user()
        unknown = self.login(fresh_email(), user.password)
        wrong = self.login(user.email, "wrong-password")
        self.assertStatus(unknown, 401)
        self.assertStatus(wrong, 401)
        self.assertEqual(unknown.body, LOGIN_FAILURE)
        self.assertEqual(wrong.body, LOGIN_FAILURE)

    def test_admin_login_carries_admin_role(self):
        """The account made with `user add --admin` is an admin."""
        token = self.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]
        self.assertEqual(jwt_claims(token)["role"], "admin")
        self.assertEqual(self.me(token).body["role"], "admin")

    def test_wrong_field_type_is_400(self):
        """A non-string password is malformed input, not a failed login."""
        resp = self.req("POST", "/auth/login",
                        {"email": ADMIN_EMAIL, "password": 12345678})
        self.assertStatus(resp, 400)


class RefreshTest(RotatorTestCase):

    def test_refresh_returns_new_pair_in_same_session(self):
        """Refreshing gives a new pair that belongs to the same session."""
        user = self.new_user()
        resp = self.refresh(user.refresh)
        self.assertStatus(resp, 200)
        self.assertFields(resp.body, TOKEN_KEYS)
        self.assertEqual(resp.body["token_type"], "bearer")
        self.assertNotEqual(resp.body["refresh_token"], user.refresh)
        self.assertAccessWorks(resp.body["access_token"])
        self.assertEqual(jwt_claims(resp.body["access_token"])["sid"],
                         jwt_claims(user.access)["sid"])

    def test_retired_refresh_token_is_refused(self):
        """A refresh token works once; its successor takes over."""
        user = self.new_user()
        self.assertStatus(self.refresh(user.refresh), 200)
        self.assertUnauthorized(self.refresh(user.refresh))

    def test_reuse_of_retired_token_revokes_whole_session(self):
        """A replayed refresh token (theft) ends the session for everyone."""
        user = self.new_user()
        other_session = self.login_ok(user.email, user.password)
        newest = self.refresh(user.refresh).body

        self.assertUnauthorized(self.refresh(user.refresh), "replay")
        self.assertUnauthorized(self.refresh(newest["refresh_token"]),
                                "newest refresh token of the session")
        self.assertAccessRefused(newest["access_token"],
                                 "newest access token of the session")
        self.assertAccessRefused(user.access, "first access token")
        self.assertAccessWorks(other_session["access_token"],
                               "another session of the same user")
        self.assertStatus(self.refresh(other_session["refresh_token"]), 200)

    def test_unknown_refresh_token_is_401(self):
        """Made-up refresh tokens are refused."""
        for token in ["garbage", uuid.uuid4().hex * 2]:
            with self.subTest(token=token):
                self.assertUnauthorized(self.refresh(token))

    def test_access_token_is_not_a_refresh_token(self):
        """An access token cannot be traded for a new pair."""
        user = self.new_user()
        self.assertUnauthorized(self.refresh(user.access))

    def test_refresh_token_is_not_an_access_token(self):
        """A refresh token cannot be used as a bearer token."""
        user = self.new_user()
        self.assertAccessRefused(user.refresh)


class LogoutTest(RotatorTestCase):

    def test_logout_revokes_only_that_session(self):
        """Logging out on one device leaves the other devices signed in."""
        user = self.new_user()
        other = self.login_ok(user.email, user.password)

        resp = self.req("POST", "/auth/logout", token=user.access)
        self.assertStatus(resp, 200)
        self.assertEqual(resp.body, {"session_id":
                                     jwt_claims(user.access)["sid"],
                                     "revoked": True})

        self.assertAccessRefused(user.access, "logged-out access token")
        self.assertUnauthorized(self.refresh(user.refresh),
                                "logged-out refresh token")
        self.assertAccessWorks(other["access_token"], "other session")
        self.assertStatus(self.refresh(other["refresh_token"]), 200)

    def test_logout_twice_is_401(self):
        """A logged-out token cannot log out again."""
        user = self.new_user()
        self.assertStatus(self.req("POST", "/auth/logout",
                                   token=user.access), 200)
        self.assertUnauthorized(self.req("POST", "/auth/logout",
                                         token=user.access))

    def test_logout_needs_token(self):
        """Logout without a token is 401."""
        self.assertUnauthorized(self.req("POST", "/auth/logout"))


class MeTest(RotatorTestCase):

    def test_me_returns_profile(self):
        """/auth/me tells the caller who they are and their token version."""
        email = fresh_email()
        created = self.register(email, USER_PASSWORD).body
        token = self.login_ok(email, USER_PASSWORD)["access_token"]
        resp = self.me(token)
        self.assertStatus(resp, 200)
        self.assertFields(resp.body,
                         {"id", "email", "role", "token_version",
                          "created_at"})
        self.assertNoSecrets(resp.body, USER_PASSWORD)
        self.assertEqual(resp.body["id"], created["id"])
        self.assertEqual(resp.body["email"], email)
        self.assertEqual(resp.body["role"], "user")
        self.assertEqual(resp.body["created_at"], created["created_at"])
        self.assertInt(resp.body["token_version"])
        self.assertEqual(resp.body["token_version"],
                         jwt_claims(token)["ver"])
