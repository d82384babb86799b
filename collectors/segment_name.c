/* SPDX-License-Identifier: MIT */
#include "segment_name.h"

#include <stdio.h>
#include <string.h>

#include "agent/segment.h"

/* A decimal without a leading zero, at most max; the end, or NULL. */
static const char *decimal(const char *p, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*p < '1' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (max - (unsigned)(*p - '0')) / 10)
			return NULL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	*out = v;
	return p;
}

int segment_name_pid(const char *name)
{
	size_t plen = strlen(MEMTIDE_SEG_PREFIX);
	unsigned long long pid, start;
	const char *p;

	if (strncmp(name, MEMTIDE_SEG_PREFIX, plen) != 0)
		return -1;
	p = decimal(name + plen, 99999999, &pid);
	if (!p)
		return -1;
	if (*p == '.')
		p = decimal(p + 1, UINT64_MAX, &start);
	return p && *p == '\0' ? (int)pid : -1;
}

void segment_name_format(char *buf, size_t len, unsigned pid, uint64_t start)
{
	if (start)
		snprintf(buf, len, MEMTIDE_SEG_PREFIX "%u.%llu", pid, (unsigned long long)start);
	else
		snprintf(buf, len, MEMTIDE_SEG_PREFIX "%u", pid);
}

int segment_names_for_pid(unsigned pid, uint64_t start, char names[][SEGMENT_NAME_MAX], int max)
{
	int n = 0;

	if (n < max)
		segment_name_format(names[n++], SEGMENT_NAME_MAX, pid, 0);
	if (start && n < max)
		segment_name_format(names[n++], SEGMENT_NAME_MAX, pid, start);
	return n;
}
