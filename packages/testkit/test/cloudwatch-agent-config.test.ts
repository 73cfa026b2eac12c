import { describe, expect, it } from "vitest";
import { agentBuildOf, type ModelProcess, mergeAgentConfigFragments, procstatLookupCount, procstatPublisherConfig, runAsUserOf } from "../src/index.ts";

/**
 * The agent-config and procstat-lookup models against the cases their sources spell out (cited in
 * cloudwatch-agent-config.ts and procstat-lookup.ts).
 */
const FACTS = { InstanceId: "i-0aaaaaaaaaaaaaaa1", ImageId: "ami-0123456789abcdef0", InstanceType: "m7g.large", AutoScalingGroupName: "web-asg" };

// biome-ignore-start lint/suspicious/noTemplateCurlyInString: the agent's placeholders.
const WIZARD_APPEND = {
  AutoScalingGroupName: "${aws:AutoScalingGroupName}",
  ImageId: "${aws:ImageId}",
  InstanceId: "${aws:InstanceId}",
  InstanceType: "${aws:InstanceType}",
};
const PINNED = {
  InstanceId: "${aws:InstanceId}",
  ImageId: "${aws:ImageId}",
  InstanceType: "${aws:InstanceType}",
  AutoScalingGroupName: "${aws:AutoScalingGroupName}",
};
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: the agent's placeholders.

const names = (dimensions: readonly { Name: string }[]) => dimensions.map((dimension) => dimension.Name).sort();

describe("the agent's merge and dimensions (cwa mergeJsonUtil/util.go, ec2tagger.go updateOtelAttributes)", () => {
  it("two fragments with different metrics-level append_dimensions fail the translation; a per-entry list never conflicts", () => {
    const other = { name: "file_other.json", json: { metrics: { append_dimensions: { InstanceId: PINNED.InstanceId }, metrics_collected: {} } } };
    const wizard = { name: "file_config.json", json: { metrics: { append_dimensions: WIZARD_APPEND, metrics_collected: {} } } };
    expect(mergeAgentConfigFragments([wizard, other]).errors).toEqual(["/metrics/append_dimensions: Different values are specified for append_dimensions"]);
    const entry = { name: "file_procwatch.json", json: { metrics: { metrics_collected: { procstat: [{ pattern: "x", append_dimensions: PINNED }] } } } };
    expect(mergeAgentConfigFragments([wizard, entry]).errors).toEqual([]);
  });

  it("global dimensions are added only where the datum lacks the name; an empty resolution (no Auto Scaling group) is dropped", () => {
    const merged = mergeAgentConfigFragments([
      {
        name: "a.json",
        json: {
          metrics: {
            append_dimensions: WIZARD_APPEND,
            metrics_collected: { procstat: [{ exe: "bare" }, { pattern: "pinned", append_dimensions: { ImageId: "custom" } }] },
          },
        },
      },
    ]).config!;
    expect(names(procstatPublisherConfig(merged, 0, FACTS).series.dimensions)).toEqual([
      "AutoScalingGroupName",
      "ImageId",
      "InstanceId",
      "InstanceType",
      "exe",
      "pid_finder",
    ]);
    expect(procstatPublisherConfig(merged, 1, FACTS).series.dimensions).toContainEqual({ Name: "ImageId", Value: "custom" });
    const { AutoScalingGroupName: _, ...noGroup } = FACTS;
    expect(names(procstatPublisherConfig(merged, 0, noGroup).series.dimensions)).toEqual(["ImageId", "InstanceId", "InstanceType", "exe", "pid_finder"]);
  });
});

