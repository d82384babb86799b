/* SPDX-License-Identifier: MIT */
/*
 * config: loading the YAML file into a struct config.
 *
 * The file is read whole (it is small and bounded), parsed by libyaml into a
 * document, and walked against a fixed schema: each mapping has a table of the
 * keys it accepts, so unknown keys, duplicate keys and wrong types are all
 * caught in one place and reported with the line of the node at fault.
 * Name templates and regexes are compiled here, once, so that config_match
 * (matcher.c) only executes them.
 */
#include "config.h"
#include "cmdline_re.h"
#include "yaml_schema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* What one process.groups entry says, before it is compiled into a matcher. */
struct group_draft {
	yaml_node_t *name;
	yaml_node_t *comm;
	yaml_node_t *exe;
	yaml_node_t *cmdline;
	bool pss;
};

static int parse_duration_value(struct yaml_loader *ld, const char *key, yaml_node_t *value,
				void *field)
{
	char q[YAML_QUOTE_MAX];

	if (value->type != YAML_SCALAR_NODE || yaml_is_null(value))
		return yaml_fail(ld, yaml_line(value), "%s: expected a duration, got %s", key,
				 yaml_kind(value));
	if (strlen((const char *)value->data.scalar.value) != value->data.scalar.length ||
	    config_parse_duration((const char *)value->data.scalar.value, field))
		return yaml_fail(ld, yaml_line(value),
				 "%s: invalid duration %s (expected e.g. 60s, 1h30m, 500ms, 2d)",
				 key, YAML_QUOTE(q, value));
	return 0;
}

/* The placeholders a name template may use, other than {0}..{9}. */
/* clang-format off */
static const struct {
	const char *name;
	enum name_part_kind kind;
} placeholders[] = {
	{"comm", NAME_COMM},
	{"exe", NAME_EXE},
	{"exe_path", NAME_EXE_PATH},
	{"user", NAME_USER},
	{"cgroup", NAME_CGROUP},
};
/* clang-format on */

/*
 * Reads the part of a template at *pos and moves past it. On a syntax error
 * returns -EINVAL with *pos at the offending brace. Literal parts point into
 * the template; "{{" and "}}" become one-brace literals.
 */
static int scan_part(const char **pos, struct name_part *part)
{
	const char *s = *pos, *end;

	*part = (struct name_part){.kind = NAME_LITERAL, .text = s, .len = 1};
	if (!*s) {
		part->kind = NAME_END;
		return 0;
	}
	if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
		*pos = s + 2;
		return 0;
	}
	if (*s == '}')
		return -EINVAL;
	if (*s != '{') {
		part->len = strcspn(s, "{}");
		*pos = s + part->len;
		return 0;
	}
	end = strchr(s, '}');
	if (!end)
		return -EINVAL;
	*part = (struct name_part){.kind = NAME_END, .text = s, .len = (size_t)(end + 1 - s)};
	*pos = end + 1;
	if (end - s == 2 && s[1] >= '0' && s[1] <= '9') {
		part->kind = NAME_MATCH;
		part->index = (unsigned)(s[1] - '0');
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(placeholders); i++) {
		if ((size_t)(end - s - 1) == strlen(placeholders[i].name) &&
		    !memcmp(s + 1, placeholders[i].name, (size_t)(end - s - 1))) {
			part->kind = placeholders[i].kind;
			return 0;
		}
	}
	return -ENOENT; /* well-formed but unknown: part->text spans it */
}

