/* SPDX-License-Identifier: MIT */
/*
 * process_config: the "process" section of the config file, which the
 * process and agent collectors share: the group matchers and pss_max_age.
 *
 * Name templates and regexes are compiled here, once, so that process_match
 * (process_match.c) only executes them. Errors name the file and line
 * through the shared YAML walker (exporter/yaml_schema.h).
 */
#include "process_config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cmdline_re.h"
#include "config_section.h"
#include "exporter/config.h"
#include "exporter/yaml_schema.h"

/* What one process.groups entry says, before it is compiled into a matcher. */
struct group_draft {
	yaml_node_t *name;
	yaml_node_t *comm;
	yaml_node_t *exe;
	yaml_node_t *cmdline;
	bool pss;
};

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
	struct process_settings *cfg = field;
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
	{"pss_max_age", config_parse_duration_value, offsetof(struct process_settings, pss_max_age)},
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

_Static_assert(ARRAY_SIZE(group_keys) <= YAML_MAPPING_MAX_KEYS, "group_keys");
_Static_assert(ARRAY_SIZE(process_keys) <= YAML_MAPPING_MAX_KEYS, "process_keys");

/* The matcher used when the file has no process.groups: everything by comm. */
static int add_default_group(struct yaml_loader *ld, struct process_settings *cfg)
{
	struct group_draft d = {0};

	cfg->groups = calloc(1, sizeof(*cfg->groups));
	if (!cfg->groups)
		return -ENOMEM;
	cfg->n_groups = 1;
	return build_matcher(ld, &d, &cfg->groups[0]);
}

/* Which process fields the matchers and their names read. */
static unsigned compute_needs(const struct process_settings *cfg)
{
	unsigned needs = 0;

	for (size_t i = 0; i < cfg->n_groups; i++) {
		const struct group_matcher *m = &cfg->groups[i];

		if (m->exe)
			needs |= PROCESS_NEEDS_EXE;
		if (m->cmdline)
			needs |= PROCESS_NEEDS_CMDLINE;
		for (const struct name_part *p = m->parts; p->kind != NAME_END; p++) {
			if (p->kind == NAME_EXE || p->kind == NAME_EXE_PATH)
				needs |= PROCESS_NEEDS_EXE;
			else if (p->kind == NAME_USER)
				needs |= PROCESS_NEEDS_USER;
			else if (p->kind == NAME_CGROUP)
				needs |= PROCESS_NEEDS_CGROUP;
		}
	}
	return needs;
}

static void process_section_init(void *settings)
{
	struct process_settings *ps = settings;

	ps->pss_max_age = PROCESS_DEFAULT_PSS_MAX_AGE;
}

/* Without process.groups, everything by comm; then what matching reads. */
static int process_section_finish(struct yaml_loader *ld, void *settings)
{
	struct process_settings *ps = settings;
	int err = 0;

	if (!ps->groups)
		err = add_default_group(ld, ps);
	if (err == 0)
		ps->needs = compute_needs(ps);
	return err;
}

static void process_section_release(void *settings)
{
	struct process_settings *ps = settings;

	for (size_t i = 0; i < ps->n_groups; i++) {
		struct group_matcher *m = &ps->groups[i];

		cmdline_re_free(m->cmdline_re);
		free(m->cmdline);
		free(m->exe);
		free(m->comm);
		free(m->name);
		free(m->parts);
	}
	free(ps->groups);
}

const struct config_section process_section = {
    .key = "process",
    .size = sizeof(struct process_settings),
    .init = process_section_init,
    .parse = parse_process,
    .finish = process_section_finish,
    .release = process_section_release,
};

extern const struct collector process_collector;

const struct process_settings *process_settings(const struct config *cfg)
{
	return config_settings(cfg, &process_collector);
}
