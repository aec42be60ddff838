"""The admin listener and what it serves: /metrics in the Prometheus text format (checked by
`promtool check metrics`, every family issue 14 names, histogram +Inf == _count, counters
that move with requests, route labels that are patterns), /health, /ready, GET /cache,
POST /cache/purge (this shard at once, a second keel on the same database through NOTIFY),
GET /routes; admin endpoints absent from the public port (but /metrics with
KEEL_METRICS_PUBLIC=true); KEEL_ADMIN_LISTEN=off binds nothing; and the pino-compatible
access log (KEEL_ACCESS_LOG).

Routes: tests/fixtures/metrics/routes (no tables: "at" is clock_timestamp(), so a response
tells a cache hit from a miss). Needs promtool (Debian package prometheus, scripts/setup.sh).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROUTES = os.path.join(kit.ROOT, "tests", "fixtures", "metrics", "routes")
SLACK = 3.0 if kit.ASAN else 1.0

kit.pg("start")
kit.pg("load")
URL = kit.pg("url").strip()

FAMILIES = {
    "http_request_duration_seconds": "histogram", "http_requests_total": "counter",
    "db_query_duration_seconds": "histogram", "db_pool_connections": "gauge", "db_queue_depth": "gauge",
    "db_queue_wait_seconds": "histogram", "db_errors_total": "counter", "db_reconnects_total": "counter",
    "db_batches_total": "counter", "db_batched_queries_total": "counter",
    "cache_requests_total": "counter", "cache_evictions_total": "counter", "cache_bytes": "gauge",
    "cache_entries": "gauge", "cache_invalidations_total": "counter", "ratelimit_rejected_total": "counter",
    "process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge", "process_max_fds": "gauge", "process_start_time_seconds": "gauge",
    "keel_build_info": "gauge", "keel_shard_connections": "gauge", "keel_shard_loop_lag_seconds": "gauge",
    "keel_shard_gathered_waits_total": "counter",
}


def keel(shards=2, admin=True, **env):
    e = {"KEEL_ROUTES": ROUTES, "DATABASE_URL": URL, "KEEL_SHARDS": str(shards)}
    e.update({k: str(v) for k, v in env.items()})
    return kit.Keel(env=e, ready_path="/ready", admin=admin)  # started by `with`, or .start()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value}, and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


def value(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def scrape(k):
    st, h, body = k.admin("GET", "/metrics")
    assert st == 200, (st, body[:300])
    assert h["content-type"].startswith("text/plain; version=0.0.4"), h
    return body.decode()


def get(k, path):
    st, _, body = k.request("GET", path)
    return st, body


def load(k, paths, n_threads=4, per_thread=50):
    """Bounded load: n_threads each send per_thread keep-alive requests over paths."""
    errors = []

    def worker(t):
        try:
            s = k.connect()
            r = kit.Reader(s)
            for i in range(per_thread):
                s.sendall(kit.build("GET", paths[(t + i) % len(paths)]))
                r.response()
            s.close()
        except Exception as e:  # reported below
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors


def test_metrics_promtool_families_histograms_and_counters():
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found (Debian package prometheus; scripts/setup.sh installs it)"
    with keel() as k:
        before, _ = parse(scrape(k))
        paths = ["/mt/items/1", "/mt/items/2", "/mt/plain", "/nowhere/123", "/mt/fail"]
        load(k, paths)  # 200 requests, 40 of each path
        for _ in range(3):
            get(k, "/mt/limited")  # the third is refused
        time.sleep(0.05)  # gauges are published once a millisecond
        text = scrape(k)
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, "promtool: %s%s" % (p.stdout, p.stderr)
        samples, types = parse(text)
        for fam, typ in FAMILIES.items():
            assert types.get(fam) == typ, (fam, types.get(fam))
            assert "# HELP %s " % fam in text, fam
        # every histogram series: +Inf bucket == _count, buckets cumulative
        hist = [f for f, t in types.items() if t == "histogram"]
        n_series = 0
        for (name, labels), v in samples.items():
            for f in hist:
                if name == f + "_count":
                    n_series += 1
                    inf = samples[(f + "_bucket", labels | {("le", "+Inf")})]
                    assert inf == v, (f, labels, inf, v)
                    buckets = sorted((float(le), c) for (n2, ls), c in samples.items() if n2 == f + "_bucket"
                                     for (kk, le) in ls if kk == "le" and ls - {("le", le)} == labels)
                    counts = [c for _, c in buckets]
                    assert counts == sorted(counts), (f, labels, buckets)
        assert n_series >= 5, n_series
        # counters moved by exactly what was sent; the route label is the pattern
        d = lambda name, **ls: value(samples, name, **ls) - value(before, name, **ls)  # noqa: E731
        assert d("http_requests_total", route="/mt/items/{id:int}", status_code="200", method="GET") == 80
        assert d("http_requests_total", route="/mt/plain", status_code="200") == 40
        assert d("http_requests_total", route="unmatched", status_code="404") == 40
        assert d("http_requests_total", route="/mt/fail") == 40
        assert d("http_request_duration_seconds_count", route="/mt/plain") == 40
        assert d("http_requests_total", route="/mt/limited", status_code="429") == 1
        assert d("ratelimit_rejected_total", route="/mt/limited") == 1
        assert "/mt/items/1" not in text and "/nowhere" not in text, "a raw path leaked into a label"
        # database: errors by SQLSTATE, query time per route, the pool
        assert d("db_errors_total", sqlstate="22012") == 40
        assert d("db_query_duration_seconds_count", route="/mt/plain") == 40
        assert value(samples, "db_pool_connections", state="idle") + value(samples, "db_pool_connections", state="busy") >= 2
        assert value(samples, "db_queue_wait_seconds_count") >= 40
        # cache: two keys, 40 lookups each: at most one miss per key and shard (plus coalesced)
        hits = d("cache_requests_total", route="/mt/items/{id:int}", result="hit")
        misses = d("cache_requests_total", route="/mt/items/{id:int}", result="miss")
        coalesced = d("cache_requests_total", route="/mt/items/{id:int}", result="coalesced")
        assert hits + misses + coalesced == 80 and 1 <= misses <= 4 and hits >= 70, (hits, misses, coalesced)
        assert value(samples, "cache_entries") >= 2 and value(samples, "cache_bytes") > 0
        # process and shards
        assert value(samples, "process_resident_memory_bytes") > 1 << 20
        assert value(samples, "process_open_fds") > 3
        assert abs(value(samples, "process_start_time_seconds") - time.time()) < 600
        assert value(samples, "keel_build_info", version="0.1.0") == 1
        assert {ls for (n, ls) in samples if n == "keel_shard_connections"} == \
            {frozenset({("shard", "0")}), frozenset({("shard", "1")})}
        # the admin listener's own requests are not counted
        assert d("http_requests_total", route="/metrics") == 0


def test_scrape_under_load_stays_consistent():
    """Scrapes while 4 clients hammer a cached route: every scrape passes the +Inf == _count
    check and the request count never goes backwards."""
    with keel() as k:
        stop = time.monotonic() + 2.0 * SLACK
        done = []

        def hammer():
            s = k.connect()
            r = kit.Reader(s)
            n = 0
            while time.monotonic() < stop and n < 20000:
                s.sendall(kit.build("GET", "/mt/items/3"))
                r.response()
                n += 1
            s.close()
            done.append(n)
        ts = [threading.Thread(target=hammer) for _ in range(4)]
        for t in ts:
            t.start()
        last = 0
        scrapes = 0
        while any(t.is_alive() for t in ts) and scrapes < 200:
            samples, _ = parse(scrape(k))
            scrapes += 1
            total = value(samples, "http_requests_total", route="/mt/items/{id:int}")
            inf = value(samples, "http_request_duration_seconds_bucket", route="/mt/items/{id:int}", le="+Inf")
            cnt = value(samples, "http_request_duration_seconds_count", route="/mt/items/{id:int}")
            assert inf == cnt == total, (inf, cnt, total)
            assert total >= last, (total, last)
            last = total
            time.sleep(0.05)
        for t in ts:
            t.join(30)
        samples, _ = parse(scrape(k))
        assert value(samples, "http_requests_total", route="/mt/items/{id:int}") == sum(done)
        assert scrapes >= 5, scrapes


def test_metrics_after_a_route_reload():
    # POST /routes/reload on the admin listener reloads as SIGHUP does. Metrics slots belong to the routes keel started with (metrics.h): a reload that removes
    # routes never makes a scrape read past the new, shorter table, a route that stays keeps
    # its label, and one the reload added counts under route="reloaded".
    import tempfile
    d = tempfile.mkdtemp(prefix="keel-metrics-reload-")
    try:
        shutil.copytree(ROUTES, os.path.join(d, "routes"))
        with keel(KEEL_ROUTES=os.path.join(d, "routes")) as k:
            load(k, ["/mt/plain", "/mt/items/1"], n_threads=2, per_thread=10)
            for f in ("item.sql", "limited.sql", "fail.sql"):
                os.unlink(os.path.join(d, "routes", f))
            with open(os.path.join(d, "routes", "added.sql"), "w") as f:
                f.write("-- @route GET /mt/added\n-- @returns one\nSELECT json_build_object('ok', true);\n")
            st, _, body = k.admin("GET", "/routes/reload")
            assert st == 405, (st, body)
            mark = len(k.stderr())
            st, _, body = k.admin("POST", "/routes/reload")  # the admin listener's way to SIGHUP
            assert st == 202, (st, body)
            k.wait_reloaded(mark, 15 * SLACK)
            load(k, ["/mt/plain", "/mt/added"], n_threads=2, per_thread=10)
            assert get(k, "/mt/items/1")[0] == 404
            samples, _ = parse(scrape(k))
            assert value(samples, "http_requests_total", route="/mt/plain", status_code="200") == 20, samples
            assert value(samples, "http_requests_total", route="reloaded", status_code="200") == 10, samples
            assert value(samples, "http_requests_total", route="/mt/added") == 0
            st, _, body = k.admin("GET", "/cache")
            assert st == 200, body
            json.loads(body)
            promtool = shutil.which("promtool")
            assert promtool, "promtool not found (Debian package prometheus; scripts/setup.sh installs it)"
            p = subprocess.run([promtool, "check", "metrics"], input=scrape(k), capture_output=True, text=True,
                               timeout=30)
            assert p.returncode == 0, "promtool: %s%s" % (p.stdout, p.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_admin_health_ready_cache_routes():
    with keel() as k:
        assert k.admin("GET", "/health")[0] == 200
        st, _, body = k.admin("GET", "/ready")
        assert st == 200 and json.loads(body)["status"] == "ready", body
        get(k, "/mt/items/11")
        get(k, "/mt/items/11")
        time.sleep(0.05)
        st, h, body = k.admin("GET", "/cache")
        assert st == 200 and h["content-type"] == "application/json", (st, h)
        c = json.loads(body)
        assert c["entries"] >= 1 and c["bytes"] > 0, c
        assert len(c["shards"]) == 2, c
        (item,) = [r for r in c["routes"] if r["route"] == "/mt/items/{id:int}"]
        assert item["misses"] >= 1 and item["hits"] + item["misses"] == 2, item
        assert item["hitRatio"] == item["hits"] / 2, item
        st, _, body = k.admin("GET", "/routes")
        assert st == 200
        routes = {(r["method"], r["pattern"]): r for r in json.loads(body)}
        assert set(routes) == {("GET", "/mt/items/{id:int}"), ("GET", "/mt/fail"), ("GET", "/mt/limited"),
                               ("GET", "/mt/plain")}, routes
        it = routes[("GET", "/mt/items/{id:int}")]
        assert it["file"].endswith("item.sql") and it["cache"]["ttlMs"] == 60000 and it["tags"] == ["mt:{id}"], it
        assert routes[("GET", "/mt/limited")]["rate"]["count"] == 2, routes
        assert routes[("GET", "/mt/plain")]["cache"] is None and routes[("GET", "/mt/plain")]["rate"] is None
        # wrong methods and unknown paths
        assert k.admin("POST", "/cache")[0] == 405
        assert k.admin("GET", "/cache/purge?tag=x")[0] == 405
        assert k.admin("GET", "/mt/plain")[0] == 404  # no SQL route on the admin listener
        assert k.admin("POST", "/cache/purge")[0] == 400
        assert k.admin("POST", "/cache/purge?tag=%ZZ")[0] == 400


def at(k, i):
    st, body = get(k, "/mt/items/%d" % i)
    assert st == 200, (st, body)
    return json.loads(body)["at"]


def test_purge_evicts_here_and_on_another_instance():
    a = keel(shards=1).start(timeout=30)
    b = keel(shards=1, admin=False)
    try:
        b.start(timeout=30)
        time.sleep(0.3 * SLACK)  # both connections of each pool up (a reconnect clears the cache)
        i = 20 + int(time.time()) % 1000
        a1, b1 = at(a, i), at(b, i)
        assert at(a, i) == a1 and at(b, i) == b1  # cached on both
        other = at(a, i + 1)
        st, _, body = a.admin("POST", "/cache/purge?tag=mt:%d" % i)
        assert st == 200 and json.loads(body) == {"purged": "mt:%d" % i, "notified": True}, body
        assert at(a, i) != a1  # this instance: the next request is a miss
        assert at(a, i + 1) == other  # another tag's entry stays
        deadline = time.monotonic() + 5 * SLACK
        while at(b, i) == b1:  # the other instance: when the NOTIFY arrives
            assert time.monotonic() < deadline, "the purge never reached the second instance"
            time.sleep(0.05)
        samples, _ = parse(scrape(a))
        assert value(samples, "cache_invalidations_total", source="local") >= 1
        assert value(samples, "cache_invalidations_total", source="notify") >= 1
        assert value(samples, "cache_evictions_total", reason="tag") >= 1
        # "*" purges everything
        assert a.admin("POST", "/cache/purge?tag=*")[0] == 200
        assert at(a, i + 1) != other
    finally:
        for k in (a, b):
            problem = k.stop_checked()
            assert not problem, problem


def test_admin_endpoints_absent_on_public_port_unless_metrics_public():
    with keel(shards=1) as k:
        for path in ("/metrics", "/cache", "/routes"):
            assert get(k, path)[0] == 404, path
        assert k.request("POST", "/cache/purge?tag=x")[0] == 404
    with keel(shards=1, KEEL_METRICS_PUBLIC="true") as k:
        st, body = get(k, "/metrics")
        assert st == 200 and b"# TYPE http_requests_total counter" in body
        assert get(k, "/cache")[0] == 404 and get(k, "/routes")[0] == 404
        get(k, "/metrics")
        samples, _ = parse(get(k, "/metrics")[1].decode())
        assert value(samples, "http_requests_total", route="/metrics") >= 2  # counted like any route


def listening_sockets(pid):
    """TCP sockets in LISTEN state that process pid holds."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(f).read().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:
                n += 1
    return n


