"""valgrind memcheck over 200 scrapes: no leaks, no errors."""
import signal
import socket

import pytest

from conftest import SCRAPE_TIMEOUT_HEADER, wait_for
from test_agent_collector import Program, program
from test_http import PROMETHEUS_2_ACCEPT
from test_web_config import (PASSWORD, bcrypt_hash, client_context, pki,  # noqa: F401 (fixtures)
                             refused, request, tls_config, web_config)

VALGRIND = ("valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite", "--error-exitcode=99", "--track-fds=no")


@pytest.mark.unsanitized(reason="valgrind does not run sanitized binaries")
def test_200_scrapes_under_memcheck(exporter_factory, processes, tmp_path):
    processes("memtide-vg", count=2, alloc_mib=4)
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for i in range(20):
        (sessions / f"sess_{i}").write_text("x" * i)
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    cfg = tmp_path / "memtide.yml"
    # Every collector runs: the session directory, and a port with a connection
    # on it, read through netlink and through /proc/net/tcp on alternate reloads.
    cfg.write_text('process:\n  pss_max_age: 0s\n  groups:\n'
                   '    - comm: "memtide-vg"\n      pss: true\n'
                   '    - name: "{comm}"\n'
                   f'sessions:\n  dirs:\n    - {{pool: vg, path: {sessions}, match: "sess_*", ttl: 24m}}\n'
                   f'  tcp:\n    pool: vg\n    ports: [{listener.getsockname()[1]}, 1]\n')
    # And the agent's: a preloaded program holding blocks, one that exits
    # half-way (its counters are retired), and session pools of a linked one.
    agent_dir = tmp_path / "shm"
    agent_dir.mkdir()
    holder = Program([program("hold_blocks"), "200"], str(agent_dir))
    leaver = Program([program("hold_blocks"), "50"], str(agent_dir))
    sessions_app = Program([program("sessions")], str(agent_dir), preload=False, until=None)
    sessions_app.proc.stdin.write("open 30\nclose 10\n")
    sessions_app.proc.stdin.flush()
    e = exporter_factory(f"--config.file={cfg}", f"--collector.agent.dir={agent_dir}",
                         wrapper=VALGRIND, ready_timeout=120)
    variants = ({}, {"Accept": PROMETHEUS_2_ACCEPT}, {"Accept-Encoding": "gzip"},
                {"Accept": PROMETHEUS_2_ACCEPT, "Accept-Encoding": "gzip"})
    for i in range(200):
        if i == 100:  # a reload in the middle frees one runtime and builds another
            cfg.write_text(cfg.read_text() + "    method: procfs\n")
            e.signal(signal.SIGHUP)
            wait_for(lambda: "config reloaded" in e.read_log(), timeout=60, what="reload")
            assert leaver.finish()[0] == 0
        status, _, _ = e.get("/metrics", timeout=120, headers={
            SCRAPE_TIMEOUT_HEADER: "100", **variants[i % len(variants)]})
        assert status == 200
    text = e.metrics()
    for collector in ("sessdir", "tcp", "agent"):
        assert f'memtide_scrape_collector_success{{collector="{collector}"}} 1' in text
    assert 'memtide_sessions_live{source="dir",pool="vg"} 20' in text
    assert 'memtide_sessions_live{source="tcp",pool="vg"} 1' in text
    assert 'memtide_sessions_live{source="agent",group="sessions",pool="web"} 20' in text
    assert 'memtide_agent_processes{group="hold_blocks"} 1' in text
    for p in (holder, sessions_app):
        assert p.finish()[0] == 0
    for s in (client, accepted, listener):
        s.close()
    e.signal(signal.SIGTERM)
    assert e.proc.wait(timeout=120) == 0, e.read_log()
    assert "definitely lost" not in e.read_log()


@pytest.mark.unsanitized(reason="valgrind does not run sanitized binaries")
def test_tls_and_basic_auth_under_memcheck(exporter_factory, tmp_path, pki, bcrypt_hash):
    """Handshakes, client certificates, passwords right and wrong, and a reload
    that swaps the listeners: nothing lost, no errors."""
    web = web_config(tmp_path, tls_config(pki, client_auth="VerifyClientCertIfGiven") +
                     f"basic_auth_users:\n  prometheus: '{bcrypt_hash}'\n")
    e = exporter_factory(f"--web.config.file={web}", "--no-collector.process",
                         wrapper=VALGRIND, ready_timeout=120)
    for i in range(30):
        if i == 15:
            e.signal(signal.SIGHUP)
            wait_for(lambda: "web config reloaded" in e.read_log(), timeout=60, what="reload")
        cert = "client" if i % 2 else None
        password = PASSWORD if i % 3 else "wrong"
        status, _, _ = request(e, ctx=client_context(pki, cert), auth=("prometheus", password),
                               timeout=120)
        assert status == (200 if i % 3 else 401)
    assert refused(e, client_context(pki, "rogue"))
    e.signal(signal.SIGTERM)
    assert e.proc.wait(timeout=120) == 0, e.read_log()
    assert "definitely lost" not in e.read_log()
