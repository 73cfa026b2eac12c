import { DETECTION_PROFILES, type ProcessSpec } from "@procwatch/contract";

/**
 * Local supervision (`detection=local`) for systemd units, built from systemd's own machinery: a
 * drop-in per unit with Restart=, RestartSec=, a start limit that mirrors the local restart budget,
 * and OnFailure= pointing at procwatch's escalation template. systemd restarts the process; procwatch
 * only records what systemd did (an ExecStartPost= hook and the OnFailure= unit run
 * `procwatch-agent local-event`), so nothing polls.
 *
 * Restart=always, not on-failure: the CloudWatch alarm behind it fires on *any* disappearance
 * (pid count 0), whatever the exit status, and its restart path restarts the process whatever the
 * reason. on-failure would leave a clean exit (status 0, or SIGTERM/SIGHUP/SIGINT/SIGPIPE, which
 * systemd counts as clean) to that alarm, minutes later, for the same outcome. `systemctl stop` is
 * never restarted by either setting, and the start limit bounds a process that exits at once.
 */

export const DROP_IN_FILE_NAME = "50-procwatch-local.conf";
export const ESCALATE_TEMPLATE_NAME = "procwatch-escalate@.service";
export const DROP_IN_MARKER = "# procwatch-agent apply: local supervision";

export interface LocalBudget {
  /** Restarts systemd may make on its own within the window before it gives up and escalates. */
  readonly restarts: number;
  readonly windowMinutes: number;
}

/** The restart handler's defaults (RESTART_BUDGET 3, RESTART_WINDOW_MINUTES 30): the local budget mirrors the fleet one. */
export const DEFAULT_LOCAL_BUDGET: LocalBudget = { restarts: 3, windowMinutes: 30 };
/** systemd's own default RestartSec: fast, and still not a busy loop. */
export const LOCAL_RESTART_DELAY_MS = 100;

export function isLocallySupervised(process: Pick<ProcessSpec, "detection">): boolean {
  return DETECTION_PROFILES[process.detection].localSupervision;
}

/**
 * systemd counts every start within StartLimitIntervalSec=, the one before the first restart
 * included, so N restarts need a burst of N + 1.
 */
export function startLimitBurstFor(budget: LocalBudget): number {
  return budget.restarts + 1;
}

/**
 * Why procwatch's drop-in must not be installed on a unit of this Type, or null when it may.
 *
 * systemd refuses Restart=always on Type=oneshot services at load time ("Service has Restart=
 * setting other than no, on-failure, on-abnormal, on-watchdog or on-abort, which isn't allowed
 * for Type=oneshot services. Refusing."; systemd src/core/service.c, service_verify(); on-failure
 * allowed since systemd/systemd#7474, the others since 10e7272, v245). The unit would become
 * LoadState=bad-setting and could not be started by anyone, procwatch's central restart included,
 * so such a unit keeps only the CloudWatch alarm.
 */
export function localSupervisionRefusal(unitType: string | null): string | null {
  if (unitType === "oneshot")
    return "Type=oneshot: systemd refuses Restart=always for oneshot services and would stop loading the unit; its CloudWatch alarm stays its only detection";
  return null;
}

export interface RefusedLocalUnit {
  readonly process: string;
  readonly unit: string;
  readonly reason: string;
}

export function renderDropIn(process: Pick<ProcessSpec, "name" | "unit">, budget: LocalBudget, agentPath: string): string {
  return [
    `${DROP_IN_MARKER} of ${process.name} (detection=local). Rewritten by every apply, deleted by procwatch-agent remove: do not edit.`,
    "[Unit]",
    `StartLimitIntervalSec=${budget.windowMinutes * 60}`,
    `StartLimitBurst=${startLimitBurstFor(budget)}`,
    // Triggered when the unit enters "failed": under Restart= that is only once systemd gave up
    // (start limit hit, or a restart it could not schedule, e.g. the unit was masked).
    `OnFailure=procwatch-escalate@${process.name}.service`,
    "",
    "[Service]",
    "Restart=always",
    `RestartSec=${LOCAL_RESTART_DELAY_MS}ms`,
    // After the main process was forked, so it never delays the restart. "-": a failed record never
    // fails the unit; "+": full privileges even under User=, to write procwatch's root-owned spool.
    `ExecStartPost=-+${agentPath} local-event started --process ${process.name} --unit %n`,
    "",
  ].join("\n");
}

