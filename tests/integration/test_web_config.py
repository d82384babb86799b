"""--web.config.file: TLS, client certificates, basic authentication and headers.

Certificates come from openssl, hashes from libcrypt (Python's crypt module),
and the clients are Python's ssl and a real Prometheus.
"""
import base64
import http.client
import re
import signal
import ssl
import subprocess
import threading
import time
import warnings
from pathlib import Path

import pytest

from conftest import EXPORTER, sample_value, wait_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # libcrypt's bcrypt, what the exporter checks hashes with

PASSWORD = "s3cret-passw0rd"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue(dir, name, subject, ca, ext):
    """A P-256 key and a certificate for it, signed by ca (or self-signed when ca is None)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={subject}", cwd=dir)
    (dir / f"{name}.ext").write_text(ext)
    signer = ["-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial"] if ca else \
        ["-signkey", f"{name}.key"]
    openssl("x509", "-req", "-in", f"{name}.csr", *signer, "-out", f"{name}.crt", "-days", "2",
            "-extfile", f"{name}.ext", cwd=dir)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=memtide test CA",
            cwd=d)
    issue(d, "server", "localhost", "ca",
          "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    issue(d, "client", "prometheus", "ca", "extendedKeyUsage=clientAuth\n")
    issue(d, "rogue", "prometheus", None, "extendedKeyUsage=clientAuth\n")
    return d


@pytest.fixture(scope="module")
def bcrypt_hash():
    return crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024))


def web_config(dir, text, name="web.yml"):
    path = dir / name
    path.write_text(text)
    return path


def tls_config(pki, client_auth=None, extra=""):
    text = f"tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
    if client_auth:
        text += f"  client_auth_type: {client_auth}\n"
        if "Verify" in client_auth:
            text += f"  client_ca_file: {pki}/ca.crt\n"
    return text + extra


def client_context(pki, cert=None, max_version=None):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def request(exporter, path="/metrics", ctx=None, auth=None, timeout=20):
    """(status, headers, body) over HTTPS when ctx is given, else plain HTTP."""
    host, port = exporter.address.rsplit(":", 1)
    conn = http.client.HTTPSConnection("localhost", int(port), context=ctx, timeout=timeout) \
        if ctx else http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def refused(exporter, ctx):
    """True when the TLS handshake, or the connection right after it, fails."""
    try:
        request(exporter, ctx=ctx)
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
        return True
    return False


def test_basic_auth_asks_for_and_checks_credentials(exporter_factory, tmp_path, bcrypt_hash):
    cfg = web_config(tmp_path, f"basic_auth_users:\n  prometheus: '{bcrypt_hash}'\n"
                               "http_server_config:\n  headers:\n"
                               "    X-Content-Type-Options: nosniff\n")
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    for path in ("/metrics", "/", "/-/healthy"):
        status, headers, _ = request(e, path)
        assert status == 401
        assert headers["www-authenticate"].startswith("Basic")
        assert headers["x-content-type-options"] == "nosniff"
    assert request(e, auth=("prometheus", "wrong"))[0] == 401
    assert request(e, auth=("nobody", PASSWORD))[0] == 401
    assert request(e, auth=("prometheus", PASSWORD + "x"))[0] == 401
    status, headers, body = request(e, auth=("prometheus", PASSWORD))
    assert status == 200
    assert headers["x-content-type-options"] == "nosniff"
    assert sample_value(body.decode(), "memtide_scrape_collector_success", collector="self") == 1


def auth_checks(e, auth):
    text = request(e, auth=auth)[2].decode()
    return {r: sample_value(text, "memtide_auth_checks_total", result=r)
            for r in ("cached", "bcrypt", "busy")}


def test_wrong_user_and_wrong_password_do_the_same_work(exporter_factory, tmp_path, bcrypt_hash):
    """Structure, not speed: an unknown user runs a bcrypt as a wrong password
    does (docs/reliability.md has the times, from bench/auth_bench.py)."""
    cfg = web_config(tmp_path, f"basic_auth_users:\n  prometheus: '{bcrypt_hash}'\n")
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    good = ("prometheus", PASSWORD)
    assert request(e, auth=good)[0] == 200
    before = auth_checks(e, good)
    assert request(e, "/-/healthy", auth=("nobody", "x"))[0] == 401
    assert request(e, "/-/healthy", auth=("prometheus", "x"))[0] == 401
    after = auth_checks(e, good)
    assert after["bcrypt"] - before["bcrypt"] == 2
    assert after["cached"] - before["cached"] == 1  # the counting scrape itself
    assert after["busy"] == before["busy"]


def test_flood_of_wrong_credentials_does_not_delay_remembered_ones(exporter_factory, tmp_path,
                                                                   bcrypt_hash):
    """64 connections from another address send unknown users and wrong
    passwords without pause; scrapes with credentials already verified still
    answer within Prometheus' 10 s timeout, and bcrypt runs one at a time."""
    costly = crypt.crypt("other", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=4096))
    cfg = web_config(tmp_path, f"basic_auth_users:\n  prometheus: '{bcrypt_hash}'\n"
                               f"  admin: '{costly}'\n")
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    good = ("prometheus", PASSWORD)
    assert request(e, auth=good)[0] == 200
    host, port = e.address.rsplit(":", 1)
    stop = threading.Event()
    statuses = []

    def flood(i):
        auth = ("nobody%d" % i, "x") if i % 2 else ("admin", "wrong%d" % i)
        header = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}
        while not stop.is_set():
            conn = http.client.HTTPConnection(host, int(port), timeout=60,
                                              source_address=("127.0.0.2", 0))
            try:
                conn.request("GET", "/metrics", headers=header)
                statuses.append(conn.getresponse().status)
            except OSError:
                statuses.append(None)
            finally:
                conn.close()

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: auth_checks(e, good)["busy"] > 0, timeout=60,
                 what="the flood to queue bcrypt checks")
        for _ in range(5):
            status, _, body = request(e, auth=good, timeout=10)
            assert status == 200 and b"memtide_scrape_collector_success" in body
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    # Never let in; a rejection waiting out its padding may be closed instead
    # when the flood holds too many connections (conn_guard.h).
    assert 401 in statuses and set(statuses) <= {401, None}, set(statuses)


