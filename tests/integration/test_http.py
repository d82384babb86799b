"""The HTTP contract: paths, methods, content negotiation, gzip, limits."""
import concurrent.futures
import gzip

from conftest import sample_value

PROMETHEUS_2_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                       "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def test_landing_page_links_metrics_and_lists_collectors(exporter):
    status, headers, body = exporter.get("/")
    page = body.decode()
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert 'href="/metrics"' in page
    for name in ("process", "system", "self"):
        assert f"<b>{name}</b> on" in page
    assert "no config file" in page


def test_healthy(exporter):
    status, headers, body = exporter.get("/-/healthy")
    assert (status, body) == (200, b"OK\n")
    assert "Content-Type" in headers


def test_unknown_path_is_404_and_other_methods_405(exporter):
    status, headers, _ = exporter.get("/nope")
    assert status == 404 and "Content-Type" in headers
    status, headers, _ = exporter.get("/metrics", method="POST")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_text_format_by_default(exporter):
    status, headers, body = exporter.get("/metrics")
    assert status == 200
    assert headers["Content-Type"] == TEXT_TYPE
    assert b"# EOF" not in body
    assert b"# TYPE memtide_group_resident_bytes gauge" in body


def test_openmetrics_when_prometheus_prefers_it(exporter):
    status, headers, body = exporter.get("/metrics", headers={"Accept": PROMETHEUS_2_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == OPENMETRICS_TYPE
    assert body.endswith(b"# EOF\n")
    assert b"# TYPE process_cpu_seconds counter" in body
    assert b"\nprocess_cpu_seconds_total " in body


def test_text_when_openmetrics_has_a_lower_q(exporter):
    accept = "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9"
    _, headers, _ = exporter.get("/metrics", headers={"Accept": accept})
    assert headers["Content-Type"] == TEXT_TYPE


def test_disabled_openmetrics_answers_text(exporter_factory):
    e = exporter_factory("--web.disable-openmetrics")
    _, headers, _ = e.get("/metrics", headers={"Accept": PROMETHEUS_2_ACCEPT})
    assert headers["Content-Type"] == TEXT_TYPE


def test_gzip_round_trip(exporter):
    status, headers, body = exporter.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == TEXT_TYPE
    text = gzip.decompress(body).decode()
    assert "memtide_group_resident_bytes" in text
    _, headers, _ = exporter.get("/metrics", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in headers


def test_head_has_headers_and_no_body(exporter):
    status, headers, body = exporter.get("/metrics", method="HEAD")
    assert status == 200
    assert headers["Content-Type"] == TEXT_TYPE
    assert body == b""


def test_custom_telemetry_path(exporter_factory):
    e = exporter_factory("--web.telemetry-path=/probe")
    assert e.get("/probe")[0] == 200
    assert e.get("/metrics")[0] == 404
    assert 'href="/probe"' in e.get("/")[2].decode()


def test_scrape_answers_by_the_announced_timeout(exporter, processes):
    # A microsecond: the deadline has passed before any collector can run,
    # however fast the machine, so the outcome does not depend on its speed.
    processes("memtide-crowd", count=100)
    status, _, body = exporter.get("/metrics",
                                   headers={"X-Prometheus-Scrape-Timeout-Seconds": "0.000001"})
    text = body.decode()
    assert status == 200
    assert sample_value(text, "memtide_scrape_collector_success", collector="process") == 0
    assert sample_value(text, "memtide_scrape_errors_total", collector="process", reason="deadline") >= 1
    # The next scrape, with time enough, is whole again.
    text = exporter.metrics()
    assert sample_value(text, "memtide_scrape_collector_success", collector="process") == 1


def test_max_requests_answers_503_past_the_limit(exporter_factory, processes):
    processes("memtide-crowd", count=100)
    e = exporter_factory("--web.max-requests=1")
    seen = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        for _ in range(20):  # bounded: a few rounds of 12 concurrent scrapes
            seen |= {r[0] for r in pool.map(lambda _: e.get("/metrics"), range(12))}
            if seen >= {200, 503}:
                break
    assert seen == {200, 503}
