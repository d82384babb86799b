// The rules of memtide.rules.yml (timeScale 1) as a prometheus-operator
// PrometheusRule, for deploy/kubernetes/prometheusrule.yaml (generate.sh
// writes the YAML):
//   jsonnet -J alerts alerts/prometheusrule.jsonnet | alerts/manifest_yaml.py > deploy/kubernetes/prometheusrule.yaml
// The groups are built exactly as in rules.jsonnet.
local mixin = (import 'memtide.libsonnet') + {
  _config+:: { timeScale: 1, ruleInterval: 60 },
};
local rules = mixin.prometheusRules.groups;
local alerts = std.flattenArrays([g.rules for g in mixin.prometheusAlerts.groups]);
{
  header: '# Generated from alerts/memtide.libsonnet by `make alerts-generate`. Do not edit.\n' +
          '# The same groups as alerts/memtide.rules.yml. Prometheus loads it when its\n' +
          '# ruleSelector (and ruleNamespaceSelector) match the labels and namespace here:\n' +
          '# add the label your Prometheus selects (kube-prometheus-stack: release=<name>).\n',
  document: {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'memtide',
      labels: {
        'app.kubernetes.io/name': 'memtide',
        'app.kubernetes.io/component': 'alerting-rules',
      },
    },
    spec: {
      groups: [rules[0] { rules+: alerts }] + rules[1:],
    },
  },
}
