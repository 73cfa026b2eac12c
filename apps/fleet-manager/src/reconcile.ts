import {
  type DesiredContext,
  type DesiredState,
  desiredAlarms,
  type FirstDatapointCheck,
  type InstanceInput,
  type MassDeleteCheck,
  massDeleteCheck,
  type ObservedAlarm,
  type Plan,
  type PlannedChange,
  type PlannerConfig,
  type ProfileInput,
  planReconcile,
  referencedProfiles,
  reportsAtResolution,
} from "@procwatch/alarm-planner";
import { MAX_NAMES_PER_BATCH } from "@procwatch/aws-adapters";
import type { AlarmDefinition } from "@procwatch/contract";
import type { FleetConfig } from "./config.ts";

/** The slices of the aws-adapters classes reconcile uses; tests and benchmarks pass the real adapters over the fake. */
export interface InventoryPort {
  listTagged(options?: { instanceIds?: readonly string[] }): Promise<readonly InstanceInput[]>;
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
   * Apply deletes even when there are more than the mass-delete limit (CLI `--allow-mass-delete`,
   * Lambda `ALLOW_MASS_DELETE=true`). Without it such deletes are refused; the rest is applied.
   */
  readonly allowMassDelete?: boolean;
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
  /** The plan's mass-delete check (see `massDeleteCheck`). */
  readonly massDelete: MassDeleteCheck;
  /** Deletes not attempted because the plan exceeded the mass-delete limit without an override. */
  readonly refusedDeletes: number;
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
  const planEnd = now();

  const planned: ReconcileResult = {
    mode: "plan",
    desired,
    plan,
    observedAlarmCount: observed.length,
    instanceCount: instances.length,
    massDelete: massDeleteCheck(plan),
    applied: NOTHING_APPLIED,
    failures: [],
    deferred: 0,
    refusedDeletes: 0,
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
  };
}

/** What a plan can be applied with: only the alarm writes and the knobs of the apply step. */
export type ApplyOptions = Pick<ReconcileOptions, "alarms" | "onProgress" | "concurrency" | "shouldStop" | "now" | "allowMassDelete">;

/**
 * Applies a plan computed earlier, exactly as it was computed: the CLI shows a plan, asks for
 * `yes`, and applies *that* plan instead of reading the world again (which could differ from what
 * the operator confirmed). A change made meanwhile by someone else is left to the next run.
 */
export async function applyReconcilePlan(planned: ReconcileResult, options: ApplyOptions): Promise<ReconcileResult> {
  const now = options.now ?? (() => performance.now());
  const applyStart = now();
  const outcome = await applyPlan(planned.plan, options);
  return { ...planned, mode: "apply", ...outcome, timings: { ...planned.timings, applyMs: now() - applyStart } };
}

const NOTHING_APPLIED: AppliedCounts = { created: 0, updated: 0, deleted: 0, actionsDisabled: 0, actionsEnabled: 0, reevaluated: 0 };

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
  plan: Plan,
  options: ApplyOptions,
): Promise<{ applied: AppliedCounts; failures: ApplyFailure[]; deferred: number; refusedDeletes: number }> {
  const failures: ApplyFailure[] = [];
  const counts = { created: 0, updated: 0, deleted: 0, actionsDisabled: 0, actionsEnabled: 0, reevaluated: 0 };
  const written = new Set<string>();
  // A wrong --tag-prefix or a deleted shared profile looks like "delete everything": refuse the
  // deletes of such a plan unless the operator said so, and still apply the rest.
  const refuseDeletes = massDeleteCheck(plan).exceeded && options.allowMassDelete !== true;
  const refusedDeletes = refuseDeletes ? plan.counts.delete : 0;
  const total = plan.changes.length - refusedDeletes;
  let done = 0;
  let deferred = 0;
  const report = (message?: string) => options.onProgress?.({ phase: "apply", done, total, ...(message !== undefined ? { message } : {}) });
  const stop = () => options.shouldStop?.() === true;
  const byName = new Map(plan.changes.map((change) => [change.alarmName, change]));
  const fail = (change: PlannedChange | undefined, alarmName: string, operation: string, error: unknown) => {
    const retryable = (error as { retryable?: unknown }).retryable === true;
    failures.push({ alarmName, instanceId: change?.instanceId ?? "", operation, message: error instanceof Error ? error.message : String(error), retryable });
  };

  // Safety first, so that a run stopped by its time budget has done what matters most: stopped
  // hosts must not get restarts (disable), alarms of terminated hosts must go (delete); then
  // actions back on for running hosts (enable); creates and updates (3 TPS each) come last.
  const batchKinds = [
    { kind: "disable-actions", run: (names: readonly string[]) => options.alarms.disableActions(names), counter: "actionsDisabled" },
    { kind: "delete", run: (names: readonly string[]) => options.alarms.delete(names), counter: "deleted" },
    { kind: "enable-actions", run: (names: readonly string[]) => options.alarms.enableActions(names), counter: "actionsEnabled" },
  ] as const;
  for (const batchKind of batchKinds) {
    if (batchKind.kind === "delete" && refuseDeletes) continue;
    const names = plan.changes.filter((change) => change.kind === batchKind.kind).map((change) => change.alarmName);
    // One API batch at a time, so the time budget is checked between batches, not once per kind.
    for (let start = 0; start < names.length; start += MAX_NAMES_PER_BATCH) {
      const batch = names.slice(start, start + MAX_NAMES_PER_BATCH);
      if (stop()) {
        deferred += batch.length;
        continue;
      }
      try {
        const result = await batchKind.run(batch);
        counts[batchKind.counter] += result.succeeded.length;
        for (const name of result.succeeded) written.add(name);
        for (const failure of result.failed) fail(byName.get(failure.alarmName), failure.alarmName, batchKind.kind, failure.error);
      } catch (error) {
        for (const name of batch) fail(byName.get(name), name, batchKind.kind, error);
      }
      done += batch.length;
      report();
    }
  }

  const puts = plan.changes.filter((change) => change.kind === "create" || change.kind === "update");
  let next = 0;
  const worker = async () => {
    while (next < puts.length) {
      const change = puts[next];
      next += 1;
      if (change === undefined) break;
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
  const toReevaluate = plan.changes.filter((change) => change.reevaluate === true && written.has(change.alarmName));
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
  return { applied: counts, failures, deferred, refusedDeletes };
}
