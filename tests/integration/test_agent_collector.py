"""The agent collector against real programs running under libmemtide."""
import os
import random
import signal
import subprocess

import pytest

from conftest import BUILD, sample_value, wait_for

AGENT = os.path.join(BUILD, "libmemtide.so")
PROGRAMS = os.path.join(BUILD, "tests", "agent")


@pytest.fixture
def agent_dir(tmp_path):
    d = tmp_path / "shm"
    d.mkdir()
    return str(d)


@pytest.fixture
def agent_exporter(exporter_factory, agent_dir):
    return exporter_factory(f"--collector.agent.dir={agent_dir}")


class Program:
    """A program under the agent that prints key=value lines, then waits for stdin to close."""

    def __init__(self, argv, agent_dir, preload=True, until="ready", env=None):
        environ = dict(os.environ, MEMTIDE_DIR=agent_dir, **(env or {}))
        if preload:
            environ["LD_PRELOAD"] = AGENT
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=environ, text=True)
        self.values = {}
        while until and until not in self.values:
            line = self.proc.stdout.readline()
            assert line, f"{argv[0]} ended before saying {until}"
            key, _, value = line.strip().partition("=")
            self.values[key] = value

    def finish(self):
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        return self.proc.wait(timeout=60), out


def program(name):
    return os.path.join(PROGRAMS, name)


def test_held_blocks_are_reported_exactly(agent_exporter, agent_dir):
    p = Program([program("hold_blocks"), "5000"], agent_dir)
    text = agent_exporter.metrics()
    base_objects = int(p.values["base_live_objects"])
    base_bytes = int(p.values["base_live_bytes"])
    assert sample_value(text, "memtide_agent_processes", group="hold_blocks") == 1
    assert sample_value(text, "memtide_malloc_live_objects", group="hold_blocks") - base_objects == 5000
    assert sample_value(text, "memtide_malloc_live_bytes", group="hold_blocks") - base_bytes == int(
        p.values["block_bytes"])
    status, out = p.finish()
    assert status == 0 and "exact=1" in out


def test_fork_then_exec_reports_both_processes(agent_exporter, agent_dir):
    p = Program([program("fork_exec"), "exec", program("hold_blocks"), "300"], agent_dir,
                until="child")

    def child_holds_its_blocks():
        text = agent_exporter.metrics()
        held = sample_value(text, "memtide_malloc_live_objects", group="hold_blocks") or 0
        return text if held >= 300 else None

    text = wait_for(child_holds_its_blocks, what="the exec'd child's blocks")
    assert sample_value(text, "memtide_agent_processes", group="hold_blocks") == 1
    assert sample_value(text, "memtide_agent_processes", group="fork_exec") == 1
    assert sorted(os.listdir(agent_dir)) == sorted(
        [f"memtide.{p.values['parent']}", f"memtide.{p.values['child']}"])
    status, _ = p.finish()
    assert status == 0


def test_sessions_counts_and_ages(agent_exporter, agent_dir):
    p = Program([program("sessions")], agent_dir, preload=False, until=None)
    assert p.proc.stdout.readline().startswith("pid ")

    def command(line):
        p.proc.stdin.write(line + "\n")
        p.proc.stdin.flush()
        assert p.proc.stdout.readline().strip() == "ok"

    command("open 100")
    command("close 40")
    labels = {"source": "agent", "group": "sessions", "pool": "web"}
    text = agent_exporter.metrics()
    assert sample_value(text, "memtide_sessions_live", **labels) == 60
    assert sample_value(text, "memtide_sessions_opened_total", **labels) == 100
    assert sample_value(text, "memtide_sessions_closed_total", **labels) == 40
    assert sample_value(text, "memtide_sessions_ttl_seconds", **labels) == 1800
    # An hour and a bit later (on the agent's clock), the 60 never closed are over an hour old.
    command("advance 3700")
    text = agent_exporter.metrics()
    assert sample_value(text, "memtide_sessions_live_by_age", older_than_seconds="3600", **labels) == 60
    assert sample_value(text, "memtide_sessions_live_by_age", older_than_seconds="14400", **labels) == 0
    assert sample_value(text, "memtide_sessions_oldest_age_seconds", **labels) >= 3600
    # Days later they are still counted, in the oldest bucket.
    command("advance 400000")
    text = agent_exporter.metrics()
    assert sample_value(text, "memtide_sessions_live_by_age", older_than_seconds="86400", **labels) == 60
    assert sample_value(text, "memtide_sessions_live", **labels) == 60
    command("set 7")
    assert sample_value(agent_exporter.metrics(), "memtide_sessions_live", source="agent",
                        group="sessions", pool="counted") == 7
    assert p.finish()[0] == 0


