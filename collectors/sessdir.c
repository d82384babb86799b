/* SPDX-License-Identifier: MIT */
/*
 * Collector "sessdir": sessions kept as one file per session (PHP and many
 * frameworks), counted from the files of the directories in sessions.dirs.
 *
 * Each scrape lists a directory with getdents64 into one large buffer and
 * stats the matching regular files with fstatat(AT_SYMLINK_NOFOLLOW) relative
 * to the directory's fd: no path is resolved twice, no symlink is followed,
 * no subdirectory is entered and no file is opened, so a hostile directory
 * can cost a scan but never redirect one. The kernel's d_type lets most
 * entries that are not regular files go without a stat.
 *
 * A session's age is now minus its file's mtime (PHP touches the file on
 * every request that uses the session).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sessdir.h"

#include "collector.h"
#include "config_section.h"
#include "exporter/array_size.h"
#include "exporter/config.h"
#include "exporter/yaml_schema.h"
#include "exporter/expo.h"
#include "exporter/log.h"
#include "session_families.h"

#define NAME "sessdir"
/* About 18,000 entries of PHP's file names per getdents64 call. */
#define DENTS_BUF_BYTES (1u << 20)

/* The kernel's record, which glibc's headers do not declare for the raw syscall. */
struct dent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

struct sessdir_state {
	const struct sessdir_settings *settings;
	char *buf; /* DENTS_BUF_BYTES, only when directories are configured */
};

/* One directory's scan. */
struct dir_scan {
	struct collect_ctx *ctx;
	const struct sessdir_config *dir;
	struct timespec now; /* CLOCK_REALTIME, as mtimes are */
	double live, bytes, oldest_age;
	double older_than[SESSIONS_AGE_BUCKETS];
};

static int sessdir_init(void **state, const struct config *cfg)
{
	struct sessdir_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->settings = sessdir_settings(cfg);
	if (s->settings->n_dirs) {
		s->buf = malloc(DENTS_BUF_BYTES);
		if (!s->buf) {
			free(s);
			return -ENOMEM;
		}
	}
	*state = s;
	return 0;
}

static void sessdir_release(void *state)
{
	struct sessdir_state *s = state;

	free(s->buf);
	free(s);
}

static void count_file(struct dir_scan *sc, const struct stat *st)
{
	double age = (double)(sc->now.tv_sec - st->st_mtim.tv_sec) +
		     (double)(sc->now.tv_nsec - st->st_mtim.tv_nsec) / 1e9;

	/* A clock stepped back, or a file touched with a future time: age 0. */
	if (age < 0)
		age = 0;
	sc->live++;
	sc->bytes += (double)st->st_size;
	if (age > sc->oldest_age)
		sc->oldest_age = age;
	for (size_t b = 0;
	     b < SESSIONS_AGE_BUCKETS && memtide_seg_age_counts(age, sessions_age_buckets[b]); b++)
		sc->older_than[b]++;
}

/*
 * Counts one directory entry. A file that vanished between the listing and
 * the stat is a session that just ended: skipped and counted, not an error.
 * Any other stat failure (a directory we may list but not search) would
 * make every count wrong, so it fails the directory.
 */
static int scan_entry(struct dir_scan *sc, int dfd, const struct dent64 *d)
{
	const char *name = d->d_name;
	struct stat st;

	if (d->d_type != DT_UNKNOWN && d->d_type != DT_REG)
		return 0;
	if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
		return 0;
	if (fnmatch(sc->dir->match, name, FNM_PERIOD))
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT) {
			collect_error(sc->ctx, "vanished");
			return 0;
		}
		return -errno;
	}
	/* d_type was DT_UNKNOWN, or the name now belongs to something else. */
	if (S_ISREG(st.st_mode))
		count_file(sc, &st);
	return 0;
}

/* Lists and counts the directory open at dfd; -ETIMEDOUT past the scrape's
 * deadline: a directory anyone can fill must not hold the lane for longer. */
