"""The tcp collector against real loopback connections and what ss reports."""
import json
import os
import socket
import subprocess

import pytest

from conftest import EXPORTER, sample_value, wait_for

STATES = ("established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait", "close",
          "close_wait", "last_ack", "closing", "new_syn_recv")
# ss's names for the states, as -H -a prints them in its first column.
SS_STATES = {"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv",
             "FIN-WAIT-1": "fin_wait1", "FIN-WAIT-2": "fin_wait2", "TIME-WAIT": "time_wait",
             "UNCONN": "close", "CLOSE-WAIT": "close_wait", "LAST-ACK": "last_ack",
             "CLOSING": "closing"}


def ss_counts(port):
    """Sockets whose local port is `port`, by state, listeners left out, as ss sees them."""
    out = subprocess.run(["ss", "-Htan", f"sport = :{port}"], check=True, capture_output=True,
                         text=True).stdout
    counts = dict.fromkeys(STATES, 0)
    for line in out.splitlines():
        state = line.split()[0]
        if state != "LISTEN":
            counts[SS_STATES[state]] += 1
    return counts


def ss_established_on(ports):
    """Established sockets whose local port is one of ports, from one ss call."""
    out = subprocess.run(["ss", "-Htan", "state", "established"], check=True,
                         capture_output=True, text=True).stdout
    wanted = set(ports)
    return sum(1 for line in out.splitlines() if int(line.split()[2].rsplit(":", 1)[1]) in wanted)


def exported_counts(text, port):
    return {s: sample_value(text, "memtide_tcp_connections", port=str(port), state=s) for s in STATES}


class Server:
    """A listening socket and the connections made to it, both ends held by the test."""

    def __init__(self, family, host):
        self.family = family
        self.listener, self.placeholders = self._listen_on_unused_port(family, host)
        self.address = self.listener.getsockname()[:2]
        self.port = self.address[1]
        self.pairs = []  # (client, accepted)

    @staticmethod
    def _listen_on_unused_port(family, host):
        """A listener on a port that no other socket uses now or can take later,
        in either family.

        The collector counts by port alone, as configured. A port that the
        kernel hands to ::1 may still carry TIME_WAIT sockets of an earlier
        127.0.0.1 connection, and a server of another test (on CI the
        end-to-end test's, beside this one) may be given the same port number
        on another address or family, which would make the counts the test
        expects wrong. So the port is reserved first on the wildcard address
        of both families (bound, never listening: nothing is exposed), and
        taken only if no socket is on it yet."""
        for _ in range(50):
            placeholders = Server._reserve_port()
            if placeholders is None:
                continue
            port = placeholders[0].getsockname()[1]
            if sum(ss_counts(port).values()) == 0:
                listener = socket.socket(family, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((host, port))
                listener.listen(128)
                return listener, placeholders
            for s in placeholders:
                s.close()
        raise AssertionError("no port free of other sockets in 50 tries")

    @staticmethod
    def _reserve_port():
        """Sockets bound to 0.0.0.0:P and, where there is IPv6, [::]:P (IPv6
        only), with SO_REUSEADDR so that the test's own listener may still take
        P on a loopback address: other programs cannot bind P or be handed it."""
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("0.0.0.0", 0))
        held = [v4]
        if socket.has_ipv6:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                v6.bind(("::", v4.getsockname()[1]))
                held.append(v6)
            except OSError:
                v6.close()
                if ipv6_loopback():  # taken in IPv6: the caller tries another
                    v4.close()
                    return None
        return held

    def connect(self, n):
        for _ in range(n):
            client = socket.create_connection(self.address)
            accepted, _ = self.listener.accept()
            self.pairs.append((client, accepted))
        return self.pairs[len(self.pairs) - n:]

    def close(self):
        for client, accepted in self.pairs:
            client.close()
            accepted.close()
        self.listener.close()
        for s in self.placeholders:
            s.close()


@pytest.fixture
def servers():
    made = []

    def make(family=socket.AF_INET, host="127.0.0.1"):
        s = Server(family, host)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def config(tmp_path, ports, method):
    cfg = tmp_path / f"memtide-{method}.yml"
    cfg.write_text(f"sessions:\n  tcp:\n    pool: web\n    ports: {list(ports)}\n    method: {method}\n")
    return cfg


