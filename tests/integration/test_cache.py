"""keel's response cache, invalidation, ETags and gzip, seen through responses: hits and
misses (the routes' SQL bumps a per-key counter and returns it as "execs"), TTL, Age and
Cache-Control, key normalization, stale-while-revalidate, request coalescing, invalidation
across shards and across two keel processes, writes racing in-flight fills, 304s, gzip
negotiation and round trips, HEAD, and the byte budget.

Setup (idempotent): `scripts/pg.sh start` and `load`, then tests/fixtures/cache_tests/schema.sql
(its own schema keel_cache_tests, loaded when the schema's comment does not hold this file's
hash). Rows and counters are per run: ids start at a random base and are deleted at the end.
Three keel processes serve tests/fixtures/cache_tests/routes: A and B (2 shards each, one
database: invalidation across processes) and C (1 shard, KEEL_CACHE_MB=1: coalescing and the
byte budget). Connections are placed on shards by keel's least-connections acceptor; the shard
a connection landed on is read from the X-Request-Id keel generates (time-pid-SHARD-n).
"""
import gzip
import hashlib
import json
import os
import random
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
PG_SH = kit.PG_SH
MINE = os.path.join(ROOT, "tests", "fixtures", "cache_tests")
SLACK = 3.0 if kit.ASAN else 1.0  # scheduling slack on top of every expected latency
FAST = 0.3 * SLACK                # "answered at once": well under every route's sleep
BASE = random.randrange(1, 1 << 40) * 100000  # this run's ids: BASE .. BASE + 99999
GZ = {"Accept-Encoding": "gzip"}

URL = None
A = B = C = None  # keel processes
_next_id = 0


# ---- setup ----------------------------------------------------------------------------

pg = kit.pg


def psql(sql, timeout=30):
    return kit.psql(URL, sql, timeout)


def keel_env(**kw):
    env = {"KEEL_ROUTES": os.path.join(MINE, "routes"), "DATABASE_URL": URL}
    env.update(kw)
    return env


def start_keel(**kw):
    k = kit.Keel(env=keel_env(**kw), ready_path="/ready").start(timeout=30)
    return k


def setup():
    global URL, A, B, C
    pg("start")
    pg("load")
    URL = pg("url").strip()
    schema = os.path.join(MINE, "schema.sql")
    want = "keel cache_tests " + hashlib.sha256(open(schema, "rb").read()).hexdigest()[:16]
    have = psql("SELECT coalesce(obj_description(to_regnamespace('keel_cache_tests'), 'pg_namespace'), '')")
    if have != want:
        kit.psql_file(URL, schema)
        psql("COMMENT ON SCHEMA keel_cache_tests IS '%s'" % want)
    psql("INSERT INTO keel_cache_tests.items (id, name) SELECT %d + g, 'n' || g FROM generate_series(0, 999) g"
         % BASE)
    A = start_keel(KEEL_SHARDS="2")
    B = start_keel(KEEL_SHARDS="2")
    C = start_keel(KEEL_SHARDS="1", KEEL_CACHE_MB="1")
    # /ready means one live database connection per shard; every later (re)connect clears
    # that shard's cache, so let the second connection of each shard come up first.
    time.sleep(0.5 * SLACK)


def cleanup():
    if URL is None:
        return
    psql("DELETE FROM keel_cache_tests.items WHERE id BETWEEN %d AND %d" % (BASE, BASE + 99999))
    psql("DELETE FROM keel_cache_tests.claims WHERE item_id BETWEEN %d AND %d" % (BASE, BASE + 99999))
    psql("DELETE FROM keel_cache_tests.execs WHERE substring(k from ':([0-9]+)')::bigint BETWEEN %d AND %d"
         % (BASE, BASE + 99999))


def nid():
    """A fresh item id of this run (its row exists, named 'n<offset>')."""
    global _next_id
    _next_id += 1
    assert _next_id < 1000
    return BASE + _next_id


def name_of(i):
    return psql("SELECT name FROM keel_cache_tests.items WHERE id = %d" % i)


def counter(key):
    """How many times the database executed the statement for key (0: never)."""
    v = psql("SELECT n FROM keel_cache_tests.execs WHERE k = '%s'" % key.replace("'", "''"))
    return int(v) if v else 0


# ---- helpers --------------------------------------------------------------------------

def shard_of(h):
    return int(h["x-request-id"].split("-")[2])


class Conn:
    """One keep-alive connection (so one shard) to a keel process."""

    def __init__(self, k, timeout=10):
        self.s = k.connect(timeout)
        self.r = kit.Reader(self.s)
        st, h, _ = self.req("GET", "/health")
        assert st == 200, st
        self.shard = shard_of(h)

    def req(self, method, path, headers=None, body=b""):
        self.s.sendall(kit.build(method, path, headers, body))
        return self.r.response(head=(method == "HEAD"))

    def get(self, path, headers=None):
        """GET that must answer 200: (headers, body bytes, seconds)."""
        t0 = time.monotonic()
        st, h, b = self.req("GET", path, headers)
        took = time.monotonic() - t0
        assert st == 200, (path, st, h, b[:300])
        return h, b, took

    def jget(self, path, headers=None):
        """GET that must answer 200 with a JSON body: (headers, parsed body, seconds)."""
        h, b, took = self.get(path, headers)
        assert h.get("content-type") == "application/json", h
        if h.get("content-encoding") == "gzip":
            b = gzip.decompress(b)
        return h, json.loads(b), took

    def post_json(self, path, obj):
        body = json.dumps(obj).encode()
        return self.req("POST", path, {"Content-Type": "application/json"}, body)

    def raw(self, data, nresp):
        """Sends raw request bytes and reads nresp responses."""
        self.s.sendall(data)
        return [self.r.response() for _ in range(nresp)]

    def close(self):
        self.s.close()


