/* SPDX-License-Identifier: MIT */
/*
 * yaml_schema: walking a libyaml document against fixed tables of keys.
 *
 * Shared by the config file and the web config file: both are read whole
 * (they are small and bounded), parsed into one document, and each mapping
 * is checked against a table of the keys it accepts, so unknown keys,
 * duplicate keys and wrong types are caught in one place and reported as
 * "FILE:LINE: message".
 */
#ifndef MEMTIDE_YAML_SCHEMA_H
#define MEMTIDE_YAML_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "array_size.h"

/* These files are a few hundred bytes; the cap only stops a wrong path (a
 * log, a core file) from being read whole. */
#define YAML_FILE_MAX_BYTES (1u << 20)

/* Keys one mapping may have; callers check their tables against it. */
#define YAML_MAPPING_MAX_KEYS 16

struct yaml_loader {
	const char *path;
	const char *buf; /* the file's bytes, to find the line of a reader error */
	size_t len;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

/*
 * One key a mapping accepts: parse() checks the value and stores it at
 * `offset` bytes into the object the mapping fills.
 */
struct yaml_key {
	const char *key;
	int (*parse)(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field);
	size_t offset;
};

/* Writes "PATH:LINE: message" (or "PATH: message" when line is 0) to the
 * loader's buffer; returns -EINVAL so that callers can `return yaml_fail(...)`. */
__attribute__((format(printf, 3, 4))) int yaml_fail(struct yaml_loader *ld, size_t line,
						    const char *fmt, ...);

size_t yaml_line(const yaml_node_t *node);

/* A value from the file, quoted and cut for a message (see yaml_quote). */
const char *yaml_quote(char *out, size_t outlen, const char *s, size_t len);
#define YAML_QUOTE_MAX 72
#define YAML_QUOTE(buf, node)                                                                      \
	yaml_quote(buf, sizeof(buf), (const char *)(node)->data.scalar.value,                      \
		   (node)->data.scalar.length)

bool yaml_is_null(const yaml_node_t *node);
bool yaml_scalar_is(const yaml_node_t *node, const char *s);
const char *yaml_kind(const yaml_node_t *node); /* "a mapping", "a list", ... */
yaml_node_t *yaml_node(struct yaml_loader *ld, yaml_node_item_t index);

/* Walks a mapping against `keys`; `what` names it in messages. */
int yaml_parse_mapping(struct yaml_loader *ld, yaml_node_t *node, const char *what,
		       const struct yaml_key *keys, size_t nkeys, void *obj);

/* Key handlers: a non-empty string without NUL (stores the node), a YAML 1.2 bool. */
int yaml_parse_string(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field);
int yaml_parse_bool(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field);

/* Stores a node of any kind; the caller's builder checks it. */
int yaml_parse_node(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field);

/* A required key that the mapping at `node` (named `what`) lacks: -EINVAL. */
int yaml_missing(struct yaml_loader *ld, const yaml_node_t *node, const char *what,
		 const char *key);

/* A scalar node's text, NUL-terminated. */
const char *yaml_scalar(const yaml_node_t *node);

/* Copies a scalar's text to *out; leaves *out alone when node is NULL. */
int yaml_dup_scalar(const yaml_node_t *node, char **out);

/* Reads a whole file, NUL-terminated; a negative errno on failure. */
int yaml_read_file(const char *path, char **out, size_t *outlen);

/* Parses ld->buf into doc; exactly one document. */
int yaml_load_document(struct yaml_loader *ld, yaml_document_t *doc);

#endif
