import type { MetricAlarm } from "@aws-sdk/client-cloudwatch";
import type { Clock } from "./clock.ts";
import {
  type AlarmStateValue,
  DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS,
  evaluateAlarmState,
  evaluationCadenceMs,
  evaluationRangePeriods,
  jsonTimestamp,
  type PeriodDatapoint,
} from "./cloudwatch-alarm-evaluation.ts";
import { serviceError, validationError } from "./errors.ts";
import { seededRandom } from "./random.ts";

/**
 * The metric store and alarm engine behind FakeAws: PutMetricData, GetMetricData, the ListMetrics
 * delay, SetAlarmState, explicit alarm evaluation, alarm actions (SNS and Lambda payloads) and
 * EventBridge "CloudWatch Alarm State Change" events. Every rule names its documentation page.
 */

// PUT_METRIC_DATA_DOC = https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
// HIGH_RESOLUTION_DOC = https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/publishingMetrics.html#high-resolution-metrics
// QUOTAS_DOC = https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html

/**
 * ASSUMPTION: how long after PutMetricData a datapoint becomes visible to GetMetricData and to
 * alarm evaluation. Undocumented as a number; https://repost.aws/questions/QUGIWUPlEYQWaCBm9x2WfnWA
 * (answer quoting AlarmThatSendsEmail) says "a few seconds delay for the data to become available
 * to the alarm", and publishingMetrics.html bounds it at "up to 2 minutes" for a new metric.
 */
export const DEFAULT_METRIC_INGESTION_DELAY_MS = 3_000;
/**
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/publishingMetrics.html: "it can take
 * up to 15 minutes before the new metric appears in the list of metrics retrieved using the
 * list-metrics command". The fake uses the upper bound.
 */
export const DEFAULT_LIST_METRICS_DELAY_MS = 15 * 60_000;
/**
 * ASSUMPTION: alarms are evaluated at each cadence tick plus this offset (the query date). Real
 * query dates fall anywhere within the minute (:01, :18, :35, :40, :51 in published examples);
 * the fake evaluates on the tick by default.
 */
export const DEFAULT_ALARM_EVALUATION_OFFSET_MS = 0;

export interface CloudWatchModelOptions {
  readonly metricIngestionDelayMs?: number;
  readonly listMetricsDelayMs?: number;
  /** Evaluation range = EvaluationPeriods + this (see evaluationRangePeriods). */
  readonly evaluationRangeExtraPeriods?: number;
  readonly alarmEvaluationOffsetMs?: number;
  readonly seed?: number;
}

/** What the engine needs from FakeAws. */
export interface AlarmHost {
  readonly alarms: Map<string, MetricAlarm & { AlarmName: string; AlarmArn: string }>;
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
}

export interface AlarmNotification {
  readonly at: number;
  readonly alarmName: string;
  readonly topicArn?: string;
  readonly functionArn?: string;
  /** For an SNS topic: the SNS → Lambda event `{Records:[…]}`; for a Lambda function: the alarm-action payload. */
  readonly event: Record<string, unknown>;
}

