/* SPDX-License-Identifier: MIT */
#include "webconfig.h"

#include <crypt.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_schema.h"

#define MAX_USERS 256
#define MAX_HEADERS 16
/* Each step doubles bcrypt's time: 10 takes ~60 ms here, 16 some 4 s, and a
 * scrape (the first after a reload) waits for one check. */
#define MAX_BCRYPT_COST 16

/* What the file says, node by node, before it is checked and copied. */
struct tls_draft {
	yaml_node_t *cert, *key, *client_ca;
	yaml_node_t *cert_file, *key_file, *client_ca_file;
	yaml_node_t *client_auth_type, *min_version, *max_version, *curves;
	bool prefer_server_cipher_suites;
	bool prefer_set; /* false: the toolkit's default, true */
};

struct http_draft {
	yaml_node_t *headers;
	bool http2;
};

struct web_draft {
	struct tls_draft tls;
	struct http_draft http;
	yaml_node_t *users;
};

static int store_node(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	(void)ld;
	(void)key;
	*(yaml_node_t **)field = yaml_is_null(value) ? NULL : value;
	return 0;
}

static int parse_prefer(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	struct tls_draft *t = field;

	t->prefer_set = true;
	return yaml_parse_bool(ld, key, value, &t->prefer_server_cipher_suites);
}

/* Keys of exporter-toolkit that this server cannot honour: refused by name
 * rather than ignored, since each one narrows who may connect. */
static int unsupported(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	(void)field;
	if (!strcmp(key, "cipher_suites"))
		return yaml_fail(ld, yaml_line(value),
				 "cipher_suites is not supported: GnuTLS names its ciphers "
				 "differently from Go; choose the protocol with min_version");
	if (!strcmp(key, "client_allowed_sans"))
		return yaml_fail(ld, yaml_line(value),
				 "client_allowed_sans is not supported; issue client certificates "
				 "from a CA of their own and name it in client_ca_file");
	return yaml_fail(ld, yaml_line(value),
			 "%s is not supported by memtide_exporter (it serves HTTP/1.1 with "
			 "libmicrohttpd)",
			 key);
}

static const struct yaml_key tls_keys[] = {
    {"cert_file", yaml_parse_string, offsetof(struct tls_draft, cert_file)},
    {"key_file", yaml_parse_string, offsetof(struct tls_draft, key_file)},
    {"client_ca_file", yaml_parse_string, offsetof(struct tls_draft, client_ca_file)},
    {"cert", yaml_parse_string, offsetof(struct tls_draft, cert)},
    {"key", yaml_parse_string, offsetof(struct tls_draft, key)},
    {"client_ca", yaml_parse_string, offsetof(struct tls_draft, client_ca)},
    {"client_auth_type", yaml_parse_string, offsetof(struct tls_draft, client_auth_type)},
    {"min_version", yaml_parse_string, offsetof(struct tls_draft, min_version)},
    {"max_version", yaml_parse_string, offsetof(struct tls_draft, max_version)},
    {"curve_preferences", store_node, offsetof(struct tls_draft, curves)},
    {"prefer_server_cipher_suites", parse_prefer, 0},
    {"cipher_suites", unsupported, 0},
    {"client_allowed_sans", unsupported, 0},
};

static int parse_tls(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	if (yaml_is_null(value))
		return 0;
	return yaml_parse_mapping(ld, value, key, tls_keys, ARRAY_SIZE(tls_keys), field);
}

static const struct yaml_key http_keys[] = {
    {"headers", store_node, offsetof(struct http_draft, headers)},
    {"http2", yaml_parse_bool, offsetof(struct http_draft, http2)},
};

static int parse_http(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	if (yaml_is_null(value))
		return 0;
	return yaml_parse_mapping(ld, value, key, http_keys, ARRAY_SIZE(http_keys), field);
}

static const struct yaml_key top_keys[] = {
    {"tls_server_config", parse_tls, offsetof(struct web_draft, tls)},
    {"http_server_config", parse_http, offsetof(struct web_draft, http)},
    {"basic_auth_users", store_node, offsetof(struct web_draft, users)},
    {"rate_limit", unsupported, 0},
};

