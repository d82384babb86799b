/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector.h"
#include "config.h"
#include "expo.h"
#include "log.h"
#include "negotiate.h"
#include "runtime.h"
#include "scrape.h"

#define DEFAULT_SCRAPE_TIMEOUT 10.0 /* Prometheus' default, when the header is absent */
#define MAX_SCRAPE_TIMEOUT 300.0
#define CONNECTION_LIMIT 256
#define THREAD_STACK_SIZE (512u << 10)
#define LANDING_PAGE_MAX 16384

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_options opts;
	unsigned in_flight; /* atomic: scrapes being answered now */
};

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
			       char *body, size_t len, bool must_free)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body,
					    must_free ? MHD_RESPMEM_MUST_FREE
						      : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return respond(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text), false);
}

/*
 * The time a scrape may take: what Prometheus announces, less a margin to
 * send the answer (a tenth, at most half a second).
 */
static double scrape_timeout(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "X-Prometheus-Scrape-Timeout-Seconds");
	double t = DEFAULT_SCRAPE_TIMEOUT;
	char *end;

	if (h) {
		double v = strtod(h, &end);

		if (end != h && isfinite(v) && v > 0)
			t = v < MAX_SCRAPE_TIMEOUT ? v : MAX_SCRAPE_TIMEOUT;
	}
	return t - fmin(0.5, t / 10);
}

static enum MHD_Result serve_metrics(const struct http_server *srv, struct MHD_Connection *c)
{
	enum expo_format fmt = srv->opts.openmetrics
				       ? negotiate_format(MHD_lookup_connection_value(
						 c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT))
				       : EXPO_TEXT_004;
	bool gzip = negotiate_gzip(
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	struct runtime *rt = runtime_current();
	struct MHD_Response *r;
	struct expo *e = NULL;
	enum MHD_Result ret;
	char *body;
	size_t len;
	int err;

	if (!rt)
		return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n");
	err = scrape_run(rt, scrape_timeout(c), &e);
	runtime_put(rt);
	if (err == 0)
		err = expo_render(e, fmt, gzip, &body, &len);
	expo_free(e);
	if (err) {
		log_error("scrape failed", "err", strerror(-err), NULL);
		return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "scrape failed\n");
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
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* Bounds concurrent scrapes: past max_requests, 503 at once rather than a pile-up. */
static enum MHD_Result serve_metrics_bounded(struct http_server *srv, struct MHD_Connection *c)
{
	unsigned now = __atomic_add_fetch(&srv->in_flight, 1, __ATOMIC_ACQ_REL);
	enum MHD_Result ret;

	if (srv->opts.max_requests && now > srv->opts.max_requests) {
		log_warn("too many concurrent scrapes; see --web.max-requests", NULL);
		ret = respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "too many concurrent scrapes (--web.max-requests)\n");
	} else {
		ret = serve_metrics(srv, c);
	}
	__atomic_sub_fetch(&srv->in_flight, 1, __ATOMIC_ACQ_REL);
	return ret;
}

/* Appends HTML-escaped text; the page buffer is bounded and cut, never overrun. */
static void html_escaped(char *page, size_t cap, size_t *len, const char *s)
{
	for (; *s && *len + 7 < cap; s++) {
		const char *rep = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
				: *s == '"' ? "&quot;" : NULL;

		if (rep) {
			memcpy(page + *len, rep, strlen(rep));
			*len += strlen(rep);
		} else {
			page[(*len)++] = *s;
		}
	}
	page[*len] = '\0';
}

static void html_raw(char *page, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(page + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

static enum MHD_Result serve_landing(struct http_server *srv, struct MHD_Connection *c)
{
	struct runtime *rt = runtime_current();
	char *page = malloc(LANDING_PAGE_MAX);
	size_t len = 0;

	if (!page) {
		runtime_put(rt);
		return MHD_NO;
	}
	html_raw(page, LANDING_PAGE_MAX, &len,
		 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>memtide exporter"
		 "</title></head>\n<body><h1>memtide exporter</h1>\n<p>Version %s (%s). "
		 "Process memory, allocator statistics and live sessions for Prometheus.</p>\n"
		 "<p><a href=\"",
		 MEMTIDE_VERSION, MEMTIDE_REVISION);
	html_escaped(page, LANDING_PAGE_MAX, &len, srv->opts.telemetry_path);
	html_raw(page, LANDING_PAGE_MAX, &len, "\">Metrics</a></p>\n<h2>Collectors</h2>\n<ul>\n");
	for (size_t i = 0; rt && i < collectors_count; i++) {
		html_raw(page, LANDING_PAGE_MAX, &len, "<li><b>%s</b> %s: %s</li>\n",
			 collectors[i]->name, rt->enabled[i] ? "on" : "off", collectors[i]->help);
	}
	html_raw(page, LANDING_PAGE_MAX, &len, "</ul>\n<h2>Configuration</h2>\n<p>");
	html_escaped(page, LANDING_PAGE_MAX, &len,
		     rt && rt->cfg->path ? rt->cfg->path
					 : "no config file: every process, grouped by comm");
	html_raw(page, LANDING_PAGE_MAX, &len, "</p>\n</body></html>\n");
	runtime_put(rt);
	return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", page, len, true);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is never wanted: drop it */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, srv->opts.telemetry_path) == 0)
		return serve_metrics_bounded(srv, c);
	if (strcmp(url, "/") == 0)
		return serve_landing(srv, c);
	if (strcmp(url, "/-/healthy") == 0)
		return respond_text(c, MHD_HTTP_OK, "OK\n");
	return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
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

int http_start(const char *address, const struct http_options *opts, struct http_server **out,
	       char *bound, size_t boundlen, char *err, size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	int fd;

	if (!srv)
		return -ENOMEM;
	srv->opts = *opts;
	fd = listen_socket(address, err, errlen);
	if (fd < 0) {
		free(srv);
		return fd;
	}
	format_bound(fd, bound, boundlen);
	srv->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
		0, NULL, NULL, handle, srv, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->connection_timeout,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK_SIZE,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, errlen, "%s: libmicrohttpd could not start", address);
		close(fd);
		free(srv);
		return -EIO;
	}
	*out = srv;
	return 0;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
