/* SPDX-License-Identifier: MIT */
/*
 * ident: which group a process belongs to, shared by every collector that
 * reports per group, so that a process's memory and its agent's statistics
 * land under the same `group` label.
 *
 * A collector reserves IDENT_N consecutive positions in its libproc2 items,
 * filled by ident_items(); fields the config does not need are PIDS_noop.
 */
#ifndef MEMTIDE_IDENT_H
#define MEMTIDE_IDENT_H

#include <libproc2/pids.h>
#include <stddef.h>

struct config;

enum ident_field { IDENT_COMM, IDENT_EXE, IDENT_CMDLINE, IDENT_USER, IDENT_CGROUP, IDENT_N };

/* Writes the IDENT_N items matching needs for cfg to items[0..IDENT_N). */
void ident_items(const struct config *cfg, enum pids_item *items);

/*
 * Matches the process pid whose identity fields start at stack->head[first]
 * and writes its group name to group. Returns the matcher's index, or -1 when
 * the process belongs to no group.
 */
int ident_match(const struct config *cfg, int pid, struct pids_stack *stack, int first, char *group,
		size_t len);

#endif
