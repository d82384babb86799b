/* SPDX-License-Identifier: MIT */
/*
 * Building the heap profile (pprof_heap.h). Samples go straight into the
 * profile as they are met; locations, functions and mappings are numbered
 * on first use through one small id table, written into buffers of their
 * own and appended, with the string table, at the end (protobuf allows
 * repeated fields in any order).
 */
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
#include "collectors/procfs.h"
#include "collectors/segment_name.h"
#include "collectors/symbolize.h"
#include "pprof_encode.h"
#include "pprof_heap.h"

/* (kind, a, b) -> id, open addressing; ids are 1-based per kind. */
struct idmap {
	struct idkey {
		uint64_t a, b;
		uint32_t kind, id;
	} * slots;
	size_t cap, used;
	uint32_t next[4];
};

enum { K_STRING, K_FUNCTION, K_LOCATION, K_MAPPING };

struct profile {
	struct idmap ids;
	struct pb_buf out, locations, functions, mappings, strings, tmp, tmp2;
	unsigned opens_left;
	uint64_t period;
};

static uint64_t mix(uint64_t a, uint64_t b, uint32_t kind)
{
	uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ kind) * 0xff51afd7ed558ccdull;

	return h ^ (h >> 33);
}

static bool idmap_grow(struct idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	struct idkey *s = calloc(cap, sizeof(*s));

	if (!s)
		return false;
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->slots[i].id)
			continue;
		j = mix(m->slots[i].a, m->slots[i].b, m->slots[i].kind) & (cap - 1);
		while (s[j].id)
			j = (j + 1) & (cap - 1);
		s[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = s;
	m->cap = cap;
	return true;
}

/* The id of (kind, a, b); *fresh says it was just made. 0: out of memory. */
static uint32_t idmap_get(struct idmap *m, uint32_t kind, uint64_t a, uint64_t b, bool *fresh)
{
	size_t j;

	*fresh = false;
	if ((m->used + 1) * 2 > m->cap && !idmap_grow(m))
		return 0;
	j = mix(a, b, kind) & (m->cap - 1);
	for (; m->slots[j].id; j = (j + 1) & (m->cap - 1))
		if (m->slots[j].kind == kind && m->slots[j].a == a && m->slots[j].b == b)
			return m->slots[j].id;
	m->slots[j] = (struct idkey){a, b, kind, ++m->next[kind]};
	m->used++;
	*fresh = true;
	return m->slots[j].id;
}

static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* String table index (0 is ""). Hash collisions of 128 bits are not expected. */
static uint64_t str(struct profile *p, const char *s)
{
	bool fresh;
	uint32_t id;

	if (!s || !*s)
		return 0;
	id =
	    idmap_get(&p->ids, K_STRING, fnv(s), strlen(s) * 0x100000001b3ull ^ fnv(s + 1), &fresh);
	if (!id) {
		p->out.failed = true;
		return 0;
	}
	if (fresh)
		pb_lenbytes(&p->strings, 6, s, strlen(s));
	return id; /* index: "" is entry 0, the first string is 1 */
}

static void value_type(struct profile *p, unsigned field, const char *type, const char *unit)
{
	pb_uint(&p->tmp, 1, str(p, type));
	pb_uint(&p->tmp, 2, str(p, unit));
	pb_message(&p->out, field, &p->tmp);
}

static uint64_t mapping_id(struct profile *p, unsigned pid, const struct frame_info *f)
{
	bool fresh;
	uint32_t id = idmap_get(&p->ids, K_MAPPING, pid, f->map_start, &fresh);

	if (fresh) {
		pb_uint(&p->tmp2, 1, id);
		pb_uint(&p->tmp2, 2, f->map_start);
		pb_uint(&p->tmp2, 3, f->map_end);
		pb_uint(&p->tmp2, 4, f->map_offset);
		pb_uint(&p->tmp2, 5, str(p, f->path));
		pb_uint(&p->tmp2, 6, str(p, f->build_id));
		pb_uint(&p->tmp2, 7, 1); /* has_functions: symbolized here */
		pb_uint(&p->tmp2, 8, 1);
		pb_uint(&p->tmp2, 9, 1);
		pb_message(&p->mappings, 3, &p->tmp2);
	}
	return id;
}

