/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array_size.h"

#define LOG_LINE_MAX 4096

static enum log_level min_level = LOGL_INFO;
static bool json_format;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_setup(const char *level, const char *format)
{
	int found = -1;

	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (strcmp(level, level_names[i]) == 0)
			found = (int)i;
	if (found < 0)
		return -EINVAL;
	if (strcmp(format, "logfmt") != 0 && strcmp(format, "json") != 0)
		return -EINVAL;
	min_level = (enum log_level)found;
	json_format = strcmp(format, "json") == 0;
	return 0;
}

/*
 * A bounded line buffer on the caller's stack: appends are cut at the end,
 * never overflow. Not a dynbuf on purpose: logging must not allocate, since
 * it reports, among others, that memory ran out.
 */
struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void put_char(struct line *l, char c)
{
	if (l->len < sizeof(l->buf) - 3) /* room for '}', '\n' and NUL */
		l->buf[l->len++] = c;
}

static void put_str(struct line *l, const char *s)
{
	while (*s)
		put_char(l, *s++);
}

/* Escapes for a JSON string or a quoted logfmt value: the same rules serve both. */
static void put_escaped(struct line *l, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char hex[8];

		if (c == '"' || c == '\\') {
			put_char(l, '\\');
			put_char(l, (char)c);
		} else if (c == '\n') {
			put_str(l, "\\n");
		} else if (c < 0x20) {
			snprintf(hex, sizeof(hex), "\\u%04x", c);
			put_str(l, hex);
		} else {
			put_char(l, (char)c);
		}
	}
}

static bool logfmt_needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s; s++)
		if (*s == ' ' || *s == '=' || *s == '"' || (unsigned char)*s < 0x20)
			return true;
	return false;
}

static void put_field(struct line *l, const char *key, const char *value, bool first)
{
	if (json_format) {
		put_str(l, first ? "{\"" : ",\"");
		put_escaped(l, key);
		put_str(l, "\":\"");
		put_escaped(l, value);
		put_char(l, '"');
		return;
	}
	if (!first)
		put_char(l, ' ');
	put_str(l, key);
	put_char(l, '=');
	if (logfmt_needs_quotes(value)) {
		put_char(l, '"');
		put_escaped(l, value);
		put_char(l, '"');
	} else {
		put_str(l, value);
	}
}

static void format_time(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* One line: ts, level, msg, then the tag (when tag_key is not NULL), then the pairs in ap. */
static void write_line(enum log_level level, const char *msg, const char *tag_key,
		       const char *tag_value, va_list ap)
{
	struct line l = {.len = 0};
	char ts[96];
	const char *key;
	int saved_errno = errno;

	if (level < min_level)
		return;
	format_time(ts, sizeof(ts));
	put_field(&l, "ts", ts, true);
	put_field(&l, "level", level_names[level], false);
	put_field(&l, "msg", msg, false);
	if (tag_key)
		put_field(&l, tag_key, tag_value ? tag_value : "", false);
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);

		put_field(&l, key, value ? value : "", false);
	}
	if (json_format)
		l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	/* A short write to stderr has nowhere to be reported. */
	if (write(STDERR_FILENO, l.buf, l.len) < 0)
		(void)0;
	errno = saved_errno;
}

void log_write(enum log_level level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	write_line(level, msg, NULL, NULL, ap);
	va_end(ap);
}

void log_vwrite_tagged(enum log_level level, const char *msg, const char *tag_key,
		       const char *tag_value, va_list ap)
{
	write_line(level, msg, tag_key, tag_value, ap);
}
