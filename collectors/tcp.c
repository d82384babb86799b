/* SPDX-License-Identifier: MIT */
/*
 * Collector "tcp": TCP connections on the configured local ports, by state,
 * as sessions seen from outside the application. A server that forgets to
 * close a session's socket after the client left keeps it in CLOSE_WAIT.
 *
 * Sockets come from the kernel's inet_diag netlink interface (as ss reads
 * them), in one dump for IPv4 and IPv6, asking only for the configured local
 * ports and for every state but LISTEN; where netlink is refused (a sandbox,
 * a kernel without inet_diag) from /proc/net/tcp and tcp6, which print every
 * socket as text and cost several times more. Only the local port counts: the client side of a
 * loopback connection has an ephemeral local port and is not a session.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tcp.h"

#include "collector.h"
#include "config_section.h"
#include "exporter/array_size.h"
#include "exporter/config.h"
#include "exporter/yaml_schema.h"
#include "exporter/expo.h"
#include "exporter/log.h"
#include "session_families.h"

#define NAME "tcp"
#define BUF_BYTES (256u << 10) /* netlink replies (32 KiB each) and procfs reads */
/* The kernel's filter is one netlink attribute, 64 KiB at most: 12 bytes a
 * port. With more ports than this, every socket is sent and sorted here. */
#define FILTER_MAX_PORTS 4096
#define N_KERNEL_STATES 13 /* TCP_ESTABLISHED (1) .. TCP_NEW_SYN_RECV (12) */
#define TCP_ESTABLISHED 1
#define TCP_LISTEN 10

/* The published name of each kernel state; LISTEN (10) and 0 are never counted. */
/* clang-format off */
static const char *const state_names[N_KERNEL_STATES] = {
	[1] = "established", [2] = "syn_sent",   [3] = "syn_recv",      [4] = "fin_wait1",
	[5] = "fin_wait2",   [6] = "time_wait",  [7] = "close",         [8] = "close_wait",
	[9] = "last_ack",    [11] = "closing",   [12] = "new_syn_recv",
};
/* clang-format on */

struct tcp_state {
	const struct config *cfg;
	const struct tcp_config *tcp; /* cfg's sessions.tcp */
	char *buf;
	uint64_t (*counts)[N_KERNEL_STATES]; /* per configured port */
	uint16_t *slot;			     /* by port number: its index in ports + 1, or 0 */
	bool netlink_refused;		     /* auto: seen once, procfs from then on */
};

static int tcp_init(void **state, const struct config *cfg)
{
	struct tcp_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->tcp = tcp_settings(cfg);
	*state = s;
	if (!s->tcp->pool)
		return 0;
	s->buf = malloc(BUF_BYTES);
	s->counts = calloc(s->tcp->n_ports, sizeof(*s->counts));
	s->slot = calloc(65536, sizeof(*s->slot));
	if (s->buf && s->counts && s->slot) {
		for (size_t i = 0; i < s->tcp->n_ports; i++)
			s->slot[s->tcp->ports[i]] = (uint16_t)(i + 1);
		return 0;
	}
	free(s->buf);
	free(s->counts);
	free(s->slot);
	free(s);
	*state = NULL;
	return -ENOMEM;
}

static void tcp_release(void *state)
{
	struct tcp_state *s = state;

	free(s->buf);
	free(s->counts);
	free(s->slot);
	free(s);
}

/* Counts one socket if its local port is configured and its state is one we publish. */
static void count_socket(struct tcp_state *s, unsigned port, unsigned state)
{
	unsigned slot = port < 65536 ? s->slot[port] : 0;

	if (slot && state < N_KERNEL_STATES && state_names[state])
		s->counts[slot - 1][state]++;
}

/* ---- netlink ---------------------------------------------------------- */

/* Errors that mean "no netlink here", not "netlink failed". */
static bool netlink_refusal(int err)
{
	return err == -EPERM || err == -EACCES || err == -EPROTONOSUPPORT || err == -EAFNOSUPPORT;
}

/*
 * A bytecode filter that accepts sockets whose local port is one of the
 * configured ones, shaped as ss shapes "sport = A or sport = B": each test
 * goes on to the next op when it matches and jumps over the following JMP
 * when it does not; each JMP skips to the end (accept). The last test's
 * "no" jumps 4 bytes past the end, which the kernel reads as reject.
 * Returns the length written; buf holds 12 bytes per port.
 */
