// SPDX-License-Identifier: MIT
/*
 * The segment follows the process's effective ids.
 *
 * Pre-fork servers (php-fpm, nginx, Apache) start as root and their workers
 * drop to www-data after fork. A worker's segment is created before the drop,
 * owned by root; the exporter trusts a segment only when its owner is the
 * process's effective uid, and the worker, once www-data, could not even remove
 * its file at exit. So the set*id family is interposed: when a call drops the
 * process for good to other ids (real, effective and saved all the new one),
 * the segment is given to them first, while the process may still chown, and
 * back if the call fails.
 *
 * Only a drop for good: a daemon that impersonates a user for a while
 * (seteuid(u), setresuid(-1, u, -1), as mail and file servers do) keeps root
 * as its real or saved uid, and user u may neither signal nor trace it. Giving
 * u its segment then would let u change the file under a root process (mode,
 * size: a truncated mapping kills the writer with SIGBUS) or forge its
 * figures. Its file stays root's, and the exporter rejects it, logged, while
 * the impersonation lasts.
 *
 * Why that keeps the exporter's rule sound: the file's owner becomes exactly the
 * uid the process runs as from then on, which could write into that process
 * anyway (ptrace, /proc/PID/mem). Between the chown and the drop the process is
 * still root and its file is not root's: the exporter rejects it for that
 * moment, it never trusts a file another user could have written.
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

/* The id a set*id argument leaves in place: -1 keeps the current one. */
static unsigned resolve(unsigned arg, unsigned current)
{
	return arg == (unsigned)-1 ? current : arg;
}

/* Will setresuid(r, e, s) leave all three uids equal? */
static bool uids_for_good(uid_t r, uid_t e, uid_t s)
{
	uid_t cr, ce, cs;

	if (getresuid(&cr, &ce, &cs) < 0)
		return false;
	r = resolve(r, cr);
	e = resolve(e, ce);
	s = resolve(s, cs);
	return r == e && e == s;
}

/* Will setresgid(r, e, s) leave all three gids equal? */
static bool gids_for_good(gid_t r, gid_t e, gid_t s)
{
	gid_t cr, ce, cs;

	if (getresgid(&cr, &ce, &cs) < 0)
		return false;
	r = resolve(r, cr);
	e = resolve(e, ce);
	s = resolve(s, cs);
	return r == e && e == s;
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

/*
 * Run the real call; when it drops the process for good (for_good) to new
 * effective ids, the segment is given to them before, and back if it fails.
 */
static int follow(const struct id_call *c, uid_t euid, gid_t egid, bool for_good)
{
	uid_t old_uid = geteuid();
	gid_t old_gid = getegid();
	bool given;
	int ret, err;

	if (!for_good || !moves(euid, egid))
		return call_real(c);
	given = segment_chown(euid, egid) == 0;
	ret = call_real(c);
	err = errno;
	if (ret != 0 && given)
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

	/* As root it sets all three uids; otherwise only the effective one. */
	return follow(&c, uid, (gid_t)-1, geteuid() == 0);
}

MEMTIDE_EXPORT int seteuid(uid_t euid)
{
	ID_CALL("seteuid", 1, euid, 0, 0);

	return follow(&c, euid, (gid_t)-1, false);
}

MEMTIDE_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
	ID_CALL("setreuid", 2, ruid, euid, 0);

	/* With the real uid set, the saved one becomes the new effective one. */
	return follow(&c, euid, (gid_t)-1, ruid != (uid_t)-1 && euid != (uid_t)-1 && ruid == euid);
}

MEMTIDE_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
	ID_CALL("setresuid", 3, ruid, euid, suid);

	return follow(&c, euid, (gid_t)-1, uids_for_good(ruid, euid, suid));
}

MEMTIDE_EXPORT int setgid(gid_t gid)
{
	ID_CALL("setgid", 1, gid, 0, 0);

	return follow(&c, (uid_t)-1, gid, geteuid() == 0);
}

MEMTIDE_EXPORT int setegid(gid_t egid)
{
	ID_CALL("setegid", 1, egid, 0, 0);

	return follow(&c, (uid_t)-1, egid, false);
}

MEMTIDE_EXPORT int setregid(gid_t rgid, gid_t egid)
{
	ID_CALL("setregid", 2, rgid, egid, 0);

	return follow(&c, (uid_t)-1, egid, rgid != (gid_t)-1 && egid != (gid_t)-1 && rgid == egid);
}

MEMTIDE_EXPORT int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
{
	ID_CALL("setresgid", 3, rgid, egid, sgid);

	return follow(&c, (uid_t)-1, egid, gids_for_good(rgid, egid, sgid));
}
