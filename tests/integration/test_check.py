"""`keel check`: a good route folder exits 0 with a summary; a folder with a syntax error
and a statement that does not prepare prints both as file:line: reason and exits 1; without
a database URL only the parse is checked (and the output says so); an unreachable database
exits 2 with a clear message; a usage error exits 2. Nothing is left in the database."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

BOUNTIES = os.path.join(kit.ROOT, "examples", "bounties", "routes")
URL = None


def check(*args, env=None):
    e = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KEEL_ROUTES")}
    e.update(env or {})
    p = subprocess.run([kit.KEEL_BIN, "check"] + list(args), env=e, capture_output=True, text=True, timeout=60)
    if kit.ASAN:
        assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr[-3000:]
    return p.returncode, p.stdout, p.stderr


def test_good_folder_exits_0():
    code, out, err = check("--routes", BOUNTIES, "--database-url", URL)
    assert code == 0, (code, out, err)
    assert out == ("keel check: 10 route files OK; every statement prepares against the database\n"
                   "keel check: concurrent lookups run batched (README, \"Batched lookups\") on "
                   "GET /api/bounties/{id:int}, GET /api/users/{id:int}, GET /api/users/{id:int}/stats\n"), out
    assert err == "", err
    # the same from the environment, as keel itself takes them
    code, out, _ = check(env={"KEEL_ROUTES": BOUNTIES, "DATABASE_URL": URL})
    assert code == 0 and "every statement prepares" in out, out


def test_parse_only_without_database():
    code, out, _ = check("--routes", BOUNTIES)
    assert code == 0, out
    assert "10 route files parse OK; SQL not checked: no database URL" in out, out


def test_every_problem_with_file_and_line():
    d = tempfile.mkdtemp(prefix="keel-check-")
    try:
        shutil.copy(os.path.join(BOUNTIES, "bounties_get.sql"), d)
        with open(os.path.join(d, "a_syntax.sql"), "w") as f:
            f.write("-- @route GET /x/{id:int}\n-- @cache forever\nSELECT json_build_object('id', :id::int)\n")
        with open(os.path.join(d, "b_sql.sql"), "w") as f:
            f.write("-- @route GET /y\n\nSELECT json_build_object('a', 1,\n  'b', no_such_column)\nFROM bounties\n")
        with open(os.path.join(d, "c_dup.sql"), "w") as f:
            f.write("-- a second route for a path bounties_get.sql serves\n"
                    "-- @route GET /api/bounties/{n:int}\nSELECT json_build_object('n', :n::int)\n")
        code, out, err = check("--routes", d, "--database-url", URL)
        assert code == 1, (code, out, err)
        lines = out.splitlines()
        assert lines[0].startswith(os.path.join(d, "a_syntax.sql") + ":2: "), lines
        assert "@cache" in lines[0], lines
        assert lines[1] == os.path.join(d, "b_sql.sql") + ":4: SQL does not prepare: column \"no_such_column\" " \
            "does not exist", lines
        assert lines[2].startswith(os.path.join(d, "c_dup.sql") + ":2: duplicate route GET /api/bounties/{n:int}"), lines
        assert lines[3] == "keel check: 3 problems in 4 route files", lines
        assert len(lines) == 4, lines
        # without a database only the parse problems are found
        code, out, _ = check("--routes", d)
        assert code == 1 and "b_sql.sql" not in out and "a_syntax.sql:2:" in out, out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_says_which_lookups_run_one_at_a_time():
    # A GET whose SQL writes through WITH cannot sit in the batch form: a note (keel runs it
    # one query at a time), not a problem. A bare :id is not batched and needs no note.
    d = tempfile.mkdtemp(prefix="keel-check-")
    try:
        kit.write_routes(d, {
            "view.sql": "-- @route GET /v/{id:int}\nWITH v AS (UPDATE bounties SET views = views + 1 "
                        "WHERE id = :id::bigint RETURNING id)\nSELECT json_build_object('id', id) FROM v\n",
            "bare.sql": "-- @route GET /b/{id:int}\nSELECT row_to_json(b) FROM bounties b WHERE id = :id\n",
            "cast.sql": "-- @route GET /c/{id:int}\nSELECT row_to_json(b) FROM bounties b WHERE id = :id::bigint\n",
        })
        code, out, err = check("--routes", d, "--database-url", URL)
        assert code == 0, (code, out, err)
        assert out == (os.path.join(d, "view.sql") + ":1: note: lookups run one at a time: the batch form does not prepare: "
                       "WITH clause containing a data-modifying statement must be at the top level\n"
                       "keel check: 3 route files OK; every statement prepares against the database\n"
                       "keel check: concurrent lookups run batched (README, \"Batched lookups\") on GET /c/{id:int}\n"), out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_unreachable_database_exits_2():
    port = kit.free_port()  # nothing listens there
    code, out, err = check("--routes", BOUNTIES, "--database-url", "postgresql://keel@127.0.0.1:%d/x" % port)
    assert code == 2, (code, out, err)
    assert out == "", out
    assert err.startswith("keel check: cannot connect to the database: ") and str(port) in err, err


def test_usage_errors_exit_2():
    for args in (("--routes",), ("--bogus",), ()):
        code, out, err = check(*args)
        assert code == 2 and "usage: keel check" in err, (args, code, err)
    code, _, err = check("--routes", "/nonexistent/keel-routes")
    assert code == 2 and "cannot read the routes folder" in err, err


def test_nothing_left_in_the_database():
    # an @idempotent route makes keel check create keel's idempotency table to prepare
    # against; in a database of its own, nothing of it may remain afterwards
    probe = URL.rsplit("/", 1)[0] + "/keel_check_probe"
    kit.psql(URL, "DROP DATABASE IF EXISTS keel_check_probe")
    kit.psql(URL, "CREATE DATABASE keel_check_probe")
    d = tempfile.mkdtemp(prefix="keel-check-")
    try:
        with open(os.path.join(d, "probe.sql"), "w") as f:
            f.write("-- @route POST /probe\n-- @idempotent optional\nSELECT json_build_object('ok', true)\n")
        code, out, err = check("--routes", d, "--database-url", probe)
        assert code == 0, (code, out, err)
        assert kit.psql(probe, "SELECT count(*) FROM pg_namespace WHERE nspname = 'keel'") == "0"
    finally:
        shutil.rmtree(d, ignore_errors=True)
        kit.psql(URL, "DROP DATABASE IF EXISTS keel_check_probe")


def setup():
    global URL
    kit.pg("start")
    kit.pg("load")
    URL = kit.pg("url").strip()


if __name__ == "__main__":
    setup()
    kit.main(globals())
