/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for config: loading, validation and its messages, matching and
 * name templates, durations.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "exporter/array_size.h"
#include "collectors/process_config.h"
#include "collectors/sessdir.h"
#include "collectors/tcp.h"
#include "exporter/config.h"

/* A config file written for one test; removed by load_text. */
static void write_tmp(char *path, size_t pathlen, const char *text, size_t len)
{
	int fd;

	snprintf(path, pathlen, "/tmp/memtide-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Loads text as a config file; path receives the name used in messages. */
static int load_bytes(const char *text, size_t len, struct config **cfg, char *path, size_t pathlen,
		      char *err, size_t errlen)
{
	int rc;

	write_tmp(path, pathlen, text, len);
	*cfg = NULL;
	rc = config_load(path, "/host/proc", "/host/sys", cfg, err, errlen);
	unlink(path);
	return rc;
}

static struct config *load_ok(const char *text)
{
	char path[64], err[512];
	struct config *cfg;
	int rc = load_bytes(text, strlen(text), &cfg, path, sizeof(path), err, sizeof(err));

	if (rc)
		fail_msg("config_load failed (%d): %s", rc, err);
	assert_non_null(cfg);
	return cfg;
}

/* Asserts that loading fails with -EINVAL and "PATH:LINE: ...what...". */
static void check_error_bytes(const char *text, size_t len, unsigned line, const char *what)
{
	char path[64], err[512], prefix[96];
	struct config *cfg;
	int rc = load_bytes(text, len, &cfg, path, sizeof(path), err, sizeof(err));

	if (rc != -EINVAL)
		fail_msg("expected -EINVAL, got %d (%s) for:\n%s", rc, err, text);
	assert_null(cfg);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, what))
		fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err, prefix, what);
}

static void check_error(const char *text, unsigned line, const char *what)
{
	check_error_bytes(text, strlen(text), line, what);
}

/* process_match into a full-size buffer. */
static int match(const struct config *cfg, const struct proc_ident *p, char *name)
{
	return process_match(cfg, p, name, PROCESS_GROUP_NAME_MAX);
}

static void test_full_config(void **state)
{
	struct config *cfg = load_ok("# memtide\n"
				     "process:\n"
				     "  pss_max_age: 1h30m\n"
				     "  groups:\n"
				     "    - name: \"php-{1}\"\n"
				     "      comm: \"php-fpm*\"\n"
				     "      exe: \"/usr/sbin/*\"\n"
				     "      cmdline: \"pool ([a-z]+)\"\n"
				     "      pss: true\n"
				     "    - comm: python3\n"
				     "      pss: false\n"
				     "    - {}\n");

	assert_non_null(strstr(cfg->path, "/tmp/memtide-test-config-"));
	assert_string_equal(cfg->procfs, "/host/proc");
	assert_string_equal(cfg->sysfs, "/host/sys");
	assert_true(process_settings(cfg)->pss_max_age == 5400.0);
	assert_int_equal(process_settings(cfg)->n_groups, 3);

	assert_int_equal(process_settings(cfg)->groups[0].line, 5);
	assert_string_equal(process_settings(cfg)->groups[0].name, "php-{1}");
	assert_string_equal(process_settings(cfg)->groups[0].comm, "php-fpm*");
	assert_string_equal(process_settings(cfg)->groups[0].exe, "/usr/sbin/*");
	assert_string_equal(process_settings(cfg)->groups[0].cmdline, "pool ([a-z]+)");
	assert_true(process_settings(cfg)->groups[0].pss);
	assert_int_equal(process_settings(cfg)->groups[0].nmatch, 2);

	assert_int_equal(process_settings(cfg)->groups[1].line, 10);
	assert_string_equal(process_settings(cfg)->groups[1].name, "{comm}");
	assert_string_equal(process_settings(cfg)->groups[1].comm, "python3");
	assert_null(process_settings(cfg)->groups[1].exe);
	assert_null(process_settings(cfg)->groups[1].cmdline);
	assert_false(process_settings(cfg)->groups[1].pss);

	assert_int_equal(process_settings(cfg)->groups[2].line, 12);
	assert_string_equal(process_settings(cfg)->groups[2].name, "{comm}");
	assert_null(process_settings(cfg)->groups[2].comm);

	assert_int_equal(process_settings(cfg)->needs, PROCESS_NEEDS_EXE | PROCESS_NEEDS_CMDLINE);
	config_free(cfg);
}

static void check_default_groups(const struct config *cfg)
{
	assert_int_equal(process_settings(cfg)->n_groups, 1);
	assert_string_equal(process_settings(cfg)->groups[0].name, "{comm}");
	assert_null(process_settings(cfg)->groups[0].comm);
	assert_null(process_settings(cfg)->groups[0].exe);
	assert_null(process_settings(cfg)->groups[0].cmdline);
	assert_false(process_settings(cfg)->groups[0].pss);
	assert_int_equal(process_settings(cfg)->needs, 0);
}

