/* SPDX-License-Identifier: MIT */
/*
 * scrape_errors: what collectors skipped, as the counter
 * memtide_scrape_errors_total{collector,reason}.
 *
 * Process-wide and thread-safe. `collector` and `reason` must be string
 * literals or otherwise live for the life of the program: the table keeps the
 * pointers. The table is bounded; reasons past its size are counted under
 * reason="other".
 */
#ifndef MEMTIDE_SCRAPE_ERRORS_H
#define MEMTIDE_SCRAPE_ERRORS_H

struct expo;

void scrape_errors_inc(const char *collector, const char *reason);

/* Writes the counter family. Returns 0 or a negative errno. */
int scrape_errors_write(struct expo *out);

#endif
