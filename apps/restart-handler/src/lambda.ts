import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { PowertoolsRestartMetrics } from "./adapters/powertools-metrics.ts";
import { configFromEnvironment } from "./config.ts";
import { createRestartHandler, type HandlerSummary, type InvocationContext } from "./shell/handler.ts";
import { portsFromClients, publishingMetricsAfterEachInvocation } from "./shell/wiring.ts";

const SERVICE_NAME = "procwatch-restart-handler";
/** The dashboard's namespace; the stack sets POWERTOOLS_METRICS_NAMESPACE to the same value. */
const DEFAULT_METRIC_NAMESPACE = "procwatch";

// Built once per execution environment: clients keep their connections warm across invocations.
const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = new PowertoolsRestartMetrics(
  new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRIC_NAMESPACE, serviceName: SERVICE_NAME }),
);
const config = configFromEnvironment(process.env);
const clientOptions = { region: config.region, maxAttempts: 4 };
const restart = publishingMetricsAfterEachInvocation(
  createRestartHandler(
    portsFromClients(
      {
        ssm: new SSMClient(clientOptions),
        // One attempt: a retried SendCommand after a timeout could start a second restart.
        ssmSendCommand: new SSMClient({ ...clientOptions, maxAttempts: 1 }),
        sns: new SNSClient(clientOptions),
        dynamodb: new DynamoDBClient(clientOptions),
        ec2: new EC2Client(clientOptions),
      },
      config,
      { log: logger, metrics },
    ),
    config,
  ),
  metrics,
);

export async function handler(event: unknown, context: InvocationContext): Promise<HandlerSummary> {
  logger.addContext(context as Parameters<Logger["addContext"]>[0]);
  return restart(event, context);
}
