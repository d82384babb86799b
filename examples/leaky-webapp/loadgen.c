/* SPDX-License-Identifier: MIT */
/*
 * loadgen: plays users of leaky_webapp. Each user logs in, browses a few pages
 * with think time between them and leaves: most log out, the rest just walk
 * away and leave their session to the idle TTL. Users arrive at a steady rate
 * or along a daily curve compressed into a period; at most --concurrency are
 * active at once (an arrival finding every worker busy is dropped and
 * counted). Loopback targets only. One summary line on stdout at the end.
 *
 * Arrivals are deterministic (a rate integrated over 10 ms ticks) and each
 * user's choices come from a generator seeded by --seed and the user's number,
 * so a run can be replayed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flags.h"

#define EXIT_USAGE 2
#define TICK_NS 10000000L /* arrival resolution: 10 ms */
#define SID_LEN 32
#define RESPONSE_MAX 4096

enum mode { MODE_STEADY, MODE_DAILY };

struct options {
	enum mode mode;
	double rate, min_rate, max_rate, period, duration;
	unsigned concurrency, pages_min, pages_max, think_ms, timeout_ms;
	double walk_away;
	uint64_t seed;
	uint64_t users; /* arrivals in all; 0: no limit */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[64];
};

struct stats {
	atomic_uint_fast64_t users, logged_out, walked_away, failed, dropped;
	atomic_uint_fast64_t requests, errors, latency_ns, latency_max_ns;
};

/* The arrivals waiting for a worker: a ring of user numbers. */
struct queue {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	uint64_t *ring;
	unsigned cap, head, len;
	bool closed;
};

struct loadgen {
	struct options o;
	struct stats s;
	struct queue q;
};

/* 1 after the first stop signal (no new users), 2 after the second (users abandon). */
static volatile sig_atomic_t stop_level;

