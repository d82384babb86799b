// SPDX-License-Identifier: MIT
/*
 * Every interposed function, its edge cases and errno behaviour, each checked
 * against the process's own segment. Exit 0 iff all checks pass; prints the
 * first failing check.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "selfread.h"

static struct memtide_seg_snapshot a, b;
/* Volatile: the compiler must not see through the impossible sizes. */
static volatile size_t huge = SIZE_MAX / 2;
static void *volatile keep;
static int failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "allocators.c:%d: check failed: %s\n", __LINE__, #cond);   \
			failed = 1;                                                                \
		}                                                                                  \
	} while (0)

static void snap(struct memtide_seg_snapshot *s)
{
	if (self_snapshot(s) != 0) {
		fprintf(stderr, "no segment\n");
		exit(2);
	}
}

/* Live objects and bytes changed by exactly (objects, bytes) since a. */
static void expect(long objects, long long bytes, int line)
{
	snap(&b);
	if ((long)(b.live_objects - a.live_objects) != objects ||
	    (long long)(b.live_bytes - a.live_bytes) != bytes) {
		fprintf(
		    stderr,
		    "allocators.c:%d: live changed by %ld objects %lld bytes, expected %ld %lld\n",
		    line, (long)(b.live_objects - a.live_objects),
		    (long long)(b.live_bytes - a.live_bytes), objects, bytes);
		failed = 1;
	}
}

int main(void)
{
	void *p, *q, *r;
	size_t n;

	fprintf(stderr, "%s", ""); /* stderr is unbuffered: no allocation later */
	snap(&a);

	p = malloc(100);
	expect(1, (long long)counted_usable(p), __LINE__);
	free(p);
	expect(0, 0, __LINE__);

	p = calloc(10, 10);
	CHECK(p && ((char *)p)[99] == 0);
	n = malloc_usable_size(p);
	q = realloc(p, 100000);
	CHECK(q);
	expect(1, (long long)counted_usable(q), __LINE__);
	q = realloc(q, 10);
	expect(1, (long long)counted_usable(q), __LINE__);
	r = realloc(q, 0); /* glibc: frees, returns NULL */
	CHECK(r == NULL);
	expect(0, 0, __LINE__);
	(void)n;

	p = realloc(NULL, 50);
	expect(1, (long long)counted_usable(p), __LINE__);
	errno = 0;
	keep = p;
	q = reallocarray(p, huge, 3);
	CHECK(q == NULL && errno == ENOMEM);
	p = keep; /* still ours: a failed reallocarray leaves the block alone */
	expect(1, (long long)counted_usable(p), __LINE__);
	p = reallocarray(p, 10, 20);
	expect(1, (long long)counted_usable(p), __LINE__);
	free(p);

	errno = 0;
	CHECK(calloc(huge, 4) == NULL && errno == ENOMEM);
	CHECK(malloc(huge * 2 - 4096) == NULL);
	expect(0, 0, __LINE__);

	p = memalign(4096, 10);
	CHECK(p && (uintptr_t)p % 4096 == 0);
	q = aligned_alloc(256, 512);
	CHECK(q && (uintptr_t)q % 256 == 0);
	expect(2, (long long)(counted_usable(p) + counted_usable(q)), __LINE__);
	free(p);
	free(q);
	CHECK(posix_memalign(&p, 3, 10) == EINVAL);
	CHECK(posix_memalign(&p, 0, 10) == EINVAL);
	errno = 1234;
	CHECK(posix_memalign(&p, 64, huge * 2 - 4096) == ENOMEM && errno == 1234);
	CHECK(posix_memalign(&p, 1 << 20, 5 << 20) == 0 && (uintptr_t)p % (1 << 20) == 0);
	expect(1, (long long)counted_usable(p), __LINE__);
	free(p);

	p = valloc(10);
	q = pvalloc(5000);
	CHECK(p && q && (uintptr_t)p % 4096 == 0 && malloc_usable_size(q) >= 8192 - 16);
	expect(2, (long long)(counted_usable(p) + counted_usable(q)), __LINE__);
	free(p);
	free(q);

	/* free keeps errno, free(NULL) is a no-op */
	p = malloc(10);
	errno = 4321;
	free(p);
	free(NULL);
	CHECK(errno == 4321);
	expect(0, 0, __LINE__);

	/* Large blocks are mmapped: counted as usable size plus 8, at both ends. */
	p = malloc(10 << 20);
	expect(1, (long long)counted_usable(p), __LINE__);
	free(p);
	expect(0, 0, __LINE__);

	fprintf(stderr, failed ? "FAILED\n" : "all checks passed\n");
	return failed;
}
