/* SPDX-License-Identifier: MIT */
/*
 * Collector "process": memory of process groups, through libproc2.
 *
 * Every scrape reaps /proc/PID/stat and statm of every process (status too
 * when the machine has swap, for VmSwap), with the libproc2 handle kept across
 * scrapes; matches each process to its group with the config's matchers; and
 * sums the groups. Two costlier readings go through per-process caches: the
 * cgroup memory limit (refreshed every minute) and, for groups with
 * `pss: true`, PSS and USS from smaps_rollup (every pss_max_age). Kernel
 * threads and zombies have no memory of their own and are left out.
 */
#include <errno.h>
#include <libproc2/meminfo.h>
#include <libproc2/misc.h>
#include <libproc2/pids.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgroup_limit.h"
#include "collector.h"
#include "exporter/config.h"
#include "process_config.h"
#include "exporter/array_size.h"
#include "exporter/dynbuf.h"
#include "exporter/expo.h"
#include "group_families.h"
#include "ident.h"
#include "proc_cache.h"
#include "procfs.h"

#define NAME "process"
#define LIMIT_MAX_AGE 60.0 /* seconds: a process moved to another cgroup is seen within it */

/*
 * Fixed positions in every reap. Memory comes from statm, cheaper than
 * status, unless there is swap: VmSwap is only in status. Fields not wanted
 * are PIDS_noop, so the positions never move.
 */
enum field {
	F_PID,
	F_STARTED,
	F_THREADS,
	F_VSIZE,
	F_RSS,
	F_ANON_OR_SHARED,
	F_SWAP,
	F_IDENT, /* IDENT_N fields: what matching and naming need */
	N_FIELDS = F_IDENT + IDENT_N
};

/* One matched process of the current scrape. */
struct proc_rec {
	char group[PROCESS_GROUP_NAME_MAX];
	double resident, anonymous, swap, virt, threads, start_time, limit, fds;
	double pss, uss;
	bool want_pss, has_pss; /* PSS asked for; and read */
};

/* One group's sums; the field names are the metric names' stems. */
struct group_agg {
	const char *name;
	double processes, resident, anonymous, swap, virt, proportional, unique;
	double max_process_resident, oldest_start, memory_limit, open_fds, threads;
	bool pss; /* some member's PSS and USS were read */
};

struct process_state {
	struct collect_ctx *ctx; /* the collect() in progress; NULL between scrapes */
	const struct config *cfg;
	struct pids_info *info;
	bool swap_mode; /* the reap reads status for VmSwap */
	struct meminfo_info *meminfo;
	struct cgroup_limits *limits;
	struct proc_cache *limit_cache;
	struct proc_cache *pss_cache;
	double boot_time, hertz;
	struct proc_rec *recs; /* reused across scrapes; grows with the process count */
	struct proc_reading *want_pss, *want_limit;
	size_t cap_recs, cap_want_pss, cap_want_limit;
};

static void reap_items(const struct config *cfg, bool swap, enum pids_item *items)
{
	const enum pids_item statm[] = {PIDS_MEM_VIRT, PIDS_MEM_RES, PIDS_MEM_SHR, PIDS_noop};
	const enum pids_item status[] = {PIDS_VM_SIZE, PIDS_VM_RSS, PIDS_VM_RSS_ANON, PIDS_VM_SWAP};

	items[F_PID] = PIDS_ID_PID;
	items[F_STARTED] = PIDS_TICS_BEGAN;
	items[F_THREADS] = PIDS_NLWP;
	memcpy(&items[F_VSIZE], swap ? status : statm, sizeof(statm));
	ident_items(cfg, &items[F_IDENT]);
}

/* Without permission libproc2 reads zeros: a live mapped process has Rss. */
static bool read_pss(void *ctx, struct pids_stack *st, struct proc_reading *r)
{
	(void)ctx;
	if (st->head[2].result.ul_int == 0)
		return false;
	r->v[0] = (double)st->head[3].result.ul_int * 1024.0;
	r->v[1] = (double)st->head[4].result.ul_int * 1024.0;
	return true;
}

static bool read_limit(void *ctx, struct pids_stack *st, struct proc_reading *r)
{
	r->v[0] = cgroup_limits_lookup(ctx, st->head[2].result.str);
	return true;
}

