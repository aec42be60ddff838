"""@idempotent write routes (Idempotency-Key): replays, conflicts, concurrency, expiry, the
purge, and PostgreSQL stopped in the middle of a storm of transfers.

Fixture: tests/fixtures/idempotency (schema idem_tests: 20 accounts of 1000, a transfer
function that raises KH409 when short), loaded afresh by this file; keel creates and owns
schema keel (table keel.idempotency) itself.
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
FIX = os.path.join(ROOT, "tests", "fixtures", "idempotency")
SLACK = 3.0 if kit.ASAN else 1.0

kit.pg("start")
kit.pg("load")
URL = kit.pg("url").strip()
_shared = []


def psql(sql):
    return kit.psql(URL, sql)


def reset_schema():
    import subprocess
    psql("DROP SCHEMA IF EXISTS keel CASCADE")  # keel creates it again at startup
    p = subprocess.run([kit.PSQL, URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", os.path.join(FIX, "schema.sql")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def keel():
    if not _shared:
        reset_schema()
        _shared.append(kit.Keel(env={"KEEL_ROUTES": os.path.join(FIX, "routes"), "DATABASE_URL": URL,
                                     "KEEL_SHARDS": "2"}, ready_path="/ready").start())
    return _shared[0]


def transfer(k, key, body, path="/i/transfers", timeout=10):
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["Idempotency-Key"] = key
    return k.request(method="POST", path=path, headers=h, body=json.dumps(body).encode(), timeout=timeout)


def balance(i):
    return int(psql("SELECT balance FROM idem_tests.accounts WHERE id = %d" % i))


def total():
    return int(psql("SELECT sum(balance) FROM idem_tests.accounts"))


def test_replay_returns_the_stored_answer_and_the_effect_happens_once():
    k = keel()
    b1, b2 = balance(1), balance(2)
    body = {"from": 1, "to": 2, "amount": 7, "note": "replay-1"}
    st, h, first = transfer(k, "key-replay-1", body)
    assert st == 201 and "idempotent-replayed" not in h, (st, h, first)
    for _ in range(3):  # on any connection, on either shard
        st, h, again = transfer(k, "key-replay-1", body)
        assert st == 201 and h.get("idempotent-replayed") == "true" and again == first, (st, h, again)
    assert balance(1) == b1 - 7 and balance(2) == b2 + 7
    assert psql("SELECT count(*) FROM idem_tests.transfers WHERE note = 'replay-1'") == "1"
    row = psql("SELECT status || ' ' || body FROM keel.idempotency WHERE key = 'key-replay-1'")
    assert row == "201 " + first.decode(), row


def test_same_key_for_another_request_is_422():
    k = keel()
    st, _, _ = transfer(k, "key-422", {"from": 3, "to": 4, "amount": 1})
    assert st == 201
    st, _, body = transfer(k, "key-422", {"from": 3, "to": 4, "amount": 2})
    err = json.loads(body)
    assert st == 422 and err["message"] == "this Idempotency-Key was already used with a different request", body
    st, _, _ = transfer(k, "key-422", {"from": 3, "to": 4, "amount": 1}, path="/i/transfers/optional")
    assert st == 201  # keys are per route


def test_missing_or_malformed_key_is_400():
    k = keel()
    before = psql("SELECT count(*) FROM idem_tests.transfers")
    st, _, body = transfer(k, None, {"from": 1, "to": 2, "amount": 1})
    assert st == 400 and json.loads(body)["message"] == "this route needs an Idempotency-Key header", body
    for bad in ["", "a b", "x" * 256, '"unterminated', '"a"b', "é"]:
        st, _, body = transfer(k, bad, {"from": 1, "to": 2, "amount": 1})
        assert st == 400, (bad, st, body)
    s = k.connect()  # two Idempotency-Key fields: which one would it be?
    s.sendall(kit.build("POST", "/i/transfers", {"Content-Type": "application/json", "Idempotency-Key": "a"},
                        b'{"from":1,"to":2,"amount":1}').replace(b"\r\n\r\n", b"\r\nIdempotency-Key: b\r\n\r\n", 1))
    assert kit.Reader(s).response()[0] == 400
    s.close()
    assert psql("SELECT count(*) FROM idem_tests.transfers") == before
    # the RFC 8941 string form names the same key as the bare form
    st, _, first = transfer(k, '"key-sf-\\"q\\""', {"from": 5, "to": 6, "amount": 1})
    st2, h, again = transfer(k, '"key-sf-\\"q\\""', {"from": 5, "to": 6, "amount": 1})
    assert st == st2 == 201 and h.get("idempotent-replayed") == "true" and first == again
    assert psql("SELECT count(*) FROM keel.idempotency WHERE key = 'key-sf-\"q\"'") == "1"


def test_optional_key_runs_once_with_a_key_and_every_time_without():
    k = keel()
    b = balance(7)
    for _ in range(2):
        assert transfer(k, None, {"from": 7, "to": 8, "amount": 1}, path="/i/transfers/optional")[0] == 201
    for _ in range(2):
        assert transfer(k, "key-opt-1", {"from": 7, "to": 8, "amount": 1}, path="/i/transfers/optional")[0] == 201
    assert balance(7) == b - 3


def test_a_failed_request_stores_nothing():
    k = keel()
    body = {"from": 9, "to": 10, "amount": balance(9) + 5, "note": "short"}
    st, _, err = transfer(k, "key-short", body)
    assert st == 409 and json.loads(err)["message"] == "insufficient funds", err
    assert psql("SELECT count(*) FROM keel.idempotency WHERE key = 'key-short'") == "0"
    assert transfer(k, "key-fund", {"from": 11, "to": 9, "amount": 10})[0] == 201
    st, h, _ = transfer(k, "key-short", body)  # the same key, now that the money is there
    assert st == 201 and "idempotent-replayed" not in h
    st, h, _ = transfer(k, "key-short", body)
    assert st == 201 and h.get("idempotent-replayed") == "true"


def test_concurrent_sends_of_one_key_move_money_once():
    k = keel()
    b1, b2 = balance(12), balance(13)
    body = {"from": 12, "to": 13, "amount": 25, "note": "concurrent"}
    got = []
    lock = threading.Lock()

    def send():
        r = transfer(k, "key-concurrent", body)
        with lock:
            got.append(r)
    ts = [threading.Thread(target=send) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert len(got) == 8 and all(st == 201 for st, _, _ in got), [(st, b) for st, _, b in got]
    assert len({b for _, _, b in got}) == 1, "the 2xx replies differ"
    assert sum(1 for _, h, _ in got if h.get("idempotent-replayed") != "true") == 1
    assert balance(12) == b1 - 25 and balance(13) == b2 + 25
    assert psql("SELECT count(*) FROM idem_tests.transfers WHERE note = 'concurrent'") == "1"


def test_a_response_without_body_is_stored_too():
    k = keel()
    n = int(psql("SELECT count(*) FROM idem_tests.pings"))
    st, h, _ = k.request(method="PUT", path="/i/pings", headers={"Idempotency-Key": "ping-1"})
    st2, h2, _ = k.request(method="PUT", path="/i/pings", headers={"Idempotency-Key": "ping-1"})
    assert st == st2 == 204 and h2.get("idempotent-replayed") == "true"
    assert int(psql("SELECT count(*) FROM idem_tests.pings")) == n + 1


def test_an_expired_key_runs_again():
    k = keel()  # /i/transfers/optional keeps keys for 2 s
    b = balance(14)
    assert transfer(k, "key-ttl", {"from": 14, "to": 15, "amount": 1}, path="/i/transfers/optional")[0] == 201
    time.sleep(2.5)
    st, h, _ = transfer(k, "key-ttl", {"from": 14, "to": 15, "amount": 1}, path="/i/transfers/optional")
    assert st == 201 and "idempotent-replayed" not in h
    assert balance(14) == b - 2


def test_expired_keys_are_purged_off_the_request_path():
    k = keel()
    time.sleep(1.5)  # past the shared keel's own first purge (it runs within a second of start)
    psql("INSERT INTO keel.idempotency (subject, route, key, fingerprint, status, expires_at) "
         "SELECT '', 'test', 'old-' || i, 'x', 200, now() - interval '1 day' FROM generate_series(1, 1500) AS i")
    # A fresh keel purges at once (then a batch of 1,000 a minute); requests go on meanwhile.
    with kit.Keel(env={"KEEL_ROUTES": os.path.join(FIX, "routes"), "DATABASE_URL": URL, "KEEL_SHARDS": "2"},
                  ready_path="/ready") as k2:
        deadline = time.monotonic() + 10 * SLACK
        while time.monotonic() < deadline and int(psql("SELECT count(*) FROM keel.idempotency WHERE route = 'test'")) > 510:
            assert k2.request(path="/i/accounts/1")[0] == 200
            time.sleep(0.1)
        # one batch of 1,000 expired rows (the earlier tests' own expired keys may be in it)
        left = int(psql("SELECT count(*) FROM keel.idempotency WHERE route = 'test'"))
        assert 500 <= left <= 510, left
    psql("DELETE FROM keel.idempotency WHERE route = 'test'")
    assert k.request(path="/i/accounts/1")[0] == 200


def test_postgres_stopped_in_a_transfer_storm():
    # 800 transfers with their own keys among 20 accounts, from 8 threads, while PostgreSQL is
    # stopped and started again. Afterwards money is conserved, no balance is negative, every
    # transfer answered 2xx exists exactly once, and retrying each request that failed, with
    # its own key, either replays its stored answer or performs it once.
    k = keel()
    money = total()
    rnd = random.Random(42)
    plan = []
    for i in range(800):
        a, b = rnd.sample(range(1, 21), 2)
        plan.append(("storm-%d" % i, {"from": a, "to": b, "amount": rnd.randint(1, 40), "note": "storm-%d" % i}))

    def send(item):
        key, body = item
        st, _, resp = transfer(k, key, body, timeout=15)
        return st, resp
    results = kit.storm_with_pg_restart(plan, send)
    failed = [key for key, (st, _) in results.items() if not (isinstance(st, int) and 200 <= st < 300)]
    ok = {key: json.loads(resp) for key, (st, resp) in results.items() if key not in failed and st == 201}
    assert len(results) == len(plan)
    # wait for keel's connections to come back, then retry every failed request with its key
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and k.request(path="/ready")[0] != 200:
        time.sleep(0.2)
    replayed = performed = refused = 0
    for key in failed:
        body = dict(plan)[key]
        st, h, resp = transfer(k, key, body)
        if st == 201:
            ok[key] = json.loads(resp)
            if h.get("idempotent-replayed") == "true":
                replayed += 1
            else:
                performed += 1
        else:
            assert st == 409 and json.loads(resp)["message"] == "insufficient funds", (key, st, resp)
            refused += 1
    print("  storm: %d ok at once, %d failed during the restart; retried: %d replayed, %d performed, "
          "%d refused (insufficient funds)" % (len(plan) - len(failed), len(failed), replayed, performed, refused),
          file=sys.stderr)
    assert failed, "PostgreSQL's restart failed no request: the test did not test it"
    assert total() == money
    assert psql("SELECT count(*) FROM idem_tests.accounts WHERE balance < 0") == "0"
    rows = psql("SELECT note || ':' || count(*) FROM idem_tests.transfers WHERE note LIKE 'storm-%' GROUP BY note")
    counts = dict(line.split(":") for line in rows.splitlines())
    assert all(c == "1" for c in counts.values()), "a transfer happened twice"
    assert set(counts) == set(ok), (sorted(set(counts) ^ set(ok))[:5])
    for key, t in ok.items():
        assert psql("SELECT id FROM idem_tests.transfers WHERE note = '%s'" % key) == str(t["id"]), key


kit.main(globals(), servers=lambda: _shared)
