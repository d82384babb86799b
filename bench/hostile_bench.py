#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile local users and clients: what each attack costs a scrape.

Each figure is the exporter's own measure of a collector
(memtide_scrape_collector_duration_seconds, median of SCRAPES scrapes) or a
client's wall time, without and with the attack, in the same run. The attacks
are those of tests/integration/test_hostile_*.py, test_web_config.py and
test_slow_clients.py, which assert their outcomes; nothing here passes or
fails. Run as root (the exporter reads every process; bcrypt hashes from
Python's crypt module).
"""
import base64
import http.client
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings

from benchutil import free_port, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

HEADING = "## Hostile local users and clients"
SCRAPES = 15
ARG_MAX = 128 * 1024 - 1
PATTERNS = ["^php-fpm: pool ([^ ]+)", "(gunicorn|uwsgi).*shop", "-jar [^ ]*/([^/ ]+)\\.jar",
            "-jar ([^ ]*/)?([^/ ]+)\\.jar", "php-fpm: pool ([[:alnum:]_]+)", "(a+)+$"]


def fill(unit):
    return (unit * (ARG_MAX // len(unit) + 1))[:ARG_MAX]


CRAFTED = [fill("php-fpm: pool "), fill("gunicorn"), fill("-jar /a"), fill("-jar /a/"),
           "php-fpm: pool " + fill("a")[14:], fill("a")[:-1] + "!"]


class Exporter:
    def __init__(self, build, *args):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([os.path.join(build, "memtide_exporter"),
                                      f"--web.listen-address=127.0.0.1:{self.port}", *args],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        wait_until(self.up, 30, "the exporter")

    def up(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def scrape(self, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/metrics",
                                     headers=headers or {})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def sample(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}{{{want}}} (\S+)$" if labels else rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def collector_ms(e, collector):
    """Median of SCRAPES scrapes of one collector's own duration, in ms."""
    return 1000 * statistics.median(
        sample(e.scrape(), "memtide_scrape_collector_duration_seconds", collector=collector)
        for _ in range(SCRAPES))


def process_section(build, tmp):
    cfg = os.path.join(tmp, "memtide.yml")
    with open(cfg, "w") as f:
        f.write("process:\n  groups:\n" + "".join(
            f"    - name: h{i}\n      exe: 'python3*'\n      cmdline: '{p}'\n"
            for i, p in enumerate(PATTERNS)) + "    - name: '{comm}'\n")
    e = Exporter(build, f"--config.file={cfg}")
    try:
        before = collector_ms(e, "process")
        procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)",
                                   CRAFTED[i % len(CRAFTED)]]) for i in range(16)]
        time.sleep(1)
        after = collector_ms(e, "process")
        for p in procs:
            p.kill()
            p.wait()
    finally:
        e.stop()
    return ("| 1 | 16 processes with 128 KiB command lines crafted against the 5 shipped or "
            "documented patterns and `(a+)+$` | process collector, median of "
            f"{SCRAPES} scrapes | {before:.1f} ms | {after:.1f} ms | +{after - before:.1f} ms "
            "(target < 50 ms; glibc regexec: 5.1 s for one) |")


def header(pid, total):
    h = bytearray(256)
    struct.pack_into("<QIIIIQII", h, 0, 0x01454449544D454D, 1, 1, 256, 1, total, pid, 7)
    struct.pack_into("<IIQQII", h, 80, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0, 0xFFFFFFFF, 0)
    return bytes(h)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def agent_section(build, tmp):
    d = tempfile.mkdtemp(prefix="memtide-bench-", dir="/dev/shm")
    e = Exporter(build, f"--collector.agent.dir={d}", "--no-collector.process")
    sleepers = []
    try:
        before = collector_ms(e, "agent")
        rss_before = rss_kib(e.proc.pid)
        sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(40)]
        for s in sleepers:
            with open(os.path.join(d, f"memtide.{s.pid}"), "wb") as f:
                f.write(header(s.pid, 64 << 20))
                f.truncate(64 << 20)
        after = collector_ms(e, "agent")
        rss_after = rss_kib(e.proc.pid)
    finally:
        for s in sleepers:
            s.kill()
            s.wait()
        e.stop()
        shutil.rmtree(d, ignore_errors=True)
    return ("| 2 | 40 sparse 64 MiB segments with hostile headers, for live processes | "
            f"agent collector, median of {SCRAPES} scrapes; exporter RSS | {before:.1f} ms | "
            f"{after:.1f} ms; RSS {rss_after - rss_before:+d} KiB | +{after - before:.1f} ms "
            "(target < 50 ms, no measurable RSS; before: 7 s and 73 MB for 20) |")