static int scan_fd(struct dir_scan *sc, int dfd, char *buf)
{
	for (;;) {
		long n;

		if (collect_past_deadline(sc->ctx))
			return -ETIMEDOUT;
		n = syscall(SYS_getdents64, dfd, buf, DENTS_BUF_BYTES);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (long off = 0; off < n;) {
			const struct dent64 *d = (const struct dent64 *)(buf + off);
			int err = scan_entry(sc, dfd, d);

			if (err)
				return err;
			off += d->d_reclen;
		}
	}
}

static void log_dir_failure(const struct dir_scan *sc, int err)
{
	char why[96];

	if (err == -ELOOP || err == -ENOTDIR)
		snprintf(why, sizeof(why), "%s (symlinks are not followed)", strerror(-err));
	else
		snprintf(why, sizeof(why), "%s", strerror(-err));
	collect_log(sc->ctx, LOGL_WARN, "cannot scan session directory", "pool", sc->dir->pool,
		    "path", sc->dir->path, "err", why, NULL);
}

static int scan_dir(struct dir_scan *sc, char *buf)
{
	int dfd, err;

	/* O_NOFOLLOW: the configured path itself must not be a symlink either. */
	dfd = open(sc->dir->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
	} else {
		clock_gettime(CLOCK_REALTIME, &sc->now);
		err = scan_fd(sc, dfd, buf);
		close(dfd);
	}
	if (err == -ETIMEDOUT)
		collect_error(sc->ctx, "deadline"); /* the scrape has answered without it */
	else if (err) {
		collect_error(sc->ctx, "dir_unreadable");
		log_dir_failure(sc, err);
	}
	return err;
}

static int write_dir(struct expo *out, const struct dir_scan *sc)
{
	static const char *const names[] = {"source", "pool"};
	const char *values[] = {"dir", sc->dir->pool};
	struct sessions_pool p = {
	    .live = sc->live,
	    .ttl = sc->dir->ttl,
	    .oldest_age = sc->oldest_age,
	    .bytes = sc->bytes,
	    .older_than = sc->older_than,
	};

	return sessions_write_pool(out, &p, 2, names, values);
}

/*
 * Scans every directory, also after one failed, so that each bad directory
 * is logged. A directory that cannot be scanned makes the collector's
 * success 0 (partial), not the other pools': their series are published.
 */
static int sessdir_collect(void *state, struct collect_ctx *ctx)
{
	struct sessdir_state *s = state;
	int err = 0;

	for (size_t i = 0; i < s->settings->n_dirs && !err; i++) {
		struct dir_scan sc = {.ctx = ctx, .dir = &s->settings->dirs[i]};

		if (scan_dir(&sc, s->buf) < 0)
			collect_partial(ctx);
		else
			err = write_dir(ctx->out, &sc);
	}
	return err;
}

/* ---- the sessions.dirs section of the config file ----------------------- */

/* What one sessions.dirs entry says, before it is checked and copied. */
struct dir_draft {
	yaml_node_t *pool;
	yaml_node_t *path;
	yaml_node_t *match;
	yaml_node_t *ttl;
};

/* A pool label must name one series per source: no two directories share one. */
static int check_pool_unique(struct yaml_loader *ld, const struct sessdir_settings *cfg,
			     const yaml_node_t *pool)
{
	char q[YAML_QUOTE_MAX];

	for (size_t i = 0; i < cfg->n_dirs; i++)
		if (cfg->dirs[i].pool && !strcmp(cfg->dirs[i].pool, yaml_scalar(pool)))
			return yaml_fail(
			    ld, yaml_line(pool),
			    "pool: %s is already the pool of the sessions.dirs entry at "
			    "line %u",
			    YAML_QUOTE(q, pool), cfg->dirs[i].line);
	return 0;
}

