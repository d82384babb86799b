"""Flags, --once, exit codes, config errors and reloads."""
import json
import os
import signal
import subprocess

from conftest import EXPORTER, sample_value, wait_for


def run(*args, timeout=60):
    return subprocess.run([EXPORTER, *args], capture_output=True, text=True, timeout=timeout)


def test_help_explains_every_flag_and_collector():
    r = run("--help")
    assert r.returncode == 0
    for flag in ("--web.listen-address", "--web.telemetry-path", "--web.max-requests",
                 "--config.file", "--collector.NAME", "--no-collector.NAME", "--path.procfs",
                 "--path.sysfs", "--log.level", "--log.format", "--once", "--version"):
        assert flag in r.stdout
    for name in ("process", "system", "self"):
        assert f"\n  {name} " in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("memtide_exporter ")


def test_bad_flags_exit_2():
    assert run("--no-such-flag").returncode == 2
    assert run("--web.max-requests=lots").returncode == 2
    assert run("--log.level=chatty").returncode == 2
    assert run("--collector.nosuch").returncode == 2


def test_once_prints_one_scrape():
    r = run("--once")
    assert r.returncode == 0
    assert sample_value(r.stdout, "memtide_exporter_build_info") == 1
    assert sample_value(r.stdout, "memtide_memory_total_bytes") > 0
    assert sample_value(r.stdout, "memtide_group_processes", group="memtide_exporte") >= 1


def test_disabled_collector_is_absent():
    r = run("--once", "--no-collector.process")
    assert r.returncode == 0
    assert "memtide_group_resident_bytes" not in r.stdout
    assert 'collector="process"' not in r.stdout
    assert "memtide_memory_total_bytes" in r.stdout


def test_json_logs_are_one_object_per_line(exporter_factory):
    e = exporter_factory("--log.format=json")
    lines = [json.loads(line) for line in e.read_log().splitlines()]
    assert any(line["msg"] == "listening" and line["level"] == "info" for line in lines)


def test_bad_config_exits_2_with_file_and_line(tmp_path):
    cfg = tmp_path / "memtide.yml"
    cfg.write_text("process:\n  groups:\n    - name: \"{comm}\"\n      colour: blue\n")
    r = run(f"--config.file={cfg}")
    assert r.returncode == 2
    assert f"{cfg}:4:" in r.stderr


def test_missing_config_exits_2(tmp_path):
    r = run(f"--config.file={tmp_path}/absent.yml")
    assert r.returncode == 2
    assert "absent.yml" in r.stderr


def test_sighup_reloads_and_keeps_old_config_when_new_is_bad(exporter_factory, processes, tmp_path):
    procs = processes("memtide-reload")
    cfg = tmp_path / "memtide.yml"
    cfg.write_text('process:\n  groups:\n    - name: "first-{comm}"\n      comm: "memtide-reload"\n')
    e = exporter_factory(f"--config.file={cfg}")
    assert sample_value(e.metrics(), "memtide_group_processes", group="first-memtide-reload") == 1

    cfg.write_text('process:\n  groups:\n    - name: "second-{comm}"\n      comm: "memtide-reload"\n')
    e.signal(signal.SIGHUP)
    wait_for(lambda: sample_value(e.metrics(), "memtide_group_processes",
                                  group="second-memtide-reload") == 1, what="reload")

    cfg.write_text("process:\n  groups: [\n")
    e.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in e.read_log(), what="failed reload to be logged")
    assert sample_value(e.metrics(), "memtide_group_processes", group="second-memtide-reload") == 1
    assert procs.pids


def test_sigterm_stops_cleanly(exporter_factory):
    e = exporter_factory()
    e.signal(signal.SIGTERM)
    assert e.proc.wait(timeout=30) == 0
    assert os.path.exists(EXPORTER)
