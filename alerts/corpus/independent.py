"""An independent labelled corpus of synthetic memtide metric histories.

Written from the problem statement alone (the leak classes and healthy
behaviours the alerts must tell apart, and docs/metrics.md), without reading
corpus.py's pattern generators, the rules, their tests or
docs/leak-detection.md, so that the leak alerts can be checked on data their
authors did not shape. It shares with corpus.py only the Case class, the time
grid (48 h at 1 min from a UTC midnight) and the OpenMetrics writer. Its own:

- limits log-uniform from 256 MiB to 64 GiB, levels drawn as fractions of them;
  file-backed resident pages a component of their own (resident > anonymous);
- multiplicative (log-normal) noise per member, rare positive blips, whole
  4 KiB pages; load an Ornstein-Uhlenbeck walk, Pareto-sized spikes, GC and
  arena cycles with jittered periods, skewed daily cycles varying by day;
- OOM: a process reaching its limit is killed between two samples and
  restarted 3-90 s later (new start time, fresh memory, the leak resumes), so
  a leak outliving the limit is an OOM loop; in a group the kill takes the
  largest member. A leak older than the history is simulated from its start
  (up to 3 days before), OOM kills included;
- sessions per one-minute cohort of Poisson arrivals, lifetimes drawn
  (stratified) from a model of real sessions: active for a log-normal time,
  then logged out, or expired TTL after the last request and removed by a
  periodic sweep, with a lifetime cap; leaked sessions are never closed;
- failed scrapes isolated or whole outages: `up` 0 and nothing else.

limit_at: the first sample where the noiseless group resident reaches 0.99 x
limit, or that follows an OOM kill if earlier. limit_projected: limit_at, else
the end plus the time to 0.99 x limit at the least-squares slope of the last
2 h, when positive.

Usage: independent.py --seeds 5 --out ind.om    (OpenMetrics, for backfilling)
       independent.py --check --seeds 5         (invariants, seeds 0-4)
"""

import argparse
import bisect
import math
import random
import sys

from corpus import Case, T0, STEP, N, ts, HOUR, DAY, MIB, GIB, AGE_BUCKETS, write_openmetrics

EXT = 3 * 1440  # minutes simulated before T0 (old leaks, old session pools)
M = EXT + N  # "extended" arrays: sample i is at index i + EXT
PAGE = 4096
MEMNAMES = dict(anon="memtide_group_anonymous_bytes", res="memtide_group_resident_bytes",
                max="memtide_group_max_process_resident_bytes", limit="memtide_group_memory_limit_bytes",
                oldest="memtide_group_oldest_start_time_seconds", procs="memtide_group_processes",
                fds="memtide_group_open_fds")
SESS = dict(source="agent", group="app", pool="web")


def lu(r, lo, hi):
    """Log-uniform: rates, limits and periods span orders of magnitude."""
    return math.exp(r.uniform(math.log(lo), math.log(hi)))


def add(*arrs):
    return [sum(v) for v in zip(*arrs)]


def pct(v):
    return "%.1f%%" % (100 * v)


def poisson(r, mu):
    if mu > 40:
        return max(0, int(round(r.gauss(mu, math.sqrt(mu)))))
    lim, k, p = math.exp(-max(mu, 0.0)), 0, r.random()
    while p > lim:
        k, p = k + 1, p * r.random()
    return k


def binom(r, n, p):
    if n < 50:
        return sum(1 for _ in range(n) if r.random() < p)
    mu = n * p
    if mu < 20:
        return min(n, poisson(r, mu))
    return min(n, max(0, int(round(r.gauss(mu, math.sqrt(mu * (1 - p)))))))


# ---- time-varying components: extended arrays, fractions of the limit ----

def ou(r, sd, tau):
    """Load as an Ornstein-Uhlenbeck walk: stationary sd, correlation time tau minutes."""
    a = math.exp(-1.0 / tau)
    s, x, out = sd * math.sqrt(1 - a * a), r.gauss(0, sd), []
    for _ in range(M):
        out.append(x)
        x = a * x + s * r.gauss(0, 1)
    return out


def daily(r, amp, dayfac=None, positive=False):
    """A skewed daily cycle, from sine-like to a business-hours plateau, whose
    size varies from day to day: +-amp, or 0..amp when `positive` (a load)."""
    peak, kap = r.uniform(9, 22), r.uniform(0.3, 2.5)
    fac = {d: (dayfac or {}).get(d, r.uniform(0.85, 1.15)) for d in range(-4, 3)}
    out = []
    for i in range(-EXT, N):
        h = ((T0 + i * STEP) % DAY) / HOUR
        g = math.tanh(kap * math.cos(2 * math.pi * (h - peak) / 24)) / math.tanh(kap)
        x = i * STEP / DAY - 0.5  # day factors are interpolated between noons
        d = math.floor(x)
        m = fac[d] * (1 - (x - d)) + fac[d + 1] * (x - d)
        out.append(amp * m * ((1 + g) / 2 if positive else g))
    return out


def sawtooth(r, amp, period, jit=0.3):
    """GC or arena cycles: grow linearly, drop at once. The period jitters; one
    of a minute or two aliases to noise at this resolution, as it would."""
    out, t = [0.0] * M, -EXT - r.uniform(0, period)
    while t < N:
        ln, a = max(0.5, period * r.uniform(1 - jit, 1 + jit)), amp * r.uniform(0.8, 1.0)
        for i in range(max(-EXT, math.ceil(t)), min(N, math.ceil(t + ln))):
            out[i + EXT] = a * (i - t) / ln
        t += ln
    return out


def spikes(r, per_hour, scale, alpha, cap, dmin, dmax):
    """Big requests: Poisson arrivals, Pareto heights, released at once or slowly."""
    out, t = [0.0] * M, -EXT
    while True:
        t += r.expovariate(per_hour / 60.0)
        if t >= N:
            return out
        h, d, flat = min(cap, scale * r.paretovariate(alpha)), r.uniform(dmin, dmax), r.random() < 0.5
        for i in range(max(-EXT, math.ceil(t)), min(N, math.ceil(t + 4 * d))):
            e = i - t
            out[i + EXT] += (h if e < d else 0.0) if flat else h * math.exp(-2 * e / d)