def test_tls_handshake_with_the_configured_certificate(exporter_factory, tmp_path, pki):
    e = exporter_factory(f"--web.config.file={web_config(tmp_path, tls_config(pki))}",
                         "--no-collector.process")
    status, _, body = request(e, ctx=client_context(pki))
    assert status == 200 and b"memtide_scrape_collector_success" in body
    # Plain HTTP on a TLS port gets no metrics.
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        request(e)


def test_min_version_refuses_older_clients(exporter_factory, tmp_path, pki):
    cfg = web_config(tmp_path, tls_config(pki, extra="  min_version: TLS13\n"))
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    assert refused(e, client_context(pki, max_version=ssl.TLSVersion.TLSv1_2))
    assert request(e, ctx=client_context(pki))[0] == 200


@pytest.mark.parametrize("policy,none,rogue,trusted", [
    ("RequireAndVerifyClientCert", False, False, True),
    ("VerifyClientCertIfGiven", True, False, True),
    ("RequireAnyClientCert", False, True, True),
    ("RequestClientCert", True, True, True),
])
def test_client_certificate_policies(exporter_factory, tmp_path, pki, policy, none, rogue,
                                     trusted):
    cfg = web_config(tmp_path, tls_config(pki, client_auth=policy))
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    for cert, allowed in ((None, none), ("rogue", rogue), ("client", trusted)):
        assert refused(e, client_context(pki, cert)) == (not allowed), (policy, cert)


BAD_CONFIGS = [
    ("tls_server_config:\n  cert_file: server.crt\n", ":2: tls_server_config: missing key_file"),
    ("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
     "cert_file /nonexistent.crt: No such file or directory"),
    ("tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/client.key\n",
     "cannot use the certificate"),
    ("tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
     "  client_auth_type: RequireAndVerifyClientCert\n", ":4: client_auth_type verifies"),
    ("tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
     "  client_auth_type: Maybe\n", ":4: client_auth_type: unknown policy"),
    ("tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
     "  min_version: TLS14\n", ":4: min_version: unknown TLS version"),
    ("tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
     "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", ":4: cipher_suites is not supported"),
    ("basic_auth_users:\n  prometheus: plaintext\n", ":2: basic_auth_users: the password of"),
    ("basic_auth_users: [prometheus]\n", ":1: basic_auth_users: expected a mapping"),
    ("http_server_config:\n  headers:\n    Set-Cookie: a=b\n", ":3: http_server_config.headers"),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", ":3: X-Frame-Options"),
    ("tls_server_confg: {{}}\n", ":1: unknown key"),
    ("basic_auth_users:\n  a: 1\n  a: 2\n", ":3:"),
]


