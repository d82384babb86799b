"""The deployment files: systemd unit, Kubernetes manifests, Prometheus config, man pages.

kubectl is not available, so the manifests' structure is checked here: what
each object must contain, and that the objects select each other.
"""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
UNIT = os.path.join(DEPLOY, "memtide-exporter.service")
BUILD = os.environ.get("MEMTIDE_BUILD", os.path.join(ROOT, "build"))
EXPORTER = os.path.join(BUILD, "memtide_exporter")
CAPS = {"SYS_PTRACE", "DAC_READ_SEARCH"}


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def k8s_object(kind):
    found = [d for p in glob.glob(os.path.join(K8S, "*.yaml")) for d in load_all(p)
             if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def rules_job():
    with open(os.path.join(ROOT, "alerts", "config.libsonnet"), encoding="utf-8") as f:
        m = re.search(r"selector:\s*'job=\"([^\"]+)\"'", f.read())
    assert m, "job selector not found in alerts/config.libsonnet"
    return m.group(1)


# --- YAML -----------------------------------------------------------------

def yaml_files():
    return sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True))


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_yaml_parses(path):
    assert load_all(path), f"{path} is empty"


def test_targets_file_is_file_sd():
    for path in glob.glob(os.path.join(DEPLOY, "prometheus", "targets", "*.json")):
        with open(path, encoding="utf-8") as f:
            groups = json.load(f)
        assert isinstance(groups, list) and groups
        for g in groups:
            assert set(g) <= {"targets", "labels"}
            assert g["targets"] and all(re.fullmatch(r"[^:]+:10117", t) for t in g["targets"])


# --- Kubernetes -----------------------------------------------------------

@pytest.fixture(scope="module")
def daemonset():
    return k8s_object("DaemonSet")


@pytest.fixture(scope="module")
def container(daemonset):
    containers = daemonset["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_daemonset_pod_security(daemonset, container):
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int) and pod["securityContext"]["runAsUser"] > 0
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc.get("privileged", False) is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == CAPS
    assert len(sc["capabilities"]["add"]) == len(CAPS)


def test_daemonset_selector_matches_pods(daemonset):
    labels = daemonset["spec"]["template"]["metadata"]["labels"]
    assert matches(daemonset["spec"]["selector"]["matchLabels"], labels)


