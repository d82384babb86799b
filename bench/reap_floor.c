/* SPDX-License-Identifier: MIT */
/*
 * The floor for a process scrape: the raw cost of one libproc2 reap of the
 * fields the process collector asks for (with "pss", of smaps_rollup too),
 * with nothing else around it. Prints the median of N reaps in seconds.
 *
 *   reap_floor [--pss] [N]
 */
#include <libproc2/pids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The fields the process collector reaps every scrape on a machine without
 * swap (stat and statm; its cgroup limits come from a cache); with --pss,
 * its smaps_rollup fields too.
 */
static enum pids_item items[] = {
    PIDS_ID_PID,  PIDS_TICS_BEGAN, PIDS_NLWP,	  PIDS_MEM_VIRT, PIDS_MEM_RES,
    PIDS_MEM_SHR, PIDS_CMD,	   PIDS_SMAP_RSS, PIDS_SMAP_PSS, PIDS_SMAP_PRV_TOTAL,
};

#define N_BASE 7

static int by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int pss = argc > 1 && strcmp(argv[1], "--pss") == 0;
	int n = argc > 1 + pss ? atoi(argv[1 + pss]) : 50;
	int n_items = pss ? (int)(sizeof(items) / sizeof(items[0])) : N_BASE;
	struct pids_info *info = NULL;
	double *t;

	if (n < 1 || procps_pids_new(&info, items, n_items) < 0)
		return 1;
	t = calloc((size_t)n, sizeof(*t));
	if (!t)
		return 1;
	for (int i = 0; i < n; i++) {
		double start = now();

		if (!procps_pids_reap(info, PIDS_FETCH_TASKS_ONLY))
			return 1;
		t[i] = now() - start;
	}
	qsort(t, (size_t)n, sizeof(*t), by_double);
	printf("%.6f\n", t[n / 2]);
	free(t);
	procps_pids_unref(&info);
	return 0;
}
