/* SPDX-License-Identifier: MIT */
#include "basic_auth.h"

#include <crypt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webconfig.h"

#define DIGEST_LEN 32 /* SHA-256 */
#define CACHE_SLOTS 16

struct cached {
	bool used;
	uint8_t digest[DIGEST_LEN];
};

struct basic_auth {
	const struct web_config *wc;
	size_t decoy; /* the user whose hash an unknown user is checked against */
	pthread_mutex_t lock; /* the cache and the crypt buffer */
	struct cached cache[CACHE_SLOTS];
	size_t next_slot;
	struct crypt_data *cd; /* 32 KiB: too big for a connection thread's stack */
};

struct basic_auth *basic_auth_new(const struct web_config *wc)
{
	struct basic_auth *ba = calloc(1, sizeof(*ba));

	if (!ba)
		return NULL;
	ba->cd = calloc(1, sizeof(*ba->cd));
	if (!ba->cd || pthread_mutex_init(&ba->lock, NULL) != 0) {
		free(ba->cd);
		free(ba);
		return NULL;
	}
	ba->wc = wc;
	for (size_t i = 1; i < wc->n_users; i++)
		if (wc->users[i].cost > wc->users[ba->decoy].cost)
			ba->decoy = i;
	return ba;
}

void basic_auth_free(struct basic_auth *ba)
{
	if (!ba)
		return;
	explicit_bzero(ba->cd, sizeof(*ba->cd));
	explicit_bzero(ba->cache, sizeof(ba->cache));
	free(ba->cd);
	pthread_mutex_destroy(&ba->lock);
	free(ba);
}

/* Compares without an early exit, so the time says nothing about where
 * the first difference is. */
static bool same_bytes(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

static bool same_string(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return same_bytes(a, b, la < lb ? la : lb) && la == lb;
}

/* SHA-256 of user NUL password: the cache never holds a password. */
static bool digest_of(const char *user, const char *password, uint8_t out[DIGEST_LEN])
{
	gnutls_hash_hd_t h;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return false;
	if (gnutls_hash(h, user, strlen(user) + 1) < 0 ||
	    gnutls_hash(h, password, strlen(password)) < 0) {
		gnutls_hash_deinit(h, NULL);
		return false;
	}
	gnutls_hash_deinit(h, out);
	return true;
}

static bool cache_has(struct basic_auth *ba, const uint8_t digest[DIGEST_LEN])
{
	bool hit = false;

	for (size_t i = 0; i < CACHE_SLOTS; i++)
		hit |= ba->cache[i].used && same_bytes(ba->cache[i].digest, digest, DIGEST_LEN);
	return hit;
}

static void cache_add(struct basic_auth *ba, const uint8_t digest[DIGEST_LEN])
{
	struct cached *slot = &ba->cache[ba->next_slot];

	slot->used = true;
	memcpy(slot->digest, digest, DIGEST_LEN);
	ba->next_slot = (ba->next_slot + 1) % CACHE_SLOTS;
}

static const struct web_user *find_user(const struct web_config *wc, const char *name)
{
	for (size_t i = 0; i < wc->n_users; i++)
		if (!strcmp(wc->users[i].name, name))
			return &wc->users[i];
	return NULL;
}

/* Runs bcrypt; the caller holds the lock. */
static bool bcrypt_matches(struct basic_auth *ba, const char *hash, const char *password)
{
	const char *out = crypt_rn(password, hash, ba->cd, sizeof(*ba->cd));

	return out && same_string(out, hash);
}

bool basic_auth_allows(struct basic_auth *ba, const char *user, const char *password)
{
	const struct web_user *u;
	uint8_t digest[DIGEST_LEN];
	bool ok;

	if (!user || !password || !ba->wc->n_users)
		return false;
	if (!digest_of(user, password, digest))
		return false;
	u = find_user(ba->wc, user);
	pthread_mutex_lock(&ba->lock);
	if (u && cache_has(ba, digest)) {
		pthread_mutex_unlock(&ba->lock);
		return true;
	}
	/* An unknown user still pays for one bcrypt, of the costliest hash. */
	ok = bcrypt_matches(ba, u ? u->hash : ba->wc->users[ba->decoy].hash, password) && u;
	if (ok)
		cache_add(ba, digest);
	pthread_mutex_unlock(&ba->lock);
	return ok;
}
