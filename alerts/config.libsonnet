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
    // Floor: the minimum over a window longer than a GC or cache-flush cycle.
    floorWindow: 1800,
    // Growth is judged over `trendSegments` consecutive segments of
    // `trendSegment` seconds each (3 x 2h = 6h): every segment must grow.
    trendSegment: 7200,
    trendSegments: 3,
    // Each segment must grow by at least this fraction of the memory limit per
    // hour. `Seasonal` applies when yesterday's history exists (the growth is
    // measured against the same hours yesterday); `NoHistory` is the stricter
    // bound used before a group has a day of history.
    leakMinGrowthRatioPerHourSeasonal: 0.005,
    leakMinGrowthRatioPerHourNoHistory: 0.020,
    // With history, today's floor must also be above yesterday's by this many
    // segments' worth of minimum growth.
    leakMinAboveYesterdaySegments: 3,
    // Balance: every segment must grow at least this fraction of any other
    // (a step grows one segment, a filling cache decelerates, a leak does not).
    leakSegmentBalance: 0.3,
    // A group younger than the whole trend window is still warming up.
    leakMinAge: 21600,
    // Allocator present and its live bytes grew less than this fraction of the
    // anonymous memory growth: retention, not a leak.
    retentionHeapShare: 0.25,

    // An OOM restart loop: at least this many restarts of the group's oldest
    // process within the window, having reached this fraction of the limit.
    oomLoopWindow: 21600,
    oomLoopMinRestarts: 2,
    oomLoopLimitRatio: 0.9,

    // Exhaustion: while the floor grows as steadily as for a leak, the time
    // until the last hour's resident peak reaches the limit at the slowest
    // segment's rate is below this.
    exhaustionHorizon: 14400,
    exhaustionHeadroomWindow: 3600,

    // --- sessions ------------------------------------------------------------
    // Opening rate window for Little's law.
    sessionRateWindow: 3600,
    // Mean lifetime must exceed this multiple of the TTL and keep rising.
    sessionLifetimeTTLFactor: 2,
    sessionLifetimeRiseWindow: 10800,
    // Sessions older than this multiple of the TTL are stale; the smallest
    // exported age bucket at or above it is used.
    staleTTLFactor: 2,
    sessionAgeBuckets: [60, 300, 900, 3600, 14400, 86400],
    // Stale sessions must grow by at least `staleMinGrowth` within
    // `staleGrowthWindow`, and by at least this share of the sessions opened
    // meanwhile (agent pools: stale count over the opening rate grows by
    // ratio x window seconds) or of the live sessions (pools without opening
    // counts).
    staleGrowthWindow: 3600,
    staleMinGrowthRatio: 0.01,
    staleMinGrowth: 5,

    // --- sockets and descriptors --------------------------------------------
    closeWaitFloorWindow: 900,
    closeWaitGrowthWindow: 3600,
    closeWaitMinGrowth: 5,
    fdMinGrowthPerSegment: 20,
    fdMinGrowthRatioPerSegment: 0.05,
    // Descriptors follow load closely (one or more per connection): without a
    // day of history the bound is this many times higher.
    fdNoHistoryFactor: 10,

    // --- exporter health -----------------------------------------------------
    exporterDownFor: 300,
    exporterAbsentFor: 900,
    collectorFailingWindow: 900,

    // --- alert timing: pending (for) and keep_firing_for ---------------------
    timing: {
      MemtideMemoryLeakSuspected: { 'for': 900, keep: 7200 },
      MemtideMemoryExhaustionPredicted: { 'for': 900, keep: 3600 },
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
