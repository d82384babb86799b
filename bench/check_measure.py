#!/usr/bin/env python3
"""What memtide-check detects, measured (`make check-measure`; not part of `make test`).

For each leak per cycle, RUNS runs of memtide-check at its default settings
(8 cycles after 2 warm-up, 1 s quiet, 64 KiB budget, 64 KiB sampling) on the
leaky web app with a per-request leak sized to that much per cycle, and the
healthy twin; prints a markdown table: detections out of RUNS, the median
slope it measured, the wall time of a run. Runs go PARALLEL at a time: they
mostly wait for quiet points.

    bench/check_measure.py --build build [--runs 20] [--parallel 4] [--kib 0,48,66,72,96,128]
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# One cycle: 40 users, 4 pages each, all log out: 160 page requests.
PAGES_PER_CYCLE = 160


def one_run(build, leak_bytes, seed):
    load = (f"{build}/loadgen --target=http://127.0.0.1:$MEMTIDE_CHECK_PORT --users=40 "
            "--rate=200 --think-ms=0 --walk-away=0 --pages-min=4 --pages-max=4")
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        t0 = time.monotonic()
        r = subprocess.run([f"{build}/memtide-check", "--ready-line=listening port=([0-9]+)",
                            f"--json={out.name}", f"--load={load}", "--",
                            f"{build}/leaky_webapp", "--port=0", "--session-ttl=1",
                            f"--seed={seed}", f"--leak-bytes-per-request={leak_bytes}"],
                           capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - t0
        if r.returncode not in (0, 1):
            sys.exit(f"check_measure: memtide-check failed:\n{r.stderr}")
        report = json.load(open(out.name))
    return r.returncode, report["heap"]["slope_bytes_per_cycle"], seconds


def measure(build, kib, runs, parallel):
    leak_bytes = round(kib * 1024 / PAGES_PER_CYCLE) if kib else 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(lambda s: one_run(build, leak_bytes, s), range(runs)))
    detected = sum(1 for rc, _, _ in results if rc == 1)
    slope = statistics.median(s for _, s, _ in results) / 1024
    wall = statistics.median(t for _, _, t in results)
    return leak_bytes, detected, slope, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--kib", default="0,48,66,72,96,128")
    a = ap.parse_args()
    print(f"memtide-check at its defaults, {a.runs} runs per row, {a.parallel} at a time, "
          f"on {os.cpu_count()} CPUs\n")
    print("| leak per cycle | bytes per request | detected | median slope | median wall time |")
    print("|---|---|---|---|---|")
    for kib in (float(k) for k in a.kib.split(",")):
        leak_bytes, detected, slope, wall = measure(a.build, kib, a.runs, a.parallel)
        name = f"{kib:g} KiB" if kib else "none (healthy twin)"
        print(f"| {name} | {leak_bytes} | {detected}/{a.runs} | {slope:.1f} KiB | {wall:.1f} s |",
              flush=True)


if __name__ == "__main__":
    main()
