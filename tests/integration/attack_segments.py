"""Hostile files in the agent directory, written as an unprivileged user.

Run as a script (by the attacker, through `python3 -c`, so that it need not be
readable by that user): `sparse DIR N` starts N sleeping children and gives
each a 64 MiB sparse segment whose header claims everything in use, plus
files named after its own threads; `junk DIR N FIRST` writes N junk segments
for pids that are not alive and one whose heartbeat is far in the future.
Either prints "ready" when done and waits for stdin to close.
"""
import os
import struct
import subprocess
import sys
import threading

MAGIC = 0x01454449544D454D
HEADER = 256
BIG = 64 << 20


def header(pid, total, geometry=0xFFFFFFFF, heartbeat=0, heartbeat_at=0):
    """A header that passes magic, version and ready; geometry fields as given."""
    h = bytearray(HEADER)
    struct.pack_into("<QIIIIQII", h, 0, MAGIC, 1, 1, HEADER, 1, total, pid, 7)
    struct.pack_into("<QQ", h, 64, heartbeat, heartbeat_at)
    struct.pack_into("<IIQQII", h, 80, geometry, geometry, 0, 0, geometry, 0)
    struct.pack_into("<IIQI", h, 112, geometry, geometry, 0, geometry)
    return bytes(h)


def write(path, data, size):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def sparse(d, n):
    children = [subprocess.Popen(["sleep", "600"]) for _ in range(n)]
    for c in children:
        write(os.path.join(d, f"memtide.{c.pid}"), header(c.pid, BIG), BIG)
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        write(os.path.join(d, f"memtide.{t.native_id}"), header(t.native_id, BIG), BIG)
    return lambda: (stop.set(), [c.kill() for c in children], [c.wait() for c in children])


def junk(d, n, first):
    for pid in range(first, first + n):
        write(os.path.join(d, f"memtide.{pid}"), b"", 0)
    future = first + n
    write(os.path.join(d, f"memtide.{future}"),
          header(future, 4096, geometry=0, heartbeat=1, heartbeat_at=1 << 39), 4096)
    return lambda: None


if __name__ == "__main__":
    mode, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    done = sparse(d, n) if mode == "sparse" else junk(d, n, int(sys.argv[4]))
    print("ready", flush=True)
    sys.stdin.read()
    done()
