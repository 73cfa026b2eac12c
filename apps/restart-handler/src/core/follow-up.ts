import type { HandlerConfig } from "../config.ts";
import { isSuccessStatus, isTerminalCommandStatus } from "./command.ts";
import type { Story } from "./messages.ts";
import type { IncidentRecord, ProcessLedger } from "./model.ts";

/**
 * What the scheduled sweep does about one restart it finds in SSM's command list. Pure: the shell
 * lists the commands, reads the incidents (and, for finished restarts, the process items).
 *  - `lost-result`: SSM has a final status but the incident has none (the EventBridge event never
 *    arrived): handle it as if it had.
 *  - `stuck`: still not final `STUCK_RESTART_MINUTES` after it was sent: say so in the thread, once.
 *  - `needs-process`: finished OK long enough ago; whether the alarm went OK is in the process item.
 *  - `unrecovered`: finished OK, but the alarm is still in the ALARM that caused the restart
 *    `RECOVERY_GRACE_MINUTES` later: the process died again before a datapoint saw it up.
 */
export type FollowUp =
  | { readonly kind: "none" }
  | { readonly kind: "lost-result"; readonly status: string }
  | { readonly kind: "stuck"; readonly sentAt: number }
  | { readonly kind: "needs-process" }
  | { readonly kind: "unrecovered"; readonly finishedAt: number };

export function decideFollowUp(
  incident: IncidentRecord,
  command: { readonly commandId: string; readonly status: string },
  config: Pick<HandlerConfig, "stuckRestartMinutes" | "recoveryGraceMinutes">,
  now: number,
  process?: ProcessLedger,
): FollowUp {
  if (incident.outcome !== "restarting" || incident.commandId !== command.commandId) return { kind: "none" };
  const result = incident.result;
  if (result === undefined) {
    if (isTerminalCommandStatus(command.status)) return { kind: "lost-result", status: command.status };
    const sentAt = incident.commandSentAt ?? incident.claimedAt;
    if (incident.stuckNoticeAt === undefined && now - sentAt >= config.stuckRestartMinutes * 60_000) return { kind: "stuck", sentAt };
    return { kind: "none" };
  }
  if (!isSuccessStatus(result.status) || result.agent?.ok === false) return { kind: "none" };
  if (incident.unrecoveredNoticeAt !== undefined || now - result.finishedAt < config.recoveryGraceMinutes * 60_000) return { kind: "none" };
  if (process === undefined) return { kind: "needs-process" };
  const last = process.lastTransition;
  const stillThisAlarm =
    process.openIncidentId === incident.incidentId && last !== undefined && last.state === "ALARM" && last.stateChangeTime === incident.stateChangeTime;
  return stillThisAlarm ? { kind: "unrecovered", finishedAt: result.finishedAt } : { kind: "none" };
}

/** A story from the ledger alone: the sweep describes no instance (EC2 quota, and the host may be gone). */
export function storyForIncident(incident: IncidentRecord, config: HandlerConfig, accountId: string): Story {
  return {
    instanceId: incident.instanceId,
    processName: incident.processName,
    region: config.region,
    accountId,
    alarmName: incident.alarmName,
    incidentId: incident.incidentId,
    threadId: incident.threadId,
    budget: config.restartBudget,
    windowMinutes: config.restartWindowMinutes,
    commandLogGroup: config.commandLogGroup,
    documentName: config.restartDocumentName,
  };
}
