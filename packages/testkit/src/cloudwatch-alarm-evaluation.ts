/**
 * A pure model of how CloudWatch evaluates a single-metric alarm, written from the CloudWatch
 * documentation (URLs next to each rule). No I/O: callers hand in the aggregated period values
 * of the evaluation range and get back the state, the StateReason text and the StateReasonData
 * JSON string as CloudWatch writes them.
 *
 * Sources (the current pages, and the last revision of the same text in the archived
 * awsdocs/amazon-cloudwatch-user-guide repository, doc_source/AlarmThatSendsEmail.md):
 *  - ALARM_EVALUATION_DOC: evaluation settings, M out of N, evaluation cadence.
 *  - MISSING_DATA_DOC: evaluation range, TreatMissingData modes, the two example tables and
 *    "Avoiding premature transitions to alarm state".
 * Where the documentation is silent the choice is a named parameter and marked ASSUMPTION.
 */

export const ALARM_EVALUATION_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html";
export const MISSING_DATA_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html";
export const USING_ALARMS_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html";
export const PREMATURE_TRANSITION_ISSUE = "https://github.com/awsdocs/amazon-cloudwatch-user-guide/issues/129";

export type AlarmStateValue = "OK" | "ALARM" | "INSUFFICIENT_DATA";

export interface EvaluatedAlarmConfig {
  Period: number;
  EvaluationPeriods: number;
  DatapointsToAlarm?: number;
  Threshold: number;
  ComparisonOperator: string;
  TreatMissingData?: string;
  Statistic?: string;
}

export interface PeriodDatapoint {
  /** Start of the period, epoch ms (CloudWatch labels a datapoint with its period's start). */
  readonly start: number;
  /** The aggregated statistic for the period; null = no datapoint (missing). */
  readonly value: number | null;
  readonly sampleCount: number;
}

export interface AlarmEvaluation {
  readonly state: AlarmStateValue;
  readonly reason: string;
  /** JSON string, formatted as CloudWatch sends it (doubles as `1.0`). */
  readonly reasonData: string;
}

/**
 * How often an alarm is evaluated.
 * USING_ALARMS_DOC / ALARM_EVALUATION_DOC: "For any period of one minute or longer, an alarm is
 * evaluated every minute" and "If the alarm period is 10 seconds or 30 seconds, the alarm is
 * evaluated every 10 seconds." 20 s periods are valid (PutMetricAlarm: "Valid values are 10, 20,
 * 30, and any multiple of 60"); that they also evaluate every 10 s is an ASSUMPTION (the docs
 * only name 10 and 30).
 */
export function evaluationCadenceMs(period: number): number {
  return period < 60 ? 10_000 : 60_000;
}

/**
 * ASSUMPTION (MISSING_DATA_DOC is silent on the exact size: "The exact number of data points it
 * attempts to retrieve depends on the length of the alarm period and whether it is based on a
 * metric with standard resolution or high resolution"): the evaluation range is
 * EvaluationPeriods + `extraPeriods`. The default 2 reproduces the documented example
 * ("Datapoints to Alarm and Evaluation Periods are both 3 ... 5 is the evaluation range").
 */
export const DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS = 2;

export function evaluationRangePeriods(
  config: Pick<EvaluatedAlarmConfig, "EvaluationPeriods">,
  extraPeriods: number = DEFAULT_EVALUATION_RANGE_EXTRA_PERIODS,
): number {
  return config.EvaluationPeriods + extraPeriods;
}

/** Statistics over raw values (PutMetricData values of one period). */
export function aggregate(statistic: string, values: number[]): number {
  if (values.length === 0) throw new Error("aggregate of no values");
  switch (statistic) {
    case "Maximum":
      return values.reduce((a, b) => Math.max(a, b));
    case "Minimum":
      return values.reduce((a, b) => Math.min(a, b));
    case "Sum":
      return values.reduce((a, b) => a + b, 0);
    case "Average":
      return values.reduce((a, b) => a + b, 0) / values.length;
    case "SampleCount":
      return values.length;
    default:
      throw new Error(`statistic ${statistic} is not modelled (percentiles and extended statistics are not)`);
  }
}