def shard_pair(k):
    """Two open connections on different shards of k (the acceptor gives each new
    connection to the shard with the fewest open ones)."""
    held = []
    try:
        for _ in range(8):
            held.append(Conn(k))
            other = [c for c in held if c.shard != held[0].shard]
            if other:
                a, b = held[0], other[0]
                for c in held:
                    if c is not a and c is not b:
                        c.close()
                return a, b
        raise AssertionError("8 connections, all on shard %d" % held[0].shard)
    except BaseException:
        for c in held:
            c.close()
        raise


def wait_until(fn, timeout, interval=0.05):
    """Calls fn until it returns a true value (returned) or timeout seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def sleep_until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


def max_age(h):
    m = re.fullmatch(r"public, max-age=(\d+)", h.get("cache-control", ""))
    assert m, "Cache-Control: %r" % h.get("cache-control")
    return int(m.group(1))


def filler(i, n):
    return "".join(hashlib.md5(("%d:%d" % (i, g)).encode()).hexdigest() for g in range(1, n + 1))


# ---- hits, misses, TTL, headers -------------------------------------------------------

def test_hit_then_hit_then_miss_after_ttl():
    c = Conn(A)
    try:
        i = nid()
        path = "/ct/ttl/%d" % i  # @cache 2s
        h1, j1, _ = c.jget(path)
        t_store = time.monotonic()
        e = j1["execs"]
        assert e == 1, j1  # this run's key: the first execution
        assert h1["age"] == "0", h1
        assert max_age(h1) in (1, 2), h1
        h2, j2, _ = c.jget(path)
        assert j2 == j1, (j1, j2)  # hit: no second execution
        sleep_until(t_store + 1.15)
        h3, j3, _ = c.jget(path)
        assert j3["execs"] == e, j3  # still fresh: same execution
        assert int(h3["age"]) >= 1 > int(h1["age"]), (h1, h3)  # Age grows
        assert max_age(h3) < max_age(h1), (h1, h3)  # max-age shrinks
        assert int(h3["age"]) + max_age(h3) <= 2, h3
        sleep_until(t_store + 2.2)
        h4, j4, _ = c.jget(path)
        assert j4["execs"] == e + 1, (j3, j4)  # expired: executed again
        assert h4["age"] == "0", h4
        assert counter("ttl:%d" % i) == 2
    finally:
        c.close()


def test_cache_control_and_age_headers():
    c = Conn(A)
    try:
        i = nid()
        h, j, _ = c.jget("/ct/items/%d" % i)  # @cache 30s
        assert j["name"] == name_of(i) and j["execs"] == 1, j
        assert max_age(h) in (29, 30) and h["age"] == "0", h
        time.sleep(1.1)
        h, j2, _ = c.jget("/ct/items/%d" % i)
        assert j2 == j, (j, j2)
        assert int(h["age"]) >= 1 and max_age(h) <= 29 and int(h["age"]) + max_age(h) in (29, 30), h
        assert "private" not in h["cache-control"], h
        # uncached route: validators but no freshness headers
        h, _, _ = c.jget("/ct/plain/%d" % i)
        assert "cache-control" not in h and "age" not in h, h
        assert "etag" in h, h
    finally:
        c.close()


def test_key_normalization():
    c = Conn(A)
    try:
        m = nid()
        nid(), nid()  # rows m+1, m+2 belong to this test's lists
        key = "list:%d:2:ab" % m
        _, j, _ = c.jget("/ct/items?min=%d&limit=2&q=ab" % m)
        assert j["execs"] == 1 and j["min"] == m and j["limit"] == 2 and j["q"] == "ab", j
        assert [x["id"] for x in j["items"]] == [m, m + 1], j
        for q in ("q=ab&limit=2&min=%d" % m,             # order of query parameters
                  "limit=2&min=%d&q=ab" % m,
                  "min=%d&limit=2&q=a%%62" % m,          # percent-encoding decoded first
                  "min=%d&limit=2&q=ab&unrelated=1" % m):  # undeclared parameters ignored
            _, j2, _ = c.jget("/ct/items?" + q)
            assert j2 == j, (q, j, j2)
        assert counter(key) == 1
        # defaults applied before the key is built: absent == given default
        _, d, _ = c.jget("/ct/items?min=%d" % m)
        assert d["limit"] == 3 and d["q"] == "" and d["execs"] == 1, d
        for q in ("min=%d&limit=3" % m, "limit=3&q=&min=%d" % m, "q=&min=%d" % m):
            _, d2, _ = c.jget("/ct/items?" + q)
            assert d2 == d, (q, d, d2)
        assert counter("list:%d:3:" % m) == 1
        # other values are other entries, each with its own body
        _, o, _ = c.jget("/ct/items?min=%d&limit=1&q=ab" % m)
        assert o["limit"] == 1 and len(o["items"]) == 1 and o["execs"] == 1, o
        _, o, _ = c.jget("/ct/items?min=%d&limit=2&q=ab" % (m + 1))
        assert o["min"] == m + 1 and o["items"][0]["id"] == m + 1 and o["execs"] == 1, o
        _, o, _ = c.jget("/ct/items?min=%d&limit=2&q=a+b" % m)  # '+' is a space
        assert o["q"] == "a b" and o["execs"] == 1, o
        _, o, _ = c.jget("/ct/items?min=%d&limit=2&q=a%%20b" % m)
        assert o["q"] == "a b" and o["execs"] == 1, o  # same key as '+'
        # the same id on two routes: two entries
        _, u, _ = c.jget("/ct/untagged/%d" % m)
        _, t, _ = c.jget("/ct/items/%d" % m)
        assert u["execs"] == 1 and t["execs"] == 1, (u, t)
        assert counter("untagged:%d" % m) == 1 and counter("item:%d" % m) == 1
    finally:
        c.close()


def test_not_found_is_not_cached():
    c = Conn(A)
    try:
        i = BASE + 5000  # no row
        for _ in range(2):
            st, h, b = c.req("GET", "/ct/items/%d" % i)
            assert st == 404, (st, b)
        st, h, b = c.req("GET", "/ct/items/%d" % i, {"If-None-Match": "*"})
        assert st == 404, (st, h)  # nothing to match: not a 304
        psql("INSERT INTO keel_cache_tests.items VALUES (%d, 'late')" % i)
        _, j, _ = c.jget("/ct/items/%d" % i)
        assert j["name"] == "late" and j["execs"] == 1, j
    finally:
        c.close()


# ---- stale-while-revalidate, coalescing -----------------------------------------------

def test_stale_while_revalidate():
    c = Conn(A)
    try:
        i = nid()
        ms = 600
        path = "/ct/swr/%d?ms=%d" % (i, ms)  # @cache 1s swr 2s; each execution sleeps 600 ms
        key = "swr:%d" % i
        _, j, took = c.jget(path)
        t_store = time.monotonic()
        e = j["execs"]
        assert took >= ms / 1000.0 - 0.05, took  # a miss waits for the query
        _, j2, took = c.jget(path)
        assert j2["execs"] == e and took < FAST, (j2, took)
        sleep_until(t_store + 1.2)
        # stale: the old body at once, Age past the TTL, max-age 0; one refresh starts
        for n in range(5):
            h, j3, took = c.jget(path)
            assert j3["execs"] == e, (n, j3)
            assert took < FAST, (n, took)
            assert int(h["age"]) >= 1 and max_age(h) == 0, (n, h)
            time.sleep(0.05)
        # the refreshed entry replaces the stale one once its query is done
        got = wait_until(lambda: c.jget(path)[1]["execs"] != e, 2.0 * SLACK)
        assert got, "the stale entry was never refreshed"
        t_refresh = time.monotonic()
        h, j4, took = c.jget(path)
        assert j4["execs"] == e + 1, j4  # exactly one refresh for all those stale hits
        assert took < FAST and max_age(h) in (0, 1) and h["age"] == "0", (took, h)
        assert counter(key) == e + 1
        # past TTL + swr the entry is gone: a synchronous miss
        sleep_until(t_refresh + 3.3)
        _, j5, took = c.jget(path)
        assert j5["execs"] == e + 2, j5
        assert took >= ms / 1000.0 - 0.05, took
        assert counter(key) == e + 2
    finally:
        c.close()


def concurrent_gets(k, path, n, timeout):
    """n connections each send GET path at the same moment; returns [(status, body, secs)]."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def one(idx):
        try:
            with k.connect(timeout) as s:
                barrier.wait(10)
                t0 = time.monotonic()
                s.sendall(kit.build("GET", path, close=True))
                st, h, b = kit.read_response(s)
                out[idx] = (st, b, time.monotonic() - t0)
        except Exception as e:  # reported through out[]
            out[idx] = ("error:%r" % e, b"", 0.0)

    threads = [threading.Thread(target=one, args=(x,)) for x in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 15)
    assert not any(t.is_alive() for t in threads), "requests still running"
    return out


