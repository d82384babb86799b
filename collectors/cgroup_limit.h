/* SPDX-License-Identifier: MIT */
/*
 * cgroup_limit: the memory a process may grow into, from its cgroup.
 *
 * With cgroup v2 it is the smallest memory.max on the path from the process's
 * cgroup up to the root ("max" means none); with only the v1 memory
 * controller, the smallest memory.limit_in_bytes. Limits are read once per
 * cgroup per scrape: a machine has few cgroups and many processes.
 */
#ifndef MEMTIDE_CGROUP_LIMIT_H
#define MEMTIDE_CGROUP_LIMIT_H

#include <stddef.h>

struct cgroup_limits;

/* Detects the cgroup layout under sysfs (--path.sysfs). Returns 0 or -errno. */
int cgroup_limits_new(const char *sysfs, struct cgroup_limits **out);
void cgroup_limits_free(struct cgroup_limits *cl);

/* Forgets the limits read so far: call at the start of every scrape. */
void cgroup_limits_reset(struct cgroup_limits *cl);

/*
 * The limit in bytes for a process whose libproc2 PIDS_CGROUP field is
 * `field` (comma-separated "ID:CONTROLLERS:PATH" entries, "-" when every
 * entry is the root), or 0 when nothing limits it.
 */
double cgroup_limits_lookup(struct cgroup_limits *cl, const char *field);

/* Copies the cgroup v2 path of `field` ("0::PATH") into buf, "/" when absent. */
void cgroup_v2_path(const char *field, char *buf, size_t len);

#endif
