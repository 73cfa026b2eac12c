import { DETECTION_PROFILES } from "./detection.ts";
import type { HostSpec, MatchSpec, ProcessSpec } from "./spec.ts";

/**
 * The metric contract between the CloudWatch agent's procstat plugin and the alarms. Both the
 * agent (rendering procstat entries) and the fleet manager (building alarm dimensions) call
 * these functions, so the two can never disagree on a dimension.
 */
export const PROCSTAT_METRIC_NAME = "procstat_lookup_pid_count";
export const DEFAULT_METRIC_NAMESPACE = "CWAgent";
export const PID_FINDER = "native";
/**
 * procstat measurements procwatch asks for: only pid_count, which drives the alarm. Every extra
 * measurement is another custom metric per (host, process), about $0.30 a month each, so CPU and
 * memory stay on the host (`procwatch-agent health` reports them from /proc).
 */
export const PROCSTAT_MEASUREMENTS = ["pid_count"] as const;
/** The one agent-level dimension procwatch appends, via `metrics.append_dimensions`. */
export const INSTANCE_ID_DIMENSION = "InstanceId";

export type SelectorDimensionName = "exe" | "pattern" | "pidfile";

/** CloudWatch API reference, `Dimension`: "Length Constraints: Minimum length of 1. Maximum length of 1024." */
export const MAX_DIMENSION_VALUE_LENGTH = 1024;

/** What a valid dimension value is, for issues that refuse one. */
export const DIMENSION_VALUE_RULE = `printable ASCII only (0x20-0x7E), at least one non-whitespace character, at most ${MAX_DIMENSION_VALUE_LENGTH} characters`;

/**
 * Why CloudWatch would reject `value` as a dimension value, or null. The rule, from the CloudWatch
 * API reference (`Dimension`, `Value`): "Dimension values must contain only ASCII characters and
 * must include at least one non-whitespace character. ASCII control characters are not supported
 * as part of dimension values." One such value fails the agent's whole PutMetricData request, which
 * takes every metric of the host with it, so the spec refuses it before anything is rendered.
 */
export function dimensionValueProblem(value: string): string | null {
  if (!/[^\t\n\v\f\r ]/.test(value)) return "is blank (no non-whitespace character)";
  if (value.length > MAX_DIMENSION_VALUE_LENGTH) return `is ${value.length} characters long, over CloudWatch's ${MAX_DIMENSION_VALUE_LENGTH}`;
  for (let index = 0; index < value.length; index++) {
    const code = value.codePointAt(index) ?? 0;
    const codePoint = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
    if (code > 0x7f) return `has the non-ASCII character ${codePoint} at position ${index + 1}`;
    if (code < 0x20 || code === 0x7f) return `has the control character ${codePoint} at position ${index + 1}`;
  }
  return null;
}

export interface ProcstatEntry {
  readonly exe?: string;
  readonly pattern?: string;
  readonly pid_file?: string;
  readonly measurement: readonly string[];
  readonly metrics_collection_interval: number;
}

export interface Dimension {
  readonly Name: string;
  readonly Value: string;
}

/** The config key procstat reads and the dimension name it emits differ for pid files (`pid_file` vs `pidfile`). */
export function selectorOf(match: MatchSpec): { configKey: "exe" | "pattern" | "pid_file"; dimension: SelectorDimensionName; value: string } {
  switch (match.mode) {
    case "exe":
      return { configKey: "exe", dimension: "exe", value: match.exe };
    case "pattern":
      return { configKey: "pattern", dimension: "pattern", value: match.pattern };
    case "pidfile":
      return { configKey: "pid_file", dimension: "pidfile", value: match.pidFile };
  }
}

export function procstatEntryFor(process: ProcessSpec): ProcstatEntry {
  const selector = selectorOf(process.match);
  return {
    [selector.configKey]: selector.value,
    measurement: [...PROCSTAT_MEASUREMENTS],
    metrics_collection_interval: DETECTION_PROFILES[process.detection].collectionIntervalSeconds,
  };
}

/** Exactly the dimension set the agent emits for a healthy lookup, sorted by name. */
export function alarmDimensionsFor(process: ProcessSpec, instanceId: string): Dimension[] {
  const selector = selectorOf(process.match);
  return sortDimensions([
    { Name: selector.dimension, Value: selector.value },
    { Name: "pid_finder", Value: PID_FINDER },
    { Name: INSTANCE_ID_DIMENSION, Value: instanceId },
  ]);
}

export function sortDimensions(dimensions: readonly Dimension[]): Dimension[] {
  return [...dimensions].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
}

