"""A busy shard's wait gathers completions (KEEL_GATHER_US, src/core/shard.c): it does so
only while 64 or more of its connections are active and no database answer is awaited,
answers every request on the way (keel submits through its own io_uring_enter there), and
never with KEEL_GATHER_US=0 or with few connections. keel_shard_gathered_waits_total shows it.
"""
import os
import re
import socket
import time

import kit

kit.pg("start")
kit.pg("load")
URL = kit.pg("url").strip()
ROUTES = os.path.join(kit.ROOT, "examples", "bounties", "routes")


def kernel_has_min_wait():
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return m and (int(m.group(1)), int(m.group(2))) >= (6, 12)


def keel(**env):
    e = {"KEEL_SHARDS": "1", "KEEL_ROUTES": ROUTES, "DATABASE_URL": URL, "KEEL_CACHE_MB": "0",
         "KEEL_JWT_SECRET": "gather-test-secret-of-enough-length-0123456789"}
    e.update({k: str(v) for k, v in env.items()})
    return kit.Keel(env=e, ready_path="/ready", admin=True)


def gathered(k):
    st, _, body = k.admin("GET", "/metrics")
    assert st == 200, st
    m = re.search(rb'^keel_shard_gathered_waits_total\{shard="0"\} (\d+)$', body, re.M)
    assert m, body[-2000:]
    return int(m.group(1))


def rounds(k, conns, seconds, path="/health", check=None):
    """Every round sends one request on each of `conns` keep-alive connections, then reads
    every answer, for `seconds` (bounded); all must be 200 (and pass check). Returns the
    number of requests."""
    socks = [k.connect() for _ in range(conns)]
    readers = [kit.Reader(s) for s in socks]
    n = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for s in socks:
                s.sendall(kit.build("GET", path))
            for r in readers:
                st, _, body = r.response()
                assert st == 200, (st, body[:200])
                if check:
                    check(body)
                n += 1
    finally:
        for s in socks:
            s.close()
    return n


def test_many_active_connections_gather_and_every_request_is_answered():
    if not kernel_has_min_wait():
        raise kit.Skip("io_uring's minimum wait needs Linux 6.12+ (this is %s)" % os.uname().release)
    with keel() as k:
        before = gathered(k)
        n = rounds(k, 100, 1.5)
        time.sleep(0.05)  # published once a millisecond
        after = gathered(k)
        assert n >= 300, n
        assert after > before, (before, after)


def test_database_answers_are_right_while_gathering():
    if not kernel_has_min_wait():
        raise kit.Skip("io_uring's minimum wait needs Linux 6.12+")
    # a database route beside the gathering: uncached lookups are answered, each its own row
    with keel() as k:
        socks = [k.connect() for _ in range(100)]
        readers = [kit.Reader(s) for s in socks]
        try:
            before = gathered(k)
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                for i, s in enumerate(socks):
                    s.sendall(kit.build("GET", "/health" if i % 2 else "/api/bounties/%d" % (i + 1)))
                for i, r in enumerate(readers):
                    st, _, body = r.response()
                    assert st == 200, (i, st, body[:200])
                    if i % 2 == 0:
                        assert body.startswith(b'{"id":%d,' % (i + 1)), (i, body[:80])
            time.sleep(0.05)
            assert gathered(k) > before
        finally:
            for s in socks:
                s.close()


def test_off_or_few_connections_never_gather():
    with keel(KEEL_GATHER_US=0) as k:
        rounds(k, 100, 1.0)
        time.sleep(0.05)
        assert gathered(k) == 0
    with keel() as k:  # 40 active connections: under the 64 that gathering needs
        rounds(k, 40, 1.0)
        time.sleep(0.05)
        assert gathered(k) == 0


def test_gather_us_is_bounded():
    for bad in ("-1", "1001", "abc"):
        _, err = kit.refuses_to_start({"KEEL_GATHER_US": bad, "KEEL_ROUTES": "", "DATABASE_URL": URL})
        assert "KEEL_GATHER_US: expected an integer from 0 to 1000" in err, err


kit.main(globals())
