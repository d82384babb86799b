/* SPDX-License-Identifier: MIT */
#include "yaml_schema.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes "PATH:LINE: message" (or "PATH: message" when line is 0) to the
 * caller's buffer; returns -EINVAL so that callers can `return yaml_fail(...)`. */
int yaml_fail(struct yaml_loader *ld, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->err || !ld->errlen)
		return -EINVAL;
	if (line)
		n = snprintf(ld->err, ld->errlen, "%s:%zu: ", ld->path, line);
	else
		n = snprintf(ld->err, ld->errlen, "%s: ", ld->path);
	if (n < 0 || (size_t)n >= ld->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

size_t yaml_line(const yaml_node_t *node)
{
	return node->start_mark.line + 1;
}

/*
 * Copies a value from the file into out for a message: quoted, cut at a
 * readable length, control bytes escaped, so a broken file cannot garble the
 * log line the message ends up in.
 */
const char *yaml_quote(char *out, size_t outlen, const char *s, size_t len)
{
	const size_t shown = outlen - 8; /* room for quotes, an escape, "..." and NUL */
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= shown) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			o += snprintf(out + o, outlen - o,
				      c == '"' || c == '\\' ? "\\%c" : "\\x%02x", c);
			continue;
		}
		out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* A plain scalar that YAML reads as null: "key:" with nothing after it, "~". */
bool yaml_is_null(const yaml_node_t *node)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (!strcmp((const char *)node->data.scalar.value, nulls[i]))
			return true;
	return false;
}

bool yaml_scalar_is(const yaml_node_t *node, const char *s)
{
	return node->data.scalar.length == strlen(s) &&
	       !memcmp(node->data.scalar.value, s, node->data.scalar.length);
}

/* The kind of a node, for "expected X, got Y". */
const char *yaml_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return yaml_is_null(node) ? "nothing" : "a scalar";
	}
}

yaml_node_t *yaml_node(struct yaml_loader *ld, yaml_node_item_t index)
{
	return yaml_document_get_node(ld->doc, index);
}

/* Lists a table's keys for the unknown-key message. */
static const char *key_list(char *out, size_t outlen, const struct yaml_key *keys, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o < outlen; i++) {
		int w = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", keys[i].key);

		if (w < 0)
			break;
		o += (size_t)w;
	}
	return out;
}

/*
 * Walks a mapping against a table of keys: every key must be a string the
 * table knows, none may repeat, and each value goes to its handler. `what`
 * names the mapping in messages.
 */
int yaml_parse_mapping(struct yaml_loader *ld, yaml_node_t *node, const char *what,
		       const struct yaml_key *keys, size_t nkeys, void *obj)
{
	size_t first_line[YAML_MAPPING_MAX_KEYS] = {0};
	char q[YAML_QUOTE_MAX], list[128];

	if (node->type != YAML_MAPPING_NODE)
		return yaml_fail(ld, yaml_line(node), "%s: expected a mapping, got %s", what,
				 yaml_kind(node));
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_node(ld, pair->key);
		yaml_node_t *value = yaml_node(ld, pair->value);
		size_t i;
		int err;

		if (!key || !value)
			return yaml_fail(ld, yaml_line(node), "%s: broken mapping", what);
		if (key->type != YAML_SCALAR_NODE)
			return yaml_fail(ld, yaml_line(key), "%s: a key must be a string, got %s",
					 what, yaml_kind(key));
		for (i = 0; i < nkeys; i++)
			if (yaml_scalar_is(key, keys[i].key))
				break;
		if (i == nkeys)
			return yaml_fail(
			    ld, yaml_line(key), "unknown key %s in %s (expected one of: %s)",
			    YAML_QUOTE(q, key), what, key_list(list, sizeof(list), keys, nkeys));
		if (first_line[i])
			return yaml_fail(ld, yaml_line(key),
					 "duplicate key \"%s\" in %s (first at line %zu)",
					 keys[i].key, what, first_line[i]);
		first_line[i] = yaml_line(key);
		err = keys[i].parse(ld, keys[i].key, value, (char *)obj + keys[i].offset);
		if (err)
			return err;
	}
	return 0;
}

int yaml_parse_node(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	(void)ld;
	(void)key;
	*(yaml_node_t **)field = value;
	return 0;
}

int yaml_missing(struct yaml_loader *ld, const yaml_node_t *node, const char *what, const char *key)
{
	return yaml_fail(ld, yaml_line(node), "%s: missing required key \"%s\"", what, key);
}

