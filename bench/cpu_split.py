#!/usr/bin/env python3
"""cpu_split.py - runs a load command and says where the machine's CPU went per request.

    bench/cpu_split.py [--server PID] RATE_REGEX -- COMMAND [ARGS...]

Runs COMMAND (a load generator), waits for it, and prints one line:

    rate=<req/s> total=<us> tool=<us> server=<us> rest=<us>

where rate is the first group of RATE_REGEX matched against COMMAND's output, and each
figure is CPU microseconds per request over the run: `total` is every CPU's busy time
(user, system, irq, softirq from /proc/stat), `tool` the load generator's own CPU (its
rusage), `server` the CPU of process PID (e.g. keel, all threads; 0 without --server) and
`rest` what is left: PostgreSQL's backends and kernel work not charged to the other two.
COMMAND's output is passed through to stderr. Linux only; used by bench/bench_db.sh.
"""
import os
import re
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def busy_ticks():
    with open("/proc/stat") as f:
        cols = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: idle and iowait are not busy
    return sum(cols[:8]) - cols[3] - cols[4]


def proc_ticks(pid):
    if not pid:
        return 0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def main():
    args = sys.argv[1:]
    server = 0
    if args[:1] == ["--server"]:
        server, args = int(args[1]), args[2:]
    if len(args) < 3 or args[1] != "--":
        sys.exit(__doc__)
    rate_re, cmd = re.compile(args[0]), args[2:]
    b0, s0 = busy_ticks(), proc_ticks(server)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - t0
    b1, s1 = busy_ticks(), proc_ticks(server)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write(p.stdout)
    m = rate_re.search(p.stdout)
    if p.returncode != 0 or not m:
        sys.exit("cpu_split: %s failed (exit %d) or printed no rate" % (cmd[0], p.returncode))
    rate = float(m.group(1))
    n = rate * wall
    total = (b1 - b0) / TICK * 1e6 / n
    tool = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1e6 / n
    srv = (s1 - s0) / TICK * 1e6 / n
    print("rate=%.0f total=%.1f tool=%.1f server=%.1f rest=%.1f" % (rate, total, tool, srv, total - tool - srv))


if __name__ == "__main__":
    main()
