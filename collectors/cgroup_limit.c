/* SPDX-License-Identifier: MIT */
#include "cgroup_limit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* v1 reports "no limit" as a huge page-aligned number; anything this big is none. */
#define V1_UNLIMITED_FLOOR (1ull << 62)
#define CACHE_SLOTS 1024 /* a power of two; a full cache just stops caching */

enum cgroup_layout { LAYOUT_NONE, LAYOUT_V2, LAYOUT_V1 };

struct cache_entry {
	char *path;
	double limit;
};

struct cgroup_limits {
	enum cgroup_layout layout;
	char root[4096]; /* the mount holding the memory files */
	struct cache_entry cache[CACHE_SLOTS];
};

static bool file_exists(const char *dir, const char *name)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

int cgroup_limits_new(const char *sysfs, struct cgroup_limits **out)
{
	struct cgroup_limits *cl = calloc(1, sizeof(*cl));
	char v1[4096];

	if (!cl)
		return -ENOMEM;
	snprintf(cl->root, sizeof(cl->root), "%s/fs/cgroup", sysfs);
	snprintf(v1, sizeof(v1), "%s/fs/cgroup/memory", sysfs);
	if (file_exists(cl->root, "cgroup.controllers")) {
		cl->layout = LAYOUT_V2;
	} else if (file_exists(v1, "memory.limit_in_bytes")) {
		cl->layout = LAYOUT_V1;
		snprintf(cl->root, sizeof(cl->root), "%s", v1);
	}
	*out = cl;
	return 0;
}

void cgroup_limits_reset(struct cgroup_limits *cl)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		free(cl->cache[i].path);
		cl->cache[i].path = NULL;
	}
}

void cgroup_limits_free(struct cgroup_limits *cl)
{
	if (!cl)
		return;
	cgroup_limits_reset(cl);
	free(cl);
}

/* Finds the entry for this layout in the comma-separated field; copies its path. */
static void entry_path(const char *field, enum cgroup_layout layout, char *buf, size_t len)
{
	const char *p = field;

	snprintf(buf, len, "/");
	while (p && *p) {
		const char *end = strchr(p, ',');
		const char *c1 = memchr(p, ':', end ? (size_t)(end - p) : strlen(p));
		const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		size_t plen = end ? (size_t)(end - p) : strlen(p);
		bool want;

		if (c2 && c2 < p + plen) {
			size_t clen = (size_t)(c2 - c1 - 1);

			if (layout == LAYOUT_V2)
				want = clen == 0 && c1 - p == 1 && *p == '0';
			else
				want = memmem(c1 + 1, clen, "memory", 6) != NULL;
			if (want) {
				size_t n = plen - (size_t)(c2 + 1 - p);

				snprintf(buf, len, "%.*s", (int)n, c2 + 1);
				return;
			}
		}
		p = end ? end + 1 : NULL;
	}
}

void cgroup_v2_path(const char *field, char *buf, size_t len)
{
	entry_path(field, LAYOUT_V2, buf, len);
}

/* Reads one limit file: 0 for none or unreadable. */
static double read_limit(const char *root, const char *path, const char *file)
{
	char full[8400];
	char text[64];
	unsigned long long v;
	FILE *f;
	bool got;

	snprintf(full, sizeof(full), "%s%s/%s", root, path, file);
	f = fopen(full, "re");
	if (!f)
		return 0;
	got = fgets(text, sizeof(text), f) != NULL;
	fclose(f);
	if (!got || strncmp(text, "max", 3) == 0 || sscanf(text, "%llu", &v) != 1)
		return 0;
	return v >= V1_UNLIMITED_FLOOR ? 0 : (double)v;
}

/* The smallest limit from path up to the root: 0 when there is none. */
static double walk_up(const struct cgroup_limits *cl, char *path)
{
	const char *file = cl->layout == LAYOUT_V2 ? "memory.max" : "memory.limit_in_bytes";
	double best = 0;

	for (;;) {
		double v = read_limit(cl->root, strcmp(path, "/") == 0 ? "" : path, file);
		char *slash;

		if (v > 0 && (best == 0 || v < best))
			best = v;
		slash = strrchr(path, '/');
		if (!slash || slash == path)
			break;
		*slash = '\0';
	}
	return best;
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

double cgroup_limits_lookup(struct cgroup_limits *cl, const char *field)
{
	char path[4096];
	uint32_t h;

	if (cl->layout == LAYOUT_NONE)
		return 0;
	entry_path(field, cl->layout, path, sizeof(path));
	h = hash(path);
	for (uint32_t probe = 0; probe < 8; probe++) {
		struct cache_entry *e = &cl->cache[(h + probe) & (CACHE_SLOTS - 1)];
		char *copy;

		if (e->path && strcmp(e->path, path) == 0)
			return e->limit;
		if (e->path)
			continue;
		copy = strdup(path);
		e->limit = walk_up(cl, path);
		e->path = copy; /* a failed strdup only costs the caching */
		return e->limit;
	}
	return walk_up(cl, path);
}
