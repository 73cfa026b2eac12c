import { DETECTION_PROFILES, type DetectionProfileName } from "./detection.ts";
import { ContractError } from "./errors.ts";
import { alarmDimensionsFor, DEFAULT_METRIC_NAMESPACE, type Dimension, type MetricHost, PROCSTAT_METRIC_NAME } from "./metric.ts";
import { alarmPrefixRegex, isInstanceId, isProcessName } from "./patterns.ts";
import type { ProcessSpec } from "./spec.ts";

/**
 * Alarm names are `<prefix>/<instance-id>/<process>`. Instance ids and process names never
 * contain `/`, so the name parses back without guesswork.
 *
 * The alarm prefix is the deployment's identity: each stack registers its prefix (one SSM
 * parameter per prefix, so a second stack with the same prefix fails to deploy), the name starts
 * with it, the description's ownership marker names it, and the `procwatch:managed-by` tag
 * carries it. Ownership for the common path needs the name and the marker (decidable from
 * DescribeAlarms output alone); a delete also checks the tag, so neither a look-alike alarm
 * someone copied nor another deployment's alarm is ever removed.
 */
export const DEFAULT_ALARM_PREFIX = "procwatch";
export const OWNERSHIP_TAG_KEY = "procwatch:managed-by";

/** `[procwatch:managed:<prefix>]`, at the start of every description procwatch writes. */
export function ownershipMarkerFor(prefix: string = DEFAULT_ALARM_PREFIX): string {
  return `[procwatch:managed:${prefix}]`;
}

/** The tag procwatch puts on every alarm it creates: which deployment manages it. */
export function ownershipTagFor(prefix: string = DEFAULT_ALARM_PREFIX): { readonly Key: string; readonly Value: string } {
  return { Key: OWNERSHIP_TAG_KEY, Value: prefix };
}

/** The prefix an alarm name starts with (everything before the first `/`), or undefined. */
export function alarmPrefixOf(alarmName: string): string | undefined {
  const slash = alarmName.indexOf("/");
  return slash > 0 ? alarmName.slice(0, slash) : undefined;
}

export function assertAlarmPrefix(prefix: string): void {
  if (!alarmPrefixRegex.test(prefix)) throw new ContractError(`alarm prefix "${prefix}" is not valid: use 1-32 letters, digits, '.', '_' or '-'`);
}

export function alarmNameFor(instanceId: string, processName: string, prefix: string = DEFAULT_ALARM_PREFIX): string {
  if (!isInstanceId(instanceId) || !isProcessName(processName)) {
    throw new ContractError(`cannot name an alarm for instance "${instanceId}" and process "${processName}": validate them with the contract first`);
  }
  return `${prefix}/${instanceId}/${processName}`;
}

export interface AlarmIdentity {
  readonly instanceId: string;
  readonly processName: string;
}

/** Parses `<prefix>/<instance>/<process>`; returns null for anything else, including hostile input. */
export function parseAlarmName(alarmName: string, prefix: string = DEFAULT_ALARM_PREFIX): AlarmIdentity | null {
  const parts = alarmName.split("/");
  if (parts.length !== 3 || parts[0] !== prefix) return null;
  const [, instanceId = "", processName = ""] = parts;
  if (!isInstanceId(instanceId) || !isProcessName(processName)) return null;
  return { instanceId, processName };
}

export function isProcwatchOwned(alarm: { AlarmName?: string; AlarmDescription?: string }, prefix: string = DEFAULT_ALARM_PREFIX): boolean {
  return (
    alarm.AlarmName !== undefined && parseAlarmName(alarm.AlarmName, prefix) !== null && (alarm.AlarmDescription ?? "").startsWith(ownershipMarkerFor(prefix))
  );
}

/** True when an alarm's tags say this deployment manages it (read only for the alarms a run is about to delete). */
export function isManagedByDeployment(tags: Readonly<Record<string, string>>, prefix: string = DEFAULT_ALARM_PREFIX): boolean {
  return tags[OWNERSHIP_TAG_KEY] === prefix;
}

export function alarmDescriptionFor(instanceId: string, process: ProcessSpec, prefix: string = DEFAULT_ALARM_PREFIX): string {
  return `${ownershipMarkerFor(prefix)} ${process.name} on ${instanceId} is down when ${PROCSTAT_METRIC_NAME} < 1 (unit ${process.unit}, ${process.detection} detection). Managed by procwatch-fleet: edits are reverted.`;
}

/** Everything procwatch manages on an alarm, as plain data. Actions are deployment settings, passed in. */
export interface AlarmDefinition {
  readonly AlarmName: string;
  readonly AlarmDescription: string;
  readonly Namespace: string;
  readonly MetricName: string;
  readonly Dimensions: readonly Dimension[];
  readonly Statistic: "Maximum";
  readonly Period: number;
  readonly EvaluationPeriods: number;
  readonly DatapointsToAlarm: number;
  readonly Threshold: 1;
  readonly ComparisonOperator: "LessThanThreshold";
  readonly TreatMissingData: "breaching";
  readonly ActionsEnabled: boolean;
  readonly AlarmActions: readonly string[];
  readonly OKActions: readonly string[];
  readonly InsufficientDataActions: readonly string[];
}

export interface AlarmActions {
  /** Where ALARM goes: the restart topic or the restart Lambda, plus the notification topic. */
  readonly alarmActions: readonly string[];
  readonly okActions: readonly string[];
  readonly insufficientDataActions?: readonly string[];
}

export interface AlarmDefinitionOptions {
  readonly prefix?: string;
  readonly namespace?: string;
  readonly actions: AlarmActions;
  /** False for stopped or stopping instances: a stopped host must not trigger restarts. */
  readonly actionsEnabled?: boolean;
}

/** `host` carries what the agent's dimension placeholders resolve to there (metric.ts `metricHostOf`). */
export function alarmDefinitionFor(host: MetricHost, process: ProcessSpec, options: AlarmDefinitionOptions): AlarmDefinition {
  const { instanceId } = host;
  const profile = DETECTION_PROFILES[process.detection];
  return {
    AlarmName: alarmNameFor(instanceId, process.name, options.prefix),
    AlarmDescription: alarmDescriptionFor(instanceId, process, options.prefix),
    Namespace: options.namespace ?? DEFAULT_METRIC_NAMESPACE,
    MetricName: PROCSTAT_METRIC_NAME,
    Dimensions: alarmDimensionsFor(process, host),
    // Maximum over the period: the alarm fires only when no sample in the period saw the process.
    Statistic: "Maximum",
    Period: profile.alarmPeriodSeconds,
    EvaluationPeriods: profile.evaluationPeriods,
    DatapointsToAlarm: profile.datapointsToAlarm,
    Threshold: 1,
    ComparisonOperator: "LessThanThreshold",
    // A lookup error drops the selector dimension, so a broken host shows as missing data.
    TreatMissingData: "breaching",
    ActionsEnabled: options.actionsEnabled ?? true,
    AlarmActions: [...options.actions.alarmActions],
    OKActions: [...options.actions.okActions],
    InsufficientDataActions: [...(options.actions.insufficientDataActions ?? [])],
  };
}

export function detectionProfileOf(definition: Pick<AlarmDefinition, "Period">): DetectionProfileName {
  return definition.Period < 60 ? "fast" : "standard";
}
