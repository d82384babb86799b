"""The Grafana dashboards in dashboards/: structure, names against the metrics
contract, and every query accepted by a real Prometheus.

panel_queries(path) lists (dashboard, panel, expr) with the template variables
filled in, for tests that run the queries against real data.
"""
import collections
import glob
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD_DIR = os.path.join(ROOT, "dashboards")
# File name -> (uid, title): the uids are stable, links and provisioning use them.
DASHBOARDS = {
    "memtide-overview.json": ("memtide-overview", "memtide / Overview"),
    "memtide-process-group.json": ("memtide-process-group", "memtide / Process group"),
    "memtide-sessions.json": ("memtide-sessions", "memtide / Sessions"),
}
PATHS = [os.path.join(DASHBOARD_DIR, name) for name in DASHBOARDS]
PROMETHEUS_DS = {"type": "prometheus", "uid": "${datasource}"}

# What Grafana would put in place of each variable when everything is selected.
DEFAULT_VALUES = {
    "job": ".+",
    "instance": ".+",
    "group": ".+",
    "pool": ".+",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "60000",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")

Query = collections.namedtuple("Query", "dashboard panel expr")

# PromQL words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "bool", "and", "or", "unless", "atan2", "inf", "nan", "start", "end"}
RANGE_FUNCTIONS = ("rate", "irate", "increase")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def panels(dashboard):
    """Every panel, rows included, and the panels inside collapsed rows."""
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])


def custom_defaults(dashboard):
    """The current value of each custom variable (the windows: floor, trend)."""
    return {v["name"]: v["current"]["value"] for v in dashboard["templating"]["list"]
            if v.get("type") == "custom"}


def substitute(expr, values=None):
    """The expression with its template variables filled in.

    Query variables (job, instance, group, pool) become ".+", as with "All"
    selected (their allValue); Grafana's intervals become 1m; values overrides either.
    """
    table = dict(DEFAULT_VALUES, **(values or {}))

    def one(m):
        name = m.group(1) or m.group(2)
        if name not in table:
            raise KeyError(f"no value for the variable ${name} in {expr!r}")
        return table[name]
    return VARIABLE.sub(one, expr)


def panel_queries(path, values=None):
    """[(dashboard title, panel title, expr with variables filled in)] of a dashboard file.

    values overrides DEFAULT_VALUES and the custom variables' defaults, e.g.
    {"job": "memtide", "group": "leaky-webapp", "floor": "30s", "trend": "2m"} (the
    windows of the time-scaled demo rules).
    """
    d = load(path)
    values = dict(custom_defaults(d), **(values or {}))
    return [Query(d["title"], p["title"], substitute(t["expr"], values))
            for p in panels(d) if p.get("type") != "row"
            for t in p.get("targets", []) if t.get("expr")]


def annotation_queries(path, values=None):
    """Like panel_queries, for the Prometheus annotations (which may rightly be empty)."""
    d = load(path)
    values = dict(custom_defaults(d), **(values or {}))
    return [Query(d["title"], "annotation: " + a["name"], substitute(a["expr"], values))
            for a in d.get("annotations", {}).get("list", []) if a.get("expr")]


def variable_selectors(path, values=None):
    """The series selector inside each label_values() variable query."""
    d = load(path)
    out = []
    for v in d["templating"]["list"]:
        if v.get("type") != "query":
            continue
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["definition"].strip())
        assert m, (d["title"], v["name"], v["definition"])
        out.append(Query(d["title"], "variable: " + v["name"], substitute(m.group(1), values)))
    return out


def raw_exprs(dashboard):
    """(where, expr) of every query of a dashboard: targets and annotations, unsubstituted."""
    for p in panels(dashboard):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p["title"], t["expr"]
    for a in dashboard.get("annotations", {}).get("list", []):
        if a.get("expr"):
            yield "annotation " + a["name"], a["expr"]


