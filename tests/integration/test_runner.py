"""tests/run.py itself: a skipped test is counted as skipped, never as passed or failed.

Each test builds a fake tree (zig-out/tests/ programs, a tests/integration/ file using
kit) in a temporary folder, runs the real tests/run.py over it (KEEL_TEST_ROOT) and reads
its last two lines, which CI depends on: "N skipped", then "N passed, N failed".
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kit  # noqa: E402

RUN_PY = os.path.join(kit.ROOT, "tests", "run.py")
KIT_DIR = os.path.dirname(os.path.abspath(__file__))


def fake_tree(root, programs, integration):
    """programs: {name: shell body} under zig-out/tests; integration: {file: python source}."""
    os.makedirs(os.path.join(root, "zig-out", "tests"))
    os.makedirs(os.path.join(root, "tests", "integration"))
    for name, body in programs.items():
        path = os.path.join(root, "zig-out", "tests", name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
    for name, src in integration.items():
        with open(os.path.join(root, "tests", "integration", name), "w") as f:
            f.write("import sys\nsys.path.insert(0, %r)\nimport kit\n%s\nkit.main(globals())\n" % (KIT_DIR, src))


def run_tree(programs, integration):
    with tempfile.TemporaryDirectory() as root:
        fake_tree(root, programs, integration)
        env = dict(os.environ, KEEL_TEST_ROOT=root)
        p = subprocess.run([sys.executable, RUN_PY], env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.splitlines()


SKIPPING_FILE = '''
def test_runs():
    assert 1 + 1 == 2

def test_needs_widget():
    raise kit.Skip("no widget here")
'''


def test_skips_are_counted_and_do_not_fail():
    rc, lines = run_tree({"test_exit77": "echo 'ok before_skip'; exit 77"}, {"test_fake.py": SKIPPING_FILE})
    assert rc == 0, "\n".join(lines)
    assert "skip integration:test_fake: test_needs_widget: no widget here" in lines, "\n".join(lines)
    assert "skip unit:test_exit77: exited 77" in lines, "\n".join(lines)
    # test_runs and the ok line printed before the 77 exit pass; the two skips are only skips
    assert lines[-2:] == ["2 skipped", "2 passed, 0 failed"], "\n".join(lines)


def test_other_exit_codes_still_fail():
    rc, lines = run_tree({"test_exit3": "exit 3", "test_exit77": "exit 77"}, {})
    assert rc == 1, "\n".join(lines)
    assert "FAIL unit:test_exit3: exited 3" in lines, "\n".join(lines)
    assert lines[-2:] == ["1 skipped", "0 passed, 1 failed"], "\n".join(lines)


def test_failed_line_in_a_skipping_program_counts():
    rc, lines = run_tree({"test_fail_then_77": "echo 'FAIL broken'; exit 77"}, {})
    assert rc == 1, "\n".join(lines)
    assert lines[-2:] == ["1 skipped", "0 passed, 1 failed"], "\n".join(lines)


kit.main(globals())
