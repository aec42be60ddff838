"""@rate and the per-address connection cap (issue 12, "Rate limits"): exact counts across
shards and connections, who a client is (its address, IPv6 by /64, the client a trusted
proxy names, the token's subject or a claim), the headers and the 429, refusals before the
body and the database, bounded memory under 100,000 addresses, a full table that refuses
newcomers without resetting anyone, and KEEL_MAX_CONNS_PER_IP.

Routes: tests/fixtures/ratelimit/routes (no schema of their own) and the bounties example's
search route, against the private cluster (scripts/pg.sh). Client sockets bind to other
loopback addresses (127.0.0.0/8 is all loopback on Linux) to be other clients.

Windows are fixed per client (ratelimit.h) and begin at an offset drawn from a per-process
secret, so a test that must stay inside one window first reads how long its window has
left (x-ratelimit-reset) and, when that is short, waits for the next one.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
ROUTES = os.path.join(ROOT, "tests", "fixtures", "ratelimit", "routes")
SECRET = "ratelimit-test-secret-0123456789abcdef"
SLACK = 3.0 if kit.ASAN else 1.0

kit.pg("start")
kit.pg("load")
URL = kit.pg("url").strip()


def keel(listen="127.0.0.1", routes=ROUTES, **env):
    base = {"KEEL_ROUTES": routes, "DATABASE_URL": URL, "KEEL_SHARDS": "1", "KEEL_JWT_SECRET": SECRET}
    base.update({k: str(v) for k, v in env.items()})
    k = Keel6(env=base, ready_path="/ready") if ":" in listen else kit.Keel(env=base, ready_path="/ready")
    k.env["KEEL_LISTEN"] = listen
    return k


class Keel6(kit.Keel):
    """keel listening on ::1."""

    def start(self, timeout=15):
        self.proc = __import__("subprocess").Popen([kit.KEEL_BIN] + self.args, env=self.env, stdout=self.out,
                                                   stderr=self.err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("keel exited at startup (%d): %s" % (self.proc.returncode, self.stderr()))
            try:
                with self.connect(timeout=1) as s:
                    s.sendall(kit.build("GET", self.ready_path))
                    if kit.read_response(s)[0] == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("keel did not become ready: " + self.stderr())

    def connect(self, timeout=10):
        return socket.create_connection(("::1", self.port), timeout=timeout)


def connect(k, src=None, timeout=10):
    """A connection to k from source address src (None: the default one)."""
    s = socket.socket(socket.AF_INET6 if isinstance(k, Keel6) else socket.AF_INET)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("::1" if isinstance(k, Keel6) else "127.0.0.1", k.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get(k, path, src=None, headers=None, method="GET"):
    """One request on a new connection from src; (status, headers, body)."""
    with connect(k, src) as s:
        s.sendall(kit.build(method, path, headers, close=True))
        return kit.read_response(s, head=method == "HEAD")


def token(sub, **claims):
    def b64(d):
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims.update({"sub": sub, "exp": int(time.time()) + 600})
    body = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(SECRET.encode(), (head + "." + body).encode(), hashlib.sha256).digest())
    return head + "." + body + "." + sig


def fresh_window(k, path, need_s, src=None, headers=None):
    """Waits until the client's window on path has at least need_s seconds left, learning
    how long it has from a request that costs one unit; returns that first response."""
    while True:
        st, h, b = get(k, path, src, headers)
        assert "x-ratelimit-reset" in h, (st, h)
        left = int(h["x-ratelimit-reset"])
        if left >= need_s:
            return st, h, b
        time.sleep(left + 0.2)  # the next window's budget is whole again


def statuses(k, path, n, src=None, headers=None):
    return [get(k, path, src, headers)[0] for _ in range(n)]


def shard_of(h):
    """The shard that answered, from a generated X-Request-Id (<time>-<pid>-<shard>-<n>)."""
    return int(h["x-request-id"].split("-")[2])


# ---- exactness ----------------------------------------------------------------------------

def test_exact_across_two_shards_and_four_connections():
    # 20/hour, cached: 4 keep-alive connections from one address, spread by the acceptor
    # over 2 shards, send 40 requests at once between them: exactly 20 pass, cache hits
    # included, whichever shard counted them.
    with keel(KEEL_SHARDS=2) as k:
        conns = [connect(k) for _ in range(4)]
        readers = [kit.Reader(s) for s in conns]
        shards = set()
        first = None
        for s, r in zip(conns, readers):  # one request each: which shard holds each connection
            s.sendall(kit.build("GET", "/rl/hour"))
            st, h, _ = r.response()
            shards.add(shard_of(h))
            first = first or h
        assert shards == {0, 1}, "the 4 connections did not reach both shards: %s" % shards
        if int(first["x-ratelimit-reset"]) < 60:  # one window must hold the whole test
            time.sleep(int(first["x-ratelimit-reset"]) + 0.2)
            for s, r in zip(conns, readers):
                s.sendall(kit.build("GET", "/rl/hour"))
                r.response()
        results = [[] for _ in conns]

        def run(i):
            for _ in range(9):
                conns[i].sendall(kit.build("GET", "/rl/hour"))
                st, h, _ = readers[i].response()
                results[i].append((st, h))
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = [st for r in results for st, _ in r]
        # 4 already counted, 36 more sent: 16 pass, 20 refused
        assert codes.count(200) == 16 and codes.count(429) == 20, codes
        for r in results:
            for st, h in r:
                assert h["ratelimit-policy"] == '"default";q=20;w=3600', h
                if st == 429:
                    assert h["x-ratelimit-remaining"] == "0" and int(h["retry-after"]) >= 1, h
        served = {shard_of(h) for r in results for st, h in r}
        assert served == {0, 1}, served
        for s in conns:
            s.close()


def test_each_address_has_its_own_budget():
    with keel() as k:
        for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            st, h, _ = fresh_window(k, "/rl/min5", 10, src)
            assert st == 200
            got = [st] + statuses(k, "/rl/min5", 5, src)
            assert got == [200] * 5 + [429], (src, got, h)


def test_ipv6_is_grouped_by_64():
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        raise kit.Skip("no IPv6 loopback")
    # keel on ::1: the peer ::1 counts as ::/64
    with keel(listen="::1") as k:
        st, h, _ = fresh_window(k, "/rl/min5", 10)
        got = [st] + statuses(k, "/rl/min5", 5)
        assert got == [200] * 5 + [429], got
    # behind a trusted proxy on ::1: two addresses of one /64 share a budget, another /64 has its own
    with keel(listen="::1", KEEL_TRUSTED_PROXIES="::1") as k:
        a, b, c = "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:3::1"
        fresh_window(k, "/rl/min5", 10, headers={"X-Forwarded-For": a})
        got = statuses(k, "/rl/min5", 2, headers={"X-Forwarded-For": a})
        got += statuses(k, "/rl/min5", 3, headers={"X-Forwarded-For": b})
        assert got == [200, 200, 200, 200, 429], got
        st, h, _ = fresh_window(k, "/rl/min5", 10, headers={"X-Forwarded-For": c})
        assert st == 200 and h["x-ratelimit-remaining"] == "4", h


# ---- who the client is ----------------------------------------------------------------------

def test_forwarded_headers_only_from_trusted_proxies():
    # No trusted proxies: whatever X-Forwarded-For says, the peer is the client.
    with keel() as k:
        fresh_window(k, "/rl/min5", 10, "127.0.0.5", {"X-Forwarded-For": "9.9.9.1"})
        got = [get(k, "/rl/min5", "127.0.0.5", {"X-Forwarded-For": "9.9.9.%d" % i})[0] for i in range(2, 7)]
        assert got == [200] * 4 + [429], got
    # 127.0.0.1 trusted: it speaks for its clients; 127.0.0.6 is not trusted.
    with keel(KEEL_TRUSTED_PROXIES="127.0.0.1/32, 10.0.0.0/8") as k:
        for client in ("9.9.9.1", "9.9.9.2"):
            st, h, _ = fresh_window(k, "/rl/min5", 10, headers={"X-Forwarded-For": client})
            assert h["x-ratelimit-remaining"] == "4", (client, h)
        # a client cannot spoof past its limit by writing hops of its own on the left
        fresh_window(k, "/rl/min5", 10, headers={"X-Forwarded-For": "9.9.9.3"})
        got = [get(k, "/rl/min5", headers={"X-Forwarded-For": "6.6.6.%d, 9.9.9.3" % i})[0] for i in range(5)]
        assert got == [200] * 4 + [429], got
        # a trusted proxy between them is stepped over
        st, h, _ = get(k, "/rl/min5", headers={"X-Forwarded-For": "9.9.9.3, 10.1.2.3"})
        assert st == 429, st
        # an untrusted peer's header is ignored: 127.0.0.6 is counted as itself
        fresh_window(k, "/rl/min5", 10, "127.0.0.6", {"X-Forwarded-For": "9.9.9.4"})
        got = [get(k, "/rl/min5", "127.0.0.6", {"X-Forwarded-For": "9.9.9.%d" % (10 + i)})[0] for i in range(5)]
        assert got == [200] * 4 + [429], got
    # RFC 7239 Forwarded, when keel is told proxies write that one
    with keel(KEEL_TRUSTED_PROXIES="127.0.0.1", KEEL_FORWARDED_HEADER="forwarded") as k:
        fwd = {"Forwarded": 'for=6.6.6.6, for="[2001:db8::5]:4711";proto=https'}
        fresh_window(k, "/rl/min5", 10, headers=fwd)
        got = statuses(k, "/rl/min5", 4, headers=fwd)
        got.append(get(k, "/rl/min5", headers={"Forwarded": "for=\"[2001:db8::77]\""})[0])  # same /64
        assert got == [200] * 4 + [429], got
        # X-Forwarded-For is not looked at then: the proxy itself is the client
        st, h, _ = get(k, "/rl/min5", headers={"X-Forwarded-For": "9.9.9.9"})
        assert st == 200 and h["x-ratelimit-remaining"] == "4", h


def test_subject_and_claim_keys():
    with keel() as k:
        alice, bob = {"Authorization": "Bearer " + token("alice")}, {"Authorization": "Bearer " + token("bob")}
        fresh_window(k, "/rl/user", 10, headers=alice)
        assert statuses(k, "/rl/user", 3, headers=alice) == [200, 200, 429]
        # another subject from the same address, and the address itself, have their own budgets
        st, h, _ = get(k, "/rl/user", headers=bob)
        assert st == 200 and h["x-ratelimit-remaining"] == "2", h
        st, h, _ = get(k, "/rl/user")
        assert st == 200, st
        # per claim.org: two users of one organisation share 2 a minute
        a1 = {"Authorization": "Bearer " + token("u1", org="acme")}
        a2 = {"Authorization": "Bearer " + token("u2", org="acme")}
        fresh_window(k, "/rl/org", 10, headers=a1)
        assert [get(k, "/rl/org", headers=a2)[0], get(k, "/rl/org", headers=a1)[0]] == [200, 429]
        st, _, _ = get(k, "/rl/org", headers={"Authorization": "Bearer " + token("u3", org="other")})
        assert st == 200


# ---- headers and the 429 -------------------------------------------------------------------

def test_headers_and_the_429():
    with keel() as k:
        st, h, _ = fresh_window(k, "/rl/min5", 10, "127.0.0.7")
        assert st == 200
        assert h["ratelimit-policy"] == '"default";q=5;w=60', h
        m = re.fullmatch(r'"default";r=4;t=(\d+)', h["ratelimit"])
        assert m and 10 <= int(m.group(1)) <= 60, h
        assert h["x-ratelimit-limit"] == "5" and h["x-ratelimit-remaining"] == "4", h
        assert h["x-ratelimit-reset"] == m.group(1), h
        assert "retry-after" not in h
        # every response of the route carries them: 400s and HEAD too
        st, h, _ = get(k, "/rl/min5?n=x", "127.0.0.7")
        assert st == 400 and h["x-ratelimit-remaining"] == "3", (st, h)
        st, h, _ = get(k, "/rl/min5", "127.0.0.7", method="HEAD")
        assert st == 200 and h["x-ratelimit-remaining"] == "2", (st, h)
        statuses(k, "/rl/min5", 2, "127.0.0.7")
        st, h, body = get(k, "/rl/min5", "127.0.0.7")
        assert st == 429, st
        assert h["content-type"] == "application/json", h
        retry = int(h["retry-after"])
        assert 1 <= retry <= 60 and h["x-ratelimit-reset"] == str(retry), h
        assert h["ratelimit"] == '"default";r=0;t=%d' % retry and h["x-ratelimit-remaining"] == "0", h
        assert json.loads(body) == {"statusCode": 429, "error": "Too Many Requests",
                                    "message": "Rate limit exceeded, retry in %d second%s" % (retry, "" if retry == 1 else "s")}
        # a route without @rate says nothing of limits
        st, h, _ = get(k, "/rl/free")
        assert st == 200 and not [x for x in h if "ratelimit" in x], h


def burst_state(h):
    m = re.fullmatch(r'"default";r=(\d+);t=(\d+), "burst";r=(\d+);t=(\d+)', h["ratelimit"])
    assert m, h
    return [int(x) for x in m.groups()]


def test_burst_is_a_second_shorter_window():
    # 10 a minute, burst 3: also at most 3 per 18 s window
    with keel() as k:
        for _ in range(5):  # until a burst window's first request, with 5 s left in it
            st, h, _ = get(k, "/rl/burst", "127.0.0.8")
            assert h["ratelimit-policy"] == '"default";q=10;w=60, "burst";q=3;w=18', h
            d_r, d_t, b_r, b_t = burst_state(h)
            if st == 200 and b_r == 2 and b_t >= 5:
                break
            time.sleep(b_t + 0.2)
        assert b_r == 2 and b_t >= 5, h
        # the burst window is the tighter one: x-ratelimit-* speak of it
        assert h["x-ratelimit-limit"] == "3" and h["x-ratelimit-remaining"] == "2", h
        got = statuses(k, "/rl/burst", 3, "127.0.0.8")
        assert got == [200, 200, 429], got
        st, h, body = get(k, "/rl/burst", "127.0.0.8")
        assert st == 429 and re.fullmatch(r'"burst";r=0;t=\d+', h["ratelimit"]), h  # the refusing policy alone
        assert h["ratelimit-policy"] == '"default";q=10;w=60, "burst";q=3;w=18', h  # the same on every response
        assert h["x-ratelimit-limit"] == "3" and h["x-ratelimit-remaining"] == "0", h
        assert int(h["retry-after"]) <= b_t, (h, b_t)
        # the refusals did not count against the minute: the next burst window's first
        # request finds the minute 4 down from where the first request left it (or a new minute)
        time.sleep(int(h["retry-after"]) + 0.2)
        st, h, _ = get(k, "/rl/burst", "127.0.0.8")
        assert st == 200, st
        d_r2, _, b_r2, _ = burst_state(h)
        assert b_r2 == 2 and d_r2 in (d_r - 3, 9), (d_r, d_r2, h)


def post_echo(k, src, head_only=False):
    with connect(k, src) as s:
        s.sendall(b'POST /rl/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n' +
                  (b'Content-Length: 1000\r\n\r\n' if head_only else b'Content-Length: 2\r\n\r\n{}'))
        r = kit.Reader(s)
        st, h, _ = r.response()
        return st, h, r.at_eof() if head_only else None


def test_refused_before_the_body_and_the_database():
    with keel() as k:
        # POST with a body, 2 a minute: the third is refused before its body is sent or read
        while True:
            st, h, _ = post_echo(k, "127.0.0.9")
            if st == 200 and int(h["x-ratelimit-reset"]) >= 10:
                break
            time.sleep(int(h["x-ratelimit-reset"]) + 0.2)
        assert post_echo(k, "127.0.0.9")[0] == 200
        st, h, closed = post_echo(k, "127.0.0.9", head_only=True)  # and the body never comes
        assert st == 429 and h.get("connection") == "close" and closed, (st, h)
        # a query that sleeps 3 s, 1 an hour: the second request is refused at once
        for _ in range(2):
            t0 = time.monotonic()
            st, h, _ = get(k, "/rl/slow", "127.0.0.10")
            assert st == 200 and time.monotonic() - t0 >= 2.5, st
            if int(h["x-ratelimit-reset"]) >= 10:
                break
            time.sleep(int(h["x-ratelimit-reset"]) + 0.2)  # the hour is ending: use the next one
        t0 = time.monotonic()
        st, _, _ = get(k, "/rl/slow", "127.0.0.10")
        assert st == 429 and time.monotonic() - t0 < 1.0 * SLACK, (st, time.monotonic() - t0)


def test_the_example_search_route_allows_20_a_minute():
    routes = os.path.join(ROOT, "examples", "bounties", "routes")
    with keel(routes=routes) as k:
        path = "/api/bounties/search?q=garden&limit=2"
        st, h, _ = fresh_window(k, path, 15, "127.0.0.11")
        assert st == 200 and h["ratelimit-policy"] == '"default";q=20;w=60', h
        got = statuses(k, path, 20, "127.0.0.11")
        assert got == [200] * 19 + [429], got


# ---- memory and a full table ---------------------------------------------------------------

def flood(k, path, addrs, batch=500):
    """One request per X-Forwarded-For address, pipelined in batches; returns the statuses."""
    out = []
    for i in range(0, len(addrs), batch):
        chunk = addrs[i:i + batch]
        data = b"".join(kit.build("GET", path, {"X-Forwarded-For": a}, close=(j == len(chunk) - 1))
                        for j, a in enumerate(chunk))
        with connect(k, timeout=60) as s:
            s.sendall(data)
            r = kit.Reader(s)
            for _ in chunk:
                out.append(r.response()[0])
    return out


def v4(i, first=11):
    return "%d.%d.%d.%d" % (first, (i >> 16) & 255, (i >> 8) & 255, i & 255)


def test_memory_is_bounded_under_100000_addresses():
    # 100,000 clients behind a trusted proxy, one request each: keel's memory grows by its
    # table (262,144 slots of 8 bytes, 2 MiB) and not with the clients; 100,000 more, with
    # the first ones' windows still open, add nothing (a few may be refused: the table is 78%
    # full then, and a new client whose 128 slots in reach are all taken gets 429; with 32,
    # about 1 in 250 runs refused one of the first 100,000 too).
    env = {"KEEL_TRUSTED_PROXIES": "127.0.0.1"}
    if kit.ASAN:  # ASan's quarantine holds freed memory back and would look like growth
        env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4").lstrip(":")
    with keel(**env) as k:
        flood(k, "/rl/wide", [v4(i, 12) for i in range(5000)])  # warm: buffers, arenas, cache
        before = kit.rss_kib(k.proc.pid)
        got = flood(k, "/rl/wide", [v4(i) for i in range(100000)])
        mid = kit.rss_kib(k.proc.pid)
        assert got.count(200) == 100000, {c: got.count(c) for c in set(got)}
        more = flood(k, "/rl/wide", [v4(i, 14) for i in range(100000)])
        after = kit.rss_kib(k.proc.pid)
        assert more.count(200) + more.count(429) == 100000 and more.count(200) >= 99900, \
            {c: more.count(c) for c in set(more)}
        bound = (12 if kit.ASAN else 6) * 1024
        print("  RSS %d kB, after 100,000 addresses %d kB (+%d, bound %d), after 100,000 more %d kB (+%d)"
              % (before, mid, mid - before, bound, after, after - mid))
        assert mid - before < bound, "RSS grew by %d kB" % (mid - before)
        assert after - mid < 1536, "RSS grew by %d kB more" % (after - mid)


def test_a_full_table_refuses_newcomers_and_resets_nobody():
    # 64 slots (the smallest table): a victim uses 3 of its 5 an hour, 20,000 new addresses
    # arrive; most are refused for want of a slot, and the victim still has exactly 2 left.
    with keel(KEEL_TRUSTED_PROXIES="127.0.0.1", KEEL_RATE_LIMIT_SLOTS=64) as k:
        victim = {"X-Forwarded-For": "203.0.113.9"}
        st, h, _ = fresh_window(k, "/rl/few", 30, headers=victim)
        assert statuses(k, "/rl/few", 2, headers=victim) == [200, 200]
        got = flood(k, "/rl/few", [v4(i, 13) for i in range(20000)])
        assert got.count(429) > 19000 and got.count(200) + got.count(429) == 20000, {c: got.count(c) for c in set(got)}
        st, h, body = get(k, "/rl/few", headers={"X-Forwarded-For": "198.51.100.1"})
        assert st == 429 and "too many clients" in json.loads(body)["message"] and int(h["retry-after"]) >= 1, (st, h, body)
        assert statuses(k, "/rl/few", 3, headers=victim) == [200, 200, 429]


# ---- connections per address ---------------------------------------------------------------

def expect_503_at_once(k, src):
    with connect(k, src) as s:  # no request sent: the answer comes anyway
        r = kit.Reader(s)
        st, h, body = r.response()
        assert st == 503 and h.get("connection") == "close" and h.get("retry-after") == "1", (st, h)
        assert json.loads(body)["message"] == "too many open connections from this address"
        assert r.at_eof()


def test_connections_per_address_are_capped_across_shards():
    with keel(KEEL_SHARDS=2, KEEL_MAX_CONNS_PER_IP=3) as k:
        held = [connect(k, "127.0.0.20") for _ in range(3)]
        shards = set()
        for s in held:  # they work, and sit on both shards
            s.sendall(kit.build("GET", "/health"))
            st, h, _ = kit.Reader(s).response()
            assert st == 200
            shards.add(shard_of(h))
        assert shards == {0, 1}, shards
        expect_503_at_once(k, "127.0.0.20")
        expect_503_at_once(k, "127.0.0.20")
        st, _, _ = get(k, "/health", "127.0.0.21")  # another address has its own
        assert st == 200
        held.pop().close()
        deadline = time.monotonic() + 5 * SLACK
        while True:  # the closed one is counted out once keel sees it close
            with connect(k, "127.0.0.20") as s:
                s.sendall(kit.build("GET", "/health", close=True))
                st = kit.Reader(s).response()[0]
            if st == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert st == 200, st
        for s in held:
            s.close()
    # trusted proxies carry many clients: never capped
    with keel(KEEL_MAX_CONNS_PER_IP=1, KEEL_TRUSTED_PROXIES="127.0.0.22") as k:
        held = [connect(k, "127.0.0.22") for _ in range(3)]
        for s in held:
            s.sendall(kit.build("GET", "/health"))
            assert kit.Reader(s).response()[0] == 200
        for s in held:
            s.close()


def test_settings_are_checked_at_startup():
    for env, word in (({"KEEL_TRUSTED_PROXIES": "10.0.0.1/8"}, "10.0.0.1/8"),
                      ({"KEEL_TRUSTED_PROXIES": "proxy.local"}, "proxy.local"),
                      ({"KEEL_FORWARDED_HEADER": "x-real-ip"}, "x-forwarded-for or forwarded"),
                      ({"KEEL_RATE_LIMIT_SLOTS": "1000"}, "power of two"),
                      ({"KEEL_MAX_CONNS_PER_IP": "-1"}, "KEEL_MAX_CONNS_PER_IP")):
        code, err = kit.refuses_to_start(dict(env, KEEL_ROUTES=ROUTES, DATABASE_URL=URL, KEEL_JWT_SECRET=SECRET))
        assert code == 2 and word in err, (env, code, err)


if __name__ == "__main__":
    kit.main(globals())
