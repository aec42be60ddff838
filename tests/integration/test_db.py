"""keel's PostgreSQL layer against the private cluster (scripts/pg.sh): the bounties routes'
shapes, parameter validation, route-file errors at startup, SQLSTATE -> HTTP mapping,
statement timeouts, the acquire deadline and the bounded wait queue under a flood, memory
under a long flood, an unresponsive backend, PostgreSQL stopped and restarted under load,
startup with the database down, and the slow-query log.

Setup (idempotent): `scripts/pg.sh start` and `load`, then tests/fixtures/fixture_schema.sql
(when the database does not hold this version of it) and tests/fixtures/db_tests/schema.sql
(its own schema keel_db_tests). Routes: a temp folder with examples/bounties/routes (minus the
annotations keel refuses for now), three of tests/fixtures/routes_ok and
tests/fixtures/db_tests/routes. Two tests stop the shared cluster for a few seconds (any other
user of it sees it go away); it is started again in a finally block.
"""
import hashlib
import json
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

ROOT = kit.ROOT
PG_SH = kit.PG_SH
FIX = os.path.join(ROOT, "tests", "fixtures")
MINE = os.path.join(FIX, "db_tests")
REFUSED = re.compile(r"^-- @(cache|tags|rate|invalidates)\b")
SLACK = 3.0 if kit.ASAN else 1.0  # scheduling slack on top of every expected latency
BOUNTY_LIST_KEYS = {"id", "user_id", "title", "amount_cents", "location", "status", "created_at"}
BOUNTY_KEYS = BOUNTY_LIST_KEYS | {"description", "views"}

URL = None
ROUTES = None  # temp folder: the bounties routes, fixture routes and db_tests routes
TMP = tempfile.mkdtemp(prefix="keel-db-test-")
keel = None


# ---- setup ----------------------------------------------------------------------------

pg = kit.pg


def psql(sql, timeout=60):
    return kit.psql(URL, sql, timeout)


def psql_file(path):
    kit.psql_file(URL, path)


def pg_running():
    return subprocess.run(["bash", PG_SH, "status"], capture_output=True, timeout=60).returncode == 0


def copy_routes(src_dir, dst_dir, names=None, prefix=""):
    """Copies route files with the annotations keel refuses for now removed."""
    for name in sorted(os.listdir(src_dir)):
        if not name.endswith(".sql") or (names is not None and name not in names):
            continue
        with open(os.path.join(src_dir, name)) as f:
            lines = [l for l in f.read().splitlines(True) if not REFUSED.match(l)]
        with open(os.path.join(dst_dir, prefix + name), "w") as f:
            f.write("".join(lines))


def setup():
    global URL, ROUTES, keel
    pg("start")
    pg("load")
    URL = pg("url").strip()
    # The shared fixture schema drops and recreates its objects: load it only when the
    # database does not hold this version of it (the hash is the widgets table's comment).
    schema = os.path.join(FIX, "fixture_schema.sql")
    if os.path.exists(schema):
        want = "keel fixture_schema " + hashlib.sha256(open(schema, "rb").read()).hexdigest()[:16]
        have = psql("SELECT coalesce(obj_description(to_regclass('widgets'), 'pg_class'), '')")
        if have != want:
            psql_file(schema)
            psql("COMMENT ON TABLE widgets IS '%s'" % want)
    psql_file(os.path.join(MINE, "schema.sql"))
    ROUTES = os.path.join(TMP, "routes")
    os.mkdir(ROUTES)
    copy_routes(os.path.join(ROOT, "examples", "bounties", "routes"), ROUTES)
    if os.path.exists(schema):
        copy_routes(os.path.join(FIX, "routes_ok"), ROUTES, prefix="ok_",
                    names={"widgets_get.sql", "widgets_list.sql", "widgets_set_price.sql"})
    copy_routes(os.path.join(MINE, "routes"), ROUTES, prefix="t_")
    keel = kit.Keel(env=db_env(KEEL_SHARDS="2", KEEL_SLOW_QUERY_MS="100")).start()


JWT_SECRET = "db-test-secret-0123456789abcdefghijkl"  # the bounties app has @auth routes


def db_env(**kw):
    env = {"KEEL_ROUTES": ROUTES, "DATABASE_URL": URL, "KEEL_JWT_SECRET": JWT_SECRET}
    env.update(kw)
    return env


# ---- helpers --------------------------------------------------------------------------

def get(path, method="GET", k=None, headers=None, body=b"", timeout=10):
    return (k or keel).request(method=method, path=path, headers=headers, body=body, timeout=timeout)


def get_json(path, status=200, k=None, **kw):
    st, h, body = get(path, k=k, **kw)
    assert st == status, (path, st, body[:300])
    assert h.get("content-type") == "application/json", (path, h)
    return h, json.loads(body)


def error(path, status, method="GET", k=None, **kw):
    """Asserts a JSON error response; returns its message."""
    st, h, body = get(path, method=method, k=k, **kw)
    assert st == status, (method, path, st, body[:300])
    assert h.get("content-type") == "application/json", h
    err = json.loads(body)
    assert err["statusCode"] == status and err["error"] and isinstance(err["message"], str), err
    return err["message"], h


def timed(port, path, timeout, method="GET"):
    """One request on a fresh connection, never raising: (status or 'timeout'/'error:X',
    seconds, headers, body)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.1, timeout - (time.monotonic() - t0)))
            s.sendall(kit.build(method, path, close=True))
            st, h, body = kit.read_response(s, head=(method == "HEAD"))
    except socket.timeout:
        return "timeout", time.monotonic() - t0, {}, b""
    except (OSError, EOFError, ValueError, IndexError) as e:
        return "error:%s" % type(e).__name__, time.monotonic() - t0, {}, b""
    return st, time.monotonic() - t0, h, body


def burst(port, paths, timeout):
    """Sends every path at once, one thread and connection each; returns the results in order."""
    out = [None] * len(paths)
    gate = threading.Barrier(len(paths))

    def one(i):
        try:
            gate.wait(10)
        except threading.BrokenBarrierError:
            pass
        out[i] = timed(port, paths[i], timeout)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 15)
    assert all(o is not None for o in out), "a burst thread did not finish"
    return out


def assert_503(h, body):
    assert h.get("retry-after", "").isdigit(), h
    assert h.get("content-type") == "application/json", h
    err = json.loads(body)
    assert err["statusCode"] == 503 and err["error"] == "Service Unavailable" and err["message"], err
    return err["message"]


def ready(k):
    st, h, body = k.request(path="/ready", timeout=5)
    return st, json.loads(body)


def wait_until(cond, limit, step=0.1):
    """Polls cond() until it is true or `limit` seconds pass; returns the seconds it took or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if cond():
            return time.monotonic() - t0
        time.sleep(step)
    return None


def start_fails(routes_dir, env=None):
    """Runs keel on routes_dir, which must refuse to start; returns (code, stderr)."""
    return kit.refuses_to_start(dict({"KEEL_ROUTES": routes_dir, "DATABASE_URL": URL}, **(env or {})))


# ---- bounties routes: shapes ---------------------------------------------------------

