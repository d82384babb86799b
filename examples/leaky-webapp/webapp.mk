# SPDX-License-Identifier: MIT
# examples/leaky-webapp: the demo web app with the postmortems' bug, and its
# load generator. Included by the top Makefile, after agent/agent.mk: uses
# AGENT_LIB, AGENT_PLAIN_CFLAGS and AGENT_API_CFLAGS, and BUILD, CC, CFLAGS,
# LDFLAGS, SAN, PYTHON and the deps-build/deps-test targets.
#
#   $(WEBAPP)           leaky_webapp (linked with libmemtide, never sanitized:
#                       the agent's malloc interposer cannot share a process
#                       with ASan's)
#   $(WEBAPP_LOADGEN)   loadgen (no dependency beyond libc)
#   webapp              both; part of `build`
#   webapp-test         the app's integration tests (also run by `make integration`)

WEBAPP_DIR := examples/leaky-webapp
WEBAPP := $(BUILD)/leaky_webapp
WEBAPP_LOADGEN := $(BUILD)/loadgen
WEBAPP_SRCS := $(addprefix $(WEBAPP_DIR)/,leaky_webapp.c options.c store.c http.c flags.c)
WEBAPP_HDRS := $(WEBAPP_DIR)/webapp.h $(WEBAPP_DIR)/flags.h agent/memtide.h
WEBAPP_TEST_TARGETS := webapp-test

# Only libmicrohttpd: the exporter's other packages are not the app's business.
# Recursive on purpose, like PKG_CFLAGS: evaluated after deps-build ran.
WEBAPP_PKG_CFLAGS = $(shell pkg-config --cflags libmicrohttpd)
WEBAPP_PKG_LIBS = $(shell pkg-config --libs libmicrohttpd)

# The user's LDFLAGS without the sanitizers SAN=1 adds.
WEBAPP_LDFLAGS = $(filter-out -fsanitize=%,$(LDFLAGS))

.PHONY: webapp webapp-test

webapp: $(WEBAPP) $(WEBAPP_LOADGEN)

build: webapp

# Linked (not preloaded) with the library in the build directory, found at run
# time through the rpath: the session API needs the link, and linking also
# interposes the allocator.
$(WEBAPP): $(WEBAPP_SRCS) $(WEBAPP_HDRS) $(AGENT_LIB) | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) $(AGENT_API_CFLAGS) $(WEBAPP_PKG_CFLAGS) $(WEBAPP_LDFLAGS) -o $@ \
		$(WEBAPP_SRCS) \
		-L$(BUILD) -Wl,-rpath,$(abspath $(BUILD)) -lmemtide $(WEBAPP_PKG_LIBS) -pthread

# Plain flags too: under SAN=1 the load is not what is being tested.
$(WEBAPP_LOADGEN): $(WEBAPP_DIR)/loadgen.c $(WEBAPP_DIR)/flags.c $(WEBAPP_DIR)/flags.h | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) $(WEBAPP_LDFLAGS) -o $@ $(filter %.c,$^) -pthread -lm

webapp-test: $(WEBAPP) $(WEBAPP_LOADGEN) $(EXPORTER) | deps-test
	MEMTIDE_BUILD=$(abspath $(BUILD)) MEMTIDE_SAN=$(SAN) $(PYTHON) -m pytest -q \
		-p no:cacheprovider tests/integration/test_leaky_webapp.py
