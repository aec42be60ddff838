"""Pipeline segments (db.h): GET routes' queries that are ready together share one Sync, a
failing query never fails its neighbours (PostgreSQL aborts the rest of the segment; keel
sends them again, alone), and a slow query never holds fast ones on its connection.

One shard and few PostgreSQL connections, so that queries really share segments. The routes
and their function live in their own schema keel_seg_tests of the bounties database
(scripts/pg.sh load), created here. That segments form is seen from PostgreSQL's side: one
segment is one implicit transaction, so keel's transactions (pg_stat_database) number far
fewer than its queries under concurrent load; with a Sync per query they would be at least
as many.
"""
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

SCHEMA = """
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS keel_seg_tests;
-- Refused (KH409) for multiples of 7, a division by zero (22012 -> 400) for multiples of 11.
CREATE OR REPLACE FUNCTION keel_seg_tests.item(i int) RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF i % 7 = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'KH409', MESSAGE = 'item ' || i || ' is refused';
    END IF;
    RETURN json_build_object('id', i, 'sq', i * i, 'inv', CASE WHEN i % 11 = 0 THEN 1 / (i - i) ELSE 0 END);
END $$;
"""

ROUTES = {
    "seg_item.sql": """-- @route   GET /seg/{id:int}
-- @returns one
SELECT keel_seg_tests.item(:id::int);
""",
    "seg_sleep.sql": """-- @route   GET /seg/sleep
-- @query   ms int default 300 min 0 max 5000
-- @returns one
SELECT json_build_object('slept', :ms::int) FROM pg_sleep(:ms::int / 1000.0);
""",
}

URL = None
TMP = tempfile.mkdtemp(prefix="keel-seg-test-")


def setup():
    global URL
    URL = kit.pg_with(SCHEMA, ROUTES, os.path.join(TMP, "routes"))


def env(**kw):
    e = {"KEEL_ROUTES": os.path.join(TMP, "routes"), "DATABASE_URL": URL, "KEEL_SHARDS": "1",
         "KEEL_CACHE_MB": "0", "KEEL_SLOW_QUERY_MS": "0"}
    e.update(kw)
    return e


def expected(i):
    if i % 7 == 0:
        return 409, {"message": "item %d is refused" % i}
    if i % 11 == 0:
        return 400, {"message": "invalid input value (SQLSTATE 22012)"}
    return 200, {"id": i, "sq": i * i, "inv": 0}


def pipelined(port, ids_per_conn, depth):
    """kit.pipelined over /seg/{id}; returns {id: (status, body)}."""
    got = kit.pipelined(port, [["/seg/%d" % i for i in ids] for ids in ids_per_conn], depth)
    return {int(p.rsplit("/", 1)[1]): v for p, v in got.items()}


def keel_xacts():
    """Transactions ended in the bounties database (commits + rollbacks), as PostgreSQL
    counts them once the sessions that ran them have reported (at their exit)."""
    sql = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
    return int(kit.psql(URL, sql))


def settled_xacts():
    """keel_xacts() once it stops moving: closed sessions report their counts as they exit."""
    last, deadline = keel_xacts(), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = keel_xacts()
        if now == last:
            return now
        last = now
    return last


def test_failures_never_fail_their_neighbours():
    # 32 connections x 48 requests, 8 pipelined at a time, onto ONE PostgreSQL connection:
    # queries share segments, and about one in five fails (KH409, division by zero). Every
    # good request still gets its own row, every bad one its own error.
    with kit.Keel(env=env(KEEL_DB_CONNS_PER_SHARD="1")) as k:
        conns = [[1 + c * 48 + j for j in range(48)] for c in range(32)]
        got = pipelined(k.port, conns, 8)
        ids = [i for c in conns for i in c]
        assert len(got) == len(ids), (len(got), len(ids))
        wrong = [(i, got[i]) for i in ids if got[i][0] != expected(i)[0]]
        assert not wrong, (len(wrong), wrong[:10])
        for i in ids:
            st, body = got[i]
            want = expected(i)[1]
            if st == 200:
                assert body == want, (i, body)
            else:
                assert body["statusCode"] == st and body["message"] == want["message"], (i, body)
        assert sum(1 for i in ids if got[i][0] != 200) > 300  # failures were really mixed in


