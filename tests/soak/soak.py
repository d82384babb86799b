#!/usr/bin/python3
"""The soak test: memtide_exporter under sustained scrapes and process churn.

What it proves, against the built exporter on a loopback port:

- Scrapes keep working: N scrapes (100,000 for `make soak`) from 4 concurrent
  scrapers on keep-alive connections, in every format (text, OpenMetrics, each
  plain and gzip), all answered 200 with a complete body in which every
  collector reports success 1 by the scrape timeout the scraper announces
  (X-Prometheus-Scrape-Timeout-Seconds): the exporter's own deadline judges
  that, not a clock in this harness.
- Churn does not break them: meanwhile 200 processes a second start, live
  20 to 400 ms and exit (a quarter preloaded with libmemtide, a few SIGKILLed
  so that their segments lose their writer), under process groups that read
  PSS on every scrape, so collectors keep meeting processes that vanish
  mid-read. The churn is paced by the clock and its children are reaped as
  they exit. The rate is a target, reported, never a verdict: a busy machine
  starts fewer processes, so the last phase goes on (bounded by
  --churn-wait) until at least --min-churn processes have started; if even
  that falls short, the checks that need churn are skipped, visibly.
- Nothing leaks: the exporter is read at rest (no connection open, thread
  count settled) after the warm-up and at --checkpoints points after it. From
  the warm-up to the end its RSS does not keep growing (the median step
  between readings, times the steps, stays under 256 KiB: a buffer reaching
  a high-water mark is one step, a leak is every step) and its open fds and
  threads do not grow at all. With --exporter-agent the exporter itself runs
  with libmemtide preloaded and its exact live heap is read too; with
  --leak-check live-heap (what `make soak-short` uses: too short for the
  allocator's retention to settle) the live heap, not RSS, must not keep
  growing, by the same measure, by 64 KiB.
- Idle and slow clients cannot block it: idle connections (nothing sent) and
  stalled ones (half a request, then nothing) are held open throughout, and
  reopened whenever the exporter closes them, which must happen after the
  connection timeout (--web.connection-timeout), never before it. Trickling
  connections (one header byte a second) are held too and reported; every
  scrape above runs beside all of them.

Run it with `make soak` (figures in build/soak-report.md) or `make soak-short`
(the short version that `make test` runs), or directly:

    tests/soak/soak.py --build build --scrapes 3000 --report build/soak.md

It starts and stops everything it needs (the exporter, the churn, the
clients) and is bounded by a global deadline. Exit status 0 when every check
passes; otherwise 1, with every failure listed. No check depends on how fast
this machine or this harness is: rates and latencies are reported, and the
verdict judges what the exporter did with the load it was actually given.
"""
import argparse
import gzip
import http.client
import json
import os
import random
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SCRAPE_PATH = "/metrics"
OPENMETRICS_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
                      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
# What each scraper asks for, round-robin: every code path of the writer.
FORMATS = (
    ("text", {}),
    ("openmetrics", {"Accept": OPENMETRICS_ACCEPT}),
    ("text+gzip", {"Accept-Encoding": "gzip"}),
    ("openmetrics+gzip", {"Accept": OPENMETRICS_ACCEPT, "Accept-Encoding": "gzip"}),
)
COLLECTORS = {"process", "system", "sessdir", "tcp", "self", "agent"}
SUCCESS_LINE = re.compile(rb'^memtide_scrape_collector_success\{collector="([^"]+)"\} (\S+)$',
                          re.M)
SCRAPE_ERROR_LINE = re.compile(
    rb'^memtide_scrape_errors_total\{collector="([^"]+)",reason="([^"]+)"\} (\S+)$', re.M)
LOG_LEVEL = re.compile(r"\blevel=(\w+)")
CHURN_COMMS = 16          # distinct churn process names: groups come and go
SESSION_FILES = 20
RSS_GROWTH_LIMIT_KIB = 256
# The live heap is an exact count, free of the allocator's retention: a much
# tighter bound. Buffers that grow with the largest process count seen reach
# their high-water mark in one step, which continuing_growth() sets aside.
LIVE_HEAP_GROWTH_LIMIT_KIB = 64
MAX_FAILURES_KEPT = 50
TCP_LISTEN = "0A"
TCP_TIME_WAIT = "06"


def monotonic():
    return time.monotonic()


class Failures:
    """Thread-safe list of what went wrong; the soak stops early past a limit."""

    def __init__(self, stop, limit):
        self.lock = threading.Lock()
        self.items = []
        self.count = 0
        self.stop = stop
        self.limit = limit

    def add(self, message):
        with self.lock:
            self.count += 1
            if len(self.items) < MAX_FAILURES_KEPT:
                self.items.append(message)
            if self.count >= self.limit:
                self.stop.set()

    def __bool__(self):
        return self.count > 0


# --- the exporter ---------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp, port):
    """Soak children in their own groups with PSS read on every scrape; the
    session collectors get a directory and the exporter's own port to count."""
    sessions = os.path.join(tmp, "sessions")
    os.mkdir(sessions)
    for i in range(SESSION_FILES):
        with open(os.path.join(sessions, f"sess_{i:04d}"), "w") as f:
            f.write("x" * i)
    path = os.path.join(tmp, "memtide.yml")
    with open(path, "w") as f:
        f.write(f"""process:
  pss_max_age: 0
  groups:
    - name: "soak:{{comm}}"
      comm: "soak-c*"
      pss: true
    - name: "{{comm}}"
sessions:
  dirs:
    - pool: soak
      path: {sessions}
      match: "sess_*"
      ttl: 24m
  tcp:
    pool: soak
    ports: [{port}]
""")
    return path


