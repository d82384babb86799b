// SPDX-License-Identifier: MIT
/*
 * Allocate and hold N blocks of known usable size, check the change through the
 * process's own segment, hold them until stdin closes (for the test to read the
 * segment from outside), free them and check the return to the baseline.
 *
 *	hold_blocks N    prints key=value lines; exit 0 iff every count was exact
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "selfread.h"

#define MAX_BLOCKS 100000

static void *blocks[MAX_BLOCKS];
static struct memtide_seg_snapshot base, held, after;

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000, i;
	unsigned long long bytes = 0;
	int bad = 0;

	if (n > MAX_BLOCKS)
		n = MAX_BLOCKS;
	if (self_snapshot(&base) != 0)
		return 2;
	for (i = 0; i < n; i++) {
		/* Sizes from 1 byte to mmapped blocks, through every allocator. */
		size_t size = 1 + (i * 7919) % (i % 97 == 0 ? 300000 : 2000);

		switch (i % 5) {
		case 0:
			blocks[i] = malloc(size);
			break;
		case 1:
			blocks[i] = calloc(1, size);
			break;
		case 2:
			blocks[i] = realloc(malloc(size / 2 + 1), size);
			break;
		case 3:
			blocks[i] = aligned_alloc(64, (size + 63) & ~(size_t)63);
			break;
		default:
			if (posix_memalign(&blocks[i], 256, size) != 0)
				blocks[i] = NULL;
		}
		if (!blocks[i])
			return 3;
		bytes += counted_usable(blocks[i]);
	}
	if (self_snapshot(&held) != 0)
		return 2;
	bad |= held.live_objects - base.live_objects != n;
	bad |= held.live_bytes - base.live_bytes != bytes;
	say("pid", (unsigned long long)getpid());
	say("blocks", n);
	say("block_bytes", bytes);
	say("base_live_objects", base.live_objects);
	say("base_live_bytes", base.live_bytes);
	say("held_live_objects", held.live_objects);
	say("held_live_bytes", held.live_bytes);
	say("ready", 1);
	wait_stdin_eof();
	for (i = 0; i < n; i++)
		free(blocks[i]);
	if (self_snapshot(&after) != 0)
		return 2;
	bad |= after.live_objects != base.live_objects;
	bad |= after.live_bytes != base.live_bytes;
	say("after_live_objects", after.live_objects);
	say("after_live_bytes", after.live_bytes);
	say("exact", !bad);
	return bad;
}
