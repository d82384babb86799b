/* SPDX-License-Identifier: MIT */
/*
 * A small protobuf writer for pprof's profile.proto (google/pprof
 * proto/profile.proto): varints, packed repeated varints and nested messages,
 * which is all a heap profile needs, and gzip on the way out (zlib).
 *
 * Why not libprotobuf-c: profile.proto would have to be compiled by protoc-c
 * at build time into generated code, and the message tree built in memory
 * before packing; writing the wire format directly is ~150 lines with no
 * generated code and no new run-time library, and the tests check its output
 * with the reference reader, `go tool pprof`.
 *
 * A pb_buf grows up to PB_MAX bytes; past that (or out of memory) it is
 * marked failed and every later write is a no-op, checked once at the end.
 */
#ifndef MEMTIDE_PPROF_ENCODE_H
#define MEMTIDE_PPROF_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_MAX (64u << 20)

struct pb_buf {
	unsigned char *data;
	size_t len, cap;
	bool failed;
};

void pb_free(struct pb_buf *b);
void pb_bytes(struct pb_buf *b, const void *p, size_t n);
void pb_varint(struct pb_buf *b, uint64_t v);
/* Field `field` as a varint (wire type 0); zero values are written too. */
void pb_uint(struct pb_buf *b, unsigned field, uint64_t v);
/* Field `field` as length-delimited bytes (wire type 2). */
void pb_lenbytes(struct pb_buf *b, unsigned field, const void *p, size_t n);
/* A nested message: its encoding in msg, which is then emptied. */
void pb_message(struct pb_buf *b, unsigned field, struct pb_buf *msg);
/* Packed repeated varints. */
void pb_packed(struct pb_buf *b, unsigned field, const uint64_t *v, size_t n);

/* gzip of in[0, len) into a malloc'ed *out; 0 or -ENOMEM/-EIO. */
int pb_gzip(const unsigned char *in, size_t len, unsigned char **out, size_t *out_len);

#endif
