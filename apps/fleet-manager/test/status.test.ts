import {
  AUTO_SCALING_GROUP_TAG,
  alarmNameFor,
  exeRegexForName,
  metricHostOf,
  parseInstanceTags,
  renderProcstatFragment,
  resolveHostSpec,
} from "@procwatch/contract";
import {
  type AgentBuild,
  type AgentConfigFragment,
  CloudWatchAgentPublisher,
  FakeAws,
  fakeClients,
  instantRetryStrategy,
  type ModelProcess,
  mergeAgentConfigFragments,
  procstatLookupCount,
  procstatPublisherConfig,
  publisherOptionsFor,
  runAsUserOf,
  TelemetryPipeline,
  VirtualClock,
} from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import { type CliIo, runCli } from "../src/cli.ts";
import { RESTART_TOPIC } from "./harness.ts";

/**
 * A host configured with the CloudWatch agent's wizard defaults, plus procwatch's fragment as
 * procwatch-agent renders it there; the agent's merge of the two decides what the host publishes
 * (testkit's config model), the publisher model publishes it into the fake, and `status` reads the
 * result the way an operator would.
 */
const INSTANCE_ID = "i-0aaaaaaaaaaaaaaa1";
const TAGS = { "procwatch:enabled": "true", "procwatch:processes": "nginx" };
const FACTS = { InstanceId: INSTANCE_ID, ImageId: "ami-0123456789abcdef0", InstanceType: "m7g.large", AutoScalingGroupName: "web-asg" };

/** The wizard's answers "add ec2 dimensions" yes (tool/data/config/metric/appendDimensions.go) and, optionally, "aggregate InstanceId" yes. */
function wizardFragment(options: { aggregateInstanceId: boolean }): AgentConfigFragment {
  return {
    name: "file_config.json",
    json: {
      agent: { metrics_collection_interval: 60, run_as_user: "cwagent" },
      metrics: {
        // biome-ignore-start lint/suspicious/noTemplateCurlyInString: the agent's placeholders.
        append_dimensions: {
          AutoScalingGroupName: "${aws:AutoScalingGroupName}",
          ImageId: "${aws:ImageId}",
          InstanceId: "${aws:InstanceId}",
          InstanceType: "${aws:InstanceType}",
        },
        // biome-ignore-end lint/suspicious/noTemplateCurlyInString: the agent's placeholders.
        ...(options.aggregateInstanceId ? { aggregation_dimensions: [["InstanceId"]] } : {}),
        metrics_collected: { mem: { measurement: ["mem_used_percent"] } },
      },
    },
  };
}

/**
 * What procwatch-agent apply hands the CloudWatch agent on that host: on EC2 the instance's own
 * values pinned on each entry (`instance`, from its identity document and tags), placeholders
 * with a `--spec` file off EC2 (`instance: null`); the global InstanceId only when no other file
 * on the host sets metrics.append_dimensions (it is what turns the ec2tagger on).
 */
function procwatchFragment(others: readonly AgentConfigFragment[], options: { instance?: typeof FACTS | null } = {}): AgentConfigFragment {
  const spec = resolveHostSpec({ tags: parseInstanceTags(TAGS).spec! }).spec!;
  const instance = options.instance === undefined ? FACTS : options.instance;
  const otherFragmentsSetAppendDimensions = others.some(
    (fragment) => (fragment.json as { metrics?: { append_dimensions?: unknown } }).metrics?.append_dimensions !== undefined,
  );
  const host =
    instance === null
      ? undefined
      : metricHostOf({
          instanceId: instance.InstanceId,
          imageId: instance.ImageId,
          instanceType: instance.InstanceType,
          tags: { [AUTO_SCALING_GROUP_TAG]: instance.AutoScalingGroupName },
        });
  return { name: "file_procwatch.json", json: renderProcstatFragment(spec, { ...(host === undefined ? {} : { host }), otherFragmentsSetAppendDimensions }) };
}

const CWAGENT_UID = 998;
/** The host's process table: a root nginx (master and a worker, retitled as nginx does) and look-alikes that must not count. */
const NGINX_MASTER: ModelProcess = {
  pid: 812,
  uid: 0,
  exe: "/usr/sbin/nginx",
  cmdline: "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",
};
const NGINX_WORKER: ModelProcess = { pid: 813, uid: 33, exe: "/usr/sbin/nginx", cmdline: "nginx: worker process" };
const LOOK_ALIKES: ModelProcess[] = [
  { pid: 900, uid: 1000, exe: "/usr/bin/tail", cmdline: "tail -f /var/log/nginx/access.log" },
  { pid: 901, uid: 0, exe: "/usr/local/bin/procwatch-agent", cmdline: "/usr/local/bin/procwatch-agent restart --process nginx" },
  { pid: 2, uid: 0, exe: null, cmdline: "" },
];

