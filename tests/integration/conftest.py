"""Shared fixtures: the built exporter, real processes and real servers on loopback.

Everything started here is stopped here; every wait is a bounded readiness
poll, never a bare sleep.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

BUILD = os.environ.get("MEMTIDE_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
EXPORTER = os.path.join(BUILD, "memtide_exporter")
SANITIZED = os.environ.get("MEMTIDE_SAN") == "1"
# The "listening" log line, in logfmt or JSON.
LISTENING = re.compile(r'msg=listening address=(\S+)|"msg":"listening","address":"([^"]+)"')
SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
# Seconds a test's scrape announces: far above any collector's cost, even
# under valgrind on a loaded machine; a bound against a hang, not a measure.
GENEROUS_SCRAPE_TIMEOUT = 60


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "unsanitized(reason): runs against the plain build only (valgrind, preloading, "
        "timing); `make test` runs these there and every other test against the sanitized build")


def pytest_collection_modifyitems(config, items):
    """Against the sanitized build, a test marked unsanitized is skipped, with its reason."""
    if not SANITIZED:
        return
    for item in items:
        mark = item.get_closest_marker("unsanitized")
        if mark:
            item.add_marker(pytest.mark.skip(reason=mark.kwargs.get("reason", "plain build only")))


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Polls predicate until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc, timeout=30):
    """SIGTERM, then SIGKILL if it does not stop in time; returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    """A memtide_exporter process on a loopback port the kernel picked."""

    def __init__(self, *args, wrapper=(), env=None, ready_timeout=20.0):
        self.log = tempfile.NamedTemporaryFile(prefix="memtide-exporter-", suffix=".log", delete=False)
        cmd = [*wrapper, EXPORTER, "--web.listen-address=127.0.0.1:0", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log,
                                     env=env, start_new_session=True)
        self.address = wait_for(self._bound_address, timeout=ready_timeout, what="exporter to listen")
        self.url = f"http://{self.address}"

    def _bound_address(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"exporter exited with {self.proc.returncode}:\n{self.read_log()}")
        m = LISTENING.search(self.read_log())
        return (m.group(1) or m.group(2)) if m else None

    def read_log(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def get(self, path="/metrics", headers=None, method="GET", timeout=30):
        req = urllib.request.Request(self.url + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def metrics(self, headers=None):
        """A scrape that announces a generous timeout: whether a collector
        succeeds must not depend on how busy the machine running the tests is
        (tests of the deadline itself announce their own)."""
        headers = {SCRAPE_TIMEOUT_HEADER: str(GENEROUS_SCRAPE_TIMEOUT), **(headers or {})}
        status, _, body = self.get(headers=headers, timeout=GENEROUS_SCRAPE_TIMEOUT + 30)
        assert status == 200, body
        return body.decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        status = stop_process(self.proc, timeout)
        os.unlink(self.log.name)
        return status


@pytest.fixture
def exporter_factory():
    started = []

    def start(*args, **kwargs):
        e = Exporter(*args, **kwargs)
        started.append(e)
        return e

    yield start
    for e in started:
        e.stop()


@pytest.fixture
def exporter(exporter_factory):
    return exporter_factory()


def sample_value(text, name, **labels):
    """The value of one sample in text exposition, or None when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


class TestProcesses:
    """Sleeping processes under a unique comm, so a test owns its group."""

    def __init__(self, comm, count=1, alloc_mib=0):
        self.comm = comm
        self.dir = tempfile.mkdtemp(prefix="memtide-procs-")
        # A copy of python3 under the unique name gives the processes their comm.
        self.binary = os.path.join(self.dir, comm)
        os.symlink("/usr/bin/python3", self.binary)
        script = ("import sys,time\n"
                  f"b = bytearray({alloc_mib} * 1024 * 1024)\n"
                  "for i in range(0, len(b), 4096): b[i] = 1\n"
                  "print('ready', flush=True)\n"
                  "sys.stdin.read()\n")
        self.procs = []
        for _ in range(count):
            p = subprocess.Popen([self.binary, "-c", script], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            self.procs.append(p)
        for p in self.procs:
            assert p.stdout.readline().strip() == "ready"

    @property
    def pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def status_kib(self, field):
        """Sum of a /proc/PID/status field over the live processes, in bytes."""
        total = 0
        for pid in self.pids:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1]) * 1024
        return total

    def stop(self):
        """Ends the processes (closing stdin ends their read); safe to call twice."""
        for p in self.procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=30)
            p.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def processes():
    made = []

    def make(comm, **kwargs):
        t = TestProcesses(comm, **kwargs)
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop()


class Prometheus:
    """A real Prometheus from Debian's package, scraping the given targets every second."""

    def __init__(self, jobs, rule_files=(), extra_config=""):
        self.dir = tempfile.mkdtemp(prefix="memtide-prometheus-")
        self.port = free_port()
        config = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s",
                  "  evaluation_interval: 1s"]
        if rule_files:
            config += ["rule_files:"] + [f"  - {f}" for f in rule_files]
        config.append("scrape_configs:")
        for name, target in jobs.items():
            config += [f"  - job_name: {name}", "    static_configs:",
                       f"      - targets: ['{target}']"]
        config.append(extra_config)
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(config) + "\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={self.config}",
             f"--storage.tsdb.path={self.dir}/data", f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.enable-lifecycle"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(self._ready, timeout=60, what="prometheus to be ready")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited: " + open(self.log.name).read())
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, expr):
        """The result vector of an instant query."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr):
        """The single value of an instant query, or None when it returns nothing."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def stop(self):
        stop_process(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def prometheus_factory():
    started = []

    def start(*args, **kwargs):
        p = Prometheus(*args, **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
