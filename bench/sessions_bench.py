"""Sessions without code changes: the sessdir collector over a directory of
200,000 session files, and the tcp collector with 20,000 established loopback
connections, netlink against /proc/net/tcp in the same run.
"""
import http.client
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import free_port, wait_until

HEADING = "## Sessions: session-file directories and TCP connection states"

SESSION_FILES = 200_000
SESSION_BYTES = 120           # about what PHP writes for a small session
CONNECTIONS = 20_000
HOLDERS = 2                   # processes per side: this machine allows 20,000 fds a process
SCRAPES = {"sessdir": 20, "tcp": 50}  # per exporter
WARMUP = 3
FIND_REPS = 5
AGES = (30, 120, 600, 1800, 7200, 30000, 200000)
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the port at connect(), per destination


class Exporter:
    """memtide_exporter with one config, and a kept-alive connection to it."""

    def __init__(self, build, workdir, name, config):
        self.name = name
        self.port = free_port()
        cfg = os.path.join(workdir, f"{name}.yml")
        with open(cfg, "w") as f:
            f.write(config)
        self.proc = subprocess.Popen([os.path.join(build, "memtide_exporter"),
                                      f"--web.listen-address=127.0.0.1:{self.port}",
                                      f"--config.file={cfg}", "--no-collector.process",
                                      "--log.level=warn"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, 30, f"{name} to answer")
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def _up(self):
        if self.proc.poll() is not None:
            sys.exit(f"bench: {self.name} exited with {self.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def scrape(self):
        """One scrape: (wall seconds, body)."""
        start = time.perf_counter()
        self.conn.request("GET", "/metrics")
        r = self.conn.getresponse()
        body = r.read().decode()
        wall = time.perf_counter() - start
        if r.status != 200:
            sys.exit(f"bench: {self.name} answered {r.status}")
        return wall, body

    def stop(self):
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def sample(text, name, **labels):
    for line in text.splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_]\w*)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def measure(exporters, collector, check):
    """Alternating scrapes; per exporter the median wall time and collector duration."""
    walls = {e.name: [] for e in exporters}
    durations = {e.name: [] for e in exporters}
    for i in range(WARMUP + SCRAPES[collector]):
        for e in exporters:
            wall, text = e.scrape()
            if sample(text, "memtide_scrape_collector_success", collector=collector) != 1:
                sys.exit(f"bench: {collector} failed in {e.name}")
            check(text)
            if i >= WARMUP:
                walls[e.name].append(wall)
                durations[e.name].append(
                    sample(text, "memtide_scrape_collector_duration_seconds", collector=collector))
    return {e.name: (statistics.median(walls[e.name]), statistics.median(durations[e.name]))
            for e in exporters}


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


# ---- sessdir -----------------------------------------------------------------


def make_session_files(directory):
    now = time.time()
    payload = b"x" * SESSION_BYTES
    for i in range(SESSION_FILES):
        path = os.path.join(directory, f"sess_{i:026x}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, payload)
        os.close(fd)
        age = AGES[i % len(AGES)]
        os.utime(path, (now - age, now - age))


def time_find(directory):
    """The same listing by find(1): every file's size and mtime, without following links."""
    times = []
    for _ in range(FIND_REPS):
        start = time.perf_counter()
        out = subprocess.run(["find", directory, "-maxdepth", "1", "-type", "f", "-name", "sess_*",
                              "-printf", "%s %T@\n"], check=True, capture_output=True).stdout
        times.append(time.perf_counter() - start)
        if out.count(b"\n") != SESSION_FILES:
            sys.exit("bench: find saw a different number of files")
    return statistics.median(times)


def sessdir_bench(build):
    workdir = tempfile.mkdtemp(prefix="memtide-bench-sessions-")
    directory = os.path.join(workdir, "sessions")
    os.mkdir(directory)
    try:
        start = time.perf_counter()
        make_session_files(directory)
        made = time.perf_counter() - start
        e = Exporter(build, workdir, "memtide-sessdir",
                     f"sessions:\n  dirs:\n    - pool: php\n      path: {directory}\n"
                     "      match: \"sess_*\"\n      ttl: 24m\n")
        try:
            def check(text):
                if sample(text, "memtide_sessions_live", source="dir", pool="php") != SESSION_FILES:
                    sys.exit("bench: sessdir counted a different number of files")
            result = measure([e], "sessdir", check)[e.name]
        finally:
            e.stop()
        fstype = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", directory],
                                capture_output=True, text=True).stdout.strip() or "unknown"
        return result, time_find(directory), made, fstype
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---- tcp -----------------------------------------------------------------------


def accept_some(listener, quota, ready, stop):
    """A child process: accepts `quota` connections and holds them until told to stop."""
    held = [listener.accept()[0] for _ in range(quota)]
    ready.send(len(held))
    stop.wait()


def connect_some(port, source, quota, ready, stop):
    """A child process: opens `quota` connections from `source` and holds them."""
    held = []
    for _ in range(quota):
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        held.append(s)
    ready.send(len(held))
    stop.wait()


