"""Slow clients from many addresses against one scraper.

1,000 connections from 16 loopback addresses (127.0.0.2..17) each send a
request line and then trickle a byte of header at a time, and reconnect as
soon as they are closed. A scrape on a connection of its own must still
succeed within Prometheus' 10 s timeout, and the exporter's threads and
memory stay bounded. No speed is asserted.
"""
import resource
import selectors
import socket
import threading
import time

from conftest import sample_value

CONNECTIONS = 1000
ADDRESSES = [f"127.0.0.{i}" for i in range(2, 18)]


class Trickler:
    """Keeps CONNECTIONS slow connections open from one thread."""

    def __init__(self, host, port):
        self.target = (host, int(port))
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self.run)

    def open_one(self, i):
        s = socket.socket()
        s.setblocking(False)
        s.bind((ADDRESSES[i % len(ADDRESSES)], 0))
        try:
            s.connect(self.target)
        except BlockingIOError:
            pass
        self.sel.register(s, selectors.EVENT_READ, i)
        self.opened += 1
        return s

    def run(self):
        socks = {i: self.open_one(i) for i in range(CONNECTIONS)}
        sent = {i: False for i in socks}
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                i = key.data
                try:
                    if key.fileobj.recv(4096):
                        continue
                except OSError:
                    pass
                # Closed by the server: reconnect at once.
                self.sel.unregister(key.fileobj)
                key.fileobj.close()
                socks[i] = self.open_one(i)
                sent[i] = False
            for i, s in socks.items():
                try:
                    s.send(b"GET / HTTP/1.1\r\n" if not sent[i] else b"X")
                    sent[i] = True
                except OSError:
                    pass
            time.sleep(0.5)
        for s in socks.values():
            self.sel.unregister(s)
            s.close()


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def test_slow_clients_from_many_addresses_cannot_lock_out_a_scraper(exporter_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    e = exporter_factory("--no-collector.process")
    host, port = e.address.rsplit(":", 1)
    t = Trickler(host, port)
    t.thread.start()
    try:
        deadline = time.monotonic() + 60
        while t.opened < CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # every slot taken, trickling
        for _ in range(3):
            status, _, body = e.get(headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"},
                                    timeout=10)
            assert status == 200 and b"memtide_scrape_collector_success" in body
            assert threads_of(e.proc.pid) < 384 + 64
        text = body.decode()
        assert sample_value(text, "memtide_http_connections_evicted_total") > 0
        assert sample_value(text, "process_resident_memory_bytes") < 512 << 20
    finally:
        t.stop.set()
        t.thread.join(timeout=60)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