_Static_assert(ARRAY_SIZE(tls_keys) <= YAML_MAPPING_MAX_KEYS, "tls_keys");
_Static_assert(ARRAY_SIZE(top_keys) <= YAML_MAPPING_MAX_KEYS, "top_keys");

/* Looks a scalar up in a table of names; returns its index or -1. */
static int lookup(const yaml_node_t *node, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && yaml_scalar_is(node, names[i]))
			return (int)i;
	return -1;
}

static int parse_client_auth(struct yaml_loader *ld, const yaml_node_t *node, enum client_auth *out)
{
	static const char *const names[] = {
	    [CLIENT_AUTH_NONE] = "NoClientCert",
	    [CLIENT_AUTH_REQUEST] = "RequestClientCert",
	    [CLIENT_AUTH_REQUIRE_ANY] = "RequireAnyClientCert",
	    [CLIENT_AUTH_VERIFY_IF_GIVEN] = "VerifyClientCertIfGiven",
	    [CLIENT_AUTH_REQUIRE_AND_VERIFY] = "RequireAndVerifyClientCert",
	};
	char q[YAML_QUOTE_MAX];
	int i;

	if (!node) {
		*out = CLIENT_AUTH_NONE;
		return 0;
	}
	if (yaml_scalar_is(node, "RequireClientCert")) { /* the toolkit's old name */
		*out = CLIENT_AUTH_REQUIRE_ANY;
		return 0;
	}
	i = lookup(node, names, ARRAY_SIZE(names));
	if (i < 0)
		return yaml_fail(ld, yaml_line(node),
				 "client_auth_type: unknown policy %s (expected NoClientCert, "
				 "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven "
				 "or RequireAndVerifyClientCert)",
				 YAML_QUOTE(q, node));
	*out = (enum client_auth)i;
	return 0;
}

static int parse_version(struct yaml_loader *ld, const char *key, const yaml_node_t *node,
			 enum tls_version dflt, enum tls_version *out)
{
	static const char *const names[] = {
	    [TLS_V10] = "TLS10", [TLS_V11] = "TLS11", [TLS_V12] = "TLS12", [TLS_V13] = "TLS13"};
	char q[YAML_QUOTE_MAX];
	int i;

	if (!node) {
		*out = dflt;
		return 0;
	}
	i = lookup(node, names, ARRAY_SIZE(names));
	if (i < 0)
		return yaml_fail(
		    ld, yaml_line(node),
		    "%s: unknown TLS version %s (expected TLS10, TLS11, TLS12 or TLS13)", key,
		    YAML_QUOTE(q, node));
	*out = (enum tls_version)i;
	return 0;
}

/* Appends to a bounded priority string; the caller sized it for the worst case. */
static void append(char *buf, size_t cap, const char *s)
{
	size_t len = strlen(buf);

	snprintf(buf + len, cap - len, "%s", s);
}

/* The GnuTLS priority string for the versions, curves and precedence asked for. */
static int build_priorities(struct yaml_loader *ld, const struct tls_draft *t,
			    struct web_config *wc)
{
	static const char *const versions[] = {[TLS_V10] = ":+VERS-TLS1.0",
					       [TLS_V11] = ":+VERS-TLS1.1",
					       [TLS_V12] = ":+VERS-TLS1.2",
					       [TLS_V13] = ":+VERS-TLS1.3"};
	static const char *const curve_names[] = {"CurveP256", "CurveP384", "CurveP521", "X25519"};
	static const char *const curve_groups[] = {":+GROUP-SECP256R1", ":+GROUP-SECP384R1",
						   ":+GROUP-SECP521R1", ":+GROUP-X25519"};
	char buf[512] = "NORMAL:-VERS-ALL", q[YAML_QUOTE_MAX];

