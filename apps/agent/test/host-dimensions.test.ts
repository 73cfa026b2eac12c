import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AUTO_SCALING_GROUP_TAG, exeRegexForName, selectorOf } from "@procwatch/contract";
import { afterEach, describe, expect, it } from "vitest";
import { agentVersionOlderThan } from "../src/core/cwagent-config.ts";
import type { HealthReport } from "../src/core/health.ts";
import { type AutoScalingGroupCache, stateDirAutoScalingGroupCache } from "../src/io/auto-scaling-group-cache.ts";
import { ImdsClient } from "../src/io/imds.ts";
import { loadSpec } from "../src/io/spec-loader.ts";
import {
  FAKE_IDENTITY,
  type FakeEc2,
  type FakeMetadataService,
  fakeCtl,
  fakeEc2,
  fakeMetadataService,
  runAgent,
  Scratch,
  uniqueName,
  withProcessEnv,
  writeJson,
} from "./helpers.ts";

/**
 * The host dimensions procwatch's fragment pins (contract `hostDimensionPins`): the instance's own
 * values when the spec came from its tags (identity document; the Auto Scaling group from the same
 * tags, else DescribeTags for that one key), placeholders without an instance (a --spec file); and
 * `metrics.append_dimensions` (which turns on the ec2tagger, the only thing that removes telegraf's
 * `host` dimension) unless another fragment already sets it. apply writes and health expects the
 * same bytes from the same inputs.
 */

const scratch = new Scratch();
const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  scratch.cleanup();
  for (const server of servers.splice(0)) await server.close();
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholder
const INSTANCE_ID_PLACEHOLDER = "${aws:InstanceId}";
const PLACEHOLDER_PINS = {
  // biome-ignore-start lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholders
  ImageId: "${aws:ImageId}",
  InstanceId: "${aws:InstanceId}",
  InstanceType: "${aws:InstanceType}",
  // biome-ignore-end lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholders
};
const LITERAL_PINS = { ImageId: FAKE_IDENTITY.imageId, InstanceId: FAKE_IDENTITY.instanceId, InstanceType: FAKE_IDENTITY.instanceType };

interface Host {
  readonly name: string;
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly configDir: string;
  readonly fragmentPath: string;
  readonly installedPath: string;
  readonly specPath: string;
  readonly imds: FakeMetadataService;
  readonly ec2: FakeEc2;
  /** Runs the agent in-process with the SDK pointed at the EC2 stand-in. */
  run(args: readonly string[]): ReturnType<typeof runAgent>;
}

/**
 * A host with one running watched process, a CloudWatch agent ctl stand-in, instance metadata
 * (`tags` null: tags in metadata off) and an EC2 API stand-in answering DescribeTags.
 */
async function host(options: {
  tags?: Record<string, string> | null;
  /** DescribeTags' answer to each request, given the watched process's name. */
  describeTags?: (params: Record<string, string>, name: string) => ReturnType<Parameters<typeof fakeEc2>[0]>;
  agentVersion?: string;
}): Promise<Host> {
  const dir = scratch.dir();
  const name = uniqueName("pwdim");
  scratch.start(scratch.copySleep(dir, name), ["300"]);
  const ctl = fakeCtl(dir, {
    cwagentDir: join(dir, "cwagent"),
    status: { status: "running", configstatus: "configured", version: options.agentVersion ?? "1.300064.0" },
  });
  const ownTags = { "procwatch:enabled": "true", "procwatch:processes": name };
  const imds = await fakeMetadataService({ tags: options.tags === null ? null : { Name: "web-1", ...ownTags, ...(options.tags ?? {}) } });
  const describeTags = options.describeTags ?? (() => ({ errorCode: "UnexpectedCall" }));
  const ec2 = await fakeEc2((params) => describeTags(params, name));
  servers.push(imds, ec2);
  const specPath = join(dir, "spec.json");
  writeJson(specPath, { version: 1, processes: [{ name }] });
  const env = {
    PROCWATCH_STATE_DIR: join(dir, "state"),
    PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
    PROCWATCH_CWAGENT_CTL: ctl.path,
    AWS_EC2_METADATA_DISABLED: "false",
    PROCWATCH_IMDS_ENDPOINT: imds.endpoint,
  };
  return {
    name,
    dir,
    env,
    configDir: ctl.configDir,
    fragmentPath: join(dir, "state", "procwatch.json"),
    installedPath: join(ctl.configDir, "file_procwatch.json"),
    specPath,
    imds,
    ec2,
    run: (args) => withProcessEnv({ AWS_ENDPOINT_URL_EC2: ec2.endpoint }, () => runAgent(args, env)),
  };
}