def make_states(server, established, close_wait, time_wait):
    """Connections left established; CLOSE_WAIT: the client closed, the server did not;
    TIME_WAIT on the server's side: the server closed first, then the client."""
    server.connect(established)
    for client, _ in server.connect(close_wait):
        client.close()
    for client, accepted in server.connect(time_wait):
        accepted.close()
        client.close()
    wait_for(lambda: ss_counts(server.port)["close_wait"] == close_wait
             and ss_counts(server.port)["time_wait"] == time_wait, what="connections to settle")


@pytest.mark.parametrize("method", ["netlink", "procfs"])
def test_states_match_ss(exporter_factory, servers, tmp_path, method):
    v4 = servers()
    make_states(v4, established=5, close_wait=3, time_wait=2)
    other = servers()  # a configured port with nothing but a listener
    e = exporter_factory(f"--config.file={config(tmp_path, (v4.port, other.port), method)}",
                         "--no-collector.process")
    # Compared at a moment ss agrees (see test_netlink_and_procfs_agree).
    text = wait_for(lambda: (lambda t: t if exported_counts(t, v4.port) == ss_counts(v4.port)
                             else None)(e.metrics()), timeout=30, interval=0.2, what="ss to agree")
    assert sample_value(text, "memtide_scrape_collector_success", collector="tcp") == 1
    got = exported_counts(text, v4.port)
    # Only the accepted (server) sides have the local port; listeners never count.
    assert (got["established"], got["close_wait"], got["time_wait"]) == (5, 3, 2)
    assert exported_counts(text, other.port) == dict.fromkeys(STATES, 0)
    assert sample_value(text, "memtide_sessions_live", source="tcp", pool="web") == 5
    assert 'state="listen"' not in text


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("method", ["netlink", "procfs"])
def test_ipv6_counts_with_ipv4(exporter_factory, servers, tmp_path, method):
    v6 = servers(socket.AF_INET6, "::1")
    make_states(v6, established=4, close_wait=2, time_wait=0)
    v4 = servers()
    make_states(v4, established=1, close_wait=0, time_wait=0)
    e = exporter_factory(f"--config.file={config(tmp_path, (v6.port, v4.port), method)}",
                         "--no-collector.process")
    text = e.metrics()
    assert exported_counts(text, v6.port) == ss_counts(v6.port)
    assert exported_counts(text, v6.port)["established"] == 4
    assert exported_counts(text, v6.port)["close_wait"] == 2
    assert sample_value(text, "memtide_sessions_live", source="tcp", pool="web") == 5


def test_netlink_and_procfs_agree(exporter_factory, servers, tmp_path):
    v4 = servers()
    make_states(v4, established=7, close_wait=4, time_wait=3)
    ports = [v4.port]
    if ipv6_loopback():
        v6 = servers(socket.AF_INET6, "::1")
        make_states(v6, established=2, close_wait=1, time_wait=1)
        ports.append(v6.port)
    nl = exporter_factory(f"--config.file={config(tmp_path, ports, 'netlink')}", "--no-collector.process")
    pf = exporter_factory(f"--config.file={config(tmp_path, ports, 'procfs')}", "--no-collector.process")

    def agree():
        """Both methods and ss at one moment, or None. A program polling a
        port it expects to be its own (another test's readiness check) may
        briefly connect to this one: only a consistent moment is compared."""
        nl_text, pf_text = nl.metrics(), pf.metrics()
        return all(exported_counts(nl_text, port) == exported_counts(pf_text, port)
                   == ss_counts(port) for port in ports)

    wait_for(agree, timeout=30, interval=0.2, what="netlink, procfs and ss to agree")


