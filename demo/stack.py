"""The whole memtide story on loopback: the leaky web app (and, optionally, a
healthy twin) under load, memtide_exporter, Prometheus with the time-scaled
rules, Alertmanager, and a webhook receiver that collects every notification.

Used by demo/run-demo.py and tests/integration/test_end_to_end.py, so that the
demo a person runs and the test CI runs are the same stack. Python 3 standard
library only. Every process runs in its own process group and is stopped with
bounded waits; every wait for readiness is a bounded poll.
"""
import dataclasses
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RULES = os.path.join(ROOT, "alerts", "memtide-demo.rules.yml")
ALERTMANAGER_EXAMPLE = os.path.join(ROOT, "alerts", "alertmanager.example.yml")
LEAKY, HEALTHY = "leaky_webapp", "healthy_webapp"
# The job the rules select (alerts/config.libsonnet, selector).
JOB = "memtide"
# The demo rules are production rules with every window divided by this.
TIME_SCALE = 60
EXPORTER_LISTENING = re.compile(r'msg=listening address=(\S+)|"msg":"listening","address":"([^"]+)"')
APP_LISTENING = re.compile(r"listening port=(\d+)")


@dataclasses.dataclass
class Options:
    """What the stack runs. The defaults are the demo's, tuned by running it:
    with them, MemtideHeapLeakSuspected arrives about 6.5 minutes after the
    apps start (the rules need 6 minutes of growth, then their `for`) and
    MemtideStaleSessions about a minute later (sessions older than 8 x TTL,
    then two minutes of their growth); MemtideMemoryLeakSuspected,
    for a group without a day of history, after about 16 minutes."""
    build: str = os.path.join(ROOT, "build")
    # Users arriving per second (loadgen --rate), and the share who leave
    # without logging out: only their sessions expire, so only they can be
    # forgotten. Half of them walking away makes the mean session lifetime
    # climb by 0.25 s every second with leak_fraction 0.5, past six times the
    # TTL within about 12 minutes.
    rate: float = 10.0
    walk_away: float = 0.5
    # The bug: the share of expired sessions the sweeper forgets, each keeping
    # session_bytes. 10 users/s x 0.5 x 0.5 x 64 KiB = 160 KiB/s, 19 MiB per
    # 2-minute window: far above the heap rule's bound (0.5% of the heap's own
    # level per "hour") and the memory rules' (0.25% of the limit).
    leak_fraction: float = 0.5
    session_bytes: int = 65536
    # 30 s: production's 30-minute TTL, time-scaled like the rules.
    session_ttl: float = 30.0
    # The memory limit the exporter sees for the apps, as if they ran in a
    # container of this size: the rules' thresholds are fractions of the limit,
    # so a leak of a few hundred KiB/s crosses them instead of gigabytes. With
    # 256 MiB the bound (10 MiB per 2 minutes) is half the leak and well above
    # the healthy app's warm-up (measured: 12, then 6, then 2 MiB per segment).
    limit_mib: int = 256
    # Also run the same app without the bug, under the same load.
    healthy: bool = False
    # The process names, hence the groups (the exporter groups by comm; 15
    # characters at most). Any name but leaky_webapp is a symlink to the app.
    leaky_name: str = LEAKY
    healthy_name: str = HEALTHY
    mode: str = "steady"
    scrape_interval: str = "5s"  # the demo rules are evaluated every 5s too
    log: object = None  # callable(str) for progress and alerts; None is quiet


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(predicate, timeout, what, interval=0.2):
    """Calls predicate until it returns a true value; raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def http_ok(url):
    try:
        return http_get(url, timeout=2)[0] == 200
    except OSError:
        return False


def go_seconds(text):
    """Seconds of a Go duration made of h, m and s parts ("1h30m", "10s")."""
    parts = re.findall(r"(\d+)([hms])", text)
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


class Process:
    """A child in its own process group, its output in a log file."""

    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.log_path = os.path.join(logdir, name + ".log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)

    def log_text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                               + self.log_text()[-3000:])

    def wait_log(self, pattern, timeout):
        """The first match of pattern in the log, waiting for it."""
        def found():
            self.check_alive()
            return pattern.search(self.log_text())
        return poll(found, timeout, f"{self.name} to start")

    def stop(self, timeout=10):
        """SIGTERM to the group, SIGKILL after timeout."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