static void test_default(void **state)
{
	struct config *cfg = NULL;

	assert_int_equal(config_default("/p", "/s", &cfg), 0);
	check_default_groups(cfg);
	assert_null(cfg->path);
	assert_string_equal(cfg->procfs, "/p");
	assert_string_equal(cfg->sysfs, "/s");
	assert_true(process_settings(cfg)->pss_max_age == PROCESS_DEFAULT_PSS_MAX_AGE);
	config_free(cfg);

	assert_int_equal(config_default(NULL, NULL, &cfg), 0);
	assert_string_equal(cfg->procfs, "/proc");
	assert_string_equal(cfg->sysfs, "/sys");
	config_free(cfg);
	config_free(NULL);
}

/* Files that say nothing, or nothing about groups, give the default matcher. */
static void test_defaults_from_file(void **state)
{
	static const char *const texts[] = {
	    "",
	    "# only a comment\n",
	    "---\n",
	    "~\n",
	    "process:\n",
	    "process: {}\n",
	    "process:\n  # groups: []\n",
	};

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct config *cfg = load_ok(texts[i]);

		check_default_groups(cfg);
		assert_true(process_settings(cfg)->pss_max_age == PROCESS_DEFAULT_PSS_MAX_AGE);
		config_free(cfg);
	}

	struct config *cfg = load_ok("process:\n  pss_max_age: 500ms\n");

	check_default_groups(cfg);
	assert_true(process_settings(cfg)->pss_max_age == 0.5);
	config_free(cfg);
}

static void check_needs(const char *group, unsigned needs)
{
	char text[256];
	struct config *cfg;

	snprintf(text, sizeof(text), "process:\n  groups:\n    - %s\n", group);
	cfg = load_ok(text);
	if (process_settings(cfg)->needs != needs)
		fail_msg("%s: needs %#x, expected %#x", group, process_settings(cfg)->needs, needs);
	config_free(cfg);
}

static void test_needs(void **state)
{
	check_needs("comm: x", 0);
	check_needs("name: fixed", 0);
	check_needs("exe: x", PROCESS_NEEDS_EXE);
	check_needs("name: \"{exe}\"", PROCESS_NEEDS_EXE);
	check_needs("name: \"{exe_path}\"", PROCESS_NEEDS_EXE);
	check_needs("cmdline: x", PROCESS_NEEDS_CMDLINE);
	check_needs("{cmdline: \"(x)\", name: \"{1}\"}", PROCESS_NEEDS_CMDLINE);
	check_needs("name: \"{user}\"", PROCESS_NEEDS_USER);
	check_needs("name: \"{cgroup}\"", PROCESS_NEEDS_CGROUP);
	check_needs("name: \"{user}@{cgroup}:{exe}\"",
		    PROCESS_NEEDS_USER | PROCESS_NEEDS_CGROUP | PROCESS_NEEDS_EXE);
}

static void test_bools_and_aliases(void **state)
{
	struct config *cfg = load_ok("process:\n"
				     "  groups:\n"
				     "    - {comm: a, pss: True}\n"
				     "    - {comm: b, pss: FALSE}\n"
				     "    - {comm: &c \"x*\", pss: true}\n"
				     "    - {exe: *c}\n");

	assert_true(process_settings(cfg)->groups[0].pss);
	assert_false(process_settings(cfg)->groups[1].pss);
	assert_true(process_settings(cfg)->groups[2].pss);
	assert_string_equal(process_settings(cfg)->groups[3].exe, "x*");
	config_free(cfg);
}

static void test_error_keys(void **state)
{
	check_error("process: {}\nfoo: 1\n", 2, "unknown key \"foo\" in the top-level mapping");
	check_error("sessions:\n  files: []\n", 2,
		    "unknown key \"files\" in sessions (expected one of: dirs, tcp)");
	check_error(
	    "process:\n  pss_max_agee: 60s\n", 2,
	    "unknown key \"pss_max_agee\" in process (expected one of: pss_max_age, groups)");
	check_error("process:\n  groups:\n    - comm: a\n      regex: b\n", 4,
		    "unknown key \"regex\" in a process.groups entry");
	check_error("process: {}\nprocess: {}\n", 2,
		    "duplicate key \"process\" in the top-level mapping (first at line 1)");
	check_error("process:\n  groups:\n    - comm: a\n      comm: b\n", 4,
		    "duplicate key \"comm\" in a process.groups entry (first at line 3)");
	check_error("process:\n  groups:\n    - comm: a\n      pss: true\n      pss: false\n", 5,
		    "duplicate key \"pss\"");
	check_error("? [a, b]\n: c\n", 1, "a key must be a string, got a list");
}

