/* SPDX-License-Identifier: MIT */
/*
 * memtide-check: wiring. Start the server (or attach), warm up, run the
 * measured cycles with a quiet point after each, judge, report, and stop
 * and reap everything on every path, an interrupt included.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectors/symbolize.h"
#include "check.h"

/* The agent's limit on MEMTIDE_DIR is 220 bytes (docs/agent.md). */
#define DIR_MAX 200

struct check {
	struct check_options o;
	char tmpdir[DIR_MAX + 32];
	char agent[PATH_MAX + 32];
	struct check_runner *run;
	struct check_probe *probe;
	struct check_reading baseline;
	struct check_point *points;
	size_t n_points;
	double started, deadline;
};

/* libmemtide.so next to this program (the build directory) or in ../lib
 * (an installed tree). */
static int find_agent(struct check *c)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	/* Room for "/../lib/libmemtide.so" after any directory name. */
	_Static_assert(sizeof(c->agent) >= PATH_MAX + 22, "agent path buffer");

	if (c->o.agent) {
		snprintf(c->agent, sizeof(c->agent), "%s", c->o.agent);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return -errno;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		snprintf(c->agent, sizeof(c->agent), "%s/libmemtide.so", self);
		if (access(c->agent, R_OK) != 0)
			snprintf(c->agent, sizeof(c->agent), "%s/../lib/libmemtide.so", self);
	}
	if (access(c->agent, R_OK) != 0) {
		fprintf(stderr, "memtide-check: the agent %s cannot be read: %s (see --agent)\n",
			c->agent, strerror(errno));
		return CHECK_ERROR;
	}
	/* The dynamic linker resolves a relative LD_PRELOAD against the server's cwd. */
	if (c->agent[0] != '/' && realpath(c->agent, self))
		snprintf(c->agent, sizeof(c->agent), "%s", self);
	return 0;
}

/* A private directory for the segments of the server tree, mode 0700. */
static int make_tmpdir(struct check *c)
{
	const char *base = getenv("TMPDIR");

	if (!base || base[0] != '/' || strlen(base) > DIR_MAX)
		base = "/tmp";
	snprintf(c->tmpdir, sizeof(c->tmpdir), "%s/memtide-check.XXXXXX", base);
	if (!mkdtemp(c->tmpdir)) {
		fprintf(stderr, "memtide-check: cannot create a directory in %s: %s\n", base,
			strerror(errno));
		c->tmpdir[0] = '\0';
		return CHECK_ERROR;
	}
	return 0;
}

/* Removes the private directory and what killed processes left in it. */
static void remove_tmpdir(struct check *c)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (!c->tmpdir[0])
		return;
	d = opendir(c->tmpdir);
	if (d) {
		while ((de = readdir(d)) != NULL && n++ < 100000)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	if (rmdir(c->tmpdir) < 0)
		fprintf(stderr, "memtide-check: cannot remove %s: %s\n", c->tmpdir,
			strerror(errno));
	c->tmpdir[0] = '\0';
}

static int set_up(struct check *c)
{
	int err;

	err = check_runner_new(&c->run, &c->o);
	if (err)
		return CHECK_ERROR;
	if (c->o.attach_pid) {
		if (!check_runner_server_alive(c->run)) {
			fprintf(stderr, "memtide-check: --pid=%d: no such process\n",
				(int)c->o.attach_pid);
			return CHECK_ERROR;
		}
		err = check_probe_open(&c->probe, c->o.segment_dir, c->o.attach_pid);
	} else {
		if (find_agent(c) || make_tmpdir(c))
			return CHECK_ERROR;
		err = check_probe_open(&c->probe, c->tmpdir, 0);
	}
	if (err) {
		fprintf(stderr, "memtide-check: %s\n", strerror(-err));
		return CHECK_ERROR;
	}
	if (!c->o.attach_pid && check_runner_start_server(c->run, c->tmpdir, c->agent))
		return CHECK_ERROR;
	if (check_runner_wait_ready(c->run, c->probe, c->o.start_timeout))
		return CHECK_ERROR;
	if (check_probe_read(c->probe, &c->baseline, false)) {
		fprintf(stderr, "memtide-check: the agent segment is unreadable\n");
		return CHECK_ERROR;
	}
	c->points = calloc(c->o.cycles + 1, sizeof(*c->points));
	return c->points ? 0 : CHECK_ERROR;
}

