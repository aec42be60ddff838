"""Routes that select several columns (sql_answer.h, proto/pg_json.h): keel writes each row
as the object PostgreSQL's row_to_json writes for the same columns, byte for byte, for every
type it accepts, odd values included (NULL, NaN, infinities, BC dates, control bytes, key
names that need escaping), under several time zones, one request at a time and batched.
Column types it would write differently (arrays, records, the database's own types), dates
under a DateStyle other than ISO, and @idempotent routes of several columns stop startup
and `keel check` with the file, line and column.

The table lives in its own schema keel_row_tests of the bounties database, created here.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

SCHEMA = r"""
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS keel_row_tests CASCADE;
CREATE SCHEMA keel_row_tests;
CREATE TYPE keel_row_tests.mood AS ENUM ('sad', 'ok');
CREATE TABLE keel_row_tests.vals (
    id int PRIMARY KEY, i2 smallint, i8 bigint, f4 real, f8 double precision, num numeric, b bool,
    t text, vc varchar(20), bp char(5), nm name, ch "char", u uuid, d date, ts timestamp,
    tstz timestamptz, tm time, tmz timetz, iv interval, j json, jb jsonb, by bytea, ip inet,
    mo money, bits bit varying(8), o oid, tsv tsvector, m keel_row_tests.mood);
