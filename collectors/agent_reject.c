/* SPDX-License-Identifier: MIT */
#include "agent_reject.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "exporter/log.h"
#include "collector.h"

#define LINES_PER_WINDOW 10
#define WINDOW_SECONDS 60

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static time_t window_start;
static unsigned lines, suppressed;

/* May this rejection be logged? Says how many were not, once a window. */
static bool take_line(unsigned *unsaid)
{
	struct timespec now;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&lock);
	*unsaid = 0;
	if (now.tv_sec - window_start >= WINDOW_SECONDS) {
		*unsaid = suppressed;
		window_start = now.tv_sec;
		lines = suppressed = 0;
	}
	ok = lines < LINES_PER_WINDOW;
	if (ok)
		lines++;
	else
		suppressed++;
	pthread_mutex_unlock(&lock);
	return ok;
}

void agent_reject(struct collect_ctx *ctx, const char *dir, const char *name, unsigned pid,
		  const char *reason)
{
	char path[512], pidbuf[16], count[16];
	unsigned unsaid;

	collect_error(ctx, reason);
	if (!take_line(&unsaid))
		return;
	if (unsaid) {
		snprintf(count, sizeof(count), "%u", unsaid);
		collect_log(ctx, LOGL_WARN,
			    "agent segments rejected without a log line in the last minute",
			    "count", count, NULL);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(pidbuf, sizeof(pidbuf), "%u", pid);
	collect_log(ctx, LOGL_WARN, "agent segment rejected", "pid", pidbuf, "path", path, "reason",
		    reason, NULL);
}
