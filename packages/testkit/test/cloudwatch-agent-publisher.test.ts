import { DETECTION_PROFILES } from "@procwatch/contract";
import { describe, expect, it } from "vitest";
import {
  agentDimensionOrder,
  CloudWatchAgentPublisher,
  type PidCountSample,
  type ProcstatSeries,
  phaseOffsetForAgentStart,
  publisherOptionsFor,
  SEED_SETUP_PUBLISHER_OPTIONS,
} from "../src/index.ts";

// Expectations below come from the agent's source (quoted in each comment), not from the model:
// cwa = aws/amazon-cloudwatch-agent @ ab55b8da, tgf = aws/telegraf, otel = open-telemetry/opentelemetry-collector scraper/scraperhelper/v0.124.0.

const series: ProcstatSeries = {
  namespace: "CWAgent",
  dimensions: [
    { Name: "pid_finder", Value: "native" },
    { Name: "exe", Value: "nginx" },
    { Name: "InstanceId", Value: "i-0123456789abcdef0" },
  ],
};
const up = () => 1;
const times = (data: { Timestamp: Date }[]) => data.map((datum) => datum.Timestamp.getTime());
const range = (first: number, last: number, step: number) => Array.from({ length: (last - first) / step + 1 }, (_, i) => first + i * step);

describe("collection ticks (otel scraperhelper controller, which wraps procstat: cwa receiver/adapter/factory.go L76)", () => {
  it("ticks every interval from the phase, not aligned to the wall clock", () => {
    // otel controller.go: `ticker := time.NewTicker(sc.collectionInterval)` then `sc.scrapeFunc(sc)` once and on every tick.
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 3_000 }, up);
    expect(publisher.collectionTimes(0, 60_000)).toEqual([3_000, 13_000, 23_000, 33_000, 43_000, 53_000]);
    expect(publisher.collectionTimes(3_000, 13_000)).toEqual([13_000]); // (from, to]
  });

  it("puts the first scrape 1 s after the agent starts", () => {
    // otel scraperhelper/config.go: `InitialDelay: time.Second`; controller.go: `case <-time.After(sc.initialDelay):`
    expect(phaseOffsetForAgentStart(12_345, 10_000)).toBe(3_345);
    expect(phaseOffsetForAgentStart(59_500, 60_000)).toBe(500);
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 3_345, startedAtMs: 12_345 },
      up,
    );
    expect(publisher.collectionTimes(0, 40_000)).toEqual([13_345, 23_345, 33_345]);
  });

  it("defaults round_interval to false, and rejects a phase with the legacy aligned ticker", () => {
    // cwa translator/translate/agent/ruleRoundInterval.go: `translator.DefaultCase("round_interval", false, input)`
    expect(publisherOptionsFor("standard", 0).roundInterval).toBe(false);
    // tgf internal/internal.go AlignTime: `truncated := tm.Truncate(interval)` → ticks at multiples of the interval.
    expect(
      () => new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 1, roundInterval: true }, up),
    ).toThrow(RangeError);
    const aligned = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 0, roundInterval: true }, up);
    expect(aligned.collectionTimes(0, 30_000)).toEqual([10_000, 20_000, 30_000]);
  });

  it("rejects a phase outside [0, interval)", () => {
    expect(() => new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 10_000 }, up)).toThrow(
      RangeError,
    );
  });
});

