/* SPDX-License-Identifier: MIT */
/*
 * Collector "agent": allocator statistics and session pools from the
 * segments that libmemtide writes in the agent directory (memtide.<pid>).
 *
 * Each segment is hostile input (segment_file.c validates its header, then
 * copies what the header says is in use; the agent's segment_read.c validates
 * the copy) and is trusted only when its pid is a live process (a
 * thread-group leader) with the same start time and owns the file. Segments
 * are looked up by the pids in /proc, so no number of junk files in the
 * directory can hide one; a bounded sweep of the directory removes those
 * whose writer is gone and junk no agent wrote. Work is bounded per scrape
 * (bytes copied, entries swept) and stops at the scrape's deadline. Statistics are summed by the
 * same group as the process collector, sessions by (group, pool); counters of processes that exited
 * are carried in `retired`, so a group's counters never go backwards while it lives.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libproc2/pids.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_off.h"
#include "agent_reject.h"
#include "agent_stats.h"
#include "collector.h"
#include "exporter/config.h"
#include "exporter/dynbuf.h"
#include "process_config.h"
#include "exporter/expo.h"
#include "ident.h"
#include "exporter/log.h"
#include "segment_file.h"
#include "segment_name.h"
#include "sites.h"
#include "agent/segment_read.h"

#define NAME "agent"
#define SELECT_BATCH 128
#define SEQLOCK_RETRIES 64
#define COPY_ATTEMPTS 3
/* A writer that beat this recently is alive, whatever its pid looks like from here. */
#define HEARTBEAT_ALIVE_SECONDS 60
/* A heartbeat this far ahead of the reader's clock was not written by an agent. */
#define HEARTBEAT_FUTURE_SECONDS 5
/* Bytes copied from segments in one scrape: some hundred well-formed segments
 * of ordinary shape; what does not fit waits for the next scrape. */
#define SCRAPE_BYTES (64ull << 20)
/* Directory entries one scrape looks at for stale files, and headers it reads
 * among them: the sweep goes on from there at the next scrape. */
#define SWEEP_ENTRIES 4096
#define SWEEP_HEADERS 512
/* Items handled between two looks at the clock. */
#define DEADLINE_EVERY 64
/* The kernel's limit on pids (PID_MAX_LIMIT): /proc lists no more. */
#define PIDS_MAX ((size_t)1 << 22)
/* Seconds between two log lines saying that a cap was reached. */
#define CAP_LOG_SECONDS 60

enum field { F_PID, F_STARTED, F_EUID, F_TGID, F_IDENT, N_FIELDS = F_IDENT + IDENT_N };

struct agent_state {
	struct collect_ctx *ctx; /* the collect() in progress; NULL between scrapes */
	const struct config *cfg;
	struct pids_info *info;
	struct memtide_seg_snapshot snap; /* 13 KiB: reused, not on the stack */
	struct agent_stats stats;
	unsigned *live; /* pids of the processes in /proc, sorted */
	size_t n_live, cap_live;
	unsigned *want; /* those that have a segment */
	size_t n_want, cap_want;
	DIR *sweep;	      /* the agent directory, read on from scrape to scrape */
	uint64_t budget;      /* bytes this scrape may still copy */
	uint64_t bytes_read;  /* copied from segments, ever */
	time_t cap_logged;    /* CLOCK_MONOTONIC seconds of the last cap log line */
	struct agent_off off; /* processes whose agent is off, by group and reason */
	/* Sampled allocation sites (sites.h): the last segment's, and by group. */
	struct memtide_site_snapshot *site_buf; /* MEMTIDE_SEG_MAX_SITES */
	struct memtide_sites_info site_info;
	struct sites_state *sites;
};

static void agent_release(void *state)
{
	struct agent_state *s = state;

	if (!s)
		return;
	if (s->info)
		procps_pids_unref(&s->info);
	if (s->sweep)
		closedir(s->sweep);
	agent_stats_free(&s->stats);
	agent_off_free(&s->off);
	sites_free(s->sites);
	free(s->site_buf);
	free(s->live);
	free(s->want);
	free(s);
}

static int agent_segments_init(void **state, const struct config *cfg)
{
	struct agent_state *s = calloc(1, sizeof(*s));
	enum pids_item items[N_FIELDS] = {PIDS_ID_PID, PIDS_TICS_BEGAN, PIDS_ID_EUID, PIDS_ID_TGID};
	int err;

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->site_buf = calloc(MEMTIDE_SEG_MAX_SITES, sizeof(*s->site_buf));
	s->sites = sites_new(0);
	if (!s->site_buf || !s->sites) {
		agent_release(s);
		return -ENOMEM;
	}
	ident_items(cfg, &items[F_IDENT]);
	err = procps_pids_new(&s->info, items, N_FIELDS);
	if (err < 0) {
		agent_release(s);
		return err;
	}
	*state = s;
	return 0;
}

