// SPDX-License-Identifier: MIT
/*
 * Which malloc does this process really use?
 *
 * libmemtide counts glibc's allocator only: it reads glibc's chunk headers. A
 * program linked with jemalloc, tcmalloc or mimalloc (or preloading one after
 * us) would, without the agent, bind malloc to that allocator; with the agent
 * preloaded in front, it binds to ours. So before any block is served, the
 * first call of any malloc-family function asks the dynamic linker what comes
 * after us (dlsym(RTLD_NEXT)) and what the program binds to (RTLD_DEFAULT):
 *
 *   - glibc after us, and us in front: count (ALLOC_GLIBC);
 *   - anything else: forward every call, unchanged, to the symbol that would
 *     have been bound without us, count nothing, and let agent_main.c publish a
 *     segment that says "off" with the reason (ALLOC_FOREIGN).
 *
 * Blocks allocated while the answer is being found (dlsym may allocate) come
 * from __libc_malloc (glibc's, or the other allocator's where it exports that
 * name too, as tcmalloc and mimalloc do). They are remembered in a small table
 * so that, in a foreign process, they go back to __libc_free and
 * __libc_realloc, whoever that is, never to a free that did not make them.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <gnu/libc-version.h>
#include <string.h>

#include "agent_internal.h"

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);

struct alloc_next alloc_next;
int alloc_mode;	       /* enum alloc_mode, atomic */
uint32_t alloc_reason; /* MEMTIDE_SEG_OFF_* once the mode is known */

/* Bootstrap blocks: few (the dynamic linker's own), never more than this. */
#define BOOT_MAX 256
static void *boot_blocks[BOOT_MAX];
static unsigned boot_used;
static unsigned boot_live;

static const char *object_of(void *sym)
{
	Dl_info info;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "";
	return info.dli_fname;
}

static uint32_t reason_of(void *sym)
{
	const char *name = object_of(sym);

	if (strstr(name, "jemalloc"))
		return MEMTIDE_SEG_OFF_JEMALLOC;
	if (strstr(name, "tcmalloc"))
		return MEMTIDE_SEG_OFF_TCMALLOC;
	if (strstr(name, "mimalloc"))
		return MEMTIDE_SEG_OFF_MIMALLOC;
	return MEMTIDE_SEG_OFF_OTHER_ALLOCATOR;
}

/* Two symbols from the same loaded object? */
static bool same_object(void *a, void *b)
{
	Dl_info ia, ib;

	return a && b && dladdr(a, &ia) && dladdr(b, &ib) && ia.dli_fbase == ib.dli_fbase;
}

static void *next_sym(const char *name, void *fallback)
{
	void *p = dlsym(RTLD_NEXT, name);

	return p ? p : fallback;
}

/* A non-PIE executable that takes malloc's address has a "canonical PLT"
 * entry: an undefined symbol with a value, which symbol lookup returns first.
 * Calls through it still go to whatever malloc is bound: ours. */
static bool is_canonical_plt_entry(void *sym)
{
	const ElfW(Sym) *entry = NULL;
	Dl_info info;

	return dladdr1(sym, &info, (void **)&entry, RTLD_DL_SYMENT) && entry &&
	       entry->st_shndx == SHN_UNDEF;
}

/* glibc itself: gnu_get_libc_version() exists nowhere else. tcmalloc and
 * mimalloc export __libc_malloc and friends too, so the name proves nothing. */
static bool is_glibc(void *sym)
{
	return same_object(sym, (void *)gnu_get_libc_version);
}

