// SPDX-License-Identifier: MIT
/*
 * negotiate: Accept and Accept-Encoding (RFC 9110, sections 12.5.1 and
 * 12.5.3), read as tolerantly as clients write them.
 *
 * A header is split at commas outside quoted strings; each element is parsed
 * on its own and an element that does not parse is skipped, so one bad element
 * never costs the rest. q-values are kept in thousandths (0..1000); a missing
 * q is 1000, a malformed one makes its element malformed.
 */
#include "negotiate.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define Q_MAX 1000
#define Q_NONE (-1) /* no element matched */

struct span {
	const char *p;
	size_t n;
};

/* A cursor over one element of a header. */
struct cur {
	const char *p;
	const char *end;
};

/* Specificity of a range that matches text/plain, lowest first. */
enum text_match {
	TEXT_NONE,
	TEXT_ANY,  /* star/star */
	TEXT_STAR, /* text/star */
	TEXT_PLAIN,
};

/* What one Accept element says about the formats we speak. */
struct range {
	enum text_match text;
	int om; /* OpenMetrics 1.0.0: 0 no, 1 unversioned, 2 version=1.0.0 */
	int q;
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool span_is(struct span s, const char *lit)
{
	return s.n == strlen(lit) && !strncasecmp(s.p, lit, s.n);
}

static void skip_ows(struct cur *c)
{
	while (c->p < c->end && is_ows(*c->p))
		c->p++;
}

static bool take_char(struct cur *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return false;
	c->p++;
	return true;
}

static bool take_token(struct cur *c, struct span *tok)
{
	tok->p = c->p;
	while (c->p < c->end && is_tchar(*c->p))
		c->p++;
	tok->n = (size_t)(c->p - tok->p);
	return tok->n > 0;
}

/* A quoted-string, its content without the quotes (escapes left as sent). */
static bool take_quoted(struct cur *c, struct span *val)
{
	if (!take_char(c, '"'))
		return false;
	val->p = c->p;
	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\' && c->p + 1 < c->end)
			c->p++;
		c->p++;
	}
	val->n = (size_t)(c->p - val->p);
	return take_char(c, '"');
}

static bool take_value(struct cur *c, struct span *val)
{
	if (c->p < c->end && *c->p == '"')
		return take_quoted(c, val);
	return take_token(c, val);
}

/*
 * Parses the next parameter ("; name=value") into name and val. Returns 1 for
 * a parameter, 0 at the end of the element, -1 when the rest is malformed. A
 * trailing ";" is tolerated.
 */
static int take_param(struct cur *c, struct span *name, struct span *val)
{
	skip_ows(c);
	if (c->p >= c->end)
		return 0;
	if (!take_char(c, ';'))
		return -1;
	skip_ows(c);
	if (c->p >= c->end)
		return 0;
	if (!take_token(c, name))
		return -1;
	skip_ows(c);
	if (!take_char(c, '='))
		return -1;
	skip_ows(c);
	return take_value(c, val) ? 1 : -1;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths. */
static int parse_q(struct span s)
{
	int q, scale = 100;
	size_t i;

	if (s.n == 0 || (s.p[0] != '0' && s.p[0] != '1'))
		return -1;
	q = (s.p[0] - '0') * Q_MAX;
	if (s.n == 1)
		return q;
	if (s.p[1] != '.' || s.n > 5)
		return -1;
	for (i = 2; i < s.n; i++, scale /= 10) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		q += (s.p[i] - '0') * scale;
	}
	return q <= Q_MAX ? q : -1;
}

/*
 * Splits the next element off *hdr at a comma outside quotes, trimmed of
 * whitespace. Returns false when the header is used up.
 */
static bool next_element(const char **hdr, struct cur *el)
{
	const char *s = *hdr;
	bool quoted = false;

	if (!*s)
		return false;
	el->p = s;
	for (; *s && (quoted || *s != ','); s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (*s == '\\' && quoted && s[1])
			s++;
	}
	el->end = s;
	*hdr = *s ? s + 1 : s;
	skip_ows(el);
	while (el->end > el->p && is_ows(el->end[-1]))
		el->end--;
	return true;
}