static const enum pids_item pss_items[] = {PIDS_ID_PID, PIDS_TICS_BEGAN, PIDS_SMAP_RSS,
					   PIDS_SMAP_PSS, PIDS_SMAP_PRV_TOTAL};
static const enum pids_item limit_items[] = {PIDS_ID_PID, PIDS_TICS_BEGAN, PIDS_CGROUP};

static int open_handles(struct process_state *s)
{
	enum pids_item items[N_FIELDS];
	struct proc_cache_reader pss = {pss_items, 5, read_pss, NULL};
	struct proc_cache_reader limit = {limit_items, 3, read_limit, NULL};
	int err;

	reap_items(s->cfg, false, items);
	err = procps_pids_new(&s->info, items, N_FIELDS);
	if (err < 0)
		return err;
	err = procps_meminfo_new(&s->meminfo);
	if (err < 0)
		return err;
	err = cgroup_limits_new(s->cfg->sysfs, &s->limits);
	if (err < 0)
		return err;
	limit.ctx = s->limits;
	err = proc_cache_new(&limit, &s->limit_cache);
	if (err < 0)
		return err;
	return proc_cache_new(&pss, &s->pss_cache);
}

static void process_release(void *state)
{
	struct process_state *s = state;

	if (!s)
		return;
	if (s->info)
		procps_pids_unref(&s->info);
	if (s->meminfo)
		procps_meminfo_unref(&s->meminfo);
	proc_cache_free(s->pss_cache);
	proc_cache_free(s->limit_cache);
	cgroup_limits_free(s->limits);
	free(s->recs);
	free(s->want_pss);
	free(s->want_limit);
	free(s);
}

static int process_init(void **state, const struct config *cfg)
{
	struct process_state *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->hertz = (double)procps_hertz_get();
	err = procfs_boot_time(cfg->procfs, &s->boot_time);
	if (err == 0)
		err = open_handles(s);
	if (err < 0) {
		process_release(s);
		return err;
	}
	*state = s;
	return 0;
}

/* Switches the reap between statm and status when swap is turned on or off. */
static int follow_swap(struct process_state *s)
{
	bool swap = MEMINFO_GET(s->meminfo, MEMINFO_SWAP_TOTAL, ul_int) > 0;
	enum pids_item items[N_FIELDS];
	int err;

	if (swap == s->swap_mode)
		return 0;
	reap_items(s->cfg, swap, items);
	err = procps_pids_reset(s->info, items, N_FIELDS);
	if (err < 0)
		return err;
	s->swap_mode = swap;
	return 0;
}

static double kib(struct pids_stack *st, enum field f)
{
	return (double)st->head[f].result.ul_int * 1024.0;
}

/* Matches one reaped process to its group. Returns false when it is not reported. */
static bool match_process(struct process_state *s, struct pids_stack *st, struct proc_rec *rec)
{
	int m;

	if (st->head[F_VSIZE].result.ul_int == 0)
		return false; /* a kernel thread or a zombie */
	m = ident_match(s->cfg, st->head[F_PID].result.s_int, st, F_IDENT, rec->group,
			sizeof(rec->group));
	if (m < 0)
		return false;
	rec->want_pss = process_settings(s->cfg)->groups[m].pss;
	return true;
}

/* Fills rec with the process's memory, threads, start time and fd count. */
static void read_process(struct process_state *s, struct pids_stack *st, struct proc_rec *rec)
{
	long fds = 0;
	int err;

	rec->virt = kib(st, F_VSIZE);
	rec->resident = kib(st, F_RSS);
	/* statm's "shared" is file and shmem pages: the rest of resident is anonymous. */
	rec->anonymous =
	    s->swap_mode ? kib(st, F_ANON_OR_SHARED) : rec->resident - kib(st, F_ANON_OR_SHARED);
	rec->swap = s->swap_mode ? kib(st, F_SWAP) : 0;
	rec->threads = st->head[F_THREADS].result.s_int;
	rec->start_time = s->boot_time + (double)st->head[F_STARTED].result.ull_int / s->hertz;
	rec->limit = 0;
	rec->pss = rec->uss = 0;
	rec->has_pss = false;
	err = procfs_count_fds(s->cfg->procfs, st->head[F_PID].result.s_int, &fds);
	if (err == -EACCES || err == -EPERM)
		collect_error(s->ctx, "fd_permission");
	else if (err < 0)
		collect_error(s->ctx, "exited");
	rec->fds = err == 0 ? (double)fds : 0;
}