async function hostPublishing(
  fragments: AgentConfigFragment[],
  options: { killNginxAtMinute?: number; publishedFacts?: typeof FACTS; agent?: AgentBuild } = {},
) {
  const clock = new VirtualClock();
  const fake = new FakeAws({ clock });
  fake.addInstance({
    instanceId: INSTANCE_ID,
    tags: { ...TAGS, [AUTO_SCALING_GROUP_TAG]: FACTS.AutoScalingGroupName },
    imageId: FACTS.ImageId,
    instanceType: FACTS.InstanceType,
  });
  const out: string[] = [];
  const io: CliIo = {
    stdout: { write: (text: string) => out.push(text), isTTY: false },
    stderr: { write: () => true, isTTY: false },
    env: { RESTART_TOPIC_ARN: RESTART_TOPIC, ARMING_GRACE_MINUTES: "0" },
    stdinIsTTY: false,
    confirm: async () => false,
    createClients: () => fakeClients(fake, { retryStrategy: instantRetryStrategy(3) }),
    clock,
    wallTime: () => clock.now(),
  };
  const run = async (...argv: string[]) => {
    out.length = 0;
    const code = await runCli(argv, io);
    return { code, stdout: out.join("") };
  };
  expect((await run("apply", "--yes")).code).toBe(0);

  const merged = mergeAgentConfigFragments(fragments);
  expect(merged.errors).toEqual([]);
  const config = merged.config!;
  const { series, publisher } = procstatPublisherConfig(config, 0, options.publishedFacts ?? FACTS, options.agent);
  // The count is what the agent's lookup finds as the user it runs as (testkit's procstat lookup model).
  const agentUid = runAsUserOf(config) === "cwagent" ? CWAGENT_UID : 0;
  const entry = ((config.metrics as Record<string, unknown>).metrics_collected as { procstat: Record<string, unknown>[] }).procstat[0]!;
  const start = clock.now();
  const processesAt = (t: number) =>
    options.killNginxAtMinute !== undefined && t >= start + options.killNginxAtMinute * 60_000 ? LOOK_ALIKES : [NGINX_MASTER, NGINX_WORKER, ...LOOK_ALIKES];
  const pipeline = new TelemetryPipeline(fake, clock);
  pipeline.watch({
    publisher: new CloudWatchAgentPublisher(series, { ...publisherOptionsFor("standard", 0), ...publisher }, (t) =>
      procstatLookupCount(entry, processesAt(t), agentUid),
    ),
  });
  pipeline.runUntil(clock.now() + 20 * 60_000); // past ListMetrics' 15-minute delay
  const rows = JSON.parse((await run("status", "--json")).stdout) as { alarmName: string; state: string; metric: string; cause?: string }[];
  const row = rows.find((candidate) => candidate.alarmName === alarmNameFor(INSTANCE_ID, "nginx"));
  if (row === undefined) throw new Error("no status row for the host's nginx alarm");
  return { row, series, entry, agentUid };
}

const PUBLISHED_NAMES = ["AutoScalingGroupName", "ImageId", "InstanceId", "InstanceType", "pattern", "pid_finder"];

