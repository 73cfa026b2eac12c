import { AUTO_SCALING_GROUP_TAG, metricHostOf, PROCSTAT_METRIC_NAME, parseInstanceTags, renderProcstatFragment, resolveHostSpec } from "@procwatch/contract";
import { type Ec2Facts, mergeAgentConfigFragments, procstatPublisherConfig } from "./cloudwatch-agent-config.ts";
import type { ProcstatSeries } from "./cloudwatch-agent-publisher.ts";
import type { FakeAws, FakeInstanceState } from "./fake-aws.ts";
import { seededRandom } from "./random.ts";

const PROCESS_NAMES = ["nginx", "sshd", "cron", "node", "postgres", "redis", "haproxy", "php-fpm", "java", "rsyslogd"];

export interface FleetOptions {
  readonly instances: number;
  readonly processesPerInstance: number;
  /** Every n-th instance is stopped (0 = none). */
  readonly stoppedEvery?: number;
  /** Every n-th instance uses the fast detection profile (0 = none). */
  readonly fastEvery?: number;
  /** Publish procstat metrics exactly as a healthy agent would (default true). */
  readonly publishMetrics?: boolean;
  readonly namespace?: string;
  readonly tagPrefix?: string;
  /** LaunchTime of every instance (default: a day before the fake's clock). */
  readonly launchTime?: Date;
  /** Offset for instance ids, to build several disjoint fleets. */
  readonly firstIndex?: number;
  readonly seed?: number;
}

export interface FleetMember {
  readonly instanceId: string;
  readonly processes: readonly string[];
  readonly state: FakeInstanceState;
}

export function fleetInstanceId(index: number): string {
  return `i-${index.toString(16).padStart(17, "0")}`;
}

export function processNamesFor(count: number): string[] {
  return Array.from({ length: count }, (_, index) => PROCESS_NAMES[index] ?? `svc-${index}`);
}

/** N instances × M processes, tagged with the procwatch grammar, loaded into the fake. */
export function buildFleet(fake: FakeAws, options: FleetOptions): FleetMember[] {
  const prefix = options.tagPrefix ?? "procwatch";
  const random = seededRandom(options.seed ?? 7);
  const members: FleetMember[] = [];
  const processes = processNamesFor(options.processesPerInstance);
  for (let offset = 0; offset < options.instances; offset += 1) {
    const index = (options.firstIndex ?? 0) + offset;
    const instanceId = fleetInstanceId(index);
    const state: FakeInstanceState =
      options.stoppedEvery !== undefined && options.stoppedEvery > 0 && index % options.stoppedEvery === 0 ? "stopped" : "running";
    const tags: Record<string, string> = {
      Name: `host-${index}`,
      [`${prefix}:enabled`]: "true",
      [`${prefix}:processes`]: processes.join(" "),
    };
    if (options.fastEvery !== undefined && options.fastEvery > 0 && index % options.fastEvery === 0) tags[`${prefix}:detection`] = "fast";
    fake.addInstance({
      instanceId,
      state,
      tags,
      instanceType: random() < 0.5 ? "t3.micro" : "m6i.large",
      ...(options.launchTime !== undefined ? { launchTime: options.launchTime } : {}),
    });
    if (options.publishMetrics ?? true) publishAgentMetrics(fake, instanceId, { namespace: options.namespace, tagPrefix: prefix });
    members.push({ instanceId, processes, state });
  }
  return members;
}

/**
 * Publishes the procstat_lookup_pid_count series the instance's CloudWatch agent emits once
 * procwatch-agent has rendered its fragment for the instance's tags: the series come from
 * testkit's model of the agent's config translation (cloudwatch-agent-config.ts), not from the
 * alarm side's idea of them, so a dimension the alarms get wrong shows as missing data.
 */
export function publishAgentMetrics(fake: FakeAws, instanceId: string, options: { namespace?: string | undefined; tagPrefix?: string } = {}): void {
  for (const { series } of agentSeriesFor(fake, instanceId, options)) {
    fake.publishMetric({ Namespace: series.namespace, MetricName: PROCSTAT_METRIC_NAME, Dimensions: series.dimensions });
  }
}

/** The pid-count series of each watched process on a fake instance, as its CloudWatch agent publishes them with procwatch's fragment alone. */
export function agentSeriesFor(
  fake: FakeAws,
  instanceId: string,
  options: { namespace?: string | undefined; tagPrefix?: string } = {},
): { processName: string; series: ProcstatSeries }[] {
  const instance = fake.instances.get(instanceId);
  if (instance === undefined) throw new Error(`no fake instance ${instanceId}`);
  const parsed = parseInstanceTags(instance.tags, options.tagPrefix);
  if (parsed.spec === null) return [];
  const resolved = resolveHostSpec({ tags: parsed.spec, prefix: options.tagPrefix });
  if (resolved.spec === null) return [];
  // As procwatch-agent renders it on an EC2 instance (tags mode): host dimensions pinned with the instance's own values.
  const fragment = renderProcstatFragment(resolved.spec, {
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    host: metricHostOf(instance),
  });
  const merged = mergeAgentConfigFragments([{ name: "file_procwatch.json", json: fragment }]);
  if (merged.config === null) throw new Error(`procwatch's fragment alone does not merge: ${merged.errors.join("; ")}`);
  const facts = ec2FactsOf(instance);
  // renderProcstatFragment sorts by name, as the spec is.
  const names = [...resolved.spec.processes].map((process) => process.name).sort();
  return names.map((processName, index) => ({ processName, series: procstatPublisherConfig(merged.config as Record<string, unknown>, index, facts).series }));
}

/** What the agent's `${aws:…}` placeholders resolve to on a fake instance (the Auto Scaling group from its tag, as the agent reads it). */
export function ec2FactsOf(instance: {
  readonly instanceId: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly tags: Readonly<Record<string, string>>;
}): Ec2Facts {
  const group = instance.tags[AUTO_SCALING_GROUP_TAG];
  return {
    InstanceId: instance.instanceId,
    ImageId: instance.imageId,
    InstanceType: instance.instanceType,
    ...(group !== undefined && group !== "" ? { AutoScalingGroupName: group } : {}),
  };
}
