"""Batched lookups (db.h, sql_batch.h): GET routes' queries of one statement that reach a
shard together run as one execution of the statement's batch form, and every request still
gets exactly its own answer: its row, its 404, its error, its own text back byte for byte.

One shard and one PostgreSQL connection, many pipelined clients, so that lookups really
meet. That batches ran is seen from PostgreSQL's side (pg_stat_statements, which
scripts/pg.sh loads): the batch form's calls and rows. The routes and their table live in
their own schema keel_batch_tests of the bounties database, created here.
"""
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

SCHEMA = """
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS keel_batch_tests;
CREATE TABLE IF NOT EXISTS keel_batch_tests.items (id int PRIMARY KEY, name text NOT NULL, views int NOT NULL DEFAULT 0);
INSERT INTO keel_batch_tests.items (id, name) SELECT i, 'item ' || i FROM generate_series(1, 500) i
ON CONFLICT (id) DO NOTHING;
-- Refused (KH409) for multiples of 10.
CREATE OR REPLACE FUNCTION keel_batch_tests.maybe(i int) RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF i % 10 = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'KH409', MESSAGE = 'item ' || i || ' is refused';
    END IF;
    RETURN json_build_object('id', i);
END $$;
-- Folded by the planner (immutable, no arguments), so it runs at every planning of a
-- statement that calls it: it raises when the sequence's next value is 1, which
-- test_a_batch_form_whose_priming_fails_leaves_its_route_working arranges (a sequence,
-- because its count survives the failed transaction). Past 1 from the start here.
CREATE SEQUENCE IF NOT EXISTS keel_batch_tests.plannings;
SELECT setval('keel_batch_tests.plannings', 100);
CREATE OR REPLACE FUNCTION keel_batch_tests.plan_guard() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF nextval('keel_batch_tests.plannings') = 1 THEN
        RAISE EXCEPTION 'the first planning fails';
    END IF;
    RETURN 0;
END $$;
"""

ROUTES = {
    "item.sql": """-- @route   GET /b/{id:int}
-- @returns one
SELECT row_to_json(t) FROM (SELECT id, name FROM keel_batch_tests.items WHERE id = :id::int) AS t;
""",
    "echo.sql": """-- @route   GET /b/echo
-- @query   s text
-- @query   n int default 0
-- @returns one
SELECT json_build_object('s', :s::text, 'n', :n::int, 'len', length(:s::text));
""",
    "maybe.sql": """-- @route   GET /b/maybe/{id:int}
-- @returns one
SELECT keel_batch_tests.maybe(:id::int);
""",
    # Lookups in a table large enough (bounties: 100,000 rows) that a few ids cost less by
    # index than the 10 a generic plan assumes.
    "bounty.sql": """-- @route   GET /b/bounty/{id:int}
-- @returns one
SELECT json_build_object('id', id) FROM public.bounties WHERE id = :id::bigint;
""",
    # ~9 KB an answer: one is under test_a_batch_past_max_answer's limit, any two are over.
    "pad.sql": """-- @route   GET /b/pad/{id:int}
-- @returns one
SELECT json_build_object('id', :id::int, 'pad', repeat(chr(97 + :id::int % 26), 9000));
""",
    "guard.sql": """-- @route   GET /b/guard/{id:int}
-- @returns one
SELECT json_build_object('id', :id::int) WHERE keel_batch_tests.plan_guard() = 0;
""",
    # A read that writes (a data-modifying WITH) cannot sit inside the batch form's LATERAL:
    # its batch form fails to prepare, and the route must still work, one query at a time.
    "view.sql": """-- @route   GET /b/view/{id:int}
-- @returns one
WITH v AS (UPDATE keel_batch_tests.items SET views = views + 1 WHERE id = :id::int RETURNING id, views)
SELECT json_build_object('id', id) FROM v;
""",
}

URL = None
TMP = tempfile.mkdtemp(prefix="keel-batch-test-")


def setup():
    global URL
    URL = kit.pg_with(SCHEMA, ROUTES, os.path.join(TMP, "routes"))


def env(**kw):
    e = {"KEEL_ROUTES": os.path.join(TMP, "routes"), "DATABASE_URL": URL, "KEEL_SHARDS": "1",
         "KEEL_DB_CONNS_PER_SHARD": "1", "KEEL_CACHE_MB": "0", "KEEL_SLOW_QUERY_MS": "0"}
    e.update(kw)
    return e


