"""rotator's benchmarks: throughput of an authenticated request beside nginx, and the latency
of rotations at several database sizes. Prints one table and writes build/bench.json.

Everything runs on this machine, on loopback, and stops by itself. The machines are shared and
noisy: read the ratios within one run, not the absolute numbers.

Usage: python3 bench/run.py [--sizes 10000,1000000] [--seconds 5] [--repeat 2]
                           [--backends sqlite,postgresql]
"""

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("ROTATOR_BIN", ROOT / "build" / "rotator"))
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "bench-admin-password"
ROTATIONS = 50  # timed rotations of each kind per size


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def call(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def wrk(url, seconds, token=None):
    """Requests per second from wrk: 1 thread, 32 keep-alive connections."""
    cmd = ["wrk", "-t1", "-c32", f"-d{seconds}s", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} error responses during the load")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


class Nginx:
    """nginx-light with one worker answering a fixed 40-byte JSON body."""

    def __init__(self, workdir):
        self.dir = Path(workdir) / "nginx"
        self.dir.mkdir()
        self.port = free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{self.port};
    location / {{ default_type application/json;
                 return 200 '{{"status":"healthy","database":"ok"}}'; }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-e", str(self.dir / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/"
        wait_http(self.url)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Rotator:
    def __init__(self, workdir, name, threads, database=None):
        self.dir = Path(workdir) / name
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.env = dict(os.environ,
                        ROTATOR_DATABASE=database or f"sqlite:{self.dir}/rotator.db",
                        ROTATOR_LISTEN=f"127.0.0.1:{self.port}",
                        ROTATOR_THREADS=str(threads),
                        ROTATOR_LOG_LEVEL="warning")
        if database:
            key = self.dir / "jwt.key"
            key.write_bytes(os.urandom(32))
            key.chmod(0o600)
            self.env["ROTATOR_JWT_KEY_FILE"] = str(key)
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.proc = None

    def add_admin(self):
        subprocess.run([str(BIN), "user", "add", "--email", ADMIN_EMAIL, "--admin"],
                       input=ADMIN_PASSWORD + "\n", text=True, env=self.env, check=True,
                       capture_output=True)

    def start(self):
        self.log = open(self.dir / "server.log", "a")
        self.proc = subprocess.Popen([str(BIN), "serve"], env=self.env, stdout=self.log,
                                     stderr=self.log)
        wait_http(self.base + "/health", timeout=60)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.log.close()
            self.proc = None

    def login(self):
        return call("POST", self.base + "/auth/login",
                    {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})["access_token"]


# The rows rotator would have written for `sessions` sessions, three per user, and the live
# counts (src/store/counts.h) it would have kept for them. One statement list per backend.
SEED_SQLITE = """
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {users})
INSERT INTO users (id, email, password_hash, role, token_version, created_at, slot0_gen,
                   slot0_count)
SELECT printf('00000000-0000-4000-8000-%012d', i), printf('seed%d@example.com', i), 'x', 'user',
       1, {now}, 1, {sessions} / {users} + (i < {sessions} % {users}) FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {sessions})
INSERT INTO sessions (id, user_id, user_version, global_version, created_at, last_used_at,
                      expires_at, counted)
SELECT printf('10000000-0000-4000-8000-%012d', i),
       printf('00000000-0000-4000-8000-%012d', i % {users}), 1, 1, {now}, {now}, {now} + 86400, 1
FROM n;
UPDATE security_config SET cur_sessions = cur_sessions + {sessions},
                           cur_users = cur_users + {users};
COMMIT;
"""

SEED_POSTGRES = """
BEGIN;
INSERT INTO users (id, email, password_hash, role, token_version, created_at, slot0_gen,
                   slot0_count)
SELECT '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), 'seed' || i || '@example.com', 'x',
       'user', 1, {now}, 1, {sessions} / {users} + (i < {sessions} % {users})::int
FROM generate_series(0, {users} - 1) AS i;
INSERT INTO sessions (id, user_id, user_version, global_version, created_at, last_used_at,
                      expires_at, counted)
SELECT '10000000-0000-4000-8000-' || lpad(i::text, 12, '0'),
       '00000000-0000-4000-8000-' || lpad((i % {users})::text, 12, '0'), 1, 1, {now}, {now},
       {now} + 86400, true
FROM generate_series(0, {sessions} - 1) AS i;
UPDATE security_config SET cur_sessions = cur_sessions + {sessions},
                           cur_users = cur_users + {users};
COMMIT;
ANALYZE;
"""

# Active sessions and users by a full scan: the truth the live counts must match, and what a
# rotation that counts by scanning would pay.
SCAN = """
SELECT count(*), count(DISTINCT s.user_id) FROM sessions s
JOIN users u ON u.id = s.user_id CROSS JOIN security_config c
WHERE s.revoked_at IS NULL AND s.expires_at > {now} AND s.user_version = u.token_version
  AND (s.global_version = c.global_version
       OR (s.global_version = c.grace_version AND c.grace_ends_at > {now}))
"""

# The naive global rotation: one UPDATE marking every active session revoked (rolled back, so
# that the data stays as it was).
NAIVE_UPDATE = """
UPDATE sessions SET revoked_at = {now}, revoke_reason = 'naive global rotation'
WHERE revoked_at IS NULL AND expires_at > {now}
"""


class SqliteBackend:
    name = "sqlite"

    def __init__(self, workdir):
        self.workdir = workdir

    def database(self, name):
        self.path = Path(self.workdir) / name / "rotator.db"
        return None  # the server's default: sqlite in its own folder

    def seed(self, sessions, users):
        db = sqlite3.connect(self.path)
        db.executescript(SEED_SQLITE.format(sessions=sessions, users=users,
                                            now=int(time.time())))
        db.close()

    def scan(self):
        db = sqlite3.connect(self.path)
        start = time.perf_counter()
        row = db.execute(SCAN.format(now=int(time.time()))).fetchone()
        elapsed = (time.perf_counter() - start) * 1000
        db.close()
        return (row[0], row[1]), elapsed

    def naive_update_ms(self):
        db = sqlite3.connect(self.path)
        start = time.perf_counter()
        db.execute(NAIVE_UPDATE.format(now=int(time.time())))
        elapsed = (time.perf_counter() - start) * 1000
        db.rollback()
        db.close()
        return elapsed

    def stop(self):
        pass


class PostgresBackend:
    """A throwaway cluster of scripts/pg-cluster.sh; timings from psql's \\timing."""

    name = "postgresql"

    def __init__(self, workdir):
        self.cluster = tempfile.mkdtemp(prefix="rotator-bench-pg-")
        self.script = str(ROOT / "scripts" / "pg-cluster.sh")
        subprocess.run([self.script, "start", self.cluster], check=True, capture_output=True)

    def database(self, name):
        self.url = subprocess.run([self.script, "createdb", self.cluster, name.replace("-", "_")],
                                  check=True, capture_output=True, text=True).stdout.split()[0]
        return self.url

    def psql(self, sql):
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.url],
                             input="\\timing on\n" + sql, check=True, capture_output=True,
                             text=True).stdout
        times = [float(t) for t in re.findall(r"Time: ([\d.]+) ms", out)]
        rows = [line for line in out.splitlines() if line and not line.startswith("Time:")]
        return rows, times

    def seed(self, sessions, users):
        self.psql(SEED_POSTGRES.format(sessions=sessions, users=users, now=int(time.time())))

    def scan(self):
        rows, times = self.psql(SCAN.format(now=int(time.time())) + ";")
        count, users = rows[0].split("|")
        return (int(count), int(users)), times[0]

    def naive_update_ms(self):
        _, times = self.psql("BEGIN;\n" + NAIVE_UPDATE.format(now=int(time.time())) +
                             ";\nROLLBACK;\n")
        return times[1]  # BEGIN, UPDATE, ROLLBACK

    def stop(self):
        subprocess.run([self.script, "stop", self.cluster], capture_output=True)
        shutil.rmtree(self.cluster, ignore_errors=True)


