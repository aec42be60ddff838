"""HTTP/1.1 behaviour of the real keel binary over raw sockets: framing hazards,
pipelining, keep-alive, HEAD, bodies, Expect, deadlines, request ids, concurrency.

Bodies go to POST /h/len (tests/fixtures/hardening/routes: counts its JSON body's bytes), on a
second keel connected to the private PostgreSQL: keel's own endpoints take no body."""
import json
import os
import re
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

SMALL = {"KEEL_MAX_BODY": "1k", "KEEL_HEADER_TIMEOUT": "1s", "KEEL_BODY_TIMEOUT": "1s",
         "KEEL_KEEPALIVE_TIMEOUT": "1500ms", "KEEL_SHARDS": "2"}
keel = kit.Keel(env=SMALL)
FOLLOW = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
ROUTES = os.path.join(kit.ROOT, "tests", "fixtures", "hardening", "routes")
_bodies = []
# The head of a request with a body; the framing fields follow.
POST = b"POST /h/len HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


def db_env():
    kit.pg("start")
    kit.pg("load")
    env = dict(SMALL, KEEL_ROUTES=ROUTES, DATABASE_URL=kit.pg("url").strip(),
               KEEL_JWT_SECRET="http-test-secret-0123456789abcdefghij")
    return env


def bodies():
    """The keel that has a body-taking route (started on first use)."""
    if not _bodies:
        _bodies.append(kit.Keel(env=db_env(), ready_path="/ready").start())
    return _bodies[0]


def rejected(raw, status, pause=0.0, k=None):
    """Sends raw followed by a valid request: exactly one error response, then EOF."""
    with (k or keel).connect() as s:

        s.sendall(raw)
        if pause:
            time.sleep(pause)
        try:
            s.sendall(FOLLOW)
        except OSError:
            pass
        r = kit.Reader(s)
        st, h, body = r.response()
        assert st == status, (raw[:80], st, body)
        err = json.loads(body)
        assert err["statusCode"] == status and err["error"] and err["message"], err
        assert h.get("content-type") == "application/json"
        assert h.get("connection") == "close", h
        assert r.at_eof(), "connection stayed open after a rejected request"


def test_health_and_error_shape():
    st, h, body = keel.request()
    assert st == 200 and json.loads(body) == {"status": "ok"}
    assert h["content-type"] == "application/json" and h["content-length"] == str(len(body))
    assert re.match(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$", h["date"]), h["date"]
    st, h, body = keel.request(path="/nope")
    assert st == 404 and json.loads(body) == {"statusCode": 404, "error": "Not Found", "message": "Route not found"}
    st, h, body = keel.request(method="DELETE")
    assert st == 405 and h["allow"] == "GET, HEAD" and json.loads(body)["error"] == "Method Not Allowed"


def test_head_has_headers_only():
    with keel.connect() as s:
        s.sendall(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n" + FOLLOW)
        r = kit.Reader(s)
        st, h, body = r.response(head=True)
        assert st == 200 and h["content-length"] == "15" and body == b""
        st, h, body = r.response()  # the next response starts right after HEAD's headers
        assert st == 200 and body == b'{"status":"ok"}'


def test_rejects_cl_and_te():
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)


def test_rejects_duplicate_and_invalid_content_length():
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400)


def test_rejects_bad_transfer_encodings():
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)
    rejected(b"GET /health HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)


def test_rejects_obs_fold_bare_lf_bare_cr():
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\nHost: t\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\nX: y\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400)


def test_rejects_bad_field_syntax():
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nX(A): 1\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\n: empty\r\n\r\n", 400)
    rejected(b"G(T /health HTTP/1.1\r\nHost: t\r\n\r\n", 400)
    rejected(b"GET /hea lth HTTP/1.1\r\nHost: t\r\n\r\n", 400)