def test_coalescing_concurrent_misses():
    i = nid()
    path = "/ct/slow/%d?ms=1000" % i
    res = concurrent_gets(C, path, 30, timeout=10)  # C has one shard: one cache
    assert all(r[0] == 200 for r in res), [r[:2] for r in res if r[0] != 200][:3]
    bodies = {r[1] for r in res}
    assert len(bodies) == 1, bodies
    j = json.loads(res[0][1])
    assert j == {"id": i, "execs": 1}, j
    assert counter("slow:%d" % i) == 1  # thirty cold requests, one database execution
    assert max(r[2] for r in res) < 1.0 + 1.5 * SLACK, sorted(r[2] for r in res)[-3:]


def test_failed_fill_is_shared_and_not_cached():
    i = nid()
    path = "/ct/slow/%d?ms=3000" % i  # past the route's 2 s statement timeout
    res = concurrent_gets(C, path, 5, timeout=10)
    assert all(r[0] == 504 for r in res), [r[:2] for r in res]
    for r in res:
        err = json.loads(r[1])
        assert err["statusCode"] == 504, err
    assert max(r[2] for r in res) < 2.0 + 1.5 * SLACK, [r[2] for r in res]
    c = Conn(C)
    try:
        t0 = time.monotonic()
        st, _, b = c.req("GET", path)
        took = time.monotonic() - t0
        assert st == 504 and took >= 1.5, (st, took, b)  # the error was not cached: ran again
        _, j, _ = c.jget("/ct/slow/%d?ms=0" % i)  # the route still works
        assert j["execs"] == 1, j
    finally:
        c.close()


