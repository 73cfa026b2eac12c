import { readFileSync } from "node:fs";
import { DescribeInstancesCommand, EC2Client, type Instance } from "@aws-sdk/client-ec2";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  GetCommandInvocationCommand,
  GetParametersCommand,
  ListCommandsCommand,
  type ListCommandsCommandInput,
  ListTagsForResourceCommand,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import type { HandlerConfig } from "../../src/config.ts";
import { type ChatbotNotification, chatbotNotificationSchema } from "../../src/core/notifications.ts";
import type { DecisionLog } from "../../src/ports.ts";
import type { InvocationContext } from "../../src/shell/handler.ts";
import { createRestartHandlerFromClients } from "../../src/shell/wiring.ts";
import { FakeDynamoTable } from "./fake-dynamodb.ts";
import { RecordingRestartMetrics } from "./in-memory-ports.ts";

export const INSTANCE_ID = "i-03e6aec1a93443558";
export const PROCESS = "httpd";
export const ALARM_NAME = `procwatch/${INSTANCE_ID}/${PROCESS}`;
export const ACCOUNT = "123456789012";
export const REGION = "ap-northeast-2";
export const CONTEXT: InvocationContext = { invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:procwatch-restart`, awsRequestId: "req-1" };
/** The fixture's StateChangeTime. */
export const FIXTURE_TIME = Date.parse("2022-06-28T01:57:35.603Z");

export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;
}

export function testConfig(overrides: Partial<HandlerConfig> = {}): HandlerConfig {
  return {
    restartDocumentName: "procwatch-restart",
    notificationTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:procwatch-notifications`,
    stateTableName: "procwatch-state",
    restartBudget: 3,
    restartWindowMinutes: 30,
    alarmPrefix: "procwatch",
    tagPrefix: "procwatch",
    commandTimeoutSeconds: 120,
    commandLogGroup: "/aws/ssm/procwatch-restart",
    region: REGION,
    ledgerRetentionDays: 14,
    claimTakeoverSeconds: 60,
    fleetBreaker: { restartLimit: 20, noDataLimit: 10, windowMinutes: 5, cooldownMinutes: 15, hostRestartLimit: 5, hostWindowMinutes: 30 },
    stuckRestartMinutes: 15,
    recoveryGraceMinutes: 10,
    ...overrides,
  };
}

export const OPTED_IN_TAGS: Record<string, string> = { Name: "web-1", "procwatch:enabled": "true", "procwatch:processes": "httpd" };

export interface ListedCommand {
  readonly CommandId: string;
  readonly Comment: string;
  readonly DocumentName: string;
  readonly InstanceIds: string[];
  readonly RequestedDateTime: Date;
}

export interface LogLine {
  readonly level: "info" | "warn" | "error";
  readonly message: string;
  readonly attributes: Record<string, unknown>;
}

