// SPDX-License-Identifier: MIT
/*
 * expo: the exposition writer. The contract and its invariants are in expo.h.
 *
 * A family keeps its samples in one array; each sample holds its label text
 * already escaped ("a=\"x\",b=\"y\""), which is the same in both formats, so
 * rendering only copies it and sorting compares it directly.
 *
 * Memory accounting: every allocation an expo holds is charged to it before it
 * is made, and each sample is charged its family name's length too, because
 * the name is repeated on every rendered line. So the rendering of an expo is
 * bounded by about its accounted size, and render's own cap is never the
 * limit a collector runs into first.
 */
#define ZLIB_CONST
#include "expo.h"
#include "utf8.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "array_size.h"
#include "dynbuf.h"

/* Room for the longest value: "-1.7976931348623157e+308" and a NUL. */
#define VALUE_BUF 32

/* Labels passed to expo_sample() that fit on the stack. */
#define STACK_LABELS 8

/*
 * The rendering gets twice the expo's cap: the accounting above keeps a full
 * expo's rendering well below it, and a runaway buffer still stops somewhere.
 */
#define RENDER_MAX_BYTES ((size_t)EXPO_MAX_BYTES * 2)

static const char total_suffix[] = "_total";
#define TOTAL_LEN (sizeof(total_suffix) - 1)

struct sample {
	char *labels; /* escaped label text without braces; NULL without labels */
	size_t len;
	double value;
};

struct family {
	char *name; /* the sample name; a counter's ends in _total */
	char *help; /* NULL: no HELP line */
	size_t name_len;
	enum expo_type type;
	struct sample *samples;
	size_t nsamples;
	size_t cap;
	size_t bytes; /* what this family adds to its expo's accounting */
};

struct expo {
	struct family **fams; /* in first-opened order */
	size_t nfams;
	size_t cap;
	struct family *cur; /* where samples go; NULL after a failed expo_family() */
	size_t nsamples;
	size_t bytes; /* accounted memory, never above EXPO_MAX_BYTES */
};

/* Reserves n accounted bytes, or fails leaving the expo as it was. */
static int charge(struct expo *e, size_t n)
{
	if (n > EXPO_MAX_BYTES - e->bytes)
		return -E2BIG;
	e->bytes += n;
	return 0;
}

static void uncharge(struct expo *e, size_t n)
{
	e->bytes -= n;
}

static bool is_alpha_(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_metric_name(const char *s)
{
	if (!s || !(is_alpha_(*s) || *s == ':'))
		return false;
	for (s++; *s; s++)
		if (!is_alpha_(*s) && !is_digit(*s) && *s != ':')
			return false;
	return true;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, and names starting with "__" are Prometheus's own. */
static bool valid_label_name(const char *s)
{
	if (!s || !is_alpha_(*s) || (s[0] == '_' && s[1] == '_'))
		return false;
	for (s++; *s; s++)
		if (!is_alpha_(*s) && !is_digit(*s))
			return false;
	return true;
}

static void put(char *dst, size_t *n, const void *src, size_t k)
{
	if (dst)
		memcpy(dst + *n, src, k);
	*n += k;
}

/*
 * Escapes src into dst (when not NULL) and returns the escaped length.
 * Backslash and newline are always escaped, the double quote with `quote`.
 * Invalid UTF-8 becomes U+FFFD: Prometheus rejects the whole scrape over one
 * invalid label value, and values come from other people's processes.
 */
static size_t escape(char *dst, const char *src, bool quote)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0, k;

	while (*s) {
		if (*s == '\\') {
			put(dst, &n, "\\\\", 2);
			k = 1;
		} else if (*s == '\n') {
			put(dst, &n, "\\n", 2);
			k = 1;
		} else if (*s == '"' && quote) {
			put(dst, &n, "\\\"", 2);
			k = 1;
		} else if ((k = utf8_seq(s))) {
			put(dst, &n, s, k);
		} else {
			put(dst, &n, "\xef\xbf\xbd", 3);
			k = 1;
		}
		s += k;
	}
	return n;
}

/* Writes (or, with dst NULL, measures) the label text a="x",b="y". */
static size_t labels_text(char *dst, size_t n, const char *const *names, const char *const *values)
{
	size_t len = 0, i;

	for (i = 0; i < n; i++) {
		if (i)
			put(dst, &len, ",", 1);
		put(dst, &len, names[i], strlen(names[i]));
		put(dst, &len, "=\"", 2);
		len += escape(dst ? dst + len : NULL, values[i], true);
		put(dst, &len, "\"", 1);
	}
	return len;
}

/* Valid names, no name twice, every value present and within the cap. */
static int check_labels(size_t n, const char *const *names, const char *const *values)
{
	size_t i, j;

	if (n && (!names || !values))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!valid_label_name(names[i]) || !values[i])
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return -EINVAL;
		if (strlen(values[i]) > EXPO_MAX_BYTES)
			return -E2BIG;
	}
	return 0;
}

