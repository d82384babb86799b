# memtide alerting rules: included by the top Makefile (-include alerts/alerts.mk).
#
#   make alerts-generate   regenerate the rule files from alerts/*.libsonnet
#   make alerts-test       generated files up to date, promtool check + test,
#                          amtool check-config, rules load into a real
#                          Prometheus, held-out scoreboard smoke (5 cases;
#                          ALERTS_SMOKE=0 skips)
#   make alerts-score      the scoreboards of every seed set (tuning and the
#                          held-out sets), written into docs/leak-detection.md

ALERTS_TEST_TARGETS := alerts-test
ALERTS_PYTHON ?= /usr/bin/python3
ALERTS_SMOKE ?= 1
# python3-yaml: the scorer reads the rule files. The rest is in TEST_PACKAGES too.
ALERTS_PACKAGES := prometheus prometheus-alertmanager jsonnet python3 python3-yaml

.PHONY: alerts-generate alerts-test alerts-score alerts-deps

alerts-deps:
	@if [ -x scripts/ensure-packages ]; then scripts/ensure-packages $(ALERTS_PACKAGES); fi

alerts-generate: alerts-deps
	@alerts/generate.sh alerts

alerts-test: alerts-deps
	@ALERTS_SMOKE=$(ALERTS_SMOKE) PYTHON=$(ALERTS_PYTHON) alerts/run-tests.sh

# Every seed set in corpus.SEED_SETS, each into its own section.
alerts-score: alerts-deps
	@set -e; for set in $$(cd alerts/corpus && $(ALERTS_PYTHON) -c \
		'import corpus; print(" ".join(corpus.SEED_SETS))'); do \
		echo "== alerts-score: $$set"; \
		nice $(ALERTS_PYTHON) alerts/corpus/score.py --set $$set --write-doc docs/leak-detection.md; \
	done
