#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libmemtide interposer benchmark: bench/malloc_bench (random sizes 16 to 1,040
bytes, a window of 256 live blocks, one malloc+free pair per iteration) bare
against LD_PRELOAD=libmemtide.so, with 1 and 2 threads.

- Wall time: median of RUNS runs per configuration, runs interleaved so that a
  noisy neighbour hurts every configuration alike.
- Instructions: valgrind --tool=callgrind, total Ir. The extra instructions per
  pair are measured at two iteration counts and differenced, so that the
  constant start-up cost (segment creation, agent thread) cancels:
  extra = ((Ir_pre(N2) - Ir_bare(N2)) - (Ir_pre(N1) - Ir_bare(N1))) / (pairs(N2) - pairs(N1)).

Prints a markdown section for docs/benchmarks.md on stdout. Not a test:
nothing here passes or fails.
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

HEADING = "## Agent: malloc interposer overhead (libmemtide)"

RUNS = 11
WALL_ITERATIONS = 4_000_000
CALLGRIND_ITERATIONS = (200_000, 400_000)
TARGET_INSTRUCTIONS = 30
TARGET_WALL = 0.15


def env_for(lib, mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTIDE_")}
    env.pop("LD_PRELOAD", None)
    if mode != "bare":
        env["LD_PRELOAD"] = lib
        env["MEMTIDE_DIR"] = "/dev/shm"
    if mode == "preload-nothread":
        env["MEMTIDE_MALLINFO_INTERVAL"] = "0"
    if mode == "preload-nosample":
        env["MEMTIDE_SAMPLE_BYTES"] = "0"
    return env


def wall(bench, lib, modes, threads):
    """Median and best of RUNS interleaved runs per mode, in seconds."""
    times = {m: [] for m in modes}
    for _ in range(RUNS):
        for m in modes:
            out = subprocess.run([bench, str(WALL_ITERATIONS), str(threads)],
                                 env=env_for(lib, m), capture_output=True, text=True,
                                 check=True)
            times[m].append(float(out.stdout))
    return {m: (statistics.median(t), min(t)) for m, t in times.items()}


def instructions(bench, lib, mode, iterations, threads):
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          bench, str(iterations), str(threads)],
                         env=env_for(lib, mode), capture_output=True, text=True, check=True)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if not m:
        sys.exit("agent_bench: no instruction count from callgrind:\n" + out.stderr)
    return int(m.group(1))


def extra_per_pair(bench, lib, threads, mode="preload"):
    n1, n2 = CALLGRIND_ITERATIONS
    d = {}
    for n in (n1, n2):
        d[n] = instructions(bench, lib, mode, n, threads) - \
            instructions(bench, lib, "bare", n, threads)
    pairs = (n2 - n1) * threads
    bare_per_pair = (instructions(bench, lib, "bare", n2, threads) -
                     instructions(bench, lib, "bare", n1, threads)) / pairs
    return (d[n2] - d[n1]) / pairs, bare_per_pair


def run(build):
    """The markdown section of this benchmark."""
    bench = os.path.join(build, "bench", "malloc_bench")
    lib = os.path.join(build, "libmemtide.so")
    out = []
    line = out.append
    modes = ("bare", "preload", "preload-nosample", "preload-nothread")

    rows = []
    for threads in (1, 2):
        w = wall(bench, lib, modes, threads)
        extra, bare_pp = extra_per_pair(bench, lib, threads)
        extra_nosample, _ = extra_per_pair(bench, lib, threads, "preload-nosample")
        rows.append((threads, w, {"preload": extra, "preload-nosample": extra_nosample},
                     bare_pp))

    today = datetime.date.today().isoformat()
    line(HEADING + "\n")
    line(f"Targets: at most {TARGET_INSTRUCTIONS} extra instructions per malloc+free pair "
          f"and at most {TARGET_WALL:.0%} wall time on bench/malloc_bench (random sizes "
          "16 to 1,040 bytes, a window of 256 live blocks). Written by bench/agent_bench.py; "
          f"{os.cpu_count()} cores, Linux {platform.release()}, {today}. Wall time: median of "
          f"{RUNS} interleaved runs of {WALL_ITERATIONS:,} pairs per thread (median, and best "
          "run as the estimate least disturbed by other load). Instructions: "
          "callgrind, differenced between "
          f"{CALLGRIND_ITERATIONS[0]:,} and {CALLGRIND_ITERATIONS[1]:,} pairs per thread so "
          "that start-up costs cancel.\n")
    line("| threads | configuration | wall, median | overhead | wall, best | overhead | "
          "instructions per pair |")
    line("|---|---|---|---|---|---|---|")
    names = {"bare": "bare glibc", "preload": "preloaded (sampling, 512 KiB)",
             "preload-nosample": "preloaded, sampling off",
             "preload-nothread": "preloaded, no mallinfo snapshots"}
    for threads, w, extra, bare_pp in rows:
        (bm, bb) = w["bare"]
        for m in modes:
            med, best = w[m]
            instr = f"{bare_pp:.1f}" if m == "bare" else \
                (f"+{extra[m]:.1f}" if m in extra else "")
            over = "" if m == "bare" else f"{med / bm - 1:+.1%}"
            over_best = "" if m == "bare" else f"{best / bb - 1:+.1%}"
            line(f"| {threads} | {names[m]} | {med * 1000:.1f} ms | {over} | "
                  f"{best * 1000:.1f} ms | {over_best} | {instr} |")
    line("")
    line("\"No mallinfo snapshots\" is `MEMTIDE_MALLINFO_INTERVAL=0`, for comparison: "
          "the counting is identical, so a difference from \"preloaded\" is the cost of "
          "the snapshots (taken from the allocation path, at most every interval) or "
          "run-to-run noise. There is no agent thread. The extra instructions are the "
          "fast path of `malloc` and `free` (TLS slot load, a test of block and slot, "
          "chunk-header read and mask, two unlocked adds each, the sampling countdown "
          "in `malloc` (which also drives the refresh), the test for a page-aligned, "
          "maybe sampled block in `free`, and the call into glibc); \"sampling off\" "
          "(`MEMTIDE_SAMPLE_BYTES=0`) runs the same fast path without ever taking a "
          "sample, so the difference between the two rows is the amortised cost of the "
          "samples (stack unwinding, site and block tables). The wall-time overhead "
          "follows their share of glibc's own instructions per pair.\n")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    sys.stdout.write(run(ap.parse_args().build))


if __name__ == "__main__":
    main()
