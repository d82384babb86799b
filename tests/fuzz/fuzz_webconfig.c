// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the web config (--web.config.file): the input is the
 * file's content. Only the parser runs: the files a config names are not
 * read, and no hash is computed. A config that parses must be coherent: TLS
 * on means a certificate and a key, every user has a bcrypt hash, every
 * header a name and a value on one line; a failure must name the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/webconfig.h"

#define PATH "/etc/memtide/web.yml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct web_config *wc)
{
	if (wc->tls && (!(wc->cert_pem || wc->cert_file) || !(wc->key_pem || wc->key_file) ||
			!wc->priorities || wc->min_version > wc->max_version))
		abort();
	for (size_t i = 0; i < wc->n_users; i++)
		if (!wc->users[i].name || strlen(wc->users[i].hash) != 60)
			abort();
	for (size_t i = 0; i < wc->n_headers; i++)
		if (!wc->headers[i].name || strpbrk(wc->headers[i].value, "\r\n"))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct web_config *wc;
	char err[512];
	char *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees overreads */

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (web_config_parse(PATH, copy, size, &wc, err, sizeof(err)) == 0) {
		check(wc);
		web_config_put(wc);
	} else if (strncmp(err, PATH, strlen(PATH)) != 0 ||
		   strnlen(err, sizeof(err)) >= sizeof(err)) {
		abort();
	}
	free(copy);
	return 0;
}
