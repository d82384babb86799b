/* SPDX-License-Identifier: MIT */
/*
 * Sites by group (sites.h): a hash table of (group, name) sums for one
 * scrape, then a ranking per group.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/config.h"
#include "process_config.h"
#include "exporter/expo.h"
#include "sites.h"
#include "symbolize.h"

struct site_sum {
	char group[PROCESS_GROUP_NAME_MAX];
	char label[SITES_LABEL];
	double live_bytes, live_objects, alloc_bytes, growth;
	bool used, shown;
};

struct sites_state {
	unsigned top;
	struct site_sum *sums; /* SITES_MAX_ENTRIES * 2 slots, open addressing */
	size_t n_sums;
	unsigned opens_left;
	/* Pids by group, this scrape and the last (published) one. */
	struct group_pid {
		char group[PROCESS_GROUP_NAME_MAX];
		unsigned pid;
	} * pids;
	size_t n_pids, cap_pids;
};

#define SLOTS (SITES_MAX_ENTRIES * 2)

static pthread_mutex_t published_lock = PTHREAD_MUTEX_INITIALIZER;
static struct group_pid *published;
static size_t n_published;

struct sites_state *sites_new(unsigned top)
{
	struct sites_state *st = calloc(1, sizeof(*st));
	const char *env = getenv("MEMTIDE_SITES_TOP");

	if (!st)
		return NULL;
	st->top = top ? top : SITES_TOP;
	if (!top && env && atoi(env) > 0 && atoi(env) <= 1000)
		st->top = (unsigned)atoi(env);
	st->sums = calloc(SLOTS, sizeof(*st->sums));
	if (!st->sums) {
		free(st);
		return NULL;
	}
	return st;
}

void sites_free(struct sites_state *st)
{
	if (!st)
		return;
	free(st->sums);
	free(st->pids);
	free(st);
}

void sites_begin(struct sites_state *st)
{
	memset(st->sums, 0, SLOTS * sizeof(*st->sums));
	st->n_sums = 0;
	st->n_pids = 0;
	st->opens_left = SITES_OPENS_PER_SCRAPE;
}

