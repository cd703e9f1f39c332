"""Harness for rotator's end-to-end tests: a real server, real HTTP, no mocks.

Each test class gets its own `build/rotator serve` process on a free loopback
port, with a fresh database, the test clock enabled and one admin account
(admin@example.com) created beforehand with `rotator user add --admin`.

Environment knobs:
  ROTATOR_BIN                     the binary (default <repo>/build/rotator)
  ROTATOR_E2E_DATABASE_FACTORY    shell command run once per test class, with
                                  the class's temporary directory as $1; the
                                  first line it prints is the ROTATOR_DATABASE
                                  URL to use (e.g. `make-pg-db "$1"`, a script
                                  creating a fresh PostgreSQL database)
  ROTATOR_E2E_PG                  a libpq URI used as is by every class; the
                                  caller must hand over an empty database
  neither set                     sqlite:<class temp dir>/rotator.db

Whenever the database is not SQLite the harness writes a key to
<class temp dir>/jwt.key and passes it as ROTATOR_JWT_KEY_FILE, since the
server only makes a key of its own beside a SQLite file.
"""

import atexit
import base64
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "e2e-admin-password"
USER_PASSWORD = "e2e-user-password"

START_TIMEOUT = 10.0  # seconds until /health must answer 200
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
REQUEST_TIMEOUT = 15.0  # seconds for one HTTP request
ACCESS_TTL = 900  # the server's default, which the tests rely on

# Response shapes of the contract (docs/api-contract.md).
ROTATION_KEYS_USER = {"rotation_type", "user_id", "old_version",
                      "new_version", "tokens_revoked", "reason", "rotated_at"}
ROTATION_KEYS_GLOBAL = {"rotation_type", "old_version", "new_version",
                        "tokens_revoked", "users_affected", "reason",
                        "initiated_by", "grace_period_minutes", "rotated_at"}
EVENT_KEYS = {"id", "rotation_type", "user_id", "old_version", "new_version",
              "tokens_revoked", "users_affected", "reason", "initiated_by",
              "grace_period_minutes", "rotated_at"}
SECURITY_CONFIG_KEYS = {"global_min_token_version", "last_updated_at",
                        "last_updated_by", "last_rotation_reason",
                        "grace_period_ends_at"}

TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID4_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

_running_servers = set()


