import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { fromIni } from "@aws-sdk/credential-providers";
import {
  AlarmStore,
  type Clock,
  InstanceInventory,
  MetricCatalog,
  ProfileStore,
  RateLimiter,
  type RetryOptions,
  sdkRetryOptions,
} from "@procwatch/aws-adapters";

export interface AwsClients {
  readonly ec2: EC2Client;
  readonly cloudwatch: CloudWatchClient;
  readonly ssm: SSMClient;
}

export interface AwsSettings {
  /** Undefined = the SDK's chain (AWS_REGION, profile config). */
  readonly region?: string;
  /** Named profile from ~/.aws/config; undefined = the standard credential chain. */
  readonly profile?: string;
  readonly retry?: RetryOptions;
}

/**
 * Builds the three SDK clients. Endpoints are left to the SDK so AWS_ENDPOINT_URL (and
 * per-service AWS_ENDPOINT_URL_<SERVICE>) work for LocalStack-style setups.
 */
export function createAwsClients(settings: AwsSettings): AwsClients {
  const common = {
    ...(settings.region !== undefined ? { region: settings.region } : {}),
    ...(settings.profile !== undefined ? { credentials: fromIni({ profile: settings.profile }), profile: settings.profile } : {}),
    ...sdkRetryOptions(settings.retry),
  };
  return { ec2: new EC2Client(common), cloudwatch: new CloudWatchClient(common), ssm: new SSMClient(common) };
}

export interface FleetAdapters {
  readonly inventory: InstanceInventory;
  readonly alarms: AlarmStore;
  readonly profiles: ProfileStore;
  readonly metrics: MetricCatalog;
  readonly limiter: RateLimiter;
}

export function createAdapters(clients: AwsClients, options: { tagPrefix: string; tps?: Record<string, number>; clock?: Clock }): FleetAdapters {
  const limiter = new RateLimiter({
    ...(options.tps !== undefined ? { tps: options.tps } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
  });
  return {
    inventory: new InstanceInventory(clients.ec2, { tagPrefix: options.tagPrefix, rateLimiter: limiter }),
    alarms: new AlarmStore(clients.cloudwatch, { rateLimiter: limiter }),
    profiles: new ProfileStore(clients.ssm, { rateLimiter: limiter }),
    metrics: new MetricCatalog(clients.cloudwatch, { rateLimiter: limiter }),
    limiter,
  };
}
