"""Live route reload (SIGHUP): under load on an unchanged route, a reload that adds a route,
changes one (cached before: the new SQL's answer must come back, not the cached one) and
removes one fails no request, serves the new table on every shard, and lets a request in
flight on a removed route finish with its old answer. A reload whose folder has a syntax
error, or SQL naming a missing column, changes nothing and logs file:line: reason.

The routes live in a temporary folder and need no schema of their own (json_build_object
over constants), so the test only needs the private cluster's database (scripts/pg.sh start, load).
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

SLACK = 3.0 if kit.ASAN else 1.0

STABLE = """-- @route GET /stable/{id:int}
SELECT json_build_object('route', 'stable', 'id', :id::bigint)
"""
CHANGE_OLD = """-- @route GET /change
-- @cache 600s
SELECT json_build_object('route', 'change', 'version', 1)
"""
CHANGE_NEW = """-- @route GET /change
-- @cache 600s
SELECT json_build_object('route', 'change', 'version', 2)
"""
# the same SQL (so the same statement and cache key), another shape of answer
SHAPE_OLD = """-- @route GET /shape
-- @cache 600s
SELECT json_build_object('route', 'shape')
"""
SHAPE_NEW = """-- @route GET /shape
-- @cache 600s
-- @returns many
SELECT json_build_object('route', 'shape')
"""
REMOVE = """-- @route GET /remove
SELECT json_build_object('route', 'remove')
"""
SLOW = """-- @route GET /slow
SELECT json_build_object('route', 'slow') FROM pg_sleep(1.5)
"""
ADDED = """-- @route POST /added
-- @returns one status 201
SELECT json_build_object('route', 'added')
"""
BROKEN_SYNTAX = """-- @route GET /broken
-- @cache forever
SELECT 1
"""
BROKEN_SQL = """-- @route GET /broken
-- @query n int default 1

SELECT json_build_object('n', :n::int,
                         'x', relnamexyz)
