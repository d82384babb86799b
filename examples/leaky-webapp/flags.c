/* SPDX-License-Identifier: MIT */
#include "flags.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int flag_bad(const char *flag, const char *value, const char *why)
{
	fprintf(stderr, "%s: --%s=%s: %s\n", program_invocation_short_name, flag, value, why);
	return -EINVAL;
}

int flag_double(const char *flag, const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return flag_bad(flag, s, "not a number");
	if (v < min || v > max)
		return flag_bad(flag, s, "out of range");
	*out = v;
	return 0;
}

int flag_u64(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull accepts a sign; a negative count is an error here. */
	if (*s < '0' || *s > '9')
		return flag_bad(flag, s, "not a non-negative integer");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return flag_bad(flag, s, "not a non-negative integer");
	if (v < min || v > max)
		return flag_bad(flag, s, "out of range");
	*out = v;
	return 0;
}
