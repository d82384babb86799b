/* SPDX-License-Identifier: MIT */
/*
 * config: the YAML configuration file (libyaml), as sections that the
 * collectors own.
 *
 * The loader knows no collector's settings: it dispatches each top-level key
 * (and each key under a top-level key that groups sections, as "sessions"
 * does) to the section a collector declares (collectors/config_section.h),
 * and keeps what the section parsed. A config is immutable once loaded:
 * scrapes read it without locks, and a reload (SIGHUP) builds a new one and
 * swaps it in whole. Errors name the file and line: "FILE:LINE: what is
 * wrong".
 */
#ifndef MEMTIDE_CONFIG_H
#define MEMTIDE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "collectors/collector.h"

struct yaml_loader;

struct config {
	char *path; /* NULL when running without a config file */
	/* Each collector's section, in registry order; NULL when it declares none. */
	void *settings[COLLECTORS_MAX];
	/* Filesystem roots, from flags rather than the file. */
	char *procfs;	       /* "/proc" */
	const char *agent_dir; /* where libmemtide segments are (--collector.agent.dir);
				  not owned: set by the caller after loading */
	char *sysfs;	       /* "/sys" */
};

/*
 * Loads `path`. On success *out holds a new config. On failure returns a
 * negative errno and writes "FILE:LINE: message" (or "FILE: message") to err.
 * procfs and sysfs are copied into the config.
 */
int config_load(const char *path, const char *procfs, const char *sysfs, struct config **out,
		char *err, size_t errlen);

/* The config used without a file: every section's defaults (every process,
 * grouped by comm, PSS off). */
int config_default(const char *procfs, const char *sysfs, struct config **out);

void config_free(struct config *cfg);

/* What collector c's section holds in cfg, or NULL when it declares none. */
void *config_settings(const struct config *cfg, const struct collector *c);

/*
 * Parses a duration: a number with an optional fraction and a unit
 * (ms, s, m, h, d), units combinable as in "1h30m"; a bare number is seconds.
 * Returns 0 and the seconds in *out, or -EINVAL.
 */
int config_parse_duration(const char *s, double *out);

/* A yaml_key handler for a duration (config_parse_duration), stored as a
 * double at field; the error names the key and the line. */
int config_parse_duration_value(struct yaml_loader *ld, const char *key, yaml_node_t *value,
				void *field);

#endif