def auth_request(port, auth, source="127.0.0.1", timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        token = base64.b64encode(":".join(auth).encode()).decode()
        start = time.monotonic()
        conn.request("GET", "/-/healthy", headers={"Authorization": "Basic " + token})
        status = conn.getresponse().status
        return status, time.monotonic() - start
    finally:
        conn.close()


def auth_sections(build, tmp):
    h10 = crypt.crypt("right", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
    h12 = crypt.crypt("right", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 12))
    web = os.path.join(tmp, "web.yml")
    with open(web, "w") as f:
        f.write(f"basic_auth_users:\n  light: '{h10}'\n  heavy: '{h12}'\n")
    e = Exporter(build, f"--web.config.file={web}", "--no-collector.process")
    try:
        rejects = {}
        for what, auth in (("unknown user", ("nobody", "x")),
                           ("wrong password, cost-10 user", ("light", "x")),
                           ("wrong password, cost-12 user", ("heavy", "x"))):
            rejects[what] = statistics.median(auth_request(e.port, auth)[1] for _ in range(7))
        spread = max(rejects.values()) / min(rejects.values()) - 1
        assert auth_request(e.port, ("light", "right"))[0] == 200
        stop = threading.Event()

        def flood(i):
            while not stop.is_set():
                try:
                    auth_request(e.port, (f"u{i}", "x") if i % 2 else ("heavy", f"w{i}"),
                                 source="127.0.0.2")
                except OSError:
                    pass
        threads = [threading.Thread(target=flood, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        time.sleep(2)
        valid = sorted(auth_request(e.port, ("light", "right"))[1] for _ in range(200))
        stop.set()
        for t in threads:
            t.join()
    finally:
        e.stop()
    p99 = valid[int(len(valid) * 0.99) - 1]
    rows = [f"| 5 | 64 connections flooding unknown users and wrong passwords | 200 scrapes "
            f"with verified credentials: p50, p99 | | {1000 * valid[len(valid) // 2]:.1f} ms, "
            f"{1000 * p99:.1f} ms | target p99 < 1 s (before: 15.6-18 s) |",
            "| 7 | rejected attempts, median of 7 each: " +
            ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in rejects.items()) +
            f" | spread between them | | {100 * spread:.1f} % | target < 20 % "
            "(before: 250, 67, 250 ms) |"]
    return rows


class Trickler(threading.Thread):
    def __init__(self, port, n=1000):
        super().__init__()
        self.port, self.n, self.stop = port, n, threading.Event()

    def run(self):
        sel = selectors.DefaultSelector()

        def open_one(i):
            s = socket.socket()
            s.setblocking(False)
            s.bind((f"127.0.0.{2 + i % 16}", 0))
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            sel.register(s, selectors.EVENT_READ, i)
            return s
        socks = {i: open_one(i) for i in range(self.n)}
        while not self.stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                try:
                    if key.fileobj.recv(4096):
                        continue
                except OSError:
                    pass
                sel.unregister(key.fileobj)
                key.fileobj.close()
                socks[key.data] = open_one(key.data)
            for s in socks.values():
                try:
                    s.send(b"X")
                except OSError:
                    pass
            time.sleep(0.5)
        for s in socks.values():
            s.close()


def slow_section(build, tmp):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    e = Exporter(build, "--no-collector.process")
    t = Trickler(e.port)
    try:
        before = statistics.median(timed(e) for _ in range(5))
        t.start()
        time.sleep(3)
        during = sorted(timed(e) for _ in range(10))
        with open(f"/proc/{e.proc.pid}/status") as f:
            threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
        rss = rss_kib(e.proc.pid)
    finally:
        t.stop.set()
        t.join()
        e.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return (f"| 9 | 1,000 trickling connections from 127.0.0.2-17 | a scrape on its own "
            f"connection: median, max of 10; exporter threads and RSS | {1000 * before:.0f} ms "
            f"| {1000 * statistics.median(during):.0f} ms, {1000 * during[-1]:.0f} ms; "
            f"{threads} threads, {rss // 1024} MiB | target < 10 s (before: refused) |")


def timed(e):
    start = time.monotonic()
    e.scrape()
    return time.monotonic() - start


def run(build):
    tmp = tempfile.mkdtemp(prefix="memtide-bench-")
    try:
        rows = [process_section(build, tmp), agent_section(build, tmp),
                *auth_sections(build, tmp), slow_section(build, tmp)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return "\n".join([HEADING, "",
                      "The attacks of issue 13, each without and with the attack in one run "
                      "(`bench/hostile_bench.py`; `make bench BENCH_ONLY=hostile_bench`).",
                      "", "| item | attack | measured | without | with | figure |",
                      "|---|---|---|---:|---:|---|", *rows, ""])


if __name__ == "__main__":
    print(run(sys.argv[1] if len(sys.argv) > 1 else "build"))
