/* SPDX-License-Identifier: MIT */
/*
 * memtide-check's flags. A bad flag is named with its value and why, and
 * exits 2, so that a CI job's log says what to fix.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"

static const char usage[] =
    "usage: memtide-check [FLAGS] --load=CMD -- SERVER [ARGS...]\n"
    "       memtide-check [FLAGS] --load=CMD --pid=PID\n"
    "\n"
    "Does the server's live heap, or its live sessions, keep growing under repeated\n"
    "identical load? Starts SERVER with libmemtide preloaded (its segments go to a\n"
    "private directory), runs CMD (with sh -c) for the warm-up cycles and then for\n"
    "the measured cycles, waits for a quiet point after each, and judges the trend.\n"
    "\n"
    "  --load=CMD               the load of one cycle; must exit 0 (required)\n"
    "  --cycles=K               measured cycles (8; at least 5)\n"
    "  --warmup=N               cycles run first and not judged (2)\n"
    "  --max-growth=SIZE        live-heap budget per cycle (64KiB); B, KiB, MiB, GiB, k, M, G\n"
    "  --max-session-growth=N   live sessions a pool may gain per cycle (0)\n"
    "  --quiet=SECONDS          quiet time after each cycle before reading (1)\n"
    "  --quiet-timeout=SECONDS  at most this long for the heap to hold still and the\n"
    "                           sessions to expire, after the quiet time (30)\n"
    "  --timeout=SECONDS        the whole check (600)\n"
    "  --start-timeout=SECONDS  for the server to be ready (20)\n"
    "  --load-timeout=SECONDS   for one run of the load command (120)\n"
    "  --kill-grace=SECONDS     from SIGTERM to SIGKILL when stopping (5)\n"
    "  --ready-line=REGEX       the server is ready once it prints a line matching\n"
    "                           this extended regex; its first group is given to the\n"
    "                           load as $MEMTIDE_CHECK_PORT\n"
    "  --ready-port=N           the server is ready once 127.0.0.1:N accepts\n"
    "  --server-log=FILE        the server's output goes there (default: stderr)\n"
    "  --sample-bytes=SIZE      the agent's mean bytes between samples (64KiB; 0: no\n"
    "                           allocation sites)\n"
    "  --agent=PATH             libmemtide.so to preload (default: next to this\n"
    "                           program, or in ../lib)\n"
    "  --pid=PID                judge a running process instead (its agent segment is\n"
    "                           in --segment-dir); no server is started\n"
    "  --segment-dir=DIR        with --pid: where its segment is ($MEMTIDE_DIR or /dev/shm)\n"
    "  --json=FILE              write the report as JSON\n"
    "  --plot=FILE.svg          plot the live heap and sessions with gnuplot\n"
    "  --help                   this text\n"
    "\n"
    "The verdict: the Theil-Sen slope of the live heap bytes over the quiet points\n"
    "(the last warm-up one and each cycle's) above --max-growth while at least 60%\n"
    "of the cycles grew is a heap leak; a pool whose live sessions trend up by more\n"
    "than --max-session-growth per cycle and end above their level before the load\n"
    "is a session leak. The load sees $MEMTIDE_CHECK_CYCLE (warmup-N or N).\n"
    "\n"
    "Exit status: 0 no leak, 1 leak found, 2 usage or set-up error (the server did\n"
    "not start, the agent is not loaded, the load command failed, too few cycles).\n";

enum {
	OPT_CYCLES = 256,
	OPT_WARMUP,
	OPT_MAX_GROWTH,
	OPT_MAX_SESSION_GROWTH,
	OPT_QUIET,
	OPT_QUIET_TIMEOUT,
	OPT_TIMEOUT,
	OPT_START_TIMEOUT,
	OPT_LOAD_TIMEOUT,
	OPT_KILL_GRACE,
	OPT_READY_LINE,
	OPT_READY_PORT,
	OPT_SERVER_LOG,
	OPT_SAMPLE_BYTES,
	OPT_AGENT,
	OPT_PID,
	OPT_SEGMENT_DIR,
	OPT_JSON,
	OPT_PLOT,
	OPT_LOAD,
	OPT_HELP,
};

static const struct option longopts[] = {
    {"cycles", required_argument, NULL, OPT_CYCLES},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"max-growth", required_argument, NULL, OPT_MAX_GROWTH},
    {"max-session-growth", required_argument, NULL, OPT_MAX_SESSION_GROWTH},
    {"quiet", required_argument, NULL, OPT_QUIET},
    {"quiet-timeout", required_argument, NULL, OPT_QUIET_TIMEOUT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"start-timeout", required_argument, NULL, OPT_START_TIMEOUT},
    {"load-timeout", required_argument, NULL, OPT_LOAD_TIMEOUT},
    {"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
    {"ready-line", required_argument, NULL, OPT_READY_LINE},
    {"ready-port", required_argument, NULL, OPT_READY_PORT},
    {"server-log", required_argument, NULL, OPT_SERVER_LOG},
    {"sample-bytes", required_argument, NULL, OPT_SAMPLE_BYTES},
    {"agent", required_argument, NULL, OPT_AGENT},
    {"pid", required_argument, NULL, OPT_PID},
    {"segment-dir", required_argument, NULL, OPT_SEGMENT_DIR},
    {"json", required_argument, NULL, OPT_JSON},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"load", required_argument, NULL, OPT_LOAD},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int bad(const char *flag, const char *value, const char *why)
{
	fprintf(stderr, "memtide-check: --%s=%s: %s\n", flag, value, why);
	return CHECK_ERROR;
}

static int parse_double(const char *flag, const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
		char why[96];

		snprintf(why, sizeof(why), "want a number from %g to %g", min, max);
		return bad(flag, s, why);
	}
	*out = v;
	return 0;
}

static int parse_unsigned(const char *flag, const char *s, unsigned min, unsigned max,
			  unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *s == '+' || v < min || v > max) {
		char why[96];

		snprintf(why, sizeof(why), "want a whole number from %u to %u", min, max);
		return bad(flag, s, why);
	}
	*out = (unsigned)v;
	return 0;
}

/* "64KiB", "64k", "1.5MiB", "65536": binary multiples, k = KiB. */
static int parse_size(const char *flag, const char *s, double max, double *out)
{
	static const struct {
		const char *suffix;
		double scale;
	} units[] = {{"", 1},
		     {"B", 1},
		     {"k", 1024.0},
		     {"K", 1024.0},
		     {"KiB", 1024.0},
		     {"KB", 1000.0},
		     {"M", 1048576.0},
		     {"MiB", 1048576.0},
		     {"MB", 1e6},
		     {"G", 1073741824.0},
		     {"GiB", 1073741824.0},
		     {"GB", 1e9}};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0 || *s == '-')
		return bad(flag, s, "want a size such as 65536, 64KiB or 1MiB");
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			v *= units[i].scale;
			if (v > max)
				return bad(flag, s, "too large");
			*out = v;
			return 0;
		}
	}
	return bad(flag, s, "unknown unit (B, KiB, MiB, GiB, k, M, G, KB, MB, GB)");
}