export interface AlarmStateChangeEvent {
  version: "0";
  id: string;
  "detail-type": "CloudWatch Alarm State Change";
  source: "aws.cloudwatch";
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** Shaped like a DescribeAlarmHistory AlarmHistoryItem of type StateUpdate. */
export interface AlarmHistoryItem {
  readonly AlarmName: string;
  readonly AlarmType: "MetricAlarm";
  readonly Timestamp: Date;
  readonly HistoryItemType: "StateUpdate";
  readonly HistorySummary: string;
  readonly HistoryData: string;
}

interface Contribution {
  /** Timestamp truncated to the storage resolution. */
  readonly timestamp: number;
  readonly receivedAt: number;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

interface Series {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly { Name: string; Value: string }[];
  readonly firstReceivedAt: number;
  readonly points: Contribution[];
}

interface AlarmRuntime {
  readonly createdAt: number;
  lastEvaluatedAt: number | null;
  readonly metricId: string;
}

const MAX_METRIC_DATA = 1000;
const MAX_QUERIES = 500;
const TWO_WEEKS_MS = 14 * 24 * 3600_000;
const TWO_HOURS_MS = 2 * 3600_000;

/** Names CloudWatch uses for regions in SNS alarm messages ("Region" and the Subject). */
const REGION_NAMES: Record<string, string> = {
  "us-east-1": "US East (N. Virginia)",
  "us-east-2": "US East (Ohio)",
  "us-west-1": "US West (N. California)",
  "us-west-2": "US West (Oregon)",
  "eu-west-1": "EU (Ireland)",
  "eu-west-2": "EU (London)",
  "eu-west-3": "EU (Paris)",
  "eu-central-1": "EU (Frankfurt)",
  "eu-north-1": "EU (Stockholm)",
  "ap-northeast-1": "Asia Pacific (Tokyo)",
  "ap-northeast-2": "Asia Pacific (Seoul)",
  "ap-southeast-1": "Asia Pacific (Singapore)",
  "ap-southeast-2": "Asia Pacific (Sydney)",
  "ap-south-1": "Asia Pacific (Mumbai)",
  "ca-central-1": "Canada (Central)",
  "sa-east-1": "South America (Sao Paulo)",
};

export function seriesKey(namespace: string, metricName: string, dimensions: readonly { Name?: string; Value?: string }[]): string {
  const sorted = dimensions.map((dimension) => [dimension.Name ?? "", dimension.Value ?? ""]).sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? ""));
  return JSON.stringify([namespace, metricName, sorted]);
}

export class FakeCloudWatchAlarms {
  readonly notifications: AlarmNotification[] = [];
  readonly stateChangeEvents: AlarmStateChangeEvent[] = [];
  readonly metricIngestionDelayMs: number;
  readonly listMetricsDelayMs: number;
  readonly evaluationRangeExtraPeriods: number;
  readonly alarmEvaluationOffsetMs: number;
  private readonly series = new Map<string, Series>();
  private readonly runtime = new Map<string, AlarmRuntime>();
  private readonly history = new Map<string, AlarmHistoryItem[]>();
  private readonly notificationListeners = new Set<(notification: AlarmNotification) => void>();
  private readonly stateChangeListeners = new Set<(event: AlarmStateChangeEvent) => void>();
  private readonly random: () => number;

  constructor(
    private readonly host: AlarmHost,
    options: CloudWatchModelOptions = {},
  ) {
    this.metricIngestionDelayMs = options.metricIngestionDelayMs ?? DEFAULT_METRIC_INGESTION_DELAY_MS;
    this.listMetricsDelayMs = options.listMetricsDelayMs ?? DEFAULT_LIST_METRICS_DELAY_MS;
    this.evaluationRangeExtraPeriods = options.evaluationRangeExtraPeriods ?? DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS;
    this.alarmEvaluationOffsetMs = options.alarmEvaluationOffsetMs ?? DEFAULT_ALARM_EVALUATION_OFFSET_MS;
    // Separate from the fault-injection stream so ids never shift a seeded fault pattern.
    this.random = seededRandom((options.seed ?? 1) ^ 0x5eed);
  }

  // ---- metrics ----

  /**
   * PutMetricData (PUT_METRIC_DATA_DOC): Namespace required and not "AWS/…"; at most 1000 MetricDatum
   * per call (QUOTAS_DOC: "1000/PutMetricData request"); Value, StatisticValues, or Values/Counts;
   * timestamps up to two weeks in the past and two hours in the future. StorageResolution 1 is stored
   * at one-second granularity, 60 or absent at one minute (HIGH_RESOLUTION_DOC: "Standard resolution,
   * with data having a one-minute granularity; High resolution, with data at a granularity of one second").
   */
  putMetricData(input: Record<string, unknown>): Record<string, unknown> {
    const namespace = input.Namespace;
    if (typeof namespace !== "string" || namespace.length === 0 || namespace.length > 255)
      throw validationError("cloudwatch", "Namespace must be 1-255 characters");
    if (namespace.startsWith("AWS/")) throw validationError("cloudwatch", "The value AWS/ for parameter Namespace is invalid.");
    const data = (input.MetricData as Record<string, unknown>[] | undefined) ?? [];
    if (data.length === 0) throw serviceError("cloudwatch", "MissingParameter", "The parameter MetricData is required.");
    if (data.length > MAX_METRIC_DATA) throw validationError("cloudwatch", `The collection MetricData must not have a size greater than ${MAX_METRIC_DATA}.`);
    const now = this.host.clock.now();
    const parsed = data.map((datum) => this.parseDatum(namespace, datum, now));
    for (const { key, metricName, dimensions, contribution } of parsed) {
      let series = this.series.get(key);
      if (series === undefined) {
        series = { namespace, metricName, dimensions, firstReceivedAt: now, points: [] };
        this.series.set(key, series);
      }
      series.points.push(contribution);
    }
    return {};
  }

