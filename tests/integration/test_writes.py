"""Write routes over HTTP against the private PostgreSQL: declared body fields (@field)
validated before the database, typed :body.NAME binding, @body allow-extra, 201 with a
Location filled from the created row (@location), 204 for @returns none, 415 without a JSON
content type, and the startup errors of bad @field / @location files.

Setup (idempotent): `scripts/pg.sh start` and `load`, then tests/fixtures/writes/schema.sql
(its own schema keel_writes_tests). Routes: tests/fixtures/writes/routes. A sequence counts
every call of the routes' SQL functions (keel_writes_tests.calls), so a test can show that a
refused body never reached PostgreSQL.
"""
import datetime
import json
import os
import re
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

FIX = os.path.join(kit.ROOT, "tests", "fixtures", "writes")
JS = {"Content-Type": "application/json"}
URL = None
keel = None


def setup():
    global URL, keel
    kit.pg("start")
    kit.pg("load")
    URL = kit.pg("url").strip()
    p = subprocess.run([kit.PSQL, URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", os.path.join(FIX, "schema.sql")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    keel = kit.Keel(env={"KEEL_ROUTES": os.path.join(FIX, "routes"), "DATABASE_URL": URL,
                         "KEEL_SHARDS": "2"}, ready_path="/ready").start()


def psql(sql):
    return kit.psql(URL, sql)


def calls():
    return int(psql("SELECT last_value FROM keel_writes_tests.calls"))


def post(path, body, method="POST", headers=JS):
    """Sends body (bytes, or anything json.dumps takes) and returns (status, headers, parsed body or None)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    st, h, out = keel.request(method=method, path=path, headers=headers, body=raw)
    return st, h, (json.loads(out) if out else None)


def refused(path, body, words, method="POST"):
    """Asserts a 400 in keel's error shape whose message contains every one of words."""
    st, h, b = post(path, body, method=method)
    assert st == 400, (body, st, b)
    assert h.get("content-type") == "application/json", h
    assert b["statusCode"] == 400 and b["error"] == "Bad Request", b
    for w in words:
        assert w in b["message"], (body, b["message"], w)
    return b["message"]


GOOD = {"title": "Fix the fence", "amount_cents": 2500, "location": "Berlin"}


# ---- creates: 201 and Location -------------------------------------------------------

def test_create_is_201_with_location_of_the_row():
    before = calls()
    st, h, row = post("/w/things", GOOD)
    assert st == 201, (st, row)
    assert h["content-type"] == "application/json"
    assert set(row) == {"id", "title", "amount_cents", "location", "status", "created_at"}, row
    assert (row["title"], row["amount_cents"], row["location"], row["status"]) == \
        ("Fix the fence", 2500, "Berlin", "open"), row
    assert h["location"] == "/w/things/%d" % row["id"], h
    assert calls() == before + 1
    # the Location names what was created
    st2, _, body = keel.request(path=h["location"])
    assert st2 == 200 and json.loads(body) == row, (st2, body)
    want = json.loads(psql("SELECT row_to_json(t) FROM keel_writes_tests.things t WHERE id = %d" % row["id"]))
    assert want == row, (want, row)


def test_optional_fields_absent_or_null_bind_null():
    _, _, a = post("/w/things", {"title": "a", "amount_cents": 1})
    _, _, b = post("/w/things", {"title": "b", "amount_cents": 1, "location": None, "status": None})
    assert a["location"] is None and b["location"] is None, (a, b)
    assert a["status"] == b["status"] == "open"  # coalesce(:body.status, 'open') saw NULL
    _, _, c = post("/w/things", {"title": "c", "amount_cents": 1, "status": "in_progress"})
    assert c["status"] == "in_progress"
    assert psql("SELECT count(*) FROM keel_writes_tests.things WHERE id IN (%d, %d) AND location IS NULL"
                % (a["id"], b["id"])) == "2"