def test_list_default_page_is_open_newest_first():
    h, rows = get_json("/api/bounties")
    assert len(rows) == 20, len(rows)
    assert all(set(r) == BOUNTY_LIST_KEYS for r in rows), rows[0]
    assert all(r["status"] == "open" for r in rows)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 20, ids
    want = psql("SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM "
                "(SELECT id FROM bounties WHERE status = 'open' ORDER BY id DESC LIMIT 20) s")
    assert ids == [int(x) for x in want.split(",")], (ids, want)
    assert int(h["content-length"]) > 0


def test_list_limit_and_keyset_pages():
    _, one = get_json("/api/bounties?limit=5")
    assert len(one) == 5
    _, two = get_json("/api/bounties?limit=5&before=%d" % one[-1]["id"])
    assert len(two) == 5 and all(r["id"] < one[-1]["id"] for r in two), (one[-1], two)
    _, ten = get_json("/api/bounties?limit=10")
    assert one + two == ten, "pages 1 and 2 of 5 are not the first page of 10"
    _, big = get_json("/api/bounties?limit=100")
    assert len(big) == 100
    _, last = get_json("/api/bounties?status=open&before=20&limit=100")  # near the bottom: a short page
    want = int(psql("SELECT count(*) FROM bounties WHERE status = 'open' AND id < 20"))
    assert len(last) == want and all(r["id"] < 20 for r in last), (last, want)
    _, none = get_json("/api/bounties?before=1")
    assert none == []


def test_list_status_filter():
    for status in ("in_progress", "completed", "cancelled", "open"):
        _, rows = get_json("/api/bounties?status=%s&limit=30" % status)
        assert len(rows) == 30 and all(r["status"] == status for r in rows), (status, rows[:2])
        top = int(psql("SELECT max(id) FROM bounties WHERE status = '%s'" % status))
        assert rows[0]["id"] == top, (status, rows[0], top)


def test_get_bounty_all_columns():
    for bid in (1, 4242, 100000):
        _, row = get_json("/api/bounties/%d" % bid)
        assert set(row) == BOUNTY_KEYS, row.keys()
        want = json.loads(psql("SELECT row_to_json(b) FROM (SELECT id, user_id, title, description, "
                               "amount_cents, location, status, views, created_at FROM bounties "
                               "WHERE id = %d) b" % bid))
        assert row == want, (row, want)


def test_get_missing_bounty_and_user_is_404():
    for path in ("/api/bounties/100000000", "/api/bounties/0", "/api/bounties/-1",
                 "/api/users/10001", "/api/users/99999999/stats"):
        error(path, 404)


