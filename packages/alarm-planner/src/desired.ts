import { alarmDefinitionFor, type HostSpec, parseInstanceTags, resolveHostSpec, type SpecIssue } from "@procwatch/contract";
import type { DesiredAlarm, DesiredState, InstanceInput, InstanceOutcome, InstanceState, PlannerConfig, ProfileInput } from "./types.ts";

/** Alarm actions follow the instance: a stopped host must not trigger restarts, but its alarms stay for when it starts. */
const ACTIONS_ENABLED_BY_STATE: Readonly<Record<InstanceState, boolean | null>> = {
  pending: true,
  running: true,
  stopping: false,
  stopped: false,
  "shutting-down": null,
  terminated: null,
};

/**
 * The alarms the tags ask for. Instances whose tags (or profile) have any problem get no alarms
 * and carry the contract's issues, so a typo never half-applies a spec.
 */
export function desiredAlarms(instances: readonly InstanceInput[], profiles: ReadonlyMap<string, ProfileInput>, config: PlannerConfig): DesiredState {
  const alarms: DesiredAlarm[] = [];
  const outcomes: InstanceOutcome[] = [];
  const sorted = [...instances].sort((a, b) => compare(a.instanceId, b.instanceId));
  for (const instance of sorted) {
    const outcome = evaluateInstance(instance, profiles, config);
    outcomes.push(outcome.outcome);
    if (outcome.spec === null) continue;
    const actionsEnabled = ACTIONS_ENABLED_BY_STATE[instance.state] === true;
    for (const process of outcome.spec.processes) {
      alarms.push({
        instanceId: instance.instanceId,
        processName: process.name,
        definition: alarmDefinitionFor(instance.instanceId, process, {
          prefix: config.alarmPrefix,
          namespace: config.namespace,
          actions: config.actions,
          actionsEnabled,
        }),
      });
    }
  }
  return { alarms, instances: outcomes };
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
