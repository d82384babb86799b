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

#define SEGMENT_NAME_MAX 64
#define SEGMENT_NAMES_MAX 2

/*
 * The names under which process pid, started at start (clock ticks after
 * boot, as /proc/<pid>/stat says; 0 when not known), may have written its
 * segment, first name first; returns how many (at most max). The exporter
 * looks segments up by the pids of live processes, never by trusting a
 * listing of the directory that anyone can fill with junk.
 */
int segment_names_for_pid(unsigned pid, uint64_t start, char names[][SEGMENT_NAME_MAX], int max);

#endif
