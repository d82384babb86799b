/* SPDX-License-Identifier: MIT */
#include "basic_auth.h"

#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webconfig.h"

#define DIGEST_LEN 32 /* SHA-256 */
#define CACHE_SLOTS 16
/* The cost of the hash timed at start, to estimate the others: cheap. */
#define CALIBRATION_COST 4
#define CALIBRATION_RUNS 3

struct cached {
	bool used;
	uint8_t digest[DIGEST_LEN];
};

struct basic_auth {
	const struct web_config *wc;
	size_t decoy;		    /* the user whose hash an unknown user is checked against */
	pthread_mutex_t cache_lock; /* cache, next_slot, costliest: held for microseconds */
	struct cached cache[CACHE_SLOTS];
	size_t next_slot;
	double costliest;	     /* seconds one bcrypt of the costliest hash takes, estimated */
	pthread_mutex_t bcrypt_lock; /* one bcrypt at a time, and the crypt buffer */
	struct crypt_data *cd;	     /* 32 KiB: too big for a connection thread's stack */
};

static uint64_t n_cached, n_bcrypt, n_busy; /* atomics: every checker adds to them */

void basic_auth_counts(struct basic_auth_counts *out)
{
	out->cached = __atomic_load_n(&n_cached, __ATOMIC_RELAXED);
	out->bcrypt = __atomic_load_n(&n_bcrypt, __ATOMIC_RELAXED);
	out->busy = __atomic_load_n(&n_busy, __ATOMIC_RELAXED);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec to_timespec(double t)
{
	struct timespec ts = {.tv_sec = (time_t)t};

	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Rejections that may wait out their padding at once (pad_rejection). */
#define PADDERS_MAX 32

static void sleep_until(double t)
{
	struct timespec ts = to_timespec(t);

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Estimates the costliest hash's time from a cheap one: each cost step
 * doubles bcrypt's work. Real checks of that hash refine it later.
 */
static double estimate_cost(struct crypt_data *cd, int cost)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	double best = 1e9;

	if (!crypt_gensalt_rn("$2b$", CALIBRATION_COST, NULL, 0, setting, sizeof(setting)))
		return 0.25; /* bcrypt at cost 12 on a server: a safe guess */
	for (int i = 0; i < CALIBRATION_RUNS; i++) {
		double t0 = now_seconds();

		crypt_rn("calibration", setting, cd, sizeof(*cd));
		if (now_seconds() - t0 < best)
			best = now_seconds() - t0;
	}
	return best * (double)(1ull << (cost > CALIBRATION_COST ? cost - CALIBRATION_COST : 0));
}

struct basic_auth *basic_auth_new(const struct web_config *wc)
{
	struct basic_auth *ba = calloc(1, sizeof(*ba));

	if (!ba)
		return NULL;
	ba->cd = calloc(1, sizeof(*ba->cd));
	if (!ba->cd || pthread_mutex_init(&ba->cache_lock, NULL) != 0) {
		free(ba->cd);
		free(ba);
		return NULL;
	}
	if (pthread_mutex_init(&ba->bcrypt_lock, NULL) != 0) {
		pthread_mutex_destroy(&ba->cache_lock);
		free(ba->cd);
		free(ba);
		return NULL;
	}
	ba->wc = wc;
	for (size_t i = 1; i < wc->n_users; i++)
		if (wc->users[i].cost > wc->users[ba->decoy].cost)
			ba->decoy = i;
	if (wc->n_users)
		ba->costliest = estimate_cost(ba->cd, wc->users[ba->decoy].cost);
	return ba;
}

void basic_auth_free(struct basic_auth *ba)
{
	if (!ba)
		return;
	explicit_bzero(ba->cd, sizeof(*ba->cd));
	explicit_bzero(ba->cache, sizeof(ba->cache));
	free(ba->cd);
	pthread_mutex_destroy(&ba->cache_lock);
	pthread_mutex_destroy(&ba->bcrypt_lock);
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

/* Is the digest remembered? Returns the estimate of the costliest hash too. */
static bool cache_has(struct basic_auth *ba, const uint8_t digest[DIGEST_LEN], double *costliest)
{
	bool hit = false;

	pthread_mutex_lock(&ba->cache_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		hit |= ba->cache[i].used && same_bytes(ba->cache[i].digest, digest, DIGEST_LEN);
	*costliest = ba->costliest;
	pthread_mutex_unlock(&ba->cache_lock);
	return hit;
}

static void cache_add(struct basic_auth *ba, const uint8_t digest[DIGEST_LEN])
{
	struct cached *slot;

	pthread_mutex_lock(&ba->cache_lock);
	slot = &ba->cache[ba->next_slot];
	slot->used = true;
	memcpy(slot->digest, digest, DIGEST_LEN);
	ba->next_slot = (ba->next_slot + 1) % CACHE_SLOTS;
	pthread_mutex_unlock(&ba->cache_lock);
}

/* Follows what the costliest hash really takes here (a moving average). */
static void costliest_observed(struct basic_auth *ba, double seconds)
{
	pthread_mutex_lock(&ba->cache_lock);
	ba->costliest = ba->costliest * 0.875 + seconds * 0.125;
	pthread_mutex_unlock(&ba->cache_lock);
}

static const struct web_user *find_user(const struct web_config *wc, const char *name)
{
	for (size_t i = 0; i < wc->n_users; i++)
		if (!strcmp(wc->users[i].name, name))
			return &wc->users[i];
	return NULL;
}

/*
 * Runs bcrypt of password against user's hash (the decoy's when the user is
 * unknown), if its turn comes before `until`. Returns true on a match.
 */
static bool bcrypt_check(struct basic_auth *ba, const struct web_user *u, const char *password,
			 double until)
{
	const struct web_user *h = u ? u : &ba->wc->users[ba->decoy];
	struct timespec turn = to_timespec(until);
	const char *out;
	double t0;
	bool match;

	if (pthread_mutex_clocklock(&ba->bcrypt_lock, CLOCK_MONOTONIC, &turn) != 0) {
		__atomic_add_fetch(&n_busy, 1, __ATOMIC_RELAXED);
		return false;
	}
	t0 = now_seconds();
	out = crypt_rn(password, h->hash, ba->cd, sizeof(*ba->cd));
	match = out && same_string(out, h->hash);
	pthread_mutex_unlock(&ba->bcrypt_lock);
	__atomic_add_fetch(&n_bcrypt, 1, __ATOMIC_RELAXED);
	if (h->cost == ba->wc->users[ba->decoy].cost)
		costliest_observed(ba, now_seconds() - t0);
	return match;
}

/*
 * Every rejection ends at the same time, whatever work it did and whoever it
 * named. A padding rejection holds its connection's thread, so a flood of
 * them could hold every thread the server has: past PADDERS_MAX at once the
 * rest answer at once. Which ones do depends on the load, never on the user
 * or the password, so nothing is told by it.
 */
static void pad_rejection(double until)
{
	static unsigned padders;

	if (__atomic_add_fetch(&padders, 1, __ATOMIC_RELAXED) <= PADDERS_MAX)
		sleep_until(until);
	__atomic_sub_fetch(&padders, 1, __ATOMIC_RELAXED);
}

bool basic_auth_allows(struct basic_auth *ba, const char *user, const char *password)
{
	double start = now_seconds(), costliest;
	const struct web_user *u;
	uint8_t digest[DIGEST_LEN];

	if (!user || !password || !ba->wc->n_users)
		return false;
	if (!digest_of(user, password, digest))
		return false;
	u = find_user(ba->wc, user);
	if (cache_has(ba, digest, &costliest) && u) {
		__atomic_add_fetch(&n_cached, 1, __ATOMIC_RELAXED);
		return true;
	}
	if (bcrypt_check(ba, u, password, start + costliest / 2) && u) {
		cache_add(ba, digest);
		return true;
	}
	pad_rejection(start + 2 * costliest);
	return false;
}
