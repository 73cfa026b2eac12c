import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { ProcessSpec } from "@procwatch/contract";
import {
  DROP_IN_FILE_NAME,
  DROP_IN_MARKER,
  type DropInPlan,
  ESCALATE_TEMPLATE_NAME,
  isLocallySupervised,
  type LocalBudget,
  type LocalEvent,
  localSupervisionRefusal,
  parseLocalEvents,
  planDropIns,
  type RefusedLocalUnit,
  renderDropIn,
  renderEscalateTemplate,
} from "../core/local-supervision.ts";
import { writeFileAtomic, writeFully } from "./atomic-write.ts";
import { removeFileIfPresent } from "./file-removal.ts";
import { readTextOrNull } from "./read-optional-file.ts";
import { isSystemdRunning, runSystemctl, systemctlShow } from "./restart-backends.ts";

export const SPOOL_FILE_NAME = "local-events.jsonl";
/** Bounded: past this size the spool is rotated to `.1` (one generation kept), so a crash loop cannot fill the disk. */
export const SPOOL_MAX_BYTES = 256 * 1024;
const CURSOR_FILE_NAME = "local-events.reported";
const LAST_START_DIR = "last-start";

export interface LocalSupervisionPaths {
  readonly systemdUnitDir: string;
  readonly spoolDir: string;
  readonly agentPath: string;
}

/** procwatch's drop-ins now on disk: unit → text. Only files carrying procwatch's marker count. */
export function presentDropIns(systemdUnitDir: string): Map<string, string> {
  const present = new Map<string, string>();
  let entries: string[] = [];
  try {
    entries = readdirSync(systemdUnitDir);
  } catch {
    return present;
  }
  for (const entry of entries) {
    if (!entry.endsWith(".service.d")) continue;
    const text = readTextOrNull(join(systemdUnitDir, entry, DROP_IN_FILE_NAME));
    if (text?.startsWith(DROP_IN_MARKER)) present.set(entry.slice(0, -".d".length), text);
  }
  return present;
}

export interface LocalSupervisionChange {
  readonly installed: readonly string[];
  readonly removed: readonly string[];
  readonly template: "written" | "removed" | "unchanged";
  readonly daemonReloaded: boolean;
}

export interface DropInReconciliation extends LocalSupervisionChange {
  /** `local` units procwatch left without a drop-in because systemd cannot supervise them that way (and why). */
  readonly refused: readonly RefusedLocalUnit[];
}

/**
 * Writes (atomically) and removes procwatch's drop-ins so that exactly the `local` units of the
 * spec have one, then `systemctl daemon-reload` only if a file changed.
 */
export async function reconcileDropIns(processes: readonly ProcessSpec[], budget: LocalBudget, paths: LocalSupervisionPaths): Promise<DropInReconciliation> {
  const desired = new Map<string, string>();
  const refused: RefusedLocalUnit[] = [];
  for (const process of processes.filter(isLocallySupervised)) {
    // Asked of systemd, which has merged the unit file with every drop-in: the Type in force.
    const reason = localSupervisionRefusal((await systemctlShow(process.unit, ["Type"]))?.get("Type") ?? null);
    if (reason === null) desired.set(process.unit, renderDropIn(process, budget, paths.agentPath));
    else refused.push({ process: process.name, unit: process.unit, reason });
  }
  const templatePath = join(paths.systemdUnitDir, ESCALATE_TEMPLATE_NAME);
  const plan: DropInPlan = planDropIns({
    desired,
    present: presentDropIns(paths.systemdUnitDir),
    templateText: renderEscalateTemplate(paths.agentPath),
    templatePresent: readTextOrNull(templatePath),
  });
  // Template first: a drop-in must never name an OnFailure= unit that does not exist yet.
  if (plan.writeTemplate && plan.templateText !== null) writeFileAtomic(templatePath, plan.templateText, { mode: 0o644 });
  for (const [unit, text] of plan.write) writeFileAtomic(join(paths.systemdUnitDir, `${unit}.d`, DROP_IN_FILE_NAME), text, { mode: 0o644 });
  for (const unit of plan.remove) removeDropIn(paths.systemdUnitDir, unit);
  if (plan.removeTemplate) removeFileIfPresent(templatePath);
  for (const [unit] of plan.write) await seedLastStart(paths.spoolDir, unit);
  const changed = plan.write.size > 0 || plan.remove.length > 0 || plan.writeTemplate || plan.removeTemplate;
  if (changed) await daemonReload();
  return {
    installed: [...plan.write.keys()].sort(),
    removed: plan.remove,
    template: plan.writeTemplate ? "written" : plan.removeTemplate ? "removed" : "unchanged",
    daemonReloaded: changed,
    refused,
  };
}

