"""bench/rounds.py - the tables of the alternating-rounds benchmarks (bench_ratelimit.sh,
bench_jwt.sh): each run NAME left TMP/NAME.json (keel-bench --json) and TMP/NAME.cpu (keel's
CPU ticks during it, bench/lib.sh's measure). Medians over rounds; ratios are per round, then
their median, since rounds on a shared machine move together."""
import json
import os
import statistics


class Rounds:
    def __init__(self, tmp, rounds):
        self.tmp, self.rounds = tmp, rounds
        self.hz = os.sysconf("SC_CLK_TCK")

    def total(self, name):
        with open(os.path.join(self.tmp, name + ".json")) as f:
            return json.load(f)["total"]

    def cpu_us(self, name):
        """keel's CPU time per response in the run, in microseconds."""
        with open(os.path.join(self.tmp, name + ".cpu")) as f:
            ticks = int(f.read())
        return ticks / self.hz * 1e6 / max(1, self.total(name)["responses"])

    def header(self):
        print("| route | req/s | keel CPU per response | p50 | p99 | req/s per round | statuses |")
        print("|---|---|---|---|---|---|---|")

    def row(self, label, prefix, rounds=None):
        """Prints one table row over runs PREFIX.1..PREFIX.N; returns ([req/s], [CPU us]) per round."""
        names = ["%s.%d" % (prefix, i) for i in range(1, (rounds or self.rounds) + 1)]
        ts = [self.total(n) for n in names]
        cpu = [self.cpu_us(n) for n in names]
        codes = {}
        for t in ts:
            for k, v in (t.get("status") or {}).items():
                codes[k] = codes.get(k, 0) + v
        print("| %s | %.0f | %.2f us | %.3f ms | %.3f ms | %s | %s |" % (
            label, statistics.median(t["rps"] for t in ts), statistics.median(cpu),
            statistics.median(t["latency_ms"]["p50"] for t in ts), statistics.median(t["latency_ms"]["p99"] for t in ts),
            " ".join("%.0f" % t["rps"] for t in ts), ", ".join("%s: %d" % kv for kv in sorted(codes.items()))))
        return [t["rps"] for t in ts], cpu


def ratios(a, b):
    """'median (rounds: r1 r2 ...)' of the per-round ratios a[i] / b[i]."""
    rs = [x / y for x, y in zip(a, b)]
    return statistics.median(rs), " ".join("%.3f" % r for r in rs)