/* Explains a template error found by scan_part. */
static int template_fail(struct yaml_loader *ld, size_t line, const char *tmpl, const char *at,
			 const struct name_part *part, int err)
{
	char q[YAML_QUOTE_MAX];

	if (err == -ENOENT)
		return yaml_fail(
		    ld, line,
		    "name: unknown placeholder %s (expected {comm}, {exe}, {exe_path}, "
		    "{user}, {cgroup} or {0}..{9}; write {{ and }} for literal braces)",
		    yaml_quote(q, sizeof(q), part->text, part->len));
	if (*at == '{')
		return yaml_fail(ld, line, "name: unterminated \"{\" at column %zu of %s",
				 (size_t)(at - tmpl) + 1,
				 yaml_quote(q, sizeof(q), tmpl, strlen(tmpl)));
	return yaml_fail(ld, line,
			 "name: single \"}\" at column %zu of %s (write }} for a literal brace)",
			 (size_t)(at - tmpl) + 1, yaml_quote(q, sizeof(q), tmpl, strlen(tmpl)));
}

/*
 * Parses a name template into a NAME_END-terminated array of parts that point
 * into tmpl (which must outlive them). *max_index is the highest {N}, or -1.
 */
static int parse_template(struct yaml_loader *ld, size_t line, const char *tmpl,
			  struct name_part **out, int *max_index)
{
	struct name_part part, *parts;
	size_t n = 0;
	const char *pos = tmpl, *at;
	int err;

	*max_index = -1;
	do {
		at = pos;
		err = scan_part(&pos, &part);
		if (err)
			return template_fail(ld, line, tmpl, at, &part, err);
		if (part.kind == NAME_MATCH && (int)part.index > *max_index)
			*max_index = (int)part.index;
		n++;
	} while (part.kind != NAME_END);

	parts = calloc(n, sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	pos = tmpl;
	for (size_t i = 0; i < n; i++)
		scan_part(&pos, &parts[i]);
	*out = parts;
	return 0;
}

/*
 * A regex compiler expands "x+" into "xx*" and "x{n,m}" into m copies of x, so
 * nested and stacked repetitions multiply: "((a{99}){99}){99}" or a run of
 * "+" exhaust memory before regcomp can fail. The functions below estimate
 * the expanded size of an extended regex, erring high, so that such patterns
 * are refused with a message; no regex for a command line comes near the
 * budget. Syntax errors are left to the compiler (cmdline_re.h).
 */
#define REGEX_MAX_LEN 4096
#define REGEX_MAX_SIZE 10000
#define REGEX_MAX_DEPTH 64
#define REGEX_DUP_MAX 32768 /* above glibc's RE_DUP_MAX: regcomp rejects it */

struct re_scan {
	const char *p;
	unsigned depth;
};

static size_t re_clamp(size_t n)
{
	return n > REGEX_MAX_SIZE ? REGEX_MAX_SIZE + 1 : n;
}

static size_t re_number(const char **p)
{
	size_t n = 0;

	for (; **p >= '0' && **p <= '9'; (*p)++)
		if (n <= REGEX_DUP_MAX)
			n = n * 10 + (size_t)(**p - '0');
	return n > REGEX_DUP_MAX ? REGEX_DUP_MAX : n;
}

/* Applies the quantifier at *p, if there is one, to an operand of *size. */
static bool re_quantify(const char **p, size_t *size)
{
	const char *s = *p;
	size_t n, m;

	if (*s == '*' || *s == '?' || *s == '+') {
		*size = re_clamp((*s == '+' ? 2 * *size : *size) + 1);
		*p = s + 1;
		return true;
	}
	if (*s != '{' || !((s[1] >= '0' && s[1] <= '9') || s[1] == ','))
		return false;
	s++;
	n = m = re_number(&s);
	if (*s == ',') {
		s++;
		m = *s >= '0' && *s <= '9' ? re_number(&s) : n + 1;
	}
	if (*s != '}')
		return false;
	*size = re_clamp((m > n ? m : n) * *size + 1);
	*p = s + 1;
	return true;
}

/* Skips a bracket expression, "[:alpha:]" and friends inside it included. */
static const char *re_bracket_end(const char *s)
{
	const char *p = s + 1;

	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
			const char *close = p + 2;

			while (*close && !(close[0] == p[1] && close[1] == ']'))
				close++;
			if (*close) {
				p = close + 2;
				continue;
			}
		}
		p++;
	}
	return *p ? p + 1 : p;
}

