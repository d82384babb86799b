// SPDX-License-Identifier: MIT
/*
 * A program with known allocation sites, for the sampling tests: leak_here()
 * keeps every block it allocates (the leak), churn_small() and churn_large()
 * free theirs at once, keep_few() keeps a bounded set. Preloaded, not linked.
 *
 *	sites LEAK_MIB [fork]
 *
 * Prints "leak_here=0x... live=N" (N: usable bytes kept by leak_here) and,
 * with "fork", "child=PID" of a child that allocates and waits too, then
 * "ready" and waits for stdin to close.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *volatile sink;
static void *kept[64];

/* noinline, and no tail calls (the write after malloc): each must be a
 * frame of its own in the stack of its blocks. */
__attribute__((noinline)) void *leak_here(size_t n)
{
	char *p = malloc(n);

	if (p)
		*(volatile char *)p = 1;
	return p;
}

__attribute__((noinline)) void churn_small(size_t n)
{
	sink = malloc(n);
	free(sink);
}

__attribute__((noinline)) void churn_large(size_t n)
{
	sink = calloc(1, n);
	free(sink);
}

__attribute__((noinline)) void keep_few(unsigned i, size_t n)
{
	free(kept[i % 64]);
	kept[i % 64] = malloc(n);
}

int main(int argc, char **argv)
{
	size_t target = (argc > 1 ? strtoull(argv[1], NULL, 10) : 64) << 20, live = 0;
	unsigned i = 0, seed = 12345;
	void **leaked = malloc(sizeof(void *) * (target / 64 + 1));
	size_t nleaked = 0;
	pid_t child = 0;

	if (!leaked)
		return 1;
	while (live < target) {
		seed = seed * 1103515245u + 12345u;
		void *p = leak_here(64 + (seed >> 8) % 4000);

		if (!p)
			return 1;
		live += malloc_usable_size(p);
		leaked[nleaked++] = p;
		churn_small(16 + (seed >> 4) % 1000);
		churn_small(100);
		keep_few(i++, 200 + (seed >> 12) % 3000);
		if (i % 64 == 0)
			churn_large(200000);
	}
	if (argc > 2 && (child = fork()) == 0) {
		for (i = 0; i < 1000; i++)
			keep_few(i, 4096);
		printf("child_ready\n");
		fflush(stdout);
		pause();
		return 0;
	}
	printf("leak_here=%p live=%zu\n", (void *)leak_here, live);
	if (child > 0)
		printf("child=%d\n", (int)child);
	printf("ready\n");
	fflush(stdout);
	while (getchar() != EOF)
		;
	return 0;
}
