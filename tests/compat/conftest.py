"""The integration tests' helpers (exporter, waiting, ports), for the
compatibility matrix, which has its own directory and make target."""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "memtide_integration_conftest",
    os.path.join(os.path.dirname(__file__), "..", "integration", "conftest.py"))
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

BUILD = _integration.BUILD
Exporter = _integration.Exporter
free_port = _integration.free_port
sample_value = _integration.sample_value
stop_process = _integration.stop_process
wait_for = _integration.wait_for
