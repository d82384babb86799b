/* SPDX-License-Identifier: MIT */
/*
 * leaky_webapp: the session table, its idle TTL and the sweeper — and the bug.
 *
 * Sessions live in a chained hash table behind one mutex. Each holds a memtide
 * ticket, opened at login and closed when the session ends (logout or expiry),
 * so memtide sees every live session and its age. The sweeper thread expires
 * idle sessions every sweep interval. With --leak-fraction F it "forgets" that
 * share of them: unlinked from the table, never freed, ticket never closed.
 * That is the postmortems' bug: the application no longer knows the session,
 * but its memory stays and it keeps ageing in memtide's view.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memtide.h>

#include "webapp.h"

/* Fixed: a demo holds hundreds of sessions, not millions; no resizing needed. */
#define BUCKETS 4096u
#define USER_MAX 32

struct session {
	struct session *next;
	char sid[WEBAPP_SID_LEN + 1];
	char user[USER_MAX];
	uint64_t ticket;
	double created_at; /* CLOCK_MONOTONIC seconds */
	double last_access;
	unsigned pages;
	size_t state_len;
	unsigned char *state; /* the "cart": per-session state */
};

struct store {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* signals the sweeper to stop */
	pthread_t sweeper;
	bool stopping;
	struct session *buckets[BUCKETS];
	struct store_stats stats;
	uint64_t next_seq;
	struct memtide_pool *pool;
	double ttl, sweep_interval, leak_fraction;
	size_t session_bytes;
	uint64_t seed;
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64's finaliser: a cheap, well-mixed 64-bit hash. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t hash_sid(const char *sid)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then mixed */

	for (; *sid; sid++)
		h = (h ^ (unsigned char)*sid) * 0x100000001b3ull;
	return mix64(h);
}

/*
 * Session ids come from a sequence number and the seed, not from a random
 * source, so that a run can be replayed: the same logins get the same ids and
 * the sweeper forgets the same sessions. Fine for a demo on loopback; a real
 * application must use unpredictable ids (getrandom).
 */
static void make_sid(uint64_t seed, uint64_t seq, char *sid)
{
	uint64_t a = mix64(seed ^ mix64(seq + 0x9e3779b97f4a7c15ull));
	uint64_t b = mix64(a ^ 0x632be59bd9b4e019ull);

	snprintf(sid, WEBAPP_SID_LEN + 1, "%016" PRIx64 "%016" PRIx64, a, b);
}

/* Whether the sweeper forgets this session: decided by its id, reproducibly. */
static bool forgets(const struct store *st, const struct session *s)
{
	if (st->leak_fraction <= 0.0)
		return false;
	/* The hash's top 53 bits as a uniform number in [0, 1). */
	return (double)(hash_sid(s->sid) >> 11) * 0x1p-53 < st->leak_fraction;
}

static struct session **bucket_of(struct store *st, const char *sid)
{
	return &st->buckets[hash_sid(sid) % BUCKETS];
}

/* The link pointing at session sid, or NULL. Called with the lock held. */
static struct session **find_link(struct store *st, const char *sid)
{
	struct session **link;

	for (link = bucket_of(st, sid); *link; link = &(*link)->next)
		if (strcmp((*link)->sid, sid) == 0)
			return link;
	return NULL;
}

static void session_free(struct session *s)
{
	free(s->state);
	free(s);
}

/* The session ended properly: tell memtide, release its memory. */
static void session_end(struct store *st, struct session *s)
{
	memtide_session_close(st->pool, s->ticket);
	session_free(s);
}

static struct session *session_new(const struct store *st, const char *user)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->state_len = st->session_bytes;
	s->state = malloc(s->state_len ? s->state_len : 1);
	if (!s->state) {
		free(s);
		return NULL;
	}
	/* Written, not just reserved, so the state shows in resident memory too. */
	memset(s->state, 0xa5, s->state_len);
	snprintf(s->user, sizeof(s->user), "%s", user && *user ? user : "anonymous");
	s->created_at = s->last_access = now_mono();
	return s;
}

int store_login(struct store *st, const char *user, char *sid)
{
	struct session *s = session_new(st, user);
	struct session **head;
	int err;

	if (!s)
		return -ENOMEM;
	err = pthread_mutex_lock(&st->lock);
	if (err) {
		session_free(s);
		return -err;
	}
	make_sid(st->seed, st->next_seq++, s->sid);
	s->ticket = memtide_session_open(st->pool);
	head = bucket_of(st, s->sid);
	s->next = *head;
	*head = s;
	st->stats.live++;
	st->stats.created++;
	memcpy(sid, s->sid, sizeof(s->sid));
	pthread_mutex_unlock(&st->lock);
	return 0;
}