# ---- invalidation ---------------------------------------------------------------------

def test_invalidation_across_shards():
    a, b = shard_pair(A)
    try:
        i, other = nid(), nid()
        lst = "/ct/items?min=%d&limit=2" % i  # rows i and other, tag "items"
        item, oth, unt = "/ct/items/%d" % i, "/ct/items/%d" % other, "/ct/untagged/%d" % i
        before = {}
        for c in (a, b):
            for p in (item, oth, unt, lst):
                h, j, _ = c.jget(p)
                before[c.shard, p] = (h["etag"], j)
        for c in (a, b):  # all hits now: each shard holds its own entries
            for p in (item, oth, unt, lst):
                h, j, _ = c.jget(p)
                assert j == before[c.shard, p][1], (c.shard, p, j)
        old = name_of(i)
        new = "renamed-%d" % i
        st, h, body = a.post_json(item, {"name": new})
        assert st == 200, (st, body)
        assert json.loads(body) == {"id": i, "name": new}, body
        # the writing shard evicted before answering: its client reads its own write
        _, j, _ = a.jget(item)
        assert j["name"] == new and j["execs"] > before[a.shard, item][1]["execs"], j
        _, j, _ = a.jget(lst)
        assert j["items"][0]["name"] == new, j  # the plain tag "items"
        # the other shard hears the NOTIFY
        t0 = time.monotonic()
        got = wait_until(lambda: b.jget(item)[1]["name"] == new, 2.0 * SLACK)
        delay = time.monotonic() - t0
        assert got, "shard %d still serves %r after %.1fs" % (b.shard, old, delay)
        _, j, _ = b.jget(lst)
        assert j["items"][0]["name"] == new, j
        # an old validator no longer matches the new representation
        st, h, body = b.req("GET", item, {"If-None-Match": before[b.shard, item][0]})
        assert st == 200 and json.loads(body)["name"] == new, (st, body)
        # entries whose tags were not invalidated survive on both shards
        for c in (a, b):
            _, j, _ = c.jget(oth)
            assert j == before[c.shard, oth][1], (c.shard, j)
            _, j, _ = c.jget(unt)
            assert j == before[c.shard, unt][1], (c.shard, j)  # untagged: still the old name
        print("  cross-shard invalidation seen after %.0f ms" % (delay * 1000))
    finally:
        a.close()
        b.close()


def test_failed_write_invalidates_nothing():
    a, b = shard_pair(A)
    try:
        i = nid()
        item = "/ct/items/%d" % i
        first = {c.shard: c.jget(item)[1] for c in (a, b)}
        st, h, body = a.post_json(item, {"name": None})  # NOT NULL: 23502 -> 400
        assert st == 400, (st, body)
        st, h, body = a.post_json(item, {"nom": "x"})
        assert st == 400, (st, body)
        time.sleep(0.3 * SLACK)  # a NOTIFY (there must be none) would have arrived
        for c in (a, b):
            _, j, _ = c.jget(item)
            assert j == first[c.shard], (c.shard, first[c.shard], j)
        assert name_of(i) == first[a.shard]["name"]
    finally:
        a.close()
        b.close()


def test_invalidation_across_processes():
    a, b = Conn(A), Conn(B)
    try:
        i, other = nid(), nid()
        pi, po = "/ct/items/%d" % i, "/ct/items/%d" % other
        on_a = {p: a.jget(p)[1] for p in (pi, po)}
        on_b = {p: b.jget(p)[1] for p in (pi, po)}
        for p in (pi, po):  # hits in both processes
            assert a.jget(p)[1] == on_a[p] and b.jget(p)[1] == on_b[p], p
        # a write through A evicts B's entry
        st, _, body = a.post_json(pi, {"name": "via-a-%d" % i})
        assert st == 200, (st, body)
        t0 = time.monotonic()
        got = wait_until(lambda: b.jget(pi)[1]["name"] == "via-a-%d" % i, 2.0 * SLACK)
        assert got, "B still serves the old name %.1fs after A's write" % (time.monotonic() - t0)
        d1 = time.monotonic() - t0
        assert b.jget(po)[1] == on_b[po], "B evicted an entry whose tag was not written"
        # and the other way round
        st, _, body = b.post_json(po, {"name": "via-b-%d" % other})
        assert st == 200, (st, body)
        t0 = time.monotonic()
        got = wait_until(lambda: a.jget(po)[1]["name"] == "via-b-%d" % other, 2.0 * SLACK)
        assert got, "A still serves the old name %.1fs after B's write" % (time.monotonic() - t0)
        print("  cross-process invalidation seen after %.0f / %.0f ms" % (d1 * 1000, (time.monotonic() - t0) * 1000))
    finally:
        a.close()
        b.close()


