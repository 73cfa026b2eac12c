import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { RestartMetricName, RestartMetrics } from "../ports.ts";

/**
 * Counts in memory and writes them as one CloudWatch embedded-metric-format line per flush
 * (Powertools Metrics on stdout; no cloudwatch:PutMetricData call or permission).
 */
export class PowertoolsRestartMetrics implements RestartMetrics {
  private readonly counts = new Map<RestartMetricName, number>();

  constructor(private readonly metrics: Metrics) {}

  count(name: RestartMetricName, value = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + value);
  }

  /**
   * Publishes what was counted since the last flush. Writes nothing when nothing was counted:
   * most invocations (recoveries, duplicates, ignored statuses) count nothing, and Powertools
   * would log a "no metrics" warning for each of them.
   */
  flush(): void {
    if (this.counts.size === 0) return;
    for (const [name, value] of this.counts) this.metrics.addMetric(name, MetricUnit.Count, value);
    this.counts.clear();
    this.metrics.publishStoredMetrics();
  }
}
