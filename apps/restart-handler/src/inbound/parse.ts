import { type Dimension, printableValue, sortDimensions } from "@procwatch/contract";
import type { z } from "zod";
import type { AlarmTransition, InboundItem, RejectReason } from "../core/model.ts";
import {
  breakerRequestSchema,
  budgetResetSchema,
  commandStatusEventSchema,
  eventBridgeAlarmSchema,
  hostReportSchema,
  lambdaAlarmActionSchema,
  MAX_HOST_REPORT_BYTES,
  snsAlarmMessageSchema,
  snsEventSchema,
  sqsEventSchema,
  sqsRecordSchema,
  sweepRequestSchema,
} from "./schemas.ts";

/**
 * Turns whatever Lambda was invoked with into a list of items the handler understands. It never
 * throws: anything it cannot read becomes a `rejected` item with a reason, which the handler
 * logs once and drops.
 */
export function parseInbound(raw: unknown): InboundItem[] {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return [rejected("malformed-event", `event is ${raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw}, not an object`)];
  }
  const event = raw as Record<string, unknown>;
  if ("Records" in event && isSqsEvent(event)) return parseSqsEvent(event);
  if ("Records" in event) return parseSnsEvent(event);
  if (event["detail-type"] === "CloudWatch Alarm State Change") return [parseEventBridgeAlarm(event)];
  if (event["detail-type"] === "EC2 Command Invocation Status-change Notification") return [parseCommandStatus(event)];
  if ("alarmData" in event) return [parseLambdaAlarmAction(event)];
  if (event.action === "sweep")
    return [sweepRequestSchema.safeParse(event).success ? { kind: "sweep" } : rejected("unknown-event", "a sweep request carries no other keys")];
  if (event.action === "reset-breaker" || event.action === "trip-breaker") return [parseBreakerRequest(event)];
  if ("action" in event) return [parseResetRequest(event)];
  const detailType = typeof event["detail-type"] === "string" ? ` (detail-type "${printableValue(event["detail-type"])}")` : "";
  return [rejected("unknown-event", `not an alarm, command status or reset-budget event${detailType}`)];
}

function parseSnsEvent(event: Record<string, unknown>): InboundItem[] {
  const envelope = snsEventSchema.safeParse(event);
  if (!envelope.success) return [rejected("malformed-event", `SNS envelope: ${describeIssues(envelope.error)}`)];
  return envelope.data.Records.map((record): InboundItem => {
    let message: unknown;
    try {
      message = JSON.parse(record.Sns.Message);
    } catch {
      return rejected("malformed-sns-message", `Sns.Message is not JSON: "${printableValue(record.Sns.Message)}"`);
    }
    const parsed = snsAlarmMessageSchema.safeParse(message);
    if (!parsed.success) return rejected("malformed-alarm", `SNS alarm message: ${describeIssues(parsed.error)}`);
    const alarm = parsed.data;
    const time = normalizeTimestamp(alarm.StateChangeTime);
    if (time === null) return rejected("malformed-alarm", `StateChangeTime "${printableValue(alarm.StateChangeTime)}" is not a timestamp`);
    const dimensions = alarm.Trigger?.Dimensions ?? undefined;
    const region = regionOfArn(alarm.AlarmArn) ?? regionOfArn(record.Sns.TopicArn);
    return {
      kind: "alarm",
      transition: {
        route: "sns",
        alarmName: alarm.AlarmName,
        ...(alarm.AlarmArn !== undefined ? { alarmArn: alarm.AlarmArn } : {}),
        ...(alarm.AlarmDescription !== undefined ? { description: alarm.AlarmDescription } : {}),
        accountId: alarm.AWSAccountId,
        ...(region !== undefined ? { region } : {}),
        state: alarm.NewStateValue,
        ...(alarm.OldStateValue !== undefined ? { previousState: alarm.OldStateValue } : {}),
        stateChangeTime: time,
        reason: alarm.NewStateReason,
        ...(alarm.Trigger?.Namespace ? { namespace: alarm.Trigger.Namespace } : {}),
        ...(alarm.Trigger?.MetricName ? { metricName: alarm.Trigger.MetricName } : {}),
        ...(dimensions !== undefined && dimensions.length > 0
          ? { dimensions: sortDimensions(dimensions.map((dimension) => ({ Name: dimension.name, Value: dimension.value }))) }
          : {}),
      },
    };
  });
}

