/* SPDX-License-Identifier: MIT */
#include "agent_stats.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/array_size.h"
#include "exporter/dynbuf.h"
#include "exporter/expo.h"
#include "agent/segment_read.h"
#include "group_families.h"
#include "session_families.h"

struct agent_group {
	char name[PROCESS_GROUP_NAME_MAX];
	double processes, live_bytes, live_objects, allocs, frees, allocated;
	double heap_system, heap_free, heap_releasable;
	bool has_heap;
};

struct agent_pool {
	size_t group; /* index into groups */
	char name[MEMTIDE_SEG_POOL_NAME];
	double live, opened, closed, ttl, oldest, by_age[MEMTIDE_SEG_AGE_BUCKETS];
	bool tickets; /* some process counts this pool with tickets: it has ages and counters */
};

/* Counters of exited processes; pool[0] == '\0' holds the allocator's. */
struct agent_retired {
	char group[PROCESS_GROUP_NAME_MAX];
	char pool[MEMTIDE_SEG_POOL_NAME];
	uint64_t c[3]; /* allocs, frees, bytes; or opened, closed */
};

/* Makes room for one more element in a growable array. */
/* Records of one kind: a process's pools at worst times the processes; the
 * cap only stops a runaway. */
#define AGENT_STATS_MAX ((size_t)1 << 24)

/* Room for one more record in st->arr, which holds st->n. */
#define RESERVE(st, arr, n, cap)                                                                   \
	dynarray_reserve((void **)&(st)->arr, &(st)->cap, (st)->n + 1, sizeof(*(st)->arr),         \
			 AGENT_STATS_MAX)

void agent_stats_begin(struct agent_stats *st)
{
	st->n_groups = 0;
	st->n_pools = 0;
	st->n_procs = 0;
	st->n_proc_pools = 0;
}

static struct agent_group *find_group(struct agent_stats *st, const char *name)
{
	for (size_t i = 0; i < st->n_groups; i++)
		if (strcmp(st->groups[i].name, name) == 0)
			return &st->groups[i];
	return NULL;
}

static struct agent_group *group_for(struct agent_stats *st, const char *name)
{
	struct agent_group *g = find_group(st, name);

	if (g || RESERVE(st, groups, n_groups, cap_groups) < 0)
		return g;
	g = &st->groups[st->n_groups++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	return g;
}

static struct agent_pool *find_pool(struct agent_stats *st, size_t group, const char *name)
{
	for (size_t i = 0; i < st->n_pools; i++)
		if (st->pools[i].group == group && strcmp(st->pools[i].name, name) == 0)
			return &st->pools[i];
	return NULL;
}

static struct agent_pool *pool_for(struct agent_stats *st, size_t group, const char *name)
{
	struct agent_pool *p = find_pool(st, group, name);

