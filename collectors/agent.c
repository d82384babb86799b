/* SPDX-License-Identifier: MIT */
/*
 * Collector "agent": allocator statistics and session pools from the
 * segments that libmemtide writes in the agent directory (memtide.<pid>).
 *
 * Each segment is hostile input (segment_file.c copies it safely, the
 * agent's segment_read.c validates the copy) and is trusted only when its pid
 * is alive with the same start time and owns the file. Segments whose writer
 * is gone are removed. Statistics are summed by the same group as the process
 * collector, sessions by (group, pool); counters of processes that exited are
 * carried in `retired`, so a group's counters never go backwards while it
 * lives.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libproc2/pids.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_off.h"
#include "agent_reject.h"
#include "agent_stats.h"
#include "collector.h"
#include "config.h"
#include "ident.h"
#include "scrape_errors.h"
#include "segment_file.h"
#include "segment_name.h"
#include "segment_read.h"

#define NAME "agent"
#define SELECT_BATCH 128
#define SEQLOCK_RETRIES 64
#define COPY_ATTEMPTS 3
#define MAX_SEGMENTS 65536 /* more files than this in the directory are not looked at */
/* A writer that beat this recently is alive, whatever its pid looks like from here. */
#define HEARTBEAT_ALIVE_SECONDS 60

enum field { F_PID, F_STARTED, F_EUID, F_IDENT, N_FIELDS = F_IDENT + IDENT_N };

struct agent_state {
	pthread_mutex_t lock; /* everything below */
	const struct config *cfg;
	struct pids_info *info;
	struct memtide_seg_snapshot snap; /* 13 KiB: reused, not on the stack */
	struct agent_stats stats;
	struct agent_off off; /* processes whose agent is off, by group and reason */
};

