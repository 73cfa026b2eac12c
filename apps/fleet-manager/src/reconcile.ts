import {
  type DesiredContext,
  type DesiredState,
  desiredAlarms,
  type FirstDatapointCheck,
  type GuardedChangeKind,
  type InstanceInput,
  type MassChangeCheck,
  massChangeCheck,
  type ObservedAlarm,
  type Plan,
  type PlannedChange,
  type PlannerConfig,
  type ProfileInput,
  planReconcile,
  referencedProfiles,
  reportsAtResolution,
  unlistedInstancesWithDeletes,
} from "@procwatch/alarm-planner";
import { MAX_NAMES_PER_BATCH } from "@procwatch/aws-adapters";
import { type AlarmDefinition, describeHostDimensions, hostDimensionsFor, metricHostOf } from "@procwatch/contract";
import type { FleetConfig } from "./config.ts";

/** The slices of the aws-adapters classes reconcile uses; tests and benchmarks pass the real adapters over the fake. */
export interface InventoryPort {
  /** Live instances carrying the opt-in tag key (any value). */
  listTagged(options?: { instanceIds?: readonly string[] }): Promise<readonly InstanceInput[]>;
  /** The named instances in whatever state EC2 reports, terminated included; ids EC2 no longer knows are absent. */
  describe(instanceIds: readonly string[]): Promise<readonly InstanceInput[]>;
}
export interface ProfilePort {
  /** Must report a failed lookup as `{found:false, reason:"unavailable"}`, never as missing (ProfileStore.lookupProfiles). */
  lookupProfiles(names: Iterable<string>): Promise<ReadonlyMap<string, ProfileInput>>;
}
export interface AlarmPort {
  listByPrefix(namePrefix: string): Promise<readonly ObservedAlarm[]>;
  describeByNames(alarmNames: readonly string[]): Promise<readonly ObservedAlarm[]>;
  setState(alarmName: string, state: "INSUFFICIENT_DATA", reason: string): Promise<void>;
  put(definition: AlarmDefinition, create: { instanceId: string; processName: string } | null): Promise<void>;
  delete(alarmNames: readonly string[]): Promise<BatchResult>;
  disableActions(alarmNames: readonly string[]): Promise<BatchResult>;
  enableActions(alarmNames: readonly string[]): Promise<BatchResult>;
  /** Which of these alarms carry this deployment's `procwatch:managed-by` tag (read right before deleting them). */
  managedByDeployment(
    alarmNames: readonly string[],
    prefix: string,
  ): Promise<{ managed: readonly string[]; notManaged: readonly { alarmName: string; owner: string | undefined }[] }>;
}
/** GetMetricData for the few series of alarms that are arming (the aws-adapters `MetricDatapointReader`). */
export interface DatapointPort {
  datapointTimestamps(
    queries: readonly {
      key: string;
      namespace: string;
      metricName: string;
      dimensions: readonly { Name: string; Value: string }[];
      period: number;
      since: number;
    }[],
    now: number,
  ): Promise<ReadonlyMap<string, readonly number[]>>;
}
export interface BatchResult {
  readonly succeeded: readonly string[];
  readonly failed: readonly { alarmName: string; error: Error & { retryable?: boolean } }[];
}

export type ReconcileMode = "plan" | "apply";

export interface Progress {
  readonly phase: "read" | "apply";
  readonly done: number;
  readonly total: number;
  readonly message?: string;
}

