// SPDX-License-Identifier: MIT
/*
 * libmemtide start-up and lifecycle: configuration from the environment, the
 * segment, fork handlers, exit. There is no agent thread: refresh.c does its
 * work lazily from the allocation path, so the agent never keeps a process
 * alive nor takes a signal.
 *
 * Fail safe: whatever goes wrong, the agent turns itself off and the program
 * runs as it would without it. Nothing here aborts or writes to stdout;
 * diagnostics go to stderr only with MEMTIDE_DEBUG=1.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"
#include "sampler.h"
#include "memtide_debug.h"

struct agent_config agent_cfg = {
    .mallinfo_interval = 5,
    .dir = "/dev/shm",
};

struct memtide_seg_header *agent_seg;
bool agent_off;

/* "EACCES" and the like: unlike strerror(), never translated, never allocates. */
static const char *errname(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "?";
}

/* "memtide: msg: detail" and, with_value, " value", one write(2). */
static void say(const char *msg, const char *detail, bool with_value, long value)
{
	char buf[512], num[24];
	size_t len = 0, n, i = 0;
	unsigned long v = value < 0 ? 0ul - (unsigned long)value : (unsigned long)value;
	const char *parts[4] = {"memtide: ", msg, ": ", detail ? detail : ""};
	ssize_t w;

	for (i = 0; i < 4; i++) {
		n = strnlen(parts[i], sizeof(buf) - 32 - len);
		memcpy(buf + len, parts[i], n);
		len += n;
	}
	if (with_value) {
		buf[len++] = ' ';
		i = 0;
		do {
			num[i++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		if (value < 0)
			buf[len++] = '-';
		while (i)
			buf[len++] = num[--i];
	}
	buf[len++] = '\n';
	w = write(STDERR_FILENO, buf, len);
	(void)w;
}

void agent_log(const char *msg, const char *detail, long value)
{
	if (agent_cfg.debug)
		say(msg, detail, true, value);
}

void agent_note(const char *msg, const char *detail)
{
	if (agent_cfg.debug)
		say(msg, detail, false, 0);
}

uint64_t agent_now(void)
{
	struct timespec ts;
	int64_t t;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
		return 0;
	t = (int64_t)ts.tv_sec + __atomic_load_n(&agent_cfg.clock_offset, __ATOMIC_RELAXED);
	return t > 0 ? (uint64_t)t : 0;
}

MEMTIDE_EXPORT void memtide_debug_advance_clock(int64_t seconds)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	int64_t total;

	if (seconds <= 0 || seconds > (1ll << 36))
		return;
	total = __atomic_add_fetch(&agent_cfg.clock_offset, seconds, __ATOMIC_RELAXED);
	if (h)
		__atomic_store_n(&h->clock_offset, total, __ATOMIC_RELAXED);
}

/* A decimal environment variable within [min, max], or def. All configuration
 * goes through secure_getenv(): a setuid program linked with the library does
 * not take its directory from whoever runs it. */
static int64_t env_int(const char *name, int64_t def, int64_t min, int64_t max)
{
	const char *s = secure_getenv(name);
	char *end;
	long long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		agent_note("ignoring invalid value of", name);
		return def;
	}
	return v;
}

static bool env_flag(const char *name)
{
	const char *s = secure_getenv(name);

	return s && strcmp(s, "1") == 0;
}

static int read_config(void)
{
	const char *dir = secure_getenv("MEMTIDE_DIR");
	size_t len;

	agent_cfg.debug = env_flag("MEMTIDE_DEBUG");
	agent_cfg.group_readable = env_flag("MEMTIDE_GROUP_READABLE");
	agent_cfg.mallinfo_interval = (uint64_t)env_int("MEMTIDE_MALLINFO_INTERVAL", 5, 0, 86400);
	agent_cfg.clock_offset = env_int("MEMTIDE_CLOCK_OFFSET", 0, 0, 1ll << 36);
	agent_cfg.sample_bytes =
	    (uint64_t)env_int("MEMTIDE_SAMPLE_BYTES", SAMPLER_DEFAULT_BYTES, 0, 1ll << 40);
	agent_cfg.sample_seed = (uint64_t)env_int("MEMTIDE_SAMPLE_SEED", 0, 0, INT64_MAX);
	if (dir && *dir) {
		len = strlen(dir);
		if (dir[0] != '/') {
			agent_note("MEMTIDE_DIR must be an absolute path, not", dir);
			return -EINVAL;
		}
		if (len >= MEMTIDE_DIR_MAX) {
			agent_log("MEMTIDE_DIR is too long, bytes", "at most", MEMTIDE_DIR_MAX - 1);
			return -ENAMETOOLONG;
		}
		memcpy(agent_cfg.dir, dir, len + 1);
	}
	return 0;
}

