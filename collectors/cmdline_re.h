/* SPDX-License-Identifier: MIT */
/*
 * cmdline_re: the `cmdline` regex of a process group, matched in time linear
 * in the command line's length whatever the pattern and the text.
 *
 * A command line is written by whoever started the process: any local user.
 * glibc's regexec backtracks (quadratic on unanchored patterns, exponential
 * on nested repetitions), so one crafted command line could stall every
 * scrape. RE2 (an automaton, no backtracking) bounds the work; this C
 * interface keeps C++ out of the rest of the exporter.
 *
 * Syntax: POSIX extended, leftmost-longest, with RE2's limits (see
 * docs/configuration.md); text and pattern are taken byte by byte.
 */
#ifndef MEMTIDE_CMDLINE_RE_H
#define MEMTIDE_CMDLINE_RE_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cmdline_re;

/* Where a capture matched: byte offsets, or -1 both when it took no part. */
struct cmdline_re_span {
	long so, eo;
};

/*
 * Compiles pattern into *out and sets *captures to its capture-group count.
 * Returns 0, -EINVAL with the reason in why, or -ENOMEM.
 */
int cmdline_re_compile(const char *pattern, struct cmdline_re **out, unsigned *captures, char *why,
		       size_t why_len);

/*
 * Searches text (len bytes) anywhere; fills spans[0..n) (0: the whole match,
 * then the captures) when it matches. n is at most captures + 1. Safe to
 * call from several threads at once.
 */
bool cmdline_re_search(const struct cmdline_re *re, const char *text, size_t len,
		       struct cmdline_re_span *spans, unsigned n);

void cmdline_re_free(struct cmdline_re *re);

#ifdef __cplusplus
}
#endif

#endif
