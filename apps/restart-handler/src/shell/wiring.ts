import { Logger } from "@aws-lambda-powertools/logger";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { SNSClient } from "@aws-sdk/client-sns";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { InstanceInventory, ProfileStore } from "@procwatch/aws-adapters";
import { DynamoDbRestartLedger } from "../adapters/dynamodb-ledger.ts";
import { FleetInstanceFacts } from "../adapters/instance-facts.ts";
import { StoreProfileSource } from "../adapters/profile-source.ts";
import { SnsNotifier } from "../adapters/sns-notifier.ts";
import { SsmCommandSender } from "../adapters/ssm-command-sender.ts";
import type { HandlerConfig } from "../config.ts";
import type { Clock, DecisionLog, RestartHandlerPorts, RestartMetrics } from "../ports.ts";
import { createRestartHandler, type RestartHandler } from "./handler.ts";

export interface RestartHandlerClients {
  readonly ssm: SSMClient;
  /** SendCommand only, with `maxAttempts: 1` (see SsmCommandSenderOptions.sendClient); defaults to `ssm`. */
  readonly ssmSendCommand?: SSMClient;
  readonly sns: SNSClient;
  readonly dynamodb: DynamoDBClient;
  readonly ec2: EC2Client;
}

/** What the handler reports to, besides AWS. */
export interface RestartHandlerObservers {
  readonly log: DecisionLog;
  readonly metrics?: RestartMetrics;
  readonly clock?: Clock;
}

/** The one place SDK clients become ports. The Lambda entry, the demo and the tests all use it. */
export function portsFromClients(clients: RestartHandlerClients, config: HandlerConfig, observers: RestartHandlerObservers): RestartHandlerPorts {
  const { log, metrics, clock } = observers;
  const commands = new SsmCommandSender(clients.ssm, clients.ssmSendCommand !== undefined ? { sendClient: clients.ssmSendCommand } : {});
  return {
    instances: new FleetInstanceFacts(new InstanceInventory(clients.ec2, { tagPrefix: config.tagPrefix }), clients.ssm),
    profiles: new StoreProfileSource(new ProfileStore(clients.ssm)),
    ledger: new DynamoDbRestartLedger(clients.dynamodb, {
      tableName: config.stateTableName,
      retentionDays: config.ledgerRetentionDays,
      ...(clock !== undefined ? { clock } : {}),
    }),
    commands,
    commandHistory: commands,
    notifier: new SnsNotifier(clients.sns, config.notificationTopicArn),
    log,
    ...(metrics !== undefined ? { metrics } : {}),
    ...(clock !== undefined ? { clock } : {}),
  };
}

export interface RestartHandlerFromClientsOptions extends RestartHandlerClients {
  readonly config: HandlerConfig;
  /** Defaults to a Powertools Logger (structured JSON on stdout). */
  readonly log?: DecisionLog;
  readonly metrics?: RestartMetrics;
  readonly clock?: Clock;
}

/** The real handler over injected SDK clients (real, mocked, or pointed at a local stand-in). */
export function createRestartHandlerFromClients(options: RestartHandlerFromClientsOptions): RestartHandler {
  const log = options.log ?? new Logger({ serviceName: "procwatch-restart-handler" });
  const observers = {
    log,
    ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
  };
  return createRestartHandler(portsFromClients(options, options.config, observers), options.config);
}

/**
 * Publishes the invocation's metrics when it ends, also when it throws: a command SSM accepted
 * before a later step failed still counts.
 */
export function publishingMetricsAfterEachInvocation(restart: RestartHandler, metrics: { flush(): void }): RestartHandler {
  return async (event, context) => {
    try {
      return await restart(event, context);
    } finally {
      metrics.flush();
    }
  };
}
