/* SPDX-License-Identifier: MIT */
/*
 * The processes memtide-check starts: the server (its own process group,
 * libmemtide preloaded, its output through a pipe that is watched for the
 * ready line and forwarded) and one load command per cycle (sh -c, its own
 * process group, bounded by --load-timeout). Every wait goes through
 * check_runner_pause(), which forwards the server's output and notices a
 * signal to memtide-check, so no wait can outlive an interrupt. Stopping is
 * SIGTERM to the group, --kill-grace, then SIGKILL; every child is reaped
 * (memtide-check is a subreaper, so the server's orphans come back to it).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define LINE_MAX_BYTES 4096
#define PORT_MAX 64

struct check_runner {
	const struct check_options *o;
	pid_t server; /* also its process group; 0 when none */
	int server_status;
	bool server_gone;
	int out_fd; /* the server's stdout and stderr; -1 when none */
	int log_fd; /* where they are forwarded */
	bool own_log;
	regex_t ready_re;
	bool have_re, ready_seen;
	char port[PORT_MAX];
	char line[LINE_MAX_BYTES];
	size_t line_len;
	char off_reason[32]; /* why the agent is off, for the message */
	char end_text[32];   /* how the server ended, for the message */
};

static volatile sig_atomic_t interrupted;
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;

	interrupted = sig;
	if (signal_pipe[1] >= 0 && write(signal_pipe[1], "x", 1) < 0) {
		/* full: a wake-up is already pending */
	}
	errno = saved;
}

int check_signals_install(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	const int sigs[] = {SIGINT, SIGTERM, SIGHUP};

	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	/* A load command that closes its pipe early must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

bool check_interrupted(void)
{
	return interrupted != 0;
}

double check_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int check_runner_new(struct check_runner **out, const struct check_options *o)
{
	struct check_runner *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->o = o;
	r->out_fd = -1;
	r->log_fd = STDERR_FILENO;
	if (o->ready_line) {
		err = regcomp(&r->ready_re, o->ready_line, REG_EXTENDED);
		if (err) {
			char why[256];

			regerror(err, &r->ready_re, why, sizeof(why));
			fprintf(stderr, "memtide-check: --ready-line=%s: %s\n", o->ready_line, why);
			free(r);
			return CHECK_ERROR;
		}
		r->have_re = true;
	}
	/* Orphans of the server come back to us, to be reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "memtide-check: cannot become a subreaper: %s\n", strerror(errno));
	*out = r;
	return 0;
}

/* A line of server output: matched against --ready-line until it matched. */
static void server_line(struct check_runner *r)
{
	regmatch_t m[2];

	r->line[r->line_len] = '\0';
	if (!r->have_re || r->ready_seen || regexec(&r->ready_re, r->line, 2, m, 0) != 0)
		return;
	r->ready_seen = true;
	if (m[1].rm_so >= 0 && m[1].rm_eo - m[1].rm_so < PORT_MAX)
		snprintf(r->port, sizeof(r->port), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
			 r->line + m[1].rm_so);
}

/* Forwards what the server wrote; closes the pipe at its end. */
static void drain_server(struct check_runner *r)
{
	char buf[4096];
	ssize_t n;

	for (int rounds = 0; r->out_fd >= 0 && rounds < 64; rounds++) {
		n = read(r->out_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			close(r->out_fd);
			r->out_fd = -1;
			return;
		}
		if (write(r->log_fd, buf, (size_t)n) < 0) {
			/* the log is lost, the check goes on */
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				server_line(r);
				r->line_len = 0;
			} else if (r->line_len < sizeof(r->line) - 1) {
				r->line[r->line_len++] = buf[i];
			}
		}
	}
}

/* Whether the server (group leader) exited; it is left unreaped (a zombie
 * keeps its pid and process group from being reused) until stop. */
