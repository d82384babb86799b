// SPDX-License-Identifier: MIT
/*
 * The writer side of the segment: create $MEMTIDE_DIR/memtide.<pid>, give a fork
 * child its own file at the same address, publish heartbeat and mallinfo2(),
 * unlink at exit. Nothing here may call malloc: it runs from the constructor,
 * from fork handlers and from the allocation path, next to an interposed allocator.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_internal.h"
#include "sampler.h"

/* The file we created, for unlinking at exit: path and the pid that owns it;
 * its inode, so that segment_chown() changes nothing else of that name. */
static char seg_path[sizeof(agent_cfg.dir) + 48];
/* When seg_path is the second name: the first, which we link to our file once
 * the file that held it is gone (segment_reclaim_first_name). */
static char seg_first[sizeof(seg_path)];
static bool seg_first_wanted, seg_first_linked;
static pid_t seg_pid;
static dev_t seg_dev;
static ino_t seg_ino;
/* Nonzero: the agent is off for this reason, and the segment only says so. */
static uint32_t seg_off_reason;

/* Append the decimal n to buf at *len (buf has room: callers size it). */
static void append_u64(char *buf, size_t *len, uint64_t n)
{
	char tmp[24];
	size_t i = 0;

	do {
		tmp[i++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	while (i)
		buf[(*len)++] = tmp[--i];
	buf[*len] = '\0';
}

/* The name rule of segment.h: memtide.<pid>, or, when that name is taken by
 * a file we may not replace, memtide.<pid>.<start_time>. */
static void make_path(char *buf, pid_t pid, uint64_t start_time)
{
	size_t len = strlen(agent_cfg.dir);

	memcpy(buf, agent_cfg.dir, len);
	buf[len++] = '/';
	memcpy(buf + len, MEMTIDE_SEG_PREFIX, sizeof(MEMTIDE_SEG_PREFIX));
	len += sizeof(MEMTIDE_SEG_PREFIX) - 1;
	append_u64(buf, &len, (uint64_t)pid);
	if (start_time) {
		buf[len++] = '.';
		append_u64(buf, &len, start_time);
	}
}

/* Field 22 of a /proc/<pid>/stat file: the start time in clock ticks since
 * boot, or 0. The comm field may contain spaces and parentheses, so count from
 * the last ')'. No malloc: it runs from the constructor and from wait(). */
static uint64_t start_time_at(const char *path)
{
	char buf[1024], *p;
	uint64_t v = 0;
	ssize_t n;
	int fd, field;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* After ')' come field 3 (state) ... field 22 (starttime). */
	for (field = 2; field < 22 && *p; p++)
		if (*p == ' ')
			field++;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}

static uint64_t read_start_time(void)
{
	return start_time_at("/proc/self/stat");
}

/*
 * A file of our name already exists: the pid is ours now, so it is left over
 * from a writer that died without cleaning up, or from this very process before
 * it called exec. Remove it if it is a regular file owned by us, never otherwise.
 */
static int remove_stale(const char *path)
{
	struct stat st;

	/* Not followed: a link, a FIFO or another user's file is "taken". In a
	 * sticky directory nobody else can swap our own file for another. */
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -EEXIST;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return -EEXIST;
	if (unlink(path) < 0 && errno != ENOENT)
		return -EEXIST;
	return 0;
}

static int remember_inode(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	seg_dev = st.st_dev;
	seg_ino = st.st_ino;
	return 0;
}

static int open_new(const char *path)
{
	mode_t mode = agent_cfg.group_readable ? 0640 : 0600;
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd >= 0 || errno != EEXIST)
		return fd >= 0 ? fd : -errno;
	err = remove_stale(path);
	if (err)
		return err;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	return fd >= 0 ? fd : -errno;
}

/*
 * Open a fresh file for pid and size it; fd or negative errno. A name taken by
 * another user's file (anyone may create files in /dev/shm, also for pids that
 * do not exist yet) does not switch the agent off: the second name carries the
 * process's start time, which nobody knows before the process exists.
 */
static int create_file(char *path, pid_t pid)
{
	int fd, err;

	make_path(path, pid, 0);
	seg_first_wanted = seg_first_linked = false;
	fd = open_new(path);
	if (fd == -EEXIST) {
		make_path(seg_first, pid, 0);
		make_path(path, pid, read_start_time());
		fd = open_new(path);
		seg_first_wanted = fd >= 0;
	}
	if (fd < 0)
		return fd;
	/* The umask may have taken the group bit away. */
	if (fchmod(fd, agent_cfg.group_readable ? 0640 : 0600) < 0 ||
	    ftruncate(fd, (off_t)MEMTIDE_SEG_TOTAL_SIZE) < 0 || remember_inode(fd) < 0) {
		err = -errno;
		goto out_unlink;
	}
	return fd;

out_unlink:
	unlink(path);
	close(fd);
	return err;
}

/* The fields that describe this process; the rest of the layout is const. */
static void init_identity(struct memtide_seg_header *h, pid_t pid)
{
	h->pid = (uint32_t)pid;
	h->start_time = read_start_time();
	h->clock_offset = agent_cfg.clock_offset;
	h->created_at = agent_now();
	h->heartbeat = 0;
	h->heartbeat_at = 0;
}

static void init_header(struct memtide_seg_header *h, pid_t pid)
{
	h->magic = MEMTIDE_SEG_MAGIC;
	h->version = MEMTIDE_SEG_VERSION;
	h->compat_version = MEMTIDE_SEG_COMPAT_VERSION;
	h->header_size = sizeof(*h);
	h->total_size = MEMTIDE_SEG_TOTAL_SIZE;
	h->clock_id = 7; /* CLOCK_BOOTTIME */
	h->slot_count = MEMTIDE_SEG_SLOTS;
	h->slot_size = MEMTIDE_SEG_SLOT_SIZE;
	h->slot_offset = MEMTIDE_SEG_SLOT_OFFSET;
	h->overflow_offset = MEMTIDE_SEG_OVERFLOW_OFFSET;
	h->pool_count = MEMTIDE_SEG_MAX_POOLS;
	h->pool_size = MEMTIDE_SEG_POOL_SIZE;
	h->pool_offset = MEMTIDE_SEG_POOL_OFFSET;
	h->age_minute_cells = MEMTIDE_SEG_AGE_MINUTES;
	h->age_hour_cells = MEMTIDE_SEG_AGE_HOURS;
	h->age_minute_length = MEMTIDE_SEG_AGE_MINUTE_SECONDS;
	h->mallinfo_interval = agent_cfg.mallinfo_interval;
	h->bytes_overhead = interpose_bytes_overhead();
	sites_init_header(h, agent_cfg.sample_bytes);
	init_identity(h, pid);
}

/* Create this process's segment and map it; 0 or negative errno. */
int segment_create(struct memtide_seg_header **out)
{
	pid_t pid = getpid();
	struct memtide_seg_header *h;
	int fd, err;

	fd = create_file(seg_path, pid);
	if (fd < 0)
		return fd;
	h = mmap(NULL, MEMTIDE_SEG_TOTAL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		err = -errno;
		goto out_unlink;
	}
	close(fd);
	seg_pid = pid;
	init_header(h, pid);
	__atomic_store_n(&h->flags, MEMTIDE_SEG_FLAG_READY, __ATOMIC_RELEASE);
	*out = h;
	return 0;

out_unlink:
	unlink(seg_path);
	close(fd);
	return err;
}

/*
 * In a fork child (single-threaded, inside our child handler): the mapping at h
 * is still the parent's file. First replace it with a private copy at the same
 * address, so that nothing the child does can reach the parent's file, then
 * write that copy into a file of our own and map the file over it. On failure
 * the private copy stays: the child counts into memory nobody reads.
 */
int segment_fork_child(struct memtide_seg_header *h)
{
	size_t size = MEMTIDE_SEG_TOTAL_SIZE, used_size, done;
	pid_t pid = getpid();
	uint32_t used;
	ssize_t n;
	void *tmp, *m;
	int fd, err;

	tmp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED)
		return -errno;
	used = __atomic_load_n(&h->pools_used, __ATOMIC_ACQUIRE);
	if (used > MEMTIDE_SEG_MAX_POOLS)
		used = MEMTIDE_SEG_MAX_POOLS;
	used_size = MEMTIDE_SEG_POOL_OFFSET + (size_t)used * MEMTIDE_SEG_POOL_SIZE;
	memcpy(tmp, h, used_size);
	if (mremap(tmp, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, h) == MAP_FAILED) {
		/* Detach from the parent's file at any price, losing the copy. */
		err = -errno;
		munmap(tmp, size);
		mmap(h, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		     0);
		return err;
	}
	seg_pid = 0;
	init_identity(h, pid);
	h->flags = MEMTIDE_SEG_FLAG_FORKED;
	/* Another thread of the parent may have been publishing a snapshot: it
	 * does not exist in the child, so close an open seqlock write. */
	h->mallinfo_seq += h->mallinfo_seq & 1;
	fd = create_file(seg_path, pid);
	if (fd < 0)
		return fd;
	/* Only the part in use: the rest of the file stays a hole, no memory. */
	for (done = 0; done < used_size; done += (size_t)n) {
		n = write(fd, (char *)h + done, used_size - done);
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out_unlink;
		}
	}
	m = mmap(h, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (m == MAP_FAILED) {
		err = -errno;
		goto out_unlink;
	}
	close(fd);
	seg_pid = pid;
	__atomic_store_n(&h->flags, MEMTIDE_SEG_FLAG_READY | MEMTIDE_SEG_FLAG_FORKED,
			 __ATOMIC_RELEASE);
	return 0;

out_unlink:
	unlink(seg_path);
	close(fd);
	return err;
}