/* The fork handlers are registered before the segment is published; until then
 * (or with the agent off) they have nothing to do. */
static void on_fork_prepare(void)
{
	if (!__atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE))
		return;
	sessions_fork_prepare();
	interpose_fork_prepare();
}

static void on_fork_parent(void)
{
	if (!__atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE))
		return;
	interpose_fork_parent();
	sessions_fork_done();
}

/* The child gets its own segment, a copy of the parent's at the fork. */
static void on_fork_child(void)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	int err;

	agent_refresh_fork_child();
	sampler_fork_child();
	if (!h) {
		segment_fork_child_off();
		return;
	}
	err = segment_fork_child(h);
	interpose_fork_child(h);
	sessions_fork_done();
	if (err)
		agent_log("fork child: no segment, counting stays private", errname(-err), err);
	else
		agent_log("segment created", segment_path(), (long)getpid());
}

static void off(const char *why, int err)
{
	agent_note(why, errname(err < 0 ? -err : err));
	__atomic_store_n(&agent_off, true, __ATOMIC_RELAXED);
}

/* Why this process cannot be counted, or MEMTIDE_SEG_OFF_NONE. Decided before
 * any block is looked at: the chunk headers are read only when glibc's
 * allocator is the program's. */
/* Sampling needs its block table and a working unwinder, both set up here,
 * outside malloc; without them the agent counts, unsampled. */
static void start_sampling(void)
{
	uint64_t seed = agent_cfg.sample_seed;
	struct timespec ts;

	if (!agent_cfg.sample_bytes)
		return;
	if (blocks_init() != 0 || unwind_warm_up() != 0) {
		agent_note("sampling off", "no block table or no unwinder");
		agent_cfg.sample_bytes = 0;
		return;
	}
	if (!seed && clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	sampler_init(agent_cfg.sample_bytes, seed);
}

static uint32_t off_reason(void)
{
	if (allocator_mode() == ALLOC_FOREIGN)
		return alloc_reason;
	if (!interpose_usable_size_ok())
		return MEMTIDE_SEG_OFF_CHUNK_LAYOUT;
	return MEMTIDE_SEG_OFF_NONE;
}

__attribute__((constructor)) static void agent_start(void)
{
	struct memtide_seg_header *h;
	int saved_errno = errno;
	uint32_t reason;
	int err;

	reap_init(); /* whatever happens next: the wait family must work */
	err = read_config();
	if (err) {
		off("configuration, agent off", err);
		goto out;
	}
	reason = off_reason();
	/* Without fork handlers a child would write into our segment. */
	err = pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
	if (err) {
		off("pthread_atfork failed, agent off", err);
		goto out;
	}
	if (reason) {
		/* Say so where the exporter looks: a segment that counts nothing. */
		agent_log("the program's allocator cannot be counted, agent off",
			  allocator_reason_name(reason), (long)getpid());
		__atomic_store_n(&agent_off, true, __ATOMIC_RELAXED);
		err = segment_create_off(reason);
		if (err)
			agent_log("cannot create the segment", errname(-err), err);
		goto out;
	}
	start_sampling();
	err = segment_create(&h);
	if (err) {
		off("cannot create the segment, agent off", err);
		goto out;
	}
	interpose_drain_fallback(h);
	if (agent_cfg.mallinfo_interval)
		segment_publish_mallinfo(h, agent_now());
	__atomic_store_n(&agent_seg, h, __ATOMIC_RELEASE);
	agent_log("segment created", segment_path(), (long)getpid());
out:
	errno = saved_errno;
}

__attribute__((destructor)) static void agent_fini(void)
{
	int saved_errno = errno;

	segment_unlink();
	errno = saved_errno;
}
