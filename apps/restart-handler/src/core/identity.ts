import { createHash } from "node:crypto";

/**
 * The idempotency key of an alarm transition is (alarm name, state-change time): CloudWatch
 * stamps every transition once, and every route (SNS, EventBridge, direct action, retries)
 * carries the same pair. The incident id is a short digest of it, so it fits in a 100-character
 * SSM comment and reads back from there.
 */
export function transitionIdFor(alarmName: string, stateChangeTime: string): string {
  return createHash("sha256").update(`${alarmName}\n${stateChangeTime}`).digest("hex").slice(0, 16);
}

export const INCIDENT_ID_PATTERN = /^[0-9a-f]{16}$/;

/** One Slack thread per incident: alarm → restart → result → recovery. */
export function threadIdFor(instanceId: string, processName: string, incidentId: string): string {
  return `procwatch/${instanceId}/${processName}/${incidentId}`;
}

const COMMENT_INCIDENT = /procwatch incident ([0-9a-f]{16})/;

export function incidentIdFromComment(comment: string | undefined): string | undefined {
  if (comment === undefined) return undefined;
  return COMMENT_INCIDENT.exec(comment)?.[1];
}

export function commentFor(incidentId: string, processName: string): string {
  // SSM caps Comment at 100 characters; the incident id goes first so truncation never loses it.
  return `procwatch incident ${incidentId} restart ${processName}`.slice(0, 100);
}