export function renderEscalateTemplate(agentPath: string): string {
  return [
    `${DROP_IN_MARKER}: records that systemd gave up restarting the process %i. Deleted by procwatch-agent remove: do not edit.`,
    "[Unit]",
    "Description=procwatch: local supervision of %i gave up",
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=${agentPath} local-event escalated --process %i`,
    "",
  ].join("\n");
}

export interface DropInPlan {
  /** unit → drop-in text to write (missing or different on disk). */
  readonly write: ReadonlyMap<string, string>;
  /** Units whose procwatch drop-in must go (no longer local, or no longer watched). */
  readonly remove: readonly string[];
  readonly templateText: string | null;
  readonly writeTemplate: boolean;
  readonly removeTemplate: boolean;
}

export function planDropIns(input: {
  readonly desired: ReadonlyMap<string, string>;
  readonly present: ReadonlyMap<string, string>;
  readonly templateText: string;
  readonly templatePresent: string | null;
}): DropInPlan {
  const write = new Map([...input.desired].filter(([unit, text]) => input.present.get(unit) !== text));
  const remove = [...input.present.keys()].filter((unit) => !input.desired.has(unit)).sort();
  const needTemplate = input.desired.size > 0;
  return {
    write,
    remove,
    templateText: needTemplate ? input.templateText : null,
    writeTemplate: needTemplate && input.templatePresent !== input.templateText,
    removeTemplate: !needTemplate && input.templatePresent !== null,
  };
}

export type LocalEventKind = "local-restart" | "local-escalation";

/** One line of the spool (JSON lines). Times are systemd's, in ISO-8601 and microseconds since boot. */
export interface LocalEvent {
  readonly kind: LocalEventKind;
  /** When the agent wrote it (epoch ms); the report cursor compares these. */
  readonly recordedAtMs: number;
  readonly process: string;
  readonly unit: string | null;
  readonly beforePid: number | null;
  readonly afterPid: number | null;
  /** From the main process's exit (systemd: ActiveExitTimestamp) to the new one's start (ExecMainStartTimestamp). */
  readonly downMs: number | null;
  readonly escalated: boolean;
  /** systemd's NRestarts: automatic restarts since the unit was last started by hand. */
  readonly nRestarts: number | null;
  readonly detail: string;
  readonly invocationId?: string;
}

export function parseLocalEvents(text: string): LocalEvent[] {
  const events: LocalEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const value = JSON.parse(line) as LocalEvent;
      if ((value.kind === "local-restart" || value.kind === "local-escalation") && typeof value.recordedAtMs === "number" && typeof value.process === "string")
        events.push(value);
    } catch {
      // A torn or foreign line (a crash mid-append) is skipped, never fatal to health.
    }
  }
  return events;
}

/** Microseconds since boot, as `systemctl show` prints *TimestampMonotonic; 0 means "never". */
export function downMsBetween(exitMonotonicUs: number, startMonotonicUs: number): number | null {
  if (!(exitMonotonicUs > 0) || !(startMonotonicUs > exitMonotonicUs)) return null;
  return Math.round((startMonotonicUs - exitMonotonicUs) / 1000);
}

/** What systemd says about one `local` unit, read by health. */
export interface LocalUnitObservation {
  readonly process: string;
  readonly unit: string;
  readonly dropInInstalled: boolean;
  /** systemd's Type= of the unit (null where procwatch's own supervisor runs it, or systemctl cannot say). */
  readonly unitType: string | null;
  readonly loadState: string | null;
  readonly activeState: string | null;
  readonly nRestarts: number | null;
}

export interface LocalProcessSupervision {
  readonly process: string;
  readonly unit: string;
  readonly supervised: boolean;
  /** systemd's NRestarts: automatic restarts since the unit was last started by hand. */
  readonly nRestarts: number | null;
  /** systemd stopped restarting it (the unit is `failed` although Restart= is set): the CloudWatch alarm takes over. */
  readonly gaveUp: boolean;
}

export interface LocalSupervisionReport {
  readonly spoolPath: string;
  readonly restartsSinceLastReport: number;
  readonly escalationsSinceLastReport: number;
  readonly sinceLastReport: readonly LocalEvent[];
  readonly gaveUp: readonly string[];
  readonly processes: readonly LocalProcessSupervision[];
}

export interface LocalSupervisionFinding {
  readonly code: "local-supervision-gave-up" | "local-supervision-missing" | "local-supervision-unsupported";
  readonly message: string;
  readonly hint: string;
}

export function evaluateLocalSupervision(input: {
  readonly spoolPath: string;
  readonly units: readonly LocalUnitObservation[];
  readonly sinceLastReport: readonly LocalEvent[];
}): { readonly report: LocalSupervisionReport; readonly findings: readonly LocalSupervisionFinding[] } {
  const processes = input.units.map((unit) => ({
    process: unit.process,
    unit: unit.unit,
    supervised: unit.dropInInstalled,
    nRestarts: unit.nRestarts,
    // Under Restart=always a unit is "failed" only once systemd gave up on it.
    gaveUp: unit.dropInInstalled && unit.activeState === "failed",
  }));
  const findings: LocalSupervisionFinding[] = [];
  for (const [index, process] of processes.entries()) {
    const refusal = localSupervisionRefusal(input.units[index]?.unitType ?? null);
    if (refusal !== null)
      findings.push({
        code: "local-supervision-unsupported",
        message: `${process.process} asks for detection=local, which ${process.unit} cannot have: ${refusal}`,
        hint: `give ${process.unit} Type=simple, exec, forking or notify, or set this process's detection to fast or standard`,
      });
    else if (!process.supervised)
      findings.push({
        code: "local-supervision-missing",
        message: `${process.process} asks for detection=local but nothing supervises it on this host (${process.unit}: no procwatch drop-in or supervisor)`,
        hint: "run procwatch-agent apply",
      });
    if (process.gaveUp)
      findings.push({
        code: "local-supervision-gave-up",
        message: `${process.process}: local supervision gave up: ${process.unit === "procwatch-supervise" ? "procwatch's supervisor" : `systemd stopped restarting ${process.unit}`} (after ${process.nRestarts ?? "?"} restarts); the CloudWatch alarm takes over`,
        hint: `find why it keeps exiting (journalctl -u ${process.unit}); procwatch-agent restart --process ${process.process} clears systemd's start limit and starts it once`,
      });
  }
  return {
    report: {
      spoolPath: input.spoolPath,
      restartsSinceLastReport: input.sinceLastReport.filter((event) => event.kind === "local-restart").length,
      escalationsSinceLastReport: input.sinceLastReport.filter((event) => event.kind === "local-escalation").length,
      sinceLastReport: input.sinceLastReport,
      gaveUp: processes.filter((process) => process.gaveUp).map((process) => process.process),
      processes,
    },
    findings,
  };
}
