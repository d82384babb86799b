/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for cgroup_limit: resolving cgroup paths seen from a cgroup
 * namespace against the cgroup mount, and limits read from a fake sysfs tree
 * with a fake mount table.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "collectors/cgroup_limit.h"
#include "exporter/log.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* ---- cgroup_path_resolve ---- */

/* Asserts that path resolves to want below a mount whose root is mount_root. */
static void check_resolves(const char *path, const char *mount_root, const char *want)
{
	char buf[256];
	int rc = cgroup_path_resolve(path, mount_root, buf, sizeof(buf));

	if (rc != 0)
		fail_msg("%s from %s: %d, expected %s", path, mount_root, rc, want);
	assert_string_equal(buf, want);
}

static void check_fails(const char *path, const char *mount_root, int want)
{
	char buf[256];
	int rc = cgroup_path_resolve(path, mount_root, buf, sizeof(buf));

	if (rc != want)
		fail_msg("%s from %s: %d, expected %d", path, mount_root, rc, want);
}

static void test_resolve_plain(void **state)
{
	check_resolves("/", "/", "/");
	check_resolves("/system.slice/nginx.service", "/", "/system.slice/nginx.service");
	check_resolves("/init.scope", "/", "/init.scope");
	/* Names that only start with dots are names. */
	check_resolves("/..x/.hidden/...", "/", "/..x/.hidden/...");
}

/* The host's mount seen from a namespace three levels below the host's root. */
static void test_resolve_climbing_out(void **state)
{
	const char *host = "/../../..";

	check_resolves("/../../../system.slice/nginx.service", host, "/system.slice/nginx.service");
	check_resolves("/../../../init.scope", host, "/init.scope");
	check_resolves("/../../..", host, "/");
	check_resolves("/..", "/..", "/");
	check_resolves("/../sibling/a", "/..", "/sibling/a");
}

static void test_resolve_climbing_too_far(void **state)
{
	check_fails("/../../../../etc", "/../../..", -ENOENT);
	check_fails("/../../../..", "/../../..", -ENOENT);
	/* The namespace's own mount reaches nothing outside the namespace. */
	check_fails("/../system.slice/nginx.service", "/", -ENOENT);
	check_fails("/..", "/", -ENOENT);
}

/* Below the mount root, but by names invisible from inside the namespace. */
static void test_resolve_climbing_too_little(void **state)
{
	const char *host = "/../../..";

	check_fails("/", host, -ENOENT);
	check_fails("/app", host, -ENOENT);
	check_fails("/../../sibling", host, -ENOENT);
}

static void test_resolve_rejects_odd_components(void **state)
{
	const char *bad[] = {"",       "system.slice", "/a/../b",  "/../a/..", "/../../a/../../..",
			     "/a/./b", "/./a",	       "/.",	   "/a//b",    "//",
			     "/a/",    "/../",	       "/../../.", "/../a/./b"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		check_fails(bad[i], "/", -EINVAL);
		check_fails(bad[i], "/../../..", -EINVAL);
	}
	check_fails("/a", "/x/../y", -EINVAL);
	check_fails("/a", "", -EINVAL);
}

/* A mount of a subtree: the host's /x, from a namespace one level below the host's root. */
static void test_resolve_mount_of_a_subtree(void **state)
{
	check_resolves("/../x/y/z", "/../x", "/y/z");
	check_resolves("/../x", "/../x", "/");
	check_fails("/../xy/z", "/../x", -ENOENT);
	check_fails("/../y", "/../x", -ENOENT);
	check_fails("/x/y", "/../x", -ENOENT);
	check_resolves("/x/y", "/x", "/y");
	check_fails("/xy", "/x", -ENOENT);
}

