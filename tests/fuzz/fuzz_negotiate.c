// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for content negotiation: the input up to the first NUL or
 * newline is an Accept header, the rest an Accept-Encoding header. Both come
 * from whoever connects to the exporter.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *accept, *encoding;
	enum expo_format fmt;
	size_t cut;

	/* Two NUL-terminated copies, so that reads past either end are caught. */
	for (cut = 0; cut < size && data[cut] != '\0' && data[cut] != '\n'; cut++)
		;
	accept = malloc(cut + 1);
	encoding = malloc(size - cut + 1);
	if (!accept || !encoding)
		goto out_free;
	memcpy(accept, data, cut);
	accept[cut] = '\0';
	if (cut < size)
		memcpy(encoding, data + cut + 1, size - cut - 1);
	encoding[cut < size ? size - cut - 1 : 0] = '\0';

	fmt = negotiate_format(accept);
	if (fmt != EXPO_TEXT_004 && fmt != EXPO_OPENMETRICS_100)
		abort();
	(void)negotiate_gzip(encoding);

out_free:
	free(encoding);
	free(accept);
	return 0;
}
