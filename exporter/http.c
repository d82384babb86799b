/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "basic_auth.h"
#include "http_pprof.h"
#include "conn_guard.h"
#include "dynbuf.h"
#include "expo.h"
#include "http_tls.h"
#include "log.h"
#include "memory_policy.h"
#include "negotiate.h"
#include "runtime.h"
#include "scrape.h"
#include "webconfig.h"

#define DEFAULT_SCRAPE_TIMEOUT 10.0 /* Prometheus' default, when the header is absent */
#define MAX_SCRAPE_TIMEOUT 300.0
/* Connections (each a thread) libmicrohttpd accepts; past CONNECTION_KEEP the
 * guard closes the idle one that waited longest, so a newcomer always gets in
 * and the rest is headroom for connections being closed (conn_guard.h). */
#define CONNECTION_LIMIT 384
#define CONNECTION_KEEP 256
/* One client address may hold at most a quarter of the connections: a client
 * that opens connections and trickles bytes into them (a timeout only counts
 * silence) cannot take every thread from the Prometheus servers. */
#define PER_ADDRESS_CONNECTION_LIMIT 64
#define THREAD_STACK_SIZE (512u << 10)
/* The landing page: two paths of up to PATH_MAX, six times longer escaped,
 * and a line per collector. */
#define LANDING_PAGE_MAX (64u << 10)

/*
 * One libmicrohttpd daemon serving the server's socket with one web config.
 * A reload starts a new listener on the same socket; the old one stops
 * accepting, answers what its connections ask with "Connection: close" (so
 * that clients move to the new one between requests, never in the middle of
 * one), and is stopped once its last connection is gone. TLS settings and
 * users change without a refused, dropped or cut connection.
 */
struct listener {
	struct http_server *srv;
	struct web_config *web;	 /* NULL: plain HTTP, no authentication */
	struct basic_auth *auth; /* NULL: no users */
	struct MHD_Daemon *daemon;
	struct conn_guard *guard; /* its connections, for evicting slow ones */
	int draining;		  /* atomic: replaced by a reload, closing its connections */
};

struct http_server {
	struct http_options opts;
	char address[128]; /* as bound, for messages */
	int fd;
	struct listener *current;
	unsigned in_flight;	    /* atomic: scrapes being answered now */
	pthread_mutex_t drain_lock; /* drainers and stopping */
	pthread_cond_t drained;	    /* signalled as each drainer ends */
	unsigned drainers;	    /* old listeners still closing their connections */
	bool stopping;		    /* http_stop: drainers stop waiting */
};

/* Every response leaves through here: the web config's headers go on all of them. */
static enum MHD_Result queue(const struct listener *l, struct MHD_Connection *c, unsigned status,
			     struct MHD_Response *r)
{
	enum MHD_Result ret;

	for (size_t i = 0; l->web && i < l->web->n_headers; i++)
		MHD_add_response_header(r, l->web->headers[i].name, l->web->headers[i].value);
	if (__atomic_load_n(&l->draining, __ATOMIC_ACQUIRE))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond(const struct listener *l, struct MHD_Connection *c, unsigned status,
			       const char *type, char *body, size_t len, bool must_free)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(
	    len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"memtide_exporter\"");
	return queue(l, c, status, r);
}

static enum MHD_Result respond_text(const struct listener *l, struct MHD_Connection *c,
				    unsigned status, const char *text)
{
	return respond(l, c, status, "text/plain; charset=utf-8", (char *)text, strlen(text),
		       false);
}

/*
 * The time a scrape may take: what Prometheus announces, less a margin to
 * send the answer (a tenth, at most half a second).
 */
static double scrape_timeout(struct MHD_Connection *c)
{
	const char *h =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Prometheus-Scrape-Timeout-Seconds");
	double t = DEFAULT_SCRAPE_TIMEOUT;
	char *end;

	if (h) {
		double v = strtod(h, &end);

		if (end != h && isfinite(v) && v > 0)
			t = v < MAX_SCRAPE_TIMEOUT ? v : MAX_SCRAPE_TIMEOUT;
	}
	return t - fmin(0.5, t / 10);
}

