/* SPDX-License-Identifier: MIT */
/*
 * utf8: telling well-formed UTF-8 from other bytes, for the exposition
 * writer (label values must be UTF-8) and for group names (published as the
 * kernel holds them when they are UTF-8, escaped otherwise).
 */
#ifndef MEMTIDE_UTF8_H
#define MEMTIDE_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0. Stops at the NUL terminator.
 */
size_t utf8_seq(const unsigned char *s);

#endif
