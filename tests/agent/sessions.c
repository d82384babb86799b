// SPDX-License-Identifier: MIT
/*
 * Drives the session API from commands on stdin, one per line, answering "ok"
 * (or "err") on stdout after each, so that a test can read the segment between
 * steps:
 *
 *	open N          open N sessions in pool "web"
 *	close N         close the N oldest open sessions of "web"
 *	advance S       memtide_debug_advance_clock(S)
 *	set N           memtide_sessions_set(pool "counted", N)
 *	badclose        close ticket 12345 (a ticket of no pool)
 *	ladder N S      N times: open one session, advance the clock by S seconds
 *
 * Linked with libmemtide (not preloaded), as an application would be.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memtide.h"
#include "memtide_debug.h"

#define MAX_TICKETS 100000

static uint64_t tickets[MAX_TICKETS];
static size_t first, last;

int main(void)
{
	struct memtide_pool *web = memtide_pool("web", 1800.0);
	struct memtide_pool *counted = memtide_pool("counted", 60.0);
	char line[128];
	long n, step;

	if (!web || !counted || memtide_pool("web", 5.0) != web) {
		puts("err no pool");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("pid %ld\n", (long)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "open %ld", &n) == 1) {
			while (n-- > 0 && last < MAX_TICKETS)
				tickets[last++] = memtide_session_open(web);
		} else if (sscanf(line, "close %ld", &n) == 1) {
			while (n-- > 0 && first < last)
				memtide_session_close(web, tickets[first++]);
		} else if (sscanf(line, "advance %ld", &n) == 1) {
			memtide_debug_advance_clock(n);
		} else if (sscanf(line, "set %ld", &n) == 1) {
			memtide_sessions_set(counted, n);
		} else if (sscanf(line, "ladder %ld %ld", &n, &step) == 2) {
			while (n-- > 0 && last < MAX_TICKETS) {
				tickets[last++] = memtide_session_open(web);
				memtide_debug_advance_clock(step);
			}
		} else if (strncmp(line, "badclose", 8) == 0) {
			memtide_session_close(web, 12345);
		} else {
			puts("err");
			continue;
		}
		puts("ok");
	}
	return 0;
}
