#!/usr/bin/env python3
"""memtide benchmarks: each measures against its peer in the same run; together
they write docs/benchmarks.md. Not tests: nothing here passes or fails on a time.

Every module named in SECTIONS has run(build) returning a markdown section.
"""
import argparse
import importlib
import os
import platform
import sys
import time

SECTIONS = ["process_bench", "agent_bench", "sessions_bench"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", required=True, help="the build directory")
    ap.add_argument("--out", required=True, help="the markdown file to write")
    ap.add_argument("--only", action="append", help="run only this section (repeatable)")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    doc = ["# Benchmarks", "",
           "Written by `make bench` (`bench/run.py`); figures from one run on this machine: "
           f"{os.cpu_count()} cores, Linux {platform.release()}, "
           f"{time.strftime('%Y-%m-%d', time.gmtime())}. Benchmarks measure; no test asserts a time.",
           ""]
    for name in args.only or SECTIONS:
        section = importlib.import_module(name).run(args.build)
        print(section, flush=True)
        doc.append(section)
    with open(args.out, "w") as f:
        f.write("\n".join(doc))


if __name__ == "__main__":
    main()
