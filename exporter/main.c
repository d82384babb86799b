/* SPDX-License-Identifier: MIT */
/*
 * memtide_exporter: flags, wiring and signals.
 *
 * The main thread parses flags, loads the config, starts the HTTP servers and
 * then only waits for signals: SIGTERM and SIGINT stop, SIGHUP reloads the
 * config (keeping the old one when the new one is invalid).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectors/collector.h"
#include "config.h"
#include "expo.h"
#include "http.h"
#include "log.h"
#include "memory_policy.h"
#include "runtime.h"
#include "scrape.h"
#include "webconfig.h"

#define MAX_LISTEN 8
#define ONCE_TIMEOUT 60.0
#define EXIT_USAGE 2

struct flags {
	const char *listen[MAX_LISTEN];
	size_t n_listen;
	const char *telemetry_path;
	unsigned max_requests;
	unsigned connection_timeout;
	const char *config_file;
	const char *web_config_file;
	const char *procfs;
	const char *sysfs;
	const char *agent_dir;
	const char *log_level;
	const char *log_format;
	bool once;
	bool no_openmetrics;
	bool enabled[COLLECTORS_MAX];
};

enum {
	OPT_LISTEN = 256,
	OPT_TELEMETRY,
	OPT_MAX_REQUESTS,
	OPT_CONNECTION_TIMEOUT,
	OPT_CONFIG,
	OPT_WEB_CONFIG,
	OPT_PROCFS,
	OPT_SYSFS,
	OPT_AGENT_DIR,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_ONCE,
	OPT_NO_OPENMETRICS,
	OPT_VERSION,
	OPT_COLLECTOR_BASE = 512, /* then two per collector: enable, disable */
};

static const struct option fixed_options[] = {
    {"web.listen-address", required_argument, NULL, OPT_LISTEN},
    {"web.telemetry-path", required_argument, NULL, OPT_TELEMETRY},
    {"web.max-requests", required_argument, NULL, OPT_MAX_REQUESTS},
    {"web.connection-timeout", required_argument, NULL, OPT_CONNECTION_TIMEOUT},
    {"config.file", required_argument, NULL, OPT_CONFIG},
    {"web.config.file", required_argument, NULL, OPT_WEB_CONFIG},
    {"path.procfs", required_argument, NULL, OPT_PROCFS},
    {"path.sysfs", required_argument, NULL, OPT_SYSFS},
    {"collector.agent.dir", required_argument, NULL, OPT_AGENT_DIR},
    {"log.level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log.format", required_argument, NULL, OPT_LOG_FORMAT},
    {"once", no_argument, NULL, OPT_ONCE},
    {"web.disable-openmetrics", no_argument, NULL, OPT_NO_OPENMETRICS},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
};

#define N_FIXED (sizeof(fixed_options) / sizeof(fixed_options[0]))