static void test_error_types(void **state)
{
	check_error("- process\n", 1, "expected a mapping at the top level, got a list");
	check_error("just a string\n", 1, "expected a mapping at the top level, got a scalar");
	check_error("process: 5\n", 1, "process: expected a mapping, got a scalar");
	check_error("process:\n  groups: all\n", 2,
		    "groups: expected a list of groups, got a scalar");
	check_error("process:\n  groups:\n", 2, "groups: expected a list of groups, got nothing");
	check_error("process:\n  groups: []\n", 2, "groups: empty list");
	check_error("process:\n  groups:\n    - comm\n", 3,
		    "a process.groups entry: expected a mapping, got a scalar");
	check_error("process:\n  groups:\n    -\n", 3, "expected a mapping, got nothing");
	check_error("process:\n  groups:\n    - comm: [a, b]\n", 3,
		    "comm: expected a string, got a list");
	check_error("process:\n  groups:\n    - exe: {a: b}\n", 3,
		    "exe: expected a string, got a mapping");
	check_error("process:\n  groups:\n    - comm:\n", 3,
		    "comm: expected a string, got nothing");
	check_error("process:\n  groups:\n    - comm: \"\"\n", 3, "comm: must not be empty");
	check_error("process:\n  groups:\n    - comm: \"a\\0b\"\n", 3,
		    "comm: contains a NUL character");
	check_error("process:\n  groups:\n    - pss: maybe\n", 3,
		    "pss: expected true or false, got \"maybe\"");
	check_error("process:\n  groups:\n    - pss: yes\n", 3, "pss: expected true or false");
	check_error("process:\n  groups:\n    - pss: [true]\n", 3,
		    "pss: expected true or false, got a list");
	check_error("process:\n  pss_max_age: -5s\n", 2, "pss_max_age: invalid duration \"-5s\"");
	check_error("process:\n  pss_max_age: 5 minutes\n", 2, "invalid duration \"5 minutes\"");
	check_error("process:\n  pss_max_age: .nan\n", 2, "invalid duration");
	check_error("process:\n  pss_max_age:\n", 2,
		    "pss_max_age: expected a duration, got nothing");
	check_error("process:\n  pss_max_age: [60s]\n", 2, "expected a duration, got a list");
}

static void test_error_templates(void **state)
{
	check_error("process:\n  groups:\n    - name: \"\"\n", 3, "name: must not be empty");
	check_error("process:\n  groups:\n    - name:\n", 3,
		    "name: expected a string, got nothing");
	check_error("process:\n  groups:\n    - name: \"x-{foo}\"\n", 3,
		    "name: unknown placeholder \"{foo}\"");
	check_error("process:\n  groups:\n    - name: \"{10}\"\n      cmdline: \"(a)\"\n", 3,
		    "unknown placeholder \"{10}\"");
	check_error("process:\n  groups:\n    - name: \"{}\"\n", 3, "unknown placeholder \"{}\"");
	check_error("process:\n  groups:\n    - name: \"ab{comm\"\n", 3,
		    "name: unterminated \"{\" at column 3 of \"ab{comm\"");
	check_error("process:\n  groups:\n    - name: \"a}b\"\n", 3,
		    "name: single \"}\" at column 2");
	check_error(
	    "process:\n  groups:\n    - cmdline: \"pool ([a-z]+)\"\n\n      name: \"{2}\"\n", 5,
	    "name: {2} but cmdline \"pool ([a-z]+)\" has 1 capture group");
	check_error("process:\n  groups:\n    - {name: \"{1}\", cmdline: \"pool\"}\n", 3,
		    "has 0 capture groups");
	check_error("process:\n  groups:\n    - comm: x\n      name: \"{0}\"\n", 4,
		    "name: {0} needs a cmdline regex");

	/* The message carries the regex compiler's own reason. */
	check_error("process:\n  groups:\n    - comm: a\n    - cmdline: \"pool (\"\n", 4,
		    "cmdline: invalid regex \"pool (\": missing )");
	/* A bad regex after a good one: the first matcher is freed too. */
	check_error("process:\n  groups:\n    - cmdline: \"(ok)\"\n      name: \"{1}\"\n"
		    "    - cmdline: \"[z-a]\"\n",
		    5, "cmdline: invalid regex \"[z-a]\"");
}

/* Patterns whose repetitions would make regcomp exhaust memory are refused;
 * ordinary ones, bounded repetitions included, are not. */
static void test_error_regex_size(void **state)
{
	static const char *const ok[] = {
	    "^php-fpm: pool ([^ ]+)",
	    "([a-z0-9-]{1,63}\\\\.){1,10}[a-z]{2,}",
	    "(gunicorn|uwsgi).*[[:space:]]--bind[= ]([0-9.]+:[0-9]{1,5})",
	    "[[:alpha:]]]{2}x{,3}",
	    ")(a)",
	    "(((x+)+)+)+",
	};
	static const char *const bad[] = {
	    "((a{99}){99}){99}",
	    "a{32767}",
	    "(a*****++++++++++++++++++++++++++++++++++++++++++++++++++++++)",
	    "(((((((((((((((x+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+",
	};
	char text[8192], deep[300];
	struct config *cfg;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		snprintf(text, sizeof(text), "process:\n  groups:\n    - cmdline: \"%s\"\n", ok[i]);
		cfg = load_ok(text);
		config_free(cfg);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), "process:\n  groups:\n    - cmdline: \"%s\"\n",
			 bad[i]);
		check_error(text, 3, "is too complex");
	}

	/* Nesting deep enough to matter for a recursive parser. */
	memset(deep, '(', 100);
	memset(deep + 100, ')', 100);
	deep[200] = '\0';
	snprintf(text, sizeof(text), "process:\n  groups:\n    - cmdline: \"%s\"\n", deep);
	check_error(text, 3, "is too complex");

	/* Long, even when simple. */
	snprintf(text, sizeof(text), "process:\n  groups:\n    - cmdline: \"%05000d\"\n", 1);
	check_error(text, 3, "longer than 4096 bytes");
}