def test_location_is_percent_encoded():
    st, h, row = post("/w/location_enc", {"slug": "a b/c?\u00e9%"})
    assert st == 201 and row == {"slug": "a b/c?\u00e9%"}, (st, row)
    assert h["location"] == "/w/by-slug/a%20b%2Fc%3F%C3%A9%25", h
    st, h, row = post("/w/location_enc", {"slug": "x\r\nSet-Cookie: a=b"})
    assert st == 201 and "set-cookie" not in h and h["location"] == "/w/by-slug/x%0D%0ASet-Cookie%3A%20a%3Db", h


def test_location_member_missing_is_500_and_logged():
    after = len(keel.stderr())
    st, h, b = post("/w/location_bug", b"")
    assert st == 500 and "location" not in h, (st, h, b)
    assert b["statusCode"] == 500 and "@location" in b["message"], b
    # the log is written by its own thread (log.h): the line may follow the answer
    rec = keel.wait_log("location failed", after, 5)
    assert "location_bug.sql" in json.dumps(rec) and "no member" in json.dumps(rec), rec


# ---- 204 -------------------------------------------------------------------------------

def test_returns_none_is_204_for_writes():
    _, _, row = post("/w/things", {"title": "old", "amount_cents": 10})
    st, h, b = post("/w/things/%d" % row["id"], {"title": "new"}, method="PUT")
    assert st == 204 and b is None and "content-type" not in h, (st, h, b)
    assert h.get("content-length", "0") == "0", h
    got = psql("SELECT title || ',' || amount_cents FROM keel_writes_tests.things WHERE id = %d" % row["id"])
    assert got == "new,10", got  # the absent amount_cents bound NULL: kept
    st, _, _ = post("/w/things/%d" % row["id"], {"amount_cents": 11}, method="PUT")
    assert st == 204
    assert psql("SELECT amount_cents FROM keel_writes_tests.things WHERE id = %d" % row["id"]) == "11"
    st, h, b = keel.request(method="DELETE", path="/w/things/%d" % row["id"])
    assert st == 204 and b == b"", (st, b)
    assert psql("SELECT count(*) FROM keel_writes_tests.things WHERE id = %d" % row["id"]) == "0"
    st, _, _ = keel.request(path="/w/things/%d" % row["id"])
    assert st == 404
    # a refused update reaches nothing
    before = calls()
    refused("/w/things/%d" % row["id"], {"title": ""}, ["'title'", "1 to 200 characters"], method="PUT")
    assert calls() == before


# ---- 400 before the database ------------------------------------------------------------

BAD = [
    (b'{"title": "x", "amount_cents": 5', ["not valid JSON", "unexpected end", "byte 32"]),
    (b'{"title": "x", "amount_cents": 5,}', ["not valid JSON", "expected a member name"]),
    (b"{'title': 'x'}", ["not valid JSON"]),
    (b'{"title": "\xc0\xae", "amount_cents": 5}', ["not valid JSON", "invalid UTF-8"]),
    (b'{"title": "\\ud800", "amount_cents": 5}', ["not valid JSON", "unpaired surrogate"]),
    (b'{"title": "x", "amount_cents": 5} trailing', ["not valid JSON", "unexpected data after"]),
    (b'{"title": "x", "title": "y", "amount_cents": 5}', ["not valid JSON", "duplicate member name"]),
    (b'[{"title": "x", "amount_cents": 5}]', ["must be a JSON object"]),
    (b'"title"', ["must be a JSON object"]),
    ({"amount_cents": 5}, ["body field 'title' is required"]),
    ({"title": None, "amount_cents": 5}, ["body field 'title' is required"]),
    ({"title": "x"}, ["body field 'amount_cents' is required"]),
    ({"title": "x", "amount_cents": "5"}, ["body field 'amount_cents' must be an integer from 1 to 100000000"]),
    ({"title": "x", "amount_cents": 5.5}, ["body field 'amount_cents' must be an integer from 1 to 100000000"]),
    (b'{"title": "x", "amount_cents": 5.0}', ["body field 'amount_cents' must be an integer"]),
    (b'{"title": "x", "amount_cents": 5e2}', ["body field 'amount_cents' must be an integer"]),
    ({"title": "x", "amount_cents": 0}, ["body field 'amount_cents' must be an integer from 1 to 100000000"]),
    ({"title": "x", "amount_cents": 100000001}, ["'amount_cents'", "from 1 to 100000000"]),
    ({"title": "x", "amount_cents": 2 ** 64}, ["'amount_cents'", "from 1 to 100000000"]),
    ({"title": "x", "amount_cents": True}, ["'amount_cents'", "integer"]),
    ({"title": 5, "amount_cents": 5}, ["body field 'title' must be a string"]),
    ({"title": "", "amount_cents": 5}, ["body field 'title' must be a string of 1 to 200 characters"]),
    ({"title": "x" * 201, "amount_cents": 5}, ["body field 'title' must be a string of 1 to 200 characters"]),
    ({"title": "\u00e9" * 201, "amount_cents": 5}, ["'title'", "1 to 200 characters"]),
    ({"title": "a\u0000b", "amount_cents": 5}, ["body field 'title' must not contain \\u0000"]),
    ({"title": "x", "amount_cents": 5, "location": "y" * 201}, ["'location'", "at most 200 characters"]),
    ({"title": "x", "amount_cents": 5, "status": "closed"}, ["body field 'status' must be one of open, in_progress"]),
    ({"title": "x", "amount_cents": 5, "colour": "red"},
     ["body field 'colour' is not allowed; this route takes title, amount_cents, location, status"]),
    ({"title": "x", "amount_cents": 5, "user_id": 1}, ["body field 'user_id' is not allowed"]),
]