const char *yaml_scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* Checks that a value is a usable string and stores the node. */
int yaml_parse_string(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	if (value->type != YAML_SCALAR_NODE || yaml_is_null(value))
		return yaml_fail(ld, yaml_line(value), "%s: expected a string, got %s", key,
				 yaml_kind(value));
	if (!value->data.scalar.length)
		return yaml_fail(ld, yaml_line(value), "%s: must not be empty", key);
	/* A "\0" escape would silently cut the C string. */
	if (strlen((const char *)value->data.scalar.value) != value->data.scalar.length)
		return yaml_fail(ld, yaml_line(value), "%s: contains a NUL character", key);
	*(yaml_node_t **)field = value;
	return 0;
}

/* YAML 1.2 booleans only: "yes", "on" and friends are YAML 1.1 traps. */
int yaml_parse_bool(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	static const char *const truths[] = {"true", "True", "TRUE"};
	static const char *const lies[] = {"false", "False", "FALSE"};
	char q[YAML_QUOTE_MAX];

	if (value->type != YAML_SCALAR_NODE || yaml_is_null(value))
		return yaml_fail(ld, yaml_line(value), "%s: expected true or false, got %s", key,
				 yaml_kind(value));
	for (size_t i = 0; i < ARRAY_SIZE(truths); i++) {
		if (yaml_scalar_is(value, truths[i])) {
			*(bool *)field = true;
			return 0;
		}
		if (yaml_scalar_is(value, lies[i])) {
			*(bool *)field = false;
			return 0;
		}
	}
	return yaml_fail(ld, yaml_line(value), "%s: expected true or false, got %s", key,
			 YAML_QUOTE(q, value));
}

/* Reads the whole file, up to YAML_FILE_MAX_BYTES, NUL-terminated. */
int yaml_read_file(const char *path, char **out, size_t *outlen)
{
	size_t len = 0, cap = 4096;
	char *buf, *bigger;
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out_close;
	}
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n;

		if (len > YAML_FILE_MAX_BYTES) {
			err = -EFBIG;
			goto out_free_buf;
		}
		if (len + 1 == cap) {
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				err = -ENOMEM;
				goto out_free_buf;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out_free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	goto out_close;

out_free_buf:
	free(buf);
out_close:
	close(fd);
	return err;
}

/* Reports a libyaml failure with the line it happened on. */
static int parser_fail(struct yaml_loader *ld, const yaml_parser_t *parser)
{
	size_t line = parser->problem_mark.line + 1;

	if (parser->error == YAML_MEMORY_ERROR) {
		yaml_fail(ld, 0, "out of memory");
		return -ENOMEM;
	}
	if (parser->error == YAML_READER_ERROR) {
		/* Reader errors (bad UTF-8, control bytes) carry a byte offset,
		 * not a mark. */
		line = 1;
		for (size_t i = 0; i < parser->problem_offset && i < ld->len; i++)
			line += ld->buf[i] == '\n';
	}
	if (parser->context)
		return yaml_fail(ld, line, "invalid YAML: %s (%s at line %zu)",
				 parser->problem ? parser->problem : "error", parser->context,
				 parser->context_mark.line + 1);
	return yaml_fail(ld, line, "invalid YAML: %s", parser->problem ? parser->problem : "error");
}

/* Parses the first YAML document and makes sure no second one follows. */
int yaml_load_document(struct yaml_loader *ld, yaml_document_t *doc)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	yaml_node_t *root;
	int err = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->buf, ld->len);
	if (!yaml_parser_load(&parser, doc)) {
		err = parser_fail(ld, &parser);
		goto out_delete_parser;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		err = parser_fail(ld, &parser);
		goto out_delete_doc;
	}
	root = yaml_document_get_root_node(&extra);
	if (root)
		err = yaml_fail(
		    ld, yaml_line(root),
		    "more than one YAML document (memtide reads one; remove the \"---\")");
	yaml_document_delete(&extra);
	if (!err)
		goto out_delete_parser;
out_delete_doc:
	yaml_document_delete(doc);
out_delete_parser:
	yaml_parser_delete(&parser);
	return err;
}

int yaml_dup_scalar(const yaml_node_t *node, char **out)
{
	if (!node)
		return 0;
	*out = strdup((const char *)node->data.scalar.value);
	return *out ? 0 : -ENOMEM;
}
