"""Memory limits read from inside a cgroup namespace, as in a Kubernetes pod.

The exporter runs in a cgroup namespace whose root is a child cgroup, with
--path.sysfs pointing at a tree holding a cgroup mount rooted one level above
that namespace root (a bind mount in a mount namespace of its own, as a pod
gets the host's /sys at /host/sys). A process in a sibling cgroup then reads
as "/../sibling", which the exporter must resolve to the sibling's limit.

The cgroups are made below the test's own memory cgroup (cgroup v1) or, with
cgroup v2, below the root, whose children may enable the memory controller.
"""
import os
import shutil
import subprocess

import pytest

from conftest import EXPORTER, sample_value

LIMIT = 64 << 20  # page-aligned: cgroup v1 rounds limits down to pages


def own_cgroup(controller_line):
    """The path of this process's cgroup in the hierarchy the predicate picks."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if controller_line(hid, controllers.split(",")):
                return path
    return None


def cgroup_layout():
    """(mount, limit file, parent for the test's cgroups), as the exporter picks the layout."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            if "memory" not in f.read().split():
                return None, "cgroup v2 without the memory controller"
        return ("/sys/fs/cgroup", "memory.max", "/sys/fs/cgroup"), None
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        own = own_cgroup(lambda hid, ctl: "memory" in ctl)
        if own is None:
            return None, "no memory entry in /proc/self/cgroup"
        return ("/sys/fs/cgroup/memory", "memory.limit_in_bytes",
                "/sys/fs/cgroup/memory" + own.rstrip("/")), None
    return None, "no cgroup v2 and no cgroup v1 memory controller under /sys/fs/cgroup"


def can_unshare():
    r = subprocess.run(["unshare", "--cgroup", "--mount", "true"], capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def cgroups():
    """Makes <parent>/memtide-cgns-PID with the children named; removes them all after."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make cgroups and mount namespaces")
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}(1) from util-linux")
    ok, why = can_unshare()
    if not ok:
        pytest.skip(f"unshare --cgroup --mount refused here: {why}")
    layout, why = cgroup_layout()
    if layout is None:
        pytest.skip(why)
    mount, limit_file, parent = layout
    top = os.path.join(parent, f"memtide-cgns-{os.getpid()}")
    made = []
    try:
        os.mkdir(top)
    except OSError as e:
        pytest.skip(f"cannot make a cgroup in {parent}: {e}")
    made.append(top)

    def make(*names):
        if mount == "/sys/fs/cgroup":  # v2: children get memory.max only when the parent delegates
            write(os.path.join(top, "cgroup.subtree_control"), "+memory")
        for name in names:
            os.mkdir(os.path.join(top, name))
            made.append(os.path.join(top, name))
        return top

    yield make, mount, limit_file
    for path in reversed(made):
        os.rmdir(path)


def test_limit_of_a_cgroup_outside_the_namespace(cgroups, processes, tmp_path):
    make, mount, limit_file = cgroups
    top = make("ns", "sibling")
    write(os.path.join(top, "sibling", limit_file), str(LIMIT))
    outside = processes("memtide-cgns")
    write(os.path.join(top, "sibling", "cgroup.procs"), str(outside.pids[0]))
    # Stays in the test's own cgroup, above the mount: its limit is not reachable.
    beyond = processes("memtide-cgbey")

    # The layout the exporter looks for, with the cgroup mount at its usual place.
    sysfs = tmp_path / "sys"
    point = sysfs / os.path.relpath(mount, "/sys")
    point.mkdir(parents=True)
    cfg = tmp_path / "memtide.yml"
    cfg.write_text('process:\n  groups:\n    - comm: "memtide-cgns"\n    - comm: "memtide-cgbey"\n')
    ns = os.path.join(top, "ns", "cgroup.procs")
    inner = (f'mount --bind "{top}" "{point}" && exec "{EXPORTER}" --once '
             f'--config.file="{cfg}" --path.sysfs="{sysfs}" --no-collector.tcp --log.level=debug')
    # Into the child cgroup first: the new cgroup namespace is rooted where it starts.
    outer = f'echo $$ > "{ns}" && exec unshare --cgroup --mount --propagation private sh -c \'{inner}\''
    r = subprocess.run(["sh", "-c", outer], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(f"/proc/{outside.pids[0]}/cgroup") as f:
        assert f"/memtide-cgns-{os.getpid()}/sibling" in f.read()
    assert "mount_root=/.." in r.stderr, r.stderr

    assert sample_value(r.stdout, "memtide_group_memory_limit_bytes", group="memtide-cgns") == LIMIT
    assert sample_value(r.stdout, "memtide_group_memory_limit_bytes", group="memtide-cgbey") == \
        sample_value(r.stdout, "memtide_memory_total_bytes")
    outside.stop()
    beyond.stop()
