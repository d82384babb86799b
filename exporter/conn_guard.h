/* SPDX-License-Identifier: MIT */
/*
 * conn_guard: keeps slow clients from holding every connection.
 *
 * A connection thread waits for as long as its client sends a byte now and
 * then (libmicrohttpd's timeout only counts silence), so clients that open
 * connections and trickle into them could take every connection the exporter
 * allows, from as many addresses as they like, and lock Prometheus out. The
 * guard tracks the connections of one listener: once more than `keep` are
 * open, each new one closes the connection that has waited longest without
 * a complete request (never one whose request is being answered). A scraper
 * sends its request at once, so it always gets its turn; a slow client loses
 * its connection to the next newcomer.
 */
#ifndef MEMTIDE_CONN_GUARD_H
#define MEMTIDE_CONN_GUARD_H

#include <stdbool.h>
#include <stdint.h>

struct conn_guard;
struct conn_slot;

/* Tracks up to `slots` connections, closing idle ones past `keep`. NULL: no memory. */
struct conn_guard *conn_guard_new(unsigned slots, unsigned keep);
void conn_guard_free(struct conn_guard *g);

/*
 * A connection (identified by conn, its socket fd) opened; returns its slot,
 * or NULL when the table is full (it is then not tracked, and not evictable).
 */
struct conn_slot *conn_guard_opened(struct conn_guard *g, const void *conn, int fd);

/* The connection of slot closed (its fd is still open): it leaves the table. */
void conn_guard_closed(struct conn_guard *g, struct conn_slot *slot);

/* A complete request is being answered on conn (busy), or was answered (idle again). */
void conn_guard_busy(struct conn_guard *g, struct conn_slot *slot, const void *conn, bool busy);

/* Connections closed to make room, since the exporter started. */
uint64_t conn_guard_evictions(void);

#endif
