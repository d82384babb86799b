#!/bin/sh
# Generate the rule files from the jsonnet source into directory $1. The three
# evaluations run side by side: each spends ten seconds in jsonnet's YAML
# manifest.
set -eu
src=$(dirname "$0")
out=${1:?usage: generate.sh OUTDIR}
# The same rules as a prometheus-operator PrometheusRule; written next to the
# rule files when OUTDIR is alerts, else into OUTDIR (for the up-to-date check).
if [ "$(cd "$out" && pwd)" = "$(cd "$src" && pwd)" ]; then k8s="$src/../deploy/kubernetes"; else k8s="$out"; fi
jsonnet -S -J "$src" --ext-code timeScale=1 "$src/rules.jsonnet" > "$out/memtide.rules.yml.tmp" &
rules=$!
jsonnet -S -J "$src" --ext-code timeScale=60 "$src/rules.jsonnet" > "$out/memtide-demo.rules.yml.tmp" &
demo=$!
jsonnet -S -J "$src" "$src/prometheusrule.jsonnet" > "$k8s/prometheusrule.yaml.tmp" &
k8s_rule=$!
failed=0
for pid in $rules $demo $k8s_rule; do wait "$pid" || failed=1; done
if [ "$failed" != 0 ]; then
	rm -f "$out/memtide.rules.yml.tmp" "$out/memtide-demo.rules.yml.tmp" "$k8s/prometheusrule.yaml.tmp"
	exit 1
fi
mv "$out/memtide.rules.yml.tmp" "$out/memtide.rules.yml"
mv "$out/memtide-demo.rules.yml.tmp" "$out/memtide-demo.rules.yml"
mv "$k8s/prometheusrule.yaml.tmp" "$k8s/prometheusrule.yaml"