def test_reads_ready_together_share_one_sync():
    # All good ids, 32 connections x 8 pipelined, one PostgreSQL connection: keel's queries
    # end fewer transactions than there are queries (one per segment). The prepares at
    # connect and psql's own reads add a few dozen at most.
    before = settled_xacts()
    n = 0
    with kit.Keel(env=env(KEEL_DB_CONNS_PER_SHARD="1")) as k:
        conns = [[j * 77 + 1 + c for j in range(40)] for c in range(32)]  # id % 7 == 1 + c % 7 ...
        conns = [[i for i in c if i % 7 and i % 11] for c in conns]
        got = pipelined(k.port, conns, 8)
        for c in conns:
            for i in c:
                assert got[i] == (200, expected(i)[1]), (i, got[i])
                n += 1
    delta = settled_xacts() - before
    print("  %d queries, %d transactions in the database meanwhile" % (n, delta))
    assert n > 900, n
    # A Sync per query ends at least one transaction per query (the parent commit: 1,092
    # for 1,040). How many share a segment depends on how many requests reach the shard in
    # one loop turn, i.e. on the client's and the machine's timing: 265 to 655 transactions
    # were seen here for the same binary, so the bound sits between the two behaviours.
    assert delta < n * 0.8, "a Sync per query? %d transactions for %d queries" % (delta, n)


def test_a_slow_query_does_not_hold_fast_ones():
    # Two connections: while a 300 ms query runs on one, by-id lookups from 16 concurrent
    # clients all answer in far less than 300 ms, on the other. The slow statement's cost is
    # learned from its first run (db.h), which the test makes first.
    with kit.Keel(env=env(KEEL_DB_CONNS_PER_SHARD="2")) as k:
        st, _, body = k.request(path="/seg/sleep?ms=300", timeout=10)
        assert st == 200, body
        stop = threading.Event()
        slow, lat, errors = [], [], []

        def sleeper():
            try:
                for _ in range(3):
                    t0 = time.monotonic()
                    st, _, body = k.request(path="/seg/sleep?ms=300", timeout=10)
                    assert st == 200 and json.loads(body) == {"slept": 300}, (st, body)
                    slow.append(time.monotonic() - t0)
            except Exception as e:
                errors.append(repr(e))
            finally:
                stop.set()

        def reader(c):
            try:
                with socket.create_connection(("127.0.0.1", k.port), timeout=10) as s:
                    r = kit.Reader(s)
                    for j in range(400):  # bounded: ~1 s of sleeps ends it well before
                        if stop.is_set():
                            break
                        i = 1 + (c * 400 + j) * 7 + 1  # never a multiple of 7
                        if i % 11 == 0:
                            continue
                        t0 = time.monotonic()
                        s.sendall(kit.build("GET", "/seg/%d" % i))
                        st, h, body = r.response()
                        lat.append(time.monotonic() - t0)
                        assert st == 200 and json.loads(body) == expected(i)[1], (i, st, body)
            except Exception as e:
                errors.append(repr(e))

        ts = [threading.Thread(target=sleeper)] + [threading.Thread(target=reader, args=(c,)) for c in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        assert not errors, errors[:5]
        assert len(slow) == 3 and min(slow) >= 0.3, slow
        assert len(lat) > 100, len(lat)
        lat.sort()
        print("  %d lookups beside 3 x 300 ms: median %.1f ms, max %.1f ms" %
              (len(lat), lat[len(lat) // 2] * 1000, lat[-1] * 1000))
        assert lat[-1] < 0.2, "a lookup waited %.0f ms (behind the 300 ms query?)" % (lat[-1] * 1000)


if __name__ == "__main__":
    try:
        setup()
        kit.main(globals())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
