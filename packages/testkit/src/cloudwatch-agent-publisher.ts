import { DETECTION_PROFILES, type DetectionProfileName } from "@procwatch/contract";

/**
 * A model of how and when the Amazon CloudWatch agent publishes `procstat_lookup_pid_count`, on a
 * model clock (milliseconds), written from the agent's source. Own code; nothing is copied.
 *
 * Sources read (cited below as `cwa:`, `tgf:`, `otel:`):
 * - cwa:  github.com/aws/amazon-cloudwatch-agent @ ab55b8daa204e95c42c0267ee5aa49ec3b3a7317 (2026-08-07)
 * - tgf:  github.com/aws/telegraf, the fork the agent pins (go.mod: `replace github.com/influxdata/telegraf =>
 *         github.com/aws/telegraf v0.10.2-0.20250113150713-a2dfaa4cdf6d`). The fetched snapshot only holds master @
 *         4470de2d (2020); plugins/inputs/procstat/procstat.go was also read at 3d0fd695 and e454d36b (2023+, with
 *         `properties`/mmap, which the agent's translator emits). The pinned commit itself was not available.
 * - otel: github.com/open-telemetry/opentelemetry-collector, tag scraper/scraperhelper/v0.124.0 (the version cwa's
 *         go.mod requires: `go.opentelemetry.io/collector/scraper/scraperhelper v0.124.0`).
 *
 * The pipeline, end to end:
 *
 * 1. Collection. Metrics do NOT run on telegraf's own agent loop any more: cwa cmd/amazon-cloudwatch-agent/
 *    amazon-cloudwatch-agent.go L301-L319 starts `ag.Run(ctx)` (telegraf) only "in logs-only mode", "Else start OTEL
 *    and rely on adapter package". Every telegraf input, procstat included, is wrapped in an OTel scraper controller:
 *    cwa receiver/adapter/factory.go L76-L79 `scraperhelper.NewMetricsController(&cfg.ControllerConfig, ...)`.
 *    - Interval: cwa translator/translate/otel/receiver/adapter/translators.go L224-L238 gives each procstat entry its
 *      own receiver with the entry's `metrics_collection_interval`; translator.go L70-L82 falls back to
 *      `agent.metrics_collection_interval`, then to 60 s (translators.go L29 `defaultMetricsCollectionInterval = time.Minute`).
 *    - Ticks: otel scraper/scraperhelper/config.go L33-L38 `NewDefaultControllerConfig` = `InitialDelay: time.Second`,
 *      and controller.go L150-L181 waits `initialDelay`, creates `time.NewTicker(sc.collectionInterval)`, scrapes once
 *      at once ("Call scrape method during initialization") and then on every tick. So the ticks are
 *      `agentStart + 1 s + k * interval`: NOT aligned to the wall clock, phase set by when the agent started
 *      (see {@link phaseOffsetForAgentStart}).
 *    - `agent.round_interval` (cwa translator/translate/agent/ruleRoundInterval.go: `DefaultCase("round_interval", false, input)`)
 *      and `agent.collection_jitter` (ruleCollectionJitter.go: `DefaultCase("collection_jitter", "0s", input)`) are only
 *      written to the TOML `[agent]` table; the OTel controller above never reads them. They mattered on the legacy
 *      telegraf loop (tgf agent/agent.go L271-L274 `if a.Config.Agent.RoundInterval { ticker = NewAlignedTicker(...)`,
 *      tgf agent/tick.go L66-L74 + internal/internal.go L261-L267 `AlignTime`: ticks at multiples of the interval, plus
 *      `RandomDuration(jitter)`). `roundInterval: true` models that legacy loop (phase 0, jitter 0 = its default).
 * 2. The sample. tgf plugins/inputs/procstat/procstat.go `Gather`: `now := time.Now()` before the lookup;
 *    `pidCount += len(pids)`; success → `acc.AddFields("procstat_lookup", fields, tags, now)` with the selector tag
 *    from `SimpleFindPids` (`{"pidfile": p.PidFile}` / `{"exe": p.Exe}` / `{"pattern": p.Pattern}`; 2020 snapshot
 *    L369-L375) plus `pid_finder` and `result: "success"`. No match is not an error (native_finder_notwindows.go
 *    `Pattern`/`FullPattern` return the empty list with a nil error), so it publishes 0 WITH the selector dimension.
 *    A lookup error (unreadable pid file, bad regexp) emits pid_count 0 with tags `{"pid_finder", "result":
 *    "lookup_error"}` only (no selector) and `return err` (2020 snapshot L121-L124). `result` and `user` are dropped by
 *    cwa translator/translate/metrics/metrics_collect/procstat/ruleDropTags.go L11 `tagExcludeValues = []string{"user", "result"}`.
 *    BUT that error sample is not published at its own tick: cwa receiver/adapter/receiver.go L67-L70 returns
 *    `pmetric.Metrics{}, err` without calling `GetOtelMetrics()`, otel controller.go L257-L259 drops an errored scrape
 *    (`if err != nil && !scrapererror.IsPartialScrapeError(err) { continue }`), and the sample stays in the adapter's
 *    accumulator (cwa receiver/adapter/accumulator/accumulator.go L156 `MoveAndAppendTo(o.metrics...)`, emptied only by
 *    `GetOtelMetrics` L161-L165). It goes out with the NEXT successful collection, keeping its own timestamp; while
 *    lookups keep failing NOTHING is published.
 * 3. Timestamp: the collection time. The `now` above → accumulator `getTime` (L211-L219) → otel datapoint →
 *    cwa plugins/outputs/cloudwatch/convert_otel.go L101 `Timestamp: aws.Time(dp.Timestamp().AsTime())` →
 *    cloudwatch.go L482 `Timestamp: metric.Timestamp`. Never the flush time.
 * 4. StorageResolution: cwa translator/translate/metrics/util/commonconfigutil.go L54-L63 tags the input
 *    `aws:StorageResolution = "true"` when `IsHighResolution` (subminuteutil.go L8-L16: interval `< 60 * time.Second`;
 *    the entry's own interval wins, setTimeInterval L151-L165). convert_otel.go L50-L60 `checkHighResolution`:
 *    "Return 1 if it was present and set to "true". Else return 60." and L103 always sets it.
 * 5. Batching (two stages, cwa plugins/outputs/cloudwatch/cloudwatch.go). No batch processor sits in front of the
 *    CloudWatch exporter (cwa translator/translate/otel/pipeline/host/translator.go L145-L149; batchprocessor only for AMP/logs).
 *    a) `pushMetricDatum` (L179-L225) appends each datum to the open batch and, on a 1 s ticker, hands the batch to
 *       `datumBatchChan` when `len(b.Partition) > 0 && time.Since(b.BeginTime) >= c.config.ForceFlushInterval`
 *       (L266-L268), or at once when it holds `defaultMaxDatumsPerCall = 1000` datums (L40, L208-L212, L262-L264).
 *    b) `publish` (L290-L342) sends whatever is queued at `getFirstPushMs` (L272-L284: the current interval
 *       boundary + `publishJitter(interval)`, a random duration in [0, interval), util.go L66-L70) and then every
 *       `ForceFlushInterval` (`nextMs += currentInterval.Milliseconds()`); default `defaultForceFlushInterval = time.Minute` (L46).
 *    This model's "flush" is (b); the instant stage (a) cut the batch is `flushAt - batchCutoffLagMs`.
 * 6. PutMetricData failures: `WriteToCloudWatch` (L396-L450) tries `MaxRetryCount` times (default `defaultRetryCount = 5`,
 *    "total number of PutMetricData attempts per batch", L48) with `backoffSleep` (L364-L379: `d = base * 2^retries`,
 *    base 200 ms (L49), then `d = (d / 2) + publishJitter(d/2)`), then "WriteToCloudWatch failure ... batch dropped".
 *    A retried batch is the same request sent later, not merged into the next flush.
 * 7. Agent stop: `Shutdown` (L145-L163) waits at most 5 s for the channels to empty and then closes; the open batch in
 *    `pushMetricDatum` is never sent. So samples not yet published when the agent stops are lost.
 *
 * Not modelled (simplifications, each named): after a restart the real agent re-phases (first scrape 1 s after start,
 * a new flush jitter) while this model keeps both grids; stage (a) cuts on a 1 s ticker with `>=`, so the cut drifts
 * by up to 1 s a cycle and re-phases after an empty stretch (`len(b.Partition) > 0`): fixed here as `batchCutoffLagMs`;
 * the retry counter `c.retries` is shared across batches and only reset on success (after a dropped batch the next
 * backoff starts at 6.4 s); a non-retryable error code sleeps once and drops the batch; the SDK's own retryer
 * (cwa internal/retryer/logthrottle.go, `client.DefaultRetryer`) retries inside one attempt; `datumBatchChan` full
 * (50 batches) halves the publish interval (L306-L319), which one series never reaches.
 */

