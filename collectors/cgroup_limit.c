/* SPDX-License-Identifier: MIT */
#include "cgroup_limit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter/log.h"

/* v1 reports "no limit" as a huge page-aligned number; anything this big is none. */
#define V1_UNLIMITED_FLOOR (1ull << 62)
#define CACHE_SLOTS 1024 /* a power of two; a full cache just stops caching */
#define PATH_BYTES 4096

enum cgroup_layout { LAYOUT_NONE, LAYOUT_V2, LAYOUT_V1 };

struct cache_entry {
	char *path;
	double limit;
};

struct cgroup_limits {
	enum cgroup_layout layout;
	char root[PATH_BYTES];	     /* the mount holding the memory files */
	char mount_root[PATH_BYTES]; /* its root, relative to our cgroup namespace root */
	struct cache_entry cache[CACHE_SLOTS];
};

static bool file_exists(const char *dir, const char *name)
{
	char path[PATH_BYTES + 64];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	return n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0;
}

/* Undoes mountinfo's escapes ("\040" for a space) in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/* Splits a mountinfo line into root, mount point and file system type. */
static bool parse_mount(char *line, char **root, char **point, char **type)
{
	char *f[5], *save = NULL, *tok;
	int i;

	for (i = 0; i < 5; i++) {
		f[i] = strtok_r(i ? NULL : line, " \n", &save);
		if (!f[i])
			return false;
	}
	/* Optional fields follow the mount options, up to a lone "-". */
	while ((tok = strtok_r(NULL, " \n", &save)) && strcmp(tok, "-") != 0)
		;
	*type = tok ? strtok_r(NULL, " \n", &save) : NULL;
	if (!*type)
		return false;
	*root = f[3];
	*point = f[4];
	unescape_octal(*root);
	unescape_octal(*point);
	return true;
}

/*
 * Copies the root of the mount of type fstype at dir, as the mountinfo file
 * lists it, to out. The last listed wins: later mounts cover earlier ones.
 * Returns 0, 1 when dir is no such mount, or -errno.
 */
static int mount_root_of(const char *mountinfo, const char *dir, const char *fstype, char *out,
			 size_t len)
{
	char *canon = realpath(dir, NULL), *line = NULL, *root, *point, *type;
	size_t cap = 0;
	int err = 1;
	FILE *f;

	if (!canon)
		return -errno;
	f = fopen(mountinfo, "re");
	if (!f) {
		err = -errno;
		free(canon);
		return err;
	}
	errno = 0;
	while (getline(&line, &cap, f) >= 0) {
		int n;

		if (!parse_mount(line, &root, &point, &type) || strcmp(point, canon) != 0 ||
		    strcmp(type, fstype) != 0)
			continue;
		n = snprintf(out, len, "%s", root);
		err = n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
	}
	if (errno == ENOMEM || ferror(f))
		err = errno == ENOMEM ? -ENOMEM : -EIO;
	free(line);
	free(canon);
	fclose(f);
	return err;
}

/* Learns where the cgroup mount's root lies relative to our namespace root. */
static void find_mount_root(struct cgroup_limits *cl, const char *mountinfo)
{
	const char *fstype = cl->layout == LAYOUT_V2 ? "cgroup2" : "cgroup";
	int err =
	    mount_root_of(mountinfo, cl->root, fstype, cl->mount_root, sizeof(cl->mount_root));

	if (err == 0 && strcmp(cl->mount_root, "/") != 0)
		log_info(
		    "cgroup mount lies outside the cgroup namespace root; resolving paths from it",
		    "path", cl->root, "mount_root", cl->mount_root, NULL);
	if (err == 1)
		log_debug("cgroup directory is not a cgroup mount; taking it as the namespace root",
			  "path", cl->root, NULL);
	else if (err < 0)
		log_warn("cannot find the cgroup mount's root in the mount table; taking it as the "
			 "namespace root",
			 "path", cl->root, "mountinfo", mountinfo, "err", strerror(-err), NULL);
	if (err != 0)
		snprintf(cl->mount_root, sizeof(cl->mount_root), "/");
}

static int detect_layout(struct cgroup_limits *cl, const char *sysfs)
{
	char v2[PATH_BYTES], v1[PATH_BYTES];
	int n2 = snprintf(v2, sizeof(v2), "%s/fs/cgroup", sysfs);
	int n1 = snprintf(v1, sizeof(v1), "%s/fs/cgroup/memory", sysfs);

	if (n2 < 0 || n1 < 0 || (size_t)n1 >= sizeof(v1))
		return -ENAMETOOLONG;
	if (file_exists(v2, "cgroup.controllers")) {
		cl->layout = LAYOUT_V2;
		memcpy(cl->root, v2, (size_t)n2 + 1);
	} else if (file_exists(v1, "memory.limit_in_bytes")) {
		cl->layout = LAYOUT_V1;
		memcpy(cl->root, v1, (size_t)n1 + 1);
	}
	return 0;
}