static size_t re_alternatives(struct re_scan *sc);

static size_t re_atom(struct re_scan *sc)
{
	const char *s = sc->p;
	size_t size;

	switch (*s) {
	case '(':
		if (sc->depth == REGEX_MAX_DEPTH)
			return REGEX_MAX_SIZE + 1;
		sc->depth++;
		sc->p++;
		size = re_alternatives(sc);
		sc->depth--;
		if (*sc->p == ')')
			sc->p++;
		return re_clamp(size + 1);
	case '[':
		sc->p = re_bracket_end(s);
		return 1;
	case '\\':
		sc->p = s[1] ? s + 2 : s + 1;
		return 1;
	default:
		sc->p = s + 1;
		return 1;
	}
}

/* Sizes alternatives up to the ")" that closes the current group, or the end. */
static size_t re_alternatives(struct re_scan *sc)
{
	size_t total = 0;

	while (*sc->p && total <= REGEX_MAX_SIZE) {
		size_t size;

		if (*sc->p == ')' && sc->depth)
			break;
		if (*sc->p == '|') {
			sc->p++;
			total = re_clamp(total + 1);
			continue;
		}
		size = re_atom(sc);
		while (re_quantify(&sc->p, &size))
			;
		total = re_clamp(total + size);
	}
	return total;
}

static bool regex_too_big(const char *re)
{
	struct re_scan sc = {.p = re};

	return strlen(re) > REGEX_MAX_LEN || re_alternatives(&sc) > REGEX_MAX_SIZE;
}

/* Compiles the cmdline regex, checking that the name's {N} exist in it. */
static int compile_cmdline(struct yaml_loader *ld, const struct group_draft *d,
			   struct group_matcher *m, int max_index)
{
	const char *re = (const char *)d->cmdline->data.scalar.value;
	char q[YAML_QUOTE_MAX], why[256];
	unsigned captures;
	int rc;

	if (regex_too_big(re))
		return yaml_fail(ld, yaml_line(d->cmdline),
				 "cmdline: regex %s is too complex (longer than %d bytes, or its "
				 "repetitions expand to more than %d elements)",
				 YAML_QUOTE(q, d->cmdline), REGEX_MAX_LEN, REGEX_MAX_SIZE);
	rc = cmdline_re_compile(re, &m->cmdline_re, &captures, why, sizeof(why));
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return yaml_fail(ld, yaml_line(d->cmdline), "cmdline: invalid regex %s: %s",
				 YAML_QUOTE(q, d->cmdline), why);
	if (max_index > (int)captures) {
		cmdline_re_free(m->cmdline_re);
		m->cmdline_re = NULL;
		return yaml_fail(ld, yaml_line(d->name),
				 "name: {%d} but cmdline %s has %u capture group%s", max_index,
				 YAML_QUOTE(q, d->cmdline), captures, captures == 1 ? "" : "s");
	}
	m->cmdline = strdup(re);
	if (!m->cmdline) {
		cmdline_re_free(m->cmdline_re);
		m->cmdline_re = NULL;
		return -ENOMEM;
	}
	m->nmatch = max_index < 0 ? 0 : (unsigned)max_index + 1;
	return 0;
}

/*
 * Turns a draft into a matcher. On failure the matcher may be half filled:
 * config_free releases it (cmdline is set only once its regex is compiled).
 */
static int build_matcher(struct yaml_loader *ld, const struct group_draft *d,
			 struct group_matcher *m)
{
	size_t name_line = d->name ? yaml_line(d->name) : m->line;
	int max_index, err;

	m->pss = d->pss;
	m->name = d->name ? strdup((const char *)d->name->data.scalar.value) : strdup("{comm}");
	if (!m->name)
		return -ENOMEM;
	err = yaml_dup_scalar(d->comm, &m->comm);
	if (!err)
		err = yaml_dup_scalar(d->exe, &m->exe);
	if (!err)
		err = parse_template(ld, name_line, m->name, &m->parts, &max_index);
	if (err)
		return err;
	if (d->cmdline)
		return compile_cmdline(ld, d, m, max_index);
	if (max_index >= 0)
		return yaml_fail(ld, name_line, "name: {%d} needs a cmdline regex to take it from",
				 max_index);
	return 0;
}

