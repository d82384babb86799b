/* SPDX-License-Identifier: MIT */
/*
 * Collector "self": the exporter's own process, under the standard names of
 * the Prometheus client libraries, and its build. memtide watches itself with
 * its own rules: the exporter must never be the leak.
 */
#include <errno.h>
#include <libproc2/misc.h>
#include <libproc2/pids.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "exporter/basic_auth.h"
#include "collector.h"
#include "exporter/conn_guard.h"
#include "exporter/config.h"
#include "exporter/array_size.h"
#include "exporter/expo.h"
#include "procfs.h"

enum self_field { F_TIME, F_VSIZE, F_RSS, F_STARTED };

static enum pids_item self_items[] = {PIDS_TIME_ALL, PIDS_VM_SIZE, PIDS_VM_RSS, PIDS_TICS_BEGAN};

struct self_state {
	struct pids_info *info; /* not thread-safe: used on the collector's lane only */
	const char *procfs;
	double boot_time;
};

struct self_sample {
	double cpu, vsize, rss, start, fds, max_fds, max_vsize;
};

static void self_release(void *state)
{
	struct self_state *s = state;

	if (s->info)
		procps_pids_unref(&s->info);
	free(s);
}

static int self_init(void **state, const struct config *cfg)
{
	struct self_state *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->procfs = cfg->procfs;
	err = procfs_boot_time(cfg->procfs, &s->boot_time);
	if (err == 0)
		err = procps_pids_new(&s->info, self_items, ARRAY_SIZE(self_items));
	if (err < 0) {
		self_release(s);
		return err;
	}
	*state = s;
	return 0;
}

/* RLIM_INFINITY reads as the largest unsigned 64-bit value, as client_golang reports it. */
static double limit_value(int resource)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) != 0)
		return 0;
	return (double)rl.rlim_cur;
}

static int read_self(struct self_state *s, struct self_sample *out)
{
	unsigned pid = (unsigned)getpid();
	struct pids_fetch *f;
	struct pids_stack *st;
	long fds = 0;
	int err;

	f = procps_pids_select(s->info, &pid, 1, PIDS_SELECT_PID);
	if (!f || f->counts->total != 1)
		return -EIO;
	st = f->stacks[0];
	out->cpu = PIDS_VAL(F_TIME, real, st, s->info);
	out->vsize = (double)PIDS_VAL(F_VSIZE, ul_int, st, s->info) * 1024.0;
	out->rss = (double)PIDS_VAL(F_RSS, ul_int, st, s->info) * 1024.0;
	out->start = s->boot_time +
		     (double)PIDS_VAL(F_STARTED, ull_int, st, s->info) / (double)procps_hertz_get();
	err = procfs_count_fds(s->procfs, (int)pid, &fds);
	if (err)
		return err;
	out->fds = (double)fds;
	out->max_fds = limit_value(RLIMIT_NOFILE);
	out->max_vsize = limit_value(RLIMIT_AS);
	return 0;
}

struct self_metric {
	const char *name;
	enum expo_type type;
	const char *help;
	size_t offset;
};

#define SM(name, type, field, help)                                                                \
	{                                                                                          \
		name, type, help, offsetof(struct self_sample, field)                              \
	}

static const struct self_metric self_metrics[] = {
    SM("process_cpu_seconds_total", EXPO_COUNTER, cpu,
       "Total user and system CPU time spent in seconds."),
    SM("process_open_fds", EXPO_GAUGE, fds, "Number of open file descriptors."),
    SM("process_max_fds", EXPO_GAUGE, max_fds, "Maximum number of open file descriptors."),
    SM("process_virtual_memory_bytes", EXPO_GAUGE, vsize, "Virtual memory size in bytes."),
    SM("process_virtual_memory_max_bytes", EXPO_GAUGE, max_vsize,
       "Maximum amount of virtual memory available in bytes."),
    SM("process_resident_memory_bytes", EXPO_GAUGE, rss, "Resident memory size in bytes."),
    SM("process_start_time_seconds", EXPO_GAUGE, start,
       "Start time of the process since unix epoch in seconds."),
};

/* Basic-auth checks: cached, bcrypt run, and rejected without bcrypt under a flood. */
static int emit_auth(struct expo *out)
{
	struct basic_auth_counts c;
	int err = expo_family(out, "memtide_auth_checks_total", EXPO_COUNTER,
			      "Basic-auth checks of credentials: accepted from the cache "
			      "(result=cached), checked with bcrypt (bcrypt), rejected without "
			      "bcrypt because checks were queued (busy).");

	basic_auth_counts(&c);
	if (err == 0)
		err = expo_sample(out, (double)c.cached, "result", "cached", NULL);
	if (err == 0)
		err = expo_sample(out, (double)c.bcrypt, "result", "bcrypt", NULL);
	if (err == 0)
		err = expo_sample(out, (double)c.busy, "result", "busy", NULL);
	if (err == 0)
		err = expo_family(
		    out, "memtide_http_connections_evicted_total", EXPO_COUNTER,
		    "Connections closed to make room for a new one: more than 256 were "
		    "open, and this one had waited longest without a complete request.");
	if (err == 0)
		err = expo_sample(out, (double)conn_guard_evictions(), NULL);
	return err;
}

static int self_collect(void *state, struct collect_ctx *ctx)
{
	struct expo *out = ctx->out;
	struct self_sample v;
	int err = read_self(state, &v);

	for (size_t i = 0; err == 0 && i < ARRAY_SIZE(self_metrics); i++) {
		const struct self_metric *m = &self_metrics[i];

		err = expo_family(out, m->name, m->type, m->help);
		if (err == 0)
			err =
			    expo_sample(out, *(const double *)((const char *)&v + m->offset), NULL);
	}
	if (err == 0)
		err = expo_family(out, "memtide_exporter_build_info", EXPO_GAUGE,
				  "A metric with a constant 1, labelled by the exporter's version "
				  "and source revision.");
	if (err == 0)
		err = expo_sample(out, 1, "version", MEMTIDE_VERSION, "revision", MEMTIDE_REVISION,
				  NULL);
	if (err == 0)
		err = emit_auth(out);
	return err;
}

const struct collector self_collector = {
    .name = "self",
    .help = "the exporter's own process_* metrics and build",
    .enabled_by_default = true,
    .init = self_init,
    .collect = self_collect,
    .release = self_release,
};
