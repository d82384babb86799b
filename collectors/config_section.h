/* SPDX-License-Identifier: MIT */
/*
 * config_section: a collector's part of the config file.
 *
 * A collector that has settings declares one section (struct collector's
 * `config`): its key, the size of what it loads, its defaults, its parser and
 * its checks. The loader (exporter/config.c) gives each section zeroed
 * settings, calls init, calls parse when the file has the key, then finish
 * whether it had it or not; release frees what the settings own. Messages
 * go through the shared YAML walker (exporter/yaml_schema.h), "FILE:LINE:
 * what is wrong".
 */
#ifndef MEMTIDE_CONFIG_SECTION_H
#define MEMTIDE_CONFIG_SECTION_H

#include <stddef.h>

#include "exporter/yaml_schema.h"

struct config_section {
	/* A top-level key ("process"), or one under a top-level key that
	 * groups sections ("sessions.tcp"). */
	const char *key;
	size_t size;		      /* bytes of the settings */
	void (*init)(void *settings); /* the defaults; NULL: all zero */
	/* The key's value; the same contract as a struct yaml_key handler. */
	int (*parse)(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *settings);
	/* After the whole file, key or no key: derived values. NULL: nothing. */
	int (*finish)(struct yaml_loader *ld, void *settings);
	void (*release)(void *settings); /* what settings own, not settings itself */
};

#endif