@pytest.mark.parametrize("extra_ports", [100, 4200])
def test_many_ports(exporter_factory, servers, tmp_path, extra_ports):
    """Past 64 ports the kernel's filter is built on the heap; past 4096 it does not fit
    in a netlink attribute and sockets are sorted in the exporter instead."""
    v4 = servers()
    make_states(v4, established=3, close_wait=1, time_wait=0)
    ports = [p for p in range(1, extra_ports + 1) if p != v4.port] + [v4.port]
    for method in ("netlink", "procfs"):
        e = exporter_factory(f"--config.file={config(tmp_path, ports, method)}", "--no-collector.process")
        text = e.metrics()
        assert exported_counts(text, v4.port) == ss_counts(v4.port)
        assert text.count("memtide_tcp_connections{") == len(ports) * len(STATES)
        assert sample_value(text, "memtide_sessions_live", source="tcp", pool="web") == \
            ss_established_on(ports)


def test_connections_come_and_go(exporter_factory, servers, tmp_path):
    """Series stay while their counts move: a closed client turns established into close_wait."""
    v4 = servers()
    pairs = v4.connect(3)
    e = exporter_factory(f"--config.file={config(tmp_path, [v4.port], 'auto')}", "--no-collector.process")
    assert exported_counts(e.metrics(), v4.port)["established"] == 3
    pairs[0][0].close()
    text = wait_for(lambda: (lambda t: t if exported_counts(t, v4.port)["close_wait"] == 1 else None)(
        e.metrics()), what="close_wait")
    assert exported_counts(text, v4.port)["established"] == 2
    assert sample_value(text, "memtide_sessions_live", source="tcp", pool="web") == 2


# An LD_PRELOAD shim that refuses netlink sockets as a sandbox would.
NO_NETLINK_C = r"""
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
int socket(int domain, int type, int protocol)
{
	if (domain == AF_NETLINK) {
		errno = EACCES;
		return -1;
	}
	return (int)syscall(SYS_socket, domain, type, protocol);
}
"""


@pytest.fixture
def no_netlink(tmp_path):
    src = tmp_path / "no_netlink.c"
    src.write_text(NO_NETLINK_C)
    lib = tmp_path / "no_netlink.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return dict(os.environ, LD_PRELOAD=str(lib))


@pytest.mark.unsanitized(reason="the sanitizer runtime must be the first preloaded library")
def test_auto_falls_back_to_procfs_when_netlink_is_refused(exporter_factory, servers, tmp_path,
                                                            no_netlink):
    v4 = servers()
    make_states(v4, established=3, close_wait=2, time_wait=0)
    auto = exporter_factory(f"--config.file={config(tmp_path, [v4.port], 'auto')}",
                            "--no-collector.process", env=no_netlink)
    for _ in range(3):
        text = auto.metrics()
        assert sample_value(text, "memtide_scrape_collector_success", collector="tcp") == 1
        assert exported_counts(text, v4.port) == ss_counts(v4.port)
    # Refused once, remembered: the fallback is counted and logged once.
    assert sample_value(text, "memtide_scrape_errors_total", collector="tcp",
                        reason="netlink_refused") == 1
    assert auto.read_log().count("netlink sock_diag refused") == 1
    forced = exporter_factory(f"--config.file={config(tmp_path, [v4.port], 'netlink')}",
                              "--no-collector.process", env=no_netlink)
    text = forced.metrics()
    assert sample_value(text, "memtide_scrape_collector_success", collector="tcp") == 0
    assert sample_value(text, "memtide_tcp_connections", port=str(v4.port), state="established") is None


def tcp_line(sl, local, port, state, v6=False):
    """One line of /proc/net/tcp or tcp6 as the kernel prints it."""
    remote = ("0" * 32 if v6 else "0100007F") + ":D431"
    return (f"{sl:4d}: {local}:{port:04X} {remote} {state:02X} 00000000:00000000 00:00000000 "
            "00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1                     ")