describe("status on a host set up with the CloudWatch agent's wizard (run_as_user cwagent, EC2 dimensions appended)", () => {
  it("procwatch's alarm gets data: its fragment merges with the wizard's, pins the host dimensions per entry, and the agent counts root's nginx as cwagent", async () => {
    const wizard = wizardFragment({ aggregateInstanceId: false });
    const { row, series, entry, agentUid } = await hostPublishing([wizard, procwatchFragment([wizard])]);
    expect(agentUid).toBe(CWAGENT_UID);
    expect(entry).not.toHaveProperty("exe");
    expect(series.dimensions.map((dimension) => dimension.Name).sort()).toEqual(PUBLISHED_NAMES);
    expect(row).toMatchObject({ metric: "reporting", state: "OK" });
  });

  it("also when the host's own config sets aggregation_dimensions [[InstanceId]] (procwatch adds no list of its own, so nothing conflicts)", async () => {
    const wizard = wizardFragment({ aggregateInstanceId: true });
    const { row, series } = await hostPublishing([wizard, procwatchFragment([wizard])]);
    expect(series.dimensions.map((dimension) => dimension.Name).sort()).toEqual(PUBLISHED_NAMES);
    expect(row).toMatchObject({ metric: "reporting", state: "OK" });
  });

  it("the look-alikes do not keep a dead nginx alive: killed, the alarm goes to ALARM", async () => {
    const wizard = wizardFragment({ aggregateInstanceId: true });
    const { row } = await hostPublishing([wizard, procwatchFragment([wizard])], { killNginxAtMinute: 10 });
    expect(row).toMatchObject({ metric: "reporting", state: "ALARM" });
  });

  it("the previous fragment (exe selector, no per-entry dimensions) gets no usable data on the same host: what this design fixes", async () => {
    const wizard = wizardFragment({ aggregateInstanceId: true });
    const current = procwatchFragment([wizard]).json as { metrics: { metrics_collected: { procstat: Record<string, unknown>[] } } };
    const [{ pattern, append_dimensions, ...rest }] = current.metrics.metrics_collected.procstat as [Record<string, unknown>];
    const previous: AgentConfigFragment = {
      name: "file_procwatch.json",
      json: { metrics: { metrics_collected: { procstat: [{ ...rest, exe: exeRegexForName("nginx") }] } } },
    };
    const { row, series, entry, agentUid } = await hostPublishing([wizard, previous]);
    // As cwagent the exe lookup skips root's nginx (it cannot read /proc/<pid>/exe) ...
    expect(procstatLookupCount(entry, [NGINX_MASTER, NGINX_WORKER], agentUid)).toBe(0);
    // ... and the series carries the wizard's dimensions with the exe selector, which no procwatch alarm watches.
    expect(series.dimensions.map((dimension) => dimension.Name).sort()).toEqual([
      "AutoScalingGroupName",
      "ImageId",
      "InstanceId",
      "InstanceType",
      "exe",
      "pid_finder",
    ]);
    expect(row.metric).toBe("no data");
    expect(row.cause).toMatch(/^process not watched on the host by this selector: the agent reports exe selectors/);
    expect(row.cause).toMatch(/run procwatch-agent apply/);
  });

  it("a resized instance whose fragment still pins the old InstanceType: status names it and the fix", async () => {
    const wizard = wizardFragment({ aggregateInstanceId: true });
    const stale = { ...FACTS, InstanceType: "m7g.medium" };
    const { row } = await hostPublishing([wizard, procwatchFragment([wizard], { instance: stale })]);
    expect(row.metric).toBe("no data");
    expect(row.cause).toContain("InstanceType m7g.medium on the host, m7g.large on the alarm");
    expect(row.cause).toContain("run procwatch-agent apply on the host");
  });
});

describe("status on a host whose only CloudWatch agent config is procwatch's (what the install and configure documents leave)", () => {
  it("the alarm gets data: procwatch's global append_dimensions turns the ec2tagger on, which removes telegraf's `host`", async () => {
    const { row, series } = await hostPublishing([procwatchFragment([])]);
    expect(series.dimensions.map((dimension) => dimension.Name).sort()).toEqual(PUBLISHED_NAMES);
    expect(row).toMatchObject({ metric: "reporting", state: "OK" });
  });

  it("without it, every series carries `host` and no alarm ever sees data; status names the ec2tagger", async () => {
    const withoutGlobal = procwatchFragment([]);
    const { append_dimensions: _, ...metrics } = (withoutGlobal.json as { metrics: Record<string, unknown> }).metrics;
    const { row, series } = await hostPublishing([{ name: withoutGlobal.name, json: { metrics } }]);
    expect(series.dimensions.map((dimension) => dimension.Name)).toContain("host");
    expect(row.metric).toBe("no data");
    expect(row.cause).toMatch(/^dimension mismatch: agent also sends host which the alarm lacks \(.*ec2tagger/);
  });

  it("a CloudWatch agent older than 1.300061.0 gets literal values on EC2, so the alarm still gets data", async () => {
    const { row } = await hostPublishing([procwatchFragment([])], { agent: { resolvesEntryPlaceholders: false } });
    expect(row).toMatchObject({ metric: "reporting", state: "OK" });
  });

  it("placeholders (a --spec file, no instance known) on such an agent stay literal: status says to upgrade it", async () => {
    const { row } = await hostPublishing([procwatchFragment([], { instance: null })], { agent: { resolvesEntryPlaceholders: false } });
    expect(row.metric).toBe("no data");
    expect(row.cause).toContain("did not resolve the instance's metadata; upgrade it to 1.300061.0 or later");
  });
});