/** SNS-wrapped alarm like the fixture, with the fields a test varies. */
export function snsAlarm(
  options: { state?: string; previous?: string; time?: string; name?: string; description?: string | null } = {},
): Record<string, unknown> {
  const event = fixture("sns-alarm-event.json") as { Records: { Sns: { Message: string } }[] };
  const record = event.Records[0]!;
  const message = JSON.parse(record.Sns.Message) as Record<string, unknown>;
  if (options.state !== undefined) message.NewStateValue = options.state;
  if (options.previous !== undefined) message.OldStateValue = options.previous;
  if (options.time !== undefined) message.StateChangeTime = options.time;
  if (options.name !== undefined) {
    message.AlarmName = options.name;
    message.AlarmArn = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${options.name}`;
  }
  if (options.description !== undefined) message.AlarmDescription = options.description;
  record.Sns.Message = JSON.stringify(message);
  return event as unknown as Record<string, unknown>;
}

/** EventBridge "CloudWatch Alarm State Change" like the fixture, with the fields a test varies (`time` in the alarm's own format). */
export function eventBridgeAlarm(options: { state?: string; previous?: string; time?: string } = {}): Record<string, unknown> {
  const event = fixture("eventbridge-alarm-state-change.json") as { detail: { state: Record<string, string>; previousState: Record<string, string> } };
  if (options.state !== undefined) event.detail.state.value = options.state;
  if (options.previous !== undefined) event.detail.previousState.value = options.previous;
  if (options.time !== undefined) event.detail.state.timestamp = options.time;
  return event as unknown as Record<string, unknown>;
}

export function commandStatus(commandId: string, status: string): Record<string, unknown> {
  const event = fixture("command-invocation-status-change.json") as { detail: Record<string, string> };
  event.detail["command-id"] = commandId;
  event.detail.status = status;
  return event as unknown as Record<string, unknown>;
}

/** Minutes after the fixture's transition, as the alarm's own timestamp format. */
export function alarmTime(minutesAfterFixture: number): string {
  return new Date(FIXTURE_TIME + minutesAfterFixture * 60_000).toISOString().replace("Z", "+0000");
}

/**
 * The real handler over mocked SDK clients: EC2 and SSM answer from in-test state, DynamoDB is
 * a stateful fake table, SNS records what was published.
 */
export class Harness {
  readonly table = new FakeDynamoTable();
  readonly ssm = new SSMClient({ region: REGION });
  readonly sns = new SNSClient({ region: REGION });
  readonly ec2 = new EC2Client({ region: REGION });
  readonly ssmMock = mockClient(this.ssm);
  readonly snsMock = mockClient(this.sns);
  readonly ec2Mock = mockClient(this.ec2);
  readonly logs: LogLine[] = [];
  readonly metrics = new RecordingRestartMetrics();
  readonly instances = new Map<string, { state: string; tags: Record<string, string> }>([[INSTANCE_ID, { state: "running", tags: { ...OPTED_IN_TAGS } }]]);
  readonly profiles = new Map<string, string>();
  /**
   * Errors the next SendCommand calls throw, in order; `accepted`: SSM created the command
   * anyway (a timeout after the request reached it), so ListCommands and later calls see it.
   */
  readonly sendFaults: { error: Error; accepted?: boolean }[] = [];
  /** Errors the next Publish calls throw, in order. */
  readonly publishFaults: Error[] = [];
  /** Commands SSM accepted through this harness; `requestedAt` (epoch ms) defaults to `now` when listed. */
  readonly sentCommands: { commandId: string; input: Record<string, unknown>; requestedAt?: number }[] = [];
  /** Commands SSM also lists that procwatch did not send here: other instances, incidents, documents. */
  readonly otherCommands: ListedCommand[] = [];
  /** stdout the "host" prints for each restart. */
  agentStdout = '{"process":"httpd","ok":true,"outcome":"restarted","before":{"pids":[]},"after":{"pids":[4242]},"timings":{"totalMs":812}}';
  now = FIXTURE_TIME + 2_000;
  readonly config: HandlerConfig;

  constructor(config: HandlerConfig = testConfig()) {
    this.config = config;
    this.ec2Mock.on(DescribeInstancesCommand).callsFake((input: { Filters?: { Name?: string; Values?: string[] }[] }) => {
      const ids = input.Filters?.find((filter) => filter.Name === "instance-id")?.Values ?? [...this.instances.keys()];
      const found: Instance[] = ids
        .filter((id) => this.instances.has(id))
        .map((id) => {
          const instance = this.instances.get(id)!;
          return {
            InstanceId: id,
            State: { Name: instance.state as "running" },
            Tags: Object.entries(instance.tags).map(([Key, Value]) => ({ Key, Value })),
          };
        });
      return { Reservations: found.length > 0 ? [{ Instances: found }] : [] };
    });
    this.ssmMock.on(SendCommandCommand).callsFake((input: Record<string, unknown>) => {
      const fault = this.sendFaults.shift();
      const commandId = `e8d3c0e4-71f7-4491-898f-${(this.sentCommands.length + 1).toString(16).padStart(12, "0")}`;
      if (fault === undefined || fault.accepted === true) this.sentCommands.push({ commandId, input, requestedAt: this.now });
      if (fault !== undefined) throw fault.error;
      return { Command: { CommandId: commandId, Comment: input.Comment as string } };
    });
    // As SSM answers: DocumentName / InvokedAfter filters and InstanceId applied, at most 50 a page, NextToken for the rest.
    this.ssmMock.on(ListCommandsCommand).callsFake((input: ListCommandsCommandInput) => {
      const filter = (key: string) => input.Filters?.find((candidate) => candidate.key === key)?.value;
      const documentName = filter("DocumentName");
      const invokedAfter = filter("InvokedAfter");
      const listed = [...this.otherCommands, ...this.sentCommands.map((command) => this.listedCommand(command))].filter(
        (command) =>
          (documentName === undefined || command.DocumentName === documentName) &&
          (invokedAfter === undefined || command.RequestedDateTime.getTime() >= Date.parse(invokedAfter)) &&
          (input.InstanceId === undefined || command.InstanceIds.includes(input.InstanceId)),
      );
      const start = input.NextToken !== undefined ? Number(input.NextToken.replace("page-", "")) : 0;
      const size = Math.min(input.MaxResults ?? 50, 50);
      return { Commands: listed.slice(start, start + size), ...(start + size < listed.length ? { NextToken: `page-${start + size}` } : {}) };
    });
    this.ssmMock.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string }) => {
      const command = this.sentCommands.find((sent) => sent.commandId === input.CommandId);
      if (command === undefined) throw Object.assign(new Error("no such invocation"), { name: "InvocationDoesNotExist", $metadata: { httpStatusCode: 400 } });
      return {
        Comment: command.input.Comment as string,
        Status: "Success",
        StatusDetails: "Success",
        StandardOutputContent: `restarting httpd\n${this.agentStdout}\n`,
      };
    });
    this.ssmMock.on(GetParametersCommand).callsFake((input: { Names: string[] }) => ({
      Parameters: input.Names.filter((name) => this.profiles.has(name)).map((name) => ({ Name: name, Value: this.profiles.get(name), Version: 1 })),
      InvalidParameters: input.Names.filter((name) => !this.profiles.has(name)),
    }));
    this.ssmMock.on(ListTagsForResourceCommand).callsFake(() => {
      throw Object.assign(new Error("not a managed instance"), { name: "InvalidResourceId", $metadata: { httpStatusCode: 400 } });
    });
    this.snsMock.on(PublishCommand).callsFake(() => {
      const fault = this.publishFaults.shift();
      if (fault !== undefined) throw fault;
      return { MessageId: "m-1" };
    });
  }

  private listedCommand(command: { commandId: string; input: Record<string, unknown>; requestedAt?: number }): ListedCommand {
    return {
      CommandId: command.commandId,
      Comment: command.input.Comment as string,
      DocumentName: command.input.DocumentName as string,
      InstanceIds: command.input.InstanceIds as string[],
      RequestedDateTime: new Date(command.requestedAt ?? this.now),
    };
  }

  /**
   * `count` commands SSM lists besides procwatch's own for this incident, all requested at
   * `at`: the restart document on other instances, other incidents on this instance, and other
   * documents — so a search has to filter and page past them.
   */
  seedOtherCommands(count: number, at: number): void {
    for (let index = 0; index < count; index += 1) {
      const kind = index % 3;
      this.otherCommands.push({
        CommandId: `0ther000-0000-4000-8000-${index.toString(16).padStart(12, "0")}`,
        Comment: `procwatch incident ${index.toString(16).padStart(16, "f")} restart httpd`,
        DocumentName: kind === 2 ? "AWS-RunShellScript" : "procwatch-restart",
        InstanceIds: [kind === 0 ? `i-${index.toString(16).padStart(17, "0")}` : INSTANCE_ID],
        RequestedDateTime: new Date(at),
      });
    }
  }

  readonly log: DecisionLog = {
    info: (message, attributes) => this.logs.push({ level: "info", message, attributes }),
    warn: (message, attributes) => this.logs.push({ level: "warn", message, attributes }),
    error: (message, attributes) => this.logs.push({ level: "error", message, attributes }),
  };

  private handlerInstance: ReturnType<typeof createRestartHandlerFromClients> | undefined;

  get handler() {
    this.handlerInstance ??= createRestartHandlerFromClients({
      ssm: this.ssm,
      sns: this.sns,
      dynamodb: this.table.client,
      ec2: this.ec2,
      config: this.config,
      log: this.log,
      metrics: this.metrics,
      clock: { now: () => this.now },
    });
    return this.handlerInstance;
  }

  invoke(event: unknown) {
    return this.handler(event, CONTEXT);
  }

  /** Chatbot payloads as Chatbot would receive them (the `default` key), validated against the schema. */
  published(): ChatbotNotification[] {
    return this.snsMock.commandCalls(PublishCommand).map((call) => {
      const envelope = JSON.parse(call.args[0].input.Message ?? "{}") as { default: string };
      return chatbotNotificationSchema.parse(JSON.parse(envelope.default)) as ChatbotNotification;
    });
  }

  sendCount(): number {
    return this.ssmMock.commandCalls(SendCommandCommand).length;
  }
}