def timed(fn, count, setup=lambda i: i):
    """Median and p99 of `count` calls of fn(setup(i)), in milliseconds; setup is not timed."""
    samples = []
    for i in range(count):
        arg = setup(i)
        start = time.perf_counter()
        fn(arg)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return {"median_ms": round(statistics.median(samples), 3), "p99_ms": round(p99, 3)}


def bench_throughput(workdir, seconds, repeat):
    nginx = Nginx(workdir)
    results = {"nginx_static": [], "rotator_verify_1_thread": [], "rotator_verify_2_threads": []}
    servers = {}
    try:
        for threads in (1, 2):
            server = Rotator(workdir, f"throughput-{threads}", threads)
            server.add_admin()
            server.start()
            servers[threads] = (server, server.login())
        for _ in range(repeat):
            results["nginx_static"].append(wrk(nginx.url, seconds))
            for threads, key in ((1, "rotator_verify_1_thread"), (2, "rotator_verify_2_threads")):
                server, token = servers[threads]
                results[key].append(wrk(server.base + "/auth/verify", seconds, token))
    finally:
        nginx.stop()
        for server, _ in servers.values():
            server.stop()
    return results


def bench_rotations(workdir, backend, size):
    name = f"rotations-{backend.name}-{size}"
    server = Rotator(workdir, name, 2, backend.database(name))
    server.add_admin()  # also creates the schema
    users = max(1, size // 3)
    backend.seed(size, users)
    server.start()
    try:
        token = server.login()
        result = {"backend": backend.name, "sessions": size, "users": users}
        result["user_rotation"] = timed(lambda i: call(
            "POST", f"{server.base}/token-rotation/users/00000000-0000-4000-8000-{i:012d}",
            {"reason": "benchmark user rotation"}, token), ROTATIONS)
        result["authenticated_request"] = timed(
            lambda i: call("GET", f"{server.base}/auth/verify", token=token), 200)

        # The first global rotation must report exactly what a full scan counts.
        admin = server.login()
        truth, scan_ms = backend.scan()
        first = call("POST", f"{server.base}/token-rotation/global",
                     {"reason": "benchmark global rotation, count check", "grace_period_minutes": 0},
                     admin)
        reported = (first["tokens_revoked"], first["users_affected"])
        if reported != truth:
            raise RuntimeError(f"global rotation reported {reported}, a full scan {truth}")
        result["full_scan_count_ms"] = round(scan_ms, 3)
        result["naive_update_ms"] = round(backend.naive_update_ms(), 3)

        # A global rotation ends the admin's own generation too: log in afresh before each.
        result["global_rotation"] = timed(lambda fresh_token: call(
            "POST", f"{server.base}/token-rotation/global",
            {"reason": "benchmark global rotation, timing only", "grace_period_minutes": 15},
            fresh_token), 10, setup=lambda i: server.login())
        return result
    finally:
        server.stop()


def print_table(report):
    t = report["throughput_rps"]
    nginx = statistics.median(t["nginx_static"])
    print("\nAuthenticated request (GET /auth/verify) beside nginx's static answer, requests/s")
    print(f"{'server':32} {'runs':>24} {'median':>10} {'vs nginx':>9}")
    for key, runs in t.items():
        med = statistics.median(runs)
        print(f"{key:32} {' '.join(f'{r:,.0f}' for r in runs):>24} {med:>10,.0f} "
              f"{med / nginx:>8.2f}x")
    print("\nRotations and an authenticated request, as a client on loopback sees them (ms),")
    print("beside a full scan counting the active sessions and the naive single-UPDATE rotation")
    print(f"{'backend':>10} {'sessions':>10} {'user p50':>9} {'user p99':>9} {'global p50':>11} "
          f"{'global p99':>11} {'auth p50':>9} {'auth p99':>9} {'scan':>9} {'naive UPDATE':>13}")
    for r in report["rotations"]:
        print(f"{r['backend']:>10} {r['sessions']:>10,} {r['user_rotation']['median_ms']:>9} "
              f"{r['user_rotation']['p99_ms']:>9} {r['global_rotation']['median_ms']:>11} "
              f"{r['global_rotation']['p99_ms']:>11} {r['authenticated_request']['median_ms']:>9} "
              f"{r['authenticated_request']['p99_ms']:>9} {r['full_scan_count_ms']:>9} "
              f"{r['naive_update_ms']:>13}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="rotator-bench-")
    backends = []
    try:
        report = {"machine": {"cores": os.cpu_count()},
                  "throughput_rps": bench_throughput(workdir, args.seconds, args.repeat),
                  "rotations": []}
        for make_backend in (SqliteBackend, PostgresBackend):
            if make_backend.name not in args.backends.split(","):
                continue
            backends.append(make_backend(workdir))
            for size in args.sizes.split(","):
                report["rotations"].append(bench_rotations(workdir, backends[-1], int(size)))
    finally:
        for backend in backends:
            backend.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out = ROOT / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    sys.exit(main())
