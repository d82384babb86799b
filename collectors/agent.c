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

#include "agent_stats.h"
#include "collector.h"
#include "config.h"
#include "ident.h"
#include "scrape_errors.h"
#include "segment_file.h"
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
};

static void agent_release(void *state)
{
	struct agent_state *s = state;

	if (!s)
		return;
	if (s->info)
		procps_pids_unref(&s->info);
	agent_stats_free(&s->stats);
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

/* "memtide.<pid>" with a plain decimal pid; returns the pid or -1. */
static int segment_pid(const char *name)
{
	size_t plen = strlen(MEMTIDE_SEG_PREFIX);
	long pid = 0;
	const char *p;

	if (strncmp(name, MEMTIDE_SEG_PREFIX, plen) != 0 || name[plen] == '\0' || name[plen] == '0')
		return -1;
	for (p = name + plen; *p; p++) {
		if (*p < '0' || *p > '9' || pid > 99999999)
			return -1;
		pid = pid * 10 + (*p - '0');
	}
	return (int)pid;
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
		int pid = segment_pid(e->d_name);
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
	return errno ? -errno : 0;
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

/* Reads the segment of one live process into s->snap; false when it is not usable. */
static bool read_segment(struct agent_state *s, int dirfd, struct pids_stack *st)
{
	unsigned pid = (unsigned)st->head[F_PID].result.s_int;
	struct segment_copy copy = {0};
	const char *reason = NULL;
	char name[64];
	int err;

	snprintf(name, sizeof(name), MEMTIDE_SEG_PREFIX "%u", pid);
	/* A copy taken while the agent published mallinfo is torn: copy again. */
	for (unsigned attempt = 0; attempt < COPY_ATTEMPTS; attempt++) {
		err = segment_file_copy(dirfd, name, (uid_t)st->head[F_EUID].result.u_int, &copy,
					&reason);
		if (err) {
			scrape_errors_inc(NAME, reason);
			return false;
		}
		err = memtide_segment_read(copy.buf, copy.len, boottime_now(), SEQLOCK_RETRIES,
					   &s->snap);
		segment_file_release(&copy);
		if (err != MEMTIDE_SEG_EBUSY)
			break;
	}
	if (err == MEMTIDE_SEG_ENOTREADY)
		return false; /* being created right now: next scrape */
	if (err) {
		scrape_errors_inc(NAME, memtide_segment_strerror(err));
		return false;
	}
	if (s->snap.pid != pid || s->snap.start_time != st->head[F_STARTED].result.ull_int) {
		remove_if_stale(dirfd, pid); /* an earlier process with this pid wrote it? */
		return false;
	}
	return true;
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
	err = scan(s, dir);
	closedir(dir);
	if (err == 0)
		err = agent_stats_end(&s->stats, out);
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