function isSqsEvent(event: Record<string, unknown>): boolean {
  const records = event.Records;
  return Array.isArray(records) && records.length > 0 && (records[0] as { eventSource?: unknown } | null)?.eventSource === "aws:sqs";
}

/**
 * The `host-reports` queue: one host report per message. The sender is SQS's `SenderId` system
 * attribute (who signed SendMessage), never anything in the body; the handler compares the two.
 */
function parseSqsEvent(event: Record<string, unknown>): InboundItem[] {
  const envelope = sqsEventSchema.safeParse(event);
  if (!envelope.success) return [rejected("malformed-event", `SQS envelope: ${describeIssues(envelope.error)}`)];
  return envelope.data.Records.map((raw): InboundItem => {
    const record = sqsRecordSchema.safeParse(raw);
    const messageId = typeof raw.messageId === "string" ? raw.messageId.slice(0, 128) : undefined;
    const withId = (item: InboundItem): InboundItem => (item.kind === "rejected" && messageId !== undefined ? { ...item, messageId } : item);
    if (!record.success) return withId(rejected("malformed-host-report", `SQS record: ${describeIssues(record.error)}`));
    const { body, attributes } = record.data;
    if (Buffer.byteLength(body, "utf8") > MAX_HOST_REPORT_BYTES)
      return withId(rejected("malformed-host-report", `body is ${Buffer.byteLength(body, "utf8")} bytes; a host report is at most ${MAX_HOST_REPORT_BYTES}`));
    let message: unknown;
    try {
      message = JSON.parse(body);
    } catch {
      return withId(rejected("malformed-host-report", `body is not JSON: "${printableValue(body)}"`));
    }
    const report = hostReportSchema.safeParse(message);
    if (!report.success) return withId(rejected("malformed-host-report", `host report: ${describeIssues(report.error)}`));
    const { type: _type, version: _version, ...fields } = report.data;
    return { kind: "host-report", delivery: { messageId: record.data.messageId, senderId: attributes.SenderId, report: fields } };
  });
}

type AlarmDetail = z.infer<typeof eventBridgeAlarmSchema>["detail"];

function transitionFromDetail(
  route: "eventbridge" | "lambda-action",
  detail: AlarmDetail,
  accountId: string,
  region: string,
  alarmArn: string | undefined,
): InboundItem {
  const time = normalizeTimestamp(detail.state.timestamp);
  if (time === null) return rejected("malformed-alarm", `state.timestamp "${printableValue(detail.state.timestamp)}" is not a timestamp`);
  const metrics = detail.configuration?.metrics ?? [];
  // Only a single-metric alarm names one metric unambiguously; procwatch alarms are single-metric.
  const metric = metrics.length === 1 ? metrics[0]?.metricStat?.metric : undefined;
  const dimensions: Dimension[] | undefined =
    metric?.dimensions !== undefined && Object.keys(metric.dimensions).length > 0
      ? sortDimensions(Object.entries(metric.dimensions).map(([Name, Value]) => ({ Name, Value })))
      : undefined;
  const description = detail.configuration === undefined ? undefined : (detail.configuration.description ?? null);
  const transition: AlarmTransition = {
    route,
    alarmName: detail.alarmName,
    ...(alarmArn !== undefined ? { alarmArn } : {}),
    ...(description !== undefined ? { description } : {}),
    accountId,
    region,
    state: detail.state.value,
    ...(detail.previousState !== undefined ? { previousState: detail.previousState.value } : {}),
    stateChangeTime: time,
    reason: detail.state.reason,
    ...(detail.state.reasonData !== undefined ? { reasonData: detail.state.reasonData } : {}),
    ...(metric?.namespace !== undefined ? { namespace: metric.namespace } : {}),
    ...(metric?.name !== undefined ? { metricName: metric.name } : {}),
    ...(dimensions !== undefined ? { dimensions } : {}),
  };
  return { kind: "alarm", transition };
}

