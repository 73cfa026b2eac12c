import { InstanceInventory, ProfileStore } from "@procwatch/aws-adapters";
import {
  alarmDefinitionFor,
  DEFAULT_METRIC_NAMESPACE,
  type MetricHost,
  metricHostOf,
  type ProcessSpec,
  parseInstanceTags,
  resolveHostSpec,
} from "@procwatch/contract";
import {
  agentSeriesFor,
  CloudWatchAgentPublisher,
  type DeliveredNotification,
  FakeAws,
  fakeClients,
  type PidCountSample,
  type PublisherFaults,
  publisherOptionsFor,
  TelemetryPipeline,
  VirtualClock,
} from "@procwatch/testkit";
import { DynamoDbRestartLedger } from "../../src/adapters/dynamodb-ledger.ts";
import { FleetInstanceFacts } from "../../src/adapters/instance-facts.ts";
import { StoreProfileSource } from "../../src/adapters/profile-source.ts";
import type { HandlerConfig } from "../../src/config.ts";
import type { DecisionLog } from "../../src/ports.ts";
import { createRestartHandler, type HandlerSummary } from "../../src/shell/handler.ts";
import { FakeDynamoTable } from "./fake-dynamodb.ts";
import type { LogLine } from "./harness.ts";
import { testConfig } from "./harness.ts";
import { RecordingCommandSender, RecordingNotifier, RecordingRestartMetrics } from "./in-memory-ports.ts";

export const STORM_REGION = "eu-west-1";
export const STORM_ACCOUNT = "111122223333";
const RESTART_TOPIC = `arn:aws:sns:${STORM_REGION}:${STORM_ACCOUNT}:procwatch-restart`;
const FUNCTION_ARN = `arn:aws:lambda:${STORM_REGION}:${STORM_ACCOUNT}:function:procwatch-restart-handler`;
export const MINUTE = 60_000;
const NGINX_TAGS = { "procwatch:enabled": "true", "procwatch:processes": "nginx" };

export function hostId(index: number): string {
  return `i-0${index.toString(16).padStart(16, "0")}`;
}

/**
 * A fleet of hosts whose procwatch alarms live in testkit's CloudWatch model, fed by its CloudWatch
 * agent publisher model, with the real restart handler behind the restart topic: the real
 * EC2 inventory adapter over the fake, the DynamoDB ledger over a stateful fake table, SSM and SNS
 * recorded. Only the model decides alarm states; every ALARM the handler sees is one the model sent.
 */
export class StormWorld {
  readonly clock: VirtualClock;
  readonly fake: FakeAws;
  readonly table = new FakeDynamoTable();
  readonly commands = new RecordingCommandSender();
  readonly notifier = new RecordingNotifier();
  readonly metrics = new RecordingRestartMetrics();
  readonly logs: LogLine[] = [];
  readonly config: HandlerConfig;
  readonly ledger: DynamoDbRestartLedger;
  readonly handled: HandlerSummary[] = [];
  private readonly pipeline: TelemetryPipeline;
  readonly hosts: string[] = [];
  private readonly publishers = new Map<string, CloudWatchAgentPublisher>();
  private readonly handler: ReturnType<typeof createRestartHandler>;

  constructor(options: { hosts: number; start?: number; config?: Partial<HandlerConfig> }) {
    this.clock = new VirtualClock(options.start ?? Date.UTC(2026, 6, 12, 3, 0, 0));
    this.fake = new FakeAws({ clock: this.clock, quotas: false, region: STORM_REGION, accountId: STORM_ACCOUNT });
    this.pipeline = new TelemetryPipeline(this.fake, this.clock);
    this.commands.now = () => this.clock.now();
    this.config = testConfig({
      region: STORM_REGION,
      expectedAccountId: STORM_ACCOUNT,
      notificationTopicArn: `arn:aws:sns:${STORM_REGION}:${STORM_ACCOUNT}:procwatch-notifications`,
      ...options.config,
    });
    const clock = { now: () => this.clock.now() };
    this.ledger = new DynamoDbRestartLedger(this.table.client, { tableName: "procwatch-state", retentionDays: 14, clock });
    const clients = fakeClients(this.fake, { maxAttempts: 1 });
    const log: DecisionLog = {
      info: (message, attributes) => this.logs.push({ level: "info", message, attributes }),
      warn: (message, attributes) => this.logs.push({ level: "warn", message, attributes }),
      error: (message, attributes) => this.logs.push({ level: "error", message, attributes }),
    };
    this.handler = createRestartHandler(
      {
        instances: new FleetInstanceFacts(new InstanceInventory(clients.ec2), clients.ssm),
        profiles: new StoreProfileSource(new ProfileStore(clients.ssm)),
        ledger: this.ledger,
        commands: this.commands,
        commandHistory: this.commands,
        notifier: this.notifier,
        log,
        metrics: this.metrics,
        clock,
      },
      this.config,
    );
    for (let index = 0; index < options.hosts; index += 1) this.addHost(hostId(index));
  }