export interface ReconcileOptions {
  readonly inventory: InventoryPort;
  readonly alarms: AlarmPort;
  readonly profiles: ProfilePort;
  /** GetMetricData, only consulted for alarms that are arming (none in a settled fleet). */
  readonly datapoints: DatapointPort;
  readonly config: FleetConfig;
  /** Instance ids an event names; omitted = the whole fleet. */
  readonly scope?: readonly string[];
  readonly mode: ReconcileMode;
  readonly onProgress?: (progress: Progress) => void;
  /** Parallel PutMetricAlarm calls; the rate limiter still caps the rate (default 4). */
  readonly concurrency?: number;
  /** Asked before each write; returning true stops starting new ones (e.g. a Lambda nearing its timeout). */
  readonly shouldStop?: () => boolean;
  /** Monotonic milliseconds for timings (default performance.now). */
  readonly now?: () => number;
  /** Epoch milliseconds, compared with instances' LaunchTime (default Date.now; tests pass the fake's clock). */
  readonly wallTime?: () => number;
  /**
   * Apply a mass change anyway (CLI `--allow-mass-change`, Lambda `ALLOW_MASS_CHANGE=true`).
   * Without it, the kinds of change the mass-change guard flags are refused; the rest is applied.
   */
  readonly allowMassChange?: boolean;
}

/** A planned change that apply did not make because the world had moved on since the plan. */
export interface SkippedChange {
  readonly alarmName: string;
  readonly instanceId: string;
  readonly kind: string;
  readonly reason: string;
}

export interface ApplyFailure {
  readonly alarmName: string;
  readonly instanceId: string;
  readonly operation: string;
  readonly message: string;
  readonly retryable: boolean;
}

export interface AppliedCounts {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly actionsDisabled: number;
  readonly actionsEnabled: number;
  /** Alarms found in ALARM right after their actions went on, set to INSUFFICIENT_DATA so the next evaluation acts. */
  readonly reevaluated: number;
}

export interface ReconcileResult {
  readonly mode: ReconcileMode;
  readonly desired: DesiredState;
  readonly plan: Plan;
  readonly applied: AppliedCounts;
  readonly failures: readonly ApplyFailure[];
  /** Changes not attempted because `shouldStop` said so; the next run picks them up. */
  readonly deferred: number;
  /** The plan's mass-change check (see `massChangeCheck`). */
  readonly massChange: MassChangeCheck;
  /** Changes not attempted because their kind exceeded the mass-change limit without an override, by kind. */
  readonly refused: Readonly<Record<GuardedChangeKind, number>>;
  /** Changes whose precondition no longer held when apply reached them (re-checked just before each write). */
  readonly skipped: readonly SkippedChange[];
  readonly observedAlarmCount: number;
  readonly instanceCount: number;
  readonly timings: { readonly readMs: number; readonly planMs: number; readonly applyMs: number };
}

/** Above this many scoped instances one full prefix scan is cheaper than one scan per instance. */
const PER_INSTANCE_SCAN_LIMIT = 20;

/**
 * The one reconcile behind `plan`, `apply`, the scheduled Lambda and the event Lambda:
 * read everything relevant, compute the desired alarms, diff, and (in apply mode) write.
 * An event only narrows *which* instances are read and diffed, never how.
 */
