/* SPDX-License-Identifier: MIT */
/*
 * agent_reject: a segment the agent collector did not use is never silent:
 * memtide_scrape_errors_total{collector="agent",reason} counts it, and the log
 * says which process and file and why, at most a few lines a minute (a
 * directory of junk must not flood the log), then how many were left unsaid.
 */
#ifndef MEMTIDE_AGENT_REJECT_H
#define MEMTIDE_AGENT_REJECT_H

struct collect_ctx;

/* reason: a string literal (the error counts keep it). */
void agent_reject(struct collect_ctx *ctx, const char *dir, const char *name, unsigned pid,
		  const char *reason);

#endif