def test_write_during_fill_is_not_cached():
    """A fill whose statement started before a write committed carries the pre-write row;
    it must not be stored once that write's invalidation has been seen."""
    c1, c2 = Conn(C), Conn(C)  # C: one shard
    try:
        i = nid()
        path = "/ct/item_slow/%d?ms=1000" % i  # @tags item:{id}; snapshot before the sleep
        old, new = name_of(i), "during-fill-%d" % i
        first = {}
        t = threading.Thread(target=lambda: first.update(r=c1.jget(path)[1]))
        t.start()
        time.sleep(0.3)
        st, _, body = c2.post_json("/ct/items/%d" % i, {"name": new})
        assert st == 200, (st, body)
        t.join(10)
        assert first["r"]["name"] == old, first  # the fill began before the write
        _, j, took = c2.jget(path)
        assert j["name"] == new, ("the pre-write fill was cached after the write's invalidation: %r "
                                  "(answered in %.2fs)" % (j, took))
    finally:
        c1.close()
        c2.close()


def test_read_after_write_does_not_join_older_fill():
    """A client that has its write acknowledged reads its own write, even when a fill for
    the same key started before that write is still running."""
    c1, c2 = Conn(C), Conn(C)
    try:
        i = nid()
        path = "/ct/item_slow/%d?ms=1500" % i
        old, new = name_of(i), "after-write-%d" % i
        first = {}
        t = threading.Thread(target=lambda: first.update(r=c1.jget(path)[1]))
        t.start()
        time.sleep(0.3)
        st, _, body = c2.post_json("/ct/items/%d" % i, {"name": new})
        assert st == 200, (st, body)
        _, j, took = c2.jget(path)
        t.join(10)
        assert first["r"]["name"] == old, first
        assert j["name"] == new, ("read after an acknowledged write returned the pre-write row %r "
                                  "(coalesced onto the older fill, %.2fs)" % (j, took))
    finally:
        c1.close()
        c2.close()


def test_long_value_invalidates_its_tag_and_nothing_else():
    """A ~7 KB @invalidates value: its tags (name:{name}, was:{name}) travel as digests, so
    the NOTIFY stays small and the write commits. It evicts the entry cached under the same
    long name on both shards and in the other process, and nothing else: the payload used to
    pass PostgreSQL's 8000-byte limit and be replaced by "*", evicting everything everywhere."""
    a, b = shard_pair(A)
    pb = Conn(B)
    conns = (a, b, pb)
    try:
        i, j = nid(), nid()
        long_name = "%d-" % i + "L" * 6980
        by_name = "/ct/by_name/%d?name=%s" % (i, long_name)  # @tags name:{name}
        others = ("/ct/untagged/%d" % j, "/ct/items/%d" % j)
        before = {}
        for c in conns:
            for p in (by_name,) + others:
                before[c, p] = c.jget(p)[1]
            assert before[c, by_name]["named"] is False, before[c, by_name]
        for c in conns:  # all hits now
            for p in (by_name,) + others:
                assert c.jget(p)[1] == before[c, p], (c.shard, p)
        st, _, body = a.req("POST", "/ct/items/%d/rename?name=%s" % (i, long_name))
        assert st == 200 and json.loads(body)["name"] == long_name, (st, body[:200])
        assert name_of(i) == long_name
        assert a.jget(by_name)[1]["named"] is True  # the writer's shard evicted before answering
        for c in (b, pb):  # the other shard and the other process, through the NOTIFY
            assert wait_until(lambda: c.jget(by_name)[1]["named"], 2.0 * SLACK), \
                "the entry tagged with the long name was not evicted (shard %d)" % c.shard
        for c in conns:
            for p in others:
                assert c.jget(p)[1] == before[c, p], ("an unrelated entry was evicted", c.shard, p)
    finally:
        for c in conns:
            c.close()


def test_star_value_does_not_evict_everything():
    """@invalidates {tag} with the value "*": the tag is "%2A", never the payload "*" that
    means evict everything on every instance."""
    a, b = shard_pair(A)
    pb = Conn(B)
    conns = (a, b, pb)
    try:
        j, k = nid(), nid()
        others = ("/ct/untagged/%d" % j, "/ct/items/%d" % j)
        marker = "/ct/items/%d" % k
        before = {}
        for c in conns:
            for p in others + (marker,):
                before[c, p] = c.jget(p)[1]
        for tag in ("*", "%2A"):  # '*' raw and percent-encoded in the query string
            st, _, body = a.req("POST", "/ct/touch?tag=" + tag)
            assert st == 200 and json.loads(body) == {"tag": "*"}, (st, body)
        # A later write's NOTIFY: PostgreSQL delivers them in commit order, so once its
        # eviction is seen everywhere the "*" ones have been handled too.
        st, _, body = a.req("POST", "/ct/touch?tag=item:%d" % k)
        assert st == 200, (st, body)
        for c in conns:
            assert wait_until(lambda: c.jget(marker)[1]["execs"] != before[c, marker]["execs"], 2.0 * SLACK), \
                "item:%d was not evicted (shard %d)" % (k, c.shard)
            for p in others:
                assert c.jget(p)[1] == before[c, p], ("evicted by a client's '*'", c.shard, p)
    finally:
        for c in conns:
            c.close()