describe("telegraf's host tag and the ec2tagger (tgf config/config.go, cwa ruleOmitHostname.go, ec2tagger.go attr.Remove)", () => {
  const entryOnly = (extra: Record<string, unknown> = {}) =>
    mergeAgentConfigFragments([
      { name: "a.json", json: { ...extra, metrics: { metrics_collected: { procstat: [{ pattern: "x", append_dimensions: PINNED }] } } } },
    ]).config!;

  it("without any metrics-level append_dimensions there is no ec2tagger, so every datum keeps `host`", () => {
    expect(procstatPublisherConfig(entryOnly(), 0, { ...FACTS, Hostname: "ip-10-1-2-3" }).series.dimensions).toContainEqual({
      Name: "host",
      Value: "ip-10-1-2-3",
    });
  });

  it("agent.omit_hostname keeps it off; a metrics-level append_dimensions (the ec2tagger) removes it", () => {
    expect(names(procstatPublisherConfig(entryOnly({ agent: { omit_hostname: true } }), 0, FACTS).series.dimensions)).not.toContain("host");
    const withTagger = mergeAgentConfigFragments([
      { name: "a.json", json: { metrics: { append_dimensions: { InstanceId: PINNED.InstanceId }, metrics_collected: { procstat: [{ pattern: "x" }] } } } },
    ]).config!;
    expect(names(procstatPublisherConfig(withTagger, 0, FACTS).series.dimensions)).toEqual(["InstanceId", "pattern", "pid_finder"]);
  });

  it("agents before 1.300061.0 keep an entry's placeholders literally; literal values mean the same to every version", () => {
    const old = { resolvesEntryPlaceholders: false };
    expect(procstatPublisherConfig(entryOnly(), 0, FACTS, old).series.dimensions).toContainEqual({ Name: "ImageId", Value: PINNED.ImageId });
    const literal = mergeAgentConfigFragments([
      { name: "a.json", json: { metrics: { metrics_collected: { procstat: [{ pattern: "x", append_dimensions: { ImageId: FACTS.ImageId } }] } } } },
    ]).config!;
    expect(procstatPublisherConfig(literal, 0, FACTS, old).series.dimensions).toContainEqual({ Name: "ImageId", Value: FACTS.ImageId });
  });

  it("the build a ctl status version names: 1.300061.0 is the first to resolve entry placeholders", () => {
    expect(agentBuildOf("1.300060.0b1001")).toEqual({ resolvesEntryPlaceholders: false });
    expect(agentBuildOf("1.300061.0b1005")).toEqual({ resolvesEntryPlaceholders: true });
    expect(agentBuildOf("1.300064.1-demo")).toEqual({ resolvesEntryPlaceholders: true });
    expect(agentBuildOf("1.247359.1b252")).toEqual({ resolvesEntryPlaceholders: false });
  });
});

describe("procstat lookups as the agent's user (native_finder_notwindows.go Pattern/FullPattern, fs/proc/base.c proc_exe_link)", () => {
  const processes: ModelProcess[] = [
    { pid: 812, uid: 0, exe: "/usr/sbin/nginx", cmdline: "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;" },
    { pid: 813, uid: 33, exe: "/usr/sbin/nginx", cmdline: "nginx: worker process" },
    {
      pid: 950,
      uid: 998,
      exe: "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent",
      cmdline: "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent -config x",
    },
    { pid: 2, uid: 0, exe: null, cmdline: "" },
  ];

  it("run_as_user: absent or root is root; anything else drops root", () => {
    expect(runAsUserOf({})).toBeUndefined();
    expect(runAsUserOf({ agent: { run_as_user: "root" } })).toBeUndefined();
    expect(runAsUserOf({ agent: { run_as_user: "cwagent" } })).toBe("cwagent");
  });

  it("exe: root reads every link; another user only its own processes' (others are skipped without an error)", () => {
    expect(procstatLookupCount({ exe: "nginx" }, processes, 0)).toBe(2);
    expect(procstatLookupCount({ exe: "nginx" }, processes, 998)).toBe(0);
    expect(procstatLookupCount({ exe: "amazon-cloudwatch-agent$" }, processes, 998)).toBe(1);
  });

  it("pattern: every user reads every command line; an empty one still meets the regex", () => {
    expect(procstatLookupCount({ pattern: "^([^ ]*/)?nginx:?( |$)" }, processes, 998)).toBe(2);
    expect(procstatLookupCount({ pattern: "^([^ ]*/)?nginx:?( |$)" }, processes, 0)).toBe(2);
    expect(procstatLookupCount({ pattern: "^$" }, processes, 998)).toBe(1);
  });
});
