/* SPDX-License-Identifier: MIT */
/*
 * negotiate: content negotiation as Prometheus does it.
 *
 * Both parsers take a header value as sent (NULL when the header is absent)
 * and never fail: malformed parts of a header are ignored, and whatever cannot
 * be understood falls back to the text format 0.0.4 without compression.
 */
#ifndef MEMTIDE_NEGOTIATE_H
#define MEMTIDE_NEGOTIATE_H

#include <stdbool.h>
#include "expo.h"

/*
 * Chooses OpenMetrics 1.0.0 when the Accept header gives
 * application/openmetrics-text (version absent or 1.0.0) a higher q-value than
 * any range that matches text/plain (text/plain, text/star, star/star), else
 * the text format. Ties go to OpenMetrics, the first choice Prometheus lists.
 */
enum expo_format negotiate_format(const char *accept);

/* True when Accept-Encoding allows gzip (explicitly, or through "*"), q > 0. */
bool negotiate_gzip(const char *accept_encoding);

#endif
