"""The labelled corpus: synthetic memtide metric histories, one case per pattern
and seed, each labelled with whether a leak alert must fire and, if so, when
the leak began.

Every case is 48 h at 1-minute resolution (2881 samples per series) and is
published under its own `instance` label, job "memtide", group "app". The
patterns are the ones the alerts must get right (docs/leak-detection.md lists
them); every amplitude, period, rate and onset is drawn from a range by a
seeded generator, so the rules are tuned for the patterns, not the cases.

Usage as a library: cases(seeds) -> list of Case. As a program:
    corpus.py --seeds 5 --out corpus.om   (OpenMetrics text, for backfilling)
"""

import argparse
import math
import random
import sys

T0 = 1699920000  # 2023-11-14 00:00:00 UTC: a midnight, so "daily" is aligned.
STEP = 60
HOURS = 48
N = HOURS * 60 + 1
GIB = 1 << 30
MIB = 1 << 20
MIN = 60
HOUR = 3600
DAY = 86400
AGE_BUCKETS = [60, 300, 900, 3600, 14400, 86400]


class Case:
    def __init__(self, cid, pattern, category, must_fire, onset=None, note=""):
        self.id = cid
        self.pattern = pattern
        self.category = category  # memory | heap | session | socket
        self.must_fire = must_fire
        self.onset = onset  # seconds since T0, for must-fire cases
        self.note = note
        self.series = []  # (name, extra labels dict, [value or None] * N)
        self.expect_info = False  # MemtideAllocatorRetention expected
        self.limit_at = None  # when resident memory reaches the limit, if inside the trace
        self.limit_projected = None  # the same, projected past the trace's end
        self.first_seen = 0  # the first sample of the group

    def seen_onset(self):
        """The onset as the history can see it: a leak that began before the
        group's first sample is seen from that sample."""
        return None if self.onset is None else max(self.onset, self.first_seen)

    def add(self, name, values, **labels):
        self.series.append((name, labels, values))


def ts(i):
    return i * STEP


def sawtooth(r, amp, period, n=N):
    """A GC or arena sawtooth: rises linearly over `period`, drops at once."""
    phase = r.uniform(0, period)
    jitter = r.uniform(0.85, 1.0)
    return [amp * jitter * (((ts(i) + phase) % period) / period) for i in range(n)]


def noise(r, sd, n=N):
    return [r.gauss(0, sd) for _ in range(n)]


def daily(r, amp, peak_hour=None):
    """A daily load shape in [-amp, amp], peaking at `peak_hour` UTC."""
    peak = (peak_hour if peak_hour is not None else r.uniform(10, 20)) * HOUR
    return [amp * math.cos(2 * math.pi * (ts(i) - peak) / DAY) for i in range(N)]


def warm(age, tau):
    return 0.0 if age < 0 else 1.0 - math.exp(-age / tau)


class Proc:
    """The series every memory case publishes, built up by the patterns."""

    def __init__(self, r, limit=None, base_ratio=None, start=None):
        self.r = r
        self.limit = limit or draw_limit(r)
        self.base = (base_ratio if base_ratio is not None else r.uniform(0.2, 0.45)) * self.limit
        self.anon = [self.base] * N
        self.file = [r.uniform(0.02, 0.06) * self.limit] * N
        self.start = [start if start is not None else -r.uniform(2, 30) * DAY] * N
        self.procs = [1] * N
        self.fds = None
        self.maxmember = None  # the largest member's anonymous bytes; None: the group is one process
        self.present = [True] * N  # the group exists
        self.scrape_ok = [True] * N  # the scrape succeeded

    def addv(self, vals):
        self.anon = [a + v for a, v in zip(self.anon, vals)]

    def publish(self, case, heap=None):
        r = self.r
        fn = noise(r, 0.0015 * self.limit)
        anon = [max(0.0, a + e) for a, e in zip(self.anon, fn)]
        res = [a + f + r.gauss(0, 0.0005 * self.limit) for a, f in zip(anon, self.file)]
        p = [a and b for a, b in zip(self.present, self.scrape_ok)]

        def m(vals):
            return [v if ok else None for v, ok in zip(vals, p)]

        case.add("memtide_group_anonymous_bytes", m([round(v) for v in anon]), group="app")
        case.add("memtide_group_resident_bytes", m([round(v) for v in res]), group="app")
        if self.maxmember is None:
            mx = res
        else:
            n = self.procs[0]
            mx = [v + f / n + r.gauss(0, 0.0005 * self.limit / n) for v, f in zip(self.maxmember, self.file)]
        case.add("memtide_group_max_process_resident_bytes", m([round(max(0.0, v)) for v in mx]), group="app")
        case.add("memtide_group_memory_limit_bytes", m([self.limit] * N), group="app")
        case.add("memtide_group_oldest_start_time_seconds", m([T0 + s for s in self.start]), group="app")
        case.add("memtide_group_processes", m(self.procs), group="app")
        fds = self.fds or [round(r.uniform(40, 200))] * N
        case.add("memtide_group_open_fds", m([max(0, round(f + r.gauss(0, 2))) for f in fds]), group="app")
        if heap is not None:
            case.add("memtide_malloc_live_bytes", m([round(max(0.0, h)) for h in heap]), group="app")
        case.add("up", [1 if ok else 0 for ok in self.scrape_ok])
        case.add("memtide_scrape_collector_success", m([1] * N), collector="process")
        # When resident memory (without measurement noise) first reaches the
        # limit, in seconds since T0; None if it does not within the trace.
        case.limit_at = None
        for i in range(N):
            if self.present[i] and self.anon[i] + self.file[i] >= 0.99 * self.limit:
                case.limit_at = ts(i)
                break
        # Otherwise where the last two hours' growth would take it.
        case.limit_projected = case.limit_at
        if case.limit_at is None:
            k = N - 1
            slope = (self.anon[k] - self.anon[k - 120]) / (120 * STEP)
            if slope > 0:
                case.limit_projected = ts(k) + (0.99 * self.limit - self.anon[k] - self.file[k]) / slope
        case.first_seen = next((ts(i) for i in range(N) if self.present[i]), 0)


