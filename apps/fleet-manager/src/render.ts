import {
  type ChangeKind,
  type GuardedChangeKind,
  MASS_CHANGE_FLOOR_INSTANCES,
  MASS_CHANGE_FRACTION,
  type MassChangeCheck,
  type Plan,
  type PlannedChange,
} from "@procwatch/alarm-planner";
import { formatIssue } from "@procwatch/contract";
import type { DetectionSummary } from "./detection-summary.ts";
import type { ReconcileResult } from "./reconcile.ts";

export interface Style {
  readonly green: (text: string) => string;
  readonly yellow: (text: string) => string;
  readonly red: (text: string) => string;
  readonly cyan: (text: string) => string;
  readonly bold: (text: string) => string;
  readonly dim: (text: string) => string;
}

export function styleFor(color: boolean): Style {
  const wrap = (code: number) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  return { green: wrap(32), yellow: wrap(33), red: wrap(31), cyan: wrap(36), bold: wrap(1), dim: wrap(2) };
}

const MARKERS: Record<ChangeKind, string> = {
  create: "+",
  update: "~",
  delete: "-",
  "disable-actions": "~",
  "enable-actions": "~",
  realarm: "~",
  unchanged: " ",
};

function markerStyle(kind: ChangeKind, style: Style): (text: string) => string {
  if (kind === "create") return style.green;
  if (kind === "delete") return style.red;
  return style.yellow;
}

function describeChange(change: PlannedChange): string {
  switch (change.kind) {
    case "create":
      return `create ${change.processName}`;
    case "update":
      return `update ${change.processName}`;
    case "delete":
      return `delete ${change.processName}`;
    case "disable-actions":
      return `disable actions ${change.processName}`;
    case "enable-actions":
      return `enable actions ${change.processName}`;
    case "realarm":
      return `re-alarm ${change.processName}`;
    case "unchanged":
      return change.processName;
  }
}

/**
 * Which processes are supervised on their host, and what the profiles cost a month. Shown when the
 * fleet uses more than the standard profile (a standard-only fleet's plan stays as it was).
 */
export function detectionLines(summary: DetectionSummary, style: Style): string[] {
  const { processes } = summary;
  if (processes.fast === 0 && processes.local === 0) return [];
  const usd = (value: number) => `$${value.toFixed(2)}`;
  const shown = summary.local.slice(0, 10).map((entry) => `${entry.processName} on ${entry.instanceId}`);
  return [
    `Detection: ${processes.standard} standard, ${processes.fast} fast, ${processes.local} local${
      summary.local.length > 0
        ? ` (supervised on the host, the alarm is the backstop: ${shown.join(", ")}${summary.local.length > shown.length ? `, … ${summary.local.length - shown.length} more` : ""})`
        : ""
    }.`,
    style.dim(
      `Monthly: alarms ${usd(summary.monthlyUsd.alarms)} (standard and local $0.10, fast $0.30 per process)${
        summary.hostsWithFastFlush > 0
          ? ` + ${usd(summary.monthlyUsd.extraFlush)} of PutMetricData for the 10 s flush on ${summary.hostsWithFastFlush} host(s)`
          : ""
      } = ${usd(summary.monthlyUsd.total)}.`,
    ),
  ];
}

/** The `!` lines that say which settings differ from the deployed stack's (empty when none do). */
export function renderDeploymentMismatches(
  deployment: { readonly parameterName: string; readonly mismatches: readonly { setting: string; here: string; deployed: string }[] },
  style: Style,
): string {
  if (deployment.mismatches.length === 0) return "";
  const lines = deployment.mismatches.map(
    (mismatch) =>
      `${style.red("!")} ${mismatch.setting} is ${truncate(mismatch.here)} here but ${truncate(mismatch.deployed)} in the deployment (${deployment.parameterName})`,
  );
  lines.push(`  ${style.dim("hint: apply refuses to run with settings that differ from the deployment's unless --ignore-deployed-settings")}`);
  return `${lines.join("\n")}\n`;
}

