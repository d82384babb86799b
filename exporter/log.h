/* SPDX-License-Identifier: MIT */
/*
 * log: structured logging to stderr, as logfmt or JSON (--log.format), with a
 * level filter (--log.level). One line per call, written with a single
 * write(2) so lines from concurrent threads never interleave.
 */
#ifndef MEMTIDE_LOG_H
#define MEMTIDE_LOG_H

#include <stdarg.h>

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

/* Returns 0, or -EINVAL for an unknown level ("debug", "info", "warn",
 * "error") or format ("logfmt", "json"). */
int log_setup(const char *level, const char *format);

/* Logs msg with key/value string pairs, ended by NULL. A NULL value after a
 * key is written as an empty string. */
void log_write(enum log_level level, const char *msg, ...) __attribute__((sentinel));

/* log_write with one key/value pair first, for a logger scoped to something
 * (collector=NAME): ap holds the other pairs, ended by NULL. */
void log_vwrite_tagged(enum log_level level, const char *msg, const char *tag_key,
		       const char *tag_value, va_list ap);

#define log_debug(...) log_write(LOGL_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOGL_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOGL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOGL_ERROR, __VA_ARGS__)

#endif
