"""Whatever arrives on the listening socket, the exporter stays up and keeps answering."""
import errno
import socket

import pytest

HOSTILE = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 4,
    "no_version": b"GET /metrics\r\n\r\n",
    "bad_method": b"\x00\x01\x02 /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    "header_without_colon": b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n",
    "huge_header": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "many_headers": b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 20_000 + b"\r\n",
    "huge_path": b"GET /" + b"m" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul_in_path": b"GET /met\x00rics HTTP/1.1\r\nHost: x\r\n\r\n",
    "body_on_get": b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "lying_length": b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nab",
    "bad_chunks": b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "pipelined": b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n" * 50,
    "scrape_timeout_nonsense": b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                               b"X-Prometheus-Scrape-Timeout-Seconds: -1e309\r\n\r\n",
    "accept_nonsense": b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: ;;;q=,=;,*/*;q=nan\r\n"
                       b"Accept-Encoding: gzip;q=-1, ,;\r\n\r\n",
    "half_request_then_close": b"GET /metrics HTTP/1.1\r\nHo",
}


def send(address, payload):
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass  # refusing the request by closing is an answer too
        except OSError as e:
            # Closed before this end shut down its side (a slow sanitized run
            # is still sending when the exporter has answered and closed).
            if e.errno != errno.ENOTCONN:
                raise


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_request_leaves_the_exporter_serving(exporter, name):
    send(exporter.address, HOSTILE[name])
    assert exporter.proc.poll() is None, exporter.read_log()
    status, _, body = exporter.get("/-/healthy")
    assert (status, body) == (200, b"OK\n")
    assert "memtide_scrape_collector_success" in exporter.metrics()


def test_one_address_cannot_take_every_connection(exporter):
    """Connections that trickle a byte now and then never go silent long enough
    to time out; one client address may hold only so many of them."""
    host, port = exporter.address.rsplit(":", 1)
    held = []
    try:
        for _ in range(300):  # more than the exporter's whole connection limit
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(10)
            s.connect((host, int(port)))
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            held.append(s)
        status, _, _ = exporter.get("/-/healthy", timeout=10)
        assert status == 200
        assert "memtide_scrape_collector_success" in exporter.metrics()
    finally:
        for s in held:
            s.close()
