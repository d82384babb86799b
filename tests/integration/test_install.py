"""make install puts the exporter where PREFIX and DESTDIR say."""
import os
import subprocess

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_install_honours_prefix_and_destdir(tmp_path):
    build = os.environ.get("MEMTIDE_BUILD", os.path.join(ROOT, "build"))
    r = subprocess.run(["make", "-s", "-C", ROOT, f"BUILD={build}",
                        f"SAN={os.environ.get('MEMTIDE_SAN', '')}", "install",
                        f"DESTDIR={tmp_path}", "PREFIX=/opt/memtide"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    exporter = tmp_path / "opt/memtide/bin/memtide_exporter"
    assert os.access(exporter, os.X_OK)
    assert subprocess.run([exporter, "--version"], capture_output=True, timeout=30).returncode == 0
    share = tmp_path / "opt/memtide/share/memtide"
    for name in ("memtide.example.yml", "web-config.example.yml", "memtide.rules.yml",
                 "alertmanager.example.yml"):
        assert (share / name).exists(), name
    assert (tmp_path / "opt/memtide/include/memtide.h").exists()
    assert os.path.exists(tmp_path / "opt/memtide/lib/libmemtide.so")
    assert "-lmemtide" in (tmp_path / "opt/memtide/lib/pkgconfig/memtide.pc").read_text()
    assert len(list((share / "dashboards").glob("*.json"))) == 3
    assert (tmp_path / "opt/memtide/share/man/man1/memtide_exporter.1").exists()
    assert (tmp_path / "opt/memtide/share/man/man3/libmemtide.3").exists()
    check = tmp_path / "opt/memtide/bin/memtide-check"
    assert os.access(check, os.X_OK)
    assert subprocess.run([check, "--help"], capture_output=True, timeout=30).returncode == 0
    assert (tmp_path / "opt/memtide/share/man/man1/memtide-check.1").exists()
    unit = (tmp_path / "opt/memtide/lib/systemd/system/memtide-exporter.service").read_text()
    assert "ExecStart=/opt/memtide/bin/memtide_exporter" in unit
    assert (tmp_path / "opt/memtide/lib/sysusers.d/memtide.conf").exists()
