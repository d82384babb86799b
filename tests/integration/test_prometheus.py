"""A real Prometheus scrapes the exporter with both protocols."""
from conftest import wait_for


def test_prometheus_scrapes_both_formats_and_sees_group_memory(exporter_factory, prometheus_factory, processes):
    procs = processes("memtide-prom", count=2, alloc_mib=30)
    openmetrics = exporter_factory()
    text = exporter_factory("--web.disable-openmetrics")
    prom = prometheus_factory({"memtide_om": openmetrics.address, "memtide_text": text.address})
    for job in ("memtide_om", "memtide_text"):
        wait_for(lambda: prom.value(f'up{{job="{job}"}}') == 1, timeout=60, what=f"{job} up")
        got = wait_for(lambda: prom.value(
            f'memtide_group_resident_bytes{{job="{job}",group="memtide-prom"}}'),
            timeout=60, what=f"{job} group memory")
        expected = procs.status_kib("VmRSS")
        assert abs(got - expected) <= 0.10 * expected, (job, got, expected)
    # Counters keep their type through OpenMetrics: rate() works on them.
    wait_for(lambda: prom.query('rate(process_cpu_seconds_total{job="memtide_om"}[5s])'),
             timeout=60, what="a rate over the exporter's cpu counter")
