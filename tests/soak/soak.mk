# SPDX-License-Identifier: MIT
# The soak test: the exporter under scrapes, process churn (some processes
# preloaded with libmemtide), idle and slow connections, for long enough that a
# leak or a stuck connection shows. Included by the top Makefile, which defines
# BUILD, PYTHON, CC, AGENT_LIB and AGENT_PLAIN_CFLAGS (agent/agent.mk).
#
#   soak        100,000 scrapes (a quarter of an hour on 2 cores); RSS must not
#               grow; figures in $(BUILD)/soak-report.md
#   soak-short  3,000 scrapes under the same kinds of churn at 60 processes
#               a second, not 200 (about 45 s), for `make test`: starting
#               processes took most of its CPU time, which the other suites
#               share; too short for the allocator's retention to settle, so
#               the exporter's live heap (libmemtide in the exporter) is judged
#               instead of its RSS; first, the judgement's own tests
#
# SOAK_ARGS adds flags to both (tests/soak/soak.py --help).

SOAK_CHILD := $(BUILD)/tests/soak/churn_child
SOAK_DEPS := build $(AGENT_LIB) $(AGENT_DUMP) $(SOAK_CHILD)
SOAK_RUN = $(PYTHON) tests/soak/soak.py --build $(abspath $(BUILD))
SOAK_ARGS ?=
SOAK_TEST_TARGETS := soak-short

.PHONY: soak soak-short

# Never sanitized, like the agent: it runs with libmemtide preloaded.
$(SOAK_CHILD): tests/soak/churn_child.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) -o $@ $< -pthread

soak: $(SOAK_DEPS)
	$(SOAK_RUN) --scrapes 100000 --report $(BUILD)/soak-report.md $(SOAK_ARGS)

soak-short: $(SOAK_DEPS)
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/soak/test_judgement.py
	$(SOAK_RUN) --scrapes 3000 --churn-per-second 60 --leak-check live-heap --report $(BUILD)/soak-short-report.md \
		$(SOAK_ARGS)