/** The human plan: grouped by instance, `+` create, `~` update or actions on/off, `-` delete, `!` problem. */
export function renderPlan(
  plan: Plan,
  style: Style,
  options: { detailed?: boolean; massChange?: MassChangeCheck; allowMassChange?: boolean; detection?: DetectionSummary } = {},
): string {
  const lines: string[] = [];
  for (const entry of plan.instances) {
    const outcome = entry.outcome;
    const label = [
      entry.instanceId,
      outcome?.name !== undefined ? `(${outcome.name})` : "",
      outcome !== undefined ? style.dim(outcome.state) : style.dim("not found"),
    ]
      .filter((part) => part !== "")
      .join(" ");
    lines.push(style.bold(label));
    for (const change of entry.changes) {
      const marker = markerStyle(change.kind, style)(MARKERS[change.kind]);
      lines.push(`  ${marker} ${describeChange(change)}  ${style.dim(`${change.alarmName} — ${change.reason}`)}`);
      if (options.detailed === true && change.kind === "update") {
        for (const difference of change.differences ?? []) {
          lines.push(`      ${difference.field}: ${style.red(truncate(difference.observed))} → ${style.green(truncate(difference.desired))}`);
        }
      }
    }
    for (const conflict of entry.conflicts) lines.push(`  ${style.red("!")} ${conflict.processName}: ${conflict.alarmName} — ${conflict.reason}`);
    for (const found of outcome?.status === "invalid" ? outcome.issues : []) lines.push(`  ${style.red("!")} ${formatIssue(found)}`);
    if (outcome?.status === "unresolved") {
      const held = entry.heldAlarms.length;
      lines.push(
        `  ${style.red("!")} profile ${JSON.stringify(outcome.profile ?? "")} could not be read (${outcome.unresolvedReason ?? "AWS error"}): ${held} alarm${held === 1 ? "" : "s"} left as ${held === 1 ? "it is" : "they are"} until a run can read it`,
      );
    }
  }
  if (plan.foreign.length > 0) {
    lines.push(style.bold(`foreign alarms under the prefix (not owned by procwatch, left untouched): ${plan.foreign.length}`));
    for (const foreign of plan.foreign.slice(0, 20)) lines.push(`  ${style.dim("·")} ${foreign.alarmName} ${style.dim(`— ${foreign.reason}`)}`);
    if (plan.foreign.length > 20) lines.push(`  ${style.dim(`… and ${plan.foreign.length - 20} more (see --json)`)}`);
  }
  if (options.massChange?.exceeded === true) lines.push(...massChangeWarning(options.massChange, style, options.allowMassChange === true));
  const upgrades = options.massChange?.exemptUpgrades ?? 0;
  if (upgrades > 0) {
    lines.push(
      `${style.dim("·")} ${upgrades} alarm${upgrades === 1 ? "" : "s"} move to the dimensions this procwatch publishes (command-line selector, host dimensions pinned): procwatch's own upgrade, not counted by the mass-change guard`,
    );
  }
  if (options.detection !== undefined) lines.push(...detectionLines(options.detection, style));
  lines.push(summaryLine(plan, style));
  return `${lines.join("\n")}\n`;
}

const MASS_CHANGE_HINTS: Readonly<Record<GuardedChangeKind, string>> = {
  delete: "a wrong --tag-prefix, a removed opt-in tag or a deleted shared profile parameter looks exactly like this; check them first",
  update: "a typo in --namespace, another --restart-action-arn or --default-detection than the deployment's looks exactly like this; check them first",
};

/** The `!` lines (and hints) for each kind of change that exceeds the mass-change limit. */
export function massChangeWarning(guard: MassChangeCheck, style: Style, allowed: boolean): string[] {
  const lines: string[] = [];
  for (const kind of ["delete", "update"] as const) {
    const found = guard[kind];
    if (!found.exceeded) continue;
    const consequence = allowed ? `--allow-mass-change is set: apply will make them` : `apply refuses these ${kind}s unless --allow-mass-change`;
    const what =
      kind === "update" && guard.update.fields.length > 0
        ? ` (${guard.update.fields.map((field) => `${field.field} on ${field.alarms}: ${truncate(field.example)}`).join("; ")})`
        : "";
    lines.push(
      `${style.red("!")} mass ${kind}: ${found.alarms} alarms on ${found.instances} instances${what}, more than ${massChangeLimitText(guard)}; ${consequence}`,
      `  ${style.dim(`hint: ${MASS_CHANGE_HINTS[kind]}`)}`,
    );
  }
  return lines;
}

/** "the mass-change limit of 5 instances (10% of 20 instances with alarms in scope, at least 5)" */
export function massChangeLimitText(guard: MassChangeCheck): string {
  return `the mass-change limit of ${guard.limit} instances (${Math.round(MASS_CHANGE_FRACTION * 100)}% of ${guard.instancesWithAlarms} instances with alarms in scope, at least ${MASS_CHANGE_FLOOR_INSTANCES})`;
}

