/* SPDX-License-Identifier: MIT */
/*
 * procfs: the few /proc reads that libproc2 does not offer, shared by the
 * process and self collectors. `procfs` is the mount point (--path.procfs).
 */
#ifndef MEMTIDE_PROCFS_H
#define MEMTIDE_PROCFS_H

#include <stddef.h>

/* Boot time in Unix seconds ("btime" of /proc/stat). Returns 0 or -errno. */
int procfs_boot_time(const char *procfs, double *out);

/*
 * Open file descriptors of pid. Linux 6.2 and later report the count as the
 * size of /proc/PID/fd, one stat(2); older kernels need the directory
 * counted. Returns 0 or -errno (-EACCES for another user's process without
 * CAP_SYS_PTRACE, -ENOENT when it exited).
 */
int procfs_count_fds(const char *procfs, int pid, long *out);

/*
 * The first len - 1 bytes of /proc/PID/<file>, NUL-terminated, as the kernel
 * holds them (libproc2 turns every byte it cannot print into '?'). Returns
 * the length or -errno.
 */
int procfs_read(const char *procfs, int pid, const char *file, char *buf, size_t len);

#endif
