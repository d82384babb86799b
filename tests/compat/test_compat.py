"""The compatibility matrix: real programs from Debian's packages, each run
without and with libmemtide preloaded. Output and exit status must be the
same, every run ends within a bounded time, and the exporter (as root, and for
the servers also as an unprivileged user with the capabilities of the shipped
systemd unit) shows what it should of each: the allocator statistics of a
glibc program, every worker of a pre-fork server under its group, and
"agent off, and why" for a program with another allocator.

Servers listen on free loopback ports, live in temporary directories and are
stopped by the tests. Run: make compat-test (or MEMTIDE_BUILD=build
/usr/bin/python3 -m pytest -q tests/compat).
"""
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import urllib.request

import pytest

from conftest import BUILD, Exporter, free_port, sample_value, stop_process, wait_for

LIB = os.path.join(BUILD, "libmemtide.so")
COMPAT = os.path.join(BUILD, "tests", "compat")
LIFECYCLE = os.path.join(BUILD, "tests", "agent", "lifecycle")
PY = "/usr/bin/python3"
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
TIMEOUT = 60
ROOT = os.geteuid() == 0
CPYTHON_TESTS = ["test_threading", "test_subprocess", "test_os", "test_signal", "test_fork1",
                 "test_thread", "test_dict", "test_json", "test_re"]
# The systemd unit's user has these two capabilities (docs/deployment.md).
UNPRIVILEGED = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=+dac_read_search,+sys_ptrace",
                "--ambient-caps=+dac_read_search,+sys_ptrace")

needs_root = pytest.mark.skipif(not ROOT, reason="the servers start as root and drop privileges")


def new_dir(parent, mode):
    d = tempfile.mkdtemp(prefix="memtide-compat-", dir=parent)
    os.chmod(d, mode)
    return d