static size_t build_filter(const struct tcp_config *tcp, char *buf)
{
	size_t len = 12 * tcp->n_ports - 4, off = 0;

	for (size_t i = 0; i < tcp->n_ports; i++) {
		struct inet_diag_bc_op op[2] = {
		    {.code = INET_DIAG_BC_S_EQ, .yes = 8, .no = 12},
		    {.no = tcp->ports[i]},
		};

		memcpy(buf + off, op, sizeof(op));
		off += sizeof(op);
		if (i + 1 == tcp->n_ports)
			break;
		op[0] = (struct inet_diag_bc_op){
		    .code = INET_DIAG_BC_JMP, .yes = 4, .no = (unsigned short)(len - off)};
		memcpy(buf + off, op, sizeof(op[0]));
		off += sizeof(op[0]);
	}
	return len;
}

#define WANTED_STATES (((1u << N_KERNEL_STATES) - 1) & ~(1u << TCP_LISTEN) & ~1u)

/*
 * Sends one dump request: the fixed part `req` (len bytes) after a netlink
 * header of `type`, then the port filter as an INET_DIAG_REQ_BYTECODE
 * attribute (none past FILTER_MAX_PORTS). The filter goes on the stack for up
 * to 64 ports, else on the heap.
 */
static int nl_send(int fd, const struct tcp_config *tcp, uint16_t type, const void *req, size_t len,
		   uint32_t seq)
{
	struct nlmsghdr nlh = {
	    .nlmsg_type = type, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = seq};
	struct nlattr attr = {.nla_type = INET_DIAG_REQ_BYTECODE};
	char filter[12 * 64], *bc = filter;
	bool filtered = tcp->n_ports <= FILTER_MAX_PORTS;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct iovec iov[4];
	struct msghdr msg = {
	    .msg_name = &kernel, .msg_namelen = sizeof(kernel), .msg_iov = iov, .msg_iovlen = 4};
	size_t flen;
	ssize_t sent;

	if (filtered && tcp->n_ports > 64) {
		bc = malloc(12 * tcp->n_ports);
		if (!bc)
			return -ENOMEM;
	}
	flen = filtered ? build_filter(tcp, bc) : 0;
	attr.nla_len = (uint16_t)(NLA_HDRLEN + flen);
	nlh.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + len + (filtered ? attr.nla_len : 0));
	iov[0] = (struct iovec){.iov_base = &nlh, .iov_len = NLMSG_HDRLEN};
	iov[1] = (struct iovec){.iov_base = (void *)req, .iov_len = len};
	iov[2] = (struct iovec){.iov_base = &attr, .iov_len = NLA_HDRLEN};
	iov[3] = (struct iovec){.iov_base = bc, .iov_len = flen};
	msg.msg_iovlen = filtered ? 4 : 2;
	sent = sendmsg(fd, &msg, 0);
	if (bc != filter)
		free(bc);
	return sent < 0 ? -errno : 0;
}

/* sock_diag's request: one address family per dump. */
static int nl_request_family(int fd, const struct tcp_config *tcp, int family, uint32_t seq)
{
	struct inet_diag_req_v2 req = {
	    .sdiag_family = (uint8_t)family,
	    .sdiag_protocol = IPPROTO_TCP,
	    .idiag_states = WANTED_STATES,
	};

	return nl_send(fd, tcp, SOCK_DIAG_BY_FAMILY, &req, sizeof(req), seq);
}

/*
 * inet_diag's original TCP request, which the kernel still serves: it dumps
 * IPv4 and IPv6 sockets in one walk of the socket hash, where a request per
 * family walks it twice (each walk touches every TCP socket on the machine).
 */
static int nl_request_both(int fd, const struct tcp_config *tcp, uint32_t seq)
{
	struct inet_diag_req req = {.idiag_family = AF_INET, .idiag_states = WANTED_STATES};

	return nl_send(fd, tcp, TCPDIAG_GETSOCK, &req, sizeof(req), seq);
}