# PostgreSQL counts as calls (with 0 rows), and as plans, the PRIME_PLANS (5) plannings by
# which each keel connection settles a batch form on its generic plan (db.c, prime_batch_plan).
PRIMES = 5


def batch_stats(marker, column="rows"):
    """(calls, column) of the batch forms whose SQL holds marker, so far: column is rows, or
    plans, which PostgreSQL counts only in sessions with pg_stat_statements.track_planning on."""
    sql = ("SELECT coalesce(sum(calls), 0) || ' ' || coalesce(sum(%s), 0) FROM pg_stat_statements "
           "WHERE query LIKE '%%keel_ord%%' AND query LIKE '%%%s%%'" % (column, marker))
    calls, n = kit.psql(URL, sql).split()
    return int(calls), int(n)


def keel_batches(k, at_least):
    """keel's own counters (/metrics): {name: value} of db_batches_total and
    db_batched_queries_total, once batches reach at_least (shards publish them every
    tick or so) or after 5 s."""
    deadline, mx = time.monotonic() + 5, {}
    while time.monotonic() < deadline and mx.get("db_batches_total", 0) < at_least:
        st, _, body = k.admin()
        assert st == 200, st
        mx = {ln.split()[0]: float(ln.split()[1]) for ln in body.decode().splitlines()
              if ln.startswith("db_batch")}
        time.sleep(0.1)
    return mx


def test_concurrent_lookups_run_batched_and_each_gets_its_row():
    # ids 1..640 over 32 connections, 8 pipelined: 501..640 do not exist (404 each).
    c0, r0 = batch_stats("keel_batch_tests.items")
    with kit.Keel(env=env(), admin=True) as k:
        conns = [["/b/%d" % (1 + c + 32 * j) for j in range(20)] for c in range(32)]
        got = kit.pipelined(k.port, conns, 8)
        c1, r1 = batch_stats("keel_batch_tests.items")
        c1 -= PRIMES  # keel's one connection primed the batch form
        mx = keel_batches(k, c1 - c0)  # keel counts the batches PostgreSQL ran
        assert mx.get("db_batches_total") == c1 - c0, (mx, c1 - c0)
        # every row PostgreSQL returned answered one lookup; lookups of absent ids got none
        assert r1 - r0 <= mx.get("db_batched_queries_total", 0) <= 640, (mx, r1 - r0)
    paths = [p for c in conns for p in c]
    assert len(got) == len(paths) == 640
    for p in paths:
        i = int(p.rsplit("/", 1)[1])
        if i <= 500:
            assert got[p] == (200, {"id": i, "name": "item %d" % i}), (p, got[p])
        else:
            assert got[p][0] == 404 and got[p][1]["statusCode"] == 404, (p, got[p])
    calls, rows = c1 - c0, r1 - r0
    print("  640 lookups: %d batch executions returned %d rows" % (calls, rows))
    assert 0 < calls <= 640 // 2, (calls, rows)  # batches of several lookups really formed


def test_text_comes_back_byte_for_byte():
    # Values that mean something inside an array literal ({"a","b\"c"}) or to SQL, each
    # bound through the batch form's text[] and cast back: every request reads its own.
    tricky = ['a"b', "back\\slash", "{braces}", "comma,sep", "NULL", "null", " spaced ", "quote'd",
              "$1", "é ünï", "\\\"", "}{", "a\tb", ":s::text", "x" * 300]
    values = ["%s|%d" % (v, j) for j in range(12) for v in tricky]
    c0, _ = batch_stats("length(keel_p.keel_a1")
    with kit.Keel(env=env()) as k:
        paths = ["/b/echo?s=%s&n=%d" % (urllib.parse.quote(v, safe=""), n) for n, v in enumerate(values)]
        conns = [paths[c::20] for c in range(20)]
        got = kit.pipelined(k.port, conns, 9)
    c1, _ = batch_stats("length(keel_p.keel_a1")
    for n, v in enumerate(values):
        st, body = got[paths[n]]
        assert st == 200 and body == {"s": v, "n": n, "len": len(v)}, (v, st, body)
    assert c1 > c0, "no batch ran"


