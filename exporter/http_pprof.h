/* SPDX-License-Identifier: MIT */
/*
 * GET /debug/pprof/heap?pid=PID or ?group=NAME: the heap profile of one
 * process or of the processes of a group (as the last scrape grouped them),
 * from their libmemtide segments (exporter/pprof_heap.h). The HTTP layer
 * (http.c) routes, authenticates and sends; this file decides the answer.
 */
#ifndef MEMTIDE_HTTP_PPROF_H
#define MEMTIDE_HTTP_PPROF_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_PPROF_HEAP_PATH "/debug/pprof/heap"

struct http_pprof_answer {
	unsigned status;
	const char *type;
	char *body;
	size_t len;
	bool must_free;
};

void http_pprof_heap(const char *pid, const char *group, struct http_pprof_answer *out);

#endif
