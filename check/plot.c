/* SPDX-License-Identifier: MIT */
/*
 * The plot: live heap and live sessions at the quiet points, as SVG,
 * drawn by gnuplot (Debian's gnuplot-nox, which the demo uses too). The
 * plot is optional output: without gnuplot the check says so and its
 * verdict stands.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define PLOT_TIMEOUT 30.0

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[4096];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if (n && n < sizeof(dir) - strlen(prog) - 2) {
			snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, p, prog);
			if (access(dir, X_OK) == 0)
				return true;
		}
		p += n + (p[n] == ':');
	}
	return false;
}

static int write_data(const char *file, const struct check_point *points, size_t n)
{
	FILE *f = fopen(file, "we");
	int err = 0;

	if (!f)
		return -errno;
	fprintf(f, "# point live_heap_kib sessions rss_kib\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%zu %.1f %llu %.1f\n", i, (double)points[i].r.live_bytes / 1024,
			(unsigned long long)points[i].r.sessions,
			(double)points[i].r.rss_bytes / 1024);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

static int write_script(const char *file, const char *data, const char *out)
{
	FILE *f = fopen(file, "we");
	int err = 0;

	if (!f)
		return -errno;
	fprintf(f,
		"set terminal svg size 800,480 dynamic font 'sans,11'\n"
		"set output '%s'\n"
		"set title 'memtide-check: live heap and sessions at the quiet points'\n"
		"set xlabel 'quiet point (0: end of the warm-up, then one per cycle)'\n"
		"set ylabel 'live heap (KiB)'\n"
		"set y2label 'live sessions'\n"
		"set ytics nomirror\nset y2tics\nset grid\nset key top left\n"
		"set xtics 1\nset y2range [0:*]\n"
		"plot '%s' using 1:2 with linespoints lw 2 title 'live heap', \\\n"
		"     '' using 1:3 axes x1y2 with linespoints lw 2 title 'live sessions'\n",
		out, data);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

/* Runs gnuplot SCRIPT, bounded; 0 or -errno. */
static int run_gnuplot(const char *script, double grace)
{
	double end = check_now() + PLOT_TIMEOUT;
	int status = 0;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (check_now() >= end) {
			kill(pid, SIGTERM);
			usleep((useconds_t)(grace * 1e6 > 1e6 ? 1e6 : grace * 1e6));
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(20000);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int check_plot(const char *path, const char *tmpdir, const struct check_point *points, size_t n,
	       double kill_grace)
{
	char data[4200], script[4200];
	int err;

	if (strpbrk(path, "'\n")) {
		fprintf(stderr, "memtide-check: --plot=%s: a quote or newline in the name\n", path);
		return -EINVAL;
	}
	if (!in_path("gnuplot")) {
		fprintf(stderr, "memtide-check: gnuplot is not installed: no plot (apt-get install "
				"gnuplot-nox); the verdict stands\n");
		return -ENOENT;
	}
	snprintf(data, sizeof(data), "%s/plot.dat", tmpdir);
	snprintf(script, sizeof(script), "%s/plot.gp", tmpdir);
	err = write_data(data, points, n);
	if (!err)
		err = write_script(script, data, path);
	if (!err)
		err = run_gnuplot(script, kill_grace);
	unlink(data);
	unlink(script);
	if (err)
		fprintf(stderr, "memtide-check: --plot=%s: gnuplot failed: %s\n", path,
			strerror(-err));
	return err;
}
