/* SPDX-License-Identifier: MIT */
/* The one table of collectors, in the order they appear on /metrics. */
#include <string.h>

#include "collector.h"
#include "exporter/array_size.h"

/*
 * The registry: one line per collector, X(NAME) for the struct collector
 * NAME_collector that collectors/NAME.c (or the file it names) defines.
 */
#define REGISTRY(X)                                                                                \
	X(process)                                                                                 \
	X(system)                                                                                  \
	X(sessdir)                                                                                 \
	X(tcp)                                                                                     \
	X(self)                                                                                    \
	X(agent)

#define DECLARE(name) extern const struct collector name##_collector;
#define ENTRY(name) &name##_collector,

REGISTRY(DECLARE)

const struct collector *const collectors[] = {REGISTRY(ENTRY)};

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
