/* SPDX-License-Identifier: MIT */
#include "group_families.h"

static double value_at(const void *record, size_t offset)
{
	return *(const double *)((const char *)record + offset);
}

static bool has(const void *record, size_t when)
{
	return when == GROUP_ALWAYS || *(const bool *)((const char *)record + when);
}

int group_families_write(struct expo *out, const struct group_family *families, size_t n,
			 const struct group_records *groups)
{
	int err = 0;

	for (size_t f = 0; f < n && !err; f++) {
		const struct group_family *gf = &families[f];

		err = expo_family(out, gf->name, gf->type, gf->help);
		for (size_t i = 0; i < groups->n && !err; i++) {
			const void *rec = (const char *)groups->base + i * groups->stride;

			if (has(rec, gf->when))
				err = expo_sample(out, value_at(rec, gf->value), "group",
						  groups->name(rec), NULL);
		}
	}
	return err;
}
