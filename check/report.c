/* SPDX-License-Identifier: MIT */
/*
 * The report: text for the person reading a CI log (settings, one row per
 * quiet point, the trend, the growing sites, and the verdict as the last
 * line, where a log viewer opens), and the same as JSON for machines.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

void check_format_bytes(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = fabs(bytes);
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%s%.0f B", bytes < 0 ? "-" : "", v);
	else
		snprintf(buf, len, "%s%.1f %s", bytes < 0 ? "-" : "", v, units[u]);
}

static void point_name(const struct check_options *o, size_t i, char *buf, size_t len)
{
	if (i == 0)
		snprintf(buf, len, "warmup-%u", o->warmup);
	else
		snprintf(buf, len, "%zu", i);
}

static void text_table(FILE *out, const struct check_options *o, const struct check_point *points,
		       size_t n)
{
	char name[32], heap[32], rss[32];

	fprintf(out, "%-10s %12s %12s %12s %9s %7s %7s\n", "cycle", "live heap", "objects", "rss",
		"sessions", "load s", "quiet s");
	for (size_t i = 0; i < n; i++) {
		const struct check_reading *r = &points[i].r;

		point_name(o, i, name, sizeof(name));
		check_format_bytes((double)r->live_bytes, heap, sizeof(heap));
		check_format_bytes((double)r->rss_bytes, rss, sizeof(rss));
		fprintf(out, "%-10s %12s %12llu %12s %9llu %7.2f %7.2f%s\n", name, heap,
			(unsigned long long)r->live_objects, rss, (unsigned long long)r->sessions,
			points[i].load_s, points[i].waited, points[i].stable ? "" : " (not still)");
	}
}

static void text_trend(FILE *out, const struct check_options *o, const struct check_verdict *v,
		       const struct check_point *points, size_t n)
{
	char slope[32], budget[32], rss[32];
	size_t steps = n - 1;

	check_format_bytes(v->heap_slope, slope, sizeof(slope));
	check_format_bytes(o->max_growth, budget, sizeof(budget));
	check_format_bytes(v->rss_slope, rss, sizeof(rss));
	fprintf(out,
		"heap: Theil-Sen slope %s%s per cycle (budget %s), %.0f of %zu cycles grew "
		"(%.0f%%; a leak needs %.0f%%)%s\n",
		v->heap_slope > 0 ? "+" : "", slope, budget, v->grown_share * (double)steps, steps,
		v->grown_share * 100, CHECK_GROWN_SHARE * 100, v->heap_leak ? ": LEAK" : "");
	fprintf(out,
		"rss: slope %s%s per cycle (for information: allocator retention is not a leak)\n",
		v->rss_slope > 0 ? "+" : "", rss);
	for (unsigned i = 0; i < v->pool_count; i++) {
		const struct check_pool_verdict *p = &v->pools[i];

		fprintf(out,
			"sessions: pool %s: slope %+.2f per cycle (budget %g), %llu before the "
			"load, %llu -> %llu at the quiet points%s\n",
			p->name, p->slope, o->max_session_growth, (unsigned long long)p->baseline,
			(unsigned long long)p->first, (unsigned long long)p->last,
			p->leak ? ": LEAK" : "");
	}
	(void)points;
}

static void text_sites(FILE *out, const struct check_verdict *v, const struct check_point *points,
		       size_t n)
{
	char g[32], mean[32];
	uint64_t sample = points[n - 1].r.sample_bytes;

	if (!sample) {
		fprintf(out, "allocation sites: not sampled (--sample-bytes=0)\n");
		return;
	}
	check_format_bytes((double)sample, mean, sizeof(mean));
	if (!v->site_count) {
		fprintf(out, "allocation sites: none grew (sampled every %s on average)\n", mean);
		return;
	}
	fprintf(out, "top growing allocation sites (estimates, sampled every %s on average):\n",
		mean);
	for (size_t i = 0; i < v->site_count; i++) {
		check_format_bytes(v->sites[i].per_cycle, g, sizeof(g));
		fprintf(out, "  +%s per cycle  %s\n", g, v->sites[i].label);
	}
}

static void text_verdict(FILE *out, const struct check_options *o, const struct check_verdict *v)
{
	char slope[32], budget[32];

	check_format_bytes(v->heap_slope, slope, sizeof(slope));
	check_format_bytes(o->max_growth, budget, sizeof(budget));
	if (v->exit == CHECK_PASS) {
		fprintf(out,
			"memtide-check: PASS: live heap %s per cycle (budget %s), sessions back "
			"to their level\n",
			slope, budget);
		return;
	}
	fprintf(out, "memtide-check: FAIL:");
	if (v->heap_leak)
		fprintf(out, " live heap grows %s per cycle (budget %s)", slope, budget);
	for (unsigned i = 0; i < v->pool_count; i++)
		if (v->pools[i].leak)
			fprintf(out, "%s sessions of pool %s grow %.2f per cycle",
				v->heap_leak || i ? ";" : "", v->pools[i].name, v->pools[i].slope);
	if (v->site_count)
		fprintf(out, "; top growing site: %s", v->sites[0].label);
	fprintf(out, "\n");
}

void check_report_text(FILE *out, const struct check_options *o, const struct check_point *points,
		       size_t n, const struct check_verdict *v, double seconds)
{
	char budget[32];

	check_format_bytes(o->max_growth, budget, sizeof(budget));
	fprintf(out,
		"memtide-check: %u cycles after %u warm-up, quiet %g s, budget %s and %g "
		"sessions per cycle\n",
		o->cycles, o->warmup, o->quiet, budget, o->max_session_growth);
	text_table(out, o, points, n);
	text_trend(out, o, v, points, n);
	text_sites(out, v, points, n);
	fprintf(out, "took %.1f s\n", seconds);
	text_verdict(out, o, v);
}

/* ---- JSON ---- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_points(FILE *f, const struct check_options *o, const struct check_point *points,
			size_t n)
{
	char name[32];

	fprintf(f, "  \"points\": [\n");
	for (size_t i = 0; i < n; i++) {
		const struct check_reading *r = &points[i].r;

		point_name(o, i, name, sizeof(name));
		fprintf(f,
			"    {\"cycle\": \"%s\", \"live_bytes\": %llu, \"live_objects\": %llu, "
			"\"rss_bytes\": %llu, \"sessions\": %llu, \"processes\": %u, "
			"\"stable\": %s, \"load_seconds\": %.3f, \"quiet_seconds\": %.3f, "
			"\"pools\": {",
			name, (unsigned long long)r->live_bytes,
			(unsigned long long)r->live_objects, (unsigned long long)r->rss_bytes,
			(unsigned long long)r->sessions, r->processes,
			points[i].stable ? "true" : "false", points[i].load_s, points[i].waited);
		for (unsigned p = 0; p < r->pool_count; p++) {
			fprintf(f, "%s", p ? ", " : "");
			json_string(f, r->pools[p].name);
			fprintf(f, ": %llu", (unsigned long long)r->pools[p].live);
		}
		fprintf(f, "}}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n");
}

static void json_verdict(FILE *f, const struct check_options *o, const struct check_verdict *v)
{
	fprintf(f,
		"  \"heap\": {\"slope_bytes_per_cycle\": %.1f, \"grown_share\": %.3f, "
		"\"grown_share_needed\": %.2f, \"max_growth_bytes\": %.0f, \"leak\": %s},\n",
		v->heap_slope, v->grown_share, CHECK_GROWN_SHARE, o->max_growth,
		v->heap_leak ? "true" : "false");
	fprintf(f, "  \"rss\": {\"slope_bytes_per_cycle\": %.1f},\n", v->rss_slope);
	fprintf(f, "  \"sessions\": {\"leak\": %s, \"max_session_growth\": %g, \"pools\": [",
		v->session_leak ? "true" : "false", o->max_session_growth);
	for (unsigned i = 0; i < v->pool_count; i++) {
		const struct check_pool_verdict *p = &v->pools[i];

		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_string(f, p->name);
		fprintf(f,
			", \"slope_per_cycle\": %.3f, \"baseline\": %llu, \"first\": %llu, "
			"\"last\": %llu, \"leak\": %s}",
			p->slope, (unsigned long long)p->baseline, (unsigned long long)p->first,
			(unsigned long long)p->last, p->leak ? "true" : "false");
	}
	fprintf(f, "]},\n  \"sites\": [");
	for (size_t i = 0; i < v->site_count; i++) {
		fprintf(f, "%s\n    {\"site\": ", i ? "," : "");
		json_string(f, v->sites[i].label);
		fprintf(f, ", \"growth_bytes_per_cycle\": %.0f}", v->sites[i].per_cycle);
	}
	fprintf(f, "],\n");
}

int check_report_json(const char *path, const struct check_options *o,
		      const struct check_point *points, size_t n, const struct check_verdict *v,
		      double seconds)
{
	static const char *const verdicts[] = {"pass", "leak", "error"};
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"verdict\": \"%s\",\n  \"exit\": %d,\n  \"seconds\": %.1f,\n",
		verdicts[v->exit], (int)v->exit, seconds);
	fprintf(f, "  \"load\": ");
	json_string(f, o->load);
	fprintf(f, ",\n  \"server\": [");
	for (char **a = o->server_argv; a && *a; a++) {
		fprintf(f, "%s", a != o->server_argv ? ", " : "");
		json_string(f, *a);
	}
	fprintf(f, "],\n  \"pid\": %d,\n  \"cycles\": %u,\n  \"warmup\": %u,\n", (int)o->attach_pid,
		o->cycles, o->warmup);
	fprintf(f, "  \"quiet_seconds\": %g,\n  \"sample_bytes\": %llu,\n", o->quiet,
		(unsigned long long)o->sample_bytes);
	json_verdict(f, o, v);
	json_points(f, o, points, n);
	fprintf(f, "}\n");
	if (ferror(f))
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}
