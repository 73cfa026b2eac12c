import { DETECTION_PROFILES } from "./detection.ts";
import { commandLinePatternForExe, type HostSpec, type MatchSpec, type ProcessSpec } from "./spec.ts";

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
/** The dimension that names the host; with the others of HOST_DIMENSION_PLACEHOLDERS, pinned on every procwatch procstat entry. */
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
  readonly append_dimensions: Readonly<Record<string, string>>;
}

export interface Dimension {
  readonly Name: string;
  readonly Value: string;
}

/**
 * What the CloudWatch agent is asked to match, for one process. The config key procstat reads and
 * the dimension name it emits differ for pid files (`pid_file` vs `pidfile`).
 *
 * An `exe` selector (the default for a plain process name) is handed to the agent as the
 * command-line `pattern` of {@link commandLinePatternForExe}, never as `exe`: the agent's `exe`
 * lookup reads /proc/<pid>/exe (aws/telegraf plugins/inputs/procstat/native_finder_notwindows.go
 * `Pattern`, gopsutil `Exe()`), which the kernel lets only root or the process's own user read, and
 * the agent's default config and wizard run it as `cwagent` (`agent.run_as_user`), so an `exe`
 * entry counts 0 for every root daemon there. `FullPattern` (the `pattern` key) reads
 * /proc/<pid>/cmdline, which every user can read, so the same entry counts the same on every host,
 * whatever user the agent runs as. `procwatch-agent health` (root) still matches the exe link and
 * reports any process the command-line pattern counts differently.
 */
export function selectorOf(match: MatchSpec): { configKey: "exe" | "pattern" | "pid_file"; dimension: SelectorDimensionName; value: string } {
  switch (match.mode) {
    case "exe": {
      const pattern = commandLinePatternForExe(match);
      // Only a hand-edited exe regex (never produced by the contract) has no command-line form.
      return pattern === null ? { configKey: "exe", dimension: "exe", value: match.exe } : { configKey: "pattern", dimension: "pattern", value: pattern };
    }
    case "pattern":
      return { configKey: "pattern", dimension: "pattern", value: match.pattern };
    case "pidfile":
      return { configKey: "pid_file", dimension: "pidfile", value: match.pidFile };
  }
}

/**
 * The host dimensions procwatch pins on its own procstat entries, so that the pid count carries
 * the same names on every host whatever the host's own config appends. The CloudWatch agent's
 * ec2tagger adds a host-level dimension (plugins/processors/ec2tagger/constants.go
 * `SupportedAppendDimensions`) only where a datum lacks the name (ec2tagger.go
 * `updateOtelAttributes`: `if _, exists := attr.Get(k); !exists`), and an entry's own
 * `append_dimensions` become the input's tags (translator/translate/metrics/util/
 * commonconfigutil.go `ProcessAppendDimensions`), so a pinned name is never replaced.
 *
 * The values are literal when procwatch-agent knows the instance (its identity document and
 * tags, {@link MetricHost}): literals mean the same to every agent version, need nothing at
 * translation time, and older ec2taggers, which overwrote the names they append, write the same
 * values. Only without that knowledge (a `--spec` file off EC2) are the placeholders used, which
 * agents from 1.300061.0 resolve at translation (placeholderUtil.go `ResolveAWSMetadataPlaceholders`,
 * cwa commit 237e25674); never `${aws:AutoScalingGroupName}`: resolving it makes the translator
 * call DescribeTags, and when every retry fails (no route to the EC2 API, no permission)
 * translator/util/tagutil/tagutil.go `callFuncWithRetries` returns a nil result that `loadAllTags`
 * dereferences, so the whole CloudWatch agent would not start.
 */
export const HOST_DIMENSION_NAMES = ["AutoScalingGroupName", "ImageId", "InstanceId", "InstanceType"] as const;
export type HostDimensionName = (typeof HOST_DIMENSION_NAMES)[number];

