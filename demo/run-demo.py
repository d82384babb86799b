#!/usr/bin/python3
"""memtide's demo: a web app that forgets sessions, caught end to end.

Starts on loopback the leaky web app and a healthy twin under load,
memtide_exporter, Prometheus with the time-scaled rules, Alertmanager and a
webhook receiver that prints each alert as it arrives; runs until Ctrl-C (or
--duration) and stops everything it started. See demo/README.md.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot  # noqa: E402
import stack  # noqa: E402


class Stop(Exception):
    """Raised by the SIGTERM handler, so that SIGTERM cleans up like Ctrl-C."""


def on_sigterm(signum, frame):
    raise Stop()


def parse_args():
    o = stack.Options()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", metavar="DIR", default=o.build,
                    help="directory with memtide_exporter, leaky_webapp, loadgen")
    ap.add_argument("--duration", metavar="MIN", type=float, default=0,
                    help="stop after this many minutes (default: run until Ctrl-C)")
    ap.add_argument("--picture", metavar="PATH", default=os.path.join(stack.ROOT, "docs", "demo.png"),
                    help="the PNG of what memtide saw, rewritten every --picture-every minutes and at the end")
    ap.add_argument("--picture-every", metavar="MIN", type=float, default=2, help="minutes between pictures")
    ap.add_argument("--rate", metavar="R", type=float, default=o.rate, help="users arriving per second, per app")
    ap.add_argument("--mode", choices=("steady", "daily"), default=o.mode,
                    help="load: steady, or a compressed day every 10 minutes")
    ap.add_argument("--walk-away", metavar="F", type=float, default=o.walk_away,
                    help="share of users who leave without logging out")
    ap.add_argument("--leak-fraction", metavar="F", type=float, default=o.leak_fraction,
                    help="share of expired sessions the leaky app forgets")
    ap.add_argument("--session-bytes", metavar="N", type=int, default=o.session_bytes, help="state per session")
    ap.add_argument("--limit-mib", metavar="N", type=int, default=o.limit_mib,
                    help="the memory limit the exporter sees for the apps")
    ap.add_argument("--no-healthy", action="store_true", help="do not run the healthy twin")
    return ap.parse_args()


def graph_url(prom, exprs, minutes=15):
    params = {}
    for i, e in enumerate(exprs):
        params.update({f"g{i}.expr": e, f"g{i}.tab": "0", f"g{i}.range_input": f"{minutes}m"})
    return prom + "/graph?" + urllib.parse.urlencode(params)


def print_guide(s, picture):
    sel = f'job="{stack.JOB}"'
    prom = s.prometheus_url
    healthy = f"{s.healthy}'s levels off" if s.healthy else "a healthy app's would level off"
    quiet = f" {s.healthy} raises nothing." if s.healthy else ""
    print(f"""
memtide demo, on loopback (temporary files in {s.dir})

  leaky web app   {s.app_url()}/healthz
  exporter        {s.exporter_url}/metrics
  Prometheus      {prom}/alerts
  memory graph    {graph_url(prom, [f'memtide_group_anonymous_bytes{{{sel}}}',
                                    f'memtide:group_anonymous_bytes:floor{{{sel}}}'])}
  sessions graph  {graph_url(prom, [f'memtide_sessions_live{{{sel},source="agent"}}'])}
  Alertmanager    {s.alertmanager_url}/#/alerts

What to look at: the floor of {s.leaky}'s anonymous memory climbs in a
straight line while {healthy}; so do its live sessions, while the
app's own /healthz shows few live sessions and a growing sessions_forgotten.
A minute of the demo is an hour of production. After about 6 to 7 minutes
MemtideStaleSessions (sessions older than 8 x TTL keep accumulating) and
MemtideHeapLeakSuspected (6 "hours" of steady growth) arrive below, through
Alertmanager; MemtideSessionLeakSuspected a few minutes later (the mean
lifetime past six TTLs); MemtideMemoryLeakSuspected follows after
about 16, when a group without a day of history has risen for 16 "hours".{quiet}
The picture ({picture}) is rewritten every few minutes. Ctrl-C stops everything.
""", flush=True)


def picture(s, path):
    """Rewrites the PNG; a failure is reported, never fatal to the demo."""
    work = tempfile.mkdtemp(prefix="memtide-plot-")
    try:
        plot.render(s.prometheus_url, path, work, s.leaky, s.healthy, start=s.t0)
        print(f"{time.strftime('%H:%M:%S')} picture: {path}", flush=True)
    except Exception as e:  # gnuplot missing, Prometheus without data yet
        print(f"{time.strftime('%H:%M:%S')} picture not written: {e}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(s, args):
    s.start()
    s.wait_scraped()
    print_guide(s, args.picture)
    end = time.monotonic() + args.duration * 60 if args.duration else None
    next_picture = time.monotonic() + args.picture_every * 60
    while end is None or time.monotonic() < end:
        time.sleep(1)
        s.check_alive()
        if time.monotonic() >= next_picture:
            picture(s, args.picture)
            next_picture += args.picture_every * 60


def summary(s):
    for name in sorted({a["labels"].get("alertname") for a in s.receiver.received()}):
        for group in s.apps:
            t = s.receiver.first(name, group)
            if t:
                print(f"  {name} for {group}: {(t - s.t0) / 60:.1f} minutes after the apps started")


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    options = stack.Options(
        build=args.build, rate=args.rate, mode=args.mode, walk_away=args.walk_away,
        leak_fraction=args.leak_fraction, session_bytes=args.session_bytes,
        limit_mib=args.limit_mib, healthy=not args.no_healthy,
        log=lambda line: print(line, flush=True))
    s = stack.Stack(options)
    status = 0
    try:
        run(s, args)
    except (KeyboardInterrupt, Stop):
        print("\nstopping", flush=True)
    except Exception as e:
        print(f"demo failed: {e}", file=sys.stderr, flush=True)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if s.started:
            picture(s, args.picture)
        if s.receiver:
            summary(s)
        s.stop()
        print("stopped everything", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