static enum MHD_Result serve_metrics(const struct listener *l, struct MHD_Connection *c)
{
	enum expo_format fmt = l->srv->opts.openmetrics
				   ? negotiate_format(MHD_lookup_connection_value(
					 c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT))
				   : EXPO_TEXT_004;
	bool gzip = negotiate_gzip(
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	struct runtime *rt = runtime_current();
	struct MHD_Response *r;
	struct expo *e = NULL;
	char *body;
	size_t len;
	int err;

	if (!rt)
		return respond_text(l, c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n");
	err = scrape_run(rt, scrape_timeout(c), &e);
	runtime_put(rt);
	if (err == 0)
		err = expo_render(e, fmt, gzip, &body, &len);
	expo_free(e);
	if (err) {
		log_error("scrape failed", "err", strerror(-err), NULL);
		return respond_text(l, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "scrape failed\n");
	}
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, expo_content_type(fmt));
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (gzip)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	return queue(l, c, MHD_HTTP_OK, r);
}

/* Bounds concurrent scrapes: past max_requests, 503 at once rather than a pile-up. */
static enum MHD_Result serve_metrics_bounded(const struct listener *l, struct MHD_Connection *c)
{
	struct http_server *srv = l->srv;
	unsigned now = __atomic_add_fetch(&srv->in_flight, 1, __ATOMIC_ACQ_REL);
	enum MHD_Result ret;

	if (srv->opts.max_requests && now > srv->opts.max_requests) {
		log_warn("too many concurrent scrapes; see --web.max-requests", NULL);
		ret = respond_text(l, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "too many concurrent scrapes (--web.max-requests)\n");
	} else {
		ret = serve_metrics(l, c);
	}
	if (__atomic_sub_fetch(&srv->in_flight, 1, __ATOMIC_ACQ_REL) == 0)
		memory_policy_scrapes_idle();
	return ret;
}

/* /debug/pprof/heap (http_pprof.c), behind the same authentication, TLS and
 * bound on concurrent requests as the metrics. */
static enum MHD_Result serve_heap_profile(const struct listener *l, struct MHD_Connection *c)
{
	struct http_server *srv = l->srv;
	unsigned now = __atomic_add_fetch(&srv->in_flight, 1, __ATOMIC_ACQ_REL);
	struct http_pprof_answer a = {0};
	enum MHD_Result ret;

	if (srv->opts.max_requests && now > srv->opts.max_requests) {
		ret = respond_text(l, c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many requests\n");
	} else {
		http_pprof_heap(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pid"),
				MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "group"), &a);
		ret = a.body ? respond(l, c, a.status, a.type, a.body, a.len, a.must_free)
			     : respond_text(l, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "no answer\n");
	}
	__atomic_sub_fetch(&srv->in_flight, 1, __ATOMIC_ACQ_REL);
	return ret;
}

/* Appends HTML-escaped text. */
static int html_escaped(struct dynbuf *page, const char *s)
{
	int err = 0;

	for (; *s && !err; s++) {
		const char *rep = *s == '<'   ? "&lt;"
				  : *s == '>' ? "&gt;"
				  : *s == '&' ? "&amp;"
				  : *s == '"' ? "&quot;"
					      : NULL;

		err = rep ? dynbuf_addstr(page, rep) : dynbuf_add(page, s, 1);
	}
	return err;
}

struct landing {
	struct dynbuf *page;
	int err;
};

static void landing_collector(void *arg, const char *name, const char *help, bool on)
{
	struct landing *p = arg;

	if (!p->err)
		p->err = dynbuf_addf(p->page, "<li><b>%s</b> %s: %s</li>\n", name,
				     on ? "on" : "off", help);
}

/* The page's parts; a failed append has freed the page. */
static int landing_page(const struct http_server *srv, struct runtime *rt, struct dynbuf *page)
{
	const char *path = rt ? runtime_config_path(rt) : NULL;
	int err;

	err = dynbuf_addf(page,
			  "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>memtide "
			  "exporter</title></head>\n<body><h1>memtide exporter</h1>\n<p>Version %s "
			  "(%s). Process memory, allocator statistics and live sessions for "
			  "Prometheus.</p>\n<p><a href=\"",
			  MEMTIDE_VERSION, MEMTIDE_REVISION);
	err = err ?: html_escaped(page, srv->opts.telemetry_path);
	err = err ?: dynbuf_addstr(page, "\">Metrics</a></p>\n<h2>Collectors</h2>\n<ul>\n");
	if (!err && rt) {
		struct landing p = {.page = page};

		runtime_each_collector(rt, landing_collector, &p);
		err = p.err;
	}
	err = err ?: dynbuf_addstr(page, "</ul>\n<h2>Configuration</h2>\n<p>");
	err = err
		  ?: html_escaped(page,
				  path ? path : "no config file: every process, grouped by comm");
	return err ?: dynbuf_addstr(page, "</p>\n</body></html>\n");
}

static enum MHD_Result serve_landing(const struct listener *l, struct MHD_Connection *c)
{
	struct runtime *rt = runtime_current();
	struct dynbuf page;
	char *body;
	size_t len;
	int err;

