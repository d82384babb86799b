/* SPDX-License-Identifier: MIT */
#include "scrape.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collectors/collector.h"
#include "expo.h"
#include "lanes.h"
#include "log.h"
#include "runtime.h"
#include "scrape_errors.h"

enum slot_status { SLOT_OFF, SLOT_RUNNING, SLOT_DONE };

struct slot {
	enum slot_status status;
	struct expo *out; /* owned by the worker while running */
	int err;
	double seconds;
};

/* Shared by the scrape and its collector threads; the last one out frees it. */
struct job {
	pthread_mutex_t lock;
	pthread_cond_t done;
	unsigned refs; /* under lock */
	unsigned running;
	bool abandoned; /* the scrape answered: late results are discarded */
	struct runtime *rt;
	struct timespec deadline;
	struct slot slots[RUNTIME_MAX_COLLECTORS];
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
	for (size_t i = 0; i < collectors_count; i++)
		expo_free(job->slots[i].out);
	runtime_put(job->rt);
	pthread_cond_destroy(&job->done);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

/* Runs one collector; the scrape may have answered before it returns. */
static void run_collector(struct job *job, size_t i)
{
	const struct collector *c = collectors[i];
	struct slot *s = &job->slots[i];
	struct timespec start;
	bool late;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_mutex_lock(&job->lock);
	late = job->abandoned;
	pthread_mutex_unlock(&job->lock);
	/* A task that waited in the queue past its scrape's answer has no one to
	 * report to: skipping it keeps a slow lane from falling further behind. */
	err = late ? -ETIMEDOUT : c->collect(job->rt->states[i], s->out, &job->deadline);
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
		err = lanes_submit(i, &ct->task);
		if (err == 0)
			return;
		free(ct);
	}
	scrape_errors_inc(collectors[i]->name, err == -EBUSY ? "busy" : "no_thread");
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
	for (size_t i = 0; i < collectors_count; i++) {
		if (!rt->enabled[i] || rt->init_errors[i] != 0)
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
	for (size_t i = 0; i < collectors_count; i++)
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

	for (size_t i = 0; i < collectors_count; i++) {
		struct slot *s = &job->slots[i];
		char why[64];

		ok[i] = s->status == SLOT_DONE && s->err == 0;
		seconds[i] = s->status == SLOT_DONE ? s->seconds : elapsed(start);
		if (s->status == SLOT_RUNNING) {
			log_warn("collector missed the scrape deadline", "collector",
				 collectors[i]->name, NULL);
			scrape_errors_inc(collectors[i]->name, "deadline");
			continue;
		}
		if (s->status != SLOT_DONE)
			continue;
		if (s->err < 0) {
			snprintf(why, sizeof(why), "%s", strerror(-s->err));
			log_warn("collector failed", "collector", collectors[i]->name, "err", why,
				 NULL);
			continue;
		}
		if (expo_merge(out, s->out) < 0)
			err = -EINVAL;
	}
	return err;
}

static int write_scrape_families(struct runtime *rt, struct expo *out, const bool *ok,
				 const double *seconds)
{
	int err;

	err = expo_family(out, "memtide_scrape_collector_duration_seconds", EXPO_GAUGE,
			  "How long each collector took in this scrape.");
	for (size_t i = 0; i < collectors_count && err == 0; i++)
		if (rt->enabled[i])
			err = expo_sample(out, seconds[i], "collector", collectors[i]->name, NULL);
	if (err == 0)
		err = expo_family(
		    out, "memtide_scrape_collector_success", EXPO_GAUGE,
		    "Whether each collector succeeded in this scrape (0: failed or "
		    "missed the deadline; see memtide_scrape_errors_total and the log).");
	for (size_t i = 0; i < collectors_count && err == 0; i++)
		if (rt->enabled[i])
			err =
			    expo_sample(out, ok[i] ? 1 : 0, "collector", collectors[i]->name, NULL);
	if (err == 0)
		err = scrape_errors_write(out);
	return err;
}

int scrape_run(struct runtime *rt, double timeout, struct expo **out)
{
	bool ok[RUNTIME_MAX_COLLECTORS] = {false};
	double seconds[RUNTIME_MAX_COLLECTORS] = {0};
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
