import {
  type AlarmDefinition,
  alarmDefinitionFor,
  type HostSpec,
  isProcwatchOwned,
  metricHostOf,
  parseInstanceTags,
  resolveHostSpec,
  type SpecIssue,
} from "@procwatch/contract";
import type {
  DesiredAlarm,
  DesiredContext,
  DesiredState,
  FirstDatapointCheck,
  InstanceInput,
  InstanceOutcome,
  InstanceState,
  ObservedAlarm,
  PlannerConfig,
  ProfileInput,
} from "./types.ts";

/** Alarm actions follow the instance: a stopped host must not trigger restarts, but its alarms stay for when it starts. */
const ACTIONS_ENABLED_BY_STATE: Readonly<Record<InstanceState, boolean | null>> = {
  pending: true,
  running: true,
  stopping: false,
  stopped: false,
  "shutting-down": null,
  terminated: null,
};

/** Used as the reason whenever actions are simply on because the host runs. */
const RUNNING_REASON = "instance is running";
export const AWAITING_FIRST_DATAPOINT = "arming: waiting for the first datapoint of this exact series";

/**
 * How far back a first-datapoint check looks for an alarm that is new or whose metric changed: a
 * series that published in the last few minutes is live now, whatever the alarm's history.
 */
export const RECENT_DATAPOINT_WINDOW_MS = 10 * 60_000;

/**
 * The alarms the tags ask for. Instances whose tags (or profile) have any problem get no alarms
 * and carry the contract's issues, so a typo never half-applies a spec.
 *
 * Actions follow the instance state, and each alarm's own history: missing data is breaching, so
 * an alarm whose exact series does not publish yet would fire at once and send restarts to a host
 * with no agent or allow-list. Such an alarm is *arming* (actions off) until GetMetricData shows a
 * datapoint of that series, or the arming grace has passed. An alarm arms when it is created, when
 * its metric (namespace, name, dimensions, period) changes, and when its host starts again.
 */
export function desiredAlarms(
  instances: readonly InstanceInput[],
  profiles: ReadonlyMap<string, ProfileInput>,
  config: PlannerConfig,
  context: DesiredContext,
): DesiredState {
  const alarms: DesiredAlarm[] = [];
  const outcomes: InstanceOutcome[] = [];
  const firstDatapointChecks: FirstDatapointCheck[] = [];
  const sorted = [...instances].sort((a, b) => compare(a.instanceId, b.instanceId));
  for (const instance of sorted) {
    const outcome = evaluateInstance(instance, profiles, config);
    outcomes.push(outcome.outcome);
    if (outcome.spec === null) continue;
    for (const process of outcome.spec.processes) {
      const enabledByState = ACTIONS_ENABLED_BY_STATE[instance.state] === true;
      const draft = alarmDefinitionFor(metricHostOf(instance), process, {
        prefix: config.alarmPrefix,
        namespace: config.namespace,
        actions: config.actions,
        actionsEnabled: enabledByState,
      });
      const observed = ownedObserved(context.observed.get(draft.AlarmName), config.alarmPrefix);
      const actions = enabledByState ? armingDecision(instance, draft, observed, config, context) : { enabled: false, reason: `instance is ${instance.state}` };
      if (actions.check !== undefined) firstDatapointChecks.push(actions.check);
      const realarm = actions.enabled && observed !== undefined ? realarmReason(observed, config, context.now) : undefined;
      alarms.push({
        instanceId: instance.instanceId,
        processName: process.name,
        definition: actions.enabled === draft.ActionsEnabled ? draft : { ...draft, ActionsEnabled: actions.enabled },
        actionsReason: actions.reason,
        detection: process.detection,
        process,
        ...(realarm !== undefined ? { realarm } : {}),
      });
    }
  }
  return { alarms, instances: outcomes, firstDatapointChecks };
}

/** Identity of a metric series: namespace, name and the full dimension set (order-insensitive). */
export function metricSeriesKey(
  namespace: string,
  metricName: string,
  dimensions: readonly { readonly Name?: string | undefined; readonly Value?: string | undefined }[],
): string {
  const pairs = dimensions.map((dimension) => `${dimension.Name ?? ""}=${dimension.Value ?? ""}`).sort();
  return JSON.stringify([namespace, metricName, pairs]);
}