	dynbuf_init(&page, LANDING_PAGE_MAX);
	err = landing_page(l->srv, rt, &page);
	runtime_put(rt);
	if (err)
		return MHD_NO;
	body = dynbuf_take(&page, &len);
	return respond(l, c, MHD_HTTP_OK, "text/html; charset=utf-8", body, len, true);
}

/* Every path needs the credentials, as exporter-toolkit asks: the landing
 * page names the config file and the collectors. */
static bool authorized(const struct listener *l, struct MHD_Connection *c)
{
	char *password = NULL;
	char *user = MHD_basic_auth_get_username_password(c, &password);
	bool ok = basic_auth_allows(l->auth, user, password);

	if (password) {
		explicit_bzero(password, strlen(password));
		MHD_free(password);
	}
	if (user)
		MHD_free(user);
	if (!ok)
		log_debug("unauthorized request", NULL);
	return ok;
}

static struct conn_slot *slot_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct listener *l = cls;

	(void)version;
	(void)upload_data;
	/* The first call only says the headers are in. Answering then makes
	 * libmicrohttpd close the connection after the answer (it cannot know
	 * the request is complete), so every scrape would cost a connection and
	 * a thread; answering on the next call keeps the connection alive. */
	if (!*con_cls) {
		*con_cls = (void *)l;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is never wanted: drop it */
		return MHD_YES;
	}
	/* A rejected request stays evictable while its answer is padded
	 * (basic_auth.c): only an authorized one is being answered. */
	if (l->auth && !authorized(l, c))
		return respond_text(l, c, MHD_HTTP_UNAUTHORIZED, "Unauthorized\n");
	conn_guard_busy(l->guard, slot_of(c), c, true);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond_text(l, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, l->srv->opts.telemetry_path) == 0)
		return serve_metrics_bounded(l, c);
	if (strcmp(url, "/") == 0)
		return serve_landing(l, c);
	if (strcmp(url, "/-/healthy") == 0)
		return respond_text(l, c, MHD_HTTP_OK, "OK\n");
	if (strcmp(url, HTTP_PPROF_HEAP_PATH) == 0)
		return serve_heap_profile(l, c);
	return respond_text(l, c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Runs on the connection's thread once a request is answered. */
static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	const struct listener *l = cls;

	(void)con_cls;
	(void)code;
	conn_guard_busy(l->guard, slot_of(c), c, false);
	memory_policy_request_done();
}

/* Enters connections into the listener's guard as they open, takes them out as they close. */
static void connection_notify(void *cls, struct MHD_Connection *c, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	const struct listener *l = cls;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		conn_guard_closed(l->guard, *socket_context);
		*socket_context = NULL;
		return;
	}
	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	*socket_context = info ? conn_guard_opened(l->guard, c, info->connect_fd) : NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("http", "detail", msg, NULL);
}

