// SPDX-License-Identifier: MIT
/*
 * libmemtide start-up and lifecycle: configuration from the environment, the
 * segment, fork handlers, the agent thread (heartbeat, mallinfo2), exit.
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
#include "memtide_debug.h"

struct agent_config agent_cfg = {
    .mallinfo_interval = 5,
    .dir = "/dev/shm",
};

struct memtide_seg_header *agent_seg;
bool agent_off;

static bool thread_stop;

/* "EACCES" and the like: unlike strerror(), never translated, never allocates. */
static const char *errname(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "?";
}

void agent_log(const char *msg, const char *detail, long value)
{
	char buf[512], num[24];
	size_t len = 0, n, i = 0;
	unsigned long v = value < 0 ? 0ul - (unsigned long)value : (unsigned long)value;
	const char *parts[5] = {"memtide: ", msg, ": ", detail ? detail : "", " "};
	ssize_t w;

	if (!agent_cfg.debug)
		return;
	for (i = 0; i < 5; i++) {
		n = strnlen(parts[i], sizeof(buf) - 32 - len);
		memcpy(buf + len, parts[i], n);
		len += n;
	}
	i = 0;
	do {
		num[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (value < 0)
		buf[len++] = '-';
	while (i)
		buf[len++] = num[--i];
	buf[len++] = '\n';
	w = write(STDERR_FILENO, buf, len);
	(void)w;
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
		agent_log("ignoring invalid value of", name, 0);
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
	if (dir && *dir) {
		len = strlen(dir);
		if (len >= sizeof(agent_cfg.dir) || dir[0] != '/') {
			agent_log("MEMTIDE_DIR must be an absolute path shorter than", dir,
				  (long)sizeof(agent_cfg.dir));
			return -ENAMETOOLONG;
		}
		memcpy(agent_cfg.dir, dir, len + 1);
	}
	return 0;
}

/* Sleep for about a second, or until exit. */
static void tick_sleep(void)
{
	struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !thread_stop)
		;
}

/* The agent thread: heartbeat every second, mallinfo2 every interval, and the
 * stragglers of the pre-segment counts. Detached; exit does not wait for it. */
static void *agent_thread(void *arg)
{
	struct memtide_seg_header *h = arg;
	uint64_t now, next_mallinfo = 0;

	while (!__atomic_load_n(&thread_stop, __ATOMIC_RELAXED)) {
		now = agent_now();
		interpose_drain_fallback(h);
		if (now >= next_mallinfo) {
			segment_publish_mallinfo(h, now);
			next_mallinfo = now + agent_cfg.mallinfo_interval;
		}
		segment_heartbeat(h, now);
		tick_sleep();
	}
	return NULL;
}

/* Start the agent thread with every signal blocked, so that it never takes a
 * signal meant for the application. */
static void start_thread(struct memtide_seg_header *h)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	if (!agent_cfg.mallinfo_interval)
		return;
	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&tid, &attr, agent_thread, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		agent_log("cannot start the agent thread", errname(err), err);
		return;
	}
	pthread_setname_np(tid, "memtide");
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

/* The child gets its own segment, a copy of the parent's at the fork, and its
 * own agent thread (threads do not survive fork). */
static void on_fork_child(void)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	int err;

	if (!h)
		return;
	err = segment_fork_child(h);
	interpose_fork_child(h);
	sessions_fork_done();
	if (err) {
		agent_log("fork child: no segment, counting stays private", errname(-err), err);
		return;
	}
	start_thread(h);
}

static void off(const char *why, int err)
{
	agent_log(why, errname(err < 0 ? -err : err), err);
	__atomic_store_n(&agent_off, true, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void agent_init(void)
{
	struct memtide_seg_header *h;
	int saved_errno = errno;
	int err;

	err = read_config();
	if (err) {
		off("configuration", err);
		goto out;
	}
	if (!interpose_usable_size_ok()) {
		off("unexpected malloc chunk layout, agent off", EINVAL);
		goto out;
	}
	/* Without fork handlers a child would write into our segment. */
	err = pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
	if (err) {
		off("pthread_atfork failed, agent off", err);
		goto out;
	}
	err = segment_create(&h);
	if (err) {
		off("cannot create the segment, agent off", err);
		goto out;
	}
	interpose_drain_fallback(h);
	__atomic_store_n(&agent_seg, h, __ATOMIC_RELEASE);
	start_thread(h);
	agent_log("segment created for pid", "", (long)getpid());
out:
	errno = saved_errno;
}

__attribute__((destructor)) static void agent_fini(void)
{
	int saved_errno = errno;

	__atomic_store_n(&thread_stop, true, __ATOMIC_RELAXED);
	segment_unlink();
	errno = saved_errno;
}
