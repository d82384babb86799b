# SPDX-License-Identifier: MIT
"""The agent never keeps a process alive nor changes how it lives and ends:
every way of ending, forking, executing, signalling and dropping privileges,
run with and without the preload, gives the same output and exit status
(tests/agent/lifecycle.c), within a bounded time, and leaves no segment behind.

Run: MEMTIDE_BUILD=build /usr/bin/python3 -m pytest -q tests/agent
"""
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from test_agent import agent_env, dump, prog, segdir  # noqa: F401 (a fixture)

TIMEOUT = 30


def run(segdir, *args, preload, **kw):
    return subprocess.run([prog("lifecycle"), *args], env=agent_env(segdir, preload=preload),
                          capture_output=True, text=True, timeout=TIMEOUT, **kw)


def dead_writers_only(segdir):
    """Leftovers are allowed only from processes that are gone and that no
    preloaded parent reaped (the parent in daemon(), reaped by this test):
    the exporter removes those."""
    for name in os.listdir(segdir):
        assert not os.path.exists(f"/proc/{name.split('.')[1]}"), name


def same_with_and_without(segdir, *args):
    bare = run(segdir, *args, preload=False)
    pre = run(segdir, *args, preload=True)
    assert (pre.returncode, pre.stdout) == (bare.returncode, bare.stdout)
    return pre


def test_pthread_exit_from_main_ends_when_the_worker_does(segdir):
    r = same_with_and_without(segdir, "pthread_exit")
    assert r.returncode == 0 and r.stdout == "worker done\natexit ran\n"
    assert os.listdir(segdir) == []


def test_exit_from_a_thread(segdir):
    r = same_with_and_without(segdir, "exit_from_thread")
    assert r.returncode == 3 and r.stdout == "worker exits\natexit ran\n"
    assert os.listdir(segdir) == []


def test_fork_from_a_thread(segdir):
    r = same_with_and_without(segdir, "fork_from_thread")
    assert r.stdout == "child of a thread\nforked from a thread: exit 7\n"
    # The child ended with _exit(), without its exit handlers: the parent
    # removed its segment when it reaped it.
    assert os.listdir(segdir) == []


def test_daemon(segdir, tmp_path):
    for preload in (False, True):
        out = tmp_path / f"daemon-{preload}"
        r = run(segdir, "daemon", str(out), preload=preload)
        assert r.returncode == 0
        deadline = time.monotonic() + TIMEOUT
        while not (out.exists() and out.read_text() == "daemon ran\n"):
            assert time.monotonic() < deadline, "the daemon did not write its file"
            time.sleep(0.02)
    # The daemon itself removes its segment as it exits.
    deadline = time.monotonic() + TIMEOUT
    while any(os.path.exists(f"/proc/{n.split('.')[1]}") for n in os.listdir(segdir)):
        assert time.monotonic() < deadline, os.listdir(segdir)
        time.sleep(0.02)


def test_exec_from_a_thread(segdir):
    r = same_with_and_without(segdir, "exec_from_thread")
    assert r.returncode == 0 and r.stdout == "exec from a thread\n"
    assert os.listdir(segdir) == []


def test_posix_spawn_and_vfork(segdir):
    r = same_with_and_without(segdir, "spawn")
    assert r.stdout == "spawned\nposix_spawn: exit 0\nvforked\nvfork: exit 0\n"
    assert os.listdir(segdir) == []


def test_signals_handled_pending_and_default(segdir):
    r = same_with_and_without(segdir, "signals")
    assert r.returncode == -15 and r.stdout == "handled 1\npending 1\n"


def test_clone_without_fork_handlers(segdir):
    r = same_with_and_without(segdir, "clone")
    assert r.returncode == 0 and r.stdout == "clone: exit 5\nparent goes on\n"
    assert os.listdir(segdir) == []


@pytest.fixture
def shm_dir():
    """A directory like /dev/shm (sticky, everyone may write), that a user who
    dropped privileges can reach."""
    d = tempfile.mkdtemp(prefix="memtide-test-", dir="/dev/shm")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_privilege_drop_gives_the_segment_to_the_new_user(shm_dir):
    """A worker that drops to nobody (setgroups, setresgid, setresuid) keeps a
    segment the exporter trusts (owned by its new uid) and removes it at exit."""
    nobody = pwd.getpwnam("nobody").pw_uid
    segdir = shm_dir
    for preload in (False, True):
        p = subprocess.Popen([prog("lifecycle"), "drop", str(nobody)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env=agent_env(segdir, preload=preload))
        try:
            assert p.stdout.readline() == "dropped 1 1\n"
            if preload:
                path = os.path.join(segdir, f"memtide.{p.pid}")
                st = os.lstat(path)
                assert st.st_uid == nobody and st.st_gid == nobody
                assert stat.S_IMODE(st.st_mode) == 0o600
                assert dump(path)["live_objects"] > 0
            p.stdin.close()
            assert p.wait(timeout=TIMEOUT) == 0
        finally:
            p.kill()
            p.wait()
    assert os.listdir(segdir) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="impersonating a user needs root")
def test_impersonation_keeps_the_segment_root_s(shm_dir):
    """A root daemon that acts as a user for a while (seteuid) keeps its
    segment root's: that user may not touch a file mapped into a root process
    (a truncated mapping would kill it), and the drop is not for good."""
    nobody = pwd.getpwnam("nobody").pw_uid
    p = subprocess.Popen([prog("lifecycle"), "impersonate", str(nobody)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=agent_env(shm_dir))
    try:
        assert p.stdout.readline() == "impersonating 1\n"
        path = os.path.join(shm_dir, f"memtide.{p.pid}")
        assert os.lstat(path).st_uid == 0
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline() == "back 1\n"
        assert os.lstat(path).st_uid == 0 and dump(path)["live_objects"] > 0
        p.stdin.close()
        assert p.wait(timeout=TIMEOUT) == 0
        assert not os.path.exists(path)
    finally:
        p.kill()
        p.wait()
