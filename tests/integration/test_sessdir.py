"""The sessdir collector against what the directory holds, as os.scandir sees it."""
import fnmatch
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import EXPORTER, sample_value, wait_for

BUCKETS = (60, 300, 900, 3600, 14400, 86400)
# Ages well inside each bucket, so the seconds a test takes cannot move a file.
AGES = (5, 100, 500, 1500, 7000, 30000, 200000)


def expected(directory, match, now):
    """What the collector should report, from os.scandir: regular files only, no symlinks,
    no subdirectories, names matching like a shell glob (a leading dot is never matched by *)."""
    live, size, oldest = 0, 0, 0.0
    older = [0] * len(BUCKETS)
    for entry in os.scandir(directory):
        if not entry.is_file(follow_symlinks=False) or not fnmatch.fnmatchcase(entry.name, match):
            continue
        if entry.name.startswith(".") and not match.startswith("."):
            continue
        st = entry.stat(follow_symlinks=False)
        age = max(0.0, now - st.st_mtime)
        live += 1
        size += st.st_size
        oldest = max(oldest, age)
        # At least the bound old counts, as for every source (docs/metrics.md).
        older = [n + (age >= b) for n, b in zip(older, BUCKETS)]
    return live, size, oldest, older


def reported(text, pool):
    labels = {"source": "dir", "pool": pool}
    older = [sample_value(text, "memtide_sessions_live_by_age", older_than_seconds=str(b), **labels)
             for b in BUCKETS]
    return (sample_value(text, "memtide_sessions_live", **labels),
            sample_value(text, "memtide_sessions_bytes", **labels),
            sample_value(text, "memtide_sessions_oldest_age_seconds", **labels), older)


def make_session(directory, name, age, size, now):
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(b"x" * size)
    os.utime(path, (now - age, now - age))
    return path


@pytest.fixture
def session_dir(tmp_path):
    """Files across every bucket, and everything that must not count."""
    d = tmp_path / "sessions"
    d.mkdir()
    now = time.time()
    for i, age in enumerate(AGES):
        for j in range(i + 1):
            make_session(d, f"sess_{i}_{j}", age, 10 * i + j + 1, now)
    outside = make_session(tmp_path, "outside", 500000, 4096, now)
    os.symlink(outside, d / "sess_symlink")           # a symlink to a file: not followed
    os.symlink(tmp_path / "nowhere", d / "sess_dangling")
    (d / "sess_subdir").mkdir()                        # a directory: not counted, not entered
    make_session(d / "sess_subdir", "sess_inner", 500000, 4096, now)
    make_session(d, "other_1", 500000, 777, now)       # does not match sess_*
    make_session(d, ".hidden", 500000, 333, now)       # "*" does not match a leading dot
    os.mkfifo(d / "sess_fifo")                         # not a regular file
    return d


def write_config(tmp_path, body):
    cfg = tmp_path / "memtide.yml"
    cfg.write_text(body)
    return cfg


def test_counts_ages_and_sizes_match_scandir(exporter_factory, session_dir, tmp_path):
    cfg = write_config(tmp_path, f"""sessions:
  dirs:
    - pool: php
      path: {session_dir}
      match: "sess_*"
      ttl: 24m
    - pool: everything
      path: {session_dir}
      ttl: 1h30m
""")
    e = exporter_factory(f"--config.file={cfg}", "--no-collector.process")
    before = time.time()
    text = e.metrics()
    after = time.time()
    assert sample_value(text, "memtide_scrape_collector_success", collector="sessdir") == 1
    for pool, match, ttl in (("php", "sess_*", 1440), ("everything", "*", 5400)):
        live, size, oldest, older = expected(session_dir, match, after)
        got_live, got_size, got_oldest, got_older = reported(text, pool)
        assert (got_live, got_size, got_older) == (live, size, older), pool
        assert oldest - (after - before) - 1 <= got_oldest <= oldest + 1, pool
        assert sample_value(text, "memtide_sessions_ttl_seconds", source="dir", pool=pool) == ttl
    # The fixture is built so that every bucket holds something and the extras are excluded.
    assert reported(text, "php")[0] == sum(range(1, len(AGES) + 1))
    assert reported(text, "php")[3] == [27, 25, 22, 18, 13, 7]
    assert reported(text, "everything")[0] == reported(text, "php")[0] + 1  # other_1


