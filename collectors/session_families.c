/* SPDX-License-Identifier: MIT */
/* session_families: the families every session source writes, written one way. */
#include "session_families.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "exporter/expo.h"

#define SESSIONS_MAX_LABELS 4

struct sessions_pool sessions_pool_unset(void)
{
	return (struct sessions_pool){.live = NAN, .ttl = NAN, .oldest_age = NAN, .bytes = NAN};
}

/* Opens a family and writes one sample to it, unless the reading is unset. */
static int write_one(struct expo *out, const char *name, const char *help, double v, size_t n,
		     const char *const *names, const char *const *values)
{
	int err;

	if (isnan(v))
		return 0;
	err = expo_family(out, name, EXPO_GAUGE, help);
	return err ? err : expo_samplev(out, v, n, names, values);
}

static int write_by_age(struct expo *out, const double *older_than, size_t n,
			const char *const *names, const char *const *values)
{
	const char *bnames[SESSIONS_MAX_LABELS + 1], *bvalues[SESSIONS_MAX_LABELS + 1];
	char bound[32];
	int err;

	err = expo_family(out, SESSIONS_BY_AGE, EXPO_GAUGE, SESSIONS_BY_AGE_HELP);
	for (size_t i = 0; i < n; i++) {
		bnames[i] = names[i];
		bvalues[i] = values[i];
	}
	bnames[n] = "older_than_seconds";
	bvalues[n] = bound;
	for (size_t b = 0; b < SESSIONS_AGE_BUCKETS && !err; b++) {
		snprintf(bound, sizeof(bound), "%.0f", sessions_age_buckets[b]);
		err = expo_samplev(out, older_than[b], n + 1, bnames, bvalues);
	}
	return err;
}

int sessions_write_pool(struct expo *out, const struct sessions_pool *p, size_t n,
			const char *const *names, const char *const *values)
{
	int err;

	if (n > SESSIONS_MAX_LABELS)
		return -EINVAL;
	err = write_one(out, SESSIONS_LIVE, SESSIONS_LIVE_HELP, p->live, n, names, values);
	if (!err)
		err = write_one(out, SESSIONS_TTL, SESSIONS_TTL_HELP, p->ttl, n, names, values);
	if (!err)
		err = write_one(out, SESSIONS_OLDEST, SESSIONS_OLDEST_HELP, p->oldest_age, n, names,
				values);
	if (!err && p->older_than)
		err = write_by_age(out, p->older_than, n, names, values);
	if (err)
		return err;
	return write_one(out, SESSIONS_BYTES, SESSIONS_BYTES_HELP, p->bytes, n, names, values);
}