	if (p || RESERVE(st, pools, n_pools, cap_pools) < 0)
		return p;
	p = &st->pools[st->n_pools++];
	memset(p, 0, sizeof(*p));
	p->group = group;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

static void add_allocator(struct agent_group *g, const struct memtide_seg_snapshot *snap)
{
	g->processes++;
	g->live_bytes += (double)snap->live_bytes;
	g->live_objects += (double)snap->live_objects;
	g->allocs += (double)snap->allocs;
	g->frees += (double)snap->frees;
	g->allocated += (double)snap->bytes_allocated;
	if (snap->has_mallinfo) {
		g->has_heap = true;
		g->heap_system += (double)snap->heap_system_bytes;
		g->heap_free += (double)snap->heap_free_bytes;
		g->heap_releasable += (double)snap->heap_releasable_bytes;
	}
}

static void add_pool(struct agent_pool *p, const struct memtide_seg_pool_snapshot *ps)
{
	p->live += (double)ps->live;
	if (ps->ttl_seconds > p->ttl)
		p->ttl = ps->ttl_seconds;
	if (!ps->has_ages)
		return;
	p->tickets = true;
	p->opened += (double)ps->opened;
	p->closed += (double)ps->closed;
	if ((double)ps->oldest_age_seconds > p->oldest)
		p->oldest = (double)ps->oldest_age_seconds;
	for (size_t b = 0; b < MEMTIDE_SEG_AGE_BUCKETS; b++)
		p->by_age[b] += (double)ps->live_by_age[b];
}

/* Remembers what this process counted, to retire it when it is gone. */
static int remember(struct agent_stats *st, const char *group, unsigned pid, uint64_t started,
		    const struct memtide_seg_snapshot *snap)
{
	struct agent_proc *pr;

	if (RESERVE(st, procs, n_procs, cap_procs) < 0)
		return -ENOMEM;
	pr = &st->procs[st->n_procs];
	*pr = (struct agent_proc){.pid = pid,
				  .started = started,
				  .allocs = snap->allocs,
				  .frees = snap->frees,
				  .bytes_allocated = snap->bytes_allocated,
				  .first_pool = st->n_proc_pools};
	snprintf(pr->group, sizeof(pr->group), "%s", group);
	for (uint32_t i = 0; i < snap->pool_count; i++) {
		if (RESERVE(st, proc_pools, n_proc_pools, cap_proc_pools) < 0)
			return -ENOMEM;
		struct agent_pool_counts *pc = &st->proc_pools[st->n_proc_pools++];

		snprintf(pc->name, sizeof(pc->name), "%s", snap->pools[i].name);
		pc->opened = snap->pools[i].opened;
		pc->closed = snap->pools[i].closed;
		pr->n_pools++;
	}
	st->n_procs++;
	return 0;
}

int agent_stats_add(struct agent_stats *st, const char *group, unsigned pid, uint64_t started,
		    const struct memtide_seg_snapshot *snap)
{
	struct agent_group *g = group_for(st, group);
	size_t gi;

	if (!g)
		return -ENOMEM;
	gi = (size_t)(g - st->groups);
	add_allocator(g, snap);
	for (uint32_t i = 0; i < snap->pool_count; i++) {
		struct agent_pool *p = pool_for(st, gi, snap->pools[i].name);

		if (!p)
			return -ENOMEM;
		add_pool(p, &snap->pools[i]);
	}
	return remember(st, group, pid, started, snap);
}

int agent_stats_keep(struct agent_stats *st, unsigned pid, uint64_t started)
{
	const struct agent_proc *old = NULL;
	struct agent_group *g;
	struct agent_proc *pr;

	for (size_t i = 0; i < st->n_prev && !old; i++)
		if (st->prev[i].pid == pid && st->prev[i].started == started)
			old = &st->prev[i];
	if (!old)
		return 0;
	g = group_for(st, old->group);
	if (!g || RESERVE(st, procs, n_procs, cap_procs) < 0)
		return -ENOMEM;
	g->allocs += (double)old->allocs;
	g->frees += (double)old->frees;
	g->allocated += (double)old->bytes_allocated;
	pr = &st->procs[st->n_procs++];
	*pr = *old;
	pr->first_pool = st->n_proc_pools;
	for (size_t i = 0; i < old->n_pools; i++) {
		const struct agent_pool_counts *pc = &st->prev_pools[old->first_pool + i];
		struct agent_pool *p = pool_for(st, (size_t)(g - st->groups), pc->name);

		if (!p || RESERVE(st, proc_pools, n_proc_pools, cap_proc_pools) < 0)
			return -ENOMEM;
		p->tickets = true;
		p->opened += (double)pc->opened;
		p->closed += (double)pc->closed;
		st->proc_pools[st->n_proc_pools++] = *pc;
	}
	return 0;
}

static bool still_alive(const struct agent_stats *st, const struct agent_proc *old)
{
	for (size_t i = 0; i < st->n_procs; i++)
		if (st->procs[i].pid == old->pid && st->procs[i].started == old->started)
			return true;
	return false;
}

static struct agent_retired *retired_for(struct agent_stats *st, const char *group,
					 const char *pool)
{
	struct agent_retired *r;

	for (size_t i = 0; i < st->n_retired; i++)
		if (strcmp(st->retired[i].group, group) == 0 &&
		    strcmp(st->retired[i].pool, pool) == 0)
			return &st->retired[i];
	if (RESERVE(st, retired, n_retired, cap_retired) < 0)
		return NULL;
	r = &st->retired[st->n_retired++];
	memset(r, 0, sizeof(*r));
	snprintf(r->group, sizeof(r->group), "%s", group);
	snprintf(r->pool, sizeof(r->pool), "%s", pool);
	return r;
}

/* Moves the counters of one exited process into the retired totals. */
static int retire(struct agent_stats *st, const struct agent_proc *old)
{
	struct agent_retired *r = retired_for(st, old->group, "");

	if (!r)
		return -ENOMEM;
	r->c[0] += old->allocs;
	r->c[1] += old->frees;
	r->c[2] += old->bytes_allocated;
	for (size_t i = 0; i < old->n_pools; i++) {
		const struct agent_pool_counts *pc = &st->prev_pools[old->first_pool + i];

		r = retired_for(st, old->group, pc->name);
		if (!r)
			return -ENOMEM;
		r->c[0] += pc->opened;
		r->c[1] += pc->closed;
	}
	return 0;
}

/* Adds retired totals to live groups and pools; drops those nothing lives in. */
static void apply_retired(struct agent_stats *st)
{
	size_t kept = 0;

	for (size_t i = 0; i < st->n_retired; i++) {
		struct agent_retired *r = &st->retired[i];
		struct agent_group *g = find_group(st, r->group);
		struct agent_pool *p = NULL;

		if (g && r->pool[0])
			p = find_pool(st, (size_t)(g - st->groups), r->pool);
		if (!g || (r->pool[0] && !p))
			continue;
		if (p) {
			p->opened += (double)r->c[0];
			p->closed += (double)r->c[1];
		} else {
			g->allocs += (double)r->c[0];
			g->frees += (double)r->c[1];
			g->allocated += (double)r->c[2];
		}
		st->retired[kept++] = *r;
	}
	st->n_retired = kept;
}

/* This scrape's processes become the previous ones. */
static void rotate(struct agent_stats *st)
{
	struct agent_proc *procs = st->prev;
	struct agent_pool_counts *pools = st->prev_pools;
	size_t cap = st->cap_prev, cap_pools = st->cap_prev_pools;

	st->prev = st->procs;
	st->n_prev = st->n_procs;
	st->cap_prev = st->cap_procs;
	st->prev_pools = st->proc_pools;
	st->n_prev_pools = st->n_proc_pools;
	st->cap_prev_pools = st->cap_proc_pools;
	st->procs = procs;
	st->cap_procs = cap;
	st->proc_pools = pools;
	st->cap_proc_pools = cap_pools;
	st->n_procs = st->n_proc_pools = 0;
}

#define AG(name, type, field, heap, help)                                                          \
	{                                                                                          \
		name, type, help, offsetof(struct agent_group, field),                             \
		    (heap) ? offsetof(struct agent_group, has_heap) : GROUP_ALWAYS                 \
	}

static const struct group_family group_metrics[] = {
    AG("memtide_agent_processes", EXPO_GAUGE, processes, false,
       "Processes of the group with a live libmemtide segment."),
    AG("memtide_malloc_live_bytes", EXPO_GAUGE, live_bytes, false,
       "Bytes in live allocations (usable size), from libmemtide."),
    AG("memtide_malloc_live_objects", EXPO_GAUGE, live_objects, false,
       "Live allocations, from libmemtide."),
    AG("memtide_malloc_allocs_total", EXPO_COUNTER, allocs, false,
       "Allocations, from libmemtide (processes that exited included while the group lives)."),
    AG("memtide_malloc_frees_total", EXPO_COUNTER, frees, false,
       "Frees, from libmemtide (processes that exited included while the group lives)."),
    AG("memtide_malloc_allocated_bytes_total", EXPO_COUNTER, allocated, false,
       "Bytes ever allocated (usable size), from libmemtide."),
    AG("memtide_malloc_heap_system_bytes", EXPO_GAUGE, heap_system, true,
       "Memory the allocator holds from the OS (mallinfo2 arena + hblkhd): a snapshot the "
       "agent takes from the program's own allocations, at most every "
       "MEMTIDE_MALLINFO_INTERVAL seconds, never reported below the live bytes."),
    AG("memtide_malloc_heap_free_bytes", EXPO_GAUGE, heap_free, true,
       "Free bytes kept inside the allocator (mallinfo2 fordblks)."),
    AG("memtide_malloc_heap_releasable_bytes", EXPO_GAUGE, heap_releasable, true,
       "Releasable top of the heap (mallinfo2 keepcost)."),
};

static const char *agent_group_name(const void *record)
{
	return ((const struct agent_group *)record)->name;
}

static int write_groups(const struct agent_stats *st, struct expo *out)
{
	const struct group_records recs = {st->groups, st->n_groups, sizeof(*st->groups),
					   agent_group_name};

	return group_families_write(out, group_metrics, ARRAY_SIZE(group_metrics), &recs);
}

/* One family of per-pool values; ticket-only families skip pools counted by set. */
static int write_pool_family(const struct agent_stats *st, struct expo *out, const char *name,
			     enum expo_type type, const char *help, size_t offset,
			     bool tickets_only)
{
	int err = expo_family(out, name, type, help);

	for (size_t i = 0; i < st->n_pools && !err; i++) {
		const struct agent_pool *p = &st->pools[i];

		if (tickets_only && !p->tickets)
			continue;
		err =
		    expo_sample(out, *(const double *)((const char *)p + offset), "source", "agent",
				"group", st->groups[p->group].name, "pool", p->name, NULL);
	}
	return err;
}

static int write_ages(const struct agent_stats *st, struct expo *out)
{
	int err = expo_family(out, SESSIONS_BY_AGE, EXPO_GAUGE, SESSIONS_BY_AGE_HELP);

	for (size_t i = 0; i < st->n_pools && !err; i++) {
		const struct agent_pool *p = &st->pools[i];

		for (size_t b = 0; b < MEMTIDE_SEG_AGE_BUCKETS && p->tickets && !err; b++) {
			char older[16];

			snprintf(older, sizeof(older), "%.0f", sessions_age_buckets[b]);
			err = expo_sample(out, p->by_age[b], "source", "agent", "group",
					  st->groups[p->group].name, "pool", p->name,
					  "older_than_seconds", older, NULL);
		}
	}
	return err;
}

static int write_pools(const struct agent_stats *st, struct expo *out)
{
#define PF(field) offsetof(struct agent_pool, field)
	int err = write_pool_family(st, out, SESSIONS_LIVE, EXPO_GAUGE, SESSIONS_LIVE_HELP,
				    PF(live), false);

	if (!err)
		err = write_pool_family(st, out, SESSIONS_OPENED, EXPO_COUNTER,
					SESSIONS_OPENED_HELP, PF(opened), true);
	if (!err)
		err = write_pool_family(st, out, SESSIONS_CLOSED, EXPO_COUNTER,
					SESSIONS_CLOSED_HELP, PF(closed), true);
	if (!err)
		err = write_pool_family(st, out, SESSIONS_TTL, EXPO_GAUGE, SESSIONS_TTL_HELP,
					PF(ttl), false);
	if (!err)
		err = write_pool_family(st, out, SESSIONS_OLDEST, EXPO_GAUGE, SESSIONS_OLDEST_HELP,
					PF(oldest), true);
	if (!err)
		err = write_ages(st, out);
	return err;
#undef PF
}

int agent_stats_end(struct agent_stats *st, struct expo *out)
{
	int err = 0;

	for (size_t i = 0; i < st->n_prev && !err; i++)
		if (!still_alive(st, &st->prev[i]))
			err = retire(st, &st->prev[i]);
	apply_retired(st);
	rotate(st);
	if (!err)
		err = write_groups(st, out);
	if (!err)
		err = write_pools(st, out);
	return err;
}

void agent_stats_free(struct agent_stats *st)
{
	free(st->groups);
	free(st->pools);
	free(st->procs);
	free(st->prev);
	free(st->proc_pools);
	free(st->prev_pools);
	free(st->retired);
	memset(st, 0, sizeof(*st));
}
