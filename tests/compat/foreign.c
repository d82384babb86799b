// SPDX-License-Identifier: MIT
/*
 * A program linked with another allocator (built as foreign_jemalloc,
 * foreign_tcmalloc, foreign_mimalloc): uses the whole malloc family and
 * malloc_usable_size (what crashed redis-server under the agent), says
 * "ready", holds its blocks until stdin closes, then frees them.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 2000

static void *blocks[N];

int main(void)
{
	size_t ok = 0;
	char buf[64];
	void *p;

	for (int i = 0; i < N; i++) {
		switch (i % 4) {
		case 0:
			blocks[i] = malloc((size_t)(8 + i));
			break;
		case 1:
			blocks[i] = calloc(3, (size_t)(5 + i));
			break;
		case 2:
			blocks[i] = realloc(malloc(16), (size_t)(100 + i));
			break;
		default:
			blocks[i] = posix_memalign(&p, 64, (size_t)i) == 0 ? p : NULL;
		}
		ok += blocks[i] && malloc_usable_size(blocks[i]) >= (size_t)i / 2;
	}
	printf("ready %zu\n", ok);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	printf("done\n");
	return 0;
}