export function summaryLine(plan: Plan, style: Style): string {
  const counts = plan.counts;
  if (plan.changes.length === 0) {
    const problems = plan.invalidInstances.length + plan.conflicts.length + plan.unresolvedInstances.length;
    return `${style.green("No changes.")} ${counts.unchanged} alarm${counts.unchanged === 1 ? "" : "s"} up to date${problems > 0 ? `; ${style.red(`${problems} problem${problems === 1 ? "" : "s"}`)} (see above)` : ""}.`;
  }
  const parts = [
    style.green(`${counts.create} to create`),
    style.yellow(`${counts.update} to update`),
    style.red(`${counts.delete} to delete`),
    style.yellow(`${counts["disable-actions"]} to disable`),
    style.yellow(`${counts["enable-actions"]} to enable`),
    ...(counts.realarm > 0 ? [style.yellow(`${counts.realarm} to re-alarm`)] : []),
    `${counts.unchanged} unchanged`,
  ];
  const problems = [
    plan.invalidInstances.length > 0 ? `${plan.invalidInstances.length} instance${plan.invalidInstances.length === 1 ? "" : "s"} with tag problems` : "",
    plan.unresolvedInstances.length > 0
      ? `${plan.unresolvedInstances.length} instance${plan.unresolvedInstances.length === 1 ? "" : "s"} held (profile unreadable)`
      : "",
    plan.conflicts.length > 0 ? `${plan.conflicts.length} name conflict${plan.conflicts.length === 1 ? "" : "s"}` : "",
    plan.foreign.length > 0 ? `${plan.foreign.length} foreign` : "",
  ].filter((part) => part !== "");
  return `Plan: ${parts.join(", ")}.${problems.length > 0 ? ` ${style.red(problems.join(", "))}.` : ""}`;
}

export function renderApplySummary(result: ReconcileResult, elapsedMs: number, style: Style): string {
  const { applied } = result;
  const line = `Applied: ${applied.created} created, ${applied.updated} updated, ${applied.deleted} deleted, ${applied.actionsDisabled} actions disabled, ${applied.actionsEnabled} actions enabled in ${formatDuration(elapsedMs)}.`;
  const lines = [result.failures.length === 0 ? style.green(line) : line];
  if (result.deferred > 0) lines.push(style.yellow(`${result.deferred} change(s) deferred to the next run (time budget reached).`));
  for (const kind of ["delete", "update"] as const) {
    if (result.refused[kind] > 0) lines.push(style.red(`${result.refused[kind]} ${kind}(s) refused: more than ${massChangeLimitText(result.massChange)}.`));
  }
  if (result.skipped.length > 0) {
    lines.push(style.yellow(`${result.skipped.length} skipped (the world changed since the plan):`));
    for (const skip of result.skipped.slice(0, 50)) lines.push(`  ${style.yellow("·")} ${skip.kind} ${skip.alarmName}: ${skip.reason}`);
    if (result.skipped.length > 50) lines.push(`  … and ${result.skipped.length - 50} more (see --json)`);
  }
  if (result.failures.length > 0) {
    lines.push(style.red(`${result.failures.length} failed:`));
    for (const failure of result.failures.slice(0, 50)) lines.push(`  ${style.red("✗")} ${failure.operation} ${failure.alarmName}: ${failure.message}`);
    if (result.failures.length > 50) lines.push(`  … and ${result.failures.length - 50} more (see --json)`);
  }
  return `${lines.join("\n")}\n`;
}

/** Machine-readable plan for `--json`: stable field names, no ANSI, everything the human view shows. */
export function planToJson(result: ReconcileResult): unknown {
  const { plan } = result;
  return {
    mode: result.mode,
    summary: { ...plan.counts, invalidInstances: plan.invalidInstances.length, conflicts: plan.conflicts.length, foreign: plan.foreign.length },
    changes: plan.changes.map((change) => ({
      kind: change.kind,
      alarmName: change.alarmName,
      instanceId: change.instanceId,
      process: change.processName,
      reason: change.reason,
      ...(change.differences !== undefined ? { differences: change.differences } : {}),
    })),
    issues: plan.invalidInstances.map((outcome) => ({
      instanceId: outcome.instanceId,
      issues: outcome.issues.map((found) => ({ code: found.code, source: found.source, value: found.value, message: formatIssue(found) })),
    })),
    held: plan.unresolvedInstances.map((outcome) => ({
      instanceId: outcome.instanceId,
      profile: outcome.profile,
      reason: outcome.unresolvedReason,
      alarms: plan.instances.find((entry) => entry.instanceId === outcome.instanceId)?.heldAlarms ?? [],
    })),
    conflicts: plan.conflicts,
    foreign: plan.foreign,
    massChange: { ...result.massChange, counted: undefined },
    ...(result.mode === "apply"
      ? { applied: result.applied, failures: result.failures, deferred: result.deferred, refused: result.refused, skipped: result.skipped }
      : {}),
  };
}

export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`;
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Fixed-width table with a header; widths from content. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], style: Style): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => visibleLength(row[column] ?? ""))));
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell + " ".repeat(Math.max(0, (widths[column] ?? 0) - visibleLength(cell)))))
      .join("  ")
      .trimEnd();
  return `${[style.bold(format(headers)), ...rows.map(format)].join("\n")}\n`;
}

function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour codes this module adds.
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}

function truncate(text: string): string {
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}
