# memtide: the one Makefile.
#
#   make          build (installs missing build packages first)
#   make run      build and start the exporter on :10117
#   make test     install what the tests need, build, run every test
#   make bench    run the benchmarks and write docs/benchmarks.md
#   make soak     100,000 scrapes under process churn (minutes; see docs/reliability.md)
#   make format   apply .clang-format to the C tree (make test checks it)
#   make fuzz     every libFuzzer target for FUZZ_SECONDS apiece
#                 (BENCH_ONLY="process_bench agent_bench" reruns just those)
#   make install  install under $(DESTDIR)$(PREFIX)
#   make clean
#
# BUILD=dir SAN=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer.

# The included makefiles below define targets of their own: `make` alone builds.
.DEFAULT_GOAL := all

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BUILD ?= build
SAN ?=
PYTHON ?= /usr/bin/python3
VERSION := 0.1.0
REVISION := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

BUILD_PACKAGES := gcc make pkg-config libmicrohttpd-dev libproc2-dev libyaml-dev zlib1g-dev \
	libgnutls28-dev libcrypt-dev g++ libre2-dev libdw-dev
TEST_PACKAGES := libcmocka-dev prometheus prometheus-alertmanager python3 python3-pytest \
	python3-prometheus-client python3-yaml valgrind jsonnet clang libclang-rt-14-dev procps iproute2 man-db gnuplot-nox \
	openssl clang-format golang-go python3-pytest-xdist
BENCH_PACKAGES := prometheus-process-exporter heaptrack libgoogle-perftools-dev

PKGS := libmicrohttpd libproc2 yaml-0.1 zlib gnutls libxcrypt re2 libdw
# Recursive (=) on purpose: evaluated when a recipe runs, after ensure-packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
# RE2 (collectors/cmdline_re.cc) is C++: its runtime comes with it.
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lstdc++

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
ifeq ($(SAN),1)
OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
OPT := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
endif
CFLAGS ?=
# -I. only: an include names its layer ("collectors/collector.h"), so the
# reader knows which side of the house a header belongs to.
CFLAGS += -std=gnu11 -D_GNU_SOURCE -pthread $(WARN) $(OPT) -I. \
	-DMEMTIDE_VERSION='"$(VERSION)"' -DMEMTIDE_REVISION='"$(REVISION)"'
# The one C++ file, a shim over RE2: same warnings and sanitizers, no exceptions out.
CXXFLAGS ?=
CXXFLAGS += -std=c++17 -D_GNU_SOURCE -pthread -Wall -Wextra -Werror -Wshadow $(OPT) -I.
LDFLAGS ?=
LDFLAGS += -pthread $(if $(filter 1,$(SAN)),-fsanitize=address$(,)undefined)
, := ,

