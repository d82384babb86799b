/* SPDX-License-Identifier: MIT */
/* leaky_webapp: command-line flags. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "webapp.h"

#define MAX_BYTES (64u << 20)

static const char usage[] =
    "usage: leaky_webapp [FLAGS]\n"
    "A small web app whose session sweeper can forget sessions (memtide's demo).\n"
    "\n"
    "  --bind=ADDR                    IPv4 or IPv6 address to listen on (127.0.0.1)\n"
    "  --port=N                       TCP port (8080); 0 picks a free one\n"
    "  --session-ttl=SECONDS          idle lifetime of a session (30)\n"
    "  --sweep-interval=SECONDS       time between sweeps (5, or the TTL if shorter)\n"
    "  --leak-fraction=F              share of expired sessions the sweeper forgets,\n"
    "                                 0..1 (0: no leak)\n"
    "  --leak-bytes-per-request=N     bytes each GET /page leaks (0)\n"
    "  --session-bytes=N              per-session state allocated at login (4096)\n"
    "  --page-bytes=N                 scratch memory of each GET /page (16384)\n"
    "  --threads=N                    HTTP worker threads (4)\n"
    "  --seed=N                       seed of the session ids, hence of which sessions\n"
    "                                 leak (0)\n"
    "  --help                         this text\n"
    "\n"
    "Prints \"listening port=N\" on stdout once it serves. SIGTERM or SIGINT\n"
    "stop it (exit 0); bad flags exit 2.\n";

enum {
	OPT_BIND = 256,
	OPT_PORT,
	OPT_TTL,
	OPT_SWEEP,
	OPT_LEAK_FRACTION,
	OPT_LEAK_BYTES,
	OPT_SESSION_BYTES,
	OPT_PAGE_BYTES,
	OPT_THREADS,
	OPT_SEED,
	OPT_HELP,
};

static const struct option longopts[] = {
    {"bind", required_argument, NULL, OPT_BIND},
    {"port", required_argument, NULL, OPT_PORT},
    {"session-ttl", required_argument, NULL, OPT_TTL},
    {"sweep-interval", required_argument, NULL, OPT_SWEEP},
    {"leak-fraction", required_argument, NULL, OPT_LEAK_FRACTION},
    {"leak-bytes-per-request", required_argument, NULL, OPT_LEAK_BYTES},
    {"session-bytes", required_argument, NULL, OPT_SESSION_BYTES},
    {"page-bytes", required_argument, NULL, OPT_PAGE_BYTES},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Literal addresses only: no name lookup at start-up, no surprise interface. */
static bool valid_address(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

static void set_defaults(struct webapp_options *o)
{
	*o = (struct webapp_options){
	    .bind = "127.0.0.1",
	    .port = 8080,
	    .session_ttl = 30.0,
	    .sweep_interval = -1.0, /* derived from the TTL below */
	    .session_bytes = 4096,
	    .page_bytes = 16384,
	    .threads = 4,
	};
}

/* One flag; returns 0 or -EINVAL. */
static int apply(struct webapp_options *o, int opt, const char *arg)
{
	uint64_t u;
	int err;

	switch (opt) {
	case OPT_BIND:
		o->bind = arg;
		return valid_address(arg) ? 0
					  : flag_bad("bind", arg, "not an IPv4 or IPv6 address");
	case OPT_PORT:
		err = flag_u64("port", arg, 0, 65535, &u);
		o->port = (unsigned)u;
		return err;
	case OPT_TTL:
		return flag_double("session-ttl", arg, 0.1, 86400.0 * 365, &o->session_ttl);
	case OPT_SWEEP:
		return flag_double("sweep-interval", arg, 0.05, 3600.0, &o->sweep_interval);
	case OPT_LEAK_FRACTION:
		return flag_double("leak-fraction", arg, 0.0, 1.0, &o->leak_fraction);
	case OPT_LEAK_BYTES:
		err = flag_u64("leak-bytes-per-request", arg, 0, MAX_BYTES, &u);
		o->leak_bytes_per_request = (size_t)u;
		return err;
	case OPT_SESSION_BYTES:
		err = flag_u64("session-bytes", arg, 0, MAX_BYTES, &u);
		o->session_bytes = (size_t)u;
		return err;
	case OPT_PAGE_BYTES:
		err = flag_u64("page-bytes", arg, 0, MAX_BYTES, &u);
		o->page_bytes = (size_t)u;
		return err;
	case OPT_THREADS:
		err = flag_u64("threads", arg, 0, 256, &u);
		if (!err && u == 0)
			return flag_bad("threads", arg, "must be at least 1");
		o->threads = (unsigned)u;
		return err;
	case OPT_SEED:
		return flag_u64("seed", arg, 0, UINT64_MAX, &o->seed);
	default:
		return -EINVAL;
	}
}

int webapp_parse_args(int argc, char **argv, struct webapp_options *opts)
{
	int opt, err;

	set_defaults(opts);
	opterr = 0; /* our own messages, and exit 2 rather than getopt's wording */
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(usage, stdout);
			return 1;
		}
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "leaky_webapp: unknown flag or missing value: %s\n",
				argv[optind - 1]);
			fputs("try --help\n", stderr);
			return -EINVAL;
		}
		err = apply(opts, opt, optarg);
		if (err < 0)
			return err;
	}
	if (optind < argc) {
		fprintf(stderr, "leaky_webapp: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	if (opts->sweep_interval < 0)
		opts->sweep_interval = opts->session_ttl < 5.0 ? opts->session_ttl : 5.0;
	return 0;
}