def strip_strings(expr):
    """expr with the inside of every string literal blanked, positions kept."""
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`',
                  lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], expr)


def strip_comments(expr):
    return re.sub(r"#[^\n]*", lambda m: " " * len(m.group(0)), expr)


def blank(pattern, text):
    return re.sub(pattern, lambda m: " " * len(m.group(0)), text)


def selectors(expr):
    """[(metric name, label matchers or None)] of every vector selector in expr."""
    original = strip_comments(expr)
    e = strip_strings(original)
    e = blank(r"\{[^}]*\}", e)                  # label matchers
    e = blank(r"\[[^\]]*\]", e)                 # ranges and subquery windows
    e = blank(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", e)
    e = blank(r"\boffset\s+-?\w+", e)
    found = []
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        if m.group(2) or m.group(1) in KEYWORDS:
            continue
        brace = re.match(r"\s*\{((?:[^}\"]|\"(?:[^\"\\]|\\.)*\")*)\}", original[m.end():])
        found.append((m.group(1), brace.group(1) if brace else None))
    return found


def metric_names(expr):
    """The metric names an expression selects (not functions, labels or durations)."""
    return {name for name, _ in selectors(expr)}


def enclosing_function(expr, pos):
    """The name of the innermost function call whose parentheses contain pos, or None."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        c = expr[i]
        if c == ")":
            depth += 1
        elif c == "(":
            if depth == 0:
                m = re.search(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*$", expr[:i])
                return m.group(1) if m else None
            depth -= 1
    return None


def call_argument(expr, open_paren):
    """The text between the parenthesis at open_paren and its match."""
    depth = 0
    for i in range(open_paren, len(expr)):
        if expr[i] == "(":
            depth += 1
        elif expr[i] == ")":
            depth -= 1
            if depth == 0:
                return expr[open_paren + 1:i]
    raise AssertionError(f"unbalanced parentheses in {expr!r}")


def documented_metrics():
    """The backticked metric names of docs/metrics.md, the contract."""
    with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as f:
        text = f.read()
    return set(re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)[`{]", text))


def recording_rules():
    names = set()
    for path in glob.glob(os.path.join(ROOT, "alerts", "*.rules.yml")):
        with open(path, encoding="utf-8") as f:
            names.update(re.findall(r'^\s*-?\s*record:\s*["\']?([a-zA-Z_:][a-zA-Z0-9_:]*)', f.read(), re.M))
    return names


@pytest.fixture(params=PATHS, ids=list(DASHBOARDS))
def dashboard(request):
    with open(request.param, encoding="utf-8") as f:
        text = f.read()
    d = json.loads(text)
    d["__file__"] = os.path.basename(request.param)
    return d