def loguniform(r, lo, hi):
    return math.exp(r.uniform(math.log(lo), math.log(hi)))


def draw_limit(r):
    """A memory limit between 256 MiB and 64 GiB, log-uniform, whole MiB."""
    return round(loguniform(r, LIMIT_RANGE[0], LIMIT_RANGE[1]) / MIB) * MIB


def gc(r, proc, lo=0.01, hi=0.08, pmin=1, pmax=10):
    """A GC or arena sawtooth of amplitude lo-hi of the limit and a period of
    pmin-pmax minutes (log-uniform)."""
    amp = r.uniform(lo, hi) * proc.limit
    period = loguniform(r, pmin, pmax) * MIN
    proc.addv(sawtooth(r, amp, period))
    return amp


def leak_with_oom(proc, rate, onset):
    """Add a linear leak of `rate` bytes/s from `onset`; when resident memory
    reaches the limit the process is OOM-killed and restarted, re-warms, and
    the leak begins again with the new process."""
    r = proc.r
    start_t = onset
    restarted = False
    tau = r.uniform(0.2, 0.8) * HOUR
    for i in range(N):
        t = ts(i)
        if t < onset:
            continue
        age = t - start_t
        if restarted:
            proc.anon[i] -= proc.base * (1 - warm(age, tau))
            proc.start[i] = start_t
        proc.anon[i] += rate * age
        if proc.anon[i] + proc.file[i] >= 0.995 * proc.limit:
            start_t = t + STEP
            restarted = True
    return proc


# --- memory patterns that must not fire -------------------------------------

def p_sawtooth(r):
    amp = r.uniform(0.05, 0.30)
    p = Proc(r, base_ratio=r.uniform(0.15, 0.75 - amp))
    p.addv(sawtooth(r, amp * p.limit, loguniform(r, 1, 60) * MIN))
    return p, None, None


def p_warmup_plateau(r):
    s = r.uniform(0, 40) * HOUR
    p = Proc(r, start=s)
    tau = r.uniform(0.3, 2.0) * HOUR
    p.anon = [p.base * warm(ts(i) - s, tau) for i in range(N)]
    p.present = [ts(i) >= s for i in range(N)]
    gc(r, p)
    return p, None, None


def p_step(r):
    p = Proc(r)
    t1 = r.uniform(2, 46) * HOUR
    size = r.uniform(0.05, 0.2) * p.limit
    ramp = r.uniform(1, 15) * MIN
    p.addv([size * min(1.0, max(0.0, (ts(i) - t1) / ramp)) for i in range(N)])
    gc(r, p)
    return p, None, None


def daily_amp(r):
    return r.uniform(*DAILY_AMP)


def p_daily_old(r):
    a = daily_amp(r)
    p = Proc(r, base_ratio=r.uniform(a + 0.05, max(a + 0.06, 0.72 - a)))
    p.addv(daily(r, a * p.limit))
    gc(r, p)
    return p, None, None


def p_daily_young(r):
    """A daily cycle on a process with no day of history: it starts in the
    trace's first 20 hours."""
    a = daily_amp(r)
    s = r.uniform(0, 20) * HOUR
    p = Proc(r, start=s, base_ratio=r.uniform(a + 0.05, max(a + 0.06, 0.72 - a)))
    tau = r.uniform(0.3, 1.5) * HOUR
    d = daily(r, a * p.limit)
    p.anon = [(p.base + d[i]) * warm(ts(i) - s, tau) for i in range(N)]
    p.present = [ts(i) >= s for i in range(N)]
    gc(r, p)
    return p, None, None