/* The kernel's limit on pids (PID_MAX_LIMIT), and so on processes a reap lists. */
#define PROCESSES_MAX ((size_t)1 << 22)

/* Grows the per-scrape buffers to n processes; they are kept for the next scrape. */
static int grow_buffers(struct process_state *s, size_t n)
{
	int err;

	err = dynarray_reserve((void **)&s->recs, &s->cap_recs, n, sizeof(*s->recs),
			       PROCESSES_MAX + 1);
	err = err
		  ?: dynarray_reserve((void **)&s->want_pss, &s->cap_want_pss, n,
				      sizeof(*s->want_pss), PROCESSES_MAX + 1);
	return err
		   ?: dynarray_reserve((void **)&s->want_limit, &s->cap_want_limit, n,
				       sizeof(*s->want_limit), PROCESSES_MAX + 1);
}

/* Asks a cache for the readings in want, which index s->recs by tag. */
static void fill_from_cache(struct process_state *s, struct proc_cache *cache, double max_age,
			    struct proc_reading *want, size_t n, bool pss)
{
	if (proc_cache_fill(cache, want, n, max_age) < 0)
		collect_error(s->ctx, pss ? "smaps_rollup" : "cgroup");
	for (size_t i = 0; i < n; i++) {
		struct proc_rec *rec = &s->recs[want[i].tag];

		if (!want[i].ok) {
			collect_error(s->ctx, pss ? "smaps_unreadable" : "cgroup_unreadable");
			continue;
		}
		if (pss) {
			rec->has_pss = true;
			rec->pss = want[i].v[0];
			rec->uss = want[i].v[1];
		} else {
			rec->limit = want[i].v[0];
		}
	}
}

static void want_reading(struct proc_reading *w, struct pids_stack *st, size_t tag)
{
	*w = (struct proc_reading){.pid = st->head[F_PID].result.s_int,
				   .started = st->head[F_STARTED].result.ull_int,
				   .tag = tag};
}

/* Processes matched between two looks at the clock: a look costs far less
 * than matching 64 processes. */
#define DEADLINE_EVERY 64
/*
 * Reaps every process into s->recs; returns how many matched, or -errno.
 * Past the deadline it stops with -ETIMEDOUT: the scrape has answered
 * without this collector, and work done now would only delay the next one.
 */
static int reap(struct process_state *s)
{
	struct pids_fetch *f;
	size_t n = 0, n_pss = 0;
	int err = follow_swap(s);

	if (err < 0)
		return err;
	f = procps_pids_reap(s->info, PIDS_FETCH_TASKS_ONLY);
	if (!f)
		return errno ? -errno : -EIO;
	err = grow_buffers(s, (size_t)f->counts->total + 1);
	if (err)
		return err;
	for (int i = 0; i < f->counts->total; i++) {
		struct pids_stack *st = f->stacks[i];

		if (i % DEADLINE_EVERY == DEADLINE_EVERY - 1 && collect_past_deadline(s->ctx))
			return -ETIMEDOUT;
		if (!match_process(s, st, &s->recs[n]))
			continue;
		read_process(s, st, &s->recs[n]);
		want_reading(&s->want_limit[n], st, n);
		if (s->recs[n].want_pss)
			want_reading(&s->want_pss[n_pss++], st, n);
		n++;
	}
	cgroup_limits_reset(s->limits);
	fill_from_cache(s, s->limit_cache, LIMIT_MAX_AGE, s->want_limit, n, false);
	fill_from_cache(s, s->pss_cache, process_settings(s->cfg)->pss_max_age, s->want_pss, n_pss,
			true);
	return (int)n;
}

static int by_group(const void *a, const void *b)
{
	return strcmp(((const struct proc_rec *)a)->group, ((const struct proc_rec *)b)->group);
}

