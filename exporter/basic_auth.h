/* SPDX-License-Identifier: MIT */
/*
 * basic_auth: checking HTTP basic credentials against a web config's bcrypt
 * hashes.
 *
 * bcrypt is slow on purpose (tens of milliseconds at cost 10), too slow for
 * every scrape: a successful check is remembered, keyed by a SHA-256 digest
 * of the user and password, so Prometheus pays it once per config. Checks
 * that miss the cache run one at a time, so that a flood of wrong passwords
 * costs one core, not all of them. A user that does not exist is checked
 * against the costliest configured hash anyway: a wrong user and a wrong
 * password take the same time.
 */
#ifndef MEMTIDE_BASIC_AUTH_H
#define MEMTIDE_BASIC_AUTH_H

#include <stdbool.h>

struct web_config;
struct basic_auth;

/* NULL when out of memory. wc must outlive the checker. */
struct basic_auth *basic_auth_new(const struct web_config *wc);
void basic_auth_free(struct basic_auth *ba);

/* True when user and password (either may be NULL: no credentials) match. */
bool basic_auth_allows(struct basic_auth *ba, const char *user, const char *password);

#endif