describe("flushes (cwa plugins/outputs/cloudwatch/cloudwatch.go)", () => {
  it("publishes every force_flush_interval from the start-time jitter", () => {
    // getFirstPushMs: `nextMs := nowMs - (nowMs % interval.Milliseconds()) + publishJitter.Milliseconds()`; publish: `nextMs += currentInterval.Milliseconds()`
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 0, flushPhaseOffsetMs: 17_000 },
      up,
    );
    expect(publisher.flushTimes(0, 200_000)).toEqual([17_000, 77_000, 137_000, 197_000]);
    expect(publisher.batchesBetween(0, 200_000).map((batch) => batch.sentAt)).toEqual([17_000, 77_000, 137_000, 197_000]);
  });

  it("timestamps each datum with its collection time, not the flush time", () => {
    // tgf procstat.go Gather: `now := time.Now()` … `acc.AddFields("procstat_lookup", fields, tags, now)`;
    // cwa convert_otel.go L101: `Timestamp: aws.Time(dp.Timestamp().AsTime())`; cloudwatch.go L482: `Timestamp: metric.Timestamp`.
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 5_000, flushPhaseOffsetMs: 0 },
      up,
    );
    const [batch] = publisher.batchesBetween(59_000, 60_000);
    expect(batch?.sentAt).toBe(60_000);
    expect(times(batch?.input.MetricData ?? [])).toEqual([5_000, 15_000, 25_000, 35_000, 45_000, 55_000]);
  });

  it("carries exactly the samples collected since the previous flush", () => {
    // pushMetricDatum hands the open batch over and `c.metricDatumBatch.clear()`s it; publish sends what was handed over.
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 5_000 }, up);
    const batches = publisher.batchesBetween(0, 300_000);
    expect(batches.map((batch) => batch.sentAt)).toEqual([60_000, 120_000, 180_000, 240_000, 300_000]);
    for (const batch of batches) expect(times(batch.input.MetricData)).toEqual(range(batch.sentAt - 55_000, batch.sentAt - 5_000, 10_000));
    // Together they are every collection, once.
    expect(batches.flatMap((batch) => times(batch.input.MetricData))).toEqual(publisher.collectionTimes(0, 300_000));
  });

  it("gives the same batches whether asked for one range or two", () => {
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 2_500, flushPhaseOffsetMs: 7_000 },
      (t) => (t > 100_000 ? 0 : 1),
    );
    const whole = publisher.batchesBetween(0, 300_000);
    expect([...publisher.batchesBetween(0, 150_000), ...publisher.batchesBetween(150_000, 300_000)]).toEqual(whole);
  });

  it("a skipped flush makes the next one carry both", () => {
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 5_000 }, up);
    const batches = publisher.batchesBetween(0, 180_000, { skippedFlushes: (flushAt) => flushAt === 120_000 });
    expect(batches.map((batch) => batch.sentAt)).toEqual([60_000, 180_000]);
    expect(times(batches[1]?.input.MetricData ?? [])).toEqual(range(65_000, 175_000, 10_000));
  });

  it("takes the batch cut before the publish tick when the cut-off lag is set", () => {
    // timeToPublish: `time.Since(b.BeginTime) >= c.config.ForceFlushInterval` (1 s ticker) cuts the batch; publish sends it at its own tick.
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 5_000, batchCutoffLagMs: 20_000 },
      up,
    );
    const [, second] = publisher.batchesBetween(0, 120_000);
    expect(second?.sentAt).toBe(120_000);
    expect(times(second?.input.MetricData ?? [])).toEqual(range(45_000, 95_000, 10_000));
  });

  it("splits more than 1000 datums into several PutMetricData requests", () => {
    // cloudwatch.go L40: `defaultMaxDatumsPerCall = 1000 // PutMetricData only supports up to 1000 data metrics per call by default`
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 1_000, flushIntervalMs: 60_000, phaseOffsetMs: 500, startedAtMs: 0 }, up);
    const batches = publisher.batchesBetween(0, 1_260_000, { skippedFlushes: (flushAt) => flushAt < 1_260_000 });
    expect(batches.map((batch) => batch.input.MetricData.length)).toEqual([1000, 260]);
    expect(new Set(batches.map((batch) => batch.sentAt))).toEqual(new Set([1_260_000]));
  });

  it("retries a failed PutMetricData with backoff and drops the batch after 5 attempts", () => {
    // backoffSleep: `d = c.config.BackoffRetryBase * time.Duration(1<<c.retries)`, `d = (d / 2) + publishJitter(d/2)`; backoffRetryBase = 200 ms.
    // defaultRetryCount = 5 // total number of PutMetricData attempts per batch. Then "WriteToCloudWatch unsuccessful, batch dropped".
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 5_000, retryJitterFraction: 0 },
      up,
    );
    const failures = (flushAt: number) => (flushAt === 60_000 ? 2 : flushAt === 120_000 ? 5 : 0);
    const batches = publisher.batchesBetween(0, 180_000, { putMetricDataFailures: failures });
    expect(batches.map((batch) => [batch.flushAt, batch.sentAt, batch.attempts])).toEqual([
      [60_000, 60_000 + 100 + 200, 3],
      [180_000, 180_000, 1],
    ]);
    // A retried batch is the same request sent later, not merged into the next flush.
    expect(times(batches[1]?.input.MetricData ?? [])).toEqual(range(125_000, 175_000, 10_000));
  });

  it("adds the assumed network delay to arrivesAt only", () => {
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 60_000, flushIntervalMs: 60_000, phaseOffsetMs: 0, network: { delayMs: 250 } },
      up,
    );
    const [batch] = publisher.batchesBetween(0, 60_000);
    expect(batch).toMatchObject({ sentAt: 60_000, arrivesAt: 60_250 });
  });
});