/*
 * Says in the log, at most once a minute, that a cap was reached; the metric
 * counts each. A segment left unread (its budget spent) is an error; a sweep
 * cut short is housekeeping: it only removes files no live process uses.
 */
static void cap_reached(struct agent_state *s, const char *reason, bool housekeeping)
{
	struct timespec now;

	if (housekeeping)
		collect_housekeeping(s->ctx, reason);
	else
		collect_error(s->ctx, reason);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (s->cap_logged && now.tv_sec - s->cap_logged < CAP_LOG_SECONDS)
		return;
	s->cap_logged = now.tv_sec ? now.tv_sec : 1;
	collect_log(s->ctx, LOGL_WARN,
		    "agent collector reached a cap; the rest waits for the next scrape", "reason",
		    reason, NULL);
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return (x > y) - (x < y);
}

/* A /proc entry name that is a plain decimal pid; else 0. /proc lists
 * thread-group leaders only: thread ids never appear here. */
static unsigned proc_pid(const char *name)
{
	unsigned long pid = 0;

	if (*name < '1' || *name > '9')
		return 0;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || pid > 99999999)
			return 0;
		pid = pid * 10 + (unsigned long)(*name - '0');
	}
	return (unsigned)pid;
}

/* Lists the live processes into s->live, sorted. */
static int list_live(struct agent_state *s)
{
	DIR *proc = opendir(s->cfg->procfs);
	struct dirent *e;
	int err = 0;

	if (!proc)
		return -errno;
	s->n_live = 0;
	errno = 0;
	while ((e = readdir(proc)) != NULL) {
		unsigned pid = proc_pid(e->d_name);

		if (!pid)
			continue;
		err = dynarray_reserve((void **)&s->live, &s->cap_live, s->n_live + 1,
				       sizeof(*s->live), PIDS_MAX);
		if (err)
			break;
		s->live[s->n_live++] = pid;
		errno = 0;
	}
	if (!err && errno)
		err = -errno;
	closedir(proc);
	if (s->n_live > 1) /* s->live is NULL while nothing was ever listed */
		qsort(s->live, s->n_live, sizeof(*s->live), cmp_unsigned);
	return err;
}

/*
 * Does a segment exist under the pid's first name? One stat, no listing. A
 * writer takes its second name only when another user's file holds the first,
 * so the first name's presence is what marks a pid to read (under both).
 */
static bool has_segment(int dirfd, unsigned pid)
{
	char names[SEGMENT_NAMES_MAX][SEGMENT_NAME_MAX];
	int n = segment_names_for_pid(pid, 0, names, SEGMENT_NAMES_MAX);
	struct stat st;

	for (int i = 0; i < n; i++)
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			return true;
	return false;
}

/* Fills s->want with the live pids that have a segment. */
static int find_wanted(struct agent_state *s, int dirfd)
{
	int err = dynarray_reserve((void **)&s->want, &s->cap_want, s->n_live + 1, sizeof(*s->want),
				   PIDS_MAX + 1);

	if (err)
		return err;
	s->n_want = 0;
	for (size_t i = 0; i < s->n_live; i++) {
		if (i % DEADLINE_EVERY == DEADLINE_EVERY - 1 && collect_past_deadline(s->ctx))
			return -ETIMEDOUT;
		if (has_segment(dirfd, s->live[i]))
			s->want[s->n_want++] = s->live[i];
	}
	return 0;
}

static uint64_t boottime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/*
 * A header that a live agent may have written for pid: its pid, and a
 * heartbeat within the last minute on its clock, not in the future. The
 * writer may live in another PID namespace than the exporter's, where pid
 * means another process: its file is left to it while it beats.
 */
static bool writer_may_live(const struct memtide_seg_header *h, unsigned pid)
{
	uint64_t seen = h->heartbeat_at;
	int64_t now;

	if (h->pid != pid || h->heartbeat == 0 || h->clock_offset > (1ll << 40) ||
	    h->clock_offset < -(1ll << 40) || seen > (1ull << 40))
		return false;
	now = (int64_t)boottime_now() + h->clock_offset;
	return now < (int64_t)seen + HEARTBEAT_ALIVE_SECONDS &&
	       (int64_t)seen <= now + HEARTBEAT_FUTURE_SECONDS;
}

/*
 * Removes a segment whose writer is gone: its pid is not a live process, or
 * one with another start time; or junk no agent wrote (an impossible header,
 * a heartbeat from the future). A file still being created is left a minute.
 * Only root or the file's owner may remove it from a sticky /dev/shm.
 */