INSERT INTO keel_row_tests.vals VALUES
 (1, 7, 9007199254740993, 1.5, 0.1, 12.50, true, 'plain', 'v', 'ab', 'nm', 'x',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-05-01', '2024-05-01 12:34:56',
  '2024-05-01 12:34:56+00', '08:00', '08:00+02', '1 day 02:03:04', '{"a": [1, 2]}',
  '{"b": 1, "a": [1, 2]}', '\x0102ff', '10.0.0.1/8', 12.34, B'101', 42, 'a:1 b:2', 'ok'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, -32768, -9223372036854775808, '-Infinity', 'Infinity', 'NaN', false,
  E'q"b\\s/\b\f\n\r\t\x01\x1f\x7f \u00e9 \U0001F600', E'tab\there', 'a"', '', '"',
  '00000000-0000-0000-0000-000000000000', 'infinity', 'infinity', '-infinity', '24:00', '00:00-12',
  '-1 mons +2 days', 'null', '"s"', '\x', '::1', -1, B'', 0, '', 'sad'),
 (4, 0, 0, 1e30, 1e100, -0.000100, NULL, '', '', '', '', '', NULL, '0044-03-15 BC',
  '0044-03-15 10:00:00.5 BC', '1900-01-01 00:00:00+00', '23:59:59.999999', NULL, '0', '[]',
  '[]', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (5, 1, 1, 'NaN', -0.0, 1e-7, true, 'x', 'x', 'x', 'x', 'x', NULL, '2024-02-29',
  '2024-05-01 12:34:56.000001', '2024-05-01 12:34:56.789+05:30', NULL, NULL, NULL, '{}', '{}',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""

# Every column keel accepts, and one whose name needs escaping.
COLS = ('id, i2, i8, f4, f8, num, b, t, vc, bp, nm, ch, u, d, ts, tstz, tm, tmz, iv, j, jb, by, ip, '
        'mo, bits, o, tsv, m::text AS m, t AS "key ""with"" \\ and /"')
IDS = [1, 2, 3, 4, 5]
ROUTES = {
    "one.sql": "-- @route   GET /r/{id:int}\n-- @returns one\n"
               "SELECT %s FROM keel_row_tests.vals WHERE id = :id::int;\n" % COLS,
    "many.sql": "-- @route   GET /r\n-- @returns many\n"
                "SELECT %s FROM keel_row_tests.vals ORDER BY id;\n" % COLS,
    "none.sql": "-- @route   GET /r/none\n-- @returns many\n"
                "SELECT id, t FROM keel_row_tests.vals WHERE false;\n",
    "cached.sql": "-- @route   GET /r/cached/{id:int}\n-- @returns one\n-- @cache   60s\n"
                  "SELECT id, t, tstz FROM keel_row_tests.vals WHERE id = :id::int;\n",
}
ZONES = ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam"]

URL = None
TMP = tempfile.mkdtemp(prefix="keel-row-json-test-")


def setup():
    global URL
    URL = kit.pg_with(SCHEMA, ROUTES, os.path.join(TMP, "routes"))


def with_options(url, opts):
    """url whose sessions start with the given settings (libpq's options parameter)."""
    sep = "&" if "?" in url else "?"
    return url + sep + "options=" + urllib.parse.quote(" ".join("-c %s=%s" % kv for kv in opts.items()))


def env(url, routes="routes", **kw):
    e = {"KEEL_ROUTES": os.path.join(TMP, routes), "DATABASE_URL": url, "KEEL_SHARDS": "1",
         "KEEL_DB_CONNS_PER_SHARD": "1", "KEEL_SLOW_QUERY_MS": "0"}
    e.update(kw)
    return e


def expected_one(url, i):
    return kit.psql(url, "SELECT row_to_json(x) FROM (SELECT %s FROM keel_row_tests.vals WHERE id = %d) x"
                    % (COLS, i))


def get(k, path):
    st, _, body = k.request("GET", path)
    return st, body.decode()


def test_each_row_is_row_to_json_byte_for_byte_in_every_zone():
    for zone in ZONES:
        url = with_options(URL, {"TimeZone": zone})
        with kit.Keel(env=env(url, KEEL_DB_BATCH="1")) as k:
            for i in IDS:
                st, body = get(k, "/r/%d" % i)
                assert st == 200, (zone, i, st, body)
                want = expected_one(url, i)
                assert body == want, (zone, i, body, want)
            st, body = get(k, "/r")
            rows = kit.psql(url, "SELECT row_to_json(x) FROM (SELECT %s FROM keel_row_tests.vals ORDER BY id) x"
                            % COLS).split("\n")
            assert st == 200 and body == "[" + ",".join(rows) + "]", (zone, body)


def test_what_the_comparison_covers():
    # The cases above are the ones that differ from a column's plain text: if this fails,
    # the comparison no longer tests them.
    url = with_options(URL, {"TimeZone": "Europe/Amsterdam"})
    three, four, five = (expected_one(url, i) for i in (3, 4, 5))
    assert '"f4":"-Infinity"' in three and '"f8":"Infinity"' in three and '"num":"NaN"' in three, three
    assert '\\b\\f\\n\\r\\t\\u0001\\u001f\x7f' in three and '"ts":"infinity"' in three, three
    assert '"d":"0044-03-15 BC"' in four and '"ts":"0044-03-15T10:00:00.5 BC"' in four, four
    assert '"tstz":"1900-01-01T00:19:32+00:19:32"' in four, four  # an offset with seconds
    assert '"tstz":"2024-05-01T09:04:56.789+02:00"' in five, five  # whole hours get ":00"
    assert '"key \\"with\\" \\\\ and /":' in expected_one(url, 1)
    assert '"b":null' in expected_one(url, 2)


def test_batched_lookups_write_the_same_objects():
    url = with_options(URL, {"TimeZone": "Asia/Kolkata"})
    before = batch_rows()
    ids = IDS + [99]
    with kit.Keel(env=env(url)) as k:
        want = {i: expected_one(url, i) for i in IDS}
        socks = [socket.create_connection(("127.0.0.1", k.port), timeout=10) for _ in ids]
        try:
            readers = [kit.Reader(s) for s in socks]
            for _ in range(30):  # one lookup per connection, all sent at once: they meet in a turn
                for s, i in zip(socks, ids):
                    s.sendall(kit.build("GET", "/r/%d" % i))
                for r, i in zip(readers, ids):
                    st, _, body = r.response()
                    if i == 99:
                        assert st == 404, (st, body)
                    else:
                        assert st == 200 and body.decode() == want[i], (i, body, want[i])
        finally:
            for s in socks:
                s.close()
    assert batch_rows() > before, "no lookup ran batched: the batch path was not tested"


def batch_rows():
    return int(kit.psql(URL, "SELECT coalesce(sum(rows), 0) FROM pg_stat_statements WHERE query LIKE "
                             "'%%keel_ord%%' AND query LIKE '%%keel_row_tests.vals%%'"))


def test_no_rows_and_cached_answers():
    url = with_options(URL, {"TimeZone": "UTC"})
    with kit.Keel(env=env(url)) as k:
        assert get(k, "/r/none") == (200, "[]")
        st, body = get(k, "/r/404")
        assert st == 404, (st, body)
        want = kit.psql(url, "SELECT row_to_json(x) FROM (SELECT id, t, tstz FROM keel_row_tests.vals "
                             "WHERE id = 3) x")
        first = k.request("GET", "/r/cached/3")
        again = k.request("GET", "/r/cached/3")
        assert first[0] == again[0] == 200 and first[2].decode() == again[2].decode() == want, (first, again)


REFUSED = [
    ("array.sql", "-- @route   GET /x/{id:int}\n-- @returns one\n"
                  "SELECT id, ARRAY[t] AS tags FROM keel_row_tests.vals WHERE id = :id::int;\n",
     'array.sql:2: column "tags" (type oid 1009)'),
    ("enum.sql", "-- @route   GET /x/{id:int}\n-- @returns one\n"
                 "SELECT id, m FROM keel_row_tests.vals WHERE id = :id::int;\n",
     'enum.sql:2: column "m" (type oid'),
    ("record.sql", "-- @route   GET /x\n-- @returns many\n"
                   "SELECT id, (id, t) AS pair FROM keel_row_tests.vals;\n",
     'record.sql:2: column "pair"'),
    ("idem.sql", "-- @route   POST /x\n-- @returns one\n-- @idempotent required\n"
                 "INSERT INTO keel_row_tests.vals (id) VALUES (1000) RETURNING id, t;\n",
     "idem.sql:3: @idempotent stores one column"),
]


def test_columns_keel_would_write_differently_stop_startup_and_check():
    for name, text, why in REFUSED:
        folder = kit.write_routes(os.path.join(TMP, "refused-" + name), {name: text})
        code, err = kit.refuses_to_start(env(URL, routes="refused-" + name))
        assert why in err, (name, err)
        p = subprocess.run([kit.KEEL_BIN, "check", "--routes", folder, "--database-url", URL],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and why in p.stdout, (name, p.returncode, p.stdout, p.stderr)


def test_dates_need_datestyle_iso():
    url = with_options(URL, {"DateStyle": "SQL"})
    code, err = kit.refuses_to_start(env(url))
    assert ".sql:2: column \"d\" is a date or time" in err and "is SQL, MDY" in err, err
    # A route of one column (row_to_json in SQL) is PostgreSQL's own JSON: fine under any style.
    folder = kit.write_routes(os.path.join(TMP, "sqlstyle"), {
        "one.sql": "-- @route   GET /s/{id:int}\n-- @returns one\n"
                   "SELECT row_to_json(x) FROM (SELECT id, d FROM keel_row_tests.vals WHERE id = :id::int) x;\n"})
    with kit.Keel(env=env(url, routes="sqlstyle")) as k:
        assert get(k, "/s/1") == (200, '{"id":1,"d":"2024-05-01"}')


def test_text_of_a_latin1_database_reaches_clients_as_utf8():
    # Answers say charset=utf-8; keel asks PostgreSQL to convert, whatever the database's
    # encoding (and whatever the URL says), so "café" stored in LATIN1 is sent as UTF-8.
    if kit.psql(URL, "SELECT count(*) FROM pg_database WHERE datname = 'keel_latin1_tests'") == "0":
        kit.psql(URL, "CREATE DATABASE keel_latin1_tests TEMPLATE template0 ENCODING 'LATIN1' "
                      "LC_COLLATE 'C' LC_CTYPE 'C'")
    url = URL.replace("/bounties", "/keel_latin1_tests")
    # "café ½" in LATIN1 bytes, decoded by PostgreSQL whatever psql's own encoding is
    kit.psql(url, "DROP TABLE IF EXISTS t; CREATE TABLE t (id int, name text); "
                  "INSERT INTO t VALUES (1, convert_from('\\x636166e920bd'::bytea, 'LATIN1'))")
    kit.write_routes(os.path.join(TMP, "latin1"), {
        "cols.sql": "-- @route   GET /l/cols\n-- @returns one\nSELECT id, name FROM t;\n",
        "json.sql": "-- @route   GET /l/json\n-- @returns one\nSELECT row_to_json(t) FROM t;\n"})
    with kit.Keel(env=env(with_options(url, {"client_encoding": "LATIN1"}), routes="latin1")) as k:
        for path in ("/l/cols", "/l/json"):
            st, _, body = k.request("GET", path)
            assert st == 200 and body == '{"id":1,"name":"café ½"}'.encode(), (path, st, body)


if __name__ == "__main__":
    try:
        setup()
        kit.main(globals())
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
