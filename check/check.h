/* SPDX-License-Identifier: MIT */
/*
 * memtide-check: does a server's live heap, or its live sessions, keep
 * growing under repeated identical load? The parts, one file each:
 *
 *	options.c	flags and --help
 *	runner.c	the server and the load: fork/exec, process groups,
 *			timeouts, SIGTERM then SIGKILL, reaping, signals
 *	probe.c		one reading of every live segment of the server tree
 *	quiet.c		waiting for a quiet point after a cycle
 *	verdict.c	Theil–Sen slopes, the share of steps that grew, verdicts
 *	report.c	the text report and the JSON file
 *	plot.c		the SVG plot through gnuplot
 *	main.c		wiring
 *
 * Everything is bounded: cycles, pools, processes and sites have fixed caps,
 * every wait has a deadline.
 */
#ifndef MEMTIDE_CHECK_H
#define MEMTIDE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent/segment.h"

#define CHECK_MAX_CYCLES 200
#define CHECK_MAX_WARMUP 50
#define CHECK_MIN_CYCLES 5
#define CHECK_MAX_POOLS MEMTIDE_SEG_MAX_POOLS
#define CHECK_MAX_PROCS 64
/* Distinct site names one reading keeps; the rest count as "other". */
#define CHECK_MAX_SITES 2048
#define CHECK_SITE_LABEL 384
#define CHECK_TOP_SITES 5
/* A heap leak needs at least this share of the cycle-to-cycle steps to grow. */
#define CHECK_GROWN_SHARE 0.6

enum check_exit { CHECK_PASS = 0, CHECK_LEAK = 1, CHECK_ERROR = 2 };

struct check_options {
	unsigned cycles, warmup;
	double max_growth;	   /* bytes per cycle */
	double max_session_growth; /* sessions per cycle */
	double quiet;		   /* seconds of quiet after each cycle */
	double quiet_timeout;	   /* at most this long for a quiet point */
	double timeout;		   /* the whole check */
	double start_timeout, load_timeout;
	double kill_grace; /* SIGTERM to SIGKILL */
	uint64_t sample_bytes;
	pid_t attach_pid; /* --pid: no server is started */
	const char *load;
	const char *agent;
	const char *segment_dir; /* attach mode only */
	const char *ready_line;	 /* POSIX extended regex */
	unsigned ready_port;
	const char *server_log;
	const char *json, *plot;
	char **server_argv; /* NULL-terminated; NULL in attach mode */
};

/* Returns 0, 1 after --help (exit 0), or CHECK_ERROR after saying why. */
int check_parse_args(int argc, char **argv, struct check_options *o);

/* ---- one reading of the server tree (probe.c) ---- */

struct check_pool {
	char name[MEMTIDE_SEG_POOL_NAME];
	double ttl_seconds;
	uint64_t live;
};

struct check_site {
	char label[CHECK_SITE_LABEL];
	double live_bytes;
};

struct check_reading {
	uint64_t live_bytes, live_objects, rss_bytes;
	unsigned processes, agent_off;
	char off_reason[32];
	unsigned pool_count;
	struct check_pool pools[CHECK_MAX_POOLS];
	uint64_t sessions; /* over every pool */
	/* Sites, only when asked for (they are named through the live process). */
	struct check_site *sites;
	size_t site_count;
	uint64_t sample_bytes;
};

struct check_probe;

/* Reads the segments in dir: every live process's in a private directory,
 * only pid's when pid > 0 (attach mode). */
int check_probe_open(struct check_probe **out, const char *dir, pid_t pid);
void check_probe_close(struct check_probe *p);
/* 0, or -errno; -ENOENT when no live process has a ready segment. With
 * sites, the sampled sites are read and named too (caller frees r->sites). */
int check_probe_read(struct check_probe *p, struct check_reading *r, bool sites);
void check_reading_release(struct check_reading *r);

/* ---- processes (runner.c) ---- */

struct check_runner;

int check_runner_new(struct check_runner **out, const struct check_options *o);
/* Starts the server with the agent preloaded into dir; 0 or CHECK_ERROR (said). */
int check_runner_start_server(struct check_runner *r, const char *dir, const char *agent);
/* Waits up to seconds for ready() (polled) and the ready line or port. */
int check_runner_wait_ready(struct check_runner *r, struct check_probe *probe, double seconds);
/* Runs the load command once; 0 or CHECK_ERROR (said). */
int check_runner_load(struct check_runner *r, const char *label);
/* Sleeps, forwarding server output; -EINTR when interrupted or the server
 * died (said), else 0. */
int check_runner_pause(struct check_runner *r, double seconds);
bool check_runner_server_alive(struct check_runner *r);
/* Stops and reaps everything started; idempotent. */
void check_runner_stop(struct check_runner *r);
void check_runner_free(struct check_runner *r);
/* Installs the SIGINT/SIGTERM/SIGHUP handlers; 0 or -errno. */
int check_signals_install(void);
bool check_interrupted(void);
double check_now(void);

/* ---- quiet points (quiet.c) ---- */

struct check_point {
	struct check_reading r;
	bool stable;   /* live bytes held still across two readings */
	double waited; /* seconds from the end of the load to the reading */
	double load_s; /* seconds the load command took */
};

/* Waits for the quiet point after a cycle and reads it; 0 or CHECK_ERROR. */
int check_quiet_point(struct check_runner *run, struct check_probe *probe,
		      const struct check_options *o, uint64_t baseline_sessions, bool sites,
		      struct check_point *out);

/* ---- verdict (verdict.c) ---- */

/* Theil–Sen: the median of the pairwise slopes of y over its index; n <= CHECK_MAX_CYCLES + 1. */
double check_theil_sen(const double *y, size_t n);
/* The share of steps y[i] > y[i - 1], over n - 1 steps. */
double check_grown_share(const double *y, size_t n);

struct check_pool_verdict {
	char name[MEMTIDE_SEG_POOL_NAME];
	double slope;
	uint64_t baseline, first, last;
	bool leak;
};

struct check_site_growth {
	char label[CHECK_SITE_LABEL];
	double per_cycle; /* estimated bytes */
};

struct check_verdict {
	enum check_exit exit;
	size_t n; /* points judged: the last warm-up quiet point and each cycle's */
	double heap_slope, grown_share, rss_slope;
	bool heap_leak;
	unsigned pool_count;
	struct check_pool_verdict pools[CHECK_MAX_POOLS];
	bool session_leak;
	size_t site_count;
	struct check_site_growth sites[CHECK_TOP_SITES];
};

/* Judges points[0..n) (points[0]: the quiet point that ends the warm-up). */
void check_judge(const struct check_point *points, size_t n, const struct check_reading *baseline,
		 const struct check_options *o, struct check_verdict *v);

/* ---- report (report.c, plot.c) ---- */

void check_report_text(FILE *out, const struct check_options *o, const struct check_point *points,
		       size_t n, const struct check_verdict *v, double seconds);
int check_report_json(const char *path, const struct check_options *o,
		      const struct check_point *points, size_t n, const struct check_verdict *v,
		      double seconds);
/* 0, or -errno after saying why (the plot is optional: the verdict stands). */
int check_plot(const char *path, const char *tmpdir, const struct check_point *points, size_t n,
	       double kill_grace);

/* "64.0 KiB" */
void check_format_bytes(double bytes, char *buf, size_t len);

#endif
