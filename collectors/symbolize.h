/* SPDX-License-Identifier: MIT */
/*
 * Names for the return addresses of sampled stacks, found in the exporter,
 * never in the watched process: through /proc/PID/maps and the mapped ELF
 * files, opened inside the process's root (/proc/PID/root, so containers
 * work), read with elfutils' libdwfl for symbols and, where debug information
 * is installed, file and line.
 *
 * Modules are cached by build-id (by device, inode, size and mtime before
 * the build-id is known), at most SYMBOLIZE_MODULES of them, the least
 * recently used going first; the caller bounds the new files opened per
 * scrape or request, so their cost is bounded. Files are another
 * user's input: opened with RESOLVE_IN_ROOT and no magic links, regular
 * files of at most SYMBOLIZE_FILE_MAX bytes only. Thread-safe (one lock).
 */
#ifndef MEMTIDE_SYMBOLIZE_H
#define MEMTIDE_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc_maps.h"

#define SYMBOLIZE_MODULES 64
#define SYMBOLIZE_FILE_MAX (1ull << 30)
#define SYMBOLIZE_NAME 256
#define SYMBOLIZE_BUILD_ID 41 /* 20 bytes in hex and a NUL */

struct frame_info {
	bool found_map;			   /* the address is in a file mapping */
	bool found_symbol;		   /* function is a symbol's name */
	char object[128];		   /* the mapped file's base name */
	char path[PROC_MAPS_PATH];	   /* the mapped file, as the process sees it */
	char build_id[SYMBOLIZE_BUILD_ID]; /* hex, "" when none */
	uint64_t map_start, map_end, map_offset;
	char function[SYMBOLIZE_NAME]; /* demangled where it was mangled */
	uint64_t function_offset;      /* address - symbol start */
	char file[SYMBOLIZE_NAME];     /* source file ("" when unknown) */
	int line;		       /* 0 when unknown */
};

/* A session: one process's maps, and the count of files it may still open
 * (shared by the sessions of one scrape or one request). */
struct symbolizer {
	unsigned pid;
	struct proc_maps maps;
	unsigned *opens_left;
};

/* 0 or -errno (the process is gone, or its maps are not readable: then
 * every address is unknown). */
int symbolizer_open(struct symbolizer *s, unsigned pid, unsigned *opens_left);
void symbolizer_close(struct symbolizer *s);

/* What is known of a return address (the call site is addr - 1). */
void symbolize(struct symbolizer *s, uint64_t addr, struct frame_info *out);

/* Is this frame the allocator's own (libc, libmemtide, operator new, an
 * interpreter's allocation wrappers): not what a site is named after. */
bool symbolize_is_allocator(const struct frame_info *f);

/* "function (file:line)", else "function+0xoff in object", else
 * "0xaddr in object", else "0xaddr". */
void symbolize_label(const struct frame_info *f, uint64_t addr, char *buf, size_t len);

/* Drops every cached module (tests, and the exporter's exit). */
void symbolize_flush(void);

#endif