def test_a_failing_lookup_fails_only_itself():
    # One in ten ids is refused by the route's function (KH409). A refused id fails its whole
    # batch in PostgreSQL; keel runs that batch's lookups again one by one, so every good id
    # still gets its row and every refused one its own error. (PostgreSQL counts only the
    # batches that succeeded: keel's counter says how many were sent.)
    with kit.Keel(env=env(), admin=True) as k:
        conns = [["/b/maybe/%d" % (1 + c + 32 * j) for j in range(24)] for c in range(32)]
        got = kit.pipelined(k.port, conns, 8)
        sent = keel_batches(k, 1).get("db_batches_total", 0)
    bad = 0
    for c in conns:
        for p in c:
            i = int(p.rsplit("/", 1)[1])
            st, body = got[p]
            if i % 10 == 0:
                bad += 1
                assert st == 409 and body["message"] == "item %d is refused" % i, (p, st, body)
            else:
                assert (st, body) == (200, {"id": i}), (p, st, body)
    assert bad > 50 and sent >= 1, (bad, sent)


def test_a_batch_form_that_does_not_prepare_leaves_its_route_working():
    # view.sql's batch form cannot prepare (a data-modifying WITH inside LATERAL): keel says
    # so once, stays ready, and answers the route query by query.
    with kit.Keel(env=env(), ready_path="/ready") as k:
        conns = [["/b/view/%d" % (1 + c + 16 * j) for j in range(8)] for c in range(16)]
        got = kit.pipelined(k.port, conns, 4)
        st, _, _ = k.request(path="/ready")
        assert st == 200
        for c in conns:
            for p in c:
                assert got[p] == (200, {"id": int(p.rsplit("/", 1)[1])}), (p, got[p])
        log = k.stderr()
    warnings = [ln for ln in log.splitlines() if "batch form failed to prepare" in ln and "view.sql" in ln]
    assert len(warnings) == 1, warnings or log[-2000:]
    assert "statement failed to prepare" not in log


def test_a_batch_form_whose_priming_fails_leaves_its_route_working():
    # The priming (EXPLAIN EXECUTE, db.c prime_batch_plan) shares the batch form's segment, so
    # its failure counts as the batch form's: keel says so once, runs guard.sql query by
    # query, and the connection goes on serving, other routes batched. guard.sql's statement
    # calls plan_guard(), which fails the first planning after the setval below: on keel's one
    # connection, that is the priming (a Prepare plans nothing).
    kit.psql(URL, "SELECT setval('keel_batch_tests.plannings', 1, false)")
    g0, _ = batch_stats("plan_guard")
    i0, _ = batch_stats("keel_batch_tests.items")
    with kit.Keel(env=env(), ready_path="/ready") as k:
        guard = [["/b/guard/%d" % (1 + c + 16 * j) for j in range(8)] for c in range(16)]
        items = [["/b/%d" % (1 + c + 16 * j) for j in range(8)] for c in range(16)]
        got = kit.pipelined(k.port, guard + items, 4)
        st, _, _ = k.request(path="/ready")
        log = k.stderr()
    g1, _ = batch_stats("plan_guard")
    i1, _ = batch_stats("keel_batch_tests.items")
    assert st == 200
    for p in [p for c in guard + items for p in c]:
        i = int(p.rsplit("/", 1)[1])
        want = {"id": i} if "guard" in p else {"id": i, "name": "item %d" % i}
        assert got[p] == (200, want), (p, got[p])
    warnings = [ln for ln in log.splitlines() if "batch form failed to prepare" in ln and "guard.sql" in ln]
    assert len(warnings) == 1 and "the first planning fails" in warnings[0], warnings or log[-2000:]
    assert g1 == g0, "guard.sql ran %d batches after its priming failed" % (g1 - g0)
    assert i1 - i0 > PRIMES, "the other route ran no batch on that connection"


def planning_url():
    """DATABASE_URL with pg_stat_statements.track_planning on for keel's sessions only."""
    opts = "options=" + urllib.parse.quote("-c pg_stat_statements.track_planning=on")
    return URL + ("&" if "?" in URL else "?") + opts


