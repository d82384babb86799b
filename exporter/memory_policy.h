/* SPDX-License-Identifier: MIT */
/*
 * memory_policy: everything the exporter does to keep its own memory small,
 * in one place. Its resident size is a metric it publishes and a promise it
 * makes (docs/reliability.md); the callers only say when.
 *
 * - At start: one malloc arena, and large buffers straight from mmap.
 * - When the last scrape in flight is done: the heap's free pages go back.
 * - When a request is answered: the stack pages below the caller go back.
 *   libmicrohttpd serves each connection on a thread of its own, and glibc
 *   keeps the stacks of finished threads for reuse with every page they ever
 *   touched. Over days each cached stack comes to hold as much as the deepest
 *   scrape ever needed on it; the soak saw this as RSS that kept creeping
 *   while the live heap stayed flat.
 */
#ifndef MEMTIDE_MEMORY_POLICY_H
#define MEMTIDE_MEMORY_POLICY_H

/* Sets the allocator's retention limits; call before any thread starts.
 * Returns 0, or -EINVAL when glibc refused one (the exporter runs on). */
int memory_policy_init(void);

/* The last scrape in flight is done: returns the heap's free pages. */
void memory_policy_scrapes_idle(void);

/* A request was answered on this thread: drops the pages of its stack below
 * the current frame (they read back as zeros, nothing below is live). */
void memory_policy_request_done(void);

#endif