def test_invalid_bodies_are_400_naming_the_field_and_never_reach_postgres():
    before = calls()
    for body, words in BAD:
        refused("/w/things", body, words)
    assert calls() == before, "a refused body reached PostgreSQL"
    # the exact message of the brief's example
    msg = refused("/w/things", {"title": "x", "amount_cents": 0}, [])
    assert msg == "body field 'amount_cents' must be an integer from 1 to 100000000", msg
    # and the same route still works, counting its call
    st, _, _ = post("/w/things", GOOD)
    assert st == 201 and calls() == before + 1


def test_text_of_exactly_maxlen_characters_is_accepted():
    for title in ("x" * 200, "\u00e9" * 200, "\U0001F600" * 200):  # 200 characters, up to 800 bytes
        st, _, row = post("/w/things", {"title": title, "amount_cents": 1})
        assert st == 201 and row["title"] == title, (st, len(title))


def test_415_without_a_json_content_type():
    before = calls()
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/jsonx"},
                    {"Content-Type": "application/x-www-form-urlencoded"}):
        st, _, b = post("/w/things", GOOD, headers=headers)
        assert st == 415 and b["statusCode"] == 415 and "Content-Type: application/json" in b["message"], (headers, b)
    st, _, _ = post("/w/things", GOOD, headers={"Content-Type": "application/json; charset=utf-8"})
    assert st == 201
    assert calls() == before + 1


def test_empty_body_is_400():
    st, _, b = post("/w/things", b"")
    assert st == 400 and b["message"] == "a JSON request body is required", b


# ---- typed binding ---------------------------------------------------------------------

def types(body):
    st, _, b = post("/w/types", body)
    assert st == 200, (body, st, b)
    return b


def test_text_round_trips():
    for t in ("plain", "", "quotes \" and ' and \\ and \\u0000-looking", "tab\tnew\nline",
              "\u00e9\u00e8 \u4e2d\u6587 \U0001F600\U0001F680", "'; DROP TABLE users; --", "\u2028\u2029"):
        b = types({"t": t})
        assert b["t"] == t and b["t_null"] is False and b["t_chars"] == len(t), (t, b)
    # escapes in the JSON decode before binding
    b = types(b'{"t": "\\u00e9\\ud83d\\ude00\\n\\/"}')
    assert b["t"] == "\u00e9\U0001F600\n/" and b["t_chars"] == 4, b
    b = types({})
    assert b["t"] is None and b["t_null"] is True, b


def test_integer_edges_round_trip():
    for i, bi in ((0, 0), (-2147483648, -9223372036854775808), (2147483647, 9223372036854775807), (-1, 1)):
        b = types({"i": i, "b": bi})
        assert (b["i"], b["b"]) == (i, bi), b
        assert (b["i_text"], b["b_text"]) == (str(i), str(bi)), b  # bound as written
    b = types(b'{"i": -0}')
    assert b["i"] == 0 and b["i_text"] == "-0", b
    refused("/w/types", {"i": 2147483648}, ["body field 'i' must be an integer from -2147483648 to 2147483647"])
    refused("/w/types", {"b": 9223372036854775808},
            ["body field 'b' must be an integer from -9223372036854775808 to 9223372036854775807"])