/* Handles the messages of one datagram; returns 1 at the end of the dump. */
static int nl_messages(struct tcp_state *s, const char *buf, size_t len, uint32_t seq)
{
	for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, len);
	     h = NLMSG_NEXT(h, len)) {
		const struct inet_diag_msg *m = NLMSG_DATA(h);

		if (h->nlmsg_seq != seq)
			continue; /* a late answer to an earlier request */
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EBADMSG;
			return e->error ? e->error : 1;
		}
		if ((h->nlmsg_type != SOCK_DIAG_BY_FAMILY && h->nlmsg_type != TCPDIAG_GETSOCK) ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
			continue;
		count_socket(s, ntohs(m->id.idiag_sport), m->idiag_state);
	}
	return 0;
}

/* Reads one dump to its end: NLMSG_DONE, or an error. */
static int nl_dump(struct tcp_state *s, int fd, uint32_t seq)
{
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = {.iov_base = s->buf, .iov_len = BUF_BYTES};
		struct msghdr msg = {.msg_name = &from,
				     .msg_namelen = sizeof(from),
				     .msg_iov = &iov,
				     .msg_iovlen = 1};
		ssize_t n = recvmsg(fd, &msg, 0);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (msg.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (from.nl_pid != 0)
			continue; /* only the kernel speaks here */
		rc = nl_messages(s, s->buf, (size_t)n, seq);
		if (rc)
			return rc < 0 ? rc : 0;
	}
}

/* Bounds each recv by what is left until the deadline, so a stuck dump cannot hang. */
static void set_timeout(int fd, const struct timespec *deadline)
{
	struct timespec now;
	struct timeval tv;
	double left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = (double)(deadline->tv_sec - now.tv_sec) +
	       (double)(deadline->tv_nsec - now.tv_nsec) / 1e9;
	if (left < 0.001)
		left = 0.001;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* The per-family requests, for kernels that no longer serve TCPDIAG_GETSOCK. */
static int count_netlink_families(struct tcp_state *s, int fd)
{
	static const int families[] = {AF_INET, AF_INET6};
	int err = 0;

	for (uint32_t i = 0; i < 2 && !err; i++) {
		err = nl_request_family(fd, s->tcp, families[i], i + 2);
		if (!err)
			err = nl_dump(s, fd, i + 2);
		/* A kernel without IPv6 has no tcp6 sockets to report. */
		if (families[i] == AF_INET6 && (err == -ENOENT || err == -EAFNOSUPPORT))
			err = 0;
	}
	return err;
}

static int count_netlink(struct tcp_state *s, const struct timespec *deadline)
{
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	set_timeout(fd, deadline);
	err = nl_request_both(fd, s->tcp, 1);
	if (!err)
		err = nl_dump(s, fd, 1);
	if (err == -EINVAL || err == -ENOENT || err == -EOPNOTSUPP) {
		memset(s->counts, 0, s->tcp->n_ports * sizeof(*s->counts));
		err = count_netlink_families(s, fd);
	}
	close(fd);
	return err;
}

/* ---- /proc/net/tcp ------------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Reads one line: "  sl: LOCALADDR:PORT REMADDR:PORT ST ...", all in hex.
 * The header line and anything malformed have no hex where expected and
 * are skipped.
 */
static void parse_line(struct tcp_state *s, const char *p, const char *end)
{
	unsigned port = 0, state = 0;
	const char *colon;
	int v;

	colon = memchr(p, ':', (size_t)(end - p));
	if (!colon)
		return;
	colon = memchr(colon + 1, ':', (size_t)(end - colon - 1)); /* local address:port */
	if (!colon || end - colon < 6)
		return;
	for (p = colon + 1; p < colon + 5; p++) {
		if ((v = hexval(*p)) < 0)
			return;
		port = port << 4 | (unsigned)v;
	}
	p = memchr(p, ' ', (size_t)(end - p));
	if (!p || !(p = memchr(p + 1, ' ', (size_t)(end - p - 1))) || end - p < 3)
		return; /* past the remote address */
	for (const char *q = p + 1; q < p + 3; q++) {
		if ((v = hexval(*q)) < 0)
			return;
		state = state << 4 | (unsigned)v;
	}
	if (state != TCP_LISTEN)
		count_socket(s, port, state);
}

/* Parses a whole file, carrying a partial line over between reads. */
static int parse_file(struct tcp_state *s, int fd)
{
	size_t have = 0;

	for (;;) {
		ssize_t n = read(fd, s->buf + have, BUF_BYTES - have);
		char *p = s->buf, *end, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		end = s->buf + have + n;
		while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
			parse_line(s, p, nl);
			p = nl + 1;
		}
		have = (size_t)(end - p);
		if (n == 0) {
			if (have)
				parse_line(s, p, end);
			return 0;
		}
		if (have == BUF_BYTES)
			return -EOVERFLOW; /* no line is that long */
		memmove(s->buf, p, have);
	}
}