/* The family name OpenMetrics uses: a counter's name without _total. */
static size_t om_name_len(const struct family *f)
{
	return f->type == EXPO_COUNTER ? f->name_len - TOTAL_LEN : f->name_len;
}

static struct family *find_family(const struct expo *e, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < e->nfams; i++) {
		struct family *f = e->fams[i];

		if (f->name_len == len && !memcmp(f->name, name, len))
			return f;
	}
	return NULL;
}

/*
 * True when a family of another name would render under the same OpenMetrics
 * family name (gauge foo next to counter foo_total): a scrape with both fails.
 */
static bool om_clash(const struct expo *e, const struct family *nf)
{
	size_t len = om_name_len(nf), i;

	for (i = 0; i < e->nfams; i++) {
		const struct family *f = e->fams[i];

		if (om_name_len(f) == len && !memcmp(f->name, nf->name, len) &&
		    f->name_len != nf->name_len)
			return true;
	}
	return false;
}

static size_t next_cap(size_t cap, size_t need)
{
	size_t ncap = cap ? cap : 8;

	while (ncap < need)
		ncap *= 2;
	return ncap;
}

/*
 * Makes room for `need` samples in f, charging the growth to e (and to f, so
 * that expo_merge() can move it). Near the cap it grows only to what it needs.
 */
static int grow_samples(struct expo *e, struct family *f, size_t need)
{
	size_t ncap, extra;
	struct sample *p;

	if (need <= f->cap)
		return 0;
	ncap = next_cap(f->cap, need);
	extra = (ncap - f->cap) * sizeof(*p);
	if (charge(e, extra)) {
		ncap = need;
		extra = (ncap - f->cap) * sizeof(*p);
		if (charge(e, extra))
			return -E2BIG;
	}
	p = realloc(f->samples, ncap * sizeof(*p));
	if (!p) {
		uncharge(e, extra);
		return -ENOMEM;
	}
	f->samples = p;
	f->cap = ncap;
	f->bytes += extra;
	return 0;
}

/* Appends f to e's family list, charging the list's growth. */
static int add_family(struct expo *e, struct family *f)
{
	struct family **p;
	size_t ncap, extra;

	if (e->nfams == e->cap) {
		ncap = next_cap(e->cap, e->nfams + 1);
		extra = (ncap - e->cap) * sizeof(*p);
		if (charge(e, extra))
			return -E2BIG;
		p = realloc(e->fams, ncap * sizeof(*p));
		if (!p) {
			uncharge(e, extra);
			return -ENOMEM;
		}
		e->fams = p;
		e->cap = ncap;
	}
	e->fams[e->nfams++] = f;
	return 0;
}

static void family_free(struct family *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->nsamples; i++)
		free(f->samples[i].labels);
	free(f->samples);
	free(f->help);
	free(f->name);
	free(f);
}

/* A new, empty family, charged to e but not yet in its list. */
static int family_new(struct expo *e, const char *name, size_t len, enum expo_type type,
		      const char *help, struct family **out)
{
	size_t help_len = help ? strlen(help) : 0;
	size_t cost = sizeof(struct family) + len + 1 + (help ? help_len + 1 : 0);
	struct family *f;

	if (help_len > EXPO_MAX_BYTES || charge(e, cost))
		return -E2BIG;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto out_uncharge;
	f->name = strndup(name, len);
	if (!f->name)
		goto out_free_family;
	if (help) {
		f->help = strdup(help);
		if (!f->help)
			goto out_free_family;
	}
	f->name_len = len;
	f->type = type;
	f->bytes = cost;
	*out = f;
	return 0;

out_free_family:
	family_free(f);
out_uncharge:
	uncharge(e, cost);
	return -ENOMEM;
}

/* A family opened first without HELP takes the first HELP it is given. */
static void adopt_help(struct expo *e, struct family *f, char **help)
{
	size_t cost;

	if (f->help || !*help)
		return;
	cost = strlen(*help) + 1;
	if (charge(e, cost))
		return;
	f->help = *help;
	f->bytes += cost;
	*help = NULL;
}

