// SPDX-License-Identifier: MIT
/*
 * The malloc family, interposed: every function calls glibc's exported __libc_*
 * implementation (no dlsym, so no bootstrap problem) and counts the block's
 * usable size in the calling thread's slot.
 *
 * Fast path (a thread that owns a slot): one initial-exec TLS load, the chunk
 * size read from glibc's chunk header, two relaxed load/store pairs on a cache
 * line no other thread writes. No lock, no allocation, no system call, no
 * shared read-modify-write. Everything else (no segment yet, first allocation
 * of a thread, slot table full, fork in progress) takes the slow path.
 *
 * Sampling (sampler.h) adds a countdown subtraction and a branch to malloc,
 * which replace the refresh tick they took over, and a test of the low bits
 * of the pointer to free: sampled blocks are the page-aligned ones.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_internal.h"
#include "sampler.h"

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* What a thread counts into when it has no slot of its own. */
enum thread_state {
	THREAD_NEW = 0,	 /* no slot yet: claim one at the next allocation */
	THREAD_CLAIMING, /* inside claim_slot(): nested allocations go to overflow */
	THREAD_OWNER,	 /* t_slot is ours */
	THREAD_OVERFLOW, /* slot table full or thread exiting: overflow slot */
	THREAD_FORKING,	 /* between fork's prepare and parent/child handlers */
};

static __thread struct memtide_seg_slot *t_slot __attribute__((tls_model("initial-exec")));
static __thread enum thread_state t_state __attribute__((tls_model("initial-exec")));
/* This thread's last allocation went to glibc while the allocator was being
 * found out: its block is noted even if the answer, given meanwhile by another
 * thread, is "another allocator" (its free must still reach glibc). */
static __thread bool t_served_resolving __attribute__((tls_model("initial-exec")));

/*
 * Counts made before the segment exists (allocations of the dynamic loader and
 * of constructors running before ours) and while a fork is in progress. Drained
 * into the segment's overflow slot by exchange-and-add, so each count is in
 * exactly one place at any time: nothing is lost or counted twice.
 */
static struct memtide_seg_slot fallback;
static struct memtide_seg_slot fork_fallback;

/* Saved across fork handlers, for the forking thread only. */
static struct memtide_seg_slot *fork_saved_slot;
static enum thread_state fork_saved_state;

static pthread_key_t slot_key;
static bool slot_key_ok;

/*
 * What the slots count for a live block: its usable size plus BYTES_OVERHEAD
 * (segment.h, header.bytes_overhead), the same at allocation and at free.
 *
 * On x86-64 glibc that is read inline from the chunk header: the size word
 * before the block holds the chunk size with three flag bits, and the usable
 * size is the chunk size less one word, or two for an mmapped chunk (bit 1).
 * The chunk size is counted, and the reader takes one word per block off: so
 * a block the allocator served with its own mmap (128 KiB and up, by default)
 * counts its usable size plus 8 bytes. Telling those apart would cost a test
 * and a branch in both malloc and free; the fast path is a load and a mask.
 * interpose_usable_size_ok() checks all this against malloc_usable_size() at
 * start-up; where it does not hold, the agent stays off.
 */
#if defined(__GLIBC__) && defined(__x86_64__)
#define BYTES_OVERHEAD 8u

static inline size_t counted_size(void *p)
{
	return ((const size_t *)p)[-1] & ~(size_t)7;
}
#else
#define BYTES_OVERHEAD 0u

static inline size_t counted_size(void *p)
{
	return malloc_usable_size(p);
}
#endif

uint32_t interpose_bytes_overhead(void)
{
	return BYTES_OVERHEAD;
}

/* The single writer's relaxed add. On x86-64 one unlocked add to memory: an
 * aligned 8-byte store is indivisible for readers, and it is one instruction
 * where a relaxed load, add and store are three. */
static inline void own_add(uint64_t *p, uint64_t v)
{
#if defined(__x86_64__)
	__asm__("addq %1, %0" : "+m"(*p) : "er"(v));
#else
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
#endif
}