static int parse_one(int opt, const char *arg, struct check_options *o)
{
	double d;
	unsigned u;
	int err;

	switch (opt) {
	case OPT_CYCLES:
		return parse_unsigned("cycles", arg, 1, CHECK_MAX_CYCLES, &o->cycles);
	case OPT_WARMUP:
		return parse_unsigned("warmup", arg, 0, CHECK_MAX_WARMUP, &o->warmup);
	case OPT_MAX_GROWTH:
		return parse_size("max-growth", arg, 1e15, &o->max_growth);
	case OPT_MAX_SESSION_GROWTH:
		return parse_double("max-session-growth", arg, 0, 1e9, &o->max_session_growth);
	case OPT_QUIET:
		return parse_double("quiet", arg, 0, 3600, &o->quiet);
	case OPT_QUIET_TIMEOUT:
		return parse_double("quiet-timeout", arg, 0.5, 3600, &o->quiet_timeout);
	case OPT_TIMEOUT:
		return parse_double("timeout", arg, 1, 86400, &o->timeout);
	case OPT_START_TIMEOUT:
		return parse_double("start-timeout", arg, 0.1, 3600, &o->start_timeout);
	case OPT_LOAD_TIMEOUT:
		return parse_double("load-timeout", arg, 0.1, 86400, &o->load_timeout);
	case OPT_KILL_GRACE:
		return parse_double("kill-grace", arg, 0, 600, &o->kill_grace);
	case OPT_READY_PORT:
		return parse_unsigned("ready-port", arg, 1, 65535, &o->ready_port);
	case OPT_SAMPLE_BYTES:
		err = parse_size("sample-bytes", arg, (double)(1ull << 40), &d);
		o->sample_bytes = (uint64_t)d;
		return err;
	case OPT_PID:
		err = parse_unsigned("pid", arg, 1, 1u << 22, &u);
		o->attach_pid = (pid_t)u;
		return err;
	}
	return -1;
}

