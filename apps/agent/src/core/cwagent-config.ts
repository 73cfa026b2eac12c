import {
  DEFAULT_METRIC_NAMESPACE,
  DETECTION_PROFILES,
  fragmentDimensionPlan,
  type HostMetricsConfig,
  type HostSpec,
  renderProcstatFragment,
} from "@procwatch/contract";
import type { HostFinding } from "./health.ts";
import { isObject } from "./json-checks.ts";

/**
 * What the CloudWatch agent actually loads: every file in `amazon-cloudwatch-agent.d/`, merged.
 * `append-config -c file:<staged>` copies procwatch's staged fragment there byte for byte as
 * `file_<name>` (the config downloader's naming); `fetch-config` wipes that directory, and other
 * fragments can change what procwatch's metric looks like. These checks are pure: the shell reads
 * the directory and hands over each file's parsed JSON.
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
  readonly metrics: HostMetricsConfig;
  /** The file that sets `metrics.append_dimensions`, when one does. */
  readonly appendDimensionsPath?: string;
  /** The file that sets `metrics.aggregation_dimensions`, when one does. */
  readonly aggregationDimensionsPath?: string;
  /** `agent.run_as_user` and the file that sets it (absent: the agent runs as root). */
  readonly runAsUser?: { readonly user: string; readonly path: string };
}

export function hostAgentConfigOf(directory: string, others: readonly OtherFragment[]): HostAgentConfig {
  let appendDimensions: { keys: string[]; path: string } | undefined;
  let aggregation: { sets: string[][]; path: string } | undefined;
  let runAsUser: { user: string; path: string } | undefined;
  for (const other of others) {
    if (!isObject(other.json)) continue;
    const path = `${directory}/${other.name}`;
    const metrics = other.json.metrics;
    if (isObject(metrics)) {
      if (appendDimensions === undefined && isObject(metrics.append_dimensions)) appendDimensions = { keys: Object.keys(metrics.append_dimensions), path };
      const sets = metrics.aggregation_dimensions;
      if (aggregation === undefined && Array.isArray(sets)) {
        aggregation = { sets: sets.filter((set): set is string[] => Array.isArray(set) && set.every((name) => typeof name === "string")), path };
      }
    }
    const agent = other.json.agent;
    if (runAsUser === undefined && isObject(agent) && typeof agent.run_as_user === "string") runAsUser = { user: agent.run_as_user, path };
  }
  return {
    metrics: {
      ...(appendDimensions === undefined ? {} : { appendDimensions: appendDimensions.keys }),
      ...(aggregation === undefined ? {} : { aggregationDimensions: aggregation.sets }),
    },
    ...(appendDimensions === undefined ? {} : { appendDimensionsPath: appendDimensions.path }),
    ...(aggregation === undefined ? {} : { aggregationDimensionsPath: aggregation.path }),
    ...(runAsUser === undefined ? {} : { runAsUser }),
  };
}

/**
 * Agent-level dimensions other fragments append that procwatch's fragment cannot make up for
 * (see the contract's `fragmentDimensionPlan`): appended dimensions without InstanceId (a roll-up
 * can only keep dimensions the metric has), or an `aggregation_dimensions` list of the host's own
 * that lacks procwatch's roll-up sets (the agent merges that key whole, so procwatch cannot add to it).
 */
export function dimensionFindings(spec: HostSpec, host: HostAgentConfig): HostFinding[] {
  const problem = fragmentDimensionPlan(spec, host.metrics).problem;
  if (problem === null) return [];
  const appendPath = host.appendDimensionsPath ?? "another fragment";
  if (problem.code === "host-append-dimensions-lack-instance-id") {
    return [
      {
        code: "foreign-append-dimensions",
        path: appendPath,
        message: `${appendPath} sets metrics.append_dimensions ${problem.appendDimensions.join(", ")} without InstanceId: every CloudWatch agent metric, procwatch's pid count too, carries these instead of InstanceId, so procwatch's alarms (InstanceId, pid_finder and the selector) see no data`,
        hint: `add "InstanceId": "\${aws:InstanceId}" to metrics.append_dimensions in the source of ${appendPath}, load it again, then run procwatch-agent apply (procwatch then asks for a roll-up with exactly its alarms' dimensions)`,
      },
    ];
  }
  const aggregationPath = host.aggregationDimensionsPath ?? "another fragment";
  const missing = problem.missing.map((set) => JSON.stringify(set)).join(", ");
  return [
    {
      code: "foreign-aggregation-dimensions",
      path: aggregationPath,
      message: `${appendPath} appends ${problem.extraDimensions.join(", ")} to every metric, and ${aggregationPath} sets metrics.aggregation_dimensions without procwatch's roll-up ${missing}: the CloudWatch agent cannot merge a second aggregation_dimensions list, so procwatch's alarms (InstanceId, pid_finder and the selector) see no data`,
      hint: `add ${missing} to metrics.aggregation_dimensions in the source of ${aggregationPath} (one more custom metric per watched process), load it again, then run procwatch-agent apply`,
    },
  ];
}

/**
 * Settings in other fragments that break procwatch's alarms, one finding each:
 *   - `metrics.force_flush_interval`: a scalar, so a value other than procwatch's fast-profile one
 *     makes the merged config invalid; without a fast profile, a value above the standard 60 s
 *     period delivers datapoints late, which the alarms (missing data = breaching) see as gaps;
 *   - `metrics.namespace` other than the one the alarms read (also a scalar).
 * Appended dimensions are {@link dimensionFindings}' business.
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