static bool valid_family(const char *name, size_t len, enum expo_type type)
{
	if (!valid_metric_name(name))
		return false;
	switch (type) {
	case EXPO_GAUGE:
	case EXPO_UNTYPED:
		return true;
	case EXPO_COUNTER:
		return len > TOTAL_LEN && !strcmp(name + len - TOTAL_LEN, total_suffix);
	}
	return false;
}

struct expo *expo_new(void)
{
	struct expo *e = calloc(1, sizeof(*e));

	if (e)
		e->bytes = sizeof(*e);
	return e;
}

/* Frees every family and leaves e empty and valid. */
static void expo_clear(struct expo *e)
{
	size_t i;

	for (i = 0; i < e->nfams; i++)
		family_free(e->fams[i]);
	free(e->fams);
	e->fams = NULL;
	e->nfams = 0;
	e->cap = 0;
	e->cur = NULL;
	e->nsamples = 0;
	e->bytes = sizeof(*e);
}

void expo_free(struct expo *e)
{
	if (!e)
		return;
	expo_clear(e);
	free(e);
}

int expo_family(struct expo *e, const char *name, enum expo_type type, const char *help)
{
	struct family *f;
	size_t len;
	int ret;

	if (!e)
		return -EINVAL;
	/* After a failure samples must not land in the previous family. */
	e->cur = NULL;
	if (!name)
		return -EINVAL;
	len = strlen(name);
	if (!valid_family(name, len, type))
		return -EINVAL;
	f = find_family(e, name, len);
	if (f) {
		if (f->type != type)
			return -EINVAL;
		if (!f->help && help) {
			char *copy = strdup(help);

			if (!copy)
				return -ENOMEM;
			adopt_help(e, f, &copy);
			free(copy);
		}
		e->cur = f;
		return 0;
	}
	ret = family_new(e, name, len, type, help, &f);
	if (ret)
		return ret;
	ret = om_clash(e, f) ? -EINVAL : add_family(e, f);
	if (ret)
		goto out_free_family;
	e->cur = f;
	return 0;

out_free_family:
	uncharge(e, f->bytes);
	family_free(f);
	return ret;
}

int expo_samplev(struct expo *e, double value, size_t n, const char *const *names,
		 const char *const *values)
{
	struct sample s = {.value = value};
	struct family *f;
	size_t cost;
	int ret;

	if (!e || !e->cur)
		return -EINVAL;
	f = e->cur;
	ret = check_labels(n, names, values);
	if (ret)
		return ret;
	s.len = labels_text(NULL, n, names, values);
	if (s.len > EXPO_MAX_BYTES)
		return -E2BIG;
	cost = s.len + 1 + f->name_len;
	ret = charge(e, cost);
	if (ret)
		return ret;
	ret = grow_samples(e, f, f->nsamples + 1);
	if (ret)
		goto out_uncharge;
	if (n) {
		ret = -ENOMEM;
		s.labels = malloc(s.len + 1);
		if (!s.labels)
			goto out_uncharge;
		labels_text(s.labels, n, names, values);
		s.labels[s.len] = '\0';
	}
	f->samples[f->nsamples++] = s;
	f->bytes += cost;
	e->nsamples++;
	return 0;

out_uncharge:
	uncharge(e, cost);
	return ret;
}

/* Counts the variadic arguments up to the NULL that ends them. */
static size_t count_args(va_list ap)
{
	size_t n = 0;

	while (va_arg(ap, const char *))
		n++;
	return n;
}

int expo_sample(struct expo *e, double value, ...)
{
	const char *stack[2 * STACK_LABELS] = {0};
	const char **kv = stack;
	size_t n, i;
	va_list ap;
	int ret;

	va_start(ap, value);
	n = count_args(ap);
	va_end(ap);
	/* A NULL value ends the list early and leaves a name without a value. */
	if (n % 2)
		return -EINVAL;
	if (n > ARRAY_SIZE(stack)) {
		kv = malloc(n * sizeof(*kv));
		if (!kv)
			return -ENOMEM;
	}
	/* Names first, then values, as expo_samplev() takes them. */
	va_start(ap, value);
	for (i = 0; i < n; i++)
		kv[(i % 2) * (n / 2) + i / 2] = va_arg(ap, const char *);
	va_end(ap);
	ret = expo_samplev(e, value, n / 2, kv, kv + n / 2);
	if (kv != stack)
		free(kv);
	return ret;
}