@pytest.fixture
def shm():
    """The segment directory, like /dev/shm: sticky, everyone may write."""
    d = new_dir("/dev/shm", 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def srv():
    """A server's files, readable by the users its workers become."""
    d = new_dir("/tmp", 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def exporters(shm):
    """The exporter as root, and (as root only) as an unprivileged user."""
    started = [Exporter(f"--collector.agent.dir={shm}")]
    if ROOT:
        started.append(Exporter(f"--collector.agent.dir={shm}", wrapper=UNPRIVILEGED))
    yield started
    for e in started:
        e.stop()


def env_for(shm, preload, also=None):
    """The environment with or without the agent; `also`: a library preloaded
    in both cases, "LIB" standing for where the agent goes in the list."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMTIDE_")}
    env.pop("LD_PRELOAD", None)
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TZ="UTC")
    libs = (also or "LIB").split(":")
    libs = [LIB if x == "LIB" else x for x in libs if preload or x != "LIB"]
    if libs:
        env["LD_PRELOAD"] = ":".join(libs)
    if preload:
        env["MEMTIDE_DIR"] = shm
        # Sampling on, eight times as often as by default: stacks are taken
        # in every program of the matrix, not just in the busiest.
        env["MEMTIDE_SAMPLE_BYTES"] = "65536"
    return env


def run(argv, shm, preload, stdin="", while_held=None, cwd=None, also=None):
    """Runs argv with stdin held open until while_held() returns (the program
    waits for the end of its input), then closed; (status, stdout). A watchdog
    kills a program that takes longer than TIMEOUT."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env_for(shm, preload, also), cwd=cwd,
                         text=True)
    watchdog = threading.Timer(TIMEOUT, p.kill)
    watchdog.start()
    try:
        p.stdin.write(stdin)
        p.stdin.flush()
        if while_held:
            while_held(p)
        p.stdin.close()
        out = p.stdout.read()
        return p.wait(), out
    finally:
        watchdog.cancel()
        p.kill()
        p.wait()


def shows(exporters, group, processes=1, allocator=True):
    """Every exporter shows the group's processes with a live agent, and
    (allocator) statistics that make sense."""
    for e in exporters:
        def seen():
            text = e.metrics()
            n = sample_value(text, "memtide_agent_processes", group=group)
            return text if n == processes else None

        text = wait_for(seen, timeout=TIMEOUT, what=f"{processes} x {group} in the exporter")
        if allocator:
            live = sample_value(text, "memtide_malloc_live_bytes", group=group)
            assert live > 0
            assert sample_value(text, "memtide_malloc_heap_system_bytes", group=group) >= live


def same(argv, shm, exporters=None, group=None, stdin="", cwd=None):
    """Without and with the agent: same status and output; while the
    preloaded run waits for its input, the exporters show it."""
    bare = run(argv, shm, False, stdin, cwd=cwd)
    held = (lambda p: shows(exporters, group)) if exporters else None
    pre = run(argv, shm, True, stdin, while_held=held, cwd=cwd)
    assert pre == bare
    return pre


# Plain programs: each reads its input to the end, so it waits while held.

def test_python3(shm, exporters):
    script = ("import json, sys\ndata = [{'k': i, 's': str(i) * 3} for i in range(60000)]\n"
              "print(len(json.dumps(data)), sys.stdin.read().strip())\n")
    status, out = same([PY, "-c", script], shm, exporters, "python3", stdin="hello\n")
    assert status == 0 and out.endswith(" hello\n")


def test_perl(shm, exporters):
    script = 'my @a = map { "x" x ($_ % 300) } 1..40000; local $/; my $in = <STDIN>; ' \
             'print scalar(@a), " ", length($in), "\\n";'
    status, out = same(["perl", "-e", script], shm, exporters, "perl", stdin="abc\n")
    assert (status, out) == (0, "40000 4\n")


def test_sqlite3(shm, exporters):
    sql = ("create table t(a integer, b text);\n"
           "with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000)\n"
           "insert into t select x, hex(randomblob(16)) from c;\n"
           "select count(*), sum(a) from t;\n")
    status, out = same(["sqlite3", ":memory:"], shm, exporters, "sqlite3", stdin=sql)
    assert (status, out) == (0, "20000|200010000\n")


def test_git(shm, exporters, srv):
    env = dict(GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@example.org", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@example.org", GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z", HOME=srv)
    repo = os.path.join(srv, "repo")
    os.environ.update(env)
    try:
        for argv in (["git", "init", "-q", "-b", "main", repo],
                     ["git", "-C", repo, "commit", "-q", "--allow-empty", "-m", "one"]):
            assert same(argv, shm)[0] == 0
        status, out = same(["git", "-C", repo, "cat-file", "--batch"], shm, exporters, "git",
                           stdin="HEAD\n")
        assert status == 0 and "commit" in out and "one" in out
    finally:
        for k in env:
            os.environ.pop(k, None)


def test_gcc(shm, exporters, srv):
    """gcc reads the source from its input: cc1 waits for it meanwhile."""
    src = '#include <stdio.h>\nint main(void) { printf("%d\\n", 6 * 7); return 3; }\n'
    outputs = []
    for preload in (False, True):
        exe = os.path.join(srv, f"a-{preload}")
        held = (lambda p: shows(exporters, "cc1", allocator=False)) if preload else None
        assert run(["gcc", "-x", "c", "-", "-o", exe], shm, preload, src, held) == (0, "")
        outputs.append(run([exe], shm, preload))
    assert outputs[0] == outputs[1] == (3, "42\n")


def test_node(shm, exporters):
    script = ("const a = []; for (let i = 0; i < 100000; i++) a.push({i, s: 'x' + i});"
              "let n = 0; process.stdin.on('data', d => n += d.length);"
              "process.stdin.on('end', () => console.log(a.length, n));")
    status, out = same(["node", "-e", script], shm, exporters, "node", stdin="12345\n")
    assert (status, out) == (0, "100000 6\n")


def test_pthread_exit_program(shm):
    status, out = same([LIFECYCLE, "pthread_exit"], shm)
    assert (status, out) == (0, "worker done\natexit ran\n")


# Programs linked with another allocator: the agent stays off, forwards every
# call, and says why.

@pytest.mark.parametrize("allocator", ["jemalloc", "tcmalloc", "mimalloc"])
def test_other_allocators(shm, exporters, allocator):
    argv = [os.path.join(COMPAT, f"foreign_{allocator}")]
    group = os.path.basename(argv[0])[:15]  # comm

    def off_and_why(p):
        assert p.stdout.readline() == "ready 2000\n"
        for e in exporters:
            wait_for(lambda: sample_value(e.metrics(), "memtide_agent_off_processes",
                                          group=group, reason=allocator) == 1,
                     timeout=TIMEOUT, what=f"{group} off for {allocator}")
            assert sample_value(e.metrics(), "memtide_agent_processes", group=group) is None

    bare = run(argv, shm, False)
    pre = run(argv, shm, True, while_held=off_and_why)
    assert bare == (0, "ready 2000\ndone\n") and pre == (0, "done\n")
    assert os.listdir(shm) == []


@pytest.mark.parametrize("also", ["LIB:" + JEMALLOC, JEMALLOC + ":LIB"],
                         ids=["agent-first", "jemalloc-first"])
def test_jemalloc_preloaded_with_the_agent(shm, exporters, also):
    """jemalloc preloaded too, before or after the agent: the program gets
    jemalloc either way, as it would without the agent."""
    argv = [os.path.join(COMPAT, "foreign_glibc")]

    def off_and_why(p):
        assert p.stdout.readline() == "ready 2000\n"
        for e in exporters:
            wait_for(lambda: sample_value(e.metrics(), "memtide_agent_off_processes",
                                          group="foreign_glibc", reason="jemalloc") == 1,
                     timeout=TIMEOUT, what="foreign_glibc off for jemalloc")

    assert run(argv, shm, False, also=also) == (0, "ready 2000\ndone\n")
    assert run(argv, shm, True, while_held=off_and_why, also=also) == (0, "done\n")
    assert os.listdir(shm) == []


# Servers.

def start(argv, shm, preload, cwd=None):
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env_for(shm, preload), cwd=cwd,
                            start_new_session=True)


def http_get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.read()


def answers(port, request):
    def ready():
        try:
            return request(port)
        except OSError:
            return None
    return wait_for(ready, timeout=TIMEOUT, what=f"a server on port {port}")


def segments_gone(shm):
    wait_for(lambda: os.listdir(shm) == [], timeout=TIMEOUT, what="no segment left")


def owners(shm):
    return sorted(os.lstat(os.path.join(shm, n)).st_uid for n in os.listdir(shm))


def serve(argv, shm, exporters, group, processes, port, request, worker_uid, stop_sig,
          cwd=None):
    """The server without and with the agent: same answers; with it, every
    process shown under group, the workers' segments theirs, none left after
    the server stops."""
    answers_seen = []
    for preload in (False, True):
        p = start(argv, shm, preload, cwd)
        try:
            answers_seen.append(answers(port, request))
            if preload:
                shows(exporters, group, processes)
                assert owners(shm) == sorted([0] + [worker_uid] * (processes - 1))
            os.killpg(p.pid, stop_sig)
            assert p.wait(timeout=TIMEOUT) in (0, -stop_sig)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if preload:
            segments_gone(shm)
    assert answers_seen[0] == answers_seen[1]


@needs_root
def test_nginx(shm, exporters, srv):
    port = free_port()
    os.makedirs(os.path.join(srv, "www"))
    with open(os.path.join(srv, "www", "index.html"), "w") as f:
        f.write("hello from nginx\n")
    os.chmod(os.path.join(srv, "www"), 0o755)
    conf = os.path.join(srv, "nginx.conf")
    tmp = os.path.join(srv, "tmp")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process on; worker_processes 2; user nobody nogroup;
pid {srv}/nginx.pid; error_log {srv}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};
  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{ listen 127.0.0.1:{port}; root {srv}/www; }} }}