def test_search_is_ranked():
    _, rows = get_json("/api/bounties/search?q=garden")
    assert 1 <= len(rows) <= 20, len(rows)
    assert all(set(r) == BOUNTY_LIST_KEYS | {"rank"} for r in rows), rows[0]
    keys = [(r["rank"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True), keys
    assert rows[0]["rank"] > 0
    _, fifty = get_json("/api/bounties/search?q=garden&limit=50")
    assert fifty[:len(rows)] == rows and len(fifty) == 50
    want = int(psql("SELECT count(*) FROM bounties WHERE search @@ websearch_to_tsquery('english', 'garden')"))
    assert want >= 50
    _, phrase = get_json("/api/bounties/search?q=%22fix+a+leaking%22+-garden&limit=5")
    assert isinstance(phrase, list)
    _, nothing = get_json("/api/bounties/search?q=zzqqxxnotaword")
    assert nothing == []


def test_user_profile_and_stats():
    _, u = get_json("/api/users/1")
    assert set(u) == {"id", "handle", "display_name", "bio", "created_at"}, u
    assert u["id"] == 1 and "balance_cents" not in u
    _, s = get_json("/api/users/1/stats")
    assert set(s) == {"user_id", "balance_cents", "bounties", "transactions"}, s
    b = s["bounties"]
    assert s["user_id"] == 1
    assert b["total"] == b["open"] + b["in_progress"] + b["completed"] + b["cancelled"], b
    want = psql("SELECT count(*) || ',' || coalesce(sum(amount_cents), 0) FROM bounties WHERE user_id = 1")
    assert "%d,%d" % (b["total"], b["posted_cents"]) == want, (b, want)
    bal = int(psql("SELECT coalesce(sum(amount_cents), 0) FROM wallet_transactions WHERE user_id = 1"))
    t = s["transactions"]
    assert s["balance_cents"] == bal == t["in_cents"] - t["out_cents"], (s, bal)
    _, quiet = get_json("/api/users/10000/stats")  # a late user: few or no bounties, still an object
    assert quiet["user_id"] == 10000 and quiet["bounties"]["total"] >= 0


def test_head_for_every_get():
    paths = ["/api/bounties", "/api/bounties?status=completed&limit=3", "/api/bounties/7",
             "/api/bounties/search?q=dog", "/api/users/3", "/api/users/3/stats",
             "/api/bounties/100000000", "/api/bounties?limit=0"]
    with keel.connect() as s:
        r = kit.Reader(s)
        for p in paths:
            s.sendall(kit.build("GET", p))
            gst, gh, gbody = r.response()
            s.sendall(kit.build("HEAD", p))
            hst, hh, hbody = r.response(head=True)
            assert hst == gst and hbody == b"", (p, gst, hst)
            assert hh["content-length"] == str(len(gbody)), (p, hh, len(gbody))
            assert hh["content-type"] == gh["content-type"] == "application/json"
        s.sendall(kit.build("GET", "/health"))  # HEAD sent no body: the next response parses
        assert r.response()[2] == b'{"status":"ok"}'


# ---- validation ------------------------------------------------------------------------

def test_query_validation_names_the_parameter():
    cases = [
        ("/api/bounties?limit=0", "limit", "between 1 and 100"),
        ("/api/bounties?limit=101", "limit", "between 1 and 100"),
        ("/api/bounties?limit=abc", "limit", "integer"),
        ("/api/bounties?limit=1.5", "limit", "integer"),
        ("/api/bounties?limit=", "limit", "integer"),
        ("/api/bounties?before=-1", "before", "at least 0"),
        ("/api/bounties?before=99999999999999999999", "before", "integer"),
        ("/api/bounties?status=bogus", "status", "open, in_progress, completed, cancelled"),
        ("/api/bounties?status=OPEN", "status", "one of"),
        ("/api/bounties/search", "q", "required"),
        ("/api/bounties/search?q=", "q", "between 1 and 200"),
        ("/api/bounties/search?q=" + "a" * 201, "q", "between 1 and 200"),
        ("/api/bounties/search?q=dog&limit=51", "limit", "between 1 and 50"),
        ("/api/bounties?limit=5&limit=6", "limit", "more than once"),
        ("/api/bounties?limit=5&limit=5", "limit", "more than once"),
        ("/api/bounties?status=%zz", "status", "percent-encoding"),
        ("/api/bounties?status=open%2", "status", "percent-encoding"),
    ]
    for path, name, words in cases:
        msg, _ = error(path, 400)
        assert "'%s'" % name in msg and words in msg, (path, msg)
    msg, _ = error("/api/bounties?%zz=1", 400)
    assert "percent-encoding" in msg, msg
    msg, _ = error("/t/echo/%zz", 400)
    assert "'s'" in msg and "percent-encoding" in msg, msg


def test_values_are_decoded_and_bound_not_spliced():
    _, v = get_json("/t/echo/a%20b%27%3B%20drop%20table%20users%3B--?q=x%2By+z%26%3D")
    assert v == {"s": "a b'; drop table users;--", "q": "x+y z&="}, v
    _, v = get_json("/t/echo/a+b")  # '+' is a space only in a query string
    assert v == {"s": "a+b", "q": ""}, v
    _, v = get_json("/t/echo/%E2%9C%93?q=%C3%A9")
    assert v == {"s": "\u2713", "q": "\u00e9"}, v
    _, v = get_json("/api/bounties?status=in%5Fprogress&limit=1")
    assert v[0]["status"] == "in_progress"
    assert int(psql("SELECT count(*) FROM users")) == 10000


def test_nul_in_a_value_is_refused_not_truncated():
    # %00 cannot be bound as PostgreSQL text. Truncating at it would validate and bind a value
    # other than the one sent (status=open%00junk passing one-of as "open").
    msg, _ = error("/api/bounties?status=open%00junk", 400)
    assert "'status'" in msg, msg
    msg, _ = error("/t/echo/x?q=a%00b", 400)
    assert "'q'" in msg, msg


def test_unknown_route_404_and_wrong_method_405():
    for p in ("/api/nope", "/api/bounties/abc", "/api/bounties/1/x", "/api/bounties/99999999999999999999",
              "/api/users", "/api/users/1/stats/x", "/API/bounties"):
        msg, _ = error(p, 404)
    for method, p, allow in (("PATCH", "/api/bounties", "GET, HEAD, POST"), ("DELETE", "/api/bounties/1", "GET, HEAD"),
                             ("PUT", "/api/users/1/stats", "GET, HEAD"), ("GET", "/t/items/5", "DELETE"),
                             ("GET", "/t/items", "POST")):
        _, h = error(p, 405, method=method)
        assert h.get("allow") == allow, (method, p, h)


# ---- route-file errors ---------------------------------------------------------------

def fixture_classes():
    """(dir, expected line from its README or None) for every bad-route class."""
    out = []
    for base in (os.path.join(FIX, "routes_bad"), os.path.join(MINE, "routes_bad")):
        if not os.path.isdir(base):
            continue
        for cls in sorted(os.listdir(base)):
            d = os.path.join(base, cls)
            readme = os.path.join(d, "README")
            want = None
            if os.path.exists(readme):
                m = re.search(r"must exit non-zero and print: (.+)", open(readme).read())
                want = m.group(1).strip() if m else None
            out.append((cls, d, want))
    return out


def test_route_file_errors_stop_startup():
    classes = fixture_classes()
    names = {c for c, _, _ in classes}
    for need in ("unknown_annotation", "bad_type", "undeclared_param", "unused_param", "duplicate_route",
                 "bad_sql", "rate_needs_auth", "sql_line"):
        assert need in names, "missing fixture class %s (have %s)" % (need, sorted(names))
    for cls, d, want in classes:
        code, err = start_fails(d)
        assert code == 2, (cls, code, err)
        line = [l for l in err.splitlines() if l.startswith("keel: ")]
        assert len(line) == 1, (cls, err)
        m = re.match(r"keel: (\S+?):(\d+): (.+)$", line[0])
        assert m, (cls, line[0])
        path, num, reason = m.group(1), int(m.group(2)), m.group(3)
        assert os.path.dirname(os.path.normpath(path)) == os.path.normpath(d), (cls, path)
        if want:  # "file.sql:N: reason" from the README
            wm = re.match(r"(\S+?):(\d+): (.+)$", want)
            assert wm, (cls, want)
            assert os.path.basename(path) == wm.group(1) and num == int(wm.group(2)), (cls, line[0], want)
            assert reason.startswith(wm.group(3)), (cls, reason, want)
    # the same classes, spelled out: file, line and a word of the reason
    spelled = {"unknown_annotation": ("route.sql", 3, "@cahce"), "bad_type": ("route.sql", 1, "integer"),
               "undeclared_param": ("route.sql", 4, ":limit"), "unused_param": ("route.sql", 2, "not used"),
               "duplicate_route": ("b.sql", 2, "duplicate route"), "bad_sql": ("route.sql", 5, "no_such_table"),
               "rate_needs_auth": ("route.sql", 4, "@rate per sub"), "sql_line": ("route.sql", 7, "syntax error")}
    by = {c: d for c, d, _ in classes}
    for cls, (f, n, word) in spelled.items():
        _, err = start_fails(by[cls])
        assert re.search(r"%s:%d: .*%s" % (re.escape(f), n, re.escape(word)), err), (cls, err)


def test_the_real_routes_start_and_cache():
    # The unfiltered bounties routes, with their @cache/@tags, start and answer with cache headers.
    env = {"KEEL_ROUTES": os.path.join(ROOT, "examples", "bounties", "routes"), "DATABASE_URL": URL,
           "KEEL_JWT_SECRET": JWT_SECRET}
    # Ready first, and every connection up (kit waits for them after /ready): a fill queued
    # before a connection starts listening is not stored (its arrival clears the cache and
    # every fill under way), so it has no Cache-Control.
    with kit.Keel(env=env, ready_path="/ready") as k:
        st, h, body = k.request(path="/api/bounties/7")
        assert st == 200 and json.loads(body)["id"] == 7
        assert h.get("cache-control", "").startswith("public, max-age=") and "age" in h and h["etag"].startswith('"'), h


def test_unix_socket_database_url():
    # What scripts/run.sh uses: the cluster's unix socket (host=<dir> in the URL). Every
    # shard's connections go over it (keel holds 4 unix-domain sockets and no TCP connection
    # to PostgreSQL's port), and the routes answer.
    unix = pg("url", "unix").strip()
    assert "host=/" in unix and "127.0.0.1" not in unix, unix
    with kit.Keel(env=db_env(DATABASE_URL=unix, KEEL_SHARDS="2", KEEL_DB_CONNS_PER_SHARD="2")) as k:
        # started means /health answers; the four connections come up right after
        every = lambda: [s["dbConnections"] for s in ready(k)[1]["shards"]] == [2, 2]
        assert wait_until(every, 5) is not None, ready(k)
        assert get_json("/api/bounties/11", k=k)[1]["id"] == 11
        inodes = socket_inodes(k)
        with open("/proc/net/unix") as f:
            unix_inodes = {line.split()[6] for line in f.readlines()[1:]}
        assert len(inodes & unix_inodes) == 4, (inodes, len(inodes & unix_inodes))
        assert not pg_client_ports(inodes), "keel connected over TCP"


def test_database_url_options_reach_pooled_connections():
    # The startup check and every pooled connection run the SQL under the same settings:
    # DATABASE_URL's own options (here a search_path to a schema only one route's table is
    # in, and a statement_timeout that keel's own setting overrides) are merged with keel's,
    # not replaced, and libpq's precedence holds (the URL's options over PGOPTIONS).
    routes = os.path.join(MINE, "routes_search_path")
    url = URL + "?options=-c%20search_path%3Dkeel_db_app,public%20-c%20statement_timeout%3D60s"
    env = {"KEEL_ROUTES": routes, "DATABASE_URL": url, "KEEL_SHARDS": "2", "KEEL_STATEMENT_TIMEOUT": "750ms",
           "PGOPTIONS": "-c search_path=public"}
    with kit.Keel(env=env) as k:
        assert wait_until(lambda: ready(k)[0] == 200, 5) is not None, (ready(k), k.stderr()[-2000:])
        for _ in range(8):  # over several connections
            assert get_json("/t/only_here", k=k)[1] == {"v": "only in keel_db_app"}
            _, s = get_json("/t/settings", k=k)
            assert s == {"search_path": "keel_db_app,public", "statement_timeout": "750ms"}, s
    # No options in the URL: PGOPTIONS applies, to the startup check and the pool alike.
    env.update(DATABASE_URL=URL, PGOPTIONS="-c search_path=keel_db_app,public")
    with kit.Keel(env=env) as k:
        assert wait_until(lambda: ready(k)[0] == 200, 5) is not None, (ready(k), k.stderr()[-2000:])
        for _ in range(4):
            assert get_json("/t/only_here", k=k)[1] == {"v": "only in keel_db_app"}
            _, s = get_json("/t/settings", k=k)
            assert s == {"search_path": "keel_db_app,public", "statement_timeout": "750ms"}, s


def test_empty_or_missing_routes_folder():
    empty = os.path.join(TMP, "empty")
    os.makedirs(empty, exist_ok=True)
    _, err = start_fails(empty)
    assert "no .sql route files" in err, err
    _, err = start_fails(os.path.join(TMP, "does-not-exist"))
    assert "cannot read the routes folder" in err, err


# ---- SQLSTATE -> HTTP ----------------------------------------------------------------

def calls():
    return int(psql("SELECT last_value FROM keel_db_tests.calls"))


def test_kh_codes_from_functions():
    if os.path.exists(os.path.join(ROUTES, "ok_widgets_get.sql")):
        _, w = get_json("/widgets/1")
        assert w["id"] == 1 and w["name"] == "widget 1", w
        msg, _ = error("/widgets/999999", 404)
        assert msg == "widget 999999 not found", msg
    msg, _ = error("/t/raise?code=KH404&msg=no%20such%20thing", 404)
    assert msg == "no such thing", msg
    msg, _ = error("/t/raise?code=KH409&msg=already%20taken", 409)
    assert msg == "already taken"
    msg, _ = error("/t/raise?code=KH422&msg=bad%20state", 422)
    assert msg == "bad state"
    msg, _ = error("/t/raise?code=KH418&msg=teapot", 418)
    assert msg == "teapot"


def test_kh_code_out_of_range_is_500_without_internals():
    for code in ("KH999", "KH099", "P0001", "XX000"):
        msg, _ = error("/t/raise?code=%s&msg=secret%%20internals" % code, 500)
        assert "secret" not in msg, (code, msg)
    # the log is written by its own thread (log.h): the line may follow the answer
    assert wait_until(lambda: '"sqlstate":"P0001"' in keel.stderr() and "secret internals" in keel.stderr(),
                      5 * SLACK), keel.stderr()[-2000:]


def test_kh_1xx_is_500_and_the_connection_stays_usable():
    # A 1xx is not a final status: answering one would leave the client waiting for the real
    # response and take the next one for it. KH100..KH199 are unknown errors (500, logged).
    with keel.connect() as s:
        r = kit.Reader(s)
        for code in ("KH101", "KH100", "KH199"):
            s.sendall(kit.build("GET", "/t/raise?code=%s&msg=early" % code))
            st, h, body = r.response()
            assert st == 500, (code, st, h, body)
            err = json.loads(body)
            assert err["statusCode"] == 500 and "early" not in err["message"], (code, err)
            s.sendall(kit.build("GET", "/t/echo/next"))  # the same connection still frames right
            st, h, body = r.response()
            assert st == 200 and json.loads(body) == {"s": "next", "q": ""}, (code, st, body)
    time.sleep(0.1)
    assert '"sqlstate":"KH101"' in keel.stderr(), keel.stderr()[-2000:]


def test_unique_fk_check_notnull_violations():
    # Clients learn the class of problem and the SQLSTATE, never PostgreSQL's text (it names
    # constraints and stored values): see test_db_error_text_only_when_exposed.
    msg, _ = error("/t/items?name=taken", 409, method="POST")
    assert msg == "the request conflicts with existing data (SQLSTATE 23505)", msg
    name = "run-%d-%d" % (os.getpid(), int(time.time() * 1000))
    msg, _ = error("/t/items?name=%s&parent=999999999" % name, 409, method="POST")
    assert msg == "the request conflicts with existing data (SQLSTATE 23503)", msg
    msg, _ = error("/t/items?name=%s&qty=-1" % name, 400, method="POST")
    assert msg == "the request breaks a data rule (SQLSTATE 23514)", msg
    msg, _ = error("/t/items?name=", 400, method="POST")
    assert msg == "the request breaks a data rule (SQLSTATE 23502)", msg
    st, h, body = get("/t/items?name=%s&qty=3" % name, method="POST")
    assert st == 201 and h["content-type"] == "application/json", (st, body)
    item = json.loads(body)
    assert item["name"] == name and item["qty"] == 3 and item["parent_id"] is None, item
    msg, _ = error("/t/items?name=%s" % name, 409, method="POST")  # now taken
    st, h, body = get("/t/items/%d" % item["id"], method="DELETE")
    assert st == 204 and body == b"" and "content-type" not in h, (st, h, body)
    assert psql("SELECT count(*) FROM keel_db_tests.items WHERE name = '%s'" % name) == "0"


def test_invalid_input_is_400():
    msg, _ = error("/t/cast?v=abc", 400)
    assert msg == "invalid input value (SQLSTATE 22P02)", msg
    msg, _ = error("/t/cast?v=99999999999", 400)
    assert msg == "invalid input value (SQLSTATE 22003)", msg
    _, v = get_json("/t/cast?v=%2042")
    assert v == {"n": 42}, v
    if os.path.exists(os.path.join(ROUTES, "ok_widgets_set_price.sql")):
        js = {"Content-Type": "application/json"}
        msg, _ = error("/widgets/1/price", 400, method="POST", headers=js, body=b'{"price_cents":"lots"}')
        assert msg == "invalid input value (SQLSTATE 22P02)", msg
        msg, _ = error("/widgets/1/price", 400, method="POST", headers=js, body=b'{"price_cents":-5}')
        assert msg == "the request breaks a data rule (SQLSTATE 23514)", msg
        msg, _ = error("/widgets/1/price", 400, method="POST", headers=js, body=b'{not json')
        assert msg == "the request body is not valid JSON: expected a member name in double quotes at byte 1", msg
        error("/widgets/999999/price", 404, method="POST", headers=js, body=b'{"price_cents":5}')
        error("/widgets/1/price", 415, method="POST", body=b'{"price_cents":5}')


def test_db_error_text_only_when_exposed():
    # Default: no constraint name, no stored value, no PostgreSQL wording in the answer.
    msg, _ = error("/t/items?name=taken", 409, method="POST")
    assert "taken" not in msg and "items" not in msg and "key" not in msg, msg
    msg, _ = error("/t/cast?v=abc", 400)
    assert "abc" not in msg and "integer" not in msg, msg
    # KEEL_EXPOSE_DB_ERRORS=true (development): PostgreSQL's own message.
    with kit.Keel(env=db_env(KEEL_SHARDS="1", KEEL_EXPOSE_DB_ERRORS="true"), ready_path="/ready") as k:
        msg, _ = error("/t/items?name=taken", 409, method="POST", k=k)
        assert "duplicate key" in msg, msg
        msg, _ = error("/t/cast?v=abc", 400, k=k)
        assert "invalid input syntax for type integer" in msg and "abc" in msg, msg
        msg, _ = error("/t/raise?code=KH409&msg=already%20taken", 409, k=k)
        assert msg == "already taken", msg


def test_serialization_failure_is_retried_then_503():
    before = calls()
    msg, h = error("/t/raise?code=KH404", 404)
    assert calls() == before + 1, "a KH404 was retried"
    before = calls()
    msg, h = error("/t/raise?code=40001&msg=could%20not%20serialize", 503)
    assert h.get("retry-after", "").isdigit(), h
    assert calls() == before + 4, "40001: expected 1 try + 3 retries, saw %d" % (calls() - before)
    msg, h = error("/t/raise?code=40P01", 503)
    msg, h = error("/t/raise?code=08006", 503)
    msg, h = error("/t/raise?code=57P01", 503)


# ---- timeouts, the acquire deadline, the queue ----------------------------------------

# One query at a time. /t/sleep qualifies for a batch form (sql_batch.h): lookups gathered in
# one turn would wait as one query, so the queue's bound (KEEL_DB_QUEUE) would hold more of
# them: ASan runs on this machine gathered up to 9, and one let 5 through with 200.
ONE_CONN = {"KEEL_SHARDS": "1", "KEEL_DB_CONNS_PER_SHARD": "1", "KEEL_DB_PIPELINE_DEPTH": "1", "KEEL_DB_BATCH": "1"}


def test_statement_timeout_is_504_and_the_connection_survives():
    with kit.Keel(env=db_env(KEEL_STATEMENT_TIMEOUT="1s", **ONE_CONN)) as k:
        for _ in range(2):
            t0 = time.monotonic()
            msg, _ = error("/t/sleep_short?ms=1000", 504, k=k)
            took = time.monotonic() - t0
            assert 0.15 < took < 0.9, "504 after %.2fs" % took
            assert "time limit" in msg, msg
        st, body = ready(k)
        assert st == 200 and body["shards"][0]["dbConnections"] == 1, body
        _, v = get_json("/t/sleep_short?ms=10", k=k)
        assert v == {"slept": 10}
        # the route's 200 ms limit must not stick to the connection: 500 ms is fine under 1 s
        t0 = time.monotonic()
        _, v = get_json("/t/sleep?ms=500", k=k)
        assert v == {"slept": 500} and time.monotonic() - t0 >= 0.5
        # the connection's own limit (KEEL_STATEMENT_TIMEOUT)
        t0 = time.monotonic()
        error("/t/sleep?ms=1500", 504, k=k)
        assert 0.9 < time.monotonic() - t0 < 1.0 + SLACK, time.monotonic() - t0
        _, rows = get_json("/api/bounties?limit=2", k=k)
        assert len(rows) == 2
        assert ready(k)[1]["shards"][0]["dbConnections"] == 1
        assert "database connection down" not in k.stderr(), k.stderr()[-2000:]


def test_acquire_deadline_under_a_flood():
    n = 30
    with kit.Keel(env=db_env(KEEL_DB_ACQUIRE_TIMEOUT="300ms", **ONE_CONN)) as k:
        res = burst(k.port, ["/t/sleep?ms=500"] * n, timeout=10)
        sts = [r[0] for r in res]
        ok = [r for r in res if r[0] == 200]
        busy = [r for r in res if r[0] == 503]
        assert len(ok) + len(busy) == n, sts
        # one connection, one query at a time, 500 ms each: in the ~0.8 s window at most 2 fit
        assert 1 <= len(ok) <= 3, sts
        for st, took, h, body in busy:
            msg = assert_503(h, body)
            assert "in time" in msg, msg
            assert took >= 0.25, "503 before the acquire deadline: %.3f" % took
        worst = max(r[1] for r in res)
        assert worst < 0.3 + 0.5 + SLACK, "slowest answer %.2fs" % worst
        assert get_json("/t/sleep?ms=0", k=k)[1] == {"slept": 0}  # and serves normally afterwards


def test_queued_query_runs_when_a_connection_frees():
    # A query that had to wait (the one connection busy) must be sent as soon as the
    # connection is free, not left in the queue until its acquire deadline.
    with kit.Keel(env=db_env(KEEL_DB_ACQUIRE_TIMEOUT="2s", **ONE_CONN)) as k:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=timed(k.port, "/t/sleep?ms=300", 10)))
        t.start()
        time.sleep(0.1)
        st, took, h, body = timed(k.port, "/t/sleep?ms=0", 10)
        t.join(15)
        assert first["r"][0] == 200, first
        assert st == 200 and took < 0.2 + SLACK, "queued query: expected 200 after ~0.2s, got %s after %.2fs: %s" % (
            st, took, body)
        # and once the queue has been used, requests that find the connection free go through
        res = [timed(k.port, "/t/sleep?ms=0", 5) for _ in range(5)]
        assert all(r[0] == 200 and r[1] < 0.5 for r in res), [(r[0], round(r[1], 3)) for r in res]