def workers(r, p, n, recycle=None, leaker=None, leak_rate=0.0, onset=0.0):
    """A group of n workers; each warms to its share; optionally recycled
    (gunicorn max_requests style) every `recycle` seconds, staggered. Records
    the largest member's anonymous bytes."""
    share = p.base / n
    anon = [0.0] * N
    start = [0.0] * N
    biggest = [0.0] * N
    taus = [r.uniform(0.2, 0.8) * HOUR for _ in range(n)]
    offs = [(k / n) * (recycle or 1) + r.uniform(0, 600) for k in range(n)]
    born = [-r.uniform(2, 10) * DAY for _ in range(n)]
    sizes = [r.uniform(0.7, 1.3) for _ in range(n)]
    for i in range(N):
        t = ts(i)
        oldest = None
        for k in range(n):
            if recycle:
                b = t - ((t + offs[k]) % recycle)
            else:
                b = born[k]
            age = t - b
            v = share * sizes[k] * warm(age, taus[k])
            if k == leaker and t >= onset:
                v += leak_rate * (t - onset)
            anon[i] += v
            biggest[i] = max(biggest[i], v)
            oldest = b if oldest is None else min(oldest, b)
        start[i] = oldest
    p.anon = anon
    p.start = start
    p.procs = [n] * N
    p.maxmember = biggest
    for k in range(n):
        amp = r.uniform(0.005, 0.02) * p.limit
        saw = sawtooth(r, amp, loguniform(r, 1, 15) * MIN)
        p.addv(saw)
        if k == 0:
            p.maxmember = [b + s / n for b, s in zip(p.maxmember, saw)]


def p_worker_recycling(r):
    p = Proc(r)
    workers(r, p, r.randint(2, 32), recycle=r.uniform(1.5, 6) * HOUR)
    return p, None, None


def p_restart_rewarm(r):
    p = Proc(r)
    tr = r.uniform(2, 44) * HOUR
    tau = r.uniform(0.3, 2.0) * HOUR
    p.anon = [p.base * (1 - 0.9 * (1 - warm(ts(i) - tr, tau))) if ts(i) >= tr else p.base for i in range(N)]
    p.start = [tr if ts(i) >= tr else p.start[i] for i in range(N)]
    gc(r, p)
    return p, None, None


def p_flat_near_limit(r):
    p = Proc(r, base_ratio=r.uniform(0.82, 0.88))
    gc(r, p, 0.005, 0.03)
    return p, None, None


def p_batch_spike(r):
    p = Proc(r)
    hour = r.uniform(0, 24) * HOUR
    size = r.uniform(0.1, 0.3) * p.limit
    dur_ = r.uniform(20, 90) * MIN
    ramp = r.uniform(3, 20) * MIN
    vals = []
    for i in range(N):
        x = (ts(i) - hour) % DAY
        vals.append(size * min(1.0, x / ramp) if x < dur_ else (size * max(0.0, 1 - (x - dur_) / (5 * MIN)) if x < dur_ + 5 * MIN else 0.0))
    p.addv(vals)
    gc(r, p)
    return p, None, None


def p_scrape_gaps(r):
    p = Proc(r)
    gc(r, p)
    p.scrape_ok = [r.random() > 0.05 for _ in range(N)]
    o = int(r.uniform(6, 44) * 60)
    for i in range(o, min(N, o + int(r.uniform(10, 45)))):
        p.scrape_ok[i] = False
    return p, None, None


def p_allocator_retention(r):
    """Live heap flat with a sawtooth; the resident floor ratchets up as freed
    memory stays with the allocator (fragmentation, arenas per thread), for
    hours, until it reaches the allocator's high-water mark."""
    p = Proc(r)
    heap_base = p.base * r.uniform(0.5, 0.8)
    heap = [heap_base + v for v in sawtooth(r, r.uniform(0.03, 0.1) * p.limit, loguniform(r, 1, 20) * MIN)]
    heap = [h + e for h, e in zip(heap, noise(r, 0.002 * p.limit))]
    t1 = r.uniform(2, 40) * HOUR
    rate = r.uniform(0.015, 0.04) * p.limit / HOUR
    total = r.uniform(0.1, 0.25) * p.limit
    p.addv([min(total, rate * max(0.0, ts(i) - t1)) for i in range(N)])
    gc(r, p, 0.05, 0.12)
    return p, heap, None


