#!/usr/bin/env python3
"""Restarts that drop nothing (SIGUSR2): keel-bench in the open model at a fixed rate for
15 s against /health and a database route while keel is restarted 5 times: 0 failed
requests (no connection reset, refused or cut response), the rate held, every old keel
exited 0 and every restart was a new process serving the inherited socket. A request in
flight when the restart begins completes on the old keel with `Connection: close`. A new
binary that fails to start (the file replaced by a script exiting 1) leaves the old keel
serving, and putting a good binary back makes the next SIGUSR2 work.

The test makes itself a child subreaper, so the keels each restart starts (children of
the old keel) are reparented to it when their parent exits and their exit codes are seen.
Database: the private cluster (scripts/pg.sh, port $KEEL_PG_PORT).
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

TMP = tempfile.mkdtemp(prefix="keel-restart-test-")
BENCH = os.path.join(kit.ROOT, "zig-out", "bin", "keel-bench")
PR_SET_CHILD_SUBREAPER = 36
RATE = 500
RATE_CLOSE = 200  # the second load: a connection per request
URL = None
ROUTES = os.path.join(TMP, "routes")


def setup():
    global URL
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    kit.pg("start")
    # any database will do: the routes below touch no table (the bounties one needs a load)
    URL = re.sub(r"/[^/?]*(\?.*)?$", r"/postgres\1", kit.pg("url").strip())
    os.makedirs(ROUTES, exist_ok=True)
    with open(os.path.join(ROUTES, "echo.sql"), "w") as f:
        f.write("-- @route GET /db/echo\n-- @query n int default 0 min 0 max 1000000\n-- @returns one\n"
                "SELECT json_build_object('n', :n::int);\n")
    with open(os.path.join(ROUTES, "sleep.sql"), "w") as f:
        f.write("-- @route GET /db/sleep\n-- @query ms int default 0 min 0 max 5000\n-- @returns one\n"
                "SELECT json_build_object('slept', :ms::int) FROM pg_sleep(:ms::int / 1000.0);\n")


class Fleet:
    """The keel started by the test and the ones each SIGUSR2 starts after it: they share
    one stderr file, whose lines carry each one's pid."""

    def __init__(self, binary=None, env=None, ready=True):
        if URL is None:
            setup()
        self.port = kit.free_port()
        self.errpath = os.path.join(TMP, "keel-%d.log" % self.port)
        self.err = open(self.errpath, "wb")
        e = dict(os.environ, PORT=str(self.port), KEEL_LISTEN="127.0.0.1", KEEL_SHARDS="2",
                 DATABASE_URL=URL, KEEL_ROUTES=ROUTES, KEEL_DB_CONNS_PER_SHARD="1", KEEL_ADMIN_LISTEN="off")
        e.update(env or {})
        self.proc = subprocess.Popen([binary or kit.KEEL_BIN], env=e, stdout=subprocess.DEVNULL, stderr=self.err)
        self.pid = self.proc.pid
        self.exits = {}  # pid -> exit status of keels that ended
        if ready:
            self.wait_listening(self.pid)

    def log(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def lines(self):
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_listening(self, pid, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(l.get("pid") == pid and l.get("msg") == "keel ready" for l in self.lines()):
                return
            time.sleep(0.02)
        raise AssertionError("keel %d never listened: %s" % (pid, self.log()[-3000:]))

    def restart(self, timeout=30):
        """SIGUSR2 to the serving keel; returns once the new one serves (its pid)."""
        old = self.pid
        seen = len(self.lines())  # only what this signal starts
        os.kill(old, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for l in self.lines()[seen:]:
                if l.get("pid") == old and l.get("msg") == "SIGUSR2: starting a new keel":
                    new = l["child"]
                    self.wait_listening(new, deadline - time.monotonic())
                    self.pid = new
                    return new
            time.sleep(0.02)
        raise AssertionError("no restart: %s" % self.log()[-3000:])

    def reap(self, timeout=0):
        """Collects the exit status of every ended keel (ours or reparented to us)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                self.exits[pid] = os.waitstatus_to_exitcode(st)
                continue
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def wait_exit(self, pid, timeout=30):
        deadline = time.monotonic() + timeout
        while pid not in self.exits and time.monotonic() < deadline:
            self.reap(0.1)
        assert pid in self.exits, "keel %d did not exit: %s" % (pid, self.log()[-3000:])
        return self.exits[pid]

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        code = self.wait_exit(self.pid)
        self.err.close()
        return code


def get(port, path, keep=None):
    s = keep or socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(kit.build("GET", path, close=keep is None))
    return kit.read_response(s)


def sanitizer_clean(text):
    assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text, text[-3000:]


def test_restarts_under_load_drop_nothing():
    f = Fleet()
    try:
        scen = os.path.join(TMP, "mix.scenario")
        with open(scen, "w") as fh:
            fh.write("request 50 GET /health\nrequest 50 GET /db/echo?n={int:1:100000}\n")
        out = os.path.join(TMP, "bench.json")
        bench = subprocess.Popen([BENCH, "-r", str(RATE), "-d", "15s", "-c", "64", "-t", "1", "-q",
                                  "--timeout", "5s", "-s", scen, "--json", out,
                                  "http://127.0.0.1:%d" % f.port],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # and a new connection per request: every one goes through an accept, the part a
        # restart hands from one process to the other
        out2 = os.path.join(TMP, "bench-close.json")
        bench2 = subprocess.Popen([BENCH, "-r", str(RATE_CLOSE), "-d", "15s", "-c", "64", "-t", "1", "-q",
                                   "--timeout", "5s", "-H", "Connection: close", "--json", out2,
                                   "http://127.0.0.1:%d/health" % f.port],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pids = [f.pid]
        t0 = time.monotonic()
        for i in range(5):
            time.sleep(max(0.0, t0 + 1.5 + 2.5 * i - time.monotonic()))
            pids.append(f.restart())
        so, se = bench.communicate(timeout=60)
        assert bench.returncode == 0, (bench.returncode, so, se)
        so2, se2 = bench2.communicate(timeout=60)
        assert bench2.returncode == 0, (bench2.returncode, so2, se2)
        for old in pids[:-1]:
            assert f.wait_exit(old) == 0, "old keel %d exited %s: %s" % (old, f.exits[old], f.log()[-3000:])
        assert len(set(pids)) == 6, pids
        for path, target, err in ((out, RATE, se), (out2, RATE_CLOSE, se2)):
            with open(path) as fh:
                total = json.load(fh)["total"]
            errors = {k: v for k, v in total["errors"].items() if v}
            assert not errors, "errors during restarts: %r\n%s" % (errors, err)
            statuses = {k: v for k, v in total["status"].items() if not k.startswith("2")}
            assert not statuses, "non-2xx during restarts: %r" % statuses
            rate = total["responses"] / total["seconds"]
            print("restart: %s: %d responses, %.1f req/s (target %d), 5 restarts, pids %s" %
                  (os.path.basename(path), total["responses"], rate, target, pids), file=sys.stderr)
            assert rate >= target * 0.95, "rate %.1f req/s, target %d" % (rate, target)
        assert f.log().count('"socket":"inherited"') == 5, f.log()
        assert get(f.port, "/db/echo?n=7")[0] == 200
    finally:
        code = f.stop()
    assert code == 0, code
    sanitizer_clean(f.log())


def test_in_flight_request_finishes_with_connection_close():
    f = Fleet()
    try:
        s = socket.create_connection(("127.0.0.1", f.port), timeout=10)
        assert get(f.port, "/health", keep=s)[0] == 200  # a keep-alive connection to the old keel
        old = f.pid
        s.sendall(kit.build("GET", "/db/sleep?ms=1000"))
        time.sleep(0.2)
        new = f.restart()
        st, hdrs, body = kit.read_response(s)
        assert st == 200 and json.loads(body) == {"slept": 1000}, (st, body)
        assert hdrs.get("connection", "").lower() == "close", hdrs
        s.settimeout(5)
        assert s.recv(1) == b""  # closed after the answer
        s.close()
        assert f.wait_exit(old) == 0
        assert new != old and get(f.port, "/health")[0] == 200
    finally:
        assert f.stop() == 0
    sanitizer_clean(f.log())


def test_the_admin_listener_is_handed_over_too():
    # The old keel holds the admin address until it exits: the new one serves the socket it
    # was handed (KEEL_INHERIT_ADMIN_FD) instead of failing to bind it.
    aport = kit.free_port()
    f = Fleet(env={"KEEL_ADMIN_LISTEN": "127.0.0.1:%d" % aport})
    try:
        old = f.pid
        assert get(aport, "/metrics")[0] == 200
        for _ in range(2):
            prev = f.pid
            new = f.restart()
            assert new != prev and f.wait_exit(prev) == 0, f.log()[-3000:]
            st, _, body = get(aport, "/metrics")
            assert st == 200 and b"http_requests_total" in body, (st, body[:200])
        listening = [l for l in f.lines() if l.get("msg") == "keel listening" and l.get("pid") == f.pid]
        assert listening and listening[0]["admin"] == "127.0.0.1:%d" % aport, listening
        assert f.pid != old and get(f.port, "/health")[0] == 200
    finally:
        assert f.stop() == 0
    sanitizer_clean(f.log())


def test_broken_new_binary_leaves_the_old_one_serving():
    binary = os.path.join(TMP, "keel")
    shutil.copy(kit.KEEL_BIN, binary)
    f = Fleet(binary=binary)
    try:
        old = f.pid
        broken = binary + ".new"
        with open(broken, "w") as fh:
            fh.write("#!/bin/sh\necho 'broken build' >&2\nexit 1\n")
        os.chmod(broken, 0o755)
        os.rename(broken, binary)  # as a deploy does: a new file at the same path
        os.kill(old, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "restart failed" not in f.log():
            time.sleep(0.05)
        fail = [l for l in f.lines() if l.get("msg") == "restart failed; this keel keeps serving"]
        assert len(fail) == 1 and fail[0]["pid"] == old and fail[0]["exit_code"] == 1, f.log()[-3000:]
        assert "broken build" in f.log()
        for _ in range(10):
            assert get(f.port, "/db/echo?n=1")[0] == 200
        assert f.proc.poll() is None
        # a good binary back at the path: the next SIGUSR2 runs it
        shutil.copy(kit.KEEL_BIN, broken)
        os.rename(broken, binary)
        new = f.restart()
        assert new != old and f.wait_exit(old) == 0
        assert get(f.port, "/health")[0] == 200
    finally:
        assert f.stop() == 0
    sanitizer_clean(f.log())


def test_stop_during_a_restart_stops_the_new_keel_too():
    # a database nobody listens on: the new keel waits (up to 10 s) for a connection
    # before it reports ready, so the old one is stopped while the restart is under way
    dead = "postgresql://keel@127.0.0.1:%d/none" % kit.free_port()
    f = Fleet(env={"DATABASE_URL": dead, "KEEL_ROUTES": ""}, ready=False)
    deadline = time.monotonic() + 15
    while '"msg":"keel listening"' not in f.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(f.pid, signal.SIGUSR2)
    while "starting a new keel" not in f.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = [l for l in f.lines() if l.get("msg") == "SIGUSR2: starting a new keel"][0]["child"]
    time.sleep(1.0)
    assert f.stop() == 0
    assert f.wait_exit(child, timeout=20) == 0, f.log()[-3000:]
    assert "stopping before the new keel served; stopping it too" in f.log()
    sanitizer_clean(f.log())


if __name__ == "__main__":
    try:
        kit.main(globals())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