/**
 * True when an alarm would evaluate a different series, or at a different resolution, than the
 * observed one did: whatever the observed alarm saw says nothing about the new series.
 */
export function metricChanged(observed: ObservedAlarm, definition: AlarmDefinition): boolean {
  // Allocation-free: a no-op plan over 50,000 alarms runs this 50,000 times.
  if (observed.Period !== definition.Period || observed.Namespace !== definition.Namespace || observed.MetricName !== definition.MetricName) return true;
  const dimensions = observed.Dimensions ?? [];
  if (dimensions.length !== definition.Dimensions.length) return true;
  for (const dimension of dimensions) {
    let found = false;
    for (const wanted of definition.Dimensions) {
      if (wanted.Name === dimension.Name && wanted.Value === dimension.Value) {
        found = true;
        break;
      }
    }
    if (!found) return true;
  }
  return false;
}

/**
 * Whether datapoint timestamps (epoch ms, any order) show a series that publishes at the alarm's
 * resolution: one datapoint is enough for a period of a minute or more; a high-resolution alarm
 * needs two datapoints one period apart, which a series published at one-minute resolution (a host
 * still on the standard profile) cannot produce, so a fast alarm is not armed on it.
 */
export function reportsAtResolution(timestamps: readonly number[], periodSeconds: number): boolean {
  if (timestamps.length === 0) return false;
  if (periodSeconds >= 60) return true;
  const seen = new Set(timestamps);
  return timestamps.some((timestamp) => seen.has(timestamp + periodSeconds * 1000));
}

interface ArmingOutcome {
  readonly enabled: boolean;
  readonly reason: string;
  readonly check?: FirstDatapointCheck;
}

function armingDecision(
  instance: InstanceInput,
  definition: AlarmDefinition,
  observed: ObservedAlarm | undefined,
  config: PlannerConfig,
  context: DesiredContext,
): ArmingOutcome {
  if (config.armingGraceMs <= 0) return { enabled: true, reason: RUNNING_REASON };
  const launchedAt = instance.launchTime?.getTime() ?? Number.NEGATIVE_INFINITY;
  const reporting = context.reportingAlarms.has(definition.AlarmName);
  const check = (since: number): FirstDatapointCheck => ({
    alarmName: definition.AlarmName,
    namespace: definition.Namespace,
    metricName: definition.MetricName,
    dimensions: definition.Dimensions,
    period: definition.Period,
    since,
  });

  if (observed === undefined || metricChanged(observed, definition)) {
    // Arming starts now; a series that already publishes arms it at once (no second run needed).
    const since = Math.max(launchedAt, context.now - RECENT_DATAPOINT_WINDOW_MS);
    const what = observed === undefined ? "new alarm" : "metric changed";
    if (reporting) return { enabled: true, reason: `${what}; its series already reports` };
    return {
      enabled: false,
      reason: `${AWAITING_FIRST_DATAPOINT} (${what}; actions go on at the latest after ${formatMinutes(config.armingGraceMs)})`,
      check: check(since),
    };
  }

  const transitionedAt = (observed.StateTransitionedTimestamp ?? observed.StateUpdatedTimestamp)?.getTime();
  if (observed.ActionsEnabled !== false) {
    // An ALARM that began before the host's last start acted (if at all) on an earlier boot; it will
    // not act again until it leaves ALARM, so re-arm it to get a fresh transition.
    const staleAlarm = observed.StateValue === "ALARM" && transitionedAt !== undefined && transitionedAt < launchedAt;
    if (!staleAlarm) return { enabled: true, reason: RUNNING_REASON };
    return {
      enabled: false,
      reason: `${AWAITING_FIRST_DATAPOINT} (in ALARM since before the host started at ${new Date(launchedAt).toISOString()}; re-arming so a process that is down now is restarted)`,
      check: check(launchedAt),
    };
  }

  // Actions are off on a running host: arming since the alarm was last written or the host started.
  const since = Math.max(observed.AlarmConfigurationUpdatedTimestamp?.getTime() ?? Number.NEGATIVE_INFINITY, launchedAt);
  if (reporting) return { enabled: true, reason: "the first datapoint of its series arrived" };
  if (!Number.isFinite(since) || context.now - since >= config.armingGraceMs) {
    return {
      enabled: true,
      reason: `no datapoint within ${formatMinutes(config.armingGraceMs)} of arming: actions on, so a host that never reports is reported`,
    };
  }
  const minutes = Math.floor((context.now - since) / 60_000);
  return {
    enabled: false,
    reason: `${AWAITING_FIRST_DATAPOINT} (arming for ${minutes} min; actions go on at the latest after ${formatMinutes(config.armingGraceMs)})`,
    check: check(since),
  };
}