static bool server_exited(struct check_runner *r)
{
	siginfo_t si = {0};

	if (!r->server || r->server_gone)
		return r->server_gone;
	if (waitid(P_PID, (id_t)r->server, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == r->server) {
		r->server_gone = true;
		r->server_status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	}
	return r->server_gone;
}

/* "status 3" or "signal 9", for messages. */
static const char *server_end(struct check_runner *r)
{
	snprintf(r->end_text, sizeof(r->end_text), "%s %d",
		 r->server_status >= 128 ? "signal" : "status",
		 r->server_status >= 128 ? r->server_status - 128 : r->server_status);
	return r->end_text;
}

bool check_runner_server_alive(struct check_runner *r)
{
	if (r->o->attach_pid)
		return kill(r->o->attach_pid, 0) == 0 || errno == EPERM;
	return !server_exited(r);
}

int check_runner_pause(struct check_runner *r, double seconds)
{
	double end = check_now() + seconds;

	for (;;) {
		struct pollfd fds[2] = {{.fd = signal_pipe[0], .events = POLLIN},
					{.fd = r->out_fd, .events = POLLIN}};
		double left = end - check_now();
		char sink[64];

		if (interrupted)
			return -EINTR;
		if (left <= 0)
			return 0;
		if (poll(fds, r->out_fd >= 0 ? 2 : 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			return -errno;
		if (fds[0].revents && read(signal_pipe[0], sink, sizeof(sink)) < 0) {
			/* empty: the flag says it all */
		}
		if (r->out_fd >= 0 && fds[1].revents)
			drain_server(r);
	}
}

/* In the child: where the server's output goes, its environment. */
static void server_child(const struct check_options *o, const char *dir, const char *agent, int out,
			 int status_fd)
{
	const char *old = getenv("LD_PRELOAD");
	char preload[8192], sample[32];
	int devnull = open("/dev/null", O_RDONLY);
	int err;

	setpgid(0, 0);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0)
		goto fail;
	/* Ours first: the first preloaded malloc is the one every library binds. */
	snprintf(preload, sizeof(preload), "%s%s%s", agent, old && *old ? ":" : "",
		 old && *old ? old : "");
	snprintf(sample, sizeof(sample), "%llu", (unsigned long long)o->sample_bytes);
	if (setenv("LD_PRELOAD", preload, 1) < 0 || setenv("MEMTIDE_DIR", dir, 1) < 0 ||
	    setenv("MEMTIDE_SAMPLE_BYTES", sample, 1) < 0)
		goto fail;
	signal(SIGPIPE, SIG_DFL);
	execvp(o->server_argv[0], o->server_argv);
fail:
	err = errno;
	if (write(status_fd, &err, sizeof(err)) < 0) {
		/* the parent sees an exit without a message */
	}
	_exit(127);
}

/* The exec's outcome, through a close-on-exec pipe: 0 (it ran) or the errno. */
static int exec_outcome(int status_fd)
{
	int err = 0;
	ssize_t n;

	do
		n = read(status_fd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(status_fd);
	return n == sizeof(err) ? err : 0;
}

static int open_log(struct check_runner *r)
{
	if (!r->o->server_log)
		return 0;
	r->log_fd = open(r->o->server_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (r->log_fd < 0) {
		fprintf(stderr, "memtide-check: --server-log=%s: %s\n", r->o->server_log,
			strerror(errno));
		r->log_fd = STDERR_FILENO;
		return CHECK_ERROR;
	}
	r->own_log = true;
	return 0;
}

int check_runner_start_server(struct check_runner *r, const char *dir, const char *agent)
{
	int out[2], status[2], err;
	pid_t pid;

	if (open_log(r))
		return CHECK_ERROR;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		fprintf(stderr, "memtide-check: pipe: %s\n", strerror(errno));
		return CHECK_ERROR;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "memtide-check: fork: %s\n", strerror(errno));
		return CHECK_ERROR;
	}
	if (pid == 0)
		server_child(r->o, dir, agent, out[1], status[1]);
	/* Both sides set the group: whichever runs first, no signal misses it. */
	setpgid(pid, pid);
	r->server = pid;
	close(out[1]);
	close(status[1]);
	r->out_fd = out[0];
	if (fcntl(r->out_fd, F_SETFL, O_NONBLOCK) < 0)
		return CHECK_ERROR;
	err = exec_outcome(status[0]);
	if (err) {
		fprintf(stderr, "memtide-check: cannot run the server %s: %s\n",
			r->o->server_argv[0], strerror(err));
		return CHECK_ERROR;
	}
	return 0;
}

static bool port_accepts(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Says why the server is not ready yet, or NULL once it is. */
static const char *not_ready(struct check_runner *r, struct check_probe *probe, int *agent_off)
{
	struct check_reading rd;

	if (check_probe_read(probe, &rd, false) != 0)
		return "no agent segment appeared";
	if (rd.agent_off && rd.agent_off == rd.processes) {
		*agent_off = 1;
		snprintf(r->off_reason, sizeof(r->off_reason), "%s",
			 rd.off_reason[0] ? rd.off_reason : "off");
		return r->off_reason;
	}
	if (r->have_re && !r->ready_seen)
		return "the ready line was not printed";
	if (r->o->ready_port && !port_accepts(r->o->ready_port))
		return "the ready port does not accept connections";
	return NULL;
}

int check_runner_wait_ready(struct check_runner *r, struct check_probe *probe, double seconds)
{
	double end = check_now() + seconds;
	const char *why;
	int off = 0;

	for (;;) {
		if (r->out_fd >= 0)
			drain_server(r);
		/* First: a server that exited is not ready, whatever its segment said. */
		if (!check_runner_server_alive(r)) {
			fprintf(stderr,
				"memtide-check: the server exited before it was ready (%s)\n",
				server_end(r));
			return CHECK_ERROR;
		}
		why = not_ready(r, probe, &off);
		if (!why)
			return 0;
		if (off) {
			fprintf(stderr,
				"memtide-check: the agent is off in the server (%s): it counts "
				"only glibc's malloc\n",
				why);
			return CHECK_ERROR;
		}
		if (check_now() >= end)
			break;
		if (check_runner_pause(r, 0.05) < 0)
			return CHECK_ERROR;
	}
	fprintf(stderr, "memtide-check: the server was not ready after %g s: %s%s\n", seconds, why,
		strcmp(why, "no agent segment appeared") == 0
		    ? " (is it dynamically linked with glibc, and can the agent be preloaded?)"
		    : "");
	return CHECK_ERROR;
}

static void load_child(const struct check_runner *r, const char *label)
{
	int devnull = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	/* stdout is the report's: the load's chatter goes to stderr. */
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
	    dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		_exit(126);
	if (setenv("MEMTIDE_CHECK_CYCLE", label, 1) < 0 ||
	    (r->port[0] && setenv("MEMTIDE_CHECK_PORT", r->port, 1) < 0))
		_exit(126);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/sh", "sh", "-c", r->o->load, (char *)NULL);
	_exit(127);
}

/* Stops a process group whose leader is pid: SIGTERM, grace, SIGKILL, reap. */
static int stop_group(struct check_runner *r, pid_t pid, double grace)
{
	siginfo_t si = {0};
	int status = 0;
	double end;

	if (kill(-pid, SIGTERM) < 0 && errno != ESRCH)
		kill(pid, SIGTERM);
	for (end = check_now() + grace; check_now() < end;) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
			break;
		/* Not check_runner_pause: this also runs after an interrupt. */
		if (r->out_fd >= 0)
			drain_server(r);
		usleep(20000);
	}
	/* The leader's zombie still holds the group's id: no other group can have it. */
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* Waits for the load of one cycle; its exit status, or -ETIMEDOUT/-EINTR/-ECHILD. */
static int wait_load(struct check_runner *r, pid_t pid)
{
	double end = check_now() + r->o->load_timeout;
	siginfo_t si;

	for (;;) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
			/* Background jobs of the load die with it: cycles must not overlap. */
			kill(-pid, SIGKILL);
			int status = 0;

			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return status;
		}
		if (!check_runner_server_alive(r))
			return -ECHILD;
		if (check_now() >= end)
			return -ETIMEDOUT;
		if (check_runner_pause(r, 0.02) < 0)
			return -EINTR;
	}
}

static int load_failed(struct check_runner *r, const char *label, int status)
{
	if (status == -EINTR)
		return CHECK_ERROR; /* said once, by main */
	if (status == -ETIMEDOUT)
		fprintf(stderr,
			"memtide-check: the load command did not finish in %g s (cycle %s)\n",
			r->o->load_timeout, label);
	else if (status == -ECHILD)
		fprintf(stderr, "memtide-check: the server exited during the load (%s; cycle %s)\n",
			server_end(r), label);
	else if (WIFSIGNALED(status))
		fprintf(stderr,
			"memtide-check: the load command was killed by signal %d (cycle %s)\n",
			WTERMSIG(status), label);
	else
		fprintf(stderr,
			"memtide-check: the load command failed with status %d (cycle %s): %s\n",
			WEXITSTATUS(status), label, r->o->load);
	return CHECK_ERROR;
}

int check_runner_load(struct check_runner *r, const char *label)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "memtide-check: fork: %s\n", strerror(errno));
		return CHECK_ERROR;
	}
	if (pid == 0)
		load_child(r, label);
	setpgid(pid, pid);
	status = wait_load(r, pid);
	if (status < 0 && status != -ECHILD) {
		stop_group(r, pid, r->o->kill_grace);
		return load_failed(r, label, status);
	}
	if (status == -ECHILD)
		stop_group(r, pid, 0);
	if (status != 0)
		return load_failed(r, label, status);
	return 0;
}

/* Reaps whatever else came back to us (orphans of the server), bounded. */
static void reap_orphans(void)
{
	for (int i = 0; i < 4096; i++)
		if (waitpid(-1, NULL, WNOHANG) <= 0)
			return;
}

void check_runner_stop(struct check_runner *r)
{
	if (r->server) {
		stop_group(r, r->server, r->o->kill_grace);
		r->server = 0;
	}
	reap_orphans();
	if (r->out_fd >= 0) {
		drain_server(r);
		close(r->out_fd);
		r->out_fd = -1;
	}
}

void check_runner_free(struct check_runner *r)
{
	if (!r)
		return;
	check_runner_stop(r);
	if (r->have_re)
		regfree(&r->ready_re);
	if (r->own_log)
		close(r->log_fd);
	free(r);
}
