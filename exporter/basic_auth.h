/* SPDX-License-Identifier: MIT */
/*
 * basic_auth: checking HTTP basic credentials against a web config's bcrypt
 * hashes.
 *
 * bcrypt is slow on purpose (tens of milliseconds at cost 10), too slow for
 * every scrape: a successful check is remembered, keyed by a SHA-256 digest
 * of the user and password, so Prometheus pays it once per config. The cache
 * has its own short lock: a flood of wrong credentials never makes a scrape
 * with remembered credentials wait for bcrypt.
 *
 * bcrypt checks run one at a time, so that a flood costs one core, not all
 * of them; a check that cannot start within half the costliest hash's time
 * is rejected without one. Every rejection (unknown user, wrong password,
 * no turn for bcrypt) ends at the same time after the request began: twice
 * the time of the costliest configured hash. Neither a user's existence nor
 * its hash's cost shows in the time.
 */
#ifndef MEMTIDE_BASIC_AUTH_H
#define MEMTIDE_BASIC_AUTH_H

#include <stdbool.h>
#include <stdint.h>

struct web_config;
struct basic_auth;

/* NULL when out of memory. wc must outlive the checker. */
struct basic_auth *basic_auth_new(const struct web_config *wc);
void basic_auth_free(struct basic_auth *ba);

/* True when user and password (either may be NULL: no credentials) match. */
bool basic_auth_allows(struct basic_auth *ba, const char *user, const char *password);

/* What checks did, since the exporter started (every web config counts). */
struct basic_auth_counts {
	uint64_t cached; /* accepted from the cache, no bcrypt */
	uint64_t bcrypt; /* bcrypt checks run */
	uint64_t busy;	 /* rejected without bcrypt: it was not our turn in time */
};

void basic_auth_counts(struct basic_auth_counts *out);

#endif
