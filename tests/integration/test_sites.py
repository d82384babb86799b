"""Sampled allocation sites through the exporter, against real programs under
libmemtide: named in the metrics (C with file:line, C++ through operator new,
a preloaded python3), ranked with an "other" remainder, and served as a pprof
heap profile that `go tool pprof` reads."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import BUILD, sample_value, wait_for

AGENT = os.path.join(BUILD, "libmemtide.so")
PROGRAMS = os.path.join(BUILD, "tests", "agent")
PYTHON = "/usr/bin/python3"


@pytest.fixture
def agent_dir(tmp_path):
    d = tmp_path / "shm"
    d.mkdir()
    return str(d)


class Program:
    """A program under the agent that prints lines until "ready", then waits for stdin."""

    def __init__(self, argv, agent_dir, env=None):
        environ = dict(os.environ, MEMTIDE_DIR=agent_dir, LD_PRELOAD=AGENT,
                       MEMTIDE_SAMPLE_SEED="42", **(env or {}))
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=environ, text=True)
        self.lines = []
        for _ in range(20):  # bounded: the programs print a few lines
            line = self.proc.stdout.readline()
            assert line, f"{argv[0]} ended before it was ready"
            if line.strip() == "ready":
                break
            self.lines.append(line.strip())

    def finish(self):
        self.proc.stdin.close()
        self.proc.stdout.close()
        return self.proc.wait(timeout=60)


def sites(text, group):
    """{site label: live bytes} of a group."""
    out = {}
    for m in re.finditer(r'^memtide_agent_site_live_bytes\{group="([^"]*)",site="((?:[^"\\]|\\.)*)"\} (\S+)$',
                         text, re.M):
        if m.group(1) == group:
            out[m.group(2)] = float(m.group(3))
    return out


def scrape_until_sites(exporter, group):
    def have():
        text = exporter.metrics()
        s = sites(text, group)
        return (text, s) if any(v > 0 for k, v in s.items() if k != "other") else None
    return wait_for(have, what=f"sites of {group}")


def top_site(s):
    return max((k for k in s if k != "other"), key=lambda k: s[k])


def test_c_leak_is_named_with_file_and_line(exporter_factory, agent_dir):
    exporter = exporter_factory(f"--collector.agent.dir={agent_dir}")
    p = Program([os.path.join(PROGRAMS, "sites"), "32"], agent_dir)
    try:
        text, s = scrape_until_sites(exporter, "sites")
        assert re.fullmatch(r"leak_here \(sites\.c:\d+\)", top_site(s)), s
        assert "other" in s
        # Each of the four families has the same series: label sets line up.
        assert len(re.findall(r'^memtide_agent_site_growth_bytes_per_second\{group="sites"', text,
                              re.M)) == len(s)
        assert sample_value(text, "memtide_agent_site_growth_bytes_per_second", group="sites",
                            site=top_site(s)) > 0
    finally:
        assert p.finish() == 0


def test_top_is_bounded_and_other_keeps_the_sum(exporter_factory, agent_dir):
    p = Program([os.path.join(PROGRAMS, "sites"), "16"], agent_dir)
    try:
        wide = exporter_factory(f"--collector.agent.dir={agent_dir}")
        _, all_sites = scrape_until_sites(wide, "sites")
        narrow = exporter_factory(f"--collector.agent.dir={agent_dir}",
                                  env=dict(os.environ, MEMTIDE_SITES_TOP="1"))
        _, few = scrape_until_sites(narrow, "sites")
        # One by live bytes, at most one more by growth, and other.
        assert len(few) <= 3 and "other" in few
        assert sum(few.values()) == pytest.approx(sum(all_sites.values()), rel=1e-9)
    finally:
        assert p.finish() == 0


def test_cxx_leak_is_named_past_operator_new(exporter_factory, agent_dir):
    exporter = exporter_factory(f"--collector.agent.dir={agent_dir}")
    p = Program([os.path.join(PROGRAMS, "cpp_sites")], agent_dir)
    try:
        _, s = scrape_until_sites(exporter, "cpp_sites")
        # The function is the symbol; the line may be that of code inlined into it.
        assert top_site(s).startswith("demo::Cache::remember(unsigned int) ("), s
    finally:
        assert p.finish() == 0


PY_HOARD = """
import sys
keep = []
def hoard():
    for i in range(3000):
        keep.append(bytearray(20000 + i))
hoard()
print("ready", flush=True)
sys.stdin.read()
"""


def test_python3_sites_have_symbol_names(exporter_factory, agent_dir):
    exporter = exporter_factory(f"--collector.agent.dir={agent_dir}")
    p = Program([PYTHON, "-c", PY_HOARD], agent_dir)
    try:
        group = "python3"
        text = wait_for(lambda: exporter.metrics() if sites(exporter.metrics(), group) else None,
                        what="python sites")
        s = sites(text, group)
        top = top_site(s)
        # In the interpreter, not libc and not the allocator's wrappers; a
        # function without a symbol (Debian's python3 is stripped of its
        # static ones) says which named function called it.
        assert " in libc" not in top and " in libmemtide" not in top, s
        assert not top.startswith(("PyMem_", "_PyMem_", "PyObject_Malloc")), s
        assert re.search(r"(^|< )[A-Za-z_]\w*[+ ]", top), s
        assert s[top] >= 30e6  # 3000 blocks of ~20 KB, estimated
    finally:
        assert p.finish() == 0


@pytest.mark.skipif(not shutil.which("go"), reason="go tool pprof (golang-go) not installed")
def test_go_tool_pprof_reads_the_heap_profile(exporter_factory, agent_dir, tmp_path):
    exporter = exporter_factory(f"--collector.agent.dir={agent_dir}")
    p = Program([os.path.join(PROGRAMS, "sites"), "32"], agent_dir)
    try:
        scrape_until_sites(exporter, "sites")  # groups are known from a scrape
        for query in (f"pid={p.proc.pid}", "group=sites"):
            status, headers, body = exporter.get(f"/debug/pprof/heap?{query}")
            assert status == 200, body
            assert headers["Content-Type"] == "application/octet-stream"
            path = tmp_path / "heap.pb.gz"
            path.write_bytes(body)
            out = subprocess.run(["go", "tool", "pprof", "-top", str(path)],
                                 env=dict(os.environ, HOME=str(tmp_path)),
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            assert "Type: inuse_space" in out.stdout
            first = [l for l in out.stdout.splitlines() if re.match(r"\s*[\d.]+\w*B\s+[\d.]+%", l)][0]
            assert first.split()[-1] == "leak_here", out.stdout
        assert exporter.get("/debug/pprof/heap")[0] == 400
        assert exporter.get("/debug/pprof/heap?pid=999999999")[0] == 400
        assert exporter.get("/debug/pprof/heap?group=nosuchgroup")[0] == 404
    finally:
        assert p.finish() == 0