/* Moves from's samples into `to`, a family of the same name in dst. */
static int family_append(struct expo *dst, struct family *to, struct family *from)
{
	size_t cost = 0, i;
	int ret;

	for (i = 0; i < from->nsamples; i++)
		cost += from->samples[i].len + 1 + to->name_len;
	ret = charge(dst, cost);
	if (ret)
		return ret;
	ret = grow_samples(dst, to, to->nsamples + from->nsamples);
	if (ret) {
		uncharge(dst, cost);
		return ret;
	}
	/* An empty family (opened, no samples) may have no array: memcpy wants one. */
	if (from->nsamples)
		memcpy(to->samples + to->nsamples, from->samples,
		       from->nsamples * sizeof(*to->samples));
	to->nsamples += from->nsamples;
	to->bytes += cost;
	dst->nsamples += from->nsamples;
	/* The label texts belong to `to` now. */
	from->nsamples = 0;
	adopt_help(dst, to, &from->help);
	return 0;
}

/* Moves *slot into dst; sets *slot to NULL when dst took the family itself. */
static int merge_family(struct expo *dst, struct family **slot)
{
	struct family *from = *slot, *to;
	int ret;

	to = find_family(dst, from->name, from->name_len);
	if (to)
		return to->type == from->type ? family_append(dst, to, from) : -EINVAL;
	if (om_clash(dst, from))
		return -EINVAL;
	ret = charge(dst, from->bytes);
	if (ret)
		return ret;
	ret = add_family(dst, from);
	if (ret) {
		uncharge(dst, from->bytes);
		return ret;
	}
	dst->nsamples += from->nsamples;
	*slot = NULL;
	return 0;
}

int expo_merge(struct expo *dst, struct expo *src)
{
	int ret = 0, err;
	size_t i;

	if (!dst || !src || dst == src)
		return -EINVAL;
	for (i = 0; i < src->nfams; i++) {
		err = merge_family(dst, &src->fams[i]);
		if (err && !ret)
			ret = err;
	}
	/* What was not moved was dropped: src ends empty either way. */
	expo_clear(src);
	return ret;
}

size_t expo_family_count(const struct expo *e)
{
	return e ? e->nfams : 0;
}

size_t expo_sample_count(const struct expo *e)
{
	return e ? e->nsamples : 0;
}

static int buf_escaped(struct dynbuf *b, const char *s, bool quote)
{
	size_t n = escape(NULL, s, quote);
	int ret = dynbuf_reserve(b, n);

	if (ret)
		return ret;
	escape(b->p + b->len, s, quote);
	dynbuf_advance(b, n);
	return 0;
}

/*
 * The shortest of %.15g, %.16g and %.17g that reads back as the same double;
 * integers below 1e15 without exponent or fraction.
 */
