/* SPDX-License-Identifier: MIT */
/*
 * process_match: assigning a process to its group and naming the group.
 *
 * This runs for every process on every scrape, so it only executes what
 * process_config.c compiled at load: globs, regexes with the capture count the name needs,
 * and name templates already split into parts. The regex runs in time linear
 * in the command line (cmdline_re.h): a local user's crafted arguments cannot
 * make it backtrack.
 */
#include "process_config.h"

#include "cmdline_re.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "exporter/utf8.h"

/* Captures a name can refer to: {0}..{9}. */
#define MAX_MATCH 10

/* The group name being written: never past cap - 1 bytes, NUL added at the end. */
struct name_buf {
	char *s;
	size_t len;
	size_t cap;
	bool cut;
};

static bool glob_matches(const char *glob, const char *s)
{
	return s && fnmatch(glob, s, 0) == 0;
}

static const char *exe_base(const char *exe)
{
	const char *slash = strrchr(exe, '/');

	return slash ? slash + 1 : exe;
}

/* A glob with a '/' is meant for the full path; without one, for the file name. */
static bool exe_matches(const char *glob, const char *exe)
{
	if (!exe)
		return false;
	return glob_matches(glob, strchr(glob, '/') ? exe : exe_base(exe));
}

/* True when every condition of m holds for p; fills pm for the name's {N}. */
static bool matcher_matches(const struct group_matcher *m, const struct proc_ident *p,
			    struct cmdline_re_span *pm)
{
	/* Cheapest first: most processes fail the comm glob. */
	if (m->comm && !glob_matches(m->comm, p->comm))
		return false;
	if (m->exe && !exe_matches(m->exe, p->exe))
		return false;
	if (m->cmdline)
		return p->cmdline && cmdline_re_search(m->cmdline_re, p->cmdline,
						       strlen(p->cmdline), pm, m->nmatch);
	return true;
}

static void put(struct name_buf *b, const char *s, size_t n)
{
	size_t room = b->cap - 1 - b->len;

	if (n > room) {
		n = room;
		b->cut = true;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
}

/*
 * Writes n bytes of a process's field as the kernel holds them when they are
 * UTF-8; an invalid byte becomes \xHH and a backslash \\, so that two
 * distinct values are never published as one ("dup\xff" and "dup\xfe").
 */
static void put_escaped(struct name_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char hex[5];
	size_t k;

	for (size_t i = 0; i < n && !b->cut; i += k) {
		if (p[i] == '\\') {
			put(b, "\\\\", 2);
			k = 1;
		} else if ((k = utf8_seq(p + i)) != 0 && k <= n - i) {
			put(b, s + i, k);
		} else {
			snprintf(hex, sizeof(hex), "\\x%02x", p[i]);
			put(b, hex, 4);
			k = 1;
		}
	}
}

static void put_str(struct name_buf *b, const char *s)
{
	if (s)
		put_escaped(b, s, strlen(s));
}

/* A name cut inside a multi-byte UTF-8 character would be an invalid label
 * value; drop the partial character. */
static void trim_partial_utf8(struct name_buf *b)
{
	size_t i = b->len, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)b->s[i - 1] & 0xc0) == 0x80 && b->len - i < 3)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)b->s[i - 1];
	if (lead >= 0xf0)
		need = 4;
	else if (lead >= 0xe0)
		need = 3;
	else if (lead >= 0xc0)
		need = 2;
	else
		return;
	if (b->len - (i - 1) < need)
		b->len = i - 1;
}

/* Writes the part of cmdline that capture `index` matched, if it took part. */
static void put_match(struct name_buf *b, const char *cmdline, const struct cmdline_re_span *pm,
		      unsigned index)
{
	if (!cmdline || pm[index].so < 0 || pm[index].eo < pm[index].so)
		return;
	put_escaped(b, cmdline + pm[index].so, (size_t)(pm[index].eo - pm[index].so));
}

static void expand(const struct group_matcher *m, const struct proc_ident *p,
		   const struct cmdline_re_span *pm, struct name_buf *b)
{
	for (const struct name_part *part = m->parts; part->kind != NAME_END; part++) {
		switch (part->kind) {
		case NAME_LITERAL:
			put(b, part->text, part->len);
			break;
		case NAME_COMM:
			put_str(b, p->comm);
			break;
		case NAME_EXE:
			put_str(b, p->exe ? exe_base(p->exe) : NULL);
			break;
		case NAME_EXE_PATH:
			put_str(b, p->exe);
			break;
		case NAME_USER:
			put_str(b, p->user);
			break;
		case NAME_CGROUP:
			put_str(b, p->cgroup);
			break;
		case NAME_MATCH:
			if (part->index < m->nmatch)
				put_match(b, p->cmdline, pm, part->index);
			break;
		case NAME_END:
			break;
		}
	}
}

int process_match(const struct config *cfg, const struct proc_ident *p, char *name, size_t namelen)
{
	const struct process_settings *ps = process_settings(cfg);
	struct name_buf b = {.s = name, .cap = namelen};
	struct cmdline_re_span pm[MAX_MATCH];

	if (!namelen)
		return -1;
	if (b.cap > PROCESS_GROUP_NAME_MAX)
		b.cap = PROCESS_GROUP_NAME_MAX;
	name[0] = '\0';
	for (size_t i = 0; i < ps->n_groups; i++) {
		const struct group_matcher *m = &ps->groups[i];

		if (!matcher_matches(m, p, pm))
			continue;
		expand(m, p, pm, &b);
		if (b.cut)
			trim_partial_utf8(&b);
		name[b.len] = '\0';
		return b.len ? (int)i : -1;
	}
	return -1;
}