	for (int v = (int)wc->max_version; v >= (int)wc->min_version; v--)
		append(buf, sizeof(buf), versions[v]);
	if (t->curves) {
		if (t->curves->type != YAML_SEQUENCE_NODE)
			return yaml_fail(ld, yaml_line(t->curves),
					 "curve_preferences: expected a list, got %s",
					 yaml_kind(t->curves));
		append(buf, sizeof(buf), ":-GROUP-ALL");
		for (yaml_node_item_t *it = t->curves->data.sequence.items.start;
		     it < t->curves->data.sequence.items.top; it++) {
			yaml_node_t *c = yaml_node(ld, *it);
			int i = c && c->type == YAML_SCALAR_NODE
				    ? lookup(c, curve_names, ARRAY_SIZE(curve_names))
				    : -1;

			if (i < 0)
				return yaml_fail(ld, yaml_line(c ? c : t->curves),
						 "curve_preferences: unknown curve %s (expected "
						 "CurveP256, CurveP384, CurveP521 or X25519)",
						 c && c->type == YAML_SCALAR_NODE
						     ? YAML_QUOTE(q, c)
						     : "(not a string)");
			append(buf, sizeof(buf), curve_groups[i]);
		}
	}
	if (!t->prefer_set || t->prefer_server_cipher_suites)
		append(buf, sizeof(buf), ":%SERVER_PRECEDENCE");
	wc->priorities = strdup(buf);
	return wc->priorities ? 0 : -ENOMEM;
}

/* A file named in the config: relative paths are relative to the config's directory. */
static int resolve_path(const char *config_path, const yaml_node_t *node, char **out)
{
	const char *name = (const char *)node->data.scalar.value;
	char *copy, *dir;
	int n;

	if (name[0] == '/')
		return yaml_dup_scalar(node, out);
	copy = strdup(config_path);
	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	n = asprintf(out, "%s/%s", dir, name);
	free(copy);
	return n < 0 ? -ENOMEM : 0;
}

/* One PEM, from a *_file key or inline, never both. */
static int take_pem(struct yaml_loader *ld, const yaml_node_t *inline_node, const char *inline_key,
		    const yaml_node_t *file_node, const char *file_key, char **pem, char **file)
{
	if (inline_node && file_node)
		return yaml_fail(ld, yaml_line(file_node), "%s and %s are both set; keep one",
				 file_key, inline_key);
	if (file_node)
		return resolve_path(ld->path, file_node, file);
	return yaml_dup_scalar(inline_node, pem);
}

static int build_tls(struct yaml_loader *ld, const struct tls_draft *t, struct web_config *wc)
{
	const yaml_node_t *any = t->cert	     ? t->cert
				 : t->cert_file	     ? t->cert_file
				 : t->key	     ? t->key
				 : t->key_file	     ? t->key_file
				 : t->client_ca	     ? t->client_ca
				 : t->client_ca_file ? t->client_ca_file
						     : t->client_auth_type;
	int err;

	wc->tls = any != NULL;
	if (!wc->tls)
		return 0;
	if (!t->cert && !t->cert_file)
		return yaml_fail(ld, yaml_line(any),
				 "tls_server_config: missing cert_file (or cert)");
	if (!t->key && !t->key_file)
		return yaml_fail(ld, yaml_line(any),
				 "tls_server_config: missing key_file (or key)");
	err =
	    take_pem(ld, t->cert, "cert", t->cert_file, "cert_file", &wc->cert_pem, &wc->cert_file);
	if (!err)
		err = take_pem(ld, t->key, "key", t->key_file, "key_file", &wc->key_pem,
			       &wc->key_file);
	if (!err)
		err = take_pem(ld, t->client_ca, "client_ca", t->client_ca_file, "client_ca_file",
			       &wc->client_ca_pem, &wc->client_ca_file);
	if (!err)
		err = parse_client_auth(ld, t->client_auth_type, &wc->client_auth);
	if (err)
		return err;
	if ((t->client_ca || t->client_ca_file) && wc->client_auth == CLIENT_AUTH_NONE)
		return yaml_fail(ld, yaml_line(t->client_ca ? t->client_ca : t->client_ca_file),
				 "client CAs are set but client_auth_type does not ask for client "
				 "certificates (use RequireAndVerifyClientCert)");
	if (!t->client_ca && !t->client_ca_file &&
	    (wc->client_auth == CLIENT_AUTH_VERIFY_IF_GIVEN ||
	     wc->client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY))
		return yaml_fail(
		    ld, yaml_line(t->client_auth_type),
		    "client_auth_type verifies client certificates: set client_ca_file "
		    "to the CA that issues them");
	err = parse_version(ld, "min_version", t->min_version, TLS_V12, &wc->min_version);
	if (!err)
		err = parse_version(ld, "max_version", t->max_version, TLS_V13, &wc->max_version);
	if (err)
		return err;
	if (wc->min_version > wc->max_version)
		return yaml_fail(ld, yaml_line(t->min_version ? t->min_version : t->max_version),
				 "min_version is above max_version");
	return build_priorities(ld, t, wc);
}

