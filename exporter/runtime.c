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

	if (collectors_count > RUNTIME_MAX_COLLECTORS) {
		config_free(cfg);
		return -E2BIG;
	}
	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		config_free(cfg);
		return -ENOMEM;
	}
	rt->cfg = cfg;
	rt->refs = 1;
	for (size_t i = 0; i < collectors_count; i++) {
		char why[64];

		rt->enabled[i] = enabled[i];
		if (!enabled[i])
			continue;
		rt->init_errors[i] = collectors[i]->init(&rt->states[i], cfg);
		if (rt->init_errors[i] == 0)
			continue;
		rt->states[i] = NULL;
		snprintf(why, sizeof(why), "%s", strerror(-rt->init_errors[i]));
		log_error("collector failed to start; it will report failure on every scrape",
			  "collector", collectors[i]->name, "err", why, NULL);
	}
	*out = rt;
	return 0;
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
	for (size_t i = 0; i < collectors_count; i++)
		if (rt->enabled[i] && rt->init_errors[i] == 0)
			collectors[i]->release(rt->states[i]);
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
