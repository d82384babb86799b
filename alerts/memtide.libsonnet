// memtide recording and alerting rules, mixin style.
//
//   prometheusRules:  recording rules (floors, segment growth, conditions, fleet)
//   prometheusAlerts: the alerts
//
// Every expression is built from $._config (config.libsonnet). The two files in
// this directory that Prometheus loads are generated from here by
// `make alerts-generate`: memtide.rules.yml (timeScale 1) and
// memtide-demo.rules.yml (timeScale 60). Read docs/leak-detection.md for why
// the expressions look the way they do.
(import 'config.libsonnet') + {
  local c = $._config,

  // A duration in seconds of production time, scaled and in PromQL notation.
  local dur(seconds) =
    local v = std.max(1, std.floor(seconds / c.timeScale + 0.5));
    if v % 86400 == 0 then '%dd' % (v / 86400)
    else if v % 3600 == 0 then '%dh' % (v / 3600)
    else if v % 60 == 0 then '%dm' % (v / 60)
    else '%ds' % v,
  local secs(seconds) = std.max(1, std.floor(seconds / c.timeScale + 0.5)),
  local off(seconds) = if seconds == 0 then '' else ' offset ' + dur(seconds),
  // The smaller of two instant vectors with the same labels, per series.
  local smaller(a, b) = '(\n  (%s)\n  <= (%s)\n  or (%s)\n)' % [a, b, b],

  local sel = c.selector,
  local by = std.join(', ', c.groupLabels),
  local poolBy = std.join(', ', c.poolLabels),
  local onG = 'on(%s)' % by,
  local onP = 'on(%s)' % poolBy,
  local limit = 'memtide_group_memory_limit_bytes{%s}' % sel,
  local day = 86400,
  local seg = c.trendSegment,
  local trendWindow = c.trendSegment * c.trendSegments,
  local offsets = [i * seg for i in std.range(0, c.trendSegments - 1)],
  local oldest = offsets[std.length(offsets) - 1],

  // Template fragments for annotations: the group's selector, and a query
  // that prints the first value of an expression through a humanizer.
  local gsel = '{{ $gsel := printf `instance="%s",job="%s",group="%s"` $labels.instance $labels.job $labels.group }}',
  local q(expr, fn) =
    local n = std.length(std.findSubstr('%s', expr));
    '{{ with printf `%s`%s | query }}{{ . | first | value | %s }}%s{{ else }}unknown{{ end }}' % [
      expr,
      std.join('', [' $gsel' for _ in std.range(1, n)]),
      fn,
      if fn == 'humanize1024' then 'B' else '',
    ],
  local runbook(anchor) = '%s#%s' % [c.runbookBase, anchor],

  // The group's oldest process is at least `age` old (or its start time is
  // not exported: then the balance test alone guards against warm-ups).
  local oldEnough(age) =
    '(\n  (time() - memtide_group_oldest_start_time_seconds{%s} >= %d)\n  or %s\n  (%s unless %s memtide_group_oldest_start_time_seconds{%s})\n)' % [
      sel, secs(age), onG, limit, onG, sel,
    ],

  // Each segment of the trend window grew by at least `thr` (a vector
  // expression over the group labels), and by at least leakSegmentBalance
  // times any other segment: growth that goes on, not a step, a warm-up or a
  // cache that fills and stops.
  // `growthAt(k)` is the growth of the segment that ended k seconds ago.
  local segmentsGrow(growthAt, thr) =
    std.join('\n  and %s\n' % onG, [
      '(%s >= %s %s)' % [growthAt(o), onG, thr]
      for o in offsets
    ] + [
      '(%s >= %s %g * %s)' % [growthAt(a), onG, c.leakSegmentBalance, growthAt(b)]
      for a in offsets
      for b in offsets
      if a != b
    ]),

  // Growth that does not stop, judged against the same hours yesterday when a
  // day of history exists, and with a stricter threshold when it does not.
  //   G: the recorded per-segment growth of floor F.
  //   thr(ratioPerHour): the per-segment threshold vector.
  //   oldHigh: the stricter per-segment threshold of the older-than-a-day
  //   branch, when it differs from the no-history one.
  local sustainedGrowth(F, G, thr, oldHigh=null) =
    local raw(k) = '%s%s' % [G, off(k)];
    local seasonal(k) = '(%s%s - %s%s)' % [G, off(k), G, off(k + day)];
    local low = thr(c.leakMinGrowthRatioPerHourSeasonal);
    local high = thr(c.leakMinGrowthRatioPerHourNoHistory);
    |||
      (
        # with a day of history: growth beyond the same hours yesterday
        (
      %(seasonal)s
        )
        or
        (
          # the leak is older than a day: the stricter bound, and above yesterday
      %(oldRawHigh)s
          and %(onG)s
          (%(F)s - %(F)s offset %(day)s >= %(onG)s %(above)g * %(low)s)
          # yesterday's floor is the same process's, not its warm-up
          and %(onG)s
          %(oldDay)s
        )
      )
      or
      (
        # no history yet: a stricter bound, above plausible daily swings
        (
      %(rawHigh)s
        )
        unless %(onG)s
        %(G)s offset %(day)s
      )
    ||| % {
      seasonal: segmentsGrow(seasonal, low),
      rawHigh: segmentsGrow(raw, high),
      oldRawHigh: segmentsGrow(raw, if oldHigh == null then high else oldHigh),
      F: F,
      G: G,
      onG: onG,
      day: dur(day),
      low: low,
      above: c.leakMinAboveYesterdaySegments,
      oldDay: oldEnough(day + trendWindow),
    },

  local memThr(ratioPerHour) = '(%g * %s)' % [ratioPerHour * seg / 3600, limit],
  // The descriptors' least growth per segment, `k` times over (k segments'
  // worth, or a stricter multiple): at least fdMinGrowthPerSegment, or
  // fdMinGrowthRatioPerSegment of the floor `base`.
  local fdBound(k, base) = 'clamp_min(%g * %s, %g)' % [
    k * c.fdMinGrowthRatioPerSegment,
    base,
    k * c.fdMinGrowthPerSegment,
  ],
  local fdThr(ratioPerHour) =
    local k = if ratioPerHour == c.leakMinGrowthRatioPerHourSeasonal then 1 else c.fdNoHistoryFactor;
    fdBound(k, 'memtide:group_open_fds:floor' + off(trendWindow)),
  // With a day of history the day's swing is known: the stricter bound is a
  // share of the highest floor of the last day, not of the floor at the
  // window's start (a daily rise from a deep trough is a ten-fold growth of
  // the trough, never of the peak).
  local fdOldHigh = fdBound(c.fdNoHistoryFactor, 'max_over_time(memtide:group_open_fds:floor[%s])' % dur(day)),

  local perHour(F) = '(%s - %s offset %s) / %g' % [F, F, dur(trendWindow), secs(trendWindow) / 3600],

  // The smallest exported age bucket at or above `factor` x TTL.
  // `per`: divide each pool's count by its opening rate back when those
  // sessions were opened (rate over the window before the bucket's age), so
  // the result is in seconds of openings and does not move with load.
  local staleSessions(per, factor=c.staleTTLFactor) =
    local b = c.sessionAgeBuckets;
    local ttl = '%g * memtide_sessions_ttl_seconds{%s}' % [factor, sel];
    std.join('\nor\n', [
      local lower = if i == 0 then '' else ' and (%s > %d)' % [ttl, b[i - 1]];
      local count = 'memtide_sessions_live_by_age{%s, older_than_seconds="%d"}' % [sel, b[i]];
      local rate = '(rate(memtide_sessions_opened_total{%s}[%s] offset %s) > 0)' % [sel, dur(c.sessionRateWindow), dur(b[i] * c.timeScale)];
      '%s\n  and %s ((%s <= %d)%s)' % [
        if per then '%s\n  / %s group_left()\n  %s' % [count, onP, rate] else count,
        onP,
        ttl,
        b[i],
        lower,
      ]
      for i in std.range(0, std.length(b) - 1)
    ]),

  // Sessions of one age (recorded R:count and R:opening_seconds) that keep
  // accumulating, in each of the last `windows` windows: the count grew by
  // `min` sessions and by `z` times the square root of its count (random
  // arrivals), and still grew in the window's second half; and beyond what
  // the load explains (with opening counts: the count per opening rate grew by
  // the smallest leak's share of the window and by `rise` times its level;
  // without: by a share of the live sessions). The value is the count's growth
  // over the last window. With `fallK` and a day of R:count_growth (the
  // count's growth over each window), the square-root floor is at most fallK
  // times the largest fall of the last day: healthy sessions leave as the
  // load moves, leaked ones never do, so a leak that has run for days does
  // not raise its own floor. With `youngZ`, a pool with opening counts but
  // not yet the hour of them before the bucket's age (R:opening_seconds
  // absent, and no openings sessionYoungHistory or more ago: a young
  // history, not a gap) may instead grow by youngZ times the square root of
  // its count and youngMin: stricter, but not blind to a leak older than the
  // history.
  local sessionsAccumulating(R, min, z, rise, windows=1, fallK=0, youngZ=0, youngMin=0) =
    local win = c.staleGrowthWindow;
    local grew(o) =
      local at(k) = off(o + k);
      local chance = '%g * sqrt(%s:count%s)' % [z, R, at(win)];
      local floor = if fallK == 0 then chance else |||
        (
          %(smaller)s
          and
          count_over_time(%(R)s:count_growth[%(day)s]%(now)s) >= %(n)d
        )
        or %(chance)s
      ||| % {
        smaller: smaller(chance, '%g * -min_over_time(%s:count_growth[%s]%s)' % [fallK, R, dur(day), at(0)]),
        R: R,
        day: dur(day),
        now: at(0),
        n: samples(day),
        chance: chance,
      };
      |||
        (
          (%(R)s:count%(now)s - %(R)s:count%(start)s)
          >= clamp_min(%(floor)s, %(min)g)
        )
        and
        (%(R)s:count%(now)s - %(R)s:count%(half)s) > 0
        and
        (
          # with opening counts (agent): growth beyond what load explains
          (
            (%(R)s:opening_seconds%(now)s - %(R)s:opening_seconds%(start)s)
            >= %(openingMin)s
            and
            (%(R)s:opening_seconds%(now)s - %(R)s:opening_seconds%(half)s) > 0
          )
          or
          # without (session files, sockets): growth against live sessions
          (
            (%(R)s:count%(now)s - %(R)s:count%(start)s)
            >= %(onP)s group_left()
            clamp_min(%(ratio)g * memtide_sessions_live{%(sel)s}%(now)s, %(min)g)
            unless %(onP)s
            memtide_sessions_opened_total{%(sel)s}%(now)s
          )%(young)s
        )
      ||| % {
        R: R,
        now: at(0),
        start: at(win),
        half: at(win / 2),
        onP: onP,
        ratio: c.staleMinGrowthRatio,
        sel: sel,
        min: min,
        floor: floor,
        local secs = c.staleMinOpeningShare * win / c.timeScale,
        young: if youngZ == 0 then '' else std.rstripChars(|||

            or
            # with opening counts, not yet the hour of them before this age
            (
              (%(R)s:count%(now)s - %(R)s:count%(start)s)
              >= clamp_min(%(z)g * sqrt(%(R)s:count%(start)s), %(min)g)
              and %(onP)s
              memtide_sessions_opened_total{%(sel)s}%(now)s
              unless %(onP)s
              %(R)s:opening_seconds%(now)s
              # and not for a gap: the pool had no openings before then
              unless %(onP)s
              present_over_time(memtide_sessions_opened_total{%(sel)s}[%(day)s] offset %(young)s)
            )
        ||| % {
          R: R,
          now: at(0),
          start: at(win),
          z: youngZ,
          min: youngMin,
          onP: onP,
          sel: sel,
          day: dur(day),
          young: dur(c.sessionYoungHistory + o),
        }, '\n'),
        openingMin: if rise == 0 then '%g' % secs
        else 'clamp_min(%g * %s:opening_seconds%s, %g)' % [rise, R, at(win), secs],
      };
    '(\n%s)\n' % std.join('and\n', ['(\n%s)\n' % grew(k * win) for k in std.range(0, windows - 1)]),

  local floorRule(metric, record) = {
    record: record,
    expr: 'min_over_time(%s{%s}[%s])' % [metric, sel, dur(c.floorWindow)],
  },
  // Growth of recorded series F over `window`, recorded as `record`.
  local growthRule(F, record=F + '_growth', window=seg) = {
    record: record,
    expr: '%s - %s offset %s' % [F, F, dur(window)],
  },

  // Samples a recorded series has over `range` when at most a tenth is missing.
  local samples(span) = std.floor(0.9 * secs(span) / (c.ruleInterval / c.timeScale)),

  // Steady growth of a recorded growth series G (growth over one window,
  // sampled every evaluation): every window that ended in the last `range`
  // grew by at least `thr` (a vector over the group labels), and by at least
  // `bal` times the largest of them; the range is covered. Growth that goes
  // on: not a step (one window), a warm-up or a filling cache (the newest
  // windows far smaller than the oldest).
  local steady(G, span, thr, bal=c.leakSegmentBalance, match=onG) =
    |||
      (
        min_over_time(%(G)s[%(r)s]) >= %(match)s %(thr)s
        and %(match)s
        min_over_time(%(G)s[%(r)s]) >= %(bal)g * max_over_time(%(G)s[%(r)s])
        and %(match)s
        count_over_time(%(G)s[%(r)s]) >= %(n)d
      )
    ||| % { G: G, r: dur(span), match: match, thr: thr, bal: bal, n: samples(span) },

  // steady() for a noisy series: every window's growth is balanced against
  // the mean window's growth over the span (S's rise over `span`, in
  // windows of `seg`), not against the largest, which the noise of the
  // seasonal difference (two floors, each with its sawtooth's wander)
  // inflates. A cache that stops or a step still fails: the windows after
  // them grow by nothing, under the threshold.
  local steadyMean(G, S, span, thr) =
    |||
      (
        min_over_time(%(G)s[%(r)s]) >= %(onG)s %(thr)s
        and %(onG)s
        min_over_time(%(G)s[%(r)s]) >= %(bal)g * (%(S)s - %(S)s offset %(span)s)
        and %(onG)s
        count_over_time(%(G)s[%(r)s]) >= %(n)d
      )
    ||| % {
      G: G,
      S: S,
      r: dur(span - seg),
      span: dur(span),
      onG: onG,
      thr: thr,
      bal: c.leakSegmentBalance * seg / span,
      n: samples(span - seg),
    },

  // Growth G (recorded over `window`) in every window of the last `span`, by
  // at least `thr`, balanced, the group's oldest process older than the span
  // (a warm-up is not a leak); the value is the slowest window's growth per
  // hour. Longer than a daily cycle rises, it needs no day of history.
  local everyWindow(G, span, window, thr) =
    local r = span - window;
    'min_over_time(%s[%s]) / %g\nand %s\n%s\nand %s\n%s' % [
      G, dur(r), secs(window) / 3600, onG, steady(G, r, thr), onG, oldEnough(span + c.floorWindow),
    ],

  // The group's resident peak over `range` seconds, ending `k` seconds ago.
  local residentPeak(range, k=0) = 'max_over_time(memtide_group_resident_bytes{%s}[%s]%s)' % [sel, dur(range), off(k)],

  // With a day of history, the growth of floor S over the last `span` is
  // yesterday's: less than exhaustionYesterdayFactor times its growth over
  // the same hours yesterday, plus a margin; and yesterday's course from
  // here on does not reach the limit: the last hour's resident peak plus
  // what resident memory rose yesterday from this time over the horizon
  // stays under it. A daily rise that stopped short of the limit yesterday
  // is not paged again today; a leak younger than a day outgrows yesterday's
  // hours or lifts today's level so far that yesterday's rise would reach
  // the limit; an OOM loop reached it yesterday.
  local likeYesterday(S, span) =
    std.rstripChars(|||
      (
        (%(S)s - %(S)s offset %(span)s)
        < %(onG)s
        (
          %(k)g * (%(S)s offset %(day)s - %(S)s offset %(dayspan)s)
          + %(onG)s %(margin)g * %(limit)s
        )
        and %(onG)s
        (
          %(peak)s
          + (%(peakAhead)s - %(peakDay)s)
        )
        < %(onG)s %(limit)s
      )
    ||| % {
      S: S,
      span: dur(span),
      onG: onG,
      k: c.exhaustionYesterdayFactor,
      day: dur(day),
      dayspan: dur(day + span),
      margin: c.exhaustionNewHighMargin,
      limit: limit,
      peak: residentPeak(c.exhaustionHeadroomWindow),
      peakDay: residentPeak(c.exhaustionHeadroomWindow, day),
      // yesterday, over the horizon from this time on
      peakAhead: residentPeak(c.exhaustionFastHorizon, day - c.exhaustionFastHorizon),
    }, '\n'),

  // Floor F grew over `window` (recorded as G) by more than fdFallFactor
  // times its largest fall over such a window in the last day, and by the
  // descriptors' least growth; in both halves of the window, balanced; it
  // stands above yesterday's at this hour by fdAboveYesterdayShare of that
  // growth; the group's oldest process is older than the window and its
  // floor. The value is the growth per hour.
  local beyondFalls(F, G, window) =
    local half = window / 2;
    local first = '(%s offset %s - %s offset %s)' % [F, dur(half), F, dur(window)];
    local second = '(%s - %s offset %s)' % [F, F, dur(half)];
    std.rstripChars(|||
      (
        %(G)s / %(hours)g
        and %(onG)s
        %(G)s >= %(onG)s clamp_min(%(k)g * -min_over_time(%(G)s[%(day)s]), %(min)g)
        and %(onG)s
        count_over_time(%(G)s[%(day)s]) >= %(n)d
        and %(onG)s
        %(first)s >= %(onG)s clamp_min(%(bal)g * %(second)s, 1)
        and %(onG)s
        %(second)s >= %(onG)s clamp_min(%(bal)g * %(first)s, 1)
        and %(onG)s
        %(F)s - %(F)s offset %(day)s >= %(onG)s %(above)g * %(G)s
        and %(onG)s
        %(old)s
      )
    ||| % {
      F: F,
      above: c.fdAboveYesterdayShare,
      G: G,
      hours: secs(window) / 3600,
      onG: onG,
      k: c.fdFallFactor,
      day: dur(day),
      min: c.fdMinGrowthPerSegment * window / seg,
      n: samples(day),
      first: first,
      second: second,
      bal: c.leakSegmentBalance,
      old: oldEnough(window + c.floorWindow),
    }, '\n'),

  // A share of the limit per hour, as growth per window of `window` seconds.
  local ofLimit(ratioPerHour, window=seg) = '(%g * %s)' % [ratioPerHour * window / 3600, limit],

  // Allocator retention: live heap bytes (libmemtide) grew over `win` by less
  // than retentionHeapShare of floor F's growth; absent without an allocator.
  local retained(F, win) =
    '(memtide:group_malloc_live_bytes:floor - memtide:group_malloc_live_bytes:floor offset %s)\n< %s\n%g * (%s - %s offset %s)' % [
      dur(win), onG, c.retentionHeapShare, F, F, dur(win),
    ],

  // Growth judged against a series' own level (live heap bytes, the largest
  // member): floor F, its per-window growth F_growth, spans in seconds.
  // With a day of history the floor must also stand above yesterday's by half
  // of the span's rise (a daily cycle does not; a leak of any age does).
  // Without one, the span is `coldSpan`, longer than the rise of a daily cycle.
  local ownLevelLeak(F, ratioPerHour, span, coldSpan, minAge, gate='') =
    local G = F + '_growth';
    local thr(sp) = '(%g * %s offset %s)' % [ratioPerHour * seg / 3600, F, dur(sp)];
    |||
      min_over_time(%(G)s[%(r)s]) / %(segh)g
      and %(onG)s
      (
        (
      %(steady)s
          and %(onG)s
          (%(F)s - %(F)s offset %(day)s >= 0.5 * (%(F)s - %(F)s offset %(span)s))
        )
        or
        (
      %(steadyCold)s
          and %(onG)s
          %(oldCold)s
        )
      )
      and %(onG)s
      %(old)s%(gate)s
    ||| % {
      G: G,
      F: F,
      r: dur(span - seg),
      segh: secs(seg) / 3600,
      onG: onG,
      day: dur(day),
      span: dur(span),
      steady: steady(G, span - seg, thr(span)),
      steadyCold: steady(G, coldSpan - seg, thr(coldSpan)),
      oldCold: oldEnough(coldSpan + c.floorWindow),
      old: oldEnough(minAge),
      gate: gate,
    },

  local F = 'memtide:group_anonymous_bytes:floor',
  local FG = F + '_growth',
  local D = 'memtide:group_anonymous_bytes:floor_vs_yesterday',
  local DG = D + '_growth',
  local Fs = 'memtide:group_anonymous_bytes:floor_short',
  local FsG = Fs + '_growth',
  local FGL = F + '_growth_long',
  local FGS = F + '_growth_stairs',
  local FDL = 'memtide:group_open_fds:floor_growth_long',
  // The descriptors' floor growth over each of fdFallWindows (the record's
  // name says nothing of hours: the demo's windows are minutes).
  local fdGrowth(window) =
    if window == c.leakColdWindow then FDL
    else if window == day / 2 then 'memtide:group_open_fds:floor_growth_half_day'
    else error 'fdFallWindows: windows of leakColdWindow or half a day',

  local FDD = 'memtide:group_open_fds:floor_drawdown',
  local Fw = F + '_warm',
  local leakRange = c.leakSpan - seg,

  prometheusRules+:: {
    groups+: [
      {
        // One group: rules in a group are evaluated in order, so every rule
        // sees the values its predecessors recorded at the same instant.
        // The alerts are appended to this group by rules.jsonnet.
        name: 'memtide',
        interval: dur(c.ruleInterval),
        rules: [
          floorRule('memtide_group_anonymous_bytes', 'memtide:group_anonymous_bytes:floor'),
          floorRule('memtide_group_resident_bytes', 'memtide:group_resident_bytes:floor'),
          floorRule('memtide_malloc_live_bytes', 'memtide:group_malloc_live_bytes:floor'),
          floorRule('memtide_group_open_fds', 'memtide:group_open_fds:floor'),
          floorRule('memtide_group_max_process_resident_bytes', 'memtide:group_max_process_resident_bytes:floor'),
          {
            // A short floor, for the fast trend of MemtideMemoryExhaustionPredicted.
            record: Fs,
            expr: 'min_over_time(memtide_group_anonymous_bytes{%s}[%s])' % [sel, dur(c.exhaustionFastWindow)],
          },
          {
            record: 'memtide:group_resident_bytes:limit_ratio',
            expr: 'memtide_group_resident_bytes{%s}\n/ %s\n%s' % [sel, onG, limit],
          },
          {
            // Little's law: live sessions over the opening rate is the mean
            // lifetime, whatever the load.
            record: 'memtide:sessions_lifetime_seconds:mean',
            expr: 'memtide_sessions_live{%s}\n/ %s\n(rate(memtide_sessions_opened_total{%s}[%s]) > 0)' % [sel, onP, sel, dur(c.sessionRateWindow)],
          },
          {
            record: 'memtide:sessions_stale:count',
            expr: staleSessions(false),
          },
          {
            // Stale sessions per opening rate, in seconds: steady whatever
            // the load; a leak adds the leaking share of every second.
            record: 'memtide:sessions_stale:opening_seconds',
            expr: staleSessions(true),
          },
          {
            record: 'memtide:sessions_abandoned:count',
            expr: staleSessions(false, c.abandonedTTLFactor),
          },
          {
            record: 'memtide:sessions_abandoned:opening_seconds',
            expr: staleSessions(true, c.abandonedTTLFactor),
          },
          growthRule('memtide:sessions_abandoned:count', window=c.staleGrowthWindow),

          growthRule('memtide:group_anonymous_bytes:floor'),
          growthRule('memtide:group_resident_bytes:floor'),
          growthRule('memtide:group_malloc_live_bytes:floor'),
          growthRule('memtide:group_open_fds:floor'),
          growthRule('memtide:group_max_process_resident_bytes:floor'),
          growthRule(F, FGL, c.leakColdWindow),
          growthRule(F, FGS, c.leakStairWindow),
          growthRule('memtide:group_open_fds:floor', FDL, c.leakColdWindow),
        ] + [
          growthRule('memtide:group_open_fds:floor', fdGrowth(w), w)
          for w in c.fdFallWindows
          if w != c.leakColdWindow
        ] + [
          {
            // How far the descriptors' floor stands below its highest of
            // the last segment.
            record: FDD,
            expr: 'max_over_time(memtide:group_open_fds:floor[%s]) - memtide:group_open_fds:floor' % dur(seg),
          },
          growthRule(Fs, FsG, c.exhaustionFastGrowthWindow),
          {
            // The floor, only while the group's oldest process is past its
            // warm-up: the base a rise is measured from.
            record: Fw,
            expr: '%s\nand %s\n%s' % [F, onG, oldEnough(c.leakRiseMinAge)],
          },
          {
            // The seasonal difference of the floor: today's level minus the
            // highest level at the same time of day on the last `seasonDays`
            // days there is history for. A daily cycle cancels; a leak of any
            // age stands above every earlier day; the first working day after
            // a quiet one (a weekend) stands above yesterday but not above
            // the last working day, once the history reaches back to it.
            record: D,
            expr: '%s\n- %s\nmax by (%s) (\n%s\n)\n' % [
              F,
              onG,
              by,
              std.join('\nor\n', [
                '  label_replace(%s offset %s, "days_ago", "%d", "", "")' % [F, dur(k * day), k]
                for k in std.range(1, c.seasonDays)
              ]),
            ],
          },
          growthRule(D, DG),

          {
            // Present while the anonymous-memory floor grows steadily; the
            // value is the growth per hour of the slowest window. Three ways
            // to know it is not a daily cycle, a cache or a warm-up:
            record: 'memtide:group_memory_leak:growth_per_hour',
            expr: |||
              (
              (
                # (a) a day of history: the floor's rise above the same hours
                # yesterday keeps growing (a leak younger than a day)
                min_over_time(%(DG)s[%(r)s]) / %(segh)g
                and %(onG)s
              %(seasonal)s
              )
              or
              (
                # (b) a day of history, the leak older than a day: the floor
                # rises and stands well above yesterday's, in the same process
                min_over_time(%(FG)s[%(r)s]) / %(segh)g
                and %(onG)s
              %(raw)s
                and %(onG)s
                (min_over_time(%(D)s[%(r)s]) >= %(onG)s %(above)g * %(limit)s)
                and %(onG)s
              %(oldDay)s
              )
              or
              (
                # (c) any history (a cold start): the floor rose in every window
                # for longer than the rising half of a daily cycle
              %(cold)s
              )
              or
              (
                # (d) a day of history: the floor rose in every 6-hour window
                # of the day (a staircase whose steps are up to 6 hours apart;
                # a daily cycle falls in some)
              %(stairs)s
              )
              )
              # allocator present and its live bytes flat: retention, not a leak
              unless %(onG)s
              (
              %(retainedSpan)s
              )
              unless %(onG)s
              (
              %(retainedCold)s
              )
              unless %(onG)s
              (
              %(retainedStairs)s
              )
            ||| % {
              DG: DG,
              FG: FG,
              D: D,
              F: F,
              limit: limit,
              r: dur(leakRange),
              segh: secs(seg) / 3600,
              onG: onG,
              seasonal: steadyMean(DG, D, c.leakSpan, ofLimit(c.leakMinGrowthRatioPerHour)),
              raw: steady(FG, leakRange, ofLimit(c.leakMinGrowthRatioPerHour)),
              cold: everyWindow(FGL, c.leakColdSpan, c.leakColdWindow, ofLimit(c.leakMinGrowthRatioPerHour, c.leakColdWindow)),
              retainedSpan: retained(F, c.leakSpan),
              retainedCold: retained(F, c.leakColdSpan),
              stairs: everyWindow(FGS, c.leakStairSpan, c.leakStairWindow, ofLimit(c.leakMinGrowthRatioPerHour, c.leakStairWindow)),
              retainedStairs: retained(F, c.leakStairSpan),
              above: c.leakMinAboveYesterdayRatio,
              oldDay: oldEnough(day + c.leakSpan + c.floorWindow),
            },
          },
          {
            // Present while the floor stands higher above its lowest of the
            // last day, the group's oldest process past its warm-up, than a
            // daily cycle of up to ±25% of the limit swings, and still grows;
            // the value is its growth per hour over the rise window. With
            // any history: a fast leak in a young history, a staircase, is
            // told from a cycle long before the cold-start span has passed.
            record: 'memtide:group_memory_rise:growth_per_hour',
            expr: |||
              (%(F)s - %(F)s offset %(rw)s) / %(rwh)g
              and %(onG)s
              (%(F)s - %(onG)s min_over_time(%(Fw)s[%(day)s]) >= %(onG)s %(rise)g * %(limit)s)
              and %(onG)s
              (%(F)s - %(F)s offset %(rw)s >= %(onG)s %(riseGrowth)s)
              # allocator present and its live bytes flat: retention, not a leak
              unless %(onG)s
              (
              %(retained)s
              )
            ||| % {
              F: F,
              Fw: Fw,
              onG: onG,
              limit: limit,
              day: dur(day),
              rw: dur(c.leakRiseWindow),
              rwh: secs(c.leakRiseWindow) / 3600,
              rise: c.leakRiseRatio,
              riseGrowth: ofLimit(c.leakMinGrowthRatioPerHour, c.leakRiseWindow),
              retained: retained(F, c.leakRiseWindow),
            },
          },
          {
            // One member of a group of several leaks: the largest member's
            // floor grows against its own level (a share of the group's limit
            // would hide one of 32 workers). The value is its growth per hour.
            record: 'memtide:group_member_leak:growth_per_hour',
            expr: ownLevelLeak(
              'memtide:group_max_process_resident_bytes:floor',
              c.memberMinGrowthRatioPerHour,
              c.leakSpan,
              c.leakColdSpan,
              c.leakSpan + c.floorWindow,
              '\nand %s\n(memtide_group_processes{%s} > 1)' % [onG, sel],
            ),
          },
          {
            // An OOM restart loop: the group's oldest process keeps being
            // replaced after reaching its limit. The value is the restarts.
            record: 'memtide:group_oom_loop:restarts',
            expr: |||
              changes(memtide_group_oldest_start_time_seconds{%(sel)s}[%(win)s]) >= %(n)d
              and %(onG)s
              max_over_time(memtide:group_resident_bytes:limit_ratio[%(win)s]) >= %(ratio)g
            ||| % { sel: sel, win: dur(c.oomLoopWindow), n: c.oomLoopMinRestarts, onG: onG, ratio: c.oomLoopLimitRatio },
          },
          {
            // Seconds until the last hour's resident peak reaches the limit:
            // on the short trend (the short floor rose over every 20 minutes
            // of the last hour, balanced, to a level above anything of the
            // hours before, so not a sawtooth) or the stepwise trend (the
            // hour floor rose over every 4 hours of the last 8) while that
            // is under the fast horizon and, with a day of history, the rise
            // is not yesterday's (likeYesterday); else at the rate of a
            // suspected leak, rise or member leak.
            record: 'memtide:group_memory_exhaustion:eta_seconds',
            expr: |||
              (
                %(headroom)s
                / %(onG)s
                (min_over_time(%(FsG)s[%(fr)s]) / %(fw)d)
                and %(onG)s
              %(fastSteady)s
                and %(onG)s
                (%(Fs)s > %(onG)s max_over_time(%(Fs)s[%(nh)s] offset %(fsp)s) + %(onG)s %(margin)g * %(limit)s)
                and %(onG)s
                # not a warm-up: the group existed hours ago (a restarted
                # process re-warms to its old level, not above it), or its
                # oldest process is hours old (history that began late)
                (
                  present_over_time(%(limit)s[%(fw)ds] offset %(hist)s)
                  or %(onG)s
                  (time() - memtide_group_oldest_start_time_seconds{%(sel)s} >= %(histS)d)
                )
                unless %(onG)s
              %(fastYesterday)s
              ) < %(fastHorizon)d
              or
              (
                # the stepwise trend: the hour floor rose fast in every
                # 4-hour window of the step span (a staircase's steps are up
                # to 4 hours apart), at the slowest window's rate
                %(headroom)s
                / %(onG)s
                (
              %(stepwise)s
                ) * 3600
                unless %(onG)s
              %(stepYesterday)s
              ) < %(fastHorizon)d
              or
              %(headroom)s
              / %(onG)s
              (
                (memtide:group_memory_leak:growth_per_hour > 0)
                or
                (memtide:group_memory_rise:growth_per_hour > 0)
                or
                (memtide:group_member_leak:growth_per_hour > 0)
              ) * 3600
            ||| % {
              limit: limit,
              sel: sel,
              onG: onG,
              // Bytes left below the limit over the last hour's resident
              // peak: what every branch divides by its rate.
              headroom: '(%s - %s %s)' % [limit, onG, residentPeak(c.exhaustionHeadroomWindow)],
              FsG: FsG,
              Fs: Fs,
              fr: dur(c.exhaustionFastSpan - c.exhaustionFastGrowthWindow),
              fw: secs(c.exhaustionFastGrowthWindow),
              fastSteady: steady(FsG, c.exhaustionFastSpan - c.exhaustionFastGrowthWindow, ofLimit(c.exhaustionFastMinRatioPerHour, c.exhaustionFastGrowthWindow)),
              nh: dur(c.exhaustionNewHighWindow),
              fsp: dur(c.exhaustionFastSpan),
              margin: c.exhaustionNewHighMargin,
              fastHorizon: secs(c.exhaustionFastHorizon),
              stepwise: everyWindow(FGL, c.exhaustionStepSpan, c.leakColdWindow, ofLimit(c.exhaustionFastMinRatioPerHour, c.leakColdWindow)),
              fastYesterday: likeYesterday(Fs, c.exhaustionFastSpan),
              stepYesterday: likeYesterday(F, c.exhaustionStepSpan),
              hist: dur(c.exhaustionFastMinHistory),
              histS: secs(c.exhaustionFastMinHistory),
            },
          },
          {
            // Live heap bytes that keep rising against their own level: live
            // allocations have no sawtooth to filter and no reason to grow
            // for hours, whatever share of the limit they are.
            record: 'memtide:group_heap_leak:growth_per_hour',
            expr: ownLevelLeak(
              'memtide:group_malloc_live_bytes:floor',
              c.heapMinGrowthRatioPerHour,
              c.heapSpan,
              c.heapColdSpan,
              c.heapSpan,
            ),
          },
          {
            // The fastest-growing sampled allocation site of each group: one
            // series per group, for the leak alerts to name the code.
            record: 'memtide:group_site:fastest_growing',
            expr: 'topk by (%s) (1, memtide_agent_site_growth_bytes_per_second{%s,site!="other"} > 0)' % [by, sel],
          },
          {
            // Resident floor grows steadily while the allocator's live bytes
            // stay flat. The value is the resident growth per hour.
            record: 'memtide:group_allocator_retention:growth_per_hour',
            expr: |||
              %(perHour)s
              and %(onG)s
              (
              %(growth)s
              )
              and %(onG)s
              %(old)s
              and %(onG)s
              (
              %(retained)s
              )
            ||| % {
              perHour: perHour('memtide:group_resident_bytes:floor'),
              onG: onG,
              growth: sustainedGrowth('memtide:group_resident_bytes:floor', 'memtide:group_resident_bytes:floor_growth', memThr),
              old: oldEnough(c.leakMinAge),
              retained: retained('memtide:group_resident_bytes:floor', trendWindow),
            },
          },
          {
            record: 'memtide:group_fd_leak:growth_per_hour',
            expr: |||
              (
              (
              %(perHour)s
              and %(onG)s
              (
              %(growth)s
              )
              and %(onG)s
              %(old)s
              )
              or
              (
                # any history (a cold start): the floor rose in every window
                # for longer than the rising half of a daily cycle
              %(cold)s
              )
              or
              (
                # a day of history: more than the floor's own falls allow
              %(beyondFalls)s
              )
              )
              # and it hardly fell on the way: a leak only adds, a pool whose
              # members come and go with their own descriptors falls as often
              # as it rises
              and %(onG)s
              max_over_time(%(FDD)s[%(span)s])
              <= %(onG)s
              %(fall)g * (memtide:group_open_fds:floor - memtide:group_open_fds:floor offset %(span)s)
            ||| % {
              FDD: FDD,
              span: dur(trendWindow),
              fall: c.fdMaxFallShare,
              perHour: perHour('memtide:group_open_fds:floor'),
              onG: onG,
              growth: sustainedGrowth('memtide:group_open_fds:floor', 'memtide:group_open_fds:floor_growth', fdThr, fdOldHigh),
              old: oldEnough(c.leakMinAge),
              beyondFalls: std.join('\nor\n', [beyondFalls('memtide:group_open_fds:floor', fdGrowth(w), w) for w in c.fdFallWindows]),
              cold: everyWindow(FDL, c.leakColdSpan, c.leakColdWindow, fdBound(c.leakColdWindow / seg, 'memtide:group_open_fds:floor' + off(c.leakColdSpan))),
            },
          },
          {
            // Stale or abandoned sessions that keep accumulating (one series
            // per pool: stale first). The value is their growth over the
            // window; older_than_seconds says which age.
            record: 'memtide:sessions_stale:growth',
            expr: '%s\nor %s\n%s' % [
              sessionsAccumulating('memtide:sessions_stale', c.staleMinGrowth, c.staleNoiseZ, c.staleMinOpeningRise),
              onP,
              sessionsAccumulating('memtide:sessions_abandoned', c.abandonedMinGrowth, c.abandonedNoiseZ, 0, c.abandonedGrowthWindows, c.abandonedFallFactor, c.staleNoiseZ, c.staleMinGrowth),
            ],
          },
          {
            // Mean session lifetime far past the TTL and still rising.
            record: 'memtide:sessions_lifetime_seconds:leaking',
            expr: |||
              memtide:sessions_lifetime_seconds:mean
              and %(onP)s
              (min_over_time(memtide:sessions_lifetime_seconds:mean[%(hour)s]) > %(onP)s %(f)g * memtide_sessions_ttl_seconds{%(sel)s})
              and
              (memtide:sessions_lifetime_seconds:mean > memtide:sessions_lifetime_seconds:mean offset %(rise)s)
              and
              (memtide:sessions_lifetime_seconds:mean offset %(rise)s > memtide:sessions_lifetime_seconds:mean offset %(rise2)s)
            ||| % {
              onP: onP,
              hour: dur(3600),
              f: c.sessionLifetimeTTLFactor,
              sel: sel,
              rise: dur(c.sessionLifetimeRiseWindow),
              rise2: dur(2 * c.sessionLifetimeRiseWindow),
            },
          },
          {
            // CLOSE_WAIT floor that keeps rising: the application does not
            // close sockets its peers closed. The value is the growth.
            record: 'memtide:tcp_close_wait:growth',
            expr: |||
              (
                min_over_time(memtide_tcp_connections{%(sel)s, state="close_wait"}[%(floor)s])
                - min_over_time(memtide_tcp_connections{%(sel)s, state="close_wait"}[%(floor)s] offset %(win)s)
              ) >= %(min)g
              and
              (
                min_over_time(memtide_tcp_connections{%(sel)s, state="close_wait"}[%(floor)s] offset %(win)s)
                - min_over_time(memtide_tcp_connections{%(sel)s, state="close_wait"}[%(floor)s] offset %(win2)s)
              ) > 0
            ||| % {
              sel: sel,
              floor: dur(c.closeWaitFloorWindow),
              win: dur(c.closeWaitGrowthWindow),
              win2: dur(2 * c.closeWaitGrowthWindow),
              min: c.closeWaitMinGrowth,
            },
          },
        ],
      },
      {
        // The fleet view: how many instances of each group show a leak, so a
        // leak that ships with a release is seen everywhere at once.
        name: 'memtide.fleet',
        interval: dur(c.ruleInterval),
        rules: [
          {
            record: 'job_group:memtide_instances:count',
            expr: 'count by (job, group) (memtide_group_processes{%s})' % sel,
          },
          {
            record: 'job_group:memtide_memory_leak_instances:count',
            expr: 'count by (job, group) (memtide:group_memory_leak:growth_per_hour or memtide:group_heap_leak:growth_per_hour or memtide:group_member_leak:growth_per_hour or memtide:group_oom_loop:restarts)',
          },
          {
            record: 'job_group:memtide_memory_leak_instances:ratio',
            expr: 'job_group:memtide_memory_leak_instances:count\n/ on(job, group)\njob_group:memtide_instances:count',
          },
          {
            record: 'job_group:memtide_session_leak_instances:count',
            expr: 'count by (job, group) (\n  count by (instance, job, group) (memtide:sessions_stale:growth or memtide:sessions_lifetime_seconds:leaking)\n)',
          },
          {
            record: 'job_group:memtide_memory_exhaustion_instances:count',
            expr: 'count by (job, group) (memtide:group_memory_exhaustion:eta_seconds < %d)' % secs(c.exhaustionHorizon),
          },
        ],
      },
    ],
  },

  local alert(name, expr, severity, summary, description, anchor) = {
    alert: name,
    expr: expr,
    [if c.timing[name]['for'] > 0 then 'for']: dur(c.timing[name]['for']),
    [if c.timing[name].keep > 0 then 'keep_firing_for']: dur(c.timing[name].keep),
    labels: { severity: severity },
    annotations: {
      summary: summary,
      description: description,
      runbook_url: runbook(anchor),
    },
  },

  local floorNow = q('memtide:group_anonymous_bytes:floor{%s}', 'humanize1024'),
  // The site whose live heap grows fastest (libmemtide's sampling), named in
  // the leak alerts: the label of the recorded series, and its growth.
  local fastestSite =
    '{{ with printf `memtide:group_site:fastest_growing{%s}` $gsel | query }}{{ with first . }} Fastest-growing allocation site: {{ .Labels.site }} (+{{ .Value | humanize1024 }}B/s; profile: /debug/pprof/heap?group={{ $labels.group }}).{{ end }}{{ end }}',
  local limitNow = q('memtide_group_memory_limit_bytes{%s}', 'humanize1024'),

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'memtide.alerts',
        interval: dur(c.ruleInterval),
        rules: [
          alert(
            'MemtideMemoryLeakSuspected',
            'memtide:group_memory_leak:growth_per_hour',
            'warning',
            'Memory of {{ $labels.group }} on {{ $labels.instance }} has been rising steadily for hours.',
            gsel + 'The anonymous-memory floor (minimum over %s) of group {{ $labels.group }} on {{ $labels.instance }} has grown steadily, by at least {{ $value | humanize1024 }}B per hour: in every %s window of the last %s, every %s window of the last %s or every %s window of the last %s. It is now %s of a %s limit%s; at this rate the limit is reached in %s.' % [
              dur(c.floorWindow),
              dur(seg),
              dur(c.leakSpan),
              dur(c.leakColdWindow),
              dur(c.leakColdSpan),
              dur(c.leakStairWindow),
              dur(c.leakStairSpan),
              floorNow,
              limitNow,
              '{{ with printf `memtide:group_anonymous_bytes:floor_vs_yesterday{%s}` $gsel | query }}, {{ . | first | value | humanize1024 }}B above its highest at this time of day on the last ' + c.seasonDays + ' days{{ end }}',
              q('(memtide_group_memory_limit_bytes{%s} - memtide:group_anonymous_bytes:floor{%s}) / memtide:group_memory_leak:growth_per_hour{%s} * 3600', 'humanizeDuration'),
            ] + fastestSite,
            'memtidememoryleaksuspected',
          ) + { labels+: { reason: 'growth' } },
          alert(
            'MemtideMemoryLeakSuspected',
            'memtide:group_memory_rise:growth_per_hour',
            'warning',
            'Memory of {{ $labels.group }} on {{ $labels.instance }} rose further in a day than a daily cycle swings, and is still rising.',
            gsel + 'The anonymous-memory floor (minimum over %s) of group {{ $labels.group }} on {{ $labels.instance }} stands %s above its lowest of the last %s, taken while its oldest process was past its warm-up: more than %d%% of its %s limit, further than a daily cycle swings. It grew by {{ $value | humanize1024 }}B per hour over the last %s and is now %s; at this rate the limit is reached in %s.' % [
              dur(c.floorWindow),
              q('memtide:group_anonymous_bytes:floor{%%s} - min_over_time(%s{%%s}[%s])' % [Fw, dur(day)], 'humanize1024'),
              dur(day),
              c.leakRiseRatio * 100,
              limitNow,
              dur(c.leakRiseWindow),
              floorNow,
              q('(memtide_group_memory_limit_bytes{%s} - memtide:group_anonymous_bytes:floor{%s}) / memtide:group_memory_rise:growth_per_hour{%s} * 3600', 'humanizeDuration'),
            ] + fastestSite,
            'memtidememoryleaksuspected',
          ) + { labels+: { reason: 'rise' } },
          alert(
            'MemtideMemoryLeakSuspected',
            'memtide:group_oom_loop:restarts',
            'warning',
            'Processes of {{ $labels.group }} on {{ $labels.instance }} keep restarting after reaching the memory limit.',
            gsel + 'The oldest process of group {{ $labels.group }} on {{ $labels.instance }} was replaced {{ $value }} times in the last %s after resident memory reached %d%% of its %s limit: an OOM restart loop, which is a leak the restarts hide.' % [
              dur(c.oomLoopWindow),
              c.oomLoopLimitRatio * 100,
              limitNow,
            ],
            'memtidememoryleaksuspected',
          ) + { labels+: { reason: 'oom_loop' } },
          alert(
            'MemtideMemoryExhaustionPredicted',
            'memtide:group_memory_exhaustion:eta_seconds < %d' % secs(c.exhaustionHorizon),
            'critical',
            '{{ $labels.group }} on {{ $labels.instance }} will reach its memory limit in {{ $value | humanizeDuration }}.',
            gsel + 'At the current growth of its memory floor (%s per hour on a steady trend), group {{ $labels.group }} on {{ $labels.instance }} reaches its %s memory limit in {{ $value | humanizeDuration }}. Resident memory now: %s.' % [
              // The rate the prediction used, whichever trend it came from.
              q('(memtide_group_memory_limit_bytes{%%s} - max_over_time(memtide_group_resident_bytes{%%s}[%s])) / memtide:group_memory_exhaustion:eta_seconds{%%s} * 3600' % dur(c.exhaustionHeadroomWindow), 'humanize1024'),
              limitNow,
              q('memtide_group_resident_bytes{%s}', 'humanize1024'),
            ],
            'memtidememoryexhaustionpredicted',
          ),
          alert(
            'MemtideMemberLeakSuspected',
            'memtide:group_member_leak:growth_per_hour',
            'warning',
            'The largest process of {{ $labels.group }} on {{ $labels.instance }} keeps growing.',
            gsel + 'The floor of the largest member of group {{ $labels.group }} on {{ $labels.instance }} (%s processes) grew in every %s window of the last %s, by at least {{ $value | humanize1024 }}B per hour, against its own level of %s: one process leaks while the others do not. The group as a whole uses %s of its %s limit.' % [
              q('memtide_group_processes{%s}', 'humanize'),
              dur(seg),
              dur(c.leakSpan),
              q('memtide:group_max_process_resident_bytes:floor{%s}', 'humanize1024'),
              q('memtide_group_resident_bytes{%s}', 'humanize1024'),
              limitNow,
            ],
            'memtidememberleaksuspected',
          ),
          alert(
            'MemtideHeapLeakSuspected',
            'memtide:group_heap_leak:growth_per_hour',
            'warning',
            'Live heap of {{ $labels.group }} on {{ $labels.instance }} keeps rising.',
            gsel + 'Bytes in live allocations (libmemtide) of group {{ $labels.group }} on {{ $labels.instance }} grew in every %s window of the last %s, by at least {{ $value | humanize1024 }}B per hour; now %s live in %s objects. Memory that is allocated and never freed: a leak in the application.' % [
              dur(seg),
              dur(c.heapSpan),
              q('memtide:group_malloc_live_bytes:floor{%s}', 'humanize1024'),
              q('memtide_malloc_live_objects{%s}', 'humanize'),
            ] + fastestSite,
            'memtideheapleaksuspected',
          ),
          alert(
            'MemtideAllocatorRetention',
            'memtide:group_allocator_retention:growth_per_hour',
            'info',
            'Resident memory of {{ $labels.group }} on {{ $labels.instance }} grows while its live heap does not.',
            gsel + 'The resident floor of group {{ $labels.group }} on {{ $labels.instance }} grew by {{ $value | humanize1024 }}B per hour over %s while bytes in live allocations stayed flat (now %s live, %s free inside the allocator). This is allocator retention or fragmentation, not a leak.' % [
              dur(trendWindow),
              q('memtide_malloc_live_bytes{%s}', 'humanize1024'),
              q('memtide_malloc_heap_free_bytes{%s}', 'humanize1024'),
            ],
            'memtideallocatorretention',
          ),
          alert(
            'MemtideSessionLeakSuspected',
            'memtide:sessions_lifetime_seconds:leaking',
            'warning',
            'Sessions of pool {{ $labels.pool }} on {{ $labels.instance }} live far longer than their TTL, and longer every hour.',
            '{{ $psel := printf `instance="%s",job="%s",source="%s",group="%s",pool="%s"` $labels.instance $labels.job $labels.source $labels.group $labels.pool }}' +
            'By Little\'s law (live sessions over the opening rate) the mean session lifetime of pool {{ $labels.pool }} ({{ $labels.source }}, group {{ $labels.group }}) on {{ $labels.instance }} is {{ $value | humanizeDuration }}, over %g times the TTL of %s, and still rising: sessions are opened and not closed, independently of load. Live sessions: %s.' % [
              c.sessionLifetimeTTLFactor,
              '{{ with printf `memtide_sessions_ttl_seconds{%s}` $psel | query }}{{ . | first | value | humanizeDuration }}{{ else }}unknown{{ end }}',
              '{{ with printf `memtide_sessions_live{%s}` $psel | query }}{{ . | first | value | humanize }}{{ else }}unknown{{ end }}',
            ],
            'memtidesessionleaksuspected',
          ),
          alert(
            'MemtideStaleSessions',
            'memtide:sessions_stale:growth',
            'warning',
            'Sessions older than their TTL keep accumulating in pool {{ $labels.pool }} on {{ $labels.instance }}.',
            '{{ $psel := printf `instance="%s",job="%s",source="%s",group="%s",pool="%s"` $labels.instance $labels.job $labels.source $labels.group $labels.pool }}' +
            'Pool {{ $labels.pool }} ({{ $labels.source }}, group {{ $labels.group }}) on {{ $labels.instance }} holds %s sessions older than {{ $labels.older_than_seconds }}s, {{ $value | humanize }} more than %s ago, with a TTL of %s. Sessions that outlive their TTL are never closed or expired.' % [
              '{{ with printf `memtide_sessions_live_by_age{%s,older_than_seconds="%s"}` $psel $labels.older_than_seconds | query }}{{ . | first | value | humanize }}{{ else }}unknown{{ end }}',
              dur(c.staleGrowthWindow),
              '{{ with printf `memtide_sessions_ttl_seconds{%s}` $psel | query }}{{ . | first | value | humanizeDuration }}{{ else }}unknown{{ end }}',
            ],
            'memtidestalesessions',
          ),
          alert(
            'MemtideCloseWaitAccumulating',
            'memtide:tcp_close_wait:growth',
            'warning',
            'CLOSE_WAIT connections accumulate on port {{ $labels.port }} of {{ $labels.instance }}.',
            'The floor of CLOSE_WAIT connections on local port {{ $labels.port }} of {{ $labels.instance }} grew by {{ $value | humanize }} in the last %s and was already growing the %s before: peers close connections the application never closes. Now %s.' % [
              dur(c.closeWaitGrowthWindow),
              dur(c.closeWaitGrowthWindow),
              '{{ with printf `memtide_tcp_connections{instance="%s",job="%s",port="%s",state="close_wait"}` $labels.instance $labels.job $labels.port | query }}{{ . | first | value | humanize }}{{ else }}unknown{{ end }}',
            ],
            'memtideclosewaitaccumulating',
          ),
          alert(
            'MemtideFdLeakSuspected',
            'memtide:group_fd_leak:growth_per_hour',
            'warning',
            'Open file descriptors of {{ $labels.group }} on {{ $labels.instance }} keep rising.',
            gsel + 'The floor of open file descriptors of group {{ $labels.group }} on {{ $labels.instance }} grew in every %s segment of the last %s, in every %s window of the last %s, or over a %s window by more than %g times its largest fall over one in the last %s, by {{ $value | humanize }} per hour; now %s open.' % [
              dur(seg),
              dur(trendWindow),
              dur(c.leakColdWindow),
              dur(c.leakColdSpan),
              std.join(' or ', [dur(w) for w in c.fdFallWindows]),
              c.fdFallFactor,
              dur(day),
              q('memtide_group_open_fds{%s}', 'humanize'),
            ],
            'memtidefdleaksuspected',
          ),
          alert(
            'MemtideExporterDown',
            'up{%s} == 0' % sel,
            'warning',
            'memtide exporter {{ $labels.instance }} is down.',
            'Prometheus failed to scrape the memtide exporter on {{ $labels.instance }} (job {{ $labels.job }}) for %s. No memory or session alert can fire for its groups meanwhile.' % dur(c.exporterDownFor),
            'memtideexporterdown',
          ) + { 'for': dur(c.exporterDownFor), labels+: { reason: 'scrape_failed' } },
          alert(
            'MemtideExporterDown',
            'absent(up{%s})' % sel,
            'warning',
            'No memtide exporter is being scraped.',
            'There has been no `up` series for %s for %s: the scrape configuration lost the memtide targets. No memory or session alert can fire meanwhile.' % [std.strReplace(sel, '"', "'"), dur(c.exporterAbsentFor)],
            'memtideexporterdown',
          ) + { 'for': dur(c.exporterAbsentFor), labels+: { reason: 'absent' } },
          alert(
            'MemtideCollectorFailing',
            'avg_over_time(memtide_scrape_collector_success{%s}[%s]) < 0.5' % [sel, dur(c.collectorFailingWindow)],
            'warning',
            'memtide collector {{ $labels.collector }} on {{ $labels.instance }} is failing.',
            'The {{ $labels.collector }} collector of the memtide exporter on {{ $labels.instance }} succeeded in only {{ $value | humanizePercentage }} of the scrapes of the last %s; the metrics it provides are missing or stale. memtide_scrape_errors_total says why.' % dur(c.collectorFailingWindow),
            'memtidecollectorfailing',
          ),
        ],
      },
    ],
  },
}