/* clang-format off */
static const struct yaml_key group_keys[] = {
	{"name", yaml_parse_string, offsetof(struct group_draft, name)},
	{"comm", yaml_parse_string, offsetof(struct group_draft, comm)},
	{"exe", yaml_parse_string, offsetof(struct group_draft, exe)},
	{"cmdline", yaml_parse_string, offsetof(struct group_draft, cmdline)},
	{"pss", yaml_parse_bool, offsetof(struct group_draft, pss)},
};
/* clang-format on */

static int parse_group(struct yaml_loader *ld, yaml_node_t *node, struct group_matcher *m)
{
	struct group_draft d = {0};
	int err;

	m->line = (unsigned)yaml_line(node);
	err = yaml_parse_mapping(ld, node, "a process.groups entry", group_keys,
				 ARRAY_SIZE(group_keys), &d);
	if (err)
		return err;
	return build_matcher(ld, &d, m);
}

static int parse_groups(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	struct config *cfg = field;
	yaml_node_item_t *items;
	size_t n;

	if (value->type != YAML_SEQUENCE_NODE)
		return yaml_fail(ld, yaml_line(value), "%s: expected a list of groups, got %s", key,
				 yaml_kind(value));
	items = value->data.sequence.items.start;
	n = (size_t)(value->data.sequence.items.top - items);
	if (!n)
		return yaml_fail(
		    ld, yaml_line(value),
		    "%s: empty list, so no process would be reported (remove the key to "
		    "group every process by comm)",
		    key);
	cfg->groups = calloc(n, sizeof(*cfg->groups));
	if (!cfg->groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_node(ld, items[i]);
		int err;

		if (!item)
			return yaml_fail(ld, yaml_line(value), "%s: broken list", key);
		cfg->n_groups = i + 1; /* config_free sees the half-built one */
		err = parse_group(ld, item, &cfg->groups[i]);
		if (err)
			return err;
	}
	return 0;
}

/* clang-format off */
static const struct yaml_key process_keys[] = {
	{"pss_max_age", parse_duration_value, offsetof(struct config, pss_max_age)},
	{"groups", parse_groups, 0},
};
/* clang-format on */

static int parse_process(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	/* "process:" with every sub-key commented out means the defaults. */
	if (yaml_is_null(value))
		return 0;
	return yaml_parse_mapping(ld, value, key, process_keys, ARRAY_SIZE(process_keys), field);
}

/* What one sessions.dirs entry says, before it is checked and copied. */
struct dir_draft {
	yaml_node_t *pool;
	yaml_node_t *path;
	yaml_node_t *match;
	yaml_node_t *ttl;
};

/* What sessions.tcp says; ports and method are checked once all keys are read. */
struct tcp_draft {
	yaml_node_t *pool;
	yaml_node_t *ports;
	yaml_node_t *method;
};

/* Stores a node of any kind; the caller's builder checks it. */
static int parse_node(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	(void)ld;
	(void)key;
	*(yaml_node_t **)field = value;
	return 0;
}

/* A required key that the mapping at `node` lacks. */
static int missing(struct yaml_loader *ld, const yaml_node_t *node, const char *what,
		   const char *key)
{
	return yaml_fail(ld, yaml_line(node), "%s: missing required key \"%s\"", what, key);
}

