import { ALARM_PREFIX_PATTERN, DEFAULT_ALARM_PREFIX, DEFAULT_TAG_PREFIX } from "@procwatch/contract";
import * as z from "zod";
import type { FleetBreakerSettings } from "./core/fleet-breaker.ts";
import { ConfigurationError } from "./errors.ts";

/** Everything the handler's decisions depend on besides the event and AWS state; plain data. */
export interface HandlerConfig {
  readonly restartDocumentName: string;
  readonly notificationTopicArn: string;
  readonly stateTableName: string;
  readonly restartBudget: number;
  readonly restartWindowMinutes: number;
  readonly alarmPrefix: string;
  readonly tagPrefix: string;
  /** SendCommand `TimeoutSeconds`: how long SSM may wait for the agent to pick the command up. */
  readonly commandTimeoutSeconds: number;
  readonly commandLogGroup: string;
  /** Region the function runs in; events from other regions are dropped. */
  readonly region: string;
  /** Account events must come from; when unset the handler uses the account in its own function ARN. */
  readonly expectedAccountId?: string;
  /** How long ledger items live after their last write (DynamoDB TTL), days. */
  readonly ledgerRetentionDays: number;
  /** A claim that never recorded a command may be taken over after this many seconds. */
  readonly claimTakeoverSeconds: number;
  /** Fleet-wide circuit breaker and per-host bound (see core/fleet-breaker.ts). */
  readonly fleetBreaker: FleetBreakerSettings;
  /** A restart whose final status has not arrived this long after it was sent is reported as stuck. */
  readonly stuckRestartMinutes: number;
  /** A restart reported done whose alarm is still in ALARM this long after the result is reported as not recovered. */
  readonly recoveryGraceMinutes: number;
}

/** Defaults of the fleet-wide controls (README, "Fleet-wide controls"). */
export const FLEET_DEFAULTS = {
  restartLimit: 20,
  noDataLimit: 10,
  windowMinutes: 5,
  cooldownMinutes: 15,
  hostRestartLimit: 5,
  stuckRestartMinutes: 15,
  recoveryGraceMinutes: 10,
} as const;

const positiveInt = (name: string, fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value.trim() === "") return fallback;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        context.addIssue({ code: "custom", message: `${name} must be an integer from ${min} to ${max}, got "${value}"` });
        return z.NEVER;
      }
      return parsed;
    });

const required = (name: string) => z.string({ error: `${name} is required` }).min(1, `${name} is required`);

const environmentSchema = z.object({
  RESTART_DOCUMENT_NAME: required("RESTART_DOCUMENT_NAME").regex(
    /^[a-zA-Z0-9_.:/-]{3,128}$|^arn:[^\s]{1,2000}$/,
    "RESTART_DOCUMENT_NAME is not an SSM document name",
  ),
  NOTIFICATION_TOPIC_ARN: required("NOTIFICATION_TOPIC_ARN").regex(
    /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/,
    "NOTIFICATION_TOPIC_ARN is not an SNS topic ARN",
  ),
  STATE_TABLE_NAME: required("STATE_TABLE_NAME").regex(/^[a-zA-Z0-9_.-]{3,255}$/, "STATE_TABLE_NAME is not a DynamoDB table name"),
  RESTART_BUDGET: positiveInt("RESTART_BUDGET", 3, 1, 100),
  RESTART_WINDOW_MINUTES: positiveInt("RESTART_WINDOW_MINUTES", 30, 1, 7 * 24 * 60),
  ALARM_PREFIX: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === "" ? DEFAULT_ALARM_PREFIX : value))
    .pipe(z.string().regex(new RegExp(ALARM_PREFIX_PATTERN), "ALARM_PREFIX is not a valid alarm prefix")),
  TAG_PREFIX: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value === "" ? DEFAULT_TAG_PREFIX : value))
    .pipe(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/, "TAG_PREFIX is not a valid tag prefix")),
  // SendCommand accepts 30..2592000; a restart that has not started within an hour is not a restart any more.
  COMMAND_TIMEOUT_SECONDS: positiveInt("COMMAND_TIMEOUT_SECONDS", 120, 30, 3600),
  COMMAND_LOG_GROUP: z.string().optional(),
  AWS_REGION: required("AWS_REGION").regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "AWS_REGION is not a region code"),
  EXPECTED_ACCOUNT_ID: z
    .string()
    .optional()
    .transform((value) => (value === "" ? undefined : value))
    .pipe(
      z
        .string()
        .regex(/^\d{12}$/, "EXPECTED_ACCOUNT_ID must be 12 digits")
        .optional(),
    ),
  LEDGER_RETENTION_DAYS: positiveInt("LEDGER_RETENTION_DAYS", 14, 1, 365),
  CLAIM_TAKEOVER_SECONDS: positiveInt("CLAIM_TAKEOVER_SECONDS", 60, 5, 3600),
  FLEET_RESTART_LIMIT: positiveInt("FLEET_RESTART_LIMIT", FLEET_DEFAULTS.restartLimit, 1, 1000),
  FLEET_NO_DATA_LIMIT: positiveInt("FLEET_NO_DATA_LIMIT", FLEET_DEFAULTS.noDataLimit, 1, 1000),
  FLEET_WINDOW_MINUTES: positiveInt("FLEET_WINDOW_MINUTES", FLEET_DEFAULTS.windowMinutes, 1, 1440),
  FLEET_BREAKER_COOLDOWN_MINUTES: positiveInt("FLEET_BREAKER_COOLDOWN_MINUTES", FLEET_DEFAULTS.cooldownMinutes, 1, 1440),
  HOST_RESTART_LIMIT: positiveInt("HOST_RESTART_LIMIT", FLEET_DEFAULTS.hostRestartLimit, 1, 100),
  STUCK_RESTART_MINUTES: positiveInt("STUCK_RESTART_MINUTES", FLEET_DEFAULTS.stuckRestartMinutes, 5, 1440),
  RECOVERY_GRACE_MINUTES: positiveInt("RECOVERY_GRACE_MINUTES", FLEET_DEFAULTS.recoveryGraceMinutes, 2, 1440),
});

