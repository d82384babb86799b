/* SPDX-License-Identifier: MIT */
/*
 * leaky_webapp: main. Parses the flags, starts the session store and the HTTP
 * server, then waits for SIGTERM or SIGINT and shuts down cleanly: everything
 * is freed except what the bug deliberately leaked.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webapp.h"

/*
 * Blocks the stop signals before any thread exists, so every thread inherits
 * the mask and only sigwait() in main sees them. SIGPIPE is ignored: a client
 * that hangs up must not kill the server.
 */
static int block_signals(sigset_t *set)
{
	int err;

	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	err = pthread_sigmask(SIG_BLOCK, set, NULL);
	if (err)
		return -err;
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -errno;
	return 0;
}

static void print_exit_line(struct store *st)
{
	struct store_stats s;

	store_stats(st, &s);
	fprintf(stderr,
		"leaky_webapp: stopped sessions_created=%" PRIu64 " logged_out=%" PRIu64
		" expired=%" PRIu64 " forgotten=%" PRIu64 " leaked_bytes=%" PRIu64 "\n",
		s.created, s.logged_out, s.expired, s.forgotten, s.leaked_bytes);
}

static int serve(const struct webapp_options *opts, const sigset_t *stop)
{
	struct http_server *srv = NULL;
	struct store *st = NULL;
	unsigned port = 0;
	int err, sig;

	err = store_create(opts, &st);
	if (err < 0) {
		fprintf(stderr, "leaky_webapp: session store: %s\n", strerror(-err));
		return err;
	}
	err = http_start(opts, st, &srv, &port);
	if (err < 0) {
		fprintf(stderr, "leaky_webapp: cannot listen on %s port %u\n", opts->bind,
			opts->port);
		goto out;
	}
	/* The line tests and scripts wait for; flushed because stdout may be a pipe. */
	printf("listening port=%u\n", port);
	fflush(stdout);
	err = -sigwait(stop, &sig);
	http_stop(srv);
out:
	print_exit_line(st);
	store_destroy(st);
	return err;
}

int main(int argc, char **argv)
{
	struct webapp_options opts;
	sigset_t stop;
	int err;

	err = webapp_parse_args(argc, argv, &opts);
	if (err > 0)
		return 0;
	if (err < 0)
		return WEBAPP_EXIT_USAGE;
	err = block_signals(&stop);
	if (err < 0) {
		fprintf(stderr, "leaky_webapp: signals: %s\n", strerror(-err));
		return 1;
	}
	return serve(&opts, &stop) < 0 ? 1 : 0;
}