def p_bounded_cache(r):
    """A cache that fills for 1-6 h and stops. It fills at 1-8% of the limit
    per hour, to at most 25% of the limit and at most a third of the
    headroom it starts with: a cache that takes half of it looks exactly like
    a leak until that leak is half-way to the limit, when it must have been
    caught."""
    p = Proc(r)
    t1 = r.uniform(0, 40) * HOUR
    d = r.uniform(*CACHE_FILL_HOURS) * HOUR
    rate = r.uniform(*CACHE_FILL_RATE) * p.limit / HOUR
    room = p.limit - p.base - p.file[0]
    size = min(rate * d, 0.25 * p.limit, room / 3)
    if r.random() < 0.3:
        tau = d / 3  # LRU fill: misses fall as it fills; mostly done after d
        p.addv([size * warm(ts(i) - t1, tau) for i in range(N)])
    else:
        p.addv([size * min(1.0, max(0.0, (ts(i) - t1) / d)) for i in range(N)])
    gc(r, p)
    return p, None, None


def p_quiet_sunday(r):
    """Weekly seasonality: an old process flat at its cycle's trough for a
    quiet day, then a working day's cycle from that trough (24-30 h in), so
    "the same time yesterday" is the quiet day, and 48 hours hold no working
    day before it. Not drawn before the fifth round; the rules warn on it
    (docs/leak-detection.md, "Known limits")."""
    a = daily_amp(r) if r.random() < 0.5 else 0.25
    p = Proc(r, base_ratio=r.uniform(a + 0.05, max(a + 0.06, 0.72 - a)))
    peak = r.uniform(12, 18)
    monday = (peak + 12) * HOUR  # the cycle's trough: the level is continuous
    d = daily(r, a * p.limit, peak_hour=peak)
    p.addv([d[i] if ts(i) >= monday else -a * p.limit for i in range(N)])
    gc(r, p)
    return p, None, None


# --- memory patterns that must fire -----------------------------------------

# Leak onsets, in hours since the start of the corpus: anywhere from a day
# before the first sample (the leak is already running when the history
# begins) to 12 hours before its end. score.py --onset-range changes it.
ONSET_RANGE = (-24.0, 36.0)
# Leak rates as a share of the limit per hour.
RATE_RANGE = (0.005, 0.25)
LIMIT_RANGE = (256 * 1024 * 1024, 64 * GIB)
DAILY_AMP = (0.02, 0.25)
CACHE_FILL_HOURS = (1.0, 6.0)
CACHE_FILL_RATE = (0.01, 0.08)


def onset_time(r):
    return r.uniform(*ONSET_RANGE) * HOUR


def leak_onset(r, p, rate, top=0.6, extra=0.0):
    """An onset; one before the first sample is moved later if the leak would
    otherwise start the history above `top` of the limit (`extra`: the
    amplitude of a cycle or sawtooth on top of the base, a share of the limit)."""
    t0 = onset_time(r)
    if t0 < 0:
        lvl = (p.base + p.file[0]) / p.limit + extra
        t0 = max(t0, -max(0.0, top - lvl) * p.limit / rate)
    return t0


def leak_rate(r, lo=None, hi=None):
    return loguniform(r, lo or RATE_RANGE[0], hi or RATE_RANGE[1])


def p_linear_leak(r):
    p = Proc(r)
    gc(r, p)
    rate = leak_rate(r) * p.limit / HOUR
    t0 = leak_onset(r, p, rate)
    leak_with_oom(p, rate, t0)
    return p, None, t0


def p_slow_leak(r):
    p = Proc(r)
    gc(r, p)
    rate = leak_rate(r, 0.005, 0.02) * p.limit / HOUR
    t0 = leak_onset(r, p, rate)
    leak_with_oom(p, rate, t0)
    return p, None, t0


def p_fast_leak(r):
    p = Proc(r, base_ratio=r.uniform(0.2, 0.4))
    gc(r, p)
    rate = leak_rate(r, 0.08, 0.25) * p.limit / HOUR
    t0 = r.uniform(2, 40) * HOUR
    leak_with_oom(p, rate, t0)
    return p, None, t0


def p_leak_under_gc(r):
    amp = r.uniform(0.05, 0.30)
    p = Proc(r, base_ratio=r.uniform(0.15, max(0.16, 0.6 - amp)))
    p.addv(sawtooth(r, amp * p.limit, loguniform(r, 1, 60) * MIN))
    rate = leak_rate(r, 0.005, 0.05) * p.limit / HOUR
    t0 = leak_onset(r, p, rate, extra=amp)
    leak_with_oom(p, rate, t0)
    return p, None, t0


def p_staircase(r):
    p = Proc(r)
    gc(r, p)
    period = r.uniform(1, 4) * HOUR
    rate = leak_rate(r, 0.005, 0.06) * p.limit / HOUR
    t0 = leak_onset(r, p, rate)
    stepsz = rate * period
    p.addv([min(p.limit * 0.99 - p.base - p.file[0], stepsz * (1 + math.floor((ts(i) - t0) / period))) if ts(i) >= t0 else 0.0 for i in range(N)])
    return p, None, t0