/* Checks a mapping of string to string and returns its size. */
static int string_map(struct yaml_loader *ld, const char *what, yaml_node_t *node, size_t max,
		      size_t *n)
{
	if (node->type != YAML_MAPPING_NODE)
		return yaml_fail(ld, yaml_line(node), "%s: expected a mapping, got %s", what,
				 yaml_kind(node));
	*n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
	if (*n > max)
		return yaml_fail(ld, yaml_line(node), "%s: more than %zu entries", what, max);
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_node(ld, p->key), *v = yaml_node(ld, p->value);
		int err;

		if (!k || !v)
			return yaml_fail(ld, yaml_line(node), "%s: broken mapping", what);
		err = yaml_parse_string(ld, what, k, &k);
		if (!err)
			err = yaml_parse_string(ld, (const char *)k->data.scalar.value, v, &v);
		if (err)
			return err;
		for (yaml_node_pair_t *q = node->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = yaml_node(ld, q->key);

			if (!strcmp((const char *)prev->data.scalar.value,
				    (const char *)k->data.scalar.value))
				return yaml_fail(ld, yaml_line(k),
						 "%s: duplicate key \"%s\" (first at line %zu)",
						 what, (const char *)k->data.scalar.value,
						 yaml_line(prev));
		}
	}
	return 0;
}

/* A hash crypt(3) reads as bcrypt: $2a$, $2b$ or $2y$, a cost of 04 to 31,
 * then 53 characters of salt and digest. Returns the cost, or -1. */
static int bcrypt_cost(const char *h)
{
	size_t len = strlen(h);
	int cost;

	if (len != 60 || h[0] != '$' || h[1] != '2' || !strchr("aby", h[2]) || h[3] != '$' ||
	    h[6] != '$' || h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9')
		return -1;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < 4 || cost > 31 ||
	    strspn(h + 7, "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != 53)
		return -1;
	return cost;
}

static int build_users(struct yaml_loader *ld, yaml_node_t *node, struct web_config *wc)
{
	size_t n;
	int err;

	if (!node)
		return 0;
	err = string_map(ld, "basic_auth_users", node, MAX_USERS, &n);
	if (err)
		return err;
	wc->users = calloc(n ? n : 1, sizeof(*wc->users));
	if (!wc->users)
		return -ENOMEM;
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_node(ld, p->key), *v = yaml_node(ld, p->value);
		struct web_user *u = &wc->users[wc->n_users];
		int cost = bcrypt_cost((const char *)v->data.scalar.value);

		if (cost < 0)
			return yaml_fail(ld, yaml_line(v),
					 "basic_auth_users: the password of \"%s\" is not a bcrypt "
					 "hash ($2y$10$..., as htpasswd -nB makes)",
					 (const char *)k->data.scalar.value);
		if (cost > MAX_BCRYPT_COST)
			return yaml_fail(
			    ld, yaml_line(v),
			    "basic_auth_users: the hash of \"%s\" has cost %d; above %d "
			    "each check takes seconds to hours (10 to 12 is usual)",
			    (const char *)k->data.scalar.value, cost, MAX_BCRYPT_COST);
		if (strchr((const char *)k->data.scalar.value, ':'))
			return yaml_fail(ld, yaml_line(k),
					 "basic_auth_users: a user name cannot contain ':'");
		u->cost = cost;
		err = yaml_dup_scalar(k, &u->name);
		if (!err)
			err = yaml_dup_scalar(v, &u->hash);
		wc->n_users++;
		if (err)
			return err;
	}
	return 0;
}

/* The headers exporter-toolkit lets a config add, and the values it allows. */
static bool header_allowed(struct yaml_loader *ld, yaml_node_t *k, yaml_node_t *v)
{
	static const char *const free_value[] = {"Strict-Transport-Security", "X-XSS-Protection",
						 "Content-Security-Policy"};
	char q[YAML_QUOTE_MAX];

	if (lookup(k, free_value, ARRAY_SIZE(free_value)) >= 0)
		return true;
	if (yaml_scalar_is(k, "X-Content-Type-Options")) {
		if (yaml_scalar_is(v, "nosniff"))
			return true;
		yaml_fail(ld, yaml_line(v), "X-Content-Type-Options: expected \"nosniff\", got %s",
			  YAML_QUOTE(q, v));
		return false;
	}
	if (yaml_scalar_is(k, "X-Frame-Options")) {
		if (yaml_scalar_is(v, "deny") || yaml_scalar_is(v, "sameorigin"))
			return true;
		yaml_fail(ld, yaml_line(v),
			  "X-Frame-Options: expected \"deny\" or \"sameorigin\", got %s",
			  YAML_QUOTE(q, v));
		return false;
	}
	yaml_fail(ld, yaml_line(k),
		  "http_server_config.headers: header %s cannot be set (allowed: "
		  "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, "
		  "X-XSS-Protection, Content-Security-Policy)",
		  YAML_QUOTE(q, k));
	return false;
}

static int build_headers(struct yaml_loader *ld, yaml_node_t *node, struct web_config *wc)
{
	size_t n;
	int err;

	if (!node)
		return 0;
	err = string_map(ld, "http_server_config.headers", node, MAX_HEADERS, &n);
	if (err)
		return err;
	wc->headers = calloc(n ? n : 1, sizeof(*wc->headers));
	if (!wc->headers)
		return -ENOMEM;
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_node(ld, p->key), *v = yaml_node(ld, p->value);
		struct web_header *h = &wc->headers[wc->n_headers];

		if (!header_allowed(ld, k, v))
			return -EINVAL;
		if (strpbrk((const char *)v->data.scalar.value, "\r\n"))
			return yaml_fail(ld, yaml_line(v), "%s: a header value cannot span lines",
					 (const char *)k->data.scalar.value);
		err = yaml_dup_scalar(k, &h->name);
		if (!err)
			err = yaml_dup_scalar(v, &h->value);
		wc->n_headers++;
		if (err)
			return err;
	}
	return 0;
}