def test_numeric_is_bound_as_written():
    for raw, value in ((b"1.50", "1.50"), (b"1e3", "1000"), (b"-0.000001", "-0.000001"),
                       (b"123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789")):
        b = types(b'{"n": %s}' % raw)
        assert b["n_text"] == raw.decode() and b["n"] == value, (raw, b)
    refused("/w/types", {"n": "1.5"}, ["body field 'n' must be a number"])


def test_bool_uuid_timestamptz_json_round_trip():
    assert types({"ok": True})["ok"] is True
    assert types({"ok": False})["ok"] is False
    u = uuid.uuid4()
    assert types({"u": str(u).upper()})["u"] == str(u)
    for text in ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.250+02:00", "2024-02-29t00:00:00z",
                 "0001-01-01T00:00:00Z", "2016-12-31T23:59:60Z"):
        b = types({"at": text})
        want = datetime.datetime.fromisoformat(text.upper().replace("Z", "+00:00").replace(":60", ":59")).timestamp()
        if ":60" in text:
            want += 1
        assert abs(float(b["at_epoch"]) - want) < 1e-6, (text, b["at_epoch"], want)
    for doc in ({"a": [1, 2, {"b": None}]}, [1, "x"], "s", 1.5, True):
        b = types({"j": doc})
        assert b["j"] == doc and json.loads(b["j_text"]) == doc and b["j_null"] is False, (doc, b)
    b = types({"j": None})
    assert b["j"] is None and b["j_null"] is True, b
    refused("/w/types", {"ok": "true"}, ["body field 'ok' must be true or false"])
    refused("/w/types", {"u": "not-a-uuid"}, ["body field 'u' must be a UUID string"])
    refused("/w/types", {"at": "2024-05-01 12:00"}, ["body field 'at' must be a date-time string with a time zone"])
    refused("/w/types", {"at": "2023-02-29T00:00:00Z"}, ["'at'", "date-time"])
    refused("/w/types", {"at": "2024-05-01T12:00:00+16:00"}, ["'at'", "date-time"])


def test_allow_extra_and_validate_only_fields():
    st, _, b = post("/w/extra", {"name": "n", "colour": "red", "nested": {"x": [1]}})
    assert st == 200 and b == {"name": "n", "whole": {"name": "n", "colour": "red", "nested": {"x": [1]}}}, b
    refused("/w/extra", {"colour": "red"}, ["body field 'name' is required"])
    refused("/w/extra", b'{"name": "a", "x": 1, "x": 2}', ["duplicate member name"])
    # fields that only validate: the SQL reads the jsonb
    before = calls()
    st, _, b = post("/w/validate_only", {"qty": 3})
    assert st == 200 and b["qty"] == 3, b
    refused("/w/validate_only", {"qty": 11}, ["body field 'qty' must be an integer from 1 to 10"])
    refused("/w/validate_only", {"qty": 3, "more": 1}, ["body field 'more' is not allowed; this route takes qty"])
    assert calls() == before + 1


# ---- startup errors ----------------------------------------------------------------------

def test_bad_field_and_location_files_stop_startup():
    base = os.path.join(FIX, "routes_bad")
    classes = sorted(os.listdir(base))
    assert {"undeclared_field", "unused_field", "field_without_body", "location_needs_one"} <= set(classes), classes
    for cls in classes:
        d = os.path.join(base, cls)
        want = re.search(r"must exit non-zero and print: (.+)", open(os.path.join(d, "README")).read()).group(1)
        code, err = kit.refuses_to_start({"KEEL_ROUTES": d, "DATABASE_URL": URL})
        assert code == 2, (cls, code, err)
        line = [l for l in err.splitlines() if l.startswith("keel: ")]
        assert len(line) == 1 and line[0].endswith("/" + want.strip()), (cls, line, want)


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
            keel.stop()
