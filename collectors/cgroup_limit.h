/* SPDX-License-Identifier: MIT */
/*
 * cgroup_limit: the memory a process may grow into, from its cgroup.
 *
 * With cgroup v2 it is the smallest memory.max on the path from the process's
 * cgroup up to the root ("max" means none); with only the v1 memory
 * controller, the smallest memory.limit_in_bytes. Limits are read once per
 * cgroup per scrape: a machine has few cgroups and many processes.
 *
 * Cgroup namespaces. /proc/PID/cgroup shows a path relative to the reader's
 * cgroup namespace root; a cgroup outside it reads as climbing out of it
 * ("/../../../system.slice/nginx.service" from a pod). The cgroup mount under
 * --path.sysfs has a root of its own, which /proc/self/mountinfo shows
 * relative to the same namespace root: "/" for the namespace's own mount,
 * "/../../.." for the host's mount seen from a namespace three levels down.
 * A process's path is resolved against that mount root, so the host's mount
 * reaches every cgroup that climbs out to the host's root. mountinfo is used
 * rather than the path of PID 1 because it describes the very mount that is
 * read, and PID 1 need neither be visible nor sit in the root cgroup (systemd
 * puts it in /init.scope).
 *
 * What cannot be reached from the mount root has no known limit (0): a path
 * that climbs above the mount root, and one that climbs less far than the
 * mount root lies above the namespace root (the names of the namespace root's
 * ancestors are not visible from inside it). With the host's mount and a
 * namespace root below the host's root, that includes the processes of the
 * exporter's own namespace.
 */
#ifndef MEMTIDE_CGROUP_LIMIT_H
#define MEMTIDE_CGROUP_LIMIT_H

#include <stddef.h>

struct cgroup_limits;

/* Detects the cgroup layout under sysfs (--path.sysfs). Returns 0 or -errno. */
int cgroup_limits_new(const char *sysfs, struct cgroup_limits **out);

/*
 * The same, with the mount table read from `mountinfo` (a file in the format
 * of /proc/self/mountinfo) instead of /proc/self/mountinfo. When it cannot be
 * read or does not list the cgroup mount, the mount root is taken to be the
 * namespace root.
 */
int cgroup_limits_new_at(const char *sysfs, const char *mountinfo, struct cgroup_limits **out);
void cgroup_limits_free(struct cgroup_limits *cl);

/* Forgets the limits read so far: call at the start of every scrape. */
void cgroup_limits_reset(struct cgroup_limits *cl);

/*
 * The limit in bytes for a process whose libproc2 PIDS_CGROUP field is
 * `field` (comma-separated "ID:CONTROLLERS:PATH" entries, "-" when every
 * entry is the root), or 0 when nothing limits it or its cgroup cannot be
 * reached.
 */
double cgroup_limits_lookup(struct cgroup_limits *cl, const char *field);

/*
 * Maps `path`, a cgroup path as /proc/PID/cgroup shows it, to the path below
 * a cgroup mount whose root is `mount_root` as mountinfo shows it (both
 * relative to the same namespace root; "/../../.." is a namespace root three
 * levels below the mount root). Writes "/" or "/a/b" to buf. Returns 0;
 * -EINVAL for a path that is not absolute or has an empty, "." or ".."
 * component other than leading ".."; -ENOENT for a path the mount does not
 * reach; -ENAMETOOLONG when buf is too small.
 */
int cgroup_path_resolve(const char *path, const char *mount_root, char *buf, size_t len);

/* Copies the cgroup v2 path of `field` ("0::PATH") into buf, "/" when absent. */
void cgroup_v2_path(const char *field, char *buf, size_t len);

#endif
