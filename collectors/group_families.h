/* SPDX-License-Identifier: MIT */
/*
 * group_families: families with one sample per group, labelled group=NAME,
 * read from the group records a collector summed (the process collector's
 * memtide_group_*, the agent collector's memtide_malloc_* and
 * memtide_agent_processes). One table shape and one writer for both.
 */
#ifndef MEMTIDE_GROUP_FAMILIES_H
#define MEMTIDE_GROUP_FAMILIES_H

#include <stdbool.h>
#include <stddef.h>

#include "exporter/expo.h"

/* group_family.when for a family every group has. */
#define GROUP_ALWAYS ((size_t)-1)

struct group_family {
	const char *name;
	enum expo_type type;
	const char *help;
	size_t value; /* offsetof the double in a group record */
	size_t when;  /* offsetof a bool that must be true for a sample, or GROUP_ALWAYS */
};

/* n group records of stride bytes from base, each named by name(). */
struct group_records {
	const void *base;
	size_t n, stride;
	const char *(*name)(const void *record);
};

/* Writes each family, then its groups' samples. Returns 0 or a negative errno. */
int group_families_write(struct expo *out, const struct group_family *families, size_t n,
			 const struct group_records *groups);

#endif
