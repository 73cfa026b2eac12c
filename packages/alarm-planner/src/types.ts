import type { AlarmActions, AlarmDefinition, DetectionProfileName, SpecDocument, SpecIssue } from "@procwatch/contract";

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
   * How long after launch a running host's alarm actions stay off while its metric does not exist
   * yet (install and configure have not run): missing data is breaching, so without this every
   * new host would raise an incident before its agent reports. 0 turns the grace off.
   */
  readonly launchGraceMs: number;
}

/** What the planner needs to know about the world besides instances and profiles; plain data, so planning stays pure. */
export interface DesiredContext {
  /** Current time, epoch milliseconds. */
  readonly now: number;
  /**
   * `metricSeriesKey`s of the metric series that exist (ListMetrics). Only consulted for hosts still
   * inside their launch grace, so callers may list just those hosts' series.
   */
  readonly reportingSeries: ReadonlySet<string>;
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
}

/** One alarm procwatch wants to exist. */
export interface DesiredAlarm {
  readonly instanceId: string;
  readonly processName: string;
  readonly definition: AlarmDefinition;
  /** Why actions are on or off, as the plan shows it (e.g. "waiting for the host's first datapoint"). */
  readonly actionsReason: string;
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
}