static void atomic_count(struct memtide_seg_slot *s, bool alloc, size_t n)
{
	if (alloc) {
		__atomic_fetch_add(&s->allocs, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->bytes_allocated, n, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&s->frees, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->bytes_freed, n, __ATOMIC_RELAXED);
	}
}

static inline void own_count(struct memtide_seg_slot *s, bool alloc, size_t n)
{
	if (alloc) {
		own_add(&s->allocs, 1);
		own_add(&s->bytes_allocated, n);
	} else {
		own_add(&s->frees, 1);
		own_add(&s->bytes_freed, n);
	}
}

/* Thread exit (pthread key destructor): give the slot back. Its counters stay,
 * the next owner adds to them. Later frees of this thread go to overflow. */
static void release_slot(void *v)
{
	struct memtide_seg_slot *s = v;

	t_slot = NULL;
	t_state = THREAD_OVERFLOW;
	__atomic_store_n(&s->owner, 0, __ATOMIC_RELEASE);
}

/* Find a free slot and make it ours; NULL if the table is full. */
static struct memtide_seg_slot *claim_slot(struct memtide_seg_header *h)
{
	uint32_t tid = (uint32_t)gettid(), expected, i, used;
	struct memtide_seg_slot *s;

	for (i = 0; i < MEMTIDE_SEG_SLOTS; i++) {
		s = segment_slot(h, i);
		expected = 0;
		if (__atomic_load_n(&s->owner, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&s->owner, &expected, tid, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			goto claimed;
	}
	return NULL;

claimed:
	used = __atomic_load_n(&h->slots_used, __ATOMIC_RELAXED);
	while (used < i + 1 && !__atomic_compare_exchange_n(&h->slots_used, &used, i + 1, true,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return s;
}

/* A thread's first count after the segment exists: claim a slot and arrange
 * to give it back at thread exit. */
static void first_count(struct memtide_seg_header *h, bool alloc, size_t n)
{
	struct memtide_seg_slot *s;
	int saved_errno = errno;

	t_state = THREAD_CLAIMING;
	s = slot_key_ok ? claim_slot(h) : NULL;
	if (s && pthread_setspecific(slot_key, s) != 0) {
		__atomic_store_n(&s->owner, 0, __ATOMIC_RELEASE);
		s = NULL;
	}
	if (s) {
		sampler_arm_slot(&s->countdown);
		t_slot = s;
		t_state = THREAD_OWNER;
		own_count(s, alloc, n);
	} else {
		t_state = THREAD_OVERFLOW;
		atomic_count(segment_overflow(h), alloc, n);
	}
	errno = saved_errno;
}

static __attribute__((noinline)) void slow_count(bool alloc, size_t n)
{
	struct memtide_seg_header *h;

	if (t_state == THREAD_FORKING) {
		atomic_count(&fork_fallback, alloc, n);
		return;
	}
	h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	if (!h) {
		if (!__atomic_load_n(&agent_off, __ATOMIC_RELAXED))
			atomic_count(&fallback, alloc, n);
		return;
	}
	if (t_state == THREAD_NEW)
		first_count(h, alloc, n);
	else
		atomic_count(segment_overflow(h), alloc, n);
}

/* Everything but the common case: no slot of our own. */
static __attribute__((noinline)) void count_slow(void *p, bool alloc)
{
	struct memtide_seg_slot *s = t_slot;
	size_t n = counted_size(p);

	if (s)
		own_count(s, alloc, n);
	else
		slow_count(alloc, n);
}

/*
 * The fast path: a thread with its own slot. Returns false when count_slow()
 * must do the counting instead. The slot is checked before
 * the chunk header is read: a thread without a slot may be in a process whose
 * blocks are not glibc's (allocator.c), where there is no header to read.
 */
static inline bool count_fast_slot(struct memtide_seg_slot *s, void *p, bool alloc)
{
	if (unlikely(s == NULL))
		return false;
	own_count(s, alloc, counted_size(p));
	return true;
}

static void *count_alloc_slow(void *p);

static inline bool count_fast(void *p, bool alloc)
{
	return count_fast_slot(t_slot, p, alloc);
}

static inline void count_alloc(void *p)
{
	if (likely(p != NULL) && !count_fast(p, true))
		count_alloc_slow(p);
}

/* A block of glibc's that may have been served during start-up, in a process
 * whose allocator is another: back to the free that made it. */
static void free_foreign(void *ptr)
{
	if (allocator_boot_take(ptr))
		__libc_free(ptr);
	else
		alloc_next.free(ptr);
}

/*
 * malloc calls through this pointer: first to malloc_boot(), which asks which
 * allocator the process uses (allocator.c) and then points it at glibc's
 * __libc_malloc or at the program's own allocator. So the fast path needs no
 * test of the mode: a process whose allocator is another never has a slot,
 * and what it allocates is never looked at (count_alloc_slow).
 */
static void *malloc_boot(size_t size);
static void *(*malloc_target)(size_t) = malloc_boot;

static void *malloc_boot(size_t size)
{
	switch (allocator_mode()) {
	case ALLOC_FOREIGN:
		__atomic_store_n(&malloc_target, alloc_next.malloc, __ATOMIC_RELAXED);
		return alloc_next.malloc(size);
	case ALLOC_GLIBC:
		__atomic_store_n(&malloc_target, __libc_malloc, __ATOMIC_RELAXED);
		return __libc_malloc(size);
	default: /* being resolved, maybe by this very thread: noted by malloc */
		t_served_resolving = true;
		return __libc_malloc(size);
	}
}

/* The allocation slow path: NULL, or no slot of our own. The chunk header is
 * read only once glibc is known to be the allocator; a block served while
 * that is being found out is noted instead (allocator.c counts it later, or
 * sends it back to the free that made it). */
static __attribute__((noinline)) void *count_alloc_slow(void *p)
{
	bool served_resolving = t_served_resolving;
	int mode;

	t_served_resolving = false;
	if (!p)
		return p;
	mode = __atomic_load_n(&alloc_mode, __ATOMIC_ACQUIRE);
	if (mode == ALLOC_GLIBC)
		count_slow(p, true);
	else if (served_resolving || mode == ALLOC_RESOLVING)
		allocator_boot_note(p);
	return p;
}

/* free's slow path: NULL, or no slot of our own. */
static __attribute__((noinline)) void free_slow(void *ptr)
{
	if (!ptr)
		return;
	if (t_slot == NULL) {
		switch (allocator_mode()) {
		case ALLOC_FOREIGN:
			free_foreign(ptr);
			return;
		case ALLOC_RESOLVING:
			/* Everything so far came from the boot path, uncounted. */
			allocator_boot_take(ptr);
			__libc_free(ptr);
			return;
		}
	}
	if (sampler_maybe_sampled(ptr))
		sampler_forget(ptr);
	count_slow(ptr, false);
	__libc_free(ptr);
}

/*
 * The slot's countdown borrowed (sampler.h): refresh, and maybe take p, an
 * allocation already counted, as a sample. A sample must be page-aligned, so
 * p is exchanged for such a block of its usable size (the first zero bytes
 * zeroed, for calloc); if none can be had, p stays, unsampled. The requested
 * size is not passed: keeping it across the call into glibc would cost the
 * fast path an instruction.
 */
static __attribute__((noinline)) void *sample_or_refresh(struct memtide_seg_slot *s, void *p,
							 size_t zero)
{
	size_t n = counted_size(p), size;
	bool sample = sampler_take(&s->countdown, n);
	void *q;

	agent_refresh(s);
	if (!sample || __atomic_load_n(&alloc_mode, __ATOMIC_ACQUIRE) != ALLOC_GLIBC)
		return p;
	size = malloc_usable_size(p);
	q = __libc_memalign(SAMPLER_ALIGN, size ? size : 1);
	if (!q)
		return p;
	if (zero)
		memset(q, 0, zero);
	own_count(s, false, n);
	__libc_free(p);
	own_count(s, true, counted_size(q));
	sampler_record(q, size, n);
	return q;
}

/* Subtract n from the slot's countdown: true when it borrowed. On x86-64
 * two instructions, a subtraction from memory and a branch on carry. No
 * output operands (asm goto with outputs, inlined, miscompiles with GCC
 * 12): the memory clobber says the countdown changed. */
static inline __attribute__((always_inline)) bool countdown_expired(struct memtide_seg_slot *s,
								    size_t n)
{
#if defined(__x86_64__)
	__asm__ goto("subq %1, %0\n\tjc %l[expired]"
		     :
		     : "m"(s->countdown), "r"(n)
		     : "cc", "memory"
		     : expired);
	return false;
expired:
	return true;
#else
	uint64_t c = s->countdown;

	s->countdown = c - n;
	return unlikely(n > c);
#endif
}

/*
 * The fast path. "p and s both non-zero" is tested as one product: it is zero
 * when either is (and, harmlessly, for pointers aligned so much that the
 * product overflows to zero: the slow path counts those just as well). The
 * countdown takes the counted size, already in a register, off the slot's
 * countdown, and its branch runs the refresh and the sampling.
 */
MEMTIDE_EXPORT void *malloc(size_t size)
{
	void *p = __atomic_load_n(&malloc_target, __ATOMIC_RELAXED)(size);
	struct memtide_seg_slot *s = t_slot;
	size_t n;

	if (unlikely((uintptr_t)p * (uintptr_t)s == 0))
		return count_alloc_slow(p);
	n = counted_size(p);
	own_count(s, true, n);
	if (unlikely(countdown_expired(s, n)))
		return sample_or_refresh(s, p, 0);
	return p;
}

/* Our own malloc's address, which the program's malloc must be (allocator.c):
 * a hidden alias cannot be bound to anyone else's. */
extern __typeof__(malloc) interpose_malloc_alias
    __attribute__((alias("malloc"), visibility("hidden"), copy(malloc)));

void *interpose_own_malloc(void)
{
	return (void *)interpose_malloc_alias;
}

/* A page-aligned block with a slot of our own: maybe a sample. Out of line,
 * so that the fast path of free keeps nothing across a call. */
static __attribute__((noinline)) void free_maybe_sampled(struct memtide_seg_slot *s, void *ptr)
{
	sampler_forget(ptr);
	own_count(s, false, counted_size(ptr));
	__libc_free(ptr);
}

/* glibc's free keeps errno since 2.33, and the counting never touches it. */
MEMTIDE_EXPORT void free(void *ptr)
{
	struct memtide_seg_slot *s = t_slot;

	if (unlikely((uintptr_t)ptr * (uintptr_t)s == 0))
		goto slow;
	if (unlikely(sampler_maybe_sampled(ptr)))
		goto maybe_sampled;
	own_count(s, false, counted_size(ptr));
	__libc_free(ptr);
	return;
maybe_sampled:
	free_maybe_sampled(s, ptr);
	return;
slow:
	free_slow(ptr);
}

/* Not glibc's allocator, or not known yet: the rest of the family. */
static bool glibc_mode(void)
{
	int mode;

	if (likely(__atomic_load_n(&alloc_mode, __ATOMIC_ACQUIRE) == ALLOC_GLIBC))
		return true;
	mode = allocator_mode();
	if (mode == ALLOC_RESOLVING)
		t_served_resolving = true; /* what glibc serves next is noted (count_alloc_slow) */
	return mode != ALLOC_FOREIGN;
}

MEMTIDE_EXPORT void *calloc(size_t n, size_t size)
{
	void *p;

	struct memtide_seg_slot *s;

	if (!glibc_mode())
		return alloc_next.calloc(n, size);
	p = __libc_calloc(n, size);
	count_alloc(p);
	s = t_slot;
	if (p && s && unlikely(countdown_expired(s, counted_size(p))))
		return sample_or_refresh(s, p, n * size);
	return p;
}

/* A start-up block (already taken out of the noted ones) stays with the
 * __libc_realloc that made it; the result is noted again, or the old block
 * when the realloc failed and kept it. */
static void *realloc_boot(void *ptr, size_t size)
{
	void *p = __libc_realloc(ptr, size);

	allocator_boot_note(p ? p : (size ? ptr : NULL));
	return p;
}

/* While the allocator is being found out, every block is a start-up block. */
static void *realloc_resolving(void *ptr, size_t size)
{
	if (ptr)
		allocator_boot_take(ptr);
	return realloc_boot(ptr, size);
}

static void *realloc_foreign(void *ptr, size_t size)
{
	if (ptr && allocator_boot_take(ptr))
		return realloc_boot(ptr, size);
	return alloc_next.realloc(ptr, size);
}

/* A successful realloc counts as a free of the old block and an allocation of
 * the new one; realloc(p, 0) frees p and returns NULL in glibc. */
MEMTIDE_EXPORT void *realloc(void *ptr, size_t size)
{
	size_t old;
	void *p;

	if (!glibc_mode())
		return realloc_foreign(ptr, size);
	if (unlikely(__atomic_load_n(&alloc_mode, __ATOMIC_ACQUIRE) == ALLOC_RESOLVING))
		return realloc_resolving(ptr, size);
	old = ptr ? counted_size(ptr) : 0;
	/* A sample reallocated is a sample freed (the new block is not one). */
	if (ptr && sampler_maybe_sampled(ptr))
		sampler_forget(ptr);
	p = __libc_realloc(ptr, size);
	if (ptr && (p || size == 0)) {
		struct memtide_seg_slot *s = t_slot;

		if (likely(s != NULL))
			own_count(s, false, old);
		else
			slow_count(false, old);
	}
	count_alloc(p);
	return p;
}

MEMTIDE_EXPORT void *reallocarray(void *ptr, size_t n, size_t size)
{
	size_t total;

	if (!glibc_mode() && alloc_next.reallocarray)
		return alloc_next.reallocarray(ptr, n, size);
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, total);
}

MEMTIDE_EXPORT void *memalign(size_t alignment, size_t size)
{
	void *p;

	if (!glibc_mode() && alloc_next.memalign)
		return alloc_next.memalign(alignment, size);
	p = __libc_memalign(alignment, size);
	count_alloc(p);
	return p;
}

MEMTIDE_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
	if (!glibc_mode() && alloc_next.aligned_alloc)
		return alloc_next.aligned_alloc(alignment, size);
	return memalign(alignment, size);
}

MEMTIDE_EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
	int saved_errno = errno;
	void *p;

	if (!glibc_mode() && alloc_next.posix_memalign)
		return alloc_next.posix_memalign(out, alignment, size);
	if (alignment == 0 || alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0)
		return EINVAL;
	p = __libc_memalign(alignment, size);
	errno = saved_errno;
	if (!p)
		return ENOMEM;
	count_alloc(p);
	*out = p;
	return 0;
}

MEMTIDE_EXPORT void *valloc(size_t size)
{
	void *p;

	if (!glibc_mode() && alloc_next.valloc)
		return alloc_next.valloc(size);
	p = __libc_valloc(size);
	count_alloc(p);
	return p;
}

MEMTIDE_EXPORT void *pvalloc(size_t size)
{
	void *p;

	if (!glibc_mode() && alloc_next.pvalloc)
		return alloc_next.pvalloc(size);
	p = __libc_pvalloc(size);
	count_alloc(p);
	return p;
}

/* C23's sized frees, exported by glibc from 2.43 on: the size hint is not
 * needed here, the chunk header has the size. */
#if defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 43)
MEMTIDE_EXPORT void free_sized(void *ptr, size_t size)
{
	(void)size;
	free(ptr);
}

MEMTIDE_EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
	(void)alignment;
	(void)size;
	free(ptr);
}
#endif
#endif

