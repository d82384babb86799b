/* SPDX-License-Identifier: MIT */
/*
 * expo: the exposition writer.
 *
 * Collectors describe metric families and samples; the writer owns everything
 * about how they are written: escaping of label values and HELP text, the order
 * of samples within a family, merging of families that several collectors write
 * (memtide_sessions_live comes from three of them), the text format 0.0.4 versus
 * OpenMetrics 1.0.0, and gzip.
 *
 * Invariants:
 *  - A `struct expo` belongs to one thread at a time; each scrape and each
 *    collector within it has its own, so concurrent scrapes share nothing here.
 *  - Samples belong to the family most recently opened with expo_family().
 *  - Memory is bounded by EXPO_MAX_BYTES per expo; past it every call fails
 *    with -E2BIG and the expo stays valid (what was written before remains).
 *  - Every function returns 0 or a negative errno; on failure nothing leaks.
 */
#ifndef MEMTIDE_EXPO_H
#define MEMTIDE_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#define EXPO_MAX_BYTES (64u << 20)

enum expo_type {
	EXPO_GAUGE,
	EXPO_COUNTER, /* the name passed to expo_family() ends in _total */
	EXPO_UNTYPED,
};

enum expo_format {
	EXPO_TEXT_004,	     /* text/plain; version=0.0.4 */
	EXPO_OPENMETRICS_100 /* application/openmetrics-text; version=1.0.0 */
};

struct expo;

struct expo *expo_new(void);
void expo_free(struct expo *e);

/*
 * Opens a family. `name` must be a valid metric name; for counters it is the
 * sample name, ending in _total (the OpenMetrics family name drops it).
 * Opening a family whose name this expo already holds appends to it.
 * Returns -EINVAL for an invalid name or a type that clashes with an earlier
 * family of the same name. Also -EINVAL: a counter name without _total, and a
 * name that OpenMetrics would render as another family's (gauge foo next to
 * counter foo_total). After a failure no family is open, so samples fail too.
 */
int expo_family(struct expo *e, const char *name, enum expo_type type, const char *help);

/*
 * Adds a sample to the current family. The variadic arguments are label
 * name/value pairs of `const char *`, ended by NULL. Label values may hold any
 * bytes but NUL; the writer escapes them. Returns -EINVAL with no open family
 * or an invalid label name.
 */
int expo_sample(struct expo *e, double value, ...) __attribute__((sentinel));

/* As expo_sample(), with the labels as arrays of `n` names and values. */
int expo_samplev(struct expo *e, double value, size_t n, const char *const *names,
		 const char *const *values);

/*
 * Moves every family and sample of `src` into `dst` (merging families of the
 * same name) and leaves `src` empty. A family whose type clashes with dst's is
 * dropped and counted as -EINVAL in the return value; the rest still moves.
 * A family that does not fit (-E2BIG, -ENOMEM) is dropped the same way; the
 * return value is the first error met, 0 when everything moved.
 */
int expo_merge(struct expo *dst, struct expo *src);

/* Number of families and samples held, for tests and self-metrics. */
size_t expo_family_count(const struct expo *e);
size_t expo_sample_count(const struct expo *e);

/*
 * Renders everything into a freshly malloc'ed buffer (*out, *len), families in
 * the order they were first opened, samples of a family sorted by their label
 * text so that output is stable. OpenMetrics output ends in "# EOF\n".
 * With `gzip`, the buffer holds the gzip-compressed rendering; without, it is
 * also NUL-terminated (the NUL not counted in *len). The caller frees *out.
 */
int expo_render(const struct expo *e, enum expo_format fmt, bool gzip, char **out, size_t *len);

/* The Content-Type header value for a format. */
const char *expo_content_type(enum expo_format fmt);

#endif