class Connections:
    """CONNECTIONS established loopback connections; each side spread over HOLDERS
    processes so that none needs more than 20,000 fds."""

    def __init__(self):
        ctx = multiprocessing.get_context("fork")
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4096)
        self.port = self.listener.getsockname()[1]
        self.stop = ctx.Event()
        self.children, pipes = [], []
        quota = CONNECTIONS // HOLDERS
        for i in range(HOLDERS):
            for target, args in ((accept_some, (self.listener, quota)),
                                 (connect_some, (self.port, f"127.0.0.{2 + i}", quota))):
                mine, theirs = ctx.Pipe(duplex=False)
                p = ctx.Process(target=target, args=(*args, theirs, self.stop), daemon=True)
                p.start()
                self.children.append(p)
                pipes.append(mine)
        for pipe in pipes:
            if not pipe.poll(300) or pipe.recv() != quota:
                self.close()
                sys.exit("bench: could not open the connections")

    def close(self):
        self.stop.set()
        for p in self.children:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
                p.join()
        self.listener.close()


def time_ss(port):
    times = []
    for _ in range(FIND_REPS):
        start = time.perf_counter()
        out = subprocess.run(["ss", "-Htan", "state", "established", f"sport = :{port}"],
                             check=True, capture_output=True).stdout
        times.append(time.perf_counter() - start)
        seen = out.count(b"\n")
        if seen != CONNECTIONS:
            sys.exit(f"bench: ss saw {seen} connections")
    return statistics.median(times)


def tcp_bench(build):
    workdir = tempfile.mkdtemp(prefix="memtide-bench-tcp-")
    conns = Connections()
    exporters = []
    try:
        for method in ("netlink", "procfs"):
            exporters.append(Exporter(build, workdir, method,
                                      f"sessions:\n  tcp:\n    pool: web\n    ports: [{conns.port}]\n"
                                      f"    method: {method}\n"))

        def check(text):
            if sample(text, "memtide_sessions_live", source="tcp", pool="web") != CONNECTIONS:
                sys.exit("bench: tcp counted a different number of connections")
        with open("/proc/net/tcp", "rb") as f:
            proc_lines = f.read().count(b"\n") - 1
        return measure(exporters, "tcp", check), time_ss(conns.port), proc_lines
    finally:
        for e in exporters:
            e.stop()
        conns.close()
        shutil.rmtree(workdir, ignore_errors=True)


def run(build):
    """The markdown section of this benchmark."""
    (sd_wall, sd_dur), find_s, made, fstype = sessdir_bench(build)
    tcp, ss_s, proc_lines = tcp_bench(build)
    nl_wall, nl_dur = tcp["netlink"]
    pf_wall, pf_dur = tcp["procfs"]
    return "\n".join([
        HEADING, "",
        f"Targets: a directory of {SESSION_FILES:,} session files scanned in well under a "
        f"second; with {CONNECTIONS:,} established loopback connections, the netlink path at "
        "least 5x faster than parsing /proc/net/tcp.", "",
        f"`sessdir`: {SESSION_FILES:,} files of {SESSION_BYTES} bytes named `sess_*` in one "
        f"directory on {fstype} (page and dentry caches warm; creating them took "
        f"{made:.1f} s), mtimes across every age bucket. `tcp`: {CONNECTIONS:,} "
        f"established connections to one port on 127.0.0.1, both ends held by the benchmark "
        f"({proc_lines:,} lines in /proc/net/tcp); one exporter per method, scraped "
        f"alternately. Medians of {SCRAPES['sessdir']} (sessdir) and {SCRAPES['tcp']} (tcp, "
        f"per method) scrapes after {WARMUP} warm-up scrapes; the "
        "collector's own time is `memtide_scrape_collector_duration_seconds`, the scrape is "
        "the client's wall time over a kept-alive connection (the `process` collector off).", "",
        "| measurement | collector duration | scrape wall time | reference |",
        "|---|---|---|---|",
        f"| sessdir, {SESSION_FILES:,} files | {ms(sd_dur)} | {ms(sd_wall)} | "
        f"`find -maxdepth 1 -type f -name 'sess_*' -printf '%s %T@'`: {ms(find_s)} |",
        f"| tcp, netlink (inet_diag, port filter in the kernel) | {ms(nl_dur)} | {ms(nl_wall)} | "
        f"`ss -Htan state established sport = :PORT`: {ms(ss_s)} |",
        f"| tcp, /proc/net/tcp and tcp6 | {ms(pf_dur)} | {ms(pf_wall)} | |",
        f"| tcp, procfs / netlink | {pf_dur / nl_dur:.1f}x | {pf_wall / nl_wall:.1f}x | |",
        "", tcp_note(nl_dur, pf_dur), ""])


def tcp_note(nl_dur, pf_dur):
    """What the tcp figures say against the target."""
    per_socket = nl_dur / CONNECTIONS * 1e6
    if pf_dur / nl_dur >= 5:
        return f"The netlink path meets the 5x target ({per_socket:.2f} µs per counted connection)."
    return (f"The netlink path misses the 5x target here ({pf_dur / nl_dur:.1f}x). Its time is "
            f"the kernel's, {per_socket:.2f} µs per counted connection: one walk of the TCP "
            f"socket hash that touches all {2 * CONNECTIONS:,} sockets (the client ends too) "
            "and one message per socket on the port, in 32 KiB batches. The exporter already "
            "asks for IPv4 and IPv6 in one walk and lets the kernel drop other ports and "
            "listeners; the attributes the kernel adds to each message cannot be turned off.")


if __name__ == "__main__":
    print(run(sys.argv[1] if len(sys.argv) > 1 else "build"))
