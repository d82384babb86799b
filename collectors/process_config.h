/* SPDX-License-Identifier: MIT */
/*
 * process_config: the "process" section of the config file (process.groups,
 * process.pss_max_age) and matching processes against it. The process
 * collector and the agent collector (which groups segments the same way)
 * read it.
 */
#ifndef MEMTIDE_PROCESS_CONFIG_H
#define MEMTIDE_PROCESS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct config_section;

#define PROCESS_DEFAULT_PSS_MAX_AGE 60.0
#define PROCESS_GROUP_NAME_MAX 256

/* Which process fields matching and naming need, so the process collector
 * asks libproc2 for nothing more. */
enum process_needs {
	PROCESS_NEEDS_EXE = 1 << 0,
	PROCESS_NEEDS_CMDLINE = 1 << 1,
	PROCESS_NEEDS_USER = 1 << 2,
	PROCESS_NEEDS_CGROUP = 1 << 3,
};

/*
 * A name template parsed at load time, so that process_match allocates nothing
 * and parses nothing. Private to process_config.c (which builds it) and
 * process_match.c (which expands it).
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
	/* Private to process_config.c and process_match.c. */
	struct name_part *parts; /* the parsed name, one allocation, ends with NAME_END */
	unsigned nmatch;	 /* match spans the name needs: highest {N} + 1, or 0 */
};

/* The process section, as loaded. */
struct process_settings {
	struct group_matcher *groups; /* first match wins; never empty once loaded */
	size_t n_groups;
	double pss_max_age; /* seconds a cached PSS/USS reading may be served */
	unsigned needs;	    /* enum process_needs */
};

/* The section the process collector declares (config_section.h). */
extern const struct config_section process_section;

/* cfg's process section (never NULL for a loaded config). */
const struct process_settings *process_settings(const struct config *cfg);

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
 * Finds the first group matcher that matches p and writes the expanded group
 * name to name (at most PROCESS_GROUP_NAME_MAX bytes with the NUL; longer names
 * are cut, never inside a UTF-8 sequence). Returns the matcher's index, or -1
 * when none matches or the name expands to the empty string; the first match
 * decides, so a name that expands to "" does not fall through to later groups.
 * A NULL field of p never satisfies a condition on it and expands to "".
 * Allocates nothing: it runs for every process on every scrape.
 */
int process_match(const struct config *cfg, const struct proc_ident *p, char *name, size_t namelen);

#endif