def test_full_queue_is_503_at_once():
    n = 30
    with kit.Keel(env=db_env(KEEL_DB_ACQUIRE_TIMEOUT="300ms", KEEL_DB_QUEUE="2", **ONE_CONN)) as k:
        res = burst(k.port, ["/t/sleep?ms=500"] * n, timeout=10)
        sts = [r[0] for r in res]
        assert all(s in (200, 503) for s in sts), sts
        assert sts.count(200) >= 1, sts
        full = []
        for st, took, h, body in res:
            if st == 503 and "waiting" in assert_503(h, body):
                full.append(took)
        # 1 running + 2 queued: everything else is refused without waiting for the deadline.
        # The message says which rule refused it; the time says it did not wait: one that
        # waited for the 300 ms acquire deadline could not answer sooner (bound chosen so that
        # a loaded CI machine's thread start-up is not mistaken for waiting)
        assert len(full) >= n - 6, (len(full), sts, set(body for st, took, h, body in res))
        fast = [t for t in full if t < 0.3]
        assert len(fast) >= len(full) // 2, sorted(full)


def test_memory_stays_flat_under_a_long_flood():
    env = db_env(KEEL_DB_ACQUIRE_TIMEOUT="200ms", KEEL_DB_QUEUE="4", KEEL_SHARDS="1", KEEL_DB_CONNS_PER_SHARD="1",
                 KEEL_DB_PIPELINE_DEPTH="2", KEEL_SLOW_QUERY_MS="0")
    if kit.ASAN:  # ASan's quarantine holds freed memory back and would look like growth
        env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16").lstrip(":")
    paths = ["/api/bounties/%d", "/api/bounties?limit=20&before=%d", "/api/users/%d/stats", "/t/raise?code=KH404&m=%d",
             "/t/cast?v=x%d", "/api/bounties?limit=0&x=%d", "/nope/%d"]
    with kit.Keel(env=env) as k:
        counts = {}
        lock = threading.Lock()

        def worker(w, total, stop_at):
            s, r = None, None
            for i in range(total):
                if time.monotonic() > stop_at:
                    break
                try:
                    if s is None:
                        s = k.connect(timeout=5)
                        r = kit.Reader(s)
                    s.sendall(kit.build("GET", paths[i % len(paths)] % (1 + (w * 7919 + i) % 9999)))
                    st, h, _ = r.response()
                    if h.get("connection") == "close":
                        s.close()
                        s = None
                except (OSError, EOFError) as e:
                    st = "error:" + type(e).__name__
                    if s:
                        s.close()
                    s = None
                with lock:
                    counts[st] = counts.get(st, 0) + 1
            if s:
                s.close()

        def flood(per_thread, limit, threads=16):
            stop_at = time.monotonic() + limit
            ts = [threading.Thread(target=worker, args=(w, per_thread, stop_at)) for w in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(limit + 15)

        t0 = time.monotonic()
        flood(250, 3)  # warm up: arenas, buffers, libpq's buffers reach their working size
        warm = time.monotonic() - t0
        before = kit.rss_kib(k.proc.pid)
        counts.clear()
        t0 = time.monotonic()
        flood(2000, 10)
        took = time.monotonic() - t0
        after = kit.rss_kib(k.proc.pid)
        total = sum(counts.values())
        print("  memory flood: warm-up %.1fs, %d requests in %.1fs, VmRSS %d -> %d kB, %s" % (
            warm, total, took, before, after, sorted(counts.items(), key=str)), file=sys.stderr)
        assert total >= 5000, (total, counts)
        assert set(counts) <= {200, 400, 404, 503}, counts
        assert counts.get(200, 0) > 0 and counts.get(404, 0) > 0 and counts.get(503, 0) > 0, counts
        assert after - before < 50 * 1024, "VmRSS grew %d kB (%d -> %d)" % (after - before, before, after)
        assert k.proc.poll() is None


def socket_inodes(k):
    """Inodes of the sockets keel process k holds open."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % k.proc.pid):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (k.proc.pid, fd)))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    return inodes


def pg_client_ports(inodes):
    """Local ports of the TCP connections among inodes that go to PostgreSQL's port."""
    pg_port = int(URL.rsplit(":", 1)[1].split("/")[0])
    ports = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[9] in inodes and int(cols[2].split(":")[1], 16) == pg_port:
                ports.append(int(cols[1].split(":")[1], 16))
    return ports


def backend_pids(k):
    """PostgreSQL backend pids serving keel process k's connections (by client port)."""
    ports = pg_client_ports(socket_inodes(k))
    assert ports, "no PostgreSQL connection found for keel"
    return [int(x) for x in psql("SELECT pid FROM pg_stat_activity WHERE client_port IN (%s)" %
                                 ",".join(map(str, ports))).split()]


def test_unresponsive_backend_is_503_within_its_deadline():
    # The server stops answering (its backend is SIGSTOPped): the queries in flight on its
    # connection (three, pipelined) fail with 503 once the oldest one's statement_timeout
    # plus keel's slack has passed, and a new connection takes over.
    env = db_env(KEEL_STATEMENT_TIMEOUT="500ms", KEEL_DB_ACQUIRE_TIMEOUT="1s", KEEL_SHARDS="1",
                 KEEL_DB_CONNS_PER_SHARD="1")
    with kit.Keel(env=env) as k:
        assert get_json("/api/bounties/5", k=k)[1]["id"] == 5
        pids = backend_pids(k)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGSTOP)
        try:
            res = burst(k.port, ["/api/bounties/5", "/api/bounties/6", "/t/sleep?ms=0"], 15)
        finally:
            os.kill(pids[0], signal.SIGCONT)
        for st, took, h, body in res:
            assert st == 503, (st, took, body)
            assert "connection lost" in assert_503(h, body), body
            assert 0.5 < took < 0.5 + 3.0 + SLACK, took
        assert wait_until(lambda: ready(k)[0] == 200, 5) is not None, ready(k)
        assert get_json("/api/bounties/6", k=k)[1]["id"] == 6
        assert backend_pids(k) != pids
        assert "no response from the database" in k.stderr()


