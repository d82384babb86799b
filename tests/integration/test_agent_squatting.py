"""Issue 13, item 4: another local user pre-creates segment names for the next
500 pids, to switch the agent off in processes of root. The process still gets
a working segment (under its second name, memtide.<pid>.<start_time>), the
exporter shows it exactly, and it never trusts the attacker's file, even one
forged to look like the victim's segment: it rejects it, counts it and says so
in its log."""
import os
import pwd
import shutil
import struct
import subprocess
import tempfile

import pytest

from conftest import BUILD, sample_value, wait_for

AGENT = os.path.join(BUILD, "libmemtide.so")
HOLD = os.path.join(BUILD, "tests", "agent", "hold_blocks")
ATTACKER = "memtide-attacker"
SQUATTED = 500

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates a user; CI runs as root")

# Run as the attacker: create memtide.<pid> for pids [first, first + n) in d.
SQUAT = r"""
import os, sys
d, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for pid in range(first, first + n):
    fd = os.open(os.path.join(d, f"memtide.{pid}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
"""

# Run as the attacker: write forged bytes into a file it owns.
FORGE = r"""
import sys
with open(sys.argv[1], "r+b") as f:
    f.write(open(sys.argv[2], "rb").read())
"""


@pytest.fixture(scope="module")
def attacker():
    try:
        return pwd.getpwnam(ATTACKER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        ATTACKER], check=True, timeout=60)
        return pwd.getpwnam(ATTACKER)


@pytest.fixture
def shm():
    """A directory like /dev/shm: sticky, everyone may create files."""
    d = tempfile.mkdtemp(prefix="memtide-squat-", dir="/dev/shm")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_user(pw, *argv):
    subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
                    *argv], check=True, timeout=60)


def last_pid():
    with open("/proc/sys/kernel/ns_last_pid") as f:
        return int(f.read())


def start_victim(shm):
    env = dict(os.environ, LD_PRELOAD=AGENT, MEMTIDE_DIR=shm)
    p = subprocess.Popen([HOLD, "3000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                         text=True)
    values = {}
    while "ready" not in values:
        line = p.stdout.readline()
        assert line, f"the victim ended before it was ready: {values}"
        key, _, value = line.strip().partition("=")
        values[key] = value
    return p, values


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def forged_copy(real, pid, start, path):
    """The victim's real segment, rewritten to claim a trillion live objects."""
    data = bytearray(open(real, "rb").read(300))
    struct.pack_into("<I", data, 32, pid)
    struct.pack_into("<Q", data, 40, start)
    struct.pack_into("<Q", data, 256, 10**12)  # the overflow slot's allocs
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)


def test_squatted_names_neither_switch_the_agent_off_nor_fool_the_exporter(
        attacker, shm, exporter_factory):
    exporter = exporter_factory(f"--collector.agent.dir={shm}")
    for _ in range(3):  # other processes may take the squatted pids first: again
        first = last_pid() + 1
        as_user(attacker, "/usr/bin/python3", "-c", SQUAT, shm, str(first), str(SQUATTED))
        victim, values = start_victim(shm)
        pid = victim.pid
        if first <= pid < first + SQUATTED:
            break
        victim.stdin.close()
        victim.wait(timeout=60)
    else:
        pytest.fail("the victim never got a squatted pid")
    try:
        squatted = os.path.join(shm, f"memtide.{pid}")
        assert os.lstat(squatted).st_uid == attacker.pw_uid
        start = start_time(pid)
        own = os.path.join(shm, f"memtide.{pid}.{start}")
        st = os.lstat(own)
        assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600

        # The attacker now knows the start time too, and forges the victim's
        # segment into the file it owns.
        forged = os.path.join(shm, "forged-input")  # a name the exporter ignores
        forged_copy(own, pid, start, forged)
        as_user(attacker, "/usr/bin/python3", "-c", FORGE, squatted, str(forged))

        text = exporter.metrics()
        assert sample_value(text, "memtide_agent_processes", group="hold_blocks") == 1
        live = sample_value(text, "memtide_malloc_live_objects", group="hold_blocks")
        assert live - int(values["base_live_objects"]) == 3000
        assert sample_value(text, "memtide_scrape_errors_total", collector="agent",
                            reason="segment_wrong_owner") >= 1
        assert wait_for(lambda: f"path={squatted}" in exporter.read_log(),
                        what="the rejection in the log")
        victim.stdin.close()
        assert victim.wait(timeout=60) == 0
        assert "exact=1" in victim.stdout.read()
        assert not os.path.exists(own)
    finally:
        victim.kill()
        victim.wait()


# A victim that keeps allocating (the agent's lazy refresh runs from malloc).
BUSY_VICTIM = r"""
import sys, time
print("ready", flush=True)
while sys.stdin.readable():
    held = [bytes(64) for _ in range(4000)]
    time.sleep(0.01)
"""


def test_a_squatter_that_removes_its_file_cannot_hide_the_process(attacker, shm,
                                                                 exporter_factory):
    """The attacker squats the next pids, the victim takes its second name,
    and the attacker removes its file so that the exporter, which looks
    processes up by their first name, would not find the victim: the victim
    takes its first name too, as a link to its own file."""
    exporter = exporter_factory(f"--collector.agent.dir={shm}")
    env = dict(os.environ, LD_PRELOAD=AGENT, MEMTIDE_DIR=shm, PYTHONMALLOC="malloc")
    for _ in range(3):  # other processes may take the squatted pids first: again
        first = last_pid() + 1
        as_user(attacker, "/usr/bin/python3", "-c", SQUAT, shm, str(first), str(SQUATTED))
        victim = subprocess.Popen(["/usr/bin/python3", "-c", BUSY_VICTIM], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert victim.stdout.readline().strip() == "ready"
        if first <= victim.pid < first + SQUATTED:
            break
        victim.kill()
        victim.wait(timeout=60)
    else:
        pytest.fail("the victim never got a squatted pid")
    try:
        squatted = os.path.join(shm, f"memtide.{victim.pid}")
        own = os.path.join(shm, f"memtide.{victim.pid}.{start_time(victim.pid)}")
        assert os.lstat(squatted).st_uid == attacker.pw_uid and os.path.exists(own)
        as_user(attacker, "/usr/bin/python3", "-c",
                f"import os; os.unlink({squatted!r})")
        wait_for(lambda: os.path.exists(squatted) and os.path.samefile(squatted, own),
                 timeout=30, what="the victim to take its first name back")
        text = exporter.metrics()
        assert sample_value(text, "memtide_agent_processes", group="python3") == 1
        victim.kill()
        victim.wait(timeout=60)
    finally:
        victim.kill()
        victim.wait()