def rotator_bin() -> Path:
    return Path(os.environ.get("ROTATOR_BIN", REPO_ROOT / "build" / "rotator"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(tmpdir: Path) -> str:
    """The ROTATOR_DATABASE for one test class (see the module docstring)."""
    factory = os.environ.get("ROTATOR_E2E_DATABASE_FACTORY")
    if factory:
        out = subprocess.run(["sh", "-c", factory, "factory", str(tmpdir)],
                             capture_output=True, text=True, check=True,
                             timeout=60)
        return out.stdout.splitlines()[0].strip()
    pg = os.environ.get("ROTATOR_E2E_PG")
    if pg:
        return pg
    return f"sqlite:{tmpdir}/rotator.db"


def _die_with_parent():
    """Runs in the child: have the kernel end the server if we die first."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass


# --------------------------------------------------------------------------
# HTTP


class Response(NamedTuple):
    status: int
    body: Optional[object]  # decoded JSON, or None when the body is not JSON
    headers: object  # http.client.HTTPMessage, case-insensitive .get()


LOOPBACK_URLS = ("http://127.0.0.1:", "http://[::1]:")

# No proxy handler: every request must go straight to the loopback server.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(base_url, method, path, body=None, token=None, raw_body=None,
                 headers=None, timeout=REQUEST_TIMEOUT) -> Response:
    """One HTTP request; any status is returned, never raised.

    `body` is sent as JSON, `raw_body` as given (bytes). The suite only ever
    talks to the servers it started, on loopback.
    """
    if not base_url.startswith(LOOPBACK_URLS):
        raise ValueError(f"refusing a non-loopback URL: {base_url}")
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
    all_headers = {}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})

    request = urllib.request.Request(base_url + path, data=data,
                                     headers=all_headers, method=method)
    try:
        with _opener.open(request, timeout=timeout) as resp:
            status, raw, resp_headers = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        status, raw, resp_headers = err.code, err.read(), err.headers
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    return Response(status, decoded, resp_headers)


# --------------------------------------------------------------------------
# Time and tokens


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_header(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[0]))


def jwt_claims(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[1]))


def jwt_encode_part(obj: dict) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode())


# --------------------------------------------------------------------------
# The server process


class RotatorServer:
    """One rotator process, its temporary directory and its database."""

    def __init__(self, extra_env=None, test_clock=True):
        self.extra_env = dict(extra_env or {})
        self.test_clock = test_clock
        self.tmpdir = Path(tempfile.mkdtemp(prefix="rotator-e2e-"))
        self.db_url = database_url(self.tmpdir)
        self.port = None
        self.base_url = None
        self.proc = None
        self.log_path = self.tmpdir / "server.log"

    @property
    def key_file(self) -> Path:
        if self.db_url.startswith("sqlite:"):
            return Path(self.db_url[len("sqlite:"):]).parent / "jwt.key"
        return self.tmpdir / "jwt.key"

    def env(self) -> dict:
        # Drop inherited ROTATOR_* settings so that only ours apply.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ROTATOR_")}
        env["ROTATOR_DATABASE"] = self.db_url
        env["ROTATOR_LISTEN"] = f"127.0.0.1:{self.port}"
        if self.test_clock:
            env["ROTATOR_TEST_CLOCK"] = "1"
        if not self.db_url.startswith("sqlite:"):
            env["ROTATOR_JWT_KEY_FILE"] = str(self.key_file)
        env.update(self.extra_env)
        return env

    def setup(self):
        """Creates the admin account, then starts serving."""
        if not self.db_url.startswith("sqlite:"):
            self._write_key_file()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        result = subprocess.run(
            [str(rotator_bin()), "user", "add", "--email", ADMIN_EMAIL,
             "--admin"],
            input=ADMIN_PASSWORD + "\n", env=self.env(), capture_output=True,
            text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(
                f"rotator user add failed ({result.returncode}): "
                f"{result.stdout}{result.stderr}")
        self.start()

    def _write_key_file(self):
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600)
        with os.fdopen(fd, "wb") as key:
            key.write(os.urandom(32))

    def start(self):
        if self.port is None:
            self.port = free_port()
            self.base_url = f"http://127.0.0.1:{self.port}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(rotator_bin()), "serve"], env=self.env(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_die_with_parent)
        _running_servers.add(self)
        self._wait_healthy()

    def _wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rotator serve exited with code "
                                   f"{self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if http_request(self.base_url, "GET", API + "/health",
                                timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rotator did not answer /health within "
                           f"{START_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self):
        """Ends the process this object started, and only that one."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        _running_servers.discard(self)

    def restart(self):
        """Stops the server and starts it again on the same database.

        It gets a new port, so that a port still held by the old process's
        closing connections cannot get in the way.
        """
        self.stop()
        self.port = None
        self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def log_tail(self, lines=30) -> str:
        try:
            return "\n".join(self.log_path.read_text(
                errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


@atexit.register
def cleanup_all_servers():
    """Stops the servers this process still runs and removes their files."""
    for server in list(_running_servers):
        server.cleanup()


# --------------------------------------------------------------------------
# The test case base class


class User(NamedTuple):
    id: str
    email: str
    password: str
    tokens: dict  # the login response

    @property
    def access(self) -> str:
        return self.tokens["access_token"]

    @property
    def refresh(self) -> str:
        return self.tokens["refresh_token"]


class RotatorTestCase(unittest.TestCase):
    """Starts one server per test class; offers request helpers to tests."""

    server_env = {}  # extra environment for this class's server
    test_clock = True
    _user_counter = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = RotatorServer(cls.server_env, cls.test_clock)
        try:
            cls.server.setup()
        except Exception:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        super().tearDownClass()

    # -- requests ----------------------------------------------------------

    def req(self, method, path, body=None, token=None, raw_body=None,
            headers=None) -> Response:
        """One request to API + path on this class's server."""
        return http_request(self.server.base_url, method, API + path, body,
                            token, raw_body, headers)

    def register(self, email, password) -> Response:
        return self.req("POST", "/auth/register",
                        {"email": email, "password": password})

    def login(self, email, password, headers=None) -> Response:
        return self.req("POST", "/auth/login",
                        {"email": email, "password": password},
                        headers=headers)

    def login_ok(self, email, password, headers=None) -> dict:
        """Logs in, asserting success; returns the token response."""
        resp = self.login(email, password, headers)
        self.assertStatus(resp, 200)
        return resp.body

    def refresh(self, refresh_token) -> Response:
        return self.req("POST", "/auth/refresh",
                        {"refresh_token": refresh_token})

    def me(self, access_token) -> Response:
        return self.req("GET", "/auth/me", token=access_token)

    def admin_token(self) -> str:
        """A fresh admin access token (of the current global generation)."""
        return self.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]

    def new_user(self, password=USER_PASSWORD) -> User:
        """Registers a new user and logs it in once."""
        RotatorTestCase._user_counter += 1
        email = (f"user{RotatorTestCase._user_counter}-"
                 f"{uuid.uuid4().hex[:8]}@example.com")
        resp = self.register(email, password)
        self.assertStatus(resp, 201)
        return User(resp.body["id"], email, password,
                    self.login_ok(email, password))

    def rotate_user(self, user_id, token,
                    reason="Suspicious login from a new device") -> Response:
        return self.req("POST", f"/token-rotation/users/{user_id}",
                        {"reason": reason}, token=token)

    def rotate_global(self, token, grace=0,
                      reason="E2E drill: signing key assumed compromised"
                      ) -> Response:
        body = {"reason": reason}
        if grace is not None:
            body["grace_period_minutes"] = grace
        return self.req("POST", "/token-rotation/global", body, token=token)

    # -- the test clock ----------------------------------------------------

    def advance(self, seconds) -> datetime:
        """Moves the server clock forward; returns the server's new now."""
        resp = self.req("POST", "/_test/clock", {"advance_seconds": seconds})
        self.assertStatus(resp, 200)
        return parse_timestamp(resp.body["now"])

    def advance_to(self, target: datetime):
        """Moves the server clock to `target` (to the second).

        The server's clock runs on from wall-clock time, and timestamps have
        whole seconds, so a check placed one second from a boundary could
        cross it if the wall clock ticks in between. We start the two steps
        early in a wall-clock second (the clock offset is whole seconds) so
        that at least half a second remains for the check that follows; this
        waits for alignment only, never for time semantics.
        """
        fraction = time.time() % 1
        if fraction > 0.5:
            time.sleep(1.01 - fraction)
        now = self.advance(0)
        delta = int((target - now).total_seconds())
        self.assertGreaterEqual(delta, 0, "target lies in the server's past")
        self.advance(delta)

    # -- assertions --------------------------------------------------------

    def assertStatus(self, resp: Response, status: int, msg=""):
        self.assertEqual(resp.status, status,
                         f"{msg} body={resp.body!r}".strip())

    def assertUnauthorized(self, resp: Response, msg=""):
        """401 with a `WWW-Authenticate: Bearer` challenge."""
        self.assertStatus(resp, 401, msg)
        challenge = resp.headers.get("WWW-Authenticate") or ""
        self.assertTrue(challenge.startswith("Bearer"),
                        f"{msg} WWW-Authenticate={challenge!r}".strip())

    def assertFields(self, body, names, msg=""):
        """`body` is a JSON object with at least the documented `names`.

        Extra fields are allowed: clients must ignore what they don't know.
        """
        self.assertIsInstance(body, dict, msg)
        missing = set(names) - set(body)
        self.assertFalse(missing, f"{msg} missing {sorted(missing)} in "
                                  f"{body!r}".strip())

    def assertNoSecrets(self, body, password):
        """No password (or hash of one) leaks into a response."""
        self.assertNotIn(password, json.dumps(body))
        for name in body:
            self.assertNotIn("password", name.lower())
            self.assertNotIn("hash", name.lower())

    def assertInt(self, value, msg=""):
        self.assertTrue(type(value) is int, f"{msg} {value!r} is not an int")

    def assertTimestamp(self, value, msg=""):
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, TIMESTAMP_RE, msg)

    def assertUUID(self, value, msg=""):
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, UUID4_RE, msg)

    def assertAccessWorks(self, access_token, msg=""):
        self.assertStatus(self.me(access_token), 200, msg)

    def assertAccessRefused(self, access_token, msg=""):
        self.assertUnauthorized(self.me(access_token), msg)
