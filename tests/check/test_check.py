"""memtide-check: the CI gate fails on leaks, passes healthy servers every time,
and says clearly when it cannot judge.

Real processes only: memtide-check starts each server itself (libmemtide
preloaded, its segments in a private directory) and runs the load given. The
cycles are short (a few hundred requests, a fraction of a second of quiet):
the defaults are for CI jobs, these settings for a test suite. Every run is
bounded by memtide-check's own --timeout and by subprocess's timeout.
"""
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

BUILD = os.environ.get("MEMTIDE_BUILD",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(BUILD, "memtide-check")
WEBAPP = os.path.join(BUILD, "leaky_webapp")
LOADGEN = os.path.join(BUILD, "loadgen")
PYTHON = sys.executable or "/usr/bin/python3"

pytestmark = pytest.mark.skipif(
    not all(os.access(p, os.X_OK) for p in (CHECK, WEBAPP, LOADGEN)),
    reason="memtide-check, leaky_webapp or loadgen not built")

READY = "--ready-line=listening port=([0-9]+)"
# Short cycles: 5 judged after 1 warm-up, a quarter second of quiet.
FAST = ("--cycles=5", "--warmup=1", "--quiet=0.25", "--timeout=120", "--start-timeout=20")
# One cycle of the web app's load: 40 users at once, no think time.
WEB_LOAD = (f"{LOADGEN} --target=http://127.0.0.1:$MEMTIDE_CHECK_PORT --users=40 --rate=400 "
            "--think-ms=0")
# Sessions expire half a second after their last request.
WEB_FAST = ("--port=0", "--session-ttl=0.5")
# The function of the web app that keeps each forgotten session's state:
# session_new(), inlined into store_login() (tests/integration/test_end_to_end.py).
STORE_SITE = re.compile(r"\b(session_new|store_login) \(store\.c:\d+\) in leaky_webapp")
# The per-request leak: leak_request_bytes(), inlined into do_page().
PAGE_SITE = re.compile(r"\b(leak_request_bytes|do_page) \(http\.c:\d+\) in leaky_webapp")


def run_check(*args, load=WEB_LOAD, server=(WEBAPP, *WEB_FAST), env=None, timeout=180):
    cmd = [CHECK, *args, f"--load={load}"]
    if server:
        cmd += ["--", *server]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return r


def verdict_line(r):
    lines = r.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def test_canary_per_request_leak_fails_naming_the_function(tmp_path):
    """The gate can fail: 1 KiB leaked per page, about 230 KiB per cycle."""
    out = tmp_path / "report.json"
    r = run_check(*FAST, READY, f"--json={out}",
                  server=(WEBAPP, *WEB_FAST, "--leak-bytes-per-request=1024"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert verdict_line(r).startswith("memtide-check: FAIL: live heap grows"), r.stdout
    assert PAGE_SITE.search(r.stdout), r.stdout
    report = json.loads(out.read_text())
    assert report["verdict"] == "leak" and report["exit"] == 1
    assert report["heap"]["leak"] is True
    assert report["heap"]["slope_bytes_per_cycle"] > 64 * 1024
    assert len(report["points"]) == 6
    assert PAGE_SITE.search(report["sites"][0]["site"]), report["sites"]


def test_forgotten_sessions_fail_naming_store_c(tmp_path):
    """The postmortems' bug: half the expired sessions forgotten, 64 KiB each."""
    load = (f"{LOADGEN} --target=http://127.0.0.1:$MEMTIDE_CHECK_PORT --users=40 --rate=400 "
            "--think-ms=0 --walk-away=1 --pages-min=0 --pages-max=1")
    r = run_check(*FAST, READY, load=load,
                  server=(WEBAPP, *WEB_FAST, "--leak-fraction=0.5", "--session-bytes=65536"))
    assert r.returncode == 1, r.stdout + r.stderr
    last = verdict_line(r)
    assert "live heap grows" in last and "sessions of pool sessions grow" in last, r.stdout
    assert STORE_SITE.search(last), r.stdout


def test_one_percent_of_sessions_forgotten_fails_on_sessions(tmp_path):
    """1% of the sessions never closed: too little memory for the heap budget,
    but sessions must come back to their level."""
    load = (f"{LOADGEN} --target=http://127.0.0.1:$MEMTIDE_CHECK_PORT --users=200 --rate=1000 "
            "--think-ms=0 --walk-away=1 --pages-min=0 --pages-max=0")
    out = tmp_path / "report.json"
    r = run_check(*FAST, READY, f"--json={out}", load=load,
                  server=(WEBAPP, *WEB_FAST, "--leak-fraction=0.01"))
    assert r.returncode == 1, r.stdout + r.stderr
    report = json.loads(out.read_text())
    assert report["sessions"]["leak"] is True and report["heap"]["leak"] is False
    pool = report["sessions"]["pools"][0]
    assert pool["name"] == "sessions" and pool["slope_per_cycle"] > 0
    assert pool["last"] > pool["baseline"]
    assert "sessions of pool sessions grow" in verdict_line(r)


def healthy_run(i):
    return run_check(*FAST, READY, server=(WEBAPP, *WEB_FAST, f"--seed={i}"))


def test_healthy_twin_passes_20_of_20():
    """Same app and load, no bug: every run passes. Four at a time: the runs
    mostly wait for quiet points."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(healthy_run, range(20)))
    failed = [r.stdout + r.stderr for r in runs if r.returncode != 0]
    assert not failed, f"{len(failed)} of 20 failed; first:\n{failed[0] if failed else ''}"
    for r in runs:
        assert verdict_line(r).startswith("memtide-check: PASS"), r.stdout


@pytest.mark.parametrize("grow,expected", [(False, 0), (True, 1)])
def test_python_http_server(grow, expected):
    """A Python server preloaded with PYTHONMALLOC=malloc, with and without a
    dict that keeps 8 KiB per request."""
    server = (PYTHON, os.path.join(HERE, "py_server.py"), *(["--grow"] if grow else []))
    load = f"{PYTHON} {os.path.join(HERE, 'py_load.py')} 30"
    r = run_check("--cycles=5", "--warmup=2", "--quiet=0.25", "--timeout=120", READY,
                  load=load, server=server, env={"PYTHONMALLOC": "malloc"})
    assert r.returncode == expected, r.stdout + r.stderr


def test_plot_is_an_svg(tmp_path):
    if not shutil.which("gnuplot"):
        pytest.skip("gnuplot not installed")
    out = tmp_path / "check.svg"
    r = run_check(*FAST, READY, f"--plot={out}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<svg" in out.read_text()


def test_plot_without_gnuplot_keeps_the_verdict(tmp_path):
    out = tmp_path / "check.svg"
    r = run_check(*FAST, READY, f"--plot={out}", env={"PATH": "/nonexistent"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gnuplot is not installed" in r.stderr
    assert not out.exists()


# --- set-up errors: a clear message and exit 2 -------------------------------

@pytest.mark.parametrize("args,server,message", [
    ((), (), "no server command"),
    (("--cycles=3",), (WEBAPP,), "too few cycles"),
    (("--max-growth=12parsecs",), (WEBAPP,), "--max-growth=12parsecs"),
    (("--frobnicate",), (WEBAPP,), "--frobnicate"),
    (("--pid=1",), (WEBAPP,), "exclude each other"),
])
def test_bad_flags(args, server, message):
    r = run_check(*args, server=server)
    assert r.returncode == 2
    assert message in r.stderr, r.stderr


def test_missing_load_command():
    r = subprocess.run([CHECK, "--", WEBAPP], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--load=CMD is required" in r.stderr, r.stderr


def test_help():
    r = subprocess.run([CHECK, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for flag in ("--cycles", "--max-growth", "--quiet", "--json", "--plot", "--pid"):
        assert flag in r.stdout


def test_server_not_found():
    r = run_check(*FAST, server=("/nonexistent/server",))
    assert r.returncode == 2
    assert "cannot run the server /nonexistent/server" in r.stderr, r.stderr


def test_server_exits_early():
    r = run_check(*FAST, server=("/bin/sh", "-c", "exit 3"))
    assert r.returncode == 2
    assert "the server exited" in r.stderr and "status 3" in r.stderr, r.stderr


def test_agent_missing():
    r = run_check(*FAST, "--agent=/nonexistent/libmemtide.so")
    assert r.returncode == 2
    assert "the agent /nonexistent/libmemtide.so cannot be read" in r.stderr, r.stderr


def test_agent_cannot_enter_a_static_server(tmp_path):
    """A static program ignores LD_PRELOAD: no segment, said within --start-timeout."""
    if not shutil.which("cc"):
        pytest.skip("no C compiler")
    src, prog = tmp_path / "static.c", tmp_path / "static"
    src.write_text("#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")
    built = subprocess.run(["cc", "-static", "-o", str(prog), str(src)], capture_output=True,
                           timeout=120)
    if built.returncode != 0:
        pytest.skip("no static libc")
    r = run_check(*FAST, "--start-timeout=1", server=(str(prog),))
    assert r.returncode == 2
    assert "no agent segment appeared" in r.stderr, r.stderr


def test_load_command_fails():
    r = run_check(*FAST, READY, load="echo refused >&2; exit 7")
    assert r.returncode == 2
    assert "the load command failed with status 7" in r.stderr, r.stderr


def test_load_command_times_out():
    r = run_check(*FAST, READY, "--load-timeout=0.5", load="sleep 60")
    assert r.returncode == 2
    assert "did not finish in 0.5 s" in r.stderr, r.stderr


def test_interrupt_stops_and_reaps_everything():
    """SIGTERM to memtide-check: the server and the load are stopped, the
    private directory removed, exit 2."""
    proc = subprocess.Popen([CHECK, *FAST, READY, "--load=sleep 60; echo never", "--",
                             WEBAPP, *WEB_FAST], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    children = []
    while time.monotonic() < deadline and len(children) < 2:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        time.sleep(0.05)
    assert len(children) >= 2, "the server and the load did not both start"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "interrupted" in err, err
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}"), f"child {pid} outlived memtide-check"


def test_attach_to_a_running_server(tmp_path):
    """--pid: the agent segment of a process started by someone else."""
    env = dict(os.environ, MEMTIDE_DIR=str(tmp_path))
    env.pop("LD_PRELOAD", None)
    app = subprocess.Popen([WEBAPP, *WEB_FAST, "--leak-bytes-per-request=1024"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        port = re.search(r"port=(\d+)", app.stdout.readline()).group(1)
        load = WEB_LOAD.replace("$MEMTIDE_CHECK_PORT", port)
        r = run_check(*FAST, f"--pid={app.pid}", f"--segment-dir={tmp_path}", load=load,
                      server=())
        assert r.returncode == 1, r.stdout + r.stderr
        assert app.poll() is None, "memtide-check must not stop a process it attached to"
    finally:
        app.terminate()
        app.wait(timeout=30)


def test_man_page_lists_every_flag():
    help_text = subprocess.run([CHECK, "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    flags = set(re.findall(r"(?m)^\s+(--[a-z][\w-]*)", help_text))
    assert "--load" in flags and "--max-session-growth" in flags, flags
    with open(os.path.join(HERE, "..", "..", "man", "memtide-check.1"), encoding="utf-8") as f:
        page = f.read().replace("\\-", "-")
    missing = [fl for fl in sorted(flags) if fl not in page]
    assert not missing, missing
    for section in ("OPTIONS", "EXIT STATUS", "SIGNALS", "SEE ALSO"):
        assert re.search(rf'(?m)^\.SH "?{section}', page), section


def test_exporter_check_runs_memtide_check():
    """`memtide_exporter check ...` is memtide-check, like `promtool check`."""
    exporter = os.path.join(BUILD, "memtide_exporter")
    if not os.access(exporter, os.X_OK):
        pytest.skip("exporter not built")
    r = subprocess.run([exporter, "check", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "usage: memtide-check" in r.stdout, r.stderr
    r = subprocess.run([exporter, "check", "--cycles=2", "--load=true", "--", "x"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "too few cycles" in r.stderr, r.stderr


def test_ready_port_on_a_fixed_port():
    """--ready-port: the load starts once the server accepts on its port."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_check(*FAST, f"--ready-port={port}",
                  load=WEB_LOAD.replace("$MEMTIDE_CHECK_PORT", str(port)),
                  server=(WEBAPP, f"--port={port}", "--session-ttl=0.5"))
    assert r.returncode == 0, r.stdout + r.stderr