static void format_value(char *out, double v)
{
	int prec;

	if (isnan(v)) {
		strcpy(out, "NaN");
	} else if (isinf(v)) {
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
	} else if (v == trunc(v) && fabs(v) < 1e15) {
		snprintf(out, VALUE_BUF, "%.0f", v);
	} else {
		for (prec = 15; prec < 17; prec++) {
			snprintf(out, VALUE_BUF, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				return;
		}
		snprintf(out, VALUE_BUF, "%.17g", v);
	}
}

static const char *type_name(enum expo_type type, enum expo_format fmt)
{
	switch (type) {
	case EXPO_COUNTER:
		return "counter";
	case EXPO_GAUGE:
		return "gauge";
	case EXPO_UNTYPED:
		break;
	}
	return fmt == EXPO_OPENMETRICS_100 ? "unknown" : "untyped";
}

static int render_header(struct dynbuf *b, const struct family *f, enum expo_format fmt)
{
	bool om = fmt == EXPO_OPENMETRICS_100;
	size_t len = om ? om_name_len(f) : f->name_len;
	int ret = 0;

	if (f->help && *f->help) {
		ret = dynbuf_addstr(b, "# HELP ");
		ret = ret ?: dynbuf_add(b, f->name, len);
		ret = ret ?: dynbuf_add(b, " ", 1);
		ret = ret ?: buf_escaped(b, f->help, om);
		ret = ret ?: dynbuf_add(b, "\n", 1);
	}
	ret = ret ?: dynbuf_addstr(b, "# TYPE ");
	ret = ret ?: dynbuf_add(b, f->name, len);
	ret = ret ?: dynbuf_add(b, " ", 1);
	ret = ret ?: dynbuf_addstr(b, type_name(f->type, fmt));
	return ret ?: dynbuf_add(b, "\n", 1);
}

/* By label text; equal texts keep the order they were written in. */
static int cmp_samples(const void *a, const void *b)
{
	const struct sample *x = *(const struct sample *const *)a;
	const struct sample *y = *(const struct sample *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = n ? memcmp(x->labels, y->labels, n) : 0;

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (x > y) - (x < y);
}

static int render_sample(struct dynbuf *b, const struct family *f, const struct sample *s)
{
	char value[VALUE_BUF];
	int ret;

	format_value(value, s->value);
	ret = dynbuf_add(b, f->name, f->name_len);
	if (s->labels) {
		ret = ret ?: dynbuf_add(b, "{", 1);
		ret = ret ?: dynbuf_add(b, s->labels, s->len);
		ret = ret ?: dynbuf_add(b, "}", 1);
	}
	ret = ret ?: dynbuf_add(b, " ", 1);
	ret = ret ?: dynbuf_addstr(b, value);
	return ret ?: dynbuf_add(b, "\n", 1);
}

/* order has room for the family's samples; sorting pointers leaves f const. */
static int render_family(struct dynbuf *b, const struct family *f, enum expo_format fmt,
			 const struct sample **order)
{
	size_t i;
	int ret;

	ret = render_header(b, f, fmt);
	if (ret)
		return ret;
	for (i = 0; i < f->nsamples; i++)
		order[i] = &f->samples[i];
	qsort(order, f->nsamples, sizeof(*order), cmp_samples);
	for (i = 0; i < f->nsamples && !ret; i++)
		ret = render_sample(b, f, order[i]);
	return ret;
}

static int render_plain(const struct expo *e, enum expo_format fmt, struct dynbuf *b)
{
	const struct sample **order;
	size_t most = 1, i;
	int ret = 0;

	for (i = 0; i < e->nfams; i++)
		if (e->fams[i]->nsamples > most)
			most = e->fams[i]->nsamples;
	order = malloc(most * sizeof(*order));
	if (!order)
		return -ENOMEM;
	/* An empty rendering is still a valid, NUL-terminated buffer. */
	ret = dynbuf_add(b, "", 0);
	for (i = 0; i < e->nfams && !ret; i++)
		ret = render_family(b, e->fams[i], fmt, order);
	if (!ret && fmt == EXPO_OPENMETRICS_100)
		ret = dynbuf_addstr(b, "# EOF\n");
	free(order);
	return ret;
}

/* gzip (RFC 1952) of in, in one deflate() call into a buffer sized to fit. */
static int gzip_compress(const char *in, size_t len, char **out, size_t *out_len)
{
	z_stream zs = {0};
	uLong bound;
	char *p;
	int ret;

	if (len > UINT_MAX)
		return -E2BIG;
	/* Level 1: metrics text shrinks about tenfold even so, and scrapes wait. */
	ret = deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		return ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	bound = deflateBound(&zs, len);
	ret = -E2BIG;
	if (bound > UINT_MAX)
		goto out_deflate_end;
	ret = -ENOMEM;
	p = malloc(bound);
	if (!p)
		goto out_deflate_end;
	zs.next_in = (const Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)p;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		ret = -EIO;
		goto out_free_p;
	}
	*out = p;
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return 0;

out_free_p:
	free(p);
out_deflate_end:
	deflateEnd(&zs);
	return ret;
}

int expo_render(const struct expo *e, enum expo_format fmt, bool gzip, char **out, size_t *len)
{
	struct dynbuf b;
	int ret;

	if (!e || !out || !len || (fmt != EXPO_TEXT_004 && fmt != EXPO_OPENMETRICS_100))
		return -EINVAL;
	dynbuf_init(&b, RENDER_MAX_BYTES);
	ret = render_plain(e, fmt, &b);
	if (ret)
		goto out_free_buf;
	if (!gzip) {
		*out = dynbuf_take(&b, len);
		return 0;
	}
	ret = gzip_compress(b.p, b.len, out, len);
out_free_buf:
	dynbuf_free(&b);
	return ret;
}

const char *expo_content_type(enum expo_format fmt)
{
	if (fmt == EXPO_OPENMETRICS_100)
		return "application/openmetrics-text; version=1.0.0; charset=utf-8";
	return "text/plain; version=0.0.4; charset=utf-8";
}
