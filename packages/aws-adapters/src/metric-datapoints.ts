import { type CloudWatchClient, type MetricDataQuery, paginateGetMetricData } from "@aws-sdk/client-cloudwatch";
import type { Dimension } from "@procwatch/contract";
import { toAdapterError } from "./errors.ts";
import { type RateLimiter, unpacedRateLimiter } from "./rate-limiter.ts";

/** GetMetricData takes at most 500 queries per call (API reference, MetricDataQueries). */
export const MAX_QUERIES_PER_GET_METRIC_DATA = 500;

export interface SeriesQuery {
  /** The caller's key for this series (procwatch uses the alarm name). */
  readonly key: string;
  readonly namespace: string;
  readonly metricName: string;
  /** The full dimension set: GetMetricData matches it exactly, as an alarm does. */
  readonly dimensions: readonly Dimension[];
  /** Seconds; datapoints are aggregated to this period, as the alarm would see them. */
  readonly period: number;
  /** Epoch ms: datapoints whose period ends at or before this instant are ignored. */
  readonly since: number;
}

/**
 * Which datapoints a few exact series have published recently, read with GetMetricData. Unlike
 * ListMetrics, which AWS documents can take up to 15 minutes to list a new metric, GetMetricData
 * returns a new series' datapoints within minutes of PutMetricData
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html).
 * One call answers up to 500 series; procwatch asks only about alarms that are arming.
 */
export class MetricDatapointReader {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly cloudwatch: CloudWatchClient,
    options: { rateLimiter?: RateLimiter } = {},
  ) {
    this.limiter = options.rateLimiter ?? unpacedRateLimiter();
  }

  /** Timestamps (epoch ms, period starts) of each series' datapoints in (since, now], by query key. */
  async datapointTimestamps(queries: readonly SeriesQuery[], now: number): Promise<Map<string, number[]>> {
    const found = new Map<string, number[]>(queries.map((query) => [query.key, []]));
    // A series asked about since now (a host that started this instant) has nothing to show, and
    // GetMetricData rejects a StartTime that is not before EndTime.
    const answerable = queries.filter((query) => query.since < now);
    for (let start = 0; start < answerable.length; start += MAX_QUERIES_PER_GET_METRIC_DATA) {
      const batch = answerable.slice(start, start + MAX_QUERIES_PER_GET_METRIC_DATA);
      const earliest = Math.min(...batch.map((query) => query.since));
      const byId = new Map(batch.map((query, index) => [`q${index}`, query]));
      const metricQueries: MetricDataQuery[] = batch.map((query, index) => ({
        Id: `q${index}`,
        MetricStat: {
          Metric: {
            Namespace: query.namespace,
            MetricName: query.metricName,
            Dimensions: query.dimensions.map((dimension) => ({ Name: dimension.Name, Value: dimension.Value })),
          },
          Period: query.period,
          // Any statistic shows whether a datapoint exists; SampleCount is the cheapest to read.
          Stat: "SampleCount",
        },
        ReturnData: true,
      }));
      try {
        await this.limiter.acquire("GetMetricData");
        const pages = paginateGetMetricData(
          { client: this.cloudwatch },
          { MetricDataQueries: metricQueries, StartTime: new Date(earliest), EndTime: new Date(now), ScanBy: "TimestampDescending" },
        );
        for await (const page of pages) {
          for (const result of page.MetricDataResults ?? []) {
            const query = byId.get(result.Id ?? "");
            if (query === undefined) continue;
            const timestamps = found.get(query.key) ?? [];
            for (const timestamp of result.Timestamps ?? []) {
              // A period that ends after `since` holds at least one sample taken after it.
              if (timestamp.getTime() + query.period * 1000 > query.since) timestamps.push(timestamp.getTime());
            }
            found.set(query.key, timestamps);
          }
          if (page.NextToken) await this.limiter.acquire("GetMetricData");
        }
      } catch (error) {
        throw toAdapterError(error, "GetMetricData");
      }
    }
    return found;
  }
}
