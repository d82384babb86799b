"""An unprivileged local user for the tests that play one.

memtide runs as root and reads what any local user controls. These tests run
as root in CI; the attacks run as `memtide-attacker`, created here when
absent, so that they use only what an ordinary user has.
"""
import os
import pwd
import shutil
import subprocess

import pytest

USER = "memtide-attacker"


def attacker():
    """(uid, gid) of the attacker user, created if need be; skips without root."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to create and become an unprivileged user) and setpriv")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        USER], check=True, capture_output=True)
        pw = pwd.getpwnam(USER)
    return pw.pw_uid, pw.pw_gid


def as_attacker(cmd):
    """cmd prefixed so that it runs as the attacker, without supplementary groups."""
    uid, gid = attacker()
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *cmd]