export const PROCSTAT_PID_COUNT_METRIC_NAME = "procstat_lookup_pid_count";

/** Selector tags procstat puts on a successful lookup (tgf procstat.go `SimpleFindPids`), absent on a lookup error. */
export const PROCSTAT_SELECTOR_DIMENSION_NAMES = ["exe", "pattern", "pidfile"] as const;

/** Constants read from the source (see the header comment for the file and line of each). */
export const CLOUDWATCH_AGENT_SOURCE_CONSTANTS = {
  /** cwa translators.go L29 `defaultMetricsCollectionInterval = time.Minute`. */
  defaultCollectionIntervalMs: 60_000,
  /** cwa cloudwatch.go L46 `defaultForceFlushInterval = time.Minute`. */
  defaultForceFlushIntervalMs: 60_000,
  /** otel scraperhelper config.go `InitialDelay: time.Second`: first scrape 1 s after the receiver starts. */
  scraperInitialDelayMs: 1_000,
  /** cwa cloudwatch.go L40 `defaultMaxDatumsPerCall = 1000`. */
  maxDatumsPerCall: 1_000,
  /** cwa cloudwatch.go L48 `defaultRetryCount = 5 // total number of PutMetricData attempts per batch.` */
  maxPutMetricDataAttempts: 5,
  /** cwa cloudwatch.go L49 `backoffRetryBase = 200 * time.Millisecond`. */
  backoffRetryBaseMs: 200,
  /** cwa subminuteutil.go L8 `Metric_High_Resolution_Threhold = 60 * time.Second` (strictly below is high resolution). */
  highResolutionThresholdMs: 60_000,
  /** cwa ruleRoundInterval.go `DefaultCase("round_interval", false, input)`. */
  roundInterval: false,
  /** cwa ruleCollectionJitter.go `DefaultCase("collection_jitter", "0s", input)`. */
  collectionJitterMs: 0,
} as const;

