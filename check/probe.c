/* SPDX-License-Identifier: MIT */
/*
 * One reading of the server tree: every segment in the directory whose
 * writer is alive (same pid, same start time), summed. In the private
 * directory every segment is the server's or a child's; in attach mode only
 * the one process's. Segments are copied and validated as the exporter
 * does (collectors/segment_file.c, agent/segment_read.c): a server under
 * test is still another program's output.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/segment_read.h"
#include "agent/site_read.h"
#include "collectors/segment_file.h"
#include "collectors/sites.h"
#include "collectors/symbolize.h"
#include "check.h"

/* Files the symbolizer may open for one reading. */
#define PROBE_OPENS 256
/* Directory entries looked at per reading: the directory is ours, but bounded. */
#define PROBE_MAX_ENTRIES 4096

struct check_probe {
	char dir[4096];
	pid_t pid;
	struct memtide_seg_snapshot snap;
	struct memtide_site_snapshot sites[MEMTIDE_SEG_MAX_SITES];
	struct memtide_sites_info sites_info;
	pid_t seen[CHECK_MAX_PROCS];
	unsigned n_seen;
};

int check_probe_open(struct check_probe **out, const char *dir, pid_t pid)
{
	struct check_probe *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	if (snprintf(p->dir, sizeof(p->dir), "%s", dir) >= (int)sizeof(p->dir)) {
		free(p);
		return -ENAMETOOLONG;
	}
	p->pid = pid;
	*out = p;
	return 0;
}

void check_probe_close(struct check_probe *p)
{
	free(p);
}

void check_reading_release(struct check_reading *r)
{
	free(r->sites);
	r->sites = NULL;
	r->site_count = 0;
}

/* pid from "memtide.<pid>" or "memtide.<pid>.<start_time>"; 0 otherwise. */
static pid_t pid_of_name(const char *name)
{
	char *end;
	unsigned long v;

	if (strncmp(name, "memtide.", 8) != 0 || name[8] < '1' || name[8] > '9')
		return 0;
	errno = 0;
	v = strtoul(name + 8, &end, 10);
	if (errno || v > (1ul << 22) || (*end && *end != '.'))
		return 0;
	return (pid_t)v;
}

/* Field 22 of /proc/PID/stat, and the resident bytes; -errno if gone. */
static int proc_facts(pid_t pid, uint64_t *start_time, uint64_t *rss)
{
	char path[64], buf[1024], *p;
	unsigned long long size, resident, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* The name may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			 "%*d %*d %*d %llu",
			 &st) != 1)
		return -ESRCH;
	*start_time = st;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	*rss = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

static uid_t owner_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) == 0 ? st.st_uid : geteuid();
}

/* Copies and validates one segment into p->snap (and p->sites); 0 or -errno. */
static int read_segment(struct check_probe *p, int dirfd, const char *name, pid_t pid, bool sites)
{
	int err = MEMTIDE_SEG_EBUSY;

	/* A copy torn by a mallinfo snapshot being published is taken again. */
	for (int attempt = 0; attempt < 20 && err == MEMTIDE_SEG_EBUSY; attempt++) {
		struct segment_copy copy = {0};
		uint64_t budget = UINT64_MAX;
		const char *reason = NULL;
		struct timespec now;
		int e;

		e = segment_file_copy(dirfd, name, p->pid ? owner_of(pid) : geteuid(), &budget,
				      &copy, &reason);
		if (e)
			return e;
		clock_gettime(CLOCK_BOOTTIME, &now);
		err = memtide_segment_read(copy.buf, copy.len, (uint64_t)now.tv_sec, 100, &p->snap);
		p->sites_info = (struct memtide_sites_info){0};
		if (err == 0 && sites)
			err = memtide_sites_read(copy.buf, copy.len, p->sites,
						 MEMTIDE_SEG_MAX_SITES, &p->sites_info);
		segment_file_release(&copy);
	}
	return err ? -EBADMSG : 0;
}

static void add_pools(struct check_reading *r, const struct memtide_seg_snapshot *s)
{
	for (uint32_t i = 0; i < s->pool_count; i++) {
		const struct memtide_seg_pool_snapshot *sp = &s->pools[i];
		unsigned k;

		for (k = 0; k < r->pool_count; k++)
			if (strcmp(r->pools[k].name, sp->name) == 0)
				break;
		if (k == r->pool_count) {
			if (r->pool_count == CHECK_MAX_POOLS)
				continue;
			snprintf(r->pools[k].name, sizeof(r->pools[k].name), "%s", sp->name);
			r->pool_count++;
		}
		r->pools[k].live += sp->live;
		if (sp->ttl_seconds > r->pools[k].ttl_seconds)
			r->pools[k].ttl_seconds = sp->ttl_seconds;
		r->sessions += sp->live;
	}
}