static void usage(FILE *to)
{
	fprintf(
	    to,
	    "Usage: memtide_exporter [flags]\n"
	    "       memtide_exporter check [memtide-check flags] (see memtide-check --help)\n"
	    "\n"
	    "Publishes process-group memory, allocator statistics and live sessions for\n"
	    "Prometheus on /metrics.\n"
	    "\n"
	    "Flags:\n"
	    "  --web.listen-address=ADDR  address to listen on: host:port, :port (every\n"
	    "                             address) or [IPv6]:port; repeatable (default :10117)\n"
	    "  --web.telemetry-path=PATH  path of the metrics (default /metrics)\n"
	    "  --web.max-requests=N       concurrent scrapes before answering 503; 0 for no\n"
	    "                             limit (default 40)\n"
	    "  --web.connection-timeout=S seconds an idle or slow client may hold a\n"
	    "                             connection before it is closed (default 60)\n"
	    "  --web.disable-openmetrics  always answer in the text format 0.0.4, even to\n"
	    "                             clients that prefer OpenMetrics\n"
	    "  --web.config.file=FILE     TLS, basic authentication and response headers, in\n"
	    "                             exporter-toolkit's format (as node_exporter reads);\n"
	    "                             SIGHUP reloads it with the certificates it names\n"
	    "  --config.file=FILE         YAML config: process groups and more (default: none,\n"
	    "                             every process grouped by comm); SIGHUP reloads it\n"
	    "  --path.procfs=DIR          procfs mount for the files the exporter reads itself:\n"
	    "                             boot time and fd counts (default /proc); libproc2\n"
	    "                             always reads /proc, so in a container share the\n"
	    "                             host's PID namespace instead of bind-mounting\n"
	    "  --path.sysfs=DIR           sysfs mount, for cgroup memory limits (default /sys)\n"
	    "  --collector.agent.dir=DIR  where libmemtide agents write their segments, as\n"
	    "                             their MEMTIDE_DIR (default /dev/shm)\n"
	    "  --log.level=LEVEL          debug, info, warn or error (default info)\n"
	    "  --log.format=FORMAT        logfmt or json, to stderr (default logfmt)\n"
	    "  --once                     print one scrape (text format) to stdout and exit\n"
	    "  --collector.NAME           enable collector NAME\n"
	    "  --no-collector.NAME        disable collector NAME\n"
	    "  --version                  print the version and exit\n"
	    "  -h, --help                 print this help and exit\n"
	    "\n"
	    "Collectors:\n");
	for (size_t i = 0; i < collectors_count; i++)
		fprintf(to, "  %-10s %-8s %s\n", collectors[i]->name,
			collectors[i]->enabled_by_default ? "(on)" : "(off)", collectors[i]->help);
	fprintf(to, "\nExit status: 0 on a clean stop, 1 on a runtime failure, 2 for bad flags or "
		    "config.\n");
}

/* The fixed options plus --collector.NAME and --no-collector.NAME for each. */
static struct option *build_options(char names[][64])
{
	size_t n = N_FIXED + 2 * collectors_count;
	struct option *o = calloc(n + 1, sizeof(*o));

	if (!o)
		return NULL;
	memcpy(o, fixed_options, sizeof(fixed_options));
	for (size_t i = 0; i < collectors_count; i++) {
		snprintf(names[2 * i], 64, "collector.%s", collectors[i]->name);
		snprintf(names[2 * i + 1], 64, "no-collector.%s", collectors[i]->name);
		o[N_FIXED + 2 * i] = (struct option){names[2 * i], no_argument, NULL,
						     OPT_COLLECTOR_BASE + (int)(2 * i)};
		o[N_FIXED + 2 * i + 1] = (struct option){names[2 * i + 1], no_argument, NULL,
							 OPT_COLLECTOR_BASE + (int)(2 * i + 1)};
	}
	return o;
}

static int parse_unsigned(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 1000000 || s[0] == '-')
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Handles one option; returns 0, 1 to exit successfully, or -EINVAL. */
static int apply_option(struct flags *f, int opt, const char *arg)
{
	if (opt >= OPT_COLLECTOR_BASE) {
		f->enabled[(opt - OPT_COLLECTOR_BASE) / 2] = (opt - OPT_COLLECTOR_BASE) % 2 == 0;
		return 0;
	}
	switch (opt) {
	case OPT_LISTEN:
		if (f->n_listen == MAX_LISTEN) {
			fprintf(stderr, "memtide_exporter: at most %d listen addresses\n",
				MAX_LISTEN);
			return -EINVAL;
		}
		f->listen[f->n_listen++] = arg;
		return 0;
	case OPT_TELEMETRY:
		if (arg[0] != '/' || strcmp(arg, "/") == 0) {
			fprintf(stderr, "memtide_exporter: --web.telemetry-path must start "
					"with / and not be /\n");
			return -EINVAL;
		}
		f->telemetry_path = arg;
		return 0;
	case OPT_MAX_REQUESTS:
		if (parse_unsigned(arg, &f->max_requests) < 0) {
			fprintf(stderr, "memtide_exporter: --web.max-requests: not a count: %s\n",
				arg);
			return -EINVAL;
		}
		return 0;
	case OPT_CONNECTION_TIMEOUT:
		if (parse_unsigned(arg, &f->connection_timeout) < 0 || f->connection_timeout == 0) {
			fprintf(stderr,
				"memtide_exporter: --web.connection-timeout: not a number "
				"of seconds above 0: %s\n",
				arg);
			return -EINVAL;
		}
		return 0;
	case OPT_CONFIG:
		f->config_file = arg;
		return 0;
	case OPT_WEB_CONFIG:
		f->web_config_file = arg;
		return 0;
	case OPT_PROCFS:
		f->procfs = arg;
		return 0;
	case OPT_SYSFS:
		f->sysfs = arg;
		return 0;
	case OPT_AGENT_DIR:
		f->agent_dir = arg;
		return 0;
	case OPT_LOG_LEVEL:
		f->log_level = arg;
		return 0;
	case OPT_LOG_FORMAT:
		f->log_format = arg;
		return 0;
	case OPT_ONCE:
		f->once = true;
		return 0;
	case OPT_NO_OPENMETRICS:
		f->no_openmetrics = true;
		return 0;
	case OPT_VERSION:
		printf("memtide_exporter %s (revision %s)\n", MEMTIDE_VERSION, MEMTIDE_REVISION);
		return 1;
	case 'h':
		usage(stdout);
		return 1;
	default:
		usage(stderr);
		return -EINVAL;
	}
}

