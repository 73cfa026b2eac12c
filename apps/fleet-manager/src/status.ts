import { type InstanceInput, metricSeriesKey, type ObservedAlarm } from "@procwatch/alarm-planner";
import {
  type DetectionProfileName,
  detectionOfAlarmDescription,
  HOST_DIMENSION_NAMES,
  INSTANCE_ID_DIMENSION,
  isProcwatchOwned,
  PROCSTAT_METRIC_NAME,
  parseAlarmName,
  selectorDimensionOf,
} from "@procwatch/contract";

export interface MetricSeries {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly { readonly Name: string; readonly Value: string }[];
}

export type AlarmStateLabel = "OK" | "ALARM" | "INSUFFICIENT_DATA" | "UNKNOWN";

export interface StatusRow {
  readonly alarmName: string;
  readonly instanceId: string;
  readonly instanceName?: string;
  readonly instanceState?: string;
  readonly process: string;
  readonly owner: "procwatch" | "foreign";
  readonly state: AlarmStateLabel;
  readonly actionsEnabled: boolean;
  readonly metric: "reporting" | "no data";
  /** The detection profile procwatch wrote the alarm for (`local`: also supervised on the host); absent for foreign alarms. */
  readonly detection?: DetectionProfileName;
  /** Why there is no data, most likely cause first; absent when reporting. */
  readonly cause?: string;
}

export interface StatusFilters {
  readonly instanceIds?: readonly string[];
  readonly processes?: readonly string[];
  readonly states?: readonly string[];
  readonly noDataOnly?: boolean;
}

/**
 * Joins alarms with the metric catalog. One ListMetrics scan of procstat_lookup_pid_count
 * serves the whole fleet: an alarm whose exact (namespace, name, full dimension set) series is
 * absent never sees data, and with missing data treated as breaching it sits in ALARM forever.
 */
export function buildStatus(
  alarms: readonly ObservedAlarm[],
  metrics: readonly MetricSeries[],
  instances: readonly InstanceInput[],
  options: { alarmPrefix: string; filters?: StatusFilters },
): StatusRow[] {
  const exact = new Set(metrics.map(seriesKey));
  const byInstance = new Map<string, MetricSeries[]>();
  for (const metric of metrics) {
    const instanceId = metric.dimensions.find((dimension) => dimension.Name === INSTANCE_ID_DIMENSION)?.Value ?? "";
    const list = byInstance.get(instanceId) ?? [];
    list.push(metric);
    byInstance.set(instanceId, list);
  }
  // Series whose InstanceId the agent never resolved: an entry's literal ${aws:InstanceId} on an agent
  // before 1.300061.0, or the translator's i-UNKNOWN without a metadata service. No alarm can tell
  // whose they are, so they are counted for every alarm whose host reports nothing else.
  const unresolvedInstanceSeries = [...byInstance].filter(([instanceId]) => UNRESOLVED_VALUE.test(instanceId)).reduce((sum, [, list]) => sum + list.length, 0);
  const instanceById = new Map(instances.map((instance) => [instance.instanceId, instance]));
  const filters = options.filters ?? {};
  const rows: StatusRow[] = [];
  for (const alarm of alarms) {
    const name = alarm.AlarmName ?? "";
    const identity = parseAlarmName(name, options.alarmPrefix);
    const alarmInstance = identity?.instanceId ?? dimensionValue(alarm, INSTANCE_ID_DIMENSION) ?? "";
    const process = identity?.processName ?? name.split("/").at(-1) ?? name;
    const series: MetricSeries = {
      namespace: alarm.Namespace ?? "",
      metricName: alarm.MetricName ?? "",
      dimensions: (alarm.Dimensions ?? []).map((dimension) => ({ Name: dimension.Name ?? "", Value: dimension.Value ?? "" })),
    };
    const reporting = exact.has(seriesKey(series));
    const instance = instanceById.get(alarmInstance);
    const state = (["OK", "ALARM", "INSUFFICIENT_DATA"].includes(alarm.StateValue ?? "") ? alarm.StateValue : "UNKNOWN") as AlarmStateLabel;
    const row: StatusRow = {
      alarmName: name,
      instanceId: alarmInstance,
      process,
      owner: isProcwatchOwned(alarm, options.alarmPrefix) ? "procwatch" : "foreign",
      state,
      actionsEnabled: alarm.ActionsEnabled ?? true,
      metric: reporting ? "reporting" : "no data",
      ...(detectionOf(alarm, options.alarmPrefix) !== undefined ? { detection: detectionOf(alarm, options.alarmPrefix) } : {}),
      ...(instance?.name !== undefined ? { instanceName: instance.name } : {}),
      ...(instance !== undefined ? { instanceState: instance.state } : {}),
      ...(reporting ? {} : { cause: diagnoseMissingMetric(series, byInstance.get(alarmInstance) ?? [], instance, unresolvedInstanceSeries) }),
    };
    if (matches(row, filters)) rows.push(row);
  }
  return rows.sort((a, b) => (a.instanceId === b.instanceId ? compare(a.process, b.process) : compare(a.instanceId, b.instanceId)));
}

