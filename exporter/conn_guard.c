/* SPDX-License-Identifier: MIT */
#include "conn_guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

/* Seconds between two log lines about evictions. */
#define EVICT_LOG_SECONDS 60

struct conn_slot {
	const void *conn; /* NULL: free */
	int fd;		  /* libmicrohttpd's; valid until conn_guard_closed() */
	bool busy;	  /* a complete request is being answered */
	bool evicted;	  /* shut down already: not chosen twice */
	uint64_t since;	  /* when it opened or last finished a request: an order, not a time */
};

struct conn_guard {
	pthread_mutex_t lock; /* everything below */
	struct conn_slot *slots;
	unsigned n_slots, keep, open;
	uint64_t clock; /* ticks once per event: orders the slots */
	time_t logged;	/* CLOCK_MONOTONIC seconds of the last log line */
};

static uint64_t evictions; /* atomic */

uint64_t conn_guard_evictions(void)
{
	return __atomic_load_n(&evictions, __ATOMIC_RELAXED);
}

struct conn_guard *conn_guard_new(unsigned slots, unsigned keep)
{
	struct conn_guard *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->slots = calloc(slots, sizeof(*g->slots));
	if (!g->slots || pthread_mutex_init(&g->lock, NULL) != 0) {
		free(g->slots);
		free(g);
		return NULL;
	}
	g->n_slots = slots;
	g->keep = keep;
	return g;
}

void conn_guard_free(struct conn_guard *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g->slots);
	free(g);
}

static void log_eviction(struct conn_guard *g)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (g->logged && now.tv_sec - g->logged < EVICT_LOG_SECONDS)
		return;
	g->logged = now.tv_sec ? now.tv_sec : 1;
	log_warn("too many connections: closing the one idle longest (slow clients?)", NULL);
}

/* Shuts down the idle connection that waited longest; called locked. */
static void evict_one(struct conn_guard *g)
{
	struct conn_slot *oldest = NULL;

	for (unsigned i = 0; i < g->n_slots; i++) {
		struct conn_slot *s = &g->slots[i];

		if (s->conn && !s->busy && !s->evicted && (!oldest || s->since < oldest->since))
			oldest = s;
	}
	if (!oldest)
		return;
	/* The fd is libmicrohttpd's and still open (it leaves the table before
	 * being closed, under this lock): its thread sees the end and closes it. */
	shutdown(oldest->fd, SHUT_RDWR);
	oldest->evicted = true;
	__atomic_add_fetch(&evictions, 1, __ATOMIC_RELAXED);
	log_eviction(g);
}

struct conn_slot *conn_guard_opened(struct conn_guard *g, const void *conn, int fd)
{
	struct conn_slot *slot = NULL;

	pthread_mutex_lock(&g->lock);
	for (unsigned i = 0; i < g->n_slots && !slot; i++)
		if (!g->slots[i].conn)
			slot = &g->slots[i];
	if (slot) {
		*slot = (struct conn_slot){.conn = conn, .fd = fd, .since = ++g->clock};
		g->open++;
	}
	if (g->open > g->keep)
		evict_one(g);
	pthread_mutex_unlock(&g->lock);
	return slot;
}

void conn_guard_closed(struct conn_guard *g, struct conn_slot *slot)
{
	if (!slot)
		return;
	pthread_mutex_lock(&g->lock);
	if (slot->conn) {
		slot->conn = NULL;
		g->open--;
	}
	pthread_mutex_unlock(&g->lock);
}

void conn_guard_busy(struct conn_guard *g, struct conn_slot *slot, const void *conn, bool busy)
{
	if (!slot)
		return;
	pthread_mutex_lock(&g->lock);
	if (slot->conn == conn) { /* still this connection's slot */
		slot->busy = busy;
		if (!busy)
			slot->since = ++g->clock;
	}
	pthread_mutex_unlock(&g->lock);
}