int store_touch(struct store *st, const char *sid, char *buf, size_t len)
{
	struct session **link;
	struct session *s;
	int err = pthread_mutex_lock(&st->lock);

	if (err)
		return -err;
	link = find_link(st, sid);
	if (!link) {
		pthread_mutex_unlock(&st->lock);
		return -ENOENT;
	}
	s = *link;
	s->last_access = now_mono();
	s->pages++;
	if (s->state_len) /* the page updates the cart */
		s->state[s->pages % s->state_len] = (unsigned char)s->pages;
	snprintf(buf, len, "user=%s pages=%u age_seconds=%.1f\n", s->user, s->pages,
		 s->last_access - s->created_at);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

int store_logout(struct store *st, const char *sid)
{
	struct session **link;
	struct session *s = NULL;
	int err = pthread_mutex_lock(&st->lock);

	if (err)
		return -err;
	link = find_link(st, sid);
	if (link) {
		s = *link;
		*link = s->next;
		st->stats.live--;
		st->stats.logged_out++;
	}
	pthread_mutex_unlock(&st->lock);
	if (!s)
		return -ENOENT;
	session_end(st, s);
	return 0;
}

void store_note_leak(struct store *st, size_t bytes)
{
	if (pthread_mutex_lock(&st->lock) == 0) {
		st->stats.leaked_bytes += bytes;
		pthread_mutex_unlock(&st->lock);
	}
}

void store_stats(struct store *st, struct store_stats *out)
{
	if (pthread_mutex_lock(&st->lock) == 0) {
		*out = st->stats;
		pthread_mutex_unlock(&st->lock);
	} else {
		memset(out, 0, sizeof(*out));
	}
}

/* Unlinks the sessions idle since before cutoff onto a list. Lock held. */
static struct session *unlink_expired(struct store *st, double cutoff)
{
	struct session *expired = NULL, **link, *s;
	unsigned i;

	for (i = 0; i < BUCKETS; i++) {
		link = &st->buckets[i];
		while ((s = *link)) {
			if (s->last_access >= cutoff) {
				link = &s->next;
				continue;
			}
			*link = s->next;
			s->next = expired;
			expired = s;
			st->stats.live--;
		}
	}
	return expired;
}

/* One sweep: expire idle sessions, forgetting the unlucky share of them. */
static void sweep(struct store *st)
{
	struct session *expired, *s;
	uint64_t freed = 0, forgotten = 0, lost_bytes = 0;

	expired = unlink_expired(st, now_mono() - st->ttl);
	while ((s = expired)) {
		expired = s->next;
		if (forgets(st, s)) {
			/*
			 * THE BUG: the session is gone from the table but neither
			 * freed nor closed. Nothing points at it any more.
			 */
			s->next = NULL;
			forgotten++;
			lost_bytes += sizeof(*s) + s->state_len;
			continue;
		}
		session_end(st, s);
		freed++;
	}
	st->stats.expired += freed;
	st->stats.forgotten += forgotten;
	st->stats.leaked_bytes += lost_bytes;
}

static int wait_interval(struct store *st)
{
	struct timespec until;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &until);
	secs = st->sweep_interval;
	until.tv_sec += (time_t)secs;
	until.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!st->stopping)
		if (pthread_cond_timedwait(&st->wake, &st->lock, &until) == ETIMEDOUT)
			break;
	return st->stopping ? -ECANCELED : 0;
}

/*
 * The sweeper holds the lock for the whole sweep, including the frees: with
 * hundreds of sessions that is microseconds, and it keeps the counters exact.
 */
static void *sweeper_main(void *arg)
{
	struct store *st = arg;

	if (pthread_mutex_lock(&st->lock))
		return NULL;
	while (wait_interval(st) == 0)
		sweep(st);
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static int init_sync(struct store *st)
{
	pthread_condattr_t attr;
	int err;

	err = pthread_condattr_init(&attr);
	if (err)
		return -err;
	err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(&st->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (err)
		return -err;
	err = pthread_mutex_init(&st->lock, NULL);
	if (err) {
		pthread_cond_destroy(&st->wake);
		return -err;
	}
	return 0;
}

int store_create(const struct webapp_options *opts, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	err = init_sync(st);
	if (err)
		goto fail_free;
	st->ttl = opts->session_ttl;
	st->sweep_interval = opts->sweep_interval;
	st->leak_fraction = opts->leak_fraction;
	st->session_bytes = opts->session_bytes;
	st->seed = opts->seed;
	/* NULL when the agent is off: every memtide call then does nothing. */
	st->pool = memtide_pool("sessions", opts->session_ttl);
	err = -pthread_create(&st->sweeper, NULL, sweeper_main, st);
	if (err)
		goto fail_sync;
	*out = st;
	return 0;

fail_sync:
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->lock);
fail_free:
	free(st);
	return err;
}

void store_destroy(struct store *st)
{
	struct session *s;
	unsigned i;

	if (!st)
		return;
	if (pthread_mutex_lock(&st->lock) == 0) {
		st->stopping = true;
		pthread_cond_signal(&st->wake);
		pthread_mutex_unlock(&st->lock);
	}
	pthread_join(st->sweeper, NULL);
	/* Sessions still in the table end properly; the forgotten stay lost. */
	for (i = 0; i < BUCKETS; i++) {
		while ((s = st->buckets[i])) {
			st->buckets[i] = s->next;
			session_end(st, s);
		}
	}
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->lock);
	free(st);
}
