import { type AlarmDefinition, isProcwatchOwned, parseAlarmName } from "@procwatch/contract";
import { metricChanged } from "./desired.ts";
import type { DesiredAlarm, DesiredState, InstanceOutcome, ObservedAlarm } from "./types.ts";

export const CHANGE_KINDS = ["create", "update", "delete", "disable-actions", "enable-actions", "unchanged"] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface FieldDifference {
  readonly field: string;
  readonly observed: string;
  readonly desired: string;
}

export interface PlannedChange {
  readonly kind: ChangeKind;
  readonly alarmName: string;
  readonly instanceId: string;
  readonly processName: string;
  /** One human sentence: why this change. */
  readonly reason: string;
  /** What PutMetricAlarm sends, for create and update. */
  readonly definition?: AlarmDefinition;
  readonly differences?: readonly FieldDifference[];
  /**
   * Set when this write turns actions on for an alarm that may already be in ALARM (its actions
   * were off, or it now watches another series). CloudWatch runs actions only on a state change, so
   * such an alarm would stay silent while the process is down: after the write, if the alarm is in
   * ALARM, the fleet manager sets it to INSUFFICIENT_DATA (SetAlarmState) and the next evaluation
   * transitions again and acts.
   */
  readonly reevaluate?: true;
}

/** An alarm under the prefix that procwatch does not own (no marker, or a name it did not generate): reported, never touched. */
export interface ForeignAlarm {
  readonly alarmName: string;
  readonly reason: string;
}

/** A desired alarm whose name is already taken by a foreign alarm: procwatch will not overwrite it. */
export interface Conflict {
  readonly alarmName: string;
  readonly instanceId: string;
  readonly processName: string;
  readonly reason: string;
}

export interface InstancePlan {
  readonly instanceId: string;
  readonly outcome?: InstanceOutcome;
  readonly changes: readonly PlannedChange[];
  readonly conflicts: readonly Conflict[];
  /** Owned alarms left exactly as they are because the instance's profile could not be read. */
  readonly heldAlarms: readonly string[];
}

export interface Plan {
  /** Every change except `unchanged`, sorted by alarm name. */
  readonly changes: readonly PlannedChange[];
  /** Names of alarms that already match, in desired order (names only: a no-op plan over 50,000 alarms stays cheap). */
  readonly unchanged: readonly string[];
  /** Per instance (sorted by id): instances with changes, issues or conflicts. */
  readonly instances: readonly InstancePlan[];
  readonly foreign: readonly ForeignAlarm[];
  readonly conflicts: readonly Conflict[];
  readonly counts: Readonly<Record<ChangeKind, number>>;
  /** Instances with tag or profile problems. */
  readonly invalidInstances: readonly InstanceOutcome[];
  /** Instances whose profile could not be read (an AWS error): their alarms are in `heldAlarms`, untouched. */
  readonly unresolvedInstances: readonly InstanceOutcome[];
  /** Owned alarms of `unresolvedInstances`: neither updated, toggled nor deleted by this plan. */
  readonly heldAlarms: readonly string[];
  /** Owned alarms in scope as observed: the base of the mass-delete limit. */
  readonly ownedInScope: number;
}

export interface PlanScope {
  /** When set, only these instances are reconciled; alarms of every other instance are left exactly as they are. */
  readonly instanceIds?: ReadonlySet<string>;
  readonly alarmPrefix: string;
}

/**
 * Diffs the desired alarms against what CloudWatch holds. Only alarms `isProcwatchOwned` says
 * procwatch owns can end up in update/delete/enable/disable; everything else under the prefix
 * is reported as foreign. Pure: the same inputs give the same plan.
 */
