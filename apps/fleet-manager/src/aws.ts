import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { fromIni } from "@aws-sdk/credential-providers";
import {
  AlarmStore,
  type Clock,
  InstanceInventory,
  MetricCatalog,
  MetricDatapointReader,
  ProfileStore,
  RateLimiter,
  type RetryOptions,
  sdkRetryOptions,
} from "@procwatch/aws-adapters";
import { UsageError } from "./errors.ts";

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

export const REGION_HINT = "set --region or AWS_REGION (or a region in the AWS profile)";
export const CREDENTIALS_HINT = "configure credentials: AWS_PROFILE / --profile / instance role / SSO login (aws sso login --profile <name>)";

/** The part of a built SDK client's config that says where and as whom it would call. */
export interface ResolvableClientConfig {
  readonly config: { region: () => Promise<string>; credentials: () => Promise<unknown> };
}

/**
 * Resolves the region and the credentials before the first call, so a missing one is a usage
 * error with a hint that says what to set, instead of `DescribeInstances failed: Region is
 * missing`. Makes no AWS call (IMDS only if the chain reaches it, as the SDK would anyway).
 */
export async function verifyAwsAccess(client: ResolvableClientConfig): Promise<void> {
  let region: string | undefined;
  try {
    region = await client.config.region();
  } catch (error) {
    throw new UsageError("no AWS region configured", { hint: REGION_HINT, cause: error });
  }
  if (region === undefined || region === "") throw new UsageError("no AWS region configured", { hint: REGION_HINT });
  try {
    await client.config.credentials();
  } catch (error) {
    const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UsageError(`no usable AWS credentials: ${detail}`, { hint: CREDENTIALS_HINT, cause: error });
  }
}

export interface FleetAdapters {
  readonly inventory: InstanceInventory;
  readonly alarms: AlarmStore;
  readonly profiles: ProfileStore;
  readonly metrics: MetricCatalog;
  readonly datapoints: MetricDatapointReader;
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
    datapoints: new MetricDatapointReader(clients.cloudwatch, { rateLimiter: limiter }),
    limiter,
  };
}
