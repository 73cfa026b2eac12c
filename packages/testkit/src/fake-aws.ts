import type { MetricAlarm } from "@aws-sdk/client-cloudwatch";
import { type Clock, realClock } from "./clock.ts";
import { type FakeService, internalError, serviceError, throttlingError, validationError } from "./errors.ts";
import {
  type AlarmHistoryItem,
  type AlarmNotification,
  type AlarmStateChangeEvent,
  type CloudWatchModelOptions,
  FakeCloudWatchAlarms,
  seriesKey,
} from "./fake-cloudwatch-alarms.ts";
import { seededRandom } from "./random.ts";

export type FakeInstanceState = "pending" | "running" | "stopping" | "stopped" | "shutting-down" | "terminated";

export interface FakeInstance {
  instanceId: string;
  state: FakeInstanceState;
  tags: Record<string, string>;
  instanceType: string;
  imageId: string;
  /** What DescribeInstances returns as LaunchTime: set on launch and again on every start from stopped, as EC2 does. */
  launchTime: Date;
}

/** How long ago `addInstance` launched an instance by default: long enough that no launch grace applies. */
export const DEFAULT_INSTANCE_UPTIME_MS = 24 * 60 * 60 * 1000;

export interface StoredAlarm extends MetricAlarm {
  AlarmName: string;
  AlarmArn: string;
  /** Not returned by DescribeAlarms, like AWS: read with `fake.tagsOf(name)`. */
  readonly tags: Map<string, string>;
}

export interface FakeMetric {
  readonly Namespace: string;
  readonly MetricName: string;
  readonly Dimensions: readonly { readonly Name: string; readonly Value: string }[];
}

export interface FaultOptions {
  /** Fraction (0..1) of calls refused with the service's throttling error, on top of quota throttling. */
  readonly throttleRate?: number;
  /** Fraction (0..1) of calls failing with a 500. Half of the failing writes fail *after* taking effect, as real 500s can. */
  readonly serverErrorRate?: number;
}

export interface FakeAwsOptions {
  readonly clock?: Clock;
  readonly seed?: number;
  readonly faults?: FaultOptions;
  /** Per-operation TPS quotas; `false` disables quota throttling. Defaults: AWS's default quotas. */
  readonly quotas?: Readonly<Record<string, number>> | false;
  readonly region?: string;
  readonly accountId?: string;
  /** ASSUMPTION: delay before a PutMetricData datapoint is visible to GetMetricData and alarms (default 3 s). */
  readonly metricIngestionDelayMs?: CloudWatchModelOptions["metricIngestionDelayMs"];
  /** Delay before a new series appears in ListMetrics (default 15 min, the documented "up to 15 minutes"). */
  readonly listMetricsDelayMs?: CloudWatchModelOptions["listMetricsDelayMs"];
  /** ASSUMPTION: evaluation range = EvaluationPeriods + this (default 2, the documented 3 → 5 example). */
  readonly evaluationRangeExtraPeriods?: CloudWatchModelOptions["evaluationRangeExtraPeriods"];
  /** ASSUMPTION: alarms are evaluated this long after each cadence tick (default 0). */
  readonly alarmEvaluationOffsetMs?: CloudWatchModelOptions["alarmEvaluationOffsetMs"];
}

/**
 * AWS's default per-account quotas (CloudWatch documents these; EC2 and SSM are token buckets of similar size).
 * CloudWatch: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html
 * (PutMetricData 500 TPS; GetMetricData 50 TPS without Metrics Insights queries; SetAlarmState 3 TPS).
 */
export const FAKE_DEFAULT_QUOTAS: Readonly<Record<string, number>> = {
  DescribeInstances: 20,
  DescribeAlarms: 9,
  PutMetricAlarm: 3,
  DeleteAlarms: 3,
  EnableAlarmActions: 3,
  DisableAlarmActions: 3,
  TagResource: 5,
  ListTagsForResource: 5,
  ListMetrics: 25,
  PutMetricData: 500,
  GetMetricData: 50,
  SetAlarmState: 3,
  GetParameter: 40,
  GetParameters: 40,
};