export function planReconcile(desired: DesiredState, observed: readonly ObservedAlarm[], scope: PlanScope): Plan {
  const inScope = (instanceId: string) => scope.instanceIds === undefined || scope.instanceIds.has(instanceId);
  const outcomes = new Map(desired.instances.map((outcome) => [outcome.instanceId, outcome]));
  const owned = new Map<string, ObservedAlarm>();
  const foreignByName = new Map<string, ForeignAlarm>();

  for (const alarm of observed) {
    const name = alarm.AlarmName;
    if (name === undefined || !name.startsWith(`${scope.alarmPrefix}/`)) continue;
    if (isProcwatchOwned(alarm, scope.alarmPrefix)) {
      owned.set(name, alarm);
      continue;
    }
    const identity = parseAlarmName(name, scope.alarmPrefix);
    if (identity !== null && !inScope(identity.instanceId)) continue;
    foreignByName.set(name, {
      alarmName: name,
      reason: identity === null ? "name is not <prefix>/<instance-id>/<process>" : "description lacks the procwatch ownership marker",
    });
  }

  const changes: PlannedChange[] = [];
  const unchanged: string[] = [];
  const conflicts: Conflict[] = [];
  const desiredNames = new Set<string>();
  const heldAlarms: string[] = [];
  let ownedInScope = 0;

  for (const alarm of desired.alarms) {
    if (!inScope(alarm.instanceId)) continue;
    const name = alarm.definition.AlarmName;
    desiredNames.add(name);
    const existing = owned.get(name);
    if (existing === undefined) {
      if (foreignByName.has(name)) {
        conflicts.push({
          alarmName: name,
          instanceId: alarm.instanceId,
          processName: alarm.processName,
          reason: "an alarm with this name exists but procwatch does not own it; rename or delete it, or add the ownership marker",
        });
        continue;
      }
      changes.push(change("create", alarm, alarm.definition.ActionsEnabled ? "new alarm" : `new alarm, actions disabled: ${alarm.actionsReason}`));
      continue;
    }
    const differences = diffAlarm(existing, alarm.definition);
    const beyondActions = differences.filter((difference) => difference.field !== "ActionsEnabled");
    const reevaluate = alarm.definition.ActionsEnabled && (existing.ActionsEnabled === false || metricChanged(existing, alarm.definition));
    const armed = reevaluate ? { reevaluate: true as const } : {};
    if (beyondActions.length > 0) {
      changes.push({ ...change("update", alarm, `${beyondActions.map((difference) => difference.field).join(", ")} differ`), differences, ...armed });
    } else if (differences.length > 0) {
      changes.push({ ...change(alarm.definition.ActionsEnabled ? "enable-actions" : "disable-actions", alarm, alarm.actionsReason), differences, ...armed });
    } else {
      unchanged.push(name);
    }
  }

  for (const name of owned.keys()) {
    const identity = parseAlarmName(name, scope.alarmPrefix);
    if (identity === null || !inScope(identity.instanceId)) continue;
    ownedInScope += 1;
    if (desiredNames.has(name)) continue;
    // Without its profile the instance's spec is unknown: deleting or rewriting its alarms on a
    // transient AWS error would drop monitoring; the next run that can read the profile decides.
    if (outcomes.get(identity.instanceId)?.status === "unresolved") {
      heldAlarms.push(name);
      continue;
    }
    changes.push({
      kind: "delete",
      alarmName: name,
      instanceId: identity.instanceId,
      processName: identity.processName,
      reason: deleteReason(outcomes.get(identity.instanceId), identity.processName),
    });
  }

  changes.sort((a, b) => compare(a.alarmName, b.alarmName));
  conflicts.sort((a, b) => compare(a.alarmName, b.alarmName));

  const counts = Object.fromEntries(CHANGE_KINDS.map((kind) => [kind, 0])) as Record<ChangeKind, number>;
  for (const planned of changes) counts[planned.kind] += 1;
  counts.unchanged = unchanged.length;

  heldAlarms.sort(compare);
  const invalidInstances = desired.instances.filter((outcome) => outcome.status === "invalid" && inScope(outcome.instanceId));
  const unresolvedInstances = desired.instances.filter((outcome) => outcome.status === "unresolved" && inScope(outcome.instanceId));
  return {
    changes,
    unchanged,
    instances: groupByInstance(changes, conflicts, [...invalidInstances, ...unresolvedInstances], heldAlarms, scope.alarmPrefix, outcomes),
    foreign: [...foreignByName.values()].sort((a, b) => compare(a.alarmName, b.alarmName)),
    conflicts,
    counts,
    invalidInstances,
    unresolvedInstances,
    heldAlarms,
    ownedInScope,
  };
}

