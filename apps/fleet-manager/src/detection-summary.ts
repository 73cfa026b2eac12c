import type { DesiredState } from "@procwatch/alarm-planner";
import { ALL_DETECTION_PROFILE_NAMES, type DetectionProfileName, detectionCostOf } from "@procwatch/contract";

/** What the desired alarms cost per month by detection profile, and which processes are supervised on their host. */
export interface DetectionSummary {
  /** Watched processes per profile. */
  readonly processes: Readonly<Record<DetectionProfileName, number>>;
  /** Processes under local supervision (`detection=local`): restarted on the host, the alarm is the backstop. */
  readonly local: readonly { readonly instanceId: string; readonly processName: string }[];
  /** Hosts with at least one fast process: their agent flushes every 10 s. */
  readonly hostsWithFastFlush: number;
  readonly monthlyUsd: { readonly alarms: number; readonly extraFlush: number; readonly total: number };
}

/** Pure: from the desired state of the instances in scope (all when `instanceIds` is absent). */
export function detectionSummaryOf(desired: DesiredState, instanceIds?: ReadonlySet<string>): DetectionSummary {
  const processes = Object.fromEntries(ALL_DETECTION_PROFILE_NAMES.map((name) => [name, 0])) as Record<DetectionProfileName, number>;
  const local: { instanceId: string; processName: string }[] = [];
  const fastHosts = new Set<string>();
  let alarms = 0;
  for (const alarm of desired.alarms) {
    if (instanceIds !== undefined && !instanceIds.has(alarm.instanceId)) continue;
    processes[alarm.detection] += 1;
    alarms += detectionCostOf(alarm.detection).alarmPerProcessUsd;
    if (alarm.detection === "local") local.push({ instanceId: alarm.instanceId, processName: alarm.processName });
    if (detectionCostOf(alarm.detection).extraFlushRequestsPerHost > 0) fastHosts.add(alarm.instanceId);
  }
  const extraFlush = fastHosts.size * detectionCostOf("fast").extraFlushPerHostUsd;
  const cents = (value: number) => Math.round(value * 100) / 100;
  return {
    processes,
    local,
    hostsWithFastFlush: fastHosts.size,
    monthlyUsd: { alarms: cents(alarms), extraFlush: cents(extraFlush), total: cents(alarms + extraFlush) },
  };
}
