"""Attacks by an unprivileged local user on the agent directory.

The directory is world-writable and sticky, as /dev/shm is. Each test plays
the attack and asserts the outcome, never a speed: the scrape succeeds within
Prometheus' timeout with the real process's allocator series, and the work
done (bytes read, entries swept) is what the counters say.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from attacker import as_attacker
from conftest import sample_value, wait_for
from test_agent_collector import Program, program

SCRIPT = os.path.join(os.path.dirname(__file__), "attack_segments.py")
TIMEOUT = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}


@pytest.fixture
def shm_dir():
    d = tempfile.mkdtemp(prefix="memtide-test-", dir="/dev/shm")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Attack:
    """attack_segments.py run as the attacker; stopped by closing its stdin."""

    def __init__(self, *args):
        with open(SCRIPT) as f:
            source = f.read()
        self.proc = subprocess.Popen(as_attacker([sys.executable, "-c", source, *args]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def rss(exporter):
    with open(f"/proc/{exporter.proc.pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_sparse_hostile_segments_cost_only_their_headers(exporter_factory, shm_dir):
    victim = Program([program("hold_blocks"), "10"], shm_dir)
    e = exporter_factory(f"--collector.agent.dir={shm_dir}")
    base = sample_value(e.metrics(TIMEOUT), "memtide_agent_segment_read_bytes_total")
    victim_cost = sample_value(e.metrics(TIMEOUT), "memtide_agent_segment_read_bytes_total") - base
    rss_before = rss(e)
    attack = Attack("sparse", shm_dir, "40")
    try:
        for _ in range(3):
            before = sample_value(e.metrics(TIMEOUT), "memtide_agent_segment_read_bytes_total")
            text = e.metrics(TIMEOUT)
            assert sample_value(text, "memtide_scrape_collector_success", collector="agent") == 1
            assert sample_value(text, "memtide_agent_processes", group="hold_blocks") == 1
            # 40 processes' and 5 threads' 64 MiB files: a header each at most.
            cost = sample_value(text, "memtide_agent_segment_read_bytes_total") - before
            assert cost <= victim_cost + 45 * 256, cost
            assert sample_value(text, "memtide_agent_processes", group="sleep") is None
            assert sample_value(text, "memtide_agent_processes", group="python3") is None
            assert sample_value(text, "memtide_scrape_errors_total", collector="agent",
                                reason="layout") >= 40
        # Anonymous copies of sparse files would have cost 64 MiB each.
        assert rss(e) < rss_before + (16 << 20)
    finally:
        attack.stop()
        victim.finish()


def test_junk_files_cannot_hide_a_live_segment(exporter_factory, shm_dir):
    victim = Program([program("hold_blocks"), "10"], shm_dir)
    # Newer than the victim's file: tmpfs lists them first.
    attack = Attack("junk", shm_dir, "66000", "10000000")
    future = os.path.join(shm_dir, "memtide.10066000")
    try:
        e = exporter_factory(f"--collector.agent.dir={shm_dir}")
        text = e.metrics(TIMEOUT)
        assert sample_value(text, "memtide_scrape_collector_success", collector="agent") == 1
        assert sample_value(text, "memtide_agent_processes", group="hold_blocks") == 1
        # The sweep is bounded per scrape, and says so.
        assert sample_value(text, "memtide_collector_housekeeping_total", collector="agent",
                            action="sweep_capped") >= 1
        assert "reached a cap" in e.read_log()
        removed = sample_value(text, "memtide_collector_housekeeping_total", collector="agent",
                               action="stale_removed")
        assert 0 < removed < 66000
        # Impossible headers go, a heartbeat from the future included; the sweep
        # goes on from scrape to scrape until the junk is gone.
        wait_for(lambda: e.metrics(TIMEOUT) and not os.path.exists(future), timeout=120,
                 interval=0, what="the far-future junk to be removed")
        assert os.path.exists(os.path.join(shm_dir, f"memtide.{victim.proc.pid}"))
    finally:
        attack.stop()
        victim.finish()