/* Checks a draft and copies it into d, the next free entry of cfg->dirs. */
static int build_dir(struct yaml_loader *ld, yaml_node_t *node, const struct dir_draft *dr,
		     const struct sessdir_settings *cfg, struct sessdir_config *d)
{
	const char *what = "a sessions.dirs entry";
	char q[YAML_QUOTE_MAX];
	int err;

	if (!dr->pool)
		return yaml_missing(ld, node, what, "pool");
	if (!dr->path)
		return yaml_missing(ld, node, what, "path");
	if (!dr->ttl)
		return yaml_missing(ld, node, what, "ttl");
	if (yaml_scalar(dr->path)[0] != '/')
		return yaml_fail(ld, yaml_line(dr->path), "path: must be absolute, got %s",
				 YAML_QUOTE(q, dr->path));
	err = config_parse_duration_value(ld, "ttl", dr->ttl, &d->ttl);
	if (err)
		return err;
	if (!(d->ttl > 0))
		return yaml_fail(ld, yaml_line(dr->ttl), "ttl: must be more than 0");
	err = check_pool_unique(ld, cfg, dr->pool);
	if (err)
		return err;
	d->line = (unsigned)yaml_line(node);
	d->pool = strdup(yaml_scalar(dr->pool));
	d->path = strdup(yaml_scalar(dr->path));
	d->match = strdup(dr->match ? yaml_scalar(dr->match) : "*");
	if (!d->pool || !d->path || !d->match)
		return -ENOMEM;
	return 0;
}

/* clang-format off */
static const struct yaml_key dir_keys[] = {
	{"pool", yaml_parse_string, offsetof(struct dir_draft, pool)},
	{"path", yaml_parse_string, offsetof(struct dir_draft, path)},
	{"match", yaml_parse_string, offsetof(struct dir_draft, match)},
	{"ttl", yaml_parse_node, offsetof(struct dir_draft, ttl)},
};
/* clang-format on */

static int parse_dirs(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	struct sessdir_settings *cfg = field;
	yaml_node_item_t *items;
	size_t n;

	if (yaml_is_null(value))
		return 0;
	if (value->type != YAML_SEQUENCE_NODE)
		return yaml_fail(ld, yaml_line(value), "%s: expected a list of directories, got %s",
				 key, yaml_kind(value));
	items = value->data.sequence.items.start;
	n = (size_t)(value->data.sequence.items.top - items);
	if (!n)
		return yaml_fail(ld, yaml_line(value),
				 "%s: empty list (remove the key to watch no directory)", key);
	cfg->dirs = calloc(n, sizeof(*cfg->dirs));
	if (!cfg->dirs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_node(ld, items[i]);
		struct dir_draft dr = {0};
		int err;

		if (!item)
			return yaml_fail(ld, yaml_line(value), "%s: broken list", key);
		err = yaml_parse_mapping(ld, item, "a sessions.dirs entry", dir_keys,
					 ARRAY_SIZE(dir_keys), &dr);
		if (!err)
			err = build_dir(ld, item, &dr, cfg, &cfg->dirs[i]);
		cfg->n_dirs = i + 1; /* config_free sees the half-built one */
		if (err)
			return err;
	}
	return 0;
}

/* A port: digits only, 1..65535. */
_Static_assert(ARRAY_SIZE(dir_keys) <= YAML_MAPPING_MAX_KEYS, "dir_keys");

static void sessdir_section_release(void *settings)
{
	struct sessdir_settings *ss = settings;

	for (size_t i = 0; i < ss->n_dirs; i++) {
		free(ss->dirs[i].pool);
		free(ss->dirs[i].path);
		free(ss->dirs[i].match);
	}
	free(ss->dirs);
}

const struct config_section sessdir_section = {
    .key = "sessions.dirs",
    .size = sizeof(struct sessdir_settings),
    .parse = parse_dirs,
    .release = sessdir_section_release,
};

const struct collector sessdir_collector;

const struct sessdir_settings *sessdir_settings(const struct config *cfg)
{
	return config_settings(cfg, &sessdir_collector);
}

const struct collector sessdir_collector = {
    .name = NAME,
    .help = "sessions kept as files: counts and ages (sessions.dirs)",
    .enabled_by_default = true,
    .config = &sessdir_section,
    .init = sessdir_init,
    .collect = sessdir_collect,
    .release = sessdir_release,
};