/* What malloc_usable_size() should say of p, from the counted size. */
static size_t expected_usable(void *p)
{
#if BYTES_OVERHEAD
	size_t mmapped = ((const size_t *)p)[-1] & 2 ? sizeof(size_t) : 0;

	return counted_size(p) - BYTES_OVERHEAD - mmapped;
#else
	return counted_size(p);
#endif
}

/* Does the inline chunk-size read agree with malloc_usable_size() for small,
 * medium, aligned and mmapped blocks? Called once at start-up, once glibc is
 * known to be the allocator. */
bool interpose_usable_size_ok(void)
{
	static const size_t sizes[] = {1, 24, 100, 1000, 5000, 200000, 4 << 20};
	bool ok = true;
	size_t i;
	void *p;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && ok; i++) {
		p = __libc_malloc(sizes[i]);
		if (p)
			ok = expected_usable(p) == malloc_usable_size(p);
		__libc_free(p);
		p = __libc_memalign(4096, sizes[i]);
		if (p)
			ok = ok && expected_usable(p) == malloc_usable_size(p);
		__libc_free(p);
	}
	if (pthread_key_create(&slot_key, release_slot) == 0)
		slot_key_ok = true;
	return ok;
}

static void drain(struct memtide_seg_slot *from, struct memtide_seg_slot *to)
{
	uint64_t v;

	v = __atomic_exchange_n(&from->allocs, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&to->allocs, v, __ATOMIC_RELAXED);
	v = __atomic_exchange_n(&from->bytes_allocated, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&to->bytes_allocated, v, __ATOMIC_RELAXED);
	v = __atomic_exchange_n(&from->frees, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&to->frees, v, __ATOMIC_RELAXED);
	v = __atomic_exchange_n(&from->bytes_freed, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&to->bytes_freed, v, __ATOMIC_RELAXED);
}