/** Assumptions: nothing in the source settles these. Each is an option of {@link AgentPublisherOptions}. */
export const CLOUDWATCH_AGENT_MODEL_ASSUMPTIONS = {
  /** PutMetricData round trip (plus the publisher's ≤ 50 ms queue poll, cwa internal/publisher/publisher.go L105). CloudWatch-side ingestion is the alarm model's business. */
  networkDelayMs: 0,
  /** The publish loop's phase, i.e. the `publishJitter` drawn once at start, uniform in [0, flush interval). */
  flushPhaseOffsetMs: 0,
  /** How long before a publish tick stage (a) cut the batch it carries; in reality it drifts through [0, flush interval). */
  batchCutoffLagMs: 0,
  /** Where in `publishJitter(d/2)` ∈ [0, d/2) each retry backoff falls (0.5 = the mean). */
  retryJitterFraction: 0.5,
} as const;

/** Refuse to scan back further than this many collections for held lookup errors or skipped flushes. */
const MAX_BACKWARD_SCAN = 100_000;

export interface ProcstatSeries {
  namespace: string;
  /** The full dimension set of a healthy lookup (selector, `pid_finder`, append_dimensions). */
  dimensions: readonly { Name: string; Value: string }[];
}

/** What procstat's lookup finds at one collection: a pid count (0 = nothing matched), or a lookup error. */
export type PidCountSample = number | "lookup-error";

