/* SPDX-License-Identifier: MIT */
/*
 * The verdict. Points are the quiet point that ends the warm-up and one per
 * measured cycle. A heap leak is a trend, not a level: the Theil–Sen slope
 * (the median of every pairwise slope, which ignores up to 29% of wild
 * points) above the budget per cycle, and at least CHECK_GROWN_SHARE of the
 * steps up, so that one late step (a cache filling once) is not a leak and
 * a leak is not excused by one step down. Sessions: a pool whose live
 * sessions at the quiet points trend up by more than
 * --max-session-growth per cycle and end above their level before the load
 * keeps sessions it should have ended.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MAX_POINTS (CHECK_MAX_CYCLES + 1)

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double check_theil_sen(const double *y, size_t n)
{
	static double slopes[MAX_POINTS * (MAX_POINTS - 1) / 2];
	size_t k = 0;

	if (n < 2 || n > MAX_POINTS)
		return 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			slopes[k++] = (y[j] - y[i]) / (double)(j - i);
	return median(slopes, k);
}

double check_grown_share(const double *y, size_t n)
{
	size_t grew = 0;

	if (n < 2)
		return 0;
	for (size_t i = 1; i < n; i++)
		grew += y[i] > y[i - 1];
	return (double)grew / (double)(n - 1);
}

static uint64_t pool_live(const struct check_reading *r, const char *name)
{
	for (unsigned i = 0; i < r->pool_count; i++)
		if (strcmp(r->pools[i].name, name) == 0)
			return r->pools[i].live;
	return 0;
}

static void judge_pool(const struct check_point *points, size_t n,
		       const struct check_reading *baseline, const struct check_options *o,
		       struct check_pool_verdict *pv)
{
	double y[MAX_POINTS];

	for (size_t i = 0; i < n; i++)
		y[i] = (double)pool_live(&points[i].r, pv->name);
	pv->slope = check_theil_sen(y, n);
	pv->baseline = pool_live(baseline, pv->name);
	pv->first = (uint64_t)y[0];
	pv->last = (uint64_t)y[n - 1];
	pv->leak = pv->slope > o->max_session_growth && pv->last > pv->baseline;
}

/* Every pool seen at any quiet point, judged on its own: one pool's
 * shrinking must not hide another's leak. */
static void judge_sessions(const struct check_point *points, size_t n,
			   const struct check_reading *baseline, const struct check_options *o,
			   struct check_verdict *v)
{
	for (size_t i = 0; i < n; i++) {
		for (unsigned p = 0; p < points[i].r.pool_count; p++) {
			const char *name = points[i].r.pools[p].name;
			unsigned k;

			for (k = 0; k < v->pool_count; k++)
				if (strcmp(v->pools[k].name, name) == 0)
					break;
			if (k == v->pool_count && v->pool_count < CHECK_MAX_POOLS)
				memcpy(v->pools[v->pool_count++].name, name,
				       sizeof(v->pools[0].name));
		}
	}
	for (unsigned k = 0; k < v->pool_count; k++) {
		judge_pool(points, n, baseline, o, &v->pools[k]);
		v->session_leak |= v->pools[k].leak;
	}
}

static double site_bytes(const struct check_reading *r, const char *label)
{
	for (size_t i = 0; i < r->site_count; i++)
		if (strcmp(r->sites[i].label, label) == 0)
			return r->sites[i].live_bytes;
	return 0;
}

/* The sites that grew most from the first judged quiet point to the last. */
static void growing_sites(const struct check_reading *first, const struct check_reading *last,
			  size_t steps, struct check_verdict *v)
{
	for (size_t i = 0; i < last->site_count; i++) {
		double g = (last->sites[i].live_bytes - site_bytes(first, last->sites[i].label)) /
			   (double)steps;
		size_t k = v->site_count;

		if (g <= 0 || strcmp(last->sites[i].label, "other") == 0)
			continue;
		/* Insertion into the top CHECK_TOP_SITES, largest first. */
		while (k > 0 && v->sites[k - 1].per_cycle < g) {
			if (k < CHECK_TOP_SITES)
				v->sites[k] = v->sites[k - 1];
			k--;
		}
		if (k >= CHECK_TOP_SITES)
			continue;
		memcpy(v->sites[k].label, last->sites[i].label, sizeof(v->sites[k].label));
		v->sites[k].per_cycle = g;
		if (v->site_count < CHECK_TOP_SITES)
			v->site_count++;
	}
}

void check_judge(const struct check_point *points, size_t n, const struct check_reading *baseline,
		 const struct check_options *o, struct check_verdict *v)
{
	double heap[MAX_POINTS], rss[MAX_POINTS];

	memset(v, 0, sizeof(*v));
	v->n = n;
	if (n < CHECK_MIN_CYCLES + 1 || n > MAX_POINTS) {
		v->exit = CHECK_ERROR;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		heap[i] = (double)points[i].r.live_bytes;
		rss[i] = (double)points[i].r.rss_bytes;
	}
	v->heap_slope = check_theil_sen(heap, n);
	v->grown_share = check_grown_share(heap, n);
	v->rss_slope = check_theil_sen(rss, n);
	v->heap_leak = v->heap_slope > o->max_growth && v->grown_share >= CHECK_GROWN_SHARE;
	judge_sessions(points, n, baseline, o, v);
	growing_sites(&points[0].r, &points[n - 1].r, n - 1, v);
	v->exit = v->heap_leak || v->session_leak ? CHECK_LEAK : CHECK_PASS;
}