def test_generator_and_files_agree():
    """The JSON files are what dashboards/generate.py writes."""
    r = subprocess.run([sys.executable, os.path.join(DASHBOARD_DIR, "generate.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_identity(dashboard):
    uid, title = DASHBOARDS[dashboard["__file__"]]
    assert dashboard["uid"] == uid
    assert dashboard["title"] == title
    assert dashboard["id"] is None
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 39
    assert dashboard.get("description")


def test_variables(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert len(variables) == len(dashboard["templating"]["list"]), "duplicate variable names"
    datasources = [v for v in variables.values() if v["type"] == "datasource"]
    assert len(datasources) == 1, datasources
    assert datasources[0]["name"] == "datasource" and datasources[0]["query"] == "prometheus"
    for name, needs in (("job", ()), ("instance", ("$job",)), ("group", ("$job", "$instance"))):
        v = variables.get(name)
        assert v and v["type"] == "query", (name, v)
        assert v["datasource"] == PROMETHEUS_DS, name
        definition = v["definition"]
        assert re.match(r"label_values\(memtide_\w+", definition), definition
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        assert query == definition, name
        for ref in needs:
            assert ref in definition, (name, "not chained on", ref)
        assert v.get("label") == name.capitalize(), name
        if v.get("includeAll"):
            assert v.get("allValue") == ".+", name
    # Every variable used in a query is defined (or is one of Grafana's own).
    for where, expr in raw_exprs(dashboard):
        for m in VARIABLE.finditer(expr):
            name = m.group(1) or m.group(2)
            assert name in variables or name.startswith("__"), (where, name)


def test_every_panel_has_datasource_targets_unit_and_description(dashboard):
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        assert p.get("datasource") == PROMETHEUS_DS, p["title"]
        assert p.get("description", "").strip(), p["title"]
        assert p.get("fieldConfig", {}).get("defaults", {}).get("unit"), p["title"]
        assert p.get("targets"), f"{p['title']}: no query"
        for t in p["targets"]:
            assert t.get("expr", "").strip(), (p["title"], t)
            assert t.get("datasource") == PROMETHEUS_DS, (p["title"], t)
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
    for a in dashboard["annotations"]["list"]:
        if a.get("expr"):
            assert a["datasource"] == PROMETHEUS_DS, a["name"]


# Grafana's unit ids this project uses (all in Grafana's list of standard units).
UNITS = {"bytes", "Bps", "s", "short", "none", "percentunit", "ops", "cps", "reqps"}


def test_units_are_grafana_units(dashboard):
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        units = [p["fieldConfig"]["defaults"].get("unit")]
        units += [prop["value"] for o in p["fieldConfig"].get("overrides", [])
                  for prop in o["properties"] if prop["id"] == "unit"]
        for unit in units:
            assert unit in UNITS, (p["title"], unit)


def test_every_selector_filters_on_job_and_instance(dashboard):
    """Every series selector follows the job and instance variables."""
    for where, expr in raw_exprs(dashboard):
        for name, matchers in selectors(expr):
            assert matchers is not None, (where, name, "no matchers")
            assert re.search(r'(^|,)\s*job=~"\$job"', matchers), (where, name, matchers)
            assert re.search(r'(^|,)\s*instance=~"\$instance[|"]', matchers), (where, name, matchers)


def test_panel_ids_and_grid(dashboard):
    seen = set()
    cells = {}
    for p in panels(dashboard):
        assert isinstance(p.get("id"), int), p.get("title")
        assert p["id"] not in seen, f"duplicate panel id {p['id']}"
        seen.add(p["id"])
        g = p.get("gridPos")
        assert g and all(isinstance(g.get(k), int) for k in "hwxy"), p["title"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


def test_rate_interval_in_every_rate(dashboard):
    for where, expr in raw_exprs(dashboard):
        for m in re.finditer(r"\b(%s)\s*\(" % "|".join(RANGE_FUNCTIONS), expr):
            arg = call_argument(expr, m.end() - 1)
            ranges = re.findall(r"\[([^\]]*)\]\s*$", arg.strip())
            assert ranges == ["$__rate_interval"], (where, m.group(1), arg)


def test_counters_only_inside_rate(dashboard):
    for where, expr in raw_exprs(dashboard):
        e = strip_strings(expr)
        for m in re.finditer(r"(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*_total)\b", e):
            if e[m.end():].lstrip().startswith("("):
                continue
            assert enclosing_function(e, m.start()) in RANGE_FUNCTIONS, (where, m.group(1), expr)


def test_metric_names_are_in_the_contract(dashboard):
    """Names come from docs/metrics.md or the recording rules, so they cannot drift."""
    known = documented_metrics() | recording_rules() | {"ALERTS", "ALERTS_FOR_STATE", "up"}
    used = set()
    for _, expr in raw_exprs(dashboard):
        used |= metric_names(expr)
    for q in variable_selectors(os.path.join(DASHBOARD_DIR, dashboard["__file__"])):
        used |= metric_names(q.expr)
    unknown = sorted(used - known)
    assert not unknown, f"not in docs/metrics.md nor a recording rule: {unknown}"


def test_helpers_understand_promql():
    assert metric_names('sum by (job) (rate(a_total{x="b_total"}[$__rate_interval])) '
                        '/ on(job) group_left() b offset 1h') == {"a_total", "b"}
    assert metric_names("deriv(min_over_time(m{a=~\"$g|\"}[30m])[2h:1m]) * 3600") == {"m"}
    e = "avg_over_time(rate(c_total[1m])[30m:1m]) / c_total"
    assert enclosing_function(e, e.index("c_total")) == "rate"
    assert enclosing_function(e, e.rindex("c_total")) is None
    assert substitute('x{job=~"$job"}[${__rate_interval}]') == 'x{job=~".+"}[1m]'
    assert selectors('sum(a{x="}"} offset 5m) / b # c\n') == [("a", 'x="}"'), ("b", None)]
    assert selectors('rate(c_total{job=~"$job"}[1m])') == [("c_total", 'job=~"$job"')]


def prometheus_error(prom, expr):
    """None when Prometheus evaluates expr as an instant query, else its error."""
    url = prom.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") == "success":
        return None
    return f"{body.get('errorType')}: {body.get('error')}"


def test_every_query_runs_in_prometheus(exporter_factory, prometheus_factory):
    """Every query, variables filled in, parses and evaluates against real exporter data."""
    exporter = exporter_factory()
    prom = prometheus_factory({"memtide": exporter.address})
    wait_for(lambda: prom.value('count_over_time(memtide_group_resident_bytes{job="memtide"}[1m])'),
             timeout=60, what="a scrape of the exporter")
    queries = []
    for path in PATHS:
        queries += panel_queries(path) + annotation_queries(path) + variable_selectors(path)
    assert queries
    errors = [(q.dashboard, q.panel, q.expr, err) for q in queries
              if (err := prometheus_error(prom, q.expr))]
    assert not errors, "\n".join(map(str, errors))
    # The check itself is live: a broken query is reported.
    assert prometheus_error(prom, "rate(memtide_group_resident_bytes[1m]")
