/* SPDX-License-Identifier: MIT */
/*
 * Collector "process": memory of process groups, through libproc2.
 *
 * Every scrape reaps the fields of /proc/PID/stat, status and cgroup for all
 * processes (the libproc2 handle is kept across scrapes), matches each process
 * to its group with the config's matchers, and sums the groups. PSS and USS
 * come from smaps_rollup only for groups with `pss: true`, through the PSS
 * cache. Kernel threads and zombies have no memory of their own and are left
 * out.
 */
#include <errno.h>
#include <libproc2/meminfo.h>
#include <libproc2/misc.h>
#include <libproc2/pids.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_limit.h"
#include "collector.h"
#include "config.h"
#include "expo.h"
#include "procfs.h"
#include "pss_cache.h"
#include "scrape_errors.h"

#define NAME "process"

/* Positions of the fields every reap asks for; optional ones follow. */
enum base_field { F_PID, F_COMM, F_VSIZE, F_RSS, F_ANON, F_SWAP, F_THREADS, F_STARTED, F_CGROUP };

static const enum pids_item base_items[] = {
	PIDS_ID_PID,  PIDS_CMD,  PIDS_VM_SIZE,    PIDS_VM_RSS, PIDS_VM_RSS_ANON,
	PIDS_VM_SWAP, PIDS_NLWP, PIDS_TICS_BEGAN, PIDS_CGROUP,
};

#define N_BASE (sizeof(base_items) / sizeof(base_items[0]))
#define MAX_ITEMS (N_BASE + 3)

/* One matched process of the current scrape. */
struct proc_rec {
	char group[CONFIG_GROUP_NAME_MAX];
	double resident, anonymous, swap, virt, threads, start_time, limit, fds;
	double pss, uss;
	bool has_fds, want_pss, has_pss;
};

/* One group's sums; the field names are the metric names' stems. */
struct group_agg {
	const char *name;
	double processes, resident, anonymous, swap, virt, proportional, unique;
	double max_process_resident, oldest_start, memory_limit, open_fds, threads;
	bool pss;
};

struct process_state {
	pthread_mutex_t lock; /* libproc2 handles and the buffers below */
	const struct config *cfg;
	struct pids_info *info;
	struct meminfo_info *meminfo;
	struct cgroup_limits *limits;
	struct pss_cache *pss;
	int idx_exe, idx_cmdline, idx_user; /* -1 when not reaped */
	double boot_time, hertz;
	struct proc_rec *recs; /* reused across scrapes; grows with the process count */
	size_t cap;
};

static int add_item(enum pids_item *items, int *n, enum pids_item item)
{
	items[*n] = item;
	return (*n)++;
}

static int open_handles(struct process_state *s)
{
	enum pids_item items[MAX_ITEMS];
	int n = (int)N_BASE;
	int err;

	memcpy(items, base_items, sizeof(base_items));
	s->idx_exe = s->cfg->needs & CONFIG_NEEDS_EXE ? add_item(items, &n, PIDS_EXE) : -1;
	s->idx_cmdline =
		s->cfg->needs & CONFIG_NEEDS_CMDLINE ? add_item(items, &n, PIDS_CMDLINE) : -1;
	s->idx_user = s->cfg->needs & CONFIG_NEEDS_USER ? add_item(items, &n, PIDS_ID_EUSER) : -1;
	err = procps_pids_new(&s->info, items, n);
	if (err < 0)
		return err;
	err = procps_meminfo_new(&s->meminfo);
	if (err < 0)
		return err;
	err = cgroup_limits_new(s->cfg->sysfs, &s->limits);
	if (err < 0)
		return err;
	return pss_cache_new(&s->pss);
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
	cgroup_limits_free(s->limits);
	pss_cache_free(s->pss);
	pthread_mutex_destroy(&s->lock);
	free(s->recs);
	free(s);
}

