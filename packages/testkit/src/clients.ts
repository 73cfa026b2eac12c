import { CloudWatchClient, type CloudWatchClientConfig } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import type { FakeAws } from "./fake-aws.ts";

export interface FakeClients {
  readonly ec2: EC2Client;
  readonly cloudwatch: CloudWatchClient;
  readonly ssm: SSMClient;
}

/** Extra client settings, typically the retry strategy the code under test uses in production. */
export type FakeClientConfig = Pick<CloudWatchClientConfig, "retryStrategy" | "maxAttempts" | "retryMode">;

/**
 * Real SDK clients wired to the fake: static test credentials (signing still runs), the fake's
 * region, and an endpoint that could never resolve, in case anything slipped past the fake.
 */
export function fakeClients(fake: FakeAws, config: FakeClientConfig = {}): FakeClients {
  const common = {
    region: fake.region,
    credentials: { accessKeyId: "AKIDFAKEAWS", secretAccessKey: "fake-aws-secret" },
    endpoint: "https://fake-aws.invalid",
    ...config,
  };
  return {
    ec2: fake.attach(new EC2Client(common)),
    cloudwatch: fake.attach(new CloudWatchClient(common)),
    ssm: fake.attach(new SSMClient(common)),
  };
}

/** The SDK's standard retry strategy with no backoff delay: retries behave as in production, without waiting in real time. */
export function instantRetryStrategy(maxAttempts: number): ConfiguredRetryStrategy {
  return new ConfiguredRetryStrategy(maxAttempts, 0);
}
