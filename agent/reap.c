// SPDX-License-Identifier: MIT
/*
 * A child that dies without running its exit handlers (a signal's default
 * action, _exit) leaves its segment behind. Its parent learns of the death
 * when it reaps the child, so the wait family is interposed: once the real
 * call returns a dead child, that child's segment goes too. php-fpm's master
 * stops its workers with SIGTERM and reaps them: without this, every stop
 * of the server left a file per worker until an exporter removed it.
 *
 * Only a file that is the segment of that pid is removed, and only while no
 * live process of that pid owns it: the pid is free again once reaped, and a
 * new process may already have taken it (and its segment name). nginx reaps
 * in its SIGCHLD handler, so everything here is async-signal-safe: system
 * calls only, the real functions looked up at start-up, errno kept.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "agent_internal.h"

typedef pid_t (*wait4_fn)(pid_t, int *, int, struct rusage *);
typedef int (*waitid_fn)(idtype_t, id_t, siginfo_t *, int);

static wait4_fn real_wait4;
static waitid_fn real_waitid;

/* At start-up, where dlsym may allocate: never in a signal handler. */
void reap_init(void)
{
	real_wait4 = (wait4_fn)dlsym(RTLD_NEXT, "wait4");
	real_waitid = (waitid_fn)dlsym(RTLD_NEXT, "waitid");
}

/* A status that means the child is gone (not stopped, not continued). */
static bool dead(int status)
{
	return WIFEXITED(status) || WIFSIGNALED(status);
}

static pid_t wait4_kept(pid_t pid, int *status, int options, struct rusage *usage)
{
	int st = 0;
	pid_t ret;

	/* Before start-up (another library's constructor): the system call. */
	ret = real_wait4 ? real_wait4(pid, &st, options, usage)
			 : (pid_t)syscall(SYS_wait4, pid, &st, options, usage);
	if (ret > 0 && dead(st)) {
		int saved_errno = errno;

		segment_forget_child(ret);
		errno = saved_errno;
	}
	if (status)
		*status = st;
	return ret;
}

MEMTIDE_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
{
	return wait4_kept(pid, status, options, usage);
}

MEMTIDE_EXPORT pid_t wait3(int *status, int options, struct rusage *usage)
{
	return wait4_kept(-1, status, options, usage);
}

MEMTIDE_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	return wait4_kept(pid, status, options, NULL);
}

MEMTIDE_EXPORT pid_t wait(int *status)
{
	return wait4_kept(-1, status, 0, NULL);
}

MEMTIDE_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	int ret, saved_errno;

	ret = real_waitid ? real_waitid(idtype, id, info, options)
			  : (int)syscall(SYS_waitid, idtype, id, info, options, NULL);
	saved_errno = errno;
	/* WNOWAIT leaves the child a zombie: it is not reaped yet. */
	if (ret == 0 && info && info->si_pid > 0 && !(options & WNOWAIT) &&
	    (info->si_code == CLD_EXITED || info->si_code == CLD_KILLED ||
	     info->si_code == CLD_DUMPED))
		segment_forget_child(info->si_pid);
	errno = saved_errno;
	return ret;
}
