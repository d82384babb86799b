// SPDX-License-Identifier: MIT
/*
 * One short-lived process of the soak test's churn: allocates a varied heap
 * (through every allocator entry point, so a preloaded libmemtide has real
 * work), optionally starts a few threads, lives for the time it was given and
 * exits cleanly. With a lifetime of 0 it waits to be killed: the soak SIGKILLs
 * some children, as an OOM killer would, to leave segments without a writer.
 *
 *	churn_child LIFETIME_MS BLOCKS THREADS    exit 0, or 2 on bad arguments,
 *	                                          3 when an allocation fails
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BLOCKS 4096
#define MAX_THREADS 8

static void *blocks[MAX_BLOCKS];

/* Block i of a varied mix of sizes and allocators; NULL on failure. */
static void *alloc_one(unsigned long i)
{
	size_t size = 1 + (i * 7919) % (i % 61 == 0 ? 200000 : 3000);
	void *p = NULL;

	switch (i % 4) {
	case 0:
		p = malloc(size);
		break;
	case 1:
		p = calloc(1, size);
		break;
	case 2:
		p = realloc(malloc(size / 2 + 1), size);
		break;
	default:
		if (posix_memalign(&p, 64, size) != 0)
			p = NULL;
	}
	if (p)
		memset(p, 0x5a, size); /* resident, as a real heap would be */
	return p;
}

/* Threads allocate too: each gets its own slot in the agent's segment. */
static void *thread_main(void *arg)
{
	unsigned long n = (unsigned long)arg;

	for (unsigned long i = 0; i < n; i++)
		free(alloc_one(i));
	return NULL;
}

static void sleep_until(const struct timespec *start, unsigned long ms)
{
	struct timespec end = *start;

	end.tv_sec += (time_t)(ms / 1000);
	end.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) != 0)
		;
}

int main(int argc, char **argv)
{
	struct timespec start;
	pthread_t threads[MAX_THREADS];
	unsigned long lifetime, n, nthreads, started, i;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (argc != 4)
		return 2;
	lifetime = strtoul(argv[1], NULL, 10);
	n = strtoul(argv[2], NULL, 10);
	nthreads = strtoul(argv[3], NULL, 10);
	if (n > MAX_BLOCKS || nthreads > MAX_THREADS)
		return 2;
	for (i = 0; i < n; i++)
		if (!(blocks[i] = alloc_one(i)))
			return 3;
	for (started = 0; started < nthreads; started++)
		if (pthread_create(&threads[started], NULL, thread_main, (void *)n) != 0)
			break; /* fewer threads is still a valid child */
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; i < n; i += 2) /* half goes back now, half lives to the end */
		free(blocks[i]);
	if (lifetime == 0)
		for (;;)
			pause();
	sleep_until(&start, lifetime);
	for (i = 1; i < n; i += 2)
		free(blocks[i]);
	return 0;
}
