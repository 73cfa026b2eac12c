import { AUTO_SCALING_GROUP_TAG, instanceIdRegex } from "@procwatch/contract";
import { writeFileAtomic } from "./atomic-write.ts";
import { readTextOrNull } from "./read-optional-file.ts";

/**
 * The instance's Auto Scaling group as DescribeTags last said it, in the state directory. Where
 * instance-metadata tags leave out `aws:` keys, knowing the group otherwise costs the AWS SDK's
 * load and a DescribeTags call on every `health` and `apply`: a cold start several times the
 * whole health check. Membership changes only when an instance is attached to or detached from a
 * group, so an answer is kept for {@link AUTO_SCALING_GROUP_ANSWER_TTL_MS}; an answer for another
 * instance id (an image baked with a state directory) is never used.
 */
export const AUTO_SCALING_GROUP_FILE_NAME = "auto-scaling-group.json";
export const AUTO_SCALING_GROUP_ANSWER_TTL_MS = 6 * 60 * 60_000;

export interface AutoScalingGroupCache {
  /** The remembered tags (`{}` for no group), or undefined when there is no fresh answer for this instance. */
  read(instanceId: string): Readonly<Record<string, string>> | undefined;
  write(instanceId: string, tags: Readonly<Record<string, string>>): void;
}

export function stateDirAutoScalingGroupCache(path: string, now: () => number = Date.now): AutoScalingGroupCache {
  return {
    read(instanceId): Readonly<Record<string, string>> | undefined {
      const text = readTextOrNull(path);
      if (text === null) return undefined;
      try {
        const record = JSON.parse(text) as { instanceId?: unknown; autoScalingGroupName?: unknown; checkedAtMs?: unknown };
        if (record.instanceId !== instanceId || typeof record.checkedAtMs !== "number") return undefined;
        const age = now() - record.checkedAtMs;
        if (!(age >= 0 && age < AUTO_SCALING_GROUP_ANSWER_TTL_MS)) return undefined;
        const none: Record<string, string> = {};
        if (record.autoScalingGroupName === null) return none;
        return typeof record.autoScalingGroupName === "string" && record.autoScalingGroupName !== ""
          ? { [AUTO_SCALING_GROUP_TAG]: record.autoScalingGroupName }
          : undefined;
      } catch {
        return undefined;
      }
    },
    write(instanceId, tags) {
      if (!instanceIdRegex.test(instanceId)) return;
      const autoScalingGroupName = tags[AUTO_SCALING_GROUP_TAG] ?? null;
      try {
        writeFileAtomic(path, `${JSON.stringify({ instanceId, autoScalingGroupName, checkedAtMs: now() })}\n`);
      } catch {
        // A cache that cannot be written only costs the next run a DescribeTags call.
      }
    },
  };
}
