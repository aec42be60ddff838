"""Read replicas (KEEL_REPLICA_URLS, replica.h) against a real streaming replica that this
test creates (scripts/pg.sh replica start: pg_basebackup -R from the private cluster, started
on port (KEEL_PG_PORT + 1) mod 32768): reads served by the replica, @primary routes and writes by the primary,
read-your-writes (a subject's read right after its write sees it, while other subjects still
read the replica), cache fills after an eviction never store the replica's older rows, and
lag handling (replay paused with pg_wal_replay_pause(): after KEEL_REPLICA_MAX_LAG the
replica leaves rotation and reads go to the primary; resumed, it comes back).

Routes: tests/fixtures/scale/routes, each answering the server's port and
pg_is_in_recovery(). Subjects are client addresses sent through X-Forwarded-For
(KEEL_TRUSTED_PROXIES=127.0.0.1). The replica is stopped at the end.
"""
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
MINE = os.path.join(ROOT, "tests", "fixtures", "scale")
BASE = random.randrange(1, 1 << 40) * 1000
SLACK = 3.0 if kit.ASAN else 1.0
# KEEL_REPLICA_MAX_LAG here: the lag test must write and read twice before it runs out, which
# an ASan build on a loaded machine may not do within 1 s
LAG_S = 1.0 * SLACK
URL = RURL = None
PPORT = RPORT = None
K = None


def port_of(url):
    return int(url.rsplit(":", 1)[1].split("/")[0])


def subject():
    return "10.%d.%d.%d" % (random.randrange(256), random.randrange(256), random.randrange(1, 255))


def get(path, who):
    st, _, body = K.request("GET", path, headers={"X-Forwarded-For": who})
    assert st == 200, (path, st, body)
    return json.loads(body)


def post(path, obj, who):
    st, _, body = K.request("POST", path, headers={"X-Forwarded-For": who, "Content-Type": "application/json"},
                            body=json.dumps(obj).encode())
    assert st == 200, (path, st, body)
    return json.loads(body)


def replica_sql(sql):
    return kit.psql(RURL, sql)


def own_keel(routes, **settings):
    """A keel of the test's own on the routes folder routes, reading from the replica, with
    settings (KEEL_*) on top of the module's."""
    env = {"KEEL_ROUTES": routes, "DATABASE_URL": URL, "KEEL_REPLICA_URLS": RURL,
           "KEEL_REPLICA_MAX_LAG": "%gs" % LAG_S, "KEEL_TRUSTED_PROXIES": "127.0.0.1"}
    env.update(settings)
    return kit.Keel(env=env, ready_path="/ready").start(timeout=30)


def served_by(k, path):
    """The port of the server that answered GET path on k, for a new subject."""
    st, _, body = k.request("GET", path, headers={"X-Forwarded-For": subject()})
    assert st == 200, (path, st, body, k.stderr()[-3000:])
    return json.loads(body)["port"]


def wait_in_rotation(k):
    deadline = time.monotonic() + 15 * SLACK
    while served_by(k, "/sc/live/%d" % BASE) != RPORT:
        assert time.monotonic() < deadline, "the replica never came into rotation: " + k.stderr()[-2000:]
        time.sleep(0.1)


@contextlib.contextmanager
def own_keel_on_a_copy(extra_routes=None, **settings):
    """own_keel on a copy of this test's routes plus extra_routes ({file name: text}), once
    the replica is in rotation; yields (keel, its routes folder). Afterwards the replica must
    still serve, keel stops cleanly (ASan) and the copy is removed."""
    d = tempfile.mkdtemp(prefix="keel-replica-")
    routes, k = os.path.join(d, "routes"), None
    try:
        shutil.copytree(os.path.join(MINE, "routes"), routes)
        kit.write_routes(routes, extra_routes or {})
        k = own_keel(routes, **settings)
        wait_in_rotation(k)
        yield k, routes
        assert [served_by(k, "/sc/live/%d" % BASE) for _ in range(4)] == [RPORT] * 4, k.stderr()[-2000:]
    finally:
        if k:
            problem = k.stop_checked()
            assert not problem, problem
        shutil.rmtree(d, ignore_errors=True)


