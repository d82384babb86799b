/* SPDX-License-Identifier: MIT */
/*
 * segment_name: the two names an agent segment may have (agent/segment.h):
 * "memtide.<pid>", or "memtide.<pid>.<start_time>" when another user had
 * taken the first. A reader looks a process's segment up under both, the
 * second with the start time /proc/<pid>/stat gives it, and trusts either
 * under the same rules.
 */
#ifndef MEMTIDE_SEGMENT_NAME_H
#define MEMTIDE_SEGMENT_NAME_H

#include <stddef.h>
#include <stdint.h>

/* The pid of a name of either form (plain decimals, no leading zero), or -1. */
int segment_name_pid(const char *name);

/* "memtide.<pid>", or with start != 0 "memtide.<pid>.<start>", into buf. */
void segment_name_format(char *buf, size_t len, unsigned pid, uint64_t start);

#endif
