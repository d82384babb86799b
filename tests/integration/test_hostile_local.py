"""Attacks by an unprivileged local user on what the exporter reads from /proc.

Each test plays the attack and asserts the outcome, never a speed: the scrape
still succeeds within Prometheus' own timeout, with the victim's series.
The figures (milliseconds a scrape) are in bench/ and docs/reliability.md.
"""
import subprocess
import sys

import pytest

from attacker import as_attacker
from conftest import sample_value, stop_process, wait_for

# Every cmdline pattern shipped (deploy/memtide.yml) or documented
# (docs/configuration.md, README.md), and the textbook backtracking one.
PATTERNS = [
    "^php-fpm: pool ([^ ]+)",
    "(gunicorn|uwsgi).*shop",
    "-jar [^ ]*/([^/ ]+)\\.jar",
    "-jar ([^ ]*/)?([^/ ]+)\\.jar",
    "php-fpm: pool ([[:alnum:]_]+)",
    "(a+)+$",
]
ARG_MAX = 128 * 1024 - 1  # the kernel's limit on one argument, NUL included


def crafted_arguments():
    """One argument per pattern, each the worst text for it this side of a match."""
    def fill(unit):
        return (unit * (ARG_MAX // len(unit) + 1))[:ARG_MAX]
    return [
        fill("php-fpm: pool "),
        fill("gunicorn"),
        fill("-jar /a"),
        fill("-jar /a/"),
        "php-fpm: pool " + fill("a")[14:],
        fill("a")[:-1] + "!",
    ]


@pytest.fixture
def hostile_cmdlines():
    """16 processes of the attacker with 128 KiB command lines crafted against PATTERNS."""
    args = crafted_arguments()
    procs = []
    try:
        for i in range(16):
            cmd = [sys.executable, "-c", "import time; time.sleep(600)", args[i % len(args)]]
            procs.append(subprocess.Popen(as_attacker(cmd), stdout=subprocess.DEVNULL))
        yield procs
    finally:
        for p in procs:
            stop_process(p)


def test_crafted_command_lines_cannot_blank_the_process_collector(
        exporter_factory, processes, hostile_cmdlines, tmp_path):
    victim = processes("memtide-victim")
    cfg = tmp_path / "memtide.yml"
    groups = "".join(f"    - name: \"hostile{i}\"\n      exe: \"python3*\"\n"
                     f"      cmdline: '{p}'\n" for i, p in enumerate(PATTERNS))
    cfg.write_text(f"process:\n  groups:\n{groups}    - name: \"{{comm}}\"\n")
    e = exporter_factory(f"--config.file={cfg}")
    wait_for(lambda: all(open(f"/proc/{p.pid}/cmdline", "rb").read().count(b"\0") >= 3
                         for p in hostile_cmdlines), what="the attackers' command lines")
    # Prometheus' default: 10 s, which the exporter reads from this header.
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}
    for _ in range(3):
        text = e.metrics(headers=headers)
        assert sample_value(text, "memtide_scrape_collector_success", collector="process") == 1
        assert sample_value(text, "memtide_group_processes", group="memtide-victim") == len(
            victim.pids)
        # The crafted texts are matched, not skipped: pattern 4 takes the five
        # processes whose argument has "php-fpm: pool " (i = 0, 4, 6, 10, 12).
        assert sample_value(text, "memtide_group_processes", group="hostile4") == 5


def named_process(name):
    """A process of the attacker that names itself (prctl PR_SET_NAME), as any process may."""
    code = ("import ctypes, sys, time\n"
            "ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)\n"
            "print('ready', flush=True)\n"
            "time.sleep(600)\n")
    p = subprocess.Popen(as_attacker([sys.executable, "-c", code, name.hex()]),
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_names_are_published_as_the_kernel_holds_them(exporter, tmp_path):
    names = [b"caf\xc3\xa9-\xd0\xb6", b"dup\xff", b"dup\xfe", b"dup\\xff"]
    procs = [named_process(n) for n in names]
    try:
        text = exporter.metrics()
        # Label values as the exposition writes them: a backslash doubled.
        for label in ("café-ж", r"dup\\xff", r"dup\\xfe", r"dup\\\\xff"):
            assert sample_value(text, "memtide_group_processes", group=label) == 1, label
        assert 'group="dup?"' not in text and 'group="caf??-??"' not in text
    finally:
        for p in procs:
            stop_process(p)


def test_command_line_captures_are_published_as_the_kernel_holds_them(exporter_factory, tmp_path):
    """A group named from a cmdline capture: the bytes libproc2 shows as '?'
    are read again as the kernel holds them, so valid UTF-8 is kept and
    distinct invalid bytes stay distinct."""
    cfg = tmp_path / "memtide.yml"
    cfg.write_text("process:\n  groups:\n"
                   "    - name: \"u8-{1}\"\n      cmdline: 'memtide-u8 ([^ ]+)'\n"
                   "    - name: \"{comm}\"\n")
    code = "import sys, time; print('ready', flush=True); time.sleep(600)"
    args = [b"caf\xc3\xa9", b"dup\xff", b"dup\xfe"]
    procs = []
    try:
        for arg in args:
            p = subprocess.Popen(as_attacker([sys.executable.encode(), b"-c", code.encode(),
                                              b"memtide-u8", arg]),
                                 stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout.readline().strip() == "ready"
        text = exporter_factory(f"--config.file={cfg}").metrics()
        for label in ("u8-café", r"u8-dup\\xff", r"u8-dup\\xfe"):
            assert sample_value(text, "memtide_group_processes", group=label) == 1, label
        assert 'group="u8-dup?"' not in text
    finally:
        for p in procs:
            stop_process(p)