def setup():
    global URL, RURL, PPORT, RPORT, K
    kit.pg("start")
    kit.pg("load")
    URL = kit.pg("url").strip()
    kit.psql_file(URL, os.path.join(MINE, "schema.sql"))
    kit.pg("replica", "start", timeout=600)
    RURL = kit.pg("replica", "url").strip()
    PPORT, RPORT = port_of(URL), port_of(RURL)
    kit.psql(URL, "INSERT INTO keel_scale.kv (id, v) SELECT %d + g, 0 FROM generate_series(0, 99) g "
                  "ON CONFLICT (id) DO UPDATE SET v = 0" % BASE)
    K = own_keel(os.path.join(MINE, "routes"), KEEL_SHARDS="2")
    wait_in_rotation(K)


def teardown():
    try:
        if RURL:
            replica_sql("SELECT pg_wal_replay_resume()")
        if K:
            problem = K.stop_checked()
            assert not problem, problem
        if URL:
            kit.psql(URL, "DELETE FROM keel_scale.kv WHERE id BETWEEN %d AND %d" % (BASE, BASE + 999))
    finally:
        kit.pg("replica", "stop")


def test_reads_are_served_by_the_replica():
    for i in range(10):
        r = get("/sc/live/%d" % (BASE + i), subject())
        assert r["port"] == RPORT and r["replica"] is True, r


def test_primary_routes_and_writes_go_to_the_primary():
    who = subject()
    r = get("/sc/primary/%d" % (BASE + 1), who)
    assert r["port"] == PPORT and r["replica"] is False, r
    w = post("/sc/kv/%d" % (BASE + 2), {"v": 5}, who)
    assert w["port"] == PPORT, w


def test_read_your_writes_and_lag():
    key = BASE + 30
    writer, other = subject(), subject()
    # the cached route holds the old row on this instance, filled from the replica
    assert get("/sc/kv/%d" % key, other)["v"] == 0
    # The lag counts from the oldest probe whose flushed WAL the replica has not replayed: if
    # it was still replaying other tests' writes when paused, that is before the pause. So it
    # first replays everything flushed by t0, and only then pauses: its lag starts after t0.
    t0 = time.monotonic()
    lsn = kit.psql(URL, "SELECT pg_current_wal_flush_lsn()")
    deadline = t0 + 5 * SLACK
    while replica_sql("SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn" % lsn) != "t":
        assert time.monotonic() < deadline, "the replica did not catch up before the pause"
        time.sleep(0.02)
    replica_sql("SELECT pg_wal_replay_pause()")
    mark = len(K.stderr())
    try:
        w = post("/sc/kv/%d" % key, {"v": 123}, writer)
        assert w["v"] == 123 and w["port"] == PPORT
        # the writer reads its write at once: from the primary, the replica has not replayed it
        r = get("/sc/live/%d" % key, writer)
        assert r["v"] == 123 and r["port"] == PPORT, r
        # another subject still reads the replica (within the lag bound), which lacks the write
        r = get("/sc/live/%d" % key, other)
        assert time.monotonic() - t0 < 0.9 * LAG_S, "too slow to check before the lag bound"
        assert r["port"] == RPORT and r["v"] == 0, r
        # the write evicted kv:{key}: its refill must not come from the replica that lacks it
        r = get("/sc/kv/%d" % key, other)
        assert r["v"] == 123 and r["port"] == PPORT, r
        # past KEEL_REPLICA_MAX_LAG the replica leaves rotation: everyone reads the primary.
        # Watched in the log: a single read may reach the primary earlier for another reason
        # (its subject sharing the writer's read-your-writes slot, replica.h).
        deadline = time.monotonic() + LAG_S + 4 * SLACK
        while "replica out of rotation" not in K.stderr()[mark:]:
            assert time.monotonic() < deadline, "a replica paused past its lag bound is still in rotation"
            time.sleep(0.05)
        assert time.monotonic() - t0 >= 0.9 * LAG_S, "out of rotation before its lag reached the bound"
        for _ in range(4):
            r = get("/sc/live/%d" % key, subject())
            assert r["port"] == PPORT and r["v"] == 123, r
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
    # resumed: it replays, catches up and serves reads again, the write included
    deadline = time.monotonic() + 5 * SLACK
    while True:
        r = get("/sc/live/%d" % key, subject())
        if r["port"] == RPORT:
            break
        assert time.monotonic() < deadline, "the replica did not come back into rotation"
        time.sleep(0.05)
    assert r["v"] == 123, r
    # and the writer, once the replica has replayed its write, reads from it too
    deadline = time.monotonic() + 3 * SLACK
    while get("/sc/live/%d" % key, writer)["port"] != RPORT:
        assert time.monotonic() < deadline, "the writer stays on the primary after the replica caught up"
        time.sleep(0.05)