static int build(struct yaml_loader *ld, struct web_config *wc)
{
	yaml_node_t *root = yaml_document_get_root_node(ld->doc);
	struct web_draft d = {0};
	int err;

	/* An empty file asks for nothing: plain HTTP, no authentication. */
	if (!root || yaml_is_null(root))
		return 0;
	err = yaml_parse_mapping(ld, root, "the top-level mapping", top_keys, ARRAY_SIZE(top_keys),
				 &d);
	if (!err)
		err = build_tls(ld, &d.tls, wc);
	if (!err)
		err = build_users(ld, d.users, wc);
	if (!err)
		err = build_headers(ld, d.http.headers, wc);
	return err;
}

int web_config_parse(const char *path, const char *buf, size_t len, struct web_config **out,
		     char *err, size_t errlen)
{
	struct yaml_loader ld = {
	    .path = path, .buf = buf, .len = len, .err = err, .errlen = errlen};
	struct web_config *wc = calloc(1, sizeof(*wc));
	yaml_document_t doc;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!wc || !(wc->path = strdup(path))) {
		free(wc);
		return -ENOMEM;
	}
	wc->refs = 1;
	rc = yaml_load_document(&ld, &doc);
	if (rc) {
		web_config_put(wc);
		return rc;
	}
	ld.doc = &doc;
	rc = build(&ld, wc);
	yaml_document_delete(&doc);
	if (rc) {
		if (rc == -ENOMEM)
			yaml_fail(&ld, 0, "out of memory");
		web_config_put(wc);
		return rc;
	}
	*out = wc;
	return 0;
}

/* Reads a PEM file named by the config into *pem. */
static int read_pem(struct yaml_loader *ld, const char *key, const char *file, char **pem)
{
	size_t len;
	int rc;

	if (!file)
		return 0;
	rc = yaml_read_file(file, pem, &len);
	if (rc)
		return yaml_fail(ld, 0, "%s %s: %s", key, file, strerror(-rc));
	return 0;
}

static gnutls_datum_t datum(const char *pem)
{
	return (gnutls_datum_t){.data = (unsigned char *)pem, .size = (unsigned)strlen(pem)};
}