def test_write_failing_at_commit_evicts_nothing():
    """The error of a transaction's last step wins over the statement's success: a deferred
    unique violation fails at commit, after the statement and its NOTIFY ran, and the write
    answers 409 and evicts nothing, locally or through the (rolled back) NOTIFY."""
    a, b = shard_pair(A)
    try:
        i, other = nid(), nid()
        key = "claim-%d" % i
        # A claim that commits evicts item:{id} everywhere. (Another item than the one
        # checked below: each shard hears every NOTIFY once per connection, so a re-cached
        # entry could still be evicted by a late copy of this one.)
        first = {c: c.jget("/ct/items/%d" % other)[1] for c in (a, b)}
        st, _, body = a.req("POST", "/ct/items/%d/claim?k=%s" % (other, key))
        assert st == 201 and json.loads(body) == {"id": other, "k": key}, (st, body)
        for c in (a, b):
            assert wait_until(lambda: c.jget("/ct/items/%d" % other)[1]["execs"] != first[c]["execs"],
                              2.0 * SLACK), c.shard
        item = "/ct/items/%d" % i
        cached = {c: c.jget(item)[1] for c in (a, b)}
        st, _, body = a.req("POST", "/ct/items/%d/claim?k=%s" % (i, key))  # the key is taken
        err = json.loads(body)
        assert st == 409 and err["message"] == "the request conflicts with existing data (SQLSTATE 23505)", (st, body)
        time.sleep(0.3 * SLACK)  # a NOTIFY (there must be none) would have arrived
        for c in (a, b):
            assert c.jget(item)[1] == cached[c], ("evicted by a write that rolled back", c.shard)
        assert psql("SELECT count(*) FROM keel_cache_tests.claims WHERE k = '%s'" % key) == "1"
    finally:
        a.close()
        b.close()


# ---- ETags and 304 --------------------------------------------------------------------

NOMATCH = '"0000000000000000"'


def check_304s(c, path, etag, h200):
    """Every matching If-None-Match form gives 304 with no body, the same validators."""
    for inm in (etag, "*", '"zzz", %s' % etag, "W/%s" % etag, '"a" ,, %s ,' % etag, '%s, "b"' % etag):
        st, h, b = c.req("GET", path, {"If-None-Match": inm})
        assert st == 304 and b == b"", (inm, st, b[:100])
        assert h["etag"] == etag, (inm, h)
        assert h.get("vary") == h200.get("vary"), (inm, h, h200)
        for k in ("cache-control", "age"):  # freshness headers where the 200 has them
            assert (k in h) == (k in h200), (inm, k, h, h200)
    for inm in (NOMATCH, "W/" + NOMATCH, etag.strip('"'), etag[:-2] + '"', '"%s-x"' % etag.strip('"')):
        st, h, b = c.req("GET", path, {"If-None-Match": inm})
        assert st == 200 and h["etag"] == etag and b, (inm, st, h)


def test_etag_304_cached_route():
    c = Conn(A)
    try:
        i = nid()
        path = "/ct/items/%d" % i
        h, b, _ = c.get(path)
        etag = h["etag"]
        assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag  # strong, quoted
        check_304s(c, path, etag, h)
        # no body after a 304: a second request pipelined behind it parses cleanly
        data = (kit.build("GET", path, {"If-None-Match": etag}) + kit.build("GET", path))
        (st1, _, _), (st2, h2, b2) = c.raw(data, 2)
        assert (st1, st2) == (304, 200) and b2 == b and h2["etag"] == etag, (st1, st2, b2)
        _, j, _ = c.jget(path)
        assert j["execs"] == 1, j  # all of the above were hits
    finally:
        c.close()


def test_etag_304_uncached_route():
    c = Conn(A)
    try:
        i = nid()
        path = "/ct/plain/%d" % i
        h, b, _ = c.get(path)
        etag = h["etag"]
        assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag
        h2, b2, _ = c.get(path)
        assert h2["etag"] == etag and b2 == b  # same body, same tag
        n = counter("plain:%d" % i)
        assert n == 2, n  # uncached: every request runs the query
        check_304s(c, path, etag, h)
        assert counter("plain:%d" % i) == n + 11  # 304s too: the body must exist to compare
    finally:
        c.close()


