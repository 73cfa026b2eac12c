import { type AlarmDefinition, alarmDefinitionFor, type HostSpec, parseInstanceTags, resolveHostSpec, type SpecIssue } from "@procwatch/contract";
import type { DesiredAlarm, DesiredContext, DesiredState, InstanceInput, InstanceOutcome, InstanceState, PlannerConfig, ProfileInput } from "./types.ts";

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
export const AWAITING_FIRST_DATAPOINT = "waiting for the host's first datapoint";

/**
 * The alarms the tags ask for. Instances whose tags (or profile) have any problem get no alarms
 * and carry the contract's issues, so a typo never half-applies a spec.
 *
 * Actions follow the instance state, with one more rule for hosts that just launched: missing
 * data is breaching, so a new host's alarm would fire before install/configure have run. Its
 * actions stay off until the alarm's exact metric exists or the launch grace has passed.
 */
export function desiredAlarms(
  instances: readonly InstanceInput[],
  profiles: ReadonlyMap<string, ProfileInput>,
  config: PlannerConfig,
  context: DesiredContext,
): DesiredState {
  const alarms: DesiredAlarm[] = [];
  const outcomes: InstanceOutcome[] = [];
  const sorted = [...instances].sort((a, b) => compare(a.instanceId, b.instanceId));
  for (const instance of sorted) {
    const outcome = evaluateInstance(instance, profiles, config);
    outcomes.push(outcome.outcome);
    if (outcome.spec === null) continue;
    for (const process of outcome.spec.processes) {
      const enabledByState = ACTIONS_ENABLED_BY_STATE[instance.state] === true;
      const draft = alarmDefinitionFor(instance.instanceId, process, {
        prefix: config.alarmPrefix,
        namespace: config.namespace,
        actions: config.actions,
        actionsEnabled: enabledByState,
      });
      const actions = enabledByState ? actionsForLiveInstance(instance, draft, config, context) : { enabled: false, reason: `instance is ${instance.state}` };
      alarms.push({
        instanceId: instance.instanceId,
        processName: process.name,
        definition: actions.enabled === draft.ActionsEnabled ? draft : { ...draft, ActionsEnabled: actions.enabled },
        actionsReason: actions.reason,
      });
    }
  }
  return { alarms, instances: outcomes };
}

/**
 * Running or pending instances still inside their launch grace: the only ones whose metrics
 * matter to the plan, so the caller can look up just their series (or skip ListMetrics entirely).
 */
export function instancesInLaunchGrace(instances: readonly InstanceInput[], config: Pick<PlannerConfig, "launchGraceMs">, now: number): string[] {
  return instances
    .filter((instance) => ACTIONS_ENABLED_BY_STATE[instance.state] === true && withinGrace(instance, config.launchGraceMs, now))
    .map((instance) => instance.instanceId)
    .sort(compare);
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

function actionsForLiveInstance(
  instance: InstanceInput,
  definition: AlarmDefinition,
  config: PlannerConfig,
  context: DesiredContext,
): { enabled: boolean; reason: string } {
  if (!withinGrace(instance, config.launchGraceMs, context.now)) return { enabled: true, reason: RUNNING_REASON };
  if (context.reportingSeries.has(metricSeriesKey(definition.Namespace, definition.MetricName, definition.Dimensions))) {
    return { enabled: true, reason: "the host's first datapoint arrived" };
  }
  const minutes = Math.floor((context.now - (instance.launchTime?.getTime() ?? 0)) / 60_000);
  return {
    enabled: false,
    reason: `${AWAITING_FIRST_DATAPOINT} (launched ${minutes} min ago; actions go on after ${formatMinutes(config.launchGraceMs)} at the latest)`,
  };
}

function withinGrace(instance: InstanceInput, graceMs: number, now: number): boolean {
  if (instance.launchTime === undefined || graceMs <= 0) return false;
  return now - instance.launchTime.getTime() < graceMs;
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