export async function reconcile(options: ReconcileOptions): Promise<ReconcileResult> {
  const now = options.now ?? (() => performance.now());
  const { config } = options;
  const scope = options.scope === undefined ? undefined : [...new Set(options.scope)].sort();
  const readStart = now();

  options.onProgress?.({ phase: "read", done: 0, total: 4, message: "reading instances" });
  const instances = scope !== undefined && scope.length === 0 ? [] : await options.inventory.listTagged(scope === undefined ? {} : { instanceIds: scope });
  options.onProgress?.({ phase: "read", done: 1, total: 4, message: "reading profiles" });
  const profileNames = referencedProfiles(instances, config.tagPrefix);
  const profiles = profileNames.length === 0 ? new Map<string, ProfileInput>() : await options.profiles.lookupProfiles(profileNames);
  options.onProgress?.({ phase: "read", done: 2, total: 4, message: "reading alarms" });
  const observed = await readObserved(options.alarms, config.alarmPrefix, scope);
  const planStart = now();
  const wallNow = (options.wallTime ?? Date.now)();
  const planner = plannerConfigFor(config);
  const context: DesiredContext = { now: wallNow, observed: new Map(observed.map((alarm) => [alarm.AlarmName ?? "", alarm])), reportingAlarms: new Set() };
  const firstPass = desiredAlarms(instances, profiles, planner, context);
  let desired = firstPass;
  if (firstPass.firstDatapointChecks.length > 0) {
    // Only arming alarms get here (none in a settled fleet): ask GetMetricData whether their exact
    // series publish yet, then plan again with the answer.
    options.onProgress?.({ phase: "read", done: 3, total: 4, message: `reading datapoints of ${firstPass.firstDatapointChecks.length} arming alarms` });
    const reportingAlarms = await readReportingAlarms(options.datapoints, firstPass.firstDatapointChecks, wallNow);
    desired = desiredAlarms(instances, profiles, planner, { ...context, reportingAlarms });
  }
  options.onProgress?.({ phase: "read", done: 4, total: 4 });
  const plan = planReconcile(desired, observed, { alarmPrefix: config.alarmPrefix, ...(scope !== undefined ? { instanceIds: new Set(scope) } : {}) });
  // Deletes of instances the inventory no longer lists: ask EC2 by id whether they are really gone
  // (terminated, or unknown) or still run (a wrong tag prefix, a removed opt-in tag).
  const unlisted = unlistedInstancesWithDeletes(plan);
  const ec2States = new Map(unlisted.length === 0 ? [] : (await options.inventory.describe(unlisted)).map((instance) => [instance.instanceId, instance.state]));
  const planEnd = now();

  const planned: ReconcileResult = {
    mode: "plan",
    desired,
    plan,
    observedAlarmCount: observed.length,
    instanceCount: instances.length,
    massChange: massChangeCheck(plan, ec2States),
    applied: NOTHING_APPLIED,
    failures: [],
    deferred: 0,
    refused: NOTHING_REFUSED,
    skipped: [],
    timings: { readMs: planStart - readStart, planMs: planEnd - planStart, applyMs: 0 },
  };
  return options.mode === "plan" ? planned : applyReconcilePlan(planned, options);
}

/** The planner's view of the fleet configuration: the restart action on ALARM and OK, the grace in milliseconds. */
export function plannerConfigFor(config: FleetConfig): PlannerConfig {
  return {
    alarmPrefix: config.alarmPrefix,
    tagPrefix: config.tagPrefix,
    namespace: config.namespace,
    actions: { alarmActions: config.restartActionArns, okActions: config.restartActionArns },
    defaultDetection: config.defaultDetection,
    armingGraceMs: config.armingGraceMinutes * 60_000,
    realarmAfterMs: config.realarmAfterMinutes * 60_000,
  };
}

/** What a plan can be applied with: the alarm writes, the inventory to re-check preconditions, and the knobs of the apply step. */
export type ApplyOptions = Pick<ReconcileOptions, "alarms" | "inventory" | "config" | "onProgress" | "concurrency" | "shouldStop" | "now" | "allowMassChange">;

/**
 * Applies a plan computed earlier, exactly as it was computed: the CLI shows a plan, asks for
 * `yes`, and applies *that* plan instead of reading the world again (which could differ from what
 * the operator confirmed). A change made meanwhile by someone else is left to the next run.
 */
export async function applyReconcilePlan(planned: ReconcileResult, options: ApplyOptions): Promise<ReconcileResult> {
  const now = options.now ?? (() => performance.now());
  const applyStart = now();
  const outcome = await applyPlan(planned, options);
  return { ...planned, mode: "apply", ...outcome, timings: { ...planned.timings, applyMs: now() - applyStart } };
}

const NOTHING_APPLIED: AppliedCounts = { created: 0, updated: 0, deleted: 0, actionsDisabled: 0, actionsEnabled: 0, reevaluated: 0 };
const NOTHING_REFUSED: Readonly<Record<GuardedChangeKind, number>> = { delete: 0, update: 0 };