/** Each variable's own value when it is valid on its own; cross-checks only compare valid values. */
function validInt(environment: Readonly<Record<string, string | undefined>>, name: string, fallback: number, min: number, max: number): number | undefined {
  const raw = environment[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const parsed = Number(raw);
  return Number.isInteger(parsed) && parsed >= min && parsed <= max ? parsed : undefined;
}

/** Settings that are valid one by one but not together. */
function crossProblems(environment: Readonly<Record<string, string | undefined>>): string[] {
  const problems: string[] = [];
  const restartLimit = validInt(environment, "FLEET_RESTART_LIMIT", FLEET_DEFAULTS.restartLimit, 1, 1000);
  const noDataLimit = validInt(environment, "FLEET_NO_DATA_LIMIT", FLEET_DEFAULTS.noDataLimit, 1, 1000);
  if (restartLimit !== undefined && noDataLimit !== undefined && noDataLimit > restartLimit) {
    problems.push(
      `FLEET_NO_DATA_LIMIT must be at most FLEET_RESTART_LIMIT (${restartLimit}), got "${environment.FLEET_NO_DATA_LIMIT}": a no-data check is a restart command too, so a higher limit would never apply`,
    );
  }
  const stuck = validInt(environment, "STUCK_RESTART_MINUTES", FLEET_DEFAULTS.stuckRestartMinutes, 5, 1440);
  const timeout = validInt(environment, "COMMAND_TIMEOUT_SECONDS", 120, 30, 3600);
  if (stuck !== undefined && timeout !== undefined && stuck * 60 <= timeout) {
    problems.push(
      `STUCK_RESTART_MINUTES must be longer than COMMAND_TIMEOUT_SECONDS (${timeout} s), got "${environment.STUCK_RESTART_MINUTES}": SSM may still deliver the command until then`,
    );
  }
  return problems;
}

/** The CloudWatch output log group SSM uses when none is configured. */
export function defaultCommandLogGroup(documentName: string): string {
  return `/aws/ssm/${documentName}`;
}

export function configFromEnvironment(environment: Readonly<Record<string, string | undefined>>): HandlerConfig {
  const parsed = environmentSchema.safeParse(environment);
  const problems = [...(parsed.success ? [] : parsed.error.issues.map((issue) => issue.message)), ...crossProblems(environment)];
  if (!parsed.success || problems.length > 0) {
    throw new ConfigurationError(`restart handler configuration is invalid: ${problems.join("; ")}`);
  }
  const env = parsed.data;
  return {
    restartDocumentName: env.RESTART_DOCUMENT_NAME,
    notificationTopicArn: env.NOTIFICATION_TOPIC_ARN,
    stateTableName: env.STATE_TABLE_NAME,
    restartBudget: env.RESTART_BUDGET,
    restartWindowMinutes: env.RESTART_WINDOW_MINUTES,
    alarmPrefix: env.ALARM_PREFIX,
    tagPrefix: env.TAG_PREFIX,
    commandTimeoutSeconds: env.COMMAND_TIMEOUT_SECONDS,
    commandLogGroup:
      env.COMMAND_LOG_GROUP !== undefined && env.COMMAND_LOG_GROUP !== "" ? env.COMMAND_LOG_GROUP : defaultCommandLogGroup(env.RESTART_DOCUMENT_NAME),
    region: env.AWS_REGION,
    ...(env.EXPECTED_ACCOUNT_ID !== undefined ? { expectedAccountId: env.EXPECTED_ACCOUNT_ID } : {}),
    ledgerRetentionDays: env.LEDGER_RETENTION_DAYS,
    claimTakeoverSeconds: env.CLAIM_TAKEOVER_SECONDS,
    fleetBreaker: {
      restartLimit: env.FLEET_RESTART_LIMIT,
      noDataLimit: env.FLEET_NO_DATA_LIMIT,
      windowMinutes: env.FLEET_WINDOW_MINUTES,
      cooldownMinutes: env.FLEET_BREAKER_COOLDOWN_MINUTES,
      hostRestartLimit: env.HOST_RESTART_LIMIT,
      hostWindowMinutes: env.RESTART_WINDOW_MINUTES,
    },
    stuckRestartMinutes: env.STUCK_RESTART_MINUTES,
    recoveryGraceMinutes: env.RECOVERY_GRACE_MINUTES,
  };
}
