# SPDX-License-Identifier: MIT
"""Sampled allocation sites, seen from outside through memtide-segment-dump:
the leaking site of tests/agent/sites.c ranks first with an estimate within
20% of the truth (fixed seed: deterministic), the sites survive a SIGKILL,
sampling off leaves no sites, and a fork child starts a table of its own.

Run: MEMTIDE_BUILD=build /usr/bin/python3 -m pytest -q tests/agent/test_sampling.py
"""
import os
import signal
import subprocess
import time

import pytest

from test_agent import BUILD, agent_env, dump, prog, segdir  # noqa: F401

NM = "nm"


def symbol_range(binary, name):
    """[start, end) of a function in the binary's own addresses, from nm -S."""
    out = subprocess.run([NM, "-S", binary], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[0], 16), int(parts[0], 16) + int(parts[1], 16)
    raise AssertionError(f"{name} not in {binary}")


def start(segdir, *args, **env):
    p = subprocess.Popen([prog("sites"), *args], env=agent_env(segdir, **env),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = {}
    for _ in range(10):  # bounded: the program prints at most four lines
        line = p.stdout.readline()
        if not line or line.strip() == "ready":
            break
        for word in line.split():
            key, _, value = word.partition("=")
            info[key] = value
    assert "leak_here" in info, "the program did not get ready"
    return p, info


def sites_of(seg):
    return [{"live": seg[f"site.{i}.live_bytes"], "alloc": seg[f"site.{i}.alloc_bytes"],
             "frames": [int(f, 16) for f in seg[f"site.{i}.frames"].split(",")]}
            for i in range(seg["sites"])]


def leak_range(info):
    """The running leak_here() as addresses in the process."""
    start_, end = symbol_range(prog("sites"), "leak_here")
    return int(info["leak_here"], 16), int(info["leak_here"], 16) + (end - start_)


def test_leaking_site_first_and_within_20_percent(segdir):
    p, info = start(segdir, "64", MEMTIDE_SAMPLE_SEED=42)
    try:
        seg = dump(os.path.join(segdir, f"memtide.{p.pid}"))
        assert seg["version"] == 3 and seg["sample_bytes"] == 512 * 1024
        sites = sorted(sites_of(seg), key=lambda s: -s["live"])
        lo, hi = leak_range(info)
        top = sites[0]
        assert any(lo <= f < hi for f in top["frames"]), "the top site is not leak_here"
        truth = int(info["live"])
        assert abs(top["live"] - truth) <= 0.2 * truth, (top["live"], truth)
        # The churning sites hold little: freed samples come off their sites.
        for s in sites[1:]:
            assert s["live"] < 0.2 * truth
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def test_sites_stay_readable_after_sigkill(segdir):
    p, info = start(segdir, "16", MEMTIDE_SAMPLE_SEED=7)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    seg = dump(os.path.join(segdir, f"memtide.{p.pid}"))
    lo, hi = leak_range(info)
    top = max(sites_of(seg), key=lambda s: s["live"])
    assert any(lo <= f < hi for f in top["frames"])


def test_sampling_off_leaves_no_sites(segdir):
    p, _ = start(segdir, "8", MEMTIDE_SAMPLE_BYTES=0)
    try:
        seg = dump(os.path.join(segdir, f"memtide.{p.pid}"))
        assert seg["sample_bytes"] == 0 and seg["sites"] == 0
        assert seg["live_bytes"] >= 8 << 20  # still counting
    finally:
        p.stdin.close()
        p.wait(timeout=30)


@pytest.mark.parametrize("mean", [1, 4096])
def test_every_block_sampled_stays_safe(segdir, mean):
    """Sampling as often as possible: tables fill up, nothing breaks."""
    p, info = start(segdir, "4", MEMTIDE_SAMPLE_BYTES=mean)
    try:
        seg = dump(os.path.join(segdir, f"memtide.{p.pid}"))
        assert seg["sites"] >= 1
        assert int(info["live"]) >= 4 << 20
    finally:
        p.stdin.close()
        assert p.wait(timeout=60) == 0


def test_fork_child_has_its_own_sites(segdir):
    p, info = start(segdir, "8", "fork", MEMTIDE_SAMPLE_BYTES=4096)
    child = int(info["child"])
    try:
        path = os.path.join(segdir, f"memtide.{child}")
        seg = None
        for _ in range(600):  # readiness poll, bounded: the child's sites appear
            if os.path.exists(path):
                seg = dump(path)
                if seg["sites"] > 0:
                    break
            time.sleep(0.05)
        assert seg is not None and seg["sites"] > 0
        lo, hi = leak_range(info)
        # The parent's leak is not the child's: its blocks are not samples there.
        for s in sites_of(seg):
            assert not any(lo <= f < hi for f in s["frames"]) or s["live"] == 0
    finally:
        os.kill(child, signal.SIGKILL)
        p.stdin.close()
        p.wait(timeout=30)
