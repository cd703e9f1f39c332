"""Forged, altered and broken access tokens must all be refused (401)."""

import base64
import binascii
import hashlib
import hmac

from harness import (RotatorTestCase, b64url_decode, b64url_encode,
                     jwt_claims, jwt_encode_part, jwt_header)

DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
           "HS512": hashlib.sha512}


def with_header(token, **changes):
    """The token with header fields changed, its signature kept."""
    header, payload, signature = token.split(".")
    return ".".join([jwt_encode_part({**jwt_header(token), **changes}),
                     payload, signature])


def with_claims(token, **changes):
    """The token with claims changed, its signature kept."""
    header, payload, signature = token.split(".")
    return ".".join([header, jwt_encode_part({**jwt_claims(token),
                                              **changes}), signature])


def sign(header, claims, key, alg):
    signing_input = f"{jwt_encode_part(header)}.{jwt_encode_part(claims)}"
    mac = hmac.new(key, signing_input.encode(), DIGESTS[alg]).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def key_candidates(raw):
    """The ways a key file might hold its key: raw, hex or base64 text."""
    text = raw.strip()
    yield raw
    yield text
    decoders = (lambda t: bytes.fromhex(t.decode()), base64.b64decode,
                base64.urlsafe_b64decode)
    for decode in decoders:
        try:
            yield decode(text)
        except (ValueError, binascii.Error):
            pass


def find_signing_key(key_path, token):
    """The HS256 key that signed `token`, read from the key file, or None."""
    try:
        raw = key_path.read_bytes()
    except OSError:
        return None
    signing_input, signature = token.rsplit(".", 1)
    for key in key_candidates(raw):
        mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        if hmac.compare_digest(mac, b64url_decode(signature)):
            return key
    return None


class JwtAttackTest(RotatorTestCase):

    def setUp(self):
        self.user = self.new_user()
        self.token = self.user.access

    def assertAllRefused(self, forged):
        for label, token in forged.items():
            with self.subTest(label):
                self.assertAccessRefused(token, label)
        self.assertAccessWorks(self.token, "the untouched token")

    def test_alg_none_is_refused(self):
        """Unsigned tokens (alg none) never authenticate."""
        unsigned = self.token.rsplit(".", 1)[0] + "."
        forged = {}
        for alg in ("none", "None", "NONE"):
            forged[f"{alg}, no signature"] = with_header(
                unsigned, alg=alg).rsplit(".", 1)[0] + "."
            forged[f"{alg}, signature kept"] = with_header(self.token,
                                                           alg=alg)
        self.assertAllRefused(forged)

    def test_other_algorithm_in_header_is_refused(self):
        """Only HS256 is accepted, whatever the header claims."""
        self.assertAllRefused({
            alg: with_header(self.token, alg=alg)
            for alg in ("HS384", "HS512", "RS256", "ES256", "hs256", "")})

    def test_tampered_claims_are_refused(self):
        """Changing any claim breaks the signature."""
        claims = jwt_claims(self.token)
        other = self.new_user()
        self.assertAllRefused({
            "role admin": with_claims(self.token, role="admin"),
            "other subject": with_claims(self.token, sub=other.id),
            "later expiry": with_claims(self.token,
                                        exp=claims["exp"] + 86400),
            "higher version": with_claims(self.token, ver=claims["ver"] + 1),
            "higher global version": with_claims(self.token,
                                                 gver=claims["gver"] + 1),
            "other session": with_claims(
                self.token, sid=jwt_claims(other.access)["sid"]),
        })

    def test_broken_tokens_are_refused(self):
        """Truncated or garbage tokens are refused, not crashed on."""
        header, payload, signature = self.token.split(".")
        self.assertAllRefused({
            "last character cut": self.token[:-1],
            "half the signature": self.token[:-len(signature) // 2],
            "no signature": f"{header}.{payload}",
            "header only": header,
            "empty signature": f"{header}.{payload}.",
            "four parts": f"{self.token}.{signature}",
            "garbage": "garbage",
            "dots": "..",
            "bad base64": "@@@.###.$$$",
            "json not base64": '{"alg":"none"}.{}.',
            "long garbage": "a" * 2000,
        })

    def test_malformed_authorization_headers_are_refused(self):
        """Only `Authorization: Bearer <token>` authenticates."""
        for value in [f"Basic {self.token}", self.token, "Bearer",
                      "Bearer ", f"Bearer {self.token} extra"]:
            with self.subTest(value=value[:20]):
                resp = self.req("GET", "/auth/me",
                                headers={"Authorization": value})
                self.assertStatus(resp, 401)

    def test_right_key_wrong_algorithm_is_refused(self):
        """Even with the real key, HS384/HS512-signed tokens are refused.

        The key is read from the server's key file. The same claims
        re-signed with it as HS256 must work: that proves the key is right,
        so the refusals test the algorithm check alone.
        """
        key = find_signing_key(self.server.key_file, self.token)
        if key is None:
            self.skipTest("cannot read the signing key from the key file")
        header, claims = jwt_header(self.token), jwt_claims(self.token)

        control = sign({**header, "alg": "HS256"}, claims, key, "HS256")
        self.assertAccessWorks(control, "re-signed HS256 with the real key")
        self.assertAllRefused({
            alg: sign({**header, "alg": alg}, claims, key, alg)
            for alg in ("HS384", "HS512")})
