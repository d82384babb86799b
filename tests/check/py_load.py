"""One cycle of load for py_server.py: N GET requests to $MEMTIDE_CHECK_PORT."""
import os
import sys
import urllib.request

port = os.environ["MEMTIDE_CHECK_PORT"]
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 50):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
        r.read()