/** A plan may delete at most this share of the owned alarms in scope… */
export const MASS_DELETE_FRACTION = 0.1;
/** …but always at least this many (a small fleet, or an event narrowed to a few hosts, must still converge). */
export const MASS_DELETE_FLOOR = 25;

export interface MassDeleteCheck {
  readonly deletes: number;
  readonly ownedInScope: number;
  /** The most deletes one apply may make without an explicit override. */
  readonly limit: number;
  /** True when the plan deletes more than `limit`: a wrong tag prefix or a deleted shared profile looks exactly like this. */
  readonly exceeded: boolean;
}

/** The mass-delete guard: more than max(10 % of the owned alarms in scope, 25) deletes need an explicit override. */
export function massDeleteCheck(plan: Pick<Plan, "counts" | "ownedInScope">): MassDeleteCheck {
  // deletes > max(fraction × owned, floor) ⇔ deletes > max(⌊fraction × owned⌋, floor) for whole numbers.
  const limit = Math.max(Math.floor(plan.ownedInScope * MASS_DELETE_FRACTION), MASS_DELETE_FLOOR);
  return { deletes: plan.counts.delete, ownedInScope: plan.ownedInScope, limit, exceeded: plan.counts.delete > limit };
}

/** True when applying the plan would change nothing in CloudWatch. */
export function planIsEmpty(plan: Plan): boolean {
  return plan.changes.length === 0;
}

function change(kind: ChangeKind, alarm: DesiredAlarm, reason: string): PlannedChange {
  const planned: PlannedChange = { kind, alarmName: alarm.definition.AlarmName, instanceId: alarm.instanceId, processName: alarm.processName, reason };
  return kind === "create" || kind === "update" ? { ...planned, definition: alarm.definition } : planned;
}

function deleteReason(outcome: InstanceOutcome | undefined, processName: string): string {
  if (outcome === undefined) return "instance is terminated, gone, or no longer tagged for procwatch";
  switch (outcome.status) {
    case "gone":
      return `instance is ${outcome.state}`;
    case "not-opted-in":
      return "instance opted out";
    case "invalid":
      return "instance tags have problems (see issues)";
    case "managed":
      return `${processName} is no longer in the instance's process list`;
    case "unresolved":
      // Never reached: planReconcile holds these alarms instead of deleting them.
      return "the instance's profile could not be read";
  }
}

/**
 * Every field PutMetricAlarm sets is compared, because PutMetricAlarm replaces the whole alarm:
 * a field someone added by hand (Unit, ExtendedStatistic, metric math) is drift too. Written
 * to allocate nothing when the alarm matches: a no-op plan over 50,000 alarms runs this 50,000 times.
 */
export function diffAlarm(observed: ObservedAlarm, desired: AlarmDefinition): FieldDifference[] {
  const differences: FieldDifference[] = [];
  scalar(differences, "AlarmDescription", observed.AlarmDescription, desired.AlarmDescription);
  scalar(differences, "Namespace", observed.Namespace, desired.Namespace);
  scalar(differences, "MetricName", observed.MetricName, desired.MetricName);
  if (!sameDimensions(observed.Dimensions ?? EMPTY_DIMENSIONS, desired.Dimensions)) {
    differences.push({
      field: "Dimensions",
      observed: show(dimensionStrings(observed.Dimensions ?? EMPTY_DIMENSIONS)),
      desired: show(dimensionStrings(desired.Dimensions)),
    });
  }
  scalar(differences, "Statistic", observed.Statistic, desired.Statistic);
  scalar(differences, "ExtendedStatistic", observed.ExtendedStatistic, undefined);
  scalar(differences, "Unit", observed.Unit, undefined);
  if ((observed.Metrics ?? EMPTY).length > 0) differences.push({ field: "Metrics", observed: show(observed.Metrics), desired: "-" });
  scalar(differences, "ThresholdMetricId", observed.ThresholdMetricId, undefined);
  scalar(differences, "EvaluateLowSampleCountPercentile", observed.EvaluateLowSampleCountPercentile, undefined);
  scalar(differences, "Period", observed.Period, desired.Period);
  scalar(differences, "EvaluationPeriods", observed.EvaluationPeriods, desired.EvaluationPeriods);
  // AWS omits DatapointsToAlarm when it equals EvaluationPeriods.
  scalar(differences, "DatapointsToAlarm", observed.DatapointsToAlarm ?? observed.EvaluationPeriods, desired.DatapointsToAlarm);
  scalar(differences, "Threshold", observed.Threshold, desired.Threshold);
  scalar(differences, "ComparisonOperator", observed.ComparisonOperator, desired.ComparisonOperator);
  scalar(differences, "TreatMissingData", observed.TreatMissingData ?? "missing", desired.TreatMissingData);
  list(differences, "AlarmActions", observed.AlarmActions, desired.AlarmActions);
  list(differences, "OKActions", observed.OKActions, desired.OKActions);
  list(differences, "InsufficientDataActions", observed.InsufficientDataActions, desired.InsufficientDataActions);
  scalar(differences, "ActionsEnabled", observed.ActionsEnabled ?? true, desired.ActionsEnabled);
  return differences;
}