FROM pg_class LIMIT 1
"""

URL = None


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def get_json(k, path, method="GET"):
    st, _, body = k.request(method, path)
    return st, (json.loads(body) if st in (200, 201) else body)


def on_every_shard(k, method, path, shards=2):
    """Sends method path on 2 * shards connections open at once (the least-connections
    acceptor spreads them over every shard); returns [(status, json or body)] of a round that
    every shard answered. The acceptor counts a connection closed only once its shard has
    seen the close, so right after the previous round it may still count those and send a
    whole round to one shard: then the round is repeated (its answers must agree)."""
    answers = set()
    for _ in range(20):
        conns = [k.connect() for _ in range(2 * shards)]
        out, seen = [], set()
        try:
            for s in conns:
                s.sendall(kit.build(method, path))
                st, h, body = kit.read_response(s)
                seen.add(int(h["x-request-id"].split("-")[2]))
                out.append((st, json.loads(body)) if st in (200, 201) else st)
        finally:
            for s in conns:
                s.close()
        answers.update(json.dumps(a, sort_keys=True) for a in out)
        if seen == set(range(shards)):
            assert answers == {json.dumps(a, sort_keys=True) for a in out}, answers
            return out
        time.sleep(0.05)
    raise AssertionError("20 rounds, never answered by every shard; last by %s" % sorted(seen))


class Load:
    """Keep-alive clients on GET /stable/{i}, bounded in time and count, counting every
    answer that is not the right 200 (and every broken connection) as a failure."""

    def __init__(self, k, clients=4, max_seconds=60, max_requests=200000):
        self.k, self.stop_at = k, time.monotonic() + max_seconds
        self.max_requests = max_requests
        self.done = self.failed = 0
        self.errors = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]

    def client(self, n):
        i = 0
        s = None
        while not self.stopping.is_set() and time.monotonic() < self.stop_at and self.done < self.max_requests:
            i += 1
            try:
                if s is None:
                    s = self.k.connect()
                s.sendall(kit.build("GET", "/stable/%d" % (n * 1000000 + i)))
                st, _, body = kit.read_response(s)
                ok = st == 200 and json.loads(body) == {"route": "stable", "id": n * 1000000 + i}
                why = None if ok else "%s %r" % (st, body[:200])
            except (OSError, EOFError, ValueError) as e:
                ok, why = False, repr(e)
                if s is not None:
                    s.close()
                s = None
            with self.lock:
                self.done += 1
                if not ok:
                    self.failed += 1
                    self.errors.append(why)
        if s is not None:
            s.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(30)


def test_reload_under_load():
    d = tempfile.mkdtemp(prefix="keel-reload-")
    try:
        write(d, "stable.sql", STABLE)
        write(d, "change.sql", CHANGE_OLD)
        write(d, "shape.sql", SHAPE_OLD)
        write(d, "remove.sql", REMOVE)
        write(d, "slow.sql", SLOW)
        env = {"KEEL_ROUTES": d, "DATABASE_URL": URL, "KEEL_SHARDS": "2"}
        with kit.Keel(env=env, ready_path="/ready") as k:
            # the changed route is cached on every shard before the reload (several
            # connections: the acceptor spreads them over both shards)
            assert on_every_shard(k, "GET", "/change") == [(200, {"route": "change", "version": 1})] * 4
            assert on_every_shard(k, "GET", "/shape") == [(200, {"route": "shape"})] * 4
            assert get_json(k, "/added", "POST")[0] == 404
            with Load(k) as load:
                time.sleep(0.5 * SLACK)
                before = load.done
                assert before > 0, "no load reached keel"
                # a request in flight on a route the reload removes
                slow = {}
                t = threading.Thread(target=lambda: slow.update(r=get_json(k, "/slow")))
                t.start()
                time.sleep(0.3)
                write(d, "added.sql", ADDED)
                write(d, "change.sql", CHANGE_NEW)
                write(d, "shape.sql", SHAPE_NEW)
                os.unlink(os.path.join(d, "remove.sql"))
                os.unlink(os.path.join(d, "slow.sql"))
                mark = len(k.stderr())
                k.send_signal(signal.SIGHUP)
                m = k.wait_reloaded(mark, 15 * SLACK)
                assert "1 added, 2 changed, 2 removed, 1 unchanged" in m["summary"], m
                # every shard serves the new table: several fresh connections each
                assert on_every_shard(k, "POST", "/added") == [(201, {"route": "added"})] * 4
                assert on_every_shard(k, "GET", "/change") == [(200, {"route": "change", "version": 2})] * 4
                assert on_every_shard(k, "GET", "/shape") == [(200, [{"route": "shape"}])] * 4
                assert on_every_shard(k, "GET", "/remove") == [404] * 4
                assert on_every_shard(k, "GET", "/slow") == [404] * 4
                t.join(10 * SLACK)
                assert slow.get("r") == (200, {"route": "slow"}), slow
                # more reloads back and forth, each table replaced while requests hold it
                for n in range(4):
                    write(d, "change.sql", CHANGE_OLD if n % 2 == 0 else CHANGE_NEW)
                    mark = len(k.stderr())
                    k.send_signal(signal.SIGHUP)
                    k.wait_reloaded(mark, 15 * SLACK)
                    v = 1 if n % 2 == 0 else 2
                    assert on_every_shard(k, "GET", "/change") == [(200, {"route": "change", "version": v})] * 4
                time.sleep(0.5 * SLACK)
                during = load.done - before
            assert load.failed == 0, "%d of %d failed: %s" % (load.failed, load.done, load.errors[:5])
            assert during > 0, "the load stopped during the reload"
            print("load: %d requests on the unchanged route, 0 failed" % load.done, file=sys.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_broken_reload_changes_nothing():
    d = tempfile.mkdtemp(prefix="keel-reload-")
    try:
        write(d, "stable.sql", STABLE)
        write(d, "change.sql", CHANGE_OLD)
        env = {"KEEL_ROUTES": d, "DATABASE_URL": URL, "KEEL_SHARDS": "2"}
        with kit.Keel(env=env, ready_path="/ready") as k:
            assert get_json(k, "/change") == (200, {"route": "change", "version": 1})
            path = os.path.join(d, "zz_broken.sql")
            for text, line, reason in ((BROKEN_SYNTAX, 2, "@cache"), (BROKEN_SQL, 5, "relnamexyz")):
                write(d, "change.sql", CHANGE_NEW)  # valid on its own: must not be taken either
                write(d, "zz_broken.sql", text)
                mark = len(k.stderr())
                k.send_signal(signal.SIGHUP)
                m = k.wait_log("route reload failed", mark, 15 * SLACK)
                assert m["error"].startswith("%s:%d: " % (path, line)), m
                assert reason in m["error"], m
                assert "routes reloaded" not in k.stderr()[mark:]
                assert on_every_shard(k, "GET", "/change") == [(200, {"route": "change", "version": 1})] * 4
                assert on_every_shard(k, "GET", "/broken") == [404] * 4
                assert on_every_shard(k, "GET", "/stable/7") == [(200, {"route": "stable", "id": 7})] * 4
            # and once fixed, the same keel takes it
            os.unlink(path)
            mark = len(k.stderr())
            k.send_signal(signal.SIGHUP)
            k.wait_reloaded(mark, 15 * SLACK)
            assert on_every_shard(k, "GET", "/change") == [(200, {"route": "change", "version": 2})] * 4
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_a_route_file_that_is_no_file_never_blocks():
    # A FIFO named zz.sql in the routes folder: before, opening it waited for a writer for
    # good, on the thread that also takes SIGTERM, so the reload never ended and neither did
    # keel. A folder named .sql was read as "Input/output error". Both are refused now, by
    # name, at a reload (the previous routes serve on) and at startup.
    d = tempfile.mkdtemp(prefix="keel-reload-")
    try:
        write(d, "stable.sql", STABLE)
        env = {"KEEL_ROUTES": d, "DATABASE_URL": URL, "KEEL_SHARDS": "2"}
        with kit.Keel(env=env, ready_path="/ready") as k:
            for name, make in (("yy.sql", os.mkdir), ("zz.sql", os.mkfifo)):
                path = os.path.join(d, name)
                make(path)
                mark = len(k.stderr())
                k.send_signal(signal.SIGHUP)
                m = k.wait_log("route reload failed", mark, 15 * SLACK)
                assert m["error"] == path + ": not a regular file", m
                assert on_every_shard(k, "GET", "/stable/7") == [(200, {"route": "stable", "id": 7})] * 4
                _, err = kit.refuses_to_start(env)
                assert "keel: %s: not a regular file" % path in err, err
                (os.rmdir if make is os.mkdir else os.unlink)(path)
            t0 = time.monotonic()
            assert k.stop(timeout=10) == 0 and time.monotonic() - t0 < 5 * SLACK
    finally:
        shutil.rmtree(d, ignore_errors=True)


IDEM = """-- @route POST /pay
-- @idempotent required
-- @returns one status 201
SELECT json_build_object('paid', true, 'n', nextval('keel_reload_test_seq'))
"""


def test_reload_adds_keel_own_statements():
    # the first @idempotent route arrives by reload: keel's own statements (claim, replay)
    # are new to every connection, and its table is created by the reload's check
    kit.psql(URL, "CREATE SEQUENCE IF NOT EXISTS keel_reload_test_seq")
    d = tempfile.mkdtemp(prefix="keel-reload-")
    try:
        write(d, "stable.sql", STABLE)
        env = {"KEEL_ROUTES": d, "DATABASE_URL": URL, "KEEL_SHARDS": "2"}
        with kit.Keel(env=env, ready_path="/ready") as k:
            write(d, "pay.sql", IDEM)
            mark = len(k.stderr())
            k.send_signal(signal.SIGHUP)
            k.wait_reloaded(mark, 15 * SLACK)
            key = "reload-%d-%d" % (os.getpid(), time.time_ns())
            st, h, body = k.request("POST", "/pay", {"Idempotency-Key": key})
            assert st == 201, (st, body)
            first = json.loads(body)
            st, h, body = k.request("POST", "/pay", {"Idempotency-Key": key})
            assert st == 201 and json.loads(body) == first, (st, body)
            assert h.get("idempotent-replayed") == "true", h
            assert k.request("POST", "/pay")[0] == 400  # required
            assert get_json(k, "/stable/3") == (200, {"route": "stable", "id": 3})
    finally:
        shutil.rmtree(d, ignore_errors=True)


def setup():
    global URL
    kit.pg("start")
    kit.pg("load")  # the database itself; the routes read no table of it
    URL = kit.pg("url").strip()


if __name__ == "__main__":
    setup()
    kit.main(globals())