/*
 * A process on its second name also takes its first one, as a link to its own
 * file, once the file that held it is gone: a user who took the name and then
 * removed it cannot hide the process from an exporter that looks processes up
 * by their first name. link() never replaces a name: one taken again stays
 * taken. Called from the lazy refresh, at most once a second.
 */
void segment_reclaim_first_name(void)
{
	if (!seg_first_wanted || seg_pid != getpid())
		return;
	if (link(seg_path, seg_first) == 0) {
		seg_first_wanted = false;
		seg_first_linked = true;
	}
}

/* The first name, if it is still the link to our file we made. */
static void unlink_first_name(void)
{
	struct stat st;

	if (seg_first_linked && lstat(seg_first, &st) == 0 && st.st_dev == seg_dev &&
	    st.st_ino == seg_ino)
		unlink(seg_first);
	seg_first_linked = false;
}

/* At exit: remove our file, but only from the process that created it (a vfork
 * child or a child whose segment failed must not remove the parent's). The
 * mapping stays: destructors that run after us may still allocate. */
void segment_unlink(void)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);

	if (!seg_pid || seg_pid != getpid())
		return;
	if (h)
		__atomic_fetch_or(&h->flags, MEMTIDE_SEG_FLAG_EXITING, __ATOMIC_RELEASE);
	unlink_first_name();
	unlink(seg_path);
	seg_pid = 0;
}

