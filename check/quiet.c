/* SPDX-License-Identifier: MIT */
/*
 * The quiet point after a cycle: the user's --quiet time, then, within
 * --quiet-timeout, until the live sessions are back at their level before
 * the load (or the pools' TTL and a sweep have passed: a session still live
 * then is one the server forgot), and until the live heap holds still
 * across two readings. The agent updates its live counters on every call,
 * so an idle server reads the same twice; a server still finishing work
 * does not, and is read again.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

/* Between the two readings that must agree. */
#define STABLE_GAP 0.25
/* Retry interval while the segment is briefly unreadable. */
#define RETRY_GAP 0.1
/* After the TTL: one sweep of at most the TTL or this long, whichever is shorter. */
#define SWEEP_SLACK_MAX 5.0

/* How long after the load expired sessions may still be live: each pool
 * with sessions gets its TTL, a sweep interval and a second. */
static double session_grace(const struct check_reading *r)
{
	double grace = 0;

	for (unsigned i = 0; i < r->pool_count; i++) {
		double ttl = r->pools[i].ttl_seconds;
		double g = ttl + fmin(ttl, SWEEP_SLACK_MAX) + 1.0;

		if (r->pools[i].live && g > grace)
			grace = g;
	}
	return grace;
}

/* Readings differ by no more than the noise of an idle server. */
static bool steady(const struct check_reading *a, const struct check_reading *b,
		   const struct check_options *o)
{
	double tol = o->max_growth / 8;
	double d = (double)a->live_bytes - (double)b->live_bytes;

	return fabs(d) <= tol && a->sessions == b->sessions;
}

/* One reading; a segment briefly unreadable is read again until end. */
static int read_until(struct check_runner *run, struct check_probe *probe, struct check_reading *r,
		      bool sites, double end)
{
	int err;

	for (;;) {
		err = check_probe_read(probe, r, sites);
		if (err == 0)
			return 0;
		if (!check_runner_server_alive(run)) {
			fprintf(stderr, "memtide-check: the server exited\n");
			return CHECK_ERROR;
		}
		if (check_now() >= end) {
			fprintf(stderr, "memtide-check: no readable agent segment: %s\n",
				strerror(-err));
			return CHECK_ERROR;
		}
		if (check_runner_pause(run, RETRY_GAP) < 0)
			return CHECK_ERROR;
	}
}

/* Waits until the sessions are back at baseline or their grace passed. */
static int wait_sessions(struct check_runner *run, struct check_probe *probe,
			 uint64_t baseline_sessions, double t0, double end)
{
	struct check_reading r;

	for (;;) {
		if (read_until(run, probe, &r, false, end))
			return CHECK_ERROR;
		if (r.sessions <= baseline_sessions || check_now() >= end ||
		    check_now() - t0 >= session_grace(&r))
			return 0;
		if (check_runner_pause(run, RETRY_GAP * 2) < 0)
			return CHECK_ERROR;
	}
}

int check_quiet_point(struct check_runner *run, struct check_probe *probe,
		      const struct check_options *o, uint64_t baseline_sessions, bool sites,
		      struct check_point *out)
{
	double t0 = check_now(), end = t0 + o->quiet + o->quiet_timeout;
	struct check_reading a, b;

	out->stable = false;
	if (check_runner_pause(run, o->quiet) < 0 ||
	    wait_sessions(run, probe, baseline_sessions, t0, end))
		return CHECK_ERROR;
	if (read_until(run, probe, &a, false, end))
		return CHECK_ERROR;
	for (;;) {
		if (check_runner_pause(run, STABLE_GAP) < 0 ||
		    read_until(run, probe, &b, false, end))
			return CHECK_ERROR;
		if (steady(&a, &b, o)) {
			out->stable = true;
			break;
		}
		if (check_now() >= end)
			break;
		a = b;
	}
	/* The point itself, with its sites named while the server runs. */
	if (read_until(run, probe, &out->r, sites, end + 5))
		return CHECK_ERROR;
	out->waited = check_now() - t0;
	return 0;
}
