import { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { configFromEnvironment } from "./config.ts";
import { createRestartHandler, type HandlerSummary, type InvocationContext } from "./shell/handler.ts";
import { portsFromClients } from "./shell/wiring.ts";

// Built once per execution environment: clients keep their connections warm across invocations.
const logger = new Logger({ serviceName: "procwatch-restart-handler" });
const config = configFromEnvironment(process.env);
const clientOptions = { region: config.region, maxAttempts: 4 };
const restart = createRestartHandler(
  portsFromClients(
    { ssm: new SSMClient(clientOptions), sns: new SNSClient(clientOptions), dynamodb: new DynamoDBClient(clientOptions), ec2: new EC2Client(clientOptions) },
    config,
    logger,
  ),
  config,
);

export async function handler(event: unknown, context: InvocationContext): Promise<HandlerSummary> {
  logger.addContext(context as Parameters<Logger["addContext"]>[0]);
  return restart(event, context);
}
