import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { createAdapters, createAwsClients, type FleetAdapters } from "./aws.ts";
import { type FleetConfig, resolveConfig } from "./config.ts";
import { UsageError } from "./errors.ts";
import { interpretEvent } from "./events.ts";
import { type ReconcileResult, reconcile } from "./reconcile.ts";

/** Stop starting writes when less than this is left: the next scheduled run continues where this one stopped. */
const SAFETY_MARGIN_MS = 60_000;

export interface LambdaDependencies {
  readonly config: FleetConfig;
  readonly adapters: Pick<FleetAdapters, "inventory" | "alarms" | "profiles" | "datapoints">;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** ALLOW_MASS_CHANGE=true: apply a mass change (normally refused, everything else applied). */
  readonly allowMassChange?: boolean;
}

export interface LambdaSummary {
  readonly trigger: string;
  readonly scope: readonly string[] | "fleet";
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly actionsDisabled: number;
  readonly actionsEnabled: number;
  /** Alarms reset to INSUFFICIENT_DATA after their actions went on while in ALARM. */
  readonly reevaluated: number;
  readonly failures: number;
  /** Changes skipped because their precondition no longer held (or a delete's managed-by tag was not ours). */
  readonly skipped: number;
  readonly deferred: number;
  readonly invalidInstances: number;
  /** Instances whose profile could not be read: their alarms were left as they are. */
  readonly heldInstances: number;
  readonly foreignAlarms: number;
  /** Changes refused by the mass-change guard (deletes, updates and creates together). */
  readonly refusedChanges: number;
}

export function createHandler(dependencies: LambdaDependencies) {
  const { config, adapters, logger, metrics, allowMassChange } = dependencies;
  return async (event: unknown, context?: Pick<Context, "getRemainingTimeInMillis" | "awsRequestId">): Promise<LambdaSummary> => {
    if (context?.awsRequestId !== undefined) logger.appendKeys({ requestId: context.awsRequestId });
    const interpreted = interpretEvent(event, config.tagPrefix);
    if (interpreted.kind === "ignored") {
      logger.info("event ignored", { reason: interpreted.reason });
      return emptySummary(interpreted.reason);
    }
    const scope = interpreted.kind === "instances" ? interpreted.instanceIds : undefined;
    const trigger = interpreted.kind === "instances" ? interpreted.trigger : "schedule";
    const result = await reconcile({
      ...adapters,
      config,
      mode: "apply",
      ...(scope !== undefined ? { scope } : {}),
      shouldStop: () => context !== undefined && context.getRemainingTimeInMillis() < SAFETY_MARGIN_MS,
      allowMassChange: allowMassChange === true,
    });
    const summary = summarize(result, trigger, scope);
    for (const failure of result.failures.slice(0, 100)) logger.error("change failed", { ...failure });
    for (const outcome of result.plan.invalidInstances.slice(0, 100)) {
      logger.warn("instance tags have problems", {
        instanceId: outcome.instanceId,
        issues: outcome.issues.map((found) => ({ code: found.code, source: found.source, value: found.value })),
      });
    }
    for (const outcome of result.plan.unresolvedInstances.slice(0, 100)) {
      logger.warn("profile could not be read; the instance's alarms are left as they are", {
        instanceId: outcome.instanceId,
        profile: outcome.profile,
        reason: outcome.unresolvedReason,
      });
    }
    for (const skip of result.skipped.slice(0, 100)) logger.warn("change skipped", { ...skip });
    if (summary.refusedChanges > 0) {
      const counted = result.massChange.counted;
      logger.error("mass change refused", {
        refused: result.refused,
        limit: result.massChange.limit,
        instancesWithAlarms: result.massChange.instancesWithAlarms,
        updatedFields: result.massChange.update.fields,
        hint: "check TAG_PREFIX, ALARM_PREFIX, METRIC_NAMESPACE, RESTART_TOPIC_ARN, DEFAULT_DETECTION_PROFILE and the profile parameters the hosts name; set ALLOW_MASS_CHANGE=true for one run if the change is intended",
        sample: result.plan.changes
          .filter((change) => counted.delete.includes(change.alarmName) || counted.update.includes(change.alarmName))
          .slice(0, 10)
          .map((change) => `${change.kind} ${change.alarmName}: ${change.reason}`),
      });
    }
    logger.info("reconcile finished", { ...summary, timings: result.timings });
    // Metadata, not a dimension: the ops alarms and the dashboard address these metrics by
    // `service` alone, and an extra dimension would publish a different metric they never see.
    metrics.addMetadata("trigger", interpreted.kind === "scheduled" ? "schedule" : "event");
    metrics.addMetric("AlarmsCreated", MetricUnit.Count, summary.created);
    metrics.addMetric("AlarmsUpdated", MetricUnit.Count, summary.updated);
    metrics.addMetric("AlarmsDeleted", MetricUnit.Count, summary.deleted);
    metrics.addMetric("AlarmActionsToggled", MetricUnit.Count, summary.actionsDisabled + summary.actionsEnabled);
    metrics.addMetric("ChangeFailures", MetricUnit.Count, summary.failures);
    metrics.addMetric("ChangesDeferred", MetricUnit.Count, summary.deferred);
    metrics.addMetric("InstancesWithTagProblems", MetricUnit.Count, summary.invalidInstances);
    metrics.addMetric("InstancesWithUnreadableProfile", MetricUnit.Count, summary.heldInstances);
    metrics.addMetric("MassChangeRefused", MetricUnit.Count, summary.refusedChanges);
    metrics.addMetric("ChangesSkipped", MetricUnit.Count, summary.skipped);
    metrics.publishStoredMetrics();
    return summary;
  };
}

