"""rotator's benchmarks: throughput of an authenticated request beside nginx, and the latency
of rotations at several database sizes. Prints one table and writes build/bench.json.

Everything runs on this machine, on loopback, and stops by itself. The machines are shared and
noisy: read the ratios within one run, not the absolute numbers.

Usage: python3 bench/run.py [--sizes 10000,1000000] [--seconds 5] [--repeat 2]
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
    def __init__(self, workdir, name, threads):
        self.dir = Path(workdir) / name
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.env = dict(os.environ,
                        ROTATOR_DATABASE=f"sqlite:{self.dir}/rotator.db",
                        ROTATOR_LISTEN=f"127.0.0.1:{self.port}",
                        ROTATOR_THREADS=str(threads),
                        ROTATOR_LOG_LEVEL="warning")
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


def seed_sqlite(db_path, sessions):
    """Adds `sessions` active sessions, three per user, straight into the database, with the
    live counts (src/store/counts.h) that rotator would have kept for them."""
    users = max(1, sessions // 3)
    now = int(time.time())
    db = sqlite3.connect(db_path)
    db.executescript(f"""
        BEGIN;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {users})
        INSERT INTO users (id, email, password_hash, role, token_version, created_at,
                           slot0_gen, slot0_count)
        SELECT printf('00000000-0000-4000-8000-%012d', i), printf('seed%d@example.com', i),
               'x', 'user', 1, {now}, 1, 0 FROM n;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {sessions})
        INSERT INTO sessions (id, user_id, user_version, global_version, created_at,
                              last_used_at, expires_at, counted)
        SELECT printf('10000000-0000-4000-8000-%012d', i),
               printf('00000000-0000-4000-8000-%012d', i % {users}), 1, 1, {now}, {now},
               {now} + 86400, 1 FROM n;
        UPDATE users SET slot0_count = {sessions} / {users}
                                       + (CAST(substr(id, 25) AS INTEGER) < {sessions} % {users})
        WHERE email LIKE 'seed%';
        UPDATE security_config SET cur_sessions = cur_sessions + {sessions},
                                   cur_users = cur_users + {users};
        COMMIT;
    """)
    db.close()
    return users


def scan_active(db_path):
    """Active sessions and users by a full scan, and how long the scan took (ms)."""
    db = sqlite3.connect(db_path)
    start = time.perf_counter()
    row = db.execute("""
        SELECT count(*), count(DISTINCT s.user_id) FROM sessions s
        JOIN users u ON u.id = s.user_id, security_config c
        WHERE s.revoked_at IS NULL AND s.expires_at > strftime('%s', 'now')
          AND s.user_version = u.token_version
          AND (s.global_version = c.global_version
               OR (s.global_version = c.grace_version
                   AND c.grace_ends_at > strftime('%s', 'now')))""").fetchone()
    elapsed = (time.perf_counter() - start) * 1000
    db.close()
    return (row[0], row[1]), elapsed


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


def bench_rotations(workdir, size):
    server = Rotator(workdir, f"rotations-{size}", 2)
    server.add_admin()  # also creates the schema
    users = seed_sqlite(server.dir / "rotator.db", size)
    server.start()
    try:
        token = server.login()
        result = {"sessions": size, "users": users}
        result["user_rotation"] = timed(lambda i: call(
            "POST", f"{server.base}/token-rotation/users/00000000-0000-4000-8000-{i:012d}",
            {"reason": "benchmark user rotation"}, token), ROTATIONS)
        # The first global rotation must report exactly what a full scan counts (timed too:
        # the scan is what a naive rotation would cost at this size).
        admin = server.login()
        truth, scan_ms = scan_active(server.dir / "rotator.db")
        first = call("POST", f"{server.base}/token-rotation/global",
                     {"reason": "benchmark global rotation, count check", "grace_period_minutes": 0},
                     admin)
        reported = (first["tokens_revoked"], first["users_affected"])
        if reported != truth:
            raise RuntimeError(f"global rotation reported {reported}, a full scan {truth}")
        result["full_scan_count_ms"] = round(scan_ms, 3)
        # A global rotation ends the admin's own generation too: log in afresh before each.
        result["global_rotation"] = timed(lambda fresh_token: call(
            "POST", f"{server.base}/token-rotation/global",
            {"reason": "benchmark global rotation, timing only", "grace_period_minutes": 15},
            fresh_token), 10, setup=lambda i: server.login())
        fresh = server.login()
        result["authenticated_request"] = timed(
            lambda i: call("GET", f"{server.base}/auth/verify", token=fresh), 200)
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
    print("\nRotation latency seen by a client on loopback (SQLite), milliseconds")
    print(f"{'sessions':>10} {'user median':>12} {'user p99':>9} {'global median':>14} "
          f"{'global p99':>11} {'auth median':>12} {'auth p99':>9} {'full scan':>10}")
    for r in report["rotations"]:
        print(f"{r['sessions']:>10,} {r['user_rotation']['median_ms']:>12} "
              f"{r['user_rotation']['p99_ms']:>9} {r['global_rotation']['median_ms']:>14} "
              f"{r['global_rotation']['p99_ms']:>11} {r['authenticated_request']['median_ms']:>12} "
              f"{r['authenticated_request']['p99_ms']:>9} {r['full_scan_count_ms']:>10}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="rotator-bench-")
    try:
        report = {"machine": {"cores": os.cpu_count()},
                  "throughput_rps": bench_throughput(workdir, args.seconds, args.repeat),
                  "rotations": [bench_rotations(workdir, int(s)) for s in args.sizes.split(",")]}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = ROOT / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    sys.exit(main())
