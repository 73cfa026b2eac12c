import { isInstanceId } from "@procwatch/contract";
import { z } from "zod";

/** EventBridge Scheduler / scheduled rule: a full reconcile. */
const scheduledEvent = z.object({
  "detail-type": z.literal("Scheduled Event"),
  source: z.string(),
});

const instanceIdSchema = z.string().refine(isInstanceId, "not an instance id");

/** `EC2 Instance State-change Notification`: detail carries the instance id and its new state. */
const stateChangeEvent = z.object({
  "detail-type": z.literal("EC2 Instance State-change Notification"),
  source: z.literal("aws.ec2"),
  detail: z.object({ "instance-id": instanceIdSchema, state: z.string() }),
});

/** `Tag Change on Resource` from aws.tag: the instance is in `resources`, the changed keys in detail. */
const tagChangeEvent = z.object({
  "detail-type": z.literal("Tag Change on Resource"),
  source: z.literal("aws.tag"),
  resources: z.array(z.string()).min(1),
  detail: z.object({
    service: z.string(),
    "resource-type": z.string(),
    "changed-tag-keys": z.array(z.string()).default([]),
  }),
});

export type FleetEvent =
  | { readonly kind: "scheduled" }
  | { readonly kind: "instances"; readonly instanceIds: readonly string[]; readonly trigger: string }
  | { readonly kind: "ignored"; readonly reason: string };

const INSTANCE_ARN = /^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance\/(i-[0-9a-f]+)$/;

/**
 * Turns an event into *which* instances to reconcile. It never decides *how*: every kind ends
 * in the same reconcile, narrowed or not.
 */
export function interpretEvent(event: unknown, tagPrefix: string): FleetEvent {
  if (scheduledEvent.safeParse(event).success) return { kind: "scheduled" };
  const stateChange = stateChangeEvent.safeParse(event);
  if (stateChange.success) {
    return { kind: "instances", instanceIds: [stateChange.data.detail["instance-id"]], trigger: `state ${stateChange.data.detail.state}` };
  }
  const tagChange = tagChangeEvent.safeParse(event);
  if (tagChange.success) {
    const { detail, resources } = tagChange.data;
    if (detail.service !== "ec2" || detail["resource-type"] !== "instance")
      return { kind: "ignored", reason: `tag change on ${detail.service}/${detail["resource-type"]}` };
    const relevant = detail["changed-tag-keys"].some((key) => key.startsWith(`${tagPrefix}:`));
    if (!relevant) return { kind: "ignored", reason: "no procwatch tag changed" };
    const instanceIds = resources.map((arn) => INSTANCE_ARN.exec(arn)?.[1]).filter((id): id is string => id !== undefined && isInstanceId(id));
    if (instanceIds.length === 0) return { kind: "ignored", reason: "tag change without an instance ARN" };
    return { kind: "instances", instanceIds, trigger: "tag change" };
  }
  return { kind: "ignored", reason: "unrecognised event" };
}