  private parseDatum(namespace: string, datum: Record<string, unknown>, now: number) {
    const metricName = datum.MetricName;
    if (typeof metricName !== "string" || metricName.length === 0)
      throw serviceError("cloudwatch", "MissingParameter", "The parameter MetricData.member.MetricName is required.");
    const dimensions = ((datum.Dimensions as { Name?: string; Value?: string }[] | undefined) ?? []).map((dimension) => ({
      Name: dimension.Name ?? "",
      Value: dimension.Value ?? "",
    }));
    if (dimensions.length > 30) throw validationError("cloudwatch", "The collection Dimensions must not have a size greater than 30.");
    const raw = datum.Timestamp;
    const timestamp = raw === undefined ? now : raw instanceof Date ? raw.getTime() : new Date(raw as string | number).getTime();
    if (!Number.isFinite(timestamp) || timestamp < now - TWO_WEEKS_MS || timestamp > now + TWO_HOURS_MS) {
      throw validationError(
        "cloudwatch",
        "The parameter MetricData.member.Timestamp must specify a time no more than two weeks in the past or two hours in the future.",
      );
    }
    const resolution = (datum.StorageResolution as number | undefined) ?? 60;
    if (resolution !== 1 && resolution !== 60) throw validationError("cloudwatch", "StorageResolution must be 1 or 60");
    const granularity = resolution === 1 ? 1000 : 60_000;
    const stats = datumStatistics(datum);
    const key = seriesKey(namespace, metricName, dimensions);
    return { key, metricName, dimensions, contribution: { timestamp: Math.floor(timestamp / granularity) * granularity, receivedAt: now, ...stats } };
  }

