import { DEFAULT_METRIC_NAMESPACE, DETECTION_PROFILES, type HostSpec, renderProcstatFragment } from "@procwatch/contract";
import type { HostFinding } from "./health.ts";
import { isObject } from "./json-checks.ts";

/**
 * What the CloudWatch agent actually loads: every file in `amazon-cloudwatch-agent.d/`, merged.
 * `append-config -c file:<staged>` copies procwatch's staged fragment there byte for byte as
 * `file_<name>` (the config downloader's naming); `fetch-config` wipes that directory, and other
 * fragments can set scalars procwatch's alarms depend on. procwatch's fragment depends on them in
 * one point only: it sets `metrics.append_dimensions` (to turn the ec2tagger on, which removes the
 * `host` dimension) unless another file already does (see the contract's `renderProcstatFragment`).
 * These checks are pure: the shell reads the directory and hands over each file's parsed JSON.
 */
export const CWAGENT_CONFIG_SUBDIR = "etc/amazon-cloudwatch-agent.d";

/** The name the config downloader gives `file:<path>`: `file_` + the base name with '/', ' ' and ':' turned into '_'. */
export function installedFragmentFileName(stagedPath: string): string {
  const base = stagedPath.slice(stagedPath.lastIndexOf("/") + 1);
  return `file_${base.replace(/[/ :]/g, "_")}`;
}

export interface OtherFragment {
  /** File name inside amazon-cloudwatch-agent.d. */
  readonly name: string;
  readonly json: unknown;
}

/** Agent-level settings procwatch's alarms depend on, as implied by the spec (and --namespace). */
export interface ExpectedAgentSettings {
  /** procwatch's own `metrics.force_flush_interval`, or null when it sets none (agent default 60 s). */
  readonly forceFlushInterval: number | null;
  readonly namespace: string;
  readonly watchesProcesses: boolean;
}

export function expectedAgentSettings(spec: HostSpec, namespace: string | undefined): ExpectedAgentSettings {
  const rendered = renderProcstatFragment(spec, namespace === undefined ? {} : { namespace });
  return {
    forceFlushInterval: rendered.metrics.force_flush_interval ?? null,
    namespace: namespace ?? DEFAULT_METRIC_NAMESPACE,
    watchesProcesses: spec.processes.length > 0,
  };
}

/**
 * What the host's other fragments set that procwatch's fragment and health depend on, as the
 * CloudWatch agent's merge sees it: each key from the first file (in name order, the merge order
 * of translator/jsonconfig/mergeJsonConfig.go) that sets it. Two files setting different values
 * already fail the agent's translation, which is not procwatch's to settle.
 */
export interface HostAgentConfig {
  /** `agent.run_as_user` and the file that sets it (absent: the agent runs as root). */
  readonly runAsUser?: { readonly user: string; readonly path: string };
  /**
   * The file that sets `metrics.append_dimensions` (any value: the agent merges the key with
   * `reflect.DeepEqual`, so procwatch must not set a second one), when one does.
   */
  readonly appendDimensions?: { readonly path: string };
}

export function hostAgentConfigOf(directory: string, others: readonly OtherFragment[]): HostAgentConfig {
  let runAsUser: HostAgentConfig["runAsUser"];
  let appendDimensions: HostAgentConfig["appendDimensions"];
  for (const other of others) {
    if (!isObject(other.json)) continue;
    const path = `${directory}/${other.name}`;
    const agent = other.json.agent;
    if (runAsUser === undefined && isObject(agent) && typeof agent.run_as_user === "string") runAsUser = { user: agent.run_as_user, path };
    const metrics = other.json.metrics;
    if (appendDimensions === undefined && isObject(metrics) && metrics.append_dimensions !== undefined) appendDimensions = { path };
  }
  return { ...(runAsUser === undefined ? {} : { runAsUser }), ...(appendDimensions === undefined ? {} : { appendDimensions }) };
}

/**
 * Settings in other fragments that break procwatch's alarms, one finding each:
 *   - `metrics.force_flush_interval`: a scalar, so a value other than procwatch's fast-profile one
 *     makes the merged config invalid; without a fast profile, a value above the standard 60 s
 *     period delivers datapoints late, which the alarms (missing data = breaching) see as gaps;
 *   - `metrics.namespace` other than the one the alarms read (also a scalar).
 * `append_dimensions` and `aggregation_dimensions` are no finding: procwatch leaves
 * `append_dimensions` to a file that sets it and never sets `aggregation_dimensions` (so they
 * merge), its entries carry their own host dimensions, which the ec2tagger never overrides
 * (ec2tagger.go `updateOtelAttributes` adds only names a datum lacks), and a roll-up only adds series.
 */
