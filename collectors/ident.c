/* SPDX-License-Identifier: MIT */
#include "ident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_limit.h"
#include "exporter/config.h"
#include "process_config.h"
#include "procfs.h"

#define COMM_BYTES 64		   /* the kernel's TASK_COMM_LEN is 16 */
#define CGROUP_FILE_BYTES 4096	   /* /proc/PID/cgroup: one line per hierarchy */
#define CMDLINE_BYTES (128u << 10) /* the longest command line read as the kernel holds it */

void ident_items(const struct config *cfg, enum pids_item *items)
{
	items[IDENT_COMM] = PIDS_CMD;
	items[IDENT_EXE] = process_settings(cfg)->needs & PROCESS_NEEDS_EXE ? PIDS_EXE : PIDS_noop;
	items[IDENT_CMDLINE] =
	    process_settings(cfg)->needs & PROCESS_NEEDS_CMDLINE ? PIDS_CMDLINE : PIDS_noop;
	items[IDENT_USER] =
	    process_settings(cfg)->needs & PROCESS_NEEDS_USER ? PIDS_ID_EUSER : PIDS_noop;
	items[IDENT_CGROUP] =
	    process_settings(cfg)->needs & PROCESS_NEEDS_CGROUP ? PIDS_CGROUP : PIDS_noop;
}

static const char *str_field(struct pids_stack *stack, int pos)
{
	const char *v = stack->head[pos].result.str;

	/* libproc2 writes "-" for what it could not read. */
	return v && strcmp(v, "-") != 0 ? v : NULL;
}

/*
 * libproc2 writes '?' for every byte it cannot print: "café" and "dup\xff"
 * come out as "caf??" and "dup?". Where a '?' shows, the name is read again
 * as the kernel holds it; a real '?' costs the same read and changes nothing.
 */
static const char *raw_comm(const struct config *cfg, int pid, const char *comm, char *buf)
{
	int n;

	if (!comm || !strchr(comm, '?'))
		return comm;
	n = procfs_read(cfg->procfs, pid, "comm", buf, COMM_BYTES);
	if (n <= 0)
		return comm;
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

/*
 * The command line as the kernel holds it, arguments joined by single spaces
 * as libproc2 joins them, where libproc2 showed a '?' (see raw_comm). A line
 * longer than CMDLINE_BYTES keeps libproc2's form: a cut one would match
 * differently from what the rest of the scrape sees. The buffer is the
 * thread's own (the process and agent collectors match on their own lanes at
 * once) and lives as long as the lane's thread.
 */
static const char *raw_cmdline(const struct config *cfg, int pid, const char *cmdline)
{
	static __thread char *buf;
	int n;

	if (!cmdline || !strchr(cmdline, '?'))
		return cmdline;
	if (!buf) {
		buf = malloc(CMDLINE_BYTES + 1);
		if (!buf)
			return cmdline;
	}
	n = procfs_read(cfg->procfs, pid, "cmdline", buf, CMDLINE_BYTES + 1);
	if (n <= 0 || (unsigned)n >= CMDLINE_BYTES)
		return cmdline;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (int i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return n > 0 ? buf : cmdline;
}

/* The cgroup v2 path ("0::/path" in /proc/PID/cgroup), as the kernel holds it. */
static void raw_cgroup(const struct config *cfg, int pid, const char *field, char *buf, size_t len)
{
	char text[CGROUP_FILE_BYTES];
	const char *line = text;

	cgroup_v2_path(field ? field : "", buf, len);
	if (!strchr(buf, '?') || procfs_read(cfg->procfs, pid, "cgroup", text, sizeof(text)) <= 0)
		return;
	while (line && strncmp(line, "0::", 3) != 0) {
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	if (line)
		snprintf(buf, len, "%.*s", (int)strcspn(line + 3, "\n"), line + 3);
}

int ident_match(const struct config *cfg, int pid, struct pids_stack *stack, int first, char *group,
		size_t len)
{
	char cgroup[1024] = "/", comm[COMM_BYTES];
	struct proc_ident id;

	if (process_settings(cfg)->needs & PROCESS_NEEDS_CGROUP)
		raw_cgroup(cfg, pid, str_field(stack, first + IDENT_CGROUP), cgroup,
			   sizeof(cgroup));
	id = (struct proc_ident){
	    .comm = raw_comm(cfg, pid, stack->head[first + IDENT_COMM].result.str, comm),
	    .exe = process_settings(cfg)->needs & PROCESS_NEEDS_EXE
		       ? str_field(stack, first + IDENT_EXE)
		       : NULL,
	    .cmdline = process_settings(cfg)->needs & PROCESS_NEEDS_CMDLINE
			   ? raw_cmdline(cfg, pid, str_field(stack, first + IDENT_CMDLINE))
			   : NULL,
	    .user = process_settings(cfg)->needs & PROCESS_NEEDS_USER
			? str_field(stack, first + IDENT_USER)
			: NULL,
	    .cgroup = cgroup,
	};
	return process_match(cfg, &id, group, len);
}