static int parse_flags(int argc, char **argv, struct flags *f)
{
	char names[2 * COLLECTORS_MAX][64];
	struct option *options = build_options(names);
	int opt, rc = 0;

	if (!options)
		return -ENOMEM;
	for (size_t i = 0; i < collectors_count; i++)
		f->enabled[i] = collectors[i]->enabled_by_default;
	while (rc == 0 && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1)
		rc = apply_option(f, opt, optarg);
	free(options);
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "memtide_exporter: unexpected argument: %s\n", argv[optind]);
		rc = -EINVAL;
	}
	if (rc == 0 && log_setup(f->log_level, f->log_format) < 0) {
		fprintf(stderr, "memtide_exporter: --log.level must be debug, info, warn or error; "
				"--log.format logfmt or json\n");
		rc = -EINVAL;
	}
	if (rc == 0 && f->n_listen == 0)
		f->listen[f->n_listen++] = ":10117";
	return rc;
}

/* Loads the config named by the flags, or the default one. Prints why not. */
static int load_config(const struct flags *f, struct config **out)
{
	char err[1024];
	int rc;

	if (!f->config_file)
		rc = config_default(f->procfs, f->sysfs, out);
	else
		rc = config_load(f->config_file, f->procfs, f->sysfs, out, err, sizeof(err));
	if (rc < 0 && f->config_file)
		log_error("invalid config file", "err", err, NULL);
	if (rc == 0)
		(*out)->agent_dir = f->agent_dir;
	return rc;
}

/* Loads the web config named by the flags; *out stays NULL without one. */
static int load_web_config(const struct flags *f, struct web_config **out)
{
	char err[1024];
	int rc;

	*out = NULL;
	if (!f->web_config_file)
		return 0;
	rc = web_config_load(f->web_config_file, out, err, sizeof(err));
	if (rc < 0)
		log_error("invalid web config file", "err", err, NULL);
	return rc;
}

static int build_runtime(const struct flags *f, struct runtime **out)
{
	struct config *cfg;
	int err = load_config(f, &cfg);

	if (err < 0)
		return err;
	return runtime_new(cfg, f->enabled, out);
}

static int run_once(struct runtime *rt)
{
	struct expo *e;
	char *text;
	size_t len;
	int err = scrape_run(rt, ONCE_TIMEOUT, &e);

	if (err == 0) {
		err = expo_render(e, EXPO_TEXT_004, false, &text, &len);
		expo_free(e);
	}
	if (err) {
		log_error("scrape failed", "err", strerror(-err), NULL);
		return 1;
	}
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		free(text);
		return 1;
	}
	free(text);
	return 0;
}

/* Each file is reloaded on its own: a bad one keeps its running version
 * without holding the other back. */