  /**
   * The fleet manager's alarms for every host, actions on (the restart topic). Created once the
   * agents report, as the fleet manager arms them: a new alarm is evaluated at once, on real data.
   */
  createAlarms(): void {
    for (const instanceId of this.hosts) {
      const definition = alarmDefinitionFor(this.metricHost(instanceId), this.processOf(NGINX_TAGS), {
        actions: { alarmActions: [RESTART_TOPIC], okActions: [RESTART_TOPIC] },
      });
      void this.fake.handle("PutMetricAlarm", { ...definition, Dimensions: [...definition.Dimensions] } as unknown as Record<string, unknown>);
    }
  }

  private metricHost(instanceId: string): MetricHost {
    const instance = this.fake.instances.get(instanceId);
    if (instance === undefined) throw new Error(`no host ${instanceId}`);
    return metricHostOf(instance);
  }

  private processOf(tags: Record<string, string>): ProcessSpec {
    const spec = resolveHostSpec({ tags: parseInstanceTags(tags, "procwatch").spec!, prefix: "procwatch" }).spec!;
    return spec.processes[0]!;
  }

  /** An opted-in host running nginx. */
  addHost(instanceId: string): void {
    this.fake.addInstance({ instanceId, tags: { Name: `web-${instanceId.slice(-4)}`, ...NGINX_TAGS } });
    this.hosts.push(instanceId);
  }

  /** The host's CloudWatch agent publishes `pidCountAt` from now on (standard profile, a per-host phase). */
  startAgent(instanceId: string, pidCountAt: (t: number) => PidCountSample, faults: PublisherFaults = {}): void {
    // What the host's agent publishes comes from testkit's model of the agent's config translation.
    const [nginx] = agentSeriesFor(this.fake, instanceId);
    if (nginx === undefined) throw new Error(`${instanceId} watches nothing`);
    const dimensions = [...nginx.series.dimensions];
    const phase = (Number.parseInt(instanceId.slice(-4), 16) * 7_919) % MINUTE;
    const publisher = new CloudWatchAgentPublisher(
      { namespace: DEFAULT_METRIC_NAMESPACE, dimensions },
      { ...publisherOptionsFor("standard", phase), startedAtMs: this.clock.now() },
      pidCountAt,
    );
    this.publishers.set(instanceId, publisher);
    this.pipeline.watch({ publisher, faults });
  }

  stopAgent(instanceId: string): void {
    const publisher = this.publishers.get(instanceId);
    if (publisher !== undefined) this.pipeline.unwatch(publisher);
    this.publishers.delete(instanceId);
  }

  /**
   * Model time passes in `stepMs` steps; every alarm action of a step is delivered to the handler
   * with up to `concurrency` invocations in flight (the function's reserved concurrency).
   */
  async run(milliseconds: number, options: { stepMs?: number; concurrency?: number; deliveries?: number } = {}): Promise<DeliveredNotification[]> {
    const until = this.clock.now() + milliseconds;
    const seen: DeliveredNotification[] = [];
    while (this.clock.now() < until) {
      const fresh = this.pipeline.runUntil(Math.min(until, this.clock.now() + (options.stepMs ?? 10_000)));
      seen.push(...fresh);
      const queue = fresh.flatMap((notification) => Array.from({ length: options.deliveries ?? 1 }, () => notification.event));
      const workers = Array.from({ length: options.concurrency ?? 1 }, async () => {
        for (let event = queue.shift(); event !== undefined; event = queue.shift()) this.handled.push(await this.invoke(event));
      });
      await Promise.all(workers);
    }
    return seen;
  }

  invoke(event: unknown): Promise<HandlerSummary> {
    return this.handler(JSON.parse(JSON.stringify(event)), { invokedFunctionArn: FUNCTION_ARN, awsRequestId: "req" });
  }

  /** SSM → EventBridge: the final status of a restart command. */
  commandStatus(commandId: string, instanceId: string, status: string): Record<string, unknown> {
    return {
      version: "0",
      id: `evt-${commandId}`,
      "detail-type": "EC2 Command Invocation Status-change Notification",
      source: "aws.ssm",
      account: STORM_ACCOUNT,
      time: new Date(this.clock.now()).toISOString(),
      region: STORM_REGION,
      resources: [`arn:aws:ec2:${STORM_REGION}:${STORM_ACCOUNT}:instance/${instanceId}`],
      detail: {
        "command-id": commandId,
        "document-name": this.config.restartDocumentName,
        "instance-id": instanceId,
        "requested-date-time": new Date(this.clock.now()).toISOString(),
        status,
      },
    };
  }

  eventTypes(): string[] {
    return this.notifier.published.map((message) => message.metadata.eventType);
  }
}
