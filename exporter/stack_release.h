/* SPDX-License-Identifier: MIT */
/*
 * stack_release: giving back the pages of a thread's stack below the caller.
 *
 * libmicrohttpd serves each connection on a thread of its own, and glibc
 * keeps the stacks of finished threads for reuse with every page they ever
 * touched. Over days each cached stack comes to hold as much as the deepest
 * scrape ever needed on it; the soak saw this as RSS that kept creeping while
 * the live heap stayed flat. Releasing the dead part after each request keeps
 * a stack's resident size at what its connection is using now.
 */
#ifndef MEMTIDE_STACK_RELEASE_H
#define MEMTIDE_STACK_RELEASE_H

/* Drops the pages of the calling thread's stack below its current frame
 * (they read back as zeros, and nothing below the frame is live). */
void stack_release_below_caller(void);

#endif