describe("procstat samples (tgf plugins/inputs/procstat/procstat.go)", () => {
  const selectorless = [
    { Name: "InstanceId", Value: "i-0123456789abcdef0" },
    { Name: "pid_finder", Value: "native" },
  ];

  it("publishes 0 with the selector dimension when nothing matches", () => {
    // native_finder_notwindows.go Pattern: no match leaves `pids` empty and `return pids, err` with err nil; Gather: `pidCount += len(pids)`,
    // `tags = map[string]string{"exe": p.Exe}`. Order: cwa cloudwatch.go BuildDimensions `sortedKeys := sortedTagKeys(tagMap)`.
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 60_000, flushIntervalMs: 60_000, phaseOffsetMs: 0 }, () => 0);
    const [datum] = publisher.batchesBetween(0, 60_000)[0]?.input.MetricData ?? [];
    expect(datum).toMatchObject({ MetricName: "procstat_lookup_pid_count", Value: 0 });
    expect(datum?.Dimensions).toEqual([{ Name: "InstanceId", Value: "i-0123456789abcdef0" }, { Name: "exe", Value: "nginx" }, ...selectorless.slice(1)]);
  });

  it("sends a lookup error without the selector dimension, and only with the next successful lookup", () => {
    // Gather on error: `tags := map[string]string{"pid_finder": p.PidFinder, "result": "lookup_error"}` … `return err`.
    // cwa receiver/adapter/receiver.go: `if err := r.input.Input.Gather(r.accumulator); err != nil { … return pmetric.Metrics{}, err }`
    // (no GetOtelMetrics, so the sample stays in the accumulator); otel controller.go: `if err != nil && … { continue }`.
    const sample = (t: number): PidCountSample => (t >= 20_000 && t <= 40_000 ? "lookup-error" : 1);
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 0 }, sample);
    const batches = publisher.batchesBetween(0, 60_000);
    expect(batches.map((batch) => [batch.sentAt, times(batch.input.MetricData)])).toEqual([
      [10_000, [10_000]],
      [50_000, [20_000, 30_000, 40_000, 50_000]],
      [60_000, [60_000]],
    ]);
    const released = batches[1]?.input.MetricData ?? [];
    for (const datum of released.slice(0, 3)) {
      expect(datum.Value).toBe(0);
      expect(datum.Dimensions).toEqual(selectorless); // "result" is dropped: ruleDropTags.go `tagExcludeValues = []string{"user", "result"}`
    }
    expect(released[3]?.Dimensions.map((dimension) => dimension.Name)).toContain("exe");
  });

  it("publishes nothing while every lookup fails", () => {
    const publisher = new CloudWatchAgentPublisher(
      series,
      { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 0, startedAtMs: 0 },
      () => "lookup-error",
    );
    expect(publisher.batchesBetween(0, 600_000)).toEqual([]);
  });
});