static int out_of_time(struct check *c)
{
	if (check_interrupted())
		return CHECK_ERROR; /* said once, by main */
	if (check_now() < c->deadline)
		return 0;
	fprintf(stderr, "memtide-check: the check did not finish in --timeout=%g s\n",
		c->o.timeout);
	return CHECK_ERROR;
}

/* One quiet point, named sites at the first judged point and the last. */
static int take_point(struct check *c, double load_s)
{
	size_t i = c->n_points;
	struct check_point *p = &c->points[i];
	bool sites = i == 0 || i == c->o.cycles;

	if (check_quiet_point(c->run, c->probe, &c->o, c->baseline.sessions, sites, p))
		return CHECK_ERROR;
	p->load_s = load_s;
	c->n_points++;
	return 0;
}

static int run_cycles(struct check *c)
{
	unsigned total = c->o.warmup + c->o.cycles;
	char label[32];

	/* Without warm-up the first judged point is the server before any load. */
	if (c->o.warmup == 0 && take_point(c, 0))
		return CHECK_ERROR;
	for (unsigned i = 1; i <= total; i++) {
		double t0 = check_now();

		if (out_of_time(c))
			return CHECK_ERROR;
		if (i <= c->o.warmup)
			snprintf(label, sizeof(label), "warmup-%u", i);
		else
			snprintf(label, sizeof(label), "%u", i - c->o.warmup);
		if (check_runner_load(c->run, label))
			return CHECK_ERROR;
		if (i >= c->o.warmup && take_point(c, check_now() - t0))
			return CHECK_ERROR;
	}
	return out_of_time(c);
}

static int finish(struct check *c)
{
	struct check_verdict *v = calloc(1, sizeof(*v));
	double seconds = check_now() - c->started;

	if (!v)
		return CHECK_ERROR;
	check_judge(c->points, c->n_points, &c->baseline, &c->o, v);
	if (v->exit == CHECK_ERROR) {
		fprintf(stderr, "memtide-check: too few cycles for a verdict (%zu, want %d)\n",
			c->n_points ? c->n_points - 1 : 0, CHECK_MIN_CYCLES);
		free(v);
		return CHECK_ERROR;
	}
	check_report_text(stdout, &c->o, c->points, c->n_points, v, seconds);
	fflush(stdout);
	int err =
	    c->o.json ? check_report_json(c->o.json, &c->o, c->points, c->n_points, v, seconds) : 0;

	if (err)
		fprintf(stderr, "memtide-check: --json=%s: %s\n", c->o.json, strerror(-err));
	if (c->o.plot && c->tmpdir[0])
		check_plot(c->o.plot, c->tmpdir, c->points, c->n_points, c->o.kill_grace);
	int rc = (int)v->exit;

	free(v);
	return rc;
}

static void clean_up(struct check *c)
{
	check_runner_free(c->run);
	c->run = NULL;
	remove_tmpdir(c);
	check_probe_close(c->probe);
	for (size_t i = 0; c->points && i < c->n_points; i++)
		check_reading_release(&c->points[i].r);
	free(c->points);
	symbolize_flush();
}

int main(int argc, char **argv)
{
	static struct check c;
	int rc;

	rc = check_parse_args(argc, argv, &c.o);
	if (rc)
		return rc == 1 ? 0 : CHECK_ERROR;
	if (check_signals_install() < 0) {
		fprintf(stderr, "memtide-check: cannot install signal handlers\n");
		return CHECK_ERROR;
	}
	c.started = check_now();
	c.deadline = c.started + c.o.timeout;
	rc = set_up(&c);
	if (!rc)
		rc = run_cycles(&c);
	/* Wherever it came (a load, a quiet point, the start), said once. */
	if (check_interrupted())
		fprintf(stderr, "memtide-check: interrupted by a signal; stopping the server\n");
	/* The server stops before the report: the plot's tmpdir stays until clean-up. */
	if (c.run)
		check_runner_stop(c.run);
	if (!rc)
		rc = finish(&c);
	clean_up(&c);
	return rc;
}