const HOST_DIMENSION_PLACEHOLDERS: Readonly<Record<Exclude<HostDimensionName, "AutoScalingGroupName">, string>> = {
  // biome-ignore-start lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's own placeholders.
  ImageId: "${aws:ImageId}",
  InstanceId: "${aws:InstanceId}",
  InstanceType: "${aws:InstanceType}",
  // biome-ignore-end lint/suspicious/noTemplateCurlyInString: the CloudWatch agent's own placeholders.
};

/** EC2 tag that names an instance's Auto Scaling group; the agent reads the same tag (translator/util/tagutil/tagutil.go). */
export const AUTO_SCALING_GROUP_TAG = "aws:autoscaling:groupName";

/** The instance as DescribeInstances (fleet manager) or its identity document and tags (procwatch-agent) report it. */
export interface MetricHost {
  readonly instanceId: string;
  readonly imageId?: string;
  readonly instanceType?: string;
  /** Absent when the instance is in no Auto Scaling group. */
  readonly autoScalingGroupName?: string;
}

/** The {@link MetricHost} of an instance from its DescribeInstances fields (or identity document) and tags. */
export function metricHostOf(instance: {
  readonly instanceId: string;
  readonly imageId?: string;
  readonly instanceType?: string;
  readonly tags?: Readonly<Record<string, string>>;
}): MetricHost {
  const group = instance.tags?.[AUTO_SCALING_GROUP_TAG];
  return {
    instanceId: instance.instanceId,
    ...(instance.imageId !== undefined && instance.imageId !== "" ? { imageId: instance.imageId } : {}),
    ...(instance.instanceType !== undefined && instance.instanceType !== "" ? { instanceType: instance.instanceType } : {}),
    ...(group !== undefined && group !== "" ? { autoScalingGroupName: group } : {}),
  };
}

/** What each procwatch procstat entry sets as its `append_dimensions`: literal for a known host, else the placeholders. */
export function hostDimensionPins(host?: MetricHost): Readonly<Record<string, string>> {
  if (host === undefined) return HOST_DIMENSION_PLACEHOLDERS;
  return Object.fromEntries(hostDimensionsFor(host).map((dimension) => [dimension.Name, dimension.Value]));
}

export function procstatEntryFor(process: ProcessSpec, pins: Readonly<Record<string, string>> = hostDimensionPins()): ProcstatEntry {
  const selector = selectorOf(process.match);
  return {
    [selector.configKey]: selector.value,
    measurement: [...PROCSTAT_MEASUREMENTS],
    metrics_collection_interval: DETECTION_PROFILES[process.detection].collectionIntervalSeconds,
    append_dimensions: pins,
  };
}

/**
 * Exactly the dimension set the agent emits for a healthy lookup of `process` on `host`, sorted by
 * name: the selector, `pid_finder` and the host dimensions of {@link HOST_DIMENSION_PLACEHOLDERS}.
 * A host value the fleet does not know is left out, as the agent's translator leaves it out.
 */
export function alarmDimensionsFor(process: ProcessSpec, host: MetricHost): Dimension[] {
  const selector = selectorOf(process.match);
  return sortDimensions([{ Name: selector.dimension, Value: selector.value }, { Name: "pid_finder", Value: PID_FINDER }, ...hostDimensionsFor(host)]);
}

/**
 * The dimensions procwatch gave the same alarm before it pinned the host dimensions and handed exe
 * selectors over as command-line patterns: the selector as written (`exe` with its regex),
 * `pid_finder` and `InstanceId`. An update from exactly these to {@link alarmDimensionsFor} is
 * procwatch's own upgrade, which the fleet manager's mass-change guard lets through.
 */
export function alarmDimensionsBeforeHostPinning(process: ProcessSpec, instanceId: string): Dimension[] {
  const match = process.match;
  const selector =
    match.mode === "exe"
      ? { Name: "exe", Value: match.exe }
      : match.mode === "pattern"
        ? { Name: "pattern", Value: match.pattern }
        : { Name: "pidfile", Value: match.pidFile };
  return sortDimensions([selector, { Name: "pid_finder", Value: PID_FINDER }, { Name: INSTANCE_ID_DIMENSION, Value: instanceId }]);
}

