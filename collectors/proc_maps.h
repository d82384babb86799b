/* SPDX-License-Identifier: MIT */
/*
 * The file-backed mappings of a process, from /proc/PID/maps: the address
 * space the sampled stacks of its segment refer to. Bounded: at most
 * PROC_MAPS_MAX mappings and PROC_MAPS_BYTES of the file are read; a line
 * that does not parse is skipped (another user's process can name its files
 * anything, newlines excepted).
 */
#ifndef MEMTIDE_PROC_MAPS_H
#define MEMTIDE_PROC_MAPS_H

#include <stddef.h>
#include <stdint.h>

#define PROC_MAPS_MAX 4096
#define PROC_MAPS_BYTES (4u << 20)
#define PROC_MAPS_PATH 512

struct proc_map {
	uint64_t start, end, offset;
	char path[PROC_MAPS_PATH]; /* absolute, as the process sees it */
};

struct proc_maps {
	struct proc_map *maps; /* sorted by start (as the kernel lists them) */
	size_t n;
};

/* Reads the executable file mappings of pid. 0 or -errno. */
int proc_maps_read(unsigned pid, struct proc_maps *out);

/* Parses a maps text of len bytes (for proc_maps_read and the fuzzer). */
int proc_maps_parse(const char *text, size_t len, struct proc_maps *out);

/* The mapping holding addr, or NULL. */
const struct proc_map *proc_maps_find(const struct proc_maps *m, uint64_t addr);

void proc_maps_free(struct proc_maps *m);

#endif