/** Everything procwatch installed for local supervision, and its spool: for `remove`. */
export async function removeLocalSupervision(paths: Pick<LocalSupervisionPaths, "systemdUnitDir" | "spoolDir">): Promise<LocalSupervisionChange> {
  const removed = [...presentDropIns(paths.systemdUnitDir).keys()].sort();
  for (const unit of removed) removeDropIn(paths.systemdUnitDir, unit);
  const templateRemoved = removeFileIfPresent(join(paths.systemdUnitDir, ESCALATE_TEMPLATE_NAME));
  for (const name of [SPOOL_FILE_NAME, `${SPOOL_FILE_NAME}.1`, CURSOR_FILE_NAME]) removeFileIfPresent(join(paths.spoolDir, name));
  for (const subdirectory of [LAST_START_DIR, "supervisors"]) {
    const directory = join(paths.spoolDir, subdirectory);
    for (const entry of listOrEmpty(directory)) removeFileIfPresent(join(directory, entry));
    removeEmptyDirectory(directory);
  }
  removeEmptyDirectory(paths.spoolDir);
  const changed = removed.length > 0 || templateRemoved;
  if (changed && isSystemdRunning()) {
    await daemonReload();
    // Finished escalation instances would stay listed as loaded units until the next reboot.
    await runSystemctl(["reset-failed", "procwatch-escalate@*.service"], 10_000);
  }
  return { installed: [], removed, template: templateRemoved ? "removed" : "unchanged", daemonReloaded: changed && isSystemdRunning() };
}

function removeDropIn(systemdUnitDir: string, unit: string): void {
  removeFileIfPresent(join(systemdUnitDir, `${unit}.d`, DROP_IN_FILE_NAME));
  // The directory goes too when procwatch's file was all it held; the admin's own drop-ins stay.
  removeEmptyDirectory(join(systemdUnitDir, `${unit}.d`));
}

function removeEmptyDirectory(path: string): void {
  try {
    rmdirSync(path);
  } catch {}
}

function listOrEmpty(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch {
    return [];
  }
}

async function daemonReload(): Promise<void> {
  const run = await runSystemctl(["daemon-reload"], 60_000);
  if (!run.ok) throw new Error(`systemctl daemon-reload failed: ${run.output || run.detail}`);
}

interface LastStart {
  readonly pid: number;
  readonly invocationId: string;
}

function lastStartPath(spoolDir: string, unit: string): string {
  return join(spoolDir, LAST_START_DIR, `${unit}.json`);
}

function readLastStart(spoolDir: string, unit: string): LastStart | null {
  const text = readTextOrNull(lastStartPath(spoolDir, unit));
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as LastStart;
    return typeof value.pid === "number" ? value : null;
  } catch {
    return null;
  }
}

/** The running main pid, so the first local restart after apply knows the pid it replaces. */
async function seedLastStart(spoolDir: string, unit: string): Promise<void> {
  const shown = await systemctlShow(unit, ["MainPID", "InvocationID"]);
  const pid = Number(shown?.get("MainPID") ?? 0);
  if (pid > 0) writeFileAtomic(lastStartPath(spoolDir, unit), `${JSON.stringify({ pid, invocationId: shown?.get("InvocationID") ?? "" })}\n`, { mode: 0o600 });
}

const STARTED_PROPERTIES = ["NRestarts", "MainPID", "ExecMainStartTimestampMonotonic", "ActiveExitTimestampMonotonic", "InvocationID"] as const;

/**
 * ExecStartPost= hook: every start of a `local` unit. A start with NRestarts > 0 is one systemd
 * made on its own (a start by hand resets the counter), so it is recorded as a local restart, with
 * the pid the previous start recorded as "before".
 */
