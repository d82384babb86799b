# SPDX-License-Identifier: MIT
# libmemtide: the in-process agent. Included by the top Makefile, which defines
# BUILD, CC, CFLAGS, LDFLAGS, SAN, PREFIX, DESTDIR, VERSION and PYTHON.
#
#   $(AGENT_LIB)        libmemtide.so (never sanitized: it is LD_PRELOADed into
#                       programs that are not built with ASan)
#   $(AGENT_PC)         memtide.pc
#   agent-test          the agent's own tests (reader unit test, preloaded programs)
#   agent-bench         the interposer benchmark (markdown on stdout)
#   agent-install       library, header and pkg-config file

AGENT_LIB := $(BUILD)/libmemtide.so
AGENT_PC := $(BUILD)/memtide.pc
AGENT_DUMP := $(BUILD)/memtide-segment-dump
AGENT_READER_OBJ := $(BUILD)/agent/segment_read.o $(BUILD)/agent/site_read.o
AGENT_TEST_TARGETS := agent-test

AGENT_LIB_SRCS := agent/agent_main.c agent/interpose.c agent/session_api.c agent/segment_write.c \
	agent/allocator.c agent/refresh.c agent/privdrop.c agent/reap.c agent/sampler.c \
	agent/sample_blocks.c agent/sites.c agent/unwind.c
AGENT_LIB_OBJS := $(AGENT_LIB_SRCS:agent/%.c=$(BUILD)/agent/pic/%.o)
AGENT_PROGS := hold_blocks storm fork_exec sessions allocators lifecycle sites cpp_sites
AGENT_PROG_BINS := $(AGENT_PROGS:%=$(BUILD)/tests/agent/%)
AGENT_UNIT := $(BUILD)/tests/unit/test_segment
# Programs built on the public API include <memtide.h> as they would once it
# is installed; this finds it in the tree.
AGENT_API_CFLAGS := -Iagent

# The library and the programs preloaded with it: the project's flags without
# the sanitizers, always optimised. Recursive on purpose: CFLAGS is final only
# after the top Makefile is read.
AGENT_PLAIN_CFLAGS = $(filter-out -fsanitize=% -fno-sanitize-recover% -O0 -O1,$(CFLAGS)) -O2
# -fno-builtin: this code defines malloc and friends. -fno-plt: call glibc's
# __libc_* through the GOT directly, one jump less per call. initial-exec TLS:
# required of a malloc replacement (no TLS allocation on first use).
AGENT_LIB_CFLAGS = $(AGENT_PLAIN_CFLAGS) -fPIC -fvisibility=hidden -fno-builtin -fno-plt \
	-fno-semantic-interposition -ftls-model=initial-exec
# nodelete: if the library is dlopen()ed and dlclose()d, blocks it counted may
# still be freed later, and its fork handlers stay registered.
AGENT_LIB_LDFLAGS := -shared -pthread -Wl,-soname,libmemtide.so -Wl,-z,nodelete -Wl,-z,now \
	-Wl,-z,relro

.PHONY: agent agent-test agent-bench agent-install

agent: $(AGENT_LIB) $(AGENT_PC) $(AGENT_DUMP)

build: agent

install: agent-install

$(BUILD)/agent/pic/%.o: agent/%.c agent/segment.h agent/agent_internal.h agent/memtide.h \
		agent/memtide_debug.h agent/sampler.h
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_LIB_CFLAGS) -c -o $@ $<

$(AGENT_LIB): $(AGENT_LIB_OBJS)
	$(CC) $(AGENT_LIB_LDFLAGS) -o $@ $^ -lm -ldl

$(AGENT_PC): agent/memtide.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# The segment reader goes into the exporter's library for the agent collector;
# it is compiled like the exporter (sanitized under SAN=1) by the generic rule.
$(BUILD)/libexporter.a: $(AGENT_READER_OBJ)

# The dump copies the file as the exporter does (collectors/segment_file.c).
$(AGENT_DUMP): agent/memtide-segment-dump.c $(AGENT_READER_OBJ) collectors/segment_file.c \
		collectors/segment_file.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^)

# The unit test needs only the reader; this rule wins over the generic
# tests/unit rule, which would link the whole exporter library.
$(AGENT_UNIT): tests/unit/test_segment.c $(AGENT_READER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-parameter $(LDFLAGS) -o $@ $^ -lcmocka

# cpp_sites: C++ through operator new, preloaded.
$(BUILD)/tests/agent/cpp_sites: tests/agent/cpp_sites.cc
	@mkdir -p $(dir $@)
	$(CXX) -O2 -g -Wall -Wextra -Werror -o $@ $<

# lifecycle, sites: plain, not linked with the agent (preloaded, or not).
$(BUILD)/tests/agent/lifecycle $(BUILD)/tests/agent/sites: $(BUILD)/tests/agent/%: tests/agent/%.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) -o $@ $< -pthread

$(BUILD)/tests/agent/%: tests/agent/%.c $(AGENT_LIB) agent/memtide.h agent/memtide_debug.h
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) $(AGENT_API_CFLAGS) -o $@ $< -L$(BUILD) -Wl,-rpath,$(abspath $(BUILD)) -lmemtide -pthread

# The other test programs are not linked with the agent (it is preloaded); they
# read their own segment with the reader (tests/agent/selfread.h).
$(BUILD)/tests/agent/hold_blocks $(BUILD)/tests/agent/storm $(BUILD)/tests/agent/fork_exec \
$(BUILD)/tests/agent/allocators: $(BUILD)/tests/agent/%: tests/agent/%.c tests/agent/selfread.h \
		agent/segment_read.c agent/segment_read.h agent/segment.h agent/site_read.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) -o $@ $< agent/segment_read.c agent/site_read.c -pthread

# tests/fuzz/fuzz_segment.c is built and run by the top Makefile's fuzz target
# (ASan, UBSan, libFuzzer), with the reader added to its sources.
FUZZ_EXTRA_SRCS += agent/segment_read.c agent/site_read.c

$(BUILD)/bench/malloc_bench: bench/malloc_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) -o $@ $< -pthread

# The reader's unit test also runs in `make unit` (and under ASan in `make
# sanitize`); the fuzz target in `make fuzz`.
agent-test: $(AGENT_LIB) $(AGENT_DUMP) $(AGENT_UNIT) $(AGENT_PROG_BINS)
	$(AGENT_UNIT)
	MEMTIDE_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/agent

agent-bench: $(AGENT_LIB) $(BUILD)/bench/malloc_bench
	$(PYTHON) bench/agent_bench.py --build $(abspath $(BUILD))

agent-install: $(AGENT_LIB) $(AGENT_PC)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(AGENT_LIB) $(DESTDIR)$(PREFIX)/lib/libmemtide.so
	install -m 0644 agent/memtide.h $(DESTDIR)$(PREFIX)/include/memtide.h
	@# Generated again here: PREFIX may differ from the one the build used.
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' agent/memtide.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/memtide.pc
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/memtide.pc