def staggered(port, paths, gap, timeout):
    """Sends paths[i] at i * gap seconds, one thread and connection each; returns the
    results in order (see timed)."""
    out = [None] * len(paths)
    t0 = time.monotonic()

    def one(i):
        time.sleep(max(0.0, t0 + i * gap - time.monotonic()))
        out[i] = timed(port, paths[i], timeout)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + len(paths) * gap + 15)
    assert all(o is not None for o in out), "a request thread did not finish"
    return out


def test_queries_behind_slow_ones_are_not_failed():
    # One connection, answers in order: a quick query sent behind slow ones (a route with a
    # longer @timeout) waits for them. Its response deadline (statement_timeout + keel's 3 s
    # slack, 3.25 s here) counts from when it reaches the head of the pipeline, not from its
    # send: else it gives up on a healthy connection and every query in flight fails with 503.
    env = db_env(KEEL_STATEMENT_TIMEOUT="250ms", KEEL_SHARDS="1", KEEL_DB_CONNS_PER_SHARD="1")
    with kit.Keel(env=env) as k:
        for slow in (["/t/sleep_long?ms=3700"], ["/t/sleep_long?ms=2000"] * 2):  # one slow, two in a row
            paths = slow + ["/t/sleep?ms=0"] * 4
            res = staggered(k.port, paths, 0.1, timeout=15)
            got = [(r[0], round(r[1], 2), r[3][:60]) for r in res]
            assert all(r[0] == 200 for r in res), got
            for p, r in zip(paths, res):
                assert json.loads(r[3]) == {"slept": int(p.split("=")[1])}, (p, r[3])
            quick = [r[1] for r in res[len(slow):]]
            # the first quick one waited behind the slow ones longer than a deadline counted
            # from its send would have allowed
            assert quick[0] > 3.3 and max(quick) < 3.8 + SLACK, got
        assert ready(k)[1]["shards"][0]["dbConnections"] == 1
        assert "database connection down" not in k.stderr(), k.stderr()[-2000:]


