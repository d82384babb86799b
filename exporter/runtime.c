/* SPDX-License-Identifier: MIT */
#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/collector.h"
#include "config.h"
#include "log.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct runtime *current;

int runtime_new(struct config *cfg, const bool *enabled, struct runtime **out)
{
	struct runtime *rt;

	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		config_free(cfg);
		return -ENOMEM;
	}
	rt->cfg = cfg;
	rt->refs = 1;
	rt->count = collectors_count;
	for (size_t i = 0; i < collectors_count; i++) {
		struct collector_instance *ci = &rt->instances[i];
		char why[64];

		*ci = (struct collector_instance){
		    .collector = collectors[i], .enabled = enabled[i], .lane = i};
		if (!ci->enabled)
			continue;
		ci->init_error = ci->collector->init(&ci->state, cfg);
		if (ci->init_error == 0)
			continue;
		ci->state = NULL;
		snprintf(why, sizeof(why), "%s", strerror(-ci->init_error));
		log_error("collector failed to start; it will report failure on every scrape",
			  "collector", ci->collector->name, "err", why, NULL);
	}
	*out = rt;
	return 0;
}

void runtime_each_collector(const struct runtime *rt,
			    void (*fn)(void *arg, const char *name, const char *help, bool on),
			    void *arg)
{
	for (size_t i = 0; i < rt->count; i++)
		fn(arg, rt->instances[i].collector->name, rt->instances[i].collector->help,
		   rt->instances[i].enabled);
}

const char *runtime_config_path(const struct runtime *rt)
{
	return rt->cfg->path;
}

struct runtime *runtime_get(struct runtime *rt)
{
	__atomic_add_fetch(&rt->refs, 1, __ATOMIC_RELAXED);
	return rt;
}

void runtime_put(struct runtime *rt)
{
	if (!rt || __atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < rt->count; i++)
		if (collector_instance_runs(&rt->instances[i]))
			rt->instances[i].collector->release(rt->instances[i].state);
	config_free(rt->cfg);
	free(rt);
}

struct runtime *runtime_current(void)
{
	struct runtime *rt = NULL;

	pthread_mutex_lock(&current_lock);
	if (current)
		rt = runtime_get(current);
	pthread_mutex_unlock(&current_lock);
	return rt;
}

void runtime_swap(struct runtime *rt)
{
	struct runtime *old;

	pthread_mutex_lock(&current_lock);
	old = current;
	current = rt;
	pthread_mutex_unlock(&current_lock);
	runtime_put(old);
}
