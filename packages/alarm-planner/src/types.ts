import type { AlarmActions, AlarmDefinition, DetectionProfileName, ProcessSpec, SpecDocument, SpecIssue } from "@procwatch/contract";

/** EC2 instance states; `absent` is an instance EC2 no longer lists at all. */
export type InstanceState = "pending" | "running" | "stopping" | "stopped" | "shutting-down" | "terminated";

/** One instance as the inventory sees it (structurally the aws-adapters `InstanceRecord`). */
export interface InstanceInput {
  readonly instanceId: string;
  readonly state: InstanceState;
  readonly name?: string;
  readonly tags: Readonly<Record<string, string>>;
  /**
   * When EC2 last launched or started the instance (DescribeInstances `LaunchTime`; a stop/start
   * resets it). Unknown = treated as launched long ago.
   */
  readonly launchTime?: Date;
  /** DescribeInstances `ImageId`/`InstanceType`: alarm dimensions, as the CloudWatch agent pins them (contract `metricHostOf`). */
  readonly imageId?: string;
  readonly instanceType?: string;
}

/**
 * A named profile lookup (structurally the aws-adapters `ProfileLookup`). `unavailable` means the
 * lookup itself failed (throttling, an AWS error, access denied): unlike `missing`, it says nothing
 * about the profile, so hosts naming it keep their alarms exactly as they are.
 */
export type ProfileInput =
  | { readonly found: true; readonly document: SpecDocument }
  | { readonly found: false; readonly reason?: "missing" | "invalid"; readonly issues?: readonly SpecIssue[] }
  | { readonly found: false; readonly reason: "unavailable"; readonly message: string };

export interface PlannerConfig {
  /** Alarm-name prefix (`procwatch`). */
  readonly alarmPrefix: string;
  /** Tag-grammar prefix (`procwatch`). */
  readonly tagPrefix: string;
  /** Metric namespace the agents publish to (`CWAgent`). */
  readonly namespace: string;
  /** ALARM/OK actions of every alarm: the restart topic (or restart Lambda). */
  readonly actions: AlarmActions;
  /**
   * Deployment-wide detection profile for hosts whose tags and profile set none. Must equal the
   * agents' `--default-detection`, or alarm periods would not match the hosts' collection interval.
   */
  readonly defaultDetection: DetectionProfileName;
  /**
   * The longest an alarm stays *arming* (actions off) while waiting for the first datapoint of its
   * exact series after it was created, its metric changed, or its host started. Missing data is
   * breaching, so an alarm armed before its host publishes would fire and restart on a host that
   * has no agent or allow-list yet. Past this ceiling actions go on anyway, so a host that never
   * reports is reported. 0 arms every alarm at once.
   */
  readonly armingGraceMs: number;
  /**
   * An armed alarm that has stayed in ALARM this long is set back to INSUFFICIENT_DATA so that it
   * acts again: CloudWatch runs an alarm's action once per transition, so a process still down
   * after its restart (a failed restart, a spent budget, an alarm the fleet breaker held back)
   * would otherwise never be acted on, or reported, again. 0 turns it off.
   */
  readonly realarmAfterMs: number;
}

/** What the planner needs to know about the world besides instances and profiles; plain data, so planning stays pure. */
export interface DesiredContext {
  /** Current time, epoch milliseconds. */
  readonly now: number;
  /** Alarms under the prefix as DescribeAlarms returned them: an alarm's own history decides whether it is armed. */
  readonly observed: ReadonlyMap<string, ObservedAlarm>;
  /**
   * Names of arming alarms whose exact series reports at the alarm's resolution since arming began
   * (answers to `DesiredState.firstDatapointChecks`, read with GetMetricData). Empty on the first pass.
   */
  readonly reportingAlarms: ReadonlySet<string>;
}

/**
 * One GetMetricData question the planner needs answered before it can arm an alarm: has this exact
 * series (namespace, name, full dimension set) published at the alarm's period since `since`?
 */
