/* SPDX-License-Identifier: MIT */
/*
 * Collector "system": the machine's memory and swap, from /proc/meminfo
 * through libproc2.
 */
#include <errno.h>
#include <libproc2/meminfo.h>
#include <stdlib.h>

#include "collector.h"
#include "exporter/array_size.h"
#include "exporter/expo.h"

struct system_state {
	struct meminfo_info *info; /* not thread-safe: used on the collector's lane only */
};

static int system_init(void **state, const struct config *cfg)
{
	struct system_state *s = calloc(1, sizeof(*s));
	int err;

	(void)cfg;
	if (!s)
		return -ENOMEM;
	err = procps_meminfo_new(&s->info);
	if (err < 0) {
		free(s);
		return err;
	}
	*state = s;
	return 0;
}

struct system_metric {
	const char *name;
	const char *help;
	enum meminfo_item item;
};

static const struct system_metric system_metrics[] = {
    {"memtide_memory_total_bytes", "Usable RAM (MemTotal).", MEMINFO_MEM_TOTAL},
    {"memtide_memory_available_bytes",
     "Memory available for new work without swapping (MemAvailable).", MEMINFO_MEM_AVAILABLE},
    {"memtide_swap_total_bytes", "Swap space (SwapTotal).", MEMINFO_SWAP_TOTAL},
    {"memtide_swap_free_bytes", "Unused swap space (SwapFree).", MEMINFO_SWAP_FREE},
};

#define N_SYSTEM_METRICS ARRAY_SIZE(system_metrics)

static int system_collect(void *state, struct collect_ctx *ctx)
{
	struct system_state *s = state;
	enum meminfo_item items[N_SYSTEM_METRICS];
	unsigned long kib[N_SYSTEM_METRICS];
	struct meminfo_stack *stack;
	int err = 0;

	for (size_t i = 0; i < N_SYSTEM_METRICS; i++)
		items[i] = system_metrics[i].item;
	stack = procps_meminfo_select(s->info, items, (int)N_SYSTEM_METRICS);
	for (size_t i = 0; stack && i < N_SYSTEM_METRICS; i++)
		kib[i] = MEMINFO_VAL(i, ul_int, stack, s->info);
	if (!stack)
		return errno ? -errno : -EIO;
	for (size_t i = 0; i < N_SYSTEM_METRICS && err == 0; i++) {
		err = expo_family(ctx->out, system_metrics[i].name, EXPO_GAUGE,
				  system_metrics[i].help);
		if (err == 0)
			err = expo_sample(ctx->out, (double)kib[i] * 1024.0, NULL);
	}
	return err;
}

static void system_release(void *state)
{
	struct system_state *s = state;

	procps_meminfo_unref(&s->info);
	free(s);
}

const struct collector system_collector = {
    .name = "system",
    .help = "memory and swap of the machine (/proc/meminfo)",
    .enabled_by_default = true,
    .init = system_init,
    .collect = system_collect,
    .release = system_release,
};
