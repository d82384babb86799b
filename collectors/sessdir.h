/* SPDX-License-Identifier: MIT */
/* sessdir: the sessions.dirs section of the config file, as loaded. */
#ifndef MEMTIDE_SESSDIR_H
#define MEMTIDE_SESSDIR_H

#include <stddef.h>

struct config;

/* One entry of sessions.dirs: a directory holding one file per session. */
struct sessdir_config {
	unsigned line; /* where it starts in the file, for messages */
	char *pool;    /* the pool label; unique among the entries */
	char *path;    /* absolute */
	char *match;   /* glob on file names, "*" when not given */
	double ttl;    /* seconds, > 0 */
};

struct sessdir_settings {
	struct sessdir_config *dirs; /* empty when the section is absent */
	size_t n_dirs;
};

const struct sessdir_settings *sessdir_settings(const struct config *cfg);

#endif
