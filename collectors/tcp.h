/* SPDX-License-Identifier: MIT */
/* tcp: the sessions.tcp section of the config file, as loaded. */
#ifndef MEMTIDE_TCP_H
#define MEMTIDE_TCP_H

#include <stddef.h>
#include <stdint.h>

struct config;

/* How the tcp collector reads sockets: netlink, falling back to procfs when
 * the kernel refuses netlink (auto), or one of them only. */
enum tcp_method { TCP_METHOD_AUTO, TCP_METHOD_NETLINK, TCP_METHOD_PROCFS };

/* sessions.tcp; pool is NULL when the section is absent. */
struct tcp_config {
	char *pool;
	uint16_t *ports; /* in the file's order, no duplicates */
	size_t n_ports;
	enum tcp_method method;
};

const struct tcp_config *tcp_settings(const struct config *cfg);

#endif