def batches(r, every_h, dur, amp):
    """A cron batch: ramps up, holds (growing a little), releases everything."""
    out, t = [0.0] * M, -EXT + r.uniform(0, every_h * 60)
    while t < N:
        s, d, a = t + r.uniform(-5, 5), dur * r.uniform(0.8, 1.25), amp * r.uniform(0.8, 1.0)
        rise, fall = r.uniform(1, 3), r.uniform(1, 5)
        for i in range(max(-EXT, math.ceil(s)), min(N, math.ceil(s + d + fall))):
            e = i - s
            out[i + EXT] += a * min(1, e / rise) * (1 + 0.1 * e / d) if e < d else a * 1.1 * max(0.0, 1 - (e - d) / fall)
        t += every_h * 60
    return out


def ramp_to(at_s, size, over_min, shape=None):
    """A lasting step or fill of `size`, complete `over_min` minutes after at_s."""
    f = shape or (lambda u: u)
    return [size * f(min(1.0, max(0.0, (i * 60 - at_s) / 60 / max(over_min, 1e-9)))) for i in range(-EXT, N)]


def failures(r, p, outages=0):
    f = [r.random() < p for _ in range(N)]
    for _ in range(outages):
        a = r.randrange(N)
        for i in range(a, min(N, a + int(lu(r, 5, 180)))):
            f[i] = True
    return f


def linear(rate):
    """A leak of `rate` x limit per hour; e = minutes since it began."""
    return lambda e: rate * e / 60.0


def stairs(r, size, period_h, ramp):
    """A jump of about `size` every period_h (+-20%), each over `ramp` minutes;
    the first jump is at the onset."""
    offs, sizes, t = [], [], 0.0
    while t < 6 * 1440:
        offs.append(t)
        sizes.append(size * r.uniform(0.7, 1.3))
        t += period_h * 60 * r.uniform(0.8, 1.2)
    cum = [sum(sizes[:k]) for k in range(len(sizes) + 1)]

    def f(e):
        k = bisect.bisect_right(offs, e)
        return 0.0 if k == 0 else cum[k - 1] + sizes[k - 1] * min(1.0, (e - offs[k - 1]) / ramp)
    return f


