/* SPDX-License-Identifier: MIT */
/*
 * http_tls: libmicrohttpd's GnuTLS options for a web config, and client
 * certificate policies enforced in the handshake itself.
 *
 * libmicrohttpd only asks for client certificates when given a trust list
 * and never checks them; exporter-toolkit's client_auth_type policies are
 * applied here to each connection's GnuTLS session before its handshake, so
 * a client that fails the policy never gets as far as an HTTP request.
 */
#ifndef MEMTIDE_HTTP_TLS_H
#define MEMTIDE_HTTP_TLS_H

#include <microhttpd.h>
#include <stddef.h>

struct web_config;

#define HTTP_TLS_MAX_OPTIONS 5

/* Writes the daemon options TLS needs for wc (which must outlive the
 * daemon) to items and returns how many; 0 when wc asks for no TLS. */
size_t http_tls_options(const struct web_config *wc, struct MHD_OptionItem *items);

#endif
