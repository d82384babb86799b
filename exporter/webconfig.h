/* SPDX-License-Identifier: MIT */
/*
 * webconfig: the --web.config.file of Prometheus' exporter-toolkit.
 *
 * The same YAML node_exporter reads: tls_server_config, basic_auth_users
 * (bcrypt hashes) and http_server_config.headers. Loading reads the files it
 * names and checks everything the server will rely on (the key matches the
 * certificate, the client CAs parse, every hash is a bcrypt hash libcrypt
 * can check), so that a bad file is refused at start and on reload instead of
 * failing handshakes later.
 *
 * Reference counted: every listener holds the config it was started with,
 * and a reload starts listeners on a new one while requests in flight finish
 * on the old.
 */
#ifndef MEMTIDE_WEBCONFIG_H
#define MEMTIDE_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Go's crypto/tls client authentication policies, by their names in the file. */
enum client_auth {
	CLIENT_AUTH_NONE,		/* NoClientCert */
	CLIENT_AUTH_REQUEST,		/* RequestClientCert */
	CLIENT_AUTH_REQUIRE_ANY,	/* RequireAnyClientCert */
	CLIENT_AUTH_VERIFY_IF_GIVEN,	/* VerifyClientCertIfGiven */
	CLIENT_AUTH_REQUIRE_AND_VERIFY, /* RequireAndVerifyClientCert */
};

enum tls_version { TLS_V10 = 1, TLS_V11, TLS_V12, TLS_V13 };

struct web_user {
	char *name;
	char *hash; /* bcrypt, as crypt(3) takes it */
	int cost;   /* its cost, from the hash */
};

struct web_header {
	char *name;
	char *value;
};

struct web_config {
	char *path;
	bool tls;
	/* Files named by the *_file keys, relative ones resolved against the
	 * config file's directory; NULL when the PEM was given inline. */
	char *cert_file;
	char *key_file;
	char *client_ca_file;
	/* PEM text, inline or, after web_config_load, read from the files. */
	char *cert_pem;
	char *key_pem;
	char *client_ca_pem; /* NULL: no client CAs */
	enum client_auth client_auth;
	enum tls_version min_version, max_version;
	char *priorities; /* GnuTLS priority string built from the versions and curves */
	struct web_user *users;
	size_t n_users;
	struct web_header *headers;
	size_t n_headers;
	unsigned refs; /* atomic */
};

/*
 * Parses the YAML in buf (named path in messages) without touching any
 * other file: the *_file keys stay unread. For the fuzzer and for
 * web_config_load. On error returns a negative errno with "PATH:LINE: why"
 * in err.
 */
int web_config_parse(const char *path, const char *buf, size_t len, struct web_config **out,
		     char *err, size_t errlen);

/* Reads and parses the file, reads the certificates and keys it names and
 * checks them all. */
int web_config_load(const char *path, struct web_config **out, char *err, size_t errlen);

struct web_config *web_config_get(struct web_config *wc);
void web_config_put(struct web_config *wc);

#endif