static uint64_t function_id(struct profile *p, const struct frame_info *f)
{
	uint64_t name = str(p, f->function), file = str(p, f->file);
	bool fresh;
	uint32_t id = idmap_get(&p->ids, K_FUNCTION, name, file, &fresh);

	if (fresh) {
		pb_uint(&p->tmp2, 1, id);
		pb_uint(&p->tmp2, 2, name);
		pb_uint(&p->tmp2, 3, name);
		pb_uint(&p->tmp2, 4, file);
		pb_message(&p->functions, 5, &p->tmp2);
	}
	return id;
}

/* The location of a return address; 0 for the agent's own frames. */
static uint64_t location_id(struct profile *p, struct symbolizer *sym, uint64_t addr)
{
	struct frame_info f;
	struct pb_buf line = {0};
	bool fresh;
	uint32_t id = idmap_get(&p->ids, K_LOCATION, sym->pid, addr, &fresh);

	if (!fresh)
		return id;
	symbolize(sym, addr, &f);
	pb_uint(&p->tmp, 1, id);
	if (f.found_map)
		pb_uint(&p->tmp, 2, mapping_id(p, sym->pid, &f));
	pb_uint(&p->tmp, 3, addr);
	if (f.found_symbol) {
		pb_uint(&line, 1, function_id(p, &f));
		pb_uint(&line, 2, (uint64_t)f.line);
		pb_message(&p->tmp, 4, &line);
	}
	pb_message(&p->locations, 4, &p->tmp);
	pb_free(&line);
	return id;
}

static bool is_agent_frame(struct symbolizer *sym, uint64_t addr)
{
	const struct proc_map *m = proc_maps_find(&sym->maps, addr);
	const char *base = m ? strrchr(m->path, '/') : NULL;

	return base && strncmp(base + 1, "libmemtide.so", 13) == 0;
}

static void add_sample(struct profile *p, struct symbolizer *sym,
		       const struct memtide_site_snapshot *s)
{
	uint64_t locs[MEMTIDE_SEG_SITE_DEPTH], values[4];
	size_t n = 0;
	uint32_t i = 0;

	while (i < s->depth && is_agent_frame(sym, s->frames[i]))
		i++;
	for (; i < s->depth; i++)
		locs[n++] = location_id(p, sym, s->frames[i]);
	if (n == 0)
		return;
	values[0] = (uint64_t)(s->alloc_objects + 0.5);
	values[1] = s->alloc_bytes;
	values[2] = (uint64_t)(s->live_objects + 0.5);
	values[3] = s->live_bytes;
	pb_packed(&p->tmp2, 1, locs, n);
	pb_packed(&p->tmp2, 2, values, 4);
	pb_message(&p->out, 2, &p->tmp2);
}

