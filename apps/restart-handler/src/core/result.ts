import { printableValue } from "@procwatch/contract";
import type { HandlerConfig } from "../config.ts";
import { parseAgentReport } from "./agent-output.ts";
import { isTerminalCommandStatus } from "./command.ts";
import { storyForIncident } from "./follow-up.ts";
import { restartResultMessage, type Story } from "./messages.ts";
import type { CommandResultSummary, CommandStatusChange, IncidentRecord, InstanceSnapshot } from "./model.ts";
import type { ChatbotNotification } from "./notifications.ts";

export type CommandScreen = { readonly accepted: true } | { readonly accepted: false; readonly reason: string; readonly detail: string };

/** Cheap checks before any AWS call: only terminal results of procwatch's own document, here. */
export function screenCommandStatus(change: CommandStatusChange, config: HandlerConfig, ownAccountId: string | undefined): CommandScreen {
  const expectedAccount = config.expectedAccountId ?? ownAccountId;
  if (expectedAccount !== undefined && change.accountId !== expectedAccount) {
    return { accepted: false, reason: "wrong-account", detail: `command status from account ${change.accountId}, this handler serves ${expectedAccount}` };
  }
  if (change.region !== config.region)
    return { accepted: false, reason: "wrong-region", detail: `command status from ${change.region}, this handler runs in ${config.region}` };
  const documentName = change.documentName.split("/").pop() ?? change.documentName;
  const ownDocument = config.restartDocumentName.split("/").pop() ?? config.restartDocumentName;
  if (documentName !== ownDocument) {
    return {
      accepted: false,
      reason: "foreign-document",
      detail: `command ${change.commandId} ran ${printableValue(change.documentName)}, not ${ownDocument}`,
    };
  }
  if (!isTerminalCommandStatus(change.status)) {
    return {
      accepted: false,
      reason: "non-terminal-status",
      detail: `command ${change.commandId} is ${printableValue(change.status)}; waiting for the final status`,
    };
  }
  return { accepted: true };
}

/** What GetCommandInvocation returned, reduced to what a message shows. */
export interface InvocationDetails {
  readonly comment?: string;
  readonly status?: string;
  readonly statusDetails?: string;
  readonly standardOutput?: string;
}

export type ResultDecision =
  | { readonly kind: "record"; readonly incidentId: string; readonly result: CommandResultSummary; readonly notification: ChatbotNotification }
  | { readonly kind: "drop"; readonly reason: string; readonly detail: string };

export function decideCommandResult(
  change: CommandStatusChange,
  incident: IncidentRecord | undefined,
  invocation: InvocationDetails | undefined,
  instance: InstanceSnapshot | null,
  config: HandlerConfig,
  now: number,
): ResultDecision {
  if (incident === undefined) {
    return { kind: "drop", reason: "unknown-incident", detail: `command ${change.commandId} does not belong to a procwatch incident` };
  }
  if (incident.instanceId !== change.instanceId || (incident.commandId !== undefined && incident.commandId !== change.commandId)) {
    return {
      kind: "drop",
      reason: "incident-mismatch",
      detail: `command ${change.commandId} on ${change.instanceId} does not match incident ${incident.incidentId} (${incident.commandId ?? "no command"} on ${incident.instanceId})`,
    };
  }
  const agent = parseAgentReport(invocation?.standardOutput);
  const eventTime = Date.parse(change.eventTime);
  const result: CommandResultSummary = {
    status: change.status,
    ...(invocation?.statusDetails !== undefined ? { statusDetails: invocation.statusDetails } : {}),
    finishedAt: Number.isFinite(eventTime) ? eventTime : now,
    ...(agent !== undefined ? { agent } : {}),
  };
  const story: Story = {
    ...storyForIncident(incident, config, change.accountId),
    ...(instance?.name !== undefined ? { instanceName: instance.name } : {}),
  };
  return {
    kind: "record",
    incidentId: incident.incidentId,
    result,
    notification: restartResultMessage(story, incident.attempt, change.commandId, result, incident.signal),
  };
}