/** The one procstat entry procwatch renders for `name`, with `pins` as its append_dimensions. */
function entryFor(name: string, pins: Record<string, string>) {
  return {
    pattern: selectorOf({ mode: "exe", exe: exeRegexForName(name) }).value,
    measurement: ["pid_count"],
    metrics_collection_interval: 60,
    append_dimensions: pins,
  };
}

function metricsOf(path: string): Record<string, unknown> & { metrics_collected: { procstat: { append_dimensions: Record<string, string> }[] } } {
  return JSON.parse(readFileSync(path, "utf8")).metrics;
}

/** apply, then health: the staged file and the agent's copy are the bytes health expects. */
async function applyThenHealth(h: Host, args: readonly string[]): Promise<HealthReport> {
  const applied = await h.run(["apply", ...args, "--json"]);
  expect(applied.exitCode, applied.stderr).toBe(0);
  const report = (await h.run(["health", ...args, "--json"])).json<HealthReport>();
  expect(report.fragment).toMatchObject({ comparison: "matches", installed: { comparison: "matches" } });
  expect(readFileSync(h.installedPath, "utf8")).toBe(readFileSync(h.fragmentPath, "utf8"));
  return report;
}

describe("in tags mode the fragment pins this instance's own host dimensions", () => {
  it("instance-metadata tags listing aws:autoscaling:groupName: literal InstanceId, ImageId, InstanceType and AutoScalingGroupName, no DescribeTags; apply and health agree", async () => {
    const h = await host({ tags: { [AUTO_SCALING_GROUP_TAG]: "web-asg" } });
    const rendered = await h.run(["render", "--json"]);
    expect(rendered.exitCode, rendered.stderr).toBe(0);
    expect(rendered.json()).toMatchObject({ source: "imds-tags" });
    expect(rendered.json<{ fragment: unknown }>().fragment).toEqual({
      metrics: {
        append_dimensions: { InstanceId: INSTANCE_ID_PLACEHOLDER },
        metrics_collected: { procstat: [entryFor(h.name, { AutoScalingGroupName: "web-asg", ...LITERAL_PINS })] },
      },
    });
    // One identity document per run, inside the metadata conversation's deadline; other tags never fetched.
    expect(h.imds.requests.filter((request) => request.endsWith("/instance-identity/document"))).toHaveLength(1);
    expect(h.imds.requests.filter((request) => request.endsWith("/Name"))).toEqual([]);

    const report = await applyThenHealth(h, []);
    expect(report).toMatchObject({ status: "healthy", findings: [] });
    expect(metricsOf(h.installedPath).metrics_collected.procstat[0]?.append_dimensions).toEqual({ AutoScalingGroupName: "web-asg", ...LITERAL_PINS });
    expect(h.ec2.requests).toEqual([]);
  });

  it("instance-metadata tags without the group's key: DescribeTags is asked for that one key of this instance, and its answer is pinned", async () => {
    const h = await host({ describeTags: () => ({ tags: { [AUTO_SCALING_GROUP_TAG]: "orders-asg" } }) });
    const report = await applyThenHealth(h, []);
    expect(report).toMatchObject({ status: "healthy", findings: [] });
    expect(metricsOf(h.fragmentPath).metrics_collected.procstat[0]?.append_dimensions).toEqual({ AutoScalingGroupName: "orders-asg", ...LITERAL_PINS });
    expect(h.ec2.requests.length).toBeGreaterThan(0);
    for (const request of h.ec2.requests) {
      expect(request).toMatchObject({
        Action: "DescribeTags",
        "Filter.1.Name": "resource-id",
        "Filter.1.Value.1": FAKE_IDENTITY.instanceId,
        "Filter.2.Name": "key",
        "Filter.2.Value.1": AUTO_SCALING_GROUP_TAG,
      });
      expect(request["Filter.2.Value.2"]).toBeUndefined();
    }
  });

  it("an instance in no group (DescribeTags lists no such key) pins the other three and is healthy", async () => {
    const h = await host({ describeTags: () => ({ tags: {} }) });
    expect(await applyThenHealth(h, [])).toMatchObject({ status: "healthy", findings: [] });
    expect(metricsOf(h.fragmentPath).metrics_collected.procstat[0]?.append_dimensions).toEqual(LITERAL_PINS);
  });

  it("when DescribeTags fails, apply pins no group and health, still matching the bytes, says the group could not be determined and what that does", async () => {
    const h = await host({ describeTags: () => ({ errorCode: "UnauthorizedOperation" }) });
    const report = await applyThenHealth(h, []);
    expect(metricsOf(h.fragmentPath).metrics_collected.procstat[0]?.append_dimensions).toEqual(LITERAL_PINS);
    expect(report.status).toBe("degraded");
    expect(report.findings).toEqual([
      {
        code: "auto-scaling-group-unknown",
        message: expect.stringMatching(/^the Auto Scaling group of this instance could not be determined \(.*EC2 DescribeTags failed: /),
        hint: expect.stringContaining("ec2:DescribeTags"),
      },
    ]);
    expect(report.findings[0]?.message).toContain("if the instance is in an Auto Scaling group its alarms, which carry that dimension, see no data");
    expect(report.findings[0]?.message).toContain("unless the host's own CloudWatch agent config appends AutoScalingGroupName");
    expect(report.reasons).toContain(report.findings[0]?.message);
  });

  it("tags from DescribeTags (metadata tags off): the group comes from the same listing, with no second call", async () => {
    const h = await host({
      tags: null,
      describeTags: (params, name) => {
        const all: Record<string, string> = { "procwatch:enabled": "true", "procwatch:processes": name, [AUTO_SCALING_GROUP_TAG]: "batch-asg" };
        return { tags: params["Filter.2.Name"] === undefined ? all : {} };
      },
    });
    const report = await applyThenHealth(h, []);
    expect(report).toMatchObject({ status: "healthy", findings: [], spec: { source: "describe-tags" } });
    expect(metricsOf(h.fragmentPath).metrics_collected.procstat[0]?.append_dimensions).toEqual({ AutoScalingGroupName: "batch-asg", ...LITERAL_PINS });
    expect(h.ec2.requests.every((request) => request["Filter.2.Name"] === undefined)).toBe(true);
  });
});

describe("the Auto Scaling group lookup, with a mocked DescribeTags", () => {
  async function stageWith(
    tags: Record<string, string>,
    tagsOf: (region: string, instanceId: string, keys?: readonly string[]) => Promise<Record<string, string>>,
    autoScalingGroupCache?: AutoScalingGroupCache,
  ) {
    const imds = await fakeMetadataService({ tags });
    servers.push(imds);
    const stage = await loadSpec(
      { tagPrefix: "procwatch" },
      {
        imds: () => new ImdsClient({ endpoint: imds.endpoint }),
        tagReader: (region) => ({ tagsOf: (instanceId, keys) => tagsOf(region, instanceId, keys) }),
        profileReader: () => ({ profile: async () => ({ found: false }) }),
        ...(autoScalingGroupCache === undefined ? {} : { autoScalingGroupCache }),
      },
    );
    return { stage, imds };
  }

  it("remembers DescribeTags' answer in the state directory: the next runs ask nothing until it is 6 hours old, and never for another instance", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pw-asg-"));
    let now = 1_000_000;
    const cache = stateDirAutoScalingGroupCache(join(dir, "auto-scaling-group.json"), () => now);
    const asked: string[] = [];
    const lookup = async (_region: string, instanceId: string) => {
      asked.push(instanceId);
      return {};
    };
    const tags = { "procwatch:enabled": "true", "procwatch:processes": "nginx" };
    const first = await stageWith(tags, lookup, cache);
    const second = await stageWith(tags, lookup, cache);
    expect(asked).toEqual([FAKE_IDENTITY.instanceId]);
    for (const { stage } of [first, second]) expect(stage.kind === "ready" ? stage.instance?.host.autoScalingGroupName : "x").toBeUndefined();
    now += 6 * 60 * 60_000;
    await stageWith(tags, lookup, cache);
    expect(asked).toHaveLength(2);
    // An answer recorded for another instance (an image baked with its state directory) is not this one's.
    writeFileSync(join(dir, "auto-scaling-group.json"), JSON.stringify({ instanceId: "i-0fffffffffffffff0", autoScalingGroupName: "other", checkedAtMs: now }));
    const baked = await stageWith(tags, lookup, cache);
    expect(asked).toHaveLength(3);
    expect(baked.stage.kind === "ready" ? baked.stage.instance?.host.autoScalingGroupName : "x").toBeUndefined();
    // A failed lookup is not remembered.
    rmSync(join(dir, "auto-scaling-group.json"));
    await stageWith(
      tags,
      async () => {
        throw new Error("throttled");
      },
      cache,
    );
    expect(existsSync(join(dir, "auto-scaling-group.json"))).toBe(false);
    rmSync(dir, { recursive: true });
  });

  it("asks for aws:autoscaling:groupName only, in the identity document's region, when metadata tags leave it out", async () => {
    const asked: string[] = [];
    const { stage } = await stageWith({ "procwatch:enabled": "true", "procwatch:processes": "nginx" }, async (region, instanceId, keys) => {
      asked.push(`${region} ${instanceId} ${JSON.stringify(keys)}`);
      return { [AUTO_SCALING_GROUP_TAG]: "web-asg" };
    });
    expect(asked).toEqual([`${FAKE_IDENTITY.region} ${FAKE_IDENTITY.instanceId} ["${AUTO_SCALING_GROUP_TAG}"]`]);
    expect(stage).toMatchObject({
      kind: "ready",
      source: "imds-tags",
      instance: {
        host: {
          instanceId: FAKE_IDENTITY.instanceId,
          imageId: FAKE_IDENTITY.imageId,
          instanceType: FAKE_IDENTITY.instanceType,
          autoScalingGroupName: "web-asg",
        },
      },
    });
    expect(stage.kind === "ready" ? stage.instance?.autoScalingGroupProblem : "not ready").toBeUndefined();
  });

  it("a failing lookup leaves the group out and says why; an opted-out host asks nothing", async () => {
    const { stage } = await stageWith({ "procwatch:enabled": "true", "procwatch:processes": "nginx" }, async () => {
      throw new Error("EC2 DescribeTags failed: access denied");
    });
    expect(stage).toMatchObject({ kind: "ready", instance: { autoScalingGroupProblem: "EC2 DescribeTags failed: access denied" } });
    expect(stage.kind === "ready" ? stage.instance?.host : undefined).toEqual({
      instanceId: FAKE_IDENTITY.instanceId,
      imageId: FAKE_IDENTITY.imageId,
      instanceType: FAKE_IDENTITY.instanceType,
    });

    const calls: string[] = [];
    const { stage: optedOut, imds } = await stageWith({ "procwatch:processes": "nginx" }, async (region) => {
      calls.push(region);
      return {};
    });
    expect(optedOut.kind).toBe("not-opted-in");
    expect(calls).toEqual([]);
    expect(imds.requests.filter((request) => request.endsWith("/instance-identity/document"))).toEqual([]);
  });

  it("an identity document without imageId or instanceType is an ImdsAnswerError", async () => {
    const imds = await fakeMetadataService({ tags: null, identity: { instanceId: FAKE_IDENTITY.instanceId, region: "eu-west-1", imageId: 7 } });
    servers.push(imds);
    await expect(new ImdsClient({ endpoint: imds.endpoint }).instanceIdentity()).rejects.toMatchObject({
      name: "ImdsAnswerError",
      message: expect.stringContaining("without imageId, instanceType"),
    });
  });
});