/* Adds one site's estimate under its name; a full table goes to "other". */
static int add_site(struct check_reading *r, const char *label, double bytes)
{
	size_t k;

	for (k = 0; k < r->site_count; k++)
		if (strcmp(r->sites[k].label, label) == 0)
			break;
	if (k == r->site_count) {
		if (k == CHECK_MAX_SITES - 1)
			label = "other";
		for (k = 0; k < r->site_count; k++)
			if (strcmp(r->sites[k].label, label) == 0)
				break;
	}
	if (k == r->site_count) {
		if (!r->sites) {
			r->sites = calloc(CHECK_MAX_SITES, sizeof(*r->sites));
			if (!r->sites)
				return -ENOMEM;
		}
		snprintf(r->sites[k].label, sizeof(r->sites[k].label), "%s", label);
		r->site_count++;
	}
	r->sites[k].live_bytes += bytes;
	return 0;
}

/*
 * The name of a site, as the exporter names it (collectors/sites.c: its
 * first frame that is not the allocator's), with the object it is in when
 * the name is a source line.
 */
static void site_name(struct symbolizer *sym, const struct memtide_site_snapshot *s, char *buf,
		      size_t len)
{
	struct frame_info f;
	size_t used;

	sites_label(sym, s, buf, len, &f);
	used = strlen(buf);
	if (f.found_symbol && f.file[0] && f.object[0] && used < len)
		snprintf(buf + used, len - used, " in %s", f.object);
}

/* Names the sites through the live process's maps, while it runs. */
static int add_sites(struct check_probe *p, struct check_reading *r, pid_t pid)
{
	unsigned opens_left = PROBE_OPENS;
	struct symbolizer sym;
	char label[CHECK_SITE_LABEL];
	int err = 0;

	/* A process whose maps cannot be read still has addresses: named by them. */
	(void)symbolizer_open(&sym, (unsigned)pid, &opens_left);
	for (uint32_t i = 0; i < p->sites_info.count && !err; i++) {
		site_name(&sym, &p->sites[i], label, sizeof(label));
		err = add_site(r, label, (double)p->sites[i].live_bytes);
	}
	symbolizer_close(&sym);
	if (p->sites_info.sample_bytes > r->sample_bytes)
		r->sample_bytes = p->sites_info.sample_bytes;
	return err;
}

static bool seen_before(struct check_probe *p, pid_t pid)
{
	for (unsigned i = 0; i < p->n_seen; i++)
		if (p->seen[i] == pid)
			return true;
	return false;
}

/* One directory entry: a live writer's segment is added to r. */
static int probe_entry(struct check_probe *p, int dirfd, const char *name, struct check_reading *r,
		       bool sites)
{
	uint64_t start_time, rss;
	pid_t pid = pid_of_name(name);
	int err;

	if (!pid || (p->pid && pid != p->pid) || seen_before(p, pid) ||
	    p->n_seen == CHECK_MAX_PROCS)
		return 0;
	if (proc_facts(pid, &start_time, &rss) != 0)
		return 0; /* a stale file: its writer is gone */
	if (read_segment(p, dirfd, name, pid, sites) != 0 || p->snap.pid != (uint32_t)pid ||
	    p->snap.start_time != start_time)
		return 0; /* not ready yet, or left by an earlier process of that pid */
	p->seen[p->n_seen++] = pid;
	r->processes++;
	r->rss_bytes += rss;
	if (p->snap.agent_off) {
		r->agent_off++;
		snprintf(r->off_reason, sizeof(r->off_reason), "%s",
			 memtide_segment_off_reason(p->snap.off_reason));
		return 0;
	}
	r->live_bytes += p->snap.live_bytes;
	r->live_objects += p->snap.live_objects;
	add_pools(r, &p->snap);
	err = sites ? add_sites(p, r, pid) : 0;
	return err;
}

int check_probe_read(struct check_probe *p, struct check_reading *r, bool sites)
{
	struct dirent *de;
	unsigned entries = 0;
	DIR *d;
	int err = 0;

	*r = (struct check_reading){0};
	p->n_seen = 0;
	d = opendir(p->dir);
	if (!d)
		return -errno;
	while (!err && entries++ < PROBE_MAX_ENTRIES && (de = readdir(d)) != NULL)
		err = probe_entry(p, dirfd(d), de->d_name, r, sites);
	closedir(d);
	if (err) {
		check_reading_release(r);
		return err;
	}
	return r->processes ? 0 : -ENOENT;
}
