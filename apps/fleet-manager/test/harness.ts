import { AlarmStore, InstanceInventory, MetricCatalog, MetricDatapointReader, ProfileStore, RateLimiter } from "@procwatch/aws-adapters";
import { FakeAws, type FakeAwsOptions, fakeClients, instantRetryStrategy, VirtualClock } from "@procwatch/testkit";
import type { FleetConfig } from "../src/config.ts";

export const RESTART_TOPIC = "arn:aws:sns:eu-west-1:123456789012:procwatch-restart";

export const fleetConfig: FleetConfig = {
  alarmPrefix: "procwatch",
  tagPrefix: "procwatch",
  namespace: "CWAgent",
  restartActionArns: [RESTART_TOPIC],
  defaultDetection: "standard",
  // Arming is off for the tests about other rules; the arming tests (against the CloudWatch model) turn it on.
  armingGraceMinutes: 0,
  realarmAfterMinutes: 0,
};

/** The production defaults for the behaviours tested against the CloudWatch model. */
export const armingFleetConfig: FleetConfig = { ...fleetConfig, armingGraceMinutes: 45, realarmAfterMinutes: 30 };

/**
 * The real adapters over real SDK clients over the fake, paced by the real rate limiter on a
 * virtual clock shared with the fake's quotas: hours of 3-TPS pacing finish in seconds.
 */
export function fakeWorld(options: Omit<FakeAwsOptions, "clock"> & { maxAttempts?: number } = {}) {
  const clock = new VirtualClock();
  const fake = new FakeAws({ ...options, clock });
  const clients = fakeClients(fake, { retryStrategy: instantRetryStrategy(options.maxAttempts ?? 5) });
  const limiter = new RateLimiter({ clock });
  return {
    fake,
    clock,
    clients,
    limiter,
    adapters: {
      inventory: new InstanceInventory(clients.ec2, { rateLimiter: limiter }),
      alarms: new AlarmStore(clients.cloudwatch, { rateLimiter: limiter }),
      profiles: new ProfileStore(clients.ssm, { rateLimiter: limiter }),
      metrics: new MetricCatalog(clients.cloudwatch, { rateLimiter: limiter }),
      datapoints: new MetricDatapointReader(clients.cloudwatch, { rateLimiter: limiter }),
    },
  };
}
