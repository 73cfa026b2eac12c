import { alarmDimensionsFor, DEFAULT_METRIC_NAMESPACE, PROCSTAT_METRIC_NAME, parseInstanceTags, resolveHostSpec } from "@procwatch/contract";
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

/** Publishes the procstat_lookup_pid_count series a correctly configured agent emits for the instance's tags. */
export function publishAgentMetrics(fake: FakeAws, instanceId: string, options: { namespace?: string | undefined; tagPrefix?: string } = {}): void {
  const instance = fake.instances.get(instanceId);
  if (instance === undefined) throw new Error(`no fake instance ${instanceId}`);
  const parsed = parseInstanceTags(instance.tags, options.tagPrefix);
  if (parsed.spec === null) return;
  const resolved = resolveHostSpec({ tags: parsed.spec, prefix: options.tagPrefix });
  for (const process of resolved.spec?.processes ?? []) {
    fake.publishMetric({
      Namespace: options.namespace ?? DEFAULT_METRIC_NAMESPACE,
      MetricName: PROCSTAT_METRIC_NAME,
      Dimensions: alarmDimensionsFor(process, instanceId),
    });
  }
}
