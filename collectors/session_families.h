/* SPDX-License-Identifier: MIT */
/*
 * session_families: what the collectors that count sessions share (agent, sessdir,
 * tcp), so that the families they merge into carry one HELP text and one set
 * of age buckets.
 *
 * Each collector labels its samples itself (source, group, pool); the
 * by-age family adds older_than_seconds from sessions_age_buckets.
 */
#ifndef MEMTIDE_SESSION_FAMILIES_H
#define MEMTIDE_SESSION_FAMILIES_H

#include <stddef.h>

#include "agent/segment.h"

struct expo;

/* The buckets of the segment ABI (agent/segment.h), so that every source
 * has the same: 1 min, 5 min, 15 min, 1 h, 4 h, 1 d. A session counts under a
 * bucket when memtide_seg_age_counts(age, bound). */
#define SESSIONS_AGE_BUCKETS MEMTIDE_SEG_AGE_BUCKETS

static const double sessions_age_buckets[SESSIONS_AGE_BUCKETS] = MEMTIDE_SEG_AGE_BUCKET_SECONDS;

#define SESSIONS_LIVE "memtide_sessions_live"
#define SESSIONS_LIVE_HELP "Live sessions now."
#define SESSIONS_OPENED "memtide_sessions_opened_total"
#define SESSIONS_OPENED_HELP "Sessions opened."
#define SESSIONS_CLOSED "memtide_sessions_closed_total"
#define SESSIONS_CLOSED_HELP "Sessions closed."
#define SESSIONS_TTL "memtide_sessions_ttl_seconds"
#define SESSIONS_TTL_HELP "The pool's configured maximum idle lifetime of a session."
#define SESSIONS_OLDEST "memtide_sessions_oldest_age_seconds"
#define SESSIONS_OLDEST_HELP "Age of the oldest live session (0 without live sessions)."
#define SESSIONS_BY_AGE "memtide_sessions_live_by_age"
#define SESSIONS_BY_AGE_HELP "Live sessions older than older_than_seconds."
#define SESSIONS_BYTES "memtide_sessions_bytes"
#define SESSIONS_BYTES_HELP "Total size of the session files."

/*
 * One pool's readings. A NaN field is not written: a source that has no
 * such reading (tcp has no TTL) leaves it NaN.
 */
struct sessions_pool {
	double live;
	double ttl;
	double oldest_age;
	double bytes;
	/* live sessions older than each of sessions_age_buckets; NULL: not written */
	const double *older_than;
};

/* A pool with every reading unset (NaN) and no age buckets. */
struct sessions_pool sessions_pool_unset(void);

/*
 * Writes one pool's samples, each labelled with the `n` label pairs given
 * (at most 4), into the families above. Returns 0 or a negative errno.
 */
int sessions_write_pool(struct expo *out, const struct sessions_pool *p, size_t n,
			const char *const *names, const char *const *values);

#endif
