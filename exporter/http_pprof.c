/* SPDX-License-Identifier: MIT */
/* The answer to /debug/pprof/heap (http_pprof.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/sites.h"
#include "config.h"
#include "http_pprof.h"
#include "pprof_heap.h"
#include "runtime.h"

static void text(struct http_pprof_answer *a, unsigned status, const char *msg)
{
	a->status = status;
	a->type = "text/plain; charset=utf-8";
	a->body = (char *)msg;
	a->len = strlen(msg);
	a->must_free = false;
}

/* A pid as the query gives it: decimal, 1 to 2^22. */
static bool parse_pid(const char *s, unsigned *pid)
{
	char *end;
	unsigned long v;

	if (!s || *s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > (1ul << 22))
		return false;
	*pid = (unsigned)v;
	return true;
}

void http_pprof_heap(const char *pid, const char *group, struct http_pprof_answer *a)
{
	unsigned pids[PPROF_MAX_PIDS];
	struct runtime *rt = runtime_current();
	unsigned char *body = NULL;
	size_t n = 0, len = 0;
	int err;

	if (!rt) {
		text(a, 503, "starting\n");
		return;
	}
	if (pid && parse_pid(pid, &pids[0]))
		n = 1;
	else if (!pid && group && *group)
		n = sites_group_pids(group, pids, PPROF_MAX_PIDS);
	else {
		runtime_put(rt);
		text(a, 400, "want ?pid=PID or ?group=NAME\n");
		return;
	}
	err = n ? pprof_heap(rt->cfg->agent_dir, pids, n, &body, &len) : -ENOENT;
	runtime_put(rt);
	if (err == -ENOENT) {
		text(a, 404,
		     "no sampled heap for that pid or group (yet: groups are known from "
		     "the last scrape)\n");
		return;
	}
	if (err) {
		text(a, 500, "profile failed\n");
		return;
	}
	a->status = 200;
	a->type = "application/octet-stream";
	a->body = (char *)body;
	a->len = len;
	a->must_free = true;
}
