import { DEFAULT_METRIC_NAMESPACE, DETECTION_PROFILES, type HostSpec, renderProcstatFragment } from "@procwatch/contract";
import type { HostFinding } from "./health.ts";
import { isObject } from "./json-checks.ts";

/**
 * What the CloudWatch agent actually loads: every file in `amazon-cloudwatch-agent.d/`, merged.
 * `append-config -c file:<staged>` copies procwatch's staged fragment there byte for byte as
 * `file_<name>` (the config downloader's naming); `fetch-config` wipes that directory, and other
 * fragments can set scalars procwatch's alarms depend on. procwatch's fragment itself does not
 * depend on them: it sets no metrics-level key another fragment may set differently (the contract
 * pins the host dimensions on each procstat entry, see `renderProcstatFragment`). These checks are
 * pure: the shell reads the directory and hands over each file's parsed JSON.
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
 * What the host's other fragments set that health depends on, as the CloudWatch agent's merge sees
 * it: each key from the first file (in name order, the merge order of
 * translator/jsonconfig/mergeJsonConfig.go) that sets it. Two files setting different values
 * already fail the agent's translation, which is not procwatch's to settle.
 */
export interface HostAgentConfig {
  /** `agent.run_as_user` and the file that sets it (absent: the agent runs as root). */
  readonly runAsUser?: { readonly user: string; readonly path: string };
}

export function hostAgentConfigOf(directory: string, others: readonly OtherFragment[]): HostAgentConfig {
  for (const other of others) {
    if (!isObject(other.json)) continue;
    const agent = other.json.agent;
    if (isObject(agent) && typeof agent.run_as_user === "string") return { runAsUser: { user: agent.run_as_user, path: `${directory}/${other.name}` } };
  }
  return {};
}

/**
 * Settings in other fragments that break procwatch's alarms, one finding each:
 *   - `metrics.force_flush_interval`: a scalar, so a value other than procwatch's fast-profile one
 *     makes the merged config invalid; without a fast profile, a value above the standard 60 s
 *     period delivers datapoints late, which the alarms (missing data = breaching) see as gaps;
 *   - `metrics.namespace` other than the one the alarms read (also a scalar).
 * `append_dimensions` and `aggregation_dimensions` are no finding: procwatch sets neither (so they
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
