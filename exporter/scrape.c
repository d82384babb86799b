/* SPDX-License-Identifier: MIT */
#include "scrape.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/collector.h"
#include "event_counts.h"
#include "expo.h"
#include "lanes.h"
#include "log.h"
#include "runtime.h"

/*
 * Each collector's errors and housekeeping since the exporter started, by
 * lane: they outlive the runtime of one config, so that the counters never
 * go back on a reload. A collector reaches its own only through its context.
 */
static struct event_counts errors[LANES_MAX] = {
    [0 ... LANES_MAX - 1] = EVENT_COUNTS_INIT,
};
static struct event_counts housekeeping[LANES_MAX] = {
    [0 ... LANES_MAX - 1] = EVENT_COUNTS_INIT,
};

enum slot_status { SLOT_OFF, SLOT_RUNNING, SLOT_DONE };

/* A slot's err when the collector succeeded in part: its families are
 * published, its success is 0. Not an errno. */
#define SLOT_PARTIAL 1

struct slot {
	enum slot_status status;
	struct expo *out; /* owned by the worker while running */
	int err;	  /* 0, SLOT_PARTIAL or a negative errno */
	double seconds;
};

/* The context's services, for the collector running on its lane. */
void collect_error(struct collect_ctx *ctx, const char *reason)
{
	event_counts_inc(ctx->errors, reason);
}

void collect_housekeeping(struct collect_ctx *ctx, const char *action)
{
	event_counts_inc(ctx->housekeeping, action);
}

void collect_partial(struct collect_ctx *ctx)
{
	ctx->partial = true;
}

bool collect_past_deadline(const struct collect_ctx *ctx)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > ctx->deadline->tv_sec ||
	       (now.tv_sec == ctx->deadline->tv_sec && now.tv_nsec >= ctx->deadline->tv_nsec);
}

void collect_log(const struct collect_ctx *ctx, enum log_level level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	log_vwrite_tagged(level, msg, "collector", ctx->name, ap);
	va_end(ap);
}

/* Shared by the scrape and its collector threads; the last one out frees it. */
struct job {
	pthread_mutex_t lock;
	pthread_cond_t done;
	unsigned refs; /* under lock */
	unsigned running;
	bool abandoned; /* the scrape answered: late results are discarded */
	struct runtime *rt;
	struct timespec deadline;
	struct slot slots[COLLECTORS_MAX]; /* indexed like rt->instances */
};

struct collector_task {
	struct lane_task task; /* first: the lane hands back this pointer */
	struct job *job;
	size_t index;
};

static double elapsed(const struct timespec *from)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - from->tv_sec) + (double)(now.tv_nsec - from->tv_nsec) / 1e9;
}