/* Splits "host:port", "[v6]:port" or ":port" into host (empty for any) and port. */
static int split_address(const char *address, char *host, size_t hostlen, char *port,
			 size_t portlen)
{
	const char *colon = strrchr(address, ':');
	const char *h = address;
	size_t hl;

	if (!colon || colon[1] == '\0')
		return -EINVAL;
	hl = (size_t)(colon - address);
	if (hl >= 2 && address[0] == '[' && address[hl - 1] == ']') {
		h++;
		hl -= 2;
	} else if (memchr(address, ':', hl)) {
		return -EINVAL; /* an IPv6 address needs brackets */
	}
	if (hl >= hostlen || strlen(colon + 1) >= portlen)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int bind_one(const struct addrinfo *ai)
{
	int one = 1, zero = 0;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* ":port" binds "::" for both IPv6 and IPv4, as Go's net.Listen does. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int listen_socket(const char *address, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res, *ai;
	char host[256], port[32];
	int rc, fd = -EADDRNOTAVAIL;

	if (split_address(address, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "%s: not host:port, :port or [IPv6]:port", address);
		return -EINVAL;
	}
	hints.ai_family = host[0] ? AF_UNSPEC : AF_INET6;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0 && !host[0]) { /* no IPv6 on this machine: any IPv4 address */
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, port, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", address, gai_strerror(rc));
		return -EINVAL;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = bind_one(ai);
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "%s: %s", address, strerror(-fd));
	return fd;
}

static void format_bound(int fd, char *bound, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(bound, len, "?");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(bound, len, "[%s]:%u", host, port);
		return;
	}
	inet_ntop(AF_INET, &((const struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	port = ntohs(((const struct sockaddr_in *)&ss)->sin_port);
	snprintf(bound, len, "%s:%u", host, port);
}

static void listener_free(struct listener *l)
{
	if (!l)
		return;
	basic_auth_free(l->auth);
	conn_guard_free(l->guard);
	web_config_put(l->web);
	free(l);
}

/* Starts a daemon on the server's socket with web config wc (may be NULL). */
static int listener_start(struct http_server *srv, struct web_config *wc, struct listener **out)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct MHD_OptionItem items[11 + HTTP_TLS_MAX_OPTIONS];
	size_t n = 0, n_tls;

	if (!l)
		return -ENOMEM;
	l->srv = srv;
	l->web = web_config_get(wc);
	if (wc && wc->n_users && !(l->auth = basic_auth_new(wc))) {
		listener_free(l);
		return -ENOMEM;
	}
	l->guard = conn_guard_new(CONNECTION_LIMIT, CONNECTION_KEEP);
	if (!l->guard) {
		listener_free(l);
		return -ENOMEM;
	}
	/* The logger first, or libmicrohttpd prints what comes before it itself. */
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, srv->fd, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					     PER_ADDRESS_CONNECTION_LIMIT, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
					     srv->opts.connection_timeout, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK_SIZE, NULL};
	items[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, l};
	items[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connection_notify, l};
	n_tls = http_tls_options(wc, items + n);
	n += n_tls;
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	/* MHD_USE_ITC lets a reload quiesce this daemon and hand its socket on. */
	l->daemon =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				 MHD_USE_ITC | MHD_USE_ERROR_LOG | (n_tls ? MHD_USE_TLS : 0),
			     0, NULL, NULL, handle, l, MHD_OPTION_ARRAY, items, MHD_OPTION_END);
	if (!l->daemon) {
		listener_free(l);
		return -EIO;
	}
	*out = l;
	return 0;
}

/* Waits for the listener's requests in flight, then frees it. */
static void listener_stop(struct listener *l)
{
	if (!l)
		return;
	MHD_stop_daemon(l->daemon);
	listener_free(l);
}

/* How often a drainer looks at its listener's connections. */
#define DRAIN_POLL_NS 50000000L
/* A quiesced daemon's polling thread may still accept a connection it was
 * woken for: its count is trusted only after this long. */
#define DRAIN_GRACE_NS 500000000L

static unsigned connections_of(const struct listener *l)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

/*
 * Waits until the replaced listener's connections are gone, then stops it.
 * Bounded: an idle connection lasts at most the connection timeout, after
 * which libmicrohttpd closes it; and http_stop cuts the wait short.
 */
