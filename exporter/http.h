/* SPDX-License-Identifier: MIT */
/*
 * http: the HTTP side of the exporter, on libmicrohttpd.
 *
 * Serves GET and HEAD on the telemetry path (a scrape of the current runtime),
 * a landing page on "/", and "/-/healthy". Every request builds its own
 * response, so concurrent scrapes share nothing; more than max_requests
 * scrapes at once get 503. A web config adds TLS, basic authentication and
 * response headers.
 */
#ifndef MEMTIDE_HTTP_H
#define MEMTIDE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_options {
	const char *telemetry_path;  /* "/metrics" */
	unsigned max_requests;	     /* concurrent scrapes; 0 means no limit */
	unsigned connection_timeout; /* seconds an idle or slow connection may hold a thread */
	bool openmetrics;	     /* offer OpenMetrics to clients that prefer it */
};

struct http_server;
struct web_config;

/*
 * Listens on `address` ("host:port", ":port" for every address, "[v6]:port";
 * port 0 picks a free one) and serves in threads of its own, with TLS and
 * basic authentication when the web config (NULL for none) asks for them.
 * Returns 0 or a negative errno, with a message in err.
 */
int http_start(const char *address, const struct http_options *opts, struct web_config *web,
	       struct http_server **out, char *err, size_t errlen);

/* The address the server is bound to, "host:port" or "[v6]:port". */
const char *http_address(const struct http_server *srv);

/*
 * Serves on with a new web config: new connections get it at once, requests
 * in flight finish under the old one, the socket stays open throughout. On
 * failure the old config keeps serving.
 */
int http_reload(struct http_server *srv, struct web_config *web);

void http_stop(struct http_server *srv);

#endif