describe("agent down", () => {
  it("publishes nothing while down and loses what it had not sent", () => {
    // cwa cloudwatch.go Shutdown: `close(c.shutdownChan)`; pushMetricDatum: `case <-c.shutdownChan: return` (the open batch is never sent).
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 5_000 }, up);
    const batches = publisher.batchesBetween(0, 300_000, { agentDownBetween: [[100_000, 190_000]] });
    expect(batches.map((batch) => batch.sentAt)).toEqual([60_000, 240_000, 300_000]);
    expect(times(batches[1]?.input.MetricData ?? [])).toEqual([195_000, 205_000, 215_000, 225_000, 235_000]);
    expect(batches.flatMap((batch) => times(batch.input.MetricData)).filter((t) => t > 55_000 && t < 195_000)).toEqual([]);
  });

  it("loses the open batch on a stop that falls between two flushes", () => {
    // Shutdown waits at most 5 s (`for i := 0; i < 5; i++ { … time.Sleep(time.Second) }`) for channels that only a publish tick empties, then closes.
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 60_000, phaseOffsetMs: 5_000 }, up);
    const batches = publisher.batchesBetween(0, 120_000, { agentDownBetween: [[100_000, 110_000]] });
    expect(batches.map((batch) => [batch.sentAt, times(batch.input.MetricData)])).toEqual([
      [60_000, range(5_000, 55_000, 10_000)],
      [120_000, [115_000]],
    ]);
  });

  it("forgets held lookup errors across a restart", () => {
    const sample = (t: number): PidCountSample => (t === 30_000 ? "lookup-error" : 1);
    const publisher = new CloudWatchAgentPublisher(series, { collectionIntervalMs: 10_000, flushIntervalMs: 10_000, phaseOffsetMs: 0 }, sample);
    const batches = publisher.batchesBetween(0, 60_000, { agentDownBetween: [[35_000, 45_000]] });
    expect(batches.flatMap((batch) => times(batch.input.MetricData))).toEqual([10_000, 20_000, 50_000, 60_000]);
  });
});

describe("storage resolution and profiles", () => {
  it("is high resolution below 60 s and standard at 60 s", () => {
    // cwa subminuteutil.go: `if actualInterval < Metric_High_Resolution_Threhold` (60 s) → tag "aws:StorageResolution" = "true";
    // convert_otel.go checkHighResolution: "Return 1 if it was present and set to "true". Else return 60."
    const at = (collectionIntervalMs: number) =>
      new CloudWatchAgentPublisher(series, { collectionIntervalMs, flushIntervalMs: 60_000, phaseOffsetMs: 0 }, up).batchesBetween(0, 60_000)[0]?.input
        .MetricData[0]?.StorageResolution;
    expect(at(10_000)).toBe(1);
    expect(at(59_000)).toBe(1);
    expect(at(60_000)).toBe(60);
  });

  it("takes the profiles' cadences from the contract", () => {
    expect(publisherOptionsFor("fast", 2_500)).toMatchObject({
      collectionIntervalMs: DETECTION_PROFILES.fast.collectionIntervalSeconds * 1000,
      flushIntervalMs: DETECTION_PROFILES.fast.forceFlushIntervalSeconds * 1000,
      phaseOffsetMs: 2_500,
    });
    expect(SEED_SETUP_PUBLISHER_OPTIONS).toMatchObject({ collectionIntervalMs: 60_000, flushIntervalMs: 60_000 });
  });

  it("orders dimensions as BuildDimensions does: host first, then by name", () => {
    // cwa cloudwatch.go BuildDimensions: "we always want to include the "host" tag if it exists", then `sortedTagKeys`.
    expect(
      agentDimensionOrder([
        { Name: "pid_finder", Value: "native" },
        { Name: "host", Value: "ip-10-0-0-1" },
        { Name: "InstanceId", Value: "i-1" },
        { Name: "empty", Value: "" },
      ]).map((dimension) => dimension.Name),
    ).toEqual(["host", "InstanceId", "pid_finder"]);
  });
});