# ---- slow-query log ------------------------------------------------------------------

def slow_lines(k):
    return [r for r in kit.log_records(k.stderr()) if r.get("msg") == "slow query"]


def test_slow_query_log():
    n0 = len(slow_lines(keel))
    get_json("/t/echo/fast")
    get_json("/t/sleep?ms=150")
    assert wait_until(lambda: len(slow_lines(keel)) > n0, 3), "no slow-query line"
    new = slow_lines(keel)[n0:]
    assert len(new) == 1, new  # the fast echo is under the 100 ms threshold
    rec = new[0]
    assert rec["msg"] == "slow query" and "/t/sleep" in rec["route"] and "t_sleep.sql" in rec["route"], rec
    assert 150 <= rec["durationMs"] < 150 + SLACK * 1000, rec
    with kit.Keel(env=db_env(KEEL_SHARDS="1", KEEL_SLOW_QUERY_MS="1")) as k:
        get_json("/t/sleep?ms=5", k=k)
        # at 1 ms keel's own statements may log too (seen: the idempotency purge shard 0
        # runs at startup, 1.0 ms under ASan): look for the route's line
        sleep_lines = lambda: [r for r in slow_lines(k) if "/t/sleep" in r["route"]]
        assert wait_until(sleep_lines, 3), k.stderr()
        rec = sleep_lines()[0]
        assert "GET /t/sleep" in rec["route"] and rec["durationMs"] >= 5, rec


