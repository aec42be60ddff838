"""Two keel instances behind nginx (scripts/cluster.sh, deploy/nginx-keel.conf), one
PostgreSQL: requests through nginx reach both instances, client addresses pass through
nginx's X-Forwarded-For, a write through instance A evicts the entry cached on instance B,
and an instance whose connections were cut while a write's NOTIFY went out does not keep
serving the stale entry once it is connected again (db.h, "NOTIFY loss").

Routes: tests/fixtures/scale/routes (schema keel_scale, loaded here). Keys are picked from a
random base per run. nginx must be installed (scripts/setup.sh does): without it this test
fails rather than skips.
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
MINE = os.path.join(ROOT, "tests", "fixtures", "scale")
CLUSTER = os.path.join(ROOT, "scripts", "cluster.sh")
BASE = random.randrange(1, 1 << 40) * 1000
URL = None
DIR = None
PORT = None
ENV = None


def three_free_ports():
    """A port p with p .. p+4 free on 127.0.0.1 (cluster.sh's layout: nginx, A, B, and A's
    and B's admin listeners)."""
    for _ in range(200):
        p = random.randrange(20000, 60000)
        try:
            for k in range(5):
                s = socket.socket()
                s.bind(("127.0.0.1", p + k))
                s.close()
            return p
        except OSError:
            continue
    raise RuntimeError("no five consecutive free ports")


def psql(sql):
    return kit.psql(URL, sql)


def get(port, path, headers=None):
    k = kit.Keel.__new__(kit.Keel)  # only its request helper: a plain HTTP/1.1 exchange
    k.port = port
    return kit.Keel.request(k, "GET", path, headers=headers)


def post(port, path, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    k = kit.Keel.__new__(kit.Keel)
    k.port = port
    return kit.Keel.request(k, "POST", path, headers=h, body=json.dumps(obj).encode())


def hdr(headers, name):
    return headers.get(name)


def setup():
    global URL, DIR, PORT, ENV
    assert shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"), "nginx is missing: run scripts/setup.sh"
    kit.pg("start")
    kit.pg("load")
    URL = kit.pg("url").strip()
    kit.psql_file(URL, os.path.join(MINE, "schema.sql"))
    psql("INSERT INTO keel_scale.kv (id, v) SELECT %d + g, 0 FROM generate_series(0, 99) g "
         "ON CONFLICT (id) DO UPDATE SET v = 0" % BASE)
    DIR = tempfile.mkdtemp(prefix="keel-cluster-")
    PORT = three_free_ports()
    ENV = dict(os.environ, CLUSTER_DIR=DIR, CLUSTER_PORT=str(PORT), CLUSTER_NGINX_WORKERS="1",
               KEEL_ROUTES=os.path.join(MINE, "routes"), DATABASE_URL=URL, KEEL_SHARDS="2")
    p = subprocess.run(["bash", CLUSTER, "start"], env=ENV, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:  # what did start must not outlive the test
        subprocess.run(["bash", CLUSTER, "stop"], env=ENV, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "cluster.sh start failed: %s" % p.stderr


def teardown():
    if ENV:
        p = subprocess.run(["bash", CLUSTER, "stop"], env=ENV, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        for name in ("a", "b"):
            err = open(os.path.join(DIR, name + ".err")).read()
            assert "AddressSanitizer" not in err and "runtime error:" not in err, err[-3000:]
        shutil.rmtree(DIR, ignore_errors=True)
    psql("DELETE FROM keel_scale.kv WHERE id BETWEEN %d AND %d" % (BASE, BASE + 999))


def test_status_reports_all_three():
    p = subprocess.run(["bash", CLUSTER, "status"], env=ENV, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    for what in ("keel a up", "keel b up", "nginx up"):
        assert what in p.stderr, p.stderr


def test_nginx_reaches_both_instances():
    # keel's generated X-Request-Id is time-pid-shard-n: the pid names the instance.
    pids = set()
    for i in range(40):
        st, h, body = get(PORT, "/sc/live/%d" % (BASE + i % 5))
        assert st == 200, (st, body)
        pids.add(hdr(h, "x-request-id").split("-")[1])
    a = open(os.path.join(DIR, "a.pid")).read().strip()
    b = open(os.path.join(DIR, "b.pid")).read().strip()
    assert pids == {"%x" % int(a), "%x" % int(b)}, (pids, a, b)


def test_client_address_passes_through_nginx():
    # /sc/rated allows 2 requests a minute per client address, per instance: 6 requests of one
    # client through nginx get at most 4 answers (2 per instance) whichever instances they
    # reach. Another client behind the same nginx (same peer address 127.0.0.1) is still
    # served: keel counted the address nginx put in X-Forwarded-For, not nginx's own.
    first = "203.0.113.%d" % random.randrange(1, 250)
    other = "198.51.100.%d" % random.randrange(1, 250)
    codes = [get(PORT, "/sc/rated", headers={"X-Forwarded-For": first})[0] for _ in range(6)]
    assert codes.count(429) >= 2 and set(codes) <= {200, 429}, codes
    st, _, body = get(PORT, "/sc/rated", headers={"X-Forwarded-For": other})
    assert st == 200, (st, body)


def test_write_through_a_evicts_on_b():
    key = BASE + 10
    a, b = PORT + 1, PORT + 2
    st, _, body = get(b, "/sc/kv/%d" % key)
    assert st == 200 and json.loads(body)["v"] == 0, body
    st, h, body = get(b, "/sc/kv/%d" % key)  # a hit on whichever shard took it, or a fill of 0
    assert json.loads(body)["v"] == 0
    # Every shard of B holds the entry (connections land on shards least-connections first:
    # a few sequential connections cover both).
    for _ in range(6):
        assert json.loads(get(b, "/sc/kv/%d" % key)[2])["v"] == 0
    st, _, body = post(a, "/sc/kv/%d" % key, {"v": 41})
    assert st == 200, body
    deadline = time.monotonic() + 2.0
    seen = None
    while time.monotonic() < deadline:
        vals = {json.loads(get(b, "/sc/kv/%d" % key)[2])["v"] for _ in range(4)}
        if vals == {41}:
            seen = time.monotonic()
            break
        time.sleep(0.01)
    assert seen, "B still serves the old value 2 s after the write through A (TTL is 60 s): %s" % vals


def test_notify_lost_while_disconnected_does_not_stay_stale():
    # Instance C logs in as its own role, so the test can cut exactly its connections and
    # keep them from coming back while a write's NOTIFY goes out.
    role = "keel_scale_loss"
    psql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
         "CREATE ROLE %s LOGIN SUPERUSER; END IF; END $$" % (role, role))
    psql("ALTER ROLE %s LOGIN" % role)
    url = URL.replace("keel@", role + "@", 1)
    url += ("&" if "?" in url else "?") + "application_name=keel_loss_test"
    key = BASE + 20
    c = kit.Keel(env={"KEEL_ROUTES": os.path.join(MINE, "routes"), "DATABASE_URL": url, "KEEL_SHARDS": "1",
                      "KEEL_DB_CONNS_PER_SHARD": "2"}, ready_path="/ready").start(timeout=30)
    try:
        # both connections listening first: each one that becomes ready evicts the cache
        deadline = time.monotonic() + 10
        while psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'keel_loss_test' "
                   "AND query = 'LISTEN keel_invalidate'") != "2":
            assert time.monotonic() < deadline, "C's 2 connections did not start listening"
            time.sleep(0.05)
        st, _, body = c.request("GET", "/sc/kv/%d" % key)
        assert st == 200 and json.loads(body)["v"] == 0, body
        psql("ALTER ROLE %s NOLOGIN" % role)
        n = psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE application_name = 'keel_loss_test'")
        assert int(n) == 2, "expected C's 2 connections, terminated %s" % n
        deadline = time.monotonic() + 5
        while c.request("GET", "/ready")[0] != 503:
            assert time.monotonic() < deadline, "C did not notice its connections were gone"
            time.sleep(0.02)
        # The write and its NOTIFY commit while C has no session: C can never hear it.
        psql("UPDATE keel_scale.kv SET v = 77 WHERE id = %d; SELECT pg_notify('keel_invalidate', 'kv:%d')"
             % (key, key))
        st, _, body = c.request("GET", "/sc/kv/%d" % key)
        assert st == 200 and json.loads(body)["v"] == 0, "served from cache while disconnected: %s" % body
        psql("ALTER ROLE %s LOGIN" % role)
        deadline = time.monotonic() + 15
        while c.request("GET", "/ready")[0] != 200:
            assert time.monotonic() < deadline, "C did not reconnect"
            time.sleep(0.05)
        st, _, body = c.request("GET", "/sc/kv/%d" % key)
        assert st == 200 and json.loads(body)["v"] == 77, "stale after reconnect: %s" % body
    finally:
        psql("ALTER ROLE %s LOGIN" % role)
        problem = c.stop_checked()
        assert not problem, problem


if __name__ == "__main__":
    setup()
    try:
        kit.main(globals())
    finally:
        teardown()