/** The host part of {@link alarmDimensionsFor}: the names of {@link HOST_DIMENSION_PLACEHOLDERS} this host has a value for. */
export function hostDimensionsFor(host: MetricHost): Dimension[] {
  const dimensions: Dimension[] = [{ Name: INSTANCE_ID_DIMENSION, Value: host.instanceId }];
  if (host.imageId !== undefined) dimensions.push({ Name: "ImageId", Value: host.imageId });
  if (host.instanceType !== undefined) dimensions.push({ Name: "InstanceType", Value: host.instanceType });
  if (host.autoScalingGroupName !== undefined) dimensions.push({ Name: "AutoScalingGroupName", Value: host.autoScalingGroupName });
  return sortDimensions(dimensions);
}

/** `Name=Value …` of the host dimensions among `dimensions`, sorted: what a plan or a diagnosis says about them. */
export function describeHostDimensions(dimensions: readonly Dimension[]): string {
  return sortDimensions(dimensions.filter((dimension) => (HOST_DIMENSION_NAMES as readonly string[]).includes(dimension.Name)))
    .map((dimension) => `${dimension.Name}=${dimension.Value}`)
    .join(" ");
}

export function sortDimensions(dimensions: readonly Dimension[]): Dimension[] {
  return [...dimensions].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
}

export interface ProcstatFragment {
  readonly metrics: {
    readonly namespace?: string;
    readonly append_dimensions?: { readonly InstanceId: string };
    readonly force_flush_interval?: number;
    readonly metrics_collected: { readonly procstat: readonly ProcstatEntry[] };
  };
}

/**
 * The CloudWatch agent config fragment procwatch owns: the procstat list (lists concatenate across
 * fragments, translator/translate/metrics/metrics_collect/procstat/procstat.go `Merge`), each entry
 * with its host dimensions pinned ({@link hostDimensionPins}), and, when any process uses the fast
 * profile, `force_flush_interval`.
 *
 * `metrics.append_dimensions: {InstanceId}` is there for one reason: it turns the ec2tagger on
 * (translator/translate/otel/pipeline/host/translator.go adds it only when the key is set), and the
 * ec2tagger is what removes the `host` dimension (ec2tagger.go `attr.Remove("host")`) that telegraf
 * puts on every metric unless `agent.omit_hostname` (tgf config/config.go, cwa translator/translate/
 * agent/ruleOmitHostname.go: false outside containers). It is left out when another fragment sets
 * `append_dimensions`: that one turns the ec2tagger on too, and every other metrics-level key is
 * merged with `reflect.DeepEqual` (translator/jsonconfig/mergeJsonUtil/util.go `mergeMap`), so a
 * second, different value would fail the host's whole translation. procwatch never sets
 * `aggregation_dimensions`. `force_flush_interval` is a scalar: another fragment setting it
 * differently makes the translation fail, which `procwatch-agent health` then reports.
 */
export function renderProcstatFragment(
  spec: HostSpec,
  options: { namespace?: string; host?: MetricHost; otherFragmentsSetAppendDimensions?: boolean } = {},
): ProcstatFragment {
  const processes = [...spec.processes].sort((a, b) => (a.name < b.name ? -1 : 1));
  const fastestFlush = Math.min(...processes.map((process) => DETECTION_PROFILES[process.detection].forceFlushIntervalSeconds));
  const needsFastFlush = Number.isFinite(fastestFlush) && fastestFlush < DETECTION_PROFILES.standard.forceFlushIntervalSeconds;
  const pins = hostDimensionPins(options.host);
  return {
    metrics: {
      ...(options.namespace !== undefined && options.namespace !== DEFAULT_METRIC_NAMESPACE ? { namespace: options.namespace } : {}),
      ...(options.otherFragmentsSetAppendDimensions === true ? {} : { append_dimensions: { InstanceId: HOST_DIMENSION_PLACEHOLDERS.InstanceId } }),
      ...(needsFastFlush ? { force_flush_interval: fastestFlush } : {}),
      metrics_collected: { procstat: processes.map((process) => procstatEntryFor(process, pins)) },
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