NOTICE_FN = """CREATE OR REPLACE FUNCTION keel_test_notice(n int) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
  FOR i IN 1..n LOOP RAISE NOTICE 'notice % of %', i, n; END LOOP;
  RAISE WARNING 'a warning with "quotes", a \\ backslash and a tab:%', chr(9);
  RETURN n;
END $f$"""


def test_database_notices_are_json_log_lines():
    # A route's function RAISEs NOTICE and WARNING. Before, libpq wrote them to stderr itself
    # ("NOTICE:  notice 1 of 3"): not JSON, so a shipper reading pino lines choked on them, and
    # written with a blocking fprintf from the shard's thread, which a stderr nobody reads
    # stalls. And every start with an @idempotent route printed three "already exists,
    # skipping" notices of keel's own DDL. Now a notice is a JSON line naming its route
    # (WARNING at level 40), and keel's own DDL says nothing.
    psql(NOTICE_FN)
    d = kit.write_routes(os.path.join(TMP, "notice_routes"), {
        "notice.sql": "-- @route GET /t/notice\n-- @query n int default 1\n-- @returns one\n"
                      "SELECT keel_test_notice(:n::int) AS n\n",
        "pay.sql": "-- @route POST /t/pay\n-- @idempotent required\n-- @returns one status 201\n"
                   "SELECT json_build_object('paid', true)\n"})
    for start in range(2):  # the second start finds keel's idempotency table in place
        with kit.Keel(env={"KEEL_ROUTES": d, "DATABASE_URL": URL, "KEEL_SHARDS": "1"}, ready_path="/ready") as k:
            if start == 1:
                st, _, body = k.request("GET", "/t/notice?n=3")
                assert st == 200 and body == b"3", (st, body)
                assert wait_until(lambda: len([r for r in kit.log_records(k.stderr())
                                               if r["msg"] == "database notice"]) >= 4, 5 * SLACK), k.stderr()
            err = k.stderr()
        lines = err.splitlines()
        assert all(ln.startswith("{") for ln in lines), [ln for ln in lines if not ln.startswith("{")]
    notices = [json.loads(ln) for ln in lines if '"msg":"database notice"' in ln]
    assert len(notices) == 4, notices  # 3 notices and a warning
    for r in notices:
        assert r["route"].startswith("GET /t/notice") and r["shard"] == 0, r
    assert [(r["level"], r["severity"], r["message"], r["sqlstate"]) for r in notices] == [
        (30, "NOTICE", "notice 1 of 3", "00000"), (30, "NOTICE", "notice 2 of 3", "00000"),
        (30, "NOTICE", "notice 3 of 3", "00000"),
        (40, "WARNING", 'a warning with "quotes", a \\ backslash and a tab:\t', "01000")], notices
    # A flood of them against a stderr nobody reads: dropped (log.h), never waited for.
    # Before, the shard blocked in libpq's fprintf: the request timed out, and SIGTERM did
    # not end keel.
    k = kit.Keel(env={"KEEL_ROUTES": d, "DATABASE_URL": URL, "KEEL_SHARDS": "1"}, ready_path="/ready")
    er, ew = os.pipe()
    k.err = os.fdopen(ew, "wb")
    try:
        k.start()
        k.err.close()
        st, _, body = k.request("GET", "/t/notice?n=200000")
        assert st == 200 and body == b"200000", (st, body)
        assert k.request("GET", "/t/notice?n=1")[0] == 200
        t0 = time.monotonic()
        assert k.stop(timeout=20) == 0 and time.monotonic() - t0 < 8 * SLACK
    finally:
        if k.proc and k.proc.poll() is None:
            k.proc.kill()
            k.proc.wait()
        os.close(er)


def row_bytes(g, pad):
    """What KEEL_MAX_ANSWER counts of one row of /t/big (db.h): each value's bytes plus 16."""
    return len(str(g)) + 16 + pad + 16


def test_an_answer_past_max_answer_is_500_and_never_held():
    # A route without a LIMIT. Before, libpq held its whole result, then keel its JSON and
    # its gzip: one request for 2 million rows took keel from 20 MB to 897 MB. Now its rows
    # are read one at a time and held only up to KEEL_MAX_ANSWER (64 KiB here): past it the
    # request is a 500, the rest is read and dropped, and the connection serves on.
    d = kit.write_routes(os.path.join(TMP, "big_routes"), {
        "big.sql": "-- @route GET /t/big\n-- @query n int default 10 min 0 max 100000000\n-- @returns many\n"
                   "SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, :n::int) g\n",
        # @timeout puts a set_config in front of the statement: the rows counted are its own
        "bigslow.sql": "-- @route GET /t/bigslow\n-- @timeout 10s\n-- @query n int default 10 min 0 max 100000000\n"
                       "-- @returns many\nSELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, :n::int) g\n",
        # @returns one answers with the first row: the others are dropped, never held
        "bigone.sql": "-- @route GET /t/bigone\n-- @query n int default 10 min 0 max 100000000\n-- @returns one\n"
                      "SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, :n::int) g\n",
        # a write's answer is never dropped: it comes before the commit (db.h)
        "bigwrite.sql": "-- @route POST /t/bigwrite\n-- @returns many\n"
                        "SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 2000) g\n",
        # rows past the limit, then PostgreSQL's own error (division by zero at 5000)
        "bigfail.sql": "-- @route GET /t/bigfail\n-- @returns many\n"
                       "SELECT g AS id, repeat('x', 100) AS pad, 10 / (5000 - g) AS d FROM generate_series(1, 6000) g\n"})
    cap = 64 * 1024
    fit, total = 0, 0
    while total + row_bytes(fit + 1, 100) <= cap:
        fit += 1
        total += row_bytes(fit, 100)
    env = {"KEEL_ROUTES": d, "DATABASE_URL": URL, "KEEL_SHARDS": "1", "KEEL_DB_CONNS_PER_SHARD": "1",
           "KEEL_CACHE_MB": "0", "KEEL_MAX_ANSWER": str(cap)}
    if kit.ASAN:  # its quarantine holds every freed row result (256 MB by default): a small one
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
    with kit.Keel(env=env, ready_path="/ready") as k:
        h, rows = get_json("/t/big?n=%d" % fit, k=k)  # exactly at the limit: all of it
        assert rows == [{"id": g, "pad": "x" * 100} for g in range(1, fit + 1)], len(rows)
        st, _, body = get("/t/big?n=%d" % (fit + 1), k=k)  # one row more
        assert st == 500 and json.loads(body)["message"] == "the query failed", (st, body[:300])
        rec = k.wait_log("query failed", 0, 5 * SLACK)  # written by the log's thread, maybe after the answer
        assert rec["sqlstate"] == "54000" and rec["route"].endswith("/big.sql") and \
            rec["error"] == "the answer is larger than KEEL_MAX_ANSWER", rec
        # Pipelined, so that they share a pipeline segment: each query is read by its own rule
        with k.connect() as sock:
            ns = [5, fit + 1, 3, fit, 2 * fit, 1]
            sock.sendall(b"".join(kit.build("GET", "/t/big?n=%d" % n) for n in ns))
            rd = kit.Reader(sock)
            got = [rd.response() for _ in ns]
        assert [st for st, _, _ in got] == [200, 500, 200, 200, 500, 200], [st for st, _, _ in got]
        assert [len(json.loads(b)) for st, _, b in got if st == 200] == [5, 3, fit, 1]
        h, rows = get_json("/t/bigslow?n=%d" % fit, k=k)
        assert len(rows) == fit and rows[-1] == {"id": fit, "pad": "x" * 100}, len(rows)
        st, _, body = get("/t/bigslow?n=%d" % (fit + 1), k=k)
        assert st == 500, (st, body[:300])
        for n in (1, fit + 1, 100000):
            h, row = get_json("/t/bigone?n=%d" % n, k=k)
            assert row == {"id": 1, "pad": "x" * 100}, (n, row)
        h, rows = get_json("/t/bigwrite", k=k, method="POST")
        assert [r["id"] for r in rows] == list(range(1, 2001)), len(rows)
        # A million rows (~134 MB counted): keel's memory stays where it was while they
        # stream past, and the connection is usable at once after.
        base, peak, done = kit.rss_kib(k.proc.pid), [0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], kit.rss_kib(k.proc.pid))
                time.sleep(0.01)
        t = threading.Thread(target=sample)
        t.start()
        try:
            st, _, body = get("/t/big?n=1000000", k=k, timeout=60 * SLACK)
        finally:
            done.set()
            t.join()
        assert st == 500, (st, body[:200])
        assert peak[0] - base < 32 * 1024, (base, peak[0])  # KiB; before: hundreds of MB
        h, rows = get_json("/t/big?n=3", k=k)
        assert [r["id"] for r in rows] == [1, 2, 3], rows
        # PostgreSQL's own error, after the limit was passed, is the answer: it says why.
        st, _, body = get("/t/bigfail", k=k)
        assert st == 400 and "22012" in json.loads(body)["message"], (st, body)