def one_at_a_time(k, prefix):
    """480 lookups of bounties 1..480 at PREFIX/{id} over 6 connections, one request at a
    time on each: batches of 2 to 6. Asserts every answer."""
    paths = [["%s/%d" % (prefix, 1 + c + 6 * j) for j in range(80)] for c in range(6)]
    got = kit.pipelined(k.port, paths, 1)
    assert all(got["%s/%d" % (prefix, i)] == (200, {"id": i}) for i in range(1, 481))


def assert_planned_once(c0, p0, what):
    """The bounty route's batch form since (c0 calls, p0 plans), less the primes: batches
    formed (at least 10), and the generic plan, built once, served them all (at most 2
    plans)."""
    c1, p1 = batch_stats("public.bounties", "plans")
    calls, plans = c1 - c0 - PRIMES, p1 - p0 - PRIMES
    print("  %s: %d batch executions, %d plans" % (what, calls, plans))
    assert calls >= 10, (calls, plans)
    assert plans <= 2, (calls, plans)


def test_small_batches_still_settle_on_the_generic_plan():
    # PostgreSQL re-plans a prepared statement at each execution while its custom plans look
    # cheaper than its generic one; a batch form's generic plan assumes 10 elements, so a
    # connection whose first batches are small would re-plan every batch (db.c,
    # prime_batch_plan). 6 connections, one lookup at a time each: batches of 2 to 6 from
    # the very first. keel's session counts its plans (track_planning, through DATABASE_URL).
    c0, p0 = batch_stats("public.bounties", "plans")
    with kit.Keel(env=env(DATABASE_URL=planning_url())) as k:
        one_at_a_time(k, "/b/bounty")
    assert_planned_once(c0, p0, "480 lookups over 6 connections")


def test_a_route_added_by_reload_settles_on_the_generic_plan_too():
    # A reload's new statements are prepared on the live connections (db.c, catch_up), and a
    # batch form among them is primed there as at connect.
    d = tempfile.mkdtemp(prefix="keel-batch-reload-", dir=TMP)
    shutil.copy(os.path.join(TMP, "routes", "item.sql"), d)
    c0, p0 = batch_stats("public.bounties", "plans")
    with kit.Keel(env=env(DATABASE_URL=planning_url(), KEEL_ROUTES=d)) as k:
        mark = len(k.stderr())
        shutil.copy(os.path.join(TMP, "routes", "bounty.sql"), d)
        k.send_signal(signal.SIGHUP)
        k.wait_reloaded(mark, 15)
        one_at_a_time(k, "/b/bounty")
    assert_planned_once(c0, p0, "after the reload, 480 lookups over 6 connections")


def test_a_batch_past_max_answer_runs_again_query_by_query():
    # Each pad answer is ~9 KB, under KEEL_MAX_ANSWER (16 KB); any batch of two or more is
    # over it. The batch is not an answer of its own: it runs again query by query (db.h,
    # "Answers held"), and every request gets its own row, none a 500.
    with kit.Keel(env=env(KEEL_MAX_ANSWER="16k"), admin=True) as k:
        conns = [["/b/pad/%d" % (c * 8 + j) for j in range(8)] for c in range(16)]
        got = kit.pipelined(k.port, conns, 8)
        for i in range(128):
            st, body = got["/b/pad/%d" % i]
            assert st == 200 and body == {"id": i, "pad": chr(97 + i % 26) * 9000}, (i, st)
        mx = keel_batches(k, 1)
        assert mx.get("db_batches_total", 0) >= 1 and mx.get("db_batched_queries_total") == 0, mx
        assert '"query failed"' not in k.stderr(), k.stderr()[-2000:]

def test_batching_can_be_turned_off():
    c0, _ = batch_stats("keel_batch_tests.items")
    with kit.Keel(env=env(KEEL_DB_BATCH="1")) as k:
        conns = [["/b/%d" % (1 + c + 16 * j) for j in range(16)] for c in range(16)]
        got = kit.pipelined(k.port, conns, 8)
    c1, _ = batch_stats("keel_batch_tests.items")
    assert all(st == 200 for st, _ in got.values()) and len(got) == 256
    assert c1 == c0, "KEEL_DB_BATCH=1 still ran %d batches" % (c1 - c0)


if __name__ == "__main__":
    try:
        setup()
        kit.main(globals())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
