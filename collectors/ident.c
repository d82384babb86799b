/* SPDX-License-Identifier: MIT */
#include "ident.h"

#include <string.h>

#include "cgroup_limit.h"
#include "config.h"

void ident_items(const struct config *cfg, enum pids_item *items)
{
	items[IDENT_COMM] = PIDS_CMD;
	items[IDENT_EXE] = cfg->needs & CONFIG_NEEDS_EXE ? PIDS_EXE : PIDS_noop;
	items[IDENT_CMDLINE] = cfg->needs & CONFIG_NEEDS_CMDLINE ? PIDS_CMDLINE : PIDS_noop;
	items[IDENT_USER] = cfg->needs & CONFIG_NEEDS_USER ? PIDS_ID_EUSER : PIDS_noop;
	items[IDENT_CGROUP] = cfg->needs & CONFIG_NEEDS_CGROUP ? PIDS_CGROUP : PIDS_noop;
}

static const char *str_field(struct pids_stack *stack, int pos)
{
	const char *v = stack->head[pos].result.str;

	/* libproc2 writes "-" for what it could not read. */
	return v && strcmp(v, "-") != 0 ? v : NULL;
}

int ident_match(const struct config *cfg, struct pids_stack *stack, int first, char *group,
		size_t len)
{
	char cgroup[1024] = "/";
	struct proc_ident id;

	if (cfg->needs & CONFIG_NEEDS_CGROUP) {
		const char *field = str_field(stack, first + IDENT_CGROUP);

		cgroup_v2_path(field ? field : "", cgroup, sizeof(cgroup));
	}
	id = (struct proc_ident){
		.comm = stack->head[first + IDENT_COMM].result.str,
		.exe = cfg->needs & CONFIG_NEEDS_EXE ? str_field(stack, first + IDENT_EXE) : NULL,
		.cmdline = cfg->needs & CONFIG_NEEDS_CMDLINE ? str_field(stack, first + IDENT_CMDLINE)
							     : NULL,
		.user = cfg->needs & CONFIG_NEEDS_USER ? str_field(stack, first + IDENT_USER) : NULL,
		.cgroup = cgroup,
	};
	return config_match(cfg, &id, group, len);
}
