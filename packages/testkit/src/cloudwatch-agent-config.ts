import type { AgentPublisherOptions, ProcstatSeries } from "./cloudwatch-agent-publisher.ts";

/**
 * A model of how the CloudWatch agent merges the JSON fragments in `amazon-cloudwatch-agent.d/`
 * and what that gives one procstat entry's `procstat_lookup_pid_count`: its dimensions and the
 * roll-ups the exporter adds. Written from aws/amazon-cloudwatch-agent @ ab55b8da (cited `cwa:`),
 * for the keys procwatch's tests need; own code, nothing copied.
 *
 * Merge (cwa translator/jsonconfig/mergeJsonConfig.go `MergeJsonConfigMaps`): fragments in sorted
 * file-name order, each merged into the result by the registered section rules. Within `agent` and
 * `metrics` (cwa translator/jsonconfig/mergeJsonUtil/util.go `mergeMap`) a key without a rule is
 * taken if absent, accepted if `reflect.DeepEqual` to what is there, and otherwise a translation
 * error ("Different values are specified for <key>"): `append_dimensions`, `aggregation_dimensions`,
 * `force_flush_interval`, `namespace`, `run_as_user` included. `metrics.metrics_collected` has a
 * rule (metrics_collect.go) whose `procstat` child concatenates lists, dropping exact duplicates
 * (procstat/procstat.go `Merge` → util.go `MergeList`/`mergeList`); other plugins are DeepEqual keys.
 *
 * Dimensions of the pid count of one procstat entry:
 * - selector tag and `pid_finder` (aws/telegraf plugins/inputs/procstat/procstat.go);
 * - the entry's own `append_dimensions` (cwa translator/translate/metrics/util/commonconfigutil.go
 *   `ProcessAppendDimensions`, `${aws:…}` resolved at translation, util/placeholderUtil.go);
 * - telegraf's `host` tag and the ec2tagger that removes it (see `procstatPublisherConfig`);
 * - the agent-level `append_dimensions`, added by the ec2tagger only where the datum lacks the name
 *   (cwa plugins/processors/ec2tagger/ec2tagger.go `updateOtelAttributes`); supported values are the
 *   `${aws:…}` placeholders (ec2tagger/constants.go `SupportedAppendDimensions`); an empty value
 *   (no Auto Scaling group) is dropped by cwa cloudwatch.go `BuildDimensions`.
 * Roll-ups: `metrics.aggregation_dimensions` → exporter `rollup_dimensions` (see the publisher model).
 *
 * Not modelled: rules of other sections (logs, traces, the jmx/otlp array-or-object keys), schema
 * validation, `${!aws:…}` escapes, ec2tagger's instance tags (`ec2_instance_tag_keys`), hostname.
 */

export interface AgentConfigFragment {
  /** File name in amazon-cloudwatch-agent.d (the merge order). */
  readonly name: string;
  readonly json: unknown;
}

export interface MergedAgentConfig {
  /** The merged JSON, or null when the merge failed (the ctl then exits non-zero and nothing changes). */
  readonly config: Record<string, unknown> | null;
  /** Translation errors, in the agent's words: `<path>: Different values are specified for <key>`. */
  readonly errors: readonly string[];
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => key in b && deepEqual(a[key], b[key]));
  }
  return false;
}

/** util.go `mergeMap` for one section: no rule → absent: take, equal: keep, different: error. */
function mergeSection(
  source: JsonObject,
  result: JsonObject,
  path: string,
  errors: string[],
  rules: Record<string, (s: JsonObject, r: JsonObject) => void> = {},
): void {
  for (const [key, value] of Object.entries(source)) {
    const rule = rules[key];
    if (rule !== undefined) rule(source, result);
    else if (!(key in result)) result[key] = value;
    else if (!deepEqual(result[key], value)) errors.push(`${path}${key}: Different values are specified for ${key}`);
  }
}