int cgroup_limits_new_at(const char *sysfs, const char *mountinfo, struct cgroup_limits **out)
{
	struct cgroup_limits *cl = calloc(1, sizeof(*cl));
	int err;

	if (!cl)
		return -ENOMEM;
	err = detect_layout(cl, sysfs);
	if (err < 0) {
		free(cl);
		return err;
	}
	if (cl->layout != LAYOUT_NONE)
		find_mount_root(cl, mountinfo);
	*out = cl;
	return 0;
}

int cgroup_limits_new(const char *sysfs, struct cgroup_limits **out)
{
	return cgroup_limits_new_at(sysfs, "/proc/self/mountinfo", out);
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

/* Whether every "/NAME" of p names a child: no empty, "." or ".." component. */
static bool plain_components(const char *p)
{
	while (*p) {
		const char *name = p + 1;
		size_t n = strcspn(name, "/");

		if (*p != '/' || n == 0 || (n == 1 && name[0] == '.') ||
		    (n == 2 && name[0] == '.' && name[1] == '.'))
			return false;
		p = name + n;
	}
	return true;
}

/* Splits an absolute path into its leading ".." count and the rest, "" or "/a/b". */
static int split_up(const char *p, unsigned *up, const char **rest)
{
	if (*p != '/')
		return -EINVAL;
	*up = 0;
	while (strncmp(p, "/..", 3) == 0 && (p[3] == '/' || p[3] == '\0')) {
		(*up)++;
		p += 3;
	}
	if (*up == 0 && strcmp(p, "/") == 0)
		p++;
	if (!plain_components(p))
		return -EINVAL;
	*rest = p;
	return 0;
}

int cgroup_path_resolve(const char *path, const char *mount_root, char *buf, size_t len)
{
	unsigned up_path, up_mount;
	const char *rest, *mount_rest;
	size_t n;
	int written;

	if (split_up(path, &up_path, &rest) < 0 || split_up(mount_root, &up_mount, &mount_rest) < 0)
		return -EINVAL;
	/*
	 * Climbing further leaves the mount; climbing less stays below the
	 * mount root by names we cannot see from inside the namespace.
	 */
	if (up_path != up_mount)
		return -ENOENT;
	n = strlen(mount_rest);
	if (strncmp(rest, mount_rest, n) != 0 || (rest[n] != '/' && rest[n] != '\0'))
		return -ENOENT;
	rest += n;
	written = snprintf(buf, len, "%s", *rest ? rest : "/");
	return written >= 0 && (size_t)written < len ? 0 : -ENAMETOOLONG;
}

/*
 * Finds the entry for this layout in the comma-separated field; copies its
 * path ("/" when there is none). Returns false when buf was too small.
 */
static bool entry_path(const char *field, enum cgroup_layout layout, char *buf, size_t len)
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
				return n < len;
			}
		}
		p = end ? end + 1 : NULL;
	}
	return true;
}

void cgroup_v2_path(const char *field, char *buf, size_t len)
{
	/* For a name a truncated path will do; a limit is never read from it. */
	(void)entry_path(field, LAYOUT_V2, buf, len);
}

/* Reads one limit file: 0 for none or unreadable. */
static double read_limit(const char *root, const char *path, const char *file)
{
	char full[2 * PATH_BYTES + 64];
	char text[64];
	unsigned long long v;
	int n = snprintf(full, sizeof(full), "%s%s/%s", root, path, file);
	FILE *f;
	bool got;

	if (n < 0 || (size_t)n >= sizeof(full))
		return 0;
	f = fopen(full, "re");
	if (!f)
		return 0;
	got = fgets(text, sizeof(text), f) != NULL;
	fclose(f); /* read-only: nothing to lose on close */
	if (!got || strncmp(text, "max", 3) == 0 || sscanf(text, "%llu", &v) != 1)
		return 0;
	return v >= V1_UNLIMITED_FLOOR ? 0 : (double)v;
}

/* The smallest limit from path (below the mount) up to the mount root: 0 when there is none. */
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

/* The limit for a cgroup path as the process's cgroup file shows it. */
static double limit_of(const struct cgroup_limits *cl, const char *shown)
{
	char path[PATH_BYTES];

	if (cgroup_path_resolve(shown, cl->mount_root, path, sizeof(path)) < 0)
		return 0;
	return walk_up(cl, path);
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
	char path[PATH_BYTES];
	uint32_t h;

	if (cl->layout == LAYOUT_NONE || !entry_path(field, cl->layout, path, sizeof(path)))
		return 0;
	h = hash(path);
	for (uint32_t probe = 0; probe < 8; probe++) {
		struct cache_entry *e = &cl->cache[(h + probe) & (CACHE_SLOTS - 1)];

		if (e->path && strcmp(e->path, path) == 0)
			return e->limit;
		if (e->path)
			continue;
		e->limit = limit_of(cl, path);
		e->path = strdup(path); /* a failed strdup only costs the caching */
		return e->limit;
	}
	return limit_of(cl, path);
}