/* /proc/PID/stat field 22, or 0. */
static uint64_t start_time(unsigned pid)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	int field;

	if (procfs_read("/proc", (int)pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')'); /* the command may hold anything but not after this */
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

/* The sites of live process pid, from its segment; count, or -errno. */
static int read_sites(int dirfd, unsigned pid, struct memtide_seg_snapshot *snap,
		      struct memtide_site_snapshot *sites, struct memtide_sites_info *info)
{
	char names[SEGMENT_NAMES_MAX][SEGMENT_NAME_MAX], proc[32];
	uint64_t start = start_time(pid);
	struct timespec now;
	struct stat st;
	int n, err = -ENOENT;

	snprintf(proc, sizeof(proc), "/proc/%u", pid);
	if (!start || stat(proc, &st) != 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0)
		return -ESRCH;
	n = segment_names_for_pid(pid, start, names, SEGMENT_NAMES_MAX);
	for (int i = 0; i < n && err; i++) {
		struct segment_copy copy = {0};
		uint64_t budget = 64ull << 20;
		const char *reason = NULL;

		if (segment_file_copy(dirfd, names[i], st.st_uid, &budget, &copy, &reason) != 0)
			continue;
		err = memtide_segment_read(copy.buf, copy.len, (uint64_t)now.tv_sec, 64, snap);
		if (err == 0 && (snap->pid != pid || snap->start_time != start))
			err = -ENOENT;
		if (err == 0)
			err = memtide_sites_read(copy.buf, copy.len, sites, MEMTIDE_SEG_MAX_SITES,
						 info);
		segment_file_release(&copy);
	}
	return err ? -ENOENT : (int)info->count;
}

static void header(struct profile *p)
{
	value_type(p, 1, "alloc_objects", "count");
	value_type(p, 1, "alloc_space", "bytes");
	value_type(p, 1, "inuse_objects", "count");
	value_type(p, 1, "inuse_space", "bytes");
}

static void trailer(struct profile *p)
{
	struct timespec ts;

	value_type(p, 11, "space", "bytes");
	pb_uint(&p->out, 12, p->period);
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		pb_uint(&p->out, 9, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	pb_uint(&p->out, 14, str(p, "inuse_space")); /* default_sample_type */
	pb_bytes(&p->out, p->mappings.data, p->mappings.len);
	pb_bytes(&p->out, p->locations.data, p->locations.len);
	pb_bytes(&p->out, p->functions.data, p->functions.len);
	pb_lenbytes(&p->out, 6, "", 0); /* string_table[0] */
	pb_bytes(&p->out, p->strings.data, p->strings.len);
	if (p->mappings.failed || p->locations.failed || p->functions.failed || p->strings.failed)
		p->out.failed = true;
}

static void profile_free(struct profile *p)
{
	free(p->ids.slots);
	pb_free(&p->out);
	pb_free(&p->locations);
	pb_free(&p->functions);
	pb_free(&p->mappings);
	pb_free(&p->strings);
	pb_free(&p->tmp);
	pb_free(&p->tmp2);
}

static int add_process(struct profile *p, int dirfd, unsigned pid,
		       struct memtide_seg_snapshot *snap, struct memtide_site_snapshot *sites)
{
	struct memtide_sites_info info;
	struct symbolizer sym;
	int n = read_sites(dirfd, pid, snap, sites, &info);

	if (n < 0)
		return n;
	if (info.sample_bytes && !p->period)
		p->period = info.sample_bytes;
	symbolizer_open(&sym, pid, &p->opens_left);
	for (int i = 0; i < n; i++)
		add_sample(p, &sym, &sites[i]);
	symbolizer_close(&sym);
	return 0;
}

int pprof_heap(const char *agent_dir, const unsigned *pids, size_t n, unsigned char **out,
	       size_t *len)
{
	struct memtide_seg_snapshot *snap = malloc(sizeof(*snap));
	struct memtide_site_snapshot *sites = calloc(MEMTIDE_SEG_MAX_SITES, sizeof(*sites));
	struct profile p = {.opens_left = PPROF_OPENS};
	int dirfd = open(agent_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = -ENOENT;

	if (!snap || !sites || dirfd < 0) {
		err = dirfd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	header(&p);
	for (size_t i = 0; i < n && i < PPROF_MAX_PIDS; i++)
		if (add_process(&p, dirfd, pids[i], snap, sites) == 0)
			err = 0;
	if (err)
		goto out;
	trailer(&p);
	err = p.out.failed ? -E2BIG : pb_gzip(p.out.data, p.out.len, out, len);
out:
	if (dirfd >= 0)
		close(dirfd);
	profile_free(&p);
	free(snap);
	free(sites);
	return err;
}
