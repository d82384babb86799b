// SPDX-License-Identifier: MIT
/*
 * fork() and exec() under the agent.
 *
 *	fork_exec fork      hold 500 blocks, fork; the child checks it has its own
 *	                    segment with the inherited counts, frees the blocks and
 *	                    checks again; the parent checks its counts did not move.
 *	fork_exec exec PROG [ARGS]
 *	                    fork, the child execs PROG; the parent prints both pids
 *	                    and waits for stdin to close, then for the child.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "selfread.h"

#define N 500

static void *blocks[N];
static struct memtide_seg_snapshot before, child, child_after, parent_after;

static int child_side(unsigned long long bytes)
{
	int bad = 0, i;

	if (self_snapshot(&child) != 0)
		return 2;
	bad |= child.pid != (uint32_t)getpid();
	bad |= !(child.flags & MEMTIDE_SEG_FLAG_FORKED);
	/* The child's heap is a copy of the parent's: so are its counts. */
	bad |= child.live_objects != before.live_objects;
	bad |= child.live_bytes != before.live_bytes;
	for (i = 0; i < N; i++)
		free(blocks[i]);
	if (self_snapshot(&child_after) != 0)
		return 2;
	bad |= child.live_objects - child_after.live_objects != N;
	bad |= child.live_bytes - child_after.live_bytes != bytes;
	say("child_exact", !bad);
	return bad;
}

static int fork_mode(void)
{
	unsigned long long bytes = 0;
	int i, status, bad = 0;
	pid_t pid;

	for (i = 0; i < N; i++) {
		blocks[i] = malloc(32 + (size_t)i * 3);
		bytes += counted_usable(blocks[i]);
	}
	if (self_snapshot(&before) != 0)
		return 2;
	pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0)
		exit(child_side(bytes));
	if (waitpid(pid, &status, 0) != pid)
		return 3;
	if (self_snapshot(&parent_after) != 0)
		return 2;
	bad |= parent_after.live_objects != before.live_objects;
	bad |= parent_after.live_bytes != before.live_bytes;
	bad |= parent_after.pid != (uint32_t)getpid();
	say("parent_exact", !bad);
	say("child_status", (unsigned long long)status);
	return bad || status != 0;
}

static int exec_mode(char **argv)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	say("parent", (unsigned long long)getpid());
	say("child", (unsigned long long)pid);
	wait_stdin_eof();
	if (waitpid(pid, &status, 0) != pid)
		return 3;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "fork") == 0)
		return fork_mode();
	if (argc > 2 && strcmp(argv[1], "exec") == 0)
		return exec_mode(argv + 2);
	return 2;
}