static void on_signal(int sig)
{
	(void)sig;
	if (stop_level < 2)
		stop_level++;
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: the per-user generator. */
static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rand_unit(uint64_t *state)
{
	return (double)(next_rand(state) >> 11) * 0x1p-53;
}

/* ---- flags ---- */

static const char usage[] =
    "usage: loadgen [FLAGS]\n"
    "Plays users of leaky_webapp: log in, browse with think time, log out or walk away.\n"
    "\n"
    "  --target=URL         http://HOST:PORT, loopback only (http://127.0.0.1:8080)\n"
    "  --mode=MODE          steady or daily (steady)\n"
    "  --rate=R             steady: users arriving per second (5)\n"
    "  --period=SECONDS     daily: length of one compressed day (600)\n"
    "  --min-rate=R         daily: users per second at night (1)\n"
    "  --max-rate=R         daily: users per second at the peak, mid-period (10)\n"
    "  --duration=SECONDS   how long users keep arriving (60); 0: until SIGTERM/SIGINT\n"
    "  --users=N            no user arrives after the Nth (0: no limit): a fixed load\n"
    "  --concurrency=N      users active at once at most (64)\n"
    "  --pages-min=N        pages per user, at least (2)\n"
    "  --pages-max=N        pages per user, at most (6)\n"
    "  --think-ms=MS        mean think time before each page and the logout (300)\n"
    "  --walk-away=F        share of users who leave without logging out (0.2)\n"
    "  --timeout-ms=MS      per-request timeout (5000)\n"
    "  --seed=N             seed of the users' choices (1)\n"
    "  --help               this text\n"
    "\n"
    "After the duration (or the first SIGTERM/SIGINT) no user arrives and the active\n"
    "ones finish; a second signal makes them walk away at once. Prints one summary\n"
    "line. Exit 0; 1 if no request succeeded; 2 for bad flags.\n";

static const struct option longopts[] = {
    {"target", required_argument, NULL, 't'},
    {"mode", required_argument, NULL, 'm'},
    {"rate", required_argument, NULL, 'r'},
    {"period", required_argument, NULL, 'P'},
    {"min-rate", required_argument, NULL, 'a'},
    {"max-rate", required_argument, NULL, 'b'},
    {"duration", required_argument, NULL, 'd'},
    {"concurrency", required_argument, NULL, 'c'},
    {"pages-min", required_argument, NULL, 'p'},
    {"pages-max", required_argument, NULL, 'q'},
    {"think-ms", required_argument, NULL, 'k'},
    {"walk-away", required_argument, NULL, 'w'},
    {"timeout-ms", required_argument, NULL, 'o'},
    {"seed", required_argument, NULL, 's'},
    {"users", required_argument, NULL, 'u'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_uint(const char *flag, const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;
	int err = flag_u64(flag, s, min, max, &v);

	if (err == 0)
		*out = (unsigned)v;
	return err;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

/* Splits http://HOST:PORT[/] into host (brackets of [IPv6] removed) and port. */
static int split_url(const char *url, char *host, size_t hostlen, unsigned *port)
{
	const char *p = url, *end;
	char portbuf[8];
	size_t n;

	if (strncmp(p, "http://", 7) != 0)
		return flag_bad("target", url, "must start with http://");
	p += 7;
	if (*p == '[') {
		end = strstr(++p, "]:");
		n = end ? (size_t)(end - p) : 0;
		end = end ? end + 1 : NULL;
	} else {
		end = strrchr(p, ':');
		n = end ? (size_t)(end - p) : 0;
	}
	if (!end || n == 0 || n >= hostlen)
		return flag_bad("target", url, "needs HOST:PORT");
	memcpy(host, p, n);
	host[n] = '\0';
	p = end + 1;
	n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(portbuf) || (p[n] && strcmp(p + n, "/") != 0))
		return flag_bad("target", url, "bad port");
	memcpy(portbuf, p, n);
	portbuf[n] = '\0';
	return parse_uint("target", portbuf, 1, 65535, port);
}

/* The target: an address literal or localhost, on loopback. */
static int parse_target(struct options *o, const char *url)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&o->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->addr;
	char host[48];
	unsigned port = 0;

	if (split_url(url, host, sizeof(host), &port) < 0)
		return -EINVAL;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(&o->addr, 0, sizeof(o->addr));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		o->addr_len = sizeof(*in4);
		snprintf(o->host, sizeof(o->host), "%s:%u", host, port);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		o->addr_len = sizeof(*in6);
		snprintf(o->host, sizeof(o->host), "[%s]:%u", host, port);
	} else {
		return flag_bad("target", url, "host must be an address literal or localhost");
	}
	if (!is_loopback(&o->addr))
		return flag_bad("target", url, "loopback targets only");
	return 0;
}

static int apply(struct options *o, int opt, const char *arg)
{
	switch (opt) {
	case 't':
		return parse_target(o, arg);
	case 'm':
		if (strcmp(arg, "steady") == 0)
			o->mode = MODE_STEADY;
		else if (strcmp(arg, "daily") == 0)
			o->mode = MODE_DAILY;
		else
			return flag_bad("mode", arg, "steady or daily");
		return 0;
	case 'r':
		return flag_double("rate", arg, 0.0, 10000.0, &o->rate);
	case 'P':
		return flag_double("period", arg, 1.0, 86400.0 * 7, &o->period);
	case 'a':
		return flag_double("min-rate", arg, 0.0, 10000.0, &o->min_rate);
	case 'b':
		return flag_double("max-rate", arg, 0.0, 10000.0, &o->max_rate);
	case 'd':
		return flag_double("duration", arg, 0.0, 86400.0 * 365, &o->duration);
	case 'c':
		return parse_uint("concurrency", arg, 1, 4096, &o->concurrency);
	case 'p':
		return parse_uint("pages-min", arg, 0, 1000, &o->pages_min);
	case 'q':
		return parse_uint("pages-max", arg, 0, 1000, &o->pages_max);
	case 'k':
		return parse_uint("think-ms", arg, 0, 3600000, &o->think_ms);
	case 'w':
		return flag_double("walk-away", arg, 0.0, 1.0, &o->walk_away);
	case 'o':
		return parse_uint("timeout-ms", arg, 1, 3600000, &o->timeout_ms);
	case 's':
		return flag_u64("seed", arg, 0, UINT64_MAX, &o->seed);
	case 'u':
		return flag_u64("users", arg, 0, UINT64_MAX, &o->users);
	default:
		return -EINVAL;
	}
}

/* Returns 0, 1 after --help, or -EINVAL after saying why. */
static int parse_args(int argc, char **argv, struct options *o)
{
	int opt, err;

	*o = (struct options){.mode = MODE_STEADY,
			      .rate = 5,
			      .min_rate = 1,
			      .max_rate = 10,
			      .period = 600,
			      .duration = 60,
			      .concurrency = 64,
			      .pages_min = 2,
			      .pages_max = 6,
			      .think_ms = 300,
			      .timeout_ms = 5000,
			      .walk_away = 0.2,
			      .seed = 1};
	if (parse_target(o, "http://127.0.0.1:8080") < 0)
		return -EINVAL;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return 1;
		}
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "loadgen: unknown flag or missing value: %s\ntry --help\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		err = apply(o, opt, optarg);
		if (err < 0)
			return err;
	}
	if (optind < argc) {
		fprintf(stderr, "loadgen: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	if (o->pages_min > o->pages_max) {
		fprintf(stderr, "loadgen: --pages-min must not exceed --pages-max\n");
		return -EINVAL;
	}
	if (o->min_rate > o->max_rate) {
		fprintf(stderr, "loadgen: --min-rate must not exceed --max-rate\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- one HTTP request ---- */

static int connect_target(const struct options *o)
{
	struct timeval tv = {.tv_sec = o->timeout_ms / 1000,
			     .tv_usec = (suseconds_t)(o->timeout_ms % 1000) * 1000};
	int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the response to EOF (Connection: close); keeps the first RESPONSE_MAX - 1 bytes. */
static int read_response(int fd, char *buf)
{
	char sink[4096];
	size_t used = 0;
	ssize_t n;

	for (;;) {
		if (used < RESPONSE_MAX - 1)
			n = recv(fd, buf + used, RESPONSE_MAX - 1 - used, 0);
		else
			n = recv(fd, sink, sizeof(sink), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (used < RESPONSE_MAX - 1)
			used += (size_t)n;
	}
	buf[used] = '\0';
	return 0;
}

/* The sid of a Set-Cookie header in the response head, into sid_out. */
static void find_cookie(const char *resp, char *sid_out)
{
	const char *end = strstr(resp, "\r\n\r\n");
	const char *p = resp;
	static const char name[] = "\r\nset-cookie: sid=";

	for (; (p = strchr(p, '\r')) && (!end || p < end); p++) {
		if (strncasecmp(p, name, sizeof(name) - 1) == 0 &&
		    strspn(p + sizeof(name) - 1, "0123456789abcdef") == SID_LEN) {
			memcpy(sid_out, p + sizeof(name) - 1, SID_LEN);
			sid_out[SID_LEN] = '\0';
			return;
		}
	}
}

/*
 * One request on its own connection. Returns the HTTP status, or a negative
 * errno when there was no valid answer. sid_out, if not NULL, receives the
 * session cookie the response set (left alone when there is none).
 */
static int http_call(struct loadgen *lg, const char *method, const char *path, const char *sid,
		     char *sid_out)
{
	char req[256], resp[RESPONSE_MAX];
	double start = now_mono(), took;
	int fd, err, status = -EPROTO;
	uint_fast64_t ns, max;

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: 0\r\n"
		 "%s%s%s\r\n",
		 method, path, lg->o.host, sid ? "Cookie: sid=" : "", sid ? sid : "",
		 sid ? "\r\n" : "");
	fd = connect_target(&lg->o);
	if (fd < 0)
		return fd;
	err = send_all(fd, req, strlen(req));
	if (!err)
		err = read_response(fd, resp);
	close(fd);
	if (err)
		return err;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -EPROTO;
	if (sid_out)
		find_cookie(resp, sid_out);
	took = now_mono() - start;
	ns = (uint_fast64_t)(took * 1e9);
	atomic_fetch_add(&lg->s.requests, 1);
	atomic_fetch_add(&lg->s.latency_ns, ns);
	max = atomic_load(&lg->s.latency_max_ns);
	while (ns > max && !atomic_compare_exchange_weak(&lg->s.latency_max_ns, &max, ns))
		;
	return status;
}

/* A request that must answer 200; counts an error otherwise. */
static bool expect_ok(struct loadgen *lg, const char *method, const char *path, const char *sid,
		      char *sid_out)
{
	int status = http_call(lg, method, path, sid, sid_out);

	if (status == 200)
		return true;
	if (status < 0) /* no answer: not counted in requests yet */
		atomic_fetch_add(&lg->s.requests, 1);
	atomic_fetch_add(&lg->s.errors, 1);
	return false;
}

/* ---- users ---- */

/* Sleeps up to twice the mean think time; false when users must abandon. */
static bool think(const struct options *o, uint64_t *rng)
{
	double secs = rand_unit(rng) * 2.0 * o->think_ms / 1000.0;
	struct timespec ts = {.tv_sec = (time_t)secs,
			      .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};

	if (stop_level >= 2)
		return false;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		if (stop_level >= 2)
			return false;
	return true;
}

static void play_user(struct loadgen *lg, uint64_t number)
{
	const struct options *o = &lg->o;
	uint64_t rng = lg->o.seed ^ (number * 0xd1b54a32d192ed03ull);
	unsigned pages, i;
	char sid[SID_LEN + 1] = "", path[64];

	pages = o->pages_min + (unsigned)(next_rand(&rng) % (o->pages_max - o->pages_min + 1u));
	atomic_fetch_add(&lg->s.users, 1);
	snprintf(path, sizeof(path), "/login?user=user%" PRIu64, number);
	if (!expect_ok(lg, "POST", path, NULL, sid) || !sid[0])
		goto failed;
	for (i = 0; i < pages; i++) {
		if (!think(o, &rng))
			goto walked_away;
		if (!expect_ok(lg, "GET", "/page", sid, NULL))
			goto failed;
	}
	if (rand_unit(&rng) < o->walk_away || !think(o, &rng))
		goto walked_away;
	if (!expect_ok(lg, "POST", "/logout", sid, NULL))
		goto failed;
	atomic_fetch_add(&lg->s.logged_out, 1);
	return;
walked_away:
	atomic_fetch_add(&lg->s.walked_away, 1);
	return;
failed:
	atomic_fetch_add(&lg->s.failed, 1);
}

/* ---- arrivals and workers ---- */

static int queue_init(struct queue *q, unsigned cap)
{
	int err;

	*q = (struct queue){.cap = cap};
	q->ring = calloc(cap, sizeof(*q->ring));
	if (!q->ring)
		return -ENOMEM;
	err = pthread_mutex_init(&q->lock, NULL);
	if (!err) {
		err = pthread_cond_init(&q->ready, NULL);
		if (err)
			pthread_mutex_destroy(&q->lock);
	}
	if (err) {
		free(q->ring);
		return -err;
	}
	return 0;
}

static void queue_destroy(struct queue *q)
{
	pthread_cond_destroy(&q->ready);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
}

/* False when the queue is full: the arrival is dropped. */
static bool queue_push(struct queue *q, uint64_t user)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->len < q->cap;
	if (ok) {
		q->ring[(q->head + q->len++) % q->cap] = user;
		pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/* False once the queue is closed and empty. */
static bool queue_pop(struct queue *q, uint64_t *user)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	while (!q->len && !q->closed)
		pthread_cond_wait(&q->ready, &q->lock);
	ok = q->len > 0;
	if (ok) {
		*user = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->ready);
	pthread_mutex_unlock(&q->lock);
}

static void *worker_main(void *arg)
{
	struct loadgen *lg = arg;
	uint64_t user;

	while (queue_pop(&lg->q, &user))
		play_user(lg, user);
	return NULL;
}

/* Users per second at t seconds into the run. */
static double rate_at(const struct options *o, double t)
{
	if (o->mode == MODE_STEADY)
		return o->rate;
	/* Night at t = 0, the peak half a period later: a raised cosine. */
	return o->min_rate +
	       (o->max_rate - o->min_rate) * (1.0 - cos(2.0 * M_PI * t / o->period)) / 2.0;
}

/*
 * Integrates the rate over 10 ms ticks; one user per whole unit of credit. Time
 * is the tick count, not the clock, so a late wake-up delays arrivals but does
 * not lose them; the absolute sleeps catch up.
 */
static void run_arrivals(struct loadgen *lg)
{
	struct timespec next;
	double credit = 0.0, t;
	uint64_t number = 0, tick;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (tick = 0; !stop_level; tick++) {
		t = (double)tick * TICK_NS / 1e9;
		if ((lg->o.duration > 0 && t >= lg->o.duration) ||
		    (lg->o.users && number >= lg->o.users))
			break;
		credit += rate_at(&lg->o, t) * TICK_NS / 1e9;
		/* The epsilon absorbs rounding: 10 users/s for 1 s are 10 users, not 9. */
		for (; credit >= 1.0 - 1e-9 && (!lg->o.users || number < lg->o.users);
		     credit -= 1.0)
			if (!queue_push(&lg->q, number++))
				atomic_fetch_add(&lg->s.dropped, 1);
		next.tv_nsec += TICK_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		/* A signal interrupts the sleep (no SA_RESTART): the loop looks at stop_level. */
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}

static int install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* Starts the workers with the stop signals blocked, so the main thread takes them. */
static int start_workers(struct loadgen *lg, pthread_t *tids, unsigned *started)
{
	sigset_t block, old;
	int err = 0;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (*started = 0; *started < lg->o.concurrency; (*started)++) {
		err = pthread_create(&tids[*started], NULL, worker_main, lg);
		if (err)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

static void print_summary(struct loadgen *lg, double secs)
{
	struct stats *s = &lg->s;
	uint64_t requests = atomic_load(&s->requests);

	printf("loadgen mode=%s seconds=%.2f users=%" PRIu64 " logged_out=%" PRIu64
	       " walked_away=%" PRIu64 " failed=%" PRIu64 " dropped=%" PRIu64 " requests=%" PRIu64
	       " errors=%" PRIu64 " requests_per_second=%.1f"
	       " latency_avg_ms=%.2f latency_max_ms=%.2f\n",
	       lg->o.mode == MODE_STEADY ? "steady" : "daily", secs,
	       (uint64_t)atomic_load(&s->users), (uint64_t)atomic_load(&s->logged_out),
	       (uint64_t)atomic_load(&s->walked_away), (uint64_t)atomic_load(&s->failed),
	       (uint64_t)atomic_load(&s->dropped), requests, (uint64_t)atomic_load(&s->errors),
	       secs > 0 ? (double)requests / secs : 0.0,
	       requests ? (double)atomic_load(&s->latency_ns) / (double)requests / 1e6 : 0.0,
	       (double)atomic_load(&s->latency_max_ns) / 1e6);
	fflush(stdout);
}

static int run(struct loadgen *lg)
{
	pthread_t *tids = calloc(lg->o.concurrency, sizeof(*tids));
	double start = now_mono();
	unsigned started = 0, i;
	int err;

	if (!tids)
		return -ENOMEM;
	err = queue_init(&lg->q, lg->o.concurrency);
	if (err)
		goto out_free;
	err = start_workers(lg, tids, &started);
	if (!err)
		run_arrivals(lg);
	queue_close(&lg->q);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	print_summary(lg, now_mono() - start);
	queue_destroy(&lg->q);
out_free:
	free(tids);
	return err;
}

int main(int argc, char **argv)
{
	static struct loadgen lg;
	uint64_t errors, requests;
	int err;

	err = parse_args(argc, argv, &lg.o);
	if (err)
		return err > 0 ? 0 : EXIT_USAGE;
	err = install_signals();
	if (!err)
		err = run(&lg);
	if (err) {
		fprintf(stderr, "loadgen: %s\n", strerror(-err));
		return 1;
	}
	errors = atomic_load(&lg.s.errors);
	requests = atomic_load(&lg.s.requests);
	if (requests && errors == requests) {
		fprintf(stderr, "loadgen: no request succeeded\n");
		return 1;
	}
	return 0;
}
