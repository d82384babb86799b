/* SPDX-License-Identifier: MIT */
/*
 * config: loading the YAML file into a struct config.
 *
 * The file is read whole (it is small and bounded), parsed by libyaml into a
 * document, and walked against the sections the registered collectors
 * declare (collectors/config_section.h): the top level's keys are the
 * sections' first names, and a key that groups sections ("sessions") is
 * walked the same way one level down. Each mapping is checked by the shared
 * walker (yaml_schema.h), so unknown keys, duplicate keys and wrong types
 * are caught in one place and reported with the line of the node at fault.
 */
#include "config.h"
#include "yaml_schema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "collectors/config_section.h"

_Static_assert(COLLECTORS_MAX <= YAML_MAPPING_MAX_KEYS, "a mapping of every section's key");

int config_parse_duration_value(struct yaml_loader *ld, const char *key, yaml_node_t *value,
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

/* One key of a mapping the loader walks: a section, or a group of them. */
struct dispatch {
	struct config *cfg;
	const char *prefix; /* a group: the sections under "prefix." */
	size_t prefix_len;
	size_t section; /* a section: its collector's position */
};

static const struct config_section *section_of(size_t i)
{
	return collectors[i]->config;
}

/* The part of a section's key under prefix ("" for the top level), up to
 * the next dot, in *len; NULL when the key is not under prefix. */
static const char *key_part(const char *key, const char *prefix, size_t prefix_len, size_t *len)
{
	const char *dot;

	if (prefix_len && (strncmp(key, prefix, prefix_len) != 0 || key[prefix_len] != '.'))
		return NULL;
	key += prefix_len ? prefix_len + 1 : 0;
	dot = strchr(key, '.');
	*len = dot ? (size_t)(dot - key) : strlen(key);
	return key;
}

static int parse_level(struct yaml_loader *ld, yaml_node_t *node, const char *what,
		       struct config *cfg, const char *prefix, size_t prefix_len);

static int dispatch_key(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	struct dispatch *d = field;

	if (d->prefix)
		/* "sessions:" with every sub-key commented out means the defaults. */
		return yaml_is_null(value)
			   ? 0
			   : parse_level(ld, value, key, d->cfg, d->prefix, d->prefix_len);
	return section_of(d->section)->parse(ld, key, value, d->cfg->settings[d->section]);
}

/*
 * Walks one mapping: its keys are the parts of the sections' keys under
 * prefix, in registry order. A part that is a whole section's key goes to
 * that section; one that is the start of longer keys is a group, walked in
 * turn. Keys and names live in the sections' static strings.
 */
static int parse_level(struct yaml_loader *ld, yaml_node_t *node, const char *what,
		       struct config *cfg, const char *prefix, size_t prefix_len)
{
	struct yaml_key keys[COLLECTORS_MAX];
	struct dispatch to[COLLECTORS_MAX];
	char names[COLLECTORS_MAX][64];
	size_t n = 0;

	for (size_t i = 0; i < collectors_count; i++) {
		const char *part;
		size_t len, k;

		if (!section_of(i))
			continue;
		part = key_part(section_of(i)->key, prefix, prefix_len, &len);
		if (!part || len >= sizeof(names[0]))
			continue;
		for (k = 0; k < n && strncmp(names[k], part, len + 1) != 0; k++)
			;
		if (k < n)
			continue; /* a group already listed */
		memcpy(names[n], part, len);
		names[n][len] = '\0';
		to[n] = (struct dispatch){.cfg = cfg, .section = i};
		if (part[len] == '.') {
			to[n].prefix = section_of(i)->key;
			to[n].prefix_len = (size_t)(part - section_of(i)->key) + len;
		}
		keys[n] = (struct yaml_key){names[n], dispatch_key, n * sizeof(to[0])};
		n++;
	}
	return yaml_parse_mapping(ld, node, what, keys, n, to);
}

/* Fresh settings for every section, with their defaults. */
static struct config *config_new(const char *procfs, const char *sysfs)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->procfs = strdup(procfs ? procfs : "/proc");
	cfg->sysfs = strdup(sysfs ? sysfs : "/sys");
	if (!cfg->procfs || !cfg->sysfs) {
		config_free(cfg);
		return NULL;
	}
	for (size_t i = 0; i < collectors_count; i++) {
		if (!section_of(i))
			continue;
		cfg->settings[i] = calloc(1, section_of(i)->size);
		if (!cfg->settings[i]) {
			config_free(cfg);
			return NULL;
		}
		if (section_of(i)->init)
			section_of(i)->init(cfg->settings[i]);
	}
	return cfg;
}

/* Every section's checks and derived values, once the file is read. */
static int finish_sections(struct yaml_loader *ld, struct config *cfg)
{
	for (size_t i = 0; i < collectors_count; i++) {
		int err;

		if (!section_of(i) || !section_of(i)->finish)
			continue;
		err = section_of(i)->finish(ld, cfg->settings[i]);
		if (err)
			return err;
	}
	return 0;
}

int config_default(const char *procfs, const char *sysfs, struct config **out)
{
	struct yaml_loader ld = {.path = "(default)"};
	struct config *cfg = config_new(procfs, sysfs);
	int err;

	if (!cfg)
		return -ENOMEM;
	err = finish_sections(&ld, cfg);
	if (err) {
		config_free(cfg);
		return err;
	}
	*out = cfg;
	return 0;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < collectors_count; i++) {
		if (!cfg->settings[i])
			continue;
		section_of(i)->release(cfg->settings[i]);
		free(cfg->settings[i]);
	}
	free(cfg->path);
	free(cfg->procfs);
	free(cfg->sysfs);
	free(cfg);
}

void *config_settings(const struct config *cfg, const struct collector *c)
{
	for (size_t i = 0; i < collectors_count; i++)
		if (collectors[i] == c)
			return cfg->settings[i];
	return NULL;
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
		err = parse_level(ld, root, "the top-level mapping", cfg, NULL, 0);
		if (err)
			return err;
	}
	return finish_sections(ld, cfg);
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