static const char *scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* A pool label must name one series per source: no two directories share one. */
static int check_pool_unique(struct yaml_loader *ld, const struct config *cfg,
			     const yaml_node_t *pool)
{
	char q[YAML_QUOTE_MAX];

	for (size_t i = 0; i < cfg->n_dirs; i++)
		if (cfg->dirs[i].pool && !strcmp(cfg->dirs[i].pool, scalar(pool)))
			return yaml_fail(
			    ld, yaml_line(pool),
			    "pool: %s is already the pool of the sessions.dirs entry at "
			    "line %u",
			    YAML_QUOTE(q, pool), cfg->dirs[i].line);
	return 0;
}

/* Checks a draft and copies it into d, the next free entry of cfg->dirs. */
static int build_dir(struct yaml_loader *ld, yaml_node_t *node, const struct dir_draft *dr,
		     struct config *cfg, struct sessdir_config *d)
{
	const char *what = "a sessions.dirs entry";
	char q[YAML_QUOTE_MAX];
	int err;

	if (!dr->pool)
		return missing(ld, node, what, "pool");
	if (!dr->path)
		return missing(ld, node, what, "path");
	if (!dr->ttl)
		return missing(ld, node, what, "ttl");
	if (scalar(dr->path)[0] != '/')
		return yaml_fail(ld, yaml_line(dr->path), "path: must be absolute, got %s",
				 YAML_QUOTE(q, dr->path));
	err = parse_duration_value(ld, "ttl", dr->ttl, &d->ttl);
	if (err)
		return err;
	if (!(d->ttl > 0))
		return yaml_fail(ld, yaml_line(dr->ttl), "ttl: must be more than 0");
	err = check_pool_unique(ld, cfg, dr->pool);
	if (err)
		return err;
	d->line = (unsigned)yaml_line(node);
	d->pool = strdup(scalar(dr->pool));
	d->path = strdup(scalar(dr->path));
	d->match = strdup(dr->match ? scalar(dr->match) : "*");
	if (!d->pool || !d->path || !d->match)
		return -ENOMEM;
	return 0;
}

/* clang-format off */
static const struct yaml_key dir_keys[] = {
	{"pool", yaml_parse_string, offsetof(struct dir_draft, pool)},
	{"path", yaml_parse_string, offsetof(struct dir_draft, path)},
	{"match", yaml_parse_string, offsetof(struct dir_draft, match)},
	{"ttl", parse_node, offsetof(struct dir_draft, ttl)},
};
/* clang-format on */

static int parse_dirs(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	struct config *cfg = field;
	yaml_node_item_t *items;
	size_t n;

	if (yaml_is_null(value))
		return 0;
	if (value->type != YAML_SEQUENCE_NODE)
		return yaml_fail(ld, yaml_line(value), "%s: expected a list of directories, got %s",
				 key, yaml_kind(value));
	items = value->data.sequence.items.start;
	n = (size_t)(value->data.sequence.items.top - items);
	if (!n)
		return yaml_fail(ld, yaml_line(value),
				 "%s: empty list (remove the key to watch no directory)", key);
	cfg->dirs = calloc(n, sizeof(*cfg->dirs));
	if (!cfg->dirs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_node(ld, items[i]);
		struct dir_draft dr = {0};
		int err;

		if (!item)
			return yaml_fail(ld, yaml_line(value), "%s: broken list", key);
		err = yaml_parse_mapping(ld, item, "a sessions.dirs entry", dir_keys,
					 ARRAY_SIZE(dir_keys), &dr);
		if (!err)
			err = build_dir(ld, item, &dr, cfg, &cfg->dirs[i]);
		cfg->n_dirs = i + 1; /* config_free sees the half-built one */
		if (err)
			return err;
	}
	return 0;
}