void segment_heartbeat(struct memtide_seg_header *h, uint64_t now)
{
	__atomic_store_n(&h->heartbeat_at, now, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->heartbeat, 1, __ATOMIC_RELEASE);
}

/* mallinfo2() locks every arena and walks the bins: from refresh.c only, one
 * refresher at a time (its flag), so the seqlock writer side needs no lock of
 * its own. Also once at creation, before the segment is published. */
void segment_publish_mallinfo(struct memtide_seg_header *h, uint64_t now)
{
	struct mallinfo2 mi = mallinfo2();
	uint64_t seq = __atomic_load_n(&h->mallinfo_seq, __ATOMIC_RELAXED);

	__atomic_store_n(&h->mallinfo_seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&h->mallinfo_system, (uint64_t)(mi.arena + mi.hblkhd), __ATOMIC_RELAXED);
	__atomic_store_n(&h->mallinfo_free, (uint64_t)mi.fordblks, __ATOMIC_RELAXED);
	__atomic_store_n(&h->mallinfo_releasable, (uint64_t)mi.keepcost, __ATOMIC_RELAXED);
	__atomic_store_n(&h->mallinfo_taken_at, now, __ATOMIC_RELAXED);
	__atomic_store_n(&h->mallinfo_seq, seq + 2, __ATOMIC_RELEASE);
}