def test_rejects_missing_or_duplicate_host():
    rejected(b"GET /health HTTP/1.1\r\n\r\n", 400)
    rejected(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
    with keel.connect() as s:  # HTTP/1.0 needs no Host
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        r = kit.Reader(s)
        st, h, body = r.response()
        assert st == 200 and h.get("connection") == "close" and r.at_eof()


def test_unknown_version_and_limits():
    rejected(b"GET /health HTTP/2.0\r\nHost: t\r\n\r\n", 505)
    rejected(b"GET /health HTTP/1.1x\r\nHost: t\r\n\r\n", 400)
    rejected(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n", 431)
    many = b"".join(b"X-%d: v\r\n" % i for i in range(150))
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n", 431)


def test_body_limit_answered_before_body():
    with keel.connect() as s:
        s.sendall(b"POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n")
        r = kit.Reader(s)
        st, h, body = r.response()  # nothing of the body was sent
        assert st == 413 and json.loads(body)["statusCode"] == 413
        assert r.at_eof()
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + b"a" * 2048 + b"\r\n0\r\n\r\n", 413)


def test_bad_chunked_bodies():
    k = bodies()
    rejected(POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, k=k)
    rejected(POST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400, k=k)
    rejected(POST + b"Transfer-Encoding: chunked\r\n\r\n3;\x01=x\r\nabc\r\n0\r\n\r\n", 400, k=k)
    rejected(POST + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400, k=k)
    # keel's own endpoints take no body at all: 413, unread
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 413)