static void job_put_locked(struct job *job)
{
	bool last = --job->refs == 0;

	pthread_mutex_unlock(&job->lock);
	if (!last)
		return;
	for (size_t i = 0; i < job->rt->count; i++)
		expo_free(job->slots[i].out);
	runtime_put(job->rt);
	pthread_cond_destroy(&job->done);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

/* Runs one collector; the scrape may have answered before it returns. */
static void run_collector(struct job *job, size_t i)
{
	const struct collector_instance *ci = &job->rt->instances[i];
	const struct collector *c = ci->collector;
	struct slot *s = &job->slots[i];
	struct collect_ctx ctx = {
	    .out = s->out,
	    .deadline = &job->deadline,
	    .name = c->name,
	    .errors = &errors[ci->lane],
	    .housekeeping = &housekeeping[ci->lane],
	};
	struct timespec start;
	bool late;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_mutex_lock(&job->lock);
	late = job->abandoned;
	pthread_mutex_unlock(&job->lock);
	/* A task that waited in the queue past its scrape's answer has no one to
	 * report to: skipping it keeps a slow lane from falling further behind. */
	err = late ? -ETIMEDOUT : c->collect(ci->state, &ctx);
	if (err == 0 && ctx.partial)
		err = SLOT_PARTIAL;
	pthread_mutex_lock(&job->lock);
	s->err = err;
	s->seconds = elapsed(&start);
	s->status = SLOT_DONE;
	if (job->abandoned && !late) {
		log_warn("collector finished after the scrape answered", "collector", c->name,
			 NULL);
	}
	job->running--;
	pthread_cond_signal(&job->done);
	job_put_locked(job);
}

static void collector_task_run(struct lane_task *t)
{
	struct collector_task *ct = (struct collector_task *)t;

	run_collector(ct->job, ct->index);
	free(ct);
}

/* Queues collector i on its lane; a lane that cannot take it fails the collector now. */
static void start_collector(struct job *job, size_t i)
{
	struct collector_task *ct = malloc(sizeof(*ct));
	int err = -ENOMEM;

	job->slots[i].status = SLOT_RUNNING;
	job->running++;
	job->refs++;
	if (ct) {
		*ct =
		    (struct collector_task){.task.run = collector_task_run, .job = job, .index = i};
		err = lanes_submit(job->rt->instances[i].lane, &ct->task);
		if (err == 0)
			return;
		free(ct);
	}
	/* "busy": the lane's queue is full, earlier scrapes still wait on it. */
	event_counts_inc(&errors[job->rt->instances[i].lane], err == -EBUSY ? "busy" : "no_thread");
	job->slots[i].status = SLOT_DONE;
	job->slots[i].err = err;
	job->running--;
	job->refs--;
}

static int job_new(struct runtime *rt, double timeout, struct job **out)
{
	struct job *job = calloc(1, sizeof(*job));
	pthread_condattr_t ca;
	double whole;

	if (!job)
		return -ENOMEM;
	pthread_mutex_init(&job->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->done, &ca);
	pthread_condattr_destroy(&ca);
	job->refs = 1;
	job->rt = runtime_get(rt);
	clock_gettime(CLOCK_MONOTONIC, &job->deadline);
	job->deadline.tv_nsec += (long)(modf(timeout, &whole) * 1e9);
	job->deadline.tv_sec += (time_t)whole + job->deadline.tv_nsec / 1000000000;
	job->deadline.tv_nsec %= 1000000000;
	for (size_t i = 0; i < rt->count; i++) {
		if (!collector_instance_runs(&rt->instances[i]))
			continue;
		job->slots[i].out = expo_new();
		if (!job->slots[i].out) {
			pthread_mutex_lock(&job->lock);
			job_put_locked(job);
			return -ENOMEM;
		}
	}
	*out = job;
	return 0;
}

static void start_all(struct job *job)
{
	pthread_mutex_lock(&job->lock);
	for (size_t i = 0; i < job->rt->count; i++)
		if (job->slots[i].out)
			start_collector(job, i);
	pthread_mutex_unlock(&job->lock);
}

/* Waits until every collector is done or the deadline passed. Called locked. */
static void wait_all(struct job *job)
{
	while (job->running > 0)
		if (pthread_cond_timedwait(&job->done, &job->lock, &job->deadline) == ETIMEDOUT)
			break;
}

/* Moves finished collectors' families into out and notes each one's fate. Locked. */
static int harvest(struct job *job, struct expo *out, bool *ok, double *seconds,
		   const struct timespec *start)
{
	int err = 0;

	for (size_t i = 0; i < job->rt->count; i++) {
		const struct collector_instance *ci = &job->rt->instances[i];
		struct slot *s = &job->slots[i];
		char why[64];

		ok[i] = s->status == SLOT_DONE && s->err == 0;
		seconds[i] = s->status == SLOT_DONE ? s->seconds : elapsed(start);
		if (s->status == SLOT_RUNNING) {
			log_warn("collector missed the scrape deadline", "collector",
				 ci->collector->name, NULL);
			event_counts_inc(&errors[ci->lane], "deadline");
			continue;
		}
		if (s->status != SLOT_DONE)
			continue;
		if (s->err < 0) {
			snprintf(why, sizeof(why), "%s", strerror(-s->err));
			log_warn("collector failed", "collector", ci->collector->name, "err", why,
				 NULL);
			continue;
		}
		if (expo_merge(out, s->out) < 0)
			err = -EINVAL;
	}
	return err;
}

/* memtide_scrape_errors_total and memtide_collector_housekeeping_total: every
 * registered collector's, enabled or not now (a reload may have disabled one
 * that counted before). */
static int write_event_families(struct runtime *rt, struct expo *out)
{
	int err;

	err = expo_family(out, "memtide_scrape_errors_total", EXPO_COUNTER,
			  "Things collectors skipped: processes that exited mid-read, files they "
			  "may not read, corrupt agent segments.");
	for (size_t i = 0; i < rt->count && err == 0; i++)
		err = event_counts_write(&errors[rt->instances[i].lane], out,
					 rt->instances[i].collector->name, "reason");
	if (err == 0)
		err = expo_family(out, "memtide_collector_housekeeping_total", EXPO_COUNTER,
				  "Routine upkeep collectors did, not errors: stale agent "
				  "segments removed or kept, a full sweep cut short.");
	for (size_t i = 0; i < rt->count && err == 0; i++)
		err = event_counts_write(&housekeeping[rt->instances[i].lane], out,
					 rt->instances[i].collector->name, "action");
	return err;
}

static int write_scrape_families(struct runtime *rt, struct expo *out, const bool *ok,
				 const double *seconds)
{
	int err;

	err = expo_family(out, "memtide_scrape_collector_duration_seconds", EXPO_GAUGE,
			  "How long each collector took in this scrape.");
	for (size_t i = 0; i < rt->count && err == 0; i++)
		if (rt->instances[i].enabled)
			err = expo_sample(out, seconds[i], "collector",
					  rt->instances[i].collector->name, NULL);
	if (err == 0)
		err = expo_family(
		    out, "memtide_scrape_collector_success", EXPO_GAUGE,
		    "Whether each collector succeeded in this scrape (0: failed or "
		    "missed the deadline; see memtide_scrape_errors_total and the log).");
	for (size_t i = 0; i < rt->count && err == 0; i++)
		if (rt->instances[i].enabled)
			err = expo_sample(out, ok[i] ? 1 : 0, "collector",
					  rt->instances[i].collector->name, NULL);
	return err ? err : write_event_families(rt, out);
}

int scrape_run(struct runtime *rt, double timeout, struct expo **out)
{
	bool ok[COLLECTORS_MAX] = {false};
	double seconds[COLLECTORS_MAX] = {0};
	struct timespec start;
	struct expo *result;
	struct job *job;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &start);
	result = expo_new();
	if (!result)
		return -ENOMEM;
	err = job_new(rt, timeout, &job);
	if (err)
		goto out_free_result;
	start_all(job);
	pthread_mutex_lock(&job->lock);
	wait_all(job);
	job->abandoned = true;
	if (harvest(job, result, ok, seconds, &start) < 0)
		log_error("collectors wrote clashing metric families", NULL);
	job_put_locked(job);
	err = write_scrape_families(rt, result, ok, seconds);
	if (err)
		goto out_free_result;
	*out = result;
	return 0;

out_free_result:
	expo_free(result);
	return err;
}