""")
    nobody = pwd.getpwnam("nobody").pw_uid
    serve(["nginx", "-c", conf, "-e", f"{srv}/error.log"], shm, exporters, "nginx", 3, port,
          lambda p: [http_get(p) for _ in range(20)], nobody, signal.SIGQUIT)


def fcgi_get(port, script):
    """One FastCGI request (the protocol php-fpm speaks); the response body."""
    def record(kind, body):
        return struct.pack("!BBHHBx", 1, kind, 1, len(body), 0) + body

    def pair(k, v):
        return bytes([len(k), len(v)]) + k.encode() + v.encode()

    params = b"".join(pair(k, v) for k, v in {
        "SCRIPT_FILENAME": script, "SCRIPT_NAME": "/hi.php", "REQUEST_METHOD": "GET",
        "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
        "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "localhost", "SERVER_PORT": "80"}.items())
    request = (record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"")
               + record(5, b""))
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        while chunk := s.recv(65536):
            data += chunk
    out, i = b"", 0
    while i + 8 <= len(data):
        _, kind, _, length, padding = struct.unpack("!BBHHB", data[i:i + 7])
        if kind == 6:
            out += data[i + 8:i + 8 + length]
        i += 8 + length + padding
    return out.split(b"\r\n\r\n", 1)[-1]


@needs_root
def test_php_fpm(shm, exporters, srv):
    """The master must be preloaded: the workers are forked, not executed."""
    port = free_port()
    script = os.path.join(srv, "hi.php")
    with open(script, "w") as f:
        f.write('<?php $a = array_fill(0, 10000, "x"); echo "hi ", count($a), "\\n";')
    os.chmod(script, 0o644)
    conf = os.path.join(srv, "fpm.conf")
    with open(conf, "w") as f:
        f.write(f"""[global]
pid = {srv}/fpm.pid
error_log = {srv}/fpm.log
daemonize = no
[www]
user = www-data
group = www-data
listen = 127.0.0.1:{port}
pm = static
pm.max_children = 2
""")
    www = pwd.getpwnam("www-data").pw_uid
    serve(["php-fpm8.2", "-F", "-n", "-y", conf], shm, exporters, "php-fpm8.2", 3, port,
          lambda p: [fcgi_get(p, script) for _ in range(10)], www, signal.SIGQUIT)


@needs_root
def test_apache_prefork(shm, exporters, srv):
    port = free_port()
    os.makedirs(os.path.join(srv, "www"))
    with open(os.path.join(srv, "www", "index.html"), "w") as f:
        f.write("hello from apache\n")
    os.chmod(os.path.join(srv, "www"), 0o755)
    conf = os.path.join(srv, "httpd.conf")
    mods = "/usr/lib/apache2/modules"
    with open(conf, "w") as f:
        f.write(f"""ServerRoot /etc/apache2