static void remove_if_stale(struct agent_state *s, int dirfd, const char *name, unsigned pid)
{
	struct memtide_seg_header h;
	time_t mtime = 0;
	int err = segment_file_header(dirfd, name, &h, &mtime);

	if (err == -ENOENT)
		return;
	if (err == 0 && writer_may_live(&h, pid)) {
		collect_housekeeping(s->ctx, "segment_writer_unseen");
		return;
	}
	if (err == -EAGAIN && time(NULL) - mtime < HEARTBEAT_ALIVE_SECONDS)
		return;
	if (unlinkat(dirfd, name, 0) == 0)
		collect_housekeeping(s->ctx, "stale_removed");
	else if (errno != ENOENT)
		collect_housekeeping(s->ctx, "stale_kept");
}

/*
 * Copies one segment file of process pid into s->snap; -errno, or 0 with
 * s->snap filled. A file refused for what it is (owner, layout, ...) is
 * counted and logged (agent_reject.h); one that is absent, being created, or
 * past this scrape's budget is not a rejection.
 */
static int copy_segment(struct agent_state *s, int dirfd, const char *name, unsigned pid,
			uid_t owner)
{
	enum memtide_seg_error verdict = MEMTIDE_SEG_OK;
	struct segment_copy copy = {0};
	const char *reason = NULL;
	int err;

	/* A copy taken while the agent published mallinfo is torn: copy again. */
	for (unsigned attempt = 0; attempt < COPY_ATTEMPTS; attempt++) {
		err = segment_file_copy(dirfd, name, owner, &s->budget, &copy, &reason);
		s->bytes_read += copy.copied;
		if (err == -ENOSPC)
			cap_reached(s, reason, false);
		else if (err && err != -EAGAIN && err != -ENOENT)
			agent_reject(s->ctx, s->cfg->agent_dir, name, pid, reason);
		if (err)
			return err;
		verdict = memtide_segment_read(copy.buf, copy.len, boottime_now(), SEQLOCK_RETRIES,
					       &s->snap);
		if (verdict == MEMTIDE_SEG_OK)
			verdict = memtide_sites_read(copy.buf, copy.len, s->site_buf,
						     MEMTIDE_SEG_MAX_SITES, &s->site_info);
		segment_file_release(&copy);
		if (verdict != MEMTIDE_SEG_EBUSY)
			break;
	}
	/* The reader's verdict, turned into this file's vocabulary: -errno. */
	if (verdict == MEMTIDE_SEG_ENOTREADY)
		return -EAGAIN; /* being created right now: next scrape */
	if (verdict != MEMTIDE_SEG_OK) {
		agent_reject(s->ctx, s->cfg->agent_dir, name, pid,
			     memtide_segment_strerror(verdict));
		return -EBADMSG;
	}
	return 0;
}

/*
 * Reads the segment of one live process into s->snap; false when it is not
 * usable. Under its first name, else under its second (segment_name.h), which
 * the writer takes when another user's file holds the first: that file is
 * rejected like any other, and the process is still seen.
 */
static bool read_segment(struct agent_state *s, int dirfd, struct pids_stack *st)
{
	unsigned pid = (unsigned)st->head[F_PID].result.s_int;
	uint64_t started = st->head[F_STARTED].result.ull_int;
	char names[SEGMENT_NAMES_MAX][SEGMENT_NAME_MAX];
	int n = segment_names_for_pid(pid, started, names, SEGMENT_NAMES_MAX);

	/* A thread's id is not a process: only thread-group leaders write segments. */
	if (st->head[F_TGID].result.s_int != st->head[F_PID].result.s_int)
		return false;
	for (int i = 0; i < n; i++) {
		int err =
		    copy_segment(s, dirfd, names[i], pid, (uid_t)st->head[F_EUID].result.u_int);

		if (err == -ENOSPC)
			return false; /* this scrape's budget is spent: the next one reads on */
		if (err)
			continue; /* absent, being created, or rejected: the other name may do */
		if (s->snap.pid == pid && s->snap.start_time == started)
			return true;
		/* An earlier process with this pid wrote it, or junk. */
		remove_if_stale(s, dirfd, names[i], pid);
	}
	return false;
}

/* Handles the processes libproc2 found among pids. */
static void read_batch(struct agent_state *s, int dirfd, unsigned *pids, int n)
{
	struct pids_fetch *f = procps_pids_select(s->info, pids, n, PIDS_SELECT_PID);
	char group[PROCESS_GROUP_NAME_MAX];

	if (!f) {
		collect_error(s->ctx, "proc");
		return;
	}
	for (int i = 0; i < f->counts->total; i++) {
		struct pids_stack *st = f->stacks[i];
		unsigned pid = (unsigned)st->head[F_PID].result.s_int;

		if (!read_segment(s, dirfd, st)) {
			if (agent_stats_keep(&s->stats, pid, st->head[F_STARTED].result.ull_int) <
			    0)
				collect_error(s->ctx, "memory");
			continue;
		}
		if (ident_match(s->cfg, (int)pid, st, F_IDENT, group, sizeof(group)) < 0)
			continue;
		if (s->snap.agent_off) {
			if (agent_off_add(&s->off, group, s->snap.off_reason) < 0)
				collect_error(s->ctx, "memory");
			continue;
		}
		if (agent_stats_add(&s->stats, group, pid, st->head[F_STARTED].result.ull_int,
				    &s->snap) < 0)
			collect_error(s->ctx, "memory");
		if (sites_add(s->sites, group, pid, s->site_buf, s->site_info.count,
			      boottime_now() + (uint64_t)s->snap.clock_offset) < 0)
			collect_error(s->ctx, "memory");
	}
}

