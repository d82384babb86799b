/* SPDX-License-Identifier: MIT */
#include "dynbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation: most buffers (a log-sized page, a small scrape)
 * never grow past it. */
#define DYNBUF_FIRST 4096

void dynbuf_init(struct dynbuf *b, size_t cap)
{
	*b = (struct dynbuf){.cap = cap};
}

void dynbuf_free(struct dynbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->alloc = 0;
}

int dynbuf_reserve(struct dynbuf *b, size_t n)
{
	size_t want;
	char *p;

	if (n > b->cap - b->len) {
		dynbuf_free(b);
		return -E2BIG;
	}
	if (b->len + n < b->alloc)
		return 0;
	want = b->alloc ? b->alloc : DYNBUF_FIRST;
	while (want <= b->len + n && want <= b->cap)
		want *= 2;
	if (want > b->cap + 1)
		want = b->cap + 1;
	p = realloc(b->p, want);
	if (!p) {
		dynbuf_free(b);
		return -ENOMEM;
	}
	b->p = p;
	b->alloc = want;
	return 0;
}

void dynbuf_advance(struct dynbuf *b, size_t n)
{
	b->len += n;
	b->p[b->len] = '\0';
}

int dynbuf_add(struct dynbuf *b, const void *s, size_t n)
{
	int err = dynbuf_reserve(b, n);

	if (err)
		return err;
	if (n)
		memcpy(b->p + b->len, s, n);
	dynbuf_advance(b, n);
	return 0;
}

int dynbuf_addstr(struct dynbuf *b, const char *s)
{
	return dynbuf_add(b, s, strlen(s));
}

int dynbuf_addf(struct dynbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		dynbuf_free(b);
		return -EINVAL;
	}
	err = dynbuf_reserve(b, (size_t)n);
	if (err)
		return err;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	dynbuf_advance(b, (size_t)n);
	return 0;
}

char *dynbuf_take(struct dynbuf *b, size_t *len)
{
	char *p = b->p;

	*len = b->len;
	b->p = NULL;
	b->len = b->alloc = 0;
	return p;
}

int dynarray_reserve(void **arr, size_t *alloc, size_t need, size_t size, size_t cap)
{
	size_t want;
	void *p;

	if (need <= *alloc)
		return 0;
	if (need > cap || cap > SIZE_MAX / size)
		return -E2BIG;
	want = *alloc ? *alloc : 16;
	while (want < need)
		want = want > cap / 2 ? cap : want * 2;
	p = realloc(*arr, want * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*alloc = want;
	return 0;
}
