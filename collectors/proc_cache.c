/* SPDX-License-Identifier: MIT */
#include "proc_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* libproc2 takes a bounded list of pids per select. */
#define SELECT_BATCH 128

enum { F_PID, F_STARTED };

struct proc_cache {
	struct proc_cache_reader reader;
	struct pids_info *info;
	struct proc_reading *v; /* sorted by pid */
	size_t n;
};

int proc_cache_new(const struct proc_cache_reader *reader, struct proc_cache **out)
{
	struct proc_cache *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->reader = *reader;
	err = procps_pids_new(&c->info, (enum pids_item *)reader->items, reader->n_items);
	if (err < 0) {
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

void proc_cache_free(struct proc_cache *c)
{
	if (!c)
		return;
	procps_pids_unref(&c->info);
	free(c->v);
	free(c);
}

static int by_pid(const void *a, const void *b)
{
	const struct proc_reading *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static double monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Serves what the cache holds fresh; returns how many pids still need a read. */
static size_t serve_cached(struct proc_cache *c, struct proc_reading *want, size_t n,
			   double max_age, double now, unsigned *stale)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct proc_reading *hit = NULL;

		if (c->n)
			hit = bsearch(&want[i], c->v, c->n, sizeof(*c->v), by_pid);
		if (hit && hit->started == want[i].started && hit->ok &&
		    now - hit->read_at <= max_age) {
			size_t tag = want[i].tag;

			want[i] = *hit;
			want[i].tag = tag;
			continue;
		}
		want[i].ok = false;
		stale[k++] = (unsigned)want[i].pid;
	}
	return k;
}

/* Reads one batch of pids, storing readings into the pid-sorted `want`. */
static int read_batch(struct proc_cache *c, struct proc_reading *want, size_t n, unsigned *pids,
		      int count, double now)
{
	struct pids_fetch *f = procps_pids_select(c->info, pids, count, PIDS_SELECT_PID);

	if (!f)
		return errno ? -errno : -EIO;
	for (int i = 0; i < f->counts->total; i++) {
		struct pids_stack *s = f->stacks[i];
		struct proc_reading key = {.pid = PIDS_VAL(F_PID, s_int, s, c->info)};
		struct proc_reading *r = bsearch(&key, want, n, sizeof(*want), by_pid);

		if (!r || r->started != PIDS_VAL(F_STARTED, ull_int, s, c->info))
			continue; /* exited, and the pid was taken by another process */
		r->ok = c->reader.read(c->reader.ctx, s, r);
		r->read_at = now;
	}
	return 0;
}

/* Makes the cache hold exactly `want` (sorted by pid). */
static int replace_cache(struct proc_cache *c, const struct proc_reading *want, size_t n)
{
	struct proc_reading *v = NULL;

	if (n) {
		v = malloc(n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, want, n * sizeof(*v));
	}
	free(c->v);
	c->v = v;
	c->n = n;
	return 0;
}

int proc_cache_fill(struct proc_cache *c, struct proc_reading *want, size_t n, double max_age)
{
	double now = monotonic_now();
	unsigned *stale;
	size_t k;
	int err = 0;

	if (n == 0)
		return replace_cache(c, want, 0);
	stale = malloc(n * sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	qsort(want, n, sizeof(*want), by_pid);
	k = serve_cached(c, want, n, max_age, now, stale);
	for (size_t off = 0; off < k && err == 0; off += SELECT_BATCH) {
		int count = (int)(k - off < SELECT_BATCH ? k - off : SELECT_BATCH);

		err = read_batch(c, want, n, stale + off, count, now);
	}
	free(stale);
	if (err == 0)
		err = replace_cache(c, want, n);
	return err;
}