def test_bodies_are_framed_exactly():
    # a Content-Length body and a chunked body (with extension and trailer), each followed
    # by a pipelined request that must be parsed right where the body ended
    with bodies().connect() as s:
        s.sendall(POST + b"Content-Length: 11\r\nX-Request-Id: one\r\n\r\n\"hello wor\"" +
                  POST + b"Transfer-Encoding: chunked\r\nX-Request-Id: two\r\n\r\n"
                  b"5;ext=1\r\n\"hell\r\n6\r\no wor\"\r\n0\r\nTrailer-A: x\r\n\r\n"
                  b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-Id: three\r\n\r\n")
        r = kit.Reader(s)
        got = [r.response() for _ in range(3)]
        assert [h["x-request-id"] for _, h, _ in got] == ["one", "two", "three"], got
        assert [json.loads(b) for _, _, b in got] == [{"len": 11}, {"len": 11}, {"status": "ok"}], got


def test_expect_continue():
    with bodies().connect() as s:
        s.sendall(POST + b"Content-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        r = kit.Reader(s)
        st, _, _ = r.response()
        assert st == 100
        s.sendall(b"1234")
        st, _, body = r.response()
        assert st == 200 and json.loads(body) == {"len": 4}
    with keel.connect() as s:  # a request that will be refused gets its final answer, no 100
        s.sendall(b"PUT /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        r = kit.Reader(s)
        st, _, _ = r.response()
        assert st == 404 and r.at_eof()
    with keel.connect() as s:  # too large: 413, never 100
        s.sendall(b"PUT /health HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n")
        st, _, _ = kit.read_response(s)
        assert st == 413
    rejected(b"GET /health HTTP/1.1\r\nHost: t\r\nExpect: something-else\r\n\r\n", 417)


def test_pipelined_requests_answered_in_order():
    reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: t\r\nX-Request-Id: r%d\r\n\r\n" % (p, i)
                    for i, p in enumerate([b"/health", b"/nope", b"/health", b"/health"] * 25))
    with keel.connect() as s:
        s.sendall(reqs)
        r = kit.Reader(s)
        got = []
        for i in range(100):
            st, h, _ = r.response()
            got.append((h["x-request-id"], st))
        assert got == [("r%d" % i, 404 if i % 4 == 1 else 200) for i in range(100)], got[:8]


def test_byte_by_byte():
    raw = (POST + b"X-Request-Id: slow\r\nContent-Length: 3\r\n\r\n123" +
           POST + b"Transfer-Encoding: chunked\r\nX-Request-Id: slow2\r\n\r\n"
           b"2\r\n12\r\n0\r\n\r\n")
    with bodies().connect() as s:
        for i in range(len(raw)):
            s.send(raw[i:i + 1])
            time.sleep(0.001)
        r = kit.Reader(s)
        assert r.response()[1]["x-request-id"] == "slow"
        assert r.response()[1]["x-request-id"] == "slow2"


def test_keep_alive_reuse_and_idle_close():
    with keel.connect() as s:
        r = kit.Reader(s)
        for i in range(20):
            s.sendall(FOLLOW)
            st, h, _ = r.response()
            assert st == 200 and "connection" not in h
        t0 = time.monotonic()
        assert r.at_eof(timeout=5), "idle keep-alive connection was not closed"
        assert 1.0 < time.monotonic() - t0 < 4.0


def test_request_ids():
    st, h, _ = keel.request(headers={"X-Request-Id": "abc-123_from.client"})
    assert h["x-request-id"] == "abc-123_from.client"
    st, h, _ = keel.request(headers={"X-Request-Id": "bad id \"quoted\""})
    assert h["x-request-id"] != "bad id \"quoted\"" and h["x-request-id"]
    ids = {keel.request()[1]["x-request-id"] for _ in range(50)}
    assert len(ids) == 50, "generated request ids repeat"


def test_header_deadline_slowloris_does_not_stall_others():
    with keel.connect() as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\n")
        t0 = time.monotonic()
        served = 0
        while time.monotonic() - t0 < 0.8:  # others are served while the trickle goes on
            assert keel.request(timeout=2)[0] == 200
            served += 1
            try:
                slow.send(b"X")
            except OSError:
                break
            time.sleep(0.05)
        assert served >= 5
        r = kit.Reader(slow)
        st, _, body = r.response()
        elapsed = time.monotonic() - t0
        assert st == 408 and json.loads(body)["statusCode"] == 408, (st, body)
        assert 0.8 < elapsed < 3.0, elapsed
        assert r.at_eof()


def test_body_idle_deadline():
    with bodies().connect() as s:
        s.sendall(POST + b"Content-Length: 10\r\n\r\nabc")
        t0 = time.monotonic()
        r = kit.Reader(s)
        st, _, _ = r.response()
        assert st == 408 and 0.8 < time.monotonic() - t0 < 3.0
        assert r.at_eof()


def test_garbage_and_abrupt_clients_do_not_hurt():
    for junk in [b"\x00\x01\x02\xff" * 100, b"\r\n" * 5000, b"GET", b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab"]:
        with keel.connect() as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
    for _ in range(50):  # connect and reset at once
        s = keel.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    assert keel.request()[0] == 200


def test_thousand_concurrent_connections():
    n = 1000
    socks = []
    sel = selectors.DefaultSelector()
    for i in range(n):
        s = keel.connect()
        s.setblocking(False)
        socks.append(s)
    for i, s in enumerate(socks):
        s.send(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-Id: c%d\r\n\r\n" % i)
        sel.register(s, selectors.EVENT_READ, [i, b""])
    done = 0
    deadline = time.monotonic() + 30
    while done < n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(65536)
            key.data[1] += data
            if b'{"status":"ok"}' in key.data[1]:
                assert b"X-Request-Id: c%d\r\n" % key.data[0] in key.data[1]
                sel.unregister(key.fileobj)
                done += 1
    for s in socks:
        s.close()
    assert done == n, "%d of %d connections answered" % (done, n)


def test_receive_buffer_exhaustion_recovers():
    # 16 receive buffers of 1 KiB per shard; 300 clients each send a 3 KiB request at once,
    # so the buffer ring runs dry (-ENOBUFS ends multishot receives) again and again.
    with kit.Keel(env={"KEEL_RECV_BUFFERS": "16", "KEEL_RECV_BUFFER_SIZE": "1k", "KEEL_SHARDS": "2"}) as k:
        socks = [k.connect() for _ in range(300)]
        pad = "x" * 3000
        for i, s in enumerate(socks):
            s.sendall(("GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: %s\r\nX-Request-Id: b%d\r\n\r\n" % (pad, i)).encode())
        for i, s in enumerate(socks):
            st, h, body = kit.read_response(s)
            assert st == 200 and h["x-request-id"] == "b%d" % i and body == b'{"status":"ok"}'
            s.close()


def test_many_pipelined_requests_read_slowly():
    # 5,000 requests in one burst, nothing read for a second: responses pile up past the
    # output bound, keel stops reading, sends go out short, and all arrive in order.
    n = 5000
    with keel.connect(timeout=30) as s:
        s.sendall(b"".join(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-Id: p%d\r\n\r\n" % i for i in range(n)))
        time.sleep(1.0)
        r = kit.Reader(s)
        for i in range(n):
            st, h, _ = r.response()
            assert st == 200 and h["x-request-id"] == "p%d" % i, (i, h)


def test_connections_spread_evenly_across_shards():
    with kit.Keel(env={"KEEL_SHARDS": "4", "KEEL_ACCESS_LOG": "1"}) as k:
        socks = []
        for i in range(200):  # held open, so each shard's open count is what the acceptor balances
            s = k.connect()
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-Id: spread-%d\r\n\r\n" % i)
            kit.read_response(s)
            socks.append(s)
        time.sleep(0.3)  # access-log lines are flushed once per loop turn
        counts = [0] * 4
        for rec in kit.log_records(k.stdout()):
            if rec["reqId"].startswith("spread-"):
                counts[rec["shard"]] += 1
        for s in socks:
            s.close()
    assert sum(counts) == 200, counts
    assert max(counts) - min(counts) <= 2, counts


def test_graceful_shutdown_with_requests_in_flight():
    env = db_env()
    env.update({"KEEL_SHUTDOWN_TIMEOUT": "5s", "KEEL_HEADER_TIMEOUT": "10s", "KEEL_BODY_TIMEOUT": "5s"})
    k = kit.Keel(env=env, ready_path="/ready").start()
    idle = k.connect()
    idle.sendall(FOLLOW)
    ri = kit.Reader(idle)
    assert ri.response()[0] == 200
    busy = k.connect()
    busy.sendall(POST + b"Content-Length: 6\r\n\r\n123")  # half a body
    time.sleep(0.2)
    t0 = time.monotonic()
    k.send_signal()
    assert ri.at_eof(timeout=3), "idle keep-alive connection not closed on SIGTERM"
    time.sleep(0.3)
    try:  # no new connections once draining
        socket.create_connection(("127.0.0.1", k.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused, "new connection accepted while draining"
    busy.sendall(b"456")  # the in-flight request completes and is answered
    rb = kit.Reader(busy)
    st, h, _ = rb.response()
    assert st == 200 and h.get("connection") == "close"
    code = k.wait(10)
    assert code == 0, (code, k.stderr())
    assert time.monotonic() - t0 < 5
    assert '"msg":"stopped"' in k.stderr()


def test_shutdown_deadline_bounds_stuck_clients():
    env = db_env()
    env.update({"KEEL_SHUTDOWN_TIMEOUT": "1s", "KEEL_BODY_TIMEOUT": "30s"})
    k = kit.Keel(env=env, ready_path="/ready").start()
    stuck = k.connect()
    stuck.sendall(POST + b"Content-Length: 100\r\n\r\nab")
    time.sleep(0.2)
    t0 = time.monotonic()
    k.send_signal()
    code = k.wait(10)
    assert code == 0 and time.monotonic() - t0 < 3.5, (code, time.monotonic() - t0)
    stuck.close()


def test_help_lists_every_setting():
    import subprocess
    out = subprocess.run([kit.KEEL_BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    for var in ["PORT", "KEEL_LISTEN", "KEEL_SHARDS", "KEEL_HEADER_TIMEOUT", "KEEL_BODY_TIMEOUT",
                "KEEL_KEEPALIVE_TIMEOUT", "KEEL_MAX_BODY", "KEEL_SHUTDOWN_TIMEOUT"]:
        assert var in out.stdout, var
    bad = subprocess.run([kit.KEEL_BIN, "--port", "nope"], capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "--port" in bad.stderr


if __name__ == "__main__":
    keel.start()
    kit.main(globals(), servers=lambda: [keel] + _bodies)