function scalar(
  differences: FieldDifference[],
  field: string,
  observedValue: string | number | boolean | undefined,
  desiredValue: string | number | boolean | undefined,
): void {
  if (observedValue !== desiredValue) differences.push({ field, observed: show(observedValue), desired: show(desiredValue) });
}

function list(differences: FieldDifference[], field: string, observedValues: readonly string[] | undefined, desiredValues: readonly string[]): void {
  if (!sameStrings(observedValues ?? EMPTY, desiredValues)) {
    differences.push({ field, observed: show([...(observedValues ?? EMPTY)].sort()), desired: show([...desiredValues].sort()) });
  }
}

const EMPTY: readonly string[] = [];
const EMPTY_DIMENSIONS: readonly { readonly Name?: string; readonly Value?: string }[] = [];

/** Order-insensitive equality for the short lists alarms carry (≤ 30 dimensions, ≤ 5 actions). */
function sameStrings(left: readonly string[], right: readonly string[]): boolean {
  if (left.length !== right.length) return false;
  for (const value of left) if (count(left, value) !== count(right, value)) return false;
  return true;
}

function count(values: readonly string[], wanted: string): number {
  let found = 0;
  for (const value of values) if (value === wanted) found += 1;
  return found;
}

function sameDimensions(
  left: readonly { readonly Name?: string; readonly Value?: string }[],
  right: readonly { readonly Name: string; readonly Value: string }[],
): boolean {
  if (left.length !== right.length) return false;
  for (const dimension of left) {
    let found = false;
    for (const other of right) {
      if (other.Name === dimension.Name && other.Value === dimension.Value) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  // Equal lengths and every left entry present: equal unless left has duplicates, which AWS rejects.
  return true;
}

function dimensionStrings(dimensions: readonly { readonly Name?: string; readonly Value?: string }[]): string[] {
  return dimensions.map((dimension) => `${dimension.Name ?? ""}=${dimension.Value ?? ""}`).sort();
}

function show(value: unknown): string {
  if (value === undefined || value === null) return "-";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function groupByInstance(
  changes: readonly PlannedChange[],
  conflicts: readonly Conflict[],
  problems: readonly InstanceOutcome[],
  heldAlarms: readonly string[],
  alarmPrefix: string,
  outcomes: ReadonlyMap<string, InstanceOutcome>,
): InstancePlan[] {
  const grouped = new Map<string, { changes: PlannedChange[]; conflicts: Conflict[]; heldAlarms: string[] }>();
  const entry = (instanceId: string) => {
    let found = grouped.get(instanceId);
    if (found === undefined) {
      found = { changes: [], conflicts: [], heldAlarms: [] };
      grouped.set(instanceId, found);
    }
    return found;
  };
  for (const planned of changes) entry(planned.instanceId).changes.push(planned);
  for (const conflict of conflicts) entry(conflict.instanceId).conflicts.push(conflict);
  for (const outcome of problems) entry(outcome.instanceId);
  for (const name of heldAlarms) {
    const identity = parseAlarmName(name, alarmPrefix);
    if (identity !== null) entry(identity.instanceId).heldAlarms.push(name);
  }
  return [...grouped.entries()]
    .sort(([a], [b]) => compare(a, b))
    .map(([instanceId, group]) => {
      const outcome = outcomes.get(instanceId);
      return { instanceId, ...(outcome !== undefined ? { outcome } : {}), ...group };
    });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