export interface AgentPublisherOptions {
  /** procstat `metrics_collection_interval` (the entry's, else `agent.metrics_collection_interval`, else 60 s). */
  collectionIntervalMs: number;
  /** `metrics.force_flush_interval` (default 60 s). */
  flushIntervalMs: number;
  /**
   * Where this host's collection ticks fall: ticks are `phaseOffsetMs + k * collectionIntervalMs`, 0 ≤ phase < interval.
   * On the OTel path (the default, `roundInterval: false`) the phase is `(agentStart + 1 s) mod interval`
   * ({@link phaseOffsetForAgentStart}); with `roundInterval: true` (legacy telegraf aligned ticker) it must be 0.
   */
  phaseOffsetMs: number;
  /** Default false, the agent's default (and ignored by the OTel scraper the agent really uses). */
  roundInterval?: boolean;
  /** PutMetricData round trip; an assumption, default {@link CLOUDWATCH_AGENT_MODEL_ASSUMPTIONS}.networkDelayMs. */
  network?: { delayMs?: number };
  /** Publish ticks are `flushPhaseOffsetMs + k * flushIntervalMs` (the start-time `publishJitter`). Assumption, default 0. */
  flushPhaseOffsetMs?: number;
  /** A flush at P carries what was collected up to `P - batchCutoffLagMs`. Assumption, default 0, 0 ≤ lag < flush interval. */
  batchCutoffLagMs?: number;
  /** No collection or flush before this instant (agent start). Default: the agent has always been running. */
  startedAtMs?: number;
  /** Position of each retry's random jitter in its range, 0..1. Assumption, default 0.5. */
  retryJitterFraction?: number;
  /**
   * `metrics.aggregation_dimensions` of the merged config (the exporter's `rollup_dimensions`). Default none.
   * cwa plugins/outputs/cloudwatch/cloudwatch.go `ProcessRollup` (L636-L668): beside each datum, one more datum per
   * set that is smaller than the datum's dimension set and whose every name the datum has, with exactly those
   * dimensions and the same value (`GetUniqueRollupList` L672: sets compared as sets, duplicates dropped).
   */
  rollupDimensions?: readonly (readonly string[])[];
}

export interface PutMetricDataDatum {
  MetricName: string;
  Dimensions: { Name: string; Value: string }[];
  Timestamp: Date;
  Value: number;
  StorageResolution?: number;
}

export interface PutMetricDataBatch {
  sentAt: number;
  input: { Namespace: string; MetricData: PutMetricDataDatum[] };
}

/** What {@link CloudWatchAgentPublisher.batchesBetween} returns: a batch plus when it was flushed and when it lands. */
export interface PublishedBatch extends PutMetricDataBatch {
  /** The publish tick that sent it (`sentAt` is later only by retry backoff). */
  flushAt: number;
  /** `sentAt + network.delayMs`: when CloudWatch has it. */
  arrivesAt: number;
  /** PutMetricData attempts made, the last one successful. */
  attempts: number;
}

export interface PublisherFaults {
  /** A late/missed flush: its samples go out with the next flush. */
  skippedFlushes?: (flushAt: number) => boolean;
  /** Closed intervals [stop, start] when the agent is not running: no collection, no flush, unsent samples lost. */
  agentDownBetween?: [number, number][];
  /**
   * How many PutMetricData attempts of the flush at `flushAt` fail with a retryable error before one succeeds.
   * At `maxPutMetricDataAttempts` (5) or more the batch is dropped and not returned.
   */
  putMetricDataFailures?: (flushAt: number) => number;
}

/** On the OTel path the first scrape is 1 s after the receiver starts, then every interval: the phase this gives. */
export function phaseOffsetForAgentStart(agentStartMs: number, collectionIntervalMs: number): number {
  return mod(agentStartMs + CLOUDWATCH_AGENT_SOURCE_CONSTANTS.scraperInitialDelayMs, collectionIntervalMs);
}

/** StorageResolution the agent puts on a datum collected every `collectionIntervalMs`. */
export function storageResolutionFor(collectionIntervalMs: number): 1 | 60 {
  return collectionIntervalMs < CLOUDWATCH_AGENT_SOURCE_CONSTANTS.highResolutionThresholdMs ? 1 : 60;
}

/** Dimension order of cwa cloudwatch.go `BuildDimensions` (L603-L633): `host` first, then by name; empty values and any past 30 dropped. */
export function agentDimensionOrder(dimensions: readonly { Name: string; Value: string }[]): { Name: string; Value: string }[] {
  const kept = dimensions.filter((dimension) => dimension.Value !== "");
  const host = kept.filter((dimension) => dimension.Name === "host");
  const rest = kept.filter((dimension) => dimension.Name !== "host").sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  return [...host, ...rest].slice(0, 30).map((dimension) => ({ Name: dimension.Name, Value: dimension.Value }));
}

