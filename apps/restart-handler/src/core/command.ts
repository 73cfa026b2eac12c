import { isInstanceId, isProcessName, RESTART_DOCUMENT_PARAMETERS } from "@procwatch/contract";
import type { HandlerConfig } from "../config.ts";
import { ConfigurationError } from "../errors.ts";
import { commentFor } from "./identity.ts";
import type { IncidentRecord } from "./model.ts";

/**
 * The claim is written before SendCommand, so SSM cannot have accepted the incident's command
 * before the first claim; the margin covers clock skew between this function and SSM, which
 * stamps the command's RequestedDateTime.
 */
export const COMMAND_SEARCH_MARGIN_MS = 5 * 60_000;

/**
 * Where the search for an incident's command (`ListCommands` InvokedAfter) starts: the first
 * claim minus the margin, never the epoch. Items written before `firstClaimedAt` existed fall back
 * to the earliest time they do hold: the alarm transition precedes every claim, and `claimedAt`
 * is 0 after a release and later than the first claim after a takeover.
 */
export function commandSearchStart(incident: Pick<IncidentRecord, "firstClaimedAt" | "claimedAt" | "stateChangeTime">): number {
  if (incident.firstClaimedAt !== undefined) return incident.firstClaimedAt - COMMAND_SEARCH_MARGIN_MS;
  const known = [Date.parse(incident.stateChangeTime), incident.claimedAt > 0 ? incident.claimedAt : Number.NaN].filter(Number.isFinite);
  // Only a corrupt item knows neither; searching everything is then the safe side (the search pages to its end or fails).
  return known.length > 0 ? Math.min(...known) - COMMAND_SEARCH_MARGIN_MS : 0;
}

/** The SendCommand input, as plain data (the SSM adapter passes it through unchanged). */
export interface RestartCommandRequest {
  readonly DocumentName: string;
  readonly InstanceIds: [string];
  readonly Parameters: Record<string, string[]>;
  readonly Comment: string;
  readonly TimeoutSeconds: number;
  readonly CloudWatchOutputConfig: { readonly CloudWatchOutputEnabled: true; readonly CloudWatchLogGroupName: string };
}

/**
 * The process name travels as a typed document parameter (checked by SSM against the document's
 * `allowedPattern`, handed to the script as an environment variable); nothing here is shell
 * text. MaxConcurrency/MaxErrors are left out: with a single instance id they change nothing.
 */
export function restartCommandFor(instanceId: string, processName: string, incidentId: string, config: HandlerConfig): RestartCommandRequest {
  if (!isInstanceId(instanceId) || !isProcessName(processName)) {
    // Unreachable from the handler (both come from parseAlarmName); guards against a future caller.
    throw new ConfigurationError(`refusing to build a restart command for "${instanceId}"/"${processName}": not contract-valid`);
  }
  return {
    DocumentName: config.restartDocumentName,
    InstanceIds: [instanceId],
    Parameters: { [RESTART_DOCUMENT_PARAMETERS.processName.name]: [processName] },
    Comment: commentFor(incidentId, processName),
    TimeoutSeconds: config.commandTimeoutSeconds,
    CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: config.commandLogGroup },
  };
}

const TERMINAL_STATUSES = new Set([
  "success",
  "failed",
  "timedout",
  "cancelled",
  "canceled",
  "undeliverable",
  "terminated",
  "deliverytimedout",
  "executiontimedout",
]);

export function isTerminalCommandStatus(status: string): boolean {
  return TERMINAL_STATUSES.has(status.replace(/[^a-z]/gi, "").toLowerCase());
}

export function isSuccessStatus(status: string): boolean {
  return status.toLowerCase() === "success";
}