static void reload(const struct flags *f, struct http_server **servers)
{
	struct web_config *web;
	struct runtime *rt;

	log_info("reloading config", "file", f->config_file ? f->config_file : "(none)", NULL);
	if (build_runtime(f, &rt) < 0) {
		log_error("reload failed; keeping the running config", NULL);
	} else {
		runtime_swap(rt);
		log_info("config reloaded", NULL);
	}
	if (!f->web_config_file)
		return;
	if (load_web_config(f, &web) < 0) {
		log_error("web config reload failed; keeping the running one", NULL);
		return;
	}
	for (size_t i = 0; i < f->n_listen; i++)
		if (http_reload(servers[i], web) < 0)
			log_error("cannot apply the new web config; serving with the old one",
				  "address", http_address(servers[i]), NULL);
	log_info("web config reloaded", "file", f->web_config_file, "tls", web->tls ? "on" : "off",
		 NULL);
	web_config_put(web);
}

static int start_servers(const struct flags *f, struct web_config *web,
			 struct http_server **servers)
{
	struct http_options opts = {.telemetry_path = f->telemetry_path,
				    .max_requests = f->max_requests,
				    .connection_timeout = f->connection_timeout,
				    .openmetrics = !f->no_openmetrics};

	for (size_t i = 0; i < f->n_listen; i++) {
		char err[512];
		int rc = http_start(f->listen[i], &opts, web, &servers[i], err, sizeof(err));

		if (rc < 0) {
			log_error("cannot listen", "err", err, NULL);
			return rc;
		}
		log_info("listening", "address", http_address(servers[i]), "telemetry_path",
			 f->telemetry_path, "tls", web && web->tls ? "on" : "off", "basic_auth",
			 web && web->n_users ? "on" : "off", NULL);
	}
	return 0;
}

/* Waits for signals until one says stop. */
static void serve(const struct flags *f, struct http_server **servers, const sigset_t *sigs)
{
	for (;;) {
		int sig;

		if (sigwait(sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(f, servers);
			continue;
		}
		log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
		return;
	}
}

/*
 * `memtide_exporter check ...` is memtide-check, in the style of
 * `promtool check`: the command installed beside this one, given the rest
 * of the arguments. Returns only if it could not be run.
 */
static int exec_check(char **argv)
{
	char self[4096], path[4096 + 32], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		fprintf(stderr, "memtide_exporter: check: /proc/self/exe: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/memtide-check", self);
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "memtide_exporter: check: cannot run %s: %s\n", path, strerror(errno));
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct flags f = {.telemetry_path = "/metrics",
			  .max_requests = 40,
			  .connection_timeout = 60,
			  .procfs = "/proc",
			  .sysfs = "/sys",
			  .agent_dir = "/dev/shm",
			  .log_level = "info",
			  .log_format = "logfmt"};
	struct http_server *servers[MAX_LISTEN] = {NULL};
	struct web_config *web;
	struct config *cfg;
	struct runtime *rt;
	sigset_t sigs;
	int rc;

	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return exec_check(argv + 1);
	rc = parse_flags(argc, argv, &f);
	if (rc != 0)
		return rc > 0 ? 0 : EXIT_USAGE;
	/* Before any thread starts. A sanitizer's allocator refuses mallopt: the
	 * exporter runs on, its memory only less tightly kept. */
	if (memory_policy_init() < 0)
		log_debug("the allocator refused a retention limit", NULL);
	/* Blocked before any thread starts, so that only sigwait() sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (load_config(&f, &cfg) < 0)
		return EXIT_USAGE;
	if (load_web_config(&f, &web) < 0) {
		config_free(cfg);
		return EXIT_USAGE;
	}
	if (runtime_new(cfg, f.enabled, &rt) < 0) {
		web_config_put(web);
		return 1;
	}
	if (f.once) {
		web_config_put(web);
		rc = run_once(rt);
		runtime_put(rt);
		return rc;
	}
	runtime_swap(rt);
	rc = start_servers(&f, web, servers);
	web_config_put(web);
	if (rc == 0) {
		log_info("memtide_exporter started", "version", MEMTIDE_VERSION, "config",
			 f.config_file ? f.config_file : "(none)", NULL);
		serve(&f, servers, &sigs);
	}
	for (size_t i = 0; i < MAX_LISTEN; i++)
		http_stop(servers[i]);
	runtime_swap(NULL);
	return rc == 0 ? 0 : 1;
}