# ---- PostgreSQL going away ---------------------------------------------------------------

def test_postgres_stopped_and_restarted_under_load():
    k = kit.Keel(env=db_env(KEEL_SHARDS="2", KEEL_DB_ACQUIRE_TIMEOUT="500ms")).start()
    samples = []  # (t_start, status, seconds)
    lock = threading.Lock()
    stop = threading.Event()
    t_begin = time.monotonic()

    def loader(w):
        i = 0
        while not stop.is_set() and time.monotonic() - t_begin < 40 and i < 20000:
            i += 1
            t0 = time.monotonic()
            st, took, h, body = timed(k.port, "/api/bounties/%d" % (1 + (w * 104729 + i) % 99999), timeout=5)
            if st == 503:
                assert_503(h, body)
            with lock:
                samples.append((t0, st, took))
            time.sleep(0.01)

    ts = [threading.Thread(target=loader, args=(w,)) for w in range(4)]
    try:
        for t in ts:
            t.start()
        time.sleep(1.0)
        t_stop0 = time.monotonic()
        pg("stop")
        t_down = time.monotonic()
        time.sleep(0.5)
        st, body = ready(k)
        assert st == 503 and body["status"] == "not ready" and body["database"] == "down", body
        assert [s["dbConnections"] for s in body["shards"]] == [0, 0], body
        time.sleep(2.0)
        t_start0 = time.monotonic()
        pg("start")
        t_up = time.monotonic()
        back = wait_until(lambda: ready(k)[0] == 200, 10)
        assert back is not None, "/ready not 200 within 10 s of PostgreSQL's restart: %s" % (ready(k),)
        t_ready = time.monotonic()
        time.sleep(1.5)
    finally:
        stop.set()
        for t in ts:
            t.join(15)
        if not pg_running():
            pg("start")
    code = k.stop()
    assert code == 0, (code, k.stderr()[-2000:])
    print("  pg restart: stop %.2fs, start %.2fs, ready %.2fs after start, %d samples" % (
        t_down - t_stop0, t_up - t_start0, t_ready - t_up, len(samples)), file=sys.stderr)
    assert not [s for s in samples if s[1] not in (200, 503)], [s for s in samples if s[1] not in (200, 503)][:10]
    assert max(s[2] for s in samples) < 0.5 + SLACK + 1.5, max(s[2] for s in samples)
    before = [s for s in samples if s[0] + s[2] < t_stop0]
    down = [s for s in samples if t_down + 0.2 < s[0] and s[0] + s[2] < t_start0]
    after = [s for s in samples if s[0] > t_ready + 0.2]
    assert before and all(s[1] == 200 for s in before), before[-5:]
    assert len(down) >= 8 and all(s[1] == 503 for s in down), [s[1] for s in down]
    assert after and all(s[1] == 200 for s in after), [s[1] for s in after]
    assert '"database connection down"' in k.stderr() and '"database connection up"' in k.stderr()


def test_startup_with_the_database_down():
    k = None
    try:
        pg("stop")
        k = kit.Keel(env=db_env(KEEL_SHARDS="2", KEEL_DB_ACQUIRE_TIMEOUT="500ms")).start()
        assert k.request()[0] == 200
        st, body = ready(k)
        assert st == 503 and body["database"] == "down" and len(body["shards"]) == 2, body
        for _ in range(3):
            t0 = time.monotonic()
            st, took, h, b = timed(k.port, "/api/bounties/5", timeout=10)
            assert st == 503, (st, b)
            assert_503(h, b)
            assert 0.4 < took < 0.5 + SLACK, took
        assert "database unreachable at startup" in k.stderr()
        t0 = time.monotonic()
        pg("start")
        back = wait_until(lambda: ready(k)[0] == 200, 10)
        assert back is not None, "/ready not 200 within 10 s: %s" % (ready(k),)
        _, row = get_json("/api/bounties/5", k=k)
        assert row["id"] == 5
        _, rows = get_json("/api/bounties/search?q=dog&limit=3", k=k)
        assert len(rows) == 3
    finally:
        if not pg_running():
            pg("start")
        if k:
            code = k.stop()
            assert code == 0, (code, k.stderr()[-2000:])


def test_zz_keel_exits_cleanly():
    code = keel.stop()
    assert code == 0, (code, keel.stderr()[-3000:])
    err = keel.stderr()
    assert "AddressSanitizer" not in err and "runtime error:" not in err, err[-3000:]


if __name__ == "__main__":
    setup()
    try:
        kit.main(globals(), servers=lambda: [keel] if keel else [])
    finally:
        if keel:
            keel.stop()  # already stopped unless something above raised
        shutil.rmtree(TMP, ignore_errors=True)