/** Why an armed alarm should act again: it has been in ALARM for `realarmAfterMs` (see PlannerConfig). */
function realarmReason(observed: ObservedAlarm, config: PlannerConfig, now: number): string | undefined {
  if (config.realarmAfterMs <= 0 || observed.StateValue !== "ALARM" || observed.ActionsEnabled === false) return undefined;
  const since = (observed.StateTransitionedTimestamp ?? observed.StateUpdatedTimestamp)?.getTime();
  if (since === undefined || now - since < config.realarmAfterMs) return undefined;
  return `in ALARM for ${Math.floor((now - since) / 60_000)} min with no new action: re-evaluating so the restart handler acts on it again`;
}

function ownedObserved(alarm: ObservedAlarm | undefined, prefix: string): ObservedAlarm | undefined {
  return alarm !== undefined && isProcwatchOwned(alarm, prefix) ? alarm : undefined;
}

function formatMinutes(milliseconds: number): string {
  const minutes = milliseconds / 60_000;
  return `${Number.isInteger(minutes) ? minutes : minutes.toFixed(1)} min`;
}

/** The profile names instances refer to, so the caller can fetch exactly those. */
export function referencedProfiles(instances: readonly InstanceInput[], tagPrefix: string): string[] {
  const names = new Set<string>();
  for (const instance of instances) {
    const parsed = parseInstanceTags(instance.tags, tagPrefix);
    if (parsed.spec?.enabled === true && parsed.spec.profile !== undefined) names.add(parsed.spec.profile);
  }
  return [...names].sort();
}

function evaluateInstance(
  instance: InstanceInput,
  profiles: ReadonlyMap<string, ProfileInput>,
  config: PlannerConfig,
): { outcome: InstanceOutcome; spec: HostSpec | null } {
  const base = { instanceId: instance.instanceId, state: instance.state, ...(instance.name !== undefined ? { name: instance.name } : {}) };
  if (ACTIONS_ENABLED_BY_STATE[instance.state] === null) {
    return { outcome: { ...base, status: "gone", processNames: [], issues: [] }, spec: null };
  }
  const parsed = parseInstanceTags(instance.tags, config.tagPrefix);
  if (parsed.spec === null) {
    return { outcome: { ...base, status: "invalid", processNames: [], issues: parsed.issues }, spec: null };
  }
  if (!parsed.spec.enabled) {
    return { outcome: { ...base, status: "not-opted-in", processNames: [], issues: [] }, spec: null };
  }
  const profileName = parsed.spec.profile;
  const lookup = profileName === undefined ? undefined : profiles.get(profileName);
  if (lookup !== undefined && !lookup.found && lookup.reason === "unavailable") {
    return {
      outcome: { ...base, profile: profileName as string, status: "unresolved", processNames: [], issues: [], unresolvedReason: lookup.message },
      spec: null,
    };
  }
  const profileIssues: SpecIssue[] = lookup !== undefined && !lookup.found && "issues" in lookup ? [...(lookup.issues ?? [])] : [];
  const resolved = resolveHostSpec({
    tags: parsed.spec,
    profileDocument: lookup === undefined ? null : lookup.found ? lookup.document : null,
    prefix: config.tagPrefix,
    defaultDetection: config.defaultDetection,
  });
  const profile = profileName !== undefined ? { profile: profileName } : {};
  if (resolved.spec === null) {
    return { outcome: { ...base, ...profile, status: "invalid", processNames: [], issues: [...profileIssues, ...resolved.issues] }, spec: null };
  }
  return {
    outcome: { ...base, ...profile, status: "managed", processNames: resolved.spec.processes.map((process) => process.name), issues: [] },
    spec: resolved.spec,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