/** The procwatch detection profile's cadences as publisher options. */
export function publisherOptionsFor(profileName: DetectionProfileName, phaseOffsetMs: number): AgentPublisherOptions {
  const profile = DETECTION_PROFILES[profileName];
  return {
    collectionIntervalMs: profile.collectionIntervalSeconds * 1000,
    flushIntervalMs: profile.forceFlushIntervalSeconds * 1000,
    phaseOffsetMs,
    roundInterval: CLOUDWATCH_AGENT_SOURCE_CONSTANTS.roundInterval,
  };
}

/** The seed's hand-made setup: 60 s collection, 60 s flush (both the agent defaults). Phase 0 is an arbitrary choice. */
export const SEED_SETUP_PUBLISHER_OPTIONS: Readonly<AgentPublisherOptions> = Object.freeze({
  collectionIntervalMs: 60_000,
  flushIntervalMs: 60_000,
  phaseOffsetMs: 0,
  roundInterval: false,
});

export class CloudWatchAgentPublisher {
  private readonly collectionMs: number;
  private readonly flushMs: number;
  private readonly phase: number;
  private readonly flushPhase: number;
  private readonly cutoffLag: number;
  private readonly delay: number;
  private readonly startedAt: number;
  private readonly jitterFraction: number;
  private readonly healthyDimensions: { Name: string; Value: string }[];
  private readonly errorDimensions: { Name: string; Value: string }[];
  private readonly storageResolution: 1 | 60;
  private readonly rollupSets: readonly (readonly string[])[];

  constructor(
    private readonly series: ProcstatSeries,
    options: AgentPublisherOptions,
    private readonly pidCountAt: (t: number) => PidCountSample,
  ) {
    const { collectionIntervalMs, flushIntervalMs, phaseOffsetMs } = options;
    positive("collectionIntervalMs", collectionIntervalMs);
    positive("flushIntervalMs", flushIntervalMs);
    inRange("phaseOffsetMs", phaseOffsetMs, collectionIntervalMs);
    if ((options.roundInterval ?? CLOUDWATCH_AGENT_SOURCE_CONSTANTS.roundInterval) && phaseOffsetMs !== 0) {
      throw new RangeError("roundInterval: true is telegraf's aligned ticker (ticks at multiples of the interval): phaseOffsetMs must be 0");
    }
    this.flushPhase = options.flushPhaseOffsetMs ?? CLOUDWATCH_AGENT_MODEL_ASSUMPTIONS.flushPhaseOffsetMs;
    inRange("flushPhaseOffsetMs", this.flushPhase, flushIntervalMs);
    this.cutoffLag = options.batchCutoffLagMs ?? CLOUDWATCH_AGENT_MODEL_ASSUMPTIONS.batchCutoffLagMs;
    inRange("batchCutoffLagMs", this.cutoffLag, flushIntervalMs);
    this.delay = options.network?.delayMs ?? CLOUDWATCH_AGENT_MODEL_ASSUMPTIONS.networkDelayMs;
    if (!(this.delay >= 0) || !Number.isFinite(this.delay)) throw new RangeError(`network.delayMs must be a finite number ≥ 0, got ${this.delay}`);
    this.jitterFraction = options.retryJitterFraction ?? CLOUDWATCH_AGENT_MODEL_ASSUMPTIONS.retryJitterFraction;
    if (!(this.jitterFraction >= 0 && this.jitterFraction <= 1)) throw new RangeError(`retryJitterFraction must be in [0, 1], got ${this.jitterFraction}`);
    this.startedAt = options.startedAtMs ?? Number.NEGATIVE_INFINITY;
    if (Number.isNaN(this.startedAt)) throw new RangeError("startedAtMs must be a number");
    this.collectionMs = collectionIntervalMs;
    this.flushMs = flushIntervalMs;
    this.phase = phaseOffsetMs;
    this.healthyDimensions = agentDimensionOrder(series.dimensions);
    const selectors: readonly string[] = PROCSTAT_SELECTOR_DIMENSION_NAMES;
    this.errorDimensions = this.healthyDimensions.filter((dimension) => !selectors.includes(dimension.Name));
    this.storageResolution = storageResolutionFor(collectionIntervalMs);
    this.rollupSets = uniqueRollupSets(options.rollupDimensions ?? []);
  }

