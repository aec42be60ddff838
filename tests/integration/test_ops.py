#!/usr/bin/env python3
"""keel under a service manager, without systemd as PID 1: the test plays the notify
socket (a unix datagram socket of its own, by path and in the abstract namespace) and checks
READY=1 / STATUS= / MAINPID=, RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 on
drain, and watchdog pings that stop while a shard's loop is stalled (the
KEEL_TEST_STALL_SHARD_MS test hook) and resume after; systemd-socket-activate hands keel its
listener (the fd named "http" of two); systemd-analyze verify passes deploy/keel.service and
deploy/keel.socket (and complains about a misspelled copy, so it does look); scripts/run.sh,
stopped by Ctrl-C, exits with keel's status 0 after keel drained; a fatal signal
in the main thread or a shard thread writes one JSON crash line with a backtrace and keel
dies of that signal.

Needs systemd-socket-activate and systemd-analyze (Debian package systemd, scripts/setup.sh):
missing, the tests fail.
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

TMP = tempfile.mkdtemp(prefix="keel-ops-test-")
SLACK = 3.0 if kit.ASAN else 1.0


class NotifySocket:
    """The supervisor's end of sd_notify: collects (monotonic time, message) datagrams."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "keel-ops-test-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(TMP, "notify-%d.sock" % time.monotonic_ns())
            self.sock.bind(self.env)
        self.sock.settimeout(0.1)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop:
            try:
                m = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), m))

    def all(self):
        with self.lock:
            return list(self.msgs)

    def wait_for(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, m in self.all():
                if pred(m):
                    return t, m
            time.sleep(0.02)
        raise AssertionError("no such notify message within %ss; got %r" % (timeout, self.all()))

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


def fields(msg):
    return dict(line.split("=", 1) for line in msg.split("\n") if "=" in line)


def test_notify_ready_status_reload_stopping():
    ns = NotifySocket()
    try:
        k = kit.Keel(env={"NOTIFY_SOCKET": ns.env, "KEEL_SHARDS": "2"}).start()
        try:
            t, m = ns.wait_for(lambda m: "READY=1" in m)
            f = fields(m)
            assert f.get("MAINPID") == str(k.proc.pid), m
            assert f.get("STATUS") == "serving on 127.0.0.1:%d, 2 shards" % k.port, m
            assert not any("STOPPING" in m or "RELOADING" in m for _, m in ns.all()), ns.all()
            # READY=1 comes once the listener is up and every shard started: it serves at once
            assert k.request()[0] == 200
            k.send_signal(signal.SIGHUP)
            t1, _ = ns.wait_for(lambda m: m.startswith("RELOADING=1\nMONOTONIC_USEC="))
            t2, m2 = ns.wait_for(lambda m: m.startswith("READY=1") and "MAINPID" not in m)
            assert t2 >= t1 and "STATUS=serving on" in m2, ns.all()
            assert k.request()[0] == 200
        finally:
            code = k.stop()
        assert code == 0, k.stderr()
        _, m = ns.wait_for(lambda m: "STOPPING=1" in m, timeout=1)
        assert k.proc.pid and "STATUS=draining" in m
        assert not any("WATCHDOG" in m for _, m in ns.all()), "pings without WATCHDOG_USEC: %r" % ns.all()
    finally:
        ns.close()


def test_notify_abstract_socket():
    ns = NotifySocket(abstract=True)
    try:
        with kit.Keel(env={"NOTIFY_SOCKET": ns.env, "KEEL_SHARDS": "1"}) as k:
            _, m = ns.wait_for(lambda m: "READY=1" in m)
            assert fields(m)["MAINPID"] == str(k.proc.pid), m
    finally:
        ns.close()


def pings(ns, t0, t1):
    return [t for t, m in ns.all() if m == "WATCHDOG=1" and t0 <= t < t1]


def test_watchdog_pings_only_while_every_shard_turns():
    ns = NotifySocket()
    # a 1 s watchdog: a ping every 500 ms; SIGUSR1 stalls shard 0 (of 2) for 3 s. (Shorter
    # intervals read scheduling delays of a busy 2-core machine as stalls.)
    env = {"NOTIFY_SOCKET": ns.env, "KEEL_SHARDS": "2", "WATCHDOG_USEC": "1000000",
           "KEEL_TEST_STALL_SHARD_MS": "3000"}
    try:
        with kit.Keel(env=env) as k:
            ns.wait_for(lambda m: "READY=1" in m)
            time.sleep(2.2)
            now = time.monotonic()
            healthy = pings(ns, now - 2.0, now)
            assert len(healthy) >= 3, "pings in 2 healthy seconds: %d (%r)\n%s" % (
                len(healthy), ns.all()[-10:], k.stderr()[-2000:])
            k.send_signal(signal.SIGUSR1)
            stalled_at = time.monotonic()
            time.sleep(4.5 + SLACK)
            # the loop stops turning right after the signal; one check may still see the
            # turns made before it (<= 500 ms + a tick), then nothing until the 3 s passed
            quiet = pings(ns, stalled_at + 0.7, stalled_at + 2.9)
            assert not quiet, "pings while shard 0 was stalled: %r" % quiet
            after = pings(ns, stalled_at + 3.1, time.monotonic())
            assert len(after) >= 2, "pings did not resume after the stall: %r" % ns.all()[-10:]
            assert "withholding the watchdog ping" in k.stderr(), k.stderr()[-2000:]
            assert k.request()[0] == 200
        # a WATCHDOG_PID of another process: that watchdog is not ours
        ns2 = NotifySocket()
        try:
            env2 = {"NOTIFY_SOCKET": ns2.env, "KEEL_SHARDS": "1", "WATCHDOG_USEC": "1000000",
                    "WATCHDOG_PID": "1"}
            with kit.Keel(env=env2):
                ns2.wait_for(lambda m: "READY=1" in m)
                time.sleep(1.0)
                assert not any(m == "WATCHDOG=1" for _, m in ns2.all()), ns2.all()
        finally:
            ns2.close()
    finally:
        ns.close()


def tool(name):
    path = shutil.which(name)
    assert path, "%s is missing: scripts/setup.sh installs the Debian package systemd" % name
    return path


def http_get(port, path="/health", timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(kit.build("GET", path, close=True))
        return kit.read_response(s)


def test_socket_activation():
    act = tool("systemd-socket-activate")
    other, port, admin = kit.free_port(), kit.free_port(), kit.free_port()
    bound = kit.free_port()  # what keel would bind by itself: it must not
    err = tempfile.TemporaryFile()
    # the admin listener's own address is taken by nobody: keel must serve the fd named admin
    env = dict(os.environ, PORT=str(bound), KEEL_LISTEN="127.0.0.1", KEEL_SHARDS="2",
               KEEL_ADMIN_LISTEN="127.0.0.1:%d" % kit.free_port())
    cmd = [act, "-l", "127.0.0.1:%d" % other, "-l", "127.0.0.1:%d" % port, "-l", "127.0.0.1:%d" % admin,
           "--fdname=admin-or-so:http:admin", "-E", "PORT", "-E", "KEEL_LISTEN", "-E", "KEEL_SHARDS",
           "-E", "KEEL_ADMIN_LISTEN"]
    if kit.ASAN:
        cmd += ["-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS"]
    p = subprocess.Popen(cmd + [kit.KEEL_BIN], env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline:  # the first connection starts keel
            try:
                status = http_get(port)[0]
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200, "no answer on the activated socket"
        for _ in range(20):
            assert http_get(port)[0] == 200
        st, _, body = http_get(admin, "/metrics")  # the activated admin socket
        assert st == 200 and b"http_requests_total" in body, (st, body[:200])
        try:
            socket.create_connection(("127.0.0.1", bound), timeout=1).close()
            raise AssertionError("keel bound PORT although it was handed a socket")
        except ConnectionRefusedError:
            pass
        log = kit.written(err)
        assert '"socket":"systemd"' in log and '"address":"127.0.0.1:%d"' % port in log, log
        assert '"msg":"ignoring a socket-activated fd keel has no use for","fd":3,"name":"admin-or-so"' in log, log
    finally:
        p.send_signal(signal.SIGTERM)
        code = p.wait(20)
    assert code == 0, code


def test_socket_activation_refuses_a_non_listening_fd():
    # LISTEN_FDS names fd 3, which is a plain file here: a clear error, not a crash
    path = os.path.join(TMP, "notasocket")
    open(path, "w").close()
    cmd = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" 3<"$1"', kit.KEEL_BIN, path]
    e = dict(os.environ, PORT=str(kit.free_port()), KEEL_SHARDS="1", KEEL_ADMIN_LISTEN="off")
    r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "socket-activated fd 3 is not a stream socket" in r.stderr, r.stderr


def test_run_sh_ctrl_c_exits_with_keels_status():
    # The quick start's scripts/run.sh, stopped as a user stops it: Ctrl-C reaches the
    # script and keel (the terminal's whole process group). keel drains and exits 0, and so
    # must the script, not with the 130 of the `wait` that the signal interrupted.
    if kit.ASAN:
        raise kit.Skip("scripts/run.sh runs zig-out/bin/keel, the normal build")
    port = kit.free_port()
    env = dict(os.environ, PORT=str(port), KEEL_LISTEN="127.0.0.1", KEEL_ADMIN_LISTEN="off", KEEL_SHARDS="2",
               DATABASE_URL=kit.pg("url", "unix").strip())  # set: the script leaves the cluster alone
    out = tempfile.TemporaryFile()
    p = subprocess.Popen(["bash", os.path.join(kit.ROOT, "scripts", "run.sh")], env=env, stdout=out, stderr=out,
                         start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # setup.sh and a build with nothing to do come first
        status = None
        while time.monotonic() < deadline and p.poll() is None and status != 200:
            try:
                status = http_get(port, "/api/bounties/42")[0]
            except OSError:
                time.sleep(0.2)
        assert status == 200, (status, p.poll(), kit.written(out)[-3000:])
        os.killpg(p.pid, signal.SIGINT)
        code = p.wait(30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    log = kit.written(out)
    assert '"msg":"draining"' in log and '"msg":"stopped"' in log, log[-3000:]
    assert code == 0, (code, log[-3000:])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise AssertionError("keel still serves after the script exited")
    except ConnectionRefusedError:
        pass


def test_unit_files_verify():
    analyze = tool("systemd-analyze")
    d = os.path.join(TMP, "units")
    os.makedirs(d, exist_ok=True)
    for name in ("keel.service", "keel.socket"):
        with open(os.path.join(kit.ROOT, "deploy", name)) as f:
            text = f.read()
        # verify checks ExecStart's binary exists: point it at the one we built
        text = text.replace("ExecStart=/usr/local/bin/keel", "ExecStart=" + os.path.abspath(kit.KEEL_BIN))
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    svc = open(os.path.join(d, "keel.service")).read()
    for key in ("Type=notify", "NotifyAccess=all", "WatchdogSec=", "Restart=on-failure", "LimitNOFILE=",
                "DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                "PrivateTmp=yes", "\nCapabilityBoundingSet=\n", "EnvironmentFile=",
                "ExecReload=/bin/kill -USR2 $MAINPID"):
        assert key in svc, key
    r = subprocess.run([analyze, "verify", os.path.join(d, "keel.socket"), os.path.join(d, "keel.service")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (r.returncode, r.stdout, r.stderr)
    # the same check on a misspelled copy complains: it does read the files
    with open(os.path.join(d, "keel.service"), "w") as f:
        f.write(svc.replace("WatchdogSec=", "WatchdogSecs="))
    r = subprocess.run([analyze, "verify", os.path.join(d, "keel.socket"), os.path.join(d, "keel.service")],
                       capture_output=True, text=True, timeout=60)
    assert "Unknown key" in r.stderr and "WatchdogSecs" in r.stderr, r.stderr


def crash_lines(text):
    return [r for r in kit.log_records(text) if r.get("msg") == "fatal signal"]


# ASan takes SIGSEGV/SIGABRT for its own reports: under it, keel's handler is the one
# wanted here, so ASan leaves these signals alone.
CRASH_ENV = {"ASAN_OPTIONS": "handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:"
                             "detect_leaks=0"} if kit.ASAN else {}


def test_crash_line_main_thread():
    k = kit.Keel(env=dict(CRASH_ENV, KEEL_SHARDS="2")).start()
    try:
        os.kill(k.proc.pid, signal.SIGSEGV)
        code = k.wait(20)
    finally:
        if k.proc.poll() is None:
            k.proc.kill()
    assert code == -signal.SIGSEGV, code  # died of the signal: non-zero, core where enabled
    lines = crash_lines(k.stderr())
    assert len(lines) == 1, k.stderr()[-3000:]
    c = lines[0]
    assert c["signal"] == "SIGSEGV" and c["level"] == 60 and c["pid"] == k.proc.pid, c
    assert c["sender_pid"] == os.getpid(), c
    assert len(c["backtrace"]) >= 2 and all(re.search(r"\[0x[0-9a-f]+\]$", f) for f in c["backtrace"]), c


def shard_tid(pid, name):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() == name:
                    return int(tid)
        except OSError:
            pass
    raise AssertionError("no thread %s in %d" % (name, pid))


def test_crash_line_shard_thread():
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_tgkill = 234  # x86_64
    k = kit.Keel(env=dict(CRASH_ENV, KEEL_SHARDS="2")).start()
    try:
        tid = shard_tid(k.proc.pid, "keel-shard-1")
        assert libc.syscall(SYS_tgkill, k.proc.pid, tid, signal.SIGABRT) == 0
        code = k.wait(20)
    finally:
        if k.proc.poll() is None:
            k.proc.kill()
    assert code == -signal.SIGABRT, code
    lines = crash_lines(k.stderr())
    assert len(lines) == 1, k.stderr()[-3000:]
    c = lines[0]
    assert c["signal"] == "SIGABRT" and c["shard"] == 1 and c["thread"] == "keel-shard-1", c
    assert len(c["backtrace"]) >= 2, c


if __name__ == "__main__":
    try:
        kit.main(globals())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