EXPORTER_SRCS := $(wildcard exporter/*.c) $(wildcard collectors/*.c)
EXPORTER_LIB_SRCS := $(filter-out exporter/main.c,$(EXPORTER_SRCS))
EXPORTER_CXX_SRCS := $(wildcard exporter/*.cc) $(wildcard collectors/*.cc)
EXPORTER_LIB_OBJS := $(EXPORTER_LIB_SRCS:%.c=$(BUILD)/%.o) $(EXPORTER_CXX_SRCS:%.cc=$(BUILD)/%.o)
EXPORTER := $(BUILD)/memtide_exporter
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

# Required, in this order: a rule's prerequisites are expanded as it is read,
# and webapp.mk's name agent.mk's library.
include alerts/alerts.mk
include demo/demo.mk
include agent/agent.mk
include examples/leaky-webapp/webapp.mk
include check/check.mk
include tests/soak/soak.mk
include tests/compat/compat.mk

.PHONY: all build deps-build deps-test deps-bench run test unit integration sanitize \
	fuzz format format-check e2e unit-build test-build bench install clean

all: build

build: $(EXPORTER)

deps-build:
	@scripts/ensure-packages $(BUILD_PACKAGES)

deps-test: deps-build
	@scripts/ensure-packages $(TEST_PACKAGES)

deps-bench: deps-test
	@scripts/ensure-packages $(BENCH_PACKAGES)

$(BUILD)/%.o: %.c | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.cc | deps-build
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libexporter.a: $(EXPORTER_LIB_OBJS)
	$(AR) rcs $@ $^

$(EXPORTER): $(BUILD)/exporter/main.o $(BUILD)/libexporter.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libexporter.a | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Wno-unused-parameter $(LDFLAGS) -o $@ $< \
		$(BUILD)/libexporter.a $(PKG_LIBS) -lcmocka -lm

run: build
	$(EXPORTER) $(if $(wildcard deploy/memtide.yml),--config.file=deploy/memtide.yml)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

PYTEST = MEMTIDE_BUILD=$(abspath $(BUILD)) MEMTIDE_SAN=$(SAN) $(PYTHON) -m pytest -q -p no:cacheprovider
E2E_TEST := tests/integration/test_end_to_end.py
INTEGRATION_ARGS ?=
# The integration tests spend most of their time waiting on the processes and
# servers they start (90 s of CPU in 130 s alone): two at a time. Each test
# has its own ports, kernel-picked, and its own temporary files.
INTEGRATION_JOBS ?= 2

integration: build $(AGENT_PROG_BINS)
	$(PYTEST) -n $(INTEGRATION_JOBS) tests/integration $(INTEGRATION_ARGS)

e2e: build $(AGENT_PROG_BINS)
	$(PYTEST) $(E2E_TEST)

# Suites that spend their time waiting run in the background beside the
# others, and `make test` collects their verdicts at the end: the end-to-end
# test waits minutes for the rules' windows, memtide-check for quiet points
# (a fifth of its time on the CPU). The alert checks are CPU-bound; they run
# there too, on an equal footing (niced, they waited for the foreground's two
# integration workers and finished three minutes after it). Everything they
# need is built first, so that no two makes build the same file. Each suite is
# bounded by its own deadlines; the wait gives up after half an hour.
BACKGROUND_TESTS := e2e $(CHECK_TEST_TARGETS) $(ALERTS_TEST_TARGETS)

bg-start-%:
	@mkdir -p $(BUILD) && rm -f $(BUILD)/bg-$*.status
	@( $(MAKE) --no-print-directory $* > $(BUILD)/bg-$*.log 2>&1; \
		echo $$? > $(BUILD)/bg-$*.status ) < /dev/null > /dev/null 2>&1 &

bg-wait-%:
	@for i in $$(seq 1800); do [ -f $(BUILD)/bg-$*.status ] && break; sleep 1; done; \
	echo "== $* (run in the background)"; cat $(BUILD)/bg-$*.log; \
	test "$$(cat $(BUILD)/bg-$*.status 2>/dev/null)" = 0

# libFuzzer targets, each linked with every exporter source; FUZZ_SECONDS apiece.
FUZZ_SECONDS ?= 10
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)

FUZZ_SAN := -g -O1 -fsanitize=address,undefined
FUZZ_DEFS := -std=gnu11 -D_GNU_SOURCE -I. -DMEMTIDE_VERSION='"$(VERSION)"' -DMEMTIDE_REVISION='"fuzz"'
# Every source is compiled once, instrumented, and linked into each target
# (not compiled again per target: five targets made the build five times longer).
FUZZ_LIB_OBJS := $(patsubst %.c,build-fuzz/%.o,$(EXPORTER_LIB_SRCS) $(FUZZ_EXTRA_SRCS)) \
	$(EXPORTER_CXX_SRCS:%.cc=build-fuzz/%.o)
# Kept between runs, not removed as intermediate files.
.SECONDARY: $(FUZZ_LIB_OBJS)
-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_BINS:=.d)

build-fuzz/%.o: %.c | deps-test
	@mkdir -p $(dir $@)
	clang $(FUZZ_DEFS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

build-fuzz/%.o: %.cc | deps-test
	@mkdir -p $(dir $@)
	clang++ -std=c++17 -D_GNU_SOURCE $(FUZZ_SAN) -fsanitize=fuzzer-no-link -I. \
		$(PKG_CFLAGS) -MMD -MP -c -o $@ $<

build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS) | deps-test
	@mkdir -p $(dir $@)
	clang $(FUZZ_DEFS) $(FUZZ_SAN) -fsanitize=fuzzer $(PKG_CFLAGS) -MMD -MP -MF $@.d \
		-o $@ $< $(FUZZ_LIB_OBJS) $(PKG_LIBS) -lm

# Each starts from its seeds in tests/fuzz/corpus/NAME (read only) and keeps
# what it finds in build-fuzz/corpus/NAME for the next run.
# Each target is a job of its own: `make -j2 fuzz` runs two at a time.
fuzz: $(FUZZ_BINS:build-fuzz/%=fuzz-run-%)

fuzz-run-%: build-fuzz/%
	@mkdir -p build-fuzz/corpus/$*
	@$< -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build-fuzz/corpus/$* \
		tests/fuzz/corpus/$* > build-fuzz/$*.log 2>&1 || { cat build-fuzz/$*.log; exit 1; }
	@echo "== $* ($(FUZZ_SECONDS) s): $$(grep -E '^stat::number_of_executed_units|^Done' build-fuzz/$*.log | tr '\n' ' ')"

# The tree follows .clang-format; `make format` applies it, `make test` checks it.
# clang-format 14: the version the tree was formatted with (another version
# may place a few line breaks elsewhere).
CLANG_FORMAT ?= clang-format
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' '*.cc' 2>/dev/null)

format: deps-test
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check: deps-test
	@$(CLANG_FORMAT) --version | grep -q 'version 14\.' || \
		{ echo "format-check: needs clang-format 14, found: $$($(CLANG_FORMAT) --version)"; exit 1; }
	@$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_SRCS) && echo "format-check: clean"

# The unit and integration tests again, against an ASan+UBSan build.
sanitize: deps-test
	$(MAKE) BUILD=build-asan SAN=1 unit integration

# What the suites run, compiled ahead two at a time by `make test` (a make of
# its own, so that the jobs do not reach the test runs).
unit-build: build $(AGENT_PROG_BINS) $(UNIT_BINS)
test-build: unit-build $(TEST_BUILD_TARGETS)

# The suites run one after another, but those in BACKGROUND_TESTS. The
# integration tests run once, against the sanitized build, which checks
# everything the plain one does and memory errors and undefined behaviour
# besides; the plain build runs those marked `unsanitized` (valgrind, a
# preloaded library, Prometheus' timing), and the end-to-end test, the soak,
# memtide-check's tests and the benchmarks run it too.
test: deps-test
	$(MAKE) format-check
	$(MAKE) -j2 test-build
	$(foreach t,$(BACKGROUND_TESTS),$(MAKE) bg-start-$(t);)
	$(MAKE) unit integration INTEGRATION_ARGS="-m unsanitized --ignore=$(E2E_TEST)"
	$(MAKE) -j2 BUILD=build-asan SAN=1 unit-build
	$(MAKE) sanitize
	$(MAKE) -j2 $(FUZZ_BINS)
	$(MAKE) -j2 fuzz
	$(if $(AGENT_TEST_TARGETS),$(MAKE) $(AGENT_TEST_TARGETS))
	$(if $(SOAK_TEST_TARGETS),$(MAKE) $(SOAK_TEST_TARGETS))
	$(foreach t,$(BACKGROUND_TESTS),$(MAKE) bg-wait-$(t);)

$(BUILD)/bench/reap_floor: bench/reap_floor.c | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS)

bench: deps-bench build $(BUILD)/bench/reap_floor $(BUILD)/bench/malloc_bench
	$(PYTHON) bench/run.py --build $(abspath $(BUILD)) --out docs/benchmarks.md \
		$(foreach s,$(BENCH_ONLY),--only $(s))

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(EXPORTER) $(DESTDIR)$(BINDIR)/memtide_exporter
	install -d $(DESTDIR)$(PREFIX)/share/memtide
	install -m 0644 deploy/memtide.yml $(DESTDIR)$(PREFIX)/share/memtide/memtide.example.yml
	install -m 0644 deploy/web-config.example.yml $(DESTDIR)$(PREFIX)/share/memtide/
	install -m 0644 alerts/memtide.rules.yml alerts/alertmanager.example.yml \
		alerts/runbooks.md $(DESTDIR)$(PREFIX)/share/memtide/
	install -d $(DESTDIR)$(PREFIX)/share/memtide/dashboards
	install -m 0644 dashboards/*.json $(DESTDIR)$(PREFIX)/share/memtide/dashboards/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 0644 man/memtide_exporter.1 $(DESTDIR)$(MANDIR)/man1/memtide_exporter.1
	install -m 0644 man/libmemtide.3 $(DESTDIR)$(MANDIR)/man3/libmemtide.3
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed 's|/usr/local/bin/memtide_exporter|$(BINDIR)/memtide_exporter|' \
		deploy/memtide-exporter.service > $(DESTDIR)$(SYSTEMDUNITDIR)/memtide-exporter.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/memtide-exporter.service
	install -m 0644 deploy/memtide.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/memtide.conf

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