/* Reads the segment of every live process that has one. */
static int read_live(struct agent_state *s, int dirfd)
{
	s->budget = SCRAPE_BYTES;
	for (size_t off = 0; off < s->n_want; off += SELECT_BATCH) {
		int count = (int)(s->n_want - off < SELECT_BATCH ? s->n_want - off : SELECT_BATCH);

		if (collect_past_deadline(s->ctx))
			return -ETIMEDOUT;
		read_batch(s, dirfd, s->want + off, count);
	}
	return 0;
}

static bool is_live(const struct agent_state *s, unsigned pid)
{
	return s->n_live > 0 &&
	       bsearch(&pid, s->live, s->n_live, sizeof(*s->live), cmp_unsigned) != NULL;
}

/* Is pid a process now? The listing in s->live is as old as this scrape, and
 * a process started since (its segment new) must not be swept as stale. */
static bool alive_now(const struct agent_state *s, unsigned pid)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%u", s->cfg->procfs, pid);
	return stat(path, &st) == 0;
}

/*
 * Removes stale segments, a bounded slice of the directory per scrape: the
 * listing goes on from where the last scrape left it, and starts over once
 * it reached the end, so junk at the front never keeps the sweep from the
 * rest. Live processes' segments were looked up by pid, not here.
 */
static void sweep(struct agent_state *s, int dirfd)
{
	unsigned entries = 0, headers = 0;
	struct dirent *e;
	int fd;

	if (!s->sweep) {
		fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		s->sweep = fd < 0 ? NULL : fdopendir(fd);
		if (!s->sweep) {
			if (fd >= 0)
				close(fd);
			collect_error(s->ctx, "sweep");
			return;
		}
	}
	while ((e = readdir(s->sweep)) != NULL) {
		int pid = segment_name_pid(e->d_name);

		if (pid > 0 && !is_live(s, (unsigned)pid) && !alive_now(s, (unsigned)pid)) {
			remove_if_stale(s, dirfd, e->d_name, (unsigned)pid);
			headers++;
		}
		if (++entries >= SWEEP_ENTRIES || headers >= SWEEP_HEADERS) {
			cap_reached(s, "sweep_capped", true);
			return;
		}
		if (entries % DEADLINE_EVERY == 0 && collect_past_deadline(s->ctx))
			return;
	}
	closedir(s->sweep); /* the end: start over next time, from a fresh listing */
	s->sweep = NULL;
}

static int emit_bytes_read(struct agent_state *s, struct expo *out)
{
	int err = expo_family(out, "memtide_agent_segment_read_bytes_total", EXPO_COUNTER,
			      "Bytes the agent collector copied from segment files: headers, "
			      "then only the parts a valid header says are in use.");

	return err ? err : expo_sample(out, (double)s->bytes_read, NULL);
}

static int scan(struct agent_state *s, int dirfd)
{
	int err = list_live(s);

	if (err == 0)
		err = find_wanted(s, dirfd);
	if (err == 0)
		err = read_live(s, dirfd);
	if (err == 0)
		sweep(s, dirfd);
	return err;
}

static int agent_collect(void *state, struct collect_ctx *ctx)
{
	struct agent_state *s = state;
	int dirfd, err;

	dirfd = open(s->cfg->agent_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	s->ctx = ctx;
	agent_stats_begin(&s->stats);
	agent_off_begin(&s->off);
	sites_begin(s->sites);
	err = scan(s, dirfd);
	close(dirfd);
	if (err == 0)
		err = agent_stats_end(&s->stats, ctx->out);
	if (err == 0)
		err = emit_bytes_read(s, ctx->out);
	if (err == 0)
		err = agent_off_write(&s->off, ctx->out);
	if (err == 0)
		err = sites_end(s->sites, ctx->out);
	s->ctx = NULL;
	return err;
}

const struct collector agent_collector = {
    .name = NAME,
    .help = "allocator statistics and session pools from libmemtide segments",
    .enabled_by_default = true,
    .init = agent_segments_init,
    .collect = agent_collect,
    .release = agent_release,
};