export function mergeAgentConfigFragments(fragments: readonly AgentConfigFragment[]): MergedAgentConfig {
  const errors: string[] = [];
  const result: JsonObject = {};
  const sorted = [...fragments].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const fragment of sorted) {
    if (!isObject(fragment.json)) continue;
    for (const [section, value] of Object.entries(fragment.json)) {
      if (!isObject(value)) {
        if (!(section in result)) result[section] = value;
        else if (!deepEqual(result[section], value)) errors.push(`/${section}: Different values are specified for ${section}`);
        continue;
      }
      const target = isObject(result[section]) ? (result[section] as JsonObject) : {};
      result[section] = target;
      const rules: Record<string, (s: JsonObject, r: JsonObject) => void> =
        section === "metrics"
          ? {
              metrics_collected: (s, r) => {
                const collected = isObject(r.metrics_collected) ? r.metrics_collected : {};
                r.metrics_collected = collected;
                if (!isObject(s.metrics_collected)) return;
                mergeSection(s.metrics_collected, collected, "/metrics/metrics_collected/", errors, {
                  procstat: (ps, pr) => {
                    const list = Array.isArray(pr.procstat) ? [...pr.procstat] : [];
                    for (const entry of Array.isArray(ps.procstat) ? ps.procstat : [])
                      if (!list.some((existing) => deepEqual(existing, entry))) list.push(entry);
                    pr.procstat = list;
                  },
                });
              },
            }
          : {};
      mergeSection(value, target, `/${section}/`, errors, rules);
    }
  }
  return { config: errors.length === 0 ? result : null, errors };
}

/** EC2 facts the agent's `${aws:…}` placeholders resolve to, and the host name telegraf tags every metric with. */
export interface Ec2Facts {
  readonly InstanceId: string;
  readonly ImageId?: string;
  readonly InstanceType?: string;
  /** Absent when the instance is in no Auto Scaling group (the dimension is then dropped). */
  readonly AutoScalingGroupName?: string;
  /** `os.Hostname()`, telegraf's `host` tag (default `ip-10-0-0-1`). */
  readonly Hostname?: string;
}

/** Which agent: entries' `${aws:…}` placeholders are resolved from 1.300061.0 on (cwa commit 237e25674). */
export interface AgentBuild {
  readonly resolvesEntryPlaceholders: boolean;
}
export const CURRENT_AGENT: AgentBuild = { resolvesEntryPlaceholders: true };

/**
 * The build a version string names, as `amazon-cloudwatch-agent-ctl -a status` prints it
 * (`1.300064.1b1144`): a stand-in ctl and the model it feeds then describe the same agent.
 * Unparseable versions are taken for current ones. Written here rather than taken from
 * procwatch-agent's own version check on purpose: the model must not share the code it judges.
 */
export function agentBuildOf(version: string): AgentBuild {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (match === null) return CURRENT_AGENT;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  // 1.300061.0 is the first build that resolves them (its patch part is 0, so it decides nothing).
  return { resolvesEntryPlaceholders: major > 1 || (major === 1 && minor >= 300061) };
}

type PlaceholderFact = "InstanceId" | "ImageId" | "InstanceType" | "AutoScalingGroupName";
const PLACEHOLDERS: Readonly<Record<string, PlaceholderFact>> = {
  // biome-ignore-start lint/suspicious/noTemplateCurlyInString: the agent's own placeholder syntax.
  "${aws:InstanceId}": "InstanceId",
  "${aws:ImageId}": "ImageId",
  "${aws:InstanceType}": "InstanceType",
  "${aws:AutoScalingGroupName}": "AutoScalingGroupName",
  // biome-ignore-end lint/suspicious/noTemplateCurlyInString: the agent's own placeholder syntax.
};