function summarize(result: ReconcileResult, trigger: string, scope: readonly string[] | undefined): LambdaSummary {
  return {
    trigger,
    scope: scope ?? "fleet",
    ...result.applied,
    failures: result.failures.length,
    skipped: result.skipped.length,
    deferred: result.deferred,
    invalidInstances: result.plan.invalidInstances.length,
    heldInstances: result.plan.unresolvedInstances.length,
    foreignAlarms: result.plan.foreign.length,
    refusedChanges: result.refused.delete + result.refused.update,
  };
}

function emptySummary(trigger: string): LambdaSummary {
  return {
    trigger,
    scope: [],
    created: 0,
    updated: 0,
    deleted: 0,
    actionsDisabled: 0,
    actionsEnabled: 0,
    reevaluated: 0,
    failures: 0,
    skipped: 0,
    deferred: 0,
    invalidInstances: 0,
    heldInstances: 0,
    foreignAlarms: 0,
    refusedChanges: 0,
  };
}

export interface LambdaSettings {
  readonly config: FleetConfig;
  /** ALLOW_MASS_CHANGE: `true` lets one deployment (or one run) apply a mass change. */
  readonly allowMassChange: boolean;
  /** Powertools service name: the stack sets POWERTOOLS_SERVICE_NAME; elsewhere procwatch-fleet. */
  readonly serviceName: string;
}

/** Reads the Lambda's environment (the variables the stack sets); a bad value fails the cold start. */
export function lambdaSettingsFrom(env: Readonly<Record<string, string | undefined>>): LambdaSettings {
  const fromEnv = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const config = resolveConfig(
    {
      alarmPrefix: fromEnv("ALARM_PREFIX"),
      tagPrefix: fromEnv("TAG_PREFIX"),
      namespace: fromEnv("METRIC_NAMESPACE"),
      restartActionArn: fromEnv("RESTART_TOPIC_ARN"),
      defaultDetection: fromEnv("DEFAULT_DETECTION_PROFILE"),
      armingGraceMinutes: fromEnv("ARMING_GRACE_MINUTES"),
      realarmAfterMinutes: fromEnv("REALARM_AFTER_MINUTES"),
    },
    {
      prefix: "ALARM_PREFIX",
      tagPrefix: "TAG_PREFIX",
      namespace: "METRIC_NAMESPACE",
      action: "RESTART_TOPIC_ARN",
      defaultDetection: "DEFAULT_DETECTION_PROFILE",
      armingGrace: "ARMING_GRACE_MINUTES",
      realarmAfter: "REALARM_AFTER_MINUTES",
    },
  );
  if (config.restartActionArns.length === 0) throw new Error("RESTART_TOPIC_ARN is not set: alarms would have no restart action");
  const allowMassChange = fromEnv("ALLOW_MASS_CHANGE") ?? "false";
  if (allowMassChange !== "true" && allowMassChange !== "false") {
    throw new UsageError(`ALLOW_MASS_CHANGE ${JSON.stringify(allowMassChange.slice(0, 40))} is not true or false`, {
      hint: "leave it unset (a mass change is refused) or set true for a run whose changes you checked",
    });
  }
  // An explicit serviceName overrides Powertools' own lookup of POWERTOOLS_SERVICE_NAME, so read it here.
  return { config, allowMassChange: allowMassChange === "true", serviceName: fromEnv("POWERTOOLS_SERVICE_NAME") ?? "procwatch-fleet" };
}

/** The Lambda's one place where configuration is read and clients are built (once per container). */
function fromEnvironment(): ReturnType<typeof createHandler> {
  const { config, serviceName, allowMassChange } = lambdaSettingsFrom(process.env);
  const adapters = createAdapters(createAwsClients({}), { tagPrefix: config.tagPrefix });
  return createHandler({
    config,
    adapters,
    allowMassChange,
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: "procwatch", serviceName }),
  });
}

let cached: ReturnType<typeof createHandler> | undefined;

export const handler = async (event: unknown, context: Context): Promise<LambdaSummary> => {
  cached ??= fromEnvironment();
  return cached(event, context);
};
