// SPDX-License-Identifier: MIT
/*
 * Which allocations are sampled, and what each sample stands for.
 *
 * Sampling is by bytes, as jemalloc and Go do it: each thread counts down the
 * bytes it requests, from a distance drawn from an exponential distribution
 * with a mean of MEMTIDE_SAMPLE_BYTES; the allocation that crosses zero is
 * sampled and a new distance is drawn. Being memoryless, this samples a block
 * of n bytes with probability p = 1 - exp(-n / mean) whatever came before, so
 * weighting each sample by 1/p objects and n/p bytes gives unbiased totals
 * for small and large blocks alike (Go's weighting over-counted large ones by
 * 58% until golang/go#26618 made it this).
 *
 * Sizes are counted sizes (the chunk, segment.h): what the fast path has at
 * hand. The distance lives in two parts: the slot's countdown, which the
 * malloc fast path decrements (never more than SAMPLER_REFRESH_BYTES, so the
 * lazy refresh keeps running through this same branch), and t_pending, the
 * rest.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "agent_internal.h"
#include "sampler.h"

static __thread uint64_t t_pending __attribute__((tls_model("initial-exec")));
static __thread uint64_t t_rng __attribute__((tls_model("initial-exec")));
static __thread bool t_armed __attribute__((tls_model("initial-exec")));
/* Inside sampler_record(): allocations of the unwinder are not sampled. */
static __thread bool t_busy __attribute__((tls_model("initial-exec")));

static uint64_t mean_bytes; /* 0: sampling off */
static uint64_t seed_base;
static uint64_t thread_serial;

/* "Never" as a distance: 2^62 bytes, more than a thread will ever request. */
#define NEVER (1ull << 62)

void sampler_init(uint64_t mean, uint64_t seed)
{
	mean_bytes = mean;
	seed_base = seed;
}

/* xorshift64*: seeded per thread from the base seed and a thread serial, so
 * a fixed MEMTIDE_SAMPLE_SEED gives every run the same samples. */
static uint64_t next_random(void)
{
	uint64_t x = t_rng;

	if (x == 0) {
		x = seed_base ^ (0x9e3779b97f4a7c15ull *
				 (__atomic_add_fetch(&thread_serial, 1, __ATOMIC_RELAXED)));
		if (x == 0)
			x = 1;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t_rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* An exponentially distributed distance, mean mean_bytes, at least 1. */
static uint64_t draw_distance(void)
{
	/* u in (0, 1]: 53 random bits, never 0. */
	double u = ((double)(next_random() >> 11) + 1.0) / 9007199254740992.0;
	double d = -log(u) * (double)mean_bytes;

	if (d < 1.0)
		return 1;
	return d >= (double)NEVER ? NEVER : (uint64_t)d;
}

static void arm(uint64_t *countdown, uint64_t remaining)
{
	uint64_t c = remaining < SAMPLER_REFRESH_BYTES ? remaining : SAMPLER_REFRESH_BYTES;

	*countdown = c;
	t_pending = remaining - c;
}

/*
 * A thread just claimed a slot: its countdown starts at a fresh distance, not
 * at whatever it held, so the first allocation neither refreshes nor samples
 * out of turn (a short-lived process that allocates little never beats its
 * heartbeat, as before sampling).
 */
void sampler_arm_slot(uint64_t *countdown)
{
	if (mean_bytes == 0) {
		arm(countdown, SAMPLER_REFRESH_BYTES);
		t_pending = NEVER;
		return;
	}
	t_armed = true;
	arm(countdown, draw_distance());
}

/*
 * The fast path's countdown borrowed on a block of size (counted) bytes.
 * Whether this allocation is a sample; re-arms the countdown either way.
 */
bool sampler_take(uint64_t *countdown, size_t size)
{
	/* The countdown wrapped: adding size back gives its value before. */
	uint64_t remaining = *countdown + size + t_pending;
	bool sample;

	if (mean_bytes == 0 || t_busy || !__atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE)) {
		arm(countdown, SAMPLER_REFRESH_BYTES);
		t_pending = NEVER;
		t_armed = false; /* draw afresh once sampling can happen */
		return false;
	}
	if (!t_armed) {
		t_armed = true;
		remaining = draw_distance() + size;
	}
	sample = size >= remaining;
	if (sample)
		remaining = draw_distance();
	else
		remaining -= size;
	arm(countdown, remaining);
	return sample;
}

/* What a sample of size requested bytes, counted as n, stands for: it was
 * taken with probability p = 1 - exp(-n / mean), so 1/p objects and size/p
 * requested bytes (Horvitz-Thompson: unbiased whatever p is). */
static struct sample_weight weigh(size_t size, size_t n)
{
	double p = -expm1(-(double)(n ? n : 1) / (double)mean_bytes);
	struct sample_weight w;

	if (p <= 0.0 || p > 1.0)
		p = 1.0;
	w.bytes = (uint64_t)((double)size / p + 0.5);
	w.objects = (uint64_t)((double)MEMTIDE_SEG_SITE_UNIT / p + 0.5);
	return w;
}

/* p is a sampled block of size requested bytes (n counted): note its stack
 * and site. */
void sampler_record(void *p, size_t size, size_t n)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	uint64_t frames[MEMTIDE_SEG_SITE_DEPTH];
	struct sample_weight w;
	uint32_t depth;
	int site;

	if (!h || t_busy)
		return;
	t_busy = true;
	w = weigh(size, n);
	depth = unwind_stack(frames, MEMTIDE_SEG_SITE_DEPTH);
	site = depth ? sites_find_or_add(h, frames, depth) : -1;
	if (site >= 0 && blocks_insert(p, (uint32_t)site, w))
		sites_add(h, (uint32_t)site, w, true);
	else
		__atomic_fetch_add(&h->samples_dropped, 1, __ATOMIC_RELAXED);
	t_busy = false;
}

/* p, page-aligned, is being freed: if it was a sample, its site shrinks. */
void sampler_forget(void *p)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);
	struct sample_weight w;
	uint32_t site;

	if (h && blocks_remove(p, &site, &w))
		sites_add(h, site, w, false);
}

/* The child's segment starts with no sites, and no block is a sample there. */
void sampler_fork_child(void)
{
	struct memtide_seg_header *h = __atomic_load_n(&agent_seg, __ATOMIC_ACQUIRE);

	t_busy = false;
	blocks_reset_after_fork();
	if (h)
		sites_fork_child(h);
}