/* The name {N} takes from matching cmdline re against cmdline; "" when no match. */
static void re_name(const char *re, const char *cmdline, const char *name, const char *want)
{
	char text[1024], got[PROCESS_GROUP_NAME_MAX];
	struct proc_ident p = {.comm = "c", .cmdline = cmdline};
	struct config *cfg;

	snprintf(text, sizeof(text), "process:\n  groups:\n    - cmdline: '%s'\n      name: '%s'\n",
		 re, name);
	cfg = load_ok(text);
	if (process_match(cfg, &p, got, sizeof(got)) < 0)
		got[0] = '\0';
	assert_string_equal(got, want);
	config_free(cfg);
}

/* cmdline regexes keep glibc's POSIX extended semantics in the C locale:
 * leftmost-longest, bytes, newlines ordinary, "^" and "$" at the text's ends. */
static void test_regex_posix_semantics(void **state)
{
	char big[1 << 17];

	re_name("(a|ab)(c|bcd)", "xabcd", "{0}", "abcd"); /* longest, not first */
	re_name("pool ([^ ]+)", "php-fpm: pool www", "{1}", "www");
	re_name("a.b", "a\nb", "{0}", "a\nb"); /* '.' takes a newline */
	re_name("^b", "a\nb", "x", "");	       /* no multi-line '^' */
	/* Any byte is a character; names escape invalid UTF-8 and '\' (test_names_escaped). */
	re_name("x(.)y", "x\xffy", "{1}", "\\xff");
	re_name("[\\]+", "a\\\\b", "{0}", "\\\\\\\\"); /* '\' literal in brackets */
	re_name("ab{,2}", "abbbb", "{0}", "abb");      /* {,n}: at most n */
	re_name("a)", "xa)", "{0}", "a)");	       /* lone ')' is literal */
	re_name("[[:digit:]]+", "v12x", "{0}", "12");
	re_name("\\d+\\b", "v12 x", "{0}", "12");
	re_name("-jar [^ ]*/([^/ ]+)\\.jar", "java -jar /opt/app/shop.jar", "{1}", "shop");

	/* Linear time: these took glibc seconds. */
	for (size_t i = 0; i + 8 < sizeof(big); i += 8)
		memcpy(big + i, "gunicorn", 8);
	big[sizeof(big) - 8] = '\0';
	re_name("(gunicorn|uwsgi).*shop", big, "x", "");
	memset(big, 'a', sizeof(big) - 2);
	big[sizeof(big) - 2] = '!';
	big[sizeof(big) - 1] = '\0';
	re_name("(a+)+$", big, "x", "");
}

/* Names as the kernel holds them when UTF-8; escaped otherwise, never merged. */
static void test_names_escaped(void **state)
{
	static const struct {
		const char *comm, *name;
	} cases[] = {
	    {"caf\xc3\xa9-\xd0\xb6", "caf\xc3\xa9-\xd0\xb6"}, /* café-ж */
	    {"dup\xff", "dup\\xff"},
	    {"dup\xfe", "dup\\xfe"},
	    {"dup\\xff", "dup\\\\xff"},		 /* a real backslash: not the byte's escape */
	    {"bad\xc3(", "bad\\xc3("},		 /* a truncated sequence */
	    {"\xed\xa0\x80", "\\xed\\xa0\\x80"}, /* a surrogate */
	};
	struct config *cfg = load_ok("process:\n  groups:\n    - name: 'p-{comm}'\n");
	char name[PROCESS_GROUP_NAME_MAX], want[PROCESS_GROUP_NAME_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct proc_ident p = {.comm = cases[i].comm};

		assert_int_equal(match(cfg, &p, name), 0);
		snprintf(want, sizeof(want), "p-%s", cases[i].name);
		assert_string_equal(name, want);
	}
	config_free(cfg);
}

static void test_error_yaml(void **state)
{
	static const char bad_utf8[] = "process:\n  groups:\n    - comm: \"\xff\"\n";

	check_error(
	    "process:\n  pss_max_age: 60s\n groups: x\n", 3,
	    "invalid YAML: did not find expected key (while parsing a block mapping at line 1)");
	check_error("process:\n  groups: [\n", 3,
		    "invalid YAML: did not find expected node content");
	check_error("process:\n\tgroups: []\n", 2,
		    "invalid YAML: found character that cannot start");
	check_error("process: *nowhere\n", 1, "invalid YAML: found undefined alias");
	check_error_bytes(bad_utf8, sizeof(bad_utf8) - 1, 3, "invalid YAML: invalid leading UTF-8");
	check_error("process: {}\n---\nprocess: {}\n", 3, "more than one YAML document");
}

