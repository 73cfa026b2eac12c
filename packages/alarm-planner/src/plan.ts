import { type AlarmDefinition, alarmDimensionsBeforeHostPinning, isProcwatchOwned, parseAlarmName } from "@procwatch/contract";
import { metricChanged } from "./desired.ts";
import type { DesiredAlarm, DesiredState, InstanceOutcome, ObservedAlarm } from "./types.ts";

export const CHANGE_KINDS = ["create", "update", "delete", "disable-actions", "enable-actions", "realarm", "unchanged"] as const;
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
  /** The instance's state when the change was planned (absent for an instance EC2 no longer lists). */
  readonly instanceState?: string;
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
  /**
   * Set on an update that only moves the alarm from the dimensions an earlier procwatch wrote to
   * today's (contract `alarmDimensionsBeforeHostPinning` → `alarmDimensionsFor`): procwatch's own
   * upgrade, not a setting, so the mass-change guard does not count it.
   */
  readonly upgrade?: "host-pinned-dimensions";
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
  /** Owned alarms in scope as observed. */
  readonly ownedInScope: number;
  /** Instances with owned alarms in scope (sorted): the base of the mass-change limit. */
  readonly instancesWithAlarmsInScope: readonly string[];
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
  const instancesWithAlarms = new Set<string>();

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
      changes.push(
        change(
          "create",
          alarm,
          alarm.definition.ActionsEnabled ? "new alarm" : `new alarm, actions disabled: ${alarm.actionsReason}`,
          outcomes.get(alarm.instanceId)?.state,
        ),
      );
      continue;
    }
    const differences = diffAlarm(existing, alarm.definition);
    const beyondActions = differences.filter((difference) => difference.field !== "ActionsEnabled");
    const reevaluate =
      alarm.definition.ActionsEnabled && (existing.ActionsEnabled === false || metricChanged(existing, alarm.definition) || alarm.realarm !== undefined);
    const armed = reevaluate ? { reevaluate: true as const } : {};
    if (beyondActions.length > 0) {
      const upgrade = isHostPinningUpgrade(existing, alarm, beyondActions);
      const reason = upgrade
        ? "upgrade: the selector reaches the CloudWatch agent as a command-line pattern and the host dimensions are pinned"
        : `${beyondActions.map((difference) => difference.field).join(", ")} differ`;
      changes.push({
        ...change("update", alarm, reason, outcomes.get(alarm.instanceId)?.state),
        differences,
        ...armed,
        ...(upgrade ? { upgrade: "host-pinned-dimensions" as const } : {}),
      });
    } else if (differences.length > 0) {
      changes.push({
        ...change(alarm.definition.ActionsEnabled ? "enable-actions" : "disable-actions", alarm, alarm.actionsReason, outcomes.get(alarm.instanceId)?.state),
        differences,
        ...armed,
      });
    } else if (alarm.realarm !== undefined) {
      // Nothing to write: only the state is reset, after the other changes (see `reevaluate`).
      changes.push({ ...change("realarm", alarm, alarm.realarm, outcomes.get(alarm.instanceId)?.state), reevaluate: true });
    } else {
      unchanged.push(name);
    }
  }

  for (const name of owned.keys()) {
    const identity = parseAlarmName(name, scope.alarmPrefix);
    if (identity === null || !inScope(identity.instanceId)) continue;
    ownedInScope += 1;
    instancesWithAlarms.add(identity.instanceId);
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
    instancesWithAlarmsInScope: [...instancesWithAlarms].sort(compare),
  };
}

/** One apply may rewrite the alarms of at most this share of the instances with alarms in scope… */
export const MASS_CHANGE_FRACTION = 0.1;
/** …but always of at least this many instances (a small fleet, or an event narrowed to a few hosts, must converge). */
export const MASS_CHANGE_FLOOR_INSTANCES = 5;

export type GuardedChangeKind = "delete" | "update";

export interface MassChangeKind {
  /** Instances whose alarms this kind of change touches (the unit of the limit). */
  readonly instances: number;
  readonly alarms: number;
  readonly exceeded: boolean;
}

/** Which alarm names each guarded kind counted: what an apply refuses when that kind is exceeded. */
export type CountedChanges = Readonly<Record<GuardedChangeKind, readonly string[]>>;

export interface MassChangeCheck {
  /** Instances with owned alarms in scope: the base of the limit. */
  readonly instancesWithAlarms: number;
  /** The most instances one kind of change may touch without an explicit override. */
  readonly limit: number;
  readonly delete: MassChangeKind;
  readonly update: MassChangeKind & {
    /** What the updates change, most common first: e.g. `Namespace` on 300 alarms, `CWAgent → CWagent`. */
    readonly fields: readonly { readonly field: string; readonly alarms: number; readonly example: string }[];
  };
  /** Deletes exempt from the limit: EC2 itself reports the instance terminated, or no longer knows it. */
  readonly exemptDeletes: number;
  /** Updates exempt from the limit: procwatch's own upgrade of an alarm's dimensions (`PlannedChange.upgrade`). */
  readonly exemptUpgrades: number;
  readonly exceeded: boolean;
  readonly counted: CountedChanges;
}

/** True when the only difference beyond actions is Dimensions, from exactly the pre-pinning shape of the same process to today's. */
function isHostPinningUpgrade(existing: ObservedAlarm, alarm: DesiredAlarm, beyondActions: readonly FieldDifference[]): boolean {
  if (beyondActions.length !== 1 || beyondActions[0]?.field !== "Dimensions") return false;
  const before = alarmDimensionsBeforeHostPinning(alarm.process, alarm.instanceId);
  const observed = existing.Dimensions ?? [];
  return (
    observed.length === before.length &&
    before.every((dimension) => observed.some((candidate) => candidate.Name === dimension.Name && candidate.Value === dimension.Value))
  );
}