def test_if_none_match_on_two_header_lines():
    """RFC 9110 5.3: two If-None-Match field lines are one comma-separated list."""
    c = Conn(A)
    try:
        i = nid()
        for path in ("/ct/items/%d" % i, "/ct/plain/%d" % i):
            h, _, _ = c.get(path)
            two = "GET %s HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\nIf-None-Match: %s\r\n\r\n"
            (st, h2, _), = c.raw((two % (path, h["etag"], NOMATCH)).encode(), 1)
            assert st == 304, (path, "match on the first line", st, h2)
            (st, h2, _), = c.raw((two % (path, NOMATCH, h["etag"])).encode(), 1)
            assert st == 304, (path, "match on the second line", st, h2)
    finally:
        c.close()


# ---- gzip -----------------------------------------------------------------------------

def test_gzip_round_trip_and_etags():
    c = Conn(A)
    try:
        i = nid()
        path = "/ct/big/%d?n=64" % i
        hi, bi, _ = c.get(path)
        assert "content-encoding" not in hi and hi["vary"] == "Accept-Encoding", hi
        assert len(bi) >= 1024, len(bi)
        j = json.loads(bi)
        assert j["id"] == i and j["data"] == filler(i, 64) and j["execs"] == 1, j["execs"]
        hz, bz, _ = c.get(path, GZ)
        assert hz.get("content-encoding") == "gzip" and hz["vary"] == "Accept-Encoding", hz
        assert int(hz["content-length"]) == len(bz) < len(bi), (hz, len(bi))
        unz = gzip.decompress(bz)
        assert unz == bi, ("gzip variant is not the cached body", len(unz), len(bi), unz[:120], bi[:120])
        ei, ez = hi["etag"], hz["etag"]
        assert ei != ez and not ez.startswith("W/") and re.fullmatch(r'"[^"]+"', ez), (ei, ez)
        hz2, bz2, _ = c.get(path, GZ)
        assert bz2 == bz and hz2["etag"] == ez  # the stored gzip variant
        # If-None-Match against the representation that would be sent
        st, h, b = c.req("GET", path, {"Accept-Encoding": "gzip", "If-None-Match": ei})
        assert st == 200 and h.get("content-encoding") == "gzip" and gzip.decompress(b) == bi, (st, h)
        st, h, b = c.req("GET", path, {"Accept-Encoding": "gzip", "If-None-Match": ez})
        assert st == 304 and b == b"" and h["etag"] == ez and h["vary"] == "Accept-Encoding", (st, h)
        st, h, b = c.req("GET", path, {"If-None-Match": ez})
        assert st == 200 and b == bi and h["etag"] == ei and "content-encoding" not in h, (st, h)
        st, h, b = c.req("GET", path, {"If-None-Match": ei})
        assert st == 304 and h["etag"] == ei, (st, h)
        st, h, b = c.req("GET", path, {"Accept-Encoding": "gzip", "If-None-Match": "%s, %s" % (ei, ez)})
        assert st == 304 and h["etag"] == ez, (st, h)
        assert c.jget(path)[1]["execs"] == 1
        # an uncached route: compressed per request, same rules
        sp = "/ct/sized?len=5000"
        hi, bi, _ = c.get(sp)
        hz, bz, _ = c.get(sp, GZ)
        assert bi == b'"' + b"x" * 4998 + b'"', bi[:20]
        assert hz.get("content-encoding") == "gzip" and gzip.decompress(bz) == bi and len(bz) < 200, hz
        assert hi["etag"] != hz["etag"] and hi["vary"] == hz["vary"] == "Accept-Encoding", (hi, hz)
        st, h, _ = c.req("GET", sp, {"Accept-Encoding": "gzip", "If-None-Match": hz["etag"]})
        assert st == 304, (st, h)
        st, h, _ = c.req("GET", sp, {"Accept-Encoding": "gzip", "If-None-Match": hi["etag"]})
        assert st == 200 and h.get("content-encoding") == "gzip", (st, h)
    finally:
        c.close()


def test_accept_encoding_negotiation():
    c = Conn(A)
    try:
        i = nid()
        cases = [
            ("gzip", True), ("GZIP", True), ("x-gzip", True), ("gzip, deflate, br", True),
            ("deflate, gzip;q=1.0", True), ("gzip;q=0.001", True), ("*", True),
            ("identity;q=0.5, gzip", True), ("br;q=1, gzip;q=0.8", True),
            ("gzip;q=0", False), ("gzip; q=0.0", False), ("gzip;q=0.000", False),
            ("identity", False), ("br, deflate", False), ("*;q=0", False),
            ("gzip;q=0.5, identity", False), ("identity, *;q=0", False), ("", False),
        ]
        for path in ("/ct/big/%d?n=64" % i, "/ct/sized?len=3000"):
            hi, bi, _ = c.get(path)
            hz, _, _ = c.get(path, GZ)
            for ae, want in cases:
                h, b, _ = c.get(path, {"Accept-Encoding": ae})
                got = h.get("content-encoding") == "gzip"
                assert got == want, (path, ae, h)
                assert h["vary"] == "Accept-Encoding", (ae, h)
                assert h["etag"] == (hz if want else hi)["etag"], (ae, h)
                assert (gzip.decompress(b) if got else b) == bi, ae
    finally:
        c.close()