/* A port: digits only, 1..65535. */
static bool port_value(const yaml_node_t *node, uint16_t *out)
{
	unsigned long v = 0;

	if (node->type != YAML_SCALAR_NODE || !node->data.scalar.length ||
	    node->data.scalar.length > 5)
		return false;
	for (size_t i = 0; i < node->data.scalar.length; i++) {
		unsigned char c = node->data.scalar.value[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

static int parse_ports(struct yaml_loader *ld, yaml_node_t *value, struct tcp_config *tcp)
{
	yaml_node_item_t *items;
	size_t n;
	char q[YAML_QUOTE_MAX];

	if (value->type != YAML_SEQUENCE_NODE)
		return yaml_fail(ld, yaml_line(value), "ports: expected a list of ports, got %s",
				 yaml_kind(value));
	items = value->data.sequence.items.start;
	n = (size_t)(value->data.sequence.items.top - items);
	if (!n)
		return yaml_fail(ld, yaml_line(value), "ports: empty list");
	tcp->ports = calloc(n, sizeof(*tcp->ports));
	if (!tcp->ports)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_node(ld, items[i]);

		if (!item)
			return yaml_fail(ld, yaml_line(value), "ports: broken list");
		if (item->type != YAML_SCALAR_NODE || !port_value(item, &tcp->ports[i]))
			return yaml_fail(ld, yaml_line(item),
					 "ports: expected a port 1..65535, got %s",
					 item->type == YAML_SCALAR_NODE && !yaml_is_null(item)
					     ? YAML_QUOTE(q, item)
					     : yaml_kind(item));
		for (size_t j = 0; j < i; j++) {
			if (tcp->ports[j] != tcp->ports[i])
				continue;
			return yaml_fail(
			    ld, yaml_line(item), "ports: duplicate port %u (first at line %zu)",
			    (unsigned)tcp->ports[i], yaml_line(yaml_node(ld, items[j])));
		}
		tcp->n_ports = i + 1;
	}
	return 0;
}

static int parse_method(struct yaml_loader *ld, const yaml_node_t *value, enum tcp_method *out)
{
	static const char *const names[] = {"auto", "netlink", "procfs"};
	char q[YAML_QUOTE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (yaml_scalar_is(value, names[i])) {
			*out = (enum tcp_method)i;
			return 0;
		}
	}
	return yaml_fail(ld, yaml_line(value), "method: expected auto, netlink or procfs, got %s",
			 YAML_QUOTE(q, value));
}

/* clang-format off */
static const struct yaml_key tcp_keys[] = {
	{"pool", yaml_parse_string, offsetof(struct tcp_draft, pool)},
	{"ports", parse_node, offsetof(struct tcp_draft, ports)},
	{"method", yaml_parse_string, offsetof(struct tcp_draft, method)},
};
/* clang-format on */

_Static_assert(TCP_METHOD_AUTO == 0 && TCP_METHOD_NETLINK == 1 && TCP_METHOD_PROCFS == 2,
	       "parse_method's table follows enum tcp_method");

static int parse_tcp(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	struct tcp_config *tcp = &((struct config *)field)->tcp;
	struct tcp_draft dr = {0};
	int err;

	(void)key;
	if (yaml_is_null(value))
		return 0;
	err = yaml_parse_mapping(ld, value, "sessions.tcp", tcp_keys, ARRAY_SIZE(tcp_keys), &dr);
	if (err)
		return err;
	if (!dr.pool)
		return missing(ld, value, "sessions.tcp", "pool");
	if (!dr.ports)
		return missing(ld, value, "sessions.tcp", "ports");
	err = parse_ports(ld, dr.ports, tcp);
	if (!err && dr.method)
		err = parse_method(ld, dr.method, &tcp->method);
	if (err)
		return err;
	tcp->pool = strdup(scalar(dr.pool));
	return tcp->pool ? 0 : -ENOMEM;
}

/* clang-format off */
static const struct yaml_key sessions_keys[] = {
	{"dirs", parse_dirs, 0},
	{"tcp", parse_tcp, 0},
};
/* clang-format on */

static int parse_sessions(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	if (yaml_is_null(value))
		return 0;
	return yaml_parse_mapping(ld, value, key, sessions_keys, ARRAY_SIZE(sessions_keys), field);
}

/* The top level: each key is the settings of one or more collectors. */
/* clang-format off */
static const struct yaml_key top_keys[] = {
	{"process", parse_process, 0},
	{"sessions", parse_sessions, 0},
};
/* clang-format on */

_Static_assert(ARRAY_SIZE(group_keys) <= YAML_MAPPING_MAX_KEYS, "group_keys");
_Static_assert(ARRAY_SIZE(process_keys) <= YAML_MAPPING_MAX_KEYS, "process_keys");
_Static_assert(ARRAY_SIZE(dir_keys) <= YAML_MAPPING_MAX_KEYS, "dir_keys");
_Static_assert(ARRAY_SIZE(tcp_keys) <= YAML_MAPPING_MAX_KEYS, "tcp_keys");
_Static_assert(ARRAY_SIZE(sessions_keys) <= YAML_MAPPING_MAX_KEYS, "sessions_keys");
_Static_assert(ARRAY_SIZE(top_keys) <= YAML_MAPPING_MAX_KEYS, "top_keys");

/* The matcher used when the file has no process.groups: everything by comm. */
static int add_default_group(struct yaml_loader *ld, struct config *cfg)
{
	struct group_draft d = {0};

	cfg->groups = calloc(1, sizeof(*cfg->groups));
	if (!cfg->groups)
		return -ENOMEM;
	cfg->n_groups = 1;
	return build_matcher(ld, &d, &cfg->groups[0]);
}

/* Which process fields the matchers and their names read. */
static unsigned compute_needs(const struct config *cfg)
{
	unsigned needs = 0;

	for (size_t i = 0; i < cfg->n_groups; i++) {
		const struct group_matcher *m = &cfg->groups[i];

		if (m->exe)
			needs |= CONFIG_NEEDS_EXE;
		if (m->cmdline)
			needs |= CONFIG_NEEDS_CMDLINE;
		for (const struct name_part *p = m->parts; p->kind != NAME_END; p++) {
			if (p->kind == NAME_EXE || p->kind == NAME_EXE_PATH)
				needs |= CONFIG_NEEDS_EXE;
			else if (p->kind == NAME_USER)
				needs |= CONFIG_NEEDS_USER;
			else if (p->kind == NAME_CGROUP)
				needs |= CONFIG_NEEDS_CGROUP;
		}
	}
	return needs;
}

static struct config *config_new(const char *procfs, const char *sysfs)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->pss_max_age = CONFIG_DEFAULT_PSS_MAX_AGE;
	cfg->procfs = strdup(procfs ? procfs : "/proc");
	cfg->sysfs = strdup(sysfs ? sysfs : "/sys");
	if (!cfg->procfs || !cfg->sysfs) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

int config_default(const char *procfs, const char *sysfs, struct config **out)
{
	struct yaml_loader ld = {.path = "(default)"};
	struct config *cfg = config_new(procfs, sysfs);
	int err;

	if (!cfg)
		return -ENOMEM;
	err = add_default_group(&ld, cfg);
	if (err) {
		config_free(cfg);
		return err;
	}
	cfg->needs = compute_needs(cfg);
	*out = cfg;
	return 0;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_groups; i++) {
		struct group_matcher *m = &cfg->groups[i];

		cmdline_re_free(m->cmdline_re);
		free(m->cmdline);
		free(m->exe);
		free(m->comm);
		free(m->name);
		free(m->parts);
	}
	free(cfg->groups);
	for (size_t i = 0; i < cfg->n_dirs; i++) {
		free(cfg->dirs[i].pool);
		free(cfg->dirs[i].path);
		free(cfg->dirs[i].match);
	}
	free(cfg->dirs);
	free(cfg->tcp.pool);
	free(cfg->tcp.ports);
	free(cfg->path);
	free(cfg->procfs);
	free(cfg->sysfs);
	free(cfg);
}

/* Fills cfg from the parsed file. */
static int parse_config(struct yaml_loader *ld, struct config *cfg)
{
	yaml_node_t *root = yaml_document_get_root_node(ld->doc);
	int err;

	/* An empty file, or one with only comments, is the default config. */
	if (root && !yaml_is_null(root)) {
		if (root->type != YAML_MAPPING_NODE)
			return yaml_fail(ld, yaml_line(root),
					 "expected a mapping at the top level, got %s",
					 yaml_kind(root));
		err = yaml_parse_mapping(ld, root, "the top-level mapping", top_keys,
					 ARRAY_SIZE(top_keys), cfg);
		if (err)
			return err;
	}
	if (!cfg->groups) {
		err = add_default_group(ld, cfg);
		if (err)
			return err;
	}
	cfg->needs = compute_needs(cfg);
	return 0;
}

int config_load(const char *path, const char *procfs, const char *sysfs, struct config **out,
		char *err, size_t errlen)
{
	struct yaml_loader ld = {.path = path, .err = err, .errlen = errlen};
	yaml_document_t doc;
	struct config *cfg;
	char *buf = NULL;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	rc = yaml_read_file(path, &buf, &ld.len);
	if (rc) {
		yaml_fail(&ld, 0, "%s", strerror(-rc));
		return rc;
	}
	ld.buf = buf;
	rc = yaml_load_document(&ld, &doc);
	if (rc)
		goto out_free_buf;
	ld.doc = &doc;
	cfg = config_new(procfs, sysfs);
	if (cfg)
		cfg->path = strdup(path);
	if (!cfg || !cfg->path) {
		rc = -ENOMEM;
		goto out_free_cfg;
	}
	rc = parse_config(&ld, cfg);
	if (rc)
		goto out_free_cfg;
	*out = cfg;
	goto out_delete_doc;

out_free_cfg:
	config_free(cfg);
	if (rc == -ENOMEM)
		yaml_fail(&ld, 0, "out of memory");
out_delete_doc:
	yaml_document_delete(&doc);
out_free_buf:
	free(buf);
	return rc;
}

/* Reads digits with an optional fraction ("12", "1.5", ".5") without strtod,
 * which would also take signs, exponents, hex, "inf" and the locale's comma. */
static bool parse_number(const char **pos, double *out)
{
	const char *s = *pos;
	double v = 0, frac = 0, scale = 1;
	bool digits = false;

	for (; *s >= '0' && *s <= '9'; s++, digits = true)
		v = v * 10 + (*s - '0');
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		/* Digits past the 18th cannot change a double; they are read, not used. */
		for (; *s >= '0' && *s <= '9'; s++, digits = true) {
			if (scale < 1e18) {
				frac = frac * 10 + (*s - '0');
				scale *= 10;
			}
		}
	}
	*pos = s;
	*out = v + frac / scale;
	return digits;
}