static int process_init(void **state, const struct config *cfg)
{
	struct process_state *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
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

static const char *str_field(struct pids_stack *stack, int idx)
{
	const char *v;

	if (idx < 0)
		return NULL;
	v = stack->head[idx].result.str;
	/* libproc2 writes "-" for what it could not read. */
	return v && strcmp(v, "-") != 0 ? v : NULL;
}

/* Matches one reaped process and fills rec. Returns false when it is not reported. */
static bool read_process(struct process_state *s, struct pids_stack *st, struct proc_rec *rec,
			 struct pss_reading *want)
{
	const char *cgroup_field = PIDS_VAL(F_CGROUP, str, st, s->info);
	char cgroup[1024];
	struct proc_ident id;
	int pid = PIDS_VAL(F_PID, s_int, st, s->info);
	long fds;
	int m, err;

	if (PIDS_VAL(F_VSIZE, ul_int, st, s->info) == 0)
		return false; /* a kernel thread or a zombie */
	cgroup_v2_path(cgroup_field, cgroup, sizeof(cgroup));
	id = (struct proc_ident){
		.comm = PIDS_VAL(F_COMM, str, st, s->info),
		.exe = str_field(st, s->idx_exe),
		.cmdline = str_field(st, s->idx_cmdline),
		.user = str_field(st, s->idx_user),
		.cgroup = cgroup,
	};
	m = config_match(s->cfg, &id, rec->group, sizeof(rec->group));
	if (m < 0)
		return false;
	rec->resident = (double)PIDS_VAL(F_RSS, ul_int, st, s->info) * 1024.0;
	rec->anonymous = (double)PIDS_VAL(F_ANON, ul_int, st, s->info) * 1024.0;
	rec->swap = (double)PIDS_VAL(F_SWAP, ul_int, st, s->info) * 1024.0;
	rec->virt = (double)PIDS_VAL(F_VSIZE, ul_int, st, s->info) * 1024.0;
	rec->threads = PIDS_VAL(F_THREADS, s_int, st, s->info);
	rec->start_time =
		s->boot_time + (double)PIDS_VAL(F_STARTED, ull_int, st, s->info) / s->hertz;
	rec->limit = cgroup_limits_lookup(s->limits, cgroup_field);
	err = procfs_count_fds(s->cfg->procfs, pid, &fds);
	rec->has_fds = err == 0;
	rec->fds = err == 0 ? (double)fds : 0;
	if (err == -EACCES || err == -EPERM)
		scrape_errors_inc(NAME, "fd_permission");
	else if (err < 0)
		scrape_errors_inc(NAME, "exited");
	rec->want_pss = s->cfg->groups[m].pss;
	rec->has_pss = false;
	want->pid = pid;
	want->started = PIDS_VAL(F_STARTED, ull_int, st, s->info);
	return true;
}

static int grow_recs(struct process_state *s, size_t n)
{
	struct proc_rec *r;

	if (n <= s->cap)
		return 0;
	r = realloc(s->recs, n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->recs = r;
	s->cap = n;
	return 0;
}

/* Reads PSS and USS for the processes in want, which index s->recs by tag. */
static void attach_pss(struct process_state *s, struct pss_reading *want, size_t n)
{
	int err = pss_cache_fill(s->pss, want, n, s->cfg->pss_max_age);

	if (err < 0)
		scrape_errors_inc(NAME, "smaps_rollup");
	for (size_t i = 0; i < n; i++) {
		struct proc_rec *rec = &s->recs[want[i].tag];

		if (!want[i].ok) {
			scrape_errors_inc(NAME, "smaps_unreadable");
			continue;
		}
		rec->pss = want[i].pss;
		rec->uss = want[i].uss;
		rec->has_pss = true;
	}
}

/* Reaps every process into s->recs; returns how many matched, or -errno. */
static int reap(struct process_state *s)
{
	struct pids_fetch *f = procps_pids_reap(s->info, PIDS_FETCH_TASKS_ONLY);
	struct pss_reading *want;
	size_t n = 0, n_pss = 0;
	int err;

	if (!f)
		return errno ? -errno : -EIO;
	err = grow_recs(s, (size_t)f->counts->total + 1);
	if (err)
		return err;
	want = calloc((size_t)f->counts->total + 1, sizeof(*want));
	if (!want)
		return -ENOMEM;
	cgroup_limits_reset(s->limits);
	for (int i = 0; i < f->counts->total; i++) {
		if (!read_process(s, f->stacks[i], &s->recs[n], &want[n_pss]))
			continue;
		want[n_pss].tag = n;
		n_pss += s->recs[n].want_pss;
		n++;
	}
	attach_pss(s, want, n_pss);
	free(want);
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
	g->pss |= r->want_pss;
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

struct group_metric {
	const char *name;
	const char *help;
	size_t offset;
	bool pss_only;
};

#define GM(stem, field, pss, help) {"memtide_group_" stem, help, offsetof(struct group_agg, field), pss}

static const struct group_metric group_metrics[] = {
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

static int emit(struct expo *out, const struct group_agg *groups, size_t n)
{
	int err = 0;

	for (size_t m = 0; m < sizeof(group_metrics) / sizeof(group_metrics[0]); m++) {
		const struct group_metric *gm = &group_metrics[m];

		err = expo_family(out, gm->name, EXPO_GAUGE, gm->help);
		for (size_t i = 0; i < n && err == 0; i++) {
			const double *v = (const double *)((const char *)&groups[i] + gm->offset);

			if (gm->pss_only && !groups[i].pss)
				continue;
			err = expo_sample(out, *v, "group", groups[i].name, NULL);
		}
		if (err)
			return err;
	}
	return 0;
}

static int process_collect(void *state, struct expo *out, const struct timespec *deadline)
{
	struct process_state *s = state;
	struct group_agg *groups = NULL;
	int n, err;

	err = pthread_mutex_clocklock(&s->lock, CLOCK_MONOTONIC, deadline);
	if (err)
		return -err;
	n = reap(s);
	if (n < 0) {
		err = n;
		goto out_unlock;
	}
	groups = calloc((size_t)n + 1, sizeof(*groups));
	if (!groups) {
		err = -ENOMEM;
		goto out_unlock;
	}
	err = emit(out, groups, aggregate(s, (size_t)n, groups));
	free(groups);
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return err;
}

const struct collector process_collector = {
	.name = NAME,
	.help = "memory, fds and threads of process groups (libproc2)",
	.enabled_by_default = true,
	.init = process_init,
	.collect = process_collect,
	.release = process_release,
};
