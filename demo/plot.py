#!/usr/bin/python3
"""What memtide saw, as a PNG: a group's anonymous memory and its floor, its
live sessions, and the moments its alerts began to fire; a healthy group
alongside when there is one.

Reads Prometheus' range API, writes the data file and the gnuplot script into
a working directory and runs gnuplot (Debian: gnuplot-nox). Standard library
only. Usable on its own against the demo's (or any) Prometheus:

    /usr/bin/python3 demo/plot.py --prometheus http://127.0.0.1:9090 --out demo.png
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

JOB = "memtide"
FLOOR = "30s"  # the demo rules' floor window (production's 30 minutes / 60)
MIB = 1024 * 1024


def range_query(prom, expr, start, end, step):
    """{group: [(t, value)]} of a range query."""
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"range query failed: {expr}: {body}")
    out = {}
    for s in body["data"]["result"]:
        key = s["metric"].get("group", "") + "/" + s["metric"].get("alertname", "")
        out[key.strip("/")] = [(float(t), float(v)) for t, v in s["values"]]
    return out


def series(prom, group, start, end, step):
    """The plotted series of one group, keyed by column name."""
    sel = f'job="{JOB}",group="{group}"'
    exprs = {
        "anon": f"memtide_group_anonymous_bytes{{{sel}}} / {MIB}",
        "floor": f"min_over_time(memtide_group_anonymous_bytes{{{sel}}}[{FLOOR}]) / {MIB}",
        "sessions": f'sum by (group) (memtide_sessions_live{{{sel},source="agent"}})',
    }
    return {name: range_query(prom, e, start, end, step).get(group, []) for name, e in exprs.items()}


def alert_starts(prom, group, start, end, step):
    """[(t, alertname)]: when each alert of the group began to fire (first firing sample)."""
    fired = range_query(prom, f'ALERTS{{alertname=~"Memtide.*",alertstate="firing",group="{group}"}}',
                        start, end, step)
    return sorted((points[0][0], key.split("/")[-1]) for key, points in fired.items() if points)


def write_data(path, start, columns):
    """One row per timestamp: minutes since start, then each column ("?" where missing)."""
    by_time = {}
    for i, points in enumerate(columns):
        for t, v in points:
            by_time.setdefault(t, ["?"] * len(columns))[i] = f"{v:.6g}"
    with open(path, "w", encoding="utf-8") as f:
        f.write("# minutes " + " ".join(f"col{i + 2}" for i in range(len(columns))) + "\n")
        for t in sorted(by_time):
            f.write(f"{(t - start) / 60:.4f} " + " ".join(by_time[t]) + "\n")


def gnuplot_script(data, out, group, healthy, alerts, start, limit_mib):
    """Two panels sharing the time axis: memory above, sessions below."""
    marks = []
    for i, (t, name) in enumerate(alerts):
        x = (t - start) / 60
        marks += [f"set arrow {i + 1} from {x:.3f}, graph 0 to {x:.3f}, graph 1 nohead dt 2 lc rgb '#c0392b'",
                  f"set label {i + 1} '{name.replace('Memtide', '')}' at {x:.3f}, graph {0.97 - 0.08 * i:.2f} "
                  "right offset -0.5,0 tc rgb '#c0392b' font ',9'"]
    mem = [f"'{data}' using 1:2 with lines lw 1 lc rgb '#8fb3d9' title '{group}: anonymous memory'",
           f"'{data}' using 1:3 with lines lw 2.5 lc rgb '#1f4e79' title '{group}: floor (min over {FLOOR})'"]
    ses = [f"'{data}' using 1:4 with lines lw 2.5 lc rgb '#1f4e79' title '{group}: live sessions (agent)'"]
    if healthy:
        mem.append(f"'{data}' using 1:6 with lines lw 2 lc rgb '#27ae60' title '{healthy}: floor'")
        ses.append(f"'{data}' using 1:7 with lines lw 2 lc rgb '#27ae60' title '{healthy}: live sessions'")
    ylabel = f"MiB (limit {limit_mib:.0f})" if limit_mib else "MiB"
    return "\n".join([
        "set terminal pngcairo noenhanced size 1100,800 font 'sans,10'", f"set output '{out}'",
        "set datafile missing '?'", "set multiplot layout 2,1 title "
        f"'memtide: {group} leaks sessions; the alerts fire (minutes since the apps started)'",
        # The series rise from the lower left: the key goes to the lower right.
        "set grid", "set key bottom right", "set xrange [0:*]",
        f"set ylabel '{ylabel}'", "set yrange [0:*]", *marks,
        "plot " + ", ".join(mem),
        # Below, the leaky app's sessions fill the lower right: the key goes mid-right.
        "set ylabel 'sessions'", "set xlabel 'minutes'", "set key center right",
        "plot " + ", ".join(ses),
        "unset multiplot", ""])


def render(prom, out, workdir, group="leaky_webapp", healthy=None, start=None, end=None, step=5):
    """Writes out (PNG) from Prometheus at prom; the data and script go to workdir.

    Minutes count from start, by default the group's first sample in the last 6 hours.
    Returns the alerts marked, [(t, alertname)].
    """
    end = end or time.time()
    mine = series(prom, group, start or end - 6 * 3600, end, step)
    if not mine["anon"]:
        raise RuntimeError(f"no memory series for group {group} in Prometheus at {prom}")
    start = start or mine["anon"][0][0]
    other = series(prom, healthy, start, end, step) if healthy else {"floor": [], "sessions": []}
    alerts = alert_starts(prom, group, start, end, step)
    limit = range_query(prom, f'memtide_group_memory_limit_bytes{{job="{JOB}",group="{group}"}} / {MIB}',
                        end - 60, end, step).get(group)
    data = os.path.join(workdir, "memtide-demo.dat")
    script = os.path.join(workdir, "memtide-demo.gp")
    write_data(data, start, [mine["anon"], mine["floor"], mine["sessions"], [],
                             other["floor"], other["sessions"]])
    with open(script, "w", encoding="utf-8") as f:
        f.write(gnuplot_script(data, os.path.abspath(out), group, healthy, alerts, start,
                               limit[-1][1] if limit else None))
    subprocess.run(["gnuplot", script], check=True, timeout=60, capture_output=True)
    return alerts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus base URL")
    ap.add_argument("--out", default="memtide-demo.png", help="the PNG to write")
    ap.add_argument("--group", default="leaky_webapp", help="the group to plot")
    ap.add_argument("--healthy", help="a group without the leak, drawn alongside")
    ap.add_argument("--minutes", type=float, default=15, help="how far back to plot")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="memtide-plot-")
    try:
        end = time.time()
        for t, name in render(args.prometheus, args.out, work, args.group, args.healthy,
                              start=end - args.minutes * 60, end=end):
            print(f"{time.strftime('%H:%M:%S', time.localtime(t))} {name}")
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