static uint64_t hash_of(const char *group, const char *label)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = group; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (const char *p = label; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

/* The sum of (group, label); past SITES_MAX_ENTRIES, the group's "other". */
static struct site_sum *sum_for(struct sites_state *st, const char *group, const char *label)
{
	bool full = st->n_sums >= SITES_MAX_ENTRIES;
	const char *want = full ? "other" : label;
	size_t i = hash_of(group, want) % SLOTS;

	for (size_t probe = 0; probe < SLOTS; probe++, i = (i + 1) % SLOTS) {
		struct site_sum *s = &st->sums[i];

		if (!s->used) {
			s->used = true;
			snprintf(s->group, sizeof(s->group), "%s", group);
			snprintf(s->label, sizeof(s->label), "%s", want);
			st->n_sums++;
			return s;
		}
		if (strcmp(s->group, group) == 0 && strcmp(s->label, want) == 0)
			return s;
	}
	return NULL;
}

/* The frame has no symbol (a static function of a stripped binary, as in
 * Debian's python3 without -dbg packages): say which named function it was
 * called from, "0x... in python3.11 < PyObject_Call+0x... in python3.11". */
static void add_caller(struct symbolizer *sym, const struct memtide_site_snapshot *s, uint32_t i,
		       char *buf, size_t len)
{
	struct frame_info f;
	size_t used = strlen(buf);

	for (uint32_t j = i + 1; j < s->depth && used + 4 < len; j++) {
		symbolize(sym, s->frames[j], &f);
		if (f.found_symbol) {
			memcpy(buf + used, " < ", 4);
			symbolize_label(&f, s->frames[j], buf + used + 3, len - used - 3);
			return;
		}
	}
}

void sites_label(struct symbolizer *sym, const struct memtide_site_snapshot *s, char *buf,
		 size_t len, struct frame_info *named)
{
	struct frame_info f;

	for (uint32_t i = 0; i < s->depth; i++) {
		symbolize(sym, s->frames[i], &f);
		if (!symbolize_is_allocator(&f) || i + 1 == s->depth) {
			symbolize_label(&f, s->frames[i], buf, len);
			if (!f.found_symbol)
				add_caller(sym, s, i, buf, len);
			if (named)
				*named = f;
			return;
		}
	}
	snprintf(buf, len, "unknown");
	if (named)
		*named = (struct frame_info){0};
}

static double growth_of(const struct memtide_site_snapshot *s, uint64_t now)
{
	double age;

	if (s->last_grew + SITES_GROWTH_RECENT < now || s->first_seen > now)
		return 0;
	age = (double)(now - s->first_seen);
	return (double)s->live_bytes / (age < 60 ? 60 : age);
}

static int note_pid(struct sites_state *st, const char *group, unsigned pid)
{
	if (st->n_pids == st->cap_pids) {
		size_t cap = st->cap_pids ? st->cap_pids * 2 : 64;
		struct group_pid *p = realloc(st->pids, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		st->pids = p;
		st->cap_pids = cap;
	}
	snprintf(st->pids[st->n_pids].group, sizeof(st->pids[0].group), "%s", group);
	st->pids[st->n_pids++].pid = pid;
	return 0;
}

int sites_add(struct sites_state *st, const char *group, unsigned pid,
	      const struct memtide_site_snapshot *sites, uint32_t n, uint64_t now)
{
	struct symbolizer sym;
	char label[SITES_LABEL];
	int err = note_pid(st, group, pid);

	if (err || n == 0)
		return err;
	/* A process whose maps cannot be read has addresses only. */
	symbolizer_open(&sym, pid, &st->opens_left);
	for (uint32_t i = 0; i < n; i++) {
		struct site_sum *s;

		sites_label(&sym, &sites[i], label, sizeof(label), NULL);
		s = sum_for(st, group, label);
		if (!s) {
			err = -ENOMEM;
			break;
		}
		s->live_bytes += (double)sites[i].live_bytes;
		s->live_objects += sites[i].live_objects;
		s->alloc_bytes += (double)sites[i].alloc_bytes;
		s->growth += growth_of(&sites[i], now);
	}
	symbolizer_close(&sym);
	return err;
}

static int by_live(const void *a, const void *b)
{
	const struct site_sum *x = *(const struct site_sum *const *)a;
	const struct site_sum *y = *(const struct site_sum *const *)b;

	return (x->live_bytes < y->live_bytes) - (x->live_bytes > y->live_bytes);
}

static int by_growth(const void *a, const void *b)
{
	const struct site_sum *x = *(const struct site_sum *const *)a;
	const struct site_sum *y = *(const struct site_sum *const *)b;

	return (x->growth < y->growth) - (x->growth > y->growth);
}

static const struct {
	const char *name, *help;
	size_t offset;
} families[] = {
    {"memtide_agent_site_live_bytes",
     "Estimated bytes alive that were allocated at the site (sampled, weighted).",
     offsetof(struct site_sum, live_bytes)},
    {"memtide_agent_site_live_objects", "Estimated blocks alive allocated at the site.",
     offsetof(struct site_sum, live_objects)},
    {"memtide_agent_site_allocated_bytes",
     "Estimated bytes ever allocated at the site by the processes alive now.",
     offsetof(struct site_sum, alloc_bytes)},
    {"memtide_agent_site_growth_bytes_per_second",
     "Live bytes of the site over its age, while it reached a new high in the last 10 "
     "minutes; 0 otherwise.",
     offsetof(struct site_sum, growth)},
};

/* Marks the shown sites of one group (top by live, then top of the rest by
 * growth) and folds the others into its "other". */
static void rank_group(struct sites_state *st, struct site_sum **g, size_t n,
		       struct site_sum *other)
{
	size_t shown = 0;

	qsort(g, n, sizeof(*g), by_live);
	for (size_t i = 0; i < n && shown < st->top; i++)
		if (strcmp(g[i]->label, "other") != 0 && g[i]->live_bytes > 0 && ++shown)
			g[i]->shown = true;
	qsort(g, n, sizeof(*g), by_growth);
	for (size_t i = 0, more = 0; i < n && more < st->top; i++)
		if (!g[i]->shown && strcmp(g[i]->label, "other") != 0 && g[i]->growth > 0 && ++more)
			g[i]->shown = true;
	for (size_t i = 0; i < n; i++) {
		if (g[i]->shown || g[i] == other)
			continue;
		other->live_bytes += g[i]->live_bytes;
		other->live_objects += g[i]->live_objects;
		other->alloc_bytes += g[i]->alloc_bytes;
		other->growth += g[i]->growth;
	}
	other->shown = true;
}

static void publish_pids(struct sites_state *st)
{
	struct group_pid *copy = malloc((st->n_pids ? st->n_pids : 1) * sizeof(*copy));

	if (!copy)
		return;
	if (st->n_pids) /* st->pids is NULL before the first process */
		memcpy(copy, st->pids, st->n_pids * sizeof(*copy));
	pthread_mutex_lock(&published_lock);
	free(published);
	published = copy;
	n_published = st->n_pids;
	pthread_mutex_unlock(&published_lock);
}

static int rank_all(struct sites_state *st, struct site_sum **list)
{
	size_t n = 0;

	for (size_t i = 0; i < SLOTS; i++)
		if (st->sums[i].used && strcmp(st->sums[i].label, "other") != 0)
			list[n++] = &st->sums[i];
	/* Group by group name, then rank each run. */
	for (size_t i = 0; i < n;) {
		size_t j = i, k = i;
		struct site_sum *other = sum_for(st, list[i]->group, "other");

		if (!other)
			return -ENOMEM;
		/* Gather this group's entries into [i, k). */
		for (j = i; j < n; j++)
			if (strcmp(list[j]->group, list[i]->group) == 0) {
				struct site_sum *t = list[k];

				list[k++] = list[j];
				list[j] = t;
			}
		rank_group(st, list + i, k - i, other);
		i = k;
	}
	return 0;
}

int sites_end(struct sites_state *st, struct expo *out)
{
	struct site_sum **list = malloc(SLOTS * sizeof(*list));
	int err;

	publish_pids(st);
	if (!list)
		return -ENOMEM;
	err = rank_all(st, list);
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]) && !err; f++) {
		err = expo_family(out, families[f].name, EXPO_GAUGE, families[f].help);
		for (size_t i = 0; i < SLOTS && !err; i++) {
			const struct site_sum *s = &st->sums[i];

			if (s->used && s->shown)
				err = expo_sample(
				    out, *(const double *)((const char *)s + families[f].offset),
				    "group", s->group, "site", s->label, NULL);
		}
	}
	free(list);
	return err;
}

size_t sites_group_pids(const char *group, unsigned *pids, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&published_lock);
	for (size_t i = 0; i < n_published && n < max; i++)
		if (strcmp(published[i].group, group) == 0)
			pids[n++] = published[i].pid;
	pthread_mutex_unlock(&published_lock);
	return n;
}
