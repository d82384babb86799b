// SPDX-License-Identifier: MIT
/*
 * The segment follows the process's effective ids.
 *
 * Pre-fork servers (php-fpm, nginx, Apache) start as root and their workers
 * drop to www-data after fork. A worker's segment is created before the drop,
 * owned by root; the exporter trusts a segment only when its owner is the
 * process's effective uid, and the worker, once www-data, could not even remove
 * its file at exit. So the set*id family is interposed: when the call changes
 * the effective uid or gid, the segment is given to the new ids. Before the
 * call when that is possible (a drop: we are still privileged), after it
 * otherwise (a raise: only now may we), back again if the call fails.
 *
 * Why that keeps the exporter's rule sound: the file's owner becomes exactly the
 * uid the process runs as, which could write into that process anyway (ptrace,
 * /proc/PID/mem). Between the chown and the drop the process is still root and
 * its file is not root's: the exporter rejects it for that moment, it never
 * trusts a file another user could have written.
 *
 * The real functions are glibc's (RTLD_NEXT): they change the ids of every
 * thread, which only glibc can do. errno is the call's own.
 */
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include "agent_internal.h"

/* Does the call take the effective ids somewhere new? (-1: unchanged) */
static bool moves(uid_t euid, gid_t egid)
{
	return (euid != (uid_t)-1 && euid != geteuid()) || (egid != (gid_t)-1 && egid != getegid());
}

/* The next definition of name (glibc's), looked up once; NULL if none. */
static void *real(void **cache, const char *name)
{
	void *fn = __atomic_load_n(cache, __ATOMIC_ACQUIRE);

	if (!fn) {
		fn = dlsym(RTLD_NEXT, name);
		__atomic_store_n(cache, fn, __ATOMIC_RELEASE);
	}
	if (!fn)
		errno = ENOSYS;
	return fn;
}

typedef int (*id1_fn)(unsigned);
typedef int (*id2_fn)(unsigned, unsigned);
typedef int (*id3_fn)(unsigned, unsigned, unsigned);

/* One call of the family: which function, its arguments. */
struct id_call {
	void **cache;
	const char *name;
	int arity;
	unsigned a, b, c;
};

static int call_real(const struct id_call *c)
{
	void *fn = real(c->cache, c->name);

	if (!fn)
		return -1;
	switch (c->arity) {
	case 1:
		return ((id1_fn)fn)(c->a);
	case 2:
		return ((id2_fn)fn)(c->a, c->b);
	default:
		return ((id3_fn)fn)(c->a, c->b, c->c);
	}
}

/* Run the real call with the segment's ownership following euid/egid. */
static int follow(const struct id_call *c, uid_t euid, gid_t egid)
{
	uid_t old_uid = geteuid();
	gid_t old_gid = getegid();
	bool before;
	int ret, err;

	if (!moves(euid, egid))
		return call_real(c);
	before = segment_chown(euid, egid) == 0;
	ret = call_real(c);
	err = errno;
	if (ret == 0 && !before)
		segment_chown(euid, egid);
	else if (ret != 0 && before)
		segment_chown(old_uid, old_gid);
	errno = err;
	return ret;
}

#define ID_CALL(fname, n, x, y, z)                                                                 \
	static void *cache_;                                                                       \
	const struct id_call c = {&cache_, fname, n, x, y, z}

MEMTIDE_EXPORT int setuid(uid_t uid)
{
	ID_CALL("setuid", 1, uid, 0, 0);

	return follow(&c, uid, (gid_t)-1);
}

MEMTIDE_EXPORT int seteuid(uid_t euid)
{
	ID_CALL("seteuid", 1, euid, 0, 0);

	return follow(&c, euid, (gid_t)-1);
}

MEMTIDE_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
	ID_CALL("setreuid", 2, ruid, euid, 0);

	return follow(&c, euid, (gid_t)-1);
}

MEMTIDE_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
	ID_CALL("setresuid", 3, ruid, euid, suid);

	return follow(&c, euid, (gid_t)-1);
}

MEMTIDE_EXPORT int setgid(gid_t gid)
{
	ID_CALL("setgid", 1, gid, 0, 0);

	return follow(&c, (uid_t)-1, gid);
}

MEMTIDE_EXPORT int setegid(gid_t egid)
{
	ID_CALL("setegid", 1, egid, 0, 0);

	return follow(&c, (uid_t)-1, egid);
}

MEMTIDE_EXPORT int setregid(gid_t rgid, gid_t egid)
{
	ID_CALL("setregid", 2, rgid, egid, 0);

	return follow(&c, (uid_t)-1, egid);
}

MEMTIDE_EXPORT int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
{
	ID_CALL("setresgid", 3, rgid, egid, sgid);

	return follow(&c, (uid_t)-1, egid);
}