def p_leak_on_daily(r):
    a = daily_amp(r)
    p = Proc(r, base_ratio=r.uniform(a + 0.05, max(a + 0.06, 0.6 - a)))
    p.addv(daily(r, a * p.limit))
    gc(r, p)
    rate = leak_rate(r, 0.005, 0.05) * p.limit / HOUR
    t0 = leak_onset(r, p, rate, extra=2 * a)
    leak_with_oom(p, rate, t0)
    return p, None, t0


def p_oom_loop(r):
    p = Proc(r)
    gc(r, p)
    t0 = r.uniform(2, 40) * HOUR
    rate = r.uniform(0.15, 0.4) * p.limit / HOUR
    # The bad release deploys at t0: a restart, then the leak.
    p.start = [t0 if ts(i) >= t0 else p.start[i] for i in range(N)]
    leak_with_oom(p, rate, t0)
    return p, None, t0


def p_heap_leak_in_rss_noise(r):
    """Live heap bytes rise; resident memory hides it: in half the cases the
    allocator reuses free memory it kept and anonymous memory stays flat, in
    the others it wanders (arenas grow and shrink) under a big sawtooth."""
    p = Proc(r)
    heap_base = p.base * r.uniform(0.3, 0.8)
    rate = leak_rate(r, 0.005, 0.05) * p.limit / HOUR
    t0 = leak_onset(r, p, rate)
    grow = [rate * max(0.0, ts(i) - t0) for i in range(N)]
    if r.random() < 0.5:
        gc(r, p, 0.05, 0.2)
        walk, v = [], 0.0
        for _ in range(N):
            v = 0.995 * v + r.gauss(0, 0.01 * p.limit)
            walk.append(v)
        p.addv(walk)
        p.addv(grow)
    else:
        gc(r, p)
    heap = [heap_base + g + s for g, s in zip(grow, sawtooth(r, r.uniform(0.02, 0.08) * p.limit, loguniform(r, 1, 15) * MIN))]
    heap = [h + e for h, e in zip(heap, noise(r, 0.001 * p.limit))]
    return p, heap, t0


def p_one_worker_of_n(r):
    p = Proc(r)
    rate = leak_rate(r, 0.005, 0.05) * p.limit / HOUR
    t0 = leak_onset(r, p, rate)
    workers(r, p, r.randint(2, 32), leaker=0, leak_rate=rate, onset=t0)
    return p, None, t0


def p_leak_from_start(r):
    s = r.uniform(0, 30) * HOUR
    p = Proc(r, start=s)
    tau = r.uniform(0.3, 1.5) * HOUR
    rate = leak_rate(r, 0.005, 0.06) * p.limit / HOUR
    p.anon = [p.base * warm(ts(i) - s, tau) + rate * max(0.0, ts(i) - s) for i in range(N)]
    p.present = [ts(i) >= s for i in range(N)]
    gc(r, p)
    return p, None, s


def p_leak_after_restart(r):
    """A restart (a deploy) at 2-36 h; the new process leaks from its start."""
    p = Proc(r)
    tr = r.uniform(2, 36) * HOUR
    tau = r.uniform(0.3, 1.5) * HOUR
    rate = leak_rate(r, 0.005, 0.06) * p.limit / HOUR
    p.anon = [p.base * (1 - 0.9 * (1 - warm(ts(i) - tr, tau))) + rate * (ts(i) - tr) if ts(i) >= tr else p.base for i in range(N)]
    p.start = [tr if ts(i) >= tr else p.start[i] for i in range(N)]
    gc(r, p)
    return p, None, tr


MEMORY_PATTERNS = [
    # name, function, must_fire, category
    ("gc-sawtooth", p_sawtooth, False, "memory"),
    ("warm-up-plateau", p_warmup_plateau, False, "memory"),
    ("one-time-step", p_step, False, "memory"),
    ("daily-cycle-old", p_daily_old, False, "memory"),
    ("daily-cycle-young", p_daily_young, False, "memory"),
    ("worker-recycling", p_worker_recycling, False, "memory"),
    ("restart-rewarm", p_restart_rewarm, False, "memory"),
    ("flat-near-limit", p_flat_near_limit, False, "memory"),
    ("daily-batch-spike", p_batch_spike, False, "memory"),
    ("scrape-gaps-outage", p_scrape_gaps, False, "memory"),
    ("allocator-retention", p_allocator_retention, False, "memory"),
    ("bounded-cache", p_bounded_cache, False, "memory"),
    ("quiet-sunday", p_quiet_sunday, False, "memory"),
    ("linear-leak", p_linear_leak, True, "memory"),
    ("slow-leak", p_slow_leak, True, "memory"),
    ("fast-leak", p_fast_leak, True, "memory"),
    ("leak-under-gc", p_leak_under_gc, True, "memory"),
    ("staircase-leak", p_staircase, True, "memory"),
    ("leak-on-daily-cycle", p_leak_on_daily, True, "memory"),
    ("oom-restart-loop", p_oom_loop, True, "memory"),
    ("heap-leak-in-rss-noise", p_heap_leak_in_rss_noise, True, "memory"),
    ("one-worker-of-n", p_one_worker_of_n, True, "memory"),
    ("leak-from-start", p_leak_from_start, True, "memory"),
    ("leak-after-restart", p_leak_after_restart, True, "memory"),
]