static enum text_match text_match(struct span type, struct span sub)
{
	if (span_is(type, "*"))
		return span_is(sub, "*") ? TEXT_ANY : TEXT_NONE;
	if (!span_is(type, "text"))
		return TEXT_NONE;
	if (span_is(sub, "*"))
		return TEXT_STAR;
	return span_is(sub, "plain") ? TEXT_PLAIN : TEXT_NONE;
}

/* Parses one Accept element; false when it is malformed. */
static bool parse_range(struct cur *c, struct range *r)
{
	struct span type, sub, name, val;
	bool om, versioned = false, version_ok = true;
	int more;

	if (!take_token(c, &type) || !take_char(c, '/') || !take_token(c, &sub))
		return false;
	/* "*" as type takes "*" as subtype: "* /plain" means nothing. */
	if (span_is(type, "*") && !span_is(sub, "*"))
		return false;
	om = span_is(type, "application") && span_is(sub, "openmetrics-text");
	r->text = text_match(type, sub);
	r->q = Q_MAX;
	while ((more = take_param(c, &name, &val)) > 0) {
		if (span_is(name, "q")) {
			r->q = parse_q(val);
			if (r->q < 0)
				return false;
		} else if (span_is(name, "version")) {
			versioned = true;
			version_ok = span_is(val, "1.0.0");
		}
	}
	r->om = om && version_ok ? 1 + versioned : 0;
	return more == 0;
}

/*
 * Keeps, per specificity level, the highest q seen: the most specific range
 * that matches a format decides its q (RFC 9110 12.5.1).
 */
static void keep(int *levels, int level, int q)
{
	if (q > levels[level])
		levels[level] = q;
}

static int decided_q(const int *levels, int nlevels)
{
	int i;

	for (i = nlevels - 1; i > 0; i--)
		if (levels[i] != Q_NONE)
			return levels[i];
	return 0;
}

enum expo_format negotiate_format(const char *accept)
{
	int text[TEXT_PLAIN + 1] = {Q_NONE, Q_NONE, Q_NONE, Q_NONE};
	int om[3] = {Q_NONE, Q_NONE, Q_NONE};
	struct range r;
	struct cur c;
	int om_q;

	if (!accept)
		return EXPO_TEXT_004;
	while (next_element(&accept, &c)) {
		if (c.p == c.end || !parse_range(&c, &r))
			continue;
		keep(text, r.text, r.q);
		keep(om, r.om, r.q);
	}
	om_q = decided_q(om, 3);
	if (om_q > 0 && om_q >= decided_q(text, TEXT_PLAIN + 1))
		return EXPO_OPENMETRICS_100;
	return EXPO_TEXT_004;
}

/* Parses one Accept-Encoding element into its coding and q; false if malformed. */
static bool parse_coding(struct cur *c, struct span *coding, int *q)
{
	struct span name, val;
	int more;

	if (!take_token(c, coding))
		return false;
	*q = Q_MAX;
	while ((more = take_param(c, &name, &val)) > 0) {
		if (span_is(name, "q")) {
			*q = parse_q(val);
			if (*q < 0)
				return false;
		}
	}
	return more == 0;
}

bool negotiate_gzip(const char *accept_encoding)
{
	int gzip_q = Q_NONE, star_q = Q_NONE, q;
	struct span coding;
	struct cur c;

	if (!accept_encoding)
		return false;
	while (next_element(&accept_encoding, &c)) {
		if (c.p == c.end || !parse_coding(&c, &coding, &q))
			continue;
		if (span_is(coding, "gzip") || span_is(coding, "x-gzip"))
			gzip_q = q > gzip_q ? q : gzip_q;
		else if (span_is(coding, "*"))
			star_q = q > star_q ? q : star_q;
	}
	/* A coding named explicitly overrides "*", whatever their order. */
	if (gzip_q != Q_NONE)
		return gzip_q > 0;
	return star_q > 0;
}
