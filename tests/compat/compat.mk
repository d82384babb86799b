# SPDX-License-Identifier: MIT
# The compatibility matrix (issue 12): real programs from Debian's packages,
# each run with and without libmemtide preloaded and compared, and what the
# exporter shows of each. Included by the top Makefile; `make test` runs it
# through AGENT_TEST_TARGETS.
#
#   compat-test   tests/compat (pytest), about two minutes on 2 cores

COMPAT_PACKAGES := nginx php8.2-fpm apache2 redis-server redis-tools memcached \
	libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev libpython3.11-testsuite \
	nodejs perl sqlite3 git gcc util-linux passwd
TEST_PACKAGES += $(COMPAT_PACKAGES)

COMPAT_ALLOCATORS := jemalloc tcmalloc mimalloc
COMPAT_BINS := $(COMPAT_ALLOCATORS:%=$(BUILD)/tests/compat/foreign_%) \
	$(BUILD)/tests/compat/foreign_glibc

AGENT_TEST_TARGETS += compat-test

.PHONY: compat-test

$(BUILD)/tests/compat/foreign_glibc: tests/compat/foreign.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) -o $@ $<

# Linked with the allocator, as Debian links redis-server with jemalloc.
$(BUILD)/tests/compat/foreign_%: tests/compat/foreign.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_PLAIN_CFLAGS) -o $@ $< -l$*

compat-test: build $(AGENT_LIB) $(AGENT_PROG_BINS) $(COMPAT_BINS)
	$(PYTEST) tests/compat
