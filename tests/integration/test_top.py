#!/usr/bin/env python3
"""`keel top` in a real terminal: tmux (a detached session of fixed size, on a private
socket) runs `keel top --admin ...` against a keel serving the bounties example on the
private PostgreSQL with its admin listener on a free port, while keel-bench puts a bounded
two-stage load on two routes. capture-pane twice, in each stage: the screen names both route
patterns with non-zero requests/s and p50/p99, the figures differ between the captures (the
second stage runs at four times the rate), the pool and shard sections are drawn, and tmux
reports the alternate screen on. `q` (no Enter) ends it: the process exits 0, the pane is
back on the shell prompt with the alternate screen off, and `stty -a` shows canonical mode
and echo restored. Also: an admin endpoint that is down is shown as unreachable and picked
up once it comes up; Ctrl-Z gives the shell its terminal back (modes, main screen) and `fg`
brings the view back; Ctrl-C restores the terminal as q does; bad usage exits 2.

Needs tmux (scripts/setup.sh installs it): without it the test fails.
"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
BENCH = kit.BENCH_BIN
TMP = kit.scratch("keel-top-test-")
SECRET = "keel-top-test-secret-0123456789abcdefgh"
COLS, ROWS = 120, 40
K = None
ADMIN = None


class Tmux:
    """A tmux server of our own (its own socket), one detached session running a shell."""

    def __init__(self):
        self.tmux = shutil.which("tmux")
        assert self.tmux, "tmux is not installed (scripts/setup.sh installs it)"
        self.sock = os.path.join(TMP, "tmux-%d.sock" % len(os.listdir(TMP)))
        self.run("new-session", "-d", "-s", "t", "-x", str(COLS), "-y", str(ROWS),
                 "env PS1='READY$ ' TERM=xterm-256color bash --norc --noprofile")
        self.run("set-option", "-t", "t", "status", "off")
        self.wait_for(lambda s: "READY$" in s, "the shell prompt")

    def run(self, *args):
        p = subprocess.run([self.tmux, "-S", self.sock] + list(args), capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, "tmux %s: %s" % (" ".join(args), p.stderr)
        return p.stdout

    def send(self, *keys):
        self.run("send-keys", "-t", "t", *keys)

    def capture(self):
        return self.run("capture-pane", "-p", "-t", "t")

    def alternate_on(self):
        return self.run("display-message", "-p", "-t", "t", "#{alternate_on}").strip() == "1"

    def wait_for(self, pred, what, timeout=15):
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if pred(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; screen:\n%s" % (what, screen))

    def close(self):
        subprocess.run([self.tmux, "-S", self.sock, "kill-server"], capture_output=True, timeout=10)


def keel():
    global K, ADMIN
    if K is None:
        kit.pg("start")
        kit.pg("load")
        url = kit.pg("url").strip()
        K = kit.Keel(env={"KEEL_ROUTES": os.path.join(ROOT, "examples", "bounties", "routes"), "DATABASE_URL": url,
                          "KEEL_SHARDS": "2", "KEEL_JWT_SECRET": SECRET}, admin=True,
                     ready_path="/ready").start(timeout=30)
        ADMIN = "127.0.0.1:%d" % K.admin_port
    return K


def top_cmd(admin):
    return "%s top --admin %s; echo TOP-EXIT=$?" % (kit.KEEL_BIN, admin)


def route_row(screen, pred):
    """The figures (req/s, p50, p99, 4xx/s, 5xx/s, cache) of the first route-table row whose
    ROUTE satisfies pred, as text; None when there is none."""
    for line in screen.splitlines():
        cols = line.split()
        if len(cols) == 8 and cols[0] in ("GET", "HEAD", "POST", "-") and pred(cols[1]):
            return cols[2:]
    return None


ROUTES = {"/api/bounties/{id}": lambda r: r.startswith("/api/bounties/{id"),  # {id} or {id:int}
          "/api/bounties": lambda r: r == "/api/bounties"}


def rate(text):
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


def test_live_view_under_load():
    k = keel()
    scen = os.path.join(TMP, "two-routes.scenario")
    with open(scen, "w") as f:
        f.write("request 1 GET /api/bounties/{int:1:300}\nrequest 1 GET /api/bounties?limit=5\n")
    tm = Tmux()
    try:
        tm.send(top_cmd(ADMIN), "Enter")
        tm.wait_for(lambda s: "keel top" in s and "METHOD" in s, "keel top's first screen")
        assert tm.alternate_on(), "keel top does not draw on the alternate screen"
        out = {}
        load = threading.Thread(target=lambda: out.update(r=subprocess.run(
            [BENCH, "-q", "--stages", "40/s:5s,160/s:5s", "-c", "20", "-s", scen, "http://127.0.0.1:%d" % k.port],
            capture_output=True, text=True, timeout=60)))
        t0 = time.monotonic()
        load.start()
        # each capture once a whole scrape interval lies inside its stage
        time.sleep(max(0, t0 + 3.5 - time.monotonic()))
        first = tm.capture()
        time.sleep(max(0, t0 + 8.5 - time.monotonic()))
        second = tm.capture()
        load.join(70)
        r = out.get("r")
        assert r is not None and r.returncode == 0, "keel-bench: %s" % (r.stdout + r.stderr if r else "did not finish")
        print("---- first capture ----\n%s\n---- second capture ----\n%s" % (first, second), file=sys.stderr)
        figures = []
        for screen in (first, second):
            assert "unreachable" not in screen, screen
            rows = {}
            for name, pred in ROUTES.items():
                row = route_row(screen, pred)
                assert row, "no row for %s in:\n%s" % (name, screen)
                assert rate(row[0]) > 0, "%s shows no requests/s: %s" % (name, row)
                assert row[1] != "-" and row[2] != "-", "%s shows no p50/p99: %s" % (name, row)
                rows[name] = row
            assert re.search(r"^database\s+pool busy \d+\s+idle \d+", screen, re.M), screen
            assert re.search(r"^SHARD\s+CONNECTIONS\s+LOOP LAG", screen, re.M), screen
            figures.append(rows)
        # the second stage runs at four times the first one's rate: the screen follows it
        for name in ROUTES:
            a, b = rate(figures[0][name][0]), rate(figures[1][name][0])
            # each route gets half of 40/s, then half of 160/s
            assert b > 2 * a, "%s: %s req/s then %s req/s" % (name, a, b)
            assert 10 <= a <= 30 and 40 <= b <= 120, (name, a, b)
        assert first != second
        # q, no Enter: keel top ends and the shell is back with the terminal restored
        tm.send("q")
        screen = tm.wait_for(lambda s: re.search(r"^TOP-EXIT=\d+", s, re.M), "keel top to exit after q")
        assert re.search(r"^TOP-EXIT=0$", screen, re.M), screen
        assert not tm.alternate_on(), "the alternate screen is still on after q"
        assert "METHOD" not in screen, "keel top's screen was left behind:\n" + screen
        tm.send("stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo", "Enter")
        screen = tm.wait_for(lambda s: re.search(r"^(-?icanon|-?echo) (-?icanon|-?echo) *$", s, re.M), "stty's answer")
        assert re.search(r"^icanon echo *$", screen, re.M), "terminal modes not restored:\n" + screen
    finally:
        tm.close()


def test_unreachable_then_up_ctrl_z_and_ctrl_c():
    keel()
    port = kit.free_port()  # nothing listens here yet
    tm = Tmux()
    other = None
    try:
        tm.send(top_cmd("127.0.0.1:%d" % port), "Enter")
        screen = tm.wait_for(lambda s: "unreachable" in s, "the unreachable notice")
        assert "127.0.0.1:%d unreachable" % port in screen and "Connection refused" in screen, screen
        tm.wait_for(lambda s: re.search(r"\(([2-9]|\d\d+) failed scrapes", s), "retries being counted")
        # the endpoint comes up: keel top picks it up by itself
        other = kit.Keel(env={"KEEL_ADMIN_LISTEN": "127.0.0.1:%d" % port}).start(timeout=30)
        screen = tm.wait_for(lambda s: "METHOD" in s and "unreachable" not in s, "the view once keel is up")
        assert "keel top" in screen
        # Ctrl-Z: suspended with the terminal given back as it was; fg: the view again
        tm.send("C-z")
        screen = tm.wait_for(lambda s: "Stopped" in s and not tm.alternate_on(), "keel top suspended")
        tm.send("stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo", "Enter")
        screen = tm.wait_for(lambda s: re.search(r"^(-?icanon|-?echo) (-?icanon|-?echo) *$", s, re.M), "stty's answer")
        assert re.search(r"^icanon echo *$", screen, re.M), "terminal modes not restored on Ctrl-Z:\n" + screen
        tm.send("clear", "Enter")
        tm.wait_for(lambda s: "icanon" not in s, "a clear screen")
        tm.send("fg", "Enter")
        tm.wait_for(lambda s: "METHOD" in s and tm.alternate_on(), "the view after fg")
        # Ctrl-C ends it like q does, and restores the terminal (fg's status is keel top's)
        tm.send("C-c")
        tm.wait_for(lambda s: not tm.alternate_on() and s.rstrip().endswith("READY$"), "the prompt after Ctrl-C")
        tm.send("echo FG-EXIT=$?", "Enter")
        screen = tm.wait_for(lambda s: re.search(r"^FG-EXIT=\d+", s, re.M), "fg's exit status")
        assert re.search(r"^FG-EXIT=0$", screen, re.M), screen
        tm.send("stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo", "Enter")
        screen = tm.wait_for(lambda s: re.search(r"^(-?icanon|-?echo) (-?icanon|-?echo) *$", s, re.M), "stty's answer")
        assert re.search(r"^icanon echo *$", screen, re.M), "terminal modes not restored:\n" + screen
    finally:
        tm.close()
        if other:
            problem = other.stop_checked()
            assert not problem, problem


def test_bad_usage():
    for args, env, why in ((["--admin", "nonsense"], {}, "bad admin address"),
                           (["--admin", "127.0.0.1:99999"], {}, "bad admin address"),
                           (["--bogus"], {}, "unexpected argument"),
                           ([], {"KEEL_ADMIN_LISTEN": "off"}, "admin listener is off")):
        p = subprocess.run([kit.KEEL_BIN, "top"] + args, env=dict(os.environ, **env), capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and why in p.stderr, (args, p.returncode, p.stderr)
    # --once against a port where nothing listens: says so, exit 1, no terminal escapes
    p = subprocess.run([kit.KEEL_BIN, "top", "--once", "--admin", "127.0.0.1:%d" % kit.free_port()],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and "unreachable" in p.stdout and "\033" not in p.stdout, (p.returncode, p.stdout)


def servers():
    return [K] if K else []


if __name__ == "__main__":
    kit.main(globals(), servers)
