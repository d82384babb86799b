#!/bin/bash
# The alerting rules' test suite: run by `make alerts-test` from the repository
# root. Prints one line per check and a summary; exits 1 if any check failed.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
ALERTS_SMOKE=${ALERTS_SMOKE:-1}
tmp=$(mktemp -d)
prom_pid=
cleanup() {
	if [ -n "$prom_pid" ]; then kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

passed=()
failed=()
check() {
	local name=$1; shift
	echo "== alerts: $name"
	if "$@" > "$tmp/out" 2>&1; then
		passed+=("$name")
		tail -n 3 "$tmp/out" | sed 's/^/   /'
	else
		failed+=("$name")
		sed 's/^/   /' "$tmp/out"
	fi
}

generated_up_to_date() {
	mkdir -p "$tmp/gen" && alerts/generate.sh "$tmp/gen" || return 1
	local rc=0
	for f in memtide.rules.yml memtide-demo.rules.yml; do
		if ! diff -u "alerts/$f" "$tmp/gen/$f" > "$tmp/diff"; then
			echo "alerts/$f is out of date: run 'make alerts-generate'"
			head -n 40 "$tmp/diff"
			rc=1
		fi
	done
	if ! diff -u deploy/kubernetes/prometheusrule.yaml "$tmp/gen/prometheusrule.yaml" > "$tmp/diff"; then
		echo "deploy/kubernetes/prometheusrule.yaml is out of date: run 'make alerts-generate'"
		head -n 40 "$tmp/diff"
		rc=1
	fi
	return $rc
}

# The rules must load into a real Prometheus with every group healthy.
rules_load() {
	local port
	port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat > "$tmp/prometheus.yml" <<EOC
global:
  evaluation_interval: 1m
rule_files:
  - $PWD/alerts/memtide.rules.yml
  - $PWD/alerts/memtide-demo.rules.yml
EOC
	prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
		--web.listen-address="127.0.0.1:$port" --log.level=warn > "$tmp/prometheus.log" 2>&1 &
	prom_pid=$!
	local i ready=
	for i in $(seq 1 300); do
		if ! kill -0 "$prom_pid" 2>/dev/null; then break; fi
		if curl -fsS "http://127.0.0.1:$port/-/ready" > /dev/null 2>&1 ||
			"$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/-/ready', timeout=1)" 2>/dev/null; then
			ready=1; break
		fi
		sleep 0.2
	done
	if [ -z "$ready" ]; then cat "$tmp/prometheus.log"; return 1; fi
	"$PYTHON" - "$port" <<'EOP'
import json, sys, urllib.request
port = sys.argv[1]
rules = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/rules" % port, timeout=10))["data"]["groups"]
n = sum(len(g["rules"]) for g in rules)
bad = [r["name"] for g in rules for r in g["rules"] if r.get("health") == "err"]
print("loaded %d groups, %d rules" % (len(rules), n))
if len(rules) != 4 or bad:
    print("unexpected: groups=%d errors=%s" % (len(rules), bad))
    sys.exit(1)
EOP
	local rc=$?
	kill "$prom_pid"; wait "$prom_pid" 2>/dev/null; prom_pid=
	return $rc
}

# Each file is independent and one promtool runs them one after another:
# two at a time, one process a file, use both cores. Outputs are kept apart
# and printed in order. A test evaluates every rule at every minute of its
# history on one thread: each promtool gets one core for its collector too
# (GOMAXPROCS=1), and collects less often (GOGC=400, at most 200 MB), which
# takes a fifth to a third off their CPU time, the largest share of
# `make test`'s.
promtool_tests() {
	mkdir -p "$tmp/promtool" || return 1
	local rc=0 f
	printf '%s\0' alerts/tests/*.test.yml |
		GOMAXPROCS=1 GOGC=400 xargs -0 -P 2 -I{} \
			sh -c 'promtool test rules "$1" > "$2/$(basename "$1").out" 2>&1' _ {} "$tmp/promtool" ||
		rc=1
	for f in alerts/tests/*.test.yml; do cat "$tmp/promtool/$(basename "$f").out"; done
	return $rc
}

check "generated rules up to date" generated_up_to_date
check "promtool check rules" promtool check rules alerts/memtide.rules.yml alerts/memtide-demo.rules.yml
check "promtool test rules" promtool_tests
check "amtool check-config" amtool check-config alerts/alertmanager.example.yml
check "rules load into prometheus" rules_load
if [ "$ALERTS_SMOKE" != 0 ]; then
	check "held-out scoreboard smoke (5 cases: caught, no false alarm)" nice "$PYTHON" alerts/corpus/score.py --smoke --check
fi

echo
echo "alerts: ${#passed[@]} passed, ${#failed[@]} failed"
for f in "${failed[@]}"; do echo "alerts: FAILED: $f"; done
[ ${#failed[@]} -eq 0 ]