static void agent_release(void *state)
{
	struct agent_state *s = state;

	if (!s)
		return;
	if (s->info)
		procps_pids_unref(&s->info);
	agent_stats_free(&s->stats);
	agent_off_free(&s->off);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int agent_init(void **state, const struct config *cfg)
{
	struct agent_state *s = calloc(1, sizeof(*s));
	enum pids_item items[N_FIELDS] = {PIDS_ID_PID, PIDS_TICS_BEGAN, PIDS_ID_EUID};
	int err;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->cfg = cfg;
	ident_items(cfg, &items[F_IDENT]);
	err = procps_pids_new(&s->info, items, N_FIELDS);
	if (err < 0) {
		agent_release(s);
		return err;
	}
	*state = s;
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static size_t sort_unique(unsigned *v, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0; /* v may be NULL: qsort must not see it */
	qsort(v, n, sizeof(*v), cmp_unsigned);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || v[out - 1] != v[i])
			v[out++] = v[i];
	return out;
}

/* Lists the pids that have a segment in the directory, sorted. */
static int list_segments(DIR *dir, unsigned **pids, size_t *n)
{
	size_t cap = 0;
	struct dirent *e;

	*pids = NULL;
	*n = 0;
	errno = 0;
	while ((e = readdir(dir)) != NULL && *n < MAX_SEGMENTS) {
		int pid = segment_name_pid(e->d_name);
		unsigned *grown;

		if (pid <= 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(*pids, cap * sizeof(**pids));
			if (!grown)
				return -ENOMEM;
			*pids = grown;
		}
		(*pids)[(*n)++] = (unsigned)pid;
	}
	if (errno)
		return -errno;
	*n = sort_unique(*pids, *n); /* a pid may have a segment under both names */
	return 0;
}

static uint64_t boottime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/*
 * Removes a segment whose writer is gone: its pid is not alive, or alive with
 * another start time. Unless its agent thread still beats: the pid may belong
 * to another PID namespace than the exporter's, where the writer lives on (a
 * SIGKILLed writer's file lingers that long). Only root or the file's owner
 * may remove it from a sticky /dev/shm.
 */
static void remove_if_stale(int dirfd, unsigned pid)
{
	struct memtide_seg_header h;
	char name[64];

	snprintf(name, sizeof(name), MEMTIDE_SEG_PREFIX "%u", pid);
	if (segment_file_header(dirfd, name, &h) == 0 && h.magic == MEMTIDE_SEG_MAGIC &&
	    h.heartbeat != 0 &&
	    (int64_t)boottime_now() + h.clock_offset <
		    (int64_t)h.heartbeat_at + HEARTBEAT_ALIVE_SECONDS) {
		scrape_errors_inc(NAME, "segment_writer_unseen");
		return;
	}
	if (unlinkat(dirfd, name, 0) == 0)
		scrape_errors_inc(NAME, "stale_removed");
	else if (errno != ENOENT)
		scrape_errors_inc(NAME, "stale_kept");
}

/* Copies and validates dirfd/name into s->snap: 0, 1 when the writer is still
 * creating it (next scrape), or -1 with *reason. */
static int copy_named(struct agent_state *s, int dirfd, const char *name, uid_t owner,
		      const char **reason)
{
	struct segment_copy copy = {0};
	int err = 0;

	/* A copy taken while the agent published mallinfo is torn: copy again. */
	for (unsigned attempt = 0; attempt < COPY_ATTEMPTS; attempt++) {
		if (segment_file_copy(dirfd, name, owner, &copy, reason) != 0)
			return -1;
		err = memtide_segment_read(copy.buf, copy.len, boottime_now(), SEQLOCK_RETRIES,
					   &s->snap);
		segment_file_release(&copy);
		if (err != MEMTIDE_SEG_EBUSY)
			break;
	}
	if (err == MEMTIDE_SEG_ENOTREADY)
		return 1;
	if (err) {
		*reason = memtide_segment_strerror(err);
		return -1;
	}
	return 0;
}

static bool same_process(const struct memtide_seg_snapshot *snap, unsigned pid, uint64_t started)
{
	return snap->pid == pid && snap->start_time == started;
}

/*
 * Reads the segment of one live process into s->snap; false when it is not
 * usable. Under its first name, else under the second (segment_name.h), which
 * the writer takes when another user's file holds the first: that file is
 * then rejected like any other, and the process is still seen.
 */
static bool read_segment(struct agent_state *s, int dirfd, struct pids_stack *st)
{
	unsigned pid = (unsigned)st->head[F_PID].result.s_int;
	uint64_t started = st->head[F_STARTED].result.ull_int;
	uid_t owner = (uid_t)st->head[F_EUID].result.u_int;
	const char *reason = NULL, *alt_reason = NULL;
	char name[64], alt[64];
	int err;

	segment_name_format(name, sizeof(name), pid, 0);
	err = copy_named(s, dirfd, name, owner, &reason);
	if (err == 0 && same_process(&s->snap, pid, started))
		return true;
	segment_name_format(alt, sizeof(alt), pid, started);
	if (copy_named(s, dirfd, alt, owner, &alt_reason) == 0 &&
	    same_process(&s->snap, pid, started)) {
		if (reason && strcmp(reason, "segment_vanished") != 0)
			agent_reject(s->cfg->agent_dir, name, pid, reason);
		return true;
	}
	if (alt_reason && strcmp(alt_reason, "segment_vanished") != 0)
		agent_reject(s->cfg->agent_dir, alt, pid, alt_reason);
	if (err == 0)
		remove_if_stale(dirfd, pid); /* an earlier process with this pid wrote it? */
	else if (err < 0)
		agent_reject(s->cfg->agent_dir, name, pid, reason);
	return false;
}

/* Handles the processes libproc2 found among pids; marks them found. */
static void read_batch(struct agent_state *s, int dirfd, unsigned *pids, int n, bool *found)
{
	struct pids_fetch *f = procps_pids_select(s->info, pids, n, PIDS_SELECT_PID);
	char group[CONFIG_GROUP_NAME_MAX];

	if (!f) {
		scrape_errors_inc(NAME, "proc");
		memset(found, 1, (size_t)n * sizeof(*found)); /* unknown: remove nothing */
		return;
	}
	for (int i = 0; i < f->counts->total; i++) {
		struct pids_stack *st = f->stacks[i];
		unsigned pid = (unsigned)st->head[F_PID].result.s_int;

		for (int k = 0; k < n; k++)
			if (pids[k] == pid)
				found[k] = true;
		if (!read_segment(s, dirfd, st)) {
			if (agent_stats_keep(&s->stats, pid, st->head[F_STARTED].result.ull_int) < 0)
				scrape_errors_inc(NAME, "memory");
			continue;
		}
		if (ident_match(s->cfg, st, F_IDENT, group, sizeof(group)) < 0)
			continue;
		if (s->snap.agent_off) {
			if (agent_off_add(&s->off, group, s->snap.off_reason) < 0)
				scrape_errors_inc(NAME, "memory");
			continue;
		}
		if (agent_stats_add(&s->stats, group, pid, st->head[F_STARTED].result.ull_int,
				    &s->snap) < 0)
			scrape_errors_inc(NAME, "memory");
	}
}

/* Reads every segment whose process is alive; removes those whose process is gone. */
static int scan(struct agent_state *s, DIR *dir)
{
	unsigned *pids;
	size_t n;
	int err = list_segments(dir, &pids, &n);

	if (err == 0) {
		for (size_t off = 0; off < n; off += SELECT_BATCH) {
			int count = (int)(n - off < SELECT_BATCH ? n - off : SELECT_BATCH);
			bool found[SELECT_BATCH] = {false};

			read_batch(s, dirfd(dir), pids + off, count, found);
			for (int k = 0; k < count; k++)
				if (!found[k])
					remove_if_stale(dirfd(dir), pids[off + k]);
		}
	}
	free(pids);
	return err;
}

static int agent_collect(void *state, struct expo *out, const struct timespec *deadline)
{
	struct agent_state *s = state;
	DIR *dir;
	int err;

	err = pthread_mutex_clocklock(&s->lock, CLOCK_MONOTONIC, deadline);
	if (err)
		return -err;
	dir = opendir(s->cfg->agent_dir);
	if (!dir) {
		err = -errno;
		goto out_unlock;
	}
	agent_stats_begin(&s->stats);
	agent_off_begin(&s->off);
	err = scan(s, dir);
	closedir(dir);
	if (err == 0)
		err = agent_stats_end(&s->stats, out);
	if (err == 0)
		err = agent_off_write(&s->off, out);
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return err;
}

const struct collector agent_collector = {
	.name = NAME,
	.help = "allocator statistics and session pools from libmemtide segments",
	.enabled_by_default = true,
	.init = agent_init,
	.collect = agent_collect,
	.release = agent_release,
};