  /** Every collection instant in (from, to]. */
  collectionTimes(from: number, to: number): number[] {
    return gridPoints(Math.max(from, this.startedAt - this.collectionMs), to, this.collectionMs, this.phase).filter((t) => t >= this.startedAt);
  }

  /** The flush instants in (from, to]. */
  flushTimes(from: number, to: number): number[] {
    return gridPoints(Math.max(from, this.startedAt - this.flushMs), to, this.flushMs, this.flushPhase).filter((t) => t >= this.startedAt);
  }

  /** The PutMetricData batches the agent sends with sentAt in (from, to], each holding the samples collected since the previous flush. */
  batchesBetween(from: number, to: number, faults: PublisherFaults = {}): PublishedBatch[] {
    const down = (faults.agentDownBetween ?? []).map(([stop, start]) => {
      if (!(stop <= start)) throw new RangeError(`agentDownBetween: [${stop}, ${start}] is not an interval`);
      return [stop, start] as const;
    });
    const isDown = (t: number) => down.some(([stop, start]) => stop <= t && t <= start);
    // The agent was down at some instant of (x, y].
    const downWithin = (x: number, y: number) => down.some(([stop, start]) => stop <= y && start > x);
    const skipped = faults.skippedFlushes ?? (() => false);
    const failuresAt = faults.putMetricDataFailures ?? (() => 0);
    const maxAttempts = CLOUDWATCH_AGENT_SOURCE_CONSTANTS.maxPutMetricDataAttempts;
    const latestRetry = this.retryDelay(maxAttempts - 1);

    const batches: PublishedBatch[] = [];
    for (const flushAt of this.flushTimes(from - latestRetry - 1, to)) {
      if (isDown(flushAt) || skipped(flushAt)) continue;
      const failures = Math.max(0, Math.floor(failuresAt(flushAt)));
      if (failures >= maxAttempts) continue; // "WriteToCloudWatch unsuccessful, batch dropped"
      const sentAt = flushAt + this.retryDelay(failures);
      if (!(sentAt > from && sentAt <= to)) continue;

      const windowEnd = flushAt - this.cutoffLag;
      const windowStart = this.previousSendingFlush(flushAt, skipped) - this.cutoffLag;
      const data: PutMetricDataDatum[] = [];
      for (const collectedAt of this.collectionTimes(windowStart, windowEnd)) {
        if (isDown(collectedAt) || downWithin(collectedAt, flushAt)) continue; // not collected, or lost at shutdown
        const sample = this.pidCountAt(collectedAt);
        if (sample === "lookup-error") continue; // held in the adapter's accumulator until the next successful scrape
        for (const heldAt of this.heldLookupErrors(collectedAt, isDown, downWithin)) data.push(...this.datums(heldAt, 0, this.errorDimensions));
        data.push(...this.datums(collectedAt, sample, this.healthyDimensions));
      }
      if (data.length === 0) continue; // timeToPublish needs `len(b.Partition) > 0`
      const { maxDatumsPerCall } = CLOUDWATCH_AGENT_SOURCE_CONSTANTS;
      for (let i = 0; i < data.length; i += maxDatumsPerCall) {
        batches.push({
          sentAt,
          flushAt,
          arrivesAt: sentAt + this.delay,
          attempts: failures + 1,
          input: { Namespace: this.series.namespace, MetricData: data.slice(i, i + maxDatumsPerCall) },
        });
      }
    }
    return batches.sort((a, b) => a.sentAt - b.sentAt || a.flushAt - b.flushAt);
  }

  /** Total backoff before attempt `failures + 1`: Σ (d/2 + fraction·d/2), d = 200 ms · 2^n (cwa cloudwatch.go `backoffSleep`). */
  private retryDelay(failures: number): number {
    let total = 0;
    for (let n = 0; n < failures; n++) {
      const d = CLOUDWATCH_AGENT_SOURCE_CONSTANTS.backoffRetryBaseMs * 2 ** n;
      total += d / 2 + this.jitterFraction * (d / 2);
    }
    return total;
  }

