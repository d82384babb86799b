#!/usr/bin/python3
"""Writes the memtide Grafana dashboards (dashboards/*.json) from one definition.

    dashboards/generate.py           rewrite the JSON files next to this script
    dashboards/generate.py --check   exit 1 when a JSON file differs from what
                                     this script would write (the tests run it)

Standard library only. Panel ids and grid positions are assigned here, so edit
this file, not the JSON, and run it again.

Every query reads raw memtide_exporter metrics (docs/metrics.md), so the
dashboards work without the recording rules of alerts/ loaded; only the
firing-alert panels read ALERTS, which exists only where the rules are loaded.
The expressions mirror the rules': the memory floor is min_over_time over 30
minutes, its growth the slope of that floor over 2 hours (both windows are
dashboard variables with those defaults).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}

# Label selectors. A multi-value or "All" variable interpolates as a regex.
SEL = 'job=~"$job", instance=~"$instance"'
GSEL = SEL + ', group=~"$group"'
# Session pools counted from directories and TCP have no group label: "$group|"
# also matches the empty value, so those pools stay visible whatever the group.
SSEL = SEL + ', group=~"$group|", pool=~"$pool"'
ALERTS = 'ALERTS{alertname=~"Memtide.*", alertstate="firing", %s}'
# Alerts without an instance label (MemtideExporterDown when the target is
# absent) are shown whatever the instance selection.
ALERTS_SEL = 'job=~"$job", instance=~"$instance|"'

# The floor and its growth, as in alerts/ (memtide:group_anonymous_bytes:floor):
# windows are the variables $floor (default 30m) and $trend (default 2h), so
# that time-scaled rules, as in the demo, can be followed with shorter ones.
FLOOR_WINDOW = "$floor"
TREND_WINDOW = "$trend"


def floor(metric, sel=GSEL):
    return f"min_over_time({metric}{{{sel}}}[{FLOOR_WINDOW}])"


# Slope of the anonymous-memory floor over the trend window, in bytes per hour.
# The subquery steps at Prometheus' evaluation interval.
GROWTH_PER_HOUR = f"deriv({floor('memtide_group_anonymous_bytes')}[{TREND_WINDOW}:]) * 3600"
# Seconds until resident memory reaches the limit at that slope; nothing when
# the floor is not growing.
TIME_TO_LIMIT = (
    f"(memtide_group_memory_limit_bytes{{{GSEL}}}"
    f" - on(job, instance, group) memtide_group_resident_bytes{{{GSEL}}})"
    f" / on(job, instance, group)"
    f" (deriv({floor('memtide_group_anonymous_bytes')}[{TREND_WINDOW}:]) > 0)"
)
LIMIT_SHARE = (f"memtide_group_resident_bytes{{{GSEL}}}"
               f" / on(job, instance, group) memtide_group_memory_limit_bytes{{{GSEL}}}")
POOL_LABELS = "job, instance, source, group, pool"
# Little's law: mean lifetime = mean live sessions / mean opening rate.
MEAN_LIFETIME = (
    f"avg_over_time(memtide_sessions_live{{{SSEL}, source=\"agent\"}}[30m])"
    f" / on({POOL_LABELS})"
    f" (avg_over_time(rate(memtide_sessions_opened_total{{{SSEL}, source=\"agent\"}}"
    f"[$__rate_interval])[30m:1m]) > 0)"
)

DASHED = {"fill": "dash", "dash": [10, 10]}
DOTTED = {"fill": "dot", "dash": [0, 10]}


# --- building blocks -------------------------------------------------------

def target(expr, legend="", ref="A", instant=False, table=False):
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": ref,
    }
    if table:
        t["format"] = "table"
    return t


def targets(*specs, instant=False, table=False):
    """targets((expr, legend), ...) with refIds A, B, C..."""
    return [target(expr, legend, chr(ord("A") + i), instant, table)
            for i, (expr, legend) in enumerate(specs)]


def thresholds(*steps):
    """thresholds((None, "green"), (10, "red")): the base step first."""
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in steps]}


GREEN = thresholds((None, "green"))


def override_ref(ref, *properties):
    return {"matcher": {"id": "byFrameRefID", "options": ref},
            "properties": [{"id": k, "value": v} for k, v in properties]}


def override_name(name, *properties):
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": k, "value": v} for k, v in properties]}


def limit_line(ref):
    """The memory limit or the TTL: a red dashed line."""
    return override_ref(ref, ("custom.lineStyle", DASHED),
                        ("color", {"mode": "fixed", "fixedColor": "red"}),
                        ("custom.fillOpacity", 0))


def floor_line(ref):
    return override_ref(ref, ("custom.lineStyle", DOTTED), ("custom.lineWidth", 2),
                        ("custom.fillOpacity", 0))


def base(kind, title, description, unit, tgts, overrides=(), defaults=None, options=None):
    fd = {"unit": unit, "thresholds": GREEN, "color": {"mode": "palette-classic"}}
    fd.update(defaults or {})
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": fd, "overrides": list(overrides)},
        "options": options or {},
    }


def timeseries(title, description, unit, tgts, overrides=(), stack=False, bars=False,
               maximum=None):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "gradientMode": "none",
        "showPoints": "never",
        "spanNulls": False,
        "axisSoftMin": 0,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    defaults = {"custom": custom}
    if maximum is not None:
        defaults["max"] = maximum
    return base("timeseries", title, description, unit, tgts, overrides, defaults, {
        "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                   "calcs": ["lastNotNull", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    })


def stat(title, description, unit, tgts, steps=GREEN, no_value=None):
    defaults = {"thresholds": steps, "color": {"mode": "thresholds"}}
    if no_value:
        defaults["noValue"] = no_value
    return base("stat", title, description, unit, tgts, (), defaults, {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
        "orientation": "auto", "textMode": "auto",
    })


def bargauge(title, description, unit, tgts):
    return base("bargauge", title, description, unit, tgts, (),
                {"color": {"mode": "continuous-GrYlRd"}, "min": 0}, {
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "horizontal", "displayMode": "gradient",
                    "showUnfilled": True, "minVizWidth": 0, "minVizHeight": 10,
                    "valueMode": "color", "namePlacement": "auto", "sizing": "auto",
                })


def merge_overrides(overrides):
    """One override per matcher, its properties in order."""
    merged = {}
    for o in overrides:
        key = json.dumps(o["matcher"], sort_keys=True)
        merged.setdefault(key, {"matcher": o["matcher"], "properties": []})
        merged[key]["properties"] += o["properties"]
    return list(merged.values())


def table(title, description, unit, tgts, transformations, overrides=(), sort_by=None):
    p = base("table", title, description, unit, tgts, merge_overrides(overrides),
             {"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
              "color": {"mode": "thresholds"}},
             {"showHeader": True, "cellHeight": "sm",
              "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""},
              "sortBy": [{"displayName": sort_by, "desc": True}] if sort_by else []})
    p["transformations"] = transformations
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


class Grid:
    """Places panels left to right on the 24-column grid; ids in order."""

    def __init__(self):
        self.panels = []
        self.x = self.y = self.row_h = 0

    def add(self, panel, w=24, h=8):
        if panel["type"] == "row":
            w, h = 24, 1
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = dict(panel, id=len(self.panels) + 1, gridPos={"h": h, "w": w, "x": self.x, "y": self.y})
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        if self.x >= 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        return panel


def query_variable(name, label, query, multi=True, include_all=True):
    v = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "definition": query,
        "query": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {},
        "options": [],
        "hide": 0,
        "skipUrlSync": False,
    }
    if include_all:
        v["allValue"] = ".+"
    return v


def custom_variable(name, label, options, description):
    return {
        "type": "custom", "name": name, "label": label, "description": description,
        "query": ",".join(options),
        "current": {"selected": True, "text": options[0], "value": options[0]},
        "options": [{"selected": i == 0, "text": o, "value": o} for i, o in enumerate(options)],
        "multi": False, "includeAll": False, "hide": 0, "skipUrlSync": False,
    }


WINDOW_VARIABLES = [
    custom_variable("floor", "Floor window", ["30m", "1h", "15m", "5m", "30s"],
                    "The memory floor is the minimum over this window; longer than a "
                    "garbage-collection cycle. The rules use 30m (30s in the demo's)."),
    custom_variable("trend", "Trend window", ["2h", "6h", "1h", "30m", "2m"],
                    "Floor growth is the floor's slope over this window. The rules use 2h "
                    "(2m in the demo's)."),
]


def variables(group_multi=True, extra=()):
    return [
        {"type": "datasource", "name": "datasource", "label": "Data source",
         "query": "prometheus", "current": {}, "hide": 0, "includeAll": False,
         "multi": False, "options": [], "refresh": 1, "regex": "", "skipUrlSync": False},
        query_variable("job", "Job", "label_values(memtide_exporter_build_info, job)"),
        query_variable("instance", "Instance",
                       'label_values(memtide_exporter_build_info{job=~"$job"}, instance)'),
        query_variable("group", "Group",
                       f"label_values(memtide_group_processes{{{SEL}}}, group)",
                       multi=group_multi, include_all=group_multi),
        *extra,
    ]


BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def prometheus_annotation(name, expr, color, title, text):
    return {"datasource": DS, "enable": True, "hide": False, "iconColor": color,
            "name": name, "expr": expr, "step": "60s", "titleFormat": title,
            "textFormat": text, "tagKeys": "group,instance", "useValueForTime": False}


def dashboard(uid, title, description, grid, templating, annotations=()):
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["memtide"],
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "liveNow": False,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "weekStart": "",
        "links": [{"title": "memtide", "type": "dashboards", "tags": ["memtide"],
                   "asDropdown": True, "includeVars": True, "keepTime": True,
                   "targetBlank": False, "icon": "external link", "tooltip": "", "url": ""}],
        "annotations": {"list": [BUILTIN_ANNOTATION, *annotations]},
        "templating": {"list": templating},
        "panels": grid.panels,
    }


# --- memtide / Overview ----------------------------------------------------

def overview():
    g = Grid()
    g.add(stat("Process groups",
               "Process groups the selected exporters report (one per group and instance).",
               "short", targets((f"count(memtide_group_processes{{{GSEL}}})", "groups"))), 4, 4)
    g.add(stat("Firing memtide alerts",
               "memtide alerts firing now (ALERTS{alertname=~\"Memtide.*\"}); needs the rules "
               "of alerts/ loaded into Prometheus.",
               "short", targets((f"count({ALERTS % ALERTS_SEL}) or vector(0)", "firing")),
               thresholds((None, "green"), (1, "red"))), 4, 4)
    g.add(stat("Live sessions",
               "Live sessions over every pool of every source (directories, TCP, libmemtide).",
               "short", targets((f"sum(memtide_sessions_live{{{SEL}}}) or vector(0)", "live"))), 4, 4)
    g.add(stat("Fastest floor growth per hour",
               "The largest growth of a group's anonymous-memory floor (its minimum over the "
               "floor window, 30 minutes by default), per hour, measured as the floor's slope "
               "over the trend window (2 hours by default).",
               "bytes", targets((f"max({GROWTH_PER_HOUR})", "growth per hour"), instant=True),
               thresholds((None, "green"), (1048576, "orange"), (16777216, "red"))), 4, 4)
    g.add(stat("Shortest time to limit",
               "The least time until a group's resident memory reaches its memory limit "
               "(cgroup limit, else MemTotal) if its floor keeps growing at the rate of the "
               "trend window. No value: no floor is growing.",
               "s", targets((f"min({TIME_TO_LIMIT})", "time to limit"), instant=True),
               thresholds((None, "red"), (86400, "orange"), (604800, "green")),
               no_value="not growing"), 4, 4)
    g.add(stat("Highest share of limit",
               "The largest resident memory of a group as a share of its memory limit.",
               "percentunit", targets((f"max({LIMIT_SHARE})", "share of limit")),
               thresholds((None, "green"), (0.75, "orange"), (0.9, "red"))), 4, 4)

    by = "job, instance, group"
    columns = [
        ("A", "Resident", f"max by ({by}) (memtide_group_resident_bytes{{{GSEL}}})", "bytes"),
        ("B", "Anonymous", f"max by ({by}) (memtide_group_anonymous_bytes{{{GSEL}}})", "bytes"),
        ("C", "Floor growth per hour", GROWTH_PER_HOUR, "bytes"),
        ("D", "Time to limit", TIME_TO_LIMIT, "s"),
        ("E", "Share of limit", LIMIT_SHARE, "percentunit"),
        ("F", "Processes", f"max by ({by}) (memtide_group_processes{{{GSEL}}})", "short"),
        ("G", "Live sessions",
         f"sum by ({by}) (memtide_sessions_live{{{GSEL}, source=\"agent\"}})", "short"),
        ("H", "Firing alerts", f"count by ({by}) ({ALERTS % GSEL})", "short"),
    ]
    overrides = [override_name(name, ("unit", unit)) for _, name, _, unit in columns]
    overrides += [
        override_name("Floor growth per hour",
                      ("custom.cellOptions", {"type": "color-background", "mode": "gradient"}),
                      ("thresholds", thresholds((None, "transparent"), (1048576, "orange"),
                                                (16777216, "red")))),
        override_name("Share of limit",
                      ("custom.cellOptions", {"type": "gauge", "mode": "gradient"}),
                      ("min", 0), ("max", 1),
                      ("thresholds", thresholds((None, "green"), (0.75, "orange"), (0.9, "red")))),
        override_name("Firing alerts",
                      ("custom.cellOptions", {"type": "color-text"}),
                      ("thresholds", thresholds((None, "green"), (1, "red")))),
    ]
    g.add(table(
        "Process groups, fastest growers first",
        "Every selected group on every instance: resident and anonymous memory now, the "
        "growth of the anonymous-memory floor per hour (slope over the trend window of the "
        "minimum over the floor window, which removes garbage-collection sawtooth; 2 hours and "
        "30 minutes by default), the time until resident "
        "memory reaches the limit at that growth (empty when the floor is not growing), the "
        "share of the limit in use, live libmemtide sessions and firing memtide alerts. "
        "Sorted by floor growth, largest first.",
        "bytes",
        [target(expr, "", ref, instant=True, table=True) for ref, _, expr, _ in columns],
        [
            {"id": "merge", "options": {}},
            {"id": "sortBy", "options": {"fields": {}, "sort": [{"field": "Value #C", "desc": True}]}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "indexByName": {"instance": 0, "group": 1, "job": 2,
                                **{f"Value #{ref}": 3 + i for i, (ref, *_) in enumerate(columns)}},
                "renameByName": {f"Value #{ref}": name for ref, name, *_ in columns},
            }},
        ],
        overrides, sort_by="Floor growth per hour"), 24, 10)

    g.add(table(
        "Firing memtide alerts",
        "The memtide alerts firing now with their labels; see alerts/runbooks.md for each. "
        "Empty when nothing fires or the rules are not loaded.",
        "short", [target(ALERTS % ALERTS_SEL, "", "A", instant=True, table=True)],
        [{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True, "__name__": True, "alertstate": True},
            "indexByName": {"alertname": 0, "severity": 1, "instance": 2, "group": 3},
            "renameByName": {},
        }}]), 12, 8)
    pool_by = POOL_LABELS
    pool_columns = [
        ("A", "Live", f"max by ({pool_by}) (memtide_sessions_live{{{SEL}}})", "short"),
        ("B", "Oldest", f"max by ({pool_by}) (memtide_sessions_oldest_age_seconds{{{SEL}}})", "s"),
        ("C", "TTL", f"max by ({pool_by}) (memtide_sessions_ttl_seconds{{{SEL}}})", "s"),
    ]
    g.add(table(
        "Session pools",
        "Every session pool: live sessions, the age of the oldest session and the pool's "
        "TTL. An oldest session older than the TTL is one the application's cleanup missed.",
        "short",
        [target(expr, "", ref, instant=True, table=True) for ref, _, expr, _ in pool_columns],
        [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "indexByName": {"instance": 0, "source": 1, "pool": 2, "group": 3, "job": 4,
                                "Value #A": 5, "Value #B": 6, "Value #C": 7},
                "renameByName": {f"Value #{ref}": name for ref, name, *_ in pool_columns},
            }},
        ],
        [override_name(name, ("unit", unit)) for _, name, _, unit in pool_columns],
        sort_by="Live"), 12, 8)

    legend = "{{group}} on {{instance}}"
    g.add(timeseries(
        "Anonymous memory floor per group",
        "Each group's anonymous memory (heap, stacks, anonymous mappings: where leaks live) "
        "as its floor, the minimum over the floor window (30 minutes by default). A floor "
        "that keeps rising is "
        "a leak; sawtooth from garbage collection does not move it.",
        "bytes", targets((floor("memtide_group_anonymous_bytes"), legend))), 12, 8)
    g.add(timeseries(
        "Resident memory per group",
        "Each group's resident memory (sum of VmRSS of its processes).",
        "bytes", targets((f"memtide_group_resident_bytes{{{GSEL}}}", legend))), 12, 8)
    g.add(timeseries(
        "Share of the memory limit",
        "Each group's resident memory as a share of its memory limit (the smallest cgroup "
        "limit of its members, else MemTotal).",
        "percentunit", targets((LIMIT_SHARE, legend)), maximum=1), 12, 8)
    g.add(timeseries(
        "Live sessions per pool",
        "Live sessions of every pool: session files (dir), established connections (tcp) "
        "or sessions reported through libmemtide (agent).",
        "short", targets((f"memtide_sessions_live{{{SEL}}}",
                          "{{source}}/{{pool}} on {{instance}}"))), 12, 8)
    return dashboard(
        "memtide-overview", "memtide / Overview",
        "Every process group on every instance: memory, floor growth, time to limit, "
        "sessions and firing alerts.",
        g, variables(extra=WINDOW_VARIABLES))


# --- memtide / Process group -----------------------------------------------

def sites_table():
    """The group's sampled allocation sites, fastest-growing first, and a link
    to the heap profile the exporter serves for the group."""
    columns = [
        ("A", "Growth", f"memtide_agent_site_growth_bytes_per_second{{{GSEL}}}", "Bps"),
        ("B", "Live", f"memtide_agent_site_live_bytes{{{GSEL}}}", "bytes"),
        ("C", "Live objects", f"memtide_agent_site_live_objects{{{GSEL}}}", "short"),
    ]
    p = table(
        "Growing allocation sites",
        "Where the live heap was allocated, from libmemtide's sampled stacks (estimates): per "
        "site, its growth (live bytes over its age while it keeps reaching new highs, 0 once it "
        "stopped), live bytes and objects. The top 10 by live bytes and the top 10 by growth, "
        "the rest summed as other. A site is the first frame that is not the allocator: "
        "function (file:line), or function+offset in the object. The link opens the group's "
        "heap profile (go tool pprof URL); see alerts/runbooks.md.",
        "bytes",
        [target(expr, "", ref, instant=True, table=True) for ref, _, expr, _ in columns],
        [
            {"id": "merge", "options": {}},
            {"id": "sortBy", "options": {"fields": {}, "sort": [{"field": "Value #A", "desc": True}]}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True, "job": True, "group": True},
                "indexByName": {"site": 0, "instance": 1,
                                **{f"Value #{ref}": 2 + i for i, (ref, *_) in enumerate(columns)}},
                "renameByName": {f"Value #{ref}": name for ref, name, *_ in columns},
            }},
        ],
        [override_name(name, ("unit", unit)) for _, name, _, unit in columns],
        sort_by="Growth")
    p["links"] = [{"title": "Heap profile of the group (pprof)", "targetBlank": True,
                   "url": "http://${instance}/debug/pprof/heap?group=${group}"}]
    return p


def process_group():
    g = Grid()
    legend = "{{instance}}"
    g.add(row("Memory"))
    g.add(stat("Resident memory", "The group's resident memory now (sum of VmRSS).", "bytes",
               targets((f"memtide_group_resident_bytes{{{GSEL}}}", legend))), 6, 4)
    g.add(stat("Floor growth per hour",
               "Growth per hour of the anonymous-memory floor (minimum over the floor window, "
               "30 minutes by default), measured as its slope over the trend window (2 hours "
               "by default). Sustained growth is a leak.",
               "bytes", targets((GROWTH_PER_HOUR, legend), instant=True),
               thresholds((None, "green"), (1048576, "orange"), (16777216, "red"))), 6, 4)
    g.add(stat("Predicted time to limit",
               "Time until resident memory reaches the memory limit if the floor keeps "
               "growing at its rate over the trend window. No value: the floor is not growing.",
               "s", targets((TIME_TO_LIMIT, legend), instant=True),
               thresholds((None, "red"), (86400, "orange"), (604800, "green")),
               no_value="not growing"), 6, 4)
    g.add(stat("Share of the memory limit",
               "Resident memory as a share of the memory limit (cgroup limit, else MemTotal).",
               "percentunit", targets((LIMIT_SHARE, legend)),
               thresholds((None, "green"), (0.75, "orange"), (0.9, "red"))), 6, 4)
    g.add(timeseries(
        "Memory by kind, its floor and the limit",
        "Resident (VmRSS), anonymous (RssAnon), proportional (Pss) and unique (USS) memory "
        "and swap of the group, summed over its processes; proportional and unique only for "
        "groups configured with pss: true. Dotted: the floors (minimum over the floor window) of "
        "anonymous and resident memory, the trend without sawtooth. Dashed red: the memory "
        "limit.",
        "bytes", targets(
            (f"memtide_group_resident_bytes{{{GSEL}}}", "resident {{instance}}"),
            (f"memtide_group_anonymous_bytes{{{GSEL}}}", "anonymous {{instance}}"),
            (f"memtide_group_proportional_bytes{{{GSEL}}}", "proportional {{instance}}"),
            (f"memtide_group_unique_bytes{{{GSEL}}}", "unique {{instance}}"),
            (f"memtide_group_swap_bytes{{{GSEL}}}", "swap {{instance}}"),
            (floor("memtide_group_anonymous_bytes"), "anonymous floor {{instance}}"),
            (floor("memtide_group_resident_bytes"), "resident floor {{instance}}"),
            (f"memtide_group_memory_limit_bytes{{{GSEL}}}", "limit {{instance}}"),
        ),
        [floor_line("F"), floor_line("G"), limit_line("H")]), 24, 10)
    g.add(timeseries(
        "Largest process and virtual memory",
        "The largest resident memory of one member (one process leaking, or all of them?) "
        "and the group's virtual size.",
        "bytes", targets(
            (f"memtide_group_max_process_resident_bytes{{{GSEL}}}", "largest member {{instance}}"),
            (f"memtide_group_virtual_bytes{{{GSEL}}}", "virtual {{instance}}"),
        )), 12, 8)
    g.add(timeseries(
        "Share of the memory limit over time",
        "Resident memory as a share of the memory limit.",
        "percentunit", targets((LIMIT_SHARE, legend)), maximum=1), 12, 8)

    g.add(row("Allocator (libmemtide)"))
    g.add(timeseries(
        "Live heap against allocator and RSS (the retention gap)",
        "Bytes in live allocations counted by libmemtide, the memory the allocator holds "
        "from the system (mallinfo2), free bytes inside the allocator and resident memory. "
        "Live bytes growing with the floor is a leak; resident memory growing over flat live "
        "bytes is allocator retention or fragmentation. Needs libmemtide in the processes.",
        "bytes", targets(
            (f"memtide_malloc_live_bytes{{{GSEL}}}", "live heap {{instance}}"),
            (f"memtide_malloc_heap_system_bytes{{{GSEL}}}", "allocator system {{instance}}"),
            (f"memtide_malloc_heap_free_bytes{{{GSEL}}}", "allocator free {{instance}}"),
            (f"memtide_group_resident_bytes{{{GSEL}}}", "resident {{instance}}"),
            (floor("memtide_malloc_live_bytes"), "live heap floor {{instance}}"),
        ),
        [floor_line("E")]), 12, 9)
    g.add(timeseries(
        "Retention gap",
        "Memory the allocator holds from the system beyond the live allocations "
        "(allocator system bytes minus live bytes), and resident memory beyond the live "
        "heap. A gap that grows while live bytes stay flat is retention, not a leak.",
        "bytes", targets(
            (f"memtide_malloc_heap_system_bytes{{{GSEL}}} - on(job, instance, group) "
             f"memtide_malloc_live_bytes{{{GSEL}}}", "allocator minus live {{instance}}"),
            (f"memtide_group_resident_bytes{{{GSEL}}} - on(job, instance, group) "
             f"memtide_malloc_live_bytes{{{GSEL}}}", "resident minus live {{instance}}"),
        )), 12, 9)
    g.add(timeseries(
        "Allocations and frees per second",
        "Calls of the malloc family per second: allocations and frees. A leak shows as "
        "allocations persistently above frees.",
        "ops", targets(
            (f"rate(memtide_malloc_allocs_total{{{GSEL}}}[$__rate_interval])", "allocs {{instance}}"),
            (f"rate(memtide_malloc_frees_total{{{GSEL}}}[$__rate_interval])", "frees {{instance}}"),
        )), 8, 8)
    g.add(timeseries(
        "Bytes allocated per second",
        "Bytes allocated per second (usable size), from libmemtide.",
        "Bps", targets((f"rate(memtide_malloc_allocated_bytes_total{{{GSEL}}}[$__rate_interval])",
                        "allocated {{instance}}"))), 8, 8)
    g.add(timeseries(
        "Live allocations",
        "Allocations not freed yet, and the processes of the group running libmemtide.",
        "short", targets(
            (f"memtide_malloc_live_objects{{{GSEL}}}", "live objects {{instance}}"),
            (f"memtide_agent_processes{{{GSEL}}}", "processes with libmemtide {{instance}}"),
        )), 8, 8)
    g.add(sites_table(), 24, 9)

    g.add(row("Processes"))
    g.add(timeseries(
        "Open file descriptors",
        "Open file descriptors of the group, and their floor (minimum over the floor window); a "
        "rising floor is a descriptor leak.",
        "short", targets(
            (f"memtide_group_open_fds{{{GSEL}}}", "open fds {{instance}}"),
            (floor("memtide_group_open_fds"), "floor {{instance}}"),
        ), [floor_line("B")]), 6, 8)
    g.add(timeseries("Threads", "Threads of the group's processes.", "short",
                     targets((f"memtide_group_threads{{{GSEL}}}", legend))), 6, 8)
    g.add(timeseries("Processes", "Processes in the group.", "short",
                     targets((f"memtide_group_processes{{{GSEL}}}", legend))), 6, 8)
    g.add(timeseries(
        "Age of the oldest process",
        "Time since the group's oldest member started; it drops at a restart (the restarts "
        "are also marked as annotations).",
        "s", targets((f"time() - memtide_group_oldest_start_time_seconds{{{GSEL}}}", legend))), 6, 8)

    annotations = [
        prometheus_annotation(
            "Restarts",
            f"changes(memtide_group_oldest_start_time_seconds{{{GSEL}}}[2m]) > 0",
            "orange", "Restart", "{{group}} on {{instance}}: the oldest process changed"),
        prometheus_annotation(
            "Firing memtide alerts", ALERTS % GSEL, "red", "{{alertname}}",
            "{{alertname}} ({{severity}}) on {{instance}}"),
    ]
    return dashboard(
        "memtide-process-group", "memtide / Process group",
        "One process group in depth: memory by kind with its floor and limit, predicted "
        "time to limit, the allocator's view from libmemtide, descriptors, threads and restarts.",
        g, variables(group_multi=False, extra=WINDOW_VARIABLES), annotations)


# --- memtide / Sessions ----------------------------------------------------

def sessions():
    g = Grid()
    pool_legend = "{{source}}/{{pool}} {{group}} on {{instance}}"
    g.add(stat("Live sessions", "Live sessions over the selected pools.", "short",
               targets((f"sum(memtide_sessions_live{{{SSEL}}}) or vector(0)", "live"))), 6, 4)
    g.add(stat("Oldest session",
               "Age of the oldest live session over the selected pools (session files and "
               "libmemtide pools).",
               "s", targets((f"max(memtide_sessions_oldest_age_seconds{{{SSEL}}})", "oldest"))), 6, 4)
    g.add(stat("Pools with sessions older than the TTL",
               "Pools whose oldest session is older than the pool's TTL: sessions the "
               "application should have removed.",
               "short", targets((
                   f"count(memtide_sessions_oldest_age_seconds{{{SSEL}}} > on({POOL_LABELS}) "
                   f"memtide_sessions_ttl_seconds{{{SSEL}}}) or vector(0)", "pools")),
               thresholds((None, "green"), (1, "red"))), 6, 4)
    g.add(stat("Connections in CLOSE_WAIT",
               "TCP connections the peer closed and the application did not; a growing count "
               "is a leak of sessions.",
               "short", targets((
                   f"sum(memtide_tcp_connections{{{SEL}, state=\"close_wait\"}}) or vector(0)",
                   "close_wait")),
               thresholds((None, "green"), (10, "orange"), (100, "red"))), 6, 4)

    g.add(row("Live sessions"))
    g.add(timeseries(
        "Live sessions per source and pool",
        "Live sessions of each pool: session files (dir), established connections (tcp) or "
        "sessions reported through libmemtide (agent). Pools from directories and TCP have "
        "no group and are shown whatever the group selection.",
        "short", targets((f"memtide_sessions_live{{{SSEL}}}", pool_legend))), 12, 9)
    g.add(timeseries(
        "Sessions opened and closed per second",
        "Sessions opened and closed per second, for pools that count them "
        "(libmemtide's session API). Closed persistently below opened is a session leak.",
        "cps", targets(
            (f"rate(memtide_sessions_opened_total{{{SSEL}}}[$__rate_interval])",
             "opened {{pool}} {{group}} on {{instance}}"),
            (f"rate(memtide_sessions_closed_total{{{SSEL}}}[$__rate_interval])",
             "closed {{pool}} {{group}} on {{instance}}"),
        )), 12, 9)
    g.add(timeseries(
        "Mean session lifetime against the TTL (Little's law)",
        "Mean lifetime of a session, from Little's law: live sessions divided by the "
        "opening rate, both averaged over 30 minutes. It does not depend on load; a "
        "lifetime that climbs past the TTL (dashed red) means sessions are not being "
        "removed. Pools that count openings only (libmemtide).",
        "s", targets(
            (MEAN_LIFETIME, "mean lifetime {{pool}} {{group}} on {{instance}}"),
            (f"memtide_sessions_ttl_seconds{{{SSEL}}}", "TTL {{source}}/{{pool}} on {{instance}}"),
        ), [limit_line("B")]), 12, 9)
    g.add(timeseries(
        "Oldest session against the TTL",
        "Age of the oldest live session of each pool, against the pool's TTL (dashed "
        "red). A session older than its TTL should not exist.",
        "s", targets(
            (f"memtide_sessions_oldest_age_seconds{{{SSEL}}}", "oldest " + pool_legend),
            (f"memtide_sessions_ttl_seconds{{{SSEL}}}", "TTL " + pool_legend),
        ), [limit_line("B")]), 12, 9)

    g.add(row("Age and size"))
    g.add(bargauge(
        "Age distribution of live sessions",
        "Live sessions older than 60 s, 5 min, 15 min, 1 h, 4 h and 1 day, now. Each bar "
        "counts every session older than its bound; sessions in the long bounds beyond the "
        "TTL are the leaked ones.",
        "short", targets((f"sort_desc(memtide_sessions_live_by_age{{{SSEL}}})",
                          "{{pool}} older than {{older_than_seconds}} s"), instant=True)), 8, 9)
    g.add(timeseries(
        "Live sessions by age over time",
        "Live sessions older than each bound (older_than_seconds), over time. Counts in "
        "the bounds above the TTL that keep rising are leaked sessions.",
        "short", targets((f"memtide_sessions_live_by_age{{{SSEL}}}",
                          "{{source}}/{{pool}} older than {{older_than_seconds}} s"))), 16, 9)
    g.add(timeseries(
        "Bytes per live session",
        "Memory per live session: the size of the session files over their number (dir "
        "pools), and the live heap bytes of the group (libmemtide) over its live sessions "
        "(agent pools). Rising bytes per session point at sessions that grow.",
        "bytes", targets(
            (f"memtide_sessions_bytes{{{SSEL}, source=\"dir\"}} / on({POOL_LABELS}) "
             f"(memtide_sessions_live{{{SSEL}, source=\"dir\"}} > 0)",
             "files {{pool}} on {{instance}}"),
            (f"max by (job, instance, group) (memtide_malloc_live_bytes{{{GSEL}}}) "
             f"/ on(job, instance, group) "
             f"(sum by (job, instance, group) (memtide_sessions_live{{{SSEL}, source=\"agent\"}}) > 0)",
             "heap {{group}} on {{instance}}"),
        )), 12, 8)
    g.add(timeseries(
        "Size of the session files",
        "Total size of the session files of each directory pool.",
        "bytes", targets((f"memtide_sessions_bytes{{{SSEL}, source=\"dir\"}}",
                          "{{pool}} on {{instance}}"))), 12, 8)

    g.add(row("TCP"))
    g.add(timeseries(
        "TCP connections by state",
        "TCP sockets on the configured ports by state (listening sockets are not counted). "
        "A growing close_wait count is connections the peer closed and the application did not.",
        "short", targets((f"sum by (instance, port, state) (memtide_tcp_connections{{{SEL}}})",
                          "{{port}} {{state}} on {{instance}}")), stack=True), 24, 9)

    pool_variable = query_variable(
        "pool", "Pool", f"label_values(memtide_sessions_live{{{SEL}}}, pool)")
    return dashboard(
        "memtide-sessions", "memtide / Sessions",
        "Sessions seen by memtide: live sessions per pool, opening and closing rates, mean "
        "lifetime against the TTL, ages, bytes per session and TCP connection states.",
        g, variables(extra=[pool_variable]))


DASHBOARDS = {
    "memtide-overview.json": overview,
    "memtide-process-group.json": process_group,
    "memtide-sessions.json": sessions,
}


def render(build):
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv[1:]
    stale = []
    for name, build in DASHBOARDS.items():
        path = os.path.join(HERE, name)
        text = render(build)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("out of date (run dashboards/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