/**
 * The likely cause when an alarm's exact series does not exist, from the series the same
 * instance does report. The common mistakes: a misspelt metric name, extra dimensions the agent
 * does not append (ImageId, InstanceType), a missing pid_finder, or a selector that differs.
 */
/** A host dimension value the CloudWatch agent did not resolve: a literal placeholder, or the translator's UNKNOWN-… / i-UNKNOWN. */
const UNRESOLVED_VALUE = /^\$\{aws:|^UNKNOWN-|^i-UNKNOWN$/;

export function diagnoseMissingMetric(
  alarm: MetricSeries,
  sameInstance: readonly MetricSeries[],
  instance: InstanceInput | undefined,
  unresolvedInstanceSeries = 0,
): string {
  if (alarm.metricName !== PROCSTAT_METRIC_NAME) return `wrong metric name "${alarm.metricName}" (the agent publishes ${PROCSTAT_METRIC_NAME})`;
  if (instance !== undefined && (instance.state === "stopped" || instance.state === "stopping")) return `instance is ${instance.state}`;
  if (sameInstance.length === 0) {
    const instanceId = alarm.dimensions.find((dimension) => dimension.Name === INSTANCE_ID_DIMENSION)?.Value;
    if (instanceId === undefined) return "alarm has no InstanceId dimension, but the agent appends one (append_dimensions InstanceId)";
    if (unresolvedInstanceSeries > 0) {
      return `host agent not reporting under its instance id; ${unresolvedInstanceSeries} procstat series carry an unresolved InstanceId (\${aws:InstanceId} or i-UNKNOWN), possibly this host's: its CloudWatch agent did not resolve the instance's metadata; upgrade it to 1.300061.0 or later and run procwatch-agent apply there, which pins the values itself on EC2`;
    }
    return "host agent not reporting: no procstat metrics from this instance in the last 3 hours (agent not installed, not configured, or no IAM permission to put metrics)";
  }
  const inNamespace = sameInstance.filter((metric) => metric.namespace === alarm.namespace);
  if (inNamespace.length === 0)
    return `namespace mismatch: the agent reports in ${sameInstance[0]?.namespace ?? "another namespace"}, the alarm watches ${alarm.namespace}`;
  const selector = selectorDimensionOf(alarm.dimensions);
  const sameSelector = inNamespace.filter((metric) => {
    const other = selectorDimensionOf(metric.dimensions);
    return selector !== undefined && other?.Name === selector.Name && other.Value === selector.Value;
  });
  const alarmNames = new Set(alarm.dimensions.map((dimension) => dimension.Name));
  if (sameSelector.length > 0) {
    const closest = sameSelector[0] as MetricSeries;
    const metricNames = new Set(closest.dimensions.map((dimension) => dimension.Name));
    const extraOnAlarm = [...alarmNames].filter((name) => !metricNames.has(name));
    const missingOnAlarm = [...metricNames].filter((name) => !alarmNames.has(name));
    const parts: string[] = [];
    if (extraOnAlarm.length > 0) parts.push(`alarm has ${extraOnAlarm.join(", ")} which the agent does not send`);
    if (missingOnAlarm.length > 0) parts.push(`agent also sends ${missingOnAlarm.join(", ")} which the alarm lacks`);
    if (parts.length === 0) parts.push("a dimension value differs");
    const cause = `dimension mismatch: ${parts.join("; ")}`;
    const hostNames: readonly string[] = HOST_DIMENSION_NAMES;
    const differingHost = hostNames.filter((name) => {
      const onAlarm = alarm.dimensions.find((dimension) => dimension.Name === name)?.Value;
      const onMetric = closest.dimensions.find((dimension) => dimension.Name === name)?.Value;
      return onAlarm !== undefined && onMetric !== undefined && onAlarm !== onMetric;
    });
    if (differingHost.length > 0) {
      const values = differingHost.map((name) => `${name} ${dimensionOf(closest, name)} on the host, ${dimensionOf(alarm, name)} on the alarm`);
      // An unresolved placeholder on the series: an agent before 1.300061.0 keeps an entry's
      // ${aws:…} literally (cwa commit 237e25674); UNKNOWN-*: the translator had no metadata service.
      if (differingHost.some((name) => UNRESOLVED_VALUE.test(dimensionOf(closest, name)))) {
        return `${cause} (${values.join("; ")}: the host's CloudWatch agent did not resolve the instance's metadata; upgrade it to 1.300061.0 or later and run procwatch-agent apply there, which pins the values itself on EC2)`;
      }
      // procwatch-agent pins the instance's values when it renders (contract hostDimensionPins), so a
      // resized instance publishes its old InstanceType until the next apply; the alarm follows DescribeInstances.
      return `${cause} (${values.join("; ")}: the host's values were pinned before the instance changed; run procwatch-agent apply on the host, as the configure association does every 30 minutes)`;
    }
    // procwatch pins every host dimension on its own procstat entries (contract hostDimensionPins),
    // so its series carries them whatever the host's config appends, and its alarms name them.
    if (extraOnAlarm.some((name) => hostNames.includes(name)))
      return `${cause} (procwatch-agent pins ${hostNames.join(", ")} on its procstat entries; this series was rendered by an older procwatch-agent or by hand: run procwatch-agent apply on the host)`;
    if (missingOnAlarm.includes("host"))
      return `${cause} (the CloudWatch agent's \`host\` dimension is removed only by its ec2tagger, which runs when some config file sets metrics.append_dimensions; procwatch-agent apply sets it when no other file does: run apply on the host)`;
    if (missingOnAlarm.some((name) => hostNames.includes(name)))
      return `${cause} (the host's series carries the host dimensions procwatch-agent pins; an alarm without them was not written by this procwatch-fleet)`;
    return cause;
  }
  if (selector === undefined) return "dimension mismatch: alarm has no exe/pattern/pidfile dimension (a lookup error emits the metric without it)";
  if (!alarmNames.has("pid_finder")) return "dimension mismatch: alarm lacks pid_finder=native";
  if (selector.Name === "pattern" && inNamespace.some((metric) => selectorDimensionOf(metric.dimensions)?.Name === "exe")) {
    // Since procwatch hands exe selectors to the agent as command-line patterns (contract selectorOf),
    // an exe series on a procwatch host comes from an older procwatch-agent, and as cwagent it counts 0.
    return `process not watched on the host by this selector: the agent reports exe selectors, which procwatch-agent no longer renders (the CloudWatch agent counts 0 by exe for other users' processes when it runs as cwagent); run procwatch-agent apply on the host (the configure association does within 30 minutes)`;
  }
  return `process not watched on the host: the agent reports ${inNamespace.length} other procstat series but none with ${selector.Name}=${selector.Value} (agent config not applied yet, or a different selector)`;
}

function matches(row: StatusRow, filters: StatusFilters): boolean {
  if (filters.instanceIds !== undefined && filters.instanceIds.length > 0 && !filters.instanceIds.includes(row.instanceId)) return false;
  if (filters.processes !== undefined && filters.processes.length > 0 && !filters.processes.includes(row.process)) return false;
  if (filters.noDataOnly === true && row.metric !== "no data") return false;
  if (filters.states !== undefined && filters.states.length > 0) {
    const labels = [row.state.toLowerCase(), row.actionsEnabled ? "" : "actions-disabled", row.metric === "no data" ? "no-data" : ""];
    if (!filters.states.some((state) => labels.includes(state.toLowerCase()))) return false;
  }
  return true;
}

/** The same series identity the planner uses to decide that a new host reports. */
function seriesKey(series: MetricSeries): string {
  return metricSeriesKey(series.namespace, series.metricName, series.dimensions);
}

function dimensionOf(series: MetricSeries, name: string): string {
  return series.dimensions.find((dimension) => dimension.Name === name)?.Value ?? "(none)";
}

function dimensionValue(alarm: ObservedAlarm, name: string): string | undefined {
  return alarm.Dimensions?.find((dimension) => dimension.Name === name)?.Value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function detectionOf(alarm: ObservedAlarm, alarmPrefix: string): DetectionProfileName | undefined {
  return isProcwatchOwned(alarm, alarmPrefix) ? detectionOfAlarmDescription(alarm.AlarmDescription) : undefined;
}
