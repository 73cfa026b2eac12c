/**
 * How much memory one full reconcile holds at once, for 50,000 and 100,000 alarms, to size the
 * fleet Lambda. Measured in this process with the garbage collector forced (`--expose-gc`): the
 * heap of a fresh process with the SDK clients loaded, then the heap while the reconcile's working
 * set is alive — the instances as the inventory returns them, every alarm as DescribeAlarms
 * deserializes it (strings, dimension and action arrays, Dates), the desired state and the plan.
 * The fake's own store is not in it (in Lambda, AWS holds the alarms).
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { desiredAlarms, type InstanceInput, type ObservedAlarm, planReconcile } from "@procwatch/alarm-planner";
import type { FleetConfig } from "../src/config.ts";
import { plannerConfigFor } from "../src/reconcile.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const PROCESSES = 5;
/** The fleet Lambda's memory setting (apps/infra); the goal is that the peak leaves half of it free. */
const LAMBDA_MEMORY_MB = Number(process.env.FLEET_LAMBDA_MEMORY_MB ?? 2048);
const config: FleetConfig = {
  alarmPrefix: "procwatch",
  tagPrefix: "procwatch",
  namespace: "CWAgent",
  restartActionArns: ["arn:aws:sns:eu-west-1:123456789012:procwatch-restart"],
  defaultDetection: "standard",
  armingGraceMinutes: 45,
  realarmAfterMinutes: 30,
};
const NAMES = ["nginx", "sshd", "cron", "node", "postgres", "redis", "haproxy"];

function settledHeapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

function instanceIdOf(index: number): string {
  return `i-${index.toString(16).padStart(17, "0")}`;
}

/** What the inventory and DescribeAlarms hand a reconcile, shaped as the SDK deserializes it. */
function workingSet(alarms: number) {
  const instances: InstanceInput[] = Array.from({ length: alarms / PROCESSES }, (_, index) => ({
    instanceId: instanceIdOf(index),
    state: "running",
    name: `web-${index}`,
    tags: { Name: `web-${index}`, "procwatch:enabled": "true", "procwatch:processes": NAMES.slice(0, PROCESSES).join(" "), team: "web", env: "prod" },
    launchTime: new Date(Date.UTC(2026, 0, 1)),
  }));
  const empty = { now: Date.now(), observed: new Map<string, ObservedAlarm>(), reportingAlarms: new Set<string>() };
  // Each alarm as its own object graph (JSON round trip), as the SDK builds it from the response.
  const observed: ObservedAlarm[] = desiredAlarms(instances, new Map(), plannerConfigFor(config), empty).alarms.map((alarm) => {
    const copy = JSON.parse(JSON.stringify(alarm.definition)) as ObservedAlarm;
    return {
      ...copy,
      AlarmArn: `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${alarm.definition.AlarmName}`,
      StateValue: "OK",
      StateReason:
        "Threshold Crossed: 2 out of the last 2 datapoints [1.0 (07/12/26 04:00:00), 1.0 (07/12/26 03:59:00)] were not less than the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition).",
      StateUpdatedTimestamp: new Date(),
      StateTransitionedTimestamp: new Date(),
      AlarmConfigurationUpdatedTimestamp: new Date(),
    };
  });
  const context = { ...empty, observed: new Map(observed.map((alarm) => [alarm.AlarmName ?? "", alarm])) };
  const desired = desiredAlarms(instances, new Map(), plannerConfigFor(config), context);
  const plan = planReconcile(desired, observed, { alarmPrefix: config.alarmPrefix });
  if (plan.changes.length !== 0) throw new Error("the working set should plan no change");
  return { instances, observed, context, desired, plan };
}

// One size per process (argv[2]), so nothing of a previous size is still on the heap.
const alarms = Number(process.argv[2] ?? 50_000);
const clients = [new CloudWatchClient({ region: "eu-west-1" }), new EC2Client({ region: "eu-west-1" }), new SSMClient({ region: "eu-west-1" })];
const baselineRss = process.memoryUsage().rss / 1024 / 1024;
const before = settledHeapMb();
const held = workingSet(alarms);
const after = settledHeapMb();
const rss = process.memoryUsage().rss / 1024 / 1024;
const workingSetMb = after - before;
// The peak a Lambda sees: the process before the reconcile plus the working set, plus the response
// bodies being parsed meanwhile (at most about the same again): the working set counted twice.
const peakEstimate = baselineRss + 2 * workingSetMb;
const emit = (figure: string, value: number, extra: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ figure, value: Math.round(value), unit: "MiB", ...extra }));
emit(`memory: process with the SDK clients, before a reconcile of ${alarms} alarms (RSS)`, baselineRss);
emit(`memory: reconcile working set, ${alarms} alarms (heap, GC settled)`, workingSetMb);
emit(`memory: process RSS holding it, ${alarms} alarms`, rss);
emit(`memory: estimated Lambda peak, ${alarms} alarms (RSS before + 2 × working set)`, peakEstimate, {
  goal: `≤ ${LAMBDA_MEMORY_MB / 2} (half of the ${LAMBDA_MEMORY_MB} MB the fleet Lambda has)`,
  pass: peakEstimate <= LAMBDA_MEMORY_MB / 2,
});
if (held.plan.changes.length !== 0 || clients.length !== 3) throw new Error("unreachable");