/** The comparison the alarm applies, statistic as first operand (PutMetricAlarm ComparisonOperator). */
export function isBreaching(comparisonOperator: string, value: number, threshold: number): boolean {
  switch (comparisonOperator) {
    case "GreaterThanOrEqualToThreshold":
      return value >= threshold;
    case "GreaterThanThreshold":
      return value > threshold;
    case "LessThanThreshold":
      return value < threshold;
    case "LessThanOrEqualToThreshold":
      return value <= threshold;
    default:
      throw new Error(`comparison operator ${comparisonOperator} is not modelled (anomaly-band alarms are not)`);
  }
}

const COMPARISON_WORDS: Record<string, string> = {
  GreaterThanOrEqualToThreshold: "greater than or equal to",
  GreaterThanThreshold: "greater than",
  LessThanThreshold: "less than",
  LessThanOrEqualToThreshold: "less than or equal to",
};

/**
 * Evaluates one alarm at one instant.
 *
 * `periods` are the periods of the evaluation range, oldest first (see evaluationRangePeriods).
 * Rules, all from MISSING_DATA_DOC ("How alarm state is evaluated when data is missing"):
 *  1. "If no data points in the evaluation range are missing, CloudWatch evaluates the alarm based
 *     on the most recent data points collected. The number of data points evaluated is equal to
 *     the Evaluation Periods."
 *  2. "If some data points in the evaluation range are missing, but the total number of existing
 *     data points ... is equal to or more than the alarm's Evaluation Periods, CloudWatch evaluates
 *     ... the most recent real data points ..., including the necessary extra data points from
 *     farther back in the evaluation range. In this case, the value you set for how to treat
 *     missing data is not needed and is ignored."
 *  3. Otherwise "CloudWatch fills in the missing data points with the result you specified for how
 *     to treat missing data ... all real data points in the evaluation range are included in the
 *     evaluation. CloudWatch uses missing data points only as few times as possible."
 *  4. M out of N (ALARM_EVALUATION_DOC): ALARM when at least DatapointsToAlarm of the evaluated
 *     datapoints breach, otherwise OK.
 *  5. `missing` / `ignore` with fewer real datapoints than N, as the two tables give them: a real
 *     non-breaching datapoint makes the alarm OK (table 1 row 2, table 2 rows 3-4); with no
 *     real datapoint `missing` gives INSUFFICIENT_DATA and `ignore` keeps the current state
 *     (table 1 row 3); with only breaching datapoints, fewer than M, "Avoiding premature
 *     transitions to alarm state" applies to `missing`: ALARM when the oldest breaching datapoint
 *     is at least DatapointsToAlarm periods old (its position counted from the newest period of
 *     the evaluation range, newest = 1), INSUFFICIENT_DATA otherwise (table 1 row 5 `- - X - -`,
 *     table 2 row 5 `- - - X -`, older table revision `- - - - X` and `X - - - -`); `ignore`
 *     keeps the current state in those rows. The docs' prose would also ALARM `0 - X - -`
 *     (2 of 3), but its table says OK; the table wins, so the premature rule needs every real
 *     datapoint to be breaching (see PREMATURE_TRANSITION_ISSUE, which reports the same
 *     contradiction).
 */