def test_preloaded_python_runs_and_is_reported(agent_exporter, agent_dir):
    script = ("import sys\nkeep = [bytes(1000) for _ in range(20000)]\n"
              "print('ready=1', flush=True)\nsys.stdin.read()\nprint('sum=%d' % sum(map(len, keep)))\n")
    p = Program(["python3", "-c", script], agent_dir)
    text = agent_exporter.metrics()
    assert sample_value(text, "memtide_agent_processes", group="python3") == 1
    assert sample_value(text, "memtide_malloc_live_bytes", group="python3") > 20000 * 1000
    status, out = p.finish()
    assert status == 0 and "sum=20000000" in out


def test_preloaded_sort_gives_the_same_output_and_is_reported(agent_exporter, agent_dir):
    rng = random.Random(7)
    data = "".join(f"{rng.randrange(10**12):012d} line\n" for _ in range(200000))
    env = dict(os.environ, MEMTIDE_DIR=agent_dir, LD_PRELOAD=AGENT, LC_ALL="C")
    sort = subprocess.Popen(["sort"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                            text=True)
    sort.stdin.write(data)
    sort.stdin.flush()
    # sort holds its input until the end: it is there to be seen.
    wait_for(lambda: (sample_value(agent_exporter.metrics(), "memtide_malloc_live_bytes",
                                   group="sort") or 0) > len(data) / 2, what="sort's heap")
    out, _ = sort.communicate(timeout=120)
    assert sort.returncode == 0
    assert out == "".join(sorted(data.splitlines(keepends=True)))


def test_segment_of_a_killed_writer_is_removed(agent_exporter, agent_dir):
    # Without the agent thread there is no heartbeat: a dead pid is enough.
    p = Program([program("hold_blocks"), "10"], agent_dir, env={"MEMTIDE_MALLINFO_INTERVAL": "0"})
    segment = os.path.join(agent_dir, f"memtide.{p.values['pid']}")
    assert os.path.exists(segment)
    p.proc.send_signal(signal.SIGKILL)
    p.proc.wait(timeout=30)
    text = agent_exporter.metrics()
    assert not os.path.exists(segment)
    # Housekeeping, not an error: counted apart from memtide_scrape_errors_total.
    assert sample_value(text, "memtide_collector_housekeeping_total", collector="agent",
                        action="stale_removed") >= 1
    assert sample_value(text, "memtide_scrape_errors_total", collector="agent", reason="stale_removed") is None
    assert sample_value(text, "memtide_agent_processes", group="hold_blocks") is None
    p.finish()


def test_counters_stay_monotonic_when_a_process_exits(agent_exporter, agent_dir):
    first = Program([program("hold_blocks"), "100"], agent_dir)
    second = Program([program("hold_blocks"), "100"], agent_dir)
    before = sample_value(agent_exporter.metrics(), "memtide_malloc_allocs_total", group="hold_blocks")
    assert first.finish()[0] == 0
    after = sample_value(agent_exporter.metrics(), "memtide_malloc_allocs_total", group="hold_blocks")
    assert after >= before
    assert second.finish()[0] == 0
    assert 'group="hold_blocks"' not in agent_exporter.metrics()


def test_hostile_segments_cost_only_their_own_metrics(agent_exporter, agent_dir, tmp_path):
    victim = Program([program("hold_blocks"), "10"], agent_dir)
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        target = tmp_path / "elsewhere"
        target.write_bytes(b"\0" * 4096)
        os.symlink(target, os.path.join(agent_dir, f"memtide.{sleeper.pid}"))
        os.mkfifo(os.path.join(agent_dir, f"memtide.{os.getpid()}"))
        garbage = os.path.join(agent_dir, f"memtide.{os.getppid()}")
        with open(garbage, "wb") as f:
            f.write(os.urandom(300000))
        text = agent_exporter.metrics()
        assert sample_value(text, "memtide_scrape_collector_success", collector="agent") == 1
        assert sample_value(text, "memtide_agent_processes", group="hold_blocks") == 1
        errors = {reason: sample_value(text, "memtide_scrape_errors_total", collector="agent", reason=reason)
                  for reason in ("segment_symlink", "segment_not_regular", "magic")}
        assert all(v and v >= 1 for v in errors.values()), errors
        assert os.path.islink(os.path.join(agent_dir, f"memtide.{sleeper.pid}"))
    finally:
        sleeper.kill()
        sleeper.wait()
        victim.finish()