class Receiver:
    """The webhook Alertmanager notifies: records every alert, and reports it."""

    def __init__(self, log=None, t0=None):
        self.alerts = []  # dicts: received (epoch), receiver, status, labels, annotations, repeat
        self.lock = threading.Lock()
        self.log = log
        self.t0 = t0 or time.time()
        handler = self._handler()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.end_headers()
                receiver.record(self.path.strip("/"), json.loads(body or b"{}"))

            def log_message(self, *args):  # the alerts are the output, not the requests
                pass
        return Handler

    def record(self, route, payload):
        now = time.time()
        for a in payload.get("alerts", []):
            alert = {"received": now, "receiver": route, "status": a.get("status"),
                     "labels": a.get("labels", {}), "annotations": a.get("annotations", {}),
                     "starts": a.get("startsAt")}
            with self.lock:
                # Alertmanager repeats a firing alert every repeat_interval (4
                # minutes here): the same alert, said again.
                alert["repeat"] = any(self._same(alert, b) for b in self.alerts)
                self.alerts.append(alert)
            if self.log:
                self.log(self.describe(alert))

    @staticmethod
    def _same(a, b):
        return (a["status"], a["labels"], a["starts"]) == (b["status"], b["labels"], b["starts"])

    def describe(self, a):
        t = a["received"]
        since = int(t - self.t0)
        lab = a["labels"]
        status = a["status"].upper() + (" again" if a["repeat"] else "")
        return (f"{time.strftime('%H:%M:%S', time.localtime(t))} (+{since // 60}m{since % 60:02d}s) "
                f"{status:14} {lab.get('alertname', '?')} group={lab.get('group', '-')} "
                f"severity={lab.get('severity', '-')} via {a['receiver']}: "
                f"{a['annotations'].get('summary', '')}")

    def received(self, status="firing"):
        with self.lock:
            return [a for a in self.alerts if a["status"] == status]

    def first(self, alertname, group):
        """Epoch time the first firing notification of alertname for group arrived."""
        times = [a["received"] for a in self.received()
                 if a["labels"].get("alertname") == alertname and a["labels"].get("group") == group]
        return min(times) if times else None

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def alertmanager_config(example_text, webhook_url):
    """The example Alertmanager configuration, made to run on one machine:

    - its route tree and inhibit rules unchanged (they are what is shown);
    - every receiver (email ones included) replaced by a webhook to
      webhook_url/<receiver name>, so the receiver prints which route matched;
    - the global SMTP settings dropped (no receiver sends mail any more);
    - its timers divided by TIME_SCALE, like the rules (group_wait 30s -> 1s).
    """
    head, sep, tail = example_text.partition("\nreceivers:")
    if not sep:
        raise ValueError("no receivers: section in the Alertmanager example")
    names = re.findall(r"^\s*-\s*name:\s*['\"]?([\w.-]+)", tail, re.M)
    head = "\n".join(line for line in head.splitlines() if not line.strip().startswith("smtp_"))

    def scale(m):
        return f"{m.group(1)}{max(1, round(go_seconds(m.group(2)) / TIME_SCALE))}s"
    head = re.sub(r"^(\s*(?:group_wait|group_interval|repeat_interval|resolve_timeout):\s*)(\w+)",
                  scale, head, flags=re.M)
    receivers = ["receivers:"]
    for name in names:
        receivers += [f"  - name: {name}", "    webhook_configs:",
                      f"      - url: '{webhook_url}/{name}'", "        send_resolved: true"]
    return head + "\n" + "\n".join(receivers) + "\n"