async function readObserved(alarms: AlarmPort, prefix: string, scope: readonly string[] | undefined): Promise<ObservedAlarm[]> {
  if (scope === undefined || scope.length > PER_INSTANCE_SCAN_LIMIT) return [...(await alarms.listByPrefix(`${prefix}/`))];
  const observed: ObservedAlarm[] = [];
  // `<prefix>/<instance-id>/` can only match that instance's alarms (ids never contain `/`).
  for (const instanceId of scope) observed.push(...(await alarms.listByPrefix(`${prefix}/${instanceId}/`)));
  return observed;
}

/** The arming alarms whose exact series publish at the alarm's resolution since arming began. */
async function readReportingAlarms(datapoints: DatapointPort, checks: readonly FirstDatapointCheck[], now: number): Promise<Set<string>> {
  const timestamps = await datapoints.datapointTimestamps(
    checks.map((check) => ({
      key: check.alarmName,
      namespace: check.namespace,
      metricName: check.metricName,
      dimensions: check.dimensions,
      period: check.period,
      since: check.since,
    })),
    now,
  );
  return new Set(checks.filter((check) => reportsAtResolution(timestamps.get(check.alarmName) ?? [], check.period)).map((check) => check.alarmName));
}

export const REEVALUATE_REASON =
  "procwatch-fleet turned this alarm's actions on while it was in ALARM; reset so that the next evaluation transitions and runs them";

