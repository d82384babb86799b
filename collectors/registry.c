/* SPDX-License-Identifier: MIT */
/* The one table of collectors, in the order they appear on /metrics. */
#include <string.h>

#include "collector.h"

extern const struct collector process_collector;
extern const struct collector system_collector;
extern const struct collector sessdir_collector;
extern const struct collector tcp_collector;
extern const struct collector self_collector;
extern const struct collector agent_collector;

const struct collector *const collectors[] = {
    &process_collector, &system_collector, &sessdir_collector,
    &tcp_collector,	&self_collector,   &agent_collector,
};

const size_t collectors_count = sizeof(collectors) / sizeof(collectors[0]);

const struct collector *collector_find(const char *name)
{
	for (size_t i = 0; i < collectors_count; i++)
		if (strcmp(collectors[i]->name, name) == 0)
			return collectors[i];
	return NULL;
}
