/* SPDX-License-Identifier: MIT */
/* The one table of collectors, in the order they appear on /metrics. */
#include <string.h>

#include "collector.h"
#include "exporter/array_size.h"

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

/* The runtime's instance table and the lanes are sized by COLLECTORS_MAX. */
_Static_assert(ARRAY_SIZE(collectors) <= COLLECTORS_MAX, "raise COLLECTORS_MAX");

const size_t collectors_count = ARRAY_SIZE(collectors);

const struct collector *collector_find(const char *name)
{
	for (size_t i = 0; i < collectors_count; i++)
		if (strcmp(collectors[i]->name, name) == 0)
			return collectors[i];
	return NULL;
}
