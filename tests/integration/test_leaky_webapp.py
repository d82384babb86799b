"""examples/leaky-webapp: the web app, its load generator, and what memtide sees of them.

Real processes only: the app (linked with libmemtide, never sanitized), the
load generator and the exporter reading the app's agent segment from a
private MEMTIDE_DIR. Every wait is a bounded poll.
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, free_port, sample_value, stop_process, wait_for

WEBAPP = os.path.join(BUILD, "leaky_webapp")
LOADGEN = os.path.join(BUILD, "loadgen")
POOL = {"source": "agent", "group": "leaky_webapp", "pool": "sessions"}
SID = re.compile(r"^sid=([0-9a-f]{32});")
SESSION_BYTES = 4096
# Fast sessions: expired within a second of their last request.
FAST = ("--session-ttl=1", "--sweep-interval=0.2")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(WEBAPP) and os.path.exists(LOADGEN)),
    reason="leaky_webapp not built (examples/leaky-webapp/webapp.mk not included)")


class WebApp:
    """leaky_webapp on a port the kernel picked, its segment in agent_dir."""

    def __init__(self, *args, agent_dir, env=None, wrapper=(), ready_timeout=20.0):
        environ = dict(os.environ, MEMTIDE_DIR=agent_dir, **(env or {}))
        environ.pop("LD_PRELOAD", None)
        self.stopped_stderr = None
        self.out = tempfile.NamedTemporaryFile(prefix="leaky-webapp-", suffix=".out")
        self.err = tempfile.NamedTemporaryFile(prefix="leaky-webapp-", suffix=".err")
        self.proc = subprocess.Popen([*wrapper, WEBAPP, "--port=0", *args], stdout=self.out,
                                     stderr=self.err, env=environ, start_new_session=True)
        self.port = wait_for(self._port, timeout=ready_timeout, what="leaky_webapp to listen")
        self.target = f"http://127.0.0.1:{self.port}"

    def _port(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"leaky_webapp exited with {self.proc.returncode}: {self.stderr()}")
        m = re.search(r"listening port=(\d+)", open(self.out.name).read())
        return int(m.group(1)) if m else None

    def stderr(self):
        if self.stopped_stderr is not None:
            return self.stopped_stderr
        return open(self.err.name, errors="replace").read()

    def request(self, method, path, sid=None):
        """(status, Set-Cookie sid or None, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers={"Cookie": f"sid={sid}"} if sid else {})
            r = conn.getresponse()
            m = SID.match(r.getheader("Set-Cookie") or "")
            return r.status, m.group(1) if m else None, r.read().decode()
        finally:
            conn.close()

    def health(self):
        status, _, body = self.request("GET", "/healthz")
        assert status == 200 and body.startswith("ok\n"), body
        return {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", body, re.M)}

    def stop(self):
        """SIGTERM; returns the exit status. stderr() still answers afterwards."""
        status = stop_process(self.proc)
        self.stopped_stderr = self.stderr()
        self.out.close()
        self.err.close()
        return status


@pytest.fixture
def agent_dir(tmp_path):
    d = tmp_path / "shm"
    d.mkdir()
    return str(d)


@pytest.fixture
def webapp(agent_dir):
    started = []

    def start(*args, **kwargs):
        kwargs.setdefault("agent_dir", agent_dir)
        app = WebApp(*args, **kwargs)
        started.append(app)
        return app

    yield start
    for app in started:
        if app.proc.poll() is None:
            app.stop()


def loadgen(target, *args, timeout=60):
    """Runs the load generator to its end; returns (exit status, summary dict, stderr)."""
    p = subprocess.run([LOADGEN, f"--target={target}", *args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, parse_summary(p.stdout), p.stderr


def parse_summary(out):
    lines = [line for line in out.splitlines() if line.startswith("loadgen ")]
    assert len(lines) == 1, out
    return {k: (v if k == "mode" else float(v)) for k, v in re.findall(r"(\w+)=(\S+)", lines[0])}


def agent_metric(exporter, name, **labels):
    return sample_value(exporter.metrics(), name, **labels)


def live_bytes(exporter):
    return agent_metric(exporter, "memtide_malloc_live_bytes", group="leaky_webapp")


def baseline_bytes(exporter):
    """The app's live heap before any load, once the exporter sees its segment."""
    return wait_for(lambda: live_bytes(exporter), what="the app's segment")


def test_login_page_logout_with_cookies(webapp):
    app = webapp()
    status, sid, body = app.request("POST", "/login?user=alice")
    assert status == 200 and sid and body == f"sid={sid}\n"
    status, _, body = app.request("GET", "/page", sid)
    assert status == 200 and "user=alice pages=1" in body
    assert app.request("GET", "/page", sid)[2].startswith("page user=alice pages=2")
    assert app.request("GET", "/page")[0] == 401
    assert app.request("GET", "/page", "0" * 32)[0] == 401
    assert app.request("GET", "/page", "short")[0] == 401
    assert app.request("GET", "/login")[0] == 405
    assert app.request("GET", "/nowhere")[0] == 404
    assert app.request("POST", "/logout")[0] == 401
    assert app.request("POST", "/logout", sid)[0] == 200
    assert app.request("GET", "/page", sid)[0] == 401
    assert app.request("POST", "/logout", sid)[0] == 401
    assert app.health() == {"sessions_live": 0, "sessions_created": 1, "sessions_logged_out": 1,
                            "sessions_expired": 0, "sessions_forgotten": 0, "leaked_bytes": 0}
    assert app.stop() == 0
    assert "stopped sessions_created=1 logged_out=1" in app.stderr()


def test_idle_session_expires(webapp):
    app = webapp(*FAST)
    _, sid, _ = app.request("POST", "/login")
    wait_for(lambda: app.health()["sessions_expired"] == 1, what="the session to expire")
    assert app.request("GET", "/page", sid)[0] == 401
    assert app.health()["sessions_live"] == 0


def test_without_the_leak_sessions_and_heap_return(webapp, exporter_factory, agent_dir):
    app = webapp(*FAST, "--leak-fraction=0")
    exporter = exporter_factory(f"--collector.agent.dir={agent_dir}")
    base = baseline_bytes(exporter)
    assert agent_metric(exporter, "memtide_sessions_ttl_seconds", **POOL) == 1
    status, summary, err = loadgen(app.target, "--rate=20", "--duration=3", "--think-ms=50",
                                   "--walk-away=0.4")
    assert status == 0 and summary["errors"] == 0, err
    assert summary["walked_away"] > 0
    wait_for(lambda: app.health()["sessions_live"] == 0, what="every session to end")
    health = app.health()
    assert health["sessions_forgotten"] == 0 and health["sessions_expired"] > 0
    wait_for(lambda: agent_metric(exporter, "memtide_sessions_live", **POOL) == 0,
             what="no live sessions in memtide's view")
    text = exporter.metrics()
    opened = sample_value(text, "memtide_sessions_opened_total", **POOL)
    assert opened == summary["users"] == health["sessions_created"]
    assert sample_value(text, "memtide_sessions_closed_total", **POOL) == opened
    # Every block of every request and session was freed: back to the baseline
    # (measured: within 100 bytes), less than a single session's state above it.
    wait_for(lambda: live_bytes(exporter) - base < SESSION_BYTES, what="live heap back at baseline")
    assert app.stop() == 0


def clock_offset_for_minute_boundary(seconds_ahead):
    """A MEMTIDE_CLOCK_OFFSET putting the agent's next minute boundary seconds_ahead from now.

    Ages have minute resolution: a session is "older than X" once its whole
    opening minute is. The constant offset only moves where the minute
    boundaries fall on the agent's clock; ages still grow in real time.
    """
    now = int(time.clock_gettime(time.CLOCK_BOOTTIME))
    return (60 - seconds_ahead - now) % 60


def test_forgotten_sessions_keep_memory_and_age(webapp, exporter_factory, agent_dir):
    offset = clock_offset_for_minute_boundary(4)
    app = webapp(*FAST, "--leak-fraction=0.5", env={"MEMTIDE_CLOCK_OFFSET": str(offset)})
    exporter = exporter_factory(f"--collector.agent.dir={agent_dir}")
    base = baseline_bytes(exporter)
    status, summary, err = loadgen(app.target, "--rate=20", "--duration=4", "--think-ms=50",
                                   "--walk-away=0.6")
    assert status == 0 and summary["errors"] == 0, err
    # Past the TTL the table is empty: the app knows of no session any more.
    wait_for(lambda: app.health()["sessions_live"] == 0, what="the table to empty")
    health = app.health()
    forgotten = health["sessions_forgotten"]
    assert 0.15 < forgotten / (forgotten + health["sessions_expired"]) < 0.85, health
    # memtide still sees every forgotten session, and their memory.
    text = exporter.metrics()
    assert sample_value(text, "memtide_sessions_live", **POOL) == forgotten
    assert live_bytes(exporter) - base >= forgotten * SESSION_BYTES
    # And they age past the TTL, which no real session can.
    ttl = sample_value(text, "memtide_sessions_ttl_seconds", **POOL)
    wait_for(lambda: agent_metric(exporter, "memtide_sessions_oldest_age_seconds", **POOL) > ttl,
             timeout=75, what="forgotten sessions older than the TTL")
    text = exporter.metrics()
    assert sample_value(text, "memtide_sessions_live", **POOL) == forgotten
    assert sample_value(text, "memtide_sessions_live_by_age", older_than_seconds="60",
                        **POOL) is not None
    assert app.stop() == 0
    assert f"forgotten={forgotten}" in app.stderr()


def test_per_request_leak_grows_the_heap(webapp, exporter_factory, agent_dir):
    app = webapp("--leak-bytes-per-request=10000")
    exporter = exporter_factory(f"--collector.agent.dir={agent_dir}")
    base = baseline_bytes(exporter)
    _, sid, _ = app.request("POST", "/login")
    for _ in range(50):
        assert app.request("GET", "/page", sid)[0] == 200
    assert app.request("POST", "/logout", sid)[0] == 200
    assert app.health()["leaked_bytes"] == 50 * 10000
    assert live_bytes(exporter) - base >= 50 * 10000


def test_loadgen_steady(webapp):
    app = webapp(*FAST)
    status, s, err = loadgen(app.target, "--mode=steady", "--rate=20", "--duration=2",
                             "--think-ms=20", "--pages-min=2", "--pages-max=4")
    assert status == 0, err
    # It ran for its whole duration; how much longer it took to drain is the
    # machine's business (the subprocess timeout bounds a hang).
    assert s["mode"] == "steady" and s["seconds"] >= 2
    assert s["users"] == 40 and s["errors"] == 0 and s["failed"] == 0 and s["dropped"] == 0
    assert s["logged_out"] + s["walked_away"] == s["users"]
    assert s["requests"] >= 3 * s["users"] + s["logged_out"]
    assert 0 < s["latency_avg_ms"] <= s["latency_max_ms"]
    assert app.health()["sessions_created"] == s["users"]


def test_loadgen_daily(webapp):
    app = webapp(*FAST)
    # 1.5 compressed days of 2 s: 5 users/s at night, 30 at noon, 52.5 users in all.
    status, s, err = loadgen(app.target, "--mode=daily", "--period=2", "--min-rate=5",
                             "--max-rate=30", "--duration=3", "--think-ms=20")
    assert status == 0, err
    assert s["mode"] == "daily" and 51 <= s["users"] <= 53 and s["errors"] == 0
    assert s["logged_out"] + s["walked_away"] == s["users"]


def test_loadgen_until_sigterm(webapp):
    app = webapp(*FAST)
    p = subprocess.Popen([LOADGEN, f"--target={app.target}", "--duration=0", "--rate=50",
                          "--think-ms=20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    wait_for(lambda: app.health()["sessions_created"] >= 5, what="users to arrive")
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert parse_summary(out)["users"] >= 5


def test_loadgen_without_a_server_fails():
    status, s, _ = loadgen(f"http://127.0.0.1:{free_port()}", "--rate=10", "--duration=0.5")
    assert status == 1 and s["errors"] == s["requests"] > 0


@pytest.mark.parametrize("args", [
    ["--leak-fraction=1.5"], ["--leak-fraction", "x"], ["--port=70000"], ["--port=-1"],
    ["--session-ttl=0"], ["--threads=0"], ["--bind=localhost"], ["--bogus"], ["extra"],
    ["--port"],
])
def test_webapp_bad_flags_exit_2(args):
    p = subprocess.run([WEBAPP, *args], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and p.stderr and not p.stdout


@pytest.mark.parametrize("args", [
    ["--mode=weekly"], ["--target=http://10.1.2.3:80"], ["--target=http://example.com:80"],
    ["--target=127.0.0.1:80"], ["--target=http://127.0.0.1:99999"], ["--rate=-1"],
    ["--pages-min=5", "--pages-max=2"], ["--min-rate=9", "--max-rate=1"], ["--walk-away=2"],
    ["--concurrency=0"], ["--bogus"],
])
def test_loadgen_bad_flags_exit_2(args):
    p = subprocess.run([LOADGEN, *args], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and p.stderr and not p.stdout


@pytest.mark.parametrize("program", [WEBAPP, LOADGEN])
def test_help(program):
    p = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stdout.startswith("usage:")


VALGRIND = ("valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99")


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind not installed")
@pytest.mark.parametrize("fraction", ["0", "1"])
def test_under_memcheck_only_the_bug_leaks(webapp, fraction):
    # The agent is switched off (a relative MEMTIDE_DIR): its start-up check of
    # glibc's chunk layout is meaningless under valgrind's allocator.
    app = webapp(*FAST, f"--leak-fraction={fraction}", agent_dir="off", wrapper=VALGRIND,
                 ready_timeout=60)
    status, s, err = loadgen(app.target, "--rate=10", "--duration=2", "--think-ms=20",
                             "--walk-away=0.5")
    assert status == 0 and s["errors"] == 0, err
    wait_for(lambda: app.health()["sessions_live"] == 0, timeout=30, what="every session to end")
    health = app.health()
    status = app.stop()
    if fraction == "0":
        assert status == 0, app.stderr()
        return
    # Exactly the forgotten sessions are lost, each with its state.
    assert status == 99 and health["sessions_forgotten"] == s["walked_away"] > 0
    lost = re.findall(r"== ([\d,]+) (?:\(.*\) )?bytes in (\d+) blocks are definitely lost",
                      app.stderr())
    assert sum(int(b.replace(",", "")) for b, _ in lost) == health["leaked_bytes"]
    assert sum(int(n) for _, n in lost) == health["sessions_forgotten"]