static void add_to_group(struct group_agg *g, const struct proc_rec *r)
{
	g->processes++;
	g->resident += r->resident;
	g->anonymous += r->anonymous;
	g->swap += r->swap;
	g->virt += r->virt;
	g->threads += r->threads;
	g->open_fds += r->fds;
	g->pss |= r->has_pss;
	g->proportional += r->pss;
	g->unique += r->uss;
	if (r->resident > g->max_process_resident)
		g->max_process_resident = r->resident;
	if (g->oldest_start == 0 || r->start_time < g->oldest_start)
		g->oldest_start = r->start_time;
	if (r->limit > 0 && (g->memory_limit == 0 || r->limit < g->memory_limit))
		g->memory_limit = r->limit;
}

/* Sums sorted records into groups; a group without a cgroup limit gets MemTotal. */
static size_t aggregate(struct process_state *s, size_t n, struct group_agg *groups)
{
	double mem_total = 0;
	size_t n_groups = 0;

	if (s->meminfo)
		mem_total = (double)MEMINFO_GET(s->meminfo, MEMINFO_MEM_TOTAL, ul_int) * 1024.0;
	qsort(s->recs, n, sizeof(*s->recs), by_group);
	for (size_t i = 0; i < n; i++) {
		if (n_groups == 0 || strcmp(groups[n_groups - 1].name, s->recs[i].group) != 0)
			groups[n_groups++] = (struct group_agg){.name = s->recs[i].group};
		add_to_group(&groups[n_groups - 1], &s->recs[i]);
	}
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i].memory_limit == 0)
			groups[i].memory_limit = mem_total;
	return n_groups;
}

#define GM(stem, field, pss_only, help)                                                            \
	{                                                                                          \
		"memtide_group_" stem, EXPO_GAUGE, help, offsetof(struct group_agg, field),        \
		    (pss_only) ? offsetof(struct group_agg, pss) : GROUP_ALWAYS                    \
	}

static const struct group_family group_metrics[] = {
    GM("processes", processes, false, "Processes in the group."),
    GM("resident_bytes", resident, false, "Resident memory of the group (sum of VmRSS)."),
    GM("anonymous_bytes", anonymous, false,
       "Anonymous resident memory of the group (sum of RssAnon): heap, stacks, anonymous "
       "mappings, where leaks live."),
    GM("swap_bytes", swap, false, "Swapped-out memory of the group (sum of VmSwap)."),
    GM("virtual_bytes", virt, false, "Virtual memory of the group (sum of VmSize)."),
    GM("proportional_bytes", proportional, true,
       "Proportional set size of the group (sum of Pss from smaps_rollup); only for groups "
       "with pss: true, and each process's value may be up to pss_max_age old."),
    GM("unique_bytes", unique, true,
       "Unique set size of the group (sum of Private_Clean + Private_Dirty); only for groups "
       "with pss: true, and each process's value may be up to pss_max_age old."),
    GM("max_process_resident_bytes", max_process_resident, false,
       "The largest VmRSS of one member of the group."),
    GM("oldest_start_time_seconds", oldest_start, false,
       "Unix time the oldest member of the group started."),
    GM("memory_limit_bytes", memory_limit, false,
       "Memory the group can grow into: the smallest cgroup memory limit among its members, "
       "else MemTotal."),
    GM("open_fds", open_fds, false,
       "Open file descriptors of the group (members whose fds may not be read count 0)."),
    GM("threads", threads, false, "Threads of the group."),
};

static const char *group_agg_name(const void *record)
{
	return ((const struct group_agg *)record)->name;
}

static int emit(struct expo *out, const struct group_agg *groups, size_t n)
{
	const struct group_records recs = {groups, n, sizeof(*groups), group_agg_name};

	return group_families_write(out, group_metrics, ARRAY_SIZE(group_metrics), &recs);
}

static int process_collect(void *state, struct collect_ctx *ctx)
{
	struct process_state *s = state;
	struct group_agg *groups = NULL;
	int n, err;

	s->ctx = ctx;
	n = reap(s);
	if (n < 0) {
		err = n;
		goto out;
	}
	groups = calloc((size_t)n + 1, sizeof(*groups));
	if (!groups) {
		err = -ENOMEM;
		goto out;
	}
	err = emit(ctx->out, groups, aggregate(s, (size_t)n, groups));
	free(groups);
out:
	s->ctx = NULL;
	return err;
}

const struct collector process_collector = {
    .name = NAME,
    .help = "memory, fds and threads of process groups (libproc2)",
    .enabled_by_default = true,
    .config = &process_section,
    .init = process_init,
    .collect = process_collect,
    .release = process_release,
};
