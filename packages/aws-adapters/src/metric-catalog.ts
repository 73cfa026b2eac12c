import { type CloudWatchClient, type DimensionFilter, paginateListMetrics } from "@aws-sdk/client-cloudwatch";
import { DEFAULT_METRIC_NAMESPACE, type Dimension, PROCSTAT_METRIC_NAME } from "@procwatch/contract";
import { toAdapterError } from "./errors.ts";
import { type RateLimiter, unpacedRateLimiter } from "./rate-limiter.ts";

export interface MetricRecord {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly Dimension[];
}

export interface ListProcstatOptions {
  readonly namespace?: string;
  /** Only metrics with data in the last 3 hours (ListMetrics `RecentlyActive=PT3H`); otherwise anything from the last two weeks. */
  readonly recentlyActive?: boolean;
  /** Narrow server-side, e.g. `[{Name: "InstanceId", Value: "i-…"}]` or `[{Name: "pid_finder"}]`. */
  readonly dimensions?: readonly DimensionFilter[];
  /** Any metric name instead of procstat_lookup_pid_count (to diagnose misspelt names). */
  readonly metricName?: string;
}

/**
 * Which metrics exist, read with a handful of paginated ListMetrics calls (500 per page) for
 * the whole fleet, never one call per alarm. An alarm whose exact metric (name, namespace and
 * full dimension set) is absent will never see data.
 */
export class MetricCatalog {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly cloudwatch: CloudWatchClient,
    options: { rateLimiter?: RateLimiter } = {},
  ) {
    this.limiter = options.rateLimiter ?? unpacedRateLimiter();
  }

  async listProcstatMetrics(options: ListProcstatOptions = {}): Promise<MetricRecord[]> {
    const namespace = options.namespace ?? DEFAULT_METRIC_NAMESPACE;
    const metrics: MetricRecord[] = [];
    try {
      await this.limiter.acquire("ListMetrics");
      const pages = paginateListMetrics(
        { client: this.cloudwatch },
        {
          Namespace: namespace,
          MetricName: options.metricName ?? PROCSTAT_METRIC_NAME,
          ...(options.dimensions !== undefined && options.dimensions.length > 0 ? { Dimensions: [...options.dimensions] } : {}),
          ...(options.recentlyActive === true ? { RecentlyActive: "PT3H" as const } : {}),
        },
      );
      for await (const page of pages) {
        for (const metric of page.Metrics ?? []) {
          metrics.push({
            namespace: metric.Namespace ?? namespace,
            metricName: metric.MetricName ?? "",
            dimensions: (metric.Dimensions ?? []).map((dimension) => ({ Name: dimension.Name ?? "", Value: dimension.Value ?? "" })),
          });
        }
        if (page.NextToken) await this.limiter.acquire("ListMetrics");
      }
    } catch (error) {
      throw toAdapterError(error, "ListMetrics");
    }
    return metrics;
  }
}