export interface FirstDatapointCheck {
  readonly alarmName: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly { readonly Name: string; readonly Value: string }[];
  readonly period: number;
  /** Epoch ms: only datapoints at or after this instant count (not those of an earlier boot or an earlier metric). */
  readonly since: number;
}

/** An alarm as DescribeAlarms returns it (structurally the SDK's `MetricAlarm`), every field optional like the SDK's. */
export interface ObservedAlarm {
  readonly AlarmName?: string;
  readonly AlarmArn?: string;
  readonly AlarmDescription?: string;
  readonly Namespace?: string;
  readonly MetricName?: string;
  readonly Dimensions?: readonly { readonly Name?: string; readonly Value?: string }[];
  readonly Statistic?: string;
  readonly ExtendedStatistic?: string;
  readonly Unit?: string;
  readonly Period?: number;
  readonly EvaluationPeriods?: number;
  readonly DatapointsToAlarm?: number;
  readonly Threshold?: number;
  readonly ThresholdMetricId?: string;
  readonly ComparisonOperator?: string;
  readonly TreatMissingData?: string;
  readonly EvaluateLowSampleCountPercentile?: string;
  readonly Metrics?: readonly unknown[];
  readonly ActionsEnabled?: boolean;
  readonly AlarmActions?: readonly string[];
  readonly OKActions?: readonly string[];
  readonly InsufficientDataActions?: readonly string[];
  readonly StateValue?: string;
  readonly StateReason?: string;
  readonly StateUpdatedTimestamp?: Date;
  /** When StateValue last changed (DescribeAlarms `StateTransitionedTimestamp`). */
  readonly StateTransitionedTimestamp?: Date;
  /** When the alarm was created or its configuration last changed. */
  readonly AlarmConfigurationUpdatedTimestamp?: Date;
}

/** One alarm procwatch wants to exist. */
export interface DesiredAlarm {
  readonly instanceId: string;
  readonly processName: string;
  readonly definition: AlarmDefinition;
  /** Why actions are on or off, as the plan shows it (e.g. "arming: waiting for the first datapoint …"). */
  readonly actionsReason: string;
  /** Set when the alarm has been in ALARM for `realarmAfterMs`: why it is to be re-evaluated. */
  readonly realarm?: string;
  /** The process's detection profile (`local`: supervised on the host too, this alarm is the backstop). */
  readonly detection: DetectionProfileName;
  /** The spec the alarm was derived from (shared with the instance's spec, not a copy). */
  readonly process: ProcessSpec;
}

/**
 * What the planner concluded about one instance:
 * - `managed`: opted in, valid spec, alarms desired (actions on or off by state);
 * - `not-opted-in`: opt-in tag is `false` or missing;
 * - `invalid`: tags or profile have problems; no alarms, issues listed;
 * - `gone`: shutting-down or terminated;
 * - `unresolved`: its profile could not be read (an AWS error, not a missing parameter); its
 *   existing alarms are left exactly as they are until a later run can read it.
 */
export type InstanceStatus = "managed" | "not-opted-in" | "invalid" | "gone" | "unresolved";

export interface InstanceOutcome {
  readonly instanceId: string;
  readonly name?: string;
  readonly state: InstanceState;
  readonly status: InstanceStatus;
  readonly processNames: readonly string[];
  readonly profile?: string;
  readonly issues: readonly SpecIssue[];
  /** For `unresolved`: why the profile could not be read. */
  readonly unresolvedReason?: string;
}

export interface DesiredState {
  readonly alarms: readonly DesiredAlarm[];
  readonly instances: readonly InstanceOutcome[];
  /**
   * Arming alarms whose series the caller should look up (GetMetricData) and pass back as
   * `reportingAlarms` in a second pass. Empty for a settled fleet, so it costs no call.
   */
  readonly firstDatapointChecks: readonly FirstDatapointCheck[];
}
