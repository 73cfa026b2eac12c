import { alarmNameFor, parseInstanceTags, renderProcstatFragment, resolveHostSpec } from "@procwatch/contract";
import {
  type AgentConfigFragment,
  CloudWatchAgentPublisher,
  FakeAws,
  fakeClients,
  instantRetryStrategy,
  mergeAgentConfigFragments,
  procstatPublisherConfig,
  publisherOptionsFor,
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

/** What procwatch-agent apply hands the CloudWatch agent on that host (it reads the other fragments first). */
function procwatchFragment(wizard: AgentConfigFragment): AgentConfigFragment {
  const spec = resolveHostSpec({ tags: parseInstanceTags(TAGS).spec! }).spec!;
  const metrics = (wizard.json as { metrics: { append_dimensions: Record<string, string>; aggregation_dimensions?: string[][] } }).metrics;
  const host = {
    appendDimensions: Object.keys(metrics.append_dimensions),
    ...(metrics.aggregation_dimensions === undefined ? {} : { aggregationDimensions: metrics.aggregation_dimensions }),
  };
  return { name: "file_procwatch.json", json: renderProcstatFragment(spec, { host }) };
}

async function hostPublishing(fragments: AgentConfigFragment[]) {
  const clock = new VirtualClock();
  const fake = new FakeAws({ clock });
  fake.addInstance({ instanceId: INSTANCE_ID, tags: TAGS, imageId: FACTS.ImageId, instanceType: FACTS.InstanceType });
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
  const { series, publisher } = procstatPublisherConfig(merged.config!, 0, FACTS);
  const pipeline = new TelemetryPipeline(fake, clock);
  pipeline.watch({ publisher: new CloudWatchAgentPublisher(series, { ...publisherOptionsFor("standard", 0), ...publisher }, () => 1) });
  pipeline.runUntil(clock.now() + 20 * 60_000); // past ListMetrics' 15-minute delay
  const rows = JSON.parse((await run("status", "--json")).stdout) as { alarmName: string; state: string; metric: string; cause?: string }[];
  const row = rows.find((candidate) => candidate.alarmName === alarmNameFor(INSTANCE_ID, "nginx"));
  if (row === undefined) throw new Error("no status row for the host's nginx alarm");
  return { row, series };
}

describe("status on a host whose CloudWatch agent appends the wizard's dimensions", () => {
  it("the alarm reports: procwatch's fragment merges with the wizard's config and asks for a roll-up with exactly the alarm's dimensions", async () => {
    const wizard = wizardFragment({ aggregateInstanceId: false });
    const { row, series } = await hostPublishing([wizard, procwatchFragment(wizard)]);
    // The host's own series still carries every appended dimension ...
    expect(series.dimensions.map((dimension) => dimension.Name).sort()).toEqual([
      "AutoScalingGroupName",
      "ImageId",
      "InstanceId",
      "InstanceType",
      "exe",
      "pid_finder",
    ]);
    // ... and the alarm sees the rolled-up one.
    expect(row).toMatchObject({ metric: "reporting", state: "OK" });
  });

  it("when the host's own aggregation_dimensions leave procwatch's set out (it cannot be merged), status says why and what fixes it", async () => {
    const wizard = wizardFragment({ aggregateInstanceId: true });
    const { row } = await hostPublishing([wizard, procwatchFragment(wizard)]);
    expect(row.metric).toBe("no data");
    expect(row.cause).toMatch(/^dimension mismatch: agent also sends AutoScalingGroupName, ImageId, InstanceType which the alarm lacks/);
    expect(row.cause).toMatch(/metrics\.append_dimensions/);
    expect(row.cause).toMatch(/aggregation_dimensions/);
    expect(row.cause).toMatch(/\["InstanceId","exe","pid_finder"\]/);
  });
});
