/* SPDX-License-Identifier: MIT */
/*
 * flags: the number parsing that leaky_webapp's and loadgen's flags share.
 * Each function prints "PROGRAM: --FLAG=VALUE: why" to stderr and returns
 * -EINVAL for a bad value, or returns 0 and stores the value.
 */
#ifndef LEAKY_WEBAPP_FLAGS_H
#define LEAKY_WEBAPP_FLAGS_H

#include <stdint.h>

int flag_bad(const char *flag, const char *value, const char *why);

/* A finite number in [min, max]. */
int flag_double(const char *flag, const char *s, double min, double max, double *out);

/* A non-negative integer in [min, max] (no sign, no trailing text). */
int flag_u64(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
