// Entry point for the generated rule files (generate.sh writes the YAML):
//   jsonnet --ext-code timeScale=1  rules.jsonnet | manifest_yaml.py > memtide.rules.yml
//   jsonnet --ext-code timeScale=60 rules.jsonnet | manifest_yaml.py > memtide-demo.rules.yml
local scale = std.extVar('timeScale');
local mixin = (import 'memtide.libsonnet') + {
  _config+:: {
    timeScale: scale,
    // The demo evaluates every 5 seconds of wall time.
    ruleInterval: if scale == 1 then 60 else 5 * scale,
  },
};
{
  header: '# Generated from alerts/memtide.libsonnet (timeScale %d) by `make alerts-generate`. Do not edit.\n' % scale,
  // The alerts join the recording rules' group so that they see this
  // instant's recorded values (groups are evaluated independently).
  local rules = mixin.prometheusRules.groups,
  local alerts = std.flattenArrays([g.rules for g in mixin.prometheusAlerts.groups]),
  document: {
    groups: [rules[0] { rules+: alerts }] + rules[1:],
  },
}