export interface ProcstatFragment {
  readonly metrics: {
    readonly namespace?: string;
    readonly append_dimensions?: { readonly InstanceId: "${aws:InstanceId}" };
    readonly aggregation_dimensions?: readonly (readonly string[])[];
    readonly force_flush_interval?: number;
    readonly metrics_collected: { readonly procstat: readonly ProcstatEntry[] };
  };
}

/**
 * What the host's other CloudWatch agent config fragments set at the metrics level, as the agent
 * merges them (procwatch-agent reads `amazon-cloudwatch-agent.d/`). Absent = nobody else sets it.
 */
export interface HostMetricsConfig {
  /** Keys of `metrics.append_dimensions` (ImageId, InstanceId, InstanceType, AutoScalingGroupName, …). */
  readonly appendDimensions?: readonly string[];
  /** `metrics.aggregation_dimensions`, as written. */
  readonly aggregationDimensions?: readonly (readonly string[])[];
}

/** Why procwatch's alarms cannot get their exact series on this host through its own fragment alone. */
export type FragmentDimensionProblem =
  | { readonly code: "host-append-dimensions-lack-instance-id"; readonly appendDimensions: readonly string[] }
  | {
      readonly code: "host-aggregation-dimensions-lack-procwatch-sets";
      readonly extraDimensions: readonly string[];
      readonly aggregationDimensions: readonly (readonly string[])[];
      /** procwatch's sets the host's list lacks, each sorted. */
      readonly missing: readonly (readonly string[])[];
    };

export interface FragmentDimensionPlan {
  /** procwatch's fragment sets `metrics.append_dimensions: {InstanceId}` (only when no other fragment sets any). */
  readonly appendInstanceId: boolean;
  /** procwatch's fragment sets `metrics.aggregation_dimensions` to this, or does not set it (null). */
  readonly aggregationDimensions: readonly (readonly string[])[] | null;
  /** Dimensions the host appends beyond the alarm's (what the full-dimension series carries). */
  readonly extraDimensions: readonly string[];
  readonly problem: FragmentDimensionProblem | null;
}

/**
 * The roll-up dimension sets that give each watched process a series with exactly
 * `alarmDimensionsFor`'s names: one per selector kind in use, each sorted.
 */
export function procwatchAggregationDimensions(spec: HostSpec): string[][] {
  const kinds = new Set(spec.processes.map((process) => selectorOf(process.match).dimension));
  return (["exe", "pattern", "pidfile"] as const).filter((kind) => kinds.has(kind)).map((kind) => [INSTANCE_ID_DIMENSION, kind, "pid_finder"].sort());
}

/**
 * How procwatch's fragment gets the alarms their exact dimension set on a host, given what the
 * host's other fragments set. From the CloudWatch agent's source (aws/amazon-cloudwatch-agent):
 *
 * - Merging: translator/jsonconfig/mergeJsonUtil/util.go `mergeMap` merges every metrics-level
 *   key except `metrics_collected` (the only one with a merge rule, translator/translate/metrics/
 *   metrics_collect/metrics_collect.go; procstat's list is concatenated by procstat/procstat.go
 *   `Merge` → `MergeList`) with `reflect.DeepEqual`: a second, *different* `append_dimensions` or
 *   `aggregation_dimensions` fails the whole translation ("Different values are specified for …"),
 *   so append-config fails. procwatch therefore sets neither when another fragment sets it.
 * - Global `append_dimensions` are added to every metric by the ec2tagger processor
 *   (plugins/processors/ec2tagger/ec2tagger.go `updateOtelAttributes`; the host pipeline adds it
 *   whenever the key is set, translator/translate/otel/pipeline/host/translator.go): procstat's
 *   pid count then carries ImageId, InstanceType, … too, and the alarm's series gets no data.
 * - `aggregation_dimensions` (translator/translate/metrics/rollup_dimensions/rollupDimensions.go →
 *   the exporter's `rollup_dimensions`): plugins/outputs/cloudwatch/cloudwatch.go `ProcessRollup`
 *   sends, beside each datum, one more datum per listed set whose every name the datum has and
 *   which is smaller than the datum's own set, with exactly those dimensions and the same value.
 *   A set [InstanceId, exe, pid_finder] gives procwatch's alarm its series back.
 *
 * Cost: the roll-up is one more custom metric per watched process per host ($0.30/month each,
 * beside the full-dimension series the host keeps publishing); it also rolls up any other procstat
 * entry on the host that selects by the same kind (their other measurements too). Hosts without
 * foreign append_dimensions pay nothing extra.
 */