async function applyPlan(
  planned: ReconcileResult,
  options: ApplyOptions,
): Promise<{ applied: AppliedCounts; failures: ApplyFailure[]; deferred: number; refused: Record<GuardedChangeKind, number>; skipped: SkippedChange[] }> {
  const { plan, massChange } = planned;
  const failures: ApplyFailure[] = [];
  const skipped: SkippedChange[] = [];
  const counts = { created: 0, updated: 0, deleted: 0, actionsDisabled: 0, actionsEnabled: 0, reevaluated: 0 };
  const written = new Set<string>();
  // A namespace typo, a staging topic, a wrong tag prefix: refuse the kinds of change the guard
  // flags (unless the operator said so), and still apply everything else.
  const refusedNames = new Set<string>();
  const refused = { ...NOTHING_REFUSED };
  if (options.allowMassChange !== true) {
    for (const kind of ["delete", "update"] as const) {
      if (!massChange[kind].exceeded) continue;
      for (const name of massChange.counted[kind]) refusedNames.add(name);
      refused[kind] = massChange.counted[kind].length;
    }
  }
  const changes = plan.changes.filter((change) => !refusedNames.has(change.alarmName));
  const total = changes.length;
  let done = 0;
  let deferred = 0;
  const report = (message?: string) => options.onProgress?.({ phase: "apply", done, total, ...(message !== undefined ? { message } : {}) });
  const stop = () => options.shouldStop?.() === true;
  const byName = new Map(plan.changes.map((change) => [change.alarmName, change]));
  const fail = (change: PlannedChange | undefined, alarmName: string, operation: string, error: unknown) => {
    const retryable = (error as { retryable?: unknown }).retryable === true;
    failures.push({ alarmName, instanceId: change?.instanceId ?? "", operation, message: error instanceof Error ? error.message : String(error), retryable });
  };
  /** The changes of `batch` whose precondition still holds against EC2 now; the others are skipped with why. */
  const stillValid = async (batch: readonly PlannedChange[]): Promise<PlannedChange[]> => {
    const checked = batch.filter((change) => change.kind !== "delete");
    if (checked.length === 0) return [...batch];
    const fresh = new Map(
      (await options.inventory.listTagged({ instanceIds: [...new Set(checked.map((change) => change.instanceId))] })).map((instance) => [
        instance.instanceId,
        instance,
      ]),
    );
    return batch.filter((change) => {
      const reason = stalePreconditionReason(change, fresh.get(change.instanceId), options.config.tagPrefix);
      if (reason === undefined) return true;
      skipped.push({ alarmName: change.alarmName, instanceId: change.instanceId, kind: change.kind, reason });
      return false;
    });
  };

  // Safety first, so that a run stopped by its time budget has done what matters most: stopped
  // hosts must not get restarts (disable), alarms of terminated hosts must go (delete); then
  // actions back on for running hosts (enable); creates and updates (3 TPS each) come last.
  const batchKinds = [
    { kind: "disable-actions", run: (names: readonly string[]) => options.alarms.disableActions(names), counter: "actionsDisabled" },
    { kind: "delete", run: (names: readonly string[]) => deleteOwnAlarms(names), counter: "deleted" },
    { kind: "enable-actions", run: (names: readonly string[]) => options.alarms.enableActions(names), counter: "actionsEnabled" },
  ] as const;
  // A delete goes only to alarms whose managed-by tag names this deployment: a copied alarm with
  // our marker, or another deployment's, is reported and left alone.
  const deleteOwnAlarms = async (names: readonly string[]): Promise<BatchResult> => {
    const { managed, notManaged } = await options.alarms.managedByDeployment(names, options.config.alarmPrefix);
    for (const foreign of notManaged) {
      skipped.push({
        alarmName: foreign.alarmName,
        instanceId: byName.get(foreign.alarmName)?.instanceId ?? "",
        kind: "delete",
        reason: `its procwatch:managed-by tag is ${foreign.owner === undefined ? "missing" : JSON.stringify(foreign.owner)}, not this deployment's (${options.config.alarmPrefix})`,
      });
    }
    return managed.length === 0 ? { succeeded: [], failed: [] } : options.alarms.delete(managed);
  };
  for (const batchKind of batchKinds) {
    const ofKind = changes.filter((change) => change.kind === batchKind.kind);
    // One API batch at a time, so the time budget is checked between batches, not once per kind.
    for (let start = 0; start < ofKind.length; start += MAX_NAMES_PER_BATCH) {
      const batch = ofKind.slice(start, start + MAX_NAMES_PER_BATCH);
      if (stop()) {
        deferred += batch.length;
        continue;
      }
      try {
        const valid = await stillValid(batch);
        if (valid.length > 0) {
          const result = await batchKind.run(valid.map((change) => change.alarmName));
          counts[batchKind.counter] += result.succeeded.length;
          for (const name of result.succeeded) written.add(name);
          for (const failure of result.failed) fail(byName.get(failure.alarmName), failure.alarmName, batchKind.kind, failure.error);
        }
      } catch (error) {
        for (const change of batch) fail(change, change.alarmName, batchKind.kind, error);
      }
      done += batch.length;
      report();
    }
  }

  // Puts are checked in chunks: one DescribeInstances per ≤ 100 puts keeps each precondition
  // at most ~35 s old at 3 TPS.
  const puts = changes.filter((change) => change.kind === "create" || change.kind === "update");
  let nextChunk = 0;
  const queue: PlannedChange[] = [];
  // Workers share the queue; a chunk checked by one worker is appended, never swapped in, so no
  // checked change is lost when two workers refill at once.
  const takeNext = async (): Promise<PlannedChange | undefined> => {
    while (queue.length === 0 && nextChunk < puts.length) {
      const chunk = puts.slice(nextChunk, nextChunk + MAX_NAMES_PER_BATCH);
      nextChunk += chunk.length;
      if (stop()) {
        deferred += chunk.length;
        continue;
      }
      try {
        const valid = await stillValid(chunk);
        done += chunk.length - valid.length;
        queue.push(...valid);
      } catch (error) {
        for (const change of chunk) fail(change, change.alarmName, change.kind, error);
        done += chunk.length;
      }
    }
    return queue.shift();
  };
  const worker = async () => {
    for (let change = await takeNext(); change !== undefined; change = await takeNext()) {
      if (stop()) {
        deferred += 1;
        continue;
      }
      try {
        if (change.definition === undefined) throw new Error(`${change.kind} without an alarm definition`);
        await options.alarms.put(change.definition, change.kind === "create" ? { instanceId: change.instanceId, processName: change.processName } : null);
        if (change.kind === "create") counts.created += 1;
        else counts.updated += 1;
        written.add(change.alarmName);
      } catch (error) {
        fail(change, change.alarmName, change.kind === "create" ? "create" : "update", error);
      }
      done += 1;
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  // CloudWatch runs actions only when the state changes: an alarm that sat in ALARM while its
  // actions were off stays silent after they go on. Read the states *after* the writes (an alarm
  // that enters ALARM later does so with actions on and acts by itself), and send each one still
  // in ALARM back to INSUFFICIENT_DATA; its next evaluation (≤ 1 min, ≤ 10 s when fast) goes to
  // ALARM again and runs the restart. INSUFFICIENT_DATA has no actions, so this step says nothing.
  // A realarm writes nothing: it only asks for this re-evaluation.
  const toReevaluate = changes.filter((change) => change.reevaluate === true && (written.has(change.alarmName) || change.kind === "realarm"));
  if (toReevaluate.length > 0 && !stop()) {
    try {
      const states = await options.alarms.describeByNames(toReevaluate.map((change) => change.alarmName));
      for (const alarm of states) {
        if (alarm.StateValue !== "ALARM" || alarm.ActionsEnabled === false || alarm.AlarmName === undefined) continue;
        try {
          await options.alarms.setState(alarm.AlarmName, "INSUFFICIENT_DATA", REEVALUATE_REASON);
          counts.reevaluated += 1;
        } catch (error) {
          fail(byName.get(alarm.AlarmName), alarm.AlarmName, "reevaluate", error);
        }
      }
    } catch (error) {
      for (const change of toReevaluate) fail(change, change.alarmName, "reevaluate", error);
    }
  }
  return { applied: counts, failures, deferred, refused, skipped };
}

/**
 * Why a planned change must not be made any more, judged against the instance as EC2 reports it
 * right now (`fresh`: live and carrying the opt-in tag key, or undefined). The plan was computed
 * earlier: an operator read it, or a long apply is still working through it.
 */
export function stalePreconditionReason(change: PlannedChange, fresh: InstanceInput | undefined, tagPrefix: string): string | undefined {
  const optedIn = fresh !== undefined && fresh.tags[`${tagPrefix}:enabled`] === "true";
  switch (change.kind) {
    case "disable-actions":
      // Disabling is the safe direction. Only a disable planned because the host was stopping or
      // stopped is void once it runs again (a disable that re-arms a running host's alarm is not).
      if (change.instanceState !== "stopping" && change.instanceState !== "stopped") return undefined;
      return fresh !== undefined && (fresh.state === "running" || fresh.state === "pending") ? `instance is ${fresh.state} again` : undefined;
    case "enable-actions":
      if (fresh === undefined) return "instance is gone or no longer tagged";
      if (fresh.state !== "running" && fresh.state !== "pending") return `instance is ${fresh.state} now`;
      return optedIn ? undefined : "instance is no longer opted in";
    case "create":
    case "update": {
      if (fresh === undefined) return "instance is gone or no longer tagged";
      if (!optedIn) return "instance is no longer opted in";
      // The alarm's host dimensions come from the instance (a resize changes InstanceType): an
      // alarm planned for the old values would watch a series the host no longer publishes.
      const planned = change.definition?.Dimensions;
      if (planned === undefined) return undefined;
      const was = describeHostDimensions(planned);
      const now = describeHostDimensions(hostDimensionsFor(metricHostOf(fresh)));
      return was === now ? undefined : `instance now has ${now} (the plan was for ${was})`;
    }
    default:
      return undefined;
  }
}