/* Loads the certificates into a throwaway GnuTLS credential: the same calls
 * the server will make, so that whatever they refuse is refused now. */
static int check_tls(struct yaml_loader *ld, const struct web_config *wc)
{
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	gnutls_datum_t cert = datum(wc->cert_pem), key = datum(wc->key_pem);
	const char *where;
	int rc;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		yaml_fail(ld, 0,
			  "tls_server_config: cannot use the certificate %s with the key %s: %s",
			  wc->cert_file ? wc->cert_file : "(inline)",
			  wc->key_file ? wc->key_file : "(inline)", gnutls_strerror(rc));
	} else if (wc->client_ca_pem) {
		gnutls_datum_t ca = datum(wc->client_ca_pem);

		rc = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		if (rc <= 0)
			yaml_fail(ld, 0, "tls_server_config: client CA %s: %s",
				  wc->client_ca_file ? wc->client_ca_file : "(inline)",
				  rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
		rc = rc <= 0 ? -1 : 0;
	}
	gnutls_certificate_free_credentials(cred);
	if (rc < 0)
		return -EINVAL;
	rc = gnutls_priority_init(&prio, wc->priorities, &where);
	if (rc < 0)
		return yaml_fail(ld, 0, "tls_server_config: GnuTLS refuses \"%s\" at \"%s\": %s",
				 wc->priorities, where ? where : "", gnutls_strerror(rc));
	gnutls_priority_deinit(prio);
	return 0;
}

/* Every hash must be one this libcrypt computes: a bcrypt it cannot check
 * would lock every scrape out at the first request instead of now. */
static int check_hashes(struct yaml_loader *ld, const struct web_config *wc)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	int rc = 0;

	if (!cd)
		return -ENOMEM;
	for (size_t i = 0; i < wc->n_users && !rc; i++) {
		const char *out = crypt_rn("", wc->users[i].hash, cd, sizeof(*cd));

		if (!out || strncmp(out, wc->users[i].hash, 7) != 0)
			rc = yaml_fail(ld, 0,
				       "basic_auth_users: libcrypt cannot check the hash of "
				       "\"%s\"",
				       wc->users[i].name);
	}
	free(cd);
	return rc;
}

int web_config_load(const char *path, struct web_config **out, char *err, size_t errlen)
{
	struct yaml_loader ld = {.path = path, .err = err, .errlen = errlen};
	struct web_config *wc;
	char *buf;
	size_t len;
	int rc = yaml_read_file(path, &buf, &len);

	if (rc) {
		yaml_fail(&ld, 0, "%s", strerror(-rc));
		return rc;
	}
	rc = web_config_parse(path, buf, len, &wc, err, errlen);
	free(buf);
	if (rc)
		return rc;
	rc = read_pem(&ld, "cert_file", wc->cert_file, &wc->cert_pem);
	if (!rc)
		rc = read_pem(&ld, "key_file", wc->key_file, &wc->key_pem);
	if (!rc)
		rc = read_pem(&ld, "client_ca_file", wc->client_ca_file, &wc->client_ca_pem);
	if (!rc && wc->tls)
		rc = check_tls(&ld, wc);
	if (!rc)
		rc = check_hashes(&ld, wc);
	if (rc) {
		web_config_put(wc);
		return rc;
	}
	*out = wc;
	return 0;
}

struct web_config *web_config_get(struct web_config *wc)
{
	if (wc)
		__atomic_add_fetch(&wc->refs, 1, __ATOMIC_RELAXED);
	return wc;
}

/* Overwrites secrets before freeing them: the key and the hashes should not
 * outlive the config in freed heap memory. */
static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void web_config_put(struct web_config *wc)
{
	if (!wc || __atomic_sub_fetch(&wc->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < wc->n_users; i++) {
		free(wc->users[i].name);
		free_secret(wc->users[i].hash);
	}
	for (size_t i = 0; i < wc->n_headers; i++) {
		free(wc->headers[i].name);
		free(wc->headers[i].value);
	}
	free(wc->users);
	free(wc->headers);
	free(wc->path);
	free(wc->cert_file);
	free(wc->key_file);
	free(wc->client_ca_file);
	free(wc->cert_pem);
	free_secret(wc->key_pem);
	free(wc->client_ca_pem);
	free(wc->priorities);
	free(wc);
}