int config_parse_duration(const char *s, double *out)
{
	/* Largest first, so that "1h30m" reads in order; "ms" before "m". */
	static const struct {
		const char *unit;
		double seconds;
	} units[] = {{"d", 86400}, {"h", 3600}, {"ms", 0.001}, {"m", 60}, {"s", 1}};
	static const int rank[] = {0, 1, 4, 2, 3}; /* order of size, "ms" smallest */
	const char *pos = s;
	double total = 0, v;
	int last = -1;

	if (!s || !parse_number(&pos, &v))
		return -EINVAL;
	if (!*pos) {
		total = v; /* a bare number is seconds */
		goto out_check;
	}
	pos = s;
	while (*pos) {
		size_t u;

		if (!parse_number(&pos, &v))
			return -EINVAL;
		for (u = 0; u < ARRAY_SIZE(units); u++)
			if (!strncmp(pos, units[u].unit, strlen(units[u].unit)))
				break;
		/* Each unit once, largest first: "30m1h" and "1m1m" are typos. */
		if (u == ARRAY_SIZE(units) || rank[u] <= last)
			return -EINVAL;
		last = rank[u];
		pos += strlen(units[u].unit);
		total += v * units[u].seconds;
	}
out_check:
	if (!isfinite(total))
		return -EINVAL;
	*out = total;
	return 0;
}
