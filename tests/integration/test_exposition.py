"""Both exposition formats read by real parsers: promtool and prometheus_client."""
import subprocess

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from test_http import PROMETHEUS_2_ACCEPT

CONTRACT_FAMILIES = {
    "memtide_group_processes", "memtide_group_resident_bytes", "memtide_group_anonymous_bytes",
    "memtide_group_swap_bytes", "memtide_group_virtual_bytes",
    "memtide_group_max_process_resident_bytes", "memtide_group_oldest_start_time_seconds",
    "memtide_group_memory_limit_bytes", "memtide_group_open_fds", "memtide_group_threads",
    "memtide_memory_total_bytes", "memtide_memory_available_bytes", "memtide_swap_total_bytes",
    "memtide_swap_free_bytes", "process_resident_memory_bytes", "process_open_fds",
    "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes",
    "memtide_exporter_build_info", "memtide_scrape_collector_duration_seconds",
    "memtide_scrape_collector_success",
}


def test_promtool_check_metrics_is_silent(exporter):
    text = exporter.metrics()
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""


def test_text_format_parses_with_every_contract_family(exporter):
    families = {f.name: f for f in parse_text(exporter.metrics())}
    assert CONTRACT_FAMILIES <= set(families)
    assert families["process_cpu_seconds"].type == "counter"
    assert families["memtide_group_resident_bytes"].type == "gauge"


def test_openmetrics_parses_with_every_contract_family(exporter):
    text = exporter.metrics(headers={"Accept": PROMETHEUS_2_ACCEPT})
    families = {f.name: f for f in parse_openmetrics(text)}
    assert CONTRACT_FAMILIES <= set(families)
    assert families["process_cpu_seconds"].type == "counter"
    assert families["process_cpu_seconds"].samples[0].name == "process_cpu_seconds_total"
