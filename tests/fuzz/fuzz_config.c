/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the config file: the input is the file's content.
 * A config that loads is also matched against a few processes, so that the
 * compiled templates and regexes are exercised, and every name is checked to
 * be terminated within the cap.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iexporter tests/fuzz/fuzz_config.c \
 *     exporter/config.c exporter/matcher.c -lyaml -o fuzz_config
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, when built without the project's flags */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collectors/process_config.h"
#include "collectors/sessdir.h"
#include "collectors/tcp.h"
#include "exporter/config.h"

/* clang-format off */
static const struct proc_ident idents[] = {
	{
		.comm = "php-fpm8.2",
		.exe = "/usr/sbin/php-fpm8.2",
		.cmdline = "php-fpm: pool www",
		.user = "www-data",
		.cgroup = "/system.slice/php8.2-fpm.service",
	},
	{.comm = "python3", .exe = "/usr/bin/python3.11", .cmdline = "python3 -m app a=b c"},
	{.comm = "kthreadd"},
	{0},
};
/* clang-format on */

static void match_all(const struct config *cfg)
{
	char name[PROCESS_GROUP_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(idents) / sizeof(idents[0]); i++) {
		int g = process_match(cfg, &idents[i], name, sizeof(name));

		if (g >= (int)process_settings(cfg)->n_groups ||
		    strnlen(name, sizeof(name)) >= PROCESS_GROUP_NAME_MAX || (g >= 0 && !name[0]))
			abort();
		/* A small buffer must be respected too. */
		process_match(cfg, &idents[i], name, 3);
		if (strnlen(name, 3) >= 3)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[512];
	struct config *cfg = NULL;
	int fd;

	fd = memfd_create("fuzz_config", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size)
		goto out_close;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(path, NULL, NULL, &cfg, err, sizeof(err)) == 0) {
		match_all(cfg);
		config_free(cfg);
	} else if (strncmp(err, path, strlen(path)) || strnlen(err, sizeof(err)) >= sizeof(err)) {
		abort(); /* every failure names the file */
	}
out_close:
	close(fd);
	return 0;
}