export function otherFragmentFindings(directory: string, others: readonly OtherFragment[], expected: ExpectedAgentSettings): HostFinding[] {
  const findings: HostFinding[] = [];
  for (const other of others) {
    if (!isObject(other.json) || !isObject(other.json.metrics)) continue;
    const metrics = other.json.metrics;
    const path = `${directory}/${other.name}`;

    const flush = metrics.force_flush_interval;
    if (typeof flush === "number" && expected.watchesProcesses) {
      const standardFlush = DETECTION_PROFILES.standard.forceFlushIntervalSeconds;
      if (expected.forceFlushInterval !== null && flush !== expected.forceFlushInterval) {
        findings.push({
          code: "force-flush-interval-conflict",
          path,
          message: `${path} sets metrics.force_flush_interval ${flush} but procwatch's fast profile needs ${expected.forceFlushInterval}: the CloudWatch agent cannot merge two different values`,
          hint: `remove force_flush_interval from the source of ${other.name} (or set it to ${expected.forceFlushInterval}), load it again, then run procwatch-agent apply`,
        });
      } else if (expected.forceFlushInterval === null && flush > standardFlush) {
        findings.push({
          code: "force-flush-interval-too-long",
          path,
          message: `${path} sets metrics.force_flush_interval ${flush}: pid counts reach CloudWatch up to ${flush} s late, longer than the ${standardFlush} s alarm period, so procwatch's alarms see gaps (missing data is breaching)`,
          hint: `lower force_flush_interval in the source of ${other.name} to ${standardFlush} or less, or remove it`,
        });
      }
    }

    const namespace = metrics.namespace;
    if (typeof namespace === "string" && namespace !== expected.namespace) {
      findings.push({
        code: "foreign-namespace",
        path,
        message: `${path} sets metrics.namespace ${JSON.stringify(namespace)} but procwatch's alarms read ${JSON.stringify(expected.namespace)}: the pid counts go elsewhere (or the agent cannot merge the two values)`,
        hint: `remove namespace from the source of ${other.name}, or deploy procwatch with that namespace`,
      });
    }
  }
  return findings;
}

/**
 * The first CloudWatch agent version that resolves `${aws:…}` placeholders in a procstat entry's own
 * `append_dimensions` (translator/translate/util/placeholderUtil.go `ResolveAWSMetadataPlaceholders`,
 * aws/amazon-cloudwatch-agent commit 237e25674). Older agents pass the text on as the value.
 */
export const ENTRY_PLACEHOLDERS_MIN_AGENT_VERSION = "1.300061.0";

/** `major.minor.patch` of a CloudWatch agent version such as `1.300064.0` or `1.247359.1b253434`, or null. */
function versionParts(version: string): [number, number, number] | null {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return match === null ? null : [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Whether `version` is older than `minimum`; false when either cannot be read (no finding on a guess). */
export function agentVersionOlderThan(version: string, minimum: string): boolean {
  const have = versionParts(version);
  const need = versionParts(minimum);
  if (have === null || need === null) return false;
  for (let index = 0; index < 3; index++) {
    if (have[index] !== need[index]) return (have[index] ?? 0) < (need[index] ?? 0);
  }
  return false;
}

/** How the fragment health compared against pins its entries' host dimensions. */
export interface FragmentPinsObservation {
  /** `literal`: the instance's own values (spec from its tags); `placeholders`: `${aws:…}` (no instance known); `unknown`: only a digest (last apply). */
  readonly pins: "literal" | "placeholders" | "unknown";
  /** Why the Auto Scaling group could not be determined, when the fragment pins literal values without it. */
  readonly autoScalingGroupProblem?: string;
}

/**
 * Host-dimension findings:
 *   - the Auto Scaling group could not be determined (instance-metadata tags do not list
 *     `aws:autoscaling:groupName` and DescribeTags failed): the fragment pins no group, and the
 *     fleet manager's alarms of an instance in a group carry AutoScalingGroupName, so they see no
 *     data unless the host's own config appends it (the ec2tagger adds the names a datum lacks);
 *   - placeholders on an agent older than 1.300061.0, which does not resolve them in an entry's
 *     `append_dimensions`: the pid counts carry the placeholder text instead of the instance's values.
 */
export function hostDimensionFindings(observation: FragmentPinsObservation, agentVersion: string | undefined): HostFinding[] {
  const findings: HostFinding[] = [];
  if (observation.pins === "literal" && observation.autoScalingGroupProblem !== undefined) {
    findings.push({
      code: "auto-scaling-group-unknown",
      message: `the Auto Scaling group of this instance could not be determined (instance-metadata tags do not list aws:autoscaling:groupName, and ${oneLine(observation.autoScalingGroupProblem)}): procwatch's fragment pins no AutoScalingGroupName, so if the instance is in an Auto Scaling group its alarms, which carry that dimension, see no data unless the host's own CloudWatch agent config appends AutoScalingGroupName`,
      hint: "allow ec2:DescribeTags to the instance profile (or check the region and the route to the EC2 API), then run procwatch-agent apply",
    });
  }
  if (observation.pins === "placeholders" && agentVersion !== undefined && agentVersionOlderThan(agentVersion, ENTRY_PLACEHOLDERS_MIN_AGENT_VERSION)) {
    findings.push({
      code: "cloudwatch-agent-too-old-for-placeholders",
      message: `the CloudWatch agent is version ${agentVersion}: before ${ENTRY_PLACEHOLDERS_MIN_AGENT_VERSION} it does not resolve \${aws:…} placeholders in a procstat entry's own append_dimensions, and procwatch's fragment pins them there (no instance known: the spec is not from instance tags), so the pid counts carry the placeholder text instead of this instance's values and procwatch's alarms see no data`,
      hint: `upgrade the CloudWatch agent to ${ENTRY_PLACEHOLDERS_MIN_AGENT_VERSION} or later (SSM document AWS-ConfigureAWSPackage, name AmazonCloudWatchAgent, action Install), then run procwatch-agent apply`,
    });
  }
  return findings;
}

/** An error message inside a finding: its first line, at most 300 characters. */
function oneLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