class Exporter:
    """The exporter under test, its log, and what /proc says about it."""

    def __init__(self, paths, tmp, agent_dir, args):
        self.port = free_port()
        self.log_path = os.path.join(tmp, "exporter.log")
        self.log = open(self.log_path, "wb")
        self.dump = paths["dump"]
        self.self_dir = None
        cmd = [paths["exporter"], f"--web.listen-address=127.0.0.1:{self.port}",
               f"--web.connection-timeout={args.connection_timeout}",
               f"--collector.agent.dir={agent_dir}",
               f"--config.file={write_config(tmp, self.port)}"]
        env = dict(os.environ)
        if args.exporter_agent:
            # Its own directory: the exporter must not report itself among the churn.
            self.self_dir = os.path.join(tmp, "exporter-agent")
            os.mkdir(self.self_dir)
            # No sampling in the exporter's own agent: its live heap is the
            # exporter's, without the sampler's exchanged blocks.
            env.update(LD_PRELOAD=paths["agent"], MEMTIDE_DIR=self.self_dir,
                       MEMTIDE_SAMPLE_BYTES="0")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log, env=env, start_new_session=True)
        self.pid = self.proc.pid

    def live_heap_kib(self):
        """The exporter's live heap as libmemtide counts it, or None without
        --exporter-agent: what RSS would be without the allocator's retention."""
        if not self.self_dir:
            return None
        out = subprocess.run([self.dump, os.path.join(self.self_dir, f"memtide.{self.pid}")],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return int(fields["live_bytes"]) // 1024

    def alive(self):
        return self.proc.poll() is None

    def ensure_alive(self):
        if not self.alive():
            raise SoakError(f"the exporter exited with {self.proc.returncode}")

    def wait_healthy(self, timeout):
        """Polls /-/healthy until it answers 200."""
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            if not self.alive():
                raise SoakError(f"exporter exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.get("/-/healthy", timeout=1.0)[0] == 200:
                return
            time.sleep(0.05)
        raise SoakError(f"exporter not healthy after {timeout} s:\n{self.log_tail()}")

    def get(self, path, headers=None, timeout=15.0):
        """One request on a fresh connection: (status, headers, body), or (None, ...)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        except (OSError, http.client.HTTPException):
            return None, None, b""
        finally:
            conn.close()

    def status_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise SoakError(f"no {field} in /proc/{self.pid}/status")

    def threads(self):
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_connections(self):
        """Connections on the exporter's port that still hold a socket (an fd):
        every state but LISTEN and TIME_WAIT, with an inode."""
        local = f":{self.port:04X}"
        count = 0
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if (fields[1].endswith(local) and fields[3] not in (TCP_LISTEN, TCP_TIME_WAIT)
                        and fields[9] != "0"):
                    count += 1
        return count

    def log_text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def log_tail(self, lines=20):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self):
        """SIGTERM, SIGKILL if it does not stop in 10 s; the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class SoakError(Exception):
    """A failure that ends the soak at once (the exporter is gone or stuck)."""


def at_rest(exporter, timeout):
    """Waits until no client connection is open and the thread count holds
    still, then reads RSS, fds and threads: the exporter with nothing to do."""
    deadline = monotonic() + timeout
    exporter.ensure_alive()
    while exporter.open_connections():
        if monotonic() > deadline:
            raise SoakError(f"connections still open {timeout} s after every client closed")
        time.sleep(0.02)
    stable, last = 0, exporter.threads()
    while stable < 10:
        if monotonic() > deadline:
            raise SoakError("the exporter's thread count did not settle")
        time.sleep(0.05)
        now = exporter.threads()
        stable, last = (stable + 1, now) if now == last else (0, now)
    exporter.ensure_alive()
    return {"rss_kib": exporter.status_kib("VmRSS"), "fds": exporter.fds(), "threads": last,
            "live_heap_kib": exporter.live_heap_kib()}


# --- the churn --------------------------------------------------------------

class Churn(threading.Thread):
    """Starts processes at a steady rate, each living a short random time;
    reaps them as they exit, kills the few that are meant to be killed."""

    def __init__(self, args, child, agent_lib, agent_dir, tmp, failures):
        super().__init__(name="churn", daemon=True)
        self.rate = args.churn_per_second
        self.preload_share = args.preload_share
        self.kill_share = args.kill_share
        self.rng = random.Random(args.seed)
        self.failures = failures
        self.stop_event = threading.Event()
        self.paths = self._comm_links(child, tmp)
        self.plain_env = {"PATH": "/usr/bin:/bin"}
        # Without sampling: the sites of short-lived processes would fill the
        # exporter's bounded symbol cache (open ELF files, libdw's tables)
        # after the warm-up, which is the cache reaching its bound, not a leak.
        self.preload_env = dict(self.plain_env, LD_PRELOAD=agent_lib, MEMTIDE_DIR=agent_dir,
                                MEMTIDE_SAMPLE_BYTES="0")
        self.live = {}          # pid -> monotonic time to SIGKILL it, or None
        self.sent_kill = set()  # pids SIGKILLed, not yet reaped
        self.started = self.preloaded = self.killed = self.exited = 0
        self.late_resets = 0
        self.max_live = self.max_zombies = 0
        self.began = self.ended = None

    @staticmethod
    def _comm_links(child, tmp):
        """Symlinks to the child under several names: each name is a comm."""
        links = []
        for i in range(CHURN_COMMS):
            path = os.path.join(tmp, f"soak-c{i:02d}")
            os.symlink(child, path)
            links.append(path)
        return links

    def run(self):
        self.began = monotonic()
        try:
            self._paced_loop()
        except Exception as e:  # whatever it is, it must end up in the verdict
            self.failures.add(f"churn: {e!r}")
        finally:
            self.ended = monotonic()
            self._kill_all()

    def _paced_loop(self):
        period = 1.0 / self.rate
        next_start = monotonic()
        next_sample = next_start + 1.0
        while not self.stop_event.is_set():
            now = monotonic()
            if now >= next_start:
                self._spawn()
                next_start += period
                if monotonic() - next_start > 0.1:
                    next_start = monotonic()  # fell behind: resume the pace, no burst
                    self.late_resets += 1
                continue
            self._reap()
            self._kill_due(now)
            if now >= next_sample:
                self.max_zombies = max(self.max_zombies, self._zombies())
                next_sample = now + 1.0
            self.stop_event.wait(max(0.0, next_start - monotonic()))

    def _spawn(self):
        rng = self.rng
        preload = rng.random() < self.preload_share
        kill = rng.random() < self.kill_share
        lifetime_ms = rng.randint(20, 400)
        argv = [rng.choice(self.paths), "0" if kill else str(lifetime_ms),
                str(rng.randint(10, 600)), str(rng.choice((0, 0, 0, 1, 2)))]
        pid = os.posix_spawn(argv[0], argv, self.preload_env if preload else self.plain_env)
        self.live[pid] = monotonic() + lifetime_ms / 1000 if kill else None
        self.started += 1
        self.preloaded += preload
        self.max_live = max(self.max_live, len(self.live))

    def _reap(self):
        for pid in list(self.live):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._reaped(pid, status)

    def _reaped(self, pid, status):
        del self.live[pid]
        if pid in self.sent_kill:
            self.sent_kill.discard(pid)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                return
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self.exited += 1
            return
        self.failures.add(f"churn child {pid} ended with status {status:#x}")

    def _kill_due(self, now):
        for pid, kill_at in self.live.items():
            if kill_at is not None and now >= kill_at and pid not in self.sent_kill:
                os.kill(pid, signal.SIGKILL)
                self.sent_kill.add(pid)
                self.killed += 1

    def _zombies(self):
        count = 0
        for pid in self.live:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    count += f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                pass
        return count

    def _kill_all(self):
        """Every child still running is killed and reaped: nothing outlives the soak."""
        for pid in self.live:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(self.live):
            os.waitpid(pid, 0)
            self.live.pop(pid)

    def stop(self):
        self.stop_event.set()
        self.join(timeout=30)
        if self.is_alive():
            raise SoakError("the churn thread did not stop")

    def figures(self):
        seconds = (self.ended or monotonic()) - self.began
        return {"started": self.started, "seconds": round(seconds, 1),
                "rate": round(self.started / seconds, 1) if seconds else 0.0,
                "preloaded": self.preloaded, "killed": self.killed, "exited": self.exited,
                "max_live": self.max_live, "max_zombies": self.max_zombies,
                "pace_resets": self.late_resets}


# --- idle, stalled and trickling connections --------------------------------

class Held:
    def __init__(self, kind, sock, opened):
        self.kind = kind
        self.sock = sock
        self.opened = self.last_sent = opened
        self.answer = b""


class Holders(threading.Thread):
    """Keeps idle, stalled and trickling connections open on the exporter.

    idle: connects and sends nothing. stalled: sends half a request, then
    nothing. trickle: sends one header byte a second, forever. The first two
    must be closed by the exporter after its connection timeout; each is
    reopened at once, so the exporter always has them."""

    STALLED_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: soak\r\nX-Stalled: "
    TRICKLE_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: soak\r\nX-Trickle: "
    TRICKLE_PERIOD = 1.0

    def __init__(self, port, counts, timeout, failures, soak_stop):
        super().__init__(name="holders", daemon=True)
        self.port = port
        self.counts = counts
        self.timeout = timeout
        self.failures = failures
        self.soak_stop = soak_stop
        self.done = threading.Event()
        self.ready = threading.Event()
        self.sel = selectors.DefaultSelector()
        self.closed_after = {"idle": [], "stalled": [], "trickle": []}
        self.trickle_held = []

    def run(self):
        try:
            for kind, n in self.counts.items():
                for _ in range(n):
                    self._open(kind)
            self.ready.set()
            while not self.stopping():
                self._trickle()
                for key, _ in self.sel.select(timeout=0.1):
                    self._readable(key.data)
        except Exception as e:  # whatever it is, it must end up in the verdict
            self.failures.add(f"holders: {e!r}")
        finally:
            self.ready.set()
            self._close_all()

    def _open(self, kind):
        # Taken before the connection exists: however late this thread runs,
        # a close can then only look later than it was, never early.
        opened = monotonic()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if kind == "stalled":
            sock.sendall(self.STALLED_REQUEST)
        elif kind == "trickle":
            sock.sendall(self.TRICKLE_REQUEST)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, Held(kind, sock, opened))

    def _trickle(self):
        now = monotonic()
        for key in list(self.sel.get_map().values()):
            held = key.data
            if held.kind == "trickle" and now - held.last_sent >= self.TRICKLE_PERIOD:
                try:
                    held.last_sent = monotonic()
                    held.sock.send(b"a")
                except OSError:
                    self._closed(held)

    def _readable(self, held):
        try:
            data = held.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            held.answer += data[:200]
            return
        self._closed(held)

    def _closed(self, held):
        """The exporter closed it: check when, and open another in its place."""
        after = monotonic() - held.last_sent
        self.sel.unregister(held.sock)
        held.sock.close()
        self.closed_after[held.kind].append(after)
        # Only an early close is the exporter's fault: a late one may be this
        # thread noticing late on a busy machine. The lateness is reported.
        if held.kind != "trickle" and after < self.timeout - 0.25:
            self.failures.add(f"{held.kind} connection closed {after:.2f} s after its last "
                              f"byte, before the connection timeout of {self.timeout} s")
        if not self.stopping():
            self._open(held.kind)

    def stopping(self):
        return self.done.is_set() or self.soak_stop.is_set()

    def stop(self):
        self.done.set()
        self.join(timeout=10)
        if self.is_alive():
            raise SoakError("the connection holders did not stop")

    def _close_all(self):
        now = monotonic()
        for key in list(self.sel.get_map().values()):
            if key.data.kind == "trickle":
                self.trickle_held.append(now - key.data.opened)
            self.sel.unregister(key.fileobj)
            key.fileobj.close()
        self.sel.close()


# --- the scrapers -------------------------------------------------------------

class Budget:
    """The scrapes of a phase, shared by its scrapers: a count, and optionally
    a minimum duration during which they go on past it, and a condition
    (wanted) for which they go on past both, for at most extra_seconds after
    the count is spent."""

    def __init__(self, total, min_seconds=0.0, wanted=None, extra_seconds=0.0):
        self.lock = threading.Lock()
        self.total = total
        self.claimed = 0
        self.until = monotonic() + min_seconds
        self.wanted = wanted
        self.extra_seconds = extra_seconds
        self.extra_until = None

    def claim(self):
        with self.lock:
            if self.claimed >= self.total and monotonic() >= self.until \
                    and not self._extended():
                return False
            self.claimed += 1
            return True

    def _extended(self):
        if self.wanted is None or not self.wanted():
            return False
        if self.extra_until is None:
            self.extra_until = monotonic() + self.extra_seconds
        return monotonic() < self.extra_until


class ScrapeStats:
    """What one scraper saw."""

    def __init__(self):
        self.latencies = []
        self.connections = 0
        self.closed_by_exporter = 0  # answers with "Connection: close"
        self.soak_groups_seen = 0
        self.soak_agents_seen = 0
        self.last_body = b""


def check_scrape(fmt, resp, body):
    """The decoded body, or raises ValueError saying what is wrong with it."""
    if resp.status != 200:
        raise ValueError(f"status {resp.status}: {body[:200]!r}")
    if "gzip" in fmt:
        if resp.getheader("Content-Encoding") != "gzip":
            raise ValueError("gzip asked for, not given")
        body = gzip.decompress(body)
    openmetrics = fmt.startswith("openmetrics")
    ctype = resp.getheader("Content-Type", "")
    if not ctype.startswith("application/openmetrics-text" if openmetrics else "text/plain"):
        raise ValueError(f"content type {ctype!r} for {fmt}")
    if not body.endswith(b"# EOF\n" if openmetrics else b"\n"):
        raise ValueError(f"body cut short: ends with {body[-80:]!r}")
    success = dict(SUCCESS_LINE.findall(body))
    missing = COLLECTORS - {k.decode() for k in success}
    failed = sorted(k.decode() for k, v in success.items() if v != b"1")
    if missing or failed:
        raise ValueError(f"collectors missing {sorted(missing)}, failed {failed}")
    return body


def scrape_loop(index, exporter, budget, args, stats, failures, stop, deadline):
    """Scrapes until the budget is spent, on keep-alive connections: each
    serves --requests-per-connection scrapes, as a scraper that reconnects now
    and then does, unless the exporter closes it or a scrape fails first."""
    fmt, headers = FORMATS[index % len(FORMATS)]
    headers = dict(headers, **{"X-Prometheus-Scrape-Timeout-Seconds": str(args.scrape_timeout)})
    conn, served = None, 0
    while not stop.is_set() and budget.claim():
        if monotonic() > deadline:
            failures.add("global deadline reached before the last scrape")
            break
        if conn is None or served >= args.requests_per_connection:
            if conn is not None:
                conn.close()
            conn, served = http.client.HTTPConnection("127.0.0.1", exporter.port,
                                                      timeout=args.scrape_timeout + 5), 0
            stats.connections += 1
        conn = scrape_once(conn, index, fmt, headers, args, stats, failures)
        served += 1
    if conn is not None:
        conn.close()


def scrape_once(conn, index, fmt, headers, args, stats, failures):
    """One scrape, checked; the connection to use next (None for a new one)."""
    start = monotonic()
    try:
        conn.request("GET", SCRAPE_PATH, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        latency = monotonic() - start
        body = check_scrape(fmt, resp, raw)
    except (OSError, http.client.HTTPException, ValueError) as e:
        failures.add(f"scraper {index} ({fmt}): {e!r} after {monotonic() - start:.3f} s")
        conn.close()
        return None
    # The latency is a figure: whether the exporter kept to the announced
    # timeout is judged by check_scrape from its own success flags, which a
    # slow harness cannot change. The connection's timeout bounds a hang.
    stats.latencies.append(latency)
    stats.soak_groups_seen += b'memtide_group_processes{group="soak:' in body
    stats.soak_agents_seen += b'memtide_agent_processes{group="soak:' in body
    stats.last_body = body
    if resp.will_close:
        stats.closed_by_exporter += 1
        conn.close()
        return None
    return conn


# --- the monitor -------------------------------------------------------------

class Monitor(threading.Thread):
    """Once a second: is the exporter alive, its RSS/threads/fds during the
    soak, and a progress line every ten seconds."""

    def __init__(self, exporter, agent_dir, progress, failures, stop):
        super().__init__(name="monitor", daemon=True)
        self.exporter = exporter
        self.agent_dir = agent_dir
        self.progress = progress
        self.failures = failures
        self.stop_event = stop
        self.samples = []  # (seconds, rss_kib, threads, fds, agent segments)

    def run(self):
        began = monotonic()
        next_line = began + 10
        while not self.stop_event.wait(1.0):
            try:
                self.sample(began)
            except (OSError, SoakError):
                pass  # its /proc entry is gone or a zombie's: alive() says
            if not self.exporter.alive():
                self.failures.add(f"the exporter exited with {self.exporter.proc.returncode}")
                self.stop_event.set()
                return
            if monotonic() >= next_line:
                print(self.progress(), flush=True)
                next_line += 10

    def sample(self, began):
        e = self.exporter
        self.samples.append((monotonic() - began, e.status_kib("VmRSS"), e.threads(), e.fds(),
                             len(os.listdir(self.agent_dir))))


# --- the phases ----------------------------------------------------------------

def run_phase(exporter, budget, args, failures, stop, deadline, all_stats):
    """The budget's scrapes from the scrapers beside the held connections; the
    scrapers' stats (also added to all_stats, for progress) and the holders."""
    holders = Holders(exporter.port, {"idle": args.idle, "stalled": args.stalled,
                                      "trickle": args.trickle},
                      args.connection_timeout, failures, stop)
    holders.start()
    holders.ready.wait(timeout=30)
    stats = [ScrapeStats() for _ in range(args.scrapers)]
    all_stats.extend(stats)
    threads = [threading.Thread(target=scrape_loop, name=f"scraper-{i}", daemon=True,
                                args=(i, exporter, budget, args, stats[i], failures, stop,
                                      deadline))
               for i in range(args.scrapers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - monotonic()) + args.scrape_timeout + 10)
        if t.is_alive():
            stop.set()
            raise SoakError(f"{t.name} did not finish by the global deadline")
    holders.stop()
    return stats, holders


# --- checks and figures ----------------------------------------------------------

def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def latency_figures(stats):
    lat = [x for s in stats for x in s.latencies]
    return {"count": len(lat),
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "max_ms": round(max(lat, default=0.0) * 1000, 2),
            "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else 0.0}


def holder_figures(holders_list, timeout):
    out = {}
    for kind in ("idle", "stalled", "trickle"):
        closed = [x for h in holders_list for x in h.closed_after[kind]]
        out[kind] = {"closed": len(closed),
                     "min_s": round(min(closed), 2) if closed else None,
                     "max_s": round(max(closed), 2) if closed else None}
    held = [x for h in holders_list for x in h.trickle_held]
    out["trickle"]["held_max_s"] = round(max(held, default=0.0), 1)
    out["timeout_s"] = timeout
    return out


def scrape_errors(body):
    """memtide_scrape_errors_total from a scrape body: {collector/reason: value}."""
    return {f"{c.decode()}/{r.decode()}": float(v) for c, r, v in SCRAPE_ERROR_LINE.findall(body)}


def log_levels(text):
    levels = {}
    for m in LOG_LEVEL.finditer(text):
        levels[m.group(1)] = levels.get(m.group(1), 0) + 1
    return levels


def check_figures(fig, args, failures):
    """The pass/fail rules on the collected figures."""
    warm, end = fig["rest"][1][1], fig["rest"][-1][1]
    check_growth(fig, args.leak_check, failures)
    for what in ("fds", "threads"):
        if end[what] > warm[what]:
            failures.add(f"{what} grew at rest: {warm[what]} after the warm-up, "
                         f"{end[what]} at the end")
    if fig["latency"]["count"] < args.scrapes:
        failures.add(f"{fig['latency']['count']} good scrapes of {args.scrapes}")
    for kind in ("idle", "stalled"):
        if fig["connections"][kind]["closed"] == 0 and getattr(args, kind):
            failures.add(f"no {kind} connection reached the connection timeout: "
                         "run longer or lower --connection-timeout")
    if enough_churn(fig, args):
        if not fig["soak_groups_seen"]:
            failures.add("no scrape showed a churn process group")
        if args.preload_share > 0 and not fig["soak_agents_seen"]:
            failures.add("no scrape showed a preloaded churn process through its agent")
    if fig["log_levels"].get("error"):
        failures.add(f"the exporter logged {fig['log_levels']['error']} errors")
    if fig["exit_status"] != 0:
        failures.add(f"the exporter exited with {fig['exit_status']} after SIGTERM")


def enough_churn(fig, args):
    """Whether the churn was enough to judge what it is there to test; if not,
    says so in the figures (and so on the console) instead of failing: the
    harness was slow, not the exporter wrong."""
    churn = fig["churn"]
    if churn["started"] >= args.min_churn:
        return True
    fig["skipped"].append(f"SKIP churn checks: only {churn['started']:,} processes started "
                          f"(--min-churn {args.min_churn:,}) in {churn['seconds']} s, "
                          f"--churn-wait {args.churn_wait:.0f} s included: this machine "
                          f"was too busy to test the exporter under churn")
    return False


def churn_verdict(churn, args):
    """The churn rate against its target, as a sentence: a figure, not a check."""
    if churn["rate"] >= 0.9 * args.churn_per_second:
        return f"target {args.churn_per_second:.0f}/s reached"
    return (f"target {args.churn_per_second:.0f}/s not reached: this machine (or its load) "
            f"allowed {churn['rate']}/s")


def continuing_growth(readings):
    """Growth that goes on, projected over the soak after the warm-up: the
    median step between consecutive readings at rest, times the number of
    steps. A leak grows at every checkpoint and is projected in full; a buffer
    that grows once to a high-water mark (the process table doubling when the
    most processes yet are alive at once, which a loaded machine reaches late)
    is one step, and the median ignores it."""
    steps = sorted(b - a for a, b in zip(readings, readings[1:]))
    mid = len(steps) // 2
    median = steps[mid] if len(steps) % 2 else (steps[mid - 1] + steps[mid]) / 2
    return round(median * len(steps))


def check_growth(fig, judge, failures):
    """Memory growth at rest after the warm-up: RSS, and the live heap when
    libmemtide counts it; judge says which one must not keep growing by its
    limit or more."""
    after_warm_up = [r for _, r in fig["rest"][1:]]
    for key, field in (("rss", "rss_kib"), ("live_heap", "live_heap_kib")):
        readings = [r[field] for r in after_warm_up]
        if readings[0] is None:
            continue
        fig[f"{key}_growth_kib"] = readings[-1] - readings[0]
        fig[f"{key}_continuing_kib"] = continuing_growth(readings)
    key, limit = (("rss", RSS_GROWTH_LIMIT_KIB) if judge == "rss"
                  else ("live_heap", LIVE_HEAP_GROWTH_LIMIT_KIB))
    fig["leak_limit_kib"] = limit
    if fig[f"{key}_continuing_kib"] >= limit:
        failures.add(f"{'RSS' if judge == 'rss' else 'live heap'} kept growing after the "
                     f"warm-up: {fig[f'{key}_continuing_kib']} KiB projected from the median "
                     f"step between readings at rest (limit {limit} KiB; "
                     f"{fig[f'{key}_growth_kib']:+d} KiB in all)")


def markdown(fig, args, failures):
    lat, churn, rest, conn = fig["latency"], fig["churn"], fig["rest"], fig["connections"]
    rows = [
        ("scrapes", f"{lat['count']:,} good of {args.scrapes:,} from {args.scrapers} scrapers "
                    f"in {fig['seconds']:.0f} s ({fig['scrape_rate']:.0f}/s)"),
        ("keep-alive", f"{fig['scraper_connections']:,} connections; the exporter closed the "
                       f"connection after {fig['closed_by_exporter']:,} answers "
                       f"(Connection: close)"),
        ("scrape latency", f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, "
                           f"max {lat['max_ms']} ms (timeout {args.scrape_timeout} s)"),
        ("exporter CPU", f"{fig['cpu_ms_per_scrape']:.2f} ms a scrape"),
        ("churn", f"{churn['started']:,} processes in {churn['seconds']} s "
                  f"({churn['rate']}/s of {args.churn_per_second}); "
                  f"{churn['preloaded']:,} preloaded "
                  f"({churn['preloaded'] / max(1, churn['started']):.0%}), "
                  f"{churn['killed']:,} SIGKILLed; at most {churn['max_live']} alive, "
                  f"{churn['max_zombies']} unreaped at a sample; "
                  f"the pace slipped by over 0.1 s {churn['pace_resets']} times; "
                  f"{churn_verdict(churn, args)}"),
        *growth_rows(fig, args.leak_check),
        ("at rest: RSS KiB, fds, threads", "; ".join(
            f"{label}: {r['rss_kib']}, {r['fds']}, {r['threads']}" for label, r in rest)),
        *live_heap_rows(rest),
        ("during the soak", f"RSS {fig['load_rss_kib'][0]}–{fig['load_rss_kib'][1]} KiB, "
                       f"at most {fig['load_threads_max']} threads"),
        ("idle connections", holder_row(conn["idle"], args.idle, conn["timeout_s"])),
        ("stalled connections", holder_row(conn["stalled"], args.stalled, conn["timeout_s"])),
        ("trickling connections", f"{args.trickle} held, one byte a second, "
                                  f"{conn['trickle']['closed']} closed by the exporter, "
                                  f"held up to {conn['trickle']['held_max_s']} s"),
        ("agent segments", f"at most {fig['segments_max']} in the directory, "
                           f"{fig['segments_left']} when the churn stopped"),
        ("scrape errors counted", ", ".join(f"{k} {v:,.0f}" for k, v in
                                           sorted(fig["scrape_errors"].items())) or "none"),
        ("exporter log", ", ".join(f"{k} {v}" for k, v in sorted(fig["log_levels"].items()))),
        *(("skipped", note) for note in fig["skipped"]),
        ("verdict", "pass" if not failures else f"FAIL ({failures.count} failures)"),
    ]
    lines = ["| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def growth_rows(fig, judge):
    limit = f"; limit {fig['leak_limit_kib']} KiB on the part that goes on"
    rows = []
    for key, name, judged in (("rss", "RSS", "rss"), ("live_heap", "live heap", "live-heap")):
        if f"{key}_growth_kib" in fig:
            rows.append((f"{name} growth after the warm-up",
                         f"{fig[f'{key}_growth_kib']:+d} KiB at rest; going on: "
                         f"{fig[f'{key}_continuing_kib']:+d} KiB (the median step "
                         f"between readings, times the steps)"
                         + (limit if judge == judged else "")))
    return rows


def live_heap_rows(rest):
    if rest[0][1]["live_heap_kib"] is None:
        return []
    return [("at rest: live heap KiB (libmemtide in the exporter)",
             "; ".join(f"{label}: {r['live_heap_kib']}" for label, r in rest))]


def holder_row(h, count, timeout):
    if not h["closed"]:
        return f"{count} held, none reached the timeout"
    return (f"{count} held, {h['closed']} closed by the exporter {h['min_s']}–{h['max_s']} s "
            f"after their last byte (timeout {timeout} s)")


# --- main -------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="directory with memtide_exporter, "
                   "libmemtide.so and tests/soak/churn_child (default build)")
    p.add_argument("--scrapes", type=int, default=100000)
    # The allocator's retention (up to 8 arenas a core shared by the connection
    # threads, cached thread stacks) takes a minute or two of this load to
    # settle, while the live heap is flat from the first minute on.
    p.add_argument("--warm-up", type=float, default=0.2,
                   help="share of the scrapes before the memory baseline (default 0.2)")
    p.add_argument("--scrapers", type=int, default=4)
    p.add_argument("--requests-per-connection", type=int, default=500,
                   help="scrapes on one keep-alive connection before a new one (default 500)")
    p.add_argument("--checkpoints", type=int, default=4,
                   help="readings at rest after the warm-up, the last at the end; at "
                        "least 3 (default 4)")
    p.add_argument("--scrape-timeout", type=float, default=10.0,
                   help="seconds, announced to the exporter; a slower scrape fails")
    p.add_argument("--churn-per-second", type=float, default=200.0)
    p.add_argument("--min-churn", type=int, default=1000,
                   help="processes that must have started for the churn checks to count; "
                        "the soak scrapes on until then, for at most --churn-wait seconds, "
                        "and skips those checks (saying so) if the machine is too busy "
                        "(default 1000)")
    p.add_argument("--churn-wait", type=float, default=120.0,
                   help="seconds the last phase may go on past its scrapes to reach "
                        "--min-churn (default 120)")
    p.add_argument("--preload-share", type=float, default=0.25)
    p.add_argument("--kill-share", type=float, default=0.05,
                   help="share of the churn SIGKILLed instead of exiting (default 0.05)")
    p.add_argument("--connection-timeout", type=int, default=3,
                   help="the exporter's --web.connection-timeout, seconds (default 3)")
    p.add_argument("--close-margin", type=float, default=2.0,
                   help="seconds after the connection timeout that the warm-up allows for "
                        "held connections to be closed and reopened (default 2)")
    p.add_argument("--idle", type=int, default=8)
    p.add_argument("--stalled", type=int, default=8)
    p.add_argument("--trickle", type=int, default=8)
    p.add_argument("--deadline", type=float,
                   help="seconds for the whole soak, a bound against hangs, never a "
                        "verdict on speed (default 300 + --churn-wait + 0.1 per scrape)")
    p.add_argument("--max-failures", type=int, default=100, help="stop early past this many")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--exporter-agent", action="store_true",
                   help="preload libmemtide into the exporter too and report its live heap "
                        "at rest: tells a leak (live heap grows) from allocator retention")
    p.add_argument("--leak-check", choices=("rss", "live-heap"), default="rss",
                   help=f"what must not grow after the warm-up: RSS (by {RSS_GROWTH_LIMIT_KIB} "
                        f"KiB, the default) or the live heap (by {LIVE_HEAP_GROWTH_LIMIT_KIB} "
                        "KiB; implies --exporter-agent)")
    p.add_argument("--report", help="write the figures here: markdown, or JSON for *.json")
    args = p.parse_args(argv)
    if args.checkpoints < 3:
        p.error("--checkpoints must be at least 3: growth that goes on is judged "
                "by the median step between readings, which one step must not decide")
    if args.deadline is None:
        args.deadline = 300 + args.churn_wait + 0.1 * args.scrapes
    args.exporter_agent = args.exporter_agent or args.leak_check == "live-heap"
    return args


def build_paths(build):
    paths = {"exporter": os.path.join(build, "memtide_exporter"),
             "agent": os.path.join(build, "libmemtide.so"),
             "dump": os.path.join(build, "memtide-segment-dump"),
             "child": os.path.join(build, "tests", "soak", "churn_child")}
    for what, path in paths.items():
        if not os.access(path, os.R_OK):
            raise SoakError(f"{what}: {path} is missing (make -f ... soak builds it)")
    return {k: os.path.abspath(v) for k, v in paths.items()}


def warm_start(exporter):
    """A few scrapes before anything is measured: the collectors' threads and
    caches exist from the first scrape on."""
    for _ in range(3):
        status, _, body = exporter.get(SCRAPE_PATH)
        if status != 200:
            raise SoakError(f"first scrapes failed: {status} {body[:200]!r}")


def soak(args, paths, tmp, failures, stop):
    """The soak proper; returns its figures."""
    deadline = monotonic() + args.deadline
    agent_dir = os.path.join(tmp, "agent")
    os.mkdir(agent_dir)
    exporter = Exporter(paths, tmp, agent_dir, args)
    churn = monitor = None
    fig = {"failures": 0, "skipped": []}
    try:
        exporter.wait_healthy(20)
        warm_start(exporter)
        rest_timeout = args.connection_timeout + 10
        fig["rest"] = [("start", at_rest(exporter, rest_timeout))]
        churn = Churn(args, paths["child"], paths["agent"], agent_dir, tmp, failures)
        churn.start()
        began, cpu0 = monotonic(), exporter.cpu_seconds()
        phases, all_stats = [], []

        def progress():
            return progress_line(began, args, all_stats, churn, exporter)

        monitor = Monitor(exporter, agent_dir, progress, failures, stop)
        monitor.start()
        for label, budget in phase_budgets(args, churn):
            phases.append(run_phase(exporter, budget, args, failures, stop, deadline, all_stats))
            fig["rest"].append((label(sum(len(s.latencies) for s in all_stats)),
                                at_rest(exporter, rest_timeout)))
        seconds, cpu = monotonic() - began, exporter.cpu_seconds() - cpu0
        churn.stop()
        fig["segments_left"] = len(os.listdir(agent_dir))
        collect_figures(fig, phases, churn, monitor, seconds, cpu)
    except BaseException:
        print("exporter log, last lines:\n" + exporter.log_tail(), file=sys.stderr)
        raise
    finally:
        stop.set()
        if monitor:
            monitor.join(timeout=5)
        if churn and churn.is_alive():
            churn.stop()
        fig["exit_status"] = exporter.stop()
        fig["log_levels"] = log_levels(exporter.log_text())
        fig["log_tail"] = exporter.log_tail()
    fig["failures"] = failures.count
    return fig


def phase_budgets(args, churn):
    """The warm-up, then the rest of the scrapes in --checkpoints equal parts,
    each followed by a reading at rest: (label maker, budget), made lazily.

    The warm-up lasts at least two connection timeouts, so that held
    connections have been closed and reopened before the baseline. The last
    part goes on, for at most --churn-wait seconds, until --min-churn
    processes have started: a slow machine gets more time, not a verdict."""
    warm = Budget(int(args.scrapes * args.warm_up),
                  min_seconds=2 * (args.connection_timeout + args.close_margin))
    yield (lambda done: f"warm-up ({done:,} scrapes)"), warm
    left = args.scrapes - warm.claimed
    for k in range(args.checkpoints, 0, -1):
        if k > 1:
            part = Budget(max(0, left // k))
        else:
            part = Budget(left, wanted=lambda: churn.started < args.min_churn,
                          extra_seconds=args.churn_wait)
        yield (lambda done: f"{done:,} scrapes"), part
        left -= part.total


def collect_figures(fig, phases, churn, monitor, seconds, cpu):
    stats = [s for st, _ in phases for s in st]
    fig["latency"] = latency_figures(stats)
    fig["seconds"] = seconds
    fig["scrape_rate"] = fig["latency"]["count"] / seconds if seconds else 0.0
    fig["cpu_ms_per_scrape"] = cpu * 1000 / max(1, fig["latency"]["count"])
    fig["churn"] = churn.figures()
    fig["connections"] = holder_figures([h for _, h in phases], phases[0][1].timeout)
    fig["scraper_connections"] = sum(s.connections for s in stats)
    fig["closed_by_exporter"] = sum(s.closed_by_exporter for s in stats)
    fig["soak_groups_seen"] = sum(s.soak_groups_seen for s in stats)
    fig["soak_agents_seen"] = sum(s.soak_agents_seen for s in stats)
    last = max((s.last_body for s in stats), key=len, default=b"")
    fig["scrape_errors"] = scrape_errors(last)
    fig["load_rss_kib"] = (min((s[1] for s in monitor.samples), default=0),
                           max((s[1] for s in monitor.samples), default=0))
    fig["load_threads_max"] = max((s[2] for s in monitor.samples), default=0)
    fig["segments_max"] = max((s[4] for s in monitor.samples), default=0)


def progress_line(began, args, all_stats, churn, exporter):
    done = sum(len(s.latencies) for s in all_stats)
    seconds = monotonic() - began
    return (f"soak: {seconds:4.0f} s  {done:,} scrapes of {args.scrapes:,}  "
            f"churn {churn.started / seconds:.0f}/s  "
            f"rss {exporter.status_kib('VmRSS')} KiB  threads {exporter.threads()}  "
            f"fds {exporter.fds()}")


def write_report(path, fig, text):
    with open(path, "w") as f:
        if path.endswith(".json"):
            json.dump({k: v for k, v in fig.items() if k != "log_tail"}, f, indent=2)
            f.write("\n")
        else:
            f.write(text)


def main(argv=None):
    args = parse_args(argv)
    stop = threading.Event()
    failures = Failures(stop, args.max_failures)
    try:
        paths = build_paths(args.build)
        with tempfile.TemporaryDirectory(prefix="memtide-soak-") as tmp:
            fig = soak(args, paths, tmp, failures, stop)
    except SoakError as e:
        print(f"soak: FAIL: {e}", file=sys.stderr)
        for f in failures.items:
            print(f"  {f}", file=sys.stderr)
        return 1
    check_figures(fig, args, failures)
    text = markdown(fig, args, failures)
    print(text, end="")
    for note in fig["skipped"]:
        print(f"soak: {note}", file=sys.stderr)
    if args.report:
        write_report(args.report, fig, text)
    if failures:
        print(f"soak: FAIL: {failures.count} failures", file=sys.stderr)
        for f in failures.items:
            print(f"  {f}", file=sys.stderr)
        print("exporter log, last lines:\n" + fig["log_tail"], file=sys.stderr)
        return 1
    print("soak: pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
