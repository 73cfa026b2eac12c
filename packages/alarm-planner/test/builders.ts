import type { AlarmDefinition } from "@procwatch/contract";
import type { DesiredContext, InstanceInput, InstanceState, ObservedAlarm, Plan, PlannerConfig, ProfileInput } from "../src/index.ts";

export const RESTART_TOPIC = "arn:aws:sns:eu-west-1:123456789012:procwatch-restart";

export const config: PlannerConfig = {
  alarmPrefix: "procwatch",
  tagPrefix: "procwatch",
  namespace: "CWAgent",
  actions: { alarmActions: [RESTART_TOPIC], okActions: [RESTART_TOPIC] },
  defaultDetection: "standard",
  // Arming is off here, so tests about other rules see actions follow the instance state only;
  // `armingConfig` turns it on for the tests about arming.
  armingGraceMs: 0,
  // Off here too; the re-alarm tests turn it on.
  realarmAfterMs: 0,
};

export const armingConfig: PlannerConfig = { ...config, armingGraceMs: 45 * 60_000 };

/** A fixed "now" for every test: planning is pure, so time is an input like any other. */
export const NOW = Date.UTC(2025, 5, 2, 12, 0, 0);

/** No alarms observed and no series reporting; instances without a launch time count as launched long ago. */
export const settled: DesiredContext = { now: NOW, observed: new Map(), reportingAlarms: new Set() };

/** The context a reconcile builds from what DescribeAlarms returned (and, on a second pass, what GetMetricData said). */
export function contextFor(observed: readonly ObservedAlarm[], overrides: Partial<DesiredContext> = {}): DesiredContext {
  return { ...settled, observed: new Map(observed.map((alarm) => [alarm.AlarmName ?? "", alarm])), ...overrides };
}

export function minutesAgo(minutes: number): Date {
  return new Date(NOW - minutes * 60_000);
}

let counter = 0;
export function instanceId(seed?: number): string {
  const value = seed ?? ++counter;
  return `i-${value.toString(16).padStart(17, "0")}`;
}

export function instance(
  overrides: { id?: string; state?: InstanceState; processes?: string; tags?: Record<string, string>; enabled?: string; launchTime?: Date } = {},
): InstanceInput {
  const tags: Record<string, string> = { "procwatch:enabled": overrides.enabled ?? "true" };
  if (overrides.processes !== undefined) tags["procwatch:processes"] = overrides.processes;
  return {
    instanceId: overrides.id ?? instanceId(),
    state: overrides.state ?? "running",
    tags: { ...tags, ...(overrides.tags ?? {}) },
    ...(overrides.launchTime !== undefined ? { launchTime: overrides.launchTime } : {}),
  };
}

export const noProfiles: ReadonlyMap<string, ProfileInput> = new Map();

/** What DescribeAlarms would return for an alarm created from `definition`. */
export function observedFrom(definition: AlarmDefinition, overrides: Partial<ObservedAlarm> = {}): ObservedAlarm {
  return {
    ...definition,
    Dimensions: definition.Dimensions.map((dimension) => ({ ...dimension })),
    AlarmActions: [...definition.AlarmActions],
    OKActions: [...definition.OKActions],
    InsufficientDataActions: [...definition.InsufficientDataActions],
    StateValue: "INSUFFICIENT_DATA",
    ...overrides,
  };
}

/** What CloudWatch holds after every change of `plan` succeeded (the semantics of the AWS calls, as plain data). */
export function applyToObserved(plan: Plan, observed: readonly ObservedAlarm[], at: number = NOW): ObservedAlarm[] {
  const byName = new Map(observed.map((alarm) => [alarm.AlarmName ?? "", alarm]));
  for (const change of plan.changes) {
    const existing = byName.get(change.alarmName);
    switch (change.kind) {
      case "create":
      case "update":
        if (change.definition === undefined) throw new Error(`${change.kind} without definition`);
        // PutMetricAlarm keeps an existing alarm's state and stamps the configuration change.
        byName.set(
          change.alarmName,
          observedFrom(change.definition, {
            StateValue: existing?.StateValue ?? "INSUFFICIENT_DATA",
            AlarmConfigurationUpdatedTimestamp: new Date(at),
            ...(existing?.StateTransitionedTimestamp !== undefined ? { StateTransitionedTimestamp: existing.StateTransitionedTimestamp } : {}),
          }),
        );
        break;
      case "delete":
        byName.delete(change.alarmName);
        break;
      case "disable-actions":
      case "enable-actions":
        if (existing === undefined) throw new Error(`${change.kind} of a missing alarm`);
        byName.set(change.alarmName, { ...existing, ActionsEnabled: change.kind === "enable-actions" });
        break;
      case "unchanged":
        break;
    }
  }
  return [...byName.values()];
}
