// memtide alerting: every window, threshold and duration in one place.
//
// Durations are in seconds of production time. The generated time-scaled
// variant (memtide-demo.rules.yml) divides every duration by `timeScale`, so a
// 6-hour window becomes 6 minutes with timeScale 60. Thresholds are expressed
// as growth over a window (a fraction of the limit per window), which is
// invariant under that scaling; nothing else needs to change.
{
  _config+:: {
    // Selects the exporter's series. Also used by MemtideExporterDown.
    selector: 'job="memtide"',
    // Labels that identify one process group on one host.
    groupLabels: ['instance', 'job', 'group'],
    // Labels that identify one session pool.
    poolLabels: ['instance', 'job', 'source', 'group', 'pool'],
    runbookBase: 'https://github.com/memtide/memtide/blob/main/alerts/runbooks.md',

    // 1 for production; the demo variant overrides it.
    timeScale: 1,
    ruleInterval: 60,

    // --- memory growth -----------------------------------------------------
    // Floor: the minimum over a window at least as long as a GC or arena
    // cycle (sawtooths of up to an hour are removed entirely).
    floorWindow: 3600,
    // Growth is measured over sliding windows of `trendSegment` seconds.
    trendSegment: 7200,
    // Every window of the last `leakSpan` seconds must grow (with a day of
    // history): longer than a cache takes to fill (up to 6 h), so a cache
    // stops inside it.
    leakSpan: 32400,
    // Without a day of history: every window of the last `leakColdSpan`
    // seconds, longer than the rising half of a daily cycle (12 h).
    leakColdSpan: 57600,
    // ... in windows of this many seconds: a staircase with steps up to 4 h
    // apart grows in every one.
    leakColdWindow: 14400,
    // Any history of a day: every window of the last `leakStairSpan`
    // seconds, in windows of `leakStairWindow`: a staircase with steps up to
    // 6 h apart grows in every one, and a daily cycle falls in some.
    leakStairSpan: 86400,
    leakStairWindow: 21600,
    // Each window must grow by at least this share of the memory limit per
    // hour (0.25%: a leak of 0.5%/h passes with room for noise).
    leakMinGrowthRatioPerHour: 0.0025,
    // Balance: every window must grow at least this fraction of the largest.
    leakSegmentBalance: 0.3,
    // The seasonal difference compares today's floor with the highest at the
    // same time of day on this many earlier days: a week, so that a Monday
    // after a quiet weekend is compared with Friday.
    seasonDays: 7,
    // A leak older than a day: today's floor above yesterday's by this share
    // of the limit all through the span (0.5%/h for a day is 12%).
    leakMinAboveYesterdayRatio: 0.04,
    // A rise no daily cycle makes: the floor stands more than this share of
    // the limit above its lowest of the last day (a cycle of up to ±25% of
    // the limit swings 50% at most), counting only readings taken while the
    // group's oldest process was `leakRiseMinAge` old (past its warm-up), and
    // it still grew over the last `leakRiseWindow` (a staircase's step apart).
    leakRiseRatio: 0.55,
    leakRiseWindow: 14400,
    leakRiseMinAge: 21600,
    // Allocator present and its live bytes grew less than this fraction of the
    // anonymous memory growth: retention, not a leak.
    retentionHeapShare: 0.25,
    // The old rules' 6 h trend window and age gate, still used by the
    // allocator-retention and descriptor rules.
    trendSegments: 3,
    leakMinGrowthRatioPerHourSeasonal: 0.005,
    leakMinGrowthRatioPerHourNoHistory: 0.020,
    leakMinAboveYesterdaySegments: 3,
    leakMinAge: 21600,

    // Live heap bytes (libmemtide): each window grows by this share of the
    // heap's own level per hour, over `heapSpan` (`heapColdSpan` without a
    // day of history).
    heapMinGrowthRatioPerHour: 0.005,
    heapSpan: 21600,
    heapColdSpan: 21600,
    // The largest member of a group of several: this share of its own level
    // per hour, over the leak spans.
    memberMinGrowthRatioPerHour: 0.005,

    // An OOM restart loop: at least this many restarts of the group's oldest
    // process within the window, having reached this fraction of the limit.
    oomLoopWindow: 21600,
    oomLoopMinRestarts: 2,
    oomLoopLimitRatio: 0.9,

    // Exhaustion: the time until the last hour's resident peak reaches the
    // limit is below `exhaustionHorizon` at the rate of a suspected leak, or
    // below `exhaustionFastHorizon` on the short trend: the floor over
    // `exhaustionFastWindow` rose by at least exhaustionFastMinRatioPerHour
    // over every `exhaustionFastGrowthWindow` inside the last
    // `exhaustionFastSpan`, to more than `exhaustionNewHighMargin` of the
    // limit above its highest in the `exhaustionNewHighWindow` before.
    // Growth over 20 minutes, not ten: a GC sawtooth sampled once a minute
    // aliases into a slow one whose short floor wanders by a few per cent of
    // the limit, enough to make some ten-minute window of a 10%/h leak
    // shrink. Three disjoint windows in the span: a step or a batch job's
    // ramp (up to 20 minutes) grows one or two of them, never all three.
    exhaustionHorizon: 14400,
    exhaustionHeadroomWindow: 3600,
    exhaustionFastWindow: 600,
    exhaustionFastGrowthWindow: 1200,
    exhaustionFastSpan: 3600,
    exhaustionFastMinRatioPerHour: 0.03,
    exhaustionFastHorizon: 14400,
    exhaustionNewHighWindow: 7200,
    exhaustionNewHighMargin: 0.01,
    // The group must have existed this long, or its oldest process be this
    // old (a new group's or a new process's warm-up is not a leak).
    exhaustionFastMinHistory: 10800,
    // The stepwise trend: the hour floor grew by exhaustionFastMinRatioPerHour
    // in every leakColdWindow (4 h) window of this span, the oldest process
    // older than the span: a staircase whose steps are up to 4 hours apart,
    // fast enough to reach the limit before the cold-start span has passed.
    // A daily cycle near its limit rises slowly, then fast, then slowly: its
    // slowest window's rate puts the limit far off.
    exhaustionStepSpan: 28800,
    // With a day of history, either trend is yesterday's when the same hours
    // yesterday grew at least 1/exhaustionYesterdayFactor as much (less
    // exhaustionNewHighMargin of the limit) and yesterday's rise from this
    // time over the horizon, added to today's level, stays under the limit:
    // a daily rise is not paged again on the day after. Days differ: a busy
    // one rises a third more.
    exhaustionYesterdayFactor: 1.5,

    // --- sessions ------------------------------------------------------------
    // Opening rate window for Little's law.
    sessionRateWindow: 3600,
    // Mean lifetime must exceed this multiple of the TTL and keep rising. Six:
    // users who stay active for hours keep a pool's mean lifetime above two
    // TTLs, and it rises for hours whenever the load falls.
    sessionLifetimeTTLFactor: 6,
    sessionLifetimeRiseWindow: 10800,
    sessionAgeBuckets: [60, 300, 900, 3600, 14400, 86400],
    // Two ages of stale sessions, each the smallest exported age bucket at or
    // above a multiple of the TTL. Stale (2 TTLs): a healthy pool holds many
    // (a user active for half an hour past a 30-minute TTL), and their number
    // follows the load with a lag, so only a fast rise counts. Abandoned (8
    // TTLs, 4 hours for 30 minutes): few healthy sessions live that long, and
    // a leak's sessions all get there, so a slower rise counts, later.
    staleTTLFactor: 2,
    abandonedTTLFactor: 8,
    // Either count must grow by at least `...MinGrowth` sessions within
    // `staleGrowthWindow`, and by `...NoiseZ` times the square root of its
    // count an hour ago (sessions arrive at random: a pool of a few hundred
    // swings by tens); and by at least this share of the sessions opened
    // meanwhile (agent pools: the count over the opening rate grows by share x
    // window seconds) or of the live sessions (pools without opening counts).
    staleGrowthWindow: 3600,
    staleMinGrowthRatio: 0.01,
    // Agent pools: the count per opening rate must grow by this share of the
    // window, in seconds of openings: a quarter of a percent of the sessions
    // opened never closed, half the smallest leak (0.5%) the rules must catch;
    // and, for stale sessions, by this share of its own level (the lag behind
    // the load moves it by tens of per cent in a few hours).
    staleMinOpeningShare: 0.0025,
    staleMinOpeningRise: 0.2,
    staleMinGrowth: 20,
    staleNoiseZ: 6,
    abandonedMinGrowth: 10,
    abandonedNoiseZ: 3,
    // ... in each of this many consecutive windows: users who stay for hours
    // bring the abandoned count up for an hour now and then as the load
    // moves; leaked sessions never leave, so it keeps growing.
    abandonedGrowthWindows: 2,
    // With a day of the count's history, its noise floor is at most this
    // many times its largest fall within a window over that day: healthy
    // sessions leave as the load moves and leaked ones never do, so a leak
    // that has run for days cannot raise its own floor (3 x the square root
    // of a count it has grown to a thousand is 95 sessions an hour).
    abandonedFallFactor: 2,
    // A young history: the pool's openings go back less than this, the
    // abandoned age (4 hours for a 30-minute TTL) plus the opening-rate
    // window, so the load correction cannot be computed yet. Until then the
    // abandoned count must grow by staleNoiseZ x its square root and
    // staleMinGrowth instead. A gap in an older history (a failed scrape, an
    // outage) is not a young history.
    sessionYoungHistory: 18000,

    // --- sockets and descriptors --------------------------------------------
    closeWaitFloorWindow: 900,
    closeWaitGrowthWindow: 3600,
    closeWaitMinGrowth: 5,
    fdMinGrowthPerSegment: 20,
    fdMinGrowthRatioPerSegment: 0.05,
    // Descriptors follow load closely (one or more per connection): without a
    // day of history the bound is this many times higher, unless the floor
    // grew in every leakColdWindow window of the last leakColdSpan (longer
    // than a daily cycle rises, as for memory's cold start). For a leak
    // older than a day it is this many times a share of the day's highest
    // floor: a daily rise from a deep trough is ten times a share of the
    // trough.
    fdNoHistoryFactor: 10,
    // A leak only adds descriptors: over the trend window the floor may
    // fall below its highest of the segment before by at most this share of
    // its rise (workers recycled with descriptors of their own fall as often
    // as they rise).
    fdMaxFallShare: 0.25,
    // With a day of the floor's history, its noise floor is its own largest
    // fall over a window in that day, times `fdFallFactor`: the load moves
    // descriptors down as far as up (a daily cycle falls as far as it rose,
    // a random walk as often), a leak only adds, and a pool of any size
    // shows its own swing. The floor's growth over the window must exceed
    // it, in both halves of the window (one step or a reconnect storm grows
    // one). Windows of 4 hours (a faster leak) and 12 hours (a slower one:
    // a daily cycle's fall over half a day is its whole swing, a leak's
    // growth three times a 4-hour window's).
    fdFallWindows: [14400, 43200],
    fdFallFactor: 3,
    // ... and today's floor stands above yesterday's at the same hour by
    // this share of the window's growth: a daily load that rises in a few
    // hours and falls through the rest of the day rises more in a window
    // than it falls in any, but it rose as much yesterday.
    fdAboveYesterdayShare: 0.5,

    // --- exporter health -----------------------------------------------------
    exporterDownFor: 300,
    exporterAbsentFor: 900,
    collectorFailingWindow: 900,

    // --- alert timing: pending (for) and keep_firing_for ---------------------
    timing: {
      MemtideMemoryLeakSuspected: { 'for': 900, keep: 7200 },
      MemtideMemoryExhaustionPredicted: { 'for': 180, keep: 3600 },
      MemtideMemberLeakSuspected: { 'for': 900, keep: 7200 },
      MemtideHeapLeakSuspected: { 'for': 900, keep: 7200 },
      MemtideAllocatorRetention: { 'for': 3600, keep: 7200 },
      MemtideSessionLeakSuspected: { 'for': 1800, keep: 3600 },
      MemtideStaleSessions: { 'for': 600, keep: 3600 },
      MemtideCloseWaitAccumulating: { 'for': 1800, keep: 1800 },
      MemtideFdLeakSuspected: { 'for': 1800, keep: 3600 },
      MemtideExporterDown: { 'for': 0, keep: 0 },
      MemtideCollectorFailing: { 'for': 900, keep: 0 },
    },
  },
}