static void test_error_files(void **state)
{
	char err[256], dir[] = "/tmp/memtide-test-dir-XXXXXX";
	struct config *cfg = NULL;
	char *big;
	size_t bigsize = (1u << 20) + 100;
	char path[64];

	assert_int_equal(
	    config_load("/nonexistent/memtide.yml", NULL, NULL, &cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/memtide.yml: No such file or directory");
	assert_null(cfg);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(config_load(dir, NULL, NULL, &cfg, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, ": Is a directory"));
	rmdir(dir);

	if (geteuid() != 0) {
		write_tmp(path, sizeof(path), "process: {}\n", 12);
		chmod(path, 0);
		assert_int_equal(config_load(path, NULL, NULL, &cfg, err, sizeof(err)), -EACCES);
		assert_non_null(strstr(err, ": Permission denied"));
		unlink(path);
	}

	/* A config is small; a huge file is the wrong file. */
	big = malloc(bigsize);
	assert_non_null(big);
	memset(big, '#', bigsize);
	assert_int_equal(load_bytes(big, bigsize, &cfg, path, sizeof(path), err, sizeof(err)),
			 -EFBIG);
	free(big);

	/* A message longer than the buffer is cut, still terminated. */
	assert_int_equal(config_load("/nonexistent/memtide.yml", NULL, NULL, &cfg, err, 10),
			 -ENOENT);
	assert_string_equal(err, "/nonexist");
	assert_int_equal(config_load("/nonexistent/memtide.yml", NULL, NULL, &cfg, NULL, 0),
			 -ENOENT);
}

/* A value from the file is quoted and cut in messages, control bytes escaped. */
static void test_error_quoting(void **state)
{
	char text[512], path[64], err[512];
	struct config *cfg;

	snprintf(text, sizeof(text), "process:\n  groups:\n    - pss: \"%0300d\\x01\"\n", 7);
	assert_int_equal(load_bytes(text, strlen(text), &cfg, path, sizeof(path), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "...\""));
	assert_true(strlen(err) < 200);

	check_error("process:\n  groups:\n    - pss: \"a\\tb\\\"\"\n", 3, "got \"a\\x09b\\\"\"");
}

/* clang-format off */
static const struct proc_ident fpm = {
	.comm = "php-fpm8.2",
	.exe = "/usr/sbin/php-fpm8.2",
	.cmdline = "php-fpm: pool www",
	.user = "www-data",
	.cgroup = "/system.slice/php8.2-fpm.service",
};
/* clang-format on */

/* clang-format off */
static const struct proc_ident py = {
	.comm = "python3",
	.exe = "/usr/bin/python3.11",
	.cmdline = "/usr/bin/python3 /srv/app/manage.py runserver",
	.user = "app",
	.cgroup = "/system.slice/app.service",
};
/* clang-format on */

static void test_match_first_wins(void **state)
{
	struct config *cfg =
	    load_ok("process:\n"
		    "  groups:\n"
		    "    - {comm: \"php-fpm*\", cmdline: \"pool ([a-z]+)\", name: \"php-{1}\"}\n"
		    "    - {comm: \"php*\", name: \"other-php\"}\n"
		    "    - {name: \"{comm}\"}\n");
	char name[PROCESS_GROUP_NAME_MAX];
	struct proc_ident master = fpm;

	assert_int_equal(match(cfg, &fpm, name), 0);
	assert_string_equal(name, "php-www");

	/* The master's cmdline has no pool: the second group takes it. */
	master.cmdline = "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)";
	assert_int_equal(match(cfg, &master, name), 1);
	assert_string_equal(name, "other-php");

	assert_int_equal(match(cfg, &py, name), 2);
	assert_string_equal(name, "python3");
	config_free(cfg);
}

static void test_match_and(void **state)
{
	struct config *cfg =
	    load_ok("process:\n"
		    "  groups:\n"
		    "    - {comm: \"python*\", cmdline: \"manage\\\\.py\", name: django}\n");
	char name[PROCESS_GROUP_NAME_MAX];
	struct proc_ident p = py;

	assert_int_equal(match(cfg, &py, name), 0);
	assert_string_equal(name, "django");
	p.comm = "python2";
	p.cmdline = "python2 other.py";
	assert_int_equal(match(cfg, &p, name), -1);
	assert_string_equal(name, "");
	p = py;
	p.comm = "ruby";
	assert_int_equal(match(cfg, &p, name), -1);
	config_free(cfg);
}

static void test_match_exe(void **state)
{
	struct config *cfg = load_ok("process:\n"
				     "  groups:\n"
				     "    - {exe: \"/usr/sbin/*\", name: \"sbin-{exe}\"}\n"
				     "    - {exe: \"python3*\", name: \"{exe_path}\"}\n"
				     "    - {exe: \"bin/*\", name: never}\n");
	char name[PROCESS_GROUP_NAME_MAX];
	struct proc_ident p = py;

	assert_int_equal(match(cfg, &fpm, name), 0);
	assert_string_equal(name, "sbin-php-fpm8.2");
	/* No '/' in the glob: it sees the basename. */
	assert_int_equal(match(cfg, &py, name), 1);
	assert_string_equal(name, "/usr/bin/python3.11");
	/* With a slash, the whole path must match, not a suffix of it... */
	p.exe = "/opt/bin/tool";
	assert_int_equal(match(cfg, &p, name), -1);
	p.exe = "bin/tool";
	assert_int_equal(match(cfg, &p, name), 2);
	/* ...and '*' crosses '/' (fnmatch without FNM_PATHNAME). */
	p.exe = "/usr/sbin/php/fpm";
	assert_int_equal(match(cfg, &p, name), 0);
	assert_string_equal(name, "sbin-fpm");
	p.exe = "python3";
	assert_int_equal(match(cfg, &p, name), 1);
	assert_string_equal(name, "python3");
	config_free(cfg);
}

static void test_match_captures(void **state)
{
	struct config *cfg = load_ok("process:\n"
				     "  groups:\n"
				     "    - cmdline: \"^python3 (-m ([a-z.]+) )?.*app=([a-z]+)\"\n"
				     "      name: \"{3}:{2}:[{0}]\"\n");
	char name[PROCESS_GROUP_NAME_MAX];
	struct proc_ident p = {.comm = "python3"};

	p.cmdline = "python3 -m gunicorn app=shop";
	assert_int_equal(match(cfg, &p, name), 0);
	assert_string_equal(name, "shop:gunicorn:[python3 -m gunicorn app=shop]");
	/* An optional group that did not take part expands to nothing. */
	p.cmdline = "python3 serve.py app=blog";
	assert_int_equal(match(cfg, &p, name), 0);
	assert_string_equal(name, "blog::[python3 serve.py app=blog]");
	p.cmdline = NULL;
	assert_int_equal(match(cfg, &p, name), -1);
	config_free(cfg);
}

static void test_match_literals(void **state)
{
	struct config *cfg = load_ok("process:\n"
				     "  groups:\n"
				     "    - name: \"{{{comm}}} {{x}} }}{{ {user}@{cgroup}\"\n");
	char name[PROCESS_GROUP_NAME_MAX];

	assert_int_equal(match(cfg, &py, name), 0);
	assert_string_equal(name, "{python3} {x} }{ app@/system.slice/app.service");
	config_free(cfg);
}

static void test_match_null_fields(void **state)
{
	struct config *cfg =
	    load_ok("process:\n"
		    "  groups:\n"
		    "    - {exe: \"*\", name: exe}\n"
		    "    - {comm: \"*\", name: \"{user}\"}\n"
		    "    - {name: \"[{comm}|{exe}|{exe_path}|{user}|{cgroup}]\"}\n");
	char name[PROCESS_GROUP_NAME_MAX];
	struct proc_ident p = {.comm = "kthreadd"};

	/* No exe: the first group's condition cannot hold. No user: the
	 * second group's name is empty, which is "not reported", and the
	 * third group is not tried. */
	assert_int_equal(match(cfg, &p, name), -1);
	assert_string_equal(name, "");
	p.user = "root";
	assert_int_equal(match(cfg, &p, name), 1);
	assert_string_equal(name, "root");
	/* No comm either: the last group matches, with empty fields. */
	p = (struct proc_ident){.user = NULL};
	assert_int_equal(match(cfg, &p, name), 2);
	assert_string_equal(name, "[||||]");
	config_free(cfg);

	assert_int_equal(config_default(NULL, NULL, &cfg), 0);
	assert_int_equal(match(cfg, &p, name), -1);
	assert_int_equal(match(cfg, &py, name), 0);
	assert_string_equal(name, "python3");
	config_free(cfg);
}

static void test_match_cut(void **state)
{
	char text[600], name[PROCESS_GROUP_NAME_MAX + 64], expected[PROCESS_GROUP_NAME_MAX];
	char longcomm[400];
	struct config *cfg;
	struct proc_ident p = {.comm = longcomm};

	memset(longcomm, 'c', sizeof(longcomm) - 1);
	longcomm[sizeof(longcomm) - 1] = '\0';
	cfg = load_ok("process:\n  groups:\n    - name: \"x{comm}\"\n");

	/* A bigger buffer does not lift the cap. */
	memset(name, 0x55, sizeof(name));
	assert_int_equal(process_match(cfg, &p, name, sizeof(name)), 0);
	assert_int_equal(strlen(name), PROCESS_GROUP_NAME_MAX - 1);
	assert_int_equal(name[0], 'x');
	assert_int_equal((unsigned char)name[PROCESS_GROUP_NAME_MAX], 0x55);

	/* A smaller buffer cuts earlier and is never overrun. */
	memset(name, 0x55, sizeof(name));
	assert_int_equal(process_match(cfg, &p, name, 8), 0);
	assert_string_equal(name, "xcccccc");
	assert_int_equal((unsigned char)name[8], 0x55);
	assert_int_equal(process_match(cfg, &p, name, 2), 0);
	assert_string_equal(name, "x");
	/* Room for the NUL only: the name is empty, so nothing is reported. */
	assert_int_equal(process_match(cfg, &p, name, 1), -1);
	assert_string_equal(name, "");
	assert_int_equal(process_match(cfg, &p, name, 0), -1);
	config_free(cfg);

	/* A cut never leaves half a UTF-8 character: "é" is two bytes. */
	snprintf(text, sizeof(text),
		 "process:\n  groups:\n    - name: \"ab\xc3\xa9\xc3\xa9{comm}\"\n");
	cfg = load_ok(text);
	assert_int_equal(process_match(cfg, &p, name, 4), 0);
	assert_string_equal(name, "ab");
	assert_int_equal(process_match(cfg, &p, name, 5), 0);
	assert_string_equal(name, "ab\xc3\xa9");
	assert_int_equal(process_match(cfg, &p, name, 6), 0);
	assert_string_equal(name, "ab\xc3\xa9");
	assert_int_equal(process_match(cfg, &p, name, 7), 0);
	assert_string_equal(name, "ab\xc3\xa9\xc3\xa9");
	config_free(cfg);

	/* A long literal is cut the same way. */
	memset(expected, 'L', sizeof(expected) - 1);
	expected[sizeof(expected) - 1] = '\0';
	snprintf(text, sizeof(text), "process:\n  groups:\n    - name: %.200s%.200s\n", expected,
		 expected);
	cfg = load_ok(text);
	assert_int_equal(match(cfg, &py, name), 0);
	assert_string_equal(name, expected);
	config_free(cfg);
}

static void check_duration(const char *s, double want)
{
	double got = -1;

	if (config_parse_duration(s, &got) || fabs(got - want) > 1e-9)
		fail_msg("\"%s\": got %g, expected %g", s, got, want);
}

static void test_durations(void **state)
{
	static const char *const bad[] = {
	    "",	     "-5s",  "+5s",  "s",     "5x",	"5 s", " 5s",  "5s ", "1h30",
	    "30m1h", "1m1m", "1.h",  "1..5s", "1e3s",	"1e3", "0x10", "inf", "nan",
	    "NaN",   "5sm",  "5mss", "1d1d",  "1.5.5s", ".",   "5S",
	};
	char huge[400];
	double v = 42;

	check_duration("60s", 60);
	check_duration("24m", 1440);
	check_duration("1h30m", 5400);
	check_duration("1.5h", 5400);
	check_duration("500ms", 0.5);
	check_duration("2d", 172800);
	check_duration("60", 60);
	check_duration("0", 0);
	check_duration("0s", 0);
	check_duration("2.25", 2.25);
	check_duration(".5s", 0.5);
	check_duration("1d2h3m4s5ms", 93784.005);
	check_duration("1m500ms", 60.5);
	check_duration("0.1s", 0.1);
	check_duration("1.0000000000000000000000001s", 1);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (config_parse_duration(bad[i], &v) != -EINVAL)
			fail_msg("\"%s\" was accepted as %g", bad[i], v);
		assert_true(v == 42); /* untouched on failure */
	}
	assert_int_equal(config_parse_duration(NULL, &v), -EINVAL);

	/* Too large for a double: infinity is not a duration. */
	memset(huge, '9', sizeof(huge) - 2);
	huge[sizeof(huge) - 2] = 'd';
	huge[sizeof(huge) - 1] = '\0';
	assert_int_equal(config_parse_duration(huge, &v), -EINVAL);
}

static void test_sessions(void **state)
{
	struct config *cfg = load_ok("sessions:\n"
				     "  dirs:\n"
				     "    - pool: php\n"
				     "      path: /var/lib/php/sessions\n"
				     "      match: \"sess_*\"\n"
				     "      ttl: 24m\n"
				     "    - {pool: app, path: /srv/app/sessions, ttl: 1.5h}\n"
				     "  tcp:\n"
				     "    pool: web\n"
				     "    ports: [443, 80, 65535, 1]\n"
				     "    method: procfs\n");

	assert_int_equal(sessdir_settings(cfg)->n_dirs, 2);
	assert_int_equal(sessdir_settings(cfg)->dirs[0].line, 3);
	assert_string_equal(sessdir_settings(cfg)->dirs[0].pool, "php");
	assert_string_equal(sessdir_settings(cfg)->dirs[0].path, "/var/lib/php/sessions");
	assert_string_equal(sessdir_settings(cfg)->dirs[0].match, "sess_*");
	assert_true(sessdir_settings(cfg)->dirs[0].ttl == 1440.0);
	assert_int_equal(sessdir_settings(cfg)->dirs[1].line, 7);
	assert_string_equal(sessdir_settings(cfg)->dirs[1].match, "*");
	assert_true(sessdir_settings(cfg)->dirs[1].ttl == 5400.0);
	assert_string_equal(tcp_settings(cfg)->pool, "web");
	assert_int_equal(tcp_settings(cfg)->n_ports, 4);
	assert_int_equal(tcp_settings(cfg)->ports[0], 443);
	assert_int_equal(tcp_settings(cfg)->ports[1], 80);
	assert_int_equal(tcp_settings(cfg)->ports[2], 65535);
	assert_int_equal(tcp_settings(cfg)->ports[3], 1);
	assert_int_equal(tcp_settings(cfg)->method, TCP_METHOD_PROCFS);
	/* The process groups keep their default. */
	assert_int_equal(process_settings(cfg)->n_groups, 1);
	config_free(cfg);

	cfg = load_ok("sessions:\n  tcp: {pool: web, ports: [8080], method: netlink}\n");
	assert_int_equal(sessdir_settings(cfg)->n_dirs, 0);
	assert_int_equal(tcp_settings(cfg)->method, TCP_METHOD_NETLINK);
	config_free(cfg);
	cfg = load_ok("sessions:\n  tcp: {pool: web, ports: [\"8080\"]}\n");
	assert_int_equal(tcp_settings(cfg)->ports[0], 8080);
	assert_int_equal(tcp_settings(cfg)->method, TCP_METHOD_AUTO);
	config_free(cfg);
}

static void test_sessions_absent(void **state)
{
	static const char *const texts[] = {
	    "process: {}\n",
	    "sessions:\n",
	    "sessions: {}\n",
	    "sessions:\n  dirs:\n  tcp:\n",
	};

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct config *cfg = load_ok(texts[i]);

		assert_int_equal(sessdir_settings(cfg)->n_dirs, 0);
		assert_null(sessdir_settings(cfg)->dirs);
		assert_null(tcp_settings(cfg)->pool);
		assert_int_equal(tcp_settings(cfg)->n_ports, 0);
		config_free(cfg);
	}
}