export function fragmentDimensionPlan(spec: HostSpec, host: HostMetricsConfig = {}): FragmentDimensionPlan {
  if (host.appendDimensions === undefined) return { appendInstanceId: true, aggregationDimensions: null, extraDimensions: [], problem: null };
  const appendDimensions = [...host.appendDimensions].sort();
  const extraDimensions = appendDimensions.filter((name) => name !== INSTANCE_ID_DIMENSION);
  if (!appendDimensions.includes(INSTANCE_ID_DIMENSION)) {
    return {
      appendInstanceId: false,
      aggregationDimensions: null,
      extraDimensions,
      problem: { code: "host-append-dimensions-lack-instance-id", appendDimensions },
    };
  }
  if (extraDimensions.length === 0) return { appendInstanceId: false, aggregationDimensions: null, extraDimensions, problem: null };
  const wanted = procwatchAggregationDimensions(spec);
  if (host.aggregationDimensions === undefined) {
    return { appendInstanceId: false, aggregationDimensions: wanted.length === 0 ? null : wanted, extraDimensions, problem: null };
  }
  const present = new Set(host.aggregationDimensions.map((set) => setKey(set)));
  const missing = wanted.filter((set) => !present.has(setKey(set)));
  return {
    appendInstanceId: false,
    aggregationDimensions: null,
    extraDimensions,
    problem:
      missing.length === 0
        ? null
        : { code: "host-aggregation-dimensions-lack-procwatch-sets", extraDimensions, aggregationDimensions: host.aggregationDimensions, missing },
  };
}

/** The agent compares roll-up sets as sets (cloudwatch.go `GetUniqueRollupList`). */
function setKey(set: readonly string[]): string {
  return JSON.stringify([...new Set(set)].sort());
}

/**
 * The CloudWatch agent config fragment procwatch owns. It holds the procstat list (lists
 * concatenate across fragments), the InstanceId append dimension unless another fragment sets
 * `append_dimensions` (then the aggregated series of {@link fragmentDimensionPlan}), and, when any
 * process uses the fast profile, `force_flush_interval` (a scalar: another fragment setting it
 * differently makes the agent's translation fail, which `procwatch-agent health` then reports).
 */
export function renderProcstatFragment(spec: HostSpec, options: { namespace?: string; host?: HostMetricsConfig } = {}): ProcstatFragment {
  const processes = [...spec.processes].sort((a, b) => (a.name < b.name ? -1 : 1));
  const fastestFlush = Math.min(...processes.map((process) => DETECTION_PROFILES[process.detection].forceFlushIntervalSeconds));
  const needsFastFlush = Number.isFinite(fastestFlush) && fastestFlush < DETECTION_PROFILES.standard.forceFlushIntervalSeconds;
  const plan = fragmentDimensionPlan(spec, options.host);
  return {
    metrics: {
      ...(options.namespace !== undefined && options.namespace !== DEFAULT_METRIC_NAMESPACE ? { namespace: options.namespace } : {}),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudWatch agent expands ${aws:InstanceId} itself.
      ...(plan.appendInstanceId ? { append_dimensions: { InstanceId: "${aws:InstanceId}" } as const } : {}),
      ...(plan.aggregationDimensions === null ? {} : { aggregation_dimensions: plan.aggregationDimensions }),
      ...(needsFastFlush ? { force_flush_interval: fastestFlush } : {}),
      metrics_collected: { procstat: processes.map(procstatEntryFor) },
    },
  };
}

/** Canonical bytes of a fragment: stable key order, so equal specs give equal digests. */
export function serializeFragment(fragment: ProcstatFragment): string {
  return `${JSON.stringify(fragment, null, 2)}\n`;
}

/** Reads the selector dimension back out of a metric's or alarm's dimensions. */
export function selectorDimensionOf(dimensions: readonly Dimension[]): Dimension | undefined {
  return dimensions.find((dimension) => dimension.Name === "exe" || dimension.Name === "pattern" || dimension.Name === "pidfile");
}

/** Rebuilds the procstat entry an alarm's dimensions correspond to (used by round-trip checks and diagnostics). */
export function procstatSelectorFromDimensions(dimensions: readonly Dimension[]): Partial<Pick<ProcstatEntry, "exe" | "pattern" | "pid_file">> | undefined {
  const selector = selectorDimensionOf(dimensions);
  if (selector === undefined) return undefined;
  if (selector.Name === "pidfile") return { pid_file: selector.Value };
  return { [selector.Name]: selector.Value };
}