function parseEventBridgeAlarm(event: Record<string, unknown>): InboundItem {
  const parsed = eventBridgeAlarmSchema.safeParse(event);
  if (!parsed.success) return rejected("malformed-alarm", `EventBridge alarm event: ${describeIssues(parsed.error)}`);
  const { detail, account, region, resources } = parsed.data;
  const alarmArn = resources?.find((resource) => resource.includes(":alarm:"));
  return transitionFromDetail("eventbridge", detail, account, region, alarmArn);
}

function parseLambdaAlarmAction(event: Record<string, unknown>): InboundItem {
  const parsed = lambdaAlarmActionSchema.safeParse(event);
  if (!parsed.success) return rejected("malformed-alarm", `Lambda alarm action: ${describeIssues(parsed.error)}`);
  const { alarmData, accountId, region, alarmArn } = parsed.data;
  return transitionFromDetail("lambda-action", alarmData, accountId, region, alarmArn);
}

function parseCommandStatus(event: Record<string, unknown>): InboundItem {
  const parsed = commandStatusEventSchema.safeParse(event);
  if (!parsed.success) return rejected("malformed-command-status", `command status event: ${describeIssues(parsed.error)}`);
  const { detail, account, region, time } = parsed.data;
  return {
    kind: "command-status",
    change: {
      commandId: detail["command-id"],
      instanceId: detail["instance-id"],
      documentName: detail["document-name"],
      status: detail.status,
      accountId: account,
      region,
      eventTime: normalizeTimestamp(time) ?? time,
    },
  };
}

function parseResetRequest(event: Record<string, unknown>): InboundItem {
  const parsed = budgetResetSchema.safeParse(event);
  if (!parsed.success) return rejected("malformed-reset-request", `reset-budget request: ${describeIssues(parsed.error)}`);
  const { instanceId, processName, requestedBy } = parsed.data;
  return { kind: "reset-budget", request: { instanceId, processName, ...(requestedBy !== undefined ? { requestedBy } : {}) } };
}

function parseBreakerRequest(event: Record<string, unknown>): InboundItem {
  const parsed = breakerRequestSchema.safeParse(event);
  if (!parsed.success) return rejected("malformed-breaker-request", `${String(event.action)} request: ${describeIssues(parsed.error)}`);
  const { action, requestedBy } = parsed.data;
  return { kind: "breaker", request: { action, ...(requestedBy !== undefined ? { requestedBy } : {}) } };
}

function rejected(reason: RejectReason, detail: string): InboundItem {
  return { kind: "rejected", reason, detail };
}

/** `path: message` for the first few issues; values are never echoed unbounded. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)"}: ${printableValue(issue.message)}`)
    .join("; ");
}

const TIMESTAMP_PATTERN = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * CloudWatch writes `2022-06-28T01:57:35.603+0000`; EventBridge `…Z`. Both routes must give the
 * same idempotency key for the same transition, so the time is normalized to ISO-8601 UTC.
 */
export function normalizeTimestamp(value: string): string | null {
  const match = TIMESTAMP_PATTERN.exec(value);
  if (match === null) return null;
  const [, date, time, fraction = "", zone = "Z"] = match;
  const millis = fraction === "" ? "" : fraction.slice(0, 4).padEnd(4, "0");
  const offset = zone === "Z" ? "Z" : zone.includes(":") ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const epoch = Date.parse(`${date}T${time}${millis}${offset}`);
  if (!Number.isFinite(epoch)) return null;
  return new Date(epoch).toISOString();
}

/** `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:name` → `eu-west-1`. */
export function regionOfArn(arn: string | undefined): string | undefined {
  if (arn === undefined) return undefined;
  const region = arn.split(":")[3];
  return region !== undefined && /^[a-z]{2}(-[a-z]+)+-\d$/.test(region) ? region : undefined;
}

export function accountOfArn(arn: string | undefined): string | undefined {
  if (arn === undefined) return undefined;
  const account = arn.split(":")[4];
  return account !== undefined && /^\d{12}$/.test(account) ? account : undefined;
}
