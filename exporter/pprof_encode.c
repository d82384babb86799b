/* SPDX-License-Identifier: MIT */
/* The protobuf wire format, the parts profile.proto needs (pprof_encode.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pprof_encode.h"

void pb_free(struct pb_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static bool reserve(struct pb_buf *b, size_t n)
{
	size_t cap;
	unsigned char *p;

	if (b->failed)
		return false;
	if (n > PB_MAX || b->len > PB_MAX - n) {
		b->failed = true;
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void pb_bytes(struct pb_buf *b, const void *p, size_t n)
{
	if (n && reserve(b, n)) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
}

void pb_varint(struct pb_buf *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	pb_bytes(b, tmp, n);
}

void pb_uint(struct pb_buf *b, unsigned field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

void pb_lenbytes(struct pb_buf *b, unsigned field, const void *p, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	pb_bytes(b, p, n);
}

void pb_message(struct pb_buf *b, unsigned field, struct pb_buf *msg)
{
	if (msg->failed)
		b->failed = true;
	else
		pb_lenbytes(b, field, msg->data, msg->len);
	msg->len = 0;
	msg->failed = false;
}

void pb_packed(struct pb_buf *b, unsigned field, const uint64_t *v, size_t n)
{
	struct pb_buf tmp = {0};

	for (size_t i = 0; i < n; i++)
		pb_varint(&tmp, v[i]);
	pb_message(b, field, &tmp);
	pb_free(&tmp);
}

int pb_gzip(const unsigned char *in, size_t len, unsigned char **out, size_t *out_len)
{
	z_stream z = {0};
	unsigned char *buf;
	size_t cap;
	int ret;

	/* 15 + 16: a gzip header, as pprof expects. */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, (uLong)len) + 32; /* + the gzip header and trailer */
	buf = malloc(cap);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	ret = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (ret != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = z.total_out;
	return 0;
}
