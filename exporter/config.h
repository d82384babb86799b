/* SPDX-License-Identifier: MIT */
/*
 * config: the YAML configuration file (libyaml) and the process-group
 * matchers it describes.
 *
 * A config is immutable once loaded: scrapes read it without locks, and a
 * reload (SIGHUP) builds a new one and swaps it in whole. Errors name the file
 * and line: "FILE:LINE: what is wrong".
 */
#ifndef MEMTIDE_CONFIG_H
#define MEMTIDE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PSS_MAX_AGE 60.0
#define CONFIG_GROUP_NAME_MAX 256

/* Which process fields matching and naming need, so the process collector
 * asks libproc2 for nothing more. */
enum config_needs {
	CONFIG_NEEDS_EXE = 1 << 0,
	CONFIG_NEEDS_CMDLINE = 1 << 1,
	CONFIG_NEEDS_USER = 1 << 2,
	CONFIG_NEEDS_CGROUP = 1 << 3,
};

/*
 * A name template parsed at load time, so that config_match allocates nothing
 * and parses nothing. Private to config.c (which builds it) and matcher.c
 * (which expands it).
 */
enum name_part_kind {
	NAME_END,      /* ends the list */
	NAME_LITERAL,  /* text, with "{{" and "}}" already unescaped */
	NAME_COMM,     /* {comm} */
	NAME_EXE,      /* {exe}: basename of the executable */
	NAME_EXE_PATH, /* {exe_path} */
	NAME_USER,     /* {user} */
	NAME_CGROUP,   /* {cgroup} */
	NAME_MATCH,    /* {0}..{9}: the cmdline match or one of its captures */
};

struct name_part {
	enum name_part_kind kind;
	unsigned index;	  /* NAME_MATCH: 0 for the whole match, else the capture */
	const char *text; /* NAME_LITERAL: not NUL-terminated */
	size_t len;	  /* NAME_LITERAL */
};

/* One entry of process.groups: all given conditions must hold (AND). */
struct group_matcher {
	unsigned line; /* where it starts in the file, for messages */
	char *name;    /* name template, "{comm}" when not given */
	char *comm;    /* glob on comm, NULL when absent */
	char *exe;     /* glob on the executable: full path, or basename when it has no '/' */
	char *cmdline; /* extended regex on the arguments joined by spaces, NULL when absent;
			  cmdline_re is compiled exactly when this is set */
	struct cmdline_re *cmdline_re;
	bool pss; /* read PSS and USS (smaps_rollup) for this group */
	/* Private to config.c and matcher.c. */
	struct name_part *parts; /* the parsed name, one allocation, ends with NAME_END */
	unsigned nmatch;	 /* match spans the name needs: highest {N} + 1, or 0 */
};

/* One entry of sessions.dirs: a directory holding one file per session. */
struct sessdir_config {
	unsigned line; /* where it starts in the file, for messages */
	char *pool;    /* the pool label; unique among the entries */
	char *path;    /* absolute */
	char *match;   /* glob on file names, "*" when not given */
	double ttl;    /* seconds, > 0 */
};

/* How the tcp collector reads sockets: netlink, falling back to procfs when
 * the kernel refuses netlink (auto), or one of them only. */
enum tcp_method { TCP_METHOD_AUTO, TCP_METHOD_NETLINK, TCP_METHOD_PROCFS };

/* sessions.tcp; pool is NULL when the section is absent. */
struct tcp_config {
	char *pool;
	uint16_t *ports; /* in the file's order, no duplicates */
	size_t n_ports;
	enum tcp_method method;
};

struct config {
	char *path;		      /* NULL when running without a config file */
	struct group_matcher *groups; /* first match wins */
	size_t n_groups;
	double pss_max_age;	     /* seconds a cached PSS/USS reading may be served */
	unsigned needs;		     /* enum config_needs */
	struct sessdir_config *dirs; /* sessions.dirs */
	size_t n_dirs;
	struct tcp_config tcp; /* sessions.tcp */
	/* Filesystem roots, from flags rather than the file. */
	char *procfs;	       /* "/proc" */
	const char *agent_dir; /* where libmemtide segments are (--collector.agent.dir);
				  not owned: set by the caller after loading */
	char *sysfs;	       /* "/sys" */
};

/* The identity of one process, as matching and name templates see it.
 * Any field may be NULL when it was not read or could not be. */
struct proc_ident {
	const char *comm;
	const char *exe;     /* full path */
	const char *cmdline; /* arguments joined by single spaces */
	const char *user;
	const char *cgroup; /* cgroup v2 path, "/..." */
};

/*
 * Loads `path`. On success *out holds a new config. On failure returns a
 * negative errno and writes "FILE:LINE: message" (or "FILE: message") to err.
 * procfs and sysfs are copied into the config.
 */
int config_load(const char *path, const char *procfs, const char *sysfs, struct config **out,
		char *err, size_t errlen);

/* The config used without a file: every process, grouped by comm, PSS off. */
int config_default(const char *procfs, const char *sysfs, struct config **out);

void config_free(struct config *cfg);

/*
 * Finds the first group matcher that matches p and writes the expanded group
 * name to name (at most CONFIG_GROUP_NAME_MAX bytes with the NUL; longer names
 * are cut, never inside a UTF-8 sequence). Returns the matcher's index, or -1
 * when none matches or the name expands to the empty string; the first match
 * decides, so a name that expands to "" does not fall through to later groups.
 * A NULL field of p never satisfies a condition on it and expands to "".
 * Allocates nothing: it runs for every process on every scrape.
 */
int config_match(const struct config *cfg, const struct proc_ident *p, char *name, size_t namelen);

/*
 * Parses a duration: a number with an optional fraction and a unit
 * (ms, s, m, h, d), units combinable as in "1h30m"; a bare number is seconds.
 * Returns 0 and the seconds in *out, or -EINVAL.
 */
int config_parse_duration(const char *s, double *out);

#endif
