"""The process collector against what /proc says about real processes."""
import os
import shutil

import pytest

from conftest import sample_value, wait_for


def test_group_memory_matches_proc(exporter, processes):
    procs = processes("memtide-rss", count=3, alloc_mib=40)
    text = exporter.metrics()
    assert sample_value(text, "memtide_group_processes", group="memtide-rss") == 3
    for metric, field in (("memtide_group_resident_bytes", "VmRSS"),
                          ("memtide_group_anonymous_bytes", "RssAnon"),
                          ("memtide_group_virtual_bytes", "VmSize")):
        expected = procs.status_kib(field)
        got = sample_value(text, metric, group="memtide-rss")
        assert abs(got - expected) <= 0.02 * expected, (metric, got, expected)
    assert sample_value(text, "memtide_group_threads", group="memtide-rss") == 3
    assert sample_value(text, "memtide_group_open_fds", group="memtide-rss") >= 9
    largest = sample_value(text, "memtide_group_max_process_resident_bytes", group="memtide-rss")
    assert 40 << 20 < largest < procs.status_kib("VmRSS")


def test_memory_limit_defaults_to_memtotal(exporter, processes):
    processes("memtide-limit")
    text = exporter.metrics()
    limit = sample_value(text, "memtide_group_memory_limit_bytes", group="memtide-limit")
    assert limit == sample_value(text, "memtide_memory_total_bytes") or limit < sample_value(
        text, "memtide_memory_total_bytes")


def proc_start_time(pid):
    """Unix start time of pid, as /proc/stat and /proc/PID/stat give it."""
    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    with open(f"/proc/{pid}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def test_oldest_start_time_is_the_oldest_member(exporter, processes):
    procs = processes("memtide-age", count=2)
    start = sample_value(exporter.metrics(), "memtide_group_oldest_start_time_seconds", group="memtide-age")
    assert start == min(proc_start_time(pid) for pid in procs.pids)


def test_group_disappears_when_its_processes_exit(exporter, processes):
    procs = processes("memtide-gone", count=2)
    assert sample_value(exporter.metrics(), "memtide_group_processes", group="memtide-gone") == 2
    procs.stop()
    wait_for(lambda: 'group="memtide-gone"' not in exporter.metrics(), what="group to disappear")


def test_pss_only_for_groups_that_ask(exporter_factory, processes, tmp_path):
    processes("memtide-pss", alloc_mib=20)
    processes("memtide-nopss")
    cfg = tmp_path / "memtide.yml"
    cfg.write_text('process:\n  groups:\n'
                   '    - comm: "memtide-pss"\n      pss: true\n'
                   '    - comm: "memtide-nopss"\n')
    e = exporter_factory(f"--config.file={cfg}")
    text = e.metrics()
    pss = sample_value(text, "memtide_group_proportional_bytes", group="memtide-pss")
    uss = sample_value(text, "memtide_group_unique_bytes", group="memtide-pss")
    assert 20 << 20 < uss <= pss <= sample_value(text, "memtide_group_resident_bytes", group="memtide-pss")
    assert sample_value(text, "memtide_group_proportional_bytes", group="memtide-nopss") is None
    assert sample_value(text, "memtide_group_processes", group="memtide-nopss") == 1
    # Processes that match no group are not reported.
    assert sample_value(text, "memtide_group_processes", group="bash") is None


def make_limited_cgroup(limit):
    """A memory cgroup with a limit, v2 or v1, or None where this machine allows none."""
    candidates = []
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        candidates.append(("/sys/fs/cgroup", "memory.max"))
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        candidates.append(("/sys/fs/cgroup/memory", "memory.limit_in_bytes"))
    for root, limit_file in candidates:
        path = os.path.join(root, f"memtide-test-{os.getpid()}")
        try:
            os.mkdir(path)
            with open(os.path.join(path, limit_file), "w") as f:
                f.write(str(limit))
            return path
        except OSError:
            if os.path.isdir(path):
                os.rmdir(path)
    return None


def test_memory_limit_is_the_cgroup_limit(exporter, processes):
    limit = 256 << 20
    path = make_limited_cgroup(limit)
    if path is None:
        pytest.skip("no writable memory cgroup here (needs root and a memory controller)")
    try:
        procs = processes("memtide-cglimit")
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(procs.pids[0]))
        # The first scrape reads the limit fresh (the cache keeps it a minute after).
        text = exporter.metrics()
        assert sample_value(text, "memtide_group_memory_limit_bytes", group="memtide-cglimit") == limit
        procs.stop()
    finally:
        os.rmdir(path)


def test_unprivileged_exporter_skips_and_counts_what_it_may_not_read(exporter_factory, processes):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to drop to an unprivileged user")
    procs = processes("memtide-root")  # a root process whose fds nobody may read
    e = exporter_factory(wrapper=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    text = e.metrics()
    assert sample_value(text, "memtide_scrape_collector_success", collector="process") == 1
    # Linux 6.2+ tells anyone the fd count of a process through stat(2) of its fd
    # directory; older kernels refuse, and the exporter counts what it skipped.
    skipped = sample_value(text, "memtide_scrape_errors_total", collector="process",
                           reason="fd_permission") or 0
    assert skipped >= 1 or sample_value(text, "memtide_group_open_fds", group="memtide-root") >= 3
    # Memory of other users' processes is still reported: status and statm are world-readable.
    assert sample_value(text, "memtide_group_resident_bytes", group="memtide-root") > 0
    assert procs.pids


def test_groups_named_from_exe_and_cmdline_captures(exporter_factory, processes, tmp_path):
    procs = processes("memtide-named", count=2)
    cfg = tmp_path / "memtide.yml"
    cfg.write_text('process:\n  groups:\n'
                   '    - name: "{comm}/{exe}/{1}"\n'
                   '      exe: "python3*"\n'
                   '      cmdline: "^[^ ]*/(memtide-[a-z]+) -c"\n')
    e = exporter_factory(f"--config.file={cfg}")
    exe = os.path.basename(os.readlink(f"/proc/{procs.pids[0]}/exe"))
    group = f"memtide-named/{exe}/memtide-named"
    assert sample_value(e.metrics(), "memtide_group_processes", group=group) == 2