describe("metrics.append_dimensions is in procwatch's fragment exactly when no other fragment sets it", () => {
  async function cycle(h: Host, args: readonly string[], pins: Record<string, string>) {
    // Alone: procwatch's fragment turns the ec2tagger on.
    expect(await applyThenHealth(h, args)).toMatchObject({ status: "healthy", findings: [] });
    expect(metricsOf(h.installedPath)).toEqual({
      append_dimensions: { InstanceId: INSTANCE_ID_PLACEHOLDER },
      metrics_collected: { procstat: [entryFor(h.name, pins)] },
    });

    // Another file sets it (any value): procwatch's copy would be a second, different value.
    const other = join(h.configDir, "file_app-metrics.json");
    writeJson(other, { metrics: { append_dimensions: { InstanceId: INSTANCE_ID_PLACEHOLDER, Team: "orders" }, metrics_collected: { mem: {} } } });
    const stale = (await h.run(["health", ...args, "--json"])).json<HealthReport>();
    expect(stale.fragment).toMatchObject({ comparison: "differs", installed: { comparison: "differs" } });
    const rendered = (await h.run(["render", ...args])).stdout;
    expect(await applyThenHealth(h, args)).toMatchObject({ status: "healthy", findings: [] });
    expect(readFileSync(h.installedPath, "utf8")).toBe(rendered);
    expect(metricsOf(h.installedPath)).toEqual({ metrics_collected: { procstat: [entryFor(h.name, pins)] } });

    // Gone again (say, fetch-config of another config): procwatch sets it again.
    rmSync(other);
    expect((await h.run(["health", ...args, "--json"])).json<HealthReport>().fragment.comparison).toBe("differs");
    await applyThenHealth(h, args);
    expect(metricsOf(h.installedPath).append_dimensions).toEqual({ InstanceId: INSTANCE_ID_PLACEHOLDER });
  }

  it("with a --spec file (placeholders)", async () => {
    const h = await host({});
    await cycle(h, ["--spec", h.specPath], PLACEHOLDER_PINS);
  });

  it("in tags mode (literal pins)", async () => {
    const h = await host({ tags: { [AUTO_SCALING_GROUP_TAG]: "web-asg" } });
    await cycle(h, [], { AutoScalingGroupName: "web-asg", ...LITERAL_PINS });
  });
});

