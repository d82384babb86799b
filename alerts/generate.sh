#!/bin/sh
# Generate the rule files from the jsonnet source into directory $1. jsonnet
# evaluates each to JSON ({header, document}); manifest_yaml.py writes the YAML.
set -eu
src=$(dirname "$0")
out=${1:?usage: generate.sh OUTDIR}
python=${PYTHON:-/usr/bin/python3}
# The same rules as a prometheus-operator PrometheusRule; written next to the
# rule files when OUTDIR is alerts, else into OUTDIR (for the up-to-date check).
if [ "$(cd "$out" && pwd)" = "$(cd "$src" && pwd)" ]; then k8s="$src/../deploy/kubernetes"; else k8s="$out"; fi
# render TARGET JSONNET-ARGS...: the file is replaced only when both steps succeed.
render() {
	target=$1
	shift
	if jsonnet -J "$src" "$@" > "$target.json.tmp" &&
		"$python" "$src/manifest_yaml.py" < "$target.json.tmp" > "$target.tmp"; then
		rm -f "$target.json.tmp"
		mv "$target.tmp" "$target"
	else
		rm -f "$target.json.tmp" "$target.tmp"
		return 1
	fi
}
render "$out/memtide.rules.yml" --ext-code timeScale=1 "$src/rules.jsonnet"
render "$out/memtide-demo.rules.yml" --ext-code timeScale=60 "$src/rules.jsonnet"
render "$k8s/prometheusrule.yaml" "$src/prometheusrule.jsonnet"