def test_empty_directory_publishes_zeros(exporter_factory, tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    cfg = write_config(tmp_path, f"sessions:\n  dirs:\n    - {{pool: idle, path: {d}, ttl: 60s}}\n")
    text = exporter_factory(f"--config.file={cfg}", "--no-collector.process").metrics()
    assert reported(text, "idle") == (0, 0, 0, [0] * len(BUCKETS))


def test_unreadable_directory_fails_the_collector_but_not_the_other_pools(exporter_factory, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    missing = tmp_path / "missing"
    link = tmp_path / "link"
    os.symlink(good, link)
    cfg = write_config(tmp_path, f"""sessions:
  dirs:
    - {{pool: good, path: {good}, ttl: 60s}}
    - {{pool: gone, path: {missing}, ttl: 60s}}
    - {{pool: link, path: {link}, ttl: 60s}}
""")
    e = exporter_factory(f"--config.file={cfg}", "--no-collector.process")
    text = e.metrics()
    assert sample_value(text, "memtide_scrape_collector_success", collector="sessdir") == 0
    assert sample_value(text, "memtide_scrape_errors_total", collector="sessdir",
                        reason="dir_unreadable") >= 2
    log = e.read_log()
    assert f"path={missing}" in log and "No such file or directory" in log
    assert f"path={link}" in log and "symlinks are not followed" in log
    assert sample_value(text, "memtide_sessions_live", source="dir", pool="good") == 0
    assert sample_value(text, "memtide_sessions_live", source="dir", pool="gone") is None
    # Once the directories are right, the collector recovers without a restart.
    os.unlink(link)
    link.mkdir()
    missing.mkdir()
    text = wait_for(lambda: (lambda t: t if sample_value(
        t, "memtide_scrape_collector_success", collector="sessdir") == 1 else None)(e.metrics()),
        what="sessdir to recover")
    assert sample_value(text, "memtide_sessions_live", source="dir", pool="gone") == 0


def test_files_vanishing_during_scans(exporter_factory, tmp_path):
    """Files created and deleted while scrapes run: every scrape succeeds and is consistent."""
    d = tmp_path / "churn"
    d.mkdir()
    size, files = 64, 4000
    now = time.time()
    for i in range(files):
        make_session(d, f"sess_{i}", 7200, size, now)
    cfg = write_config(tmp_path, f"sessions:\n  dirs:\n    - {{pool: churn, path: {d}, ttl: 1h}}\n")
    e = exporter_factory(f"--config.file={cfg}", "--no-collector.process")
    stop = threading.Event()

    def churn():
        i = 0
        while not stop.is_set():
            name = d / f"sess_{i % files}"
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
            # Written under a dot name and renamed, so no scan sees a half-written file.
            tmp = make_session(d, f".tmp_{i % files}", 7200, size, time.time())
            os.rename(tmp, name)
            i += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(40):
            text = e.metrics()
            assert sample_value(text, "memtide_scrape_collector_success", collector="sessdir") == 1
            live, total, oldest, older = reported(text, "churn")
            assert 0 < live <= files
            assert total == live * size
            assert all(a >= b for a, b in zip([live] + older, older))  # cumulative
            assert older[3] == live and older[4] == 0  # every file is 2 h old
            assert 7200 <= oldest < 7300
    finally:
        stop.set()
        t.join()
    vanished = sample_value(e.metrics(), "memtide_scrape_errors_total", collector="sessdir",
                            reason="vanished")
    print(f"files that vanished mid-scan: {vanished or 0:.0f}")


BAD_CONFIGS = [
    ("sessions:\n  dirs:\n    - pool: a\n      path: relative/dir\n      ttl: 1m\n", 4,
     'path: must be absolute, got "relative/dir"'),
    ("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n", 3,
     'a sessions.dirs entry: missing required key "ttl"'),
    ("sessions:\n  dirs:\n    - path: /tmp\n      ttl: 1m\n", 3,
     'a sessions.dirs entry: missing required key "pool"'),
    ("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n      ttl: soon\n", 5,
     'ttl: invalid duration "soon"'),
    ("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n      ttl: 0s\n", 5,
     "ttl: must be more than 0"),
    ("sessions:\n  dirs:\n    - {pool: a, path: /tmp, ttl: 1m}\n    - {pool: a, path: /var, ttl: 1m}\n",
     4, 'pool: "a" is already the pool of the sessions.dirs entry at line 3'),
    ("sessions:\n  dirs:\n    - {pool: a, path: /tmp, ttl: 1m, glob: x}\n", 3,
     'unknown key "glob" in a sessions.dirs entry (expected one of: pool, path, match, ttl)'),
    ("sessions:\n  dirs: /tmp\n", 2, "dirs: expected a list of directories, got a scalar"),
    ("sessions:\n  folders: []\n", 2, 'unknown key "folders" in sessions (expected one of: dirs, tcp)'),
]


@pytest.mark.parametrize("body,line,message", BAD_CONFIGS)
def test_config_errors_exit_2_with_file_and_line(tmp_path, body, line, message):
    cfg = write_config(tmp_path, body)
    r = subprocess.run([EXPORTER, f"--config.file={cfg}", "--once", "--log.format=json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert json.loads(r.stderr.splitlines()[-1])["err"].startswith(f"{cfg}:{line}: {message}")
