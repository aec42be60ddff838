#!/usr/bin/env python3
"""keel's test runner: unit tests (normal and ASan+UBSan builds), fuzz corpus replay and
integration tests against the real binary. Every test program prints "ok NAME",
"FAIL NAME" or "skip NAME: why" lines; this runner counts them, prints "N skipped" and
ends with "N passed, N failed" (CI reads that last line: keep its format).
A program that exits 77 (liburing's convention: what it needs is not there) is skipped,
not failed; its ok/FAIL/skip lines still count.

usage: tests/run.py [FILTER...]   run only the programs whose label contains a FILTER
KEEL_TEST_ROOT=DIR runs the tree at DIR instead of this one (the runner's own test uses it).
"""
import os
import subprocess
import sys
import time

ROOT = os.environ.get("KEEL_TEST_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "zig-out")
SKIP_EXIT = 77
passed = 0
failed = 0
skipped = 0
failures = []


def wanted(label):
    filters = sys.argv[1:]
    return not filters or any(f in label for f in filters)


def run(label, argv, timeout, env=None, parse=True):
    """Runs one test program; counts its ok/FAIL/skip lines (or only its exit code when
    parse=False)."""
    global passed, failed, skipped
    if not wanted(label):
        return
    t0 = time.monotonic()
    e = dict(os.environ)
    e.update(env or {})
    try:
        p = subprocess.run(argv, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True, errors="replace")
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as ex:
        out = ex.stdout.decode(errors="replace") if isinstance(ex.stdout, bytes) else (ex.stdout or "")
        err = (ex.stderr.decode(errors="replace") if isinstance(ex.stderr, bytes) else (ex.stderr or ""))
        err += "\n[runner] timed out after %ds" % timeout
        rc = -1
    n_ok = n_fail = n_skip = 0
    if parse:
        for line in out.splitlines():
            if line.startswith("ok "):
                n_ok += 1
                print("ok   %s: %s" % (label, line[3:]))
            elif line.startswith("FAIL "):
                n_fail += 1
                print("FAIL %s: %s" % (label, line[5:]))
                failures.append("%s: %s" % (label, line[5:]))
            elif line.startswith("skip "):
                n_skip += 1
                print("skip %s: %s" % (label, line[5:]))
    if rc == SKIP_EXIT:
        n_skip += 1
        print("skip %s: exited %d" % (label, rc))
    elif rc != 0 and n_fail == 0:
        n_fail = 1
        print("FAIL %s: exited %d" % (label, rc))
        failures.append("%s: exit %d" % (label, rc))
    elif not parse and rc == 0:
        n_ok = 1
        print("ok   %s" % label)
    if n_fail:
        tail = "\n".join((err or "").splitlines()[-40:])
        print("---- %s stderr (last lines) ----\n%s\n----" % (label, tail))
    passed += n_ok
    failed += n_fail
    skipped += n_skip
    print("     %s: %d ok, %d failed, %d skipped in %.1fs" % (label, n_ok, n_fail, n_skip, time.monotonic() - t0))
    sys.stdout.flush()


def programs(d, prefix=""):
    if not os.path.isdir(d):
        return []
    return sorted(f for f in os.listdir(d) if f.startswith(prefix) and os.access(os.path.join(d, f), os.X_OK))


def main():
    asan_env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
                "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    for t in programs(os.path.join(OUT, "tests"), "test_"):
        run("unit:" + t, [os.path.join(OUT, "tests", t)], 300)
    for t in programs(os.path.join(OUT, "asan"), "test_"):
        run("asan:" + t, [os.path.join(OUT, "asan", t)], 600, env=asan_env)
    for d in programs(os.path.join(OUT, "fuzz")):
        corpus = os.path.join(ROOT, "fuzz", "corpus", d)
        if os.path.isdir(corpus):
            # libFuzzer's own exit code for a crash is 77, which would read as "skipped"
            run("fuzz-replay:" + d, [os.path.join(OUT, "fuzz", d), "-runs=0", "-error_exitcode=1", corpus], 300,
                parse=False)
    idir = os.path.join(ROOT, "tests", "integration")
    for f in sorted(os.listdir(idir)) if os.path.isdir(idir) else []:
        if f.startswith("test_") and f.endswith(".py"):
            run("integration:" + f[:-3], [sys.executable, os.path.join(idir, f)], 900,
                env={"KEEL_BIN": os.path.join(OUT, "bin", "keel")})
            # The ASan+UBSan keel gets the same tests when the file starts keel at all.
            src = open(os.path.join(idir, f)).read()
            starts_keel = "kit.Keel(" in src or "kit.KEEL_BIN" in src
            if starts_keel and os.path.exists(os.path.join(OUT, "asan", "keel")):
                run("asan-integration:" + f[:-3], [sys.executable, os.path.join(idir, f)], 900,
                    env=dict(asan_env, KEEL_BIN=os.path.join(OUT, "asan", "keel"), KEEL_ASAN="1"))
    if failures:
        print("\nfailed:\n  " + "\n  ".join(failures))
    print("%d skipped" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