export async function recordStarted(process: string, unit: string, spoolDir: string, now = Date.now()): Promise<LocalEvent | null> {
  const shown = await systemctlShow(unit, STARTED_PROPERTIES);
  if (shown === null) return null;
  const number = (key: string) => Number(shown.get(key) ?? 0);
  const afterPid = number("MainPID") > 0 ? number("MainPID") : null;
  const previous = readLastStart(spoolDir, unit);
  if (afterPid !== null)
    writeFileAtomic(lastStartPath(spoolDir, unit), `${JSON.stringify({ pid: afterPid, invocationId: shown.get("InvocationID") ?? "" })}\n`, { mode: 0o600 });
  const nRestarts = number("NRestarts");
  if (nRestarts === 0) return null;
  const exitUs = number("ActiveExitTimestampMonotonic");
  const startUs = number("ExecMainStartTimestampMonotonic");
  const event: LocalEvent = {
    kind: "local-restart",
    recordedAtMs: now,
    process,
    unit,
    beforePid: previous?.pid ?? null,
    afterPid,
    downMs: exitUs > 0 && startUs > exitUs ? Math.round((startUs - exitUs) / 1000) : null,
    escalated: false,
    nRestarts,
    detail: `systemd restarted ${unit} (restart ${nRestarts} since it was last started by hand)`,
    invocationId: shown.get("InvocationID") ?? "",
  };
  appendLocalEvent(spoolDir, event);
  return event;
}

const ESCALATED_PROPERTIES = [
  "LoadState",
  "ActiveState",
  "SubState",
  "Result",
  "NRestarts",
  "ExecMainPID",
  "ExecMainStatus",
  "ActiveExitTimestampMonotonic",
] as const;

/** OnFailure= unit: systemd stopped restarting the unit. The CloudWatch alarm (standard cadence) is what comes next. */
export async function recordEscalated(process: string, unit: string | null, spoolDir: string, now = Date.now()): Promise<LocalEvent> {
  const shown = unit === null ? null : await systemctlShow(unit, ESCALATED_PROPERTIES);
  const get = (key: string) => shown?.get(key);
  const why =
    get("LoadState") === "masked"
      ? "the unit is masked, so systemd could not schedule the restart"
      : `systemd stopped restarting it (start limit; last result ${get("Result") ?? "unknown"}, exit status ${get("ExecMainStatus") ?? "?"})`;
  const event: LocalEvent = {
    kind: "local-escalation",
    recordedAtMs: now,
    process,
    unit,
    beforePid: Number(get("ExecMainPID") ?? 0) > 0 ? Number(get("ExecMainPID")) : null,
    afterPid: null,
    downMs: null,
    escalated: true,
    nRestarts: shown === null ? null : Number(get("NRestarts") ?? 0),
    detail: `local supervision of ${process} gave up: ${why}; unit ${unit ?? "?"} is ${get("ActiveState") ?? "?"}/${get("SubState") ?? "?"}; the CloudWatch alarm takes over`,
  };
  appendLocalEvent(spoolDir, event);
  return event;
}

/**
 * One JSON line, written with a single write(2) on an O_APPEND descriptor (Linux appends it whole,
 * so two hooks at once never interleave), then fsync. Rotated to `.1` first when it would pass
 * SPOOL_MAX_BYTES.
 */
export function appendLocalEvent(spoolDir: string, event: LocalEvent): void {
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const path = join(spoolDir, SPOOL_FILE_NAME);
  const line = Buffer.from(`${JSON.stringify(event)}\n`, "utf8");
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {}
  if (size > 0 && size + line.length > SPOOL_MAX_BYTES) renameSync(path, `${path}.1`);
  const fd = openSync(path, "a", 0o600);
  try {
    writeFully(fd, line, writeSync);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface LocalEventsReport {
  readonly spoolPath: string;
  /** Events recorded after the last marked report (`health --mark-reported`), oldest first. */
  readonly sinceLastReport: readonly LocalEvent[];
  readonly reportedThroughMs: number;
}

export function readLocalEvents(spoolDir: string): LocalEventsReport {
  const path = join(spoolDir, SPOOL_FILE_NAME);
  const cursor = Number((readTextOrNull(join(spoolDir, CURSOR_FILE_NAME)) ?? "0").trim()) || 0;
  const events = [...parseLocalEvents(readTextOrNull(`${path}.1`) ?? ""), ...parseLocalEvents(readTextOrNull(path) ?? "")];
  return { spoolPath: path, sinceLastReport: events.filter((event) => event.recordedAtMs > cursor), reportedThroughMs: cursor };
}

export function markReported(spoolDir: string, throughMs: number): void {
  if (!existsSync(spoolDir)) return;
  writeFileAtomic(join(spoolDir, CURSOR_FILE_NAME), `${throughMs}\n`, { mode: 0o600 });
}