static int count_procfs(struct tcp_state *s)
{
	static const char *const files[] = {"net/tcp", "net/tcp6"};
	char path[4096];

	for (size_t i = 0; i < 2; i++) {
		int fd, err;

		snprintf(path, sizeof(path), "%s/%s", s->cfg->procfs, files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		/* No tcp6 without IPv6. */
		if (fd < 0 && errno == ENOENT && i == 1)
			continue;
		if (fd < 0)
			return -errno;
		err = parse_file(s, fd);
		close(fd);
		if (err)
			return err;
	}
	return 0;
}

/* ---- collect ------------------------------------------------------------ */

/* Counts through the configured method; auto falls back to procfs for good once refused. */
static int count_all(struct tcp_state *s, struct collect_ctx *ctx)
{
	enum tcp_method method = s->tcp->method;
	int err;

	if (method == TCP_METHOD_PROCFS || (method == TCP_METHOD_AUTO && s->netlink_refused))
		return count_procfs(s);
	err = count_netlink(s, ctx->deadline);
	if (method == TCP_METHOD_NETLINK || !netlink_refusal(err))
		return err;
	collect_log(ctx, LOGL_INFO, "netlink sock_diag refused; reading /proc/net/tcp instead",
		    "err", strerror(-err), NULL);
	collect_error(ctx, "netlink_refused");
	s->netlink_refused = true;
	memset(s->counts, 0, s->tcp->n_ports * sizeof(*s->counts));
	return count_procfs(s);
}

static int write_counts(struct expo *out, const struct tcp_state *s)
{
	static const char *const names[] = {"source", "pool"};
	const struct tcp_config *tcp = s->tcp;
	const char *values[] = {"tcp", tcp->pool};
	struct sessions_pool p = sessions_pool_unset();
	char port[8];
	int err;

	p.live = 0;
	err = expo_family(out, "memtide_tcp_connections", EXPO_GAUGE,
			  "TCP connections on a configured local port, by state.");
	for (size_t i = 0; i < tcp->n_ports && !err; i++) {
		snprintf(port, sizeof(port), "%u", (unsigned)tcp->ports[i]);
		for (unsigned st = 0; st < N_KERNEL_STATES && !err; st++)
			if (state_names[st])
				err = expo_sample(out, (double)s->counts[i][st], "port", port,
						  "state", state_names[st], NULL);
		p.live += (double)s->counts[i][TCP_ESTABLISHED];
	}
	return err ? err : sessions_write_pool(out, &p, 2, names, values);
}

static int tcp_collect(void *state, struct collect_ctx *ctx)
{
	struct tcp_state *s = state;
	int err;

	if (!s->tcp->pool)
		return 0;
	memset(s->counts, 0, s->tcp->n_ports * sizeof(*s->counts));
	err = count_all(s, ctx);
	if (!err)
		err = write_counts(ctx->out, s);
	return err;
}

/* ---- the sessions.tcp section of the config file ------------------------ */

/* What sessions.tcp says; ports and method are checked once all keys are read. */
struct tcp_draft {
	yaml_node_t *pool;
	yaml_node_t *ports;
	yaml_node_t *method;
};

static bool port_value(const yaml_node_t *node, uint16_t *out)
{
	unsigned long v = 0;

	if (node->type != YAML_SCALAR_NODE || !node->data.scalar.length ||
	    node->data.scalar.length > 5)
		return false;
	for (size_t i = 0; i < node->data.scalar.length; i++) {
		unsigned char c = node->data.scalar.value[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

static int parse_ports(struct yaml_loader *ld, yaml_node_t *value, struct tcp_config *tcp)
{
	yaml_node_item_t *items;
	size_t n;
	char q[YAML_QUOTE_MAX];

	if (value->type != YAML_SEQUENCE_NODE)
		return yaml_fail(ld, yaml_line(value), "ports: expected a list of ports, got %s",
				 yaml_kind(value));
	items = value->data.sequence.items.start;
	n = (size_t)(value->data.sequence.items.top - items);
	if (!n)
		return yaml_fail(ld, yaml_line(value), "ports: empty list");
	tcp->ports = calloc(n, sizeof(*tcp->ports));
	if (!tcp->ports)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_node(ld, items[i]);

		if (!item)
			return yaml_fail(ld, yaml_line(value), "ports: broken list");
		if (item->type != YAML_SCALAR_NODE || !port_value(item, &tcp->ports[i]))
			return yaml_fail(ld, yaml_line(item),
					 "ports: expected a port 1..65535, got %s",
					 item->type == YAML_SCALAR_NODE && !yaml_is_null(item)
					     ? YAML_QUOTE(q, item)
					     : yaml_kind(item));
		for (size_t j = 0; j < i; j++) {
			if (tcp->ports[j] != tcp->ports[i])
				continue;
			return yaml_fail(
			    ld, yaml_line(item), "ports: duplicate port %u (first at line %zu)",
			    (unsigned)tcp->ports[i], yaml_line(yaml_node(ld, items[j])));
		}
		tcp->n_ports = i + 1;
	}
	return 0;
}

static int parse_method(struct yaml_loader *ld, const yaml_node_t *value, enum tcp_method *out)
{
	static const char *const names[] = {"auto", "netlink", "procfs"};
	char q[YAML_QUOTE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (yaml_scalar_is(value, names[i])) {
			*out = (enum tcp_method)i;
			return 0;
		}
	}
	return yaml_fail(ld, yaml_line(value), "method: expected auto, netlink or procfs, got %s",
			 YAML_QUOTE(q, value));
}

/* clang-format off */
static const struct yaml_key tcp_keys[] = {
	{"pool", yaml_parse_string, offsetof(struct tcp_draft, pool)},
	{"ports", yaml_parse_node, offsetof(struct tcp_draft, ports)},
	{"method", yaml_parse_string, offsetof(struct tcp_draft, method)},
};
/* clang-format on */

_Static_assert(TCP_METHOD_AUTO == 0 && TCP_METHOD_NETLINK == 1 && TCP_METHOD_PROCFS == 2,
	       "parse_method's table follows enum tcp_method");

static int parse_tcp(struct yaml_loader *ld, const char *key, yaml_node_t *value, void *field)
{
	struct tcp_config *tcp = field;
	struct tcp_draft dr = {0};
	int err;

	(void)key;
	if (yaml_is_null(value))
		return 0;
	err = yaml_parse_mapping(ld, value, "sessions.tcp", tcp_keys, ARRAY_SIZE(tcp_keys), &dr);
	if (err)
		return err;
	if (!dr.pool)
		return yaml_missing(ld, value, "sessions.tcp", "pool");
	if (!dr.ports)
		return yaml_missing(ld, value, "sessions.tcp", "ports");
	err = parse_ports(ld, dr.ports, tcp);
	if (!err && dr.method)
		err = parse_method(ld, dr.method, &tcp->method);
	if (err)
		return err;
	tcp->pool = strdup(yaml_scalar(dr.pool));
	return tcp->pool ? 0 : -ENOMEM;
}

_Static_assert(ARRAY_SIZE(tcp_keys) <= YAML_MAPPING_MAX_KEYS, "tcp_keys");

static void tcp_section_release(void *settings)
{
	struct tcp_config *tcp = settings;

	free(tcp->pool);
	free(tcp->ports);
}

const struct config_section tcp_section = {
    .key = "sessions.tcp",
    .size = sizeof(struct tcp_config),
    .parse = parse_tcp,
    .release = tcp_section_release,
};

const struct collector tcp_collector;

const struct tcp_config *tcp_settings(const struct config *cfg)
{
	return config_settings(cfg, &tcp_collector);
}

const struct collector tcp_collector = {
    .name = NAME,
    .help = "TCP connections on local ports by state (sessions.tcp)",
    .enabled_by_default = true,
    .config = &tcp_section,
    .init = tcp_init,
    .collect = tcp_collect,
    .release = tcp_release,
};