class Ctx:
    """What every history draws: limit, file-backed share, noise, load, scrape failures."""

    def __init__(self, r, lo=256 * MIB, hi=64 * GIB):
        self.L = max(lo, int(lu(r, lo, hi)) // (16 * MIB) * (16 * MIB))
        self.file = min(0.08, lu(r, 8, 60) * MIB / self.L) + r.uniform(0, 0.04)
        self.sd = lu(r, 0.001, 0.012)
        self.load = ou(r, lu(r, 0.002, 0.02), lu(r, 10, 240))
        self.fails = failures(r, 0.0 if r.random() < 0.35 else lu(r, 3e-4, 6e-3))
        self.old = -lu(r, 1.5 * DAY, 40 * DAY)  # start of a long-running process


def fit(base, env, file, top=0.88):
    """Shrink a shape that would come near the limit: healthy processes (and
    leaking ones before their leak) stay clear of it."""
    peak = base + max(env) + file
    if peak <= top:
        return base, env
    s = (top - file) / (peak - file)
    return base * s, [v * s for v in env]


def onset_in(r, lo, hi, rate, head):
    """A leak that began before the history has used at most 3/4 of its
    headroom by T0 (older ones are OOM loops, a pattern of their own)."""
    return r.uniform(min(hi, max(lo, -0.75 * max(head, 0.0) / rate * HOUR)), hi)


# ---- processes ----

def steady(base, env, leak=None, onset=None, fresh=1.0, tau=0.0, restarts=(), rebase=None):
    """The anonymous memory of an ordinary process: base (warming up from
    `fresh` x base with time constant tau after each start; times rebase[k]
    after planned restart k: a new version) + env + the leak since
    max(onset, start)."""
    def level(k, t, st):
        age = (t - st) / 60
        w = 1.0 if tau <= 0 else fresh + (1 - fresh) * (1 - math.exp(-age / tau))
        n = bisect.bisect_right(restarts, t)
        a = max(0.02 * base, base * (rebase[n - 1] if rebase and n else 1.0) * w + env[k])
        if leak and onset is not None and t > max(onset, st):
            a += leak((t - max(onset, st)) / 60)
        return a, None
    return level


def heap(live0, env, other, leak, onset, frag, held0=0.0, decay=0.0, saw=None):
    """A process whose anonymous memory is its malloc heap: live bytes, plus free
    memory the allocator keeps, plus stacks and other mappings. Without `saw`
    the allocator keeps its high-water mark and returns it slowly (`decay` a
    minute), so a live-heap leak first fills retained space and RSS stays flat;
    with `saw` its arenas grow and are trimmed in cycles."""
    held = {}

    def level(k, t, st):
        age = (t - st) / 60
        lv = max(0.3 * live0, live0 * (1 - 0.5 * math.exp(-age / 20)) + env[k])
        if t > max(onset, st):
            lv += leak((t - max(onset, st)) / 60)
        fl = lv * (1 + frag)
        if saw is None:
            h = held[st] = max(fl, held[st] - decay if st in held else fl + held0)
        else:
            h = fl + saw[k]
        return h + other, lv
    return level


def run(r, level, file, start, restarts=(), others=None, oom=True):
    """One member slot over the extended range, in fractions of the limit.
    Planned restarts replace the process 2-45 s after the old one exits;
    reaching the limit (with `others`, the rest of the group) is an OOM kill
    between two samples and a restart 3-90 s later."""
    s = dict(anon=[None] * M, file=[None] * M, start=[None] * M, live=[None] * M, kills=[])
    st, restarts, ri = start, sorted(restarts), 0
    for i in range(max(-EXT, math.floor(start / 60)), N):
        t, k = i * 60, i + EXT
        while ri < len(restarts) and restarts[ri] <= t:
            st, ri = max(st, restarts[ri] + r.uniform(2, 45)), ri + 1
        if t < st:
            continue
        o = others[k] if others else 0.0
        for attempt in (0, 1):
            a, lv = level(k, t, st)
            f = file * (1 - 0.3 * math.exp(-(t - st) / 180))  # libraries fault back in after a start
            if oom and attempt == 0 and a + f + o >= 1.0:
                st = max(st, t - r.uniform(0, 60)) + r.uniform(3, 90)
                s["kills"].append(i)
                if st > t:
                    break
                continue
            a = min(a, 0.999 - f - o)
            s["anon"][k], s["file"][k], s["start"][k] = a, f, T0 + st
            s["live"][k] = None if lv is None else min(lv, a)
            break
    return s


def publish(c, r, x, slots, vis=0, fds=None, heap_live=False):
    """Scrape the group each minute: noise, failed scrapes, whole pages. Sets
    the case's limit labels; returns the samples that carry the group."""
    L, out = x.L, {k: [None] * N for k in MEMNAMES}
    up, ok, live, true, fdbase = [None] * N, [None] * N, [None] * N, [None] * N, {}
    for i in range(N):
        k = i + EXT
        alive = [(n, s) for n, s in enumerate(slots) if s["anon"][k] is not None]
        if alive:
            true[i] = L * sum(s["anon"][k] + s["file"][k] for _, s in alive)
        if i < vis:  # monitoring had not begun: no target, no `up`
            continue
        up[i] = ok[i] = 0 if x.fails[i] else 1
        if x.fails[i]:
            ok[i] = None
            continue
        if not alive:
            continue
        mem = []
        for _, s in alive:
            a = s["anon"][k] * L * math.exp(r.gauss(0, x.sd)) * (1 + r.uniform(0.01, 0.06) * (r.random() < 0.002))
            mem.append((a, s["file"][k] * L * math.exp(r.gauss(0, x.sd / 2))))
        sc = min(1.0, (L - 64 * PAGE) / sum(a + f for a, f in mem))  # a cgroup cannot exceed its limit
        mem = [(int(a * sc) // PAGE * PAGE, int(f * sc) // PAGE * PAGE) for a, f in mem]
        out["anon"][i], out["res"][i] = sum(a for a, _ in mem), sum(a + f for a, f in mem)
        out["max"][i], out["limit"][i] = max(a + f for a, f in mem), L
        out["oldest"][i], out["procs"][i] = int(min(s["start"][k] for _, s in alive)), len(alive)
        for n, s in alive:
            if (n, s["start"][k]) not in fdbase:
                fdbase[(n, s["start"][k])] = r.randint(12, 300)
        out["fds"][i] = fds[i] if fds else (sum(fdbase[(n, s["start"][k])] for n, s in alive)
                                            + int(abs(r.gauss(0, 2 + len(alive)))))
        if heap_live:
            live[i] = min(out["anon"][i], int(slots[0]["live"][k] * L * (1 + r.gauss(0, 0.002))))
    c.add("up", up)
    c.add("memtide_scrape_collector_success", ok, collector="process")
    for key, name in MEMNAMES.items():
        c.add(name, out[key], group="app")
    if heap_live:
        c.add("memtide_malloc_live_bytes", live, group="app")
    kills = sorted(i for s in slots for i in s["kills"] if i >= 0)
    hits = [i for i in range(N) if true[i] is not None and true[i] >= 0.99 * L][:1] + kills[:1]
    c.limit_at = c.limit_projected = ts(min(hits)) if hits else None
    pts = [(i, true[i]) for i in range(N - 121, N) if true[i] is not None]
    if c.limit_at is None and len(pts) > 30:
        mi, mv = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
        slope = sum((i - mi) * (v - mv) for i, v in pts) / sum((i - mi) ** 2 for i, _ in pts)
        if slope > 0:
            c.limit_projected = ts(N - 1) + max(0.0, (0.99 * L - mv - slope * (N - 1 - mi)) / slope * STEP)
    c.first_seen = next((ts(i) for i in range(N) if out["res"][i] is not None), 0)
    c.expect_info = False
    c._L, c._true, c._kills = L, true, kills
    c.note = (c.note + " oom=%d" % len(kills)).strip()
    return [up[i] == 1 and out["res"][i] is not None for i in range(N)]


def single(r, c, x, level, start=None, **kw):
    vis = kw.pop("vis", 0)
    return publish(c, r, x, [run(r, level, x.file, x.old if start is None else start, **kw)], vis=vis,
                   heap_live=c.category == "heap")


PATTERNS = []


def pattern(name, category, must_fire):
    def reg(fn):
        PATTERNS.append((name, category, must_fire, fn))
        return fn
    return reg


# ---- memory leaks ----

def linear_leak(rates, bases, onsets, extra=None):
    """A straight-line leak on an ordinary process; `extra(r)` draws the shape it
    hides under (a small daily cycle, GC cycles, spiky traffic) and its note."""
    def fn(r, c):
        x = Ctx(r)
        shape, note = extra(r) if extra else ([0.0] * M, "")
        base, env = fit(r.uniform(*bases), add(x.load, shape), x.file, 0.8)
        rate = lu(r, *rates)
        c.onset = onset_in(r, onsets[0] * HOUR, onsets[1] * HOUR, rate, 0.97 - base - max(env) - x.file)
        c.note = "%srate %s/h" % (note, pct(rate))
        single(r, c, x, steady(base, env, linear(rate), c.onset))
    return fn


def _small_daily(r):
    amp = r.uniform(0.01, 0.04) * (r.random() < 0.5)
    return daily(r, amp), "daily +-%s " % pct(amp)


def _gc_cycles(r):
    amp, period = r.uniform(0.03, 0.3), lu(r, 1, 60)
    return sawtooth(r, amp, period), "saw %s/%.0fmin " % (pct(amp), period)


def _spiky(r):
    return add(ou(r, lu(r, 0.01, 0.03), lu(r, 5, 60)),
               spikes(r, r.uniform(0.5, 4), r.uniform(0.01, 0.04), r.uniform(1.1, 1.8), 0.25, 1, 20)), "spiky "


pattern("ind-linear-drip", "memory", True)(linear_leak((0.02, 0.12), (0.12, 0.5), (-8, 40)))
# 0.5-2 %/h: often still far from the limit when the history ends
pattern("ind-creeping", "memory", True)(linear_leak((0.005, 0.02), (0.2, 0.6), (-24, 16), _small_daily))
# 10-25 %/h from 1-45 h: must page with most of the way to the limit ahead
pattern("ind-runaway", "memory", True)(linear_leak((0.10, 0.25), (0.1, 0.45), (1, 45)))
# a leak under GC cycles of 1-60 min and up to 30 % of the limit
pattern("ind-gc-masked-leak", "memory", True)(linear_leak((0.01, 0.06), (0.1, 0.35), (-6, 36), _gc_cycles))
# a leak under bursty traffic with Pareto-sized spikes
pattern("ind-spiky-leak", "memory", True)(linear_leak((0.01, 0.08), (0.1, 0.35), (-6, 36), _spiky))


@pattern("ind-stairs", "memory", True)
def _stairs(r, c):
    # a cache keyed by something unbounded, grown by a periodic job
    x = Ctx(r)
    base, env = fit(r.uniform(0.15, 0.5), x.load, x.file, 0.8)
    period = lu(r, 1, 4)
    size = r.uniform(0.01, 0.06) if r.random() < 0.5 else min(0.08, lu(r, 40, 400) * MIB / x.L)
    size = max(size, 0.006 * period)  # at least 0.6 %/h on average
    c.onset = onset_in(r, -10 * HOUR, 30 * HOUR, size / period, 0.97 - base - x.file)
    c.note = "step %s every %.1fh" % (pct(size), period)
    single(r, c, x, steady(base, env, stairs(r, size, period, r.uniform(1, 6)), c.onset))


@pattern("ind-one-of-many", "memory", True)
def _one_of_many(r, c):
    # a prefork group, maybe with a small master; one worker hits the leaking path
    x = Ctx(r)
    n = int(lu(r, 2, 33))
    master = n >= 3 and r.random() < 0.5
    w = lu(r, 60, 900) * MIB
    sizes = ([lu(r, 15, 80) * MIB] if master else []) + [w * r.uniform(0.85, 1.15) for _ in range(n - master)]
    files = [lu(r, 5, 40) * MIB for _ in sizes]
    x.L = min(64 * GIB, max(256 * MIB, int(sum(sizes + files) * r.uniform(1.5, 4)) // (16 * MIB) * (16 * MIB)))
    fr, ff = [v / x.L for v in sizes], [v / x.L for v in files]
    victim, rate = r.randrange(int(master), n), lu(r, 0.005, 0.08)
    c.onset = onset_in(r, -6 * HOUR, 36 * HOUR, rate, 0.97 - sum(fr) - sum(ff))
    env = [add(ou(r, 0.03 * f, lu(r, 10, 120)), [v * f / sum(fr) for v in x.load]) for f in fr]
    slots = [run(r, steady(fr[m], env[m]), ff[m], x.old + m, oom=False) for m in range(n) if m != victim]
    others = [sum(s["anon"][k] + s["file"][k] for s in slots if s["anon"][k] is not None) for k in range(M)]
    slots.insert(victim, run(r, steady(fr[victim], env[victim], linear(rate), c.onset, 0.6, 10), ff[victim],
                             x.old + victim, others=others))
    c.note = "%d members, one leaks %.0f MiB/h (%s/h)" % (n, rate * x.L / MIB, pct(rate))
    publish(c, r, x, slots)


@pattern("ind-tidal-leak", "memory", True)
def _tidal_leak(r, c):
    # a leak under a daily load cycle, on a long-running or on a young process
    x = Ctx(r)
    amp = r.uniform(0.04, 0.25)
    base, env = fit(r.uniform(amp + 0.05, amp + 0.3), add(x.load, daily(r, amp)), x.file, 0.8)
    rate = lu(r, 0.007, 0.05)
    if r.random() < 0.5:
        start = r.uniform(-20 * HOUR, 10 * HOUR)
        c.onset = start + r.choice([0.0, r.uniform(0, 6 * HOUR)])
    else:
        start = x.old
        c.onset = onset_in(r, -6 * HOUR, 36 * HOUR, rate, 0.97 - base - amp - x.file)
    c.note = "daily +-%s rate %s/h start %.1fh" % (pct(amp), pct(rate), start / HOUR)
    single(r, c, x, steady(base, env, linear(rate), c.onset, 0.5, 30), start)


@pattern("ind-leaky-newborn", "memory", True)
def _newborn(r, c):
    # a process that leaks from its first request, with or without a warm-up
    x = Ctx(r)
    base, env = fit(r.uniform(0.1, 0.4), x.load, x.file, 0.8)
    start, rate, warm = r.uniform(0.5 * HOUR, 30 * HOUR), lu(r, 0.02, 0.15), r.random() < 0.5
    c.onset = start
    c.note = "start %.1fh rate %s/h%s" % (start / HOUR, pct(rate), " warm-up" if warm else "")
    single(r, c, x, steady(base, env, linear(rate), start, r.uniform(0.3, 0.6) if warm else 1.0,
                           r.uniform(10, 25) if warm else 0.0), start)


@pattern("ind-relapse-after-deploy", "memory", True)
def _relapse(r, c):
    # a long-running process is replaced by a new version that leaks
    x = Ctx(r)
    b0, env = fit(r.uniform(0.15, 0.5), x.load, x.file, 0.75)
    b1 = b0 * r.uniform(0.85, 1.1)
    if r.random() < 0.4:
        b0 += r.uniform(0.03, 0.12)  # the old process had grown its caches: memory drops at the deploy
    tr, rate = r.uniform(3 * HOUR, 36 * HOUR), lu(r, 0.015, 0.1)
    c.onset = tr + (0.0 if r.random() < 0.5 else r.uniform(0, 3 * HOUR))
    c.note = "deploy %.1fh rate %s/h" % (tr / HOUR, pct(rate))
    single(r, c, x, steady(b0, env, linear(rate), c.onset, r.uniform(0.3, 0.7), r.uniform(10, 40),
                           [tr], [b1 / b0]), restarts=[tr])


@pattern("ind-oom-cycle", "memory", True)
def _oom_cycle(r, c):
    # the leak shipped before the history: the process already cycles through OOM kills
    x = Ctx(r)
    base, env = fit(r.uniform(0.15, 0.4), x.load, x.file, 0.75)
    rate, start = lu(r, 0.08, 0.25), r.uniform(-30 * HOUR, -2 * HOUR)
    c.onset = start
    c.note = "rate %s/h since %.1fh" % (pct(rate), start / HOUR)
    single(r, c, x, steady(base, env, linear(rate), start, r.uniform(0.4, 0.8), r.uniform(5, 30)), start)


@pattern("ind-heap-hwm-mask", "heap", True)
def _heap_hwm(r, c):
    # the live heap grows 10-50 MiB/h inside memory the allocator already holds
    x = Ctx(r, 1 * GIB, 12 * GIB)
    live0, frag, other = r.uniform(0.08, 0.3), r.uniform(0.05, 0.25), r.uniform(0.02, 0.06)
    held0 = min(r.uniform(0.05, 0.25), max(0.0, 0.7 - live0 * (1 + frag) - other - x.file))
    env = add(ou(r, r.uniform(0.005, 0.02), r.uniform(5, 60)),
              spikes(r, r.uniform(0.3, 2), r.uniform(0.02, 0.06), r.uniform(1.2, 1.8), 0.15, 2, 15))
    rate = r.uniform(10, 50) * MIB / x.L
    c.onset = onset_in(r, -6 * HOUR, 30 * HOUR, rate, 0.9 - live0 - held0 - other - x.file)
    c.note = "live +%.0f MiB/h limit %.1fGiB" % (rate * x.L / MIB, x.L / GIB)
    single(r, c, x, heap(live0, env, other, linear(rate), c.onset, frag, held0, lu(r, 0.001, 0.02) / 60))


@pattern("ind-heap-arena-churn", "heap", True)
def _heap_arena(r, c):
    # the live heap grows under a daily swing; RSS follows arena growth and trims
    x = Ctx(r, 1 * GIB, 12 * GIB)
    live0, frag, other = r.uniform(0.1, 0.35), r.uniform(0.05, 0.3), r.uniform(0.02, 0.06)
    env = add(ou(r, r.uniform(0.003, 0.015), r.uniform(5, 60)), daily(r, r.uniform(0.02, 0.12)))
    saw, rate = sawtooth(r, r.uniform(0.03, 0.2), lu(r, 5, 60), 0.5), r.uniform(10, 50) * MIB / x.L
    start = x.old if r.random() < 0.5 else r.uniform(-20 * HOUR, 6 * HOUR)
    c.onset = (start + r.uniform(0, 4 * HOUR) if start > x.old else
               onset_in(r, -6 * HOUR, 36 * HOUR, rate, 0.9 - 1.3 * live0 - 0.35 - x.file))
    c.note = "live +%.0f MiB/h limit %.1fGiB" % (rate * x.L / MIB, x.L / GIB)
    single(r, c, x, heap(live0, env, other, linear(rate), c.onset, frag, saw=saw), start)


# ---- healthy memory ----

@pattern("ind-cache-fill", "memory", False)
def _cache_fill(r, c):
    # a cache (re)filling to its capacity on a long-running process, then full
    x = Ctx(r)
    tf, dur = r.uniform(-2 * HOUR, 40 * HOUR), lu(r, 1, 6)
    total = min(0.35, r.uniform(0.02, 0.10) * dur)
    sat = r.random() < 0.5  # saturating: evictions catch up with insertions
    fill = ramp_to(tf, total, dur * 60, (lambda u: (1 - math.exp(-3 * u)) / (1 - math.exp(-3))) if sat else None)
    base, env = fit(r.uniform(0.1, 0.45), add(x.load, fill), x.file)
    c.note = "fill %s over %.1fh at %.1fh" % (pct(total), dur, tf / HOUR)
    single(r, c, x, steady(base, env))


@pattern("ind-daily-young", "memory", False)
def _daily_young(r, c):
    # a daily cycle on a process younger than a day; sometimes monitoring began late
    x = Ctx(r)
    amp, start = r.uniform(0.02, 0.25), r.uniform(-20 * HOUR, 8 * HOUR)
    base, env = fit(r.uniform(amp + 0.08, amp + 0.4), add(x.load, daily(r, amp)), x.file)
    vis = int(r.uniform(1, 12) * 60) if start < 0 and r.random() < 0.3 else 0
    c.note = "+-%s start %.1fh seen %.1fh" % (pct(amp), start / HOUR, vis / 60)
    single(r, c, x, steady(base, env, fresh=r.uniform(0.3, 0.7), tau=lu(r, 10, 90)), start, vis=vis)


@pattern("ind-daily-seasoned", "memory", False)
def _daily_seasoned(r, c):
    x = Ctx(r)
    amp = r.uniform(0.02, 0.25)
    base, env = fit(r.uniform(amp + 0.08, amp + 0.4), add(x.load, daily(r, amp)), x.file)
    c.note = "+-%s" % pct(amp)
    single(r, c, x, steady(base, env))


@pattern("ind-quiet-then-busy", "memory", False)
def _quiet_busy(r, c):
    # a weekend, then a Monday: the history's first day is quiet, its second busy
    x = Ctx(r)
    amp, q = r.uniform(0.05, 0.25), r.uniform(0.15, 0.4)
    fac = {-4: 1.0, -3: 1.0, -2: 1.0, -1: q * r.uniform(0.8, 1.2), 0: q, 1: r.uniform(0.9, 1.1), 2: 1.0}
    base, env = fit(r.uniform(0.1, 0.45), add(x.load, daily(r, amp, fac, positive=True)), x.file)
    c.note = "busy %s quiet x%.2f" % (pct(amp), q)
    single(r, c, x, steady(base, env))


@pattern("ind-warmup-settle", "memory", False)
def _warmup(r, c):
    x = Ctx(r)
    start, tau = r.uniform(-1 * HOUR, 36 * HOUR), lu(r, 15, 240)
    base, env = fit(r.uniform(0.2, 0.75), x.load, x.file)
    c.note = "start %.1fh tau %.0fmin" % (start / HOUR, tau)
    single(r, c, x, steady(base, env, fresh=r.uniform(0.15, 0.5), tau=tau), start)


@pattern("ind-one-step", "memory", False)
def _one_step(r, c):
    # a config reload or a big dataset: one lasting step (sometimes a second, smaller)
    x = Ctx(r)
    at, size = r.uniform(2 * HOUR, 44 * HOUR), r.uniform(0.03, 0.25)
    env = add(x.load, ramp_to(at, size, r.uniform(0, 10)))
    if r.random() < 0.35:
        env = add(env, ramp_to(r.uniform(at, 47 * HOUR), r.uniform(0.02, 0.08), r.uniform(0, 10)))
    base, env = fit(r.uniform(0.1, 0.5), env, x.file)
    c.note = "step %s at %.1fh" % (pct(size), at / HOUR)
    single(r, c, x, steady(base, env))


@pattern("ind-batch-window", "memory", False)
def _batch(r, c):
    x = Ctx(r)
    every, dur, amp = lu(r, 2, 8), r.uniform(10, 60), r.uniform(0.05, 0.35)
    base, env = fit(r.uniform(0.1, 0.45), add(x.load, batches(r, every, dur, amp)), x.file)
    c.note = "%s for %.0fmin every %.1fh" % (pct(amp), dur, every)
    single(r, c, x, steady(base, env))


@pattern("ind-recycled-workers", "memory", False)
def _recycled(r, c):
    # each worker bloats until it is recycled after its request quota; staggered
    x = Ctx(r)
    n, life, grow = int(lu(r, 4, 33)), lu(r, 0.5, 12), r.uniform(0.2, 1.5)  # grow: over a life, x fresh size
    w0, master, files = lu(r, 50, 600) * MIB, lu(r, 15, 80) * MIB, lu(r, 5, 40) * MIB
    peak = master + n * w0 * (1 + 1.2 * grow) + (n + 1) * files
    x.L = min(64 * GIB, int(peak * r.uniform(1.4, 3)) // (16 * MIB) * (16 * MIB))
    slots = [run(r, steady(master / x.L, [0.0] * M), files / x.L, x.old, oom=False)]
    for _ in range(n):
        fw, rs, t = w0 / x.L * r.uniform(0.9, 1.1), [], -EXT * 60 + r.uniform(0, life * HOUR)
        while t < N * 60:
            rs.append(t)
            t += life * HOUR * r.uniform(0.8, 1.2)
        slots.append(run(r, steady(fw, ou(r, 0.03 * fw, 30), linear(fw * grow / life), -1e12, 0.7, 5),
                         files / x.L, -EXT * 60, restarts=rs, oom=False))
    c.note = "%d workers recycled every %.1fh" % (n, life)
    publish(c, r, x, slots)


@pattern("ind-high-water", "memory", False)
def _high_water(r, c):
    # a process sized to its limit: flat at 70-90 %
    x = Ctx(r)
    env = add(ou(r, lu(r, 0.002, 0.01), lu(r, 10, 120)),
              sawtooth(r, r.uniform(0.01, 0.03), lu(r, 1, 30)) if r.random() < 0.5 else [0.0] * M)
    level = r.uniform(0.70, 0.90)
    base, env = fit(level - x.file, env, x.file, 0.94)
    c.note = "level %s" % pct(level)
    single(r, c, x, steady(base, env))


@pattern("ind-gc-breathing", "memory", False)
def _gc_breathing(r, c):
    x = Ctx(r)
    amp, period = r.uniform(0.03, 0.3), lu(r, 1, 60)
    env = add(x.load, sawtooth(r, amp, period), daily(r, r.uniform(0.02, 0.1) * (r.random() < 0.5)))
    base, env = fit(r.uniform(0.1, 0.4), env, x.file)
    c.note = "saw %s/%.0fmin" % (pct(amp), period)
    single(r, c, x, steady(base, env))


@pattern("ind-redeploys", "memory", False)
def _redeploys(r, c):
    # one to four deploys, each re-warming to about the same level (new versions differ a little)
    x = Ctx(r)
    rs = sorted(r.uniform(1 * HOUR, 47 * HOUR) for _ in range(r.randint(1, 4)))
    mult = [math.prod(r.uniform(0.92, 1.08) for _ in range(k + 1)) for k in range(len(rs))]
    base, env = fit(r.uniform(0.15, 0.5) / max(mult + [1.0]), add(x.load, daily(r, r.uniform(0.0, 0.08))), x.file)
    c.note = "%d restarts" % len(rs)
    single(r, c, x, steady(base, env, None, None, r.uniform(0.2, 0.6), lu(r, 10, 180), rs, mult), restarts=rs)


@pattern("ind-heavy-tail-traffic", "memory", False)
def _heavy_tail(r, c):
    x = Ctx(r)
    env = add(ou(r, lu(r, 0.01, 0.04), lu(r, 5, 60)),
              spikes(r, r.uniform(1, 8), r.uniform(0.005, 0.03), r.uniform(1.1, 2.0), 0.3, 1, 20))
    base, env = fit(r.uniform(0.1, 0.4), env, x.file)
    single(r, c, x, steady(base, env))


@pattern("ind-patchy-scrapes", "memory", False)
def _patchy(r, c):
    x = Ctx(r)
    x.fails = failures(r, r.uniform(0.01, 0.08), r.randint(1, 4))
    base, env = fit(r.uniform(0.15, 0.6), add(x.load, daily(r, r.uniform(0, 0.08))), x.file)
    c.note = "%d failed scrapes" % sum(x.fails)
    single(r, c, x, steady(base, env))


# ---- sessions and sockets, on a process with healthy memory ----

def lifetimes(r, ttl_min, med, sig, logout, cap_min):
    """F[k] = P(a session is closed within k minutes of its opening minute):
    active for a log-normal time, then logged out (share `logout`) or expired
    TTL after its last request and removed by a sweep every 1-5 min; closed at
    the absolute lifetime cap at the latest (F[K] = 1)."""
    gc = r.uniform(1, 5)

    def act(v):
        return 0.0 if v <= 0 else 0.5 * (1 + math.erf((math.log(v) - math.log(med)) / sig / math.sqrt(2)))
    F = [min(1.0, logout * act(k + 0.5) + (1 - logout) * sum(act(k + 0.5 - ttl_min - gc * (q + 0.5) / 4)
                                                            for q in range(4)) / 4)
         for k in range(int(cap_min + ttl_min + gc) + 1)]
    return F + [1.0]


def session_pool(r, lam, j0, F, leak=0.0, onset_j=None):
    """Cohorts of sessions opened in each minute j >= j0 (counted at sample j):
    Poisson(lam(j)) arrivals, a binomial share leaked (never closed) from the
    onset, the rest closed after a lag k drawn by stratified sampling of F. A
    session counts in the bucket of bound B minutes from sample j+B while still
    open, so the buckets are sums of difference arrays."""
    K, bounds = len(F) - 1, [b // 60 for b in AGE_BUCKETS]
    nb, size = len(bounds), N - j0 + max(K, bounds[-1]) + 2
    cls = [bisect.bisect_left(bounds, k) for k in range(K + 1)]  # how many bounds a lag outlives
    opens, closes, plus = [0] * size, [[0] * size for _ in range(nb + 1)], [[0] * size for _ in range(nb)]
    for j in range(j0, N):
        x = j - j0
        n = opens[x] = poisson(r, lam(j))
        lk = binom(r, n, leak) if onset_j is not None and j >= onset_j else 0
        m, cnt, u = n - lk, [0] * (nb + 1), r.random()
        if m * 8 < K:  # few sessions: place each
            lags = [(bisect.bisect_left(F, (q + u) / m), 1) for q in range(m)]
        else:  # many: walk the distribution
            lags, prev = [], 0
            for k in range(K + 1):
                cur = int(m * F[k] + u)
                if cur > prev:
                    lags.append((k, cur - prev))
                    prev = cur
                    if prev >= m:
                        break
        for k, v in lags:
            closes[cls[k]][x + k] += v
            cnt[cls[k]] += v
        above = lk
        for q in range(nb - 1, -1, -1):
            above += cnt[q + 1]
            plus[q][x + bounds[q]] += above
    res = dict(opened=[None] * N, closed=[None] * N, live=[None] * N, age=[[None] * N for _ in bounds])
    co = cc = 0
    rp, rm = [0] * nb, [0] * nb
    for y in range(N - j0):
        cl = [closes[m][y] for m in range(nb + 1)]
        co, cc = co + opens[y], cc + sum(cl)
        for q in range(nb):
            rp[q], rm[q] = rp[q] + plus[q][y], rm[q] + sum(cl[q + 1:])
        if y + j0 >= 0:
            i = y + j0
            res["opened"][i], res["closed"][i], res["live"][i] = co, cc, co - cc
            for q in range(nb):
                res["age"][q][i] = rp[q] - rm[q]
    return res


def healthy(r, x, start=None):
    """The process behind a pool or a port: no memory leak."""
    base, env = fit(r.uniform(0.1, 0.45), add(x.load, daily(r, r.uniform(0, 0.04))), x.file)
    young = start is not None and start > x.old
    return run(r, steady(base, env, fresh=r.uniform(0.4, 0.8) if young else 1.0, tau=30.0 if young else 0.0),
               x.file, x.old if start is None else start)


def load_factor(r, flat, trough):
    """Traffic relative to its peak: a log-normal random walk, times a daily shape unless flat."""
    w = [math.exp(v) for v in ou(r, r.uniform(0.05, 0.15), lu(r, 20, 240))]
    return w if flat else [a * (trough + (1 - trough) * d) for a, d in zip(w, daily(r, 1.0, positive=True))]


def session_case(r, c, kind):
    x = Ctx(r)
    leak = c.must_fire
    young = kind in ("tidal", "lingering") and r.random() < 0.3
    start = r.uniform(-20 * HOUR, 6 * HOUR) if young else -r.uniform(1.5 * DAY, 2.9 * DAY)
    ttl = 1800 if leak else r.choice([1440, 1800, 3600])
    rate = lu(r, 1, 30) if leak else lu(r, 0.05, 5 if kind == "lingering" else 30)
    lf = load_factor(r, kind == "flat", r.uniform(0.05, 0.5))
    if kind == "lingering":  # some users stay active for hours; sessions end at 6-12 h
        F = lifetimes(r, ttl / 60, lu(r, 3, 15), r.uniform(1.4, 1.9), r.uniform(0.1, 0.5), r.uniform(360, 720))
    else:
        F = lifetimes(r, ttl / 60, lu(r, 2, 20), r.uniform(0.8, 1.3), r.uniform(0.2, 0.7), r.uniform(240, 480))
    frac = lu(r, 0.005, 0.05) if leak else 0.0
    if leak:
        c.onset = start + r.uniform(0, 3 * HOUR) if young else r.uniform(-12 * HOUR, 36 * HOUR)
    pool = session_pool(r, lambda j: rate * 60 * lf[j + EXT], max(-EXT, math.ceil(start / 60)), F, frac,
                        None if c.onset is None else math.ceil(c.onset / 60))
    c.note = "%.2f/s peak%s ttl %d start %.1fh" % (rate, " leak %s" % pct(frac) if leak else "", ttl, start / HOUR)
    on = publish(c, r, x, [healthy(r, x, start)])
    gate = lambda v: [a if ok else None for a, ok in zip(v, on)]
    c.add("memtide_sessions_live", gate(pool["live"]), **SESS)
    c.add("memtide_sessions_opened_total", gate(pool["opened"]), **SESS)
    c.add("memtide_sessions_closed_total", gate(pool["closed"]), **SESS)
    c.add("memtide_sessions_ttl_seconds", gate([ttl] * N), **SESS)
    for b, v in zip(AGE_BUCKETS, pool["age"]):
        c.add("memtide_sessions_live_by_age", gate(v), older_than_seconds=str(b), **SESS)


def socket_case(r, c, kind):
    """Established connections follow traffic; close_wait holds the few the
    application is about to close, plus those it never will; every socket and
    every leaked file is an open fd."""
    x = Ctx(r)
    lf = load_factor(r, kind != "quiet" and r.random() < 0.4, r.uniform(0.05, 0.5))
    peak, cwf, fd0, mean_lf = lu(r, 5, 3000), lu(r, 0.001, 0.02), r.randint(20, 300), sum(lf) / M
    extra = [0.0] * M
    if kind == "quiet":  # now and then a slow downstream: close_wait piles up, then drains
        extra = spikes(r, r.uniform(0.05, 0.3), peak * r.uniform(0.01, 0.05), 1.5, peak * 0.3, 5, 30)
    else:
        c.onset = r.uniform(-8 * HOUR, 36 * HOUR)
    # close_wait leaks with traffic (a share of peer-closed connections); files leak at their own pace
    rate = min(3000, max(3, peak * lu(r, 0.05, 1.0))) if kind == "closewait" else lu(r, 10, 500)  # per hour
    step, period = kind == "fds" and r.random() < 0.5, lu(r, 1, 4)  # fds leaked in batches by a periodic job
    ago = max(0.0, -(c.onset or 0.0))
    leaked = int(rate * period) * int(ago / (period * HOUR)) if step else poisson(r, rate * ago / HOUR)
    nxt = None if c.onset is None else c.onset + math.ceil(ago / (period * HOUR)) * period * HOUR
    est, cw, fds = [], [], []
    for i in range(N):
        k, t = i + EXT, i * 60
        if c.onset is not None and t > c.onset:
            if not step:
                leaked += poisson(r, rate / 60 * lf[k] / mean_lf)
            elif t >= nxt:
                leaked, nxt = leaked + poisson(r, rate * period), nxt + period * HOUR * r.uniform(0.8, 1.2)
        e = poisson(r, peak * lf[k])
        w = poisson(r, peak * lf[k] * cwf + extra[k]) + (leaked if kind == "closewait" else 0)
        est.append(e)
        cw.append(w)
        fds.append(fd0 + e + w + (leaked if kind == "fds" else 0) + poisson(r, 3))
    c.note = "peak %.0f conns" % peak + ("" if kind == "quiet" else " leak %.0f/h%s" % (rate, " stairs" * step))
    on = publish(c, r, x, [healthy(r, x)], fds=fds)
    for state, v in (("close_wait", cw), ("established", est)):
        c.add("memtide_tcp_connections", [a if ok else None for a, ok in zip(v, on)], port="8080", state=state)


for _name, _cat, _must, _fn, _kind in [
        ("ind-sess-orphans-steady", "session", True, session_case, "flat"),
        ("ind-sess-orphans-tidal", "session", True, session_case, "tidal"),
        ("ind-sess-tidal-healthy", "session", False, session_case, "healthy"),
        ("ind-sess-lingering-users", "session", False, session_case, "lingering"),
        ("ind-sock-closewait-pile", "socket", True, socket_case, "closewait"),
        ("ind-sock-fd-bleed", "socket", True, socket_case, "fds"),
        ("ind-sock-tidal", "socket", False, socket_case, "quiet")]:
    pattern(_name, _cat, _must)(lambda r, c, f=_fn, k=_kind: f(r, c, k))


def cases(seeds=5, base_seed=1, only=None):
    out = []
    for s in range(seeds):
        for name, category, must, fn in PATTERNS:
            if not only or name in only:
                c = Case(f"{name}-{s}", name, category, must)
                fn(random.Random(f"{base_seed}/{name}/{s}"), c)
                out.append(c)
    return out


def check(cs):
    """The invariants every case must keep; returns the violations."""
    errs = []
    for c in cs:
        def bad(msg):
            errs.append("%s: %s" % (c.id, msg))
        S = {}
        for name, labels, vals in c.series:
            key = (name, tuple(sorted(labels.items())))
            xs = [v for v in vals if v is not None]
            if key in S or len(vals) != N or any(not math.isfinite(v) or v < 0 for v in xs):
                bad("%s: duplicate, %d values, or a negative value" % (key, len(vals)))
            if name.endswith("_total") and any(b < a for a, b in zip(xs, xs[1:])):
                bad("counter %s decreases" % name)
            S[key] = vals
        get = lambda name, **lab: S.get((name, tuple(sorted(lab.items()))))
        up, m = get("up"), {k: get(n, group="app") for k, n in MEMNAMES.items()}
        for i in range(N):
            if up[i] != 1 and any(v[i] is not None for (n, _), v in S.items() if n != "up"):
                bad("sample %d published without a successful scrape" % i)
            if any((v[i] is None) != (m["res"][i] is None) for v in m.values()):
                bad("a partial group at %d" % i)
            elif m["res"][i] is not None and not (
                    m["anon"][i] < m["res"][i] <= m["limit"][i] and 0 < m["max"][i] <= m["res"][i]
                    and m["procs"][i] >= 1 and m["oldest"][i] <= T0 + ts(i)):
                bad("anon < resident <= limit, max <= resident, processes or start broken at %d" % i)
        seen = [i for i in range(N) if m["res"][i] is not None]
        hits = [i for i in range(N) if c._true[i] is not None and c._true[i] >= 0.99 * c._L][:1] + c._kills[:1]
        if len(set(m["limit"]) - {None}) != 1 or ts(seen[0]) != c.first_seen:
            bad("limit not constant, or first_seen wrong")
        if c.limit_at != (ts(min(hits)) if hits else None) or (c.limit_at and c.limit_projected != c.limit_at):
            bad("limit_at or limit_projected wrong")
        if c.must_fire != (c.onset is not None) or (c.limit_at is not None and c.onset is not None
                                                    and c.limit_at <= c.onset):
            bad("onset and must_fire disagree, or the limit came before the onset")
        if not c.must_fire and (c.limit_at is not None or max(v for v in c._true if v) > 0.95 * c._L):
            bad("a quiet case comes near its limit")
        if c.category == "heap" and any(v is not None and v > a for v, a in
                                        zip(get("memtide_malloc_live_bytes", group="app"), m["anon"])):
            bad("live heap above anonymous")
        if c.category == "session":
            lv, op, cl = (get(n, **SESS) for n in ("memtide_sessions_live", "memtide_sessions_opened_total",
                                                   "memtide_sessions_closed_total"))
            ages = [get("memtide_sessions_live_by_age", older_than_seconds=str(b), **SESS) for b in AGE_BUCKETS]
            for i in (i for i in range(N) if lv[i] is not None):
                col = [lv[i]] + [a[i] for a in ages]
                if op[i] - cl[i] != lv[i] or any(b > a for a, b in zip(col, col[1:])):
                    bad("opened - closed != live, or by-age buckets increase, at %d" % i)
        if c.category == "socket":
            cw, est = (get("memtide_tcp_connections", port="8080", state=s) for s in ("close_wait", "established"))
            if any(f is not None and f < a + b for f, a, b in zip(m["fds"], cw, est)):
                bad("fewer fds than sockets")
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--base-seed", type=int, default=1)
    ap.add_argument("--only", help="comma-separated pattern names")
    ap.add_argument("--out", default="-")
    ap.add_argument("--check", action="store_true", help="check the invariants instead of writing")
    a = ap.parse_args()
    cs = cases(a.seeds, a.base_seed, a.only.split(",") if a.only else None)
    if a.check:
        errs = check(cs)
        print("\n".join(errs[:50]), file=sys.stderr)
        fire = [c for c in cs if c.must_fire]
        print("%d cases (%d must fire, %d of them reach the limit in the history), %d violations"
              % (len(cs), len(fire), sum(c.limit_at is not None for c in fire), len(errs)), file=sys.stderr)
        sys.exit(1 if errs else 0)
    f = sys.stdout if a.out == "-" else open(a.out, "w")
    write_openmetrics(cs, f)
    for c in cs:
        print("%-30s %-7s %-5s %-12s %s" % (c.id, c.category, "fire" if c.must_fire else "quiet",
                                            "" if c.onset is None else "onset %.1fh" % (c.onset / HOUR), c.note),
              file=sys.stderr)


if __name__ == "__main__":
    main()