static void test_error_sessions(void **state)
{
	check_error("sessions: [a]\n", 1, "sessions: expected a mapping, got a list");
	check_error("sessions:\n  dirs: /tmp\n", 2,
		    "dirs: expected a list of directories, got a scalar");
	check_error("sessions:\n  dirs: []\n", 2, "dirs: empty list");
	check_error("sessions:\n  dirs:\n    - /tmp\n", 3,
		    "a sessions.dirs entry: expected a mapping, got a scalar");
	check_error("sessions:\n  dirs:\n    - {pool: a, path: /tmp, ttl: 1m, glob: x}\n", 3,
		    "unknown key \"glob\" in a sessions.dirs entry (expected one of: pool, path, "
		    "match, ttl)");
	check_error("sessions:\n  dirs:\n    - path: /tmp\n      ttl: 1m\n", 3,
		    "a sessions.dirs entry: missing required key \"pool\"");
	check_error("sessions:\n  dirs:\n    - pool: a\n      ttl: 1m\n", 3,
		    "a sessions.dirs entry: missing required key \"path\"");
	check_error("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n", 3,
		    "a sessions.dirs entry: missing required key \"ttl\"");
	check_error("sessions:\n  dirs:\n    - pool: a\n      path: tmp/s\n      ttl: 1m\n", 4,
		    "path: must be absolute, got \"tmp/s\"");
	check_error("sessions:\n  dirs:\n    - pool: \"\"\n      path: /tmp\n      ttl: 1m\n", 3,
		    "pool: must not be empty");
	check_error("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n      match: [x]\n"
		    "      ttl: 1m\n",
		    5, "match: expected a string, got a list");
	check_error("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n      ttl: -1m\n", 5,
		    "ttl: invalid duration \"-1m\"");
	check_error("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n      ttl: 0\n", 5,
		    "ttl: must be more than 0");
	check_error("sessions:\n  dirs:\n    - pool: a\n      path: /tmp\n      ttl:\n", 5,
		    "ttl: expected a duration, got nothing");
	check_error("sessions:\n  dirs:\n    - {pool: a, path: /tmp, ttl: 1m}\n"
		    "    - {pool: b, path: /tmp, ttl: 1m}\n    - {pool: a, path: /var, ttl: 1m}\n",
		    5, "pool: \"a\" is already the pool of the sessions.dirs entry at line 3");
	check_error("sessions:\n  dirs:\n    - {pool: a, pool: b, path: /tmp, ttl: 1m}\n", 3,
		    "duplicate key \"pool\" in a sessions.dirs entry");
}