def exporter_config(stack):
    """Groups for the apps (with PSS), a TCP pool on the leaky app's port and a
    session-file directory, so every collector and dashboard panel has data."""
    lines = ["process:", "  pss_max_age: 5s", "  groups:"]
    for app in stack.apps:
        lines += [f"    - name: {app}", f"      comm: \"{app}\"", "      pss: true"]
    lines += ["sessions:", "  dirs:", "    - pool: files", f"      path: {stack.sessdir}",
              "      match: \"sess_*\"", "      ttl: 24m",
              "  tcp:", "    pool: web", f"    ports: [{stack.ports[stack.leaky]}]"]
    return "\n".join(lines) + "\n"


def prometheus_config(stack):
    interval = stack.options.scrape_interval
    return "\n".join([
        "global:", f"  scrape_interval: {interval}", f"  scrape_timeout: {interval}",
        f"  evaluation_interval: {interval}",
        "rule_files:", f"  - {RULES}",
        "alerting:", "  alertmanagers:", "    - static_configs:",
        f"        - targets: ['127.0.0.1:{stack.ports['alertmanager']}']",
        "scrape_configs:", f"  - job_name: {JOB}", "    static_configs:",
        f"      - targets: ['{stack.exporter_address}']", ""])


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Stack:
    """Start with start(), stop with stop() (safe after a partial start)."""

    def __init__(self, options=None):
        self.options = options or Options()
        self.dir = tempfile.mkdtemp(prefix="memtide-demo-")
        # The agents' segments: tmpfs when there is one (docs/agent.md).
        self.agent_dir = tempfile.mkdtemp(prefix="memtide-agent-",
                                          dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self.sessdir = os.path.join(self.dir, "sessions")
        o = self.options
        self.leaky, self.healthy = o.leaky_name, (o.healthy_name if o.healthy else None)
        self.apps = [self.leaky] + ([self.healthy] if self.healthy else [])
        self.procs = []
        self.ports = {}
        self.receiver = None
        self.t0 = None  # when the apps started: alert delays are counted from here
        self.started = False

    def say(self, text):
        if self.options.log:
            self.options.log(text)

    # --- starting ------------------------------------------------------------

    def start(self):
        self.t0 = time.time()
        self.receiver = Receiver(self.options.log, self.t0)
        self._start_alertmanager()
        for app in self.apps:
            self._start_app(app)
        self._make_session_files()
        self._make_sysfs()
        self._start_exporter()
        self._start_prometheus()
        self.started = True
        return self

    def _spawn(self, name, argv, env=None):
        p = Process(name, argv, self.dir, env)
        self.procs.append(p)
        return p

    def _start_alertmanager(self):
        with open(ALERTMANAGER_EXAMPLE, encoding="utf-8") as f:
            config = alertmanager_config(f.read(), self.receiver.url)
        path = os.path.join(self.dir, "alertmanager.yml")
        write(path, config)
        port = self.ports["alertmanager"] = free_port()
        p = self._spawn("alertmanager", [
            "prometheus-alertmanager", f"--config.file={path}",
            f"--storage.path={self.dir}/alertmanager-data",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address="])  # one instance: no gossip port
        self._wait_ready(p, f"http://127.0.0.1:{port}/-/ready")

    def _app_binary(self, app):
        """The app under the given name: comm is the name it is executed by."""
        real = os.path.join(self.options.build, LEAKY)
        if app == os.path.basename(real):
            return real
        link = os.path.join(self.dir, app)
        os.symlink(os.path.abspath(real), link)
        return link

    def _start_app(self, app):
        o = self.options
        leak = o.leak_fraction if app == self.leaky else 0.0
        env = dict(os.environ, MEMTIDE_DIR=self.agent_dir)
        p = self._spawn(app, [self._app_binary(app), "--port=0", f"--session-ttl={o.session_ttl}",
                              f"--leak-fraction={leak}", f"--session-bytes={o.session_bytes}"], env)
        port = self.ports[app] = int(p.wait_log(APP_LISTENING, 20).group(1))
        self._spawn(app + "-loadgen", self._loadgen_argv(port))

    def _loadgen_argv(self, port):
        o = self.options
        argv = [os.path.join(o.build, "loadgen"), f"--target=http://127.0.0.1:{port}",
                f"--mode={o.mode}", "--duration=0", f"--walk-away={o.walk_away}"]
        if o.mode == "daily":
            # One compressed day every 10 minutes, from the rate at night to
            # twice it at noon: the night never slows the leak below what the
            # steady mode makes, so the same alerts fire, now through a cycle.
            return argv + ["--period=600", f"--min-rate={o.rate}", f"--max-rate={o.rate * 2}"]
        return argv + [f"--rate={o.rate}"]

    def _make_session_files(self):
        """A few PHP-style session files of different ages, for the sessdir collector."""
        os.makedirs(self.sessdir)
        now = time.time()
        for i, age in enumerate((30, 90, 400, 1000, 2000)):
            path = os.path.join(self.sessdir, f"sess_demo{i}")
            write(path, "user|s:4:\"demo\";" * (i + 1))
            os.utime(path, (now - age, now - age))

    def _make_sysfs(self):
        """A sysfs view in which the apps' cgroup has a memory limit of limit_mib.

        Nothing enforces it: only the exporter reads it (--path.sysfs), as if
        the apps ran in a container of that size. The file goes at the cgroup
        v2 path of this process (the apps inherit it) and at the root.
        """
        cgroot = os.path.join(self.dir, "sys", "fs", "cgroup")
        write(os.path.join(cgroot, "cgroup.controllers"), "memory\n")
        path = "/"
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            for line in f:
                if line.startswith("0::"):
                    path = line[3:].strip() or "/"
        limit = f"{self.options.limit_mib * 1024 * 1024}\n"
        for d in {cgroot, os.path.normpath(os.path.join(cgroot, path.lstrip("/")))}:
            write(os.path.join(d, "memory.max"), limit)

    def _start_exporter(self):
        config = os.path.join(self.dir, "memtide.yml")
        write(config, exporter_config(self))
        p = self._spawn("exporter", [
            os.path.join(self.options.build, "memtide_exporter"),
            "--web.listen-address=127.0.0.1:0", f"--config.file={config}",
            f"--collector.agent.dir={self.agent_dir}", f"--path.sysfs={self.dir}/sys"])
        m = p.wait_log(EXPORTER_LISTENING, 20)
        self.exporter_address = m.group(1) or m.group(2)

    def _start_prometheus(self):
        self.ports["prometheus"] = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        write(config, prometheus_config(self))
        p = self._spawn("prometheus", [
            "prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.dir}/prometheus-data",
            f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}"])
        self._wait_ready(p, self.prometheus_url + "/-/ready", timeout=60)

    def _wait_ready(self, proc, url, timeout=30):
        def ready():
            proc.check_alive()
            return http_ok(url)
        poll(ready, timeout, f"{proc.name} to be ready")

    # --- using it ------------------------------------------------------------

    @property
    def prometheus_url(self):
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    @property
    def alertmanager_url(self):
        return f"http://127.0.0.1:{self.ports['alertmanager']}"

    @property
    def exporter_url(self):
        return f"http://{self.exporter_address}"

    def app_url(self, app=None):
        return f"http://127.0.0.1:{self.ports[app or self.leaky]}"

    def query(self, expr):
        """The result vector of an instant query."""
        url = self.prometheus_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = json.loads(http_get(url, timeout=30)[1])
        if body.get("status") != "success":
            raise RuntimeError(f"query failed: {expr}: {body}")
        return body["data"]["result"]

    def check_alive(self):
        for p in self.procs:
            p.check_alive()

    def wait_scraped(self, timeout=60):
        """Until Prometheus holds every app's memory and sessions."""
        def scraped():
            self.check_alive()
            got = {s["metric"].get("group") for s in self.query(
                f'memtide_sessions_live{{job="{JOB}",source="agent"}}')}
            return set(self.apps) <= got
        poll(scraped, timeout, "the apps' sessions in Prometheus", interval=1)

    # --- stopping ------------------------------------------------------------

    def stop(self):
        """Stops everything it started, load first, in reverse order; removes its files."""
        for p in sorted(reversed(self.procs), key=lambda p: not p.name.endswith("loadgen")):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                self.say(f"stopping {p.name}: {e}")
        if self.receiver:
            self.receiver.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.agent_dir, ignore_errors=True)
