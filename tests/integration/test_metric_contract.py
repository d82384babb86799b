"""The metric contract: the families `--once` prints with every collector on, and
the label names of each, against tests/integration/golden/metric_families.txt.

Every source is given something to report: a sessions directory, a TCP
listener, a program linked with libmemtide that opens sessions. The file is the
contract dashboards and alerts are built on; a change to it is a change of
behaviour, made on purpose (regenerate with MEMTIDE_GOLDEN_UPDATE=1).
"""
import os
import re
import socket
import subprocess
import tempfile

from conftest import BUILD, EXPORTER

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "metric_families.txt")
PROGRAMS = os.path.join(BUILD, "tests", "agent")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')
# Counters of events (a process that exited mid-scrape, a file unreadable):
# their TYPE line is always printed, their samples only once an event happened.
EVENT_FAMILIES = {"memtide_scrape_errors_total", "memtide_collector_housekeeping_total"}
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created", "_info")


def families(text):
    """{family: type} from the TYPE lines, {family: the label-name sets its samples carry}."""
    types, labels = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        name = m.group(1)
        family = name if name in types else next(
            (name[:-len(s)] for s in SUFFIXES if name.endswith(s) and name[:-len(s)] in types), name)
        labels.setdefault(family, set()).add(",".join(sorted(LABEL.findall(m.group(2) or ""))))
    return types, labels


def render(types, labels):
    return "".join(f"{name} {types[name]} {' | '.join(sorted(labels.get(name, ())))}\n"
                   for name in sorted(types))


def scrape_everything(tmp_path):
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / "sess_1").write_bytes(b"x")
    agent_dir = tmp_path / "shm"
    agent_dir.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = listener.accept()
    cfg = tmp_path / "memtide.yml"
    cfg.write_text("process:\n  groups:\n    - name: \"{comm}\"\n      pss: true\n"
                   "sessions:\n"
                   f"  dirs:\n    - pool: php\n      path: {sessions}\n      match: \"sess_*\"\n"
                   "      ttl: 24m\n"
                   f"  tcp:\n    pool: web\n    ports: [{port}]\n")
    # Sampling every byte: the site families always have samples to show labels.
    env = dict(os.environ, MEMTIDE_DIR=str(agent_dir), MEMTIDE_SAMPLE_BYTES="1")
    prog = subprocess.Popen([os.path.join(PROGRAMS, "sessions")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert prog.stdout.readline().startswith("pid ")
        for command in ("open 10", "close 4", "set 3"):
            prog.stdin.write(command + "\n")
            prog.stdin.flush()
            assert prog.stdout.readline().strip() == "ok"
        argv = [EXPORTER, "--once", f"--config.file={cfg}", f"--collector.agent.dir={agent_dir}"]
        with tempfile.TemporaryFile() as err:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, timeout=120)
            err.seek(0)
            assert out.returncode == 0, err.read().decode(errors="replace")
        return out.stdout.decode()
    finally:
        prog.stdin.close()
        prog.wait(timeout=60)
        prog.stdout.close()
        for s in (client, conn, listener):
            s.close()


def test_metric_families_and_labels_are_the_contract(tmp_path):
    text = scrape_everything(tmp_path)
    got = render(*families(text))
    if os.environ.get("MEMTIDE_GOLDEN_UPDATE") == "1":
        with open(GOLDEN, "w") as f:
            f.write(got)
    with open(GOLDEN) as f:
        want = f.read()
    # An event family without samples this run matches its recorded labels.
    lines = {line.split(" ", 1)[0]: line for line in want.splitlines(keepends=True)}
    got = "".join(lines[line.split(" ", 1)[0]] if line.split(" ", 1)[0] in EVENT_FAMILIES
                  and line.rstrip().count(" ") == 1 and line.split(" ", 1)[0] in lines else line
                  for line in got.splitlines(keepends=True))
    assert got == want, "metric families or label names changed:\n" + text