static void *drain(void *arg)
{
	struct listener *l = arg;
	struct http_server *srv = l->srv;
	struct timespec now, until, grace;

	clock_gettime(CLOCK_MONOTONIC, &until);
	grace = until;
	grace.tv_nsec += DRAIN_GRACE_NS;
	if (grace.tv_nsec >= 1000000000L) {
		grace.tv_sec++;
		grace.tv_nsec -= 1000000000L;
	}
	until.tv_sec += (time_t)srv->opts.connection_timeout + 2;
	pthread_mutex_lock(&srv->drain_lock);
	while (!srv->stopping &&
	       pthread_cond_timedwait(&srv->drained, &srv->drain_lock, &grace) != ETIMEDOUT)
		;
	while (!srv->stopping && connections_of(l) > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec)
			break;
		now.tv_nsec += DRAIN_POLL_NS;
		if (now.tv_nsec >= 1000000000L) {
			now.tv_sec++;
			now.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->drained, &srv->drain_lock, &now);
	}
	pthread_mutex_unlock(&srv->drain_lock);
	listener_stop(l);
	pthread_mutex_lock(&srv->drain_lock);
	srv->drainers--;
	pthread_cond_broadcast(&srv->drained);
	pthread_mutex_unlock(&srv->drain_lock);
	return NULL;
}

/* Hands the replaced (quiesced) listener to a drainer; stops it at once if none can start. */
static void retire(struct http_server *srv, struct listener *old)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	__atomic_store_n(&old->draining, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&srv->drain_lock);
	srv->drainers++;
	pthread_mutex_unlock(&srv->drain_lock);
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 64u << 10);
		rc = pthread_create(&t, &attr, drain, old);
		pthread_attr_destroy(&attr);
	}
	if (rc == 0)
		return;
	log_warn("cannot wait for the old connections; closing them", "address", srv->address,
		 NULL);
	listener_stop(old);
	pthread_mutex_lock(&srv->drain_lock);
	srv->drainers--;
	pthread_mutex_unlock(&srv->drain_lock);
}

/* Cuts the drainers' waits short and waits for them to finish. */
static void stop_drainers(struct http_server *srv)
{
	pthread_mutex_lock(&srv->drain_lock);
	srv->stopping = true;
	pthread_cond_broadcast(&srv->drained);
	while (srv->drainers > 0)
		pthread_cond_wait(&srv->drained, &srv->drain_lock);
	pthread_mutex_unlock(&srv->drain_lock);
}

static void http_server_free(struct http_server *srv)
{
	pthread_mutex_destroy(&srv->drain_lock);
	pthread_cond_destroy(&srv->drained);
	free(srv);
}

int http_start(const char *address, const struct http_options *opts, struct web_config *web,
	       struct http_server **out, char *err, size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	int rc;

	pthread_condattr_t ca;

	if (!srv)
		return -ENOMEM;
	srv->opts = *opts;
	pthread_mutex_init(&srv->drain_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->drained, &ca);
	pthread_condattr_destroy(&ca);
	srv->fd = listen_socket(address, err, errlen);
	if (srv->fd < 0) {
		rc = srv->fd;
		http_server_free(srv);
		return rc;
	}
	format_bound(srv->fd, srv->address, sizeof(srv->address));
	rc = listener_start(srv, web, &srv->current);
	if (rc < 0) {
		snprintf(err, errlen, "%s: libmicrohttpd could not start%s", address,
			 web && web->tls ? " with TLS" : "");
		close(srv->fd);
		http_server_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

const char *http_address(const struct http_server *srv)
{
	return srv->address;
}

int http_reload(struct http_server *srv, struct web_config *web)
{
	struct listener *old = srv->current, *fresh;
	struct web_config *old_web;
	int rc;

	if (!old || MHD_quiesce_daemon(old->daemon) == MHD_INVALID_SOCKET)
		return -EIO;
	rc = listener_start(srv, web, &fresh);
	if (rc == 0) {
		srv->current = fresh;
		retire(srv, old);
		return 0;
	}
	/* The socket is still ours: serve it again with what ran before. */
	old_web = web_config_get(old->web);
	listener_stop(old);
	srv->current = NULL;
	if (listener_start(srv, old_web, &srv->current) < 0)
		log_error("cannot serve again after a failed reload", "address", srv->address,
			  NULL);
	web_config_put(old_web);
	return rc;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	/* Quiesced first, so that stopping leaves the socket to us in every case. */
	if (srv->current)
		MHD_quiesce_daemon(srv->current->daemon);
	stop_drainers(srv);
	listener_stop(srv->current);
	close(srv->fd);
	http_server_free(srv);
}
