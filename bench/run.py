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

SECTIONS = ["process_bench", "agent_bench", "sites_bench", "sessions_bench", "hostile_bench"]


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
    sections = previous_sections(args.out) if args.only else {}
    for name in args.only or SECTIONS:
        sections[name] = importlib.import_module(name).run(args.build)
        print(sections[name], flush=True)
    doc += [sections[name] for name in SECTIONS if name in sections]
    with open(args.out, "w") as f:
        f.write("\n".join(doc))


def previous_sections(path):
    """The sections of an earlier run, by module, so that --only replaces just its own."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    chunks = ["## " + c for c in text.split("\n## ")[1:]]
    found = {}
    for name in SECTIONS:
        heading = importlib.import_module(name).HEADING
        for chunk in chunks:
            if chunk.startswith(heading):
                found[name] = chunk
    return found


if __name__ == "__main__":
    main()