static int parse_string(int opt, const char *arg, struct check_options *o)
{
	switch (opt) {
	case OPT_READY_LINE:
		o->ready_line = arg;
		return 0;
	case OPT_SERVER_LOG:
		o->server_log = arg;
		return 0;
	case OPT_AGENT:
		o->agent = arg;
		return 0;
	case OPT_SEGMENT_DIR:
		o->segment_dir = arg;
		return 0;
	case OPT_JSON:
		o->json = arg;
		return 0;
	case OPT_PLOT:
		o->plot = arg;
		return 0;
	case OPT_LOAD:
		o->load = arg;
		return 0;
	}
	return parse_one(opt, arg, o);
}

/* What the flags mean together. */
static int check_combination(struct check_options *o)
{
	if (!o->load || !*o->load) {
		fprintf(stderr, "memtide-check: --load=CMD is required (the load of one cycle)\n");
		return CHECK_ERROR;
	}
	if (o->attach_pid && o->server_argv) {
		fprintf(stderr,
			"memtide-check: --pid=PID and a server command exclude each other\n");
		return CHECK_ERROR;
	}
	if (!o->attach_pid && !o->server_argv) {
		fprintf(stderr, "memtide-check: no server command: put it after --, or use "
				"--pid=PID\n");
		return CHECK_ERROR;
	}
	if (o->cycles < CHECK_MIN_CYCLES) {
		fprintf(stderr,
			"memtide-check: --cycles=%u: too few cycles for a verdict, want at "
			"least %d\n",
			o->cycles, CHECK_MIN_CYCLES);
		return CHECK_ERROR;
	}
	if (o->attach_pid && (o->ready_line || o->server_log || o->agent)) {
		fprintf(stderr, "memtide-check: --ready-line, --server-log and --agent need a "
				"server command, not --pid\n");
		return CHECK_ERROR;
	}
	if (!o->segment_dir)
		o->segment_dir = getenv("MEMTIDE_DIR") ? getenv("MEMTIDE_DIR") : "/dev/shm";
	return 0;
}

int check_parse_args(int argc, char **argv, struct check_options *o)
{
	int opt, err;

	*o = (struct check_options){.cycles = 8,
				    .warmup = 2,
				    .max_growth = 64 * 1024,
				    .quiet = 1,
				    .quiet_timeout = 30,
				    .timeout = 600,
				    .start_timeout = 20,
				    .load_timeout = 120,
				    .kill_grace = 5,
				    .sample_bytes = 64 * 1024};
	opterr = 0;
	/* "+": stop at the first non-flag, the server's name. */
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(usage, stdout);
			return 1;
		}
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "memtide-check: %s: %s (see --help)\n", argv[optind - 1],
				opt == ':' ? "needs a value" : "unknown flag or missing value");
			return CHECK_ERROR;
		}
		err = parse_string(opt, optarg, o);
		if (err)
			return CHECK_ERROR;
	}
	if (optind < argc)
		o->server_argv = &argv[optind];
	return check_combination(o);
}
