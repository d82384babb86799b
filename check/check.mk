# SPDX-License-Identifier: MIT
# check/: memtide-check, the CI gate (docs/check.md). Included by the top
# Makefile after agent/agent.mk; uses BUILD, CC, CFLAGS, LDFLAGS, PKG_LIBS,
# PREFIX, BINDIR, MANDIR, DESTDIR, PYTHON and the libexporter.a it builds
# (segment reading and symbols are the exporter's own code).
#
#   $(CHECK)            memtide-check (sanitized under SAN=1 like the exporter:
#                       it preloads the agent only into the programs it starts)
#   check-test          its tests (tests/check; part of `make test`)
#   check-measure       the smallest leak it detects 20 of 20 times and its
#                       wall time (minutes; writes nothing, prints markdown)

CHECK := $(BUILD)/memtide-check
CHECK_SRCS := $(wildcard check/*.c)
CHECK_OBJS := $(CHECK_SRCS:%.c=$(BUILD)/%.o)
CHECK_UNIT := $(BUILD)/tests/unit/test_check_verdict
CHECK_TEST_TARGETS := check-test
# Built by `make test` before it starts check-test in the background.
TEST_BUILD_TARGETS += $(CHECK) $(AGENT_LIB) $(WEBAPP) $(WEBAPP_LOADGEN)

.PHONY: check-tool check-test check-measure check-install

check-tool: $(CHECK)

build: check-tool

install: check-install

$(CHECK): $(CHECK_OBJS) $(BUILD)/libexporter.a
	$(CC) $(LDFLAGS) -o $@ $(CHECK_OBJS) $(BUILD)/libexporter.a $(PKG_LIBS) -lm

# The verdict's statistics alone; this rule wins over the generic tests/unit one.
$(CHECK_UNIT): tests/unit/test_check_verdict.c $(BUILD)/check/verdict.o | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-parameter $(LDFLAGS) -o $@ $^ -lcmocka -lm

check-test: $(CHECK) $(AGENT_LIB) $(WEBAPP) $(WEBAPP_LOADGEN) | deps-test
	MEMTIDE_BUILD=$(abspath $(BUILD)) MEMTIDE_SAN=$(SAN) $(PYTHON) -m pytest -q \
		-p no:cacheprovider tests/check

check-measure: $(CHECK) $(AGENT_LIB) $(WEBAPP) $(WEBAPP_LOADGEN)
	$(PYTHON) bench/check_measure.py --build $(abspath $(BUILD))

check-install: $(CHECK)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(CHECK) $(DESTDIR)$(BINDIR)/memtide-check
	install -m 0644 man/memtide-check.1 $(DESTDIR)$(MANDIR)/man1/memtide-check.1