/* Move the pre-segment counts into the segment; called at creation and then
 * by the refresh (refresh.c), for threads that raced with publication. */
void interpose_drain_fallback(struct memtide_seg_header *h)
{
	drain(&fallback, segment_overflow(h));
}

/*
 * fork(): from our prepare handler (the first prepare handler to run, being
 * registered last) to our parent or child handler (the last to run), the forking
 * thread counts into fork_fallback. So the child never writes the parent's
 * shared slot, and the parent's slot keeps a single writer.
 */
void interpose_fork_prepare(void)
{
	fork_saved_slot = t_slot;
	fork_saved_state = t_state;
	t_slot = NULL;
	t_state = THREAD_FORKING;
}

void interpose_fork_parent(void)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);

	t_slot = fork_saved_slot;
	t_state = fork_saved_state;
	drain(&fork_fallback, h ? segment_overflow(h) : &fallback);
}

/* In the child, h is the child's own segment (same address as the parent's),
 * or NULL if the agent is off in the child. Slots of the parent's other threads
 * are orphans here: free them for reuse, keeping their counts. */
void interpose_fork_child(struct memtide_seg_header *h)
{
	uint32_t i;

	t_slot = fork_saved_slot;
	t_state = fork_saved_state;
	if (!h) {
		t_slot = NULL;
		t_state = THREAD_OVERFLOW;
		return;
	}
	for (i = 0; i < MEMTIDE_SEG_SLOTS; i++)
		if (segment_slot(h, i) != t_slot)
			__atomic_store_n(&segment_slot(h, i)->owner, 0, __ATOMIC_RELAXED);
	if (t_slot) {
		__atomic_store_n(&t_slot->owner, (uint32_t)gettid(), __ATOMIC_RELAXED);
		if (slot_key_ok)
			pthread_setspecific(slot_key, t_slot);
	}
	drain(&fork_fallback, segment_overflow(h));
}

/* The allocator turned out to be glibc: count the blocks served while that was
 * being found out, as allocations made before the segment. */
void interpose_count_boot_block(void *p)
{
	slow_count(true, counted_size(p));
}