def test_procfs_parsing_of_crafted_files(exporter_factory, tmp_path):
    """/proc/net/tcp and tcp6 written by the test (--path.procfs): every state, listeners,
    other ports, lowercase hex, malformed lines, a last line without its newline."""
    procfs = tmp_path / "proc"
    (procfs / "net").mkdir(parents=True)
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
    v4 = [header, tcp_line(0, "0100007F", 8080, 0x0A)]           # the listener: not counted
    states = {1: 5, 2: 1, 3: 2, 4: 1, 5: 1, 6: 3, 7: 1, 8: 4, 9: 1, 11: 1}
    for state, n in states.items():
        v4 += [tcp_line(len(v4), "0100007F", 8080, state) for _ in range(n)]
    v4.append(tcp_line(len(v4), "0100007F", 8081, 1))            # another port
    v4.append(tcp_line(len(v4), "0100007F", 443, 1).lower())     # lowercase hex, port 443
    v4.append("  99: garbage")
    v4.append("")
    v6 = [header, tcp_line(0, "0" * 31 + "1", 8080, 0x0A, v6=True)]
    v6 += [tcp_line(i + 1, "0" * 31 + "1", 8080, 8, v6=True) for i in range(2)]
    v6.append(tcp_line(3, "0" * 31 + "1", 8080, 1, v6=True))
    (procfs / "net" / "tcp").write_text("\n".join(v4) + "\n")
    (procfs / "net" / "tcp6").write_text("\n".join(v6))      # no final newline
    e = exporter_factory(f"--config.file={config(tmp_path, [8080, 443], 'procfs')}",
                         f"--path.procfs={procfs}", "--no-collector.process", "--no-collector.self")
    text = e.metrics()
    assert sample_value(text, "memtide_scrape_collector_success", collector="tcp") == 1
    expected = dict.fromkeys(STATES, 0)
    for state, n in states.items():
        expected[STATES[[1, 2, 3, 4, 5, 6, 7, 8, 9, 11].index(state)]] = n
    expected["close_wait"] += 2
    expected["established"] += 1
    assert exported_counts(text, 8080) == expected
    assert exported_counts(text, 443)["established"] == 1
    assert sample_value(text, "memtide_sessions_live", source="tcp", pool="web") == 5 + 1 + 1
    # A kernel without IPv6 has no tcp6 file: IPv4 alone is counted.
    (procfs / "net" / "tcp6").unlink()
    text = e.metrics()
    assert sample_value(text, "memtide_scrape_collector_success", collector="tcp") == 1
    assert sample_value(text, "memtide_sessions_live", source="tcp", pool="web") == 5 + 1


BAD_CONFIGS = [
    ("sessions:\n  tcp:\n    pool: web\n    ports: [80, 70000]\n", 4,
     'ports: expected a port 1..65535, got "70000"'),
    ("sessions:\n  tcp:\n    pool: web\n    ports: [0]\n", 4, 'ports: expected a port 1..65535, got "0"'),
    ("sessions:\n  tcp:\n    pool: web\n    ports:\n      - 80\n      - 443\n      - 80\n", 7,
     "ports: duplicate port 80 (first at line 5)"),
    ("sessions:\n  tcp:\n    pool: web\n    ports: []\n", 4, "ports: empty list"),
    ("sessions:\n  tcp:\n    pool: web\n    ports: 80\n", 4, "ports: expected a list of ports, got a scalar"),
    ("sessions:\n  tcp:\n    ports: [80]\n", 3, 'sessions.tcp: missing required key "pool"'),
    ("sessions:\n  tcp:\n    pool: web\n", 3, 'sessions.tcp: missing required key "ports"'),
    ("sessions:\n  tcp:\n    pool: web\n    ports: [80]\n    method: ioctl\n", 5,
     'method: expected auto, netlink or procfs, got "ioctl"'),
    ("sessions:\n  tcp:\n    pool: web\n    ports: [80]\n    port: 81\n", 5,
     'unknown key "port" in sessions.tcp (expected one of: pool, ports, method)'),
]


@pytest.mark.parametrize("body,line,message", BAD_CONFIGS)
def test_config_errors_exit_2_with_file_and_line(tmp_path, body, line, message):
    cfg = tmp_path / "memtide.yml"
    cfg.write_text(body)
    r = subprocess.run([EXPORTER, f"--config.file={cfg}", "--once", "--log.format=json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert json.loads(r.stderr.splitlines()[-1])["err"].startswith(f"{cfg}:{line}: {message}")
