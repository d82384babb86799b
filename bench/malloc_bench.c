// SPDX-License-Identifier: MIT
/*
 * Malloc-heavy microbenchmark for the libmemtide interposer: each thread keeps
 * a window of 256 live blocks and, per iteration, frees a random one and
 * allocates a replacement of a random size from 16 to 1,040 bytes, so every
 * iteration is one malloc+free pair.
 *
 *	malloc_bench ITERATIONS_PER_THREAD [THREADS]
 *
 * Prints the wall time in seconds. Run it bare and with LD_PRELOAD=libmemtide.so.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WINDOW 256
#define MAX_THREADS 64

static unsigned long iterations;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *run(void *arg)
{
	uint64_t r = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1), x;
	void *window[WINDOW] = {0};
	unsigned long i;
	unsigned k;

	for (i = 0; i < iterations; i++) {
		x = next_rand(&r);
		k = (unsigned)(x % WINDOW);
		free(window[k]);
		window[k] = malloc(16 + (x >> 32) % 1025);
		if (!window[k])
			abort();
		*(volatile char *)window[k] = 1;
	}
	for (k = 0; k < WINDOW; k++)
		free(window[k]);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[MAX_THREADS];
	struct timespec a, b;
	unsigned long n;
	long threads;

	if (argc < 2) {
		fprintf(stderr, "usage: %s ITERATIONS [THREADS]\n", argv[0]);
		return 2;
	}
	iterations = strtoul(argv[1], NULL, 10);
	threads = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
	if (threads < 1 || threads > MAX_THREADS)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (threads == 1) {
		run(NULL);
	} else {
		for (n = 0; n < (unsigned long)threads; n++)
			if (pthread_create(&t[n], NULL, run, (void *)(uintptr_t)n) != 0)
				return 1;
		for (n = 0; n < (unsigned long)threads; n++)
			pthread_join(t[n], NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
