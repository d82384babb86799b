/* SPDX-License-Identifier: MIT */
#include "event_counts.h"

#include <string.h>

#include "expo.h"

static const char overflow_reason[] = "other";

/* Locked. The last entry is kept for the overflow reason itself. */
static uint64_t *find_or_add(struct event_counts *c, const char *reason)
{
	for (size_t i = 0; i < c->used; i++)
		if (strcmp(c->entries[i].reason, reason) == 0)
			return &c->entries[i].count;
	if (c->used == EVENT_REASONS_MAX - 1 && reason != overflow_reason)
		return find_or_add(c, overflow_reason);
	c->entries[c->used].reason = reason;
	c->entries[c->used].count = 0;
	return &c->entries[c->used++].count;
}

void event_counts_inc(struct event_counts *c, const char *reason)
{
	pthread_mutex_lock(&c->lock);
	(*find_or_add(c, reason))++;
	pthread_mutex_unlock(&c->lock);
}

int event_counts_write(struct event_counts *c, struct expo *out, const char *collector,
		       const char *label)
{
	struct event_counts snap;
	int err = 0;

	pthread_mutex_lock(&c->lock);
	snap.used = c->used;
	memcpy(snap.entries, c->entries, c->used * sizeof(c->entries[0]));
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < snap.used && err == 0; i++)
		err = expo_sample(out, (double)snap.entries[i].count, "collector", collector, label,
				  snap.entries[i].reason, NULL);
	return err;
}