export function evaluateAlarmState(
  config: EvaluatedAlarmConfig,
  periods: readonly PeriodDatapoint[],
  current: AlarmStateValue,
  queryDate: number,
): AlarmEvaluation {
  const n = config.EvaluationPeriods;
  const m = config.DatapointsToAlarm ?? n;
  const treat = config.TreatMissingData ?? "missing";
  const newestFirst = [...periods].reverse();
  const real = newestFirst.filter((period) => period.value !== null);
  const evaluatedReal = real.slice(0, n);
  const fill = n - evaluatedReal.length;
  const breachingReal = evaluatedReal.filter((period) => isBreaching(config.ComparisonOperator, period.value as number, config.Threshold));
  const context: ReasonContext = { config, n, m, newestFirst, evaluatedReal, fill, queryDate };

  if (fill === 0 || treat === "breaching" || treat === "notBreaching") {
    const filledAsBreaching = fill > 0 && treat === "breaching" ? fill : 0;
    const breaching = breachingReal.length + filledAsBreaching;
    const state: AlarmStateValue = breaching >= m ? "ALARM" : "OK";
    return { state, reason: thresholdReason(context, state, treat), reasonData: reasonData(context, true) };
  }
  // `missing` or `ignore`, fewer real datapoints than Evaluation Periods.
  if (breachingReal.length >= m) return { state: "ALARM", reason: thresholdReason(context, "ALARM", treat), reasonData: reasonData(context, true) };
  if (breachingReal.length < evaluatedReal.length) return { state: "OK", reason: thresholdReason(context, "OK", treat), reasonData: reasonData(context, true) };
  if (treat === "ignore") {
    // MISSING_DATA_DOC: "ignore – The current alarm state is maintained" (tables: "Retain current state").
    return { state: current, reason: `Missing data treated as [Ignore]: current state ${current} kept.`, reasonData: reasonData(context, true) };
  }
  const oldestBreaching = breachingReal[breachingReal.length - 1];
  if (oldestBreaching !== undefined) {
    const age = newestFirst.indexOf(oldestBreaching) + 1;
    if (age >= m) return { state: "ALARM", reason: thresholdReason(context, "ALARM", treat), reasonData: reasonData(context, true) };
  }
  return { state: "INSUFFICIENT_DATA", reason: insufficientReason(context), reasonData: reasonData(context, false) };
}

interface ReasonContext {
  readonly config: EvaluatedAlarmConfig;
  readonly n: number;
  readonly m: number;
  readonly newestFirst: readonly PeriodDatapoint[];
  readonly evaluatedReal: readonly PeriodDatapoint[];
  readonly fill: number;
  readonly queryDate: number;
}

function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/**
 * StateReason texts, in the wording of real alarms (no documentation page specifies them):
 *  - "Threshold Crossed: 1 out of the last 1 datapoints [0.0 (28/06/22 01:55:00)] was less than or
 *    equal to the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition)." and "... was
 *    not greater than the threshold (50.0) (minimum 1 datapoint for ALARM -> OK transition)."
 *    (the EventBridge examples on https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
 *    and the fixtures); "3 out of the last 3 datapoints [...] were greater than ..." (the example on
 *    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-alarms-partial-data.html),
 *    hence "was" for one listed datapoint and "were" for several.
 *  - "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were
 *    treated as [Breaching]." and "... for 1 period and 1 missing datapoint was treated as
 *    [NonBreaching]." (StateReasons quoted in public repositories and SNS payloads).
 *  - "Insufficient Data: 5 datapoints were unknown." (previousState of the Lambda alarm-action
 *    example, https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions-Lambda.html).
 * ASSUMPTIONS: the listed datapoints are the evaluated ones that breach (ALARM) or do not (OK),
 * newest first; "out of the last N" uses Evaluation Periods; the minimum is DatapointsToAlarm
 * for "OK -> ALARM" and N - M + 1 for "ALARM -> OK", whatever the previous state was; when real
 * and filled datapoints are mixed the text is "R datapoints were received for N periods and F
 * missing datapoints were treated as [Breaching]." (seen quoted once, not documented).
 */
function thresholdReason(context: ReasonContext, state: AlarmStateValue, treat: string): string {
  const { config, n, m, evaluatedReal, fill } = context;
  const words = COMPARISON_WORDS[config.ComparisonOperator] ?? config.ComparisonOperator;
  if (fill > 0 && (treat === "breaching" || treat === "notBreaching")) {
    const label = treat === "breaching" ? "Breaching" : "NonBreaching";
    const filled = `${plural(fill, "missing datapoint")} ${fill === 1 ? "was" : "were"} treated as [${label}].`;
    if (evaluatedReal.length === 0) return `Threshold Crossed: no datapoints were received for ${plural(n, "period")} and ${filled}`;
    return `Threshold Crossed: ${plural(evaluatedReal.length, "datapoint")} ${evaluatedReal.length === 1 ? "was" : "were"} received for ${plural(n, "period")} and ${filled}`;
  }
  const wanted = evaluatedReal.filter((period) => isBreaching(config.ComparisonOperator, period.value as number, config.Threshold) === (state === "ALARM"));
  const listed = wanted.map((period) => `${javaDouble(period.value as number)} (${reasonTimestamp(period.start)})`).join(", ");
  const verb = wanted.length === 1 ? "was" : "were";
  const minimum = state === "ALARM" ? m : n - m + 1;
  const transition = state === "ALARM" ? "OK -> ALARM" : "ALARM -> OK";
  return `Threshold Crossed: ${wanted.length} out of the last ${n} datapoints [${listed}] ${verb} ${state === "ALARM" ? "" : "not "}${words} the threshold (${javaDouble(config.Threshold)}) (minimum ${plural(minimum, "datapoint")} for ${transition} transition).`;
}