  /** Series that ListMetrics shows at `now`: only `listMetricsDelayMs` after their first datapoint. */
  listedSeries(now: number): { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] }[] {
    return [...this.series.values()]
      .filter((series) => series.firstReceivedAt + this.listMetricsDelayMs <= now)
      .map((series) => ({ Namespace: series.namespace, MetricName: series.metricName, Dimensions: series.dimensions.map((dimension) => ({ ...dimension })) }));
  }

  /** Aggregated periods [start, start + periodMs) of one series, using only datapoints visible at `at`. */
  private periodValue(key: string, start: number, periodMs: number, statistic: string, at: number): { value: number | null; sampleCount: number } {
    const series = this.series.get(key);
    if (series === undefined) return { value: null, sampleCount: 0 };
    let count = 0;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const point of series.points) {
      if (point.timestamp < start || point.timestamp >= start + periodMs) continue;
      if (point.receivedAt + this.metricIngestionDelayMs > at) continue;
      count += point.count;
      sum += point.sum;
      min = Math.min(min, point.min);
      max = Math.max(max, point.max);
    }
    if (count === 0) return { value: null, sampleCount: 0 };
    const value = statistic === "Maximum" ? max : statistic === "Minimum" ? min : statistic === "Sum" ? sum : statistic === "SampleCount" ? count : sum / count;
    return { value, sampleCount: count };
  }

  /**
   * GetMetricData (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html):
   * at most 500 MetricDataQuery (QUOTAS_DOC), MetricStat queries only (no math expressions in the
   * fake), results newest first unless ScanBy is TimestampAscending, StatusCode Complete. Periods
   * are aligned to multiples of the period from the epoch (ASSUMPTION: AWS rounds StartTime).
   */
  getMetricData(input: Record<string, unknown>): Record<string, unknown> {
    const queries = (input.MetricDataQueries as Record<string, unknown>[] | undefined) ?? [];
    if (queries.length === 0) throw serviceError("cloudwatch", "MissingParameter", "The parameter MetricDataQueries is required.");
    if (queries.length > MAX_QUERIES) throw validationError("cloudwatch", `The collection MetricDataQueries must not have a size greater than ${MAX_QUERIES}.`);
    const startTime = toMillis(input.StartTime);
    const endTime = toMillis(input.EndTime);
    if (startTime === null || endTime === null) throw serviceError("cloudwatch", "MissingParameter", "StartTime and EndTime are required.");
    if (endTime <= startTime) throw validationError("cloudwatch", "The parameter StartTime must be less than the parameter EndTime.");
    const ascending = input.ScanBy === "TimestampAscending";
    const now = this.host.clock.now();
    const results = queries.map((query) => {
      const stat = query.MetricStat as
        | { Metric?: { Namespace?: string; MetricName?: string; Dimensions?: { Name?: string; Value?: string }[] }; Period?: number; Stat?: string }
        | undefined;
      if (stat === undefined || stat.Metric === undefined) throw validationError("cloudwatch", "The fake supports MetricStat queries only (no Expression).");
      const period = stat.Period ?? 60;
      if (!(period === 1 || period === 5 || period === 10 || period === 20 || period === 30 || (period >= 60 && period % 60 === 0))) {
        throw validationError("cloudwatch", "The parameter MetricDataQueries.member.MetricStat.Period must be 1, 5, 10, 20, 30 or a multiple of 60.");
      }
      const statistic = stat.Stat ?? "Average";
      if (!["Maximum", "Minimum", "Sum", "Average", "SampleCount"].includes(statistic))
        throw validationError("cloudwatch", `The fake does not model the statistic ${statistic}.`);
      const key = seriesKey(stat.Metric.Namespace ?? "", stat.Metric.MetricName ?? "", stat.Metric.Dimensions ?? []);
      const periodMs = period * 1000;
      const timestamps: Date[] = [];
      const values: number[] = [];
      for (let start = Math.floor(startTime / periodMs) * periodMs; start < endTime; start += periodMs) {
        const { value } = this.periodValue(key, start, periodMs, statistic, now);
        if (value === null) continue;
        timestamps.push(new Date(start));
        values.push(value);
      }
      if (!ascending) {
        timestamps.reverse();
        values.reverse();
      }
      return {
        Id: query.Id,
        Label: (query.Label as string | undefined) ?? stat.Metric.MetricName,
        Timestamps: timestamps,
        Values: values,
        StatusCode: "Complete",
      };
    });
    return { MetricDataResults: results, Messages: [] };
  }

  // ---- alarms ----

  /** Called by FakeAws whenever an alarm is stored. A new alarm is evaluated at its creation instant by the next evaluateAlarms. */
  alarmStored(name: string, created: boolean): void {
    if (created || !this.runtime.has(name)) this.runtime.set(name, { createdAt: this.host.clock.now(), lastEvaluatedAt: null, metricId: this.uuid() });
  }

  alarmDeleted(name: string): void {
    this.runtime.delete(name);
  }

  alarmHistory(name: string): AlarmHistoryItem[] {
    return [...(this.history.get(name) ?? [])];
  }

  onNotification(listener: (notification: AlarmNotification) => void): () => void {
    this.notificationListeners.add(listener);
    return () => this.notificationListeners.delete(listener);
  }

  onStateChange(listener: (event: AlarmStateChangeEvent) => void): () => void {
    this.stateChangeListeners.add(listener);
    return () => this.stateChangeListeners.delete(listener);
  }

  /**
   * SetAlarmState (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html):
   * "When the updated state differs from the previous value, the action configured for the
   * appropriate state is invoked." "Metric alarms returns to their actual state quickly": the next
   * evaluation re-evaluates from this state.
   */
  setAlarmState(input: Record<string, unknown>): Record<string, unknown> {
    const name = input.AlarmName as string | undefined;
    const alarm = name === undefined ? undefined : this.host.alarms.get(name);
    if (alarm === undefined) throw serviceError("cloudwatch", "ResourceNotFound", `alarm ${name ?? ""} does not exist`, { status: 404 });
    const state = input.StateValue as string;
    if (state !== "OK" && state !== "ALARM" && state !== "INSUFFICIENT_DATA")
      throw validationError("cloudwatch", "StateValue must be OK, ALARM or INSUFFICIENT_DATA");
    const reason = input.StateReason;
    if (typeof reason !== "string" || reason.length > 1023) throw validationError("cloudwatch", "StateReason is required (at most 1023 characters)");
    const reasonData = input.StateReasonData as string | undefined;
    if (reasonData !== undefined) {
      try {
        JSON.parse(reasonData);
      } catch {
        throw serviceError("cloudwatch", "InvalidFormat", "StateReasonData is not valid JSON");
      }
    }
    this.applyState(alarm, state, reason, reasonData, this.host.clock.now());
    return {};
  }

  /**
   * Evaluates every alarm at each of its evaluation instants in (its last evaluation, now], in time
   * order across alarms. PutMetricAlarm: "When this operation creates an alarm, the alarm state is
   * immediately set to INSUFFICIENT_DATA. The alarm is then evaluated": the fake evaluates a new
   * alarm at its creation instant, on the first call after it.
   */
  evaluateAlarms(now: number): void {
    const due: { at: number; name: string }[] = [];
    for (const [name, alarm] of this.host.alarms) {
      if (alarm.Metrics !== undefined && alarm.Metrics.length > 0) continue; // metric math alarms are not modelled
      const runtime = this.runtimeOf(name, alarm);
      const cadence = evaluationCadenceMs(alarm.Period ?? 60);
      if (runtime.lastEvaluatedAt === null && runtime.createdAt <= now) due.push({ at: runtime.createdAt, name });
      const from = runtime.lastEvaluatedAt ?? runtime.createdAt;
      const offset = this.alarmEvaluationOffsetMs;
      for (let tick = Math.floor((from - offset) / cadence) * cadence + cadence; tick + offset <= now; tick += cadence) {
        if (tick + offset > from) due.push({ at: tick + offset, name });
      }
    }
    due.sort((a, b) => a.at - b.at || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { at, name } of due) {
      const alarm = this.host.alarms.get(name);
      const runtime = this.runtime.get(name);
      if (alarm === undefined || runtime === undefined) continue;
      this.evaluateOne(alarm, at);
      runtime.lastEvaluatedAt = at;
    }
  }

  private runtimeOf(name: string, alarm: MetricAlarm): AlarmRuntime {
    let runtime = this.runtime.get(name);
    if (runtime === undefined) {
      runtime = { createdAt: alarm.AlarmConfigurationUpdatedTimestamp?.getTime() ?? this.host.clock.now(), lastEvaluatedAt: null, metricId: this.uuid() };
      this.runtime.set(name, runtime);
    }
    return runtime;
  }

  private evaluateOne(alarm: MetricAlarm & { AlarmName: string; AlarmArn: string }, at: number): void {
    const period = alarm.Period ?? 60;
    const periodMs = period * 1000;
    const config = {
      Period: period,
      EvaluationPeriods: alarm.EvaluationPeriods ?? 1,
      ...(alarm.DatapointsToAlarm !== undefined ? { DatapointsToAlarm: alarm.DatapointsToAlarm } : {}),
      Threshold: alarm.Threshold ?? 0,
      ComparisonOperator: alarm.ComparisonOperator ?? "GreaterThanThreshold",
      ...(alarm.TreatMissingData !== undefined ? { TreatMissingData: alarm.TreatMissingData } : {}),
      Statistic: alarm.Statistic ?? "Average",
    };
    // ALARM_EVALUATION_DOC: the newest period ends at the evaluation tick ("at the end of minute 6,
    // the alarm is evaluated based on the data from minutes 2 to 6").
    const tick = Math.floor((at - this.alarmEvaluationOffsetMs) / evaluationCadenceMs(period)) * evaluationCadenceMs(period);
    const count = evaluationRangePeriods(config, this.evaluationRangeExtraPeriods);
    const key = seriesKey(alarm.Namespace ?? "", alarm.MetricName ?? "", alarm.Dimensions ?? []);
    const periods: PeriodDatapoint[] = [];
    for (let index = count; index >= 1; index -= 1) {
      const start = tick - index * periodMs;
      const { value, sampleCount } = this.periodValue(key, start, periodMs, config.Statistic, at);
      periods.push({ start, value, sampleCount });
    }
    const current = (alarm.StateValue ?? "INSUFFICIENT_DATA") as AlarmStateValue;
    const result = evaluateAlarmState(config, periods, current, at);
    if (result.state !== current) this.applyState(alarm, result.state, result.reason, result.reasonData, at);
  }

  /**
   * A state change. Actions (AlarmThatSendsEmail, "Alarm actions"): "the actions happen only on state
   * transitions", and only when ActionsEnabled (DisableAlarmActions / EnableAlarmActions). The
   * EventBridge event is sent on every state change whatever ActionsEnabled says
   * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html:
   * "CloudWatch sends events to Amazon EventBridge whenever a CloudWatch alarm ... changes alarm state").
   */
  private applyState(
    alarm: MetricAlarm & { AlarmName: string; AlarmArn: string },
    state: AlarmStateValue,
    reason: string,
    reasonData: string | undefined,
    at: number,
  ): void {
    const previous = {
      value: (alarm.StateValue ?? "INSUFFICIENT_DATA") as AlarmStateValue,
      reason: alarm.StateReason ?? "",
      reasonData: alarm.StateReasonData,
      timestamp: alarm.StateUpdatedTimestamp?.getTime() ?? at,
    };
    alarm.StateValue = state;
    alarm.StateReason = reason;
    if (reasonData !== undefined) alarm.StateReasonData = reasonData;
    else delete alarm.StateReasonData;
    alarm.StateUpdatedTimestamp = new Date(at);
    if (previous.value === state) return;
    alarm.StateTransitionedTimestamp = new Date(at);
    const history = this.history.get(alarm.AlarmName) ?? [];
    history.push({
      AlarmName: alarm.AlarmName,
      AlarmType: "MetricAlarm",
      Timestamp: new Date(at),
      HistoryItemType: "StateUpdate",
      HistorySummary: `Alarm updated from ${previous.value} to ${state}`,
      HistoryData: JSON.stringify({
        version: "1.0",
        oldState: {
          stateValue: previous.value,
          stateReason: previous.reason,
          ...(previous.reasonData !== undefined ? { stateReasonData: JSON.parse(previous.reasonData) } : {}),
        },
        newState: { stateValue: state, stateReason: reason, ...(reasonData !== undefined ? { stateReasonData: JSON.parse(reasonData) } : {}) },
      }),
    });
    this.history.set(alarm.AlarmName, history);

    const event = this.eventBridgeEvent(alarm, previous, at);
    this.stateChangeEvents.push(event);
    for (const listener of this.stateChangeListeners) listener(event);

    if (alarm.ActionsEnabled === false) return;
    const actions = state === "ALARM" ? alarm.AlarmActions : state === "OK" ? alarm.OKActions : alarm.InsufficientDataActions;
    for (const arn of actions ?? []) {
      let notification: AlarmNotification | undefined;
      if (arn.startsWith("arn:aws:sns:"))
        notification = { at, alarmName: alarm.AlarmName, topicArn: arn, event: this.snsEvent(alarm, previous.value, arn, at) };
      else if (arn.startsWith("arn:aws:lambda:"))
        notification = { at, alarmName: alarm.AlarmName, functionArn: arn, event: this.lambdaEvent(alarm, previous, at) };
      if (notification === undefined) continue; // EC2, Auto Scaling, SSM actions are not modelled
      this.notifications.push(notification);
      for (const listener of this.notificationListeners) listener(notification);
    }
  }

  private metricsConfiguration(alarm: MetricAlarm & { AlarmName: string }): Record<string, unknown>[] {
    const dimensions = Object.fromEntries((alarm.Dimensions ?? []).map((dimension) => [dimension.Name ?? "", dimension.Value ?? ""]));
    return [
      {
        id: this.runtimeOf(alarm.AlarmName, alarm).metricId,
        metricStat: { metric: { namespace: alarm.Namespace, name: alarm.MetricName, dimensions }, period: alarm.Period, stat: alarm.Statistic },
        returnData: true,
      },
    ];
  }

  /** The EventBridge "CloudWatch Alarm State Change" event, keys as in the fixture and cloudwatch-and-eventbridge.html. */
  private eventBridgeEvent(
    alarm: MetricAlarm & { AlarmName: string; AlarmArn: string },
    previous: { value: string; reason: string; timestamp: number },
    at: number,
  ): AlarmStateChangeEvent {
    return {
      version: "0",
      id: this.uuid(),
      "detail-type": "CloudWatch Alarm State Change",
      source: "aws.cloudwatch",
      account: this.host.accountId,
      time: new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z"),
      region: this.host.region,
      resources: [alarm.AlarmArn],
      detail: {
        alarmName: alarm.AlarmName,
        state: {
          value: alarm.StateValue,
          reason: alarm.StateReason,
          ...(alarm.StateReasonData !== undefined ? { reasonData: alarm.StateReasonData } : {}),
          timestamp: jsonTimestamp(at),
        },
        // As in the fixture: the previous state without its reasonData.
        previousState: { value: previous.value, reason: previous.reason, timestamp: jsonTimestamp(previous.timestamp) },
        configuration: {
          ...(alarm.AlarmDescription !== undefined ? { description: alarm.AlarmDescription } : {}),
          metrics: this.metricsConfiguration(alarm),
        },
      },
    };
  }

  /**
   * The payload a Lambda alarm action receives (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions-Lambda.html):
   * {source:"aws.cloudwatch", alarmArn, accountId, time, region, alarmData:{alarmName, state, previousState, configuration}}.
   */
  private lambdaEvent(
    alarm: MetricAlarm & { AlarmName: string; AlarmArn: string },
    previous: { value: string; reason: string; reasonData: string | undefined; timestamp: number },
    at: number,
  ): Record<string, unknown> {
    return {
      source: "aws.cloudwatch",
      alarmArn: alarm.AlarmArn,
      accountId: this.host.accountId,
      time: jsonTimestamp(at),
      region: this.host.region,
      alarmData: {
        alarmName: alarm.AlarmName,
        state: {
          value: alarm.StateValue,
          reason: alarm.StateReason,
          ...(alarm.StateReasonData !== undefined ? { reasonData: alarm.StateReasonData } : {}),
          timestamp: jsonTimestamp(at),
        },
        previousState: {
          value: previous.value,
          reason: previous.reason,
          ...(previous.reasonData !== undefined ? { reasonData: previous.reasonData } : {}),
          timestamp: jsonTimestamp(previous.timestamp),
        },
        configuration: {
          ...(alarm.AlarmDescription !== undefined ? { description: alarm.AlarmDescription } : {}),
          metrics: this.metricsConfiguration(alarm),
        },
      },
    };
  }

  /**
   * The SNS → Lambda event for an SNS alarm action: the Records envelope Lambda receives from SNS
   * and the CloudWatch alarm message inside it, keys and formats as in the fixture (a real
   * notification): Java doubles for Threshold, "STATISTIC" upper-cased, dimensions as {value,name}.
   */
  private snsEvent(alarm: MetricAlarm & { AlarmName: string; AlarmArn: string }, oldState: string, topicArn: string, at: number): Record<string, unknown> {
    const regionName = REGION_NAMES[this.host.region] ?? this.host.region;
    const message =
      "{" +
      [
        `"AlarmName":${JSON.stringify(alarm.AlarmName)}`,
        `"AlarmDescription":${JSON.stringify(alarm.AlarmDescription ?? null)}`,
        `"AWSAccountId":${JSON.stringify(this.host.accountId)}`,
        `"AlarmConfigurationUpdatedTimestamp":${JSON.stringify(jsonTimestamp(alarm.AlarmConfigurationUpdatedTimestamp?.getTime() ?? at))}`,
        `"NewStateValue":${JSON.stringify(alarm.StateValue)}`,
        `"NewStateReason":${JSON.stringify(alarm.StateReason)}`,
        `"StateChangeTime":${JSON.stringify(jsonTimestamp(at))}`,
        `"Region":${JSON.stringify(regionName)}`,
        `"AlarmArn":${JSON.stringify(alarm.AlarmArn)}`,
        `"OldStateValue":${JSON.stringify(oldState)}`,
        `"OKActions":${JSON.stringify(alarm.OKActions ?? [])}`,
        `"AlarmActions":${JSON.stringify(alarm.AlarmActions ?? [])}`,
        `"InsufficientDataActions":${JSON.stringify(alarm.InsufficientDataActions ?? [])}`,
        `"Trigger":{${[
          `"MetricName":${JSON.stringify(alarm.MetricName ?? null)}`,
          `"Namespace":${JSON.stringify(alarm.Namespace ?? null)}`,
          `"StatisticType":"Statistic"`,
          `"Statistic":${JSON.stringify((alarm.Statistic ?? "").toUpperCase())}`,
          `"Unit":${JSON.stringify(alarm.Unit ?? null)}`,
          `"Dimensions":${JSON.stringify((alarm.Dimensions ?? []).map((dimension) => ({ value: dimension.Value, name: dimension.Name })))}`,
          `"Period":${alarm.Period ?? 60}`,
          `"EvaluationPeriods":${alarm.EvaluationPeriods ?? 1}`,
          `"DatapointsToAlarm":${alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods ?? 1}`,
          `"ComparisonOperator":${JSON.stringify(alarm.ComparisonOperator)}`,
          `"Threshold":${javaNumber(alarm.Threshold ?? 0)}`,
          `"TreatMissingData":${JSON.stringify(alarm.TreatMissingData ?? "missing")}`,
          `"EvaluateLowSampleCountPercentile":${JSON.stringify(alarm.EvaluateLowSampleCountPercentile ?? "")}`,
        ].join(",")}}`,
      ].join(",") +
      "}";
    const subscription = `${topicArn}:${this.uuid()}`;
    const snsHost = `sns.${this.host.region}.amazonaws.com`;
    return {
      Records: [
        {
          EventSource: "aws:sns",
          EventVersion: "1.0",
          EventSubscriptionArn: subscription,
          Sns: {
            Type: "Notification",
            MessageId: this.uuid(),
            TopicArn: topicArn,
            Subject: `${alarm.StateValue}: "${alarm.AlarmName}" in ${regionName}`.slice(0, 100),
            Message: message,
            Timestamp: new Date(at).toISOString(),
            SignatureVersion: "1",
            Signature: Buffer.from(`fake-signature-${this.uuid()}`).toString("base64"),
            SigningCertUrl: `https://${snsHost}/SimpleNotificationService-fake.pem`,
            UnsubscribeUrl: `https://${snsHost}/?Action=Unsubscribe&SubscriptionArn=${subscription}`,
            MessageAttributes: {},
          },
        },
      ],
    };
  }

  private uuid(): string {
    const hex = Array.from({ length: 32 }, () => Math.floor(this.random() * 16).toString(16)).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

function javaNumber(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

function toMillis(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  const millis = value instanceof Date ? value.getTime() : new Date(value as string | number).getTime();
  return Number.isFinite(millis) ? millis : null;
}

/** One MetricDatum as count/sum/min/max: Value, StatisticValues, or Values with optional Counts. */
function datumStatistics(datum: Record<string, unknown>): { count: number; sum: number; min: number; max: number } {
  const statisticValues = datum.StatisticValues as { SampleCount?: number; Sum?: number; Minimum?: number; Maximum?: number } | undefined;
  const values = datum.Values as number[] | undefined;
  const given = [datum.Value !== undefined, statisticValues !== undefined, values !== undefined && values.length > 0].filter(Boolean).length;
  if (given !== 1) throw validationError("cloudwatch", "Exactly one of Value, StatisticValues or Values must be given.");
  if (datum.Value !== undefined) {
    const value = Number(datum.Value);
    return { count: 1, sum: value, min: value, max: value };
  }
  if (statisticValues !== undefined) {
    return { count: statisticValues.SampleCount ?? 0, sum: statisticValues.Sum ?? 0, min: statisticValues.Minimum ?? 0, max: statisticValues.Maximum ?? 0 };
  }
  const counts = (datum.Counts as number[] | undefined) ?? [];
  if (counts.length > 0 && counts.length !== (values ?? []).length) throw validationError("cloudwatch", "Values and Counts must have the same length.");
  let count = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  (values ?? []).forEach((value, index) => {
    const weight = counts[index] ?? 1;
    count += weight;
    sum += value * weight;
    min = Math.min(min, value);
    max = Math.max(max, value);
  });
  return { count, sum, min, max };
}
