#!/usr/bin/env python3
"""keel-bench's reports against a real keel (the bounties example on the private PostgreSQL):

- `--html FILE` from a two-stage open-model run over a scenario with a route that answers 404:
  the file is self-contained (no URL, script, stylesheet or image reference), and headless
  Chromium's screenshot of it shows the plots: the throughput, p50/p95/p99, percentile-curve
  and error-bar colours are each drawn over many pixels, in that order down the page.
- `--capacity OBJ -r R`: a loose objective passes every bounded step and names the capacity;
  an objective no server meets fails every step and exits 1; bad objectives exit 2 with a
  clear reason.

Needs chromium (scripts/setup.sh installs it): without it the test fails.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

ROOT = kit.ROOT
BENCH = kit.BENCH_BIN
TMP = kit.scratch("keel-bench-report-")
SECRET = "bench-report-test-secret-0123456789abcdef"
K = None

# the series colours of bench/keel-bench/report_html.h
COLOURS = {"throughput": (0x1f, 0x77, 0xb4), "p50": (0x2c, 0xa0, 0x2c), "p95": (0xff, 0x7f, 0x0e),
           "p99": (0xd6, 0x27, 0x28), "curve": (0x6a, 0x3d, 0x9a), "errors": (0x8c, 0x56, 0x4b)}


def keel():
    global K
    if K is None:
        kit.pg("start")
        kit.pg("load")
        url = kit.pg("url").strip()
        K = kit.Keel(env={"KEEL_ROUTES": os.path.join(ROOT, "examples", "bounties", "routes"), "DATABASE_URL": url,
                          "KEEL_SHARDS": "2", "KEEL_JWT_SECRET": SECRET}, ready_path="/ready").start(timeout=30)
    return K


def bench(*args, timeout=120):
    p = subprocess.run([BENCH, "-q"] + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def read_png(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB/RGBA non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def colour_pixels(rows, rgb, tol=6):
    """[(x, y)] of the pixels within tol of rgb in every channel."""
    out = []
    for y, row in enumerate(rows):
        for x, p in enumerate(row):
            if abs(p[0] - rgb[0]) <= tol and abs(p[1] - rgb[1]) <= tol and abs(p[2] - rgb[2]) <= tol:
                out.append((x, y))
    return out


def test_html_report_renders_plots():
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (scripts/setup.sh installs it)"
    k = keel()
    scen = os.path.join(TMP, "mix.scenario")
    with open(scen, "w") as f:
        f.write("request 60 GET /api/bounties/{int:1:500}\n"
                "request 35 GET /api/bounties?limit=5\n"
                "request 5 GET /api/no-such-route\n"
                "  name missing\n")
    html = os.path.join(TMP, "report.html")
    rc, out, err = bench("--stages", "100/s:3s,250/s:3s", "-c", "50", "-s", scen, "--html", html,
                         "http://127.0.0.1:%d" % k.port)
    assert rc == 0, "keel-bench exited %d: %s%s" % (rc, out, err)
    text = open(html).read()
    # self-contained: nothing a browser would fetch
    for ref in ("http://", "https://", "src=", "href=", "url(", "@import", "<script", "<link"):
        assert ref not in text, "the report holds %r" % ref
    for pid in ("throughput", "latency", "percentiles", "errors"):
        assert 'id="%s"' % pid in text, "no %s plot" % pid
    assert "status 404" in text, "the error breakdown misses the 404s"
    assert "stage 2: 250 req/s" in text
    n404 = int(re.search(r"status 404</text><rect[^>]*/><text[^>]*>(\d+) ", text).group(1))
    assert 20 <= n404 <= 200, "404s in the breakdown: %d (5%% of ~1050 requests)" % n404

    png = os.path.join(TMP, "report.png")
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--user-data-dir=" + os.path.join(TMP, "chromium-profile"),
                        "--screenshot=" + png, "--window-size=1000,1500", "file://" + html],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and os.path.exists(png), "chromium failed (%d): %s" % (p.returncode, p.stderr[-2000:])
    w, h, rows = read_png(png)
    assert (w, h) == (1000, 1500), (w, h)
    median_y = {}
    for name, rgb in COLOURS.items():
        px = colour_pixels(rows, rgb)
        # a legend swatch is ~50 pixels; a plotted line over the run's width is far more
        assert len(px) >= 300, "%s: %d pixels of its colour in the screenshot" % (name, len(px))
        ys = sorted(y for _, y in px)
        median_y[name] = ys[len(ys) // 2]
        xs = sorted(x for x, _ in px)
        if name != "errors":  # lines run across the plot, not just a swatch
            assert xs[-1] - xs[0] >= 500, "%s spans x %d..%d only" % (name, xs[0], xs[-1])
    print("screenshot %s: median y %s" % (png, median_y), file=sys.stderr)
    assert median_y["throughput"] < median_y["p50"] < median_y["curve"] < median_y["errors"], median_y
    assert median_y["throughput"] < median_y["p99"] < median_y["curve"], median_y


def test_capacity_loose_objective():
    k = keel()
    rc, out, err = bench("-r", "40", "-d", "1s", "-c", "20", "--capacity", "p99<2s", "--capacity-steps", "3",
                         "http://127.0.0.1:%d/api/bounties/1" % k.port, timeout=60)
    assert rc == 0, "exit %d: %s%s" % (rc, out, err)
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) ms \| (\d+) \| (\d+) \| (\S+)", out, re.M)
    assert [(r[0], r[1], r[6]) for r in rows] == [("1", "40", "pass"), ("2", "80", "pass"), ("3", "160", "pass")], out
    for r in rows:  # the run behind each step: it achieved about the rate asked for
        assert float(r[2]) >= 0.8 * float(r[1]), out
        assert 0 < float(r[3]) < 2000, out
    assert re.search(r"^capacity: 160 req/s meets p99<2s \(p99 [\d.]+ ms at that rate\); every rate tried passed", out,
                     re.M), out


def test_capacity_unmet_objective():
    k = keel()
    rc, out, err = bench("-r", "20", "-d", "1s", "--capacity", "p50<1us", "--capacity-steps", "2",
                         "http://127.0.0.1:%d/api/bounties/1" % k.port, timeout=60)
    assert rc == 1, "exit %d: %s%s" % (rc, out, err)
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \|.*\| (FAIL \(p50\)) \|$", out, re.M)
    assert [(r[0], r[1]) for r in rows] == [("1", "20"), ("2", "10")], out  # halving from the start
    assert "capacity: no rate tried meets p50<1us (lowest tried: 10 req/s)" in out, out


def test_capacity_bad_input():
    url = "http://127.0.0.1:9/"  # never contacted: the flags are refused first
    for obj, why in (("p99<10", "needs a unit"), ("99<10ms", "latency percentile"), ("p99>10ms", "upper bound"),
                     ("p100<1ms", "below 100"), ("p99<10min", "unknown unit"), ("", "empty objective")):
        rc, out, err = bench("-r", "10", "--capacity", obj, url, timeout=10)
        assert rc == 2 and "--capacity" in err and why in err, (obj, rc, err)
        assert out == "", out
    rc, out, err = bench("--capacity", "p99<10ms", url, timeout=10)
    assert rc == 2 and "-r R" in err, err
    rc, out, err = bench("-r", "10", "--capacity", "p99<10ms", "--json", "x.json", url, timeout=10)
    assert rc == 2 and "single run" in err, err
    rc, out, err = bench("-r", "10", "--capacity", "p99<10ms", "--capacity-steps", "0", url, timeout=10)
    assert rc == 2 and "--capacity-steps" in err, err


def servers():
    return [K] if K else []


if __name__ == "__main__":
    kit.main(globals(), servers)
