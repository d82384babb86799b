// SPDX-License-Identifier: MIT
/*
 * The ways a process lives and ends, each a mode, for running with and without
 * the agent and comparing (tests/agent/test_lifecycle.py): the output and the
 * exit status must be the same. The output carries no pid or time.
 *
 *	lifecycle MODE [ARG]
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void churn(int n)
{
	for (int i = 0; i < n; i++)
		free(malloc((size_t)(16 + i % 2000)));
}

static void said_at_exit(void)
{
	puts("atexit ran");
}

/* main leaves with pthread_exit while a worker still runs: the process ends
 * when the worker does, with status 0, after the atexit handlers. */
static void *late_worker(void *arg)
{
	(void)arg;
	churn(5000);
	usleep(200 * 1000);
	puts("worker done");
	return NULL;
}

static int mode_pthread_exit(void)
{
	pthread_t t;

	atexit(said_at_exit);
	if (pthread_create(&t, NULL, late_worker, NULL) != 0)
		return 90;
	pthread_exit(NULL);
}

static void *exiting_worker(void *arg)
{
	(void)arg;
	churn(3000);
	puts("worker exits");
	exit(3);
}

static int mode_exit_from_thread(void)
{
	pthread_t t;

	atexit(said_at_exit);
	if (pthread_create(&t, NULL, exiting_worker, NULL) != 0)
		return 90;
	for (;;)
		pause();
}

static int report_child(pid_t pid, const char *what)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 91;
	printf("%s: %s %d\n", what, WIFEXITED(status) ? "exit" : "signal",
	       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return 0;
}

static void *forking_worker(void *arg)
{
	pid_t pid;

	(void)arg;
	churn(1000);
	pid = fork();
	if (pid == 0) {
		churn(1000);
		printf("child of a thread\n");
		fflush(stdout);
		_exit(7);
	}
	return (void *)(long)report_child(pid, "forked from a thread");
}

static int mode_fork_from_thread(void)
{
	pthread_t t;
	void *ret;

	if (pthread_create(&t, NULL, forking_worker, NULL) != 0 || pthread_join(t, &ret) != 0)
		return 90;
	return (int)(long)ret;
}

/* daemon(): the parent exits at once; the daemon writes the file it is given. */
static int mode_daemon(const char *path)
{
	FILE *f;

	fflush(stdout);
	if (daemon(1, 1) != 0)
		return 92;
	churn(1000);
	f = fopen(path, "w");
	if (!f)
		return 93;
	fprintf(f, "daemon ran\n");
	return fclose(f) == 0 ? 0 : 94;
}

static void *exec_worker(void *arg)
{
	char *argv[] = {"/bin/echo", "exec from a thread", NULL};

	(void)arg;
	churn(1000);
	fflush(stdout);
	execv(argv[0], argv);
	return NULL;
}

static int mode_exec_from_thread(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, exec_worker, NULL) != 0)
		return 90;
	for (;;)
		pause();
}

static int mode_spawn(void)
{
	char *spawned[] = {"/bin/echo", "spawned", NULL};
	char *vforked[] = {"/bin/echo", "vforked", NULL};
	pid_t pid;

	fflush(stdout);
	if (posix_spawn(&pid, spawned[0], NULL, NULL, spawned, environ) != 0)
		return 95;
	if (report_child(pid, "posix_spawn"))
		return 96;
	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		execve(vforked[0], vforked, environ);
		_exit(127);
	}
	return report_child(pid, "vfork");
}

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled = 1;
}

/* A handler runs, a blocked signal stays pending, a default action kills. */
static int mode_signals(void)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		return 97;
	churn(2000);
	raise(SIGUSR1);
	printf("handled %d\n", (int)handled);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR2);
	sigpending(&set);
	printf("pending %d\n", sigismember(&set, SIGUSR2));
	fflush(stdout);
	churn(2000);
	raise(SIGTERM); /* default action: the process dies of it */
	return 98;
}

/* Root only: drop to uid/gid ARG like a pre-fork server's worker, allocate,
 * say so, and wait for stdin to close. */
static int mode_drop(const char *arg)
{
	unsigned id = (unsigned)strtoul(arg, NULL, 10);
	char buf[16];

	churn(1000);
	if (setgroups(0, NULL) != 0 || setresgid(id, id, id) != 0 || setresuid(id, id, id) != 0)
		return 99;
	churn(1000);
	printf("dropped %d %d\n", geteuid() == id, getegid() == id);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	churn(1000);
	return 0;
}

/* Root only: act as user ARG for a while (seteuid, as mail and file servers
 * do for a request), say so, wait for a line on stdin, come back, say so, and
 * wait for stdin to close. */
static int mode_impersonate(const char *arg)
{
	unsigned id = (unsigned)strtoul(arg, NULL, 10);
	char buf[16];

	churn(1000);
	if (seteuid(id) != 0)
		return 99;
	churn(1000);
	printf("impersonating %d\n", geteuid() == id);
	fflush(stdout);
	if (read(0, buf, sizeof(buf)) <= 0)
		return 98;
	if (seteuid(0) != 0)
		return 97;
	churn(1000);
	printf("back %d\n", geteuid() == 0);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static int clone_child(void *arg)
{
	(void)arg;
	churn(100);
	return 5;
}

/* clone() with no fork handlers run: the child shares nothing but must not
 * hurt the parent, which goes on counting. */
static int mode_clone(void)
{
	static char stack[256 * 1024] __attribute__((aligned(16)));
	pid_t pid = clone(clone_child, stack + sizeof(stack), SIGCHLD, NULL);

	if (report_child(pid, "clone"))
		return 96;
	churn(1000);
	puts("parent goes on");
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "pthread_exit"))
		return mode_pthread_exit();
	if (!strcmp(mode, "exit_from_thread"))
		return mode_exit_from_thread();
	if (!strcmp(mode, "fork_from_thread"))
		return mode_fork_from_thread();
	if (!strcmp(mode, "daemon"))
		return mode_daemon(arg);
	if (!strcmp(mode, "exec_from_thread"))
		return mode_exec_from_thread();
	if (!strcmp(mode, "spawn"))
		return mode_spawn();
	if (!strcmp(mode, "signals"))
		return mode_signals();
	if (!strcmp(mode, "drop"))
		return mode_drop(arg);
	if (!strcmp(mode, "impersonate"))
		return mode_impersonate(arg);
	if (!strcmp(mode, "clone"))
		return mode_clone();
	fprintf(stderr, "usage: lifecycle MODE [ARG]\n");
	return 2;
}
