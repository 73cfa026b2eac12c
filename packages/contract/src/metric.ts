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
    readonly append_dimensions: { readonly InstanceId: "${aws:InstanceId}" };
    readonly force_flush_interval?: number;
    readonly metrics_collected: { readonly procstat: readonly ProcstatEntry[] };
  };
}

/**
 * The CloudWatch agent config fragment procwatch owns. It holds only the procstat list (lists
 * concatenate across fragments), the InstanceId append dimension, and, when any process uses
 * the fast profile, `force_flush_interval` (a scalar: another fragment setting it differently
 * makes the agent's translation fail, which `procwatch-agent health` then reports).
 */
export function renderProcstatFragment(spec: HostSpec, options: { namespace?: string } = {}): ProcstatFragment {
  const processes = [...spec.processes].sort((a, b) => (a.name < b.name ? -1 : 1));
  const fastestFlush = Math.min(...processes.map((process) => DETECTION_PROFILES[process.detection].forceFlushIntervalSeconds));
  const needsFastFlush = Number.isFinite(fastestFlush) && fastestFlush < DETECTION_PROFILES.standard.forceFlushIntervalSeconds;
  return {
    metrics: {
      ...(options.namespace !== undefined && options.namespace !== DEFAULT_METRIC_NAMESPACE ? { namespace: options.namespace } : {}),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudWatch agent expands ${aws:InstanceId} itself.
      append_dimensions: { InstanceId: "${aws:InstanceId}" },
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
