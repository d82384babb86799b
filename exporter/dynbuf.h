/* SPDX-License-Identifier: MIT */
/*
 * dynbuf: the one growable buffer of the exporter, after git's strbuf and
 * curl's dynbuf. A buffer gets its cap when it is initialised, so no input
 * can make it grow without bound; a failed append frees it, so an error
 * path cannot leak it or publish half of it; and every result that can fail
 * must be looked at (warn_unused_result).
 *
 * dynarray_reserve is the same discipline for arrays of records.
 */
#ifndef MEMTIDE_DYNBUF_H
#define MEMTIDE_DYNBUF_H

#include <stddef.h>

#define DYNBUF_MUST_CHECK __attribute__((warn_unused_result))

struct dynbuf {
	char *p;      /* NUL-terminated once anything was added; NULL until then */
	size_t len;   /* bytes held, without the NUL */
	size_t alloc; /* bytes allocated */
	size_t cap;   /* the most bytes it may hold, without the NUL */
};

void dynbuf_init(struct dynbuf *b, size_t cap);

/* Makes room for n more bytes and a NUL. On failure (-E2BIG past the cap,
 * -ENOMEM) the buffer is freed and empty. */
DYNBUF_MUST_CHECK int dynbuf_reserve(struct dynbuf *b, size_t n);

/* After dynbuf_reserve(b, n) and writing up to n bytes at b->p + b->len:
 * counts them and terminates. */
void dynbuf_advance(struct dynbuf *b, size_t n);

/* Appends n bytes, a string, or printf output; frees the buffer on failure. */
DYNBUF_MUST_CHECK int dynbuf_add(struct dynbuf *b, const void *s, size_t n);
DYNBUF_MUST_CHECK int dynbuf_addstr(struct dynbuf *b, const char *s);
DYNBUF_MUST_CHECK __attribute__((format(printf, 2, 3))) int dynbuf_addf(struct dynbuf *b,
									const char *fmt, ...);

/* Hands the bytes to the caller (who frees them) and leaves b empty. */
char *dynbuf_take(struct dynbuf *b, size_t *len);

void dynbuf_free(struct dynbuf *b);

/*
 * Makes room for `need` records of `size` bytes in *arr, whose room is
 * *alloc records, never more than `cap` records: doubling, from 16. On
 * failure (-E2BIG, -ENOMEM) *arr and *alloc are as they were: the records
 * already held are the caller's to keep or free.
 */
DYNBUF_MUST_CHECK int dynarray_reserve(void **arr, size_t *alloc, size_t need, size_t size,
				       size_t cap);

#endif