/**
 * The mass-change guard. A namespace typo, a staging restart topic, `--default-detection fast`
 * against hosts that publish every minute, a wrong `--tag-prefix`, a deleted shared profile: each
 * rewrites or deletes the alarms of the whole fleet in one apply, and each passes every per-alarm
 * check. A kind of change (delete, update) that touches the alarms of more than
 * max(10 % of the instances with alarms in scope, 5) instances is refused without an explicit
 * override. The unit is instances, not alarms, so one host with 50 processes opted out is one.
 * Deletes of instances EC2 reports terminated or shutting down, or no longer knows at all, are
 * exempt: EC2, not a setting, decided them.
 *
 * Creates are not refused: they rewrite nothing, a new alarm stays arming (no action) until its
 * series reports, and the mistake that creates a second set of alarms (another alarm prefix) is
 * refused earlier, by the deployed-settings check. A create guard could not tell a shared profile
 * gaining a process from an earlier apply that failed halfway, and would block the second.
 *
 * `ec2States`: for instances with deletes that the inventory did not list (it lists live,
 * tagged instances), what EC2 says when asked by id; an id EC2 no longer knows is absent.
 */
export function massChangeCheck(
  plan: Pick<Plan, "changes" | "instances" | "instancesWithAlarmsInScope">,
  ec2States: ReadonlyMap<string, string>,
): MassChangeCheck {
  const instancesWithAlarms = plan.instancesWithAlarmsInScope.length;
  const limit = Math.max(Math.floor(instancesWithAlarms * MASS_CHANGE_FRACTION), MASS_CHANGE_FLOOR_INSTANCES);
  const outcomes = new Map(plan.instances.map((instance) => [instance.instanceId, instance.outcome]));
  const touched: Record<GuardedChangeKind, { instances: Set<string>; alarms: string[] }> = {
    delete: { instances: new Set(), alarms: [] },
    update: { instances: new Set(), alarms: [] },
  };
  const fields = new Map<string, { alarms: number; example: string }>();
  let exemptDeletes = 0;
  let exemptUpgrades = 0;
  for (const change of plan.changes) {
    if (change.kind === "delete") {
      if (isGoneAccordingToEc2(outcomes.get(change.instanceId), ec2States, change.instanceId)) {
        exemptDeletes += 1;
        continue;
      }
    } else if (change.kind !== "update") {
      continue;
    } else if (change.upgrade !== undefined) {
      exemptUpgrades += 1;
      continue;
    }
    const kind = touched[change.kind];
    kind.instances.add(change.instanceId);
    kind.alarms.push(change.alarmName);
    for (const difference of change.differences ?? []) {
      if (change.kind !== "update" || difference.field === "ActionsEnabled") continue;
      const entry = fields.get(difference.field) ?? { alarms: 0, example: `${difference.observed} → ${difference.desired}` };
      entry.alarms += 1;
      fields.set(difference.field, entry);
    }
  }
  const kindCheck = (kind: GuardedChangeKind): MassChangeKind => ({
    instances: touched[kind].instances.size,
    alarms: touched[kind].alarms.length,
    exceeded: touched[kind].instances.size > limit,
  });
  const deleteCheck = kindCheck("delete");
  const updateCheck = kindCheck("update");
  return {
    instancesWithAlarms,
    limit,
    delete: deleteCheck,
    update: {
      ...updateCheck,
      fields: [...fields.entries()].map(([field, entry]) => ({ field, ...entry })).sort((a, b) => b.alarms - a.alarms || compare(a.field, b.field)),
    },
    exemptDeletes,
    exemptUpgrades,
    exceeded: deleteCheck.exceeded || updateCheck.exceeded,
    counted: { delete: touched.delete.alarms, update: touched.update.alarms },
  };
}

/** EC2's own word: shutting-down or terminated, or no longer known. Never a tag or a setting. */
function isGoneAccordingToEc2(outcome: InstanceOutcome | undefined, ec2States: ReadonlyMap<string, string>, instanceId: string): boolean {
  if (outcome?.status === "gone") return true;
  if (outcome !== undefined) return false;
  const state = ec2States.get(instanceId);
  return state === undefined || state === "shutting-down" || state === "terminated";
}

/** Instances with deletes that the inventory did not list: the ones to ask EC2 about by id. */
export function unlistedInstancesWithDeletes(plan: Pick<Plan, "changes" | "instances">): string[] {
  const listed = new Set(plan.instances.filter((instance) => instance.outcome !== undefined).map((instance) => instance.instanceId));
  return [...new Set(plan.changes.filter((change) => change.kind === "delete" && !listed.has(change.instanceId)).map((change) => change.instanceId))].sort(
    compare,
  );
}

/** True when applying the plan would change nothing in CloudWatch. */
export function planIsEmpty(plan: Plan): boolean {
  return plan.changes.length === 0;
}

function change(kind: ChangeKind, alarm: DesiredAlarm, reason: string, instanceState: string | undefined): PlannedChange {
  const planned: PlannedChange = {
    kind,
    alarmName: alarm.definition.AlarmName,
    instanceId: alarm.instanceId,
    processName: alarm.processName,
    reason,
    ...(instanceState !== undefined ? { instanceState } : {}),
  };
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