/* The symbols that would be bound without us, and whether they are glibc's. */
static uint32_t classify(void)
{
	void *bound = dlsym(RTLD_DEFAULT, "malloc");
	void *usable = dlsym(RTLD_DEFAULT, "malloc_usable_size");

	alloc_next.malloc = next_sym("malloc", (void *)__libc_malloc);
	alloc_next.free = next_sym("free", (void *)__libc_free);
	alloc_next.calloc = next_sym("calloc", (void *)__libc_calloc);
	alloc_next.realloc = next_sym("realloc", (void *)__libc_realloc);
	alloc_next.memalign = dlsym(RTLD_NEXT, "memalign");
	alloc_next.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	alloc_next.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	alloc_next.valloc = dlsym(RTLD_NEXT, "valloc");
	alloc_next.pvalloc = dlsym(RTLD_NEXT, "pvalloc");
	alloc_next.reallocarray = dlsym(RTLD_NEXT, "reallocarray");

	/* The program's malloc is not ours: the executable (or an earlier
	 * preload) defines it, our functions are not what it calls. */
	if (bound && bound != interpose_own_malloc() && !is_canonical_plt_entry(bound))
		return reason_of(bound);
	/* Our __libc_* calls reach glibc, and so would the program's calls. */
	if (!is_glibc((void *)__libc_malloc))
		return reason_of((void *)__libc_malloc);
	if (!is_glibc((void *)alloc_next.malloc))
		return reason_of((void *)alloc_next.malloc);
	if (!is_glibc((void *)alloc_next.free) || !is_glibc((void *)alloc_next.calloc) ||
	    !is_glibc((void *)alloc_next.realloc))
		return reason_of((void *)alloc_next.free);
	if (usable && !is_glibc(usable))
		return reason_of(usable);
	return MEMTIDE_SEG_OFF_NONE;
}

/* glibc after all: the start-up blocks are glibc's, counted now (their frees
 * will be), and no longer looked up. */
static void count_boot_blocks(void)
{
	unsigned i, n = __atomic_load_n(&boot_used, __ATOMIC_ACQUIRE);
	void *p;

	for (i = 0; i < n && i < BOOT_MAX; i++) {
		p = __atomic_exchange_n(&boot_blocks[i], NULL, __ATOMIC_ACQ_REL);
		if (p)
			interpose_count_boot_block(p);
	}
	__atomic_store_n(&boot_live, 0, __ATOMIC_RELEASE);
}

/* Find out, once; the first caller does it, recursive and concurrent callers
 * meanwhile see ALLOC_RESOLVING and use glibc (allocator_boot_malloc). */
void allocator_resolve(void)
{
	int expected = ALLOC_UNKNOWN;
	uint32_t reason;

	if (!__atomic_compare_exchange_n(&alloc_mode, &expected, ALLOC_RESOLVING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	reason = classify();
	alloc_reason = reason;
	__atomic_store_n(&alloc_mode, reason ? ALLOC_FOREIGN : ALLOC_GLIBC, __ATOMIC_RELEASE);
	if (!reason)
		count_boot_blocks();
}

/* Remember a block served before the answer was known: in a free entry if
 * there is one (realloc takes and notes again), else in a new one. */
void *allocator_boot_note(void *p)
{
	unsigned i, n;
	void *expected;

	if (!p)
		return p;
	for (;;) {
		n = __atomic_load_n(&boot_used, __ATOMIC_ACQUIRE);
		for (i = 0; i < n && i < BOOT_MAX; i++) {
			expected = NULL;
			if (__atomic_compare_exchange_n(&boot_blocks[i], &expected, p, false,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				goto noted;
		}
		i = __atomic_fetch_add(&boot_used, 1, __ATOMIC_ACQ_REL);
		if (i >= BOOT_MAX)
			return p; /* never seen: the dynamic linker allocates a handful */
		/* Another thread may have filled the new entry first: look again. */
		expected = NULL;
		if (__atomic_compare_exchange_n(&boot_blocks[i], &expected, p, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			break;
	}
noted:
	__atomic_fetch_add(&boot_live, 1, __ATOMIC_RELEASE);
	return p;
}

/* In a foreign process: was p served by glibc during start-up? Forgets it. */
bool allocator_boot_take(void *p)
{
	unsigned i, n;
	void *expected;

	if (!__atomic_load_n(&boot_live, __ATOMIC_ACQUIRE))
		return false;
	n = __atomic_load_n(&boot_used, __ATOMIC_ACQUIRE);
	for (i = 0; i < n && i < BOOT_MAX; i++) {
		expected = p;
		if (__atomic_load_n(&boot_blocks[i], __ATOMIC_RELAXED) == p &&
		    __atomic_compare_exchange_n(&boot_blocks[i], &expected, NULL, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			__atomic_fetch_sub(&boot_live, 1, __ATOMIC_RELEASE);
			return true;
		}
	}
	return false;
}

/* The reason's label, as the exporter publishes it (docs/metrics.md). */
const char *allocator_reason_name(uint32_t reason)
{
	static const char *const names[MEMTIDE_SEG_OFF_REASONS] = MEMTIDE_SEG_OFF_NAMES;

	return reason < MEMTIDE_SEG_OFF_REASONS ? names[reason] : "other";
}
