import { instanceIdRegex, processNameRegex, systemdUnitRegex } from "@procwatch/contract";
import * as z from "zod";
import { ALARM_STATES } from "../core/model.ts";

/**
 * Schemas for every payload the handler accepts. They bound every string the handler reads
 * (CloudWatch's own limits, rounded up) so a 1 MB value fails here, and they use loose objects:
 * AWS adds fields over time and an unknown field must never turn a real alarm into a drop.
 */
const ACCOUNT_ID = z.string().regex(/^\d{12}$/);
const REGION_CODE = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/);
const ALARM_NAME = z.string().min(1).max(255);
const DESCRIPTION = z.string().max(1024);
const REASON = z.string().max(4096);
const TIMESTAMP = z.string().min(10).max(64);
const ARN = z.string().max(2048);
const alarmState = z.enum(ALARM_STATES);
const DIMENSION_NAME = z.string().min(1).max(255);
const DIMENSION_VALUE = z.string().min(1).max(1024);

export const snsRecordSchema = z.looseObject({
  EventSource: z.literal("aws:sns").optional(),
  Sns: z.looseObject({
    Type: z.string().max(64).optional(),
    MessageId: z.string().max(128).optional(),
    TopicArn: ARN.optional(),
    Subject: z.string().max(1024).nullish(),
    Message: z.string(),
    Timestamp: TIMESTAMP.optional(),
  }),
});

export const snsEventSchema = z.looseObject({
  Records: z.array(snsRecordSchema).min(1).max(10),
});

/** The CloudWatch alarm notification JSON inside `Records[].Sns.Message`. */
export const snsAlarmMessageSchema = z.looseObject({
  AlarmName: ALARM_NAME,
  AlarmDescription: DESCRIPTION.nullish(),
  AWSAccountId: ACCOUNT_ID,
  NewStateValue: alarmState,
  OldStateValue: alarmState.optional(),
  NewStateReason: REASON.default(""),
  StateChangeTime: TIMESTAMP,
  Region: z.string().max(128).optional(),
  AlarmArn: ARN.optional(),
  Trigger: z
    .looseObject({
      MetricName: z.string().max(255).nullish(),
      Namespace: z.string().max(255).nullish(),
      Dimensions: z
        .array(z.looseObject({ name: DIMENSION_NAME, value: DIMENSION_VALUE }))
        .max(30)
        .nullish(),
    })
    .nullish(),
});

const metricsSchema = z
  .array(
    z.looseObject({
      id: z.string().max(255).optional(),
      metricStat: z
        .looseObject({
          metric: z.looseObject({
            namespace: z.string().max(255).optional(),
            name: z.string().max(255).optional(),
            dimensions: z.record(DIMENSION_NAME, DIMENSION_VALUE).optional(),
          }),
        })
        .optional(),
    }),
  )
  .max(20);

const stateSchema = z.looseObject({ value: alarmState, reason: REASON.default(""), reasonData: z.string().max(16_384).optional(), timestamp: TIMESTAMP });
const previousStateSchema = z.looseObject({ value: alarmState, timestamp: TIMESTAMP.optional() });

const alarmDetailSchema = z.looseObject({
  alarmName: ALARM_NAME,
  state: stateSchema,
  previousState: previousStateSchema.optional(),
  configuration: z
    .looseObject({
      description: DESCRIPTION.nullish(),
      metrics: metricsSchema.optional(),
    })
    .optional(),
});

export const eventBridgeAlarmSchema = z.looseObject({
  "detail-type": z.literal("CloudWatch Alarm State Change"),
  source: z.literal("aws.cloudwatch"),
  account: ACCOUNT_ID,
  region: REGION_CODE,
  time: TIMESTAMP.optional(),
  resources: z.array(ARN).max(10).optional(),
  detail: alarmDetailSchema,
});

/** What CloudWatch sends when the Lambda function itself is the alarm action. */
export const lambdaAlarmActionSchema = z.looseObject({
  source: z.literal("aws.cloudwatch"),
  alarmArn: ARN,
  accountId: ACCOUNT_ID,
  region: REGION_CODE,
  time: TIMESTAMP.optional(),
  alarmData: alarmDetailSchema,
});

export const commandStatusEventSchema = z.looseObject({
  "detail-type": z.literal("EC2 Command Invocation Status-change Notification"),
  source: z.literal("aws.ssm"),
  account: ACCOUNT_ID,
  region: REGION_CODE,
  time: TIMESTAMP,
  detail: z.looseObject({
    "command-id": z.string().regex(/^[0-9a-f-]{36}$/),
    "document-name": z.string().min(1).max(2048),
    "instance-id": z.string().regex(instanceIdRegex),
    "requested-date-time": TIMESTAMP.optional(),
    status: z.string().min(1).max(64),
  }),
});

export const budgetResetSchema = z.strictObject({
  action: z.literal("reset-budget"),
  instanceId: z.string().regex(instanceIdRegex, "instanceId is not an EC2 or SSM managed-instance id"),
  processName: z.string().regex(processNameRegex, "processName is not a valid process name"),
  requestedBy: z
    .string()
    .max(128)
    .regex(/^[A-Za-z0-9 @._:/+=-]*$/)
    .optional(),
});

const requestedBy = z
  .string()
  .max(128)
  .regex(/^[A-Za-z0-9 @._:/+=-]*$/)
  .optional();

/** `{"action":"reset-breaker"}` closes the fleet breaker now; `{"action":"trip-breaker"}` opens it on purpose. */
export const breakerRequestSchema = z.strictObject({
  action: z.enum(["reset-breaker", "trip-breaker"]),
  requestedBy,
});

/** What the schedule sends: `{"action":"sweep"}`. */
export const sweepRequestSchema = z.strictObject({ action: z.literal("sweep") });

/** SQS event as Lambda's event source mapping delivers it; `attributes.SenderId` is set by SQS, not by the sender. */
export const sqsRecordSchema = z.looseObject({
  eventSource: z.literal("aws:sqs"),
  messageId: z.string().min(1).max(128),
  body: z.string(),
  attributes: z.looseObject({ SenderId: z.string().min(1).max(256) }),
  eventSourceARN: ARN.optional(),
});

export const sqsEventSchema = z.looseObject({
  Records: z
    .array(z.looseObject({ eventSource: z.literal("aws:sqs") }))
    .min(1)
    .max(10),
});

/** A host report body is small; anything longer is not one (and is not parsed at all). */
export const MAX_HOST_REPORT_BYTES = 4096;
const PID = z.number().int().min(1).max(4_194_304).nullable();

/** What `procwatch-agent local-event` sends: one local restart or escalation of one process on the sending host. */
export const hostReportSchema = z.strictObject({
  type: z.literal("procwatch-host-report"),
  version: z.literal(1),
  kind: z.enum(["local-restart", "local-escalation"]),
  instanceId: z.string().regex(instanceIdRegex, "instanceId is not an EC2 or SSM managed-instance id"),
  process: z.string().regex(processNameRegex, "process is not a valid process name"),
  unit: z.string().max(256).regex(systemdUnitRegex, "unit is not a service unit name").nullable(),
  supervisor: z.enum(["systemd", "procwatch"]),
  beforePid: PID,
  afterPid: PID,
  downMs: z.number().int().min(0).max(86_400_000).nullable(),
  nRestarts: z.number().int().min(0).max(100_000).nullable(),
  budget: z.strictObject({ restarts: z.number().int().min(1).max(100), windowMinutes: z.number().int().min(1).max(1440) }).nullable(),
  recordedAtMs: z.number().int().min(1_000_000_000_000).max(10_000_000_000_000),
});