export interface CallCounter {
  /** Every attempt that reached the fake. */
  total: number;
  ok: number;
  throttled: number;
  serverErrors: number;
  rejected: number;
}

type Handler = (input: Record<string, unknown>) => unknown;

const EC2_PAGE_MAX = 1000;
const ALARM_PAGE_MAX = 100;
const METRIC_PAGE = 500;
const MAX_NAMES = 100;
const MAX_PARAMETER_NAMES = 10;
const STATE_CODES: Record<FakeInstanceState, number> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48, stopping: 64, stopped: 80 };
const WRITES = new Set(["PutMetricAlarm", "DeleteAlarms", "EnableAlarmActions", "DisableAlarmActions", "TagResource", "PutMetricData", "SetAlarmState"]);

/**
 * A stateful in-memory stand-in for the EC2, CloudWatch and SSM calls procwatch makes, with
 * AWS's page sizes, NextToken continuation, per-API quotas and injectable faults. Plug it
 * into real SDK clients with `attach(client)`: the fake answers inside the SDK's middleware
 * stack, after serialization and *inside* the retry loop, so the real paginators, retry
 * strategy and error classification all run against it.
 */
export class FakeAws {
  readonly instances = new Map<string, FakeInstance>();
  readonly alarms = new Map<string, StoredAlarm>();
  readonly metrics: FakeMetric[] = [];
  readonly parameters = new Map<string, { Value: string; Version: number; Type: string }>();
  readonly calls: Record<string, CallCounter> = {};
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
  faults: FaultOptions;
  private readonly random: () => number;
  private readonly quotas: Readonly<Record<string, number>> | false;
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  private sortedAlarmNames: string[] | null = null;
  private readonly handlers: Record<string, { service: FakeService; handle: Handler }>;
  /** Metric store and alarm engine (see fake-cloudwatch-alarms.ts). */
  readonly cloudwatchModel: FakeCloudWatchAlarms;