/** ASSUMPTION: the count is the number of missing periods in the evaluation range. */
function insufficientReason(context: ReasonContext): string {
  const unknown = context.newestFirst.filter((period) => period.value === null).length;
  return `Insufficient Data: ${plural(unknown, "datapoint")} ${unknown === 1 ? "was" : "were"} unknown.`;
}

/**
 * StateReasonData, key order and number format as in the fixtures and the EventBridge / Lambda
 * examples: {"version":"1.0","queryDate":…,"startDate":…,"statistic":…,"period":…,
 * "recentDatapoints":[…],"threshold":…,"evaluatedDatapoints":[{"timestamp":…,"sampleCount":…,"value":…}]}.
 * Missing datapoints appear in evaluatedDatapoints with a timestamp only, and without data
 * there is no startDate and recentDatapoints is [] (the Lambda example's INSUFFICIENT_DATA
 * previousState). ASSUMPTIONS: evaluatedDatapoints lists the N evaluated slots newest first
 * (real ones, then the most recent missing periods used as fillers; every period of the range
 * when the state is INSUFFICIENT_DATA); recentDatapoints lists the real values oldest first;
 * startDate is the start of the oldest evaluated real datapoint.
 */
function reasonData(context: ReasonContext, withFillers: boolean): string {
  const { config, n, newestFirst, evaluatedReal, queryDate } = context;
  let slots: PeriodDatapoint[];
  if (withFillers) {
    const fillers = newestFirst.filter((period) => period.value === null).slice(0, Math.max(0, n - evaluatedReal.length));
    slots = [...evaluatedReal, ...fillers].sort((a, b) => b.start - a.start);
  } else {
    slots = [...newestFirst];
  }
  const oldestReal = evaluatedReal[evaluatedReal.length - 1];
  const fields: string[] = [`"version":"1.0"`, `"queryDate":${JSON.stringify(jsonTimestamp(queryDate))}`];
  if (oldestReal !== undefined && withFillers) fields.push(`"startDate":${JSON.stringify(jsonTimestamp(oldestReal.start))}`);
  fields.push(`"statistic":${JSON.stringify(config.Statistic ?? "Maximum")}`, `"period":${config.Period}`);
  const recent = withFillers ? [...evaluatedReal].reverse().map((period) => javaDouble(period.value as number)) : [];
  fields.push(`"recentDatapoints":[${recent.join(",")}]`, `"threshold":${javaDouble(config.Threshold)}`);
  const evaluated = slots.map((period) =>
    period.value === null
      ? `{"timestamp":${JSON.stringify(jsonTimestamp(period.start))}}`
      : `{"timestamp":${JSON.stringify(jsonTimestamp(period.start))},"sampleCount":${javaDouble(period.sampleCount)},"value":${javaDouble(period.value)}}`,
  );
  fields.push(`"evaluatedDatapoints":[${evaluated.join(",")}]`);
  return `{${fields.join(",")}}`;
}

/** Java's Double.toString for the values CloudWatch prints: integers get ".0". ASSUMPTION: no E-notation (Java uses it from 1e7). */
export function javaDouble(value: number): string {
  if (Number.isInteger(value)) return value.toFixed(1);
  return String(value);
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/** "28/06/22 01:55:00": dd/MM/yy HH:mm:ss, UTC, as in the reason texts. */
export function reasonTimestamp(epochMs: number): string {
  const date = new Date(epochMs);
  return `${pad(date.getUTCDate())}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCFullYear() % 100)} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
}

/** "2022-06-28T01:57:35.603+0000", the timestamp format of reasonData, SNS messages and EventBridge state timestamps. */
export function jsonTimestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace("Z", "+0000");
}