  /** The last flush before `flushAt` that was not skipped (its samples are not in this batch). */
  private previousSendingFlush(flushAt: number, skipped: (flushAt: number) => boolean): number {
    let previous = flushAt - this.flushMs;
    for (let steps = 0; previous >= this.startedAt; steps++) {
      if (!skipped(previous)) return previous;
      if (steps >= MAX_BACKWARD_SCAN) throw new RangeError(`more than ${MAX_BACKWARD_SCAN} consecutive skipped flushes before ${flushAt}`);
      previous -= this.flushMs;
    }
    return Number.NEGATIVE_INFINITY;
  }

  /** Lookup errors collected since the previous successful scrape, released by the success at `successAt`, oldest first. */
  private heldLookupErrors(successAt: number, isDown: (t: number) => boolean, downWithin: (x: number, y: number) => boolean): number[] {
    const held: number[] = [];
    for (let t = successAt - this.collectionMs; t >= this.startedAt; t -= this.collectionMs) {
      if (isDown(t) || downWithin(t, successAt) || this.pidCountAt(t) !== "lookup-error") break;
      if (held.length >= MAX_BACKWARD_SCAN) throw new RangeError(`more than ${MAX_BACKWARD_SCAN} consecutive lookup errors before ${successAt}`);
      held.push(t);
    }
    return held.reverse();
  }

  /** The datum and its roll-ups (cwa cloudwatch.go `BuildMetricDatum` → `ProcessRollup`). */
  private datums(collectedAt: number, value: number, dimensions: { Name: string; Value: string }[]): PutMetricDataDatum[] {
    return rollupDimensionSets(dimensions, this.rollupSets).map((set) => this.datum(collectedAt, value, set));
  }

  private datum(collectedAt: number, value: number, dimensions: { Name: string; Value: string }[]): PutMetricDataDatum {
    return {
      MetricName: PROCSTAT_PID_COUNT_METRIC_NAME,
      Dimensions: dimensions.map((dimension) => ({ ...dimension })),
      Timestamp: new Date(collectedAt),
      Value: value,
      StorageResolution: this.storageResolution,
    };
  }
}

/**
 * cwa cloudwatch.go `ProcessRollup`: the original dimensions first, then for each roll-up set that has fewer names
 * than the original and whose every name the original has, exactly those dimensions (in the set's order).
 */
export function rollupDimensionSets(
  dimensions: readonly { Name: string; Value: string }[],
  rollupSets: readonly (readonly string[])[],
): { Name: string; Value: string }[][] {
  const byName = new Map(dimensions.map((dimension) => [dimension.Name, dimension.Value]));
  const sets = [dimensions.map((dimension) => ({ ...dimension }))];
  for (const set of rollupSets) {
    if (set.length >= dimensions.length || !set.every((name) => byName.has(name))) continue;
    sets.push(set.map((name) => ({ Name: name, Value: byName.get(name) as string })));
  }
  return sets;
}

/** cwa cloudwatch.go `GetUniqueRollupList` (L672-L695): each set deduplicated and sorted, equal sets once. */
function uniqueRollupSets(sets: readonly (readonly string[])[]): string[][] {
  const seen = new Set<string>();
  const unique: string[][] = [];
  for (const set of sets) {
    const sorted = [...new Set(set)].sort();
    const key = JSON.stringify(sorted);
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(sorted);
  }
  return unique;
}

function mod(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}

function gridPoints(from: number, to: number, period: number, phase: number): number[] {
  const points: number[] = [];
  if (!(to > from)) return points;
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new RangeError(`(${from}, ${to}] is unbounded: give finite times or startedAtMs`);
  const first = Math.floor((from - phase) / period) + 1;
  for (let k = first; phase + k * period <= to; k++) points.push(phase + k * period);
  return points;
}

function positive(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a finite number > 0, got ${value}`);
}

function inRange(name: string, value: number, interval: number): void {
  if (!(value >= 0 && value < interval)) throw new RangeError(`${name} must be in [0, ${interval}), got ${value}`);
}
