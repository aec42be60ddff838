#!/usr/bin/env python3
"""Cache coherence delay between two keel instances: how long after a write through instance
A answers does instance B stop serving the entry the write made stale.

Method (printed with the figures): a probe writer sends POST /sc/kv/{k} (tests/fixtures/scale
routes: @invalidates kv:{k}) through A at --rate writes/s over --keys probe keys, each write
setting v to a new sequence number; a poller reads GET /sc/kv/{k} (@cache 60s, @tags kv:{k})
from B in a tight loop over the same keys, on one keep-alive connection. For each write the
poller first answering its value (or a later one) gives the delay, counted from the write's
answer to A's client (can be negative: B heard the NOTIFY, which PostgreSQL sends at commit,
before that answer crossed back) and from the write's send. Resolution is one poll cycle
(printed). Background write load (e.g. keel-bench at 1,000 writes/s on other keys, from
bench_cluster.sh) runs meanwhile; this script only adds its probe writes.

usage: bench/coherence.py A_PORT B_PORT BASE_KEY [--rate 50] [--keys 4] [--duration 5]
"""
import argparse
import http.client
import json
import statistics
import threading
import time


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=int)
    ap.add_argument("b", type=int)
    ap.add_argument("base", type=int)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--duration", type=float, default=5)
    o = ap.parse_args()
    keys = [o.base + i for i in range(o.keys)]
    sent, acked, seen = {}, {}, {}
    latest = {k: 0 for k in keys}  # newest seq written per key
    pending = {k: [] for k in keys}  # seqs written to k, not yet seen on B
    lock = threading.Lock()
    stop = threading.Event()
    cycles = []

    seq0 = int(time.time() * 1000) * 1000  # larger than any earlier run's values

    def writer():
        c = http.client.HTTPConnection("127.0.0.1", o.a, timeout=10)
        n = 0
        t0 = time.monotonic()
        deadline = t0 + o.duration
        while time.monotonic() < deadline:
            k = keys[n % len(keys)]
            s = seq0 + n
            n += 1
            with lock:
                pending[k].append(s)
                latest[k] = s
                sent[s] = time.monotonic()
            c.request("POST", "/sc/kv/%d" % k, body=json.dumps({"v": s}), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            acked[s] = time.monotonic()
            assert r.status == 200, r.status
            nxt = t0 + n / o.rate
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
        stop.set()

    def poller():
        c = http.client.HTTPConnection("127.0.0.1", o.b, timeout=10)
        while not stop.is_set():
            t_cycle = time.monotonic()
            for k in keys:
                c.request("GET", "/sc/kv/%d" % k)
                r = c.getresponse()
                body = r.read()
                now = time.monotonic()
                if r.status != 200:
                    continue
                v = json.loads(body)["v"]
                with lock:
                    while pending[k] and pending[k][0] <= v:
                        seen[pending[k].pop(0)] = now
            cycles.append(time.monotonic() - t_cycle)
        time.sleep(0.5)  # the last writes' evictions
        # one more pass to close the last writes
        for k in keys:
            c.request("GET", "/sc/kv/%d" % k)
            r = c.getresponse()
            v = json.loads(r.read())["v"]
            now = time.monotonic()
            with lock:
                while pending[k] and pending[k][0] <= v:
                    seen[pending[k].pop(0)] = now

    # warm B's cache for the probe keys
    c = http.client.HTTPConnection("127.0.0.1", o.b, timeout=10)
    for k in keys:
        c.request("GET", "/sc/kv/%d" % k)
        c.getresponse().read()
    tp = threading.Thread(target=poller)
    tw = threading.Thread(target=writer)
    tp.start()
    tw.start()
    tw.join()
    tp.join()
    from_ack = [(seen[s] - acked[s]) * 1000 for s in seen if s in acked]
    from_send = [(seen[s] - sent[s]) * 1000 for s in seen]
    missing = len(sent) - len(seen)
    print("probe writes through A: %d (%.0f/s over %d keys, %.1f s); seen on B: %d; never seen: %d"
          % (len(sent), o.rate, o.keys, o.duration, len(seen), missing))
    print("poll cycle on B (resolution): median %.2f ms, p99 %.2f ms"
          % (statistics.median(cycles) * 1000, pct(cycles, 99) * 1000))
    if from_ack:
        print("delay write answered on A -> new value on B: p50 %.2f ms  p99 %.2f ms  max %.2f ms"
              % (pct(from_ack, 50), pct(from_ack, 99), max(from_ack)))
        print("delay write sent to A     -> new value on B: p50 %.2f ms  p99 %.2f ms  max %.2f ms"
              % (pct(from_send, 50), pct(from_send, 99), max(from_send)))
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
