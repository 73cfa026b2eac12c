import { PROCESS_NAME_PATTERN, systemdUnitRegex } from "@procwatch/contract";
import { UsageError } from "../errors.ts";
import { type ShipResult, shipLocalEvents } from "../io/host-reports.ts";
import { recordEscalated, recordStarted } from "../io/local-supervision.ts";
import { readAllowListIfValid } from "../io/state-files.ts";
import type { AgentSettings } from "../settings.ts";
import { type Output, printJson } from "./output.ts";

export interface LocalEventFlags {
  readonly process: string;
  readonly unit?: string;
}

/**
 * Run by systemd, not by people: the ExecStartPost= hook of a `local` unit's drop-in (`started`)
 * and procwatch-escalate@<process>.service, its OnFailure= unit (`escalated`). It reads what
 * systemd did (NRestarts, MainPID, timestamps) and appends one line to the spool; it never starts
 * or stops anything.
 */
export async function runLocalEvent(kind: string, flags: LocalEventFlags, settings: AgentSettings, output: Output): Promise<number> {
  if (!new RegExp(PROCESS_NAME_PATTERN).test(flags.process))
    throw new UsageError(`--process ${JSON.stringify(flags.process.slice(0, 80))} is not a process name`, "use a name from the allow-list");
  if (flags.unit !== undefined && !systemdUnitRegex.test(flags.unit))
    throw new UsageError(`--unit ${JSON.stringify(flags.unit.slice(0, 80))} is not a service unit name`, "pass the unit as systemd names it (%n)");
  if (kind === "started") {
    if (flags.unit === undefined) throw new UsageError("local-event started needs --unit", "the drop-in passes --unit %n");
    const event = await recordStarted(flags.process, flags.unit, settings.spoolDir);
    const reported = event === null ? null : await reportPending(settings, output);
    printJson(output, { ok: true, recorded: event, reported });
    return 0;
  }
  if (kind === "escalated") {
    const unit = flags.unit ?? readAllowListIfValid(settings.allowListPath)?.processes.find((process) => process.name === flags.process)?.unit ?? null;
    const event = await recordEscalated(flags.process, unit, settings.spoolDir);
    output.stderr(`procwatch: ${event.detail}`);
    const reported = await reportPending(settings, output);
    printJson(output, { ok: true, recorded: event, reported });
    return 0;
  }
  throw new UsageError(`local-event ${JSON.stringify(kind.slice(0, 40))} is not an event`, "use started or escalated");
}

/**
 * Sends what the spool holds to the host-reports queue. Never fails the hook: what is not sent
 * stays in the spool, and the next event or `apply` sends it.
 */
export async function reportPending(settings: AgentSettings, output: Output): Promise<ShipResult> {
  try {
    const result = await shipLocalEvents(settings);
    if (result.error !== undefined) output.stderr(`procwatch: local events not reported yet (${result.pending} in the spool): ${result.error}`);
    return result;
  } catch (error) {
    const message = String((error as Error).message ?? error).slice(0, 300);
    output.stderr(`procwatch: local events not reported: ${message}`);
    return { configured: false, sent: 0, pending: 0, skipped: 0, error: message };
  }
}