def test_bad_replica_list_refused_at_startup():
    code, err = kit.refuses_to_start({"DATABASE_URL": URL, "KEEL_REPLICA_URLS": "%s,,%s" % (RURL, RURL)})
    assert "--replica-urls: an empty entry" in err, err
    code, err = kit.refuses_to_start({"DATABASE_URL": "", "KEEL_REPLICA_URLS": RURL})
    assert "--replica-urls needs a database" in err, err


def test_a_route_added_by_reload_reads_from_the_replica():
    # A reload appends statements after the pools' whole list (the routes' and the lag
    # probes'): the new route is prepared on the replica pools too, and the probes keep
    # their places, so the replica stays in rotation.
    import signal
    with own_keel_on_a_copy(KEEL_SHARDS="2") as (k, routes):
        kit.write_routes(routes, {"kv_added.sql": "-- @route GET /sc/added/{id:int}\n-- @returns one\n"
                                  "SELECT json_build_object('id', id, 'port', current_setting('port')::int)\n"
                                  "FROM keel_scale.kv WHERE id = :id::bigint;\n"})
        mark = len(k.stderr())
        k.send_signal(signal.SIGHUP)
        k.wait_reloaded(mark, 15 * SLACK)
        # every shard (2 x 2 fresh connections) answers the new route from the replica
        ports = [served_by(k, "/sc/added/%d" % (BASE + i)) for i in range(8)]
        assert ports == [RPORT] * 8, ports
        # the lag probes still run: 3 s later (3 x the max lag) the replica is still in
        # rotation (checked on leaving the with)
        time.sleep(3 * SLACK)


def test_keel_shedding_its_reads_leaves_the_replica_in_rotation():
    # keel's own overload (its replica pool shedding reads and refusing them for a full
    # queue) is not the replica failing: the lag probes wait at the head of the queue and
    # are never shed, so the replica stays in rotation while keel sheds, and serves after.
    import threading
    slow = {"kv_slow.sql": "-- @route GET /sc/slow/{ms:int}\n-- @returns one\n"
                           "SELECT json_build_object('port', current_setting('port')::int)\n"
                           "FROM pg_sleep(:ms::int / 1000.0);\n"}
    # one connection of depth 2 per pool, 4 may queue, shedding past 5 ms of waiting
    with own_keel_on_a_copy(slow, KEEL_SHARDS="1", KEEL_DB_CONNS_PER_SHARD="1", KEEL_DB_PIPELINE_DEPTH="2",
                            KEEL_DB_QUEUE="4", KEEL_DB_QUEUE_TARGET="5ms") as (k, _):
        mark = len(k.stderr())
        # 16 keep-alive clients on a 50 ms read for 3 s (at most 200 requests each): about
        # 40 reads/s fit, so the queue fills and waits pass the target
        statuses, ports, lock = {}, set(), threading.Lock()
        stop_at = time.monotonic() + 3

        def client():
            s = k.connect()
            r = kit.Reader(s)
            try:
                for _ in range(200):
                    if time.monotonic() >= stop_at:
                        break
                    s.sendall(kit.build("GET", "/sc/slow/50", headers={"X-Forwarded-For": subject()}))
                    st, _, body = r.response()
                    with lock:
                        statuses[st] = statuses.get(st, 0) + 1
                        if st == 200:
                            ports.add(json.loads(body)["port"])
            finally:
                s.close()
        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        log = k.stderr()[mark:]
        assert statuses.get(503, 0) > 0, "no read was shed or refused: %s" % statuses
        assert set(statuses) <= {200, 503}, statuses
        assert RPORT in ports, "no slow read reached the replica: %s" % ports
        assert "out of rotation" not in log, log[-3000:]
        # and the replica serves after it (checked on leaving the with)


def test_no_healthy_replica_means_the_primary():
    # the replica stopped: its connections drop, reads go to the primary without errors
    kit.pg("replica", "stop")
    try:
        deadline = time.monotonic() + 5 * SLACK
        while True:
            st, _, body = K.request("GET", "/sc/live/%d" % BASE, headers={"X-Forwarded-For": subject()})
            if st == 200 and json.loads(body)["port"] == PPORT:
                break
            assert time.monotonic() < deadline, "reads did not move to the primary: %s %s" % (st, body)
            time.sleep(0.05)
        for _ in range(10):
            r = get("/sc/live/%d" % BASE, subject())
            assert r["port"] == PPORT, r
    finally:
        kit.pg("replica", "start", timeout=600)


if __name__ == "__main__":
    setup()
    try:
        kit.main(globals())
    finally:
        teardown()