/**
 * The publisher model's series and roll-up option for the procstat entry at `index` of a merged
 * config: pass them to `new CloudWatchAgentPublisher(series, { ...cadence, ...publisher }, …)`.
 *
 * The series' dimensions, in the order the agent builds them:
 * 1. the selector tag and `pid_finder` (aws/telegraf plugins/inputs/procstat/procstat.go);
 * 2. the entry's own `append_dimensions` as the input's tags (cwa translator/translate/metrics/util/
 *    commonconfigutil.go `ProcessAppendDimensions`); `${aws:…}` placeholders resolved at
 *    translation from 1.300061.0 on (translator/translate/util/placeholderUtil.go
 *    `ResolveAWSMetadataPlaceholders`, which leaves out a placeholder without a value, the Auto
 *    Scaling group of an instance in none), kept literally by older agents;
 * 3. telegraf's global `host` tag, unless `agent.omit_hostname` (tgf config/config.go sets
 *    `Tags["host"]`, applied to every input's metrics by models/makemetric.go; cwa
 *    translator/translate/agent/ruleOmitHostname.go: false by default outside containers);
 * 4. the ec2tagger, present only when `metrics.append_dimensions` is set (cwa translator/translate/
 *    otel/pipeline/host/translator.go): it adds the supported names whose value is exactly their
 *    placeholder (ec2taggerprocessor/translator.go; other keys and static values are ignored) where a
 *    datum lacks the name (ec2tagger.go `updateOtelAttributes`), and removes `host`
 *    (`attr.Remove("host")`);
 * 5. the exporter drops empty values (cwa plugins/outputs/cloudwatch/cloudwatch.go `BuildDimensions`).
 */
export function procstatPublisherConfig(
  merged: Record<string, unknown>,
  index: number,
  facts: Ec2Facts,
  agent: AgentBuild = CURRENT_AGENT,
): { series: ProcstatSeries; publisher: Pick<AgentPublisherOptions, "rollupDimensions"> } {
  const metrics = isObject(merged.metrics) ? merged.metrics : {};
  const collected = isObject(metrics.metrics_collected) ? metrics.metrics_collected : {};
  const entries = Array.isArray(collected.procstat) ? collected.procstat : [];
  const entry = entries[index];
  if (!isObject(entry)) throw new RangeError(`no procstat entry ${index} in the merged config (${entries.length} entries)`);
  const selector =
    typeof entry.pid_file === "string"
      ? { Name: "pidfile", Value: entry.pid_file }
      : typeof entry.exe === "string"
        ? { Name: "exe", Value: entry.exe }
        : typeof entry.pattern === "string"
          ? { Name: "pattern", Value: entry.pattern }
          : undefined;
  if (selector === undefined) throw new RangeError(`procstat entry ${index} has no exe, pattern or pid_file`);
  const tags = new Map<string, string>([
    [selector.Name, selector.Value],
    ["pid_finder", "native"],
  ]);
  if (isObject(entry.append_dimensions)) {
    for (const [name, value] of Object.entries(entry.append_dimensions)) {
      if (typeof value !== "string") continue;
      const fact = PLACEHOLDERS[value];
      if (fact === undefined || !agent.resolvesEntryPlaceholders) tags.set(name, value);
      else if (facts[fact] !== undefined) tags.set(name, facts[fact] as string);
    }
  }
  const agentSection = isObject(merged.agent) ? merged.agent : {};
  if (agentSection.omit_hostname !== true && !tags.has("host")) tags.set("host", facts.Hostname ?? "ip-10-0-0-1");
  if (isObject(metrics.append_dimensions)) {
    for (const [name, value] of Object.entries(metrics.append_dimensions)) {
      const fact = typeof value === "string" ? PLACEHOLDERS[value] : undefined;
      if (fact === undefined || fact !== name) continue;
      const resolved = facts[fact];
      if (resolved !== undefined && !tags.has(name)) tags.set(name, resolved);
    }
    tags.delete("host");
  }
  const rollup = Array.isArray(metrics.aggregation_dimensions)
    ? metrics.aggregation_dimensions.filter((set): set is string[] => Array.isArray(set) && set.every((name) => typeof name === "string"))
    : [];
  return {
    series: {
      namespace: typeof metrics.namespace === "string" ? metrics.namespace : "CWAgent",
      dimensions: [...tags].filter(([, value]) => value !== "").map(([Name, Value]) => ({ Name, Value })),
    },
    publisher: rollup.length === 0 ? {} : { rollupDimensions: rollup },
  };
}
