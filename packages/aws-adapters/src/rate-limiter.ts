import { type Clock, systemClock } from "./clock.ts";

/**
 * Client-side token buckets, one per API operation. CloudWatch's write quotas are tiny
 * (PutMetricAlarm 3 TPS, DeleteAlarms 3 TPS, not adjustable) and shared by everything in the
 * account, so procwatch paces itself instead of leaning on throttling + SDK retries: at
 * fleet scale a retry storm would starve other tools of the same quota.
 *
 * Defaults are the documented default quotas where AWS publishes one, and conservative
 * values elsewhere; check Service Quotas for the account and pass overrides.
 */
export const DEFAULT_API_TPS: Readonly<Record<string, number>> = {
  // CloudWatch
  PutMetricAlarm: 3,
  DescribeAlarms: 9,
  DeleteAlarms: 3,
  EnableAlarmActions: 3,
  DisableAlarmActions: 3,
  TagResource: 5,
  ListTagsForResource: 5,
  ListMetrics: 25,
  GetMetricData: 50,
  // No published default we could confirm; paced like the other alarm writes.
  SetAlarmState: 3,
  // EC2 (non-mutating actions bucket refills at 20 per second)
  DescribeInstances: 20,
  // SSM Parameter Store (standard throughput)
  GetParameters: 40,
  GetParameter: 40,
};

/** Used for an operation with no configured rate. */
export const FALLBACK_TPS = 5;

export interface RateLimiterOptions {
  /** Per-operation TPS, merged over DEFAULT_API_TPS. `Infinity` or 0 turns pacing off for that operation. */
  readonly tps?: Readonly<Record<string, number>>;
  /** Tokens a bucket may hold; 1 keeps calls evenly spaced, which is what the per-second quotas expect. */
  readonly burst?: number;
  readonly clock?: Clock;
  /** False turns all pacing off (one-off reads, tests that count calls only). */
  readonly enabled?: boolean;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  readonly ratePerMs: number;
  readonly capacity: number;
}

export interface RateLimiterStats {
  /** Total milliseconds callers spent waiting for a token, per operation. */
  readonly waitedMs: Record<string, number>;
  readonly acquired: Record<string, number>;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly tps: Readonly<Record<string, number>>;
  private readonly burst: number;
  private readonly clock: Clock;
  private readonly enabled: boolean;
  private readonly waited: Record<string, number> = {};
  private readonly acquiredCount: Record<string, number> = {};

  constructor(options: RateLimiterOptions = {}) {
    this.tps = { ...DEFAULT_API_TPS, ...(options.tps ?? {}) };
    this.burst = Math.max(1, options.burst ?? 1);
    this.clock = options.clock ?? systemClock;
    this.enabled = options.enabled ?? true;
  }

  /** The TPS an operation is paced at; Infinity when unpaced. */
  rateOf(operation: string): number {
    if (!this.enabled) return Number.POSITIVE_INFINITY;
    const rate = this.tps[operation] ?? FALLBACK_TPS;
    return rate > 0 && Number.isFinite(rate) ? rate : Number.POSITIVE_INFINITY;
  }

  /**
   * Waits until a call to `operation` may go out. Tokens may go negative: each concurrent caller
   * reserves its own slot, so N parallel callers are spread over N/rate seconds instead of all
   * waking at once.
   */
  async acquire(operation: string): Promise<void> {
    this.acquiredCount[operation] = (this.acquiredCount[operation] ?? 0) + 1;
    const rate = this.rateOf(operation);
    if (rate === Number.POSITIVE_INFINITY) return;
    const now = this.clock.now();
    let bucket = this.buckets.get(operation);
    if (bucket === undefined) {
      bucket = { tokens: this.burst, updatedAt: now, ratePerMs: rate / 1000, capacity: this.burst };
      this.buckets.set(operation, bucket);
    }
    bucket.tokens = Math.min(bucket.capacity, bucket.tokens + (now - bucket.updatedAt) * bucket.ratePerMs);
    bucket.updatedAt = now;
    bucket.tokens -= 1;
    if (bucket.tokens >= 0) return;
    const waitMs = -bucket.tokens / bucket.ratePerMs;
    this.waited[operation] = (this.waited[operation] ?? 0) + waitMs;
    await this.clock.sleep(waitMs);
  }

  stats(): RateLimiterStats {
    return { waitedMs: { ...this.waited }, acquired: { ...this.acquiredCount } };
  }
}

/** A limiter that never waits: for code paths (tests, one-off reads) that must not be paced. */
export function unpacedRateLimiter(): RateLimiter {
  return new RateLimiter({ enabled: false });
}
