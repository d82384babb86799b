"""Process scrape: with 1,000 extra sleeping processes, memtide_exporter against
Debian's prometheus-process-exporter (-threads=false), scrapes alternating
between the two, with PSS off and with PSS on for every group; the floor is
one raw libproc2 reap of the same fields (bench/reap_floor.c).
"""
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import free_port, wait_until

HEADING = "## Process scrape: memtide against process-exporter"

EXTRA_PROCESSES = 1000
PROCESS_NAMES = 50
SCRAPES = 100
WARMUP = 5
FLOOR_REPS = 50


class Sleepers:
    """EXTRA_PROCESSES sleeping processes under PROCESS_NAMES names."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="memtide-bench-")
        self.procs = []
        for i in range(EXTRA_PROCESSES):
            name = os.path.join(self.dir, f"bench-sleep-{i % PROCESS_NAMES:02d}")
            if not os.path.exists(name):
                os.symlink(shutil.which("sleep"), name)
            self.procs.append(subprocess.Popen([name, "3600"]))

    def stop(self):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def process_count():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


class Server:
    """An exporter process and a kept-alive connection to it."""

    def __init__(self, name, argv, port):
        self.name = name
        self.port = port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, 30, f"{name} to answer")
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def _up(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            if self.proc.poll() is not None:
                sys.exit(f"bench: {self.name} exited with {self.proc.returncode}")
            return False

    def scrape(self):
        """One scrape; returns its wall time in seconds."""
        start = time.perf_counter()
        self.conn.request("GET", "/metrics")
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"bench: {self.name} answered {r.status}")
        return time.perf_counter() - start

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self):
        """VmRSS and its anonymous part (the rest is shared-library and binary pages)."""
        fields = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    fields[key] = int(value.split()[0]) * 1024
        return fields["VmRSS"], fields["RssAnon"]

    def stop(self):
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_file(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def start_pair(build, workdir, pss, pss_max_age):
    memtide_cfg = write_file(workdir, f"memtide-{pss}-{pss_max_age}.yml",
                             f"process:\n  pss_max_age: {pss_max_age}\n  groups:\n"
                             f"    - name: \"{{comm}}\"\n      pss: {'true' if pss else 'false'}\n")
    pe_cfg = write_file(workdir, "process-exporter.yml",
                        "process_names:\n  - name: \"{{.Comm}}\"\n    cmdline:\n    - '.+'\n")
    mport, pport = free_port(), free_port()
    memtide = Server("memtide", [os.path.join(build, "memtide_exporter"),
                                 f"--web.listen-address=127.0.0.1:{mport}",
                                 f"--config.file={memtide_cfg}", "--log.level=warn"], mport)
    peer = Server("process-exporter", ["prometheus-process-exporter", f"-config.path={pe_cfg}",
                                       f"-web.listen-address=127.0.0.1:{pport}", "-threads=false",
                                       f"-gather-smaps={'true' if pss else 'false'}"], pport)
    return memtide, peer


def measure_pair(memtide, peer):
    """Alternating scrapes; per server: median wall, CPU per scrape, RSS after."""
    for _ in range(WARMUP):
        memtide.scrape()
        peer.scrape()
    times = {memtide.name: [], peer.name: []}
    cpu0 = {s.name: s.cpu_seconds() for s in (memtide, peer)}
    for _ in range(SCRAPES):
        for s in (memtide, peer):
            times[s.name].append(s.scrape())
    return {s.name: {"median": statistics.median(times[s.name]),
                     "cpu": (s.cpu_seconds() - cpu0[s.name]) / SCRAPES,
                     "rss": s.rss_bytes()} for s in (memtide, peer)}


def floor(build, pss):
    argv = [os.path.join(build, "bench", "reap_floor")] + (["--pss"] if pss else []) + [str(FLOOR_REPS)]
    return float(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def process_bench(build):
    rows = []
    workdir = tempfile.mkdtemp(prefix="memtide-bench-cfg-")
    sleepers = Sleepers()
    try:
        count = process_count()
        for label, pss, age in (("PSS off", False, "60s"), ("PSS on, every scrape", True, "0s"),
                                ("PSS on, cached (pss_max_age 60s)", True, "60s")):
            memtide, peer = start_pair(build, workdir, pss, age)
            try:
                result = measure_pair(memtide, peer)
            finally:
                memtide.stop()
                peer.stop()
            rows.append((label, floor(build, pss), result))
    finally:
        sleepers.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return count, rows


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def mib(rss):
    total, anon = rss
    return f"{total / 1048576:.1f} MiB ({anon / 1048576:.1f} anonymous)"


def process_table(count, rows):
    out = [f"Processes on the machine during the run: {count} "
           f"({EXTRA_PROCESSES} extra sleepers under {PROCESS_NAMES} names). "
           f"{SCRAPES} alternating scrapes per exporter after {WARMUP} warm-up scrapes; "
           "wall time is the client's, over a kept-alive connection.",
           "",
           "| mode | floor: one raw reap | memtide median scrape | memtide / floor | "
           "process-exporter median scrape | process-exporter / memtide | memtide CPU per scrape | "
           "process-exporter CPU per scrape | memtide RSS | process-exporter RSS |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for label, fl, r in rows:
        m, p = r["memtide"], r["process-exporter"]
        out.append(f"| {label} | {ms(fl)} | {ms(m['median'])} | {m['median'] / fl:.2f}x | "
                   f"{ms(p['median'])} | {p['median'] / m['median']:.1f}x | {ms(m['cpu'])} | "
                   f"{ms(p['cpu'])} | {mib(m['rss'])} | {mib(p['rss'])} |")
    return "\n".join(out)


def run(build):
    """The markdown section of this benchmark."""
    count, rows = process_bench(build)
    return "\n".join([
        HEADING, "",
        "Targets: without PSS, a scrape within 1.5x of the raw libproc2 reap and at least 10x "
        "faster than process-exporter; with PSS for every group, within 1.5x of the raw "
        "smaps_rollup reap; exporter RSS under 4 MiB after 100 scrapes at 1,000 processes.",
        "", process_table(count, rows), "", verdict(rows), ""])


def met(ok):
    return "met" if ok else "missed"


def verdict(rows):
    """Which targets this run met, and why the others were missed."""
    floor_off, off, peer = rows[0][1], rows[0][2]["memtide"], rows[0][2]["process-exporter"]
    floor_pss, pss = rows[1][1], rows[1][2]["memtide"]
    rss, anon = off["rss"]
    limit = 4 * 1048576
    return "\n".join([
        f"- Without PSS: {off['median'] / floor_off:.2f}x the raw reap, target 1.5x "
        f"({met(off['median'] <= 1.5 * floor_off)}); {peer['median'] / off['median']:.1f}x "
        f"faster than process-exporter, target 10x ({met(peer['median'] >= 10 * off['median'])}). "
        "A scrape reads stat and statm of every process (status too on a machine with swap) "
        "and counts its fds; process-exporter reads more files per process and this machine's "
        "system calls are slow (a virtual machine), which both exporters pay alike.",
        f"- With PSS on every scrape: {pss['median'] / floor_pss:.2f}x the raw reap of the same "
        f"fields with smaps_rollup, target 1.5x ({met(pss['median'] <= 1.5 * floor_pss)}). With "
        "the default pss_max_age of 60 s a scrape costs about what it costs without PSS.",
        f"- RSS: {rss / 1048576:.1f} MiB, target 4 MiB ({met(rss <= limit)}), of which "
        f"{anon / 1048576:.1f} MiB anonymous: the exporter's own memory"
        f"{', within the target' if anon <= limit else ''}. The other "
        f"{(rss - anon) / 1048576:.1f} MiB are pages of the binary and of shared libraries "
        "(libc; GnuTLS, p11-kit, nettle and gmp, which libmicrohttpd links for TLS; libproc2 "
        "and the libsystemd it links), shared with every process that maps them but counted "
        "in each one's VmRSS.",
    ])