@pytest.mark.parametrize("text,message", BAD_CONFIGS)
def test_invalid_web_config_is_refused_at_start(tmp_path, pki, text, message):
    cfg = web_config(tmp_path, text.format(pki=pki))
    r = subprocess.run([EXPORTER, f"--web.config.file={cfg}", "--web.listen-address=127.0.0.1:0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "invalid web config file" in r.stderr and str(cfg) in r.stderr, r.stderr
    assert message in r.stderr, r.stderr


def test_reload_keeps_the_old_config_when_the_new_one_is_invalid(exporter_factory, tmp_path,
                                                                 pki, bcrypt_hash):
    cfg = web_config(tmp_path, f"basic_auth_users:\n  prometheus: '{bcrypt_hash}'\n")
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    cfg.write_text("basic_auth_users:\n  prometheus: not-a-hash\n")
    e.signal(signal.SIGHUP)
    wait_for(lambda: "web config reload failed" in e.read_log(), what="the refusal")
    assert ":2: basic_auth_users: the password of" in e.read_log()
    assert request(e, auth=("prometheus", PASSWORD))[0] == 200
    assert request(e)[0] == 401


def test_reload_turns_tls_on_and_changes_users(exporter_factory, tmp_path, pki, bcrypt_hash):
    cfg = web_config(tmp_path, f"basic_auth_users:\n  prometheus: '{bcrypt_hash}'\n")
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    assert request(e, auth=("prometheus", PASSWORD))[0] == 200
    cfg.write_text(tls_config(pki) + f"basic_auth_users:\n  grafana: '{bcrypt_hash}'\n")
    e.signal(signal.SIGHUP)
    wait_for(lambda: "web config reloaded" in e.read_log(), what="the reload")
    ctx = client_context(pki)
    assert request(e, ctx=ctx, auth=("grafana", PASSWORD))[0] == 200
    assert request(e, ctx=ctx, auth=("prometheus", PASSWORD))[0] == 401


@pytest.mark.unsanitized(reason="Prometheus' timing is not the sanitizers' concern")
def test_prometheus_scrapes_over_tls_with_basic_auth(exporter_factory, prometheus_factory,
                                                     tmp_path, pki, bcrypt_hash):
    cfg = web_config(tmp_path, tls_config(pki) +
                     f"basic_auth_users:\n  prometheus: '{bcrypt_hash}'\n")
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    port = e.address.rsplit(":", 1)[1]
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    job = (f"  - job_name: memtide-tls\n"
           f"    scheme: https\n"
           f"    tls_config:\n      ca_file: {pki}/ca.crt\n      server_name: localhost\n"
           f"    basic_auth:\n      username: prometheus\n      password_file: {password_file}\n"
           f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    prom = prometheus_factory({}, extra_config=job)
    wait_for(lambda: prom.value('up{job="memtide-tls"}') == 1, timeout=60,
             what="Prometheus to scrape over TLS")
    assert prom.value('memtide_scrape_collector_success{job="memtide-tls",collector="self"}') == 1


def test_shipped_example_loads_once_its_placeholders_are_filled(tmp_path, pki, bcrypt_hash):
    example = (Path(__file__).parents[2] / "deploy" / "web-config.example.yml").read_text()
    text = (example.replace("/etc/memtide/tls/memtide.crt", str(pki / "server.crt"))
            .replace("/etc/memtide/tls/memtide.key", str(pki / "server.key")))
    text = re.sub(r"\$2y\$10\$REPLACE\S+", bcrypt_hash, text)
    cfg = web_config(tmp_path, text)
    r = subprocess.run([EXPORTER, f"--web.config.file={cfg}", "--once", "--no-collector.process"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_reloads_under_scraping_drop_and_cut_nothing(exporter_factory, tmp_path, pki, tls):
    """200 reloads of the web config while two keep-alive clients scrape
    without pause: every scrape answers 200 with its whole body."""
    cfg = web_config(tmp_path, tls_config(pki) if tls else "http_server_config:\n  headers:\n"
                     "    X-Content-Type-Options: nosniff\n")
    e = exporter_factory(f"--web.config.file={cfg}", "--no-collector.process")
    host, port = e.address.rsplit(":", 1)
    stop = threading.Event()
    results = {"ok": 0, "bad": []}

    def scrape_forever():
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection("localhost", int(port), timeout=30,
                                                       context=client_context(pki)) if tls \
                        else http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request("GET", "/metrics")
                r = conn.getresponse()
                body = r.read()
                length = int(r.getheader("Content-Length", "-1"))
                if r.status == 200 and len(body) == length and body.endswith(b"\n") \
                        and b"memtide_scrape_collector_success" in body:
                    results["ok"] += 1
                else:
                    results["bad"].append((r.status, length, len(body)))
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as ex:
                results["bad"].append(repr(ex))
                if conn:
                    conn.close()
                conn = None

    scrapers = [threading.Thread(target=scrape_forever) for _ in range(2)]
    for t in scrapers:
        t.start()
    try:
        for i in range(1, 201):
            done = results["ok"]
            e.signal(signal.SIGHUP)
            wait_for(lambda: e.read_log().count("web config reloaded") >= i, interval=0.01,
                     what=f"reload {i}")
            # At least one scrape between two reloads, whatever the machine's pace.
            wait_for(lambda: results["ok"] > done or results["bad"], interval=0.005,
                     what=f"a scrape after reload {i}")
    finally:
        stop.set()
        for t in scrapers:
            t.join(timeout=60)
    assert results["bad"] == [] and results["ok"] >= 200, (results["ok"], results["bad"][:5])