const char *segment_path(void)
{
	return seg_path;
}

/*
 * A segment that says only that the agent is off here, and why: header with
 * agent_state OFF and READY, no counts. Written with pwrite (the agent maps
 * nothing it will not count into), READY last.
 */
int segment_create_off(uint32_t reason)
{
	struct memtide_seg_header h;
	uint32_t ready = MEMTIDE_SEG_FLAG_READY;
	pid_t pid = getpid();
	int fd, err = 0;

	seg_off_reason = reason;
	fd = create_file(seg_path, pid);
	if (fd < 0)
		return fd;
	memset(&h, 0, sizeof(h));
	init_header(&h, pid);
	h.bytes_overhead = 0;
	h.mallinfo_interval = 0;
	h.agent_state = MEMTIDE_SEG_STATE_OFF;
	h.off_reason = reason;
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    pwrite(fd, &ready, sizeof(ready), offsetof(struct memtide_seg_header, flags)) !=
		(ssize_t)sizeof(ready)) {
		err = -EIO;
		unlink(seg_path);
	} else {
		seg_pid = pid;
	}
	close(fd);
	return err;
}

/* A fork child of a process where the agent is off says so too. */
void segment_fork_child_off(void)
{
	seg_pid = 0;
	if (seg_off_reason)
		segment_create_off(seg_off_reason);
}

/*
 * Give the segment to uid/gid ((uid_t)-1 / (gid_t)-1: unchanged), the ids the
 * process is about to take or has just taken (privdrop.c). By name, without
 * following links, and only while the name is still the file we created: in a
 * sticky directory nobody but its owner or root can have replaced it.
 */
int segment_chown(uid_t uid, gid_t gid)
{
	struct stat st;

	if (!seg_pid || seg_pid != getpid())
		return 0;
	if (lstat(seg_path, &st) < 0)
		return -errno;
	if (st.st_dev != seg_dev || st.st_ino != seg_ino)
		return -ESTALE;
	if (lchown(seg_path, uid, gid) < 0)
		return -errno;
	return 0;
}

/* /proc/<pid>/stat's start time, or 0 when there is no such process. */
static uint64_t start_time_of(pid_t pid)
{
	char path[48];
	size_t len = 6;

	memcpy(path, "/proc/", 6);
	append_u64(path, &len, (uint64_t)pid);
	memcpy(path + len, "/stat", 6);
	return start_time_at(path);
}

/*
 * A child of ours was reaped (reap.c): remove its segment if it left one, a
 * file whose header says that pid, unless a live process of that pid and
 * start time owns it (the pid was taken again at once). Async-signal-safe.
 */
void segment_forget_child(pid_t pid)
{
	struct memtide_seg_header h;
	char path[sizeof(seg_path)];
	struct stat st;
	int fd;

	if (pid <= 0 || (!seg_pid && !__atomic_load_n(&agent_seg, __ATOMIC_RELAXED)))
		return;
	make_path(path, pid, 0);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && h.magic == MEMTIDE_SEG_MAGIC &&
	    h.pid == (uint32_t)pid && start_time_of(pid) != h.start_time)
		unlink(path);
	close(fd);
}