def test_gzip_threshold_and_vary():
    c = Conn(A)
    try:
        h, b, _ = c.get("/ct/sized?len=1023", GZ)
        assert len(b) == 1023 and "content-encoding" not in h and "vary" not in h, h
        h, b, _ = c.get("/ct/sized?len=1023")
        assert "vary" not in h, h
        h, b, _ = c.get("/ct/sized?len=1024", GZ)
        assert h.get("content-encoding") == "gzip" and h["vary"] == "Accept-Encoding", h
        assert len(gzip.decompress(b)) == 1024
        h, b, _ = c.get("/ct/sized?len=1024")
        assert len(b) == 1024 and "content-encoding" not in h and h["vary"] == "Accept-Encoding", h
        i = nid()
        for path in ("/ct/items/%d" % i, "/ct/big/%d?n=0" % i):  # small cached bodies
            for hdr in (GZ, None):
                h, b, _ = c.get(path, hdr)
                assert len(b) < 1024 and "content-encoding" not in h and "vary" not in h, (path, h)
    finally:
        c.close()


# ---- HEAD -----------------------------------------------------------------------------

def test_head_on_cached_route():
    c = Conn(A)
    try:
        i = nid()
        path = "/ct/big/%d?n=64" % i
        st, hh, b = c.req("HEAD", path)  # cold: fills the cache
        assert st == 200 and b == b"", st
        assert "etag" in hh and hh["age"] == "0" and max_age(hh) in (29, 30), hh
        h, body, _ = c.get(path)  # parses cleanly: HEAD sent no body bytes
        assert int(hh["content-length"]) == len(body) and h["etag"] == hh["etag"], (hh, h)
        assert json.loads(body)["execs"] == 1  # HEAD's fill served this GET
        st, hz, _ = c.req("HEAD", path, GZ)
        _, bz, _ = c.get(path, GZ)
        assert st == 200 and hz.get("content-encoding") == "gzip", hz
        assert int(hz["content-length"]) == len(bz) and hz["etag"] != hh["etag"], hz
        st, h, _ = c.req("HEAD", path, {"If-None-Match": hh["etag"]})
        assert st == 304 and h["etag"] == hh["etag"], (st, h)
        st, h, _ = c.req("HEAD", path, {"Accept-Encoding": "gzip", "If-None-Match": hz["etag"]})
        assert st == 304 and h["etag"] == hz["etag"], (st, h)
        # HEAD on a small cached route
        st, h, _ = c.req("HEAD", "/ct/items/%d" % i)
        _, j, _ = c.jget("/ct/items/%d" % i)
        assert st == 200 and "cache-control" in h and j["execs"] == 1, (h, j)
        assert counter("big:%d:64" % i) == 1
    finally:
        c.close()


# ---- the byte budget ------------------------------------------------------------------

def test_byte_budget():
    """C: one shard, KEEL_CACHE_MB=1. 600 distinct ~51 KiB entries (~30 MiB) pass through;
    every body stays right, old entries are evicted, recent ones stay, RSS stays bounded."""
    c = Conn(C)
    n = 1600  # 32-byte chunks: bodies of ~51 KiB, under budget/8 (128 KiB)
    ids = [BASE + 10000 + x for x in range(600)]
    expect = {}

    def fetch(idx, gz):
        i = ids[idx]
        h, j, _ = c.jget("/ct/big/%d?n=%d" % (i, n), GZ if gz else None)
        if i not in expect:
            expect[i] = filler(i, n)
        assert j["id"] == i and j["data"] == expect[i], (i, j.get("id"), j.get("data", "")[:40])
        assert (h.get("content-encoding") == "gzip") == gz, h
        return j["execs"]

    try:
        t0 = time.monotonic()
        for x in range(100):
            assert fetch(x, x % 3 == 0) == 1
        rss1 = kit.rss_kib(C.proc.pid)
        for x in range(100, 600):
            assert fetch(x, x % 3 == 0) == 1
        rss2 = kit.rss_kib(C.proc.pid)
        took = time.monotonic() - t0
        for x in range(595, 600):  # the most recent entries are still cached
            assert fetch(x, False) == 1, x
        for x in range(0, 5):  # the oldest were evicted: executed again
            assert fetch(x, False) == 2, x
        print("  600 x %d B entries through a 1 MiB cache in %.1fs; RSS %d -> %d KiB"
              % (len(expect[ids[0]]) + 40, took, rss1, rss2))
        if not kit.ASAN:  # ASan's quarantine keeps freed memory resident by design
            assert rss2 - rss1 < 8 * 1024, (rss1, rss2)
    finally:
        c.close()


def test_zz_keels_exit_cleanly():
    for name, k in (("A", A), ("B", B), ("C", C)):
        code = k.stop()
        err = k.stderr()
        assert code == 0, (name, code, err[-3000:])
        assert "AddressSanitizer" not in err and "runtime error:" not in err, (name, err[-3000:])


if __name__ == "__main__":
    try:
        setup()
        kit.main(globals(), servers=lambda: [k for k in (A, B, C) if k])
    finally:
        for k in (A, B, C):
            if k:
                k.stop()  # already stopped unless something above raised
        cleanup()