describe("a CloudWatch agent older than 1.300061.0", () => {
  it("is a degraded finding when the fragment pins placeholders (a --spec file), and none with 1.300061.0 or literal pins", async () => {
    const old = await host({ agentVersion: "1.300060.0b1003" });
    const report = await applyThenHealth(old, ["--spec", old.specPath]);
    expect(report.status).toBe("degraded");
    expect(report.findings).toEqual([
      {
        code: "cloudwatch-agent-too-old-for-placeholders",
        message: expect.stringContaining(
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's placeholder syntax, quoted
          "the CloudWatch agent is version 1.300060.0b1003: before 1.300061.0 it does not resolve ${aws:…} placeholders in a procstat entry's own append_dimensions",
        ),
        hint: expect.stringMatching(
          /^upgrade the CloudWatch agent to 1\.300061\.0 or later \(SSM document AWS-ConfigureAWSPackage, name AmazonCloudWatchAgent/,
        ),
      },
    ]);

    const current = await host({ agentVersion: "1.300061.0" });
    expect(await applyThenHealth(current, ["--spec", current.specPath])).toMatchObject({ status: "healthy", findings: [] });

    const literal = await host({ agentVersion: "1.247359.1b253434", tags: { [AUTO_SCALING_GROUP_TAG]: "web-asg" } });
    expect(await applyThenHealth(literal, [])).toMatchObject({ status: "healthy", findings: [] });
  });

  it("versions compare by major, minor and patch; an unreadable one is no finding", () => {
    expect(agentVersionOlderThan("1.300060.0", "1.300061.0")).toBe(true);
    expect(agentVersionOlderThan("1.247359.1b253434", "1.300061.0")).toBe(true);
    expect(agentVersionOlderThan("1.300061.0", "1.300061.0")).toBe(false);
    expect(agentVersionOlderThan("1.300061.0b1", "1.300061.0")).toBe(false);
    expect(agentVersionOlderThan("1.300064.1", "1.300061.0")).toBe(false);
    expect(agentVersionOlderThan("2.0.0", "1.300061.0")).toBe(false);
    expect(agentVersionOlderThan("unknown", "1.300061.0")).toBe(false);
  });
});