  constructor(options: FakeAwsOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.random = seededRandom(options.seed ?? 1);
    this.faults = options.faults ?? {};
    this.quotas = options.quotas === false ? false : { ...FAKE_DEFAULT_QUOTAS, ...(options.quotas ?? {}) };
    this.region = options.region ?? "eu-west-1";
    this.accountId = options.accountId ?? "123456789012";
    this.cloudwatchModel = new FakeCloudWatchAlarms(this, {
      ...(options.metricIngestionDelayMs !== undefined ? { metricIngestionDelayMs: options.metricIngestionDelayMs } : {}),
      ...(options.listMetricsDelayMs !== undefined ? { listMetricsDelayMs: options.listMetricsDelayMs } : {}),
      ...(options.evaluationRangeExtraPeriods !== undefined ? { evaluationRangeExtraPeriods: options.evaluationRangeExtraPeriods } : {}),
      ...(options.alarmEvaluationOffsetMs !== undefined ? { alarmEvaluationOffsetMs: options.alarmEvaluationOffsetMs } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    });
    this.handlers = {
      DescribeInstances: { service: "ec2", handle: (input) => this.describeInstances(input) },
      DescribeAlarms: { service: "cloudwatch", handle: (input) => this.describeAlarms(input) },
      PutMetricAlarm: { service: "cloudwatch", handle: (input) => this.putMetricAlarm(input) },
      TagResource: { service: "cloudwatch", handle: (input) => this.tagResource(input) },
      ListTagsForResource: { service: "cloudwatch", handle: (input) => this.listTagsForResource(input) },
      DeleteAlarms: { service: "cloudwatch", handle: (input) => this.deleteAlarms(input) },
      EnableAlarmActions: { service: "cloudwatch", handle: (input) => this.setActions(input, true) },
      DisableAlarmActions: { service: "cloudwatch", handle: (input) => this.setActions(input, false) },
      ListMetrics: { service: "cloudwatch", handle: (input) => this.listMetrics(input) },
      PutMetricData: { service: "cloudwatch", handle: (input) => this.cloudwatchModel.putMetricData(input) },
      GetMetricData: { service: "cloudwatch", handle: (input) => this.cloudwatchModel.getMetricData(input) },
      SetAlarmState: { service: "cloudwatch", handle: (input) => this.cloudwatchModel.setAlarmState(input) },
      GetParameter: { service: "ssm", handle: (input) => this.getParameter(input) },
      GetParameters: { service: "ssm", handle: (input) => this.getParameters(input) },
    };
  }

  /**
   * Answers one API call: quota, then injected faults, then the operation. Inputs are the SDK
   * command inputs; outputs are what the SDK would have deserialized.
   */
  async handle(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const entry = this.handlers[operation];
    if (entry === undefined) throw serviceError("cloudwatch", "UnknownOperationException", `the fake does not implement ${operation}`);
    const counter = this.counter(operation);
    counter.total += 1;
    if (!this.takeQuota(operation) || this.random() < (this.faults.throttleRate ?? 0)) {
      counter.throttled += 1;
      throw throttlingError(entry.service);
    }
    const serverError = this.random() < (this.faults.serverErrorRate ?? 0);
    const afterEffect = serverError && WRITES.has(operation) && this.random() < 0.5;
    if (serverError && !afterEffect) {
      counter.serverErrors += 1;
      throw internalError(entry.service);
    }
    let output: unknown;
    try {
      output = entry.handle(input);
    } catch (error) {
      counter.rejected += 1;
      throw error;
    }
    if (afterEffect) {
      counter.serverErrors += 1;
      throw internalError(entry.service);
    }
    counter.ok += 1;
    return {
      ...(output as Record<string, unknown>),
      $metadata: { httpStatusCode: 200, requestId: `fake-ok-${counter.total}`, attempts: 1, totalRetryDelay: 0 },
    };
  }

  /**
   * Installs the fake in a real SDK client. It sits in the deserialize step ahead of the
   * deserializer: signing, endpoint resolution and the retry middleware (finalizeRequest) all
   * run as against AWS, and no request leaves the process.
   */
  attach<T extends { middlewareStack: { add: (...args: never[]) => void } }>(client: T): T {
    const middleware = (_next: unknown, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
      const operation = (context.commandName ?? "").replace(/Command$/, "");
      const output = await this.handle(operation, args.input);
      return { response: { statusCode: 200, headers: {}, body: undefined }, output };
    };
    (client.middlewareStack.add as (middleware: unknown, options: unknown) => void)(middleware, {
      step: "deserialize",
      priority: "high",
      name: "procwatchFakeAws",
      override: true,
    });
    return client;
  }

  /** Counts per operation, including throttled and failed attempts. */
  callCounts(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.calls).map(([operation, counter]) => [operation, counter.total]));
  }

  successfulCalls(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.calls).map(([operation, counter]) => [operation, counter.ok]));
  }

  resetCounters(): void {
    for (const key of Object.keys(this.calls)) delete this.calls[key];
  }

  // ---- seeding and mutation helpers (what EC2 users, agents and other teams do) ----

  addInstance(instance: {
    instanceId: string;
    state?: FakeInstanceState;
    tags?: Record<string, string>;
    instanceType?: string;
    imageId?: string;
    /** Default: a day before the fake's clock says now (a host that has long been running). */
    launchTime?: Date;
  }): FakeInstance {
    const record: FakeInstance = {
      instanceId: instance.instanceId,
      state: instance.state ?? "running",
      tags: { ...(instance.tags ?? {}) },
      instanceType: instance.instanceType ?? "t3.micro",
      imageId: instance.imageId ?? "ami-0123456789abcdef0",
      launchTime: instance.launchTime ?? new Date(this.clock.now() - DEFAULT_INSTANCE_UPTIME_MS),
    };
    this.instances.set(record.instanceId, record);
    return record;
  }

  /** Like EC2, starting a stopped instance (→ pending/running) resets its LaunchTime to now. */
  setInstanceState(instanceId: string, state: FakeInstanceState): void {
    const instance = this.instances.get(instanceId);
    if (instance === undefined) throw new Error(`no fake instance ${instanceId}`);
    const starting = (instance.state === "stopped" || instance.state === "stopping") && (state === "pending" || state === "running");
    if (starting) instance.launchTime = new Date(this.clock.now());
    instance.state = state;
  }

  setTags(instanceId: string, tags: Record<string, string | null>): void {
    const instance = this.instances.get(instanceId);
    if (instance === undefined) throw new Error(`no fake instance ${instanceId}`);
    for (const [key, value] of Object.entries(tags)) {
      if (value === null) delete instance.tags[key];
      else instance.tags[key] = value;
    }
  }

  /** Puts an alarm as another tool would (no quota, no faults, no counters). */
  seedAlarm(alarm: Omit<MetricAlarm, "AlarmName"> & { AlarmName: string }, tags: Record<string, string> = {}): void {
    const existed = this.alarms.has(alarm.AlarmName);
    this.storeAlarm(
      { ...alarm } as Record<string, unknown>,
      Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    );
    // A seeded new alarm may start in a given state (e.g. one already in ALARM).
    const stored = this.alarms.get(alarm.AlarmName);
    if (!existed && stored !== undefined && alarm.StateValue !== undefined) {
      stored.StateValue = alarm.StateValue;
      if (alarm.StateReason !== undefined) stored.StateReason = alarm.StateReason;
      if (alarm.StateReasonData !== undefined) stored.StateReasonData = alarm.StateReasonData;
    }
  }

  /** PutMetricData as an agent would (no quota, no faults, no counters). */
  ingestMetricData(input: { Namespace: string; MetricData: Record<string, unknown>[] }): void {
    this.cloudwatchModel.putMetricData(input as unknown as Record<string, unknown>);
  }

  /**
   * Evaluates every alarm at each of its evaluation instants in (its last evaluation, now], in
   * time order, with the datapoints visible at each instant. New alarms get their creation-time
   * evaluation first. State changes run actions and emit events (see fake-cloudwatch-alarms.ts).
   */
  evaluateAlarms(now: number = this.clock.now()): void {
    this.cloudwatchModel.evaluateAlarms(now);
  }

  /** Every alarm action that ran: SNS → Lambda events for topics, alarm-action payloads for Lambda functions. */
  get alarmNotifications(): readonly AlarmNotification[] {
    return this.cloudwatchModel.notifications;
  }

  /** Every EventBridge "CloudWatch Alarm State Change" event, actions enabled or not. */
  get alarmStateChangeEvents(): readonly AlarmStateChangeEvent[] {
    return this.cloudwatchModel.stateChangeEvents;
  }

  /** Subscribes to alarm actions; returns the unsubscribe function. Listeners run synchronously. */
  onAlarmNotification(listener: (notification: AlarmNotification) => void): () => void {
    return this.cloudwatchModel.onNotification(listener);
  }

  onAlarmStateChange(listener: (event: AlarmStateChangeEvent) => void): () => void {
    return this.cloudwatchModel.onStateChange(listener);
  }

  /** State transitions of one alarm, oldest first, shaped like DescribeAlarmHistory StateUpdate items. */
  alarmHistory(alarmName: string): AlarmHistoryItem[] {
    return this.cloudwatchModel.alarmHistory(alarmName);
  }

  publishMetric(metric: FakeMetric): void {
    this.metrics.push({ ...metric, Dimensions: metric.Dimensions.map((dimension) => ({ ...dimension })) });
  }

  putParameter(name: string, value: string): void {
    const existing = this.parameters.get(name);
    this.parameters.set(name, { Value: value, Version: (existing?.Version ?? 0) + 1, Type: "String" });
  }

  tagsOf(alarmName: string): Record<string, string> {
    return Object.fromEntries(this.alarms.get(alarmName)?.tags ?? []);
  }

  // ---- quota and bookkeeping ----

  private counter(operation: string): CallCounter {
    let counter = this.calls[operation];
    if (counter === undefined) {
      counter = { total: 0, ok: 0, throttled: 0, serverErrors: 0, rejected: 0 };
      this.calls[operation] = counter;
    }
    return counter;
  }

  /** A token bucket per operation holding up to one second of quota, refilled continuously, as AWS meters. */
  private takeQuota(operation: string): boolean {
    if (this.quotas === false) return true;
    const tps = this.quotas[operation];
    if (tps === undefined || tps <= 0) return true;
    const now = this.clock.now();
    const bucket = this.buckets.get(operation) ?? { tokens: tps, updatedAt: now };
    bucket.tokens = Math.min(tps, bucket.tokens + ((now - bucket.updatedAt) / 1000) * tps);
    bucket.updatedAt = now;
    this.buckets.set(operation, bucket);
    // A hair of tolerance so a client pacing at exactly the quota is never refused for float rounding.
    if (bucket.tokens < 1 - 1e-9) return false;
    bucket.tokens -= 1;
    return true;
  }

  // ---- EC2 ----

  private describeInstances(input: Record<string, unknown>): unknown {
    const filters = (input.Filters as { Name?: string; Values?: string[] }[] | undefined) ?? [];
    const ids = input.InstanceIds as string[] | undefined;
    const maxResults = input.MaxResults as number | undefined;
    if (ids !== undefined && ids.length > 0 && maxResults !== undefined) {
      throw validationError("ec2", "The parameter instancesSet cannot be used with the parameter maxResults");
    }
    if (maxResults !== undefined && (maxResults < 5 || maxResults > EC2_PAGE_MAX)) {
      throw validationError("ec2", `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`);
    }
    if (ids !== undefined) {
      const missing = ids.filter((id) => !this.instances.has(id));
      if (missing.length > 0) throw serviceError("ec2", "InvalidInstanceID.NotFound", `The instance IDs '${missing.join(", ")}' do not exist`);
    }
    for (const filter of filters) {
      if ((filter.Values ?? []).length > 200) throw validationError("ec2", "The maximum number of filter values specified on a single call is 200");
    }
    const matches = [...this.instances.values()].filter(
      (instance) => (ids === undefined || ids.length === 0 || ids.includes(instance.instanceId)) && filters.every((filter) => matchesFilter(instance, filter)),
    );
    const start = decodeOffset(input.NextToken, "ec2");
    const pageSize = maxResults ?? EC2_PAGE_MAX;
    const page = matches.slice(start, start + pageSize);
    const next = start + pageSize < matches.length ? encodeOffset(start + pageSize) : undefined;
    return {
      Reservations: page.map((instance) => ({
        ReservationId: `r-${instance.instanceId.slice(2)}`,
        Instances: [
          {
            InstanceId: instance.instanceId,
            InstanceType: instance.instanceType,
            ImageId: instance.imageId,
            State: { Name: instance.state, Code: STATE_CODES[instance.state] },
            LaunchTime: new Date(instance.launchTime.getTime()),
            Tags: Object.entries(instance.tags).map(([Key, Value]) => ({ Key, Value })),
          },
        ],
      })),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  // ---- CloudWatch ----

  private alarmNamesSorted(): string[] {
    if (this.sortedAlarmNames === null) this.sortedAlarmNames = [...this.alarms.keys()].sort();
    return this.sortedAlarmNames;
  }

  private describeAlarms(input: Record<string, unknown>): unknown {
    const names = input.AlarmNames as string[] | undefined;
    const prefix = input.AlarmNamePrefix as string | undefined;
    const maxRecords = (input.MaxRecords as number | undefined) ?? 50;
    if (maxRecords < 1 || maxRecords > ALARM_PAGE_MAX) throw validationError("cloudwatch", "MaxRecords must be between 1 and 100");
    if (names !== undefined && names.length > 0 && prefix !== undefined)
      throw validationError("cloudwatch", "AlarmNames and AlarmNamePrefix are mutually exclusive");
    if (names !== undefined && names.length > MAX_NAMES) throw validationError("cloudwatch", "AlarmNames has more than 100 members");
    const types = input.AlarmTypes as string[] | undefined;
    if (types !== undefined && !types.includes("MetricAlarm")) return { MetricAlarms: [], CompositeAlarms: [] };
    const state = input.StateValue as string | undefined;
    const sorted = this.alarmNamesSorted();
    // Continuation by key (the last name returned), so alarms created or deleted between pages never shift a page.
    const after = typeof input.NextToken === "string" ? decodeKey(input.NextToken) : undefined;
    const byNames = names !== undefined && names.length > 0;
    const candidates = byNames ? [...new Set(names)].filter((name) => this.alarms.has(name)).sort() : sorted;
    const startKey = after !== undefined && after >= (prefix ?? "") ? `${after}\u0000` : (prefix ?? "");
    const page: StoredAlarm[] = [];
    let last: string | undefined;
    let more = false;
    for (let index = byNames ? 0 : lowerBound(sorted, startKey); index < candidates.length; index += 1) {
      const name = candidates[index] ?? "";
      if (after !== undefined && name <= after) continue;
      if (prefix !== undefined && !name.startsWith(prefix)) break;
      const alarm = this.alarms.get(name);
      if (alarm === undefined || (state !== undefined && alarm.StateValue !== state)) continue;
      if (page.length === maxRecords) {
        more = true;
        break;
      }
      page.push(alarm);
      last = name;
    }
    return {
      MetricAlarms: page.map(publicAlarm),
      CompositeAlarms: [],
      ...(more && last !== undefined ? { NextToken: encodeKey(last) } : {}),
    };
  }

  private putMetricAlarm(input: Record<string, unknown>): unknown {
    const name = input.AlarmName;
    if (typeof name !== "string" || name.length === 0 || name.length > 255) throw validationError("cloudwatch", "AlarmName must be 1-255 characters");
    const period = input.Period as number | undefined;
    if (period !== undefined && !(period === 10 || period === 20 || period === 30 || (period >= 60 && period % 60 === 0))) {
      throw validationError("cloudwatch", "Period must be 10, 20, 30 or a multiple of 60");
    }
    if (((input.Dimensions as unknown[] | undefined) ?? []).length > 30) throw validationError("cloudwatch", "at most 30 dimensions");
    for (const key of ["AlarmActions", "OKActions", "InsufficientDataActions"]) {
      if (((input[key] as unknown[] | undefined) ?? []).length > 5) throw validationError("cloudwatch", `${key} has more than 5 members`);
    }
    if (typeof input.EvaluationPeriods !== "number" || typeof input.ComparisonOperator !== "string") {
      throw validationError("cloudwatch", "EvaluationPeriods and ComparisonOperator are required");
    }
    this.storeAlarm(input, input.Tags as { Key?: string; Value?: string }[] | undefined);
    return {};
  }

  private storeAlarm(input: Record<string, unknown>, tags: { Key?: string; Value?: string }[] | undefined): void {
    const name = input.AlarmName as string;
    const existing = this.alarms.get(name);
    const now = new Date(this.clock.now());
    const { Tags: _ignored, ...fields } = input;
    const alarm: StoredAlarm = {
      ...(fields as MetricAlarm),
      AlarmName: name,
      AlarmArn: `arn:aws:cloudwatch:${this.region}:${this.accountId}:alarm:${name}`,
      ActionsEnabled: (input.ActionsEnabled as boolean | undefined) ?? true,
      StateValue: existing?.StateValue ?? "INSUFFICIENT_DATA",
      StateReason: existing?.StateReason ?? "Unchecked: Initial alarm creation",
      AlarmConfigurationUpdatedTimestamp: now,
      StateUpdatedTimestamp: existing?.StateUpdatedTimestamp ?? now,
      StateTransitionedTimestamp: existing?.StateTransitionedTimestamp ?? now,
      ...(existing?.StateReasonData !== undefined ? { StateReasonData: existing.StateReasonData } : {}),
      // PutMetricAlarm on an existing alarm ignores Tags, like AWS.
      tags: existing?.tags ?? new Map((tags ?? []).filter((tag) => tag.Key !== undefined).map((tag) => [tag.Key as string, tag.Value ?? ""])),
    };
    if (existing === undefined) this.sortedAlarmNames = null;
    this.alarms.set(name, alarm);
    this.cloudwatchModel.alarmStored(name, existing === undefined);
  }

  private listTagsForResource(input: Record<string, unknown>): unknown {
    const alarm = this.alarmByArn(input.ResourceARN as string | undefined);
    return { Tags: [...alarm.tags].map(([Key, Value]) => ({ Key, Value })) };
  }

  private alarmByArn(arn: string | undefined): StoredAlarm {
    const prefix = `arn:aws:cloudwatch:${this.region}:${this.accountId}:alarm:`;
    const alarm = arn?.startsWith(prefix) ? this.alarms.get(arn.slice(prefix.length)) : undefined;
    if (alarm === undefined) throw serviceError("cloudwatch", "ResourceNotFoundException", `${arn ?? "resource"} not found`, { status: 404 });
    return alarm;
  }

  private tagResource(input: Record<string, unknown>): unknown {
    const alarm = this.alarmByArn(input.ResourceARN as string | undefined);
    for (const tag of (input.Tags as { Key?: string; Value?: string }[] | undefined) ?? []) {
      if (tag.Key !== undefined) alarm.tags.set(tag.Key, tag.Value ?? "");
    }
    return {};
  }

  private deleteAlarms(input: Record<string, unknown>): unknown {
    const names = (input.AlarmNames as string[] | undefined) ?? [];
    if (names.length > MAX_NAMES) throw validationError("cloudwatch", "AlarmNames has more than 100 members");
    const missing = names.filter((name) => !this.alarms.has(name));
    // All or nothing, like AWS.
    if (missing.length > 0) throw serviceError("cloudwatch", "ResourceNotFound", `alarm ${missing[0]} does not exist`, { status: 404 });
    for (const name of names) {
      this.alarms.delete(name);
      this.cloudwatchModel.alarmDeleted(name);
    }
    if (names.length > 0) this.sortedAlarmNames = null;
    return {};
  }

  private setActions(input: Record<string, unknown>, enabled: boolean): unknown {
    const names = (input.AlarmNames as string[] | undefined) ?? [];
    if (names.length > MAX_NAMES) throw validationError("cloudwatch", "AlarmNames has more than 100 members");
    for (const name of names) {
      const alarm = this.alarms.get(name);
      if (alarm !== undefined) alarm.ActionsEnabled = enabled;
    }
    return {};
  }

  private listMetrics(input: Record<string, unknown>): unknown {
    const namespace = input.Namespace as string | undefined;
    const metricName = input.MetricName as string | undefined;
    const filters = (input.Dimensions as { Name?: string; Value?: string }[] | undefined) ?? [];
    const listed = new Set(this.metrics.map((metric) => seriesKey(metric.Namespace, metric.MetricName, metric.Dimensions)));
    const fromData = this.cloudwatchModel
      .listedSeries(this.clock.now())
      .filter((metric) => !listed.has(seriesKey(metric.Namespace, metric.MetricName, metric.Dimensions)));
    const matches = [...this.metrics, ...fromData].filter(
      (metric) =>
        (namespace === undefined || metric.Namespace === namespace) &&
        (metricName === undefined || metric.MetricName === metricName) &&
        filters.every((filter) =>
          metric.Dimensions.some((dimension) => dimension.Name === filter.Name && (filter.Value === undefined || dimension.Value === filter.Value)),
        ),
    );
    const start = decodeOffset(input.NextToken, "cloudwatch");
    const page = matches.slice(start, start + METRIC_PAGE);
    return {
      Metrics: page.map((metric) => ({ ...metric, Dimensions: metric.Dimensions.map((dimension) => ({ ...dimension })) })),
      ...(start + METRIC_PAGE < matches.length ? { NextToken: encodeOffset(start + METRIC_PAGE) } : {}),
    };
  }

  // ---- SSM ----

  private getParameter(input: Record<string, unknown>): unknown {
    const name = input.Name as string;
    const parameter = this.parameters.get(name);
    if (parameter === undefined) throw serviceError("ssm", "ParameterNotFound", `Parameter ${name} not found.`);
    return { Parameter: { Name: name, ...parameter } };
  }

  private getParameters(input: Record<string, unknown>): unknown {
    const names = (input.Names as string[] | undefined) ?? [];
    if (names.length === 0 || names.length > MAX_PARAMETER_NAMES) {
      throw validationError(
        "ssm",
        `1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10`,
      );
    }
    const found = names.filter((name) => this.parameters.has(name));
    return {
      Parameters: found.map((name) => ({ Name: name, ...this.parameters.get(name) })),
      InvalidParameters: names.filter((name) => !this.parameters.has(name)),
    };
  }
}

function publicAlarm(alarm: StoredAlarm): MetricAlarm {
  const { tags: _tags, ...rest } = alarm;
  return {
    ...rest,
    Dimensions: (rest.Dimensions ?? []).map((dimension) => ({ ...dimension })),
    AlarmActions: [...(rest.AlarmActions ?? [])],
    OKActions: [...(rest.OKActions ?? [])],
    InsufficientDataActions: [...(rest.InsufficientDataActions ?? [])],
  };
}

function matchesFilter(instance: FakeInstance, filter: { Name?: string; Values?: string[] }): boolean {
  const values = filter.Values ?? [];
  const name = filter.Name ?? "";
  if (name === "instance-id") return values.includes(instance.instanceId);
  if (name === "instance-state-name") return values.includes(instance.state);
  if (name === "tag-key") return values.some((key) => key in instance.tags);
  if (name.startsWith("tag:")) {
    const value = instance.tags[name.slice(4)];
    return value !== undefined && values.some((wanted) => wildcard(wanted).test(value));
  }
  throw validationError("ec2", `The filter '${name}' is invalid`);
}

/** EC2 filter values support `*` and `?`. */
function wildcard(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
}

function encodeOffset(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString("base64");
}

function decodeOffset(token: unknown, service: FakeService): number {
  if (token === undefined || token === null || token === "") return 0;
  try {
    const parsed = JSON.parse(Buffer.from(String(token), "base64").toString("utf8")) as { o?: unknown };
    if (typeof parsed.o === "number" && Number.isInteger(parsed.o) && parsed.o >= 0) return parsed.o;
  } catch {
    // fall through to the AWS-shaped error
  }
  throw serviceError(service, service === "ec2" ? "InvalidPaginationToken" : "InvalidNextToken", "The specified pagination token is not valid");
}

function encodeKey(key: string): string {
  return Buffer.from(JSON.stringify({ k: key })).toString("base64");
}

function decodeKey(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { k?: unknown };
    if (typeof parsed.k === "string") return parsed.k;
  } catch {
    // fall through
  }
  throw serviceError("cloudwatch", "InvalidNextToken", "The specified pagination token is not valid");
}

function lowerBound(sorted: readonly string[], key: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] ?? "") < key) low = middle + 1;
    else high = middle;
  }
  return low;
}