def test_daemonset_mounts(daemonset, container):
    volumes = {v["name"]: v for v in daemonset["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    shm = mounts["/dev/shm"]
    assert not shm.get("readOnly", False), "the agent collector removes stale segments"
    assert volumes[shm["name"]]["hostPath"]["path"] == "/dev/shm"
    sysfs = [m for m in mounts.values() if volumes[m["name"]].get("hostPath", {}).get("path") == "/sys"]
    assert len(sysfs) == 1 and sysfs[0]["readOnly"] is True
    args = container.get("args", [])
    if sysfs[0]["mountPath"] != "/sys":
        assert f"--path.sysfs={sysfs[0]['mountPath']}" in args
    # /proc is the host's through hostPID: libproc2 always reads /proc, so the
    # host's procfs must not be mounted elsewhere, nor /proc replaced.
    assert "/proc" not in mounts
    assert not [v for v in volumes.values() if v.get("hostPath", {}).get("path") == "/proc"]
    config = [m for m in mounts.values() if "configMap" in volumes[m["name"]]]
    assert len(config) == 1 and config[0]["readOnly"] is True
    cm = k8s_object("ConfigMap")
    assert volumes[config[0]["name"]]["configMap"]["name"] == cm["metadata"]["name"]
    (key,) = cm["data"]
    assert f"--config.file={config[0]['mountPath']}/{key}" in args


def test_configmap_config_is_accepted(tmp_path):
    if not os.access(EXPORTER, os.X_OK):
        pytest.skip("exporter not built")
    cm = k8s_object("ConfigMap")
    (text,) = cm["data"].values()
    path = tmp_path / "memtide.yml"
    path.write_text(text)
    r = subprocess.run([EXPORTER, "--once", f"--config.file={path}", "--no-collector.tcp"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_daemonset_port_probes_resources(container):
    ports = {p["name"]: p for p in container["ports"]}
    assert ports["metrics"]["containerPort"] == 10117
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/-/healthy"
        assert get["port"] in ("metrics", 10117)
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", container["image"])


def test_service_selects_daemonset(daemonset):
    svc = k8s_object("Service")
    pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"] and matches(svc["spec"]["selector"], pod_labels)
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert ports["metrics"]["port"] == 10117
    assert ports["metrics"]["targetPort"] in ("metrics", 10117)


def test_servicemonitor_selects_service_and_sets_job():
    svc = k8s_object("Service")
    sm = k8s_object("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert matches(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    port_names = {p["name"] for p in svc["spec"]["ports"]}
    assert sm["spec"]["endpoints"] and all(e["port"] in port_names for e in sm["spec"]["endpoints"])
    # The job label is the Service's name, or the value of its jobLabel label:
    # either way what the rules select.
    job = svc["metadata"]["labels"][sm["spec"]["jobLabel"]] if "jobLabel" in sm["spec"] \
        else svc["metadata"]["name"]
    assert job == rules_job()


def test_prometheusrule_is_the_rule_file():
    pr = k8s_object("PrometheusRule")
    assert pr["apiVersion"] == "monitoring.coreos.com/v1"
    with open(os.path.join(ROOT, "alerts", "memtide.rules.yml"), encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    assert pr["spec"]["groups"] == rules["groups"]


# --- Prometheus -----------------------------------------------------------

def test_scrape_config_passes_promtool(tmp_path):
    if not shutil.which("promtool"):
        pytest.skip("promtool not installed")
    with open(os.path.join(DEPLOY, "prometheus", "scrape.yml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    job = jobs[rules_job()]
    files = [p for sd in job["file_sd_configs"] for p in sd["files"]]
    targets = [t for p in files for t in glob.glob(os.path.join(DEPLOY, "prometheus", p))]
    assert targets, "the file_sd patterns match no example targets file"
    cfg["rule_files"] = [os.path.join(ROOT, "alerts", "memtide.rules.yml")]
    (tmp_path / "targets").mkdir()
    for t in targets:
        shutil.copy(t, tmp_path / "targets")
    (tmp_path / "scrape.yml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run(["promtool", "check", "config", str(tmp_path / "scrape.yml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


# --- systemd --------------------------------------------------------------

def unit_settings():
    """The unit as {section: {key: [values]}}, in systemd's own syntax."""
    sections, current = {}, None
    with open(UNIT, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                current = sections.setdefault(line.strip("[]"), {})
                continue
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_hardening():
    svc = unit_settings()["Service"]

    def one(key):
        assert key in svc, f"{key} missing"
        return svc[key][-1]

    assert one("User") == "memtide"
    assert one("DynamicUser") == "no"
    assert one("ExecStart").split()[0] == "/usr/local/bin/memtide_exporter"
    assert "--config.file=/etc/memtide/memtide.yml" in one("ExecStart").split()
    assert one("ExecReload").endswith("kill -HUP $MAINPID")
    assert one("Restart") == "on-failure"
    for key, value in {
        "ProtectSystem": "strict", "ProtectHome": "read-only", "NoNewPrivileges": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
        "SystemCallArchitectures": "native", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "ProtectClock": "yes", "ProtectHostname": "yes",
    }.items():
        assert one(key) == value, key
    assert re.fullmatch(r"0?0[0-7]7", one("UMask"))
    assert svc["SystemCallFilter"][0] == "@system-service"
    # The exporter must see every process: no hidepid, no pid-only /proc.
    assert svc.get("ProcSubset", ["all"])[-1] == "all"
    assert svc.get("ProtectProc", ["default"])[-1] == "default"
    for key in ("PrivateNetwork", "PrivateUsers"):
        assert svc.get(key, ["no"])[-1] == "no", key
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        assert set(" ".join(svc[key]).split()) == {"CAP_" + c for c in CAPS}, key
    assert set(one("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}
    shm = " ".join(svc.get("BindPaths", []) + svc.get("ReadWritePaths", [])).split()
    assert "/dev/shm" in shm


def test_sysusers_creates_the_unit_user():
    with open(os.path.join(DEPLOY, "memtide.sysusers.conf"), encoding="utf-8") as f:
        lines = [l.split() for l in f if l.strip() and not l.startswith("#")]
    assert ["u", "memtide"] in [l[:2] for l in lines]


def test_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    if not os.access(EXPORTER, os.X_OK):
        pytest.skip("exporter not built")
    with open(UNIT, encoding="utf-8") as f:
        text = f.read().replace("/usr/local/bin/memtide_exporter", EXPORTER)
    unit = tmp_path / "memtide-exporter.service"
    unit.write_text(text)
    # --man=no: the man page is not installed here (it is checked below).
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "memtide" not in r.stderr, r.stdout + r.stderr
    # systemd's own exposure score (0 best, 10 worst): it stays "OK".
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=30",
                        "--no-pager", str(unit)], capture_output=True, text=True, timeout=120)
    if "--offline" in r.stderr and "unrecognized" in r.stderr:
        return  # systemd before 250
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr


# --- man pages --------------------------------------------------------------

def help_flags():
    r = subprocess.run([EXPORTER, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    flags = set(re.findall(r"(?m)^\s+(?:-h, )?(--[a-z][\w.-]*)", r.stdout))
    assert "--config.file" in flags and "--once" in flags, flags
    return flags


def render(page):
    r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "",
                                        "LC_ALL": "C.UTF-8"})
    assert r.returncode == 0, r.stderr
    assert not r.stderr.strip(), r.stderr
    return r.stdout


@pytest.mark.parametrize("page", ["memtide_exporter.1", "libmemtide.3", "memtide-check.1"])
def test_man_page_renders(page):
    if not shutil.which("man"):
        pytest.skip("man-db not installed")
    text = render(os.path.join(ROOT, "man", page))
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert re.search(rf"(?m)^{section}$", text), section


def test_man_page_lists_every_flag():
    if not os.access(EXPORTER, os.X_OK):
        pytest.skip("exporter not built")
    with open(os.path.join(ROOT, "man", "memtide_exporter.1"), encoding="utf-8") as f:
        source = f.read()
    # roff escapes the minus signs of flags as \-
    plain = source.replace("\\-", "-")
    missing = [fl for fl in sorted(help_flags()) if fl.split("NAME")[0] not in plain]
    assert not missing, missing
    for section in ("OPTIONS", "SIGNALS", "EXIT STATUS", "FILES", "CONFIGURATION"):
        assert re.search(rf'(?m)^\.SH "?{section}', source), section


def test_libmemtide_page_lists_every_variable():
    with open(os.path.join(ROOT, "man", "libmemtide.3"), encoding="utf-8") as f:
        page = f.read()
    with open(os.path.join(ROOT, "agent", "agent_main.c"), encoding="utf-8") as f:
        names = set(re.findall(r'"(MEMTIDE_[A-Z_]+)"', f.read()))
    assert names, "no environment variable found in agent/agent_main.c"
    missing = [n for n in sorted(names) if f".B {n}" not in page]
    assert not missing, missing