ServerName localhost
LoadModule mpm_prefork_module {mods}/mod_mpm_prefork.so
LoadModule authz_core_module {mods}/mod_authz_core.so
Listen 127.0.0.1:{port}
PidFile {srv}/httpd.pid
ErrorLog {srv}/error.log
Mutex file:{srv}
User www-data
Group www-data
StartServers 2
MinSpareServers 2
MaxSpareServers 2
MaxRequestWorkers 2
DocumentRoot {srv}/www
<Directory {srv}/www>
  Require all granted
</Directory>
""")
    www = pwd.getpwnam("www-data").pw_uid
    serve(["apache2", "-f", conf, "-DFOREGROUND"], shm, exporters, "apache2", 3, port,
          lambda p: [http_get(p, "/index.html") for _ in range(20)], www, signal.SIGTERM)


def memcached_roundtrip(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rwb")
        for i in range(200):
            f.write(b"set k%d 0 0 %d\r\n%s\r\n" % (i, 100 + i, b"v" * (100 + i)))
        f.write(b"get k7 k199\r\nquit\r\n")
        f.flush()
        return f.read()


@needs_root
def test_memcached(shm, exporters):
    """As root memcached must drop to a user (-u): its segment goes with it."""
    port = free_port()
    nobody = pwd.getpwnam("nobody").pw_uid
    argv = ["memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64"]
    results = []
    for preload in (False, True):
        p = start(argv, shm, preload)
        try:
            results.append(answers(port, memcached_roundtrip))
            if preload:
                shows(exporters, "memcached")
                assert owners(shm) == [nobody]
        finally:
            stop_process(p)
        if preload:
            segments_gone(shm)
    assert results[0] == results[1] and b"STORED" in results[0]


@needs_root
def test_redis_is_linked_with_jemalloc(shm, exporters, srv):
    """Debian's redis-server and redis-cli use jemalloc: they run as without
    the agent, which is off in them and says so."""
    port = free_port()
    server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--dir", srv, "--daemonize", "no"]
    cli = ["redis-cli", "-p", str(port)]
    results = []
    for preload in (False, True):
        p = start(server, shm, preload)
        try:
            answers(port, lambda _: run([*cli, "ping"], shm, preload) == (0, "PONG\n"))
            out = [run([*cli, *cmd.split()], shm, preload)
                   for cmd in ("set a 1", "incrby a 41", "get a", "rpush l x y z", "lrange l 0 -1")]
            results.append(out)
            if preload:
                for e in exporters:
                    wait_for(lambda: sample_value(e.metrics(), "memtide_agent_off_processes",
                                                  group="redis-server", reason="jemalloc") == 1,
                             timeout=TIMEOUT, what="redis-server off for jemalloc")
            assert run([*cli, "shutdown", "nosave"], shm, preload)[0] in (0, 1)
            assert p.wait(timeout=TIMEOUT) == 0
        finally:
            stop_process(p)
        if preload:
            segments_gone(shm)
    assert results[0] == results[1]
    assert [o[1] for o in results[1]] == ["OK\n", "42\n", "42\n", "3\n", "x\ny\nz\n"]


# CPython's own regression tests, started at the beginning of the module (with
# and without the agent at once) and judged at its end, so that their minute
# overlaps the other tests. test_signal and test_threading expect SIGINT to
# raise KeyboardInterrupt: a shell without job control starts background
# jobs with SIGINT ignored, and children inherit that, so the runs reset it
# (env --default-signal) rather than depend on how the suite was started.

@pytest.fixture(scope="module", autouse=True)
def cpython_runs():
    runs = {}
    dirs = [new_dir("/tmp", 0o755) for _ in range(3)]
    for preload, cwd in ((False, dirs[0]), (True, dirs[1])):
        env = env_for(dirs[2], preload)
        runs[preload] = subprocess.Popen(
            ["env", "--default-signal=INT", PY, "-m", "test", "-j2", "--timeout=300", *CPYTHON_TESTS],
            cwd=cwd, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
    yield runs
    for p in runs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def test_zz_cpython_regression_tests(cpython_runs):
    results = {}
    for preload, p in cpython_runs.items():
        out, _ = p.communicate(timeout=400)
        results[preload] = (p.returncode, sorted(re.findall(r"\] (test_\w+) passed", out)))
        assert "Tests result: SUCCESS" in out, "%s the agent:\n%s" % (
            "with" if preload else "without", out[-3000:])
    assert results[True] == results[False]
    assert results[True] == (0, sorted(CPYTHON_TESTS))