static void test_error_tcp(void **state)
{
	check_error("sessions:\n  tcp: [80]\n", 2, "sessions.tcp: expected a mapping, got a list");
	check_error("sessions:\n  tcp:\n    ports: [80]\n", 3,
		    "sessions.tcp: missing required key \"pool\"");
	check_error("sessions:\n  tcp:\n    pool: web\n", 3,
		    "sessions.tcp: missing required key \"ports\"");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: 80\n", 4,
		    "ports: expected a list of ports, got a scalar");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: []\n", 4, "ports: empty list");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports:\n      - 80\n      - 65536\n", 6,
		    "ports: expected a port 1..65535, got \"65536\"");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [0]\n", 4,
		    "ports: expected a port 1..65535, got \"0\"");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [-1]\n", 4,
		    "ports: expected a port 1..65535, got \"-1\"");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [0x50]\n", 4,
		    "ports: expected a port 1..65535, got \"0x50\"");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [123456789012]\n", 4,
		    "ports: expected a port 1..65535, got \"123456789012\"");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [[80]]\n", 4,
		    "ports: expected a port 1..65535, got a list");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [80, ~]\n", 4,
		    "ports: expected a port 1..65535, got nothing");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports:\n      - 80\n      - 443\n"
		    "      - 80\n",
		    7, "ports: duplicate port 80 (first at line 5)");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [80]\n    method: raw\n", 5,
		    "method: expected auto, netlink or procfs, got \"raw\"");
	check_error("sessions:\n  tcp:\n    pool: web\n    ports: [80]\n    port: 81\n", 5,
		    "unknown key \"port\" in sessions.tcp (expected one of: pool, ports, method)");
	check_error("sessions:\n  tcp:\n    pool: [web]\n    ports: [80]\n", 3,
		    "pool: expected a string, got a list");
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_regex_posix_semantics),
		cmocka_unit_test(test_names_escaped),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_defaults_from_file),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_bools_and_aliases),
		cmocka_unit_test(test_error_keys),
		cmocka_unit_test(test_error_types),
		cmocka_unit_test(test_error_templates),
		cmocka_unit_test(test_error_regex_size),
		cmocka_unit_test(test_error_yaml),
		cmocka_unit_test(test_error_files),
		cmocka_unit_test(test_error_quoting),
		cmocka_unit_test(test_match_first_wins),
		cmocka_unit_test(test_match_and),
		cmocka_unit_test(test_match_exe),
		cmocka_unit_test(test_match_captures),
		cmocka_unit_test(test_match_literals),
		cmocka_unit_test(test_match_null_fields),
		cmocka_unit_test(test_match_cut),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_sessions_absent),
		cmocka_unit_test(test_error_sessions),
		cmocka_unit_test(test_error_tcp),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
