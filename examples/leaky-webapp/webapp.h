/* SPDX-License-Identifier: MIT */
/*
 * leaky_webapp: a small web application with the postmortems' bug, for
 * memtide's demo and end-to-end tests. One concern per file:
 *
 *	options.c	command-line flags
 *	store.c		the session table, its idle TTL, the sweeper and the bug
 *	http.c		the HTTP handlers (libmicrohttpd)
 *	leaky_webapp.c	main: wiring, signals, shutdown
 */
#ifndef LEAKY_WEBAPP_H
#define LEAKY_WEBAPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBAPP_EXIT_USAGE 2
/* 128 bits of session id, as hex. */
#define WEBAPP_SID_LEN 32

struct webapp_options {
	const char *bind;	       /* IPv4 or IPv6 literal */
	unsigned port;		       /* 0: the kernel picks */
	double session_ttl;	       /* idle seconds before a session expires */
	double sweep_interval;	       /* seconds between sweeps */
	double leak_fraction;	       /* share of expired sessions the sweeper forgets */
	size_t leak_bytes_per_request; /* bytes each GET /page leaks */
	size_t session_bytes;	       /* per-session state */
	size_t page_bytes;	       /* per-request scratch memory */
	unsigned threads;	       /* HTTP worker threads */
	uint64_t seed;		       /* session ids, hence which sessions leak */
};

/*
 * Parses argv into opts. Returns 0, 1 when --help was printed (exit 0), or
 * -EINVAL after printing why on stderr (exit WEBAPP_EXIT_USAGE).
 */
int webapp_parse_args(int argc, char **argv, struct webapp_options *opts);

/* Counters of the store, for /healthz and the exit line. */
struct store_stats {
	size_t live;	       /* sessions in the table */
	uint64_t created;      /* logins */
	uint64_t logged_out;   /* closed by POST /logout */
	uint64_t expired;      /* expired and properly freed by the sweeper */
	uint64_t forgotten;    /* expired, unlinked, never freed nor closed: the bug */
	uint64_t leaked_bytes; /* bytes deliberately leaked, both leaks together */
};

struct store;

/* The table and its sweeper thread. Returns 0 or a negative errno. */
int store_create(const struct webapp_options *opts, struct store **out);
/* Stops the sweeper, then closes and frees every session still in the table. */
void store_destroy(struct store *st);

/*
 * A new session for user (may be NULL); copies its id into
 * sid[WEBAPP_SID_LEN + 1]. Returns 0 or -ENOMEM.
 */
int store_login(struct store *st, const char *user, char *sid);
/*
 * Touches the session sid and writes a line describing it into buf.
 * Returns 0, or -ENOENT for an unknown or expired session.
 */
int store_touch(struct store *st, const char *sid, char *buf, size_t len);
/* Closes and frees session sid. Returns 0 or -ENOENT. */
int store_logout(struct store *st, const char *sid);
/* Accounts bytes deliberately leaked outside the store. */
void store_note_leak(struct store *st, size_t bytes);
void store_stats(struct store *st, struct store_stats *out);

struct http_server;

/*
 * Serves the app on opts->bind:opts->port with opts->threads threads; *port
 * gets the bound port. Returns 0 or a negative errno.
 */
int http_start(const struct webapp_options *opts, struct store *st, struct http_server **out,
	       unsigned *port);
/* Stops serving; returns once no handler runs any more. */
void http_stop(struct http_server *srv);

#endif /* LEAKY_WEBAPP_H */
