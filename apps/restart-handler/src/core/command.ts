import { isInstanceId, isProcessName, RESTART_DOCUMENT_PARAMETERS } from "@procwatch/contract";
import type { HandlerConfig } from "../config.ts";
import { ConfigurationError } from "../errors.ts";
import { commentFor } from "./identity.ts";

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
