/* SPDX-License-Identifier: MIT */
/*
 * leaky_webapp: the HTTP side (libmicrohttpd, a pool of polling threads).
 *
 *	POST /login[?user=NAME]	new session; Set-Cookie: sid=...
 *	GET  /page		needs the cookie; touches the session (401 without)
 *	POST /logout		needs the cookie; ends the session
 *	GET  /healthz		"ok" and the store's counters as key=value lines
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webapp.h"

#define CONNECTION_LIMIT 512u
#define CONNECTION_TIMEOUT 30u
#define BODY_MAX 512

struct http_server {
	struct MHD_Daemon *daemon;
	struct store *store;
	size_t page_bytes;
	size_t leak_bytes;
};

/* A response with a plain-text body and an optional Set-Cookie value. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
			     const char *cookie)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(r, "Cache-Control", "no-store") != MHD_YES ||
	    (cookie && MHD_add_response_header(r, "Set-Cookie", cookie) != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

/* The session id from the cookie, if it has the shape of one. */
static const char *cookie_sid(struct MHD_Connection *c)
{
	const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "sid");

	return sid && strlen(sid) == WEBAPP_SID_LEN ? sid : NULL;
}

static enum MHD_Result unauthorized(struct MHD_Connection *c)
{
	return reply(c, MHD_HTTP_UNAUTHORIZED, "no session: POST /login first\n", NULL);
}

static enum MHD_Result do_login(struct http_server *srv, struct MHD_Connection *c)
{
	const char *user = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "user");
	char sid[WEBAPP_SID_LEN + 1], cookie[96], body[64];

	if (store_login(srv->store, user, sid) < 0)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL);
	snprintf(cookie, sizeof(cookie), "sid=%s; Path=/; HttpOnly; SameSite=Strict", sid);
	snprintf(body, sizeof(body), "sid=%s\n", sid);
	return reply(c, MHD_HTTP_OK, body, cookie);
}

/* The second, plain leak: bytes that nothing points at once this returns. */
static void leak_request_bytes(struct http_server *srv)
{
	void *p;

	if (!srv->leak_bytes)
		return;
	p = malloc(srv->leak_bytes);
	if (!p)
		return;
	memset(p, 0x5a, srv->leak_bytes);
	/* An opaque use, so the compiler cannot drop the allocation. */
	__asm__ volatile("" : : "r"(p) : "memory");
	store_note_leak(srv->store, srv->leak_bytes);
}

static enum MHD_Result do_page(struct http_server *srv, struct MHD_Connection *c)
{
	const char *sid = cookie_sid(c);
	char line[160];
	char *scratch;
	enum MHD_Result ok;

	if (!sid || store_touch(srv->store, sid, line, sizeof(line)) < 0)
		return unauthorized(c);
	/* Per-request memory, as rendering a real page would use, freed at the end. */
	scratch = malloc(srv->page_bytes + BODY_MAX);
	if (!scratch)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL);
	memset(scratch + BODY_MAX, ' ', srv->page_bytes);
	snprintf(scratch, BODY_MAX, "page %s", line);
	ok = reply(c, MHD_HTTP_OK, scratch, NULL);
	free(scratch);
	leak_request_bytes(srv);
	return ok;
}

static enum MHD_Result do_logout(struct http_server *srv, struct MHD_Connection *c)
{
	const char *sid = cookie_sid(c);

	if (!sid || store_logout(srv->store, sid) < 0)
		return unauthorized(c);
	return reply(c, MHD_HTTP_OK, "bye\n", "sid=; Path=/; Max-Age=0");
}

static enum MHD_Result do_health(struct http_server *srv, struct MHD_Connection *c)
{
	struct store_stats s;
	char body[BODY_MAX];

	store_stats(srv->store, &s);
	snprintf(body, sizeof(body),
		 "ok\nsessions_live=%zu\nsessions_created=%" PRIu64 "\nsessions_logged_out=%" PRIu64
		 "\nsessions_expired=%" PRIu64 "\nsessions_forgotten=%" PRIu64
		 "\nleaked_bytes=%" PRIu64 "\n",
		 s.live, s.created, s.logged_out, s.expired, s.forgotten, s.leaked_bytes);
	return reply(c, MHD_HTTP_OK, body, NULL);
}

typedef enum MHD_Result (*route_fn)(struct http_server *, struct MHD_Connection *);

static const struct route {
	const char *path;
	const char *method;
	route_fn fn;
} routes[] = {
    {"/login", "POST", do_login},
    {"/page", "GET", do_page},
    {"/logout", "POST", do_logout},
    {"/healthz", "GET", do_health},
};

static enum MHD_Result dispatch(struct http_server *srv, struct MHD_Connection *c, const char *url,
				const char *method)
{
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(url, routes[i].path) != 0)
			continue;
		if (strcmp(method, routes[i].method) == 0)
			return routes[i].fn(srv, c);
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", NULL);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	static int started;

	(void)version;
	(void)upload_data;
	/* First call: headers only. Answer once the body (ignored) is in. */
	if (!*req_cls) {
		*req_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(cls, c, url, method);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("leaky_webapp: libmicrohttpd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* opts->bind and port as a socket address; *flags gets MHD_USE_IPv6 if needed. */
static int make_addr(const struct webapp_options *opts, struct sockaddr_storage *ss,
		     unsigned *flags)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, opts->bind, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)opts->port);
		return 0;
	}
	if (inet_pton(AF_INET6, opts->bind, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)opts->port);
		*flags |= MHD_USE_IPv6;
		return 0;
	}
	return -EINVAL;
}

int http_start(const struct webapp_options *opts, struct store *st, struct http_server **out,
	       unsigned *port)
{
	/* AUTO: epoll on Linux, so no FD_SETSIZE limit on connections. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage addr;
	struct http_server *srv;

	if (make_addr(opts, &addr, &flags) < 0)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	*srv = (struct http_server){.store = st,
				    .page_bytes = opts->page_bytes,
				    .leak_bytes = opts->leak_bytes_per_request};
	srv->daemon = MHD_start_daemon(
	    /* The logger first, or libmicrohttpd logs the options' errors its own way. */
	    flags, (uint16_t)opts->port, NULL, NULL, handle, srv, MHD_OPTION_EXTERNAL_LOGGER,
	    mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, opts->threads,
	    MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    CONNECTION_TIMEOUT, MHD_OPTION_END);
	if (!srv->daemon) {
		free(srv);
		return -EADDRNOTAVAIL;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : opts->port;
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
