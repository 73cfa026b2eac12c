import { type AlarmIdentity, INSTANCE_ID_DIMENSION, ownershipMarkerFor, PROCSTAT_METRIC_NAME, parseAlarmName, printableValue } from "@procwatch/contract";
import type { HandlerConfig } from "../config.ts";
import type { AlarmTransition } from "./model.ts";

export type DropReason =
  | "not-procwatch-owned"
  | "wrong-account"
  | "wrong-region"
  | "alarm-arn-mismatch"
  | "missing-dimensions"
  | "dimension-instance-mismatch"
  | "foreign-metric";

export type ScreenResult =
  | { readonly accepted: true; readonly identity: AlarmIdentity }
  | { readonly accepted: false; readonly reason: DropReason; readonly detail: string };

/**
 * Decides from the event alone whether the alarm is one procwatch may act on. Everything refused
 * here is input that will never become valid, so the handler logs it and drops it.
 */
export function screenTransition(transition: AlarmTransition, config: HandlerConfig, ownAccountId: string | undefined): ScreenResult {
  const name = printableValue(transition.alarmName);
  const identity = parseAlarmName(transition.alarmName, config.alarmPrefix);
  if (identity === null) {
    return drop("not-procwatch-owned", `alarm "${name}" is not named ${config.alarmPrefix}/<instance-id>/<process>`);
  }
  // The description is the second ownership proof; payloads that do not carry it rely on the name.
  // The marker names the deployment (its alarm prefix): another deployment's alarm is not ours.
  const marker = ownershipMarkerFor(config.alarmPrefix);
  if (transition.description !== undefined && !(transition.description ?? "").startsWith(marker)) {
    return drop("not-procwatch-owned", `alarm "${name}" has no ${marker} marker at the start of its description`);
  }
  const expectedAccount = config.expectedAccountId ?? ownAccountId;
  if (expectedAccount !== undefined && transition.accountId !== expectedAccount) {
    return drop("wrong-account", `alarm "${name}" is from account ${transition.accountId}, this handler serves ${expectedAccount}`);
  }
  if (transition.region !== config.region) {
    return drop("wrong-region", `alarm "${name}" is from region ${printableValue(transition.region ?? "unknown")}, this handler runs in ${config.region}`);
  }
  if (transition.alarmArn !== undefined) {
    const expectedArnTail = `:${transition.accountId}:alarm:${transition.alarmName}`;
    if (!transition.alarmArn.endsWith(expectedArnTail) || !transition.alarmArn.includes(`:cloudwatch:${config.region}:`)) {
      return drop("alarm-arn-mismatch", `alarm ARN "${printableValue(transition.alarmArn)}" does not match alarm "${name}" in ${config.region}`);
    }
  }
  if (transition.metricName !== undefined && transition.metricName !== PROCSTAT_METRIC_NAME) {
    return drop("foreign-metric", `alarm "${name}" watches ${printableValue(transition.metricName)}, not ${PROCSTAT_METRIC_NAME}`);
  }
  if (transition.dimensions === undefined) {
    return drop("missing-dimensions", `alarm "${name}" carries no metric dimensions, so its target cannot be checked`);
  }
  const instanceDimension = transition.dimensions.find((dimension) => dimension.Name === INSTANCE_ID_DIMENSION);
  if (instanceDimension?.Value !== identity.instanceId) {
    return drop(
      "dimension-instance-mismatch",
      `alarm "${name}" is named for ${identity.instanceId} but its ${INSTANCE_ID_DIMENSION} dimension is "${printableValue(instanceDimension?.Value ?? "missing")}"`,
    );
  }
  return { accepted: true, identity };
}

function drop(reason: DropReason, detail: string): ScreenResult {
  return { accepted: false, reason, detail };
}