def test_admin_off_binds_nothing_and_busy_port_fails_clearly():
    with keel(shards=1, admin=False) as k:
        assert k.env["KEEL_ADMIN_LISTEN"] == "off"
        assert listening_sockets(k.proc.pid) == 1
    with keel(shards=1) as k:
        assert listening_sockets(k.proc.pid) == 2
        # a second keel asking for the same admin port does not start, and says why
        code, err = kit.refuses_to_start({"KEEL_ADMIN_LISTEN": "127.0.0.1:%d" % k.admin_port})
        assert "admin address" in err, err
    code, err = kit.refuses_to_start({"KEEL_ADMIN_LISTEN": "nonsense"})
    assert code == 2 and "--admin-listen" in err, err


def test_access_log_pino_lines():
    with keel(shards=2, KEEL_ACCESS_LOG="true") as k:
        get(k, "/mt/items/31")
        get(k, "/mt/items/31")
        get(k, "/mt/plain?x=%22q%22")
        get(k, "/nowhere")
        get(k, "/mt/fail")
        k.admin("GET", "/metrics")  # not logged: admin requests
        t_end = time.time() * 1000
        deadline = time.monotonic() + 3
        while k.stdout().count("/ready") + 5 > k.stdout().count("\n") and time.monotonic() < deadline:
            time.sleep(0.02)
        lines = kit.log_records(k.stdout())
        lines = [r for r in lines if r["req"]["url"] != "/ready"]  # the kit's readiness polls
        assert len(lines) == 5, lines
        for rec in lines:
            for f in ("level", "time", "pid", "hostname", "reqId", "req", "res", "responseTime", "route", "cache",
                      "dbMs", "msg"):
                assert f in rec, (f, rec)
            assert rec["pid"] == k.proc.pid and rec["hostname"] == socket.gethostname(), rec
            assert abs(rec["time"] - t_end) < 10000 and isinstance(rec["time"], int), rec
            assert rec["req"]["remoteAddress"] == "127.0.0.1" and rec["req"]["method"] == "GET", rec
            assert isinstance(rec["responseTime"], (int, float)) and rec["responseTime"] >= 0, rec
        by_url = {}
        for rec in lines:
            by_url.setdefault(rec["req"]["url"], []).append(rec)
        items = by_url["/mt/items/31"]
        assert sorted(r["cache"] for r in items) in (["hit", "miss"], ["miss", "miss"]), items
        miss = [r for r in items if r["cache"] == "miss"][0]
        assert miss["dbMs"] > 0 and miss["route"] == "/mt/items/{id:int}" and miss["level"] == 30, miss
        (plain,) = by_url['/mt/plain?x=%22q%22']
        assert plain["cache"] is None and plain["res"]["statusCode"] == 200 and plain["dbMs"] > 0, plain
        (nowhere,) = by_url["/nowhere"]
        assert nowhere["level"] == 40 and nowhere["route"] == "unmatched" and nowhere["dbMs"] is None, nowhere
        (fail,) = by_url["/mt/fail"]
        assert fail["res"]["statusCode"] >= 400 and fail["level"] == (50 if fail["res"]["statusCode"] >= 500 else 40)


if __name__ == "__main__":
    kit.main(globals())
