import { describe, expect, it } from "vitest";
import type { Clock } from "../src/clock.ts";
import { DEFAULT_API_TPS, RateLimiter } from "../src/rate-limiter.ts";

/** Time only moves when someone sleeps, so pacing is observable without waiting. */
function virtualClock(): Clock & { elapsed(): number } {
  let now = 0;
  return {
    now: () => now,
    sleep: async (milliseconds) => {
      now += milliseconds;
    },
    elapsed: () => now,
  };
}

describe("RateLimiter", () => {
  it("defaults to CloudWatch's quotas", () => {
    expect(DEFAULT_API_TPS).toMatchObject({ PutMetricAlarm: 3, DescribeAlarms: 9, DeleteAlarms: 3 });
  });

  it("spaces sequential calls at 1/TPS", async () => {
    const clock = virtualClock();
    const limiter = new RateLimiter({ clock });
    for (let call = 0; call < 10; call += 1) await limiter.acquire("PutMetricAlarm");
    // First call is free (one token), the other nine wait a third of a second each.
    expect(clock.elapsed()).toBeCloseTo(3000, 5);
    expect(limiter.stats().acquired.PutMetricAlarm).toBe(10);
  });

  it("buckets are per operation and configurable", async () => {
    const clock = virtualClock();
    const limiter = new RateLimiter({ clock, tps: { DescribeAlarms: 100 } });
    for (let call = 0; call < 11; call += 1) await limiter.acquire("DescribeAlarms");
    expect(clock.elapsed()).toBeCloseTo(100, 5);
    await limiter.acquire("PutMetricAlarm");
    expect(clock.elapsed()).toBeCloseTo(100, 5);
  });

  it("concurrent callers reserve distinct slots", async () => {
    let now = 0;
    const wakeups: number[] = [];
    const clock: Clock = {
      now: () => now,
      sleep: async (milliseconds) => {
        wakeups.push(milliseconds);
      },
    };
    const limiter = new RateLimiter({ clock });
    await Promise.all(Array.from({ length: 4 }, () => limiter.acquire("DeleteAlarms")));
    expect(wakeups.map((wait) => Math.round(wait))).toEqual([333, 667, 1000]);
    now = 10_000;
    await limiter.acquire("DeleteAlarms");
    expect(wakeups).toHaveLength(3);
  });

  it("can be switched off", async () => {
    const clock = virtualClock();
    const limiter = new RateLimiter({ clock, enabled: false });
    for (let call = 0; call < 100; call += 1) await limiter.acquire("PutMetricAlarm");
    expect(clock.elapsed()).toBe(0);
  });
});