static void test_resolve_buffer_too_small(void **state)
{
	char buf[10];

	assert_int_equal(cgroup_path_resolve("/../a/bcdefgh", "/..", buf, sizeof(buf)),
			 -ENAMETOOLONG);
	assert_int_equal(cgroup_path_resolve("/../a/bcdefg", "/..", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a/bcdefg");
	assert_int_equal(cgroup_path_resolve("/", "/", buf, 1), -ENAMETOOLONG);
}

/* ---- lookups in a fake sysfs ---- */

/* snprintf that tells whether everything fit. */
__attribute__((format(printf, 3, 4))) static bool fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

/* A temp dir (with a space, which mountinfo escapes) holding sys/ and mountinfo. */
struct tree {
	char base[PATH_MAX];
	char sysfs[PATH_MAX];
	char mountinfo[PATH_MAX];
};

static void make_dirs(const char *base, const char *rel)
{
	char path[PATH_MAX];

	assert_true(fmt(path, sizeof(path), "%s/%s", base, rel));
	for (char *p = path + strlen(base) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* Writes text to base/rel, making the directories on the way. */
static void put(const struct tree *t, const char *rel, const char *text)
{
	char path[PATH_MAX], dir[PATH_MAX];
	char *slash;
	FILE *f;

	assert_true(fmt(dir, sizeof(dir), "%s", rel));
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		make_dirs(t->base, dir);
	}
	assert_true(fmt(path, sizeof(path), "%s/%s", t->base, rel));
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Escapes a mount point as the kernel does in mountinfo. */
static void escape(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s && n + 5 < len; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
			n += (size_t)sprintf(out + n, "\\%03o", (unsigned char)*s);
		else
			out[n++] = *s;
	}
	assert_int_equal(*s, '\0');
	out[n] = '\0';
}

/* A mount table listing, besides others, a mount at sys/fs/cgroup<sub> of type fstype. */
static void put_mountinfo(const struct tree *t, const char *sub, const char *root,
			  const char *fstype)
{
	char point[PATH_MAX], escaped[3 * PATH_MAX], text[4 * PATH_MAX];

	assert_true(fmt(point, sizeof(point), "%s/fs/cgroup%s", t->sysfs, sub));
	escape(point, escaped, sizeof(escaped));
	assert_true(fmt(text, sizeof(text),
			"22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
			"23 22 0:22 / /sys rw,nosuid shared:2 - sysfs sysfs rw\n"
			"24 23 0:23 %s /sys/fs/cgroup rw,nosuid shared:3 - %s cgroup rw\n"
			"31 22 0:23 %s %s ro,nosuid shared:7 master:3 - %s cgroup rw,nsdelegate\n",
			root, fstype, root, escaped, fstype));
	put(t, "mountinfo", text);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	char tmpl[] = "/tmp/memtide test-cgroup-XXXXXX";

	if (!t || !mkdtemp(tmpl) || !realpath(tmpl, t->base)) {
		free(t);
		return -1;
	}
	*state = t;
	if (!fmt(t->sysfs, sizeof(t->sysfs), "%s/sys", t->base) ||
	    !fmt(t->mountinfo, sizeof(t->mountinfo), "%s/mountinfo", t->base))
		return -1;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	int rc = nftw(t->base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(t);
	return rc;
}

/*
 * A cgroup v2 host: nginx limited to 256 MiB below an unlimited system.slice;
 * a pod limited to 1 GiB whose container asks for 2 GiB; and a limit file
 * just above the mount, which no path may reach.
 */
static void put_v2_host(const struct tree *t)
{
	put(t, "sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
	put(t, "sys/fs/cgroup/system.slice/memory.max", "max\n");
	put(t, "sys/fs/cgroup/system.slice/nginx.service/memory.max", "268435456\n");
	put(t, "sys/fs/cgroup/kubepods.slice/memory.max", "1073741824\n");
	put(t, "sys/fs/cgroup/kubepods.slice/pod1/memory.max", "max\n");
	put(t, "sys/fs/cgroup/kubepods.slice/pod1/ctr/memory.max", "2147483648\n");
	put(t, "sys/fs/cgroup/init.scope/cgroup.procs", "1\n");
	put(t, "sys/fs/memory.max", "4096\n");
	put(t, "sys/memory.max", "4096\n");
}

static struct cgroup_limits *open_limits(const struct tree *t)
{
	struct cgroup_limits *cl = NULL;

	assert_int_equal(cgroup_limits_new_at(t->sysfs, t->mountinfo, &cl), 0);
	assert_non_null(cl);
	return cl;
}

static void check_limit(struct cgroup_limits *cl, const char *field, double want)
{
	double got = cgroup_limits_lookup(cl, field);

	if (got != want)
		fail_msg("%s: limit %.0f, expected %.0f", field, got, want);
}

/* The exporter in a pod, reading the host's mount: what climbs out is found. */
static void test_lookup_host_mount_from_a_namespace(void **state)
{
	struct tree *t = *state;
	struct cgroup_limits *cl;

	put_v2_host(t);
	put_mountinfo(t, "", "/../../..", "cgroup2");
	cl = open_limits(t);
	check_limit(cl, "0::/../../../system.slice/nginx.service", 256.0 * 1024 * 1024);
	check_limit(cl, "0::/../../../system.slice", 0);
	check_limit(cl, "0::/../../../init.scope", 0);
	/* The tightest limit on the way up counts, not the process's own. */
	check_limit(cl, "0::/../../../kubepods.slice/pod1/ctr", GIB);
	check_limit(cl, "1:name=systemd:/x,0::/../../../kubepods.slice/pod1", GIB);
	/* Unreachable: too far, too little, odd components. */
	check_limit(cl, "0::/../../../..", 0);
	check_limit(cl, "0::/../../../../memory.max", 0);
	check_limit(cl, "0::/system.slice/nginx.service", 0);
	check_limit(cl, "0::/../system.slice/nginx.service", 0);
	check_limit(cl, "0::/../../../system.slice/../kubepods.slice", 0);
	check_limit(cl, "-", 0);
	check_limit(cl, "", 0);
	cgroup_limits_free(cl);
}

/* The namespace's own mount, or a host without namespaces: paths as they are. */
static void test_lookup_own_mount(void **state)
{
	struct tree *t = *state;
	struct cgroup_limits *cl;

	put_v2_host(t);
	put_mountinfo(t, "", "/", "cgroup2");
	cl = open_limits(t);
	check_limit(cl, "0::/system.slice/nginx.service", 256.0 * 1024 * 1024);
	check_limit(cl, "0::/kubepods.slice/pod1/ctr", GIB);
	check_limit(cl, "0::/no/such/cgroup", 0);
	check_limit(cl, "0::/../../../system.slice/nginx.service", 0);
	check_limit(cl, "0::/..", 0);
	check_limit(cl, "0::/../..", 0);
	cgroup_limits_free(cl);
}

/* Without word from the mount table the mount is the namespace root, as before. */
static void test_lookup_without_mount_entry(void **state)
{
	struct tree *t = *state;
	const char *fstypes[] = {"tmpfs", NULL};
	struct cgroup_limits *cl;

	put_v2_host(t);
	for (size_t i = 0; i < 2; i++) {
		if (fstypes[i])
			put_mountinfo(t, "", "/../../..", fstypes[i]); /* not a cgroup mount */
		else
			assert_int_equal(unlink(t->mountinfo), 0); /* no table at all */
		cl = open_limits(t);
		check_limit(cl, "0::/system.slice/nginx.service", 256.0 * 1024 * 1024);
		check_limit(cl, "0::/../../../system.slice/nginx.service", 0);
		check_limit(cl, "0::/..", 0);
		cgroup_limits_free(cl);
	}
}

/* Mounts listed later cover earlier ones at the same point. */
static void test_lookup_last_mount_wins(void **state)
{
	struct tree *t = *state;
	char point[PATH_MAX], escaped[3 * PATH_MAX], text[4 * PATH_MAX];
	struct cgroup_limits *cl;

	put_v2_host(t);
	assert_true(fmt(point, sizeof(point), "%s/fs/cgroup", t->sysfs));
	escape(point, escaped, sizeof(escaped));
	assert_true(fmt(text, sizeof(text),
			"30 22 0:23 / %s rw - cgroup2 cgroup2 rw\n"
			"31 22 0:23 /.. %s rw - cgroup2 cgroup2 rw\n",
			escaped, escaped));
	put(t, "mountinfo", text);
	cl = open_limits(t);
	check_limit(cl, "0::/../system.slice/nginx.service", 256.0 * 1024 * 1024);
	check_limit(cl, "0::/system.slice/nginx.service", 0);
	cgroup_limits_free(cl);
}

/* Only the v1 memory controller: its own entry and its own mount. */
static void test_lookup_v1(void **state)
{
	struct tree *t = *state;
	struct cgroup_limits *cl;

	put(t, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
	put(t, "sys/fs/cgroup/memory/a/memory.limit_in_bytes", "536870912\n");
	put(t, "sys/fs/cgroup/memory/a/b/memory.limit_in_bytes", "9223372036854771712\n");
	put(t, "sys/fs/cgroup/memory/c/memory.limit_in_bytes", "9223372036854771712\n");
	put_mountinfo(t, "/memory", "/../..", "cgroup");
	cl = open_limits(t);
	check_limit(cl, "5:cpu,cpuacct:/x,4:memory:/../../a/b,0::/", 512.0 * 1024 * 1024);
	check_limit(cl, "4:memory:/../../c", 0);
	check_limit(cl, "4:memory:/../../..", 0);
	check_limit(cl, "4:memory:/a", 0);
	check_limit(cl, "0::/../../a", 0);
	cgroup_limits_free(cl);
}

/* A limit is read once per scrape: changes show after a reset. */
static void test_lookup_cached_until_reset(void **state)
{
	struct tree *t = *state;
	struct cgroup_limits *cl;

	put_v2_host(t);
	put_mountinfo(t, "", "/../../..", "cgroup2");
	cl = open_limits(t);
	check_limit(cl, "0::/../../../system.slice/nginx.service", 256.0 * 1024 * 1024);
	put(t, "sys/fs/cgroup/system.slice/nginx.service/memory.max", "max\n");
	check_limit(cl, "0::/../../../system.slice/nginx.service", 256.0 * 1024 * 1024);
	cgroup_limits_reset(cl);
	check_limit(cl, "0::/../../../system.slice/nginx.service", 0);
	cgroup_limits_free(cl);
}

/* Many distinct cgroups: past the cache's probes, lookups still answer. */
static void test_lookup_many_cgroups(void **state)
{
	struct tree *t = *state;
	struct cgroup_limits *cl;
	char field[64];

	put_v2_host(t);
	put_mountinfo(t, "", "/../../..", "cgroup2");
	cl = open_limits(t);
	for (int i = 0; i < 3000; i++) {
		snprintf(field, sizeof(field), "0::/../../../kubepods.slice/pod%d", i);
		check_limit(cl, field, GIB);
	}
	check_limit(cl, "0::/../../../system.slice/nginx.service", 256.0 * 1024 * 1024);
	cgroup_limits_free(cl);
}

static void test_no_cgroup_filesystem(void **state)
{
	struct tree *t = *state;
	struct cgroup_limits *cl;

	put(t, "sys/fs/ext4/features/lazy_itable_init", "supported\n");
	put_mountinfo(t, "", "/", "cgroup2");
	cl = open_limits(t);
	check_limit(cl, "0::/system.slice/nginx.service", 0);
	cgroup_limits_free(cl);
	cgroup_limits_free(NULL);
}

static void test_v2_path_for_names(void **state)
{
	char buf[64];

	cgroup_v2_path("1:name=systemd:/a,0::/../../../system.slice/x.service", buf, sizeof(buf));
	assert_string_equal(buf, "/../../../system.slice/x.service");
	cgroup_v2_path("-", buf, sizeof(buf));
	assert_string_equal(buf, "/");
	cgroup_v2_path("0::/abcdefgh", buf, 5);
	assert_string_equal(buf, "/abc");
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_plain),
		cmocka_unit_test(test_resolve_climbing_out),
		cmocka_unit_test(test_resolve_climbing_too_far),
		cmocka_unit_test(test_resolve_climbing_too_little),
		cmocka_unit_test(test_resolve_rejects_odd_components),
		cmocka_unit_test(test_resolve_mount_of_a_subtree),
		cmocka_unit_test(test_resolve_buffer_too_small),
		cmocka_unit_test_setup_teardown(test_lookup_host_mount_from_a_namespace, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_lookup_own_mount, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_lookup_without_mount_entry, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_lookup_last_mount_wins, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_lookup_v1, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_lookup_cached_until_reset, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_lookup_many_cgroups, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_no_cgroup_filesystem, tree_setup, tree_teardown),
		cmocka_unit_test(test_v2_path_for_names),
	};
	/* clang-format on */

	/* The expected notes about mount tables would only clutter the output. */
	assert_int_equal(log_setup("error", "logfmt"), 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