# --- sessions -----------------------------------------------------------------

def sessions(r, case, daily_amp, leak_frac, t0):
    """Sessions opened at rate lambda(t); each lives TTL plus an exponential
    activity time (idle expiry), a fraction `leak_frac` from t0 never closes.
    Publishes live, opened/closed totals, TTL and the age buckets."""
    ttl = r.choice([1800, 1800, 1440, 3600]) if leak_frac == 0 else 1800
    mean_active = r.uniform(*SESSION_ACTIVE_MINUTES) * MIN
    lo, hi = SESSION_RATE_LEAK if leak_frac > 0 else SESSION_RATE
    lam0 = math.exp(r.uniform(math.log(lo), math.log(hi)))  # sessions per second
    peak = r.uniform(10, 20) * HOUR
    warmup = 6 * 60  # minutes simulated before the corpus starts
    total = N + warmup
    lam = [lam0 * (1 + daily_amp * math.cos(2 * math.pi * ((i - warmup) * STEP - peak) / DAY)) for i in range(total)]
    arrivals = []
    for i in range(total):
        mu = lam[i] * STEP
        arrivals.append(max(0, round(r.gauss(mu, math.sqrt(mu)))) if mu > 30 else poisson(r, mu))
    leaked = [0] * total
    if leak_frac > 0:
        for i in range(total):
            if (i - warmup) * STEP >= t0:
                k = sum(1 for _ in range(arrivals[i]) if r.random() < leak_frac) if arrivals[i] < 200 else round(arrivals[i] * leak_frac + r.gauss(0, math.sqrt(arrivals[i] * leak_frac)))
                leaked[i] = k
    maxage = int((ttl + 12 * mean_active) / STEP) + 1

    def surv(age):
        if age < ttl:
            return 1.0
        return math.exp(-(age - ttl) / mean_active)

    s = [surv(a * STEP) for a in range(maxage + 1)]
    live, opened, closed, ttls = [], [], [], []
    buckets = {b: [] for b in AGE_BUCKETS}
    opened_base = r.randrange(10 ** 6)
    cum = 0
    cum_leaked_before = [0] * (total + 1)
    for i in range(total):
        cum_leaked_before[i + 1] = cum_leaked_before[i] + leaked[i]
    for i in range(total):
        cum += arrivals[i]
        if i < warmup:
            continue
        tot = 0.0
        by = {b: 0.0 for b in AGE_BUCKETS}
        for a in range(0, min(maxage, i) + 1):
            normal = (arrivals[i - a] - leaked[i - a]) * s[a]
            tot += normal
            age = a * STEP
            for b in AGE_BUCKETS:
                if age > b:
                    by[b] += normal
        # Leaked sessions: all of them, by age.
        tot += cum_leaked_before[i + 1]
        for b in AGE_BUCKETS:
            k = i - (b // STEP) - 1
            by[b] += cum_leaked_before[k + 1] if k >= 0 else 0
        lv = round(tot)
        live.append(lv)
        opened.append(opened_base + cum)
        closed.append(opened_base + cum - lv)
        for b in AGE_BUCKETS:
            buckets[b].append(round(by[b]))
    lab = dict(source="agent", group="app", pool="web")
    case.add("memtide_sessions_live", live, **lab)
    case.add("memtide_sessions_opened_total", opened, **lab)
    case.add("memtide_sessions_closed_total", closed, **lab)
    case.add("memtide_sessions_ttl_seconds", [ttl] * N, **lab)
    for b in AGE_BUCKETS:
        case.add("memtide_sessions_live_by_age", buckets[b], older_than_seconds=str(b), **lab)


# Mean activity time of a session before it idles into its TTL, in minutes.
SESSION_ACTIVE_MINUTES = (3.0, 12.0)
# Sessions opened per second (log-uniform): quiet pools, leaking pools.
SESSION_RATE = (0.05, 30.0)
SESSION_RATE_LEAK = (1.0, 30.0)
# The share of sessions a leaking pool never closes.
SESSION_LEAK_SHARE = (0.005, 0.05)
SESSION_ONSET_HOURS = (0.0, 40.0)


def poisson(r, mu):
    if mu <= 0:
        return 0
    L, k, p = math.exp(-mu), 0, 1.0
    while True:
        p *= r.random()
        if p <= L:
            return k
        k += 1


SESSION_PATTERNS = [
    ("sessions-flat-load", 0.0, False),
    ("sessions-daily-load", None, False),
    ("session-leak-flat-load", 0.0, True),
    ("session-leak-daily-load", None, True),
]


def session_case(r, cid, name, amp, must):
    t0 = r.uniform(*SESSION_ONSET_HOURS) * HOUR if must else None
    c = Case(cid, name, "session", must, t0)
    a = r.uniform(0.3, 0.8) if amp is None else amp
    frac = r.uniform(*SESSION_LEAK_SHARE) if must else 0.0
    sessions(r, c, a, frac, t0 or 0)
    p = Proc(r)
    gc(r, p)
    p.publish(c)
    return c


# --- sockets and descriptors -----------------------------------------------

def socket_case(r, cid, name):
    must = name in ("close-wait-leak", "fd-leak")
    t0 = r.uniform(4, 34) * HOUR if must else None
    c = Case(cid, name, "socket", must, t0)
    d = daily(r, r.uniform(0.2, 0.6))
    p = Proc(r)
    gc(r, p)
    base = r.uniform(50, 400)
    fds = [base * (1 + d[i]) for i in range(N)]
    cw = [poisson(r, r.uniform(0.2, 3) * (1 + d[i])) for i in range(N)]
    if name == "fd-leak":
        rate = r.uniform(15, 60) / HOUR
        fds = [f + rate * max(0.0, ts(i) - t0) for i, f in enumerate(fds)]
    if name == "close-wait-leak":
        rate = r.uniform(8, 40) / HOUR
        cw = [v + round(rate * max(0.0, ts(i) - t0)) for i, v in enumerate(cw)]
    p.fds = fds
    p.publish(c)
    c.add("memtide_tcp_connections", cw, port="8080", state="close_wait")
    c.add("memtide_tcp_connections", [round(base * 0.5 * (1 + d[i])) for i in range(N)], port="8080", state="established")
    return c


SOCKET_PATTERNS = ["sockets-daily-load", "close-wait-leak", "fd-leak"]


# The seed sets. Thresholds are tuned on "tuning" only. "held-out" was fixed
# here before the first round of tuning and scored once after it; its results
# were seen before the second round, so the second round reports on
# "held-out-2", fixed here before that round's first change was scored and
# scored only to report (score.py --set).
SEED_SETS = {
    "tuning": {"base_seed": 1, "seeds": 3},
    "held-out": {"base_seed": 73421, "seeds": 3},
    "held-out-2": {"base_seed": 90617, "seeds": 5},
    # Fixed before the third round (the stale-sessions threshold) was scored.
    "held-out-3": {"base_seed": 55807, "seeds": 5},
    # Fixed before the fourth round (the fast trend, the rise no daily cycle
    # makes) was developed on the tuning seeds and scored.
    "held-out-4": {"base_seed": 39009, "seeds": 5},
    # Fixed before the fifth round (the seasonal branch's balance against the
    # mean window) was scored on anything but the tuning generator.
    "held-out-5": {"base_seed": 75513, "seeds": 5},
    # A second generator, independent.py, written from the problem statement
    # alone by an author who did not read this file's patterns or the rules:
    # other shapes, other noise, other parameters. Fixed before anything was
    # scored on it. "independent-tuning" may be read case by case to find what
    # the rules miss; "independent-held-out" is scored only to report.
    "independent-tuning": {"base_seed": 1, "seeds": 3, "generator": "independent"},
    "independent-held-out": {"base_seed": 61937, "seeds": 5, "generator": "independent"},
    # Fixed before the sixth round (two ages of stale sessions with noise
    # floors, the staircase branch of 6-hour windows) was scored on anything
    # but the two tuning sets; independent-held-out was scored on the rules
    # before that round, its figures seen in aggregate only.
    "held-out-6": {"base_seed": 50221, "seeds": 5},
    "independent-held-out-2": {"base_seed": 28411, "seeds": 5, "generator": "independent"},
    # Fixed before the seventh round (a cold-start branch for descriptors),
    # which read independent-held-out-2's descriptor misses.
    "held-out-7": {"base_seed": 81173, "seeds": 5},
    "independent-held-out-3": {"base_seed": 44519, "seeds": 5, "generator": "independent"},
    # Fixed before the eighth round (descriptors that fall on the way, and
    # abandoned sessions that must grow two hours running), which read the
    # false alarms of independent-held-out-2 and -3 and 60 more seeds of
    # independent-tuning's session and descriptor patterns.
    "held-out-8": {"base_seed": 86735, "seeds": 5},
    "independent-held-out-4": {"base_seed": 85389, "seeds": 5, "generator": "independent"},
    # Fixed before the ninth round (the abandoned-sessions noise floor from
    # the count's own falls), which read independent-held-out-4's two missed
    # session leaks.
    "held-out-9": {"base_seed": 91286, "seeds": 5},
    "independent-held-out-5": {"base_seed": 26345, "seeds": 5, "generator": "independent"},
    # Fixed before the tenth round (a stepwise trend for the exhaustion
    # prediction), which read the staircases of both tuning sets.
    "held-out-10": {"base_seed": 66618, "seeds": 5},
    "independent-held-out-6": {"base_seed": 44780, "seeds": 5, "generator": "independent"},
    # Fixed before the eleventh round (a descriptor noise floor that does not
    # grow with the pool), which read independent-tuning's descriptor misses
    # and independent-held-out-6's three.
    "held-out-11": {"base_seed": 17093, "seeds": 5},
    "independent-held-out-7": {"base_seed": 63358, "seeds": 5, "generator": "independent"},
    # Fixed before the twelfth round (the descriptors' stricter bound taken
    # from the day's highest floor, not the trough, once a day of history
    # exists), which read independent-held-out-7's two early pages and
    # independent-tuning's tidal pools, seeds 40-79.
    "held-out-12": {"base_seed": 30577, "seeds": 5},
    "independent-held-out-8": {"base_seed": 71822, "seeds": 5, "generator": "independent"},
    # Fixed before the thirteenth round (the exhaustion trends do not page a
    # rise that is yesterday's), which read the daily cycles, caches and
    # leaks of independent-tuning's seeds 0-39.
    "held-out-13": {"base_seed": 34899, "seeds": 5},
    "independent-held-out-9": {"base_seed": 60464, "seeds": 5, "generator": "independent"},
    # Fixed before the fourteenth round (abandoned sessions counted without
    # the load correction until its opening rate exists), which read the
    # session patterns of independent-tuning's seeds 0-79 and
    # independent-held-out-9's session median.
    "held-out-14": {"base_seed": 24850, "seeds": 5},
    "independent-held-out-10": {"base_seed": 46280, "seeds": 5, "generator": "independent"},
}


def cases(seeds=5, base_seed=1, only=None):
    out = []
    for s in range(seeds):
        for name, fn, must, cat in MEMORY_PATTERNS:
            if only and name not in only:
                continue
            r = random.Random("%d/%s/%d" % (base_seed, name, s))
            cid = "%s-%d" % (name, s)
            p, heap, t0 = fn(r)
            c = Case(cid, name, cat, must, t0)
            c.expect_info = name == "allocator-retention"
            p.publish(c, heap)
            out.append(c)
        for name, amp, must in SESSION_PATTERNS:
            if only and name not in only:
                continue
            r = random.Random("%d/%s/%d" % (base_seed, name, s))
            out.append(session_case(r, "%s-%d" % (name, s), name, amp, must))
        for name in SOCKET_PATTERNS:
            if only and name not in only:
                continue
            r = random.Random("%d/%s/%d" % (base_seed, name, s))
            out.append(socket_case(r, "%s-%d" % (name, s), name))
    return out


def fmt(v):
    if isinstance(v, float):
        if v == int(v):
            return str(int(v))
        return repr(v)
    return str(v)


def write_openmetrics(cs, f, job="memtide"):
    """One family at a time (OpenMetrics does not allow interleaving)."""
    fams = {}
    for c in cs:
        for name, labels, vals in c.series:
            fams.setdefault(name, []).append((c.id, labels, vals))
    for name, items in fams.items():
        for cid, labels, vals in items:
            lab = dict(labels)
            lab["instance"] = cid
            lab["job"] = job
            ls = ",".join('%s="%s"' % (k, lab[k]) for k in sorted(lab))
            prefix = "%s{%s} " % (name, ls)
            f.write("".join("%s%s %d\n" % (prefix, fmt(v), T0 + ts(i)) for i, v in enumerate(vals) if v is not None))
    f.write("# EOF\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--base-seed", type=int, default=1)
    ap.add_argument("--out", default="-")
    a = ap.parse_args()
    cs = cases(a.seeds, a.base_seed)
    f = sys.stdout if a.out == "-" else open(a.out, "w")
    write_openmetrics(cs, f)
    for c in cs:
        print("%-32s %-8s %-5s %s" % (c.id, c.category, "fire" if c.must_fire else "quiet",
                                       "" if c.onset is None else "onset %.1fh" % (c.onset / HOUR)), file=sys.stderr)


if __name__ == "__main__":
    main()
